// OpenTelemetry tracker: semantic-convention pool metrics, spans for slow, failed and retried calls, leak events.
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  context,
  metrics,
  trace,
  type Attributes,
  type BatchObservableResult,
  type Context,
  type Counter,
  type Meter,
  type MeterProvider,
  type Observable,
  type ObservableUpDownCounter,
  type SpanContext,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import {
  ATTR_CODE_STACKTRACE,
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_RESPONSE_STATUS_CODE,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
  ERROR_TYPE_VALUE_OTHER,
  METRIC_DB_CLIENT_OPERATION_DURATION,
} from '@opentelemetry/semantic-conventions';
import {
  ATTR_DB_CLIENT_CONNECTION_POOL_NAME,
  ATTR_DB_CLIENT_CONNECTION_STATE,
  ATTR_DB_RESPONSE_RETURNED_ROWS,
  DB_CLIENT_CONNECTION_STATE_VALUE_IDLE,
  DB_CLIENT_CONNECTION_STATE_VALUE_USED,
  METRIC_DB_CLIENT_CONNECTION_COUNT,
  METRIC_DB_CLIENT_CONNECTION_CREATE_TIME,
  METRIC_DB_CLIENT_CONNECTION_IDLE_MIN,
  METRIC_DB_CLIENT_CONNECTION_MAX,
  METRIC_DB_CLIENT_CONNECTION_PENDING_REQUESTS,
  METRIC_DB_CLIENT_CONNECTION_TIMEOUTS,
  METRIC_DB_CLIENT_CONNECTION_USE_TIME,
  METRIC_DB_CLIENT_CONNECTION_WAIT_TIME,
} from '@opentelemetry/semantic-conventions/incubating';
import { ConfigError } from '../../errors.js';
import { sharedShapes, type QueryShape } from '../../sql/fingerprint.js';
import type { HistogramRecorder, HistogramSpec, PgMetricProducer } from './metric-producer.js';
import { producerFor } from './producer-attach.js';
import { INSTRUMENTATION_SCOPE } from './scope.js';
import type { LeakEvent, PoolTracker, QueryEvent, RetryEvent, TrackedPool } from '../../tracker.js';
import { wallClockMs } from '../wall-clock.js';

export { INSTRUMENTATION_SCOPE };

// Package extensions: not in the semantic conventions, so they live under their own prefix.
/** Counter `{lease}`: leases held past the leak-detection threshold. */
export const METRIC_PG_MANAGER_CONNECTION_LEAKS = 'pg_manager.connection.leaks';
/** Counter `{query}`: logical calls at or above the slow-query threshold. */
export const METRIC_PG_MANAGER_SLOW_QUERIES = 'pg_manager.slow_queries';
/** Counter `{retry}`: attempts that failed and were tried again. */
export const METRIC_PG_MANAGER_RETRIES = 'pg_manager.retries';
/** On `db.client.connection.wait_time`: how the wait ended (`acquired`, `timeout`, `error`). */
export const ATTR_PG_MANAGER_OUTCOME = 'pg_manager.outcome';
/** On query spans: attempts made by the logical call (1 = no retry). */
export const ATTR_PG_MANAGER_ATTEMPTS = 'pg_manager.attempts';
/** On leak spans: the lease id, to match a late return with its detection. */
export const ATTR_PG_MANAGER_LEASE_ID = 'pg_manager.lease.id';
/** On leak spans: seconds the lease had been held. */
export const ATTR_PG_MANAGER_LEASE_HELD_SECONDS = 'pg_manager.lease.held_seconds';
export const SPAN_NAME_LEAK = 'pg_manager.connection.leak';
export const SPAN_NAME_LEAK_RESOLVED = 'pg_manager.connection.leak_resolved';

