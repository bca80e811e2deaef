import js from '@eslint/js';
import tseslint from 'typescript-eslint';

// The house's arrows (README "Layout"): each room may import only what lies below it. Import specifiers are
// relative, so a room is recognised by its folder name anywhere in the path.
const ROOMS = ['pool', 'query', 'sql', 'migrations', 'pooler', 'telemetry', 'monitor', 'otel', 'instrumentation'];
const room = (name) => ({ regex: `(^|/)${name}/`, message: `this room must not import ${name}/ (see README "Layout")` });
const MANAGER = { regex: '(^|/)manager(\\.js|/)', message: 'only the public face composes the manager' };
const OPENTELEMETRY = { regex: '^@opentelemetry/', message: 'only telemetry/otel/ imports OpenTelemetry: the rest reports through the PoolTracker seam' };
const PG = { regex: '^pg(-[a-z]+)?$', message: 'sql/, telemetry/ and the tracker seam never see pg: trackers get plain events' };
const OUTSIDE_SQL = { regex: '^\\.\\./', message: 'sql/ is pure: it reads text and imports no other room' };
const except = (...allowed) => ROOMS.filter((name) => !allowed.includes(name)).map(room);
const boundary = (files, patterns) => ({ files, rules: { 'no-restricted-imports': ['error', { patterns }] } });

export default tseslint.config(
  { ignores: ['dist/**', 'node_modules/**', 'coverage/**', 'test/orm/prisma/generated/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: {
      globals: { process: 'readonly', console: 'readonly', performance: 'readonly', setTimeout: 'readonly', clearTimeout: 'readonly', setInterval: 'readonly', clearInterval: 'readonly', URL: 'readonly' },
    },
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'error',
    },
  },
  boundary(['src/config.ts', 'src/config-keys.ts', 'src/database-url.ts', 'src/errors.ts', 'src/sqlstate.ts', 'src/backoff.ts', 'src/session-settings.ts'], [...except(), MANAGER, OPENTELEMETRY]),
  boundary(['src/tracker.ts'], [...except(), MANAGER, OPENTELEMETRY, PG]),
  boundary(['src/sql/**'], [OUTSIDE_SQL, OPENTELEMETRY, PG]),
  boundary(['src/pool/**'], [...except('pool'), MANAGER, OPENTELEMETRY]),
  boundary(['src/query/**'], [...except('pool', 'query'), MANAGER, OPENTELEMETRY]),
  boundary(['src/migrations/**'], [...except('migrations'), MANAGER, OPENTELEMETRY]),
  boundary(['src/pooler/**'], [...except('pooler'), MANAGER, OPENTELEMETRY]),
  boundary(['src/telemetry/*.ts'], [...except('sql'), MANAGER, PG, OPENTELEMETRY]),
  boundary(['src/telemetry/monitor/**'], [...except('sql', 'telemetry', 'monitor'), MANAGER, PG, OPENTELEMETRY]),
  boundary(['src/telemetry/otel/**'], [...except('sql', 'telemetry', 'otel'), MANAGER, PG]),
  boundary(['src/manager.ts', 'src/manager/**'], [OPENTELEMETRY]),
  // The zero-code instrumentation is the one room besides telemetry/otel/ that imports OpenTelemetry
  // (@opentelemetry/instrumentation is what it is built on) and, unlike telemetry/, pg too: it hooks pg's module and
  // observes its pools and clients through the pool room's statement reporting, reporting through the tracker seam.
  boundary(['src/instrumentation/**'], [...except('pool', 'sql', 'telemetry', 'monitor', 'otel', 'instrumentation'), MANAGER]),
  boundary(['src/register.ts', 'src/register.cts'], [...except('instrumentation'), MANAGER]),
  {
    // The consumer test's apps are plain JavaScript as a user writes it, one of them CommonJS.
    files: ['test/consumer/app/**', 'test/instrumentation/fixtures/**'],
    languageOptions: { globals: { fetch: 'readonly', require: 'readonly', __dirname: 'readonly' } },
    rules: { '@typescript-eslint/no-require-imports': 'off' },
  },
);
