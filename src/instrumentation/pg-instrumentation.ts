// The zero-code OpenTelemetry Instrumentation: one line in NodeSDK's `instrumentations` and every pg.Pool and
// pg.Client the process creates afterwards is observed, with pg's behaviour unchanged (observation only).
import type { IncomingMessage, ServerResponse } from 'node:http';
import { fileURLToPath } from 'node:url';
import { metrics, trace, type MeterProvider, type TracerProvider } from '@opentelemetry/api';
import { InstrumentationBase, InstrumentationNodeModuleDefinition, type InstrumentationConfig } from '@opentelemetry/instrumentation';
import type pg from 'pg';
import { ConnectionMonitor } from '../telemetry/monitor/monitor.js';
import type { HealthState, HealthStatus, MonitorReport, MonitorSettings } from '../telemetry/monitor/report.js';
import { createOtelTracker } from '../telemetry/otel/otel-tracker.js';
import type { TelemetryOptions } from '../telemetry/otel/telemetry-options.js';
import { INSTRUMENTATION_SCOPE } from '../telemetry/otel/scope.js';
import { TrackerFanout, type Logger, type PoolTracker, type TrackedPool } from '../tracker.js';
import { ClientGroup, openerOf } from './lone-clients.js';
import { ObservedPool } from './observed-pool.js';
import { wrapPgExports, type PgExports, type WrapperHost } from './wrapped-exports.js';

export interface PgManagerInstrumentationConfig extends InstrumentationConfig {
  /** A statement at least this long is slow: a span and a place in the slow list (default 1000). */
  slowQueryThresholdMs?: number;
  /** A pool checkout held this long is reported as a leak, with the borrower's stack (default 300000; 0 turns it off). */
  leakDetectionThresholdMs?: number;
  /** The pool's db.client.connection.pool.name from its options; undefined keeps the default `host:port/database`. */
  poolName?: (options: pg.PoolConfig) => string | undefined;
  /** The OpenTelemetry tracker's options (the providers come from the SDK: setMeterProvider / setTracerProvider). */
  telemetry?: Omit<TelemetryOptions, 'meterProvider' | 'tracerProvider'>;
  /** The in-process monitor's options, per observed pool. */
  monitor?: MonitorSettings;
  logger?: Logger;
}

/** The in-process picture over every observed pool and group of lone clients, by pool name. */
export interface InstrumentationReport {
  status: HealthState;
  reasons: string[];
  checkedAt: string;
  pools: Record<string, MonitorReport>;
}

export interface InstrumentationHealth {
  status: HealthState;
  reasons: string[];
  checkedAt: string;
  pools: Record<string, HealthStatus>;
}

const SUPPORTED_PG = ['>=8.21.0 <9'];
const OWN_DIR = fileURLToPath(new URL('../', import.meta.url));
const consoleLogger: Logger = { warn: (message) => console.warn(message) };
const RANK: Record<HealthState, number> = { healthy: 0, warning: 1, critical: 2 };

type Observed = ObservedPool | ClientGroup;

interface State {
  wrapped: Map<PgExports, ReturnType<typeof wrapPgExports>>;
  observed: Set<Observed>;
  monitors: WeakMap<Observed, ConnectionMonitor>;
  groups: Map<string, ClientGroup>;
  groupOf: WeakMap<pg.Client, ClientGroup>;
  /** Names of the pools observed now: a pool that ended gives its name back, so the next one keeps its series. */
  liveNames: Set<string>;
  otel: PoolTracker | undefined;
  /** The global meter provider the tracker was built on, when none was set explicitly. */
  globalMeterProvider: MeterProvider | undefined;
  meterProvider: MeterProvider | undefined;
  tracerProvider: TracerProvider | undefined;
  warnedInstrumentationPg: boolean;
  active: boolean;
}

function isNamespace(moduleExports: unknown): moduleExports is { default: PgExports } {
  return (moduleExports as Record<symbol, unknown>)[Symbol.toStringTag] === 'Module';
}

