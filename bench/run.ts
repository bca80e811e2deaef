// `npm run bench`: raw pg.Pool (without and with the OpenTelemetry SDK registered) vs the manager vs
// @opentelemetry/instrumentation-pg, interleaved round by round in one run, so only ratios measured side by side are compared.
import { execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, totalmem } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmbeddedPostgres } from '../dev/embedded-postgres.js';
import type { ArmName, ArmReady, ArmSpec, SliceRequest, SliceResult, WorkloadName } from './protocol.js';
import { renderRatioChart } from './chart.js';
import { pinServerAndArms } from './pinning.js';
import { serverCpuClock } from './server-cpu.js';
import { prepareDatabase } from './database.js';
import { forkArm } from './arm-process.js';
import { PgBouncer, pgBouncerInstalled, serverAt } from '../test/support/pgbouncer.js';

const here = dirname(fileURLToPath(import.meta.url));
// Many short rounds rather than a few long ones: the machine's speed drifts over seconds, and a ratio
// is only as good as the two slices it compares were close in time.
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const SLICE_MS = Number(process.env.BENCH_SLICE_MS ?? 500);
const WARMUP_MS = 100;
const WORKLOAD_WARMUP_MS = 800;
const POOL_MAX = 10;
/** The baseline of every target: raw pg.Pool with the same SDK registered. */
const BASELINE: ArmName = 'raw';
const NO_SDK: ArmName = 'raw-no-sdk';
const ALL_ARMS: ArmName[] = ['raw-no-sdk', 'raw', 'manager-off', 'create-only', 'manager-on', 'db-pool', 'instrumentation-pg', 'zero-code'];
// select1 is the workload the targets are set on, so it gets twice the rounds (`roundsFactor`).
const ALL_WORKLOADS: { name: WorkloadName; workers: number; title: string; roundsFactor?: number }[] = [
  { name: 'select1', workers: 16, title: 'SELECT 1 / SELECT $1::int, 16 workers, pool 10', roundsFactor: 2 },
  { name: 'point', workers: 16, title: 'point query on exploits by id, 16 workers, pool 10 (the server plans every call)' },
  { name: 'prepared', workers: 16, title: 'the same point query as a named statement (planned once per connection), 16 workers, pool 10' },
  { name: 'distinct', workers: 16, title: '10,000 distinct query texts, 16 workers, pool 10' },
  { name: 'saturation', workers: 50, title: 'saturation: 50 workers, pool 10' },
];

/** BENCH_ARMS / BENCH_WORKLOADS (comma-separated) narrow a run while working on one path; both raw arms are always kept. */
function selected<T>(all: T[], variable: string, nameOf: (item: T) => string, always: string[]): T[] {
  const wanted = process.env[variable]?.split(',').map((name) => name.trim()).filter(Boolean);
  if (!wanted?.length) return all;
  const unknown = wanted.filter((name) => !all.some((item) => nameOf(item) === name));
  if (unknown.length) throw new Error(`${variable}: unknown name(s) ${unknown.join(', ')}; known: ${all.map(nameOf).join(', ')}`);
  return all.filter((item) => wanted.includes(nameOf(item)) || always.includes(nameOf(item)));
}

const ARMS = selected(ALL_ARMS, 'BENCH_ARMS', (arm) => arm, [NO_SDK, BASELINE]);
const WORKLOADS = selected(ALL_WORKLOADS, 'BENCH_WORKLOADS', (workload) => workload.name, []);
const roundsOf = (workload: (typeof ALL_WORKLOADS)[number]): number => ROUNDS * (workload.roundsFactor ?? 1);
const FULL_RUN = ARMS.length === ALL_ARMS.length && WORKLOADS.length === ALL_WORKLOADS.length;
// BENCH_POOLS=0 skips the 1-vs-8-pools phase; BENCH_PGBOUNCER=0 the arms through PgBouncer (skipped without it).
const PGBOUNCER_PHASE = process.env.BENCH_PGBOUNCER !== '0' && pgBouncerInstalled();
const POOLS_PHASE = process.env.BENCH_POOLS !== '0';
// A side whose core is this busy is where the time goes: where it is the server, every arm runs at its speed.
const BOUND_CORE_PCT = 90;

/** An arm's slice with the database server's CPU over the same slice (undefined: the server is not the embedded one). */
type MeasuredSlice = SliceResult & { serverCpuUsPerQuery?: number };

