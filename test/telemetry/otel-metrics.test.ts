// The OpenTelemetry tracker's metrics after a scripted workload against the real server, read with the SDK.
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { readFileSync } from 'node:fs';
import type { Histogram } from '@opentelemetry/sdk-metrics';
import { ConnectionTimeoutError, type Lease, type PostgresManager } from '../../src/index.js';
import { createOtelTracker } from '../../src/telemetry/otel/otel-tracker.js';
import { INSTRUMENTATION_SCOPE } from '../../src/telemetry/otel/scope.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';
import { createTelemetry, histogramCount, pointsOf, sumOf, type Telemetry } from '../support/otel.js';

const PRIMARY = { 'db.client.connection.pool.name': 'primary', 'db.system.name': 'postgresql' };
const REPLICA = { 'db.client.connection.pool.name': 'replica', 'db.system.name': 'postgresql' };
const USED = { 'db.client.connection.state': 'used' };
const IDLE = { 'db.client.connection.state': 'idle' };
const ACQUIRED = { 'pg_manager.outcome': 'acquired' };

let primaryDb: TestDatabase;
let replicaDb: TestDatabase;
let telemetry: Telemetry;
let manager: PostgresManager | undefined;

beforeAll(async () => {
  // A second database on the same server stands in for the replica: a separate pool with its own series.
  [primaryDb, replicaDb] = await Promise.all([createTestDatabase('otelm_p'), createTestDatabase('otelm_r')]);
});

afterAll(async () => {
  await Promise.all([primaryDb?.drop(), replicaDb?.drop()]);
});

afterEach(async () => {
  await manager?.close({ timeoutMs: 1000 });
  manager = undefined;
  await telemetry?.shutdown();
});

async function start(maxConnections: number): Promise<PostgresManager> {
  telemetry = createTelemetry();
  const { db } = await createManager(primaryDb.url, {
    readReplicaUrl: replicaDb.url,
    maxConnections,
    monitoringEnabled: true,
    leakDetectionThresholdMs: 0,
    telemetry: { meterProvider: telemetry.meterProvider, tracerProvider: telemetry.tracerProvider },
  });
  manager = db;
  return db;
}

