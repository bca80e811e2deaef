// observability/grafana-dashboard.json follows the dashboard-linter conventions and shows what the issue asks for.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';

interface Target {
  expr: string;
  refId: string;
  format?: string;
  legendFormat?: string;
  datasource?: { type: string; uid: string };
}

interface Panel {
  id: number;
  type: string;
  title: string;
  description?: string;
  datasource?: { type: string; uid: string };
  fieldConfig?: { defaults?: { unit?: string } };
  gridPos?: { x: number; y: number; w: number; h: number };
  targets?: Target[];
}

interface Variable {
  name: string;
  type: string;
  query: string | { query: string };
}

const dashboard = JSON.parse(readFileSync(new URL('../../observability/grafana-dashboard.json', import.meta.url), 'utf8')) as {
  uid: string;
  title: string;
  tags: string[];
  timezone: string;
  templating: { list: Variable[] };
  panels: Panel[];
};
const panels = dashboard.panels.filter((p) => p.type !== 'row');
const DATASOURCE = { type: 'prometheus', uid: '${datasource}' };

describe('Grafana dashboard', () => {
  it('has a stable uid, tags and UTC time', () => {
    expect(dashboard.uid).toBe('otel-pg-manager');
    expect(dashboard.tags).toContain('postgresql');
    expect(dashboard.timezone).toBe('utc');
  });

  it('has datasource, job, instance and pool variables, each chained to the previous ones', () => {
    const [datasource, job, instance, pool] = dashboard.templating.list;
    expect(datasource).toMatchObject({ name: 'datasource', type: 'datasource', query: 'prometheus' });
    expect(job).toMatchObject({ name: 'job', type: 'query', query: { query: 'label_values(db_client_connection_count, job)' } });
    expect(instance).toMatchObject({ name: 'instance', query: { query: expect.stringMatching(/job=~"\$job".*, instance\)$/) } });
    expect(pool).toMatchObject({ name: 'pool', query: { query: expect.stringMatching(/instance=~"\$instance".*, db_client_connection_pool_name\)$/) } });
  });

  it('gives every panel a title, a description, a unit, the datasource variable and a place', () => {
    const ids = new Set<number>();
    for (const panel of panels) {
      expect(panel.title, `panel ${panel.id}`).toMatch(/\S/);
      expect(panel.description, panel.title).toMatch(/\S{10}/);
      expect(panel.fieldConfig?.defaults?.unit, panel.title).toMatch(/\S/);
      expect(panel.datasource, panel.title).toEqual(DATASOURCE);
      expect(panel.gridPos, panel.title).toBeDefined();
      expect(ids.has(panel.id), `duplicate panel id ${panel.id}`).toBe(false);
      ids.add(panel.id);
      for (const target of panel.targets ?? []) expect(target.datasource, panel.title).toEqual(DATASOURCE);
    }
  });

  it('filters every selector by job, instance and pool, and every range by $__rate_interval', () => {
    for (const panel of panels) {
      for (const { expr } of panel.targets ?? []) {
        const selectors = [...expr.matchAll(/\{([^}]*)\}/g)].map((m) => m[1]!);
        expect(selectors.length, expr).toBeGreaterThan(0);
        for (const selector of selectors) {
          expect(selector, expr).toContain('job=~"$job"');
          expect(selector, expr).toContain('instance=~"$instance"');
          expect(selector, expr).toContain('db_client_connection_pool_name=~"$pool"');
        }
        for (const range of expr.matchAll(/\[([^\]]*)\]/g)) expect(range[1], expr).toBe('$__rate_interval');
      }
    }
  });

  it('sums connection counts and limits alike over the selected instances, so used never exceeds the limit', () => {
    const aggregations = panels
      .flatMap((p) => p.targets ?? [])
      .flatMap((t) => [...t.expr.matchAll(/(\w+) by \(([^)]*)\) \(db_client_connection_(count|max|limit)\{/g)])
      .map((m) => `${m[1]} by (${m[2]}) ${m[3]}`);
    expect(aggregations).toContain('sum by (db_client_connection_pool_name) max');
    expect(aggregations).toContain('sum by (db_client_connection_pool_name) limit');
    for (const aggregation of aggregations) expect(aggregation).toMatch(/^sum by \(db_client_connection_pool_name\) /);
  });

  it('shows pool connections, pending requests, acquisition heatmap and percentiles, timeouts, durations, slow queries and leaks', () => {
    const exprs = (predicate: (p: Panel) => boolean): string =>
      panels
        .filter(predicate)
        .flatMap((p) => p.targets ?? [])
        .map((t) => t.expr)
        .join('\n');
    const all = exprs(() => true);
    expect(all).toContain('db_client_connection_state="used"');
    expect(all).toContain('db_client_connection_state="idle"');
    expect(all).toContain('db_client_connection_max');
    expect(all).toContain('db_client_connection_limit');
    expect(all).toContain('db_client_connection_pending_requests');
    expect(all).toContain('rate(db_client_connection_timeouts_total');
    expect(all).toContain('pg_manager_slow_queries_total');
    expect(all).toContain('pg_manager_connection_leaks_total');
    expect(exprs((p) => p.type === 'heatmap')).toMatch(/^sum by \(le\) \(rate\(db_client_connection_wait_time_bucket/);
    expect(panels.find((p) => p.type === 'heatmap')?.targets?.[0]).toMatchObject({ format: 'heatmap', legendFormat: '{{le}}' });
    for (const q of ['0.5', '0.95', '0.99']) expect(all).toContain(`histogram_quantile(${q}, sum by (db_client_connection_pool_name, le) (rate(db_client_connection_wait_time_bucket`);
    expect(all).toMatch(/histogram_quantile\(0\.95, sum by \(db_query_summary, le\) \(rate\(db_client_operation_duration_bucket/);
    // db.operation.name is set only when a caller states it: no panel groups by it.
    expect(all).not.toContain('db_operation_name');
  });

  it('reads the pool limit under either name, so it works whatever OTEL_SEMCONV_STABILITY_OPT_IN says', () => {
    for (const { expr } of panels.flatMap((p) => p.targets ?? [])) {
      if (!/db_client_connection_(limit|max)\{/.test(expr)) continue;
      expect(expr).toMatch(/\(sum by \(db_client_connection_pool_name\) \(db_client_connection_limit\{[^}]*\}\) or sum by \(db_client_connection_pool_name\) \(db_client_connection_max\{[^}]*\}\)\)/);
    }
    // The variables read a metric both conventions share.
    for (const variable of dashboard.templating.list.filter((v) => v.type === 'query')) {
      expect(JSON.stringify(variable.query)).toContain('db_client_connection_count');
    }
  });
});
