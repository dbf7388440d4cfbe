#!/usr/bin/env python3
"""Writes the engine test fixtures (developer tool; never run by CI or tests).

  .venv/bin/python tools/make_engine_fixtures.py

Outputs in Tests/EngineTests/Fixtures/:
  adamw.json            torch.optim.AdamW trajectories (groups with and without weight decay,
                        with and without torch.nn.utils.clip_grad_norm_), plus the
                        transformers get_linear_schedule_with_warmup multipliers when available.
  python.safetensors    a file written by the Python `safetensors` package (F32, F16, BF16,
                        I64, I32 tensors and metadata); the expected values are in
                        python_safetensors.json.
"""
import json
import os

import numpy as np
import torch
import safetensors
from safetensors.torch import save_file

HERE = os.path.dirname(os.path.abspath(__file__))
OUT = os.path.join(HERE, "..", "Tests", "EngineTests", "Fixtures")


def adamw_case(name, lr, betas, eps, decays, max_norm, steps, seed):
    g = torch.Generator().manual_seed(seed)
    shapes = {"w": (3, 4), "b": (4,), "e": (5, 2)}
    params = {k: torch.randn(s, generator=g, dtype=torch.float32) for k, s in shapes.items()}
    initial = {k: {"shape": list(v.shape), "values": v.flatten().tolist()} for k, v in params.items()}
    tparams = {k: torch.nn.Parameter(v.clone()) for k, v in params.items()}
    groups = [{"params": [tparams[k] for k in names], "weight_decay": wd} for names, wd in decays]
    opt = torch.optim.AdamW(groups, lr=lr, betas=betas, eps=eps)
    trajectory = []
    for _ in range(steps):
        grads = {k: (torch.randn(shapes[k], generator=g) * 3).float() for k in shapes}
        for k, p in tparams.items():
            p.grad = grads[k].clone()
        total = None
        if max_norm is not None:
            total = float(torch.nn.utils.clip_grad_norm_(list(tparams.values()), max_norm))
        opt.step()
        trajectory.append({
            "grads": {k: v.flatten().tolist() for k, v in grads.items()},
            "total_norm": total,
            "params_after": {k: p.detach().flatten().tolist() for k, p in tparams.items()},
        })
    return {
        "name": name, "lr": lr, "beta1": betas[0], "beta2": betas[1], "eps": eps, "max_norm": max_norm,
        "groups": [{"names": names, "weight_decay": wd} for names, wd in decays],
        "initial": initial, "steps": trajectory,
    }


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = [
        adamw_case("no-decay", 1e-2, (0.9, 0.999), 1e-8, [(["w", "b", "e"], 0.0)], None, 4, 1),
        adamw_case("decay-groups", 3e-3, (0.9, 0.98), 1e-6, [(["w", "e"], 0.1), (["b"], 0.0)], None, 4, 2),
        adamw_case("decay-clipped", 5e-2, (0.8, 0.99), 1e-8, [(["w", "e"], 0.01), (["b"], 0.0)], 1.0, 5, 3),
    ]
    fixture = {
        "generator": "tools/make_engine_fixtures.py",
        "torch_version": torch.__version__,
        "safetensors_version": safetensors.__version__,
        "numpy_version": np.__version__,
        "adamw_cases": cases,
    }
    try:
        import transformers
        from transformers import get_linear_schedule_with_warmup
        p = torch.nn.Parameter(torch.zeros(1))
        opt = torch.optim.AdamW([p], lr=1.0)
        sched = get_linear_schedule_with_warmup(opt, num_warmup_steps=3, num_training_steps=10)
        mults = []
        for _ in range(12):
            mults.append(opt.param_groups[0]["lr"])
            opt.step()
            sched.step()
        fixture["schedule"] = {"warmup": 3, "total": 10, "multipliers": mults,
                               "transformers_version": transformers.__version__}
    except ImportError:
        pass
    with open(os.path.join(OUT, "adamw.json"), "w") as f:
        json.dump(fixture, f, indent=1)

    g = torch.Generator().manual_seed(4)
    f32 = torch.randn(2, 3, generator=g)
    tensors = {
        "encoder.weight": f32,
        "half": torch.tensor([0.5, -2.0, 65504.0, 6.1035e-05, 1e-7], dtype=torch.float16),
        "brain": torch.tensor([[1.5, -3.25], [1e10, -1e-10]], dtype=torch.bfloat16),
        "ids": torch.tensor([[0, 5, -100], [7, 2**31 - 1, -(2**31)]], dtype=torch.int64),
        "ids32": torch.tensor([3, -1, 9], dtype=torch.int32),
        "scalar": torch.tensor(2.5, dtype=torch.float32),
        "empty": torch.zeros(0, 4, dtype=torch.float32),
    }
    save_file(tensors, os.path.join(OUT, "python.safetensors"), metadata={"format": "pt", "note": "fixture"})
    expected = {k: {"shape": list(v.shape), "values": v.float().flatten().tolist() if v.is_floating_point()
                    else v.flatten().tolist()} for k, v in tensors.items()}
    with open(os.path.join(OUT, "python_safetensors.json"), "w") as f:
        json.dump({"safetensors_version": safetensors.__version__, "torch_version": torch.__version__,
                   "metadata": {"format": "pt", "note": "fixture"}, "tensors": expected}, f, indent=1)
    print("wrote fixtures to", os.path.normpath(OUT))


if __name__ == "__main__":
    main()
