// A postgres URL -> the separate fields node-postgres needs, checked, with the password kept out of every
// enumerable property; and how a target is named in messages (host:port/database, never the user or password).
import { ConfigError } from './errors.js';

export interface DatabaseTarget {
  readonly host: string;
  readonly port: number;
  readonly database: string;
  readonly user: string;
  /** A function, so that no enumerable property of any object ever holds the password. */
  readonly password: (() => string) | undefined;
  readonly ssl: false | { rejectUnauthorized: boolean };
  /** The URL with the password replaced, safe to show. */
  readonly redactedUrl: string;
  /** For an app's own pool (`create({ pool })`): that pool's settings, which connections outside it (migrations) use instead of the fields. */
  readonly connection?: () => Readonly<Record<string, unknown>>;
}

/** The fields node-postgres needs to reach a target, without the URL: pg would keep a connection string enumerable. */
export function connectionFields(target: DatabaseTarget): Readonly<Record<string, unknown>> {
  if (target.connection) return target.connection();
  return { host: target.host, port: target.port, database: target.database, user: target.user, password: target.password, ssl: target.ssl };
}

const SSL_MODES: Record<string, DatabaseTarget['ssl']> = {
  disable: false,
  // pg has no "try TLS, fall back to plain"; these mean "no TLS" here, as the weakest reading of libpq.
  allow: false,
  prefer: false,
  require: { rejectUnauthorized: true },
  'verify-ca': { rejectUnauthorized: true },
  'verify-full': { rejectUnauthorized: true },
  // Explicit opt-out of certificate checks, as pg-connection-string names it.
  'no-verify': { rejectUnauthorized: false },
};

/**
 * The port of a URL whose authority is well formed (`user[:password]@host:port`, no reserved character where it
 * does not belong) but whose port is not one, up to 6 digits; otherwise undefined. Only digits are ever returned.
 */
function unparsablePort(value: string): string | undefined {
  const match = /^postgres(?:ql)?:\/\/(?:[^:@/?#[\]]+(?::[^@/?#[\]]*)?@)?(?:\[[0-9a-f:.]+\]|[^:@/?#[\]]+):(\d+)(?:[/?]|$)/i.exec(value);
  const digits = match?.[1];
  // An "@" further on means the digits may be a password's (`user:123456/x@host`): then the hint is the one to give.
  if (digits === undefined || Number(digits) <= 65535 || value.slice(match![0].length).includes('@')) return undefined;
  return digits.length > 6 ? `${digits.slice(0, 6)}…` : digits;
}

/**
 * Parses a postgres URL ourselves so pg receives separate fields: pg keeps `connectionString`
 * as an enumerable option, which util.inspect and JSON.stringify would print with the password.
 * No message here ever includes the URL.
 */
export function parseDatabaseUrl(value: unknown, field: string): DatabaseTarget {
  if (typeof value !== 'string' || value.trim() === '') {
    throw new ConfigError(field, 'is required: set it to postgresql://user:password@host:5432/database');
  }
  let url: URL;
  try {
    url = new URL(value.trim());
  } catch {
    // A port out of range fails the same parse as a password with a "/" in it; only the second needs the encoding hint.
    const port = unparsablePort(value.trim());
    if (port !== undefined) throw new ConfigError(field, `has port ${port}; use a port from 1 to 65535`);
    throw new ConfigError(
      field,
      'is not a valid URL (expected postgresql://user:password@host:5432/database; percent-encode "#", "/", "?" and "@" in the password as %23, %2F, %3F, %40)',
    );
  }
  if (url.protocol !== 'postgres:' && url.protocol !== 'postgresql:') {
    throw new ConfigError(field, `must use the postgresql:// scheme, not ${url.protocol.slice(0, 20)}//`);
  }
  const decode = (part: string, what: string): string => {
    try {
      return decodeURIComponent(part);
    } catch {
      throw new ConfigError(field, `has a badly percent-encoded ${what}`);
    }
  };
  // Whatever follows a "#" would be dropped without a word.
  if (url.hash) throw new ConfigError(field, 'has a "#" fragment, which a database URL does not use; percent-encode a "#" that belongs to a value as %23');
  const params = url.searchParams;
  for (const key of new Set(params.keys())) {
    // libpq takes the last of a repeated key, URLSearchParams the first: refuse rather than pick one.
    if (params.getAll(key).length > 1) throw new ConfigError(field, `repeats the query parameter "${key.slice(0, 40)}"`);
  }
  const host = decode(params.get('host') ?? url.hostname, 'host').replace(/^\[(.*)\]$/, '$1');
  if (!host) throw new ConfigError(field, 'has no host');
  const port = url.port ? Number(url.port) : 5432;
  if (port === 0) throw new ConfigError(field, 'has port 0; use a port from 1 to 65535');
  const database = decode(url.pathname.replace(/^\//, ''), 'database name');
  if (!database) throw new ConfigError(field, 'has no database name (the path after the host)');
  if (database.includes('/')) throw new ConfigError(field, 'has a database name containing "/"');
  const user = decode(url.username, 'user name');
  if (!user) throw new ConfigError(field, 'has no user name');
  const secret = url.password ? decode(url.password, 'password') : undefined;
  for (const key of params.keys()) {
    if (key !== 'sslmode' && key !== 'host') {
      throw new ConfigError(field, `has an unsupported query parameter "${key.slice(0, 40)}" (supported: sslmode, host)`);
    }
  }
  const sslmode = params.get('sslmode') ?? 'disable';
  const ssl = SSL_MODES[sslmode];
  if (ssl === undefined) {
    throw new ConfigError(field, `has an unknown sslmode; use one of ${Object.keys(SSL_MODES).join(', ')}`);
  }
  const redacted = new URL(url.toString());
  if (redacted.password) redacted.password = '*****';
  return Object.freeze({
    host,
    port,
    database,
    user,
    password: secret === undefined ? undefined : () => secret,
    ssl,
    redactedUrl: redacted.toString(),
  });
}

/** Where a target points, for messages: host:port/database (no user, no password). */
export function serverOf(target: DatabaseTarget): string {
  const host = target.host.includes(':') ? `[${target.host}]` : target.host;
  return `${host}:${target.port}/${target.database}`;
}

/**
 * PostgreSQL's refusal of a connection (class 28: authentication; 3D: no such database) names the user at
 * most; a service with several databases needs to know which server said no. Adds it to the message (and the
 * stack's first line) of that error, which otherwise stays PostgreSQL's own, SQLSTATE included.
 */
export function withServerNamed(error: unknown, target: DatabaseTarget): unknown {
  const code = (error as { code?: unknown } | null)?.code;
  if (!(error instanceof Error) || typeof code !== 'string' || !/^(28|3D)/.test(code)) return error;
  const server = serverOf(target);
  if (error.message.includes(server)) return error;
  const before = error.message;
  error.message = `${before} (server ${server})`;
  if (typeof error.stack === 'string') error.stack = error.stack.replace(before, error.message);
  return error;
}
