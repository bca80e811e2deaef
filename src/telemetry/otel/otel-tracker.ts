// OpenTelemetry tracker: semantic-convention pool metrics, spans for slow, failed and retried calls, leak events.
import {
  ROOT_CONTEXT,
  context,
  metrics,
  trace,
  type BatchObservableResult,
  type Counter,
  type Meter,
  type MeterProvider,
  type Observable,
  type ObservableUpDownCounter,
  type TracerProvider,
} from '@opentelemetry/api';
import {
  METRIC_DB_CLIENT_CONNECTION_COUNT,
  METRIC_DB_CLIENT_CONNECTION_IDLE_MIN,
  METRIC_DB_CLIENT_CONNECTION_MAX,
  METRIC_DB_CLIENT_CONNECTION_PENDING_REQUESTS,
  METRIC_DB_CLIENT_CONNECTION_TIMEOUTS,
} from '@opentelemetry/semantic-conventions/incubating';
import { ConfigError } from '../../errors.js';
import { sharedShapes } from '../../sql/shape-cache.js';
import type { LeakEvent, PoolTracker, QueryEvent, RetryEvent, TrackedPool } from '../../tracker.js';
import type { PgMetricProducer } from './metric-producer.js';
import { HISTOGRAMS, METRIC_PG_MANAGER_CONNECTION_LEAKS, METRIC_PG_MANAGER_RETRIES, METRIC_PG_MANAGER_SLOW_QUERIES } from './names.js';
import { PoolSeries, type RecorderFactory } from './pool-series.js';
import { producerFor } from './producer-attach.js';
import { INSTRUMENTATION_SCOPE } from './scope.js';
import { TrackerSpans, errorTypeOf } from './spans.js';

export interface TelemetryOptions {
  /** Defaults to the global meter provider (a no-op until the app registers an SDK, so register it first). */
  meterProvider?: MeterProvider;
  /** Defaults to the global tracer provider. */
  tracerProvider?: TracerProvider;
  /** A span for every logical call, not only slow, failed and retried ones (default false). */
  traceAllQueries?: boolean;
  /** Fraction (0 to 1) of fast, successful calls that get a span anyway (default 0). */
  sampleRatio?: number;
  /** Query spans only when the call began inside an active span, as in instrumentation-pg (default false). */
  requireParentSpan?: boolean;
  /**
   * Where the histograms are aggregated. By default the producer of `pgMetricProducers()` when your
   * reader holds it, else one added to the meter provider's readers when they would export it
   * unchanged (an sdk-metrics 2.x provider, cumulative, default aggregation, no views), else SDK
   * instruments. A PgMetricProducer that your reader also includes is used as given; `false`
   * always records through SDK instruments (so views apply), at several µs more per query.
   */
  metricProducer?: PgMetricProducer | false;
}

export interface OtelTrackerOptions extends TelemetryOptions {
  slowQueryThresholdMs: number;
}

class OtelTracker implements PoolTracker {
  private readonly meter: Meter;
  private readonly spans: TrackerSpans;
  private readonly slowQueryThresholdSeconds: number;
  private readonly traceAllQueries: boolean;
  private readonly sampleRatio: number;
  private readonly series = new Map<TrackedPool, PoolSeries>();

  private readonly connectionCount: ObservableUpDownCounter;
  private readonly connectionMax: ObservableUpDownCounter;
  private readonly connectionIdleMin: ObservableUpDownCounter;
  private readonly pendingRequests: ObservableUpDownCounter;
  private readonly observables: Observable[];
  private readonly timeouts: Counter;
  private readonly recorder: RecorderFactory;
  private readonly leaks: Counter;
  private readonly slowQueries: Counter;
  private readonly retries: Counter;

  constructor(options: OtelTrackerOptions) {
    const sampleRatio = options.sampleRatio ?? 0;
    if (!(sampleRatio >= 0 && sampleRatio <= 1)) {
      throw new ConfigError('telemetry.sampleRatio', `must be a number from 0 to 1, got ${String(sampleRatio).slice(0, 20)}`);
    }
    this.sampleRatio = sampleRatio;
    this.traceAllQueries = options.traceAllQueries === true;
    this.slowQueryThresholdSeconds = options.slowQueryThresholdMs / 1000;
    const { name, version } = INSTRUMENTATION_SCOPE;
    const meterProvider = options.meterProvider ?? metrics.getMeterProvider();
    this.meter = meterProvider.getMeter(name, version);
    const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(name, version);
    this.spans = new TrackerSpans(tracer, options.requireParentSpan === true);
    const meter = this.meter;

    this.connectionCount = meter.createObservableUpDownCounter(METRIC_DB_CLIENT_CONNECTION_COUNT, {
      unit: '{connection}',
      description: 'The number of connections that are currently in state described by the state attribute.',
    });
    this.connectionMax = meter.createObservableUpDownCounter(METRIC_DB_CLIENT_CONNECTION_MAX, {
      unit: '{connection}',
      description: 'The maximum number of open connections allowed.',
    });
    this.connectionIdleMin = meter.createObservableUpDownCounter(METRIC_DB_CLIENT_CONNECTION_IDLE_MIN, {
      unit: '{connection}',
      description: 'The minimum number of idle open connections allowed.',
    });
    this.pendingRequests = meter.createObservableUpDownCounter(METRIC_DB_CLIENT_CONNECTION_PENDING_REQUESTS, {
      unit: '{request}',
      description: 'The number of current pending requests for an open connection.',
    });
    this.observables = [this.connectionCount, this.connectionMax, this.connectionIdleMin, this.pendingRequests];
    // One callback for all four gauges: each pool's counts are read once per collection.
    meter.addBatchObservableCallback(this.observe, this.observables);

    this.timeouts = meter.createCounter(METRIC_DB_CLIENT_CONNECTION_TIMEOUTS, {
      unit: '{timeout}',
      description: 'The number of connection timeouts that have occurred trying to obtain a connection from the pool.',
    });
    const producer = options.metricProducer === false ? undefined : (options.metricProducer ?? producerFor(meterProvider));
    this.recorder = producer ? this.producerRecorder(producer) : this.instrumentRecorder(meter);
    this.leaks = meter.createCounter(METRIC_PG_MANAGER_CONNECTION_LEAKS, {
      unit: '{lease}',
      description: 'Leases held past the leak-detection threshold (otel-pg-manager extension).',
    });
    this.slowQueries = meter.createCounter(METRIC_PG_MANAGER_SLOW_QUERIES, {
      unit: '{query}',
      description: 'Logical calls that took at least the slow-query threshold (otel-pg-manager extension).',
    });
    this.retries = meter.createCounter(METRIC_PG_MANAGER_RETRIES, {
      unit: '{retry}',
      description: 'Failed attempts that were tried again (otel-pg-manager extension).',
    });
  }

