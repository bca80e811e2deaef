// One pg.Pool with its name and role: timed acquisition in pg-pool's own queue, error listeners for
// every client's whole life, late arrivals released, leases swept for leaks.
import pg from 'pg';
import { MAX_TIMER_MS } from '../config.js';
import type { DatabaseTarget } from '../database-url.js';
import { ConnectionTimeoutError, ManagerClosedError } from '../errors.js';
import type { Logger, PoolCountsSnapshot, PoolRole, TrackedPool, TrackerFanout } from '../tracker.js';
import { BROKEN, Lease, type BrokenMarked, type LeaseOwner } from './lease.js';
import { LiveSet, type Slotted } from './live-set.js';
import { finishedQueryEvent, installStatementReporting, isStatementReporting, type StatementSink } from './statement-reporting.js';
import { installPoolFace, type PoolFaceRoutes } from './pool-face.js';
import { unclaimPool } from './pool-source.js';
import {
  CONNECT_TIMEOUT_MESSAGE,
  hasQueue,
  isPoolTimeout,
  QUEUE_TIMEOUT_MESSAGE,
  serveWaitingThroughEnd,
  timedClass,
  type PoolInternals,
  type TimedClient,
} from './pg-pool-internals.js';

export interface ManagedPoolOptions {
  name: string;
  role: PoolRole;
  /** The pg.Pool managed: built by the manager, or an app's own, adopted as it is. */
  pool: pg.Pool;
  /** The server it reaches, for telemetry attributes. */
  target: DatabaseTarget;
  /** The manager API's default acquisition timeout (CONNECTION_TIMEOUT_SECONDS). */
  connectionTimeoutMs: number;
  leakDetectionThresholdMs: number;
  trackers: TrackerFanout;
  logger: Logger;
}

/** Someone waiting for a connection: told exactly once, with the lease or the reason there is none. */
export interface AcquireRequest {
  acquired(error: Error | undefined, lease: Lease | undefined): void;
}

/** How a lease is lent to a caller outside the manager. */
interface LendOptions {
  /** The borrower's stack, for leak reports. */
  borrower: { stack?: string } | undefined;
  /** Statements run on the client are reported to the trackers (query() reports its own). */
  reportsStatements: boolean;
}

interface Waiter extends Slotted {
  readonly request: AcquireRequest;
}

const OBSERVED_POOL = Symbol.for('otel-pg-manager.observed-pool');

type ConnectCallback = (error: Error | undefined, client: pg.PoolClient | undefined, done: (release?: unknown) => void) => void;

/**
 * node-postgres crashes the process on an 'error' event nobody listens to, and pg-pool only
 * listens while the client is idle: this listener stays for the client's whole life.
 */
function instrumentClient(client: pg.Client & BrokenMarked): void {
  if (isStatementReporting(client)) return;
  client.on('error', () => {
    client[BROKEN] = true;
  });
  installStatementReporting(client);
}

export class ManagedPool implements TrackedPool, LeaseOwner, StatementSink {
  readonly name: string;
  readonly role: PoolRole;
  readonly server: TrackedPool['server'];
  readonly defaultTimeoutMs: number;
  /**
   * What the pool's own `connectionTimeoutMillis` says, for calls made through the pg.Pool
   * interface (a library's, or an adopted pool's own callers). pg's 0, "wait forever", is the
   * longest timer Node can hold (24.8 days).
   */
  readonly ownTimeoutMs: number;
  /** The pg.Pool itself, with its pg.Pool face installed by the manager. */
  readonly pool: pg.Pool;
  private readonly options: pg.PoolConfig;
  // pg-pool's own methods, kept before the face replaced them on the instance.
  private readonly poolConnect: (callback: ConnectCallback) => void;
  private readonly poolEnd: () => Promise<void>;
  private readonly ownConnectionTimeout: number | undefined;
  private readonly trackers: TrackerFanout;
  private readonly logger: Logger;
  private readonly active = new LiveSet<Lease>();
  private readonly waiters = new LiveSet<Waiter>();
  private readonly leakThresholdMs: number;
  private lastConnectFailure: { error: Error; at: number } | undefined;
  private sweepTimer: NodeJS.Timeout | undefined;
  private ending: Promise<void> | undefined;
  /** Undoes what adoption did to an app's pool, for a create() that failed. */
  private readonly adoption: (() => void)[] = [];

