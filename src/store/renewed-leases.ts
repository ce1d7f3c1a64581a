/**
 * Counts the leases renewed within their window (see `renewedUntil` in
 * expiry-guard.ts) in O(1) per renewal: each lease sits in the bucket of the
 * time its window ends, and buckets that have passed drop out of the count.
 * A lease drops out at the start of the bucket its window ends in, so the
 * count errs by at most one bucket on the side of "not renewed": a fault is
 * seen no later for the bucketing.
 *
 * Pure: the store says when each lease's window ends and what time it is.
 */
export class RenewedLeases {
  /** Bucket index (window end / bucketMs, rounded down) -> leases whose window ends in it. */
  readonly #buckets = new Map<number, number>();
  #count = 0;
  /** Buckets up to this index have passed and hold nothing. */
  #passed: number;

  constructor(
    readonly bucketMs: number,
    now: number,
  ) {
    this.#passed = Math.floor(now / bucketMs);
  }

  /** Counts a lease whose window ends at `until`. */
  add(until: number): void {
    const b = Math.floor(until / this.bucketMs);
    if (b <= this.#passed) return;
    this.#buckets.set(b, (this.#buckets.get(b) ?? 0) + 1);
    this.#count++;
  }

  /** Takes back a lease counted with `add(until)` (renewed again, its TTL changed, or gone). */
  remove(until: number): void {
    const b = Math.floor(until / this.bucketMs);
    if (b <= this.#passed) return; // already dropped out with its bucket
    const n = this.#buckets.get(b) ?? 0;
    if (n <= 0) return;
    if (n === 1) this.#buckets.delete(b);
    else this.#buckets.set(b, n - 1);
    this.#count--;
  }

  /** Moves a lease from the window ending at `from` (undefined: not counted) to the one ending at `to`. */
  move(from: number | undefined, to: number): void {
    if (from !== undefined) this.remove(from);
    this.add(to);
  }

  /** The leases whose window has not ended at `now`. */
  count(now: number): number {
    const target = Math.floor(now / this.bucketMs);
    if (target <= this.#passed) return this.#count;
    if (target - this.#passed > this.#buckets.size) {
      for (const [b, n] of this.#buckets) if (b <= target) this.#drop(b, n);
    } else {
      for (let b = this.#passed + 1; b <= target; b++) this.#drop(b, this.#buckets.get(b) ?? 0);
    }
    this.#passed = target;
    return this.#count;
  }

  #drop(bucket: number, n: number): void {
    if (n === 0) return;
    this.#buckets.delete(bucket);
    this.#count -= n;
  }
}
