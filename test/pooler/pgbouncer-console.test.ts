// Four managers share one PgBouncer pool of 2 server connections under load: the pooler's queue shows in each
// manager's metrics and health report within one reading interval, with the numbers SHOW POOLS gives.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, PostgresManager } from '../../src/index.js';
import { POOLER_METRICS } from '../../src/telemetry/otel/pooler-metrics.js';
import { adminUrl, createTestDatabase, eventually, type TestDatabase } from '../support/db.js';
import { capturingLogger } from '../support/manager.js';
import { createTelemetry, sumOf, type Telemetry } from '../support/otel.js';
import { PgBouncer, pgBouncerInstalled, serverAt, type PoolRow } from '../support/pgbouncer.js';

const MANAGERS = 4;
const MAX_PER_MANAGER = 3;
const SERVER_CONNECTIONS = 2;
const INTERVAL_MS = 250;

describe.skipIf(!pgBouncerInstalled())('the pooler in the picture: PgBouncer admin console', () => {
  let database: TestDatabase;
  let bouncer: PgBouncer;
  let telemetry: Telemetry;
  const managers: PostgresManager[] = [];

  beforeAll(async () => {
    database = await createTestDatabase('pooler_console');
    bouncer = await PgBouncer.start({ server: serverAt(adminUrl()), mode: 'transaction', poolSize: SERVER_CONNECTIONS });
    telemetry = createTelemetry();
    for (let i = 0; i < MANAGERS; i++) {
      managers.push(
        await PostgresManager.create({
          databaseUrl: bouncer.url(database.name),
          poolerMode: 'transaction',
          maxConnections: MAX_PER_MANAGER,
          minConnections: 0,
          poolNames: { primary: `instance-${i}` },
          pgbouncer: { adminUrl: bouncer.adminUrl, intervalMs: INTERVAL_MS },
          // Only the first one exports, as one instance's scrape would.
          telemetry: i === 0 ? { meterProvider: telemetry.meterProvider, tracerProvider: telemetry.tracerProvider } : {},
          env: {},
          logger: capturingLogger(),
        }),
      );
    }
  });

  afterAll(async () => {
    await Promise.all(managers.map((db) => db.close()));
    await telemetry?.shutdown();
    await bouncer?.destroy();
    await database?.drop();
  });

  const showPools = async (): Promise<PoolRow> => (await bouncer.pools(database.name))[0]!;

  it('is quiet with no load: clients counted, none waiting, and no reason in the health report', async () => {
    await Promise.all(managers.map((db) => db.query('SELECT 1')));
    const db = managers[0]!;
    const sample = await eventually(async () => db.getPoolMetrics().pooler, (p) => p !== undefined && p.totals.queries > 0, 2000);
    expect(sample).toMatchObject({ pooler: 'pgbouncer', database: database.name, user: 'postgres', poolMode: 'transaction', poolSize: SERVER_CONNECTIONS });
    expect(sample?.clients.waiting).toBe(0);
    expect(db.getHealthStatus().reasons.filter((r) => r.includes('pgbouncer'))).toEqual([]);
  });

  it(`under load, the pooler's waiting clients reach the metrics and every health report within one interval (${INTERVAL_MS} ms), as SHOW POOLS counts them`, async () => {
    let running = true;
    const loops = managers.flatMap((db) =>
      Array.from({ length: MAX_PER_MANAGER * 2 }, async () => {
        while (running) await db.query('SELECT pg_sleep(0.05)');
      }),
    );
    try {
      // Every client connection is open and the 2 server connections are busy: the rest of the clients queue in PgBouncer.
      // (A server connection is idle for an instant between two transactions, so the busy state is waited for too.)
      const pooled = await eventually(
        showPools,
        (row) => row.cl_waiting > 0 && row.sv_active === SERVER_CONNECTIONS && row.cl_active + row.cl_waiting === MANAGERS * MAX_PER_MANAGER,
        10_000,
      );
      const seenAt = performance.now();
      expect(pooled.sv_active).toBe(SERVER_CONNECTIONS);

      // Within one reading interval of SHOW POOLS showing the queue, each manager's health names it.
      const graded = await eventually(
        async () => managers.map((db) => db.getHealthStatus()),
        (all) => all.every((h) => h.reasons.some((r) => /pgbouncer pool .*clients? waiting for a server connection/.test(r))),
        INTERVAL_MS + 250,
      );
      expect(performance.now() - seenAt).toBeLessThanOrEqual(INTERVAL_MS + 250);
      for (const health of graded) expect(['warning', 'critical']).toContain(health.status);
      const reason = graded[0]!.reasons.find((r) => r.includes('pgbouncer'))!;
      expect(reason).toContain(`of ${SERVER_CONNECTIONS} server connections active`);
      expect(reason).toContain('default_pool_size');

      // The manager's reading and the metrics, against SHOW POOLS read right after it.
      const sample = managers[0]!.getPoolMetrics().pooler!;
      const collected = await telemetry.collect();
      const direct = await showPools();
      const attributes = { database: database.name, user: 'postgres' };
      for (const figures of [
        { waiting: sample.clients.waiting, active: sample.clients.active, servers: sample.servers.active, maxWait: sample.maxWaitSeconds },
        {
          waiting: sumOf(collected, POOLER_METRICS.clientWaiting, attributes),
          active: sumOf(collected, POOLER_METRICS.clientActive, attributes),
          servers: sumOf(collected, POOLER_METRICS.serverActive, attributes),
          maxWait: sumOf(collected, POOLER_METRICS.maxWait, attributes),
        },
      ]) {
        // Stable under this load: every client connection is either linked or waiting. The servers' split between
        // active and idle moves between transactions, so a reading is held to what SHOW POOLS has open.
        expect(figures.active + figures.waiting).toBe(direct.cl_active + direct.cl_waiting);
        expect(figures.servers).toBeGreaterThanOrEqual(1);
        expect(figures.servers).toBeLessThanOrEqual(direct.sv_active + direct.sv_idle + direct.sv_used);
        expect(direct.sv_active + direct.sv_idle + direct.sv_used).toBe(SERVER_CONNECTIONS);
        expect(figures.waiting).toBeGreaterThan(0);
        expect(figures.maxWait).toBeGreaterThan(0);
      }
      expect(sumOf(collected, POOLER_METRICS.poolSize, attributes)).toBe(SERVER_CONNECTIONS);
      expect(sumOf(collected, POOLER_METRICS.queries, attributes)).toBeGreaterThan(0);
      expect(sumOf(collected, POOLER_METRICS.transactions, attributes)).toBeGreaterThan(0);
    } finally {
      running = false;
      await Promise.all(loops);
    }
    // Once the load is gone the reason goes with the next reading.
    const after = await eventually(
      async () => managers[0]!.getHealthStatus(),
      (h) => !h.reasons.some((r) => r.includes('pgbouncer')),
      INTERVAL_MS * 4,
    );
    expect(after.reasons.filter((r) => r.includes('pgbouncer'))).toEqual([]);
  }, 30_000);

  it('an admin URL that does not name the console database is a ConfigError, before any connection', async () => {
    const error = await PostgresManager.create({
      databaseUrl: bouncer.url(database.name),
      pgbouncer: { adminUrl: bouncer.url(database.name) },
      env: {},
    }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ field: 'pgbouncer.adminUrl' });
  });
});
