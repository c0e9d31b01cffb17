"""Cache the probe's image features and Fracast-0's pooled states after each of
its ten stages, for every training split (one-off study; see README.md):
``python cache_stages.py CACHE_DIR [DATASET ...]``."""

import sys
import time
from pathlib import Path

import numpy as np
import torch

from vlmtsc import VLMFeatureExtractor
from vlmtsc.backbones._series_encoders import _fracast, pooled_series_features
from vlmtsc.base import check_series
from vlmtsc.datasets import list_datasets, load_dataset

torch.set_num_threads(2)
OUT = Path(sys.argv[1])
OUT.mkdir(exist_ok=True, parents=True)

# Fracast-0's core applies one shared block at dilations 1, 2, ..., 512 and
# normalises the last output. Read every stage's output through the same
# RMSNorm, side by side, so that the package's own reading (slots, windows,
# scaling) and pooling return all ten: 10 x 192 features per channel.
core = _fracast("cpu").core
outputs = []
core.block.register_forward_hook(lambda module, args, out: outputs.append(out))
last_forward = core.forward


def every_stage(values, mask, cov, **kw):
    outputs.clear()
    last = last_forward(values, mask, cov, **kw)
    assert len(outputs) == core.n_stages
    return torch.cat([core.norm(x) for x in outputs[:-1]] + [last], dim=-1)


core.forward = every_stage
names = sys.argv[2:] or sorted(list_datasets())
for name in names:
    X, y = load_dataset(name, "train")
    X = check_series(X, estimator_name="x")
    t = time.perf_counter()
    if not (OUT / f"{name}-img.npy").exists():
        img = VLMFeatureExtractor(series_encoder=None, verbose=0).fit(X).transform(X)
        np.save(OUT / f"{name}-img.npy", img)
    t1 = time.perf_counter()
    rows = []
    with torch.no_grad():
        for case in X:
            case = torch.as_tensor(np.asarray(case)[None], dtype=torch.float32)
            # (1, n_channels * 3 * 640): per channel mean, max, std of 640 units.
            pooled = pooled_series_features("fracast", case).reshape(
                case.shape[1], 3, core.n_stages, 64
            )
            # -> (stage, n_channels * 192), each stage's block as the package
            # lays out its 192 per channel (mean, max, std of 64 units).
            rows.append(pooled.permute(2, 0, 1, 3).reshape(core.n_stages, -1).numpy())
    np.savez(OUT / f"{name}-fc.npz", y=np.asarray(y), stages=np.stack(rows, 1))
    print(name, len(y), "img", round(t1 - t, 1), "fracast",
          round(time.perf_counter() - t1, 1), flush=True)