// Bucket boundaries are in seconds: the SDK's default buckets are millisecond-scale and would put every sample in the first one.
const OPERATION_DURATION: HistogramSpec = {
  name: METRIC_DB_CLIENT_OPERATION_DURATION,
  unit: 's',
  description: 'Duration of database client operations (one logical call, retries included).',
  boundaries: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10],
};
const WAIT_TIME: HistogramSpec = {
  name: METRIC_DB_CLIENT_CONNECTION_WAIT_TIME,
  unit: 's',
  description: 'The time it took to obtain an open connection from the pool (pg_manager.outcome: acquired, timeout, error).',
  // Handing out an idle connection takes microseconds; waiting in the queue can last up to the timeout.
  boundaries: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
};
const USE_TIME: HistogramSpec = {
  name: METRIC_DB_CLIENT_CONNECTION_USE_TIME,
  unit: 's',
  description: 'The time between borrowing a connection and returning it to the pool.',
  boundaries: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
};
const CREATE_TIME: HistogramSpec = {
  name: METRIC_DB_CLIENT_CONNECTION_CREATE_TIME,
  unit: 's',
  description: 'The time it took to create a new connection.',
  boundaries: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
};
const HISTOGRAMS = [OPERATION_DURATION, WAIT_TIME, USE_TIME, CREATE_TIME];

/** Builds the recorder of one histogram for one attribute set: an SDK instrument, or the in-process producer. */
type RecorderFactory = (spec: HistogramSpec, attributes: Attributes) => HistogramRecorder;

/** A prebuilt attribute set with the recorder of its operation-duration series. */
interface OperationSeries {
  readonly attributes: Attributes;
  readonly duration: HistogramRecorder;
}

// SQLSTATE classes whose messages and details echo the data: 22 (data exception), 23 (integrity
// constraint violation), and P0 (PL/pgSQL RAISE, whose text is whatever the function formatted);
// and 42601, whose "syntax error at or near" can quote a literal of un-parameterized SQL.
const DATA_ECHOING_CLASSES = ['22', '23', 'P0'];
const DATA_ECHOING_STATES = ['42601'];
const MAX_STATUS_MESSAGE = 512;
// Bounds for caches keyed by things the tracker does not control.
const MAX_ATTRIBUTE_SETS = 1000;
const MAX_REMEMBERED_LEAKS = 1000;

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

/** Attribute sets and recorders of one pool, built once so that recording a measurement allocates nothing. */
class PoolSeries {
  readonly common: Attributes;
  readonly used: Attributes;
  readonly idle: Attributes;
  readonly waitAcquired: HistogramRecorder;
  readonly waitTimedOut: HistogramRecorder;
  readonly waitFailed: HistogramRecorder;
  readonly useTime: HistogramRecorder;
  readonly createTime: HistogramRecorder;
  /** Span attributes shared by every span of this pool. */
  readonly span: Attributes;
  // Keyed by the shape's summary (operation and table), which many texts share, so a new text usually
  // finds its series already built; bounded, as summaries come from the application's SQL.
  private readonly succeeded = new Map<string, OperationSeries>();
  private readonly failed = new Map<string, OperationSeries>();
  private readonly retried = new Map<string, Attributes>();

