import { Redis } from "ioredis";
import { decodeEntry } from "../../../src/store/redis/codec.js";
import { redisKeys } from "../../../src/store/redis/scripts.js";
import { instanceKeyString } from "../../../src/core/types.js";
import type { Truth, TruthChange } from "./checker.js";

/**
 * The ground truth of a Redis-store registry: the change stream the store
 * writes (its key and encoding come from the store's own modules), read with
 * XRANGE every 50 ms. `lost()` marks where Redis lost its state: the next
 * entries start a new era. A jump of the counter (a failover, see `rebase`
 * in src/store/redis/scripts.ts) from below the last change read starts a
 * new era by itself, at the time the jump was written, with the history up
 * to the revision jumped from: the promoted replica kept that much.
 */
export class RedisTruth {
  #redis: Redis;
  readonly #key: string;
  readonly #eras: { startedAt: number; changes: TruthChange[]; keptThrough?: bigint }[] = [{ startedAt: 0, changes: [] }];
  #last = "0-0";
  #timer: NodeJS.Timeout | undefined;
  #polling: Promise<void> = Promise.resolve();

  constructor(port: number, prefix: string) {
    this.#redis = RedisTruth.#connect(port);
    this.#key = redisKeys(prefix).changes;
    this.#timer = setInterval(() => void (this.#polling = this.#polling.then(() => this.poll()).catch(() => {})), 50);
  }

  /** Reads what is new. */
  async poll(): Promise<void> {
    const entries = (await this.#redis.xrange(this.#key, `(${this.#last}`, "+")) as [string, string[]][];
    const at = Date.now();
    for (const [id, fields] of entries) {
      const c = decodeEntry(id, fields);
      this.#last = id;
      const era = this.#eras[this.#eras.length - 1]!;
      if (c.kind === "jump") {
        const newest = era.changes.at(-1)?.revision ?? 0n;
        if (c.from < newest) this.#eras.push({ startedAt: Number(fields[fields.indexOf("at") + 1]), changes: era.changes.filter((x) => x.revision <= c.from), keptThrough: c.from });
        continue;
      }
      const rec = c.kind === "put" ? c.instance : c.prev;
      era.changes.push({ revision: c.revision, kind: c.kind, key: instanceKeyString(rec), registeredAt: rec.registeredAt, at, ...(c.kind === "delete" ? { cause: c.cause } : {}) });
    }
  }

  static #connect(port: number): Redis {
    const r = new Redis({ port, host: "127.0.0.1", lazyConnect: false, maxRetriesPerRequest: 1, retryStrategy: () => 100 });
    r.on("error", () => {});
    return r;
  }

  /**
   * Reads from the Redis on `port` from now on (the primary after a failover),
   * going on after the last entry read: a promoted replica holds the same stream.
   */
  async follow(port: number): Promise<void> {
    await this.#polling;
    const old = this.#redis;
    this.#redis = RedisTruth.#connect(port);
    old.disconnect();
  }

  /** Starts a new era at `at` (now by default): Redis lost its state (restarted empty). */
  lost(at = Date.now()): void {
    this.#eras.push({ startedAt: at, changes: [] });
    this.#last = "0-0";
  }

  /** Waits for the current read, so nothing in flight is missed. */
  async settle(): Promise<void> {
    await this.#polling;
    await this.poll().catch(() => {});
  }

  get truth(): Truth {
    return { eras: this.#eras };
  }

  async close(): Promise<void> {
    clearInterval(this.#timer);
    await this.#polling;
    this.#redis.disconnect();
  }
}
