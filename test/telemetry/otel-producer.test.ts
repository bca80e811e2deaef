import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { AggregationTemporality, MeterProvider, MetricReader, type MetricData, type MetricProducer } from '@opentelemetry/sdk-metrics';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createOtelTracker, PgMetricProducer, pgMetricProducers, type TrackedPool } from '../../src/index.js';
import { MAX_SERIES_PER_HISTOGRAM } from '../../src/telemetry/otel/metric-producer.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';
import { createTelemetry, pointsOf, type Telemetry } from '../support/otel.js';

// Typed as the SDK's MetricProducer with no cast: that is what a reader's metricProducers accepts.
const asSdkProducer = (producer: PgMetricProducer): MetricProducer => producer;

const pool: TrackedPool = {
  name: 'primary',
  role: 'primary',
  max: 4,
  min: 0,
  server: { address: '127.0.0.1', port: 5432, database: 'db' },
  counts: () => ({ total: 2, idle: 1, waiting: 0, opening: 0 }),
};

const HISTOGRAM_NAMES = [
  'db.client.connection.wait_time',
  'db.client.connection.use_time',
  'db.client.connection.create_time',
  'db.client.operation.duration',
];

let telemetries: Telemetry[] = [];
afterEach(async () => {
  await Promise.all(telemetries.map((t) => t.shutdown()));
  telemetries = [];
});

function drive(tracker: ReturnType<typeof createOtelTracker>): void {
  tracker.poolAdded?.(pool);
  const values = [0, 0.00005, 0.0001, 0.0003, 0.001, 0.004, 0.02, 0.3, 2, 11, 45];
  for (const [i, v] of values.entries()) {
    tracker.acquired?.(pool, v);
    tracker.connectionCreated?.(pool, v);
    tracker.queryFinished?.({
      pool,
      sql: i % 2 ? 'SELECT * FROM exploits WHERE id = $1' : "UPDATE sources SET name = 'x'",
      startTime: performance.now(),
      durationSeconds: v / 1000,
      error: i === 3 ? Object.assign(new Error('boom'), { code: '42P01' }) : undefined,
      sqlstate: i === 3 ? '42P01' : undefined,
      rowCount: 1,
      attempts: 1,
      context: undefined,
      fromLease: false,
      executionSeconds: v / 1000,
    });
    tracker.released?.(pool, v);
  }
  tracker.acquireTimedOut?.(pool, 1.5);
}

describe('PgMetricProducer', () => {
  it('aggregates exactly as the SDK histograms do: same points, buckets, sums and attributes', async () => {
    const viaSdk = createTelemetry();
    const producer = new PgMetricProducer();
    const viaProducer = createTelemetry([], [asSdkProducer(producer)]);
    telemetries.push(viaSdk, viaProducer);
    drive(createOtelTracker({ slowQueryThresholdMs: 1000, meterProvider: viaSdk.meterProvider, metricProducer: false }));
    drive(createOtelTracker({ slowQueryThresholdMs: 1000, meterProvider: viaProducer.meterProvider, metricProducer: producer }));
    const [sdk, produced] = await Promise.all([viaSdk.collect(), viaProducer.collect()]);
    const comparable = (points: ReturnType<typeof pointsOf>) =>
      points
        .map((p) => ({ attributes: p.attributes, value: p.value }))
        .sort((a, b) => JSON.stringify(a.attributes).localeCompare(JSON.stringify(b.attributes)));
    for (const name of HISTOGRAM_NAMES) {
      const expected = comparable(pointsOf(sdk, name));
      expect(expected.length).toBeGreaterThan(0);
      expect(comparable(pointsOf(produced, name))).toEqual(expected);
      expect(produced.filter((m) => m.descriptor.name === name)).toHaveLength(1);
    }
    const unit = produced.find((m) => m.descriptor.name === 'db.client.operation.duration')?.descriptor.unit;
    expect(unit).toBe('s');
  });
});

class ManualReader extends MetricReader {
  constructor(options: ConstructorParameters<typeof MetricReader>[0] = {}) {
    super(options);
  }
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

async function histogramsOf(reader: MetricReader): Promise<MetricData[]> {
  const { resourceMetrics } = await reader.collect();
  return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).filter((m) => HISTOGRAM_NAMES.includes(m.descriptor.name));
}