  constructor(
    readonly pool: TrackedPool,
    private readonly recorder: RecorderFactory,
  ) {
    this.common = { [ATTR_DB_CLIENT_CONNECTION_POOL_NAME]: pool.name, [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL };
    this.used = { ...this.common, [ATTR_DB_CLIENT_CONNECTION_STATE]: DB_CLIENT_CONNECTION_STATE_VALUE_USED };
    this.idle = { ...this.common, [ATTR_DB_CLIENT_CONNECTION_STATE]: DB_CLIENT_CONNECTION_STATE_VALUE_IDLE };
    this.waitAcquired = recorder(WAIT_TIME, { ...this.common, [ATTR_PG_MANAGER_OUTCOME]: 'acquired' });
    this.waitTimedOut = recorder(WAIT_TIME, { ...this.common, [ATTR_PG_MANAGER_OUTCOME]: 'timeout' });
    this.waitFailed = recorder(WAIT_TIME, { ...this.common, [ATTR_PG_MANAGER_OUTCOME]: 'error' });
    this.useTime = recorder(USE_TIME, this.common);
    this.createTime = recorder(CREATE_TIME, this.common);
    this.span = {
      ...this.common,
      // PostgreSQL's db.namespace is `{database}|{schema}`; the schema is not known without a query, so the database alone.
      [ATTR_DB_NAMESPACE]: pool.server.database,
      [ATTR_SERVER_ADDRESS]: pool.server.address,
      [ATTR_SERVER_PORT]: pool.server.port,
    };
  }

  operation(shape: QueryShape): OperationSeries {
    let series = this.succeeded.get(shape.summary);
    if (series === undefined) {
      series = this.operationSeries(this.withShape(shape));
      remember(this.succeeded, shape.summary, series);
    }
    return series;
  }

  failedOperation(shape: QueryShape, errorType: string, sqlstate: string | undefined): OperationSeries {
    const key = `${shape.summary}\u0000${errorType}`;
    let series = this.failed.get(key);
    if (series === undefined) {
      const attributes = this.withShape(shape);
      attributes[ATTR_ERROR_TYPE] = errorType;
      if (sqlstate !== undefined) attributes[ATTR_DB_RESPONSE_STATUS_CODE] = sqlstate;
      series = this.operationSeries(attributes);
      remember(this.failed, key, series);
    }
    return series;
  }

  private operationSeries(attributes: Attributes): OperationSeries {
    return { attributes, duration: this.recorder(OPERATION_DURATION, attributes) };
  }

  retry(errorType: string, sqlstate: string | undefined): Attributes {
    let attributes = this.retried.get(errorType);
    if (attributes === undefined) {
      attributes = { ...this.common, [ATTR_ERROR_TYPE]: errorType };
      if (sqlstate !== undefined) attributes[ATTR_DB_RESPONSE_STATUS_CODE] = sqlstate;
      remember(this.retried, errorType, attributes);
    }
    return attributes;
  }

  private withShape(shape: QueryShape): Attributes {
    // db.namespace is conditionally required on the operation metrics "if available", and it is.
    const attributes: Attributes = { ...this.common, [ATTR_DB_NAMESPACE]: this.pool.server.database };
    if (shape.operation) attributes[ATTR_DB_OPERATION_NAME] = shape.operation;
    if (shape.collection) attributes[ATTR_DB_COLLECTION_NAME] = shape.collection;
    return attributes;
  }
}

/** Inserts into a map that must stay bounded, forgetting the oldest entry first. */
function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  if (map.size >= MAX_ATTRIBUTE_SETS) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}

/** `error.type`: the SQLSTATE when the server gave one, else a Node error code or the error class, else `_OTHER`. */
function errorTypeOf(error: unknown, sqlstate: string | undefined): string {
  if (sqlstate !== undefined) return sqlstate;
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
    if (error.name && error.name !== 'Error') return error.name;
  }
  return ERROR_TYPE_VALUE_OTHER;
}

/** The span status message: the error's own message, except where PostgreSQL puts data into it. */
function statusMessage(error: unknown, sqlstate: string | undefined): string {
  if (sqlstate !== undefined && (DATA_ECHOING_CLASSES.includes(sqlstate.slice(0, 2)) || DATA_ECHOING_STATES.includes(sqlstate))) {
    return `PostgreSQL error ${sqlstate} (message withheld: it can contain data)`;
  }
  // Only Error messages: an arbitrary thrown value could be anything, including the data itself.
  const message = error instanceof Error ? error.message : 'a non-Error value was thrown';
  return message.length > MAX_STATUS_MESSAGE ? `${message.slice(0, MAX_STATUS_MESSAGE)}…` : message;
}

function isContext(value: unknown): value is Context {
  return typeof value === 'object' && value !== null && typeof (value as Context).getValue === 'function';
}

