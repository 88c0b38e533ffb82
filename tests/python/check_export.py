"""Runs a burnfit export the way a deployment would, on the raw rows of a CSV, and prints one
line per row: the probability and (ONNX only) the class, or the prediction for regression, or
for a k-class softmax the k probabilities and (ONNX only) the class index; for several label
columns, each label's probability then (ONNX only) each label's 0/1 class, or each target's
prediction.

    python check_export.py onnx MODEL.onnx DATA.csv
    python check_export.py numpy MODEL.safetensors DATA.csv

`onnx` feeds onnxruntime the raw columns as the model's metadata documents them; `numpy`
redoes the preprocessing and the forward pass by hand from the safetensors weights and
metadata, with no burnfit code, so both check the exported files, not burnfit's own reading.
"""

import csv
import json
import math
import sys

import numpy as np

MISSING = {"", "NA", "NaN", "nan", "N/A", "null", "NULL"}


def raw_matrix(inputs, path):
    """The `features` input: numeric cells as numbers (NaN when missing), categorical cells as
    the index of their level (-1 when missing or unseen)."""
    with open(path, newline="", encoding="utf-8-sig") as f:
        rows = list(csv.DictReader(f))
    x = np.empty((len(rows), len(inputs)), dtype=np.float32)
    for j, spec in enumerate(inputs):
        for i, row in enumerate(rows):
            cell = row[spec["name"]].strip()
            if spec["kind"] == "numeric":
                x[i, j] = np.nan if cell in MISSING else float(cell)
            else:
                levels = spec["levels"]
                x[i, j] = levels.index(cell) if cell in levels else -1
    return x


def run_onnx(model, data):
    import onnxruntime as ort

    session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    x = raw_matrix(json.loads(meta["burnfit.inputs"]), data)
    names = [o.name for o in session.get_outputs()]
    out = dict(zip(names, session.run(None, {"features": x})))
    if "probabilities" in out:
        p = out["probabilities"].astype(np.float64)
        return [(*row, c) for row, c in zip(p, out["class"][:, 0])]
    if "probability" in out:
        # One probability and one 0/1 class per label: each label's probabilities, then its
        # classes.
        p = out["probability"].astype(np.float64)
        return [(*pr, *cr) for pr, cr in zip(p, out["class"])]
    return [tuple(row) for row in out["prediction"].astype(np.float64)]


def run_numpy(model, data):
    from safetensors import safe_open
    from safetensors.numpy import load_file

    with safe_open(model, framework="numpy") as f:
        meta = f.metadata()
    weights = load_file(model)
    pre = json.loads(meta["burnfit.preprocess"])
    x = raw_matrix(json.loads(meta["burnfit.inputs"]), data).astype(np.float64)
    columns = []
    for j, spec in enumerate(pre["features"]):
        col = x[:, j]
        if spec["kind"] == "numeric":
            col = np.where(np.isnan(col), spec["fill"], col)
            columns.append(((col - spec["shift"]) / spec["scale"]).astype(np.float32)[:, None])
        else:
            codes = np.where(np.isnan(col), -1, col).astype(np.int64)
            levels = np.arange(len(spec["levels"]))
            columns.append((codes[:, None] == levels[None, :]).astype(np.float32))
    h = np.concatenate(columns, axis=1)
    act = {
        "relu": lambda v: np.maximum(v, 0),
        "tanh": np.tanh,
        "sigmoid": lambda v: 1 / (1 + np.exp(-v)),
        # Exact GELU, x * Phi(x), as Burn computes it.
        "gelu": lambda v: v * 0.5 * (1 + np.vectorize(math.erf)(v / math.sqrt(2))),
    }[meta["burnfit.activation"]]
    layers = sorted(int(k.split(".")[0]) for k in weights if k.endswith(".weight"))
    for n, k in enumerate(layers):
        h = h @ weights[f"{k}.weight"].T + weights[f"{k}.bias"]
        if n < len(layers) - 1:
            h = act(h)
    if meta["burnfit.loss"] == "cross_entropy":
        z = h.astype(np.float64)
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return [tuple(row) for row in e / e.sum(axis=1, keepdims=True)]
    z = h.astype(np.float64)
    values = 1 / (1 + np.exp(-z)) if meta["burnfit.loss"] == "bce" else z
    return [tuple(row) for row in values]


if __name__ == "__main__":
    kind, model, data = sys.argv[1:4]
    values = run_onnx(model, data) if kind == "onnx" else run_numpy(model, data)
    for row in values:
        print(",".join(repr(float(v)) if isinstance(v, (float, np.floating)) else str(int(v))
                       for v in row))
