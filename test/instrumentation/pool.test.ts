// A bare pg.Pool and pg.Client in app code that imports nothing of this package: observed by the instrumentation alone.
import { trace, SpanStatusCode } from '@opentelemetry/api';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { PostgresManager } from '../../src/index.js';
import { createTestDatabase, eventually, holdAdvisoryLock, type TestDatabase } from '../support/db.js';
import { histogramCount, pointsOf, sumOf } from '../support/otel.js';
import { firstFrame, here } from '../support/stack.js';
import { defaultPoolName, register, type Registered } from './support.js';

let database: TestDatabase;
let registered: Registered;
const opened: { end(): Promise<void> }[] = [];

beforeAll(async () => {
  database = await createTestDatabase('instr_pool');
});

afterAll(async () => {
  await database.drop();
});

afterEach(async () => {
  for (const pool of opened.splice(0)) await pool.end().catch(() => undefined);
  await registered?.stop();
});

let poolName = '';

/** Every test names its pools (the instrumentation outlives the test, and default names are made unique). */
function named(config: Parameters<typeof register>[0] = {}): Registered {
  poolName = `app_${Math.random().toString(36).slice(2, 8)}`;
  return register({ poolName: (options) => (options.application_name === undefined ? poolName : options.application_name), ...config });
}

function pool(options: pg.PoolConfig = {}): pg.Pool {
  const built = new pg.Pool({ connectionString: database.url, ...options });
  opened.push(built);
  return built;
}

function nameOf(): string {
  return poolName;
}

