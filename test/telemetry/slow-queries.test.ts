// A slow query is a statement that ran long, not a call that waited for a connection.
import { describe, expect, it } from 'vitest';
import { ConnectionTimeoutError, type PostgresManager, type PoolTracker, type QueryEvent } from '../../src/index.js';
import type { CapturingLogger } from '../support/manager.js';
import { sumOf } from '../support/otel.js';
import { useTelemetryHarness } from '../support/telemetry-harness.js';

const THRESHOLD_MS = 200;

const harness = useTelemetryHarness('slowq');

/** One connection, the monitor and the OpenTelemetry tracker on, and a recording tracker. */
async function start(): Promise<{ db: PostgresManager; events: QueryEvent[]; logger: CapturingLogger }> {
  const { db, logger } = await harness.start({ maxConnections: 1, monitoringEnabled: true, slowQueryThresholdMs: THRESHOLD_MS, leakDetectionThresholdMs: 0 });
  const events: QueryEvent[] = [];
  const recorder: PoolTracker = { queryFinished: (event) => void events.push(event) };
  db.addTracker(recorder);
  return { db, events, logger };
}

const slowLines = (logger: CapturingLogger): string[] => logger.lines.filter((l) => l.includes('slow query'));
const slowCounted = async (): Promise<number> => sumOf(await harness.telemetry.collect(), 'pg_manager.slow_queries');
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('slow queries are judged on the statement, not the wait', () => {
  it('a fast statement that waited for the only connection is not slow; its duration still includes the wait', async () => {
    const { db, events, logger } = await start();
    const lease = await db.getConnection();
    const waiting = db.query('SELECT 1 AS n');
    await sleep(THRESHOLD_MS * 2);
    lease.release();
    expect((await waiting).rows).toEqual([{ n: 1 }]);
    const event = events.find((e) => e.sql === 'SELECT 1 AS n');
    expect(event!.durationSeconds * 1000).toBeGreaterThanOrEqual(THRESHOLD_MS * 2 - 20);
    expect(event!.executionSeconds! * 1000).toBeLessThan(event!.durationSeconds * 1000 - THRESHOLD_MS);
    expect(db.getSlowQueries()).toEqual([]);
    // The fingerprint's figures are the statement's, like the slow decision: the wait is in the acquisition figures.
    expect(db.getQueryStats().find((q) => q.query === 'SELECT $1 AS n')?.maxMs).toBeLessThan(THRESHOLD_MS);
    expect(db.getPoolMetrics().acquisition.primary?.maxMs).toBeGreaterThanOrEqual(THRESHOLD_MS * 2 - 20);
    expect(slowLines(logger)).toEqual([]);
    expect(await slowCounted()).toBe(0);
  });

  it('a call that timed out waiting for a connection ran nothing: a failure, not a slow query', async () => {
    const { db, events, logger } = await start();
    const lease = await db.getConnection();
    await expect(db.query('SELECT 2 AS n', [], { timeoutMs: THRESHOLD_MS * 2 })).rejects.toBeInstanceOf(ConnectionTimeoutError);
    lease.release();
    const event = events.find((e) => e.sql === 'SELECT 2 AS n');
    expect(event).toMatchObject({ executionSeconds: undefined });
    expect(event!.error).toBeInstanceOf(ConnectionTimeoutError);
    expect(db.getSlowQueries()).toEqual([]);
    expect(slowLines(logger)).toEqual([]);
    expect(await slowCounted()).toBe(0);
  });

  it('a statement that ran past the threshold is slow', async () => {
    const { db, logger } = await start();
    await db.query('SELECT pg_sleep(0.3)');
    expect(db.getSlowQueries().map((q) => q.query)).toEqual(['SELECT pg_sleep($1)']);
    expect(slowLines(logger)).toHaveLength(1);
    expect(await slowCounted()).toBe(1);
  });
});
