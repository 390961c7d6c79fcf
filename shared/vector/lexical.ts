/**
 * The project's one tokenizer for lexical retrieval, used on chunk text when it is indexed and on
 * the query when it is searched, by both stores (pgvector's full-text column, Qdrant's sparse
 * vectors) and by the search's highlights.
 *
 * Words are runs of letters, digits and underscores. Identifiers are split into their parts, at
 * underscores and at camelCase humps, and also kept whole (parts joined, lower case): the chunk
 * text `FORCE_NOT_NULL` yields `force`, `not`, `null` and `forcenotnull`; `pg_notify` yields `pg`,
 * `notify` and `pgnotify`; `getUserName` yields `get`, `user`, `name` and `getusername`. So the
 * query `FORCE_NOT_NULL` matches the identifier exactly (its whole form is a rare term), and the
 * query `not null` still matches its parts. Every term is lower case and letters and digits only,
 * so Postgres's parser keeps it as one lexeme.
 */

/** One term of a text, with the `[start, end)` characters it came from. */
export interface Token {
  term: string;
  start: number;
  end: number;
  /** The whole form of an identifier with several parts. */
  compound: boolean;
}

/** Terms longer than this (hashes, base64) are not indexed. */
export const MAX_TERM_LENGTH = 64;

const WORD = /[\p{L}\p{M}\p{N}_]+/gu;
/** Boundaries inside a word: `aB`, `1B` and `ABc` (between the A and the B). */
const HUMP = /(?<=[\p{Ll}\p{N}])(?=\p{Lu})|(?<=\p{Lu})(?=\p{Lu}\p{Ll})/u;

/** Every term of `text` in order (an identifier's parts, then its whole form). */
export function tokenize(text: string): Token[] {
  const out: Token[] = [];
  for (const m of text.matchAll(WORD)) {
    const start = m.index;
    const parts: { text: string; start: number }[] = [];
    let offset = start;
    for (const piece of m[0].split("_")) {
      if (piece !== "") {
        let inner = offset;
        for (const hump of piece.split(HUMP)) {
          parts.push({ text: hump, start: inner });
          inner += hump.length;
        }
      }
      offset += piece.length + 1;
    }
    for (const p of parts) {
      const term = p.text.toLowerCase();
      if (term.length > MAX_TERM_LENGTH) continue;
      out.push({ term, start: p.start, end: p.start + p.text.length, compound: false });
    }
    if (parts.length > 1) {
      const term = parts.map((p) => p.text).join("").toLowerCase();
      const last = parts[parts.length - 1]!;
      if (term.length <= MAX_TERM_LENGTH) {
        out.push({
          term,
          start: parts[0]!.start,
          end: last.start + last.text.length,
          compound: true,
        });
      }
    }
  }
  return out;
}

/** An upper-case letter: where a word may have humps. */
const UPPER = /\p{Lu}/u;

/**
 * The terms of `text` in order, repeats kept: {@link tokenize}'s, without their positions. A word
 * with neither an underscore nor an upper-case letter is one part, itself: most of prose, which
 * so skips the split (this runs on every chunk an upsert writes; the split took half its time).
 */
export function terms(text: string): string[] {
  const out: string[] = [];
  for (const word of text.match(WORD) ?? []) {
    if (!word.includes("_") && !UPPER.test(word)) {
      const term = word.toLowerCase();
      if (term.length <= MAX_TERM_LENGTH) out.push(term);
    } else {
      for (const t of tokenize(word)) out.push(t.term);
    }
  }
  return out;
}

/**
 * Common English words left out of queries (never out of indexed text): with OR semantics they
 * would match most chunks. A query made only of them keeps them.
 */
export const STOPWORDS: ReadonlySet<string> = new Set(
  ("a an and are as at be but by can do does did for from has have how i if in into is it its " +
    "me my of on or our so than that the their them then there these they this to was we were " +
    "what when where which who why will with would you your").split(" "),
);

/** One word of a query: a single term, or an identifier (its whole form and its parts). */
export interface QueryWord {
  whole: string;
  parts: string[];
}

