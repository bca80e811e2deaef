// PostgresManager: the public face. Wires pools, retries and trackers; knows nothing of OpenTelemetry.
import pg from 'pg';
import { inspect } from 'node:util';
import { resolveConfig, type AdoptedTargets, type DatabaseTarget, type ManagerConfig, type ManagerOptions } from './config.js';
import {
  ConfigError,
  ConnectionTimeoutError,
  ManagerClosedError,
  RetryExhaustedError,
  TransactionRolledBackError,
} from './errors.js';
import type { Lease } from './pool/lease.js';
import { Borrower } from './pool/borrower.js';
import { ManagedPool, type AcquireRequest } from './pool/managed-pool.js';
import type { PoolFaceRoutes } from './pool/pool-face.js';
import { buildPool, claimPool, describeAdoptedPool } from './pool/pool-source.js';
import { checkMigrationTimeouts, type MigrationTimeouts } from './migrations/options.js';
import { runMigrations } from './migrations/runner.js';
import { backoffDelay, sleep } from './backoff.js';
import { classifyError, isConnectionBroken, sqlstateOf } from './sqlstate.js';
import { QueryRun, typedLoss, type QueryRouting, type QueryRunOptions } from './query/query-run.js';
import { loadSqlParser } from './sql/fingerprint.js';
import {
  ConnectionMonitor,
  unmonitoredHealth,
  unmonitoredReport,
  type HealthContext,
  type HealthStatus,
  type MonitorReport,
  type MonitorSettings,
  type QueryStatsReport,
} from './telemetry/monitor/monitor.js';
import { createOtelTracker, type TelemetryOptions } from './telemetry/otel/otel-tracker.js';
import { TrackerFanout, type Logger, type PoolTracker } from './tracker.js';

export interface ConnectionOptions {
  /** Acquisition timeout for this call; defaults to CONNECTION_TIMEOUT_SECONDS. */
  timeoutMs?: number;
  /** Route to the replica when one is configured and reachable. */
  readOnly?: boolean;
}

export interface QueryOptions extends ConnectionOptions {
  /**
   * The statement may safely run twice (a read, an upsert, an insert guarded by a unique key).
   * Only then is it re-sent after the connection was lost mid-statement. Defaults to `readOnly`;
   * `false` keeps even a read from being sent twice.
   */
  idempotent?: boolean;
}

export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

export interface TransactionOptions {
  timeoutMs?: number;
  isolationLevel?: IsolationLevel;
}

export interface CloseOptions {
  /** How long in-flight work may take before its connections are destroyed (default 10 s). */
  timeoutMs?: number;
}

export interface PoolState {
  name: string;
  role: 'primary' | 'replica';
  total: number;
  idle: number;
  used: number;
  /** Connections being opened, not yet in `total`. */
  opening: number;
  waiting: number;
  max: number;
  min: number;
}

export interface SchemaStatus {
  state: 'applied' | 'failed' | 'skipped';
  /** Files applied by this start-up (empty when everything was already applied). */
  applied: string[];
  /** Why schema initialization failed (kept for health reporting under schemaInit 'log'). */
  error?: { message: string; file?: string; sqlstate?: string };
}

export interface PoolMetrics extends MonitorReport {
  pools: { primary: PoolState; replica?: PoolState };
  replicaAvailable: boolean | null;
  schema: SchemaStatus;
}

export interface CreateOptions extends ManagerOptions {
  /**
   * An app's own pg.Pool to manage instead of building one from databaseUrl: its own callers'
   * pool.query() and pool.connect() are then timed, counted and leak-checked too. The pool keeps
   * its settings (max, min, timeouts, TLS); the manager closes it on close().
   */
  pool?: pg.Pool;
  /** The same for the read replica, instead of readReplicaUrl. */
  readPool?: pg.Pool;
  /** Where warnings go (console by default). Messages never contain passwords or parameter values. */
  logger?: Logger;
  /** Providers and span options for the OpenTelemetry tracker (attached when monitoring is enabled). */
  telemetry?: TelemetryOptions;
  /** Snapshot interval, tracked-query bound and health thresholds of the in-process monitor. */
  monitor?: MonitorSettings;
  /** Timeouts of the start-up migrations; DB_STATEMENT_TIMEOUT_MS and the pools' settings do not apply to them. */
  migrations?: MigrationTimeouts;
}

