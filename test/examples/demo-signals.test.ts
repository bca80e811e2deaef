// `npm run demo` and a Ctrl-C that arrives twice: the cleanup (PostgreSQL stopped, its temp folder removed) still runs.
import { execFileSync, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const FRAME_LINE = /^\[\s*\d+ s\] primary used \d+\/8/m;

/** Command lines of the processes still running that name `folder` (the server's `-D`, the watcher's arguments). */
function processesNaming(folder: string): string[] {
  const lines = execFileSync('ps', ['-eo', 'pid=,args='], { encoding: 'utf8' }).split('\n');
  return lines.filter((line) => line.includes(folder));
}

async function settled(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!check() && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 100));
}

describe('npm run demo and a repeated Ctrl-C', () => {
  it('two SIGINTs 20 ms apart to its process group (a terminal, tsx relaying) still stop PostgreSQL and remove the folder', async () => {
    // tsx's own command, as `npm run demo` runs it: its parent relays signals to the child that runs the demo.
    // Detached: a group of its own, so that the signal reaches both as a terminal's Ctrl-C would.
    const { DATABASE_URL: _unset, ...env } = process.env;
    const child = spawn(process.execPath, ['node_modules/tsx/dist/cli.mjs', 'examples/demo.ts', '--duration', '60'], {
      cwd: ROOT,
      env,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let output = '';
    let interrupted = false;
    const collect = (chunk: Buffer): void => {
      output += chunk.toString();
      if (interrupted || !FRAME_LINE.test(output)) return;
      interrupted = true;
      const interrupt = (): void => {
        try {
          process.kill(-child.pid!, 'SIGINT');
        } catch {
          // The group is gone already: the demo finished before the second signal.
        }
      };
      interrupt();
      setTimeout(interrupt, 20);
    };
    child.stdout.on('data', collect);
    child.stderr.on('data', collect);
    const code = await new Promise<number | null>((resolve, reject) => {
      child.once('error', reject);
      child.once('close', (exitCode) => resolve(exitCode));
    });

    const folder = /data in (\S+)/.exec(output)?.[1];
    expect(folder, output).toMatch(/otel-pg-manager-/);
    expect(interrupted, output).toBe(true);
    // The watcher leaves within 200 ms of the folder's removal; a server it had to stop takes a moment more.
    await settled(() => !existsSync(folder!) && processesNaming(folder!).length === 0, 10_000);
    expect(processesNaming(folder!)).toEqual([]);
    expect(existsSync(folder!)).toBe(false);
    // The demo itself did the cleanup: the second signal neither ended it nor cut the cleanup short.
    expect(output).toContain('still stopping: PostgreSQL is stopped and its folder removed before the demo exits');
    expect(output).toContain(`stopped PostgreSQL and removed ${folder}`);
    expect(code, output).toBe(0);
  }, 60_000);

  it('a demo process killed outright (SIGKILL) leaves no PostgreSQL and no folder: the watcher cleans up', async () => {
    const script = `
      const { EmbeddedPostgres } = await import('./dev/embedded-postgres.ts');
      const server = await EmbeddedPostgres.start({ cleanUpAfterExit: true });
      console.log('data in ' + server.dataDir);
      setInterval(() => {}, 1000);`;
    const child = spawn(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] });
    const folder = await new Promise<string>((resolve, reject) => {
      let output = '';
      child.once('error', reject);
      child.stdout.on('data', (chunk: Buffer) => {
        output += chunk.toString();
        const dataDir = /data in (\S+)/.exec(output)?.[1];
        if (dataDir) resolve(dataDir.replace(/\/data$/, ''));
      });
    });
    expect(processesNaming(folder).length).toBeGreaterThan(0);
    child.kill('SIGKILL');
    await settled(() => !existsSync(folder) && processesNaming(folder).length === 0, 15_000);
    expect(processesNaming(folder)).toEqual([]);
    expect(existsSync(folder)).toBe(false);
  }, 60_000);
});
