// The OpenTelemetry SDK registered as a Node service registers it: NodeSDK (AsyncLocalStorage context manager,
// global providers), periodic metric export and batched spans, both into counting exporters.
import { ExportResultCode, type ExportResult } from '@opentelemetry/core';
import type { Instrumentation } from '@opentelemetry/instrumentation';
import { NodeSDK } from '@opentelemetry/sdk-node';
import {
  AggregationTemporality,
  PeriodicExportingMetricReader,
  type MetricProducer,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { BatchSpanProcessor, type ReadableSpan, type SpanExporter } from '@opentelemetry/sdk-trace-base';

export interface CountingSdk {
  /** Forces a metric export and returns the data points exported so far. */
  collectPoints(): Promise<number>;
  flushSpans(): Promise<void>;
  spansExported(): number;
}

export interface SdkOptions {
  metricProducers?: MetricProducer[];
  instrumentations?: Instrumentation[];
}

export function startCountingSdk({ metricProducers = [], instrumentations = [] }: SdkOptions = {}): CountingSdk {
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
  const spanProcessor = new BatchSpanProcessor(spanExporter);
  const sdk = new NodeSDK({
    metricReaders: [reader],
    spanProcessors: [spanProcessor],
    instrumentations,
    // No resource detection (it reads the host at start-up, nothing per query) and no log exporter to reach.
    resourceDetectors: [],
    logRecordProcessors: [],
  });
  sdk.start();
  return {
    collectPoints: async () => {
      await reader.forceFlush();
      return points;
    },
    flushSpans: () => spanProcessor.forceFlush(),
    spansExported: () => spans,
  };
}
