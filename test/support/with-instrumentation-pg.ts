// Child process for instrumentation-pg.test.ts: instrumentation-pg patches pg through require hooks, so it must be
// registered before pg is first loaded, which a vitest worker has long done. Prints, per metric name, the scopes that reported it.
import { createRequire } from 'node:module';
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { PgInstrumentation } from '@opentelemetry/instrumentation-pg';
import { AggregationType, MeterProvider, MetricReader, type ViewOptions } from '@opentelemetry/sdk-metrics';
import { NodeTracerProvider } from '@opentelemetry/sdk-trace-node';

class CollectingReader extends MetricReader {
  protected onShutdown(): Promise<void> {
    return Promise.resolve();
  }
  protected onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
}

const [url, withView] = [process.argv[2]!, process.argv[3] === 'drop'];
const views: ViewOptions[] = withView ? [{ meterName: '@opentelemetry/instrumentation-pg', aggregation: { type: AggregationType.DROP } }] : [];
const reader = new CollectingReader();
const meterProvider = new MeterProvider({ readers: [reader], views });
const tracerProvider = new NodeTracerProvider();
registerInstrumentations({ instrumentations: [new PgInstrumentation()], meterProvider, tracerProvider });
createRequire(import.meta.url)('pg');
const { PostgresManager } = await import('../../src/index.js');

const db = await PostgresManager.create({ databaseUrl: url, env: {}, schemaInit: 'off', minConnections: 0, telemetry: { meterProvider, tracerProvider } });
for (let i = 0; i < 3; i++) await db.pool.query('SELECT $1::int', [i]);
const { resourceMetrics } = await reader.collect();
const scopes: Record<string, string[]> = {};
for (const scope of resourceMetrics.scopeMetrics) {
  for (const metric of scope.metrics) (scopes[metric.descriptor.name] ??= []).push(scope.scope.name);
}
await db.close();
await meterProvider.shutdown();
process.stdout.write(`${JSON.stringify(scopes)}\n`);
