// An ES module app: the package from `import`, histograms through PgMetricProducer, /metrics on its own server.
import { createServer } from 'node:http';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { PgMetricProducer, PostgresManager } from 'otel-pg-manager';

const metricProducer = new PgMetricProducer();
const exporter = new PrometheusExporter({ preventServerStart: true, metricProducers: [metricProducer] });
const meterProvider = new MeterProvider({ readers: [exporter] });
const server = createServer((req, res) => exporter.getMetricsRequestHandler(req, res));
await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));

const db = await PostgresManager.create({
  databaseUrl: process.env.DATABASE_URL,
  migrationsDir: new URL('./migrations', import.meta.url).pathname,
  schemaInit: 'strict',
  telemetry: { meterProvider, metricProducer },
});
const { rows } = await db.query('SELECT count(*)::int AS notes FROM app_notes');
const scrape = await (await fetch(`http://127.0.0.1:${server.address().port}/metrics`)).text();
await db.close();
server.close();
await meterProvider.shutdown();
console.log(JSON.stringify({ module: 'esm', rows, applied: db.schemaStatus.applied, scrape }));
