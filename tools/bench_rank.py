#!/usr/bin/env python3
"""Developer-only Hugging Face reference for `idgenrec bench rank` (`make bench-rank`).

Reads the folder `idgenrec bench rank --dump DIR` wrote:
  prompts.json      encoder token ids per sampled test user (template 0, built by Swift: prompts
                    are concatenations of separately tokenised pieces, so text is never
                    re-tokenised here)
  items.json        each catalog item's ID tokens + eos, in catalog order (the trie)
  generation.json   the search (HF argument names) and the model folder (best/ of the run)
  swift_ranks.json  Swift's top catalog indices and scores per user

Loads the model with `T5ForConditionalGeneration.from_pretrained`, `torch.set_num_threads`
(default 2), and runs, in the same batches of prompts (right-padded with pad, attention mask
1/0, as Swift's `Seq2SeqBatch.pad`),
  generate(input_ids, attention_mask, num_beams, num_return_sequences, max_new_tokens,
           early_stopping="never", length_penalty=0.0, do_sample=False,
           prefix_allowed_tokens_fn=trie, decoder_start_token_id, eos_token_id, pad_token_id,
           output_scores=True, return_dict_in_generate=True)
after one untimed warm-up batch, timing all users (wall time). Sequences are mapped back to
catalog indices through the trie; filler beams (HF fills its beams even when fewer real
candidates exist: scores near -1e9 or -inf, or sequences outside the trie) are dropped and an
item is kept once, as Swift does. Prints JSON with `users_per_second` and the parity with
swift_ranks.json: the share of users whose top lists are identical (same items, same order) and
the largest |score difference| over items both lists hold. Never run by the product, tests or CI.

Example:
  .build/release/idgenrec bench rank --run checkpoints/demo --data corpora/synthetic/kitchen \\
      --dump .build/bench-rank --json .build/bench-rank/swift.json
  .venv/bin/python tools/bench_rank.py --dump .build/bench-rank --json .build/bench-rank/python.json
"""
import argparse
import json
import os
import sys
import time

import torch
import transformers
from transformers import T5ForConditionalGeneration

import reference_trie_generate  # tools/ is on sys.path when run as tools/bench_rank.py

# HF starts beams 1..k-1 at -1e9 so the first step picks distinct tokens; descendants of those
# (and of -inf tokens) are fillers, never real candidates.
FILLER_SCORE = -1e8


class Trie(reference_trie_generate.Trie):
    """The reference script's prefix trie, plus each complete sequence's catalog index."""

    def __init__(self, sequences):
        super().__init__(sequences)
        self.indices = {}
        for index, seq in enumerate(sequences):
            key = tuple(int(t) for t in seq)
            if key in self.indices:
                sys.exit(f"items.json: items {self.indices[key]} and {index} have the same tokens")
            self.indices[key] = index

    def index(self, tokens):
        return self.indices.get(tuple(tokens))


def load(folder, name):
    path = os.path.join(folder, name)
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        sys.exit(f"{path}: missing; run `idgenrec bench rank --dump {folder}` first")


