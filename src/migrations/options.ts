// Options of the migration runner and the status reader: their defaults, validation, and where a user sets each timeout.
import { MAX_TIMER_MS } from '../config.js';
import { ConfigError } from '../errors.js';
import type { Logger } from '../tracker.js';

/** The timeouts a user of PostgresManager.create() sets as `migrations: { ... }`. */
export interface MigrationTimeouts {
  /**
   * How long to wait for another instance that is applying migrations, in ms; 0 = no limit.
   * Defaults to statementTimeoutMs + 60000 (no limit when statementTimeoutMs is 0).
   */
  lockWaitTimeoutMs?: number;
  /** Server-side lock_timeout of the migration session, in ms (10000); 0 = none. */
  lockTimeoutMs?: number;
  /** Server-side statement_timeout of the migration session, in ms (300000); 0 = none. */
  statementTimeoutMs?: number;
}

export interface MigrationOptions extends MigrationTimeouts {
  /** The app's folder of NNN_name.sql files. There is no default: the package ships no schema. */
  dir: string;
  /** application_name of the migration connection, so it can be found in pg_stat_activity (otel-pg-manager-migrate). */
  applicationName?: string;
  /** Where progress and warnings go (nowhere by default). Messages never contain passwords. */
  logger?: Logger;
  /** How long opening the migration connection may take, in ms (10000). */
  connectTimeoutMs?: number;
}

export type MigrationSettings = Required<MigrationOptions>;

export type MigrationTimeoutName = keyof MigrationTimeouts;

/** The otel-pg-manager migrate flag (without its leading --) that sets each timeout. */
export const MIGRATION_TIMEOUT_FLAGS: Readonly<Record<MigrationTimeoutName, string>> = {
  lockWaitTimeoutMs: 'lock-wait-timeout-ms',
  lockTimeoutMs: 'lock-timeout-ms',
  statementTimeoutMs: 'statement-timeout-ms',
};

export const MIGRATION_TIMEOUT_NAMES = Object.keys(MIGRATION_TIMEOUT_FLAGS) as readonly MigrationTimeoutName[];

/** For error advice: every place a user can set `name`, since the runner does not know which one its caller used. */
export function whereToSet(name: MigrationTimeoutName): string {
  return `migrations.${name} of PostgresManager.create(), --${MIGRATION_TIMEOUT_FLAGS[name]} of otel-pg-manager migrate, or ${name} of runMigrations()`;
}

/**
 * Throws ConfigError unless each given timeout is a whole number of ms from 0 to MAX_TIMER_MS
 * (PostgreSQL refuses a longer lock_timeout or statement_timeout). `fieldOf` names the field as its
 * caller spells it (`migrations.lockTimeoutMs`, `--lock-timeout-ms`). Other keys are the caller's to refuse.
 */
export function checkMigrationTimeouts(
  timeouts: { readonly [name in MigrationTimeoutName]?: unknown },
  fieldOf: (name: MigrationTimeoutName) => string = (name) => name,
): MigrationTimeouts {
  const checked: MigrationTimeouts = {};
  for (const name of MIGRATION_TIMEOUT_NAMES) {
    const value = timeouts[name];
    if (value === undefined) continue;
    if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_TIMER_MS) {
      throw new ConfigError(fieldOf(name), `must be a whole number of milliseconds from 0 to ${MAX_TIMER_MS}, got ${String(value).slice(0, 20)}`);
    }
    checked[name] = value;
  }
  return checked;
}

const DEFAULT_STATEMENT_TIMEOUT_MS = 300_000;
/**
 * Added to the statement timeout for the default lock wait: room for the holder to connect, wait on
 * lock_timeout and run its other, short statements around the one long statement it may be running.
 */
const LOCK_WAIT_MARGIN_MS = 60_000;

const silent: Logger = { warn: () => undefined };

/**
 * The lock wait defaults to no less than the statement timeout: a second instance starting while the
 * first runs a long migration must not give up before that migration could possibly have finished.
 * (A file of several long statements, or several pending files, can still outlast it: PostgreSQL
 * times each statement of a file separately. Covering that would mean no limit at all.)
 */
export function migrationSettings(options: MigrationOptions): MigrationSettings {
  const { lockWaitTimeoutMs, lockTimeoutMs, statementTimeoutMs: statement } = options;
  checkMigrationTimeouts({ lockWaitTimeoutMs, lockTimeoutMs, statementTimeoutMs: statement });
  const statementTimeoutMs = options.statementTimeoutMs ?? DEFAULT_STATEMENT_TIMEOUT_MS;
  return {
    dir: options.dir,
    applicationName: options.applicationName ?? 'otel-pg-manager-migrate',
    logger: options.logger ?? silent,
    lockWaitTimeoutMs: options.lockWaitTimeoutMs ?? (statementTimeoutMs === 0 ? 0 : statementTimeoutMs + LOCK_WAIT_MARGIN_MS),
    lockTimeoutMs: options.lockTimeoutMs ?? 10_000,
    statementTimeoutMs,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
  };
}
