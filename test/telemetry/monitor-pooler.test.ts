// The pooler's rule in the health report, graded against monitor.thresholds: readings of PgBouncer's console as the
// console reader hands them to the monitor (test/pooler/pgbouncer-console.test.ts takes them from a real PgBouncer).
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, DEFAULT_HEALTH_THRESHOLDS, type HealthThresholds, type PoolerSample } from '../../src/index.js';
import { ConnectionMonitor } from '../../src/telemetry/monitor/monitor.js';
import { capturingLogger } from '../support/manager.js';

const monitors: ConnectionMonitor[] = [];

afterEach(() => {
  for (const monitor of monitors.splice(0)) monitor.close();
});

function monitorWith(thresholds: Partial<HealthThresholds> = {}): ConnectionMonitor {
  const monitor = new ConnectionMonitor({ slowQueryThresholdMs: 1000, logger: capturingLogger(), thresholds });
  monitors.push(monitor);
  return monitor;
}

function reading(waiting: number, maxWaitSeconds: number): PoolerSample {
  return {
    pooler: 'pgbouncer',
    address: 'pgbouncer:6432',
    database: 'app',
    user: 'app',
    clientPool: 'primary',
    poolMode: 'transaction',
    poolSize: 20,
    clients: { active: 20, waiting },
    servers: { active: 20, idle: 0, used: 0, tested: 0, login: 0 },
    maxWaitSeconds,
    totals: { transactions: 100, queries: 100, waitSeconds: 1 },
    sampledAt: Date.now(),
    intervalMs: 1000,
  };
}

/** The pooler's reason and the status, after each reading in turn. */
function gradedAfter(monitor: ConnectionMonitor, readings: PoolerSample[]): { status: string; reason: string | undefined }[] {
  return readings.map((sample) => {
    monitor.poolerSampled(sample);
    const { status, reasons } = monitor.getHealthStatus();
    return { status, reason: reasons.find((r) => r.startsWith('pgbouncer pool')) };
  });
}

describe('clients waiting in the pooler', () => {
  it('by default: a warning at once, critical in the third reading in a row or once the oldest has waited 1 s', () => {
    expect(DEFAULT_HEALTH_THRESHOLDS).toMatchObject({ poolerWaitCriticalSeconds: 1, poolerWaitingReadings: 3 });
    const graded = gradedAfter(monitorWith(), [reading(4, 0.2), reading(4, 0.2), reading(4, 0.2), reading(0, 0), reading(2, 1)]);
    expect(graded.map((g) => g.status)).toEqual(['warning', 'warning', 'critical', 'healthy', 'critical']);
    expect(graded[0]!.reason).toBe(
      'pgbouncer pool app/app at pgbouncer:6432: 4 clients waiting for a server connection (oldest 0.200 s), 20 of 20 server ' +
        "connections active; the queue is in the pooler, shared by every instance: raise its default_pool_size if PostgreSQL has room, or lower the instances' maxConnections",
    );
    expect(graded[2]!.reason).toMatch(/ \(waiting in each of the last 3 readings\)$/);
    expect(graded[4]!.reason).toContain('(oldest 1.000 s)');
    expect(graded[4]!.reason).not.toContain('waiting in');
  });

  it('with the app\'s thresholds: critical from the first reading, or only past a longer wait', () => {
    const eager = gradedAfter(monitorWith({ poolerWaitingReadings: 1 }), [reading(1, 0.01)]);
    expect(eager).toEqual([{ status: 'critical', reason: expect.stringMatching(/1 client waiting .* \(waiting in the last reading\)$/) }]);

    const patient = gradedAfter(monitorWith({ poolerWaitCriticalSeconds: 5, poolerWaitingReadings: 10 }), [
      reading(3, 2),
      reading(3, 4.9),
      reading(3, 5),
    ]);
    expect(patient.map((g) => g.status)).toEqual(['warning', 'warning', 'critical']);
  });

  it.each([
    [{ poolerWaitingReadings: 0 }, 'monitor.thresholds.poolerWaitingReadings', 'must be a whole number of readings of at least 1, got 0'],
    [{ poolerWaitingReadings: 1.5 }, 'monitor.thresholds.poolerWaitingReadings', 'got 1.5'],
    [{ poolerWaitCriticalSeconds: 0 }, 'monitor.thresholds.poolerWaitCriticalSeconds', 'must be a number of seconds above 0, got 0'],
    [{ poolerWaitCriticalSeconds: Number.POSITIVE_INFINITY }, 'monitor.thresholds.poolerWaitCriticalSeconds', 'got Infinity'],
  ])('refuses %j, naming the threshold', (thresholds, field, problem) => {
    let error: unknown;
    try {
      monitorWith(thresholds);
    } catch (thrown) {
      error = thrown;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ field });
    expect((error as Error).message).toContain(problem);
  });

  it('has no upper bound on readings: they are counted as they come, not kept in the history', () => {
    expect(() => monitorWith({ poolerWaitingReadings: 10_000 })).not.toThrow();
  });
});
