// `npm run bench:profile -- <arm>[,<arm>] [workload]`: where an arm's client CPU goes (`<arm>:8` and
// `<arm>:1`: eight pools of 2 connections or one of 16, as in the bench's 1-vs-8-pools phase; else
// one pool of 10). Each arm runs
// one workload for 8 s under `node --cpu-prof`, pinned as BENCH_PIN=1 pins (server on one core, arm
// on the other); the functions that took the most of its busy time are printed in µs per query
// (their share of the samples times the arm's CPU per query). With two arms, the difference per
// function: what the first adds over the second. The profiles stay in bench/results/profiles/ for
// Chrome DevTools or speedscope.
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { cpus } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { EmbeddedPostgres } from '../dev/embedded-postgres.js';
import { prepareDatabase } from './database.js';
import { pinServerAndArms } from './pinning.js';
import { forkArm } from './arm-process.js';
import type { ArmName, ArmSpec, SliceRequest, SliceResult, WorkloadName } from './protocol.js';

const here = dirname(fileURLToPath(import.meta.url));
const outDir = join(here, 'results', 'profiles');
const arms = (process.argv[2] ?? 'manager-on,manager-off').split(',');
const workload = (process.argv[3] ?? 'select1') as WorkloadName;
const workers = workload === 'saturation' ? 50 : 16;
const SHOWN = 25;

interface CpuProfile {
  nodes: { id: number; callFrame: { functionName: string; url: string } }[];
  samples: number[];
  timeDeltas: number[];
}

/** µs per query by function ("name file"), idle time left out. */
function perQuery(profile: CpuProfile, cpuUsPerQuery: number): Map<string, number> {
  const frames = new Map(profile.nodes.map((node) => [node.id, node.callFrame]));
  const time = new Map<string, number>();
  let busy = 0;
  profile.samples.forEach((id, i) => {
    const frame = frames.get(id)!;
    if (frame.functionName === '(idle)') return;
    const key = `${frame.functionName || '(anonymous)'} ${frame.url.split('/').pop() ?? ''}`.trim();
    const delta = profile.timeDeltas[i] ?? 0;
    time.set(key, (time.get(key) ?? 0) + delta);
    busy += delta;
  });
  return new Map([...time].map(([key, t]) => [key, (t / busy) * cpuUsPerQuery]));
}

async function profileArm(label: string, url: string): Promise<{ result: SliceResult; profile: CpuProfile }> {
  const [arm, pools] = label.split(':') as [ArmName, string | undefined];
  const spec: ArmSpec = pools === '8' ? { arm, pools: 8, poolMax: 2 } : pools === '1' ? { arm, pools: 1, poolMax: 16 } : { arm, pools: 1, poolMax: 10 };
  const dir = join(outDir, `.${label}`);
  rmSync(dir, { recursive: true, force: true });
  const child = forkArm(spec, url, ['--cpu-prof', `--cpu-prof-dir=${dir}`]);
  const reply = <T>(): Promise<T> => new Promise((resolve) => child.once('message', (message) => resolve(message as T)));
  await reply();
  const slice = async (durationMs: number): Promise<SliceResult> => {
    const answer = reply<{ result: SliceResult }>();
    child.send({ workload, workers, durationMs } satisfies SliceRequest);
    return (await answer).result;
  };
  await slice(1000);
  const result = await slice(8000);
  child.send({ type: 'exit' });
  await new Promise((resolve) => child.once('exit', resolve));
  // The main thread's profile is the largest of the files the process wrote.
  const files = readdirSync(dir).map((name) => join(dir, name));
  const main = files.sort((a, b) => readFileSync(b).length - readFileSync(a).length)[0]!;
  const kept = join(outDir, `${label.replace(':', 'x')}-${workload}.cpuprofile`);
  renameSync(main, kept);
  rmSync(dir, { recursive: true, force: true });
  return { result, profile: JSON.parse(readFileSync(kept, 'utf8')) as CpuProfile };
}

const format = (us: number): string => `${us >= 0 ? '+' : ''}${us.toFixed(2)}`.padStart(7);

mkdirSync(outDir, { recursive: true });
const server = await EmbeddedPostgres.start();
try {
  const url = await prepareDatabase(server.url());
  console.log(`${pinServerAndArms(server.dataDir, cpus().length)}; workload ${workload}, ${workers} workers, 8 s per arm under --cpu-prof`);
  const costs: Map<string, number>[] = [];
  for (const arm of arms) {
    const { result, profile } = await profileArm(arm, url);
    const cost = perQuery(profile, result.cpuUsPerQuery);
    costs.push(cost);
    console.log(`\n${arm}: ${result.cpuUsPerQuery.toFixed(1)} µs client CPU per query (profiler included), top functions in µs per query:`);
    for (const [key, us] of [...cost].sort((a, b) => b[1] - a[1]).slice(0, SHOWN)) console.log(`  ${us.toFixed(2).padStart(6)}  ${key}`);
  }
  if (costs.length === 2) {
    const [first, second] = costs as [Map<string, number>, Map<string, number>];
    const keys = new Set([...first.keys(), ...second.keys()]);
    const added = [...keys].map((key) => [key, (first.get(key) ?? 0) - (second.get(key) ?? 0)] as const).sort((a, b) => b[1] - a[1]);
    console.log(`\n${arms[0]} minus ${arms[1]}, µs per query by function (largest first):`);
    for (const [key, us] of added.slice(0, SHOWN)) console.log(`  ${format(us)}  ${key}`);
  }
  console.log(`\nprofiles: ${outDir}`);
} finally {
  await server.destroy();
}
