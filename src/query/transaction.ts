// Callbacks on one leased client: withConnection()'s, and transaction()'s BEGIN, COMMIT or ROLLBACK,
// run again after a serialization failure or deadlock.
import type pg from 'pg';
import { RetryExhaustedError, TransactionRolledBackError } from '../errors.js';
import type { Lease } from '../pool/lease.js';
import { isConnectionBroken, sqlstateOf } from '../sqlstate.js';
import type { Acquisition } from './acquisition.js';
import { typedLoss } from './query-run.js';

export type IsolationLevel = 'read committed' | 'repeatable read' | 'serializable';

export interface TransactionOptions {
  timeoutMs?: number;
  isolationLevel?: IsolationLevel;
}

// Checked at run time: the level is spliced into BEGIN, and JavaScript callers bypass the type.
const ISOLATION_LEVELS = new Set<IsolationLevel>(['read committed', 'repeatable read', 'serializable']);
/** SQLSTATEs after which a whole transaction callback is run again. */
const TRANSACTION_RETRY_STATES = new Set(['40001', '40P01']);

/** Runs `fn` with the lease's client and always releases it, destroying it if `fn` broke it. */
export async function withLease<T>(lease: Lease, fn: (client: pg.PoolClient) => Promise<T>): Promise<T> {
  try {
    const value = await fn(lease.client);
    lease.release();
    return value;
  } catch (error) {
    lease.release(error);
    throw error;
  }
}

/**
 * BEGIN, `fn(client)`, COMMIT on one primary connection; ROLLBACK on any error, and the whole
 * callback again on 40001 or 40P01 (with backoff, up to `retry.maxRetries` times). `from` is the
 * caller's entry point, above which the borrower's stack is taken.
 */
export async function runTransaction<T>(
  calls: Acquisition,
  fn: (client: pg.PoolClient) => Promise<T>,
  options: TransactionOptions,
  from: (...args: never[]) => unknown,
): Promise<T> {
  if (options.isolationLevel !== undefined && !ISOLATION_LEVELS.has(options.isolationLevel)) {
    throw new TypeError(`isolationLevel must be one of ${[...ISOLATION_LEVELS].join(', ')}`);
  }
  const begin = options.isolationLevel ? `BEGIN ISOLATION LEVEL ${options.isolationLevel.toUpperCase()}` : 'BEGIN';
  const borrower = calls.borrower(from);
  const { primary } = calls;
  const { maxRetries } = calls.retry;
  for (let attempt = 1; ; attempt++) {
    const lease = await calls.acquireWithRetry(primary, options.timeoutMs, borrower);
    const client = lease.client;
    let stage: 'begin' | 'body' | 'commit' = 'begin';
    try {
      await client.query(begin);
      stage = 'body';
      const value = await fn(client);
      stage = 'commit';
      const commit = await client.query('COMMIT');
      if (commit.command === 'ROLLBACK') throw new TransactionRolledBackError();
      lease.release();
      return value;
    } catch (error) {
      const lost = isConnectionBroken(error);
      const status = client.getTransactionStatus();
      // On a dead or unanswering connection a ROLLBACK would only queue behind the lost statement;
      // destroying the connection (release below) makes the server roll back instead.
      if (!lost && (status === 'T' || status === 'E')) await client.query('ROLLBACK').catch(() => undefined);
      lease.release(error);
      const state = sqlstateOf(error);
      // A connection that died before BEGIN was answered ran none of the callback: take another one.
      const retryable = (state !== undefined && TRANSACTION_RETRY_STATES.has(state)) || (stage === 'begin' && lost);
      if (!retryable) throw typedLoss(error, primary, stage === 'commit' ? 'unknown' : 'rolled back');
      if (attempt > maxRetries || calls.isClosing()) throw new RetryExhaustedError(attempt, error);
      await calls.backOff(primary, attempt, error);
    }
  }
}
