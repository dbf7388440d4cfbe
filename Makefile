# IDGenRec in Swift. `make setup` installs native dependencies and the sentence encoder (docs/encoder.md), `make test` runs the test suite,
# `make demo` runs the main job on the bundled corpus.
SWIFT ?= swift
# Tests are built optimised: numeric code in a debug build is unusably slow (ENGINE-NOTES.md).
BUILD_FLAGS = -c release -Xswiftc -enable-testing
TEST_FLAGS = $(BUILD_FLAGS) --disable-swift-testing
BIN = .build/release/idgenrec
APT_PKGS = libopenblas-dev libsentencepiece-dev pkg-config

.PHONY: setup build test test-long test-kernels demo clean

setup:
	@missing=""; for p in $(APT_PKGS); do dpkg -s $$p >/dev/null 2>&1 || missing="$$missing $$p"; done; \
	if [ -z "$$missing" ]; then echo "setup: native dependencies present ($(APT_PKGS))"; \
	elif [ "$$(id -u)" = "0" ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing; \
	else echo "setup: missing$$missing; run: sudo apt-get update && sudo apt-get install -y$$missing"; exit 1; fi
	@sh tools/fetch-encoder.sh

build:
	$(SWIFT) build -c release

# The CLI tests run the built binary: build it with the test flags so both builds share objects.
test:
	$(SWIFT) build $(BUILD_FLAGS) --product idgenrec
	$(SWIFT) test $(TEST_FLAGS)

# The suite under each OpenBLAS kernel a user's CPU may get (Haswell, Zen, Sandybridge, and
# SkylakeX where the CPU has AVX-512), with OPENBLAS_L2_SIZE=512 and unset: test outcomes must
# not depend on a kernel's rounding. Built once; one line per combination, then a summary.
# KERNEL_TESTS narrows it (a swift test --filter); LONG=1 adds the long tests (the learnability
# distribution over seeds among them). About 2.5 minutes per combination on 2 cores.
KERNEL_TESTS ?=
.PHONY: test-kernels
test-kernels:
	$(SWIFT) build $(BUILD_FLAGS) --product idgenrec
	$(SWIFT) build $(BUILD_FLAGS) --build-tests
	@kernels="Haswell Zen Sandybridge"; grep -q avx512f /proc/cpuinfo && kernels="Haswell Zen SkylakeX Sandybridge"; \
	mkdir -p .build/test-kernels; failed=0; summary=""; \
	for k in $$kernels; do for l2 in 512 unset; do \
	  log=.build/test-kernels/$$k-l2-$$l2.log; \
	  if [ $$l2 = unset ]; then set -- env -u OPENBLAS_L2_SIZE OPENBLAS_CORETYPE=$$k; else set -- env OPENBLAS_L2_SIZE=$$l2 OPENBLAS_CORETYPE=$$k; fi; \
	  if "$$@" $(if $(LONG),IDGENREC_LONG_TESTS=1,) $(SWIFT) test $(TEST_FLAGS) --skip-build $(if $(KERNEL_TESTS),--filter '$(KERNEL_TESTS)',) >$$log 2>&1; \
	  then r=passed; else r=FAILED; failed=1; fi; \
	  line="$$(printf '%-12s L2 %-6s %-7s %s' $$k $$l2 $$r "$$(grep -E 'Executed [0-9]+ tests' $$log | tail -1 | sed 's/^[[:space:]]*//')")"; \
	  echo "$$line"; summary="$$summary$$line\n"; \
	  grep -E "error: |^learnability |^distribution " $$log | sed "s/^/    /" | head -60; \
	done; done; \
	printf "\ntest-kernels on %s:\n$$summary" "$$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"; \
	[ $$failed = 0 ] || { echo "test-kernels: failures; logs in .build/test-kernels/"; exit 1; }

# T5 training speed under each OpenBLAS kernel (tools/bench_kernels.sh), next to PyTorch when the
# venv has it. AVX512=1 also builds the binary for -target-cpu skylake-avx512 in .build-avx512/
# and compares both builds (docs/engine.md#openblas-kernels). ROUNDS=3.
ROUNDS ?= 3
.PHONY: bench-kernels
bench-kernels:
	$(SWIFT) build -c release --product idgenrec
	$(if $(AVX512),IDGENREC_TARGET_CPU=skylake-avx512 $(SWIFT) build -c release --build-path .build-avx512 --product idgenrec,)
	tools/bench_kernels.sh --rounds $(ROUNDS) $(if $(BENCH_PYTHON),--python $(BENCH_PYTHON),) $(BIN) $(if $(AVX512),.build-avx512/release/idgenrec,)

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
# Developer tools (fixtures, PyTorch references) use the Python of VENV (a git-ignored .venv/ made
# by tools/setup_venv.sh) when it has torch, else python3 when that has torch; otherwise the
# Python side of a benchmark is skipped with a message.
VENV ?= .venv
BENCH_PYTHON ?= $(shell for p in $(VENV)/bin/python python3; do command -v $$p >/dev/null 2>&1 && $$p -c 'import torch' >/dev/null 2>&1 && { echo $$p; break; }; done)
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
	  echo "bench-t5: PyTorch/transformers not found ($(VENV) or python3; make it with tools/setup_venv.sh); running the Swift side only"; fi
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

# Load test of `idgenrec serve` (not a test; tools/bench_serve.sh, docs/serve.md): starts the
# server on a free loopback port and drives POST /recommend with wrk (apt-get install wrk) at
# concurrency 1, 8 and 32 (CONCURRENCY=…, DURATION=20s each); prints requests/s, p50/p99 latency
# and errors per level. RUN / DATA as for bench-rank (default: the demo run).
.PHONY: bench-serve
bench-serve:
	$(SWIFT) build -c release --product idgenrec
	@test -f $(RUN)/run.json || { echo "bench-serve: no run at $(RUN) (run make demo, or pass RUN=DIR DATA=DIR)"; exit 1; }
	tools/bench_serve.sh $(BIN) $(RUN) $(DATA)

# Ranking benchmark (not a test): test-set ranking of a trained run (`idgenrec bench rank`: beam 10
# under the ID trie, top-10, batches of 32 template-0 prompts, 2 threads) next to
# tools/bench_rank.py (Hugging Face `generate` with `prefix_allowed_tokens_fn` on the same model,
# prompts, trie and batches, 2 threads), alternating Swift and Python twice; prints users/s, the
# ratio and the parity (share of users with identical top-10 lists, largest score difference).
# RUN is any run folder (`make demo` makes checkpoints/demo). Results in .build/bench-rank/.
# The Python side is skipped with a message when torch + transformers are absent.
BENCH_RANK_DIR = .build/bench-rank
RUN ?= checkpoints/demo
DATA ?= corpora/synthetic/kitchen
USERS ?= 200
.PHONY: bench-rank
bench-rank:
	$(SWIFT) build -c release --product idgenrec
	@test -f $(RUN)/run.json || { echo "bench-rank: no run at $(RUN) (run make demo, or pass RUN=DIR)"; exit 1; }
	@rm -rf $(BENCH_RANK_DIR) && mkdir -p $(BENCH_RANK_DIR)
	@hf=1; if [ -z "$(BENCH_PYTHON)" ] || ! $(BENCH_PYTHON) -c 'import transformers' >/dev/null 2>&1; then hf=0; \
	  echo "bench-rank: PyTorch/transformers not found ($(VENV) or python3; make it with tools/setup_venv.sh); running the Swift side only"; fi; \
	for round in 1 2; do \
	  echo "== round $$round: swift"; \
	  $(BIN) bench rank --run $(RUN) --data $(DATA) --users $(USERS) --batch-size 32 --threads 2 \
	    --dump $(BENCH_RANK_DIR)/dump --json $(BENCH_RANK_DIR)/swift-$$round.json >/dev/null || exit 1; \
	  if [ $$hf = 1 ]; then echo "== round $$round: pytorch"; \
	    $(BENCH_PYTHON) tools/bench_rank.py --dump $(BENCH_RANK_DIR)/dump --threads 2 \
	      --json $(BENCH_RANK_DIR)/python-$$round.json >/dev/null || exit 1; fi; \
	done
	@python3 -c 'import json,os; d="$(BENCH_RANK_DIR)"; \
	get=lambda n: json.load(open(os.path.join(d,n))) if os.path.exists(os.path.join(d,n)) else None; \
	rows=[(r,get("swift-%d.json"%r),get("python-%d.json"%r)) for r in (1,2)]; \
	print("%-6s %14s %14s %9s %6s" % ("round","swift users/s","hf users/s","speed-up","load")); \
	[print("%-6d %14.1f %14s %9s %6s" % (r,s["users_per_second"],"%.2f"%p["users_per_second"] if p else "-", \
	  "%.1fx"%(s["users_per_second"]/p["users_per_second"]) if p else "-", "%.2f"%s["load_average"] if s.get("load_average") is not None else "-")) for r,s,p in rows]; \
	s=max(x[1]["users_per_second"] for x in rows); ps=[x[2] for x in rows if x[2]]; \
	print("best: swift %.1f users/s" % s + ("; hf %.2f users/s; speed-up %.1fx (goal 20x)" % (max(p["users_per_second"] for p in ps), s/max(p["users_per_second"] for p in ps)) if ps else "")); \
	ps and print("parity: %.1f%% of %d users with identical top-%d lists; largest |score diff| %.2e" % (100*ps[-1]["parity_identical_lists"], ps[-1]["users"], ps[-1]["num_beams"], ps[-1]["parity_max_score_diff"])); \
	b=max((x[1] for x in rows), key=lambda j: j["users_per_second"]); \
	"peak_gflops" in b and print("matrix work %.3f GFLOP/user; swift %.1f GFLOP/s = %.0f%% of the %.1f GFLOP/s sgemm peak measured in the same run; at that peak %.0f users/s%s" % (b["matrix_gflop_per_user"], b["achieved_gflops"], 100*b["achieved_gflops"]/b["peak_gflops"], b["peak_gflops"], b["users_per_second_at_peak"], (" = %.1fx hf: the ceiling for any implementation doing this matrix work" % (b["users_per_second_at_peak"]/max(p["users_per_second"] for p in ps))) if ps else ""))'

# Hugging Face round trip (developer check, not a test): a run's saved folders load in
# transformers 4.46.3 ($(VENV)) and the newest 5.x ($(VENV)-tf5), the tokenizer loaded from
# best/ tokenises every item ID as Swift does, and HF beam search under the trie gives Swift's
# top lists and scores (tools/check_hf_roundtrip.py). Both environments: tools/setup_venv.sh.
HF_DIR = .build/hf-roundtrip
# More saved model folders to load in both versions (a pretrain output, say).
HF_FOLDERS ?=
.PHONY: check-hf
check-hf:
	$(SWIFT) build -c release --product idgenrec
	@test -f $(RUN)/run.json || { echo "check-hf: no run at $(RUN) (run make demo, or pass RUN=DIR DATA=DIR)"; exit 1; }
	@rm -rf $(HF_DIR) && mkdir -p $(HF_DIR)
	$(BIN) bench rank --run $(RUN) --data $(DATA) --users 50 --batch-size 16 --dump $(HF_DIR) --json $(HF_DIR)/swift.json >/dev/null
	@extra=""; for f in $(RUN)/last $(RUN)/generator $(RUN)/bootstrap/generator $(HF_FOLDERS); do \
	  test -f $$f/model.safetensors && extra="$$extra --folder $$f"; done; \
	for py in $(VENV)/bin/python $(VENV)-tf5/bin/python; do \
	  test -x $$py || { echo "check-hf: $$py missing (tools/setup_venv.sh makes it)"; exit 1; }; \
	  $$py tools/check_hf_roundtrip.py --dump $(HF_DIR) $$extra || exit 1; done

# Sentence-encoder benchmark (not a test): `idgenrec embed` on Beauty's 12,101 item texts (2 cores)
# next to tools/bench_encoder.py (sentence-transformers `encode`, batch 64, 2 threads) in the same
# run on the same texts; prints tokens/s, the ratio, the share of the sgemm peak, the OpenBLAS
# kernel and the parity of all embeddings. Results in .build/bench-encoder/ (docs/encoder.md).
BENCH_ENCODER_DIR = .build/bench-encoder
ENCODER_DATA ?= $(if $(IDGENREC_DATASETS),$(IDGENREC_DATASETS),../shared/datasets)/beauty
ENCODER ?= checkpoints/encoders/all-MiniLM-L6-v2
.PHONY: bench-encoder
bench-encoder:
	$(SWIFT) build -c release --product idgenrec
	@test -f $(ENCODER)/model.safetensors || { echo "bench-encoder: no encoder at $(ENCODER) (run make setup)"; exit 1; }
	@rm -rf $(BENCH_ENCODER_DIR) && mkdir -p $(BENCH_ENCODER_DIR)
	$(BIN) embed --data $(ENCODER_DATA) --encoder $(ENCODER) --out $(BENCH_ENCODER_DIR)/swift.safetensors --rebuild \
	  --texts-out $(BENCH_ENCODER_DIR)/texts.json --json $(BENCH_ENCODER_DIR)/swift.json
	@if [ -n "$(BENCH_PYTHON)" ] && $(BENCH_PYTHON) -c 'import sentence_transformers' >/dev/null 2>&1; then \
	  $(BENCH_PYTHON) tools/bench_encoder.py --encoder $(ENCODER) --texts $(BENCH_ENCODER_DIR)/texts.json \
	    --swift $(BENCH_ENCODER_DIR)/swift.safetensors --json $(BENCH_ENCODER_DIR)/python.json; \
	else echo "bench-encoder: sentence-transformers not found ($(VENV) or python3; make it with tools/setup_venv.sh); Swift side only"; fi
	@python3 -c 'import json,os; d="$(BENCH_ENCODER_DIR)"; s=json.load(open(d+"/swift.json")); \
	p=json.load(open(d+"/python.json")) if os.path.exists(d+"/python.json") else None; \
	print("swift: %d texts, %d tokens in %.2f s = %.0f tokens/s (tokenising %.2f s); %.1f GFLOP/s = %.0f%% of the %.1f GFLOP/s sgemm peak (same run)" % (s["texts"], s["tokens"], s["seconds"], s["tokens_per_second"], s["tokenize_seconds"], s["achieved_gflops"], 100*s["achieved_gflops"]/s["peak_gflops"], s["peak_gflops"])); \
	p and print("sentence-transformers %s (torch %s, batch %d, %d threads): %.2f s = %.0f tokens/s" % (p["sentence_transformers"], p["torch"], p["batch_size"], p["threads"], p["seconds"], p["tokens_per_second"])); \
	p and print("speed-up %.2fx (goal 1.5x); parity over all texts: min cosine %.10f, max |diff| %.2e" % (s["tokens_per_second"]/p["tokens_per_second"], p["parity_min_cosine"], p["parity_max_abs_diff"])); \
	print("OpenBLAS kernel %s%s; load average %s" % (s["blas_kernel"], " (OPENBLAS_CORETYPE=%s)" % s["openblas_coretype"] if s["openblas_coretype"] else "", s["load_average"]))'
