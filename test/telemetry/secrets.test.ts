import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPasswordRole, createTestDatabase, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';

const PASSWORD = `pw-${Math.random().toString(36).slice(2)}-SECRET`;
let database: TestDatabase;
let url: string;

beforeAll(async () => {
  database = await createTestDatabase('secrets');
  ({ url } = await createPasswordRole(database.name, PASSWORD));
});

afterAll(async () => {
  await database.drop();
});

describe('the password never shows', () => {
  it('is really used to connect, yet absent from inspect, JSON and metrics', async () => {
    const { db, logger } = await createManager(url, { readReplicaUrl: url });
    try {
      const lease = await db.getConnection();
      expect((await lease.client.query('SELECT current_user AS u')).rows[0]?.u).toMatch(/^role_/);
      for (const text of [
        inspect(db, { depth: 20, showHidden: false }),
        inspect(db.config, { depth: 20 }),
        inspect(lease, { depth: 4 }),
        JSON.stringify(db),
        JSON.stringify(db.getPoolMetrics()),
        JSON.stringify(db.config),
        ...logger.lines,
      ]) {
        expect(text).not.toContain(PASSWORD);
      }
      expect(inspect(db)).toContain('*****');
      lease.release();
    } finally {
      await db.close();
    }
  });

  it('is absent from the error when authentication fails, which names the server (host:port/database)', async () => {
    const wrong = new URL(url);
    wrong.password = `${PASSWORD}-wrong`;
    const error = await createManager(wrong.toString()).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: '28P01' });
    expect((error as Error).message).toMatch(new RegExp(`^password authentication failed for user "role_\\w+" \\(server 127\\.0\\.0\\.1:${wrong.port}/${database.name}\\)$`));
    expect(inspect(error)).toContain(`(server 127.0.0.1:${wrong.port}/${database.name})`);
    expect(inspect(error, { depth: 10 })).not.toContain(PASSWORD);
  });

  it('names the migrations server, not the primary, when the migrations connection is refused', async () => {
    const migrations = new URL(url);
    migrations.pathname = '/no_such_database';
    const dir = mkdtempSync(join(tmpdir(), 'secrets-migrations-'));
    writeFileSync(join(dir, '001_noop.sql'), 'SELECT 1;\n');
    const error = await createManager(url, { migrationsUrl: migrations.toString(), migrationsDir: dir, schemaInit: 'strict' }).catch((e: unknown) => e);
    expect(error).toMatchObject({ code: '3D000' });
    expect((error as Error).message).toContain(`(server 127.0.0.1:${migrations.port}/no_such_database)`);
    expect((error as Error).message).not.toContain(`/${database.name})`);
    expect(inspect(error, { depth: 10 })).not.toContain(PASSWORD);
  });
});
