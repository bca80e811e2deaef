// A checked-out connection: released exactly once, destroyed when broken, swept for leaks.
import { inspect } from 'node:util';
import type pg from 'pg';
import { LeaseReleasedError } from '../errors.js';
import { isConnectionBroken } from '../sqlstate.js';
import type { Slotted } from './live-set.js';
import type { LeasedStatement } from '../tracker.js';
import { isListening, leasedStatement, reportStatementsTo, STATEMENT_LOST, type StatementReporting, type StatementSink } from './statement-reporting.js';

/** Marks a client whose connection reported an 'error' event; it must never be reused. */
export const BROKEN = Symbol('otel-pg-manager.broken');

export interface BrokenMarked {
  [BROKEN]?: boolean;
}

/** What a lease needs from its pool: where to report its end and its statements. */
export interface LeaseOwner extends StatementSink {
  readonly name: string;
  /** `closedAtShutdown`: the pool closed it at its shutdown deadline; the borrower never gave it back. */
  leaseEnded(lease: Lease, closedAtShutdown: boolean): void;
}

/**
 * pg's (pinned) client state read here: `readyForQuery` is false from sending a statement until the
 * server's ReadyForQuery; `_activeQuery` is cleared on the statement's error or at ReadyForQuery;
 * `_queryable` turns false on a connection error, `_ending` on end().
 */
type PgClientState = pg.PoolClient &
  BrokenMarked &
  Partial<StatementReporting> & { readyForQuery?: boolean; _activeQuery?: unknown; _queryQueue?: unknown[]; _queryable?: boolean; _ending?: boolean };

/** How long a connection whose statement failed may wait for the ReadyForQuery that follows before it is closed. */
const READY_AFTER_ERROR_WAIT_MS = 1000;

function leftInTransaction(client: PgClientState): boolean {
  const txStatus = client.getTransactionStatus?.();
  return txStatus === 'T' || txStatus === 'E';
}

function nothingPending(client: PgClientState): boolean {
  return client._activeQuery == null && (client._queryQueue?.length ?? 0) === 0;
}

/**
 * Fit for the next borrower: open, no statement of it lost to a client deadline, and not inside a
 * transaction (its state would leak into the next borrower). A statement still pending (one not awaited)
 * does not count against it: pg-pool hands such a client on too, and the statement finishes there, the
 * next borrower's queued behind it.
 */
function reusable(client: PgClientState): boolean {
  return (
    client[BROKEN] !== true &&
    client[STATEMENT_LOST] !== true &&
    client._queryable !== false &&
    client._ending !== true &&
    !leftInTransaction(client)
  );
}

/** The server answered the last statement with an error; the ReadyForQuery after it is not read yet. */
function awaitingReadyAfterError(client: PgClientState): boolean {
  return client.readyForQuery === false && client._queryable !== false && client._ending !== true && nothingPending(client);
}

/**
 * Waits for the ReadyForQuery after a statement's error (the transaction status it carries decides),
 * at most READY_AFTER_ERROR_WAIT_MS. A statement sent meanwhile (by someone who kept the client)
 * makes the connection unfit. Returns a function that stops waiting and closes the connection.
 */
function whenReady(client: PgClientState, settled: (destroy: boolean) => void): () => void {
  const settle = (destroy: boolean): void => {
    clearTimeout(timer);
    client.connection.removeListener('readyForQuery', onReady);
    client.removeListener('end', onEnd);
    settled(destroy);
  };
  // pg's own listener was added when the client connected, so it has updated the state before this one runs.
  const onReady = (): void => settle(!reusable(client) || !nothingPending(client));
  const onEnd = (): void => settle(true);
  const timer = setTimeout(onEnd, READY_AFTER_ERROR_WAIT_MS);
  // The socket keeps the process alive while it is open; this timer alone should not.
  timer.unref();
  client.connection.once('readyForQuery', onReady);
  client.once('end', onEnd);
  return onEnd;
}

/** pg-pool's words for a second release of one checkout. */
const DOUBLE_RELEASE = 'Release called on client which has already been released to the pool.';

let nextLeaseId = 1;

export class Lease implements AsyncDisposable, Slotted {
  readonly id = nextLeaseId++;
  liveSlot = -1;
  /** performance.now() at acquisition. */
  readonly acquiredAt: number;
  /** Set when leak detection is on: holds the borrower's stack, formatted only if a leak is reported. */
  readonly borrower: { stack?: string } | undefined;
  leakReported = false;
  private released = false;
  private closedAtShutdown = false;
  /** Set while a released connection waits for its ReadyForQuery. */
  private stopWaiting: (() => void) | undefined;