  constructor(options: ManagedPoolOptions) {
    const { target, pool } = options;
    this.name = options.name;
    this.role = options.role;
    this.server = { address: target.host, port: target.port, database: target.database };
    this.defaultTimeoutMs = options.connectionTimeoutMs;
    this.trackers = options.trackers;
    this.logger = options.logger;
    this.leakThresholdMs = options.leakDetectionThresholdMs;
    this.pool = pool;
    this.options = pool.options as pg.PoolConfig;
    this.ownConnectionTimeout = this.options.connectionTimeoutMillis;
    this.ownTimeoutMs = this.ownConnectionTimeout && this.ownConnectionTimeout > 0 ? Math.min(this.ownConnectionTimeout, MAX_TIMER_MS) : MAX_TIMER_MS;
    this.poolConnect = pool.connect as unknown as (callback: ConnectCallback) => void;
    this.poolEnd = pool.end as () => Promise<void>;
    // A pool the zero-code instrumentation observes (src/instrumentation) is this manager's from now on: it stops
    // observing, so nothing is counted twice. Found by a registered symbol: the core imports nothing of that room.
    (pool as unknown as Record<symbol, { detach?: () => void } | undefined>)[OBSERVED_POOL]?.detach?.();
    const internals = pool as PoolInternals;
    const ownClient = internals.Client;
    internals.Client = timedClass(ownClient);
    // Connections an adopted pool opened before it was adopted; one still connecting is skipped again at its 'connect'.
    for (const client of internals._clients) instrumentClient(client);
    const onConnect = (client: pg.PoolClient): void => this.onConnect(client as unknown as TimedClient & BrokenMarked);
    // pg-pool has already removed the idle client that failed; this only keeps the process alive.
    const onError = (error: Error): void => {
      this.logger.warn(`otel-pg-manager: pool "${this.name}" dropped an idle connection: ${error.message}`);
    };
    pool.on('connect', onConnect);
    pool.on('error', onError);
    this.adoption.push(() => {
      internals.Client = ownClient;
      pool.removeListener('connect', onConnect);
      pool.removeListener('error', onError);
    });
    if (this.leakThresholdMs > 0) {
      const every = Math.min(5000, Math.max(10, Math.floor(this.leakThresholdMs / 2)));
      this.sweepTimer = setInterval(() => this.sweepLeaks(), every);
      this.sweepTimer.unref();
    }
  }

  /** Puts the pg.Pool face on the instance (the manager's routes behind it). */
  installFace(routes: PoolFaceRoutes): void {
    this.adoption.push(installPoolFace(this.pool, routes));
  }

  /**
   * For a create() that failed with an app's own pool: the pool is left as the app built it (its
   * Client class, listeners and methods), still open, and this manager lets go of it.
   */
  handBack(): void {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    for (const undo of this.adoption.splice(0).reverse()) undo();
    unclaimPool(this.pool);
    this.ending = Promise.resolve();
  }

  /**
   * How long create()'s first connection may take: the pool's own connectionTimeoutMillis when it sets
   * one (an adopted pool's, or the manager's for a pool it built), else CONNECTION_TIMEOUT_SECONDS
   * (pg's 0 would let create() wait forever).
   */
  get warmUpTimeoutMs(): number {
    return this.ownConnectionTimeout && this.ownConnectionTimeout > 0 ? this.ownTimeoutMs : this.defaultTimeoutMs;
  }

  /** Read from the pool's options at every collection, as pg-pool itself does. */
  get max(): number {
    return this.options.max ?? 10;
  }

  get min(): number {
    return this.options.min ?? 0;
  }

  private onConnect(client: TimedClient & BrokenMarked): void {
    instrumentClient(client);
    client.opened = true;
    this.lastConnectFailure = undefined;
    // A connect an adopted pool began before it was adopted was not timed.
    if (typeof client.constructedAt === 'number') this.trackers.connectionCreated(this, (performance.now() - client.constructedAt) / 1000);
  }

  /** pg-pool's totalCount includes connections still being opened; they are counted apart. */
  counts(): PoolCountsSnapshot {
    let opening = 0;
    // pg-pool keeps every client it created, connected or not, in `_clients`.
    for (const client of (this.pool as PoolInternals)._clients) if (client.opened === false) opening++;
    return { total: this.pool.totalCount - opening, idle: this.pool.idleCount, waiting: this.pool.waitingCount, opening };
  }

