#!/usr/bin/env python3
"""Developer-only: writes the Hugging Face parity fixtures for the Swift T5 tests.

Builds two tiny random T5s with transformers 4.46.3 (v1.0: ReLU FFN, tied embeddings; v1.1:
gated-GELU FFN, untied lm_head) over a small SentencePiece vocabulary trained here, and writes
into Tests/T5Tests/Fixtures/<tiny-v1_0|tiny-v1_1>/:

  config.json, generation_config.json, model.safetensors   (save_pretrained, safetensors)
  spiece.model                                             (the SentencePiece model)
  io.safetensors      input batch with padding, encoder output, logits, loss
  grads.safetensors   d loss / d parameter for every parameter, HF names
  adamw.json          losses over 5 AdamW steps on the same batch
  generate.json       greedy, beam, diverse beam and trie-constrained generation outputs

Never run by the product, the tests or CI; the Swift tests read the committed files.
Run: .venv/bin/python tools/make_t5_fixtures.py [--out Tests/T5Tests/Fixtures]
(see Tests/T5Tests/Fixtures/README.md for the formats).
"""
import argparse
import io
import json
import os
import random
import re
import sys
import tempfile

import numpy as np
import sentencepiece as spm
import torch
import transformers
from safetensors.torch import save_file
from transformers import T5Config, T5ForConditionalGeneration

SEED = 1234
PAD, EOS, UNK = 0, 1, 2

# ---------------------------------------------------------------------------------------------
# SentencePiece model trained on product-listing-like text written here (deterministic).

ADJ = ["stainless", "steel", "organic", "wireless", "compact", "waterproof", "lightweight",
       "premium", "classic", "vintage", "portable", "rechargeable", "natural", "soft", "large",
       "small", "black", "white", "red", "blue", "green", "cotton", "leather", "bamboo",
       "ceramic", "glass", "wooden", "silicone", "matte", "glossy", "herbal", "fresh"]
NOUN = ["water bottle", "coffee mug", "yoga mat", "phone case", "face cream", "shampoo",
        "conditioner", "lipstick", "hair dryer", "toothbrush", "backpack", "running shoes",
        "tennis racket", "board game", "puzzle", "building blocks", "teddy bear", "desk lamp",
        "kitchen knife", "frying pan", "tea kettle", "notebook", "pencil set", "headphones",
        "speaker", "charger", "sunscreen", "body lotion", "nail polish", "perfume", "soap bar",
        "camping tent", "sleeping bag", "bike helmet", "water filter", "candle"]
BRAND = ["acme", "northwind", "bluepeak", "sunleaf", "kiddo", "urbanline", "greenway",
         "maison belle", "ocean", "terra", "lumen", "velvet"]
CATEGORY = ["beauty", "skin care", "hair care", "sports", "outdoors", "toys", "games",
            "home", "kitchen", "electronics", "office", "fitness"]
DESC = ["great for travel", "easy to clean", "made with natural ingredients",
        "long lasting", "gift for kids", "fits most sizes", "dishwasher safe",
        "includes carry bag", "for all skin types", "battery included", "pack of 2",
        "pack of 3", "with free shipping", "new and improved formula", "holds 750 ml",
        "size 42", "24 pieces", "for ages 3 and up", "crème légère", "café noir edition"]


def corpus_lines(rng, n):
    lines = []
    for _ in range(n):
        title = " ".join([rng.choice(BRAND)] + rng.sample(ADJ, 2) + [rng.choice(NOUN)])
        cats = ", ".join(rng.sample(CATEGORY, 2))
        desc = "; ".join(rng.sample(DESC, 2))
        lines.append(f"title: {title}; brand: {rng.choice(BRAND)}; categories: {cats}; "
                     f"description: {desc}")
    return lines


def train_spm(out_dir, vocab_size):
    rng = random.Random(SEED)
    lines = corpus_lines(rng, 60)  # about 8 KB
    # In-memory input and output: the trainer spec stored in the model then holds no temporary
    # paths, so reruns give byte-identical files.
    writer = io.BytesIO()
    spm.SentencePieceTrainer.Train(
        sentence_iterator=iter(lines), model_writer=writer, model_type="unigram",
        vocab_size=vocab_size, pad_id=PAD, eos_id=EOS, unk_id=UNK, bos_id=-1,
        byte_fallback=True, character_coverage=1.0, num_threads=1,
        seed_sentencepiece_size=10000, shuffle_input_sentence=False, minloglevel=2,
        # T5's own spiece.model uses nmt_nfkc, whose precompiled charsmap alone is 240 KB;
        # identity keeps the fixture small (whitespace handling is unchanged).
        normalization_rule_name="identity")
    model_bytes = writer.getvalue()
    path = os.path.join(out_dir, "spiece.model")
    with open(path, "wb") as f:
        f.write(model_bytes)
    return path, len(model_bytes), sum(len(x) + 1 for x in lines)


