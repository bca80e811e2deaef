// The literal-blind key lets the shape cache skip the scanner for a new text: it may only ever join
// texts the scanner gives one shape. Random texts built from the constructs both passes must agree
// on, each with variants whose digits and string contents are changed, check that equal keys mean
// equal shapes by the scanner, and that a shared cache, with the scanner or PostgreSQL's parser,
// gives every text the shape it has alone.
import { describe, expect, it } from 'vitest';
import { TextKeys } from '../../src/sql/literal-blind-key.js';
import { loadSqlParser } from '../../src/sql/parser.js';
import { ShapeCache } from '../../src/sql/shape-cache.js';
import type { QueryShape } from '../../src/sql/shape.js';

const FRAGMENTS = [
  'SELECT ', 'select ', 'FROM t ', 'WHERE ', ' ', '  ', '\n', 'a', 'b1', 'c_2', 'x', 'e', 'E', 'U', 'in', 'IN ', 'VALUES ', 'ARRAY',
  'LIMIT ', 'is ', 'NOT ', 'null', 'true', '1', '23', '0', '007', '.', '..', '-', '+', '=', '<>', '*', '/', '#', '&', '_', '::', 'int',
  '(', ')', '[', ']', ',', ';', "'", "''", "'x'", "'it''s'", '"', '"q"', '"it\'s"', '$', '$1', '$2', '$$', '$t$', '--', '-- it\'s\n',
  '/*', '*/', "/* it's */", '\\', 'é', '1e5', '0x1F', '1_000', '.5', '3.14',
];

/** A deterministic generator, so a failure names a text that can be reproduced. */
function random(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

function randomText(next: () => number): string {
  let text = '';
  const parts = 1 + Math.floor(next() * 14);
  for (let i = 0; i < parts; i++) text += FRAGMENTS[Math.floor(next() * FRAGMENTS.length)];
  return text;
}

/** The text with one character replaced: most replacements change the key, and those inside a literal must not change the shape. */
function mutation(text: string, next: () => number): string {
  const at = Math.floor(next() * text.length);
  const pool = "0123456789azAZ_ '\"$-/*\n\\";
  return text.slice(0, at) + pool[Math.floor(next() * pool.length)] + text.slice(at + 1);
}

/** The text with every digit run and every '…' body replaced at random: what the key is blind to, and more. */
function variant(text: string, next: () => number): string {
  return text
    .replace(/[0-9]+/g, () => String(Math.floor(next() * 10 ** (1 + Math.floor(next() * 4)))))
    .replace(/'[^']*'/g, () => `'${'zq9'.slice(0, Math.floor(next() * 4))}'`);
}

const shapeOf = (sql: string): QueryShape => new ShapeCache(1).shape(sql);

const keys = new TextKeys();
function literalBlindKey(sql: string): number | undefined {
  keys.read(sql);
  return keys.literalBlind;
}

/** FNV-1a of every character, as the shape cache's admission filter hashed texts before the two keys shared a pass. */
function fnv(sql: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < sql.length; i++) h = Math.imul(h ^ sql.charCodeAt(i), 16777619);
  return h;
}

function checkAgreement(seed: number, texts: number): number {
  const next = random(seed);
  const byKey = new Map<number, { sql: string; shape: QueryShape }>();
  let joined = 0;
  for (let n = 0; n < texts; n++) {
    const base = randomText(next);
    for (const sql of [base, variant(base, next), variant(base, next), mutation(base, next), mutation(base, next), mutation(base, next)]) {
      const key = literalBlindKey(sql);
      if (key === undefined) continue;
      const shape = shapeOf(sql);
      const seen = byKey.get(key);
      if (seen === undefined) byKey.set(key, { sql, shape });
      else {
        if (seen.sql !== sql) joined++;
        expect(shape, `${JSON.stringify(seen.sql)} and ${JSON.stringify(sql)} share a key`).toEqual(seen.shape);
      }
    }
  }
  return joined;
}

/**
 * Random texts, their variants and mutations through one cache, in order: each must get the fingerprint,
 * operation and table it gets alone (its normalized text may be an earlier text's of the same fingerprint).
 */
function checkSharedCache(seed: number): void {
  const next = random(seed);
  const cache = new ShapeCache(5000);
  for (let n = 0; n < 5_000; n++) {
    const base = randomText(next);
    for (const sql of [base, variant(base, next), mutation(base, next), variant(base, next)]) {
      const alone = shapeOf(sql);
      const shared = cache.shape(sql);
      expect([shared.fingerprint, shared.operation, shared.collection?.toLowerCase()], sql).toEqual([
        alone.fingerprint,
        alone.operation,
        alone.collection?.toLowerCase(),
      ]);
    }
  }
}

