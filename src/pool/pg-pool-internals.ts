// What the manager reads and uses of pg-pool 3.x beyond its public API, in one place: the instance's Client class,
// its list of clients, its queue (served through end()), and the messages of its two timeouts.
import type pg from 'pg';

/** A pg Client that remembers when it was constructed, which pg-pool does right before connecting it. */
export interface TimedClient extends pg.Client {
  readonly constructedAt: number;
  /** False until pg-pool reports it connected; undefined on clients an adopted pool opened before it was adopted. */
  opened: boolean | undefined;
}

type ClientClass = new (...args: never[]) => pg.Client;
const TIMED = Symbol('otel-pg-manager.timed-client');
/**
 * One subclass per base class, shared by every pool: with a class per pool, eight managers gave
 * pg's Client code eight kinds of client object, and its property accesses went megamorphic
 * (about +1.8 µs per query with 8 pools in the benchmark).
 */
const timedClasses = new WeakMap<ClientClass, ClientClass>();

/**
 * pg-pool builds each client from the instance's `Client`; a subclass of whatever class that is
 * (pg's own, pg-native's, an app's) times the connect without touching any prototype.
 */
export function timedClass(Base: ClientClass): ClientClass {
  if ((Base as unknown as Record<symbol, unknown>)[TIMED]) return Base;
  let Timed = timedClasses.get(Base);
  if (Timed === undefined) {
    Timed = class extends Base {
      static readonly [TIMED] = true;
      readonly constructedAt = performance.now();
      opened = false;
    };
    timedClasses.set(Base, Timed);
  }
  return Timed;
}

/** The pg-pool internals read here (pg-pool 3.x): its instance `Client` and the list of every client it made. */
export type PoolInternals = pg.Pool & { Client: ClientClass; _clients: TimedClient[] };

/** What end() reads of pg-pool's queue (3.x), to serve the callers it would otherwise leave waiting. */
type PoolQueue = pg.Pool & {
  _pendingQueue?: unknown[];
  _idle?: unknown[];
  _isFull?: () => boolean;
  _pulseQueue?: () => void;
  newClient?: (pendingItem: unknown) => void;
};

export function hasQueue(pool: PoolQueue): pool is Required<PoolQueue> {
  return (
    Array.isArray(pool._pendingQueue) &&
    Array.isArray(pool._idle) &&
    typeof pool._isFull === 'function' &&
    typeof pool._pulseQueue === 'function' &&
    typeof pool.newClient === 'function'
  );
}

// pg-pool (3.x) reports both of its acquisition timeouts as plain Errors with no code.
export const QUEUE_TIMEOUT_MESSAGE = 'timeout exceeded when trying to connect';
export const CONNECT_TIMEOUT_MESSAGE = 'Connection terminated due to connection timeout';

export function isPoolTimeout(error: Error): boolean {
  return error.message === QUEUE_TIMEOUT_MESSAGE || error.message === CONNECT_TIMEOUT_MESSAGE;
}

/**
 * Serves the callers in pg-pool's queue although the pool is about to end, with pg-pool's own steps:
 * what it can serve now (an idle connection, room for a new one) is served before its end() stops
 * serving, and the rest, queued behind a full pool, each get a new connection as an ending pool closes
 * the ones given back. Returns a function that stops the second part.
 */
export function serveWaitingThroughEnd(pool: Required<PoolQueue>): () => void {
  while (pool._pendingQueue.length > 0 && (pool._idle.length > 0 || !pool._isFull())) pool._pulseQueue();
  // pg-pool emits 'remove' before its own next step, which ends the pool once no client is left.
  const onRemove = (): void => {
    while (pool._pendingQueue.length > 0 && !pool._isFull()) pool.newClient(pool._pendingQueue.shift());
  };
  pool.on('remove', onRemove);
  return () => pool.removeListener('remove', onRemove);
}