/** shimmer (instrumentation-pg's wrapper) marks what it wrapped. */
function wrappedByShimmer(fn: unknown): boolean {
  return typeof fn === 'function' && (fn as { __wrapped?: unknown }).__wrapped === true;
}

export class PgManagerInstrumentation extends InstrumentationBase<PgManagerInstrumentationConfig> implements WrapperHost {
  // No field initializers: InstrumentationBase's constructor calls init() and enable() before they would run.
  declare private _state: State | undefined;

  constructor(config: PgManagerInstrumentationConfig = {}) {
    super(INSTRUMENTATION_SCOPE.name, INSTRUMENTATION_SCOPE.version, config);
  }

  private get state(): State {
    this._state ??= {
      wrapped: new Map(),
      observed: new Set(),
      monitors: new WeakMap(),
      groups: new Map(),
      groupOf: new WeakMap(),
      liveNames: new Set(),
      otel: undefined,
      globalMeterProvider: undefined,
      meterProvider: undefined,
      tracerProvider: undefined,
      warnedInstrumentationPg: false,
      active: false,
    };
    return this._state;
  }

  protected init(): InstrumentationNodeModuleDefinition[] {
    return [
      new InstrumentationNodeModuleDefinition(
        'pg',
        SUPPORTED_PG,
        (moduleExports: unknown) => this.patch(moduleExports),
        (moduleExports: unknown) => this.unpatch(moduleExports),
      ),
    ];
  }

  private get log(): Logger {
    return this.getConfig().logger ?? consoleLogger;
  }

  /** Puts the observing Pool and Client on pg's exports (CommonJS object, and the ES module namespace). */
  private patch<T>(moduleExports: T): T {
    const pgExports = isNamespace(moduleExports) ? moduleExports.default : (moduleExports as PgExports);
    const state = this.state;
    let wrapped = state.wrapped.get(pgExports);
    if (wrapped === undefined) {
      if (wrapPgExports.isWrapped(pgExports.Pool)) {
        this.log.warn('otel-pg-manager: pg is already observed by another PgManagerInstrumentation; this one does nothing');
        return moduleExports;
      }
      wrapped = wrapPgExports(pgExports, this);
      state.wrapped.set(pgExports, wrapped);
    }
    state.active = true;
    pgExports.Pool = wrapped.Pool;
    pgExports.Client = wrapped.Client;
    if (isNamespace(moduleExports)) {
      // import-in-the-middle rebinds `import { Pool, Client } from 'pg'` through the namespace's setters.
      const namespace = moduleExports as Record<string, unknown>;
      namespace.Pool = wrapped.Pool;
      namespace.Client = wrapped.Client;
    }
    return moduleExports;
  }

  /** Puts pg's own classes back; everything observed is let go. */
  private unpatch(moduleExports: unknown): void {
    const pgExports = isNamespace(moduleExports) ? moduleExports.default : (moduleExports as PgExports);
    const wrapped = this.state.wrapped.get(pgExports);
    if (wrapped === undefined) return;
    pgExports.Pool = wrapped.OriginalPool;
    pgExports.Client = wrapped.OriginalClient;
    if (isNamespace(moduleExports)) {
      const namespace = moduleExports as unknown as Record<string, unknown>;
      namespace.Pool = wrapped.OriginalPool;
      namespace.Client = wrapped.OriginalClient;
    }
  }

  override enable(): void {
    super.enable();
    if (this._state) this._state.active = true;
  }

  override disable(): void {
    super.disable();
    const state = this._state;
    if (!state) return;
    state.active = false;
    for (const observed of state.observed) {
      observed.detach();
      state.monitors.get(observed)?.close?.();
    }
    state.observed.clear();
    state.groups.clear();
    state.liveNames.clear();
    void state.otel?.close?.();
    state.otel = undefined;
  }

  override setTracerProvider(provider: TracerProvider): void {
    super.setTracerProvider(provider);
    this.state.tracerProvider = provider;
    this.rebuildTrackers();
  }

