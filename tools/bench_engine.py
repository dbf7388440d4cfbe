#!/usr/bin/env python3
"""PyTorch CPU reference for `make bench-engine` (developer tool): the same pre-norm T5-style block
as Sources/BenchEngine/main.swift (RMS norm, q/k/v/o without bias, [1, H, T, T] position bias and
padding mask, ReLU FFN 4x, residuals), batch 64 x 128 tokens, d_model 128 and 256, 4 heads,
float32, 2 threads. Prints "RESULT <d_model> <median ms per forward+backward step>"."""
import argparse
import time

import torch


class Block(torch.nn.Module):
    def __init__(self, d, heads, tokens):
        super().__init__()
        self.d, self.h = d, heads
        lin = lambda i, o: torch.nn.Linear(i, o, bias=False)
        self.q, self.k, self.v, self.o = lin(d, d), lin(d, d), lin(d, d), lin(d, d)
        self.wi, self.wo = lin(d, 4 * d), lin(4 * d, d)
        self.n1 = torch.nn.Parameter(torch.ones(d))
        self.n2 = torch.nn.Parameter(torch.ones(d))
        self.pos = torch.nn.Parameter(torch.randn(1, heads, tokens, tokens) * 0.1)

    @staticmethod
    def rms(x, w):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + 1e-6) * w

    def forward(self, x, mask):
        B, T, d = x.shape
        H, D = self.h, d // self.h
        h = self.rms(x, self.n1)
        split = lambda t: t.view(B, T, H, D).transpose(1, 2)
        q, k, v = split(self.q(h)), split(self.k(h)), split(self.v(h))
        scores = q @ k.transpose(-1, -2) + self.pos + mask
        attn = torch.softmax(scores.float(), dim=-1)
        ctx = (attn @ v).transpose(1, 2).reshape(B, T, d)
        x1 = x + self.o(ctx)
        return x1 + self.wo(torch.relu(self.wi(self.rms(x1, self.n2))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--steps", type=int, default=10)
    args = ap.parse_args()
    torch.set_num_threads(2)
    torch.manual_seed(0)
    print(f"PyTorch {torch.__version__}, {torch.get_num_threads()} threads")
    B, T, H = 64, 128, 4
    for d in (128, 256):
        block = Block(d, H, T)
        x = torch.randn(B, T, d)
        mask = torch.zeros(B, 1, 1, T)
        for b in range(B):
            mask[b, 0, 0, T - b % 16:] = -1e9
        dout = torch.randn(B, T, d)
        times = []
        for i in range(args.steps + 2):
            block.zero_grad(set_to_none=True)
            t0 = time.perf_counter()
            block(x, mask).backward(dout)
            if i >= 2:
                times.append(time.perf_counter() - t0)
        times.sort()
        ms = times[len(times) // 2] * 1000
        print(f"PyTorch d_model {d:3d}: {ms:7.1f} ms/step fwd+bwd")
        print(f"RESULT {d} {ms:.2f}")


if __name__ == "__main__":
    main()
