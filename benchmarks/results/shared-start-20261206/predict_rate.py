import sys, time, json, numpy as np, torch, warnings
warnings.filterwarnings("ignore")
torch.set_num_threads(2)
import vlmtsc
from vlmtsc import InstructTimeClassifier
from vlmtsc.datasets import load_dataset
for ds in sys.argv[1].split(","):
    X, y = load_dataset(ds, split="train"); Xt, yt = load_dataset(ds, split="test")
    clf = InstructTimeClassifier(n_epochs=1, validation_fraction=0, random_state=0, verbose=0).fit(X, y)
    n = min(len(Xt), 200)
    t = time.perf_counter(); clf.predict(Xt[:n]); dt = time.perf_counter() - t
    print(json.dumps(dict(code=vlmtsc.__file__, dataset=ds, n_classes=len(clf.classes_), tokens=int(len(clf._examples(Xt[:1])[0][0]["input_ids"])), cases=n, predict_s=round(dt, 1), cases_per_s=round(n / dt, 1))), flush=True)
