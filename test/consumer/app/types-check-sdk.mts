// The producer's structural types against the installed SDK's own (2.x or 3.x): what a reader's metricProducers takes.
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider, PeriodicExportingMetricReader, type MetricProducer, type PushMetricExporter } from '@opentelemetry/sdk-metrics';
import { PgMetricProducer, PostgresManager, pgMetricProducers } from 'otel-pg-manager';

export async function wire(exporter: PushMetricExporter): Promise<void> {
  const metricProducer = new PgMetricProducer();
  const producers: MetricProducer[] = [metricProducer, ...pgMetricProducers()];
  const reader = new PeriodicExportingMetricReader({ exporter, metricProducers: producers });
  const prometheus = new PrometheusExporter({ preventServerStart: true, metricProducers: pgMetricProducers() });
  const meterProvider = new MeterProvider({ readers: [reader, prometheus] });
  const db = await PostgresManager.create({ telemetry: { meterProvider, metricProducer } });
  await db.close();
}
