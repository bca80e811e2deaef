// db.pool, the pg.Pool face a library is handed: pg's own surface, with the manager's acquisition, leases, leak checks and reporting behind it.
import { inspect } from 'node:util';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConnectionTimeoutError, ManagerClosedError, type PostgresManager } from '../../src/index.js';
import { countConnections, createTestDatabase, eventually, processIdOf, type TestDatabase } from '../support/db.js';
import { createManager, type CapturingLogger } from '../support/manager.js';
import { firstFrame, here } from '../support/stack.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('pool_face');
});

afterAll(async () => {
  await database.drop();
});

async function withManager(
  options: Parameters<typeof createManager>[1],
  body: (db: PostgresManager, appName: string, logger: CapturingLogger) => Promise<void>,
): Promise<void> {
  const { db, appName, logger } = await createManager(database.url, { monitoringEnabled: true, ...options });
  try {
    await body(db, appName, logger);
  } finally {
    await db.close({ timeoutMs: 2000 });
  }
}

const acquisitions = (db: PostgresManager): number => db.getPoolMetrics().acquisition.primary?.total ?? 0;

describe('db.pool is a pg.Pool', () => {
  it('is an instance of the pg.Pool class the app imports, and the same object every time', async () => {
    await withManager({}, async (db) => {
      expect(db.pool).toBeInstanceOf(pg.Pool);
      expect(db.pool).toBe(db.pool);
      // Without a replica, reads use the primary's pool.
      expect(db.readPool).toBe(db.pool);
    });
  });

  it('shows its options without the password', async () => {
    const url = new URL(database.url);
    // The test server trusts local connections, so any password is accepted and sent.
    url.password = 'never-shown-1f3a';
    const { db } = await createManager(url.toString(), {});
    try {
      await db.pool.query('SELECT 1');
      expect(JSON.stringify(db.pool.options)).not.toContain('never-shown');
      expect(inspect(db.pool.options, { depth: 5 })).not.toContain('never-shown');
      expect(inspect(db.pool, { depth: 3 })).not.toContain('never-shown');
    } finally {
      await db.close();
    }
  });
});

