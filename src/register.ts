// `node --import otel-pg-manager/register app.mjs`: the ES module hook OpenTelemetry documents, then the instrumentation
// on the global providers. pg is loaded only after the hook, so `import pg from 'pg'` and `import { Pool } from 'pg'` are seen.
import { register } from 'node:module';

register('@opentelemetry/instrumentation/hook.mjs', import.meta.url);
const { registerGlobally } = await import('./instrumentation/register-globally.js');
registerGlobally();
