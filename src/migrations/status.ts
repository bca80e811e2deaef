// Which migrations a database has applied and which are pending, read without locking or changing anything.
import type { DatabaseTarget } from '../database-url.js';
import type { MigrationError } from '../errors.js';
import { openMigrationClient } from './connection.js';
import { readMigrationFiles } from './files.js';
import { historyExists, locateHistory, readHistory, type AppliedRecord } from './history.js';
import { migrationSettings, type MigrationOptions } from './options.js';
import { planMigrations } from './plan.js';

export interface AppliedMigration extends AppliedRecord {
  /** 'changed': the file on disk has another checksum; 'missing': no file has this version. */
  readonly state: 'ok' | 'changed' | 'missing';
}

export interface PendingMigration {
  readonly version: number;
  readonly name: string;
  readonly checksum: string;
}

export interface MigrationStatus {
  /** The migrations folder that was compared. */
  readonly dir: string;
  readonly applied: AppliedMigration[];
  readonly pending: PendingMigration[];
  /** Everything that would make runMigrations refuse to run (empty when it would run). */
  readonly problems: MigrationError[];
}

export type MigrationStatusOptions = Pick<MigrationOptions, 'dir' | 'applicationName' | 'logger' | 'connectTimeoutMs'>;

export async function getMigrationStatus(target: DatabaseTarget, options: MigrationStatusOptions): Promise<MigrationStatus> {
  const settings = migrationSettings(options);
  const files = await readMigrationFiles(settings.dir);
  const client = await openMigrationClient(target, settings);
  try {
    const table = await locateHistory(client);
    const history = (await historyExists(client, table)) ? await readHistory(client, table) : [];
    const plan = planMigrations(files, history, settings.dir);
    const checksums = new Map(files.map((file) => [file.version, file.checksum]));
    return {
      dir: settings.dir,
      applied: history.map((record) => {
        const onDisk = checksums.get(record.version);
        const state = onDisk === undefined ? 'missing' : onDisk === record.checksum ? 'ok' : 'changed';
        return { ...record, state };
      }),
      pending: plan.pending.map(({ version, name, checksum }) => ({ version, name, checksum })),
      problems: plan.problems,
    };
  } finally {
    await client.end().catch(() => undefined);
  }
}
