// SQL shapes: literals become placeholders, equal shapes share a fingerprint, the cache stays bounded.
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { beforeAll, describe, expect, it } from 'vitest';
import { loadSqlParser, sqlParserLoaded } from '../../src/sql/parser.js';
import { MAX_NORMALIZED_LENGTH } from '../../src/sql/renderer.js';
import { ShapeCache } from '../../src/sql/shape-cache.js';
import { normalizeSql, type QueryShape } from '../../src/sql/shape.js';

const fingerprint = (sql: string): string => new ShapeCache(10).shape(sql).fingerprint;

/** [case, raw text, expected normalized text] */
const NORMALIZATION: Array<[string, string, string]> = [
  ['string', "SELECT * FROM users WHERE name = 'alice'", 'SELECT * FROM users WHERE name = $1'],
  ['string with doubled quote', "SELECT * FROM users WHERE name = 'o''brien'", 'SELECT * FROM users WHERE name = $1'],
  ['escape string', "SELECT * FROM users WHERE name = E'a\\'b'", 'SELECT * FROM users WHERE name = $1'],
  ['typed string', "SELECT * FROM events WHERE at > timestamp '2024-01-01'", 'SELECT * FROM events WHERE at > timestamp $1'],
  ['integer', 'SELECT * FROM users WHERE id = 42', 'SELECT * FROM users WHERE id = $1'],
  ['decimal and exponent', 'SELECT * FROM prices WHERE amount > 3.14 AND rate < 1e-3', 'SELECT * FROM prices WHERE amount > $1 AND rate < $2'],
  ['negative number', 'SELECT * FROM t WHERE balance = -5', 'SELECT * FROM t WHERE balance = $1'],
  ['booleans', 'UPDATE users SET active = true WHERE admin = false', 'UPDATE users SET active = $1 WHERE admin = $2'],
  ['IS TRUE is a test, not a value', 'SELECT * FROM users WHERE active IS TRUE', 'SELECT * FROM users WHERE active IS TRUE'],
  ['IN list of one', 'SELECT * FROM users WHERE id IN (7)', 'SELECT * FROM users WHERE id IN ($1)'],
  ['IN list of three', 'SELECT * FROM users WHERE id IN (1, 2, 3)', 'SELECT * FROM users WHERE id IN ($1 /*, ... */)'],
  ['IN list of strings', "SELECT * FROM users WHERE name IN ('a', 'b')", 'SELECT * FROM users WHERE name IN ($1 /*, ... */)'],
  ['ARRAY list', 'SELECT * FROM users WHERE id = ANY(ARRAY[1, 2, 3])', 'SELECT * FROM users WHERE id = ANY(ARRAY[$1 /*, ... */])'],
  ['multi-row VALUES', "INSERT INTO t (a, b) VALUES (1, 'x'), (2, 'y')", 'INSERT INTO t (a, b) VALUES ($1, $2) /*, ... */'],
  ['line comment', 'SELECT * FROM users -- who\nWHERE id = 1', 'SELECT * FROM users WHERE id = $1'],
  ['block comment, nested', 'SELECT /* a /* b */ c */ * FROM users WHERE id = 1', 'SELECT * FROM users WHERE id = $1'],
  ['whitespace', 'SELECT  *\n\tFROM users\n   WHERE id =  1', 'SELECT * FROM users WHERE id = $1'],
  ['dollar-quoted', 'SELECT $$top secret$$ FROM t', 'SELECT $1 FROM t'],
  ['tagged dollar-quoted', "SELECT $x$it's $$ secret$x$ FROM t", 'SELECT $1 FROM t'],
  ['already parameterized', 'SELECT * FROM users WHERE id = $1 AND name = $2', 'SELECT * FROM users WHERE id = $1 AND name = $2'],
  ['parameters renumbered in order', 'SELECT * FROM users WHERE id = $2 AND name = $1', 'SELECT * FROM users WHERE id = $1 AND name = $2'],
  ['mixed literals and parameters', "SELECT * FROM users WHERE id = $1 AND name = 'x'", 'SELECT * FROM users WHERE id = $1 AND name = $2'],
  ['quoted identifier kept', 'SELECT "Name" FROM "Users" WHERE id = 1', 'SELECT "Name" FROM "Users" WHERE id = $1'],
];

