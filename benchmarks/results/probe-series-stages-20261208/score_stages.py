"""Score Fracast-0's stages under the probe (one-off study; see README.md):
``python score_stages.py CACHE_DIR [DATASETS]``."""

import json
import sys
import warnings
from pathlib import Path

import numpy as np

from benchmarks.probe_protocol import cv_accuracy, protocol_folds
from vlmtsc.training import fit_probe

warnings.filterwarnings("ignore")
C = Path(sys.argv[1])
# Candidates, fixed before the run: which stages' pooled states (0-based;
# stage 9 is the last, the default's) follow the image features.
CANDIDATES = {
    "base": [9],
    "+3": [3, 9],
    "+6": [6, 9],
    "3,6,9": [3, 6, 9],  # middle_stages' rule, as for the CNN's blocks
    "3,6": [3, 6],
    "every": list(range(10)),
}
names = (
    sys.argv[2].split(",")
    if len(sys.argv) > 2
    else sorted(p.name[:-7] for p in C.glob("*-fc.npz"))
)


def probe(F, y):
    """The probe's head, as the estimator fits it."""
    return fit_probe(F, y, seed=0)


res = {}
for name in names:
    z = np.load(C / f"{name}-fc.npz")
    y, stages = z["y"], z["stages"]
    img = np.load(C / f"{name}-img.npy")
    for label, chosen in CANDIDATES.items():
        F = np.hstack([img] + [stages[s] for s in chosen]).astype(np.float32)
        res.setdefault(label, {})[name] = cv_accuracy(probe, F, y, protocol_folds(y))
    print(name, {k: round(v[name], 3) for k, v in res.items()}, flush=True)
    (C / "cv.json").write_text(json.dumps(res))
uni = [n for n in names if n not in ("BasicMotions", "JapaneseVowels")]
for k, v in res.items():
    print(f"{k:8s} all {np.mean([v[n] for n in names]):.4f} "
          f"uni {np.mean([v[n] for n in uni]):.4f}")
