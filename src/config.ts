// Options and environment -> one validated, frozen configuration. Invalid input throws ConfigError.
import { checkOptionKeys } from './config-keys.js';
import { parseDatabaseUrl, type DatabaseTarget } from './database-url.js';
import { ConfigError } from './errors.js';

export type SchemaInitPolicy = 'log' | 'strict' | 'off';
/** What sits between the pools and PostgreSQL: nothing, or a pooler (PgBouncer) in session or transaction mode. */
export type PoolerMode = 'none' | 'session' | 'transaction';
export type SqlNormalizer = 'scanner' | 'libpg-query';

export interface RetryOptions {
  /** Retries after the first attempt (so 3 means up to 4 attempts). */
  maxRetries?: number;
  baseDelayMs?: number;
  maxDelayMs?: number;
}

export interface ManagerOptions {
  /** Primary database URL; else DATABASE_URL. Required. */
  databaseUrl?: string;
  /** Read replica URL; else READ_REPLICA_URL. Optional. */
  readReplicaUrl?: string;
  /** Connections kept open per pool; else DB_MIN_CONNECTIONS (2, or maxConnections when that is lower). */
  minConnections?: number;
  /** Upper bound of connections per pool; else DB_MAX_CONNECTIONS (20). */
  maxConnections?: number;
  /** Attach the in-process monitor and the OpenTelemetry tracker; else MONITORING_ENABLED (true). */
  monitoringEnabled?: boolean;
  /** A query at or above this duration is slow; else SLOW_QUERY_THRESHOLD_MS (1000). */
  slowQueryThresholdMs?: number;
  /** Default acquisition timeout in seconds; else CONNECTION_TIMEOUT_SECONDS (30). */
  connectionTimeoutSeconds?: number;
  /** Server-side statement_timeout in ms, 0 = none; else DB_STATEMENT_TIMEOUT_MS (0). */
  statementTimeoutMs?: number;
  /**
   * Client-side deadline for one query in ms, 0 = none; else DB_QUERY_TIMEOUT_MS. Defaults to
   * statementTimeoutMs + 1000 when a statement timeout is set, so the server's 57014 normally
   * arrives first and this only fires when the network or the server is gone.
   */
  queryTimeoutMs?: number;
  /** Idle connections above the minimum close after this many ms (10000). */
  idleTimeoutMs?: number;
  /** A lease held longer than this is reported as a leak, with the borrower's stack; 0 = off; else DB_LEAK_DETECTION_THRESHOLD_MS (300000). */
  leakDetectionThresholdMs?: number;
  /** application_name sent to the server (otel-pg-manager). */
  applicationName?: string;
  poolNames?: { primary?: string; replica?: string };
  retry?: RetryOptions;
  /** What a failing migration does at start-up, when there is a migrationsDir; else DB_SCHEMA_INIT ('strict'). */
  schemaInit?: SchemaInitPolicy;
  /**
   * Where migrations connect, when not through databaseUrl (a direct URL past a pooler, or a role that owns the
   * schema); else DB_MIGRATIONS_URL. Defaults to the primary.
   */
  migrationsUrl?: string;
  /**
   * A pooler between the pools and PostgreSQL (PgBouncer, or one that speaks like it): 'session' or 'transaction'
   * changes how statementTimeoutMs reaches the server (no startup parameters, which PgBouncer refuses) and, in
   * transaction mode, warns once about what that mode breaks; else DB_POOLER_MODE ('none').
   */
  poolerMode?: PoolerMode;
  /** Read PgBouncer's admin console (SHOW POOLS, SHOW STATS) into the metrics and the health report. */
  pgbouncer?: PgBouncerOptions;
  /** The app's folder of NNN_name.sql files, applied at start-up; else DB_MIGRATIONS_DIR. None: nothing is applied. */
  migrationsDir?: string;
  /**
   * How telemetry replaces literals: 'scanner' (default; about 3 µs per new query text) or
   * 'libpg-query' (PostgreSQL's own parser first; about 7 µs per new text). Process-wide.
   */
  sqlNormalizer?: SqlNormalizer;
  /** Where environment variables are read from (process.env). */
  env?: Readonly<Record<string, string | undefined>>;
}

export interface PgBouncerOptions {
  /** The admin console: postgresql://user@pgbouncer:6432/pgbouncer, a user of admin_users or stats_users; else PGBOUNCER_ADMIN_URL. */
  adminUrl?: string;
  /** How often the console is read, in ms (5000). */
  intervalMs?: number;
}

