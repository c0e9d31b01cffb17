import sys, time, json, numpy as np, torch, warnings
warnings.filterwarnings("ignore")
torch.set_num_threads(2)
import vlmtsc
from vlmtsc import InstructTimeClassifier
from vlmtsc.datasets import load_dataset
ds = sys.argv[1]
X, y = load_dataset(ds, split="train"); Xt, yt = load_dataset(ds, split="test")
seed = int(sys.argv[2]) if len(sys.argv) > 2 else 0
clf = InstructTimeClassifier(random_state=seed, verbose=0)
t = time.perf_counter(); clf.fit(X, y); fit = time.perf_counter() - t
t = time.perf_counter(); acc = clf.score(Xt, yt); pred = time.perf_counter() - t
print(json.dumps(dict(code=vlmtsc.__file__, dataset=ds, seed=seed, acc=round(acc,3), fit_s=round(fit,1), predict_s=round(pred,1), cases_per_s=round(len(yt)/pred,1), best_epoch=getattr(clf, "best_epoch_", None))), flush=True)
