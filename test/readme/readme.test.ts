// Every code block of README.md, read from the file at run time, run or checked as it says: the TypeScript and
// JavaScript blocks run against the real server (through tsx, with 'otel-pg-manager' mapped to src/) and are
// type-checked together; JavaScript blocks also pass this Node's own parser; JSON samples parse; command blocks
// name scripts that exist. The Install lines and the Quick start as plain JavaScript on each Node line run from the
// packed tarball in test/consumer. A block's treatment comes from its marker (`<!-- readme-test: NAME … -->` on the
// line before the fence, see test/readme/blocks.ts), else from its language; an unknown marker fails.
import { execFile, spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestDatabase } from '../support/db.js';
import { installCommands, readmeBlocks, type ReadmeBlock } from './blocks.js';

const run = promisify(execFile);
const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const pkg = JSON.parse(readFileSync(join(ROOT, 'package.json'), 'utf8')) as {
  version: string;
  scripts: Record<string, string>;
  bin: Record<string, string>;
  peerDependencies: Record<string, string>;
};

/** A fragment's missing context, put before it (imports are hoisted, so the block's own stay valid) and after it. */
interface Context {
  prelude?: string;
  epilogue?: string;
}

const manager = "import { PostgresManager as ReadmeTestManager } from 'otel-pg-manager';\n";
const withDb = `${manager}const db = await ReadmeTestManager.create({ migrationsDir: './migrations' });\n`;
const closeDb = 'await db.close();\n';

/** How each marked block that runs is completed; `standalone` runs as written. */
const RUNS: Record<string, Context> = {
  standalone: {},
  'quick-start': {},
  'with-db': { prelude: withDb, epilogue: closeDb },
  'adopt-pool': {
    prelude: "import pg from 'pg';\nimport { PostgresManager } from 'otel-pg-manager';\n",
    epilogue: closeDb,
  },
  monitoring: { prelude: "import { PostgresManager } from 'otel-pg-manager';\n", epilogue: closeDb },
  kysely: {
    prelude: `${withDb}interface Schema { sources: { id: number; name: string } }\n`,
    epilogue: "console.log(JSON.stringify(await k.selectFrom('sources').select('name').execute()));\nawait k.destroy();\n",
  },
  drizzle: { prelude: withDb },
  prisma: {
    prelude: withDb,
    epilogue: 'console.log(JSON.stringify(await prisma.$queryRaw`SELECT 1 AS one`));\nawait prisma.$disconnect();\n',
  },
  typeorm: {
    prelude: `${withDb}import { EntitySchema } from 'typeorm';
const WidgetEntity = new EntitySchema<{ id: number; name: string }>({
  name: 'Widget', tableName: 'widgets',
  columns: { id: { type: Number, primary: true, generated: 'increment' }, name: { type: String } },
});\n`,
    epilogue: "console.log(JSON.stringify(await source.query('SELECT 1 AS one')));\nawait source.destroy();\n",
  },
  'instrumentation-pg-view': { prelude: "import { NodeSDK } from '@opentelemetry/sdk-node';\n" },
  // The OTLP exporter sends to the collector stub below (OTEL_EXPORTER_OTLP_ENDPOINT); shutdown flushes it.
  'otel-registration': { epilogue: "await db.query('SELECT 1');\nawait db.close();\nawait sdk.shutdown();\n" },
};

/** Marked blocks that are checked without running, and why. */
const CHECKED = new Set(['install', 'commands', 'cli-usage', 'output']);

interface Runnable {
  block: ReadmeBlock;
  name: string;
  file: string;
}

const blocks = readmeBlocks();
const kindOf = (block: ReadmeBlock): string => {
  if (block.marker) return block.marker;
  if (block.lang === 'ts' || block.lang === 'js') return 'standalone';
  if (block.lang === 'json' || block.lang === '') return 'output';
  return 'unmarked';
};

const runnable: Runnable[] = [];
let dir: string;
let collector: Server;
let exported: string[] = [];

