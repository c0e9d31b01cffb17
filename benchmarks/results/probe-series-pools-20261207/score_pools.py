"""Score pooling variants of Fracast-0's features with the probe (one-off study;
see README.md): ``python score_pools.py CACHE_DIR [CANDIDATES [DATASETS]]``."""

import json
import sys
import warnings
from pathlib import Path

import numpy as np

from benchmarks.probe_protocol import cv_accuracy, protocol_folds
from vlmtsc.training import fit_probe

warnings.filterwarnings("ignore")
C = Path(sys.argv[1])
cands = {
    "base": ["p0"],
    "+ppv": ["p0", "ppv"],
    "+min": ["p0", "min"],
    "+seg4": ["p0", "seg4"],
    "+s2": ["p0", "s2_p0"],
    "+s2s4": ["p0", "s2_p0", "s4_p0"],
    "+d": ["p0", "d_p0"],
    "+d+s2": ["p0", "d_p0", "s2_p0"],
}
if len(sys.argv) > 2:
    cands = {k: v for k, v in cands.items() if k in sys.argv[2].split(",")}
names = (
    sys.argv[3].split(",")
    if len(sys.argv) > 3
    else sorted(p.name[:-7] for p in C.glob("*-fc.npz"))
)


def probe(F, y):
    """The probe's head, as the estimator fits it."""
    return fit_probe(F, y, seed=0)


res = {}
for name in names:
    z = np.load(C / f"{name}-fc.npz")
    y = z["y"]
    img = np.load(C / f"{name}-img.npy")
    for label, parts in cands.items():
        if any(p not in z for p in parts):
            continue
        F = np.hstack([img] + [z[p] for p in parts]).astype(np.float32)
        res.setdefault(label, {})[name] = cv_accuracy(probe, F, y, protocol_folds(y))
    print(name, {k: round(v[name], 3) for k, v in res.items() if name in v}, flush=True)
uni = [n for n in names if n not in ("BasicMotions", "JapaneseVowels")]
for k, v in res.items():
    every = np.mean([v[n] for n in names if n in v])
    univariate = np.mean([v[n] for n in uni if n in v])
    print(f"{k:10s} all {every:.3f} uni {univariate:.3f}")
(C / "cv.json").write_text(json.dumps(res))
