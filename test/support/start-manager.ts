// Child process for the concurrency test: on "go" it starts a 'strict' PostgresManager and prints what that applied.
import { createInterface } from 'node:readline';
import { PostgresManager } from '../../src/index.js';

const [databaseUrl, migrationsDir, applicationName] = process.argv.slice(2);
const lines = createInterface({ input: process.stdin });
const go = new Promise<void>((resolve) => lines.on('line', (line) => line === 'go' && resolve()));
process.stdout.write('ready\n');
await go;
lines.close();

const logged: string[] = [];
const db = await PostgresManager.create({
  databaseUrl,
  migrationsDir,
  applicationName,
  schemaInit: 'strict',
  minConnections: 0,
  monitoringEnabled: false,
  env: {},
  logger: { warn: (message) => logged.push(message), info: (message) => logged.push(message) },
});
const waited = logged.some((line) => line.includes('waiting up to'));
process.stdout.write(`${JSON.stringify({ applied: db.schemaStatus.applied, state: db.schemaStatus.state, waited })}\n`);
await db.close();
