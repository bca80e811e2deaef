// Scenario 1: the server stops (fast, then immediate) for 3 s under 20 workers and comes back.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/db.js';
import { createManager } from '../support/manager.js';
import { CountingTracker } from './support/counting-tracker.js';
import { trapProcessFaults } from './support/process-trap.js';
import { PrivateServer } from './support/private-server.js';
import { LEDGER_DDL, Workload } from './support/workload.js';

trapProcessFaults();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));
let server: PrivateServer;

beforeAll(async () => {
  // The harness turns synchronous_commit off for speed, which lets a crash (-m immediate) lose
  // commits already acknowledged; durability is what this test checks, so it is back on.
  server = await PrivateServer.start({ maxConnections: 60, settings: { synchronous_commit: 'on' } });
  await server.query(LEDGER_DDL);
});

afterAll(async () => {
  await server?.destroy();
});

describe('restart under load', () => {
  it.each(['fast', 'immediate'] as const)(
    'survives a -m %s stop of 3 s: typed errors only, service back within 2 s, books balanced, every acknowledged write once',
    async (mode) => {
      const { db, appName } = await createManager(server.url, { maxConnections: 10, connectionTimeoutSeconds: 1 });
      const tracker = new CountingTracker();
      db.addTracker(tracker);
      const workload = new Workload(db, { workers: 20, writeRatio: 0.5, prefix: `restart-${mode}` });
      try {
        workload.start();
        await sleep(1000);
        const stoppedAt = performance.now();
        await server.stop(mode);
        await sleep(3000);
        await server.start();
        const backAt = performance.now();
        await sleep(2500);
        await workload.stop();

        // The outage really hurt: calls failed while the server was away.
        expect(workload.failureTimes.filter((t) => t >= stoppedAt).length).toBeGreaterThan(0);
        expect(workload.untypedSamples).toEqual([]);
        expect(workload.untypedCount).toBe(0);
        const resumedAt = workload.firstSuccessAfter(backAt);
        expect(resumedAt, 'no success after the server came back').toBeDefined();
        expect(resumedAt! - backAt).toBeLessThan(2000);

        // A connection whose statement failed goes back when its ReadyForQuery arrives, a moment after the caller hears.
        await eventually(async () => tracker.counts.acquired - tracker.counts.released, (held) => held === 0, 2000);
        const pool = db.getPoolMetrics().pools.primary;
        expect(pool).toMatchObject({ used: 0, waiting: 0 });
        expect(tracker.counts.acquired).toBe(tracker.counts.released);

        const { rows } = await server.query<{ k: string; n: string }>('SELECT k, count(*) AS n FROM ledger GROUP BY k');
        const books = workload.verify(rows);
        expect(workload.acked.size).toBeGreaterThan(50);
        expect(books).toMatchObject({ missing: [], duplicated: [], unknown: [] });
      } finally {
        await workload.stop();
        await db.close({ timeoutMs: 2000 });
      }
      expect(await eventually(() => server.countConnections(appName), (n) => n === 0)).toBe(0);
    },
    40_000,
  );
});
