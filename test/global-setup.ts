// Starts one embedded PostgreSQL for the whole run unless PG_TEST_URL points at a server already.
import type { TestProject } from 'vitest/node';
import { EmbeddedPostgres, type ServerHandle } from '../dev/embedded-postgres.js';

declare module 'vitest' {
  export interface ProvidedContext {
    pgAdminUrl: string;
    pgServer: ServerHandle | null;
  }
}

export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  const external = process.env.PG_TEST_URL;
  if (external) {
    project.provide('pgAdminUrl', external);
    project.provide('pgServer', null);
    return async () => {};
  }
  const server = await EmbeddedPostgres.start();
  project.provide('pgAdminUrl', server.url());
  project.provide('pgServer', server.handle);
  return async () => {
    await server.destroy();
  };
}
