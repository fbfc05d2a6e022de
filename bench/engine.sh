#!/usr/bin/env bash
# Engine section of docs/BENCHMARKS.md (run by bench/run.sh BUILD engine):
# `hermes-router bench` on synthesized random-weight models with real shapes
# (SmolLM2-135M, Llama-3.2-1B; Q8_0 and Q4_K_M), next to llama.cpp's numbers
# on this kind of machine from shared/anchors/cpu-inference.md.
#   bench/engine.sh BUILD_DIR        env: HR_BENCH_P (512) HR_BENCH_N (128)
#   HR_BENCH_T (2 threads) HR_BENCH_MODELS (dir for the synthesized GGUFs)
set -euo pipefail
BUILD=${1:-build}
BIN=$BUILD/hermes-router
MODELS=${HR_BENCH_MODELS:-$BUILD/bench-models}
P=${HR_BENCH_P:-512}
N=${HR_BENCH_N:-128}
T=${HR_BENCH_T:-2}
mkdir -p "$MODELS"
echo "### Engine"
echo
echo "\`hermes-router bench -p $P -n $N -t $T\` (prompt processing of one $P-token batch; $N single-token"
echo "generation steps from an empty cache; weights prefaulted). Random weights, real shapes and vocabularies"
echo "(\`hermes-router gguf synth\`). llama.cpp columns: build 9932, 2 threads, pp512/tg128, from"
echo "shared/anchors/cpu-inference.md (same kind of machine, not the same run)."
echo "Load average when this run started: $(cut -d' ' -f1-3 /proc/loadavg) on $(nproc) cores; the bandwidth column"
echo "is measured in the same run (an idle machine of this kind reads 41 GB/s with 2 threads)."
echo
echo "| model | weights | pp tok/s | tg tok/s | peak RSS | tg GB/s | share of read bandwidth | llama.cpp pp512 | llama.cpp tg128 |"
echo "|---|---|---|---|---|---|---|---|---|"
while read -r shape type lpp ltg; do
  f=$MODELS/$shape-$type.gguf
  [ -f "$f" ] || "$BIN" gguf synth --shape "$shape" --type "$type" -o "$f" >&2
  row=$("$BIN" bench -m "$f" -p "$P" -n "$N" -t "$T" --md)
  echo "$row $lpp | $ltg |"
done <<'LIST'
smollm2-135m q8_0 759 143
smollm2-135m q4_k_m 639 148
llama-3.2-1b q8_0 104 21.7
llama-3.2-1b q4_k_m 147 33.9
LIST
