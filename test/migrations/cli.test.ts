// The otel-pg-manager command line, run as a child process against the test server.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checksumOf } from '../../src/migrations/files.js';
import { adminQuery, createPasswordRole, createTestDatabase, type TestDatabase } from '../support/db.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const cli = fileURLToPath(new URL('../../src/migrations/cli.ts', import.meta.url));

interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

function runCli(args: string[], env: Record<string, string> = {}): Promise<CliResult> {
  return new Promise((resolve) => {
    const { DATABASE_URL: _url, DB_MIGRATIONS_DIR: _dir, ...parentEnv } = process.env;
    execFile(
      process.execPath,
      ['--import', 'tsx', cli, ...args],
      { cwd: repoRoot, env: { ...parentEnv, ...env }, timeout: 60_000 },
      (error, stdout, stderr) => {
        const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
        resolve({ code, stdout, stderr });
      },
    );
  });
}

// Each test starts one to four cold `node --import tsx` processes; on a loaded machine that can outlast the default 30 s.
describe('otel-pg-manager migrate | status', { timeout: 120_000 }, () => {
  let database: TestDatabase;
  let dir: string;
  const first = 'CREATE TABLE cli_first (id int);\n';
  const second = 'CREATE TABLE cli_second (id int);\n';

  beforeAll(async () => {
    database = await createTestDatabase('mig_cli');
    dir = mkdtempSync(join(tmpdir(), 'migrations-cli-'));
    writeFileSync(join(dir, '001_first.sql'), first);
  });

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await database.drop();
  });

  it('--help prints the usage and exits 0', async () => {
    const result = await runCli(['--help']);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('Usage: otel-pg-manager <command> [--url URL] [--dir DIR]');
    expect(result.stdout).toContain('Exit codes');
  });

  it('status lists pending files with their checksums before anything is applied', async () => {
    const result = await runCli(['status', '--url', database.url, '--dir', dir]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toContain('Applied (0):');
    expect(result.stdout).toContain(`Pending (1):\n  001_first.sql  sha256:${checksumOf(first)}`);
    // Status changes nothing: not even the history table is created.
    const { rows } = await adminQuery("SELECT to_regclass('schema_migrations') AS t", [], database.name);
    expect(rows[0]?.t).toBeNull();
  });

  it('migrate applies the pending files, with the URL taken from DATABASE_URL', async () => {
    const result = await runCli(['migrate', '--dir', dir], { DATABASE_URL: database.url });
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(/applied migration 001_first\.sql in \d+ ms/);
    expect(result.stdout).toContain('Applied 1 migration(s).');
    const { rows } = await adminQuery('SELECT version, name FROM schema_migrations', [], database.name);
    expect(rows).toEqual([{ version: 1, name: '001_first.sql' }]);

    const again = await runCli(['migrate', '--url', database.url, '--dir', dir]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stdout).toContain('Nothing to apply');
  });

  it('status shows applied and pending migrations with checksums', async () => {
    writeFileSync(join(dir, '002_second.sql'), second);
    const result = await runCli(['status', '--url', database.url, '--dir', dir]);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(new RegExp(`Applied \\(1\\):\\n  001_first\\.sql  sha256:${checksumOf(first)}  \\d{4}-\\d\\d-\\d\\dT[^ ]+  \\d+ ms\\n`));
    expect(result.stdout).toContain(`Pending (1):\n  002_second.sql  sha256:${checksumOf(second)}`);
  });

  it('status exits 1 and says which file changed after it was applied', async () => {
    writeFileSync(join(dir, '001_first.sql'), 'CREATE TABLE cli_first (id bigint);\n');
    try {
      const result = await runCli(['status', '--url', database.url, '--dir', dir]);
      expect(result.code).toBe(1);
      expect(result.stdout).toContain('001_first.sql');
      expect(result.stdout).toContain('CHANGED ON DISK');
      expect(result.stderr).toMatch(/Problem: Migration 001_first\.sql: was changed after it was applied/);
      const migrate = await runCli(['migrate', '--url', database.url, '--dir', dir]);
      expect(migrate.code).toBe(1);
      expect(migrate.stderr).toContain('Migration 001_first.sql: was changed after it was applied');
    } finally {
      writeFileSync(join(dir, '001_first.sql'), first);
    }
  });

  it('a failing migration exits 1 with the file, the SQLSTATE and the position', async () => {
    writeFileSync(join(dir, '003_broken.sql'), 'SELECT * FROM no_such_table;\n');
    try {
      const result = await runCli(['migrate', '--url', database.url, '--dir', dir]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain('Migration 003_broken.sql (SQLSTATE 42P01, at character 15): failed and was rolled back');
    } finally {
      rmSync(join(dir, '003_broken.sql'));
    }
  });

  it('--statement-timeout-ms reaches the runner, and its timeout error names the flag; a bad value exits 2', async () => {
    writeFileSync(join(dir, '003_slow.sql'), 'SELECT pg_sleep(5);\n');
    try {
      const slow = await runCli(['migrate', '--url', database.url, '--dir', dir, '--statement-timeout-ms', '200']);
      expect(slow.code).toBe(1);
      expect(slow.stderr).toContain('Migration 003_slow.sql (SQLSTATE 57014');
      expect(slow.stderr).toContain('migration statement_timeout (200 ms)');
      expect(slow.stderr).toContain('--statement-timeout-ms of otel-pg-manager migrate');
    } finally {
      rmSync(join(dir, '003_slow.sql'));
    }

    const bad = await runCli(['migrate', '--url', database.url, '--lock-timeout-ms', '10s']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain('Invalid configuration for --lock-timeout-ms: must be a whole number of milliseconds');

    const onStatus = await runCli(['status', '--url', database.url, '--lock-wait-timeout-ms', '1000']);
    expect(onStatus.code).toBe(2);
    expect(onStatus.stderr).toContain('--lock-wait-timeout-ms applies to migrate only');
  });

  it('a malformed URL, a missing URL, an unknown command or option exit 2 with a clear message', async () => {
    const malformed = await runCli(['migrate', '--url', 'not a url']);
    expect(malformed.code).toBe(2);
    expect(malformed.stderr).toContain('Invalid configuration for --url: is not a valid URL');

    const missing = await runCli(['status']);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toContain('no database: pass --url or set DATABASE_URL');

    const unknown = await runCli(['upgrade', '--url', database.url]);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toContain('unknown command "upgrade"');

    const option = await runCli(['migrate', '--force']);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain("Unknown option '--force'");
  });

  it('migrate and status without --dir or DB_MIGRATIONS_DIR exit 2 and touch nothing, since the package ships no schema', async () => {
    const tables = async () => (await adminQuery("SELECT count(*)::int AS n FROM pg_tables WHERE schemaname = 'public'", [], database.name)).rows;
    const before = await tables();
    for (const command of ['migrate', 'status']) {
      const result = await runCli([command, '--url', database.url]);
      expect(result.code).toBe(2);
      expect(result.stderr).toContain('no migrations folder: pass --dir or set DB_MIGRATIONS_DIR');
    }
    expect(await tables()).toEqual(before);
  });

  it('status takes the folder from DB_MIGRATIONS_DIR when --dir is not given', async () => {
    const result = await runCli(['status', '--url', database.url], { DB_MIGRATIONS_DIR: dir });
    expect(result.code).toBe(0);
    expect(result.stdout).toContain(`Migrations: ${dir}`);
    expect(result.stdout).toContain('001_first.sql');
  });

  it('--dir (or DB_MIGRATIONS_DIR) naming a folder that does not exist exits 2, the usage code, before connecting', async () => {
    const missing = join(dir, 'no-such-folder');
    const result = await runCli(['migrate', '--url', 'postgresql://someone@127.0.0.1:1/nowhere', '--dir', missing]);
    expect(result).toMatchObject({ code: 2, stderr: expect.stringContaining(`no migrations folder at ${missing} (--dir)`) });
    const fromEnv = await runCli(['status', '--url', database.url], { DB_MIGRATIONS_DIR: missing });
    expect(fromEnv).toMatchObject({ code: 2, stderr: expect.stringContaining('(DB_MIGRATIONS_DIR)') });
  });

  it('a server that accepts the connection and never answers exits 1, naming the host, the port and the timeout', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((socket) => void sockets.push(socket));
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const { port } = silent.address() as AddressInfo;
    try {
      const result = await runCli(['status', '--url', `postgresql://someone:hunter2-secret@127.0.0.1:${port}/nowhere`, '--dir', dir]);
      expect(result.code).toBe(1);
      expect(result.stderr).toContain(`no answer from 127.0.0.1:${port}/nowhere within 10000 ms (connection timeout)`);
      expect(result.stdout + result.stderr).not.toContain('hunter2');
    } finally {
      for (const socket of sockets) socket.destroy();
      silent.close();
    }
  });

  it('an unreachable server exits 1, naming the redacted URL and never the password', async () => {
    const result = await runCli(['migrate', '--url', 'postgresql://someone:hunter2-secret@127.0.0.1:1/nowhere', '--dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain('migrate failed against postgresql://someone:*****@127.0.0.1:1/nowhere: connect ECONNREFUSED');
    expect(result.stdout + result.stderr).not.toContain('hunter2');
  });

  it('a wrong password exits 1 without printing either password', async () => {
    const role = await createPasswordRole(database.name, 'right-password-x1');
    const url = new URL(role.url);
    url.password = 'wrong-password-y2';
    const result = await runCli(['status', '--url', url.toString(), '--dir', dir]);
    expect(result.code).toBe(1);
    expect(result.stderr).toContain(`password authentication failed for user "${role.user}"`);
    expect(result.stdout + result.stderr).not.toMatch(/right-password|wrong-password/);
  });
});
