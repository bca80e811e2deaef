// Starts one embedded PostgreSQL for the whole run unless PG_TEST_URL points at a server already.
import type { TestProject } from 'vitest/node';
import { EmbeddedPostgres, type ServerHandle } from '../dev/embedded-postgres.js';
import { PgBouncer, poolModeOfTestRun, serverAt } from './support/pgbouncer.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgServer: ServerHandle | null;
    /** With PG_TEST_VIA=pgbouncer-transaction|pgbouncer-session: the pooler's port, which test databases' URLs go through. */
    pgViaPort: number | null;
  }
}

/** PG_TEST_VIA=pgbouncer-transaction or pgbouncer-session: a PgBouncer in that mode in front of the server. */
async function startVia(project: TestProject, adminUrl: string): Promise<() => Promise<void>> {
  const mode = poolModeOfTestRun();
  if (!mode) {
    project.provide('pgViaPort', null);
    return async () => {};
  }
  const bouncer = await PgBouncer.start({ server: serverAt(adminUrl), mode });
  project.provide('pgViaPort', bouncer.port);
  return () => bouncer.destroy();
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.PG_TEST_URL;
  if (external) {
    project.provide('pgAdminUrl', external);
    project.provide('pgServer', null);
    return startVia(project, external);
  }
  const server = await EmbeddedPostgres.start();
  project.provide('pgAdminUrl', server.url());
  project.provide('pgServer', server.handle);
  const stopVia = await startVia(project, server.url());
  return async () => {
    await stopVia();
    await server.destroy();
  };
}
