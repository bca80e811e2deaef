// A test file's own database, and per test a manager wired to fresh OpenTelemetry providers; both cleaned up.
import { afterAll, afterEach, beforeAll } from 'vitest';
import type { CreateOptions, PostgresManager } from '../../src/index.js';
import { createTestDatabase, type TestDatabase } from './db.js';
import { createManager, type CapturingLogger } from './manager.js';
import { createTelemetry, type Telemetry } from './otel.js';

/** Manager options without the providers, which the harness supplies. */
export type HarnessOptions = CreateOptions & { telemetry?: Omit<NonNullable<CreateOptions['telemetry']>, 'meterProvider' | 'tracerProvider'> };

export interface TelemetryHarness {
  readonly database: TestDatabase;
  /** The running test's providers (after start()). */
  readonly telemetry: Telemetry;
  /** A manager on the file's database, reporting to new providers; closed, and the providers shut down, after the test. */
  start(options?: HarnessOptions): Promise<{ db: PostgresManager; logger: CapturingLogger }>;
}

/** Call once at the top of a test file; `prefix` names the file's database. */
export function useTelemetryHarness(prefix: string): TelemetryHarness {
  let database: TestDatabase | undefined;
  let telemetry: Telemetry | undefined;
  let manager: PostgresManager | undefined;

  beforeAll(async () => {
    database = await createTestDatabase(prefix);
  });

  afterAll(async () => {
    await database?.drop();
  });

  afterEach(async () => {
    await manager?.close({ timeoutMs: 1000 });
    manager = undefined;
    await telemetry?.shutdown();
    telemetry = undefined;
  });

  return {
    get database(): TestDatabase {
      if (!database) throw new Error('the harness database exists only inside tests');
      return database;
    },
    get telemetry(): Telemetry {
      if (!telemetry) throw new Error('start() a manager before reading its telemetry');
      return telemetry;
    },
    async start(options: HarnessOptions = {}) {
      const providers = createTelemetry();
      telemetry = providers;
      const { db, logger } = await createManager(this.database.url, {
        ...options,
        telemetry: { ...options.telemetry, meterProvider: providers.meterProvider, tracerProvider: providers.tracerProvider },
      });
      manager = db;
      return { db, logger };
    },
  };
}
