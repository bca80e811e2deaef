// An app on Drizzle's node-postgres driver, which builds its pg.Pool from the connection options.
import { sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { here } from '../../support/stack.js';
import { gate, type LibraryApp } from './app.js';

export function startDrizzle(url: string, appName: string): LibraryApp {
  const d = drizzle({ connection: { connectionString: url, application_name: appName, max: 4 } });
  return {
    async threeStatements() {
      for (let n = 0; n < 3; n++) await d.execute(sql`SELECT ${n}::int AS n`);
    },
    async slow(marker) {
      await d.execute(sql.raw(`SELECT pg_sleep(0.3)::text AS ${marker}, '${marker}-secret' AS tag`));
    },
    fail: () => d.execute(sql`SELECT * FROM no_such_table`).then(() => undefined, (error: unknown) => error),
    async hold() {
      const { wait, open } = gate();
      const running = (async () => await d.transaction(() => wait))(); const line = here();
      return { line, release: () => (open(), running) };
    },
    close: () => d.$client.end(),
  };
}
