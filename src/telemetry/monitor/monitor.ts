// In-process aggregator for apps without a collector: acquisition and query statistics, graded health, slow queries, leaks, history.
import { ConfigError } from '../../errors.js';
import { sqlParserLoaded } from '../../sql/parser.js';
import { sharedShapes, type ShapeCache } from '../../sql/shape-cache.js';
import { roundMs } from './acquisition-window.js';
import { Grader, resolveThresholds, type HealthContext, type HealthState, type HealthThresholds } from './health.js';
import { LeakBook } from './leaks.js';
import { HISTORY_SIZE, PoolBook, share, suspectedLeaks, type PoolView } from './pools.js';
import { QueryTable, type QueryStatsReport } from './query-stats.js';
import {
  unmonitoredHealth,
  unmonitoredReport,
  type AcquisitionStats,
  type ByRole,
  type HealthStatus,
  type LeakReport,
  type MonitorOptions,
  type MonitorReport,
  type PoolHealth,
  type PoolSnapshot,
} from './report.js';
import { SlowQueryLog } from './slow-queries.js';
import type { LeakEvent, Logger, PoolerSample, PoolTracker, QueryEvent, TrackedPool } from '../../tracker.js';
import { PoolerHealth, type PoolerReport } from './pooler-health.js';

/** The report's `pooler` part, present only when a pooler console is read. */
function poolerPart(pooler: PoolerReport | undefined): { pooler?: PoolerReport } {
  return pooler ? { pooler } : {};
}

export { HISTORY_SIZE } from './pools.js';

const NO_CONTEXT: HealthContext = { schemaError: undefined, replicaAvailable: null };

function integerSetting(value: number | undefined, field: string, fallback: number, min: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < min) throw new ConfigError(`monitor.${field}`, `must be a whole number of at least ${min}, got ${String(value)}`);
  return value;
}

function errorCode(error: unknown): string {
  const code = (error as { code?: unknown } | null | undefined)?.code;
  if (typeof code === 'string') return code;
  return error instanceof Error ? error.name : 'unknown';
}

export class ConnectionMonitor implements PoolTracker {
  private readonly logger: Logger;
  private readonly thresholds: Readonly<HealthThresholds>;
  private readonly shapes: ShapeCache;
  private readonly queries: QueryTable;
  private readonly slowQueries: SlowQueryLog;
  private readonly pools: PoolBook;
  private readonly leaks: LeakBook;
  /** The latest reading of the pooler's admin console (with the `pgbouncer` option). */
  private readonly pooler = new PoolerHealth();
  private readonly timer: NodeJS.Timeout;
  private fault: string | undefined;

  constructor(options: MonitorOptions) {
    this.logger = options.logger;
    const intervalMs = integerSetting(options.snapshotIntervalMs, 'snapshotIntervalMs', 10_000, 1);
    const warnEveryMs = integerSetting(options.slowQueryWarningIntervalMs, 'slowQueryWarningIntervalMs', 60_000, 0);
    this.queries = new QueryTable(integerSetting(options.maxTrackedQueries, 'maxTrackedQueries', 1000, 1));
    this.thresholds = resolveThresholds(options.thresholds ?? {}, HISTORY_SIZE);
    this.shapes = options.shapes ?? sharedShapes;
    this.slowQueries = new SlowQueryLog(options.logger, options.slowQueryThresholdMs, warnEveryMs);
    this.pools = new PoolBook(intervalMs, this.thresholds);
    this.leaks = new LeakBook(options.logger, (sql) => this.shapes.shape(sql).normalized);
    this.timer = setInterval(() => this.snapshot(), intervalMs);
    this.timer.unref();
  }

  /**
   * Disables the monitor with one warning. Its own faults are caught here rather than left to
   * TrackerFanout, because the snapshot timer and report() are not called through the fan-out.
   */
  private fail(where: string, error: unknown): void {
    if (this.fault !== undefined) return;
    this.fault = error instanceof Error ? error.message : String(error);
    clearInterval(this.timer);
    this.logger.warn(`otel-pg-manager: the in-process monitor failed in ${where} and was disabled; queries continue without it (${this.fault})`);
  }

  poolAdded(pool: TrackedPool): void {
    if (this.fault === undefined) this.pools.record(pool);
  }

  acquired(pool: TrackedPool, waitSeconds: number): void {
    if (this.fault !== undefined) return;
    try {
      this.pools.record(pool).acquired(waitSeconds * 1000);
    } catch (error) {
      this.fail('acquired', error);
    }
  }

  acquireTimedOut(pool: TrackedPool): void {
    if (this.fault !== undefined) return;
    this.pools.record(pool).timeouts++;
  }

  acquireFailed(pool: TrackedPool): void {
    if (this.fault !== undefined) return;
    this.pools.record(pool).failures++;
  }

  queryFinished(event: QueryEvent): void {
    if (this.fault !== undefined) return;
    try {
      // The finish time is derived from the event, so no clock is read per query.
      const at = event.startTime + event.durationSeconds * 1000;
      const stats = this.queries.statsFor(this.shapes.shape(event.sql, event));
      // Per-fingerprint figures describe the statement (as pg_stat_statements does); the wait for a
      // connection is in the acquisition statistics. A call that got no connection keeps its wait.
      const executionMs = event.executionSeconds === undefined ? undefined : event.executionSeconds * 1000;
      stats.record(executionMs ?? event.durationSeconds * 1000, event.rowCount, at);
      if (event.error !== undefined) stats.recordError(event.sqlstate ?? errorCode(event.error));
      if (executionMs !== undefined && executionMs >= this.slowQueries.thresholdMs) {
        this.pools.record(event.pool).intervalSlow++;
        this.slowQueries.record(stats, event.pool.name, executionMs, at);
      }
    } catch (error) {
      this.fail('queryFinished', error);
    }
  }

