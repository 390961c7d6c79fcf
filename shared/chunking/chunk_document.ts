/**
 * Token-aware chunking: a document's text cut into chunks of at most `chunkSize` tokens of the
 * collection's model, consecutive chunks sharing up to `chunkOverlap` tokens.
 *
 * How: the text is cut into pieces (words; long runs cut further), each counted once with the
 * model's tokenizer (memoised: words repeat). Chunks are packed from whole pieces by those
 * counts: whole sections while they fit, else ending at the strongest boundary in the last half
 * of the budget - a paragraph, then a sentence, a line, a clause, a word - which is the
 * recursive section/paragraph/sentence/word splitting of the classic text splitters (LangChain's
 * RecursiveCharacterTextSplitter), done in one pass.
 * Each chunk is then counted as a whole, since tokens of pieces need not add up exactly (a cut
 * inside a word, a tokenizer that merges across spaces); one over the limit is packed again
 * smaller, and so is an overlap. Work is linear in the text: every character is tokenised about
 * twice (once in its chunk, once more in an overlap) plus once per distinct word.
 *
 * Guarantees: every chunk has `tokenCount = countTokens(text) <= chunkSize`, the text two
 * consecutive chunks share counts at most `chunkOverlap` tokens, and
 * `text = doc.text.slice(startOffset, endOffset)`, starting and ending on non-whitespace; all
 * non-whitespace text is in some chunk (except chunks of zero tokens, which are dropped); the
 * same input and tokenizer give the same chunks.
 */
import { findHeadings, HeadingFinder, type HeadingSpan, headingStyleOf } from "./_headings.ts";
import { HARD, NONE, type Pieces, SECTION, splitPieces } from "./_pieces.ts";

/** The one thing chunking needs of a model: its token count, special tokens excluded. */
export interface TokenCounter {
  countTokens(text: string): number;
}

/** What {@link chunkDocument} reads of an extracted document. */
export interface ChunkableDocument {
  text: string;
  /** Decides how headings are found: Markdown (also HTML and DOCX output), RST, none. */
  mimeType: string;
  /** PDF pages: `text.slice(start, end)` is page `page`. A chunk never spans two pages. */
  pages?: readonly { page: number; start: number; end: number }[];
}

export interface ChunkDocumentOptions {
  /** Most tokens in one chunk (a positive integer). */
  chunkSize: number;
  /**
   * Most tokens a chunk shares with the one before it (an integer, 0 <= overlap < size).
   * There is none after a section or page boundary: the next chunk starts a new context.
   */
  chunkOverlap: number;
  /** The collection model's tokenizer. */
  tokenizer: TokenCounter;
}

export interface Chunk {
  /** 0, 1, 2, ... in document order. */
  ordinal: number;
  text: string;
  /** Offsets into the document's text (UTF-16 code units), end exclusive. */
  startOffset: number;
  endOffset: number;
  /** PDF: the page the chunk lies on. */
  page?: number;
  /** `tokenizer.countTokens(text)`, at most `chunkSize`. */
  tokenCount: number;
}

/** Below a section, a chunk ends at a weaker boundary rather than below half the budget, so
 * chunks stay full. */
const MIN_FILL = 0.5;
/** The overlap starts at a stronger boundary only if it keeps at least half the overlap. */
const MIN_OVERLAP_FILL = 0.5;
/** Bound on the memo of piece counts; it is cleared when full. */
const MEMO_LIMIT = 200_000;

/**
 * Cuts a document into chunks (see the module documentation for what is guaranteed).
 *
 * @throws {RangeError} when `chunkSize` is not a positive integer, `chunkOverlap` not an
 * integer in [0, chunkSize), or one character alone has more than `chunkSize` tokens.
 * @throws {TypeError} when the document's text is not a string or the tokenizer has no
 * `countTokens` or it returns something other than a non-negative integer.
 */
