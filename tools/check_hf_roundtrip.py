#!/usr/bin/env python3
"""Developer-only check that the model folders idgenrec writes are complete Hugging Face folders
that today's transformers loads and runs exactly as Swift does (`make check-hf`, which runs this
under transformers 4.46.3 in .venv and the newest 5.x in .venv-tf5).

Reads the folder `idgenrec bench rank --dump DIR` wrote (see tools/bench_rank.py) and checks:
  1. every model folder given (the dump's model folder, plus each --folder: a run's last/, a
     co-training run's generator/, a pre-training output, ...) loads with
     `T5ForConditionalGeneration.from_pretrained` and `AutoTokenizer.from_pretrained`, with no
     missing or unexpected weights, and its config.json writes HF's float fields as floats
     (transformers 5 refuses `"initializer_factor": 1`);
  2. the tokenizer loaded from the dump's model folder turns every item's textual ID into the
     exact token ids Swift's recommender uses (items.json);
  3. trie-constrained beam search in HF on the dump's prompts gives Swift's top lists and scores
     (tools/bench_rank.py, same batches): identical lists for every user, |score difference|
     at most --tolerance.
Prints one line per check and exits 1 on the first failure. Never run by the product, tests or CI.

Example:
  .build/release/idgenrec bench rank --run checkpoints/demo --data corpora/synthetic/kitchen \\
      --users 50 --dump .build/hf-roundtrip --json .build/hf-roundtrip/swift.json
  .venv/bin/python tools/check_hf_roundtrip.py --dump .build/hf-roundtrip --folder checkpoints/demo/generator
"""
import argparse
import json
import os
import subprocess
import sys

import transformers
from transformers import AutoTokenizer, T5ForConditionalGeneration

FLOAT_KEYS = ("dropout_rate", "layer_norm_epsilon", "initializer_factor", "classifier_dropout")


def fail(message):
    print(f"FAIL transformers {transformers.__version__}: {message}")
    sys.exit(1)


def check_folder(folder):
    with open(os.path.join(folder, "config.json")) as f:
        config = json.load(f)
    for key in FLOAT_KEYS:
        if key in config and not isinstance(config[key], float):
            fail(f"{folder}/config.json: {key} is {config[key]!r}, not a float")
    model, info = T5ForConditionalGeneration.from_pretrained(folder, output_loading_info=True)
    # A tied head is not stored: HF reports lm_head.weight as missing only when it is not tied.
    missing = [k for k in info.get("missing_keys", []) if not (k == "lm_head.weight" and model.config.tie_word_embeddings)]
    if missing or info.get("unexpected_keys") or info.get("mismatched_keys"):
        fail(f"{folder}: missing {missing}, unexpected {info.get('unexpected_keys')}, mismatched {info.get('mismatched_keys')}")
    tokenizer = AutoTokenizer.from_pretrained(folder)
    if len(tokenizer) != model.config.vocab_size:
        fail(f"{folder}: the tokenizer has {len(tokenizer)} tokens, the model's vocab_size is {model.config.vocab_size}")
    print(f"ok   transformers {transformers.__version__}: {folder} loads "
          f"({type(model).__name__}, {type(tokenizer).__name__}, {len(tokenizer)} tokens)")
    return tokenizer


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--dump", required=True, help="folder written by `idgenrec bench rank --dump`")
    ap.add_argument("--folder", action="append", default=[], help="another saved model folder to load (repeatable)")
    ap.add_argument("--tolerance", type=float, default=1e-4, help="largest |score difference| allowed")
    args = ap.parse_args()
    transformers.logging.set_verbosity_error()

    with open(os.path.join(args.dump, "generation.json")) as f:
        model_folder = json.load(f)["model_folder"]
    with open(os.path.join(args.dump, "items.json")) as f:
        items = json.load(f)

    tokenizer = check_folder(model_folder)
    for folder in args.folder:
        check_folder(folder)

    texts = items.get("textual_ids")
    if texts is None:
        fail(f"{args.dump}/items.json has no textual_ids (dump made by an older idgenrec)")
    encoded = tokenizer(texts, add_special_tokens=True)["input_ids"]
    wrong = [(t, e, s) for t, e, s in zip(texts, encoded, items["sequences"]) if list(e) != list(s)]
    if wrong:
        t, e, s = wrong[0]
        fail(f"{len(wrong)} of {len(texts)} item IDs tokenise differently, e.g. {t!r}: HF {e} vs Swift {s}")
    print(f"ok   transformers {transformers.__version__}: all {len(texts)} item IDs tokenise to Swift's ids")

    out = os.path.join(args.dump, f"python-{transformers.__version__}.json")
    here = os.path.dirname(os.path.abspath(__file__))
    subprocess.run([sys.executable, os.path.join(here, "bench_rank.py"), "--dump", args.dump, "--json", out],
                   check=True, stdout=subprocess.DEVNULL)
    with open(out) as f:
        result = json.load(f)
    same, diff = result["parity_identical_lists"], result["parity_max_score_diff"]
    if same < 1.0 or diff > args.tolerance:
        fail(f"beam search: {100 * same:.1f}% of {result['users']} users with identical lists, "
             f"largest |score diff| {diff:.2e} (tolerance {args.tolerance:g})")
    print(f"ok   transformers {transformers.__version__}: beam search gives Swift's top-{result['num_beams']} "
          f"lists for all {result['users']} users, largest |score diff| {diff:.2e}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
