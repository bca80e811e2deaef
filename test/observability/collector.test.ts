// Structure of otel-collector.yaml: every pipeline component defined, every defined one used, memory_limiter first, one metric naming.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

type Section = Record<string, unknown>;

interface CollectorConfig {
  extensions?: Section;
  receivers: Section;
  processors?: Section;
  exporters: Section;
  service: {
    extensions?: string[];
    pipelines: Record<string, { receivers: string[]; processors?: string[]; exporters: string[] }>;
  };
}

const text = readFileSync(new URL('../../otel-collector.yaml', import.meta.url), 'utf8');
// `yaml` rejects duplicate keys by default, so a key defined twice fails here too.
const config = parse(text) as CollectorConfig;
const pipelines = Object.entries(config.service.pipelines);
const KINDS = ['receivers', 'processors', 'exporters'] as const;

/** The type of a component id: `otlp/jaeger` is an `otlp` exporter named `jaeger`. */
const typeOf = (id: string): string => id.split('/')[0]!;

describe('otel-collector.yaml', () => {
  it('has a header comment with the command that runs it', () => {
    expect(text.split('\n')[0]).toMatch(/^# /);
    expect(text).toMatch(/^#\s+docker run /m);
    expect(text).toMatch(/^#\s+otel\/opentelemetry-collector-contrib:[\d.]+$/m);
  });

  it('defines every component a pipeline uses', () => {
    for (const [name, pipeline] of pipelines) {
      for (const kind of KINDS) {
        for (const id of pipeline[kind] ?? []) expect(config[kind] ?? {}, `${name} uses ${kind}.${id}`).toHaveProperty([id]);
      }
    }
    for (const id of config.service.extensions ?? []) expect(config.extensions ?? {}, `extension ${id}`).toHaveProperty([id]);
  });

  it('uses every component it defines', () => {
    for (const kind of KINDS) {
      const used = new Set(pipelines.flatMap(([, pipeline]) => pipeline[kind] ?? []));
      for (const id of Object.keys(config[kind] ?? {})) expect(used.has(id), `${kind}.${id} is defined but unused`).toBe(true);
    }
    const enabled = new Set(config.service.extensions ?? []);
    for (const id of Object.keys(config.extensions ?? {})) expect(enabled.has(id), `extension ${id} is defined but not enabled`).toBe(true);
  });

  it('puts memory_limiter first in every pipeline', () => {
    for (const [name, pipeline] of pipelines) expect(pipeline.processors?.[0], name).toBe('memory_limiter');
  });

  it('receives OTLP over gRPC on 4317 and HTTP on 4318, on all interfaces', () => {
    const otlp = config.receivers.otlp as { protocols: { grpc: { endpoint: string }; http: { endpoint: string } } };
    expect(otlp.protocols.grpc.endpoint).toBe('0.0.0.0:4317');
    expect(otlp.protocols.http.endpoint).toBe('0.0.0.0:4318');
    for (const [, pipeline] of pipelines) expect(pipeline.receivers).toEqual(['otlp']);
  });

  it('sends traces to Jaeger over OTLP with batching, metrics to a Prometheus endpoint, both to debug', () => {
    const { traces, metrics } = config.service.pipelines;
    expect(traces?.exporters.map(typeOf).sort()).toEqual(['debug', 'otlp']);
    expect(metrics?.exporters.map(typeOf).sort()).toEqual(['debug', 'prometheus']);
    const jaeger = config.exporters[traces!.exporters.find((id) => typeOf(id) === 'otlp')!] as { endpoint: string; sending_queue: { batch: object } };
    expect(jaeger.endpoint).toMatch(/jaeger:4317$/);
    expect(jaeger.sending_queue.batch).toBeDefined();
  });

  it('exports the direct-scrape metric names: unit `s` cleared for this package before the suffixing exporter', () => {
    const { metrics } = config.service.pipelines;
    expect(metrics?.processors).toContain('transform/direct_scrape_names');
    expect((config.exporters.prometheus as { translation_strategy: string }).translation_strategy).toBe('UnderscoreEscapingWithSuffixes');
    const transform = config.processors?.['transform/direct_scrape_names'] as { metric_statements: { context: string; statements: string[] }[] };
    const statement = transform.metric_statements[0]!.statements[0]!;
    expect(transform.metric_statements[0]!.context).toBe('metric');
    expect(statement).toMatch(/^set\(metric\.unit, ""\) where metric\.unit == "s" and IsMatch\(metric\.name, "(.+)"\)$/);
    // The OTTL string literal unescaped is the regular expression the collector applies.
    const pattern = new RegExp(statement.match(/IsMatch\(metric\.name, "(.+)"\)$/)![1]!.replace(/\\\\/g, '\\'));
    for (const name of ['db.client.connection.wait_time', 'db.client.connection.use_time', 'db.client.connection.create_time', 'db.client.operation.duration']) {
      expect(pattern.test(name), name).toBe(true);
    }
    expect(pattern.test('http.server.request.duration')).toBe(false);
  });
});
