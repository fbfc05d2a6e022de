// Talking to the gateway's own API: the UI shows exactly what an API client gets.

const KEY_STORAGE = 'hermes-router.api-key';

export function apiKey(): string {
  try {
    return localStorage.getItem(KEY_STORAGE) ?? '';
  } catch {
    return '';
  }
}

export function setApiKey(key: string): void {
  try {
    if (key) localStorage.setItem(KEY_STORAGE, key);
    else localStorage.removeItem(KEY_STORAGE);
  } catch {
    /* storage disabled: the key lives for this page only */
  }
}

function headers(json: boolean): Record<string, string> {
  const h: Record<string, string> = {};
  if (json) h['Content-Type'] = 'application/json';
  const k = apiKey();
  if (k) h['Authorization'] = 'Bearer ' + k;
  return h;
}

export class ApiError extends Error {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message);
  }
}

/** The message of an OpenAI-shaped error body, else the HTTP status. */
export async function errorMessage(resp: Response): Promise<string> {
  const text = await resp.text();
  try {
    const j = JSON.parse(text);
    if (j && j.error && typeof j.error.message === 'string') return j.error.message;
  } catch {
    /* not JSON */
  }
  return `HTTP ${resp.status}${text ? ': ' + text.slice(0, 200) : ''}`;
}

export async function getJson<T>(path: string, signal?: AbortSignal): Promise<T> {
  const resp = await fetch(path, { headers: headers(false), signal });
  if (!resp.ok) throw new ApiError(await errorMessage(resp), resp.status);
  return (await resp.json()) as T;
}

export function postChat(body: unknown, signal: AbortSignal): Promise<Response> {
  return fetch('/v1/chat/completions', {
    method: 'POST',
    headers: headers(true),
    body: JSON.stringify(body),
    signal,
  });
}

/**
 * Incremental Server-Sent Events parser: feed it decoded text as it arrives,
 * it calls onData with each event's data (multi-line data joined by "\n").
 * Comments and other fields are ignored. Handles \n, \r\n and \r line ends
 * split anywhere across chunks.
 */
export class SseParser {
  private buf = '';
  private data: string[] = [];

  constructor(private readonly onData: (data: string) => void) {}

  feed(text: string): void {
    this.buf += text;
    for (;;) {
      const m = /\r\n|\n|\r/.exec(this.buf);
      if (!m) break;
      // A lone \r at the very end may be the first half of \r\n: wait for more.
      if (m[0] === '\r' && m.index === this.buf.length - 1) break;
      const line = this.buf.slice(0, m.index);
      this.buf = this.buf.slice(m.index + m[0].length);
      this.line(line);
    }
  }

  /** End of stream: dispatch a final event that had no blank line after it. */
  end(): void {
    if (this.buf) this.line(this.buf);
    this.buf = '';
    this.line('');
  }

  private line(line: string): void {
    if (line === '') {
      if (this.data.length) {
        const d = this.data.join('\n');
        this.data = [];
        this.onData(d);
      }
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon < 0 ? line : line.slice(0, colon);
    let value = colon < 0 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    if (field === 'data') this.data.push(value);
  }
}

// ---- shapes of the gateway's answers -----------------------------------

export interface HermesInfo {
  tier?: string;
  route_reason?: string;
  strategy?: string;
  route_us?: number;
  forced?: boolean;
  fallback?: boolean;
  request_id?: string;
  // cascade (when the strategy scores and escalates)
  quality_score?: number | null;
  escalation_path?: string;
  model_used?: string;
  early_accept?: boolean;
  attempts?: Array<{ tier?: string; score?: number | null; model?: string; status?: number; accepted?: boolean }>;
  [k: string]: unknown;
}

export interface RouterStats {
  strategy?: string;
  total?: number;
  [k: string]: unknown;
}

export interface ModelList {
  data: Array<{ id: string; tier?: string }>;
}

export interface LogRow {
  id: number;
  ts: number;
  request_id: string | null;
  tier: string | null;
  model: string | null;
  strategy: string | null;
  reason: string | null;
  forced: boolean;
  stream: boolean;
  route_us: number | null;
  latency_ms: number | null;
  ttft_ms: number | null;
  prompt_tokens: number | null;
  completion_tokens: number | null;
  status: number;
  error: string | null;
  prompt: string | null;
  prompt_truncated?: boolean;
}

export interface RequestList {
  log?: boolean;
  data: LogRow[];
}

export interface TierLatency {
  count: number;
  p50: number;
  p90: number;
  p99: number;
  ttft_p50: number;
  ttft_p90: number;
  tokens_in: number;
  tokens_out: number;
}

export interface TimeSeries {
  log: boolean;
  now_ms: number;
  start_ms: number;
  window_s: number;
  bucket_s: number;
  tiers: string[];
  buckets: Array<Record<string, number>>;
  latency_ms: Record<string, TierLatency>;
  requests: number;
  errors: number;
  error_rate: number;
  rate_rps: number;
  rate_rps_recent: number;
  truncated: boolean;
}

export interface CostTier {
  share: number;
  rps: number;
  deployments: number;
  usd_month: number;
  basis: string;
  default_price: boolean;
  usd_per_month: number;
  capacity_rps: number;
  usd_per_mtok_in: number;
  usd_per_mtok_out: number;
}

export interface CostEstimate {
  requests_per_day: number;
  baseline: string;
  routed_usd: number;
  baseline_usd: number;
  savings_usd: number;
  savings_pct: number;
  baselines: Record<string, number>;
  tiers: Record<string, CostTier>;
}

export interface CostAnswer {
  log: boolean;
  window_hours: number;
  observed_requests?: number;
  observed_requests_per_day?: number;
  observed?: CostEstimate | null;
  example?: CostEstimate;
}
