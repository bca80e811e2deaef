// The describer: a statement's operation and the single table it targets (db.query.summary).
import * as tokens from './tokens.js';
import type { Tokens } from './tokens.js';

// Local names: called through the import binding in per-token loops, these cost more (see lexical.ts).
const { WORD, QUOTED, PUNCT, kindAt, textOf, lowerText, isWord, isChar } = tokens;

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

export function describe(t: Tokens): { operation: string | undefined; collection: string | undefined } {
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
