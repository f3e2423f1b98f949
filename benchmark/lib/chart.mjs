// A hand-written SVG bar chart of the results of benchmark/run.mjs (no dependency): one panel
// per measurement, grouped horizontal bars (one colour per implementation), absolute values
// written next to each bar, bar lengths scaled to the largest value of the panel (linearly, or
// on a log scale for latencies that span decades).
const COLORS = {
  'cluster-share': '#2563eb',
  'cluster-client': '#f59e0b',
  bare: '#6b7280',
  direct: '#10b981',
};
const LABELS = {
  'cluster-share': 'cluster-share',
  'cluster-client': 'cluster-client 3.7.0',
  bare: 'bare socket (floor)',
  direct: 'own client per process',
};

const esc = s => String(s).replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

export const fmt = {
  rate: v => (v >= 1e6 ? `${(v / 1e6).toFixed(2)}M/s` : v >= 1e4 ? `${(v / 1e3).toFixed(0)}k/s` : v >= 1e3 ? `${(v / 1e3).toFixed(1)}k/s` : `${v.toFixed(0)}/s`),
  us: v => (v >= 1e4 ? `${(v / 1e3).toFixed(0)} ms` : v >= 1e3 ? `${(v / 1e3).toFixed(1)} ms` : `${v.toFixed(0)} µs`),
  ms: v => `${v.toFixed(0)} ms`,
  mb: v => `${(v / 1048576).toFixed(1)} MB`,
  int: v => `${Math.round(v)}`,
};

const PAD = 12;
const WIDTH = 1000 + 2 * PAD;
const COL_W = 490;
const GAP = 20;
const LABEL_W = 96;
const BAR_H = 13;
const BAR_GAP = 2;
const GROUP_GAP = 9;
const VALUE_W = 64;

function panelHeight(panel) {
  const bars = panel.groups.reduce((n, g) => n + g.bars.length, 0);
  return 44 + bars * (BAR_H + BAR_GAP) + panel.groups.length * GROUP_GAP + 6;
}

function renderPanel(panel, x, y) {
  const out = [];
  const h = panelHeight(panel);
  out.push(`<rect x="${x}" y="${y}" width="${COL_W}" height="${h}" rx="6" fill="#ffffff" stroke="#e5e7eb"/>`);
  out.push(`<text x="${x + 12}" y="${y + 20}" font-size="13" font-weight="600" fill="#111827">${esc(panel.title)}</text>`);
  out.push(`<text x="${x + 12}" y="${y + 35}" font-size="10.5" fill="#6b7280">${esc(panel.subtitle)}</text>`);
  const values = panel.groups.flatMap(g => g.bars.map(b => b.value)).filter(v => v !== null && v !== undefined && v > 0);
  const max = Math.max(...values, 1e-9);
  const barX = x + 12 + LABEL_W;
  const barW = COL_W - 24 - LABEL_W - VALUE_W;
  // Linear: length ∝ value. Log (for latencies spanning decades): the smallest value gets 1/8 of
  // the width, the largest all of it, equal ratios equal steps.
  const min = Math.min(...values, max);
  const logLo = Math.log(min) - (Math.log(max) - Math.log(min) || 1) / 7;
  const length = v => panel.scale === 'log'
    ? ((Math.log(v) - logLo) / (Math.log(max) - logLo)) * barW
    : (v / max) * barW;
  let cy = y + 46;
  for (const group of panel.groups) {
    const gh = group.bars.length * (BAR_H + BAR_GAP);
    out.push(`<text x="${x + 12}" y="${cy + gh / 2 + 4}" font-size="11" fill="#374151">${esc(group.label)}</text>`);
    for (const bar of group.bars) {
      const w = bar.value === null || bar.value === undefined ? 0 : Math.max(1, length(bar.value));
      out.push(`<rect x="${barX}" y="${cy}" width="${w.toFixed(1)}" height="${BAR_H}" rx="2" fill="${COLORS[bar.impl]}"><title>${esc(`${LABELS[bar.impl]}: ${bar.value === null ? 'n/a' : panel.format(bar.value)}`)}</title></rect>`);
      const text = bar.value === null || bar.value === undefined ? 'n/a' : panel.format(bar.value);
      out.push(`<text x="${(barX + w + 4).toFixed(1)}" y="${cy + BAR_H - 2.5}" font-size="10.5" fill="#111827">${esc(text)}${bar.note ? ` <tspan fill="#6b7280">${esc(bar.note)}</tspan>` : ''}</text>`);
      cy += BAR_H + BAR_GAP;
    }
    cy += GROUP_GAP;
  }
  return { svg: out.join('\n'), height: h };
}

/**
 * panels: [{ title, subtitle, format, scale?: 'linear' | 'log', groups: [{ label, bars: [{ impl, value, note? }] }] }]
 * warning: the subtitle is shown in red (the run was disturbed).
 */
export function renderChart({ title, subtitle, warning = false, panels, impls }) {
  const out = [];
  const legendY = 62 + PAD;
  const y = 84 + PAD;
  const columns = [y, y];
  const placed = [];
  for (const panel of panels) {
    const col = columns[0] <= columns[1] ? 0 : 1;
    const { svg, height } = renderPanel(panel, 0, 0);
    placed.push({ svg, x: PAD + col * (COL_W + GAP), y: columns[col] });
    columns[col] += height + GAP;
  }
  const height = Math.max(...columns) - GAP + PAD;
  out.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${WIDTH}" height="${height}" viewBox="0 0 ${WIDTH} ${height}" font-family="-apple-system, 'Segoe UI', Helvetica, Arial, sans-serif">`);
  out.push(`<rect width="${WIDTH}" height="${height}" fill="#f9fafb"/>`);
  out.push(`<text x="${PAD}" y="${24 + PAD}" font-size="18" font-weight="700" fill="#111827">${esc(title)}</text>`);
  out.push(`<text x="${PAD}" y="${44 + PAD}" font-size="11.5" fill="${warning ? '#b91c1c' : '#4b5563'}">${esc(subtitle)}</text>`);
  let lx = PAD;
  for (const impl of impls) {
    out.push(`<rect x="${lx}" y="${legendY - 10}" width="12" height="12" rx="2" fill="${COLORS[impl]}"/>`);
    out.push(`<text x="${lx + 17}" y="${legendY}" font-size="12" fill="#111827">${esc(LABELS[impl])}</text>`);
    lx += 30 + LABELS[impl].length * 7;
  }
  for (const p of placed) out.push(`<g transform="translate(${p.x} ${p.y})">\n${p.svg}\n</g>`);
  out.push('</svg>');
  return out.join('\n') + '\n';
}
