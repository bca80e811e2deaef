// Shared by the zero-code apps: plain pg code on a pool the app builds itself (nothing of otel-pg-manager imported),
// then the Prometheus exporter's /metrics, printed as the last line.
const { createServer } = require('node:http');
/* global exports */

exports.work = async function work(pg, exporter, registeredAs) {
  const server = createServer((req, res) => exporter.getMetricsRequestHandler(req, res));
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL, max: 2 });
  const { rows } = await pool.query('SELECT $1::int AS n', [1]);
  const client = await pool.connect();
  await client.query('SELECT 2');
  client.release();
  const scrape = await (await fetch(`http://127.0.0.1:${server.address().port}/metrics`)).text();
  await pool.end();
  server.close();
  console.log(JSON.stringify({ registeredAs, rows, scrape }));
};
