// Routing dashboard: distribution per tier over time, latency percentiles,
// request and error rates, recent requests (searchable) and the cost view.
// Everything comes from the gateway's JSON endpoints (request log + counters).
import { CostAnswer, CostEstimate, getJson, RequestList, RouterStats, TimeSeries } from './api';
import { hbars, legend, stackedBars, StackSeries } from './chart';
import { debounce, fmtMs, fmtNum, fmtPct, fmtUs, fmtUsd, h, TIER_ORDER } from './ui';

const REFRESH_MS = 5000;

export class Dashboard {
  readonly root: HTMLElement;
  private timer: number | undefined;
  private window = h(
    'select',
    { id: 'dash-window' },
    h('option', { value: '15' }, 'Last 15 minutes'),
    h('option', { value: '60', selected: true }, 'Last hour'),
    h('option', { value: '360' }, 'Last 6 hours'),
    h('option', { value: '1440' }, 'Last 24 hours'),
  );
  private auto = h('input', { type: 'checkbox', id: 'dash-auto', checked: true });
  private status = h('p', { class: 'hint', id: 'dash-status', role: 'status' });
  private cards = h('div', { class: 'cards', id: 'dash-cards' });
  private chart = h('div', { class: 'chart-box', id: 'dash-chart' });
  private latency = h('div', { class: 'table-wrap', id: 'dash-latency' });
  private distribution = h('div', { id: 'dash-distribution' });
  private cost = h('div', { id: 'dash-cost' });
  private baseline = h('select', { id: 'cost-baseline' });
  private search = h('input', { type: 'search', id: 'dash-search', placeholder: 'Search prompt, reason, model, id…' });
  private requests = h('div', { class: 'table-wrap', id: 'dash-requests' });
  private loaded = false;
  private lastSeries: TimeSeries | null = null;

