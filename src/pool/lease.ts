// A checked-out connection: released exactly once, destroyed when broken, swept for leaks.
import { inspect } from 'node:util';
import type pg from 'pg';
import { LeaseReleasedError } from '../errors.js';
import { isConnectionBroken } from '../query/retry.js';
import type { Slotted } from './live-set.js';
import { reportStatementsTo, type StatementSink } from './statement-reporting.js';

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
    // bookkeeping cannot miss it and a second release cannot reach pg-pool (which throws).
    pgClient.release = (destroy?: boolean | Error) => (destroy ? this.closeConnection(false) : this.release());
  }

  /** The pg client. Reading it after release throws, so a released connection is not used by mistake. */
  get client(): pg.PoolClient {
    if (this.released) throw new LeaseReleasedError(this.owner.name);
    return this.pgClient;
  }

  get isReleased(): boolean {
    return this.released;
  }

  /**
   * Gives the connection back. Idempotent. The connection is destroyed instead of reused when it
   * broke, when `error` says the connection is gone, when it is still inside a transaction
   * (its state would leak into the next borrower), or when a statement is still awaiting its
   * answer (after a client deadline, or one not awaited): the next borrower would queue behind it.
   * pg (pinned) says so with `readyForQuery === false`, which also covers the moment between an
   * error and the ReadyForQuery that follows it when the two arrive in separate reads: there the
   * transaction status is still the one from before the error, and an aborted transaction must not
   * reach the next borrower.
   */
  release(error?: unknown): void {
    if (this.released) return;
    this.released = true;
    const client = this.pgClient as pg.PoolClient & BrokenMarked & { readyForQuery?: boolean };
    const txStatus = client.getTransactionStatus?.();
    const destroy =
      client[BROKEN] === true ||
      (error !== undefined && isConnectionBroken(error)) ||
      txStatus === 'T' ||
      txStatus === 'E' ||
      client.readyForQuery === false;
    if (this.reportsStatements) reportStatementsTo(client, undefined);
    try {
      this.done(destroy || undefined);
    } finally {
      this.owner.leaseEnded(this, false);
    }
  }

  /** Closes the connection whatever its state: for shutdown past its deadline. */
  destroy(): void {
    this.closeConnection(true);
  }

  private closeConnection(atShutdown: boolean): void {
    if (this.released) return;
    this.released = true;
    if (this.reportsStatements) reportStatementsTo(this.pgClient, undefined);
    try {
      this.done(true);
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
