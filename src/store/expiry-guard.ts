/**
 * The beat interval the registry expects of a lease with this TTL: the SDK
 * beats every TTL/3, and clients in other languages must do the same (or
 * faster) for expiry protection to judge them fairly (SEMANTICS 2.6).
 */
export function beatIntervalMs(ttlMs: number): number {
  return ttlMs / 3;
}

/**
 * Until when a lease renewed with this deadline counts as live for expiry
 * protection: two beat intervals after its renewal (one beat interval before
 * its deadline). A client beating every TTL/3 renews at least once in any
 * such window even when its timers slip by up to a whole beat interval, and a
 * client beating faster does not count twice.
 */
export function renewedUntil(deadline: number, ttlMs: number): number {
  return deadline - beatIntervalMs(ttlMs);
}

/** The settings of expiry protection (SEMANTICS 2.6). */
export interface ExpiryGuardOptions {
  /** Share of leases (0..1] that may be without a renewal in their window; 1 disables the guard. */
  readonly threshold: number;
  /** The guard applies only with at least this many leases. */
  readonly minLeases: number;
  /** A fault that comes back within this many milliseconds of the end of protection continues the same hold. */
  readonly flapWindowMs: number;
  /** Longest time protection holds expiry; then due leases expire, and the guard says so. */
  readonly maxHoldMs: number;
  /** Told when protection starts or ends, with a sentence for the log. */
  readonly onChange?: (active: boolean, detail: string) => void;
}

/** What a store reports to the guard at each sweep: plain counts, so any store can feed it. */
export interface RenewalSample {
  /** Leases renewed within their window (see `renewedUntil`): those whose clients are reaching the registry. */
  readonly renewed: number;
  /** Leases held now: each is expected to have renewed within its window. */
  readonly leases: number;
}

/**
 * Judges the registry's health by the leases that renew against those
 * expected to, the way Eureka's self-preservation does. Every lease is
 * expected to beat every TTL/3, so a live lease has renewed within the last
 * two beat intervals whatever its phase, its client's timer slip (up to one
 * interval) or how much faster it beats. When fewer than `1 − threshold` of
 * the leases have, the fault is most likely the registry's own (a pause, a
 * partition from its clients) and no lease expires. After a cut of every
 * client, half the leases are without a renewal about 1.5 beat intervals
 * later, while the first lease lapses only after two.
 *
 * Counting distinct leases rather than renewals makes the count exact: it
 * equals the leases whose clients are alive and reaching the registry, so a
 * fleet of which a minority really died never looks sick and, after a fault,
 * protection ends as soon as the live majority is back. Every lease that fell
 * due before then gets one full TTL of grace from that moment, as at
 * start-up, so clients reconnecting with backoff are not expired. A fleet
 * that really died looks the same from inside, so protection holds at most
 * `maxHoldMs` (a fault that returns within `flapWindowMs` continues the same
 * hold, so flapping cannot stretch it); then due leases expire without grace
 * and the guard says so, and it starts again only after a healthy sample.
 *
 * The guard is pure: it holds no lease and reads no clock (`now` is any
 * monotonic milliseconds, the same for every call).
 */
export class ExpiryGuard {
  #active = false;
  /** When the current hold began. */
  #since = 0;
  #endedAt = -Infinity;
  /** True after a hold ran out, until a healthy sample: protection may not start again meanwhile. */
  #spent = false;
  /** Leases due by this time get a full TTL of grace from it. */
  #graceFrom: number;

  /** `now` is the start: leases due by then get one TTL of grace (SEMANTICS 2.6). */
  constructor(
    readonly options: ExpiryGuardOptions,
    now: number,
  ) {
    this.#graceFrom = now;
  }

  /** True while expiry is suspended. */
  get active(): boolean {
    return this.#active;
  }

  /** Leases due by this time get one TTL of grace from it: the start, or the end of the last protection. */
  get graceFrom(): number {
    return this.#graceFrom;
  }

  /**
   * Records a sample taken at `now` and decides whether protection starts or
   * ends. Call it before asking `mayExpire`, at every sweep. Returns `active`.
   */
  observe(now: number, sample: RenewalSample): boolean {
    const { threshold, minLeases, maxHoldMs, flapWindowMs } = this.options;
    const { renewed, leases } = sample;
    if (threshold >= 1 || leases < minLeases) {
      this.#spent = false;
      this.#set(false, now, `${leases} leases, under the ${minLeases} expiry protection needs; expiry resumed`);
      return false;
    }
    const healthy = renewed >= (1 - threshold) * leases;
    const state = `${renewed} of ${leases} leases renewed within two beat intervals`;
    if (this.#active) {
      if (healthy) {
        this.#set(false, now, `${state}: renewals are back; leases that fell due get one TTL of grace`);
      } else if (now - this.#since >= maxHoldMs) {
        this.#spent = true;
        this.#set(false, now, `${state}: protection held ${maxHoldMs} ms, the longest allowed; these leases are taken for dead and expire now`);
      }
    } else if (this.#spent) {
      if (healthy) this.#spent = false;
    } else if (!healthy) {
      const resumed = now - this.#endedAt < flapWindowMs;
      this.#set(true, now, `${state}, under ${((1 - threshold) * 100).toFixed(0)}%: the fault is likely this registry's own; suspending expiry`, resumed);
    }
    return this.#active;
  }

  /** Whether a lease with this deadline and TTL may expire at `now` (both in the clock of `observe`). */
  mayExpire(deadline: number, ttlMs: number, now: number): boolean {
    if (this.#active || deadline > now) return false;
    return deadline > this.#graceFrom || now >= this.#graceFrom + ttlMs;
  }

  /** The earliest time a lease with this deadline and TTL may expire, protection aside. */
  expiresAt(deadline: number, ttlMs: number): number {
    return deadline > this.#graceFrom ? deadline : Math.max(deadline, this.#graceFrom + ttlMs);
  }

  /** Gives every lease due by `now` one TTL of grace from now, as after a restart or an outage of the backend. */
  grantGrace(now: number): void {
    this.#graceFrom = Math.max(this.#graceFrom, now);
  }

  #set(active: boolean, now: number, detail: string, resume = false): void {
    if (active === this.#active) return;
    this.#active = active;
    if (active) this.#since = resume ? this.#since : now;
    else {
      this.#endedAt = now;
      if (!this.#spent) this.grantGrace(now);
    }
    this.options.onChange?.(active, detail);
  }
}
