"""A torch estimator's default, fitted once on a bundled set (standard split,
2 threads), then predict with bf16 autocast (mixed_precision="bf16") against
float32 ("no"), each twice, alternating: cases per second and agreement.

    python torch_predict.py TimeLlamaClassifier GunPoint
"""
import sys, time, json, numpy as np, torch, warnings
warnings.filterwarnings("ignore"); torch.set_num_threads(2)
import vlmtsc
from vlmtsc.datasets import load_dataset
name, ds = sys.argv[1], sys.argv[2]
X, y = load_dataset(ds, split="train"); Xt, yt = load_dataset(ds, split="test")
clf = getattr(vlmtsc, name)(random_state=0, verbose=0)
t = time.perf_counter(); clf.fit(X, y); fit = time.perf_counter() - t
print(json.dumps(dict(estimator=name, dataset=ds, fit_s=round(fit, 1))), flush=True)
P = {}
for mode in ["no", "bf16", "no", "bf16"]:
    clf.set_params(mixed_precision=mode)
    t = time.perf_counter(); P[mode] = clf.predict_proba(Xt); dt = time.perf_counter() - t
    print(json.dumps(dict(mixed_precision=mode, acc=round(float(np.mean(clf.classes_[P[mode].argmax(1)] == yt)), 3), cases_per_s=round(len(Xt) / dt, 1))), flush=True)
print(json.dumps(dict(agree=float(np.mean(P["no"].argmax(1) == P["bf16"].argmax(1))), max_abs_dp=round(float(np.abs(P["no"] - P["bf16"]).max()), 4))))
