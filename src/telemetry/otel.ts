// OpenTelemetry tracker: semantic-convention pool metrics, slow/failed query spans, leak events. (Being built: issue 5.)
import type { MeterProvider, TracerProvider } from '@opentelemetry/api';
import type { PoolTracker } from './tracker.js';

export interface TelemetryOptions {
  /** Defaults to the global meter provider (a no-op until the app registers an SDK). */
  meterProvider?: MeterProvider;
  /** Defaults to the global tracer provider. */
  tracerProvider?: TracerProvider;
}

export interface OtelTrackerOptions extends TelemetryOptions {
  slowQueryThresholdMs: number;
}

export function createOtelTracker(_options: OtelTrackerOptions): PoolTracker {
  return {};
}
