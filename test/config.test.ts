// Options and environment to a frozen config: every bad value a ConfigError naming its field, no password echoed.
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { ConfigError, PostgresManager, resolveConfig } from '../src/index.js';

const URL_OK = 'postgresql://app:s3cr3t-pw@db.example.com:6543/appdb';

function configError(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return error as ConfigError;
  }
  throw new Error('expected a ConfigError');
}

describe('configuration', () => {
  it('applies the seed defaults when only DATABASE_URL is set', () => {
    const config = resolveConfig({ env: { DATABASE_URL: URL_OK } });
    expect(config).toMatchObject({
      minConnections: 2,
      maxConnections: 20,
      monitoringEnabled: true,
      slowQueryThresholdMs: 1000,
      connectionTimeoutMs: 30_000,
      schemaInit: 'strict',
      replica: undefined,
    });
    expect(config.primary).toMatchObject({ host: 'db.example.com', port: 6543, database: 'appdb', user: 'app', ssl: false });
    expect(config.primary.password?.()).toBe('s3cr3t-pw');
  });

  it('reads every documented environment variable', () => {
    const config = resolveConfig({
      env: {
        DATABASE_URL: URL_OK,
        READ_REPLICA_URL: 'postgres://ro@replica:5432/appdb?sslmode=verify-full',
        DB_MIN_CONNECTIONS: '1',
        DB_MAX_CONNECTIONS: '7',
        MONITORING_ENABLED: 'off',
        SLOW_QUERY_THRESHOLD_MS: '250',
        CONNECTION_TIMEOUT_SECONDS: '2.5',
        DB_SCHEMA_INIT: 'strict',
      },
    });
    expect(config).toMatchObject({ minConnections: 1, maxConnections: 7, monitoringEnabled: false, slowQueryThresholdMs: 250, connectionTimeoutMs: 2500, schemaInit: 'strict' });
    expect(config.replica).toMatchObject({ host: 'replica', user: 'ro', ssl: { rejectUnauthorized: true } });
  });

  it('normalizes SQL with the scanner unless libpg-query is asked for', () => {
    expect(resolveConfig({ databaseUrl: URL_OK, env: {} }).sqlNormalizer).toBe('scanner');
    expect(resolveConfig({ databaseUrl: URL_OK, sqlNormalizer: 'libpg-query', env: {} }).sqlNormalizer).toBe('libpg-query');
    const error = configError(() => resolveConfig({ databaseUrl: URL_OK, sqlNormalizer: 'regex' as 'scanner', env: {} }));
    expect(error.field).toBe('sqlNormalizer');
  });

  it('lets options override the environment', () => {
    const config = resolveConfig({ maxConnections: 3, env: { DATABASE_URL: URL_OK, DB_MAX_CONNECTIONS: '50' } });
    expect(config.maxConnections).toBe(3);
  });

  it('takes DB_MAX_CONNECTIONS=1 alone: the default minimum (2) follows a smaller maximum', () => {
    expect(resolveConfig({ env: { DATABASE_URL: URL_OK, DB_MAX_CONNECTIONS: '1' } })).toMatchObject({ minConnections: 1, maxConnections: 1 });
    expect(resolveConfig({ maxConnections: 1, env: { DATABASE_URL: URL_OK } })).toMatchObject({ minConnections: 1, maxConnections: 1 });
    // A minimum the user did set is still checked against the maximum.
    const error = configError(() => resolveConfig({ env: { DATABASE_URL: URL_OK, DB_MAX_CONNECTIONS: '1', DB_MIN_CONNECTIONS: '2' } }));
    expect(error.message).toContain('DB_MIN_CONNECTIONS: must not exceed DB_MAX_CONNECTIONS (2 > 1)');
  });

  it('refuses a port above 65535 by naming the port, without the password-encoding hint', () => {
    for (const url of ['postgresql://u:p@h:99999/db', 'postgresql://u@[::1]:70000/db?sslmode=require']) {
      const error = configError(() => resolveConfig({ databaseUrl: url, env: {} }));
      expect(error.message).toMatch(/has port (99999|70000); use a port from 1 to 65535/);
      expect(error.message).not.toContain('percent-encode');
    }
    // Digits before an unencoded "/" of a password are not a port: there the hint is the help.
    const error = configError(() => resolveConfig({ databaseUrl: 'postgresql://u:123456/x@h/db', env: {} }));
    expect(error.message).toContain('percent-encode');
    expect(error.message).not.toContain('123456');
  });

  it('decodes percent-encoded credentials', () => {
    const config = resolveConfig({ databaseUrl: 'postgresql://us%40er:p%2Fw%3Ard@h/db', env: {} });
    expect(config.primary.user).toBe('us@er');
    expect(config.primary.password?.()).toBe('p/w:rd');
  });

  it.each([
    [{}, 'DATABASE_URL', /required/],
    [{ DATABASE_URL: 'not a url' }, 'DATABASE_URL', /not a valid URL/],
    [{ DATABASE_URL: 'mysql://u:p@h/db' }, 'DATABASE_URL', /postgresql:\/\/ scheme/],
    [{ DATABASE_URL: 'postgresql://u:p@h/' }, 'DATABASE_URL', /no database name/],
    [{ DATABASE_URL: 'postgresql://h/db' }, 'DATABASE_URL', /no user name/],
    [{ DATABASE_URL: 'postgresql://u:p@h/db?sslmode=maybe' }, 'DATABASE_URL', /unknown sslmode/],
    [{ DATABASE_URL: 'postgresql://u:p@h/db?sslmode=disable&sslmode=verify-full' }, 'DATABASE_URL', /repeats the query parameter "sslmode"/],
    [{ DATABASE_URL: 'postgresql://u:p@h/db#section' }, 'DATABASE_URL', /"#" fragment/],
    [{ DATABASE_URL: 'postgresql://u:p#w@h/db' }, 'DATABASE_URL', /not a valid URL .*percent-encode "#"/],
    [{ DATABASE_URL: 'postgresql://u:p@h:0/db' }, 'DATABASE_URL', /port 0/],
    [{ DATABASE_URL: URL_OK, READ_REPLICA_URL: 'nope' }, 'READ_REPLICA_URL', /not a valid URL/],
    [{ DATABASE_URL: URL_OK, DB_MAX_CONNECTIONS: 'ten' }, 'DB_MAX_CONNECTIONS', /must be a number/],
    [{ DATABASE_URL: URL_OK, DB_MAX_CONNECTIONS: '-4' }, 'DB_MAX_CONNECTIONS', /must not be negative/],
    [{ DATABASE_URL: URL_OK, DB_MAX_CONNECTIONS: '2.5' }, 'DB_MAX_CONNECTIONS', /whole number/],
    [{ DATABASE_URL: URL_OK, DB_MAX_CONNECTIONS: '0' }, 'DB_MAX_CONNECTIONS', /at least 1/],
    [{ DATABASE_URL: URL_OK, DB_MIN_CONNECTIONS: '1.5' }, 'DB_MIN_CONNECTIONS', /whole number/],
    [{ DATABASE_URL: URL_OK, DB_MIN_CONNECTIONS: '9', DB_MAX_CONNECTIONS: '3' }, 'DB_MIN_CONNECTIONS', /must not exceed DB_MAX_CONNECTIONS \(9 > 3\)/],
    [{ DATABASE_URL: URL_OK, MONITORING_ENABLED: 'maybe' }, 'MONITORING_ENABLED', /true\/false/],
    [{ DATABASE_URL: URL_OK, SLOW_QUERY_THRESHOLD_MS: 'fast' }, 'SLOW_QUERY_THRESHOLD_MS', /must be a number/],
    [{ DATABASE_URL: URL_OK, CONNECTION_TIMEOUT_SECONDS: '0' }, 'CONNECTION_TIMEOUT_SECONDS', /greater than 0/],
    [{ DATABASE_URL: URL_OK, CONNECTION_TIMEOUT_SECONDS: '-1' }, 'CONNECTION_TIMEOUT_SECONDS', /must not be negative/],
    [{ DATABASE_URL: URL_OK, CONNECTION_TIMEOUT_SECONDS: '0.0004' }, 'CONNECTION_TIMEOUT_SECONDS', /at least 0.001 \(1 ms\)/],
    [{ DATABASE_URL: URL_OK, DB_SCHEMA_INIT: 'sometimes' }, 'DB_SCHEMA_INIT', /log, strict, off/],
    [{ DATABASE_URL: URL_OK, DB_STATEMENT_TIMEOUT_MS: '1.5' }, 'DB_STATEMENT_TIMEOUT_MS', /whole number/],
  ])('rejects %j naming %s', (env, field, problem) => {
    const error = configError(() => resolveConfig({ env }));
    expect(error.field).toBe(field);
    expect(error.message).toContain(field);
    expect(error.message).toMatch(problem);
    expect(error.code).toBe('CONFIG_INVALID');
  });

  it('refuses two pools with one name: their metrics would merge', () => {
    const error = configError(() =>
      resolveConfig({ databaseUrl: URL_OK, readReplicaUrl: URL_OK, poolNames: { primary: 'db', replica: 'db' }, env: {} }),
    );
    expect(error.field).toBe('poolNames.replica');
    expect(error.message).toMatch(/must differ from poolNames.primary/);
    // Without a replica there is only one pool.
    expect(resolveConfig({ databaseUrl: URL_OK, poolNames: { primary: 'replica' }, env: {} }).poolNames.primary).toBe('replica');
  });

  it('names the option, not the variable, when the bad value came from an option', () => {
    const error = configError(() => resolveConfig({ databaseUrl: URL_OK, maxConnections: 1.5, env: {} }));
    expect(error.field).toBe('maxConnections');
  });

  it('never echoes the password, even from a URL it rejects', () => {
    const secret = 'Zq9-unique-password-77';
    const bad = [
      `postgresql://u:${secret}@h/`,
      `postgresql://u:${secret}@h/db?sslmode=nope`,
      `postgresql://u:${secret}@h/db?password=${secret}`,
      `mysql://u:${secret}@h/db`,
      `postgresql://u:${secret}@h:99999/db`,
      `postgresql://u:${secret}#x@h/db`,
      `postgresql://u:${secret}@h/db#${secret}`,
      `postgresql://u:${secret}@h/db?sslmode=disable&sslmode=require`,
    ];
    for (const url of bad) {
      const error = configError(() => resolveConfig({ databaseUrl: url, env: {} }));
      expect(error.message).not.toContain(secret);
      expect(inspect(error)).not.toContain(secret);
    }
    const config = resolveConfig({ databaseUrl: `postgresql://u:${secret}@h/db`, env: {} });
    expect(inspect(config, { depth: 10 })).not.toContain(secret);
    expect(JSON.stringify(config)).not.toContain(secret);
    expect(config.primary.redactedUrl).toBe('postgresql://u:*****@h/db');
  });

  it('returns a frozen configuration', () => {
    const config = resolveConfig({ databaseUrl: URL_OK, env: {} });
    expect(Object.isFrozen(config)).toBe(true);
    expect(Object.isFrozen(config.primary)).toBe(true);
  });
});

