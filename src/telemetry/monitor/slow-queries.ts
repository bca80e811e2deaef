// Slow executions: counted per fingerprint, logged at most once per fingerprint per warning interval.
import type { QueryStats } from './query-stats.js';
import type { Logger } from '../../tracker.js';

/** Slow-query warnings show at most this much of the normalized text. */
const LOGGED_QUERY_LENGTH = 500;

export class SlowQueryLog {
  constructor(
    private readonly logger: Logger,
    readonly thresholdMs: number,
    private readonly warnEveryMs: number,
  ) {}

  /** Counted every time; logged at most once per fingerprint per warning interval, with the count it stood for. */
  record(stats: QueryStats, poolName: string, ms: number, at: number): void {
    stats.slowExecutions++;
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
      `otel-pg-manager: slow query on pool "${poolName}": ${Math.round(ms)} ms (threshold ${this.thresholdMs} ms${more}) [${stats.shape.fingerprint}] ${shown}`,
    );
  }
}
