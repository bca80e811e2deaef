// The schema_migrations table: which files a database has applied, with what content, when and how fast.
import type pg from 'pg';
import { MigrationError } from '../errors.js';
import type { MigrationFile } from './files.js';

export interface HistoryTable {
  /** The schema that holds the history (the first existing schema of the search_path). */
  readonly schema: string;
  /** Quoted and schema-qualified, so another schema's schema_migrations is never read by mistake. */
  readonly qualifiedName: string;
}

export interface AppliedRecord {
  readonly version: number;
  readonly name: string;
  readonly checksum: string;
  readonly appliedAt: Date;
  readonly executionMs: number;
}

export async function locateHistory(client: pg.Client): Promise<HistoryTable> {
  const { rows } = await client.query<{ schema: string | null }>('SELECT current_schema() AS schema');
  const schema = rows[0]?.schema;
  if (!schema) {
    throw new MigrationError({}, 'no schema on the search_path exists, so there is nowhere to keep schema_migrations; create the schema or fix search_path.');
  }
  return { schema, qualifiedName: `${client.escapeIdentifier(schema)}.schema_migrations` };
}

/**
 * Checked before any CREATE: even CREATE TABLE IF NOT EXISTS is DDL (it fires event triggers and
 * takes catalog locks), and a run with nothing to do must execute none.
 */
export async function historyExists(client: pg.Client, table: HistoryTable): Promise<boolean> {
  const { rows } = await client.query<{ present: boolean }>('SELECT to_regclass($1) IS NOT NULL AS present', [table.qualifiedName]);
  return rows[0]?.present === true;
}

export async function createHistory(client: pg.Client, table: HistoryTable): Promise<void> {
  await client.query(`
    CREATE TABLE ${table.qualifiedName} (
      version      integer     NOT NULL PRIMARY KEY,
      name         text        NOT NULL,
      checksum     text        NOT NULL CHECK (checksum ~ '^[0-9a-f]{64}$'),
      applied_at   timestamptz NOT NULL DEFAULT now(),
      execution_ms integer     NOT NULL CHECK (execution_ms >= 0)
    );
    COMMENT ON TABLE ${table.qualifiedName} IS
      'Migrations applied by otel-pg-manager: one row per file, written in the same transaction as the file.'`);
}

interface HistoryRow {
  version: number;
  name: string;
  checksum: string;
  applied_at: Date;
  execution_ms: number;
}

export async function readHistory(client: pg.Client, table: HistoryTable): Promise<AppliedRecord[]> {
  try {
    const { rows } = await client.query<HistoryRow>(
      `SELECT version, name, checksum, applied_at, execution_ms FROM ${table.qualifiedName} ORDER BY version`,
    );
    return rows.map((row) => ({
      version: row.version,
      name: row.name,
      checksum: row.checksum,
      appliedAt: row.applied_at,
      executionMs: row.execution_ms,
    }));
  } catch (error) {
    // Rails and golang-migrate use the same table name with other columns.
    if ((error as { code?: string }).code === '42703') {
      throw new MigrationError(
        {},
        `${table.qualifiedName} exists but was not created by otel-pg-manager (it lacks the expected columns); ` +
          'another migration tool seems to use this database schema. Use a separate schema (search_path) for one of them.',
        error,
      );
    }
    throw error;
  }
}

/** Runs inside the file's own transaction, so the row exists exactly when the file's changes do. */
export async function recordApplied(client: pg.Client, table: HistoryTable, file: MigrationFile, executionMs: number): Promise<void> {
  await client.query(`INSERT INTO ${table.qualifiedName} (version, name, checksum, execution_ms) VALUES ($1, $2, $3, $4)`, [
    file.version,
    file.name,
    file.checksum,
    executionMs,
  ]);
}
