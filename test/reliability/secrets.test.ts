// Scenario 11: a unique password and unique parameter values never surface, even through faults, leaks and slow calls.
// test/telemetry/otel-redaction.test.ts covers server messages that echo data on a calm server; this adds the bad day.
import { randomBytes } from 'node:crypto';
import { inspect } from 'node:util';
import { PrometheusExporter, PrometheusSerializer } from '@opentelemetry/exporter-prometheus';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PgManagerError, type PostgresManager } from '../../src/index.js';
import { adminQuery, adminUrl, createPasswordRole, createTestDatabase, eventually, type TestDatabase } from '../support/db.js';
import { createManager, type CapturingLogger } from '../support/manager.js';
import { createTelemetry, type Telemetry } from '../support/otel.js';
import { FaultProxy } from './support/fault-proxy.js';
import { trapProcessFaults } from './support/process-trap.js';

trapProcessFaults();

const unique = (prefix: string): string => `${prefix}${randomBytes(8).toString('hex')}`;
const PASSWORD = unique('pw');
const VALUE = unique('val');
/** Formatted by a RAISE into a message of a class that is no data error (40001: retried, then given up). */
const RAISED = unique('raised');

let database: TestDatabase;
let proxy: FaultProxy;
let telemetry: Telemetry;
let prometheus: PrometheusExporter;
let db: PostgresManager;
let appName: string;
let logger: CapturingLogger;
/** Every error a call of the workload ended with. */
const caught: unknown[] = [];
/** Everything the package shows about itself, as text, keyed by where it came from. */
const shown = new Map<string, string>();

const deep = (value: unknown): string => inspect(value, { depth: null, maxArrayLength: null, maxStringLength: null, showHidden: false });
const failed = (promise: Promise<unknown>): Promise<void> =>
  promise.then(
    () => {
      throw new Error('expected this call to fail');
    },
    (error: unknown) => {
      caught.push(error);
    },
  );

async function activeBackends(): Promise<number> {
  const { rows } = await adminQuery<{ n: string }>(
    "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
    [appName],
  );
  return Number(rows[0]?.n);
}

async function killActive(): Promise<void> {
  await eventually(activeBackends, (n) => n === 1);
  await adminQuery("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'", [appName]);
}