def dump_json(obj, path):
    """Indented JSON with innermost lists of numbers on one line (readable token rows)."""
    text = json.dumps(obj, indent=1, ensure_ascii=False)
    text = re.sub(r"\[\s*([-0-9.eE+,\s]+?)\s*\]",
                  lambda m: "[" + ", ".join(x.strip() for x in m.group(1).split(",")) + "]", text)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text + "\n")


# ---------------------------------------------------------------------------------------------
# Models


def make_config(style, vocab_size):
    common = dict(vocab_size=vocab_size, d_model=32, d_kv=8, num_heads=4, d_ff=64,
                  num_layers=2, num_decoder_layers=2, relative_attention_num_buckets=32,
                  relative_attention_max_distance=128, dropout_rate=0.0,
                  layer_norm_epsilon=1e-6, initializer_factor=1.0, pad_token_id=PAD,
                  eos_token_id=EOS, decoder_start_token_id=PAD)
    if style == "v1_0":
        return T5Config(feed_forward_proj="relu", tie_word_embeddings=True, **common)
    return T5Config(feed_forward_proj="gated-gelu", tie_word_embeddings=False, **common)


def seed_all(seed):
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pad_batch(rows, pad_value):
    width = max(len(r) for r in rows)
    return [r + [pad_value] * (width - len(r)) for r in rows]


def encode(sp, text, max_pieces=None):
    ids = sp.encode(text, out_type=int)
    if max_pieces is not None:
        ids = ids[:max_pieces]
    return ids + [EOS]


# ---------------------------------------------------------------------------------------------
# Trie for the constrained generation fixture


class Trie:
    def __init__(self, sequences):
        self.root = {}
        for seq in sequences:
            node = self.root
            for t in seq:
                node = node.setdefault(t, {})

    def allowed(self, prefix):
        node = self.root
        for t in prefix:
            if t not in node:
                return None
            node = node[t]
        return sorted(node.keys())


def make_prefix_fn(trie):
    def fn(batch_id, sent):
        # sent starts with the decoder start token (pad), which is not part of the trie.
        allowed = trie.allowed(sent.tolist()[1:])
        # A beam that left the trie only exists with score -inf (or HF's -1e9 initial score
        # of beams 1..k-1); HF 4.46 raises on an empty list, so such beams get [pad].
        return allowed if allowed else [PAD]
    return fn


# ---------------------------------------------------------------------------------------------


def generate_all(model, gen_ids, gen_mask, trie_seqs):
    """Runs every generation mode; returns a dict of results (ids as lists, scores as floats)."""
    ids = torch.tensor(gen_ids)
    mask = torch.tensor(gen_mask)
    out = {}
    with torch.no_grad():
        r = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, num_beams=1,
                           max_new_tokens=8, return_dict_in_generate=True)
        # HF greedy search has no sequences_scores; only the tokens are recorded.
        out["greedy"] = dict(
            params=dict(num_beams=1, do_sample=False, max_new_tokens=8),
            sequences=r.sequences.tolist())

        def beam(name, **kw):
            r = model.generate(input_ids=ids, attention_mask=mask, do_sample=False,
                               max_new_tokens=8, return_dict_in_generate=True,
                               output_scores=True, **kw)
            params = {k: v for k, v in kw.items() if k != "prefix_allowed_tokens_fn"}
            params.update(do_sample=False, max_new_tokens=8)
            out[name] = dict(params=params, sequences=r.sequences.tolist(),
                             sequences_scores=[float(x) for x in r.sequences_scores])

        beam("beam", num_beams=4, num_return_sequences=4, length_penalty=1.0,
             early_stopping=False)
        beam("beam_lp05", num_beams=4, num_return_sequences=4, length_penalty=0.5,
             early_stopping=False)
        beam("diverse_beam", num_beams=6, num_beam_groups=3, diversity_penalty=1.0,
             num_return_sequences=6, length_penalty=1.0, early_stopping=False)
        trie = Trie(trie_seqs)
        beam("constrained_beam", num_beams=5, num_return_sequences=5, length_penalty=1.0,
             early_stopping=False, prefix_allowed_tokens_fn=make_prefix_fn(trie))
        beam("constrained_beam3", num_beams=3, num_return_sequences=3, length_penalty=1.0,
             early_stopping=False, prefix_allowed_tokens_fn=make_prefix_fn(trie))
    return out


