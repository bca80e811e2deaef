// Leases for the manager's calls: routed to the primary or the replica, lent with the borrower's
// stack, and acquired with the retry rules of query() (nothing was sent yet, so failures may be retried).
import type { RetryOptions } from '../config.js';
import { RetryExhaustedError } from '../errors.js';
import { backoffDelay, sleep } from '../backoff.js';
import { Borrower } from '../pool/borrower.js';
import type { Lease } from '../pool/lease.js';
import type { AcquireRequest, ManagedPool } from '../pool/managed-pool.js';
import { classifyError, sqlstateOf } from '../sqlstate.js';
import type { TrackerFanout } from '../tracker.js';
import type { QueryRouting } from './query-run.js';
import type { ReplicaRouting } from './replica-routing.js';

export class Acquisition implements QueryRouting {
  constructor(
    readonly trackers: TrackerFanout,
    readonly retry: Required<RetryOptions>,
    private readonly replicas: ReplicaRouting,
    readonly isClosing: () => boolean,
  ) {}

  get primary(): ManagedPool {
    return this.replicas.primary;
  }

  poolFor(readOnly: boolean): ManagedPool {
    return this.replicas.poolFor(readOnly);
  }

  replicaFailed(pool: ManagedPool, error: unknown): boolean {
    return this.replicas.replicaFailed(pool, error);
  }

  /** The stack above `from`, for leak reports; none when nothing could report a leak. */
  borrower(from: (...args: never[]) => unknown): Borrower | undefined {
    // Only a tracker can report a leak, so without one there is no stack worth capturing.
    if (!this.primary.leakDetectionEnabled || this.trackers.size === 0) return undefined;
    return new Borrower(from);
  }

  /** Lends a lease from the primary, or the replica for `readOnly` (the primary when the replica cannot serve). */
  lend(readOnly: boolean, timeoutMs: number | undefined, borrower: Borrower | undefined, request: AcquireRequest): void {
    const pool = this.poolFor(readOnly);
    const lent = { borrower, reportsStatements: true };
    pool.acquireFor(
      {
        acquired: (error, lease) => {
          if (error && this.replicaFailed(pool, error)) return this.primary.acquireFor(request, timeoutMs, undefined, lent);
          request.acquired(error, lease);
        },
      },
      timeoutMs,
      undefined,
      lent,
    );
  }

  /** Promise form of lend(). */
  lease(readOnly: boolean, timeoutMs: number | undefined, borrower: Borrower | undefined): Promise<Lease> {
    return new Promise((resolve, reject) => {
      this.lend(readOnly, timeoutMs, borrower, { acquired: (error, lease) => (error ? reject(error) : resolve(lease!)) });
    });
  }

  async acquireWithRetry(pool: ManagedPool, timeoutMs: number | undefined, borrower: Borrower | undefined): Promise<Lease> {
    const { maxRetries } = this.retry;
    for (let attempt = 1; ; attempt++) {
      try {
        return await pool.acquire(timeoutMs, borrower);
      } catch (error) {
        if (classifyError(error, 'acquire') !== 'retry' || this.isClosing()) throw error;
        if (attempt > maxRetries) throw new RetryExhaustedError(attempt, error);
        await this.backOff(pool, attempt, error);
      }
    }
  }

  /** Tells the trackers about the retry and waits its backoff delay. */
  backOff(pool: ManagedPool, attempt: number, error: unknown): Promise<void> {
    const delayMs = backoffDelay(attempt - 1, this.retry);
    this.trackers.retried({ pool, attempt, error, sqlstate: sqlstateOf(error), delayMs });
    return sleep(delayMs);
  }

  /**
   * Opens the pool's minimum number of connections (at least one, which proves the server answers), each
   * within the pool's own connect timeout. An app counting the pool's events sees them: a `connect` per
   * new connection, an `acquire` and a `release` each (create({ warmUp: false }) skips this).
   */
  async warmUp(pool: ManagedPool): Promise<void> {
    const leases = await Promise.allSettled(
      Array.from({ length: Math.max(1, pool.min) }, () => this.acquireWithRetry(pool, pool.warmUpTimeoutMs, undefined)),
    );
    for (const result of leases) if (result.status === 'fulfilled') result.value.release();
    const failure = leases.find((r) => r.status === 'rejected');
    if (failure) throw failure.reason;
  }
}