// Checked at run time: the level is spliced into BEGIN, and JavaScript callers bypass the type.
const ISOLATION_LEVELS = new Set<IsolationLevel>(['read committed', 'repeatable read', 'serializable']);
/** SQLSTATEs after which a whole transaction callback is run again. */
const TRANSACTION_RETRY_STATES = new Set(['40001', '40P01']);
/** After a replica fails to connect, reads go to the primary for this long before the replica is tried again. */
const REPLICA_COOLDOWN_MS = 5000;

const NO_OPTIONS: QueryOptions = Object.freeze({});

interface AdoptedPools {
  pool: pg.Pool | undefined;
  readPool: pg.Pool | undefined;
}

const consoleLogger: Logger = { warn: (message) => console.warn(message), info: (message) => console.info(message) };

export class PostgresManager {
  readonly config: ManagerConfig;
  private readonly primary: ManagedPool;
  private readonly replica: ManagedPool | undefined;
  private readonly trackers: TrackerFanout;
  private readonly logger: Logger;
  private readonly migrationTimeouts: MigrationTimeouts;
  private monitor: ConnectionMonitor | undefined;
  private replicaDownUntil = 0;
  private schema: SchemaStatus = { state: 'skipped', applied: [] };
  private closing: Promise<void> | undefined;
  private readonly routing: QueryRouting;
  /** Pools the app built and handed over (create({ pool, readPool })). */
  private readonly adopted: ManagedPool[];

  private constructor(config: ManagerConfig, logger: Logger, migrationTimeouts: MigrationTimeouts, adopted: AdoptedPools) {
    this.config = config;
    this.logger = logger;
    this.migrationTimeouts = migrationTimeouts;
    this.trackers = new TrackerFanout(logger);
    const managed = (role: 'primary' | 'replica', target: DatabaseTarget, own: pg.Pool | undefined): ManagedPool => {
      const pool = own ?? buildPool({ ...config, min: config.minConnections, max: config.maxConnections, target });
      return new ManagedPool({
        name: config.poolNames[role],
        role,
        pool,
        target,
        connectionTimeoutMs: config.connectionTimeoutMs,
        leakDetectionThresholdMs: config.leakDetectionThresholdMs,
        trackers: this.trackers,
        logger,
      });
    };
    this.primary = managed('primary', config.primary, adopted.pool);
    this.replica = config.replica ? managed('replica', config.replica, adopted.readPool) : undefined;
    this.routing = {
      trackers: this.trackers,
      retry: config.retry,
      isClosing: () => this.closing !== undefined,
      poolFor: (readOnly) => (readOnly ? this.readTarget() : this.primary),
      replicaFailed: (pool, error) => this.replicaFailed(pool, error),
    };
    for (const pool of this.pools()) pool.installFace(this.faceRoutes(pool));
    this.adopted = this.pools().filter((pool) => pool.pool === adopted.pool || pool.pool === adopted.readPool);
  }

  /** Builds the pools and checks that the primary answers. Throws ConfigError on bad configuration. */
  static async create(options: CreateOptions = {}): Promise<PostgresManager> {
    const { logger, telemetry, monitor, migrations, pool, readPool, ...managerOptions } = options;
    const adopted: AdoptedTargets = {
      primary: pool === undefined ? undefined : describeAdoptedPool(pool, 'pool'),
      replica: readPool === undefined ? undefined : describeAdoptedPool(readPool, 'readPool'),
    };
    if (pool !== undefined && pool === readPool) throw new ConfigError('readPool', 'must be a different pg.Pool from pool');
    const config = resolveConfig(managerOptions, adopted);
    const migrationTimeouts = checkMigrationTimeouts(migrations ?? {}, (name) => `migrations.${name}`);
    if (pool) claimPool(pool, 'pool');
    if (readPool) claimPool(readPool, 'readPool');
    const manager = new PostgresManager(config, logger ?? consoleLogger, migrationTimeouts, { pool, readPool });
    try {
      if (manager.config.monitoringEnabled) {
        // The benchmark's cache-miss workload showed the parser costing twice the scanner per new text,
        // so it is opt-in; loaded once, before the first query.
        if (manager.config.sqlNormalizer === 'libpg-query' && !(await loadSqlParser())) {
          manager.logger.warn('otel-pg-manager: libpg-query could not be loaded; SQL is normalized by the scanner');
        }
        // Throws ConfigError on bad monitor or telemetry settings, after the pools' timers started.
        manager.attachBuiltInTrackers(telemetry, monitor);
      }
      await manager.warmUp(manager.primary);
    } catch (error) {
      await manager.abandon();
      throw error;
    }
    await manager.initializeSchema();
    if (manager.replica) {
      await manager.warmUp(manager.replica).catch((error: unknown) => {
        manager.markReplicaDown(error);
      });
    }
    return manager;
  }

