// Test helpers: a private database per test file, and server-side views of this test's connections.
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { inject } from 'vitest';

export function adminUrl(): string {
  return inject('pgAdminUrl');
}

/** The server's admin URL (never through a pooler), on `database` when one is named. */
function adminUrlOf(database?: string): string {
  const url = new URL(adminUrl());
  if (database) url.pathname = `/${database}`;
  return url.toString();
}

export async function adminQuery<R extends pg.QueryResultRow = pg.QueryResultRow>(
  sql: string,
  params: unknown[] = [],
  database?: string,
): Promise<pg.QueryResult<R>> {
  const client = new pg.Client({ connectionString: adminUrlOf(database), application_name: 'test-admin' });
  await client.connect();
  try {
    return await client.query<R>(sql, params);
  } finally {
    await client.end();
  }
}

/**
 * Holds advisory lock `key` in `database` from a session of its own until release(): a statement that takes the same
 * lock runs for exactly as long as a test needs, where a pg_sleep() of a guessed length would race the test's checks.
 */
export async function holdAdvisoryLock(database: string, key: number): Promise<{ release(): Promise<void> }> {
  const holder = new pg.Client({ connectionString: adminUrlOf(database), application_name: 'test-lock-holder' });
  await holder.connect();
  await holder.query('SELECT pg_advisory_lock($1)', [key]);
  return { release: () => holder.end() };
}

/** The backend's pid: pg sets it on every client, @types/pg does not declare it. */
export function processIdOf(client: pg.PoolClient): number {
  return (client as unknown as { processID: number }).processID;
}

export function uniqueName(prefix: string): string {
  return `${prefix}_${randomBytes(5).toString('hex')}`;
}

export interface TestDatabase {
  name: string;
  url: string;
  drop(): Promise<void>;
}

/** With PG_TEST_VIA (test/global-setup.ts), the PgBouncer port test databases are reached through; else undefined. */
export function viaPort(): number | undefined {
  return inject('pgViaPort') ?? undefined;
}

/**
 * A fresh database, so test files can run in parallel without seeing each other. Its `url` goes through the
 * PgBouncer of PG_TEST_VIA when one runs (adminQuery() always goes to the server itself).
 */
export async function createTestDatabase(prefix = 'test'): Promise<TestDatabase> {
  const name = uniqueName(prefix);
  await adminQuery(`CREATE DATABASE ${name}`);
  const url = new URL(adminUrl());
  url.pathname = `/${name}`;
  const via = viaPort();
  if (via !== undefined) {
    url.hostname = '127.0.0.1';
    url.port = String(via);
  }
  return {
    name,
    url: url.toString(),
    drop: async () => {
      // A pooler keeps its server connections to the database open; WITH (FORCE) ends them (PgBouncer reconnects on demand).
      await adminQuery(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
    },
  };
}

/** A role with a password, for tests where the password must really be sent and must never leak. */
export async function createPasswordRole(database: string, password: string): Promise<{ user: string; url: string }> {
  const user = uniqueName('role');
  await adminQuery(`CREATE ROLE ${user} LOGIN PASSWORD '${password.replace(/'/g, "''")}'`);
  await adminQuery(`GRANT ALL ON DATABASE ${database} TO ${user}`);
  await adminQuery(`GRANT ALL ON SCHEMA public TO ${user}`, [], database);
  const url = new URL(adminUrl());
  url.username = user;
  url.password = password;
  url.pathname = `/${database}`;
  return { user, url: url.toString() };
}

export async function countConnections(applicationName: string): Promise<number> {
  const { rows } = await adminQuery<{ n: string }>(
    'SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1',
    [applicationName],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Kills this test's backends; `state` narrows it to 'idle' or 'active' ones. */
export async function terminateBackends(applicationName: string, state?: 'idle' | 'active'): Promise<number> {
  const { rows } = await adminQuery<{ n: string }>(
    `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
      WHERE application_name = $1 AND pid <> pg_backend_pid() AND ($2::text IS NULL OR state = $2)`,
    [applicationName, state ?? null],
  );
  return Number(rows[0]?.n ?? 0);
}

/** Polls until `check` holds or the time is up; for server-side state that settles asynchronously. */
export async function eventually<T>(check: () => Promise<T>, accept: (value: T) => boolean, timeoutMs = 5000): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let value = await check();
  while (!accept(value) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    value = await check();
  }
  return value;
}
