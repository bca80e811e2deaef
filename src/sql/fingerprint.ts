// SQL shapes for telemetry: literals replaced by placeholders, a stable fingerprint, the operation and table, cached by raw text.
import { TextKeys } from './literal-blind-key.js';
import * as lexical from './lexical.js';

export interface QueryShape {
  /** 16 hex digits; equal for texts that differ only in literals, comments, whitespace, keyword case or list lengths. */
  readonly fingerprint: string;
  /** The text with every literal replaced by a `$n` placeholder; at most MAX_NORMALIZED_LENGTH characters. */
  readonly normalized: string;
  /** The statement's first keyword, upper-cased (the main statement's for a WITH query when it can be found). */
  readonly operation: string | undefined;
  /** The single table the statement targets, as written (schema prefix included), when the statement is simple. */
  readonly collection: string | undefined;
  /** `{operation} {collection}` as far as they are known ('' when neither is): a low-cardinality key and span name. */
  readonly summary: string;
}

/** Normalized text longer than this is cut (with a trailing "…"), so a huge statement never lands in telemetry. */
export const MAX_NORMALIZED_LENGTH = 2048;
/**
 * Longer texts skip the parser and are normalized by the scanner alone (which replaces every
 * literal it finds too): parse time grows faster than length (about 1 ms for 5 KB with 800
 * literals) and is paid on every cache miss.
 */
const MAX_PARSED_LENGTH = 2048;
/** V8 hashes longer strings by their length alone, which would turn the cache's Map into collision chains. */
const MAX_CACHED_LENGTH = 16383;

interface SqlParser {
  normalizeSync(sql: string): string;
}

let parser: SqlParser | undefined;
let loading: Promise<boolean> | undefined;
/** Bumped when the parser arrives, so caches drop shapes computed by the fallback. */
let parserGeneration = 0;

/**
 * Loads libpg-query's WASM build of PostgreSQL's parser once. Resolves false (and the scanner
 * alone is used) when it cannot be loaded; never rejects.
 */
export function loadSqlParser(): Promise<boolean> {
  loading ??= import('libpg-query')
    .then(async (module) => {
      await module.loadModule();
      parser = module;
      parserGeneration++;
      return true;
    })
    .catch(() => false);
  return loading;
}

export function sqlParserLoaded(): boolean {
  return parser !== undefined;
}

// Token kinds. Literals and placeholders are kept apart until numbering, so lists can be collapsed first.
const WORD = 0;
const QUOTED = 1;
const LITERAL = 2;
const PARAM = 3;
const PUNCT = 4;
const OP = 5;
/** A list of literals/placeholders the scanner skipped: rendered as one placeholder plus a marker. */
const LIST = 6;
/** The kind read before the first or past the last token. */
const NONE = -1;

/**
 * Tokens as positions in the text they were read from: a token's text is only sliced out when
 * something needs it (a literal's never is). Two lists are reused by every call (the module is
 * single-threaded), so a cache miss allocates no arrays; entries past `count` are stale.
 */
interface Tokens {
  src: string;
  count: number;
  kind: number[];
  start: number[];
  end: number[];
  /** Whitespace or a comment came before the token in the original text. */
  gap: boolean[];
  /** Whitespace or a comment was skipped since the last token. */
  gapPending: boolean;
  /** Scanning stopped at MAX_SCANNED_LENGTH. */
  truncated: boolean;
}

const newTokens = (): Tokens => ({ src: '', count: 0, kind: [], start: [], end: [], gap: [], gapPending: false, truncated: false });
const scannedTokens = newTokens();
const parserTokens = newTokens();

function push(t: Tokens, kind: number, start: number, end: number): void {
  const n = t.count++;
  t.kind[n] = kind;
  t.start[n] = start;
  t.end[n] = end;
  t.gap[n] = t.gapPending;
  t.gapPending = false;
}

const kindAt = (t: Tokens, i: number): number => (i >= 0 && i < t.count ? t.kind[i]! : NONE);
const textOf = (t: Tokens, i: number): string => t.src.slice(t.start[i], t.end[i]);
const lowerText = (t: Tokens, i: number): string => textOf(t, i).toLowerCase();

/**
 * `src.slice(start, end).toLowerCase() === word` for a lower-case ASCII `word`, without the copies.
 * Some non-ASCII characters lower-case into ASCII (the Kelvin sign into 'k'), so a text holding one
 * takes the exact (allocating) comparison; none changes length into an all-ASCII result.
 */
