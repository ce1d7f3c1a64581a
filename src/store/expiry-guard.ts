/**
 * The beat interval the registry expects of a lease with this TTL: the SDK
 * beats every TTL/3, and clients in other languages must do the same (or
 * faster) for expiry protection to judge them fairly (SEMANTICS 2.6).
 */
export function beatIntervalMs(ttlMs: number): number {
  return ttlMs / 3;
}

/** Renewals per millisecond the registry expects of one lease with this TTL. */
export function expectedRenewalsPerMs(ttlMs: number): number {
  return 1 / beatIntervalMs(ttlMs);
}

/** The settings of expiry protection (SEMANTICS 2.6). */
export interface ExpiryGuardOptions {
  /** Share of expected renewals (0..1] that may go missing over a window; 1 disables the guard. */
  readonly threshold: number;
  /** The guard applies only with at least this many leases. */
  readonly minLeases: number;
  /** Longest window over which renewals are counted, in milliseconds; the window is two mean beat intervals, at most this. */
  readonly maxWindowMs: number;
  /** Width of one bucket of the sliding window, in milliseconds. */
  readonly bucketMs: number;
  /** Longest time protection holds expiry; then due leases expire, and the guard says so. */
  readonly maxHoldMs: number;
  /** Told when protection starts or ends, with a sentence for the log. */
  readonly onChange?: (active: boolean, detail: string) => void;
}

/** What a store reports to the guard at each sweep: plain numbers, so any store can feed it. */
export interface RenewalSample {
  /** Renewals (heartbeats and re-registrations of leased instances) received since the previous sample. */
  readonly received: number;
  /**
   * When the latest of them arrived (default: now). After a pause of the
   * registry the sample is taken late; renewals from before the pause must
   * not count as if they had arrived after it.
   */
  readonly lastAt?: number;
  /** Renewals per millisecond the current leases should bring: the sum of `expectedRenewalsPerMs(ttl)` over leases. */
  readonly expectedPerMs: number;
  /** Leases held now. */
  readonly leases: number;
}

/**
 * Judges the registry's health by the renewals it receives against those it
 * expects, the way Eureka's self-preservation does. Every lease is expected
 * to beat every TTL/3, so a sliding window of two mean beat intervals holds
 * a known number of expected renewals; when fewer than `1 − threshold` of
 * them arrive, the fault is most likely the registry's own (a pause, a
 * partition from its clients) and no lease expires. The fault is seen within
 * about one beat interval of its start, while the first lease would lapse
 * only after two.
 *
 * Protection ends when renewals are back well clear of the threshold (at
 * least `1 − threshold/2` of those expected, so it does not flap); every lease
 * that fell due before that gets one full TTL of grace from then, as at
 * start-up, so clients reconnecting with backoff are not expired. A fleet
 * that really died looks the same from inside, so protection holds at most
 * `maxHoldMs`; then due leases expire without grace and the guard says so,
 * and it starts again only after one healthy window.
 *
 * The guard is pure: it holds counts, not leases, and reads no clock (`now`
 * is any monotonic milliseconds, the same for every call).
 */
export class ExpiryGuard {
  readonly #received: Float64Array;
  readonly #expected: Float64Array;
  /** Index (now / bucketMs, floored) of the newest bucket. */
  #bucket: number;
  /** Buckets filled since the start or the last reset; the window never reaches before them. */
  #filled = 1;
  /** The time of the last sample (or the start). */
  #last: number;
  #active = false;
  /** When the current hold began. */
  #since = 0;
  #endedAt = -Infinity;
  /** True after a hold ran out, until one healthy window: protection may not start again meanwhile. */
  #spent = false;
  /** Leases due by this time get a full TTL of grace from it. */
  #graceFrom: number;