describe('literal-blind key', () => {
  it('gives texts that differ only in their literals one key', () => {
    const keys = new Set(Array.from({ length: 1000 }, (_, i) => literalBlindKey(`SELECT ${i} AS v, 'label-${i}' AS label`)));
    expect(keys.size).toBe(1);
    expect(literalBlindKey("SELECT * FROM t WHERE a = 'x''y' AND b = 3.5")).toBe(literalBlindKey("SELECT * FROM t WHERE a = '' AND b = 77.0"));
  });

  it.each([
    ['columns with digits', 'SELECT c1 FROM t', 'SELECT c2 FROM t'],
    ['parameters', 'SELECT * FROM t WHERE a = $1 AND b = $1', 'SELECT * FROM t WHERE a = $1 AND b = $2'],
    ['tables with digits', 'SELECT * FROM events_1', 'SELECT * FROM events_2'],
    ['a hex literal and a number before a word', 'SELECT 0x1F', 'SELECT 1x1F'],
    ['code after a quote in a comment', "-- it's\nSELECT a FROM t WHERE x = 'v'", "-- it's\nSELECT b FROM u WHERE x = 'v'"],
    ['code after a quote in a quoted identifier', `SELECT "it's" FROM t WHERE x = 'v'`, `SELECT "it's" FROM u WHERE x = 'v'`],
    ['code after a quote in a block comment', "/* it's */ SELECT a FROM t WHERE x = 'v'", "/* it's */ SELECT b FROM t WHERE x = 'v'"],
    ['a string and no string', "SELECT 'a' FROM t", 'SELECT FROM t'],
    ['keyword case (the scanner joins them, the key need not)', 'select 1', 'SELECT 1'],
  ])('keeps apart %s', (_name, a, b) => {
    expect(literalBlindKey(a)).not.toBe(literalBlindKey(b));
  });

  it.each([
    ['dollar quotes', 'SELECT $$secret$$ FROM t'],
    ['a tagged dollar quote', "SELECT $x$it's$x$ FROM t"],
    ['an escape string', "SELECT E'a\\'b' FROM t"],
    ['a Unicode string', "SELECT U&'d\\0061t' FROM t"],
    ['an unterminated string', "SELECT * FROM t WHERE a = 'open"],
    ['an unterminated comment', 'SELECT 1 /* open'],
    ['an unterminated quoted identifier', 'SELECT "open FROM t'],
    ['a text the scanner cuts', `SELECT ${'a, '.repeat(2000)}b FROM t`],
  ])('gives no key to %s, which the scanner reads', (_name, sql) => {
    expect(literalBlindKey(sql)).toBeUndefined();
  });

  it('reads, in the same pass, the exact hash of every character (literals, comments and texts with no key included)', () => {
    const next = random(3);
    for (let n = 0; n < 20_000; n++) {
      const sql = n % 2 === 0 ? randomText(next) : `SELECT ${n} AS v, 'label-${n}' AS label -- ${n}`;
      keys.read(sql);
      expect(keys.exact, sql).toBe(fnv(sql));
    }
    keys.read(`SELECT ${'a, '.repeat(2000)}b FROM t`);
    expect(keys.literalBlind).toBeUndefined();
    expect(keys.exact).toBe(fnv(`SELECT ${'a, '.repeat(2000)}b FROM t`));
  });

  it('joins only texts the scanner gives one shape (600,000 random texts and variants)', () => {
    expect(checkAgreement(1, 100_000)).toBeGreaterThan(10_000);
  });

  it('a shared cache gives every text the fingerprint and description it has on its own (scanner)', () => {
    checkSharedCache(4);
  });

  it("with PostgreSQL's parser, where a literal can change the shape, the cache uses no key", async () => {
    expect(await loadSqlParser()).toBe(true);
    // Same key, different shapes: float(99) and an integer too big for a typmod do not parse (the scanner's
    // tokens are used), a NUL ends the parser's C string, and past 2,048 characters the parser is not asked.
    const pairs: [string, string][] = [
      ['SELECT x=-1, 1::float(10)', 'SELECT x=-1, 1::float(99)'],
      ['SELECT x=-1, current_timestamp(3)', 'SELECT x=-1, current_timestamp(99999999999)'],
      ["SELECT x=-1, 'a'", "SELECT x=-1, '\u0000'"],
      [`SELECT x=-1, '${'a'.repeat(2033)}'`, `SELECT x=-1, '${'a'.repeat(2034)}'`],
    ];
    for (const [a, b] of pairs) {
      expect(literalBlindKey(a)).toBe(literalBlindKey(b));
      expect(shapeOf(a).fingerprint).not.toBe(shapeOf(b).fingerprint);
      const cache = new ShapeCache(5000);
      for (const text of [b, b.replace('99', '98'), a, a, b]) expect(cache.shape(text).fingerprint, text).toBe(shapeOf(text).fingerprint);
    }
    checkSharedCache(5);
  });
});
