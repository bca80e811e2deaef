// Scenario 5: 500 concurrent calls on a pool of 5 with a 1 s acquisition timeout while queries sleep.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionTimeoutError, type PostgresManager } from '../../src/index.js';
import { countConnections, createTestDatabase, eventually, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';
import { CountingTracker } from './support/counting-tracker.js';
import { trapProcessFaults } from './support/process-trap.js';

trapProcessFaults();

const CALLS = 500;
const POOL_SIZE = 5;
const TIMEOUT_MS = 1000;
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('exhaustion');
});

afterAll(async () => {
  await database.drop();
});

/** Every way in: each call sleeps 100 ms on its connection. */
const CALL_KINDS: Array<(db: PostgresManager) => Promise<unknown>> = [
  (db) => db.query('SELECT pg_sleep(0.1)'),
  (db) => db.read('SELECT pg_sleep(0.1)'),
  (db) => db.transaction((client) => client.query('SELECT pg_sleep(0.1)')),
  (db) => db.withConnection((client) => client.query('SELECT pg_sleep(0.1)')),
];

describe('pool exhaustion', () => {
  it('gives each of 500 callers a result or a ConnectionTimeoutError near 1 s, and leaks nothing', async () => {
    const { db, appName } = await createManager(database.url, { maxConnections: POOL_SIZE, connectionTimeoutSeconds: TIMEOUT_MS / 1000 });
    const tracker = new CountingTracker();
    db.addTracker(tracker);
    try {
      const started = performance.now();
      const outcomes = await Promise.all(
        Array.from({ length: CALLS }, (_, i) =>
          CALL_KINDS[i % CALL_KINDS.length]!(db).then(
            () => ({ ok: true as const, ms: performance.now() - started }),
            (error: unknown) => ({ ok: false as const, ms: performance.now() - started, error }),
          ),
        ),
      );
      const succeeded = outcomes.filter((o) => o.ok);
      const failed = outcomes.flatMap((o) => (o.ok ? [] : [o]));
      // 5 connections x 1 s / 100 ms: roughly 50 get through, the rest time out.
      expect(succeeded.length).toBeGreaterThanOrEqual(POOL_SIZE);
      expect(failed.length).toBeGreaterThan(CALLS / 2);
      expect(failed.filter((f) => !(f.error instanceof ConnectionTimeoutError)).map((f) => String(f.error))).toEqual([]);
      const times = failed.map((f) => f.ms);
      expect(Math.min(...times)).toBeGreaterThanOrEqual(TIMEOUT_MS - 20);
      expect(Math.max(...times)).toBeLessThan(TIMEOUT_MS + 600);
      expect(tracker.counts.acquireTimedOut).toBe(failed.length);

      expect(db.getPoolMetrics().pools.primary).toMatchObject({ used: 0, waiting: 0 });
      expect(db.getPoolMetrics().pools.primary.total).toBeLessThanOrEqual(POOL_SIZE);
      expect(tracker.counts.acquired).toBe(tracker.counts.released);
      expect(tracker.counts.acquired).toBe(succeeded.length);
      expect(await countConnections(appName)).toBeLessThanOrEqual(POOL_SIZE);
      // Still serves normally afterwards.
      expect((await db.query('SELECT 1 AS ok')).rows[0]).toEqual({ ok: 1 });
    } finally {
      await db.close();
    }
    expect(await eventually(() => countConnections(appName), (n) => n === 0)).toBe(0);
  });
});
