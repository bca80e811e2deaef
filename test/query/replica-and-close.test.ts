// Reads go to the replica while it answers and to the primary when it does not; close() ends both pools.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ManagerClosedError } from '../../src/index.js';
import { adminQuery, countConnections, createTestDatabase, eventually, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';

let primary: TestDatabase;
let replica: TestDatabase;

beforeAll(async () => {
  primary = await createTestDatabase('primary');
  replica = await createTestDatabase('replica');
  // The same table in both, with different content, shows which one answered.
  await adminQuery("CREATE TABLE whoami AS SELECT 'primary'::text AS role", [], primary.name);
  await adminQuery("CREATE TABLE whoami AS SELECT 'replica'::text AS role", [], replica.name);
});

afterAll(async () => {
  await primary.drop();
  await replica.drop();
});

describe('read replica', () => {
  it('routes read() to the replica and query() to the primary', async () => {
    const { db } = await createManager(primary.url, { readReplicaUrl: replica.url });
    try {
      expect((await db.read<{ role: string }>('SELECT role FROM whoami')).rows[0]?.role).toBe('replica');
      expect((await db.query<{ role: string }>('SELECT role FROM whoami')).rows[0]?.role).toBe('primary');
      const metrics = db.getPoolMetrics();
      expect(metrics.pools.replica?.name).toBe('replica');
      expect(metrics.replicaAvailable).toBe(true);
    } finally {
      await db.close();
    }
  });

  it('routes db.readPool to the replica and db.pool to the primary', async () => {
    const { db } = await createManager(primary.url, { readReplicaUrl: replica.url });
    try {
      expect(db.readPool).not.toBe(db.pool);
      expect((await db.readPool.query<{ role: string }>('SELECT role FROM whoami')).rows[0]?.role).toBe('replica');
      expect((await db.pool.query<{ role: string }>('SELECT role FROM whoami')).rows[0]?.role).toBe('primary');
      const client = await db.readPool.connect();
      expect((await client.query<{ role: string }>('SELECT role FROM whoami')).rows[0]?.role).toBe('replica');
      client.release();
    } finally {
      await db.close();
    }
  });

  it('serves db.readPool from the primary while the replica is unreachable, as read() is', async () => {
    const unreachable = new URL(replica.url);
    unreachable.port = '1';
    const { db } = await createManager(primary.url, { readReplicaUrl: unreachable.toString(), retry: { baseDelayMs: 5 } });
    try {
      expect((await db.readPool.query<{ role: string }>('SELECT role FROM whoami')).rows[0]?.role).toBe('primary');
      const client = await db.readPool.connect();
      expect((await client.query<{ role: string }>('SELECT role FROM whoami')).rows[0]?.role).toBe('primary');
      client.release();
    } finally {
      await db.close();
    }
  });

  it('falls back to the primary when the replica is unreachable', async () => {
    const unreachable = new URL(replica.url);
    unreachable.port = '1';
    const { db, logger } = await createManager(primary.url, { readReplicaUrl: unreachable.toString(), retry: { baseDelayMs: 5 } });
    try {
      expect((await db.read<{ role: string }>('SELECT role FROM whoami')).rows[0]?.role).toBe('primary');
      expect(db.getPoolMetrics().replicaAvailable).toBe(false);
      expect(logger.lines.filter((l) => l.includes('replica unavailable'))).toHaveLength(1);
      const lease = await db.getConnection({ readOnly: true });
      expect((await lease.client.query<{ role: string }>('SELECT role FROM whoami')).rows[0]?.role).toBe('primary');
      lease.release();
    } finally {
      await db.close();
    }
  });
});

describe('close', () => {
  it('lets in-flight work finish, rejects queued callers and every later call with ManagerClosedError', async () => {
    const { db, appName } = await createManager(primary.url, { maxConnections: 1 });
    const inFlight = db.query<{ done: string }>("SELECT 'finished' AS done FROM pg_sleep(0.3)");
    await new Promise((r) => setTimeout(r, 50));
    const queued = db.query('SELECT 1').catch((e: unknown) => e);
    const queuedLease = db.getConnection().catch((e: unknown) => e);
    const closing = db.close({ timeoutMs: 5000 });
    expect(await queued).toBeInstanceOf(ManagerClosedError);
    expect(await queuedLease).toBeInstanceOf(ManagerClosedError);
    expect((await inFlight).rows[0]?.done).toBe('finished');
    await closing;
    await expect(db.query('SELECT 1')).rejects.toBeInstanceOf(ManagerClosedError);
    await expect(db.getConnection()).rejects.toBeInstanceOf(ManagerClosedError);
    await expect(db.transaction(async () => undefined)).rejects.toBeInstanceOf(ManagerClosedError);
    expect(await countConnections(appName)).toBe(0);
    await expect(db.close()).resolves.toBeUndefined();
  });

  it('returns within its deadline even when a lease is never released, reporting it leaked and not returned', async () => {
    const { db, appName, logger } = await createManager(primary.url, { maxConnections: 2 });
    const leaks = { detected: 0, resolved: 0 };
    db.addTracker({ leakDetected: () => leaks.detected++, leakResolved: () => leaks.resolved++ });
    await db.getConnection();
    const started = performance.now();
    await db.close({ timeoutMs: 300 });
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(240);
    expect(took).toBeLessThan(2000);
    expect(logger.lines.some((l) => l.includes('still leased'))).toBe(true);
    expect(leaks).toEqual({ detected: 1, resolved: 0 });
    expect(await eventually(() => countConnections(appName), (n) => n === 0)).toBe(0);
  });
});
