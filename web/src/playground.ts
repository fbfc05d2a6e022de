// Chat playground: controls on the left, the conversation on the right.
// Replies stream from POST /v1/chat/completions (SSE) and carry the routing
// decision in the "hermes" object of the first chunk.
import DOMPurify from 'dompurify';
import { marked } from 'marked';

import { announce, fmtMs, fmtNum, fmtUs, h } from './ui';
import { errorMessage, getJson, HermesInfo, ModelList, postChat, RouterStats, SseParser } from './api';

type Mode = 'chat' | 'tools' | 'json';

interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

interface Msg {
  role: 'user' | 'assistant' | 'tool';
  content: string | null;
  tool_calls?: ToolCall[];
  tool_call_id?: string;
}

interface Usage {
  prompt_tokens?: number;
  completion_tokens?: number;
}

const EXAMPLE_TOOLS = JSON.stringify(
  [
    {
      type: 'function',
      function: {
        name: 'get_weather',
        description: 'Get the current weather for a city',
        parameters: {
          type: 'object',
          properties: {
            city: { type: 'string', description: 'City name, e.g. Paris' },
            unit: { type: 'string', enum: ['celsius', 'fahrenheit'] },
          },
          required: ['city'],
        },
      },
    },
  ],
  null,
  2,
);

const EXAMPLE_SCHEMA = JSON.stringify(
  {
    type: 'object',
    properties: {
      city: { type: 'string' },
      country: { type: 'string' },
      population: { type: 'integer' },
    },
    required: ['city', 'country'],
  },
  null,
  2,
);

const EXAMPLE_TOOL_RESULT = '{"city": "Paris", "temperature": 18, "unit": "celsius", "condition": "light rain"}';

const EXAMPLE_PROMPTS: Record<Mode, string[]> = {
  chat: [
    "Translate 'good morning' into French",
    'Tell me a short story about a lighthouse keeper',
    'Design a distributed rate limiter for a large API fleet',
  ],
  tools: ["What's the weather in Paris right now?"],
  json: ['Give me the capital of Japan as JSON'],
};

/** Markdown to sanitized HTML (links open safely, no scripts or handlers). */
export function renderMarkdown(md: string): string {
  const html = marked.parse(md, { async: false, gfm: true, breaks: true }) as string;
  return DOMPurify.sanitize(html, { USE_PROFILES: { html: true } });
}

function label(forId: string, text: string, hint?: string): HTMLLabelElement {
  return h('label', { for: forId }, text, hint ? h('span', { class: 'hint' }, ' ' + hint) : null);
}

export class Playground {
  readonly root: HTMLElement;
  private conversation: Msg[] = [];
  private controller: AbortController | null = null;
  private busy = false;

  // controls
  private system = h('textarea', { id: 'system-prompt', rows: 3, placeholder: 'You are a helpful assistant.' });
  private modeInputs: HTMLInputElement[] = [];
  private temperature = h('input', { id: 'temperature', type: 'range', min: 0, max: 2, step: 0.05, value: 0.7 });
  private temperatureOut = h('output', { for: 'temperature', id: 'temperature-value' }, '0.70');
  private topP = h('input', { id: 'top-p', type: 'range', min: 0, max: 1, step: 0.01, value: 1 });
  private topPOut = h('output', { for: 'top-p', id: 'top-p-value' }, '1.00');
  private maxTokens = h('input', { id: 'max-tokens', type: 'number', min: 1, max: 32768, step: 1, value: 512 });
  private routing = h('select', { id: 'routing' }, h('option', { value: 'auto' }, 'Auto'));
  private routingHint = h('p', { class: 'hint', id: 'routing-hint' }, 'The router picks the tier.');
  private tools = h('textarea', { id: 'tools-json', rows: 14, spellcheck: 'false', class: 'code' });
  private toolsError = h('p', { class: 'field-error', id: 'tools-error', role: 'alert' });
  private schema = h('textarea', { id: 'schema-json', rows: 12, spellcheck: 'false', class: 'code' });
  private schemaError = h('p', { class: 'field-error', id: 'schema-error', role: 'alert' });
  private toolsBox: HTMLElement;
  private schemaBox: HTMLElement;