describe('a pg.Pool the app builds', () => {
  it('is counted where pg-pool acquires: wait, use and create time, gauges at collection', async () => {
    registered = named();
    const app = pool({ max: 3 });
    await Promise.all([1, 2, 3, 4, 5].map((n) => app.query('SELECT $1::int AS n', [n])));
    const client = await app.connect();
    const collected = await registered.telemetry.collect();
    const attrs = { 'db.client.connection.pool.name': nameOf() };
    expect(histogramCount(collected, 'db.client.connection.wait_time', attrs)).toBe(6);
    expect(histogramCount(collected, 'db.client.connection.use_time', attrs)).toBe(5);
    expect(histogramCount(collected, 'db.client.connection.create_time', attrs)).toBe(3);
    expect(histogramCount(collected, 'db.client.operation.duration', attrs)).toBe(5);
    expect(sumOf(collected, 'db.client.connection.count', { ...attrs, 'db.client.connection.state': 'used' })).toBe(1);
    expect(sumOf(collected, 'db.client.connection.count', { ...attrs, 'db.client.connection.state': 'idle' })).toBe(2);
    client.release();
  });

  it('puts a slow statement in the slow list with its literals stripped', async () => {
    registered = named({ slowQueryThresholdMs: 50 });
    const app = pool();
    await app.query("SELECT pg_sleep(0.08), 'secret-literal' AS s");
    const [slow] = registered.instrumentation.report().pools[nameOf()]!.slowQueries;
    expect(slow?.query).toMatch(/pg_sleep/);
    expect(slow?.query).not.toMatch(/secret-literal/);
  });

  it("gives a failed statement a span with its SQLSTATE, under the caller's span", async () => {
    registered = named();
    const app = pool();
    const tracer = registered.telemetry.tracerProvider.getTracer('app');
    await tracer.startActiveSpan('request', async (span) => {
      await expect(app.query('SELECT * FROM no_such_table')).rejects.toMatchObject({ code: '42P01' });
      span.end();
    });
    const [failed] = registered.telemetry.packageSpans();
    const request = registered.telemetry.allSpans().find((s) => s.name === 'request')!;
    expect(failed?.attributes['db.response.status_code']).toBe('42P01');
    expect(failed?.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed?.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
    expect(trace.getActiveSpan()).toBeUndefined();
  });

  it("reports a leak with the app's line on top of the borrower's stack, and not a LISTEN client", async () => {
    registered = named({ leakDetectionThresholdMs: 50 });
    const app = pool();
    const listener = await app.connect();
    await listener.query('LISTEN jobs');
    const [leaked, line] = [await app.connect(), here()];
    await new Promise((resolve) => setTimeout(resolve, 200));
    const { leaks } = registered.instrumentation.report().pools[nameOf()]!;
    leaked.release();
    listener.release();
    expect(leaks.active).toHaveLength(1);
    expect(firstFrame(leaks.active[0]!.stack)).toBe(line);
  });

  it('names the statement a pool.query() is running past the leak threshold, where there is no borrower stack', async () => {
    registered = named({ leakDetectionThresholdMs: 50 });
    const app = pool({ max: 1 });
    const lock = await holdAdvisoryLock(database.name, 7101);
    const running = app.query("SELECT pg_advisory_lock(7101), 'batch-991' AS job");
    const { leaks } = await eventually(
      async () => registered.instrumentation.report().pools[nameOf()]!,
      (report) => report.leaks.active.length === 1,
      2000,
    );
    await lock.release();
    await running;
    expect(leaks.active[0]).toMatchObject({ stack: undefined, statement: 'SELECT pg_advisory_lock($1), $2 AS job', statementRunning: true });
    expect(registered.logger.lines.find((l) => l.includes('leak detection triggered'))).toContain('running SELECT pg_advisory_lock($1), $2 AS job;');
    expect(registered.logger.lines.join('\n')).not.toContain('batch-991');

    // The same connection checked out next and held: it ran nothing under this checkout, so nothing is named.
    const held = await app.connect();
    const next = await eventually(
      async () => registered.instrumentation.report().pools[nameOf()]!,
      (report) => report.leaks.active.length === 1 && report.leaks.active[0]!.leaseId !== leaks.active[0]!.leaseId,
      2000,
    );
    held.release();
    expect(next.leaks.active[0]).not.toHaveProperty('statement');
  });

  it('hands a pool to a PostgresManager without counting it twice', async () => {
    registered = named();
    const app = pool();
    await app.query('SELECT 1');
    const db = await PostgresManager.create({ pool: app, schemaInit: 'off', env: {}, warmUp: false, telemetry: { meterProvider: registered.telemetry.meterProvider, tracerProvider: registered.telemetry.tracerProvider } });
    await db.query('SELECT 2');
    await app.query('SELECT 3');
    const collected = await registered.telemetry.collect();
    expect(histogramCount(collected, 'db.client.operation.duration', { 'db.client.connection.pool.name': nameOf() })).toBe(1);
    expect(histogramCount(collected, 'db.client.operation.duration', { 'db.client.connection.pool.name': 'primary' })).toBe(2);
    expect(registered.instrumentation.report().pools[nameOf()]).toBeUndefined();
    // The instrumentation's series of the pool read zero now (the SDK keeps exporting a series' last value, so a last
    // live reading would count the pool twice for good); the manager's carry its open connection.
    const gauges = await registered.telemetry.collect();
    expect(sumOf(gauges, 'db.client.connection.count', { 'db.client.connection.pool.name': nameOf() })).toBe(0);
    expect(sumOf(gauges, 'db.client.connection.count', { 'db.client.connection.pool.name': 'primary' })).toBeGreaterThan(0);
    await db.close();
    opened.pop();
  });

  it('observes nothing after disable(), and again after enable()', async () => {
    registered = named();
    const Original = Object.getPrototypeOf(pg.Pool) as typeof pg.Pool;
    registered.instrumentation.disable();
    expect(pg.Pool).toBe(Original);
    const plain = pool();
    await plain.query('SELECT 1');
    expect(Object.keys(registered.instrumentation.report().pools)).toEqual([]);
    registered.instrumentation.enable();
    expect(pg.Pool).not.toBe(Original);
    const observed = pool();
    await observed.query('SELECT 1');
    expect(Object.keys(registered.instrumentation.report().pools)).toHaveLength(1);
    expect(plain).toBeInstanceOf(pg.Pool);
  });

  it('names pools by a config function, made unique in the process', async () => {
    registered = named({ poolName: (options) => options.application_name });
    pool();
    pool();
    expect(Object.keys(registered.instrumentation.report().pools).filter((n) => n.startsWith(defaultPoolName(database.url))).length).toBe(2);
    pool({ application_name: 'billing' });
    pool({ application_name: 'billing' });
    expect(Object.keys(registered.instrumentation.report().pools).filter((n) => n.startsWith('billing')).sort()).toEqual(['billing', 'billing#2']);
  });

  it('lets an ended pool go, and gives its name to the next pool, whose series go on', async () => {
    registered = named({ poolName: (options) => options.application_name });
    const series = { 'db.client.connection.pool.name': 'churn' };
    const first = pool({ application_name: 'churn', max: 2 });
    await first.query('SELECT 1');
    expect(sumOf(await registered.telemetry.collect(), 'db.client.connection.count', series)).toBe(1);
    await expect(first.end()).resolves.toBeUndefined();
    expect(Object.keys(registered.instrumentation.report().pools)).not.toContain('churn');
    // The export after end() carries the pool at zero connections (the SDK keeps an async series' last value).
    expect(sumOf(await registered.telemetry.collect(), 'db.client.connection.count', series)).toBe(0);

    // Built again (a job runner's restart, a pool per tenant): the same name, not churn#2, and the histograms go on.
    const second = pool({ application_name: 'churn', max: 2 });
    await second.query('SELECT 1');
    expect(Object.keys(registered.instrumentation.report().pools).filter((n) => n.startsWith('churn'))).toEqual(['churn']);
    const collected = await registered.telemetry.collect();
    expect(histogramCount(collected, 'db.client.connection.wait_time', series)).toBe(2);
    expect(sumOf(collected, 'db.client.connection.count', series)).toBe(1);

    // The callback form of end() lets it go too, and the callback gets pg-pool's own arguments.
    const ended = await new Promise<unknown[]>((resolve) => second.end((...args: unknown[]) => resolve(args)));
    expect(ended).toEqual([]);
    expect(Object.keys(registered.instrumentation.report().pools)).not.toContain('churn');
    await expect(second.end()).rejects.toThrow('Called end on pool more than once');
  });

  it('keeps observing a pool that is ending until its last client is back', async () => {
    registered = named({ poolName: (options) => options.application_name });
    const draining = pool({ application_name: 'draining', max: 1 });
    const client = await draining.connect();
    const ended = draining.end();
    expect(Object.keys(registered.instrumentation.report().pools)).toContain('draining');
    // The name is still taken: a pool built now gets the next one.
    pool({ application_name: 'draining' });
    expect(Object.keys(registered.instrumentation.report().pools).filter((n) => n.startsWith('draining')).sort()).toEqual(['draining', 'draining#2']);
    client.release();
    await ended;
    expect(Object.keys(registered.instrumentation.report().pools).filter((n) => n.startsWith('draining'))).toEqual(['draining#2']);
  });

  it('holds nothing of pools that came and went, and adds no series for them', async () => {
    registered = named({ poolName: () => 'short-lived' });
    const before = Object.keys(registered.instrumentation.report().pools).length;
    for (let i = 0; i < 20; i++) {
      const shortLived = new pg.Pool({ connectionString: database.url, max: 1 });
      await shortLived.query('SELECT 1');
      await shortLived.end();
    }
    expect(Object.keys(registered.instrumentation.report().pools)).toHaveLength(before);
    const collected = await registered.telemetry.collect();
    const names = new Set(pointsOf(collected, 'db.client.operation.duration').map((p) => p.attributes['db.client.connection.pool.name']));
    expect([...names].filter((name) => String(name).startsWith('short-lived'))).toEqual(['short-lived']);
    expect(histogramCount(collected, 'db.client.operation.duration', { 'db.client.connection.pool.name': 'short-lived' })).toBe(20);
  });
});

describe('a lone pg.Client', () => {
  it('reports its statements, its connect time and its open connection under the app as opener', async () => {
    registered = named({ slowQueryThresholdMs: 50 });
    const client = new pg.Client({ connectionString: database.url });
    await client.connect();
    await client.query('SELECT pg_sleep(0.06)');
    await expect(client.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
    const name = `${defaultPoolName(database.url)} (app)`;
    let collected = await registered.telemetry.collect();
    expect(histogramCount(collected, 'db.client.operation.duration', { 'db.client.connection.pool.name': name })).toBe(2);
    expect(histogramCount(collected, 'db.client.connection.create_time', { 'db.client.connection.pool.name': name })).toBe(1);
    expect(sumOf(collected, 'db.client.connection.count', { 'db.client.connection.pool.name': name })).toBe(1);
    expect(registered.instrumentation.report().pools[name]!.slowQueries).toHaveLength(1);
    await client.end();
    collected = await registered.telemetry.collect();
    expect(sumOf(collected, 'db.client.connection.count', { 'db.client.connection.pool.name': name })).toBe(0);
    expect(pointsOf(collected, 'db.client.connection.count').length).toBeGreaterThan(0);
  });
});
