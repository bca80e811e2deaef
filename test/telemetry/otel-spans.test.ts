// Query and leak spans of the OpenTelemetry tracker: when they exist, their timing, parent, attributes and status.
import { describe, expect, it } from 'vitest';
import { SpanKind, SpanStatusCode, type Span } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace-node';
import type { PostgresManager } from '../../src/index.js';
import { eventually } from '../support/db.js';
import { hrToMs, sumOf } from '../support/otel.js';
import { useTelemetryHarness, type HarnessOptions } from '../support/telemetry-harness.js';

const harness = useTelemetryHarness('otels');

async function start(options: HarnessOptions = {}): Promise<PostgresManager> {
  const { db } = await harness.start({
    maxConnections: 2,
    monitoringEnabled: true,
    slowQueryThresholdMs: 10_000,
    leakDetectionThresholdMs: 0,
    retry: { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 5 },
    ...options,
  });
  return db;
}

/** Runs `fn` inside an active span of the test, the way a request handler would. */
async function inRequest<T>(fn: (parent: Span) => Promise<T>): Promise<{ parent: Span; value: T }> {
  const tracer = harness.telemetry.tracerProvider.getTracer('test-app');
  return tracer.startActiveSpan('GET /orders', async (parent) => {
    try {
      return { parent, value: await fn(parent) };
    } finally {
      parent.end();
    }
  });
}

function only(spans: ReadableSpan[]): ReadableSpan {
  expect(spans).toHaveLength(1);
  return spans[0]!;
}

