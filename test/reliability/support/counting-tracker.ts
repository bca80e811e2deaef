// A PoolTracker that counts every event, so tests can check the books balance after a fault.
import type { LeakEvent, PoolTracker, QueryEvent, RetryEvent } from '../../../src/index.js';

export interface Counts {
  acquired: number;
  released: number;
  acquireTimedOut: number;
  acquireFailed: number;
  connectionsCreated: number;
  retried: number;
  /** query()/read() calls. */
  queriesOk: number;
  queriesFailed: number;
  /** Statements run on leased clients (transaction bodies, BEGIN, COMMIT, ROLLBACK). */
  leasedStatements: number;
}

export class CountingTracker implements PoolTracker {
  readonly counts: Counts = {
    acquired: 0,
    released: 0,
    acquireTimedOut: 0,
    acquireFailed: 0,
    connectionsCreated: 0,
    retried: 0,
    queriesOk: 0,
    queriesFailed: 0,
    leasedStatements: 0,
  };
  readonly retries: RetryEvent[] = [];
  readonly failures: QueryEvent[] = [];
  readonly leaks: LeakEvent[] = [];

  acquired(): void {
    this.counts.acquired++;
  }
  released(): void {
    this.counts.released++;
  }
  acquireTimedOut(): void {
    this.counts.acquireTimedOut++;
  }
  acquireFailed(): void {
    this.counts.acquireFailed++;
  }
  connectionCreated(): void {
    this.counts.connectionsCreated++;
  }
  queryFinished(event: QueryEvent): void {
    if (event.fromLease) {
      this.counts.leasedStatements++;
    } else if (event.error === undefined) {
      this.counts.queriesOk++;
    } else {
      this.counts.queriesFailed++;
      // Bounded: the soak produces thousands of failures and only needs a sample.
      if (this.failures.length < 1000) this.failures.push(event);
    }
  }
  retried(event: RetryEvent): void {
    this.counts.retried++;
    if (this.retries.length < 1000) this.retries.push(event);
  }
  leakDetected(event: LeakEvent): void {
    this.leaks.push(event);
  }
}
