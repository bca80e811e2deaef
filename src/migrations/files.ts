// Reads a migrations folder: its NNN_name.sql files in numeric order, each with its sha256 checksum.
import { createHash } from 'node:crypto';
import type { Dirent } from 'node:fs';
import { readdir, readFile, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { MigrationError } from '../errors.js';

export interface MigrationFile {
  /** The number before the first underscore; files apply in this order. */
  readonly version: number;
  /** The file name, e.g. `001_initial_schema.sql`; recorded as `name` in schema_migrations. */
  readonly name: string;
  /** sha256 (hex) of the content with line endings normalized to LF. */
  readonly checksum: string;
  readonly sql: string;
}

const FILE_NAME = /^(\d+)_[^/\\]+\.sql$/i;
// The history table's version column is an integer.
const MAX_VERSION = 2 ** 31 - 1;

/**
 * The text that is sent and checksummed. A byte-order mark would be a syntax error, and a checkout
 * with CRLF line endings (git autocrlf) must not look like an edited file, so both are normalized.
 */
function normalize(raw: string): string {
  return raw.replace(/^\uFEFF/, '').replace(/\r\n/g, '\n');
}

export function checksumOf(sql: string): string {
  return createHash('sha256').update(sql, 'utf8').digest('hex');
}

/**
 * Symbolic links are followed: in a Kubernetes ConfigMap mount every file is a link into ..data.
 * A `.sql` entry that does not lead to a regular file (a dangling link, a folder) is refused, not
 * skipped: a skipped migration lets later files apply first, after which it is refused forever as
 * older than the newest applied one.
 */
async function assertRegularFile(folder: string, entry: Dirent): Promise<void> {
  if (entry.isFile()) return;
  const target = await stat(join(folder, entry.name)).catch((error: unknown) => {
    const missing = (error as { code?: string }).code === 'ENOENT';
    throw new MigrationError(
      { file: entry.name },
      missing
        ? `is a symbolic link to a file that does not exist; restore its target or remove the link from ${folder}.`
        : `cannot be read (${(error as { code?: string }).code ?? String(error)}); fix its permissions or remove it from ${folder}.`,
      error,
    );
  });
  if (!target.isFile()) {
    throw new MigrationError({ file: entry.name }, `is not a regular file (nor a link to one); remove it from ${folder} or rename it so it does not end in .sql.`);
  }
}

/**
 * Every `.sql` file of `dir`, sorted by version. Other files (a README) are ignored; a `.sql` file
 * that is not named NNN_name.sql, or two files with the same version, are refused rather than
 * guessed at, since either would make the order of the schema's history ambiguous.
 */
export async function readMigrationFiles(dir: string): Promise<MigrationFile[]> {
  const folder = resolve(dir);
  const entries = await readdir(folder, { withFileTypes: true }).catch((error: unknown) => {
    const reason = (error as { code?: string }).code === 'ENOENT' ? 'does not exist' : 'cannot be read';
    throw new MigrationError({}, `the migrations folder ${folder} ${reason}.`, error);
  });
  const files: MigrationFile[] = [];
  const byVersion = new Map<number, string>();
  for (const entry of entries) {
    if (!entry.name.toLowerCase().endsWith('.sql')) continue;
    const match = FILE_NAME.exec(entry.name);
    const version = match ? Number(match[1]) : NaN;
    if (Number.isNaN(version) || version > MAX_VERSION) {
      throw new MigrationError(
        { file: entry.name },
        `is not named NNN_name.sql with a version up to ${MAX_VERSION}; rename it or move it out of ${folder}.`,
      );
    }
    const previous = byVersion.get(version);
    if (previous !== undefined) {
      throw new MigrationError({ file: entry.name }, `has the same version (${version}) as ${previous}; give one of them a new number.`);
    }
    byVersion.set(version, entry.name);
    await assertRegularFile(folder, entry);
    const sql = normalize(await readFile(join(folder, entry.name), 'utf8'));
    files.push({ version, name: entry.name, checksum: checksumOf(sql), sql });
  }
  return files.sort((a, b) => a.version - b.version);
}
