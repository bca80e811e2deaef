// db.query.summary: the semantic conventions' "Generating a summary of the query" (database-spans.md), its worked examples first.
import { describe, expect, it } from 'vitest';
import { MAX_SUMMARY_LENGTH } from '../../src/sql/describer.js';
import { ShapeCache } from '../../src/sql/shape-cache.js';

const summaryOf = (sql: string): string => new ShapeCache(10).shape(sql).summary;

/** [the conventions' example, its text (PostgreSQL's spelling where the example's is not SQL PostgreSQL reads), the summary it gives] */
const CONVENTION_EXAMPLES: Array<[string, string, string]> = [
  ['a single operation', 'SELECT *\nFROM   wuser_table\nWHERE  username = $1', 'SELECT wuser_table'],
  [
    'multiple operations',
    'INSERT INTO shipping_details\n            (order_id,\n            address)\nSELECT order_id,\n       address\nFROM   orders\nWHERE  order_id = $1',
    'INSERT shipping_details SELECT orders',
  ],
  ['an operation on multiple collections', 'SELECT *\nFROM   songs,\n       artists\nWHERE  songs.artist_id = artists.id', 'SELECT songs artists'],
  [
    'an anonymous table',
    'SELECT order_date\nFROM   (SELECT *\n        FROM   orders o\n               JOIN customers c\n                 ON o.customer_id = c.customer_id)',
    'SELECT SELECT orders customers',
  ],
  // PostgreSQL reads 'artists' as a string literal, which never enters a summary; its identifiers are double-quoted.
  ['quoted names kept as written', 'SELECT *\nFROM   "song list",\n       artists', 'SELECT "song list" artists'],
  ['a stored procedure (CALL, as written)', 'call some_stored_procedure()', 'call some_stored_procedure'],
];

/** [case, text, summary] */
const MORE: Array<[string, string, string]> = [
  ['case as written', 'select id from users where id = $1', 'select users'],
  ['schema-qualified, as written', 'SELECT * FROM public.orders WHERE id = $1', 'SELECT public.orders'],
  ['quoted and qualified', 'SELECT * FROM "public"."Order Items"', 'SELECT "public"."Order Items"'],
  ['ONLY (no inheritance children), qualified', 'SELECT * FROM ONLY public.orders WHERE id = $1', 'SELECT public.orders'],
  ['DELETE FROM ONLY, quoted', 'DELETE FROM ONLY "Order Items" WHERE id = $1', 'DELETE "Order Items"'],
  ['UPDATE ONLY', 'UPDATE ONLY accounts SET balance = $1', 'UPDATE accounts'],
  ['a JOIN', 'SELECT o.id FROM orders o LEFT JOIN customers c ON c.id = o.customer_id JOIN regions r USING (region_id)', 'SELECT orders customers regions'],
  ['a CTE: its body, then the statement', 'WITH recent AS (SELECT * FROM orders WHERE at > now() - $1::interval) SELECT * FROM recent JOIN customers ON true', 'SELECT orders SELECT recent customers'],
  ['a data-modifying CTE', 'WITH moved AS (DELETE FROM queue RETURNING *) INSERT INTO archive SELECT * FROM moved', 'DELETE queue INSERT archive SELECT moved'],
  ['a function in FROM is no collection', 'SELECT * FROM pg_sleep(0.1)', 'SELECT'],
  ['generate_series beside a table', 'SELECT * FROM generate_series(1, 3) g, items', 'SELECT items'],
  ['parameters only', 'SELECT $1::int, $2', 'SELECT'],
  ['no FROM', 'SELECT 1', 'SELECT'],
  ['a subquery in WHERE', 'SELECT * FROM a WHERE id IN (SELECT a_id FROM b)', 'SELECT a SELECT b'],
  ['a set operation', 'SELECT id FROM a UNION ALL SELECT id FROM b', 'SELECT a SELECT b'],
  ['INSERT … VALUES … ON CONFLICT DO UPDATE', 'INSERT INTO counters (k, n) VALUES ($1, 1) ON CONFLICT (k) DO UPDATE SET n = counters.n + 1', 'INSERT counters'],
  ['UPDATE … FROM', 'UPDATE orders SET total = s.total FROM sums s WHERE s.id = orders.id', 'UPDATE orders sums'],
  ['DELETE … USING', 'DELETE FROM orders USING customers WHERE orders.customer_id = customers.id', 'DELETE orders customers'],
  ['SELECT … FOR UPDATE', 'SELECT * FROM jobs WHERE id = $1 FOR NO KEY UPDATE SKIP LOCKED', 'SELECT jobs'],
  ['MERGE', 'MERGE INTO stock s USING deliveries d ON s.id = d.id WHEN MATCHED THEN UPDATE SET n = s.n + d.n WHEN NOT MATCHED THEN INSERT (id, n) VALUES (d.id, d.n)', 'MERGE stock deliveries'],
  ['IS DISTINCT FROM is no FROM', 'SELECT * FROM t WHERE a IS DISTINCT FROM b', 'SELECT t'],
  ['EXTRACT(… FROM …) is no FROM', "SELECT extract(epoch FROM now()), substring(name FROM 2) FROM users", 'SELECT users'],
  ['two statements', 'BEGIN; UPDATE accounts SET n = n - 1 WHERE id = 1; COMMIT', 'BEGIN UPDATE accounts COMMIT'],
  ['a transaction word', 'ROLLBACK', 'ROLLBACK'],
  ['DO', "DO $$ BEGIN RAISE EXCEPTION 'card %', '4111' USING ERRCODE = '40001'; END $$", 'DO'],
  ['CREATE TABLE', 'CREATE TABLE IF NOT EXISTS public.events (id int)', 'CREATE TABLE public.events'],
  ['TRUNCATE', 'TRUNCATE orders', 'TRUNCATE orders'],
  ['COPY', 'COPY orders FROM STDIN', 'COPY orders'],
  ['EXPLAIN', 'EXPLAIN (ANALYZE, BUFFERS) SELECT * FROM orders', 'EXPLAIN SELECT orders'],
  ['SET', "SET statement_timeout = '5s'", 'SET'],
  ['a syntax error has none', 'SELEC 1', ''],
  ['an empty text has none', '', ''],
  ['a literal never enters it', "SELECT * FROM t WHERE name = 'secret-value'", 'SELECT t'],
];

