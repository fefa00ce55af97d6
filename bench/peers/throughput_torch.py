"""Training throughput of the PyTorch peers: samples per second of whole training steps.

One step = zero the gradients in place, forward, L1 loss against a random target, backward, Adam
(torch.optim.Adam, lr 1e-4, PyTorch's default implementation for the device); no gradient clipping.
The Java side is `cmamba bench --throughput BxL,..` (the same step with the project's Adam). At each
point BxL (--points, default the paper's setting, batch 1024 at L 50, and batch 128 at L 500) and for
each model (--models, as bench_fusion_torch.py): two warm-up steps (Adam creates its moments in the
first), then the median of --repeats steps timed by CUDA events; samples/s = batch / median step time.
Widths as the paper's: d_model 128, d_state 64, 3 layers, 8 heads (on the CPU too, unless given).
Out of memory at a point is printed and written as NaN.

Usage (GPU host, from the project root):
    python3 bench/peers/throughput_torch.py --device cuda --out OUT/throughput [--points 1024x50,128x500]
Writes OUT/throughput-torch.csv: model,length,batch,train_step_ms,samples_per_s.
"""
import argparse
import gc
import math
import os
import statistics
import sys
import time

import torch
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import bench_fusion_torch as bft  # noqa: E402

DEFAULT_MODELS = "torch-coupled-mamba,torch-coupled-mamba-chunked,torch-cross-attention-sdpa"


def points(s):
    try:
        pts = [tuple(int(v) for v in p.lower().split("x")) for p in s.split(",") if p.strip()]
    except ValueError:
        pts = []
    if not pts or any(len(p) != 2 or min(p) < 1 for p in pts):
        raise argparse.ArgumentTypeError(f"expected BATCHxLENGTH,.. (e.g. 1024x50,128x500), got {s!r}")
    return pts


def step_ms(name, args, batch, length, device):
    """Median milliseconds of one training step with Adam, or NaN and the reason."""
    args.batch = batch
    cfg = bft.config(args, name, length)
    state, failure = {}, None
    try:
        model = state["model"] = bft.build_model(name, cfg, device)
        feats, lens, target = state["data"] = bft.inputs(cfg, batch, device)
        opt = state["opt"] = torch.optim.Adam(model.parameters(), lr=1e-4)

        def step():
            opt.zero_grad(set_to_none=False)
            F.l1_loss(model(feats, lens).view(-1), target).backward()
            opt.step()

        warmups = 3 if name.endswith("-compiled") else 2
        ms = bft.timed(step, device, args.repeats, args.budget_s, warmups)[0]
    except Exception as e:  # noqa: BLE001
        if not bft.is_oom(e) and not name.endswith("-compiled"):
            raise
        failure = ("out of memory: " if bft.is_oom(e) else "failed: ") + bft.first_line(e)
    state.clear()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    return (math.nan, failure) if failure else (ms, "")


def main(argv=None):
    p = bft.parser(__doc__.split("\n\n")[0])
    p.set_defaults(models=DEFAULT_MODELS, d_model=128, d_state=64, repeats=10)
    p.add_argument("--points", type=points, default=points("1024x50,128x500"),
                   help="BATCHxLENGTH,.. (default 1024x50,128x500: the paper's setting and L 500)")
    p.add_argument("--out", default="runs/throughput-torch", help="output directory")
    p.add_argument("--budget-s", type=float, default=10.0, help="seconds of timed steps per point and model at most")
    args = p.parse_args(argv)
    device = bft.setup(args)
    print(f"device: {bft.meta(args, device)['device']} (torch {torch.__version__}); points "
          f"{', '.join(f'{b}x{n}' for b, n in args.points)}, d_model {args.d_model}, layers {args.layers}, "
          f"heads {args.heads}, d_state {args.d_state}, {args.repeats} timed steps", flush=True)
    os.makedirs(args.out, exist_ok=True)
    path = os.path.join(args.out, "throughput-torch.csv")
    lines = ["model,length,batch,train_step_ms,samples_per_s"]
    t_start = time.perf_counter()
    for batch, length in args.points:
        for name in args.models:
            ms, why = step_ms(name, args, batch, length, device)
            sps = batch / (ms / 1e3) if ms > 0 else math.nan
            num = lambda v, d: "NaN" if math.isnan(v) else f"{v:.{d}f}"
            lines.append(f"{name},{length},{batch},{num(ms, 4)},{num(sps, 1)}")
            print(f"{name:<30} B {batch:5d} L {length:6d}  step {ms:9.3f} ms  {sps:10.1f} samples/s"
                  f"{'  [' + why + ']' if why else ''}", flush=True)
            with open(path, "w") as f:
                f.write("\n".join(lines) + "\n")
    print(f"wrote {path} ({time.perf_counter() - t_start:.0f} s)")


if __name__ == "__main__":
    main()
