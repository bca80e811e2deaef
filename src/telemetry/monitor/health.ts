// Health grading for the monitor: documented thresholds, and the rules that turn pool facts into a status with reasons.
import { ConfigError } from '../../errors.js';
import type { PoolRole } from '../../tracker.js';

export type HealthState = 'healthy' | 'warning' | 'critical';

export interface HealthThresholds {
  /** Share of `max` connections in use (0–1) from which a pool is a warning. Default 0.8. */
  utilizationWarning: number;
  /** Share of `max` connections in use from which a pool is critical. Default 0.95. */
  utilizationCritical: number;
  /** Callers waiting now and in each of this many latest snapshots is critical (waiting now alone is a warning). Default 3. */
  waitingSnapshots: number;
  /** Share of acquisition attempts in the rate window that timed out, above which a pool is a warning. Default 0.01. */
  timeoutRateWarning: number;
  /** … above which it is critical. Default 0.05. */
  timeoutRateCritical: number;
  /** Share of attempts that failed otherwise (server refused or unreachable): warning above. Default 0.01. */
  failureRateWarning: number;
  /** … critical above (a warning for the replica, whose reads fall back to the primary). Default 0.05. */
  failureRateCritical: number;
  /** Rates count the attempts in this many full snapshot intervals plus the time since the latest snapshot (since start until the history spans that many). Default 6. */
  rateWindowSnapshots: number;
  /** Utilization at or above this in every one of the latest `suspectedLeakSnapshots` snapshots is a suspected leak. Default 0.9. */
  suspectedLeakUtilization: number;
  /** Default 30 (5 minutes at the default 10 s interval, the seed's threshold). */
  suspectedLeakSnapshots: number;
  /** With the `pgbouncer` option: clients waiting in the pooler are critical once the oldest has waited this many seconds. Default 1. */
  poolerWaitCriticalSeconds: number;
  /** … or once clients have waited in each of this many readings of the admin console in a row (fewer are a warning). Default 3. */
  poolerWaitingReadings: number;
}

export const DEFAULT_HEALTH_THRESHOLDS: Readonly<HealthThresholds> = Object.freeze({
  utilizationWarning: 0.8,
  utilizationCritical: 0.95,
  waitingSnapshots: 3,
  timeoutRateWarning: 0.01,
  timeoutRateCritical: 0.05,
  failureRateWarning: 0.01,
  failureRateCritical: 0.05,
  rateWindowSnapshots: 6,
  suspectedLeakUtilization: 0.9,
  suspectedLeakSnapshots: 30,
  poolerWaitCriticalSeconds: 1,
  poolerWaitingReadings: 3,
});

const SHARES = ['utilizationWarning', 'utilizationCritical', 'timeoutRateWarning', 'timeoutRateCritical', 'failureRateWarning', 'failureRateCritical', 'suspectedLeakUtilization'] as const;
const COUNTS = ['waitingSnapshots', 'rateWindowSnapshots', 'suspectedLeakSnapshots'] as const;

/** `historySize` is how many snapshots the monitor keeps: a count beyond what they can show would silently never fire. */
export function resolveThresholds(given: Partial<HealthThresholds>, historySize: number): Readonly<HealthThresholds> {
  const resolved = { ...DEFAULT_HEALTH_THRESHOLDS, ...given };
  for (const key of SHARES) {
    const value = resolved[key];
    if (typeof value !== 'number' || !(value >= 0 && value <= 1)) {
      throw new ConfigError(`monitor.thresholds.${key}`, `must be a share between 0 and 1, got ${String(value)}`);
    }
  }
  for (const key of COUNTS) {
    const value = resolved[key];
    if (!Number.isInteger(value) || value < 1) {
      throw new ConfigError(`monitor.thresholds.${key}`, `must be a whole number of snapshots of at least 1, got ${String(value)}`);
    }
    // A run can cover the whole history; the rate window also needs the snapshot at its start.
    const most = key === 'rateWindowSnapshots' ? historySize - 1 : historySize;
    if (value > most) {
      throw new ConfigError(`monitor.thresholds.${key}`, `must be at most ${most} (the monitor keeps ${historySize} snapshots), got ${value}`);
    }
  }
  // The pooler's readings are counted as they come, not kept in the history: no upper bound.
  if (!Number.isInteger(resolved.poolerWaitingReadings) || resolved.poolerWaitingReadings < 1) {
    throw new ConfigError('monitor.thresholds.poolerWaitingReadings', `must be a whole number of readings of at least 1, got ${String(resolved.poolerWaitingReadings)}`);
  }
  const seconds = resolved.poolerWaitCriticalSeconds;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds <= 0) {
    throw new ConfigError('monitor.thresholds.poolerWaitCriticalSeconds', `must be a number of seconds above 0, got ${String(seconds)}`);
  }
  for (const [warning, critical] of [
    ['utilizationWarning', 'utilizationCritical'],
    ['timeoutRateWarning', 'timeoutRateCritical'],
    ['failureRateWarning', 'failureRateCritical'],
  ] as const) {
    if (resolved[warning] > resolved[critical]) {
      throw new ConfigError(`monitor.thresholds.${warning}`, `must not exceed ${critical} (${resolved[warning]} > ${resolved[critical]})`);
    }
  }
  return Object.freeze(resolved);
}

