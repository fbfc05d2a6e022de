"""The gateway end to end: the real binary in front of scripted upstreams on
loopback. Routing (rules, forced, fallback), streaming, errors, admin routes,
disconnects and the request log."""
import json
import os
import socket
import sqlite3
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Gateway, Runner, Upstream, free_port  # noqa: E402

small, medium, large = Upstream("small-up"), Upstream("medium-up"), Upstream("large-up")
dead_port = free_port()  # nothing listens here

CONFIG = """
server: {{ listen: 127.0.0.1:{{PORT}}, max_body: 64KiB, threads: 2 }}
tiers:
  small:
    aliases: [hermes-8b]
    backends:
      - {{ type: openai, url: {s}, model: m8 }}
  medium:
    aliases: [hermes-70b]
    backends:
      - {{ type: openai, url: {m}, model: m70 }}
  large:
    aliases: [hermes-405b]
    backends:
      - {{ type: openai, url: {l}, model: m405 }}
router: {{ strategy: rules }}
log: {{ sqlite: "{{DB}}" }}
""".format(s=small.url, m=medium.url, l=large.url)

gw = Gateway(CONFIG)
R = Runner()


def user(text, **kw):
    body = {"messages": [{"role": "user", "content": text}]}
    body.update(kw)
    return body


def assert_error(status, j, want_status, want_type=None, want_code=None, want_param=None):
    assert status == want_status, (status, j)
    assert isinstance(j, dict) and isinstance(j.get("error"), dict), j
    e = j["error"]
    assert e.get("message"), e
    for k in ("type", "param", "code"):
        assert k in e, e
    if want_type:
        assert e["type"] == want_type, e
    if want_code:
        assert e["code"] == want_code, e
    if want_param:
        assert e["param"] == want_param, e


def test_simple_prompt_goes_small():
    n = len(small.requests)
    s, h, j, _ = gw.chat(user("Translate 'good morning' into French"))
    assert s == 200, j
    assert h["x-hermes-tier"] == "small"
    assert h["x-hermes-route-reason"].startswith("simple-task keyword"), h
    assert float(h["x-hermes-route-us"]) >= 0
    assert j["choices"][0]["message"]["content"].startswith("reply from small-up")
    assert j["model"] == "m8"  # the model that answered
    assert j["hermes"]["tier"] == "small"
    assert len(small.requests) == n + 1
    assert small.requests[-1]["body"]["model"] == "m8"  # rewritten for the upstream


def test_default_goes_medium_and_sampling_fields_pass_through():
    fields = {"temperature": 0.7, "top_p": 0.9, "seed": 42, "stop": ["\n\n", "END"], "presence_penalty": 0.5,
              "frequency_penalty": -0.25, "logprobs": True, "top_logprobs": 3, "max_completion_tokens": 99,
              "response_format": {"type": "json_object"}, "user": "u-1", "vendor_extension": {"k": [1, 2.5]}}
    s, h, j, _ = gw.chat(user("Tell me a story about a lighthouse keeper", **fields))
    assert s == 200 and h["x-hermes-tier"] == "medium" and h["x-hermes-route-reason"] == "default", h
    assert j["model"] == "m70"
    sent = medium.requests[-1]["body"]
    for k, v in fields.items():
        assert sent[k] == v, (k, sent.get(k))


def test_long_context_goes_large():
    s, h, j, _ = gw.chat(user("x" * 20001))
    assert s == 200 and h["x-hermes-tier"] == "large", h
    assert "context over 20K" in h["x-hermes-route-reason"]


def test_chinese_keyword_reason_is_escaped_in_header_and_raw_in_body():
    s, h, j, _ = gw.chat(user("设计一个分布式缓存系统"))
    assert s == 200 and h["x-hermes-tier"] == "medium", h
    assert "%E5%88%86" in h["x-hermes-route-reason"]
    assert "分布式" in j["hermes"]["route_reason"]


def test_forced_tier_and_alias():
    s, h, j, _ = gw.chat(user("Translate hello", model="hermes-405b"))
    assert s == 200 and h["x-hermes-tier"] == "large" and h["x-hermes-route-reason"] == "user override", h
    s, h, j, _ = gw.chat(user("Tell me a story", model="small"))
    assert s == 200 and h["x-hermes-tier"] == "small" and h["x-hermes-strategy"] == "override", h


def test_unknown_model_is_404():
    s, h, j, _ = gw.chat(user("hi", model="gpt-4o"))
    assert_error(s, j, 404, "invalid_request_error", "model_not_found", "model")


def test_malformed_requests_are_400():
    cases = [
        ("{not json", None),
        ("[]", None),
        (json.dumps({}), "messages"),
        (json.dumps({"messages": []}), "messages"),
        (json.dumps({"messages": "hi"}), "messages"),
        (json.dumps({"messages": [{"role": "wizard", "content": "x"}]}), "messages[0]"),
        (json.dumps({"messages": [{"role": "user", "content": 42}]}), "messages[0].content"),
        (json.dumps({"messages": [{"role": "user", "content": "x"}], "temperature": "hot"}), "temperature"),
        (json.dumps({"messages": [{"role": "user", "content": "x"}], "max_tokens": -5}), "max_tokens"),
        (json.dumps({"messages": [{"role": "user", "content": "x"}], "stream": "yes"}), "stream"),
        ("", None),
        ("\x00\xff\xfe", None),
    ]
    for raw, param in cases:
        s, h, t = gw.request("POST", "/v1/chat/completions", raw=raw)
        j = json.loads(t)
        assert_error(s, j, 400, "invalid_request_error", want_param=param)


