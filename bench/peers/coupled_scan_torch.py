"""The coupled selective scan of MODEL.md in plain PyTorch: the peer of kernels/coupled_scan_*.cu.

Formulation (the fastest pure-PyTorch one we found that stays exact and stable): the time axis in
chunks of Tc steps; per chunk every Abar = exp(delta A) and every Bbar u of all modalities at once,
G = mean_m Abar and V = mean_m Bbar u, then the recurrence s_t = G_t s_{t-1} + V_t step by step (one
fused multiply-add per step over [B, D, N]; a log-space cumulative product would overflow where G is
small), then h = Abar s_{t-1} + Bbar u, y = C.h + Dskip u and the gate for the whole chunk at once.
With gradients each chunk is checkpointed, so that no [B, L, D, N] tensor is kept.

With --compile the same chunk also runs through torch.compile (inductor): the recurrence is pointwise over
(b, d, n) across the chunk's steps, so the compiler can fuse a chunk's steps into a few kernels. Each
shape compiles once (dynamic=False); the first call's time is reported apart as the compile time, and a
setting whose compilation fails or passes --compile-deadline seconds is reported as such, not timed.

Usage, on the GPU host from the project root (the Java side through .gpu-bundle/run.sh):
    python3 bench/peers/coupled_scan_torch.py [--quick] [--no-compare] [--compile] [--only paper,long2k-n16]
It times forward and backward at ScanBenchmark's settings (CUDA events, warm-up, median), then
compares outputs and gradients with io.cmamba.bench.CoupledScanRunner at reduced sizes, the inputs
and outputs exchanged as safetensors files: max |difference| and norm-wise relative difference of
each, both implementations against a float64 evaluation of this formulation.
"""
import argparse
import os
import subprocess
import sys
import tempfile
import time

import torch
from safetensors.torch import load_file, save_file
from torch.utils.checkpoint import checkpoint

SETTINGS = [("paper", 3, 1024, 50, 256, 64), ("long2k-n16", 3, 8, 2048, 1536, 16), ("long2k-n64", 3, 8, 2048, 1536, 64),
            ("long16k-n16", 3, 8, 16384, 1536, 16), ("long16k-n64", 3, 8, 16384, 1536, 64)]


def softplus(x):
    return torch.where(x > 20, x, torch.log1p(torch.exp(x)))


def chunk(s0, dl, u, z, A, B, C, Ds):
    """Steps of one chunk: dl, u, z [M,Bt,T,D]; B, C [M,Bt,T,N]; s0 [Bt,D,N] -> out [M,Bt,T,D], s [Bt,D,N]."""
    M = u.shape[0]
    abar = torch.exp(dl[..., None] * A[:, None, None])          # [M,Bt,T,D,N]
    bu = (dl * u)[..., None] * B[:, :, :, None, :]              # [M,Bt,T,D,N]
    G = abar.mean(0)
    V = bu.mean(0)
    T = u.shape[2]
    prev = []
    s = s0
    for t in range(T):
        prev.append(s)
        s = torch.addcmul(V[:, t], G[:, t], s)
    sp = torch.stack(prev, 1)                                   # [Bt,T,D,N] = s_{t-1}
    h = abar * sp[None] + bu
    y = (h * C[:, :, :, None, :]).sum(-1) + Ds[:, None, None, :] * u
    return y * torch.nn.functional.silu(z), s


def scan(pre, u, z, A, B, C, Ds, s0=None, tc=16, ckpt=False, chunk_fn=chunk):
    M, Bt, L, D = u.shape
    N = A.shape[2]
    dl = softplus(pre)
    s = torch.zeros(Bt, D, N, dtype=u.dtype, device=u.device) if s0 is None else s0
    outs = []
    for t0 in range(0, L, tc):
        sl = slice(t0, min(L, t0 + tc))
        args = (s, dl[:, :, sl], u[:, :, sl], z[:, :, sl], A, B[:, :, sl], C[:, :, sl], Ds)
        o, s = checkpoint(chunk_fn, *args, use_reentrant=False) if ckpt else chunk_fn(*args)
        outs.append(o)
    return torch.cat(outs, 2), s


