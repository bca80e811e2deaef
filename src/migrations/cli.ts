#!/usr/bin/env node
// The otel-pg-manager command: `migrate` applies pending migrations, `status` lists applied and pending ones.
import { statSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parseDatabaseUrl, type DatabaseTarget } from '../database-url.js';
import { ConfigError, describeError, MigrationError } from '../errors.js';
import type { Logger } from '../tracker.js';
import { checkMigrationTimeouts, MIGRATION_TIMEOUT_FLAGS, type MigrationTimeouts } from './options.js';
import { runMigrations } from './runner.js';
import { getMigrationStatus, type MigrationStatus } from './status.js';

const EXIT_OK = 0;
const EXIT_FAILED = 1;
const EXIT_USAGE = 2;

const USAGE = `Usage: otel-pg-manager <command> [--url URL] [--dir DIR] [migrate timeouts]

Commands:
  migrate   Apply the pending migrations, each in its own transaction. Concurrent runs
            against one database wait for each other; already applied files are skipped.
  status    List applied migrations (with checksums, dates and durations) and pending ones.
            Changes nothing and takes no lock.

Options:
  --url URL   postgresql://user:password@host:5432/database (default: $DB_MIGRATIONS_URL, else $DATABASE_URL)
  --dir DIR   your folder of NNN_name.sql files (default: $DB_MIGRATIONS_DIR; one is required)
  -h, --help  show this help

Timeouts of migrate, in ms (0 = none):
  --statement-timeout-ms MS   statement_timeout of the migration session (default 300000)
  --lock-timeout-ms MS        lock_timeout of the migration session (default 10000)
  --lock-wait-timeout-ms MS   how long to wait for another run holding the migration lock
                              (default: the statement timeout + 60000; none when that is 0)

Exit codes: 0 success; 1 failure (the database could not be reached, a migration failed,
or status found an applied file that was changed or is missing); 2 usage error.
`;

interface Invocation {
  command: 'migrate' | 'status';
  target: DatabaseTarget;
  dir: string;
  timeouts: MigrationTimeouts;
}

class UsageError extends Error {}

function parseArguments(argv: string[]) {
  try {
    return parseArgs({
      args: argv,
      allowPositionals: true,
      strict: true,
      options: {
        url: { type: 'string' },
        dir: { type: 'string' },
        help: { type: 'boolean', short: 'h' },
        'statement-timeout-ms': { type: 'string' },
        'lock-timeout-ms': { type: 'string' },
        'lock-wait-timeout-ms': { type: 'string' },
      },
    });
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error));
  }
}

/** The migrate timeouts given as flags, checked as create()'s `migrations` option is. */
function parseTimeouts(values: Readonly<Record<string, unknown>>, command: Invocation['command']): MigrationTimeouts {
  const given: Record<string, unknown> = {};
  for (const [name, flag] of Object.entries(MIGRATION_TIMEOUT_FLAGS)) {
    const value = values[flag];
    if (typeof value !== 'string') continue;
    if (command === 'status') throw new UsageError(`--${flag} applies to migrate only; status takes no lock and runs no migration`);
    // A digit string becomes its number; anything else stays text, for ConfigError to quote.
    given[name] = /^\d+$/.test(value.trim()) ? Number(value) : value;
  }
  return checkMigrationTimeouts(given, (name) => `--${MIGRATION_TIMEOUT_FLAGS[name]}`);
}

