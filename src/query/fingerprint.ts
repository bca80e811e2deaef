// SQL shapes for telemetry: literals replaced by placeholders, a stable fingerprint, the operation and table, cached by raw text.

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
 * Scanning stops after this many characters (not counting the inside of IN/ARRAY value lists,
 * which are skipped by a quick pass), so a miss stays cheap however large the statement; texts
 * that agree this far share a shape.
 */
export const MAX_SCANNED_LENGTH = 4096;
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
/** A collapsed list of literals/placeholders: emitted as one placeholder plus a marker. */
const LIST = 6;

interface Tokens {
  kind: number[];
  text: string[];
  /** Whitespace or a comment came before the token in the original text. */
  gap: boolean[];
}

const isSpace = (c: number): boolean => c === 32 || (c >= 9 && c <= 13);
const isDigit = (c: number): boolean => c >= 48 && c <= 57;
const isIdentStart = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128;
const isIdentPart = (c: number): boolean => isIdentStart(c) || isDigit(c) || c === 36;
const OPERATOR_CHARS = '+-*/<>=~!@#%^&|`?';
const isOperator = (c: number): boolean => OPERATOR_CHARS.includes(String.fromCharCode(c));

/** Keywords after which a '-' is a sign, not a subtraction. */
const SIGN_CONTEXT_WORDS = new Set(['select', 'where', 'and', 'or', 'not', 'when', 'then', 'else', 'between', 'limit', 'offset', 'return', 'having', 'on', 'by', 'values', 'set']);
/** Words that are literals unless they follow IS / IS NOT (a boolean test, not a constant). */
const LITERAL_WORDS = new Set(['true', 'false', 'null']);

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
 * Splits SQL into tokens, dropping whitespace and comments; an unterminated literal or comment
 * runs to the end. Stops (truncated) once MAX_SCANNED_LENGTH characters outside value lists were read.
 */
function tokenize(sql: string): { tokens: Tokens; truncated: boolean } {
  const end = sql.length;
  const kind: number[] = [];
  const text: string[] = [];
  const gap: boolean[] = [];
  let pendingGap = false;
  const push = (k: number, t: string): void => {
    kind.push(k);
    text.push(t);
    gap.push(pendingGap);
    pendingGap = false;
  };
  let i = 0;
  let inLists = 0;
  while (i < end) {
    if (i - inLists > MAX_SCANNED_LENGTH) return { tokens: { kind, text, gap }, truncated: true };
    const c = sql.charCodeAt(i);
    const next = sql.charCodeAt(i + 1);
    if ((c === 40 || c === 91) && kind[kind.length - 1] === WORD) {
      const word = text[text.length - 1]!.toLowerCase();
      const listEnd = word === (c === 40 ? 'in' : 'array') ? skipValueList(sql, i + 1, c === 40 ? 41 : 93) : -1;
      if (listEnd !== -1) {
        push(PUNCT, sql[i]!);
        push(LIST, '');
        push(PUNCT, c === 40 ? ')' : ']');
        inLists += listEnd - i;
        i = listEnd;
        continue;
      }
    }
    if (isSpace(c)) {
      i++;
      pendingGap = true;
    } else if (c === 45 && next === 45) {
      const newline = sql.indexOf('\n', i);
      i = newline === -1 || newline > end ? end : newline + 1;
      pendingGap = true;
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
      pendingGap = true;
    } else if (c === 39) {
      i = skipQuoted(sql, i, end, 39, false);
      push(LITERAL, '');
    } else if (c === 34) {
      const close = skipQuoted(sql, i, end, 34, false);
      push(QUOTED, sql.slice(i, close));
      i = close;
    } else if (c === 36) {
      if (isDigit(next)) {
        let j = i + 1;
        while (j < end && isDigit(sql.charCodeAt(j))) j++;
        push(PARAM, sql.slice(i + 1, j));
        i = j;
        continue;
      }
      const tag = dollarTag(sql, i, end);
      if (tag === undefined) {
        push(PUNCT, '$');
        i++;
        continue;
      }
      const close = sql.indexOf(tag, i + tag.length);
      i = close === -1 || close + tag.length > end ? end : close + tag.length;
      push(LITERAL, '');
    } else if (isDigit(c) || (c === 46 && isDigit(next))) {
      i = skipNumber(sql, i, end);
      const last = kind.length - 1;
      // Fold a sign into the number when the '-' cannot be a subtraction, as the parser does.
      if (last >= 0 && kind[last] === OP && text[last] === '-' && !gap[last + 1] && signContext(kind, text, last - 1)) {
        kind[last] = LITERAL;
        text[last] = '';
      } else push(LITERAL, '');
    } else if (isIdentStart(c)) {
      let j = i + 1;
      while (j < end && isIdentPart(sql.charCodeAt(j))) j++;
      const word = sql.slice(i, j);
      const lower = word.toLowerCase();
      const quote = sql.charCodeAt(j);
      if (quote === 39 && (lower === 'e' || lower === 'b' || lower === 'x' || lower === 'n')) {
        i = skipQuoted(sql, j, end, 39, lower === 'e');
        push(LITERAL, '');
      } else if (lower === 'u' && quote === 38 && (sql.charCodeAt(j + 1) === 39 || sql.charCodeAt(j + 1) === 34)) {
        const q = sql.charCodeAt(j + 1);
        const close = skipQuoted(sql, j + 1, end, q, false);
        if (q === 39) push(LITERAL, '');
        else push(QUOTED, sql.slice(i, close));
        i = close;
      } else if (LITERAL_WORDS.has(lower) && !afterIs(kind, text)) {
        push(LITERAL, '');
        i = j;
      } else {
        push(WORD, word);
        i = j;
      }
    } else if (c === 58 && next === 58) {
      push(PUNCT, '::');
      i += 2;
    } else if (isOperator(c)) {
      let j = i + 1;
      while (j < end && isOperator(sql.charCodeAt(j))) {
        const d = sql.charCodeAt(j);
        const e = sql.charCodeAt(j + 1);
        if ((d === 45 && e === 45) || (d === 47 && e === 42)) break;
        j++;
      }
      push(OP, sql.slice(i, j));
      i = j;
    } else {
      push(PUNCT, sql[i]!);
      i++;
    }
  }
  return { tokens: { kind, text, gap }, truncated: false };
}

