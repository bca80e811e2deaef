// Real OpenTelemetry SDK providers backed by in-memory exporters, and readers for what they captured.
import { context, metrics, propagation, trace, type Attributes } from '@opentelemetry/api';
import {
  MeterProvider,
  MetricReader,
  type DataPoint,
  type Histogram,
  type MetricData,
  type MetricProducer,
  type MetricReader as MetricReaderType,
} from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, NodeTracerProvider, SimpleSpanProcessor, type ReadableSpan } from '@opentelemetry/sdk-trace-node';
import { INSTRUMENTATION_SCOPE } from '../../src/telemetry/otel/scope.js';

/** A reader the test collects from by hand, so each assertion sees one consistent snapshot. */
class CollectingReader extends MetricReader {
  constructor(metricProducers: MetricProducer[] = []) {
    super({ metricProducers });
  }

  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

export interface Telemetry {
  meterProvider: MeterProvider;
  tracerProvider: NodeTracerProvider;
  /** Every metric the SDK holds right now. */
  collect(): Promise<MetricData[]>;
  /** Spans this package created (the test's own parent spans left out). */
  packageSpans(): ReadableSpan[];
  allSpans(): ReadableSpan[];
  shutdown(): Promise<void>;
}

/**
 * Providers for one test. The tracer provider is registered globally only so that its
 * AsyncLocalStorage context manager makes `startActiveSpan` parents visible to the manager;
 * `shutdown()` removes every global again.
 */
export function createTelemetry(extraReaders: MetricReaderType[] = [], metricProducers: MetricProducer[] = []): Telemetry {
  const reader = new CollectingReader(metricProducers);
  const meterProvider = new MeterProvider({ readers: [reader, ...extraReaders] });
  const exporter = new InMemorySpanExporter();
  const tracerProvider = new NodeTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  tracerProvider.register();
  return {
    meterProvider,
    tracerProvider,
    async collect() {
      const { resourceMetrics, errors } = await reader.collect();
      if (errors.length > 0) throw new Error(`metric collection failed: ${errors.map(String).join('; ')}`);
      return resourceMetrics.scopeMetrics.flatMap((scope) => scope.metrics);
    },
    packageSpans: () => exporter.getFinishedSpans().filter((s) => s.instrumentationScope.name === INSTRUMENTATION_SCOPE.name),
    allSpans: () => exporter.getFinishedSpans(),
    async shutdown() {
      await Promise.all([meterProvider.shutdown(), tracerProvider.shutdown()]);
      trace.disable();
      context.disable();
      propagation.disable();
    },
  };
}

/** Unregisters every global the OpenTelemetry API holds (an SDK registered by the code under test), for the next file. */
export function resetGlobalOpenTelemetry(): void {
  metrics.disable();
  trace.disable();
  context.disable();
  propagation.disable();
}

function matches(attributes: Attributes, wanted: Attributes): boolean {
  return Object.entries(wanted).every(([key, value]) => attributes[key] === value);
}

/** Data points of the named metric whose attributes include `wanted`. */
export function pointsOf(collected: MetricData[], name: string, wanted: Attributes = {}): DataPoint<unknown>[] {
  const metric = collected.find((m) => m.descriptor.name === name);
  if (!metric) return [];
  return (metric.dataPoints as DataPoint<unknown>[]).filter((p) => matches(p.attributes, wanted));
}

/** The value of a counter or gauge summed over the matching points (0 when there are none). */
export function sumOf(collected: MetricData[], name: string, wanted: Attributes = {}): number {
  return pointsOf(collected, name, wanted).reduce((total, p) => total + (p.value as number), 0);
}

/** The number of samples of a histogram over the matching points. */
export function histogramCount(collected: MetricData[], name: string, wanted: Attributes = {}): number {
  return pointsOf(collected, name, wanted).reduce((total, p) => total + (p.value as Histogram).count, 0);
}

/** Milliseconds since the epoch of an SDK HrTime. */
export function hrToMs([seconds, nanos]: [number, number]): number {
  return seconds * 1000 + nanos / 1e6;
}
