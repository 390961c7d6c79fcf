/**
 * Reciprocal rank fusion (Cormack et al. 2009): a point's fused score is Σ 1/(k + rank) over the
 * ranked lists that hold it, ranks counted from 1. Scores of different retrievers never meet, so
 * cosine similarities and lexical relevance fuse without calibration.
 */

/**
 * How deep each retriever's list goes before fusion when the caller does not say: 3k, at least
 * 30. Ranks past it add under 1/(60 + 30) each to a fused score, and a deeper walk costs: at 50k
 * chunks in PGlite, the dense list 50 deep took 9.5 ms at the median against 6.1 ms 30 deep.
 */
export function fusionDepth(k: number): number {
  return Math.max(3 * k, 30);
}

/** One ranked list, best first; `key` names an item across lists. */
export interface RankedList<T> {
  items: readonly T[];
  key: (item: T) => string;
}

export interface FusedItem<T> {
  key: string;
  score: number;
  /** The item from each list, by list position; undefined where that list lacks it. */
  from: (T | undefined)[];
  /** Its 1-based rank in each list, undefined where that list lacks it. */
  ranks: (number | undefined)[];
}

/** Fuses `lists` by reciprocal rank with constant `k`; ties go to the smaller key. */
export function rrfFuse<T>(lists: readonly RankedList<T>[], k: number): FusedItem<T>[] {
  if (!Number.isInteger(k) || k < 1) {
    throw new RangeError(`Cannot fuse ranked lists: k must be a positive integer, got ${k}`);
  }
  const byKey = new Map<string, FusedItem<T>>();
  lists.forEach((list, li) => {
    const seen = new Set<string>();
    let rank = 0;
    for (const item of list.items) {
      const key = list.key(item);
      // A list that repeats an item counts it at its best rank only.
      if (seen.has(key)) continue;
      seen.add(key);
      rank++;
      let f = byKey.get(key);
      if (!f) {
        f = {
          key,
          score: 0,
          from: new Array(lists.length).fill(undefined),
          ranks: new Array(lists.length).fill(undefined),
        };
        byKey.set(key, f);
      }
      f.score += 1 / (k + rank);
      f.from[li] = item;
      f.ranks[li] = rank;
    }
  });
  return [...byKey.values()].sort((a, b) =>
    b.score - a.score || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
  );
}
