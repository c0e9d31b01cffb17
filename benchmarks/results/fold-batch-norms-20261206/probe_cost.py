"""Fit + predict of the bare default VLMTimeSeriesClassifier() on one bundled set, 2 threads.

    python probe_cost.py DATASET LABEL   # LABEL: before / after (which checkout is imported)
"""
import json, sys, time, warnings
import numpy as np, torch
warnings.filterwarnings("ignore")
torch.set_num_threads(2)
import vlmtsc
from vlmtsc import VLMTimeSeriesClassifier
from vlmtsc.datasets import load_dataset
ds = sys.argv[1]
X, y = load_dataset(ds, split="train"); Xt, yt = load_dataset(ds, split="test")
clf = VLMTimeSeriesClassifier(verbose=0)
t = time.perf_counter(); clf.fit(X, y); fit = time.perf_counter() - t
t = time.perf_counter(); proba = clf.predict_proba(Xt); pred = time.perf_counter() - t
acc = float(np.mean(clf.classes_[proba.argmax(1)] == yt))
print(json.dumps(dict(code=sys.argv[2], dataset=ds, acc=round(acc, 3), fit_s=round(fit, 1), predict_s=round(pred, 1), total_s=round(fit + pred, 1), cases_per_s=round(len(yt) / pred, 1))), flush=True)
