// Edge cases of query()'s callback-driven run: pg answering twice, errors that arrive before ReadyForQuery.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { PoolTracker, QueryEvent, RetryEvent } from '../../src/index.js';
import { createTestDatabase, type TestDatabase } from '../support/db.js';
import { createManager } from '../support/manager.js';

let database: TestDatabase;

beforeAll(async () => {
  database = await createTestDatabase('qrun');
});

afterAll(async () => {
  await database?.drop();
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('query() run', () => {
  it('a parameter that fails to serialize rejects once, is reported once and is not retried, even for a read', async () => {
    const { db } = await createManager(database.url, { maxConnections: 1, retry: { maxRetries: 3, baseDelayMs: 1, maxDelayMs: 5 } });
    const finished: QueryEvent[] = [];
    const retried: RetryEvent[] = [];
    const recorder: PoolTracker = { queryFinished: (e) => void finished.push(e), retried: (e) => void retried.push(e) };
    db.addTracker(recorder);
    try {
      const unserializable = {
        toPostgres(): string {
          throw new Error('cannot serialize this value');
        },
      };
      await expect(db.read('SELECT $1::text AS v', [unserializable])).rejects.toThrow('cannot serialize this value');
      // pg answers that statement a second time when the server's ReadyForQuery comes back.
      await sleep(200);
      expect(finished).toHaveLength(1);
      expect(retried).toEqual([]);
      expect((await db.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
    } finally {
      await db.close();
    }
  });

  it('a failed statement that leaves its transaction aborted does not hand that connection to the next caller', async () => {
    const { db } = await createManager(database.url, { maxConnections: 1 });
    try {
      // Simple protocol, several statements: the error aborts the transaction the text opened.
      await expect(db.query('BEGIN; SELECT 1/0; COMMIT')).rejects.toMatchObject({ code: '22012' });
      // Queued behind it on the only connection: must not run inside the aborted transaction (25P02).
      expect((await db.query('SELECT 1 AS n')).rows).toEqual([{ n: 1 }]);
    } finally {
      await db.close();
    }
  });

  it('the next caller queued behind a failing statement on the only connection is served normally', async () => {
    const { db } = await createManager(database.url, { maxConnections: 1 });
    try {
      const failing = db.query('BEGIN; SELECT 1/0; COMMIT');
      const next = db.query('SELECT 2 AS n');
      await expect(failing).rejects.toMatchObject({ code: '22012' });
      expect((await next).rows).toEqual([{ n: 2 }]);
    } finally {
      await db.close();
    }
  });
});
