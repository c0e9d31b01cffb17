import json, sys, time, numpy as np
from sklearn.model_selection import StratifiedKFold
from vlmtsc import InstructTimeClassifier, CrossTimeNetClassifier
from vlmtsc.base import take_cases
from vlmtsc.datasets import load_dataset
from vlmtsc.experiments import limit_threads
from vlmtsc.tokenizers import VQTokenizer
limit_threads(int(sys.argv[1]))
name, cls_name, patches = sys.argv[2], sys.argv[3], [int(p) for p in sys.argv[4].split(",")]
cls = {"instructtime": InstructTimeClassifier, "crosstimenet": CrossTimeNetClassifier}[cls_name]
X, y = load_dataset(name, "train")
for patch in patches:
    for fold, (fit, held) in enumerate(StratifiedKFold(2, shuffle=True, random_state=0).split(np.zeros(len(y)), y)):
        clf = cls(tokenizer=VQTokenizer(patch_length=patch, verbose=0), verbose=0)
        t = time.perf_counter(); clf.fit(take_cases(X, fit), y[fit]); f = time.perf_counter() - t
        acc = clf.score(take_cases(X, held), y[held])
        print(json.dumps({"dataset": name, "estimator": cls_name, "patch_length": patch, "fold": fold, "accuracy": float(acc), "fit_s": f, "predict_s": time.perf_counter() - t - f}), flush=True)
