// Graded health against the real server: saturation, utilization, timeouts, schema failure, an unreachable replica.
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, HISTORY_SIZE } from '../../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('monitor_health');
});

afterAll(async () => {
  await database.drop();
});

const FAST_SNAPSHOTS = { snapshotIntervalMs: 20 };

describe('health', () => {
  it('saturating the pool turns health critical with a reason that says why, and it returns to healthy after the load', async () => {
    const { db } = await createManager(database.url, { monitoringEnabled: true, maxConnections: 2, monitor: FAST_SNAPSHOTS });
    try {
      expect(db.getHealthStatus()).toMatchObject({ status: 'healthy', reasons: [] });
      const holders = [await db.getConnection(), await db.getConnection()];
      // Three more callers than the pool has connections: they wait in the queue, and give back what they get.
      const waiters = Array.from({ length: 3 }, () => db.getConnection({ timeoutMs: 10_000 }).then((lease) => lease.release()));

      const critical = await eventually(
        async () => db.getHealthStatus(),
        (h) => h.status === 'critical' && h.reasons.some((r) => r.includes('in each of the last')),
        3000,
      );
      expect(critical.reasons).toContain('pool "primary": 2 of 2 connections in use (100% ≥ 95%)');
      expect(critical.reasons.join('\n')).toMatch(/pool "primary": 3 callers waiting for a connection, and callers have waited in each of the last \d+ snapshots/);
      expect(critical).toMatchObject({ utilization: 1, waiting: 3 });
      expect(db.getPoolMetrics()).toMatchObject({ status: 'critical', pools: { primary: { used: 2, waiting: 3 } } });

      for (const lease of holders) lease.release();
      await Promise.all(waiters);

      const healthy = await eventually(async () => db.getHealthStatus(), (h) => h.status === 'healthy', 3000);
      expect(healthy).toMatchObject({ status: 'healthy', reasons: [], utilization: 0, waiting: 0, timeoutRate: 0 });
      // The waits were real: the acquisition statistics saw them.
      expect(healthy.p99AcquisitionMs).toBeGreaterThan(5);
      const acquisition = db.getPoolMetrics().acquisition.primary!;
      expect(acquisition).toMatchObject({ timeouts: 0, failures: 0 });
      expect(acquisition.total).toBeGreaterThanOrEqual(5);
      expect(acquisition.maxMs).toBeGreaterThan(5);
    } finally {
      await db.close();
    }
  });

  it('a pool at 80% utilization is a warning', async () => {
    const { db } = await createManager(database.url, { monitoringEnabled: true, maxConnections: 5 });
    try {
      const leases = await Promise.all(Array.from({ length: 4 }, () => db.getConnection()));
      expect(db.getHealthStatus()).toMatchObject({ status: 'warning', reasons: ['pool "primary": 4 of 5 connections in use (80% ≥ 80%)'] });
      for (const lease of leases) lease.release();
      expect(db.getHealthStatus().status).toBe('healthy');
    } finally {
      await db.close();
    }
  });

  it('acquisition timeouts above 5% are critical, and leave the rate window after it passes', async () => {
    const { db } = await createManager(database.url, {
      monitoringEnabled: true,
      maxConnections: 1,
      monitor: { snapshotIntervalMs: 200, thresholds: { rateWindowSnapshots: 3 } },
    });
    try {
      const holder = await db.getConnection();
      for (let i = 0; i < 2; i++) await expect(db.getConnection({ timeoutMs: 30 })).rejects.toThrow();
      holder.release();
      const health = db.getHealthStatus();
      expect(health.status).toBe('critical');
      expect(health.reasons.join('\n')).toMatch(/pool "primary": 2 of \d+ acquisitions timed out in the last [\d.]+ s \([\d.]+% > 5%\)/);
      expect(health.timeoutRate).toBeGreaterThan(0.05);
      expect(db.getPoolMetrics().acquisition.primary).toMatchObject({ timeouts: 2 });

      const later = await eventually(async () => db.getHealthStatus(), (h) => h.status === 'healthy', 3000);
      expect(later.timeoutRate).toBe(0);
      // The totals keep them; only the rate forgets.
      expect(db.getPoolMetrics().acquisition.primary).toMatchObject({ timeouts: 2, timeoutRate: 0 });
    } finally {
      await db.close();
    }
  });

  it('the rate window spans rateWindowSnapshots full intervals: a timeout just after a snapshot is weighed with the interval before it', async () => {
    const { db } = await createManager(database.url, {
      monitoringEnabled: true,
      maxConnections: 1,
      monitor: { snapshotIntervalMs: 1500, thresholds: { rateWindowSnapshots: 1 } },
    });
    try {
      const snapshots = async (): Promise<number> => db.getPoolMetrics().history.primary?.length ?? 0;
      const nextSnapshot = async (): Promise<number> => {
        const seen = await snapshots();
        return eventually(snapshots, (n) => n > seen, 5000);
      };
      const intervalStart = await nextSnapshot();
      for (let i = 0; i < 199; i++) await db.query('SELECT 1');
      const holder = await db.getConnection();
      expect(await snapshots(), 'the 200 acquisitions fit in one interval').toBe(intervalStart);

      await nextSnapshot();
      await expect(db.getConnection({ timeoutMs: 30 })).rejects.toThrow();
      holder.release();
      // 1 timeout of 201 attempts (0.5%), not 1 of the 1 made since the latest snapshot (100%).
      expect(db.getHealthStatus()).toMatchObject({ status: 'healthy', timeoutRate: 0.005 });
    } finally {
      await db.close();
    }
  });

  it('a failed schema initialization is critical', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'monitor-health-'));
    try {
      await writeFile(join(dir, '001_broken.sql'), 'CREATE TABLE ok (id int);\nSELEC broken;\n');
      const { db } = await createManager(database.url, { monitoringEnabled: true, schemaInit: 'log', migrationsDir: dir });
      try {
        const health = db.getHealthStatus();
        expect(health.status).toBe('critical');
        expect(health.reasons).toEqual([expect.stringMatching(/^schema initialization failed: .*syntax error/)]);
        expect(db.getPoolMetrics()).toMatchObject({ status: 'critical', schema: { state: 'failed' } });
      } finally {
        await db.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('an unreachable replica is a warning, not critical: reads fall back to the primary', async () => {
    const unreachable = new URL(database.url);
    unreachable.port = '1';
    const { db } = await createManager(database.url, {
      monitoringEnabled: true,
      readReplicaUrl: unreachable.toString(),
      retry: { maxRetries: 0 },
    });
    try {
      await db.read('SELECT 1');
      const health = db.getHealthStatus();
      expect(health.status).toBe('warning');
      expect(health.reasons).toContain('replica unavailable (unreachable or out of connections): reads go to the primary');
      expect(health.reasons.join('\n')).toMatch(/pool "replica": 1 of 1 acquisitions failed to connect/);
      expect(db.getPoolMetrics().acquisition.replica).toMatchObject({ total: 0, failures: 1 });
    } finally {
      await db.close();
    }
  });

  it('rejects thresholds that make no sense', async () => {
    await expect(
      createManager(database.url, { monitoringEnabled: true, monitor: { thresholds: { utilizationWarning: 0.99, utilizationCritical: 0.9 } } }),
    ).rejects.toThrow(ConfigError);
    await expect(createManager(database.url, { monitoringEnabled: true, monitor: { snapshotIntervalMs: 0 } })).rejects.toThrow(
      'Invalid configuration for monitor.snapshotIntervalMs',
    );
  });

  it('rejects snapshot counts longer than the history, which could never be reached', async () => {
    const rejected = (thresholds: Record<string, number>) => createManager(database.url, { monitoringEnabled: true, monitor: { thresholds } });
    await expect(rejected({ suspectedLeakSnapshots: HISTORY_SIZE + 1 })).rejects.toThrow(
      `Invalid configuration for monitor.thresholds.suspectedLeakSnapshots: must be at most ${HISTORY_SIZE} (the monitor keeps ${HISTORY_SIZE} snapshots), got ${HISTORY_SIZE + 1}`,
    );
    await expect(rejected({ waitingSnapshots: HISTORY_SIZE + 1 })).rejects.toThrow(
      `Invalid configuration for monitor.thresholds.waitingSnapshots: must be at most ${HISTORY_SIZE} (`,
    );
    // The window needs the snapshot at its start as well as the intervals after it.
    await expect(rejected({ rateWindowSnapshots: HISTORY_SIZE })).rejects.toThrow(
      `Invalid configuration for monitor.thresholds.rateWindowSnapshots: must be at most ${HISTORY_SIZE - 1} (`,
    );
    const { db } = await createManager(database.url, {
      monitoringEnabled: true,
      monitor: { thresholds: { suspectedLeakSnapshots: HISTORY_SIZE, waitingSnapshots: HISTORY_SIZE, rateWindowSnapshots: HISTORY_SIZE - 1 } },
    });
    await db.close();
  });
});
