// Reads PgBouncer's admin console (SHOW POOLS, SHOW STATS, SHOW DATABASES) every interval and reports it to the trackers.
import pg from 'pg';
import { type ManagerConfig } from '../config.js';
import { connectionFields, type DatabaseTarget } from '../database-url.js';
import type { Logger, PoolerSample, TrackerFanout } from '../tracker.js';

export interface PgBouncerConsoleOptions {
  /** The admin console (database `pgbouncer`). */
  admin: DatabaseTarget;
  /** The pool whose figures are reported: the (database, user) pair the primary connects as. */
  pool: { database: string; user: string; clientPool: string };
  intervalMs: number;
  trackers: TrackerFanout;
  logger: Logger;
}

type Row = Record<string, string | null>;

function count(row: Row | undefined, column: string): number {
  const value = Number(row?.[column] ?? 0);
  return Number.isFinite(value) ? value : 0;
}

/**
 * One connection to the console, kept open and read on an unref'd timer (the console speaks only the simple query
 * protocol, which pg uses for a text without parameters). A failed reading is logged once until one succeeds again;
 * the trackers then see no new sample, and the monitor grades the reading as stale.
 */
export class PgBouncerConsole {
  private client: pg.Client | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reading: Promise<void> | undefined;
  private failing = false;
  private closed = false;

  constructor(private readonly options: PgBouncerConsoleOptions) {}

  /** Reads once (so the first sample is there when create() returns), then every interval. Never throws. */
  async start(): Promise<void> {
    await this.read();
    if (this.closed) return;
    this.timer = setInterval(() => void this.read(), this.options.intervalMs);
    this.timer.unref();
  }

  /** One reading now; overlapping calls share it. */
  read(): Promise<void> {
    this.reading ??= this.readOnce().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async connect(): Promise<pg.Client> {
    if (this.client) return this.client;
    const client = new pg.Client({
      ...connectionFields(this.options.admin),
      application_name: 'otel-pg-manager-pooler',
      connectionTimeoutMillis: Math.min(this.options.intervalMs, 5000),
    });
    // A console connection that dies while idle emits 'error'; the next reading opens another.
    client.on('error', () => {
      if (this.client === client) this.client = undefined;
    });
    await client.connect();
    this.client = client;
    return client;
  }

  private async readOnce(): Promise<void> {
    if (this.closed) return;
    const { database, user } = this.options.pool;
    try {
      const client = await this.connect();
      const pools = await client.query<Row>('SHOW POOLS');
      const stats = await client.query<Row>('SHOW STATS');
      const databases = await client.query<Row>('SHOW DATABASES');
      const pool = pools.rows.find((row) => row.database === database && row.user === user);
      const stat = stats.rows.find((row) => row.database === database);
      const entry = databases.rows.find((row) => row.name === database);
      if (this.closed) return;
      const sample: PoolerSample = {
        pooler: 'pgbouncer',
        address: `${this.options.admin.host}:${this.options.admin.port}`,
        database,
        user,
        clientPool: this.options.pool.clientPool,
        poolMode: pool?.pool_mode ?? entry?.pool_mode ?? 'unknown',
        poolSize: entry?.pool_size === undefined || entry.pool_size === null ? undefined : count(entry, 'pool_size'),
        clients: { active: count(pool, 'cl_active'), waiting: count(pool, 'cl_waiting') },
        servers: {
          active: count(pool, 'sv_active'),
          idle: count(pool, 'sv_idle'),
          used: count(pool, 'sv_used'),
          tested: count(pool, 'sv_tested'),
          login: count(pool, 'sv_login'),
        },
        maxWaitSeconds: count(pool, 'maxwait') + count(pool, 'maxwait_us') / 1e6,
        totals: {
          transactions: count(stat, 'total_xact_count'),
          queries: count(stat, 'total_query_count'),
          waitSeconds: count(stat, 'total_wait_time') / 1e6,
        },
        sampledAt: Date.now(),
        intervalMs: this.options.intervalMs,
      };
      if (this.failing) this.options.logger.info?.(`otel-pg-manager: the PgBouncer admin console at ${sample.address} answers again`);
      this.failing = false;
      this.options.trackers.poolerSampled(sample);
    } catch (error) {
      const client = this.client;
      this.client = undefined;
      await client?.end().catch(() => undefined);
      if (!this.failing && !this.closed) {
        this.failing = true;
        const reason = error instanceof Error ? error.message : String(error);
        this.options.logger.warn(
          `otel-pg-manager: could not read the PgBouncer admin console at ${this.options.admin.host}:${this.options.admin.port} ` +
            `(${reason}); pooler figures stay stale until it answers. Its user must be in admin_users or stats_users.`,
        );
      }
    }
  }

  async close(): Promise<void> {
    this.closed = true;
    clearInterval(this.timer);
    await this.reading?.catch(() => undefined);
    const client = this.client;
    this.client = undefined;
    await client?.end().catch(() => undefined);
  }
}

/** The console reader of a manager whose configuration names one (`pgbouncer: { adminUrl }`), started; else undefined. */
export async function startPoolerConsole(config: ManagerConfig, trackers: TrackerFanout, logger: Logger): Promise<PgBouncerConsole | undefined> {
  if (!config.pgbouncer) return undefined;
  const reader = new PgBouncerConsole({
    admin: config.pgbouncer.admin,
    pool: { database: config.primary.database, user: config.primary.user, clientPool: config.poolNames.primary },
    intervalMs: config.pgbouncer.intervalMs,
    trackers,
    logger,
  });
  await reader.start();
  return reader;
}
