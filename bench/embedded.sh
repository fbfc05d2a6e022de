#!/usr/bin/env bash
# Embedded section of docs/BENCHMARKS.md (bench/run.sh BUILD embedded):
# continuous batching through the real gateway. A synthetic SmolLM2-135M
# (random weights, real shape and vocabulary) is served as an embedded tier
# with 16 slots; 1, 4 and 16 concurrent streaming requests each generate
# HR_BENCH_EMB_N tokens. Reports aggregate generation tokens/s (completion
# tokens of all streams / wall time from the first request to the last [DONE])
# and time to first token. Goal: 16 streams >= 4x the tokens/s of one stream.
#   bench/embedded.sh BUILD_DIR     env: HR_BENCH_EMB_TYPE (q8_0) HR_BENCH_EMB_N (64)
#   HR_BENCH_T (2 threads) HR_BENCH_MODELS (dir for the synthesized GGUF) HR_BENCH_EMB_ROUNDS (3)
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

for i in $(seq 600); do curl -sf "http://127.0.0.1:$port/health" >/dev/null && break; sleep 0.1; done
LOAD=$BUILD/sseload   # C client (bench/sseload.c): the load generator should not eat the engine's cores
"$LOAD" 127.0.0.1 "$port" 1 "$N" >/dev/null   # warm-up: page in the weights
# ROUNDS interleaved rounds of 1, 4, 16 streams; each row reports the round with
# the median wall time (the machine is shared: one noisy round moves nothing)
ROUNDS=${HR_BENCH_EMB_ROUNDS:-3}
declare -A ALL R
for r in $(seq "$ROUNDS"); do
  for k in 1 4 16; do ALL[$k]+="$("$LOAD" 127.0.0.1 "$port" "$k" "$N")"$'\n'; done
done
for k in 1 4 16; do
  R[$k]=$(printf '%s' "${ALL[$k]}" | sort -k3,3g | awk -v m=$(( (ROUNDS + 1) / 2 )) 'NR == m')
done

echo "### Embedded engine: continuous batching"
echo
echo "Synthetic SmolLM2-135M ($TYPE, random weights, real shape and vocab) as an embedded tier: 16 slots, $T threads,"
echo "one gateway loop thread; each stream generates $N tokens (greedy) from a ~12-token prompt, streamed over SSE"
echo "to bench/sseload (C, epoll). Aggregate = completion tokens of all streams / wall time from the first request"
echo "to the last [DONE]; each row is the median of $ROUNDS interleaved rounds. Goal: 16 streams >= 4x one stream."
echo
echo "| streams | aggregate gen tok/s | per stream tok/s | vs 1 stream | TTFT median ms | TTFT max ms | tokens | wall s |"
echo "|---|---|---|---|---|---|---|---|"
read -r _ t1 w1 _ _ <<<"${R[1]}"
base=$(python3 -c "print($t1/$w1)")
for k in 1 4 16; do
  read -r n toks wall tmed tmax <<<"${R[$k]}"
  python3 -c "t=$toks/$wall; print('| $n | %.1f | %.1f | %.2fx | $tmed | $tmax | $toks | %.2f |' % (t, t/$n, t/$base, $wall))"
done
