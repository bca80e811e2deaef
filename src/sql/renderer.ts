// The renderer: a token list as its normalized text (literals as `$n`, value lists collapsed) and its fingerprint.
import * as tokens from './tokens.js';
import type { Tokens } from './tokens.js';

// Local names: called through the import binding in per-token loops, these cost more (see lexical.ts).
const { WORD, LITERAL, PARAM, PUNCT, LIST, kindAt, textOf, wordIs, isWord, isChar } = tokens;

/** Normalized text longer than this is cut (with a trailing "…"), so a huge statement never lands in telemetry. */
export const MAX_NORMALIZED_LENGTH = 2048;

const isValue = (k: number): boolean => k === LITERAL || k === PARAM;

/**
 * Index just past a parenthesised/bracketed run of values `( v , v , ... )` starting at `open`,
 * or -1 when the run holds anything else.
 */
function valueListEnd(t: Tokens, open: number, close: number): number {
  let i = open + 1;
  if (!isValue(kindAt(t, i))) return -1;
  for (;;) {
    i++;
    if (isChar(t, i, PUNCT, close)) return i + 1;
    if (!isChar(t, i, PUNCT, 44) || !isValue(kindAt(t, i + 1))) return -1;
    i++;
  }
}

/** For `IN (`, `VALUES (` or `ARRAY[` at `i` followed by plain values only, the index past the closing bracket, else -1. */
function valueListAt(t: Tokens, i: number): number {
  if (t.kind[i] !== WORD) return -1;
  const start = t.start[i]!;
  const end = t.end[i]!;
  if (wordIs(t.src, start, end, 'in') || wordIs(t.src, start, end, 'values')) return isChar(t, i + 1, PUNCT, 40) ? valueListEnd(t, i + 1, 41) : -1;
  if (wordIs(t.src, start, end, 'array')) return isChar(t, i + 1, PUNCT, 91) ? valueListEnd(t, i + 1, 93) : -1;
  return -1;
}

const HEX_DIGITS = Array.from('0123456789abcdef', (ch) => ch.charCodeAt(0));
const hexDigit = (h: number, shift: number): number => HEX_DIGITS[(h >>> shift) & 15]!;

/** Two 32-bit words as 16 hex digits, made as one string (toString(16) and padStart make four). */
function hex64(h1: number, h2: number): string {
  return String.fromCharCode(
    hexDigit(h1, 28), hexDigit(h1, 24), hexDigit(h1, 20), hexDigit(h1, 16), hexDigit(h1, 12), hexDigit(h1, 8), hexDigit(h1, 4), hexDigit(h1, 0),
    hexDigit(h2, 28), hexDigit(h2, 24), hexDigit(h2, 20), hexDigit(h2, 16), hexDigit(h2, 12), hexDigit(h2, 8), hexDigit(h2, 4), hexDigit(h2, 0),
  );
}

/** `$1`, `$2`, …, each made once. */
const placeholders: string[] = [];
const placeholder = (n: number): string => (placeholders[n] ??= `$${n}`);

/**
 * Writes a shape's display text and fingerprint in one pass over the tokens. The display text is
 * copied from the source in runs (a run grows while tokens follow each other with nothing or a
 * single space between), so a statement costs a few slices rather than a string per token. The
 * key the fingerprint is hashed from (case-folded tokens joined by spaces) is hashed as it is
 * written, never built: 64 bits of two independent 32-bit multiplicative hashes (cyrb53's mixing).
 * A fingerprint only has to tell shapes apart, not resist an attacker, and creating a crypto Hash
 * cost a microsecond on every cache miss.
 */
class ShapeWriter {
  private src = '';
  private text = '';
  private runFrom = 0;
  /** End of the run being copied from `src`, or -1 when none is open. */
  private runTo = -1;
  private empty = true;
  /** The display text's length, kept in both modes: past MAX_NORMALIZED_LENGTH the key is marked as cut. */
  private length = 0;
  /** Only the fingerprint is wanted: the display text is measured, not built. */
  private keyOnly = false;
  private h1 = 0;
  private h2 = 0;
  /** The next placeholder number, and the numbers given to the statement's own `$n` parameters. */
  private nextNumber = 1;
  private readonly params = new Map<string, number>();

  begin(src: string, keyOnly: boolean): void {
    this.src = src;
    this.text = '';
    this.keyOnly = keyOnly;
    this.length = 0;
    this.runTo = -1;
    this.empty = true;
    this.h1 = 0xdeadbeef;
    this.h2 = 0x41c6ce57;
    this.nextNumber = 1;
    // Map#clear allocates a new table even when the map is empty.
    if (this.params.size > 0) this.params.clear();
  }

  token(t: Tokens, i: number): void {
    const k = t.kind[i];
    const gap = t.gap[i]!;
    if (k === LITERAL) this.placeholder(this.nextNumber++, gap);
    else if (k === PARAM) {
      const name = textOf(t, i);
      let n = this.params.get(name);
      if (n === undefined) {
        n = this.nextNumber++;
        this.params.set(name, n);
      }
      this.placeholder(n, gap);
    } else if (k === LIST) this.list(gap);
    else this.copy(t.start[i]!, t.end[i]!, gap, k === WORD);
  }

