// A real Prometheus scrape after a workload: every metric the dashboard and the alert rules query is there, under the names they use.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { parse } from 'yaml';
import { ConnectionTimeoutError, type PostgresManager } from '../../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';
import { createTelemetry, type Telemetry } from '../support/otel.js';

/**
 * Metric names a PromQL expression reads: label matchers, grouping clauses and label_values'
 * label argument are removed first, and recording-rule names (which contain colons) are skipped.
 */
function metricNamesIn(expr: string): string[] {
  const stripped = expr
    .replace(/\{[^}]*\}/g, '')
    .replace(/\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)/g, '')
    .replace(/label_values\(([^,)]*),[^)]*\)/g, 'label_values($1)');
  return [...stripped.matchAll(/(?<![\w:])([a-z_][a-z0-9_]*)(?![\w:])/g)]
    .map((m) => m[1]!)
    .filter((name) => name.startsWith('db_client_') || name.startsWith('pg_manager_'));
}

function dashboardExprs(): string[] {
  const dashboard = JSON.parse(readFileSync(new URL('../../observability/grafana-dashboard.json', import.meta.url), 'utf8')) as {
    panels: { targets?: { expr: string }[] }[];
    templating: { list: { query: string | { query: string } }[] };
  };
  return [
    ...dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => t.expr)),
    ...dashboard.templating.list.map((v) => (typeof v.query === 'string' ? v.query : v.query.query)),
  ];
}

function ruleExprs(): string[] {
  const rules = parse(readFileSync(new URL('../../observability/alerts.yaml', import.meta.url), 'utf8')) as { groups: { rules: { expr: string }[] }[] };
  return rules.groups.flatMap((g) => g.rules.map((r) => r.expr));
}

let primaryDb: TestDatabase;
let replicaDb: TestDatabase;
let telemetry: Telemetry;
let manager: PostgresManager;
let server: Server;
let scrape: string;

beforeAll(async () => {
  [primaryDb, replicaDb] = await Promise.all([createTestDatabase('scrape_p'), createTestDatabase('scrape_r')]);
  // Mounted on our own server, as an app would with getMetricsRequestHandler; loopback only.
  const exporter = new PrometheusExporter({ preventServerStart: true });
  telemetry = createTelemetry([exporter]);
  server = createServer((request, response) => exporter.getMetricsRequestHandler(request, response));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));

  const { db } = await createManager(primaryDb.url, {
    readReplicaUrl: replicaDb.url,
    maxConnections: 2,
    monitoringEnabled: true,
    slowQueryThresholdMs: 50,
    leakDetectionThresholdMs: 100,
    retry: { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 5 },
    // Both names of the pool limit, so that every name the dashboard and the rules may read is scraped.
    telemetry: { meterProvider: telemetry.meterProvider, tracerProvider: telemetry.tracerProvider, semconvStabilityOptIn: 'database/dup' },
  });
  manager = db;
  // Every signal at least once: queries on both pools, a slow one, a failure, a retry, a timeout and a leak.
  await db.query('SELECT 1');
  await db.read('SELECT 1');
  await db.query('SELECT pg_sleep(0.08)');
  await db.query('SELECT * FROM no_such_table').catch(() => undefined);
  await db.query(`CREATE SEQUENCE once_seq`);
  await db.query(`CREATE FUNCTION once() RETURNS int LANGUAGE plpgsql AS $$
    BEGIN IF nextval('once_seq') = 1 THEN RAISE EXCEPTION 'again' USING ERRCODE = '40001'; END IF; RETURN 1; END $$`);
  await db.query('SELECT once()');
  const held = [await db.getConnection(), await db.getConnection()];
  await expect(db.getConnection({ timeoutMs: 30 })).rejects.toBeInstanceOf(ConnectionTimeoutError);
  await eventually(
    async () => telemetry.packageSpans().filter((s) => s.name === 'pg_manager.connection.leak').length,
    (n) => n > 0,
  );
  const { port } = server.address() as AddressInfo;
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  expect(response.status).toBe(200);
  scrape = await response.text();
  for (const lease of held) lease.release();
});

