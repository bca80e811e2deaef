// `npm run bench`: raw pg.Pool vs the manager (monitoring off / on) vs @opentelemetry/instrumentation-pg,
// interleaved round by round in one run, so only ratios measured side by side are compared.
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';
import { EmbeddedPostgres } from '../dev/embedded-postgres.js';
import { parseDatabaseUrl } from '../src/config.js';
import { exampleMigrationsDir } from '../examples/schema.js';
import { runMigrations } from '../src/migrations/runner.js';
import type { ArmName, ArmReady, SliceRequest, SliceResult, WorkloadName } from './protocol.js';
import { renderRatioChart } from './chart.js';

const here = dirname(fileURLToPath(import.meta.url));
// Many short rounds rather than a few long ones: the machine's speed drifts over seconds, and a ratio
// is only as good as the two slices it compares were close in time.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 8);
const SLICE_MS = Number(process.env.BENCH_SLICE_MS ?? 600);
const WARMUP_MS = 100;
const WORKLOAD_WARMUP_MS = 1000;
const ALL_ARMS: ArmName[] = ['raw', 'manager-off', 'manager-on', 'manager-on-sdk', 'instrumentation-pg'];
// select1 is the workload the targets are set on, so it gets twice the rounds (`roundsFactor`).
const ALL_WORKLOADS: { name: WorkloadName; workers: number; title: string; roundsFactor?: number }[] = [
  { name: 'select1', workers: 16, title: 'SELECT 1 / SELECT $1::int, 16 workers, pool 10', roundsFactor: 2 },
  { name: 'point', workers: 16, title: 'point query on exploits by id, 16 workers, pool 10' },
  { name: 'distinct', workers: 16, title: '10,000 distinct query texts, 16 workers, pool 10' },
  { name: 'saturation', workers: 50, title: 'saturation: 50 workers, pool 10' },
];

/** BENCH_ARMS / BENCH_WORKLOADS (comma-separated) narrow a run while working on one path; raw is always kept. */
function selected<T>(all: T[], variable: string, nameOf: (item: T) => string): T[] {
  const wanted = process.env[variable]?.split(',').map((name) => name.trim()).filter(Boolean);
  if (!wanted?.length) return all;
  const unknown = wanted.filter((name) => !all.some((item) => nameOf(item) === name));
  if (unknown.length) throw new Error(`${variable}: unknown name(s) ${unknown.join(', ')}; known: ${all.map(nameOf).join(', ')}`);
  return all.filter((item) => wanted.includes(nameOf(item)) || nameOf(item) === 'raw');
}

const ARMS = selected(ALL_ARMS, 'BENCH_ARMS', (arm) => arm);
const WORKLOADS = selected(ALL_WORKLOADS, 'BENCH_WORKLOADS', (workload) => workload.name);
const roundsOf = (workload: (typeof ALL_WORKLOADS)[number]): number => ROUNDS * (workload.roundsFactor ?? 1);
const FULL_RUN = ARMS.length === ALL_ARMS.length && WORKLOADS.length === ALL_WORKLOADS.length;

interface ArmSummary {
  qps: number;
  /** Median of the per-round ratios to raw, and their interquartile range. */
  ratio: number;
  ratioIqr: [number, number];
  p50Ms: number;
  p99Ms: number;
  cpuUs: number;
  cpuAddedUs: number;
  cpuAddedIqr: [number, number];
  /** The per-round figures behind the medians, in round order. */
  rounds: { ratio: number[]; cpuAddedUs: number[] };
  rssMb: number;
  errors: number;
}

interface Arm {
  name: ArmName;
  child: ChildProcess;
  proof: string;
}

/** Linear interpolation between the closest ranks; quantile(v, 0.5) is the median. */
function quantile(values: number[], q: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const position = (sorted.length - 1) * q;
  const below = Math.floor(position);
  const above = Math.min(sorted.length - 1, below + 1);
  return sorted[below]! + (sorted[above]! - sorted[below]!) * (position - below);
}

const median = (values: number[]): number => quantile(values, 0.5);
const spread = (values: number[]): [number, number] => [quantile(values, 0.25), quantile(values, 0.75)];

