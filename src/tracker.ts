// The PoolTracker seam: everything that happens to a pool is reported here, and only here.
// Trackers never see pg objects; the manager never sees a telemetry library.

export type PoolRole = 'primary' | 'replica';

export interface PoolCountsSnapshot {
  /** Open connections (idle + used). */
  total: number;
  idle: number;
  /** Callers waiting for a connection right now. */
  waiting: number;
  /** Connections being opened (not in `total`): during an outage they can fill the pool without one being used. */
  opening: number;
}

/** What a tracker may know about a pool: its identity, its limits, and its live counts. */
export interface TrackedPool {
  readonly name: string;
  readonly role: PoolRole;
  readonly max: number;
  readonly min: number;
  readonly server: { readonly address: string; readonly port: number; readonly database: string };
  /** Read at collection time; cheap, allocation-free apart from the returned object. */
  counts(): PoolCountsSnapshot;
}

export interface QueryEvent {
  readonly pool: TrackedPool;
  /** The SQL text as given; trackers must normalize it before showing it anywhere. */
  readonly sql: string;
  /** performance.now() when the logical call began (before the first acquisition). */
  readonly startTime: number;
  /** Seconds for the whole logical call, retries and backoff included. */
  readonly durationSeconds: number;
  /**
   * Seconds of the last attempt from the moment it had its connection: the statement's own time,
   * without waiting for a connection or retrying. Undefined when no statement was sent (no
   * connection could be had). Slowness is judged on this: a saturated pool is not a slow query.
   */
  readonly executionSeconds: number | undefined;
  readonly error: unknown;
  /** SQLSTATE of the error, when the server gave one. */
  readonly sqlstate: string | undefined;
  readonly rowCount: number | null;
  /** Attempts made (1 = no retry). */
  readonly attempts: number;
  /** Whatever the trackers' captureContext() returned when the call began (the OpenTelemetry context). */
  readonly context: unknown;
  /**
   * False for a query()/read() call (its duration includes waiting for a connection and retries);
   * true for one statement the caller ran on a leased client (getConnection, withConnection, transaction).
   */
  readonly fromLease: boolean;
  /** db.operation.name as the caller stated it (QueryOptions.operationName); never parsed from the text. */
  readonly operationName?: string | undefined;
  /** db.collection.name as the caller stated it (QueryOptions.collectionName). */
  readonly collectionName?: string | undefined;
}

export interface RetryEvent {
  readonly pool: TrackedPool;
  /** The attempt that failed (1-based). */
  readonly attempt: number;
  readonly error: unknown;
  readonly sqlstate: string | undefined;
  readonly delayMs: number;
}

/** What a leased connection is doing: the statement it is running, or the last one its borrower sent on it. */
export interface LeasedStatement {
  /** As sent (literals included): a tracker shows it as it shows a QueryEvent's text, normalized. */
  readonly sql: string;
  readonly running: boolean;
}

export interface LeakEvent {
  readonly pool: TrackedPool;
  /** Stable per lease, so a resolution can be matched with its detection. */
  readonly leaseId: number;
  /** Seconds the lease has been (or was, on resolution) held. */
  readonly heldSeconds: number;
  /** The borrower's stack captured at acquire, when leak detection captured one. */
  readonly stack: string | undefined;
  /** At detection: the connection's statement; undefined when none was sent under this lease. */
  readonly statement?: LeasedStatement;
}

/**
 * One reading of a pooler's admin console (PgBouncer's SHOW POOLS, SHOW STATS and SHOW DATABASES) for the
 * (database, user) pair the primary connects as: the queue that sits outside every client pool.
 */