  constructor() {
    const refresh = h('button', { type: 'button', class: 'ghost', id: 'dash-refresh' }, 'Refresh');
    refresh.addEventListener('click', () => void this.refresh());
    this.window.addEventListener('change', () => void this.refresh());
    this.auto.addEventListener('change', () => this.schedule());
    this.baseline.addEventListener('change', () => void this.loadCost());
    const searchNow = debounce(() => void this.loadRequests(), 250);
    window.addEventListener(
      'resize',
      debounce(() => {
        if (this.lastSeries && this.root.isConnected) this.renderSeries(this.lastSeries);
      }, 150),
    );
    this.search.addEventListener('input', searchNow);

    this.root = h(
      'div',
      { class: 'dashboard', id: 'dashboard' },
      h(
        'div',
        { class: 'dash-head' },
        h('h2', { class: 'section-title' }, 'Routing dashboard'),
        h(
          'div',
          { class: 'row wrap' },
          h('label', { for: 'dash-window', class: 'sr-only' }, 'Time window'),
          this.window,
          h('span', { class: 'check' }, this.auto, h('label', { for: 'dash-auto' }, 'Auto-refresh')),
          refresh,
        ),
      ),
      this.status,
      this.cards,
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'dist-title' },
        h('h3', { id: 'dist-title' }, 'Requests per tier over time'),
        this.chart,
      ),
      h(
        'div',
        { class: 'grid2' },
        h('section', { class: 'panel', 'aria-labelledby': 'lat-title' }, h('h3', { id: 'lat-title' }, 'Latency per tier'), this.latency),
        h(
          'section',
          { class: 'panel', 'aria-labelledby': 'share-title' },
          h('h3', { id: 'share-title' }, 'Routing distribution (since start)'),
          this.distribution,
        ),
      ),
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'cost-title' },
        h(
          'div',
          { class: 'row between wrap' },
          h('h3', { id: 'cost-title' }, 'Cost: routed vs. a single tier'),
          h('span', { class: 'row' }, h('label', { for: 'cost-baseline' }, 'Baseline tier'), this.baseline),
        ),
        this.cost,
      ),
      h(
        'section',
        { class: 'panel', 'aria-labelledby': 'req-title' },
        h(
          'div',
          { class: 'row between wrap' },
          h('h3', { id: 'req-title' }, 'Recent requests'),
          h('span', { class: 'row' }, h('label', { for: 'dash-search', class: 'sr-only' }, 'Search requests'), this.search),
        ),
        this.requests,
      ),
    );
  }

  show(): void {
    void this.refresh();
    this.schedule();
  }

  hide(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    if (this.timer !== undefined) clearInterval(this.timer);
    this.timer = undefined;
    if (this.auto.checked) this.timer = window.setInterval(() => void this.refresh(), REFRESH_MS);
  }

  async refresh(): Promise<void> {
    try {
      await Promise.all([this.loadSeries(), this.loadStats(), this.loadCost(), this.loadRequests()]);
      this.status.textContent = 'Updated ' + new Date().toLocaleTimeString();
      this.loaded = true;
    } catch (e) {
      this.status.textContent = 'Could not load: ' + (e as Error).message;
    }
    this.root.dataset.loaded = String(this.loaded);
  }

  private async loadSeries(): Promise<void> {
    const ts = await getJson<TimeSeries>('/v1/router/timeseries?minutes=' + encodeURIComponent(this.window.value));
    this.lastSeries = ts;
    this.renderSeries(ts);
  }

  private renderSeries(ts: TimeSeries): void {
    if (!ts.log) {
      this.cards.replaceChildren(h('p', { class: 'note' }, 'The request log is off in this gateway\'s config (log:), so there is no history to show.'));
      this.chart.replaceChildren();
      this.latency.replaceChildren();
      return;
    }
    const tiers = TIER_ORDER.filter((t) => ts.tiers.includes(t));
    const p50s = tiers.map((t) => ts.latency_ms[t]).filter((l) => l && l.count);
    const all = p50s.reduce((a, l) => a + l.count, 0);
    const p50 = all ? p50s.reduce((a, l) => a + l.p50 * l.count, 0) / all : NaN;
    const card = (id: string, label: string, value: string, sub?: string) =>
      h('div', { class: 'card', id }, h('div', { class: 'card-label' }, label), h('div', { class: 'card-value' }, value), sub ? h('div', { class: 'card-sub' }, sub) : null);
    this.cards.replaceChildren(
      card('card-requests', 'Requests', fmtNum(ts.requests), `in the window`),
      card('card-rate', 'Request rate', ts.rate_rps_recent.toFixed(2) + ' /s', `last minute; ${ts.rate_rps.toFixed(3)} /s over the window`),
      card('card-errors', 'Error rate', fmtPct(ts.error_rate), `${fmtNum(ts.errors)} errors (status ≥ 400)`),
      card('card-latency', 'Median latency', fmtMs(p50), 'answered requests, request-weighted'),
    );
    const series: StackSeries[] = tiers.map((t) => ({ key: t, label: t }));
    if (ts.buckets.some((b) => b.unrouted)) series.push({ key: 'unrouted', label: 'rejected before routing' });
    const total = (k: string) => ts.buckets.reduce((a, b) => a + (b[k] ?? 0), 0);
    const summary = series.map((sr) => `${sr.label}: ${total(sr.key)}`).join(', ');
    const svg = stackedBars(ts.buckets, series, {
      title: `Requests per tier, ${ts.bucket_s}-second buckets`,
      summary: `Totals in the window: ${summary}.`,
      bucketS: ts.bucket_s,
      width: this.chart.clientWidth || 720,
    });
    this.chart.replaceChildren(
      legend(series),
      svg,
      h('p', { class: 'hint' }, `${ts.bucket_s}-second buckets. Totals: ${summary}.${ts.truncated ? ' (Only the newest rows were read.)' : ''}`),
    );
    this.latency.replaceChildren(
      h(
        'table',
        { id: 'latency-table' },
        h('caption', { class: 'sr-only' }, 'Latency percentiles per tier (answered requests in the window)'),
        h('thead', {}, h('tr', {}, ...['Tier', 'Requests', 'p50', 'p90', 'p99', 'First token p50', 'Tokens in/out'].map((c) => h('th', { scope: 'col' }, c)))),
        h(
          'tbody',
          {},
          ...tiers.map((t) => {
            const l = ts.latency_ms[t];
            return h(
              'tr',
              {},
              h('th', { scope: 'row' }, h('span', { class: 'tier-badge tier-' + t }, t)),
              h('td', { class: 'nowrap' }, fmtNum(l?.count)),
              h('td', { class: 'nowrap' }, l?.count ? fmtMs(l.p50) : '–'),
              h('td', { class: 'nowrap' }, l?.count ? fmtMs(l.p90) : '–'),
              h('td', { class: 'nowrap' }, l?.count ? fmtMs(l.p99) : '–'),
              h('td', { class: 'nowrap' }, l?.count ? fmtMs(l.ttft_p50) : '–'),
              h('td', { class: 'nowrap' }, l?.count ? `${fmtNum(l.tokens_in)} / ${fmtNum(l.tokens_out)}` : '–'),
            );
          }),
        ),
      ),
    );
  }

  private async loadStats(): Promise<void> {
    const st = await getJson<RouterStats>('/v1/router/stats');
    const badge = document.getElementById('strategy-badge');
    if (badge && st.strategy) badge.textContent = 'strategy: ' + st.strategy;
    const total = typeof st.total === 'number' ? st.total : 0;
    const enabled = Array.isArray(st.tiers_enabled) ? (st.tiers_enabled as string[]) : TIER_ORDER;
    const items = TIER_ORDER.filter((t) => enabled.includes(t) && typeof st[t] === 'number').map((t) => {
      const n = st[t] as number;
      return { label: t, value: n, text: `${fmtNum(n)} (${total ? fmtPct(n / total) : '0.0%'})`, cls: 'series-' + t };
    });
    const reasons = Object.entries((st.reasons ?? {}) as Record<string, number>)
      .sort((a, b) => b[1] - a[1])
      .slice(0, 6);
    this.distribution.replaceChildren(
      items.length ? hbars(items) : h('p', { class: 'note' }, 'No routed requests yet.'),
      h('p', { class: 'hint' }, `Strategy: ${st.strategy ?? '–'}; ${fmtNum(total)} requests since the gateway started` +
        (typeof st.avg_route_us === 'number' ? `; mean decision time ${fmtUs(st.avg_route_us as number)}` : '') + '.'),
    );
    if (reasons.length)
      this.distribution.append(
        h('h4', {}, 'Top routing reasons'),
        h('ul', { class: 'reasons' }, ...reasons.map(([r, n]) => h('li', {}, h('span', { class: 'clip' }, r), h('span', { class: 'num' }, fmtNum(n))))),
      );
  }

  private async loadCost(): Promise<void> {
    const q = this.baseline.value ? '?baseline=' + encodeURIComponent(this.baseline.value) : '';
    const c = await getJson<CostAnswer>('/v1/router/cost' + q);
    const est = c.observed ?? c.example;
    if (est && this.baseline.options.length === 0) {
      const tiers = TIER_ORDER.filter((t) => t in est.baselines);
      this.baseline.replaceChildren(...tiers.map((t) => h('option', { value: t, selected: t === est.baseline }, t)));
    }
    const blocks: HTMLElement[] = [];
    if (c.observed) {
      blocks.push(
        costBlock(
          c.observed,
          `Your traffic: ${fmtNum(c.observed_requests)} answered requests in the last ${c.window_hours} h, ` +
            `about ${fmtNum(c.observed_requests_per_day)} per day`,
          'cost-observed',
        ),
      );
    } else {
      blocks.push(h('p', { class: 'note', id: 'cost-observed' }, c.log ? 'No answered requests in the log yet: the example below uses the seed\'s mix.' : 'The request log is off: only the example is shown.'));
    }
    if (c.example) blocks.push(costBlock(c.example, 'Example: 100,000 requests/day routed 60% / 35% / 5%', 'cost-example'));
    this.cost.replaceChildren(...blocks);
  }

  private async loadRequests(): Promise<void> {
    const q = this.search.value.trim();
    const list = await getJson<RequestList>('/v1/router/requests?limit=50' + (q ? '&q=' + encodeURIComponent(q) : ''));
    if (list.log === false) {
      this.requests.replaceChildren(h('p', { class: 'note' }, 'The request log is off.'));
      return;
    }
    if (!list.data.length) {
      this.requests.replaceChildren(h('p', { class: 'note', id: 'requests-empty' }, q ? `No request matches “${q}”.` : 'No requests yet.'));
      return;
    }
    this.requests.replaceChildren(
      h(
        'table',
        { id: 'requests-table' },
        h('caption', { class: 'sr-only' }, 'The 50 newest requests' + (q ? ` matching ${q}` : '')),
        h('thead', {}, h('tr', {}, ...['Time', 'Tier', 'Model', 'Reason', 'Status', 'Latency', 'Tokens', 'Prompt'].map((c) => h('th', { scope: 'col' }, c)))),
        h(
          'tbody',
          {},
          ...list.data.map((r) =>
            h(
              'tr',
              { class: r.status >= 400 ? 'row-error' : '' },
              h('td', { class: 'nowrap' }, new Date(r.ts).toLocaleTimeString()),
              h('td', {}, h('span', { class: 'tier-badge tier-' + (r.tier || 'none') }, r.tier || 'none')),
              h('td', { class: 'clip' }, r.model || '–'),
              h('td', { class: 'clip', title: r.reason ?? '' }, (r.reason || '–') + (r.forced ? ' (forced)' : '')),
              h('td', { class: r.status >= 400 ? 'status-bad' : 'status-ok', title: r.error ?? '' }, String(r.status)),
              h('td', { class: 'nowrap' }, fmtMs(r.latency_ms)),
              h('td', { class: 'nowrap' }, `${fmtNum(r.prompt_tokens)} / ${fmtNum(r.completion_tokens)}`),
              h('td', { class: 'clip prompt', title: r.prompt ?? '' }, r.prompt ?? '–'),
            ),
          ),
        ),
      ),
    );
  }
}

