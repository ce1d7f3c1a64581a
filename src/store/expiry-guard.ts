/** The settings of expiry protection (SEMANTICS 2.6). */
export interface ExpiryGuardOptions {
  /** Share of leases (0..1] that may expire within one window; 1 disables the guard. */
  readonly threshold: number;
  /** The guard applies only with at least this many leases. */
  readonly minLeases: number;
  readonly windowMs: number;
  readonly onChange?: (active: boolean, detail: string) => void;
}

/**
 * Decides whether due leases may expire. When more than `threshold` of all
 * leases would have expired within one window, the fault is most likely the
 * registry's own (a pause, a partition from its clients), so expiry is
 * suspended until renewals bring the share back under the threshold.
 * Both stores use it; it holds no lease state of its own, only the times of
 * recent expiries.
 */
export class ExpiryGuard {
  readonly #recent: number[] = [];
  #active = false;
  constructor(readonly options: ExpiryGuardOptions) {}

  /** True while expiry is suspended. */
  get active(): boolean {
    return this.#active;
  }

  /**
   * Asks whether `due` leases out of `leases` (the due ones included) may
   * expire now. `now` is a monotonic time in milliseconds.
   */
  mayExpire(due: number, leases: number, now: number): boolean {
    const { threshold, minLeases, windowMs } = this.options;
    while (this.#recent.length > 0 && this.#recent[0]! <= now - windowMs) this.#recent.shift();
    if (due === 0) {
      this.#set(false, "no lease is due");
      return true;
    }
    const recent = this.#recent.length;
    const population = leases + recent;
    const share = (due + recent) / population;
    if (threshold < 1 && population >= minLeases && share > threshold) {
      this.#set(
        true,
        `${due} leases due and ${recent} expired in the last ${windowMs} ms, ${(share * 100).toFixed(0)}% of ${population}: ` +
          `suspending expiry until heartbeats return`,
      );
      return false;
    }
    this.#set(false, `${due} of ${leases} leases due; expiry resumed`);
    return true;
  }

  /** Notes that `count` leases expired at `now`. */
  recordExpired(count: number, now: number): void {
    for (let i = 0; i < count; i++) this.#recent.push(now);
  }

  #set(active: boolean, detail: string): void {
    if (active === this.#active) return;
    this.#active = active;
    this.options.onChange?.(active, detail);
  }
}
