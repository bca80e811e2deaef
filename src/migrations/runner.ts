// Applies migrations/NNN_name.sql files exactly once across concurrent instances. (Being built: issue 3.)
import type { DatabaseTarget } from '../config.js';
import type { Logger } from '../telemetry/tracker.js';

export interface MigrationOptions {
  /** Folder of NNN_name.sql files; defaults to the package's own migrations/. */
  dir?: string;
  applicationName?: string;
  logger?: Logger;
}

export interface MigrationResult {
  applied: string[];
}

export async function runMigrations(_target: DatabaseTarget, _options: MigrationOptions = {}): Promise<MigrationResult> {
  throw new Error('not implemented yet');
}
