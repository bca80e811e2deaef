// Workers running mixed reads and uniquely keyed writes, with a ledger to prove nothing was lost or written twice.
import { PgManagerError, type PostgresManager } from '../../../src/index.js';

/** No unique constraint on purpose: a write sent twice must show up as two rows, not be hidden by a 23505. */
export const LEDGER_DDL = 'CREATE TABLE IF NOT EXISTS ledger (id bigserial PRIMARY KEY, k text NOT NULL)';

export interface WorkloadOptions {
  workers: number;
  /** Share of operations that write, 0..1. */
  writeRatio: number;
  /** Prefix of every key, so two workloads on one table stay apart. */
  prefix: string;
  /** Pause after a failure, so a dead server is not hammered in a tight loop. */
  pauseAfterFailureMs?: number;
}

type Op = 'read' | 'write' | 'tx-write';

// Samples kept of untyped failures; they only serve to explain a failing assertion.
const UNTYPED_SAMPLES = 20;

/** A failure is typed when it is one of the package's errors or carries PostgreSQL's SQLSTATE. */
export function isTypedError(error: unknown): boolean {
  if (error instanceof PgManagerError) return true;
  const code = (error as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^[0-9A-Z]{5}$/.test(code);
}

export class Workload {
  readonly acked = new Set<string>();
  readonly unacked = new Set<string>();
  /** performance.now() of each failure and success: plain numbers, so a long run stays small. */
  readonly failureTimes: number[] = [];
  readonly successTimes: number[] = [];
  readonly calls: Record<Op, number> = { read: 0, write: 0, 'tx-write': 0 };
  untypedCount = 0;
  readonly untypedSamples: string[] = [];
  private running = false;
  private loops: Promise<void>[] = [];

  constructor(
    private readonly db: PostgresManager,
    private readonly options: WorkloadOptions,
  ) {}

  start(): void {
    this.running = true;
    this.loops = Array.from({ length: this.options.workers }, (_, w) => this.worker(w));
  }

  async stop(): Promise<void> {
    this.running = false;
    await Promise.all(this.loops);
  }

  get attemptedWrites(): number {
    return this.acked.size + this.unacked.size;
  }

  /** First success at or after `time` (performance.now()), or undefined. */
  firstSuccessAfter(time: number): number | undefined {
    return this.successTimes.find((t) => t >= time);
  }

  private async worker(w: number): Promise<void> {
    for (let seq = 0; this.running; seq++) {
      const roll = Math.random();
      const op: Op = roll >= this.options.writeRatio ? 'read' : roll < this.options.writeRatio / 2 ? 'write' : 'tx-write';
      const key = `${this.options.prefix}-${w}-${seq}`;
      this.calls[op]++;
      try {
        if (op === 'read') {
          await this.db.read('SELECT count(*) FROM ledger');
        } else if (op === 'write') {
          await this.db.query('INSERT INTO ledger (k) VALUES ($1)', [key]);
          this.acked.add(key);
        } else {
          await this.db.transaction(async (client) => {
            await client.query('INSERT INTO ledger (k) VALUES ($1)', [key]);
          });
          this.acked.add(key);
        }
        this.successTimes.push(performance.now());
      } catch (error) {
        if (op !== 'read') this.unacked.add(key);
        this.failureTimes.push(performance.now());
        if (!isTypedError(error)) {
          this.untypedCount++;
          if (this.untypedSamples.length < UNTYPED_SAMPLES) this.untypedSamples.push(`${op}: ${String(error)}`);
        }
        await new Promise((r) => setTimeout(r, this.options.pauseAfterFailureMs ?? 20));
      }
    }
  }

  /**
   * Compares the ledger with what the workers were told: every acknowledged write exactly once,
   * every failed write at most once, nothing that was never attempted.
   */
  verify(rows: ReadonlyArray<{ k: string; n: string | number }>): {
    missing: string[];
    duplicated: string[];
    unknown: string[];
    failedButPresent: number;
  } {
    const counts = new Map(rows.filter((r) => r.k.startsWith(`${this.options.prefix}-`)).map((r) => [r.k, Number(r.n)]));
    const missing = [...this.acked].filter((k) => !counts.has(k));
    const duplicated = [...counts].filter(([, n]) => n > 1).map(([k]) => k);
    const unknown = [...counts.keys()].filter((k) => !this.acked.has(k) && !this.unacked.has(k));
    const failedButPresent = [...this.unacked].filter((k) => counts.has(k)).length;
    return { missing, duplicated, unknown, failedButPresent };
  }
}
