// The describer: a statement's db.query.summary, and (for the monitor and the opt-in parsed attributes) its operation and single table.
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

/** The table named at `i` (after an ONLY), as nameAt() reads it; undefined for none, or for a function call unless `columnList`. */
function tableName(t: Tokens, i: number, columnList = false): { name: string; next: number } | undefined {
  const named = nameAt(t, isWord(t, i, 'only') ? i + 1 : i);
  // A function in FROM (generate_series(…)) is not a table.
  if (named === undefined || (!columnList && isChar(t, named.next, PUNCT, 40))) return undefined;
  return named;
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

// ---------------------------------------------------------------------------------------------
// db.query.summary, as the semantic conventions' "Generating a summary of the query" defines it
// (database-spans.md): the operations and their targets in the order they were written, as written
// (no case folding), `{operation1} {target1} {operation2} {target2} {target3} ...`, at most 255
// characters and never cut inside an operation or target. No literal ever enters it.

/** The conventions' bound: "SHOULD truncate the summary to 255 characters". */
export const MAX_SUMMARY_LENGTH = 255;

/** Data-manipulation operations, wherever they stand (subqueries, CTE bodies, INSERT … SELECT, set operations). */
const DML_OPERATIONS = new Set(['select', 'insert', 'update', 'delete', 'merge', 'call']);
/** Commands summarized by their word, and the object kind and name that follow it (CREATE TABLE orders); the rest is skipped. */
const DDL_COMMANDS = new Set(['create', 'alter', 'drop', 'truncate', 'lock', 'copy', 'refresh', 'comment', 'cluster', 'reindex', 'vacuum', 'analyze']);
/** Commands summarized by their word alone (PostgreSQL's SQL command list, less those above). */
const PLAIN_COMMANDS = new Set([
  'abort', 'begin', 'checkpoint', 'close', 'commit', 'deallocate', 'declare', 'discard', 'do', 'end', 'execute', 'fetch',
  'grant', 'import', 'listen', 'load', 'move', 'notify', 'prepare', 'reassign', 'release', 'reset', 'revoke', 'rollback',
  'savepoint', 'security', 'set', 'show', 'start', 'unlisten',
]);
/** Words between a DDL command and its object's name that say what kind of object it is (kept) … */
const OBJECT_KINDS = new Set([
  'table', 'index', 'view', 'materialized', 'sequence', 'schema', 'function', 'procedure', 'type', 'extension', 'trigger',
  'database', 'role', 'user', 'domain', 'policy', 'publication', 'subscription', 'aggregate', 'operator', 'rule', 'server',
  'statistics', 'foreign', 'tablespace', 'collation', 'conversion', 'language', 'transform', 'event', 'cast',
]);
/** … and words that only modify it (dropped). */
const DDL_MODIFIERS = new Set(['or', 'replace', 'unique', 'concurrently', 'temporary', 'temp', 'unlogged', 'global', 'local', 'recursive', 'if', 'not', 'exists', 'only', 'verbose', 'full', 'freeze']);
/** Words before UPDATE/DELETE/INSERT that make them no operation: FOR [NO KEY] UPDATE, ON CONFLICT DO UPDATE, ON DELETE, MERGE's THEN UPDATE. */
const NOT_AN_OPERATION_AFTER = new Set(['for', 'key', 'do', 'on', 'then', 'grant', 'revoke', 'or', 'before', 'after', 'of']);
/** Words that end a FROM list at its own level. */
const FROM_LIST_ENDS = new Set(['where', 'group', 'having', 'window', 'order', 'limit', 'offset', 'fetch', 'for', 'returning', 'union', 'intersect', 'except', 'set', 'values', 'select', 'into', 'when']);
/** Words after which the next table reference is a target. */
const JOINS = new Set(['join']);
/** Words that start a subquery when they follow `(`. */
const QUERY_STARTS = new Set(['select', 'with', 'values', 'insert', 'update', 'delete', 'table']);

/** A level of parentheses: whether it holds a query, and where in a FROM list the scan is. */
interface Frame {
  query: boolean;
  fromList: boolean;
  expectTable: boolean;
  /** The expected table is written to (INSERT INTO t (cols), UPDATE t): a parenthesis after it is a column list, not a call. */
  written: boolean;
}

/** Collects the summary's parts, stopping (for good) before the first that would pass MAX_SUMMARY_LENGTH. */
class SummaryParts {
  text = '';
  full = false;

  add(part: string): void {
    if (this.full) return;
    const length = this.text.length === 0 ? part.length : this.text.length + 1 + part.length;
    if (length > MAX_SUMMARY_LENGTH) {
      this.full = true;
      return;
    }
    this.text = this.text.length === 0 ? part : `${this.text} ${part}`;
  }
}

/** A possibly qualified name at `i` as written (`public.orders`, `"Order Items"`), and the index after it; undefined when none starts there. */
function nameAt(t: Tokens, i: number): { name: string; next: number } | undefined {
  if (kindAt(t, i) !== WORD && kindAt(t, i) !== QUOTED) return undefined;
  let name = textOf(t, i);
  let next = i + 1;
  while (isChar(t, next, PUNCT, 46) && (kindAt(t, next + 1) === WORD || kindAt(t, next + 1) === QUOTED)) {
    name += `.${textOf(t, next + 1)}`;
    next += 2;
  }
  return { name, next };
}

/** The index of the token after the `;` that ends the statement holding `i` (or t.count), skipping parentheses. */
function statementEnd(t: Tokens, i: number): number {
  let depth = 0;
  for (; i < t.count; i++) {
    if (t.kind[i] !== PUNCT) continue;
    if (isChar(t, i, PUNCT, 40)) depth++;
    else if (isChar(t, i, PUNCT, 41)) depth--;
    else if (depth <= 0 && isChar(t, i, PUNCT, 59)) return i + 1;
  }
  return t.count;
}

/** A DDL-like command at `i`: its word, its object kind, its object's name; returns the index where the statement ends. */
function utilityCommand(t: Tokens, i: number, parts: SummaryParts): number {
  const end = statementEnd(t, i);
  let label = textOf(t, i);
  let j = i + 1;
  for (; j < end && kindAt(t, j) === WORD; j++) {
    const word = lowerText(t, j);
    if (OBJECT_KINDS.has(word)) label += ` ${textOf(t, j)}`;
    else if (!DDL_MODIFIERS.has(word)) break;
  }
  parts.add(label);
  // COPY (SELECT …) TO …: the query is summarized as any other.
  if (isChar(t, j, PUNCT, 40)) {
    scanStatements(t, j, statementEnd(t, j), parts);
    return end;
  }
  const target = nameAt(t, j);
  if (target && j < end) parts.add(target.name);
  return end;
}

/** Summarizes the tokens from `from` to `to` (statements separated by `;`). */
function scanStatements(t: Tokens, from: number, to: number, parts: SummaryParts): void {
  const frames: Frame[] = [{ query: true, fromList: false, expectTable: false, written: false }];
  let statementStart = true;
  for (let i = from; i < to && !parts.full; i++) {
    const frame = frames[frames.length - 1]!;
    const kind = t.kind[i];
    if (kind === PUNCT) {
      if (isChar(t, i, PUNCT, 40)) {
        const first = kindAt(t, i + 1) === WORD ? lowerText(t, i + 1) : '';
        const derived = frame.expectTable;
        frame.expectTable = false;
        frames.push({ query: QUERY_STARTS.has(first) || derived, fromList: false, expectTable: false, written: false });
        // A statement in parentheses at the start ((SELECT …) UNION (SELECT …)) still starts the statement.
        continue;
      }
      if (isChar(t, i, PUNCT, 41)) {
        if (frames.length > 1) frames.pop();
        continue;
      }
      if (isChar(t, i, PUNCT, 59) && frames.length === 1) {
        statementStart = true;
        frame.fromList = frame.expectTable = false;
        continue;
      }
      if (isChar(t, i, PUNCT, 44) && frame.fromList) frame.expectTable = true;
      continue;
    }
    if (kind !== WORD && kind !== QUOTED) {
      // A literal, parameter, operator or list where a table was expected (FROM $1) ends the FROM list.
      if (frame.expectTable) frame.expectTable = frame.fromList = false;
      continue;
    }
    const word = kind === WORD ? lowerText(t, i) : '';
    if (statementStart) {
      statementStart = false;
      if (word === 'with') continue;
      if (word === 'explain') {
        parts.add(textOf(t, i));
        // EXPLAIN's options (ANALYZE, VERBOSE, a parenthesized list) come before the statement it explains.
        while (kindAt(t, i + 1) === WORD && !QUERY_STARTS.has(lowerText(t, i + 1))) i++;
        if (isChar(t, i + 1, PUNCT, 40) && !(kindAt(t, i + 2) === WORD && QUERY_STARTS.has(lowerText(t, i + 2)))) {
          i = skipParentheses(t, i + 1) - 1;
        }
        statementStart = true;
        continue;
      }
      if (word === 'values') {
        parts.add(textOf(t, i));
        continue;
      }
      if (word === 'table') {
        parts.add(textOf(t, i));
        frame.expectTable = true;
        continue;
      }
      if (DDL_COMMANDS.has(word)) {
        i = utilityCommand(t, i, parts) - 1;
        statementStart = true;
        continue;
      }
      if (PLAIN_COMMANDS.has(word)) {
        parts.add(textOf(t, i));
        i = statementEnd(t, i) - 1;
        statementStart = true;
        continue;
      }
      // Not a statement PostgreSQL knows (a typo, a syntax error): no summary for it.
      if (!DML_OPERATIONS.has(word)) {
        i = statementEnd(t, i) - 1;
        statementStart = true;
        continue;
      }
    }
    if (frame.expectTable) {
      if (word === 'only' || word === 'lateral') continue;
      frame.expectTable = false;
      if (kind === WORD && (FROM_LIST_ENDS.has(word) || DML_OPERATIONS.has(word))) frame.fromList = false;
      else {
        const target = nameAt(t, i);
        if (target) {
          // A function in FROM (generate_series(…), pg_sleep(…)) is no collection.
          if (frame.written || !isChar(t, target.next, PUNCT, 40)) parts.add(target.name);
          frame.written = false;
          i = target.next - 1;
          continue;
        }
      }
    }
    if (kind !== WORD) continue;
    if (DML_OPERATIONS.has(word)) {
      const before = kindAt(t, i - 1) === WORD ? lowerText(t, i - 1) : '';
      if (word !== 'select' && NOT_AN_OPERATION_AFTER.has(before)) continue;
      parts.add(textOf(t, i));
      frame.fromList = false;
      if (word === 'call') {
        // The stored procedure is the target: CALL some_stored_procedure(…).
        const procedure = nameAt(t, i + 1);
        if (procedure) parts.add(procedure.name);
        i = statementEnd(t, i) - 1;
        statementStart = true;
        continue;
      }
      // UPDATE t: the target follows at once; INSERT and MERGE name theirs after INTO, DELETE after FROM.
      if (word === 'update') frame.expectTable = frame.written = true;
      continue;
    }
    if (!frame.query) continue;
    if (word === 'from') {
      // IS [NOT] DISTINCT FROM is a comparison.
      if (kindAt(t, i - 1) === WORD && lowerText(t, i - 1) === 'distinct') continue;
      frame.fromList = frame.expectTable = true;
    } else if (word === 'into') {
      const before = kindAt(t, i - 1) === WORD ? lowerText(t, i - 1) : '';
      if (before === 'insert' || before === 'merge') frame.expectTable = frame.written = true;
    } else if (JOINS.has(word)) {
      frame.fromList = frame.expectTable = true;
    } else if (word === 'using') {
      // JOIN … USING (col) names columns; DELETE … USING t and MERGE … USING t name tables.
      if (!isChar(t, i + 1, PUNCT, 40) || (kindAt(t, i + 2) === WORD && QUERY_STARTS.has(lowerText(t, i + 2)))) {
        frame.fromList = frame.expectTable = true;
      }
    } else if (frame.fromList && FROM_LIST_ENDS.has(word)) frame.fromList = false;
  }
}

/** The index just past the parenthesis that closes the one at `open`. */
function skipParentheses(t: Tokens, open: number): number {
  let depth = 0;
  for (let i = open; i < t.count; i++) {
    if (isChar(t, i, PUNCT, 40)) depth++;
    else if (isChar(t, i, PUNCT, 41) && --depth === 0) return i + 1;
  }
  return t.count;
}

/** The statement's db.query.summary ('' when the text holds no statement PostgreSQL knows). */
export function summarize(t: Tokens): string {
  const parts = new SummaryParts();
  scanStatements(t, 0, t.count, parts);
  return parts.text;
}