  private producerRecorder(producer: PgMetricProducer): RecorderFactory {
    return (spec, attributes) => producer.recorder(spec, attributes);
  }

  private instrumentRecorder(meter: Meter): RecorderFactory {
    const instruments = new Map(
      HISTOGRAMS.map((spec) => [
        spec.name,
        meter.createHistogram(spec.name, {
          unit: spec.unit,
          description: spec.description,
          advice: { explicitBucketBoundaries: [...spec.boundaries] },
        }),
      ]),
    );
    return (spec, attributes) => {
      const histogram = instruments.get(spec.name)!;
      // Passing the root context skips the SDK's own context lookup; histograms take no exemplars from it here.
      return { record: (value) => histogram.record(value, attributes, ROOT_CONTEXT) };
    };
  }

  private seriesFor(pool: TrackedPool): PoolSeries {
    let series = this.series.get(pool);
    if (series === undefined) {
      series = new PoolSeries(pool, this.recorder);
      this.series.set(pool, series);
    }
    return series;
  }

  private readonly observe = (result: BatchObservableResult): void => {
    for (const series of this.series.values()) {
      const { pool } = series;
      const counts = pool.counts();
      result.observe(this.connectionCount, counts.total - counts.idle, series.used);
      result.observe(this.connectionCount, counts.idle, series.idle);
      result.observe(this.connectionMax, pool.max, series.common);
      result.observe(this.connectionIdleMin, pool.min, series.common);
      result.observe(this.pendingRequests, counts.waiting, series.common);
    }
  };

  poolAdded(pool: TrackedPool): void {
    const series = this.seriesFor(pool);
    // Counters start at 0 so that Prometheus' increase() sees the first timeout or leak: a series
    // that first appears at 1 has no earlier sample to rise from.
    this.timeouts.add(0, series.common);
    this.leaks.add(0, series.common);
  }

  captureContext(): unknown {
    return context.active();
  }

  acquired(pool: TrackedPool, waitSeconds: number): void {
    this.seriesFor(pool).waitAcquired.record(waitSeconds);
  }

  acquireTimedOut(pool: TrackedPool, waitSeconds: number): void {
    const series = this.seriesFor(pool);
    this.timeouts.add(1, series.common);
    series.waitTimedOut.record(waitSeconds);
  }

  acquireFailed(pool: TrackedPool, waitSeconds: number): void {
    this.seriesFor(pool).waitFailed.record(waitSeconds);
  }

  released(pool: TrackedPool, useSeconds: number): void {
    this.seriesFor(pool).useTime.record(useSeconds);
  }

  connectionCreated(pool: TrackedPool, seconds: number): void {
    this.seriesFor(pool).createTime.record(seconds);
  }

  queryFinished(event: QueryEvent): void {
    const series = this.seriesFor(event.pool);
    const shape = sharedShapes.shape(event.sql, event);
    const errorType = event.error === undefined ? undefined : errorTypeOf(event.error, event.sqlstate);
    const operation = errorType === undefined ? series.operation(shape) : series.failedOperation(shape, errorType, event.sqlstate);
    operation.duration.record(event.durationSeconds);
    const slow = event.executionSeconds !== undefined && event.executionSeconds >= this.slowQueryThresholdSeconds;
    if (slow) this.slowQueries.add(1, operation.attributes);
    // A fast, successful, first-time call gets no span: that is nearly every call, and the histogram covers it.
    if (
      slow ||
      errorType !== undefined ||
      event.attempts > 1 ||
      this.traceAllQueries ||
      (this.sampleRatio > 0 && Math.random() < this.sampleRatio)
    ) {
      this.spans.query(event, series.span, shape, errorType);
    }
  }

  retried(event: RetryEvent): void {
    this.retries.add(1, this.seriesFor(event.pool).retry(errorTypeOf(event.error, event.sqlstate), event.sqlstate));
  }

  leakDetected(event: LeakEvent): void {
    const series = this.seriesFor(event.pool);
    this.leaks.add(1, series.common);
    this.spans.leakDetected(series.span, event);
  }

  leakResolved(event: LeakEvent): void {
    this.spans.leakResolved(this.seriesFor(event.pool).span, event);
  }

  close(): void {
    this.meter.removeBatchObservableCallback(this.observe, this.observables);
    this.series.clear();
    this.spans.clear();
  }
}

/**
 * The OpenTelemetry tracker: pool metrics named by the database-client semantic conventions, one
 * CLIENT span per slow, failed or retried logical call (or sampled), and a span per leaked lease.
 * Throws ConfigError when `sampleRatio` is outside 0..1.
 */
export function createOtelTracker(options: OtelTrackerOptions): PoolTracker {
  return new OtelTracker(options);
}
