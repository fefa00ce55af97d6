"""The PyTorch peers of `cmamba bench`: the same sweep, the same configuration, the same table.

Times the fusion models of fusion_torch.py at the sizes io.cmamba.bench.FusionBenchmark uses (3
modalities of 32 features, d_model, expand 2, d_state, layers, heads, conv width 4, regression head
of 64, every sample at full length, float32 with TF32 off as on the Java side) and writes a CSV with
exactly the Java CSV's columns, so that `cmamba bench --join FILE` puts both in one table and one set
of plots. Models (--models, comma list):

  torch-coupled-mamba           fusion_torch's model as written: the coupled scan as a loop over time
  torch-coupled-mamba-chunked   the same model with coupled_scan_torch.scan (chunks of steps, each
                                chunk checkpointed under autograd so no [B, L, D, N] tensor is kept)
  torch-coupled-mamba-compiled  the chunked model with its chunk function through torch.compile
  torch-cross-attention-sdpa    cross-attention fusion, F.scaled_dot_product_attention
  torch-cross-attention-plain   cross-attention fusion, scores materialised (softmax(QK^T) V)

Per model and length: one warm-up, then the median of --repeats runs timed by CUDA events (host clock
on the CPU) of an inference pass (torch.no_grad) and of a training step (zero the gradients in place,
forward, L1 loss against a random target, backward; no optimizer: throughput_torch.py has that).

Peak memory: torch.cuda.max_memory_allocated() after torch.cuda.reset_peak_memory_stats() at the
start of the timed runs (after the warm-up), minus nothing. It counts every block of PyTorch's caching
allocator in use during the runs: parameters, inputs and target, gradients (after the first backward
they stay allocated, as on the Java side), activations, saved tensors, and the cuBLAS / SDPA
workspaces PyTorch allocates through its allocator; block sizes are rounded up to 512 bytes. It does
not count the CUDA context, cached free blocks or memory that libraries take outside the allocator.
The Java figure (CachingAllocator.peakInUseBytes after resetPeak) counts the same kinds of buffers
(parameters, their gradient buffers, which the Java models hold from creation, so also during
inference, inputs, activations) in whole size-class blocks (2 MiB multiples above 1 MiB), and not
cuBLAS's own workspace. Both are "what the live tensors occupy", neither is what the driver reports.

Pooling: fusion_torch.length_pool builds a [B, L, L] window matrix, quadratic in L (8 GiB per
modality at B 8, L 16384), which the Java pooling op does not pay and would dominate both torch
models' memory at long L. This script swaps in `length_pool_linear`, the same windows by prefix sums,
O(B L F). Pass --quadratic-pool to keep the original.

A model whose median step took more than half of --budget-s at some length is skipped at the
longer lengths (it would take more than the budget there): such rows have NaN figures, oom false, and
their reason in the JSON sidecar's notes; so do rows left when --deadline-s has passed. Out of memory
is caught per phase: the row has oom true, NaN for what did not fit, the figures of what did.

Usage (GPU host, from the project root; on the CPU the defaults shrink as the Java bench's do):
    python3 bench/peers/bench_fusion_torch.py --device cuda --out OUT/bench \
        [--lengths 64,128,...] [--batch 8] [--d-model 128] [--layers 3] [--heads 8] [--d-state 64] [--repeats 5]
Writes OUT/fusion-bench-torch.csv and OUT/fusion-bench-torch.json.
"""
import argparse
import gc
import json
import math
import os
import statistics
import sys
import time
import types

import torch
import torch.nn as nn
import torch.nn.functional as F

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import fusion_torch as ft  # noqa: E402

CSV_COLUMNS = ["model", "length", "batch", "infer_ms", "train_ms", "infer_peak_mib", "train_peak_mib", "oom",
               "infer_driver_mib", "train_driver_mib"]
MODELS = ["torch-coupled-mamba", "torch-coupled-mamba-chunked", "torch-coupled-mamba-compiled",
          "torch-cross-attention-sdpa", "torch-cross-attention-plain"]
DEFAULT_MODELS = "torch-coupled-mamba,torch-coupled-mamba-chunked,torch-cross-attention-sdpa"
FEATURES = 32
MODALITIES = 3


