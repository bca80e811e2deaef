// pg-pool's own options given to create(): checked, and handed to the pools the manager builds; pg's names
// for what the manager configures under its own names are refused with the name to use.
import type pg from 'pg';
import { ConfigError } from '../errors.js';

/** pg-pool options passed through as they are, to each pool the manager builds (see pg-pool's README). */
export interface PgPoolOptions {
  /** Close a connection after it was lent this many times (pg-pool's `maxUses`; default: never). */
  maxUses?: number;
  /** Close a connection this many seconds after it was opened, once it is idle (pg-pool's `maxLifetimeSeconds`; 0: never). */
  maxLifetimeSeconds?: number;
  /** Let the process exit while the pool's connections are idle (pg-pool's `allowExitOnIdle`). */
  allowExitOnIdle?: boolean;
  /** Runs on each new connection before it is lent; a rejection fails that acquisition (pg-pool's `onConnect`). */
  onConnect?: (client: pg.PoolClient) => void | Promise<void>;
  /** Checks each new connection before it is lent; an error fails that acquisition (pg-pool's `verify`). */
  verify?: (client: pg.PoolClient, done: (error?: Error) => void) => void;
  /** pg-pool's debug log (`log`). */
  log?: (...messages: unknown[]) => void;
}

export const PG_POOL_OPTION_NAMES = ['maxUses', 'maxLifetimeSeconds', 'allowExitOnIdle', 'onConnect', 'verify', 'log'] as const;

/** pg and pg-pool names that the manager configures under a name of its own. */
const RENAMED: Readonly<Record<string, string>> = {
  max: 'maxConnections',
  poolSize: 'maxConnections',
  min: 'minConnections',
  idleTimeoutMillis: 'idleTimeoutMs',
  connectionTimeoutMillis: 'connectionTimeoutSeconds',
  statement_timeout: 'statementTimeoutMs',
  query_timeout: 'queryTimeoutMs',
  application_name: 'applicationName',
  connectionString: 'databaseUrl',
  host: 'databaseUrl',
  port: 'databaseUrl',
  user: 'databaseUrl',
  password: 'databaseUrl',
  database: 'databaseUrl',
  ssl: 'databaseUrl (sslmode)',
};

/** pg options the manager has no setting for: an app that needs one builds the pool itself. */
const ONLY_ON_OWN_POOL = [
  'Client',
  'Promise',
  'stream',
  'binary',
  'types',
  'keepAlive',
  'keepAliveInitialDelayMillis',
  'lock_timeout',
  'idle_in_transaction_session_timeout',
  'options',
  'pipelining',
];

function check(field: string, ok: boolean, expected: string): void {
  if (!ok) throw new ConfigError(field, `must be ${expected}`);
}

/**
 * The pg-pool options among create()'s, checked; ConfigError for a pg name the manager spells its own
 * way, for a pg option it cannot pass on, and for any of these when no pool is built (`builds` false:
 * the app's own pool keeps its own options).
 */
export function pgPoolOptionsOf(options: Readonly<Record<string, unknown>>, builds: boolean): PgPoolOptions {
  for (const [name, use] of Object.entries(RENAMED)) {
    if (options[name] !== undefined) throw new ConfigError(name, `is pg's name; give ${use} instead`);
  }
  for (const name of ONLY_ON_OWN_POOL) {
    if (options[name] !== undefined) {
      throw new ConfigError(name, 'is not an option of create(): build a pg.Pool with it and pass it as pool');
    }
  }
  const given: Record<string, unknown> = {};
  for (const name of PG_POOL_OPTION_NAMES) if (options[name] !== undefined) given[name] = options[name];
  const first = Object.keys(given)[0];
  if (first !== undefined && !builds) {
    throw new ConfigError(first, 'has no effect on a pool the app built (pool): set it on that pg.Pool instead');
  }
  const { maxUses, maxLifetimeSeconds, allowExitOnIdle, onConnect, verify, log } = given;
  if (maxUses !== undefined) check('maxUses', Number.isInteger(maxUses) && (maxUses as number) >= 1, 'a whole number of at least 1');
  if (maxLifetimeSeconds !== undefined) {
    check('maxLifetimeSeconds', typeof maxLifetimeSeconds === 'number' && Number.isFinite(maxLifetimeSeconds) && maxLifetimeSeconds >= 0, 'a number of seconds, 0 or more');
  }
  if (allowExitOnIdle !== undefined) check('allowExitOnIdle', typeof allowExitOnIdle === 'boolean', 'true or false');
  for (const [name, value] of [['onConnect', onConnect], ['verify', verify], ['log', log]] as const) {
    if (value !== undefined) check(name, typeof value === 'function', 'a function');
  }
  return given as PgPoolOptions;
}