def pretrain(model, sp, steps, seed):
    """A few AdamW steps mapping listing text to its brand, so that the fixture model is not
    degenerate: its generations end with eos at different lengths (exercising finished
    hypotheses and the length penalty) instead of repeating one token to max_new_tokens."""
    if steps <= 0:
        return
    rng = random.Random(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(steps):
        src, tgt = [], []
        for _ in range(16):
            brand, noun = rng.choice(BRAND), rng.choice(NOUN)
            text = (f"title: {brand} {' '.join(rng.sample(ADJ, 2))} {noun}; "
                    f"categories: {rng.choice(CATEGORY)}")
            src.append(encode(sp, text, 40))
            tgt.append(encode(sp, brand, 12))
        ids = torch.tensor(pad_batch(src, PAD))
        labels = torch.tensor(pad_batch(tgt, -100))
        loss = model(input_ids=ids, attention_mask=(ids != PAD).long(), labels=labels).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.zero_grad(set_to_none=True)


def strip_seq(seq):
    """Drops the leading decoder start token and everything from the first eos on, keeping eos."""
    body = seq[1:]
    if EOS in body:
        body = body[:body.index(EOS) + 1]
    return body


def build(style, out_root, sp_model_path, sp, args):
    name = f"tiny-{style}"
    out_dir = os.path.join(out_root, name)
    os.makedirs(out_dir, exist_ok=True)
    seed_all(SEED + (0 if style == "v1_0" else 1))
    config = make_config(style, sp.get_piece_size())
    model = T5ForConditionalGeneration(config)
    pretrain(model, sp, args.pretrain_steps, SEED + 7)
    model.save_pretrained(out_dir, safe_serialization=True)
    with open(sp_model_path, "rb") as f, open(os.path.join(out_dir, "spiece.model"), "wb") as g:
        g.write(f.read())

    # ----- training batch: input_ids [2, 7] with padding in row 1 (0-based), labels [2, 5]
    src = [encode(sp, "title: acme stainless water bottle", 6),
           encode(sp, "yoga mat", 3)]
    src = pad_batch(src, PAD)
    assert len(src[0]) == 7 and PAD in src[1], src
    attn = [[1 if t != PAD else 0 for t in row] for row in src]
    tgt = [encode(sp, "acme bottle", 4), encode(sp, "mat", 2)]
    labels = pad_batch(tgt, -100)
    input_ids = torch.tensor(src, dtype=torch.int64)
    attention_mask = torch.tensor(attn, dtype=torch.int64)
    labels_t = torch.tensor(labels, dtype=torch.int64)
    decoder_input_ids = model._shift_right(labels_t)

    model.train()  # dropout_rate is 0, so train and eval give the same numbers
    model.zero_grad()
    out = model(input_ids=input_ids, attention_mask=attention_mask,
                decoder_input_ids=decoder_input_ids, labels=labels_t)
    out.loss.backward()
    save_file({
        "input_ids": input_ids.contiguous(),
        "attention_mask": attention_mask.contiguous(),
        "decoder_input_ids": decoder_input_ids.contiguous(),
        "labels": labels_t.contiguous(),
        "encoder_last_hidden_state": out.encoder_last_hidden_state.detach().float().contiguous(),
        "logits": out.logits.detach().float().contiguous(),
        "loss": out.loss.detach().float().reshape(1).contiguous(),
    }, os.path.join(out_dir, "io.safetensors"), metadata={"format": "pt"})
    grads = {n: p.grad.detach().float().contiguous() for n, p in model.named_parameters()}
    save_file(grads, os.path.join(out_dir, "grads.safetensors"), metadata={"format": "pt"})

    # ----- 5 AdamW steps on the same batch; one parameter group holding every parameter.
    state = {k: v.clone() for k, v in model.state_dict().items()}
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3, betas=(0.9, 0.999), eps=1e-6,
                            weight_decay=0.01, amsgrad=False, foreach=False)
    losses = []
    for _ in range(5):
        opt.zero_grad()
        loss = model(input_ids=input_ids, attention_mask=attention_mask,
                     decoder_input_ids=decoder_input_ids, labels=labels_t).loss
        losses.append(float(loss.detach()))
        loss.backward()
        opt.step()
    with torch.no_grad():
        final_loss = float(model(input_ids=input_ids, attention_mask=attention_mask,
                                 decoder_input_ids=decoder_input_ids, labels=labels_t).loss)
        param_norms = {n: float(p.detach().double().norm()) for n, p in model.named_parameters()}
    dump_json(dict(
            optimizer="torch.optim.AdamW", lr=1e-3, betas=[0.9, 0.999], eps=1e-6,
            weight_decay=0.01, amsgrad=False,
            param_groups="one group: every parameter (incl. layer norms, relative bias, "
                         "embeddings) with weight_decay 0.01; tied weight counted once",
            losses=losses, final_loss=final_loss,
            note="losses[k] is the loss before step k+1 (losses[0] == io loss); final_loss is "
                 "after the 5th step; param_l2_norms are after the 5th step",
            param_l2_norms=param_norms), os.path.join(out_dir, "adamw.json"))
    model.load_state_dict(state)

    # ----- generation (eval mode), batch of two texts with padding
    model.eval()
    gen_texts = ["title: sunleaf organic face cream; brand: sunleaf",
                 "wireless headphones"]
    gen_rows = [encode(sp, t) for t in gen_texts]
    gen_ids = pad_batch(gen_rows, PAD)
    gen_mask = [[1] * len(r) + [0] * (len(gen_ids[0]) - len(r)) for r in gen_rows]
    # Short words so every sequence (with eos) fits in max_new_tokens 8; shared prefixes
    # ("▁b", "▁b o") make the trie branch below the root.
    trie_texts = ["bottle", "boat", "bat", "mat", "cat"]
    trie_seqs = [encode(sp, t) for t in trie_texts]
    assert all(len(s) <= 8 for s in trie_seqs) and len(set(map(tuple, trie_seqs))) == 5
    results = generate_all(model, gen_ids, gen_mask, trie_seqs)

    # Stability check: with every weight perturbed by a relative 1e-5 (ten times float32
    # rounding), generation must give the same token sequences, so no decision depends on a
    # near-tie that Swift's different float32 rounding could flip. (HF 4.46 group beam search
    # fails in float64, so a float64 rerun is not available as the check.)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    for trial in range(3):
        g = torch.Generator().manual_seed(SEED + 100 + trial)
        with torch.no_grad():
            for p in model.parameters():
                p.mul_(1 + 1e-5 * torch.randn(p.shape, generator=g))
        perturbed = generate_all(model, gen_ids, gen_mask, trie_seqs)
        model.load_state_dict(state)
        for mode in results:
            if results[mode]["sequences"] != perturbed[mode]["sequences"]:
                sys.exit(f"{name}: {mode} changes under a 1e-5 weight perturbation; "
                         "change inputs/seed")
            if "sequences_scores" in results[mode]:
                spread = max(abs(a - b) for a, b in zip(results[mode]["sequences_scores"],
                                                        perturbed[mode]["sequences_scores"]))
                results[mode]["score_change_under_perturbation"] = max(
                    spread, results[mode].get("score_change_under_perturbation", 0.0))
    for mode in ("constrained_beam", "constrained_beam3"):
        for seq, score in zip(results[mode]["sequences"], results[mode]["sequences_scores"]):
            assert score > -1e3, (mode, score)
            assert strip_seq(seq) in trie_seqs, (mode, seq)
    # With 5 beams and a 5-sequence trie, beam search must return the whole trie per input.
    rows = results["constrained_beam"]["sequences"]
    for b in range(len(gen_texts)):
        got = sorted(tuple(strip_seq(s)) for s in rows[5 * b:5 * b + 5])
        assert got == sorted(map(tuple, trie_seqs)), (b, got)

    gen = dict(
        input_texts=gen_texts, input_ids=gen_ids, attention_mask=gen_mask,
        decoder_start_token_id=PAD, pad_token_id=PAD, eos_token_id=EOS,
        trie=dict(texts=trie_texts, sequences=trie_seqs,
                  rule="allowed tokens = children of the generated prefix (after the decoder "
                       "start token) in the trie of `sequences`; a prefix outside the trie "
                       "(only beams already at -inf or HF's -1e9 start score) gets [pad]"),
        note="sequences are HF's output rows: decoder start token first, padded with pad after "
             "eos to the longest row; rows are grouped per input (num_return_sequences each, "
             "best first)",
        **results)
    dump_json(gen, os.path.join(out_dir, "generate.json"))
    return out_dir


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--out", default=os.path.join(here, "..", "Tests", "T5Tests", "Fixtures"))
    ap.add_argument("--vocab-size", type=int, default=320)
    ap.add_argument("--pretrain-steps", type=int, default=150)
    args = ap.parse_args()
    torch.set_num_threads(1)
    torch.use_deterministic_algorithms(True)
    out_root = os.path.abspath(args.out)
    os.makedirs(out_root, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        sp_path, sp_bytes, corpus_bytes = train_spm(tmp, args.vocab_size)
        sp = spm.SentencePieceProcessor(model_file=sp_path)
        assert sp.pad_id() == PAD and sp.eos_id() == EOS and sp.unk_id() == UNK
        assert sp.bos_id() == -1
        for style in ("v1_0", "v1_1"):
            d = build(style, out_root, sp_path, sp, args)
            print(f"wrote {d}")
    print(json.dumps(dict(python=sys.version.split()[0], torch=torch.__version__,
                          transformers=transformers.__version__,
                          sentencepiece=spm.__version__, vocab_size=sp.get_piece_size(),
                          spm_corpus_bytes=corpus_bytes)))


if __name__ == "__main__":
    main()