interface ArmSummary {
  qps: number;
  /** Medians of the per-round ratios to raw with the SDK and to raw without it, and the first's interquartile range. */
  ratio: number;
  ratioIqr: [number, number];
  ratioNoSdk: number;
  p50Ms: number;
  p99Ms: number;
  cpuUs: number;
  /** Client CPU per query added over raw with the SDK, in µs and as a percentage of raw's. */
  cpuAddedUs: number;
  cpuAddedIqr: [number, number];
  cpuAddedPct: number;
  /** How busy the arm's core and the server's core were (medians, %), and the server's CPU per query. */
  clientCorePct: number;
  serverCorePct: number;
  serverUs: number;
  /** The per-round figures behind the medians, in round order. */
  rounds: { ratio: number[]; ratioNoSdk: number[]; cpuAddedUs: number[]; cpuUs: number[] };
  rssMb: number;
  errors: number;
}

interface Arm {
  label: string;
  spec: ArmSpec;
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

/** Resolves with the arm, or with the reason it cannot run on this code (the process is then ended). */
function startArm(label: string, spec: ArmSpec, url: string): Promise<Arm | string> {
  const child = forkArm(spec, url);
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    const exited = (code: number | null): void => reject(new Error(`arm ${label} exited with ${code} before it was ready`));
    child.once('exit', exited);
    child.once('message', (message: ArmReady) => {
      child.off('exit', exited);
      if (message.unavailable) {
        child.kill();
        resolve(message.unavailable);
      } else resolve({ label, spec, child, proof: message.proof });
    });
  });
}

function runSlice(arm: Arm, request: SliceRequest): Promise<SliceResult> {
  return new Promise((resolve) => {
    arm.child.once('message', (message: { type: 'result'; result: SliceResult }) => resolve(message.result));
    arm.child.send(request);
  });
}

/**
 * Every workload with all its rounds together (switching an arm between workloads before every slice
 * made each slice pay for re-optimizing the arm's code); the starting arm rotates every round, so no
 * arm always runs first or right after the same one.
 */
async function interleave(
  arms: Arm[],
  workloads: { name: WorkloadName; workers: number }[],
  rounds: (workload: WorkloadName) => number,
  serverCpuMs: (() => number) | undefined,
): Promise<Map<string, MeasuredSlice[]>> {
  const results = new Map<string, MeasuredSlice[]>();
  for (const workload of workloads) {
    for (const arm of arms) await runSlice(arm, { workload: workload.name, workers: workload.workers, durationMs: WORKLOAD_WARMUP_MS });
    const count = rounds(workload.name);
    for (let round = 1; round <= count; round++) {
      for (let i = 0; i < arms.length; i++) {
        const arm = arms[(i + round - 1) % arms.length]!;
        await runSlice(arm, { workload: workload.name, workers: workload.workers, durationMs: WARMUP_MS });
        const serverBefore = serverCpuMs?.();
        const slice = await runSlice(arm, { workload: workload.name, workers: workload.workers, durationMs: SLICE_MS });
        const result: MeasuredSlice =
          serverBefore === undefined ? slice : { ...slice, serverCpuUsPerQuery: ((serverCpuMs!() - serverBefore) * 1000) / Math.max(1, slice.queries) };
        const key = `${workload.name}/${arm.label}`;
        results.set(key, [...(results.get(key) ?? []), result]);
      }
    }
    process.stdout.write(`${workload.name}: ${count} rounds done\n`);
  }
  return results;
}

function summarize(rows: MeasuredSlice[], baseline: MeasuredSlice[], noSdk: MeasuredSlice[] | undefined): ArmSummary {
  const ratios = rows.map((r, i) => r.qps / baseline[i]!.qps);
  const ratiosNoSdk = noSdk ? rows.map((r, i) => r.qps / noSdk[i]!.qps) : [];
  const cpuAdded = rows.map((r, i) => r.cpuUsPerQuery - baseline[i]!.cpuUsPerQuery);
  const baselineCpu = median(baseline.map((r) => r.cpuUsPerQuery));
  return {
    qps: median(rows.map((r) => r.qps)),
    ratio: median(ratios),
    ratioIqr: spread(ratios),
    ratioNoSdk: noSdk ? median(ratiosNoSdk) : NaN,
    p50Ms: median(rows.map((r) => r.p50Ms)),
    p99Ms: median(rows.map((r) => r.p99Ms)),
    cpuUs: median(rows.map((r) => r.cpuUsPerQuery)),
    cpuAddedUs: median(cpuAdded),
    cpuAddedIqr: spread(cpuAdded),
    cpuAddedPct: (100 * median(cpuAdded)) / baselineCpu,
    // A core's busy share is its CPU per query times the queries per second.
    clientCorePct: median(rows.map((r) => (r.cpuUsPerQuery * r.qps) / 1e4)),
    serverCorePct: median(rows.map((r) => ((r.serverCpuUsPerQuery ?? NaN) * r.qps) / 1e4)),
    serverUs: median(rows.map((r) => r.serverCpuUsPerQuery ?? NaN)),
    rounds: { ratio: ratios, ratioNoSdk: ratiosNoSdk, cpuAddedUs: cpuAdded, cpuUs: rows.map((r) => r.cpuUsPerQuery) },
    rssMb: Math.max(...rows.map((r) => r.maxRssMb)),
    errors: rows.reduce((n, r) => n + r.errors, 0),
  };
}

