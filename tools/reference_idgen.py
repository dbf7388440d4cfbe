#!/usr/bin/env python3
"""Developer-only reference for the ID-generation benchmark: the original IDGenRec textual-ID
assignment, run with Hugging Face transformers on a T5 folder.

The procedure (IDGenRec's `generate_item_id_from_text`, with the diversity-penalty schedule
of METHOD.md section 2):
  for each item, in catalog order, one item at a time:
    dp = 1, min_len = 1
    loop:
      generate(text, num_beams=10, num_beam_groups=10, diversity_penalty=dp,
               num_return_sequences=10, min_length=min_len,
               max_new_tokens=9 + (min_len - 1), do_sample=False)
      decode each candidate (skip special tokens), normalise it as the original does:
        the words of `re.findall(r"\\b\\w+\\b", text)` joined by single spaces (case kept)
      take the first candidate (best first) not in the used set -> the item's ID
      otherwise dp += 1; after dp = 9: min_len += 10 and dp = 1
Differences from the original code, all stated: the original's current code starts dp at 0.1
with step 0.1 and `max_length = min_len + 10`; METHOD.md's schedule (dp 1, 2, ... 9, at most 9
new tokens) is used here. The original accepts an empty ID once; so does this script (it only
counts it). `--max-attempts` bounds the retries of one item (the original loops forever); an
item that hits it is counted as unresolved and gets no ID.

Input: a TSV file `item_id<TAB>text` (first `--limit` rows). The folder needs config.json,
model.safetensors and spiece.model. Output: JSON with `items_per_second` on stdout; `--out`
writes `item_id<TAB>textual id`. Never run by the product, tests or CI.

Example:
  .venv/bin/python tools/reference_idgen.py --model Tests/T5Tests/Fixtures/tiny-v1_0 \
      --catalog items.tsv --limit 100
"""
import argparse
import json
import os
import re
import sys
import time

import sentencepiece as spm
import torch
import transformers
from transformers import T5ForConditionalGeneration, T5Tokenizer


def load_tokenizer(model_dir, model_vocab):
    sp_path = os.path.join(model_dir, "spiece.model")
    sp_size = spm.SentencePieceProcessor(model_file=sp_path).get_piece_size()
    # T5 checkpoints have 100 sentinel ids past the SentencePiece vocabulary (32000 + 100 ->
    # config vocab 32128); a model whose vocabulary equals the SentencePiece one has none.
    extra = min(100, max(0, model_vocab - sp_size))
    return T5Tokenizer(vocab_file=sp_path, extra_ids=extra, legacy=True)


def read_catalog(path, limit):
    items = []
    with open(path, encoding="utf-8") as f:
        for line_no, line in enumerate(f, 1):
            line = line.rstrip("\n")
            if not line:
                continue
            if "\t" not in line:
                sys.exit(f"{path}:{line_no}: expected `item_id<TAB>text`")
            item_id, text = line.split("\t", 1)
            items.append((item_id, text.strip()))
            if limit and len(items) >= limit:
                break
    return items


def normalise(text):
    return " ".join(re.findall(r"\b\w+\b", text))


def main():
    ap = argparse.ArgumentParser(description="original IDGenRec ID assignment (reference)")
    ap.add_argument("--model", required=True, help="Hugging Face T5 folder")
    ap.add_argument("--catalog", required=True, help="TSV: item_id<TAB>text")
    ap.add_argument("--limit", type=int, default=100, help="first N items (0 = all)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--num-beams", type=int, default=10)
    ap.add_argument("--max-new-tokens", type=int, default=9)
    ap.add_argument("--max-source-tokens", type=int, default=256)
    ap.add_argument("--max-attempts", type=int, default=50,
                    help="generate calls per item before giving up (the original has none)")
    ap.add_argument("--out", help="write item_id<TAB>id here")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    model = T5ForConditionalGeneration.from_pretrained(args.model)
    model.eval()
    tok = load_tokenizer(args.model, model.config.vocab_size)
    items = read_catalog(args.catalog, args.limit)
    k = args.num_beams

    used = set()
    assigned = {}
    calls = retried = unresolved = empty = 0
    max_dp = 1
    t0 = time.perf_counter()
    with torch.no_grad():
        for item_id, text in items:
            inputs = tok([text], max_length=args.max_source_tokens, truncation=True,
                         return_tensors="pt")
            dp, min_len, attempts, found = 1.0, 1, 0, None
            while found is None and attempts < args.max_attempts:
                out = model.generate(**inputs, num_beams=k, num_beam_groups=k, do_sample=False,
                                     diversity_penalty=dp, num_return_sequences=k,
                                     min_length=min_len,
                                     max_new_tokens=args.max_new_tokens + (min_len - 1))
                calls += 1
                attempts += 1
                for cand in tok.batch_decode(out, skip_special_tokens=True):
                    cid = normalise(cand)
                    if cid not in used:
                        found = cid
                        break
                if found is None:
                    dp += 1.0
                    if dp > 9:
                        min_len += 10
                        dp = 1.0
                else:
                    max_dp = max(max_dp, dp)
            if attempts > 1:
                retried += 1
            if found is None:
                unresolved += 1
                continue
            if found == "":
                empty += 1
            used.add(found)
            assigned[item_id] = found
    seconds = time.perf_counter() - t0

    if args.out:
        with open(args.out, "w", encoding="utf-8") as f:
            for item_id, _ in items:
                if item_id in assigned:
                    f.write(f"{item_id}\t{assigned[item_id]}\n")
    print(json.dumps(dict(
        items=len(items), seconds=seconds, items_per_second=len(items) / seconds,
        generate_calls=calls, items_retried=retried, unresolved=unresolved, empty_ids=empty,
        max_diversity_penalty=max_dp, unique_ids=len(used), threads=torch.get_num_threads(),
        num_beams=k, num_beam_groups=k, max_new_tokens=args.max_new_tokens,
        torch=torch.__version__, transformers=transformers.__version__), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
