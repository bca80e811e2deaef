// Starting an arm process (bench/arm.ts) for the benchmark and the profiler alike.
import { fork, type ChildProcess } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ArmSpec } from './protocol.js';

const here = dirname(fileURLToPath(import.meta.url));

/** `nodeOptions`: extra flags for the arm's Node (--cpu-prof, say). */
export function forkArm(spec: ArmSpec, url: string, nodeOptions: string[] = []): ChildProcess {
  return fork(join(here, 'arm.ts'), [JSON.stringify(spec), url], {
    execArgv: ['--import', 'tsx', ...nodeOptions],
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    // No OTLP exporters reaching for a collector that is not there: the arms set up their own.
    env: { ...process.env, OTEL_TRACES_EXPORTER: 'none', OTEL_METRICS_EXPORTER: 'none', OTEL_LOGS_EXPORTER: 'none' },
  });
}
