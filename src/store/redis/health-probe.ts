import type { Cluster, Redis } from "ioredis";

/** What the probe tells its owner. */
export interface HealthProbeEvents {
  /** Redis did not answer a probe within the bound, or the connection is down. */
  down(detail: string): void;
  /** Redis answered a probe again. */
  up(): void;
}

/**
 * Notices a stalled or unreachable Redis within `timeoutMs`. It probes on its
 * own connection every quarter of the bound and gives each probe the rest of
 * it, so a Redis that stops answering right after a reply is caught by the
 * next probe's deadline: at most `timeoutMs` later. The probe is a keyed read
 * (`EXISTS key`, a key of the registry) rather than a PING: on a Cluster it
 * goes to the primary of the registry's slot, the node every script runs on,
 * not to any node; on a single Redis the two are the same. Ordinary commands keep
 * their long timeout (a big batch may legitimately take a while); the probe
 * is what decides, quickly, that writes must stop (SEMANTICS 7.2).
 * A SIGSTOPped Redis still accepts TCP connections in its kernel, so only a
 * deadline can tell: that is why the probe exists.
 */
export class HealthProbe {
  readonly #conn: Redis | Cluster;
  readonly #key: string;
  readonly #timeoutMs: number;
  readonly #events: HealthProbeEvents;
  #timer: NodeJS.Timeout | undefined;
  #healthy = true;
  #closed = false;

  /** `key` names the registry's slot: any key with its hash tag. */
  constructor(conn: Redis | Cluster, key: string, timeoutMs: number, events: HealthProbeEvents) {
    this.#conn = conn;
    this.#key = key;
    this.#timeoutMs = timeoutMs;
    this.#events = events;
  }

  /** True after the last probe was answered in time. */
  get healthy(): boolean {
    return this.#healthy;
  }

  /** Starts the probe loop. */
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
    this.#timer = setTimeout(() => void this.#probe(), Math.max(1, Math.floor(this.#timeoutMs / 4)));
    this.#timer.unref();
  }

  async #probe(): Promise<void> {
    const deadline = Math.max(1, this.#timeoutMs - Math.floor(this.#timeoutMs / 4));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<string>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer to a probe within ${this.#timeoutMs} ms`)), deadline);
    });
    try {
      await Promise.race([this.#conn.exists(this.#key), late]);
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
