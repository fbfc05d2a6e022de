#!/usr/bin/env bash
# Gateway overhead benchmark: wrk straight to a fast upstream (nginx returning
# a fixed chat.completion), through nginx proxy_pass, and through hermes-router,
# in one run; then open-loop latency at a fixed rate (bench/loadgen).
# Usage: bench/gateway.sh BUILD_DIR OUT.md
set -euo pipefail
BUILD=${1:-build}
OUT=${2:-/dev/stdout}
DUR=${BENCH_SECONDS:-8}
RATE=${BENCH_RATE:-1000}
dir=$(mktemp -d /tmp/hr-bench.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null; nginx -p "$dir" -c "$dir/nginx.conf" -s stop 2>/dev/null; rm -rf "$dir"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
UP=$(free_port); PX=$(free_port); GW=$(free_port); GW2=$(free_port)

answer='{"id":"chatcmpl-1","object":"chat.completion","created":1700000000,"model":"m8","choices":[{"index":0,"message":{"role":"assistant","content":"Bonjour! How can I help you today? This is a fixed answer."},"finish_reason":"stop"}],"usage":{"prompt_tokens":12,"completion_tokens":14,"total_tokens":26}}'
mkdir -p "$dir/logs"
cat > "$dir/nginx.conf" <<NGX
worker_processes 1;
error_log $dir/logs/error.log crit;
pid $dir/nginx.pid;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $dir/body;
  proxy_temp_path $dir/proxy;
  upstream up { server 127.0.0.1:$UP; keepalive 64; }
  server { listen 127.0.0.1:$UP; default_type application/json;
           location / { return 200 '$answer'; } }
  server { listen 127.0.0.1:$PX;
           location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; } }
}
NGX
nginx -p "$dir" -c "$dir/nginx.conf"

