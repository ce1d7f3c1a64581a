/** How reconnect delays grow. */
export interface BackoffOptions {
  /** The first delay, in milliseconds. Default 100. */
  readonly initialMs?: number;
  /** The longest delay, in milliseconds. Default 5000. */
  readonly maxMs?: number;
  /** Growth per failed attempt. Default 2. */
  readonly multiplier?: number;
  /** Share of each delay drawn at random, 0..1. Default 0.5. */
  readonly jitter?: number;
}

/**
 * Jittered exponential backoff. The jitter matters more than the growth: when
 * a registry node restarts, every client of it reconnects at once, and random
 * delays spread that herd out instead of hitting the new node in one spike.
 *
 * @example
 * const b = new Backoff({ initialMs: 100, maxMs: 5000 });
 * await sleep(b.next()); // 50..100 ms, then 100..200 ms, ...
 * b.reset();             // after a success
 */
export class Backoff {
  readonly #initialMs: number;
  readonly #maxMs: number;
  readonly #multiplier: number;
  readonly #jitter: number;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#initialMs = options.initialMs ?? 100;
    this.#maxMs = Math.max(this.#initialMs, options.maxMs ?? 5000);
    this.#multiplier = options.multiplier ?? 2;
    this.#jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
  }

  /** Failed attempts since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    const base = Math.min(this.#maxMs, this.#initialMs * this.#multiplier ** this.#attempt);
    this.#attempt++;
    return Math.round(base * (1 - this.#jitter * Math.random()));
  }

  /** Starts over from the initial delay, after a success. */
  reset(): void {
    this.#attempt = 0;
  }
}
