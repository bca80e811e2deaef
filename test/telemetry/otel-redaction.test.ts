// A password, parameter values, literals and what a RAISE put in its message, all unique strings, never appear in
// exported spans (status and events included), metrics, the scrape or the log.
import { randomBytes } from 'node:crypto';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import type { PostgresManager } from '../../src/index.js';
import { createPasswordRole, createTestDatabase, eventually, type TestDatabase } from '../support/db.js';
import { createManager, type CapturingLogger } from '../support/manager.js';
import { createTelemetry, type Telemetry } from '../support/otel.js';

const unique = (prefix: string): string => `${prefix}${randomBytes(8).toString('hex')}`;
const PASSWORD = unique('pw');
const VALUE = unique('val');
const LITERAL = unique('lit');
/** Formatted into server messages by RAISE, in SQLSTATE classes that are not data errors. */
const RAISED = unique('raised');
const SECRETS = [PASSWORD, VALUE, LITERAL, RAISED];

let database: TestDatabase;
let telemetry: Telemetry;
let manager: PostgresManager;
let logger: CapturingLogger;
let server: Server;
let exported: { spans: string; metrics: string; scrape: string };

const deep = (value: unknown): string => inspect(value, { depth: null, maxArrayLength: null, maxStringLength: null });

beforeAll(async () => {
  database = await createTestDatabase('redact');
  const role = await createPasswordRole(database.name, PASSWORD);
  const exporter = new PrometheusExporter({ preventServerStart: true });
  telemetry = createTelemetry([exporter]);
  server = createServer((request, response) => exporter.getMetricsRequestHandler(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  const created = await createManager(role.url, {
    maxConnections: 2,
    monitoringEnabled: true,
    slowQueryThresholdMs: 50,
    leakDetectionThresholdMs: 100,
    telemetry: { traceAllQueries: true, meterProvider: telemetry.meterProvider, tracerProvider: telemetry.tracerProvider },
  });
  manager = created.db;
  logger = created.logger;
  const db = manager;
  const fails = (promise: Promise<unknown>): Promise<unknown> => promise.catch((error: unknown) => error);

  await db.query('SELECT $1::text AS v', [VALUE]);
  await db.query('SELECT pg_sleep(0.06), $1::text', [VALUE]);
  await db.query(`SELECT '${LITERAL}' AS x`);
  await db.query('CREATE TABLE people (email text PRIMARY KEY)');
  await db.query('INSERT INTO people VALUES ($1)', [VALUE]);
  // Server messages that echo the value: 22P02 quotes the input, 23505's detail names the key,
  // a RAISE formats it, and a syntax error quotes the literal it stopped at.
  expect(await fails(db.query('SELECT $1::int', [VALUE]))).toMatchObject({ code: '22P02', message: expect.stringContaining(VALUE) });
  expect(await fails(db.query('INSERT INTO people VALUES ($1)', [VALUE]))).toMatchObject({ code: '23505', detail: expect.stringContaining(VALUE) });
  expect(await fails(db.query(`DO $$ BEGIN RAISE EXCEPTION 'bad %', '${VALUE}'; END $$`))).toMatchObject({ code: 'P0001' });
  expect(await fails(db.query(`SELECT 1 '${LITERAL}'`))).toMatchObject({ code: '42601', message: expect.stringContaining(LITERAL) });
  // Any class can carry data: a serialization failure (retried, then given up), an internal error, a trigger's
  // check violation, each formatting a secret into its message, detail or hint.
  await db.query(`CREATE FUNCTION raise_in(code text, v text) RETURNS void LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'card %', v USING ERRCODE = code, DETAIL = 'detail ' || v, HINT = 'hint ' || v; END $$`);
  expect(await fails(db.query('SELECT raise_in($1, $2)', ['40001', RAISED]))).toMatchObject({ code: 'RETRY_EXHAUSTED' });
  expect(await fails(db.query('SELECT raise_in($1, $2)', ['XX000', RAISED]))).toMatchObject({ code: 'XX000', message: `card ${RAISED}` });
  expect(await fails(db.query(`DO $$ BEGIN RAISE EXCEPTION 'card ${RAISED}' USING ERRCODE = '57014'; END $$`))).toMatchObject({ code: '57014' });
  await db.query(`CREATE FUNCTION people_guard() RETURNS trigger LANGUAGE plpgsql AS $$
    BEGIN RAISE EXCEPTION 'refused %', NEW.email USING ERRCODE = '23514'; END $$`);
  await db.query('CREATE TABLE guarded (email text)');
  await db.query('CREATE TRIGGER guard BEFORE INSERT ON guarded FOR EACH ROW EXECUTE FUNCTION people_guard()');
  expect(await fails(db.query('INSERT INTO guarded VALUES ($1)', [RAISED]))).toMatchObject({ code: '23514' });
  const lease = await db.getConnection();
  await lease.client.query('SELECT $1::text', [VALUE]);
  await eventually(
    async () => telemetry.packageSpans().some((s) => s.name === 'pg_manager.connection.leak'),
    (found) => found,
  );
  lease.release();

  const { port } = server.address() as AddressInfo;
  exported = {
    spans: deep(telemetry.allSpans()),
    metrics: deep(await telemetry.collect()),
    scrape: await (await fetch(`http://127.0.0.1:${port}/metrics`)).text(),
  };
});

afterAll(async () => {
  await manager?.close({ timeoutMs: 1000 });
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await telemetry?.shutdown();
  await database?.drop();
});

describe('nothing secret leaves through telemetry', () => {
  it('the workload really produced spans for every call, the leak and its return', () => {
    const names = telemetry.packageSpans().map((s) => s.name);
    expect(names.length).toBeGreaterThanOrEqual(10);
    expect(names).toEqual(expect.arrayContaining(['pg_manager.connection.leak', 'pg_manager.connection.leak_resolved', 'INSERT people']));
    expect(exported.spans).toContain('SELECT $1::text AS v');
    expect(exported.spans).toContain('SELECT $1 AS x');
  });

  it('spans contain neither the password nor any parameter value, literal or raised message', () => {
    for (const secret of SECRETS) expect(exported.spans.includes(secret), secret).toBe(false);
  });

  it('describes the failed spans by SQLSTATE and condition name', () => {
    const descriptions = telemetry.packageSpans().flatMap((s) => (s.status.message ? [s.status.message] : []));
    expect(descriptions).toEqual(
      expect.arrayContaining(['40001 serialization_failure', 'XX000 internal_error', '57014 query_canceled', '23514 check_violation', 'P0001 raise_exception']),
    );
  });

  it('metrics and the Prometheus scrape contain none of them', () => {
    expect(exported.scrape).toContain('db_client_operation_duration_count');
    for (const secret of SECRETS) {
      expect(exported.metrics.includes(secret), secret).toBe(false);
      expect(exported.scrape.includes(secret), secret).toBe(false);
    }
  });

  it('log lines contain none of them', () => {
    for (const secret of SECRETS) expect(logger.lines.join('\n').includes(secret), secret).toBe(false);
  });
});
