# IDGenRec in Swift. `make setup` installs native dependencies, `make test` runs the test suite,
# `make demo` runs the main job on the bundled corpus.
SWIFT ?= swift
# Tests are built optimised: numeric code in a debug build is unusably slow (ENGINE-NOTES.md).
TEST_FLAGS = -c release -Xswiftc -enable-testing --disable-swift-testing
BIN = .build/release/idgenrec
APT_PKGS = libopenblas-dev libsentencepiece-dev pkg-config

.PHONY: setup build test test-long demo clean

setup:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "setup: native dependencies present ($(APT_PKGS))"; \
	elif [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "setup: missing$$missing; run: sudo apt-get update && sudo apt-get install -y$$missing"; exit 1; fi

build:
	$(SWIFT) build -c release

test:
	$(SWIFT) build -c release --product idgenrec
	$(SWIFT) test $(TEST_FLAGS)

test-long:
	IDGENREC_LONG_TESTS=1 $(SWIFT) test $(TEST_FLAGS)

clean:
	rm -rf .build

# Engine benchmark (not a test): transformer block fwd+bwd vs sgemm peak and PyTorch (2 threads).
# PYTHON defaults to /work/venv/bin/python when present, else python3; torch absent → skipped.
BENCH_PYTHON ?= $(shell for p in /work/venv/bin/python python3; do command -v $$p >/dev/null 2>&1 && $$p -c 'import torch' >/dev/null 2>&1 && { echo $$p; break; }; done)
.PHONY: bench-engine
bench-engine:
	$(SWIFT) build -c release --product idgenrec-bench-engine
	.build/release/idgenrec-bench-engine $(if $(BENCH_PYTHON),--python $(BENCH_PYTHON),)

# SASRec baseline benchmark (not a test): one training epoch per loss on Beauty with the Swift
# engine, next to tools/bench_sasrec.py (PyTorch, same model and batching, 2 threads) when torch
# is installed. SASREC_DATA defaults to $IDGENREC_DATASETS/beauty or ../shared/datasets/beauty.
SASREC_DATA ?= $(if $(IDGENREC_DATASETS),$(IDGENREC_DATASETS),../shared/datasets)/beauty
.PHONY: bench-sasrec
bench-sasrec:
	$(SWIFT) build -c release --product idgenrec
	for loss in ce bce; do $(BIN) baseline sasrec --data $(SASREC_DATA) --loss $$loss --epochs 1 --out .build/bench-sasrec-$$loss --quiet | grep -E "^Training|recall@10"; done
	$(if $(BENCH_PYTHON),$(BENCH_PYTHON) tools/bench_sasrec.py --data $(SASREC_DATA),@echo "PyTorch not found: skipped tools/bench_sasrec.py")
