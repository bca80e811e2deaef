// End to end: the example service scraped by a real Prometheus with the package's alert rules; the saturation alert,
// every dashboard query, recording rule and alert expression, through Prometheus's HTTP API. The pool reports both
// names of its limit (OTEL_SEMCONV_STABILITY_OPT_IN=database/dup), and every query that reads one is asked again with
// either name hidden: the default (db.client.connection.max only) and `database` (db.client.connection.limit only).
// The service reaches PostgreSQL through a real PgBouncer in transaction mode, as services at scale do, and reads its
// admin console, so the dashboard's PgBouncer row is asked too (without Debian's pgbouncer: direct, and that row is not).
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { exampleMigrationsDir } from '../../examples/schema.js';
import type { Lease, PostgresManager } from '../../src/index.js';
import { registerOpenTelemetry, type Observability } from '../../examples/otel-bootstrap.js';
import { seedDemoData } from '../../examples/seed.js';
import { createService } from '../../examples/service.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { freePort } from '../../dev/embedded-postgres.js';
import { createManager } from '../support/manager.js';
import { resetGlobalOpenTelemetry } from '../support/otel.js';
import { PgBouncer, pgBouncerInstalled, serverAt } from '../support/pgbouncer.js';

/** The binary on PATH, looked up without running it: a spawn can fail for reasons that are no reason to skip. */
function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    const candidate = join(dir, name);
    try {
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // Not in this folder.
    }
  }
  return undefined;
}

const PROMETHEUS = onPath('prometheus');
const found = PROMETHEUS !== undefined;
if (!found) console.warn('test/observability/e2e-prometheus.test.ts is skipped: no "prometheus" binary on PATH (apt-get install prometheus; .ci/run does)');
const BOUNCER = pgBouncerInstalled();
if (found && !BOUNCER) console.warn('test/observability/e2e-prometheus.test.ts runs direct: no pgbouncer binary (apt-get install pgbouncer; .ci/run does), so the PgBouncer row is not asked');
const JOB = 'exploit-api';
const POOL_SIZE = 4;
/**
 * For $__rate_interval: longer than this whole test after the first scrape (its waits add up to
 * about 40 s at most), so every series that moved since then has a rate, whatever the machine's pace.
 */
const RATE_INTERVAL = '1m';
const ALERTS_FILE = fileURLToPath(new URL('../../observability/alerts.yaml', import.meta.url));
const DASHBOARD_FILE = new URL('../../observability/grafana-dashboard.json', import.meta.url);

interface PromVector {
  metric: Record<string, string>;
  value: [number, string];
}
interface PromAlert {
  labels: Record<string, string>;
  state: 'pending' | 'firing' | 'inactive';
}
interface DashboardPanel {
  title?: string;
  targets?: { expr?: string }[];
  panels?: DashboardPanel[];
}

let database: TestDatabase;
let bouncer: PgBouncer | undefined;
let observability: Observability;
let db: PostgresManager;
let service: Server;
let instance: string;
let workDir: string;
let prometheus: ChildProcess | undefined;
let prometheusUrl: string;
let prometheusLog = '';
let stopTraffic: (() => Promise<void>) | undefined;
const held: Lease[] = [];

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

async function api<T>(path: string, params: Record<string, string> = {}): Promise<T> {
  const response = await fetch(`${prometheusUrl}${path}?${new URLSearchParams(params)}`);
  const body = (await response.json()) as { status: string; data: T; error?: string };
  if (body.status !== 'success') throw new Error(`Prometheus ${path} ${JSON.stringify(params)}: ${body.error}`);
  return body.data;
}

async function instant(query: string): Promise<PromVector[]> {
  return (await api<{ result: PromVector[] }>('/api/v1/query', { query })).result;
}

async function alerts(): Promise<PromAlert[]> {
  return (await api<{ alerts: PromAlert[] }>('/api/v1/alerts')).alerts;
}