/** Pairs that must share a fingerprint. */
const SAME: Array<[string, string, string]> = [
  ['different strings', "SELECT * FROM users WHERE name = 'alice'", "SELECT * FROM users WHERE name = 'bob'"],
  ['different numbers', 'SELECT * FROM users WHERE id = 1', 'SELECT * FROM users WHERE id = 987654'],
  ['different booleans', 'UPDATE users SET active = true', 'UPDATE users SET active = false'],
  ['IN lists of any length', 'SELECT * FROM users WHERE id IN (1)', `SELECT * FROM users WHERE id IN (${Array.from({ length: 5000 }, (_, i) => i).join(', ')})`],
  ['IN list of parameters', 'SELECT * FROM users WHERE id IN ($1, $2, $3)', 'SELECT * FROM users WHERE id IN (4, 5)'],
  ['comments', 'SELECT * FROM users WHERE id = 1 -- note', '/* tag */ SELECT * FROM users WHERE id = 1'],
  ['keyword and identifier case', 'select * from users where id = 1', 'SELECT * FROM USERS WHERE ID = 1'],
  ['whitespace', 'SELECT * FROM users WHERE id = 1', 'SELECT *\n  FROM users\n WHERE id=1'],
  ['dollar-quoted vs plain string', 'SELECT $$a$$ FROM t', "SELECT 'b' FROM t"],
  ['parameter vs literal', 'SELECT * FROM users WHERE id = $1', 'SELECT * FROM users WHERE id = 42'],
  ['rows of a VALUES list', 'INSERT INTO t (a) VALUES (1)', 'INSERT INTO t (a) VALUES (1), (2), (3)'],
];

/** Pairs that must not. */
const DIFFERENT: Array<[string, string, string]> = [
  ['table', 'SELECT * FROM users WHERE id = 1', 'SELECT * FROM orders WHERE id = 1'],
  ['column', 'SELECT * FROM users WHERE id = 1', 'SELECT * FROM users WHERE age = 1'],
  ['operator', 'SELECT * FROM users WHERE id = 1', 'SELECT * FROM users WHERE id > 1'],
  ['selected columns', 'SELECT a, b FROM t', 'SELECT a FROM t'],
  ['IN list vs equality', 'SELECT * FROM users WHERE id IN (1, 2)', 'SELECT * FROM users WHERE id = 1'],
  ['quoted identifier case', 'SELECT * FROM "Users"', 'SELECT * FROM users'],
  ['same parameter twice vs two parameters', 'SELECT * FROM t WHERE a = $1 AND b = $1', 'SELECT * FROM t WHERE a = $1 AND b = $2'],
  ['IS NULL vs a value', 'SELECT * FROM t WHERE a IS NULL', 'SELECT * FROM t WHERE a = 1'],
];

