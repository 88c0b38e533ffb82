#!/usr/bin/env python3
"""DP-SGD reference comparison: burnfit's `[privacy]` training against Opacus.

The same network (input -> 128 ReLU -> 64 ReLU -> 1 sigmoid, Glorot-uniform weights, zero
biases), the same optimiser (Adam, lr 1e-3, eps 1e-7 as burnfit/Keras), batch size 32
(expected size under Poisson sampling), 30 epochs, C = 1.0, on the same stratified 80/20
split (seed 0) of scikit-learn's bundled tables, z-scored with the training rows' mean and
population sd in both tools. For each target epsilon, both tools search sigma themselves.

Opacus is run twice per target:
  * "opacus-prv": `PrivacyEngine()` as shipped (its default accountant is PRV);
  * "opacus-rdp": `PrivacyEngine(accountant="rdp")`, the accountant burnfit implements.
Both use Opacus's `make_private_with_epsilon`, whose sample rate is 1 / len(data_loader)
(= 1 / ceil(n / B)), while burnfit's is B / n; the script prints the sigma each convention
gives so a sigma difference can be traced to its cause.

Usage (from anywhere; nothing is written into the repository except what you redirect):
  ~/.cache/burnfit-bench-venv/bin/python compare_opacus.py \
      --burnfit /work/privbench/burnfit --tables breast_cancer digits --seeds 1 2 3

Writes the CSVs, configs and run folders under --work (default /tmp/burnfit-privbench),
raw per-run results to <work>/results.json, and prints a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import subprocess
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from sklearn.datasets import load_breast_cancer, load_digits
from sklearn.metrics import roc_auc_score
from sklearn.model_selection import train_test_split

EPOCHS = 30
BATCH = 32
LR = 1e-3
ADAM_EPS = 1e-7  # burnfit's (Keras's) Adam epsilon; PyTorch's default is 1e-8
CLIP = 1.0
HIDDEN = (128, 64)
TARGETS = (1.0, 3.0, 8.0)
# delta: a power of ten below 1/n of the training rows (breast_cancer n = 455, digits n = 1437).
DELTA = {"breast_cancer": 1e-3, "digits": 1e-4}


# ----------------------------------------------------------------------------- data
def write_table(name: str, folder: Path) -> tuple[Path, Path]:
    if name == "breast_cancer":
        X, y = load_breast_cancer(return_X_y=True)
    elif name == "digits":
        X, y = load_digits(return_X_y=True)
        y = (y >= 5).astype(int)  # digit < 5 -> 0, >= 5 -> 1
    else:
        raise ValueError(name)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    df["label"] = y.astype(int)
    tr, te = train_test_split(df, test_size=0.2, stratify=y, random_state=0)
    folder.mkdir(parents=True, exist_ok=True)
    trp, tep = folder / "train.csv", folder / "test.csv"
    tr.to_csv(trp, index=False)
    te.to_csv(tep, index=False)
    return trp, tep


def load_xy(trp: Path, tep: Path):
    tr, te = pd.read_csv(trp), pd.read_csv(tep)
    Xtr = tr.drop(columns="label").to_numpy(np.float64)
    Xte = te.drop(columns="label").to_numpy(np.float64)
    mean = Xtr.mean(axis=0)
    sd = Xtr.std(axis=0)  # population sd, as burnfit
    sd[~(sd > 0)] = 1.0  # constant columns: scale 1, as burnfit
    f = lambda X: torch.tensor((X - mean) / sd, dtype=torch.float32)
    return (f(Xtr), torch.tensor(tr["label"].to_numpy(), dtype=torch.float32),
            f(Xte), te["label"].to_numpy())


# ----------------------------------------------------------------------------- torch / opacus
def make_net(d: int) -> torch.nn.Sequential:
    layers, prev = [], d
    for h in HIDDEN:
        layers += [torch.nn.Linear(prev, h), torch.nn.ReLU()]
        prev = h
    layers.append(torch.nn.Linear(prev, 1))
    net = torch.nn.Sequential(*layers)
    for m in net:
        if isinstance(m, torch.nn.Linear):
            torch.nn.init.xavier_uniform_(m.weight)
            torch.nn.init.zeros_(m.bias)
    return net


def run_torch(data, seed: int, target: float | None, delta: float, accountant: str | None):
    from torch.utils.data import DataLoader, TensorDataset

    Xtr, ytr, Xte, yte = data
    torch.manual_seed(seed)
    np.random.seed(seed)
    net = make_net(Xtr.shape[1])
    opt = torch.optim.Adam(net.parameters(), lr=LR, eps=ADAM_EPS)
    g = torch.Generator().manual_seed(seed)
    loader = DataLoader(TensorDataset(Xtr, ytr), batch_size=BATCH, shuffle=True, generator=g)
    loss_fn = torch.nn.BCEWithLogitsLoss()
    engine = None
    t0 = time.perf_counter()
    if target is not None:
        from opacus import PrivacyEngine

        engine = PrivacyEngine(accountant=accountant)
        net, opt, loader = engine.make_private_with_epsilon(
            module=net, optimizer=opt, data_loader=loader, target_epsilon=target,
            target_delta=delta, epochs=EPOCHS, max_grad_norm=CLIP)  # poisson_sampling=True
    for _ in range(EPOCHS):
        net.train()
        for xb, yb in loader:
            if len(xb) == 0:
                continue
            opt.zero_grad()
            loss_fn(net(xb).squeeze(-1), yb).backward()
            opt.step()
    train_s = time.perf_counter() - t0
    net.eval()
    with torch.no_grad():
        p = torch.sigmoid(net(Xte).squeeze(-1)).numpy()
    out = {
        "accuracy": float(((p >= 0.5).astype(int) == yte).mean()),
        "auc": float(roc_auc_score(yte, p)),
        "seconds": train_s,
    }
    if engine is not None:
        out["sigma"] = float(opt.noise_multiplier)
        out["epsilon"] = float(engine.get_epsilon(delta))
        out["sample_rate"] = float(loader.sample_rate)
        out["expected_batch_size"] = int(opt.expected_batch_size)
    return out


# ----------------------------------------------------------------------------- burnfit
def run_burnfit(exe: str, folder: Path, seed: int, target: float | None, delta: float):
    tag = f"burnfit-{'np' if target is None else f'e{target:g}'}-s{seed}"
    cfg = folder / f"{tag}.toml"
    text = (f'seed = {seed}\n[data]\npath = "train.csv"\nlabel = "label"\n'
            f'validation_path = "test.csv"\nnormalize = "zscore"\n'
            f'[model]\nhidden = [{", ".join(map(str, HIDDEN))}]\n'
            f'[train]\nepochs = {EPOCHS}\nbatch_size = {BATCH}\nloss = "bce"\n'
            f'optimizer = "adam"\nlr = {LR}\n')
    if target is not None:
        # noise from a fresh OS key per run (burnfit's default; no noise_seed)
        text += (f'[privacy]\ntarget_epsilon = {target}\nmax_grad_norm = {CLIP}\n'
                 f'delta = {delta}\nsampling = "poisson"\n')
    cfg.write_text(text)
    out_dir = folder / tag
    if out_dir.exists():
        import shutil
        shutil.rmtree(out_dir)
    t0 = time.perf_counter()
    r = subprocess.run([exe, "train", "--config", str(cfg), "--out", str(out_dir)],
                       capture_output=True, text=True)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"burnfit failed ({tag}):\n{r.stderr[-3000:]}")
    s = json.loads((out_dir / "summary.json").read_text())
    out = {
        "accuracy": s["evaluation"]["accuracy"],
        "auc": s["evaluation"]["auc"],
        "seconds": s["train_seconds"],
        "wall_seconds": wall,
        "last_line": r.stdout.strip().splitlines()[-1],
    }
    if target is not None:
        out["sigma"] = s["privacy"]["noise_multiplier"]
        out["epsilon"] = s["privacy"]["epsilon"]
        out["steps"] = s["privacy"]["steps"]
    return out


# ----------------------------------------------------------------------------- report
def ms(xs, fmt="{:.3f}"):
    xs = np.asarray(xs, float)
    sd = xs.std(ddof=1) if len(xs) > 1 else 0.0
    return f"{fmt.format(xs.mean())} ± {fmt.format(sd)}"


def sigma_conventions(n: int, target: float, delta: float):
    """sigma that Opacus's get_noise_multiplier gives under each (q, accountant) pair."""
    from opacus.accountants.utils import get_noise_multiplier

    steps = EPOCHS * math.ceil(n / BATCH)
    res = {}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for qname, q in (("B/n", BATCH / n), ("1/ceil(n/B)", 1 / math.ceil(n / BATCH))):
            for acc in ("rdp", "prv"):
                res[f"{acc} q={qname}"] = get_noise_multiplier(
                    target_epsilon=target, target_delta=delta, sample_rate=q, steps=steps,
                    accountant=acc)
    return steps, res


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--burnfit", default="/work/privbench/burnfit")
    ap.add_argument("--tables", nargs="+", default=["breast_cancer"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--targets", nargs="+", type=float, default=list(TARGETS))
    ap.add_argument("--work", default="/tmp/burnfit-privbench")
    args = ap.parse_args()
    warnings.filterwarnings("ignore")

    work = Path(args.work)
    results = []
    for table in args.tables:
        folder = work / table
        trp, tep = write_table(table, folder)
        data = load_xy(trp, tep)
        n = len(data[0])
        delta = DELTA[table]
        assert delta < 1 / n
        settings = [None] + list(args.targets)
        for target in settings:
            for seed in args.seeds:
                b = run_burnfit(args.burnfit, folder, seed, target, delta)
                results.append(dict(table=table, tool="burnfit", target=target, seed=seed, **b))
                print(f"[{table} eps={target} seed={seed}] burnfit {b}", file=sys.stderr)
                if target is None:
                    t = run_torch(data, seed, None, delta, None)
                    results.append(dict(table=table, tool="pytorch", target=None, seed=seed, **t))
                    print(f"   pytorch {t}", file=sys.stderr)
                else:
                    for acc in ("prv", "rdp"):
                        t = run_torch(data, seed, target, delta, acc)
                        results.append(dict(table=table, tool=f"opacus-{acc}", target=target,
                                            seed=seed, **t))
                        print(f"   opacus-{acc} {t}", file=sys.stderr)
    (work / "results.json").write_text(json.dumps(results, indent=1))

    # Markdown
    df = pd.DataFrame(results)
    print(f"CPU: {cpu_name()}, {os.cpu_count()} logical cores; torch {torch.__version__}, "
          f"opacus {__import__('opacus').__version__}, python {platform.python_version()}\n")
    print("| table | target ε | tool | test accuracy | test ROC AUC | σ | final ε | train s/run |")
    print("|---|---|---|---|---|---|---|---|")
    order = {"burnfit": 0, "pytorch": 1, "opacus-rdp": 2, "opacus-prv": 3}
    for (table, target), g in df.groupby(["table", df["target"].fillna(0)], sort=True):
        for tool, h in sorted(g.groupby("tool"), key=lambda kv: order[kv[0]]):
            tgt = "— (non-private)" if target == 0 else f"{target:g}"
            sig = "—" if target == 0 else ms(h["sigma"], "{:.4f}").split(" ±")[0] if h["sigma"].nunique() == 1 else ms(h["sigma"], "{:.4f}")
            eps = "—" if target == 0 else ms(h["epsilon"], "{:.3f}").split(" ±")[0] if h["epsilon"].round(6).nunique() == 1 else ms(h["epsilon"], "{:.3f}")
            print(f"| {table} | {tgt} | {tool} | {ms(h['accuracy'])} | {ms(h['auc'])} | {sig} | "
                  f"{eps} | {h['seconds'].mean():.2f} |")
    print()
    print("σ from Opacus's get_noise_multiplier for each sample-rate convention and accountant:\n")
    print("| table | n | steps | target ε | rdp, q=B/n | rdp, q=1/⌈n/B⌉ | prv, q=B/n | prv, q=1/⌈n/B⌉ |")
    print("|---|---|---|---|---|---|---|---|")
    for table in args.tables:
        n = int(pd.read_csv(work / table / "train.csv").shape[0])
        for target in args.targets:
            steps, r = sigma_conventions(n, target, DELTA[table])
            print(f"| {table} | {n} | {steps} | {target:g} | {r['rdp q=B/n']:.6g} | "
                  f"{r['rdp q=1/ceil(n/B)']:.6g} | {r['prv q=B/n']:.6g} | "
                  f"{r['prv q=1/ceil(n/B)']:.6g} |")


def cpu_name() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


if __name__ == "__main__":
    main()
