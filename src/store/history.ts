import type { Change } from "../core/types.js";

/**
 * A point where the revision counter jumps: the history goes on from `from`
 * straight to `revision`, and no change has a revision in between. The Redis
 * store writes one when its data moved to another primary (a failover), which
 * may lack changes some node served above `from` (see `rebase` in
 * redis/scripts.ts).
 */
export interface RevisionJump {
  readonly kind: "jump";
  readonly revision: bigint;
  readonly from: bigint;
}

/** What a history holds, in revision order: changes, and the jumps between them. */
export type HistoryEntry = Change | RevisionJump;

/** The revision an entry follows on: the one before it, or for a jump the revision it jumps from. */
export function follows(entry: HistoryEntry): bigint {
  return entry.kind === "jump" ? entry.from : entry.revision - 1n;
}

/**
 * The last `capacity` entries, in a ring. Each entry follows on from the one
 * before it (see `follows`), so the history is continuous from the oldest
 * entry's predecessor to the newest entry; a revision inside a jump is in no
 * history and is answered "compacted", like one from before the oldest entry.
 */
export class History {
  readonly #ring: (HistoryEntry | undefined)[];
  #start = 0;
  #size = 0;

  constructor(readonly capacity: number) {
    this.#ring = new Array<HistoryEntry | undefined>(capacity);
  }

  /**
   * Appends an entry. One that does not follow on from the newest entry
   * starts the history over from it: what came before is not continuous with it.
   */
  push(entry: HistoryEntry): void {
    if (this.#size > 0 && follows(entry) !== this.#at(this.#size - 1).revision) this.#size = 0;
    const end = (this.#start + this.#size) % this.capacity;
    this.#ring[end] = entry;
    if (this.#size < this.capacity) this.#size++;
    else this.#start = (this.#start + 1) % this.capacity;
  }

  /**
   * The changes with a revision above `revision` (up to `current`, the
   * newest entry), or "compacted" when the history does not go on from
   * `revision`: it is older than the oldest entry's predecessor, or inside a jump.
   */
  since(revision: bigint, current: bigint): Change[] | "compacted" {
    if (revision >= current) return [];
    if (this.#size === 0) return "compacted";
    // The first entry above `revision`, by binary search: revisions grow along the ring.
    let lo = 0;
    let hi = this.#size;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#at(mid).revision > revision) hi = mid;
      else lo = mid + 1;
    }
    if (lo === this.#size) return [];
    if (follows(this.#at(lo)) !== revision) return "compacted";
    const out: Change[] = [];
    for (let i = lo; i < this.#size; i++) {
      const e = this.#at(i);
      if (e.kind !== "jump") out.push(e);
    }
    return out;
  }

  #at(i: number): HistoryEntry {
    return this.#ring[(this.#start + i) % this.capacity]!;
  }
}