  constructor(
    private readonly owner: LeaseOwner,
    private readonly pgClient: pg.PoolClient,
    private readonly done: (destroy?: boolean | Error) => void,
    acquiredAt: number,
    borrower: { stack?: string } | undefined,
    private readonly reportsStatements: boolean,
  ) {
    this.acquiredAt = acquiredAt;
    this.borrower = borrower;
    if (reportsStatements) reportStatementsTo(pgClient, owner);
    // pg users habitually call client.release(): route it through the lease, so the pool's
    // bookkeeping cannot miss it. pg-pool's release(err) hands the error to its 'release' listeners:
    // so does this. A second call throws pg-pool's own error: a silent one would hide the bug that, once
    // the connection is lent again, releases the next borrower's lease under it. One closed by the
    // shutdown deadline was not released by its borrower, whose own release is then accepted quietly.
    pgClient.release = (destroy?: boolean | Error) => {
      if (this.released && !this.closedAtShutdown) throw new Error(DOUBLE_RELEASE);
      if (destroy) this.closeConnection(false, destroy);
      else this.release();
    };
  }

  /** The pg client. Reading it after release throws, so a released connection is not used by mistake. */
  get client(): pg.PoolClient {
    if (this.released) throw new LeaseReleasedError(this.owner.name);
    return this.pgClient;
  }

  /** What the connection is doing, for a leak report (every end of a lease clears the text it kept). */
  get statement(): LeasedStatement | undefined {
    return leasedStatement(this.pgClient);
  }

  get isReleased(): boolean {
    return this.released;
  }

  /** Held to wait for notifications (it ran LISTEN): leak detection leaves it alone. */
  get isListening(): boolean {
    return this.reportsStatements && isListening(this.pgClient);
  }

  /**
   * Gives the connection back. Idempotent (the pg client's own release() is not: see the constructor).
   * The connection is destroyed instead of reused when it broke, when `error` says the connection is
   * gone, when it is still inside a transaction (its state would leak into the next borrower), or when
   * it is given back with an `error` and a statement still pending.
   * Right after a statement's error the server's ReadyForQuery may still be on its way (the two can
   * arrive in separate reads); only it tells whether the error left a transaction aborted, so the
   * connection goes back when it arrives, and the lease ends then.
   */
  release(error?: unknown): void {
    if (this.released) return;
    this.released = true;
    const client = this.pgClient as PgClientState;
    if (this.reportsStatements) reportStatementsTo(client, undefined);
    if (client[BROKEN] === true || (error !== undefined && isConnectionBroken(error))) this.end(true, false);
    else if (awaitingReadyAfterError(client)) this.stopWaiting = whenReady(client, (destroy) => this.end(destroy, false));
    // Given back because of an error while a statement is still pending: that statement may be the one that
    // failed without an answer to come (pg 8.21 leaves a statement whose parameter failed to serialize
    // active), so the next borrower is not queued behind it.
    else this.end(!reusable(client) || (error !== undefined && !nothingPending(client)), false);
  }

  /**
   * Gives the connection back to be closed, with `reason` for pg-pool's 'release' listeners: what
   * pg-pool's own query() does with a connection whose statement failed.
   */
  discard(reason: Error): void {
    this.closeConnection(false, reason);
  }

  /** Closes the connection whatever its state: for shutdown past its deadline. */
  destroy(): void {
    // Given back, waiting for its ReadyForQuery: not a leak, just closed.
    if (this.stopWaiting) return this.stopWaiting();
    this.closeConnection(true);
  }

  private closeConnection(atShutdown: boolean, reason: true | Error = true): void {
    if (this.released) return;
    this.released = true;
    this.closedAtShutdown = atShutdown;
    if (this.reportsStatements) reportStatementsTo(this.pgClient, undefined);
    this.end(reason, atShutdown);
  }

  private end(destroy: boolean | Error, atShutdown: boolean): void {
    this.stopWaiting = undefined;
    try {
      this.done(destroy || undefined);
    } finally {
      this.owner.leaseEnded(this, atShutdown);
    }
  }

  [inspect.custom](): string {
    return `Lease { id: ${this.id}, pool: ${JSON.stringify(this.owner.name)}, released: ${this.released} }`;
  }

  [Symbol.asyncDispose](): Promise<void> {
    this.release();
    return Promise.resolve();
  }
}
