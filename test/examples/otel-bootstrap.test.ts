// The bootstrap example end to end: global SDK registered first, then a manager with no telemetry options reports through it.
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PostgresManager } from '../../src/index.js';
import { registerOpenTelemetry, type Observability } from '../../examples/otel-bootstrap.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';
import { resetGlobalOpenTelemetry } from '../support/otel.js';

let database: TestDatabase;
let observability: Observability;
let manager: PostgresManager;
let collector: Server;
let app: Server;
const received: { method: string | undefined; url: string | undefined; bytes: number }[] = [];

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

function close(server: Server | undefined): Promise<void> {
  return new Promise((resolve) => (server ? server.close(() => resolve()) : resolve()));
}

beforeAll(async () => {
  database = await createTestDatabase('boot');
  // Stands in for the collector's OTLP/HTTP receiver.
  collector = createServer((req: IncomingMessage, res) => {
    let bytes = 0;
    req.on('data', (chunk: Buffer) => (bytes += chunk.length));
    req.on('end', () => {
      received.push({ method: req.method, url: req.url, bytes });
      res.writeHead(200, { 'content-type': 'application/x-protobuf' }).end();
    });
  });
  const collectorPort = await listen(collector);
  observability = registerOpenTelemetry({
    serviceName: 'bootstrap-test',
    mountMetricsOnApp: true,
    metricsPort: 0,
    metricsHost: '127.0.0.1',
    otlpEndpoint: `http://127.0.0.1:${collectorPort}`,
  });
  ({ db: manager } = await createManager(database.url, { monitoringEnabled: true, slowQueryThresholdMs: 50 }));
  app = createServer((req, res) => observability.metricsHandler!(req, res));
});

afterAll(async () => {
  await manager?.close({ timeoutMs: 1000 });
  await observability?.shutdown();
  resetGlobalOpenTelemetry();
  await Promise.all([close(app), close(collector)]);
  await database?.drop();
});

describe('examples/otel-bootstrap.ts', () => {
  it('serves the pool metrics of a manager created after it, on the app server', async () => {
    await manager.query('SELECT 1');
    const port = await listen(app);
    const scrape = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(scrape).toMatch(/^db_client_connection_count\{db_client_connection_pool_name="primary",[^}]*db_client_connection_state="used"/m);
    expect(scrape).toMatch(/^db_client_operation_duration_count\{[^}]*db_query_summary="SELECT/m);
    expect(scrape).toMatch(/^target_info\{[^}]*service_name="bootstrap-test"/m);
  });

  it('sends slow-query spans over OTLP/HTTP to OTEL_EXPORTER_OTLP_ENDPOINT', async () => {
    await manager.query('SELECT pg_sleep(0.08)');
    await observability.flushSpans();
    expect(received).toContainEqual({ method: 'POST', url: '/v1/traces', bytes: expect.any(Number) });
    expect(received.find((r) => r.url === '/v1/traces')!.bytes).toBeGreaterThan(50);
  });
});
