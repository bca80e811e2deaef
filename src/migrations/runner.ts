// Applies migrations/NNN_name.sql files exactly once across concurrent instances.
import type pg from 'pg';
import type { DatabaseTarget } from '../config.js';
import { MigrationError } from '../errors.js';
import { sqlstateOf } from '../sqlstate.js';
import { openMigrationClient } from './connection.js';
import { readMigrationFiles, type MigrationFile } from './files.js';
import { createHistory, historyExists, locateHistory, readHistory, recordApplied, type HistoryTable } from './history.js';
import { acquireMigrationLock, migrationLockKey, releaseMigrationLock } from './lock.js';
import { migrationSettings, whereToSet, type MigrationOptions, type MigrationSettings } from './options.js';
import { planMigrations } from './plan.js';
import { findTransactionControl } from './transaction-control.js';

export type { MigrationOptions } from './options.js';

export interface MigrationResult {
  /** Files applied by this run, in order (empty when everything was applied already). */
  applied: string[];
}

/**
 * Applies every pending file of the migrations folder, each in one transaction together with its
 * schema_migrations row. Concurrent runners against one database wait for each other on a session
 * advisory lock (up to `lockWaitTimeoutMs`) and then find nothing left to do. A run with nothing
 * pending takes no lock and executes no DDL. Throws MigrationError for a failing file (rolled back),
 * a changed or missing applied file, or a lock that could not be had in time.
 */
export async function runMigrations(target: DatabaseTarget, options: MigrationOptions): Promise<MigrationResult> {
  const settings = migrationSettings(options);
  const files = await readMigrationFiles(settings.dir);
  const client = await openMigrationClient(target, settings);
  let lockedKey: bigint | undefined;
  try {
    const table = await locateHistory(client);
    // Reading without the lock is safe (each file commits with its row), and spares every restart
    // of every instance a turn at the lock when the schema is already current.
    if (await historyExists(client, table)) {
      const plan = planMigrations(files, await readHistory(client, table), settings.dir);
      if (plan.problems[0]) throw plan.problems[0];
      if (plan.pending.length === 0) return { applied: [] };
    }
    const key = migrationLockKey(table.schema);
    await acquireMigrationLock(client, key, { waitTimeoutMs: settings.lockWaitTimeoutMs, logger: settings.logger });
    lockedKey = key;
    // Whoever held the lock before may have applied some or all of it: decide again, under the lock.
    if (!(await historyExists(client, table))) await createHistory(client, table);
    const plan = planMigrations(files, await readHistory(client, table), settings.dir);
    if (plan.problems[0]) throw plan.problems[0];
    await refuseTransactionControl(plan.pending);
    const applied: string[] = [];
    for (const file of plan.pending) {
      const executionMs = await applyFile(client, table, file, settings);
      settings.logger.info?.(`otel-pg-manager: applied migration ${file.name} in ${executionMs} ms`);
      applied.push(file.name);
    }
    return { applied };
  } finally {
    if (lockedKey !== undefined) {
      // Ending the session would release it too; unlocking first lets the next waiter in without waiting for the close.
      await releaseMigrationLock(client, lockedKey).catch((error: unknown) => {
        settings.logger.warn(`otel-pg-manager: could not release the migration lock (${String(error)}); closing its session releases it`);
      });
    }
    await client.end().catch(() => undefined);
  }
}

/** Checked for every pending file before the first one runs, so a refusal applies nothing at all. */
async function refuseTransactionControl(pending: readonly MigrationFile[]): Promise<void> {
  for (const file of pending) {
    const control = await findTransactionControl(file.sql);
    if (control) {
      throw new MigrationError(
        { file: file.name, position: control.position },
        `contains ${control.statement} (${lineAndColumn(file.sql, control.position)}); the runner already wraps each file ` +
          'in one transaction with its history row. Remove the transaction control statements. Nothing was applied.',
      );
    }
  }
}

async function applyFile(client: pg.Client, table: HistoryTable, file: MigrationFile, settings: MigrationSettings): Promise<number> {
  const startedAt = performance.now();
  let runningFile = false;
  try {
    await client.query('BEGIN');
    runningFile = true;
    // Without parameters pg uses the simple query protocol, which runs a whole multi-statement file.
    await client.query(file.sql);
    runningFile = false;
    const executionMs = Math.round(performance.now() - startedAt);
    await recordApplied(client, table, file, executionMs);
    await client.query('COMMIT');
    return executionMs;
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw failureOf(file, error, settings, runningFile);
  }
}

/** `inFile`: the error came from the file's own statements, so its position points into the file. */
function failureOf(file: MigrationFile, error: unknown, settings: MigrationSettings, inFile: boolean): MigrationError {
  const sqlstate = sqlstateOf(error);
  const message = error instanceof Error ? error.message : String(error);
  if (!sqlstate) {
    // No answer from the server: if the connection broke during COMMIT, the file may have been applied.
    return new MigrationError(
      { file: file.name },
      `could not be completed: ${message}. If this happened during COMMIT the file may have been applied; check with "otel-pg-manager status".`,
      error,
    );
  }
  const rawPosition = Number((error as { position?: unknown }).position);
  const position = inFile && Number.isInteger(rawPosition) && rawPosition > 0 ? rawPosition : undefined;
  const where = position === undefined ? '' : ` (${lineAndColumn(file.sql, position)})`;
  const hint = (error as { hint?: unknown }).hint;
  return new MigrationError(
    { file: file.name, sqlstate, position },
    `failed and was rolled back, so nothing of it remains: ${message}${where}.` +
      (typeof hint === 'string' ? ` Hint: ${hint}` : '') +
      advice(sqlstate, settings),
    error,
  );
}

function advice(sqlstate: string, settings: MigrationSettings): string {
  switch (sqlstate) {
    case '55P03':
      return (
        ` A table lock was not granted within lock_timeout (${settings.lockTimeoutMs} ms), usually because the running service holds it; ` +
        `retry when traffic is lower or raise ${whereToSet('lockTimeoutMs')}.`
      );
    case '57014':
      // The pools' DB_STATEMENT_TIMEOUT_MS is the setting users reach for, and it does not apply here.
      return (
        ` A statement ran longer than the migration statement_timeout (${settings.statementTimeoutMs} ms); if that is expected, ` +
        `raise ${whereToSet('statementTimeoutMs')} (DB_STATEMENT_TIMEOUT_MS applies to the pools, not to migrations).`
      );
    case '25001':
      return ' Statements that cannot run inside a transaction block (CREATE INDEX CONCURRENTLY, VACUUM, ...) are not supported in migration files.';
    default:
      return '';
  }
}

function lineAndColumn(sql: string, position: number): string {
  const before = sql.slice(0, position - 1).split('\n');
  return `line ${before.length}, column ${(before.at(-1)?.length ?? 0) + 1}`;
}
