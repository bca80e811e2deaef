// The manager's pools: the primary and an optional replica, each built from the configuration or an
// app's own pg.Pool adopted as it is (create({ pool, readPool })).
import type pg from 'pg';
import type { AdoptedTargets, ManagerConfig } from '../config.js';
import type { DatabaseTarget } from '../database-url.js';
import { ConfigError } from '../errors.js';
import type { Logger, TrackerFanout } from '../tracker.js';
import { ManagedPool } from './managed-pool.js';
import type { PgPoolOptions } from './pool-options.js';
import { buildPool, claimPool, describeAdoptedPool } from './pool-source.js';

/** The pg.Pools an app handed to create(). */
export interface AdoptedPools {
  pool: pg.Pool | undefined;
  readPool: pg.Pool | undefined;
}

/** The servers the app's pools reach, for resolveConfig(); throws ConfigError on a pool that cannot be adopted. */
export function describeAdoptedPools({ pool, readPool }: AdoptedPools): AdoptedTargets {
  const targets: AdoptedTargets = {
    primary: pool === undefined ? undefined : describeAdoptedPool(pool, 'pool'),
    replica: readPool === undefined ? undefined : describeAdoptedPool(readPool, 'readPool'),
  };
  if (pool !== undefined && pool === readPool) throw new ConfigError('readPool', 'must be a different pg.Pool from pool');
  return targets;
}

/** Marks the app's pools as managed; throws ConfigError when another manager already has one. */
export function claimAdoptedPools({ pool, readPool }: AdoptedPools): void {
  if (pool) claimPool(pool, 'pool');
  if (readPool) claimPool(readPool, 'readPool');
}

export class PoolSet {
  readonly primary: ManagedPool;
  readonly replica: ManagedPool | undefined;
  /** Pools the app built and handed over. */
  private readonly adopted: ManagedPool[];

  constructor(
    config: ManagerConfig,
    trackers: TrackerFanout,
    private readonly logger: Logger,
    own: AdoptedPools,
    pgPool: PgPoolOptions = {},
  ) {
    const managed = (role: 'primary' | 'replica', target: DatabaseTarget, adopted: pg.Pool | undefined): ManagedPool => {
      const pool = adopted ?? buildPool({ ...config, min: config.minConnections, max: config.maxConnections, target, pgPool, poolName: config.poolNames[role], logger });
      return new ManagedPool({
        name: config.poolNames[role],
        role,
        pool,
        target,
        connectionTimeoutMs: config.connectionTimeoutMs,
        leakDetectionThresholdMs: config.leakDetectionThresholdMs,
        trackers,
        logger,
      });
    };
    this.primary = managed('primary', config.primary, own.pool);
    this.replica = config.replica ? managed('replica', config.replica, own.readPool) : undefined;
    this.adopted = this.all().filter((pool) => pool.pool === own.pool || pool.pool === own.readPool);
  }

  all(): ManagedPool[] {
    return this.replica ? [this.primary, this.replica] : [this.primary];
  }

  /** For a create() that failed: the app's own pools are handed back open and as they were. */
  handBackAdopted(): void {
    for (const pool of this.adopted) pool.handBack();
  }

  /** Closes every pool, destroying what is still leased after `timeoutMs`; `serveWaiting`: see ManagedPool.close(). */
  async close(timeoutMs: number, serveWaiting = false): Promise<void> {
    const forced = await Promise.all(this.all().map((pool) => pool.close(timeoutMs, serveWaiting)));
    const destroyed = forced.reduce((a, b) => a + b, 0);
    if (destroyed > 0) {
      this.logger.warn(`otel-pg-manager: closed ${destroyed} connection(s) still leased after ${timeoutMs} ms at shutdown`);
    }
  }
}
