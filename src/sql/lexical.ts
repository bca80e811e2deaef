// PostgreSQL's lexical character classes and how far a text is read, shared by the scanner
// (tokenizer.ts) and the literal-blind key, which must agree with it. Both bind these to local
// names: called through the import binding in their per-character loops, the tests cost about
// twice as much (micro-benchmark, Node 20). The other sql/ modules bind what they call per token
// or per character to local names for the same reason.

/**
 * Scanning stops after this many characters (not counting the inside of IN/ARRAY value lists,
 * which are skipped by a quick pass), so a miss stays cheap however large the statement; texts
 * that agree this far share a shape.
 */
export const MAX_SCANNED_LENGTH = 4096;

export const isDigit = (c: number): boolean => c >= 48 && c <= 57;
export const isIdentStart = (c: number): boolean => (c >= 65 && c <= 90) || (c >= 97 && c <= 122) || c === 95 || c >= 128;
/** Letters, digits, `_`, `$` and non-ASCII: a digit next to one belongs to a word, a parameter or a prefixed number. */
export const isIdentPart = (c: number): boolean => isIdentStart(c) || isDigit(c) || c === 36;
