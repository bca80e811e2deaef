// The zero-code instrumentation as an app registers it: enabled on real SDK providers, `pg` required afterwards
// (the hook patches the module then), and the app's own code using pg as it always does.
import { createRequire } from 'node:module';
import { createTelemetry, type Telemetry } from '../support/otel.js';
import { capturingLogger, type CapturingLogger } from '../support/manager.js';
import { PgManagerInstrumentation, type PgManagerInstrumentationConfig } from '../../src/instrumentation/index.js';

const require = createRequire(import.meta.url);
let instrumentation: PgManagerInstrumentation | undefined;

export interface Registered {
  instrumentation: PgManagerInstrumentation;
  telemetry: Telemetry;
  logger: CapturingLogger;
  stop(): Promise<void>;
}

/** What `registerInstrumentations({ instrumentations: [new PgManagerInstrumentation()] })` does, on test providers. */
export function register(config: PgManagerInstrumentationConfig = {}): Registered {
  const telemetry = createTelemetry();
  const logger = capturingLogger();
  // One instrumentation per process, as an app has: the require hook patches a module once, at its first require.
  instrumentation ??= new PgManagerInstrumentation({ enabled: false });
  instrumentation.setConfig({ logger, ...config });
  instrumentation.setMeterProvider(telemetry.meterProvider);
  instrumentation.setTracerProvider(telemetry.tracerProvider);
  instrumentation.enable();
  // Vitest loads pg as an ES module; the require hook sees it at the next require, as an app's require('pg') would.
  require('pg');
  return {
    instrumentation: instrumentation!,
    telemetry,
    logger,
    async stop() {
      instrumentation!.disable();
      await telemetry.shutdown();
    },
  };
}

/** The pool name the instrumentation gives a pool without one of its own: `host:port/database` of its URL. */
export function defaultPoolName(databaseUrl: string): string {
  const url = new URL(databaseUrl);
  return `${url.hostname}:${url.port}/${url.pathname.slice(1)}`;
}
