// pg.Clients that no pg-pool owns (a LISTEN client, Slonik's, Knex's or Sequelize's own pools), grouped by the
// server they reach and the package that opened them. A lone client cannot tell waits inside another library's
// pool, nor when that library considers it borrowed: only connects, statements and open connections are seen.
import type pg from 'pg';
import { installStatementReporting, isStatementReporting, leasedStatementEvent, reportStatementsTo, uninstallStatementReporting, type StatementSink } from '../pool/statement-reporting.js';
import type { PoolCountsSnapshot, TrackedPool, TrackerFanout } from '../tracker.js';

type ClientState = pg.Client & { _activeQuery?: unknown; _queryQueue?: unknown[] };

const PG_FRAME = /[\\/]node_modules[\\/](pg|pg-pool|pg-protocol)[\\/]/;
const PACKAGE_FRAME = /[\\/]node_modules[\\/]((?:@[^\\/]+[\\/])?[^\\/]+)[\\/]/;

/**
 * Who opened a client: the package of the first frame outside pg and this package (`pg-boss`, `knex`), or `app`.
 * `ownDir` is this package's folder (src/ or dist/).
 */
export function openerOf(stack: string | undefined, ownDir: string): string {
  for (const line of (stack ?? '').split('\n').slice(1)) {
    if (!line.includes('/') && !line.includes('\\')) continue;
    if (line.includes('node:internal') || line.includes(ownDir) || PG_FRAME.test(line)) continue;
    const match = PACKAGE_FRAME.exec(line);
    return match ? match[1]!.replace('\\', '/') : 'app';
  }
  return 'app';
}

/** One (server, opener) group of lone clients, reported as a pool of its own. */
export class ClientGroup implements TrackedPool, StatementSink {
  readonly role = 'primary' as const;
  readonly min = 0;
  private readonly open = new Set<ClientState>();

  constructor(
    readonly name: string,
    readonly server: TrackedPool['server'],
    public trackers: TrackerFanout,
  ) {}

  /** No pool limit to read: the limit reported is the connections open now. */
  get max(): number {
    return this.open.size;
  }

  counts(): PoolCountsSnapshot {
    let used = 0;
    for (const client of this.open) if (client._activeQuery != null || (client._queryQueue?.length ?? 0) > 0) used++;
    return { total: this.open.size, idle: this.open.size - used, waiting: 0, opening: 0 };
  }

  /** client.connect(), timed; whatever pg returns is returned. */
  connect(client: pg.Client, original: (this: pg.Client, callback?: unknown) => unknown, callback: unknown): unknown {
    const start = performance.now();
    if (!isStatementReporting(client)) installStatementReporting(client);
    reportStatementsTo(client as pg.PoolClient, this);
    const opened = (error: unknown): void => {
      if (error) return;
      this.open.add(client);
      this.trackers.connectionCreated(this, (performance.now() - start) / 1000);
    };
    if (typeof callback === 'function') {
      return original.call(client, (error: unknown) => {
        opened(error);
        return (callback as (error: unknown) => unknown)(error);
      });
    }
    const promise = original.call(client) as Promise<void>;
    promise.then(() => opened(undefined), (error: unknown) => opened(error ?? new Error('connect failed')));
    return promise;
  }

  ended(client: pg.Client): void {
    this.open.delete(client);
  }

  statementContext(): unknown {
    return this.trackers.captureContext();
  }

  statementFinished(sql: string, startTime: number, context: unknown, error: unknown, rowCount: number | null): void {
    this.trackers.queryFinished(leasedStatementEvent(this, sql, startTime, context, error, rowCount));
  }

  detach(): void {
    for (const client of this.open) uninstallStatementReporting(client);
    this.open.clear();
  }
}
