"""The web UI's server side: embedded assets served by the gateway, the
dashboard endpoints (/v1/router/requests, /timeseries, /cost) over a real
request log, auth on them, and `hermes-router cost` (the seed's example,
--mix, --from-log, errors)."""
import json
import os
import re
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, Gateway, Runner, Upstream  # noqa: E402

small, medium, large = Upstream("small-up"), Upstream("medium-up"), Upstream("large-up")
CONFIG = """
server: {{ listen: 127.0.0.1:{{PORT}}, threads: 2 }}
tiers:
  small:
    backends: [{{ type: openai, url: {s}, model: m8 }}]
    cost: {{ usd_per_month: 3000, capacity_rps: 10 }}
  medium:
    backends: [{{ type: openai, url: {m}, model: m70 }}]
  large:
    backends: [{{ type: openai, url: {l}, model: m405 }}]
    cost: {{ usd_per_mtok_in: 5, usd_per_mtok_out: 15 }}
router: {{ strategy: rules }}
log: {{ sqlite: "{{DB}}" }}
""".format(s=small.url, m=medium.url, l=large.url)

gw = Gateway(CONFIG)
R = Runner()


def user(text, **kw):
    body = {"messages": [{"role": "user", "content": text}]}
    body.update(kw)
    return body


def get_json(path, headers=None):
    s, h, t = gw.request("GET", path, headers=headers)
    return s, h, json.loads(t)


def wait_rows(n):
    for _ in range(100):
        s, _, j = get_json("/v1/router/requests?limit=500")
        if len(j["data"]) >= n:
            return j
        time.sleep(0.05)
    raise AssertionError("log rows did not appear: %d < %d" % (len(j["data"]), n))


# Traffic: 3 small (translate), 2 medium (default), 1 forced large, 1 failing, 1 rejected.
for text in ("Translate hello into German", "Translate cat into French", "Translate yes into Italian"):
    assert gw.chat(user(text))[0] == 200
assert gw.chat(user("Tell me a story about a fox"))[0] == 200
assert gw.stream(user("Tell me a story about an owl", stream=True, stream_options={"include_usage": True}))[0] == 200
assert gw.chat(user("hello big model", model="large"))[0] == 200
assert gw.chat(user("FAIL500 please"))[0] == 502  # upstream 500 -> upstream_error
assert gw.request("POST", "/v1/chat/completions", raw="{not json")[0] == 400
TOTAL = 8


def test_ui_served_from_the_binary():
    s, h, t = gw.request("GET", "/")
    assert s == 200 and h["content-type"].startswith("text/html"), (s, h)
    assert "default-src 'self'" in h["content-security-policy"]
    assert h["x-content-type-options"] == "nosniff"
    if "<h1>hermes-router</h1>" in t:  # fallback page: built without npm
        print("note: fallback page embedded (no npm at build time)")
        return
    assets = re.findall(r'(?:src|href)="\./(assets/[^"]+)"', t)
    assert any(a.endswith(".js") for a in assets) and any(a.endswith(".css") for a in assets), assets
    for a in assets:
        s2, h2, body = gw.request("GET", "/" + a)
        assert s2 == 200 and len(body) > 100, (a, s2)
        assert "immutable" in h2["cache-control"], h2
        want = "text/javascript" if a.endswith(".js") else "text/css"
        assert h2["content-type"].startswith(want), h2
    assert gw.request("GET", "/index.html")[0] == 200


def test_unknown_ui_paths_404():
    for p in ("/nope.js", "/assets/missing.css", "/../etc/passwd", "/assets/"):
        s, h, t = gw.request("GET", p)
        assert s == 404 and json.loads(t)["error"]["code"] == "unknown_url", (p, s)


def test_requests_newest_first_with_preview():
    j = wait_rows(TOTAL)
    rows = j["data"]
    assert j["log"] is True and len(rows) == TOTAL, len(rows)
    ts = [r["ts"] for r in rows]
    assert ts == sorted(ts, reverse=True), ts
    assert rows[-1]["prompt"] == "Translate hello into German"
    assert {r["status"] for r in rows} == {200, 400, 502}
    forced = [r for r in rows if r["forced"]]
    assert len(forced) == 1 and forced[0]["tier"] == "large" and forced[0]["model"] == "m405"


def test_requests_limit_search_tier():
    s, _, j = get_json("/v1/router/requests?limit=2")
    assert s == 200 and len(j["data"]) == 2
    s, _, j = get_json("/v1/router/requests?q=translate")
    assert s == 200 and len(j["data"]) == 3 and all(r["tier"] == "small" for r in j["data"]), j
    s, _, j = get_json("/v1/router/requests?q=" + "%20owl")
    assert len(j["data"]) == 1 and j["data"][0]["stream"] is True
    s, _, j = get_json("/v1/router/requests?tier=medium")
    assert {r["tier"] for r in j["data"]} == {"medium"} and len(j["data"]) == 3, j  # fox, owl, FAIL500
    s, _, j = get_json("/v1/router/requests?q=no-such-thing-anywhere")
    assert s == 200 and j["data"] == []