def main():
    ap = argparse.ArgumentParser(description="HF trie-constrained beam search next to `idgenrec bench rank`")
    ap.add_argument("--dump", required=True, help="folder written by `idgenrec bench rank --dump`")
    ap.add_argument("--model", help="Hugging Face T5 folder (default: generation.json's model_folder)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", help="also write the result JSON here")
    ap.add_argument("--ranks", help="write the HF ranks here (default: DUMP/python_ranks.json)")
    args = ap.parse_args()

    prompts = load(args.dump, "prompts.json")
    items = load(args.dump, "items.json")
    gen = load(args.dump, "generation.json")
    swift = load(args.dump, "swift_ranks.json")
    inputs = prompts["prompts"]
    if not inputs or not items["sequences"]:
        sys.exit(f"{args.dump}: no prompts or no items")

    torch.set_num_threads(args.threads)
    transformers.logging.set_verbosity_error()  # the 4.47 cache-format notice
    model = T5ForConditionalGeneration.from_pretrained(args.model or gen["model_folder"])
    model.eval()
    pad = gen["pad_token_id"]
    eos = gen["eos_token_id"]
    start = gen["decoder_start_token_id"]
    trie = Trie(items["sequences"])

    def allowed(batch_id, sent):
        # Tokens after the decoder start token; a prefix outside the trie only occurs on filler
        # beams (already -inf) and gets [pad], since HF 4.46 raises on an empty list.
        children = trie.children(sent.tolist()[1:])
        return children if children else [pad]

    batch = gen["batch_size"]
    k = gen["num_return_sequences"]

    def run(rows):
        width = max(len(r) for r in rows)
        ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows], dtype=torch.long)
        mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows], dtype=torch.long)
        out = model.generate(
            input_ids=ids, attention_mask=mask, do_sample=False,
            num_beams=gen["num_beams"], num_return_sequences=k, max_new_tokens=gen["max_new_tokens"],
            early_stopping=gen["early_stopping"], length_penalty=gen["length_penalty"],
            prefix_allowed_tokens_fn=allowed, decoder_start_token_id=start,
            eos_token_id=gen["eos_token_id"], pad_token_id=pad,
            output_scores=True, return_dict_in_generate=True)
        return out.sequences.tolist(), out.sequences_scores.tolist()

    def ranked(sequences, scores):
        result = []
        for u in range(len(sequences) // k):
            seen, rank = set(), []
            for seq, score in zip(sequences[u * k:(u + 1) * k], scores[u * k:(u + 1) * k]):
                # Drop the decoder start token and whatever follows the first eos: transformers
                # 4.x pads finished rows with pad, 5.x with eos.
                tokens = seq[1:]
                if eos in tokens:
                    tokens = tokens[:tokens.index(eos) + 1]
                index = trie.index(tokens)
                if index is None or not score > FILLER_SCORE or index in seen:
                    continue
                seen.add(index)
                rank.append((index, score))
            result.append(rank)
        return result

    with torch.no_grad():
        run(inputs[:batch])  # warm-up, untimed
        results = []
        t0 = time.perf_counter()
        for s in range(0, len(inputs), batch):
            results.append(run(inputs[s:s + batch]))
        seconds = time.perf_counter() - t0
    ranks = []
    for sequences, scores in results:
        ranks += ranked(sequences, scores)

    with open(args.ranks or os.path.join(args.dump, "python_ranks.json"), "w") as f:
        json.dump(dict(users=prompts["users"], items=[[i for i, _ in r] for r in ranks],
                       scores=[[s for _, s in r] for r in ranks]), f)

    # Parity with Swift: identical lists (items and order), and the largest score difference
    # over items both lists hold (scores are Float sums of log-probabilities on both sides).
    same, max_diff, worst_user = 0, 0.0, None
    for u, (r, items_s, scores_s) in enumerate(zip(ranks, swift["items"], swift["scores"])):
        if [i for i, _ in r] == items_s:
            same += 1
        theirs = dict(zip(items_s, scores_s))
        for i, s in r:
            if i in theirs and abs(s - theirs[i]) > max_diff:
                max_diff, worst_user = abs(s - theirs[i]), u
    hits = sum(1 for r, t in zip(ranks, prompts["targets"]) if any(i == t for i, _ in r))
    try:
        load_average = os.getloadavg()[0]
    except OSError:
        load_average = None
    result = dict(
        implementation="pytorch", users=len(inputs), seconds=seconds,
        users_per_second=len(inputs) / seconds, batch_size=batch, num_beams=gen["num_beams"],
        max_new_tokens=gen["max_new_tokens"], threads=torch.get_num_threads(),
        items=len(items["sequences"]), recall_at_beams=hits / len(inputs),
        parity_identical_lists=same / len(inputs), parity_max_score_diff=max_diff,
        parity_worst_user=worst_user, load_average=load_average,
        torch=torch.__version__, transformers=transformers.__version__)
    text = json.dumps(result, indent=1, sort_keys=True)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