def chunk_len(M, Bt, D, N, budget=1 << 29):
    """Steps per chunk: the [M,Bt,T,D,N] intermediates below ~2 GiB each."""
    return max(1, min(64, budget // (M * Bt * D * N)))


def inputs(M, Bt, L, D, N, dtype=torch.float32, seed=1):
    g = torch.Generator(device="cuda").manual_seed(seed)
    r = lambda *s: torch.randn(*s, generator=g, device="cuda", dtype=dtype)
    return dict(u=r(M, Bt, L, D), delta=r(M, Bt, L, D) - 3, z=r(M, Bt, L, D),
                A=-torch.exp(torch.log(torch.arange(1, N + 1, device="cuda", dtype=dtype)).expand(M, D, N) + 0.1 * r(M, D, N)),
                B=r(M, Bt, L, N), C=r(M, Bt, L, N), Dskip=1 + 0.1 * r(M, D))


def median_ms(fn, warm=1, runs=5):
    for _ in range(warm):
        fn()
    ts = []
    for _ in range(runs):
        a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        ts.append(a.elapsed_time(b))
    ts.sort()
    return ts[len(ts) // 2]


def time_setting(name, M, Bt, L, D, N, runs, chunk_fn=chunk, label="torch", deadline=None):
    """Median forward and backward ms of the chunked formulation with chunk_fn; for a compiled chunk_fn the
    first (compiling) call of each is timed apart and checked against the deadline in seconds."""
    x = inputs(M, Bt, L, D, N)
    tc = chunk_len(M, Bt, D, N)
    args = [x[k] for k in ("delta", "u", "z", "A", "B", "C", "Dskip")]

    def fwd():
        with torch.no_grad():
            scan(*args, tc=tc, chunk_fn=chunk_fn)

    req = [a.detach().requires_grad_(True) for a in args]
    dout = torch.randn(M, Bt, L, D, device="cuda")

    def fwd_bwd():
        for a in req:
            a.grad = None
        out, _ = scan(*req, tc=tc, ckpt=True, chunk_fn=chunk_fn)
        out.backward(dout)

    r = max(1, runs if L <= 2048 else 1)
    first = ""
    if deadline is not None:   # compile both graphs first, each against the deadline
        secs = []
        for fn in (fwd, fwd_bwd):
            t0 = time.time()
            fn()
            torch.cuda.synchronize()
            secs.append(time.time() - t0)
            if secs[-1] > deadline:
                raise TimeoutError(f"compiling took {secs[-1]:.0f} s, over the {deadline:.0f} s deadline")
        first = f", first calls {secs[0]:.1f} s and {secs[1]:.1f} s (compiling)"
    f = median_ms(fwd, 1, r)
    fb = median_ms(fwd_bwd, 1, r)
    print(f"{label} {name:12s} M={M} B={Bt} L={L} D={D} N={N} (chunks of {tc}): forward {f:.3f} ms, "
          f"backward {fb - f:.3f} ms (forward+backward {fb:.3f} ms){first}", flush=True)
    del x, args, req, dout
    torch.cuda.empty_cache()
    return f, fb - f


def compare(M, Bt, L, D, N, java):
    """Our CUDA scan (through CoupledScanRunner) and this formulation, both against float64."""
    x = inputs(M, Bt, L, D, N, seed=7)
    dout = torch.randn(M, Bt, L, D, device="cuda", generator=torch.Generator(device="cuda").manual_seed(8))
    names = ("delta", "u", "z", "A", "B", "C", "Dskip")
    grad_names = dict(delta="ddelta", u="du", z="dz", A="dA", B="dB", C="dC", Dskip="dDskip")

    def run_torch(dtype):
        req = [x[k].to(dtype).detach().requires_grad_(True) for k in names]
        out, _ = scan(*req, tc=chunk_len(M, Bt, D, N), ckpt=True)
        out.backward(dout.to(dtype))
        res = dict(out=out.detach())
        for k, a in zip(names, req):
            res[grad_names[k]] = a.grad
        return res

    ref = run_torch(torch.float64)
    t32 = run_torch(torch.float32)
    with tempfile.TemporaryDirectory() as tmp:
        fin, fout = os.path.join(tmp, "in.safetensors"), os.path.join(tmp, "out.safetensors")
        save_file({**{k: x[k].contiguous().cpu() for k in names}, "dout": dout.cpu()}, fin)
        cmd = java + ["--in", fin, "--out", fout, "--backward", "--device", "cuda", "--repeat", "3"]
        p = subprocess.run(cmd, capture_output=True, text=True)
        print("  runner:", (p.stdout.strip() or p.stderr.strip()).splitlines()[-1] if (p.stdout or p.stderr) else "", flush=True)
        if p.returncode != 0:
            print("  runner failed:", p.returncode, p.stderr[-2000:])
            return
        ours = {k: v.cuda() for k, v in load_file(fout).items()}
    print(f"  compare M={M} B={Bt} L={L} D={D} N={N}:  tensor   ours-vs-f64 (max abs, rel)   torch32-vs-f64 (max abs, rel)   ours-vs-torch32 max abs")
    for k in ("out", "du", "ddelta", "dz", "dA", "dB", "dC", "dDskip"):
        r = ref[k]
        def stats(a):
            d = (a.double() - r)
            return d.abs().max().item(), (d.norm() / r.norm()).item()
        oa, orel = stats(ours[k])
        ta, trel = stats(t32[k])
        print(f"    {k:7s} {oa:11.3e} {orel:10.3e}     {ta:11.3e} {trel:10.3e}     {(ours[k] - t32[k].float()).abs().max().item():11.3e}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="skip the L = 16384 settings")
    ap.add_argument("--no-compare", action="store_true")
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--compile", action="store_true", help="also time the chunk through torch.compile")
    ap.add_argument("--compile-deadline", type=float, default=120, help="seconds one compilation may take")
    ap.add_argument("--only", help="comma-separated setting names (default: all)")
    args = ap.parse_args()
    names = [s[0] for s in SETTINGS]
    only = args.only.split(",") if args.only else names
    unknown = [n for n in only if n not in names]
    if unknown:
        ap.error(f"unknown setting {', '.join(unknown)}; the settings are {', '.join(names)}")
    print(torch.cuda.get_device_name(0), "torch", torch.__version__, flush=True)
    kinds = [("torch", chunk, None)]
    if args.compile:
        # every setting's shapes, with and without gradients, are graphs of the one function `chunk`: above
        # dynamo's default limit of 8 recompilations it would quietly fall back to eager
        cfg = torch._dynamo.config
        setattr(cfg, "recompile_limit" if hasattr(cfg, "recompile_limit") else "cache_size_limit", 64)
        kinds.append(("torch.compile", torch.compile(chunk, dynamic=False), args.compile_deadline))
    rows = []
    for label, fn, deadline in kinds:
        for name, M, Bt, L, D, N in SETTINGS:
            if (args.quick and L > 2048) or name not in only:
                continue
            try:
                rows.append((label, name) + time_setting(name, M, Bt, L, D, N, args.runs, fn, label, deadline))
            except torch.cuda.OutOfMemoryError as e:
                print(f"{label} {name}: out of memory ({str(e).splitlines()[0]})", flush=True)
            except Exception as e:  # a compiler failure or a missed deadline: say so and go on
                print(f"{label} {name}: not timed: {type(e).__name__}: {str(e).splitlines()[0][:300]}", flush=True)
            torch.cuda.empty_cache()
    print("\npeer           setting       forward ms  backward ms")
    for r in rows:
        print(f"{r[0]:14s} {r[1]:12s} {r[2]:10.3f} {r[3]:12.3f}")
    if not args.no_compare:
        java = ["bash", ".gpu-bundle/run.sh", "java", "io.cmamba.bench.CoupledScanRunner"]
        compare(3, 16, 50, 256, 64, java)
        compare(3, 1, 2048, 128, 16, java)


if __name__ == "__main__":
    sys.exit(main())
