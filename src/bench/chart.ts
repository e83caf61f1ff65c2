import type { BenchEntry, BenchReport } from './command.ts';

/**
 * `--chart FILE`: the report as one standalone SVG (no script, no external font or style, so it
 * opens in a browser, a CI artifact viewer or a README as it is). One group of bars per scenario
 * and mode, one bar per target (and round), each group scaled to its own largest figure: MiB/s
 * and req/s are never drawn on one axis. With --compare the group's label carries the ratio.
 */

const WIDTH = 760;
const LABEL_WIDTH = 230;
const BAR_HEIGHT = 18;
const BAR_GAP = 4;
const GROUP_GAP = 16;
const TOP = 48;
/** One colour per target, in the order of the command line (colour-blind safe pair first). */
const COLOURS = ['#0072b2', '#e69f00', '#009e73', '#cc79a7'];

interface Bar {
  readonly label: string;
  readonly value: number;
  readonly unit: string;
  readonly target: number;
  readonly errors: number;
}

interface Group {
  readonly title: string;
  readonly bars: Bar[];
}

export function renderChart(report: BenchReport): string {
  const targets = [...new Set(report.scenarios.map((e) => e.target))];
  const groups = groupsOf(report, targets);
  const height = TOP + groups.reduce((sum, g) => sum + 20 + g.bars.length * (BAR_HEIGHT + BAR_GAP) + GROUP_GAP, 0) + 24;
  const parts: string[] = [];
  let y = TOP;
  for (const group of groups) {
    parts.push(text(8, y + 12, group.title, 'title'));
    y += 20;
    const max = Math.max(...group.bars.map((b) => b.value), Number.MIN_VALUE);
    for (const bar of group.bars) {
      const width = Math.max(1, Math.round(((WIDTH - LABEL_WIDTH - 150) * bar.value) / max));
      parts.push(text(LABEL_WIDTH - 8, y + 13, bar.label, 'target'));
      parts.push(`<rect x="${LABEL_WIDTH}" y="${y}" width="${width}" height="${BAR_HEIGHT}" fill="${COLOURS[bar.target % COLOURS.length]}"><title>${escape(`${bar.label}: ${bar.value} ${bar.unit}`)}</title></rect>`);
      parts.push(text(LABEL_WIDTH + width + 6, y + 13, `${bar.value} ${bar.unit}${bar.errors > 0 ? ` (${bar.errors} errors)` : ''}`, 'value'));
      y += BAR_HEIGHT + BAR_GAP;
    }
    y += GROUP_GAP;
  }
  const legend = targets.map((t, i) => `<rect x="${8 + i * 300}" y="22" width="12" height="12" fill="${COLOURS[i % COLOURS.length]}"/>${text(26 + i * 300, 33, t, 'legend')}`).join('');
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="system-ui, sans-serif" font-size="12">`,
    '<style>.title{font-weight:600}.target{text-anchor:end}.legend{font-size:12px}</style>',
    `<rect width="100%" height="100%" fill="#fff"/>`,
    text(8, 14, `quayside bench, ${report.at} (${report.machine['cores'] ?? '?'} cores, node ${report.machine['node'] ?? '?'})`, 'title'),
    legend,
    ...parts,
    text(8, height - 8, 'Bars of one group share a scale; groups do not. Longer is better.', 'note'),
    '</svg>',
    '',
  ].join('\n');
}

function groupsOf(report: BenchReport, targets: readonly string[]): Group[] {
  const groups = new Map<string, Group>();
  for (const entry of report.scenarios) {
    const key = `${entry.name} ${entry.mode}`;
    const group = groups.get(key) ?? { title: titleOf(report, entry), bars: [] };
    groups.set(key, group);
    const { value, unit } = figureOf(entry);
    const target = targets.indexOf(entry.target);
    group.bars.push({ label: `${shortName(entry.target)}${entry.round === undefined ? '' : ` #${entry.round}`}`, value, unit, target, errors: Object.values(entry.errors).reduce((a, b) => a + b, 0) });
  }
  return [...groups.values()];
}

function titleOf(report: BenchReport, entry: BenchEntry): string {
  const ratios = report.comparisons.filter((c) => c.name === entry.name && c.mode === entry.mode && c.ratio !== undefined).map((c) => `${c.ratio}×`);
  const shape = entry.mibPerSec === undefined ? `${entry.parallel} at once` : `${entry.parallel} × ${sizeText(entry.size)}`;
  return `${entry.name} ${entry.mode} (${shape})${ratios.length > 0 ? `: first target ${ratios.join(', ')} the second` : ''}`;
}

function figureOf(entry: BenchEntry): { value: number; unit: string } {
  return entry.mibPerSec !== undefined ? { value: entry.mibPerSec, unit: 'MiB/s' } : { value: entry.requestsPerSec ?? 0, unit: 'req/s' };
}

function shortName(target: string): string {
  return target.replace(/^https?:\/\//, '');
}

function sizeText(bytes: number): string {
  for (const [unit, size] of [['GiB', 2 ** 30], ['MiB', 2 ** 20], ['KiB', 2 ** 10]] as const) if (bytes >= size && bytes % size === 0) return `${bytes / size} ${unit}`;
  return `${bytes} B`;
}

function text(x: number, y: number, content: string, kind: string): string {
  return `<text x="${x}" y="${y}" class="${kind}">${escape(content)}</text>`;
}

function escape(value: string): string {
  return value.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}