class OtelTracker implements PoolTracker {
  private readonly meter: Meter;
  private readonly tracer: Tracer;
  private readonly slowQueryThresholdSeconds: number;
  private readonly traceAllQueries: boolean;
  private readonly sampleRatio: number;
  private readonly requireParentSpan: boolean;
  private readonly series = new Map<TrackedPool, PoolSeries>();
  private readonly leakSpans = new Map<number, SpanContext>();

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
    this.requireParentSpan = options.requireParentSpan === true;
    this.slowQueryThresholdSeconds = options.slowQueryThresholdMs / 1000;
    const { name, version } = INSTRUMENTATION_SCOPE;
    const meterProvider = options.meterProvider ?? metrics.getMeterProvider();
    this.meter = meterProvider.getMeter(name, version);
    this.tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(name, version);
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
      this.querySpan(event, series, shape, errorType);
    }
  }

  /** The span of one logical call, created after the fact with its true start, under the context active when it began. */
  private querySpan(event: QueryEvent, series: PoolSeries, shape: QueryShape, errorType: string | undefined): void {
    const parent = isContext(event.context) ? event.context : ROOT_CONTEXT;
    if (this.requireParentSpan && trace.getSpan(parent) === undefined) return;
    const attributes: Attributes = {
      ...series.span,
      [ATTR_DB_QUERY_TEXT]: shape.normalized,
      [ATTR_PG_MANAGER_ATTEMPTS]: event.attempts,
    };
    if (shape.operation) attributes[ATTR_DB_OPERATION_NAME] = shape.operation;
    if (shape.collection) attributes[ATTR_DB_COLLECTION_NAME] = shape.collection;
    if (event.rowCount !== null) attributes[ATTR_DB_RESPONSE_RETURNED_ROWS] = event.rowCount;
    if (errorType !== undefined) {
      attributes[ATTR_ERROR_TYPE] = errorType;
      if (event.sqlstate !== undefined) attributes[ATTR_DB_RESPONSE_STATUS_CODE] = event.sqlstate;
    }
    const name = shape.summary || DB_SYSTEM_NAME_VALUE_POSTGRESQL;
    const startTime = wallClockMs(event.startTime);
    const span = this.tracer.startSpan(name, { kind: SpanKind.CLIENT, startTime, attributes }, parent);
    if (errorType !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: statusMessage(event.error, event.sqlstate) });
    span.end(startTime + event.durationSeconds * 1000);
  }

  retried(event: RetryEvent): void {
    this.retries.add(1, this.seriesFor(event.pool).retry(errorTypeOf(event.error, event.sqlstate), event.sqlstate));
  }

  leakDetected(event: LeakEvent): void {
    const series = this.seriesFor(event.pool);
    this.leaks.add(1, series.common);
    const now = Date.now();
    // The span covers the lease from its acquisition to the moment it was found leaked, as a root:
    // the sweep that finds it runs outside any request.
    const span = this.tracer.startSpan(
      SPAN_NAME_LEAK,
      { kind: SpanKind.INTERNAL, startTime: now - event.heldSeconds * 1000, attributes: leakAttributes(series, event) },
      ROOT_CONTEXT,
    );
    span.setStatus({ code: SpanStatusCode.ERROR, message: `connection not released after ${event.heldSeconds.toFixed(1)} s` });
    span.end(now);
    if (this.leakSpans.size >= MAX_REMEMBERED_LEAKS) {
      const oldest = this.leakSpans.keys().next();
      if (!oldest.done) this.leakSpans.delete(oldest.value);
    }
    this.leakSpans.set(event.leaseId, span.spanContext());
  }

  leakResolved(event: LeakEvent): void {
    const series = this.seriesFor(event.pool);
    const detected = this.leakSpans.get(event.leaseId);
    this.leakSpans.delete(event.leaseId);
    const now = Date.now();
    const span = this.tracer.startSpan(
      SPAN_NAME_LEAK_RESOLVED,
      {
        kind: SpanKind.INTERNAL,
        startTime: now - event.heldSeconds * 1000,
        attributes: leakAttributes(series, event),
        links: detected ? [{ context: detected }] : [],
      },
      ROOT_CONTEXT,
    );
    span.end(now);
  }

  close(): void {
    this.meter.removeBatchObservableCallback(this.observe, this.observables);
    this.series.clear();
    this.leakSpans.clear();
  }
}

function leakAttributes(series: PoolSeries, event: LeakEvent): Attributes {
  const attributes: Attributes = {
    ...series.span,
    [ATTR_PG_MANAGER_LEASE_ID]: event.leaseId,
    [ATTR_PG_MANAGER_LEASE_HELD_SECONDS]: event.heldSeconds,
  };
  if (event.stack !== undefined) attributes[ATTR_CODE_STACKTRACE] = event.stack;
  return attributes;
}

/**
 * The OpenTelemetry tracker: pool metrics named by the database-client semantic conventions, one
 * CLIENT span per slow, failed or retried logical call (or sampled), and a span per leaked lease.
 * Throws ConfigError when `sampleRatio` is outside 0..1.
 */
export function createOtelTracker(options: OtelTrackerOptions): PoolTracker {
  return new OtelTracker(options);
}
