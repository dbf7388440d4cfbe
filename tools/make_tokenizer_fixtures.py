#!/usr/bin/env python3
"""Writes the SentencePiece parity fixtures for Tests/TokenizerTests (developer tool, not CI).

Trains two small models with the Python `sentencepiece` package on the corpus in
Tests/TokenizerTests/Fixtures/corpus.txt and records, for a set of test strings, the ids, pieces
and decoded text the Python package produces. The Swift tests load the same .model files through
libsentencepiece and must produce identical output.

    pip install sentencepiece   # the version used is recorded in the fixtures and README
    python3 tools/make_tokenizer_fixtures.py

Models:
  unigram.model  unigram, vocab 600, byte fallback, T5 ids (pad 0, eos 1, unk 2, no bos),
                 T5 sentinels <extra_id_0>..<extra_id_4> as user-defined symbols
  bpe.model      BPE, vocab 400, no byte fallback (unseen characters become <unk>),
                 character coverage 0.98, bos 3
"""
import hashlib
import io
import json
import os
import sys

import sentencepiece as spm

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "TokenizerTests", "Fixtures")
CORPUS = os.path.join(FIXTURES, "corpus.txt")

MODELS = {
    "unigram": dict(
        model_type="unigram", vocab_size=600, character_coverage=0.9995, byte_fallback=True,
        pad_id=0, eos_id=1, unk_id=2, bos_id=-1,
        user_defined_symbols=[f"<extra_id_{i}>" for i in range(5)],
    ),
    "bpe": dict(
        model_type="bpe", vocab_size=400, character_coverage=0.98, byte_fallback=False,
        pad_id=0, eos_id=1, unk_id=2, bos_id=3,
    ),
}


def test_strings():
    with open(CORPUS, encoding="utf-8") as f:
        corpus_lines = [line.rstrip("\n") for line in f]
    # ~20 KB: the corpus three times over, joined by spaces, to exercise long inputs.
    very_long = " ".join(corpus_lines * 3)
    return [
        ("plain", "hello world"),
        ("in_corpus", "The wireless headphones offer noise cancelling and up to thirty hours of battery life."),
        ("accents", "Café crème brûlée, naïve façade, Größe, Ærøskøbing, señor, Dvořák"),
        ("decomposed_accents", "Cafe\u0301 cre\u0300me"),
        ("fullwidth_nfkc", "ＡＢＣ１２３ ｶﾀｶﾅ ﬁle ①"),
        ("greek_cyrillic", "Ελληνικά και русский текст"),
        ("emoji", "Love it 😍🔥 family 👨‍👩‍👧 flag 🇫🇷 ⭐⭐"),
        ("cjk", "这个背包很轻 東京タワーに行きました 한국어 텍스트"),
        ("unseen_script", "ქართული ენა and हिन्दी and עברית"),
        ("runs_of_spaces", "   leading and   runs   of    spaces   trailing   "),
        ("tabs_newlines", "tabs\tand\nnewlines\r\nend"),
        ("digits_symbols", "Price $49.99 → €45,00 (−30%) #1742 @user ~/path_x"),
        ("sentinels", "<extra_id_0> masked span <extra_id_1> and <extra_id_4>."),
        ("special_piece_text", "<pad> </s> <unk> <s> <0x41>"),
        ("nul_inside", "a\u0000b"),
        ("empty", ""),
        ("single_space", " "),
        ("very_long", very_long),
    ]


def train(name, options):
    with open(CORPUS, encoding="utf-8") as f:
        sentences = [line.rstrip("\n") for line in f if line.strip()]
    model = io.BytesIO()
    spm.SentencePieceTrainer.train(
        sentence_iterator=iter(sentences), model_writer=model, num_threads=1,
        minloglevel=1, **options)
    data = model.getvalue()
    with open(os.path.join(FIXTURES, f"{name}.model"), "wb") as f:
        f.write(data)
    return data


def compact_json(value, depth=0):
    """JSON with objects and lists of objects indented, and every other list on one line."""
    pad = " " * depth
    if isinstance(value, dict):
        items = [f'{pad} {json.dumps(k)}: {compact_json(v, depth + 1).lstrip()}' for k, v in value.items()]
        return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and value and isinstance(value[0], dict):
        return pad + "[\n" + ",\n".join(compact_json(v, depth + 1) for v in value) + "\n" + pad + "]"
    return pad + json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def main():
    out = {"sentencepiece_version": spm.__version__, "python": sys.version.split()[0], "models": []}
    for name, options in MODELS.items():
        data = train(name, options)
        sp = spm.SentencePieceProcessor(model_proto=data)
        cases = []
        for case_name, text in test_strings():
            ids = sp.encode(text, out_type=int)
            pieces = sp.encode(text, out_type=str)
            cases.append({
                "name": case_name, "text": text, "ids": ids, "pieces": pieces,
                "decoded": sp.decode(ids),
            })
        vocab = [sp.id_to_piece(i) for i in range(sp.get_piece_size())]
        out["models"].append({
            "name": name, "file": f"{name}.model", "options": {k: v for k, v in options.items()},
            "sha256": hashlib.sha256(data).hexdigest(), "vocab_size": sp.get_piece_size(),
            "pad_id": sp.pad_id(), "eos_id": sp.eos_id(), "unk_id": sp.unk_id(), "bos_id": sp.bos_id(),
            "vocab": vocab,
            "byte_ids": [i for i in range(sp.get_piece_size()) if sp.is_byte(i)],
            "control_ids": [i for i in range(sp.get_piece_size()) if sp.is_control(i)],
            "cases": cases,
        })
    with open(os.path.join(FIXTURES, "expected.json"), "w", encoding="utf-8") as f:
        # Compact (one line per case) keeps the file small; ids lists dominate its size.
        f.write(compact_json(out))
        f.write("\n")
    print(f"wrote {FIXTURES}/expected.json and {', '.join(m + '.model' for m in MODELS)} "
          f"with sentencepiece {spm.__version__}")


if __name__ == "__main__":
    main()
