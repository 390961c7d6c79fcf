/**
 * Splits a list of tokenised texts into model batches. A batch costs what its padded tensor
 * holds (size × longest member), so texts are sorted by length and packed under a token budget:
 * short texts travel in big batches, long ones in small ones, and little is padding.
 */

export interface TokenBatchOptions {
  /** Most padded tokens (batch size × longest member) in one batch. */
  maxBatchTokens: number;
  /** Most texts in one batch, whatever their length. @default {256} */
  maxBatchSize?: number;
}

/**
 * Groups of input indices, longest texts first (so a batch too big for the device shows up
 * early). A text longer than the budget still gets a batch of its own.
 */
export function planTokenBatches(
  lengths: readonly number[],
  options: TokenBatchOptions,
): number[][] {
  const { maxBatchTokens, maxBatchSize = 256 } = options;
  if (!Number.isInteger(maxBatchTokens) || maxBatchTokens < 1) {
    throw new RangeError(
      `Cannot plan batches: maxBatchTokens must be a positive integer, got ${maxBatchTokens}`,
    );
  }
  if (!Number.isInteger(maxBatchSize) || maxBatchSize < 1) {
    throw new RangeError(
      `Cannot plan batches: maxBatchSize must be a positive integer, got ${maxBatchSize}`,
    );
  }
  const order = lengths.map((_, i) => i).sort((a, b) => lengths[b]! - lengths[a]! || a - b);
  const batches: number[][] = [];
  let current: number[] = [];
  let longest = 0;
  for (const index of order) {
    const length = lengths[index]!;
    const width = Math.max(longest, length);
    if (
      current.length > 0 &&
      (current.length + 1 > maxBatchSize || (current.length + 1) * width > maxBatchTokens)
    ) {
      batches.push(current);
      current = [];
      longest = 0;
    }
    current.push(index);
    longest = Math.max(longest, length);
  }
  if (current.length > 0) batches.push(current);
  return batches;
}

/** Fixed-size batches in input order: the naive plan, kept for comparison in the benchmark. */
export function planFixedBatches(count: number, batchSize: number): number[][] {
  if (!Number.isInteger(batchSize) || batchSize < 1) {
    throw new RangeError(
      `Cannot plan batches: batchSize must be a positive integer, got ${batchSize}`,
    );
  }
  const batches: number[][] = [];
  for (let start = 0; start < count; start += batchSize) {
    batches.push(Array.from({ length: Math.min(batchSize, count - start) }, (_, i) => start + i));
  }
  return batches;
}
