// Compares the files on disk with the recorded history: what is pending, and what disagrees.
import { MigrationError } from '../errors.js';
import type { MigrationFile } from './files.js';
import type { AppliedRecord } from './history.js';

export interface MigrationPlan {
  /** Files not yet applied, in the order they would run. */
  readonly pending: MigrationFile[];
  /** Each disagreement between folder and database; nothing is applied while there is one. */
  readonly problems: MigrationError[];
}

/**
 * A file is identified by its version; its checksum guards its content (a rename that keeps both is
 * harmless). Refused: an applied file whose content changed, an applied version with no file (the
 * database is ahead of this code, or a file was deleted), and a pending file older than the newest
 * applied one (it would run out of order, after migrations that were written without it).
 */
export function planMigrations(files: readonly MigrationFile[], history: readonly AppliedRecord[], dir: string): MigrationPlan {
  const onDisk = new Map(files.map((file) => [file.version, file]));
  const problems: MigrationError[] = [];
  for (const record of history) {
    const file = onDisk.get(record.version);
    if (!file) {
      problems.push(
        new MigrationError(
          { file: record.name },
          `is recorded as applied (version ${record.version}, ${record.appliedAt.toISOString()}) but is not in ${dir}. ` +
            'The database is ahead of this code: deploy the code that has this file, or restore it.',
        ),
      );
    } else if (file.checksum !== record.checksum) {
      problems.push(
        new MigrationError(
          { file: file.name },
          `was changed after it was applied (checksum mismatch: sha256 ${file.checksum} on disk, ${record.checksum} applied). ` +
            'Restore the applied content and put the change in a new migration file.',
        ),
      );
    }
  }
  const applied = new Set(history.map((record) => record.version));
  const newest = history.reduce((max, record) => Math.max(max, record.version), -1);
  const pending = files.filter((file) => !applied.has(file.version));
  for (const file of pending) {
    if (file.version < newest) {
      problems.push(
        new MigrationError(
          { file: file.name },
          `is not applied but is older than the newest applied version (${newest}), so it would run out of order. ` +
            `Renumber it above ${newest}.`,
        ),
      );
    }
  }
  return { pending, problems };
}
