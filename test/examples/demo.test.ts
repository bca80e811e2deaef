// `npm run demo` as a user runs it (embedded PostgreSQL, DATABASE_URL, Ctrl-C), and the terminal view it draws.
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleMigrationsDir } from '../../examples/schema.js';
import type { PostgresManager } from '../../src/index.js';
import { FrameBuilder } from '../../examples/demo-frame.js';
import { parseDemoArgs } from '../../examples/demo.js';
import { seedDemoData } from '../../examples/seed.js';
import { renderFrame, renderLine } from '../../examples/terminal-view.js';
import { adminQuery, createPasswordRole, createTestDatabase, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FRAME_LINE = /^\[\s*\d+ s\] primary used \d+\/8 idle \d+ waiting \d+ acquire p50 [\d.]+ ms p99 [\d.]+ ms \| \d+ q\/s \| slow \d+/m;

interface DemoRun {
  code: number | null;
  signal: NodeJS.Signals | null;
  output: string;
}

/** Runs the demo with its output piped (so without a terminal), calling `onOutput` as lines arrive. */
function runDemo(command: string, args: string[], env: NodeJS.ProcessEnv, onOutput?: (output: string, stop: () => void) => void): Promise<DemoRun> {
  // An undefined entry means "not set", not the string "undefined".
  const childEnv = Object.fromEntries(Object.entries(env).filter(([, value]) => value !== undefined));
  const child = spawn(command, args, { cwd: ROOT, env: childEnv, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const collect = (chunk: Buffer): void => {
    output += chunk.toString();
    onOutput?.(output, () => child.kill('SIGINT'));
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => resolve({ code, signal, output }));
  });
}

const dataFolder = (output: string): string | undefined => /data in (\S+)/.exec(output)?.[1];

describe('npm run demo', () => {
  it('runs on an embedded PostgreSQL for --duration, serves its URLs, draws frames with the slow reports and the leak, and cleans up', async () => {
    const checks: Promise<{ health: number; metrics: string }>[] = [];
    const run = await runDemo('npm', ['run', '--silent', 'demo', '--', '--duration', '8'], { ...process.env, DATABASE_URL: undefined }, (output) => {
      const health = /health +(http:\S+\/health\/db)/.exec(output)?.[1];
      const metricsUrl = /metrics +(http:\S+\/metrics)/.exec(output)?.[1];
      if (health && metricsUrl && checks.length === 0) {
        checks.push(
          (async () => ({
            health: (await fetch(health)).status,
            metrics: await (await fetch(metricsUrl)).text(),
          }))(),
        );
      }
    });
    expect(run.code, run.output).toBe(0);
    expect(run.output).toMatch(/^ {2}metrics {2}http:\/\/127\.0\.0\.1:\d+\/metrics$/m);
    expect(run.output).toMatch(/^ {2}health {3}http:\/\/127\.0\.0\.1:\d+\/health\/db$/m);
    expect(run.output).toMatch(FRAME_LINE);
    // The burst (from 3 s, at least 2.5 s, until a frame has shown its queue) is in at least one frame.
    expect(run.output).toMatch(/^\[\s*\d+ s\] primary used \d+\/8 idle \d+ waiting [1-9]/m);
    expect(run.output).toMatch(/slow query on pool "primary": \d+ ms \(threshold 300 ms/);
    expect(run.output).toMatch(/connection leak detection triggered for lease #\d+ of pool "primary"[^\n]*\n\s+at forgetToRelease \(/);
    expect(run.output).toMatch(/without being released, its last statement SELECT count\(\*\) FROM exploits WHERE severity = \$1; acquired at:/);
    expect(run.output).toMatch(/was returned after [\d.]+ s \(unleaked\)/);
    const [served] = await Promise.all(checks);
    expect([200, 503]).toContain(served!.health);
    expect(served!.metrics).toMatch(/^db_client_connection_max\{[^}]*\} 8$/m);
    const folder = dataFolder(run.output);
    expect(folder).toMatch(/otel-pg-manager-/);
    expect(run.output).toContain(`stopped PostgreSQL and removed ${folder}`);
    expect(existsSync(folder!)).toBe(false);
  }, 60_000);

  it('stops on Ctrl-C: drains, stops PostgreSQL, removes the temp folder and exits 0', async () => {
    let interrupted = false;
    const started = performance.now();
    const run = await runDemo(process.execPath, ['--import', 'tsx', 'examples/demo.ts', '--duration', '60'], { ...process.env, DATABASE_URL: undefined }, (output, stop) => {
      if (!interrupted && FRAME_LINE.test(output)) {
        interrupted = true;
        stop();
      }
    });
    expect(run.code, run.output).toBe(0);
    expect(run.output).toContain('stopping: draining the load…');
    expect(performance.now() - started).toBeLessThan(30_000);
    const folder = dataFolder(run.output);
    expect(run.output).toContain(`stopped PostgreSQL and removed ${folder}`);
    expect(existsSync(folder!)).toBe(false);
  }, 60_000);

  it('uses DATABASE_URL when it is set, and never prints its password', async () => {
    const database = await createTestDatabase('demo_url');
    const password = `demo-${randomBytes(6).toString('hex')}`;
    try {
      const role = await createPasswordRole(database.name, password);
      const run = await runDemo(process.execPath, ['--import', 'tsx', 'examples/demo.ts', '--duration', '3'], { ...process.env, DATABASE_URL: role.url });
      expect(run.code, run.output).toBe(0);
      expect(run.output).not.toContain('embedded');
      expect(run.output).toMatch(/^using DATABASE_URL: postgresql:\/\/role_\w+:\*+@127\.0\.0\.1:\d+\/demo_url_\w+/m);
      expect(run.output).toMatch(FRAME_LINE);
      expect(run.output).not.toContain(password);
      const { rows } = await adminQuery<{ n: string }>("SELECT count(*) AS n FROM sources WHERE name LIKE 'demo: %'", [], database.name);
      expect(Number(rows[0]!.n)).toBe(5);
    } finally {
      await database.drop();
    }
  }, 60_000);

  it('takes --duration in seconds and refuses anything that is not a positive number', () => {
    expect(parseDemoArgs([])).toEqual({ durationSeconds: 60 });
    expect(parseDemoArgs(['--duration', '8'])).toEqual({ durationSeconds: 8 });
    expect(parseDemoArgs(['--duration=2.5'])).toEqual({ durationSeconds: 2.5 });
    expect(parseDemoArgs(['--help'])).toBe('help');
    expect(() => parseDemoArgs(['--duration', '0'])).toThrow(/--duration must be a number of seconds above 0/);
    expect(() => parseDemoArgs(['--duration', 'soon'])).toThrow(/got "soon"/);
    expect(() => parseDemoArgs(['--fast'])).toThrow();
  });
});

describe('the terminal view', () => {
  let database: TestDatabase;
  let db: PostgresManager;

  beforeAll(async () => {
    database = await createTestDatabase('view');
    ({ db } = await createManager(database.url, {
      schemaInit: 'strict',
      migrationsDir: exampleMigrationsDir,
      monitoringEnabled: true,
      maxConnections: 4,
      slowQueryThresholdMs: 50,
      leakDetectionThresholdMs: 100,
    }));
    await seedDemoData(db);
  });

  afterAll(async () => {
    await db?.close({ timeoutMs: 1000 });
    await database?.drop();
  });

  async function frameWithTroubles(): Promise<{ frame: ReturnType<FrameBuilder['build']>; release: () => void }> {
    const builder = new FrameBuilder(db, {
      database: 'embedded PostgreSQL on 127.0.0.1:5432',
      urls: { metrics: 'http://127.0.0.1:3000/metrics', health: 'http://127.0.0.1:3000/health/db' },
      durationSeconds: 60,
      slowQueryThresholdMs: 50,
    });
    await db.read('SELECT * FROM v_recent_exploits');
    await db.read('SELECT pg_sleep(0.08)');
    const leases = await Promise.all([db.getConnection(), db.getConnection(), db.getConnection(), db.getConnection()]);
    await leases[0]!.client.query("SELECT id FROM exploits WHERE severity = 'high'");
    const waiter = db.getConnection({ timeoutMs: 2000 });
    // Past the leak threshold and a sweep, so the held leases are reported.
    await new Promise((resolve) => setTimeout(resolve, 250));
    const frame = builder.build({ responses: { 200: 40, 201: 5, 400: 2, 503: 1 }, requestErrors: 0, clients: 52, bursts: 1, slowReports: 1, leak: 'held' }, ['slow query on pool "primary": 81 ms']);
    return {
      frame,
      release: () => {
        for (const lease of leases) lease.release();
        void waiter.then((lease) => lease.release());
      },
    };
  }

  it('draws bars for used, idle and waiting, acquisition p50/p99, rates, health with reasons, slow queries and leaks', async () => {
    const { frame, release } = await frameWithTroubles();
    try {
      const text = renderFrame(frame, { width: 120, color: false }).join('\n');
      expect(text).toContain('  metrics  http://127.0.0.1:3000/metrics');
      expect(text).toContain('  health   http://127.0.0.1:3000/health/db');
      expect(text).toContain('  load     52 HTTP clients (burst no. 1) · slow reports 1 · leaked connection: held');
      expect(text).toMatch(/^pool primary {2}4 open of max 4$/m);
      expect(text).toMatch(/^ {2}used {5}█{32} 4$/m);
      expect(text).toMatch(/^ {2}idle {5}·{32} 0$/m);
      expect(text).toMatch(/^ {2}waiting {2}█{8}·{24} 1$/m);
      expect(text).toMatch(/^ {2}acquire {2}p50 [\d.]+ ms {2}p99 [\d.]+ ms/m);
      expect(text).toMatch(/^queries {2}\d+\/s {2}\(\d+ in all\) {4}http {2}\d+\/s {2}2xx 45 {2}4xx 2 {2}5xx 1$/m);
      expect(text).toMatch(/^health {3}CRITICAL$/m);
      expect(text).toContain('  - pool "primary": 4 of 4 connections in use (100% ≥ 95%)');
      expect(text).toMatch(/^ {2}1× max \d+ ms +SELECT pg_sleep\(\$1\)$/m);
      expect(text).toMatch(/^ {2}lease #\d+ of pool primary held 0\.\d s, borrowed at .*\(test\/examples\/demo\.test\.ts:\d+:\d+\)$/m);
      // Under the lease that ran a statement, that statement with its literal stripped; the others ran none.
      expect(text).toMatch(/^ {2}lease #\d+ of pool primary held 0\.\d s, borrowed at .*\(test\/examples\/demo\.test\.ts:\d+:\d+\)\n {4}last ran SELECT id FROM exploits WHERE severity = \$1$/m);
      expect(text.match(/^ {4}last ran /gm)).toHaveLength(1);
      expect(text).toContain('  slow query on pool "primary": 81 ms');
    } finally {
      release();
    }
  });

  it('fits every line to the width, and colours only when asked', async () => {
    const { frame, release } = await frameWithTroubles();
    release();
    const narrow = renderFrame(frame, { width: 40, color: false });
    expect(narrow.every((line) => line.length <= 40)).toBe(true);
    expect(narrow.join('\n')).not.toContain('\x1b[');
    expect(renderFrame(frame, { width: 120, color: true }).join('\n')).toContain('\x1b[1;31mCRITICAL\x1b[0m');
  });

  it('writes one plain line per frame when there is no terminal', async () => {
    const { frame, release } = await frameWithTroubles();
    release();
    const line = renderLine(frame);
    expect(line).not.toContain('\n');
    expect(line).toMatch(/^\[\s*\d+ s\] primary used 4\/4 idle 0 waiting 1 acquire p50 [\d.]+ ms p99 [\d.]+ ms \| \d+ q\/s \| slow \d+ \(max \d+ ms\) \| leaks 4 held, \d+ detected \| health critical: /);
  });
});