  /**
   * Promise form of acquireFor(), for leases handed to callers (getConnection, withConnection,
   * transaction): the statements they run on the client are reported to the trackers.
   */
  acquire(requestedTimeoutMs: number | undefined, borrower?: { stack?: string }): Promise<Lease> {
    return new Promise<Lease>((resolve, reject) => {
      const request: AcquireRequest = { acquired: (error, lease) => (error ? reject(error) : resolve(lease!)) };
      this.acquireFor(request, requestedTimeoutMs, undefined, { borrower, reportsStatements: true });
    });
  }

  /**
   * Waits in pg-pool's own queue for at most `timeoutMs`, then tells `request`. pg-pool arms its
   * timer from `connectionTimeoutMillis` at the moment connect() is called, so setting it per call
   * gives per-call timeouts without a second timer of our own. `start` is when the caller began
   * waiting (the query path passes its own start, saving a clock read).
   */
  acquireFor(request: AcquireRequest, requestedTimeoutMs: number | undefined, start = performance.now(), lent?: LendOptions): void {
    if (this.ending) return request.acquired(new ManagerClosedError(), undefined);
    const timeoutMs = requestedTimeoutMs ?? this.defaultTimeoutMs;
    // pg-pool reads 0 as "wait forever", and the value stays set for the connects it starts for others.
    if (!(timeoutMs >= 1 && timeoutMs <= MAX_TIMER_MS)) {
      return request.acquired(new TypeError(`timeoutMs must be a number of milliseconds from 1 to ${MAX_TIMER_MS}`), undefined);
    }
    const waiter: Waiter = { request, liveSlot: -1 };
    this.waiters.add(waiter);
    // pg-pool arms a timer for every checkout that has a timeout, even one it will serve from an idle
    // client on the next tick: under AsyncLocalStorage that timer (an async resource) and its
    // clearTimeout were the costliest part of an acquisition. With more idle clients than callers queued
    // ahead, that tick serves this caller for certain (only end() could intervene, and close() answers
    // waiters itself), so the checkout goes without a timer. pg-pool reads the option synchronously
    // inside connect(); the pool's own value is put back at once, so the connects it starts later for
    // others, and the app's view of its options, keep it.
    const servedFromIdle = this.pool.idleCount > this.pool.waitingCount;
    this.options.connectionTimeoutMillis = servedFromIdle ? 0 : timeoutMs;
    try {
      this.poolConnect.call(this.pool, (error, client, done) => {
        // Not waiting any more means close() already rejected the caller: the connection goes straight back.
        if (!this.waiters.delete(waiter)) {
          if (client) done();
          return;
        }
        const now = performance.now();
        const waitSeconds = (now - start) / 1000;
        if (error || !client) {
          request.acquired(this.acquireError(error ?? new Error('pg-pool returned no client'), start, timeoutMs, waitSeconds), undefined);
          return;
        }
        const lease = new Lease(this, client, done, now, lent?.borrower, lent?.reportsStatements === true);
        this.active.add(lease);
        this.trackers.acquired(this, waitSeconds);
        request.acquired(undefined, lease);
      });
    } catch (error) {
      // pg-pool threw before queueing the caller (an app's Client or stream factory failed): nothing will call back.
      if (this.waiters.delete(waiter)) request.acquired(error instanceof Error ? error : new Error(String(error)), undefined);
    } finally {
      this.options.connectionTimeoutMillis = this.ownConnectionTimeout;
    }
  }

  private acquireError(error: Error, start: number, timeoutMs: number, waitSeconds: number): Error {
    if (isPoolTimeout(error)) {
      this.trackers.acquireTimedOut(this, waitSeconds);
      const recentFailure =
        this.lastConnectFailure && this.lastConnectFailure.at >= start - timeoutMs ? this.lastConnectFailure.error : undefined;
      const cause = error.message === CONNECT_TIMEOUT_MESSAGE ? error : recentFailure;
      // pg-pool has already dequeued a caller whose queue wait timed out; it was waiting a moment ago, so count it.
      const counts = this.counts();
      const dequeued = error.message === QUEUE_TIMEOUT_MESSAGE ? 1 : 0;
      return new ConnectionTimeoutError(this.name, timeoutMs, { ...counts, waiting: counts.waiting + dequeued }, this.max, cause);
    }
    this.lastConnectFailure = { error, at: performance.now() };
    this.trackers.acquireFailed(this, waitSeconds, error);
    return error;
  }