function startArm(name: ArmName, url: string): Promise<Arm> {
  const child = fork(join(here, 'arm.ts'), [name, url], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code) => reject(new Error(`arm ${name} exited with ${code} before it was ready`)));
    child.once('message', (message: ArmReady) => resolve({ name, child, proof: message.proof }));
  });
}

function runSlice(arm: Arm, request: SliceRequest): Promise<SliceResult> {
  return new Promise((resolve) => {
    arm.child.once('message', (message: { type: 'result'; result: SliceResult }) => resolve(message.result));
    arm.child.send(request);
  });
}

async function prepareDatabase(adminUrl: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query('DROP DATABASE IF EXISTS otel_pg_bench WITH (FORCE)');
  await admin.query('CREATE DATABASE otel_pg_bench');
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = '/otel_pg_bench';
  await runMigrations(parseDatabaseUrl(url.toString(), 'BENCH_PG_URL'), { dir: exampleMigrationsDir, applicationName: 'otel-pg-bench-migrate' });
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  const { rows } = await client.query<{ id: number }>(
    "INSERT INTO sources (name, base_url) VALUES ('bench', 'https://example.org/feed') RETURNING id",
  );
  await client.query(
    `INSERT INTO exploits (source_id, external_id, cve_id, title, severity, url, published_at)
     SELECT $1, 'bench-' || g, 'CVE-2024-' || lpad(g::text, 5, '0'), 'Benchmark exploit ' || g,
            (ARRAY['low','medium','high','critical'])[1 + g % 4], 'https://example.org/x/' || g, now() - g * interval '1 minute'
       FROM generate_series(1, 1000) AS g`,
    [rows[0]!.id],
  );
  // Done now rather than by autovacuum and the checkpointer in the middle of the first workload.
  await client.query('VACUUM ANALYZE');
  await client.query('CHECKPOINT').catch(() => undefined); // needs pg_checkpoint on a server of your own
  await client.end();
  return url.toString();
}

