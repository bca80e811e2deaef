// Each pool as the monitor records it: counters, the snapshot history ring, and the view that health and reports read.
import { AcquisitionWindow, roundMs, type AcquisitionSummary } from './acquisition-window.js';
import type { HealthThresholds, PoolFacts } from './health.js';
import type { HeldLeaks, LeakBook } from './leaks.js';
import type { PoolSnapshot, SuspectedLeak } from './report.js';
import type { TrackedPool } from '../../tracker.js';

/** Snapshots kept per pool (the seed's metrics_history). */
export const HISTORY_SIZE = 60;

/** A share (0–1) to three decimals, short in JSON. */
export const share = (part: number, whole: number): number => (whole === 0 ? 0 : Math.round((part / whole) * 1000) / 1000);

export class PoolRecord {
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

  acquired(ms: number): void {
    this.acquisitions++;
    this.window.record(ms);
    this.intervalCount++;
    this.intervalSumMs += ms;
    if (ms > this.intervalMaxMs) this.intervalMaxMs = ms;
  }

  snapshot(timestamp: string): void {
    const { total, idle, waiting } = this.pool.counts();
    const active = total - idle;
    this.history.push(
      Object.freeze({
        timestamp,
        poolSize: total,
        available: idle,
        active,
        waiting,
        utilization: share(active, this.pool.max),
        totalAcquisitions: this.acquisitions,
        acquisitionTimeouts: this.timeouts,
        acquisitionFailures: this.failures,
        avgAcquisitionMs: this.intervalCount === 0 ? 0 : roundMs(this.intervalSumMs / this.intervalCount),
        maxAcquisitionMs: roundMs(this.intervalMaxMs),
        slowQueries: this.intervalSlow,
      }),
    );
    if (this.history.length > HISTORY_SIZE) this.history.shift();
    this.intervalCount = 0;
    this.intervalSumMs = 0;
    this.intervalMaxMs = 0;
    this.intervalSlow = 0;
  }
}

/** Everything read once per report, shared by the health grade and the statistics. */
export interface PoolView {
  record: PoolRecord;
  summary: AcquisitionSummary;
  facts: PoolFacts;
}

/** The records of every pool, snapshotted together on the monitor's interval. */
export class PoolBook {
  private readonly records = new Map<TrackedPool, PoolRecord>();
  private readonly startedAt = performance.now();
  private lastSnapshotAt = this.startedAt;

  constructor(
    private readonly intervalMs: number,
    private readonly thresholds: Readonly<HealthThresholds>,
  ) {}

  record(pool: TrackedPool): PoolRecord {
    let record = this.records.get(pool);
    if (record === undefined) {
      record = new PoolRecord(pool);
      this.records.set(pool, record);
    }
    return record;
  }

  snapshot(): void {
    const timestamp = new Date().toISOString();
    this.lastSnapshotAt = performance.now();
    for (const record of this.records.values()) record.snapshot(timestamp);
  }

  views(leaks: LeakBook): PoolView[] {
    const now = performance.now();
    return [...this.records.values()].map((record) => this.view(record, now, leaks.heldOn(record.pool.role, now)));
  }

  private view(record: PoolRecord, now: number, leaks: HeldLeaks): PoolView {
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
        ...leaks,
      },
    };
  }
}

/** The seed's heuristic: pools whose utilization stayed high through the latest `suspectedLeakSnapshots` snapshots. */
export function suspectedLeaks(views: PoolView[], t: Readonly<HealthThresholds>): SuspectedLeak[] {
  const suspected: SuspectedLeak[] = [];
  for (const { facts, record } of views) {
    if (facts.busyRun < t.suspectedLeakSnapshots) continue;
    const run = record.history.slice(-facts.busyRun);
    suspected.push({
      pool: facts.name,
      role: facts.role,
      snapshots: facts.busyRun,
      since: run[0]!.timestamp,
      minUtilization: Math.min(...run.map((s) => s.utilization)),
    });
  }
  return suspected;
}