def import_chunked_scan():
    """coupled_scan_torch imports safetensors at the top for its Java comparison, which this benchmark does
    not use; where safetensors is missing (the GPU host may lack it) a stub that fails on use stands in."""
    try:
        import coupled_scan_torch
        return coupled_scan_torch
    except ImportError as e:
        if "safetensors" not in str(e):
            raise
    def missing(*_args, **_kwargs):
        raise ImportError("safetensors is not installed")
    st, st_torch = types.ModuleType("safetensors"), types.ModuleType("safetensors.torch")
    st_torch.load_file = st_torch.save_file = missing
    st.torch = st_torch
    sys.modules.setdefault("safetensors", st)
    sys.modules.setdefault("safetensors.torch", st_torch)
    import coupled_scan_torch
    return coupled_scan_torch


def length_pool_linear(x, lengths, out_len):
    """fusion_torch.length_pool's windows [floor(i len / out), ceil((i + 1) len / out)) by prefix sums:
    x [B, Lin, F] -> [B, out_len, F] in O(B Lin F) instead of a [B, out_len, Lin] weight matrix."""
    bsz, lin, feat = x.shape
    i = torch.arange(out_len, device=x.device).view(1, -1)
    ln = lengths.to(torch.long).view(bsz, 1)
    start = torch.div(i * ln, out_len, rounding_mode="floor").clamp(max=lin)
    end = (-torch.div(-(i + 1) * ln, out_len, rounding_mode="floor")).clamp(max=lin)
    cs = torch.cat([x.new_zeros(bsz, 1, feat), x.cumsum(1)], 1)                 # [B, Lin + 1, F]
    take = lambda idx: cs.gather(1, idx.unsqueeze(-1).expand(bsz, out_len, feat))
    count = (end - start).clamp_min(1).unsqueeze(-1).to(x.dtype)
    return (take(end) - take(start)) / count


class ScanSwap(nn.Module):
    """A fusion_torch model whose coupled scan is `scan` during its forward passes (the model looks
    `coupled_scan` up in its module at call time; autograd keeps what the forward recorded)."""

    def __init__(self, inner, scan):
        super().__init__()
        self.inner = inner
        self.scan = scan

    def forward(self, features, lengths):
        saved = ft.coupled_scan
        ft.coupled_scan = self.scan
        try:
            return self.inner(features, lengths)
        finally:
            ft.coupled_scan = saved


def chunked_scan(cst, chunk_fn=None):
    """fusion_torch.coupled_scan's interface over coupled_scan_torch's formulation; with `chunk_fn` (a
    compiled chunk) the same loop over chunks as coupled_scan_torch.scan, calling that instead."""
    from torch.utils.checkpoint import checkpoint

    def scan(u, delta_pre, z, A, Bm, Cm, Dskip):
        m, bsz, length, d = u.shape
        tc = cst.chunk_len(m, bsz, d, A.shape[-1])
        ckpt = torch.is_grad_enabled()
        if chunk_fn is None:
            return cst.scan(delta_pre, u, z, A, Bm, Cm, Dskip, tc=tc, ckpt=ckpt)[0]
        dl = cst.softplus(delta_pre)
        s = u.new_zeros(bsz, d, A.shape[-1])
        outs = []
        for t0 in range(0, length, tc):
            sl = slice(t0, min(length, t0 + tc))
            args = (s, dl[:, :, sl], u[:, :, sl], z[:, :, sl], A, Bm[:, :, sl], Cm[:, :, sl], Dskip)
            o, s = checkpoint(chunk_fn, *args, use_reentrant=False) if ckpt else chunk_fn(*args)
            outs.append(o)
        return torch.cat(outs, 2)

    return scan


def config(args, model, length):
    """FusionBenchmark.config: 3 modalities of 32 features at length L, pooled to L."""
    arch = "CROSS_ATTENTION" if "cross-attention" in model else "COUPLED_MAMBA"
    return ft.Config([FEATURES] * MODALITIES, [length] * MODALITIES, length, d_model=args.d_model, expand=2,
                     d_state=args.d_state, dt_rank=0, conv_width=4, layers=args.layers, mode="SELECTIVE",
                     fusion="COUPLED", architecture=arch, heads=args.heads, norm="LAYER", task="REGRESSION",
                     classes=0, head_hidden=64)


_compiled_chunk = {}


