// Statements run on a leased client (getConnection, withConnection, transaction) reported to the
// trackers like query() calls. pg's client.query is wrapped once per connection; a lease points the
// wrapper at its pool while it holds the client, and query() leases (which report themselves) do not.
import type pg from 'pg';
import { isConnectionBroken, sqlstateOf } from '../sqlstate.js';
import type { LeasedStatement, QueryEvent, TrackedPool } from '../tracker.js';

/** Where a leased client's statements are reported: the pool that lent it. */
export interface StatementSink {
  /** Taken when a statement starts (the trackers' context, for span parenting). */
  statementContext(): unknown;
  statementFinished(sql: string, startTime: number, context: unknown, error: unknown, rowCount: number | null): void;
  /** Leak reports name the last text sent, so it is kept only while this is true. */
  readonly leakDetectionEnabled?: boolean;
}

const SINK = Symbol('otel-pg-manager.statement-sink');
/** Set on a client whose current lease ran LISTEN: it is held on purpose, to wait for notifications. */
const LISTENING = Symbol('otel-pg-manager.listening');
/**
 * Set on a client one of whose statements failed in a way that leaves the connection untrustworthy: above
 * all pg's own client deadline (query_timeout), after which the statement still runs on the server and the
 * next borrower's would queue behind it. Its lease closes it at release, whatever the borrower passes.
 */
export const STATEMENT_LOST = Symbol('otel-pg-manager.statement-lost');
/** The text of the last statement the current lease sent, for a leak report. */
const LAST_STATEMENT = Symbol('otel-pg-manager.last-statement');

/** LISTEN after any leading whitespace and comments; a scan, not a regex, so a long prefix costs linear time. */
function isListen(sql: string): boolean {
  let i = 0;
  for (;;) {
    const c = sql.charCodeAt(i);
    if (c === 32 || (c >= 9 && c <= 13)) i++;
    else if (c === 45 && sql.charCodeAt(i + 1) === 45) {
      const end = sql.indexOf('\n', i);
      if (end < 0) return false;
      i = end + 1;
    } else if (c === 47 && sql.charCodeAt(i + 1) === 42) {
      const end = sql.indexOf('*/', i + 2);
      if (end < 0) return false;
      i = end + 2;
    } else break;
  }
  // 108 is "l"; lower-casing by setting bit 5.
  return (sql.charCodeAt(i) | 32) === 108 && /^listen\s/i.test(sql.slice(i, i + 7));
}

export interface StatementReporting {
  [SINK]: StatementSink | undefined;
  [LISTENING]?: boolean;
  [STATEMENT_LOST]?: boolean;
  [LAST_STATEMENT]?: string;
}

type QueryCallback = (error: Error | null, result?: pg.QueryResult) => void;
type QueryFunction = (this: pg.Client, config: unknown, values?: unknown, callback?: unknown) => unknown;

/** Installs the reporting wrapper on a new connection; reporting stays off until a lease turns it on. */
export function installStatementReporting(client: pg.Client): void {
  const reporting = client as pg.Client & StatementReporting;
  const query = client.query as QueryFunction;
  reporting[SINK] = undefined;
  (reporting as { query: QueryFunction }).query = function reportedQuery(this: pg.Client, config, values, callback) {
    const sink = (this as pg.Client & StatementReporting)[SINK];
    // query()'s own leases (no sink) go straight through: that is the per-query hot path.
    if (sink === undefined) return query.call(this, config, values, callback);
    const sql = typeof config === 'string' ? config : (config as { text?: unknown } | null)?.text;
    // A text-less statement (a prepared name alone, a stream) leaves no text to name, rather than the one before it.
    if (sink.leakDetectionEnabled === true) (this as pg.Client & StatementReporting)[LAST_STATEMENT] = typeof sql === 'string' ? sql : undefined;
    if (typeof sql !== 'string') return query.call(this, config, values, callback);
    // Submittables (pg.Query, cursors, streams) report their own rows; they pass through untimed.
    if (typeof (config as { submit?: unknown }).submit === 'function') return query.call(this, config, values, callback);
    if (isListen(sql)) (this as pg.Client & StatementReporting)[LISTENING] = true;
    const startTime = performance.now();
    const context = sink.statementContext();
    const finished = (error: unknown, result: pg.QueryResult | undefined): void => {
      if (error && isConnectionBroken(error)) (this as pg.Client & StatementReporting)[STATEMENT_LOST] = true;
      sink.statementFinished(sql, startTime, context, error ?? undefined, result?.rowCount ?? null);
    };
    const reported = (done: QueryCallback): QueryCallback => (error, result) => {
      finished(error, result);
      done(error, result);
    };
    // pg lets a callback argument replace a function given as values.
    if (typeof callback === 'function') return query.call(this, config, values, reported(callback as QueryCallback));
    if (typeof values === 'function') return query.call(this, config, reported(values as QueryCallback));
    // Any other truthy callback is pg's to reject, untimed; a falsy one pg ignores.
    if (callback) return query.call(this, config, values, callback);
    const configCallback = typeof config === 'object' ? (config as { callback?: unknown }).callback : undefined;
    // pg copies the config (prototype and getters included) and lets a callback argument replace its own.
    if (typeof configCallback === 'function') return query.call(this, config, values, reported(configCallback as QueryCallback));
    const pending = query.call(this, config, values) as Promise<pg.QueryResult>;
    // The caller gets a promise that rejects like pg's, so one nobody handles is still reported as unhandled.
    return pending.then(
      (result) => {
        finished(undefined, result);
        return result;
      },
      (error: unknown) => {
        finished(error, undefined);
        throw error;
      },
    );
  };
}

