// The migration runner against the real server: order, history, failures, checksums, the lock and its timeouts.
import { createHash } from 'node:crypto';
import { copyFileSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { exampleMigrationsDir } from '../../examples/schema.js';
import { ConfigError, MigrationError, parseDatabaseUrl, type DatabaseTarget } from '../../src/index.js';
import { migrationLockKey } from '../../src/migrations/lock.js';
import { migrationSettings } from '../../src/migrations/options.js';
import { runMigrations } from '../../src/migrations/runner.js';
import { getMigrationStatus } from '../../src/migrations/status.js';
import { adminQuery, countConnections, createTestDatabase, eventually, uniqueName, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';

const INITIAL_SCHEMA = join(exampleMigrationsDir, '001_initial_schema.sql');
const cleanups: Array<() => Promise<void> | void> = [];

afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

interface Fixture {
  database: TestDatabase;
  target: DatabaseTarget;
  dir: string;
  appName: string;
  q: <R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params?: unknown[]) => Promise<pg.QueryResult<R>>;
  write: (name: string, sql: string) => void;
  run: (options?: Partial<Parameters<typeof runMigrations>[1]>) => ReturnType<typeof runMigrations>;
}

/** A fresh database and a temporary migrations folder holding `files`. */
async function fixture(files: Record<string, string>): Promise<Fixture> {
  const database = await createTestDatabase('mig');
  const dir = mkdtempSync(join(tmpdir(), 'migrations-'));
  cleanups.push(() => database.drop(), () => rmSync(dir, { recursive: true, force: true }));
  const write = (name: string, sql: string) => writeFileSync(join(dir, name), sql);
  for (const [name, sql] of Object.entries(files)) write(name, sql);
  const target = parseDatabaseUrl(database.url, 'test');
  const appName = uniqueName('migrate');
  return {
    database,
    target,
    dir,
    appName,
    write,
    q: (sql, params = []) => adminQuery(sql, params, database.name),
    run: (options = {}) => runMigrations(target, { dir, applicationName: appName, ...options }),
  };
}

async function exists(f: Fixture, relation: string): Promise<boolean> {
  const { rows } = await f.q<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [relation]);
  return rows[0]?.present === true;
}

async function versions(f: Fixture): Promise<number[]> {
  const { rows } = await f.q<{ version: number }>('SELECT version FROM schema_migrations ORDER BY version');
  return rows.map((r) => r.version);
}

async function heldAdvisoryLocks(f: Fixture): Promise<number> {
  const { rows } = await f.q<{ n: string }>(
    "SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
  );
  return Number(rows[0]?.n);
}

/** A separate session holding the migration lock, as another instance mid-migration would. */
async function holdMigrationLock(f: Fixture, applicationName: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: f.database.url, application_name: applicationName });
  await client.connect();
  await client.query('SELECT pg_advisory_lock($1::bigint)', [migrationLockKey('public').toString()]);
  return client;
}

async function catchError(promise: Promise<unknown>): Promise<MigrationError> {
  const error = await promise.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(MigrationError);
  return error as MigrationError;
}

