// Statements run on a leased client (getConnection, withConnection, transaction) reach the trackers like query() calls.
import { describe, expect, it } from 'vitest';
import { SpanStatusCode } from '@opentelemetry/api';
import type pg from 'pg';
import type { PostgresManager, PoolTracker, QueryEvent } from '../../src/index.js';
import { eventually } from '../support/db.js';
import { useTelemetryHarness } from '../support/telemetry-harness.js';

const harness = useTelemetryHarness('leased');

/**
 * The unhandled rejections raised while `run` and the statements it starts settle. Vitest's own
 * listeners are set aside meanwhile: for this test an unhandled rejection is the expected outcome.
 */
async function unhandledRejectionsDuring(run: () => void): Promise<unknown[]> {
  const vitestListeners = process.listeners('unhandledRejection');
  process.removeAllListeners('unhandledRejection');
  const seen: unknown[] = [];
  const record = (reason: unknown): void => void seen.push(reason);
  process.on('unhandledRejection', record);
  try {
    run();
    await eventually(async () => seen.length, (n) => n > 0, 2000);
    // Long enough for a second report, if there were one.
    await new Promise((resolve) => setTimeout(resolve, 100));
  } finally {
    process.off('unhandledRejection', record);
    for (const listener of vitestListeners) process.on('unhandledRejection', listener);
  }
  return seen;
}

/** A manager with the monitor, the OpenTelemetry tracker and a recording tracker of its own. */
async function start(): Promise<{ db: PostgresManager; events: QueryEvent[] }> {
  const { db } = await harness.start({ maxConnections: 2, monitoringEnabled: true, slowQueryThresholdMs: 100, leakDetectionThresholdMs: 0 });
  const events: QueryEvent[] = [];
  const recorder: PoolTracker = { queryFinished: (event) => void events.push(event) };
  db.addTracker(recorder);
  return { db, events };
}