function wordIs(src: string, start: number, end: number, word: string): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) {
    const c = src.charCodeAt(start + i);
    if (c >= 128) return src.slice(start, end).toLowerCase() === word;
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== word.charCodeAt(i)) return false;
  }
  return true;
}

const isWord = (t: Tokens, i: number, word: string): boolean => kindAt(t, i) === WORD && wordIs(t.src, t.start[i]!, t.end[i]!, word);
/** The token at `i` is the single character `code` of the given kind (`(`, `,`, `-` …). */
const isChar = (t: Tokens, i: number, kind: number, code: number): boolean =>
  kindAt(t, i) === kind && t.end[i]! - t.start[i]! === 1 && t.src.charCodeAt(t.start[i]!) === code;

const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);
// Local names for the shared classes (see sql-lexical.ts).
const { MAX_SCANNED_LENGTH, isDigit, isIdentPart, isIdentStart } = lexical;
/** Operator characters by char code: a table, since most characters of a statement are tested. */
const OPERATOR_CHARS = new Uint8Array(128);
for (const ch of '+-*/<>=~!@#%^&|`?') OPERATOR_CHARS[ch.charCodeAt(0)] = 1;
const isOperator = (c: number): boolean => c < 128 && OPERATOR_CHARS[c] === 1;

/** Keywords after which a '-' is a sign, not a subtraction. */
const SIGN_CONTEXT_WORDS = new Set(['select', 'where', 'and', 'or', 'not', 'when', 'then', 'else', 'between', 'limit', 'offset', 'return', 'having', 'on', 'by', 'values', 'set']);
/** Words that are literals unless they follow IS / IS NOT (a boolean test, not a constant). */
const isLiteralWord = (src: string, start: number, end: number): boolean =>
  wordIs(src, start, end, 'null') || wordIs(src, start, end, 'true') || wordIs(src, start, end, 'false');

/** End of a quoted run starting at `start` (the opening quote); doubled quotes escape; `backslash` for E'' strings. */
function skipQuoted(sql: string, start: number, end: number, quote: number, backslash: boolean): number {
  if (!backslash) {
    // indexOf is much faster than a character loop over a long literal.
    const mark = quote === 39 ? "'" : '"';
    let i = start + 1;
    for (;;) {
      const close = sql.indexOf(mark, i);
      if (close === -1 || close >= end) return end;
      if (sql.charCodeAt(close + 1) !== quote) return close + 1;
      i = close + 2;
    }
  }
  let i = start + 1;
  while (i < end) {
    const c = sql.charCodeAt(i);
    if (c === 92) {
      i += 2;
      continue;
    }
    if (c === quote) {
      if (sql.charCodeAt(i + 1) === quote) {
        i += 2;
        continue;
      }
      return i + 1;
    }
    i++;
  }
  return end;
}

/** A dollar-quote tag (`$$` or `$tag$`) starting at `start`, or undefined when `$` starts something else. */
function dollarTag(sql: string, start: number, end: number): string | undefined {
  let i = start + 1;
  if (i < end && isIdentStart(sql.charCodeAt(i))) {
    i++;
    while (i < end && (isIdentStart(sql.charCodeAt(i)) || isDigit(sql.charCodeAt(i)))) i++;
  }
  return i < end && sql.charCodeAt(i) === 36 ? sql.slice(start, i + 1) : undefined;
}

function skipNumber(sql: string, start: number, end: number): number {
  let i = start;
  const next = sql.charCodeAt(i + 1) | 32;
  if (sql.charCodeAt(i) === 48 && (next === 120 || next === 111 || next === 98)) {
    // 0x1F, 0o17, 0b101 (PostgreSQL 16+)
    i += 2;
    while (i < end && (isIdentPart(sql.charCodeAt(i)) && sql.charCodeAt(i) !== 36)) i++;
    return i;
  }
  while (i < end && (isDigit(sql.charCodeAt(i)) || sql.charCodeAt(i) === 95)) i++;
  if (sql.charCodeAt(i) === 46 && sql.charCodeAt(i + 1) !== 46) {
    i++;
    while (i < end && (isDigit(sql.charCodeAt(i)) || sql.charCodeAt(i) === 95)) i++;
  }
  if ((sql.charCodeAt(i) | 32) === 101) {
    let j = i + 1;
    if (sql.charCodeAt(j) === 43 || sql.charCodeAt(j) === 45) j++;
    if (isDigit(sql.charCodeAt(j))) {
      i = j;
      while (i < end && isDigit(sql.charCodeAt(i))) i++;
    }
  }
  return i;
}