  /** A collapsed list: one placeholder plus PostgreSQL 18's squashed-list marker, which only shows. */
  list(gap: boolean): void {
    this.placeholder(this.nextNumber++, gap);
    this.marker();
  }

  /** The squashed-list marker alone (after a first VALUES row): one row or many, same shape. */
  marker(): void {
    this.append(' /*, ... */');
  }

  /** The normalized text ('' in key-only mode) and fingerprint; the text is cut (and the key marked) when `truncated` or too long. */
  finish(truncated: boolean): { normalized: string; fingerprint: string } {
    this.flush();
    let normalized = this.text;
    if (truncated || this.length > MAX_NORMALIZED_LENGTH) {
      if (!this.keyOnly) normalized = `${normalized.slice(0, MAX_NORMALIZED_LENGTH - 2)} …`;
      this.keyPiece('…', 0, 1, false);
    }
    // Drop the reference, so a huge statement is not kept until the next miss.
    this.src = '';
    this.text = '';
    const h1 = Math.imul(this.h1 ^ (this.h1 >>> 16), 2246822507) ^ Math.imul(this.h2 ^ (this.h2 >>> 13), 3266489909);
    const h2 = Math.imul(this.h2 ^ (this.h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
    return { normalized, fingerprint: hex64(h1, h2) };
  }

  private placeholder(n: number, gap: boolean): void {
    const piece = placeholder(n);
    if (gap && !this.empty) this.append(' ');
    this.append(piece);
    this.keyPiece(piece, 0, piece.length, false);
  }

  /** A token shown as written: extends the open run when the source has exactly what the display needs between them. */
  private copy(from: number, to: number, gap: boolean, fold: boolean): void {
    const runTo = this.runTo;
    if (runTo !== -1 && (gap ? from === runTo + 1 && this.src.charCodeAt(runTo) === 32 : from === runTo)) this.runTo = to;
    else {
      if (gap && !this.empty) this.append(' ');
      else this.flush();
      this.runFrom = from;
      this.runTo = to;
    }
    this.keyPiece(this.src, from, to, fold);
  }

  /** Closes the open run, then adds `piece` to the display text. */
  private append(piece: string): void {
    this.flush();
    this.length += piece.length;
    if (!this.keyOnly) this.text += piece;
  }

  private flush(): void {
    if (this.runTo === -1) return;
    this.length += this.runTo - this.runFrom;
    if (!this.keyOnly) this.text += this.src.slice(this.runFrom, this.runTo);
    this.runTo = -1;
  }

  /** Hashes `s[from, to)` into the key after a separating space; `fold` lower-cases it, as toLowerCase would. */
  private keyPiece(s: string, from: number, to: number, fold: boolean): void {
    let h1 = this.h1;
    let h2 = this.h2;
    if (!this.empty) {
      h1 = Math.imul(h1 ^ 32, 2654435761);
      h2 = Math.imul(h2 ^ 32, 1597334677);
    }
    for (let i = from; i < to; i++) {
      let c = s.charCodeAt(i);
      if (fold && c >= 128) {
        const lower = s.slice(from, to).toLowerCase();
        this.keyPiece(lower, 0, lower.length, false);
        return;
      }
      if (fold && c >= 65 && c <= 90) c += 32;
      h1 = Math.imul(h1 ^ c, 2654435761);
      h2 = Math.imul(h2 ^ c, 1597334677);
    }
    this.h1 = h1;
    this.h2 = h2;
    this.empty = false;
  }
}

const writer = new ShapeWriter();

/**
 * The normalized text and fingerprint, with placeholders numbered in order of appearance and
 * `IN (v, v, …)`, `ARRAY[v, v, …]` and `VALUES (…), (…)` of plain values collapsed, so list
 * lengths do not make new shapes.
 */
export function render(t: Tokens, truncated: boolean, keyOnly = false): { normalized: string; fingerprint: string } {
  writer.begin(t.src, keyOnly);
  let i = 0;
  while (i < t.count) {
    const listEnd = valueListAt(t, i);
    if (listEnd === -1) {
      writer.token(t, i);
      i++;
    } else if (isWord(t, i, 'values')) {
      // Keep the first row; drop the rows after it that hold plain values in the same number.
      for (let j = i; j < listEnd; j++) writer.token(t, j);
      let end = listEnd;
      while (isChar(t, end, PUNCT, 44) && isChar(t, end + 1, PUNCT, 40)) {
        const rowEnd = valueListEnd(t, end + 1, 41);
        if (rowEnd === -1 || rowEnd - end !== listEnd - i) break;
        end = rowEnd;
      }
      if (end !== listEnd) writer.marker();
      i = end;
    } else {
      writer.token(t, i);
      writer.token(t, i + 1);
      // A single value stays as it is; it has the same key as a collapsed list.
      if (listEnd - i === 4) writer.token(t, i + 2);
      else writer.list(t.gap[i + 2]!);
      writer.token(t, listEnd - 1);
      i = listEnd;
    }
  }
  return writer.finish(truncated);
}