/** [raw text, operation, collection] */
const DESCRIPTIONS: Array<[string, string | undefined, string | undefined]> = [
  ['SELECT id FROM users WHERE id = 1', 'SELECT', 'users'],
  ['select id from public.users u where u.id = 1', 'SELECT', 'public.users'],
  ['INSERT INTO orders (id) VALUES (1)', 'INSERT', 'orders'],
  ['INSERT INTO orders (id) SELECT id FROM staging', 'INSERT', 'orders'],
  ['UPDATE users SET a = 1, b = 2 WHERE id = 3', 'UPDATE', 'users'],
  ['DELETE FROM sessions WHERE expires < now()', 'DELETE', 'sessions'],
  ['SELECT * FROM users JOIN orders ON orders.user_id = users.id', 'SELECT', undefined],
  ['SELECT * FROM users, orders', 'SELECT', undefined],
  ['SELECT a FROM t UNION SELECT a FROM u', 'SELECT', undefined],
  ['SELECT count(*) FROM generate_series(1, 10)', 'SELECT', undefined],
  ['SELECT * FROM users WHERE id IN (SELECT user_id FROM orders)', 'SELECT', 'users'],
  ['UPDATE users SET a = 1 FROM other WHERE other.id = users.id', 'UPDATE', undefined],
  ['DELETE FROM users USING other WHERE other.id = users.id', 'DELETE', undefined],
  ['WITH recent AS (SELECT * FROM orders) SELECT * FROM recent', 'SELECT', undefined],
  ['WITH moved AS (DELETE FROM a RETURNING *) INSERT INTO b SELECT * FROM moved', 'INSERT', undefined],
  ['SELECT 1', 'SELECT', undefined],
  ['BEGIN', 'BEGIN', undefined],
  ['SELECT 1; SELECT * FROM users', 'SELECT', undefined],
  ['', undefined, undefined],
  ["SELECT * FROM t WHERE a = 'unterminated", 'SELECT', 't'],
];

function cases(mode: 'scanner' | 'libpg-query'): void {
  it.each(NORMALIZATION)('normalizes: %s', (_name, raw, expected) => {
    expect(normalizeSql(raw)).toBe(expected);
  });

  it.each(SAME)('shares a fingerprint: %s', (_name, a, b) => {
    expect(fingerprint(a)).toBe(fingerprint(b));
  });

  it.each(DIFFERENT)('does not share a fingerprint: %s', (_name, a, b) => {
    expect(fingerprint(a)).not.toBe(fingerprint(b));
  });

  it.each(DESCRIPTIONS)('describes %j', (raw, operation, collection) => {
    const shape = new ShapeCache(1).shape(raw);
    expect([shape.operation, shape.collection]).toEqual([operation, collection]);
  });

  it('never keeps a literal value', () => {
    const secret = 'hunter2-secret';
    const texts = [
      `SELECT * FROM users WHERE password = '${secret}'`,
      `SELECT * FROM users WHERE password = E'${secret}'`,
      `SELECT * FROM users WHERE password = $q$${secret}$q$`,
      `INSERT INTO t VALUES ('${secret}', 1), ('${secret}', 2)`,
      `SELECT '${secret}' 'continued'`,
      `SELECT * FROM t WHERE a = '${secret}`,
    ];
    for (const text of texts) {
      const shape = new ShapeCache(1).shape(text);
      expect(JSON.stringify(shape), `${mode}: ${text}`).not.toContain(secret);
    }
  });
}

const scannerFingerprints: string[] = [];

describe('with the scanner alone (libpg-query not loaded)', () => {
  it('runs before the parser is loaded', () => {
    expect(sqlParserLoaded()).toBe(false);
    scannerFingerprints.push(...[...NORMALIZATION, ...SAME].map(([, raw]) => fingerprint(raw)));
  });
  cases('scanner');
});

describe("with libpg-query (PostgreSQL's own normalization)", () => {
  beforeAll(async () => {
    expect(await loadSqlParser()).toBe(true);
  });
  cases('libpg-query');

  it('gives the same fingerprints as the scanner, so a process without the parser groups queries alike', () => {
    expect(sqlParserLoaded()).toBe(true);
    expect([...NORMALIZATION, ...SAME].map(([, raw]) => fingerprint(raw))).toEqual(scannerFingerprints);
  });
});