describe('query spans', () => {
  it('a slow query produces exactly one span that starts when the call began, under the active span', async () => {
    const db = await start({ slowQueryThresholdMs: 150 });
    let calledAt = 0;
    const { parent } = await inRequest(async () => {
      calledAt = Date.now();
      return db.query('SELECT pg_sleep(0.3)');
    });

    const span = only(harness.telemetry.packageSpans());
    expect(span.kind).toBe(SpanKind.CLIENT);
    expect(span.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(span.spanContext().traceId).toBe(parent.spanContext().traceId);
    const startedAt = hrToMs(span.startTime);
    // The true start: when query() was called, not when the statement finished 300 ms later.
    expect(startedAt).toBeGreaterThanOrEqual(calledAt - 2);
    expect(startedAt).toBeLessThan(calledAt + 50);
    expect(hrToMs(span.endTime) - startedAt).toBeGreaterThanOrEqual(290);
    expect(span.name).toBe('SELECT');
    expect(span.attributes).toMatchObject({
      'db.system.name': 'postgresql',
      'db.namespace': harness.database.name,
      'db.query.text': 'SELECT pg_sleep($1)',
      'db.query.summary': 'SELECT',
      'db.client.connection.pool.name': 'primary',
      'pg_manager.attempts': 1,
      'db.response.returned_rows': 1,
    });
    // Not parsed from the text (the PostgreSQL conventions), and the caller stated none.
    expect(span.attributes['db.operation.name']).toBeUndefined();
    expect(span.attributes['server.address']).toEqual(expect.any(String));
    expect(span.attributes['server.port']).toEqual(expect.any(Number));
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(sumOf(await harness.telemetry.collect(), 'pg_manager.slow_queries')).toBe(1);
  });

  it('a fast successful query produces no span', async () => {
    const db = await start();
    await inRequest(() => db.query('SELECT 1'));
    expect(harness.telemetry.packageSpans()).toHaveLength(0);
    expect(harness.telemetry.allSpans()).toHaveLength(1);
  });

  it('a fast query produces a span when sampled', async () => {
    const db = await start({ telemetry: { sampleRatio: 1 } });
    await db.query('SELECT 1');
    expect(only(harness.telemetry.packageSpans()).name).toBe('SELECT');
  });

  it('traceAllQueries gives every call a span, named by its db.query.summary', async () => {
    const db = await start({ telemetry: { traceAllQueries: true } });
    await db.query('CREATE TABLE IF NOT EXISTS orders (id int)');
    await db.query('SELECT id FROM orders WHERE id = $1', [7]);
    const select = harness.telemetry.packageSpans().find((s) => s.name === 'SELECT orders');
    expect(select?.attributes).toMatchObject({ 'db.query.summary': 'SELECT orders', 'db.query.text': 'SELECT id FROM orders WHERE id = $1' });
    expect(select?.attributes['db.collection.name']).toBeUndefined();
  });

  it('a parameterized text is shown as written, literals included; any other is normalized', async () => {
    const db = await start({ telemetry: { traceAllQueries: true } });
    await db.query('SELECT $1::int, 5', [1]);
    await db.query("SELECT 'a literal', 6");
    expect(harness.telemetry.packageSpans().map((s) => s.attributes['db.query.text'])).toEqual(['SELECT $1::int, 5', 'SELECT $1, $2']);
  });

  it('caller-stated db.operation.name and db.collection.name are used, on the span and the metric', async () => {
    const db = await start({ telemetry: { traceAllQueries: true } });
    await db.query('SELECT $1::int AS id', [1], { operationName: 'findUser', collectionName: 'users' });
    const span = only(harness.telemetry.packageSpans());
    expect(span.name).toBe('SELECT');
    expect(span.attributes).toMatchObject({ 'db.operation.name': 'findUser', 'db.collection.name': 'users' });
    const metrics = await harness.telemetry.collect();
    expect(sumOf(metrics, 'db.client.connection.timeouts')).toBe(0);
    const duration = metrics.find((m) => m.descriptor.name === 'db.client.operation.duration')!;
    expect(duration.dataPoints.map((p) => p.attributes['db.operation.name'])).toContain('findUser');
  });

  it('namesFromQueryText restores the parsed db.operation.name and db.collection.name (opt-in)', async () => {
    const db = await start({ telemetry: { traceAllQueries: true, namesFromQueryText: true } });
    await db.query('CREATE TABLE IF NOT EXISTS parsed_orders (id int)');
    await db.query('select id from parsed_orders where id = $1', [7]);
    const select = harness.telemetry.packageSpans().find((s) => s.attributes['db.query.summary'] === 'select parsed_orders');
    // 0.1's values: the first keyword upper-cased, the single table as written.
    expect(select?.attributes).toMatchObject({ 'db.operation.name': 'SELECT', 'db.collection.name': 'parsed_orders' });
  });

  it('a failed query has error status, error.type and db.response.status_code', async () => {
    const db = await start();
    await expect(db.query('SELECT * FROM no_such_table')).rejects.toMatchObject({ code: '42P01' });
    const span = only(harness.telemetry.packageSpans());
    expect(span.status.code).toBe(SpanStatusCode.ERROR);
    expect(span.status.message).toBe('42P01 undefined_table');
    expect(span.name).toBe('SELECT no_such_table');
    expect(span.attributes).toMatchObject({ 'db.response.status_code': '42P01', 'error.type': '42P01', 'db.query.summary': 'SELECT no_such_table' });
  });

  it('recordServerMessages puts the server\'s message in the status description (opt-in)', async () => {
    const db = await start({ telemetry: { recordServerMessages: true } });
    await expect(db.query('SELECT * FROM no_such_table')).rejects.toMatchObject({ code: '42P01' });
    expect(only(harness.telemetry.packageSpans()).status.message).toBe('relation "no_such_table" does not exist');
  });

  it('describes a server error by its SQLSTATE and condition name, never its message', async () => {
    const db = await start();
    await db.query('CREATE TABLE IF NOT EXISTS uniq (email text PRIMARY KEY)');
    await db.query('INSERT INTO uniq VALUES ($1) ON CONFLICT DO NOTHING', ['dup@example.com']);
    await expect(db.query('SELECT $1::int', ['not-a-number'])).rejects.toMatchObject({ code: '22P02' });
    await expect(db.query('INSERT INTO uniq VALUES ($1)', ['dup@example.com'])).rejects.toMatchObject({ code: '23505' });

    const spans = harness.telemetry.packageSpans();
    expect(spans.map((s) => s.attributes['db.response.status_code'])).toEqual(['22P02', '23505']);
    for (const span of spans) {
      expect(span.status.code).toBe(SpanStatusCode.ERROR);
      expect(span.status.message).toMatch(/^(22P02 invalid_text_representation|23505 unique_violation)$/);
      expect(JSON.stringify(span.attributes)).not.toMatch(/not-a-number|dup@example/);
    }
  });

  it('a retried call is one span carrying the attempt count', async () => {
    const db = await start();
    await db.query(`CREATE SEQUENCE IF NOT EXISTS flaky_seq`);
    await db.query(`CREATE OR REPLACE FUNCTION flaky() RETURNS int LANGUAGE plpgsql AS $$
      BEGIN
        IF nextval('flaky_seq') % 3 <> 0 THEN RAISE EXCEPTION 'try again' USING ERRCODE = '40001'; END IF;
        RETURN 1;
      END $$`);
    await db.query(`SELECT setval('flaky_seq', 3)`);

    const { parent } = await inRequest(() => db.query('SELECT flaky()'));
    const span = only(harness.telemetry.packageSpans());
    expect(span.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(span.attributes['pg_manager.attempts']).toBe(3);
    expect(span.status.code).toBe(SpanStatusCode.UNSET);
    expect(sumOf(await harness.telemetry.collect(), 'pg_manager.retries', { 'error.type': '40001' })).toBe(2);
  });

  it('requireParentSpan leaves out spans of calls made outside any span', async () => {
    const db = await start({ telemetry: { requireParentSpan: true } });
    await expect(db.query('SELECT * FROM missing_outside')).rejects.toMatchObject({ code: '42P01' });
    expect(harness.telemetry.packageSpans()).toHaveLength(0);
    await inRequest(() => expect(db.query('SELECT * FROM missing_inside')).rejects.toMatchObject({ code: '42P01' }));
    expect(only(harness.telemetry.packageSpans()).attributes['db.query.summary']).toBe('SELECT missing_inside');
  });

  it('rejects a sampling ratio outside 0..1', async () => {
    await expect(start({ telemetry: { sampleRatio: 2 } })).rejects.toMatchObject({ code: 'CONFIG_INVALID', field: 'telemetry.sampleRatio' });
  });
});

describe('leak spans', () => {
  it('a leaked lease produces the counter and a span with the pool, held time, borrower stack and last statement', async () => {
    const db = await start({ leakDetectionThresholdMs: 100 });
    const lease = await db.getConnection();
    await lease.client.query("SELECT relname FROM pg_class WHERE relname = 'pg_type'");
    const spans = await eventually(
      async () => harness.telemetry.packageSpans(),
      (s) => s.length > 0,
    );
    const leak = only(spans);
    expect(leak.name).toBe('pg_manager.connection.leak');
    expect(leak.kind).toBe(SpanKind.INTERNAL);
    expect(leak.status.code).toBe(SpanStatusCode.ERROR);
    expect(leak.attributes['db.client.connection.pool.name']).toBe('primary');
    expect(leak.attributes['pg_manager.lease.held_seconds']).toBeGreaterThanOrEqual(0.1);
    expect(String(leak.attributes['code.stacktrace'])).toContain('otel-spans.test.ts');
    // What the connection last ran, as a query span would show it (no placeholders in it: normalized).
    expect(leak.attributes).toMatchObject({
      'db.query.text': 'SELECT relname FROM pg_class WHERE relname = $1',
      'db.query.summary': 'SELECT pg_class',
      'pg_manager.lease.statement_running': false,
    });
    expect(hrToMs(leak.endTime) - hrToMs(leak.startTime)).toBeGreaterThanOrEqual(95);
    expect(sumOf(await harness.telemetry.collect(), 'pg_manager.connection.leaks', { 'db.client.connection.pool.name': 'primary' })).toBe(1);

    lease.release();
    const resolved = harness.telemetry.packageSpans().find((s) => s.name === 'pg_manager.connection.leak_resolved');
    expect(resolved?.links.map((l) => l.context.spanId)).toEqual([leak.spanContext().spanId]);
    expect(resolved?.attributes['pg_manager.lease.id']).toBe(leak.attributes['pg_manager.lease.id']);
    expect(resolved?.attributes['pg_manager.lease.held_seconds']).toBeGreaterThanOrEqual(leak.attributes['pg_manager.lease.held_seconds'] as number);
    // Reported once, however many sweeps ran.
    expect(sumOf(await harness.telemetry.collect(), 'pg_manager.connection.leaks')).toBe(1);
  });
});
