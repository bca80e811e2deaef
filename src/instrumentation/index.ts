// Public exports of otel-pg-manager/instrumentation: the zero-code OpenTelemetry Instrumentation for pg.
export { PgManagerInstrumentation } from './pg-instrumentation.js';
export type { PgManagerInstrumentationConfig, InstrumentationReport, InstrumentationHealth } from './pg-instrumentation.js';
