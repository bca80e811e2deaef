// The package's own metric, attribute and span names, and the bucket specs of the histograms it records.
import { METRIC_DB_CLIENT_OPERATION_DURATION } from '@opentelemetry/semantic-conventions';
import {
  METRIC_DB_CLIENT_CONNECTION_CREATE_TIME,
  METRIC_DB_CLIENT_CONNECTION_USE_TIME,
  METRIC_DB_CLIENT_CONNECTION_WAIT_TIME,
} from '@opentelemetry/semantic-conventions/incubating';
import type { HistogramSpec } from './metric-producer.js';

// Package extensions: not in the semantic conventions, so they live under their own prefix.
/** Counter `{lease}`: leases held past the leak-detection threshold. */
export const METRIC_PG_MANAGER_CONNECTION_LEAKS = 'pg_manager.connection.leaks';
/** Counter `{query}`: logical calls at or above the slow-query threshold. */
export const METRIC_PG_MANAGER_SLOW_QUERIES = 'pg_manager.slow_queries';
/** Counter `{retry}`: attempts that failed and were tried again. */
export const METRIC_PG_MANAGER_RETRIES = 'pg_manager.retries';
/**
 * On `db.client.connection.wait_time`: always `acquired` since 0.2.0, when timed-out and failed waits left the metric;
 * kept so that rules written for 0.1 (`pg_manager_outcome="acquired"`) still match. Removed in 1.0.
 */
export const ATTR_PG_MANAGER_OUTCOME = 'pg_manager.outcome';
/** On query spans: attempts made by the logical call (1 = no retry). */
export const ATTR_PG_MANAGER_ATTEMPTS = 'pg_manager.attempts';
/** On leak spans: the lease id, to match a late return with its detection. */
export const ATTR_PG_MANAGER_LEASE_ID = 'pg_manager.lease.id';
/** On leak spans: seconds the lease had been held. */
export const ATTR_PG_MANAGER_LEASE_HELD_SECONDS = 'pg_manager.lease.held_seconds';
/** On a leak span with db.query.text: true when that statement was still running at detection, false when it was the last one sent. */
export const ATTR_PG_MANAGER_LEASE_STATEMENT_RUNNING = 'pg_manager.lease.statement_running';
export const SPAN_NAME_LEAK = 'pg_manager.connection.leak';
export const SPAN_NAME_LEAK_RESOLVED = 'pg_manager.connection.leak_resolved';

// Bucket boundaries are in seconds: the SDK's default buckets are millisecond-scale and would put every sample in the first one.
export const OPERATION_DURATION: HistogramSpec = {
  name: METRIC_DB_CLIENT_OPERATION_DURATION,
  unit: 's',
  description: 'Duration of database client operations (one logical call, retries included).',
  boundaries: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10],
};
export const WAIT_TIME: HistogramSpec = {
  name: METRIC_DB_CLIENT_CONNECTION_WAIT_TIME,
  unit: 's',
  // Only waits that obtained a connection, as the conventions define the metric: a timed-out wait is counted by
  // db.client.connection.timeouts (its length is the timeout), and a failed connect fails its operation (error.type).
  description: 'The time it took to obtain an open connection from the pool.',
  // Handing out an idle connection takes microseconds; waiting in the queue can last up to the timeout.
  boundaries: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
};
export const USE_TIME: HistogramSpec = {
  name: METRIC_DB_CLIENT_CONNECTION_USE_TIME,
  unit: 's',
  description: 'The time between borrowing a connection and returning it to the pool.',
  boundaries: [0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300],
};
export const CREATE_TIME: HistogramSpec = {
  name: METRIC_DB_CLIENT_CONNECTION_CREATE_TIME,
  unit: 's',
  description: 'The time it took to create a new connection.',
  boundaries: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
};
export const HISTOGRAMS = [OPERATION_DURATION, WAIT_TIME, USE_TIME, CREATE_TIME];
