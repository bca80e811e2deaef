// Scenario 4: the server runs a write but its answer never arrives; the manager must not send it again.
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { PostgresManager } from '../../src/index.js';
import { ConnectionLostError } from '../../src/errors.js';
import { adminQuery, createTestDatabase, type TestDatabase } from '../support/db.js';
import type { CountingTracker } from './support/counting-tracker.js';
import type { FaultProxy } from './support/fault-proxy.js';
import { proxiedManager, type ProxiedManager } from './support/proxied-manager.js';
import { rowsLabelled } from './support/items.js';
import { trapProcessFaults } from './support/process-trap.js';

trapProcessFaults();

let database: TestDatabase;
let proxy: FaultProxy;
let db: PostgresManager;
let tracker: CountingTracker;

beforeAll(async () => {
  database = await createTestDatabase('lost');
  await adminQuery('CREATE TABLE items (id serial PRIMARY KEY, label text NOT NULL UNIQUE)', [], database.name);
});

afterAll(async () => {
  await database.drop();
});

let setup: ProxiedManager;

beforeEach(async () => {
  setup = await proxiedManager(database.url, {
    maxConnections: 2,
    connectionTimeoutSeconds: 1,
    queryTimeoutMs: 600,
    retry: { baseDelayMs: 10, maxDelayMs: 20 },
  });
  ({ db, proxy, tracker } = setup);
});

afterEach(async () => {
  await setup.close();
});

describe('lost response after a write', () => {
  it('does not re-send an INSERT whose answer was lost: ConnectionLostError, sent once, present once', async () => {
    proxy.setMode('dropResponses');
    const error = await db.query("INSERT INTO items (label) VALUES ('lost-insert')").catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionLostError);
    expect((error as ConnectionLostError).outcome).toBe('unknown');
    expect(proxy.timesSent("'lost-insert'")).toBe(1);
    expect(tracker.retries).toHaveLength(0);
    // It did run: the server got it, only the answer was lost. At most once is the promise.
    expect(await rowsLabelled(database, 'lost-insert')).toBe(1);
  });

  it('does not re-run a transaction whose COMMIT answer was lost, and says the outcome is unknown', async () => {
    let runs = 0;
    const error = await db
      .transaction(async (client) => {
        runs++;
        await client.query("INSERT INTO items (label) VALUES ('lost-commit')");
        proxy.setMode('dropResponses');
      })
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ConnectionLostError);
    expect((error as ConnectionLostError).outcome).toBe('unknown');
    expect(runs).toBe(1);
    expect(proxy.timesSent("'lost-commit'")).toBe(1);
    expect(proxy.timesSent('COMMIT')).toBe(1);
    expect(await rowsLabelled(database, 'lost-commit')).toBe(1);
  });

  it('re-sends a write marked idempotent after its answer was lost, and it lands once', async () => {
    proxy.setMode('dropResponses');
    // The network heals as soon as the manager decides to retry.
    db.addTracker({ retried: () => proxy.setMode('forward') });
    const result = await db.query("INSERT INTO items (label) VALUES ('lost-idem') ON CONFLICT (label) DO NOTHING", [], {
      idempotent: true,
    });
    expect(tracker.retries).toHaveLength(1);
    expect(proxy.timesSent("'lost-idem'")).toBe(2);
    // The first attempt inserted it; the re-send found it there.
    expect(result.rowCount).toBe(0);
    expect(await rowsLabelled(database, 'lost-idem')).toBe(1);
  });
});
