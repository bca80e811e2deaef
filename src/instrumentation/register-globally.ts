// What the register entries do: one PgManagerInstrumentation per process, on the global providers (it follows the
// global meter provider once the app's SDK sets it).
import { registerInstrumentations } from '@opentelemetry/instrumentation';
import { PgManagerInstrumentation } from './pg-instrumentation.js';

const REGISTERED = Symbol.for('otel-pg-manager.registered-instrumentation');

/** The process's registered instrumentation, created at the first call (--require and --import together make one). */
export function registerGlobally(): PgManagerInstrumentation {
  const holder = globalThis as { [REGISTERED]?: PgManagerInstrumentation };
  if (holder[REGISTERED] === undefined) {
    const instrumentation = new PgManagerInstrumentation();
    registerInstrumentations({ instrumentations: [instrumentation] });
    holder[REGISTERED] = instrumentation;
  }
  return holder[REGISTERED];
}
