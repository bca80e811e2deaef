// TypeORM on the manager through `driver: db.pgModule()` against the real server: TypeORM builds its pool from that module, gets db.pool, and its queries, transactions, errors and destroy() go through the manager.
import pg from 'pg';
import { DataSource, EntitySchema, QueryFailedError } from 'typeorm';
import { describe, expect, it } from 'vitest';
import { ConnectionTimeoutError, type PostgresManager } from '../../src/index.js';
import { eventually } from '../support/db.js';
import { acquisitions, expectShutDown, slowQueryNamed, useOrmFixture, widgetNames, withinMs } from './support.js';
import { here } from '../support/stack.js';

interface Widget {
  id: number;
  name: string;
}

const WidgetEntity = new EntitySchema<Widget>({
  name: 'Widget',
  tableName: 'widgets',
  columns: {
    id: { type: Number, primary: true, generated: 'increment' },
    name: { type: String, unique: true },
  },
});

const fixture = useOrmFixture('orm_typeorm');

async function typeormOn(db: PostgresManager): Promise<DataSource> {
  // TypeORM always builds its own pool, from `driver` (else require('pg')); the connection options it passes are ignored.
  const source = new DataSource({ type: 'postgres', driver: db.pgModule(), entities: [WidgetEntity] });
  return source.initialize();
}

describe('TypeORM through driver: db.pgModule()', () => {
  it('builds its pool from the module and so gets db.pool itself', async () => {
    const { db } = await fixture.manager();
    const source = await typeormOn(db);
    // TypeORM keeps the pool it built as driver.master.
    expect((source.driver as unknown as { master: unknown }).master).toBe(db.pool);
    expect(db.pool).toBeInstanceOf(pg.Pool);
  });

  // pgModule() shadows pg's lazy `native`: TypeORM would otherwise switch to it when pg-native is installed.
  it('keeps TypeORM on db.pool when pg-native is installed (TypeORM then prefers driver.native)', async () => {
    const { db } = await fixture.manager();
    class NativePool {
      constructor() {
        throw new Error('TypeORM built a pg-native pool: the manager was bypassed');
      }
    }
    // What pg.native is once pg-native is installed (pg resolves it lazily; this file's pg is its own module instance).
    const lazyNative = Object.getOwnPropertyDescriptor(pg, 'native')!;
    Object.defineProperty(pg, 'native', { value: { Pool: NativePool }, configurable: true });
    try {
      // nativeDriver stands for the pg-native package TypeORM would otherwise require().
      const source = await new DataSource({ type: 'postgres', driver: db.pgModule(), nativeDriver: {} }).initialize();
      expect((source.driver as unknown as { master: unknown }).master).toBe(db.pool);
    } finally {
      Object.defineProperty(pg, 'native', lazyNative);
    }
  });

  it('runs repository and query-builder calls on connections the manager lends', async () => {
    const { db } = await fixture.manager();
    const source = await typeormOn(db);
    const widgets = source.getRepository(WidgetEntity);
    const before = acquisitions(db);

    await widgets.insert({ name: 't-plain' });
    const found = await widgets.findOneBy({ name: 't-plain' });
    const [count] = await source.query<{ n: number }[]>('SELECT count(*)::int AS n FROM widgets WHERE name = $1', ['t-plain']);

    expect(found).toEqual({ id: expect.any(Number), name: 't-plain' });
    expect(count).toEqual({ n: 1 });
    // Each call takes a query runner, which takes one connection with the callback form of pool.connect().
    expect(acquisitions(db) - before).toBe(3);
    expect(db.getQueryStats(50).some((q) => q.query.startsWith('INSERT INTO "widgets"'))).toBe(true);
  });

  it('commits a transaction and rolls one back, each on one connection', async () => {
    const { db } = await fixture.manager();
    const source = await typeormOn(db);
    const before = acquisitions(db);

    const xids = await source.transaction(async (manager) => {
      const [first] = await manager.query<{ xid: string }[]>('SELECT pg_current_xact_id()::text AS xid');
      await manager.insert(WidgetEntity, { name: 't-committed' });
      const [second] = await manager.query<{ xid: string }[]>('SELECT pg_current_xact_id()::text AS xid');
      return [first!.xid, second!.xid];
    });
    expect(xids[0]).toBe(xids[1]);

    await expect(
      source.transaction(async (manager) => {
        await manager.insert(WidgetEntity, { name: 't-rolled-back' });
        throw new Error('abandon the transaction');
      }),
    ).rejects.toThrow('abandon the transaction');

    expect(acquisitions(db) - before).toBe(2);
    const names = await widgetNames(fixture.database);
    expect(names).toContain('t-committed');
    expect(names).not.toContain('t-rolled-back');
  });

  it("wraps a unique violation in QueryFailedError that keeps SQLSTATE 23505 and pg's error", async () => {
    const { db } = await fixture.manager();
    const source = await typeormOn(db);
    const widgets = source.getRepository(WidgetEntity);
    await widgets.insert({ name: 't-unique' });

    const error = await widgets.insert({ name: 't-unique' }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(QueryFailedError);
    expect(error).toMatchObject({ code: '23505', constraint: 'widgets_name_key' });
    expect((error as QueryFailedError).driverError).toBeInstanceOf(pg.DatabaseError);
    const insert = db.getQueryStats(50).find((q) => q.query.startsWith('INSERT INTO "widgets"'));
    expect(insert?.errorsByCode).toEqual({ '23505': 1 });
  });

  it("fails with the manager's ConnectionTimeoutError when the pool stays exhausted", async () => {
    const { db } = await fixture.manager({ maxConnections: 1, connectionTimeoutSeconds: 0.3 });
    const source = await typeormOn(db);
    const held = await db.getConnection();
    try {
      await expect(source.getRepository(WidgetEntity).find()).rejects.toBeInstanceOf(ConnectionTimeoutError);
    } finally {
      held.release();
    }
  });

  it("reports a query runner's connection held past the threshold as a leak, with the app's line in the borrower's stack", async () => {
    const { db } = await fixture.manager({ leakDetectionThresholdMs: 100 });
    const source = await typeormOn(db);
    const runner = source.createQueryRunner();
    // The line below must appear in the reported stack: TypeORM calls pool.connect() synchronously from connect().
    await runner.connect(); const line = here()!;

    const leaks = await eventually(async () => db.getPoolMetrics().leaks, (l) => l.active.length === 1, 3000);
    expect(leaks.active[0]!.stack).toContain(line);
    await runner.release();
    expect(db.getPoolMetrics().leaks).toMatchObject({ detected: 1, resolved: 1, active: [] });
  });

  it('puts a slow statement in the slow-query list with its literals stripped', async () => {
    const { db } = await fixture.manager();
    const source = await typeormOn(db);

    await source.query("SELECT pg_sleep(0.3) AS typeorm_pause, 'typeorm-secret' AS tag");

    expect(slowQueryNamed(db, 'typeorm_pause')).toMatchObject({ query: 'SELECT pg_sleep($1) AS typeorm_pause, $2 AS tag', slowExecutions: 1 });
  });

  it("shuts down through the DataSource's destroy(): the manager closes and leaves no server connection", async () => {
    const { db, appName } = await fixture.manager();
    const source = await typeormOn(db);
    await source.getRepository(WidgetEntity).find();

    await withinMs(5000, source.destroy());

    await expectShutDown(db, appName);
  });
});
