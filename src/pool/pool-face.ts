// The pg.Pool face: a managed pg.Pool instance's own connect(), query() and end() are replaced on
// that instance (never on pg's prototype), so a library handed the pool (Kysely, Drizzle, Prisma's
// adapter, TypeORM) or an app's own code calling it gets the manager's acquisition, leases, leak
// detection and telemetry. Everything else (events, counts, options, pg's own PoolClient) is pg's.
import type pg from 'pg';

type Done<T> = (error: Error | undefined, value: T | undefined) => void;
type Caller = (...args: never[]) => unknown;

/** Where the face sends its calls: the manager. */
export interface PoolFaceRoutes {
  /** Lends a connection; `from` is the face's connect(), above which the borrower's stack is taken. */
  connect(from: Caller, done: Done<pg.PoolClient>): void;
  /** Runs one statement through the manager's query path (timed, reported, retried only where safe). */
  query(statement: string | pg.QueryConfig, values: unknown[] | undefined, resolve: (result: pg.QueryResult) => void, reject: (error: unknown) => void): void;
  /** Closes the manager. */
  end(): Promise<void>;
}

type PoolConnectCallback = (error: Error | undefined, client: pg.PoolClient | undefined, release: (release?: boolean | Error) => void) => void;
type QueryCallback = (error: Error | undefined, result?: pg.QueryResult) => void;

const NOOP = (): void => {};

function isSubmittable(statement: unknown): boolean {
  return typeof (statement as { submit?: unknown } | null)?.submit === 'function';
}

/** A user's callback runs on a later tick: what it throws is the app's, never the query path's. */
function later(callback: QueryCallback, error: unknown, result?: pg.QueryResult): void {
  process.nextTick(() => (error ? callback(error as Error) : callback(undefined, result)));
}

/** Installs the face; the function returned takes it off again, leaving the instance as it was. */
export function installPoolFace(pool: pg.Pool, routes: PoolFaceRoutes): () => void {
  // pg-pool's query() sends a submittable (a cursor, a stream) without ever calling back, so those
  // keep pg-pool's own path, which takes its connection through the face's connect().
  const poolQuery = pool.query as (...args: unknown[]) => unknown;

  function connect(callback?: PoolConnectCallback): Promise<pg.PoolClient> | undefined {
    if (typeof callback === 'function') {
      routes.connect(connect, (error, client) => (error || !client ? callback(error, undefined, NOOP) : callback(undefined, client, client.release)));
      return undefined;
    }
    return new Promise((resolve, reject) => routes.connect(connect, (error, client) => (error ? reject(error) : resolve(client!))));
  }

  function query(this: pg.Pool, statement: unknown, values?: unknown, callback?: unknown): unknown {
    if (typeof statement === 'function') {
      return later(statement as QueryCallback, new Error('Passing a function as the first parameter to pool.query is not supported'));
    }
    if (typeof values === 'function') {
      callback = values;
      values = undefined;
    }
    if (isSubmittable(statement)) return poolQuery.call(this, statement, values, callback);
    const text = statement as string | pg.QueryConfig;
    const params = values as unknown[] | undefined;
    if (typeof callback === 'function') {
      const answer = callback as QueryCallback;
      return routes.query(text, params, (result) => later(answer, undefined, result), (error) => later(answer, error));
    }
    return new Promise((resolve, reject) => routes.query(text, params, resolve, reject));
  }

  function end(callback?: () => void): Promise<void> | undefined {
    const closing = routes.end();
    if (typeof callback !== 'function') return closing;
    closing.then(() => callback(), callback);
    return undefined;
  }

  const replaced = ['connect', 'query', 'end'] as const;
  const before = replaced.map((name) => Object.getOwnPropertyDescriptor(pool, name));
  Object.defineProperties(pool, {
    connect: { value: connect, configurable: true, writable: true },
    query: { value: query, configurable: true, writable: true },
    end: { value: end, configurable: true, writable: true },
  });
  return () => {
    replaced.forEach((name, i) => {
      const descriptor = before[i];
      if (descriptor) Object.defineProperty(pool, name, descriptor);
      else delete (pool as unknown as Record<string, unknown>)[name];
    });
  };
}