def build_model(name, cfg, device):
    torch.manual_seed(1)
    if name == "torch-cross-attention-sdpa":
        m = ft.build(cfg, materialise=False)
    elif name == "torch-cross-attention-plain":
        m = ft.build(cfg, materialise=True)
    elif name == "torch-coupled-mamba":
        m = ft.build(cfg)
    elif name == "torch-coupled-mamba-chunked":
        m = ScanSwap(ft.build(cfg), chunked_scan(import_chunked_scan()))
    elif name == "torch-coupled-mamba-compiled":
        cst = import_chunked_scan()
        if "fn" not in _compiled_chunk:
            _compiled_chunk["fn"] = torch.compile(cst.chunk, dynamic=False)
        m = ScanSwap(ft.build(cfg), chunked_scan(cst, _compiled_chunk["fn"]))
    else:
        raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")
    return m.to(device)


def inputs(cfg, batch, device):
    """FusionBenchmark.input: Gaussian features, every sample at full length; plus a regression target."""
    g = torch.Generator().manual_seed(5)
    feats = [torch.randn(batch, n, f, generator=g).to(device) for f, n in zip(cfg.feature_sizes, cfg.input_lengths)]
    lens = [torch.full((batch,), n, dtype=torch.int32, device=device) for n in cfg.input_lengths]
    target = torch.randn(batch, generator=g).to(device)
    return feats, lens, target


def sync(device):
    if device.type == "cuda":
        torch.cuda.synchronize(device)


OOM_ERRORS = tuple({getattr(torch, "OutOfMemoryError", torch.cuda.OutOfMemoryError), torch.cuda.OutOfMemoryError,
                    MemoryError})


def is_oom(e):
    return isinstance(e, OOM_ERRORS) or "out of memory" in str(e).lower()


def first_line(e):
    return (str(e).strip().splitlines() or [type(e).__name__])[0][:300]