const fixedOrDash = (value: number, digits: number): string => (Number.isNaN(value) ? '—' : value.toFixed(digits));
const range = ([low, high]: [number, number], digits: number): string => `(${low.toFixed(digits)} – ${high.toFixed(digits)})`.padStart(15);

function printTable(title: string, labels: string[], summaries: Record<string, ArmSummary>): void {
  console.log(`\n${title}`);
  console.log(
    'arm                  queries/s  ratio  (middle half)  vs no-SDK  p50 ms  p99 ms  CPU µs/q  +CPU µs  (middle half)  +CPU %  RSS MB' +
      '  core %  server µs/q  server core %',
  );
  for (const label of labels) {
    const s = summaries[label]!;
    console.log(
      `${label.padEnd(19)} ${s.qps.toFixed(0).padStart(10)} ${s.ratio.toFixed(3).padStart(6)} ${range(s.ratioIqr, 3)} ` +
        `${(Number.isNaN(s.ratioNoSdk) ? '—' : s.ratioNoSdk.toFixed(3)).padStart(9)} ${s.p50Ms.toFixed(2).padStart(7)} ${s.p99Ms.toFixed(2).padStart(7)} ` +
        `${s.cpuUs.toFixed(1).padStart(9)} ${s.cpuAddedUs.toFixed(1).padStart(8)} ${range(s.cpuAddedIqr, 1)} ${s.cpuAddedPct.toFixed(1).padStart(7)} ` +
        `${s.rssMb.toFixed(0).padStart(7)} ${s.clientCorePct.toFixed(0).padStart(7)} ${fixedOrDash(s.serverUs, 1).padStart(12)} ${fixedOrDash(s.serverCorePct, 0).padStart(14)}` +
        (s.errors ? `   (${s.errors} errors)` : ''),
    );
  }
}

const verdict = (met: boolean): string => (met ? 'met' : 'NOT met');

/**
 * Why no client can be told apart from another on this workload, or undefined: when the server's core is
 * saturated while the arm's is not, every arm, raw included, runs at the server's speed. Only pinned runs can
 * tell: unpinned, client and server share both cores, and neither side's share of one core says who waits.
 */
function serverBound(arm: ArmSummary, pinned: boolean): string | undefined {
  if (!pinned || !(arm.serverCorePct >= BOUND_CORE_PCT && arm.clientCorePct < BOUND_CORE_PCT)) return undefined;
  return `server-bound (server core ${arm.serverCorePct.toFixed(0)} %, arm's ${arm.clientCorePct.toFixed(0)} %)`;
}

