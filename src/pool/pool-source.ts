// Where a managed pool comes from: built by the manager from its configuration, or an app's own
// pg.Pool adopted as it is (`create({ pool })`), described without ever reading its password.
import pg from 'pg';
import { type PoolerMode } from '../config.js';
import { connectionFields, type DatabaseTarget } from '../database-url.js';
import { ConfigError } from '../errors.js';
import { sessionOptions } from '../session-settings.js';
import type { Logger } from '../tracker.js';
import type { PgPoolOptions } from './pool-options.js';

export interface PoolBuildSettings {
  target: DatabaseTarget;
  min: number;
  max: number;
  idleTimeoutMs: number;
  connectionTimeoutMs: number;
  statementTimeoutMs: number;
  queryTimeoutMs: number;
  applicationName: string;
  /** What sits between the pool and PostgreSQL: decides how statement_timeout is sent (session-settings.ts). */
  poolerMode: PoolerMode;
  poolName: string;
  logger: Logger;
  /** pg-pool's own options the app gave create(), passed as they are. */
  pgPool?: PgPoolOptions;
}

export function buildPool(settings: PoolBuildSettings): pg.Pool {
  const session = withSessionOptions(settings);
  return new pg.Pool({
    ...connectionFields(settings.target),
    max: settings.max,
    min: settings.min,
    idleTimeoutMillis: settings.idleTimeoutMs,
    connectionTimeoutMillis: settings.connectionTimeoutMs,
    application_name: settings.applicationName,
    // Without keepalive a half-open connection to a vanished server is only noticed after hours.
    keepAlive: true,
    keepAliveInitialDelayMillis: 10_000,
    ...(session.statement_timeout === undefined ? {} : { statement_timeout: session.statement_timeout }),
    ...(settings.queryTimeoutMs > 0 ? { query_timeout: settings.queryTimeoutMs } : {}),
    ...settings.pgPool,
    // After the app's pg-pool options: the manager's onConnect runs the app's own after it.
    ...(session.onConnect ? { onConnect: session.onConnect } : {}),
  } as pg.PoolConfig);
}

/** The session settings' pool options (session-settings.ts), with an app's own onConnect run after the manager's. */
function withSessionOptions(settings: PoolBuildSettings): pg.PoolConfig {
  const session = sessionOptions(settings);
  const own = settings.pgPool?.onConnect as ((client: pg.ClientBase) => unknown) | undefined;
  if (!session.onConnect || !own) return session;
  const first = session.onConnect;
  return { ...session, onConnect: async (client: pg.ClientBase) => { await first(client); await own(client); } };
}

/** Marks a pg.Pool that a manager already owns: two managers wrapping one pool would count everything twice. */
const MANAGED = Symbol.for('otel-pg-manager.managed-pool');

export function claimPool(pool: pg.Pool, field: string): void {
  if ((pool as unknown as Record<symbol, boolean>)[MANAGED]) {
    throw new ConfigError(field, 'is already managed by another PostgresManager; share that manager instead');
  }
  Object.defineProperty(pool, MANAGED, { value: true, configurable: true });
}

/** The pool is the app's alone again (a create() that failed gave it back). */
export function unclaimPool(pool: pg.Pool): void {
  delete (pool as unknown as Record<symbol, boolean>)[MANAGED];
}

// Settings that shape the pool's own sessions or the pool itself; a migration connection sets its own deadlines.
const NOT_FOR_MIGRATIONS = [
  'query_timeout',
  'statement_timeout',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'connectionTimeoutMillis',
  'application_name',
  'max',
  'min',
  'idleTimeoutMillis',
  'maxUses',
  'maxLifetimeSeconds',
  'allowExitOnIdle',
  'Client',
  'log',
  'onConnect',
  'verify',
];

/** The pool's connection settings for a connection outside it; the password is non-enumerable there, so a spread alone would drop it. */
function standaloneSettings(options: pg.PoolConfig): Record<string, unknown> {
  const settings: Record<string, unknown> = { ...options, password: options.password };
  for (const key of NOT_FOR_MIGRATIONS) delete settings[key];
  return settings;
}

/**
 * The server an app's pool reaches, read the way pg itself reads it (connection string, fields,
 * PG* environment variables) by a client that is built and never connected. The target's
 * `connection` hands the pool's own settings to the migration runner, TLS and password included.
 */
export function describeAdoptedPool(pool: unknown, field: string): DatabaseTarget {
  if (!(pool instanceof pg.Pool)) {
    throw new ConfigError(field, 'must be a pg.Pool from the same "pg" package this one uses (install pg once, as a peer)');
  }
  if (pool.ending) throw new ConfigError(field, 'has already been ended');
  const options = pool.options as pg.PoolConfig;
  let probe: pg.Client;
  try {
    // No stream: an app's stream factory (a cloud connector's) would open a socket for nothing.
    probe = new pg.Client({ ...options, password: undefined, stream: undefined });
  } catch (error) {
    throw new ConfigError(field, `has connection settings pg cannot read: ${error instanceof Error ? error.message : String(error)}`);
  }
  const { host, port, database = '', user = '' } = probe;
  const redactedUrl = `postgresql://${encodeURIComponent(user)}@${encodeURIComponent(host)}:${port}/${encodeURIComponent(database)}`;
  return Object.freeze({
    host,
    port,
    database,
    user,
    password: undefined,
    ssl: false,
    redactedUrl,
    connection: () => standaloneSettings(options),
  });
}