export function chunkDocument(doc: ChunkableDocument, options: ChunkDocumentOptions): Chunk[] {
  const { chunkSize, chunkOverlap, tokenizer } = options;
  checkOptions(chunkSize, chunkOverlap, tokenizer);
  if (typeof doc?.text !== "string") {
    throw new TypeError(`Cannot chunk document: text must be a string, got ${typeof doc?.text}`);
  }
  return new Chunker(doc, chunkSize, chunkOverlap, tokenizer).run();
}

export interface ChunkStreamOptions extends ChunkDocumentOptions {
  /** As {@link ChunkableDocument.mimeType}: how headings are found. */
  mimeType: string;
  /**
   * Characters gathered before a window is chunked; a window holds at most this much new text
   * plus the unfinished tail of the one before.
   * @default {1048576}
   */
  windowChars?: number;
}

/**
 * {@link chunkDocument} over text that arrives in pieces (a large file read a block at a time):
 * the same chunks as chunking the whole text at once - same texts, offsets, ordinals and token
 * counts - whatever the pieces, while only a window of the text is held. Headings and open code
 * fences carry across windows. No PDF pages: a paged document is chunked whole.
 */
export class ChunkStream {
  readonly #size: number;
  readonly #overlap: number;
  readonly #tokenizer: TokenCounter;
  readonly #mimeType: string;
  readonly #windowChars: number;
  readonly #finder: HeadingFinder;
  readonly #memo = new Map<string, number>();
  /** Headings (offsets into the whole text) that may still reach into the window. */
  #headings: HeadingSpan[] = [];
  #buffer = "";
  /** Offset of `#buffer` in the whole text. */
  #base = 0;
  #resume: { firstOffset: number; minEndOffset: number } | undefined;
  #ordinal = 0;
  #runAt: number;
  #finished = false;

  /** @throws {RangeError} {@link TypeError} for the options {@link chunkDocument} refuses. */
  constructor(options: ChunkStreamOptions) {
    const { chunkSize, chunkOverlap, tokenizer, mimeType, windowChars = 1 << 20 } = options;
    checkOptions(chunkSize, chunkOverlap, tokenizer);
    if (!Number.isInteger(windowChars) || windowChars < 1) {
      throw new RangeError(
        `Cannot chunk text: windowChars must be a positive integer, got ${windowChars}`,
      );
    }
    this.#size = chunkSize;
    this.#overlap = chunkOverlap;
    this.#tokenizer = tokenizer;
    this.#mimeType = typeof mimeType === "string" ? mimeType : "";
    this.#windowChars = windowChars;
    this.#runAt = windowChars;
    this.#finder = new HeadingFinder(headingStyleOf(this.#mimeType));
  }

  /** Characters taken so far. */
  get length(): number {
    return this.#base + this.#buffer.length;
  }

