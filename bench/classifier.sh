#!/usr/bin/env bash
# Classifier section of docs/BENCHMARKS.md (bench/run.sh BUILD classifier):
# bench_classifier with hashed features, then with the sentence-embedding
# block computed by a synthetic bge-small (random weights, real shape and
# vocab; the decision time does not depend on the weights' values).
#   bench/classifier.sh BUILD_DIR     env: HR_BENCH_MODELS, HR_BENCH_EMB_WTYPE (q8_0)
set -euo pipefail
BUILD=${1:-build}
MODELS=${HR_BENCH_MODELS:-$BUILD/bench-models}
TYPE=${HR_BENCH_EMB_WTYPE:-q8_0}
mkdir -p "$MODELS"
f=$MODELS/bge-small-$TYPE.gguf
[ -f "$f" ] || "$BUILD/hermes-router" gguf synth --shape bge-small --type "$TYPE" -o "$f" >&2 || f=
exec "$BUILD/bench_classifier" ${f:+--embedder "$f"}
