// Renders the benchmark's throughput ratios (arm / raw pg.Pool) as a grouped bar chart in plain SVG.

const COLORS: Record<string, string> = {
  'raw-no-sdk': '#cfcfcf',
  raw: '#9e9e9e',
  'manager-off': '#4c78a8',
  'create-only': '#b279a2',
  'manager-on': '#54a24b',
  'db-pool': '#72b7b2',
  'instrumentation-pg': '#e45756',
  'zero-code': '#f58518',
};
const LEGEND_PER_ROW = 4;

export function renderRatioChart(
  workloads: string[],
  arms: string[],
  summary: Record<string, Record<string, { ratio: number }>>,
): string {
  const width = 760;
  const height = 380;
  const left = 60;
  const bottom = 300;
  const top = 40;
  const maxRatio = 1.2;
  const groupWidth = (width - left - 20) / workloads.length;
  const barWidth = (groupWidth - 30) / arms.length;
  const y = (ratio: number): number => bottom - (Math.min(ratio, maxRatio) / maxRatio) * (bottom - top);
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" font-family="sans-serif" font-size="12">`,
    `<rect width="100%" height="100%" fill="white"/>`,
    `<text x="${left}" y="22" font-size="14" font-weight="bold">Throughput relative to raw pg.Pool with the SDK registered (median of per-round ratios; higher is better)</text>`,
  ];
  for (const tick of [0, 0.25, 0.5, 0.75, 1, 1.2]) {
    parts.push(
      `<line x1="${left}" x2="${width - 20}" y1="${y(tick)}" y2="${y(tick)}" stroke="${tick === 1 ? '#333' : '#ddd'}"/>`,
      `<text x="${left - 8}" y="${y(tick) + 4}" text-anchor="end">${tick.toFixed(2)}</text>`,
    );
  }
  workloads.forEach((workload, g) => {
    const x0 = left + g * groupWidth + 15;
    arms.forEach((arm, a) => {
      const ratio = summary[workload]?.[arm]?.ratio;
      if (ratio === undefined) return; // an arm BENCH_ARMS left out
      const x = x0 + a * barWidth;
      parts.push(
        `<rect x="${x.toFixed(1)}" y="${y(ratio).toFixed(1)}" width="${(barWidth - 4).toFixed(1)}" height="${(bottom - y(ratio)).toFixed(1)}" fill="${COLORS[arm] ?? '#888'}"/>`,
        `<text x="${(x + (barWidth - 4) / 2).toFixed(1)}" y="${(y(ratio) - 4).toFixed(1)}" text-anchor="middle" font-size="10">${ratio.toFixed(2)}</text>`,
      );
    });
    parts.push(`<text x="${(x0 + (groupWidth - 30) / 2).toFixed(1)}" y="${bottom + 18}" text-anchor="middle">${workload}</text>`);
  });
  arms.forEach((arm, a) => {
    const x = left + (a % LEGEND_PER_ROW) * 160;
    const row = bottom + 34 + Math.floor(a / LEGEND_PER_ROW) * 20;
    parts.push(
      `<rect x="${x}" y="${row}" width="12" height="12" fill="${COLORS[arm] ?? '#888'}"/>`,
      `<text x="${x + 18}" y="${row + 10}">${arm}</text>`,
    );
  });
  parts.push('</svg>');
  return parts.join('\n');
}
