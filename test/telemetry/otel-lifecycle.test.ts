// The tracker at the two ends of an app's life: created before the SDK (a warning), and the export the SDK makes after close().
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { metrics, trace } from '@opentelemetry/api';
import {
  AggregationTemporality,
  InMemoryMetricExporter,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricData,
} from '@opentelemetry/sdk-metrics';
import { createOtelTracker } from '../../src/telemetry/otel/otel-tracker.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';
import { createTelemetry, pointsOf, sumOf } from '../support/otel.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('otell');
});

afterAll(async () => {
  await database?.drop();
});

const NOOP_WARNING = /^otel-pg-manager: the meter provider is a no-op, so no pool metric will ever be exported .*Start the OpenTelemetry SDK/;

describe('a manager created before the OpenTelemetry SDK', () => {
  it('warns once, through its logger, that no metric will be exported', async () => {
    metrics.disable();
    trace.disable();
    const { db, logger } = await createManager(database.url, { monitoringEnabled: true });
    try {
      await db.query('SELECT 1');
      expect(logger.lines.filter((line) => NOOP_WARNING.test(line))).toHaveLength(1);
      expect(logger.lines).toHaveLength(1);
    } finally {
      await db.close();
    }
  });

  it('does not warn when the SDK came first, nor without monitoring', async () => {
    const telemetry = createTelemetry();
    try {
      const registered = await createManager(database.url, {
        monitoringEnabled: true,
        telemetry: { meterProvider: telemetry.meterProvider, tracerProvider: telemetry.tracerProvider },
      });
      await registered.db.close();
      expect(registered.logger.lines).toEqual([]);
    } finally {
      await telemetry.shutdown();
    }
    metrics.disable();
    const off = await createManager(database.url, { monitoringEnabled: false });
    await off.db.close();
    expect(off.logger.lines).toEqual([]);
  });
});

describe('the export an SDK makes at its shutdown, after db.close()', () => {
  it('still carries the pool gauges, with their last values', async () => {
    const exporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
    // An interval that never comes during the test: the only export is the one shutdown() makes.
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 60_000 });
    const meterProvider = new MeterProvider({ readers: [reader] });
    const { db } = await createManager(database.url, { monitoringEnabled: true, maxConnections: 3, telemetry: { meterProvider } });
    await db.query('SELECT 1');
    // The app's shutdown order: the manager first, then the SDK.
    await db.close();
    await meterProvider.shutdown();

    const exports = exporter.getMetrics();
    expect(exports.length).toBeGreaterThanOrEqual(1);
    const last: MetricData[] = exports[exports.length - 1]!.scopeMetrics.flatMap((scope) => scope.metrics);
    const primary = { 'db.client.connection.pool.name': 'primary', 'db.system.name': 'postgresql' };
    // The pools are closed: no connection is open or waited for, and the limit is the configured one.
    expect(pointsOf(last, 'db.client.connection.count', primary).map((p) => p.attributes['db.client.connection.state']).sort()).toEqual(['idle', 'used']);
    expect(sumOf(last, 'db.client.connection.count', primary)).toBe(0);
    expect(sumOf(last, 'db.client.connection.max', primary)).toBe(3);
    expect(pointsOf(last, 'db.client.connection.idle.min', primary)).toHaveLength(1);
    expect(pointsOf(last, 'db.client.connection.pending_requests', primary)).toHaveLength(1);
    // The histograms and counters are there as before.
    expect(pointsOf(last, 'db.client.operation.duration', primary)).toHaveLength(1);
    expect(pointsOf(last, 'db.client.connection.timeouts', primary)).toHaveLength(1);
  });
});