function costBlock(e: CostEstimate, title: string, id: string): HTMLElement {
  const tiers = TIER_ORDER.filter((t) => t in e.tiers);
  const bars = [
    { label: 'Routed', value: e.routed_usd, text: fmtUsd(e.routed_usd) + '/mo', cls: 'routed' },
    ...tiers.map((t) => ({
      label: `All ${t}`,
      value: e.baselines[t],
      text: fmtUsd(e.baselines[t]) + '/mo',
      cls: 'series-' + t + (t === e.baseline ? ' is-baseline' : ''),
    })),
  ];
  const saving = e.savings_usd >= 0;
  return h(
    'div',
    { class: 'cost-block', id },
    h('h4', {}, title),
    h(
      'p',
      { class: 'cost-summary' },
      h('strong', {}, fmtUsd(e.routed_usd) + '/month'),
      ` routed vs. ${fmtUsd(e.baseline_usd)}/month all on ${e.baseline}: `,
      h('strong', { class: saving ? 'good' : 'bad' }, `${saving ? 'saves' : 'costs'} ${fmtUsd(Math.abs(e.savings_usd))}/month (${Math.abs(e.savings_pct).toFixed(1)}%)`),
    ),
    hbars(bars),
    h(
      'div',
      { class: 'table-wrap' },
      h(
      'table',
      { class: 'compact' },
      h('caption', { class: 'sr-only' }, 'Cost per tier'),
      h('thead', {}, h('tr', {}, ...['Tier', 'Share', 'Req/s', 'Price', '$/month'].map((c) => h('th', { scope: 'col' }, c)))),
      h(
        'tbody',
        {},
        ...tiers.map((t) => {
          const x = e.tiers[t];
          const price =
            x.basis === 'gpu'
              ? `${fmtUsd(x.usd_per_month)}/mo per ${x.capacity_rps.toFixed(2)} req/s`
              : x.basis === 'fixed'
                ? `${fmtUsd(x.usd_per_month)}/mo fixed`
                : x.basis === 'tokens'
                  ? `$${x.usd_per_mtok_in} / $${x.usd_per_mtok_out} per Mtok`
                  : 'no price';
          return h(
            'tr',
            {},
            h('th', { scope: 'row' }, t),
            h('td', {}, fmtPct(x.share)),
            h('td', {}, x.rps.toFixed(3)),
            h('td', {}, price + (x.default_price ? ' *' : '')),
            h('td', {}, fmtUsd(x.usd_month)),
          );
        }),
      ),
      ),
    ),
    tiers.some((t) => e.tiers[t].default_price)
      ? h('p', { class: 'hint' }, '* built-in price (8B on 1× A100 80GB, 70B on 2× A100 80GB, 405B on 8× A100 80GB); set cost: per tier in the config.')
      : null,
  );
}
