// QueryOptions.name: query() and read() run a statement as a named prepared statement, prepared once per connection.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresManager, QueryEvent } from '../../src/index.js';
import { adminQuery, createTestDatabase, eventually, terminateBackends, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';
import { poolModeOfTestRun } from '../support/pgbouncer.js';

// Through a transaction-mode PgBouncer 1.18 a statement prepared in one transaction is gone (or there twice) in the
// next one's server connection: the manager warns, as README "Scale" says, and the server-side checks cannot hold.
const transactionPooler = poolModeOfTestRun() === 'transaction';
const POINT = 'SELECT id, label FROM items WHERE id = $1';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('named');
  await adminQuery('CREATE TABLE items (id int PRIMARY KEY, label text NOT NULL)', [], database.name);
  await adminQuery("INSERT INTO items SELECT g, 'item ' || g FROM generate_series(1, 10) g", [], database.name);
});

afterAll(async () => {
  await database.drop();
});

/** The named statements of the manager's one connection, as the server holds them. */
async function preparedOn(db: PostgresManager): Promise<{ name: string; statement: string; runs: number }[]> {
  const { rows } = await db.query<{ name: string; statement: string; runs: number }>(
    'SELECT name, statement, (generic_plans + custom_plans)::int AS runs FROM pg_prepared_statements ORDER BY name',
  );
  return rows;
}

describe.skipIf(transactionPooler)('a named statement', () => {
  it('is prepared once on the connection and then only executed, with each call\'s parameters', async () => {
    const { db } = await createManager(database.url, { maxConnections: 1 });
    try {
      for (const id of [3, 7, 3, 9, 1]) {
        const { rows } = await db.query(POINT, [id], { name: 'item-by-id' });
        expect(rows).toEqual([{ id, label: `item ${id}` }]);
      }
      expect(await preparedOn(db)).toEqual([{ name: 'item-by-id', statement: POINT, runs: 5 }]);
    } finally {
      await db.close();
    }
  });

  it('goes to the replica with read(), and reports its text as any statement does', async () => {
    const events: QueryEvent[] = [];
    const { db } = await createManager(database.url, { readReplicaUrl: database.url, maxConnections: 1 });
    db.addTracker({ queryFinished: (event) => events.push(event) });
    try {
      expect((await db.read(POINT, [4], { name: 'item-by-id' })).rows).toEqual([{ id: 4, label: 'item 4' }]);
      expect(events.map((e) => [e.pool.name, e.sql, e.error])).toEqual([['replica', POINT, undefined]]);
      expect((await db.readPool.query('SELECT name FROM pg_prepared_statements')).rows).toEqual([{ name: 'item-by-id' }]);
    } finally {
      await db.close();
    }
  });

  it('is prepared again on the connection that replaces one the server killed', async () => {
    const { db, appName } = await createManager(database.url, { maxConnections: 1 });
    try {
      await db.query(POINT, [2], { name: 'item-by-id' });
      expect(await terminateBackends(appName, 'idle')).toBe(1);
      // Once the pool has seen its connection go; a statement sent before that would meet the FATAL (57P01) instead.
      await eventually(async () => db.pool.totalCount, (n) => n === 0);
      const { rows } = await db.query(POINT, [5], { name: 'item-by-id' });
      expect(rows).toEqual([{ id: 5, label: 'item 5' }]);
      expect(await preparedOn(db)).toEqual([{ name: 'item-by-id', statement: POINT, runs: 1 }]);
    } finally {
      await db.close();
    }
  });

  it('fails, without a retry, when its name was used for another text on that connection', async () => {
    const retried: unknown[] = [];
    const { db } = await createManager(database.url, { maxConnections: 1 });
    db.addTracker({ retried: (e) => retried.push(e) });
    try {
      const backend = async (): Promise<number> => (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid;
      const before = await backend();
      await db.query(POINT, [1], { name: 'item-by-id' });
      await expect(db.query('SELECT label FROM items WHERE id = $1', [1], { name: 'item-by-id' })).rejects.toThrow(
        "Prepared statements must be unique - 'item-by-id' was used for a different statement",
      );
      expect(retried).toEqual([]);
      // The same connection goes on, and the first text still runs under the name.
      expect((await db.query(POINT, [6], { name: 'item-by-id' })).rows).toEqual([{ id: 6, label: 'item 6' }]);
      expect(await backend()).toBe(before);
    } finally {
      await db.close();
    }
  });
});

describe('the warning about named statements', () => {
  it(`is given once behind a transaction-mode pooler, and never otherwise (this run: ${poolModeOfTestRun() ?? 'direct'})`, async () => {
    const { db, logger } = await createManager(database.url, { maxConnections: 1 });
    try {
      for (const id of [1, 2]) await db.query(POINT, [id], { name: 'item-by-id' }).catch(() => undefined);
      const warnings = logger.lines.filter((line) => line.includes("named prepared statement (pg's `name:` option)"));
      expect(warnings).toHaveLength(transactionPooler ? 1 : 0);
    } finally {
      await db.close();
    }
  });
});

describe('a statement name', () => {
  it.each([[''], [42], [null]])('%j is refused before a connection is taken', async (name) => {
    const acquired: unknown[] = [];
    const { db } = await createManager(database.url);
    db.addTracker({ acquired: (pool) => acquired.push(pool.name) });
    try {
      await expect(db.query('SELECT 1', [], { name: name as string })).rejects.toThrow(
        new TypeError('a statement name must be a non-empty string'),
      );
      expect(acquired).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
