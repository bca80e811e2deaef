// How a pool's session settings reach PostgreSQL through what sits in between, and what a transaction-mode pooler breaks.
import type pg from 'pg';
import type { PoolerMode } from './config.js';
import type { Logger } from './tracker.js';

export interface SessionSettings {
  poolerMode: PoolerMode;
  /** statement_timeout in ms; 0 = leave the server's own. */
  statementTimeoutMs: number;
  logger: Logger;
  /** The pool's name, for warnings. */
  poolName: string;
}

/**
 * The pg.Pool options that carry the settings. Directly, startup parameters (free: part of the connection's
 * first packet). PgBouncer refuses them (`unsupported startup parameter: statement_timeout`; its
 * ignore_startup_parameters would accept and drop them, and its track_extra_parameters takes only parameters
 * the server reports, which statement_timeout is not). In session mode the server connection is the client's
 * for its whole life, so one SET after connecting does (one round trip per connection, none per query). In
 * transaction mode each transaction may run on another server connection: a SET would stay behind on one
 * that another client gets next, so the timeout goes with each transaction as SET LOCAL, sent in BEGIN's own
 * round trip, and standalone statements get the role's setting on the server (checked once, below).
 */
export function sessionOptions(settings: SessionSettings): Pick<pg.PoolConfig, 'statement_timeout' | 'onConnect'> {
  const { poolerMode, statementTimeoutMs } = settings;
  if (poolerMode === 'none') return statementTimeoutMs > 0 ? { statement_timeout: statementTimeoutMs } : {};
  if (poolerMode === 'session') {
    if (statementTimeoutMs === 0) return {};
    const set = `SET statement_timeout = ${statementTimeoutMs}`;
    return { onConnect: async (client: pg.ClientBase) => void (await client.query(set)) };
  }
  const guard = new TransactionModeGuard(settings);
  return { onConnect: (client: pg.ClientBase) => guard.install(client as pg.Client) };
}

type QueryFunction = (this: pg.Client, config: unknown, values?: unknown, callback?: unknown) => unknown;
type QueryCallback = (error: Error | null, result?: unknown) => void;

/** BEGIN or START TRANSACTION at the start of a text (after whitespace). */
const BEGINS_TRANSACTION = /^\s*(begin|start\s+transaction)\b[^;]*;?\s*$/i;
const LISTEN = /^\s*listen\s/i;

/**
 * On each connection of a pool behind a transaction-mode pooler: adds SET LOCAL statement_timeout to every
 * BEGIN (the manager's transaction() and an ORM's alike; the caller still gets BEGIN's own result), and warns
 * once per pool about what does not survive that mode: a named prepared statement (pg's `name:`), prepared on
 * one server connection and executed on whichever the next transaction gets, and LISTEN, whose notifications
 * go to a server connection the client no longer holds. Installed only in transaction mode: no cost elsewhere.
 */
class TransactionModeGuard {
  private readonly warned = new Set<string>();
  private readonly setLocal: string;
  private checkedRoleSetting = false;

  constructor(private readonly settings: SessionSettings) {
    this.setLocal = settings.statementTimeoutMs > 0 ? `; SET LOCAL statement_timeout = ${settings.statementTimeoutMs}` : '';
  }

  async install(client: pg.Client): Promise<void> {
    if (!this.checkedRoleSetting && this.settings.statementTimeoutMs > 0) {
      this.checkedRoleSetting = true;
      await this.checkRoleSetting(client);
    }
    const query = client.query as QueryFunction;
    const guard = this.guarded.bind(this);
    (client as { query: QueryFunction }).query = function guardedQuery(this: pg.Client, config, values, callback) {
      return guard(this, query, config, values, callback);
    };
  }

  private guarded(client: pg.Client, query: QueryFunction, config: unknown, values: unknown, callback: unknown): unknown {
    {
      const text = typeof config === 'string' ? config : (config as { text?: unknown } | null)?.text;
      if (typeof text !== 'string') return query.call(client, config, values, callback);
      if (typeof config === 'object' && (config as { name?: unknown }).name) this.warnPrepared();
      if (LISTEN.test(text)) this.warnListen();
      if (this.setLocal === '' || !BEGINS_TRANSACTION.test(text) || typeof (config as { submit?: unknown }).submit === 'function') {
        return query.call(client, config, values, callback);
      }
      return this.begin(client, query, config, text, values, callback);
    }
  }

