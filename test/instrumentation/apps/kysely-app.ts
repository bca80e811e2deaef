// An app on Kysely with the pg dialect and its own pg.Pool.
import { Kysely, PostgresDialect, sql } from 'kysely';
import pg from 'pg';
import { here } from '../../support/stack.js';
import { gate, type LibraryApp } from './app.js';

export function startKysely(url: string, appName: string): LibraryApp {
  const k = new Kysely<Record<string, never>>({ dialect: new PostgresDialect({ pool: new pg.Pool({ connectionString: url, application_name: appName, max: 4 }) }) });
  return {
    async threeStatements() {
      for (let n = 0; n < 3; n++) await sql`SELECT ${n}::int AS n`.execute(k);
    },
    async slow(marker) {
      await sql.raw(`SELECT pg_sleep(0.3)::text AS ${marker}, '${marker}-secret' AS tag`).execute(k);
    },
    fail: () => sql`SELECT * FROM no_such_table`.execute(k).catch((error: unknown) => error),
    async hold() {
      const { wait, open } = gate();
      const running = (async () => await k.connection().execute(() => wait))(); const line = here();
      return { line, release: () => (open(), running) };
    },
    close: () => k.destroy(),
  };
}
