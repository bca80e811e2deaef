// Shared by the query-builder and ORM tests: a file's database with one table, a monitored manager per test, and what the manager saw.
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import type { CreateOptions, PostgresManager, QueryStatsReport } from '../../src/index.js';
import { adminQuery, countConnections, createTestDatabase, eventually, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';

/** Low enough for a 300 ms pg_sleep to be slow on a loaded machine, high enough that ordinary statements rarely are. */
export const SLOW_MS = 100;

export interface OrmFixture {
  readonly database: TestDatabase;
  /** A monitored manager on the file's database, closed after the test if the test did not close it. */
  manager(options?: CreateOptions): Promise<{ db: PostgresManager; appName: string }>;
}

/** Call once at the top of a test file: a database with `widgets (id serial, name text unique)`. */
export function useOrmFixture(prefix: string): OrmFixture {
  let database: TestDatabase | undefined;
  const open: PostgresManager[] = [];

  beforeAll(async () => {
    database = await createTestDatabase(prefix);
    await adminQuery('CREATE TABLE widgets (id serial PRIMARY KEY, name text NOT NULL UNIQUE)', [], database.name);
  });
  afterEach(async () => {
    await Promise.all(open.splice(0).map((db) => db.close({ timeoutMs: 1000 })));
  });
  afterAll(async () => {
    await database?.drop();
  });

  return {
    get database(): TestDatabase {
      if (!database) throw new Error('the fixture database exists only inside tests');
      return database;
    },
    async manager(options = {}) {
      const { db, appName } = await createManager(this.database.url, {
        monitoringEnabled: true,
        slowQueryThresholdMs: SLOW_MS,
        maxConnections: 4,
        ...options,
      });
      open.push(db);
      return { db, appName };
    },
  };
}

/** Connections the manager has lent so far (its own query() runs included), as its monitor counts them. */
export function acquisitions(db: PostgresManager): number {
  return db.getPoolMetrics().acquisition.primary?.total ?? 0;
}

/** Names in the table now, read with the admin connection so that no library or manager is involved. */
export async function widgetNames(database: TestDatabase): Promise<string[]> {
  const { rows } = await adminQuery<{ name: string }>('SELECT name FROM widgets ORDER BY name', [], database.name);
  return rows.map((r) => r.name);
}

/** The slow-query entry whose normalized text contains `marker` (a column alias the test put in its SQL). */
export function slowQueryNamed(db: PostgresManager, marker: string): QueryStatsReport | undefined {
  return db.getSlowQueries(50).find((q) => q.query.includes(marker));
}

/** Resolves with `work`'s result, or fails the test when it takes longer than `ms` (a hang, not a slow machine). */
export async function withinMs<T>(ms: number, work: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const hang = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([work, hang]);
  } finally {
    clearTimeout(timer);
  }
}

/** After a library's own shutdown: the manager is closed and the server holds none of its connections. */
export async function expectShutDown(db: PostgresManager, appName: string): Promise<void> {
  await expect(db.query('SELECT 1')).rejects.toMatchObject({ code: 'MANAGER_CLOSED' });
  // pg's own flags, which some libraries read, say the same.
  expect(db.pool.ending).toBe(true);
  expect(await eventually(async () => db.pool.ended, (ended) => ended)).toBe(true);
  expect(await eventually(() => countConnections(appName), (n) => n === 0)).toBe(0);
}
