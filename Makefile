# mlship: the two commands a fresh machine needs are `make demo` and `make test`.
# Both install what is missing (Debian packages, a .venv with a pinned CPU torch),
# build incrementally, then run.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip
# The CPU build of torch; override e.g. `make test TORCH_SPEC=torch==2.13.0`.
TORCH_SPEC ?= torch==2.13.0
PY_DEPS := numpy "pybind11>=3" "scikit-build-core>=0.10" pytest scikit-learn scipy "tritonclient[http,grpc]" fastapi uvicorn flask gunicorn tqdm pandas prometheus-client selenium matplotlib nbclient nbformat ipykernel httpx2 pyyaml kubernetes-validate check-jsonschema "ray[serve]" transformers captum shap
APT_PACKAGES := g++ cmake ninja-build libeigen3-dev libgtest-dev libboost1.81-dev libboost-json1.81-dev libboost-program-options1.81-dev libtcmalloc-minimal4 libssl-dev openssl libgrpc++-dev protobuf-compiler-grpc protobuf-compiler wrk prometheus chromium chromium-driver podman busybox-static iproute2 clang-14 libclang-rt-14-dev
BUILD_DIR := build/py
JOBS ?= 2
STAMPS := .stamps
# Layers to leave out of the build (work in progress), e.g. SKIP_LAYERS="serving;monitor".
SKIP_LAYERS ?=
SOURCES := $(shell find cpp python -type f \( -name '*.cc' -o -name '*.h' -o -name 'CMakeLists.txt' \) 2>/dev/null) \
           CMakeLists.txt pyproject.toml $(wildcard tests/cpp/CMakeLists.txt tests/cpp/*/CMakeLists.txt tests/cpp/*/*.cc)

export CMAKE_BUILD_PARALLEL_LEVEL := $(JOBS)
export MAX_JOBS := $(JOBS)

.PHONY: all demo test test-cpp test-python test-sanitize fuzz fuzz-libfuzzer bench build clean system-deps

all: build

# Debian packages: installed only when one is missing.
$(STAMPS)/apt: Makefile
	@mkdir -p $(STAMPS)
	@if ! dpkg -s $(APT_PACKAGES) >/dev/null 2>&1; then \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  echo "Installing Debian packages: $(APT_PACKAGES)"; \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq $(APT_PACKAGES); \
	fi
	@touch $@

system-deps: $(STAMPS)/apt

# The virtual environment: torch first and pinned, so nothing later can pull
# a different (CUDA) build.
$(STAMPS)/venv: Makefile | $(STAMPS)/apt
	@mkdir -p $(STAMPS)
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q "$(TORCH_SPEC)"
	$(PIP) install -q $(PY_DEPS) "$(TORCH_SPEC)"
	@# The KServe SDK only for its API types (the tests read them to check KServe manifests);
	@# without its dependencies, which are the whole KServe model server.
	$(PIP) install -q --no-deps kserve==0.21.0
	@touch $@

# Build and install the package (editable) with the C++ tests, incrementally.
# pip -v shows the backend's output; only ninja's "[n/N] ..." progress lines and errors are
# kept, so a 10-minute first build shows where it is.
$(STAMPS)/build: $(STAMPS)/venv $(SOURCES)
	@echo "Building the C++ core and its tests (-j$(JOBS)); progress as [done/total]:"
	@set -o pipefail; $(PIP) install -v --no-build-isolation --no-deps -e . \
	  -Cbuild-dir=$(BUILD_DIR) -Ccmake.define.MLSHIP_BUILD_TESTS=ON "-Ccmake.define.MLSHIP_SKIP_LAYERS=$(SKIP_LAYERS)" -Cbuild.verbose=false 2>&1 \
	  | grep --line-buffered -E '^ *\[[0-9]+/[0-9]+\] |error|Error|FAILED|Successfully installed'
	@touch $@

build: $(STAMPS)/build

test-cpp: build
	cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS)

test-python: build
	$(PY) -m pytest -q

# Every test: GoogleTest (CTest) then pytest; fails if either fails.
test: build
	@status=0; \
	(cd $(BUILD_DIR) && ctest --output-on-failure -j$(JOBS)) || status=1; \
	$(PY) -m pytest -q || status=1; \
	exit $$status

