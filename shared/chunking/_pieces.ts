/**
 * A document cut into pieces, the units chunks are built from: words (runs of non-whitespace),
 * with over-long runs cut further. Each piece knows how good a place to cut the boundary before
 * it is, so chunks end at sections, paragraphs and sentences when they can.
 */
import type { HeadingSpan } from "./_headings.ts";

/** Boundary strengths, weakest to strongest. */
export const NONE = 0; // inside a word, or right after a heading (keeps it with its section)
export const WORD = 1;
export const CLAUSE = 2;
/** A line break that ends no sentence: a soft wrap in prose, a statement in code. */
export const LINE = 3;
export const SENTENCE = 4;
export const PARAGRAPH = 5;
export const SECTION = 6; // before a heading
export const HARD = 7; // a page break: no chunk spans two pages

/** Longest run of non-whitespace kept as one piece; longer ones (CJK text, base64, minified
 * code) are cut, so counting a piece stays cheap and a piece rarely exceeds a chunk. */
export const MAX_PIECE_CHARS = 64;

export interface Pieces {
  count: number;
  start: Int32Array;
  end: Int32Array;
  /** Strength of the boundary before each piece (the first piece's is HARD). */
  level: Uint8Array;
}

const SENTENCE_END = /[.!?…‽][)\]"'”’»]*$/;
const CLAUSE_END = /[,;:–—][)\]"'”’»]*$/;
/** Full-width punctuation ends sentences and clauses inside runs without spaces. */
const CJK_SENTENCE = new Set(["。", "！", "？", "．"]);
const CJK_CLAUSE = new Set(["，", "、", "；", "："]);

/**
 * Cuts `text` into pieces. `pageStarts` are offsets where a page begins (sorted), `headings`
 * the heading spans (sorted).
 */
export function splitPieces(
  text: string,
  { pageStarts, headings }: {
    pageStarts: readonly number[];
    headings: readonly HeadingSpan[];
  },
): Pieces {
  const builder = new PieceBuilder(text.length);
  const word = /\S+/g;
  for (let m = word.exec(text); m !== null; m = word.exec(text)) {
    const runStart = m.index;
    const runEnd = runStart + m[0].length;
    if (runEnd - runStart <= MAX_PIECE_CHARS && !hasPageStartInside(pageStarts, runStart, runEnd)) {
      builder.add(runStart, runEnd, -1);
    } else {
      cutRun(text, runStart, runEnd, pageStarts, builder);
    }
  }
  const pieces = builder.build();
  assignLevels(text, pieces, pageStarts, headings);
  return pieces;
}

class PieceBuilder {
  #start: Int32Array;
  #end: Int32Array;
  #level: Uint8Array;
  #count = 0;

  constructor(textLength: number) {
    const initial = Math.max(16, Math.ceil(textLength / 6));
    this.#start = new Int32Array(initial);
    this.#end = new Int32Array(initial);
    this.#level = new Uint8Array(initial);
  }

