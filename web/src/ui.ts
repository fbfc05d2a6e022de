// Small DOM helpers shared by the views.

type Attrs = Record<string, string | number | boolean | undefined | null>;
type Child = Node | string | null | undefined | false;

/** Creates an element; attributes with false/null/undefined are skipped. */
export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  attrs: Attrs = {},
  ...children: Child[]
): HTMLElementTagNameMap[K] {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    if (k === 'class') el.className = String(v);
    else el.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

const SVG_NS = 'http://www.w3.org/2000/svg';

export function s<K extends keyof SVGElementTagNameMap>(tag: K, attrs: Attrs = {}, ...children: Child[]) {
  const el = document.createElementNS(SVG_NS, tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === false || v === null || v === undefined) continue;
    el.setAttribute(k, String(v));
  }
  for (const c of children) if (c !== null && c !== undefined && c !== false) el.append(c);
  return el;
}

export function fmtMs(ms: number | null | undefined): string {
  if (ms === null || ms === undefined || !isFinite(ms)) return '–';
  if (ms < 1) return ms.toFixed(2) + ' ms';
  if (ms < 1000) return ms.toFixed(ms < 10 ? 1 : 0) + ' ms';
  return (ms / 1000).toFixed(2) + ' s';
}

export function fmtUs(us: number | null | undefined): string {
  if (us === null || us === undefined || !isFinite(us)) return '–';
  return us < 1000 ? us.toFixed(1) + ' µs' : fmtMs(us / 1000);
}

/** Dollars; cents only for small amounts (a test gateway's spend is tiny). */
export function fmtUsd(v: number): string {
  const digits = Math.abs(v) < 100 && v !== 0 ? 2 : 0;
  return '$' + v.toLocaleString('en-US', { minimumFractionDigits: digits, maximumFractionDigits: digits });
}

export function fmtPct(v: number, digits = 1): string {
  return (v * 100).toFixed(digits) + '%';
}

export function fmtNum(v: number | null | undefined, digits = 0): string {
  if (v === null || v === undefined || !isFinite(v)) return '–';
  return v.toLocaleString('en-US', { maximumFractionDigits: digits, minimumFractionDigits: digits });
}

export function debounce<A extends unknown[]>(fn: (...a: A) => void, ms: number): (...a: A) => void {
  let t: number | undefined;
  return (...a: A) => {
    if (t !== undefined) clearTimeout(t);
    t = window.setTimeout(() => fn(...a), ms);
  };
}

export const TIER_ORDER = ['small', 'medium', 'large'];

/** Screen-reader announcement through a shared polite live region. */
export function announce(text: string): void {
  let r = document.getElementById('announcer');
  if (!r) {
    r = h('div', { id: 'announcer', class: 'sr-only', 'aria-live': 'polite', role: 'status' });
    document.body.append(r);
  }
  r.textContent = text;
}
