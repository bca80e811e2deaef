// Fixed-bucket histograms aggregated in-process and handed to the SDK's reader at collection time.
// An SDK Histogram.record hashes its attribute set on every call (about 0.3 µs per attribute);
// recording here is a bucket search and three additions, so the per-query cost stays far below that.
import { ValueType, type Attributes, type HrTime } from '@opentelemetry/api';
import { INSTRUMENTATION_SCOPE } from './scope.js';

// The SDK's MetricProducer contract written out structurally, not imported: the public types must compile where the
// optional peer @opentelemetry/sdk-metrics is not installed (`skipLibCheck: false`). The consumer test hands these
// to the SDK's own types (SDK 2.x and 3.x), so a change there that breaks the shape fails it.
// The values of sdk-metrics' enums, the same in SDK 2.x and 3.x: DataPointType.HISTOGRAM, AggregationTemporality.CUMULATIVE.
const DATA_POINT_TYPE_HISTOGRAM = 0;
const AGGREGATION_TEMPORALITY_CUMULATIVE = 1;

/** One cumulative histogram as the SDK's `HistogramMetricData` carries it. */
export interface PgHistogramMetricData {
  descriptor: { name: string; description: string; unit: string; valueType: ValueType };
  aggregationTemporality: typeof AGGREGATION_TEMPORALITY_CUMULATIVE;
  dataPointType: typeof DATA_POINT_TYPE_HISTOGRAM;
  dataPoints: Array<{
    attributes: Attributes;
    startTime: HrTime;
    endTime: HrTime;
    value: { buckets: { boundaries: number[]; counts: number[] }; sum: number; count: number; min: number; max: number };
  }>;
}

/** What `PgMetricProducer.collect()` resolves to: the SDK's `CollectionResult`, with no resource (the reader keeps its own). */
export interface PgCollectionResult {
  resourceMetrics: {
    resource: never;
    scopeMetrics: Array<{ scope: { name: string; version?: string; schemaUrl?: string }; metrics: PgHistogramMetricData[] }>;
  };
  errors: unknown[];
}

export interface HistogramSpec {
  readonly name: string;
  readonly description: string;
  readonly unit: string;
  readonly boundaries: readonly number[];
}

/** Where one attribute set of one histogram records its measurements. */
export interface HistogramRecorder {
  record(value: number): void;
}

function hrTime(epochMs: number): HrTime {
  const seconds = Math.floor(epochMs / 1000);
  return [seconds, Math.round((epochMs - seconds * 1000) * 1e6)];
}

/** One attribute set's cumulative histogram, with the SDK's bucket rule: a value lands in the first bucket whose bound is >= value. */
class BucketHistogram implements HistogramRecorder {
  readonly counts: number[];
  sum = 0;
  count = 0;
  min = Infinity;
  max = -Infinity;

  constructor(
    private readonly boundaries: readonly number[],
    readonly attributes: Attributes,
    readonly startTime: HrTime,
  ) {
    this.counts = new Array<number>(boundaries.length + 1).fill(0);
  }

  record(value: number): void {
    const boundaries = this.boundaries;
    let bucket = 0;
    while (bucket < boundaries.length && value > boundaries[bucket]!) bucket++;
    this.counts[bucket]!++;
    this.sum += value;
    this.count++;
    if (value < this.min) this.min = value;
    if (value > this.max) this.max = value;
  }
}

/**
 * Series per histogram before new attribute sets share one overflow series, as the SDK's own
 * cardinality limit does (2000, `otel.metric.overflow=true`): table names come from the
 * application's SQL, and date-partitioned tables would otherwise add series forever.
 */
export const MAX_SERIES_PER_HISTOGRAM = 2000;
const OVERFLOW_KEY = 'otel.metric.overflow';

class HistogramFamily {
  // Keyed by attribute content, computed once when a tracker builds a new attribute set, never per record.
  private readonly series = new Map<string, BucketHistogram>();

  constructor(readonly spec: HistogramSpec) {}

  recorder(attributes: Attributes): BucketHistogram {
    const key = JSON.stringify(Object.keys(attributes).sort().map((k) => [k, attributes[k]]));
    const found = this.series.get(key);
    if (found !== undefined) return found;
    if (this.series.size >= MAX_SERIES_PER_HISTOGRAM) return this.overflow();
    const histogram = new BucketHistogram(this.spec.boundaries, attributes, hrTime(Date.now()));
    this.series.set(key, histogram);
    return histogram;
  }

  private overflow(): BucketHistogram {
    let histogram = this.series.get(OVERFLOW_KEY);
    if (histogram === undefined) {
      histogram = new BucketHistogram(this.spec.boundaries, { [OVERFLOW_KEY]: true }, hrTime(Date.now()));
      // Past the limit on purpose: the overflow series is the one extra.
      this.series.set(OVERFLOW_KEY, histogram);
    }
    return histogram;
  }

  snapshot(endTime: HrTime): PgHistogramMetricData {
    const dataPoints = [...this.series.values()]
      .filter((h) => h.count > 0)
      .map((h) => ({
        attributes: h.attributes,
        startTime: h.startTime,
        endTime,
        value: {
          buckets: { boundaries: [...this.spec.boundaries], counts: [...h.counts] },
          sum: h.sum,
          count: h.count,
          min: h.min,
          max: h.max,
        },
      }));
    return {
      descriptor: { name: this.spec.name, description: this.spec.description, unit: this.spec.unit, valueType: ValueType.DOUBLE },
      aggregationTemporality: AGGREGATION_TEMPORALITY_CUMULATIVE,
      dataPointType: DATA_POINT_TYPE_HISTOGRAM,
      dataPoints,
    };
  }
}

/**
 * A MetricProducer (as the OpenTelemetry SDK defines it) for the package's histograms. Give the same
 * instance to your reader (`metricProducers: [producer]`) and to `create({ telemetry: { metricProducer } })`;
 * the tracker then records wait, use, create and operation times here instead of through SDK instruments.
 */
export class PgMetricProducer {
  private readonly families = new Map<string, HistogramFamily>();

  /** The recorder of one histogram's attribute set; called when a tracker builds an attribute set, not per measurement. */
  recorder(spec: HistogramSpec, attributes: Attributes): HistogramRecorder {
    let family = this.families.get(spec.name);
    if (family === undefined) {
      family = new HistogramFamily(spec);
      this.families.set(spec.name, family);
    }
    return family.recorder(attributes);
  }

  async collect(): Promise<PgCollectionResult> {
    const endTime = hrTime(Date.now());
    const metrics = [...this.families.values()].map((family) => family.snapshot(endTime));
    return {
      resourceMetrics: {
        // A MetricReader keeps the SDK's own resource and takes only the scope metrics from producers,
        // so none is built here (that would need the SDK at run time).
        resource: undefined as never,
        scopeMetrics: [{ scope: { ...INSTRUMENTATION_SCOPE }, metrics }],
      },
      errors: [],
    };
  }
}
