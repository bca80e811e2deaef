// The demo's live view: a frame redrawn in place on a terminal, or one plain line per frame when output is not a terminal.
import { relative } from 'node:path';
import type { LeakWarning, PoolMetrics, PoolState } from '../src/index.js';

export interface ViewFrame {
  elapsedSeconds: number;
  durationSeconds: number;
  /** Where the data lives, without credentials. */
  database: string;
  urls: { metrics: string; health: string };
  metrics: PoolMetrics;
  slowQueryThresholdMs: number;
  /** Database calls finished per second since the previous frame, and in all. */
  queriesPerSecond: number;
  queries: number;
  requestsPerSecond: number;
  /** HTTP responses of the example service by status code, in all. */
  responses: Record<number, number>;
  /** What the load is doing now, in a few words. */
  activity: string;
  /** The latest warnings of the manager, first line of each. */
  log: readonly string[];
}

export interface RenderOptions {
  width: number;
  color: boolean;
}

const BAR_WIDTH = 32;
const SLOW_QUERIES_SHOWN = 3;

const ESC = '\x1b';
const COLOR_CODE = new RegExp(`${ESC}\\[[0-9;]*m`, 'g');

const STYLE = { bold: '1', dim: '2', red: '31', green: '32', yellow: '33', cyan: '36' } as const;
type Style = keyof typeof STYLE;

function styler(color: boolean): (text: string, ...styles: Style[]) => string {
  return (text, ...styles) => (color && styles.length > 0 ? `${ESC}[${styles.map((s) => STYLE[s]).join(';')}m${text}${ESC}[0m` : text);
}

/** Visible length, ignoring colour codes. */
const visible = (line: string): number => line.replace(COLOR_CODE, '').length;

/** Cut to the width; a coloured line that is too long loses its colour rather than be cut inside a colour code. */
function clip(line: string, width: number): string {
  if (visible(line) <= width) return line;
  const plain = line.replace(COLOR_CODE, '');
  return `${plain.slice(0, Math.max(0, width - 1))}…`;
}

/** `count` of `scale` as a bar; past the scale it is full and ends in an arrow. */
function bar(count: number, scale: number): string {
  const filled = Math.min(BAR_WIDTH, Math.round((count / Math.max(1, scale)) * BAR_WIDTH));
  return count > scale ? `${'█'.repeat(BAR_WIDTH - 1)}▶` : `${'█'.repeat(filled)}${'·'.repeat(BAR_WIDTH - filled)}`;
}

const ms = (value: number): string => (value >= 100 ? `${Math.round(value)} ms` : `${Number(value.toPrecision(2))} ms`);
const seconds = (value: number): string => `${Math.round(value)} s`;
/** Leases are held for seconds: a tenth of one still tells a 0.4 s hold from a 0.04 s one. */
const held = (heldMs: number): string => (heldMs < 10_000 ? `${(heldMs / 1000).toFixed(1)} s` : seconds(heldMs / 1000));

/** The first frame of a borrower's stack that is not inside node itself, with a path relative to here. */
function borrowerFrame(stack: string | undefined): string {
  const line = stack?.split('\n').find((l) => l.includes(' at ') && !l.includes('node:'));
  if (!line) return 'no stack captured';
  return line.trim().replace(/\(?(\/[^():]+)(:\d+:\d+)\)?$/, (_all, file: string, position: string) => `(${relative(process.cwd(), file)}${position})`);
}

/** The line under a lease's: what its connection was doing, as the monitor names it (normalized). */
function leakStatement(leak: LeakWarning): string | undefined {
  return leak.statement && `    ${leak.statementRunning ? 'running' : 'last ran'} ${leak.statement.replace(/\s+/g, ' ')}`;
}

function statusCounts(responses: Record<number, number>): string {
  const classes = new Map<string, number>();
  for (const [status, count] of Object.entries(responses)) {
    const key = `${status[0]}xx`;
    classes.set(key, (classes.get(key) ?? 0) + count);
  }
  return [...classes].sort().map(([key, count]) => `${key} ${count}`).join('  ') || 'none yet';
}

function poolLines(pool: PoolState, metrics: PoolMetrics, paint: ReturnType<typeof styler>): string[] {
  const acquisition = metrics.acquisition[pool.role];
  const waitingStyle: Style[] = pool.waiting > 0 ? ['yellow'] : [];
  return [
    paint(`pool ${pool.name}${pool.name === pool.role ? '' : ` (${pool.role})`}  ${pool.total} open of max ${pool.max}`, 'bold'),
    `  used     ${paint(bar(pool.used, pool.max), pool.used >= pool.max ? 'red' : 'green')} ${pool.used}`,
    `  idle     ${paint(bar(pool.idle, pool.max), 'cyan')} ${pool.idle}`,
    `  waiting  ${paint(bar(pool.waiting, pool.max), ...waitingStyle)} ${pool.waiting}`,
    acquisition
      ? `  acquire  p50 ${ms(acquisition.p50Ms)}  p99 ${ms(acquisition.p99Ms)}  max ${ms(acquisition.maxMs)}  ` +
        `(last ${acquisition.samples})  timeouts ${acquisition.timeouts}`
      : '  acquire  no acquisitions yet',
  ];
}

