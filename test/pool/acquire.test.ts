// Timed acquisition: the timeout and its typed error, connections shared across managers, leases that always go back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionTimeoutError, LeaseReleasedError, type PostgresManager } from '../../src/index.js';
import { countConnections, createTestDatabase, eventually, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('acquire');
});

afterAll(async () => {
  await database.drop();
});

async function withManager(maxConnections: number, body: (db: PostgresManager, appName: string) => Promise<void>): Promise<void> {
  const { db, appName } = await createManager(database.url, { maxConnections });
  try {
    await body(db, appName);
  } finally {
    await db.close({ timeoutMs: 2000 });
  }
}

describe('timed acquisition', () => {
  it('times out a third caller on a pool of two with a typed error that describes the pool', async () => {
    await withManager(2, async (db) => {
      const a = await db.getConnection();
      const b = await db.getConnection();
      const started = performance.now();
      const error = await db.getConnection({ timeoutMs: 200 }).catch((e: unknown) => e);
      const waited = performance.now() - started;
      expect(error).toBeInstanceOf(ConnectionTimeoutError);
      const timeout = error as ConnectionTimeoutError;
      expect(timeout.code).toBe('CONNECTION_TIMEOUT');
      expect(timeout.poolName).toBe('primary');
      expect(timeout.timeoutMs).toBe(200);
      expect(timeout.message).toContain('total=2, active=2, idle=0, opening=0, waiting=1, max=2');
      expect(timeout.message).toContain('all connections were in use');
      expect(waited).toBeGreaterThanOrEqual(160);
      expect(waited).toBeLessThan(1500);
      a.release();
      const c = await db.getConnection({ timeoutMs: 200 });
      expect((await c.client.query('SELECT 1 AS one')).rows[0]).toEqual({ one: 1 });
      c.release();
      b.release();
    });
  });

  it('gives a connection that frees up after a waiter timed out to the next caller, never leaking it', async () => {
    await withManager(2, async (db, appName) => {
      const a = await db.getConnection();
      const b = await db.getConnection();
      const late = db.getConnection({ timeoutMs: 100 }).catch((e: unknown) => e);
      await new Promise((r) => setTimeout(r, 120));
      a.release();
      expect(await late).toBeInstanceOf(ConnectionTimeoutError);
      const c = await db.getConnection({ timeoutMs: 500 });
      c.release();
      b.release();
      expect(db.getPoolMetrics().pools.primary).toMatchObject({ total: 2, idle: 2, used: 0, waiting: 0 });
      expect(await countConnections(appName)).toBe(2);
    });
  });

  it('releases a connection that arrives just after its caller timed out', async () => {
    await withManager(1, async (db, appName) => {
      const held = await db.getConnection();
      const results = await Promise.allSettled(
        Array.from({ length: 5 }, (_, i) => db.getConnection({ timeoutMs: 40 + i * 5 })),
      );
      // Release in the same tick as the last timeout fires, so the hand-off races the timer.
      setTimeout(() => held.release(), 60);
      for (const r of results) if (r.status === 'fulfilled') r.value.release();
      const after = await db.getConnection({ timeoutMs: 1000 });
      after.release();
      const pool = db.getPoolMetrics().pools.primary;
      expect(pool.used).toBe(0);
      expect(pool.waiting).toBe(0);
      expect(await countConnections(appName)).toBeLessThanOrEqual(1);
    });
  });

  it('returns to the baseline of server connections after a burst with timeouts', async () => {
    await withManager(3, async (db, appName) => {
      const outcomes = await Promise.allSettled(
        Array.from({ length: 30 }, () => db.withConnection((c) => c.query('SELECT pg_sleep(0.05)'), { timeoutMs: 120 })),
      );
      expect(outcomes.some((o) => o.status === 'rejected')).toBe(true);
      for (const o of outcomes) if (o.status === 'rejected') expect(o.reason).toBeInstanceOf(ConnectionTimeoutError);
      expect(db.getPoolMetrics().pools.primary).toMatchObject({ used: 0, waiting: 0 });
      expect(await eventually(() => countConnections(appName), (n) => n <= 3)).toBeLessThanOrEqual(3);
    });
  });
});