export interface PoolerSample {
  readonly pooler: 'pgbouncer';
  /** The pooler's address, as the console URL names it (host:port). */
  readonly address: string;
  readonly database: string;
  readonly user: string;
  /** The name of the manager's pool that connects through this pooler pool (the primary's). */
  readonly clientPool: string;
  /** session / transaction / statement, as the pooler reports it for this pool. */
  readonly poolMode: string;
  /** Server connections the pooler may open for this pool (SHOW DATABASES pool_size); undefined when it does not say. */
  readonly poolSize: number | undefined;
  /** cl_active, cl_waiting: clients linked to a server connection (or idle), clients that sent a query and wait for one. */
  readonly clients: { readonly active: number; readonly waiting: number };
  /** sv_active, sv_idle, sv_used, sv_tested, sv_login. */
  readonly servers: { readonly active: number; readonly idle: number; readonly used: number; readonly tested: number; readonly login: number };
  /** How long the oldest waiting client has waited, in seconds (maxwait + maxwait_us). */
  readonly maxWaitSeconds: number;
  /** Since the pooler started, for the database (SHOW STATS totals); wait time in seconds. */
  readonly totals: { readonly transactions: number; readonly queries: number; readonly waitSeconds: number };
  /** Date.now() of the reading, and the interval readings are taken at (ms). */
  readonly sampledAt: number;
  readonly intervalMs: number;
}

/** Every method is optional; a tracker implements what it needs. Times are in seconds. */
export interface PoolTracker {
  poolAdded?(pool: TrackedPool): void;
  /**
   * The pool reports nothing more here: it ended, or another owner took it over (the zero-code instrumentation, on
   * pool.end() or when a PostgresManager adopts the pool). Its gauges read zero from now on.
   */
  poolRemoved?(pool: TrackedPool): void;
  /**
   * Returns an opaque value handed back in QueryEvent.context (used for span parenting). One value
   * per call: the first attached tracker that implements this captures it for all, which with
   * monitoring on is the built-in OpenTelemetry tracker (attached before any of yours).
   */
  captureContext?(): unknown;
  acquired?(pool: TrackedPool, waitSeconds: number): void;
  acquireTimedOut?(pool: TrackedPool, waitSeconds: number): void;
  /** Acquisition failed for another reason than the timeout (the server refused or was unreachable). */
  acquireFailed?(pool: TrackedPool, waitSeconds: number, error: unknown): void;
  released?(pool: TrackedPool, useSeconds: number): void;
  connectionCreated?(pool: TrackedPool, seconds: number): void;
  queryFinished?(event: QueryEvent): void;
  retried?(event: RetryEvent): void;
  leakDetected?(event: LeakEvent): void;
  leakResolved?(event: LeakEvent): void;
  /** A new reading of the pooler's admin console (only with the `pgbouncer` option), every `intervalMs`. */
  poolerSampled?(sample: PoolerSample): void;
  /** Stops timers; after it the tracker receives nothing. */
  close?(): void | Promise<void>;
}

export interface Logger {
  warn(message: string): void;
  info?(message: string): void;
}

type EventName = Exclude<keyof PoolTracker, 'close' | 'captureContext'>;

/**
 * Fans every event out to the registered trackers. A tracker that throws, or whose method returns
 * a promise that rejects (an async tracker; unhandled, the rejection would end the process), is
 * disabled with one warning and never breaks the call that reported the event.
 */
export class TrackerFanout {
  private trackers: PoolTracker[] = [];

  constructor(private readonly logger: Logger) {}

  get size(): number {
    return this.trackers.length;
  }

  add(tracker: PoolTracker, pools: readonly TrackedPool[]): void {
    this.trackers = [...this.trackers, tracker];
    for (const pool of pools) this.call(tracker, 'poolAdded', pool);
  }

  private disable(tracker: PoolTracker, method: string, error: unknown, how = 'threw'): void {
    if (!this.trackers.includes(tracker)) return;
    this.trackers = this.trackers.filter((t) => t !== tracker);
    const name = tracker.constructor?.name && tracker.constructor !== Object ? tracker.constructor.name : 'a tracker';
    const reason = error instanceof Error ? error.message : String(error);
    this.logger.warn(`otel-pg-manager: ${name} ${how} in ${method} and was disabled; queries continue without it (${reason})`);
  }

  /** What a tracker method returned: a promise gets a rejection handler, anything else is ignored. */
  private settle(tracker: PoolTracker, method: string, result: unknown): void {
    if (result instanceof Promise) result.catch((error: unknown) => this.disable(tracker, method, error, 'rejected'));
  }

