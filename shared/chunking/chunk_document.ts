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
import { findHeadings, headingStyleOf } from "./_headings.ts";
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
  if (typeof doc?.text !== "string") {
    throw new TypeError(`Cannot chunk document: text must be a string, got ${typeof doc?.text}`);
  }
  return new Chunker(doc, chunkSize, chunkOverlap, tokenizer).run();
}

class Chunker {
  readonly #text: string;
  readonly #mimeType: string;
  readonly #size: number;
  readonly #overlap: number;
  readonly #tokenizer: TokenCounter;
  readonly #pages: { page: number; start: number }[];
  readonly #memo = new Map<string, number>();
  #pieces!: Pieces;
  /** prefix[k] = tokens of pieces 0..k-1, by their separate counts. */
  #prefix!: Float64Array;
  /** hardAfter[k] = first index > k whose boundary is HARD, or the piece count. */
  #hardAfter!: Int32Array;

  constructor(doc: ChunkableDocument, size: number, overlap: number, tokenizer: TokenCounter) {
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
    const headings = findHeadings(text, headingStyleOf(this.#mimeType));
    // A page cannot start inside a surrogate pair: such a start moves to the pair's end.
    const pageStarts = this.#pages
      .map((p) => (splitsSurrogatePair(text, p.start) ? p.start + 1 : p.start))
      .filter((s) => s > 0);
    this.#pieces = this.#fitPieces(splitPieces(text, pageStarts, headings));
    this.#prefix = this.#prefixSums();
    this.#hardAfter = this.#hardBoundaries();

    const { count, start, end } = this.#pieces;
    const chunks: Chunk[] = [];
    let first = 0;
    // The next chunk must end after this piece index, so an overlap never repeats a chunk.
    let minEnd = 1;
    while (first < count) {
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
            limit = this.#maxEnd(first, this.#hardAfter[first]!, this.#size);
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

function splitsSurrogatePair(text: string, offset: number): boolean {
  const before = text.charCodeAt(offset - 1);
  const at = text.charCodeAt(offset);
  return before >= 0xd800 && before <= 0xdbff && at >= 0xdc00 && at <= 0xdfff;
}
