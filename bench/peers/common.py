"""The seed pipeline's data stage, shared by the peers: what the original Keras script does."""
import numpy as np
import pandas as pd


def load(path):
    """read_csv, dropna, per-column x / ||x||_2, ordered 80/20 split (the seed's own steps)."""
    df = pd.read_csv(path).dropna()
    y = df.pop("label").to_numpy(dtype=np.float32)
    x = df.to_numpy(dtype=np.float32)
    norms = np.linalg.norm(x[: int(0.8 * len(x))], axis=0)
    # burnfit fits the statistics on the training split only; so do the peers.
    norms[norms == 0] = 1.0
    x = x / norms
    n = int(0.8 * len(x))
    return x[:n], y[:n], x[n:], y[n:]
