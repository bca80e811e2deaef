// The migration runner's own connection: one pg.Client, outside every pool.
import pg from 'pg';
import { connectionFields, type DatabaseTarget } from '../config.js';
import type { Logger } from '../tracker.js';

export interface MigrationConnectionOptions {
  applicationName: string;
  connectTimeoutMs: number;
  /** Server-side lock_timeout for this session (ms, 0 = none). */
  lockTimeoutMs: number;
  /** Server-side statement_timeout for this session (ms, 0 = none). */
  statementTimeoutMs: number;
  logger: Logger;
}

/** Never a pooled connection: the session advisory lock belongs to its session and would travel back into the pool with it. */
export async function openMigrationClient(target: DatabaseTarget, options: MigrationConnectionOptions): Promise<pg.Client> {
  const client = new pg.Client({
    ...connectionFields(target),
    application_name: options.applicationName,
    connectionTimeoutMillis: options.connectTimeoutMs,
    keepAlive: true,
    // DDL that queues behind the application's locks makes every later query on that table queue
    // behind the DDL; lock_timeout makes the migration give up instead of stalling the service.
    ...(options.lockTimeoutMs > 0 ? { lock_timeout: options.lockTimeoutMs } : {}),
    ...(options.statementTimeoutMs > 0 ? { statement_timeout: options.statementTimeoutMs } : {}),
  });
  // A connection that dies while idle emits 'error'; with no listener that would crash the process.
  client.on('error', (error) => {
    options.logger.warn(`otel-pg-manager: the migration connection failed: ${error.message}`);
  });
  await client.connect();
  return client;
}
