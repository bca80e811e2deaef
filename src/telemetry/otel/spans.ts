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
  ATTR_DB_QUERY_TEXT,
  ATTR_DB_RESPONSE_STATUS_CODE,
  ATTR_ERROR_TYPE,
  DB_SYSTEM_NAME_VALUE_POSTGRESQL,
  ERROR_TYPE_VALUE_OTHER,
} from '@opentelemetry/semantic-conventions';
import { ATTR_DB_RESPONSE_RETURNED_ROWS } from '@opentelemetry/semantic-conventions/incubating';
import type { QueryShape } from '../../sql/shape.js';
import type { LeakEvent, QueryEvent } from '../../tracker.js';
import { wallClockMs } from '../wall-clock.js';
import {
  ATTR_PG_MANAGER_ATTEMPTS,
  ATTR_PG_MANAGER_LEASE_HELD_SECONDS,
  ATTR_PG_MANAGER_LEASE_ID,
  SPAN_NAME_LEAK,
  SPAN_NAME_LEAK_RESOLVED,
} from './names.js';

// SQLSTATE classes whose messages and details echo the data: 22 (data exception), 23 (integrity
// constraint violation), and P0 (PL/pgSQL RAISE, whose text is whatever the function formatted);
// and 42601, whose "syntax error at or near" can quote a literal of un-parameterized SQL.
const DATA_ECHOING_CLASSES = ['22', '23', 'P0'];
const DATA_ECHOING_STATES = ['42601'];
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

/** The span status message: the error's own message, except where PostgreSQL puts data into it. */
function statusMessage(error: unknown, sqlstate: string | undefined): string {
  if (sqlstate !== undefined && (DATA_ECHOING_CLASSES.includes(sqlstate.slice(0, 2)) || DATA_ECHOING_STATES.includes(sqlstate))) {
    return `PostgreSQL error ${sqlstate} (message withheld: it can contain data)`;
  }
  // Only Error messages: an arbitrary thrown value could be anything, including the data itself.
  const message = error instanceof Error ? error.message : 'a non-Error value was thrown';
  return message.length > MAX_STATUS_MESSAGE ? `${message.slice(0, MAX_STATUS_MESSAGE)}…` : message;
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
  return attributes;
}

/** Writes the tracker's spans; `poolAttributes` are the span attributes every span of the event's pool carries. */
export class TrackerSpans {
  private readonly leakSpans = new Map<number, SpanContext>();

  constructor(
    private readonly tracer: Tracer,
    private readonly requireParentSpan: boolean,
  ) {}

  /** The span of one logical call, created after the fact with its true start, under the context active when it began. */
  query(event: QueryEvent, poolAttributes: Attributes, shape: QueryShape, errorType: string | undefined): void {
    const parent = isContext(event.context) ? event.context : ROOT_CONTEXT;
    if (this.requireParentSpan && trace.getSpan(parent) === undefined) return;
    const attributes: Attributes = {
      ...poolAttributes,
      [ATTR_DB_QUERY_TEXT]: shape.normalized,
      [ATTR_PG_MANAGER_ATTEMPTS]: event.attempts,
    };
    if (shape.operation) attributes[ATTR_DB_OPERATION_NAME] = shape.operation;
    if (shape.collection) attributes[ATTR_DB_COLLECTION_NAME] = shape.collection;
    if (event.rowCount !== null) attributes[ATTR_DB_RESPONSE_RETURNED_ROWS] = event.rowCount;
    if (errorType !== undefined) {
      attributes[ATTR_ERROR_TYPE] = errorType;
      if (event.sqlstate !== undefined) attributes[ATTR_DB_RESPONSE_STATUS_CODE] = event.sqlstate;
    }
    const name = shape.summary || DB_SYSTEM_NAME_VALUE_POSTGRESQL;
    const startTime = wallClockMs(event.startTime);
    const span = this.tracer.startSpan(name, { kind: SpanKind.CLIENT, startTime, attributes }, parent);
    if (errorType !== undefined) span.setStatus({ code: SpanStatusCode.ERROR, message: statusMessage(event.error, event.sqlstate) });
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
