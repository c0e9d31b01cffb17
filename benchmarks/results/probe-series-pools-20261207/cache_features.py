"""Cache the probe's image features and Fracast-0 pooling variants of every
training split (one-off study; see README.md): ``python cache_features.py
CACHE_DIR [DATASET ...]``."""

import sys
import time
from pathlib import Path

import numpy as np
import torch

from vlmtsc import VLMFeatureExtractor
from vlmtsc.backbones._series_encoders import _hidden_states
from vlmtsc.base import check_series
from vlmtsc.datasets import list_datasets, load_dataset

torch.set_num_threads(2)
OUT = Path(sys.argv[1])
OUT.mkdir(exist_ok=True, parents=True)


def hidden(case):
    """(n_channels, n_steps, 64) hidden states, as pooled_series_features reads them."""
    cases = torch.as_tensor(case[None], dtype=torch.float32)
    return _hidden_states("fracast", cases)[0]


def resample(case, length):
    n = case.shape[1]
    grid = np.linspace(0, n - 1, length)
    return np.stack([np.interp(grid, np.arange(n), ch) for ch in case])


def pools(h):
    out = {}
    out["p0"] = torch.cat([h.mean(1), h.amax(1), h.std(1, correction=0)], 1)
    out["ppv"] = (h > 0).float().mean(1)
    out["min"] = h.amin(1)
    segs = torch.tensor_split(h, 4, dim=1) if h.shape[1] >= 4 else [h] * 4
    out["seg4"] = torch.cat([s.mean(1) for s in segs], 1)
    return {k: v.reshape(-1).numpy() for k, v in out.items()}


names = sys.argv[2:] or sorted(list_datasets())
for name in names:
    X, y = load_dataset(name, "train")
    X = check_series(X, estimator_name="x")
    t = time.perf_counter()
    if not (OUT / f"{name}-img.npy").exists():
        img = VLMFeatureExtractor(series_encoder=None, verbose=0).fit(X).transform(X)
        np.save(OUT / f"{name}-img.npy", img)
    t1 = time.perf_counter()
    feats = {}
    with torch.no_grad():
        for case in X:
            case = np.asarray(case, dtype=np.float64)
            rec = {}
            for k, v in pools(hidden(case)).items():
                rec[k] = v
            n = case.shape[1]
            for div in (2, 4):
                m = max(8, n // div)
                for k, v in pools(hidden(resample(case, m))).items():
                    rec[f"s{div}_{k}"] = v
            if n > 2:
                d = np.diff(case, axis=1)
                for k, v in pools(hidden(d)).items():
                    rec[f"d_{k}"] = v
            for k, v in rec.items():
                feats.setdefault(k, []).append(v)
    np.savez(
        OUT / f"{name}-fc.npz",
        y=np.asarray(y),
        **{k: np.stack(v) for k, v in feats.items()},
    )
    print(
        name,
        len(y),
        "img",
        round(t1 - t, 1),
        "fracast",
        round(time.perf_counter() - t1, 1),
        flush=True,
    )
