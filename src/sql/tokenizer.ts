// The scanner: SQL text into a token list, literals told apart the way PostgreSQL's lexer tells them.
import * as lexical from './lexical.js';
import * as tokens from './tokens.js';
import type { Tokens } from './tokens.js';

// Local names: called through the import binding in per-character loops, these cost more (see lexical.ts).
const { MAX_SCANNED_LENGTH, isDigit, isIdentPart, isIdentStart } = lexical;
const { WORD, QUOTED, LITERAL, PARAM, PUNCT, OP, LIST, push, lowerText, wordIs, isWord, isChar } = tokens;

const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);
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
export function tokenize(t: Tokens, sql: string): Tokens {
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
