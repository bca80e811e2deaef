// A real PgBouncer (Debian's package, /usr/sbin/pgbouncer) in front of the test server, in transaction or session mode.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createConnection } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { freePort } from '../../dev/embedded-postgres.js';

export type PoolMode = 'transaction' | 'session';

/** The mode of the PgBouncer that PG_TEST_VIA puts in front of the test server (test/global-setup.ts); undefined: direct. */
export function poolModeOfTestRun(): PoolMode | undefined {
  const via = process.env.PG_TEST_VIA;
  if (!via) return undefined;
  const mode = /^pgbouncer-(transaction|session)$/.exec(via)?.[1];
  if (!mode) throw new Error(`PG_TEST_VIA must be pgbouncer-transaction or pgbouncer-session, not ${via}`);
  return mode as PoolMode;
}

export const PGBOUNCER_BINARY = process.env.PGBOUNCER_BINARY ?? '/usr/sbin/pgbouncer';

/** Whether the binary is there: suites that need it skip (with a line saying so) where it is not installed. */
export function pgBouncerInstalled(): boolean {
  return existsSync(PGBOUNCER_BINARY);
}

/** The PostgreSQL server a postgres URL reaches, as PgBouncerOptions.server takes it (5432 when the URL names no port). */
export function serverAt(url: string): { host: string; port: number } {
  const { hostname, port } = new URL(url);
  return { host: hostname, port: Number(port || 5432) };
}

export interface PgBouncerOptions {
  /** The PostgreSQL server behind it (the test server). */
  server: { host: string; port: number };
  mode: PoolMode;
  /** default_pool_size: server connections per (database, user) pair (20, as PgBouncer's default). */
  poolSize?: number;
  /** Further [pgbouncer] settings, e.g. { query_wait_timeout: 5 }. */
  settings?: Record<string, string | number>;
}

export interface PoolRow {
  database: string;
  user: string;
  cl_active: number;
  cl_waiting: number;
  sv_active: number;
  sv_idle: number;
  sv_used: number;
  sv_login: number;
  maxwait: number;
  maxwait_us: number;
  pool_mode: string;
}

const ADMIN_USER = 'postgres';

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function isRoot(): boolean {
  return typeof process.getuid === 'function' && process.getuid() === 0;
}

/**
 * One PgBouncer process, in the foreground as a child of this one. Clients authenticate as any user listed in
 * its auth file (trust: the test server trusts the superuser on loopback); every database name is passed through
 * to the server (`* =`), so each test file's own database works through it. The admin console is the database
 * `pgbouncer`, for the superuser.
 */
export class PgBouncer {
  private child: ChildProcess | undefined;
  private constructor(
    readonly port: number,
    readonly mode: PoolMode,
    private readonly dir: string,
  ) {}

  static async start(options: PgBouncerOptions): Promise<PgBouncer> {
    const dir = mkdtempSync(join(tmpdir(), 'pgbouncer-'));
    // PgBouncer refuses to run as root: as root it drops to the postgres user (`user =`), which must read this folder.
    chmodSync(dir, 0o777);
    const port = await freePort();
    writeFileSync(join(dir, 'userlist.txt'), `"${ADMIN_USER}" ""\n`);
    const settings: Record<string, string | number> = {
      listen_addr: '127.0.0.1',
      listen_port: port,
      unix_socket_dir: '',
      auth_type: 'trust',
      auth_file: join(dir, 'userlist.txt'),
      admin_users: ADMIN_USER,
      stats_users: ADMIN_USER,
      pool_mode: options.mode,
      default_pool_size: options.poolSize ?? 20,
      max_client_conn: 1000,
      logfile: join(dir, 'pgbouncer.log'),
      // The averages of SHOW STATS are recomputed every stats_period seconds (60 by default).
      stats_period: 1,
      server_login_retry: 1,
      ...(isRoot() ? { user: 'postgres' } : {}),
      ...options.settings,
    };
    const ini = [
      '[databases]',
      `* = host=${options.server.host} port=${options.server.port}`,
      '',
      '[pgbouncer]',
      ...Object.entries(settings).map(([key, value]) => `${key} = ${value}`),
      '',
    ].join('\n');
    writeFileSync(join(dir, 'pgbouncer.ini'), ini);
    const bouncer = new PgBouncer(port, options.mode, dir);
    await bouncer.launch();
    return bouncer;
  }

  private async launch(): Promise<void> {
    const child = spawn(PGBOUNCER_BINARY, [join(this.dir, 'pgbouncer.ini')], { stdio: 'ignore' });
    this.child = child;
    const deadline = Date.now() + 10_000;
    while (!(await accepts(this.port))) {
      if (child.exitCode !== null || Date.now() > deadline) {
        throw new Error(`PgBouncer did not start: ${this.log().slice(-2000)}`);
      }
      await new Promise((r) => setTimeout(r, 20));
    }
  }

  /** Its log so far (for failure messages). */
  log(): string {
    const file = join(this.dir, 'pgbouncer.log');
    return existsSync(file) ? readFileSync(file, 'utf8') : '';
  }

  /** A URL of `database` through the pooler, for the superuser. */
  url(database: string): string {
    return `postgresql://${ADMIN_USER}@127.0.0.1:${this.port}/${database}`;
  }

  /** The admin console's URL. */
  get adminUrl(): string {
    return this.url('pgbouncer');
  }

  /** One admin console command (simple query protocol, which is all the console speaks). */
  async admin<R extends pg.QueryResultRow = pg.QueryResultRow>(command: string): Promise<R[]> {
    const client = new pg.Client({ connectionString: this.adminUrl });
    await client.connect();
    try {
      const result = await client.query<R>(command);
      return result.rows;
    } finally {
      await client.end().catch(() => undefined);
    }
  }

  /** SHOW POOLS, numbers as numbers, for one database (the admin console's own pool left out). */
  async pools(database: string): Promise<PoolRow[]> {
    const rows = await this.admin<Record<string, string>>('SHOW POOLS');
    return rows
      .filter((row) => row.database === database)
      .map((row) => {
        const numeric = Object.fromEntries(Object.entries(row).map(([k, v]) => [k, /^\d+$/.test(String(v)) ? Number(v) : v]));
        return numeric as unknown as PoolRow;
      });
  }

  /** Stops the process at once (SIGTERM: PgBouncer's immediate shutdown; SIGINT would wait for clients) and waits for it to be gone. */
  async stop(): Promise<void> {
    const child = this.child;
    this.child = undefined;
    if (!child || child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
    child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
  }

  /** Stopped and started again on the same port: every client and server connection is cut. */
  async restart(): Promise<void> {
    await this.stop();
    await this.launch();
  }

  async destroy(): Promise<void> {
    await this.stop();
    rmSync(this.dir, { recursive: true, force: true });
  }
}
