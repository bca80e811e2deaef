// PostgresManager: the public face. Composes pools, routing, retries and trackers; knows nothing of OpenTelemetry.
import type pg from 'pg';
import { inspect } from 'node:util';
import { resolveConfig, type ManagerConfig } from './config.js';
import { withServerNamed } from './database-url.js';
import { checkKeys } from './config-keys.js';
import { ConfigError, ManagerClosedError } from './errors.js';
import { withPoolerAdvice } from './session-settings.js';
import { PgBouncerConsole, startPoolerConsole } from './pooler/pgbouncer-console.js';
import type { Lease } from './pool/lease.js';
import { pgModuleFor } from './pool/pg-module.js';
import { pgPoolOptionsOf, type PgPoolOptions } from './pool/pool-options.js';
import { claimAdoptedPools, describeAdoptedPools, PoolSet, type AdoptedPools } from './pool/pool-set.js';
import { checkMigrationTimeouts, MIGRATION_TIMEOUT_NAMES } from './migrations/options.js';
import { Acquisition } from './query/acquisition.js';
import { faceRoutes } from './query/face-routes.js';
import { QueryRun } from './query/query-run.js';
import { ReplicaRouting } from './query/replica-routing.js';
import { runTransaction, withLease, type TransactionOptions } from './query/transaction.js';
import type { ConnectionMonitor } from './telemetry/monitor/monitor.js';
import { DEFAULT_HEALTH_THRESHOLDS } from './telemetry/monitor/health.js';
import { TELEMETRY_OPTION_KEYS } from './telemetry/otel/telemetry-options.js';
import {
  MONITOR_SETTING_KEYS,
  unmonitoredHealth,
  unmonitoredReport,
  type HealthContext,
  type HealthStatus,
  type QueryStatsReport,
} from './telemetry/monitor/report.js';
import { TrackerFanout, type Logger, type PoolTracker } from './tracker.js';
import { attachBuiltInTrackers } from './manager/built-in-trackers.js';
import type { CloseOptions, ConnectionOptions, CreateOptions, QueryOptions } from './manager/options.js';
import { poolStates, type PoolMetrics, type SchemaStatus } from './manager/reports.js';
import { initializeSchema } from './manager/schema-init.js';

const NO_OPTIONS: QueryOptions = Object.freeze({});

const consoleLogger: Logger = { warn: (message) => console.warn(message), info: (message) => console.info(message) };

export class PostgresManager {
  readonly config: ManagerConfig;
  private readonly pools: PoolSet;
  private readonly replicas: ReplicaRouting;
  private readonly calls: Acquisition;
  private readonly trackers: TrackerFanout;
  private readonly logger: Logger;
  private monitor: ConnectionMonitor | undefined;
  /** Reads PgBouncer's admin console into the trackers, with the `pgbouncer` option. */
  private pooler: PgBouncerConsole | undefined;
  private schema: SchemaStatus = { state: 'skipped', applied: [] };
  private closing: Promise<void> | undefined;

  private constructor(config: ManagerConfig, logger: Logger, adopted: AdoptedPools, pgPool: PgPoolOptions) {
    this.config = config;
    this.logger = logger;
    this.trackers = new TrackerFanout(logger);
    this.pools = new PoolSet(config, this.trackers, logger, adopted, pgPool);
    this.replicas = new ReplicaRouting(this.pools.primary, this.pools.replica, logger);
    this.calls = new Acquisition(this.trackers, config.retry, this.replicas, () => this.closing !== undefined);
    for (const pool of this.pools.all()) pool.installFace(faceRoutes(this.calls, pool, () => this.endFromPool()));
  }

  /** Builds the pools and checks that the primary answers. Throws ConfigError on bad configuration. */
  static async create(options: CreateOptions = {}): Promise<PostgresManager> {
    const { logger, telemetry, monitor, migrations, pool, readPool, warmUp = true, ...rest } = options;
    const adopted: AdoptedPools = { pool, readPool };
    // pg-pool's options first: pg's own names (max, connectionString, …) are refused naming the manager's.
    // With an app's pool, only a replica built from readReplicaUrl takes them (READ_REPLICA_URL is not read then).
    const pgPool = pgPoolOptionsOf(rest as Record<string, unknown>, !pool || (!readPool && rest.readReplicaUrl !== undefined));
    if (typeof warmUp !== 'boolean') throw new ConfigError('warmUp', 'must be true or false');
    checkKeys(telemetry, TELEMETRY_OPTION_KEYS, 'telemetry.');
    checkKeys(monitor, MONITOR_SETTING_KEYS, 'monitor.');
    checkKeys(monitor?.thresholds, Object.keys(DEFAULT_HEALTH_THRESHOLDS), 'monitor.thresholds.');
    checkKeys(migrations, MIGRATION_TIMEOUT_NAMES, 'migrations.');
    const config = resolveConfig(rest, describeAdoptedPools(adopted));
    const migrationTimeouts = checkMigrationTimeouts(migrations ?? {}, (name) => `migrations.${name}`);
    claimAdoptedPools(adopted);
    const manager = new PostgresManager(config, logger ?? consoleLogger, adopted, pgPool);
    try {
      // With MONITORING_ENABLED=false no tracker is attached at all. Bad monitor or telemetry settings
      // throw ConfigError here, after the pools' timers started.
      if (config.monitoringEnabled) {
        manager.monitor = await attachBuiltInTrackers(config, manager.logger, { telemetry, monitor }, (tracker) => manager.addTracker(tracker));
      }
      // A refusal names the server that gave it: here the primary (the migrations may connect elsewhere).
      if (warmUp) await manager.calls.warmUp(manager.pools.primary).catch((error: unknown) => {
          throw withServerNamed(error, config.primary);
        });
      manager.schema = await initializeSchema(config, migrationTimeouts, manager.logger);
      manager.pooler = await startPoolerConsole(config, manager.trackers, manager.logger);
    } catch (error) {
      await manager.abandon();
      throw withPoolerAdvice(error);
    }
    const { replica } = manager.pools;
    if (replica && warmUp) await manager.calls.warmUp(replica).catch((error: unknown) => manager.replicas.markReplicaDown(error));
    return manager;
  }

