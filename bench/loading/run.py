#!/usr/bin/env python3
"""Loading speed (issue #31): burnfit's CSV parse, Parquet read and cached load of one
1,000,000 x 100 table, side by side with polars' read_csv and read_parquet on the same files.

    python3 bench/loading/run.py [--rows 1000000] [--features 100] [--repeats 5] [--work DIR]

The CSV comes from `burnfit synth` (seed 42), its Parquet copy from pyarrow (Snappy, its
default). burnfit's figure is its own timer around the load (`burnfit inspect --load-only`:
every column read as training reads it, one read a process). Polars is timed two ways, a
perf_counter around `read_csv` / `read_parquet` either way: once a process, after `import
polars`, as burnfit is measured (the like-for-like figure), and repeated in one process, where
every read after the first reuses the memory the last one freed, so the kernel zeroes no fresh
pages for it (a cost every first read pays: up to half of a Parquet read here). The runs
alternate between the tools, after a first untimed read of each file, so the files are in the
page cache for everyone. Wall times of whole processes come from hyperfine when it is installed.
Polars runs in a venv at ~/.cache/burnfit-bench-venv, made here if absent. Prints a Markdown
block with the CPU it ran on, for docs/PERFORMANCE.md.
"""

import argparse
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
BURNFIT = Path(os.environ.get("BURNFIT_BIN", ROOT / "target" / "release" / "burnfit"))
VENV = Path.home() / ".cache" / "burnfit-bench-venv"

POLARS = r"""
import sys, time, json, polars as pl
path, kind, repeats = sys.argv[1], sys.argv[2], int(sys.argv[3])
read = pl.read_csv if kind == "csv" else pl.read_parquet
read(path)
times = []
for _ in range(repeats):
    t = time.perf_counter(); df = read(path); times.append(time.perf_counter() - t)
print(json.dumps({"times": times, "shape": list(df.shape), "version": pl.__version__}))
"""


POLARS_ONCE = r"""
import sys, time, json, polars as pl
path, kind = sys.argv[1], sys.argv[2]
read = pl.read_csv if kind == "csv" else pl.read_parquet
t = time.perf_counter(); df = read(path); took = time.perf_counter() - t
print(json.dumps({"time": took, "shape": list(df.shape)}))
"""


def polars_once(py: Path, path: Path, kind: str) -> float:
    out = subprocess.run([str(py), "-c", POLARS_ONCE, str(path), kind],
                         capture_output=True, text=True, check=True)
    return json.loads(out.stdout)["time"]


def venv_python() -> Path:
    py = VENV / "bin" / "python"
    if not py.exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    if subprocess.run([str(py), "-c", "import polars, pyarrow"], capture_output=True).returncode:
        subprocess.run([str(py), "-m", "pip", "install", "-q", "polars", "pyarrow"], check=True)
    return py


def cpu() -> str:
    out = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    name = re.search(r"Model name:\s*(.+)", out)
    cpus = re.search(r"^CPU\(s\):\s*(\d+)", out, re.M)
    flags = re.search(r"Flags:\s*(.+)", out)
    vec = "avx512f" if flags and "avx512f" in flags.group(1) else "avx2" if flags and "avx2" in flags.group(1) else "no avx2"
    return f"{name.group(1).strip() if name else platform.processor()}, {cpus.group(1) if cpus else os.cpu_count()} logical CPUs ({vec})"


def burnfit_load(path: Path, env: dict, no_cache: bool) -> float:
    args = [str(BURNFIT), "inspect", "--load-only", "--data", str(path)]
    if no_cache:
        args.insert(1, "--no-cache")
    out = subprocess.run(args, env=env, capture_output=True, text=True, check=True)
    return float(re.search(r"loaded in ([0-9.]+) s", out.stdout).group(1))


