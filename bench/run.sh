#!/usr/bin/env bash
# make bench: runs every benchmark and rewrites docs/BENCHMARKS.md.
#   bench/run.sh BUILD_DIR [section ...]
# Sections: gateway router classifier store tokenizer kernels engine grammar embedded
# (default: all). Each section is a separate program or script printing
# markdown; a section that fails is reported as such, the rest still run.
# Only the sections run are replaced in docs/BENCHMARKS.md (see the end).
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
  echo "Written by \`make bench\` (each section says when it ran) on: ${cpu:-unknown CPU}, $(nproc) cores,"
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
  echo "_Measured $(date -u '+%Y-%m-%d %H:%M') UTC, load average $(cut -d' ' -f1 /proc/loadavg) at the start._" > "$tmp/$name.when"
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
    classifier) [ -x "$BUILD/bench_classifier" ] && run classifier bench/classifier.sh "$BUILD" ;;
    store)      run store "$BUILD/bench_store" ;;
    tokenizer)  run tokenizer "$BUILD/bench_tokenizer" ../shared ;;
    kernels)    run kernels "$BUILD/bench_kernels" ;;
    grammar)    [ -x "$BUILD/bench_grammar" ] && run grammar "$BUILD/bench_grammar" ;;
    engine)     [ -x bench/engine.sh ] && run engine bench/engine.sh "$BUILD" ;;
    embedded)   run embedded bench/embedded.sh "$BUILD" ;;
    *) echo "unknown section $s" >&2 ;;
  esac
done

# Each section sits between <!-- bench:NAME --> markers, followed by
# bench/notes/NAME.md when that exists (the analysis written by hand, kept
# apart so a re-run does not erase it). A run of some sections replaces only
# those; the others keep what the file had.
for s in $SECTIONS; do
  if [ -f "$tmp/$s.md" ] && [ -f "bench/notes/$s.md" ]; then
    { echo; cat "bench/notes/$s.md"; } >> "$tmp/$s.md"
  fi
done
python3 - "$OUT" "$tmp" $SECTIONS <<'PY'
import os, re, sys
out, tmp, ran = sys.argv[1], sys.argv[2], sys.argv[3:]
order = "gateway router classifier store tokenizer kernels grammar engine embedded".split()
old = {}
if os.path.exists(out):
    text = open(out, encoding="utf-8").read()
    for m in re.finditer(r"<!-- bench:(\w+) -->\n(.*?)<!-- /bench:\1 -->\n", text, re.S):
        old[m.group(1)] = m.group(2)
new = {}
for s in ran:
    f = os.path.join(tmp, s + ".md")
    if os.path.exists(f):
        body = open(f, encoding="utf-8").read().rstrip("\n").split("\n")
    when = open(os.path.join(tmp, s + ".when"), encoding="utf-8").read().strip()
    new[s] = "\n".join(body[:1] + ["", when] + body[1:]) + "\n\n"
parts = [open(os.path.join(tmp, "head.md"), encoding="utf-8").read()]
for s in order + sorted(set(old) - set(order)):
    body = new.get(s, old.get(s))
    if body is not None:
        parts.append("<!-- bench:%s -->\n%s<!-- /bench:%s -->\n" % (s, body, s))
open(out, "w", encoding="utf-8").write("\n".join(parts))
PY
echo "bench: wrote $OUT" >&2
