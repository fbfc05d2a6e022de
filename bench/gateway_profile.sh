#!/usr/bin/env bash
# Instructions per proxied request, by callgrind: hermes-router (1 loop
# thread, SQLite log) under valgrind in front of nginx returning the same
# fixed chat.completion as bench/gateway.sh; bench/loadgen sends RATE req/s
# for SECONDS (after a warm-up whose counts are zeroed), then the counts are
# dumped per thread and divided by the requests answered.
# Usage: bench/gateway_profile.sh BUILD_DIR OUT_DIR [RATE] [SECONDS] [log on|off]
# Then: callgrind_annotate --inclusive=yes OUT_DIR/callgrind.out.<pid>.1-01
# (thread 1 = the loop thread, 2 = the log writer). At this low rate the
# writer commits batches of ~5 rows; under load (256-row batches) a row costs
# it about half as much (bench_store under callgrind). Not part of make bench.
set -euo pipefail
BUILD=$(realpath "${1:-build}"); OUTD=${2:-/tmp/hr-profile}; RATE=${3:-100}; SECS=${4:-5}; LOG=${5:-on}
mkdir -p "$OUTD"; rm -f "$OUTD"/callgrind.out*
dir=$(mktemp -d /tmp/hr-prof.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; nginx -p "$dir" -c "$dir/nginx.conf" -s stop 2>/dev/null; sleep 0.5; rm -rf "$dir"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_port); GW=$(free_port)
answer='{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"m8","choices":[{"index":0,"message":{"role":"assistant","content":"Bonjour! How can I help you today? This is a fixed answer."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":14,"total_tokens":26}}'
mkdir -p "$dir/logs"
cat > "$dir/nginx.conf" <<NGX
worker_processes 1;
error_log $dir/logs/error.log crit;
pid $dir/nginx.pid;
events { worker_connections 4096; }
http { access_log off; keepalive_requests 1000000; client_body_temp_path $dir/body;
  server { listen 127.0.0.1:$UP; default_type application/json; location / { return 200 '$answer'; } } }
NGX
nginx -p "$dir" -c "$dir/nginx.conf"
logline="log: { sqlite: $dir/log.db }"; [ "$LOG" = off ] && logline="log: { enabled: false }"
cat > "$dir/gw.yaml" <<YML
server: { listen: 127.0.0.1:$GW, threads: 1 }
tiers:
  small:  { backends: [{ url: http://127.0.0.1:$UP/v1, model: m8 }] }
  medium: { backends: [{ url: http://127.0.0.1:$UP/v1, model: m70 }] }
  large:  { backends: [{ url: http://127.0.0.1:$UP/v1, model: m405 }] }
$logline
YML
valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$OUTD/callgrind.out.%p" \
  "$BUILD/hermes-router" serve --config "$dir/gw.yaml" --quiet 2>"$dir/gw.log" &
VP=$!
for i in $(seq 200); do curl -sf "http://127.0.0.1:$GW/health" >/dev/null && break; sleep 0.2; done
body='{"model":"auto","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Translate good morning into French, please."}],"max_tokens":64,"temperature":0.7}'
printf '%s' "$body" > "$dir/body.json"
"$BUILD/loadgen" 127.0.0.1 "$GW" /v1/chat/completions "$dir/body.json" 50 1 4 >/dev/null # warm-up
sleep 0.5
callgrind_control -z "$VP" >/dev/null
res=$("$BUILD/loadgen" 127.0.0.1 "$GW" /v1/chat/completions "$dir/body.json" "$RATE" "$SECS" 4)
sleep 0.3 # the log writer commits (batch_ms 50)
callgrind_control -d "$VP" >/dev/null
kill -INT "$VP"; wait "$VP" 2>/dev/null || true
ok=$(echo "$res" | cut -d' ' -f2)
echo "loadgen (sent ok p50 p90 p99 p999 max µs): $res"
for f in "$OUTD"/callgrind.out.*.1-*; do
  ir=$(awk '/^summary:/ {print $2}' "$f")
  echo "$(basename "$f"): $ir instructions, $((ir / ok)) per request"
done
