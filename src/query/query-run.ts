// One logical `query()` call: acquire, run, release, report, and retry by the rules of retry.ts.
// Written with callbacks instead of awaits because it is the per-query hot path: the promises and
// microtask hops of an async version cost about a microsecond per query against raw pg.Pool
// (BENCHMARKS.md), which uses callbacks inside for the same reason.
import type pg from 'pg';
import type { RetryOptions } from '../config.js';
import { ConnectionLostError, ManagerClosedError, PgManagerError, RetryExhaustedError } from '../errors.js';
import type { Lease } from '../pool/lease.js';
import type { AcquireRequest, ManagedPool } from '../pool/managed-pool.js';
import { rejectWithCallerStack } from '../pool/pool-face.js';
import type { TrackerFanout } from '../tracker.js';
import { backoffDelay } from '../backoff.js';
import { classifyError, isConnectionBroken, sqlstateOf, type FailurePhase } from '../sqlstate.js';

export interface QueryRunOptions {
  timeoutMs?: number;
  readOnly?: boolean;
  /** May the statement be sent again after its connection was lost mid-statement? Defaults to `readOnly`. */
  idempotent?: boolean;
  /**
   * For callers written against pg (db.pool): only failures before the statement was sent are
   * retried, and the last error reaches the caller as pg gave it, so a library's own error mapping
   * and retries (Prisma's P2034 on 40001, a NOWAIT that must fail at once) see pg's codes.
   */
  pgErrors?: boolean;
  /** `resolve` settles a promise the caller awaits: a final error reaches it with the caller's frames (pg-pool's promise forms). */
  callerStack?: boolean;
  /** db.operation.name / db.collection.name as the caller states them, for the trackers. */
  operationName?: string;
  collectionName?: string;
}

/** The text a statement is reported under: a query config's `text`, or nothing to show. */
function textOf(statement: string | pg.QueryConfig): string {
  if (typeof statement === 'string') return statement;
  const text = (statement as { text?: unknown } | null)?.text;
  return typeof text === 'string' ? text : '';
}

/** What a run needs from the manager: where to send each attempt, and whether it is shutting down. */
export interface QueryRouting {
  readonly trackers: TrackerFanout;
  readonly retry: Required<RetryOptions>;
  isClosing(): boolean;
  /** The pool for the next attempt: the replica for reads while it is up, else the primary. */
  poolFor(readOnly: boolean): ManagedPool;
  /** True when `pool` is the replica and could not give a connection; the next attempt goes to the primary. */
  replicaFailed(pool: ManagedPool, error: unknown): boolean;
}

/**
 * pg reports a dead connection or its own query deadline as a bare Error or a Node socket error,
 * with no SQLSTATE; callers get a typed error instead. Server errors pass through unchanged.
 */
export function typedLoss(error: unknown, pool: ManagedPool, outcome: ConnectionLostError['outcome']): unknown {
  if (error instanceof PgManagerError || sqlstateOf(error) !== undefined) return error;
  return isConnectionBroken(error) ? new ConnectionLostError(pool.name, outcome, error) : error;
}

export class QueryRun<R extends pg.QueryResultRow> implements AcquireRequest {
  private attempt = 1;
  private pool: ManagedPool;
  private lease: Lease | undefined;
  /** True from sending the statement until its first answer. */
  private awaitingResult = false;
  private readonly startTime = performance.now();
  private readonly context: unknown;
  private readonly sql: string;

  /** `statement`: text, or a pg query config (rowMode, types, name), handed to pg as it is. */
  constructor(
    private readonly routing: QueryRouting,
    private readonly statement: string | pg.QueryConfig,
    private readonly params: unknown[] | undefined,
    private readonly options: QueryRunOptions,
    private readonly resolve: (result: pg.QueryResult<R>) => void,
    private readonly reject: (error: unknown) => void,
  ) {
    this.sql = textOf(statement);
    this.context = routing.trackers.size > 0 ? routing.trackers.captureContext() : undefined;
    this.pool = routing.poolFor(options.readOnly === true);
  }