/** Polls until `check` returns a value, with Prometheus's own log attached when it never does. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined>, timeoutMs: number): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check().catch(() => undefined);
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}\nPrometheus log:\n${prometheusLog.slice(-3000)}`);
    await sleep(250);
  }
}

function alertState(list: PromAlert[], name: string): PromAlert | undefined {
  return list.find(
    (a) => a.labels.alertname === name && a.labels.job === JOB && a.labels.db_client_connection_pool_name === 'primary' && a.state !== 'inactive',
  );
}

/** API traffic through the service, plus slow calls and calls that fail and are retried, so every series moves. */
function startTraffic(baseUrl: string): () => Promise<void> {
  let running = true;
  const loop = async (step: () => Promise<unknown>, pauseMs: number): Promise<void> => {
    while (running) {
      await step().catch(() => undefined);
      await sleep(pauseMs);
    }
  };
  const get = (path: string) => () => fetch(`${baseUrl}${path}`).then((r) => r.arrayBuffer());
  let posted = 0;
  const loops = [
    loop(get('/exploits/recent'), 20),
    loop(get('/stats/24h'), 30),
    loop(
      () =>
        fetch(`${baseUrl}/exploits`, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({ source_id: 1, external_id: `e2e-${++posted}`, title: 'e2e', url: 'https://example.com/e2e' }),
        }).then((r) => r.arrayBuffer()),
      50,
    ),
    loop(() => db.query('SELECT pg_sleep(0.12)'), 100),
    // 40001 is retried (pg_manager_retries_total), then fails as RetryExhaustedError (error_type).
    loop(() => db.query("DO $$ BEGIN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END $$"), 150),
  ];
  return async () => {
    running = false;
    await Promise.allSettled(loops);
  };
}

/** Every PromQL query of the dashboard: panel targets (rows included) and the template variables. */
function dashboardQueries(): { panelQueries: { title: string; expr: string }[]; variableQueries: Record<string, string> } {
  const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, 'utf8')) as {
    panels: DashboardPanel[];
    templating: { list: { name: string; type: string; query: string | { query: string } }[] };
  };
  const flatten = (panels: DashboardPanel[]): DashboardPanel[] => panels.flatMap((p) => [p, ...flatten(p.panels ?? [])]);
  const panelQueries = flatten(dashboard.panels).flatMap((p) =>
    (p.targets ?? []).filter((t) => t.expr).map((t) => ({ title: p.title ?? '(untitled)', expr: t.expr! })),
  );
  const variableQueries: Record<string, string> = {};
  for (const v of dashboard.templating.list) if (v.type === 'query') variableQueries[v.name] = typeof v.query === 'string' ? v.query : v.query.query;
  return { panelQueries, variableQueries };
}

/** The query as the default (only db.client.connection.max) and `database` (only .limit) would find the series. */
function underEachConvention(query: string): { label: string; query: string }[] {
  const variants = [{ label: 'both names (database/dup)', query }];
  if (query.includes('db_client_connection_limit')) {
    variants.push({ label: 'the default (.max only)', query: query.replaceAll('db_client_connection_limit', 'db_client_connection_limit_not_emitted') });
  }
  if (query.includes('db_client_connection_max')) {
    variants.push({ label: 'database (.limit only)', query: query.replaceAll('db_client_connection_max', 'db_client_connection_max_not_emitted') });
  }
  return variants;
}

/** The recording and alert rules of alerts.yaml; an alert's expression without its threshold (`> 0.5`). */
function ruleQueries(): { name: string; expr: string }[] {
  const file = parse(readFileSync(ALERTS_FILE, 'utf8')) as { groups: { rules: { record?: string; alert?: string; expr: string }[] }[] };
  return file.groups.flatMap((g) =>
    g.rules.map((r) => ({ name: r.record ?? r.alert!, expr: r.alert ? r.expr.replace(/\s*(>=|>|<=|<|==)\s*[\d.]+\s*$/, '') : r.expr })),
  );
}

/** Grafana's substitution, with this run's values: the queries must find this service's series under its real labels. */
function substitute(expr: string): string {
  return expr
    .replaceAll('$__rate_interval', RATE_INTERVAL)
    .replaceAll('$__interval', '1s')
    .replace(/\$\{?(job|instance|pool)\}?/g, (_all, name: string) => ({ job: JOB, instance, pool: 'primary' })[name]!);
}