  /** `now` is the start: leases due by then get one TTL of grace (SEMANTICS 2.6). */
  constructor(
    readonly options: ExpiryGuardOptions,
    now: number,
  ) {
    const n = Math.max(2, Math.ceil(options.maxWindowMs / options.bucketMs) + 1);
    this.#received = new Float64Array(n);
    this.#expected = new Float64Array(n);
    this.#graceFrom = now;
    this.#bucket = Math.floor(now / options.bucketMs);
    this.#last = now;
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
    this.#advance(now, sample.expectedPerMs);
    this.#addReceived(sample.received, Math.min(now, sample.lastAt ?? now));
    const { threshold, minLeases, maxHoldMs } = this.options;
    if (threshold >= 1 || sample.leases < minLeases || sample.expectedPerMs <= 0) {
      this.#spent = false;
      this.#set(false, now, `${sample.leases} leases, under the ${minLeases} expiry protection needs; expiry resumed`);
      return false;
    }
    const windowMs = Math.min(this.options.maxWindowMs, (2 * sample.leases) / sample.expectedPerMs);
    const { received, expected, spanMs } = this.#window(windowMs);
    const healthy = received >= (1 - threshold) * expected;
    // Protection ends only well clear of the threshold, so a fleet of which just about the
    // threshold died does not flap in and out of protection and hold its dead for ever.
    const recovered = received >= (1 - threshold / 2) * expected;
    const rate = `${received.toFixed(0)} renewals in the last ${spanMs.toFixed(0)} ms, ${expected.toFixed(0)} expected from ${sample.leases} leases`;
    if (this.#active) {
      if (recovered) {
        this.#set(false, now, `${rate}: renewals are back; leases that fell due get one TTL of grace`);
      } else if (now - this.#since >= maxHoldMs) {
        this.#spent = true;
        this.#reset();
        this.#set(false, now, `${rate}: protection held ${maxHoldMs} ms, the longest allowed; these leases are taken for dead and expire now`);
      }
    } else if (this.#spent) {
      if (healthy && spanMs >= windowMs) this.#spent = false;
    } else if (!healthy && spanMs >= this.options.bucketMs) {
      // A fault that returns within one window continues the same hold: flapping cannot stretch it.
      const resumed = now - this.#endedAt < windowMs;
      this.#set(true, now, `${rate}: below ${((1 - threshold) * 100).toFixed(0)}%, the fault is likely this registry's own; suspending expiry`, resumed);
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

  /** Moves the window to `now`, spreading the renewals expected since the last sample over the buckets they fall in. */
  #advance(now: number, expectedPerMs: number): void {
    const width = this.options.bucketMs;
    const n = this.#received.length;
    const target = Math.floor(now / width);
    // A pause longer than the ring: only its last `n` buckets matter.
    if (target - this.#bucket >= n) this.#bucket = target - n;
    let t = Math.max(this.#last, (target - n + 1) * width);
    while (this.#bucket < target) {
      const end = (this.#bucket + 1) * width;
      if (end > t) this.#add(this.#expected, (end - t) * expectedPerMs);
      t = Math.max(t, end);
      this.#bucket++;
      this.#received[this.#bucket % n] = 0;
      this.#expected[this.#bucket % n] = 0;
      this.#filled = Math.min(n, this.#filled + 1);
    }
    if (now > t) this.#add(this.#expected, (now - t) * expectedPerMs);
    this.#last = Math.max(this.#last, now);
  }

  #add(counts: Float64Array, value: number): void {
    const i = this.#bucket % counts.length;
    counts[i] = counts[i]! + value;
  }

  #addReceived(count: number, at: number): void {
    const b = Math.floor(at / this.options.bucketMs);
    if (b <= this.#bucket - this.#filled) return; // before the window's reach: it cannot matter any more
    const i = b % this.#received.length;
    this.#received[i] = this.#received[i]! + count;
  }

  /** Sums over the newest buckets covering `windowMs` (the newest one partly filled). */
  #window(windowMs: number): { received: number; expected: number; spanMs: number } {
    const width = this.options.bucketMs;
    const n = this.#received.length;
    const count = Math.min(this.#filled, Math.max(1, Math.ceil(windowMs / width)));
    let received = 0;
    let expected = 0;
    for (let k = 0; k < count; k++) {
      const i = (this.#bucket - k) % n;
      received += this.#received[i]!;
      expected += this.#expected[i]!;
    }
    const spanMs = (count - 1) * width + (this.#last - this.#bucket * width);
    return { received, expected, spanMs };
  }

  #reset(): void {
    this.#received.fill(0);
    this.#expected.fill(0);
    this.#filled = 1;
  }
}
