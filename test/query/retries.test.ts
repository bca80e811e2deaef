// Which failures are retried and how: the classification table, killed backends, transactions retried whole.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { backoffDelay, classifyError, ConnectionTimeoutError, RetryExhaustedError, TransactionRolledBackError } from '../../src/index.js';
import type { PoolTracker, RetryEvent } from '../../src/index.js';
import { adminQuery, createTestDatabase, eventually, terminateBackends, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('retries');
  await adminQuery('CREATE TABLE items (id serial PRIMARY KEY, label text NOT NULL)', [], database.name);
});

afterAll(async () => {
  await database.drop();
});

function retryRecorder(): { tracker: PoolTracker; retries: RetryEvent[] } {
  const retries: RetryEvent[] = [];
  return { tracker: { retried: (e) => retries.push(e) }, retries };
}

/** Kills this manager's backend once its query shows up as running on the server. */
async function killWhenRunning(appName: string, sqlFragment: string): Promise<void> {
  await eventually(
    async () => (await adminQuery<{ n: string }>(
      "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1 AND state = 'active' AND query LIKE $2",
      [appName, `%${sqlFragment}%`],
    )).rows[0]?.n,
    (n) => n === '1',
  );
  await terminateBackends(appName, 'active');
}

describe('retry classification', () => {
  it.each([
    ['acquire', { code: 'ECONNREFUSED' }, 'retry'],
    ['acquire', { code: '53300' }, 'retry'],
    ['acquire', { code: '57P03' }, 'retry'],
    ['acquire', { code: '28P01' }, 'fail'],
    ['acquire', { code: '3D000' }, 'fail'],
    ['execute', { code: '40001' }, 'retry'],
    ['execute', { code: '57P01' }, 'retry-if-idempotent'],
    ['execute', { code: '08006' }, 'retry-if-idempotent'],
    ['execute', { code: '08007' }, 'fail'],
    ['execute', { code: '57014' }, 'fail'],
    ['execute', { code: '42601' }, 'fail'],
    ['execute', { code: '23505' }, 'fail'],
    ['execute', { code: '22P02' }, 'fail'],
    ['execute', { code: 'ECONNRESET' }, 'retry-if-idempotent'],
    // Five letters like a SQLSTATE, but Node's: a write to a closed socket.
    ['execute', { code: 'EPIPE' }, 'retry-if-idempotent'],
  ] as const)('%s %j -> %s', (phase, fields, decision) => {
    expect(classifyError(Object.assign(new Error('x'), fields), phase)).toBe(decision);
  });

  it('retries a message-only lost connection only when idempotent, and a not-queryable client always', () => {
    expect(classifyError(new Error('Connection terminated unexpectedly'), 'execute')).toBe('retry-if-idempotent');
    expect(classifyError(new Error('Client has encountered a connection error and is not queryable'), 'execute')).toBe('retry');
    // Nothing was sent, but the timeout is the caller's deadline.
    expect(classifyError(new ConnectionTimeoutError('p', 1, { total: 1, idle: 0, waiting: 0, opening: 0 }, 1), 'acquire')).toBe('fail');
    expect(classifyError(new TypeError('timeoutMs must be a number'), 'acquire')).toBe('fail');
  });

  it('names every address of a failed connect when Node reports them as one AggregateError with no message', () => {
    const refused = (address: string): Error => Object.assign(new Error(`connect ECONNREFUSED ${address}:5432`), { code: 'ECONNREFUSED' });
    const cause = new AggregateError([refused('::1'), refused('127.0.0.1')]);
    expect(cause.message).toBe('');
    const exhausted = new RetryExhaustedError(4, cause);
    expect(exhausted.message).toContain('the last failure was: connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432.');
    const timeout = new ConnectionTimeoutError('primary', 100, { total: 0, idle: 0, waiting: 1, opening: 0 }, 5, cause);
    expect(timeout.message).toContain('failed: connect ECONNREFUSED ::1:5432; connect ECONNREFUSED 127.0.0.1:5432. Check');
  });

  it('draws full-jitter delays within min(cap, base * 2^retry)', () => {
    const options = { baseDelayMs: 100, maxDelayMs: 2000 };
    expect(backoffDelay(0, options, () => 0.999)).toBe(99);
    expect(backoffDelay(2, options, () => 0.5)).toBe(200);
    expect(backoffDelay(10, options, () => 0.999)).toBe(1998);
    expect(backoffDelay(3, options, () => 0)).toBe(0);
  });
});