def test_requests_bad_parameters():
    for q in ("limit=0", "limit=501", "limit=abc", "tier=huge", "q=" + "x" * 300):
        s, _, j = get_json("/v1/router/requests?" + q)
        assert s == 400 and j["error"]["type"] == "invalid_request_error", (q, s, j)
    s, h, t = gw.request("POST", "/v1/router/requests", body={})
    assert s == 405


def test_long_prompt_is_cut_to_a_preview():
    long = "Translate " + "é" * 1000
    assert gw.chat(user(long))[0] == 200
    for _ in range(100):
        s, _, j = get_json("/v1/router/requests?limit=1&q=" + "%C3%A9%C3%A9%C3%A9")
        if j["data"]:
            break
        time.sleep(0.05)
    r = j["data"][0]
    assert r.get("prompt_truncated") is True and len(r["prompt"].encode()) <= 400, r
    r["prompt"].encode("utf-8")  # cut on a code point boundary (json.loads would have failed otherwise)


def test_timeseries():
    s, _, j = get_json("/v1/router/timeseries?minutes=10")
    assert s == 200 and j["log"] is True
    assert j["tiers"] == ["small", "medium", "large"]
    assert j["requests"] >= TOTAL and j["errors"] >= 2, j
    assert abs(j["error_rate"] - j["errors"] / j["requests"]) < 1e-9
    b = j["buckets"]
    assert 2 <= len(b) <= 120 and j["bucket_s"] * 1000 == b[1]["t"] - b[0]["t"]
    assert sum(x["small"] for x in b) >= 3 and sum(x["large"] for x in b) == 1
    assert sum(x["unrouted"] for x in b) == 1  # the bad-JSON request
    lat = j["latency_ms"]
    assert lat["small"]["count"] >= 3 and lat["large"]["count"] == 1
    for t in ("small", "medium", "large"):
        l = lat[t]
        assert 0 < l["p50"] <= l["p90"] <= l["p99"], l
        assert l["ttft_p50"] <= l["p99"] + 1e-6, l
    assert lat["medium"]["tokens_out"] > 0
    assert j["rate_rps_recent"] > 0 and j["rate_rps"] > 0
    for q in ("minutes=0", "minutes=99999", "minutes=x"):
        assert get_json("/v1/router/timeseries?" + q)[0] == 400, q


def test_cost_endpoint():
    s, _, j = get_json("/v1/router/cost")
    assert s == 200 and j["log"] is True
    ex = j["example"]
    assert ex["requests_per_day"] == 100000 and ex["baseline"] == "medium"
    assert ex["tiers"]["small"]["basis"] == "gpu" and ex["tiers"]["small"]["default_price"] is False
    assert ex["tiers"]["medium"]["default_price"] is True and ex["baselines"]["medium"] == 10000
    assert ex["tiers"]["large"]["basis"] == "tokens"
    # small: 60% of 100k/day = 0.694 req/s on a $3,000 deployment of 10 req/s
    assert abs(ex["tiers"]["small"]["usd_month"] - 3000 * (0.6 * 100000 / 86400) / 10) < 0.01, ex
    obs = j["observed"]
    assert obs is not None and j["observed_requests"] >= 6, j
    shares = obs["tiers"]
    assert abs(sum(t["share"] for t in shares.values()) - 1) < 1e-3
    assert shares["large"]["share"] > 0 and shares["small"]["share"] > shares["large"]["share"]
    s, _, j2 = get_json("/v1/router/cost?baseline=large&requests_per_day=1000000")
    assert s == 200 and j2["observed"]["baseline"] == "large" and j2["observed"]["requests_per_day"] == 1000000
    for q in ("baseline=huge", "hours=0", "requests_per_day=-5"):
        assert get_json("/v1/router/cost?" + q)[0] == 400, q


def test_dashboard_endpoints_need_the_key_when_configured():
    key_cfg = CONFIG.replace("threads: 2 }", "threads: 1, api_keys: [sekrit] }")
    g = Gateway(key_cfg)
    try:
        for p in ("/v1/router/requests", "/v1/router/timeseries", "/v1/router/cost"):
            s, _, _ = g.request("GET", p)
            assert s == 401, (p, s)
            s, _, _ = g.request("GET", p, headers={"Authorization": "Bearer sekrit"})
            assert s == 200, (p, s)
        assert g.request("GET", "/")[0] == 200  # the page itself is public; the API calls carry the key
    finally:
        g.stop()