cat > "$dir/gw.yaml" <<YML
server: { listen: 127.0.0.1:$GW, threads: 1 }
tiers:
  small:  { backends: [{ url: http://127.0.0.1:$UP/v1, model: m8 }] }
  medium: { backends: [{ url: http://127.0.0.1:$UP/v1, model: m70 }] }
  large:  { backends: [{ url: http://127.0.0.1:$UP/v1, model: m405 }] }
log: { sqlite: $dir/log.db }
YML
"$BUILD/hermes-router" serve --config "$dir/gw.yaml" --quiet 2>"$dir/gw.log" &
# the default setup: one event loop per core (here 2), its own log
sed -e "s/127.0.0.1:$GW, threads: 1/127.0.0.1:$GW2, threads: 2/" -e "s|$dir/log.db|$dir/log2.db|" "$dir/gw.yaml" > "$dir/gw2.yaml"
"$BUILD/hermes-router" serve --config "$dir/gw2.yaml" --quiet 2>"$dir/gw2.log" &
for i in $(seq 50); do curl -sf "http://127.0.0.1:$GW/health" >/dev/null && curl -sf "http://127.0.0.1:$GW2/health" >/dev/null && break; sleep 0.1; done

body='{"model":"auto","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Translate good morning into French, please."}],"max_tokens":64,"temperature":0.7}'
printf '%s' "$body" > "$dir/body.json"
cat > "$dir/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '$body'
LUA

# wrk: req/s and latency p50/p99 (closed loop)
run_wrk() { # url conns -> "rps p50 p99"
  wrk -t1 -c"$2" -d"${DUR}s" --latency -s "$dir/post.lua" "$1" 2>/dev/null | awk '
    /Requests\/sec/ {rps=$2}
    / 50%/ {p50=$2} / 99%/ {p99=$2}
    END {print rps, p50, p99}'
}
declare -A R
for c in 1 32; do
  R[up,$c]=$(run_wrk "http://127.0.0.1:$UP/v1/chat/completions" $c)
  R[nginx,$c]=$(run_wrk "http://127.0.0.1:$PX/v1/chat/completions" $c)
  R[gw,$c]=$(run_wrk "http://127.0.0.1:$GW/v1/chat/completions" $c)
  R[gw2,$c]=$(run_wrk "http://127.0.0.1:$GW2/v1/chat/completions" $c)
done
# open loop at a fixed rate: added latency = through proxy - straight
LG="$BUILD/loadgen"
L_up=$("$LG" 127.0.0.1 "$UP" /v1/chat/completions "$dir/body.json" "$RATE" "$DUR" 8)
L_nx=$("$LG" 127.0.0.1 "$PX" /v1/chat/completions "$dir/body.json" "$RATE" "$DUR" 8)
L_gw=$("$LG" 127.0.0.1 "$GW" /v1/chat/completions "$dir/body.json" "$RATE" "$DUR" 8)
rows=$(sqlite3 "$dir/log.db" 'select count(*) from requests' 2>/dev/null || echo "?")

{
  echo "### Gateway overhead (issue 2)"
  echo
  echo "wrk 1 thread, ${DUR}s per cell, keep-alive; upstream = nginx returning a fixed 330-byte chat.completion;"
  echo "hermes-router with 1 event-loop thread, rule router, SQLite request log on (rows written: $rows)."
  echo
  echo "| path | c=1 req/s | c=1 p50 | c=1 p99 | c=32 req/s | c=32 p50 | c=32 p99 |"
  echo "|---|---|---|---|---|---|---|"
  for k in up nginx gw gw2; do
    case $k in up) name="straight to upstream" ;; nginx) name="nginx proxy_pass (1 worker)" ;;
      gw) name="hermes-router (1 loop thread)" ;; gw2) name="hermes-router (2 loop threads, the default here)" ;; esac
    read -r a1 b1 c1 <<<"${R[$k,1]}"; read -r a2 b2 c2 <<<"${R[$k,32]}"
    echo "| $name | $a1 | $b1 | $c1 | $a2 | $b2 | $c2 |"
  done
  gw32=$(echo "${R[gw,32]}" | cut -d' ' -f1); nx32=$(echo "${R[nginx,32]}" | cut -d' ' -f1)
  gw1=$(echo "${R[gw,1]}" | cut -d' ' -f1); nx1=$(echo "${R[nginx,1]}" | cut -d' ' -f1)
  g2=$(echo "${R[gw2,32]}" | cut -d' ' -f1)
  echo
  echo "hermes-router (1 thread) / nginx (1 worker) requests/s: c=1 $(python3 -c "print(f'{$gw1/$nx1*100:.0f}%')"), c=32 $(python3 -c "print(f'{$gw32/$nx32*100:.0f}%')"); with 2 loop threads at c=32: $(python3 -c "print(f'{$g2/$nx32*100:.0f}%')") (goal: at least 80%)."
  echo
  echo "Open loop at $RATE req/s for ${DUR}s (bench/loadgen, 8 connections, latency from the scheduled send time, µs):"
  echo
  echo "| path | sent | ok | p50 | p90 | p99 | p99.9 | max |"
  echo "|---|---|---|---|---|---|---|---|"
  for k in up nx gw; do
    v=L_$k; read -r s o p50 p90 p99 p999 mx <<<"${!v}"
    name=$([ $k = up ] && echo "straight to upstream" || ([ $k = nx ] && echo "nginx proxy_pass" || echo "hermes-router"))
    echo "| $name | $s | $o | $p50 | $p90 | $p99 | $p999 | $mx |"
  done
  read -r _ _ u50 _ u99 _ _ <<<"$L_up"; read -r _ _ g50 _ g99 _ _ <<<"$L_gw"; read -r _ _ n50 _ n99 _ _ <<<"$L_nx"
  echo
  echo "Added latency at $RATE req/s: hermes-router p50 +$((g50-u50)) µs, p99 +$((g99-u99)) µs (goal: p99 under +200 µs);"
  echo "nginx p50 +$((n50-u50)) µs, p99 +$((n99-u99)) µs."
  echo
} > "$OUT"
