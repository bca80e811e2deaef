// Demo data for the seed schema: a handful of sources in different states of health and a few hundred exploits.
import type { PostgresManager } from '../src/index.js';

export interface SeedResult {
  sourceIds: number[];
  /** Exploits added by this run (0 when the data was already there). */
  exploitsAdded: number;
}

/** Name, base URL, and what its fetch history looks like, so /sources/health shows every status. */
const SOURCES: readonly [name: string, baseUrl: string, history: string][] = [
  ['demo: exploit-db', 'https://www.exploit-db.com', 'healthy'],
  ['demo: github-advisories', 'https://github.com/advisories', 'healthy'],
  ['demo: packetstorm', 'https://packetstormsecurity.com', 'failing'],
  ['demo: nvd', 'https://nvd.nist.gov', 'stale'],
  ['demo: vulncheck-kev', 'https://vulncheck.com/kev', 'disabled'],
];

const EXPLOITS_PER_SOURCE = 60;

/**
 * Idempotent, so the demo can run again against the same DATABASE_URL: sources are matched by
 * name and exploits by their ingestion key (source_id, external_id).
 */
export async function seedDemoData(db: PostgresManager): Promise<SeedResult> {
  return db.transaction(async (client) => {
    const sourceIds: number[] = [];
    for (const [name, baseUrl, history] of SOURCES) {
      const { rows } = await client.query<{ id: number }>(
        `INSERT INTO sources (name, base_url, enabled, last_fetch_at, last_success_at, last_error,
                              consecutive_failures, total_fetches, failed_fetches)
         VALUES ($1, $2, $3 <> 'disabled', now() - interval '5 minutes',
                 CASE $3 WHEN 'stale' THEN now() - interval '3 days' WHEN 'failing' THEN now() - interval '50 minutes'
                         ELSE now() - interval '5 minutes' END,
                 CASE $3 WHEN 'failing' THEN 'HTTP 503 from upstream' END,
                 CASE $3 WHEN 'failing' THEN 3 ELSE 0 END, 480, CASE $3 WHEN 'failing' THEN 31 ELSE 4 END)
         ON CONFLICT (name) DO UPDATE SET base_url = EXCLUDED.base_url
         RETURNING id`,
        [name, baseUrl, history],
      );
      sourceIds.push(rows[0]!.id);
    }
    // Spread over the last two days, so the 24-hour view holds about half of them.
    const inserted = await client.query(
      `INSERT INTO exploits (source_id, external_id, cve_id, title, severity, cvss_score, exploit_type, platform, url,
                            published_at, created_at)
       SELECT s.id,
              'seed-' || lpad(n::text, 4, '0'),
              CASE WHEN n % 3 = 0 THEN NULL ELSE format('CVE-2024-%s', 10000 + s.id * 1000 + n) END,
              format('%s %s in %s', (ARRAY['Remote code execution', 'SQL injection', 'Privilege escalation', 'Path traversal'])[1 + n % 4],
                     'vulnerability', (ARRAY['OpenSSH', 'Apache HTTP Server', 'Jenkins', 'GitLab', 'Confluence', 'WordPress plugin'])[1 + n % 6]),
              (ARRAY['critical', 'high', 'medium', 'low', 'unknown'])[1 + n % 5],
              CASE WHEN n % 5 = 4 THEN NULL ELSE round((10 - (n % 5) * 2.2 - (n % 7) * 0.1)::numeric, 1) END,
              (ARRAY['remote', 'local', 'webapps', 'dos'])[1 + n % 4],
              (ARRAY['linux', 'windows', 'multiple', 'php'])[1 + n % 4],
              s.base_url || '/exploits/' || n,
              now() - make_interval(hours => n),
              now() - make_interval(mins => n * 47 + s.id)
         FROM sources s
        CROSS JOIN generate_series(1, $2::int) AS n
        WHERE s.id = ANY($1::int[])
       ON CONFLICT (source_id, external_id) DO NOTHING`,
      [sourceIds, EXPLOITS_PER_SOURCE],
    );
    return { sourceIds, exploitsAdded: inserted.rowCount ?? 0 };
  });
}
