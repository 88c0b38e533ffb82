"""W3's peer: pandas.read_csv plus the seed's preprocessing, nothing else.

Usage: python preprocess_seed.py DATA.csv  (prints one JSON line with the seconds taken)
"""
import json
import sys
import time

t = time.perf_counter()
from common import load  # noqa: E402  (pandas' import is part of the cost, as for burnfit's start)

x, y, xv, yv = load(sys.argv[1])
print(json.dumps({"rows": len(x) + len(xv), "seconds": time.perf_counter() - t}))