  private call<K extends EventName>(tracker: PoolTracker, method: K, ...args: Parameters<NonNullable<PoolTracker[K]>>): void {
    const fn = tracker[method] as ((...a: typeof args) => unknown) | undefined;
    if (!fn) return;
    try {
      this.settle(tracker, method, fn.apply(tracker, args));
    } catch (error) {
      this.disable(tracker, method, error);
    }
  }

  private emit<K extends EventName>(method: K, ...args: Parameters<NonNullable<PoolTracker[K]>>): void {
    const trackers = this.trackers;
    for (let i = 0; i < trackers.length; i++) this.call(trackers[i]!, method, ...args);
  }

  captureContext(): unknown {
    const trackers = this.trackers;
    for (let i = 0; i < trackers.length; i++) {
      const tracker = trackers[i]!;
      if (!tracker.captureContext) continue;
      try {
        return tracker.captureContext();
      } catch (error) {
        this.disable(tracker, 'captureContext', error);
      }
    }
    return undefined;
  }

  poolAdded(pool: TrackedPool): void {
    this.emit('poolAdded', pool);
  }
  poolRemoved(pool: TrackedPool): void {
    this.emit('poolRemoved', pool);
  }
  // The three per-query events loop by hand: no rest-argument arrays on the hot path.
  acquired(pool: TrackedPool, waitSeconds: number): void {
    const trackers = this.trackers;
    for (let i = 0; i < trackers.length; i++) {
      const tracker = trackers[i]!;
      try {
        this.settle(tracker, 'acquired', tracker.acquired?.(pool, waitSeconds));
      } catch (error) {
        this.disable(tracker, 'acquired', error);
      }
    }
  }
  released(pool: TrackedPool, useSeconds: number): void {
    const trackers = this.trackers;
    for (let i = 0; i < trackers.length; i++) {
      const tracker = trackers[i]!;
      try {
        this.settle(tracker, 'released', tracker.released?.(pool, useSeconds));
      } catch (error) {
        this.disable(tracker, 'released', error);
      }
    }
  }
  queryFinished(event: QueryEvent): void {
    const trackers = this.trackers;
    for (let i = 0; i < trackers.length; i++) {
      const tracker = trackers[i]!;
      try {
        this.settle(tracker, 'queryFinished', tracker.queryFinished?.(event));
      } catch (error) {
        this.disable(tracker, 'queryFinished', error);
      }
    }
  }
  acquireTimedOut(pool: TrackedPool, waitSeconds: number): void {
    this.emit('acquireTimedOut', pool, waitSeconds);
  }
  acquireFailed(pool: TrackedPool, waitSeconds: number, error: unknown): void {
    this.emit('acquireFailed', pool, waitSeconds, error);
  }
  connectionCreated(pool: TrackedPool, seconds: number): void {
    this.emit('connectionCreated', pool, seconds);
  }
  retried(event: RetryEvent): void {
    this.emit('retried', event);
  }
  leakDetected(event: LeakEvent): void {
    this.emit('leakDetected', event);
  }
  leakResolved(event: LeakEvent): void {
    this.emit('leakResolved', event);
  }
  poolerSampled(sample: PoolerSample): void {
    this.emit('poolerSampled', sample);
  }

  /** Closes every tracker; a tracker that hangs in close() is not waited for past `timeoutMs`. */
  async close(timeoutMs: number): Promise<void> {
    const trackers = this.trackers;
    this.trackers = [];
    await Promise.all(
      trackers.map(async (tracker) => {
        if (!tracker.close) return;
        let timer: NodeJS.Timeout | undefined;
        const giveUp = new Promise<void>((resolve) => {
          timer = setTimeout(resolve, timeoutMs);
          timer.unref();
        });
        try {
          await Promise.race([Promise.resolve().then(() => tracker.close?.()), giveUp]);
        } catch (error) {
          this.logger.warn(`otel-pg-manager: a tracker failed to close (${error instanceof Error ? error.message : String(error)})`);
        } finally {
          clearTimeout(timer);
        }
      }),
    );
  }
}
