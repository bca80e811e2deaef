// `npm run demo`: a short mixed workload through the manager on an embedded PostgreSQL (or DATABASE_URL).
import { PostgresManager, ConnectionTimeoutError } from '../src/index.js';
import { EmbeddedPostgres } from '../dev/embedded-postgres.js';

async function main(): Promise<void> {
  let server: EmbeddedPostgres | undefined;
  let databaseUrl = process.env.DATABASE_URL;
  if (!databaseUrl) {
    console.log('DATABASE_URL is not set: starting an embedded PostgreSQL in a temp folder…');
    server = await EmbeddedPostgres.start();
    databaseUrl = server.url();
  }
  const db = await PostgresManager.create({ databaseUrl, maxConnections: 5, connectionTimeoutSeconds: 2 });
  try {
    await db.query('CREATE TABLE IF NOT EXISTS demo_events (id serial PRIMARY KEY, kind text NOT NULL, at timestamptz NOT NULL DEFAULT now())');
    let ok = 0;
    let timeouts = 0;
    const work = Array.from({ length: 200 }, async (_, i) => {
      try {
        if (i % 4 === 0) await db.query('INSERT INTO demo_events (kind) VALUES ($1)', [`kind-${i % 7}`]);
        else await db.read('SELECT count(*) FROM demo_events WHERE kind = $1', [`kind-${i % 7}`]);
        ok++;
      } catch (error) {
        if (error instanceof ConnectionTimeoutError) timeouts++;
        else throw error;
      }
    });
    await Promise.all(work);
    console.log(`ran 200 calls on a pool of 5: ${ok} succeeded, ${timeouts} timed out`);
    console.log(JSON.stringify(db.getPoolMetrics(), null, 2));
  } finally {
    await db.close();
    await server?.destroy();
  }
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
