// In-process aggregator for apps without a collector: health, slow queries, leaks, history. (Being built: issue 4.)
import type { Logger, PoolTracker } from './tracker.js';

export interface MonitorOptions {
  slowQueryThresholdMs: number;
  logger: Logger;
}

/** Facts the manager knows that the monitor cannot see through PoolTracker events. */
export interface HealthContext {
  schemaError: string | undefined;
  replicaAvailable: boolean | null;
}

export type HealthState = 'healthy' | 'warning' | 'critical';

export interface MonitorReport {
  status: HealthState;
  reasons: string[];
}

export class ConnectionMonitor implements PoolTracker {
  constructor(readonly options: MonitorOptions) {}

  close(): void {}

  report(_context: HealthContext): MonitorReport {
    return { status: 'healthy', reasons: [] };
  }
}
