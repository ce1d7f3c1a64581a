/** When check protection starts. */
export interface CheckProtectionOptions {
  /** Share (0..1] of checks with a result whose latest result failed, above which failures are not committed; 1 disables. */
  readonly threshold: number;
  /** Protection applies only when at least this many checks have a result. */
  readonly minChecks: number;
  /** Longest hold, in milliseconds: past it the failures are taken as real and committed, until the share falls back. */
  readonly maxMs: number;
  /** Epoch milliseconds; injected so tests run on a fake clock. */
  readonly now?: () => number;
  /** Told once when protection starts and once when it ends, with a sentence for the log. */
  readonly onChange?: (active: boolean, detail: string) => void;
}

/**
 * Check protection, the checker's counterpart of expiry protection
 * (SEMANTICS 2.6): when more than `threshold` of the checks a node runs fail
 * at once, the likelier cause is the node's own network, not that many
 * instances died together, so the checker stops committing failures (it
 * still commits recoveries) until the share falls back to the threshold.
 * It only counts the latest raw result of each check, before hysteresis, so
 * it sees a network fault a probe interval before any flip would be made.
 * A hold lasts at most `maxMs`: a mass failure that outlasts it is taken as
 * real, and protection does not start again until the share has fallen back.
 */
export class CheckProtection {
  readonly #options: CheckProtectionOptions;
  readonly #now: () => number;
  readonly #failing = new Map<string, boolean>();
  #failures = 0;
  #since: number | undefined;
  /** The hold reached maxMs with the share still over the threshold. */
  #lapsed = false;

  constructor(options: CheckProtectionOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** True while failures are not committed. */
  get active(): boolean {
    this.#lapse();
    return this.#since !== undefined;
  }

  /** Epoch milliseconds protection started, while active. */
  get since(): number | undefined {
    this.#lapse();
    return this.#since;
  }

  /** Checks with a result, and how many of them failed last. */
  get counts(): { readonly checks: number; readonly failing: number } {
    return { checks: this.#failing.size, failing: this.#failures };
  }

  /** Takes the latest raw result of `checkId`. */
  record(checkId: string, passed: boolean): void {
    const before = this.#failing.get(checkId);
    if (before === true) this.#failures--;
    this.#failing.set(checkId, !passed);
    if (!passed) this.#failures++;
    this.#evaluate();
  }

  /** Forgets a check this node no longer runs. */
  forget(checkId: string): void {
    if (this.#failing.get(checkId) === true) this.#failures--;
    if (this.#failing.delete(checkId)) this.#evaluate();
  }

  #evaluate(): void {
    const { threshold, minChecks } = this.#options;
    const n = this.#failing.size;
    const share = n === 0 ? 0 : this.#failures / n;
    const over = threshold < 1 && n >= minChecks && share > threshold;
    const pct = Math.round(share * 100);
    this.#lapse();
    if (!over) this.#lapsed = false;
    if (over && this.#since === undefined && !this.#lapsed) {
      this.#since = this.#now();
      this.#options.onChange?.(true, `check protection on: ${this.#failures} of ${n} checks (${pct} %) fail at once, more than ${Math.round(threshold * 100)} %; failures are not committed until the share falls back`);
    } else if (!over && this.#since !== undefined) {
      const heldMs = this.#now() - this.#since;
      this.#since = undefined;
      this.#options.onChange?.(false, `check protection off after ${heldMs} ms: ${this.#failures} of ${n} checks (${pct} %) fail`);
    }
  }

  /** Ends a hold that has lasted maxMs: from then on the failures are committed. */
  #lapse(): void {
    if (this.#since === undefined || this.#now() - this.#since < this.#options.maxMs) return;
    const heldMs = this.#now() - this.#since;
    this.#since = undefined;
    this.#lapsed = true;
    this.#options.onChange?.(false, `check protection lapsed after ${heldMs} ms (check-protection-max-ms) with ${this.#failures} of ${this.#failing.size} checks failing: their failures are committed now`);
  }
}
