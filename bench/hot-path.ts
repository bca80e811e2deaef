// Tracker hot path without a database (ns per recorded query, inside an active span, NodeSDK registered),
// and the trackers' own retained heap. Run with --expose-gc; `--memory=<scenario>` measures one memory scenario
// in a fresh process (so no earlier scenario's cache contents count), without it the hot path is measured.
import { context, trace } from '@opentelemetry/api';
import type { PoolTracker, QueryEvent, TrackedPool, TrackerFanout as Fanout } from '../src/tracker.js';
import { startCountingSdk } from './sdk.js';
import { shipped } from './shipped.js';

const { ConnectionMonitor } = await shipped<typeof import('../src/telemetry/monitor/monitor.js')>('telemetry/monitor/monitor.js');
const { PgMetricProducer } = await shipped<typeof import('../src/telemetry/otel/metric-producer.js')>('telemetry/otel/metric-producer.js');
const { createOtelTracker } = await shipped<typeof import('../src/telemetry/otel/otel-tracker.js')>('telemetry/otel/otel-tracker.js');
const { TrackerFanout } = await shipped<typeof import('../src/tracker.js')>('tracker.js');

const gc = (globalThis as { gc?: () => void }).gc;
const quiet = { warn: () => undefined };
const memoryScenario = process.argv.find((arg) => arg.startsWith('--memory='))?.slice('--memory='.length);

startCountingSdk();

function trackedPool(name: string): TrackedPool {
  return {
    name,
    role: 'primary',
    max: 10,
    min: 2,
    server: { address: '127.0.0.1', port: 5432, database: 'bench' },
    counts: () => ({ total: 10, idle: 4, waiting: 0, opening: 0 }),
  };
}
const pool = trackedPool('primary');

function fanout(trackers: PoolTracker[], pools: TrackedPool[] = [pool]): Fanout {
  const fan = new TrackerFanout(quiet);
  for (const tracker of trackers) fan.add(tracker, pools);
  return fan;
}

/** One query's worth of events, exactly as the manager reports them. */
function recordQueries(fan: Fanout, count: number, sqlFor: (i: number) => string, pools: TrackedPool[] = [pool]): number {
  const started = performance.now();
  for (let i = 0; i < count; i++) {
    const on = pools[i % pools.length]!;
    const queryContext = fan.captureContext();
    fan.acquired(on, 0.00002);
    const event: QueryEvent = {
      pool: on,
      sql: sqlFor(i),
      startTime: performance.now(),
      durationSeconds: 0.0003,
      error: undefined,
      sqlstate: undefined,
      rowCount: 1,
      attempts: 1,
      context: queryContext,
      fromLease: false,
      executionSeconds: 0.0003,
    };
    fan.queryFinished(event);
    fan.released(on, 0.0003);
  }
  return ((performance.now() - started) * 1e6) / count;
}

function median(values: number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)]!;
}

const monitor = (): PoolTracker => new ConnectionMonitor({ slowQueryThresholdMs: 1000, logger: quiet });
const otel = (metricProducer?: InstanceType<typeof PgMetricProducer> | false): PoolTracker =>
  createOtelTracker({ slowQueryThresholdMs: 1000, metricProducer });

if (memoryScenario) {
  // Texts as an application sends them: literals inlined (one fingerprint), or every statement its own
  // fingerprint and table (as many series as the bounds allow), or 2 KiB statements filling every bound.
  const scenarios: Record<string, { count: number; sql: (i: number) => string; title: string }> = {
    literals: { count: 1_000_000, sql: (i) => `SELECT * FROM exploits WHERE id = ${i} AND title = 'text ${i}'`, title: '1,000,000 distinct texts, literals inlined' },
    // 200,000 rather than a million: each new table builds its series (about 40 µs), and every bound is passed 100 times over.
    shapes: { count: 200_000, sql: (i) => `SELECT id, title FROM events_${i} WHERE id = $1`, title: '200,000 distinct statements, each its own table' },
    // Each text twice in a row, so the shape cache admits it; 10,000 of them fill the monitor's 1,000
    // fingerprints and the shape cache's character budget many times over.
    long: {
      count: 20_000,
      sql: (i) => {
        const n = i >> 1;
        return `SELECT ${Array.from({ length: 150 }, (_, c) => `column_${c}_${n}`).join(', ')} FROM reports_${n}`.slice(0, 2048);
      },
      title: '10,000 distinct 2 KiB statements, each seen twice (every bound filled)',
    },
  };
  const scenario = scenarios[memoryScenario];
  if (!scenario || !gc) throw new Error(`usage: node --expose-gc hot-path.ts --memory=${Object.keys(scenarios).join('|')}`);
  gc();
  const without = process.memoryUsage().heapUsed;
  const fan = fanout([monitor(), otel(new PgMetricProducer())]);
  const started = performance.now();
  recordQueries(fan, scenario.count, scenario.sql);
  const seconds = (performance.now() - started) / 1000;
  gc();
  const withThem = process.memoryUsage().heapUsed;
  const mb = (withThem - without) / 2 ** 20;
  console.log(
    `  ${scenario.title}: ${seconds.toFixed(1)} s; monitor + tracker retained heap ${mb.toFixed(2)} MB (target <= 5 MB: ${mb <= 5 ? 'met' : 'NOT met'})`,
  );
  await fan.close(1000);
  process.exit(0);
}

const repeated = (i: number): string => (i % 2 === 0 ? 'SELECT 1' : 'SELECT $1::int AS v');
// The database benchmark's "distinct" workload: 10,000 texts in a cycle, so every one misses the shape cache.
const distinct = (i: number): string => `SELECT ${i % 10_000} AS v, 'label-${i % 10_000}' AS label`;
const tracer = trace.getTracer('bench');

function measure(label: string, trackers: () => PoolTracker[], sql = repeated, pools: TrackedPool[] = [pool]): number {
  const fan = fanout(trackers(), pools);
  const span = tracer.startSpan('request');
  // Inside an active span, as a request handler's queries are: captureContext() finds it.
  const ns = context.with(trace.setSpan(context.active(), span), () => {
    recordQueries(fan, 50_000, sql, pools);
    return median(Array.from({ length: 5 }, () => recordQueries(fan, 100_000, sql, pools)));
  });
  span.end();
  console.log(`  ${label.padEnd(46)} ${ns.toFixed(0).padStart(6)} ns per query`);
  void fan.close(1000);
  return ns;
}

console.log('tracker hot path (acquired + queryFinished + released + captureContext; median of 5 x 100,000; NodeSDK, inside a span):');
measure('no tracker', () => []);
measure('monitor', () => [monitor()]);
measure('OpenTelemetry, SDK histograms', () => [otel(false)]);
measure('OpenTelemetry, PgMetricProducer', () => [otel(new PgMetricProducer())]);
measure('monitor + OpenTelemetry, SDK histograms', () => [monitor(), otel(false)]);
measure('monitor + OpenTelemetry, create() default', () => [monitor(), otel()]);
const total = measure('monitor + OpenTelemetry, producer', () => [monitor(), otel(new PgMetricProducer())]);
console.log(`  target <= 1000 ns: ${total <= 1000 ? 'met' : 'NOT met'}`);
const pools8 = Array.from({ length: 8 }, (_, i) => trackedPool(`pool-${i}`));
measure('monitor + OpenTelemetry, producer, 8 pools', () => [monitor(), otel(new PgMetricProducer())], repeated, pools8);
console.log('the same with 10,000 distinct texts in a cycle (every call a shape-cache miss):');
measure('monitor + OpenTelemetry, producer', () => [monitor(), otel(new PgMetricProducer())], distinct);
process.exit(0);
