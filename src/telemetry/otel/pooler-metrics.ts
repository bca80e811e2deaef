// PgBouncer's admin console as metrics, under the names of the Prometheus community's pgbouncer_exporter.
import type { Attributes, BatchObservableResult, Meter, Observable } from '@opentelemetry/api';
import { ATTR_DB_CLIENT_CONNECTION_POOL_NAME } from '@opentelemetry/semantic-conventions/incubating';
import type { PoolerSample } from '../../tracker.js';

/**
 * The names pgbouncer_exporter gives these columns (`pgbouncer_pools_client_waiting_connections`, …), so dashboards
 * and alerts written for it work on these too; attributes `database` and `user` as there, and
 * `db.client.connection.pool.name`, the client pool that connects through it. The semantic conventions
 * have no names for a pooler's own queue: `db.client.connection.*` describe the client pool, which these sit beside.
 * Every instance that reads the console reports the same pooler-wide figures: aggregate them with max(), not sum().
 */
export const POOLER_METRICS = {
  clientActive: 'pgbouncer.pools.client.active_connections',
  clientWaiting: 'pgbouncer.pools.client.waiting_connections',
  serverActive: 'pgbouncer.pools.server.active_connections',
  serverIdle: 'pgbouncer.pools.server.idle_connections',
  serverUsed: 'pgbouncer.pools.server.used_connections',
  serverTesting: 'pgbouncer.pools.server.testing_connections',
  serverLogin: 'pgbouncer.pools.server.login_connections',
  maxWait: 'pgbouncer.pools.client.maxwait_seconds',
  poolSize: 'pgbouncer.databases.pool_size',
  transactions: 'pgbouncer.stats.sql_transactions_pooled',
  queries: 'pgbouncer.stats.queries_pooled',
  waitTime: 'pgbouncer.stats.client_wait_seconds',
} as const;

/** Observed at collection time from the latest reading; instruments are made on the first one, so none exist without a console. */
export class PoolerMetrics {
  private latest: PoolerSample | undefined;
  private readonly observables: Observable[];
  private readonly callback: (result: BatchObservableResult) => void;

  constructor(private readonly meter: Meter) {
    const connections = (name: string, description: string): Observable =>
      meter.createObservableGauge(name, { unit: '{connection}', description });
    const counter = (name: string, unit: string, description: string): Observable => meter.createObservableCounter(name, { unit, description });
    const m = POOLER_METRICS;
    const instruments = {
      clientActive: connections(m.clientActive, 'Client connections linked to a server connection, or idle (PgBouncer cl_active)'),
      clientWaiting: connections(m.clientWaiting, 'Client connections that sent a query and wait for a server connection (cl_waiting)'),
      serverActive: connections(m.serverActive, 'Server connections linked to a client (sv_active)'),
      serverIdle: connections(m.serverIdle, 'Server connections unused and usable at once (sv_idle)'),
      serverUsed: connections(m.serverUsed, 'Server connections idle past server_check_delay, to be checked before use (sv_used)'),
      serverTesting: connections(m.serverTesting, 'Server connections running server_reset_query or server_check_query (sv_tested)'),
      serverLogin: connections(m.serverLogin, 'Server connections logging in (sv_login)'),
      maxWait: meter.createObservableGauge(m.maxWait, { unit: 's', description: 'How long the oldest waiting client has waited (maxwait)' }),
      poolSize: connections(m.poolSize, 'Server connections PgBouncer may open for the pool (SHOW DATABASES pool_size)'),
      transactions: counter(m.transactions, '{transaction}', 'SQL transactions pooled since PgBouncer started (total_xact_count)'),
      queries: counter(m.queries, '{query}', 'SQL queries pooled since PgBouncer started (total_query_count)'),
      waitTime: counter(m.waitTime, 's', 'Time clients spent waiting for a server connection (total_wait_time)'),
    };
    this.observables = Object.values(instruments);
    this.callback = (result) => {
      const sample = this.latest;
      if (!sample) return;
      // The client pool's name too, so that a dashboard's pool filter selects the pooler pool it sits on.
      const attributes: Attributes = { database: sample.database, user: sample.user, [ATTR_DB_CLIENT_CONNECTION_POOL_NAME]: sample.clientPool };
      const i = instruments;
      result.observe(i.clientActive, sample.clients.active, attributes);
      result.observe(i.clientWaiting, sample.clients.waiting, attributes);
      result.observe(i.serverActive, sample.servers.active, attributes);
      result.observe(i.serverIdle, sample.servers.idle, attributes);
      result.observe(i.serverUsed, sample.servers.used, attributes);
      result.observe(i.serverTesting, sample.servers.tested, attributes);
      result.observe(i.serverLogin, sample.servers.login, attributes);
      result.observe(i.maxWait, sample.maxWaitSeconds, attributes);
      if (sample.poolSize !== undefined) result.observe(i.poolSize, sample.poolSize, attributes);
      result.observe(i.transactions, sample.totals.transactions, attributes);
      result.observe(i.queries, sample.totals.queries, attributes);
      result.observe(i.waitTime, sample.totals.waitSeconds, attributes);
    };
    meter.addBatchObservableCallback(this.callback, this.observables);
  }

  record(sample: PoolerSample): void {
    this.latest = sample;
  }

  close(): void {
    this.meter.removeBatchObservableCallback(this.callback, this.observables);
  }
}