  // conversation
  private log = h('div', { class: 'log', id: 'chat-log', role: 'log', 'aria-live': 'polite', 'aria-label': 'Conversation' });
  private empty: HTMLElement;
  private input = h('textarea', {
    id: 'chat-input',
    rows: 3,
    placeholder: 'Message the router… (Enter to send, Shift+Enter for a new line)',
  });
  private send = h('button', { type: 'submit', id: 'send-button' }, 'Send');
  private stop = h('button', { type: 'button', id: 'stop-button', class: 'danger', disabled: true }, 'Stop');
  private examples = h('div', { class: 'examples', role: 'group', 'aria-label': 'Example prompts' });

  constructor() {
    this.tools.value = EXAMPLE_TOOLS;
    this.schema.value = EXAMPLE_SCHEMA;
    this.tools.setAttribute('aria-describedby', 'tools-error');
    this.schema.setAttribute('aria-describedby', 'schema-error');
    this.routing.setAttribute('aria-describedby', 'routing-hint');

    const modes: Array<[Mode, string]> = [
      ['chat', 'Chat'],
      ['tools', 'Function calling'],
      ['json', 'JSON'],
    ];
    const modeGroup = h(
      'fieldset',
      { class: 'segmented' },
      h('legend', {}, 'Mode'),
      ...modes.map(([value, text], i) => {
        const input = h('input', { type: 'radio', name: 'mode', id: 'mode-' + value, value, checked: i === 0 });
        input.addEventListener('change', () => this.onMode());
        this.modeInputs.push(input);
        return h('span', {}, input, h('label', { for: 'mode-' + value }, text));
      }),
    );

    this.toolsBox = h(
      'div',
      { class: 'field', id: 'tools-box', hidden: true },
      label('tools-json', 'Tool definitions', '(JSON array, OpenAI format)'),
      this.tools,
      this.toolsError,
      h('button', { type: 'button', class: 'ghost small', id: 'tools-example' }, 'Reset to get_weather example'),
    );
    this.schemaBox = h(
      'div',
      { class: 'field', id: 'schema-box', hidden: true },
      label('schema-json', 'Answer schema', '(JSON Schema; empty = any JSON object)'),
      this.schema,
      this.schemaError,
      h('button', { type: 'button', class: 'ghost small', id: 'schema-example' }, 'Reset to example schema'),
    );
    this.toolsBox.querySelector('#tools-example')!.addEventListener('click', () => {
      this.tools.value = EXAMPLE_TOOLS;
      this.toolsError.textContent = '';
    });
    this.schemaBox.querySelector('#schema-example')!.addEventListener('click', () => {
      this.schema.value = EXAMPLE_SCHEMA;
      this.schemaError.textContent = '';
    });

    this.temperature.addEventListener('input', () => (this.temperatureOut.value = Number(this.temperature.value).toFixed(2)));
    this.topP.addEventListener('input', () => (this.topPOut.value = Number(this.topP.value).toFixed(2)));

    const controls = h(
      'form',
      { class: 'controls', id: 'controls', 'aria-label': 'Generation settings' },
      h('h2', { class: 'section-title' }, 'Settings'),
      h('div', { class: 'field' }, label('system-prompt', 'System prompt'), this.system),
      modeGroup,
      h(
        'div',
        { class: 'field' },
        h('div', { class: 'row between' }, label('temperature', 'Temperature'), this.temperatureOut),
        this.temperature,
      ),
      h('div', { class: 'field' }, h('div', { class: 'row between' }, label('top-p', 'Top-p'), this.topPOut), this.topP),
      h('div', { class: 'field' }, label('max-tokens', 'Max tokens'), this.maxTokens),
      h('div', { class: 'field' }, label('routing', 'Routing'), this.routing, this.routingHint),
      this.toolsBox,
      this.schemaBox,
    );
    controls.addEventListener('submit', (e) => e.preventDefault());
    this.routing.addEventListener('change', () => this.onRouting());

    this.empty = h(
      'div',
      { class: 'empty', id: 'chat-empty' },
      h('p', {}, 'Send a message: the router picks a tier, and each reply shows where it went and why.'),
    );
    this.log.append(this.empty);

    const composer = h(
      'form',
      { class: 'composer', id: 'composer', 'aria-label': 'Message' },
      h('label', { for: 'chat-input', class: 'sr-only' }, 'Message'),
      this.input,
      h('div', { class: 'composer-actions' }, this.stop, this.send),
    );
    composer.addEventListener('submit', (e) => {
      e.preventDefault();
      void this.sendUser();
    });
    this.input.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
        e.preventDefault();
        void this.sendUser();
      }
    });
    this.stop.addEventListener('click', () => this.abort());
    this.root = h('div', { class: 'playground', id: 'playground' });
    this.root.addEventListener('keydown', (e) => {
      if (e.key === 'Escape' && this.busy) this.abort();
    });

    const newChat = h('button', { type: 'button', class: 'ghost', id: 'new-chat' }, 'New chat');
    newChat.addEventListener('click', () => this.clear());

    const chat = h(
      'section',
      { class: 'chat', 'aria-labelledby': 'chat-title' },
      h('div', { class: 'chat-head' }, h('h2', { class: 'section-title', id: 'chat-title' }, 'Conversation'), newChat),
      this.log,
      this.examples,
      composer,
    );
    this.root.append(controls, chat);
    this.renderExamples();
    void this.loadRouting();
  }

  private mode(): Mode {
    return (this.modeInputs.find((i) => i.checked)?.value as Mode) ?? 'chat';
  }

  private onMode(): void {
    const m = this.mode();
    this.toolsBox.hidden = m !== 'tools';
    this.schemaBox.hidden = m !== 'json';
    this.renderExamples();
  }

  private onRouting(): void {
    const v = this.routing.value;
    this.routingHint.textContent =
      v === 'auto' ? 'The router picks the tier.' : `Every request goes to the ${v} tier (reason: user override).`;
  }

  private renderExamples(): void {
    this.examples.replaceChildren(
      ...EXAMPLE_PROMPTS[this.mode()].map((p) => {
        const b = h('button', { type: 'button', class: 'chip' }, p);
        b.addEventListener('click', () => {
          this.input.value = p;
          this.input.focus();
        });
        return b;
      }),
    );
  }

  /** Tier choices from /v1/models, the strategy from /v1/router/stats. */
  async loadRouting(): Promise<void> {
    try {
      const [models, stats] = await Promise.all([
        getJson<ModelList>('/v1/models'),
        getJson<RouterStats>('/v1/router/stats').catch(() => ({}) as RouterStats),
      ]);
      const strategy = stats.strategy ?? 'unknown';
      const current = this.routing.value;
      const tiers = models.data.filter((m) => m.tier && m.id === m.tier).map((m) => m.id);
      this.routing.replaceChildren(
        h('option', { value: 'auto' }, `Auto (strategy: ${strategy})`),
        ...tiers.map((t) => h('option', { value: t }, `Force ${t}`)),
      );
      if ([...this.routing.options].some((o) => o.value === current)) this.routing.value = current;
      const badge = document.getElementById('strategy-badge');
      if (badge) badge.textContent = 'strategy: ' + strategy;
    } catch (e) {
      this.routingHint.textContent = 'Could not load the tiers: ' + (e as Error).message;
    }
  }

  clear(): void {
    this.abort();
    this.conversation = [];
    this.log.replaceChildren(this.empty);
    this.input.focus();
    announce('New chat');
  }

  private abort(): void {
    if (this.controller) this.controller.abort();
  }

  private setBusy(b: boolean): void {
    this.busy = b;
    this.send.disabled = b;
    this.stop.disabled = !b;
    this.log.setAttribute('aria-busy', String(b));
  }

  private async sendUser(): Promise<void> {
    const text = this.input.value.trim();
    if (!text || this.busy) return;
    this.input.value = '';
    this.conversation.push({ role: 'user', content: text });
    this.addUserBubble(text);
    await this.complete();
  }

  private addUserBubble(text: string): void {
    this.empty.remove();
    this.log.append(h('div', { class: 'msg user' }, h('div', { class: 'who' }, 'You'), h('div', { class: 'body plain' }, text)));
    this.log.scrollTop = this.log.scrollHeight;
  }

  /** The request body for the current settings; throws with a message on bad JSON. */
  private body(): Record<string, unknown> {
    const msgs: unknown[] = [];
    const sys = this.system.value.trim();
    if (sys) msgs.push({ role: 'system', content: sys });
    msgs.push(...this.conversation);
    const body: Record<string, unknown> = {
      model: this.routing.value || 'auto',
      messages: msgs,
      stream: true,
      stream_options: { include_usage: true },
      temperature: Number(this.temperature.value),
      top_p: Number(this.topP.value),
    };
    const mt = Number(this.maxTokens.value);
    if (Number.isFinite(mt) && mt > 0) body.max_tokens = Math.floor(mt);
    const mode = this.mode();
    this.toolsError.textContent = '';
    this.schemaError.textContent = '';
    if (mode === 'tools') {
      let tools: unknown;
      try {
        tools = JSON.parse(this.tools.value);
      } catch (e) {
        this.toolsError.textContent = 'Tool definitions are not valid JSON: ' + (e as Error).message;
        throw new Error(this.toolsError.textContent);
      }
      if (!Array.isArray(tools)) {
        this.toolsError.textContent = 'Tool definitions must be a JSON array of {type: "function", function: {...}}.';
        throw new Error(this.toolsError.textContent);
      }
      body.tools = tools;
      body.tool_choice = 'auto';
    } else if (mode === 'json') {
      const text = this.schema.value.trim();
      if (!text) {
        body.response_format = { type: 'json_object' };
      } else {
        let schema: unknown;
        try {
          schema = JSON.parse(text);
        } catch (e) {
          this.schemaError.textContent = 'The schema is not valid JSON: ' + (e as Error).message;
          throw new Error(this.schemaError.textContent);
        }
        body.response_format = { type: 'json_schema', json_schema: { name: 'answer', schema, strict: true } };
      }
    }
    return body;
  }

  /** Sends the conversation, streams the reply into a new bubble. */
  private async complete(): Promise<void> {
    let body: Record<string, unknown>;
    const bubble = this.addAssistantBubble();
    try {
      body = this.body();
    } catch (e) {
      bubble.error((e as Error).message);
      this.dropFailedTurn();
      return;
    }
    const mode = this.mode();
    this.setBusy(true);
    const controller = new AbortController();
    this.controller = controller;
    const t0 = performance.now();
    let tFirst = 0;
    let content = '';
    const calls: ToolCall[] = [];
    let usage: Usage = {};
    let hermes: HermesInfo = {};
    let model = '';
    let finish = '';
    let streamError = '';
    try {
      const resp = await postChat(body, controller.signal);
      const hdr = (k: string) => resp.headers.get(k) ?? '';
      hermes.tier = hdr('x-hermes-tier') || undefined;
      const reason = hdr('x-hermes-route-reason');
      if (reason) {
        try {
          hermes.route_reason = decodeURIComponent(reason);
        } catch {
          hermes.route_reason = reason;
        }
      }
      if (hdr('x-hermes-route-us')) hermes.route_us = Number(hdr('x-hermes-route-us'));
      model = hdr('x-hermes-model');
      const q = hdr('x-hermes-quality-score');
      if (q) hermes.quality_score = Number(q);
      const path = hdr('x-hermes-escalation-path');
      if (path) {
        try {
          hermes.escalation_path = decodeURIComponent(path);
        } catch {
          hermes.escalation_path = path;
        }
      }
      if (!resp.ok) {
        const msg = await errorMessage(resp);
        bubble.error(msg);
        bubble.meta({ hermes, model, t0, tFirst: 0, tEnd: performance.now(), usage });
        this.dropFailedTurn();
        return;
      }
      const reader = resp.body!.pipeThrough(new TextDecoderStream()).getReader();
      const parser = new SseParser((data) => {
        if (data === '[DONE]') return;
        let chunk: any;
        try {
          chunk = JSON.parse(data);
        } catch {
          return;
        }
        if (chunk.error) {
          streamError = chunk.error.message ?? 'stream error';
          return;
        }
        if (chunk.hermes) hermes = { ...hermes, ...chunk.hermes };
        if (chunk.model) model = chunk.model;
        if (chunk.hermes?.model_used) model = chunk.hermes.model_used;
        if (chunk.usage) usage = chunk.usage;
        const choice = chunk.choices?.[0];
        if (!choice) return;
        const d = choice.delta ?? {};
        if (typeof d.content === 'string' && d.content) {
          if (!tFirst) tFirst = performance.now();
          content += d.content;
        }
        if (Array.isArray(d.tool_calls)) {
          if (!tFirst) tFirst = performance.now();
          for (const tc of d.tool_calls) {
            const i = typeof tc.index === 'number' ? tc.index : calls.length;
            calls[i] ??= { id: '', type: 'function', function: { name: '', arguments: '' } };
            if (tc.id) calls[i].id = tc.id;
            if (tc.function?.name) calls[i].function.name += tc.function.name;
            if (tc.function?.arguments) calls[i].function.arguments += tc.function.arguments;
          }
        }
        if (choice.finish_reason) finish = choice.finish_reason;
        bubble.update(content, calls, false, mode);
      });
      for (;;) {
        const { value, done } = await reader.read();
        if (done) break;
        parser.feed(value);
      }
      parser.end();
    } catch (e) {
      if ((e as Error).name === 'AbortError') {
        finish = 'stopped';
      } else {
        streamError = (e as Error).message;
      }
    } finally {
      this.controller = null;
      this.setBusy(false);
    }
    const tEnd = performance.now();
    bubble.update(content, calls, true, mode);
    if (streamError) bubble.error(streamError, true);
    if (finish === 'stopped') bubble.note('Stopped.');
    else if (finish === 'length') bubble.note('Stopped at max tokens.');
    bubble.meta({ hermes, model, t0, tFirst, tEnd, usage });
    const msg: Msg = { role: 'assistant', content: content || null };
    const realCalls = calls.filter(Boolean);
    if (realCalls.length) {
      realCalls.forEach((c, i) => (c.id ||= `call_${i}`));
      msg.tool_calls = realCalls;
    }
    if (content || realCalls.length) this.conversation.push(msg);
    if (realCalls.length && finish !== 'stopped') bubble.toolResults(realCalls, (results) => this.sendToolResults(results));
    announce(streamError ? 'Reply failed' : `Reply from the ${hermes.tier ?? 'unknown'} tier`);
  }

  /** A user turn that got no answer leaves the history (its text goes back to the input). */
  private dropFailedTurn(): void {
    const last = this.conversation[this.conversation.length - 1];
    if (last && last.role === 'user') {
      this.conversation.pop();
      if (!this.input.value) this.input.value = last.content ?? '';
    }
  }

  private async sendToolResults(results: Array<{ id: string; content: string }>): Promise<void> {
    if (this.busy) return;
    for (const r of results) {
      this.conversation.push({ role: 'tool', tool_call_id: r.id, content: r.content });
      this.empty.remove();
      this.log.append(
        h(
          'div',
          { class: 'msg tool' },
          h('div', { class: 'who' }, 'Tool result'),
          h('pre', { class: 'body code' }, prettyJson(r.content)),
        ),
      );
    }
    await this.complete();
  }

  private addAssistantBubble(): Bubble {
    this.empty.remove();
    const b = new Bubble();
    this.log.append(b.el);
    this.log.scrollTop = this.log.scrollHeight;
    return b;
  }

  /** Scroll the log after content changes, unless the user scrolled up. */
  follow(): void {
    this.log.scrollTop = this.log.scrollHeight;
  }
}