# The torch-free layers (common, batching, serving) and their GoogleTests
# under AddressSanitizer + UndefinedBehaviorSanitizer, in their own build
# folder (no torch, no Python: a few minutes on 2 cores).
SANITIZE_DIR := build/sanitize
SANITIZE_ENV := ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
FUZZ_ITERATIONS ?= 5000000

$(SANITIZE_DIR)/build.ninja: CMakeLists.txt | $(STAMPS)/apt
	cmake -S . -B $(SANITIZE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLSHIP_TORCH_FREE=ON \
	  -DMLSHIP_SANITIZE=ON -DMLSHIP_BUILD_TESTS=ON

test-sanitize: $(SANITIZE_DIR)/build.ninja
	cmake --build $(SANITIZE_DIR) -j$(JOBS)
	cd $(SANITIZE_DIR) && $(SANITIZE_ENV) ctest --output-on-failure -j$(JOBS)
	@# The fuzz run again, longer and with its counts in the output (about 2 s).
	set -o pipefail; $(SANITIZE_ENV) MLSHIP_FUZZ_ITERATIONS=200000 \
	  $(SANITIZE_DIR)/tests/cpp/serving/serving_kserve_decode_fuzz_test | grep -E '^\[ *(fuzz|PASSED|FAILED)'
	$(MAKE) --no-print-directory fuzz-libfuzzer

# libFuzzer (clang) on the parsers of untrusted bytes (tests/fuzz: the KServe v2
# decoder, the JSON tensor reader, the HTTP request path, the .npy reader), each for
# FUZZ_SECONDS under ASan+UBSan, starting from the kept corpus (tests/fuzz/corpus/<target>;
# what a run adds stays in build/fuzz). A crash fails the run and leaves its input in
# build/fuzz/crash-*: copy it to tests/fuzz/corpus/<target>/ and CTest replays it from then on.
FUZZ_DIR := build/fuzz
FUZZ_SECONDS ?= 15
FUZZ_TARGETS := kserve_decode tensor_json http_request npy

$(FUZZ_DIR)/build.ninja: CMakeLists.txt tests/fuzz/CMakeLists.txt | $(STAMPS)/apt
	CXX=clang++-14 cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMLSHIP_FUZZ=ON

fuzz-libfuzzer: $(FUZZ_DIR)/build.ninja
	cmake --build $(FUZZ_DIR) -j$(JOBS)
	@set -o pipefail; for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_DIR)/corpus-$$t; \
	  echo "libFuzzer: fuzz_$$t for $(FUZZ_SECONDS) s"; \
	  $(SANITIZE_ENV) $(FUZZ_DIR)/tests/fuzz/fuzz_$$t -max_total_time=$(FUZZ_SECONDS) -timeout=20 -max_len=65536 \
	    -print_final_stats=1 -artifact_prefix=$(FUZZ_DIR)/ $(FUZZ_DIR)/corpus-$$t tests/fuzz/corpus/$$t 2>&1 \
	    | grep --line-buffered -E '^(#[0-9]+ +(INITED|DONE)|Done [0-9]+ runs|stat::(number_of_executed_units|peak_rss_mb|new_units_added)|==[0-9]+==|SUMMARY|.*(crash|deadly signal|Test unit written))' \
	    || exit 1; \
	done

# The decoder's random-mutation fuzz, long, under the sanitizers
# (`make test` runs a short one).
fuzz: $(SANITIZE_DIR)/build.ninja
	cmake --build $(SANITIZE_DIR) -j$(JOBS) --target serving_kserve_decode_fuzz_test
	$(SANITIZE_ENV) MLSHIP_FUZZ_ITERATIONS=$(FUZZ_ITERATIONS) $(SANITIZE_DIR)/tests/cpp/serving/serving_kserve_decode_fuzz_test

bench: build
	$(PY) bench/engine_bench.py
	$(PY) bench/serve_bench.py
	$(PY) bench/optimize_bench.py
	$(PY) bench/monitor_bench.py
	$(PY) bench/apps_bench.py
	$(PY) bench/hardening_bench.py

demo: build
	$(PY) examples/demo.py
	$(PY) examples/demo_monitor.py
	$(PY) examples/demo_lifecycle.py

clean:
	rm -rf build $(STAMPS)