/** Turns reporting on (a sink) or off (undefined) for the client's current lease; a new lease has not run LISTEN yet. */
export function reportStatementsTo(client: pg.PoolClient, sink: StatementSink | undefined): void {
  const reporting = client as pg.PoolClient & StatementReporting;
  reporting[SINK] = sink;
  reporting[LISTENING] = false;
  reporting[LAST_STATEMENT] = undefined;
}

type ActiveStatement = { text?: unknown; name?: unknown; cursor?: { text?: unknown } };
type PgConnectionState = { _activeQuery?: ActiveStatement | null; connection?: { parsedStatements?: Record<string, string> } };

/** The text of pg's running statement: its own, a prepared one's by its name, or a stream's cursor's. */
function activeText(state: PgConnectionState, active: ActiveStatement): unknown {
  if (typeof active.text === 'string') return active.text;
  if (typeof active.name === 'string') return state.connection?.parsedStatements?.[active.name];
  return active.cursor?.text;
}

/**
 * The statement pg is running on the client (its `_activeQuery`: what query() leases and pool.query() run, or one an
 * earlier borrower sent and did not wait for), else the last one the lease sent through the wrapper. Read only when
 * a leak is reported. A prepared statement run by name alone is named by the text pg prepared it with.
 */
export function leasedStatement(client: pg.Client): LeasedStatement | undefined {
  const state = client as unknown as PgConnectionState;
  const active = state._activeQuery;
  if (active != null) {
    const text = activeText(state, active);
    return typeof text === 'string' ? { sql: text, running: true } : undefined;
  }
  const last = (client as pg.Client & StatementReporting)[LAST_STATEMENT];
  return last === undefined ? undefined : { sql: last, running: false };
}

/**
 * True when the client's current lease ran LISTEN: a client kept to wait for notifications
 * (graphile-worker's, pg-boss's, an app's own listener) is held on purpose, not leaked.
 */
export function isListening(client: pg.PoolClient): boolean {
  return (client as pg.PoolClient & StatementReporting)[LISTENING] === true;
}

/** Takes the wrapper off again (the zero-code instrumentation handing a client back to pg, or to a manager that installs its own). */
export function uninstallStatementReporting(client: pg.Client): void {
  if (!(SINK in client)) return;
  const reporting = client as pg.Client & StatementReporting;
  delete (reporting as Partial<StatementReporting>)[SINK];
  delete (reporting as Partial<StatementReporting>)[LISTENING];
  delete (reporting as Partial<StatementReporting>)[STATEMENT_LOST];
  delete (reporting as Partial<StatementReporting>)[LAST_STATEMENT];
  delete (reporting as { query?: unknown }).query;
}

/** True once installStatementReporting() has run on the client. */
export function isStatementReporting(client: pg.Client): boolean {
  return SINK in client;
}

/**
 * One finished query()/read() call or leased statement as the trackers receive it, built in this one place so that every
 * event has the same shape. `executionStart`: when the last attempt had its connection (undefined when none was had).
 */
export function finishedQueryEvent(
  pool: TrackedPool,
  sql: string,
  startTime: number,
  executionStart: number | undefined,
  context: unknown,
  error: unknown,
  rowCount: number | null,
  attempts: number,
  fromLease: boolean,
  stated?: { readonly operationName?: string; readonly collectionName?: string },
): QueryEvent {
  const now = performance.now();
  return {
    pool,
    sql,
    startTime,
    durationSeconds: (now - startTime) / 1000,
    executionSeconds: executionStart === undefined ? undefined : (now - executionStart) / 1000,
    error,
    sqlstate: error === undefined ? undefined : sqlstateOf(error),
    rowCount,
    attempts,
    context,
    fromLease,
    operationName: stated?.operationName,
    collectionName: stated?.collectionName,
  };
}

/** One statement run on a client outside a manager's query(): one attempt, timed from when it was sent. */
export function leasedStatementEvent(
  pool: TrackedPool,
  sql: string,
  startTime: number,
  context: unknown,
  error: unknown,
  rowCount: number | null,
): QueryEvent {
  return finishedQueryEvent(pool, sql, startTime, startTime, context, error, rowCount, 1, true);
}