  leakDetected(event: LeakEvent): void {
    if (this.fault !== undefined) return;
    try {
      this.leaks.leakHeld(event);
    } catch (error) {
      this.fail('leakDetected', error);
    }
  }

  leakResolved(event: LeakEvent): void {
    if (this.fault !== undefined) return;
    try {
      this.leaks.leakReturned(event);
    } catch (error) {
      this.fail('leakResolved', error);
    }
  }

  poolerSampled(sample: PoolerSample): void {
    this.pooler.record(sample);
  }

  close(): void {
    clearInterval(this.timer);
  }

  private snapshot(): void {
    if (this.fault !== undefined) return;
    try {
      this.pools.snapshot();
    } catch (error) {
      this.fail('snapshot', error);
    }
  }

  private views(): PoolView[] {
    return this.pools.views(this.leaks);
  }

  private grade(views: PoolView[], context: HealthContext): { status: HealthState; reasons: string[] } {
    const grader = new Grader();
    grader.context(context);
    for (const { facts } of views) grader.pool(facts, this.thresholds);
    this.pooler.grade(grader, this.thresholds);
    return grader.result();
  }

  /** Health graded against the thresholds, with the figures it was graded on. */
  getHealthStatus(context: HealthContext = NO_CONTEXT): HealthStatus {
    if (this.fault !== undefined) return unmonitoredHealth(context, this.fault);
    try {
      const views = this.views();
      const pools: ByRole<PoolHealth> = {};
      let attempts = 0;
      let timeouts = 0;
      let failures = 0;
      let waitSum = 0;
      let samples = 0;
      for (const { facts, summary } of views) {
        pools[facts.role] = {
          name: facts.name,
          utilization: share(facts.used, facts.max),
          used: facts.used,
          max: facts.max,
          waiting: facts.waiting,
          timeoutRate: share(facts.timeouts, facts.attempts),
          failureRate: share(facts.failures, facts.attempts),
          avgAcquisitionMs: summary.avgMs,
          p99AcquisitionMs: summary.p99Ms,
        };
        attempts += facts.attempts;
        timeouts += facts.timeouts;
        failures += facts.failures;
        waitSum += summary.avgMs * summary.samples;
        samples += summary.samples;
      }
      const all = Object.values(pools);
      return {
        ...this.grade(views, context),
        utilization: Math.max(0, ...all.map((p) => p.utilization)),
        waiting: all.reduce((sum, p) => sum + p.waiting, 0),
        timeoutRate: share(timeouts, attempts),
        failureRate: share(failures, attempts),
        avgAcquisitionMs: samples === 0 ? 0 : roundMs(waitSum / samples),
        p99AcquisitionMs: Math.max(0, ...all.map((p) => p.p99AcquisitionMs)),
        checkedAt: new Date().toISOString(),
        pools,
      };
    } catch (error) {
      this.fail('getHealthStatus', error);
      return unmonitoredHealth(context, this.fault);
    }
  }

  /** Fingerprints with slow executions, slowest (by maximum) first; normalized text only. */
  getSlowQueries(limit = 10): QueryStatsReport[] {
    if (this.fault !== undefined) return [];
    return this.queries.top(limit, (s) => s.slowExecutions > 0, (a, b) => b.maxMs - a.maxMs);
  }

  /** Statistics per fingerprint, by total time spent first. */
  getQueryStats(limit = 20): QueryStatsReport[] {
    if (this.fault !== undefined) return [];
    return this.queries.top(limit, () => true, (a, b) => b.totalMs - a.totalMs);
  }

  /** Leases held past the leak threshold (with their borrowers' stacks), late returns, and suspected leaks. */
  getLeaks(): LeakReport {
    return this.leakReport(this.views());
  }

  private leakReport(views: PoolView[]): LeakReport {
    return this.leaks.report(suspectedLeaks(views, this.thresholds));
  }

  /** Everything `PostgresManager.getPoolMetrics()` shows beyond the live pool counts. */
  report(context: HealthContext): MonitorReport {
    if (this.fault !== undefined) return unmonitoredReport(context, this.fault);
    try {
      const views = this.views();
      const acquisition: ByRole<AcquisitionStats> = {};
      const history: ByRole<PoolSnapshot[]> = {};
      for (const { record, summary, facts } of views) {
        acquisition[facts.role] = {
          total: record.acquisitions,
          timeouts: record.timeouts,
          failures: record.failures,
          timeoutRate: share(facts.timeouts, facts.attempts),
          failureRate: share(facts.failures, facts.attempts),
          ...summary,
        };
        history[facts.role] = [...record.history];
      }
      return {
        ...this.grade(views, context),
        checkedAt: new Date().toISOString(),
        acquisition,
        slowQueries: this.getSlowQueries(10),
        queries: { tracked: this.queries.size, evicted: this.queries.evictions, normalizer: sqlParserLoaded() ? 'libpg-query' : 'scanner' },
        leaks: this.leakReport(views),
        history,
        ...poolerPart(this.pooler.report()),
      };
    } catch (error) {
      this.fail('report', error);
      return unmonitoredReport(context, this.fault);
    }
  }
}
