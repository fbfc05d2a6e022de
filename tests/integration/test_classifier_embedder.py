"""The classifier strategy with an embedding block, served: a model trained
with `train --embedder` (a synthetic BERT) routes chat requests and dry runs;
its decisions run on the decider threads, so the loop answers /health while
a long prompt is being embedded; clients that leave during a decision cost
nothing; the gateway stops cleanly with decisions in flight."""
import json
import os
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, Gateway, Runner, Upstream, temp_dir  # noqa: E402

SHARED = os.environ.get("HR_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
work = temp_dir("hr-clf-emb-")
data = os.path.join(work, "data.jsonl")
with open(os.path.join(SHARED, "data", "routing", "train.jsonl")) as f:
    rows = [line for i, line in enumerate(f) if i % 120 == 0]  # ~40 rows (the ASan build embeds slowly)
with open(data, "w") as f:
    f.writelines(rows)
bert = os.path.join(work, "bge-small.gguf")
# the real bge-small shape: a decision over a long prompt takes tens of milliseconds or more
subprocess.run([BIN, "gguf", "synth", "--shape", "bge-small", "--type", "q8_0", "-o", bert], check=True,
               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
model = os.path.join(work, "router.ubj")
subprocess.run([BIN, "train", "--data", data, "--out", model, "--trees", "5", "--dim", "256", "--embedder", bert,
                "--quiet"], check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
meta = json.load(open(model + ".meta.json"))

up = Upstream("up")
gw = Gateway("""
server: {{ listen: 127.0.0.1:{{PORT}}, threads: 1 }}
tiers:
  small: {{ backends: [{{ url: {u}, model: s }}] }}
  medium: {{ backends: [{{ url: {u}, model: m }}] }}
  large: {{ backends: [{{ url: {u}, model: l }}] }}
router: {{ strategy: classifier, classifier: {{ model: "{m}" }} }}
log: {{ enabled: false }}
""".format(u=up.url, m=model))
R = Runner()
LONG = "Compare the two proofs below and explain which step fails. " * 40  # ~2,400 chars, 512 tokens


def test_sidecar_names_the_embedder():
    e = meta["features"]["embedding"]
    assert e["dim"] == 384 and e["model"] == bert, meta


def test_routes_with_embeddings():
    results = []

    def one(i):
        s, h, j, t = gw.chat({"messages": [{"role": "user", "content": "Question %d: what is 2 + %d?" % (i, i)}]})
        results.append((s, h.get("x-hermes-route-reason", ""), t))

    ts = [threading.Thread(target=one, args=(i,)) for i in range(8)]
    for t in ts:
        t.start()
    for t in ts:
        t.join()
    assert len(results) == 8 and all(s == 200 for s, _, _ in results), results
    assert all("P(" in reason for _, reason, _ in results), results
    s, h, t = gw.request("POST", "/v1/router/route", {"messages": [{"role": "user", "content": "hi there"}]})
    j = json.loads(t)
    assert s == 200 and j["strategy"] == "classifier" and j["features"]["embedding_dim"] == 384, t
    # a forced tier needs no model, and still answers
    s, h, j, t = gw.chat({"model": "large", "messages": [{"role": "user", "content": "hi"}]})
    assert s == 200 and h["x-hermes-route-reason"] == "user override", (s, h)


def test_loop_serves_during_a_decision():
    out = {}

    def slow():
        s, h, j, t = gw.chat({"messages": [{"role": "user", "content": LONG}]})
        out["status"], out["route_us"] = s, float(h.get("x-hermes-route-us", "0"))

    th = threading.Thread(target=slow)
    th.start()
    time.sleep(0.01)
    t0 = time.time()
    s, _, _ = gw.request("GET", "/health")
    health_ms = (time.time() - t0) * 1000
    th.join()
    assert s == 200 and out["status"] == 200, out
    # the decision took route_us on a decider thread; /health did not wait for it
    assert out["route_us"] > 10000, out
    assert health_ms < out["route_us"] / 1000 / 2, (health_ms, out)


def test_client_leaves_during_decision():
    body = json.dumps({"messages": [{"role": "user", "content": LONG}]}).encode()
    for _ in range(2):
        c = socket.create_connection(("127.0.0.1", gw.port))
        c.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        time.sleep(0.005)
        c.close()
    s, _, j, t = gw.chat({"messages": [{"role": "user", "content": "still there?"}]})
    assert s == 200, t


def test_stops_with_decisions_in_flight():
    body = json.dumps({"messages": [{"role": "user", "content": LONG[:600]}]}).encode()
    socks = []
    for _ in range(4):
        c = socket.create_connection(("127.0.0.1", gw.port))
        c.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(body) + body)
        socks.append(c)
    time.sleep(0.02)
    rc = gw.stop()
    for c in socks:
        c.close()
    assert rc == 0, "exit code %s\n%s" % (rc, gw.output())


R.run(test_sidecar_names_the_embedder)
R.run(test_routes_with_embeddings)
R.run(test_loop_serves_during_a_decision)
R.run(test_client_leaves_during_decision)
R.run(test_stops_with_decisions_in_flight)
gw.stop()
up.stop()
R.finish()
