// The monitor against the real server: query statistics by fingerprint, slow-query warnings, bounded memory, history, fault isolation.
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { HISTORY_SIZE } from '../../src/telemetry/monitor/pools.js';
import type { PoolSnapshot } from '../../src/telemetry/monitor/report.js';
import { ShapeCache } from '../../src/sql/shape-cache.js';
import type { QueryShape } from '../../src/sql/shape.js';
import type { PoolTracker } from '../../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('monitor');
});

afterAll(async () => {
  await database.drop();
});

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe('query statistics', () => {
  it('groups texts that differ only in literals under one fingerprint, with executions, rows and errors by SQLSTATE', async () => {
    const { db } = await createManager(database.url, { monitoringEnabled: true });
    try {
      await db.query('CREATE TABLE IF NOT EXISTS items (id int PRIMARY KEY)');
      await db.query('INSERT INTO items SELECT g FROM generate_series(1, 5) AS g ON CONFLICT DO NOTHING');
      await db.query('SELECT id FROM items WHERE id > 1');
      await db.query('select id\n  from items where id > 3 -- the top two');
      await db.query('SELECT id FROM items WHERE id > $1', [0]);
      await expect(db.query('SELECT 1 / 0 AS g')).rejects.toMatchObject({ code: '22012' });
      await expect(db.query('SELECT 2 / 0 AS g')).rejects.toMatchObject({ code: '22012' });

      const stats = db.getQueryStats();
      const reads = stats.filter((s) => s.collection === 'items' && s.operation === 'SELECT');
      expect(reads).toHaveLength(1);
      expect(reads[0]).toMatchObject({ query: 'SELECT id FROM items WHERE id > $1', executions: 3, errors: 0, rows: 4 + 2 + 5 });
      const division = stats.find((s) => s.query === 'SELECT $1 / $2 AS g');
      expect(division).toMatchObject({ executions: 2, errors: 2, errorsByCode: { '22012': 2 } });
      expect(reads[0]!.p95Ms).toBeGreaterThan(0);
      expect(reads[0]!.maxMs).toBeGreaterThanOrEqual(reads[0]!.p95Ms);
      expect(Math.abs(Date.parse(reads[0]!.lastExecutionAt) - Date.now())).toBeLessThan(60_000);
    } finally {
      await db.close();
    }
  });

  it('stamps lastExecutionAt on the wall clock even when it has drifted from performance.timeOrigin', async () => {
    const { db } = await createManager(database.url, { monitoringEnabled: true });
    try {
      await db.query('SELECT 1 AS drifted');
      // After a long uptime the wall clock can be far from timeOrigin + performance.now(): an hour, here.
      const wallClock = Date.now() + 3_600_000;
      vi.spyOn(Date, 'now').mockReturnValue(wallClock);
      const stats = (() => {
        try {
          return db.getQueryStats();
        } finally {
          vi.restoreAllMocks();
        }
      })();
      const lastExecutionAt = Date.parse(stats.find((s) => s.query === 'SELECT $1 AS drifted')!.lastExecutionAt);
      expect(wallClock - lastExecutionAt).toBeGreaterThanOrEqual(0);
      expect(wallClock - lastExecutionAt).toBeLessThan(5000);
    } finally {
      await db.close();
    }
  });

  it('after 100,000 distinct query texts the tracked fingerprints stay within the bound, and evictions are counted', async () => {
    const { db } = await createManager(database.url, {
      monitoringEnabled: true,
      maxConnections: 8,
      sqlNormalizer: 'libpg-query',
      monitor: { maxTrackedQueries: 1000 },
    });
    try {
      const total = 100_000;
      let next = 0;
      // Eight callers in parallel over one pool; every text (and shape) is new.
      await Promise.all(
        Array.from({ length: 8 }, async () => {
          while (next < total) {
            const i = next++;
            await db.query(`SELECT ${i} AS c${i}`);
          }
        }),
      );
      expect(db.getPoolMetrics().queries).toEqual({ tracked: 1000, evicted: total - 1000, normalizer: 'libpg-query' });
      expect(db.getQueryStats(5000)).toHaveLength(1000);
    } finally {
      await db.close();
    }
  }, 120_000);
});