describe('the producer without being handed one', () => {
  const providers: MeterProvider[] = [];
  afterEach(async () => {
    await Promise.all(providers.splice(0).map((p) => p.shutdown()));
  });
  const provider = (options: ConstructorParameters<typeof MeterProvider>[0]): MeterProvider => {
    const created = new MeterProvider(options);
    providers.push(created);
    return created;
  };

  it('records into a producer added to cumulative readers, with the same points the SDK instruments give', async () => {
    const viaSdk = new ManualReader();
    const viaDefault = new ManualReader();
    drive(createOtelTracker({ slowQueryThresholdMs: 1000, meterProvider: provider({ readers: [viaSdk] }), metricProducer: false }));
    drive(createOtelTracker({ slowQueryThresholdMs: 1000, meterProvider: provider({ readers: [viaDefault] }) }));
    const comparable = (metrics: MetricData[]) =>
      metrics
        .flatMap((m) => m.dataPoints.map((p) => ({ name: m.descriptor.name, temporality: m.aggregationTemporality, attributes: p.attributes, value: p.value })))
        .sort((a, b) => JSON.stringify([a.name, a.attributes]).localeCompare(JSON.stringify([b.name, b.attributes])));
    const expected = comparable(await histogramsOf(viaSdk));
    expect(expected.length).toBeGreaterThan(0);
    expect(comparable(await histogramsOf(viaDefault))).toEqual(expected);
    expect((viaDefault as unknown as { _metricProducers: unknown[] })._metricProducers.some((p) => p instanceof PgMetricProducer)).toBe(true);
  });

  it('keeps the SDK instruments when a view or a delta reader could change what is exported', async () => {
    const viewed = new ManualReader();
    const meterProvider = provider({ readers: [viewed], views: [{ instrumentName: 'db.client.operation.duration', name: 'renamed.duration' }] });
    drive(createOtelTracker({ slowQueryThresholdMs: 1000, meterProvider }));
    const { resourceMetrics } = await viewed.collect();
    expect(resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).some((m) => m.descriptor.name === 'renamed.duration')).toBe(true);

    const delta = new ManualReader({ aggregationTemporalitySelector: () => AggregationTemporality.DELTA });
    drive(createOtelTracker({ slowQueryThresholdMs: 1000, meterProvider: provider({ readers: [new ManualReader(), delta] }) }));
    const histograms = await histogramsOf(delta);
    expect(histograms.length).toBeGreaterThan(0);
    expect(histograms.every((m) => m.aggregationTemporality === AggregationTemporality.DELTA)).toBe(true);
  });

  it("records into pgMetricProducers()' producer when the app's reader holds it", async () => {
    const [producer] = pgMetricProducers();
    expect(pgMetricProducers()[0]).toBe(producer);
    const reader = new ManualReader({ metricProducers: pgMetricProducers() });
    drive(createOtelTracker({ slowQueryThresholdMs: 1000, meterProvider: provider({ readers: [reader] }) }));
    const [scope] = (await producer!.collect()).resourceMetrics.scopeMetrics;
    expect(scope!.metrics.map((m) => m.descriptor.name).sort()).toEqual([...HISTOGRAM_NAMES].sort());
    expect((reader as unknown as { _metricProducers: unknown[] })._metricProducers).toEqual([producer]);
  });
});

describe('PgMetricProducer cardinality', () => {
  it('folds attribute sets past the limit into one overflow series, keeping every count', async () => {
    const producer = new PgMetricProducer();
    const spec = { name: 'h', description: 'd', unit: 's', boundaries: [1] };
    for (let i = 0; i < MAX_SERIES_PER_HISTOGRAM + 50; i++) producer.recorder(spec, { table: `events_${i}` }).record(0.5);
    const [metric] = (await producer.collect()).resourceMetrics.scopeMetrics[0]!.metrics;
    const points = metric!.dataPoints as { attributes: Record<string, unknown>; value: { count: number } }[];
    expect(points).toHaveLength(MAX_SERIES_PER_HISTOGRAM + 1);
    expect(points.find((p) => p.attributes['otel.metric.overflow'] === true)?.value.count).toBe(50);
    expect(points.reduce((n, p) => n + p.value.count, 0)).toBe(MAX_SERIES_PER_HISTOGRAM + 50);
  });
});

describe('PgMetricProducer with the manager and a real scrape', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase('producer');
  });
  afterAll(async () => {
    await database.drop();
  });

  it('counts every acquisition and serves one well-formed histogram per metric on the Prometheus endpoint', async () => {
    const producer = new PgMetricProducer();
    const exporter = new PrometheusExporter({ host: '127.0.0.1', port: 0, preventServerStart: true, metricProducers: [asSdkProducer(producer)] });
    const meterProvider = new MeterProvider({ readers: [exporter] });
    const { db } = await createManager(database.url, { monitoringEnabled: true, telemetry: { meterProvider, metricProducer: producer } });
    try {
      for (let i = 0; i < 25; i++) await db.query('SELECT $1::int AS v', [i]);
      const lease = await db.getConnection();
      lease.release();
      const { resourceMetrics } = await exporter.collect();
      const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
      const acquired = pointsOf(metrics, 'db.client.connection.wait_time', { 'pg_manager.outcome': 'acquired' });
      // create() proves the primary answers with one acquisition, then 25 queries and one lease.
      expect(acquired.map((p) => (p.value as { count: number }).count)).toEqual([27]);
      const text = await scrape(exporter);
      for (const name of ['db_client_connection_wait_time', 'db_client_connection_use_time', 'db_client_operation_duration']) {
        expect(text.match(new RegExp(`^# TYPE ${name} histogram$`, 'gm'))).toHaveLength(1);
        expect(text).toMatch(new RegExp(`^${name}_bucket\\{.*le="\\+Inf"\\} \\d+`, 'm'));
      }
      expect(text).toMatch(/^db_client_connection_count\{/m);
      promtoolAccepts(text);
    } finally {
      await db.close();
      await meterProvider.shutdown();
    }
  });
});

async function scrape(exporter: PrometheusExporter): Promise<string> {
  const { createServer } = await import('node:http');
  const server = createServer((req, res) => exporter.getMetricsRequestHandler(req, res));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  try {
    return await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
  } finally {
    server.close();
  }
}

/** promtool's exposition-format check, where the binary is installed (CI installs it). */
function promtoolAccepts(text: string): void {
  let promtool = true;
  try {
    execFileSync('promtool', ['--version'], { stdio: 'ignore' });
  } catch {
    promtool = false;
  }
  if (!promtool) {
    console.warn('promtool not found (Debian package prometheus): exposition format not checked by promtool');
    return;
  }
  const dir = mkdtempSync(join(tmpdir(), 'scrape-'));
  try {
    writeFileSync(join(dir, 'metrics.txt'), text);
    // `check metrics` lints names too (it dislikes the semantic-convention name db_client_connection_count);
    // only a parse error makes the output mention "error while linting" or exit with a parse failure.
    const out = execFileSync('sh', ['-c', `promtool check metrics < ${join(dir, 'metrics.txt')} 2>&1 || true`]).toString();
    expect(out).not.toMatch(/error while linting|text format parsing error/i);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
