// The attribute sets and histogram recorders of each pool, built once and bounded.
import type { Attributes } from '@opentelemetry/api';
import {
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_NAMESPACE,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_SUMMARY,
  ATTR_DB_RESPONSE_STATUS_CODE,
  ATTR_DB_SYSTEM_NAME,
  ATTR_ERROR_TYPE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
} from '@opentelemetry/semantic-conventions';
import {
  ATTR_DB_CLIENT_CONNECTION_POOL_NAME,
  ATTR_DB_CLIENT_CONNECTION_STATE,
  DB_CLIENT_CONNECTION_STATE_VALUE_IDLE,
  DB_CLIENT_CONNECTION_STATE_VALUE_USED,
} from '@opentelemetry/semantic-conventions/incubating';
import type { QueryShape } from '../../sql/shape.js';
import type { TrackedPool } from '../../tracker.js';
import type { HistogramRecorder, HistogramSpec } from './metric-producer.js';
import { ATTR_PG_MANAGER_OUTCOME, CREATE_TIME, OPERATION_DURATION, USE_TIME, WAIT_TIME } from './names.js';

// A bound for caches keyed by things the tracker does not control.
const MAX_ATTRIBUTE_SETS = 1000;

/** Builds the recorder of one histogram for one attribute set: an SDK instrument, or the in-process producer. */
export type RecorderFactory = (spec: HistogramSpec, attributes: Attributes) => HistogramRecorder;

/** A prebuilt attribute set with the recorder of its operation-duration series. */
export interface OperationSeries {
  readonly attributes: Attributes;
  readonly duration: HistogramRecorder;
}

/** db.operation.name and db.collection.name of one call: stated by its caller, or parsed from its text when asked. */
export interface OperationNames {
  readonly operationName?: string | undefined;
  readonly collectionName?: string | undefined;
}

/** The series key of a shape and names: the summary alone in the usual case, so looking a series up builds no string. */
function seriesKey(shape: QueryShape, names: OperationNames | undefined): string {
  if (names === undefined || (names.operationName === undefined && names.collectionName === undefined)) return shape.summary;
  return `${shape.summary}\u0000${names.operationName ?? ''}\u0000${names.collectionName ?? ''}`;
}

/** Attribute sets and recorders of one pool, built once so that recording a measurement allocates nothing. */
export class PoolSeries {
  readonly common: Attributes;
  readonly used: Attributes;
  readonly idle: Attributes;
  /** Waits that obtained a connection: the only ones db.client.connection.wait_time measures (names.ts). */
  readonly waitAcquired: HistogramRecorder;
  readonly useTime: HistogramRecorder;
  readonly createTime: HistogramRecorder;
  /** Span attributes shared by every span of this pool. */
  readonly span: Attributes;
  // Keyed by the shape's db.query.summary, which many texts share, so a new text usually
  // finds its series already built; bounded, as summaries come from the application's SQL.
  private readonly succeeded = new Map<string, OperationSeries>();
  private readonly failed = new Map<string, OperationSeries>();
  private readonly retried = new Map<string, Attributes>();

  constructor(
    readonly pool: TrackedPool,
    private readonly recorder: RecorderFactory,
  ) {
    this.common = { [ATTR_DB_CLIENT_CONNECTION_POOL_NAME]: pool.name, [ATTR_DB_SYSTEM_NAME]: DB_SYSTEM_NAME_VALUE_POSTGRESQL };
    this.used = { ...this.common, [ATTR_DB_CLIENT_CONNECTION_STATE]: DB_CLIENT_CONNECTION_STATE_VALUE_USED };
    this.idle = { ...this.common, [ATTR_DB_CLIENT_CONNECTION_STATE]: DB_CLIENT_CONNECTION_STATE_VALUE_IDLE };
    this.waitAcquired = recorder(WAIT_TIME, { ...this.common, [ATTR_PG_MANAGER_OUTCOME]: 'acquired' });
    this.useTime = recorder(USE_TIME, this.common);
    this.createTime = recorder(CREATE_TIME, this.common);
    this.span = {
      ...this.common,
      // PostgreSQL's db.namespace is `{database}|{schema}`; the schema is not known without a query, so the database alone.
      [ATTR_DB_NAMESPACE]: pool.server.database,
      [ATTR_SERVER_ADDRESS]: pool.server.address,
      [ATTR_SERVER_PORT]: pool.server.port,
    };
  }

  operation(shape: QueryShape, names: OperationNames | undefined): OperationSeries {
    const key = seriesKey(shape, names);
    let series = this.succeeded.get(key);
    if (series === undefined) {
      series = this.operationSeries(this.withShape(shape, names));
      remember(this.succeeded, key, series);
    }
    return series;
  }

  failedOperation(shape: QueryShape, names: OperationNames | undefined, errorType: string, sqlstate: string | undefined): OperationSeries {
    const key = `${seriesKey(shape, names)}\u0000${errorType}`;
    let series = this.failed.get(key);
    if (series === undefined) {
      const attributes = this.withShape(shape, names);
      attributes[ATTR_ERROR_TYPE] = errorType;
      if (sqlstate !== undefined) attributes[ATTR_DB_RESPONSE_STATUS_CODE] = sqlstate;
      series = this.operationSeries(attributes);
      remember(this.failed, key, series);
    }
    return series;
  }

  private operationSeries(attributes: Attributes): OperationSeries {
    return { attributes, duration: this.recorder(OPERATION_DURATION, attributes) };
  }

  retry(errorType: string, sqlstate: string | undefined): Attributes {
    let attributes = this.retried.get(errorType);
    if (attributes === undefined) {
      attributes = { ...this.common, [ATTR_ERROR_TYPE]: errorType };
      if (sqlstate !== undefined) attributes[ATTR_DB_RESPONSE_STATUS_CODE] = sqlstate;
      remember(this.retried, errorType, attributes);
    }
    return attributes;
  }

  private withShape(shape: QueryShape, names: OperationNames | undefined): Attributes {
    // db.namespace is conditionally required on the operation metrics "if available", and it is; server.address and
    // server.port are Recommended and Conditionally Required, and a pool has one server.
    const attributes: Attributes = {
      ...this.common,
      [ATTR_DB_NAMESPACE]: this.pool.server.database,
      [ATTR_SERVER_ADDRESS]: this.pool.server.address,
      [ATTR_SERVER_PORT]: this.pool.server.port,
    };
    if (shape.summary) attributes[ATTR_DB_QUERY_SUMMARY] = shape.summary;
    if (names?.operationName !== undefined) attributes[ATTR_DB_OPERATION_NAME] = names.operationName;
    if (names?.collectionName !== undefined) attributes[ATTR_DB_COLLECTION_NAME] = names.collectionName;
    return attributes;
  }
}

/** Inserts into a map that must stay bounded, forgetting the oldest entry first. */
function remember<K, V>(map: Map<K, V>, key: K, value: V): void {
  if (map.size >= MAX_ATTRIBUTE_SETS) {
    const oldest = map.keys().next();
    if (!oldest.done) map.delete(oldest.value);
  }
  map.set(key, value);
}
