// Scenario 3: the network swallows every byte (and, once, resets): deadlines fire, dead connections go, the pool heals.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { ConnectionTimeoutError, ManagerClosedError, type PostgresManager } from '../../src/index.js';
import { ConnectionLostError } from '../../src/errors.js';
import { adminQuery, createTestDatabase, eventually, type TestDatabase } from '../support/db.js';
import type { CountingTracker } from './support/counting-tracker.js';
import type { FaultProxy } from './support/fault-proxy.js';
import { proxiedManager, type ProxiedManager } from './support/proxied-manager.js';
import { rowsLabelled } from './support/items.js';
import { trapProcessFaults } from './support/process-trap.js';

trapProcessFaults();

const QUERY_TIMEOUT_MS = 1500;
const ACQUIRE_TIMEOUT_MS = 500;
/** What the issue allows beyond a deadline before a call counts as hanging. */
const GRACE_MS = 1000;

let database: TestDatabase;
let proxy: FaultProxy;
let db: PostgresManager;
let tracker: CountingTracker;

beforeAll(async () => {
  database = await createTestDatabase('blackhole');
  await adminQuery('CREATE TABLE items (id serial PRIMARY KEY, label text NOT NULL)', [], database.name);
});

afterAll(async () => {
  await database.drop();
});

let setup: ProxiedManager;

beforeEach(async () => {
  setup = await proxiedManager(database.url, {
    maxConnections: 2,
    connectionTimeoutSeconds: ACQUIRE_TIMEOUT_MS / 1000,
    statementTimeoutMs: 1000,
    queryTimeoutMs: QUERY_TIMEOUT_MS,
    retry: { maxRetries: 1, baseDelayMs: 20, maxDelayMs: 50 },
  });
  ({ db, proxy, tracker } = setup);
});

afterEach(async () => {
  await setup.close();
});

async function timed<T>(call: () => Promise<T>): Promise<{ ms: number; error: unknown }> {
  const started = performance.now();
  const error = await call().then(
    () => undefined,
    (e: unknown) => e,
  );
  return { ms: performance.now() - started, error };
}

