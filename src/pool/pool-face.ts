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
  /**
   * Runs one statement through the manager's query path (timed, reported, retried only where safe).
   * `promised`: `resolve` settles the promise the face returned, so an error may reach it through
   * rejectWithCallerStack(); else it is a callback's.
   */
  query(
    statement: string | pg.QueryConfig,
    values: unknown[] | undefined,
    resolve: (result: pg.QueryResult) => void,
    reject: (error: unknown) => void,
    promised: boolean,
  ): void;
  /** Closes the manager; an Error (pg-pool's) when the pool was already ended, which the face hands back as pg-pool does. */
  end(): Promise<void> | Error;
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

/** Replaces an error's stack with the frames of the code awaiting it, as pg-pool's promises do. */
function recapture(error: unknown): never {
  if (error instanceof Error) Error.captureStackTrace(error, recapture);
  throw error;
}

/**
 * Settles a face promise with `error`, its stack retaken above the caller's awaits. An error from a
 * socket read carries only pg's frames; pg-pool retakes the stack in a `.catch` on every promise it
 * returns. Here the cost is on the error path only: `resolve` adopts a promise that rejects one
 * microtask later, by which time the adoption links it to the caller's promise, so V8's async stack
 * trace reaches the caller's frames.
 */
export function rejectWithCallerStack(resolve: (value: never) => void, error: unknown): void {
  let rejectLater!: (reason: unknown) => void;
  const failing = new Promise<never>((_, reject) => (rejectLater = reject));
  resolve(failing.catch(recapture) as never);
  queueMicrotask(() => rejectLater(error));
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
    return new Promise((resolve) =>
      routes.connect(connect, (error, client) => (error ? rejectWithCallerStack(resolve, error) : resolve(client!))),
    );
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
      return routes.query(text, params, (result) => later(answer, undefined, result), (error) => later(answer, error), false);
    }
    return new Promise((resolve, reject) => routes.query(text, params, resolve, reject, true));
  }

  function end(callback?: (error?: Error) => void): Promise<void> | undefined {
    const closing = routes.end();
    if (typeof callback !== 'function') return closing instanceof Error ? Promise.reject(closing) : closing;
    // pg-pool answers a second end() at once, and the first from its own event: a throw in the callback is
    // an uncaught exception either way, never a rejection of a promise nobody holds.
    if (closing instanceof Error) {
      callback(closing);
      return undefined;
    }
    closing.then(
      () => process.nextTick(callback),
      (error: Error) => process.nextTick(callback, error),
    );
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
