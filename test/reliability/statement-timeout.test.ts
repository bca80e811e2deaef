// Scenario 7: the server cancels statements (statement_timeout, pg_cancel_backend): 57014 is final, never retried.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TransactionRolledBackError } from '../../src/index.js';
import { adminQuery, createTestDatabase, eventually, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';
import { CountingTracker } from './support/counting-tracker.js';
import { rowsLabelled } from './support/items.js';
import { trapProcessFaults } from './support/process-trap.js';

trapProcessFaults();

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('cancel');
  await adminQuery('CREATE TABLE items (id serial PRIMARY KEY, label text NOT NULL)', [], database.name);
});

afterAll(async () => {
  await database.drop();
});

async function managerWithTracker(statementTimeoutMs: number) {
  const created = await createManager(database.url, { maxConnections: 1, statementTimeoutMs, retry: { baseDelayMs: 5 } });
  const tracker = new CountingTracker();
  created.db.addTracker(tracker);
  return { ...created, tracker };
}

describe('statement timeout and cancel (57014)', () => {
  it('fails a read that hits statement_timeout with 57014 near the timeout, without retrying, and keeps the connection', async () => {
    const { db, tracker } = await managerWithTracker(200);
    try {
      const pid = (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      const started = performance.now();
      const error = await db.read('SELECT pg_sleep(2)').catch((e: unknown) => e);
      const ms = performance.now() - started;
      expect(error).toMatchObject({ code: '57014' });
      expect(ms).toBeGreaterThanOrEqual(190);
      expect(ms).toBeLessThan(1000);
      expect(tracker.retries).toHaveLength(0);
      expect((await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid).toBe(pid);
      expect(tracker.counts.connectionsCreated).toBe(0);
    } finally {
      await db.close();
    }
  });

  it('fails a write cancelled by pg_cancel_backend with 57014, without re-sending it', async () => {
    const { db, appName, tracker } = await managerWithTracker(0);
    try {
      const write = db.query("INSERT INTO items (label) SELECT 'cancelled' FROM pg_sleep(2)").catch((e: unknown) => e);
      await eventually(
        async () =>
          (
            await adminQuery<{ n: string }>(
              "SELECT count(pg_cancel_backend(pid)) AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
              [appName],
            )
          ).rows[0]?.n,
        (n) => n === '1',
      );
      expect(await write).toMatchObject({ code: '57014' });
      expect(tracker.retries).toHaveLength(0);
      expect(await rowsLabelled(database, 'cancelled')).toBe(0);
    } finally {
      await db.close();
    }
  });

  it('does not retry a transaction whose statement timed out; the 57014 surfaces and nothing is committed', async () => {
    const { db, tracker } = await managerWithTracker(0);
    let runs = 0;
    try {
      const error = await db
        .transaction(async (client) => {
          runs++;
          await client.query("SET LOCAL statement_timeout = '100ms'");
          await client.query("INSERT INTO items (label) VALUES ('tx-timeout')");
          await client.query('SELECT pg_sleep(1)');
        })
        .catch((e: unknown) => e);
      expect(error).toMatchObject({ code: '57014' });
      expect(runs).toBe(1);
      expect(tracker.retries).toHaveLength(0);
      expect(await rowsLabelled(database, 'tx-timeout')).toBe(0);
      expect(db.getPoolMetrics().pools.primary).toMatchObject({ used: 0 });
    } finally {
      await db.close();
    }
  });

  it('reports a transaction as failed when its callback swallowed a 57014 and COMMIT answered ROLLBACK', async () => {
    const { db } = await managerWithTracker(0);
    try {
      const error = await db
        .transaction(async (client) => {
          await client.query("SET LOCAL statement_timeout = '100ms'");
          await client.query("INSERT INTO items (label) VALUES ('tx-swallowed')");
          await client.query('SELECT pg_sleep(1)').catch(() => undefined);
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransactionRolledBackError);
      expect(await rowsLabelled(database, 'tx-swallowed')).toBe(0);
      // The connection ended its transaction cleanly, so it is reused, not destroyed.
      expect(db.getPoolMetrics().pools.primary).toMatchObject({ total: 1, used: 0 });
    } finally {
      await db.close();
    }
  });
});
