"""InstructTimeClassifier at its defaults on one bundled set, standard splits,
2 threads: accuracy, fit and predict seconds, the training history (loss and
validation score per epoch), then predict under bf16 autocast (the default
where the CPU has AVX512-BF16) against float32 (``mixed_precision="no"`` at
predict), each twice, alternating: agreement and cases per second.

    python fit_history.py Coffee
"""
import sys, time, json, numpy as np, torch, warnings
warnings.filterwarnings("ignore"); torch.set_num_threads(2)
from vlmtsc import InstructTimeClassifier
from vlmtsc.datasets import load_dataset
ds = sys.argv[1]
X, y = load_dataset(ds, split="train"); Xt, yt = load_dataset(ds, split="test")
clf = InstructTimeClassifier(random_state=0, verbose=0)
t = time.perf_counter(); clf.fit(X, y); fit = time.perf_counter() - t
t = time.perf_counter(); pred = clf.predict(Xt); ps = time.perf_counter() - t
print(json.dumps(dict(dataset=ds, acc=round(float(np.mean(pred == yt)), 3), fit_s=round(fit, 1), predict_s=round(ps, 1), cases_per_s=round(len(Xt) / ps, 1), best_epoch=clf.best_epoch_)))
for h in clf.history_:
    print({k: (round(v, 4) if isinstance(v, float) else v) for k, v in h.items() if k in ("phase", "epoch", "loss", "validation_score", "seconds")})
P = {}
for mode in ["no", "auto", "no", "auto"]:
    clf.model_.mixed_precision = mode
    t = time.perf_counter(); P[mode] = clf.predict_proba(Xt); dt = time.perf_counter() - t
    print(json.dumps(dict(mixed_precision=mode, acc=round(float(np.mean(clf.classes_[P[mode].argmax(1)] == yt)), 3), cases_per_s=round(len(Xt) / dt, 1))))
print(json.dumps(dict(agree=float(np.mean(P["no"].argmax(1) == P["auto"].argmax(1))), max_abs_dp=round(float(np.abs(P["no"] - P["auto"]).max()), 4))))