  /** Starts the first attempt; the outcome goes to `resolve` or `reject`. */
  start(): void {
    this.pool.acquireFor(this, this.options.timeoutMs, this.startTime);
  }

  private nextAttempt(): void {
    this.attempt++;
    this.lease = undefined;
    this.pool = this.routing.poolFor(this.options.readOnly === true);
    this.pool.acquireFor(this, this.options.timeoutMs);
  }

  acquired(error: Error | undefined, lease: Lease | undefined): void {
    if (error || !lease) return this.failSafely(error, 'acquire');
    this.lease = lease;
    this.awaitingResult = true;
    try {
      lease.client.query<R>(this.statement as string, this.params as unknown[], this.executed);
    } catch (thrown) {
      this.awaitingResult = false;
      this.failSafely(thrown, 'execute');
    }
  }

  private readonly executed = (error: Error | null | undefined, result: pg.QueryResult<R>): void => {
    // pg can answer one statement twice (a parameter that fails to serialize, then the ReadyForQuery
    // after it): the first answer is the one.
    if (!this.awaitingResult) return;
    this.awaitingResult = false;
    if (error) {
      // pg calls back on the ErrorResponse, before it reads the ReadyForQuery after it; when the
      // two came in one packet, a microtask later the connection's state is settled for release().
      queueMicrotask(() => this.failSafely(error, 'execute'));
      return;
    }
    // This runs inside pg's socket handler, where a throw would be uncaught: the caller hears it instead.
    try {
      this.lease!.release();
      this.report(undefined, result.rowCount);
      this.resolve(result);
    } catch (thrown) {
      this.reject(thrown);
    }
  };

  /** failed(), with whatever it throws (a logger, say) going to the caller, not into pg's or a timer's callback. */
  private failSafely(error: unknown, phase: FailurePhase): void {
    try {
      this.failed(error, phase);
    } catch (thrown) {
      this.reject(thrown);
    }
  }

  private failed(error: unknown, phase: FailurePhase): void {
    // A library's statement (pgErrors) costs its connection on any error, as in pg-pool's own query():
    // its counts, and its 'release' event carrying the error, are what code written against pg expects.
    if (this.options.pgErrors && this.lease) this.lease.discard(error instanceof Error ? error : new Error(String(error)));
    else this.lease?.release(error);
    const { routing, pool, attempt } = this;
    // A replica that cannot serve is not waited for: the next attempt goes to the primary.
    if (phase === 'acquire' && routing.replicaFailed(pool, error)) return this.nextAttempt();
    const decision = classifyError(error, phase);
    const { pgErrors } = this.options;
    const retryable = pgErrors
      ? decision === 'retry' && (phase === 'acquire' || sqlstateOf(error) === undefined)
      : decision === 'retry' || (decision === 'retry-if-idempotent' && (this.options.idempotent ?? this.options.readOnly === true));
    if (!retryable || attempt > routing.retry.maxRetries || routing.isClosing()) {
      this.report(error, null);
      if (retryable && routing.isClosing()) return this.reject(new ManagerClosedError(error));
      if (pgErrors) return this.options.callerStack ? rejectWithCallerStack(this.resolve as (value: never) => void, error) : this.reject(error);
      return this.reject(retryable && attempt > 1 ? new RetryExhaustedError(attempt, error) : typedLoss(error, pool, 'unknown'));
    }
    const delayMs = backoffDelay(attempt - 1, routing.retry);
    routing.trackers.retried({ pool, attempt, error, sqlstate: sqlstateOf(error), delayMs });
    setTimeout(() => {
      try {
        this.nextAttempt();
      } catch (thrown) {
        this.reject(thrown);
      }
    }, delayMs);
  }

  private report(error: unknown, rowCount: number | null): void {
    this.pool.reportQuery(this.sql, this.startTime, this.lease?.acquiredAt, this.context, error, rowCount, this.attempt, false, this.options);
  }
}
