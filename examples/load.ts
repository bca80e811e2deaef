// The demo's workload: steady API traffic, bursts above the pool size, a few slow reports and one deliberate connection leak.
import type { Lease, PostgresManager } from '../src/index.js';

export interface LoadOptions {
  db: PostgresManager;
  /** The example service, e.g. http://127.0.0.1:3000. */
  baseUrl: string;
  sourceIds: readonly number[];
  durationMs: number;
  poolSize: number;
  slowQueryThresholdMs: number;
  leakDetectionThresholdMs: number;
}

export interface LoadStats {
  /** HTTP responses by status code. */
  responses: Record<number, number>;
  /** Requests that got no response at all. */
  requestErrors: number;
  /** HTTP clients running now: the steady ones, plus a burst's while it lasts. */
  clients: number;
  bursts: number;
  slowReports: number;
  leak: 'not yet' | 'held' | 'returned';
}

export interface LoadRun {
  /** Resolves when the duration is over (the load keeps going until stop()). */
  readonly elapsed: Promise<void>;
  stats(): LoadStats;
  /** The view drew a frame with this many callers waiting: a burst lasts until one of its frames shows it. */
  frameShown(waiting: number): void;
  /** Stops starting work, waits for what is in flight, and returns the leaked connection. */
  stop(): Promise<void>;
}

export const STEADY_CLIENTS = 4;
const THINK_MS = 25;
const FIRST_BURST_MS = 3000;
const BURST_EVERY_MS = 10_000;
/** Longer than the 2 s between frames; a burst goes on past it until a frame has shown its queue (frameShown). */
const BURST_MS = 2500;
const BURST_CLIENTS_PER_CONNECTION = 6;
const FIRST_SLOW_MS = 2000;
const SLOW_EVERY_MS = 6000;
const LEAK_AT_MS = 1000;

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const pick = <T>(items: readonly T[]): T => items[Math.floor(Math.random() * items.length)]!;

/** Two report shapes, so the view's slow-query list has more than one line. pg_sleep in FROM runs once per call. */
const REPORTS = [
  'SELECT e.severity, count(*) AS exploits FROM pg_sleep($1) AS pause, exploits e GROUP BY e.severity',
  'SELECT s.name, count(e.id) AS exploits FROM pg_sleep($1) AS pause, sources s LEFT JOIN exploits e ON e.source_id = s.id GROUP BY s.name',
];

export function startLoad(options: LoadOptions): LoadRun {
  const { db, baseUrl, sourceIds, durationMs, poolSize } = options;
  const stats: LoadStats = { responses: {}, requestErrors: 0, clients: 0, bursts: 0, slowReports: 0, leak: 'not yet' };
  const inFlight = new Set<Promise<unknown>>();
  const timers: NodeJS.Timeout[] = [];
  let stopping = false;
  let leaked: Lease | undefined;
  let posted = 0;
  let burstShown = true;

  const track = <T>(work: Promise<T>): Promise<T> => {
    inFlight.add(work);
    void work.finally(() => inFlight.delete(work)).catch(() => undefined);
    return work;
  };
  const at = (ms: number, task: () => void): void => {
    if (ms < durationMs) timers.push(setTimeout(() => !stopping && task(), ms));
  };

  async function request(path: string, body?: unknown): Promise<void> {
    try {
      const response = await fetch(`${baseUrl}${path}`, {
        method: body === undefined ? 'GET' : 'POST',
        headers: body === undefined ? undefined : { 'content-type': 'application/json' },
        body: body === undefined ? undefined : JSON.stringify(body),
      });
      await response.arrayBuffer();
      stats.responses[response.status] = (stats.responses[response.status] ?? 0) + 1;
    } catch {
      stats.requestErrors++;
    }
  }

  /**
   * What an API client does: mostly reads, some ingestion, a few duplicates and the odd bad request.
   * /health/db is left to the view: its 503s while the pool is saturated would read as failed calls.
   */
  function apiCall(): Promise<void> {
    const roll = Math.random();
    if (roll < 0.4) return request('/exploits/recent');
    if (roll < 0.6) return request('/stats/24h');
    if (roll < 0.75) return request('/sources/health');
    if (roll < 0.9) {
      posted++;
      return request('/exploits', {
        source_id: pick(sourceIds),
        external_id: `live-${process.pid}-${posted}`,
        title: `Live ingestion #${posted}`,
        url: `https://example.com/live/${posted}`,
        severity: pick(['critical', 'high', 'medium', 'low']),
        cvss_score: Math.round(Math.random() * 100) / 10,
        published_at: new Date().toISOString(),
      });
    }
    // The same record from the same source again: answered 200 with the existing id.
    if (roll < 0.97) return request('/exploits', { source_id: sourceIds[0], external_id: 'seed-0001', title: 'Again', url: 'https://example.com/again' });
    return request('/exploits', { source_id: 'one', title: '', url: 'ftp://nowhere' });
  }

  async function client(until: () => boolean, thinkMs: number): Promise<void> {
    stats.clients++;
    try {
      while (!stopping && !until()) {
        await apiCall();
        if (thinkMs > 0) await sleep(thinkMs * (0.5 + Math.random()));
      }
    } finally {
      stats.clients--;
    }
  }

  /** More clients than connections, with no pause between calls: callers queue for the pool. */
  function burst(): void {
    stats.bursts++;
    burstShown = false;
    const end = performance.now() + BURST_MS;
    const over = (): boolean => burstShown && performance.now() >= end;
    for (let i = 0; i < poolSize * BURST_CLIENTS_PER_CONNECTION; i++) void track(client(over, 0));
  }

  function slowReport(): void {
    const seconds = options.slowQueryThresholdMs / 1000 + 0.1 + Math.random() * 0.5;
    stats.slowReports++;
    void track(db.read(REPORTS[stats.slowReports % REPORTS.length]!, [seconds]).catch(() => undefined));
  }

  /**
   * Takes a connection, runs one statement on it and "forgets" it; the leak report names this function in the
   * borrower's stack, and the statement (literals stripped) as the last one the connection ran.
   */
  async function forgetToRelease(): Promise<void> {
    leaked = await db.getConnection();
    await leaked.client.query("SELECT count(*) FROM exploits WHERE severity = 'critical'");
    stats.leak = 'held';
  }

  function returnLeak(): void {
    leaked?.release();
    if (leaked) stats.leak = 'returned';
    leaked = undefined;
  }

  for (let i = 0; i < STEADY_CLIENTS; i++) void track(client(() => false, THINK_MS));
  for (let t = FIRST_BURST_MS; t + BURST_MS <= durationMs; t += BURST_EVERY_MS) at(t, burst);
  for (let t = FIRST_SLOW_MS; t < durationMs - 1000; t += SLOW_EVERY_MS) at(t, slowReport);
  at(LEAK_AT_MS, () => void track(forgetToRelease().catch(() => undefined)));
  // Returned late, past the threshold, so the view shows both the warning and the "returned" event.
  at(Math.max(LEAK_AT_MS + options.leakDetectionThresholdMs * 2, durationMs * 0.75), returnLeak);

  let finish!: () => void;
  const elapsed = new Promise<void>((resolve) => (finish = resolve));
  timers.push(setTimeout(() => finish(), durationMs));
  return {
    elapsed,
    stats: () => ({ ...stats, responses: { ...stats.responses } }),
    frameShown(waiting) {
      if (waiting > 0) burstShown = true;
    },
    async stop() {
      stopping = true;
      for (const timer of timers) clearTimeout(timer);
      finish();
      while (inFlight.size > 0) await Promise.allSettled([...inFlight]);
      returnLeak();
    },
  };
}