  /**
   * A create() that failed: the pools it built are closed, and an app's own pools are handed back
   * open and as they were, so the app (or a create() it retries) can go on using them.
   */
  private async abandon(): Promise<void> {
    this.pools.handBackAdopted();
    await this.close({ timeoutMs: 1000 });
  }

  /** How schema initialization went at start-up. */
  get schemaStatus(): SchemaStatus {
    return this.schema;
  }

  /**
   * Adds a tracker; it is told about the existing pools at once. A tracker that throws, or whose
   * method returns a promise that rejects, is disabled with one warning.
   */
  addTracker(tracker: PoolTracker): void {
    this.trackers.add(tracker, this.pools.all());
  }

  private assertOpen(): void {
    if (this.closing) throw new ManagerClosedError();
  }

  /**
   * A connection lease. Release it with `release()` or `await using`; releasing twice is harmless.
   * Throws ConnectionTimeoutError when none is free within the timeout.
   */
  async getConnection(options: ConnectionOptions = {}): Promise<Lease> {
    this.assertOpen();
    return this.calls.lease(options.readOnly === true, options.timeoutMs, this.calls.borrower(this.getConnection));
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
    return this.pools.primary.pool;
  }

  /** The replica's pg.Pool when one is configured (connect() and query() fall back to the primary as read() does), else the primary's. */
  get readPool(): pg.Pool {
    return (this.pools.replica ?? this.pools.primary).pool;
  }

  /**
   * A stand-in for the `pg` module whose Pool constructor hands back this manager's pool, for
   * libraries that build their own pool from a module (TypeORM's `driver` option). The pool
   * options they pass are ignored: the manager's configuration says where and how to connect.
   */
  pgModule(): typeof pg {
    return pgModuleFor(this.pools.primary.pool);
  }

  /** Runs `fn` with a connection and always releases it, destroying it if `fn` broke it. */
  async withConnection<T>(fn: (client: pg.PoolClient) => Promise<T>, options: ConnectionOptions = {}): Promise<T> {
    return withLease(await this.getConnection(options), fn);
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
    const name = options.name;
    if (name !== undefined && (typeof name !== 'string' || name === '')) {
      return Promise.reject(new TypeError('a statement name must be a non-empty string'));
    }
    // No borrower stack here (it would cost microseconds per call): the run itself releases its
    // lease, so holding it past the threshold means a long statement, which the slow-query list names.
    return new Promise((resolve, reject) => {
      const statement = name === undefined ? sql : { name, text: sql };
      new QueryRun<R>(this.calls, statement, params as unknown[] | undefined, options, resolve, reject).start();
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
    return runTransaction(this.calls, fn, options, this.transaction);
  }

  /** What only the manager knows for health: how schema initialization went and whether the replica answers. */
  private healthContext(): HealthContext {
    return { schemaError: this.schema.error?.message, replicaAvailable: this.replicas.replicaAvailable };
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
    const context = this.healthContext();
    const health = this.monitor?.report(context) ?? unmonitoredReport(context);
    return {
      ...health,
      pools: poolStates(this.pools),
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
    this.closing ??= this.shutdown(options.timeoutMs ?? 10_000, false);
    return this.closing;
  }

  /**
   * `end()` of a pool's pg.Pool face: pg-pool's contract. Callers already waiting for a connection are
   * served, not refused, and a second end() is pg-pool's error (close() having run counts as the first).
   */
  private endFromPool(): Promise<void> | Error {
    if (this.closing) return new Error('Called end on pool more than once');
    this.closing = this.shutdown(10_000, true);
    return this.closing;
  }

  /** `serveWaiting`: callers queued for a connection are served before the pools end (else refused). */
  private async shutdown(timeoutMs: number, serveWaiting: boolean): Promise<void> {
    const started = performance.now();
    await this.pools.close(timeoutMs, serveWaiting);
    await this.pooler?.close();
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
