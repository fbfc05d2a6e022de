#!/usr/bin/env bash
# Embedded section of docs/BENCHMARKS.md (bench/run.sh BUILD embedded):
# continuous batching through the real gateway. A synthetic SmolLM2-135M
# (random weights, real shape and vocabulary) is served as an embedded tier
# with 16 slots; 1, 4 and 16 concurrent streaming requests each generate
# HR_BENCH_EMB_N tokens. Reports aggregate generation tokens/s (completion
# tokens of all streams / wall time from the first request to the last [DONE])
# and time to first token. Goal: 16 streams >= 4x the tokens/s of one stream.
#   bench/embedded.sh BUILD_DIR     env: HR_BENCH_EMB_TYPE (q8_0) HR_BENCH_EMB_N (64)
#   HR_BENCH_T (2 threads) HR_BENCH_MODELS (dir for the synthesized GGUF)
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/hermes-router
MODELS=${HR_BENCH_MODELS:-$BUILD/bench-models}
TYPE=${HR_BENCH_EMB_TYPE:-q8_0}
N=${HR_BENCH_EMB_N:-64}
T=${HR_BENCH_T:-2}
mkdir -p "$MODELS"
f=$MODELS/smollm2-135m-$TYPE.gguf
[ -f "$f" ] || "$BIN" gguf synth --shape smollm2-135m --type "$TYPE" -o "$f" >&2

dir=$(mktemp -d /tmp/hr-bench-emb.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat > "$dir/config.yaml" <<YAML
server: { listen: 127.0.0.1:$port, threads: 1 }
tiers:
  small:
    backends:
      - { type: embedded, model: "$f", threads: $T, parallel: 16, context: 256, queue: 64 }
router: { strategy: rules }
log: { sqlite: "$dir/log.db" }
YAML
"$BIN" serve --config "$dir/config.yaml" --quiet 2> "$dir/stderr.txt" &
gw=$!
trap 'kill $gw 2>/dev/null; wait $gw 2>/dev/null; rm -rf "$dir"' EXIT

python3 - "$port" "$N" "$TYPE" "$T" <<'PY'
import http.client, json, sys, threading, time
port, n_tok, qtype, threads = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3], sys.argv[4]

def wait_up():
    for _ in range(600):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/health")
            if c.getresponse().status == 200:
                return
        except OSError:
            time.sleep(0.1)
    sys.exit("gateway did not start")

def one(i, out):
    body = {"model": "small", "stream": True, "stream_options": {"include_usage": True}, "max_tokens": n_tok,
            "temperature": 0, "messages": [{"role": "user", "content": "Write story number %d about a robot." % i}]}
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=600)
    t0 = time.time()
    c.request("POST", "/v1/chat/completions", body=json.dumps(body), headers={"Content-Type": "application/json"})
    r = c.getresponse()
    ttft, toks, buf = None, 0, b""
    while True:
        line = r.readline()
        if not line:
            break
        if not line.startswith(b"data: "):
            continue
        data = line[6:].strip()
        if data == b"[DONE]":
            break
        ev = json.loads(data)
        if ttft is None and any((ch.get("delta") or {}).get("content") for ch in ev.get("choices", [])):
            ttft = time.time() - t0
        if ev.get("usage"):
            toks = ev["usage"]["completion_tokens"]
    out[i] = (ttft if ttft is not None else time.time() - t0, toks, time.time())

def run(k):
    out = {}
    ths = [threading.Thread(target=one, args=(i, out)) for i in range(k)]
    t0 = time.time()
    for t in ths:
        t.start()
    for t in ths:
        t.join()
    wall = max(v[2] for v in out.values()) - t0
    toks = sum(v[1] for v in out.values())
    ttfts = sorted(v[0] for v in out.values())
    return toks / wall, toks, wall, ttfts

wait_up()
run(1)  # warm-up: page in the weights
rows = []
for k in (1, 4, 16):
    rows.append((k,) + run(k))
base = rows[0][1]
print("### Embedded engine: continuous batching")
print()
print("Synthetic SmolLM2-135M (%s, random weights, real shape and vocab) as an embedded tier: 16 slots, %s threads," % (qtype, threads))
print("one gateway loop thread; each stream generates %d tokens (greedy) from a ~12-token prompt, streamed over SSE." % n_tok)
print("Aggregate = completion tokens of all streams / wall time from the first request to the last [DONE].")
print("Goal: 16 streams >= 4x one stream.")
print()
print("| streams | aggregate gen tok/s | per stream tok/s | vs 1 stream | TTFT median ms | TTFT max ms | tokens | wall s |")
print("|---|---|---|---|---|---|---|---|")
for k, tps, toks, wall, ttfts in rows:
    print("| %d | %.1f | %.1f | %.2fx | %.0f | %.0f | %d | %.2f |" % (
        k, tps, tps / k, tps / base, ttfts[len(ttfts) // 2] * 1e3, ttfts[-1] * 1e3, toks, wall))
PY