export interface ManagerConfig {
  readonly primary: DatabaseTarget;
  readonly replica: DatabaseTarget | undefined;
  readonly minConnections: number;
  readonly maxConnections: number;
  readonly monitoringEnabled: boolean;
  readonly slowQueryThresholdMs: number;
  readonly connectionTimeoutMs: number;
  readonly statementTimeoutMs: number;
  readonly queryTimeoutMs: number;
  readonly idleTimeoutMs: number;
  readonly leakDetectionThresholdMs: number;
  readonly applicationName: string;
  readonly poolNames: { readonly primary: string; readonly replica: string };
  readonly retry: Required<RetryOptions>;
  readonly schemaInit: SchemaInitPolicy;
  readonly migrationsDir: string | undefined;
  /** Where migrations connect: migrationsUrl, else the primary. */
  readonly migrations: DatabaseTarget;
  readonly poolerMode: PoolerMode;
  /** The PgBouncer admin console to read, when one was given. */
  readonly pgbouncer: { readonly admin: DatabaseTarget; readonly intervalMs: number } | undefined;
  readonly sqlNormalizer: SqlNormalizer;
}

type Raw = { value: unknown; field: string } | undefined;

/** Connections opened at start and kept per pool when DB_MIN_CONNECTIONS is not set (at most the maximum). */
const DEFAULT_MIN_CONNECTIONS = 2;

/** Option first, then the environment variable; the field name is whichever supplied the value. */
function pick(option: unknown, optionName: string, env: ManagerOptions['env'], envName: string | undefined): Raw {
  if (option !== undefined) return { value: option, field: optionName };
  if (!envName) return undefined;
  const fromEnv = env?.[envName];
  if (fromEnv !== undefined && fromEnv.trim() !== '') return { value: fromEnv.trim(), field: envName };
  return undefined;
}

function describe(value: unknown): string {
  return typeof value === 'string' ? `"${value.slice(0, 40)}"` : String(value);
}

/**
 * The longest delay a Node timer can hold (2^31 - 1 ms, about 24.8 days): Node fires a longer one after
 * 1 ms instead, and PostgreSQL refuses a longer statement_timeout at connect. Durations are capped here.
 */
export const MAX_TIMER_MS = 2_147_483_647;

function toNumber(raw: Raw, fallback: number, rules: { integer?: boolean; min?: number; max?: number; positive?: boolean }): number {
  if (!raw) return fallback;
  const { value, field } = raw;
  let n: number;
  if (typeof value === 'number') n = value;
  else if (typeof value === 'string' && /^[+-]?(\d+\.?\d*|\.\d+)$/.test(value)) n = Number(value);
  else throw new ConfigError(field, `must be a number, got ${describe(value)}`);
  if (!Number.isFinite(n)) throw new ConfigError(field, `must be a finite number, got ${describe(value)}`);
  if (n < 0) throw new ConfigError(field, `must not be negative, got ${n}`);
  if (rules.integer && !Number.isInteger(n)) throw new ConfigError(field, `must be a whole number, got ${n}`);
  if (rules.positive && n === 0) throw new ConfigError(field, 'must be greater than 0');
  if (rules.min !== undefined && n < rules.min) throw new ConfigError(field, `must be at least ${rules.min}, got ${n}`);
  if (rules.max !== undefined && n > rules.max) throw new ConfigError(field, `must be at most ${rules.max}, got ${n}`);
  return n;
}

/** Seconds to whole milliseconds, at least 1: a value that rounds to 0 ms would mean "no time at all". */
function toMilliseconds(raw: Raw, fallbackSeconds: number): number {
  const ms = Math.round(toNumber(raw, fallbackSeconds, { positive: true, max: MAX_TIMER_MS / 1000 }) * 1000);
  if (ms < 1) throw new ConfigError(raw?.field ?? '', 'must be at least 0.001 (1 ms)');
  return ms;
}

const TRUE_WORDS = new Set(['true', '1', 'yes', 'on']);
const FALSE_WORDS = new Set(['false', '0', 'no', 'off']);

function toBoolean(raw: Raw, fallback: boolean): boolean {
  if (!raw) return fallback;
  const { value, field } = raw;
  if (typeof value === 'boolean') return value;
  if (typeof value === 'string') {
    const word = value.toLowerCase();
    if (TRUE_WORDS.has(word)) return true;
    if (FALSE_WORDS.has(word)) return false;
  }
  throw new ConfigError(field, `must be one of true/false/1/0/yes/no/on/off, got ${describe(value)}`);
}

