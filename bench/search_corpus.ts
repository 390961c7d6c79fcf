/**
 * The generated corpus of `bench/search.ts`: chunks of ~120 words drawn with Zipf frequencies from
 * a vocabulary of common words and generated terms, an identifier (`opt_<n>_<m>`) in one chunk of
 * three, 384-dimension vectors around 64 random centres (so the HNSW index has structure), and
 * queries of two or three content words with an identifier in one of four.
 */
import { pointId, type VectorPoint } from "@semantik/shared";
import { BENCH_WORDS, seededRandom } from "./_common.ts";

export const DIM = 384;
const CENTRES = 64;

/** Draws words with Zipf frequencies (rank r has weight 1/r) from `vocab`. */
function zipf(vocab: readonly string[], next: () => number): () => string {
  const cumulative: number[] = [];
  let total = 0;
  for (let r = 1; r <= vocab.length; r++) cumulative.push(total += 1 / r);
  return () => {
    const x = next() * total;
    let lo = 0, hi = cumulative.length - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cumulative[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return vocab[lo]!;
  };
}

/** Generated terms: pronounceable, distinct, 5 to 9 letters. */
function generatedVocabulary(n: number, next: () => number): string[] {
  const c = "bcdfghklmnprstvz", v = "aeiou";
  const out = new Set<string>();
  while (out.size < n) {
    let w = "";
    const len = 2 + Math.floor(next() * 3);
    for (let i = 0; i < len; i++) {
      w += c[Math.floor(next() * c.length)]! + v[Math.floor(next() * v.length)]!;
    }
    out.add(w);
  }
  return [...out];
}

function unit(v: Float32Array): Float32Array {
  let n = 0;
  for (const x of v) n += x * x;
  n = Math.sqrt(n);
  for (let i = 0; i < v.length; i++) v[i] = v[i]! / n;
  return v;
}

function gaussian(next: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - next())) * Math.cos(2 * Math.PI * next());
}

export interface BenchQuery {
  text: string;
  vector: Float32Array;
}

export interface SearchCorpus {
  /** `n` chunks of collection `collection` (without `text` when `withText` is false). */
  points(collection: string, n: number, withText: boolean): VectorPoint[];
  /** `n` queries: a text and a vector near one of the centres. */
  queries(n: number): BenchQuery[];
  /** A query text like the search queries', with an identifier (for query embedding). */
  queryText(): string;
}

/** The corpus drawn from the seed `seed` (the same seed, the same chunks and queries). */
export function searchCorpus(seed: number): SearchCorpus {
  const next = seededRandom(seed);
  const centres = Array.from(
    { length: CENTRES },
    () => unit(Float32Array.from({ length: DIM }, () => gaussian(next))),
  );
  const near = (noise: number) => {
    const c = centres[Math.floor(next() * CENTRES)]!;
    return unit(Float32Array.from(c, (x) => x + noise * gaussian(next)));
  };
  const vocabulary = [...BENCH_WORDS, ...generatedVocabulary(20_000, next)];
  const word = zipf(vocabulary, next);
  const contentWords = vocabulary.slice(60); // past the most common ones
  const queryWord = zipf(contentWords, next);
  const identifier = () => `opt_${Math.floor(next() * 500)}_${Math.floor(next() * 40)}`;

  function chunkText(): string {
    const words = Array.from({ length: 100 + Math.floor(next() * 40) }, word);
    if (next() < 1 / 3) words.splice(Math.floor(next() * words.length), 0, identifier());
    return words.join(" ");
  }

  return {
    points(collection, n, withText) {
      return Array.from({ length: n }, (_, i) => {
        const uri = `/bench/doc${Math.floor(i / 8)}.txt`;
        return {
          id: pointId(collection, { uri, ordinal: i % 8 }),
          vector: near(0.6),
          payload: {
            collection_id: collection,
            document_id: `doc${Math.floor(i / 8)}`,
            uri,
            chunk_index: i % 8,
          },
          ...(withText ? { text: chunkText() } : {}),
        };
      });
    },
    queries(n) {
      return Array.from({ length: n }, () => {
        const words = Array.from({ length: 2 + Math.floor(next() * 2) }, queryWord);
        if (next() < 0.25) words.push(identifier());
        return { text: words.join(" "), vector: near(0.8) };
      });
    },
    queryText: () => `how does ${queryWord()} relate to ${queryWord()} and ${identifier()}`,
  };
}