/**
 * The index just past a list of two or more plain values (numbers, strings, placeholders) that
 * starts after an `IN (` or `ARRAY[`, or -1. It makes no tokens, so an IN list of thousands of
 * ids costs a quick pass instead of thousands of tokens; anything unusual (-1) takes the normal path.
 */
function skipValueList(sql: string, start: number, close: number): number {
  const n = sql.length;
  let i = start;
  let count = 0;
  for (;;) {
    while (i < n && isSpace(sql.charCodeAt(i))) i++;
    let c = sql.charCodeAt(i);
    if (c === 45 || c === 43) c = sql.charCodeAt(++i);
    if (isDigit(c) || (c === 46 && isDigit(sql.charCodeAt(i + 1)))) i = skipNumber(sql, i, n);
    else if (c === 36 && isDigit(sql.charCodeAt(i + 1))) {
      i++;
      while (i < n && isDigit(sql.charCodeAt(i))) i++;
    } else if (c === 39) i = skipQuoted(sql, i, n, 39, false);
    else if ((c | 32) === 101 && sql.charCodeAt(i + 1) === 39) i = skipQuoted(sql, i + 1, n, 39, true);
    else return -1;
    count++;
    while (i < n && isSpace(sql.charCodeAt(i))) i++;
    c = sql.charCodeAt(i);
    if (c === close) return count > 1 ? i + 1 : -1;
    if (c !== 44) return -1;
    i++;
  }
}

/**
 * Splits SQL into `t`, dropping whitespace and comments; an unterminated literal or comment runs
 * to the end. Stops (truncated) once MAX_SCANNED_LENGTH characters outside value lists were read.
 */
