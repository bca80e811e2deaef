// Kysely on db.pool (PostgresDialect({ pool })) against the real server: its queries, transactions, errors, cursors and destroy() all go through the manager.
import { Kysely, PostgresDialect, sql, type Generated } from 'kysely';
import Cursor from 'pg-cursor';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ConnectionTimeoutError, type PostgresManager } from '../../src/index.js';
import { eventually } from '../support/db.js';
import { acquisitions, expectShutDown, slowQueryNamed, useOrmFixture, widgetNames, withinMs } from './support.js';

interface Schema {
  widgets: { id: Generated<number>; name: string };
}

const fixture = useOrmFixture('orm_kysely');

function kyselyOn(db: PostgresManager): Kysely<Schema> {
  return new Kysely<Schema>({ dialect: new PostgresDialect({ pool: db.pool, cursor: Cursor }) });
}

describe('Kysely through db.pool', () => {
  it('runs its queries on connections the manager lends, one acquisition per statement', async () => {
    const { db } = await fixture.manager();
    const k = kyselyOn(db);
    const before = acquisitions(db);

    await k.insertInto('widgets').values({ name: 'k-plain' }).execute();
    const row = await k.selectFrom('widgets').select(['id', 'name']).where('name', '=', 'k-plain').executeTakeFirstOrThrow();
    const { rows } = await sql<{ n: number }>`SELECT count(*)::int AS n FROM widgets WHERE name = ${'k-plain'}`.execute(k);

    expect(row.name).toBe('k-plain');
    expect(rows).toEqual([{ n: 1 }]);
    // Kysely takes a connection with pool.connect() for every statement outside a transaction.
    expect(acquisitions(db) - before).toBe(3);
    expect(db.getQueryStats(50).map((q) => q.query)).toContain('insert into "widgets" ("name") values ($1)');
  });

  it('commits a transaction and rolls one back, each on one backend and one acquisition', async () => {
    const { db } = await fixture.manager();
    const k = kyselyOn(db);
    const before = acquisitions(db);

    const pids = await k.transaction().execute(async (trx) => {
      const first = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx);
      await trx.insertInto('widgets').values({ name: 'k-committed' }).execute();
      const second = await sql<{ pid: number }>`SELECT pg_backend_pid() AS pid`.execute(trx);
      return [first.rows[0]!.pid, second.rows[0]!.pid];
    });
    expect(pids[0]).toBe(pids[1]);

    await expect(
      k.transaction().execute(async (trx) => {
        await trx.insertInto('widgets').values({ name: 'k-rolled-back' }).execute();
        throw new Error('abandon the transaction');
      }),
    ).rejects.toThrow('abandon the transaction');

    expect(acquisitions(db) - before).toBe(2);
    const names = await widgetNames(fixture.database);
    expect(names).toContain('k-committed');
    expect(names).not.toContain('k-rolled-back');
  });

  it("passes a unique violation through as pg's DatabaseError with SQLSTATE 23505", async () => {
    const { db } = await fixture.manager();
    const k = kyselyOn(db);
    await k.insertInto('widgets').values({ name: 'k-unique' }).execute();

    const error = await k.insertInto('widgets').values({ name: 'k-unique' }).execute().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(pg.DatabaseError);
    expect(error).toMatchObject({ code: '23505', constraint: 'widgets_name_key' });
    // The manager saw the failure and its SQLSTATE too.
    const insert = db.getQueryStats(50).find((q) => q.query.startsWith('insert into "widgets"'));
    expect(insert?.errorsByCode).toEqual({ '23505': 1 });
  });

  it("fails with the manager's ConnectionTimeoutError when the pool stays exhausted", async () => {
    const { db } = await fixture.manager({ maxConnections: 1, connectionTimeoutSeconds: 0.3 });
    const k = kyselyOn(db);
    const held = await db.getConnection();
    try {
      await expect(k.selectFrom('widgets').selectAll().execute()).rejects.toBeInstanceOf(ConnectionTimeoutError);
    } finally {
      held.release();
    }
  });

  it("reports a connection held in a transaction past the threshold as a leak (the stack shows Kysely's frames: it connects after its own awaits)", async () => {
    const { db } = await fixture.manager({ leakDetectionThresholdMs: 100 });
    const k = kyselyOn(db);
    let finish!: () => void;
    const held = new Promise<void>((resolve) => (finish = resolve));
    const transaction = k.transaction().execute(() => held);

    const leaks = await eventually(async () => db.getPoolMetrics().leaks, (l) => l.active.length === 1, 3000);
    expect(leaks.active[0]!.stack).toContain('kysely/dist/esm/dialect/postgres/postgres-driver.js');
    finish();
    await transaction;
    expect(db.getPoolMetrics().leaks).toMatchObject({ detected: 1, resolved: 1, active: [] });
  });

  it('puts a slow statement in the slow-query list with its literals stripped', async () => {
    const { db } = await fixture.manager();
    const k = kyselyOn(db);

    await sql`SELECT pg_sleep(0.3) AS kysely_pause, 'kysely-secret' AS tag`.execute(k);

    const slow = slowQueryNamed(db, 'kysely_pause');
    expect(slow?.query).toBe('SELECT pg_sleep($1) AS kysely_pause, $2 AS tag');
    expect(slow?.slowExecutions).toBe(1);
  });

  it('streams rows through a pg-cursor on a leased connection, released when the stream ends', async () => {
    const { db } = await fixture.manager();
    const k = kyselyOn(db);
    const before = acquisitions(db);

    const seen: number[] = [];
    for await (const row of k.selectNoFrom(sql<number>`generate_series(1, 25)`.as('n')).stream(10)) {
      seen.push(row.n);
    }

    expect(seen).toEqual(Array.from({ length: 25 }, (_, i) => i + 1));
    expect(acquisitions(db) - before).toBe(1);
    expect(db.getPoolMetrics().pools.primary).toMatchObject({ used: 0 });
  });

  it("shuts down through Kysely's destroy(): the manager closes and leaves no server connection", async () => {
    const { db, appName } = await fixture.manager();
    const k = kyselyOn(db);
    await k.selectFrom('widgets').selectAll().execute();

    await withinMs(5000, k.destroy());

    await expectShutDown(db, appName);
  });
});
