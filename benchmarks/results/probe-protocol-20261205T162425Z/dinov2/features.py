"""DINOv2 (rebuilt) frozen features for each data set's TRAINING split, both renderers."""
import os, sys, time, numpy as np, torch
torch.set_num_threads(1)
sys.path.insert(0, "/tmp/dino")
from rebuild import build
from vlmtsc.renderers import LinePlotRenderer, WindowStackRenderer
from vlmtsc.datasets import load_dataset, list_datasets

OUT = "/tmp/dino/feats"; os.makedirs(OUT, exist_ok=True)
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
model, _ = build()
total_t, total_n = 0.0, 0
for name in list_datasets():
    X, y = load_dataset(name, split="train")
    for rname, R in [("line", LinePlotRenderer), ("window", WindowStackRenderer)]:
        path = f"{OUT}/{name}__{rname}.npz"
        if os.path.exists(path):
            continue
        imgs = R().fit(X).transform(X)
        assert imgs.shape[1:] == (224, 224, 3) and imgs.dtype == np.uint8, imgs.shape
        parts = {k: [] for k in ["middle", "last", "cls", "clsmean"]}
        t = time.perf_counter()
        with torch.no_grad():
            for i in range(0, len(imgs), 8):
                x = torch.from_numpy(imgs[i:i + 8]).permute(0, 3, 1, 2).float() / 255.0
                x = (x - MEAN) / STD
                o = model(pixel_values=x, output_hidden_states=True)
                hs = o.hidden_states  # 13: embeddings + 12 layers (raw, pre final LN)
                mid = torch.cat([hs[l][:, 1:].mean(1) for l in (4, 8, 12)], 1)
                last = o.last_hidden_state[:, 1:].mean(1)
                cls = o.last_hidden_state[:, 0]
                parts["middle"].append(mid); parts["last"].append(last); parts["cls"].append(cls)
                parts["clsmean"].append(torch.cat([cls, last], 1))
        dt = time.perf_counter() - t
        total_t += dt; total_n += len(imgs)
        np.savez(path, y=np.asarray(y), **{k: torch.cat(v).numpy() for k, v in parts.items()})
        print(f"{name} {rname} n={len(imgs)} {dt:.1f}s ({dt/len(imgs):.3f} s/img)", flush=True)
print(f"overall DINOv2 forward: {total_t/max(total_n,1):.4f} s/img over {total_n} imgs")
