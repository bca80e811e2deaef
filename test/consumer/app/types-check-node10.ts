// The public types under moduleResolution node10 (TypeScript 5.x; 6.0 deprecates it, 7.0 removes it): the top-level `types`.
import { PostgresManager, type CreateOptions, type PoolMetrics } from 'otel-pg-manager';

const options: CreateOptions = { databaseUrl: 'postgresql://app@localhost/app', maxConnections: 1 };

export async function use(): Promise<PoolMetrics> {
  const db = await PostgresManager.create(options);
  const metrics = db.getPoolMetrics();
  await db.close();
  return metrics;
}
