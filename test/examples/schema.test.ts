// The example service's schema (migrations/001_initial_schema.sql) as created by PostgresManager.create(): catalog, views, triggers, keys.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { exampleMigrationsDir } from '../../examples/schema.js';
import type { PostgresManager } from '../../src/index.js';
import { adminQuery, createTestDatabase, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';

const TABLES = [
  'alert_preferences',
  'alerts_sent',
  'community_submissions',
  'exploits',
  'payments',
  'schema_migrations',
  'sources',
  'subscription_changes',
  'user_reputation',
  'users',
];
const VIEWS = ['v_recent_exploits', 'v_source_health', 'v_stats_24h', 'v_user_stats'];
const UPDATED_AT_TABLES = ['alert_preferences', 'community_submissions', 'exploits', 'sources', 'users'];

describe('the schema created at start-up', () => {
  let database: TestDatabase;
  let db: PostgresManager;
  const q = <R extends Record<string, unknown>>(sql: string, params: unknown[] = []) => adminQuery<R>(sql, params, database.name);

  beforeAll(async () => {
    database = await createTestDatabase('schema');
    // The example service's folder, named as an app names its own, and the default policy.
    ({ db } = await createManager(database.url, { schemaInit: 'log', migrationsDir: exampleMigrationsDir }));
  });

  afterAll(async () => {
    await db?.close();
    await database.drop();
  });

  it('was applied by create() and recorded in schema_migrations', async () => {
    expect(db.schemaStatus).toEqual({ state: 'applied', applied: ['001_initial_schema.sql'] });
    const { rows } = await q<{ version: number; name: string; checksum: string }>('SELECT version, name, checksum FROM schema_migrations');
    expect(rows).toEqual([{ version: 1, name: '001_initial_schema.sql', checksum: expect.stringMatching(/^[0-9a-f]{64}$/) }]);
  });

  it('holds the 9 tables plus schema_migrations, the 4 views, at least 16 named indexes and 5 triggers', async () => {
    const tables = await q<{ name: string }>(
      "SELECT table_name AS name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE' ORDER BY 1",
    );
    expect(tables.rows.map((r) => r.name)).toEqual(TABLES);

    const views = await q<{ name: string }>("SELECT table_name AS name FROM information_schema.views WHERE table_schema = 'public' ORDER BY 1");
    expect(views.rows.map((r) => r.name)).toEqual(VIEWS);

    // Named indexes: created by CREATE INDEX, not implied by a primary key or unique constraint.
    const indexes = await q<{ name: string }>(
      `SELECT c.relname AS name FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid
        JOIN pg_namespace n ON n.oid = c.relnamespace
       WHERE n.nspname = 'public' AND NOT EXISTS (SELECT 1 FROM pg_constraint k WHERE k.conindid = i.indexrelid)`,
    );
    expect(indexes.rows.length).toBeGreaterThanOrEqual(16);
    expect(indexes.rows.map((r) => r.name)).toEqual(expect.arrayContaining(['idx_exploits_created_at', 'idx_exploits_cve_id']));

    const triggers = await q<{ table: string; name: string; fn: string }>(
      `SELECT c.relname AS table, t.tgname AS name, p.proname AS fn FROM pg_trigger t
         JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_proc p ON p.oid = t.tgfoid
        WHERE NOT t.tgisinternal ORDER BY 1`,
    );
    expect(triggers.rows.map((r) => r.table)).toEqual(UPDATED_AT_TABLES);
    expect(new Set(triggers.rows.map((r) => r.fn))).toEqual(new Set(['set_updated_at']));
  });

  it('a second create() executes no DDL and leaves the history untouched', async () => {
    const before = await q<{ applied_at: Date }>('SELECT applied_at FROM schema_migrations ORDER BY version');
    // An event trigger counts every DDL command run in this database from now on, by any session.
    await q('CREATE SCHEMA ddl_audit');
    await q('CREATE TABLE ddl_audit.commands (tag text NOT NULL, app text)');
    await q(`CREATE FUNCTION ddl_audit.record() RETURNS event_trigger LANGUAGE plpgsql AS $$
             BEGIN INSERT INTO ddl_audit.commands VALUES (tg_tag, current_setting('application_name')); END $$`);
    await q('CREATE EVENT TRIGGER ddl_audit_start ON ddl_command_start EXECUTE FUNCTION ddl_audit.record()');
    try {
      const second = await createManager(database.url, { schemaInit: 'strict', migrationsDir: exampleMigrationsDir });
      await second.db.close();
      expect(second.db.schemaStatus).toEqual({ state: 'applied', applied: [] });
      const ddl = await q<{ tag: string; app: string }>('SELECT tag, app FROM ddl_audit.commands');
      expect(ddl.rows).toEqual([]);
      const after = await q<{ applied_at: Date }>('SELECT applied_at FROM schema_migrations ORDER BY version');
      expect(after.rows).toEqual(before.rows);

      // The audit really sees DDL from another session, so the empty result above means something.
      await q('CREATE TABLE ddl_audit.probe (id int)');
      const probe = await q<{ tag: string }>('SELECT tag FROM ddl_audit.commands');
      expect(probe.rows).toEqual([{ tag: 'CREATE TABLE' }]);
    } finally {
      await q('DROP EVENT TRIGGER ddl_audit_start');
      await q('DROP SCHEMA ddl_audit CASCADE');
    }
  });
});

describe('the views and keys on seeded rows', () => {
  let database: TestDatabase;
  let db: PostgresManager;
  let sourceId: number;

  beforeAll(async () => {
    database = await createTestDatabase('schema_rows');
    ({ db } = await createManager(database.url, { schemaInit: 'strict', migrationsDir: exampleMigrationsDir }));
    const { rows } = await db.query<{ id: number }>(
      "INSERT INTO sources (name, base_url) VALUES ('exploit-db', 'https://www.exploit-db.com') RETURNING id",
    );
    sourceId = rows[0]!.id;
  });

  afterAll(async () => {
    await db?.close();
    await database.drop();
  });

  const insertExploit = (externalId: string, createdAgo: string, severity = 'high', source = sourceId) =>
    db.query(
      `INSERT INTO exploits (source_id, external_id, title, severity, url, created_at)
       VALUES ($1, $2, 'Exploit ' || $2, $3, 'https://example.test/' || $2, now() - $4::interval)`,
      [source, externalId, severity, createdAgo],
    );

  it('v_recent_exploits returns the newest 100, newest first', async () => {
    // 120 exploits, one a minute; external id N was ingested N minutes ago.
    await db.query(
      `INSERT INTO exploits (source_id, external_id, title, url, created_at)
       SELECT $1, 'recent-' || n, 'Exploit ' || n, 'https://example.test/' || n, now() - n * interval '1 minute'
         FROM generate_series(1, 120) AS n`,
      [sourceId],
    );
    const { rows } = await db.query<{ title: string; created_at: Date; source_name: string }>('SELECT * FROM v_recent_exploits');
    expect(rows).toHaveLength(100);
    expect(rows.map((r) => r.title)).toEqual(Array.from({ length: 100 }, (_, i) => `Exploit ${i + 1}`));
    expect(rows[0]?.source_name).toBe('exploit-db');
  });

  it('v_stats_24h counts only the last 24 hours', async () => {
    const fresh = await createTestDatabase('schema_stats');
    const other = await createManager(fresh.url, { schemaInit: 'strict', migrationsDir: exampleMigrationsDir });
    try {
      const s = await other.db.query<{ id: number }>("INSERT INTO sources (name, base_url) VALUES ('nvd', 'https://nvd.nist.gov') RETURNING id");
      const source = s.rows[0]!.id;
      const add = (id: string, ago: string, severity: string) =>
        other.db.query(
          `INSERT INTO exploits (source_id, external_id, title, severity, url, created_at)
           VALUES ($1, $2, $2, $3, 'https://example.test', now() - $4::interval)`,
          [source, id, severity, ago],
        );
      await add('a', '5 minutes', 'critical');
      await add('b', '23 hours', 'critical');
      await add('c', '12 hours', 'low');
      await add('d', '25 hours', 'critical');
      await add('e', '3 days', 'high');
      const u = await other.db.query<{ id: number }>(
        "INSERT INTO users (email, created_at) VALUES ('new@example.test', now() - interval '1 hour'), ('old@example.test', now() - interval '2 days') RETURNING id",
      );
      const ex = await other.db.query<{ id: number }>("SELECT id FROM exploits WHERE external_id IN ('a', 'd') ORDER BY external_id");
      await other.db.query(
        `INSERT INTO alerts_sent (user_id, exploit_id, channel, status, sent_at, created_at) VALUES
           ($1, $2, 'email', 'sent', now(), now() - interval '1 hour'),
           ($1, $3, 'email', 'sent', now() - interval '25 hours', now() - interval '25 hours'),
           ($1, $2, 'slack', 'failed', NULL, now() - interval '2 hours')`,
        [u.rows[0]!.id, ex.rows[0]!.id, ex.rows[1]!.id],
      );
      const { rows } = await other.db.query('SELECT * FROM v_stats_24h');
      expect(rows).toEqual([
        {
          exploits_total: '3',
          exploits_critical: '2',
          exploits_high: '0',
          exploits_medium: '0',
          exploits_low: '1',
          exploits_unknown: '0',
          distinct_cves: '0',
          active_sources: '1',
          alerts_sent: '1',
          alerts_failed: '1',
          new_users: '1',
        },
      ]);
    } finally {
      await other.db.close();
      await fresh.drop();
    }
  });

  it('v_source_health and v_user_stats summarize per source and per tier', async () => {
    await db.query(
      `INSERT INTO sources (name, base_url, enabled, last_success_at, consecutive_failures, total_fetches, failed_fetches) VALUES
         ('github', 'https://github.com', true, now() - interval '5 minutes', 0, 10, 2),
         ('packetstorm', 'https://packetstormsecurity.com', true, now() - interval '5 minutes', 3, 10, 3),
         ('retired', 'https://retired.test', false, NULL, 0, 0, 0)`,
    );
    const health = await db.query<{ name: string; status: string; success_rate_pct: string | null }>(
      "SELECT name, status, success_rate_pct FROM v_source_health WHERE name <> 'exploit-db' ORDER BY name",
    );
    expect(health.rows).toEqual([
      { name: 'github', status: 'healthy', success_rate_pct: '80.0' },
      { name: 'packetstorm', status: 'failing', success_rate_pct: '70.0' },
      { name: 'retired', status: 'disabled', success_rate_pct: null },
    ]);
    const counted = await db.query<{ exploits_24h: string }>("SELECT exploits_24h FROM v_source_health WHERE name = 'exploit-db'");
    expect(counted.rows[0]?.exploits_24h).toBe('120');

    await db.query(
      `INSERT INTO users (email, subscription_tier, is_active) VALUES
         ('a@example.test', 'free', true), ('b@example.test', 'free', true), ('c@example.test', 'pro', false)`,
    );
    const tiers = await db.query('SELECT subscription_tier, users, active_users FROM v_user_stats ORDER BY subscription_tier');
    expect(tiers.rows).toEqual([
      { subscription_tier: 'free', users: '2', active_users: '2' },
      { subscription_tier: 'pro', users: '1', active_users: '0' },
    ]);
  });

  it('the same exploit from the same source is rejected by the ingestion key', async () => {
    await insertExploit('EDB-1', '1 minute');
    await expect(insertExploit('EDB-1', '0 minutes')).rejects.toMatchObject({
      code: '23505',
      constraint: 'exploits_source_external_id_key',
    });
    // The same record from another source is a different row.
    const other = await db.query<{ id: number }>("INSERT INTO sources (name, base_url) VALUES ('mirror', 'https://mirror.test') RETURNING id");
    await expect(insertExploit('EDB-1', '0 minutes', 'high', other.rows[0]!.id)).resolves.toMatchObject({ rowCount: 1 });
    // Ingestion workers upsert on that key.
    const upsert = await db.query(
      `INSERT INTO exploits (source_id, external_id, title, url) VALUES ($1, 'EDB-1', 'again', 'https://example.test')
       ON CONFLICT (source_id, external_id) DO NOTHING`,
      [sourceId],
    );
    expect(upsert.rowCount).toBe(0);
  });

  it('severity, CVE identifiers and money are checked', async () => {
    await expect(insertExploit('bad-severity', '0 minutes', 'severe')).rejects.toMatchObject({ code: '23514' });
    await expect(
      db.query("INSERT INTO exploits (source_id, external_id, title, url, cve_id) VALUES ($1, 'bad-cve', 't', 'u', 'CVE-24-1')", [sourceId]),
    ).rejects.toMatchObject({ code: '23514' });
    await expect(
      db.query("INSERT INTO exploits (source_id, external_id, title, url, cve_id) VALUES ($1, 'good-cve', 't', 'u', 'CVE-2024-123456')", [sourceId]),
    ).resolves.toMatchObject({ rowCount: 1 });
    const user = await db.query<{ id: number }>("INSERT INTO users (email) VALUES ('payer@example.test') RETURNING id");
    await expect(
      db.query("INSERT INTO payments (user_id, amount_cents, tier, provider, provider_payment_id) VALUES ($1, 0, 'pro', 'stripe', 'pi_0')", [
        user.rows[0]!.id,
      ]),
    ).rejects.toMatchObject({ code: '23514', constraint: 'payments_amount_cents_check' });
  });

  it('ON DELETE rules: preferences go with their user, payments keep their user', async () => {
    const user = await db.query<{ id: number }>("INSERT INTO users (email) VALUES ('leaving@example.test') RETURNING id");
    const id = user.rows[0]!.id;
    await db.query("INSERT INTO alert_preferences (user_id, channel) VALUES ($1, 'email')", [id]);
    await db.query("INSERT INTO payments (user_id, amount_cents, tier, provider, provider_payment_id) VALUES ($1, 900, 'pro', 'stripe', 'pi_1')", [id]);
    await expect(db.query('DELETE FROM users WHERE id = $1', [id])).rejects.toMatchObject({ code: '23001', constraint: 'payments_user_id_fkey' });
    await db.query('DELETE FROM payments WHERE user_id = $1', [id]);
    await db.query('DELETE FROM users WHERE id = $1', [id]);
    const left = await db.query('SELECT 1 FROM alert_preferences WHERE user_id = $1', [id]);
    expect(left.rowCount).toBe(0);
  });

  it.each(UPDATED_AT_TABLES)('the updated_at trigger of %s fires on a real change only', async (table) => {
    const user = await db.query<{ id: number }>('INSERT INTO users (email) VALUES ($1) RETURNING id', [`${table}@example.test`]);
    const userId = user.rows[0]!.id;
    // One row per table, inserted with an old updated_at (INSERT does not fire the trigger), and a column to change.
    const setups: Record<string, { insert: string; params: unknown[]; change: string; noop: string; key: string }> = {
      sources: {
        insert: "INSERT INTO sources (name, base_url, updated_at) VALUES ('trigger-src', 'https://t.test', '2001-01-01 00:00:00+00') RETURNING id AS key",
        params: [],
        change: 'UPDATE sources SET enabled = false WHERE id = $1',
        noop: 'UPDATE sources SET name = name WHERE id = $1',
        key: 'id',
      },
      exploits: {
        insert: "INSERT INTO exploits (source_id, external_id, title, url, updated_at) VALUES ($1, 'trigger', 't', 'u', '2001-01-01 00:00:00+00') RETURNING id AS key",
        params: [sourceId],
        change: "UPDATE exploits SET severity = 'critical' WHERE id = $1",
        noop: 'UPDATE exploits SET title = title WHERE id = $1',
        key: 'id',
      },
      users: {
        insert: "INSERT INTO users (email, updated_at) VALUES ('trigger-user@example.test', '2001-01-01 00:00:00+00') RETURNING id AS key",
        params: [],
        change: "UPDATE users SET subscription_tier = 'pro' WHERE id = $1",
        noop: 'UPDATE users SET email = email WHERE id = $1',
        key: 'id',
      },
      alert_preferences: {
        insert: "INSERT INTO alert_preferences (user_id, channel, updated_at) VALUES ($1, 'email', '2001-01-01 00:00:00+00') RETURNING user_id AS key",
        params: [userId],
        change: "UPDATE alert_preferences SET min_severity = 'critical' WHERE user_id = $1",
        noop: 'UPDATE alert_preferences SET enabled = enabled WHERE user_id = $1',
        key: 'user_id',
      },
      community_submissions: {
        insert: `INSERT INTO community_submissions (submitter_id, title, description, poc_url, severity, updated_at)
                 VALUES ($1, 't', 'd', 'https://poc.test', 'high', '2001-01-01 00:00:00+00') RETURNING id AS key`,
        params: [userId],
        change: "UPDATE community_submissions SET status = 'rejected', reviewed_at = now() WHERE id = $1",
        noop: 'UPDATE community_submissions SET title = title WHERE id = $1',
        key: 'id',
      },
    };
    const setup = setups[table]!;
    const inserted = await db.query<{ key: number }>(setup.insert, setup.params);
    const key = inserted.rows[0]!.key;
    const updatedAt = async () =>
      (await db.query<{ updated_at: Date }>(`SELECT updated_at FROM ${table} WHERE ${setup.key} = $1`, [key])).rows[0]!.updated_at;

    await db.query(setup.noop, [key]);
    expect((await updatedAt()).toISOString()).toBe(new Date('2001-01-01T00:00:00Z').toISOString());

    const before = Date.now();
    await db.query(setup.change, [key]);
    expect((await updatedAt()).getTime()).toBeGreaterThan(before - 5000);
  });
});
