// observability/alerts.yaml: promtool check and unit tests, and the annotations every alert must carry.
import { execFileSync, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

const rulesPath = fileURLToPath(new URL('../../observability/alerts.yaml', import.meta.url));
const testsPath = fileURLToPath(new URL('../../observability/alerts.test.yaml', import.meta.url));
const rules = (parse(readFileSync(rulesPath, 'utf8')) as { groups: { name: string; rules: Rule[] }[] }).groups.flatMap((g) => g.rules);
const alerts = rules.filter((r) => r.alert !== undefined);
const RUNBOOK_BASE = 'https://www.npmjs.com/package/otel-pg-manager#';

function findPromtool(): string | undefined {
  const found = spawnSync('sh', ['-c', 'command -v promtool'], { encoding: 'utf8' });
  return found.status === 0 ? found.stdout.trim() : undefined;
}

const promtool = findPromtool();
if (!promtool) {
  console.warn("promtool is not on PATH: skipping 'promtool check rules' and 'promtool test rules' (apt-get install prometheus)");
}

function run(args: string[]): string {
  try {
    return execFileSync(promtool!, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
  } catch (error) {
    const { stdout, stderr } = error as { stdout?: string; stderr?: string };
    throw new Error(`promtool ${args.join(' ')} failed:\n${stdout ?? ''}${stderr ?? ''}`);
  }
}

describe('alert rules', () => {
  it.skipIf(!promtool)('pass promtool check rules', () => {
    expect(run(['check', 'rules', rulesPath])).toContain('SUCCESS');
  });

  it.skipIf(!promtool)('pass their promtool unit tests', () => {
    expect(run(['test', 'rules', testsPath])).toContain('SUCCESS');
  });

  it('cover saturation, pending requests, slow acquisition, timeouts, leaks and slow queries', () => {
    expect(alerts.map((a) => a.alert).sort()).toEqual([
      'PgPoolAcquisitionSlow',
      'PgPoolAcquisitionTimeouts',
      'PgPoolConnectionLeak',
      'PgPoolRequestsPending',
      'PgPoolSaturated',
      'PgPoolSlowQueriesRising',
    ]);
  });

  it('each carry severity, a summary sentence, a templated description and a runbook link into the README', () => {
    for (const alert of alerts) {
      const name = alert.alert!;
      expect(['critical', 'warning', 'info'], name).toContain(alert.labels?.severity);
      expect(alert.for, name).toMatch(/^\d+[smh]$/);
      expect(alert.annotations?.summary, name).toMatch(/^[A-Z].*\.$/);
      expect(alert.annotations?.summary, name).not.toContain('{{');
      expect(alert.annotations?.description, name).toContain('{{ $labels.db_client_connection_pool_name }}');
      expect(alert.annotations?.description, name).toContain('{{ $value');
      expect(alert.annotations?.runbook_url, name).toBe(`${RUNBOOK_BASE}${name.toLowerCase()}`);
    }
  });

  it('aggregate by job, instance and pool, so each pool alerts on its own', () => {
    for (const rule of rules) {
      if (rule.expr.includes('pg_manager:')) continue;
      for (const grouping of rule.expr.matchAll(/\bby \(([^)]*)\)/g)) {
        expect(grouping[1]!.split(',').map((s) => s.trim()), rule.alert ?? rule.record).toEqual(
          expect.arrayContaining(['job', 'instance', 'db_client_connection_pool_name']),
        );
      }
    }
  });
});
