#!/usr/bin/env python3
"""What a k-class head costs: the seed workload (100,000 x 100, ordered 80/20 split, l2
scaling, 100-128-64-k, Adam 1e-3, batch 32, 10 epochs, validation every epoch) with a 10-class
label, in burnfit, Keras on JAX and PyTorch (eager), and burnfit on the same rows with a binary
label (class >= 5), to compare a 10-wide softmax head with a 1-wide sigmoid one.

Usage (nothing is written into the repository except what you redirect):
  ~/.cache/burnfit-bench-venv/bin/python bench/multiclass/speed.py \
      --burnfit PATH/TO/burnfit [--repeats 3] [--work /tmp/burnfit-mcspeed]

Each system runs once per repeat, alternately; whole-process wall clock (load to final
evaluation) and the training loop's own seconds are kept; medians are printed as a Markdown
table with the CPU's name.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

EPOCHS, BATCH, CLASSES = 10, 32, 10

PEER = r'''
import json, sys, time
import numpy as np
path, system, seed = sys.argv[1], sys.argv[2], int(sys.argv[3])
data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float32)
x, y = data[:, :-1], data[:, -1].astype(np.int64)
n = int(0.8 * len(x))
norms = np.linalg.norm(x[:n], axis=0); norms[norms == 0] = 1.0; x = x / norms
x, y, xv, yv = x[:n], y[:n], x[n:], y[n:]
k = int(y.max()) + 1
if system == "keras-jax":
    import os; os.environ["KERAS_BACKEND"] = "jax"
    import keras
    keras.utils.set_random_seed(seed)
    m = keras.Sequential([keras.Input(shape=(x.shape[1],)), keras.layers.Dense(128, activation="relu"),
                          keras.layers.Dense(64, activation="relu"), keras.layers.Dense(k, activation="softmax")])
    m.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    t = time.perf_counter()
    m.fit(x, y, epochs=EPOCHS, batch_size=BATCH, validation_data=(xv, yv), verbose=0)
    seconds = time.perf_counter() - t
    acc = float(m.evaluate(xv, yv, batch_size=8192, verbose=0)[1])
else:
    import torch
    from torch import nn
    torch.manual_seed(seed)
    X, Y, XV, YV = map(torch.from_numpy, (x, y, xv, yv))
    m = nn.Sequential(nn.Linear(x.shape[1], 128), nn.ReLU(), nn.Linear(128, 64), nn.ReLU(), nn.Linear(64, k))
    for l in m:
        if isinstance(l, nn.Linear):
            nn.init.xavier_uniform_(l.weight); nn.init.zeros_(l.bias)
    opt = torch.optim.Adam(m.parameters(), lr=1e-3, eps=1e-7)
    f = nn.CrossEntropyLoss()
    t = time.perf_counter()
    for epoch in range(EPOCHS):
        perm = torch.randperm(len(X))
        for i in range(0, len(X), BATCH):
            idx = perm[i:i + BATCH]
            opt.zero_grad(set_to_none=True)
            f(m(X[idx]), Y[idx]).backward()
            opt.step()
        with torch.no_grad():
            z = m(XV); f(z, YV).item()
    seconds = time.perf_counter() - t
    with torch.no_grad():
        acc = float((m(XV).argmax(1) == YV).float().mean())
print(json.dumps({"val_accuracy": acc, "train_seconds": seconds}))
'''.replace("EPOCHS", str(EPOCHS)).replace("BATCH", str(BATCH))


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def make_data(work: Path) -> tuple[Path, Path]:
    from sklearn.datasets import make_classification

    x, y = make_classification(n_samples=100_000, n_features=100, n_informative=10,
                               n_redundant=0, n_classes=CLASSES, n_clusters_per_class=2,
                               class_sep=1.0, random_state=1)
    work.mkdir(parents=True, exist_ok=True)
    multi, binary = work / "ten.csv", work / "two.csv"
    header = ",".join(f"f{j}" for j in range(100)) + ",label"
    for path, labels in ((multi, y), (binary, (y >= 5).astype(int))):
        if not path.exists():
            np.savetxt(path, np.column_stack([x, labels]), delimiter=",", header=header,
                       comments="", fmt=["%.6g"] * 100 + ["%d"])
    return multi, binary


def burnfit(exe: str, work: Path, data: Path, loss: str, tag: str) -> dict:
    cfg = work / f"{tag}.toml"
    cfg.write_text(
        f'seed = 42\n[data]\npath = "{data.name}"\nlabel = "label"\nnormalize = "l2"\n'
        f'[data.split]\ntrain = 0.8\nshuffle = false\n'
        f'[train]\nloss = "{loss}"\nepochs = {EPOCHS}\nbatch_size = {BATCH}\n')
    out = work / f"run-{tag}"
    if out.exists():
        import shutil
        shutil.rmtree(out)
    t = time.perf_counter()
    r = subprocess.run([exe, "train", "--no-cache", "--config", str(cfg), "--out", str(out)],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"burnfit failed:\n{r.stderr[-2000:]}")
    s = json.loads((out / "summary.json").read_text())
    return {"wall": wall, "train_seconds": s["train_seconds"],
            "val_accuracy": s["evaluation"]["accuracy"]}


def peer(py: str, work: Path, data: Path, system: str) -> dict:
    script = work / "peer.py"
    script.write_text(PEER)
    t = time.perf_counter()
    r = subprocess.run([py, str(script), str(data), system, "42"], capture_output=True, text=True)
    wall = time.perf_counter() - t
    if r.returncode != 0:
        sys.exit(f"{system} failed:\n{r.stderr[-2000:]}")
    out = json.loads(r.stdout.strip().splitlines()[-1])
    out["wall"] = wall
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--burnfit", required=True)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--work", default="/tmp/burnfit-mcspeed")
    a = ap.parse_args()
    work = Path(a.work)
    multi, binary = make_data(work)
    runs: dict[str, list[dict]] = {}
    for rep in range(a.repeats):
        for name, fn in (
            ("burnfit, 10 classes", lambda: burnfit(a.burnfit, work, multi, "cross_entropy", "ten")),
            ("burnfit, binary", lambda: burnfit(a.burnfit, work, binary, "bce", "two")),
            ("Keras/JAX, 10 classes", lambda: peer(sys.executable, work, multi, "keras-jax")),
            ("PyTorch, 10 classes", lambda: peer(sys.executable, work, multi, "torch")),
        ):
            r = fn()
            runs.setdefault(name, []).append(r)
            print(rep + 1, name, r, file=sys.stderr, flush=True)
    (work / "results.json").write_text(json.dumps(runs, indent=1))
    print(f"{cpu_name()}, {os.cpu_count()} cores; medians of {a.repeats}\n")
    print("| system | whole run (s) | training loop (s) | validation accuracy |")
    print("|---|---|---|---|")
    for name, rs in runs.items():
        med = lambda k: statistics.median(r[k] for r in rs)
        print(f"| {name} | {med('wall'):.2f} | {med('train_seconds'):.2f} | {med('val_accuracy'):.4f} |")


if __name__ == "__main__":
    main()