  /**
   * Applies the app's pending migrations when it named a folder: the schema is the app's, so without
   * one nothing is applied. Under 'log' a failure is logged and kept for health reporting while the
   * manager starts; under 'strict' it is thrown.
   */
  private async initializeSchema(): Promise<void> {
    const dir = this.config.migrationsDir;
    if (this.config.schemaInit === 'off' || dir === undefined) return;
    try {
      const result = await runMigrations(this.config.primary, {
        dir,
        applicationName: `${this.config.applicationName}-migrate`,
        logger: this.logger,
        ...this.migrationTimeouts,
      });
      this.schema = { state: 'applied', applied: result.applied };
    } catch (error) {
      if (this.config.schemaInit === 'strict') {
        await this.abandon();
        throw error;
      }
      const { message, file, sqlstate } = error as { message?: string; file?: string; sqlstate?: string };
      this.schema = { state: 'failed', applied: [], error: { message: message ?? String(error), file, sqlstate } };
      this.logger.warn(`otel-pg-manager: schema initialization failed; starting anyway (schemaInit 'log'): ${message ?? String(error)}`);
    }
  }

  /**
   * A create() that failed: the pools it built are closed, and an app's own pools are handed back
   * open and as they were, so the app (or a create() it retries) can go on using them.
   */
  private async abandon(): Promise<void> {
    for (const pool of this.adopted) pool.handBack();
    await this.close({ timeoutMs: 1000 });
  }

  /** How schema initialization went at start-up. */
  get schemaStatus(): SchemaStatus {
    return this.schema;
  }

  /** Opens the minimum number of connections (at least one, which proves the server answers). */
  private async warmUp(pool: ManagedPool): Promise<void> {
    const leases = await Promise.allSettled(
      Array.from({ length: Math.max(1, pool.min) }, () => this.acquireWithRetry(pool, pool.defaultTimeoutMs, undefined)),
    );
    for (const result of leases) if (result.status === 'fulfilled') result.value.release();
    const failure = leases.find((r) => r.status === 'rejected');
    if (failure) throw failure.reason;
  }

  /** The monitor and the OpenTelemetry tracker; with MONITORING_ENABLED=false no tracker is attached at all. */
  private attachBuiltInTrackers(telemetry: TelemetryOptions | undefined, monitor: MonitorSettings | undefined): void {
    const { slowQueryThresholdMs } = this.config;
    this.monitor = new ConnectionMonitor({ ...monitor, slowQueryThresholdMs, logger: this.logger });
    this.addTracker(this.monitor);
    this.addTracker(createOtelTracker({ ...telemetry, slowQueryThresholdMs }));
  }

  /**
   * Adds a tracker; it is told about the existing pools at once. A tracker that throws, or whose
   * method returns a promise that rejects, is disabled with one warning.
   */
  addTracker(tracker: PoolTracker): void {
    this.trackers.add(tracker, this.pools());
  }

  private pools(): ManagedPool[] {
    return this.replica ? [this.primary, this.replica] : [this.primary];
  }

  private assertOpen(): void {
    if (this.closing) throw new ManagerClosedError();
  }

  private readTarget(): ManagedPool {
    return this.replica && performance.now() >= this.replicaDownUntil ? this.replica : this.primary;
  }

  /**
   * True when `pool` is the replica and it could not give a connection (unreachable, refusing, or
   * saturated past the timeout): it is then skipped for a while and the caller served by the primary.
   */
  private replicaFailed(pool: ManagedPool, error: unknown): boolean {
    if (pool !== this.replica) return false;
    if (!(error instanceof ConnectionTimeoutError) && classifyError(error, 'acquire') !== 'retry') return false;
    this.markReplicaDown(error);
    return true;
  }

