#!/usr/bin/env python3
"""Multi-class reference comparison: burnfit's softmax head against Keras, same network.

The same network (input -> 128 ReLU -> 64 ReLU -> k softmax, Glorot-uniform weights, zero
biases), the same optimiser (Adam, lr 1e-3, eps 1e-7), batch 32, the same number of epochs,
on the same stratified 80/20 split (seed 0) of tables that ship with scikit-learn (and ISLR's
Carseats, `ShelveLoc`, from tests/data), z-scored
with the training rows' mean and population sd in both tools. Test accuracy and macro F1 on
the held-out 20 %, for seeds 1, 2, 3 in each tool.

Usage (nothing is written into the repository except what you redirect):
  KERAS_BACKEND=jax ~/.cache/burnfit-bench-venv/bin/python compare_keras.py \
      --burnfit PATH/TO/burnfit --tables wine digits --seeds 1 2 3

Writes CSVs, configs and run folders under --work (default /tmp/burnfit-mcbench), raw results
to <work>/results.json, and prints a Markdown table on stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.datasets import load_digits, load_iris, load_wine
from sklearn.metrics import accuracy_score, f1_score
from sklearn.model_selection import train_test_split

BATCH = 32
LR = 1e-3
HIDDEN = (128, 64)
EPOCHS = {"iris": 100, "wine": 100, "digits": 50, "carseats": 100}
LOADERS = {"iris": load_iris, "wine": load_wine, "digits": load_digits}
ROOT = Path(__file__).resolve().parent.parent.parent


def load_carseats():
    """ISLR's Carseats (tests/data), `ShelveLoc` (Bad/Good/Medium) as the label; its Yes/No
    columns as 0/1, so both tools see the same numeric inputs."""
    df = pd.read_csv(ROOT / "tests" / "data" / "carseats.csv")
    y = df.pop("ShelveLoc")
    for c in ("Urban", "US"):
        df[c] = (df[c] == "Yes").astype(int)
    names = sorted(y.unique())
    return df.to_numpy(np.float64), y.map({n: i for i, n in enumerate(names)}).to_numpy(), names


def write_table(name: str, folder: Path) -> tuple[Path, Path, list[str]]:
    if name == "carseats":
        X, y, names = load_carseats()
    else:
        d = LOADERS[name]()
        X, y = d.data, d.target
        names = [str(n) for n in d.target_names]
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    # Class names as text, so burnfit's class order (text in byte order) is checked too.
    df["label"] = [f"c{names[i]}" for i in y]
    tr, te = train_test_split(df, test_size=0.2, stratify=y, random_state=0)
    folder.mkdir(parents=True, exist_ok=True)
    trp, tep = folder / f"{name}-train.csv", folder / f"{name}-test.csv"
    tr.to_csv(trp, index=False)
    te.to_csv(tep, index=False)
    return trp, tep, sorted(df["label"].unique())


def run_keras(trp: Path, tep: Path, classes: list[str], seed: int, epochs: int) -> dict:
    import keras

    tr, te = pd.read_csv(trp), pd.read_csv(tep)
    index = {c: i for i, c in enumerate(classes)}
    ytr = tr.pop("label").map(index).to_numpy()
    yte = te.pop("label").map(index).to_numpy()
    Xtr, Xte = tr.to_numpy(np.float64), te.to_numpy(np.float64)
    mean, sd = Xtr.mean(axis=0), Xtr.std(axis=0)
    sd[~(sd > 0)] = 1.0
    Xtr, Xte = ((Xtr - mean) / sd).astype(np.float32), ((Xte - mean) / sd).astype(np.float32)
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [keras.Input(shape=(Xtr.shape[1],))]
        + [keras.layers.Dense(h, activation="relu") for h in HIDDEN]
        + [keras.layers.Dense(len(classes), activation="softmax")]
    )
    model.compile(optimizer=keras.optimizers.Adam(learning_rate=LR),
                  loss="sparse_categorical_crossentropy")
    t = time.perf_counter()
    model.fit(Xtr, ytr, epochs=epochs, batch_size=BATCH, shuffle=True, verbose=0)
    seconds = time.perf_counter() - t
    pred = model.predict(Xte, verbose=0).argmax(axis=1)
    return {"accuracy": accuracy_score(yte, pred),
            "macro_f1": f1_score(yte, pred, average="macro"), "seconds": seconds}


def run_burnfit(exe: str, folder: Path, table: str, seed: int, epochs: int) -> dict:
    tag = f"burnfit-{table}-s{seed}"
    cfg = folder / f"{tag}.toml"
    cfg.write_text(
        f'seed = {seed}\n[data]\npath = "{table}-train.csv"\nlabel = "label"\n'
        f'validation_path = "{table}-test.csv"\nnormalize = "zscore"\n'
        f'[model]\nhidden = [{", ".join(map(str, HIDDEN))}]\n'
        f'[train]\nepochs = {epochs}\nbatch_size = {BATCH}\nloss = "cross_entropy"\n'
        f'optimizer = "adam"\nlr = {LR}\n')
    out_dir = folder / tag
    if out_dir.exists():
        shutil.rmtree(out_dir)
    t = time.perf_counter()
    r = subprocess.run([exe, "train", "--config", str(cfg), "--out", str(out_dir)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        raise RuntimeError(f"burnfit failed ({tag}):\n{r.stderr[-3000:]}")
    s = json.loads((out_dir / "summary.json").read_text())
    return {"accuracy": s["evaluation"]["accuracy"], "macro_f1": s["evaluation"]["macro_f1"],
            "seconds": s["train_seconds"], "wall_seconds": time.perf_counter() - t}


def ms(xs):
    xs = np.asarray(xs, float)
    sd = xs.std(ddof=1) if len(xs) > 1 else 0.0
    return f"{xs.mean():.4f} ± {sd:.4f}"


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--burnfit", required=True)
    ap.add_argument("--tables", nargs="+", default=["iris", "wine", "digits", "carseats"])
    ap.add_argument("--seeds", nargs="+", type=int, default=[1, 2, 3])
    ap.add_argument("--work", default="/tmp/burnfit-mcbench")
    a = ap.parse_args()
    work = Path(a.work)
    results = {}
    for table in a.tables:
        trp, tep, classes = write_table(table, work)
        epochs = EPOCHS[table]
        for seed in a.seeds:
            results[f"{table}/keras/{seed}"] = run_keras(trp, tep, classes, seed, epochs)
            results[f"{table}/burnfit/{seed}"] = run_burnfit(a.burnfit, work, table, seed, epochs)
            print(table, seed, results[f"{table}/keras/{seed}"], results[f"{table}/burnfit/{seed}"],
                  flush=True)
    (work / "results.json").write_text(json.dumps(results, indent=1))
    import keras
    print(f"\nKeras {keras.__version__} on {os.environ.get('KERAS_BACKEND', 'tensorflow')}; "
          f"{platform.processor() or platform.machine()}; seeds {a.seeds}\n")
    print("| table | rows × features, classes | epochs | tool | test accuracy | test macro F1 |")
    print("|---|---|---|---|---|---|")
    for table in a.tables:
        X, _, names = load_carseats() if table == "carseats" else (
            LOADERS[table]().data, None, LOADERS[table]().target_names)
        shape = f"{X.shape[0]} × {X.shape[1]}, {len(names)}"
        for tool in ("keras", "burnfit"):
            rs = [results[f"{table}/{tool}/{s}"] for s in a.seeds]
            print(f"| {table} | {shape} | {EPOCHS[table]} | {tool} | "
                  f"{ms([r['accuracy'] for r in rs])} | {ms([r['macro_f1'] for r in rs])} |")


if __name__ == "__main__":
    main()
