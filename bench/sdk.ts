// A real OpenTelemetry SDK for the instrumented arms: periodic metric export and batched spans into counting exporters.
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import {
  AggregationTemporality,
  MeterProvider,
  PeriodicExportingMetricReader,
  type MetricProducer,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { BasicTracerProvider, BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';

export interface CountingSdk {
  meterProvider: MeterProvider;
  tracerProvider: BasicTracerProvider;
  /** Forces a metric export and returns the data points exported so far. */
  collectPoints(): Promise<number>;
  flushSpans(): Promise<void>;
  spansExported(): number;
}

export function createCountingSdk(metricProducers: MetricProducer[] = []): CountingSdk {
  let points = 0;
  let spans = 0;
  const metricExporter: PushMetricExporter = {
    export(metrics: ResourceMetrics, done: (result: ExportResult) => void) {
      for (const scope of metrics.scopeMetrics) for (const metric of scope.metrics) points += metric.dataPoints.length;
      done({ code: ExportResultCode.SUCCESS });
    },
    forceFlush: async () => undefined,
    shutdown: async () => undefined,
    selectAggregationTemporality: () => AggregationTemporality.CUMULATIVE,
  };
  const spanExporter: SpanExporter = {
    export(batch: ReadableSpan[], done: (result: ExportResult) => void) {
      spans += batch.length;
      done({ code: ExportResultCode.SUCCESS });
    },
    shutdown: async () => undefined,
  };
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3000, metricProducers });
  const meterProvider = new MeterProvider({ readers: [reader] });
  const tracerProvider = new BasicTracerProvider({ spanProcessors: [new BatchSpanProcessor(spanExporter)] });
  return {
    meterProvider,
    tracerProvider,
    collectPoints: async () => {
      await reader.forceFlush();
      return points;
    },
    flushSpans: () => tracerProvider.forceFlush(),
    spansExported: () => spans,
  };
}