  /** Takes the next text; returns the chunks that more text can no longer change. */
  push(text: string): Chunk[] {
    if (this.#finished) throw new Error("Cannot push text: the chunk stream has finished");
    if (typeof text !== "string") {
      throw new TypeError(`Cannot chunk text: text must be a string, got ${typeof text}`);
    }
    this.#headings.push(...this.#finder.push(text));
    this.#buffer += text;
    if (this.#buffer.length < this.#runAt) return [];
    return this.#chunkWindow(false);
  }

  /** The text has ended: the remaining chunks. */
  finish(): Chunk[] {
    if (this.#finished) return [];
    this.#headings.push(...this.#finder.finish());
    const chunks = this.#chunkWindow(true);
    this.#finished = true;
    this.#buffer = "";
    return chunks;
  }

  #chunkWindow(final: boolean): Chunk[] {
    const base = this.#base;
    const headings = this.#headings.map((h) => ({ start: h.start - base, end: h.end - base }));
    const chunker = new Chunker(
      { text: this.#buffer, mimeType: this.#mimeType },
      this.#size,
      this.#overlap,
      this.#tokenizer,
      {
        headings,
        settledBefore: final ? undefined : this.#finder.settledBefore - base,
        resume: this.#resume && {
          firstOffset: this.#resume.firstOffset - base,
          minEndOffset: this.#resume.minEndOffset - base,
        },
        memo: this.#memo,
      },
    );
    const chunks = chunker.run();
    for (const c of chunks) {
      c.ordinal += this.#ordinal;
      c.startOffset += base;
      c.endOffset += base;
    }
    this.#ordinal += chunks.length;
    const resume = chunker.resume;
    if (resume) {
      this.#buffer = this.#buffer.slice(resume.cutOffset);
      this.#base = base + resume.cutOffset;
      this.#resume = {
        firstOffset: base + resume.firstOffset,
        minEndOffset: base + resume.minEndOffset,
      };
      this.#headings = this.#headings.filter((h) => h.end > this.#base);
    }
    this.#runAt = this.#buffer.length + this.#windowChars;
    return chunks;
  }
}

/**
 * Where chunking a window stopped: the next window starts at `cutOffset` (the start of the run
 * of non-whitespace holding piece `first`, so the pieces are cut again exactly as before), and
 * the loop goes on with the pieces starting at `firstOffset` and `minEndOffset`. Offsets are
 * into the window's text.
 */
interface WindowResume {
  cutOffset: number;
  firstOffset: number;
  minEndOffset: number;
}

/** How a window of a longer text is chunked (see {@link ChunkStream}). */
interface WindowOptions {
  /** The headings of the window, found in the whole text (offsets into the window). */
  headings: readonly HeadingSpan[];
  /** Pieces starting at or after this offset may change with more text (undefined: final). */
  settledBefore: number | undefined;
  /** Where the previous window stopped (offsets into this window). */
  resume: { firstOffset: number; minEndOffset: number } | undefined;
  memo: Map<string, number>;
}

class Chunker {
  readonly #text: string;
  readonly #mimeType: string;
  readonly #size: number;
  readonly #overlap: number;
  readonly #tokenizer: TokenCounter;
  readonly #pages: { page: number; start: number }[];
  readonly #memo: Map<string, number>;
  readonly #window: WindowOptions | undefined;
  /** Set when a window stops before its end. */
  resume: WindowResume | undefined;
  #pieces!: Pieces;
  /** prefix[k] = tokens of pieces 0..k-1, by their separate counts. */
  #prefix!: Float64Array;
  /** hardAfter[k] = first index > k whose boundary is HARD, or the piece count. */
  #hardAfter!: Int32Array;

  constructor(
    doc: ChunkableDocument,
    size: number,
    overlap: number,
    tokenizer: TokenCounter,
    window?: WindowOptions,
  ) {
    this.#window = window;
    this.#memo = window?.memo ?? new Map();
    this.#text = doc.text;
    this.#mimeType = typeof doc.mimeType === "string" ? doc.mimeType : "";
    this.#size = size;
    this.#overlap = overlap;
    this.#tokenizer = tokenizer;
    this.#pages = [...(doc.pages ?? [])]
      .filter((p) => Number.isFinite(p.start))
      .map((p) => ({ page: p.page, start: p.start }))
      .sort((a, b) => a.start - b.start || a.page - b.page);
  }

