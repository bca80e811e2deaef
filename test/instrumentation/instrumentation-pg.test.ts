// PgManagerInstrumentation with @opentelemetry/instrumentation-pg registered too (each in a child process: both
// patch pg when it is first required). pg still answers as before; the pool gauges come twice under the same names,
// instrumentation-pg adds a span per statement and per connect, and one warning (for two pools) says how to drop its copy.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const run = promisify(execFile);
const child = fileURLToPath(new URL('./fixtures/with-instrumentation-pg.ts', import.meta.url));
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('instr_both');
});

afterAll(async () => {
  await database.drop();
});

interface Seen {
  results: unknown[];
  warnings: string[];
  metrics: Record<string, Record<string, number>>;
  spansByScope: Record<string, { total: number; underRequest: number; failed: number }>;
}

describe.each(['ours-first', 'theirs-first'])('with instrumentation-pg also registered (%s)', (order) => {
  it('leaves pg answering as before, reports the pool gauges twice under one name, and warns once with the view that drops the copy', async () => {
    const { stdout } = await run(process.execPath, ['--import', 'tsx', child, database.url, order], { timeout: 60_000 });
    const seen = JSON.parse(stdout.trim().split('\n').pop()!) as Seen;
    expect(seen.results).toEqual([[{ n: 1 }], '42P01', [{ n: 2 }], '42P01']);
    // Both report the pool gauges under the same names, so a sum over scopes counts every pool twice.
    for (const name of ['db.client.connection.count', 'db.client.connection.max', 'db.client.connection.pending_requests']) {
      expect(Object.keys(seen.metrics[name] ?? {}).sort(), name).toEqual(['@opentelemetry/instrumentation-pg', 'otel-pg-manager']);
    }
    // Two pools, four statements, each acquired and timed once by this package.
    expect(seen.metrics['db.client.operation.duration']?.['otel-pg-manager']).toBe(4);
    expect(seen.metrics['db.client.connection.wait_time']).toEqual({ 'otel-pg-manager': 4 });
    // instrumentation-pg adds a span per statement (and per connect); this package only the failed (and slow) ones.
    expect(seen.spansByScope['otel-pg-manager']).toEqual({ total: 2, underRequest: 2, failed: 2 });
    expect(seen.spansByScope['@opentelemetry/instrumentation-pg']!.total).toBeGreaterThanOrEqual(4);
    expect(seen.warnings).toHaveLength(1);
    expect(seen.warnings[0]).toContain("meterName: '@opentelemetry/instrumentation-pg', aggregation: { type: AggregationType.DROP }");
  });
});
