// The leak book: leases held past the leak threshold, those returned late, and the leak report built from them.
import { roundMs } from './acquisition-window.js';
import type { LeakReport, LeakWarning, SuspectedLeak } from './report.js';
import type { LeakEvent, Logger, PoolRole } from '../../tracker.js';

/** Leaks returned late that stay listed in the report. */
const RESOLVED_LEAKS_KEPT = 20;

interface HeldLeak {
  warning: LeakWarning;
  /** performance.now() and held time when it was detected, so the held time stays current. */
  detectedPerf: number;
  heldAtDetectionMs: number;
}

/** Leaks held on one pool at one moment, as health grades them. */
export interface HeldLeaks {
  leaksHeld: number;
  longestLeakMs: number;
}

const seconds = (s: number): string => `${Math.round(s * 10) / 10} s`;

/** The log line's words for what the connection was doing; the text is already normalized. */
function doing(warning: LeakWarning): string {
  if (warning.statement === undefined) return '';
  return warning.statementRunning ? `, running ${warning.statement}` : `, its last statement ${warning.statement}`;
}

export class LeakBook {
  private readonly held = new Map<number, HeldLeak>();
  private readonly resolved: LeakWarning[] = [];
  private detectedCount = 0;
  private resolvedCount = 0;

  /** `normalize`: literals replaced by placeholders, as everywhere a text is shown. */
  constructor(
    private readonly logger: Logger,
    private readonly normalize: (sql: string) => string,
  ) {}

  leakHeld(event: LeakEvent): void {
    const heldMs = event.heldSeconds * 1000;
    const warning: LeakWarning = {
      leaseId: event.leaseId,
      pool: event.pool.name,
      role: event.pool.role,
      heldMs: roundMs(heldMs),
      detectedAt: new Date().toISOString(),
      stack: event.stack,
    };
    if (event.statement !== undefined) {
      warning.statement = this.normalize(event.statement.sql);
      warning.statementRunning = event.statement.running;
    }
    this.held.set(event.leaseId, { warning, detectedPerf: performance.now(), heldAtDetectionMs: heldMs });
    this.detectedCount++;
    // HikariCP's wording, so the line is recognizable to anyone who has met it there.
    this.logger.warn(
      `otel-pg-manager: connection leak detection triggered for lease #${event.leaseId} of pool "${event.pool.name}": held for ${seconds(event.heldSeconds)} without being released${doing(warning)}; acquired at:\n${event.stack ?? '    (no stack captured)'}`,
    );
  }

  leakReturned(event: LeakEvent): void {
    const held = this.held.get(event.leaseId);
    this.held.delete(event.leaseId);
    this.resolvedCount++;
    this.resolved.push({
      ...held?.warning,
      leaseId: event.leaseId,
      pool: event.pool.name,
      role: event.pool.role,
      heldMs: roundMs(event.heldSeconds * 1000),
      detectedAt: held?.warning.detectedAt ?? new Date().toISOString(),
      resolvedAt: new Date().toISOString(),
      stack: event.stack,
    });
    if (this.resolved.length > RESOLVED_LEAKS_KEPT) this.resolved.shift();
    this.logger.info?.(
      `otel-pg-manager: previously reported leaked lease #${event.leaseId} of pool "${event.pool.name}" was returned after ${seconds(event.heldSeconds)} (unleaked)`,
    );
  }

  /** `now` is a performance.now() reading. */
  heldOn(role: PoolRole, now: number): HeldLeaks {
    let leaksHeld = 0;
    let longestLeakMs = 0;
    for (const leak of this.held.values()) {
      if (leak.warning.role !== role) continue;
      leaksHeld++;
      longestLeakMs = Math.max(longestLeakMs, leak.heldAtDetectionMs + now - leak.detectedPerf);
    }
    return { leaksHeld, longestLeakMs };
  }

  report(suspected: SuspectedLeak[]): LeakReport {
    const now = performance.now();
    return {
      detected: this.detectedCount,
      resolved: this.resolvedCount,
      active: [...this.held.values()].map(({ warning, detectedPerf, heldAtDetectionMs }) => ({
        ...warning,
        heldMs: roundMs(heldAtDetectionMs + now - detectedPerf),
      })),
      recentlyResolved: [...this.resolved],
      suspected,
    };
  }
}