function signContext(kind: number[], text: string[], prev: number): boolean {
  if (prev < 0) return true;
  const k = kind[prev];
  if (k === OP) return true;
  if (k === PUNCT) return text[prev] === '(' || text[prev] === ',' || text[prev] === '[';
  return k === WORD && SIGN_CONTEXT_WORDS.has(text[prev]!.toLowerCase());
}

function afterIs(kind: number[], text: string[]): boolean {
  let last = kind.length - 1;
  if (last >= 0 && kind[last] === WORD && text[last]!.toLowerCase() === 'not') last--;
  if (last >= 0 && kind[last] === WORD && text[last]!.toLowerCase() === 'is') return true;
  // NOT NULL in a column definition is a constraint, not a value.
  return kind.length > 0 && kind[kind.length - 1] === WORD && text[kind.length - 1]!.toLowerCase() === 'not';
}

const isValue = (k: number | undefined): boolean => k === LITERAL || k === PARAM;

/**
 * Index just past a parenthesised/bracketed run of values `( v , v , ... )` starting at `open`,
 * or -1 when the run holds anything else.
 */
function valueListEnd(t: Tokens, open: number, close: string): number {
  let i = open + 1;
  if (!isValue(t.kind[i])) return -1;
  for (;;) {
    i++;
    if (t.text[i] === close && t.kind[i] === PUNCT) return i + 1;
    if (t.text[i] !== ',' || t.kind[i] !== PUNCT || !isValue(t.kind[i + 1])) return -1;
    i++;
  }
}

/** Collapses `IN (v, v, …)`, `ARRAY[v, v, …]` and `VALUES (…), (…)` of plain values, so list lengths do not make new shapes. */
function collapseLists(t: Tokens): Tokens {
  const out: Tokens = { kind: [], text: [], gap: [] };
  const copy = (i: number): void => {
    out.kind.push(t.kind[i]!);
    out.text.push(t.text[i]!);
    out.gap.push(t.gap[i]!);
  };
  let i = 0;
  while (i < t.kind.length) {
    const word = t.kind[i] === WORD ? t.text[i]!.toLowerCase() : '';
    const opener = word === 'in' || word === 'values' ? '(' : word === 'array' ? '[' : '';
    const listEnd = opener && t.text[i + 1] === opener && t.kind[i + 1] === PUNCT ? valueListEnd(t, i + 1, opener === '(' ? ')' : ']') : -1;
    if (listEnd === -1) {
      copy(i);
      i++;
    } else if (word === 'values') {
      // Keep the first row; drop the rows after it that hold plain values in the same number.
      for (let j = i; j < listEnd; j++) copy(j);
      let end = listEnd;
      while (t.text[end] === ',' && t.text[end + 1] === '(' && t.kind[end + 1] === PUNCT) {
        const rowEnd = valueListEnd(t, end + 1, ')');
        if (rowEnd === -1 || rowEnd - end !== listEnd - i) break;
        end = rowEnd;
      }
      if (end !== listEnd) {
        out.kind.push(LIST);
        out.text.push('rows');
        out.gap.push(false);
      }
      i = end;
    } else {
      copy(i);
      copy(i + 1);
      // A single value stays as it is; it has the same key as a collapsed list.
      if (listEnd - i === 4) copy(i + 2);
      else {
        out.kind.push(LIST);
        out.text.push('');
        out.gap.push(t.gap[i + 2]!);
      }
      copy(listEnd - 1);
      i = listEnd;
    }
  }
  return out;
}