describe('blackholed network', () => {
  it('fails a write on a blackholed connection within queryTimeoutMs + 1 s, typed, and destroys the connection', async () => {
    proxy.setMode('blackhole');
    const { ms, error } = await timed(() => db.query("INSERT INTO items (label) VALUES ('into-the-void')"));
    expect(error).toBeInstanceOf(ConnectionLostError);
    expect((error as ConnectionLostError).outcome).toBe('unknown');
    expect(ms).toBeGreaterThanOrEqual(QUERY_TIMEOUT_MS - 50);
    expect(ms).toBeLessThan(QUERY_TIMEOUT_MS + GRACE_MS);
    expect(db.getPoolMetrics().pools.primary).toMatchObject({ total: 0, used: 0 });
    expect(await eventually(async () => proxy.openConnections, (n) => n === 0)).toBe(0);
    expect(tracker.retries).toHaveLength(0);
  });

  it('fails an acquisition that needs a new connection within its timeout + 1 s, saying the connect attempt failed', async () => {
    proxy.setMode('blackhole');
    const warm = db.getPoolMetrics().pools.primary.total;
    const held = await db.getConnection();
    const { ms, error } = await timed(() => db.getConnection({ timeoutMs: ACQUIRE_TIMEOUT_MS }));
    held.release();
    expect(warm).toBe(1);
    expect(error).toBeInstanceOf(ConnectionTimeoutError);
    expect((error as Error).message).toContain('the last attempt to open a connection failed');
    expect(ms).toBeGreaterThanOrEqual(ACQUIRE_TIMEOUT_MS - 50);
    expect(ms).toBeLessThan(ACQUIRE_TIMEOUT_MS + GRACE_MS);
    expect(db.getPoolMetrics().pools.primary.total).toBe(1);
  });

  it('counts a connection hanging in its handshake as opening, not used: the pool is not called full', async () => {
    proxy.setMode('blackhole');
    const held = await db.getConnection();
    const waiting = db.getConnection({ timeoutMs: ACQUIRE_TIMEOUT_MS }).catch((e: unknown) => e);
    const during = await eventually(async () => db.getPoolMetrics().pools.primary, (pool) => pool.opening === 1, ACQUIRE_TIMEOUT_MS);
    expect(during).toMatchObject({ total: 1, used: 1, idle: 0, opening: 1 });
    expect(await waiting).toBeInstanceOf(ConnectionTimeoutError);
    held.release();
    expect(db.getPoolMetrics().pools.primary).toMatchObject({ total: 1, used: 0, opening: 0 });
  });

  it('bounds a read by its attempts: each attempt within its acquisition and query deadlines, then a typed error', async () => {
    proxy.setMode('blackhole');
    const { ms, error } = await timed(() => db.read('SELECT 1'));
    // Attempt 1 meets the warm connection (query deadline, then retried as a read); attempt 2 needs a
    // new connection (acquisition deadline), and a spent acquisition deadline is not retried.
    const bound = QUERY_TIMEOUT_MS + 50 + ACQUIRE_TIMEOUT_MS;
    expect(error).toBeInstanceOf(ConnectionTimeoutError);
    expect(tracker.retries).toHaveLength(1);
    expect(ms).toBeGreaterThanOrEqual(QUERY_TIMEOUT_MS + ACQUIRE_TIMEOUT_MS - 50);
    expect(ms).toBeLessThan(bound + GRACE_MS);
    expect(db.getPoolMetrics().pools.primary).toMatchObject({ total: 0, used: 0, waiting: 0 });
  });

  it('destroys a leased connection whose statement hit the client deadline even when released without the error', async () => {
    const lease = await db.getConnection();
    proxy.setMode('blackhole');
    await expect(lease.client.query('SELECT 1')).rejects.toThrow('Query read timeout');
    // What `await using` does: release() with no error.
    lease.release();
    proxy.setMode('forward');
    expect(db.getPoolMetrics().pools.primary.total).toBe(0);
    const { ms, error } = await timed(() => db.query('SELECT 1'));
    expect(error).toBeUndefined();
    expect(ms).toBeLessThan(QUERY_TIMEOUT_MS);
  });

  it('does not hold a failed transaction for a ROLLBACK that cannot arrive: typed, within queryTimeoutMs + 1 s, nothing committed', async () => {
    const started = performance.now();
    const error = await db
      .transaction(async (client) => {
        await client.query("INSERT INTO items (label) VALUES ('tx-void')");
        proxy.setMode('blackhole');
        await client.query('SELECT 1');
      })
      .then(
        () => undefined,
        (e: unknown) => e,
      );
    const ms = performance.now() - started;
    expect(error).toBeInstanceOf(ConnectionLostError);
    expect((error as ConnectionLostError).outcome).toBe('rolled back');
    expect(ms).toBeLessThan(QUERY_TIMEOUT_MS + GRACE_MS);
    proxy.setMode('forward');
    expect(await eventually(() => rowsLabelled(database, 'tx-void'), (n) => n === 0)).toBe(0);
  });

  it('recovers once the network heals: the next call opens a fresh connection and succeeds', async () => {
    proxy.setMode('blackhole');
    await timed(() => db.read('SELECT 1'));
    const createdBefore = tracker.counts.connectionsCreated;
    proxy.setMode('forward');
    const { rows } = await db.read<{ ok: number }>('SELECT 1 AS ok');
    expect(rows[0]?.ok).toBe(1);
    expect(tracker.counts.connectionsCreated).toBe(createdBefore + 1);
    expect(tracker.counts.acquired).toBe(tracker.counts.released);
  });
});

describe('reset connection', () => {
  it('retries a read whose connection was reset, and surfaces a reset write as ConnectionLostError without re-sending it', async () => {
    const read = db.read<{ v: number }>('SELECT 5 AS v, pg_sleep(0.3)');
    await new Promise((r) => setTimeout(r, 100));
    proxy.reset();
    expect((await read).rows[0]?.v).toBe(5);

    const write = db.query("INSERT INTO items (label) SELECT 'reset-write' FROM pg_sleep(0.3)").then(
      () => undefined,
      (e: unknown) => e,
    );
    await new Promise((r) => setTimeout(r, 100));
    proxy.reset();
    const error = await write;
    expect(error).toBeInstanceOf(ConnectionLostError);
    expect(proxy.timesSent("'reset-write'")).toBe(1);
    expect(await eventually(() => rowsLabelled(database, 'reset-write'), (n) => n <= 1)).toBeLessThanOrEqual(1);
  });

  it('keeps close() within its deadline while a new connection hangs in its handshake', async () => {
    const held = await db.getConnection();
    proxy.setMode('blackhole');
    // The pool's only idle connection is leased, so this caller makes pg-pool open a new one into the blackhole.
    const opening = db.getConnection({ timeoutMs: 5000 }).then(
      (lease) => lease,
      (error: unknown) => error,
    );
    await new Promise((r) => setTimeout(r, 100));
    const started = performance.now();
    await db.close({ timeoutMs: 300 });
    expect(performance.now() - started).toBeLessThan(300 + GRACE_MS);
    expect(await opening).toBeInstanceOf(ManagerClosedError);
    held.release();
  });
});
