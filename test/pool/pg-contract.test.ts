// pg's pool contract, measured against pg's own pool: each behaviour runs on a pg.Pool, on a pg.Pool adopted
// with create({ pool }) and on db.pool of create({ databaseUrl }), so a difference shows as one side failing.
// A behaviour where the manager differs on purpose states both answers; each is a row of the README table
// "Where db.pool differs from pg.Pool". (The zero-code instrumentation adds its observed pool as a fourth kind.)
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, ConnectionTimeoutError, ManagerClosedError, PostgresManager, type CreateOptions } from '../../src/index.js';
import { createPasswordRole, createTestDatabase, processIdOf, uniqueName, type TestDatabase } from '../support/db.js';
import { capturingLogger } from '../support/manager.js';
import { register, type Registered } from '../instrumentation/support.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('pg_contract');
  registered = register();
});

afterAll(async () => {
  await registered.stop();
  await database.drop();
});

const KINDS = ['pg.Pool', 'adopted', 'db.pool', 'instrumented'] as const;
type Kind = (typeof KINDS)[number];

/** pg's own pool, and the one the zero-code instrumentation observes: no difference between them may show. */
const isPlain = (kind: Kind): boolean => kind === 'pg.Pool' || kind === 'instrumented';

/** The instrumentation stays enabled for the file; the other kinds build their pools from pg's own class. */
let registered: Registered;
const PlainPool = (): typeof pg.Pool => Object.getPrototypeOf(pg.Pool) as typeof pg.Pool;
const poolClass = (kind: Kind): typeof pg.Pool => (kind === 'instrumented' ? pg.Pool : PlainPool());

/** pg-pool's options, as a test gives them; db.pool gets them under the manager's names. */
interface Settings {
  max?: number;
  idleTimeoutMillis?: number;
  connectionTimeoutMillis?: number;
  maxUses?: number;
  maxLifetimeSeconds?: number;
  onConnect?: (client: pg.PoolClient) => void | Promise<void>;
  verify?: (client: pg.PoolClient, done: (error?: Error) => void) => void;
  log?: (...messages: unknown[]) => void;
  query_timeout?: number;
}

interface Subject {
  pool: pg.Pool;
  db: PostgresManager | undefined;
}

const opened: Subject[] = [];

afterEach(async () => {
  for (const { pool, db } of opened.splice(0)) {
    if (db) await db.close({ timeoutMs: 2000 });
    else if (!pool.ending) await pool.end();
  }
});

const MANAGED: Partial<CreateOptions> = { schemaInit: 'off', env: {}, monitoringEnabled: true, warmUp: false };

/** A pool of `kind` on `url`, as an app builds it; create() awaited first, without its warm-up, as an app counting events would. */
async function open(kind: Kind, settings: Settings = {}, url = database.url, extra: Partial<CreateOptions> = {}): Promise<Subject> {
  const applicationName = uniqueName('contract');
  let subject: Subject;
  if (kind === 'db.pool') {
    const { max, idleTimeoutMillis, connectionTimeoutMillis, query_timeout, ...passed } = settings;
    const db = await PostgresManager.create({
      ...MANAGED,
      logger: capturingLogger(),
      databaseUrl: url,
      applicationName,
      minConnections: 0,
      maxConnections: max ?? 10,
      ...(idleTimeoutMillis !== undefined ? { idleTimeoutMs: idleTimeoutMillis } : {}),
      ...(connectionTimeoutMillis !== undefined ? { connectionTimeoutSeconds: connectionTimeoutMillis / 1000 } : {}),
      ...(query_timeout !== undefined ? { queryTimeoutMs: query_timeout } : {}),
      ...passed,
      ...extra,
    });
    subject = { pool: db.pool, db };
  } else {
    const Pool = poolClass(kind);
    const pool = new Pool({ connectionString: url, application_name: applicationName, ...settings } as pg.PoolConfig);
    if (kind === 'instrumented' && !(Symbol.for('otel-pg-manager.observed-pool') in pool)) throw new Error('the instrumentation did not observe the pool');
    const db = kind === 'adopted' ? await PostgresManager.create({ ...MANAGED, logger: capturingLogger(), pool, ...extra }) : undefined;
    subject = { pool, db };
  }
  opened.push(subject);
  return subject;
}