describe('option names are checked', () => {
  const base = { env: { DATABASE_URL: URL_OK } };

  it.each([
    [{ maxConection: 3 }, 'maxConection', 'maxConnections'],
    [{ slowQueryTreshold: 5 }, 'slowQueryTreshold', 'slowQueryThresholdMs'],
    [{ retry: { maxRetry: 1 } }, 'retry.maxRetry', 'retry.maxRetries'],
    [{ poolNames: { primay: 'a' } }, 'poolNames.primay', 'poolNames.primary'],
    [{ pgbouncer: { adminURL: 'x' } }, 'pgbouncer.adminURL', 'pgbouncer.adminUrl'],
    [{ loger: console }, 'loger', 'logger'],
    [{ migrationUrl: 'postgresql://a@b/c' }, 'migrationUrl', 'migrationsUrl'],
  ])('%j is a ConfigError naming the key and the nearest known one', (options, field, nearest) => {
    const error = (() => {
      try {
        resolveConfig({ ...base, ...(options as object) });
      } catch (e) {
        return e;
      }
      return undefined;
    })();
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ field });
    expect((error as Error).message).toContain(`did you mean ${nearest}?`);
  });

  it('a key like no known one is named, with the list of known ones', () => {
    expect(() => resolveConfig({ ...base, ...({ frobnicate: true } as object) })).toThrow(/frobnicate: is not an option \(known: databaseUrl, /);
  });

  it('keys set to undefined and every documented key pass', () => {
    expect(() => resolveConfig({ ...base, maxConnections: undefined, poolerMode: 'transaction', migrationsUrl: URL_OK })).not.toThrow();
  });

  it.each([
    [{ migrations: { lockTimeOutMs: 5 } }, 'migrations.lockTimeOutMs', 'migrations.lockTimeoutMs'],
    [{ monitor: { snapshotInterval: 5 } }, 'monitor.snapshotInterval', 'monitor.snapshotIntervalMs'],
    [{ monitor: { thresholds: { utilisationWarning: 0.5 } } }, 'monitor.thresholds.utilisationWarning', 'monitor.thresholds.utilizationWarning'],
    [{ telemetry: { traceAllQuery: true } }, 'telemetry.traceAllQuery', 'telemetry.traceAllQueries'],
  ])('create() refuses a misspelt nested key %j before connecting, naming the nearest known one', async (options, field, nearest) => {
    // Port 1 refuses connections: a ConfigError, not a connection error, shows nothing was tried.
    const error = await PostgresManager.create({ databaseUrl: 'postgresql://app@127.0.0.1:1/appdb', env: {}, ...(options as object) }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConfigError);
    expect(error).toMatchObject({ field });
    expect((error as Error).message).toContain(`did you mean ${nearest}?`);
  });

  it('DB_MIGRATIONS_URL and DB_POOLER_MODE are read from the environment', () => {
    const config = resolveConfig({ env: { DATABASE_URL: URL_OK, DB_MIGRATIONS_URL: 'postgresql://owner@db:5432/appdb', DB_POOLER_MODE: 'transaction' } });
    expect(config.migrations).toMatchObject({ host: 'db', user: 'owner' });
    expect(config.poolerMode).toBe('transaction');
    const defaults = resolveConfig(base);
    expect(defaults.migrations).toBe(defaults.primary);
    expect(defaults.poolerMode).toBe('none');
  });
});