def test_oversized_body_is_400():
    big = json.dumps(user("y" * (70 * 1024)))
    s, h, t = gw.request("POST", "/v1/chat/completions", raw=big)
    assert_error(s, json.loads(t), 400, "invalid_request_error", "request_too_large")


def test_streaming_relays_chunks_with_route_in_first_chunk():
    s, h, events, raw = gw.stream(user("Translate 'cat' to German", stream=True))
    assert s == 200 and h["content-type"].startswith("text/event-stream"), h
    assert h["x-hermes-tier"] == "small"
    assert events[-1] == "[DONE]"
    chunks = events[:-1]
    assert chunks[0]["hermes"]["tier"] == "small" and chunks[0]["hermes"]["route_reason"]
    text = "".join(c["choices"][0]["delta"].get("content", "") for c in chunks if c["choices"])
    assert text.startswith("reply from small-up"), text
    assert not any("usage" in c and c.get("usage") for c in chunks)  # not asked for
    # the gateway always asks the upstream for usage, to count tokens
    assert small.requests[-1]["body"]["stream_options"]["include_usage"] is True


def test_streaming_include_usage():
    s, h, events, raw = gw.stream(user("Translate 'dog'", stream=True, stream_options={"include_usage": True}))
    assert s == 200
    usage = [e for e in events[:-1] if e.get("usage")]
    assert len(usage) == 1 and usage[0]["usage"]["prompt_tokens"] == 5, usage


def test_upstream_errors_become_openai_errors():
    s, h, j, _ = gw.chat(user("Translate FAIL500"))
    assert_error(s, j, 502, "upstream_error")
    assert "500" in j["error"]["message"]
    s, h, j, _ = gw.chat(user("Translate BADJSON"))
    assert_error(s, j, 502, "upstream_error")


def test_models_health_ready():
    s, h, t = gw.request("GET", "/v1/models")
    ids = [m["id"] for m in json.loads(t)["data"]]
    for want in ("auto", "small", "medium", "large", "hermes-8b", "hermes-70b", "hermes-405b"):
        assert want in ids, ids
    s, h, t = gw.request("GET", "/health")
    assert s == 200 and json.loads(t)["status"] == "ok"
    s, h, t = gw.request("GET", "/ready")
    assert s == 200 and json.loads(t)["ready"] is True, t


def test_route_dry_run():
    n = sum(len(u.requests) for u in (small, medium, large))
    s, h, t = gw.request("POST", "/v1/router/route", user("请分析这段代码为什么慢" + "啊" * 600))
    j = json.loads(t)
    assert s == 200 and j["tier"] == "medium" and "reasoning" in j["reason"], j
    assert j["features"]["last_user_chars"] > 600, j
    assert sum(len(u.requests) for u in (small, medium, large)) == n  # no generation


def test_stats_and_metrics_count_requests():
    s, h, t = gw.request("GET", "/v1/router/stats")
    st = json.loads(t)
    assert st["total"] == st["small"] + st["medium"] + st["large"] and st["total"] > 0, st
    assert st["ratios"]["small"].endswith("%")
    s, h, t = gw.request("GET", "/metrics")
    assert s == 200 and "text/plain" in h["content-type"]
    assert 'hermes_requests_total{tier="small",reason="simple-task keyword",strategy="rules",status="200"}' in t, t
    assert 'status="400"' in t  # malformed requests are counted
    assert "hermes_route_decision_seconds_bucket" in t
    assert 'hermes_tokens_total{tier="small",direction="in"}' in t


def test_client_disconnect_mid_stream_cancels_upstream():
    before = medium.disconnects
    sock = socket.create_connection(("127.0.0.1", gw.port))
    body = json.dumps(user("Tell me a SLOW story", stream=True, model="medium")).encode()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n%s" % (len(body), body))
    got = sock.recv(4096)
    assert b"200 OK" in got, got
    sock.close()
    deadline = time.time() + 8
    while time.time() < deadline and medium.disconnects == before:
        time.sleep(0.1)
    assert medium.disconnects == before + 1, "upstream was not cancelled"


def test_log_rows_written():
    deadline = time.time() + 5
    rows = []
    while time.time() < deadline:
        try:
            db = sqlite3.connect(gw.db)
            rows = db.execute("SELECT tier, status, strategy, reason, prompt, forced, prompt_tokens FROM requests").fetchall()
            db.close()
        except sqlite3.Error:
            rows = []
        if len(rows) >= 10 and any(r[1] == 499 for r in rows):
            break
        time.sleep(0.2)
    assert any(r[0] == "small" and r[1] == 200 and r[4] and "good morning" in r[4] and r[6] == 11 for r in rows), rows
    assert any(r[1] == 400 for r in rows), rows
    assert any(r[1] == 404 for r in rows), rows
    assert any(r[5] == 1 for r in rows), rows  # forced
    assert any(r[1] == 499 for r in rows), rows  # client went away


for t in [test_simple_prompt_goes_small, test_default_goes_medium_and_sampling_fields_pass_through, test_long_context_goes_large,
          test_chinese_keyword_reason_is_escaped_in_header_and_raw_in_body, test_forced_tier_and_alias,
          test_unknown_model_is_404, test_malformed_requests_are_400, test_oversized_body_is_400,
          test_streaming_relays_chunks_with_route_in_first_chunk, test_streaming_include_usage,
          test_upstream_errors_become_openai_errors, test_models_health_ready, test_route_dry_run,
          test_stats_and_metrics_count_requests, test_client_disconnect_mid_stream_cancels_upstream,
          test_log_rows_written]:
    R.run(t)

rc = gw.stop()
if rc not in (0, None):
    print("gateway exit code %s\n%s" % (rc, gw.output()))
    R.failed += 1
for u in (small, medium, large):
    u.stop()
R.finish()
