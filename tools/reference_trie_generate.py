#!/usr/bin/env python3
"""Developer-only reference for the recommendation-inference benchmark: Hugging Face beam
search constrained by a prefix trie (IDGenRec's inference), on given encoder inputs.

For every user input: `generate(num_beams=10, num_return_sequences=10, do_sample=False,
length_penalty=1.0, early_stopping=False, prefix_allowed_tokens_fn=trie)`; the allowed tokens
at a step are the children, in the trie, of the tokens generated after the decoder start
token. A prefix outside the trie (only beams already at -inf, or at HF's -1e9 start score of
beams 1..k-1) gets [pad], since HF 4.46 raises on an empty list. `--max-new-tokens` defaults to
the longest trie sequence.

Inputs (JSON files):
  --trie    a list of token-id lists, each an item ID as the recommender sees it (ending with
            eos 1)
  --inputs  a list of token-id lists, one encoder input per user (eos included)
Prints JSON with `users_per_second`; `--out` writes the ranked token lists per user.
Never run by the product, tests or CI.

Example:
  .venv/bin/python tools/reference_trie_generate.py \
      --model Tests/T5Tests/Fixtures/tiny-v1_0 --trie trie.json --inputs users.json
"""
import argparse
import json
import sys
import time

import torch
import transformers
from transformers import T5ForConditionalGeneration


class Trie:
    def __init__(self, sequences):
        self.root = {}
        for seq in sequences:
            node = self.root
            for t in seq:
                node = node.setdefault(int(t), {})

    def children(self, prefix):
        node = self.root
        for t in prefix:
            node = node.get(t)
            if node is None:
                return None
        return list(node.keys())


def main():
    ap = argparse.ArgumentParser(description="HF trie-constrained beam search (reference)")
    ap.add_argument("--model", required=True, help="Hugging Face T5 folder")
    ap.add_argument("--trie", required=True, help="JSON list of token-id lists")
    ap.add_argument("--inputs", required=True, help="JSON list of encoder token-id lists")
    ap.add_argument("--limit", type=int, default=0, help="first N users (0 = all)")
    ap.add_argument("--batch", type=int, default=1, help="users per generate call")
    ap.add_argument("--num-beams", type=int, default=10)
    ap.add_argument("--num-return", type=int, default=10)
    ap.add_argument("--max-new-tokens", type=int, default=0, help="0 = longest trie sequence")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", help="write the ranked token lists per user (JSON)")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    model = T5ForConditionalGeneration.from_pretrained(args.model)
    model.eval()
    pad = model.config.pad_token_id
    with open(args.trie) as f:
        seqs = json.load(f)
    with open(args.inputs) as f:
        users = json.load(f)
    if args.limit:
        users = users[:args.limit]
    if not seqs or not users:
        sys.exit("empty trie or inputs")
    trie = Trie(seqs)
    max_new = args.max_new_tokens or max(len(s) for s in seqs)

    def allowed(batch_id, sent):
        children = trie.children(sent.tolist()[1:])  # drop the decoder start token
        return children if children else [pad]

    ranked = []
    t0 = time.perf_counter()
    with torch.no_grad():
        for start in range(0, len(users), args.batch):
            rows = users[start:start + args.batch]
            width = max(len(r) for r in rows)
            ids = torch.tensor([r + [pad] * (width - len(r)) for r in rows])
            mask = torch.tensor([[1] * len(r) + [0] * (width - len(r)) for r in rows])
            out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                                 num_beams=args.num_beams, num_return_sequences=args.num_return,
                                 length_penalty=1.0, early_stopping=False,
                                 max_new_tokens=max_new, prefix_allowed_tokens_fn=allowed)
            out = out.tolist()
            for u in range(len(rows)):
                block = out[u * args.num_return:(u + 1) * args.num_return]
                ranked.append([[t for t in seq[1:] if t != pad] for seq in block])
    seconds = time.perf_counter() - t0

    if args.out:
        with open(args.out, "w") as f:
            json.dump(ranked, f)
    print(json.dumps(dict(
        users=len(users), seconds=seconds, users_per_second=len(users) / seconds,
        trie_sequences=len(seqs), max_new_tokens=max_new, num_beams=args.num_beams,
        num_return_sequences=args.num_return, batch=args.batch,
        threads=torch.get_num_threads(), torch=torch.__version__,
        transformers=transformers.__version__), indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