/** Display text and the case-folded key the fingerprint is hashed from, with placeholders numbered in order of appearance. */
function render(t: Tokens, truncated: boolean): { normalized: string; key: string } {
  const shown: string[] = [];
  const key: string[] = [];
  const numbers = new Map<string, number>();
  let next = 1;
  for (let i = 0; i < t.kind.length; i++) {
    const k = t.kind[i];
    let piece: string;
    let keyPiece: string;
    if (k === LITERAL) {
      piece = `$${next++}`;
      keyPiece = piece;
    } else if (k === PARAM) {
      let n = numbers.get(t.text[i]!);
      if (n === undefined) {
        n = next++;
        numbers.set(t.text[i]!, n);
      }
      piece = `$${n}`;
      keyPiece = piece;
    } else if (k === LIST) {
      // PostgreSQL 18's squashed-list marker, shown but left out of the key: one value or many, one row or many, same shape.
      if (t.text[i] === 'rows') {
        shown.push(' /*, ... */');
        continue;
      }
      keyPiece = `$${next++}`;
      piece = `${keyPiece} /*, ... */`;
    } else if (k === WORD) {
      piece = t.text[i]!;
      keyPiece = piece.toLowerCase();
    } else {
      piece = t.text[i]!;
      keyPiece = piece;
    }
    if (i > 0 && t.gap[i]) shown.push(' ');
    shown.push(piece);
    key.push(keyPiece);
  }
  let normalized = shown.join('');
  if (truncated || normalized.length > MAX_NORMALIZED_LENGTH) {
    normalized = `${normalized.slice(0, MAX_NORMALIZED_LENGTH - 2)} …`;
    key.push('…');
  }
  return { normalized, key: key.join(' ') };
}

/** The index of the first token of the statement a WITH query leads to, or -1. */
function mainStatementAfterWith(t: Tokens): number {
  let depth = 0;
  let closedAtTop = false;
  for (let i = 1; i < t.kind.length; i++) {
    const tx = t.text[i]!;
    if (t.kind[i] === PUNCT) {
      if (tx === '(') depth++;
      else if (tx === ')') {
        depth--;
        if (depth === 0) closedAtTop = true;
      }
      continue;
    }
    if (depth === 0 && closedAtTop && t.kind[i] === WORD && STATEMENT_WORDS.has(tx.toLowerCase())) return i;
  }
  return -1;
}

const STATEMENT_WORDS = new Set(['select', 'insert', 'update', 'delete', 'merge', 'values', 'table']);
const JOIN_WORDS = new Set(['join', 'cross', 'natural', 'left', 'right', 'full', 'inner', 'lateral', 'union', 'intersect', 'except']);
const FROM_LIST_END = new Set(['where', 'group', 'having', 'window', 'order', 'limit', 'offset', 'fetch', 'for', 'returning']);

/** A possibly qualified table name starting at `i`: `name`, `schema.name`, quoted parts kept as written. */
function tableName(t: Tokens, i: number, columnList = false): { name: string; next: number } | undefined {
  if (t.kind[i] === WORD && t.text[i]!.toLowerCase() === 'only') i++;
  const parts: string[] = [];
  while (t.kind[i] === WORD || t.kind[i] === QUOTED) {
    parts.push(t.text[i]!);
    i++;
    if (t.text[i] !== '.' || t.kind[i] !== PUNCT) break;
    i++;
  }
  if (parts.length === 0) return undefined;
  // A function in FROM (generate_series(…)) is not a table.
  if (!columnList && t.text[i] === '(' && t.kind[i] === PUNCT) return undefined;
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
  for (let i = from; i < t.kind.length; i++) {
    const tx = t.text[i]!;
    if (t.kind[i] === PUNCT) {
      if (tx === '(' || tx === '[') depth++;
      else if (tx === ')' || tx === ']') depth--;
      else if (depth === 0 && tx === ';') return i === t.kind.length - 1;
      else if (depth === 0 && tx === ',' && inFromList) return false;
      continue;
    }
    if (depth !== 0 || t.kind[i] !== WORD) continue;
    const word = tx.toLowerCase();
    if (word === until) return true;
    if (JOIN_WORDS.has(word)) return false;
    if (word === 'from' || word === 'using') return false;
    if (FROM_LIST_END.has(word)) inFromList = false;
  }
  return true;
}