describe('db.query.summary', () => {
  it.each(CONVENTION_EXAMPLES)('follows the conventions\' example of %s', (_name, sql, summary) => {
    expect(summaryOf(sql)).toBe(summary);
  });

  it.each(MORE)('summarizes %s', (_name, sql, summary) => {
    expect(summaryOf(sql)).toBe(summary);
  });

  it(`is at most ${MAX_SUMMARY_LENGTH} characters and never cut inside an operation or target`, () => {
    const tables = Array.from({ length: 60 }, (_, i) => `table_with_a_long_name_${i}`);
    const summary = summaryOf(`SELECT * FROM ${tables.join(', ')}`);
    expect(summary.length).toBeLessThanOrEqual(MAX_SUMMARY_LENGTH);
    const parts = summary.split(' ');
    expect(parts[0]).toBe('SELECT');
    expect(parts.slice(1)).toEqual(tables.slice(0, parts.length - 1));
    // The next table would not have fitted.
    expect(summary.length + 1 + tables[parts.length - 1]!.length).toBeGreaterThan(MAX_SUMMARY_LENGTH);
  });

  it('is computed once per shape: texts that differ in their literals share the shape object, summary included', () => {
    const cache = new ShapeCache(100);
    const first = cache.shape("SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = 1");
    const second = cache.shape("SELECT * FROM orders o JOIN customers c ON c.id = o.customer_id WHERE o.id = 2");
    expect(second).toBe(first);
    expect(first.summary).toBe('SELECT orders customers');
  });

  it('tells a parameterized text from one with literals, though they share a fingerprint', () => {
    const cache = new ShapeCache(100);
    const literal = cache.shape('SELECT * FROM users WHERE id = 42');
    const parameterized = cache.shape('SELECT * FROM users WHERE id = $1');
    expect(parameterized.fingerprint).toBe(literal.fingerprint);
    expect([literal.parameterized, parameterized.parameterized]).toEqual([false, true]);
    // The other order, through the fingerprint index of a cache that has not admitted either text.
    const other = new ShapeCache(100);
    expect(other.shape("SELECT * FROM users WHERE id = $1 AND name = 'x'").parameterized).toBe(true);
    expect(other.shape("SELECT * FROM users WHERE id = 7 AND name = 'y'").parameterized).toBe(false);
  });

  it('finds no placeholder inside a literal, a dollar-quoted body or a comment', () => {
    expect(summaryOf("SELECT '$1'")).toBe('SELECT');
    const cache = new ShapeCache(10);
    expect(cache.shape("SELECT 'costs $1' /* $2 */").parameterized).toBe(false);
    expect(cache.shape('DO $$ BEGIN PERFORM $1; END $$').parameterized).toBe(false);
  });
});
