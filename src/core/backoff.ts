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
  /** A source of numbers in [0, 1); default Math.random (tests pass a fixed one). */
  readonly random?: () => number;
}

/**
 * The delay before retry number `attempt` (0 for the first retry): the
 * initial delay grown `attempt` times, capped at the maximum, less a random
 * share of up to `jitter`. Pure apart from `random`, so callers that count
 * attempts themselves (ioredis's retryStrategy) use it directly.
 *
 * @example
 * backoffDelay(0) // 50..100 ms
 * backoffDelay(3) // 400..800 ms
 */
export function backoffDelay(attempt: number, options: BackoffOptions = {}): number {
  const initialMs = options.initialMs ?? 100;
  const maxMs = Math.max(initialMs, options.maxMs ?? 5000);
  const jitter = Math.min(1, Math.max(0, options.jitter ?? 0.5));
  const base = Math.min(maxMs, initialMs * (options.multiplier ?? 2) ** attempt);
  return Math.round(base * (1 - jitter * (options.random ?? Math.random)()));
}

/**
 * Jittered exponential backoff that counts its own failures. The jitter
 * matters more than the growth: when a registry node restarts, every client
 * of it reconnects at once, and random delays spread that herd out instead of
 * hitting the new node in one spike.
 *
 * @example
 * const b = new Backoff({ initialMs: 100, maxMs: 5000 });
 * await delay(b.next()); // 50..100 ms, then 100..200 ms, ...
 * b.reset();             // after a success
 */
export class Backoff {
  readonly #options: BackoffOptions;
  #attempt = 0;

  constructor(options: BackoffOptions = {}) {
    this.#options = options;
  }

  /** Failed attempts since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next attempt; each call counts one more failure. */
  next(): number {
    return backoffDelay(this.#attempt++, this.#options);
  }

  /** Starts over from the initial delay, after a success. */
  reset(): void {
    this.#attempt = 0;
  }
}
