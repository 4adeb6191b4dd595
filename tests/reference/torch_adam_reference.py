#!/usr/bin/python3
"""Reference trajectories of torch.optim.Adam for tests/training/test_layers.cpp: two
parameters (a weight with L2 weight decay and a bias without, as memcarlo's trainer groups
them) given a fixed sequence of gradients and learning rates, with the parameter values after
every step as PyTorch computes them in float32.

Two cases: "default" (betas 0.9, 0.999, eps 1e-8, no weight decay) and "tuned" (betas 0.8,
0.99, eps 1e-3 so that eps is not negligible, weight decay 0.05 on the weight only). Gradients
and initial values lie on a grid of 1/64, exact in float32; some gradients are zero, so v = 0
and the step is set by eps. The learning rate changes every 5 steps, as a schedule would.

Writes torch_adam_reference.csv beside this script:
  case,step,param,index,lr,grad,value   (value after the step; step 0 rows hold the initial
                                         values and no gradient)
Rerun with: /usr/bin/python3 tests/reference/torch_adam_reference.py
"""
import os

import numpy as np
import torch

STEPS = 20
SHAPES = {"weight": 6, "bias": 3}
CASES = {
    "default": dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0),
    "tuned": dict(betas=(0.8, 0.99), eps=1e-3, weight_decay=0.05),
}


def grid(rng, n, scale):
    return (np.round(rng.uniform(-scale, scale, n) * 64) / 64).astype(np.float32)


rows = []
for case, options in CASES.items():
    rng = np.random.default_rng(20261206)
    params = {name: torch.tensor(grid(rng, n, 2.0)) for name, n in SHAPES.items()}
    groups = [{"params": [params["weight"]], "weight_decay": options["weight_decay"]},
              {"params": [params["bias"]], "weight_decay": 0.0}]
    opt = torch.optim.Adam(groups, lr=0.01, betas=options["betas"], eps=options["eps"],
                           foreach=False)
    for name, p in params.items():
        for i, v in enumerate(p.tolist()):
            rows.append((case, 0, name, i, 0.0, 0.0, v))
    for step in range(1, STEPS + 1):
        lr = [0.01, 0.05, 0.002, 0.1][(step - 1) // 5]
        for group in opt.param_groups:
            group["lr"] = lr
        grads = {}
        for name, p in params.items():
            g = grid(rng, SHAPES[name], 1.0 if step % 3 else 8.0)
            g[(step + np.arange(len(g))) % 4 == 0] = 0.0  # zeros, some in the first step
            grads[name] = g
            p.grad = torch.tensor(g)
        opt.step()
        for name, p in params.items():
            for i, v in enumerate(p.tolist()):
                rows.append((case, step, name, i, lr, float(grads[name][i]), v))

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "torch_adam_reference.csv")
with open(out, "w") as f:
    f.write(f"# torch {torch.__version__}, written by torch_adam_reference.py\n")
    f.write("case,step,param,index,lr,grad,value\n")
    for r in rows:
        f.write(f"{r[0]},{r[1]},{r[2]},{r[3]},{r[4]!r},{r[5]!r},{r[6]!r}\n")
print(f"wrote {out} ({len(rows)} rows)")
