// A TCP proxy between a pool and PostgreSQL that can forward, blackhole, drop responses or reset connections.
import net from 'node:net';

/**
 * - `forward`: bytes pass both ways.
 * - `blackhole`: bytes are swallowed both ways, as on a partitioned network; new connections are
 *   accepted (the proxy's kernel completes the handshake) but never answered.
 * - `dropResponses`: the server receives everything, the client receives nothing: a write that
 *   ran but whose answer was lost.
 * - `splitErrorFromReady`: bytes pass both ways, but a ReadyForQuery that follows an ErrorResponse
 *   reaches the client `SPLIT_DELAY_MS` later, in a read of its own, as when the two cross the
 *   network in separate packets. Set it while the connections are idle (it frames from there on);
 *   a held-back message is dropped if the mode is `blackhole` or `dropResponses` when it is due.
 */
export type ProxyMode = 'forward' | 'blackhole' | 'dropResponses' | 'splitErrorFromReady';

export const SPLIT_DELAY_MS = 150;

interface Pair {
  client: net.Socket;
  upstream: net.Socket;
  /** Once a connection has been split, all its server bytes go through here, keeping their order. */
  delayer?: ReadyAfterErrorDelayer;
}

const ERROR_RESPONSE = 0x45; // 'E'
const READY_FOR_QUERY = 0x5a; // 'Z'

/** Frames the server's messages (type byte, int32 length) and holds back a ReadyForQuery that follows an error. */
class ReadyAfterErrorDelayer {
  private buffered = Buffer.alloc(0);
  private previousType = 0;
  private delivered = Promise.resolve();

  constructor(
    private readonly client: net.Socket,
    private readonly delivering: () => boolean,
  ) {}

  push(chunk: Buffer): void {
    this.buffered = Buffer.concat([this.buffered, chunk]);
    let start = 0;
    let offset = 0;
    while (this.buffered.length - offset >= 5) {
      const length = 1 + this.buffered.readUInt32BE(offset + 1);
      if (this.buffered.length - offset < length) break;
      const type = this.buffered[offset]!;
      if (type === READY_FOR_QUERY && this.previousType === ERROR_RESPONSE) {
        this.send(this.buffered.subarray(start, offset));
        this.delivered = this.delivered.then(() => new Promise((resolve) => setTimeout(resolve, SPLIT_DELAY_MS)));
        start = offset;
      }
      this.previousType = type;
      offset += length;
    }
    this.send(this.buffered.subarray(start, offset));
    this.buffered = this.buffered.subarray(offset);
  }

  private send(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const copy = Buffer.from(bytes);
    this.delivered = this.delivered.then(() => {
      if (!this.client.destroyed && this.delivering()) this.client.write(copy);
    });
  }
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
      if (this.mode === 'splitErrorFromReady') pair.delayer ??= new ReadyAfterErrorDelayer(client, () => this.mode === 'forward' || this.mode === 'splitErrorFromReady');
      else if (this.mode !== 'forward') return;
      if (pair.delayer) pair.delayer.push(chunk);
      else client.write(chunk);
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
