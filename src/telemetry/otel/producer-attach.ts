// Which PgMetricProducer a tracker records into when the app did not hand it one: the fast path for create() alone.
import type { MeterProvider } from '@opentelemetry/api';
import { PgMetricProducer } from './metric-producer.js';

// The values of sdk-metrics' enums, spelled out: the package imports nothing of the SDK, not even its types.
const INSTRUMENT_TYPE_HISTOGRAM = 'HISTOGRAM';
const AGGREGATION_TEMPORALITY_CUMULATIVE = 1;
const AGGREGATION_TYPE_DEFAULT = 0;

/** Set once an app asked for it with pgMetricProducers(). */
let processProducer: PgMetricProducer | undefined;

/**
 * What to put in a metric reader's `metricProducers` so that the package's histograms take the
 * fast path: `new PeriodicExportingMetricReader({ exporter, metricProducers: pgMetricProducers() })`,
 * and `PostgresManager.create()` records into it without being told. Every call returns the same producer.
 */
export function pgMetricProducers(): PgMetricProducer[] {
  processProducer ??= new PgMetricProducer();
  return [processProducer];
}

/**
 * The parts of an sdk-metrics 2.x MeterProvider read here. None of them is public API: each is
 * checked before use, and anything unexpected means the SDK's own instruments are used instead.
 */
interface SdkReader {
  _metricProducers?: unknown;
  selectAggregationTemporality?(instrumentType: string): unknown;
  selectAggregation?(instrumentType: string): { type?: unknown } | undefined;
}

interface SdkMeterProvider {
  _sharedState?: {
    metricCollectors?: { _metricReader?: SdkReader }[];
    viewRegistry?: { _registeredViews?: unknown };
  };
}

/** The provider's readers and whether it has views, or undefined when it is not an SDK provider this code knows. */
function sdkReaders(provider: MeterProvider): { readers: SdkReader[]; hasViews: boolean } | undefined {
  const state = (provider as SdkMeterProvider)._sharedState;
  const collectors = state?.metricCollectors;
  const views = state?.viewRegistry?._registeredViews;
  if (!Array.isArray(collectors) || collectors.length === 0 || !Array.isArray(views)) return undefined;
  const readers = collectors.map((collector) => collector._metricReader);
  if (!readers.every((reader): reader is SdkReader => reader !== undefined && Array.isArray(reader._metricProducers))) return undefined;
  return { readers, hasViews: views.length > 0 };
}

function producersOf(reader: SdkReader): unknown[] {
  return reader._metricProducers as unknown[];
}

/**
 * A reader that would export the SDK's own histograms exactly as the producer does: cumulative,
 * with the instrument's own buckets (no exponential or other aggregation chosen by the reader).
 */
function takesProducerHistograms(reader: SdkReader): boolean {
  return (
    reader.selectAggregationTemporality?.(INSTRUMENT_TYPE_HISTOGRAM) === AGGREGATION_TEMPORALITY_CUMULATIVE &&
    reader.selectAggregation?.(INSTRUMENT_TYPE_HISTOGRAM)?.type === AGGREGATION_TYPE_DEFAULT
  );
}

const attached = new WeakMap<MeterProvider, PgMetricProducer>();

/**
 * The producer for a tracker on `provider` when none was given. An SDK 2.x record hashes its
 * attribute set on every call (three records per query: about 8 µs under NodeSDK in the benchmark's
 * tracker path, the largest cost of create() alone), so when every reader of the provider would export the producer's
 * histograms unchanged (cumulative, default aggregation, no views that could rename, re-bucket or
 * drop them), one producer per provider is added to its readers. A reader that already holds the
 * producer of pgMetricProducers() keeps it. Otherwise undefined: the SDK's own instruments, as before.
 */
export function producerFor(provider: MeterProvider): PgMetricProducer | undefined {
  const known = attached.get(provider);
  if (known) return known;
  const sdk = sdkReaders(provider);
  const handedOut = processProducer;
  // Not a provider whose readers can be seen: the app's own word (pgMetricProducers()) is all there is.
  if (!sdk) return handedOut;
  const chosen = handedOut && sdk.readers.some((reader) => producersOf(reader).includes(handedOut)) ? handedOut : undefined;
  const missing = sdk.readers.filter((reader) => !chosen || !producersOf(reader).includes(chosen));
  if (!chosen && (sdk.hasViews || !missing.every(takesProducerHistograms))) return undefined;
  const producer = chosen ?? new PgMetricProducer();
  for (const reader of missing) {
    // A copy, not a push: the array may be the one the app passed to the reader's constructor.
    if (takesProducerHistograms(reader)) reader._metricProducers = [...producersOf(reader), producer];
  }
  attached.set(provider, producer);
  return producer;
}
