"""Embedded tiers end to end: the real gateway answering from models loaded
in-process (stories260K and a synthetic 'tiny' GGUF written by
`hermes-router gguf synth`). Streaming and not, concurrency past the slots,
seed determinism, context overflow, prefix reuse, client disconnect freeing
the slot, 429 past the queue bound, JSON mode, metrics."""
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, Gateway, Runner, temp_dir  # noqa: E402

SHARED = os.environ.get("HR_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
STORIES = os.path.abspath(os.path.join(SHARED, "models", "stories260K.gguf"))

R = Runner()
tmpdir = temp_dir("hr-emb-")
TINY = os.path.join(tmpdir, "tiny.gguf")
subprocess.run([BIN, "gguf", "synth", "--shape", "tiny", "--type", "f32", "-o", TINY], check=True,
               stdout=subprocess.DEVNULL)

CONFIG = """
server: {{ listen: 127.0.0.1:{{PORT}}, threads: 2 }}
tiers:
  small:
    aliases: [stories]
    backends:
      - {{ type: embedded, model: {stories}, threads: 1, parallel: 3, context: 256, queue: 16 }}
  medium:
    aliases: [tiny]
    backends:
      - {{ type: embedded, model: {tiny}, threads: 1, parallel: 1, context: 16384, queue: 1 }}
router: {{ strategy: rules }}
log: {{ sqlite: "{{DB}}" }}
""".format(stories=STORIES, tiny=TINY)

gw = Gateway(CONFIG)


def ask(text, model="small", **kw):
    body = {"model": model, "messages": [{"role": "user", "content": text}], "temperature": 0}
    body.update(kw)
    return body


def content_of(j):
    return j["choices"][0]["message"]["content"]


def metric(name, model):
    s, _, t = gw.request("GET", "/metrics")
    assert s == 200
    for line in t.splitlines():
        if line.startswith('%s{model="%s"}' % (name, model)):
            return float(line.split()[-1])
    raise AssertionError("no metric %s for %s" % (name, model))


def stream_text(events):
    text, finish, usage = "", None, None
    for e in events:
        if e == "[DONE]":
            continue
        for ch in e.get("choices", []):
            text += ch.get("delta", {}).get("content") or ""
            finish = ch.get("finish_reason") or finish
        usage = e.get("usage") or usage
    return text, finish, usage


# ---- prefix reuse (first: the slots start empty) ------------------------------

def test_prefix_reuse_same_tokens():
    conv = [{"role": "user", "content": "Once upon a time there was a dog."},
            {"role": "assistant", "content": "The dog liked to run in the park."},
            {"role": "user", "content": "One day the dog saw a cat."}]
    body = {"model": "small", "messages": conv, "temperature": 0, "max_tokens": 24}
    s, _, fresh, _ = gw.chat(body)
    assert s == 200, fresh
    assert fresh["usage"]["prompt_tokens_details"]["cached_tokens"] == 0, fresh["usage"]
    # a shorter conversation with the same start lands in the slot holding it
    s, _, first, _ = gw.chat({"model": "small", "messages": conv[:1], "temperature": 0, "max_tokens": 8})
    assert s == 200 and first["usage"]["prompt_tokens_details"]["cached_tokens"] > 0, first["usage"]
    s, _, again, _ = gw.chat(body)
    assert s == 200, again
    cached = again["usage"]["prompt_tokens_details"]["cached_tokens"]
    assert 0 < cached < again["usage"]["prompt_tokens"], again["usage"]
    assert content_of(again) == content_of(fresh), (content_of(again), content_of(fresh))
    assert again["usage"] == dict(fresh["usage"], prompt_tokens_details={"cached_tokens": cached})


# ---- basics ------------------------------------------------------------------------

def test_non_streaming():
    s, h, j, _ = gw.chat(ask("Once upon a time", max_tokens=20))
    assert s == 200, j
    assert h["x-hermes-tier"] == "small"
    assert j["object"] == "chat.completion" and j["model"] == "stories260K", j
    assert j["choices"][0]["message"]["role"] == "assistant"
    assert len(content_of(j)) > 10, j
    assert j["choices"][0]["finish_reason"] == "length", j
    u = j["usage"]
    assert u["completion_tokens"] == 20 and u["prompt_tokens"] > 1, u
    assert u["total_tokens"] == u["prompt_tokens"] + u["completion_tokens"], u


def test_streaming_matches_non_streaming():
    body = ask("The little cat", max_tokens=30)
    s, _, j, _ = gw.chat(body)
    assert s == 200, j
    body2 = dict(body, stream=True, stream_options={"include_usage": True})
    s, h, events, raw = gw.stream(body2)
    assert s == 200 and h["content-type"].startswith("text/event-stream"), raw
    assert events[-1] == "[DONE]", raw
    assert events[0]["choices"][0]["delta"]["role"] == "assistant", events[0]
    assert events[0]["hermes"]["tier"] == "small"
    text, finish, usage = stream_text(events)
    assert text == content_of(j), (text, content_of(j))
    assert finish == j["choices"][0]["finish_reason"]
    assert usage["completion_tokens"] == j["usage"]["completion_tokens"], usage
    assert usage["prompt_tokens"] == j["usage"]["prompt_tokens"], usage
    # no usage chunk unless asked
    s, _, events, raw = gw.stream(dict(body, stream=True))
    assert all(e == "[DONE]" or "usage" not in e for e in events), raw


def test_stop_strings_and_logprobs():
    s, _, j, _ = gw.chat(ask("Once upon a time", max_tokens=40))
    full = content_of(j)
    word = full.split()[3]
    s, _, j2, _ = gw.chat(ask("Once upon a time", max_tokens=40, stop=[word]))
    assert s == 200, j2
    assert content_of(j2) == full[:full.index(word)], (content_of(j2), full, word)
    assert j2["choices"][0]["finish_reason"] == "stop"
    s, _, j3, _ = gw.chat(ask("Once upon a time", max_tokens=6, logprobs=True, top_logprobs=3))
    lp = j3["choices"][0]["logprobs"]["content"]
    assert len(lp) == 6, lp
    assert "".join(e["token"] for e in lp) == content_of(j3) or content_of(j3).startswith(lp[0]["token"].lstrip()), lp
    for e in lp:
        assert e["logprob"] <= 0 and len(e["top_logprobs"]) == 3, e
        assert bytes(e["bytes"]).decode("utf-8", "replace") == e["token"], e
        # greedy: the chosen token is the best alternative
        assert e["top_logprobs"][0]["token"] == e["token"], e
        assert e["top_logprobs"][0]["logprob"] >= e["top_logprobs"][1]["logprob"]


def test_logit_bias():
    def tokens(bias):
        s, _, j, _ = gw.chat(ask("Once upon a time", max_tokens=5, logprobs=True, logit_bias=bias))
        assert s == 200, j
        return [e["token"] for e in j["choices"][0]["logprobs"]["content"]]
    forced = tokens({"300": 100, "301": 99})
    assert len(set(forced)) == 1 and len(forced) == 5, forced  # +100 wins every step
    banned = tokens({"300": -100, "301": 99})  # -100 bans: the runner-up wins
    assert len(set(banned)) == 1 and banned[0] != forced[0], (forced, banned)
    plain = tokens({})
    assert plain != forced, plain
    for bad in ({"abc": 1}, {"300": 101}, {"300": "1"}, {"99999": 1}, ["300"], {"-1": 5}):
        s, _, j, _ = gw.chat(ask("Once upon a time", max_tokens=5, logit_bias=bad))
        assert s == 400 and "logit_bias" in j["error"]["message"], (bad, j)


def test_seed_determinism():
    body = ask("Once upon a time", max_tokens=40, temperature=1.0, seed=1234)
    outs = [content_of(gw.chat(body)[2]) for _ in range(2)]
    assert outs[0] == outs[1], outs
    other = [content_of(gw.chat(dict(body, seed=s))[2]) for s in (1, 2, 3)]
    assert any(o != outs[0] for o in other), (outs, other)
    s, _, events, _ = gw.stream(dict(body, stream=True))
    assert stream_text(events)[0] == outs[0]


def test_concurrent_more_than_slots():
    prompts = ["Once upon a time %s" % w for w in
               ("Tim", "Lily", "a dog", "a cat", "the sun", "a bird", "Sue", "Ben", "a tree")]
    solo = {}
    for p in prompts:
        s, _, j, _ = gw.chat(ask(p, max_tokens=40))
        assert s == 200, j
        solo[p] = (content_of(j), j["usage"]["completion_tokens"])
    results = {}

    def worker(p, stream):
        if stream:
            s, _, events, raw = gw.stream(ask(p, max_tokens=40, stream=True, stream_options={"include_usage": True}))
            text, finish, usage = stream_text(events)
            results[p] = (s, text, usage["completion_tokens"] if usage else None)
        else:
            s, _, j, raw = gw.chat(ask(p, max_tokens=40))
            results[p] = (s, content_of(j) if s == 200 else raw, j["usage"]["completion_tokens"] if s == 200 else None)

    threads = [threading.Thread(target=worker, args=(p, i % 2 == 0)) for i, p in enumerate(prompts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    for p in prompts:
        s, text, n = results[p]
        assert s == 200, (p, results[p])
        assert (text, n) == solo[p], (p, text, solo[p])


def test_context_overflow():
    s, _, j, _ = gw.chat(ask("Once upon a time", max_tokens=300))
    assert s == 400, j
    assert j["error"]["code"] == "context_length_exceeded" and "256" in j["error"]["message"], j
    s, _, j, _ = gw.chat(ask("word " * 400))
    assert s == 400 and j["error"]["code"] == "context_length_exceeded", j
    # without max_tokens the answer gets what is left of the context
    s, _, j, _ = gw.chat(ask("Once upon a time"))
    assert s == 200 and j["usage"]["prompt_tokens"] + j["usage"]["completion_tokens"] <= 256, j


def test_sampling_field_errors():
    s, _, j, _ = gw.chat(ask("hi", top_k=-1))
    assert s == 400 and "top_k" in j["error"]["message"], j
    s, _, j, _ = gw.chat(ask("hi", min_p=3))
    assert s == 400 and "min_p" in j["error"]["message"], j
    s, _, j, _ = gw.chat(ask("hi", top_k=5, min_p=0.1, repetition_penalty=1.3, presence_penalty=0.5,
                             frequency_penalty=0.5, top_p=0.9, temperature=0.7, seed=3, max_tokens=10))
    assert s == 200 and j["usage"]["completion_tokens"] <= 10, j


def test_json_mode_is_valid_json():
    body = ask("Give me a JSON object.", model="tiny", max_tokens=60, temperature=1.0, seed=5,
               response_format={"type": "json_schema", "json_schema": {"name": "x", "schema": {
                   "type": "object", "properties": {"name": {"type": "string"}, "age": {"type": "integer"}},
                   "required": ["name", "age"], "additionalProperties": False}}})
    s, h, j, raw = gw.chat(body)
    assert s == 200, raw
    obj = json.loads(content_of(j))
    assert isinstance(obj["name"], str) and isinstance(obj["age"], int), obj
    assert j["hermes"].get("json_valid") is True, j
    s, _, events, raw = gw.stream(dict(body, stream=True, seed=6))
    assert s == 200 and events[-1] == "[DONE]", raw
    obj = json.loads(stream_text(events)[0])
    assert set(obj) == {"name", "age"}, obj


def test_tool_call_required():
    tools = [{"type": "function", "function": {"name": "get_weather", "description": "Weather for a city",
                                               "parameters": {"type": "object",
                                                              "properties": {"city": {"type": "string"},
                                                                             "days": {"type": "integer"}},
                                                              "required": ["city", "days"],
                                                              "additionalProperties": False}}}]
    body = ask("Weather in Paris?", model="tiny", max_tokens=80, temperature=1.0, seed=11, tools=tools,
               tool_choice="required")
    s, _, j, raw = gw.chat(body)
    assert s == 200, raw
    ch = j["choices"][0]
    assert ch["finish_reason"] == "tool_calls", j
    calls = ch["message"]["tool_calls"]
    assert calls and calls[0]["function"]["name"] == "get_weather", j
    args = json.loads(calls[0]["function"]["arguments"])
    assert set(args) == {"city", "days"} and isinstance(args["days"], int), args
    s, _, events, raw = gw.stream(dict(body, stream=True, seed=12))
    assert s == 200 and "<tool_call>" not in raw, raw
    deltas = [tc for e in events if e != "[DONE]" for ch in e["choices"] for tc in ch["delta"].get("tool_calls", [])]
    assert deltas and deltas[0]["function"]["name"] == "get_weather", raw
    args = json.loads("".join(d["function"].get("arguments", "") for d in deltas))
    assert set(args) == {"city", "days"}, args


# ---- one slot: 429 past the queue, disconnect frees the slot -------------------------

def open_stream(body):
    sock = socket.create_connection(("127.0.0.1", gw.port), timeout=30)
    data = json.dumps(body).encode()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(data), data))
    buf = b""
    while buf.count(b"data: ") < 3:
        chunk = sock.recv(65536)
        assert chunk, buf
        buf += chunk
    return sock


def test_queue_bound_and_disconnect():
    gen0 = metric("hermes_engine_generated_tokens_total", "tiny")
    # end-of-text (id 2 in the synthetic vocab) banned: at temperature 1 the random
    # model would otherwise end the stream after a few hundred tokens
    long_body = {"model": "tiny", "messages": [{"role": "user", "content": "go"}], "max_tokens": 16000,
                 "temperature": 1.0, "seed": 9, "stream": True, "logit_bias": {"2": -100}}
    sock = open_stream(long_body)  # holds the only slot
    assert metric("hermes_engine_slots_busy", "tiny") == 1
    queued = {}

    def waiter():
        queued["r"] = gw.chat({"model": "tiny", "messages": [{"role": "user", "content": "x"}], "max_tokens": 5})

    t = threading.Thread(target=waiter)
    t.start()
    deadline = time.time() + 10
    while metric("hermes_engine_queue_length", "tiny") < 1 and time.time() < deadline:
        time.sleep(0.02)
    q = metric("hermes_engine_queue_length", "tiny")
    assert q == 1, (q, metric("hermes_engine_slots_busy", "tiny"), queued,
                    metric("hermes_engine_generated_tokens_total", "tiny") - gen0)
    s, h, j, _ = gw.chat({"model": "tiny", "messages": [{"role": "user", "content": "y"}], "max_tokens": 5})
    assert s == 429, j
    assert h.get("retry-after") == "1", h
    assert j["error"]["type"] == "rate_limit_error" and j["error"]["code"] == "queue_full", j
    sock.close()  # the client leaves mid-stream: its slot goes to the queued request
    t.join(30)
    s, _, j, _ = queued["r"]
    assert s == 200 and j["usage"]["completion_tokens"] == 5, j
    deadline = time.time() + 10
    while metric("hermes_engine_slots_busy", "tiny") != 0 and time.time() < deadline:
        time.sleep(0.02)
    assert metric("hermes_engine_slots_busy", "tiny") == 0
    assert metric("hermes_engine_generated_tokens_total", "tiny") - gen0 < 16000


def test_metrics_and_models():
    s, _, t = gw.request("GET", "/metrics")
    for name in ("hermes_engine_prompt_tokens_per_second", "hermes_engine_generation_tokens_per_second",
                 "hermes_engine_queue_length", "hermes_engine_slots_busy"):
        assert '%s{model="stories260K"}' % name in t, name
    assert metric("hermes_engine_slots", "stories260K") == 3
    assert metric("hermes_engine_generated_tokens_total", "stories260K") > 100
    s, _, t = gw.request("GET", "/ready")
    assert s == 200, t


def serve_default(env_extra):
    """`hermes-router serve` with no config at all, from an empty folder."""
    from harness import free_port
    cwd = temp_dir("hr-emb-default-")
    env = {k: v for k, v in os.environ.items() if k not in ("HERMES_ROUTER_CONFIG", "HERMES_ROUTER_MODEL")}
    env.update({"HERMES_ROUTER_MODELS": os.path.join(cwd, "models"), "HERMES_ROUTER_NO_PULL": "1"})
    env.update(env_extra)
    port = free_port()
    log = open(os.path.join(cwd, "stderr.txt"), "w+")
    p = subprocess.Popen([BIN, "serve", "--port", str(port), "--threads", "1"], cwd=cwd, env=env, stdout=log,
                         stderr=subprocess.STDOUT)
    import http.client
    deadline = time.time() + 20
    while time.time() < deadline:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            c.request("POST", "/v1/chat/completions", body=json.dumps(
                {"messages": [{"role": "user", "content": "Once upon a time"}], "max_tokens": 8}),
                headers={"Content-Type": "application/json"})
            r = c.getresponse()
            body = json.loads(r.read())
            break
        except OSError:
            assert p.poll() is None, open(log.name).read()
            time.sleep(0.1)
    p.terminate()
    rc = p.wait(10)
    log.seek(0)
    return r.status, body, log.read(), rc


def test_default_config_local_model():
    env = {"HR_SHARED": SHARED}
    status, body, out, rc = serve_default(env)
    assert status == 200 and body["usage"]["completion_tokens"] == 8, (body, out)
    assert "starting with the small local model" in out and "stories260K.gguf" in out, out
    assert "tier small" in out and "tier medium" in out and "model stories260K:" in out, out
    assert "context 2048 x 4 slots" in out and "router: rules" in out, out
    assert rc == 0, out


def test_default_config_model_from_env():
    status, body, out, rc = serve_default({"HERMES_ROUTER_MODEL": TINY})
    assert status == 200 and body["model"] == "tiny", (body, out)
    assert "starting with" not in out and "model tiny:" in out, out
    assert rc == 0, out


for fn in (test_default_config_local_model, test_default_config_model_from_env, test_prefix_reuse_same_tokens, test_non_streaming, test_streaming_matches_non_streaming,
           test_stop_strings_and_logprobs, test_seed_determinism, test_concurrent_more_than_slots,
           test_context_overflow, test_sampling_field_errors, test_json_mode_is_valid_json, test_tool_call_required,
           test_queue_bound_and_disconnect, test_metrics_and_models):
    R.run(fn)
rc = gw.stop()
if rc != 0:
    print("gateway exit status %s\n%s" % (rc, gw.output()[-3000:]))
    R.failed += 1
R.finish()