def timed(fn, device, repeats, budget_s, warmups=1):
    """`warmups` warm-up runs (the last timed by the host clock, and one more where that one would cut the
    repeats), then up to `repeats` runs, fewer where they would pass `budget_s`: (median ms, peak MiB
    during the timed runs or NaN off the GPU, seconds of the last warm-up, runs, the most device memory
    in use as the driver reports it after a timed run, MiB, or NaN off the GPU)."""
    def once():
        t0 = time.perf_counter()
        fn()
        sync(device)
        return time.perf_counter() - t0

    for _ in range(warmups):
        warm = once()
    if warm * repeats > budget_s and warm < budget_s / 2:
        warm = once()  # a first run pays one-off costs (allocator growth, library set-up): ask once more
    runs = max(1, min(repeats, int(budget_s // max(warm, 1e-9))))
    cuda = device.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats(device)
    ms, driver = [], math.nan
    for _ in range(runs):
        if cuda:
            start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            start.record()
            fn()
            end.record()
            end.synchronize()
            ms.append(start.elapsed_time(end))
            free, total = torch.cuda.mem_get_info(device)  # the context and every cached block count as used
            driver = max(0.0 if math.isnan(driver) else driver, (total - free) / 2 ** 20)
        else:
            t = time.perf_counter()
            fn()
            ms.append((time.perf_counter() - t) * 1e3)
    peak = torch.cuda.max_memory_allocated(device) / 2 ** 20 if cuda else math.nan
    return statistics.median(ms), peak, warm, runs, driver


def measure(name, args, length, device):
    """One row (dict with the CSV columns and a note) and the slower phase's median step in seconds."""
    row = dict(model=name, length=length, batch=args.batch, infer_ms=math.nan, train_ms=math.nan,
               infer_peak_mib=math.nan, train_peak_mib=math.nan, oom=False, note="",
               infer_driver_mib=math.nan, train_driver_mib=math.nan)
    slowest, notes = 0.0, []
    cfg = config(args, name, length)
    state = {}
    try:
        state["model"] = build_model(name, cfg, device)
        state["feats"], state["lens"], state["target"] = inputs(cfg, args.batch, device)
    except Exception as e:  # noqa: BLE001 -- recorded in the row, the sweep goes on
        if not is_oom(e):
            raise
        row["oom"], row["note"] = True, "building: " + first_line(e)
    phases = [] if row["oom"] else ["infer", "train"]
    for phase in phases:
        model, feats, lens, target = state["model"], state["feats"], state["lens"], state["target"]

        def infer():
            with torch.no_grad():
                model(feats, lens)

        def train():
            model.zero_grad(set_to_none=False)
            loss = F.l1_loss(model(feats, lens).view(-1), target)
            loss.backward()

        failure = None
        try:
            # a compiled model's first call compiles: a second warm-up times the compiled code
            ms, peak, warm, runs, driver = timed(infer if phase == "infer" else train, device, args.repeats, args.budget_s,
                                                 2 if name.endswith("-compiled") else 1)
            row[phase + "_ms"], row[phase + "_peak_mib"], row[phase + "_driver_mib"] = ms, peak, driver
            slowest = max(slowest, ms / 1e3)
            if runs < args.repeats:
                notes.append(f"{phase}: {runs} timed run(s), one took {warm:.1f} s")
        except Exception as e:  # noqa: BLE001
            if not is_oom(e) and not name.endswith("-compiled"):  # torch.compile may fail where it is not set up
                raise
            failure = (is_oom(e), f"{phase}: " + first_line(e))
        if failure:  # outside the except block: the traceback's frames (and their tensors) are gone
            row["oom"] = row["oom"] or failure[0]
            notes.append(failure[1])
            gc.collect()
            if device.type == "cuda":
                torch.cuda.empty_cache()
            if not failure[0]:
                slowest = math.inf  # a compile failure: do not try this model again
                break
    state.clear()
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()
    row["note"] = "; ".join(filter(None, [row["note"]] + notes))
    return row, slowest


def csv_line(r):
    """The Java CSV's formatting (%.4f times, %.2f MiB, NaN, true/false)."""
    num = lambda v, p: "NaN" if math.isnan(v) else f"{v:.{p}f}"
    return (f"{r['model']},{r['length']},{r['batch']},{num(r['infer_ms'], 4)},{num(r['train_ms'], 4)},"
            f"{num(r['infer_peak_mib'], 2)},{num(r['train_peak_mib'], 2)},{'true' if r['oom'] else 'false'},"
            f"{num(r['infer_driver_mib'], 2)},{num(r['train_driver_mib'], 2)}")


def write(out_dir, name, rows, meta):
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name + ".csv")
    with open(path + ".tmp", "w") as f:
        f.write(",".join(CSV_COLUMNS) + "\n")
        for r in rows:
            f.write(csv_line(r) + "\n")
    os.replace(path + ".tmp", path)
    with open(os.path.join(out_dir, name + ".json"), "w") as f:
        json.dump(dict(meta, rows=rows), f, indent=2)
    return path


def open_device(spec):
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec.startswith("cuda") and not torch.cuda.is_available():
        sys.exit(f"--device {spec}: CUDA is not available to this PyTorch ({torch.__version__})")
    device = torch.device(spec)
    if device.type == "cuda" and device.index is None:  # set_device and the peak counters want an index
        device = torch.device("cuda", torch.cuda.current_device())
    return device


def int_list(s):
    try:
        v = [int(x) for x in s.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated integers, got {s!r}")
    if not v or min(v) < 1:
        raise argparse.ArgumentTypeError(f"expected lengths >= 1, got {s!r}")
    return v


def parser(description):
    p = argparse.ArgumentParser(description=description)
    p.add_argument("--device", default="auto", help="auto|cpu|cuda[:N]")
    p.add_argument("--batch", type=int, help="batch size (default 8 on a GPU, 2 on the CPU)")
    p.add_argument("--d-model", type=int, help="model width (default 128 on a GPU, 32 on the CPU)")
    p.add_argument("--layers", type=int, default=3)
    p.add_argument("--heads", type=int, default=8)
    p.add_argument("--d-state", type=int, help="state size (default 64 on a GPU, 16 on the CPU)")
    p.add_argument("--repeats", type=int, default=5, help="timed runs per size (median); one warm-up first")
    p.add_argument("--models", default=DEFAULT_MODELS, help=f"comma list of {', '.join(MODELS)}")
    p.add_argument("--quadratic-pool", action="store_true", help="keep fusion_torch's [B, L, L] pooling")
    return p


def setup(args):
    """Device, float32 without TF32 (the Java default), CPU/GPU defaults, the pooling swap; returns the device."""
    device = open_device(args.device)
    gpu = device.type == "cuda"
    if gpu:
        torch.cuda.set_device(device)  # the events and peak counters of timed() are the current device's
    args.batch = args.batch or (8 if gpu else 2)
    args.d_model = args.d_model or (128 if gpu else 32)
    args.d_state = args.d_state or (64 if gpu else 16)
    args.models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in args.models:
        if m not in MODELS:
            sys.exit(f"--models: unknown model {m!r}; known: {', '.join(MODELS)}")
    if args.repeats < 1:
        sys.exit(f"--repeats must be >= 1, got {args.repeats}")
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    if not args.quadratic_pool:
        ft.length_pool = length_pool_linear
    return device


def meta(args, device):
    m = dict(device=torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu", torch=torch.__version__,
             settings=dict(batch=args.batch, d_model=args.d_model, layers=args.layers, heads=args.heads,
                           d_state=args.d_state, expand=2, modalities=MODALITIES, features=FEATURES,
                           repeats=args.repeats, dtype="float32", tf32=False,
                           pooling="fusion_torch.length_pool" if args.quadratic_pool else "length_pool_linear"),
             peak_counts="torch.cuda.max_memory_allocated over the timed runs (after the warm-up), minus nothing")
    if device.type == "cuda":
        m["sdpa"] = dict(flash=torch.backends.cuda.flash_sdp_enabled(),
                         mem_efficient=torch.backends.cuda.mem_efficient_sdp_enabled(),
                         math=torch.backends.cuda.math_sdp_enabled())
    return m


def main(argv=None):
    p = parser(__doc__.split("\n\n")[0])
    p.add_argument("--lengths", type=int_list, help="default 64..16384 doubling on a GPU, 16,32,64 on the CPU")
    p.add_argument("--out", default="runs/bench-torch", help="output directory")
    p.add_argument("--name", default="fusion-bench-torch", help="file name stem of the CSV and JSON")
    p.add_argument("--budget-s", type=float, default=4.0,
                   help="seconds of timed runs per phase; a model whose one step took over half of it is skipped at longer L")
    p.add_argument("--deadline-s", type=float, default=0, help="stop measuring after this many seconds (0: never)")
    p.add_argument("--every-length", default="",
                   help="comma list of models measured at every length, past the budget and the deadline "
                        "(the reference a target check needs at each L)")
    args = p.parse_args(argv)
    device = setup(args)
    # checked here, not in setup(): throughput_torch.py shares setup() and has no such option
    args.every_length = [m.strip() for m in args.every_length.split(",") if m.strip()]
    for m in args.every_length:
        if m not in args.models:
            sys.exit(f"--every-length: {m!r} is not among --models ({', '.join(args.models)})")
    lengths = args.lengths or ([64 << i for i in range(9)] if device.type == "cuda" else [16, 32, 64])
    info = meta(args, device)
    info["settings"]["lengths"] = lengths
    print(f"device: {info['device']} (torch {torch.__version__}); lengths {lengths}, batch {args.batch}, d_model "
          f"{args.d_model}, layers {args.layers}, heads {args.heads}, d_state {args.d_state}, {args.repeats} timed runs per size",
          flush=True)
    t_start = time.perf_counter()
    rows, skip = [], {}
    for length in lengths:
        for name in args.models:
            always = name in args.every_length
            if not always and name not in skip and args.deadline_s > 0 and time.perf_counter() - t_start > args.deadline_s:
                skip[name] = f"not run: the {args.deadline_s:g} s deadline had passed"
            if name in skip:
                r = dict(model=name, length=length, batch=args.batch, infer_ms=math.nan, train_ms=math.nan,
                         infer_peak_mib=math.nan, train_peak_mib=math.nan, oom=False, note=skip[name],
                         infer_driver_mib=math.nan, train_driver_mib=math.nan)
            else:
                r, slowest = measure(name, args, length, device)
                if math.isinf(slowest):
                    skip[name] = f"not run: failed at L {length}"
                elif slowest > args.budget_s / 2 and not always:
                    skip[name] = f"not run: one step took {slowest:.1f} s at L {length} (budget {args.budget_s:g} s)"
            rows.append(r)
            print(f"{r['model']:<30} L {length:6d}  infer {r['infer_ms']:9.3f} ms  train {r['train_ms']:9.3f} ms  "
                  f"peak {r['infer_peak_mib']:9.1f} / {r['train_peak_mib']:9.1f} MiB  "
                  f"driver {r['infer_driver_mib']:9.1f} / {r['train_driver_mib']:9.1f} MiB"
                  f"{'  (out of memory)' if r['oom'] else ''}{'  [' + r['note'] + ']' if r['note'] else ''}", flush=True)
            write(args.out, args.name, rows, info)  # after every row: a killed run keeps what it measured
    path = write(args.out, args.name, rows, info)
    print(f"wrote {path} and {args.name}.json ({time.perf_counter() - t_start:.0f} s)")


if __name__ == "__main__":
    main()