/** What the monitor knows about one pool when health is checked. */
export interface PoolFacts {
  name: string;
  role: PoolRole;
  used: number;
  max: number;
  waiting: number;
  /** Consecutive latest snapshots with callers waiting. */
  waitingRun: number;
  /** Consecutive latest snapshots at or above the suspected-leak utilization. */
  busyRun: number;
  snapshotIntervalMs: number;
  /** Attempts, timeouts and other failures in the rate window. */
  attempts: number;
  timeouts: number;
  failures: number;
  rateWindowMs: number;
  leaksHeld: number;
  longestLeakMs: number;
}

/** Facts the manager knows that the monitor cannot see through PoolTracker events. */
export interface HealthContext {
  schemaError: string | undefined;
  replicaAvailable: boolean | null;
}

export interface Grade {
  status: HealthState;
  reasons: string[];
}

const RANK: Record<HealthState, number> = { healthy: 0, warning: 1, critical: 2 };

const percent = (share: number): string => `${Math.round(share * 1000) / 10}%`;
const seconds = (ms: number): string => (ms >= 120_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 100) / 10} s`);

/** Collects reasons and keeps the worst level seen. */
export class Grader {
  private status: HealthState = 'healthy';
  private readonly reasons: string[] = [];

  add(level: Exclude<HealthState, 'healthy'>, reason: string): void {
    if (RANK[level] > RANK[this.status]) this.status = level;
    this.reasons.push(reason);
  }

  context(context: HealthContext): void {
    if (context.schemaError !== undefined) this.add('critical', `schema initialization failed: ${context.schemaError}`);
    if (context.replicaAvailable === false) this.add('warning', 'replica unavailable (unreachable or out of connections): reads go to the primary');
  }

  pool(facts: PoolFacts, t: Readonly<HealthThresholds>): void {
    const label = `pool "${facts.name}"`;
    const utilization = facts.max === 0 ? 0 : facts.used / facts.max;
    const inUse = `${facts.used} of ${facts.max} connections in use (${percent(utilization)}`;
    if (utilization >= t.utilizationCritical) this.add('critical', `${label}: ${inUse} ≥ ${percent(t.utilizationCritical)})`);
    else if (utilization >= t.utilizationWarning) this.add('warning', `${label}: ${inUse} ≥ ${percent(t.utilizationWarning)})`);

    if (facts.waiting > 0) {
      const callers = `${facts.waiting} caller${facts.waiting === 1 ? '' : 's'} waiting for a connection`;
      if (facts.waitingRun >= t.waitingSnapshots) {
        const span = seconds(facts.waitingRun * facts.snapshotIntervalMs);
        this.add('critical', `${label}: ${callers}, and callers have waited in each of the last ${facts.waitingRun} snapshots (${span})`);
      } else this.add('warning', `${label}: ${callers}`);
    }

    if (facts.attempts > 0) {
      const window = seconds(facts.rateWindowMs);
      const timeoutRate = facts.timeouts / facts.attempts;
      const timedOut = `${facts.timeouts} of ${facts.attempts} acquisitions timed out in the last ${window} (${percent(timeoutRate)}`;
      if (timeoutRate > t.timeoutRateCritical) this.add('critical', `${label}: ${timedOut} > ${percent(t.timeoutRateCritical)})`);
      else if (timeoutRate > t.timeoutRateWarning) this.add('warning', `${label}: ${timedOut} > ${percent(t.timeoutRateWarning)})`);
      const failureRate = facts.failures / facts.attempts;
      const failed = `${facts.failures} of ${facts.attempts} acquisitions failed to connect in the last ${window} (${percent(failureRate)}`;
      // Reads fall back to the primary when the replica cannot be reached: degraded, not down.
      const severe = facts.role === 'replica' ? 'warning' : 'critical';
      if (failureRate > t.failureRateCritical) this.add(severe, `${label}: ${failed} > ${percent(t.failureRateCritical)})`);
      else if (failureRate > t.failureRateWarning) this.add('warning', `${label}: ${failed} > ${percent(t.failureRateWarning)})`);
    }

    if (facts.leaksHeld > 0) {
      const leases = facts.leaksHeld === 1 ? '1 connection is' : `${facts.leaksHeld} connections are`;
      this.add('warning', `${label}: ${leases} held past the leak detection threshold (longest ${seconds(facts.longestLeakMs)}); see leaks.active for the borrowers' stacks`);
    }
    if (facts.busyRun >= t.suspectedLeakSnapshots) {
      const span = seconds(facts.busyRun * facts.snapshotIntervalMs);
      this.add('warning', `${label}: utilization ≥ ${percent(t.suspectedLeakUtilization)} in each of the last ${facts.busyRun} snapshots (${span}): suspected connection leak`);
    }
  }

  result(): Grade {
    return { status: this.status, reasons: [...this.reasons] };
  }
}
