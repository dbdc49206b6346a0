"""A plain PyTorch PBN (same model, loss and loop as ``bayes.ncd.pbn``), timed.

The reference for ``benchmarks/ncd.py --timing``: imported there when torch is importable, or run
as a script by another interpreter that has torch (``--torch-python``)::

    python benchmarks/ncd_torch.py DATA.npz '{"latent_dim": 11, "lr": 0.003, ...}' 200

prints the training seconds of ``epochs`` epochs (batch 512, AdamW, per-epoch reshuffle).
"""

from __future__ import annotations

import json
import sys
import time


def torch_pbn_seconds(x, y, hp: dict, epochs: int, threads: int | None = 2) -> float:
    """Trains the PyTorch PBN on ``x`` (known rows labelled ``0..C-1``, others -1); seconds."""
    import torch
    from torch import nn

    if threads:
        torch.set_num_threads(threads)
    d, m, c = x.shape[1], int(hp["latent_dim"]), int(y.max()) + 1
    h1, h2, p = 3 * d // 4, d // 2, float(hp["p_dropout"])

    def block(i, o):
        return [nn.Linear(i, o), nn.ReLU(), nn.BatchNorm1d(o), nn.Dropout(p)]

    enc = nn.Sequential(*block(d, h1), *block(h1, h2), nn.Linear(h2, m))
    dec = nn.Sequential(*block(m, h2), *block(h2, h1), nn.Linear(h1, d))
    cls = nn.Linear(m, c)
    params = [*enc.parameters(), *dec.parameters(), *cls.parameters()]
    opt = torch.optim.AdamW(params, lr=float(hp["lr"]))
    xt, yt = torch.tensor(x), torch.tensor(y, dtype=torch.long)
    w = float(hp["w"])
    start = time.perf_counter()
    for _ in range(epochs):
        perm = torch.randperm(len(xt))
        for b in range(0, len(xt), 512):
            idx = perm[b : b + 512]
            if len(idx) < 2:
                continue
            xb, yb = xt[idx], yt[idx]
            z = nn.functional.normalize(enc(xb), dim=1)
            known = yb >= 0
            ce = nn.functional.cross_entropy(cls(z[known]), yb[known]) if known.any() else 0.0
            rec = ((dec(z) - xb) ** 2).sum() / len(xb)
            loss = w * ce + (1 - w) * rec
            opt.zero_grad()
            loss.backward()
            opt.step()
    return time.perf_counter() - start


if __name__ == "__main__":
    import numpy as np

    data = np.load(sys.argv[1])
    print(torch_pbn_seconds(data["x"], data["y"], json.loads(sys.argv[2]), int(sys.argv[3])))