describe('bounds', () => {
  it('cuts a 1 MB statement to a bounded normalized text', () => {
    const huge = `SELECT * FROM t WHERE id IN (${'1, '.repeat(350_000)}1) AND name = '${'x'.repeat(100_000)}'`;
    expect(huge.length).toBeGreaterThan(1_000_000);
    const shape = new ShapeCache(10).shape(huge);
    expect(shape.normalized.length).toBeLessThanOrEqual(MAX_NORMALIZED_LENGTH);
    expect(shape.normalized).not.toContain('xxxx');
  });

  it('cuts a long normalized text and marks the cut', () => {
    const columns = Array.from({ length: 600 }, (_, i) => `column_number_${i}`).join(', ');
    const normalized = normalizeSql(`SELECT ${columns} FROM t`);
    expect(normalized.length).toBe(MAX_NORMALIZED_LENGTH);
    expect(normalized.endsWith(' …')).toBe(true);
  });

  it('does not keep a text seen only once, so inlined literals do not fill the heap', () => {
    const cache = new ShapeCache(1000);
    for (let i = 0; i < 100_000; i++) cache.shape(`SELECT c FROM t WHERE id = ${i}`);
    expect(cache.size).toBe(0);
    expect(cache.evictions).toBe(0);
  });

  it('caches a text on its second call, and hits return the cached shape', () => {
    const cache = new ShapeCache(1000);
    const text = 'SELECT * FROM hot WHERE id = $1';
    const once = cache.shape(text);
    expect(cache.size).toBe(0);
    const twice = cache.shape(text);
    expect(cache.size).toBe(1);
    expect(twice).toBe(once);
    expect(cache.shape(text)).toBe(twice);
  });

  it('a new text with a known fingerprint gets the shape of the first text seen, as pg_stat_statements keeps the first text', () => {
    const cache = new ShapeCache(1000);
    const first = cache.shape("select * from Users where name = 'alice'");
    const later = cache.shape("SELECT *\n  FROM USERS WHERE name = 'bob'");
    expect(later).toBe(first);
    expect(later.normalized).toBe('select * from Users where name = $1');
    expect([later.operation, later.collection]).toEqual(['SELECT', 'Users']);
    const other = cache.shape("SELECT * FROM orders WHERE name = 'bob'");
    expect(other.collection).toBe('orders');
  });

  it('finds a known fingerprint for every text of the corpus, cut texts included, and never confuses two', () => {
    const columns = Array.from({ length: 600 }, (_, i) => `column_number_${i}`).join(', ');
    const long = [`SELECT ${columns} FROM t`, `SELECT ${columns} FROM t WHERE id = 1`, `SELECT ${columns.slice(0, 2040)} FROM t`];
    const texts = [...NORMALIZATION.map(([, raw]) => raw), ...SAME.flatMap(([, a, b]) => [a, b]), ...DIFFERENT.flatMap(([, a, b]) => [a, b]), ...long];
    for (const text of texts) {
      const cache = new ShapeCache(1000);
      // The first call renders the shape; the second (not cached yet: seen once) finds it by its key-only fingerprint.
      const rendered = cache.shape(text);
      expect(rendered).toEqual(new ShapeCache(1).shape(text));
      expect(cache.shape(text), text).toBe(rendered);
    }
    const cache = new ShapeCache(1000);
    for (const [name, a, b] of DIFFERENT) expect(cache.shape(a), name).not.toBe(cache.shape(b));
  });

  it('keeps a bounded number of fingerprints, in entries and in characters', () => {
    const cache = new ShapeCache(50, 50 * 160);
    const first = cache.shape('SELECT c0 FROM t WHERE id = 1');
    for (let i = 1; i < 10; i++) cache.shape(`SELECT c${i} FROM t WHERE id = 1`);
    // An escape string has no literal-blind key: these are found by fingerprint alone.
    expect(cache.shape("SELECT c0 FROM t WHERE id = E'2'")).toBe(first);
    for (let i = 10; i < 20; i++) cache.shape(`SELECT c${i} FROM t WHERE id = 1`);
    // 10 fingerprints fit (50 / 5): the first has left.
    const again = cache.shape("SELECT c0 FROM t WHERE id = E'3'");
    expect(again).not.toBe(first);
    expect(again).toEqual(first);
    const wide = `SELECT ${'a, '.repeat(600)}b FROM t WHERE id = 1`;
    const shape = cache.shape(wide);
    // Longer than the 1,600 characters the fingerprints may hold: computed, not kept.
    expect(cache.shape(`${wide} -- again`)).not.toBe(shape);
  });

  it('asking again for the same call returns the same shape and is not a second sighting', () => {
    const cache = new ShapeCache(1000);
    const text = 'SELECT * FROM t WHERE id = 7';
    const call = {};
    const first = cache.shape(text, call);
    expect(cache.shape(text, call)).toBe(first);
    expect(cache.size).toBe(0);
    cache.shape(text, {});
    expect(cache.size).toBe(1);
  });

  it('after 100,000 distinct texts, each seen twice, the cache holds exactly its bound and counts the evictions', () => {
    const cache = new ShapeCache(1000);
    for (let i = 0; i < 100_000; i++) {
      cache.shape(`SELECT c${i} FROM t WHERE id = ${i}`);
      cache.shape(`SELECT c${i} FROM t WHERE id = ${i}`);
    }
    expect(cache.size).toBe(1000);
    expect(cache.evictions).toBe(99_000);
  });

  it('keeps recently used texts when it evicts', () => {
    const cache = new ShapeCache(100);
    const hot = 'SELECT * FROM hot WHERE id = $1';
    cache.shape(hot);
    const cached = cache.shape(hot);
    for (let i = 0; i < 1000; i++) {
      cache.shape(`SELECT c${i} FROM cold`);
      cache.shape(`SELECT c${i} FROM cold`);
      expect(cache.shape(hot)).toBe(cached);
    }
    expect(cache.size).toBe(100);
  });

  it('evicts the oldest unused entry, never the one it has just cached', () => {
    const cache = new ShapeCache(3);
    const admit = (text: string): QueryShape => {
      cache.shape(text);
      return cache.shape(text);
    };
    admit('SELECT a');
    admit('SELECT b');
    admit('SELECT c');
    const d = admit('SELECT d');
    const e = admit('SELECT e');
    expect(cache.evictions).toBe(2);
    expect(cache.shape('SELECT d')).toBe(d);
    expect(cache.shape('SELECT e')).toBe(e);
  });

  it('keeps no statement alive through the shapes it keeps: 100 distinct statements of 1–2 MB leave under 5 MB', () => {
    // The heap is only comparable after a full collection; vitest runs without --expose-gc.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const cache = new ShapeCache(5000);
    const heapAfterGc = (): number => {
      gc();
      return process.memoryUsage().heapUsed;
    };
    const before = heapAfterGc();
    for (let i = 0; i < 100; i++) {
      // Built in memory (not one literal shared by all), each its own fingerprint, cut by the scanner.
      // The table name is long enough (13 characters) for V8 to slice it rather than copy it.
      const text = `SELECT c${i}, t.${'x'.repeat(20)} FROM table_number_${i} WHERE id = ${i} -- ${String(i).repeat(1 << 20)}`;
      const shape = cache.shape(text);
      expect(shape.normalized.length).toBeLessThan(100);
      expect(shape.collection).toBe(`table_number_${i}`);
    }
    expect(heapAfterGc() - before).toBeLessThan(5 * 2 ** 20);
  });

  it('bounds the characters it caches', () => {
    const cache = new ShapeCache(1000, 50_000);
    for (let i = 0; i < 100; i++) {
      cache.shape(`SELECT ${'a, '.repeat(1000)}c${i} FROM t`);
      cache.shape(`SELECT ${'a, '.repeat(1000)}c${i} FROM t`);
    }
    expect(cache.size).toBeLessThanOrEqual(17);
    expect(cache.evictions).toBeGreaterThan(80);
  });
});