function toChoice<T extends string>(raw: Raw, fallback: T, choices: readonly T[]): T {
  if (!raw) return fallback;
  if (typeof raw.value === 'string' && (choices as readonly string[]).includes(raw.value)) return raw.value as T;
  throw new ConfigError(raw.field, `must be one of ${choices.join(', ')}, got ${describe(raw.value)}`);
}

function toName(raw: Raw, fallback: string): string {
  if (!raw) return fallback;
  if (typeof raw.value === 'string' && raw.value.trim() !== '') return raw.value.trim();
  throw new ConfigError(raw.field, 'must be a non-empty string');
}

function optionalName(raw: Raw): string | undefined {
  return raw ? toName(raw, '') : undefined;
}

/** Pools an app built itself (`create({ pool, readPool })`), described by what they reach. */
export interface AdoptedTargets {
  primary?: DatabaseTarget | undefined;
  replica?: DatabaseTarget | undefined;
}

// Options that only shape a pool the manager builds; an adopted pool keeps its own settings.
const BUILD_OPTIONS = ['minConnections', 'maxConnections', 'statementTimeoutMs', 'queryTimeoutMs', 'idleTimeoutMs', 'applicationName'] as const;

function checkAdopted(options: ManagerOptions, adopted: AdoptedTargets): void {
  if (adopted.primary && options.databaseUrl !== undefined) {
    throw new ConfigError('databaseUrl', 'cannot be given with pool: the pool\'s own settings say where it connects');
  }
  if (adopted.replica && options.readReplicaUrl !== undefined) {
    throw new ConfigError('readReplicaUrl', 'cannot be given with readPool: the pool\'s own settings say where it connects');
  }
  const builtNone = adopted.primary !== undefined && (adopted.replica !== undefined || options.readReplicaUrl === undefined);
  const unused = builtNone ? BUILD_OPTIONS.find((name) => options[name] !== undefined) : undefined;
  if (unused) throw new ConfigError(unused, 'has no effect on a pool the app built (pool): set it on that pg.Pool instead');
}

