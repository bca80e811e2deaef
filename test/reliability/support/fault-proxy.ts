// A TCP proxy between a pool and PostgreSQL that can forward, blackhole, drop responses or reset connections.
import net from 'node:net';

/**
 * - `forward`: bytes pass both ways.
 * - `blackhole`: bytes are swallowed both ways, as on a partitioned network; new connections are
 *   accepted (the proxy's kernel completes the handshake) but never answered.
 * - `dropResponses`: the server receives everything, the client receives nothing: a write that
 *   ran but whose answer was lost.
 */
export type ProxyMode = 'forward' | 'blackhole' | 'dropResponses';

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
}

// Enough to find a few statements sent during one test, without growing forever in the soak.
const SENT_LOG_LIMIT = 4 * 1024 * 1024;

export class FaultProxy {
  private mode: ProxyMode = 'forward';
  private readonly pairs = new Set<Pair>();
  private sentLog = '';

  private constructor(
    private readonly server: net.Server,
    readonly port: number,
  ) {}

  static async start(target: { host: string; port: number }): Promise<FaultProxy> {
    const server = net.createServer();
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(0, '127.0.0.1', () => resolve());
    });
    const address = server.address();
    if (!address || typeof address === 'string') throw new Error('fault proxy has no TCP address');
    const proxy = new FaultProxy(server, address.port);
    server.on('connection', (client) => proxy.accept(client, target));
    return proxy;
  }

  private accept(client: net.Socket, target: { host: string; port: number }): void {
    const upstream = net.connect(target.port, target.host);
    const pair: Pair = { client, upstream };
    this.pairs.add(pair);
    client.on('data', (chunk: Buffer) => {
      if (this.mode === 'blackhole') return;
      this.logSent(chunk);
      upstream.write(chunk);
    });
    upstream.on('data', (chunk: Buffer) => {
      if (this.mode !== 'forward') return;
      client.write(chunk);
    });
    const close = (): void => {
      this.pairs.delete(pair);
      client.destroy();
      upstream.destroy();
    };
    for (const socket of [client, upstream]) {
      socket.on('close', close);
      // A reset or a refused upstream is the fault under test, not a test failure.
      socket.on('error', close);
    }
  }

  private logSent(chunk: Buffer): void {
    this.sentLog += chunk.toString('latin1');
    if (this.sentLog.length > SENT_LOG_LIMIT) this.sentLog = this.sentLog.slice(-SENT_LOG_LIMIT / 2);
  }

  setMode(mode: ProxyMode): void {
    this.mode = mode;
  }

  /** Connections currently open through the proxy. */
  get openConnections(): number {
    return this.pairs.size;
  }

  /** How many times `marker` was sent to the server (recent traffic only). */
  timesSent(marker: string): number {
    return this.sentLog.split(marker).length - 1;
  }

  /** Sends a TCP RST to every client and drops the server side, as a middlebox that lost its state would. */
  reset(): void {
    for (const { client, upstream } of this.pairs) {
      client.resetAndDestroy();
      upstream.destroy();
    }
    this.pairs.clear();
  }

  async close(): Promise<void> {
    this.reset();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }
}
