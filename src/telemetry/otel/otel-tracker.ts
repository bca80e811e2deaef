// OpenTelemetry tracker: semantic-convention pool metrics, spans for slow, failed and retried calls, leak events.
import {
  ProxyTracerProvider,
  ROOT_CONTEXT,
  context,
  createNoopMeter,
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
  METRIC_DB_CLIENT_CONNECTION_LIMIT,
  METRIC_DB_CLIENT_CONNECTION_MAX,
  METRIC_DB_CLIENT_CONNECTION_PENDING_REQUESTS,
  METRIC_DB_CLIENT_CONNECTION_TIMEOUTS,
} from '@opentelemetry/semantic-conventions/incubating';
import { ConfigError } from '../../errors.js';
import type { QueryShape } from '../../sql/shape.js';
import { sharedShapes } from '../../sql/shape-cache.js';
import type { LeakEvent, Logger, PoolerSample, PoolTracker, QueryEvent, RetryEvent, TrackedPool } from '../../tracker.js';
import { PoolerMetrics } from './pooler-metrics.js';
import type { PgMetricProducer } from './metric-producer.js';
import type { OtelTrackerOptions, TelemetryOptions } from './telemetry-options.js';
import { HISTOGRAMS, METRIC_PG_MANAGER_CONNECTION_LEAKS, METRIC_PG_MANAGER_RETRIES, METRIC_PG_MANAGER_SLOW_QUERIES } from './names.js';
import { PoolSeries, type OperationNames, type RecorderFactory } from './pool-series.js';
import { producerFor } from './producer-attach.js';
import { INSTRUMENTATION_SCOPE } from './scope.js';
import { TrackerSpans, errorTypeOf } from './spans.js';
import { semconvStability, type SemconvStability } from './stability.js';

/** One reading of a pool's gauges, kept apart from the pool: after close(), and for a pool removed (all zero). */
interface FrozenPool {
  readonly name: string;
  readonly attributes: Pick<PoolSeries, 'used' | 'idle' | 'common'>;
  readonly used: number;
  readonly idle: number;
  readonly waiting: number;
  readonly max: number;
  readonly min: number;
}

/**
 * The trackers of each meter provider, open and closed: a closed one keeps observing its pools' last gauge values
 * only while no other tracker on the provider reports a pool of the same name (two observations of one series
 * would conflict, and the stale one could win).
 */
const trackersOn = new WeakMap<MeterProvider, Set<OtelTracker>>();

/** The meter of a no-op provider (the global one before an SDK registers): it stays a no-op whatever happens later. */
const NOOP_METER_CLASS = createNoopMeter().constructor;
const NOOP_TRACER_PROVIDER = new ProxyTracerProvider().getDelegate();

function isNoopTracerProvider(provider: TracerProvider): boolean {
  // The global provider is a proxy: it forwards to the SDK's once one registers, so only an empty proxy is a no-op.
  return provider instanceof ProxyTracerProvider ? provider.getDelegate() === NOOP_TRACER_PROVIDER : provider === NOOP_TRACER_PROVIDER;
}

class OtelTracker implements PoolTracker {
  private readonly meter: Meter;
  private readonly meterProvider: MeterProvider;
  private readonly stability: SemconvStability;
  private readonly namesFromQueryText: boolean;
  /** Set by close(): the gauges' last values, observed until a newer tracker takes the pool name over. */
  private frozen: FrozenPool[] | undefined;
  private readonly spans: TrackerSpans;
  private readonly slowQueryThresholdSeconds: number;
  private readonly traceAllQueries: boolean;
  private readonly sampleRatio: number;
  private readonly series = new Map<TrackedPool, PoolSeries>();
  /**
   * Pools removed (ended, or taken over by another owner), by name: observed once more at zero, then forgotten. The
   * SDK keeps exporting an asynchronous series' last value, so that value must be zero, never a last live reading.
   */
  private readonly removed = new Map<string, FrozenPool>();
  private pooler: PoolerMetrics | undefined;

