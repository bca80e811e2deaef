// `npm run demo`: the example service on an embedded PostgreSQL (or DATABASE_URL) under a mixed load, with a live view of its pools.
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { dirname } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { PostgresManager } from '../src/index.js';
import { EmbeddedPostgres } from '../dev/embedded-postgres.js';
import { FrameBuilder } from './demo-frame.js';
import { startLoad, type LoadRun } from './load.js';
import { optionsFromEnv, registerOpenTelemetry, type Observability } from './otel-bootstrap.js';
import { seedDemoData } from './seed.js';
import { exampleMigrationsDir } from './schema.js';
import { createService } from './service.js';
import { LiveView } from './terminal-view.js';

const USAGE = `usage: npm run demo [-- --duration <seconds>]

Runs the example service under a mixed load for a while (60 s by default) and redraws a view of
its connection pools every 2 s. With DATABASE_URL unset it starts a throwaway PostgreSQL in a temp
folder; with DATABASE_URL set it applies the migrations to that database and adds demo rows to it.
Ctrl-C stops early: the load drains, then PostgreSQL stops and its folder is removed (a
second Ctrl-C does not skip that).`;

/** Small, so that the bursts (six callers per connection) queue and the bars move. */
const POOL_SIZE = 8;
/** Lowered from the default 1000 ms so the demo's reports count as slow without a long wait. */
const SLOW_QUERY_THRESHOLD_MS = 300;
/** Short enough for the deliberate leak to be reported a few seconds into the run. */
const LEAK_DETECTION_THRESHOLD_MS = 3000;
const FRAME_EVERY_MS = 2000;
const LOG_LINES_SHOWN = 4;

export interface DemoOptions {
  durationSeconds: number;
}

export function parseDemoArgs(argv: string[]): DemoOptions | 'help' {
  const { values } = parseArgs({ args: argv, options: { duration: { type: 'string' }, help: { type: 'boolean', short: 'h' } } });
  if (values.help) return 'help';
  const durationSeconds = values.duration === undefined ? 60 : Number(values.duration);
  if (!Number.isFinite(durationSeconds) || durationSeconds <= 0) {
    throw new Error(`--duration must be a number of seconds above 0, got ${JSON.stringify(values.duration)}`);
  }
  return { durationSeconds };
}

/**
 * Resolves on the first Ctrl-C or SIGTERM. The listeners stay for the whole run, and a repeated signal only says
 * that cleanup is under way: tsx sends the child a second SIGINT when it does not acknowledge the first at once,
 * and ends a child with no listener left (or one slow to answer again) at once, leaving PostgreSQL and its folder.
 */
function stopSignal(onStop: () => void, onRepeat: () => void): Promise<void> {
  return new Promise((resolve) => {
    let stopped = false;
    const stop = (): void => {
      if (stopped) return onRepeat();
      stopped = true;
      onStop();
      resolve();
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

function listen(server: Server): Promise<string> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve(`http://127.0.0.1:${(server.address() as AddressInfo).port}`));
  });
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections();
  });
}