describe('slow queries', () => {
  it('counts every slow execution but warns once per fingerprint per interval', async () => {
    // Every sleep is well clear of the threshold, and the interval well past the whole first round.
    const warningIntervalMs = 3000;
    const { db, logger } = await createManager(database.url, {
      monitoringEnabled: true,
      slowQueryThresholdMs: 100,
      monitor: { slowQueryWarningIntervalMs: warningIntervalMs },
    });
    try {
      const secret = 'p4ssw0rd-value';
      await db.query('SELECT pg_sleep(0.12), $1::text AS v', [secret]);
      // The first warning's time is no later than this.
      const firstWarned = performance.now();
      for (let i = 0; i < 4; i++) await db.query('SELECT pg_sleep(0.12), $1::text AS v', [secret]);
      await db.query("SELECT pg_sleep(0.3), 'inline literal' AS w");
      await db.query('SELECT 1');

      const slowLines = (): string[] => logger.lines.filter((l) => l.includes('slow query'));
      expect(slowLines()).toHaveLength(2);
      expect(slowLines()[0]).toMatch(/^otel-pg-manager: slow query on pool "primary": \d+ ms \(threshold 100 ms\) \[[0-9a-f]{16}\] SELECT pg_sleep\(\$1\), \$2::text AS v$/);

      const slow = db.getSlowQueries(10);
      expect(slow.map((s) => [s.query, s.slowExecutions, s.executions])).toEqual([
        ["SELECT pg_sleep($1), $2 AS w", 1, 1],
        ['SELECT pg_sleep($1), $2::text AS v', 5, 5],
      ]);
      expect(slow[0]!.maxMs).toBeGreaterThanOrEqual(slow[1]!.maxMs);
      expect(db.getSlowQueries(1)).toHaveLength(1);

      // After the interval, the next slow execution warns again and says how many went unlogged.
      await sleep(warningIntervalMs - (performance.now() - firstWarned) + 50);
      await db.query('SELECT pg_sleep(0.12), $1::text AS v', [secret]);
      expect(slowLines()).toHaveLength(3);
      expect(slowLines()[2]).toContain('4 more slow executions since the last warning');

      const everything = JSON.stringify({ lines: logger.lines, metrics: db.getPoolMetrics(), stats: db.getQueryStats() });
      expect(everything).not.toContain(secret);
      expect(everything).not.toContain('inline literal');
    } finally {
      await db.close();
    }
  });
});

describe('history', () => {
  it('keeps at most 60 snapshots per pool, taken on the interval, and stops on close()', async () => {
    const { db } = await createManager(database.url, { monitoringEnabled: true, monitor: { snapshotIntervalMs: 5 } });
    await db.query('SELECT 1');
    const full = await eventually(async () => db.getPoolMetrics().history.primary ?? [], (h) => h.length === HISTORY_SIZE, 5000);
    expect(full).toHaveLength(60);
    await sleep(100);
    const later = db.getPoolMetrics().history.primary!;
    expect(later).toHaveLength(60);
    expect(later[59]!.timestamp > full[59]!.timestamp).toBe(true);
    expect(later[59]).toMatchObject({ poolSize: 1, available: 1, active: 0, waiting: 0, utilization: 0, acquisitionTimeouts: 0, acquisitionFailures: 0 });
    expect(later[59]!.totalAcquisitions).toBeGreaterThanOrEqual(2);

    await db.close();
    const closed = db.getPoolMetrics().history.primary!;
    await sleep(60);
    expect(db.getPoolMetrics().history.primary![59]).toEqual(closed[59]);
  });

  it('records per-interval acquisition figures and slow queries in the snapshot that follows them', async () => {
    const { db } = await createManager(database.url, { monitoringEnabled: true, slowQueryThresholdMs: 20, monitor: { snapshotIntervalMs: 200 } });
    try {
      await db.query('SELECT pg_sleep(0.03)');
      const history = async (): Promise<PoolSnapshot[]> => db.getPoolMetrics().history.primary ?? [];
      // The timer starts before the warm-up connection, so a snapshot may come before the query.
      const withSlow = await eventually(history, (h) => h.some((s) => s.slowQueries > 0), 3000);
      const at = withSlow.findIndex((s) => s.slowQueries > 0);
      const snapshot = withSlow[at];
      expect(snapshot).toMatchObject({ slowQueries: 1 });
      expect(snapshot!.avgAcquisitionMs).toBeGreaterThanOrEqual(0);
      expect(snapshot!.maxAcquisitionMs).toBeGreaterThanOrEqual(snapshot!.avgAcquisitionMs);
      const later = await eventually(history, (h) => h.length > at + 1, 3000);
      expect(later[at + 1]).toMatchObject({ slowQueries: 0, avgAcquisitionMs: 0, maxAcquisitionMs: 0 });
    } finally {
      await db.close();
    }
  });
});

