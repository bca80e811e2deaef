// The observing Pool and Client put on pg's exports while the instrumentation is enabled: subclasses of pg's own
// (instanceof, statics, subclassing unchanged), so nothing of pg's prototypes is ever touched. A pool or client
// made while disabled, or let go by disable() or a PostgresManager, runs pg's own methods with one property read.
import type pg from 'pg';
import type { TrackedPool } from '../tracker.js';
import type { ClientGroup } from './lone-clients.js';
import type { ObservedPool } from './observed-pool.js';

export interface PgExports {
  Pool: typeof pg.Pool;
  Client: typeof pg.Client;
}

export interface WrapperHost {
  poolCreated(pool: pg.Pool, server: TrackedPool['server'], OriginalClient: typeof pg.Client, OriginalPool: typeof pg.Pool): ObservedPool | undefined;
  clientConnecting(client: pg.Client, server: TrackedPool['server']): ClientGroup | undefined;
  clientEnded(client: pg.Client): void;
  poolEnded(observed: ObservedPool): void;
}

/** Registered, so a PostgresManager's pool code (which imports nothing of this room) can find and detach it. */
const OBSERVED = Symbol.for('otel-pg-manager.observed-pool');
const WRAPPER = Symbol('otel-pg-manager.wrapper');

type Observable = { [OBSERVED]?: ObservedPool | undefined };
type PoolInternals = pg.Pool & Observable & { _clients: pg.Client[]; newClient(pending: unknown): void };
type AnyFunction = (...args: unknown[]) => unknown;

/** Pool construction in progress: a client pg-pool connects inside newClient() is the pool's, not a lone one. */
let poolOpening = 0;

function serverOf(OriginalClient: typeof pg.Client, options: unknown): TrackedPool['server'] {
  try {
    // Built and never connected; no password, no stream factory (it could open a socket).
    const probe = new OriginalClient({ ...(options as pg.ClientConfig), password: undefined, stream: undefined } as pg.ClientConfig);
    return { address: probe.host, port: probe.port, database: probe.database ?? '' };
  } catch {
    return { address: 'unknown', port: 0, database: '' };
  }
}

export function wrapPgExports(pgExports: PgExports, host: WrapperHost) {
  const OriginalPool = pgExports.Pool;
  const OriginalClient = pgExports.Client;
  const poolConnect = OriginalPool.prototype.connect as AnyFunction;
  const poolQuery = OriginalPool.prototype.query as AnyFunction;
  const poolEnd = OriginalPool.prototype.end as AnyFunction;

  class Pool extends OriginalPool {
    static readonly [WRAPPER] = true;

    constructor(...args: ConstructorParameters<typeof pg.Pool>) {
      super(...args);
      const observed = host.poolCreated(this, serverOf(OriginalClient, this.options), OriginalClient, OriginalPool);
      if (observed !== undefined) Object.defineProperty(this, OBSERVED, { value: observed, configurable: true, writable: true });
    }

    /** A pool pg's own Pool made is one of these, as it was before the instrumentation. */
    static override [Symbol.hasInstance](value: unknown): boolean {
      return this === Pool ? value instanceof OriginalPool : Function.prototype[Symbol.hasInstance].call(this, value);
    }

    override connect(...args: unknown[]): never {
      const observed = (this as Observable)[OBSERVED];
      if (observed === undefined || observed.detached) return poolConnect.apply(this, args) as never;
      return observed.connect(poolConnect as never, args[0] as never, Pool.prototype.connect) as never;
    }

    /** pg-pool's query() connects synchronously inside itself; the observed pool is told that this checkout is the query's. */
    override query(...args: unknown[]): never {
      const observed = (this as Observable)[OBSERVED];
      if (observed === undefined || observed.detached) return poolQuery.apply(this, args) as never;
      observed.lendingToQuery = true;
      try {
        return poolQuery.apply(this, args) as never;
      } finally {
        observed.lendingToQuery = false;
      }
    }

    override end(...args: unknown[]): never {
      const observed = (this as Observable)[OBSERVED];
      if (observed === undefined || observed.detached) return poolEnd.apply(this, args) as never;
      return observed.end(poolEnd as never, args[0], () => host.poolEnded(observed)) as never;
    }

    newClient(pending: unknown): void {
      const observed = (this as Observable)[OBSERVED];
      const start = performance.now();
      poolOpening++;
      try {
        (OriginalPool.prototype as unknown as PoolInternals).newClient.call(this, pending);
      } finally {
        poolOpening--;
      }
      if (observed !== undefined) {
        const clients = (this as unknown as PoolInternals)._clients;
        observed.clientOpening(clients[clients.length - 1], start);
      }
    }

    override emit(event: string | symbol, ...args: unknown[]): boolean {
      const observed = (this as Observable)[OBSERVED];
      if (observed !== undefined) observed.poolEvent(event, args[0], args[1]);
      return super.emit(event, ...args);
    }
  }
  Object.defineProperty(Pool, 'name', { value: OriginalPool.name });

  const clientConnect = OriginalClient.prototype.connect as AnyFunction;

  class Client extends OriginalClient {
    static readonly [WRAPPER] = true;

    static override [Symbol.hasInstance](value: unknown): boolean {
      return this === Client ? value instanceof OriginalClient : Function.prototype[Symbol.hasInstance].call(this, value);
    }

    override connect(...args: unknown[]): never {
      const group = poolOpening === 0 ? host.clientConnecting(this, { address: this.host, port: this.port, database: this.database ?? '' }) : undefined;
      if (group === undefined) return clientConnect.apply(this, args) as never;
      return group.connect(this, clientConnect as never, args[0]) as never;
    }

    override emit(event: string | symbol, ...args: unknown[]): boolean {
      if (event === 'end') host.clientEnded(this);
      return super.emit(event, ...args);
    }
  }
  Object.defineProperty(Client, 'name', { value: OriginalClient.name });

  return { Pool: Pool as unknown as typeof pg.Pool, Client: Client as unknown as typeof pg.Client, OriginalPool, OriginalClient };
}

wrapPgExports.isWrapped = (value: unknown): boolean => typeof value === 'function' && (value as unknown as Record<symbol, unknown>)[WRAPPER] === true;