  override setMeterProvider(provider: MeterProvider): void {
    super.setMeterProvider(provider);
    // registerInstrumentations() without a provider hands the global one, a no-op until the app's SDK sets its own: follow it.
    this.state.meterProvider = provider === metrics.getMeterProvider() ? undefined : provider;
    this.rebuildTrackers();
  }

  override setConfig(config: PgManagerInstrumentationConfig = {}): void {
    super.setConfig(config);
    if (this._state?.otel) this.rebuildTrackers();
  }

  /** The OpenTelemetry tracker on the current providers (the global ones until the SDK hands its own). */
  private otel(): PoolTracker {
    const state = this.state;
    // Registered with --require / --import before the app started its SDK: follow the global provider once it is set.
    if (state.otel !== undefined && state.meterProvider === undefined && metrics.getMeterProvider() !== state.globalMeterProvider) this.rebuildTrackers();
    state.otel ??= this.createOtel();
    return state.otel;
  }

  private createOtel(): PoolTracker {
    const state = this.state;
    const config = this.getConfig();
    const meterProvider = state.meterProvider ?? metrics.getMeterProvider();
    state.globalMeterProvider = state.meterProvider === undefined ? meterProvider : undefined;
    return createOtelTracker({
      ...config.telemetry,
      meterProvider,
      tracerProvider: state.tracerProvider ?? trace.getTracerProvider(),
      slowQueryThresholdMs: this.slowQueryThresholdMs,
      // NodeSDK hands its providers after constructing the instrumentation: no warning about the no-op ones.
      logger: { warn: () => undefined },
    });
  }

  private get slowQueryThresholdMs(): number {
    return this.getConfig().slowQueryThresholdMs ?? 1000;
  }

  private rebuildTrackers(): void {
    const state = this.state;
    const old = state.otel;
    state.otel = undefined;
    if (old === undefined && state.observed.size === 0) return;
    void old?.close?.();
    const otel = (state.otel = this.createOtel());
    for (const observed of state.observed) observed.trackers = this.fanout(observed, state.monitors.get(observed)!, otel);
  }

  private fanout(observed: TrackedPool, monitor: ConnectionMonitor, otel: PoolTracker): TrackerFanout {
    const trackers = new TrackerFanout(this.log);
    trackers.add(monitor, [observed]);
    trackers.add(otel, [observed]);
    return trackers;
  }

  private newMonitor(): ConnectionMonitor {
    const config = this.getConfig();
    return new ConnectionMonitor({ ...config.monitor, slowQueryThresholdMs: this.slowQueryThresholdMs, logger: this.log });
  }

  private uniqueName(base: string): string {
    const live = this.state.liveNames;
    let name = base;
    for (let n = 2; live.has(name); n++) name = `${base}#${n}`;
    live.add(name);
    return name;
  }

  private warnIfInstrumentationPg(OriginalClient: PgExports['Client'], OriginalPool: PgExports['Pool']): void {
    const state = this.state;
    if (state.warnedInstrumentationPg) return;
    const poolProto = Object.getPrototypeOf(OriginalPool.prototype) as { connect?: unknown };
    if (!wrappedByShimmer(OriginalClient.prototype.query) && !wrappedByShimmer(poolProto.connect)) return;
    state.warnedInstrumentationPg = true;
    this.log.warn(
      'otel-pg-manager: @opentelemetry/instrumentation-pg is registered too: it records db.client.connection.* and ' +
        'db.client.operation.duration under the same names, so every pool is counted twice, and adds a span per statement. ' +
        "Leave it out, or drop its metrics with a view: { meterName: '@opentelemetry/instrumentation-pg', aggregation: { type: AggregationType.DROP } }",
    );
  }

  // WrapperHost: called by the observing classes.