export function renderFrame(frame: ViewFrame, options: RenderOptions): string[] {
  const paint = styler(options.color);
  const { width } = options;
  // Long texts are cut before they are coloured, so a cut never lands inside a colour code.
  const fit = (text: string, ...styles: Style[]): string => paint(clip(text, width), ...styles);
  const { metrics } = frame;
  const statusStyle: Style = metrics.status === 'healthy' ? 'green' : metrics.status === 'warning' ? 'yellow' : 'red';
  const lines: string[] = [
    `${paint('otel-pg-manager demo', 'bold')}  ${seconds(frame.elapsedSeconds)} of ${seconds(frame.durationSeconds)}  ·  ${frame.database}  ·  Ctrl-C stops`,
    `  metrics  ${frame.urls.metrics}`,
    `  health   ${frame.urls.health}`,
    `  load     ${frame.activity}`,
    '',
  ];
  const pools = [metrics.pools.primary, ...(metrics.pools.replica ? [metrics.pools.replica] : [])];
  for (const pool of pools) lines.push(...poolLines(pool, metrics, paint), '');
  lines.push(
    `queries  ${Math.round(frame.queriesPerSecond)}/s  (${frame.queries} in all)    ` +
      `http  ${Math.round(frame.requestsPerSecond)}/s  ${statusCounts(frame.responses)}`,
    '',
    `health   ${paint(metrics.status.toUpperCase(), 'bold', statusStyle)}`,
  );
  for (const reason of metrics.reasons) lines.push(fit(`  - ${reason}`));
  lines.push('', `slow queries (≥ ${frame.slowQueryThresholdMs} ms)${metrics.slowQueries.length === 0 ? ': none yet' : ''}`);
  for (const query of metrics.slowQueries.slice(0, SLOW_QUERIES_SHOWN)) {
    const figures = `  ${`${query.slowExecutions}× max ${ms(query.maxMs)}`.padEnd(18)} `;
    lines.push(figures + paint(clip(query.query.replace(/\s+/g, ' '), width - figures.length), 'dim'));
  }
  const { leaks } = metrics;
  lines.push('', `leaks    ${leaks.detected} detected, ${leaks.resolved} returned late`);
  const leakLines = (leak: LeakWarning, state: string, ...styles: Style[]): void => {
    lines.push(fit(`  lease #${leak.leaseId} of pool ${leak.pool} ${state} ${held(leak.heldMs)}, borrowed ${borrowerFrame(leak.stack)}`, ...styles));
    const statement = leakStatement(leak);
    if (statement !== undefined) lines.push(fit(statement, 'dim'));
  };
  for (const leak of leaks.active) leakLines(leak, 'held', 'red');
  for (const leak of leaks.recentlyResolved.slice(-1)) leakLines(leak, 'came back after');
  if (frame.log.length > 0) {
    lines.push('', 'log');
    for (const line of frame.log) lines.push(fit(`  ${line}`, 'dim'));
  }
  return lines.map((line) => clip(line, width));
}

/** One line per frame for logs and CI, where redrawing would only repeat the frame. */
export function renderLine(frame: ViewFrame): string {
  const { metrics } = frame;
  const pools = [metrics.pools.primary, ...(metrics.pools.replica ? [metrics.pools.replica] : [])].map((pool) => {
    const acquisition = metrics.acquisition[pool.role];
    const times = acquisition ? ` acquire p50 ${ms(acquisition.p50Ms)} p99 ${ms(acquisition.p99Ms)}` : '';
    return `${pool.name} used ${pool.used}/${pool.max} idle ${pool.idle} waiting ${pool.waiting}${times}`;
  });
  const slowest = metrics.slowQueries[0];
  const slow = slowest ? `slow ${metrics.slowQueries.reduce((n, q) => n + q.slowExecutions, 0)} (max ${ms(slowest.maxMs)})` : 'slow 0';
  const health = metrics.reasons.length > 0 ? `${metrics.status}: ${metrics.reasons.join('; ')}` : metrics.status;
  return [
    `[${String(Math.round(frame.elapsedSeconds)).padStart(3)} s]`,
    pools.join(' | '),
    `| ${Math.round(frame.queriesPerSecond)} q/s`,
    `| ${slow}`,
    `| leaks ${metrics.leaks.active.length} held, ${metrics.leaks.detected} detected`,
    `| health ${health}`,
  ].join(' ');
}

/** Draws frames on a stream: in place on a terminal (each frame replaces the last), appended lines otherwise. */
export class LiveView {
  private drawnLines = 0;
  readonly interactive: boolean;

  constructor(private readonly stream: NodeJS.WriteStream) {
    this.interactive = stream.isTTY === true;
  }

  show(frame: ViewFrame): void {
    if (!this.interactive) {
      this.stream.write(`${renderLine(frame)}\n`);
      return;
    }
    const color = process.env.NO_COLOR === undefined;
    const rows = this.stream.rows ?? 40;
    const width = this.stream.columns ?? 100;
    // A frame taller than the screen cannot be redrawn in place: the cursor cannot move above the top line.
    const lines = renderFrame(frame, { width, color }).slice(0, Math.max(1, rows - 1));
    const clear = this.drawnLines > 0 ? `${ESC}[${this.drawnLines}F${ESC}[0J` : '';
    this.stream.write(`${clear}${lines.join('\n')}\n`);
    this.drawnLines = lines.length;
  }

  /** Lines written between frames would be erased by the next redraw: they go above the frame instead. */
  print(text: string): void {
    if (this.interactive && this.drawnLines > 0) {
      this.stream.write(`${ESC}[${this.drawnLines}F${ESC}[0J`);
      this.drawnLines = 0;
    }
    this.stream.write(`${text}\n`);
  }
}
