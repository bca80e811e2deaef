// Builds managers for tests: a unique application_name per manager so server-side counts are exact.
import { PostgresManager, type CreateOptions } from '../../src/index.js';
import type { Logger } from '../../src/tracker.js';
import { uniqueName } from './db.js';
import { poolModeOfTestRun } from './pgbouncer.js';

const poolMode = poolModeOfTestRun();

export interface CapturingLogger extends Logger {
  lines: string[];
}

export function capturingLogger(): CapturingLogger {
  const lines: string[] = [];
  return { lines, warn: (m) => lines.push(m), info: (m) => lines.push(m) };
}

export async function createManager(
  url: string,
  options: CreateOptions = {},
): Promise<{ db: PostgresManager; appName: string; logger: CapturingLogger }> {
  const appName = uniqueName('app');
  const logger = capturingLogger();
  const db = await PostgresManager.create({
    databaseUrl: url,
    applicationName: appName,
    minConnections: 0,
    monitoringEnabled: false,
    schemaInit: 'off',
    env: {},
    logger,
    // Suites run through a PgBouncer (PG_TEST_VIA=pgbouncer-transaction|pgbouncer-session) tell the manager so.
    ...(poolMode ? { poolerMode: poolMode } : {}),
    ...options,
  });
  return { db, appName, logger };
}
