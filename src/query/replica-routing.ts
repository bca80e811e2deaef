// Where a call goes: reads to the replica while it serves, and to the primary for a cooldown after
// the replica failed to give a connection.
import { ConnectionTimeoutError } from '../errors.js';
import type { ManagedPool } from '../pool/managed-pool.js';
import { classifyError } from '../sqlstate.js';
import type { Logger } from '../tracker.js';

/** After a replica fails to connect, reads go to the primary for this long before the replica is tried again. */
const REPLICA_COOLDOWN_MS = 5000;

export class ReplicaRouting {
  private replicaDownUntil = 0;

  constructor(
    readonly primary: ManagedPool,
    private readonly replica: ManagedPool | undefined,
    private readonly logger: Logger,
  ) {}

  /** The primary; for `readOnly`, the replica when one is configured and not cooling down. */
  poolFor(readOnly: boolean): ManagedPool {
    return readOnly && this.replica && performance.now() >= this.replicaDownUntil ? this.replica : this.primary;
  }

  /** Whether reads go to the replica now; null without one. */
  get replicaAvailable(): boolean | null {
    return this.replica ? performance.now() >= this.replicaDownUntil : null;
  }

  /**
   * True when `pool` is the replica and it could not give a connection (unreachable, refusing, or
   * saturated past the timeout): it is then skipped for a while and the caller served by the primary.
   */
  replicaFailed(pool: ManagedPool, error: unknown): boolean {
    if (pool !== this.replica) return false;
    if (!(error instanceof ConnectionTimeoutError) && classifyError(error, 'acquire') !== 'retry') return false;
    this.markReplicaDown(error);
    return true;
  }

  markReplicaDown(error: unknown): void {
    const wasUp = performance.now() >= this.replicaDownUntil;
    this.replicaDownUntil = performance.now() + REPLICA_COOLDOWN_MS;
    if (wasUp) {
      const reason = error instanceof Error ? error.message : String(error);
      this.logger.warn(`otel-pg-manager: replica unavailable (${reason}); reads go to the primary for ${REPLICA_COOLDOWN_MS / 1000} s`);
    }
  }
}
