// create({ pool }): an app's own pg.Pool, instrumented in place; its own callers' pool.query() and pool.connect() are timed, counted and leak-checked.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import { Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ConnectionTimeoutError, PostgresManager, type CreateOptions } from '../../src/index.js';
import { countConnections, createTestDatabase, eventually, processIdOf, uniqueName, type TestDatabase } from '../support/db.js';
import { capturingLogger } from '../support/manager.js';
import { createTelemetry, histogramCount } from '../support/otel.js';


let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('adopted');
});

afterAll(async () => {
  await database.drop();
});

/** A pool as an app builds it: its own connection string, size and timeout. */
function appPool(config: pg.PoolConfig = {}): { pool: pg.Pool; appName: string } {
  const appName = uniqueName('own');
  return { pool: new pg.Pool({ connectionString: database.url, max: 3, application_name: appName, ...config }), appName };
}

function adopt(pool: pg.Pool, options: CreateOptions = {}): Promise<PostgresManager> {
  return PostgresManager.create({ pool, monitoringEnabled: true, schemaInit: 'off', env: {}, logger: capturingLogger(), ...options });
}

describe('create({ pool })', () => {
  it("counts and times the app's own pool.query() and pool.connect() calls, and reads the pool's own size", async () => {
    const { pool } = appPool({ max: 4 });
    const db = await adopt(pool, { slowQueryThresholdMs: 50 });
    try {
      expect(db.pool).toBe(pool);
      const before = db.getPoolMetrics().acquisition.primary!.total;
      await pool.query('SELECT $1::int AS n', [1]);
      await pool.query("SELECT pg_sleep(0.08), 'app-literal' AS tag");
      const client = await pool.connect();
      await client.query('SELECT 1');
      client.release();
      const metrics = db.getPoolMetrics();
      expect(metrics.acquisition.primary!.total - before).toBe(3);
      expect(metrics.pools.primary).toMatchObject({ max: 4, min: 0 });
      const slow = db.getSlowQueries();
      expect(slow.map((q) => q.query).join('\n')).toContain('pg_sleep');
      expect(JSON.stringify(slow)).not.toContain('app-literal');
      // db.* works on the same pool.
      expect((await db.query('SELECT 2 AS n')).rows).toEqual([{ n: 2 }]);
    } finally {
      await db.close();
    }
  });

  it("keeps the pool's own connectionTimeoutMillis for its own callers, and the manager's timeout for db.*", async () => {
    const { pool } = appPool({ max: 1, connectionTimeoutMillis: 250 });
    const db = await adopt(pool, { connectionTimeoutSeconds: 0.6 });
    try {
      const held = await pool.connect();
      const timed = async (call: () => Promise<unknown>): Promise<{ error: unknown; ms: number }> => {
        const started = performance.now();
        const error = await call().catch((e: unknown) => e);
        return { error, ms: performance.now() - started };
      };
      const own = await timed(() => pool.connect());
      expect(own.error).toBeInstanceOf(ConnectionTimeoutError);
      expect((own.error as ConnectionTimeoutError).timeoutMs).toBe(250);
      const managers = await timed(() => db.getConnection());
      expect((managers.error as ConnectionTimeoutError).timeoutMs).toBe(600);
      expect(managers.ms).toBeGreaterThanOrEqual(480);
      expect(pool.options.connectionTimeoutMillis).toBe(250);
      held.release();
    } finally {
      await db.close();
    }
  });

  it('takes over connections the pool opened before it was adopted', async () => {
    const { pool } = appPool({ max: 1 });
    const earlier = await pool.connect();
    const pid = processIdOf(earlier);
    earlier.release();
    const db = await adopt(pool, { slowQueryThresholdMs: 50 });
    try {
      const client = await pool.connect();
      expect(processIdOf(client)).toBe(pid);
      await client.query('SELECT pg_sleep(0.08)');
      client.release();
      expect(db.getSlowQueries()[0]?.query).toContain('pg_sleep');
      // Not counted as a connection still being opened.
      expect(db.getPoolMetrics().pools.primary.opening).toBe(0);
    } finally {
      await db.close();
    }
  });

  it("applies an app migrations folder over a connection with the pool's own settings, not its sessions' deadlines", async () => {
    const dir = mkdtempSync(join(tmpdir(), 'adopted-migrations-'));
    writeFileSync(join(dir, '001_widgets.sql'), 'SELECT pg_sleep(0.4); CREATE TABLE adopted_widgets (id int PRIMARY KEY);');
    // The app's request deadlines would cut the migration off; they are the pool's sessions', not the migration's.
    const { pool } = appPool({ query_timeout: 200, statement_timeout: 200 });
    const db = await adopt(pool, { migrationsDir: dir, schemaInit: 'strict' });
    try {
      expect(db.schemaStatus).toMatchObject({ state: 'applied', applied: ['001_widgets.sql'] });
      expect((await pool.query("SELECT to_regclass('adopted_widgets') AS t")).rows[0].t).toBe('adopted_widgets');
    } finally {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('ends the pool on close(), and an app\'s pool.end() closes the manager', async () => {
    const first = appPool({ min: 1 });
    const a = await adopt(first.pool);
    await a.close();
    expect(first.pool.ended).toBe(true);
    expect(await eventually(() => countConnections(first.appName), (n) => n === 0)).toBe(0);

    const second = appPool();
    const b = await adopt(second.pool);
    await second.pool.end();
    expect(b.isClosed).toBe(true);
  });

  it('hands the pool back open and as it was when create() fails after adopting it', async () => {
    const { pool } = appPool();
    const ownClient = (pool as unknown as { Client: unknown }).Client;
    const listeners = { connect: pool.listenerCount('connect'), error: pool.listenerCount('error') };
    const refused = await adopt(pool, { monitor: { snapshotIntervalMs: 0 } }).catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(ConfigError);
    expect(pool.ending).toBe(false);
    for (const method of ['connect', 'query', 'end']) expect(Object.hasOwn(pool, method)).toBe(false);
    expect((pool as unknown as { Client: unknown }).Client).toBe(ownClient);
    expect({ connect: pool.listenerCount('connect'), error: pool.listenerCount('error') }).toEqual(listeners);
    expect((await pool.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);

    const dir = mkdtempSync(join(tmpdir(), 'adopted-broken-'));
    writeFileSync(join(dir, '001_broken.sql'), 'CREATE TABLE;');
    const failed = await adopt(pool, { migrationsDir: dir, schemaInit: 'strict' }).catch((e: unknown) => e);
    rmSync(dir, { recursive: true, force: true });
    expect((failed as { code?: string }).code).toBe('MIGRATION_FAILED');
    expect(pool.ending).toBe(false);
    // A create() retried after the failure adopts the pool again.
    const db = await adopt(pool);
    try {
      expect((await db.pool.query('SELECT 2 AS two')).rows).toEqual([{ two: 2 }]);
    } finally {
      await db.close();
    }
  });

  it("calls the app's stream factory once per connection, and answers a caller once when the factory throws", async () => {
    let streams = 0;
    const { pool } = appPool({
      max: 2,
      stream: () => {
        streams++;
        if (streams > 1) throw new Error('the connector is out of sockets');
        return new Socket();
      },
    });
    const db = await adopt(pool);
    try {
      expect(streams).toBe(1);
      const held = await pool.connect();
      let answers = 0;
      const answered = new Promise<unknown>((resolve) =>
        pool.connect((error) => {
          answers++;
          resolve(error);
        }),
      );
      expect(String(await answered)).toContain('out of sockets');
      held.release();
      await db.close();
      expect(answers).toBe(1);
      expect(pool.waitingCount).toBe(0);
    } finally {
      await db.close();
    }
  });

  it('refuses what cannot be adopted with a ConfigError naming the option', async () => {
    const { pool } = appPool();
    const refusal = (options: CreateOptions): Promise<ConfigError> => adopt(pool, options).then(
      (db) => db.close().then(() => {
        throw new Error('expected a ConfigError');
      }),
      (error: unknown) => error as ConfigError,
    );
    expect(await refusal({ databaseUrl: database.url })).toMatchObject({ field: 'databaseUrl' });
    expect(await refusal({ maxConnections: 5 })).toMatchObject({ field: 'maxConnections' });
    expect(await refusal({ readPool: pool })).toMatchObject({ field: 'readPool' });
    const notAPool = await PostgresManager.create({ pool: {} as pg.Pool, env: {} }).catch((e: unknown) => e);
    expect(notAPool).toBeInstanceOf(ConfigError);
    expect(notAPool).toMatchObject({ field: 'pool' });

    const db = await adopt(pool);
    try {
      const twice = await adopt(pool).catch((e: unknown) => e);
      expect(twice).toBeInstanceOf(ConfigError);
      expect((twice as ConfigError).problem).toContain('already managed');
    } finally {
      await db.close();
    }
    const ended = await adopt(pool).catch((e: unknown) => e);
    expect(ended).toMatchObject({ field: 'pool' });
    expect((ended as ConfigError).problem).toContain('ended');
  });

  it("ignores DATABASE_URL in the environment: the pool's own settings say where it connects", async () => {
    const { pool } = appPool();
    const db = await adopt(pool, { env: { DATABASE_URL: 'postgresql://nobody@192.0.2.1:1/none' } });
    try {
      const { hostname, port, pathname } = new URL(database.url);
      expect(db.config.primary).toMatchObject({ host: hostname, port: Number(port), database: pathname.slice(1) });
      expect(db.config.primary.redactedUrl).not.toContain('192.0.2.1');
    } finally {
      await db.close();
    }
  });

  it("shows its warm-up in the pool's events (a connect, an acquire, a release), and opens nothing with warmUp: false", async () => {
    const events = (pool: pg.Pool): string[] => {
      const seen: string[] = [];
      for (const name of ['connect', 'acquire', 'release', 'remove'] as const) pool.on(name, () => seen.push(name));
      return seen;
    };
    const warmed = appPool();
    const warmedEvents = events(warmed.pool);
    const a = await adopt(warmed.pool);
    expect(warmedEvents).toEqual(['connect', 'acquire', 'release']);
    expect(warmed.pool.idleCount).toBe(1);
    await a.close();

    const cold = appPool();
    const coldEvents = events(cold.pool);
    const b = await adopt(cold.pool, { warmUp: false });
    try {
      expect(coldEvents).toEqual([]);
      expect(cold.pool.totalCount).toBe(0);
      expect(await countConnections(cold.appName)).toBe(0);
    } finally {
      await b.close();
    }
  });
});

describe('the wait_time histogram in a scripted scenario', () => {
  it('counts exactly the acquisitions made through db.pool and through the app\'s own instrumented pool', async () => {
    const telemetry = createTelemetry();
    const { pool: own } = appPool();
    const telemetryOptions = { meterProvider: telemetry.meterProvider, tracerProvider: telemetry.tracerProvider };
    const adopted = await adopt(own, { poolNames: { primary: 'app' }, telemetry: telemetryOptions });
    const built = await PostgresManager.create({
      databaseUrl: database.url,
      minConnections: 0,
      schemaInit: 'off',
      env: {},
      logger: capturingLogger(),
      poolNames: { primary: 'managed' },
      telemetry: telemetryOptions,
    });
    try {
      const waits = async (name: string): Promise<number> =>
        histogramCount(await telemetry.collect(), 'db.client.connection.wait_time', { 'db.client.connection.pool.name': name });
      const [appBefore, managedBefore] = [await waits('app'), await waits('managed')];
      // The app: 5 statements and 2 connections on its own pool. A library: 3 statements and 4 connections on db.pool.
      for (let i = 0; i < 5; i++) await own.query('SELECT $1::int', [i]);
      for (let i = 0; i < 2; i++) (await own.connect()).release();
      await Promise.all([0, 1, 2].map((i) => built.pool.query('SELECT $1::int', [i])));
      for (let i = 0; i < 4; i++) (await built.pool.connect()).release();
      expect((await waits('app')) - appBefore).toBe(7);
      expect((await waits('managed')) - managedBefore).toBe(7);
    } finally {
      await adopted.close();
      await built.close();
      await telemetry.shutdown();
    }
  });
});

describe('the scrape of an adopted pool', () => {
  it("shows the app's own pool.query() calls, the pool's counts and its own max", async () => {
    const exporter = new PrometheusExporter({ preventServerStart: true });
    const meterProvider = new MeterProvider({ readers: [exporter] });
    const server = createServer((request, response) => exporter.getMetricsRequestHandler(request, response));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const { pool } = appPool({ max: 6 });
    const db = await adopt(pool, { telemetry: { meterProvider }, poolNames: { primary: 'own_pool' } });
    try {
      for (let i = 0; i < 4; i++) await pool.query('SELECT * FROM pg_class WHERE relname = $1', ['x']);
      const { port } = server.address() as AddressInfo;
      const scrape = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
      const sample = (pattern: string): number => Number(scrape.match(new RegExp(`^${pattern} ([0-9.e+-]+)$`, 'm'))?.[1]);
      expect(sample('db_client_connection_max\\{[^}]*db_client_connection_pool_name="own_pool"[^}]*\\}')).toBe(6);
      // Four statements of the app's own, plus create()'s check that the server answers.
      expect(sample('db_client_connection_wait_time_count\\{[^}]*db_client_connection_pool_name="own_pool"[^}]*\\}')).toBe(5);
      expect(sample('db_client_operation_duration_count\\{[^}]*db_query_summary="SELECT pg_class"[^}]*\\}')).toBe(4);
      const metrics = db.getPoolMetrics();
      expect(metrics.pools.primary).toMatchObject({ name: 'own_pool', max: 6 });
      expect(metrics.acquisition.primary!.total).toBe(5);
      expect(db.getQueryStats().find((q) => q.query.includes('pg_class'))?.executions).toBe(4);
    } finally {
      await db.close();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await meterProvider.shutdown();
    }
  });
});