/** The pool's events as one line each, with whether 'release' carried an error. */
function recordEvents(pool: pg.Pool): string[] {
  const seen: string[] = [];
  pool.on('connect', () => seen.push('connect'));
  pool.on('acquire', () => seen.push('acquire'));
  pool.on('release', (error: unknown) => seen.push(error ? 'release(error)' : 'release'));
  pool.on('remove', () => seen.push('remove'));
  return seen;
}

const counts = (pool: pg.Pool): { total: number; idle: number; waiting: number } => ({
  total: pool.totalCount,
  idle: pool.idleCount,
  waiting: pool.waitingCount,
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** 'answered' once `promise` settles, or 'unanswered' if it has not within `ms`. */
async function answeredWithin(promise: Promise<unknown>, ms: number): Promise<'answered' | 'unanswered'> {
  return Promise.race([promise.then(() => 'answered' as const, () => 'answered' as const), sleep(ms).then(() => 'unanswered' as const)]);
}

/**
 * Runs `body` with vitest's own listeners for `event` set aside and returns what reached the process:
 * unhandled rejections or uncaught exceptions, which otherwise end a Node process.
 */
async function processFaultsDuring(event: 'unhandledRejection' | 'uncaughtException', body: () => Promise<void>): Promise<unknown[]> {
  const theirs = process.listeners(event as 'uncaughtException');
  process.removeAllListeners(event);
  const seen: unknown[] = [];
  const record = (reason: unknown): void => void seen.push(reason);
  process.on(event as 'uncaughtException', record);
  try {
    await body();
    // A rejection is reported after the microtasks of its tick; give a late one the time to show.
    await sleep(50);
  } finally {
    process.off(event as 'uncaughtException', record);
    for (const listener of theirs) process.on(event as 'uncaughtException', listener as NodeJS.UncaughtExceptionListener);
  }
  return seen;
}

/** A TCP server that accepts connections and never answers, counting them. */
async function silentServer(behaviour: 'silent' | 'hang up' = 'silent'): Promise<{ url: string; accepted: () => number; close: () => void }> {
  const sockets = new Set<Socket>();
  let accepted = 0;
  const server: Server = createServer((socket) => {
    accepted++;
    if (behaviour === 'hang up') return socket.destroy();
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `postgresql://nobody@127.0.0.1:${port}/none`,
    accepted: () => accepted,
    close: () => {
      for (const socket of sockets) socket.destroy();
      server.close();
    },
  };
}

describe.each(KINDS)('%s: the same as pg.Pool', (kind) => {
  it('emits the same events and shows the same counts for one script', async () => {
    const { pool } = await open(kind, { max: 1 });
    const seen = recordEvents(pool);
    const client = await pool.connect();
    expect(counts(pool)).toEqual({ total: 1, idle: 0, waiting: 0 });
    await client.query('SELECT 1');
    client.release();
    expect(counts(pool)).toEqual({ total: 1, idle: 1, waiting: 0 });
    expect((await pool.query('SELECT 2 AS n')).rows).toEqual([{ n: 2 }]);
    const held = await pool.connect();
    const queued = pool.connect();
    await sleep(20);
    expect(counts(pool)).toEqual({ total: 1, idle: 0, waiting: 1 });
    held.release();
    const next = await queued;
    next.release(new Error('the caller says this connection is bad'));
    expect(counts(pool)).toEqual({ total: 0, idle: 0, waiting: 0 });
    await once(pool, 'remove');
    await pool.query('SELECT 3');
    expect(counts(pool)).toEqual({ total: 1, idle: 1, waiting: 0 });
    expect(pool.expiredCount).toBe(0);
    expect(seen).toEqual([
      'connect', 'acquire', 'release', // connect, query, release
      'acquire', 'release', // pool.query on the idle connection
      'acquire', 'release', 'acquire', 'release(error)', 'remove', // held, queued, released with an error
      'connect', 'acquire', 'release', // pool.query on a new connection
    ]);
  });

  it('drops the connection of a failed pool.query(), emitting release with the error, and recovers', async () => {
    const { pool } = await open(kind, { max: 1 });
    const seen = recordEvents(pool);
    const errors = [];
    for (let i = 0; i < 5; i++) errors.push(await pool.query('SELECT 1/0').catch((e: unknown) => e));
    expect(errors.map((e) => (e as pg.DatabaseError).code)).toEqual(['22012', '22012', '22012', '22012', '22012']);
    expect(errors.every((e) => e instanceof pg.DatabaseError)).toBe(true);
    // pg-pool's "recovers from query errors": a pool that dropped each connection.
    expect(counts(pool)).toEqual({ total: 0, idle: 0, waiting: 0 });
    expect((await pool.query('SELECT $1::text AS name', ['hi'])).rows).toEqual([{ name: 'hi' }]);
    // pg-pool emits 'remove' once the connection has closed, which may come after the next one opened.
    while (seen.filter((e) => e === 'remove').length < 5) await sleep(10);
    const tally = (name: string): number => seen.filter((e) => e === name).length;
    expect(['connect', 'acquire', 'release(error)', 'release', 'remove'].map(tally)).toEqual([6, 6, 5, 1, 5]);
  });

  it('gives back a client released with a statement still pending, which completes there', async () => {
    const { pool } = await open(kind, { max: 1 });
    const client = await pool.connect();
    const pid = processIdOf(client);
    const pending = client.query("SELECT 'finished' AS v FROM pg_sleep(0.1)");
    client.release();
    expect((await pending).rows).toEqual([{ v: 'finished' }]);
    expect(counts(pool)).toEqual({ total: 1, idle: 1, waiting: 0 });
    const next = await pool.connect();
    expect(processIdOf(next)).toBe(pid);
    next.release();
  });

  it('throws pg-pool\'s error on every further release of one checkout, in promise and callback form', async () => {
    const { pool } = await open(kind, { max: 1 });
    const client = await pool.connect();
    client.release();
    const message = 'Release called on client which has already been released to the pool.';
    expect(() => client.release()).toThrow(message);
    expect(() => client.release()).toThrow(message);
    const done = await new Promise<(release?: unknown) => void>((resolve, reject) =>
      pool.connect((error, _client, release) => (error ? reject(error) : resolve(release))),
    );
    done();
    expect(() => done()).toThrow(message);
    expect(counts(pool)).toEqual({ total: 1, idle: 1, waiting: 0 });
  });

  it("puts the caller's frames in the stack of a pool.query() error", async () => {
    const { pool } = await open(kind);
    async function theCallersOwnFunction(): Promise<unknown> {
      return await pool.query('SELECT 1/0').catch((e: unknown) => e);
    }
    const error = (await theCallersOwnFunction()) as Error;
    expect((error as pg.DatabaseError).code).toBe('22012');
    expect(error.stack).toContain('theCallersOwnFunction');
    expect(error.stack).toContain('division by zero');
  });

  it('serializes the pool and a checked-out client without the password', async () => {
    const password = 'never-in-json-7c1d';
    const role = await createPasswordRole(database.name, password);
    const url = new URL(role.url);
    // A password given as its own field, which pg-pool keeps out of its options' enumerable keys. No idle
    // timeout: its timer is a circular structure that JSON.stringify refuses, for pg's pool as for the others.
    const { pool } = kind === 'db.pool' ? await open(kind, { idleTimeoutMillis: 0 }, role.url) : await openWithFields(kind, url);
    const client = await pool.connect();
    expect(JSON.stringify(client)).not.toContain(password);
    expect(JSON.stringify(pool)).not.toContain(password);
    client.release();
    expect(JSON.stringify(pool)).not.toContain(password);
    expect(JSON.stringify(pool.options)).not.toContain(password);
  });

  it('closes a connection after maxUses checkouts', async () => {
    const { pool } = await open(kind, { max: 1, maxUses: 2 });
    const pids: number[] = [];
    for (let i = 0; i < 3; i++) pids.push((await pool.query<{ pid: number }>('SELECT pg_backend_pid() AS pid')).rows[0]!.pid);
    expect(pids[1]).toBe(pids[0]);
    expect(pids[2]).not.toBe(pids[0]);
  });

  it('closes an idle connection after maxLifetimeSeconds', async () => {
    const { pool } = await open(kind, { max: 1, maxLifetimeSeconds: 1 });
    const removed = once(pool, 'remove');
    await pool.query('SELECT 1');
    expect(counts(pool)).toEqual({ total: 1, idle: 1, waiting: 0 });
    await removed;
    expect(counts(pool)).toEqual({ total: 0, idle: 0, waiting: 0 });
  });

  it('closes an idle connection after idleTimeoutMillis', async () => {
    const { pool } = await open(kind, { max: 2, idleTimeoutMillis: 100 });
    const started = performance.now();
    await pool.query('SELECT 1');
    await once(pool, 'remove');
    expect(performance.now() - started).toBeLessThan(2000);
    expect(counts(pool)).toEqual({ total: 0, idle: 0, waiting: 0 });
  });

  it('lets the process exit while its connections are idle with allowExitOnIdle', async () => {
    const fixture = fileURLToPath(new URL('./fixtures/exit-on-idle.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', fixture, kind, database.url], { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk: Buffer) => (output += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (output += chunk.toString()));
    // The output is shown when the child does not exit; its stderr may carry the manager's warnings.
    const exited = once(child, 'exit').then(([code]) => code as number | null);
    // The pool's idle timeout is a minute: only allowExitOnIdle lets the process end sooner.
    const outcome = await Promise.race([exited, sleep(20_000).then(() => 'still running' as const)]);
    if (outcome === 'still running') child.kill();
    expect({ outcome, output }).toMatchObject({ outcome: 0, output: expect.stringContaining('queried') });
  }, 30_000);

  it('runs onConnect and verify on each new connection, and logs through log', async () => {
    const hooks: string[] = [];
    const logged: unknown[] = [];
    const { pool } = await open(kind, {
      max: 1,
      onConnect: async (client) => {
        hooks.push('onConnect');
        await client.query("SET application_name = 'set-by-onConnect'");
      },
      verify: (_client, done) => {
        hooks.push('verify');
        done();
      },
      log: (...messages) => void logged.push(messages[0]),
    });
    expect((await pool.query('SHOW application_name')).rows).toEqual([{ application_name: 'set-by-onConnect' }]);
    await pool.query('SELECT 1');
    expect(hooks).toEqual(['onConnect', 'verify']);
    expect(logged).toContain('new client connected');
  });

  it('fails an acquisition whose onConnect rejects, with that error, and opens no connection for it', async () => {
    const failure = new Error('onConnect refused this connection');
    const { pool } = await open(kind, { max: 1, onConnect: () => Promise.reject(failure) });
    expect(await pool.query('SELECT 1').catch((e: unknown) => e)).toBe(failure);
    expect(counts(pool)).toEqual({ total: 0, idle: 0, waiting: 0 });
  });
});

describe.each(KINDS)('%s: end()', (kind) => {
  it('completes every caller whose connection is being opened, and resolves after them', async () => {
    const { pool } = await open(kind, { max: 20 });
    const faults = await processFaultsDuring('unhandledRejection', async () => {
      let completed = 0;
      for (let i = 1; i <= 20; i++) void pool.query('SELECT $1::text AS name', [`n${i}`]).then(() => completed++);
      await pool.end();
      expect(completed).toBe(20);
      expect(pool.ending).toBe(true);
      expect(pool.ended).toBe(true);
    });
    expect(faults).toEqual([]);
  });

  it('lets a query made just before it finish', async () => {
    const { pool } = await open(kind);
    const query = pool.query('SELECT $1::text AS name', ['brianc']);
    await pool.end();
    expect((await query).rows).toEqual([{ name: 'brianc' }]);
  });

  it('rejects a second end() with pg-pool\'s error, promise and callback alike, and every later call', async () => {
    const { pool } = await open(kind);
    await pool.end();
    await expect(pool.end()).rejects.toThrow('Called end on pool more than once');
    const viaCallback = await new Promise((resolve) => (pool.end as (cb: (e?: Error) => void) => void)(resolve));
    expect(String(viaCallback)).toContain('Called end on pool more than once');
    await expect(pool.connect()).rejects.toBeInstanceOf(Error);
    await expect(pool.query('SELECT 1')).rejects.toBeInstanceOf(Error);
  });

  it('turns a throw inside its callback into an uncaught exception, not a rejection', async () => {
    const { pool } = await open(kind);
    // pg-pool calls back once the last connection is closed: from that connection's 'end' when one was still
    // checked out (with all of them idle it calls back inside end() itself, and the throw is end()'s).
    const client = await pool.connect();
    const thrown = new Error('thrown by the end() callback');
    const rejections: unknown[] = [];
    const uncaught = await processFaultsDuring('uncaughtException', async () => {
      rejections.push(
        ...(await processFaultsDuring('unhandledRejection', async () => {
          pool.end(() => {
            throw thrown;
          });
          client.release();
          while (!pool.ended) await sleep(10);
        })),
      );
    });
    expect(uncaught).toEqual([thrown]);
    expect(rejections).toEqual([]);
  });
});

describe.each(KINDS)('%s: the first connection', (kind) => {
  it("gives up after the pool's own connectionTimeoutMillis against a server that never answers", async () => {
    const server = await silentServer();
    const started = performance.now();
    try {
      const outcome =
        isPlain(kind)
          ? await open(kind, { connectionTimeoutMillis: 150 }, server.url).then(({ pool }) => pool.connect())
          : // create() waits for its first connection (warm-up on): the pool's own timeout bounds it, not CONNECTION_TIMEOUT_SECONDS.
            await open(kind, { connectionTimeoutMillis: 150 }, server.url, { warmUp: true });
      expect.unreachable(`connected: ${String(outcome)}`);
    } catch (error) {
      expect(error).toBeInstanceOf(Error);
      expect(String((error as Error).message) + String((error as Error).cause)).toMatch(/timeout/i);
      // Not CONNECTION_TIMEOUT_SECONDS (30 s): the pool's own 150 ms.
      expect(performance.now() - started).toBeLessThan(2000);
    } finally {
      server.close();
    }
  });
});

/** pg.Pool and the adopted pool, given the password as a field. */
async function openWithFields(kind: Kind, url: URL): Promise<Subject> {
  const Pool = poolClass(kind);
  const pool = new Pool({
    host: url.hostname,
    port: Number(url.port),
    user: decodeURIComponent(url.username),
    password: decodeURIComponent(url.password),
    database: url.pathname.slice(1),
    idleTimeoutMillis: 0,
  });
  const db = kind === 'adopted' ? await PostgresManager.create({ ...MANAGED, logger: capturingLogger(), pool }) : undefined;
  const subject = { pool, db };
  opened.push(subject);
  return subject;
}

// The rows of the README table "Where db.pool differs from pg.Pool": each states pg's answer and the manager's.
describe.each(KINDS)('%s: where the manager differs on purpose', (kind) => {
  const managed = !isPlain(kind);

  it('end() serves callers queued behind an idle or a busy connection (pg-pool leaves them waiting forever)', async () => {
    const { pool } = await open(kind, { max: 1 });
    const faults = await processFaultsDuring('unhandledRejection', async () => {
      await pool.query('SELECT 1');
      // Queued behind the idle connection: pg-pool serves it on its next tick, which end() comes before.
      const behindIdle = pool.query('SELECT 1 AS n');
      const ending = pool.end();
      expect(pool.ending).toBe(true);
      expect(await answeredWithin(behindIdle, 500)).toBe(managed ? 'answered' : 'unanswered');
      if (managed) expect((await behindIdle).rows).toEqual([{ n: 1 }]);
      await ending;
    });
    expect(faults).toEqual([]);
  });

  it('end() serves a caller queued behind a full pool once the connection is given back', async () => {
    const { pool } = await open(kind, { max: 1 });
    const held = await pool.connect();
    const queued = pool.query('SELECT 2 AS n');
    await sleep(20);
    const ending = pool.end();
    held.release();
    expect(await answeredWithin(queued, 1000)).toBe(managed ? 'answered' : 'unanswered');
    if (managed) expect((await queued).rows).toEqual([{ n: 2 }]);
    await ending;
  });

  it('gives a timed-out acquisition and a call after end() typed errors (pg-pool: plain Errors)', async () => {
    const { pool } = await open(kind, { max: 1, connectionTimeoutMillis: 100 });
    const held = await pool.connect();
    const timedOut = await pool.connect().catch((e: unknown) => e);
    expect(timedOut).toBeInstanceOf(Error);
    if (managed) expect(timedOut).toBeInstanceOf(ConnectionTimeoutError);
    else expect((timedOut as Error).message).toBe('timeout exceeded when trying to connect');
    held.release();
    await pool.end();
    const afterEnd = await pool.connect().catch((e: unknown) => e);
    if (managed) expect(afterEnd).toBeInstanceOf(ManagerClosedError);
    else expect((afterEnd as Error).message).toBe('Cannot use a pool after calling end on the pool');
  });

  it('closes a client given back inside a transaction (pg-pool hands it, transaction open, to the next borrower)', async () => {
    const { pool } = await open(kind, { max: 1 });
    const client = await pool.connect();
    const pid = processIdOf(client);
    await client.query('BEGIN');
    client.release();
    const next = await pool.connect();
    expect(processIdOf(next) === pid).toBe(!managed);
    expect(next.getTransactionStatus?.() ?? 'unknown').toBe(managed ? 'I' : 'T');
    if (!managed) await next.query('ROLLBACK');
    next.release();
  });

  it('closes a client given back after its statement hit query_timeout (pg-pool hands it on, the statement still running)', async () => {
    const { pool } = await open(kind, { max: 1, query_timeout: 100 });
    const client = await pool.connect();
    const pid = processIdOf(client);
    await expect(client.query('SELECT pg_sleep(0.5)')).rejects.toThrow('Query read timeout');
    client.release();
    const next = await pool.connect();
    try {
      expect(processIdOf(next) === pid).toBe(!managed);
      // On pg's pool the next borrower's statement queues behind the one that outlived its deadline, and times out too.
      const outcome = await next.query('SELECT 1').then(
        () => 'ran',
        (e: Error) => e.message,
      );
      expect(outcome).toBe(managed ? 'ran' : 'Query read timeout');
    } finally {
      next.release();
    }
  });

  it('retries a connection that could not be opened before pool.query() fails with pg\'s error (pg-pool tries once)', async () => {
    const server = await silentServer('hang up');
    try {
      const { pool } = await open(kind, {}, server.url, { retry: { maxRetries: 2, baseDelayMs: 1, maxDelayMs: 5 } });
      const error = await pool.query('SELECT 1').catch((e: unknown) => e);
      expect(error).toBeInstanceOf(Error);
      expect(error).not.toBeInstanceOf(ConnectionTimeoutError);
      expect(server.accepted()).toBe(managed ? 3 : 1);
      // connect() is the caller's to retry, as with pg.
      const before = server.accepted();
      expect(await pool.connect().catch((e: unknown) => e)).toBeInstanceOf(Error);
      expect(server.accepted() - before).toBe(1);
    } finally {
      server.close();
    }
  });
});

describe('create() and pg-pool options', () => {
  it('refuses pg-pool options with a pool it does not build, and pg names it spells its own way', async () => {
    const pool = new pg.Pool({ connectionString: database.url });
    try {
      const refused = await PostgresManager.create({ ...MANAGED, pool, maxUses: 5 }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(ConfigError);
      expect((refused as ConfigError).field).toBe('maxUses');
      expect((refused as ConfigError).problem).toContain('set it on that pg.Pool');
      const renamed = await PostgresManager.create({ ...MANAGED, databaseUrl: database.url, ...({ max: 5 } as object) }).catch((e: unknown) => e);
      expect((renamed as ConfigError).problem).toBe("is pg's name; give maxConnections instead");
      const unknown = await PostgresManager.create({ ...MANAGED, databaseUrl: database.url, ...({ binary: true } as object) }).catch((e: unknown) => e);
      expect((unknown as ConfigError).problem).toContain('pass it as pool');
      const bad = await PostgresManager.create({ ...MANAGED, databaseUrl: database.url, maxUses: 0 }).catch((e: unknown) => e);
      expect((bad as ConfigError).field).toBe('maxUses');
      // The refused pool is the app's again, unchanged.
      expect((await pool.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
    } finally {
      await pool.end();
    }
  });
});
