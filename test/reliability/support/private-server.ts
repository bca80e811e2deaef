// A PostgreSQL server owned by one test file, for faults that would disturb everyone else (restarts, global limits).
import pg from 'pg';
import { EmbeddedPostgres, type EmbeddedServerOptions } from '../../../dev/embedded-postgres.js';

export class PrivateServer {
  private constructor(readonly server: EmbeddedPostgres) {}

  static async start(options: EmbeddedServerOptions = {}): Promise<PrivateServer> {
    return new PrivateServer(await EmbeddedPostgres.start(options));
  }

  get port(): number {
    return this.server.port;
  }

  /** Superuser URL of the default database. */
  get url(): string {
    return this.server.url('postgres');
  }

  /** Same database, reached through another host:port (a fault proxy). */
  urlVia(port: number): string {
    const url = new URL(this.url);
    url.port = String(port);
    return url.toString();
  }

  async query<R extends pg.QueryResultRow = pg.QueryResultRow>(sql: string, params: unknown[] = []): Promise<pg.QueryResult<R>> {
    const client = new pg.Client({ connectionString: this.url, application_name: 'reliability-admin' });
    await client.connect();
    try {
      return await client.query<R>(sql, params);
    } finally {
      await client.end();
    }
  }

  async countConnections(applicationName: string): Promise<number> {
    const { rows } = await this.query<{ n: string }>('SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = $1', [applicationName]);
    return Number(rows[0]?.n ?? 0);
  }

  async terminate(applicationName: string, state?: 'idle' | 'active'): Promise<number> {
    const { rows } = await this.query<{ n: string }>(
      `SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity
        WHERE application_name = $1 AND ($2::text IS NULL OR state = $2)`,
      [applicationName, state ?? null],
    );
    return Number(rows[0]?.n ?? 0);
  }

  stop(mode: 'fast' | 'immediate'): Promise<void> {
    return this.server.stopServer(mode);
  }

  start(): Promise<void> {
    return this.server.startServer();
  }

  destroy(): Promise<void> {
    return this.server.destroy();
  }
}