  private readonly connectionCount: ObservableUpDownCounter;
  /** db.client.connection.limit and/or the deprecated db.client.connection.max, as the stability opt-in says. */
  private readonly connectionLimits: ObservableUpDownCounter[];
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
    this.meterProvider = meterProvider;
    let siblings = trackersOn.get(meterProvider);
    if (!siblings) trackersOn.set(meterProvider, (siblings = new Set()));
    siblings.add(this);
    this.meter = meterProvider.getMeter(name, version);
    const tracerProvider = options.tracerProvider ?? trace.getTracerProvider();
    const tracer = tracerProvider.getTracer(name, version);
    this.spans = new TrackerSpans(tracer, options.requireParentSpan === true, options.recordServerMessages === true);
    this.namesFromQueryText = options.namesFromQueryText === true;
    this.stability = semconvStability(options.semconvStabilityOptIn ?? process.env.OTEL_SEMCONV_STABILITY_OPT_IN);
    const meter = this.meter;
    warnIfNoop(options.logger, meter instanceof NOOP_METER_CLASS, isNoopTracerProvider(tracerProvider), options);

    this.connectionCount = meter.createObservableUpDownCounter(METRIC_DB_CLIENT_CONNECTION_COUNT, {
      unit: '{connection}',
      description: 'The number of connections that are currently in state described by the state attribute.',
    });
    this.connectionLimits = [];
    if (this.stability.stable) {
      this.connectionLimits.push(
        meter.createObservableUpDownCounter(METRIC_DB_CLIENT_CONNECTION_LIMIT, {
          unit: '{connection}',
          description: 'The maximum number of open connections allowed.',
        }),
      );
    }
    if (this.stability.old) {
      this.connectionLimits.push(
        meter.createObservableUpDownCounter(METRIC_DB_CLIENT_CONNECTION_MAX, {
          unit: '{connection}',
          description: 'The maximum number of open connections allowed (deprecated: db.client.connection.limit).',
        }),
      );
    }
    this.connectionIdleMin = meter.createObservableUpDownCounter(METRIC_DB_CLIENT_CONNECTION_IDLE_MIN, {
      unit: '{connection}',
      description: 'The minimum number of idle open connections allowed.',
    });
    this.pendingRequests = meter.createObservableUpDownCounter(METRIC_DB_CLIENT_CONNECTION_PENDING_REQUESTS, {
      unit: '{request}',
      description: 'The number of current pending requests for an open connection.',
    });
    this.observables = [this.connectionCount, ...this.connectionLimits, this.connectionIdleMin, this.pendingRequests];
    // One callback for all the gauges: each pool's counts are read once per collection.
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
    if (this.frozen !== undefined) {
      for (const pool of this.frozen) this.observePool(result, pool);
      return;
    }
    for (const series of this.series.values()) this.observePool(result, readingOf(series));
    for (const reading of this.removed.values()) this.observePool(result, reading);
    this.removed.clear();
  };

  private observePool(result: BatchObservableResult, pool: FrozenPool): void {
    const { attributes } = pool;
    result.observe(this.connectionCount, pool.used, attributes.used);
    result.observe(this.connectionCount, pool.idle, attributes.idle);
    for (const limit of this.connectionLimits) result.observe(limit, pool.max, attributes.common);
    result.observe(this.connectionIdleMin, pool.min, attributes.common);
    result.observe(this.pendingRequests, pool.waiting, attributes.common);
  }

  /** Stops observing a closed tracker's pool of this name, and any tracker's removed one: this tracker reports it now. */
  private supersede(poolName: string): void {
    for (const tracker of trackersOn.get(this.meterProvider) ?? []) {
      tracker.removed.delete(poolName);
      if (tracker === this || !tracker.frozen) continue;
      tracker.frozen = tracker.frozen.filter((p) => p.name !== poolName);
      if (tracker.frozen.length === 0) tracker.stopObserving();
    }
  }

  /** True when another open tracker on the same meter provider reports a pool of this name. */
  private reportedElsewhere(poolName: string): boolean {
    for (const tracker of trackersOn.get(this.meterProvider) ?? []) {
      if (tracker !== this && !tracker.frozen && [...tracker.series.keys()].some((pool) => pool.name === poolName)) return true;
    }
    return false;
  }

  private stopObserving(): void {
    this.meter.removeBatchObservableCallback(this.observe, this.observables);
    this.frozen = [];
    trackersOn.get(this.meterProvider)?.delete(this);
  }

  poolAdded(pool: TrackedPool): void {
    this.supersede(pool.name);
    const series = this.seriesFor(pool);
    // Counters start at 0 so that Prometheus' increase() sees the first timeout or leak: a series
    // that first appears at 1 has no earlier sample to rise from.
    this.timeouts.add(0, series.common);
    this.leaks.add(0, series.common);
  }

  /** Forgets the pool at once (a tracker nobody collects from must not keep it), leaving one zero reading of its name. */
  poolRemoved(pool: TrackedPool): void {
    const series = this.series.get(pool);
    if (series === undefined) return;
    this.series.delete(pool);
    const { used, idle, common } = series;
    this.removed.set(pool.name, { name: pool.name, attributes: { used, idle, common }, used: 0, idle: 0, waiting: 0, max: 0, min: 0 });
  }

  captureContext(): unknown {
    return context.active();
  }

  acquired(pool: TrackedPool, waitSeconds: number): void {
    this.seriesFor(pool).waitAcquired.record(waitSeconds);
  }

  // A wait that timed out or failed obtained no connection: db.client.connection.wait_time does not measure it (names.ts).
  acquireTimedOut(pool: TrackedPool): void {
    this.timeouts.add(1, this.seriesFor(pool).common);
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
    const names = this.namesOf(event, shape);
    const errorType = event.error === undefined ? undefined : errorTypeOf(event.error, event.sqlstate);
    const operation = errorType === undefined ? series.operation(shape, names) : series.failedOperation(shape, names, errorType, event.sqlstate);
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
      this.spans.query(event, series.span, shape, names, errorType);
    }
  }

  /** The caller's db.operation.name / db.collection.name; parsed from the text only when `namesFromQueryText` asks. */
  private namesOf(event: QueryEvent, shape: QueryShape): OperationNames | undefined {
    if (event.operationName !== undefined || event.collectionName !== undefined) return event;
    if (!this.namesFromQueryText) return undefined;
    return { operationName: shape.operation, collectionName: shape.collection };
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

  /** The pooler's figures (PgBouncer's console, with the `pgbouncer` option): instruments made on the first reading. */
  poolerSampled(sample: PoolerSample): void {
    (this.pooler ??= new PoolerMetrics(this.meter)).record(sample);
  }

  /**
   * Keeps the gauges' last values (the pools are closed by now: 0 connections, the configured limit) for the
   * collections that follow, so the export an SDK makes at its own shutdown, after the manager's, still carries
   * them: without this the last export had no pool series at all. They stay until a newer tracker on the same
   * meter provider reports a pool of the same name, and are not kept for a name an open tracker reports already.
   */
  close(): void {
    this.pooler?.close();
    this.frozen = [...[...this.series.values()].map(readingOf), ...this.removed.values()].filter((reading) => !this.reportedElsewhere(reading.name));
    if (this.frozen.length === 0) this.stopObserving();
    this.series.clear();
    this.removed.clear();
    this.spans.clear();
  }
}

