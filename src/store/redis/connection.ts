import { Cluster, Redis, type ClusterOptions, type RedisOptions } from "ioredis";
import { Backoff } from "../../core/backoff.js";
import { clusterTarget, connectionOptions, type ClusterTarget } from "./store-url.js";

/** A connection to a standalone or Sentinel-managed Redis, or to a Redis Cluster (every key of a registry is in one slot). */
export type RedisClient = Redis | Cluster;

/** The three connections a node keeps to Redis, each for one job. */
export interface RedisConnections {
  /** Scripts and ordinary commands; fails fast when Redis is away. */
  readonly main: RedisClient;
  /** The blocking XREAD of the change feed: a blocked read must not hold up other commands. */
  readonly reader: RedisClient;
  /** The health probe's reads: their own connection, so a queue of writes never delays one. */
  readonly probe: RedisClient;
}

/** The slowest a node retries a lost connection; every node of a fleet retries at a random point of each step. */
const RECONNECT_MAX_MS = 1000;
/** The longest an ordinary command may take once sent; the health probe notices a stalled Redis much sooner. */
const COMMAND_TIMEOUT_MS = 5000;
/** Upper bound of a blocking read; the feed asks Redis to answer within 5 s anyway. */
const BLOCKING_TIMEOUT_MS = 30_000;

/** What differs between the three connections. */
interface Role {
  readonly name: string;
  readonly options: RedisOptions;
}

/**
 * Opens the connections for the registry at `url` and waits until all three
 * are ready: three `Cluster` clients for a `redis+cluster://` URL (each with
 * its own connection to every node, so the blocking read holds up nothing),
 * else three `Redis` clients. `name` labels them in `CLIENT LIST`; `extra` is
 * merged over the store's own options (tests, TLS, credentials; on a cluster,
 * the options of every node connection). Throws what ioredis throws.
 */
export async function openConnections(url: string, name: string, probeTimeoutMs: number, extra: RedisOptions = {}): Promise<RedisConnections> {
  const cluster = clusterTarget(url);
  const roles: Role[] = [
    { name, options: {} },
    // A blocking XREAD must not time out as an ordinary command; blockingTimeout guards it instead.
    { name: `${name}:stream`, options: { commandTimeout: undefined, blockingTimeout: BLOCKING_TIMEOUT_MS } },
    { name: `${name}:probe`, options: { commandTimeout: probeTimeoutMs, connectTimeout: probeTimeoutMs } },
  ];
  const open = (role: Role): RedisClient =>
    cluster === undefined
      ? new Redis({ ...connectionOptions(url), ...baseOptions, ...extra, ...role.options, retryStrategy: jitteredRetry(), connectionName: role.name })
      : openCluster(cluster, role, probeTimeoutMs, extra);
  const all = roles.map(open);
  for (const c of all) c.on("error", () => {}); // every failure also reaches the caller of the command; the store logs state changes
  try {
    await Promise.all(all.map((c) => c.connect()));
  } catch (e) {
    for (const c of all) c.disconnect();
    throw e;
  }
  const [main, reader, probe] = all as [RedisClient, RedisClient, RedisClient];
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
 * A Cluster client with the store's rules (baseOptions) carried over:
 * - reads and scripts go to the primary of the registry's slot (`scaleReads: "master"`): a replica may lag;
 * - MOVED and ASK are followed (the command did not run where it was refused),
 *   as are CLUSTERDOWN and TRYAGAIN, within maxRedirections;
 * - a command whose connection dropped is not resent (`retryDelayOnFailover: 0`):
 *   it may have run, as after any lost reply; the store goes stale and the
 *   health probe brings it back once the slot has a primary again;
 * - the slot map is refreshed every second besides on MOVED, so a node
 *   learns a promotion promptly even when nothing it sends is redirected;
 * - reconnects after losing every node use the same jittered backoff as a single Redis.
 */
function openCluster(target: ClusterTarget, role: Role, probeTimeoutMs: number, extra: RedisOptions): Cluster {
  const { lazyConnect, enableOfflineQueue, ...nodeOptions } = baseOptions;
  // The Cluster client owns these for every node connection; ioredis refuses them in redisOptions.
  const { host: _h, port: _p, path: _path, sentinels: _s, retryStrategy: _r, enableOfflineQueue: _q, readOnly: _ro, ...extraNode } = extra;
  const options: ClusterOptions = {
    lazyConnect,
    enableOfflineQueue,
    scaleReads: "master",
    retryDelayOnFailover: 0,
    slotsRefreshInterval: RECONNECT_MAX_MS,
    slotsRefreshTimeout: probeTimeoutMs,
    clusterRetryStrategy: jitteredRetry(),
    redisOptions: { ...nodeOptions, ...target.options, ...extraNode, ...role.options, connectionName: role.name },
  };
  return new Cluster(target.nodes.map((n) => ({ ...n })), options);
}

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
