"""InstructTimeClassifier at its defaults (or with the JSON parameters given) on
one bundled set, standard splits, 2 threads: accuracy, fit and predict seconds,
then the training history (loss and validation accuracy per epoch).

    python fit_history.py Coffee                      # the defaults
    python fit_history.py Coffee '{"n_epochs": 10}'   # the previous default
"""
import sys, time, json, numpy as np, torch, warnings
warnings.filterwarnings("ignore"); torch.set_num_threads(2)
from vlmtsc import InstructTimeClassifier
from vlmtsc.datasets import load_dataset
ds = sys.argv[1]; kw = json.loads(sys.argv[2]) if len(sys.argv) > 2 else {}
X, y = load_dataset(ds, split="train"); Xt, yt = load_dataset(ds, split="test")
clf = InstructTimeClassifier(random_state=0, verbose=0, **kw)
t = time.perf_counter(); clf.fit(X, y); fit = time.perf_counter() - t
t = time.perf_counter(); pred = clf.predict(Xt); ps = time.perf_counter() - t
print(json.dumps(dict(dataset=ds, kw=kw, acc=round(float(np.mean(pred == yt)), 3), fit_s=round(fit, 1), predict_s=round(ps, 1), pred_counts={str(k): int(v) for k, v in zip(*np.unique(pred, return_counts=True))})))
for h in clf.history_:
    print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in h.items() if k in ("phase", "epoch", "loss", "validation_score", "seconds")})