  private markReplicaDown(error: unknown): void {
    const wasUp = performance.now() >= this.replicaDownUntil;
    this.replicaDownUntil = performance.now() + REPLICA_COOLDOWN_MS;
    if (wasUp) {
      const reason = error instanceof Error ? error.message : String(error);
      this.logger.warn(`otel-pg-manager: replica unavailable (${reason}); reads go to the primary for ${REPLICA_COOLDOWN_MS / 1000} s`);
    }
  }

  private borrower(from: (...args: never[]) => unknown): { stack?: string } | undefined {
    // Only a tracker can report a leak, so without one there is no stack worth capturing.
    if (!this.primary.leakDetectionEnabled || this.trackers.size === 0) return undefined;
    return new Borrower(from);
  }

  /**
   * A connection lease. Release it with `release()` or `await using`; releasing twice is harmless.
   * Throws ConnectionTimeoutError when none is free within the timeout.
   */
  async getConnection(options: ConnectionOptions = {}): Promise<Lease> {
    this.assertOpen();
    const borrower = this.borrower(this.getConnection);
    return new Promise((resolve, reject) => {
      this.lend(options.readOnly === true, options.timeoutMs, borrower, { acquired: (error, lease) => (error ? reject(error) : resolve(lease!)) });
    });
  }

  /**
   * The primary pool as a pg.Pool, for libraries that take one (Kysely's PostgresDialect, Drizzle,
   * Prisma's PrismaPg, Knex's connectionPool) and for code written against pg. Its connect() and
   * query() go through the manager: the acquisition timeout of the pool's own
   * connectionTimeoutMillis (CONNECTION_TIMEOUT_SECONDS unless the app built the pool) with a
   * ConnectionTimeoutError, leases that are tracked and leak-checked, and every statement reported.
   * The client it hands out is pg's own PoolClient. `end()` closes the manager.
   */
  get pool(): pg.Pool {
    return this.primary.pool;
  }

  /** The replica's pg.Pool when one is configured (connect() and query() fall back to the primary as read() does), else the primary's. */
  get readPool(): pg.Pool {
    return (this.replica ?? this.primary).pool;
  }

  /**
   * A stand-in for the `pg` module whose Pool constructor hands back this manager's pool, for
   * libraries that build their own pool from a module (TypeORM's `driver` option). The pool
   * options they pass are ignored: the manager's configuration says where and how to connect.
   */
  pgModule(): typeof pg {
    const pool = this.primary.pool;
    // A constructor that returns an object makes `new` yield that object.
    function ManagedPgPool(): pg.Pool {
      return pool;
    }
    // pg's lazy `native` would hand a library pg-native's own Pool (TypeORM switches to it when pg-native is installed).
    return Object.create(pg, { Pool: { value: ManagedPgPool, enumerable: true }, native: { value: null, enumerable: true } }) as typeof pg;
  }

  private faceRoutes(pool: ManagedPool): PoolFaceRoutes {
    const readOnly = pool.role === 'replica';
    // A statement from a library is only re-sent when it never reached the server, and its errors stay pg's.
    const options: QueryRunOptions = Object.freeze({ timeoutMs: pool.ownTimeoutMs, readOnly, idempotent: false, pgErrors: true });
    return {
      connect: (from, done) => {
        if (this.closing) return done(new ManagerClosedError(), undefined);
        const request: AcquireRequest = { acquired: (error, lease) => done(error, lease?.client) };
        this.lend(readOnly, pool.ownTimeoutMs, this.borrower(from), request);
      },
      query: (statement, values, resolve, reject) => {
        if (this.closing) return reject(new ManagerClosedError());
        new QueryRun(this.routing, statement, values, options, resolve, reject).start();
      },
      end: () => this.close(),
    };
  }

  /** Lends a lease from the primary, or the replica for `readOnly` (the primary when the replica cannot serve). */
  private lend(readOnly: boolean, timeoutMs: number | undefined, borrower: { stack?: string } | undefined, request: AcquireRequest): void {
    const pool = readOnly ? this.readTarget() : this.primary;
    const lent = { borrower, reportsStatements: true };
    pool.acquireFor(
      {
        acquired: (error, lease) => {
          if (error && this.replicaFailed(pool, error)) return this.primary.acquireFor(request, timeoutMs, undefined, lent);
          request.acquired(error, lease);
        },
      },
      timeoutMs,
      undefined,
      lent,
    );
  }

