// The migration runner's own connection: one pg.Client, outside every pool.
import pg from 'pg';
import { connectionFields, serverOf, type DatabaseTarget } from '../database-url.js';
import type { Logger } from '../tracker.js';

export interface MigrationConnectionOptions {
  applicationName: string;
  connectTimeoutMs: number;
  logger: Logger;
}

/**
 * Never a connection of the manager's pools, so a migration never waits behind the service's own queue. No session
 * setting is sent at connect: PgBouncer refuses statement_timeout and lock_timeout as startup parameters, so the
 * runner sets both with SET LOCAL inside each of its transactions, which reaches PostgreSQL through any pooler.
 */
export async function openMigrationClient(target: DatabaseTarget, options: MigrationConnectionOptions): Promise<pg.Client> {
  const client = new pg.Client({
    ...connectionFields(target),
    application_name: options.applicationName,
    connectionTimeoutMillis: options.connectTimeoutMs,
    keepAlive: true,
  });
  // A connection that dies while idle emits 'error'; with no listener that would crash the process.
  client.on('error', (error) => {
    options.logger.warn(`otel-pg-manager: the migration connection failed: ${error.message}`);
  });
  try {
    await client.connect();
  } catch (error) {
    // pg says only "timeout expired" for a server that accepted nothing or never answered: name the server and the wait.
    if (error instanceof Error && error.message === 'timeout expired') {
      throw new Error(`no answer from ${serverOf(target)} within ${options.connectTimeoutMs} ms (connection timeout)`, { cause: error });
    }
    throw error;
  }
  return client;
}