function describe(t: Tokens): { operation: string | undefined; collection: string | undefined } {
  let start = 0;
  while (t.kind[start] === PUNCT && t.text[start] === '(') start++;
  if (t.kind[start] !== WORD) return { operation: undefined, collection: undefined };
  const first = t.text[start]!.toLowerCase();
  if (first === 'with') {
    const main = mainStatementAfterWith(t);
    return { operation: main === -1 ? 'WITH' : t.text[main]!.toUpperCase(), collection: undefined };
  }
  const operation = first.toUpperCase();
  let target: { name: string; next: number } | undefined;
  if (first === 'insert' && t.text[start + 1]?.toLowerCase() === 'into') {
    target = tableName(t, start + 2, true);
    // INSERT … SELECT … FROM other reads a second table, but the one written to is still the target.
    return { operation, collection: target && !hasSecondStatement(t, target.next) ? target.name : undefined };
  }
  if (first === 'update') target = tableName(t, start + 1);
  else if (first === 'delete' && t.text[start + 1]?.toLowerCase() === 'from') target = tableName(t, start + 2);
  else if (first === 'select') {
    const from = topLevelWord(t, start + 1, 'from');
    // A set operation before FROM (SELECT 1 UNION SELECT … FROM t) makes it more than one table's read.
    target = from !== -1 && simpleRest(t, start + 1, false, 'from') ? tableName(t, from + 1) : undefined;
    return { operation, collection: target && simpleRest(t, target.next, true) ? target.name : undefined };
  }
  return { operation, collection: target && simpleRest(t, target.next, false) ? target.name : undefined };
}

function hasSecondStatement(t: Tokens, from: number): boolean {
  let depth = 0;
  for (let i = from; i < t.kind.length; i++) {
    if (t.kind[i] !== PUNCT) continue;
    const tx = t.text[i];
    if (tx === '(') depth++;
    else if (tx === ')') depth--;
    else if (tx === ';' && depth === 0 && i < t.kind.length - 1) return true;
  }
  return false;
}

/** The first top-level occurrence of `word` from `i`, or -1. */
function topLevelWord(t: Tokens, i: number, word: string): number {
  let depth = 0;
  for (; i < t.kind.length; i++) {
    if (t.kind[i] === PUNCT) {
      if (t.text[i] === '(') depth++;
      else if (t.text[i] === ')') depth--;
      continue;
    }
    if (depth === 0 && t.kind[i] === WORD && t.text[i]!.toLowerCase() === word) return i;
  }
  return -1;
}

