// Drives the web UI in Debian's chromium (headless, Playwright's protocol
// client only). Started by test_webui.py with HR_URL (the gateway),
// HR_ARTIFACTS (screenshot folder), HR_CHROMIUM and HR_PLAYWRIGHT.
import { createRequire } from 'node:module';
import path from 'node:path';

const require = createRequire(path.join(process.env.HR_PLAYWRIGHT, 'package.json'));
const { chromium } = require('playwright-core');

const URL = process.env.HR_URL;
const ART = process.env.HR_ARTIFACTS;
let passed = 0;
let failed = 0;

function assert(cond, msg) {
  if (!cond) throw new Error('assertion failed: ' + msg);
}

async function step(name, fn) {
  const t0 = Date.now();
  try {
    await fn();
    passed++;
    console.log(`ok   ${name} (${Date.now() - t0} ms)`);
  } catch (e) {
    failed++;
    console.log(`FAIL ${name}: ${e && e.stack ? e.stack : e}`);
    try {
      await page.screenshot({ path: path.join(ART, 'FAILED-' + name.replace(/\W+/g, '_') + '.png'), fullPage: true });
    } catch {
      /* the page may be gone */
    }
  }
}

const browser = await chromium.launch({
  executablePath: process.env.HR_CHROMIUM,
  headless: true,
  args: [
    '--no-sandbox',
    '--disable-gpu',
    '--disable-dev-shm-usage',
    '--disable-quic',
    '--no-first-run',
    '--disable-background-networking',
    '--disable-component-update',
    '--disable-sync',
  ],
});
const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
const page = await context.newPage();
const consoleErrors = [];
page.on('console', (m) => {
  // Chromium reports the sanitizer's inert parse of the Markdown test's
  // onerror attribute as a blocked inline handler: that is the CSP holding,
  // not an error of the page.
  if (m.type() === 'error' && !/inline event handler violates/.test(m.text())) consoleErrors.push(m.text());
});
page.on('pageerror', (e) => consoleErrors.push(String(e)));
page.setDefaultTimeout(20000);

const lastReply = () => page.locator('.msg.assistant').last();
const metric = (key) => lastReply().locator(`.meta [data-metric="${key}"] dd`);

async function send(text) {
  await page.fill('#chat-input', text);
  await page.click('#send-button');
}

async function waitDone() {
  await page.waitForFunction(() => !document.querySelector('#send-button').disabled && document.querySelector('.msg.assistant:last-of-type .meta .kv'));
  await lastReply().locator('.meta [data-metric="total"]').waitFor();
}

if (process.env.HR_SPEC === 'embedded') {
  // The embedded engine (stories260K) behind the small tier: a real model's
  // streamed reply and its metrics.
  await step('embedded engine: streamed reply with metrics', async () => {
    await page.goto(URL + '/');
    await page.waitForFunction(() => document.querySelectorAll('#routing option').length >= 3);
    await page.selectOption('#routing', 'small');
    await page.fill('#max-tokens', '48');
    await send('Once upon a time');
    await page.waitForFunction(() => !document.querySelector('#send-button').disabled && document.querySelector('.msg.assistant .meta .kv'), null, { timeout: 120000 });
    const text = await lastReply().locator('.body').textContent();
    assert(text.trim().length > 0, 'some text was generated');
    assert((await metric('tier').textContent()) === 'small', 'tier');
    const tokens = await metric('tokens').textContent();
    assert(/^\d+ \/ \d+$/.test(tokens), 'tokens in/out: ' + tokens);
    await page.screenshot({ path: path.join(ART, 'playground-embedded.png') });
  });
  await browser.close();
  console.log(`embedded: ${passed} passed, ${failed} failed`);
  process.exit(failed ? 1 : 0);
}

await step('page loads with routing choices and the strategy', async () => {
  await page.goto(URL + '/');
  await page.waitForFunction(() => document.querySelectorAll('#routing option').length >= 4);
  const options = await page.locator('#routing option').allTextContents();
  assert(options[0] === 'Auto (strategy: rules)', 'auto option shows the strategy: ' + options[0]);
  assert(options.includes('Force small') && options.includes('Force medium') && options.includes('Force large'), options.join());
  assert((await page.textContent('#strategy-badge')) === 'strategy: rules', 'badge');
  assert((await page.getAttribute('#nav-playground', 'aria-current')) === 'page', 'nav current');
});

await step('every form control has a label', async () => {
  const unlabeled = await page.evaluate(() =>
    [...document.querySelectorAll('input, select, textarea')]
      .filter((el) => el.type !== 'hidden' && !(el.labels && el.labels.length) && !el.getAttribute('aria-label'))
      .map((el) => el.id || el.outerHTML.slice(0, 60)),
  );
  assert(unlabeled.length === 0, 'unlabeled: ' + unlabeled.join(', '));
});