async function main(): Promise<void> {
  const started = performance.now();
  let server: EmbeddedPostgres | undefined;
  let adminUrl = process.env.BENCH_PG_URL;
  if (!adminUrl) {
    server = await EmbeddedPostgres.start();
    adminUrl = server.url();
  }
  const arms: Arm[] = [];
  try {
    const url = await prepareDatabase(adminUrl);
    for (const name of ARMS) arms.push(await startArm(name, url));
    console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
    console.log(
      `per workload: a ${WORKLOAD_WARMUP_MS} ms warm-up per arm, then rounds (${WORKLOADS.map((w) => `${w.name} ${roundsOf(w)}`).join(', ')}) ` +
        `of ${SLICE_MS} ms slices (each after a ${WARMUP_MS} ms warm-up), ` +
        'arms interleaved in every round, starting arm rotating',
    );
    for (const arm of arms) console.log(`  ${arm.name.padEnd(19)} instrumented: ${arm.proof}`);

    const results = new Map<string, SliceResult[]>();
    // One workload at a time, all its rounds together: switching an arm between workloads before every
    // slice made each slice pay for re-optimizing the arm's code, more for the arms with more code.
    for (const workload of WORKLOADS) {
      // One warm-up slice per arm for the new workload, then short measured slices.
      for (const arm of arms) await runSlice(arm, { workload: workload.name, workers: workload.workers, durationMs: WORKLOAD_WARMUP_MS });
      const rounds = roundsOf(workload);
      for (let round = 1; round <= rounds; round++) {
        // The starting arm rotates every round, so no arm always runs first or right after the same one.
        for (let i = 0; i < arms.length; i++) {
          const arm = arms[(i + round - 1) % arms.length]!;
          await runSlice(arm, { workload: workload.name, workers: workload.workers, durationMs: WARMUP_MS });
          const result = await runSlice(arm, { workload: workload.name, workers: workload.workers, durationMs: SLICE_MS });
          const key = `${workload.name}/${arm.name}`;
          results.set(key, [...(results.get(key) ?? []), result]);
        }
      }
      process.stdout.write(`${workload.name}: ${rounds} rounds done\n`);
    }

    const summary: Record<string, Record<string, ArmSummary>> = {};
    for (const workload of WORKLOADS) {
      const raw = results.get(`${workload.name}/raw`)!;
      summary[workload.name] = {};
      console.log(`\n${workload.title}`);
      console.log('arm                  queries/s   ratio  (middle half)   p50 ms   p99 ms   CPU µs/q   +CPU µs  (middle half)   RSS MB');
      for (const arm of ARMS) {
        const rows = results.get(`${workload.name}/${arm}`)!;
        const ratios = rows.map((r, i) => r.qps / raw[i]!.qps);
        const cpuAdded = rows.map((r, i) => r.cpuUsPerQuery - raw[i]!.cpuUsPerQuery);
        const entry = {
          qps: median(rows.map((r) => r.qps)),
          ratio: median(ratios),
          ratioIqr: spread(ratios),
          p50Ms: median(rows.map((r) => r.p50Ms)),
          p99Ms: median(rows.map((r) => r.p99Ms)),
          cpuUs: median(rows.map((r) => r.cpuUsPerQuery)),
          cpuAddedUs: median(cpuAdded),
          cpuAddedIqr: spread(cpuAdded),
          rounds: { ratio: ratios, cpuAddedUs: cpuAdded },
          rssMb: Math.max(...rows.map((r) => r.maxRssMb)),
          errors: rows.reduce((n, r) => n + r.errors, 0),
        };
        summary[workload.name]![arm] = entry;
        const range = ([low, high]: [number, number], digits: number): string => `(${low.toFixed(digits)} – ${high.toFixed(digits)})`.padStart(15);
        console.log(
          `${arm.padEnd(19)} ${entry.qps.toFixed(0).padStart(10)} ${entry.ratio.toFixed(3).padStart(7)} ${range(entry.ratioIqr, 3)} ` +
            `${entry.p50Ms.toFixed(2).padStart(8)} ${entry.p99Ms.toFixed(2).padStart(8)} ${entry.cpuUs.toFixed(1).padStart(10)} ` +
            `${entry.cpuAddedUs.toFixed(1).padStart(9)} ${range(entry.cpuAddedIqr, 1)} ${entry.rssMb.toFixed(0).padStart(8)}` +
            (entry.errors ? `   (${entry.errors} errors)` : ''),
        );
      }
    }
    console.log('\nsummary (median of per-round ratios to raw pg.Pool; +CPU = client CPU added per query):');
    for (const workload of WORKLOADS) {
      const s = summary[workload.name]!;
      const parts = ARMS.filter((arm) => arm !== 'raw').map((arm) => `${arm} ${s[arm]!.ratio.toFixed(3)}x (+${s[arm]!.cpuAddedUs.toFixed(1)} µs)`);
      const on = s['manager-on'];
      const otel = s['instrumentation-pg'];
      const verdict = on && otel ? `; manager-on ${on.ratio > otel.ratio ? 'ahead of' : 'BEHIND'} instrumentation-pg` : '';
      console.log(`  ${workload.name.padEnd(10)} ${parts.join(', ')}${verdict}`);
    }
    const outDir = join(here, 'results');
    mkdirSync(outDir, { recursive: true });
    if (!FULL_RUN) {
      writeFileSync(join(outDir, 'partial.json'), JSON.stringify({ rounds: ROUNDS, sliceMs: SLICE_MS, summary }, null, 2));
      console.log('\npartial run (BENCH_ARMS / BENCH_WORKLOADS): wrote bench/results/partial.json; latest.json and ratios.svg left unchanged');
      return;
    }
    writeFileSync(join(outDir, 'latest.json'), JSON.stringify({ rounds: ROUNDS, sliceMs: SLICE_MS, summary }, null, 2));
    writeFileSync(join(here, 'ratios.svg'), renderRatioChart(WORKLOADS.map((w) => w.name), ARMS, summary));
    console.log('');
    // The hot-path micro-benchmark needs no database and its own process (--expose-gc for the heap figure).
    execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(here, 'hot-path.ts')], { stdio: 'inherit' });
    console.log(`\nwrote bench/ratios.svg and bench/results/latest.json in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    for (const arm of arms) arm.child.kill();
    await server?.destroy();
  }
}

await main();
