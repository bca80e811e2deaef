// Scenario 2: backends killed while idle, while leased, mid-statement and mid-transaction.
// The idle / mid-read / mid-INSERT cases through query() are in test/query/retries.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { adminQuery, countConnections, createTestDatabase, eventually, terminateBackends, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';
import { CountingTracker } from './support/counting-tracker.js';
import { rowsLabelled } from './support/items.js';
import { trapProcessFaults } from './support/process-trap.js';

trapProcessFaults();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('killed');
  await adminQuery('CREATE TABLE items (id serial PRIMARY KEY, label text NOT NULL)', [], database.name);
});

afterAll(async () => {
  await database.drop();
});

/** Waits until this manager has a statement containing `fragment` running, then kills that backend. */
async function killWhenRunning(appName: string, fragment: string): Promise<void> {
  const running = await eventually(
    async () =>
      (
        await adminQuery<{ n: string }>(
          "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE $2",
          [appName, `%${fragment}%`],
        )
      ).rows[0]?.n,
    (n) => n === '1',
  );
  expect(running).toBe('1');
  expect(await terminateBackends(appName, 'active')).toBe(1);
}

async function backendPid(db: { query: (sql: string) => Promise<{ rows: Array<Record<string, unknown>> }> }): Promise<number> {
  return Number((await db.query('SELECT pg_backend_pid() AS pid')).rows[0]?.pid);
}

describe('killed backends', () => {
  it('evicts idle connections whose backends were killed, with one warning each and no call needed', async () => {
    const { db, appName, logger } = await createManager(database.url, { minConnections: 2, maxConnections: 2 });
    try {
      const before = await backendPid(db);
      expect(await terminateBackends(appName, 'idle')).toBe(2);
      const total = await eventually(async () => db.getPoolMetrics().pools.primary.total, (n) => n === 0);
      expect(total).toBe(0);
      expect(logger.lines.filter((l) => l.includes('dropped an idle connection') && l.includes('terminating connection'))).toHaveLength(2);
      expect(await backendPid(db)).not.toBe(before);
    } finally {
      await db.close();
    }
  });

  it('keeps the process alive when a leased, idle connection is killed and the lease is held on; release destroys it', async () => {
    const { db, appName } = await createManager(database.url, { maxConnections: 1 });
    try {
      const lease = await db.getConnection();
      const ended = new Promise((resolve) => lease.client.once('end', resolve));
      expect(await terminateBackends(appName, 'idle')).toBe(1);
      // pg emits the connection's 'error' event before its 'end': a missing listener would have crashed by now.
      await ended;
      await expect(lease.client.query('SELECT 1')).rejects.toThrow(/not queryable/);
      lease.release();
      expect(db.getPoolMetrics().pools.primary.total).toBe(0);
      expect((await db.query('SELECT 1 AS ok')).rows[0]).toEqual({ ok: 1 });
      expect(await countConnections(appName)).toBe(1);
    } finally {
      await db.close();
    }
  });

  it('survives a statement killed on a lease that is released only 600 ms later', async () => {
    const { db, appName } = await createManager(database.url, { maxConnections: 1 });
    try {
      const lease = await db.getConnection();
      const statement = lease.client.query("SELECT pg_sleep(2), 'held-lease'").then(
        () => undefined,
        (e: unknown) => e,
      );
      await killWhenRunning(appName, 'held-lease');
      expect(await statement).toMatchObject({ code: '57P01' });
      await sleep(600);
      lease.release();
      expect(db.getPoolMetrics().pools.primary.total).toBe(0);
      expect((await db.query('SELECT 1 AS ok')).rows[0]).toEqual({ ok: 1 });
    } finally {
      await db.close();
    }
  });

  it('does not retry a transaction whose backend is killed mid-body; the error is typed and nothing is committed', async () => {
    const { db, appName } = await createManager(database.url, { retry: { baseDelayMs: 5 } });
    const tracker = new CountingTracker();
    db.addTracker(tracker);
    let runs = 0;
    try {
      const tx = db
        .transaction(async (client) => {
          runs++;
          await client.query("INSERT INTO items (label) VALUES ('tx-killed')");
          await client.query("SELECT pg_sleep(2), 'tx-body'");
        })
        .then(
          () => undefined,
          (e: unknown) => e,
        );
      await killWhenRunning(appName, 'tx-body');
      const error = await tx;
      expect(error).toMatchObject({ code: '57P01' });
      expect(runs).toBe(1);
      expect(tracker.retries).toHaveLength(0);
      expect(await rowsLabelled(database, 'tx-killed')).toBe(0);
      expect(tracker.counts.acquired).toBe(tracker.counts.released);
    } finally {
      await db.close();
    }
  });

  it('reports a lease left idle in a transaction as a leak, survives the server ending it (25P03), and recovers', async () => {
    const { db, appName } = await createManager(database.url, { maxConnections: 1, leakDetectionThresholdMs: 200 });
    const tracker = new CountingTracker();
    db.addTracker(tracker);
    try {
      const lease = await db.getConnection();
      await lease.client.query("SET idle_in_transaction_session_timeout = '300ms'");
      await lease.client.query('BEGIN');
      await lease.client.query("INSERT INTO items (label) VALUES ('leaked-tx')");
      await eventually(async () => countConnections(appName), (n) => n === 0);
      await sleep(300);
      expect(tracker.leaks).toHaveLength(1);
      expect(tracker.leaks[0]?.stack).toContain('killed-backends.test');
      await expect(lease.client.query('SELECT 1')).rejects.toThrow();
      lease.release();
      expect(db.getPoolMetrics().pools.primary).toMatchObject({ total: 0, used: 0 });
      expect((await db.query('SELECT 1 AS ok')).rows[0]).toEqual({ ok: 1 });
      expect(await rowsLabelled(database, 'leaked-tx')).toBe(0);
    } finally {
      await db.close();
    }
  });
});
