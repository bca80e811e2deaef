// One benchmark arm in its own process: registers the SDK as a service does, builds its client stack once,
// then runs the slices the parent asks for, every call inside an active parent span.
import { context, trace } from '@opentelemetry/api';
import { createRequire } from 'node:module';
import type { Pool as PgPool, QueryConfig } from 'pg';
import type { ArmName, ArmReady, ArmSpec, SliceRequest, SliceResult, WorkloadName } from './protocol.js';
import { startCountingSdk, type CountingSdk } from './sdk.js';
import { shipped } from './shipped.js';

const require = createRequire(import.meta.url);
const spec = JSON.parse(process.argv[2]!) as ArmSpec;
const url = process.argv[3]!;
const { PostgresManager, pgMetricProducers } = await shipped<typeof import('../src/index.js')>('index.js');
type Manager = Awaited<ReturnType<typeof PostgresManager.create>>;

/** Text with its parameters, or a named statement (pg prepares it once per connection). */
type Statement = [sql: string, params: unknown[] | undefined] | QueryConfig;

interface Runner {
  /** `worker` picks the pool when the arm has several. */
  run(statement: Statement, worker: number): Promise<unknown>;
  /** Proof that the arm is instrumented: exported spans or metric points so far. */
  proof(): Promise<string>;
  unavailable?: string;
}

const runOn = (pool: PgPool, statement: Statement): Promise<unknown> =>
  Array.isArray(statement) ? pool.query(statement[0], statement[1]) : pool.query(statement);

const SDK_ARMS: ArmName[] = ['raw', 'manager-off', 'create-only', 'manager-on', 'db-pool', 'instrumentation-pg', 'zero-code'];

async function startSdk(): Promise<CountingSdk | undefined> {
  if (!SDK_ARMS.includes(spec.arm)) return undefined;
  if (spec.arm === 'instrumentation-pg') {
    const { PgInstrumentation } = await import('@opentelemetry/instrumentation-pg');
    return startCountingSdk({ instrumentations: [new PgInstrumentation()] });
  }
  if (spec.arm === 'zero-code') {
    // The one line of zero-code registration; the app's pg.Pool code is the raw arm's.
    const { PgManagerInstrumentation } = await shipped<typeof import('../src/instrumentation/index.js')>('instrumentation/index.js');
    return startCountingSdk({ instrumentations: [new PgManagerInstrumentation()] });
  }
  // The one line a NodeSDK user adds for the fast path; create() then finds the producer on its own.
  const producerArms: ArmName[] = ['manager-on', 'db-pool'];
  return startCountingSdk({ metricProducers: producerArms.includes(spec.arm) ? pgMetricProducers() : [] });
}

function rawRunner(sdk: CountingSdk | undefined): Runner {
  // Loaded after the SDK started, so instrumentation-pg's require hook can patch it.
  const pg = require('pg') as typeof import('pg');
  // The same pool settings as the manager arms (which keep their connections open): with min 0,
  // pg-pool arms an idle timer on every release, a cost of configuration, not of instrumentation.
  const pools: PgPool[] = Array.from({ length: spec.pools }, () => {
    const pool = new pg.Pool({ connectionString: url, max: spec.poolMax, min: spec.poolMax, connectionTimeoutMillis: 30_000 });
    pool.on('error', () => undefined);
    return pool;
  });
  return {
    run: (statement, worker) => runOn(pools[worker % pools.length]!, statement),
    proof: async () => {
      if (spec.arm === 'zero-code') {
        const points = await sdk!.collectPoints();
        if (points === 0) throw new Error('arm zero-code exported no metric points: it is not instrumented');
        return `${points} metric points exported`;
      }
      if (spec.arm !== 'instrumentation-pg') return 'none (uninstrumented)';
      await sdk!.flushSpans();
      if (sdk!.spansExported() === 0) throw new Error('arm instrumentation-pg exported no spans: it is not instrumented');
      return `${sdk!.spansExported()} spans exported`;
    },
  };
}

