// The trackers a manager attaches itself when monitoring is enabled: the in-process monitor and the OpenTelemetry tracker.
import type { ManagerConfig } from '../config.js';
import { loadSqlParser } from '../sql/parser.js';
import { ConnectionMonitor } from '../telemetry/monitor/monitor.js';
import type { MonitorSettings } from '../telemetry/monitor/report.js';
import { createOtelTracker } from '../telemetry/otel/otel-tracker.js';
import type { TelemetryOptions } from '../telemetry/otel/telemetry-options.js';
import type { Logger, PoolTracker } from '../tracker.js';

export interface BuiltInTrackerSettings {
  telemetry: TelemetryOptions | undefined;
  monitor: MonitorSettings | undefined;
}

/**
 * Loads libpg-query when it is the normalizer, then adds the monitor and the OpenTelemetry tracker.
 * Throws ConfigError on bad monitor or telemetry settings; a monitor already added is closed with the trackers.
 */
export async function attachBuiltInTrackers(
  config: ManagerConfig,
  logger: Logger,
  settings: BuiltInTrackerSettings,
  add: (tracker: PoolTracker) => void,
): Promise<ConnectionMonitor> {
  // The benchmark's cache-miss workload showed the parser costing twice the scanner per new text,
  // so it is opt-in; loaded once, before the first query.
  if (config.sqlNormalizer === 'libpg-query' && !(await loadSqlParser())) {
    logger.warn('otel-pg-manager: libpg-query could not be loaded; SQL is normalized by the scanner');
  }
  const { slowQueryThresholdMs } = config;
  const monitor = new ConnectionMonitor({ ...settings.monitor, slowQueryThresholdMs, logger });
  add(monitor);
  add(createOtelTracker({ ...settings.telemetry, slowQueryThresholdMs, logger }));
  return monitor;
}
