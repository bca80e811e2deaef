// Libraries that build their own pools, in app code (./apps/) that imports nothing of this package: the
// instrumentation registered once is all that observes them, against the real server.
import { SpanStatusCode } from '@opentelemetry/api';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { countConnections, createTestDatabase, eventually, uniqueName, type TestDatabase } from '../support/db.js';
import { histogramCount, sumOf } from '../support/otel.js';
import { firstFrame } from '../support/stack.js';
import { SLOW_MS, withinMs } from '../orm/support.js';
import type { LibraryApp } from './apps/app.js';
import { defaultPoolName, register, type Registered } from './support.js';

let database: TestDatabase;
let registered: Registered;
let app: LibraryApp | undefined;

beforeAll(async () => {
  database = await createTestDatabase('instr_libs');
});

afterEach(async () => {
  await app?.close().catch(() => undefined);
  app = undefined;
  await registered?.stop();
});

afterAll(async () => {
  await database.drop();
});

interface Library {
  name: string;
  /** Imported after the registration, as an app loaded after `--require otel-pg-manager/register` is. */
  start(url: string, appName: string): Promise<LibraryApp>;
  /** The observed pool's name: the app's application_name for a pg-pool, `server (opener)` for lone clients. */
  pool(appName: string): string;
  /** Whether a pg-pool is underneath (acquisitions and leaks are seen only then). */
  pgPool: boolean;
}

/** The stack without the libraries' and Node's frames: what the app's own code did. */
function appFrames(stack: string | undefined): string {
  return (stack ?? '').split('\n').filter((line) => /:\d+:\d+\)?$/.test(line) && !line.includes('/node_modules/') && !line.includes('node:internal')).join('\n');
}

const byAppName = (appName: string): string => appName;

const libraries: Library[] = [
  { name: 'Kysely', pgPool: true, pool: byAppName, start: async (url, name) => (await import('./apps/kysely-app.js')).startKysely(url, name) },
  { name: 'Drizzle', pgPool: true, pool: byAppName, start: async (url, name) => (await import('./apps/drizzle-app.js')).startDrizzle(url, name) },
  { name: "Prisma's adapter", pgPool: true, pool: byAppName, start: async (url, name) => (await import('./apps/prisma-app.js')).startPrisma(url, name) },
  { name: 'TypeORM', pgPool: true, pool: byAppName, start: async (url, name) => (await import('./apps/typeorm-app.js')).startTypeorm(url, name) },
  { name: 'pg-boss', pgPool: true, pool: byAppName, start: async (url, name) => (await import('./apps/pg-boss-app.js')).startPgBoss(url, name) },
  { name: 'Knex', pgPool: false, pool: () => `${defaultPoolName(database.url)} (knex)`, start: async (url, name) => (await import('./apps/knex-app.js')).startKnex(url, name) },
];

async function started(library: Library, config: Parameters<typeof register>[0] = {}): Promise<{ app: LibraryApp; appName: string; pool: string }> {
  registered = register({ poolName: (options) => options.application_name, slowQueryThresholdMs: SLOW_MS, ...config });
  const appName = uniqueName('lib');
  app = await library.start(database.url, appName);
  return { app, appName, pool: library.pool(appName) };
}

describe.each(libraries)('$name, registered only', (library) => {
  it(library.pgPool ? 'counts every acquisition where its pg-pool lends' : 'counts statements and connections (a lone client sees no acquisition)', async () => {
    const { app, pool } = await started(library);
    // Once first: Knex asks for the server version on its first connection.
    await app.threeStatements();
    const before = await registered.telemetry.collect();
    await app.threeStatements();
    const after = await registered.telemetry.collect();
    const attrs = { 'db.client.connection.pool.name': pool };
    const delta = (name: string): number => histogramCount(after, name, attrs) - histogramCount(before, name, attrs);
    expect(delta('db.client.operation.duration')).toBe(3);
    if (library.pgPool) {
      expect(delta('db.client.connection.wait_time')).toBe(3);
      expect(delta('db.client.connection.use_time')).toBe(3);
    } else {
      // Knex's tarn pool lends its pg.Clients without pg-pool: no wait or use time, only connects and open connections.
      expect(histogramCount(after, 'db.client.connection.wait_time', attrs)).toBe(0);
      expect(histogramCount(after, 'db.client.connection.create_time', attrs)).toBeGreaterThanOrEqual(1);
      expect(sumOf(after, 'db.client.connection.count', attrs)).toBeGreaterThanOrEqual(1);
    }
  });

  it('puts a slow statement in the slow list with its literals stripped', async () => {
    const { app, pool } = await started(library);
    const marker = `${library.name.replace(/\W/g, '').toLowerCase()}_pause`;
    await app.slow(marker);
    const slow = registered.instrumentation.report().pools[pool]!.slowQueries.find((q) => q.query.includes(marker));
    expect(slow?.query).toBe(`SELECT pg_sleep($1)::text AS ${marker}, $2 AS tag`);
  });

  it("gives a failed statement a span with its SQLSTATE, under the request's span", async () => {
    const { app } = await started(library);
    const tracer = registered.telemetry.tracerProvider.getTracer('app');
    const error = await tracer.startActiveSpan('request', async (span) => {
      try {
        return await app.fail();
      } finally {
        span.end();
      }
    });
    expect(error).toBeDefined();
    const request = registered.telemetry.allSpans().find((s) => s.name === 'request')!;
    const failed = registered.telemetry.packageSpans().find((s) => s.attributes['db.response.status_code'] === '42P01');
    expect(failed?.status.code).toBe(SpanStatusCode.ERROR);
    expect(failed?.parentSpanContext?.spanId).toBe(request.spanContext().spanId);
  });

  // pg-boss lends no connection to the app; Knex's tarn pool lends without pg-pool, so no checkout is seen. Declared
  // only where it applies, so the run counts no skipped test.
  if (library.pgPool && library.name !== 'pg-boss') it("reports a connection the app holds as a leak, the app's line first after the library's frames", async () => {
    const { app, pool } = await started(library, { leakDetectionThresholdMs: 100 });
    const held = await app.hold!();
    const leaks = await eventually(async () => registered.instrumentation.report().pools[pool]!.leaks, (l) => l.active.length === 1, 3000);
    await held.release();
    expect(leaks.active).toHaveLength(1);
    expect(firstFrame(appFrames(leaks.active[0]!.stack))).toBe(held.line);
  });

  it('shuts down through its own API, leaving no connection on the server', async () => {
    const { app: running, appName } = await started(library);
    await running.threeStatements();
    expect(await countConnections(appName)).toBeGreaterThan(0);
    await withinMs(10_000, running.close());
    app = undefined;
    expect(await eventually(() => countConnections(appName), (n) => n === 0)).toBe(0);
  });
});

describe("pg-boss's LISTEN client", () => {
  it('is observed as a lone client opened by pg-boss, and closed by stop()', async () => {
    const { app: running } = await started(libraries.find((l) => l.name === 'pg-boss')!);
    const listener = `${defaultPoolName(database.url)} (pg-boss)`;
    const open = async (): Promise<number> => sumOf(await registered.telemetry.collect(), 'db.client.connection.count', { 'db.client.connection.pool.name': listener });
    expect(await eventually(open, (n) => n === 1)).toBe(1);
    await running.close();
    app = undefined;
    expect(await eventually(open, (n) => n === 0)).toBe(0);
  });
});
