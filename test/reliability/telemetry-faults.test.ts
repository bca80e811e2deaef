// Scenario 9: trackers and exporters that throw or hang must never slow or fail a query.
import type { Context } from '@opentelemetry/api';
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import { MeterProvider, MetricReader, PeriodicExportingMetricReader, type PushMetricExporter, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import {
  BasicTracerProvider,
  BatchSpanProcessor,
  SimpleSpanProcessor,
  type ReadableSpan,
  type Span,
  type SpanExporter,
  type SpanProcessor,
} from '@opentelemetry/sdk-trace-base';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PoolTracker, PostgresManager } from '../../src/index.js';
import { createTestDatabase, eventually, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';
import { histogramCount } from '../support/otel.js';
import { CountingTracker } from './support/counting-tracker.js';
import { trapProcessFaults } from './support/process-trap.js';

trapProcessFaults();

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('telemetryfaults');
});

afterAll(async () => {
  await database.drop();
});

const never = new Promise<never>(() => undefined);

const throwingSpanExporter: SpanExporter = {
  export: () => {
    throw new Error('span exporter exploded');
  },
  shutdown: () => Promise.resolve(),
};
/** Never calls back, as an exporter stuck on a dead collector would. */
const hangingSpanExporter: SpanExporter = {
  export: () => undefined,
  shutdown: () => Promise.resolve(),
};
const throwingMetricExporter: PushMetricExporter = {
  export: (_metrics: ResourceMetrics, _done: (result: ExportResult) => void) => {
    throw new Error('metric exporter exploded');
  },
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};
const hangingMetricExporter: PushMetricExporter = {
  export: () => undefined,
  forceFlush: () => never,
  shutdown: () => never,
};
const failingMetricExporter: PushMetricExporter = {
  export: (_metrics, done) => done({ code: ExportResultCode.FAILED, error: new Error('collector said no') }),
  forceFlush: () => Promise.resolve(),
  shutdown: () => Promise.resolve(),
};

