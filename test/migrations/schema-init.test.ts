// Schema initialization is the app's: create() applies nothing unless the app names its migrations folder.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { PostgresManager } from '../../src/index.js';
import { adminQuery, createTestDatabase, type TestDatabase } from '../support/db.js';
import { capturingLogger } from '../support/manager.js';

const cleanups: Array<() => Promise<void> | void> = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

async function freshDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase('init');
  cleanups.push(() => database.drop());
  return database;
}

/** Every relation, function and type the database's users created: anything create() could have added. */
async function userObjects(database: TestDatabase): Promise<string[]> {
  const { rows } = await adminQuery<{ object: string }>(
    `SELECT 'relation ' || n.nspname || '.' || c.relname AS object
       FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema', 'pg_toast')
     UNION ALL
     SELECT 'function ' || n.nspname || '.' || p.proname
       FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
      WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
     ORDER BY 1`,
    [],
    database.name,
  );
  return rows.map((row) => row.object);
}

function appFolder(files: Record<string, string>): string {
  const dir = mkdtempSync(join(tmpdir(), 'app-migrations-'));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  for (const [name, sql] of Object.entries(files)) writeFileSync(join(dir, name), sql);
  return dir;
}

const APP_FILES = {
  '001_orders.sql': 'CREATE TABLE orders (id bigint PRIMARY KEY);\n',
  '002_order_lines.sql': 'CREATE TABLE order_lines (order_id bigint REFERENCES orders (id), line int);\n',
};
const APP_OBJECTS = [
  'relation public.order_lines',
  'relation public.orders',
  'relation public.orders_pkey',
  'relation public.schema_migrations',
  'relation public.schema_migrations_pkey',
];

describe('schema initialization at start-up', () => {
  it('with no migrations folder, create({ databaseUrl }) leaves a fresh database without a single new object', async () => {
    const database = await freshDatabase();
    const before = await userObjects(database);
    // The defaults as a new user gets them: schemaInit unset ('strict'), no migrationsDir, no DB_MIGRATIONS_DIR.
    const db = await PostgresManager.create({ databaseUrl: database.url, env: {}, logger: capturingLogger() });
    try {
      await db.query('SELECT 1');
      expect(db.schemaStatus).toEqual({ state: 'skipped', applied: [] });
    } finally {
      await db.close();
    }
    expect(before).toEqual([]);
    expect(await userObjects(database)).toEqual([]);
  });

  it("with the app's folder as migrationsDir, create() applies exactly that folder", async () => {
    const database = await freshDatabase();
    const dir = appFolder(APP_FILES);
    const db = await PostgresManager.create({ databaseUrl: database.url, migrationsDir: dir, env: {}, logger: capturingLogger() });
    try {
      expect(db.schemaStatus).toEqual({ state: 'applied', applied: ['001_orders.sql', '002_order_lines.sql'] });
    } finally {
      await db.close();
    }
    expect(await userObjects(database)).toEqual(APP_OBJECTS);
  });

  it('DB_MIGRATIONS_DIR names the folder when the option is not given', async () => {
    const database = await freshDatabase();
    const dir = appFolder(APP_FILES);
    const db = await PostgresManager.create({ databaseUrl: database.url, env: { DB_MIGRATIONS_DIR: dir }, logger: capturingLogger() });
    try {
      expect(db.config.migrationsDir).toBe(dir);
      expect(db.schemaStatus.applied).toEqual(['001_orders.sql', '002_order_lines.sql']);
    } finally {
      await db.close();
    }
    expect(await userObjects(database)).toEqual(APP_OBJECTS);
  });
});