beforeAll(async () => {
  // Under node_modules/.cache: inside the repository, so that packages resolve from its node_modules, yet outside
  // what tsc, eslint and vitest look at.
  mkdirSync(join(ROOT, 'node_modules', '.cache'), { recursive: true });
  dir = mkdtempSync(join(ROOT, 'node_modules', '.cache', 'readme-'));
  // The Prisma block imports its generated client from './generated/client.js'.
  symlinkSync(join(ROOT, 'test', 'orm', 'prisma', 'generated'), join(dir, 'generated'));
  // 'otel-pg-manager' is src/ here: for tsx a package beside the blocks (tsx maps no tsconfig paths under
  // node_modules), for tsc the paths of the tsconfig below.
  const shim = join(dir, 'node_modules', 'otel-pg-manager');
  mkdirSync(shim, { recursive: true });
  writeFileSync(join(shim, 'package.json'), JSON.stringify({ name: 'otel-pg-manager', type: 'module', exports: './index.ts' }));
  writeFileSync(join(shim, 'index.ts'), `export * from ${JSON.stringify(join(ROOT, 'src', 'index.ts'))};\n`);
  for (const block of blocks) {
    const kind = kindOf(block);
    const context = RUNS[kind];
    if (!context) continue;
    const file = join(dir, `line-${block.line}-${kind}.mts`);
    writeFileSync(file, `${context.prelude ?? ''}${block.code}${context.epilogue ?? ''}`);
    // The JavaScript as written, for this Node's own parser (tsx would compile what Node cannot parse).
    if (block.lang === 'js') writeFileSync(file.replace(/\.mts$/, '.mjs'), block.code);
    runnable.push({ block, name: kind, file });
  }
  writeFileSync(
    join(dir, 'tsconfig.json'),
    JSON.stringify({
      extends: join(ROOT, 'tsconfig.json'),
      compilerOptions: { noEmit: true, paths: { 'otel-pg-manager': [join(ROOT, 'src', 'index.ts')] } },
      include: [],
      files: runnable.map((r) => r.file),
    }),
  );
  collector = createServer((req: IncomingMessage, res) => {
    let body = '';
    req.on('data', (chunk: Buffer) => (body += chunk.toString()));
    req.on('end', () => {
      exported.push(`${req.url ?? ''} ${body}`);
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => collector.listen(0, '127.0.0.1', resolve));
});

afterAll(async () => {
  collector?.close();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('README.md', () => {
  it('has code blocks, each of a kind this test knows (a marker, or ts / js / json / a plain fence)', () => {
    expect(blocks.length).toBeGreaterThan(15);
    const unknown = blocks.filter((block) => !RUNS[kindOf(block)] && !CHECKED.has(kindOf(block)));
    expect(unknown.map((block) => `line ${block.line}: ${block.lang || 'plain'} block, marker ${block.marker ?? 'none'}`)).toEqual([]);
  });

  it('type-checks every TypeScript and JavaScript block (strict, as the repository), fragments with their context', async () => {
    const tsc = join(ROOT, 'node_modules', 'typescript', 'bin', 'tsc');
    const { stdout } = await run(process.execPath, [tsc, '-p', join(dir, 'tsconfig.json')], { cwd: ROOT }).catch((error: { stdout: string }) => error);
    expect(stdout.replaceAll(`${dir}/`, '')).toBe('');
  }, 120_000);

  it('its JavaScript blocks parse on this Node as written (no syntax it lacks, such as `await using` on Node 20 and 22)', async () => {
    const js = runnable.filter((r) => r.block.lang === 'js');
    expect(js.map((r) => r.name)).toContain('quick-start');
    for (const r of js) await run(process.execPath, ['--check', r.file.replace(/\.mts$/, '.mjs')]);
  });

  it.each(blocks.filter((block) => RUNS[kindOf(block)]).map((block) => [`line ${block.line} (${block.heading}, ${kindOf(block)})`, block] as const))(
    'runs the block at %s against the real server',
    async (_title, block) => {
      const { file } = runnable.find((r) => r.block === block)!;
      const database = await createTestDatabase('readme');
      exported = [];
      try {
        const quickStart = kindOf(block) === 'quick-start';
        const env = { DATABASE_URL: database.url, OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${(collector.address() as AddressInfo).port}` };
        // The Quick start leaves its manager open until SIGTERM, as a service does: sent once it logged its results.
        const result = await runSnippet(file, env, quickStart ? /^0 \{ exploits: 0, sources: 0 \}$/m : undefined);
        expect(result.code, result.output).toBe(0);
        expect(result.output).not.toMatch(/Error\b/);
        if (quickStart) expect(result.signalled, result.output).toBe(true);
        if (kindOf(block) === 'otel-registration') expect(exported.join('\n')).toContain('db.client.operation.duration');
        if (kindOf(block) === 'kysely') expect(result.output).toContain('[]');
      } finally {
        await database.drop();
      }
    },
    60_000,
  );

  it('its JSON samples parse', () => {
    const json = blocks.filter((block) => block.lang === 'json');
    expect(json.length).toBeGreaterThan(0);
    for (const block of json) expect(() => JSON.parse(block.code), `line ${block.line}`).not.toThrow();
  });

  it('its command blocks run scripts that exist, and the CLI usage names only options the CLI has', async () => {
    for (const block of blocks.filter((b) => b.marker === 'commands')) {
      for (const line of block.code.split('\n').map((l) => l.replace(/#.*/, '').trim()).filter(Boolean)) {
        const script = /^npm run ([\w:-]+)/.exec(line)?.[1];
        if (script) expect(pkg.scripts, line).toHaveProperty([script]);
        else expect(line).toMatch(/^npm (ci|test)\b/);
      }
    }
    const usage = blocks.find((b) => b.marker === 'cli-usage');
    expect(usage).toBeDefined();
    const { stdout: help } = await run(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'migrations', 'cli.ts'), '--help'], { cwd: ROOT });
    for (const flag of usage!.code.match(/--[a-z-]+/g) ?? []) expect(help).toContain(flag);
    for (const command of usage!.code.match(/otel-pg-manager (\w+)/g) ?? []) expect(Object.keys(pkg.bin)).toContain(command.split(' ')[0]);
  }, 60_000);

  it('its Install block has one line per SDK line, each within the declared peer ranges (test/consumer runs them)', () => {
    const lines = installCommands();
    const majors = lines.map((args) => /@opentelemetry\/sdk-metrics@[\^~]?(\d+)\./.exec(args.join(' '))?.[1]);
    expect(majors.sort()).toEqual(['2', '3']);
    const declared = pkg.peerDependencies['@opentelemetry/sdk-metrics']!;
    for (const major of majors) expect(declared).toMatch(new RegExp(`\\^${major}\\.`));
    // Each line pins the API to the minor its SDK takes (SDK 2.x: >=1.9 <1.10; 3.x: >=1.10 <1.11).
    expect(lines.map((args) => args.find((arg) => arg.startsWith('@opentelemetry/api@'))).sort()).toEqual(['@opentelemetry/api@~1.10.0', '@opentelemetry/api@~1.9.0']);
  });
});

describe('the version', () => {
  it('package.json says the version the CHANGELOG describes first', () => {
    const changelog = readFileSync(join(ROOT, 'CHANGELOG.md'), 'utf8');
    expect(/^## (\d+\.\d+\.\d+)\b/m.exec(changelog)?.[1]).toBe(pkg.version);
  });
});

interface SnippetRun {
  code: number | null;
  output: string;
  signalled: boolean;
}

/** Runs one block with tsx until it exits by itself, or, given `stopAfter`, until that output and then SIGTERM. */
function runSnippet(file: string, env: Record<string, string>, stopAfter?: RegExp): Promise<SnippetRun> {
  const { NODE_OPTIONS: _options, ...inherited } = process.env;
  const child = spawn(process.execPath, ['--import', 'tsx', file], {
    cwd: ROOT,
    env: { ...inherited, ...env, TSX_TSCONFIG_PATH: join(dir, 'tsconfig.json') },
  });
  let output = '';
  let signalled = false;
  const collect = (chunk: Buffer): void => {
    output += chunk.toString();
    if (stopAfter && !signalled && stopAfter.test(output)) {
      signalled = true;
      child.kill('SIGTERM');
    }
  };
  child.stdout.on('data', collect);
  child.stderr.on('data', collect);
  const limit = setTimeout(() => child.kill('SIGKILL'), 45_000);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => {
      clearTimeout(limit);
      resolve({ code, output, signalled });
    });
  });
}
