// The example service: the seed's exploit-intelligence API, getting its database through the manager.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { Kysely, PostgresDialect } from 'kysely';
import { PgManagerError, type PostgresManager } from '../src/index.js';
import { validateExploit } from './exploit-input.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface ServiceOptions {
  db: PostgresManager;
  /** Serves GET /metrics (the Prometheus exporter's request handler). */
  metrics?: RequestHandler;
}

const MAX_BODY_BYTES = 64 * 1024;

/** Failures that say the database cannot take the request right now, not that the request is wrong. */
const UNAVAILABLE = new Set(['CONNECTION_TIMEOUT', 'RETRY_EXHAUSTED', 'MANAGER_CLOSED', 'CONNECTION_LOST']);

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly problems: string[],
    readonly headers: Record<string, string> = {},
  ) {
    super(problems.join('; '));
  }
}

function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { ...headers, 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) });
  res.end(json);
}

/** node-postgres returns bigint and numeric as strings (they may not fit a double); these columns always do. */
function numbers<T extends Record<string, unknown>>(row: T, columns: readonly string[]): T {
  const copy: Record<string, unknown> = { ...row };
  for (const column of columns) if (typeof copy[column] === 'string') copy[column] = Number(copy[column]);
  return copy as T;
}

async function readJson(req: IncomingMessage): Promise<unknown> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > MAX_BODY_BYTES) throw new HttpError(413, [`the body must be at most ${MAX_BODY_BYTES} bytes`]);
    chunks.push(chunk as Buffer);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8'));
  } catch {
    throw new HttpError(400, ['the body is not valid JSON']);
  }
}

async function createExploit(db: PostgresManager, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const validation = validateExploit(await readJson(req));
  if (!validation.ok) throw new HttpError(400, validation.problems);
  const e = validation.value;
  // ON CONFLICT makes the insert idempotent, so the manager may safely re-send it after a lost connection.
  const inserted = await db.query<{ id: string }>(
    `INSERT INTO exploits (source_id, external_id, cve_id, title, severity, cvss_score, url, published_at)
     SELECT $1, $2, $3, $4, $5, $6, $7, $8 WHERE EXISTS (SELECT 1 FROM sources WHERE id = $1)
     ON CONFLICT (source_id, external_id) DO NOTHING
     RETURNING id`,
    [e.sourceId, e.externalId, e.cveId, e.title, e.severity, e.cvssScore, e.url, e.publishedAt],
    { idempotent: true },
  );
  if (inserted.rows[0]) {
    send(res, 201, { id: Number(inserted.rows[0].id), created: true });
    return;
  }
  // On the primary, not read(): a replica may not have the row that made the insert a duplicate yet.
  const existing = await db.query<{ id: string }>('SELECT id FROM exploits WHERE source_id = $1 AND external_id = $2', [e.sourceId, e.externalId]);
  if (!existing.rows[0]) throw new HttpError(400, [`source_id ${e.sourceId} does not exist`]);
  send(res, 200, { id: Number(existing.rows[0].id), created: false });
}

/** The view /sources/health reads, as Kysely sees it. */
interface ReadViews {
  v_source_health: {
    id: string;
    name: string;
    enabled: boolean;
    last_fetch_at: Date | null;
    last_success_at: Date | null;
    last_error: string | null;
    consecutive_failures: number;
    total_fetches: string;
    failed_fetches: string;
    success_rate_pct: string | null;
    exploits_24h: string;
    last_exploit_at: Date | null;
    status: string;
  };
}

// One route goes through Kysely on db.readPool, as a service built on a query builder would: its
// statements get the same acquisition timeout, leak checks, slow-query list and metrics as db.read().
const kyselyByManager = new WeakMap<PostgresManager, Kysely<ReadViews>>();

function kyselyOf(db: PostgresManager): Kysely<ReadViews> {
  let kysely = kyselyByManager.get(db);
  if (!kysely) {
    kysely = new Kysely<ReadViews>({ dialect: new PostgresDialect({ pool: db.readPool }) });
    kyselyByManager.set(db, kysely);
  }
  return kysely;
}

type Route = (db: PostgresManager, req: IncomingMessage, res: ServerResponse) => Promise<void>;

const ROUTES: Record<string, Partial<Record<string, Route>>> = {
  '/exploits/recent': {
    GET: async (db, _req, res) => {
      const { rows } = await db.read('SELECT * FROM v_recent_exploits');
      send(res, 200, rows.map((row) => numbers(row, ['id', 'cvss_score'])));
    },
  },
  '/stats/24h': {
    GET: async (db, _req, res) => {
      const { rows } = await db.read('SELECT * FROM v_stats_24h');
      const row = rows[0] ?? {};
      send(res, 200, numbers(row, Object.keys(row)));
    },
  },
  '/sources/health': {
    GET: async (db, _req, res) => {
      const rows = await kyselyOf(db).selectFrom('v_source_health').selectAll().orderBy('name').execute();
      send(res, 200, rows.map((row) => numbers(row, ['total_fetches', 'failed_fetches', 'success_rate_pct', 'exploits_24h'])));
    },
  },
  '/exploits': { POST: createExploit },
  '/health/db': {
    // Load balancers and orchestrators read the status code; people read the body.
    GET: async (db, _req, res) => {
      const snapshot = db.getPoolMetrics();
      send(res, snapshot.status === 'critical' ? 503 : 200, snapshot);
    },
  },
};

async function route(db: PostgresManager, metrics: RequestHandler | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const method = req.method ?? 'GET';
  if (path === '/metrics' && metrics) {
    if (method !== 'GET') throw new HttpError(405, [`${method} is not allowed on ${path}`], { allow: 'GET' });
    metrics(req, res);
    return;
  }
  const methods = ROUTES[path];
  if (!methods) throw new HttpError(404, [`no route for ${method} ${path}`]);
  const handler = methods[method];
  if (!handler) throw new HttpError(405, [`${method} is not allowed on ${path}`], { allow: Object.keys(methods).join(', ') });
  await handler(db, req, res);
}

function fail(res: ServerResponse, error: unknown): void {
  if (res.headersSent) {
    res.destroy();
    return;
  }
  if (error instanceof HttpError) {
    send(res, error.status, { error: error.status === 400 ? 'invalid request' : 'request failed', problems: error.problems }, error.headers);
    return;
  }
  // Only codes are sent back: PostgreSQL messages can carry data (SQLSTATE classes 22 and 23 echo values).
  if (error instanceof PgManagerError && UNAVAILABLE.has(error.code)) {
    send(res, 503, { error: 'database unavailable', code: error.code }, { 'retry-after': '1' });
    return;
  }
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code)) {
    send(res, 500, { error: 'database error', code });
    return;
  }
  send(res, 500, { error: 'internal error' });
}

export function createService({ db, metrics }: ServiceOptions): Server {
  return createServer((req, res) => {
    route(db, metrics, req, res).catch((error: unknown) => fail(res, error));
  });
}
