// What PostgresManager reports: each pool's state, how schema initialization went, the metrics snapshot.
import type { ManagedPool } from '../pool/managed-pool.js';
import type { PoolSet } from '../pool/pool-set.js';
import type { MonitorReport } from '../telemetry/monitor/report.js';

export interface PoolState {
  name: string;
  role: 'primary' | 'replica';
  total: number;
  idle: number;
  used: number;
  /** Connections being opened, not yet in `total`. */
  opening: number;
  waiting: number;
  max: number;
  min: number;
}

export interface SchemaStatus {
  state: 'applied' | 'failed' | 'skipped';
  /** Files applied by this start-up (empty when everything was already applied). */
  applied: string[];
  /** Why schema initialization failed (kept for health reporting under schemaInit 'log'). */
  error?: { message: string; file?: string; sqlstate?: string };
}

export interface PoolMetrics extends MonitorReport {
  pools: { primary: PoolState; replica?: PoolState };
  replicaAvailable: boolean | null;
  schema: SchemaStatus;
}

function poolState(pool: ManagedPool): PoolState {
  const counts = pool.counts();
  return {
    name: pool.name,
    role: pool.role,
    total: counts.total,
    idle: counts.idle,
    used: counts.total - counts.idle,
    opening: counts.opening,
    waiting: counts.waiting,
    max: pool.max,
    min: pool.min,
  };
}

export function poolStates({ primary, replica }: PoolSet): PoolMetrics['pools'] {
  return replica ? { primary: poolState(primary), replica: poolState(replica) } : { primary: poolState(primary) };
}