export async function runDemo(options: DemoOptions): Promise<void> {
  const view = new LiveView(process.stdout);
  const recentLog: string[] = [];
  // On a terminal the manager's warnings join the view (the next redraw would erase lines printed
  // between frames); elsewhere they are printed whole, with the borrower's stack of a leak.
  const note = (message: string): void => {
    if (!view.interactive) {
      console.log(message);
      return;
    }
    recentLog.push(message.split('\n')[0]!.replace(/^otel-pg-manager: /, ''));
    if (recentLog.length > LOG_LINES_SHOWN) recentLog.shift();
  };
  let stopping = false;
  let repeatNoted = false;
  const stopped = stopSignal(
    () => {
      stopping = true;
      view.print('stopping: draining the load…');
    },
    () => {
      if (repeatNoted) return;
      repeatNoted = true;
      view.print('still stopping: PostgreSQL is stopped and its folder removed before the demo exits');
    },
  );

  let embedded: EmbeddedPostgres | undefined;
  let observability: Observability | undefined;
  let db: PostgresManager | undefined;
  let server: Server | undefined;
  let load: LoadRun | undefined;
  let frames: NodeJS.Timeout | undefined;
  try {
    let databaseUrl = process.env.DATABASE_URL;
    let database: string | undefined;
    if (!databaseUrl) {
      console.log('DATABASE_URL is not set: starting an embedded PostgreSQL in a temp folder…');
      // If the demo is killed before its cleanup, a watcher process stops the server and deletes the folder.
      embedded = await EmbeddedPostgres.start({ cleanUpAfterExit: true });
      databaseUrl = embedded.url();
      database = `embedded PostgreSQL on 127.0.0.1:${embedded.port}`;
      console.log(`embedded PostgreSQL on 127.0.0.1:${embedded.port}, data in ${dirname(embedded.dataDir)}`);
    }

    // As the README's bootstrap: OpenTelemetry first, then the manager, whose tracker takes the global
    // providers. /metrics is served by the service itself, on loopback.
    observability = registerOpenTelemetry({ ...optionsFromEnv(), serviceName: 'otel-pg-manager-demo', mountMetricsOnApp: true });
    db = await PostgresManager.create({
      databaseUrl,
      maxConnections: POOL_SIZE,
      minConnections: 2,
      connectionTimeoutSeconds: 5,
      slowQueryThresholdMs: SLOW_QUERY_THRESHOLD_MS,
      leakDetectionThresholdMs: LEAK_DETECTION_THRESHOLD_MS,
      schemaInit: 'strict',
      migrationsDir: exampleMigrationsDir,
      applicationName: 'otel-pg-manager-demo',
      logger: { warn: note, info: note },
      // Snapshots at the pace of the view, and a slow-query warning per shape every 10 s rather than every minute.
      monitor: { snapshotIntervalMs: FRAME_EVERY_MS, slowQueryWarningIntervalMs: 10_000 },
    });
    if (database === undefined) {
      database = db.config.primary.redactedUrl;
      console.log(`using DATABASE_URL: ${database}`);
    }
    // Each applied file was already reported through the logger.
    if (db.schemaStatus.applied.length === 0) console.log('migrations: already up to date');
    const seed = await seedDemoData(db);
    console.log(`seed: ${seed.sourceIds.length} sources, ${seed.exploitsAdded} exploits added`);

    server = createService({ db, metrics: observability.metricsHandler });
    const baseUrl = await listen(server);
    const urls = { metrics: `${baseUrl}/metrics`, health: `${baseUrl}/health/db` };
    console.log(`service on ${baseUrl}\n  metrics  ${urls.metrics}\n  health   ${urls.health}`);
    console.log(`load for ${options.durationSeconds} s on a pool of ${POOL_SIZE}; a frame every ${FRAME_EVERY_MS / 1000} s`);
    if (stopping) return;

    load = startLoad({
      db,
      baseUrl,
      sourceIds: seed.sourceIds,
      durationMs: options.durationSeconds * 1000,
      poolSize: POOL_SIZE,
      slowQueryThresholdMs: SLOW_QUERY_THRESHOLD_MS,
      leakDetectionThresholdMs: LEAK_DETECTION_THRESHOLD_MS,
    });
    const builder = new FrameBuilder(db, {
      database,
      urls,
      durationSeconds: options.durationSeconds,
      slowQueryThresholdMs: SLOW_QUERY_THRESHOLD_MS,
    });
    const running = load;
    frames = setInterval(() => {
      const frame = builder.build(running.stats(), recentLog);
      view.show(frame);
      running.frameShown(frame.metrics.pools.primary.waiting);
    }, FRAME_EVERY_MS);
    await Promise.race([load.elapsed, stopped]);
    clearInterval(frames);
    await load.stop();
    view.show(builder.build(load.stats(), recentLog));
    const stats = load.stats();
    const requests = Object.entries(stats.responses).map(([status, count]) => `${count}×${status}`).join(', ');
    console.log(`done: HTTP ${requests || 'none'}; ${stats.requestErrors} without response; ${stats.bursts} bursts; ${stats.slowReports} slow reports; leak ${stats.leak}`);
  } finally {
    clearInterval(frames);
    await load?.stop();
    if (server) await closeServer(server);
    await db?.close({ timeoutMs: 5000 });
    await observability?.shutdown();
    if (embedded) {
      await embedded.destroy();
      console.log(`stopped PostgreSQL and removed ${dirname(embedded.dataDir)}`);
    }
  }
}

async function main(): Promise<void> {
  let options: DemoOptions | 'help';
  try {
    options = parseDemoArgs(process.argv.slice(2));
  } catch (error) {
    console.error(`${(error as Error).message}\n\n${USAGE}`);
    process.exitCode = 2;
    return;
  }
  if (options === 'help') {
    console.log(USAGE);
    return;
  }
  await runDemo(options);
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  main().catch((error: unknown) => {
    // Messages only: the manager's errors name the database without its password, and a stack adds nothing here.
    console.error(`demo failed: ${error instanceof Error ? error.message : String(error)}`);
    process.exitCode = 1;
  });
}