async function managerRunner(sdk: CountingSdk): Promise<Runner> {
  const managers: Manager[] = [];
  for (let i = 0; i < spec.pools; i++) {
    managers.push(
      await PostgresManager.create({
        databaseUrl: url,
        maxConnections: spec.poolMax,
        minConnections: spec.poolMax,
        monitoringEnabled: spec.arm !== 'manager-off',
        schemaInit: 'off',
        ...(spec.poolerMode ? { poolerMode: spec.poolerMode } : {}),
        // Each manager its own series, as separate services' pools would be.
        poolNames: spec.pools > 1 ? { primary: `pool-${i}` } : undefined,
        env: {},
      }),
    );
  }
  let run: Runner['run'] = (statement, worker) => {
    const manager = managers[worker % managers.length]!;
    if (Array.isArray(statement)) return manager.query(statement[0], statement[1]);
    return manager.query(statement.text, statement.values, { name: statement.name });
  };
  let unavailable: string | undefined;
  if (spec.arm === 'db-pool') {
    // db.pool (issue 12): a real pg.Pool whose query() goes through the manager's own QueryRun.
    const pools = managers.map((m) => (m as unknown as { pool?: PgPool }).pool);
    if (pools.every((pool) => pool !== undefined)) {
      run = (statement, worker) => runOn(pools[worker % pools.length]!, statement);
    } else unavailable = 'db.pool is not in this build of the package';
  }
  return {
    run,
    unavailable,
    proof: async () => {
      if (spec.arm === 'manager-off') return 'none (monitoring off)';
      const points = await sdk.collectPoints();
      if (points === 0) throw new Error(`arm ${spec.arm} exported no metric points: it is not instrumented`);
      return `${points} metric points exported`;
    },
  };
}

async function build(): Promise<Runner> {
  const sdk = await startSdk();
  switch (spec.arm) {
    case 'raw-no-sdk':
    case 'raw':
    case 'instrumentation-pg':
    case 'zero-code':
      return rawRunner(sdk);
    default:
      return managerRunner(sdk!);
  }
}

const POINT = 'SELECT id, cve_id, title, severity FROM exploits WHERE id = $1';

function query(workload: WorkloadName, i: number): Statement {
  switch (workload) {
    case 'select1':
    case 'saturation':
      return i % 2 === 0 ? ['SELECT 1', undefined] : ['SELECT $1::int AS v', [i]];
    case 'point':
      return [POINT, [(i % 1000) + 1]];
    case 'prepared':
      // Parsed and planned once per connection: the server's share drops from ~80 to ~22 µs a query.
      return { name: 'bench-point', text: POINT, values: [(i % 1000) + 1] };
    case 'distinct':
      // 10,000 different texts: every call misses the fingerprint cache.
      return [`SELECT ${i % 10_000} AS v, 'label-${i % 10_000}' AS label`, undefined];
  }
}

const tracer = trace.getTracer('bench');

async function slice(runner: Runner, request: SliceRequest): Promise<SliceResult> {
  const latencies: number[] = [];
  let counter = 0;
  let errors = 0;
  const deadline = performance.now() + request.durationMs;
  const cpuBefore = process.cpuUsage();
  const started = performance.now();
  await Promise.all(
    Array.from({ length: request.workers }, (_, worker) => {
      // Each worker is a request handler: its calls run inside its request's span. The span is
      // opened once per slice, so what is compared is the calls, not the cost of making request spans.
      const span = tracer.startSpan('request');
      return context.with(trace.setSpan(context.active(), span), async () => {
        while (performance.now() < deadline) {
          const statement = query(request.workload, counter++);
          const t0 = performance.now();
          try {
            await runner.run(statement, worker);
            latencies.push(performance.now() - t0);
          } catch {
            errors++;
          }
        }
        span.end();
      });
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
if (runner.unavailable) {
  process.send?.({ type: 'ready', proof: '', unavailable: runner.unavailable } satisfies ArmReady);
} else {
  // Warm the stack once (JIT, connections, fingerprint cache) before anything is measured.
  await slice(runner, { workload: 'select1', workers: 16, durationMs: 500 });
  process.send?.({ type: 'ready', proof: await runner.proof() } satisfies ArmReady);
}
process.on('message', (message: SliceRequest | { type: 'exit' }) => {
  if ('type' in message && message.type === 'exit') process.exit(0);
  void slice(runner, message as SliceRequest).then((result) => process.send?.({ type: 'result', result }));
});
