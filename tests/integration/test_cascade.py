"""The cascade end to end: the real gateway in front of scripted upstreams
that return known answers (and logprobs) per tier. Escalation at and around
the threshold, max_cascade, two tiers, each quality signal, the judge (and
its failure), streaming and not, stream_early_accept, forced tiers, failed
tiers, rules+cascade, request-log rows for every attempt, stats and metrics.

A request picks its script with a marker "[case:NAME]" in the user text; each
upstream answers NAME from its own table (default: a good, confident answer)."""
import json
import os
import re
import sqlite3
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, os.path.dirname(__file__))
from harness import Gateway, Runner, free_port  # noqa: E402

GOOD = "The capital of France is Paris, a city on the Seine."


class Scripted:
    """OpenAI-compatible upstream answering from a table of cases.
    A case is a dict: content, logprobs (one per word, or one number for all,
    or None), finish, tool_calls, status, judge ("yes"/"no"/"junk" when this
    upstream is asked to grade), delay (seconds)."""

    def __init__(self, name, model, cases=None):
        self.name, self.model, self.cases = name, model, cases or {}
        self.requests = []
        self.judged = []
        up = self

        class H(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *a):
                pass

            def do_GET(self):
                self._json(200, {"object": "list", "data": [{"id": up.model}]})

            def do_POST(self):
                n = int(self.headers.get("Content-Length", "0"))
                body = json.loads(self.rfile.read(n))
                up.requests.append(body)
                msgs = body.get("messages", [])
                text = " ".join(m.get("content") or "" for m in msgs if isinstance(m.get("content"), str))
                m = re.search(r"\[case:([\w-]+)\]", text)
                case = up.cases.get(m.group(1) if m else "", {})
                if case.get("delay"):
                    time.sleep(case["delay"])
                if msgs and msgs[0].get("role") == "system" and "Is this answer good?" in text:
                    up.judged.append(text)
                    return self._answer(body, {"content": case.get("judge", "yes"), "logprobs": None})
                if case.get("status"):
                    return self._json(case["status"], {"error": {"message": "scripted failure"}})
                self._answer(body, case)

            def _answer(self, body, case):
                content = case.get("content", GOOD)
                words = content.split(" ") if content else []
                lp = case.get("logprobs", -0.05)
                if isinstance(lp, (int, float)):
                    lp = [lp] * len(words)
                want_lp = body.get("logprobs") is True
                finish = case.get("finish", "stop")
                calls = case.get("tool_calls")
                if not body.get("stream"):
                    msg = {"role": "assistant", "content": content if not calls else None}
                    if calls:
                        msg["tool_calls"] = calls
                    choice = {"index": 0, "message": msg, "finish_reason": finish}
                    if want_lp and lp is not None:
                        choice["logprobs"] = {"content": [{"token": w, "logprob": p, "bytes": None, "top_logprobs": []}
                                                          for w, p in zip(words, lp)]}
                    return self._json(200, {"id": "chatcmpl-" + up.name, "object": "chat.completion", "created": 1,
                                            "model": up.model, "choices": [choice],
                                            "usage": {"prompt_tokens": 10, "completion_tokens": max(1, len(words)),
                                                      "total_tokens": 10 + len(words)}})
                self.send_response(200)
                self.send_header("Content-Type", "text/event-stream")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()

                def send(obj):
                    data = ("data: %s\n\n" % (obj if isinstance(obj, str) else json.dumps(obj))).encode()
                    self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
                    self.wfile.flush()

                try:
                    for i, w in enumerate(words):
                        tok = w if i == 0 else " " + w
                        choice = {"index": 0, "delta": {"content": tok}, "finish_reason": None}
                        if want_lp and lp is not None:
                            choice["logprobs"] = {"content": [{"token": tok, "logprob": lp[i], "bytes": None,
                                                               "top_logprobs": []}]}
                        send({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": up.model,
                              "choices": [choice]})
                        if case.get("chunk_delay"):
                            time.sleep(case["chunk_delay"])
                    send({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": up.model,
                          "choices": [{"index": 0, "delta": {}, "finish_reason": finish}]})
                    send({"id": "c", "object": "chat.completion.chunk", "created": 1, "model": up.model,
                          "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": len(words),
                                                   "total_tokens": 10 + len(words)}})
                    send("[DONE]")
                    self.wfile.write(b"0\r\n\r\n")
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def _json(self, status, obj):
                data = json.dumps(obj).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                try:
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the gateway cancelled the call

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), H)
        self.server.daemon_threads = True
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = "http://127.0.0.1:%d/v1" % self.port


