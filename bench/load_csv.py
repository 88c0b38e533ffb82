#!/usr/bin/env python3
"""CSV loading: burnfit against pandas.read_csv on the same file, same machine, alternately.

Usage: python bench/load_csv.py [--rows 100000] [--features 100] [--repeats 5]

Writes the file once with `burnfit synth`, then alternates, `repeats` times:
  - pandas: `pd.read_csv(path)` timed inside one Python process (import excluded), and the whole
    process `python -c "import pandas; pandas.read_csv(path)"`;
  - burnfit: `burnfit inspect --data path`, whose own load time (printed on stderr) is the
    in-process figure, and the whole process.
Medians go to docs/CSV_LOADING.md (rewritten). Needs pandas (the bench venv: see bench/run.py).
"""
import argparse
import datetime
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
TARGET = Path(os.environ.get("CARGO_TARGET_DIR", Path.home() / ".cache/burnfit-target"))
BURNFIT = TARGET / "release" / "burnfit"


def cpu_model():
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def wall(cmd):
    t = time.perf_counter()
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return time.perf_counter() - t, out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=100_000)
    ap.add_argument("--features", type=int, default=100)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--dir", default="/tmp/burnfit-bench")
    ap.add_argument("--doc", default=str(ROOT / "docs" / "CSV_LOADING.md"))
    args = ap.parse_args()
    import pandas as pd

    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True,
                   env=dict(os.environ, CARGO_TARGET_DIR=str(TARGET)))
    d = Path(args.dir)
    d.mkdir(parents=True, exist_ok=True)
    csv = d / f"load-{args.rows}x{args.features}.csv"
    if not csv.exists():
        subprocess.run([str(BURNFIT), "synth", "--rows", str(args.rows), "--features",
                        str(args.features), "--seed", "1", "--out", str(csv)], check=True)
    size_mb = csv.stat().st_size / 1e6
    # Warm the page cache for both: the file is read from memory in every timed run.
    csv.read_bytes()
    res = {"pandas_in": [], "pandas_proc": [], "burnfit_in": [], "burnfit_proc": []}
    py = [sys.executable, "-c", f"import pandas; pandas.read_csv({str(csv)!r})"]
    for i in range(args.repeats):
        t = time.perf_counter()
        df = pd.read_csv(csv)
        res["pandas_in"].append(time.perf_counter() - t)
        assert df.shape == (args.rows, args.features + 1), df.shape
        del df
        res["pandas_proc"].append(wall(py)[0])
        secs, out = wall([str(BURNFIT), "inspect", "--data", str(csv)])
        res["burnfit_proc"].append(secs)
        m = re.search(r"(\d+) rows x (\d+) columns in ([0-9.]+)s", out.stderr)
        assert m and int(m.group(1)) == args.rows, out.stderr
        res["burnfit_in"].append(float(m.group(3)))
        print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1]:.3f}s" for k, v in res.items()), flush=True)
    med = {k: statistics.median(v) for k, v in res.items()}
    ratio_in = med["burnfit_in"] / med["pandas_in"]
    ratio_proc = med["burnfit_proc"] / med["pandas_proc"]
    now = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    doc = f"""# CSV loading: burnfit against pandas.read_csv

Written by `python bench/load_csv.py --rows {args.rows} --features {args.features} --repeats {args.repeats}`
on {now}. Not a test: a measurement, to be rerun on the machine in question.

- Machine: {cpu_model()}, {os.cpu_count()} logical CPUs; Linux {platform.release()}.
- Versions: pandas {pd.__version__} (C engine), Python {platform.python_version()}; burnfit
  {subprocess.run([str(BURNFIT), '--version'], capture_output=True, text=True).stdout.strip()}
  (release build).
- File: {args.rows:,} rows x {args.features} float columns + a 0/1 label, {size_mb:.1f} MB, written
  by `burnfit synth` (shortest round-trip floats), in the page cache for every run.
- burnfit reads it with the `csv` crate into typed columns: the same code `train` uses
  (`data::table::Table::from_csv`), through `burnfit inspect`, whose printed load time is the
  in-process figure. pandas: `pd.read_csv(path)` with defaults.
- Each figure is the median of {args.repeats} runs, the two tools alternating.

| | pandas.read_csv | burnfit | burnfit / pandas |
|---|---:|---:|---:|
| in-process load | {med['pandas_in']:.3f} s | {med['burnfit_in']:.3f} s | {ratio_in:.2f} |
| whole process (start, import, load, exit) | {med['pandas_proc']:.3f} s | {med['burnfit_proc']:.3f} s | {ratio_proc:.2f} |

Goal (issue #3): at most 2x pandas' time. {'Met' if ratio_in <= 2 else 'NOT met'}: burnfit takes
{ratio_in:.2f}x pandas' in-process time ({size_mb / med['burnfit_in']:.0f} MB/s against
{size_mb / med['pandas_in']:.0f} MB/s).

Every run: {', '.join(f"{k} " + '/'.join(f'{x:.3f}' for x in v) for k, v in res.items())}.
"""
    Path(args.doc).write_text(doc)
    print(doc)


if __name__ == "__main__":
    main()
