// Schema initialization at start-up: the app's pending migrations, applied under its schemaInit policy.
import type { ManagerConfig } from '../config.js';
import { withServerNamed } from '../database-url.js';
import type { MigrationTimeouts } from '../migrations/options.js';
import { runMigrations } from '../migrations/runner.js';
import type { Logger } from '../tracker.js';
import type { SchemaStatus } from './reports.js';

/**
 * Applies the app's pending migrations when it named a folder: the schema is the app's, so without
 * one nothing is applied. Under 'log' a failure is logged and kept for health reporting while the
 * manager starts; under 'strict' it is thrown.
 */
export async function initializeSchema(config: ManagerConfig, timeouts: MigrationTimeouts, logger: Logger): Promise<SchemaStatus> {
  const dir = config.migrationsDir;
  if (config.schemaInit === 'off' || dir === undefined) return { state: 'skipped', applied: [] };
  try {
    const result = await runMigrations(config.migrations, {
      dir,
      applicationName: `${config.applicationName}-migrate`,
      logger,
      ...timeouts,
    });
    return { state: 'applied', applied: result.applied };
  } catch (error) {
    if (config.schemaInit === 'strict') throw withServerNamed(error, config.migrations);
    const { message, file, sqlstate } = error as { message?: string; file?: string; sqlstate?: string };
    logger.warn(`otel-pg-manager: schema initialization failed; starting anyway (schemaInit 'log'): ${message ?? String(error)}`);
    return { state: 'failed', applied: [], error: { message: message ?? String(error), file, sqlstate } };
  }
}