  /** BEGIN and SET LOCAL as one simple-protocol message (one round trip); pg answers it with an array of results. */
  private begin(client: pg.Client, query: QueryFunction, config: unknown, text: string, values: unknown, callback: unknown): unknown {
    const combined = `${text.trim().replace(/;$/, '')}${this.setLocal}`;
    const sent = typeof config === 'string' ? combined : { ...(config as object), text: combined };
    const first = (result: unknown): unknown => (Array.isArray(result) ? result[0] : result);
    const done = typeof callback === 'function' ? callback : typeof values === 'function' ? values : undefined;
    if (done) {
      const reply: QueryCallback = (error, result) => (done as QueryCallback)(error, error ? result : first(result));
      return done === values ? query.call(client, sent, reply) : query.call(client, sent, values, reply);
    }
    return (query.call(client, sent, values) as Promise<unknown>).then(first);
  }

  private async checkRoleSetting(client: pg.Client): Promise<void> {
    const { rows } = await client.query<{ ms: string }>(
      "SELECT (extract(epoch FROM current_setting('statement_timeout')::interval) * 1000)::bigint AS ms",
    );
    const serverMs = Number(rows[0]?.ms ?? 0);
    if (serverMs === this.settings.statementTimeoutMs) return;
    this.settings.logger.warn(
      `otel-pg-manager: pool "${this.settings.poolName}" is behind a transaction-mode pooler (poolerMode 'transaction'): ` +
        `statementTimeoutMs ${this.settings.statementTimeoutMs} is set with SET LOCAL in every transaction, but a statement ` +
        `outside one runs with the server's statement_timeout for this role and database, which is ${serverMs} ms. ` +
        `Set it on the server so that it holds for every server connection the pooler opens: ` +
        `ALTER ROLE <user> IN DATABASE <database> SET statement_timeout = ${this.settings.statementTimeoutMs}.`,
    );
  }

  private warnOnce(kind: string, message: string): void {
    if (this.warned.has(kind)) return;
    this.warned.add(kind);
    this.settings.logger.warn(`otel-pg-manager: pool "${this.settings.poolName}" is behind a transaction-mode pooler (poolerMode 'transaction'): ${message}`);
  }

  private warnPrepared(): void {
    this.warnOnce(
      'prepared',
      "a named prepared statement (pg's `name:` option) is prepared on one server connection and later run on whichever one the " +
        'next transaction gets, where it does not exist (26000) or exists already (42P05); PgBouncer 1.21 and newer track them with ' +
        'max_prepared_statements. Otherwise drop `name:` (or your library\'s prepared-statement option) or connect this pool in session mode.',
    );
  }

  private warnListen(): void {
    this.warnOnce(
      'listen',
      'LISTEN registers on the server connection of that one transaction, which the pooler hands to other clients afterwards: ' +
        'notifications are lost. Run listeners on a connection in session mode or a direct one (a second manager with poolerMode ' +
        "'session', or a pg.Client of your own).",
    );
  }
}

/**
 * PgBouncer's refusal of a startup parameter (08P01 "unsupported startup parameter: …"), which a manager with
 * poolerMode 'none' gets when it sends statement_timeout to a pooler: the same error, with what to do added.
 */
export function withPoolerAdvice(error: unknown): unknown {
  const cause = (error as { cause?: unknown } | null)?.cause;
  const target = error instanceof Error && /unsupported startup parameter/.test(error.message) ? error : cause instanceof Error && /unsupported startup parameter/.test(cause.message) ? cause : undefined;
  if (!target || target.message.includes('poolerMode')) return error;
  const advice =
    ' (a connection pooler, PgBouncer, refuses session settings at connect: tell the manager what is in between with ' +
    "poolerMode: 'transaction' or 'session' (DB_POOLER_MODE), which sets statement_timeout in a way the pooler passes on)";
  target.message += advice;
  if (target !== error && error instanceof Error) error.message += advice;
  return error;
}
