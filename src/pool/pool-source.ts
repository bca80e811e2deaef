// Where a managed pool comes from: built by the manager from its configuration, or an app's own
// pg.Pool adopted as it is (`create({ pool })`), described without ever reading its password.
import pg from 'pg';
import { connectionFields, type DatabaseTarget } from '../config.js';
import { ConfigError } from '../errors.js';

export interface PoolBuildSettings {
  target: DatabaseTarget;
  min: number;
  max: number;
  idleTimeoutMs: number;
  connectionTimeoutMs: number;
  statementTimeoutMs: number;
  queryTimeoutMs: number;
  applicationName: string;
}

export function buildPool(settings: PoolBuildSettings): pg.Pool {
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
    ...(settings.statementTimeoutMs > 0 ? { statement_timeout: settings.statementTimeoutMs } : {}),
    ...(settings.queryTimeoutMs > 0 ? { query_timeout: settings.queryTimeoutMs } : {}),
  });
}

/** Marks a pg.Pool that a manager already owns: two managers wrapping one pool would count everything twice. */
const MANAGED = Symbol.for('otel-pg-manager.managed-pool');

export function claimPool(pool: pg.Pool, field: string): void {
  if ((pool as unknown as Record<symbol, boolean>)[MANAGED]) {
    throw new ConfigError(field, 'is already managed by another PostgresManager; share that manager instead');
  }
  Object.defineProperty(pool, MANAGED, { value: true });
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
    probe = new pg.Client({ ...options, password: undefined });
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
    // The pool keeps its password non-enumerable; a spread alone would drop it.
    connection: () => ({ ...options, password: options.password }),
  });
}
