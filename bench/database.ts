// The benchmark's database: created fresh, the example schema applied, a thousand rows, vacuumed.
import pg from 'pg';
import { parseDatabaseUrl } from '../src/database-url.js';
import { exampleMigrationsDir } from '../examples/schema.js';
import { runMigrations } from '../src/migrations/runner.js';

/** Creates otel_pg_bench on the server `adminUrl` reaches and returns its URL. */
export async function prepareDatabase(adminUrl: string): Promise<string> {
  const admin = new pg.Client({ connectionString: adminUrl });
  await admin.connect();
  await admin.query('DROP DATABASE IF EXISTS otel_pg_bench WITH (FORCE)');
  await admin.query('CREATE DATABASE otel_pg_bench');
  await admin.end();
  const url = new URL(adminUrl);
  url.pathname = '/otel_pg_bench';
  await runMigrations(parseDatabaseUrl(url.toString(), 'BENCH_PG_URL'), { dir: exampleMigrationsDir, applicationName: 'otel-pg-bench-migrate' });
  const client = new pg.Client({ connectionString: url.toString() });
  await client.connect();
  const { rows } = await client.query<{ id: number }>(
    "INSERT INTO sources (name, base_url) VALUES ('bench', 'https://example.org/feed') RETURNING id",
  );
  await client.query(
    `INSERT INTO exploits (source_id, external_id, cve_id, title, severity, url, published_at)
     SELECT $1, 'bench-' || g, 'CVE-2024-' || lpad(g::text, 5, '0'), 'Benchmark exploit ' || g,
            (ARRAY['low','medium','high','critical'])[1 + g % 4], 'https://example.org/x/' || g, now() - g * interval '1 minute'
       FROM generate_series(1, 1000) AS g`,
    [rows[0]!.id],
  );
  // Done now rather than by autovacuum and the checkpointer in the middle of the first workload.
  await client.query('VACUUM ANALYZE');
  await client.query('CHECKPOINT').catch(() => undefined); // needs pg_checkpoint on a server of your own
  await client.end();
  return url.toString();
}
