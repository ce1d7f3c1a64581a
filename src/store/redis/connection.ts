import { Redis, type RedisOptions } from "ioredis";
import { Backoff } from "../../core/backoff.js";
import { connectionOptions } from "./store-url.js";

/** The three connections a node keeps to Redis, each for one job. */
export interface RedisConnections {
  /** Scripts and ordinary commands; fails fast when Redis is away. */
  readonly main: Redis;
  /** The blocking XREAD of the change feed: a blocked read must not hold up other commands. */
  readonly reader: Redis;
  /** The health probe's PINGs: their own connection, so a queue of writes never delays one. */
  readonly probe: Redis;
}

/** The slowest a node retries a lost connection; every node of a fleet retries at a random point of each step. */
const RECONNECT_MAX_MS = 1000;
/** The longest an ordinary command may take once sent; the health probe notices a stalled Redis much sooner. */
const COMMAND_TIMEOUT_MS = 5000;
/** Upper bound of a blocking read; the feed asks Redis to answer within 5 s anyway. */
const BLOCKING_TIMEOUT_MS = 30_000;

/**
 * Opens the connections for the registry at `url` and waits until all three
 * are ready. `name` labels them in `CLIENT LIST`; `extra` is merged over the
 * store's own options (tests, TLS, credentials). Throws what ioredis throws.
 */
export async function openConnections(url: string, name: string, probeTimeoutMs: number, extra: RedisOptions = {}): Promise<RedisConnections> {
  const base = { ...connectionOptions(url), ...baseOptions, ...extra };
  const main = new Redis({ ...base, retryStrategy: jitteredRetry(), connectionName: name });
  // A blocking XREAD must not time out as an ordinary command; blockingTimeout guards it instead.
  const reader = new Redis({ ...base, commandTimeout: undefined, blockingTimeout: BLOCKING_TIMEOUT_MS, retryStrategy: jitteredRetry(), connectionName: `${name}:stream` });
  const probe = new Redis({ ...base, commandTimeout: probeTimeoutMs, connectTimeout: probeTimeoutMs, retryStrategy: jitteredRetry(), connectionName: `${name}:probe` });
  const all = [main, reader, probe];
  for (const c of all) c.on("error", () => {}); // every failure also reaches the caller of the command; the store logs state changes
  try {
    await Promise.all(all.map((c) => c.connect()));
  } catch (e) {
    for (const c of all) c.disconnect();
    throw e;
  }
  return { main, reader, probe };
}

/** Closes all three, letting `main` finish what it has sent. */
export async function closeConnections(c: RedisConnections): Promise<void> {
  c.reader.disconnect();
  c.probe.disconnect();
  await c.main.quit().catch(() => c.main.disconnect());
}

/**
 * What the store needs from ioredis: fail fast rather than queue while
 * disconnected (a write must answer UNAVAILABLE, not hang), never resend a
 * write whose reply was lost (the caller decides).
 */
const baseOptions: RedisOptions = {
  lazyConnect: true,
  enableOfflineQueue: false,
  maxRetriesPerRequest: 0,
  autoResendUnfulfilledCommands: false,
  commandTimeout: COMMAND_TIMEOUT_MS,
};

/**
 * ioredis's retryStrategy from the one Backoff: jittered, so the nodes of a
 * fleet do not reconnect in step when Redis comes back, capped at a second so
 * a node returns promptly. ioredis restarts `times` at 1 after each success.
 */
function jitteredRetry(): (times: number) => number {
  const backoff = new Backoff({ initialMs: 50, maxMs: RECONNECT_MAX_MS });
  return (times) => {
    if (times === 1) backoff.reset();
    return backoff.next();
  };
}
