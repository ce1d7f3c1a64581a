import { Backoff } from "../../core/backoff.js";
import { delay } from "../../core/delay.js";
import { follows, type HistoryEntry } from "../history.js";
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
  /**
   * The entries after `position()`, oldest first, each following on from the
   * one before (see `follows`): changes, and jumps of the counter from
   * exactly the owner's revision, which lose it nothing.
   */
  changes(entries: HistoryEntry[]): void;
  /**
   * The stream does not go on from `position()`: its next entry is `next`, and
   * entries between were trimmed or lost; or (with `jumpFrom`, below the
   * owner's revision) the history jumps from that revision, so what the owner
   * applied after it is gone. Only a reload continues.
   */
  gap(next: bigint, jumpFrom?: bigint): void;
  /** A read failed (the connection dropped): the owner decides whether the node is stale. */
  failed(detail: string): void;
}

/**
 * The one reader of the change stream on a node. It reads with a blocking
 * XREAD on its own connection from the owner's position, checks that each
 * entry follows on from the last (the next revision, or a jump from exactly
 * the last), and hands them over; it never decides what a gap means, it
 * reports it. XREAD answers the entries with an id above the position, so
 * a node whose last entry is gone (a promoted replica never had it) reads
 * on from the first entry after it: there the jump says what was lost.
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
    const out: HistoryEntry[] = [];
    let last = this.#events.position();
    for (const [id, fields] of entries) {
      if (revisionOfId(id) <= last) continue;
      const entry = decodeEntry(id, fields);
      if (follows(entry) !== last) {
        if (out.length > 0) this.#events.changes(out);
        if (entry.kind === "jump" && entry.from < last) this.#events.gap(entry.revision, entry.from);
        else this.#events.gap(entry.revision);
        return;
      }
      out.push(entry);
      last = entry.revision;
    }
    if (out.length > 0) this.#events.changes(out);
  }
}
