// Public exports of otel-pg-manager, grouped as a reader meets them: the manager, its configuration, its errors,
// migrations, the tracker seam, then the two built-in trackers and the SQL shapes they show.

// The manager, and what its calls take and return.
export { PostgresManager } from './manager.js';
export type { CloseOptions, ConnectionOptions, CreateOptions, QueryOptions } from './manager/options.js';
export type { PoolMetrics, PoolState, SchemaStatus } from './manager/reports.js';
export type { IsolationLevel, TransactionOptions } from './query/transaction.js';
export type { PgPoolOptions } from './pool/pool-options.js';
export { Lease } from './pool/lease.js';

// Configuration: options and environment, validated and frozen.
export { resolveConfig } from './config.js';
export { parseDatabaseUrl } from './database-url.js';
export type { ManagerConfig, ManagerOptions, RetryOptions, SchemaInitPolicy, SqlNormalizer, PoolerMode, PgBouncerOptions } from './config.js';
export type { DatabaseTarget } from './database-url.js';

// Errors, and which failures are retried after how long.
export {
  PgManagerError,
  ConfigError,
  ConnectionTimeoutError,
  ConnectionLostError,
  RetryExhaustedError,
  MigrationError,
  ManagerClosedError,
  LeaseReleasedError,
  TransactionRolledBackError,
} from './errors.js';
export type { PgManagerErrorCode, PoolCounts, MigrationFailure } from './errors.js';
export { classifyError } from './sqlstate.js';
export type { RetryDecision, FailurePhase } from './sqlstate.js';
export { backoffDelay } from './backoff.js';

// Migrations, also run by the otel-pg-manager command.
export { runMigrations } from './migrations/runner.js';
export type { MigrationOptions, MigrationResult } from './migrations/runner.js';
export type { MigrationTimeouts } from './migrations/options.js';
export { getMigrationStatus } from './migrations/status.js';
export type { MigrationStatus, MigrationStatusOptions, AppliedMigration, PendingMigration } from './migrations/status.js';

// The tracker seam: everything that happens to a pool, for a tracker of your own.
export type {
  PoolTracker,
  TrackedPool,
  PoolRole,
  PoolCountsSnapshot,
  QueryEvent,
  RetryEvent,
  LeakEvent,
  LeasedStatement,
  PoolerSample,
  Logger,
} from './tracker.js';

// The OpenTelemetry tracker: its options, the package's own metric and attribute names, the metric producer.
export { createOtelTracker } from './telemetry/otel/otel-tracker.js';
export type { TelemetryOptions, OtelTrackerOptions } from './telemetry/otel/telemetry-options.js';
export { INSTRUMENTATION_SCOPE } from './telemetry/otel/scope.js';
export {
  METRIC_PG_MANAGER_CONNECTION_LEAKS,
  METRIC_PG_MANAGER_SLOW_QUERIES,
  METRIC_PG_MANAGER_RETRIES,
  ATTR_PG_MANAGER_OUTCOME,
  ATTR_PG_MANAGER_ATTEMPTS,
  ATTR_PG_MANAGER_LEASE_ID,
  ATTR_PG_MANAGER_LEASE_HELD_SECONDS,
  ATTR_PG_MANAGER_LEASE_STATEMENT_RUNNING,
  SPAN_NAME_LEAK,
  SPAN_NAME_LEAK_RESOLVED,
} from './telemetry/otel/names.js';
export { PgMetricProducer } from './telemetry/otel/metric-producer.js';
export { pgMetricProducers } from './telemetry/otel/producer-attach.js';

// The in-process monitor: health with reasons, slow queries, leaks, history.
export { ConnectionMonitor, HISTORY_SIZE } from './telemetry/monitor/monitor.js';
export type {
  MonitorSettings,
  MonitorOptions,
  MonitorReport,
  HealthStatus,
  PoolHealth,
  PoolSnapshot,
  AcquisitionStats,
  LeakWarning,
  LeakReport,
  SuspectedLeak,
  QueryStatsReport,
  HealthContext,
  HealthState,
  HealthThresholds,
} from './telemetry/monitor/report.js';
export { DEFAULT_HEALTH_THRESHOLDS } from './telemetry/monitor/health.js';

// SQL text as the trackers show it: literals replaced by placeholders, one shape per fingerprint.
export { normalizeSql, type QueryShape } from './sql/shape.js';
export { ShapeCache } from './sql/shape-cache.js';
export { MAX_NORMALIZED_LENGTH } from './sql/renderer.js';
