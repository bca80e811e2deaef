// The transaction-scoped advisory lock that lets one runner at a time change a database's schema.
import { createHash } from 'node:crypto';
import type pg from 'pg';
import { MigrationError } from '../errors.js';
import { backoffDelay, sleep } from '../backoff.js';
import type { Logger } from '../tracker.js';
import { whereToSet } from './options.js';

/**
 * The key for the history table in `schema`. Derived from the package name and the table's
 * qualified name (as golang-migrate does): no other tool's well-known key can collide with it, and
 * services that keep separate histories in separate schemas of one database never wait for each other.
 * (Advisory locks are per database already.)
 */
export function migrationLockKey(schema: string): bigint {
  return createHash('sha256').update(`otel-pg-manager:${schema}.schema_migrations`).digest().readBigInt64BE(0);
}

export interface LockWaitOptions {
  /** How long to wait for another runner to finish before giving up; 0 = no limit. */
  waitTimeoutMs: number;
  logger: Logger;
  /** Sent with BEGIN, in the same round trip (the runner's SET LOCAL statement_timeout and lock_timeout). */
  beginWith: string;
}

/** Tells the first time a runner had to wait, so the log says so once per run and not once per file. */
export interface LockWaitState {
  waited: boolean;
}

// Short first retries (a runner that finds nothing to do holds the lock for milliseconds), then about once a second.
const BACKOFF = { baseDelayMs: 50, maxDelayMs: 1000 };
const MIN_SLEEP_MS = 10;

/**
 * Opens a transaction that holds the lock: BEGIN, then pg_try_advisory_xact_lock, polled with jittered
 * backoff until the deadline (each failed try rolls back, so a waiting runner holds no transaction, and behind
 * a pooler no server connection). The lock is the transaction's: COMMIT or ROLLBACK releases it, after the
 * commit is visible, on whichever server connection a transaction-mode pooler gave that transaction, so it can
 * neither outlive the work nor stay behind on a connection handed to someone else (which a session lock taken
 * and released by two statements could). A blocking pg_advisory_xact_lock would be bounded only by
 * statement_timeout, and a waiter could not say who holds the lock; polling gives a deadline of our own and a
 * timeout error that names the holder.
 */
export async function beginLocked(client: pg.Client, key: bigint, options: LockWaitOptions, state: LockWaitState): Promise<void> {
  const deadline = options.waitTimeoutMs === 0 ? Infinity : performance.now() + options.waitTimeoutMs;
  const upTo = options.waitTimeoutMs === 0 ? 'with no time limit' : `up to ${options.waitTimeoutMs} ms`;
  for (let attempt = 0; ; attempt++) {
    await client.query(`BEGIN${options.beginWith}`);
    let locked = false;
    try {
      const { rows } = await client.query<{ locked: boolean }>('SELECT pg_try_advisory_xact_lock($1::bigint) AS locked', [key.toString()]);
      locked = rows[0]?.locked === true;
    } finally {
      if (!locked) await client.query('ROLLBACK').catch(() => undefined);
    }
    if (locked) return;
    const remaining = deadline - performance.now();
    if (remaining <= 0) {
      throw new MigrationError(
        {},
        `gave up after waiting ${options.waitTimeoutMs} ms for the migration lock, held by ${await describeHolder(client, key)}. ` +
          'Another instance may be applying a long migration: to wait longer, raise ' +
          `${whereToSet('lockWaitTimeoutMs')}. If that session is stuck, end it with pg_terminate_backend(pid).`,
      );
    }
    if (attempt === 0 && !state.waited) {
      state.waited = true;
      options.logger.info?.(
        `otel-pg-manager: waiting ${upTo} for the migration lock, held by ${await describeHolder(client, key)}`,
      );
    }
    await sleep(Math.min(remaining, Math.max(MIN_SLEEP_MS, backoffDelay(attempt, BACKOFF))));
  }
}

interface HolderRow {
  pid: number;
  // pg_stat_activity hides other roles' details (NULL) from an unprivileged user.
  application_name: string | null;
  client_addr: string | null;
  state: string | null;
  connected_seconds: number;
}

/** Who holds the lock, from pg_locks (a bigint key is stored as two 32-bit halves) and pg_stat_activity. */
async function describeHolder(client: pg.Client, key: bigint): Promise<string> {
  const { rows } = await client.query<HolderRow>(
    `SELECT a.pid, a.application_name, host(a.client_addr) AS client_addr, a.state,
            floor(extract(epoch FROM now() - a.backend_start))::int AS connected_seconds
       FROM pg_locks l
       JOIN pg_stat_activity a ON a.pid = l.pid
      WHERE l.locktype = 'advisory' AND l.granted AND l.objsubid = 1
        AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())
        AND l.classid = $1::oid AND l.objid = $2::oid`,
    [BigInt.asUintN(32, key >> 32n).toString(), BigInt.asUintN(32, key).toString()],
  );
  const holder = rows[0];
  if (!holder) return 'a session that has just released it';
  const from = holder.client_addr ? ` from ${holder.client_addr}` : '';
  return (
    `pid ${holder.pid} (application_name "${holder.application_name ?? 'unknown'}"${from}, ` +
    `state ${holder.state ?? 'unknown'}, connected ${holder.connected_seconds} s ago)`
  );
}