describe('runMigrations', () => {
  it('applies files in numeric order and records version, name, sha256 checksum, applied_at and execution time', async () => {
    const f = await fixture({
      '1_a.sql': 'CREATE TABLE a (id int PRIMARY KEY);',
      '2_b.sql': 'CREATE TABLE b (a_id int REFERENCES a);',
      // Sorted as text, 10 would come before 2 and fail: c references b.
      '10_c.sql': "CREATE TABLE c (b_a_id int);\nSELECT 'BEGIN; COMMIT;' AS not_a_statement;\n",
      'README.md': 'Not a migration: ignored.',
    });
    const result = await f.run();
    expect(result.applied).toEqual(['1_a.sql', '2_b.sql', '10_c.sql']);
    const { rows } = await f.q<{ version: number; name: string; checksum: string; applied_at: Date; execution_ms: number }>(
      'SELECT version, name, checksum, applied_at, execution_ms FROM schema_migrations ORDER BY version',
    );
    expect(rows.map((r) => [r.version, r.name])).toEqual([
      [1, '1_a.sql'],
      [2, '2_b.sql'],
      [10, '10_c.sql'],
    ]);
    expect(rows[1]?.checksum).toBe(createHash('sha256').update('CREATE TABLE b (a_id int REFERENCES a);').digest('hex'));
    for (const row of rows) {
      expect(row.applied_at).toBeInstanceOf(Date);
      expect(row.execution_ms).toBeGreaterThanOrEqual(0);
    }
  });

  it('a second run applies nothing, and needs no lock to find that out', async () => {
    const f = await fixture({ '001_a.sql': 'CREATE TABLE a (id int);' });
    await f.run();
    const holder = await holdMigrationLock(f, 'busy-instance');
    try {
      await expect(f.run({ lockWaitTimeoutMs: 200 })).resolves.toEqual({ applied: [] });
    } finally {
      await holder.end();
    }
    expect(await versions(f)).toEqual([1]);
  });

  it('leaves no connection and no advisory lock behind, after success and after failure', async () => {
    const f = await fixture({ '001_a.sql': 'CREATE TABLE a (id int);' });
    await f.run();
    expect(await countConnections(f.appName)).toBe(0);
    expect(await heldAdvisoryLocks(f)).toBe(0);
    f.write('002_bad.sql', 'SELECT 1/0;');
    await catchError(f.run());
    expect(await countConnections(f.appName)).toBe(0);
    expect(await heldAdvisoryLocks(f)).toBe(0);
  });

  it('a broken 002 rolls back completely and names the file, the SQLSTATE and the position', async () => {
    const broken = 'CREATE TABLE partial_table (id int);\nINSERT INTO partial_table VALUES (1);\nSELECT * FROM no_such_table;\n';
    const f = await fixture({ '002_broken.sql': broken });
    copyFileSync(INITIAL_SCHEMA, join(f.dir, '001_initial_schema.sql'));

    const error = await catchError(f.run());
    expect(error.file).toBe('002_broken.sql');
    expect(error.sqlstate).toBe('42P01');
    expect(error.position).toBe(broken.indexOf('no_such_table') + 1);
    expect(error.message).toContain('002_broken.sql');
    expect(error.message).toContain('SQLSTATE 42P01');
    expect(error.message).toContain('line 3, column 15');
    expect(error.message).toContain('relation "no_such_table" does not exist');

    // 001 stays applied; nothing of 002 remains, not even the statements before the failing one.
    expect(await versions(f)).toEqual([1]);
    expect(await exists(f, 'exploits')).toBe(true);
    expect(await exists(f, 'partial_table')).toBe(false);
  });

  it('a file and its history row commit together: when the row cannot be written, the file is undone too', async () => {
    // The file succeeds, but takes its own version number in the history, so the runner's insert fails.
    const f = await fixture({
      '001_sneaky.sql': "CREATE TABLE sneaky (id int);\nINSERT INTO schema_migrations (version, name, checksum, execution_ms) VALUES (1, 'x', repeat('0', 64), 0);\n",
    });
    const error = await catchError(f.run());
    expect(error).toMatchObject({ file: '001_sneaky.sql', sqlstate: '23505' });
    expect(await exists(f, 'sneaky')).toBe(false);
    expect(await versions(f)).toEqual([]);
  });

  it("a broken 002: 'log' starts the manager and keeps the failure; 'strict', the default, throws", async () => {
    const f = await fixture({ '002_broken.sql': 'CREATE TABLE partial_table (id int);\nSELECT * FROM no_such_table;\n' });
    copyFileSync(INITIAL_SCHEMA, join(f.dir, '001_initial_schema.sql'));

    const logged = await createManager(f.database.url, { schemaInit: 'log', migrationsDir: f.dir });
    try {
      expect(logged.db.schemaStatus.state).toBe('failed');
      expect(logged.db.schemaStatus.applied).toEqual([]);
      expect(logged.db.schemaStatus.error).toMatchObject({ file: '002_broken.sql', sqlstate: '42P01' });
      expect(logged.db.getPoolMetrics().schema.state).toBe('failed');
      expect(logged.logger.lines.join('\n')).toMatch(/schema initialization failed.*002_broken\.sql.*42P01/);
      // It serves queries, and 001 (which succeeded) was kept.
      await expect(logged.db.query('SELECT count(*) FROM exploits')).resolves.toMatchObject({ rowCount: 1 });
    } finally {
      await logged.db.close();
    }
    expect(await versions(f)).toEqual([1]);

    const appName = uniqueName('strict');
    // undefined overrides the test helper's 'off', so the configuration's default applies.
    const strict = createManager(f.database.url, { schemaInit: undefined, migrationsDir: f.dir, applicationName: appName });
    const error = await catchError(strict);
    expect(error).toMatchObject({ file: '002_broken.sql', sqlstate: '42P01' });
    expect(await eventually(() => countConnections(appName), (n) => n === 0)).toBe(0);
    expect(await eventually(() => countConnections(`${appName}-migrate`), (n) => n === 0)).toBe(0);
    expect(await exists(f, 'partial_table')).toBe(false);
  });

  it('an applied file whose content changed is refused, naming the file', async () => {
    const f = await fixture({ '001_a.sql': 'CREATE TABLE a (id int);', '002_b.sql': 'CREATE TABLE b (id int);' });
    await f.run();
    f.write('002_b.sql', 'CREATE TABLE b (id bigint);');
    f.write('003_c.sql', 'CREATE TABLE c (id int);');

    const error = await catchError(f.run());
    expect(error.file).toBe('002_b.sql');
    expect(error.message).toMatch(/002_b\.sql.*changed after it was applied.*checksum mismatch/);
    // Nothing pending was applied while the folder disagrees with the database.
    expect(await exists(f, 'c')).toBe(false);
    expect(await versions(f)).toEqual([1, 2]);

    const status = await getMigrationStatus(f.target, { dir: f.dir });
    expect(status.applied.map((m) => [m.name, m.state])).toEqual([
      ['001_a.sql', 'ok'],
      ['002_b.sql', 'changed'],
    ]);
    expect(status.pending.map((m) => m.name)).toEqual(['003_c.sql']);
    expect(status.problems.map((p) => p.file)).toEqual(['002_b.sql']);
  });

  it('CRLF line endings do not count as a change', async () => {
    const f = await fixture({ '001_a.sql': 'CREATE TABLE a (id int);\nCREATE TABLE b (id int);\n' });
    await f.run();
    f.write('001_a.sql', 'CREATE TABLE a (id int);\r\nCREATE TABLE b (id int);\r\n');
    await expect(f.run()).resolves.toEqual({ applied: [] });
  });

  it('an applied version with no file on disk is refused: the database is ahead of the code', async () => {
    const f = await fixture({ '001_a.sql': 'CREATE TABLE a (id int);', '002_b.sql': 'CREATE TABLE b (id int);' });
    await f.run();
    rmSync(join(f.dir, '002_b.sql'));
    const error = await catchError(f.run());
    expect(error.file).toBe('002_b.sql');
    expect(error.message).toMatch(/recorded as applied .* but is not in/);
  });

  it('a new file numbered below the newest applied one is refused instead of run out of order', async () => {
    const f = await fixture({ '001_a.sql': 'CREATE TABLE a (id int);', '003_c.sql': 'CREATE TABLE c (id int);' });
    await f.run();
    f.write('002_b.sql', 'CREATE TABLE b (id int);');
    const error = await catchError(f.run());
    expect(error.file).toBe('002_b.sql');
    expect(error.message).toContain('out of order');
    expect(await exists(f, 'b')).toBe(false);
  });

  it('a file with its own COMMIT is refused before anything runs', async () => {
    const sql = 'CREATE TABLE first_half (id int);\n-- make it stick\nCOMMIT;\nCREATE TABLE second_half (id int);\n';
    const f = await fixture({ '001_ok.sql': 'CREATE TABLE ok (id int);', '002_commit.sql': sql });
    const error = await catchError(f.run());
    expect(error.file).toBe('002_commit.sql');
    expect(error.position).toBe(sql.indexOf('COMMIT') + 1);
    expect(error.message).toContain('COMMIT (line 3, column 1)');
    // Checked for all pending files first: not even 001 ran.
    expect(await exists(f, 'ok')).toBe(false);
    expect(await exists(f, 'first_half')).toBe(false);
  });

  it('refuses badly named and duplicate-numbered files', async () => {
    const badName = await fixture({ '001_a.sql': 'SELECT 1;', 'add_users.sql': 'SELECT 1;' });
    expect(await catchError(badName.run())).toMatchObject({ file: 'add_users.sql' });
    const duplicate = await fixture({ '001_a.sql': 'SELECT 1;', '1_b.sql': 'SELECT 1;' });
    expect((await catchError(duplicate.run())).message).toMatch(/same version \(1\)/);
    expect(await exists(duplicate, 'schema_migrations')).toBe(false);
  });

  it("refuses a schema_migrations table that belongs to another tool", async () => {
    const f = await fixture({ '001_a.sql': 'CREATE TABLE a (id int);' });
    await f.q('CREATE TABLE schema_migrations (version bigint PRIMARY KEY, dirty boolean NOT NULL)');
    const error = await catchError(f.run());
    expect(error.message).toContain('was not created by otel-pg-manager');
    expect(await exists(f, 'a')).toBe(false);
  });

  it('waits for an instance that holds the lock, and applies once it is released', async () => {
    const f = await fixture({ '001_a.sql': 'CREATE TABLE a (id int);' });
    const holder = await holdMigrationLock(f, 'other-instance');
    const startedAt = performance.now();
    const run = f.run({ lockWaitTimeoutMs: 10_000 });
    setTimeout(() => void holder.end(), 400);
    await expect(run).resolves.toEqual({ applied: ['001_a.sql'] });
    expect(performance.now() - startedAt).toBeGreaterThanOrEqual(350);
  });

  it('gives up at the deadline with an error that names the holder, having applied nothing', async () => {
    const f = await fixture({ '001_a.sql': 'CREATE TABLE a (id int);' });
    const holder = await holdMigrationLock(f, 'stuck-instance');
    try {
      const startedAt = performance.now();
      const error = await catchError(f.run({ lockWaitTimeoutMs: 300 }));
      expect(performance.now() - startedAt).toBeGreaterThanOrEqual(300);
      expect(error.file).toBeUndefined();
      expect(error.message).toMatch(/gave up after waiting 300 ms for the migration lock, held by pid \d+ \(application_name "stuck-instance"/);
      expect(error.message).toContain('raise migrations.lockWaitTimeoutMs of PostgresManager.create(), --lock-wait-timeout-ms of otel-pg-manager migrate');
      expect(await exists(f, 'a')).toBe(false);
    } finally {
      await holder.end();
    }
  });

  it('DDL that waits for a table lock gives up after lock_timeout instead of stalling the service', async () => {
    const f = await fixture({ '001_a.sql': 'CREATE TABLE a (id int);' });
    await f.run();
    f.write('002_alter.sql', 'ALTER TABLE a ADD COLUMN b int;');
    // The running service reads from a in a long transaction: ALTER TABLE needs an exclusive lock.
    const service = new pg.Client({ connectionString: f.database.url });
    await service.connect();
    try {
      await service.query('BEGIN');
      await service.query('SELECT * FROM a');
      const startedAt = performance.now();
      const error = await catchError(f.run({ lockTimeoutMs: 200 }));
      expect(performance.now() - startedAt).toBeLessThan(5000);
      expect(error).toMatchObject({ file: '002_alter.sql', sqlstate: '55P03' });
      expect(error.message).toContain('lock_timeout (200 ms)');
      expect(error.message).toContain('raise migrations.lockTimeoutMs of PostgresManager.create(), --lock-timeout-ms of otel-pg-manager migrate');
    } finally {
      await service.end();
    }
    expect(await versions(f)).toEqual([1]);
  });

  it('with lockWaitTimeoutMs 0 it waits for the holder without a deadline', async () => {
    const f = await fixture({ '001_a.sql': 'CREATE TABLE a (id int);' });
    const holder = await holdMigrationLock(f, 'other-instance');
    const run = f.run({ lockWaitTimeoutMs: 0 });
    setTimeout(() => void holder.end(), 400);
    await expect(run).resolves.toEqual({ applied: ['001_a.sql'] });
  });

  it('a statement longer than statement_timeout is cancelled and rolled back', async () => {
    const f = await fixture({ '001_slow.sql': 'CREATE TABLE slow (id int);\nSELECT pg_sleep(5);\n' });
    const error = await catchError(f.run({ statementTimeoutMs: 200 }));
    expect(error).toMatchObject({ file: '001_slow.sql', sqlstate: '57014' });
    expect(await exists(f, 'slow')).toBe(false);
  });

  it('follows symbolic links, as in a Kubernetes ConfigMap mount where every file links into ..data', async () => {
    const f = await fixture({});
    const revision = join(f.dir, '..2024_06_01_12_00_00.000000001');
    mkdirSync(revision);
    writeFileSync(join(revision, '001_a.sql'), 'CREATE TABLE a (id int);');
    writeFileSync(join(revision, '002_b.sql'), 'CREATE TABLE b (id int);');
    symlinkSync('..2024_06_01_12_00_00.000000001', join(f.dir, '..data'));
    symlinkSync(join('..data', '001_a.sql'), join(f.dir, '001_a.sql'));
    symlinkSync(join('..data', '002_b.sql'), join(f.dir, '002_b.sql'));

    await expect(f.run()).resolves.toEqual({ applied: ['001_a.sql', '002_b.sql'] });
    const { rows } = await f.q<{ name: string; checksum: string }>('SELECT name, checksum FROM schema_migrations WHERE version = 1');
    expect(rows[0]).toEqual({ name: '001_a.sql', checksum: createHash('sha256').update('CREATE TABLE a (id int);').digest('hex') });
  });

  it('refuses a .sql entry that is not a file (a dangling link, a folder) rather than skipping a migration', async () => {
    const dangling = await fixture({ '001_a.sql': 'CREATE TABLE a (id int);' });
    symlinkSync(join('..data', '002_b.sql'), join(dangling.dir, '002_b.sql'));
    const error = await catchError(dangling.run());
    expect(error.file).toBe('002_b.sql');
    expect(error.message).toContain('is a symbolic link to a file that does not exist');
    expect(await exists(dangling, 'a')).toBe(false);

    const folder = await fixture({ '001_a.sql': 'CREATE TABLE a (id int);' });
    mkdirSync(join(folder.dir, '002_b.sql'));
    expect((await catchError(folder.run())).message).toMatch(/002_b\.sql: is not a regular file/);
  });

  it("create()'s migrations.statementTimeoutMs reaches the runner, and its timeout error names that option", async () => {
    const f = await fixture({ '001_slow.sql': 'CREATE TABLE slow (id int);\nSELECT pg_sleep(5);\n' });
    const error = await catchError(
      createManager(f.database.url, { schemaInit: 'strict', migrationsDir: f.dir, migrations: { statementTimeoutMs: 200 } }),
    );
    expect(error).toMatchObject({ file: '001_slow.sql', sqlstate: '57014' });
    expect(error.message).toContain('migration statement_timeout (200 ms)');
    expect(error.message).toContain('raise migrations.statementTimeoutMs of PostgresManager.create(), --statement-timeout-ms of otel-pg-manager migrate');
    expect(error.message).toContain('DB_STATEMENT_TIMEOUT_MS applies to the pools, not to migrations');
    expect(await exists(f, 'slow')).toBe(false);
  });

  it('a bad migrations timeout is a ConfigError naming the option, before any connection is tried', async () => {
    // Nothing listens on port 1: a connection attempt would fail with ECONNREFUSED instead.
    const unreachable = 'postgresql://nobody@127.0.0.1:1/nowhere';
    for (const [migrations, field] of [
      [{ lockWaitTimeoutMs: -1 }, 'migrations.lockWaitTimeoutMs'],
      [{ statementTimeoutMs: 1.5 }, 'migrations.statementTimeoutMs'],
      [{ lockTimeoutMs: '10s' as unknown as number }, 'migrations.lockTimeoutMs'],
      [{ statementTimeoutMs: 2 ** 31 }, 'migrations.statementTimeoutMs'],
    ] as const) {
      const error = await createManager(unreachable, { migrations }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).toBeInstanceOf(ConfigError);
      expect(error).toMatchObject({ field });
      expect((error as ConfigError).message).toContain('must be a whole number of milliseconds from 0 to 2147483647');
    }
  });

  it('a missing folder is a MigrationError that names it', async () => {
    const f = await fixture({});
    const missing = join(f.dir, 'nope');
    const error = await catchError(f.run({ dir: missing }));
    expect(error.message).toContain(`the migrations folder ${missing} does not exist`);
  });
});

describe('migration timeout defaults', () => {
  it('the lock wait is never shorter than the statement timeout a holder may be running into', () => {
    expect(migrationSettings({ dir: 'migrations' })).toMatchObject({ statementTimeoutMs: 300_000, lockWaitTimeoutMs: 360_000, lockTimeoutMs: 10_000 });
    expect(migrationSettings({ dir: 'migrations', statementTimeoutMs: 1_800_000 }).lockWaitTimeoutMs).toBe(1_860_000);
    expect(migrationSettings({ dir: 'migrations', statementTimeoutMs: 0 }).lockWaitTimeoutMs).toBe(0);
    expect(migrationSettings({ dir: 'migrations', statementTimeoutMs: 1_800_000, lockWaitTimeoutMs: 5000 }).lockWaitTimeoutMs).toBe(5000);
  });
});