async function main(): Promise<void> {
  const started = performance.now();
  let server: EmbeddedPostgres | undefined;
  let adminUrl = process.env.BENCH_PG_URL;
  if (!adminUrl) {
    server = await EmbeddedPostgres.start();
    adminUrl = server.url();
  }
  let arms: Arm[] = [];
  const unavailable: Record<string, string> = {};
  const stop = (): void => {
    for (const arm of arms) arm.child.kill();
    arms = [];
  };
  try {
    const url = await prepareDatabase(adminUrl);
    // Pinned unless BENCH_PIN=0, or the server is not the embedded one (BENCH_PG_URL), or there is one core.
    let pinning = 'unpinned (the scheduler places client and server)';
    let pinned = false;
    if (process.env.BENCH_PIN !== '0' && server && cpus().length >= 2) {
      try {
        pinning = pinServerAndArms(server.dataDir, cpus().length);
        pinned = true;
      } catch (error) {
        pinning += `: pinning failed (${error instanceof Error ? error.message.split('\n')[0] : String(error)}); taskset and pgrep are needed`;
      }
    }
    const serverCpuMs = server ? serverCpuClock(server.dataDir) : undefined;
    // Started together (their warm-up slices overlap, nothing is measured yet), in ARMS order.
    const starting = await Promise.all(ARMS.map((name) => startArm(name, { arm: name, pools: 1, poolMax: POOL_MAX }, url)));
    for (const [i, arm] of starting.entries()) {
      if (typeof arm === 'string') unavailable[ARMS[i]!] = arm;
      else arms.push(arm);
    }
    console.log(`machine: ${cpus().length} cores (${cpus()[0]?.model ?? 'unknown'}), ${(totalmem() / 2 ** 30).toFixed(0)} GiB, Node ${process.version}`);
    console.log(`cores: ${pinning}`);
    console.log(
      'SDK: NodeSDK (AsyncLocalStorage context manager), periodic metric export every 3 s, batched spans; every call inside an active request span',
    );
    console.log(
      `per workload: a ${WORKLOAD_WARMUP_MS} ms warm-up per arm, then rounds (${WORKLOADS.map((w) => `${w.name} ${roundsOf(w)}`).join(', ')}) ` +
        `of ${SLICE_MS} ms slices (each after a ${WARMUP_MS} ms warm-up), arms interleaved in every round, starting arm rotating`,
    );
    for (const arm of arms) console.log(`  ${arm.label.padEnd(19)} instrumented: ${arm.proof}`);
    for (const [name, reason] of Object.entries(unavailable)) console.log(`  ${name.padEnd(19)} not available: ${reason}`);

    const byName = new Map(WORKLOADS.map((w) => [w.name, w]));
    const results = await interleave(arms, WORKLOADS, (name) => roundsOf(byName.get(name)!), serverCpuMs);
    const labels = arms.map((arm) => arm.label);
    const summary: Record<string, Record<string, ArmSummary>> = {};
    for (const workload of WORKLOADS) {
      const baseline = results.get(`${workload.name}/${BASELINE}`)!;
      const noSdk = results.get(`${workload.name}/${NO_SDK}`)!;
      summary[workload.name] = Object.fromEntries(labels.map((label) => [label, summarize(results.get(`${workload.name}/${label}`)!, baseline, noSdk)]));
      printTable(workload.title, labels, summary[workload.name]!);
    }
    console.log('\nsummary (median of per-round ratios to raw pg.Pool with the SDK registered; +CPU = client CPU added per query):');
    for (const workload of WORKLOADS) {
      const s = summary[workload.name]!;
      const parts = labels
        .filter((label) => label !== BASELINE)
        .map((label) => `${label} ${s[label]!.ratio.toFixed(3)}x (${s[label]!.cpuAddedUs >= 0 ? '+' : ''}${s[label]!.cpuAddedUs.toFixed(1)} µs)`);
      console.log(`  ${workload.name.padEnd(10)} ${parts.join(', ')}`);
    }
    stop();

    /** Arms side by side on select1, each summarized against the arm it is compared with; the arms are ended after. */
    const sideBySide = async (
      shapes: { label: string; spec: ArmSpec; against: string; to?: string }[],
    ): Promise<{ summaries: Record<string, ArmSummary>; of: (label: string) => MeasuredSlice[] }> => {
      arms = (await Promise.all(shapes.map((shape) => startArm(shape.label, shape.spec, shape.to ?? url)))) as Arm[];
      const results = await interleave(arms, [{ name: 'select1', workers: 16 }], () => ROUNDS, serverCpuMs);
      stop();
      const of = (label: string): MeasuredSlice[] => results.get(`select1/${label}`)!;
      return { summaries: Object.fromEntries(shapes.map((shape) => [shape.label, summarize(of(shape.label), of(shape.against), undefined)])), of };
    };

    // Cost per query with 1 and with 8 pools (managers) in one process, each with its own series. Both
    // shapes hold 16 connections for 16 workers, each worker bound to one pool, so neither queues.
    let pools: Record<string, ArmSummary> | undefined;
    if (POOLS_PHASE) {
      const phase = await sideBySide([
        { label: 'raw ×1', spec: { arm: 'raw', pools: 1, poolMax: 16 }, against: 'raw ×1' },
        { label: 'raw ×8', spec: { arm: 'raw', pools: 8, poolMax: 2 }, against: 'raw ×8' },
        { label: 'manager-on ×1', spec: { arm: 'manager-on', pools: 1, poolMax: 16 }, against: 'raw ×1' },
        { label: 'manager-on ×8', spec: { arm: 'manager-on', pools: 8, poolMax: 2 }, against: 'raw ×8' },
      ]);
      pools = phase.summaries;
      const { of } = phase;
      printTable('1 vs 8 pools (managers) in one process, select1, 16 workers on 16 connections; ratios to raw with as many pools', Object.keys(pools), pools);
      const perQuery = (label: string): number[] => of(label).map((r) => r.cpuUsPerQuery);
      const costRatio = median(perQuery('manager-on ×8').map((cpu, i) => cpu / perQuery('manager-on ×1')[i]!));
      const rawRatio = median(perQuery('raw ×8').map((cpu, i) => cpu / perQuery('raw ×1')[i]!));
      console.log(
        `  client CPU per query, 8 pools / 1 pool: manager-on ${costRatio.toFixed(3)}, raw ${rawRatio.toFixed(3)}; ` +
          `package's own +CPU ${pools['manager-on ×1']!.cpuAddedUs.toFixed(1)} µs (1 pool) vs ${pools['manager-on ×8']!.cpuAddedUs.toFixed(1)} µs (8 pools)`,
      );
    }

    // Through PgBouncer in transaction mode beside direct, select1: raw through it against raw direct is what the
    // pooler costs; the manager through it against raw through it is what the package adds there (the same +CPU as
    // direct, or it adds more through a pooler). PgBouncer is not pinned: it shares the client's core.
    let pooler: Record<string, ArmSummary> | undefined;
    if (PGBOUNCER_PHASE) {
      const bouncer = await PgBouncer.start({ server: serverAt(url), mode: 'transaction', poolSize: POOL_MAX });
      try {
        const via = bouncer.url(new URL(url).pathname.slice(1));
        pooler = (
          await sideBySide([
            { label: 'raw direct', spec: { arm: 'raw', pools: 1, poolMax: POOL_MAX }, against: 'raw direct' },
            { label: 'raw pgbouncer', spec: { arm: 'raw', pools: 1, poolMax: POOL_MAX }, against: 'raw direct', to: via },
            { label: 'manager-on direct', spec: { arm: 'manager-on', pools: 1, poolMax: POOL_MAX }, against: 'raw direct' },
            { label: 'manager-on pgbouncer', spec: { arm: 'manager-on', pools: 1, poolMax: POOL_MAX, poolerMode: 'transaction' }, against: 'raw pgbouncer', to: via },
          ])
        ).summaries;
        printTable(
          `direct and through PgBouncer ${bouncer.mode} mode, select1, 16 workers, pool ${POOL_MAX}; raw pgbouncer against raw direct, manager-on against raw on its own path`,
          Object.keys(pooler),
          pooler,
        );
        console.log(
          `  the pooler's cost: ${pooler['raw pgbouncer']!.ratio.toFixed(3)}x raw direct; the package's own +CPU: ` +
            `${pooler['manager-on direct']!.cpuAddedUs.toFixed(1)} µs direct, ${pooler['manager-on pgbouncer']!.cpuAddedUs.toFixed(1)} µs through PgBouncer`,
        );
      } finally {
        await bouncer.destroy();
      }
    }

    const s = summary.select1;
    if (s) {
      const at = (workload: string, label: string): ArmSummary | undefined => summary[workload]?.[label];
      const lines: string[] = [];
      const check = (
        text: string,
        figure: ArmSummary | undefined,
        met: (a: ArmSummary) => boolean | string,
        shown: (a: ArmSummary) => string,
      ): void => {
        const said = figure && met(figure);
        lines.push(`  ${text.padEnd(62)} ${figure ? `${shown(figure).padEnd(44)} ${typeof said === 'string' ? said : verdict(said!)}` : 'not measured'}`);
      };
      const ratio = (a: ArmSummary): string => `${a.ratio.toFixed(3)}x`;
      check('producer path select1 >= 0.98x', at('select1', 'manager-on'), (a) => a.ratio >= 0.98, ratio);
      check('producer path select1 <= +5 % client CPU per query', at('select1', 'manager-on'), (a) => a.cpuAddedPct <= 5, (a) => `${a.cpuAddedPct >= 0 ? '+' : ''}${a.cpuAddedPct.toFixed(1)} %`);
      check('producer path distinct >= 0.95x', at('distinct', 'manager-on'), (a) => a.ratio >= 0.95, ratio);
      check('create() alone select1 >= 0.93x', at('select1', 'create-only'), (a) => a.ratio >= 0.93, ratio);
      check('db.pool.query() with the producer select1 >= 0.97x', at('select1', 'db-pool'), (a) => a.ratio >= 0.97, ratio);
      check('zero-code registration select1 >= 0.97x', at('select1', 'zero-code'), (a) => a.ratio >= 0.97, ratio);
      /** Instrumentation-pg's figures on a workload, and why no arm can be compared with them there (server-bound), if so. */
      const reference = (workload: string): { otel: ArmSummary | undefined; unmeasurable: string | undefined } => {
        const otel = at(workload, 'instrumentation-pg');
        const bound = otel && serverBound(otel, pinned);
        return { otel, unmeasurable: bound ? `not measurable: ${bound}` : undefined };
      };
      for (const workload of WORKLOADS) {
        const { otel, unmeasurable } = reference(workload.name);
        // Per round, the two arms' slices ran side by side; the median of those quotients is steadier than a quotient of medians.
        const ahead = (a: ArmSummary): number => median(a.rounds.ratio.map((r, i) => r / otel!.rounds.ratio[i]!));
        check(
          `zero-code >= 1.6x instrumentation-pg's queries/s on ${workload.name}`,
          at(workload.name, 'zero-code'),
          (a) => (!otel ? true : (unmeasurable ?? ahead(a) >= 1.6)),
          (a) => (otel ? `${ahead(a).toFixed(2)}x (${ratio(a)} vs ${ratio(otel)})` : `${ratio(a)} vs —`),
        );
      }
      for (const workload of WORKLOADS) {
        const { otel, unmeasurable } = reference(workload.name);
        // The client CPU is shown too: where the server is the bottleneck every arm runs at the same speed.
        const cpu = (a: ArmSummary): string => `${a.cpuAddedUs >= 0 ? '+' : ''}${a.cpuAddedUs.toFixed(1)}`;
        for (const label of ['manager-on', 'create-only', 'db-pool']) {
          check(`${label} ahead of instrumentation-pg on ${workload.name}`, at(workload.name, label), (a) => (!otel ? true : (unmeasurable ?? a.ratio > otel.ratio)), (a) =>
            otel ? `${ratio(a)} vs ${ratio(otel)} (${cpu(a)} vs ${cpu(otel)} µs CPU)` : `${ratio(a)} vs —`,
          );
        }
      }
      if (pools) {
        const one = pools['manager-on ×1']!;
        const eight = pools['manager-on ×8']!;
        check('8 pools: CPU per query within 5 % of 1 pool', eight, (a) => a.cpuUs <= one.cpuUs * 1.05, (a) => `${a.cpuUs.toFixed(1)} vs ${one.cpuUs.toFixed(1)} µs`);
      }
      console.log('\ntargets (against raw pg.Pool with the same SDK, this run):');
      console.log(lines.join('\n'));
    }

    const outDir = join(here, 'results');
    mkdirSync(outDir, { recursive: true });
    const record = { rounds: ROUNDS, sliceMs: SLICE_MS, cores: pinning, unavailable, summary, pools, pooler };
    if (!FULL_RUN) {
      writeFileSync(join(outDir, 'partial.json'), JSON.stringify(record, null, 2));
      console.log('\npartial run (BENCH_ARMS / BENCH_WORKLOADS): wrote bench/results/partial.json; latest.json and ratios.svg left unchanged');
      return;
    }
    writeFileSync(join(outDir, 'latest.json'), JSON.stringify(record, null, 2));
    writeFileSync(join(here, 'ratios.svg'), renderRatioChart(WORKLOADS.map((w) => w.name), labels, summary));
    console.log('');
    // The hot-path micro-benchmark and the memory figures need no database and their own process (--expose-gc).
    const hotPath = (...args: string[]): void => {
      execFileSync(process.execPath, ['--expose-gc', '--import', 'tsx', join(here, 'hot-path.ts'), ...args], { stdio: 'inherit' });
    };
    hotPath();
    console.log('memory: the monitor and the OpenTelemetry tracker (producer path), heap with them minus without, after a full GC:');
    for (const scenario of ['literals', 'shapes', 'long']) hotPath(`--memory=${scenario}`);
    console.log(`\nwrote bench/ratios.svg and bench/results/latest.json in ${((performance.now() - started) / 1000).toFixed(0)} s`);
  } finally {
    stop();
    await server?.destroy();
  }
}

await main();
