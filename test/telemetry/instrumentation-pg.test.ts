// With @opentelemetry/instrumentation-pg installed too, pools are counted twice under the same names; the README's view drops its copy.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const run = promisify(execFile);
const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const childScript = fileURLToPath(new URL('../support/with-instrumentation-pg.ts', import.meta.url));

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('instr_pg');
});

afterAll(async () => {
  await database.drop();
});

async function scopesByMetric(view: 'drop' | 'none'): Promise<Record<string, string[]>> {
  const { stdout } = await run(process.execPath, ['--import', 'tsx', childScript, database.url, view], { cwd: repoRoot, timeout: 60_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as Record<string, string[]>;
}

describe('alongside @opentelemetry/instrumentation-pg', () => {
  it('reports the operation histogram from both packages without the view, and only from this one with it', async () => {
    const [both, dropped] = await Promise.all([scopesByMetric('none'), scopesByMetric('drop')]);
    expect(both['db.client.operation.duration']?.sort()).toEqual(['@opentelemetry/instrumentation-pg', 'otel-pg-manager']);
    expect(dropped['db.client.operation.duration']).toEqual(['otel-pg-manager']);
    expect(Object.values(dropped).flat()).not.toContain('@opentelemetry/instrumentation-pg');
  }, 120_000);
});
