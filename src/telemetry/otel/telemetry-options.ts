// What an app may say about the OpenTelemetry signals (`create({ telemetry })`, the instrumentation's `telemetry`),
// with every key listed so a misspelt one is refused by name.
import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import type { Logger } from '../../tracker.js';
import type { PgMetricProducer } from './metric-producer.js';

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
   * Put the server's error message in the span status description (default false). Any SQLSTATE class can carry
   * data in it (a RAISE, a trigger, a constraint's detail), so by default the description is the SQLSTATE and its
   * condition name (`40001 serialization_failure`).
   */
  recordServerMessages?: boolean;
  /**
   * Set db.operation.name and db.collection.name from the query text when the caller states none: the statement's
   * first keyword upper-cased and its single table, as 0.1 did (default false). The PostgreSQL conventions say they
   * SHOULD NOT be extracted from the text (`db.query.summary` is the grouping key); this is for dashboards built on
   * them. State them per call instead with `db.query(sql, params, { operationName, collectionName })`.
   */
  namesFromQueryText?: boolean;
  /**
   * Which database conventions to emit where they were renamed, as `OTEL_SEMCONV_STABILITY_OPT_IN` says (the
   * default): `database` the new names only (`db.client.connection.limit`), `database/dup` old and new, anything
   * else the old (`db.client.connection.max`). See README "Renamed metrics".
   */
  semconvStabilityOptIn?: string;
  /**
   * Where the histograms are aggregated. By default the producer of `pgMetricProducers()` when your
   * reader holds it, else one added to the meter provider's readers when they would export it
   * unchanged (an sdk-metrics 2.x provider, cumulative, default aggregation, no views), else SDK
   * instruments. A PgMetricProducer that your reader also includes is used as given; `false`
   * always records through SDK instruments (so views apply), at several µs more per query.
   */
  metricProducer?: PgMetricProducer | false;
}

/** Every key of TelemetryOptions, so that create() refuses a misspelt one by name. */
export const TELEMETRY_OPTION_KEYS: readonly string[] = Object.keys({
  meterProvider: true,
  tracerProvider: true,
  traceAllQueries: true,
  sampleRatio: true,
  requireParentSpan: true,
  recordServerMessages: true,
  namesFromQueryText: true,
  semconvStabilityOptIn: true,
  metricProducer: true,
} satisfies Record<keyof TelemetryOptions, true>);

export interface OtelTrackerOptions extends TelemetryOptions {
  slowQueryThresholdMs: number;
  /** Told once, at creation, when the providers are no-ops (no SDK registered yet): nothing would ever be exported. */
  logger?: Logger;
}