  run(): Chunk[] {
    const text = this.#text;
    const headings = this.#window?.headings ?? findHeadings(text, headingStyleOf(this.#mimeType));
    // A page cannot start inside a surrogate pair: such a start moves to the pair's end.
    const pageStarts = this.#pages
      .map((p) => (splitsSurrogatePair(text, p.start) ? p.start + 1 : p.start))
      .filter((s) => s > 0);
    const raw = splitPieces(text, { pageStarts, headings });
    // The last piece as cut may be a word the window ends inside (its parts, too).
    const lastRawStart = raw.count > 0 ? raw.start[raw.count - 1]! : 0;
    this.#pieces = this.#fitPieces(raw);
    this.#prefix = this.#prefixSums();
    this.#hardAfter = this.#hardBoundaries();

    const { count, start, end } = this.#pieces;
    const chunks: Chunk[] = [];
    let first = 0;
    // The next chunk must end after this piece index, so an overlap never repeats a chunk.
    let minEnd = 1;
    const resume = this.#window?.resume;
    if (resume) {
      first = lowerBound(start, count, resume.firstOffset);
      minEnd = lowerBound(start, count, resume.minEndOffset);
    }
    // A window that more text follows: its last piece may be cut short, and pieces past
    // `settledBefore` may yet turn out to be in a heading. A chunk is only decided when all it
    // looks at (up to the piece after the most its budget can take) lies before them.
    const settledBefore = this.#window?.settledBefore;
    const reliable = settledBefore === undefined
      ? count
      : lowerBound(start, count, Math.min(settledBefore, lastRawStart));
    outer: while (first < count) {
      if (
        settledBefore !== undefined &&
        (minEnd > reliable - 1 ||
          this.#maxEnd(first, this.#hardAfter[first]!, this.#size) > reliable - 1)
      ) {
        this.resume = {
          cutOffset: runStart(text, start[first]!),
          firstOffset: start[first]!,
          minEndOffset: start[minEnd]!,
        };
        break;
      }
      let limit = this.#maxEnd(first, this.#hardAfter[first]!, this.#size);
      let last: number;
      let tokens: number;
      while (true) {
        last = this.#pickEnd(first, Math.max(minEnd, first + 1), limit);
        tokens = this.#count(text.slice(start[first]!, end[last - 1]!));
        if (tokens <= this.#size) break;
        // The pieces' counts under-estimated this span: aim lower, in proportion.
        const estimate = this.#prefix[last]! - this.#prefix[first]!;
        const target = Math.floor((estimate * this.#size) / tokens);
        limit = Math.min(last - 1, this.#maxEnd(first, last - 1, target));
        if (limit < Math.max(minEnd, first + 1)) {
          if (minEnd > first + 1) {
            // Even the overlap leaves no room for new text: start after the previous chunk.
            first = minEnd - 1;
            minEnd = first + 1;
            continue outer;
          } else {
            // One piece alone fits: its own count is at most the size.
            limit = first + 1;
          }
        }
      }
      if (tokens > 0) {
        const startOffset = start[first]!;
        const endOffset = end[last - 1]!;
        const chunk: Chunk = {
          ordinal: chunks.length,
          text: text.slice(startOffset, endOffset),
          startOffset,
          endOffset,
          tokenCount: tokens,
        };
        const page = this.#pageAt(startOffset);
        if (page !== undefined) chunk.page = page;
        chunks.push(chunk);
      }
      if (last >= count) break;
      minEnd = last + 1;
      first = this.#overlap > 0 && this.#pieces.level[last]! < SECTION
        ? this.#pickOverlapStart(first, last)
        : last;
    }
    return chunks;
  }

  /**
   * Where a chunk starting at `first` ends (exclusive piece index), between `low` and `limit`:
   * at `limit` when that is a page or document end; else before the last heading that fits,
   * so whole sections are packed together and a section that does not fit starts a chunk;
   * else at the strongest boundary among those leaving the chunk at least half full, the
   * latest of equals.
   */
  #pickEnd(first: number, low: number, limit: number): number {
    if (limit < low) return low;
    if (limit === this.#hardAfter[first]) return limit;
    const level = this.#pieces.level;
    const base = this.#prefix[first]!;
    const minFill = Math.min(this.#size * MIN_FILL, this.#prefix[limit]! - base);
    let best = limit;
    let bestLevel = -1;
    for (let e = limit; e >= low; e--) {
      if (level[e]! >= SECTION) return e;
      if (this.#prefix[e]! - base >= minFill && level[e]! > bestLevel) {
        best = e;
        bestLevel = level[e]!;
      }
    }
    return best;
  }

  /**
   * Where the chunk after [first, last) starts: the earliest piece whose tail up to `last`
   * fits the overlap and leaves room for piece `last`, moved to a stronger boundary (a
   * sentence start, say) when that keeps at least half the overlap.
   */
  #pickOverlapStart(first: number, last: number): number {
    const prefix = this.#prefix;
    const tailEnd = prefix[last]!;
    const nextEnd = prefix[last + 1]!;
    let k = last;
    // Walk back while the tail still fits; pieces in an overlap are few.
    while (
      k - 1 > first && tailEnd - prefix[k - 1]! <= this.#overlap &&
      nextEnd - prefix[k - 1]! <= this.#size
    ) {
      k--;
    }
    if (k === last) return last;
    const earliest = k;
    const minOverlap = Math.min(this.#overlap * MIN_OVERLAP_FILL, tailEnd - prefix[earliest]!);
    let best = earliest;
    let bestLevel = this.#pieces.level[earliest]!;
    for (let s = earliest + 1; s < last && tailEnd - prefix[s]! >= minOverlap; s++) {
      const level = this.#pieces.level[s]!;
      if (level > bestLevel) {
        best = s;
        bestLevel = level;
      }
    }
    // Starting right after a heading (NONE) would cut it off its text: prefer no overlap.
    if (bestLevel === NONE && this.#pieces.level[last]! > NONE) return last;
    return this.#verifiedOverlapStart(best, last);
  }

  /**
   * Moves an overlap start later until the shared text, counted as a whole, fits the overlap
   * (pieces' counts may under-estimate it, as they may a chunk).
   */
  #verifiedOverlapStart(candidate: number, last: number): number {
    const { start, end } = this.#pieces;
    const tailEnd = this.#prefix[last]!;
    let s = candidate;
    while (s < last) {
      const shared = this.#count(this.#text.slice(start[s]!, end[last - 1]!));
      if (shared <= this.#overlap) return s;
      const target = Math.floor(((tailEnd - this.#prefix[s]!) * this.#overlap) / shared);
      let next = s + 1;
      while (next < last && tailEnd - this.#prefix[next]! > target) next++;
      s = next;
    }
    return last;
  }

  /** Largest end in (first, limit] whose pieces' counts stay within `budget`; at least first+1. */
  #maxEnd(first: number, limit: number, budget: number): number {
    const prefix = this.#prefix;
    const base = prefix[first]!;
    let lo = first + 1;
    let hi = limit;
    if (hi <= lo) return lo;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (prefix[mid]! - base <= budget) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  /** Splits pieces whose own count exceeds the chunk size, halving at code points. */
  #fitPieces(pieces: Pieces): Pieces {
    const text = this.#text;
    const starts: number[] = [];
    const ends: number[] = [];
    const levels: number[] = [];
    let changed = false;
    for (let k = 0; k < pieces.count; k++) {
      const s = pieces.start[k]!;
      const e = pieces.end[k]!;
      if (this.#countPiece(text.slice(s, e)) <= this.#size) {
        starts.push(s);
        ends.push(e);
        levels.push(pieces.level[k]!);
        continue;
      }
      changed = true;
      const parts: [number, number][] = [];
      this.#halve(s, e, parts);
      parts.forEach(([ps, pe], i) => {
        starts.push(ps);
        ends.push(pe);
        levels.push(i === 0 ? pieces.level[k]! : NONE);
      });
    }
    if (!changed) return pieces;
    return {
      count: starts.length,
      start: Int32Array.from(starts),
      end: Int32Array.from(ends),
      level: Uint8Array.from(levels),
    };
  }

  #halve(start: number, end: number, out: [number, number][]): void {
    const text = this.#text;
    if (this.#countPiece(text.slice(start, end)) <= this.#size) {
      out.push([start, end]);
      return;
    }
    let mid = start + ((end - start) >>> 1);
    // Never split a surrogate pair.
    if (splitsSurrogatePair(text, mid)) mid++;
    if (mid <= start || mid >= end) {
      throw new RangeError(
        `Cannot chunk document: chunkSize ${this.#size} is smaller than the ${
          this.#countPiece(text.slice(start, end))
        } tokens of the single character ${JSON.stringify(text.slice(start, end))}`,
      );
    }
    this.#halve(start, mid, out);
    this.#halve(mid, end, out);
  }

  #prefixSums(): Float64Array {
    const { count, start, end } = this.#pieces;
    const prefix = new Float64Array(count + 1);
    for (let k = 0; k < count; k++) {
      prefix[k + 1] = prefix[k]! + this.#countPiece(this.#text.slice(start[k]!, end[k]!));
    }
    return prefix;
  }

  #hardBoundaries(): Int32Array {
    const { count, level } = this.#pieces;
    const hardAfter = new Int32Array(count + 1);
    let next = count;
    hardAfter[count] = count;
    for (let k = count - 1; k >= 0; k--) {
      hardAfter[k] = next;
      if (level[k] === HARD) next = k;
    }
    return hardAfter;
  }

  #countPiece(piece: string): number {
    const known = this.#memo.get(piece);
    if (known !== undefined) return known;
    const tokens = this.#count(piece);
    if (this.#memo.size >= MEMO_LIMIT) this.#memo.clear();
    this.#memo.set(piece, tokens);
    return tokens;
  }

  #count(text: string): number {
    const tokens = this.#tokenizer.countTokens(text);
    if (!Number.isInteger(tokens) || tokens < 0) {
      throw new TypeError(
        `Cannot chunk document: countTokens must return a non-negative integer, got ${tokens}`,
      );
    }
    return tokens;
  }

  #pageAt(offset: number): number | undefined {
    const pages = this.#pages;
    if (pages.length === 0) return undefined;
    let lo = 0;
    let hi = pages.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >>> 1;
      if (pages[mid]!.start <= offset) lo = mid;
      else hi = mid - 1;
    }
    return pages[lo]!.page;
  }
}

function checkOptions(chunkSize: number, chunkOverlap: number, tokenizer: TokenCounter): void {
  if (!Number.isInteger(chunkSize) || chunkSize < 1) {
    throw new RangeError(
      `Cannot chunk document: chunkSize must be a positive integer, got ${chunkSize}`,
    );
  }
  if (!Number.isInteger(chunkOverlap) || chunkOverlap < 0 || chunkOverlap >= chunkSize) {
    throw new RangeError(
      `Cannot chunk document: chunkOverlap must be an integer from 0 to chunkSize - 1 (${
        chunkSize - 1
      }), got ${chunkOverlap}`,
    );
  }
  if (typeof tokenizer?.countTokens !== "function") {
    throw new TypeError("Cannot chunk document: tokenizer must have a countTokens(text) method");
  }
}

/** First index below `count` whose value is >= `value`. */
function lowerBound(values: Int32Array, count: number, value: number): number {
  let lo = 0;
  let hi = count;
  while (lo < hi) {
    const mid = (lo + hi) >>> 1;
    if (values[mid]! < value) lo = mid + 1;
    else hi = mid;
  }
  return lo;
}

const WHITESPACE = /\s/;

/** Start of the run of non-whitespace that `offset` lies in. */
function runStart(text: string, offset: number): number {
  let at = offset;
  while (at > 0 && !WHITESPACE.test(text[at - 1]!)) at--;
  return at;
}

function splitsSurrogatePair(text: string, offset: number): boolean {
  const before = text.charCodeAt(offset - 1);
  const at = text.charCodeAt(offset);
  return before >= 0xd800 && before <= 0xdbff && at >= 0xdc00 && at <= 0xdfff;
}
