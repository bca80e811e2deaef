// A CommonJS app: the package from require() (Node's require of an ES module), telemetry through the global SDK.
const { createServer } = require('node:http');
const { join } = require('node:path');
const { metrics } = require('@opentelemetry/api');
const { PrometheusExporter } = require('@opentelemetry/exporter-prometheus');
const { MeterProvider } = require('@opentelemetry/sdk-metrics');
const { PostgresManager, ConnectionTimeoutError } = require('otel-pg-manager');

async function main() {
  const exporter = new PrometheusExporter({ preventServerStart: true });
  const meterProvider = new MeterProvider({ readers: [exporter] });
  metrics.setGlobalMeterProvider(meterProvider);
  const server = createServer((req, res) => exporter.getMetricsRequestHandler(req, res));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

  const db = await PostgresManager.create({ databaseUrl: process.env.DATABASE_URL, migrationsDir: join(__dirname, 'migrations') });
  const { rows } = await db.query('SELECT count(*)::int AS notes FROM app_notes');
  const scrape = await (await fetch(`http://127.0.0.1:${server.address().port}/metrics`)).text();
  await db.close();
  server.close();
  await meterProvider.shutdown();
  const errorClass = typeof ConnectionTimeoutError === 'function';
  console.log(JSON.stringify({ module: 'cjs', rows, applied: db.schemaStatus.applied, errorClass, scrape }));
}

main().catch((error) => {
  console.error(error);
  process.exitCode = 1;
});
