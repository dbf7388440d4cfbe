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

# The main job on the bundled corpus: bootstrap an ID generator, assign IDs, then two rounds of
# co-training (recommender phase, generator phase through the soft-embedding bridge, IDs
# regenerated), then full-catalog test evaluation. Leaves the run in checkpoints/demo/.
DEMO_DATA = corpora/synthetic/kitchen
demo: setup
	$(SWIFT) build -c release --product idgenrec
	rm -rf checkpoints/demo
	$(BIN) cotrain --data $(DEMO_DATA) --out checkpoints/demo --preset tiny --order recommender-first \
	  --rounds 2 --recommender-epochs 3 --generator-steps 30 --generator-epochs 30 \
	  --round-users 300 --validation-users 300 --seed 0
	@echo "Try: $(BIN) recommend --run checkpoints/demo --data $(DEMO_DATA) --history S08FI62WL7,S0LX63PYFS"

clean:
	rm -rf .build

# Engine benchmark (not a test): transformer block fwd+bwd vs sgemm peak and PyTorch (2 threads).
# PYTHON defaults to /work/venv/bin/python when present, else python3; torch absent → skipped.
BENCH_PYTHON ?= $(shell for p in /work/venv/bin/python python3; do command -v $$p >/dev/null 2>&1 && $$p -c 'import torch' >/dev/null 2>&1 && { echo $$p; break; }; done)
.PHONY: bench-engine
bench-engine:
	$(SWIFT) build -c release --product idgenrec-bench-engine
	.build/release/idgenrec-bench-engine $(if $(BENCH_PYTHON),--python $(BENCH_PYTHON),)

# Tokenizer encoding throughput (tokens/s with 1 and 2 threads) on the Beauty item texts.
.PHONY: bench-tokenizer
bench-tokenizer:
	IDGENREC_LONG_TESTS=1 $(SWIFT) test $(TEST_FLAGS) --filter TokenizerTests.ThroughputTests

# T5 benchmark (not a test): Swift `idgenrec bench` against tools/bench_t5.py (PyTorch, 2 threads)
# for the tiny and cpu configs, alternating Swift and Python runs; prints Swift/PyTorch ratios.
# Results in .build/bench-t5/. Skipped with a message when torch + transformers are absent.
BENCH_T5_DIR = .build/bench-t5
BENCH_T5_CONFIGS ?= tools/configs/t5-tiny.json tools/configs/t5-cpu.json
.PHONY: bench-t5
bench-t5:
	$(SWIFT) build -c release --product idgenrec
	@mkdir -p $(BENCH_T5_DIR)
	@if [ -z "$(BENCH_PYTHON)" ] || ! $(BENCH_PYTHON) -c 'import transformers' >/dev/null 2>&1; then \
	  echo "bench-t5: PyTorch/transformers not found (/work/venv or python3); running the Swift side only"; fi
	@for cfg in $(BENCH_T5_CONFIGS); do n=$$(basename $$cfg .json); \
	  for run in "train:--batch 64 --source-length 128 --target-length 8 --steps 20" \
	             "gen1:--batch 1 --source-length 128 --max-new-tokens 8" \
	             "gen64:--batch 64 --source-length 128 --max-new-tokens 8" \
	             "beam4:--batch 16 --source-length 128 --max-new-tokens 8 --num-beams 4"; do \
	    tag=$${run%%:*}; args=$${run#*:}; \
	    if [ $$tag = train ]; then sw="bench train"; py=""; else sw="bench generate"; py="--generate"; fi; \
	    echo "== $$n $$tag: $$args"; \
	    $(BIN) $$sw --config $$cfg $$args --json $(BENCH_T5_DIR)/$$n-$$tag-swift.json >/dev/null || exit 1; \
	    if [ -n "$(BENCH_PYTHON)" ] && $(BENCH_PYTHON) -c 'import transformers' >/dev/null 2>&1; then \
	      $(BENCH_PYTHON) tools/bench_t5.py --config $$cfg $$py $$args --json $(BENCH_T5_DIR)/$$n-$$tag-python.json >/dev/null || exit 1; fi; \
	  done; done
	@python3 -c 'import json,glob,os; \
	d="$(BENCH_T5_DIR)"; \
	rows=sorted(glob.glob(d+"/*-swift.json")); \
	print("%-22s %12s %12s %8s" % ("case","swift","pytorch","speed-up")); \
	[print("%-22s %12.1f %12s %8s" % (os.path.basename(f)[:-11], s[k], "%.1f" % p[k] if p else "-", "%.2fx" % (p[k]/s[k]) if p else "-")) \
	 for f in rows for s in [json.load(open(f))] for k in ["ms_per_step" if s["mode"]=="train" else "ms_per_batch"] \
	 for p in [json.load(open(f.replace("-swift","-python"))) if os.path.exists(f.replace("-swift","-python")) else None]]'
# SASRec baseline benchmark (not a test): one training epoch per loss on Beauty with the Swift
# engine, next to tools/bench_sasrec.py (PyTorch, same model and batching, 2 threads) when torch
# is installed. SASREC_DATA defaults to $IDGENREC_DATASETS/beauty or ../shared/datasets/beauty.
SASREC_DATA ?= $(if $(IDGENREC_DATASETS),$(IDGENREC_DATASETS),../shared/datasets)/beauty
.PHONY: bench-sasrec
bench-sasrec:
	$(SWIFT) build -c release --product idgenrec
	for loss in ce bce; do $(BIN) baseline sasrec --data $(SASREC_DATA) --loss $$loss --epochs 1 --out .build/bench-sasrec-$$loss --quiet | grep -E "^Training|recall@10"; done
	$(if $(BENCH_PYTHON),$(BENCH_PYTHON) tools/bench_sasrec.py --data $(SASREC_DATA),@echo "PyTorch not found: skipped tools/bench_sasrec.py")

# Pre-training demo on the bundled corpus: one minute of T5 span corruption (tiny preset) on the
# item text and training histories, then the recommender started from it (--init-from).
.PHONY: pretrain-demo
pretrain-demo:
	$(SWIFT) build -c release --product idgenrec
	rm -rf checkpoints/pretrain-demo checkpoints/pretrain-demo-run
	$(BIN) pretrain --data $(DEMO_DATA) --out checkpoints/pretrain-demo --preset tiny --minutes 1
	$(BIN) train --data $(DEMO_DATA) --init-from checkpoints/pretrain-demo --epochs 3 --out checkpoints/pretrain-demo-run