def test_without_a_log():
    g = Gateway(CONFIG.replace('log: { sqlite: "{DB}" }', "log: { enabled: false }"))
    try:
        s, _, j = g.request("GET", "/v1/router/requests")
        j = json.loads(j)
        assert s == 200 and j["log"] is False and j["data"] == []
        s, _, j = g.request("GET", "/v1/router/timeseries")
        assert s == 200 and json.loads(j)["log"] is False
        s, _, j = g.request("GET", "/v1/router/cost")
        j = json.loads(j)
        assert s == 200 and j["log"] is False and j["example"]["routed_usd"] > 0
    finally:
        g.stop()


def cli(*args):
    p = subprocess.run([BIN, "cost"] + list(args), capture_output=True, text=True, timeout=30)
    return p.returncode, p.stdout, p.stderr


def test_cli_seed_example():
    rc, out, err = cli()
    assert rc == 0, err
    assert "100,000 requests/day" in out and "60.0%" in out and "35.0%" in out and " 5.0%" in out, out
    assert re.search(r"routed:\s+\$6,100/month", out), out
    assert re.search(r"baseline \(all on medium\):\s+\$10,000/month", out), out
    assert re.search(r"savings:\s+\$3,900/month \(39\.0%\)", out), out
    rc, out, err = cli("--json")
    j = json.loads(out)
    assert j["routed_usd"] == 6100 and j["baseline_usd"] == 10000 and j["savings_pct"] == 39


def test_cli_mix_baseline_and_config():
    rc, out, err = cli("--mix", "80,20,0", "--requests-per-day", "50000", "--json")
    j = json.loads(out)
    # 50k/day is half the 70B deployment; 80% at 1/10 of its cost per request + 20% at full cost
    assert abs(j["routed_usd"] - (5000 * 0.8 * 0.1 + 5000 * 0.2)) < 0.01, j
    rc, out, err = cli("--config", gw.config, "--baseline", "large", "--json")
    j = json.loads(out)
    assert rc == 0 and j["baseline"] == "large" and j["tiers"]["large"]["basis"] == "tokens", (out, err)
    # 100k req/day for 30 days at 500 in / 250 out tokens at $5 / $15 per Mtok
    assert abs(j["baselines"]["large"] - 3e6 * (500 * 5 + 250 * 15) / 1e6) < 0.01, j


def test_cli_from_log():
    rc, out, err = cli("--from-log", "--db", gw.db)
    assert rc == 0, err
    assert "mix from the request log" in out and "answered requests" in out, out
    rc, out, err = cli("--from-log", "--db", gw.db, "--requests-per-day", "1000", "--json")
    j = json.loads(out)
    assert j["requests_per_day"] == 1000 and j["tiers"]["small"]["share"] > 0.3, j
    rc, out, err = cli("--from-log", "--config", gw.config, "--json")
    assert rc == 0 and json.loads(out)["tiers"]["large"]["share"] > 0, err


def test_cli_errors():
    for args, want in ((("--mix", "1,2"), "expected 3"), (("--mix", "a,b,c"), "expected 3"),
                       (("--baseline", "huge"), "not a configured tier"), (("--requests-per-day", "-1"), "positive"),
                       (("--db", "x.db"), "only go with --from-log"), (("--bogus",), "unknown option"),
                       (("--from-log", "--mix", "1,1,1"), "exclude each other"),
                       (("--mix", "0,0,0"), "empty")):
        rc, out, err = cli(*args)
        assert rc == 2 and want in err and err.count("\n") == 1, (args, rc, err)
    rc, out, err = cli("--from-log", "--db", "/nonexistent/dir/log.db")
    assert rc == 1 and "log.db" in err, err
    rc, out, err = cli("--help")
    assert rc == 0 and "--from-log" in out


for t in [test_ui_served_from_the_binary, test_unknown_ui_paths_404, test_requests_newest_first_with_preview,
          test_requests_limit_search_tier, test_requests_bad_parameters, test_long_prompt_is_cut_to_a_preview,
          test_timeseries, test_cost_endpoint, test_dashboard_endpoints_need_the_key_when_configured,
          test_without_a_log, test_cli_seed_example, test_cli_mix_baseline_and_config, test_cli_from_log,
          test_cli_errors]:
    R.run(t)
rc = gw.stop()
out = gw.output()
if "AddressSanitizer" in out or "runtime error:" in out:
    print("FAIL sanitizer report:\n" + out)
    R.failed += 1
for u in (small, medium, large):
    u.stop()
R.finish()
