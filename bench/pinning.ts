// The database server on one core and the arms on the other, as a service and its database sit on
// different machines (the bench's default; BENCH_PIN=0 turns it off). On 2 cores, unpinned, the
// scheduler moves client and server between the cores, and each slice's CPU per query depends on
// how their turns interleaved.
import { execFileSync } from 'node:child_process';
import { serverProcesses } from './server-cpu.js';

/** CPU list for taskset: the server gets the last core, this process (and the arms it forks) the others. */
export function pinServerAndArms(dataDir: string, cores: number): string {
  if (cores < 2) throw new Error('BENCH_PIN needs at least 2 cores');
  const serverCpu = String(cores - 1);
  const armCpus = cores === 2 ? '0' : `0-${cores - 2}`;
  // Backends forked later inherit the postmaster's mask.
  for (const pid of serverProcesses(dataDir)) execFileSync('taskset', ['-a', '-c', '-p', serverCpu, pid], { stdio: 'ignore' });
  execFileSync('taskset', ['-a', '-c', '-p', armCpus, String(process.pid)], { stdio: 'ignore' });
  return `server on CPU ${serverCpu}, arms on CPU ${armCpus}`;
}
