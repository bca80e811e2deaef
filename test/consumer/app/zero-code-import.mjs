// Run with `node --import otel-pg-manager/register`: `import { Pool } from 'pg'` sees the observing Pool.
import { metrics } from '@opentelemetry/api';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { MeterProvider } from '@opentelemetry/sdk-metrics';
import { Pool } from 'pg';
import zeroCode from './zero-code-work.cjs';

const exporter = new PrometheusExporter({ preventServerStart: true });
metrics.setGlobalMeterProvider(new MeterProvider({ readers: [exporter] }));
await zeroCode.work({ Pool }, exporter, 'import');
