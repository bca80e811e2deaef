// How long to wait before the next attempt: full-jitter exponential backoff.

export interface BackoffOptions {
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Full jitter: random(0, min(cap, base * 2^retry)), with retry counted from 0. */
export function backoffDelay(retry: number, options: BackoffOptions, random: () => number = Math.random): number {
  const ceiling = Math.min(options.maxDelayMs, options.baseDelayMs * 2 ** retry);
  return Math.floor(random() * ceiling);
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