await step('a message streams its reply, then shows the routing metrics', async () => {
  await send("Translate 'good morning' into French");
  // Streaming: text is visible before the reply is complete (no metrics yet).
  await page.waitForFunction(() => {
    const m = document.querySelector('.msg.assistant:last-of-type');
    return m && m.querySelector('.body').textContent.includes('reply') && !m.querySelector('.meta .kv');
  });
  await waitDone();
  const text = await lastReply().locator('.body').textContent();
  assert(text.includes("reply from small-up: Translate 'good morning' into French"), 'reply text: ' + text);
  assert((await metric('tier').textContent()) === 'small', 'tier');
  assert((await metric('model').textContent()) === 'hermes-3-8b', 'model');
  assert((await metric('reason').textContent()).startsWith('simple-task keyword'), 'reason');
  assert(/µs|ms/.test(await metric('route').textContent()), 'decision time');
  assert(/ms|s$/.test(await metric('ttft').textContent()), 'ttft');
  assert(/ms|s$/.test(await metric('total').textContent()), 'total');
  const tokens = await metric('tokens').textContent();
  assert(/^9 \/ \d+$/.test(tokens), 'tokens in/out: ' + tokens);
  assert(/^\d+(\.\d)?$/.test(await metric('tps').textContent()), 'tokens/s');
  await page.screenshot({ path: path.join(ART, 'playground-chat.png') });
});

await step('Markdown is rendered and sanitized', async () => {
  await send('Show me some markdown please');
  await waitDone();
  const body = lastReply().locator('.body');
  assert((await body.locator('strong').first().textContent()) === 'bold text', 'bold');
  assert((await body.locator('li').count()) === 2, 'list items');
  assert((await body.locator('pre code').count()) === 1, 'code block');
  assert((await body.locator('script').count()) === 0, 'no script element');
  const img = body.locator('img');
  if (await img.count()) assert((await img.getAttribute('onerror')) === null, 'no onerror handler');
  assert((await page.evaluate(() => window.pwned)) === undefined, 'no injected code ran');
});

await step('Enter sends; forcing a tier routes there with reason "user override"', async () => {
  await page.selectOption('#routing', 'large');
  assert((await page.textContent('#routing-hint')).includes('large'), 'hint');
  await page.fill('#chat-input', 'hello there');
  await page.press('#chat-input', 'Enter');
  await waitDone();
  assert((await metric('tier').textContent()) === 'large', 'forced tier');
  assert((await metric('reason').textContent()).includes('user override'), 'reason: ' + (await metric('reason').textContent()));
  assert((await metric('model').textContent()) === 'hermes-3-405b', 'model');
  await page.selectOption('#routing', 'auto');
});

await step('stop button aborts a streaming reply', async () => {
  await send('SLOW reply please');
  await page.waitForFunction(() => document.querySelector('.msg.assistant:last-of-type .body').textContent.includes('tick 2'));
  assert(!(await page.isDisabled('#stop-button')), 'stop enabled while streaming');
  await page.click('#stop-button');
  await lastReply().locator('.notes .note', { hasText: 'Stopped.' }).waitFor();
  assert(await page.isDisabled('#stop-button'), 'stop disabled after');
  assert(!(await page.isDisabled('#send-button')), 'send enabled after');
  const text = await lastReply().locator('.body').textContent();
  assert(!text.includes('tick 199'), 'stopped before the end');
});

await step('new chat clears the conversation', async () => {
  await page.click('#new-chat');
  assert((await page.locator('.msg').count()) === 0, 'no messages');
  assert(await page.isVisible('#chat-empty'), 'empty state');
});

await step('function calling: tool editor, tool-call card, tool result round trip', async () => {
  await page.check('#mode-tools');
  assert(await page.isVisible('#tools-json'), 'tool editor visible');
  assert(!(await page.isVisible('#schema-json')), 'schema editor hidden');
  const tools = JSON.parse(await page.inputValue('#tools-json'));
  assert(tools[0].function.name === 'get_weather', 'example tool');
  await send("What's the weather in Paris right now?");
  await waitDone();
  const card = lastReply().locator('.tool-card');
  await card.waitFor();
  assert((await card.locator('strong').textContent()) === 'get_weather', 'card name');
  const args = JSON.parse(await card.locator('pre').textContent());
  assert(args.city === 'Paris', 'arguments');
  const result = lastReply().locator('.tool-result-input');
  assert((await result.inputValue()).includes('Paris'), 'example tool result');
  await page.screenshot({ path: path.join(ART, 'playground-tool-call.png') });
  await lastReply().locator('.send-tool-result').click();
  await page.waitForFunction(() => document.querySelectorAll('.msg.assistant').length === 2);
  await waitDone();
  assert((await lastReply().locator('.body strong').textContent()) === '18 °C', 'final answer uses the tool result');
  await page.screenshot({ path: path.join(ART, 'playground-tool-result.png') });
});

await step('JSON mode: schema editor and a pretty-printed answer', async () => {
  await page.click('#new-chat');
  await page.check('#mode-json');
  assert(await page.isVisible('#schema-json'), 'schema editor visible');
  assert(!(await page.isVisible('#tools-json')), 'tool editor hidden');
  await send('Give me the capital of Japan as JSON');
  await waitDone();
  const pre = lastReply().locator('.body.json pre');
  await pre.waitFor();
  const text = await pre.textContent();
  assert(text.includes('\n  "city": "Tokyo"'), 'pretty-printed: ' + text);
  await page.screenshot({ path: path.join(ART, 'playground-json.png') });
  await page.check('#mode-chat');
});

