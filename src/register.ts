// `node --import otel-pg-manager/register app.mjs`: the ES module hook OpenTelemetry documents, then the instrumentation
// on the global providers. pg is loaded only after the hook, so `import pg from 'pg'` and `import { Pool } from 'pg'` are seen
// (the instrumentation's own imports load no pg). No top-level await: every module of dist/ stays loadable by require().
import { register } from 'node:module';
import { registerGlobally } from './instrumentation/register-globally.js';

register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
registerGlobally();
