// An app on pg-boss, which builds its own pg.Pool and, with LISTEN/NOTIFY, a separate pg.Client.
import { PgBoss } from 'pg-boss';
import type { LibraryApp } from './app.js';

export async function startPgBoss(url: string, appName: string): Promise<LibraryApp> {
  const boss = new PgBoss({ connectionString: url, application_name: appName, max: 4, useListenNotify: true, supervise: false, schedule: false });
  boss.on('error', () => undefined);
  await boss.start();
  const db = boss.getDb();
  return {
    async threeStatements() {
      for (let n = 0; n < 3; n++) await db.executeSql('SELECT $1::int AS n', [n]);
    },
    async slow(marker) {
      await db.executeSql(`SELECT pg_sleep(0.3)::text AS ${marker}, '${marker}-secret' AS tag`);
    },
    fail: () => db.executeSql('SELECT * FROM no_such_table').then(() => undefined, (error: unknown) => error),
    close: () => boss.stop({ graceful: false, timeout: 2000 }),
  };
}