  poolCreated(pool: pg.Pool, server: TrackedPool['server'], OriginalClient: PgExports['Client'], OriginalPool: PgExports['Pool']): ObservedPool | undefined {
    const state = this.state;
    if (!state.active || !this.isEnabled()) return undefined;
    this.warnIfInstrumentationPg(OriginalClient, OriginalPool);
    const config = this.getConfig();
    let named: string | undefined;
    try {
      named = config.poolName?.(pool.options as pg.PoolConfig);
    } catch (error) {
      this.log.warn(`otel-pg-manager: poolName threw (${error instanceof Error ? error.message : String(error)}); the default name is used`);
    }
    const name = this.uniqueName(named ?? `${server.address}:${server.port}/${server.database}`);
    const monitor = this.newMonitor();
    const otel = this.otel();
    const observed: ObservedPool = new ObservedPool(pool, {
      name,
      server,
      leakDetectionThresholdMs: config.leakDetectionThresholdMs ?? 300_000,
      trackers: new TrackerFanout(this.log),
    });
    state.monitors.set(observed, monitor);
    observed.trackers = this.fanout(observed, monitor, otel);
    state.observed.add(observed);
    // A PostgresManager that takes the pool over (create({ pool }), or one it built itself) calls detach(), as pool.end() does.
    const detach = observed.detach.bind(observed);
    observed.detach = () => {
      if (observed.detached) return;
      observed.trackers.poolRemoved(observed);
      detach();
      monitor.close();
      state.observed.delete(observed);
      state.liveNames.delete(name);
    };
    return observed;
  }

  poolEnded(observed: ObservedPool): void {
    observed.detach();
  }

  clientConnecting(client: pg.Client, server: TrackedPool['server']): ClientGroup | undefined {
    const state = this.state;
    if (!state.active || !this.isEnabled()) return undefined;
    const opener = openerOf(new Error().stack, OWN_DIR);
    const base = `${server.address}:${server.port}/${server.database}`;
    const key = `${base} (${opener})`;
    let group = state.groups.get(key);
    if (group === undefined) {
      const monitor = this.newMonitor();
      group = new ClientGroup(key, server, new TrackerFanout(this.log));
      state.monitors.set(group, monitor);
      group.trackers = this.fanout(group, monitor, this.otel());
      state.groups.set(key, group);
      state.observed.add(group);
    }
    state.groupOf.set(client, group);
    return group;
  }

  clientEnded(client: pg.Client): void {
    this._state?.groupOf.get(client)?.ended(client);
  }

  /** The monitor's report (health with reasons, slow list, leaks, history) for every observed pool, by name. */
  report(): InstrumentationReport {
    const pools: Record<string, MonitorReport> = {};
    const context = { schemaError: undefined, replicaAvailable: null };
    for (const observed of this.state.observed) pools[observed.name] = this.state.monitors.get(observed)!.report(context);
    return { ...worst(pools), checkedAt: new Date().toISOString(), pools };
  }

  getHealthStatus(): InstrumentationHealth {
    const pools: Record<string, HealthStatus> = {};
    for (const observed of this.state.observed) pools[observed.name] = this.state.monitors.get(observed)!.getHealthStatus();
    return { ...worst(pools), checkedAt: new Date().toISOString(), pools };
  }

  /** The example service's `/health/db`: 503 when any observed pool is critical, the report as JSON. */
  healthHandler(): (req: IncomingMessage, res: ServerResponse) => void {
    return (_req, res) => {
      const report = this.report();
      res.statusCode = report.status === 'critical' ? 503 : 200;
      res.setHeader('content-type', 'application/json');
      res.end(JSON.stringify(report));
    };
  }
}

function worst(pools: Record<string, { status: HealthState; reasons: string[] }>): { status: HealthState; reasons: string[] } {
  let status: HealthState = 'healthy';
  const reasons: string[] = [];
  for (const [name, pool] of Object.entries(pools)) {
    if (RANK[pool.status] > RANK[status]) status = pool.status;
    for (const reason of pool.reasons) reasons.push(`${name}: ${reason}`);
  }
  return { status, reasons };
}
