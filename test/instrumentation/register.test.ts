// The register entries as a user runs them: `node --require …/register` (CommonJS) and `node --import …/register`
// (ES modules, with OpenTelemetry's documented hook), for require('pg'), `import pg from 'pg'` and `import { Pool } from 'pg'`.
import { execFile } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.js';

const run = promisify(execFile);
const at = (path: string): string => fileURLToPath(new URL(path, import.meta.url));
let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('instr_register');
});

afterAll(async () => {
  await database.drop();
});

async function metricsOf(args: string[]): Promise<string[]> {
  const { stdout } = await run(process.execPath, args, { timeout: 30_000 });
  return JSON.parse(stdout.trim().split('\n').pop()!) as string[];
}

describe('register entries', () => {
  it('--require observes a pool built with require("pg")', async () => {
    const names = await metricsOf(['--require', 'tsx/cjs', '--require', at('./fixtures/require-register.cjs'), at('./fixtures/app.cjs'), database.url]);
    expect(names).toEqual(expect.arrayContaining(['db.client.connection.count', 'db.client.operation.duration']));
  });

  it.each(['default', 'named'])('--import observes a pool built from the %s import of pg', async (form) => {
    const names = await metricsOf(['--import', 'tsx', '--import', at('../../src/register.ts'), at('./fixtures/app.mjs'), database.url, form]);
    expect(names).toEqual(expect.arrayContaining(['db.client.connection.count', 'db.client.operation.duration']));
  });
});
