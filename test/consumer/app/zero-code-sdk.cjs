// Registered through NodeSDK's instrumentations, before the app requires pg.
const { PrometheusExporter } = require('@opentelemetry/exporter-prometheus');
const { NodeSDK } = require('@opentelemetry/sdk-node');
const { PgManagerInstrumentation } = require('otel-pg-manager/instrumentation');
const { work } = require('./zero-code-work.cjs');

const exporter = new PrometheusExporter({ preventServerStart: true });
const sdk = new NodeSDK({ metricReaders: [exporter], instrumentations: [new PgManagerInstrumentation()] });
sdk.start();
work(require('pg'), exporter, 'sdk')
  .then(() => sdk.shutdown())
  .catch((error) => {
    console.error(error);
    process.exitCode = 1;
  });