function isFolder(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

function parseInvocation(argv: string[], env: NodeJS.ProcessEnv): Invocation | 'help' {
  const parsed = parseArguments(argv);
  const { values, positionals } = parsed;
  if (values.help) return 'help';
  const [command, ...extra] = positionals;
  if (command === undefined) throw new UsageError('no command given');
  if (command !== 'migrate' && command !== 'status') throw new UsageError(`unknown command "${command.slice(0, 40)}"`);
  if (extra.length > 0) throw new UsageError(`unexpected argument "${(extra[0] ?? '').slice(0, 40)}"`);
  // DB_MIGRATIONS_URL first, as create() reads it: the direct URL (or schema owner) a service keeps for migrations.
  const fromEnv = env.DB_MIGRATIONS_URL?.trim() ? 'DB_MIGRATIONS_URL' : 'DATABASE_URL';
  const fromOption = values.url !== undefined;
  const url = fromOption ? values.url : env[fromEnv];
  if (url === undefined || url.trim() === '') throw new UsageError('no database: pass --url or set DATABASE_URL (or DB_MIGRATIONS_URL)');
  // ConfigError names the field and the problem, never the value (it may hold the password).
  const target = parseDatabaseUrl(url, fromOption ? '--url' : fromEnv);
  const timeouts = parseTimeouts(values, command);
  // The package ships no schema, so there is no folder to fall back on.
  const dir = values.dir ?? env.DB_MIGRATIONS_DIR;
  if (dir === undefined || dir.trim() === '') throw new UsageError('no migrations folder: pass --dir or set DB_MIGRATIONS_DIR');
  // A folder that is not there is a mistyped argument, not a failed migration: a usage error, before any connection.
  if (!isFolder(dir)) throw new UsageError(`no migrations folder at ${dir.slice(0, 200)} (${values.dir !== undefined ? '--dir' : 'DB_MIGRATIONS_DIR'})`);
  return { command, target, dir, timeouts };
}

const consoleLogger: Logger = {
  warn: (message) => console.error(message),
  info: (message) => console.log(message),
};

async function migrate({ target, dir, timeouts }: Invocation): Promise<number> {
  console.log(`Migrating ${target.redactedUrl} with ${dir}`);
  const { applied } = await runMigrations(target, { dir, logger: consoleLogger, ...timeouts });
  console.log(applied.length === 0 ? 'Nothing to apply: the database is up to date.' : `Applied ${applied.length} migration(s).`);
  return EXIT_OK;
}

async function status({ target, dir }: Invocation): Promise<number> {
  const report = await getMigrationStatus(target, { dir, logger: consoleLogger });
  console.log(formatStatus(target, report));
  for (const problem of report.problems) console.error(`Problem: ${problem.message}`);
  return report.problems.length === 0 ? EXIT_OK : EXIT_FAILED;
}

function formatStatus(target: DatabaseTarget, report: MigrationStatus): string {
  const lines = [`Database:   ${target.redactedUrl}`, `Migrations: ${report.dir}`, '', `Applied (${report.applied.length}):`];
  for (const m of report.applied) {
    const flag = m.state === 'ok' ? '' : m.state === 'changed' ? '  CHANGED ON DISK' : '  MISSING ON DISK';
    lines.push(`  ${m.name}  sha256:${m.checksum}  ${m.appliedAt.toISOString()}  ${m.executionMs} ms${flag}`);
  }
  if (report.applied.length === 0) lines.push('  (none)');
  lines.push('', `Pending (${report.pending.length}):`);
  for (const m of report.pending) lines.push(`  ${m.name}  sha256:${m.checksum}`);
  if (report.pending.length === 0) lines.push('  (none)');
  return lines.join('\n');
}

async function main(argv: string[]): Promise<number> {
  let invocation: Invocation | 'help';
  try {
    invocation = parseInvocation(argv, process.env);
  } catch (error) {
    if (error instanceof UsageError || error instanceof ConfigError) {
      console.error(`otel-pg-manager: ${error.message}\nRun "otel-pg-manager --help" for usage.`);
      return EXIT_USAGE;
    }
    throw error;
  }
  if (invocation === 'help') {
    console.log(USAGE);
    return EXIT_OK;
  }
  try {
    return invocation.command === 'migrate' ? await migrate(invocation) : await status(invocation);
  } catch (error) {
    if (error instanceof MigrationError) {
      console.error(`otel-pg-manager: ${error.message}`);
    } else {
      console.error(`otel-pg-manager: ${invocation.command} failed against ${invocation.target.redactedUrl}: ${describeError(error)}`);
    }
    return EXIT_FAILED;
  }
}

// No top-level await: the package's dist/ stays loadable by require() of ES modules.
void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
