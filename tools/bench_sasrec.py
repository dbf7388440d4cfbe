#!/usr/bin/env python3
"""PyTorch reference timing for the Swift SASRec baseline (developer tool, not used by the product).

Same model and batching as Sources/Baselines: RecBole's SASRec layout (item + learned position
embeddings, LayerNorm, dropout, post-LN blocks with GELU FFN), right padding, loss at every real
position, windows of at most max_length + 1 items, batches sorted by length inside pools of 32
batches. Times one training epoch (CE or BCE) and one full-ranking scoring pass over all users,
with 2 threads. Prints one JSON line per loss.

    .venv/bin/python tools/bench_sasrec.py --data ../shared/datasets/beauty [--epochs 1]
"""
import argparse, json, math, random, time
import torch
import torch.nn as nn
import torch.nn.functional as F


def load(folder):
    ids, seqs = {}, []
    with open(f"{folder}/user_sequence.txt") as f:
        for line in f:
            parts = line.split()
            if len(parts) < 4:  # user + at least 3 items
                continue
            seqs.append([ids.setdefault(i, len(ids)) for i in parts[1:]])
    return len(ids), seqs


class Block(nn.Module):
    def __init__(self, d, heads, inner, p):
        super().__init__()
        self.heads = heads
        self.q, self.k, self.v, self.o = (nn.Linear(d, d) for _ in range(4))
        self.n1, self.n2 = nn.LayerNorm(d, eps=1e-12), nn.LayerNorm(d, eps=1e-12)
        self.f1, self.f2 = nn.Linear(d, inner), nn.Linear(inner, d)
        self.drop = nn.Dropout(p)

    def forward(self, x, mask):
        b, t, d = x.shape
        h = self.heads
        split = lambda y: y.view(b, t, h, d // h).transpose(1, 2)
        s = split(self.q(x)) @ split(self.k(x)).transpose(-1, -2) / math.sqrt(d // h) + mask
        c = (self.drop(s.softmax(-1)) @ split(self.v(x))).transpose(1, 2).reshape(b, t, d)
        x = self.n1(self.drop(self.o(c)) + x)
        return self.n2(self.drop(self.f2(F.gelu(self.f1(x), approximate="tanh"))) + x)


class SASRec(nn.Module):
    def __init__(self, n, d=64, blocks=2, heads=2, inner=256, p=0.5, max_len=50):
        super().__init__()
        self.item = nn.Embedding(n + 1, d, padding_idx=0)
        self.pos = nn.Embedding(max_len, d)
        self.norm = nn.LayerNorm(d, eps=1e-12)
        self.drop = nn.Dropout(p)
        self.blocks = nn.ModuleList(Block(d, heads, inner, p) for _ in range(blocks))
        for m in self.modules():
            if isinstance(m, (nn.Linear, nn.Embedding)):
                m.weight.data.normal_(0, 0.02)
            if isinstance(m, nn.Linear):
                m.bias.data.zero_()

    def forward(self, tokens, lengths):
        b, t = tokens.shape
        x = self.drop(self.norm(self.item(tokens) + self.pos.weight[:t]))
        q = torch.arange(t)
        allowed = (q[None, :] <= q[:, None])[None] & (q[None, None, :] < lengths[:, None, None])
        mask = torch.where(allowed, 0.0, -1e9)[:, None]
        for blk in self.blocks:
            x = blk(x, mask)
        return x


def windows_of(train, max_len):
    out = []
    for u, items in enumerate(train):
        end = len(items)
        while end >= 2:
            start = max(0, end - max_len - 1)
            out.append((u, items[start:end - 1], items[start + 1:end]))
            end = start + 1
    return out


def batches(windows, bs, pool, rng):
    order = list(range(len(windows)))
    rng.shuffle(order)
    for s in range(0, len(order), bs * pool):
        chunk = sorted(order[s:s + bs * pool], key=lambda i: len(windows[i][1]))
        bl = [chunk[i:i + bs] for i in range(0, len(chunk), bs)]
        rng.shuffle(bl)
        yield from bl


def pad(rows):
    t = max(len(r) for r in rows)
    tok = torch.zeros(len(rows), t, dtype=torch.long)
    for i, r in enumerate(rows):
        tok[i, :len(r)] = torch.tensor(r) + 1
    return tok, torch.tensor([len(r) for r in rows])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--data", required=True)
    ap.add_argument("--epochs", type=int, default=1)
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--losses", default="ce,bce")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    n, seqs = load(args.data)
    train = [s[:-2] for s in seqs]
    wins = windows_of(train, 50)
    samples = sum(len(w[2]) for w in wins)
    seen = [set(t) for t in train]
    for loss_kind in args.losses.split(","):
        model = SASRec(n)
        opt = torch.optim.Adam(model.parameters(), lr=1e-3)
        rng = random.Random(0)
        epoch_times, losses = [], []
        for _ in range(args.epochs):
            model.train()
            t0 = time.time()
            for ids in batches(wins, args.batch_size, 32, rng):
                tok, lengths = pad([wins[i][1] for i in ids])
                h = model(tok, lengths)
                real = torch.arange(tok.shape[1])[None, :] < lengths[:, None]
                states = h[real]  # [R, d], row by row
                targets = torch.tensor([x for i in ids for x in wins[i][2]])
                if loss_kind == "ce":
                    loss = F.cross_entropy(states @ model.item.weight[1:].T, targets)
                else:
                    negs = []
                    for i in ids:
                        for _ in wins[i][2]:
                            j = rng.randrange(n)
                            while j in seen[wins[i][0]]:
                                j = rng.randrange(n)
                            negs.append(j)
                    pos = (states * model.item(targets + 1)).sum(-1)
                    neg = (states * model.item(torch.tensor(negs) + 1)).sum(-1)
                    loss = F.binary_cross_entropy_with_logits(pos, torch.ones_like(pos)) + \
                        F.binary_cross_entropy_with_logits(neg, torch.zeros_like(neg))
                opt.zero_grad()
                loss.backward()
                opt.step()
                losses.append(loss.item())
            epoch_times.append(time.time() - t0)
        # Full-ranking scoring of every user's test history (last 50 items), 512 users per batch.
        model.eval()
        t0 = time.time()
        with torch.no_grad():
            hist = [s[:-1][-50:] for s in seqs]
            for s in range(0, len(hist), 512):
                tok, lengths = pad(hist[s:s + 512])
                h = model(tok, lengths)[torch.arange(len(lengths)), lengths - 1]
                scores = h @ model.item.weight[1:].T
                target = torch.tensor([q[-1] for q in seqs[s:s + 512]])
                _ = (scores > scores[torch.arange(len(target)), target][:, None]).sum(1)
        eval_s = time.time() - t0
        print(json.dumps({"framework": f"torch {torch.__version__}", "threads": args.threads, "loss": loss_kind,
                          "users": len(seqs), "items": n, "samples_per_epoch": samples,
                          "epoch_seconds": [round(x, 2) for x in epoch_times],
                          "samples_per_second": round(samples / min(epoch_times)),
                          "mean_loss_last_epoch": sum(losses[-(len(losses) // args.epochs):]) / (len(losses) // args.epochs),
                          "eval_users_per_second": round(len(seqs) / eval_s)}), flush=True)


if __name__ == "__main__":
    main()
