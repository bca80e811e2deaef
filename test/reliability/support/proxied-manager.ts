// A manager whose every connection goes through a fault proxy, warmed with one connection and counted by a tracker.
import type { CreateOptions, PostgresManager } from '../../../src/index.js';
import { adminUrl } from '../../support/db.js';
import { createManager } from '../../support/manager.js';
import { CountingTracker } from './counting-tracker.js';
import { FaultProxy } from './fault-proxy.js';

export interface ProxiedManager {
  db: PostgresManager;
  proxy: FaultProxy;
  tracker: CountingTracker;
  close(): Promise<void>;
}

export async function proxiedManager(databaseUrl: string, options: CreateOptions): Promise<ProxiedManager> {
  const server = new URL(adminUrl());
  const proxy = await FaultProxy.start({ host: server.hostname, port: Number(server.port) });
  const viaProxy = new URL(databaseUrl);
  viaProxy.port = String(proxy.port);
  const { db } = await createManager(viaProxy.toString(), options);
  const tracker = new CountingTracker();
  db.addTracker(tracker);
  // One warm connection, so the first fault meets a connection the pool believes is healthy.
  await db.query('SELECT 1');
  return {
    db,
    proxy,
    tracker,
    close: async () => {
      proxy.setMode('forward');
      await db.close({ timeoutMs: 2000 });
      await proxy.close();
    },
  };
}
