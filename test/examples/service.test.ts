// The example service against the real server: every endpoint, bad input answered 400 with nothing written, and 503 when health is critical.
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleMigrationsDir } from '../../examples/schema.js';
import type { Lease, PostgresManager } from '../../src/index.js';
import { registerOpenTelemetry, type Observability } from '../../examples/otel-bootstrap.js';
import { seedDemoData } from '../../examples/seed.js';
import { createService } from '../../examples/service.js';
import { adminQuery, createPasswordRole, createTestDatabase, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';
import { resetGlobalOpenTelemetry } from '../support/otel.js';

const POOL_SIZE = 3;
const PASSWORD = `svc-secret-${randomBytes(6).toString('hex')}`;

let database: TestDatabase;
let observability: Observability;
let db: PostgresManager;
let server: Server;
let baseUrl: string;
let sourceIds: number[];
/** Every body the service sent, to check that the password never appears in one. */
const bodies: string[] = [];

interface Reply {
  status: number;
  headers: Headers;
  text: string;
  // Parsed JSON bodies are only ever read field by field in the assertions.
  json: Record<string, unknown> & Record<number, unknown>;
}

async function listen(app: Server): Promise<string> {
  await new Promise<void>((resolve) => app.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(app.address() as AddressInfo).port}`;
}

function closeServer(app: Server | undefined): Promise<void> {
  return new Promise((resolve) => (app ? app.close(() => resolve()) : resolve()));
}

async function call(url: string, method: string, path: string, body?: unknown): Promise<Reply> {
  const raw = typeof body === 'string' ? body : body === undefined ? undefined : JSON.stringify(body);
  const response = await fetch(`${url}${path}`, { method, body: raw, headers: raw === undefined ? undefined : { 'content-type': 'application/json' } });
  const text = await response.text();
  bodies.push(text);
  const isJson = response.headers.get('content-type')?.startsWith('application/json') === true;
  return { status: response.status, headers: response.headers, text, json: isJson ? (JSON.parse(text) as Reply['json']) : {} };
}

const request = (method: string, path: string, body?: unknown): Promise<Reply> => call(baseUrl, method, path, body);

async function exploitCount(): Promise<number> {
  const { rows } = await adminQuery<{ n: string }>('SELECT count(*) AS n FROM exploits', [], database.name);
  return Number(rows[0]!.n);
}

function validExploit(externalId: string): Record<string, unknown> {
  return {
    source_id: sourceIds[0],
    external_id: externalId,
    title: 'Heap overflow in the demo parser',
    url: 'https://example.com/advisories/1',
    severity: 'high',
    cve_id: 'CVE-2024-99001',
    cvss_score: 8.1,
    published_at: '2024-05-01T12:00:00Z',
  };
}

async function holdAll(): Promise<Lease[]> {
  return Promise.all(Array.from({ length: POOL_SIZE }, () => db.getConnection()));
}

beforeAll(async () => {
  database = await createTestDatabase('svc');
  const role = await createPasswordRole(database.name, PASSWORD);
  // As the bootstrap does: OpenTelemetry registered first, then the manager; /metrics on the service's own port.
  observability = registerOpenTelemetry({ serviceName: 'service-test', mountMetricsOnApp: true, metricsPort: 0, metricsHost: '127.0.0.1', otlpEndpoint: undefined });
  ({ db } = await createManager(role.url, {
    schemaInit: 'strict',
    migrationsDir: exampleMigrationsDir,
    monitoringEnabled: true,
    maxConnections: POOL_SIZE,
    connectionTimeoutSeconds: 0.5,
  }));
  ({ sourceIds } = await seedDemoData(db));
  server = createService({ db, metrics: observability.metricsHandler });
  baseUrl = await listen(server);
});

afterAll(async () => {
  await closeServer(server);
  await db?.close({ timeoutMs: 1000 });
  await observability?.shutdown();
  resetGlobalOpenTelemetry();
  await database?.drop();
});

describe('GET /exploits/recent', () => {
  it('answers the newest 100 exploits of v_recent_exploits, newest first, with their source', async () => {
    const reply = await request('GET', '/exploits/recent');
    expect(reply.status).toBe(200);
    const rows = reply.json as unknown as { id: number; created_at: string; source_name: string; cvss_score: number | null }[];
    expect(rows).toHaveLength(100);
    expect(rows[0]).toMatchObject({ id: expect.any(Number), source_name: expect.stringMatching(/^demo: /) });
    const times = rows.map((r) => Date.parse(r.created_at));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(rows.some((r) => typeof r.cvss_score === 'number')).toBe(true);
  });
});

describe('GET /stats/24h', () => {
  it('answers the one row of v_stats_24h, with counts as numbers that match the table', async () => {
    const reply = await request('GET', '/stats/24h');
    expect(reply.status).toBe(200);
    const { rows } = await adminQuery<{ n: string }>("SELECT count(*) AS n FROM exploits WHERE created_at >= now() - interval '24 hours'", [], database.name);
    expect(reply.json).toMatchObject({ exploits_total: Number(rows[0]!.n), active_sources: expect.any(Number), alerts_sent: 0 });
    expect(reply.json.exploits_total).toBeGreaterThan(0);
  });
});

describe('GET /sources/health', () => {
  it('answers every source with its status from v_source_health, by name', async () => {
    const reply = await request('GET', '/sources/health');
    expect(reply.status).toBe(200);
    const rows = reply.json as unknown as { name: string; status: string; success_rate_pct: number }[];
    expect(rows.map((r) => r.name)).toEqual([...rows.map((r) => r.name)].sort());
    expect(new Set(rows.map((r) => r.status))).toEqual(new Set(['healthy', 'failing', 'stale', 'disabled']));
    expect(rows[0]!.success_rate_pct).toEqual(expect.any(Number));
  });

  it('reads it through Kysely on db.readPool, so the manager counts and fingerprints its statement', async () => {
    const before = db.getPoolMetrics().acquisition.primary!.total;
    expect((await request('GET', '/sources/health')).status).toBe(200);
    expect(db.getPoolMetrics().acquisition.primary!.total - before).toBe(1);
    expect(db.getQueryStats(100).map((q) => q.query)).toContain('select * from "v_source_health" order by "name"');
  });
});

describe('POST /exploits', () => {
  it('stores a valid exploit and answers 201 with its id', async () => {
    const before = await exploitCount();
    const reply = await request('POST', '/exploits', validExploit('svc-new-1'));
    expect(reply.status).toBe(201);
    expect(reply.json).toEqual({ id: expect.any(Number), created: true });
    expect(await exploitCount()).toBe(before + 1);
    const { rows } = await adminQuery('SELECT title, severity, cvss_score::float8 AS cvss FROM exploits WHERE id = $1', [reply.json.id], database.name);
    expect(rows[0]).toEqual({ title: 'Heap overflow in the demo parser', severity: 'high', cvss: 8.1 });
  });

  it('answers a duplicate from the same source with 200 and the existing id, without a second row', async () => {
    const first = await request('POST', '/exploits', validExploit('svc-dup-1'));
    const before = await exploitCount();
    const again = await request('POST', '/exploits', { ...validExploit('svc-dup-1'), title: 'Sent again by a retrying worker' });
    expect(again.status).toBe(200);
    expect(again.json).toEqual({ id: first.json.id, created: false });
    expect(await exploitCount()).toBe(before);
  });

  it('stores the same external id from another source as a new exploit', async () => {
    await request('POST', '/exploits', validExploit('svc-shared-id'));
    const other = await request('POST', '/exploits', { ...validExploit('svc-shared-id'), source_id: sourceIds[1] });
    expect(other.status).toBe(201);
  });

  it.each([
    ['a body that is not JSON', '{"source_id": 1,', ['the body is not valid JSON']],
    ['a JSON array', [], ['the body must be a JSON object']],
    ['an empty object', {}, ['source_id is required', 'external_id is required', 'title is required', 'url is required']],
    ['a source id that is not an integer', { source_id: 'one' }, ['source_id is required and must be a positive integer']],
    ['an unknown severity', { severity: 'catastrophic' }, ['severity must be one of critical, high, medium, low, unknown']],
    ['a malformed CVE id', { cve_id: 'CVE-24-1' }, ['cve_id must look like CVE-2024-12345']],
    ['a CVSS score above 10', { cvss_score: 11 }, ['cvss_score must be a number from 0 to 10']],
    ['a day that does not exist', { published_at: '2024-02-31' }, ['published_at must be an ISO 8601 timestamp']],
    ['a date in words', { published_at: 'last Tuesday' }, ['published_at must be an ISO 8601 timestamp']],
    ['a URL that is not http(s)', { url: 'ftp://example.com/x' }, ['url must start with http:// or https://']],
    ['a NUL character in the title', { title: 'bad\u0000title' }, ['title must not contain NUL characters']],
  ])('answers 400 naming what is wrong, and writes nothing, for %s', async (_name, patch, problems) => {
    const body = typeof patch === 'string' || Array.isArray(patch) ? patch : Object.keys(patch).length === 0 ? patch : { ...validExploit('svc-bad'), ...patch };
    const before = await exploitCount();
    const reply = await request('POST', '/exploits', body);
    expect(reply.status).toBe(400);
    expect(reply.json.error).toBe('invalid request');
    for (const problem of problems) expect((reply.json.problems as string[]).join('\n')).toContain(problem);
    expect(await exploitCount()).toBe(before);
  });

  it('answers 400 for a source that does not exist, and writes nothing', async () => {
    const before = await exploitCount();
    const reply = await request('POST', '/exploits', { ...validExploit('svc-orphan'), source_id: 999_999 });
    expect(reply.status).toBe(400);
    expect(reply.json).toEqual({ error: 'invalid request', problems: ['source_id 999999 does not exist'] });
    expect(await exploitCount()).toBe(before);
  });

  it('answers 413 for a body over 64 KiB', async () => {
    const reply = await request('POST', '/exploits', { ...validExploit('svc-big'), description: 'x'.repeat(70 * 1024) });
    expect(reply.status).toBe(413);
  });
});

describe('GET /health/db', () => {
  it('answers 200 with the pool metrics while the pools are healthy', async () => {
    const reply = await request('GET', '/health/db');
    expect(reply.status).toBe(200);
    expect(reply.json).toMatchObject({
      status: 'healthy',
      reasons: [],
      pools: { primary: { name: 'primary', max: POOL_SIZE, waiting: 0 } },
      schema: { state: 'applied', applied: ['001_initial_schema.sql'] },
      acquisition: { primary: { total: expect.any(Number) } },
      slowQueries: expect.any(Array),
      leaks: { detected: 0, active: [] },
    });
  });

  it('answers 503 with the reason while every connection of the pool is in use, and 200 again once they are back', async () => {
    const leases = await holdAll();
    try {
      const reply = await request('GET', '/health/db');
      expect(reply.status).toBe(503);
      expect(reply.json.status).toBe('critical');
      expect(reply.json.reasons).toContainEqual(`pool "primary": ${POOL_SIZE} of ${POOL_SIZE} connections in use (100% ≥ 95%)`);
    } finally {
      for (const lease of leases) lease.release();
    }
    expect((await request('GET', '/health/db')).status).toBe(200);
  });

  it('answers 503 naming the failed migration when schema initialization failed under schemaInit "log"', async () => {
    const broken = await createTestDatabase('svc_broken');
    const dir = mkdtempSync(join(tmpdir(), 'svc-migrations-'));
    writeFileSync(join(dir, '001_broken.sql'), 'CREATE TABLE fine (id int);\nSELEC 1;\n');
    const { db: failed } = await createManager(broken.url, { schemaInit: 'log', migrationsDir: dir, monitoringEnabled: true });
    const app = createService({ db: failed });
    try {
      const reply = await call(await listen(app), 'GET', '/health/db');
      expect(reply.status).toBe(503);
      expect(reply.json).toMatchObject({ status: 'critical', schema: { state: 'failed', error: { file: '001_broken.sql', sqlstate: '42601' } } });
      expect((reply.json.reasons as string[])[0]).toMatch(/^schema initialization failed: .*001_broken\.sql/);
    } finally {
      await closeServer(app);
      await failed.close({ timeoutMs: 1000 });
      rmSync(dir, { recursive: true, force: true });
      await broken.drop();
    }
  });
});

describe('failures', () => {
  it('answers 503 with CONNECTION_TIMEOUT and Retry-After when no connection frees up in time', async () => {
    const leases = await holdAll();
    try {
      const reply = await request('GET', '/exploits/recent');
      expect(reply.status).toBe(503);
      expect(reply.headers.get('retry-after')).toBe('1');
      expect(reply.json).toEqual({ error: 'database unavailable', code: 'CONNECTION_TIMEOUT' });
    } finally {
      for (const lease of leases) lease.release();
    }
  });

  it('answers 500 with the SQLSTATE only, never the server message', async () => {
    await adminQuery('ALTER VIEW v_stats_24h RENAME TO v_stats_24h_away', [], database.name);
    try {
      const reply = await request('GET', '/stats/24h');
      expect(reply.status).toBe(500);
      expect(reply.json).toEqual({ error: 'database error', code: '42P01' });
    } finally {
      await adminQuery('ALTER VIEW v_stats_24h_away RENAME TO v_stats_24h', [], database.name);
    }
  });

  it('answers 404 for an unknown path and 405 with Allow for a known path with another method', async () => {
    expect((await request('GET', '/nope')).status).toBe(404);
    const wrong = await request('DELETE', '/exploits');
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
    expect((await request('POST', '/metrics', {})).status).toBe(405);
  });
});

describe('GET /metrics', () => {
  it('serves the Prometheus exposition of the pools, from the OpenTelemetry SDK registered by the bootstrap', async () => {
    await request('GET', '/exploits/recent');
    const reply = await request('GET', '/metrics');
    expect(reply.status).toBe(200);
    expect(reply.headers.get('content-type')).toMatch(/^text\/plain/);
    expect(reply.text).toMatch(/^db_client_connection_max\{[^}]*db_client_connection_pool_name="primary"[^}]*\} 3$/m);
    expect(reply.text).toMatch(/^db_client_operation_duration_count\{[^}]*db_query_summary="SELECT/m);
    expect(reply.text).toMatch(/^target_info\{[^}]*service_name="service-test"/m);
  });
});

describe('secrets', () => {
  it('never sent the database password in any response', () => {
    expect(bodies.length).toBeGreaterThan(20);
    for (const body of bodies) expect(body).not.toContain(PASSWORD);
  });
});
