// Per-fingerprint query statistics (the seed's QueryMetrics) in a table bounded by least-recent use.
import type { QueryShape } from '../../sql/shape.js';
import { percentile, roundMs } from './acquisition-window.js';
import { wallClockMs } from '../wall-clock.js';

/** Durations kept per fingerprint for its p95: the latest executions, so the figure follows change. */
const RECENT_DURATIONS = 64;
const FIRST_DURATIONS = 4;

export interface QueryStatsReport {
  fingerprint: string;
  /** Normalized text: literals replaced by placeholders. */
  query: string;
  /** db.query.summary: the operations and tables in the order written (`SELECT orders customers`), '' when none. */
  summary: string;
  /** The first keyword, upper-cased, and the single table, parsed from the text. */
  operation: string | undefined;
  collection: string | undefined;
  executions: number;
  errors: number;
  /** Failed executions by SQLSTATE (or the client error code when the server sent none). */
  errorsByCode: Record<string, number>;
  avgMs: number;
  maxMs: number;
  /** Over the latest 64 executions. */
  p95Ms: number;
  rows: number;
  slowExecutions: number;
  lastExecutionAt: string;
}

/** performance.now() readings -> wall-clock ISO time, without reading the wall clock per query. */
export const isoFromPerformance = (at: number): string => new Date(wallClockMs(at)).toISOString();

export class QueryStats {
  executions = 0;
  errors = 0;
  totalMs = 0;
  maxMs = 0;
  rows = 0;
  slowExecutions = 0;
  /** performance.now() when the latest execution finished. */
  lastAt = 0;
  /** When a slow-query warning for this fingerprint was last logged, and slow executions since then. */
  warnedAt = Number.NEGATIVE_INFINITY;
  slowSinceWarning = 0;
  /** Second-chance bit of the table's eviction clock. */
  used = false;
  private errorsByCode: Map<string, number> | undefined;
  // Grown as executions come: most fingerprints of an app that inlines literals or builds SQL run a
  // few times, and a full window for each of 1,000 of them was half a megabyte.
  private recent = new Float64Array(FIRST_DURATIONS);
  private next = 0;

  constructor(readonly shape: QueryShape) {}

  record(ms: number, rowCount: number | null, at: number): void {
    this.executions++;
    this.totalMs += ms;
    if (ms > this.maxMs) this.maxMs = ms;
    if (rowCount !== null) this.rows += rowCount;
    this.lastAt = at;
    if (this.next === this.recent.length) {
      if (this.recent.length < RECENT_DURATIONS) {
        const grown = new Float64Array(Math.min(RECENT_DURATIONS, this.recent.length * 4));
        grown.set(this.recent);
        this.recent = grown;
      } else this.next = 0;
    }
    this.recent[this.next++] = ms;
  }

  recordError(code: string): void {
    this.errors++;
    this.errorsByCode ??= new Map();
    this.errorsByCode.set(code, (this.errorsByCode.get(code) ?? 0) + 1);
  }

  p95Ms(): number {
    const sorted = this.recent.slice(0, Math.min(this.executions, RECENT_DURATIONS)).sort();
    return roundMs(percentile(sorted, 0.95));
  }

  report(): QueryStatsReport {
    return {
      fingerprint: this.shape.fingerprint,
      query: this.shape.normalized,
      summary: this.shape.summary,
      operation: this.shape.operation,
      collection: this.shape.collection,
      executions: this.executions,
      errors: this.errors,
      errorsByCode: Object.fromEntries(this.errorsByCode ?? []),
      avgMs: this.executions === 0 ? 0 : roundMs(this.totalMs / this.executions),
      maxMs: roundMs(this.maxMs),
      p95Ms: this.p95Ms(),
      rows: this.rows,
      slowExecutions: this.slowExecutions,
      lastExecutionAt: isoFromPerformance(this.lastAt),
    };
  }
}

/**
 * At most `max` fingerprints. Eviction approximates least-recently-used with the CLOCK scheme, so
 * a hit costs one Map lookup and one store: Map order is the queue, a hit sets `used`, and the
 * sweep gives used entries a second chance at the back instead of evicting them.
 */
export class QueryTable {
  private readonly stats = new Map<string, QueryStats>();
  private evicted = 0;

  constructor(private readonly max: number) {}

  get size(): number {
    return this.stats.size;
  }

  get evictions(): number {
    return this.evicted;
  }

  statsFor(shape: QueryShape): QueryStats {
    const found = this.stats.get(shape.fingerprint);
    if (found !== undefined) {
      found.used = true;
      return found;
    }
    if (this.stats.size >= this.max) this.evictOne();
    const created = new QueryStats(shape);
    this.stats.set(shape.fingerprint, created);
    return created;
  }

  /** The `limit` first of the statistics `keep` accepts, in `order`, as reports. */
  top(limit: number, keep: (s: QueryStats) => boolean, order: (a: QueryStats, b: QueryStats) => number): QueryStatsReport[] {
    const chosen: QueryStats[] = [];
    for (const stats of this.stats.values()) if (keep(stats)) chosen.push(stats);
    return chosen
      .sort(order)
      .slice(0, Math.max(0, limit))
      .map((s) => s.report());
  }

  private evictOne(): void {
    for (const [key, entry] of this.stats) {
      this.stats.delete(key);
      if (entry.used) {
        entry.used = false;
        this.stats.set(key, entry);
        continue;
      }
      this.evicted++;
      return;
    }
  }
}
