// Scenario 10: bad configuration, SQL that is not a string, a 1 MB statement, and parameters of every JSON type.
import { runInNewContext } from 'node:vm';
import { setFlagsFromString } from 'node:v8';
import { InMemorySpanExporter, SimpleSpanProcessor, BasicTracerProvider } from '@opentelemetry/sdk-trace-base';
import { ATTR_DB_QUERY_TEXT } from '@opentelemetry/semantic-conventions';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, PostgresManager, type CreateOptions } from '../../src/index.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';
import { CountingTracker } from './support/counting-tracker.js';
import { trapProcessFaults } from './support/process-trap.js';

trapProcessFaults();

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('badinput');
});

afterAll(async () => {
  await database.drop();
});

// Longer than any timer Node can arm (2^31 - 1 ms); Node would silently fire it after 1 ms instead.
const TOO_LONG_MS = 2 ** 31;

/** [field named in the error, options] for every option, each with values of the wrong kind, sign, size or shape. */
const BAD_OPTIONS: Array<[string, Partial<CreateOptions>]> = [
  ['databaseUrl', { databaseUrl: '' }],
  ['databaseUrl', { databaseUrl: 42 as unknown as string }],
  ['databaseUrl', { databaseUrl: 'postgresql://u@127.0.0.1:99999/db' }],
  ['databaseUrl', { databaseUrl: 'postgresql://u@127.0.0.1/db?application_name=x' }],
  ['readReplicaUrl', { readReplicaUrl: 'replica' }],
  ['readReplicaUrl', { readReplicaUrl: {} as unknown as string }],
  ['minConnections', { minConnections: -1 }],
  ['minConnections', { minConnections: 1.5 }],
  ['minConnections', { minConnections: Number.NaN }],
  ['minConnections', { minConnections: 'two' as unknown as number }],
  ['minConnections', { minConnections: 5, maxConnections: 2 }],
  ['maxConnections', { maxConnections: 0 }],
  ['maxConnections', { maxConnections: Number.POSITIVE_INFINITY }],
  ['maxConnections', { maxConnections: true as unknown as number }],
  ['maxConnections', { maxConnections: null as unknown as number }],
  ['monitoringEnabled', { monitoringEnabled: 'maybe' as unknown as boolean }],
  ['monitoringEnabled', { monitoringEnabled: 2 as unknown as boolean }],
  ['slowQueryThresholdMs', { slowQueryThresholdMs: -1 }],
  ['slowQueryThresholdMs', { slowQueryThresholdMs: Number.NaN }],
  ['connectionTimeoutSeconds', { connectionTimeoutSeconds: 0 }],
  ['connectionTimeoutSeconds', { connectionTimeoutSeconds: -1 }],
  ['connectionTimeoutSeconds', { connectionTimeoutSeconds: 'soon' as unknown as number }],
  ['connectionTimeoutSeconds', { connectionTimeoutSeconds: TOO_LONG_MS / 1000 }],
  ['statementTimeoutMs', { statementTimeoutMs: -1 }],
  ['statementTimeoutMs', { statementTimeoutMs: 0.5 }],
  ['statementTimeoutMs', { statementTimeoutMs: TOO_LONG_MS }],
  ['queryTimeoutMs', { queryTimeoutMs: -5 }],
  ['queryTimeoutMs', { queryTimeoutMs: '1s' as unknown as number }],
  ['queryTimeoutMs', { queryTimeoutMs: TOO_LONG_MS }],
  ['idleTimeoutMs', { idleTimeoutMs: -1 }],
  ['idleTimeoutMs', { idleTimeoutMs: TOO_LONG_MS }],
  ['leakDetectionThresholdMs', { leakDetectionThresholdMs: -1 }],
  ['leakDetectionThresholdMs', { leakDetectionThresholdMs: 2.5 }],
  ['applicationName', { applicationName: '' }],
  ['applicationName', { applicationName: 7 as unknown as string }],
  ['poolNames.primary', { poolNames: { primary: '  ' } }],
  ['poolNames.replica', { poolNames: { replica: 3 as unknown as string } }],
  ['retry.maxRetries', { retry: { maxRetries: -1 } }],
  ['retry.maxRetries', { retry: { maxRetries: 0.5 } }],
  ['retry.baseDelayMs', { retry: { baseDelayMs: Number.NaN } }],
  ['retry.baseDelayMs', { retry: { baseDelayMs: TOO_LONG_MS } }],
  ['retry.maxDelayMs', { retry: { maxDelayMs: -10 } }],
  ['retry.maxDelayMs', { retry: { maxDelayMs: TOO_LONG_MS } }],
  ['schemaInit', { schemaInit: 'sometimes' as 'log' }],
  ['schemaInit', { schemaInit: true as unknown as 'log' }],
  ['migrationsDir', { migrationsDir: '' }],
];

describe('bad configuration', () => {
  it.each(BAD_OPTIONS)('rejects a bad %s with a ConfigError naming it, before connecting', async (field, bad) => {
    const started = performance.now();
    const error = await PostgresManager.create({
      databaseUrl: database.url,
      env: {},
      monitoringEnabled: false,
      schemaInit: 'off',
      logger: { warn: () => undefined },
      ...bad,
    }).then(
      async (db) => {
        await db.close();
        return undefined;
      },
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).field).toBe(field);
    // Configuration is checked before any connection attempt or retry backoff.
    expect(performance.now() - started).toBeLessThan(200);
  });
});

