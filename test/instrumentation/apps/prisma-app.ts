// An app on Prisma's client with @prisma/adapter-pg, which builds its pg.Pool from the connection options.
import { PrismaPg } from '@prisma/adapter-pg';
import { PrismaClient } from '../../orm/prisma/generated/client.js';
import { here } from '../../support/stack.js';
import { gate, type LibraryApp } from './app.js';

export function startPrisma(url: string, appName: string): LibraryApp {
  const prisma = new PrismaClient({ adapter: new PrismaPg({ connectionString: url, application_name: appName, max: 4 }) });
  return {
    async threeStatements() {
      for (let n = 0; n < 3; n++) await prisma.$queryRaw`SELECT ${n}::int AS n`;
    },
    async slow(marker) {
      await prisma.$queryRawUnsafe(`SELECT pg_sleep(0.3)::text AS ${marker}, '${marker}-secret' AS tag`);
    },
    fail: () => prisma.$queryRaw`SELECT * FROM no_such_table`.then(() => undefined, (error: unknown) => error),
    async hold() {
      const { wait, open } = gate();
      const running = (async () => await prisma.$transaction(() => wait, { timeout: 60_000 }))(); const line = here();
      return { line, release: () => (open(), running) };
    },
    close: () => prisma.$disconnect(),
  };
}
