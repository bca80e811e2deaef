// Faults with a PgBouncer in between, in transaction and session mode: the pooler restarted, the server restarted
// behind it, and its admin console's RECONNECT, PAUSE and RESUME, all under a load of reads and ledger writes.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createManager } from '../support/manager.js';
import { PgBouncer, pgBouncerInstalled, type PoolMode } from '../support/pgbouncer.js';
import { trapProcessFaults } from './support/process-trap.js';
import { PrivateServer } from './support/private-server.js';
import { LEDGER_DDL, Workload } from './support/workload.js';

trapProcessFaults();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let server: PrivateServer;

beforeAll(async () => {
  if (!pgBouncerInstalled()) return;
  server = await PrivateServer.start({ maxConnections: 60, settings: { synchronous_commit: 'on' } });
  await server.query(LEDGER_DDL);
});

afterAll(async () => {
  await server?.destroy();
});

interface Outcome {
  workload: Workload;
  faultAt: number;
  backAt: number;
}

describe.skipIf(!pgBouncerInstalled()).each(['transaction', 'session'] as const)('through PgBouncer in %s mode', (mode: PoolMode) => {
  let bouncer: PgBouncer;

  beforeAll(async () => {
    // Transaction mode: 6 server connections for the pool's 8 (they take turns per transaction). Session mode gives
    // each client connection a server connection for its life, so the pool's max must fit: a ninth would wait in
    // PgBouncer until another client disconnects (README "Scale").
    bouncer = await PgBouncer.start({ server: { host: '127.0.0.1', port: server.port }, mode, poolSize: mode === 'transaction' ? 6 : 10 });
  });

  afterAll(async () => {
    await bouncer?.destroy();
  });

  /** 12 workers for 1 s, the fault, then 2.5 s more; the books are checked against the ledger. */
  async function underLoad(label: string, fault: () => Promise<number>, connectionTimeoutSeconds = 2): Promise<Outcome> {
    const { db } = await createManager(bouncer.url('postgres'), { maxConnections: 8, connectionTimeoutSeconds, poolerMode: mode });
    const workload = new Workload(db, { workers: 12, writeRatio: 0.5, prefix: `${mode}-${label}` });
    try {
      workload.start();
      await sleep(1000);
      const faultAt = performance.now();
      const backAt = await fault();
      await sleep(2500);
      await workload.stop();
      expect(workload.untypedSamples).toEqual([]);
      expect(workload.untypedCount).toBe(0);
      const { rows } = await server.query<{ k: string; n: string }>('SELECT k, count(*) AS n FROM ledger GROUP BY k');
      expect(workload.acked.size).toBeGreaterThan(50);
      expect(workload.verify(rows)).toMatchObject({ missing: [], duplicated: [], unknown: [] });
      const resumedAt = workload.firstSuccessAfter(backAt);
      expect(resumedAt, 'no success after the fault ended').toBeDefined();
      expect(resumedAt! - backAt).toBeLessThan(2000);
      expect(db.getPoolMetrics().pools.primary).toMatchObject({ used: 0, waiting: 0 });
      return { workload, faultAt, backAt };
    } finally {
      await workload.stop();
      await db.close({ timeoutMs: 2000 });
    }
  }

  it('PgBouncer restarted (down 1 s): typed errors only, back within 2 s, every acknowledged write once', async () => {
    const { workload, faultAt } = await underLoad('pooler-restart', async () => {
      await bouncer.stop();
      await sleep(1000);
      await bouncer.restart();
      return performance.now();
    });
    // The outage really hurt: calls failed while the pooler was away.
    expect(workload.failureTimes.filter((t) => t >= faultAt).length).toBeGreaterThan(0);
  }, 30_000);

  it('the server restarted behind it (-m fast, down 1 s): typed errors only, back within 2 s, every acknowledged write once', async () => {
    await underLoad('server-restart', async () => {
      await server.stop('fast');
      await sleep(1000);
      await server.start();
      return performance.now();
    });
  }, 30_000);

  // In session mode PAUSE waits for every client to disconnect, which a pool that keeps its connections never does.
  // Declared only where it applies, so the run counts no skipped test.
  if (mode === 'transaction') it('PAUSE for 1 s, then RESUME: calls wait in the pooler and none fails', async () => {
    const { workload, faultAt } = await underLoad(
      'pause',
      async () => {
        // PAUSE returns once every server connection is released; clients then queue in PgBouncer until RESUME, and
        // are served at its next maintenance tick (up to about a second later): hence a wider acquisition timeout.
        await bouncer.admin('PAUSE');
        await sleep(1000);
        await bouncer.admin('RESUME');
        return performance.now();
      },
      5,
    );
    expect(workload.failureTimes.filter((t) => t >= faultAt)).toEqual([]);
  }, 30_000);

  it('RECONNECT (every server connection replaced as it is released): none fails', async () => {
    const { workload, faultAt } = await underLoad('reconnect', async () => {
      await bouncer.admin('RECONNECT');
      return performance.now();
    });
    expect(workload.failureTimes.filter((t) => t >= faultAt)).toEqual([]);
  }, 30_000);
});
