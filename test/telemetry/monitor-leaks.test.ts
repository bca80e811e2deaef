// Leak detection through the monitor against the real server: one report per lease with the borrower's line, resolution on late release, the utilization heuristic.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresManager } from '../../src/index.js';
import { createTestDatabase, eventually, holdAdvisoryLock, processIdOf, type TestDatabase } from '../support/db.js';
import { createManager, type CapturingLogger } from '../support/manager.js';
import { firstFrame, here } from '../support/stack.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('monitor_leaks');
});

afterAll(async () => {
  await database.drop();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

async function leakyManager(options: Parameters<typeof createManager>[1] = {}): Promise<{ db: PostgresManager; logger: CapturingLogger }> {
  return createManager(database.url, {
    monitoringEnabled: true,
    leakDetectionThresholdMs: 100,
    maxConnections: 3,
    ...options,
  });
}

const leakLines = (logger: CapturingLogger): string[] => logger.lines.filter((l) => l.includes('connection leak detection triggered'));

describe('leak detection', () => {
  it('reports a lease held past the threshold once, with a stack at the line that acquired it, and resolves it on release', async () => {
    const { db, logger } = await leakyManager();
    try {
      // here() shares the line with the acquisition: the reported stack must point at this very line.
      const lease = await db.getConnection(); const acquiredAt = here();

      const detected = await eventually(async () => db.getPoolMetrics().leaks, (l) => l.active.length === 1, 3000);
      const [leak] = detected.active;
      expect(leak).toMatchObject({ pool: 'primary', role: 'primary', leaseId: lease.id });
      expect(leak!.heldMs).toBeGreaterThanOrEqual(100);
      expect(firstFrame(leak!.stack)).toBe(acquiredAt);
      expect(leak!.stack).not.toContain('src/manager.ts');

      // Several more sweeps: still one report.
      await sleep(300);
      expect(db.getPoolMetrics().leaks.detected).toBe(1);
      expect(leakLines(logger)).toHaveLength(1);
      expect(leakLines(logger)[0]).toContain(`lease #${lease.id} of pool "primary"`);
      expect(firstFrame(leakLines(logger)[0]!.split('acquired at:\n')[1])).toBe(acquiredAt);
      expect(db.getHealthStatus().reasons.join('\n')).toContain('1 connection is held past the leak detection threshold');

      lease.release();
      const after = db.getPoolMetrics().leaks;
      expect(after).toMatchObject({ detected: 1, resolved: 1, active: [] });
      expect(after.recentlyResolved[0]).toMatchObject({ leaseId: lease.id, pool: 'primary' });
      expect(after.recentlyResolved[0]!.heldMs).toBeGreaterThanOrEqual(400);
      expect(firstFrame(after.recentlyResolved[0]!.stack)).toBe(acquiredAt);
      expect(logger.lines.filter((l) => l.includes('(unleaked)'))).toEqual([
        expect.stringContaining(`previously reported leaked lease #${lease.id} of pool "primary" was returned after`),
      ]);
      expect(db.getHealthStatus().status).toBe('healthy');
    } finally {
      await db.close();
    }
  });

  it("points at the caller's line when the connection was taken through withConnection, not at the package", async () => {
    const { db } = await leakyManager();
    try {
      const held = db.withConnection(async () => { await sleep(400); }); const line = here();
      const detected = await eventually(async () => db.getPoolMetrics().leaks, (l) => l.active.length === 1, 3000);
      expect(firstFrame(detected.active[0]!.stack)).toBe(line);
      await held;
      expect(db.getPoolMetrics().leaks).toMatchObject({ detected: 1, resolved: 1, active: [] });
    } finally {
      await db.close();
    }
  });

  it('reports a db.query held past the threshold without a stack: the manager releases it, so it is a long statement, not a leak in user code', async () => {
    const { db } = await leakyManager();
    try {
      const lock = await holdAdvisoryLock(database.name, 7001);
      const running = db.query('SELECT pg_advisory_lock(7001), 1 AS waited');
      const detected = await eventually(async () => db.getPoolMetrics().leaks, (l) => l.active.length === 1, 3000);
      expect(detected.active[0]!.stack).toBeUndefined();
      // Without a stack, the statement is what says where to look.
      expect(detected.active[0]).toMatchObject({ statement: 'SELECT pg_advisory_lock($1), $2 AS waited', statementRunning: true });
      await lock.release();
      await running;
      expect(db.getPoolMetrics().leaks.resolved).toBe(1);
    } finally {
      await db.close();
    }
  });

  it('names what the leaked connection last ran, normalized, and that it is idle; the literal shows nowhere', async () => {
    const { db, logger } = await leakyManager();
    try {
      const lease = await db.getConnection();
      await lease.client.query("SELECT 'order-7731' AS ref, 42 AS n WHERE $1::int > 0", [1]);
      const detected = await eventually(async () => db.getPoolMetrics().leaks, (l) => l.active.length === 1, 3000);
      expect(detected.active[0]).toMatchObject({ statement: 'SELECT $1 AS ref, $2 AS n WHERE $3::int > $4', statementRunning: false });
      expect(leakLines(logger)[0]).toContain('held for ');
      expect(leakLines(logger)[0]).toContain('without being released, its last statement SELECT $1 AS ref, $2 AS n WHERE $3::int > $4; acquired at:');
      lease.release();
      const after = db.getPoolMetrics().leaks;
      // The report after the return still says what the lease had been doing.
      expect(after.recentlyResolved[0]).toMatchObject({ leaseId: lease.id, statement: 'SELECT $1 AS ref, $2 AS n WHERE $3::int > $4' });
      expect(JSON.stringify(after) + logger.lines.join('\n')).not.toContain('order-7731');
    } finally {
      await db.close();
    }
  });

  it('names the statement still running on a leaked connection, and nothing for one that ran none', async () => {
    const { db, logger } = await leakyManager();
    try {
      const lock = await holdAdvisoryLock(database.name, 7002);
      const idle = await db.getConnection();
      const busy = await db.getConnection();
      const running = busy.client.query('SELECT pg_advisory_lock(7002), 1 AS waited');
      const detected = await eventually(async () => db.getPoolMetrics().leaks, (l) => l.active.length === 2, 3000);
      const byLease = new Map(detected.active.map((leak) => [leak.leaseId, leak]));
      expect(byLease.get(busy.id)).toMatchObject({ statement: 'SELECT pg_advisory_lock($1), $2 AS waited', statementRunning: true });
      expect(byLease.get(idle.id)).toBeDefined();
      expect(byLease.get(idle.id)).not.toHaveProperty('statement');
      expect(leakLines(logger).find((l) => l.includes(`lease #${busy.id} `))).toContain('without being released, running SELECT pg_advisory_lock($1), $2 AS waited;');
      expect(leakLines(logger).find((l) => l.includes(`lease #${idle.id} `))).toContain('without being released; acquired at:');
      await lock.release();
      await running;
      idle.release();
      busy.release();
    } finally {
      await db.close();
    }
  });

  it('names nothing of what an earlier lease ran on the same connection', async () => {
    const { db } = await leakyManager({ maxConnections: 1 });
    try {
      const earlier = await db.getConnection();
      await earlier.client.query("SELECT 'earlier-lease' AS tag");
      const earlierPid = processIdOf(earlier.client);
      earlier.release();
      const later = await db.getConnection();
      expect(processIdOf(later.client)).toBe(earlierPid);
      const detected = await eventually(async () => db.getPoolMetrics().leaks, (l) => l.active.length === 1, 3000);
      expect(detected.active[0]).toMatchObject({ leaseId: later.id });
      expect(detected.active[0]).not.toHaveProperty('statement');
      later.release();
    } finally {
      await db.close();
    }
  });

  it('names a prepared statement run by its name alone by the text it was prepared with', async () => {
    const { db } = await leakyManager();
    try {
      const lock = await holdAdvisoryLock(database.name, 7003);
      const lease = await db.getConnection();
      // Prepared (and run) once with a free key; then run by name alone, which pg sends without any text.
      await lease.client.query({ name: 'take-lock', text: 'SELECT pg_advisory_xact_lock($1)', values: [7004] });
      const running = lease.client.query({ name: 'take-lock', values: [7003] } as unknown as string);
      const detected = await eventually(async () => db.getPoolMetrics().leaks, (l) => l.active.length === 1, 3000);
      expect(detected.active[0]).toMatchObject({ statement: 'SELECT pg_advisory_xact_lock($1)', statementRunning: true });
      await lock.release();
      await running;
      lease.release();
    } finally {
      await db.close();
    }
  });

  it('with leak detection off, a long hold is not reported and no stack is taken', async () => {
    const { db, logger } = await leakyManager({ leakDetectionThresholdMs: 0 });
    try {
      const lease = await db.getConnection();
      expect(lease.borrower).toBeUndefined();
      await sleep(300);
      lease.release();
      expect(db.getPoolMetrics().leaks).toMatchObject({ detected: 0, resolved: 0, active: [] });
      expect(leakLines(logger)).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it('sustained utilization at or above 90% is reported as a suspected leak, and clears when it falls', async () => {
    const { db } = await leakyManager({
      leakDetectionThresholdMs: 0,
      maxConnections: 2,
      monitor: { snapshotIntervalMs: 20, thresholds: { suspectedLeakSnapshots: 5 } },
    });
    try {
      const leases = [await db.getConnection(), await db.getConnection()];
      const leaks = await eventually(async () => db.getPoolMetrics().leaks, (l) => l.suspected.length === 1, 3000);
      expect(leaks.suspected[0]).toMatchObject({ pool: 'primary', role: 'primary', minUtilization: 1 });
      expect(leaks.suspected[0]!.snapshots).toBeGreaterThanOrEqual(5);
      const health = db.getHealthStatus();
      expect(health.reasons.some((r) => r.includes('suspected connection leak'))).toBe(true);

      for (const lease of leases) lease.release();
      const cleared = await eventually(async () => db.getPoolMetrics().leaks, (l) => l.suspected.length === 0, 3000);
      expect(cleared.suspected).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
