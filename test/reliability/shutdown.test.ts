// Scenario 8: close() under load, with leaked leases, running statements and callers waiting to retry.
// The single in-flight / single queued / leaked-lease basics are in test/query/replica-and-close.test.ts.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LeaseReleasedError, ManagerClosedError, PgManagerError, type PostgresManager } from '../../src/index.js';
import { adminQuery, countConnections, createTestDatabase, eventually, terminateBackends, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';
import { CountingTracker } from './support/counting-tracker.js';
import { trapProcessFaults } from './support/process-trap.js';

trapProcessFaults();

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('shutdown');
  await adminQuery('CREATE TABLE items (id serial PRIMARY KEY, label text NOT NULL)', [], database.name);
});

afterAll(async () => {
  await database.drop();
});

const settle = <T>(p: Promise<T>): Promise<{ value?: T; error?: unknown }> =>
  p.then(
    (value) => ({ value }),
    (error: unknown) => ({ error }),
  );

async function activeStatements(appName: string): Promise<number> {
  const { rows } = await adminQuery<{ n: string }>(
    "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active'",
    [appName],
  );
  return Number(rows[0]?.n);
}

/** Every way to ask for work, so each queue path is seen to be rejected. */
const QUEUED_KINDS: Array<(db: PostgresManager) => Promise<unknown>> = [
  (db) => db.query('SELECT 1'),
  (db) => db.read('SELECT 1'),
  (db) => db.transaction((client) => client.query('SELECT 1')),
  (db) => db.withConnection((client) => client.query('SELECT 1')),
  (db) => db.getConnection(),
];

describe('shutdown', () => {
  it('finishes in-flight work, rejects every queued caller of every kind with ManagerClosedError, and leaves no connection', async () => {
    const { db, appName } = await createManager(database.url, { maxConnections: 3 });
    const tracker = new CountingTracker();
    db.addTracker(tracker);
    const inFlight = [
      settle(db.query<{ v: string }>("SELECT 'q1' AS v FROM pg_sleep(0.3)")),
      settle(db.read<{ v: string }>("SELECT 'q2' AS v FROM pg_sleep(0.3)")),
      settle(
        db.transaction(async (client) => {
          await client.query("INSERT INTO items (label) SELECT 'closing-tx' FROM pg_sleep(0.3)");
          return 'tx';
        }),
      ),
    ];
    await eventually(async () => db.getPoolMetrics().pools.primary.used, (n) => n === 3);
    const queued = Array.from({ length: 30 }, (_, i) => settle(QUEUED_KINDS[i % QUEUED_KINDS.length]!(db)));
    await eventually(async () => db.getPoolMetrics().pools.primary.waiting, (n) => n === 30);
    const started = performance.now();
    const closing = db.close({ timeoutMs: 5000 });
    const duringClose = await settle(db.query('SELECT 1'));

    const queuedOutcomes = await Promise.all(queued);
    expect(queuedOutcomes.filter((o) => !(o.error instanceof ManagerClosedError))).toEqual([]);
    expect(duringClose.error).toBeInstanceOf(ManagerClosedError);
    const finished = await Promise.all(inFlight);
    expect(finished.map((o) => o.error)).toEqual([undefined, undefined, undefined]);
    await closing;
    expect(performance.now() - started).toBeLessThan(2000);
    const { rows } = await adminQuery<{ n: string }>("SELECT count(*) AS n FROM items WHERE label = 'closing-tx'", [], database.name);
    expect(rows[0]?.n).toBe('1');
    expect(tracker.counts.acquired).toBe(tracker.counts.released);
    expect(await eventually(() => countConnections(appName), (n) => n === 0)).toBe(0);
  });

  it('returns within its deadline with a leaked lease and an overrunning statement; both are cut off with typed errors', async () => {
    const { db, appName, logger } = await createManager(database.url, { maxConnections: 3 });
    const leaked = await db.getConnection();
    const overrunning = settle(db.query("SELECT pg_sleep(1.5), 'overrun'"));
    await eventually(() => activeStatements(appName), (n) => n === 1);
    const started = performance.now();
    await db.close({ timeoutMs: 400 });
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(320);
    expect(took).toBeLessThan(1400);
    const { error } = await overrunning;
    expect(error).toBeInstanceOf(PgManagerError);
    expect(() => leaked.client).toThrow(LeaseReleasedError);
    expect(logger.lines.some((l) => l.includes('closed 2 connection(s) still leased'))).toBe(true);
    // The server finishes the cut-off statement on its own (statement_timeout bounds it); then nothing is left.
    expect(await eventually(() => countConnections(appName), (n) => n === 0, 4000)).toBe(0);
  });

  it('stops a caller waiting to retry: it gets ManagerClosedError, not another attempt', async () => {
    const { db, appName } = await createManager(database.url, { retry: { baseDelayMs: 600, maxDelayMs: 600 } });
    let closing: Promise<void> | undefined;
    // close() starts as soon as the manager decides to retry, while the caller sleeps in backoff.
    db.addTracker({ retried: () => void (closing = db.close()) });
    const read = settle(db.read("SELECT pg_sleep(2), 'retry-then-close'"));
    await eventually(() => activeStatements(appName), (n) => n === 1);
    await terminateBackends(appName, 'active');
    const { error } = await read;
    expect(closing).toBeDefined();
    await closing;
    expect(error).toBeInstanceOf(ManagerClosedError);
  });
});
