// An app on Knex with client 'pg' and its own pool (tarn, of pg.Clients): no pg-pool underneath.
import knex from 'knex';
import type { LibraryApp } from './app.js';

export function startKnex(url: string, appName: string): LibraryApp {
  const k = knex({ client: 'pg', connection: { connectionString: url, application_name: appName }, pool: { min: 0, max: 4 } });
  return {
    async threeStatements() {
      for (let n = 0; n < 3; n++) await k.raw('SELECT ?::int AS n', [n]);
    },
    async slow(marker) {
      await k.raw(`SELECT pg_sleep(0.3)::text AS ${marker}, '${marker}-secret' AS tag`);
    },
    fail: () => k.raw('SELECT * FROM no_such_table').then(() => undefined, (error: unknown) => error),
    close: () => k.destroy(),
  };
}
