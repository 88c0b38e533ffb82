"""The seed workload in PyTorch, eager (or `--compile` for torch.compile).

Usage: python torch_seed.py DATA.csv BATCH EPOCHS [--seed N] [--compile]
Prints one JSON line like keras_seed.py. Keras's defaults reproduced: Glorot-uniform weights,
zero biases, Adam(lr=1e-3, eps=1e-7), a reshuffle every epoch, validation every epoch.
"""
import json
import sys
import time

import torch
from torch import nn

from common import load

path, batch, epochs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
compiled = "--compile" in sys.argv
seed = int(sys.argv[sys.argv.index("--seed") + 1]) if "--seed" in sys.argv else 42
torch.manual_seed(seed)
x, y, xv, yv = load(path)
x, y = torch.from_numpy(x), torch.from_numpy(y).unsqueeze(1)
xv, yv = torch.from_numpy(xv), torch.from_numpy(yv).unsqueeze(1)
model = nn.Sequential(nn.Linear(x.shape[1], 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(),
                      nn.Linear(64, 1))
for m in model:
    if isinstance(m, nn.Linear):
        nn.init.xavier_uniform_(m.weight)
        nn.init.zeros_(m.bias)
opt = torch.optim.Adam(model.parameters(), lr=1e-3, eps=1e-7)
loss_fn = nn.BCEWithLogitsLoss()
step = torch.compile(model) if compiled else model


def evaluate():
    with torch.no_grad():
        z = step(xv)
        return loss_fn(z, yv).item(), ((z > 0).float() == yv).float().mean().item()


t = time.perf_counter()
for epoch in range(epochs):
    e0 = time.perf_counter()
    perm = torch.randperm(len(x))
    total = torch.zeros(())
    for i in range(0, len(x), batch):
        idx = perm[i:i + batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(step(x[idx]), y[idx])
        loss.backward()
        opt.step()
        total += loss.detach() * len(idx)
    vl, va = evaluate()
    print(f"epoch {epoch + 1}/{epochs} - {time.perf_counter() - e0:.1f}s - loss {total.item() / len(x):.4f}"
          f" - val_loss {vl:.4f} - val_accuracy {va:.4f}", file=sys.stderr, flush=True)
train_seconds = time.perf_counter() - t
vl, va = evaluate()
print(json.dumps({"val_accuracy": va, "val_loss": vl, "train_seconds": train_seconds,
                  "samples_per_second": len(x) * epochs / train_seconds}))
