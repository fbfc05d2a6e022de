"""Dead backends: round robin skips them after one failure, a connection
failure is retried once on another backend of the tier, and a tier with no
live backend falls back to the next larger tier (and says so). Also bearer
auth and a two-tier setup."""
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import Gateway, Runner, Upstream, free_port  # noqa: E402

small_ok = Upstream("small-ok")
large = Upstream("large-up")
dead1, dead2 = free_port(), free_port()

CONFIG = """
server: {{ listen: 127.0.0.1:{{PORT}}, api_keys: [sk-test], connect_timeout: 2, threads: 1 }}
tiers:
  small:
    backends:
      - {{ url: http://127.0.0.1:{d1}/v1, model: s-dead }}
      - {{ url: {s}, model: s-ok }}
  large:
    aliases: [big]
    backends:
      - {{ url: {l}, model: l-ok }}
  medium:
    backends:
      - {{ url: http://127.0.0.1:{d2}/v1, model: m-dead }}
log: {{ enabled: false }}
""".format(d1=dead1, d2=dead2, s=small_ok.url, l=large.url)

gw = Gateway(CONFIG)
R = Runner()
AUTH = {"Authorization": "Bearer sk-test"}


def chat(text, **kw):
    body = {"messages": [{"role": "user", "content": text}]}
    body.update(kw)
    return gw.chat(body, AUTH)


def test_auth_required():
    s, h, j, _ = gw.chat({"messages": [{"role": "user", "content": "hi"}]})
    assert s == 401 and j["error"]["code"] == "invalid_api_key", j
    s, h, j, _ = gw.chat({"messages": [{"role": "user", "content": "hi"}]}, {"Authorization": "Bearer nope"})
    assert s == 401, j
    s, h, t = gw.request("GET", "/health")  # health stays open for probes
    assert s == 200


def test_retry_on_connection_failure_then_skip_dead_backend():
    for i in range(4):
        s, h, j, _ = chat("Translate number %d" % i)
        assert s == 200, j
        assert h["x-hermes-tier"] == "small", h
        assert j["model"] == "s-ok", j
    assert len(small_ok.requests) == 4


def test_fallback_to_larger_tier():
    s, h, j, _ = chat("Write a poem about autumn")  # default tier: medium, whose only backend is dead
    assert s == 200, j
    assert h["x-hermes-tier"] == "large", h
    assert "fallback from medium" in h["x-hermes-route-reason"], h
    assert j["hermes"]["fallback"] is True
    assert j["model"] == "l-ok"


def test_fallback_streaming():
    s, h, events, raw = gw.stream({"messages": [{"role": "user", "content": "Write a haiku"}], "stream": True}, AUTH)
    assert s == 200 and h["x-hermes-tier"] == "large", h
    assert events[-1] == "[DONE]" and events[0]["hermes"]["fallback"] is True, events[0]
    assert "fallback from medium" in events[0]["hermes"]["route_reason"]


def test_ready_reports_dead_tier():
    s, h, t = gw.request("GET", "/ready")
    j = json.loads(t)
    assert s == 503 and j["ready"] is False, j
    assert j["tiers"]["medium"]["reachable"] == 0 and j["tiers"]["large"]["reachable"] == 1, j


def test_metrics_show_backend_down_and_fallback():
    s, h, t = gw.request("GET", "/metrics")
    assert 'hermes_backend_up{tier="medium",backend="0"} 0' in t, t
    assert "hermes_tier_fallbacks_total 2" in t or "hermes_tier_fallbacks_total 1" in t, t


for t in [test_auth_required, test_retry_on_connection_failure_then_skip_dead_backend, test_fallback_to_larger_tier,
          test_fallback_streaming, test_ready_reports_dead_tier, test_metrics_show_backend_down_and_fallback]:
    R.run(t)
rc = gw.stop()
if rc not in (0, None):
    print("gateway exit code %s\n%s" % (rc, gw.output()))
    R.failed += 1
small_ok.stop()
large.stop()

# Two tiers: "medium" decisions map onto the biggest configured tier.
s2, l2 = Upstream("s2"), Upstream("l2")
gw = Gateway("""
tiers:
  small: {{ backends: [{{ url: {s}, model: a }}] }}
  large: {{ backends: [{{ url: {l}, model: b }}] }}
server: {{ listen: 127.0.0.1:{{PORT}} }}
log: {{ enabled: false }}
""".format(s=s2.url, l=l2.url))


def test_two_tiers():
    s, h, j, _ = gw.chat({"messages": [{"role": "user", "content": "Tell me a story"}]})
    assert s == 200 and h["x-hermes-tier"] == "large", h  # default medium -> large
    s, h, j, _ = gw.chat({"messages": [{"role": "user", "content": "Translate hi"}]})
    assert s == 200 and h["x-hermes-tier"] == "small", h
    s, h, j, _ = gw.chat({"messages": [{"role": "user", "content": "hi"}], "model": "medium"})
    assert s == 404, j  # not configured


R.run(test_two_tiers)
gw.stop()
s2.stop()
l2.stop()
R.finish()
