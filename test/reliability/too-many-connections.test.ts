// Scenario 6: the server refuses new connections with 53300 (role connection limit reached).
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { RetryExhaustedError } from '../../src/index.js';
import { adminQuery, countConnections, createPasswordRole, createTestDatabase, eventually, terminateBackends, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';
import { CountingTracker } from './support/counting-tracker.js';
import { trapProcessFaults } from './support/process-trap.js';

trapProcessFaults();

const LIMIT = 2;
let database: TestDatabase;
let role: { user: string; url: string };
const squatters: pg.Client[] = [];

beforeAll(async () => {
  database = await createTestDatabase('slots');
  role = await createPasswordRole(database.name, `pw-${Math.random().toString(36).slice(2)}`);
});

afterEach(async () => {
  await Promise.all(squatters.splice(0).map((c) => c.end().catch(() => undefined)));
  await adminQuery(`ALTER ROLE ${role.user} CONNECTION LIMIT -1`);
});

afterAll(async () => {
  await database.drop();
  await adminQuery(`DROP ROLE IF EXISTS ${role.user}`);
});

/** Limits the role and fills every slot with other sessions of the same role. */
async function fillSlots(): Promise<void> {
  await adminQuery(`ALTER ROLE ${role.user} CONNECTION LIMIT ${LIMIT}`);
  for (let i = 0; i < LIMIT; i++) {
    const client = new pg.Client({ connectionString: role.url, application_name: 'slot-squatter' });
    client.on('error', () => undefined);
    await client.connect();
    squatters.push(client);
  }
}

/** A manager of the limited role whose warm-up connection is gone again, so it holds no slot. */
async function managerWithoutConnections(retry: { maxRetries: number; baseDelayMs: number; maxDelayMs: number }) {
  const created = await createManager(role.url, { maxConnections: 2, retry });
  await terminateBackends(created.appName);
  await eventually(async () => created.db.getPoolMetrics().pools.primary.total, (n) => n === 0);
  const tracker = new CountingTracker();
  created.db.addTracker(tracker);
  return { ...created, tracker };
}

describe('53300 too many connections', () => {
  it('retries the refused connection with growing backoff and succeeds once a slot frees', async () => {
    const { db, tracker } = await managerWithoutConnections({ maxRetries: 8, baseDelayMs: 40, maxDelayMs: 400 });
    try {
      await fillSlots();
      const query = db.query<{ ok: number }>('SELECT 1 AS ok');
      await eventually(async () => tracker.retries.length, (n) => n >= 2);
      await squatters.pop()?.end();
      const { rows } = await query;
      expect(rows[0]?.ok).toBe(1);
      expect(tracker.retries.length).toBeGreaterThanOrEqual(2);
      expect(tracker.retries.every((r) => r.sqlstate === '53300')).toBe(true);
      // Full jitter: each delay is drawn below min(cap, base * 2^retry).
      tracker.retries.forEach((r, i) => expect(r.delayMs).toBeLessThan(Math.min(400, 40 * 2 ** i)));
      expect(tracker.counts.acquireFailed).toBe(tracker.retries.length);
    } finally {
      await db.close();
    }
  });

  it('reports 53300 as RetryExhaustedError when no slot frees, counting no phantom connection', async () => {
    const { db, appName, tracker } = await managerWithoutConnections({ maxRetries: 3, baseDelayMs: 10, maxDelayMs: 50 });
    try {
      await fillSlots();
      const error = await db.query('SELECT 1').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(RetryExhaustedError);
      expect((error as RetryExhaustedError).attempts).toBe(4);
      expect((error as RetryExhaustedError).cause).toMatchObject({ code: '53300' });
      expect(tracker.counts.acquireFailed).toBe(4);
      expect(db.getPoolMetrics().pools.primary).toMatchObject({ total: 0, used: 0, waiting: 0 });
      expect(await countConnections(appName)).toBe(0);
    } finally {
      await db.close();
    }
  });
});