describe('getPoolMetrics()', () => {
  it('is JSON-serializable and has the documented parts', async () => {
    const { db } = await createManager(database.url, { monitoringEnabled: true, monitor: { snapshotIntervalMs: 20 } });
    try {
      await db.query('SELECT 1');
      await eventually(async () => db.getPoolMetrics().history.primary ?? [], (h) => h.length >= 1, 3000);
      const metrics = db.getPoolMetrics();
      expect(Object.keys(metrics).sort()).toEqual(
        ['acquisition', 'checkedAt', 'history', 'leaks', 'pools', 'queries', 'reasons', 'replicaAvailable', 'schema', 'slowQueries', 'status'].sort(),
      );
      expect(JSON.parse(JSON.stringify(metrics))).toEqual(metrics);
    } finally {
      await db.close();
    }
  });
});

describe('isolation', () => {
  it('a tracker that throws on every call leaves every query working, and is disabled with one warning', async () => {
    // Well above what any other lease here is held for, so only the one held on purpose counts.
    const { db, logger } = await createManager(database.url, { monitoringEnabled: true, leakDetectionThresholdMs: 300 });
    try {
      const boom = (): never => {
        throw new Error('tracker exploded');
      };
      const hostile: PoolTracker = {
        poolAdded: boom,
        captureContext: boom,
        acquired: boom,
        acquireTimedOut: boom,
        acquireFailed: boom,
        released: boom,
        connectionCreated: boom,
        queryFinished: boom,
        retried: boom,
        leakDetected: boom,
        leakResolved: boom,
        close: boom,
      };
      db.addTracker(hostile);

      expect((await db.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      expect((await db.read('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
      expect(await db.transaction(async (client) => (await client.query('SELECT 3 AS three')).rows)).toEqual([{ three: 3 }]);
      const lease = await db.getConnection();
      await eventually(async () => db.getPoolMetrics().leaks.detected, (n) => n > 0, 5000);
      lease.release();
      expect(await db.withConnection(async (client) => (await client.query('SELECT 4 AS four')).rows)).toEqual([{ four: 4 }]);

      expect(logger.lines.filter((l) => l.includes('tracker exploded'))).toHaveLength(1);
      // The monitor went on counting beside it.
      expect(db.getQueryStats().map((s) => s.query)).toContain('SELECT $1 AS one');
      expect(db.getPoolMetrics().leaks).toMatchObject({ detected: 1, resolved: 1 });
    } finally {
      await db.close();
    }
  });

  it('a fault inside the monitor disables it with one warning; queries go on and health says statistics are missing', async () => {
    class FaultyShapes extends ShapeCache {
      override shape(): QueryShape {
        throw new Error('shape cache corrupted');
      }
    }
    const { db, logger } = await createManager(database.url, { monitoringEnabled: true, monitor: { shapes: new FaultyShapes(10), snapshotIntervalMs: 10 } });
    try {
      for (let i = 0; i < 5; i++) expect((await db.query('SELECT $1::int AS n', [i])).rows).toEqual([{ n: i }]);
      await sleep(50);
      expect(logger.lines.filter((l) => l.includes('monitor'))).toEqual([
        'otel-pg-manager: the in-process monitor failed in queryFinished and was disabled; queries continue without it (shape cache corrupted)',
      ]);
      const metrics = db.getPoolMetrics();
      expect(metrics.status).toBe('warning');
      expect(metrics.reasons).toEqual(['in-process monitor disabled after an internal error (shape cache corrupted); statistics are unavailable']);
      expect(metrics.history).toEqual({});
      expect(db.getSlowQueries()).toEqual([]);
      expect(db.getHealthStatus().status).toBe('warning');
    } finally {
      await db.close();
    }
  });

  it('with MONITORING_ENABLED=false no tracker is attached: no statistics, health from the manager alone', async () => {
    const { db } = await createManager(database.url, { monitoringEnabled: undefined, env: { MONITORING_ENABLED: 'false' } });
    try {
      expect(db.config.monitoringEnabled).toBe(false);
      await db.query('SELECT 1');
      const lease = await db.getConnection();
      // No tracker could report a leak, so no borrower stack is captured.
      expect(lease.borrower).toBeUndefined();
      lease.release();
      expect(db.getPoolMetrics()).toMatchObject({
        status: 'healthy',
        reasons: [],
        acquisition: {},
        slowQueries: [],
        queries: { tracked: 0, evicted: 0 },
        history: {},
      });
      expect(db.getQueryStats()).toEqual([]);
    } finally {
      await db.close();
    }
  });
});