describe.skipIf(!found)(found ? 'Prometheus end to end' : 'Prometheus end to end (skipped: no "prometheus" binary on PATH; apt-get install prometheus)', () => {
  beforeAll(async () => {
    database = await createTestDatabase('e2e');
    bouncer = BOUNCER ? await PgBouncer.start({ server: serverAt(database.url), mode: 'transaction' }) : undefined;
    const through = bouncer ? { poolerMode: 'transaction' as const, pgbouncer: { adminUrl: bouncer.adminUrl, intervalMs: 500 } } : {};
    // The README's bootstrap: the SDK with a Prometheus exporter first, then the manager, then the service serving /metrics.
    observability = registerOpenTelemetry({ serviceName: 'e2e', mountMetricsOnApp: true, metricsPort: 0, metricsHost: '127.0.0.1', otlpEndpoint: undefined });
    ({ db } = await createManager(bouncer ? bouncer.url(database.name) : database.url, {
      ...through,
      schemaInit: 'strict',
      migrationsDir: exampleMigrationsDir,
      monitoringEnabled: true,
      maxConnections: POOL_SIZE,
      connectionTimeoutSeconds: 0.3,
      slowQueryThresholdMs: 100,
      leakDetectionThresholdMs: 1000,
      retry: { maxRetries: 2, baseDelayMs: 5, maxDelayMs: 20 },
      telemetry: { semconvStabilityOptIn: 'database/dup' },
    }));
    await seedDemoData(db);
    service = createService({ db, metrics: observability.metricsHandler });
    await new Promise<void>((resolve) => service.listen(0, '127.0.0.1', resolve));
    instance = `127.0.0.1:${(service.address() as AddressInfo).port}`;

    workDir = mkdtempSync(join(tmpdir(), 'e2e-prometheus-'));
    const config = {
      global: { scrape_interval: '1s', scrape_timeout: '1s', evaluation_interval: '1s' },
      rule_files: [ALERTS_FILE],
      scrape_configs: [{ job_name: JOB, static_configs: [{ targets: [instance] }] }],
    };
    // JSON is YAML, and needs no quoting rules of its own.
    writeFileSync(join(workDir, 'prometheus.yml'), JSON.stringify(config, null, 2));
    const port = await freePort();
    prometheusUrl = `http://127.0.0.1:${port}`;
    prometheus = spawn(
      PROMETHEUS!,
      [
        `--config.file=${join(workDir, 'prometheus.yml')}`,
        `--storage.tsdb.path=${join(workDir, 'data')}`,
        `--web.listen-address=127.0.0.1:${port}`,
        '--log.level=warn',
      ],
      { stdio: ['ignore', 'ignore', 'pipe'] },
    );
    prometheus.stderr!.on('data', (chunk: Buffer) => (prometheusLog += chunk.toString()));
    await waitFor('Prometheus to be ready', async () => ((await fetch(`${prometheusUrl}/-/ready`)).ok ? true : undefined), 15_000);
  });

  afterAll(async () => {
    await stopTraffic?.();
    for (const lease of held.splice(0)) lease.release();
    if (prometheus && prometheus.exitCode === null) {
      const exited = new Promise((resolve) => prometheus!.once('exit', resolve));
      prometheus.kill('SIGTERM');
      const timer = setTimeout(() => prometheus!.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    }
    if (service) await new Promise<void>((resolve) => {
      service.close(() => resolve());
      service.closeAllConnections();
    });
    await db?.close({ timeoutMs: 1000 });
    await observability?.shutdown();
    resetGlobalOpenTelemetry();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
    await bouncer?.destroy();
    await database?.drop();
  });

  it('scrapes the service\'s /metrics every second, with the alert rules loaded', async () => {
    const up = await waitFor('the first scrape of the service', async () => {
      const result = await instant(`up{job="${JOB}"}`);
      return result[0]?.value[1] === '1' ? result[0] : undefined;
    }, 20_000);
    expect(up.metric).toMatchObject({ job: JOB, instance });
    const groups = (await api<{ groups: { name: string; rules: unknown[] }[] }>('/api/v1/rules')).groups;
    expect(groups.map((g) => g.name).sort()).toEqual(['otel-pg-manager.alerts', 'otel-pg-manager.recording']);
    stopTraffic = startTraffic(`http://${instance}`);
    // A few scrapes of ordinary traffic before the pool fills up.
    await sleep(2500);
  });

  it('raises PgPoolSaturated (pending or firing) while every connection of the pool is held', async () => {
    // The traffic loops queue for the same connections. Each lease is kept as it arrives, so
    // afterAll releases every one taken even if another acquisition fails.
    await Promise.all(
      Array.from({ length: POOL_SIZE }, async () => {
        held.push(await db.getConnection({ timeoutMs: 10_000 }));
      }),
    );
    const alert = await waitFor('PgPoolSaturated to become pending or firing', async () => alertState(await alerts(), 'PgPoolSaturated'), 20_000);
    expect(['pending', 'firing']).toContain(alert.state);
    const utilization = await instant(`pg_manager:db_client_connection_utilization:ratio{job="${JOB}"}`);
    expect(Number(utilization[0]!.value[1])).toBe(1);
  });

  it('fires PgPoolConnectionLeak once a held lease passes the leak-detection threshold', async () => {
    try {
      const alert = await waitFor('PgPoolConnectionLeak to fire', async () => alertState(await alerts(), 'PgPoolConnectionLeak'), 15_000);
      expect(alert.state).toBe('firing');
    } finally {
      for (const lease of held.splice(0)) lease.release();
    }
    // Ordinary traffic again, so the rate windows hold acquisitions after the saturation too.
    await sleep(3000);
  });

  it('answers every panel query of the Grafana dashboard with data', async () => {
    const { panelQueries } = dashboardQueries();
    expect(panelQueries.length).toBeGreaterThanOrEqual(10);
    const empty: string[] = [];
    for (const { title, expr } of panelQueries) {
      if (!bouncer && expr.includes('pgbouncer_')) continue;
      for (const { label, query } of underEachConvention(substitute(expr))) {
        expect(query, title).not.toContain('$');
        const result = await instant(query);
        // A quantile over buckets that did not move is NaN: Grafana would draw nothing, so that counts as no data.
        if (!result.some((sample) => Number.isFinite(Number(sample.value[1])))) empty.push(`${title} [${label}]: ${query} -> ${JSON.stringify(result)}`);
      }
    }
    // Names seen, and the target's last scrape error, to tell a missing series from a rejected scrape.
    const names = empty.length === 0 ? [] : await api<string[]>('/api/v1/label/__name__/values', { 'match[]': `{job="${JOB}"}` });
    const targets = empty.length === 0 ? undefined : await api<{ activeTargets: { lastError: string; health: string }[] }>('/api/v1/targets');
    expect(empty, JSON.stringify({ names, targets: targets?.activeTargets.map((t) => [t.health, t.lastError]) })).toEqual([]);
  });

  it('answers every recording rule, and every alert expression without its threshold, with data under either name of the limit', async () => {
    const rules = ruleQueries();
    expect(rules.length).toBe(9);
    const empty: string[] = [];
    for (const { name, expr } of rules) {
      for (const { label, query } of underEachConvention(expr)) {
        const result = (await instant(query)).filter((sample) => sample.metric.job === JOB);
        if (!result.some((sample) => Number.isFinite(Number(sample.value[1])))) empty.push(`${name} [${label}]: ${query} -> ${JSON.stringify(result)}`);
      }
    }
    // And what Prometheus recorded from the file itself.
    for (const record of rules.filter((r) => r.name.includes(':'))) {
      const recorded = await instant(`${record.name}{job="${JOB}"}`);
      if (!recorded.some((sample) => Number.isFinite(Number(sample.value[1])))) empty.push(`recorded ${record.name} -> ${JSON.stringify(recorded)}`);
    }
    expect(empty).toEqual([]);
  });

  it('groups operations by db_query_summary, with the server, and no parsed db_operation_name', async () => {
    const series = await instant(`db_client_operation_duration_count{job="${JOB}"}`);
    const summaries = new Set(series.map((s) => s.metric.db_query_summary));
    expect(summaries).toContain('SELECT');
    for (const sample of series) {
      expect(sample.metric, JSON.stringify(sample.metric)).toMatchObject({ server_address: expect.any(String), server_port: expect.stringMatching(/^\d+$/) });
      expect(sample.metric).not.toHaveProperty('db_operation_name');
    }
  });

  it('answers the dashboard\'s job, instance and pool variables with this service\'s values', async () => {
    const { variableQueries } = dashboardQueries();
    const values: Record<string, string[]> = {};
    for (const [name, query] of Object.entries(variableQueries)) {
      const match = /^label_values\((.+),\s*(\w+)\)$/.exec(substitute(query).trim());
      expect(match, `${name}: ${query}`).not.toBeNull();
      values[name] = await api<string[]>(`/api/v1/label/${match![2]}/values`, { 'match[]': match![1]! });
    }
    expect(values).toEqual({ job: [JOB], instance: [instance], pool: ['primary'] });
  });
});