describe('a closed tracker beside an open one', () => {
  it('keeps no last values for a pool name an open tracker on the same provider reports', async () => {
    const telemetry = createTelemetry();
    const fake = (max: number, total: number) => ({
      name: 'primary',
      role: 'primary' as const,
      max,
      min: 0,
      server: { address: 'db', port: 5432, database: 'app' },
      counts: () => ({ total, idle: 0, waiting: 0, opening: 0 }),
    });
    const live = createOtelTracker({ meterProvider: telemetry.meterProvider, slowQueryThresholdMs: 1000 });
    live.poolAdded?.(fake(3, 2));
    const closed = createOtelTracker({ meterProvider: telemetry.meterProvider, slowQueryThresholdMs: 1000 });
    closed.poolAdded?.(fake(20, 0));
    await closed.close?.();
    const collected = await telemetry.collect();
    expect(pointsOf(collected, 'db.client.connection.max').map((p) => p.value)).toEqual([3]);
    expect(sumOf(collected, 'db.client.connection.count', { 'db.client.connection.state': 'used' })).toBe(2);
    await live.close?.();
    await telemetry.shutdown();
  });
});

/** A pool named `jobs` with `total` connections in use, counting how often the tracker reads it. */
function countedPool(total: number) {
  const pool = {
    reads: 0,
    name: 'jobs',
    role: 'primary' as const,
    max: 4,
    min: 0,
    server: { address: 'db', port: 5432, database: 'app' },
    counts: () => {
      pool.reads++;
      return { total, idle: 0, waiting: 0, opening: 0 };
    },
  };
  return pool;
}

describe('a pool removed from the tracker (it ended, or another owner took it over)', () => {
  it('is never read again; the next export has it at zero; a new pool of its name is read from then on', async () => {
    const telemetry = createTelemetry();
    const tracker = createOtelTracker({ meterProvider: telemetry.meterProvider, slowQueryThresholdMs: 1000 });
    const used = { 'db.client.connection.pool.name': 'jobs', 'db.client.connection.state': 'used' };
    const removed = countedPool(2);
    tracker.poolAdded?.(removed);
    expect(sumOf(await telemetry.collect(), 'db.client.connection.count', used)).toBe(2);
    tracker.poolRemoved?.(removed);
    // Zero, not a last live reading: the SDK goes on exporting whatever value an asynchronous series had last.
    expect(sumOf(await telemetry.collect(), 'db.client.connection.count', used)).toBe(0);
    expect(pointsOf(await telemetry.collect(), 'db.client.connection.max', { 'db.client.connection.pool.name': 'jobs' }).map((p) => p.value)).toEqual([0]);
    expect(removed.reads).toBe(1);

    const next = countedPool(3);
    tracker.poolAdded?.(next);
    const collected = await telemetry.collect();
    expect([removed.reads, next.reads]).toEqual([1, 1]);
    expect(sumOf(collected, 'db.client.connection.count', used)).toBe(3);
    await tracker.close?.();
    await telemetry.shutdown();
  });

  it('is not observed at all when a pool of the same name is added before the next collection', async () => {
    const telemetry = createTelemetry();
    const tracker = createOtelTracker({ meterProvider: telemetry.meterProvider, slowQueryThresholdMs: 1000 });
    const removed = countedPool(5);
    tracker.poolAdded?.(removed);
    tracker.poolRemoved?.(removed);
    tracker.poolAdded?.(countedPool(2));
    const collected = await telemetry.collect();
    expect(removed.reads).toBe(0);
    expect(pointsOf(collected, 'db.client.connection.count', { 'db.client.connection.state': 'used' }).map((p) => p.value)).toEqual([2]);
    await tracker.close?.();
    await telemetry.shutdown();
  });

  it('is not kept alive by a tracker nobody collects from', async () => {
    // A WeakRef only says whether anything holds the pool after a full collection; vitest runs without --expose-gc.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const tracker = createOtelTracker({ meterProvider: new MeterProvider(), slowQueryThresholdMs: 1000 });
    const refs = Array.from({ length: 50 }, (_, i) => {
      const pool = { ...countedPool(1), name: `tenant-${i}` };
      tracker.poolAdded?.(pool);
      tracker.poolRemoved?.(pool);
      return new WeakRef(pool);
    });
    // WeakRef targets stay alive until the job that made them ends.
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    expect(refs.filter((ref) => ref.deref() !== undefined)).toHaveLength(0);
    await tracker.close?.();
  });
});
