// Converts performance.now() readings to wall-clock time without reading the wall clock on the hot path.

/**
 * Converts a performance.now() reading to epoch milliseconds on the wall clock (the one the SDK stamps
 * its own spans with). `performance.timeOrigin + t` alone drifts from Date.now() over a long uptime,
 * which would place a child span before its parent and misdate the monitor's last executions.
 */
export function wallClockMs(performanceMs: number): number {
  return Date.now() - performance.now() + performanceMs;
}