describe('connections of several managers', () => {
  it('are of one class, so pg code serving eight pools sees one kind of client, not eight', async () => {
    await withManager(1, async (a) => {
      await withManager(1, async (b) => {
        const first = await a.withConnection(async (client) => Object.getPrototypeOf(client) as object);
        const second = await b.withConnection(async (client) => Object.getPrototypeOf(client) as object);
        expect(second).toBe(first);
        // Still the manager's timed subclass of pg's Client, not pg's class itself.
        expect(first).not.toBe((await import('pg')).default.Client.prototype);
        expect(Object.getPrototypeOf(first)).toBe((await import('pg')).default.Client.prototype);
      });
    });
  });
});

describe('leases', () => {
  it('withConnection releases the connection when the callback throws', async () => {
    await withManager(1, async (db) => {
      await expect(
        db.withConnection(async () => {
          throw new Error('callback failed');
        }),
      ).rejects.toThrow('callback failed');
      expect(db.getPoolMetrics().pools.primary.used).toBe(0);
      const lease = await db.getConnection({ timeoutMs: 200 });
      lease.release();
    });
  });

  it('treats a second release as harmless and refuses use after release', async () => {
    await withManager(1, async (db) => {
      const lease = await db.getConnection();
      lease.release();
      expect(() => lease.release()).not.toThrow();
      expect(() => lease.client).toThrow(LeaseReleasedError);
      expect(db.getPoolMetrics().pools.primary.used).toBe(0);
    });
  });

  it('routes a client.release() called by user code through the lease, so nothing is counted twice or lost', async () => {
    await withManager(1, async (db) => {
      const value = await db.withConnection(async (client) => {
        const { rows } = await client.query<{ one: number }>('SELECT 1 AS one');
        client.release();
        return rows[0]?.one;
      });
      expect(value).toBe(1);
      expect(db.getPoolMetrics().pools.primary).toMatchObject({ used: 0, idle: 1 });
      const lease = await db.getConnection({ timeoutMs: 200 });
      lease.client.release(true);
      expect(lease.isReleased).toBe(true);
      expect(db.getPoolMetrics().pools.primary).toMatchObject({ used: 0, total: 0 });
    });
  });

  it('rejects a timeout that pg-pool would read as "wait forever" or fire at once', async () => {
    await withManager(1, async (db) => {
      for (const timeoutMs of [0, -5, Number.NaN, 2 ** 31]) {
        await expect(db.getConnection({ timeoutMs })).rejects.toThrow(TypeError);
        await expect(db.query('SELECT 1', [], { timeoutMs })).rejects.toThrow(TypeError);
      }
      expect(db.getPoolMetrics().pools.primary).toMatchObject({ used: 0, waiting: 0 });
    });
  });

  it('releases on await using', async () => {
    await withManager(1, async (db) => {
      {
        await using lease = await db.getConnection();
        await lease.client.query('SELECT 1');
        expect(db.getPoolMetrics().pools.primary.used).toBe(1);
      }
      expect(db.getPoolMetrics().pools.primary.used).toBe(0);
    });
  });

  it('destroys a connection released while still inside a transaction', async () => {
    await withManager(1, async (db, appName) => {
      const lease = await db.getConnection();
      const { rows } = await lease.client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid');
      await lease.client.query('BEGIN');
      lease.release();
      const next = await db.getConnection();
      const again = await next.client.query<{ pid: number; tx: boolean }>(
        "SELECT pg_backend_pid() AS pid, now() = statement_timestamp() AS tx",
      );
      expect(again.rows[0]?.pid).not.toBe(rows[0]?.pid);
      next.release();
      expect(await eventually(() => countConnections(appName), (n) => n === 1)).toBe(1);
    });
  });
});
