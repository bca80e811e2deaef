// The monitor's public shapes (its settings, its report, health and leak figures), and the report when no monitor runs.
import type { PoolerReport } from './pooler-health.js';
import { sqlParserLoaded } from '../../sql/parser.js';
import type { ShapeCache } from '../../sql/shape-cache.js';
import type { AcquisitionSummary } from './acquisition-window.js';
import { Grader, type HealthContext, type HealthState, type HealthThresholds } from './health.js';
import type { QueryStatsReport } from './query-stats.js';
import type { Logger, PoolRole } from '../../tracker.js';

export type { HealthContext, HealthState, HealthThresholds } from './health.js';
export type { QueryStatsReport } from './query-stats.js';

/** Options for the monitor that `PostgresManager.create({ monitor })` accepts. */
export interface MonitorSettings {
  /** How often a snapshot of each pool is added to the history. Default 10000. */
  snapshotIntervalMs?: number;
  /** Fingerprints with statistics; the least recently used is evicted beyond it. Default 1000. */
  maxTrackedQueries?: number;
  /** A slow-query warning is logged at most once per fingerprint per this interval. Default 60000. */
  slowQueryWarningIntervalMs?: number;
  thresholds?: Partial<HealthThresholds>;
  /** Where shapes are cached; by default the cache the OpenTelemetry tracker shares. */
  shapes?: ShapeCache;
}

/** Every key of MonitorSettings, so that create() refuses a misspelt one by name. */
export const MONITOR_SETTING_KEYS: readonly string[] = Object.keys({
  snapshotIntervalMs: true,
  maxTrackedQueries: true,
  slowQueryWarningIntervalMs: true,
  thresholds: true,
  shapes: true,
} satisfies Record<keyof MonitorSettings, true>);

export interface MonitorOptions extends MonitorSettings {
  slowQueryThresholdMs: number;
  logger: Logger;
}

/** One pool at one moment (the seed's ConnectionMetrics). */
export interface PoolSnapshot {
  timestamp: string;
  /** Open connections. */
  poolSize: number;
  available: number;
  active: number;
  waiting: number;
  /** active / max. */
  utilization: number;
  /** Since the monitor started. */
  totalAcquisitions: number;
  acquisitionTimeouts: number;
  /** Acquisitions that failed otherwise than by timeout (server refused or unreachable). */
  acquisitionFailures: number;
  /** Over the acquisitions since the previous snapshot. */
  avgAcquisitionMs: number;
  maxAcquisitionMs: number;
  /** Slow queries since the previous snapshot. */
  slowQueries: number;
}

export interface AcquisitionStats extends AcquisitionSummary {
  /** Since the monitor started. */
  total: number;
  timeouts: number;
  failures: number;
  /** Shares of the attempts in the health rate window. */
  timeoutRate: number;
  failureRate: number;
}

export interface LeakWarning {
  leaseId: number;
  pool: string;
  role: PoolRole;
  /** How long the connection has been held (or was held, once returned). */
  heldMs: number;
  detectedAt: string;
  resolvedAt?: string;
  /** Where the connection was acquired, this package's frames removed. */
  stack: string | undefined;
  /**
   * When the leak was detected: the statement the connection was running (`statementRunning`), or the last one its
   * borrower sent, normalized (literals replaced); absent when none was sent under the lease.
   */
  statement?: string;
  statementRunning?: boolean;
}

/** The seed's heuristic: utilization stayed high through many snapshots. */
export interface SuspectedLeak {
  pool: string;
  role: PoolRole;
  snapshots: number;
  since: string;
  minUtilization: number;
}

export interface LeakReport {
  detected: number;
  resolved: number;
  active: LeakWarning[];
  recentlyResolved: LeakWarning[];
  suspected: SuspectedLeak[];
}

export interface PoolHealth {
  name: string;
  utilization: number;
  used: number;
  max: number;
  waiting: number;
  timeoutRate: number;
  failureRate: number;
  avgAcquisitionMs: number;
  p99AcquisitionMs: number;
}

export type ByRole<T> = { primary?: T; replica?: T };

export interface HealthStatus {
  status: HealthState;
  reasons: string[];
  /** The highest utilization of any pool. */
  utilization: number;
  /** Callers waiting in all pools. */
  waiting: number;
  timeoutRate: number;
  failureRate: number;
  avgAcquisitionMs: number;
  /** The highest p99 of any pool. */
  p99AcquisitionMs: number;
  checkedAt: string;
  pools: ByRole<PoolHealth>;
}

export interface MonitorReport {
  status: HealthState;
  reasons: string[];
  checkedAt: string;
  acquisition: ByRole<AcquisitionStats>;
  /** The ten slowest fingerprints by maximum duration. */
  slowQueries: QueryStatsReport[];
  /** Fingerprints with statistics now, those evicted so far, and what normalizes the text. */
  queries: { tracked: number; evicted: number; normalizer: 'libpg-query' | 'scanner' };
  leaks: LeakReport;
  history: ByRole<PoolSnapshot[]>;
  /** The latest reading of PgBouncer's admin console, with the `pgbouncer` option (see README "Scale"). */
  pooler?: PoolerReport;
}

/** The report without a monitor (or with a failed one): only what the manager itself knows is graded. */
export function unmonitoredReport(context: HealthContext, monitorFault?: string): MonitorReport {
  const grader = new Grader();
  grader.context(context);
  if (monitorFault !== undefined) grader.add('warning', `in-process monitor disabled after an internal error (${monitorFault}); statistics are unavailable`);
  return {
    ...grader.result(),
    checkedAt: new Date().toISOString(),
    acquisition: {},
    slowQueries: [],
    queries: { tracked: 0, evicted: 0, normalizer: sqlParserLoaded() ? 'libpg-query' : 'scanner' },
    leaks: { detected: 0, resolved: 0, active: [], recentlyResolved: [], suspected: [] },
    history: {},
  };
}

/** Health without a monitor (or with a failed one): only what the manager itself knows is graded. */
export function unmonitoredHealth(context: HealthContext, monitorFault?: string): HealthStatus {
  const { status, reasons, checkedAt } = unmonitoredReport(context, monitorFault);
  return { status, reasons, utilization: 0, waiting: 0, timeoutRate: 0, failureRate: 0, avgAcquisitionMs: 0, p99AcquisitionMs: 0, checkedAt, pools: {} };
}