describe('db.pool.query', () => {
  it('runs text with values, a config with rowMode array, types and a name, and counts each as one acquisition', async () => {
    await withManager({}, async (db) => {
      const before = acquisitions(db);
      expect((await db.pool.query('SELECT $1::int AS n', [7])).rows).toEqual([{ n: 7 }]);
      expect((await db.pool.query({ text: 'SELECT 1 AS a, 2 AS b', rowMode: 'array' })).rows).toEqual([[1, 2]]);
      const types = { getTypeParser: () => (value: string) => `parsed:${value}` };
      expect((await db.pool.query({ text: 'SELECT 42::int AS n', types })).rows).toEqual([{ n: 'parsed:42' }]);
      const named = { name: 'pool_face_named', text: 'SELECT $1::text AS t', values: ['x'] };
      expect((await db.pool.query(named)).rows).toEqual([{ t: 'x' }]);
      expect((await db.pool.query(named)).rows).toEqual([{ t: 'x' }]);
      expect(acquisitions(db) - before).toBe(5);
    });
  });

  it('answers the callback forms as pg-pool does', async () => {
    await withManager({}, async (db) => {
      const viaCallback = (...args: unknown[]): Promise<pg.QueryResult> =>
        new Promise((resolve, reject) => {
          const returned = (db.pool.query as (...a: unknown[]) => unknown)(...args, (error: Error | undefined, result: pg.QueryResult) =>
            error ? reject(error) : resolve(result),
          );
          expect(returned).toBeUndefined();
        });
      expect((await viaCallback('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      expect((await viaCallback('SELECT $1::int AS n', [3])).rows).toEqual([{ n: 3 }]);
      expect((await viaCallback({ text: 'SELECT $1::int AS n', values: [4] })).rows).toEqual([{ n: 4 }]);
      const failure = await viaCallback('SELECT * FROM no_such_table').catch((e: unknown) => e);
      expect((failure as { code?: string }).code).toBe('42P01');
    });
  });

  it('keeps a failed statement\'s SQLSTATE and, as pg-pool does, closes the connection it failed on', async () => {
    await withManager({ maxConnections: 1 }, async (db) => {
      const pid = (await db.pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid as number;
      const error = await db.pool.query('SELECT 1/0').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(pg.DatabaseError);
      expect((error as pg.DatabaseError).code).toBe('22012');
      expect((await db.pool.query('SELECT pg_backend_pid() AS pid')).rows[0].pid).not.toBe(pid);
      // db.query() keeps it: its own contract, where a constraint violation costs no connection.
      const pidOf = async (): Promise<unknown> => (await db.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]?.pid;
      const kept = await pidOf();
      await db.query('SELECT 1/0').catch(() => undefined);
      expect(await pidOf()).toBe(kept);
    });
  });

  it('hands a library pg\'s own error at once where db.query() would retry: NOWAIT and serialization failures', async () => {
    await withManager({ retry: { maxRetries: 3, baseDelayMs: 50 } }, async (db) => {
      await db.query('CREATE TABLE face_locks (id int PRIMARY KEY)');
      await db.query('INSERT INTO face_locks VALUES (1)');
      const holder = await db.getConnection();
      await holder.client.query('BEGIN');
      await holder.client.query('SELECT * FROM face_locks WHERE id = 1 FOR UPDATE');
      const locked = await db.pool.query('SELECT * FROM face_locks WHERE id = 1 FOR UPDATE NOWAIT').catch((e: unknown) => e);
      expect(locked).toBeInstanceOf(pg.DatabaseError);
      expect((locked as pg.DatabaseError).code).toBe('55P03');
      await holder.client.query('ROLLBACK');
      holder.release();

      await db.query('CREATE SEQUENCE face_once');
      await db.query(`CREATE FUNCTION face_once() RETURNS int LANGUAGE plpgsql AS $$
        BEGIN IF nextval('face_once') = 1 THEN RAISE EXCEPTION 'conflict' USING ERRCODE = '40001'; END IF; RETURN 1; END $$`);
      const conflict = await db.pool.query('SELECT face_once()').catch((e: unknown) => e);
      expect((conflict as pg.DatabaseError).code).toBe('40001');
      // db.query() re-sends what the server rejected as a whole.
      await db.query("SELECT setval('face_once', 1, false)");
      expect((await db.query('SELECT face_once() AS v')).rows).toEqual([{ v: 1 }]);
    });
  });

  it('refuses a function as the statement, as pg-pool does', async () => {
    await withManager({}, async (db) => {
      const error = await new Promise((resolve) => (db.pool.query as unknown as (cb: (e: unknown) => void) => void)(resolve));
      expect(String(error)).toContain('Passing a function as the first parameter to pool.query is not supported');
    });
  });
});

describe('db.pool.connect', () => {
  it('hands out pg\'s own PoolClient, in promise and callback form, each a counted acquisition', async () => {
    await withManager({}, async (db) => {
      const before = acquisitions(db);
      const client = await db.pool.connect();
      expect(client).toBeInstanceOf(pg.Client);
      expect(typeof processIdOf(client)).toBe('number');
      expect(client.escapeIdentifier('a"b')).toBe('"a""b"');
      expect(client.escapeLiteral("it's")).toBe("'it''s'");
      expect((await client.query('SELECT pg_backend_pid() AS pid')).rows[0].pid).toBe(processIdOf(client));
      client.release();

      const [viaCallback, done] = await new Promise<[pg.PoolClient, (release?: unknown) => void]>((resolve, reject) =>
        db.pool.connect((error, c, release) => (error || !c ? reject(error) : resolve([c, release]))),
      );
      expect((await viaCallback.query('SELECT 1 AS one')).rows).toEqual([{ one: 1 }]);
      done();
      expect(acquisitions(db) - before).toBe(2);
      expect(db.pool.idleCount).toBeGreaterThanOrEqual(1);
    });
  });

  it('destroys the connection on release(true) and release(error), and keeps it on release()', async () => {
    await withManager({ maxConnections: 1 }, async (db) => {
      const pidOf = async (): Promise<number> => {
        const client = await db.pool.connect();
        const pid = processIdOf(client)!;
        client.release();
        return pid;
      };
      const first = await pidOf();
      expect(await pidOf()).toBe(first);
      const destroyed = await db.pool.connect();
      destroyed.release(true);
      const second = await pidOf();
      expect(second).not.toBe(first);
      const failed = await db.pool.connect();
      const reasons: unknown[] = [];
      db.pool.once('release', (reason: unknown) => reasons.push(reason));
      const reason = new Error('the caller decided this connection is bad');
      failed.release(reason);
      expect(reasons).toEqual([reason]);
      expect(await pidOf()).not.toBe(second);
    });
  });

  it('fails an exhausted pool near its timeout with ConnectionTimeoutError', async () => {
    await withManager({ maxConnections: 1, connectionTimeoutSeconds: 0.3 }, async (db) => {
      const held = await db.pool.connect();
      const started = performance.now();
      const error = await db.pool.connect().catch((e: unknown) => e);
      const waited = performance.now() - started;
      expect(error).toBeInstanceOf(ConnectionTimeoutError);
      expect((error as ConnectionTimeoutError).timeoutMs).toBe(300);
      expect(waited).toBeGreaterThanOrEqual(240);
      expect(waited).toBeLessThan(5000);
      // The same bound for a statement through the pool.
      expect(await db.pool.query('SELECT 1').catch((e: unknown) => e)).toBeInstanceOf(ConnectionTimeoutError);
      expect(db.getPoolMetrics().acquisition.primary?.timeouts).toBe(2);
      held.release();
    });
  });

  it('reports a connection taken and kept once, with a stack that points at the line that took it', async () => {
    await withManager({ leakDetectionThresholdMs: 100 }, async (db, _appName, logger) => {
      const client = await db.pool.connect(); const takenAt = here();
      const leaks = await eventually(async () => db.getPoolMetrics().leaks, (l) => l.active.length === 1, 5000);
      expect(firstFrame(leaks.active[0]!.stack)).toBe(takenAt);
      await new Promise((r) => setTimeout(r, 300));
      expect(db.getPoolMetrics().leaks.detected).toBe(1);
      expect(logger.lines.filter((l) => l.includes('connection leak detection triggered'))).toHaveLength(1);
      client.release();
      await eventually(async () => db.getPoolMetrics().leaks, (l) => l.active.length === 0, 2000);
    });
  });

  it('leaves a client that ran LISTEN alone, as one held on purpose, while another kept client is reported', async () => {
    await withManager({ leakDetectionThresholdMs: 100, maxConnections: 2 }, async (db) => {
      const listener = await db.pool.connect();
      const listenerPid = processIdOf(listener);
      await listener.query('-- the worker subscribes\n/* graphile */ LISTEN pool_face_jobs');
      const kept = await db.pool.connect();
      const leaks = await eventually(async () => db.getPoolMetrics().leaks, (l) => l.active.length > 0, 5000);
      await new Promise((r) => setTimeout(r, 300));
      expect(db.getPoolMetrics().leaks.detected).toBe(1);
      expect(leaks.active).toHaveLength(1);
      kept.release();
      // The mark belongs to the lease: the same connection lent again and kept is reported.
      await listener.query('UNLISTEN *');
      listener.release();
      // pg-pool lends the connection released last first.
      const again = await db.pool.connect();
      expect(processIdOf(again)).toBe(listenerPid);
      await eventually(async () => db.getPoolMetrics().leaks.detected, (n) => n === 2, 5000);
      expect(db.getPoolMetrics().leaks.detected).toBe(2);
      again.release();
    });
  });

  it('reports statements run on the client: a slow one reaches the slow-query list with its literals stripped', async () => {
    await withManager({ slowQueryThresholdMs: 50 }, async (db) => {
      const client = await db.pool.connect();
      await client.query("SELECT pg_sleep(0.1), 'secret-literal' AS label");
      client.release();
      const [slow] = db.getSlowQueries();
      expect(slow?.query).toContain('pg_sleep');
      expect(JSON.stringify(db.getSlowQueries())).not.toContain('secret-literal');
    });
  });

  it('delivers LISTEN/NOTIFY and notices on a client taken from it', async () => {
    await withManager({}, async (db) => {
      const listener = await db.pool.connect();
      const notified = new Promise<pg.Notification>((resolve) => listener.once('notification', resolve));
      const noticed = new Promise<{ message?: string }>((resolve) => listener.once('notice', resolve));
      await listener.query('LISTEN pool_face_channel');
      await db.pool.query("SELECT pg_notify('pool_face_channel', 'hello')");
      expect((await notified).payload).toBe('hello');
      await listener.query("DO $$ BEGIN RAISE NOTICE 'from the server'; END $$");
      expect((await noticed).message).toBe('from the server');
      await listener.query('UNLISTEN *');
      listener.release();
    });
  });

  it('runs a submittable through pool.query on a connection it takes through the manager', async () => {
    await withManager({}, async (db) => {
      const before = acquisitions(db);
      const rows: unknown[] = [];
      const submitted = new pg.Query('SELECT generate_series(1, 3) AS n');
      submitted.on('row', (row: unknown) => rows.push(row));
      const ended = new Promise((resolve) => submitted.on('end', resolve));
      // pg-pool answers a submittable with a promise of its result, not the submittable.
      await db.pool.query(submitted);
      await ended;
      expect(rows).toEqual([{ n: 1 }, { n: 2 }, { n: 3 }]);
      expect(acquisitions(db) - before).toBe(1);
    });
  });
});

describe('pg.Pool events and counts', () => {
  it('emits acquire, release, remove and connect, and counts total, idle and waiting as pg-pool does', async () => {
    await withManager({ maxConnections: 1 }, async (db) => {
      const seen: string[] = [];
      for (const name of ['connect', 'acquire', 'release', 'remove'] as const) db.pool.on(name, () => seen.push(name));
      const client = await db.pool.connect();
      expect(db.pool.totalCount).toBe(1);
      expect(db.pool.idleCount).toBe(0);
      const waiting = db.pool.connect();
      await eventually(async () => db.pool.waitingCount, (n) => n === 1, 2000);
      client.release();
      (await waiting).release(true);
      await eventually(async () => seen.includes('remove'), Boolean, 2000);
      (await db.pool.connect()).release();
      // The connection create() opened was there before the listeners; the one after the removal is new.
      expect(seen).toEqual(['acquire', 'release', 'acquire', 'release', 'remove', 'connect', 'acquire', 'release']);
      expect(db.pool.expiredCount).toBe(0);
    });
  });
});

describe('db.pool.end', () => {
  it('closes the manager, sets ending and ended, leaves no connection open, and rejects a second end() as pg-pool does', async () => {
    const { db, appName } = await createManager(database.url, { minConnections: 2 });
    await eventually(() => countConnections(appName), (n) => n === 2);
    expect(db.pool.ending).toBe(false);
    await db.pool.end();
    expect(db.isClosed).toBe(true);
    expect(db.pool.ending).toBe(true);
    expect(db.pool.ended).toBe(true);
    await expect(db.pool.end()).rejects.toThrow('Called end on pool more than once');
    await expect(db.close()).resolves.toBeUndefined();
    expect(await eventually(() => countConnections(appName), (n) => n === 0)).toBe(0);
    expect(await db.pool.query('SELECT 1').catch((e: unknown) => e)).toBeInstanceOf(ManagerClosedError);
    expect(await db.pool.connect().catch((e: unknown) => e)).toBeInstanceOf(ManagerClosedError);
  });
});

describe('db.pgModule()', () => {
  it('is the pg module with a Pool constructor that hands back the manager\'s pool, whatever options it is given', async () => {
    await withManager({}, async (db) => {
      const module = db.pgModule();
      expect(new module.Pool({ host: 'elsewhere', max: 99 })).toBe(db.pool);
      expect(module.Client).toBe(pg.Client);
      expect(module.types).toBe(pg.types);
      // Not pg-native's Pool either, which a library would build from its own options.
      expect(module.native).toBeNull();
    });
  });

  it('has a Pool that is a class, as pg\'s is: it throws without new, and a subclass of it works (pg\'s issue-1542 tests)', async () => {
    await withManager({}, async (db) => {
      const { Pool } = db.pgModule();
      expect(() => (Pool as unknown as () => unknown)()).toThrow(TypeError);
      class SubPool extends Pool {}
      const subPool = new SubPool();
      expect(subPool).toBe(db.pool);
      expect(subPool).toBeInstanceOf(SubPool);
      expect(subPool).toBeInstanceOf(Pool);
      expect(subPool).toBeInstanceOf(pg.Pool);
      expect(Object.getPrototypeOf(Pool.prototype)).toBe(pg.Pool.prototype);
      const client = await subPool.connect();
      client.release();
      expect({} instanceof Pool).toBe(false);
    });
  });
});
