import type { Redis } from "ioredis";

/** What the probe tells its owner. */
export interface HealthProbeEvents {
  /** Redis did not answer a PING within the bound, or the connection is down. */
  down(detail: string): void;
  /** Redis answered a PING again. */
  up(): void;
}

/**
 * Notices a stalled or unreachable Redis within `timeoutMs`. It PINGs on its
 * own connection every quarter of the bound and gives each PING the rest of
 * it, so a Redis that stops answering right after a PONG is caught by the
 * next PING's deadline: at most `timeoutMs` later. Ordinary commands keep
 * their long timeout (a big batch may legitimately take a while); the probe
 * is what decides, quickly, that writes must stop (SEMANTICS 7.2).
 * A SIGSTOPped Redis still accepts TCP connections in its kernel, so only a
 * deadline can tell: that is why the probe exists.
 */
export class HealthProbe {
  readonly #conn: Redis;
  readonly #timeoutMs: number;
  readonly #events: HealthProbeEvents;
  #timer: NodeJS.Timeout | undefined;
  #healthy = true;
  #closed = false;

  constructor(conn: Redis, timeoutMs: number, events: HealthProbeEvents) {
    this.#conn = conn;
    this.#timeoutMs = timeoutMs;
    this.#events = events;
  }

  /** True after the last PING was answered in time. */
  get healthy(): boolean {
    return this.#healthy;
  }

  /** Starts the PING loop. */
  start(): void {
    this.#schedule();
  }

  /** Stops the loop; the connection is the owner's to close. */
  stop(): void {
    this.#closed = true;
    clearTimeout(this.#timer);
  }

  #schedule(): void {
    if (this.#closed) return;
    this.#timer = setTimeout(() => void this.#ping(), Math.max(1, Math.floor(this.#timeoutMs / 4)));
    this.#timer.unref();
  }

  async #ping(): Promise<void> {
    const deadline = Math.max(1, this.#timeoutMs - Math.floor(this.#timeoutMs / 4));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<string>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer to PING within ${this.#timeoutMs} ms`)), deadline);
    });
    try {
      await Promise.race([this.#conn.ping(), late]);
      if (!this.#healthy && !this.#closed) {
        this.#healthy = true;
        this.#events.up();
      }
    } catch (e) {
      if (this.#closed) return;
      this.#healthy = false;
      this.#events.down(`Redis is not answering: ${e instanceof Error ? e.message : String(e)}`);
    } finally {
      clearTimeout(timer);
      this.#schedule();
    }
  }
}
