// Bootstrap of a service with OpenTelemetry (NodeSDK of JS SDK 2.x, Node 20): start the SDK first, then create the manager.
//
//   DATABASE_URL=postgresql://app:secret@localhost:5432/app npx tsx examples/otel-bootstrap.ts
//   curl localhost:9464/metrics                    # Prometheus scrape (METRICS_ON_APP_PORT=true: localhost:3000/metrics)
//   OTEL_EXPORTER_OTLP_ENDPOINT=http://localhost:4318 …   # also send spans to the collector (otel-collector.yaml)
import { randomUUID } from 'node:crypto';
import { pathToFileURL } from 'node:url';
import { PrometheusExporter } from '@opentelemetry/exporter-prometheus';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { BatchSpanProcessor, type SpanProcessor } from '@opentelemetry/sdk-trace-node';
import { ATTR_SERVICE_INSTANCE_ID, ATTR_SERVICE_NAME } from '@opentelemetry/semantic-conventions';
import { pgMetricProducers, PostgresManager } from '../src/index.js';
import { exampleMigrationsDir } from './schema.js';
import { createService, type RequestHandler } from './service.js';

export interface ObservabilityOptions {
  serviceName: string;
  /** Serve /metrics from the app's own HTTP server instead of the exporter's server on `metricsPort`. */
  mountMetricsOnApp: boolean;
  /** The exporter's own port (9464, the registered Prometheus port of OpenTelemetry exporters). */
  metricsPort: number;
  metricsHost: string;
  /** Where spans go over OTLP/HTTP; no span exporter when unset. */
  otlpEndpoint: string | undefined;
}

export interface Observability {
  /** The Prometheus handler to mount on the app's server, when `mountMetricsOnApp`. */
  metricsHandler: RequestHandler | undefined;
  /** Sends the spans ended so far. */
  flushSpans(): Promise<void>;
  shutdown(): Promise<void>;
}

export function optionsFromEnv(env: NodeJS.ProcessEnv = process.env): ObservabilityOptions {
  return {
    serviceName: env.OTEL_SERVICE_NAME ?? 'exploit-api',
    mountMetricsOnApp: env.METRICS_ON_APP_PORT === 'true',
    metricsPort: Number(env.METRICS_PORT ?? 9464),
    // The exporter listens on localhost by default; a scraper in another container needs all interfaces.
    metricsHost: env.METRICS_HOST ?? '0.0.0.0',
    otlpEndpoint: env.OTEL_EXPORTER_OTLP_ENDPOINT,
  };
}

/**
 * Starts the NodeSDK: global meter and tracer providers, the W3C propagator, and the AsyncLocalStorage
 * context manager that lets a query's span find the request span it ran under. Call it before
 * PostgresManager.create(): the manager's tracker takes the global providers at creation, and the
 * global meter provider is a no-op (forever, for that tracker) until one is registered.
 */
export function registerOpenTelemetry(options: ObservabilityOptions): Observability {
  const resource = resourceFromAttributes({
    [ATTR_SERVICE_NAME]: options.serviceName,
    // Becomes the `instance` label on the collector path.
    [ATTR_SERVICE_INSTANCE_ID]: randomUUID(),
  });

  // pgMetricProducers(): the package's histograms aggregated in-process, collected by the reader;
  // PostgresManager.create() finds them there without being told.
  const prometheus = options.mountMetricsOnApp
    ? new PrometheusExporter({ preventServerStart: true, metricProducers: pgMetricProducers() })
    : new PrometheusExporter({ host: options.metricsHost, port: options.metricsPort, metricProducers: pgMetricProducers() });

  const spanProcessors: SpanProcessor[] = [];
  if (options.otlpEndpoint) {
    // The exporter appends /v1/traces to the endpoint, as OTEL_EXPORTER_OTLP_ENDPOINT specifies.
    spanProcessors.push(new BatchSpanProcessor(new OTLPTraceExporter({ url: `${options.otlpEndpoint.replace(/\/$/, '')}/v1/traces` })));
  }
  const sdk = new NodeSDK({
    resource,
    metricReaders: [prometheus],
    // Given explicitly (even empty), so that NodeSDK does not build exporters from OTEL_*_EXPORTER defaults.
    spanProcessors,
    logRecordProcessors: [],
  });
  sdk.start();

  return {
    metricsHandler: options.mountMetricsOnApp ? (req, res) => prometheus.getMetricsRequestHandler(req, res) : undefined,
    flushSpans: async () => {
      await Promise.all(spanProcessors.map((processor) => processor.forceFlush()));
    },
    shutdown: () => sdk.shutdown(),
  };
}

async function main(): Promise<void> {
  const observability = registerOpenTelemetry(optionsFromEnv());
  // Monitoring is on by default: create() attaches the OpenTelemetry tracker to the global providers,
  // and records its histograms into the producer the Prometheus reader collects.
  // The service's own schema: create() applies only a folder the app names.
  const db = await PostgresManager.create({ migrationsDir: exampleMigrationsDir });
  const server = createService({ db, metrics: observability.metricsHandler });
  const port = Number(process.env.PORT ?? 3000);
  server.listen(port, () => console.log(`listening on :${port}`));

  const stop = async (): Promise<void> => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await db.close({ timeoutMs: 10_000 });
    // Last, so the spans and metrics of the shutdown itself are flushed.
    await observability.shutdown();
  };
  process.once('SIGTERM', () => void stop());
  process.once('SIGINT', () => void stop());
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    console.error(error);
    process.exitCode = 1;
  });
}
