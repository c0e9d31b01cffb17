"""Weight the probe's feature blocks after standardisation (one-off check on
the cache of cache_stages.py; see README.md):
``python block_weights.py CACHE_DIR DATASET[,DATASET...]``."""

import sys
import warnings

import numpy as np
from sklearn.preprocessing import StandardScaler

import vlmtsc.training._probe as probe
from benchmarks.probe_protocol import cv_accuracy, protocol_folds

warnings.filterwarnings("ignore")


class WeightedScaler(StandardScaler):
    """StandardScaler, then each column times ``weights`` (a class attribute,
    so that the head's clones in its search for C keep it)."""

    weights = None

    def transform(self, X, copy=None):
        return super().transform(X, copy=copy) * self.weights


make_pipeline = probe.make_pipeline


def weighted_pipeline(*steps):
    steps = list(steps)
    if WeightedScaler.weights is not None:
        steps[0] = WeightedScaler()
    return make_pipeline(*steps)


probe.make_pipeline = weighted_pipeline
cache, names = sys.argv[1], sys.argv[2].split(",")


def head(F, y):
    """The probe's head, as the estimator fits it."""
    return probe.fit_probe(F, y, seed=0)


res = {}
for name in names:
    z = np.load(f"{cache}/{name}-fc.npz")
    y, fracast = z["y"], z["stages"][9]
    img = np.load(f"{cache}/{name}-img.npy")
    F = np.hstack([img, fracast]).astype(np.float32)
    blocks = [512] * (img.shape[1] // 512) + [fracast.shape[1]]  # per image, Fracast
    ones = np.ones(img.shape[1])
    candidates = {
        "base": None,
        "equal": np.concatenate([np.full(b, b**-0.5) for b in blocks]),
        "fracast x2": np.concatenate([ones, np.full(fracast.shape[1], 2.0)]),
        "fracast x0.5": np.concatenate([ones, np.full(fracast.shape[1], 0.5)]),
    }
    for label, weights in candidates.items():
        WeightedScaler.weights = weights
        res.setdefault(label, {})[name] = cv_accuracy(head, F, y, protocol_folds(y))
    print(name, {k: round(v[name], 3) for k, v in res.items()}, flush=True)
for label, v in res.items():
    print(label, round(float(np.mean(list(v.values()))), 4))
