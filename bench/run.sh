#!/usr/bin/env bash
# make bench: runs every benchmark and rewrites docs/BENCHMARKS.md.
#   bench/run.sh BUILD_DIR [section ...]
# Sections: gateway router classifier store tokenizer kernels engine grammar embedded
# (default: all). Each section is a separate program or script printing
# markdown; a section that fails is reported as such, the rest still run.
set -uo pipefail
BUILD=${1:-build}
shift || true
SECTIONS=${*:-gateway router classifier store tokenizer kernels grammar engine embedded}
cd "$(dirname "$0")/.."
OUT=docs/BENCHMARKS.md
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

cpu=$(lscpu | sed -n 's/^Model name: *//p' | head -1)
{
  echo "# Benchmarks"
  echo
  echo "Written by \`make bench\` ($(date -u +%Y-%m-%d) UTC) on: ${cpu:-unknown CPU}, $(nproc) cores,"
  echo "$(free -g | awk '/Mem:/ {print $2}') GiB RAM, $(uname -sr). These machines are shared and noisy:"
  echo "compare rows measured in the same run (each table is one run), not runs with each other."
  echo
} > "$tmp/head.md"

title() {
  case $1 in
    router) echo "Rule router: decision time" ;; classifier) echo "Classifier router: decision time" ;;
    store) echo "Request log" ;; tokenizer) echo "Tokenizers" ;; kernels) echo "Kernels" ;;
    grammar) echo "Grammar-constrained decoding" ;; *) echo "$1" ;;
  esac
}

run() { # name command...
  local name=$1; shift
  echo "bench: $name ..." >&2
  if "$@" > "$tmp/$name.raw" 2> "$tmp/$name.err"; then
    # every section starts with a level-3 heading
    if head -1 "$tmp/$name.raw" | grep -q '^### '; then
      cp "$tmp/$name.raw" "$tmp/$name.md"
    else
      { echo "### $(title "$name")"; echo; sed '1s/^# /#### /' "$tmp/$name.raw"; } > "$tmp/$name.md"
    fi
  else
    { echo "### $name"; echo; echo "(failed: $(tail -1 "$tmp/$name.err"))"; echo; } > "$tmp/$name.md"
  fi
}

for s in $SECTIONS; do
  case $s in
    gateway)    run gateway bench/gateway.sh "$BUILD" /dev/stdout ;;
    router)     run router "$BUILD/bench_router" ;;
    classifier) [ -x "$BUILD/bench_classifier" ] && run classifier "$BUILD/bench_classifier" ;;
    store)      run store "$BUILD/bench_store" ;;
    tokenizer)  run tokenizer "$BUILD/bench_tokenizer" ../shared ;;
    kernels)    run kernels "$BUILD/bench_kernels" ;;
    grammar)    [ -x "$BUILD/bench_grammar" ] && run grammar "$BUILD/bench_grammar" ;;
    engine)     [ -x bench/engine.sh ] && run engine bench/engine.sh "$BUILD" ;;
    embedded)   run embedded bench/embedded.sh "$BUILD" ;;
    *) echo "unknown section $s" >&2 ;;
  esac
done

cat "$tmp/head.md" > "$OUT"
for s in $SECTIONS; do
  [ -f "$tmp/$s.md" ] && { cat "$tmp/$s.md"; echo; } >> "$OUT"
done
echo "bench: wrote $OUT" >&2
