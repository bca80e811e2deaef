// The pooler in the health report: the latest reading of PgBouncer's console, graded when clients wait in it.
import type { PoolerSample } from '../../tracker.js';
import type { Grader, HealthThresholds } from './health.js';

/** A reading older than this many intervals is stale. */
const STALE_INTERVALS = 3;

/** What getPoolMetrics() shows of the pooler: its latest reading, and how many readings in a row had clients waiting. */
export interface PoolerReport extends PoolerSample {
  /** Readings in a row, up to the latest, in which clients waited for a server connection. */
  readonly waitingReadings: number;
}

export class PoolerHealth {
  private latest: PoolerSample | undefined;
  private waitingReadings = 0;

  record(sample: PoolerSample): void {
    this.waitingReadings = sample.clients.waiting > 0 ? this.waitingReadings + 1 : 0;
    this.latest = sample;
  }

  report(): PoolerReport | undefined {
    return this.latest && { ...this.latest, waitingReadings: this.waitingReadings };
  }

  /**
   * Clients waiting in the pooler: a warning at once, critical when the oldest has waited `poolerWaitCriticalSeconds`
   * or more, or clients have waited in each of the last `poolerWaitingReadings` readings. The queue is shared by every
   * instance that uses the pool, so every instance reports it: the reason says where it is and what to change.
   */
  grade(grader: Grader, thresholds: Pick<HealthThresholds, 'poolerWaitCriticalSeconds' | 'poolerWaitingReadings'>, now = Date.now()): void {
    const sample = this.latest;
    if (!sample) return;
    const label = `pgbouncer pool ${sample.database}/${sample.user} at ${sample.address}`;
    const age = now - sample.sampledAt;
    if (age > STALE_INTERVALS * sample.intervalMs) {
      grader.add('warning', `${label}: no reading of the admin console for ${(age / 1000).toFixed(0)} s; the pooler figures are stale`);
      return;
    }
    const { waiting } = sample.clients;
    if (waiting === 0) return;
    const size = sample.poolSize === undefined ? '' : ` of ${sample.poolSize}`;
    const reason =
      `${label}: ${waiting} client${waiting === 1 ? '' : 's'} waiting for a server connection (oldest ${sample.maxWaitSeconds.toFixed(3)} s), ` +
      `${sample.servers.active}${size} server connections active; the queue is in the pooler, shared by every instance: ` +
      "raise its default_pool_size if PostgreSQL has room, or lower the instances' maxConnections";
    const persisted = this.waitingReadings >= thresholds.poolerWaitingReadings;
    if (persisted) {
      const readings = this.waitingReadings === 1 ? 'the last reading' : `each of the last ${this.waitingReadings} readings`;
      grader.add('critical', `${reason} (waiting in ${readings})`);
    } else grader.add(sample.maxWaitSeconds >= thresholds.poolerWaitCriticalSeconds ? 'critical' : 'warning', reason);
  }
}
