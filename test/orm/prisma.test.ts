// Prisma 7's client with @prisma/adapter-pg on db.pool against the real server. Needs `npm run prisma:generate` first (npm test and npm run typecheck run it).
import { PrismaPg } from '@prisma/adapter-pg';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ConnectionTimeoutError, type PostgresManager } from '../../src/index.js';
import { PrismaClient } from './prisma/generated/client.js';
import { acquisitions, expectShutDown, slowQueryNamed, useOrmFixture, widgetNames, withinMs } from './support.js';

const fixture = useOrmFixture('orm_prisma');

// disposeExternalPool: without it $disconnect() leaves a pool it was given open (see the shutdown tests).
const prismaOn = (db: PostgresManager) => new PrismaClient({ adapter: new PrismaPg(db.pool, { disposeExternalPool: true }) });

describe('Prisma (@prisma/adapter-pg) through db.pool', () => {
  it('uses db.pool itself, because it is a pg.Pool of the one pg installed', async () => {
    const { db } = await fixture.manager();
    // PrismaPg takes a pool only if `instanceof pg.Pool`, and otherwise silently builds its own from the pool's options.
    expect(db.pool).toBeInstanceOf(pg.Pool);
    const adapter = await new PrismaPg(db.pool).connect();
    expect(adapter.underlyingDriver()).toBe(db.pool);
    await adapter.dispose();
  });

  it('runs its queries on connections the manager lends', async () => {
    const { db } = await fixture.manager();
    const prisma = prismaOn(db);
    const before = acquisitions(db);

    await prisma.widget.create({ data: { name: 'p-plain' } });
    const found = await prisma.widget.findUnique({ where: { name: 'p-plain' } });

    expect(found).toEqual({ id: expect.any(Number), name: 'p-plain' });
    expect(acquisitions(db) - before).toBe(2);
    expect(db.getQueryStats(50).some((q) => q.query.startsWith('INSERT INTO "public"."widgets"'))).toBe(true);
    await prisma.$disconnect();
  });

  it('commits an interactive transaction and rolls one back, each on one connection', async () => {
    const { db } = await fixture.manager();
    const prisma = prismaOn(db);
    const before = acquisitions(db);

    const xids = await prisma.$transaction(async (tx) => {
      const first = await tx.$queryRaw<{ xid: string }[]>`SELECT pg_current_xact_id()::text AS xid`;
      await tx.widget.create({ data: { name: 'p-committed' } });
      const second = await tx.$queryRaw<{ xid: string }[]>`SELECT pg_current_xact_id()::text AS xid`;
      return [first[0]!.xid, second[0]!.xid];
    });
    expect(xids[0]).toBe(xids[1]);

    await expect(
      prisma.$transaction(async (tx) => {
        await tx.widget.create({ data: { name: 'p-rolled-back' } });
        throw new Error('abandon the transaction');
      }),
    ).rejects.toThrow('abandon the transaction');

    // The adapter takes one connection with pool.connect() per interactive transaction.
    expect(acquisitions(db) - before).toBe(2);
    const names = await widgetNames(fixture.database);
    expect(names).toContain('p-committed');
    expect(names).not.toContain('p-rolled-back');
    await prisma.$disconnect();
  });

  it("turns a unique violation into P2002 that keeps PostgreSQL's SQLSTATE 23505", async () => {
    const { db } = await fixture.manager();
    const prisma = prismaOn(db);
    await prisma.widget.create({ data: { name: 'p-unique' } });

    const error = await prisma.widget.create({ data: { name: 'p-unique' } }).catch((e: unknown) => e);
    expect(error).toMatchObject({
      code: 'P2002',
      meta: { driverAdapterError: { cause: { originalCode: '23505', kind: 'UniqueConstraintViolation' } } },
    });
    const insert = db.getQueryStats(50).find((q) => q.query.startsWith('INSERT INTO "public"."widgets"'));
    expect(insert?.errorsByCode).toEqual({ '23505': 1 });
    await prisma.$disconnect();
  });

  it("fails with the manager's ConnectionTimeoutError, or its code, when the pool stays exhausted", async () => {
    const { db } = await fixture.manager({ maxConnections: 1, connectionTimeoutSeconds: 0.3 });
    const prisma = prismaOn(db);
    const held = await db.getConnection();
    try {
      // A plain query's error is re-wrapped by Prisma's client, which keeps the code and message.
      await expect(prisma.widget.findMany()).rejects.toMatchObject({ code: 'CONNECTION_TIMEOUT', message: expect.stringContaining('gave no connection within 300 ms') });
      // An interactive transaction's pool.connect() error comes through as it is.
      await expect(prisma.$transaction(async () => undefined)).rejects.toBeInstanceOf(ConnectionTimeoutError);
    } finally {
      held.release();
    }
  });

  it('puts a slow statement in the slow-query list with its literals stripped', async () => {
    const { db } = await fixture.manager();
    const prisma = prismaOn(db);

    await prisma.$queryRawUnsafe("SELECT 'prisma-secret' AS tag FROM pg_sleep(0.3) AS prisma_pause");

    expect(slowQueryNamed(db, 'prisma_pause')).toMatchObject({ query: 'SELECT $1 AS tag FROM pg_sleep($2) AS prisma_pause', slowExecutions: 1 });
    await prisma.$disconnect();
  });

  it('shuts down through $disconnect() with disposeExternalPool: the manager closes and leaves no server connection', async () => {
    const { db, appName } = await fixture.manager();
    const prisma = prismaOn(db);
    await prisma.widget.findMany();

    await withinMs(5000, prisma.$disconnect());

    await expectShutDown(db, appName);
  });

  it('leaves the manager open on $disconnect() without disposeExternalPool, as Prisma does with any pool it was given', async () => {
    const { db } = await fixture.manager();
    const prisma = new PrismaClient({ adapter: new PrismaPg(db.pool) });
    await prisma.widget.findMany();

    await withinMs(5000, prisma.$disconnect());

    await expect(db.query('SELECT 1 AS still_open')).resolves.toMatchObject({ rowCount: 1 });
  });
});
