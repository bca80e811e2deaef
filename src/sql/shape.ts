// A statement's shape: the scanner's tokens (or the parser's) rendered and described, cut loose from the text they came from.
import { describe, summarize } from './describer.js';
import { parsedTokens } from './parser.js';
import { render } from './renderer.js';
import { tokenize } from './tokenizer.js';
import { newTokens, PARAM, type Tokens } from './tokens.js';

export interface QueryShape {
  /** 16 hex digits; equal for texts that differ only in literals, comments, whitespace, keyword case or list lengths. */
  readonly fingerprint: string;
  /** The text with every literal replaced by a `$n` placeholder; at most MAX_NORMALIZED_LENGTH characters. */
  readonly normalized: string;
  /**
   * The statement's first keyword, upper-cased (the main statement's for a WITH query when it can be found). Parsed
   * from the text: the monitor's statistics show it, and telemetry only with `namesFromQueryText` (the PostgreSQL
   * conventions say db.operation.name SHOULD NOT be extracted from db.query.text).
   */
  readonly operation: string | undefined;
  /** The single table the statement targets, as written (schema prefix included), when the statement is simple; parsed, as `operation`. */
  readonly collection: string | undefined;
  /**
   * db.query.summary as the semantic conventions generate it: operations and targets in the order written, as
   * written, at most 255 characters, cut only between parts ('' when the text holds no statement PostgreSQL knows).
   * The low-cardinality grouping key of metrics and the span name.
   */
  readonly summary: string;
  /**
   * The text holds `$n` placeholders (outside literals and comments): its values travel apart, and the conventions
   * say such text SHOULD NOT be sanitized, so spans show it as written. Never shared between texts that differ in it.
   */
  readonly parameterized: boolean;
}

const scannedTokens = newTokens();
const parserTokens = newTokens();

/** True when the scanner found a `$n` placeholder. */
function hasPlaceholder(t: Tokens): boolean {
  for (let i = 0; i < t.count; i++) if (t.kind[i] === PARAM) return true;
  return false;
}

/** PostgreSQL's own literal detection when it is trustworthy; the scanner's otherwise. */
export function tokensOf(sql: string): { tokens: Tokens; truncated: boolean; parameterized: boolean } {
  const scanned = tokenize(scannedTokens, sql);
  // From the scanner's tokens: the parser's normalization turns every literal into a placeholder.
  const parameterized = hasPlaceholder(scanned);
  // Either way the scanner's rendering replaces any constant the parser kept (typmods, ORDER BY positions).
  return { tokens: parsedTokens(sql, scanned, parserTokens) ?? scanned, truncated: scanned.truncated, parameterized };
}

/** Drops the token lists' references, so a huge statement is not kept until the next miss. */
export function releaseTokens(): void {
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

export function shapeOfTokens(sql: string, tokens: Tokens, truncated: boolean, parameterized: boolean): QueryShape {
  const { normalized, fingerprint } = render(tokens, truncated);
  const described = describe(tokens);
  const summary = detached(summarize(tokens))!;
  const operation = detached(described.operation);
  const collection = detached(described.collection);
  return {
    fingerprint,
    // A statement with nothing to replace (parameterized, as ORMs send them) keeps one copy of its text, not two.
    normalized: normalized === sql ? sql : detached(normalized)!,
    operation,
    collection,
    summary,
    parameterized,
  };
}

function computeShape(sql: string): QueryShape {
  const { tokens, truncated, parameterized } = tokensOf(sql);
  const shape = shapeOfTokens(sql, tokens, truncated, parameterized);
  releaseTokens();
  return shape;
}

/** Literals -> placeholders, comments and extra whitespace dropped, value lists collapsed, bounded length. */
export function normalizeSql(sql: string): string {
  return computeShape(sql).normalized;
}
