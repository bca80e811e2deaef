// The package's error classes: each has a stable `code` and a message that says what happened and what to do.

export type PgManagerErrorCode =
  | 'CONFIG_INVALID'
  | 'CONNECTION_TIMEOUT'
  | 'RETRY_EXHAUSTED'
  | 'MIGRATION_FAILED'
  | 'MANAGER_CLOSED'
  | 'LEASE_RELEASED'
  | 'TRANSACTION_ROLLED_BACK'
  | 'CONNECTION_LOST';

export abstract class PgManagerError extends Error {
  abstract readonly code: PgManagerErrorCode;

  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = new.target.name;
  }
}

/**
 * An error's message for another message. A host name that resolves to several addresses fails with
 * an AggregateError whose own message is empty: its parts are named instead. pg's messages name the
 * host and the user at most, never the password.
 */
export function describeError(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const parts = error instanceof AggregateError ? error.errors.map((inner: unknown) => describeError(inner)) : [];
  const code = (error as { code?: unknown }).code;
  return error.message || parts.join('; ') || (typeof code === 'string' ? code : error.name);
}

/** Invalid configuration. `field` is the option or environment variable; the value itself is never echoed. */
export class ConfigError extends PgManagerError {
  readonly code = 'CONFIG_INVALID';

  constructor(
    readonly field: string,
    readonly problem: string,
  ) {
    super(`Invalid configuration for ${field}: ${problem}`);
  }
}

export interface PoolCounts {
  total: number;
  idle: number;
  waiting: number;
  /** Connections being opened, not counted in `total`. */
  opening: number;
}

/** No connection could be had within the acquisition timeout. */
export class ConnectionTimeoutError extends PgManagerError {
  readonly code = 'CONNECTION_TIMEOUT';

  constructor(
    readonly poolName: string,
    readonly timeoutMs: number,
    readonly counts: PoolCounts,
    readonly max: number,
    cause?: unknown,
  ) {
    const active = counts.total - counts.idle;
    const reason =
      cause instanceof Error
        ? `the last attempt to open a connection failed: ${describeError(cause)}. Check that the server is reachable`
        : 'all connections were in use. Release leases sooner, raise DB_MAX_CONNECTIONS or the timeout';
    super(
      `Pool "${poolName}" gave no connection within ${timeoutMs} ms ` +
        `(total=${counts.total}, active=${active}, idle=${counts.idle}, opening=${counts.opening}, waiting=${counts.waiting}, max=${max}); ${reason}.`,
      { cause },
    );
  }
}

/** A retryable failure persisted through every attempt; `cause` is the last error. */
export class RetryExhaustedError extends PgManagerError {
  readonly code = 'RETRY_EXHAUSTED';

  constructor(
    readonly attempts: number,
    cause: unknown,
  ) {
    // Without its closing period, so the sentence below does not read "..".
    const last = describeError(cause).replace(/\.$/, '');
    super(
      `Gave up after ${attempts} attempts; the last failure was: ${last}. ` +
        'The database may be down, restarting or out of connection slots.',
      { cause },
    );
  }
}

export interface MigrationFailure {
  /** The migration file concerned; absent when the failure is not about one file (the lock, the folder). */
  file?: string;
  sqlstate?: string;
  /** 1-based character offset into the file, as PostgreSQL reports it. */
  position?: number;
}

/** A migration could not be applied (nothing of it remains), or an applied file was changed afterwards. */
export class MigrationError extends PgManagerError {
  readonly code = 'MIGRATION_FAILED';
  readonly file: string | undefined;
  readonly sqlstate: string | undefined;
  readonly position: number | undefined;

  /** `detail` completes "Migration <file> (SQLSTATE, position): ", e.g. "failed and was rolled back: ...". */
  constructor(failure: MigrationFailure, detail: string, cause?: unknown) {
    const where = [
      failure.sqlstate ? `SQLSTATE ${failure.sqlstate}` : undefined,
      failure.position !== undefined ? `at character ${failure.position}` : undefined,
    ].filter(Boolean);
    const subject = failure.file === undefined ? 'Migrations' : `Migration ${failure.file}`;
    super(`${subject}${where.length ? ` (${where.join(', ')})` : ''}: ${detail}`, { cause });
    this.file = failure.file;
    this.sqlstate = failure.sqlstate;
    this.position = failure.position;
  }
}

/** The manager was closed (or is closing) before this call could be served. */
export class ManagerClosedError extends PgManagerError {
  readonly code = 'MANAGER_CLOSED';

  /** `cause`: the failure a call was about to retry when the manager began closing. */
  constructor(cause?: unknown) {
    super('The PostgresManager is closed or closing; no new work is accepted. Create a new manager to continue.', { cause });
  }
}

/** A lease's client was used after the lease was released. */
export class LeaseReleasedError extends PgManagerError {
  readonly code = 'LEASE_RELEASED';

  constructor(poolName: string) {
    super(`This connection lease from pool "${poolName}" was already released; acquire a new one.`);
  }
}

/** COMMIT answered with ROLLBACK: an earlier statement of the transaction had failed, so nothing was saved. */
export class TransactionRolledBackError extends PgManagerError {
  readonly code = 'TRANSACTION_ROLLED_BACK';

  constructor() {
    super('The transaction was rolled back by the server at COMMIT (an earlier statement failed); no change was saved.');
  }
}

/**
 * The connection died, or gave no answer within queryTimeoutMs, while a statement was in flight,
 * and the server sent no SQLSTATE to say why. `cause` is the driver's error; the connection was destroyed.
 */
export class ConnectionLostError extends PgManagerError {
  readonly code = 'CONNECTION_LOST';

  constructor(
    readonly poolName: string,
    /**
     * 'unknown': the statement (or COMMIT) may or may not have taken effect, so it was not re-sent.
     * 'rolled back': it was inside a transaction that had not reached COMMIT, which the server discards.
     */
    readonly outcome: 'unknown' | 'rolled back',
    cause: unknown,
  ) {
    const what = describeError(cause);
    const effect =
      outcome === 'unknown'
        ? 'it may or may not have taken effect, so it was not sent again; make the write idempotent to have it retried'
        : 'the transaction was not committed';
    super(`The connection of pool "${poolName}" was lost while a statement was in flight (${what}); ${effect}.`, { cause });
  }
}