  leaseEnded(lease: Lease, closedAtShutdown: boolean): void {
    this.active.delete(lease);
    // Nobody to tell (monitoring off): no clock read.
    if (this.trackers.size === 0) return;
    const heldSeconds = (performance.now() - lease.acquiredAt) / 1000;
    this.trackers.released(this, heldSeconds);
    // A lease closed at the shutdown deadline was never given back: its leak is not resolved.
    if (lease.leakReported && !closedAtShutdown) {
      this.trackers.leakResolved({ pool: this, leaseId: lease.id, heldSeconds, stack: lease.borrower?.stack });
    }
  }

  statementContext(): unknown {
    return this.trackers.size > 0 ? this.trackers.captureContext() : undefined;
  }

  statementFinished(sql: string, startTime: number, context: unknown, error: unknown, rowCount: number | null): void {
    this.reportQuery(sql, startTime, startTime, context, error, rowCount, 1, true);
  }

  /**
   * One finished query()/read() call or leased statement, told to the trackers. `executionStart`:
   * when the last attempt had its connection (undefined when none was had).
   */
  reportQuery(
    sql: string,
    startTime: number,
    executionStart: number | undefined,
    context: unknown,
    error: unknown,
    rowCount: number | null,
    attempts: number,
    fromLease: boolean,
    stated?: { readonly operationName?: string; readonly collectionName?: string },
  ): void {
    if (this.trackers.size === 0) return;
    this.trackers.queryFinished(finishedQueryEvent(this, sql, startTime, executionStart, context, error, rowCount, attempts, fromLease, stated));
  }

  /** Reports each lease held past the threshold once. */
  private sweepLeaks(): void {
    const now = performance.now();
    for (const lease of this.active.snapshot()) {
      // A released lease still here is waiting for its ReadyForQuery: given back, not leaked.
      if (!lease.isReleased && !lease.isListening && now - lease.acquiredAt >= this.leakThresholdMs) this.reportLeak(lease, now);
    }
  }

  private reportLeak(lease: Lease, now: number): void {
    if (lease.leakReported) return;
    lease.leakReported = true;
    this.trackers.leakDetected({
      pool: this,
      leaseId: lease.id,
      heldSeconds: (now - lease.acquiredAt) / 1000,
      stack: lease.borrower?.stack,
      statement: lease.statement,
    });
  }

  get leakDetectionEnabled(): boolean {
    return this.leakThresholdMs > 0;
  }

  /**
   * Stops new work, lets in-flight leases finish until the deadline, then destroys what is still held.
   * Callers still waiting for a connection are refused (db.close()), or with `serveWaiting` served
   * (the pg.Pool face's end(): pg-pool's own end() completes a caller whose connection is being opened,
   * and leaves one queued behind an idle or busy connection waiting forever). Whoever is still waiting
   * at the deadline, or when the pool has ended, is refused: nothing hangs.
   * Resolves with the number of leases that had to be destroyed.
   */
  async close(timeoutMs: number, serveWaiting = false): Promise<number> {
    if (this.sweepTimer) clearInterval(this.sweepTimer);
    const refuseWaiting = (): void => {
      for (const waiter of this.waiters.drain()) waiter.request.acquired(new ManagerClosedError(), undefined);
    };
    let stopServing: (() => void) | undefined;
    if (this.ending === undefined) {
      if (serveWaiting && hasQueue(this.pool)) stopServing = serveWaitingThroughEnd(this.pool);
      else refuseWaiting();
      this.ending = this.poolEnd.call(this.pool);
    }
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), timeoutMs);
    });
    const outcome = await Promise.race([this.ending.then(() => 'ended' as const), deadline]);
    clearTimeout(timer);
    stopServing?.();
    refuseWaiting();
    if (outcome === 'ended') return 0;
    // Whatever is still held now was leaked: report it (once) and close it. A released lease still
    // here was given back and is waiting for its ReadyForQuery: closed, not counted.
    const now = performance.now();
    let stuck = 0;
    for (const lease of this.active.snapshot()) {
      if (!lease.isReleased) {
        stuck++;
        this.reportLeak(lease, now);
      }
      lease.destroy();
    }
    // pg-pool's end() also waits for connections still being opened, up to their connect timeout;
    // the deadline is spent, so it finishes in the background.
    this.ending.catch(() => undefined);
    return stuck;
  }
}
