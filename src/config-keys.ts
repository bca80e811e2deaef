// Option names checked by name: an unknown key of create() is a ConfigError naming it and the nearest known one.
import type { ManagerOptions, PgBouncerOptions, RetryOptions } from './config.js';
import { ConfigError } from './errors.js';

/** Every option of ManagerOptions; `Record<keyof …>` makes the compiler refuse a list that misses or invents one. */
const MANAGER_KEYS: Record<keyof ManagerOptions, true> = {
  databaseUrl: true,
  readReplicaUrl: true,
  minConnections: true,
  maxConnections: true,
  monitoringEnabled: true,
  slowQueryThresholdMs: true,
  connectionTimeoutSeconds: true,
  statementTimeoutMs: true,
  queryTimeoutMs: true,
  idleTimeoutMs: true,
  leakDetectionThresholdMs: true,
  applicationName: true,
  poolNames: true,
  retry: true,
  schemaInit: true,
  migrationsDir: true,
  migrationsUrl: true,
  poolerMode: true,
  pgbouncer: true,
  sqlNormalizer: true,
  env: true,
};

/**
 * The options create() takes beside ManagerOptions (CreateOptions in manager/options.ts), which it takes out
 * before the rest reaches here: named so that a misspelling of one of them is pointed to it.
 */
const CREATE_ONLY_KEYS = [
  'pool', 'readPool', 'logger', 'telemetry', 'monitor', 'migrations', 'warmUp',
  // pg-pool's own options, passed through (pool/pool-options.ts).
  'maxUses', 'maxLifetimeSeconds', 'allowExitOnIdle', 'onConnect', 'verify', 'log',
] as const;

const RETRY_KEYS: Record<keyof RetryOptions, true> = { maxRetries: true, baseDelayMs: true, maxDelayMs: true };
const POOL_NAME_KEYS: Record<keyof NonNullable<ManagerOptions['poolNames']>, true> = { primary: true, replica: true };
const PGBOUNCER_KEYS: Record<keyof PgBouncerOptions, true> = { adminUrl: true, intervalMs: true };

/** Levenshtein distance, case-insensitive (`maxconnections` is one edit from nothing). */
function distance(a: string, b: string): number {
  const x = a.toLowerCase();
  const y = b.toLowerCase();
  let previous = Array.from({ length: y.length + 1 }, (_, i) => i);
  for (let i = 1; i <= x.length; i++) {
    const current = [i];
    for (let j = 1; j <= y.length; j++) {
      current[j] = Math.min(previous[j]! + 1, current[j - 1]! + 1, previous[j - 1]! + (x[i - 1] === y[j - 1] ? 0 : 1));
    }
    previous = current;
  }
  return previous[y.length]!;
}

/** The known name closest to `key`, when it is close enough to be a misspelling of it. */
export function nearestKey(key: string, known: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const name of known) {
    const d = distance(key, name);
    if (d < bestDistance) [best, bestDistance] = [name, d];
  }
  return best !== undefined && bestDistance <= Math.max(2, Math.ceil(key.length / 3)) ? best : undefined;
}

/**
 * Throws ConfigError for the first own key of `given` that `known` does not list. A JavaScript app that writes
 * `maxConection: 3` would otherwise get the default and no word. `prefix` names the nested object (`retry.`).
 */
export function checkKeys(given: unknown, known: readonly string[], prefix = '', alsoKnown: readonly string[] = []): void {
  if (given === null || typeof given !== 'object') return;
  for (const key of Object.keys(given)) {
    if (known.includes(key) || alsoKnown.includes(key)) continue;
    const shown = key.slice(0, 60);
    const all = [...known, ...alsoKnown];
    const nearest = nearestKey(key, all);
    throw new ConfigError(
      `${prefix}${shown}`,
      nearest ? `is not an option; did you mean ${prefix}${nearest}?` : `is not an option (known: ${all.map((k) => prefix + k).join(', ')})`,
    );
  }
}

/** The options of create() that reach resolveConfig, and their nested objects, checked by name. */
export function checkOptionKeys(options: ManagerOptions): void {
  checkKeys(options, Object.keys(MANAGER_KEYS), '', CREATE_ONLY_KEYS);
  checkKeys(options.retry, Object.keys(RETRY_KEYS), 'retry.');
  checkKeys(options.poolNames, Object.keys(POOL_NAME_KEYS), 'poolNames.');
  checkKeys(options.pgbouncer, Object.keys(PGBOUNCER_KEYS), 'pgbouncer.');
}