function tokenize(t: Tokens, sql: string): Tokens {
  const end = sql.length;
  t.src = sql;
  t.count = 0;
  t.gapPending = false;
  t.truncated = false;
  let i = 0;
  let inLists = 0;
  while (i < end) {
    if (i - inLists > MAX_SCANNED_LENGTH) {
      t.truncated = true;
      return t;
    }
    const c = sql.charCodeAt(i);
    const next = sql.charCodeAt(i + 1);
    if ((c === 40 || c === 91) && isWord(t, t.count - 1, c === 40 ? 'in' : 'array')) {
      const listEnd = skipValueList(sql, i + 1, c === 40 ? 41 : 93);
      if (listEnd !== -1) {
        push(t, PUNCT, i, i + 1);
        push(t, LIST, i + 1, listEnd - 1);
        push(t, PUNCT, listEnd - 1, listEnd);
        inLists += listEnd - i;
        i = listEnd;
        continue;
      }
    }
    if (isSpace(c)) {
      i++;
      t.gapPending = true;
    } else if (c === 45 && next === 45) {
      const newline = sql.indexOf('\n', i);
      i = newline === -1 || newline > end ? end : newline + 1;
      t.gapPending = true;
    } else if (c === 47 && next === 42) {
      // Block comments nest in PostgreSQL.
      let depth = 1;
      i += 2;
      while (i < end && depth > 0) {
        if (sql.charCodeAt(i) === 47 && sql.charCodeAt(i + 1) === 42) {
          depth++;
          i += 2;
        } else if (sql.charCodeAt(i) === 42 && sql.charCodeAt(i + 1) === 47) {
          depth--;
          i += 2;
        } else i++;
      }
      t.gapPending = true;
    } else if (c === 39) {
      const close = skipQuoted(sql, i, end, 39, false);
      push(t, LITERAL, i, close);
      i = close;
    } else if (c === 34) {
      const close = skipQuoted(sql, i, end, 34, false);
      push(t, QUOTED, i, close);
      i = close;
    } else if (c === 36) {
      if (isDigit(next)) {
        let j = i + 1;
        while (j < end && isDigit(sql.charCodeAt(j))) j++;
        push(t, PARAM, i + 1, j);
        i = j;
        continue;
      }
      const tag = dollarTag(sql, i, end);
      if (tag === undefined) {
        push(t, PUNCT, i, i + 1);
        i++;
        continue;
      }
      const close = sql.indexOf(tag, i + tag.length);
      const after = close === -1 || close + tag.length > end ? end : close + tag.length;
      push(t, LITERAL, i, after);
      i = after;
    } else if (isDigit(c) || (c === 46 && isDigit(next))) {
      const start = i;
      i = skipNumber(sql, i, end);
      const last = t.count - 1;
      // Fold a sign into the number when the '-' cannot be a subtraction, as the parser does
      // (whitespace between them included).
      if (isChar(t, last, OP, 45) && signContext(t, last - 1)) t.kind[last] = LITERAL;
      else push(t, LITERAL, start, i);
    } else if (isIdentStart(c)) {
      let j = i + 1;
      while (j < end && isIdentPart(sql.charCodeAt(j))) j++;
      const quote = sql.charCodeAt(j);
      // A one-letter word, lower-cased, may prefix a string (E'', B'', X'', N'', U&'').
      const letter = j - i === 1 ? c | 32 : 0;
      if (quote === 39 && (letter === 101 || letter === 98 || letter === 120 || letter === 110)) {
        const close = skipQuoted(sql, j, end, 39, letter === 101);
        push(t, LITERAL, i, close);
        i = close;
      } else if (letter === 117 && quote === 38 && (sql.charCodeAt(j + 1) === 39 || sql.charCodeAt(j + 1) === 34)) {
        const q = sql.charCodeAt(j + 1);
        const close = skipQuoted(sql, j + 1, end, q, false);
        push(t, q === 39 ? LITERAL : QUOTED, i, close);
        i = close;
      } else {
        push(t, isLiteralWord(sql, i, j) && !afterIs(t) ? LITERAL : WORD, i, j);
        i = j;
      }
    } else if (c === 58 && next === 58) {
      push(t, PUNCT, i, i + 2);
      i += 2;
    } else if (isOperator(c)) {
      let j = i + 1;
      while (j < end && isOperator(sql.charCodeAt(j))) {
        const d = sql.charCodeAt(j);
        const e = sql.charCodeAt(j + 1);
        if ((d === 45 && e === 45) || (d === 47 && e === 42)) break;
        j++;
      }
      push(t, OP, i, j);
      i = j;
    } else {
      push(t, PUNCT, i, i + 1);
      i++;
    }
  }
  return t;
}

function signContext(t: Tokens, prev: number): boolean {
  if (prev < 0) return true;
  const k = t.kind[prev];
  if (k === OP) return true;
  if (k === PUNCT) return isChar(t, prev, PUNCT, 40) || isChar(t, prev, PUNCT, 44) || isChar(t, prev, PUNCT, 91);
  return k === WORD && SIGN_CONTEXT_WORDS.has(lowerText(t, prev));
}