  /** `level` -1: to be decided from the whitespace before it. */
  add(start: number, end: number, level: number): void {
    if (this.#count === this.#start.length) this.#grow();
    this.#start[this.#count] = start;
    this.#end[this.#count] = end;
    this.#level[this.#count] = level < 0 ? 255 : level;
    this.#count++;
  }

  build(): Pieces {
    return {
      count: this.#count,
      start: this.#start.subarray(0, this.#count),
      end: this.#end.subarray(0, this.#count),
      level: this.#level.subarray(0, this.#count),
    };
  }

  #grow(): void {
    const size = this.#start.length * 2;
    const start = new Int32Array(size);
    start.set(this.#start);
    const end = new Int32Array(size);
    end.set(this.#end);
    const level = new Uint8Array(size);
    level.set(this.#level);
    this.#start = start;
    this.#end = end;
    this.#level = level;
  }
}

/**
 * Cuts a long run after full-width sentence and clause marks, at page starts, and every
 * {@link MAX_PIECE_CHARS} characters, never inside a surrogate pair.
 */
function cutRun(
  text: string,
  runStart: number,
  runEnd: number,
  pageStarts: readonly number[],
  builder: PieceBuilder,
): void {
  let pieceStart = runStart;
  let levelBefore = -1;
  let i = runStart;
  while (i < runEnd) {
    const code = text.charCodeAt(i);
    const low = text.charCodeAt(i + 1);
    const pair = code >= 0xd800 && code <= 0xdbff && low >= 0xdc00 && low <= 0xdfff;
    const width = pair && i + 1 < runEnd ? 2 : 1;
    const char = text.slice(i, i + width);
    const next = i + width;
    let cutLevel = -1;
    if (CJK_SENTENCE.has(char)) cutLevel = SENTENCE;
    else if (CJK_CLAUSE.has(char)) cutLevel = CLAUSE;
    else if (next - pieceStart >= MAX_PIECE_CHARS) cutLevel = NONE;
    if (next < runEnd && isPageStart(pageStarts, next)) cutLevel = HARD;
    if (cutLevel >= 0 && next < runEnd) {
      builder.add(pieceStart, next, levelBefore);
      pieceStart = next;
      levelBefore = cutLevel;
    }
    i = next;
  }
  builder.add(pieceStart, runEnd, levelBefore);
}

function assignLevels(
  text: string,
  pieces: Pieces,
  pageStarts: readonly number[],
  headings: readonly HeadingSpan[],
): void {
  const { count, start, end, level } = pieces;
  let heading = 0; // first heading that does not end before the current piece
  let page = 0; // first page start after the previous piece's start
  let previousHeading = -1;
  for (let k = 0; k < count; k++) {
    while (heading < headings.length && headings[heading]!.end <= start[k]!) heading++;
    const span = headings[heading];
    const inHeading = span !== undefined && span.start <= start[k]! ? heading : -1;
    if (k === 0) {
      level[0] = HARD;
      previousHeading = inHeading;
      continue;
    }
    let crossesPage = false;
    while (page < pageStarts.length && pageStarts[page]! <= start[k]!) {
      if (pageStarts[page]! >= end[k - 1]!) crossesPage = true;
      page++;
    }
    if (crossesPage) level[k] = HARD;
    // Inside a heading or right after it: cutting here would strand the heading.
    else if (previousHeading >= 0) level[k] = NONE;
    else if (inHeading >= 0) level[k] = SECTION;
    // Pieces cut from a long run already carry their level.
    else if (level[k] === 255) level[k] = gapLevel(text, end[k - 1]!, start[k]!);
    previousHeading = inHeading;
  }
}

function gapLevel(text: string, gapStart: number, gapEnd: number): number {
  if (gapStart === gapEnd) return NONE;
  let newlines = 0;
  for (let i = gapStart; i < gapEnd; i++) {
    const c = text.charCodeAt(i);
    if (c === 0x0a) newlines++;
    else if (c === 0x0c) return PARAGRAPH;
  }
  if (newlines >= 2) return PARAGRAPH;
  const before = text.slice(Math.max(0, gapStart - 4), gapStart);
  if (SENTENCE_END.test(before)) return SENTENCE;
  if (newlines === 1) return LINE;
  if (CLAUSE_END.test(before)) return CLAUSE;
  return WORD;
}

function hasPageStartInside(pageStarts: readonly number[], start: number, end: number): boolean {
  const i = lowerBound(pageStarts, start + 1);
  return i < pageStarts.length && pageStarts[i]! < end;
}

function isPageStart(pageStarts: readonly number[], offset: number): boolean {
  const i = lowerBound(pageStarts, offset);
  return i < pageStarts.length && pageStarts[i] === offset;
}

/** First index whose value is >= `value`. */
function lowerBound(values: readonly number[], value: number): number {
  let lo = 0;
  let hi = values.length;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}
