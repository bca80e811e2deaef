// `node --require otel-pg-manager/register app.js`: the instrumentation on the global providers, before the app's require('pg').
import { registerGlobally } from './instrumentation/register-globally.js';

registerGlobally();
