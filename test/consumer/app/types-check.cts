// The public types from a CommonJS TypeScript file (require of the ES module, as moduleResolution nodenext models it).
import { PostgresManager, type CreateOptions } from 'otel-pg-manager';

const options: CreateOptions = { databaseUrl: 'postgresql://app@localhost/app' };

export async function use(): Promise<void> {
  const db = await PostgresManager.create(options);
  await db.close({ timeoutMs: 1000 });
}
