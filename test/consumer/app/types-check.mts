// The public types as an ES module app uses them; compiled with moduleResolution node16, nodenext and bundler.
import {
  ConnectionTimeoutError,
  PostgresManager,
  runMigrations,
  parseDatabaseUrl,
  type CreateOptions,
  type Lease,
  type MigrationResult,
  type PoolMetrics,
} from 'otel-pg-manager';

const options: CreateOptions = { databaseUrl: 'postgresql://app@localhost/app', maxConnections: 4, schemaInit: 'strict', migrationsDir: './migrations' };

export async function use(): Promise<number> {
  const db: PostgresManager = await PostgresManager.create(options);
  const { rows } = await db.query<{ n: number }>('SELECT 1 AS n');
  const lease: Lease = await db.getConnection({ timeoutMs: 100 });
  // @ts-expect-error pg's own types come through (were they lost, client would be any and this would compile)
  await lease.client.query(42);
  lease.release();
  const metrics: PoolMetrics = db.getPoolMetrics();
  const result: MigrationResult = await runMigrations(parseDatabaseUrl(options.databaseUrl, 'DATABASE_URL'), { dir: './migrations' });
  const timedOut = (error: unknown): boolean => error instanceof ConnectionTimeoutError && error.code === 'CONNECTION_TIMEOUT';
  // @ts-expect-error the package ships no schema, so runMigrations needs the app's folder
  await runMigrations(parseDatabaseUrl(options.databaseUrl, 'DATABASE_URL'), {});
  await db.close();
  return (rows[0]?.n ?? 0) + result.applied.length + Object.keys(metrics.pools).length + Number(timedOut(undefined));
}