TOOLS = [{"type": "function", "function": {"name": "get_weather", "parameters": {
    "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}]
GOOD_CALL = [{"id": "call_1", "type": "function",
              "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]
BAD_CALL = [{"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": "{city: Paris"}}]

# What the small tier says per case (medium and large answer well unless told).
SMALL = {
    "uncertain": {"content": "I'm not sure, it might be Paris or Lyon."},
    "uncertain-zh": {"content": "这个问题我不太清楚，可能是巴黎吧，但是无法确定。"},
    "short": {"content": "Eh"},
    "repeat": {"content": "Paris is nice. Paris is nice. Paris is nice. Paris is nice."},
    "lowmean": {"logprobs": -2.5},
    "lowmin": {"logprobs": [-0.01] * 9 + [-15.0]},
    "length": {"finish": "length"},
    "badjson": {"content": "Sure! Here is your JSON: {\"city\": \"Paris\"}"},
    "goodjson": {"content": "{\"city\": \"Paris\"}"},
    "badtool": {"tool_calls": BAD_CALL, "finish": "tool_calls"},
    "goodtool": {"tool_calls": GOOD_CALL, "finish": "tool_calls"},
    "all-bad": {"content": "I don't know."},
    "judge-no": {"judge": "no"},
    "judge-junk": {"judge": "perhaps"},
    "early": {"logprobs": -0.01, "chunk_delay": 0.02},
    "early-unsure": {"content": "I'm not sure, it might be Paris or Lyon.", "logprobs": -3.0},
    "down": {"status": 500},
    "trunc-all": {"finish": "length"},
    "slow-unsure": {"content": "I'm not sure about this one at all.", "delay": 0.1},
}
MEDIUM = {"all-bad": {"content": "I don't know either."}, "judge-no": {"judge": "no"},
          "badjson": {"content": "{\"city\": \"Paris\"}"},
          "slow-unsure": {"delay": 1.5},
          "trunc-all": {"content": "The medium answer was cut off in the", "finish": "length"},
          "judge-junk": {"judge": "perhaps"}}
LARGE = {"all-bad": {"content": "I do not know the answer."}, "judge-no": {"judge": "no"},
         "judge-slow": {"delay": 1.2},
         "judge-junk": {"judge": "perhaps"}}

small = Scripted("small", "m8", SMALL)
medium = Scripted("medium", "m70", MEDIUM)
large = Scripted("large", "m405", LARGE)

TIERS3 = """tiers:
  small:
    aliases: [hermes-8b]
    backends: [{{ url: {s}, model: m8 }}]
  medium:
    backends: [{{ url: {m}, model: m70 }}]
  large:
    backends: [{{ url: {l}, model: m405 }}]
""".format(s=small.url, m=medium.url, l=large.url)

MAIN = """server: {{ listen: 127.0.0.1:{{PORT}}, threads: 2 }}
{tiers}router:
  strategy: cascade
  cascade: {{ quality_threshold: 0.7, max_cascade: 2 }}
log: {{ sqlite: "{{DB}}" }}
""".format(tiers=TIERS3)

gw = Gateway(MAIN)
R = Runner()


def ask(g, case, stream=False, **kw):
    body = {"model": "auto", "messages": [{"role": "user", "content": "Question [case:%s]: capital of France?" % case}]}
    body.update(kw)
    if stream:
        body["stream"] = True
        return g.stream(body)
    return g.chat(body)


def path_of(h):
    return h.get("x-hermes-escalation-path")


def test_good_small_answer_is_accepted():
    n = len(small.requests)
    s, h, j, _ = ask(gw, "good")
    assert s == 200, j
    assert path_of(h) == "small:1.00", h
    assert h["x-hermes-model-used"] == "m8" and h["x-hermes-tier"] == "small", h
    assert float(h["x-hermes-quality-score"]) == 1.0, h
    x = j["hermes"]
    assert x["model_used"] == "m8" and x["quality_score"] == 1 and x["escalation_path"] == "small:1.00", x
    assert x["strategy"] == "cascade" and len(x["attempts"]) == 1, x
    assert j["choices"][0]["message"]["content"] == GOOD
    # logprobs were asked for upstream, and stripped again for this client
    assert small.requests[n]["logprobs"] is True
    assert j["choices"][0].get("logprobs") is None, j["choices"][0]


def test_client_logprobs_are_kept():
    s, h, j, _ = ask(gw, "good", logprobs=True)
    assert s == 200
    assert len(j["choices"][0]["logprobs"]["content"]) == len(GOOD.split(" "))


def test_uncertain_small_escalates_to_medium():
    nm = len(medium.requests)
    s, h, j, _ = ask(gw, "uncertain")
    assert s == 200, j
    assert path_of(h) == "small:0.60>medium:1.00", h
    assert h["x-hermes-tier"] == "medium" and h["x-hermes-model-used"] == "m70"
    assert j["model"] == "m70" and j["choices"][0]["message"]["content"] == GOOD
    assert len(medium.requests) == nm + 1
    a = j["hermes"]["attempts"]
    assert [x["tier"] for x in a] == ["small", "medium"], a
    assert a[0]["signals"] == {"uncertainty": 1} and not a[0]["accepted"] and a[1]["accepted"], a
    assert "cascade small:0.60>medium:1.00" in j["hermes"]["route_reason"], j["hermes"]


def test_each_signal_escalates():
    cases = {
        "uncertain-zh": "uncertainty",
        "short": "short_answer",
        "repeat": "repetition",
        "lowmean": "mean_logprob",
        "lowmin": "min_logprob",
        "length": "length",
    }
    for case, signal in cases.items():
        s, h, j, _ = ask(gw, case)
        assert s == 200, (case, j)
        a = j["hermes"]["attempts"]
        assert a[0]["tier"] == "small" and signal in a[0]["signals"], (case, a[0])
        assert a[0]["score"] < 0.7 and h["x-hermes-tier"] == "medium", (case, h, a[0])


def test_json_schema_signal():
    rf = {"type": "json_schema", "json_schema": {"name": "c", "schema": {
        "type": "object", "properties": {"city": {"type": "string"}}, "required": ["city"]}}}
    s, h, j, _ = ask(gw, "badjson", response_format=rf)
    assert s == 200, j
    a = j["hermes"]["attempts"]
    assert a[0]["signals"].get("format") == 1 and "response_format" in a[0]["format_error"], a[0]
    assert h["x-hermes-tier"] == "medium"
    s, h, j, _ = ask(gw, "goodjson", response_format=rf)
    assert s == 200 and path_of(h) == "small:1.00", (h, j)


def test_tool_call_signal():
    s, h, j, _ = ask(gw, "badtool", tools=TOOLS)
    assert s == 200, j
    a = j["hermes"]["attempts"]
    assert a[0]["signals"].get("format") == 1, a[0]
    assert h["x-hermes-tier"] == "medium"
    s, h, j, _ = ask(gw, "goodtool", tools=TOOLS)
    assert s == 200 and path_of(h) == "small:1.00", (h, j)
    assert j["choices"][0]["message"]["tool_calls"][0]["function"]["name"] == "get_weather"


def test_max_cascade_two_goes_to_large_and_returns_it_whatever_its_score():
    s, h, j, _ = ask(gw, "all-bad")
    assert s == 200, j
    p = path_of(h)
    assert p.startswith("small:0.") and ">medium:0." in p and ">large:0." in p, p
    assert h["x-hermes-tier"] == "large" and float(h["x-hermes-quality-score"]) < 0.7
    assert j["choices"][0]["message"]["content"] == "I do not know the answer."


def test_forced_tier_is_never_cascaded():
    n = len(medium.requests)
    s, h, j, _ = gw.chat({"model": "hermes-8b", "messages": [{"role": "user", "content": "[case:uncertain] hi"}]})
    assert s == 200 and h["x-hermes-tier"] == "small", h
    assert "x-hermes-escalation-path" not in h and "escalation_path" not in j["hermes"], h
    assert len(medium.requests) == n
    assert j["hermes"]["strategy"] == "override"


def test_streaming_replays_only_the_accepted_answer():
    s, h, ev, raw = ask(gw, "uncertain", stream=True)
    assert s == 200, raw
    assert path_of(h) == "small:0.60>medium:1.00", h
    assert ev[-1] == "[DONE]"
    chunks = [e for e in ev if isinstance(e, dict)]
    assert chunks[0]["hermes"]["escalation_path"] == "small:0.60>medium:1.00", chunks[0]
    assert chunks[0]["hermes"]["model_used"] == "m70"
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices"))
    assert text == GOOD, text  # nothing of the small tier's answer
    assert all(c["model"] == "m70" for c in chunks)
    assert all(c["choices"][0].get("logprobs") is None for c in chunks if c.get("choices")), chunks[1]
    s, h, ev, raw = ask(gw, "good", stream=True)
    assert s == 200 and path_of(h) == "small:1.00", h
    text = "".join((c["choices"][0]["delta"].get("content") or "") for c in ev if isinstance(c, dict) and c.get("choices"))
    assert text == GOOD


def test_failed_tier_moves_on():
    s, h, j, _ = ask(gw, "down")
    assert s == 200, j
    assert path_of(h) == "small:error>medium:1.00", h
    a = j["hermes"]["attempts"]
    assert a[0]["status"] == 502 and a[0]["score"] is None and "HTTP 500" in a[0]["error"], a[0]


def wait_rows(g, n, where=""):
    deadline = time.time() + 5
    rows = []
    while time.time() < deadline:
        try:
            db = sqlite3.connect(g.db)
            rows = db.execute("SELECT tier, strategy, status, prompt, attempts_json, completion_tokens, reason "
                              "FROM requests " + where).fetchall()
            db.close()
        except sqlite3.Error:
            rows = []
        if len(rows) >= n:
            return rows
        time.sleep(0.1)
    return rows


def test_log_rows_keep_every_attempt():
    rows = wait_rows(gw, 1, "WHERE prompt LIKE '%[case:all-bad]%'")
    assert rows, "no row"
    tier, strategy, status, prompt, attempts, ctoks, reason = rows[0]
    assert tier == "large" and strategy == "cascade" and status == 200, rows[0]
    a = json.loads(attempts)
    assert [x["tier"] for x in a] == ["small", "medium", "large"], a
    for x in a:
        assert x["prompt_tokens"] == 10 and x["completion_tokens"] > 0 and x["latency_ms"] >= 0, x
        assert 0 <= x["score"] < 0.7, x
    assert [x["accepted"] for x in a] == [False, False, True]
    assert "cascade small:" in reason
    rows = wait_rows(gw, 1, "WHERE prompt LIKE '%[case:good]%'")
    assert all(len(json.loads(r[4])) == 1 for r in rows), rows


def test_stats_and_metrics():
    s, _, t = gw.request("GET", "/v1/router/stats")
    st = json.loads(t)
    c = st["cascade"]
    assert st["strategy"] == "cascade"
    assert c["requests"] >= 10, c
    e = c["escalations"]["small>medium"]
    assert e["count"] >= 8 and 0 < e["rate"] < 1, e
    assert c["escalations"]["medium>large"]["count"] >= 1
    assert sum(c["score_histogram"]["counts"]) >= c["requests"] - 2, c  # failed attempts have no score
    assert c["cost"]["unit"] == "relative"
    assert c["cost"]["cascade"] > c["cost"]["direct"] > 0, c["cost"]
    assert c["cost"]["largest"] >= c["cost"]["direct"], c["cost"]
    s, _, m = gw.request("GET", "/metrics")
    assert s == 200
    assert re.search(r'hermes_cascade_escalations_total\{from="small",to="medium"\} [1-9]', m), m[-2000:]
    assert 'hermes_cascade_quality_score_bucket{le="+Inf"}' in m
    assert 'hermes_cascade_cost_total{kind="cascade"}' in m


def test_client_gone_mid_cascade():
    import socket
    for stream in (False, True):
        body = json.dumps({"stream": stream, "messages": [{"role": "user", "content": "[case:slow-unsure] q"}]})
        sock = socket.create_connection(("127.0.0.1", gw.port))
        sock.sendall(("POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                      "Content-Length: %d\r\n\r\n%s" % (len(body), body)).encode())
        time.sleep(0.5)  # small answered, medium is working on it
        sock.close()
    time.sleep(1.5)
    s, _, _ = gw.request("GET", "/health")
    assert s == 200
    rows = wait_rows(gw, 2, "WHERE status = 499 AND prompt LIKE '%[case:slow-unsure]%'")
    assert len(rows) == 2, rows
    for r in rows:
        a = json.loads(r[4])
        assert a[0]["tier"] == "small" and a[0]["score"] < 0.7 and a[1]["tier"] == "medium", a
    s, h, j, _ = ask(gw, "good")  # still answering
    assert s == 200 and path_of(h) == "small:1.00"


# ---- other setups --------------------------------------------------------------------

def test_threshold_boundary_and_max_cascade_one():
    cfg = """server: {{ listen: 127.0.0.1:{{PORT}}, threads: 1 }}
{tiers}router:
  strategy: cascade
  cascade:
    quality_threshold: 0.75
    max_cascade: 1
    weights: {{ uncertainty: 0.25, length: 0.26 }}
log: {{ enabled: false }}
""".format(tiers=TIERS3)
    g = Gateway(cfg)
    try:
        s, h, j, _ = ask(g, "uncertain")  # 1 - 0.25 = 0.75: at the threshold, accepted
        assert s == 200 and path_of(h) == "small:0.75", h
        s, h, j, _ = ask(g, "length")  # 1 - 0.26 = 0.74: just below, escalates
        assert path_of(h) == "small:0.74>medium:1.00", h
        s, h, j, _ = ask(g, "trunc-all")  # max_cascade 1: medium is the last, returned below the threshold
        assert path_of(h) == "small:0.74>medium:0.74" and h["x-hermes-tier"] == "medium", h
        assert j["choices"][0]["message"]["content"] == "The medium answer was cut off in the"
    finally:
        g.stop()


def test_two_tier_setup():
    cfg = """server: {{ listen: 127.0.0.1:{{PORT}}, threads: 1 }}
tiers:
  small:
    backends: [{{ url: {s}, model: m8 }}]
  large:
    backends: [{{ url: {l}, model: m405 }}]
router: {{ strategy: cascade }}
log: {{ enabled: false }}
""".format(s=small.url, l=large.url)
    g = Gateway(cfg)
    try:
        s, h, j, _ = ask(g, "uncertain")
        assert path_of(h) == "small:0.60>large:1.00", h
        s, h, j, _ = ask(g, "all-bad")
        assert path_of(h).count(">") == 1 and h["x-hermes-tier"] == "large", h  # stops at the top
        s, _, t = g.request("GET", "/v1/router/stats")
        esc = json.loads(t)["cascade"]["escalations"]
        assert list(esc) == ["small>large"] and esc["small>large"]["count"] == 2, esc
    finally:
        g.stop()


def test_rules_cascade_starts_at_the_rule_tier():
    cfg = MAIN.replace("strategy: cascade", "strategy: rules+cascade").replace('log: { sqlite: "{DB}" }',
                                                                               "log: { enabled: false }")
    g = Gateway(cfg)
    try:
        n = len(small.requests)
        body = {"messages": [{"role": "user", "content": "Tell me a story [case:all-bad]"}]}
        s, h, j, _ = g.chat(body)  # rules: default -> medium; never down to small
        assert s == 200
        assert path_of(h).startswith("medium:") and ">large:" in path_of(h), h
        assert len(small.requests) == n
        assert j["hermes"]["strategy"] == "rules+cascade"
        s, h, j, _ = g.chat({"messages": [{"role": "user", "content": "Translate hello [case:uncertain]"}]})
        assert path_of(h) == "small:0.60>medium:1.00", h  # simple task starts small
    finally:
        g.stop()


def test_judge():
    dead = free_port()
    cfg = """server: {{ listen: 127.0.0.1:{{PORT}}, threads: 1 }}
{tiers}router:
  strategy: cascade
  cascade:
    judge: {{ enabled: true, tier: large, timeout: 0.5s }}
log: {{ enabled: false }}
""".format(tiers=TIERS3)
    g = Gateway(cfg)
    try:
        nj = len(large.judged)
        s, h, j, _ = ask(g, "good")  # heuristic 1.0, judge yes -> 1.0
        assert path_of(h) == "small:1.00", h
        assert len(large.judged) == nj + 1 and "capital of France" in large.judged[-1]
        assert j["hermes"]["attempts"][0]["judge"]["verdict"] == "yes"
        s, h, j, _ = ask(g, "judge-no")  # 0.4*1.0 + 0.6*0 = 0.4 -> escalate
        assert path_of(h) == "small:0.40>medium:0.40>large:1.00", h
        s, h, j, _ = ask(g, "judge-junk")  # unparseable verdict: heuristic score
        assert path_of(h) == "small:1.00", h
        assert j["hermes"]["attempts"][0]["judge"]["verdict"] == "failed"
        s, h, j, _ = ask(g, "lowmean")  # heuristic 0.5 with -2.5 mean... judge cannot lift it? 0.2+0.6=0.8: asked
        assert j["hermes"]["attempts"][0]["judge"]["verdict"] == "yes", j["hermes"]
        s, h, j, _ = ask(g, "all-bad")  # heuristic 0.6 ("I don't know"), judge yes: 0.4*0.6 + 0.6 = 0.84
        assert path_of(h) == "small:0.84", h
        s, h, j, _ = ask(g, "goodtool", tools=TOOLS)  # the judge sees the tool calls
        assert path_of(h) == "small:1.00" and "Tool calls: [" in large.judged[-1] and "get_weather" in large.judged[-1]
        t0 = time.time()
        s, h, j, _ = ask(g, "judge-slow")  # the judge takes 1.2 s, the timeout is 0.5 s: heuristic score
        assert s == 200 and path_of(h) == "small:1.00", h
        jd = j["hermes"]["attempts"][0]["judge"]
        assert jd["verdict"] == "failed" and 450 <= jd["latency_ms"] < 1100, jd
        assert time.time() - t0 < 1.1
    finally:
        g.stop()
    # judge tier down: the heuristic score decides
    cfg2 = """server: {{ listen: 127.0.0.1:{{PORT}}, threads: 1, connect_timeout: 1 }}
tiers:
  small:
    backends: [{{ url: {s}, model: m8 }}]
  medium:
    backends: [{{ url: {m}, model: m70 }}]
  large:
    backends: [{{ url: http://127.0.0.1:{d}/v1, model: m405 }}]
router:
  strategy: cascade
  cascade:
    judge: {{ enabled: true }}
log: {{ enabled: false }}
""".format(s=small.url, m=medium.url, d=dead)
    g = Gateway(cfg2)
    try:
        s, h, j, _ = ask(g, "good")
        assert s == 200 and path_of(h) == "small:1.00", h
        assert j["hermes"]["attempts"][0]["judge"]["verdict"] == "failed"
        s, h, j, _ = ask(g, "uncertain")  # heuristic 0.6 < 0.7 and judge could lift it, but it is down
        assert path_of(h) == "small:0.60>medium:1.00", h
        s, _, t = g.request("GET", "/v1/router/stats")
        assert json.loads(t)["cascade"]["judge"]["failed"] >= 2
    finally:
        g.stop()


def test_stream_early_accept():
    cfg = """server: {{ listen: 127.0.0.1:{{PORT}}, threads: 1 }}
{tiers}router:
  strategy: cascade
  cascade:
    stream_early_accept: {{ enabled: true, after_tokens: 3, min_mean_logprob: -0.3 }}
log: {{ sqlite: "{{DB}}" }}
""".format(tiers=TIERS3)
    g = Gateway(cfg)
    try:
        n = len(medium.requests)
        s, h, ev, raw = ask(g, "early", stream=True)
        assert s == 200, raw
        assert path_of(h) == "small:early", h
        assert "x-hermes-quality-score" not in h
        chunks = [e for e in ev if isinstance(e, dict)]
        assert chunks[0]["hermes"]["early_accept"] is True and chunks[0]["hermes"]["model_used"] == "m8"
        text = "".join((c["choices"][0]["delta"].get("content") or "") for c in chunks if c.get("choices"))
        assert text == GOOD and ev[-1] == "[DONE]"
        assert len(medium.requests) == n
        s, h, ev, raw = ask(g, "early-unsure", stream=True)  # first tokens unconfident: buffered, escalated
        assert path_of(h).startswith("small:0.") and path_of(h).endswith(">medium:1.00"), h
        rows = wait_rows(g, 1, "WHERE prompt LIKE '%[case:early]%'")
        a = json.loads(rows[0][4])
        assert len(a) == 1 and a[0]["tier"] == "small" and a[0]["score"] == 1, a  # scored for the log
        # non-streaming requests never early-accept
        s, h, j, _ = ask(g, "early-unsure")
        assert path_of(h).endswith(">medium:1.00"), h
    finally:
        g.stop()


for t in [test_good_small_answer_is_accepted, test_client_logprobs_are_kept, test_uncertain_small_escalates_to_medium,
          test_each_signal_escalates, test_json_schema_signal, test_tool_call_signal,
          test_max_cascade_two_goes_to_large_and_returns_it_whatever_its_score, test_forced_tier_is_never_cascaded,
          test_streaming_replays_only_the_accepted_answer, test_failed_tier_moves_on,
          test_log_rows_keep_every_attempt, test_stats_and_metrics, test_client_gone_mid_cascade, test_threshold_boundary_and_max_cascade_one,
          test_two_tier_setup, test_rules_cascade_starts_at_the_rule_tier, test_judge, test_stream_early_accept]:
    R.run(t)
gw.stop()
R.finish()
