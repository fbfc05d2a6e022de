// End to end through the API with the official `openai` npm SDK: the real
// hermes-router binary (HR_BIN) in front of a scripted upstream on loopback.
//   tier small  (tool_format hermes): the gateway renders the Hermes prompt and
//               parses the upstream's raw <tool_call> text;
//   tier medium (tool_format openai): tools/response_format pass through.
// The upstream answers from the prompt it receives: tools and no
// <tool_response> yet -> a tool call; a <tool_response> -> the final answer;
// a JSON-mode <schema> prompt -> an invalid answer first, valid on the retry.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import net from 'node:net';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawn } from 'node:child_process';
import OpenAI from 'openai';

const BIN = process.env.HR_BIN || path.resolve('build/hermes-router');

const TOOLS = [
  {
    type: 'function',
    function: {
      name: 'get_weather',
      description: 'Get the current weather for a city.',
      parameters: {
        type: 'object',
        properties: { city: { type: 'string' }, unit: { type: 'string', enum: ['c', 'f'] } },
        required: ['city'],
      },
    },
  },
];
const PERSON = {
  type: 'object',
  properties: { name: { type: 'string' }, age: { type: 'integer' }, tags: { type: 'array', items: { type: 'string' } } },
  required: ['name', 'age', 'tags'],
  additionalProperties: false,
};
const CALL_TEXT = 'Let me look that up.\n<tool_call>\n{"name": "get_weather", "arguments": {"city": "Paris", "unit": "c"}}\n</tool_call>';
const FINAL_TEXT = 'It is 21 degrees in Paris right now.';
const JSON_BAD = 'Sure! {"name": "Ann", "age": "thirty"}';
const JSON_GOOD = '{"name": "Ann", "age": 30, "tags": ["x", "y"]}';

let upstream, gateway, client, dir;
const seen = []; // requests the upstream received
const jsonAttempts = new Map(); // prompt -> answers given

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

function answerFor(url, body) {
  if (url.endsWith('/chat/completions')) return JSON_GOOD; // the openai-format tier's JSON answer
  const prompt = body.prompt;
  if (prompt.includes('<schema>')) {
    const n = jsonAttempts.get(prompt) || 0;
    jsonAttempts.set(prompt, n + 1);
    return n === 0 ? JSON_BAD : JSON_GOOD;
  }
  if (prompt.includes('<tool_response>')) return FINAL_TEXT;
  if (prompt.includes('<tools>')) return CALL_TEXT;
  return 'plain';
}

function startUpstream(port) {
  const server = http.createServer((req, res) => {
    let data = '';
    req.on('data', (c) => (data += c));
    req.on('end', () => {
      if (req.method === 'GET') {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        return res.end(JSON.stringify({ object: 'list', data: [] }));
      }
      const body = JSON.parse(data);
      seen.push({ url: req.url, body });
      const chat = req.url.endsWith('/chat/completions');
      const text = answerFor(req.url, body);
      const usage = { prompt_tokens: 30, completion_tokens: 12, total_tokens: 42 };
      const base = { id: chat ? 'chatcmpl-up' : 'cmpl-up', created: 7, model: body.model };
      if (!body.stream) {
        res.writeHead(200, { 'Content-Type': 'application/json' });
        const choice = chat
          ? { index: 0, message: { role: 'assistant', content: text }, finish_reason: 'stop' }
          : { index: 0, text, finish_reason: 'stop', logprobs: null };
        return res.end(JSON.stringify({ ...base, object: chat ? 'chat.completion' : 'text_completion', choices: [choice], usage }));
      }
      res.writeHead(200, { 'Content-Type': 'text/event-stream' });
      const object = chat ? 'chat.completion.chunk' : 'text_completion';
      const send = (o) => res.write(`data: ${JSON.stringify(o)}\n\n`);
      for (let i = 0; i < text.length; i += 5) {
        const piece = text.slice(i, i + 5); // splits tags and JSON at awkward points
        const choice = chat ? { index: 0, delta: { content: piece }, finish_reason: null } : { index: 0, text: piece, finish_reason: null };
        send({ ...base, object, choices: [choice] });
      }
      send({ ...base, object, choices: [chat ? { index: 0, delta: {}, finish_reason: 'stop' } : { index: 0, text: '', finish_reason: 'stop' }] });
      if (body.stream_options && body.stream_options.include_usage) send({ ...base, object, choices: [], usage });
      res.end('data: [DONE]\n\n');
    });
  });
  return new Promise((resolve) => server.listen(port, '127.0.0.1', () => resolve(server)));
}