export function resolveConfig(options: ManagerOptions = {}, adopted: AdoptedTargets = {}): ManagerConfig {
  checkOptionKeys(options);
  const env = options.env ?? process.env;
  checkAdopted(options, adopted);
  // With an app's own pool, DATABASE_URL in the environment is not this manager's to read.
  const primaryRaw = adopted.primary ? undefined : pick(options.databaseUrl, 'databaseUrl', env, 'DATABASE_URL');
  const primary = adopted.primary ?? parseDatabaseUrl(primaryRaw?.value, primaryRaw?.field ?? 'DATABASE_URL');
  const replicaRaw = pick(options.readReplicaUrl, 'readReplicaUrl', env, adopted.primary || adopted.replica ? undefined : 'READ_REPLICA_URL');
  const replica = adopted.replica ?? (replicaRaw ? parseDatabaseUrl(replicaRaw.value, replicaRaw.field) : undefined);

  const minRaw = pick(options.minConnections, 'minConnections', env, 'DB_MIN_CONNECTIONS');
  const maxRaw = pick(options.maxConnections, 'maxConnections', env, 'DB_MAX_CONNECTIONS');
  const maxConnections = toNumber(maxRaw, 20, { integer: true, min: 1 });
  // The default minimum follows a smaller maximum: DB_MAX_CONNECTIONS=1 alone means one connection, not an error
  // about a DB_MIN_CONNECTIONS nobody set.
  const minConnections = toNumber(minRaw, Math.min(DEFAULT_MIN_CONNECTIONS, maxConnections), { integer: true });
  if (minConnections > maxConnections) {
    throw new ConfigError(
      minRaw?.field ?? 'DB_MIN_CONNECTIONS',
      `must not exceed ${maxRaw?.field ?? 'DB_MAX_CONNECTIONS'} (${minConnections} > ${maxConnections})`,
    );
  }

  const statementTimeoutMs = toNumber(pick(options.statementTimeoutMs, 'statementTimeoutMs', env, 'DB_STATEMENT_TIMEOUT_MS'), 0, {
    integer: true,
    max: MAX_TIMER_MS,
  });
  const retry = options.retry ?? {};
  const poolNames = options.poolNames ?? {};
  const primaryName = toName(pick(poolNames.primary, 'poolNames.primary', env, undefined), 'primary');
  const replicaName = toName(pick(poolNames.replica, 'poolNames.replica', env, undefined), 'replica');
  if (replica && primaryName === replicaName) {
    throw new ConfigError('poolNames.replica', 'must differ from poolNames.primary: the two pools would share one set of metrics');
  }

  return Object.freeze({
    primary,
    replica,
    minConnections,
    maxConnections,
    monitoringEnabled: toBoolean(pick(options.monitoringEnabled, 'monitoringEnabled', env, 'MONITORING_ENABLED'), true),
    slowQueryThresholdMs: toNumber(pick(options.slowQueryThresholdMs, 'slowQueryThresholdMs', env, 'SLOW_QUERY_THRESHOLD_MS'), 1000, {}),
    connectionTimeoutMs: toMilliseconds(pick(options.connectionTimeoutSeconds, 'connectionTimeoutSeconds', env, 'CONNECTION_TIMEOUT_SECONDS'), 30),
    statementTimeoutMs,
    queryTimeoutMs: toNumber(
      pick(options.queryTimeoutMs, 'queryTimeoutMs', env, 'DB_QUERY_TIMEOUT_MS'),
      statementTimeoutMs > 0 ? Math.min(statementTimeoutMs + 1000, MAX_TIMER_MS) : 0,
      { integer: true, max: MAX_TIMER_MS },
    ),
    idleTimeoutMs: toNumber(pick(options.idleTimeoutMs, 'idleTimeoutMs', env, undefined), 10_000, { integer: true, max: MAX_TIMER_MS }),
    leakDetectionThresholdMs: toNumber(
      pick(options.leakDetectionThresholdMs, 'leakDetectionThresholdMs', env, 'DB_LEAK_DETECTION_THRESHOLD_MS'),
      300_000,
      { integer: true },
    ),
    applicationName: toName(pick(options.applicationName, 'applicationName', env, undefined), 'otel-pg-manager'),
    poolNames: Object.freeze({ primary: primaryName, replica: replicaName }),
    retry: Object.freeze({
      maxRetries: toNumber(pick(retry.maxRetries, 'retry.maxRetries', env, undefined), 3, { integer: true }),
      baseDelayMs: toNumber(pick(retry.baseDelayMs, 'retry.baseDelayMs', env, undefined), 100, { max: MAX_TIMER_MS }),
      maxDelayMs: toNumber(pick(retry.maxDelayMs, 'retry.maxDelayMs', env, undefined), 2000, { max: MAX_TIMER_MS }),
    }),
    // 'strict' since 0.2.0: a service whose named schema could not be applied does not start (README "Migrations").
    schemaInit: toChoice(pick(options.schemaInit, 'schemaInit', env, 'DB_SCHEMA_INIT'), 'strict', ['log', 'strict', 'off'] as const),
    migrations: migrationsTarget(options, env, primary),
    poolerMode: toChoice(pick(options.poolerMode, 'poolerMode', env, 'DB_POOLER_MODE'), 'none', ['none', 'session', 'transaction'] as const),
    pgbouncer: pgbouncerConsole(options, env),
    sqlNormalizer: toChoice(pick(options.sqlNormalizer, 'sqlNormalizer', env, undefined), 'scanner', ['scanner', 'libpg-query'] as const),
    migrationsDir: optionalName(pick(options.migrationsDir, 'migrationsDir', env, 'DB_MIGRATIONS_DIR')),
  });
}

/** migrationsUrl / DB_MIGRATIONS_URL, else the primary itself. */
function migrationsTarget(options: ManagerOptions, env: ManagerOptions['env'], primary: DatabaseTarget): DatabaseTarget {
  const raw = pick(options.migrationsUrl, 'migrationsUrl', env, 'DB_MIGRATIONS_URL');
  return raw ? parseDatabaseUrl(raw.value, raw.field) : primary;
}

/** pgbouncer.adminUrl / PGBOUNCER_ADMIN_URL and the read interval; undefined when no console was named. */
function pgbouncerConsole(options: ManagerOptions, env: ManagerOptions['env']): ManagerConfig['pgbouncer'] {
  const given = options.pgbouncer ?? {};
  const raw = pick(given.adminUrl, 'pgbouncer.adminUrl', env, 'PGBOUNCER_ADMIN_URL');
  if (!raw) {
    if (given.intervalMs !== undefined) throw new ConfigError('pgbouncer.adminUrl', 'is required when pgbouncer is given');
    return undefined;
  }
  const admin = parseDatabaseUrl(raw.value, raw.field);
  if (admin.database !== 'pgbouncer') throw new ConfigError(raw.field, `must name the admin console's database, pgbouncer (not ${describe(admin.database)})`);
  const intervalMs = toNumber(pick(given.intervalMs, 'pgbouncer.intervalMs', env, undefined), 5000, { integer: true, min: 100, max: MAX_TIMER_MS });
  return Object.freeze({ admin, intervalMs });
}