afterAll(async () => {
  await manager?.close({ timeoutMs: 1000 });
  await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
  await telemetry?.shutdown();
  await Promise.all([primaryDb?.drop(), replicaDb?.drop()]);
});

/** Sample names in the exposition (what PromQL can select), without the comment lines. */
function sampleNames(exposition: string): Set<string> {
  return new Set(
    exposition
      .split('\n')
      .filter((line) => line !== '' && !line.startsWith('#'))
      .map((line) => line.match(/^[a-zA-Z_:][a-zA-Z0-9_:]*/)![0]),
  );
}

describe('Prometheus scrape', () => {
  it('contains every metric name the dashboard and the alert rules use', () => {
    const names = sampleNames(scrape);
    const used = new Set([...dashboardExprs(), ...ruleExprs()].flatMap(metricNamesIn));
    expect(used.size).toBeGreaterThanOrEqual(10);
    const missing = [...used].filter((name) => !names.has(name));
    expect(missing).toEqual([]);
  });

  it('serves the documented families with their types, no unit suffix, one series set per pool', () => {
    const types = Object.fromEntries([...scrape.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map((m) => [m[1], m[2]]));
    expect(types).toMatchObject({
      db_client_connection_count: 'gauge',
      db_client_connection_max: 'gauge',
      db_client_connection_limit: 'gauge',
      db_client_connection_idle_min: 'gauge',
      db_client_connection_pending_requests: 'gauge',
      db_client_connection_timeouts_total: 'counter',
      db_client_connection_wait_time: 'histogram',
      db_client_connection_use_time: 'histogram',
      db_client_connection_create_time: 'histogram',
      db_client_operation_duration: 'histogram',
      pg_manager_connection_leaks_total: 'counter',
      pg_manager_slow_queries_total: 'counter',
      pg_manager_retries_total: 'counter',
    });
    expect(scrape).not.toMatch(/_seconds/);
    expect(scrape).toMatch(/^db_client_connection_max\{db_client_connection_pool_name="primary",db_system_name="postgresql",[^}]*\} 2$/m);
    expect(scrape).toMatch(/^db_client_connection_max\{db_client_connection_pool_name="replica",db_system_name="postgresql",[^}]*\} 2$/m);
    expect(scrape).toMatch(/^db_client_connection_limit\{db_client_connection_pool_name="primary",db_system_name="postgresql",[^}]*\} 2$/m);
    // The timeout is counted, and is no wait_time sample: that metric holds waits that obtained a connection.
    expect(scrape).toMatch(/^db_client_connection_timeouts_total\{db_client_connection_pool_name="primary",[^}]*\} 1$/m);
    expect(scrape).not.toMatch(/pg_manager_outcome="(timeout|error)"/);
    // Operations carry db.query.summary and the server, never a parsed db.operation.name.
    expect(scrape).toMatch(/^db_client_operation_duration_count\{[^}]*server_address="127\.0\.0\.1",server_port="\d+",db_query_summary="SELECT no_such_table",error_type="42P01"[^}]*\} 1$/m);
    expect(scrape).not.toContain('db_operation_name');
  });

  it('finds metric names in PromQL but not label names or recording rules', () => {
    expect(
      metricNamesIn(
        'sum by (db_client_connection_pool_name, le) (rate(db_client_connection_wait_time_bucket{db_client_connection_state="used"}[5m])) / pg_manager:db_client_connection_utilization:ratio',
      ),
    ).toEqual(['db_client_connection_wait_time_bucket']);
    expect(metricNamesIn('label_values(db_client_connection_max{job=~"$job"}, db_client_connection_pool_name)')).toEqual(['db_client_connection_max']);
  });
});
