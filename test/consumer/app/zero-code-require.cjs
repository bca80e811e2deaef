// Run with `node --require otel-pg-manager/register`: the app's SDK starts after the registration, pg is required after.
const { metrics } = require('@opentelemetry/api');
const { PrometheusExporter } = require('@opentelemetry/exporter-prometheus');
const { MeterProvider } = require('@opentelemetry/sdk-metrics');
const { work } = require('./zero-code-work.cjs');

const exporter = new PrometheusExporter({ preventServerStart: true });
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [exporter] }));
work(require('pg'), exporter, 'require').catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
