#!/usr/bin/env python3
"""Developer-only PyTorch + transformers reference for the T5 benchmark (`idgenrec bench`).

Training (default): builds the T5 of a Hugging Face config.json with random weights, trains it
on random tokens with AdamW (lr 1e-3, betas 0.9/0.999, eps 1e-6, weight decay 0.01) and, after
the warm-up steps, times `--steps` steps (zero_grad, forward with labels, backward, step).
Prints JSON with `ms_per_step` (median), `tokens_per_second` ((source + target tokens) per step
/ median step time) and `input_tokens_per_second`.

Generation (`--generate`): times `model.generate` on a random batch (eval mode, no_grad, full
attention masks, greedy or beam search with `--num-beams`), prints `ms_per_batch` (median). By
default exactly `--max-new-tokens` tokens are generated (`min_new_tokens` = max), so a random
model that emits eos early does not shorten the work; `--allow-early-eos` turns that off.

Threads: `torch.set_num_threads(--threads)` (default 2). Never run by the product, tests or CI.
Example:
  .venv/bin/python tools/bench_t5.py --config tools/configs/t5-tiny.json \
      --batch 64 --source-length 128 --target-length 8 --steps 20
  .venv/bin/python tools/bench_t5.py --config tools/configs/t5-tiny.json --generate \
      --batch 1 --source-length 128 --max-new-tokens 8 --num-beams 1
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time

import torch
import transformers
from transformers import T5Config, T5ForConditionalGeneration

FIRST_ORDINARY_TOKEN = 3  # 0 pad, 1 eos, 2 unk


def random_tokens(gen, batch, length, vocab):
    return torch.randint(FIRST_ORDINARY_TOKEN, vocab, (batch, length), generator=gen)


def bench_train(model, args, vocab):
    gen = torch.Generator().manual_seed(args.seed)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-6,
                            weight_decay=0.01)
    model.train()
    times = []
    for step in range(args.warmup + args.steps):
        # Fresh random batch each step; its creation is outside the timed region.
        ids = random_tokens(gen, args.batch, args.source_length, vocab)
        mask = torch.ones_like(ids)
        labels = random_tokens(gen, args.batch, args.target_length, vocab)
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        opt.step()
        dt = time.perf_counter() - t0
        if step >= args.warmup:
            times.append(dt)
    med = statistics.median(times)
    tokens = args.batch * (args.source_length + args.target_length)
    return dict(mode="train", ms_per_step=med * 1e3, tokens_per_second=tokens / med,
                input_tokens_per_second=args.batch * args.source_length / med,
                ms_per_step_min=min(times) * 1e3, ms_per_step_max=max(times) * 1e3,
                final_loss=float(loss.detach()), steps=args.steps, warmup=args.warmup,
                batch=args.batch, source_length=args.source_length,
                target_length=args.target_length)


def bench_generate(model, args, vocab):
    gen = torch.Generator().manual_seed(args.seed)
    model.eval()
    times = []
    kwargs = dict(max_new_tokens=args.max_new_tokens, num_beams=args.num_beams, do_sample=False,
                  num_return_sequences=1, early_stopping=False)
    if not args.allow_early_eos:
        kwargs["min_new_tokens"] = args.max_new_tokens
    out_len = None
    with torch.no_grad():
        for rep in range(args.warmup + args.repeats):
            ids = random_tokens(gen, args.batch, args.source_length, vocab)
            mask = torch.ones_like(ids)
            t0 = time.perf_counter()
            out = model.generate(input_ids=ids, attention_mask=mask, **kwargs)
            dt = time.perf_counter() - t0
            out_len = out.shape[1] - 1
            if rep >= args.warmup:
                times.append(dt)
    med = statistics.median(times)
    return dict(mode="generate", ms_per_batch=med * 1e3, ms_per_batch_min=min(times) * 1e3,
                ms_per_batch_max=max(times) * 1e3, generated_tokens=out_len,
                repeats=args.repeats, warmup=args.warmup, batch=args.batch,
                source_length=args.source_length, max_new_tokens=args.max_new_tokens,
                num_beams=args.num_beams, min_new_tokens=kwargs.get("min_new_tokens"))


def main():
    ap = argparse.ArgumentParser(description="PyTorch reference for the T5 benchmark")
    ap.add_argument("--config", required=True, help="Hugging Face T5 config.json")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--source-length", type=int, default=128)
    ap.add_argument("--target-length", type=int, default=8)
    ap.add_argument("--steps", type=int, default=20, help="timed training steps")
    ap.add_argument("--warmup", type=int, default=3, help="untimed steps / runs first")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--generate", action="store_true", help="time generation instead")
    ap.add_argument("--max-new-tokens", type=int, default=8)
    ap.add_argument("--num-beams", type=int, default=1)
    ap.add_argument("--repeats", type=int, default=10, help="timed generate calls")
    ap.add_argument("--allow-early-eos", action="store_true")
    ap.add_argument("--json", help="also write the result to this file")
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    config = T5Config.from_json_file(args.config)
    model = T5ForConditionalGeneration(config)
    vocab = config.vocab_size
    result = bench_generate(model, args, vocab) if args.generate else bench_train(model, args, vocab)
    result.update(config=os.path.basename(args.config),
                  parameters=sum(p.numel() for p in model.parameters()),
                  threads=torch.get_num_threads(), torch=torch.__version__,
                  transformers=transformers.__version__, python=platform.python_version(),
                  dropout_rate=config.dropout_rate)
    text = json.dumps(result, indent=1)
    print(text)
    if args.json:
        with open(args.json, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
