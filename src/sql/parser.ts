// The optional path through PostgreSQL's own parser (libpg-query): loading it, and its literal detection when it can be trusted.
import * as tokens from './tokens.js';
import type { Tokens } from './tokens.js';
import { tokenize } from './tokenizer.js';

// Local names: called through the import binding in per-token loops, these cost more (see lexical.ts).
const { WORD, QUOTED, lowerText } = tokens;

/**
 * Longer texts skip the parser and are normalized by the scanner alone (which replaces every
 * literal it finds too): parse time grows faster than length (about 1 ms for 5 KB with 800
 * literals) and is paid on every cache miss.
 */
const MAX_PARSED_LENGTH = 2048;

interface SqlParser {
  normalizeSync(sql: string): string;
}

let parser: SqlParser | undefined;
let loading: Promise<boolean> | undefined;
let generation = 0;

/**
 * Loads libpg-query's WASM build of PostgreSQL's parser once. Resolves false (and the scanner
 * alone is used) when it cannot be loaded; never rejects.
 */
export function loadSqlParser(): Promise<boolean> {
  loading ??= import('libpg-query')
    .then(async (module) => {
      await module.loadModule();
      parser = module;
      generation++;
      return true;
    })
    .catch(() => false);
  return loading;
}

export function sqlParserLoaded(): boolean {
  return parser !== undefined;
}

/** Bumped when the parser arrives, so caches drop shapes computed by the fallback. */
export function parserGeneration(): number {
  return generation;
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

/** The parser's normalization, tokenized into `into`, or undefined when it cannot be trusted. */
export function parsedTokens(sql: string, scanned: Tokens, into: Tokens): Tokens | undefined {
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
  const parsed = tokenize(into, normalized);
  return sameWords(parsed, scanned) ? parsed : undefined;
}
