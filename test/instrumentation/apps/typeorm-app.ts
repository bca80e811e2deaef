// An app on TypeORM with type 'postgres' and no `driver:` option: TypeORM requires pg and builds its own pool.
import { DataSource } from 'typeorm';
import { here } from '../../support/stack.js';
import type { LibraryApp } from './app.js';

export async function startTypeorm(url: string, appName: string): Promise<LibraryApp> {
  const source = await new DataSource({ type: 'postgres', url, applicationName: appName, poolSize: 4 }).initialize();
  return {
    async threeStatements() {
      for (let n = 0; n < 3; n++) await source.query('SELECT $1::int AS n', [n]);
    },
    async slow(marker) {
      await source.query(`SELECT pg_sleep(0.3)::text AS ${marker}, '${marker}-secret' AS tag`);
    },
    fail: () => source.query('SELECT * FROM no_such_table').then(() => undefined, (error: unknown) => error),
    async hold() {
      const runner = source.createQueryRunner();
      // TypeORM calls pool.connect() synchronously from connect().
      const connecting = runner.connect(); const line = here();
      await connecting;
      return { line, release: () => runner.release() };
    },
    close: () => source.destroy(),
  };
}
