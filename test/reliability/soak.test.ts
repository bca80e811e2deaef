// Scenario 12: 60 s of mixed load through a fault proxy with random kills, blackholes, resets and one restart.
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { MeterProvider, MetricReader, type MetricData } from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually } from '../support/db.js';
import { createManager } from '../support/manager.js';
import { histogramCount, sumOf } from '../support/otel.js';
import { CountingTracker } from './support/counting-tracker.js';
import { FaultProxy } from './support/fault-proxy.js';
import { trapProcessFaults } from './support/process-trap.js';
import { PrivateServer } from './support/private-server.js';
import { LEDGER_DDL, Workload } from './support/workload.js';

trapProcessFaults();

const SOAK_MS = 60_000;
const WARM_UP_MS = 3000;
/** No faults in the last stretch: the pool must have healed by the end. */
const CALM_END_MS = 5000;
const RESTART_AT_MS = 30_000;
const POOL_SIZE = 8;

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** A reader collected by hand at the end, so the totals are one consistent snapshot. */
class EndOfRunReader extends MetricReader {
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

async function collectMetrics(reader: MetricReader): Promise<MetricData[]> {
  const { resourceMetrics, errors } = await reader.collect();
  expect(errors).toEqual([]);
  return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
}

/** Small deterministic generator, so a failing run can be replayed from its seed. */
function seededRandom(seed: number): () => number {
  let state = seed >>> 0;
  return () => {
    state = (Math.imul(state, 1664525) + 1013904223) >>> 0;
    return state / 2 ** 32;
  };
}

let server: PrivateServer;
let proxy: FaultProxy;

beforeAll(async () => {
  // Durable commits: a restart must not lose what was acknowledged (the harness turns this off for speed).
  server = await PrivateServer.start({ maxConnections: 60, settings: { synchronous_commit: 'on' } });
  await server.query(LEDGER_DDL);
  proxy = await FaultProxy.start({ host: '127.0.0.1', port: server.port });
});

afterAll(async () => {
  await proxy?.close();
  await server?.destroy();
});

describe('soak', () => {
  it(
    'runs 60 s of load through kills, blackholes, resets and a restart: books balanced, counters agree, no leaked connection, bounded heap',
    async () => {
      setFlagsFromString('--expose-gc');
      const gc = runInNewContext('gc') as () => void;
      const seed = Number(process.env.SOAK_SEED ?? Date.now() % 1_000_000);
      const random = seededRandom(seed);
      const reader = new EndOfRunReader();
      const meterProvider = new MeterProvider({ readers: [reader] });
      // Spans are made (failures, retries, slow calls) but kept nowhere, so the heap measures the manager.
      const tracerProvider = new BasicTracerProvider();
      const { db, appName } = await createManager(server.urlVia(proxy.port), {
        maxConnections: POOL_SIZE,
        connectionTimeoutSeconds: 1,
        statementTimeoutMs: 1000,
        monitoringEnabled: true,
        slowQueryThresholdMs: 200,
        telemetry: { meterProvider, tracerProvider },
      });
      const tracker = new CountingTracker();
      db.addTracker(tracker);
      // create() already borrowed a connection to check the server; the built-in trackers saw that.
      const baseline = await collectMetrics(reader);
      const workload = new Workload(db, { workers: 10, writeRatio: 0.4, prefix: `soak-${seed}`, pauseAfterFailureMs: 50 });
      const faults: string[] = [];
      const started = performance.now();
      const elapsed = (): number => performance.now() - started;
      let heapBefore = 0;
      try {
        workload.start();
        await sleep(WARM_UP_MS);
        gc();
        heapBefore = process.memoryUsage().heapUsed;

        let restarted = false;
        for (;;) {
          const pause = 1500 + random() * 2000;
          // Every fault ends before the calm stretch does; a blackhole lasts at most 1.5 s.
          if (elapsed() + pause + 1500 > SOAK_MS - CALM_END_MS) break;
          await sleep(pause);
          if (!restarted && elapsed() >= RESTART_AT_MS) {
            restarted = true;
            faults.push(`${Math.round(elapsed())} restart`);
            await server.stop('fast');
            await sleep(2000);
            await server.start();
            continue;
          }
          const roll = random();
          if (roll < 0.4) {
            faults.push(`${Math.round(elapsed())} kill`);
            await server.terminate(appName);
          } else if (roll < 0.75) {
            faults.push(`${Math.round(elapsed())} blackhole`);
            proxy.setMode('blackhole');
            await sleep(800 + random() * 700);
            proxy.setMode('forward');
          } else {
            faults.push(`${Math.round(elapsed())} reset`);
            proxy.reset();
          }
        }
        await sleep(Math.max(0, SOAK_MS - elapsed()));
        await workload.stop();
        // A connection whose statement failed goes back when its ReadyForQuery arrives, a moment after the caller hears.
        await eventually(async () => tracker.counts.acquired - tracker.counts.released, (held) => held === 0, 2000);
        const context = `seed ${seed}, faults: ${faults.join(', ')}`;

        expect(restarted, context).toBe(true);
        expect(workload.untypedSamples, context).toEqual([]);
        expect(workload.untypedCount, context).toBe(0);
        // Healed: calls succeed again in the calm stretch at the end.
        expect(workload.firstSuccessAfter(started + SOAK_MS - 2000), context).toBeDefined();

        // The books: every acknowledged write exactly once, nothing written twice or from nowhere.
        const { rows } = await server.query<{ k: string; n: string }>('SELECT k, count(*) AS n FROM ledger GROUP BY k');
        expect(workload.verify(rows), context).toMatchObject({ missing: [], duplicated: [], unknown: [] });
        expect(workload.acked.size, context).toBeGreaterThan(500);

        // The counters: every borrowed connection came back, and every way of counting agrees.
        const { counts } = tracker;
        expect(counts.acquired, context).toBe(counts.released);
        expect(counts.queriesOk + counts.queriesFailed, context).toBe(workload.calls.read + workload.calls.write);
        const pools = db.getPoolMetrics();
        expect(pools.pools.primary, context).toMatchObject({ used: 0, waiting: 0 });
        expect(pools.acquisition.primary, context).toMatchObject({
          timeouts: counts.acquireTimedOut,
          failures: counts.acquireFailed,
        });
        const metrics = await collectMetrics(reader);
        const counted = (read: (m: MetricData[]) => number): number => read(metrics) - read(baseline);
        expect(counted((m) => sumOf(m, 'pg_manager.retries')), context).toBe(counts.retried);
        expect(counted((m) => sumOf(m, 'db.client.connection.timeouts')), context).toBe(counts.acquireTimedOut);
        expect(counted((m) => histogramCount(m, 'db.client.connection.use_time')), context).toBe(counts.released);
        // One sample per query()/read() call and one per statement of a transaction.
        expect(counted((m) => histogramCount(m, 'db.client.operation.duration')), context).toBe(
          counts.queriesOk + counts.queriesFailed + counts.leasedStatements,
        );

        // No leaked server connection: the server sees exactly the connections the pool holds.
        const total = pools.pools.primary.total;
        expect(total).toBeLessThanOrEqual(POOL_SIZE);
        // Through the proxy the server sees a destroyed connection's disconnect a moment later.
        expect(await eventually(() => server.countConnections(appName), (n) => n === total), context).toBe(total);

        gc();
        const grown = process.memoryUsage().heapUsed - heapBefore;
        // The workload's own bookkeeping (keys, timestamps) accounts for a few MB of this.
        expect(grown, context).toBeLessThan(24 * 1024 * 1024);
      } finally {
        await workload.stop();
        await db.close({ timeoutMs: 3000 });
        await meterProvider.shutdown();
        await tracerProvider.shutdown();
      }
      // Through the proxy the server sees each disconnect a moment after close() returns.
      expect(await eventually(() => server.countConnections(appName), (n) => n === 0)).toBe(0);
    },
    SOAK_MS + 30_000,
  );
});