describe('OpenTelemetry metrics', () => {
  it('counts every acquisition and every induced timeout, per pool; a timed-out wait is no wait_time sample', async () => {
    const db = await start(3);
    const before = await telemetry.collect();
    const baseline = {
      primary: histogramCount(before, 'db.client.connection.wait_time', { ...PRIMARY, ...ACQUIRED }),
      replica: histogramCount(before, 'db.client.connection.wait_time', { ...REPLICA, ...ACQUIRED }),
    };

    for (let i = 0; i < 5; i++) await db.query('SELECT 1');
    for (let i = 0; i < 4; i++) await db.read('SELECT 1');
    const leases: Lease[] = [];
    for (let i = 0; i < 3; i++) leases.push(await db.getConnection());
    for (let i = 0; i < 2; i++) {
      await expect(db.getConnection({ timeoutMs: 50 })).rejects.toBeInstanceOf(ConnectionTimeoutError);
    }

    const after = await telemetry.collect();
    expect(histogramCount(after, 'db.client.connection.wait_time', { ...PRIMARY, ...ACQUIRED }) - baseline.primary).toBe(5 + 3);
    expect(histogramCount(after, 'db.client.connection.wait_time', { ...REPLICA, ...ACQUIRED }) - baseline.replica).toBe(4);
    expect(sumOf(after, 'db.client.connection.timeouts', PRIMARY)).toBe(2);
    // "The time it took to obtain an open connection": a wait that timed out obtained none (the timeouts counter has it).
    expect(histogramCount(after, 'db.client.connection.wait_time', PRIMARY) - baseline.primary).toBe(5 + 3);
    expect(sumOf(after, 'db.client.connection.timeouts', REPLICA)).toBe(0);
    for (const lease of leases) lease.release();
  });

  it('reports count{state=used} equal to the leases held at collection, and each pool as its own series', async () => {
    const db = await start(4);
    await db.read('SELECT 1');
    const leases = [await db.getConnection(), await db.getConnection(), await db.getConnection({ readOnly: true })];
    await db.query('SELECT 1');

    const held = await telemetry.collect();
    expect(sumOf(held, 'db.client.connection.count', { ...PRIMARY, ...USED })).toBe(2);
    expect(sumOf(held, 'db.client.connection.count', { ...REPLICA, ...USED })).toBe(1);
    expect(sumOf(held, 'db.client.connection.count', { ...PRIMARY, ...IDLE })).toBe(db.getPoolMetrics().pools.primary.idle);
    expect(sumOf(held, 'db.client.connection.max', PRIMARY)).toBe(4);
    expect(sumOf(held, 'db.client.connection.max', REPLICA)).toBe(4);
    expect(pointsOf(held, 'db.client.connection.idle.min', PRIMARY)).toHaveLength(1);
    expect(sumOf(held, 'db.client.connection.pending_requests', PRIMARY)).toBe(0);
    // Exactly one used and one idle series per pool: pools never share or mix their numbers.
    expect(pointsOf(held, 'db.client.connection.count')).toHaveLength(4);

    for (const lease of leases) lease.release();
    const released = await telemetry.collect();
    expect(sumOf(released, 'db.client.connection.count', USED)).toBe(0);
    expect(histogramCount(released, 'db.client.connection.use_time', PRIMARY)).toBeGreaterThanOrEqual(2);
  });

  it('reports pending requests while callers wait', async () => {
    const db = await start(1);
    const lease = await db.getConnection();
    const waiting = [db.getConnection({ timeoutMs: 5000 }), db.getConnection({ timeoutMs: 5000 })];
    const during = await telemetry.collect();
    expect(sumOf(during, 'db.client.connection.pending_requests', PRIMARY)).toBe(2);
    lease.release();
    for (const next of waiting) (await next).release();
    expect(sumOf(await telemetry.collect(), 'db.client.connection.pending_requests', PRIMARY)).toBe(0);
  });

  it('records operation duration in seconds with the advised buckets, by db.query.summary, server and pool', async () => {
    const db = await start(2);
    await db.query('SELECT 1');
    await db.read('SELECT 2');
    await expect(db.query('SELECT * FROM no_such_table')).rejects.toMatchObject({ code: '42P01' });

    const collected = await telemetry.collect();
    const ok = pointsOf(collected, 'db.client.operation.duration', { ...PRIMARY, 'db.query.summary': 'SELECT' }).filter(
      (p) => p.attributes['error.type'] === undefined,
    );
    expect(ok).toHaveLength(1);
    expect(ok[0]!.attributes['db.namespace']).toBe(primaryDb.name);
    expect(ok[0]!.attributes['server.address']).toBe('127.0.0.1');
    expect(ok[0]!.attributes['server.port']).toBe(Number(new URL(primaryDb.url).port));
    expect(ok[0]!.attributes).not.toHaveProperty('db.operation.name');
    const histogram = ok[0]!.value as Histogram;
    expect(histogram.count).toBe(1);
    expect(histogram.buckets.boundaries).toEqual([0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10]);
    expect(histogram.sum).toBeLessThan(5);
    expect(histogramCount(collected, 'db.client.operation.duration', { ...REPLICA, 'db.namespace': replicaDb.name })).toBe(1);

    const failed = pointsOf(collected, 'db.client.operation.duration', { ...PRIMARY, 'error.type': '42P01' });
    expect(failed).toHaveLength(1);
    expect(failed[0]!.attributes).toMatchObject({ 'db.response.status_code': '42P01', 'db.query.summary': 'SELECT no_such_table' });
    expect(failed[0]!.attributes).not.toHaveProperty('db.collection.name');
    // Never the query text as a metric attribute.
    for (const metric of collected) {
      for (const point of metric.dataPoints) expect(point.attributes).not.toHaveProperty('db.query.text');
    }
  });

  it('gives the connection histograms second-scale buckets and units', async () => {
    const db = await start(2);
    await db.query('SELECT 1');
    const collected = await telemetry.collect();
    for (const name of ['db.client.connection.wait_time', 'db.client.connection.use_time', 'db.client.connection.create_time']) {
      const metric = collected.find((m) => m.descriptor.name === name);
      expect(metric?.descriptor.unit, name).toBe('s');
      const boundaries = (metric!.dataPoints[0]!.value as Histogram).buckets.boundaries;
      expect(Math.max(...boundaries), name).toBeLessThanOrEqual(300);
      expect(boundaries[0], name).toBeLessThan(0.01);
    }
    expect(histogramCount(collected, 'db.client.connection.create_time', PRIMARY)).toBeGreaterThanOrEqual(1);
  });

  it('stops reading pool counts once the tracker is closed, and observes their last values instead', async () => {
    telemetry = createTelemetry();
    const counts = vi.fn(() => ({ total: 3, idle: 1, waiting: 0, opening: 0 }));
    const pool = { name: 'fake', role: 'primary' as const, max: 5, min: 0, server: { address: 'db', port: 5432, database: 'app' }, counts };
    const tracker = createOtelTracker({ meterProvider: telemetry.meterProvider, slowQueryThresholdMs: 1000 });
    tracker.poolAdded?.(pool);
    const collected = await telemetry.collect();
    expect(sumOf(collected, 'db.client.connection.count', { 'db.client.connection.pool.name': 'fake', ...USED })).toBe(2);
    // One read per pool per collection, however many gauges it feeds.
    expect(counts).toHaveBeenCalledTimes(1);
    await tracker.close?.();
    // Read once more at close, for the last values; never after.
    expect(counts).toHaveBeenCalledTimes(2);
    const afterClose = await telemetry.collect();
    expect(counts).toHaveBeenCalledTimes(2);
    expect(sumOf(afterClose, 'db.client.connection.count', { 'db.client.connection.pool.name': 'fake', ...USED })).toBe(2);
    // A newer tracker on the same provider reporting the same pool name takes the series over.
    const next = createOtelTracker({ meterProvider: telemetry.meterProvider, slowQueryThresholdMs: 1000 });
    next.poolAdded?.({ ...pool, counts: () => ({ total: 1, idle: 1, waiting: 0, opening: 0 }) });
    const taken = await telemetry.collect();
    expect(pointsOf(taken, 'db.client.connection.count', { 'db.client.connection.pool.name': 'fake', ...USED }).map((p) => p.value)).toEqual([0]);
    await next.close?.();
  });

  it('emits db.client.connection.max by default, db.client.connection.limit with OTEL_SEMCONV_STABILITY_OPT_IN=database, both with database/dup', async () => {
    const pool = { name: 'limits', role: 'primary' as const, max: 7, min: 0, server: { address: 'db', port: 5432, database: 'app' }, counts: () => ({ total: 0, idle: 0, waiting: 0, opening: 0 }) };
    const names = async (optIn: string | undefined): Promise<string[]> => {
      const local = createTelemetry();
      const tracker = createOtelTracker({ meterProvider: local.meterProvider, slowQueryThresholdMs: 1000, semconvStabilityOptIn: optIn });
      tracker.poolAdded?.(pool);
      const collected = await local.collect();
      await tracker.close?.();
      await local.shutdown();
      return collected.filter((m) => m.dataPoints.some((p) => p.value === 7)).map((m) => m.descriptor.name).sort();
    };
    expect(await names(undefined)).toEqual(['db.client.connection.max']);
    expect(await names('http')).toEqual(['db.client.connection.max']);
    expect(await names('database')).toEqual(['db.client.connection.limit']);
    expect(await names('http, database/dup')).toEqual(['db.client.connection.limit', 'db.client.connection.max']);
    expect(await names('database,database/dup')).toEqual(['db.client.connection.limit', 'db.client.connection.max']);
  });

  it('names its instrumentation scope with the package version', () => {
    const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { name: string; version: string };
    expect(INSTRUMENTATION_SCOPE).toEqual({ name: pkg.name, version: pkg.version });
  });
});
