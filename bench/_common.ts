/** Pieces the benchmarks share: argument checks and the words their generated texts are made of. */
export { seededRandom } from "../shared/embedding/seeded_random.ts";

/** A positive integer option, or exit 2 saying which option was wrong. */
export function positiveArg(name: string, value: string | undefined): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) {
    console.error(`Cannot run bench: --${name} must be a positive integer, got ${value}`);
    Deno.exit(2);
  }
  return n;
}

/** Common words that are one token each in the BERT vocabulary, so lengths are easy to hit. */
export const BENCH_WORDS: readonly string[] = (
  "the of and to in is was for on that with as by at from his an were are which this be or " +
  "has had not but first one their its new after who they have her she two been other when " +
  "there all during into school time may years more most only over city some world would " +
  "where later up such used many can state about national out known university united then " +
  "made also team search model document vector system data large small number language"
).split(" ");

/** The `p`th percentile (nearest rank) of ascending `sorted`; NaN when empty. */
export function percentile(sorted: number[], p: number): number {
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i]!;
}

/** The median of `xs` (the mean of the middle two for an even count). */
export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}
