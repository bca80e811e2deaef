// One benchmark arm in its own process: builds its client stack once, then runs the slices the parent asks for.
import { createRequire } from 'node:module';
import type { Pool as PgPool } from 'pg';
import type { ArmName, ArmReady, SliceRequest, SliceResult, WorkloadName } from './protocol.js';
import { createCountingSdk, type CountingSdk } from './sdk.js';
import { shipped } from './shipped.js';

const require = createRequire(import.meta.url);
const arm = process.argv[2] as ArmName;
const url = process.argv[3]!;
const POOL_MAX = 10;
const { PgMetricProducer, PostgresManager } = await shipped<typeof import('../src/index.js')>('index.js');

interface Runner {
  run(sql: string, params: unknown[] | undefined): Promise<unknown>;
  /** Proof that the arm is instrumented: exported spans or metric points so far. */
  proof(): Promise<string>;
}

async function rawRunner(pg: typeof import('pg')): Promise<Runner & { pool: PgPool }> {
  // The same pool settings as the manager arms (which keep POOL_MAX connections open): with min 0,
  // pg-pool arms an idle timer on every release, a cost of configuration, not of instrumentation.
  const pool = new pg.Pool({ connectionString: url, max: POOL_MAX, min: POOL_MAX, connectionTimeoutMillis: 30_000 });
  pool.on('error', () => undefined);
  return { pool, run: (sql, params) => pool.query(sql, params), proof: async () => 'none (uninstrumented)' };
}

async function managerRunner(sdk: CountingSdk | undefined, metricProducer?: InstanceType<typeof PgMetricProducer>): Promise<Runner> {
  const db = await PostgresManager.create({
    databaseUrl: url,
    maxConnections: POOL_MAX,
    minConnections: POOL_MAX,
    monitoringEnabled: sdk !== undefined,
    schemaInit: 'off',
    env: {},
    telemetry: sdk ? { meterProvider: sdk.meterProvider, tracerProvider: sdk.tracerProvider, metricProducer } : undefined,
  });
  return {
    run: (sql, params) => db.query(sql, params),
    proof: async () => {
      if (!sdk) return 'none (monitoring off)';
      const points = await sdk.collectPoints();
      if (points === 0) throw new Error(`arm ${arm} exported no metric points: it is not instrumented`);
      return `${points} metric points collected`;
    },
  };
}

async function instrumentationPgRunner(sdk: CountingSdk): Promise<Runner> {
  const { PgInstrumentation } = await import('@opentelemetry/instrumentation-pg');
  const { registerInstrumentations } = await import('@opentelemetry/instrumentation');
  registerInstrumentations({
    instrumentations: [new PgInstrumentation()],
    tracerProvider: sdk.tracerProvider,
    meterProvider: sdk.meterProvider,
  });
  // Loaded through require after registration, so require-in-the-middle can patch it.
  const runner = await rawRunner(require('pg') as typeof import('pg'));
  return {
    ...runner,
    proof: async () => {
      await sdk.flushSpans();
      if (sdk.spansExported() === 0) throw new Error('arm instrumentation-pg exported no spans: it is not instrumented');
      return `${sdk.spansExported()} spans exported`;
    },
  };
}

async function build(): Promise<Runner> {
  switch (arm) {
    case 'raw':
      return rawRunner(require('pg') as typeof import('pg'));
    case 'manager-off':
      return managerRunner(undefined);
    case 'manager-on': {
      // The documented fast path: histograms through a PgMetricProducer that the reader includes.
      const producer = new PgMetricProducer();
      return managerRunner(createCountingSdk([producer]), producer);
    }
    case 'manager-on-sdk':
      return managerRunner(createCountingSdk());
    case 'instrumentation-pg':
      return instrumentationPgRunner(createCountingSdk());
  }
}

function query(workload: WorkloadName, i: number): [string, unknown[] | undefined] {
  switch (workload) {
    case 'select1':
    case 'saturation':
      return i % 2 === 0 ? ['SELECT 1', undefined] : ['SELECT $1::int AS v', [i]];
    case 'point':
      return ['SELECT id, cve_id, title, severity FROM exploits WHERE id = $1', [(i % 1000) + 1]];
    case 'distinct':
      // 10,000 different texts: every call misses the fingerprint cache.
      return [`SELECT ${i % 10_000} AS v, 'label-${i % 10_000}' AS label`, undefined];
  }
}

async function slice(runner: Runner, request: SliceRequest): Promise<SliceResult> {
  const latencies: number[] = [];
  let counter = 0;
  let errors = 0;
  const deadline = performance.now() + request.durationMs;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: request.workers }, async () => {
      while (performance.now() < deadline) {
        const [sql, params] = query(request.workload, counter++);
        const t0 = performance.now();
        try {
          await runner.run(sql, params);
          latencies.push(performance.now() - t0);
        } catch {
          errors++;
        }
      }
    }),
  );
  const elapsed = performance.now() - started;
  const cpu = process.cpuUsage(cpuBefore);
  latencies.sort((a, b) => a - b);
  const at = (q: number): number => latencies[Math.min(latencies.length - 1, Math.floor(q * latencies.length))] ?? 0;
  return {
    queries: latencies.length,
    errors,
    qps: (latencies.length / elapsed) * 1000,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    cpuUsPerQuery: (cpu.user + cpu.system) / Math.max(1, latencies.length),
    maxRssMb: process.resourceUsage().maxRSS / 1024,
  };
}

const runner = await build();
// Warm the stack once (JIT, connections, fingerprint cache) before anything is measured.
await slice(runner, { workload: 'select1', workers: 16, durationMs: 500 });
const ready: ArmReady = { type: 'ready', arm, proof: await runner.proof() };
process.send?.(ready);
process.on('message', (message: SliceRequest | { type: 'exit' }) => {
  if ('type' in message && message.type === 'exit') process.exit(0);
  void slice(runner, message as SliceRequest).then((result) => process.send?.({ type: 'result', result }));
});
