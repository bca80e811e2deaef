// The example service: the seed's exploit-intelligence API, getting its database through the manager.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { PostgresManager } from '../src/index.js';
import { validateExploit } from './exploit-input.js';

export type RequestHandler = (req: IncomingMessage, res: ServerResponse) => void;

export interface ServiceOptions {
  db: PostgresManager;
  /** Serves GET /metrics (the Prometheus exporter's request handler). */
  metrics?: RequestHandler;
}

const MAX_BODY_BYTES = 64 * 1024;

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly problems: string[],
  ) {
    super(problems.join('; '));
  }
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const json = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(json) });
  res.end(json);
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
  const existing = await db.query<{ id: string }>('SELECT id FROM exploits WHERE source_id = $1 AND external_id = $2', [e.sourceId, e.externalId]);
  if (!existing.rows[0]) throw new HttpError(400, [`source_id ${e.sourceId} does not exist`]);
  send(res, 200, { id: Number(existing.rows[0].id), created: false });
}

async function route(db: PostgresManager, metrics: RequestHandler | undefined, req: IncomingMessage, res: ServerResponse): Promise<void> {
  const path = new URL(req.url ?? '/', 'http://localhost').pathname;
  const key = `${req.method} ${path}`;
  switch (key) {
    case 'GET /exploits/recent':
      send(res, 200, (await db.read('SELECT * FROM v_recent_exploits')).rows);
      return;
    case 'GET /stats/24h':
      send(res, 200, (await db.read('SELECT * FROM v_stats_24h')).rows[0]);
      return;
    case 'GET /sources/health':
      send(res, 200, (await db.read('SELECT * FROM v_source_health ORDER BY name')).rows);
      return;
    case 'POST /exploits':
      await createExploit(db, req, res);
      return;
    case 'GET /health/db': {
      const metricsSnapshot = db.getPoolMetrics();
      send(res, metricsSnapshot.status === 'critical' ? 503 : 200, metricsSnapshot);
      return;
    }
    case 'GET /metrics':
      if (metrics) {
        metrics(req, res);
        return;
      }
      throw new HttpError(404, ['metrics are not enabled']);
    default:
      throw new HttpError(404, [`no route for ${req.method} ${path}`]);
  }
}

export function createService({ db, metrics }: ServiceOptions): Server {
  return createServer((req, res) => {
    route(db, metrics, req, res).catch((error: unknown) => {
      if (error instanceof HttpError) {
        send(res, error.status, { error: error.status === 400 ? 'invalid request' : 'request failed', problems: error.problems });
        return;
      }
      // Database errors are not echoed: their text can carry data (SQLSTATE classes 22 and 23).
      const code = (error as { code?: unknown }).code;
      send(res, 500, { error: 'database error', code: typeof code === 'string' ? code : undefined });
    });
  });
}
