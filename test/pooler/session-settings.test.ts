// Session settings through PgBouncer: statement_timeout reaches PostgreSQL in session and transaction mode, the
// migrations' timeouts too, and what transaction mode breaks (named prepared statements, LISTEN) is said once.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MigrationError } from '../../src/index.js';
import { adminQuery, adminUrl, createTestDatabase, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';
import { PgBouncer, pgBouncerInstalled, serverAt, type PoolMode } from '../support/pgbouncer.js';

const server = (): { host: string; port: number } => serverAt(adminUrl());

describe.skipIf(!pgBouncerInstalled())('session settings through PgBouncer', () => {
  const bouncers = new Map<PoolMode, PgBouncer>();
  let database: TestDatabase;

  beforeAll(async () => {
    database = await createTestDatabase('pooler_settings');
    for (const mode of ['transaction', 'session'] as const) bouncers.set(mode, await PgBouncer.start({ server: server(), mode, poolSize: 4 }));
  });

  afterAll(async () => {
    for (const bouncer of bouncers.values()) await bouncer.destroy();
    await database.drop();
  });

  const urlVia = (mode: PoolMode): string => bouncers.get(mode)!.url(database.name);

  it("without poolerMode, a statement timeout is refused by PgBouncer at connect, and the error says to set poolerMode", async () => {
    const error = await createManager(urlVia('transaction'), { statementTimeoutMs: 500, retry: { maxRetries: 0 } }).catch((e: unknown) => e);
    expect(String((error as Error).message)).toMatch(/unsupported startup parameter: statement_timeout.*poolerMode: 'transaction' or 'session'/s);
  });

  it("poolerMode 'session': statement_timeout is set once per connection and holds for every statement", async () => {
    const { db } = await createManager(urlVia('session'), { statementTimeoutMs: 300, poolerMode: 'session', maxConnections: 2 });
    try {
      const { rows } = await db.query<{ statement_timeout: string }>('SHOW statement_timeout');
      expect(rows[0]?.statement_timeout).toBe('300ms');
      await expect(db.query('SELECT pg_sleep(2)')).rejects.toMatchObject({ code: '57014' });
    } finally {
      await db.close();
    }
  });

  it("poolerMode 'transaction': every transaction gets SET LOCAL statement_timeout in BEGIN's round trip, ORMs' BEGIN too", async () => {
    const { db, logger } = await createManager(urlVia('transaction'), { statementTimeoutMs: 300, poolerMode: 'transaction', maxConnections: 2 });
    try {
      const inside = await db.transaction(async (client) => (await client.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]);
      expect(inside?.statement_timeout).toBe('300ms');
      await expect(db.transaction((client) => client.query('SELECT pg_sleep(2)'))).rejects.toMatchObject({ code: '57014' });
      // A library's own BEGIN on db.pool gets it too, and still receives BEGIN's own result.
      const client = await db.pool.connect();
      try {
        const begin = await client.query('BEGIN');
        expect(begin.command).toBe('BEGIN');
        expect((await client.query<{ statement_timeout: string }>('SHOW statement_timeout')).rows[0]?.statement_timeout).toBe('300ms');
        await client.query('COMMIT');
      } finally {
        client.release();
      }
      // Outside a transaction the role's setting applies; the manager said so once, with the statement to run.
      expect(logger.lines.filter((l) => l.includes('ALTER ROLE')).length).toBe(1);
      expect(logger.lines.join('\n')).toMatch(/which is 0 ms.*ALTER ROLE <user> IN DATABASE <database> SET statement_timeout = 300/s);
    } finally {
      await db.close();
    }
  });

  it("poolerMode 'transaction' with the role's setting on the server: standalone statements are cut off too, and no warning", async () => {
    await adminQuery(`ALTER ROLE postgres IN DATABASE ${database.name} SET statement_timeout = 300`);
    // Server connections opened before the ALTER keep the old value: let the pooler replace them.
    await bouncers.get('transaction')!.admin('RECONNECT');
    try {
      const { db, logger } = await createManager(urlVia('transaction'), { statementTimeoutMs: 300, poolerMode: 'transaction', maxConnections: 2 });
      try {
        await expect(db.query('SELECT pg_sleep(2)')).rejects.toMatchObject({ code: '57014' });
        expect(logger.lines.filter((l) => l.includes('ALTER ROLE'))).toEqual([]);
      } finally {
        await db.close();
      }
    } finally {
      await adminQuery(`ALTER ROLE postgres IN DATABASE ${database.name} RESET statement_timeout`);
      await bouncers.get('transaction')!.admin('RECONNECT');
    }
  });

  it("poolerMode 'transaction': a named prepared statement and LISTEN each get one warning that says what to do", async () => {
    const { db, logger } = await createManager(urlVia('transaction'), { poolerMode: 'transaction', maxConnections: 2 });
    try {
      for (let i = 0; i < 3; i++) await db.pool.query({ name: 'one', text: 'SELECT 1 AS one' }).catch(() => undefined);
      await db.withConnection(async (client) => {
        await client.query('LISTEN jobs');
        await client.query('LISTEN jobs');
      });
      const prepared = logger.lines.filter((l) => l.includes('named prepared statement'));
      const listen = logger.lines.filter((l) => l.includes('LISTEN registers'));
      expect(prepared).toHaveLength(1);
      expect(prepared[0]).toMatch(/max_prepared_statements.*session mode/);
      expect(listen).toHaveLength(1);
      expect(listen[0]).toMatch(/session mode or a direct one/);
    } finally {
      await db.close();
    }
  });

  it("poolerMode 'session' says nothing about prepared statements or LISTEN: they work there", async () => {
    const { db, logger } = await createManager(urlVia('session'), { poolerMode: 'session', maxConnections: 1 });
    try {
      for (let i = 0; i < 3; i++) await expect(db.pool.query({ name: 'one', text: 'SELECT 1 AS one' })).resolves.toMatchObject({ rows: [{ one: 1 }] });
      expect(logger.lines).toEqual([]);
    } finally {
      await db.close();
    }
  });

  it.each(['transaction', 'session'] as const)(
    'migrations through PgBouncer in %s mode: their statement_timeout reaches PostgreSQL (SET LOCAL in each transaction)',
    async (mode) => {
      const fresh = await createTestDatabase('pooler_mig');
      const dir = mkdtempSync(join(tmpdir(), 'pooler-mig-'));
      writeFileSync(join(dir, '001_slow.sql'), 'CREATE TABLE slow (id int);\nSELECT pg_sleep(2);\n');
      try {
        const error = await createManager(bouncers.get(mode)!.url(fresh.name), {
          schemaInit: 'strict',
          migrationsDir: dir,
          migrations: { statementTimeoutMs: 300 },
        }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(MigrationError);
        expect(error).toMatchObject({ file: '001_slow.sql', sqlstate: '57014' });
      } finally {
        rmSync(dir, { recursive: true, force: true });
        await fresh.drop();
      }
    },
  );
});