/** True when both token lists have the same words and quoted identifiers in the same order. */
function sameWords(a: Tokens, b: Tokens): boolean {
  let i = 0;
  let j = 0;
  for (;;) {
    while (i < a.kind.length && a.kind[i] !== WORD && a.kind[i] !== QUOTED) i++;
    while (j < b.kind.length && b.kind[j] !== WORD && b.kind[j] !== QUOTED) j++;
    if (i === a.kind.length || j === b.kind.length) return i === a.kind.length && j === b.kind.length;
    if (a.kind[i] !== b.kind[j] || a.text[i]!.toLowerCase() !== b.text[j]!.toLowerCase()) return false;
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
  const tokens = tokenize(normalized).tokens;
  return sameWords(tokens, scanned) ? tokens : undefined;
}

/**
 * 64 bits of two independent 32-bit multiplicative hashes (cyrb53's mixing), as 16 hex digits. A
 * fingerprint only has to tell shapes apart, not resist an attacker, and creating a crypto Hash
 * cost a microsecond on every cache miss.
 */
function fingerprintOf(key: string): string {
  let h1 = 0xdeadbeef;
  let h2 = 0x41c6ce57;
  for (let i = 0; i < key.length; i++) {
    const c = key.charCodeAt(i);
    h1 = Math.imul(h1 ^ c, 2654435761);
    h2 = Math.imul(h2 ^ c, 1597334677);
  }
  h1 = Math.imul(h1 ^ (h1 >>> 16), 2246822507) ^ Math.imul(h2 ^ (h2 >>> 13), 3266489909);
  h2 = Math.imul(h2 ^ (h2 >>> 16), 2246822507) ^ Math.imul(h1 ^ (h1 >>> 13), 3266489909);
  return (h1 >>> 0).toString(16).padStart(8, '0') + (h2 >>> 0).toString(16).padStart(8, '0');
}

function computeShape(sql: string): QueryShape {
  const scanned = tokenize(sql);
  // PostgreSQL's own literal detection when it is trustworthy; the scanner's otherwise. Either way
  // the scanner's rendering replaces any constant the parser kept (typmods, ORDER BY positions).
  const tokens = parsedTokens(sql, scanned.tokens) ?? scanned.tokens;
  const { normalized, key } = render(collapseLists(tokens), scanned.truncated);
  const { operation, collection } = describe(tokens);
  return {
    fingerprint: fingerprintOf(key),
    normalized,
    operation,
    collection,
    summary: operation ? (collection ? `${operation} ${collection}` : operation) : '',
  };
}

/** Literals -> placeholders, comments and extra whitespace dropped, value lists collapsed, bounded length. */
export function normalizeSql(sql: string): string {
  return computeShape(sql).normalized;
}

interface CacheEntry {
  readonly sql: string;
  readonly shape: QueryShape;
  /** Second-chance bit: set on a hit, so a hit costs one Map lookup and one store, never a reorder. */
  used: boolean;
}

/**
 * Shapes cached by raw SQL text with least-recently-used eviction, approximated by the CLOCK
 * (second-chance) scheme: a hit only sets a bit; the clock hand sweeps a ring of the cached
 * entries, clearing bits, and evicts the first entry whose bit is clear. The ring, not the Map's
 * insertion order, is the queue: deleting from the front of a Map leaves holes that every later
 * sweep from the front would have to skip.
 */
export class ShapeCache {
  private readonly entries = new Map<string, CacheEntry>();
  private ring: (CacheEntry | undefined)[] = [];
  private hand = 0;
  private generation = parserGeneration;
  private evicted = 0;
  private chars = 0;

  /** `maxChars` bounds the characters of the cached texts, so a few thousand long statements cannot pin megabytes. */
  constructor(
    private readonly maxEntries: number,
    private readonly maxChars = maxEntries * 512,
  ) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) throw new RangeError('ShapeCache needs at least one entry');
  }

  get size(): number {
    return this.entries.size;
  }

  get evictions(): number {
    return this.evicted;
  }

  shape(sql: string): QueryShape {
    if (this.generation !== parserGeneration) {
      this.entries.clear();
      this.ring = [];
      this.hand = 0;
      this.chars = 0;
      this.generation = parserGeneration;
    }
    const hit = this.entries.get(sql);
    if (hit !== undefined) {
      hit.used = true;
      return hit.shape;
    }
    const shape = computeShape(sql);
    if (sql.length > MAX_CACHED_LENGTH || sql.length > this.maxChars) return shape;
    while (this.entries.size >= this.maxEntries || this.chars + sql.length > this.maxChars) this.evictOne();
    const entry: CacheEntry = { sql, shape, used: false };
    this.entries.set(sql, entry);
    this.chars += sql.length;
    this.place(entry);
    return shape;
  }

  /** Puts a new entry in the first free slot at or after the hand, growing the ring only when it is full. */
  private place(entry: CacheEntry): void {
    if (this.ring.length < this.maxEntries && this.entries.size > this.ring.length) {
      this.ring.push(entry);
      return;
    }
    for (let i = 0; i < this.ring.length; i++) {
      const slot = (this.hand + i) % this.ring.length;
      if (this.ring[slot] === undefined) {
        this.ring[slot] = entry;
        return;
      }
    }
    this.ring.push(entry);
  }

  private evictOne(): void {
    for (;;) {
      const entry = this.ring[this.hand];
      if (entry !== undefined && entry.used) {
        entry.used = false;
      } else if (entry !== undefined) {
        this.ring[this.hand] = undefined;
        this.entries.delete(entry.sql);
        this.chars -= entry.sql.length;
        this.evicted++;
        return;
      }
      this.hand = (this.hand + 1) % this.ring.length;
    }
  }
}

/** The process-wide cache the built-in trackers share, so each distinct text is parsed once. */
export const sharedShapes = new ShapeCache(5000);