function prettyJson(text: string): string {
  try {
    return JSON.stringify(JSON.parse(text), null, 2);
  } catch {
    return text;
  }
}

interface MetaInput {
  hermes: HermesInfo;
  model: string;
  t0: number;
  tFirst: number;
  tEnd: number;
  usage: Usage;
}

/** One assistant reply: body (Markdown / JSON / tool cards), notes, metrics. */
class Bubble {
  readonly el: HTMLElement;
  private body = h('div', { class: 'body markdown' });
  private cards = h('div', { class: 'tool-cards' });
  private notes = h('div', { class: 'notes' });
  private metaEl = h('dl', { class: 'meta', 'aria-label': 'Reply metrics' });
  private pending = false;
  private last: { content: string; calls: ToolCall[]; final: boolean; mode: Mode } | null = null;

  constructor() {
    this.body.append(h('span', { class: 'typing', 'aria-label': 'Waiting for the reply' }, '●●●'));
    this.el = h(
      'div',
      { class: 'msg assistant' },
      h('div', { class: 'who' }, 'Assistant'),
      this.body,
      this.cards,
      this.notes,
      this.metaEl,
    );
  }

  /** Renders at most once per frame while streaming; final renders at once. */
  update(content: string, calls: ToolCall[], final: boolean, mode: Mode): void {
    this.last = { content, calls, final, mode };
    if (final) {
      this.render();
      return;
    }
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => {
      this.pending = false;
      this.render();
    });
  }

  private render(): void {
    if (!this.last) return;
    const { content, calls, final, mode } = this.last;
    const log = this.el.parentElement;
    const atBottom = log ? log.scrollHeight - log.scrollTop - log.clientHeight < 40 : false;
    let json: unknown = undefined;
    if (final && mode === 'json' && content.trim()) {
      try {
        json = JSON.parse(content);
      } catch {
        json = undefined;
      }
    }
    if (json !== undefined) {
      this.body.className = 'body json';
      this.body.replaceChildren(h('pre', {}, h('code', {}, JSON.stringify(json, null, 2))));
    } else if (content) {
      this.body.className = 'body markdown';
      this.body.innerHTML = renderMarkdown(content);
      if (final && mode === 'json') this.note('The answer is not valid JSON.');
    } else if (final) {
      this.body.replaceChildren();
    }
    this.cards.replaceChildren(
      ...calls.filter(Boolean).map((c) =>
        h(
          'article',
          { class: 'tool-card', 'aria-label': `Tool call ${c.function.name}` },
          h('header', {}, h('span', { class: 'tool-icon', 'aria-hidden': 'true' }, 'ƒ'), h('strong', {}, c.function.name || '…'), h('code', { class: 'call-id' }, c.id)),
          h('pre', { class: 'code' }, prettyJson(c.function.arguments)),
        ),
      ),
    );
    if (log && atBottom) log.scrollTop = log.scrollHeight;
  }

  error(message: string, keepBody = false): void {
    if (!keepBody && !this.last?.content) this.body.replaceChildren();
    this.el.classList.add('failed');
    this.notes.append(h('p', { class: 'error', role: 'alert' }, message));
  }

  note(text: string): void {
    this.notes.append(h('p', { class: 'note' }, text));
  }

  meta(m: MetaInput): void {
    const x = m.hermes;
    const total = m.tEnd - m.t0;
    const ttft = m.tFirst ? m.tFirst - m.t0 : NaN;
    const out = m.usage.completion_tokens;
    // Generation speed over the streaming part; when the answer came in one
    // burst (buffered, e.g. a checked JSON answer) over the whole request.
    const streamMs = m.tFirst ? m.tEnd - m.tFirst : 0;
    const genS = (streamMs >= 50 ? streamMs : total) / 1000;
    const tps = out !== undefined && out > 0 && genS > 0 ? out / genS : NaN;
    const items: Array<[string, Node | string, string]> = [];
    const tierBadge = h('span', { class: 'tier-badge tier-' + (x.tier ?? 'none') }, x.tier ?? 'none');
    items.push(['Tier', tierBadge, 'tier']);
    items.push(['Model', m.model || '–', 'model']);
    items.push(['Routing', (x.route_reason ?? '–') + (x.forced ? ' (forced)' : ''), 'reason']);
    items.push(['Decision', fmtUs(x.route_us), 'route']);
    items.push(['First token', fmtMs(ttft), 'ttft']);
    items.push(['Total', fmtMs(total), 'total']);
    items.push(['Tokens in/out', `${fmtNum(m.usage.prompt_tokens)} / ${fmtNum(out)}`, 'tokens']);
    items.push(['Tokens/s', isFinite(tps) ? tps.toFixed(1) : '–', 'tps']);
    if (typeof x.quality_score === 'number') items.push(['Quality', x.quality_score.toFixed(2), 'quality']);
    const path = escalationPath(x);
    if (path) items.push(['Escalation', path, 'escalation']);
    if (x.strategy) items.push(['Strategy', x.strategy, 'strategy']);
    this.metaEl.replaceChildren(
      ...items.map(([k, v, key]) => h('div', { class: 'kv', 'data-metric': key }, h('dt', {}, k), h('dd', {}, v))),
    );
  }

  /** Under a reply with tool calls: one box per call for its result. */
  toolResults(calls: ToolCall[], send: (r: Array<{ id: string; content: string }>) => void): void {
    const form = h('form', { class: 'tool-results', 'aria-label': 'Tool results' });
    const areas = calls.map((c, i) => {
      const id = `tool-result-${c.id.replace(/[^A-Za-z0-9_-]/g, '')}-${i}-${Math.random().toString(36).slice(2, 7)}`;
      const ta = h('textarea', { id, rows: 3, class: 'code tool-result-input', spellcheck: 'false' });
      ta.value = c.function.name === 'get_weather' ? EXAMPLE_TOOL_RESULT : '';
      form.append(h('label', { for: id }, `Result of ${c.function.name} (${c.id})`), ta);
      return ta;
    });
    const btn = h('button', { type: 'submit', class: 'send-tool-result' }, 'Send tool result');
    form.append(h('div', { class: 'row end' }, btn));
    form.addEventListener('submit', (e) => {
      e.preventDefault();
      btn.disabled = true;
      areas.forEach((a) => (a.disabled = true));
      send(calls.map((c, i) => ({ id: c.id, content: areas[i].value })));
    });
    this.el.append(form);
  }
}

/** "small (0.42) → medium (0.81) ✓" from the cascade's attempts, else its path text. */
function escalationPath(x: HermesInfo): string {
  if (Array.isArray(x.attempts) && x.attempts.length) {
    return x.attempts
      .map(
        (a) =>
          (a.tier ?? '?') +
          (typeof a.score === 'number' ? ` (${a.score.toFixed(2)})` : a.status && a.status !== 200 ? ` (${a.status})` : '') +
          (a.accepted ? ' ✓' : ''),
      )
      .join(' → ');
  }
  return typeof x.escalation_path === 'string' ? x.escalation_path : '';
}
