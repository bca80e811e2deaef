// The span side of the tracker: slow, failed and retried query spans, leak spans, and what they may say about errors.
import {
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  trace,
  type Attributes,
  type Context,
  type SpanContext,
  type Tracer,
} from '@opentelemetry/api';
import {
  ATTR_CODE_STACKTRACE,
  ATTR_DB_COLLECTION_NAME,
  ATTR_DB_OPERATION_NAME,
  ATTR_DB_QUERY_SUMMARY,
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_RESPONSE_STATUS_CODE,
  ATTR_ERROR_TYPE,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
  ERROR_TYPE_VALUE_OTHER,
} from '@opentelemetry/semantic-conventions';
import { ATTR_DB_RESPONSE_RETURNED_ROWS } from '@opentelemetry/semantic-conventions/incubating';
import { PgManagerError } from '../../errors.js';
import { MAX_NORMALIZED_LENGTH } from '../../sql/renderer.js';
import type { QueryShape } from '../../sql/shape.js';
import { sharedShapes } from '../../sql/shape-cache.js';
import { isConnectionBroken, sqlstateOf } from '../../sqlstate.js';
import type { LeakEvent, QueryEvent } from '../../tracker.js';
import { wallClockMs } from '../wall-clock.js';
import {
  ATTR_PG_MANAGER_ATTEMPTS,
  ATTR_PG_MANAGER_LEASE_HELD_SECONDS,
  ATTR_PG_MANAGER_LEASE_ID,
  ATTR_PG_MANAGER_LEASE_STATEMENT_RUNNING,
  SPAN_NAME_LEAK,
  SPAN_NAME_LEAK_RESOLVED,
} from './names.js';
import type { OperationNames } from './pool-series.js';
import { describeSqlstate } from './sqlstate-names.js';

const MAX_STATUS_MESSAGE = 512;
// A bound for a cache keyed by things the tracker does not control.
const MAX_REMEMBERED_LEAKS = 1000;

/** `error.type`: the SQLSTATE when the server gave one, else a Node error code or the error class, else `_OTHER`. */
export function errorTypeOf(error: unknown, sqlstate: string | undefined): string {
  if (sqlstate !== undefined) return sqlstate;
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    if (typeof code === 'string' && /^E[A-Z_]+$/.test(code)) return code;
    if (error.name && error.name !== 'Error') return error.name;
  }
  return ERROR_TYPE_VALUE_OTHER;
}

const bounded = (message: string): string => (message.length > MAX_STATUS_MESSAGE ? `${message.slice(0, MAX_STATUS_MESSAGE)}…` : message);

/**
 * The span status description. Any SQLSTATE class can carry data in the server's message (a RAISE formats whatever
 * it is given, a trigger or a constraint quotes values), so by default a server error is described by its SQLSTATE
 * and condition name (`40001 serialization_failure`), never its message. The package's own errors keep their text
 * (a timeout, a lost connection: written here, with no data), unless it quotes a server error; a dead connection is
 * described by pg's or Node's own words; anything else by its error type. `recordServerMessages` restores the message.
 */
export function statusDescription(error: unknown, sqlstate: string | undefined, recordServerMessages: boolean): string {
  // Only Error messages: an arbitrary thrown value could be anything, including the data itself.
  if (recordServerMessages && error instanceof Error) return bounded(error.message);
  if (sqlstate !== undefined) return describeSqlstate(sqlstate);
  if (error instanceof PgManagerError) {
    // RetryExhaustedError and the like name their cause's message: a server error is described by its code instead.
    const causeState = sqlstateOf(error.cause);
    return causeState === undefined ? bounded(error.message) : `${error.name}: ${describeSqlstate(causeState)}`;
  }
  if (error instanceof Error && isConnectionBroken(error)) return bounded(`connection lost: ${error.message}`);
  return errorTypeOf(error, undefined);
}

/** db.query.text: a parameterized text as its caller wrote it (bounded), any other normalized (literals replaced). */
function queryText(sql: string, shape: QueryShape): string {
  if (!shape.parameterized) return shape.normalized;
  return sql.length > MAX_NORMALIZED_LENGTH ? `${sql.slice(0, MAX_NORMALIZED_LENGTH - 2)} …` : sql;
}

/**
 * The conventions' span name: `{db.query.summary}`; without one, `{db.operation.name} {target}`, or the target alone,
 * with the names the caller stated; else `{db.system.name}`.
 */
function spanName(shape: QueryShape, names: OperationNames | undefined): string {
  if (shape.summary) return shape.summary;
  const operation = names?.operationName;
  const target = names?.collectionName;
  if (operation !== undefined) return target === undefined ? operation : `${operation} ${target}`;
  return target ?? DB_SYSTEM_NAME_VALUE_POSTGRESQL;
}

function isContext(value: unknown): value is Context {
  return typeof value === 'object' && value !== null && typeof (value as Context).getValue === 'function';
}

