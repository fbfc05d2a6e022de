# Thin wrapper over CMake. The two commands a new user needs:
#   make run    install deps, build, start the gateway + UI on 127.0.0.1:7861
#   make test   install deps, build, run every test; then again under ASan+UBSan
JOBS    ?= $(shell nproc)
BUILD   ?= build
ASAN    ?= build-asan
CONFIG  ?=
ARGS    ?=
BENCH   ?=

.PHONY: all deps build test test-fast test-asan run bench clean

all: build

deps:
	@scripts/install-deps.sh

$(BUILD)/Makefile: CMakeLists.txt
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo -DHR_WEBUI_REQUIRED=ON >/dev/null

build: deps $(BUILD)/Makefile
	cmake --build $(BUILD) -j $(JOBS)

test-fast: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

$(ASAN)/Makefile: CMakeLists.txt
	cmake -S . -B $(ASAN) -DCMAKE_BUILD_TYPE=Debug -DHR_SANITIZE=ON -DHR_WEBUI_REQUIRED=ON >/dev/null

test-asan: deps $(ASAN)/Makefile
	cmake --build $(ASAN) -j $(JOBS)
	cd $(ASAN) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) -LE slow

test: test-fast test-asan

run: build
	$(BUILD)/hermes-router serve $(if $(CONFIG),--config $(CONFIG)) $(ARGS)

bench:
	@scripts/install-deps.sh --bench
	$(MAKE) build
	bench/run.sh $(BUILD) $(BENCH)

clean:
	rm -rf $(BUILD) $(ASAN)
