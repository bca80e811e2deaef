// In-process aggregator for apps without a collector: acquisition and query statistics, graded health, slow queries, leaks, history.
import { ConfigError } from '../../errors.js';
import { sharedShapes, sqlParserLoaded, type ShapeCache } from '../../sql/fingerprint.js';
import { AcquisitionWindow, roundMs, type AcquisitionSummary } from './acquisition-window.js';
import { Grader, resolveThresholds, type HealthContext, type HealthState, type HealthThresholds, type PoolFacts } from './health.js';
import { QueryTable, type QueryStats, type QueryStatsReport } from './query-stats.js';
import type { LeakEvent, Logger, PoolRole, PoolTracker, QueryEvent, TrackedPool } from '../../tracker.js';

export type { HealthContext, HealthState, HealthThresholds } from './health.js';
export type { QueryStatsReport } from './query-stats.js';

/** Snapshots kept per pool (the seed's metrics_history). */
export const HISTORY_SIZE = 60;
/** Leaks returned late that stay listed in the report. */
const RESOLVED_LEAKS_KEPT = 20;
/** Slow-query warnings show at most this much of the normalized text. */
const LOGGED_QUERY_LENGTH = 500;

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

type ByRole<T> = { primary?: T; replica?: T };

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
}

const NO_CONTEXT: HealthContext = { schemaError: undefined, replicaAvailable: null };

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

class PoolRecord {
  acquisitions = 0;
  timeouts = 0;
  failures = 0;
  // Accumulated since the previous snapshot.
  intervalCount = 0;
  intervalSumMs = 0;
  intervalMaxMs = 0;
  intervalSlow = 0;
  readonly window = new AcquisitionWindow();
  readonly history: PoolSnapshot[] = [];

  constructor(readonly pool: TrackedPool) {}
}

interface HeldLeak {
  warning: LeakWarning;
  /** performance.now() and held time when it was detected, so the held time stays current. */
  detectedPerf: number;
  heldAtDetectionMs: number;
}

/** Everything read once per report, shared by the health grade and the statistics. */
interface PoolView {
  record: PoolRecord;
  summary: AcquisitionSummary;
  facts: PoolFacts;
}

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

const seconds = (s: number): string => `${Math.round(s * 10) / 10} s`;
/** A share (0–1) to three decimals, short in JSON. */
const share = (part: number, whole: number): number => (whole === 0 ? 0 : Math.round((part / whole) * 1000) / 1000);

export class ConnectionMonitor implements PoolTracker {
  private readonly logger: Logger;
  private readonly slowMs: number;
  private readonly warnEveryMs: number;
  private readonly intervalMs: number;
  private readonly thresholds: Readonly<HealthThresholds>;
  private readonly shapes: ShapeCache;
  private readonly queries: QueryTable;
  private readonly pools = new Map<TrackedPool, PoolRecord>();
  private readonly heldLeaks = new Map<number, HeldLeak>();
  private readonly resolvedLeaks: LeakWarning[] = [];
  private leaksDetected = 0;
  private leaksResolved = 0;
  private readonly startedAt = performance.now();
  private lastSnapshotAt = this.startedAt;
  private readonly timer: NodeJS.Timeout;
  private fault: string | undefined;

  constructor(options: MonitorOptions) {
    this.logger = options.logger;
    this.slowMs = options.slowQueryThresholdMs;
    this.intervalMs = integerSetting(options.snapshotIntervalMs, 'snapshotIntervalMs', 10_000, 1);
    this.warnEveryMs = integerSetting(options.slowQueryWarningIntervalMs, 'slowQueryWarningIntervalMs', 60_000, 0);
    this.queries = new QueryTable(integerSetting(options.maxTrackedQueries, 'maxTrackedQueries', 1000, 1));
    this.thresholds = resolveThresholds(options.thresholds ?? {}, HISTORY_SIZE);
    this.shapes = options.shapes ?? sharedShapes;
    this.timer = setInterval(() => this.snapshot(), this.intervalMs);
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

  private record(pool: TrackedPool): PoolRecord {
    let record = this.pools.get(pool);
    if (record === undefined) {
      record = new PoolRecord(pool);
      this.pools.set(pool, record);
    }
    return record;
  }

  poolAdded(pool: TrackedPool): void {
    if (this.fault === undefined) this.record(pool);
  }

  acquired(pool: TrackedPool, waitSeconds: number): void {
    if (this.fault !== undefined) return;
    try {
      const record = this.record(pool);
      const ms = waitSeconds * 1000;
      record.acquisitions++;
      record.window.record(ms);
      record.intervalCount++;
      record.intervalSumMs += ms;
      if (ms > record.intervalMaxMs) record.intervalMaxMs = ms;
    } catch (error) {
      this.fail('acquired', error);
    }
  }

  acquireTimedOut(pool: TrackedPool): void {
    if (this.fault !== undefined) return;
    this.record(pool).timeouts++;
  }

  acquireFailed(pool: TrackedPool): void {
    if (this.fault !== undefined) return;
    this.record(pool).failures++;
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
      if (executionMs !== undefined && executionMs >= this.slowMs) this.slowQuery(stats, event.pool, executionMs, at);
    } catch (error) {
      this.fail('queryFinished', error);
    }
  }

