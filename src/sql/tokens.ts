// Token lists: the kinds of token, the reused arrays a text is read into, and the tests on a token the passes share.

// Token kinds. Literals and placeholders are kept apart until numbering, so lists can be collapsed first.
export const WORD = 0;
export const QUOTED = 1;
export const LITERAL = 2;
export const PARAM = 3;
export const PUNCT = 4;
export const OP = 5;
/** A list of literals/placeholders the scanner skipped: rendered as one placeholder plus a marker. */
export const LIST = 6;
/** The kind read before the first or past the last token. */
export const NONE = -1;

/**
 * Tokens as positions in the text they were read from: a token's text is only sliced out when
 * something needs it (a literal's never is). Two lists (shape.ts) are reused by every call (the
 * process is single-threaded), so a cache miss allocates no arrays; entries past `count` are stale.
 */
export interface Tokens {
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

export const newTokens = (): Tokens => ({ src: '', count: 0, kind: [], start: [], end: [], gap: [], gapPending: false, truncated: false });

export function push(t: Tokens, kind: number, start: number, end: number): void {
  const n = t.count++;
  t.kind[n] = kind;
  t.start[n] = start;
  t.end[n] = end;
  t.gap[n] = t.gapPending;
  t.gapPending = false;
}

export const kindAt = (t: Tokens, i: number): number => (i >= 0 && i < t.count ? t.kind[i]! : NONE);
export const textOf = (t: Tokens, i: number): string => t.src.slice(t.start[i], t.end[i]);
export const lowerText = (t: Tokens, i: number): string => textOf(t, i).toLowerCase();

/**
 * `src.slice(start, end).toLowerCase() === word` for a lower-case ASCII `word`, without the copies.
 * Some non-ASCII characters lower-case into ASCII (the Kelvin sign into 'k'), so a text holding one
 * takes the exact (allocating) comparison; none changes length into an all-ASCII result.
 */
export function wordIs(src: string, start: number, end: number, word: string): boolean {
  if (end - start !== word.length) return false;
  for (let i = 0; i < word.length; i++) {
    const c = src.charCodeAt(start + i);
    if (c >= 128) return src.slice(start, end).toLowerCase() === word;
    if ((c >= 65 && c <= 90 ? c + 32 : c) !== word.charCodeAt(i)) return false;
  }
  return true;
}

export const isWord = (t: Tokens, i: number, word: string): boolean => kindAt(t, i) === WORD && wordIs(t.src, t.start[i]!, t.end[i]!, word);
/** The token at `i` is the single character `code` of the given kind (`(`, `,`, `-` …). */
export const isChar = (t: Tokens, i: number, kind: number, code: number): boolean =>
  kindAt(t, i) === kind && t.end[i]! - t.start[i]! === 1 && t.src.charCodeAt(t.start[i]!) === code;
