/**
 * The token budget of embedding batches, shrinking on out-of-memory errors and growing back
 * after a run of successes: a GPU shared with other work has less room at some times than others.
 */

export interface AdaptiveBudgetOptions {
  /** The budget to start from and never exceed. */
  max: number;
  /** The budget is never halved below this. @default {1} */
  min?: number;
  /** Consecutive successful batches after which a reduced budget doubles. @default {16} */
  regrowAfter?: number;
}

export class AdaptiveBudget {
  readonly max: number;
  readonly min: number;
  readonly regrowAfter: number;
  #current: number;
  #successes = 0;

  constructor(options: AdaptiveBudgetOptions) {
    const { max, min = 1, regrowAfter = 16 } = options;
    if (!Number.isInteger(max) || max < 1) {
      throw new RangeError(`Cannot create budget: max must be a positive integer, got ${max}`);
    }
    if (!Number.isInteger(min) || min < 1 || min > max) {
      throw new RangeError(
        `Cannot create budget: min must be an integer in [1, ${max}], got ${min}`,
      );
    }
    if (!Number.isInteger(regrowAfter) || regrowAfter < 1) {
      throw new RangeError(
        `Cannot create budget: regrowAfter must be a positive integer, got ${regrowAfter}`,
      );
    }
    this.max = max;
    this.min = min;
    this.regrowAfter = regrowAfter;
    this.#current = max;
  }

  get current(): number {
    return this.#current;
  }

  /** Records a successful batch; after `regrowAfter` in a row, doubles a reduced budget. */
  recordSuccess(): void {
    if (this.#current >= this.max) return;
    this.#successes++;
    if (this.#successes >= this.regrowAfter) {
      this.#current = Math.min(this.max, this.#current * 2);
      this.#successes = 0;
    }
  }

  /**
   * Halves the budget after an out-of-memory run. With `failedCost` (the padded tokens of the
   * batch that failed), halves the smaller of that and the budget, so the failed batch is split
   * even when it was well under the budget. False when already at the minimum.
   */
  recordOutOfMemory(failedCost = Infinity): boolean {
    this.#successes = 0;
    const base = Math.min(this.#current, failedCost);
    if (base <= this.min) {
      this.#current = this.min;
      return false;
    }
    this.#current = Math.max(this.min, Math.floor(base / 2));
    return true;
  }
}
