// What PostgresManager takes: the options of create(), of each call and of close().
import type pg from 'pg';
import type { ManagerOptions } from '../config.js';
import type { MigrationTimeouts } from '../migrations/options.js';
import type { MonitorSettings } from '../telemetry/monitor/report.js';
import type { TelemetryOptions } from '../telemetry/otel/telemetry-options.js';
import type { Logger } from '../tracker.js';
import type { PgPoolOptions } from '../pool/pool-options.js';

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
  /**
   * `db.operation.name` for this call's telemetry, as you name it (`findUserById`, `SELECT`): the conventions take
   * it from the caller, never from the text. Keep it low-cardinality: it is a metric attribute.
   */
  operationName?: string;
  /** `db.collection.name` for this call's telemetry: the one table it works on, as you name it. */
  collectionName?: string;
  /**
   * Run it as a named prepared statement (pg's `name`): parsed and planned once per connection, then only bound
   * and executed. One name, one text. Through PgBouncer 1.18–1.20 in transaction mode it fails (README "Scale").
   */
  name?: string;
}

export interface CloseOptions {
  /** How long in-flight work may take before its connections are destroyed (default 10 s). */
  timeoutMs?: number;
}

/**
 * Besides the manager's own options: pg-pool's `maxUses`, `maxLifetimeSeconds`, `allowExitOnIdle`,
 * `onConnect`, `verify` and `log`, passed as they are to the pools the manager builds (a ConfigError with
 * `pool` alone: that pool keeps its own).
 */
export interface CreateOptions extends ManagerOptions, PgPoolOptions {
  /**
   * Open the pool's minimum number of connections (at least one, which proves the server answers) before
   * create() resolves; default true. An app counting the pool's events sees that warm-up: a `connect` per
   * new connection and an `acquire` and a `release` each. With false, create() opens no connection.
   */
  warmUp?: boolean;
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
