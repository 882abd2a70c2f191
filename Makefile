# Thin wrapper around CMake. `make test` is the command CI runs.
BUILD      ?= build
ASAN_BUILD ?= build-asan
JOBS       ?= $(shell nproc 2>/dev/null || echo 2)
CMAKE_ARGS ?=

.PHONY: all deps configure build test test-asan test-valgrind reliability demo bench format clean install

all: build

deps:
	./scripts/install-deps

configure: deps
	cmake -S . -B $(BUILD) -DCMAKE_BUILD_TYPE=RelWithDebInfo $(CMAKE_ARGS)

build: configure
	cmake --build $(BUILD) -j $(JOBS)

# Installs, configures, builds and runs the whole suite.
test: build
	cd $(BUILD) && ctest --output-on-failure -j $(JOBS)

# The same suite built with AddressSanitizer + UndefinedBehaviorSanitizer
# (label build left out: it compiles sources with the plain compiler, the
# same work as in `make test`).
test-asan: deps
	cmake -S . -B $(ASAN_BUILD) -DCMAKE_BUILD_TYPE=Debug -DWFC_SANITIZE=ON $(CMAKE_ARGS)
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	  UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j $(JOBS) -LE '^build$$'

# The reliability suite in its long mode (docs/reliability.md): SIGKILL
# trials and the random-fault run with their full trial counts. `make test`
# runs the same tests in their short mode. One at a time: the trials time
# their kills against a machine that is not busy with the other tests.
# Every test's `reliability:` line (its figures) is printed at the end,
# passed or not.
RELIABILITY_JOBS ?= 1
reliability: build
	cd $(BUILD) && status=0; \
	  WFC_RELIABILITY=long ctest -L reliability --output-on-failure \
	    -j $(RELIABILITY_JOBS) || status=$$?; \
	  grep -h '^reliability:' Testing/Temporary/LastTest.log || true; \
	  exit $$status

# A fast subset (unit, abi, http tests) under valgrind memcheck.
test-valgrind: build
	./tests/valgrind/run $(BUILD)

demo: build
	@if [ -x scripts/demo ]; then ./scripts/demo $(BUILD); \
	else echo "make demo: no runnable flow yet (see README)"; exit 1; fi

bench: build
	@if [ -x scripts/bench ]; then ./scripts/bench $(BUILD); \
	else echo "make bench: no benchmarks yet"; fi

format:
	clang-format -i $$(git ls-files '*.c' '*.h')

install: build
	cmake --install $(BUILD)

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
