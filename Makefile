# Firebreak: `make run` builds and runs it; `make test` builds and passes every test.
# Both install what they need first (scripts/install-deps.sh is idempotent).

JOBS ?= $(shell nproc)
BUILD ?= build
FUZZ_SECONDS ?= 20

.PHONY: deps build run test unit asan fuzz fuzz-long integration bench bench-ingest bench-smoke clean

deps:
	bash scripts/install-deps.sh

build: deps
	cmake -S . -B $(BUILD) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD) -j $(JOBS)

# The daemon on loopback with the example config, in dry-run (scripts/run-daemon.sh says how to
# point Alertmanager at it).
run: build
	$(BUILD)/cli/firebreak validate playbooks drills docs/examples/firebreak.yaml
	bash scripts/run-daemon.sh $(BUILD)

test: unit asan fuzz integration bench-smoke
	@echo "all tests passed"

unit: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# -g1: line tables for the sanitizers' stack traces, without the full debug info that made
# this the longest build of the test command.
asan: deps
	cmake -S . -B $(BUILD)-asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFIREBREAK_SANITIZE=ON \
	  -DFIREBREAK_BENCH=OFF -DCMAKE_CXX_FLAGS_DEBUG=-g1
	cmake --build $(BUILD)-asan -j $(JOBS)
	cd $(BUILD)-asan && ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  ctest --output-on-failure -j $(JOBS)

fuzz: deps
	CC=clang-14 CXX=clang++-14 cmake -S . -B $(BUILD)-fuzz -G Ninja -DFIREBREAK_FUZZ=ON \
	  -DFIREBREAK_TESTS=OFF -DFIREBREAK_BENCH=OFF -DCMAKE_BUILD_TYPE=RelWithDebInfo
	cmake --build $(BUILD)-fuzz -j $(JOBS) --target fuzzers
	bash scripts/run-fuzzers.sh $(BUILD)-fuzz $(FUZZ_SECONDS)

fuzz-long:
	$(MAKE) fuzz FUZZ_SECONDS=3600

integration: build
	.venv/bin/python -m pytest -q tests/integration

bench: build
	$(BUILD)/bench/bench_engine

# Webhook intake against nginx on this machine, and commit-to-first-step at 5,000 alerts/s
# (bench/README.md): 30 s per load, 64 connections.
bench-ingest: build
	bash bench/ingest.sh $(BUILD) 30 64 5000

# A short benchmark run in the test command: it must keep working, its numbers are not judged.
bench-smoke: build
	$(BUILD)/bench/bench_engine 200
	bash bench/ingest.sh $(BUILD) 2 8 1000

clean:
	rm -rf $(BUILD) $(BUILD)-asan $(BUILD)-fuzz
