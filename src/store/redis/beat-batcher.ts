/** One queued item and how to answer its caller. */
interface Pending<T> {
  readonly item: T;
  readonly resolve: () => void;
  readonly reject: (e: unknown) => void;
}

/** How one item of a sent batch ended. */
export type BatchOutcome =
  | { readonly kind: "done" }
  | { readonly kind: "failed"; readonly error: unknown }
  /** Its effect reaches the node later (a status change it must apply first): the caller waits for `until`. */
  | { readonly kind: "later"; readonly until: Promise<void> };

/**
 * Sends heartbeats in batches: beats queue while a batch is in flight and go
 * together in one call when it returns, so the batch grows with the load and
 * a lone beat waits one round trip, not a timer.
 *
 * `send` answers each item of the batch it gets with a BatchOutcome. If it
 * throws, every caller of the batch gets that error; the batcher goes on with
 * the next batch.
 */
export class BeatBatcher<T> {
  readonly #maxBatch: number;
  readonly #send: (items: T[]) => Promise<BatchOutcome[]>;
  #queue: Pending<T>[] = [];
  #scheduled = false;
  #inFlight = false;

  constructor(maxBatch: number, send: (items: T[]) => Promise<BatchOutcome[]>) {
    this.#maxBatch = maxBatch;
    this.#send = send;
  }

  /** Beats waiting for the next batch. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Queues one item; resolves when its batch is answered. */
  add(item: T): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#queue.push({ item, resolve, reject });
      if (!this.#scheduled && !this.#inFlight) {
        this.#scheduled = true;
        setImmediate(() => void this.#flush());
      }
    });
  }

  /** Rejects every queued item (not those in flight) with `error`. */
  failQueued(error: unknown): void {
    for (const p of this.#queue.splice(0)) p.reject(error);
  }

  async #flush(): Promise<void> {
    this.#scheduled = false;
    this.#inFlight = true;
    try {
      while (this.#queue.length > 0) {
        const batch = this.#queue.splice(0, this.#maxBatch);
        let outcomes: BatchOutcome[];
        try {
          outcomes = await this.#send(batch.map((p) => p.item));
        } catch (e) {
          for (const p of batch) p.reject(e);
          continue;
        }
        batch.forEach((p, i) => {
          const o = outcomes[i] ?? { kind: "failed", error: new Error("no outcome for a beat") };
          if (o.kind === "done") p.resolve();
          else if (o.kind === "failed") p.reject(o.error);
          else o.until.then(p.resolve, p.reject);
        });
      }
    } finally {
      this.#inFlight = false;
    }
  }
}
