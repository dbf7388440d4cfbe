#!/usr/bin/env python3
"""sentence-transformers reference for `make bench-encoder` (developer tool, not CI).

Encodes a dataset's item texts with `SentenceTransformer.encode` (batch 64, 2 threads, float32,
CPU) from the same encoder folder as `idgenrec embed`, times it after one untimed warm-up batch,
and writes the timing as JSON. The item texts are the ones Swift embeds (`key: value; key: value`,
read from the Swift embeddings' sibling file `--texts`, one JSON list), so both sides encode the
same strings; with `--swift FILE` it also compares the embeddings (min cosine, max |diff|).

    .venv/bin/python tools/bench_encoder.py --encoder DIR --texts texts.json --json out.json [--swift emb.safetensors]
"""
import argparse
import json
import os
import time


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--encoder", required=True)
    p.add_argument("--texts", required=True, help="JSON list of the texts, catalog order")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--json", required=True)
    p.add_argument("--swift", help="Swift embeddings (safetensors 'embeddings') to compare with")
    args = p.parse_args()

    import numpy as np
    import sentence_transformers
    import torch
    import transformers
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(args.threads)
    with open(args.texts, encoding="utf-8") as f:
        texts = json.load(f)
    model = SentenceTransformer(args.encoder, device="cpu")
    model.encode(texts[: args.batch_size], batch_size=args.batch_size)  # warm-up
    tokens = sum(len(model.tokenize([t])["input_ids"][0]) for t in texts)
    start = time.perf_counter()
    emb = model.encode(texts, batch_size=args.batch_size, convert_to_numpy=True, show_progress_bar=False)
    seconds = time.perf_counter() - start
    result = {
        "implementation": "sentence-transformers", "texts": len(texts), "tokens": tokens, "seconds": seconds,
        "tokens_per_second": tokens / seconds, "batch_size": args.batch_size, "threads": args.threads,
        "torch": torch.__version__, "transformers": transformers.__version__,
        "sentence_transformers": sentence_transformers.__version__,
        "load_average": os.getloadavg()[0],
    }
    if args.swift:
        from safetensors.numpy import load_file
        swift = load_file(args.swift)["embeddings"].astype(np.float64)
        ref = emb.astype(np.float64)
        cos = (swift * ref).sum(1) / (np.linalg.norm(swift, axis=1) * np.linalg.norm(ref, axis=1))
        result["parity_min_cosine"] = float(cos.min())
        result["parity_max_abs_diff"] = float(np.abs(swift - ref).max())
    with open(args.json, "w") as f:
        json.dump(result, f, indent=1, sort_keys=True)
        f.write("\n")
    print("RESULT %.1f tokens/s (%d texts, %d tokens, %.2f s)" % (tokens / seconds, len(texts), tokens, seconds))


if __name__ == "__main__":
    main()