  /** Counted every time; logged at most once per fingerprint per warning interval, with the count it stood for. */
  private slowQuery(stats: QueryStats, pool: TrackedPool, ms: number, at: number): void {
    stats.slowExecutions++;
    this.record(pool).intervalSlow++;
    if (at - stats.warnedAt < this.warnEveryMs) {
      stats.slowSinceWarning++;
      return;
    }
    const since = stats.slowSinceWarning;
    stats.warnedAt = at;
    stats.slowSinceWarning = 0;
    const more = since > 0 ? `; ${since} more slow execution${since === 1 ? '' : 's'} since the last warning` : '';
    const text = stats.shape.normalized;
    const shown = text.length > LOGGED_QUERY_LENGTH ? `${text.slice(0, LOGGED_QUERY_LENGTH)} …` : text;
    this.logger.warn(
      `otel-pg-manager: slow query on pool "${pool.name}": ${Math.round(ms)} ms (threshold ${this.slowMs} ms${more}) [${stats.shape.fingerprint}] ${shown}`,
    );
  }

  leakDetected(event: LeakEvent): void {
    if (this.fault !== undefined) return;
    try {
      this.leakHeld(event);
    } catch (error) {
      this.fail('leakDetected', error);
    }
  }

  leakResolved(event: LeakEvent): void {
    if (this.fault !== undefined) return;
    try {
      this.leakReturned(event);
    } catch (error) {
      this.fail('leakResolved', error);
    }
  }

  private leakHeld(event: LeakEvent): void {
    const heldMs = event.heldSeconds * 1000;
    const warning: LeakWarning = {
      leaseId: event.leaseId,
      pool: event.pool.name,
      role: event.pool.role,
      heldMs: roundMs(heldMs),
      detectedAt: new Date().toISOString(),
      stack: event.stack,
    };
    this.heldLeaks.set(event.leaseId, { warning, detectedPerf: performance.now(), heldAtDetectionMs: heldMs });
    this.leaksDetected++;
    // HikariCP's wording, so the line is recognizable to anyone who has met it there.
    this.logger.warn(
      `otel-pg-manager: connection leak detection triggered for lease #${event.leaseId} of pool "${event.pool.name}": held for ${seconds(event.heldSeconds)} without being released; acquired at:\n${event.stack ?? '    (no stack captured)'}`,
    );
  }

  private leakReturned(event: LeakEvent): void {
    const held = this.heldLeaks.get(event.leaseId);
    this.heldLeaks.delete(event.leaseId);
    this.leaksResolved++;
    this.resolvedLeaks.push({
      leaseId: event.leaseId,
      pool: event.pool.name,
      role: event.pool.role,
      heldMs: roundMs(event.heldSeconds * 1000),
      detectedAt: held?.warning.detectedAt ?? new Date().toISOString(),
      resolvedAt: new Date().toISOString(),
      stack: event.stack,
    });
    if (this.resolvedLeaks.length > RESOLVED_LEAKS_KEPT) this.resolvedLeaks.shift();
    this.logger.info?.(
      `otel-pg-manager: previously reported leaked lease #${event.leaseId} of pool "${event.pool.name}" was returned after ${seconds(event.heldSeconds)} (unleaked)`,
    );
  }

  close(): void {
    clearInterval(this.timer);
  }

  private snapshot(): void {
    if (this.fault !== undefined) return;
    try {
      const timestamp = new Date().toISOString();
      this.lastSnapshotAt = performance.now();
      for (const record of this.pools.values()) {
        const { total, idle, waiting } = record.pool.counts();
        const active = total - idle;
        record.history.push(
          Object.freeze({
            timestamp,
            poolSize: total,
            available: idle,
            active,
            waiting,
            utilization: share(active, record.pool.max),
            totalAcquisitions: record.acquisitions,
            acquisitionTimeouts: record.timeouts,
            acquisitionFailures: record.failures,
            avgAcquisitionMs: record.intervalCount === 0 ? 0 : roundMs(record.intervalSumMs / record.intervalCount),
            maxAcquisitionMs: roundMs(record.intervalMaxMs),
            slowQueries: record.intervalSlow,
          }),
        );
        if (record.history.length > HISTORY_SIZE) record.history.shift();
        record.intervalCount = 0;
        record.intervalSumMs = 0;
        record.intervalMaxMs = 0;
        record.intervalSlow = 0;
      }
    } catch (error) {
      this.fail('snapshot', error);
    }
  }

