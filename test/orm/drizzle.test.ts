// Drizzle's node-postgres driver on db.pool against the real server: its queries, transactions (on one connection, because db.pool is a real pg.Pool), errors and shutdown go through the manager.
import { eq, sql } from 'drizzle-orm';
import { drizzle } from 'drizzle-orm/node-postgres';
import { pgTable, serial, text } from 'drizzle-orm/pg-core';
import pg from 'pg';
import { describe, expect, it } from 'vitest';
import { ConnectionTimeoutError, type PostgresManager } from '../../src/index.js';
import { createTelemetry, histogramCount } from '../support/otel.js';
import { acquisitions, expectShutDown, slowQueryNamed, useOrmFixture, widgetNames, withinMs } from './support.js';

const widgets = pgTable('widgets', {
  id: serial('id').primaryKey(),
  name: text('name').notNull().unique(),
});

const fixture = useOrmFixture('orm_drizzle');

const drizzleOn = (db: PostgresManager) => drizzle({ client: db.pool });

describe('Drizzle through db.pool', () => {
  it('runs its queries through the manager, with drizzle(db.pool) and drizzle({ client: db.pool }) alike', async () => {
    const { db } = await fixture.manager();
    const positional = drizzle(db.pool);
    const named = drizzleOn(db);
    const before = acquisitions(db);

    await positional.insert(widgets).values({ name: 'd-plain' });
    // Drizzle asks pg for rows as arrays (rowMode: 'array') and maps them onto the columns itself.
    const rows = await named.select({ id: widgets.id, name: widgets.name }).from(widgets).where(eq(widgets.name, 'd-plain'));

    expect(rows).toEqual([{ id: expect.any(Number), name: 'd-plain' }]);
    expect(acquisitions(db) - before).toBe(2);
    expect(db.getQueryStats(50).map((q) => q.query)).toContain('select "id", "name" from "widgets" where "widgets"."name" = $1');
  });

  it('runs a transaction on one connection because db.pool is a real pg.Pool, and commits or rolls it back', async () => {
    const { db } = await fixture.manager();
    const d = drizzleOn(db);
    // Drizzle decides with `instanceof Pool`; anything else would get BEGIN and COMMIT sent on separate connections.
    expect(db.pool).toBeInstanceOf(pg.Pool);
    const before = acquisitions(db);

    const seen = await d.transaction(async (tx) => {
      const first = await tx.execute<{ xid: string; pid: number }>(sql`SELECT pg_current_xact_id()::text AS xid, pg_backend_pid() AS pid`);
      await tx.insert(widgets).values({ name: 'd-committed' });
      const second = await tx.execute<{ xid: string; pid: number }>(sql`SELECT pg_current_xact_id()::text AS xid, pg_backend_pid() AS pid`);
      return [first.rows[0], second.rows[0]];
    });
    // One transaction id across the statements: BEGIN really covered them (on separate connections each would be its own).
    expect(seen[0]).toEqual(seen[1]);

    await expect(
      d.transaction(async (tx) => {
        await tx.insert(widgets).values({ name: 'd-rolled-back' });
        tx.rollback();
      }),
    ).rejects.toThrow('Rollback');

    // One connection per transaction, taken with pool.connect().
    expect(acquisitions(db) - before).toBe(2);
    const names = await widgetNames(fixture.database);
    expect(names).toContain('d-committed');
    expect(names).not.toContain('d-rolled-back');
  });

  it("keeps the SQLSTATE of a unique violation on the DatabaseError Drizzle wraps as the cause", async () => {
    const { db } = await fixture.manager();
    const d = drizzleOn(db);
    await d.insert(widgets).values({ name: 'd-unique' });

    const error = await d.insert(widgets).values({ name: 'd-unique' }).catch((e: unknown) => e);
    // Drizzle 0.44+ wraps driver errors in DrizzleQueryError; pg's error is its cause, unchanged.
    const cause = (error as { cause?: unknown }).cause;
    expect(cause).toBeInstanceOf(pg.DatabaseError);
    expect(cause).toMatchObject({ code: '23505', constraint: 'widgets_name_key' });
    const insert = db.getQueryStats(50).find((q) => q.query.startsWith('insert into "widgets"'));
    expect(insert?.errorsByCode).toEqual({ '23505': 1 });
  });

  it("fails with the manager's ConnectionTimeoutError (DrizzleQueryError's cause) when the pool stays exhausted", async () => {
    const { db } = await fixture.manager({ maxConnections: 1, connectionTimeoutSeconds: 0.3 });
    const d = drizzleOn(db);
    const held = await db.getConnection();
    try {
      const error = await d.select().from(widgets).catch((e: unknown) => e);
      expect((error as { cause?: unknown }).cause).toBeInstanceOf(ConnectionTimeoutError);
      // A transaction takes its connection with pool.connect(), whose error Drizzle does not wrap.
      await expect(d.transaction(async () => undefined)).rejects.toBeInstanceOf(ConnectionTimeoutError);
    } finally {
      held.release();
    }
  });

  it('counts its acquisitions in the OpenTelemetry wait_time histogram', async () => {
    const telemetry = createTelemetry();
    let db: PostgresManager | undefined;
    try {
      ({ db } = await fixture.manager({ telemetry: { meterProvider: telemetry.meterProvider, tracerProvider: telemetry.tracerProvider } }));
      const d = drizzleOn(db);
      const waits = async () => histogramCount(await telemetry.collect(), 'db.client.connection.wait_time', { 'pg_manager.outcome': 'acquired' });
      const before = await waits();

      await d.select().from(widgets);
      await d.transaction(async (tx) => {
        await tx.select().from(widgets);
        await tx.select().from(widgets);
      });

      expect((await waits()) - before).toBe(2);
    } finally {
      await db?.close();
      await telemetry.shutdown();
    }
  });

  it('puts a slow statement in the slow-query list with its literals stripped', async () => {
    const { db } = await fixture.manager();
    const d = drizzleOn(db);

    await d.execute(sql`SELECT pg_sleep(0.3) AS drizzle_pause, 'drizzle-secret' AS tag`);
    // And inside a transaction, where the statement runs on the leased client.
    await d.transaction((tx) => tx.execute(sql`SELECT pg_sleep(0.3) AS drizzle_tx_pause, 42 AS answer`));

    expect(slowQueryNamed(db, 'drizzle_pause')).toMatchObject({ query: 'SELECT pg_sleep($1) AS drizzle_pause, $2 AS tag', slowExecutions: 1 });
    expect(slowQueryNamed(db, 'drizzle_tx_pause')).toMatchObject({ query: 'SELECT pg_sleep($1) AS drizzle_tx_pause, $2 AS answer', slowExecutions: 1 });
  });

  it("shuts down through the client's end() (Drizzle has no close of its own): no hang, no server connection left", async () => {
    const { db, appName } = await fixture.manager();
    const d = drizzleOn(db);
    await d.select().from(widgets);

    await withinMs(5000, d.$client.end());

    await expectShutDown(db, appName);
  });
});
