// Applies migrations/NNN_name.sql files exactly once across concurrent instances.
import type pg from 'pg';
import type { DatabaseTarget } from '../database-url.js';
import { MigrationError } from '../errors.js';
import { sqlstateOf } from '../sqlstate.js';
import { openMigrationClient } from './connection.js';
import { readMigrationFiles, type MigrationFile } from './files.js';
import { createHistory, historyExists, locateHistory, readHistory, recordApplied, type HistoryTable } from './history.js';
import { beginLocked, migrationLockKey } from './lock.js';
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
 * schema_migrations row. That transaction takes a transaction-scoped advisory lock first and decides under
 * it which file is next, so concurrent runners against one database apply each file exactly once, in order,
 * whether they connect directly or through a pooler in session or transaction mode (a runner that waits for
 * the lock waits up to `lockWaitTimeoutMs`, holding no transaction). A run with nothing pending takes no lock
 * and executes no DDL. Throws MigrationError for a failing file (rolled back), a changed or missing applied
 * file, or a lock that could not be had in time.
 */
export async function runMigrations(target: DatabaseTarget, options: MigrationOptions): Promise<MigrationResult> {
  const settings = migrationSettings(options);
  const files = await readMigrationFiles(settings.dir);
  const client = await openMigrationClient(target, settings);
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
    const lock = { waitTimeoutMs: settings.lockWaitTimeoutMs, logger: settings.logger, beginWith: sessionLimits(settings) };
    const wait = { waited: false };
    const applied: string[] = [];
    let checked = false;
    for (;;) {
      await beginLocked(client, key, lock, wait);
      // Whoever held the lock before may have applied some or all of it: decide again, under the lock.
      let next: MigrationFile | undefined;
      try {
        if (!(await historyExists(client, table))) {
          // Committed on its own, so the table stays when the first file fails.
          await createHistory(client, table);
          await client.query('COMMIT');
          continue;
        }
        const plan = planMigrations(files, await readHistory(client, table), settings.dir);
        if (plan.problems[0]) throw plan.problems[0];
        // Once, on the first plan made under the lock: a refusal applies nothing at all.
        if (!checked) await refuseTransactionControl(plan.pending);
        checked = true;
        next = plan.pending[0];
      } catch (error) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw error;
      }
      if (next === undefined) {
        await client.query('COMMIT');
        return { applied };
      }
      const executionMs = await applyFile(client, table, next, settings);
      settings.logger.info?.(`otel-pg-manager: applied migration ${next.name} in ${executionMs} ms`);
      applied.push(next.name);
    }
  } finally {
    // Ending the session ends an open transaction too, and with it the lock.
    await client.end().catch(() => undefined);
  }
}

/**
 * The run's statement_timeout and lock_timeout as SET LOCAL, sent with each BEGIN: they last until that
 * transaction's end, on the server connection it ran on, so they reach PostgreSQL through a pooler (which
 * refuses them as startup parameters) and never stay behind on a connection a pooler hands to someone else.
 * DDL that queues behind the application's locks makes every later query on that table queue behind the
 * DDL; lock_timeout makes the migration give up instead of stalling the service.
 */
function sessionLimits(settings: MigrationSettings): string {
  const limits = [
    settings.statementTimeoutMs > 0 ? `; SET LOCAL statement_timeout = ${settings.statementTimeoutMs}` : '',
    settings.lockTimeoutMs > 0 ? `; SET LOCAL lock_timeout = ${settings.lockTimeoutMs}` : '',
  ];
  return limits.join('');
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

/** Runs one file inside the locked transaction beginLocked() opened, and commits it with its history row. */
async function applyFile(client: pg.Client, table: HistoryTable, file: MigrationFile, settings: MigrationSettings): Promise<number> {
  const startedAt = performance.now();
  let runningFile = false;
  try {
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