  private view(record: PoolRecord, now: number): PoolView {
    const { history } = record;
    const t = this.thresholds;
    const { total, idle, waiting } = record.pool.counts();
    let waitingRun = 0;
    while (waitingRun < history.length && history[history.length - 1 - waitingRun]!.waiting > 0) waitingRun++;
    let busyRun = 0;
    while (busyRun < history.length && history[history.length - 1 - busyRun]!.utilization >= t.suspectedLeakUtilization) busyRun++;
    // Rates count the attempts since the snapshot `rateWindowSnapshots` intervals before the latest one, or since start:
    // the window always spans that many full intervals, so an attempt just after a snapshot is not graded on its own.
    const base = history.length > t.rateWindowSnapshots ? history[history.length - 1 - t.rateWindowSnapshots] : undefined;
    const timeouts = record.timeouts - (base?.acquisitionTimeouts ?? 0);
    const failures = record.failures - (base?.acquisitionFailures ?? 0);
    const attempts = record.acquisitions - (base?.totalAcquisitions ?? 0) + timeouts + failures;
    let leaksHeld = 0;
    let longestLeakMs = 0;
    for (const leak of this.heldLeaks.values()) {
      if (leak.warning.role !== record.pool.role) continue;
      leaksHeld++;
      longestLeakMs = Math.max(longestLeakMs, leak.heldAtDetectionMs + now - leak.detectedPerf);
    }
    return {
      record,
      summary: record.window.summary(),
      facts: {
        name: record.pool.name,
        role: record.pool.role,
        used: total - idle,
        max: record.pool.max,
        waiting,
        waitingRun,
        busyRun,
        snapshotIntervalMs: this.intervalMs,
        attempts,
        timeouts,
        failures,
        rateWindowMs: base ? t.rateWindowSnapshots * this.intervalMs + (now - this.lastSnapshotAt) : now - this.startedAt,
        leaksHeld,
        longestLeakMs,
      },
    };
  }

  private views(): PoolView[] {
    const now = performance.now();
    return [...this.pools.values()].map((record) => this.view(record, now));
  }

  private grade(views: PoolView[], context: HealthContext): { status: HealthState; reasons: string[] } {
    const grader = new Grader();
    grader.context(context);
    for (const { facts } of views) grader.pool(facts, this.thresholds);
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
    return this.topQueries(limit, (s) => s.slowExecutions > 0, (a, b) => b.maxMs - a.maxMs);
  }

  /** Statistics per fingerprint, by total time spent first. */
  getQueryStats(limit = 20): QueryStatsReport[] {
    if (this.fault !== undefined) return [];
    return this.topQueries(limit, () => true, (a, b) => b.totalMs - a.totalMs);
  }

  private topQueries(limit: number, keep: (s: QueryStats) => boolean, order: (a: QueryStats, b: QueryStats) => number): QueryStatsReport[] {
    const chosen: QueryStats[] = [];
    for (const stats of this.queries.values()) if (keep(stats)) chosen.push(stats);
    return chosen
      .sort(order)
      .slice(0, Math.max(0, limit))
      .map((s) => s.report());
  }

  /** Leases held past the leak threshold (with their borrowers' stacks), late returns, and suspected leaks. */
  getLeaks(): LeakReport {
    return this.leakReport(this.views());
  }

  private leakReport(views: PoolView[]): LeakReport {
    const now = performance.now();
    const suspected: SuspectedLeak[] = [];
    for (const { facts, record } of views) {
      if (facts.busyRun < this.thresholds.suspectedLeakSnapshots) continue;
      const run = record.history.slice(-facts.busyRun);
      suspected.push({
        pool: facts.name,
        role: facts.role,
        snapshots: facts.busyRun,
        since: run[0]!.timestamp,
        minUtilization: Math.min(...run.map((s) => s.utilization)),
      });
    }
    return {
      detected: this.leaksDetected,
      resolved: this.leaksResolved,
      active: [...this.heldLeaks.values()].map(({ warning, detectedPerf, heldAtDetectionMs }) => ({
        ...warning,
        heldMs: roundMs(heldAtDetectionMs + now - detectedPerf),
      })),
      recentlyResolved: [...this.resolvedLeaks],
      suspected,
    };
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
      };
    } catch (error) {
      this.fail('report', error);
      return unmonitoredReport(context, this.fault);
    }
  }
}