/** A pool's gauges now, with the attribute sets only: the reading keeps neither the pool nor its other series. */
function readingOf(series: PoolSeries): FrozenPool {
  const { pool } = series;
  const counts = pool.counts();
  const { used, idle, common } = series;
  return { name: pool.name, attributes: { used, idle, common }, used: counts.total - counts.idle, idle: counts.idle, waiting: counts.waiting, max: pool.max, min: pool.min };
}

/** One warning when nothing this tracker records could ever be exported. */
function warnIfNoop(logger: Logger | undefined, meterNoop: boolean, tracerNoop: boolean, options: TelemetryOptions): void {
  if (!logger || !(meterNoop || (tracerNoop && options.tracerProvider !== undefined))) return;
  const what = meterNoop
    ? `the meter provider${options.meterProvider ? ' given as telemetry.meterProvider' : ''} is a no-op, so no pool metric will ever be exported (a meter taken from the global no-op provider stays a no-op after an SDK registers)`
    : 'the tracer provider given as telemetry.tracerProvider is a no-op, so no span will be exported';
  logger.warn(
    `otel-pg-manager: ${what}. Start the OpenTelemetry SDK (sdk.start(), or register a MeterProvider) before PostgresManager.create(), or pass telemetry.meterProvider; MONITORING_ENABLED=false turns the telemetry off.`,
  );
}

/**
 * The OpenTelemetry tracker: pool metrics named by the database-client semantic conventions, one
 * CLIENT span per slow, failed or retried logical call (or sampled), and a span per leaked lease.
 * Throws ConfigError when `sampleRatio` is outside 0..1.
 */
export function createOtelTracker(options: OtelTrackerOptions): PoolTracker {
  return new OtelTracker(options);
}
