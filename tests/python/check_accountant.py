"""Checks burnfit's privacy accountant against Opacus's own RDP analysis, from a JSON file of
settings and the values burnfit computed for them (crates/privacy/tests/opacus.rs writes it).

    python check_accountant.py --probe     # exit 0 if Opacus's analysis can be loaded
    python check_accountant.py FILE.json   # compare; exit 1 and list every disagreement

Opacus's package `__init__` imports PyTorch, which the test venv does not have (`pip install
--no-deps opacus`). Its RDP analysis, `opacus/accountants/analysis/rdp.py`, needs only numpy and
scipy, so it is loaded by file path; the default orders are read from the `DEFAULT_ALPHAS`
expression in `opacus/accountants/rdp.py` (that module imports PyTorch too, so its source is
parsed, not imported). Nothing of burnfit's is used here.
"""

import ast
import functools
import importlib.metadata
import importlib.util
import json
import math
import os
import sys
import warnings

RTOL = 1e-6
# The RDP of one step with much noise and a tiny sampling rate is ~1e-10 nats: the logarithm of
# a sum within 1e-10 of 1, whose last bit (1e-16) is 1e-6 of it, so either side's rounding
# decides the relative difference (1.4e-7 seen). Such values are compared to 1e-14 nats a step,
# which changes no ε.
RDP_ATOL_PER_STEP = 1e-14


def opacus_dir():
    spec = importlib.util.find_spec("opacus")  # finds the package without running __init__
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("no `opacus` package (pip install --no-deps opacus)")
    return list(spec.submodule_search_locations)[0]


def load_rdp():
    path = os.path.join(opacus_dir(), "accountants", "analysis", "rdp.py")
    spec = importlib.util.spec_from_file_location("opacus_rdp_analysis", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def default_alphas():
    path = os.path.join(opacus_dir(), "accountants", "rdp.py")
    with open(path, encoding="utf-8") as f:
        tree = ast.parse(f.read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign) and any(
            isinstance(t, ast.Name) and t.id == "DEFAULT_ALPHAS" for t in node.targets
        ):
            return eval(compile(ast.Expression(node.value), path, "eval"), {})
    raise LookupError(f"no DEFAULT_ALPHAS in {path}")


WORST = [0.0]  # the largest relative difference seen, for the summary line


def close(a, b, atol=0.0):
    """Equal to RTOL relative (or `atol` absolute); infinities (JSON null) equal only to
    themselves."""
    a = math.inf if a is None else a
    b = math.inf if b is None else b
    if math.isinf(a) or math.isinf(b):
        return a == b
    if abs(a - b) <= atol:
        return True
    rel = abs(a - b) / max(abs(b), 1e-300)
    WORST[0] = max(WORST[0], rel)
    return rel <= RTOL


def main(argv):
    try:
        rdp = load_rdp()
        alphas = default_alphas()
    except Exception as e:  # any failure to load means "no usable Opacus"
        print(f"cannot load Opacus's RDP analysis: {e!r}", file=sys.stderr)
        return 1
    if argv[1:] == ["--probe"]:
        return 0
    with open(argv[1], encoding="utf-8") as f:
        grid = json.load(f)
    warnings.simplefilter("ignore")  # Opacus warns when the best order is at an end

    @functools.cache
    def one_step(q, sigma):
        return rdp.compute_rdp(q=q, noise_multiplier=sigma, steps=1, orders=alphas)

    def composed(q, sigma, steps):
        # What `compute_rdp(..., steps=steps)` returns, `rdp * steps`, with each (q, σ)'s
        # series summed once for all the step counts of the grid.
        return one_step(q, sigma) * steps

    errors = []
    if [float(a) for a in alphas] != grid["orders"]:
        errors.append(f"default orders differ: Opacus {alphas}, burnfit {grid['orders']}")
    for case in grid["cases"]:
        label = case["label"]
        ours = [math.inf if r is None else r for r in case["rdp"]]
        theirs = composed(case["q"], case["sigma"], case["steps"])
        for alpha, a, b in zip(alphas, ours, theirs):
            if not close(a, float(b), RDP_ATOL_PER_STEP * case["steps"]):
                errors.append(f"{label}: RDP at order {alpha}: burnfit {a}, Opacus {b}")
        eps, order = rdp.get_privacy_spent(orders=alphas, rdp=theirs, delta=case["delta"])
        if not close(case["epsilon"], float(eps)):
            errors.append(f"{label}: epsilon burnfit {case['epsilon']}, Opacus {eps}")
        if math.isfinite(eps) and case["order"] != float(order):
            errors.append(f"{label}: order burnfit {case['order']}, Opacus {order}")
    for search in grid["searches"]:
        # What `get_noise_multiplier` promises: ε below the target, by at most its tolerance.
        label = search["label"]
        r = composed(search["q"], search["sigma"], search["steps"])
        eps, _ = rdp.get_privacy_spent(orders=alphas, rdp=r, delta=search["delta"])
        target = search["target"]
        if not (eps < target and target - eps <= search["tolerance"] * (1 + RTOL)):
            errors.append(f"{label}: sigma {search['sigma']} gives Opacus epsilon {eps}")
    for e in errors:
        print(e, file=sys.stderr)
    n = len(grid["cases"]) + len(grid["searches"])
    version = importlib.metadata.version("opacus")
    if errors:
        print(f"{len(errors)} disagreements with Opacus {version} over {n} settings", file=sys.stderr)
        return 1
    print(
        f"{n} settings agree with Opacus {version} to {RTOL} relative "
        f"(largest difference {WORST[0]:.1e})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
