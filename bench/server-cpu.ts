// The database server's processes and the CPU they have used, read from /proc, so the bench can say
// which side of the wire a workload is bound by.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/** Every process of the server: the postmaster (first line of postmaster.pid) and its children. */
export function serverProcesses(dataDir: string): string[] {
  const postmaster = readFileSync(join(dataDir, 'postmaster.pid'), 'utf8').split('\n')[0]!.trim();
  const children = execFileSync('pgrep', ['-P', postmaster], { encoding: 'utf8' }).split('\n').filter(Boolean);
  return [postmaster, ...children];
}

const TICK_MS = 10; // USER_HZ is 100 on every Linux this runs on

/** CPU ms of the process's own threads and, for the postmaster, of the children it has already reaped. */
function processCpuMs(pid: string, withReapedChildren: boolean): number {
  try {
    // Fields after the command name (which may hold spaces and parentheses), from field 3 on: utime is 14, stime 15,
    // cutime 16, cstime 17.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const own = Number(fields[11]) + Number(fields[12]);
    return (own + (withReapedChildren ? Number(fields[13]) + Number(fields[14]) : 0)) * TICK_MS;
  } catch {
    return 0; // a backend that exited between pgrep and the read; the postmaster's cutime has it next time
  }
}

/** A reader of the server's cumulative CPU ms, or undefined where /proc cannot tell (not Linux). */
export function serverCpuClock(dataDir: string): (() => number) | undefined {
  if (process.platform !== 'linux') return undefined;
  return () => serverProcesses(dataDir).reduce((sum, pid, i) => sum + processCpuMs(pid, i === 0), 0);
}
