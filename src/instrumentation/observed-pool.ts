// One pg.Pool the instrumentation observes: pg-pool's own acquisition timed (never imposed), its checkouts
// tracked for use time and leaks, the statements run on its clients reported. Nothing of pg's behaviour changes.
import type pg from 'pg';
import { Borrower } from '../pool/borrower.js';
import { installStatementReporting, isListening, leasedStatement, leasedStatementEvent, reportStatementsTo, uninstallStatementReporting, type StatementSink } from '../pool/statement-reporting.js';
import { isPoolTimeout } from '../pool/pg-pool-internals.js';
import type { PoolCountsSnapshot, TrackedPool, TrackerFanout } from '../tracker.js';

/** pg-pool internals read here (3.x): every client it made, and whether end() has been called. */
type PoolInternals = pg.Pool & { _clients: (pg.Client & { _connected?: boolean })[]; ending?: boolean };

interface Checkout {
  readonly id: number;
  readonly acquiredAt: number;
  readonly borrower: Borrower | undefined;
  leakReported: boolean;
}

type ConnectCallback = (error: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => unknown;
type Connect = (this: pg.Pool, callback?: ConnectCallback) => unknown;
type End = (this: pg.Pool, callback?: (...args: unknown[]) => unknown) => unknown;

let nextCheckoutId = 1;

export interface ObservedPoolOptions {
  name: string;
  server: TrackedPool['server'];
  leakDetectionThresholdMs: number;
  trackers: TrackerFanout;
}

export class ObservedPool implements TrackedPool, StatementSink {
  readonly name: string;
  /** The monitor and the OTel tracker key pools by role; an observed pool is its own primary. */
  readonly role = 'primary' as const;
  readonly server: TrackedPool['server'];
  /** Swapped by the instrumentation when its providers change. */
  trackers: TrackerFanout;
  private readonly checkouts = new Map<pg.Client, Checkout>();
  /** When each client still connecting began (newClient), for connection create time. */
  private readonly opening = new WeakMap<pg.Client, number>();
  private readonly leakThresholdMs: number;
  private sweepTimer: NodeJS.Timeout | undefined;
  /** The caller's context while pg-pool runs a connect callback: pool.query() sends its statement from there. */
  private callbackContext: unknown = undefined;
  detached = false;
  /** Set by the observing Pool's query() for the connect() pg-pool makes inside it: that checkout ends with the statement. */
  lendingToQuery = false;

  constructor(
    readonly pool: pg.Pool,
    options: ObservedPoolOptions,
  ) {
    this.name = options.name;
    this.server = options.server;
    this.trackers = options.trackers;
    this.leakThresholdMs = options.leakDetectionThresholdMs;
    if (this.leakThresholdMs > 0) {
      this.sweepTimer = setInterval(() => this.sweepLeaks(), Math.min(5000, Math.max(10, Math.floor(this.leakThresholdMs / 2))));
      this.sweepTimer.unref();
    }
  }

  get max(): number {
    return (this.pool.options as pg.PoolConfig).max ?? 10;
  }

  get min(): number {
    return (this.pool.options as pg.PoolConfig).min ?? 0;
  }

  /** pg-pool's totalCount includes connections still being opened; they are counted apart, as for a managed pool. */
  counts(): PoolCountsSnapshot {
    let opening = 0;
    for (const client of (this.pool as PoolInternals)._clients) if (client._connected !== true) opening++;
    return { total: this.pool.totalCount - opening, idle: this.pool.idleCount, waiting: this.pool.waitingCount, opening };
  }

  /** pg-pool's connect(), timed; the same return value, callback arguments and promise as pg-pool's own. */
  connect(original: Connect, callback: ConnectCallback | undefined, from: (...args: never[]) => unknown): unknown {
    const start = performance.now();
    // pool.query() gives its connection back itself: no stack is worth its cost there (as for the manager's query()).
    const forQuery = this.lendingToQuery;
    this.lendingToQuery = false;
    const borrower = this.leakThresholdMs > 0 && !forQuery ? new Borrower(from) : undefined;
    if (typeof callback === 'function') {
      const context = this.trackers.captureContext();
      return original.call(this.pool, (error, client, done) => {
        this.settled(error, client, start, borrower);
        if (error || client === undefined) return callback(error, client, done);
        const outer = this.callbackContext;
        this.callbackContext = context;
        try {
          return callback(error, client, done);
        } finally {
          this.callbackContext = outer;
        }
      });
    }
    const promise = original.call(this.pool) as Promise<pg.PoolClient>;
    // Registered before the caller's own handlers, so the checkout is known when the caller gets the client.
    promise.then(
      (client) => this.settled(undefined, client, start, borrower),
      (error: Error) => this.settled(error, undefined, start, borrower),
    );
    return promise;
  }

  /** pg-pool's end(), the same return value and callback; `ended` runs once the pool has ended, before the caller hears of it. */
  end(original: End, callback: unknown, ended: () => void): unknown {
    // A second end() gets pg-pool's own error, and the first one still lets the pool go; a callback that is not a
    // function is pg-pool's to fail on.
    if ((this.pool as PoolInternals).ending || (callback && typeof callback !== 'function')) return original.call(this.pool, callback as never);
    if (callback) {
      return original.call(this.pool, (...args: unknown[]) => {
        ended();
        return (callback as (...a: unknown[]) => unknown)(...args);
      });
    }
    const promise = original.call(this.pool) as Promise<void>;
    promise.then(ended, () => undefined);
    return promise;
  }

  private settled(error: Error | undefined, client: pg.PoolClient | undefined, start: number, borrower: Borrower | undefined): void {
    if (this.detached) return;
    const now = performance.now();
    const waitSeconds = (now - start) / 1000;
    if (error || client === undefined) {
      // pg-pool's own two acquisition timeouts are counted as timeouts, never raised by us.
      if (error && isPoolTimeout(error)) this.trackers.acquireTimedOut(this, waitSeconds);
      else this.trackers.acquireFailed(this, waitSeconds, error);
      return;
    }
    const pgClient = client as unknown as pg.Client;
    // The wrapper is on already: poolEvent('connect') installed it before pg-pool handed the client out.
    reportStatementsTo(client, this);
    this.checkouts.set(pgClient, { id: nextCheckoutId++, acquiredAt: now, borrower, leakReported: false });
    this.trackers.acquired(this, waitSeconds);
  }

  /** Called before pg-pool's newClient(): the connect that follows is timed. */
  clientOpening(client: pg.Client | undefined, start: number): void {
    if (client !== undefined && !this.detached) this.opening.set(client, start);
  }

  /** Every event pg-pool emits, seen before its listeners (no listener of ours is added to the pool). */
  poolEvent(event: string | symbol, first: unknown, second: unknown): void {
    if (this.detached) return;
    if (event === 'release') this.released(second as pg.Client);
    else if (event === 'connect') {
      const client = first as pg.Client;
      installStatementReporting(client);
      const openedAt = this.opening.get(client);
      if (openedAt !== undefined) {
        this.opening.delete(client);
        this.trackers.connectionCreated(this, (performance.now() - openedAt) / 1000);
      }
    }
  }

  private released(client: pg.Client): void {
    const checkout = this.checkouts.get(client);
    if (checkout === undefined) return;
    this.checkouts.delete(client);
    reportStatementsTo(client as pg.PoolClient, undefined);
    const heldSeconds = (performance.now() - checkout.acquiredAt) / 1000;
    this.trackers.released(this, heldSeconds);
    if (checkout.leakReported) this.trackers.leakResolved({ pool: this, leaseId: checkout.id, heldSeconds, stack: checkout.borrower?.stack });
  }

  get leakDetectionEnabled(): boolean {
    return this.leakThresholdMs > 0;
  }

  statementContext(): unknown {
    return this.callbackContext ?? this.trackers.captureContext();
  }

  statementFinished(sql: string, startTime: number, context: unknown, error: unknown, rowCount: number | null): void {
    if (this.detached) return;
    this.trackers.queryFinished(leasedStatementEvent(this, sql, startTime, context, error, rowCount));
  }

  private sweepLeaks(): void {
    const now = performance.now();
    for (const [client, checkout] of this.checkouts) {
      // A client that ran LISTEN is held on purpose, to wait for notifications.
      if (checkout.leakReported || isListening(client as pg.PoolClient) || now - checkout.acquiredAt < this.leakThresholdMs) continue;
      checkout.leakReported = true;
      this.trackers.leakDetected({
        pool: this,
        leaseId: checkout.id,
        heldSeconds: (now - checkout.acquiredAt) / 1000,
        stack: checkout.borrower?.stack,
        statement: leasedStatement(client),
      });
    }
  }

  /** Stops observing (disable(), or a PostgresManager took the pool over); the pool and its clients are pg's alone again. */
  detach(): void {
    if (this.detached) return;
    this.detached = true;
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const client of (this.pool as PoolInternals)._clients) uninstallStatementReporting(client);
    this.checkouts.clear();
  }
}
