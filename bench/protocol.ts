// Messages between the benchmark parent and its arm processes.
export type ArmName = 'raw' | 'manager-off' | 'manager-on' | 'manager-on-sdk' | 'instrumentation-pg';
export type WorkloadName = 'select1' | 'point' | 'distinct' | 'saturation';

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
  arm: ArmName;
  proof: string;
}