describe('SQL that is not a string', () => {
  it.each([
    ['undefined', undefined],
    ['null', null],
    ['a number', 42],
    ['a pg query config object', { text: 'SELECT 1' }],
    ['an array', ['SELECT 1']],
    ['a String object', new String('SELECT 1')],
  ])('rejects %s with a TypeError without taking a connection', async (_label, sql) => {
    const { db } = await createManager(database.url);
    const tracker = new CountingTracker();
    db.addTracker(tracker);
    try {
      await expect(db.query(sql as unknown as string)).rejects.toBeInstanceOf(TypeError);
      await expect(db.read(sql as unknown as string)).rejects.toBeInstanceOf(TypeError);
      expect(tracker.counts.acquired).toBe(0);
      expect(db.getPoolMetrics().pools.primary.used).toBe(0);
    } finally {
      await db.close();
    }
  });

  it('rejects parameters that are not an array with a TypeError, and the pool stays healthy', async () => {
    const { db } = await createManager(database.url, { maxConnections: 1 });
    const tracker = new CountingTracker();
    db.addTracker(tracker);
    try {
      await expect(db.query('SELECT $1::text', 'abc' as unknown as unknown[])).rejects.toBeInstanceOf(TypeError);
      await expect(db.query('SELECT $1::text', { 0: 'abc' } as unknown as unknown[])).rejects.toBeInstanceOf(TypeError);
      expect(tracker.counts.acquired).toBe(0);
      expect((await db.query('SELECT $1::text AS v', ['ok'])).rows[0]).toEqual({ v: 'ok' });
      expect(db.getPoolMetrics().pools.primary.used).toBe(0);
    } finally {
      await db.close();
    }
  });
});

describe('a 1 MB statement', () => {
  it('runs it, records a truncated query text in telemetry, and keeps memory bounded over many such statements', async () => {
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const exporter = new InMemorySpanExporter();
    const tracerProvider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
    const { db } = await createManager(database.url, {
      monitoringEnabled: true,
      // Every call is slow, so every call makes a span and a slow-query entry.
      slowQueryThresholdMs: 0,
      telemetry: { tracerProvider },
    });
    const filler = 'x'.repeat(1024 * 1024);
    // A different column alias each time: distinct statements, so nothing is shared between them.
    const bigStatement = (i: number): string => `SELECT length('${filler}') AS c${i}`;
    try {
      const first = await db.query<{ c0: number }>(bigStatement(0));
      expect(first.rows[0]?.c0).toBe(filler.length);
      const text = exporter.getFinishedSpans().at(-1)?.attributes[ATTR_DB_QUERY_TEXT];
      expect(typeof text).toBe('string');
      expect((text as string).length).toBeLessThanOrEqual(4096);
      for (const entry of db.getSlowQueries(100)) expect(JSON.stringify(entry).length).toBeLessThan(16 * 1024);

      exporter.reset();
      gc();
      const before = process.memoryUsage().heapUsed;
      for (let i = 1; i <= 40; i++) await db.query(bigStatement(i));
      exporter.reset();
      gc();
      const grown = process.memoryUsage().heapUsed - before;
      // 40 MB of statements went through; only bounded summaries of them may stay.
      expect(grown).toBeLessThan(16 * 1024 * 1024);
      expect(JSON.stringify(db.getPoolMetrics()).length).toBeLessThan(256 * 1024);
    } finally {
      await db.close();
      await tracerProvider.shutdown();
    }
  });
});

describe('parameter values of every JSON type', () => {
  const VALUES: Array<[string, unknown]> = [
    ['null', null],
    ['true', true],
    ['false', false],
    ['zero', 0],
    ['a negative fraction', -1.5],
    ['the largest safe integer', Number.MAX_SAFE_INTEGER],
    ['an empty string', ''],
    ['a string with quotes, backslashes and emoji', `it's "quoted" \\ 🐘 ünïcode`],
    ['an empty array', []],
    ['a mixed array', [1, 'a', null, true, { b: 2 }]],
    ['an empty object', {}],
    ['a nested object', { a: { b: [1, 2, { c: null }] }, 'key with space': 'v' }],
  ];

  it.each(VALUES)('round-trips %s through jsonb unchanged', async (_label, value) => {
    const { db } = await createManager(database.url);
    try {
      const { rows } = await db.query<{ v: unknown; t: string }>('SELECT $1::jsonb AS v, jsonb_typeof($1::jsonb) AS t', [JSON.stringify(value)]);
      expect(rows[0]?.v).toEqual(value);
      expect(rows[0]?.t).toBe(value === null ? 'null' : Array.isArray(value) ? 'array' : typeof value === 'object' ? 'object' : typeof value);
      // The same value passed as a native parameter: scalars as text, objects serialized by pg as JSON.
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
        expect((await db.query<{ v: unknown }>('SELECT $1::jsonb AS v', [value])).rows[0]?.v).toEqual(value);
      } else if (!Array.isArray(value)) {
        expect((await db.query<{ v: string | null }>('SELECT $1::text AS v', [value])).rows[0]?.v).toBe(value === null ? null : String(value));
      }
    } finally {
      await db.close();
    }
  });
});
