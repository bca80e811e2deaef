// Tracker hot path without a database (ns per recorded query), and monitor memory after 1,000,000 distinct texts.
// Run with --expose-gc so the heap figure is measured after a full collection.
import type { PoolTracker, QueryEvent, TrackedPool, TrackerFanout as Fanout } from '../src/telemetry/tracker.js';
import { createCountingSdk } from './sdk.js';
import { shipped } from './shipped.js';

const { ConnectionMonitor } = await shipped<typeof import('../src/telemetry/monitor.js')>('telemetry/monitor.js');
const { PgMetricProducer } = await shipped<typeof import('../src/telemetry/metric-producer.js')>('telemetry/metric-producer.js');
const { createOtelTracker } = await shipped<typeof import('../src/telemetry/otel.js')>('telemetry/otel.js');
const { TrackerFanout } = await shipped<typeof import('../src/telemetry/tracker.js')>('telemetry/tracker.js');

const gc = (globalThis as { gc?: () => void }).gc;
const quiet = { warn: () => undefined };

const pool: TrackedPool = {
  name: 'primary',
  role: 'primary',
  max: 10,
  min: 2,
  server: { address: '127.0.0.1', port: 5432, database: 'bench' },
  counts: () => ({ total: 10, idle: 4, waiting: 0, opening: 0 }),
};

function fanout(trackers: PoolTracker[]): Fanout {
  const fan = new TrackerFanout(quiet);
  for (const tracker of trackers) fan.add(tracker, [pool]);
  return fan;
}

/** One query's worth of events, exactly as the manager reports them. */
function recordQueries(fan: Fanout, count: number, sqlFor: (i: number) => string): number {
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const context = fan.captureContext();
    fan.acquired(pool, 0.00002);
    const event: QueryEvent = {
      pool,
      sql: sqlFor(i),
      startTime: performance.now(),
      durationSeconds: 0.0003,
      error: undefined,
      sqlstate: undefined,
      rowCount: 1,
      attempts: 1,
      context,
      fromLease: false,
      executionSeconds: 0.0003,
    };
    fan.queryFinished(event);
    fan.released(pool, 0.0003);
  }
  return ((performance.now() - started) * 1e6) / count;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const repeated = (i: number): string => (i % 2 === 0 ? 'SELECT 1' : 'SELECT $1::int AS v');
// The database benchmark's "distinct" workload: 10,000 texts in a cycle, so every one misses the shape cache.
const distinct = (i: number): string => `SELECT ${i % 10_000} AS v, 'label-${i % 10_000}' AS label`;

function measure(label: string, trackers: () => PoolTracker[], sql = repeated): number {
  const fan = fanout(trackers());
  recordQueries(fan, 50_000, sql);
  const ns = median(Array.from({ length: 5 }, () => recordQueries(fan, 100_000, sql)));
  console.log(`  ${label.padEnd(44)} ${ns.toFixed(0).padStart(6)} ns per query`);
  void fan.close(1000);
  return ns;
}

console.log('tracker hot path (acquired + queryFinished + released + captureContext; median of 5 x 100,000):');
const sdk = createCountingSdk();
measure('no tracker', () => []);
measure('monitor', () => [new ConnectionMonitor({ slowQueryThresholdMs: 1000, logger: quiet })]);
const otel = (metricProducer?: InstanceType<typeof PgMetricProducer>): PoolTracker =>
  createOtelTracker({ slowQueryThresholdMs: 1000, meterProvider: sdk.meterProvider, tracerProvider: sdk.tracerProvider, metricProducer });
measure('OpenTelemetry, SDK histograms', () => [otel()]);
measure('OpenTelemetry, PgMetricProducer', () => [otel(new PgMetricProducer())]);
measure('monitor + OpenTelemetry, SDK histograms', () => [new ConnectionMonitor({ slowQueryThresholdMs: 1000, logger: quiet }), otel()]);
const total = measure('monitor + OpenTelemetry, producer (arm 3)', () => [
  new ConnectionMonitor({ slowQueryThresholdMs: 1000, logger: quiet }),
  otel(new PgMetricProducer()),
]);
console.log(`  target <= 1000 ns: ${total <= 1000 ? 'met' : 'NOT met'}`);
console.log('the same with 10,000 distinct texts in a cycle (every call a shape-cache miss):');
measure('monitor + OpenTelemetry, producer (arm 3)', () => [
  new ConnectionMonitor({ slowQueryThresholdMs: 1000, logger: quiet }),
  otel(new PgMetricProducer()),
], distinct);

gc?.();
const heapBefore = process.memoryUsage().heapUsed;
const monitor = new ConnectionMonitor({ slowQueryThresholdMs: 1000, logger: quiet });
const memoryFan = fanout([monitor]);
const started = performance.now();
recordQueries(memoryFan, 1_000_000, (i) => `SELECT * FROM exploits WHERE id = ${i} AND title = 'text ${i}'`);
const seconds = (performance.now() - started) / 1000;
gc?.();
const heapAfter = process.memoryUsage().heapUsed;
const heapMb = Math.max(0, heapAfter - heapBefore) / 2 ** 20;
console.log(
  `monitor memory: 1,000,000 distinct texts in ${seconds.toFixed(1)} s; heap after GC ${(heapAfter / 2 ** 20).toFixed(1)} MB, ` +
    `growth ${heapMb.toFixed(1)} MB ` +
    `(target <= 20 MB: ${heapMb <= 20 ? 'met' : 'NOT met'})${gc ? '' : ' [run with --expose-gc for an exact figure]'}`,
);
await memoryFan.close(1000);
process.exit(0);