function leakAttributes(poolAttributes: Attributes, event: LeakEvent): Attributes {
  const attributes: Attributes = {
    ...poolAttributes,
    [ATTR_PG_MANAGER_LEASE_ID]: event.leaseId,
    [ATTR_PG_MANAGER_LEASE_HELD_SECONDS]: event.heldSeconds,
  };
  if (event.stack !== undefined) attributes[ATTR_CODE_STACKTRACE] = event.stack;
  // The statement the connection was running or ran last, shown as a query span shows its text.
  if (event.statement !== undefined) {
    const shape = sharedShapes.shape(event.statement.sql);
    attributes[ATTR_DB_QUERY_TEXT] = queryText(event.statement.sql, shape);
    if (shape.summary) attributes[ATTR_DB_QUERY_SUMMARY] = shape.summary;
    attributes[ATTR_PG_MANAGER_LEASE_STATEMENT_RUNNING] = event.statement.running;
  }
  return attributes;
}

/** Writes the tracker's spans; `poolAttributes` are the span attributes every span of the event's pool carries. */
export class TrackerSpans {
  private readonly leakSpans = new Map<number, SpanContext>();

  constructor(
    private readonly tracer: Tracer,
    private readonly requireParentSpan: boolean,
    private readonly recordServerMessages: boolean,
  ) {}

  /** The span of one logical call, created after the fact with its true start, under the context active when it began. */
  query(event: QueryEvent, poolAttributes: Attributes, shape: QueryShape, names: OperationNames | undefined, errorType: string | undefined): void {
    const parent = isContext(event.context) ? event.context : ROOT_CONTEXT;
    if (this.requireParentSpan && trace.getSpan(parent) === undefined) return;
    const attributes: Attributes = {
      ...poolAttributes,
      [ATTR_DB_QUERY_TEXT]: queryText(event.sql, shape),
      [ATTR_PG_MANAGER_ATTEMPTS]: event.attempts,
    };
    if (shape.summary) attributes[ATTR_DB_QUERY_SUMMARY] = shape.summary;
    if (names?.operationName !== undefined) attributes[ATTR_DB_OPERATION_NAME] = names.operationName;
    if (names?.collectionName !== undefined) attributes[ATTR_DB_COLLECTION_NAME] = names.collectionName;
    if (event.rowCount !== null) attributes[ATTR_DB_RESPONSE_RETURNED_ROWS] = event.rowCount;
    if (errorType !== undefined) {
      attributes[ATTR_ERROR_TYPE] = errorType;
      if (event.sqlstate !== undefined) attributes[ATTR_DB_RESPONSE_STATUS_CODE] = event.sqlstate;
    }
    const startTime = wallClockMs(event.startTime);
    const span = this.tracer.startSpan(spanName(shape, names), { kind: SpanKind.CLIENT, startTime, attributes }, parent);
    if (errorType !== undefined) {
      span.setStatus({ code: SpanStatusCode.ERROR, message: statusDescription(event.error, event.sqlstate, this.recordServerMessages) });
    }
    span.end(startTime + event.durationSeconds * 1000);
  }

  leakDetected(poolAttributes: Attributes, event: LeakEvent): void {
    const now = Date.now();
    // The span covers the lease from its acquisition to the moment it was found leaked, as a root:
    // the sweep that finds it runs outside any request.
    const span = this.tracer.startSpan(
      SPAN_NAME_LEAK,
      { kind: SpanKind.INTERNAL, startTime: now - event.heldSeconds * 1000, attributes: leakAttributes(poolAttributes, event) },
      ROOT_CONTEXT,
    );
    span.setStatus({ code: SpanStatusCode.ERROR, message: `connection not released after ${event.heldSeconds.toFixed(1)} s` });
    span.end(now);
    if (this.leakSpans.size >= MAX_REMEMBERED_LEAKS) {
      const oldest = this.leakSpans.keys().next();
      if (!oldest.done) this.leakSpans.delete(oldest.value);
    }
    this.leakSpans.set(event.leaseId, span.spanContext());
  }

  /** A span for a leaked lease that came back, linked to the span of its detection while that is remembered. */
  leakResolved(poolAttributes: Attributes, event: LeakEvent): void {
    const detected = this.leakSpans.get(event.leaseId);
    this.leakSpans.delete(event.leaseId);
    const now = Date.now();
    const span = this.tracer.startSpan(
      SPAN_NAME_LEAK_RESOLVED,
      {
        kind: SpanKind.INTERNAL,
        startTime: now - event.heldSeconds * 1000,
        attributes: leakAttributes(poolAttributes, event),
        links: detected ? [{ context: detected }] : [],
      },
      ROOT_CONTEXT,
    );
    span.end(now);
  }

  clear(): void {
    this.leakSpans.clear();
  }
}
