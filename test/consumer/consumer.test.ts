// The package as a user installs it: `npm pack`, then README's Install line for this Node, as written (the tarball in
// place of `otel-pg-manager`), from the registry into a project outside the repository.
//   CONSUMER_NODE  the node binary the apps run on (default: this one)
//   CONSUMER_SDK   2 or 3: the OpenTelemetry SDK line installed next to it (default: 3 where Node supports it)
import { execFile, spawn } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { installCommandFor, readmeBlock } from '../readme/blocks.js';

const run = promisify(execFile);
const repo = fileURLToPath(new URL('../..', import.meta.url));
const node = process.env.CONSUMER_NODE ?? process.execPath;

/**
 * What the apps need beyond README's Install line, of each SDK line (3.x needs Node 22.15 or newer): installed after
 * it, as a user adds the rest of the SDK, which is where an API the SDK refuses would fail.
 */
const SDK_LINES = {
  '2': ['@opentelemetry/exporter-prometheus@^0.223.0', '@opentelemetry/instrumentation@^0.223.0', '@opentelemetry/sdk-node@^0.223.0'],
  '3': ['@opentelemetry/exporter-prometheus@^0.301.0', '@opentelemetry/instrumentation@^0.301.0', '@opentelemetry/sdk-node@^0.301.0'],
} as const;

function repoVersion(name: string): string {
  return (JSON.parse(readFileSync(join(repo, 'node_modules', name, 'package.json'), 'utf8')) as { version: string }).version;
}

interface Packed {
  filename: string;
  files: Array<{ path: string }>;
}

let project: string;
let nodeVersion: string;
let sdk: keyof typeof SDK_LINES;
let packed: Packed;
let installLine: string[];
let installOutput: string;
const databases: TestDatabase[] = [];

/** Runs a command in the consumer project with the target Node first on PATH, so `npx` and bin shebangs use it. */
function inProject(file: string, args: string[], env: Record<string, string> = {}, timeout = 120_000, cwd = project) {
  return run(file, args, { cwd, env: projectEnv(env), timeout, maxBuffer: 16 * 1024 * 1024 });
}

function projectEnv(env: Record<string, string> = {}): NodeJS.ProcessEnv {
  const PATH = `${dirname(node)}${delimiter}${process.env.PATH ?? ''}`;
  const { DATABASE_URL: _url, DB_MIGRATIONS_DIR: _dir, NODE_OPTIONS: _options, ...inherited } = process.env;
  return { ...inherited, PATH, ...env };
}

/** The app's result: the last line of its output (the manager logs each applied migration before it). */
function resultOf(stdout: string): Record<string, unknown> & { scrape: string } {
  return JSON.parse(stdout.trim().split('\n').at(-1) ?? '') as Record<string, unknown> & { scrape: string };
}

async function freshDatabase(): Promise<TestDatabase> {
  const database = await createTestDatabase('consumer');
  databases.push(database);
  return database;
}

beforeAll(async () => {
  nodeVersion = (await run(node, ['--version'])).stdout.trim();
  const [major = 0, minor = 0] = nodeVersion.slice(1).split('.').map(Number);
  sdk = (process.env.CONSUMER_SDK as keyof typeof SDK_LINES | undefined) ?? (major > 22 || (major === 22 && minor >= 15) ? '3' : '2');
  project = mkdtempSync(join(tmpdir(), 'otel-pg-consumer-'));
  await run('npm', ['run', 'build', '--silent'], { cwd: repo });
  const { stdout } = await run('npm', ['pack', '--json', '--pack-destination', project], { cwd: repo });
  [packed] = JSON.parse(stdout) as [Packed];
  cpSync(fileURLToPath(new URL('./app', import.meta.url)), project, { recursive: true });
  writeFileSync(join(project, 'package.json'), JSON.stringify({ name: 'consumer-app', version: '1.0.0', private: true }));
  // The README's Quick start, in a folder of its own with the example schema its `./migrations` names.
  mkdirSync(join(project, 'quick-start'));
  writeFileSync(join(project, 'quick-start', 'quick-start.mjs'), readmeBlock('quick-start').code);
  writeFileSync(join(project, 'quick-start.mts'), readmeBlock('quick-start').code);
  cpSync(join(repo, 'migrations'), join(project, 'quick-start', 'migrations'), { recursive: true });
  // Only the tarball comes from the repository; everything else from the registry (the npm cache when it has it).
  // README's line as written, but for the tarball and flags that change what npm prints, not what it resolves.
  installLine = installCommandFor(sdk);
  const [npm, ...args] = installLine.map((arg) => (arg === 'otel-pg-manager' ? `./${packed.filename}` : arg));
  const installed = await inProject(npm!, [...args, '--prefer-offline', '--no-audit', '--no-fund'], {}, 300_000);
  installOutput = installed.stdout + installed.stderr;
  await run(
    'npm',
    [
      'install',
      '--prefer-offline',
      '--no-audit',
      '--no-fund',
      '--loglevel=error',
      ...SDK_LINES[sdk],
      `typescript@${repoVersion('typescript')}`,
      `@types/node@${repoVersion('@types/node')}`,
      `@types/pg@${repoVersion('@types/pg')}`,
    ],
    { cwd: project, timeout: 300_000 },
  );
}, 360_000);

