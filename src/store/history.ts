import type { Change } from "../core/types.js";

/**
 * The last `capacity` changes, in a ring. Revisions are consecutive, so a
 * change is found by arithmetic, not by search.
 */
export class History {
  readonly #ring: (Change | undefined)[];
  #start = 0;
  #size = 0;

  constructor(readonly capacity: number) {
    this.#ring = new Array<Change | undefined>(capacity);
  }

  /** Appends a change whose revision follows the last one. */
  push(change: Change): void {
    const end = (this.#start + this.#size) % this.capacity;
    this.#ring[end] = change;
    if (this.#size < this.capacity) this.#size++;
    else this.#start = (this.#start + 1) % this.capacity;
  }

  /** The changes with a revision above `revision`, or "compacted" if some of them are gone. */
  since(revision: bigint, current: bigint): Change[] | "compacted" {
    if (revision >= current) return [];
    if (this.#size === 0) return "compacted";
    const oldest = this.#ring[this.#start]!.revision;
    if (revision + 1n < oldest) return "compacted";
    const skip = Number(revision + 1n - oldest);
    const out: Change[] = [];
    for (let i = skip; i < this.#size; i++) out.push(this.#ring[(this.#start + i) % this.capacity]!);
    return out;
  }
}
