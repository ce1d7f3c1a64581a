/** How many results in a row change a check's status. */
export interface HysteresisOptions {
  readonly failuresBeforeUnhealthy: number;
  readonly successesBeforeHealthy: number;
}

/**
 * A check's settled verdict as the hysteresis sees it: true passing, false
 * failing, undefined pending (no verdict yet). The checker maps it to and
 * from CheckStatus; this module stays free of the wire types.
 */
export type Verdict = boolean | undefined;

/**
 * Per-check flap damping. It counts results in a row and proposes a flip
 * only when enough agree: pending or passing becomes failing after
 * `failuresBeforeUnhealthy` failures in a row, pending or failing becomes
 * passing after `successesBeforeHealthy` successes in a row; one result the
 * other way starts the count again. A proposed flip takes effect only when
 * the caller `settle`s it (after the store committed it), so a flip that
 * could not be committed is proposed again on the next agreeing result.
 *
 * @example
 * const h = new Hysteresis({ failuresBeforeUnhealthy: 3, successesBeforeHealthy: 2 });
 * h.observe(false); h.observe(false); // undefined, undefined: no flip yet
 * h.observe(false);                   // false: commit FAILING, then h.settle(false)
 */
export class Hysteresis {
  #verdict: Verdict;
  #passes = 0;
  #failures = 0;

  constructor(
    readonly options: HysteresisOptions,
    verdict: Verdict = undefined,
  ) {
    this.#verdict = verdict;
  }

  /** The settled verdict. */
  get verdict(): Verdict {
    return this.#verdict;
  }

  /** Results in a row that agree with the latest one: successes when positive, failures when negative. */
  get streak(): number {
    return this.#passes > 0 ? this.#passes : -this.#failures;
  }

  /**
   * Takes one probe result; returns the verdict to commit (true passing,
   * false failing), or undefined when nothing flips.
   */
  observe(passed: boolean): boolean | undefined {
    if (passed) {
      this.#passes++;
      this.#failures = 0;
      if (this.#verdict !== true && this.#passes >= this.options.successesBeforeHealthy) return true;
    } else {
      this.#failures++;
      this.#passes = 0;
      if (this.#verdict !== false && this.#failures >= this.options.failuresBeforeUnhealthy) return false;
    }
    return undefined;
  }

  /**
   * Records the verdict the store now holds: after a committed flip, or when
   * another node (the previous owner) or a re-register set it. The counts are
   * kept, so a streak already under way still counts.
   */
  settle(verdict: Verdict): void {
    this.#verdict = verdict;
  }
}
