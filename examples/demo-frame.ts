// Each frame of the demo view: the manager's metrics, the load's counters, and rates since the previous frame.
import type { PostgresManager } from '../src/index.js';
import { STEADY_CLIENTS, type LoadStats } from './load.js';
import type { ViewFrame } from './terminal-view.js';

export interface FrameContext {
  database: string;
  urls: ViewFrame['urls'];
  durationSeconds: number;
  slowQueryThresholdMs: number;
}

const sum = (values: Iterable<number>): number => {
  let total = 0;
  for (const value of values) total += value;
  return total;
};

export class FrameBuilder {
  private readonly startedAt = performance.now();
  private previous = { at: this.startedAt, queries: 0, requests: 0 };

  constructor(
    private readonly db: PostgresManager,
    private readonly context: FrameContext,
  ) {}

  build(load: LoadStats, log: readonly string[]): ViewFrame {
    const now = performance.now();
    const metrics = this.db.getPoolMetrics();
    // Executions per fingerprint, over every fingerprint the monitor tracks (the demo has a handful).
    const queries = sum(this.db.getQueryStats(metrics.queries.tracked).map((q) => q.executions));
    const requests = sum(Object.values(load.responses));
    const seconds = Math.max(0.001, (now - this.previous.at) / 1000);
    const frame: ViewFrame = {
      ...this.context,
      elapsedSeconds: (now - this.startedAt) / 1000,
      metrics,
      // An evicted fingerprint takes its count along; a rate never goes below zero for it.
      queriesPerSecond: Math.max(0, queries - this.previous.queries) / seconds,
      queries,
      requestsPerSecond: (requests - this.previous.requests) / seconds,
      responses: load.responses,
      activity:
        `${load.clients} HTTP clients${load.clients > STEADY_CLIENTS ? ` (burst no. ${load.bursts})` : ''} · ` +
        `slow reports ${load.slowReports} · leaked connection: ${load.leak}`,
      log,
    };
    this.previous = { at: now, queries, requests };
    return frame;
  }
}