async function waitHealthy(port, proc) {
  const deadline = Date.now() + 20000;
  while (Date.now() < deadline) {
    if (proc.exitCode !== null) throw new Error(`gateway exited with ${proc.exitCode}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/health`);
      if (r.status === 200) return;
    } catch {
      /* not listening yet */
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error('gateway did not become healthy');
}

before(async () => {
  const upPort = await freePort();
  upstream = await startUpstream(upPort);
  const gwPort = await freePort();
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hr-e2e-'));
  const cfg = `server: { listen: 127.0.0.1:${gwPort}, threads: 2 }
tiers:
  small:
    aliases: [hermes-8b]
    backends:
      - { type: openai, url: http://127.0.0.1:${upPort}/v1, model: hermes-3-8b, tool_format: hermes }
  medium:
    backends:
      - { type: openai, url: http://127.0.0.1:${upPort}/v1, model: gpt-like, tool_format: openai }
log: { sqlite: "${path.join(dir, 'log.db')}" }
`;
  fs.writeFileSync(path.join(dir, 'config.yaml'), cfg);
  const log = fs.openSync(path.join(dir, 'gateway.log'), 'w');
  gateway = spawn(BIN, ['serve', '--config', path.join(dir, 'config.yaml')], { stdio: ['ignore', log, log] });
  await waitHealthy(gwPort, gateway);
  client = new OpenAI({ baseURL: `http://127.0.0.1:${gwPort}/v1`, apiKey: 'unused', maxRetries: 0, timeout: 20000 });
});

after(async () => {
  if (gateway && gateway.exitCode === null) {
    gateway.kill('SIGTERM');
    await new Promise((r) => gateway.once('exit', r));
  }
  if (upstream) await new Promise((r) => upstream.close(r));
  if (dir) fs.rmSync(dir, { recursive: true, force: true });
});

function lastCompletionsPrompt() {
  const r = seen.filter((s) => s.url === '/v1/completions').at(-1);
  assert.ok(r, 'the hermes tier used the completions endpoint');
  return r.body.prompt;
}

async function roundTrip(stream) {
  const messages = [{ role: 'user', content: "What's the weather in Paris?" }];
  let first;
  if (stream) {
    // the SDK's own stream accumulator must rebuild the calls from our deltas
    const s = client.chat.completions.stream({ model: 'hermes-8b', messages, tools: TOOLS });
    const deltas = [];
    s.on('chunk', (c) => deltas.push(c));
    first = await s.finalChatCompletion();
    const raw = JSON.stringify(deltas);
    assert.ok(!raw.includes('tool_call>'), 'no raw <tool_call> text in any chunk');
    const firstCallDelta = deltas.flatMap((c) => c.choices.flatMap((ch) => ch.delta.tool_calls || []))[0];
    assert.ok(firstCallDelta.id.startsWith('call_') && firstCallDelta.function.name === 'get_weather', 'id and name first');
  } else {
    first = await client.chat.completions.create({ model: 'hermes-8b', messages, tools: TOOLS });
  }
  const choice = first.choices[0];
  assert.equal(choice.finish_reason, 'tool_calls');
  assert.equal(choice.message.content, 'Let me look that up.');
  assert.equal(choice.message.tool_calls.length, 1);
  const call = choice.message.tool_calls[0];
  assert.equal(call.type, 'function');
  assert.equal(call.function.name, 'get_weather');
  assert.deepEqual(JSON.parse(call.function.arguments), { city: 'Paris', unit: 'c' });
  assert.match(call.id, /^call_[A-Za-z0-9]{24}$/);

  messages.push(choice.message);
  messages.push({ role: 'tool', tool_call_id: call.id, content: JSON.stringify({ temp_c: 21 }) });
  let final;
  if (stream) {
    const s = client.chat.completions.stream({ model: 'hermes-8b', messages, tools: TOOLS });
    final = await s.finalChatCompletion();
  } else {
    final = await client.chat.completions.create({ model: 'hermes-8b', messages, tools: TOOLS });
  }
  const prompt = lastCompletionsPrompt();
  assert.ok(prompt.includes('<tool_response>\n{"temp_c":21}\n</tool_response>'), prompt.slice(-300));
  // as the template renders it: the call (arguments verbatim as returned), the assistant's text dropped
  assert.ok(
    prompt.includes('<|im_start|>assistant\n<tool_call>\n{"name": "get_weather", "arguments": {"city":"Paris","unit":"c"}}\n</tool_call><|im_end|>'),
    prompt.slice(-600),
  );
  assert.equal(final.choices[0].finish_reason, 'stop');
  assert.equal(final.choices[0].message.content, FINAL_TEXT);
  assert.ok(!final.choices[0].message.tool_calls || final.choices[0].message.tool_calls.length === 0);
}

test('tool-call round trip (call -> tool result -> final answer), non-streaming', async () => {
  await roundTrip(false);
});

test('tool-call round trip, streaming', async () => {
  await roundTrip(true);
});

const RF = { type: 'json_schema', json_schema: { name: 'person', schema: PERSON, strict: true } };

test('json_schema request, non-streaming (invalid first answer retried)', async () => {
  const before = seen.length;
  const { data, response } = await client.chat.completions
    .create({ model: 'hermes-8b', messages: [{ role: 'user', content: 'Describe Ann as JSON.' }], response_format: RF })
    .withResponse();
  assert.equal(seen.length - before, 2, 'one retry after the invalid answer');
  assert.ok(lastCompletionsPrompt().includes('<schema>\n{"type": "object"'));
  assert.deepEqual(JSON.parse(data.choices[0].message.content), { name: 'Ann', age: 30, tags: ['x', 'y'] });
  assert.equal(response.headers.get('x-hermes-json-valid'), 'true');
  assert.equal(data.hermes.json_valid, true);
  assert.equal(data.hermes.json_retries, 1);
});

test('json_schema request through the SDK parse helper', async () => {
  const r = await client.chat.completions.parse({
    model: 'hermes-8b',
    messages: [{ role: 'user', content: 'Ann again, please.' }],
    response_format: RF,
  });
  assert.deepEqual(r.choices[0].message.parsed, { name: 'Ann', age: 30, tags: ['x', 'y'] });
});

test('json_schema request, streaming', async () => {
  const stream = await client.chat.completions.create({
    model: 'hermes-8b',
    messages: [{ role: 'user', content: 'Ann, streamed.' }],
    response_format: RF,
    stream: true,
    stream_options: { include_usage: true },
  });
  let content = '';
  let first = null;
  let finish = null;
  let usage = null;
  for await (const chunk of stream) {
    if (!first) first = chunk;
    for (const ch of chunk.choices) {
      content += ch.delta.content || '';
      if (ch.finish_reason) finish = ch.finish_reason;
    }
    if (chunk.usage) usage = chunk.usage;
  }
  assert.deepEqual(JSON.parse(content), { name: 'Ann', age: 30, tags: ['x', 'y'] });
  assert.ok(!content.includes('Sure!'), 'the invalid first answer never reached the client');
  assert.equal(finish, 'stop');
  assert.equal(first.hermes.json_valid, true);
  assert.equal(usage.total_tokens, 42);
});

test('json_schema on a tool_format openai tier: passed through and validated', async () => {
  const r = await client.chat.completions.create({
    model: 'medium',
    messages: [{ role: 'user', content: 'Ann via the openai tier.' }],
    response_format: RF,
  });
  const sent = seen.at(-1);
  assert.equal(sent.url, '/v1/chat/completions');
  assert.deepEqual(sent.body.response_format, RF);
  assert.deepEqual(JSON.parse(r.choices[0].message.content), { name: 'Ann', age: 30, tags: ['x', 'y'] });
  assert.equal(r.hermes.json_valid, true);
});

test('unsupported schema keyword: a 400 the SDK raises as BadRequestError', async () => {
  const bad = { type: 'json_schema', json_schema: { name: 'p', schema: { type: 'string', pattern: '^a' } } };
  await assert.rejects(
    client.chat.completions.create({ model: 'hermes-8b', messages: [{ role: 'user', content: 'x' }], response_format: bad }),
    (e) => e instanceof OpenAI.BadRequestError && e.status === 400 && /pattern/.test(e.message),
  );
});

test('gateway exits cleanly on SIGTERM (the leak check under ASan)', async () => {
  gateway.kill('SIGTERM');
  const code = await new Promise((r) => gateway.once('exit', (c) => r(c)));
  const log = fs.readFileSync(path.join(dir, 'gateway.log'), 'utf8');
  assert.equal(code, 0, log.slice(-3000));
});
