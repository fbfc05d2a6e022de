// Hand-rolled SVG charts (no chart library): a stacked bar chart of requests
// per tier over time, and horizontal comparison bars.
import { h, s } from './ui';

export interface StackSeries {
  key: string;
  label: string;
}

const H = 220;
const PAD = { l: 40, r: 8, t: 10, b: 26 };

function niceMax(v: number): number {
  if (v <= 0) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

function timeLabel(ms: number, spanS: number): string {
  const d = new Date(ms);
  const hh = String(d.getHours()).padStart(2, '0');
  const mm = String(d.getMinutes()).padStart(2, '0');
  if (spanS <= 3600 * 2) return `${hh}:${mm}`;
  return `${d.getMonth() + 1}/${d.getDate()} ${hh}:${mm}`;
}

/**
 * Stacked bars, one per bucket. `rows` hold a timestamp `t` (ms) and a count
 * per series key. The SVG has a text summary for screen readers; the caller
 * supplies the data table alternative.
 */
export function stackedBars(
  rows: Array<Record<string, number>>,
  series: StackSeries[],
  opts: { title: string; summary: string; bucketS: number; width: number },
): SVGSVGElement {
  // Drawn at the box's pixel width so the axis text keeps its size on narrow screens.
  const W = Math.max(280, Math.round(opts.width));
  const innerW = W - PAD.l - PAD.r;
  const innerH = H - PAD.t - PAD.b;
  const totals = rows.map((r) => series.reduce((a, sr) => a + (r[sr.key] ?? 0), 0));
  const max = niceMax(Math.max(0, ...totals));
  const n = Math.max(rows.length, 1);
  const bw = innerW / n;
  const svg = s('svg', {
    viewBox: `0 0 ${W} ${H}`,
    role: 'img',
    class: 'chart',
    'aria-labelledby': 'chart-title chart-desc',
    preserveAspectRatio: 'none',
  });
  svg.append(s('title', { id: 'chart-title' }, opts.title), s('desc', { id: 'chart-desc' }, opts.summary));
  // grid + y labels
  for (let i = 0; i <= 4; i++) {
    const v = (max * i) / 4;
    const y = PAD.t + innerH - (innerH * i) / 4;
    svg.append(s('line', { x1: PAD.l, x2: W - PAD.r, y1: y, y2: y, class: 'grid' }));
    svg.append(
      s('text', { x: PAD.l - 6, y: y + 4, 'text-anchor': 'end', class: 'axis' }, Number.isInteger(v) ? String(v) : v.toFixed(1)),
    );
  }
  rows.forEach((r, i) => {
    let y = PAD.t + innerH;
    for (const sr of series) {
      const v = r[sr.key] ?? 0;
      if (v <= 0) continue;
      const hh = (innerH * v) / max;
      y -= hh;
      svg.append(
        s(
          'rect',
          { x: PAD.l + i * bw + bw * 0.1, y, width: Math.max(bw * 0.8, 1), height: hh, class: 'bar series-' + sr.key },
          s('title', {}, `${timeLabel(r.t, opts.bucketS * n)}: ${v} ${sr.label}`),
        ),
      );
    }
  });
  // x labels: about six
  const step = Math.max(1, Math.ceil(n / 6));
  for (let i = 0; i < rows.length; i += step) {
    svg.append(
      s(
        'text',
        { x: PAD.l + i * bw + bw / 2, y: H - 8, 'text-anchor': 'middle', class: 'axis' },
        timeLabel(rows[i].t, opts.bucketS * n),
      ),
    );
  }
  return svg;
}

export function legend(series: StackSeries[]): HTMLElement {
  return h(
    'ul',
    { class: 'legend', 'aria-label': 'Legend' },
    ...series.map((sr) => h('li', {}, h('span', { class: 'swatch series-' + sr.key, 'aria-hidden': 'true' }), sr.label)),
  );
}

/** Horizontal bars comparing labelled values (e.g. routed vs. baselines). */
export function hbars(items: Array<{ label: string; value: number; text: string; cls: string }>): HTMLElement {
  const max = Math.max(1e-9, ...items.map((i) => i.value));
  return h(
    'div',
    { class: 'hbars' },
    ...items.map((i) =>
      h(
        'div',
        { class: 'hbar-row' },
        h('span', { class: 'hbar-label' }, i.label),
        h(
          'span',
          { class: 'hbar-track', 'aria-hidden': 'true' },
          (() => {
            const fill = h('span', { class: 'hbar-fill ' + i.cls });
            fill.style.width = `${Math.max(0.5, (100 * i.value) / max)}%`;
            return fill;
          })(),
        ),
        h('span', { class: 'hbar-value' }, i.text),
      ),
    ),
  );
}
