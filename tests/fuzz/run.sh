#!/bin/sh
# Builds the GGUF fuzz target with clang's libFuzzer + ASan/UBSan and runs it
# for N seconds (default 60) on a seed corpus (stories260K.gguf and a tiny
# synthetic model). Usage: tests/fuzz/run.sh [seconds]   (from the repo root)
set -e
secs=${1:-60}
out=${FUZZ_OUT:-build-fuzz}
shared=${HR_SHARED:-../shared}
mkdir -p "$out/corpus"
# the kernels (not under test here) are built with gcc, uninstrumented
kobjs=""
for f in src/engine/quant*.c src/engine/membw*.c; do
    o="$out/$(basename "$f" .c).o"
    gcc -std=gnu11 -O2 -Isrc -c "$f" -o "$o"
    kobjs="$kobjs $o"
done
srcs="tests/fuzz/fuzz_gguf.c src/engine/gguf.c src/engine/gguf_write.c src/engine/model.c
      src/engine/threadpool.c src/core/buf.c src/core/log.c"
clang -std=gnu11 -g -O1 -Isrc -fsanitize=fuzzer,address,undefined $srcs $kobjs -lm -lpthread -o "$out/fuzz_gguf"
cp "$shared/models/stories260K.gguf" "$out/corpus/" 2>/dev/null || true
[ -x build-model/hermes-router ] && build-model/hermes-router gguf synth --shape tiny --type q8_0 --no-vocab \
    -o "$out/corpus/tiny.gguf" 2>/dev/null || true
exec "$out/fuzz_gguf" -max_total_time="$secs" -max_len=2000000 -rss_limit_mb=2048 "$out/corpus"
