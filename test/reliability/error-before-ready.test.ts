// A statement's error and the ReadyForQuery after it arriving in separate reads: the caller gets the
// error at once, a healthy connection is kept, and an aborted transaction never reaches the next caller.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PostgresManager } from '../../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from '../support/db.js';
import type { CountingTracker } from './support/counting-tracker.js';
import { SPLIT_DELAY_MS } from './support/fault-proxy.js';
import { proxiedManager, type ProxiedManager } from './support/proxied-manager.js';
import { trapProcessFaults } from './support/process-trap.js';

trapProcessFaults();

let database: TestDatabase;
let setup: ProxiedManager;
let db: PostgresManager;
let tracker: CountingTracker;

beforeAll(async () => {
  database = await createTestDatabase('split');
});

afterAll(async () => {
  await database.drop();
});

beforeEach(async () => {
  setup = await proxiedManager(database.url, { maxConnections: 1, statementTimeoutMs: 100, connectionTimeoutSeconds: 3 });
  ({ db, tracker } = setup);
  setup.proxy.setMode('splitErrorFromReady');
});

afterEach(async () => {
  await setup.close();
});

const READY_AFTER_ERROR_WAIT_MS = 1000;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const backendPid = async (): Promise<number | undefined> =>
  (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;

describe('an error whose ReadyForQuery arrives in a later read', () => {
  it('query(): the caller gets the error without waiting for it, and the connection is kept', async () => {
    const pid = await backendPid();
    const started = performance.now();
    await expect(db.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
    expect(performance.now() - started).toBeLessThan(SPLIT_DELAY_MS);
    expect(await backendPid()).toBe(pid);
    expect(tracker.counts.connectionsCreated).toBe(0);
  });

  it('read() hitting statement_timeout keeps the connection', async () => {
    const pid = await backendPid();
    await expect(db.read('SELECT pg_sleep(2)')).rejects.toMatchObject({ code: '57014' });
    expect(await backendPid()).toBe(pid);
    expect(tracker.counts.connectionsCreated).toBe(0);
  });

  it('a leased statement that failed, released at once: the connection is kept', async () => {
    const pid = await backendPid();
    const leasedPid = await db.withConnection(async (client) => {
      await expect(client.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
      return (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    });
    expect(leasedPid).toBe(pid);
    await db.withConnection(async (client) => {
      await client.query('SELECT 1/0').catch(() => undefined);
    });
    expect(await backendPid()).toBe(pid);
    expect(tracker.counts.connectionsCreated).toBe(0);
  });

  it('a connection lost before its ReadyForQuery arrives is closed at once, and the pool serves the next caller', async () => {
    const pid = await backendPid();
    await expect(db.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
    setup.proxy.reset();
    const started = performance.now();
    expect(await backendPid()).not.toBe(pid);
    expect(performance.now() - started).toBeLessThan(READY_AFTER_ERROR_WAIT_MS);
  });

  it('a ReadyForQuery that never arrives: the connection is closed after a bounded wait, and the pool serves the next caller', async () => {
    const pid = await backendPid();
    await expect(db.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
    setup.proxy.setMode('blackhole');
    await sleep(SPLIT_DELAY_MS + 50);
    setup.proxy.setMode('forward');
    // Waits for the held connection to be closed (not for the 3 s acquisition timeout), then opens a new one.
    expect(await backendPid()).not.toBe(pid);
  });

  it('a statement sent on the kept pg client while its connection waits makes the connection unfit: closed, not reused', async () => {
    const lease = await db.getConnection();
    const client = lease.client;
    const leasedPid = (await client.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
    await expect(client.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
    lease.release();
    // Misuse: the pg client kept past release; pg queues this BEGIN and sends it when the ReadyForQuery arrives.
    const foreign = client.query('BEGIN').catch((e: unknown) => e);
    expect(await backendPid()).not.toBe(leasedPid);
    expect(await foreign).toBeInstanceOf(Error);
  });

  it('a client ended by its borrower is closed at release, without waiting', async () => {
    const lease = await db.getConnection();
    const client = lease.client;
    const running = client.query('SELECT pg_sleep(5)').catch((e: unknown) => e);
    await client.end().catch(() => undefined);
    expect(await running).toBeInstanceOf(Error);
    lease.release();
    const started = performance.now();
    await backendPid();
    expect(performance.now() - started).toBeLessThan(READY_AFTER_ERROR_WAIT_MS);
  });

  it('close() past its deadline closes a connection still waiting for its ReadyForQuery, and does not call it leaked', async () => {
    await expect(db.query('SELECT 1/0')).rejects.toMatchObject({ code: '22012' });
    setup.proxy.setMode('blackhole');
    await db.close({ timeoutMs: 100 });
    // Closed at the deadline, not when the wait would have ended (1 s after the error).
    expect(await eventually(async () => setup.proxy.openConnections, (open) => open === 0, 600)).toBe(0);
    expect(tracker.leaks).toEqual([]);
  });

  it('a statement that aborted its transaction: the connection is not reused, the next caller is served normally', async () => {
    const pid = await backendPid();
    const failing = db.query('BEGIN; SELECT 1/0; COMMIT');
    const next = db.query<{ pid: number; tx: string }>('SELECT pg_backend_pid() AS pid, now()::text AS tx');
    await expect(failing).rejects.toMatchObject({ code: '22012' });
    const served = (await next).rows[0];
    expect(served?.pid).not.toBe(pid);
    expect(tracker.counts.connectionsCreated).toBe(1);
  });
});