afterAll(async () => {
  for (const database of databases) await database.drop();
  if (project) rmSync(project, { recursive: true, force: true });
});

describe('the packed tarball', () => {
  it('holds exactly what package.json "files" names: dist, the observability files, the collector config', () => {
    const paths = packed.files.map((file) => file.path).sort();
    const always = new Set(['package.json', 'README.md', 'LICENSE']);
    const unexpected = paths.filter(
      (path) => !always.has(path) && !/^(dist|observability)\//.test(path) && !['otel-collector.yaml', 'CHANGELOG.md'].includes(path),
    );
    expect(unexpected).toEqual([]);
    const observability = readdirSync(join(repo, 'observability')).map((name) => `observability/${name}`);
    expect(paths).toEqual(expect.arrayContaining([...observability, 'otel-collector.yaml', 'CHANGELOG.md', 'dist/index.js', 'dist/index.d.ts', 'dist/migrations/cli.js']));
    expect(paths.some((path) => /(^|\/)(test|bench|examples|migrations)\//.test(path) && !path.startsWith('dist/migrations/'))).toBe(false);
  });

  it('installs without access to the repository, and every module of dist/ loads through require() (no top-level await)', async () => {
    const installed = join(project, 'node_modules', 'otel-pg-manager');
    expect(JSON.parse(readFileSync(join(installed, 'package.json'), 'utf8'))).toMatchObject({ version: packed.filename.match(/-(\d+\.\d+\.\d+)\.tgz$/)?.[1] });
    // A module with top-level await makes require() throw ERR_REQUIRE_ASYNC_MODULE.
    const script = `
      const { readdirSync } = require('node:fs');
      const files = readdirSync('dist', { recursive: true }).filter((f) => f.endsWith('.js') && f !== 'migrations/cli.js');
      for (const f of files) require('./dist/' + f);
      console.log(files.length);`;
    const { stdout } = await run(node, ['-e', script], { cwd: installed });
    expect(Number(stdout.trim())).toBeGreaterThan(20);
    // The CLI runs on load: required with no arguments, it gets as far as its own usage error.
    const cli = await run(node, ['-e', "require('./dist/migrations/cli.js')"], { cwd: installed }).catch((error: { code: number; stderr: string }) => error);
    expect(cli).toMatchObject({ code: 2, stderr: expect.stringContaining('otel-pg-manager: no command given') });
  });
});

describe("README's words, from the tarball", () => {
  it('the Install line for this Node and SDK installs as written, with no peer conflict', () => {
    expect(installLine.slice(0, 3)).toEqual(['npm', 'install', 'otel-pg-manager']);
    expect(installOutput).not.toMatch(/ERESOLVE|conflicting peer|overriding peer/i);
    const api = JSON.parse(readFileSync(join(project, 'node_modules', '@opentelemetry', 'api', 'package.json'), 'utf8')) as { version: string };
    expect(api.version).toMatch(sdk === '2' ? /^1\.9\./ : /^1\.10\./);
  });

  it('the Quick start runs as plain JavaScript on this Node, then closes the manager on SIGTERM', async () => {
    const database = await freshDatabase();
    const child = spawn(node, ['quick-start.mjs'], { cwd: join(project, 'quick-start'), env: projectEnv({ DATABASE_URL: database.url }) });
    let output = '';
    const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
    await new Promise<void>((resolve) => {
      const collect = (chunk: Buffer): void => {
        output += chunk.toString();
        // Its last line logs the results; the manager stays open until the signal.
        if (/^0 \{ exploits: 0, sources: 0 \}$/m.test(output)) resolve();
      };
      child.stdout.on('data', collect);
      child.stderr.on('data', collect);
      void exited.then(() => resolve());
    });
    child.kill('SIGTERM');
    expect(await exited, output).toBe(0);
    expect(output).toContain('applied migration 001_initial_schema.sql');
    expect(output).toMatch(/^0 \{ exploits: 0, sources: 0 \}$/m);
  });
});

describe('an app using the installed package', () => {
  it('as an ES module: creates a manager, applies its own folder, queries, and /metrics has the pool and query families', async () => {
    const database = await freshDatabase();
    const { stdout } = await inProject(node, ['esm-app.mjs'], { DATABASE_URL: database.url });
    const result = resultOf(stdout);
    expect(result.rows).toEqual([{ notes: 2 }]);
    expect(result.applied).toEqual(['001_app_notes.sql']);
    expect(result.scrape).toMatch(/^db_client_operation_duration_count\{[^}]*db_system_name="postgresql"[^}]*\} [1-9]/m);
    expect(result.scrape).toMatch(/^db_client_connection_wait_time_count\{[^}]*\} [1-9]/m);
    expect(result.scrape).toMatch(/^db_client_connection_count\{[^}]*db_client_connection_state="idle"[^}]*\} \d/m);
  });

  it('as CommonJS: require() gives the same API, and the SDK path exports the histograms', async () => {
    const database = await freshDatabase();
    const { stdout } = await inProject(node, ['cjs-app.cjs'], { DATABASE_URL: database.url });
    const result = resultOf(stdout);
    expect(result).toMatchObject({ rows: [{ notes: 2 }], applied: ['001_app_notes.sql'], errorClass: true });
    expect(result.scrape).toMatch(/^db_client_operation_duration_count\{[^}]*\} [1-9]/m);
    expect(result.scrape).toMatch(/^db_client_connection_wait_time_count\{[^}]*\} [1-9]/m);
  });

  it('type-checks against the public types with moduleResolution node16, nodenext, bundler (and node10 on TypeScript 5)', async () => {
    const tsc = join(project, 'node_modules', 'typescript', 'bin', 'tsc');
    const outputs = await Promise.all(
      ['node16', 'nodenext', 'bundler', 'node10'].map(async (resolution) => {
        const { stdout } = await inProject(node, [tsc, '-p', `tsconfig.${resolution}.json`]).catch((error: { stdout: string }) => error);
        return `${resolution}: ${stdout}`;
      }),
    );
    expect(outputs).toEqual(['node16: ', 'nodenext: ', 'bundler: ', 'node10: ']);
  });

  it('type-checks with skipLibCheck false, the Quick start included, when the optional peer sdk-metrics is not installed', async () => {
    const tsc = join(project, 'node_modules', 'typescript', 'bin', 'tsc');
    const sdkMetrics = join(project, 'node_modules', '@opentelemetry', 'sdk-metrics');
    renameSync(sdkMetrics, `${sdkMetrics}.hidden`);
    try {
      const { stdout } = await inProject(node, [tsc, '-p', 'tsconfig.strict.json']).catch((error: { stdout: string }) => error);
      expect(stdout).toBe('');
    } finally {
      renameSync(`${sdkMetrics}.hidden`, sdkMetrics);
    }
  });

  it('`npx otel-pg-manager status --dir` reads the app folder; without a folder it is a usage error', async () => {
    const database = await freshDatabase();
    const status = await inProject('npx', ['--no-install', 'otel-pg-manager', 'status', '--dir', 'migrations'], { DATABASE_URL: database.url });
    expect(status.stdout).toContain('Pending (1):\n  001_app_notes.sql');
    const migrate = await inProject('npx', ['--no-install', 'otel-pg-manager', 'migrate', '--url', database.url]).catch((error: { code: number; stderr: string }) => error);
    expect(migrate).toMatchObject({ code: 2, stderr: expect.stringContaining('no migrations folder: pass --dir or set DB_MIGRATIONS_DIR') });
  });

  // Zero-code registration: plain pg code on a pool the app builds, observed by the registration alone.
  it.each([
    ['CommonJS with --require', ['--require', 'otel-pg-manager/register', 'zero-code-require.cjs']],
    ['an ES module with --import', ['--import', 'otel-pg-manager/register', 'zero-code-import.mjs']],
    ['NodeSDK instrumentations', ['zero-code-sdk.cjs']],
  ])('registered as %s: /metrics has the pool it built, its connections and statements', async (_how, args) => {
    const database = await freshDatabase();
    const { stdout } = await inProject(node, args, { DATABASE_URL: database.url });
    const result = resultOf(stdout);
    const pool = `db_client_connection_pool_name="[^"]*/${database.name}"`;
    expect(result.rows).toEqual([{ n: 1 }]);
    expect(result.scrape).toMatch(new RegExp(`^db_client_operation_duration_count\\{[^}]*${pool}[^}]*\\} 2$`, 'm'));
    expect(result.scrape).toMatch(new RegExp(`^db_client_connection_wait_time_count\\{[^}]*${pool}[^}]*\\} 2$`, 'm'));
    expect(result.scrape).toMatch(new RegExp(`^db_client_connection_count\\{[^}]*${pool}[^}]*db_client_connection_state="idle"[^}]*\\} 1$`, 'm'));
  });

  it('ran on the Node and SDK line it was asked for', async () => {
    const { stdout } = await inProject(node, ['-p', 'process.version']);
    const installed = JSON.parse(readFileSync(join(project, 'node_modules', '@opentelemetry', 'sdk-metrics', 'package.json'), 'utf8')) as { version: string };
    expect(stdout.trim()).toBe(nodeVersion);
    expect(installed.version.split('.')[0]).toBe(sdk);
    console.log(`consumer: Node ${nodeVersion}, @opentelemetry/sdk-metrics ${installed.version}, ${packed.filename}`);
  });
});