describe('statements on leased clients', () => {
  it('a slow statement inside transaction() is a slow query, with its literals stripped, and BEGIN and COMMIT are counted', async () => {
    const { db, events } = await start();
    await db.transaction(async (client) => {
      await client.query("SELECT pg_sleep(0.15), 'secret-literal' AS label");
    });
    expect(events.map((e) => e.sql)).toEqual(['BEGIN', "SELECT pg_sleep(0.15), 'secret-literal' AS label", 'COMMIT']);
    const slow = db.getSlowQueries();
    // BEGIN or COMMIT on a loaded machine may pass the threshold too, so the list is not checked whole.
    expect(slow.find((q) => q.query === 'SELECT pg_sleep($1), $2 AS label')?.maxMs).toBeGreaterThanOrEqual(140);
    expect(JSON.stringify(slow)).not.toContain('secret-literal');
    const counted = db.getQueryStats().map((q) => q.query);
    expect(counted).toEqual(expect.arrayContaining(['BEGIN', 'COMMIT']));
    expect(JSON.stringify(harness.telemetry.packageSpans().map((s) => s.attributes))).not.toContain('secret-literal');
  });

  it('a failed statement on getConnection() produces an error span, and its parameter values are nowhere', async () => {
    const { db, events } = await start();
    const lease = await db.getConnection();
    try {
      await expect(lease.client.query('SELECT $1::int AS n', ['not-a-number-7731'])).rejects.toMatchObject({ code: '22P02' });
    } finally {
      lease.release();
    }
    expect(events).toHaveLength(1);
    expect(events[0]).toMatchObject({ sqlstate: '22P02', attempts: 1, rowCount: null, fromLease: true });
    const [span] = harness.telemetry.packageSpans();
    expect(span?.status.code).toBe(SpanStatusCode.ERROR);
    expect(span?.attributes).toMatchObject({ 'db.response.status_code': '22P02', 'db.query.text': 'SELECT $1::int AS n' });
    expect(JSON.stringify({ attributes: span?.attributes, status: span?.status, events: span?.events })).not.toContain('not-a-number-7731');
  });

  it('reports callback-style and config-object statements on withConnection(), with their row counts', async () => {
    const { db, events } = await start();
    await db.withConnection(async (client) => {
      await new Promise<void>((resolve, reject) => {
        client.query('SELECT generate_series(1, 3) AS n', (error: Error | null, result: pg.QueryResult) =>
          error ? reject(error) : (expect(result.rowCount).toBe(3), resolve()),
        );
      });
      await client.query({ text: 'SELECT $1::int AS n', values: [5] });
    });
    expect(events.map((e) => [e.sql, e.rowCount])).toEqual([
      ['SELECT generate_series(1, 3) AS n', 3],
      ['SELECT $1::int AS n', 1],
    ]);
  });

  it('a config object carrying its own callback keeps working, and is reported', async () => {
    const { db, events } = await start();
    const rows = await db.withConnection(
      (client) =>
        new Promise<unknown[]>((resolve, reject) => {
          const config = { text: 'SELECT $1::int AS n', values: [9], callback: (error: Error | null, result: pg.QueryResult) => (error ? reject(error) : resolve(result.rows)) };
          (client.query as unknown as (c: typeof config) => void)(config);
        }),
    );
    expect(rows).toEqual([{ n: 9 }]);
    expect(events.map((e) => [e.sql, e.rowCount])).toEqual([['SELECT $1::int AS n', 1]]);
  });

  it('a config object of a class (text behind a getter) reaches pg whole, and is reported', async () => {
    const { db, events } = await start();
    class Lookup {
      constructor(private readonly id: number) {}
      get text(): string {
        return 'SELECT $1::int AS n';
      }
      get values(): number[] {
        return [this.id];
      }
    }
    const rows = await db.withConnection(
      (client) =>
        new Promise<unknown[]>((resolve, reject) => {
          const config = Object.assign(new Lookup(4), { callback: (error: Error | null, result: pg.QueryResult) => (error ? reject(error) : resolve(result.rows)) });
          (client.query as unknown as (c: typeof config) => void)(config);
        }),
    );
    expect(rows).toEqual([{ n: 4 }]);
    expect(events.map((e) => e.sql)).toEqual(['SELECT $1::int AS n']);
  });

  it('a null callback is a promise call, as in pg, and is reported', async () => {
    const { db, events } = await start();
    const result = await db.withConnection(
      (client) => (client.query as unknown as (...a: unknown[]) => Promise<pg.QueryResult>)('SELECT 7 AS n', [], null),
    );
    expect(result.rows).toEqual([{ n: 7 }]);
    expect(events.map((e) => e.sql)).toEqual(['SELECT 7 AS n']);
  });

  it('a failed statement nobody awaits is still an unhandled rejection, as with pg alone', async () => {
    const { db } = await start();
    const lease = await db.getConnection();
    const seen = await unhandledRejectionsDuring(() => {
      void lease.client.query('SELECT 1/0');
    });
    lease.release();
    expect(seen).toHaveLength(1);
    expect(seen[0]).toMatchObject({ code: '22012' });
  });

  it('a callback argument wins over a function given as values, and a falsy callback means a promise, as in pg', async () => {
    const { db, events } = await start();
    const query = (client: pg.PoolClient, ...args: unknown[]): unknown => (client.query as unknown as (...a: unknown[]) => unknown).apply(client, args);
    const called = await db.withConnection(
      (client) =>
        new Promise<string>((resolve) => {
          query(client, 'SELECT 1 AS n', () => resolve('values'), () => resolve('callback'));
        }),
    );
    expect(called).toBe('callback');
    const result = (await db.withConnection(async (client) => query(client, 'SELECT 2 AS n', [], false))) as pg.QueryResult;
    expect(result.rows).toEqual([{ n: 2 }]);
    expect(events.map((e) => e.sql)).toEqual(['SELECT 1 AS n', 'SELECT 2 AS n']);
  });

  it('a callback argument that is not a function is still refused by pg', async () => {
    const { db } = await start();
    await db.withConnection(async (client) => {
      expect(() => (client.query as unknown as (...a: unknown[]) => unknown)('SELECT 1', [], 'not a function')).toThrow(/callback/);
    });
  });

  it('query() is reported once per call, not a second time by its own lease', async () => {
    const { db, events } = await start();
    for (let i = 0; i < 3; i++) await db.query('SELECT $1::int AS n', [i]);
    expect(events.map((e) => e.fromLease)).toEqual([false, false, false]);
    expect(db.getQueryStats().find((q) => q.query === 'SELECT $1::int AS n')?.executions).toBe(3);
  });

  it('stops reporting when the lease ends: the same connection lent to query() next is reported once', async () => {
    const { db, events } = await start();
    const lease = await db.getConnection();
    const client = lease.client;
    await client.query('SELECT 1');
    lease.release();
    // The same connection, now lent to query(), must not report the caller's statements as its own.
    await db.query('SELECT 2');
    expect(events.map((e) => e.sql)).toEqual(['SELECT 1', 'SELECT 2']);
  });
});
