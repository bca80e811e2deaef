// Messages between the benchmark parent and its arm processes.
export type ArmName =
  | 'raw-no-sdk'
  | 'raw'
  | 'manager-off'
  | 'create-only'
  | 'manager-on'
  | 'db-pool'
  | 'instrumentation-pg'
  /** Plain pg.Pool code with only PgManagerInstrumentation registered in NodeSDK. */
  | 'zero-code';
export type WorkloadName = 'select1' | 'point' | 'prepared' | 'distinct' | 'saturation';

/** How an arm process is built: which arm, and how many pools (managers) it spreads its workers over. */
export interface ArmSpec {
  arm: ArmName;
  pools: number;
  /** Connections per pool. */
  poolMax: number;
  /** The manager's poolerMode, for the arms through PgBouncer. */
  poolerMode?: 'transaction';
}

export interface SliceRequest {
  workload: WorkloadName;
  workers: number;
  durationMs: number;
}

export interface SliceResult {
  queries: number;
  errors: number;
  qps: number;
  p50Ms: number;
  p99Ms: number;
  cpuUsPerQuery: number;
  maxRssMb: number;
}

export interface ArmReady {
  type: 'ready';
  /** Proof that the arm is instrumented, or why the arm cannot run on this code. */
  proof: string;
  unavailable?: string;
}
