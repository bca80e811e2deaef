// The routes behind a managed pg.Pool's face: connect() lends a lease, query() is a run that keeps
// pg's errors, end() closes the manager.
import { ManagerClosedError } from '../errors.js';
import type { AcquireRequest, ManagedPool } from '../pool/managed-pool.js';
import { rejectWithCallerStack, type PoolFaceRoutes } from '../pool/pool-face.js';
import type { Acquisition } from './acquisition.js';
import { QueryRun, type QueryRunOptions } from './query-run.js';

export function faceRoutes(calls: Acquisition, pool: ManagedPool, end: PoolFaceRoutes['end']): PoolFaceRoutes {
  const readOnly = pool.role === 'replica';
  // A statement from a library is only re-sent when it never reached the server, and its errors stay pg's.
  const options: QueryRunOptions = Object.freeze({ timeoutMs: pool.ownTimeoutMs, readOnly, idempotent: false, pgErrors: true });
  // The promise form's errors get the caller's frames, as pg-pool's do (a callback's come as pg gave them).
  const promisedOptions: QueryRunOptions = Object.freeze({ ...options, callerStack: true });
  return {
    connect: (from, done) => {
      if (calls.isClosing()) return done(new ManagerClosedError(), undefined);
      const request: AcquireRequest = { acquired: (error, lease) => done(error, lease?.client) };
      calls.lend(readOnly, pool.ownTimeoutMs, calls.borrower(from), request);
    },
    query: (statement, values, resolve, reject, promised) => {
      if (calls.isClosing()) return promised ? rejectWithCallerStack(resolve, new ManagerClosedError()) : reject(new ManagerClosedError());
      new QueryRun(calls, statement, values, promised ? promisedOptions : options, resolve, reject).start();
    },
    end,
  };
}
