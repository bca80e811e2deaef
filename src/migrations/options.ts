// Options of the migration runner and the status reader, with their defaults.
import type { Logger } from '../telemetry/tracker.js';
import { defaultMigrationsDir } from './files.js';

export interface MigrationOptions {
  /** Folder of NNN_name.sql files; defaults to the package's own migrations/. */
  dir?: string;
  /** application_name of the migration connection, so it can be found in pg_stat_activity (otel-pg-manager-migrate). */
  applicationName?: string;
  /** Where progress and warnings go (nowhere by default). Messages never contain passwords. */
  logger?: Logger;
  /** How long to wait for another instance that is applying migrations, in ms (60000). */
  lockWaitTimeoutMs?: number;
  /** Server-side lock_timeout of the migration session, in ms (10000); 0 = none. */
  lockTimeoutMs?: number;
  /** Server-side statement_timeout of the migration session, in ms (300000); 0 = none. */
  statementTimeoutMs?: number;
  /** How long opening the migration connection may take, in ms (10000). */
  connectTimeoutMs?: number;
}

export type MigrationSettings = Required<MigrationOptions>;

const silent: Logger = { warn: () => undefined };

export function migrationSettings(options: MigrationOptions): MigrationSettings {
  return {
    dir: options.dir ?? defaultMigrationsDir,
    applicationName: options.applicationName ?? 'otel-pg-manager-migrate',
    logger: options.logger ?? silent,
    lockWaitTimeoutMs: options.lockWaitTimeoutMs ?? 60_000,
    lockTimeoutMs: options.lockTimeoutMs ?? 10_000,
    statementTimeoutMs: options.statementTimeoutMs ?? 300_000,
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
  };
}