/** The words of a query, stopwords dropped (unless nothing else is left), repeats dropped. */
export function queryWords(query: string): QueryWord[] {
  const words: QueryWord[] = [];
  for (const m of query.matchAll(WORD)) {
    const tokens = tokenize(m[0]);
    const whole = tokens.find((t) => t.compound);
    if (whole) {
      words.push({
        whole: whole.term,
        parts: tokens.filter((t) => !t.compound).map((t) => t.term),
      });
    } else if (tokens.length === 1) words.push({ whole: tokens[0]!.term, parts: [] });
  }
  const seen = new Set<string>();
  const unique = words.filter((w) => !seen.has(w.whole) && (seen.add(w.whole), true));
  const content = unique.filter((w) => w.parts.length > 0 || !STOPWORDS.has(w.whole));
  return content.length > 0 ? content : unique;
}

/** Distinct query terms (whole words and identifier parts), for highlights and sparse queries. */
export function queryTerms(query: string): string[] {
  const out = new Set<string>();
  for (const w of queryWords(query)) {
    out.add(w.whole);
    for (const p of w.parts) out.add(p);
  }
  return [...out];
}

/**
 * `[start, end)` spans of `text` that match the query's words, sorted and merged: an identifier
 * of the text that matches whole is one span; a part of one that matches a query word is its own
 * span (the query `notify` marks `notify` in `pg_notify`); the query `FORCE_NOT_NULL` marks only
 * `FORCE_NOT_NULL`, not every `null`.
 */
export function highlightSpans(text: string, query: string): [number, number][] {
  // A query identifier is highlighted where it stands whole, not wherever one of its parts does.
  const wanted = new Set(queryWords(query).map((w) => w.whole));
  if (wanted.size === 0) return [];
  const spans: [number, number][] = [];
  for (const t of tokenize(text)) {
    if (wanted.has(t.term)) spans.push([t.start, t.end]);
  }
  spans.sort((a, b) => a[0] - b[0] || b[1] - a[1]);
  const merged: [number, number][] = [];
  for (const s of spans) {
    const last = merged[merged.length - 1];
    if (last && s[0] <= last[1]) last[1] = Math.max(last[1], s[1]);
    else merged.push([s[0], s[1]]);
  }
  return merged;
}

/**
 * A Postgres `to_tsquery('simple', ...)` text for `query`: its words OR'ed (or AND'ed with
 * `join` `&`), an identifier as its whole form or its parts in sequence. Undefined when the query
 * has no terms.
 */
export function tsQueryText(query: string, join: "|" | "&" = "|"): string | undefined {
  return tsQueryOfWords(queryWords(query), join);
}

/** {@link tsQueryText} of some of a query's words (from {@link queryWords}). */
export function tsQueryOfWords(
  words: readonly QueryWord[],
  join: "|" | "&" = "|",
): string | undefined {
  if (words.length === 0) return undefined;
  return words.map((w) =>
    w.parts.length === 0
      ? `'${w.whole}'`
      : `('${w.whole}' | ${w.parts.map((p) => `'${p}'`).join(" <-> ")})`
  ).join(` ${join} `);
}

// ---------------------------------------------------------------------------------------------
// Sparse vectors (Qdrant): BM25 term weights, terms hashed to indices.

/** BM25 parameters; Qdrant's `modifier: "idf"` multiplies by the inverse document frequency. */
export const BM25_K1 = 1.2;
export const BM25_B = 0.75;
/** Average chunk length in terms, assumed (a collection's true average is not known upfront). */
export const BM25_AVG_LENGTH = 200;

/** FNV-1a over the term's UTF-8 bytes: a stable u32 index for a term. */
export function termIndex(term: string): number {
  let h = 0x811c9dc5;
  for (const byte of new TextEncoder().encode(term)) {
    h ^= byte;
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}

export interface SparseVector {
  indices: number[];
  values: number[];
}

/** The document side: each distinct term's BM25 term-frequency weight (IDF left to Qdrant). */
export function documentSparseVector(text: string): SparseVector {
  const all = terms(text);
  const tf = new Map<number, number>();
  for (const t of all) {
    const i = termIndex(t);
    tf.set(i, (tf.get(i) ?? 0) + 1);
  }
  const norm = BM25_K1 * (1 - BM25_B + BM25_B * all.length / BM25_AVG_LENGTH);
  const indices: number[] = [];
  const values: number[] = [];
  for (const [i, f] of [...tf].sort((a, b) => a[0] - b[0])) {
    indices.push(i);
    values.push(f * (BM25_K1 + 1) / (f + norm));
  }
  return { indices, values };
}

/** The query side: weight 1 per distinct query term (Qdrant applies the IDF). */
export function querySparseVector(query: string): SparseVector {
  const indices = [...new Set(queryTerms(query).map(termIndex))].sort((a, b) => a - b);
  return { indices, values: indices.map(() => 1) };
}