class ManualReader extends MetricReader {
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

/** A mixed workload of `n` calls: reads, writes in transactions, a failing statement every tenth call. */
async function workload(db: PostgresManager, n: number): Promise<{ ms: number; slowestMs: number; ok: number; sqlErrors: number }> {
  const started = performance.now();
  let slowestMs = 0;
  let ok = 0;
  let sqlErrors = 0;
  for (let i = 0; i < n; i++) {
    const t = performance.now();
    try {
      if (i % 10 === 9) await db.query('SELEC 1');
      else if (i % 10 === 5) await db.transaction((client) => client.query('SELECT $1::int AS v', [i]));
      else await db.read('SELECT $1::int AS v', [i]);
      ok++;
    } catch (error) {
      expect(error).toMatchObject({ code: '42601' });
      sqlErrors++;
    }
    slowestMs = Math.max(slowestMs, performance.now() - t);
  }
  return { ms: performance.now() - started, slowestMs, ok, sqlErrors };
}

const CALLS = 300;

describe('telemetry faults', () => {
  it('keeps every call fast and correct while span and metric exporters throw, fail and hang', async () => {
    const quiet = await createManager(database.url, { monitoringEnabled: false });
    const baseline = await workload(quiet.db, CALLS).finally(() => quiet.db.close());

    const manual = new ManualReader();
    const meterProvider = new MeterProvider({
      readers: [
        manual,
        new PeriodicExportingMetricReader({ exporter: throwingMetricExporter, exportIntervalMillis: 50, exportTimeoutMillis: 40 }),
        new PeriodicExportingMetricReader({ exporter: hangingMetricExporter, exportIntervalMillis: 50, exportTimeoutMillis: 40 }),
        new PeriodicExportingMetricReader({ exporter: failingMetricExporter, exportIntervalMillis: 50, exportTimeoutMillis: 40 }),
      ],
    });
    const tracerProvider = new BasicTracerProvider({
      spanProcessors: [
        new SimpleSpanProcessor(throwingSpanExporter),
        new SimpleSpanProcessor(hangingSpanExporter),
        new BatchSpanProcessor(hangingSpanExporter, { scheduledDelayMillis: 20, exportTimeoutMillis: 40, maxQueueSize: 100 }),
      ],
    });
    // Every call is slow by this threshold, so every call makes a span for the broken exporters.
    const { db, logger } = await createManager(database.url, { monitoringEnabled: true, slowQueryThresholdMs: 0, telemetry: { meterProvider, tracerProvider } });
    try {
      const faulty = await workload(db, CALLS);
      expect({ ok: faulty.ok, sqlErrors: faulty.sqlErrors }).toEqual({ ok: baseline.ok, sqlErrors: baseline.sqlErrors });
      // Generous: this machine is shared; a call blocked by an exporter would take forever, not 0.5 s.
      expect(faulty.slowestMs).toBeLessThan(500);
      expect(faulty.ms).toBeLessThan(baseline.ms * 3 + 1500);
      // The package's trackers were not the ones that failed, so they stayed on and kept counting.
      expect(logger.lines.filter((l) => l.includes('was disabled'))).toEqual([]);
      const { resourceMetrics } = await manual.collect();
      const metrics = resourceMetrics.scopeMetrics.flatMap((s) => s.metrics);
      // One sample per query()/read() call, failed ones included (270), and one per statement of each
      // transaction: BEGIN, its statement, COMMIT (30 × 3).
      expect(histogramCount(metrics, 'db.client.operation.duration')).toBe(CALLS - CALLS / 10 + (CALLS / 10) * 3);
    } finally {
      const closing = performance.now();
      await db.close({ timeoutMs: 1000 });
      expect(performance.now() - closing).toBeLessThan(1500);
      // The hanging exporters would block the providers' own shutdown; that is the application's to bound.
      void meterProvider.shutdown({ timeoutMillis: 100 }).catch(() => undefined);
      void tracerProvider.shutdown().catch(() => undefined);
    }
  });

  it('disables a tracker that throws from every method after one warning; the calls and the other trackers carry on', async () => {
    const { db, logger } = await createManager(database.url);
    const counting = new CountingTracker();
    const explode = (): never => {
      throw new Error('tracker exploded');
    };
    const throwing: PoolTracker = {
      captureContext: explode,
      acquired: explode,
      released: explode,
      queryFinished: explode,
      retried: explode,
      acquireTimedOut: explode,
      acquireFailed: explode,
      connectionCreated: explode,
      leakDetected: explode,
      leakResolved: explode,
      close: explode,
    };
    db.addTracker(throwing);
    db.addTracker(counting);
    try {
      const { ok, sqlErrors } = await workload(db, 50);
      expect({ ok, sqlErrors }).toEqual({ ok: 45, sqlErrors: 5 });
      expect(logger.lines.filter((l) => l.includes('threw') && l.includes('disabled'))).toHaveLength(1);
      expect(counting.counts.acquired).toBe(50);
      // A lease whose statement failed is released at the ReadyForQuery after the error, which can come after
      // the caller's rejection: the last failed call's release may still be on its way.
      expect(await eventually(async () => counting.counts.released, (n) => n === 50)).toBe(50);
    } finally {
      await db.close();
    }
  });

  it('neither fails a call nor leaves an unhandled rejection when tracker methods return promises that reject or never settle', async () => {
    const { db, logger } = await createManager(database.url);
    const rejecting: PoolTracker = {
      acquired: async () => {
        throw new Error('async tracker rejected');
      },
      queryFinished: async () => {
        throw new Error('async tracker rejected');
      },
      released: () => never,
    };
    db.addTracker(rejecting);
    try {
      const { ok, slowestMs } = await workload(db, 50);
      expect(ok).toBe(45);
      expect(slowestMs).toBeLessThan(500);
      // Give any stray rejection a turn to surface before the trap checks.
      await new Promise((r) => setTimeout(r, 50));
      expect(logger.lines.filter((l) => l.includes('rejected in') && l.includes('disabled'))).toHaveLength(1);
    } finally {
      await db.close();
    }
  });

  it('disables the OpenTelemetry tracker with one warning when a span processor throws, and queries go on', async () => {
    const explodingProcessor: SpanProcessor = {
      onStart: (_span: Span, _context: Context) => undefined,
      onEnd: (_span: ReadableSpan) => {
        throw new Error('span processor exploded');
      },
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    };
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [explodingProcessor] });
    const { db, logger } = await createManager(database.url, { monitoringEnabled: true, slowQueryThresholdMs: 0, telemetry: { tracerProvider } });
    try {
      const { ok } = await workload(db, 30);
      expect(ok).toBe(27);
      expect(logger.lines.filter((l) => l.includes('disabled'))).toHaveLength(1);
      // The monitor is a separate tracker and still sees every call.
      expect(db.getPoolMetrics().acquisition.primary?.total).toBeGreaterThanOrEqual(30);
    } finally {
      await db.close();
    }
  });

  it("keeps close()'s deadline when a tracker's close() never returns, even with a leaked lease", async () => {
    const { db } = await createManager(database.url);
    db.addTracker({ close: () => never });
    await db.getConnection();
    const started = performance.now();
    await db.close({ timeoutMs: 500 });
    const took = performance.now() - started;
    expect(took).toBeGreaterThanOrEqual(400);
    expect(took).toBeLessThan(2000);
  });
});
