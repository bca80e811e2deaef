// The latest acquisition times in a fixed ring: O(1) and allocation-free to record, summarized only when read.

/** How many acquisitions the window holds (the seed's rolling "last 1000"). */
export const ACQUISITION_WINDOW = 1000;

export interface AcquisitionSummary {
  /** Acquisitions in the window (at most ACQUISITION_WINDOW). */
  samples: number;
  avgMs: number;
  maxMs: number;
  p50Ms: number;
  p95Ms: number;
  p99Ms: number;
}

/** Milliseconds to the microsecond: enough for a wait, and short in JSON. */
export const roundMs = (ms: number): number => Math.round(ms * 1000) / 1000;

/** Nearest-rank percentile of an ascending array. */
export function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return 0;
  return sorted[Math.max(0, Math.ceil(p * sorted.length) - 1)]!;
}

export class AcquisitionWindow {
  private readonly times = new Float64Array(ACQUISITION_WINDOW);
  private next = 0;
  private count = 0;

  record(ms: number): void {
    this.times[this.next] = ms;
    this.next = this.next + 1 === ACQUISITION_WINDOW ? 0 : this.next + 1;
    if (this.count < ACQUISITION_WINDOW) this.count++;
  }

  summary(): AcquisitionSummary {
    const sorted = this.times.slice(0, this.count).sort();
    let sum = 0;
    for (let i = 0; i < sorted.length; i++) sum += sorted[i]!;
    return {
      samples: sorted.length,
      avgMs: sorted.length === 0 ? 0 : roundMs(sum / sorted.length),
      maxMs: roundMs(sorted.length === 0 ? 0 : sorted[sorted.length - 1]!),
      p50Ms: roundMs(percentile(sorted, 0.5)),
      p95Ms: roundMs(percentile(sorted, 0.95)),
      p99Ms: roundMs(percentile(sorted, 0.99)),
    };
  }
}