await step('invalid tool JSON is reported, nothing is sent', async () => {
  await page.check('#mode-tools');
  await page.fill('#tools-json', '[{"type": "function",');
  await send('weather?');
  await page.locator('#tools-error').waitFor();
  assert((await page.textContent('#tools-error')).includes('not valid JSON'), 'message');
  await page.click('#tools-example');
  await page.check('#mode-chat');
  await page.click('#new-chat');
});

await step('dashboard: chart, latency, rates, cost and searchable requests', async () => {
  await page.click('#nav-dashboard');
  assert((await page.getAttribute('#nav-dashboard', 'aria-current')) === 'page', 'nav');
  await page.waitForFunction(() => document.querySelector('#dashboard')?.dataset.loaded === 'true');
  // Rows reach the log within ~50 ms; refresh until all our requests are visible.
  for (let i = 0; i < 20; i++) {
    const n = Number((await page.textContent('#card-requests .card-value')).replace(/,/g, ''));
    if (n >= 7) break;
    await page.waitForTimeout(300);
    await page.click('#dash-refresh');
    await page.waitForTimeout(200);
  }
  const n = Number((await page.textContent('#card-requests .card-value')).replace(/,/g, ''));
  assert(n >= 7, 'requests counted: ' + n);
  assert((await page.locator('#dash-chart svg rect.bar').count()) >= 1, 'bars drawn');
  assert((await page.locator('#dash-chart svg title').first().textContent()).includes('Requests per tier'), 'chart title');
  const latRows = await page.locator('#latency-table tbody tr').count();
  assert(latRows === 3, 'latency rows: ' + latRows);
  assert(/ms|s$/.test(await page.textContent('#latency-table tbody tr:first-child td:nth-child(3)')), 'p50 value');
  assert((await page.textContent('#card-errors .card-value')).endsWith('%'), 'error rate');
  assert((await page.textContent('#card-rate .card-value')).includes('/s'), 'rate');
  const example = await page.textContent('#cost-example');
  assert(example.includes('100,000 requests/day') && example.includes('$6,100/month') && example.includes('$10,000/month'), 'example cost: ' + example);
  await page.locator('#cost-observed').waitFor();
  assert((await page.textContent('#cost-observed')).includes('Your traffic'), 'observed cost');
  const rows = await page.locator('#requests-table tbody tr').count();
  assert(rows >= 7, 'recent rows: ' + rows);
  await page.screenshot({ path: path.join(ART, 'dashboard.png'), fullPage: true });
  await page.fill('#dash-search', 'good morning');
  await page.waitForFunction(() => document.querySelectorAll('#requests-table tbody tr').length === 1);
  assert((await page.textContent('#requests-table tbody tr')).includes('small'), 'search hit is the small-tier request');
  await page.fill('#dash-search', 'no-such-text-anywhere');
  await page.locator('#requests-empty').waitFor();
  await page.fill('#dash-search', '');
  await page.selectOption('#cost-baseline', 'large');
  await page.waitForFunction(() => document.querySelector('#cost-example')?.textContent.includes('all on large'));
});

await step('keyboard: tab order reaches the composer and the dashboard link', async () => {
  await page.click('#nav-playground');
  await page.focus('#chat-input');
  await page.keyboard.type('typed with the keyboard');
  await page.keyboard.press('Shift+Enter');
  assert((await page.inputValue('#chat-input')).endsWith('\n'), 'shift+enter makes a new line');
  await page.fill('#chat-input', '');
  await page.focus('#nav-dashboard');
  await page.keyboard.press('Enter');
  await page.waitForFunction(() => location.hash === '#/dashboard');
  await page.click('#nav-playground');
});

await step('narrow window: controls stack above the conversation', async () => {
  await page.setViewportSize({ width: 390, height: 844 });
  await page.click('#nav-playground');
  await send('Translate hello into Spanish');
  await waitDone();
  const c = await page.locator('#controls').boundingBox();
  const chat = await page.locator('.chat').boundingBox();
  assert(c.width <= 390 && chat.width <= 390, 'fits the width');
  assert(chat.y >= c.y + c.height - 1, 'chat below the controls');
  const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert(overflow <= 0, 'no horizontal scroll: ' + overflow);
  await page.screenshot({ path: path.join(ART, 'playground-narrow.png'), fullPage: true });
  await page.click('#nav-dashboard');
  await page.waitForFunction(() => document.querySelector('#dashboard')?.dataset.loaded === 'true');
  const overflow2 = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
  assert(overflow2 <= 0, 'dashboard: no horizontal scroll: ' + overflow2);
  await page.screenshot({ path: path.join(ART, 'dashboard-narrow.png'), fullPage: true });
});

await step('no errors in the browser console', async () => {
  assert(consoleErrors.length === 0, consoleErrors.join('\n'));
});

await browser.close();
console.log(`${passed} passed, ${failed} failed`);
process.exit(failed ? 1 : 0);