describe('killed backends and retries against the server', () => {
  it('survives an idle pooled backend being killed; the next read succeeds', async () => {
    const { db, appName } = await createManager(database.url, { minConnections: 2, maxConnections: 2 });
    try {
      expect(await terminateBackends(appName, 'idle')).toBe(2);
      await new Promise((r) => setTimeout(r, 100));
      const { rows } = await db.read('SELECT 41 + 1 AS answer');
      expect(rows[0]).toEqual({ answer: 42 });
    } finally {
      await db.close();
    }
  });

  it('retries a read whose backend was killed mid-statement, and it succeeds', async () => {
    const { db, appName } = await createManager(database.url, { retry: { baseDelayMs: 10 } });
    const { tracker, retries } = retryRecorder();
    db.addTracker(tracker);
    try {
      const read = db.read<{ v: number }>('SELECT 7 AS v, pg_sleep(0.5) AS slept');
      await killWhenRunning(appName, 'pg_sleep(0.5)');
      const { rows } = await read;
      expect(rows[0]?.v).toBe(7);
      expect(retries).toHaveLength(1);
      expect(retries[0]?.sqlstate).toBe('57P01');
    } finally {
      await db.close();
    }
  });

  it('does not retry an INSERT whose backend was killed; the row exists at most once', async () => {
    const { db, appName } = await createManager(database.url, { retry: { baseDelayMs: 10 } });
    const { tracker, retries } = retryRecorder();
    db.addTracker(tracker);
    try {
      const insert = db.query("INSERT INTO items (label) SELECT 'killed-write' FROM pg_sleep(0.5)");
      const outcome = insert.catch((e: unknown) => e);
      await killWhenRunning(appName, 'killed-write');
      const error = await outcome;
      expect(error).toMatchObject({ code: '57P01' });
      expect(retries).toHaveLength(0);
      const { rows } = await adminQuery<{ n: string }>("SELECT count(*) AS n FROM items WHERE label = 'killed-write'", [], database.name);
      expect(Number(rows[0]?.n)).toBeLessThanOrEqual(1);
      // The pool is healthy afterwards.
      expect((await db.query('SELECT 1 AS ok')).rows[0]).toEqual({ ok: 1 });
    } finally {
      await db.close();
    }
  });

  it('re-sends an INSERT marked idempotent after its backend was killed', async () => {
    const { db, appName } = await createManager(database.url, { retry: { baseDelayMs: 10 } });
    try {
      const insert = db.query(
        "INSERT INTO items (label) SELECT 'idem-write' FROM pg_sleep(0.5) WHERE NOT EXISTS (SELECT 1 FROM items WHERE label = 'idem-write')",
        [],
        { idempotent: true },
      );
      await killWhenRunning(appName, 'idem-write');
      expect((await insert).rowCount).toBe(1);
    } finally {
      await db.close();
    }
  });

  it('fails a syntax error at once, without retrying', async () => {
    const { db } = await createManager(database.url);
    const { tracker, retries } = retryRecorder();
    db.addTracker(tracker);
    try {
      await expect(db.query('SELEC 1')).rejects.toMatchObject({ code: '42601' });
      expect(retries).toHaveLength(0);
    } finally {
      await db.close();
    }
  });

  it('gives up on a server that refuses connections with RetryExhaustedError after 1 + maxRetries attempts, at create()', async () => {
    const url = new URL(database.url);
    url.port = '1';
    const error = await createManager(url.toString(), { retry: { maxRetries: 2, baseDelayMs: 5 } }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RetryExhaustedError);
    expect((error as RetryExhaustedError).attempts).toBe(3);
    expect((error as RetryExhaustedError).cause).toMatchObject({ code: 'ECONNREFUSED' });
  });
});

describe('transactions', () => {
  it('commits, and rolls back when the callback throws', async () => {
    const { db } = await createManager(database.url);
    try {
      await db.transaction(async (c) => {
        await c.query("INSERT INTO items (label) VALUES ('tx-commit')");
      });
      await expect(
        db.transaction(async (c) => {
          await c.query("INSERT INTO items (label) VALUES ('tx-rollback')");
          throw new Error('changed my mind');
        }),
      ).rejects.toThrow('changed my mind');
      const { rows } = await db.query<{ label: string }>("SELECT label FROM items WHERE label LIKE 'tx-%' ORDER BY label");
      expect(rows.map((r) => r.label)).toEqual(['tx-commit']);
    } finally {
      await db.close();
    }
  });

  it('re-runs the whole callback after a serialization failure', async () => {
    const { db } = await createManager(database.url, { retry: { baseDelayMs: 5 } });
    await db.query("INSERT INTO items (label) VALUES ('ssi-a'), ('ssi-b')");
    let runs = 0;
    let release!: () => void;
    const bothRead = new Promise<void>((r) => (release = r));
    try {
      // Classic write skew: each transaction reads both rows, then writes one; SERIALIZABLE aborts one of them.
      const writer = (label: string) =>
        db.transaction(
          async (c) => {
            runs++;
            await c.query("SELECT count(*) FROM items WHERE label LIKE 'ssi-%'");
            if (runs <= 2) {
              if (runs === 2) release();
              await bothRead;
            }
            await c.query('INSERT INTO items (label) VALUES ($1)', [label]);
          },
          { isolationLevel: 'serializable' },
        );
      await Promise.all([writer('ssi-c'), writer('ssi-d')]);
      expect(runs).toBe(3);
      const { rows } = await db.query<{ n: string }>("SELECT count(*) AS n FROM items WHERE label IN ('ssi-c', 'ssi-d')");
      expect(Number(rows[0]?.n)).toBe(2);
    } finally {
      await db.close();
    }
  });

  it('refuses an isolation level that is not one of the three, before taking a connection', async () => {
    const { db } = await createManager(database.url);
    try {
      const injected = 'serializable; DROP TABLE items' as 'serializable';
      await expect(db.transaction(async () => undefined, { isolationLevel: injected })).rejects.toThrow(TypeError);
      expect((await adminQuery("SELECT to_regclass('items') AS t", [], database.name)).rows[0]?.t).toBe('items');
      expect(db.getPoolMetrics().pools.primary.used).toBe(0);
    } finally {
      await db.close();
    }
  });

  it('reports a COMMIT that the server answered with ROLLBACK as a failure', async () => {
    const { db } = await createManager(database.url);
    try {
      const error = await db
        .transaction(async (c) => {
          await c.query("INSERT INTO items (label) VALUES ('tx-aborted')");
          await c.query('SELECT 1/0').catch(() => undefined);
        })
        .catch((e: unknown) => e);
      expect(error).toBeInstanceOf(TransactionRolledBackError);
      const { rows } = await db.query<{ n: string }>("SELECT count(*) AS n FROM items WHERE label = 'tx-aborted'");
      expect(rows[0]?.n).toBe('0');
    } finally {
      await db.close();
    }
  });
});