  /** Runs `fn` with a connection and always releases it, destroying it if `fn` broke it. */
  async withConnection<T>(fn: (client: pg.PoolClient) => Promise<T>, options: ConnectionOptions = {}): Promise<T> {
    const lease = await this.getConnection(options);
    try {
      const value = await fn(lease.client);
      lease.release();
      return value;
    } catch (error) {
      lease.release(error);
      throw error;
    }
  }

  /**
   * Runs one statement with retries: failures before the statement reached the server, and
   * statements the server rejected as a whole, are retried with full-jitter backoff. A statement
   * whose connection was lost after sending is retried only when `readOnly` or `idempotent`.
   */
  query<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: readonly unknown[],
    options: QueryOptions = NO_OPTIONS,
  ): Promise<pg.QueryResult<R>> {
    if (this.closing) return Promise.reject(new ManagerClosedError());
    if (typeof sql !== 'string') return Promise.reject(new TypeError('query text must be a string'));
    // pg would only notice after a connection was taken, with an untyped Error.
    if (params !== undefined && !Array.isArray(params)) return Promise.reject(new TypeError('query parameters must be an array'));
    // No borrower stack here (it would cost microseconds per call): the run itself releases its
    // lease, so holding it past the threshold means a long statement, which the slow-query list names.
    return new Promise((resolve, reject) => {
      new QueryRun<R>(this.routing, sql, params as unknown[] | undefined, options, resolve, reject).start();
    });
  }

  /** `query` with `readOnly: true`: on the replica when one is configured and reachable, else the primary. */
  read<R extends pg.QueryResultRow = pg.QueryResultRow>(
    sql: string,
    params?: readonly unknown[],
    options: Omit<QueryOptions, 'readOnly'> = {},
  ): Promise<pg.QueryResult<R>> {
    return this.query<R>(sql, params, { ...options, readOnly: true });
  }

  /**
   * BEGIN, `fn(client)`, COMMIT on one primary connection; ROLLBACK on any error. On a
   * serialization failure or deadlock (40001, 40P01) the whole callback runs again, with backoff,
   * up to `retry.maxRetries` times, so `fn` must be safe to re-run. A COMMIT that the server
   * answers with ROLLBACK throws TransactionRolledBackError.
   */
  async transaction<T>(fn: (client: pg.PoolClient) => Promise<T>, options: TransactionOptions = {}): Promise<T> {
    this.assertOpen();
    if (options.isolationLevel !== undefined && !ISOLATION_LEVELS.has(options.isolationLevel)) {
      throw new TypeError(`isolationLevel must be one of ${[...ISOLATION_LEVELS].join(', ')}`);
    }
    const begin = options.isolationLevel ? `BEGIN ISOLATION LEVEL ${options.isolationLevel.toUpperCase()}` : 'BEGIN';
    const borrower = this.borrower(this.transaction);
    const { maxRetries } = this.config.retry;
    for (let attempt = 1; ; attempt++) {
      const lease = await this.acquireWithRetry(this.primary, options.timeoutMs, borrower);
      const client = lease.client;
      let stage: 'begin' | 'body' | 'commit' = 'begin';
      try {
        await client.query(begin);
        stage = 'body';
        const value = await fn(client);
        stage = 'commit';
        const commit = await client.query('COMMIT');
        if (commit.command === 'ROLLBACK') throw new TransactionRolledBackError();
        lease.release();
        return value;
      } catch (error) {
        const lost = isConnectionBroken(error);
        const status = client.getTransactionStatus();
        // On a dead or unanswering connection a ROLLBACK would only queue behind the lost statement;
        // destroying the connection (release below) makes the server roll back instead.
        if (!lost && (status === 'T' || status === 'E')) await client.query('ROLLBACK').catch(() => undefined);
        lease.release(error);
        const state = sqlstateOf(error);
        // A connection that died before BEGIN was answered ran none of the callback: take another one.
        const retryable = (state !== undefined && TRANSACTION_RETRY_STATES.has(state)) || (stage === 'begin' && lost);
        if (!retryable) throw typedLoss(error, this.primary, stage === 'commit' ? 'unknown' : 'rolled back');
        if (attempt > maxRetries || this.closing) throw new RetryExhaustedError(attempt, error);
        await this.backOff(this.primary, attempt, error);
      }
    }
  }

  /** Acquisition with the same retry rules as `query` (nothing was sent yet, so failures may be retried). */
  private async acquireWithRetry(pool: ManagedPool, timeoutMs: number | undefined, borrower: { stack?: string } | undefined): Promise<Lease> {
    const { maxRetries } = this.config.retry;
    for (let attempt = 1; ; attempt++) {
      try {
        return await pool.acquire(timeoutMs, borrower);
      } catch (error) {
        if (classifyError(error, 'acquire') !== 'retry' || this.closing) throw error;
        if (attempt > maxRetries) throw new RetryExhaustedError(attempt, error);
        await this.backOff(pool, attempt, error);
      }
    }
  }

  /** Tells the trackers about the retry and waits its backoff delay. */
  private backOff(pool: ManagedPool, attempt: number, error: unknown): Promise<void> {
    const delayMs = backoffDelay(attempt - 1, this.config.retry);
    this.trackers.retried({ pool, attempt, error, sqlstate: sqlstateOf(error), delayMs });
    return sleep(delayMs);
  }

  /** What only the manager knows for health: how schema initialization went and whether the replica answers. */
  private healthContext(): HealthContext {
    return {
      schemaError: this.schema.error?.message,
      replicaAvailable: this.replica ? performance.now() >= this.replicaDownUntil : null,
    };
  }

  /** Health graded by the in-process monitor; without monitoring only the schema and the replica are graded. */
  getHealthStatus(): HealthStatus {
    const context = this.healthContext();
    return this.monitor?.getHealthStatus(context) ?? unmonitoredHealth(context);
  }

  /** Fingerprints with slow executions, slowest first, normalized text only (empty without monitoring). */
  getSlowQueries(limit = 10): QueryStatsReport[] {
    return this.monitor?.getSlowQueries(limit) ?? [];
  }

  /** Statistics per query fingerprint, most total time first (empty without monitoring). */
  getQueryStats(limit = 20): QueryStatsReport[] {
    return this.monitor?.getQueryStats(limit) ?? [];
  }

  /** A JSON-serializable snapshot of the pools, health, acquisition statistics, slow queries, leaks and history. */
  getPoolMetrics(): PoolMetrics {
    const state = (pool: ManagedPool): PoolState => {
      const counts = pool.counts();
      return {
        name: pool.name,
        role: pool.role,
        total: counts.total,
        idle: counts.idle,
        used: counts.total - counts.idle,
        opening: counts.opening,
        waiting: counts.waiting,
        max: pool.max,
        min: pool.min,
      };
    };
    const context = this.healthContext();
    const health = this.monitor?.report(context) ?? unmonitoredReport(context);
    return {
      ...health,
      pools: this.replica ? { primary: state(this.primary), replica: state(this.replica) } : { primary: state(this.primary) },
      replicaAvailable: context.replicaAvailable,
      schema: this.schema,
    };
  }

  get isClosed(): boolean {
    return this.closing !== undefined;
  }

  /**
   * Stops new work (ManagerClosedError), rejects queued callers, lets in-flight work finish until
   * the deadline, destroys what is still held, and closes the trackers. Idempotent.
   */
  close(options: CloseOptions = {}): Promise<void> {
    this.closing ??= this.shutdown(options.timeoutMs ?? 10_000);
    return this.closing;
  }

  private async shutdown(timeoutMs: number): Promise<void> {
    const started = performance.now();
    const forced = await Promise.all(this.pools().map((pool) => pool.close(timeoutMs)));
    const destroyed = forced.reduce((a, b) => a + b, 0);
    if (destroyed > 0) {
      this.logger.warn(`otel-pg-manager: closed ${destroyed} connection(s) still leased after ${timeoutMs} ms at shutdown`);
    }
    // The deadline covers the whole shutdown: trackers get what the pools left of it.
    await this.trackers.close(Math.min(Math.max(0, timeoutMs - (performance.now() - started)), 5000));
  }

  [inspect.custom](): string {
    const replica = this.config.replica ? `, replica=${this.config.replica.redactedUrl}` : '';
    return `PostgresManager { primary=${this.config.primary.redactedUrl}${replica}, closed=${this.isClosed} }`;
  }

  toJSON(): PoolMetrics {
    return this.getPoolMetrics();
  }
}
