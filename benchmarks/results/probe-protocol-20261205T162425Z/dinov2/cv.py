"""Project's probe protocol on cached frozen features: StratifiedKFold(k=min(5,smallest), shuffle, rs=0),
head = fit_probe(F, y, 0); mean held-out accuracy over folds. Writes /tmp/dino/cv.csv."""
import sys, os, numpy as np, pandas as pd
from sklearn.model_selection import StratifiedKFold
from vlmtsc.training import fit_probe
from vlmtsc.datasets import list_datasets

FE = "/tmp/dino/feats"
LAYERS = ["middle", "last", "cls", "clsmean"]
only = sys.argv[1].split(",") if len(sys.argv) > 1 else None

def cv(F, y):
    smallest = int(np.bincount(np.unique(y, return_inverse=True)[1]).min())
    folds = StratifiedKFold(min(5, smallest), shuffle=True, random_state=0)
    return float(np.mean([fit_probe(F[tr], y[tr], 0).score(F[te], y[te]) for tr, te in folds.split(F, y)])), folds.n_splits

out = "/tmp/dino/cv.csv"
rows = pd.read_csv(out).to_dict("records") if os.path.exists(out) else []
done = {(r["dataset"], r["encoder"], r["view"], r["layers"]) for r in rows}
def candidates(ds):
    line = np.load(f"{FE}/{ds}__line.npz"); win = np.load(f"{FE}/{ds}__window.npz")
    c = {}
    for lay in LAYERS:
        c[("dinov2", "line", lay)] = lambda lay=lay: line[lay]
        c[("dinov2", "windows", lay)] = lambda lay=lay: win[lay]
        c[("dinov2", "fused", lay)] = lambda lay=lay: np.hstack([line[lay], win[lay]])
    L = np.load(f"{FE}/{ds}__lite0.npz")["F"]
    mid = L[:, :1024]  # Lite0 fused middle blocks (line 512 | windows 512); series encoder columns after
    c[("lite0", "fused", "middle")] = lambda: mid
    c[("lite0", "fused", "default")] = lambda: L
    c[("dinov2+lite0", "fused", "middle+lite0-middle")] = lambda: np.hstack([line["middle"], win["middle"], mid])
    c[("dinov2+lite0", "fused", "middle+lite0-default")] = lambda: np.hstack([line["middle"], win["middle"], L])
    c[("dinov2+lite0", "fused", "last+lite0-middle")] = lambda: np.hstack([line["last"], win["last"], mid])
    return line["y"], c

ORDER = ["dinov2/fused/middle", "lite0/fused/middle", "dinov2/fused/last", "dinov2/fused/clsmean",
         "dinov2+lite0/fused/middle+lite0-middle", "dinov2/fused/cls", "dinov2/line/middle",
         "dinov2/windows/middle", "lite0/fused/default", "dinov2+lite0/fused/middle+lite0-default",
         "dinov2/line/last", "dinov2/windows/last", "dinov2/line/cls", "dinov2/windows/cls",
         "dinov2/line/clsmean", "dinov2/windows/clsmean", "dinov2+lite0/fused/last+lite0-middle"]
data = {ds: candidates(ds) for ds in list_datasets()}
for key in (only or ORDER):
    enc, view, lay = key.split("/", 2)
    for ds, (y, c) in data.items():
        if (ds, enc, view, lay) in done:
            continue
        F = c[(enc, view, lay)]()
        acc, k = cv(F.astype(np.float64), y)
        rows.append(dict(dataset=ds, encoder=enc, view=view, layers=lay, dimension=F.shape[1], cv_accuracy=acc, folds=k))
        print(ds, enc, view, lay, F.shape[1], round(acc, 3), flush=True)
        pd.DataFrame(rows).to_csv(out, index=False)
t = pd.DataFrame(rows)
piv = t.pivot_table(index=["encoder", "view", "layers"], values="cv_accuracy", aggfunc=["mean", "count"])
print(piv.sort_values(("mean", "cv_accuracy"), ascending=False).round(3).to_string())