/** The last token is IS or IS NOT, or NOT (NOT NULL in a column definition is a constraint, not a value). */
function afterIs(t: Tokens): boolean {
  const last = t.count - 1;
  return isWord(t, last, 'not') || isWord(t, last, 'is');
}

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
function render(t: Tokens, truncated: boolean, keyOnly = false): { normalized: string; fingerprint: string } {
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

/** The index of the first token of the statement a WITH query leads to, or -1. */
function mainStatementAfterWith(t: Tokens): number {
  let depth = 0;
  let closedAtTop = false;
  for (let i = 1; i < t.count; i++) {
    if (t.kind[i] === PUNCT) {
      if (isChar(t, i, PUNCT, 40)) depth++;
      else if (isChar(t, i, PUNCT, 41)) {
        depth--;
        if (depth === 0) closedAtTop = true;
      }
      continue;
    }
    if (depth === 0 && closedAtTop && t.kind[i] === WORD && STATEMENT_WORDS.has(lowerText(t, i))) return i;
  }
  return -1;
}

const STATEMENT_WORDS = new Set(['select', 'insert', 'update', 'delete', 'merge', 'values', 'table']);
const JOIN_WORDS = new Set(['join', 'cross', 'natural', 'left', 'right', 'full', 'inner', 'lateral', 'union', 'intersect', 'except']);
const FROM_LIST_END = new Set(['where', 'group', 'having', 'window', 'order', 'limit', 'offset', 'fetch', 'for', 'returning']);

/** A possibly qualified table name starting at `i`: `name`, `schema.name`, quoted parts kept as written. */
function tableName(t: Tokens, i: number, columnList = false): { name: string; next: number } | undefined {
  if (isWord(t, i, 'only')) i++;
  const parts: string[] = [];
  while (kindAt(t, i) === WORD || kindAt(t, i) === QUOTED) {
    parts.push(textOf(t, i));
    i++;
    if (!isChar(t, i, PUNCT, 46)) break;
    i++;
  }
  if (parts.length === 0) return undefined;
  // A function in FROM (generate_series(…)) is not a table.
  if (!columnList && isChar(t, i, PUNCT, 40)) return undefined;
  return { name: parts.join('.'), next: i };
}

/**
 * True when the top level from `from` on has no join, set operation, second table source or
 * second statement; `fromList` says a comma there would list a second table (SELECT's FROM);
 * `until` ends the scan successfully at that top-level word.
 */
function simpleRest(t: Tokens, from: number, fromList: boolean, until?: string): boolean {
  let depth = 0;
  let inFromList = fromList;
  for (let i = from; i < t.count; i++) {
    if (t.kind[i] === PUNCT) {
      if (isChar(t, i, PUNCT, 40) || isChar(t, i, PUNCT, 91)) depth++;
      else if (isChar(t, i, PUNCT, 41) || isChar(t, i, PUNCT, 93)) depth--;
      else if (depth === 0 && isChar(t, i, PUNCT, 59)) return i === t.count - 1;
      else if (depth === 0 && isChar(t, i, PUNCT, 44) && inFromList) return false;
      continue;
    }
    if (depth !== 0 || t.kind[i] !== WORD) continue;
    const word = lowerText(t, i);
    if (word === until) return true;
    if (JOIN_WORDS.has(word)) return false;
    if (word === 'from' || word === 'using') return false;
    if (FROM_LIST_END.has(word)) inFromList = false;
  }
  return true;
}

/** The usual statements' first words, and their operations: describing one allocates no strings. */
const COMMON_WORDS = ['select', 'insert', 'update', 'delete', 'with', 'begin', 'commit', 'rollback'];
const COMMON_OPERATIONS = COMMON_WORDS.map((word) => word.toUpperCase());

/** The statement's operation, upper-cased as `toUpperCase` of the lower-cased word would. */
function operationOf(t: Tokens, i: number): string {
  for (let k = 0; k < COMMON_WORDS.length; k++) if (isWord(t, i, COMMON_WORDS[k]!)) return COMMON_OPERATIONS[k]!;
  return lowerText(t, i).toUpperCase();
}

function describe(t: Tokens): { operation: string | undefined; collection: string | undefined } {
  let start = 0;
  while (isChar(t, start, PUNCT, 40)) start++;
  if (kindAt(t, start) !== WORD) return { operation: undefined, collection: undefined };
  if (isWord(t, start, 'with')) {
    const main = mainStatementAfterWith(t);
    return { operation: main === -1 ? 'WITH' : operationOf(t, main), collection: undefined };
  }
  const operation = operationOf(t, start);
  let target: { name: string; next: number } | undefined;
  if (isWord(t, start, 'insert') && isWord(t, start + 1, 'into')) {
    target = tableName(t, start + 2, true);
    // INSERT … SELECT … FROM other reads a second table, but the one written to is still the target.
    return { operation, collection: target && !hasSecondStatement(t, target.next) ? target.name : undefined };
  }
  if (isWord(t, start, 'update')) target = tableName(t, start + 1);
  else if (isWord(t, start, 'delete') && isWord(t, start + 1, 'from')) target = tableName(t, start + 2);
  else if (isWord(t, start, 'select')) {
    const from = topLevelWord(t, start + 1, 'from');
    // A set operation before FROM (SELECT 1 UNION SELECT … FROM t) makes it more than one table's read.
    target = from !== -1 && simpleRest(t, start + 1, false, 'from') ? tableName(t, from + 1) : undefined;
    return { operation, collection: target && simpleRest(t, target.next, true) ? target.name : undefined };
  }
  return { operation, collection: target && simpleRest(t, target.next, false) ? target.name : undefined };
}

function hasSecondStatement(t: Tokens, from: number): boolean {
  let depth = 0;
  for (let i = from; i < t.count; i++) {
    if (t.kind[i] !== PUNCT) continue;
    if (isChar(t, i, PUNCT, 40)) depth++;
    else if (isChar(t, i, PUNCT, 41)) depth--;
    else if (isChar(t, i, PUNCT, 59) && depth === 0 && i < t.count - 1) return true;
  }
  return false;
}

/** The first top-level occurrence of `word` from `i`, or -1. */
function topLevelWord(t: Tokens, i: number, word: string): number {
  let depth = 0;
  for (; i < t.count; i++) {
    if (t.kind[i] === PUNCT) {
      if (isChar(t, i, PUNCT, 40)) depth++;
      else if (isChar(t, i, PUNCT, 41)) depth--;
      continue;
    }
    if (depth === 0 && isWord(t, i, word)) return i;
  }
  return -1;
}

/** True when both token lists have the same words and quoted identifiers in the same order. */
function sameWords(a: Tokens, b: Tokens): boolean {
  let i = 0;
  let j = 0;
  for (;;) {
    while (i < a.count && a.kind[i] !== WORD && a.kind[i] !== QUOTED) i++;
    while (j < b.count && b.kind[j] !== WORD && b.kind[j] !== QUOTED) j++;
    if (i === a.count || j === b.count) return i === a.count && j === b.count;
    if (a.kind[i] !== b.kind[j] || lowerText(a, i) !== lowerText(b, j)) return false;
    i++;
    j++;
  }
}

/** The parser's normalization, tokenized, or undefined when it cannot be trusted. */
function parsedTokens(sql: string, scanned: Tokens): Tokens | undefined {
  if (!parser || sql.length > MAX_PARSED_LENGTH) return undefined;
  let normalized: string;
  try {
    normalized = parser.normalizeSync(sql);
  } catch {
    return undefined;
  }
  // libpg-query 18.1.5 returns some errors as if they were the result ("unterminated quoted string
  // at or near "'secret…""), quoting the input. A true normalization only replaces constants, so it
  // keeps every word of the original; anything else is discarded.
  const tokens = tokenize(parserTokens, normalized);
  return sameWords(tokens, scanned) ? tokens : undefined;
}

/** PostgreSQL's own literal detection when it is trustworthy; the scanner's otherwise. */
function tokensOf(sql: string): { tokens: Tokens; truncated: boolean } {
  const scanned = tokenize(scannedTokens, sql);
  // Either way the scanner's rendering replaces any constant the parser kept (typmods, ORDER BY positions).
  return { tokens: parsedTokens(sql, scanned) ?? scanned, truncated: scanned.truncated };
}

/** Drops the token lists' references, so a huge statement is not kept until the next miss. */
function releaseTokens(): void {
  scannedTokens.src = parserTokens.src = '';
}

/**
 * A copy that shares no memory with the text it was cut from. V8 keeps a slice, and a string built
 * from slices, pointing into the whole source: a shape kept for a 1 MB statement would keep all of it.
 * Flattening `' ' + s` copies the characters; its slice points only into that copy.
 */
function detached(s: string | undefined): string | undefined {
  return s === undefined || s.length < 13 ? s : (' ' + s).slice(1);
}

function shapeOfTokens(sql: string, tokens: Tokens, truncated: boolean): QueryShape {
  const { normalized, fingerprint } = render(tokens, truncated);
  const described = describe(tokens);
  const operation = detached(described.operation);
  const collection = detached(described.collection);
  return {
    fingerprint,
    // A statement with nothing to replace (parameterized, as ORMs send them) keeps one copy of its text, not two.
    normalized: normalized === sql ? sql : detached(normalized)!,
    operation,
    collection,
    summary: operation ? (collection ? `${operation} ${collection}` : operation) : '',
  };
}

function computeShape(sql: string): QueryShape {
  const { tokens, truncated } = tokensOf(sql);
  const shape = shapeOfTokens(sql, tokens, truncated);
  releaseTokens();
  return shape;
}

/** Literals -> placeholders, comments and extra whitespace dropped, value lists collapsed, bounded length. */
export function normalizeSql(sql: string): string {
  return computeShape(sql).normalized;
}

/** What an entry's texts weigh against the budget: the raw text, and the normalized one when it is a copy of its own. */
function charsOf(sql: string, shape: QueryShape): number {
  return shape.normalized === sql ? sql.length : sql.length + shape.normalized.length;
}

/**
 * Shapes the text cache does not hold, found again by a key: a fingerprint, or a literal-blind key
 * (literal-blind-key.ts). First in, first out, bounded in entries and in the characters of the
 * normalized texts (counted per entry, shared or not).
 */
class ShapeIndex<K> {
  private readonly shapes = new Map<K, QueryShape>();
  private readonly ring: (K | undefined)[];
  private oldest = 0;
  private chars = 0;

  constructor(
    private readonly maxEntries: number,
    private readonly maxChars: number,
  ) {
    this.ring = new Array<K | undefined>(maxEntries);
  }

  get(key: K): QueryShape | undefined {
    return this.shapes.get(key);
  }

  set(key: K, shape: QueryShape): void {
    const chars = shape.normalized.length;
    if (chars > this.maxChars || this.shapes.has(key)) return;
    while (this.shapes.size > 0 && (this.shapes.size >= this.maxEntries || this.chars + chars > this.maxChars)) {
      const evicted = this.ring[this.oldest]!;
      this.ring[this.oldest] = undefined;
      this.oldest = (this.oldest + 1) % this.maxEntries;
      this.chars -= this.shapes.get(evicted)!.normalized.length;
      this.shapes.delete(evicted);
    }
    this.ring[(this.oldest + this.shapes.size) % this.maxEntries] = key;
    this.shapes.set(key, shape);
    this.chars += chars;
  }

  clear(): void {
    this.shapes.clear();
    this.ring.fill(undefined);
    this.oldest = 0;
    this.chars = 0;
  }
}

interface CacheEntry {
  readonly sql: string;
  readonly shape: QueryShape;
  /** Second-chance bit: set on a hit, so a hit costs one Map lookup and one store, never a reorder. */
  used: boolean;
}

/**
 * Shapes cached by raw SQL text.
 *
 * Admission: a text is cached the second time it is seen within a short window, not the first.
 * Applications that inline literals send a new text on nearly every call; caching those only
 * filled the cache with texts that never came back, and keeping each one alive until its eviction
 * pushed it into the old generation of the heap: on the benchmark's distinct-texts workload that
 * garbage collection cost about 4 µs per query, several times the work of computing the shape. The
 * window is a direct-mapped table of text hashes with at most half as many slots as the cache
 * (TinyLFU's "doorkeeper"), so it holds numbers, not strings; a text that recurs within about a
 * thousand other new texts is cached on its second call.
 *
 * Eviction: least recently used, approximated by the CLOCK (second-chance) scheme: a hit only
 * sets a bit; the clock hand sweeps a ring of the cached entries, clearing bits, and evicts the
 * first entry whose bit is clear. The ring, not the Map's insertion order, is the queue: deleting
 * from the front of a Map leaves holes that every later sweep from the front would have to skip.
 */
export class ShapeCache {
  private readonly entries = new Map<string, CacheEntry>();
  private ring: (CacheEntry | undefined)[] = [];
  /** Ring slots emptied by eviction, filled before the ring grows. */
  private freeSlots: number[] = [];
  private hand = 0;
  private readonly seen: Uint32Array;
  /**
   * For texts not cached: an application that inlines its literals sends a new text on nearly every
   * call, and a handful of shapes. As pg_stat_statements keeps the first text it saw for a query id,
   * the first text seen stands for its fingerprint: texts that differ only in keyword case or
   * spacing show one normalized text.
   */
  private readonly byFingerprint: ShapeIndex<string>;
  private readonly byLiteralBlindKey: ShapeIndex<number>;
  /** The keys of the text being looked up. */
  private readonly keys = new TextKeys();
  private generation = parserGeneration;
  private evicted = 0;
  private chars = 0;
  // Both built-in trackers ask for the same call's shape, one after the other: the second must get
  // it without a second lookup, which would count as a second sighting and admit every text.
  private lastCall: object | undefined;
  private lastShape: QueryShape | undefined;

  /**
   * `maxChars` bounds the characters of the cached texts and their normalized forms, so a few thousand
   * long statements cannot pin megabytes (5,000 entries: 800,000 characters, under 1 MB of text, room for
   * about 400 statements of 2 KiB, or thousands of typical ones).
   */
  constructor(
    private readonly maxEntries: number,
    private readonly maxChars = maxEntries * 160,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('ShapeCache needs at least one entry');
    let slots = 16;
    while (slots * 4 <= maxEntries) slots *= 2;
    this.seen = new Uint32Array(slots);
    const indexed = Math.max(1, Math.floor(maxEntries / 5));
    this.byFingerprint = new ShapeIndex(indexed, maxChars / 5);
    this.byLiteralBlindKey = new ShapeIndex(indexed, maxChars / 5);
  }

  get size(): number {
    return this.entries.size;
  }

  get evictions(): number {
    return this.evicted;
  }

  /** The shape of `sql`; `call` identifies the call it belongs to, so asking again for the same call costs nothing. */
  shape(sql: string, call?: object): QueryShape {
    if (this.generation !== parserGeneration) {
      this.entries.clear();
      this.ring = [];
      this.freeSlots = [];
      this.hand = 0;
      this.chars = 0;
      this.seen.fill(0);
      this.byFingerprint.clear();
      this.byLiteralBlindKey.clear();
      this.lastCall = this.lastShape = undefined;
      this.generation = parserGeneration;
    }
    if (call !== undefined && call === this.lastCall) {
      // Answered twice, forgotten: the memo must not keep the call (and its pool) alive.
      const shape = this.lastShape!;
      this.lastCall = this.lastShape = undefined;
      return shape;
    }
    const shape = this.lookup(sql);
    this.lastCall = call;
    this.lastShape = shape;
    return shape;
  }

  private lookup(sql: string): QueryShape {
    const hit = this.entries.get(sql);
    if (hit !== undefined) {
      hit.used = true;
      return hit.shape;
    }
    this.keys.read(sql);
    // With PostgreSQL's parser a literal can decide the shape (float(99) does not parse, and the scanner's
    // tokens are used instead; past MAX_PARSED_LENGTH the parser is not asked): no literal-blind key then.
    const shape = this.shapeOfNewText(sql, parser === undefined ? this.keys.literalBlind : undefined);
    const chars = charsOf(sql, shape);
    if (sql.length > MAX_CACHED_LENGTH || chars > this.maxChars || !this.seenBefore(this.keys.exact)) return shape;
    while (this.entries.size >= this.maxEntries || this.chars + chars > this.maxChars) this.evictOne();
    const entry: CacheEntry = { sql, shape, used: false };
    this.entries.set(sql, entry);
    this.chars += chars;
    const slot = this.freeSlots.pop();
    if (slot === undefined) this.ring.push(entry);
    else this.ring[slot] = entry;
    return shape;
  }

  /** A text's shape without scanning it when its literal-blind key is known, or without rendering it when its fingerprint is. */
  private shapeOfNewText(sql: string, key: number | undefined): QueryShape {
    let shape = key === undefined ? undefined : this.byLiteralBlindKey.get(key);
    if (shape !== undefined) return shape;
    const { tokens, truncated } = tokensOf(sql);
    const { fingerprint } = render(tokens, truncated, true);
    shape = this.byFingerprint.get(fingerprint);
    if (shape === undefined) {
      // A new shape's key is indexed when a second text of it comes: a statement built anew on every call
      // (a table per day, a generated column list) then fills one index, not two.
      shape = shapeOfTokens(sql, tokens, truncated);
      this.byFingerprint.set(fingerprint, shape);
    } else if (key !== undefined) this.byLiteralBlindKey.set(key, shape);
    releaseTokens();
    return shape;
  }

  /** True when the text (its exact hash `h`) was seen recently; otherwise remembers it (a zero slot is empty, so the tag is never 0). */
  private seenBefore(h: number): boolean {
    const slot = h & (this.seen.length - 1);
    const tag = (h >>> 8) | 1;
    if (this.seen[slot] === tag) return true;
    this.seen[slot] = tag;
    return false;
  }

  /** Advances the hand past the entry it evicts, so a new entry placed in the freed slot is the last to be considered. */
  private evictOne(): void {
    for (;;) {
      const at = this.hand;
      const entry = this.ring[at];
      this.hand = (at + 1) % this.ring.length;
      if (entry === undefined) continue;
      if (entry.used) {
        entry.used = false;
        continue;
      }
      this.ring[at] = undefined;
      this.freeSlots.push(at);
      this.entries.delete(entry.sql);
      this.chars -= charsOf(entry.sql, entry.shape);
      this.evicted++;
      return;
    }
  }
}

/** The process-wide cache the built-in trackers share, so each distinct text is parsed once. */
export const sharedShapes = new ShapeCache(5000);
