import { Backoff } from "../../core/backoff.js";
import { delay } from "../../core/delay.js";
import type { Change } from "../../core/types.js";
import { decodeEntry, revisionOfId } from "./codec.js";
import type { RedisClient } from "./connection.js";

/** Most stream entries taken per read. */
const READ_BATCH = 1000;
/** How long one blocking read waits for an entry before asking again. */
const BLOCK_MS = 5000;

/** What the feed hands its owner. */
export interface ChangeFeedEvents {
  /** The revision to read after: the last one the owner applied. */
  position(): bigint;
  /** False while the owner cannot take entries (it is reloading): the feed waits. */
  accepting(): boolean;
  /** Changes whenever the owner reloads: entries read before a reload belong to a view that is gone. */
  generation(): number;
  /** The changes after `position()`, consecutive, oldest first. */
  changes(changes: Change[]): void;
  /** The stream jumps from `position()` to `next`: entries between were trimmed or lost; only a reload continues. */
  gap(next: bigint): void;
  /** A read failed (the connection dropped): the owner decides whether the node is stale. */
  failed(detail: string): void;
}

/**
 * The one reader of the change stream on a node. It reads with a blocking
 * XREAD on its own connection from the owner's position, checks that
 * revisions follow on one by one, and hands them over; it never decides what
 * a gap means, it reports it.
 */
export class ChangeFeed {
  readonly #conn: RedisClient;
  readonly #key: string;
  readonly #events: ChangeFeedEvents;
  readonly #backoff = new Backoff({ initialMs: 50, maxMs: 1000 });
  readonly #stopped = new AbortController();
  #running: Promise<void> = Promise.resolve();

  constructor(conn: RedisClient, streamKey: string, events: ChangeFeedEvents) {
    this.#conn = conn;
    this.#key = streamKey;
    this.#events = events;
  }

  /** Starts reading. */
  start(): void {
    this.#running = this.#loop();
  }

  /** Stops reading; resolves when the loop has ended (the connection must be closed to end a blocked read). */
  async stop(): Promise<void> {
    this.#stopped.abort();
    await this.#running;
  }

  async #loop(): Promise<void> {
    const signal = this.#stopped.signal;
    while (!signal.aborted) {
      if (!this.#events.accepting()) {
        await delay(20, signal);
        continue;
      }
      const from = this.#events.position();
      const generation = this.#events.generation();
      let reply: [string, [string, string[]][]][] | null;
      try {
        reply = await this.#conn.xread("COUNT", READ_BATCH, "BLOCK", BLOCK_MS, "STREAMS", this.#key, `${from}-0`);
        this.#backoff.reset();
      } catch (e) {
        if (signal.aborted) return;
        this.#events.failed(`reading the change stream failed: ${e instanceof Error ? e.message : String(e)}`);
        await delay(this.#backoff.next(), signal);
        continue;
      }
      // The owner may have reloaded while the read was blocked: entries read for the old view are dropped, not applied.
      if (reply === null || this.#events.generation() !== generation || !this.#events.accepting()) continue;
      this.#deliver(reply[0]![1]);
    }
  }

  /** Hands over the entries after the owner's position now (its own writes may have moved it while the read was out). */
  #deliver(entries: readonly [string, string[]][]): void {
    const out: Change[] = [];
    let last = this.#events.position();
    for (const [id, fields] of entries) {
      const revision = revisionOfId(id);
      if (revision <= last) continue;
      if (revision !== last + 1n) {
        if (out.length > 0) this.#events.changes(out);
        this.#events.gap(revision);
        return;
      }
      out.push(decodeEntry(id, fields));
      last = revision;
    }
    if (out.length > 0) this.#events.changes(out);
  }
}
