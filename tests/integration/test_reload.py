"""SIGHUP reloads the router without failing requests: a classifier model is
retrained to the same path under load, the gateway swaps it in, requests in
flight finish with the router they started with; a corrupt model file is
refused and the old router stays."""
import json
import os
import signal
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(__file__))
from harness import BIN, Gateway, Runner, Upstream, temp_dir  # noqa: E402

SHARED = os.environ.get("HR_SHARED", os.path.join(os.path.dirname(__file__), "..", "..", "..", "shared"))
work = temp_dir("hr-reload-")
data = os.path.join(work, "data.jsonl")
with open(os.path.join(SHARED, "data", "routing", "train.jsonl")) as f:
    rows = [line for i, line in enumerate(f) if i % 15 == 0]  # ~300 rows: enough to train in a second
with open(data, "w") as f:
    f.writelines(rows)
model = os.path.join(work, "router.ubj")


def train(seed):
    tmp = os.path.join(work, "next.ubj")
    subprocess.run([BIN, "train", "--data", data, "--out", tmp, "--trees", "5", "--seed", str(seed)],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # replace both files the way a deploy would (rename is atomic)
    os.replace(tmp + ".meta.json", model + ".meta.json")
    os.replace(tmp, model)


train(1)
up = Upstream("up")
gw = Gateway("""
server: {{ listen: 127.0.0.1:{{PORT}}, threads: 2 }}
tiers:
  small: {{ backends: [{{ url: {u}, model: s }}] }}
  medium: {{ backends: [{{ url: {u}, model: m }}] }}
  large: {{ backends: [{{ url: {u}, model: l }}] }}
router: {{ strategy: classifier, classifier: {{ model: "{m}" }} }}
log: {{ enabled: false }}
""".format(u=up.url, m=model))
R = Runner()


def test_reload_under_load():
    stop = threading.Event()
    results = []

    def load(path, body):
        while not stop.is_set():
            try:
                s, h, t = gw.request("POST", path, body)
                results.append(s)
            except OSError as e:
                results.append(str(e))

    body = {"messages": [{"role": "user", "content": "Compare the economic policies of two countries in detail."}]}
    ths = [threading.Thread(target=load, args=("/v1/router/route", body)) for _ in range(2)]
    ths += [threading.Thread(target=load, args=("/v1/chat/completions", body)) for _ in range(2)]
    for t in ths:
        t.start()
    for seed in range(2, 6):
        time.sleep(0.3)
        train(seed)
        gw.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    stop.set()
    for t in ths:
        t.join()
    assert len(results) > 50, len(results)
    bad = [r for r in results if r != 200]
    assert not bad, bad[:5]
    out = gw.output()
    assert out.count("router reloaded") == 4, out[-2000:]


def test_corrupt_model_keeps_old_router():
    with open(model, "wb") as f:
        f.write(b"not a model")
    gw.proc.send_signal(signal.SIGHUP)
    time.sleep(0.5)
    assert "router not reloaded" in gw.output()
    s, h, t = gw.request("POST", "/v1/router/route", {"messages": [{"role": "user", "content": "hi"}]})
    j = json.loads(t)
    assert s == 200 and j["strategy"] == "classifier", t


R.run(test_reload_under_load)
R.run(test_corrupt_model_keeps_old_router)
rc = gw.stop()
if rc not in (0, None):
    print("gateway exit code %s\n%s" % (rc, gw.output()))
    R.failed += 1
up.stop()
R.finish()