beforeAll(async () => {
  database = await createTestDatabase('secrets_rel');
  const role = await createPasswordRole(database.name, PASSWORD);
  await adminQuery('CREATE TABLE people (email text PRIMARY KEY)', [], database.name);
  await adminQuery(`GRANT ALL ON people TO ${role.user}`, [], database.name);
  const server = new URL(adminUrl());
  proxy = await FaultProxy.start({ host: server.hostname, port: Number(server.port) });
  const viaProxy = new URL(role.url);
  viaProxy.port = String(proxy.port);
  const unreachableReplica = new URL(role.url);
  unreachableReplica.port = '1';
  prometheus = new PrometheusExporter({ preventServerStart: true });
  telemetry = createTelemetry([prometheus]);
  ({ db, appName, logger } = await createManager(viaProxy.toString(), {
    readReplicaUrl: unreachableReplica.toString(),
    maxConnections: 2,
    connectionTimeoutSeconds: 2,
    statementTimeoutMs: 400,
    queryTimeoutMs: 800,
    monitoringEnabled: true,
    slowQueryThresholdMs: 50,
    leakDetectionThresholdMs: 100,
    retry: { baseDelayMs: 5, maxDelayMs: 20 },
    telemetry: { traceAllQueries: true, meterProvider: telemetry.meterProvider, tracerProvider: telemetry.tracerProvider },
  }));

  // Calm calls, a slow one, and data-echoing failures.
  await db.query('SELECT $1::text AS v', [VALUE]);
  await db.read('SELECT pg_sleep(0.06), $1::text', [VALUE]);
  await db.query('INSERT INTO people VALUES ($1)', [VALUE]);
  await failed(db.query('INSERT INTO people VALUES ($1)', [VALUE]));
  await failed(db.query('SELECT $1::int', [VALUE]));
  await failed(db.query(`DO $$ BEGIN RAISE EXCEPTION 'card ${RAISED}' USING ERRCODE = '40001'; END $$`));
  // A statement timeout, and a transaction whose COMMIT answered ROLLBACK.
  await failed(db.query('SELECT pg_sleep(2), $1::text', [VALUE]));
  await failed(db.transaction(async (client) => client.query('SELECT $1::int', [VALUE]).catch(() => undefined)));
  // A read killed mid-statement (retried) and a write killed mid-statement (surfaced).
  const read = db.read('SELECT pg_sleep(0.3), $1::text', [VALUE]);
  await killActive();
  await read;
  const write = failed(db.query('INSERT INTO people SELECT $1 || pg_sleep(0.3)::text', [`${VALUE}-2`]));
  await killActive();
  await write;
  // A write whose answer is lost (on a connection opened beforehand), and one that meets a reset connection.
  await db.query('SELECT 1');
  proxy.setMode('dropResponses');
  await failed(db.query('INSERT INTO people VALUES ($1)', [`${VALUE}-3`]));
  proxy.setMode('forward');
  const reset = failed(db.query('SELECT pg_sleep(0.3), $1::text', [VALUE]));
  await eventually(activeBackends, (n) => n === 1);
  proxy.reset();
  await reset;
  // Exhaustion, with a lease held long enough to be reported as a leak.
  const held = await db.getConnection();
  await held.client.query('SELECT $1::text', [VALUE]);
  const other = await db.getConnection();
  await failed(db.query('SELECT $1::text', [VALUE], { timeoutMs: 100 }));
  await failed(db.getConnection({ timeoutMs: 100 }));
  await eventually(async () => db.getPoolMetrics().leaks.detected, (n) => n >= 1);
  shown.set('lease', deep(held));
  shown.set('pg client', inspect(held.client, { depth: 3 }));
  held.release();
  other.release();
  // Authentication failure of a second manager with the same user and a longer password.
  const wrong = new URL(viaProxy.toString());
  wrong.password = `${PASSWORD}x`;
  await failed(createManager(wrong.toString()));

  const metrics = await telemetry.collect();
  const { resourceMetrics } = await prometheus.collect();
  shown.set('spans', deep(telemetry.allSpans()));
  shown.set('metrics', deep(metrics));
  shown.set('prometheus scrape', new PrometheusSerializer().serialize(resourceMetrics));
  shown.set('log lines', logger.lines.join('\n'));
  shown.set('getPoolMetrics() JSON', JSON.stringify(db.getPoolMetrics()));
  shown.set('getHealthStatus() JSON', JSON.stringify(db.getHealthStatus()));
  shown.set('slow and tracked queries', JSON.stringify([db.getSlowQueries(100), db.getQueryStats(100)]));
  shown.set('manager', deep(db));
  shown.set('manager JSON', JSON.stringify(db));
  shown.set('config', deep(db.config) + JSON.stringify(db.config));
});

afterAll(async () => {
  await db?.close({ timeoutMs: 1000 });
  await proxy?.close();
  await telemetry?.shutdown();
  await database?.drop();
});

describe('secrets through a bad day', () => {
  it('the workload really went through errors, retries, timeouts, leaks and slow calls', () => {
    const codes = caught.map((e) => (e as { code?: string }).code);
    expect(codes).toEqual(['23505', '22P02', 'RETRY_EXHAUSTED', '57014', 'TRANSACTION_ROLLED_BACK', '57P01', 'CONNECTION_LOST', 'CONNECTION_LOST', 'CONNECTION_TIMEOUT', 'CONNECTION_TIMEOUT', '28P01']);
    expect(shown.get('spans')).toContain('pg_manager.connection.leak');
    expect(db.getSlowQueries(100).length).toBeGreaterThan(0);
    expect(shown.get('log lines')).toContain('replica unavailable');
  });

  it('the password appears nowhere: telemetry, logs, metrics JSON, health, inspect of every object, any error', () => {
    for (const [where, text] of shown) expect(text.includes(PASSWORD), where).toBe(false);
    for (const error of caught) {
      expect(deep(error).includes(PASSWORD), String(error)).toBe(false);
      expect(JSON.stringify(error).includes(PASSWORD), String(error)).toBe(false);
    }
  });

  it('what a RAISE formatted into its message appears in no span, metric, scrape, log or report', () => {
    for (const [where, text] of shown) expect(text.includes(RAISED), where).toBe(false);
  });

  it('parameter values appear nowhere the package writes, and in none of its own errors', () => {
    for (const [where, text] of shown) {
      // The lease and the pg client are the application's own objects; what it sent on them is its business.
      if (where === 'lease' || where === 'pg client') continue;
      expect(text.includes(VALUE), where).toBe(false);
    }
    const own = caught.filter((e): e is PgManagerError => e instanceof PgManagerError);
    expect(own.length).toBeGreaterThanOrEqual(4);
    for (const error of own) expect(deep(error).includes(VALUE), error.message).toBe(false);
  });
});
