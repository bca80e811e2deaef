// Eight processes start a manager on one fresh database at the same moment, directly and through PgBouncer: each migration runs exactly once.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleMigrationsDir } from '../../examples/schema.js';
import { adminQuery, adminUrl, createTestDatabase, uniqueName, type TestDatabase } from '../support/db.js';
import { PgBouncer, pgBouncerInstalled, serverAt } from '../support/pgbouncer.js';

const repoRoot = fileURLToPath(new URL('../..', import.meta.url));
const childScript = fileURLToPath(new URL('../support/start-manager.ts', import.meta.url));
const PROCESSES = 8;

interface ChildReport {
  code: number | null;
  stdout: string;
  stderr: string;
  report?: { applied: string[]; state: string; waited: boolean };
}

function startChild(url: string, dir: string, appName: string): { child: ChildProcessWithoutNullStreams; ready: Promise<void>; done: Promise<ChildReport> } {
  const child = spawn(process.execPath, ['--import', 'tsx', childScript, url, dir, appName], { cwd: repoRoot });
  let stdout = '';
  let stderr = '';
  let markReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  child.stdout.on('data', (chunk: Buffer) => {
    stdout += chunk.toString();
    if (stdout.includes('ready\n')) markReady();
  });
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const done = new Promise<ChildReport>((resolve) => {
    child.on('close', (code) => {
      markReady();
      const line = stdout.split('\n').find((l) => l.startsWith('{'));
      resolve({ code, stdout, stderr, report: line ? JSON.parse(line) : undefined });
    });
  });
  return { child, ready, done };
}

// Directly, and through a PgBouncer whose pool has 2 server connections for the 8 instances: in transaction mode
// every statement of a runner may run on another server connection than its last one, which a session lock
// taken by one statement and released by another cannot survive.
const TARGETS = pgBouncerInstalled() ? (['direct', 'transaction', 'session'] as const) : (['direct'] as const);

describe.each(TARGETS)('concurrent start-up of several instances (%s)', (target) => {
  let db: TestDatabase;
  let dir: string;
  let bouncer: PgBouncer | undefined;
  let url: string;

  beforeAll(async () => {
    db = await createTestDatabase('mig_conc');
    url = db.url;
    if (target !== 'direct') {
      bouncer = await PgBouncer.start({ server: serverAt(adminUrl()), mode: target, poolSize: 2 });
      url = bouncer.url(db.name);
    }
    dir = mkdtempSync(join(tmpdir(), 'migrations-conc-'));
    copyFileSync(join(exampleMigrationsDir, '001_initial_schema.sql'), join(dir, '001_initial_schema.sql'));
    // Long enough that the instances which lose the race really find the lock taken and wait.
    writeFileSync(join(dir, '002_backfill.sql'), "INSERT INTO sources (name, base_url) VALUES ('exploit-db', 'https://www.exploit-db.com');\nSELECT pg_sleep(1);\n");
  });

  afterAll(async () => {
    rmSync(dir, { recursive: true, force: true });
    await bouncer?.destroy();
    await db.drop();
  });

  it(`${PROCESSES} processes with schemaInit 'strict' all start, and each version is applied and recorded once`, async () => {
    const children = Array.from({ length: PROCESSES }, (_, i) => startChild(url, dir, uniqueName(`conc${i}`)));
    // Every process has loaded its code before any of them starts: the managers race for real.
    await Promise.all(children.map((c) => c.ready));
    for (const { child } of children) child.stdin.write('go\n');
    const results = await Promise.all(children.map((c) => c.done));

    for (const result of results) {
      expect(result.code, result.stderr).toBe(0);
      expect(result.report?.state).toBe('applied');
    }
    // Each file was applied by exactly one instance (the lock is taken per file's transaction, so in principle two
    // instances may share a run: one applies 001, another 002; in practice the one that applied 001 goes on).
    const applied = results.flatMap((r) => r.report?.applied ?? []);
    expect(applied.sort()).toEqual(['001_initial_schema.sql', '002_backfill.sql']);
    expect(results.filter((r) => r.report?.waited).length).toBeGreaterThanOrEqual(1);

    const history = await adminQuery<{ version: number; n: string }>(
      'SELECT version, count(*) OVER (PARTITION BY version) AS n FROM schema_migrations ORDER BY version',
      [],
      db.name,
    );
    expect(history.rows.map((r) => [r.version, Number(r.n)])).toEqual([
      [1, 1],
      [2, 1],
    ]);
    // 002 ran once: one row, not eight (nothing stops a duplicate insert but the runner).
    const sources = await adminQuery<{ n: string }>('SELECT count(*) AS n FROM sources', [], db.name);
    expect(Number(sources.rows[0]?.n)).toBe(1);
  }, 90_000);
});