def hyperfine(commands: list[str], env: dict, runs: int) -> list[float]:
    if not shutil.which("hyperfine"):
        return []
    out = Path(env["XDG_CACHE_HOME"]).parent / "hyperfine.json"
    subprocess.run(
        ["hyperfine", "--warmup", "1", "--runs", str(runs), "--export-json", str(out), *commands],
        env=env, check=True, capture_output=True,
    )
    return [r["median"] for r in json.loads(out.read_text())["results"]]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--work", type=Path, default=ROOT / "target" / "bench-loading")
    a = ap.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    py = venv_python()
    csv = a.work / f"d{a.rows}x{a.features}.csv"
    pq = csv.with_suffix(".parquet")
    if not csv.exists():
        subprocess.run([str(BURNFIT), "synth", "--rows", str(a.rows), "--features", str(a.features),
                        "--seed", "42", "--out", str(csv)], check=True)
    if not pq.exists():
        subprocess.run([str(py), "-c", "import sys, pyarrow.csv as c, pyarrow.parquet as p; "
                        "p.write_table(c.read_csv(sys.argv[1]), sys.argv[2])", str(csv), str(pq)], check=True)
    env = dict(os.environ, XDG_CACHE_HOME=str(a.work / "xdg"))
    shutil.rmtree(a.work / "xdg", ignore_errors=True)

    # Warm the page cache, then store the cache entry (the file is older than the racy window).
    burnfit_load(csv, env, no_cache=True)
    burnfit_load(pq, env, no_cache=True)
    burnfit_load(csv, env, no_cache=False)
    polars_once(py, csv, "csv")
    polars_once(py, pq, "parquet")
    times = {"csv": [], "parquet": [], "cached": []}
    fresh = {"csv": [], "parquet": []}
    for _ in range(a.repeats):
        times["csv"].append(burnfit_load(csv, env, no_cache=True))
        fresh["csv"].append(polars_once(py, csv, "csv"))
        times["parquet"].append(burnfit_load(pq, env, no_cache=True))
        fresh["parquet"].append(polars_once(py, pq, "parquet"))
        times["cached"].append(burnfit_load(csv, env, no_cache=False))
    polars = {}
    for kind, path in [("csv", csv), ("parquet", pq)]:
        out = subprocess.run([str(py), "-c", POLARS, str(path), kind, str(a.repeats)],
                             capture_output=True, text=True, check=True)
        polars[kind] = json.loads(out.stdout)
    walls = hyperfine([f"{BURNFIT} --no-cache inspect --load-only --data {csv}",
                       f"{BURNFIT} --no-cache inspect --load-only --data {pq}",
                       f"{BURNFIT} inspect --load-only --data {csv}"], env, a.repeats)
    med = {k: statistics.median(v) for k, v in times.items()}
    pmed = {k: statistics.median(v["times"]) for k, v in polars.items()}
    fmed = {k: statistics.median(v) for k, v in fresh.items()}
    entry = sum(f.stat().st_size for f in (a.work / "xdg" / "burnfit").glob("*.table"))
    version = subprocess.run([str(BURNFIT), "--version"], capture_output=True, text=True).stdout.strip()
    print(f"Measured by `python3 bench/loading/run.py --repeats {a.repeats}` on {cpu()}; "
          f"{version}, polars {polars['csv']['version']}; {a.rows:,} x {a.features} "
          f"(CSV {csv.stat().st_size / 1e6:.0f} MB, Parquet {pq.stat().st_size / 1e6:.0f} MB, "
          f"cache entry {entry / 1e6:.0f} MB). Medians of {a.repeats}, seconds, in-process timers.\n")
    print("| load | burnfit | polars, one read a process | burnfit / polars | polars, repeated in one process | burnfit / polars |")
    print("|---|---:|---:|---:|---:|---:|")
    for kind, name in [("csv", "CSV parse"), ("parquet", "Parquet read")]:
        print(f"| {name} | {med[kind]:.3f} | {fmed[kind]:.3f} | {med[kind] / fmed[kind]:.2f} "
              f"| {pmed[kind]:.3f} | {med[kind] / pmed[kind]:.2f} |")
    print(f"| cached load (of the CSV) | {med['cached']:.3f} | | {med['cached'] / med['csv']:.3f} of burnfit's CSV parse | | |")
    print()
    print("Every run (s): " + "; ".join(f"burnfit {k}: " + "/".join(f"{t:.2f}" for t in v) for k, v in times.items())
          + "; " + "; ".join(f"polars {k}, a process each: " + "/".join(f"{t:.2f}" for t in v) for k, v in fresh.items())
          + "; " + "; ".join(f"polars {k}, one process: " + "/".join(f"{t:.2f}" for t in v["times"]) for k, v in polars.items()))
    if walls:
        print(f"\nWhole `burnfit inspect --load-only` processes (hyperfine medians): CSV {walls[0]:.2f} s, "
              f"Parquet {walls[1]:.2f} s, cached {walls[2]:.2f} s.")


if __name__ == "__main__":
    main()
