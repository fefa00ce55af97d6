"""Development harness for kernels/coupled_scan_{fwd,bwd}.cu: loads them with CuPy (NVRTC), checks
every output and gradient against a float64 PyTorch reference on fresh random inputs, and times
kernel variants with CUDA events.  Usage (on a GPU host, from the project root):

    python3 bench/dev/coupled_scan_dev.py check        # correctness grid
    python3 bench/dev/coupled_scan_dev.py time         # timings of the variants
    python3 bench/dev/coupled_scan_dev.py time-quick   # the same, L <= 2048 only

CS_DEV_KERNELS=DIR takes the kernel sources from DIR instead of kernels/ (to check a variant).

With CS_DEV_SOURCES=NAME=DIR[,NAME=DIR] (directories holding other versions of the kernel sources, e.g.
from `git show REV:kernels/coupled_scan_fwd.cu`), the variants marked src="NAME" time that version, so
that a change is compared with the code before it within one run; variants naming no given directory
are left out. The launch settings (shared memory sizes) are this file's: a copy whose shared-memory layout
differs needs its own copy of this file, run in the same visit (CS_DEV_KERNELS=DIR python3 DIR/this file).

With CS_DEV_VARIANTS='{"long2k-16": [{"fwd": {"ns": 2, "minb": 6}}]}' (JSON: setting name -> variants), the
time commands also run those launch configurations (keyword arguments of fwd_config and bwd_config).
With CS_DEV_CHECK_CONFIG='{"bwd": {"minb": 3}}', check runs every case at those launch settings (a case's own
settings win).
"""
import ctypes
import json
import math
import os
import sys
import time

import cupy as cp
import numpy as np
import torch

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KDIR = os.path.abspath(os.environ.get("CS_DEV_KERNELS") or os.path.join(ROOT, "kernels"))   # another copy: check it
SMS = 132

PTR_FIELDS = ["u", "delta_pre", "z", "A", "Bm", "Cm", "Dskip", "lengths", "initial_state", "out", "final_state",
              "chunk_states", "dout", "dfinal_state", "du", "ddelta_pre", "dz", "dB", "dC", "dA_part",
              "dDskip_part", "dinitial_state", "err"]
INT_FIELDS = ["modalities", "batch", "length", "channels", "states", "lanes", "chunk_len", "n_saved",
              "batch_per_block", "sub_chunks", "prefetch", "tensor_maps"]
PARAMS = np.dtype([(f, np.uint64) for f in PTR_FIELDS] + [(f, np.int32) for f in INT_FIELDS])
assert PARAMS.itemsize == 8 * len(PTR_FIELDS) + 4 * len(INT_FIELDS)

_modules = {}


def module(which, defines, kdir=KDIR):
    key = (which, kdir, tuple(sorted(defines.items())))
    if key not in _modules:
        src = open(os.path.join(kdir, f"coupled_scan_{which}.cu")).read()
        t0 = time.time()
        opts = ("-std=c++17", "-lineinfo", f"-I{kdir}", f"-I{KDIR}") + tuple(f"-D{k}={v}" for k, v in defines.items())
        mod = cp.RawModule(code=src, options=opts)
        mod.compile()
        _modules[key] = mod
        print(f"  [nvrtc {which} {defines}: {time.time() - t0:.1f} s]", flush=True)
    return _modules[key]


def ptr(x):
    if x is None:
        return 0
    if isinstance(x, torch.Tensor):
        return x.data_ptr()
    return x.data.ptr


def params(**kw):
    p = np.zeros(1, dtype=PARAMS)
    for f in PTR_FIELDS:
        p[f] = ptr(kw.get(f))
    for f in INT_FIELDS:
        p[f] = kw.get(f, 0)
    return p


_encode_fn = None


def tensor_map(ptr, dims, box):
    """A float32 tensor map (128 bytes, cuTensorMapEncodeTiled) of a contiguous tensor, dims and box
    innermost first: what io.cmamba.cuda.ScanTensorMaps encodes for the forward's staging."""
    global _encode_fn
    if _encode_fn is None:
        _encode_fn = ctypes.CDLL("libcuda.so.1").cuTensorMapEncodeTiled
        _encode_fn.restype = ctypes.c_int
        _encode_fn.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p,
                               ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64),
                               ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint32),
                               ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    raw = np.zeros(256, np.uint8)
    view = raw[(-raw.ctypes.data) % 64:][:128]   # CUtensorMap is 64-byte aligned
    rank = len(dims)
    strides, acc = [], 4
    for n in dims[:-1]:
        acc *= n
        strides.append(acc)
    r = _encode_fn(view.ctypes.data, 7, rank, ptr, (ctypes.c_uint64 * rank)(*dims),
                   (ctypes.c_uint64 * (rank - 1))(*strides), (ctypes.c_uint32 * rank)(*box),
                   (ctypes.c_uint32 * rank)(*([1] * rank)), 0, 0, 2, 0)
    if r != 0:
        raise RuntimeError(f"cuTensorMapEncodeTiled: CUresult {r} for dims {dims}, box {box}")
    return view.copy()


NO_MAPS = np.zeros(640, np.uint8)   # the CsTensorMaps parameter of a launch staging by cp.async
_launch_fn = None


def launch(kernel, grid, block, smem, *structs):
    """cuLaunchKernel of a cupy RawKernel whose parameters are structs passed by value (numpy buffers):
    the driver lays them out as the kernel declares them (CsTensorMaps is 64-byte aligned)."""
    global _launch_fn
    if _launch_fn is None:
        _launch_fn = ctypes.CDLL("libcuda.so.1").cuLaunchKernel
        _launch_fn.restype = ctypes.c_int
        _launch_fn.argtypes = [ctypes.c_void_p] + [ctypes.c_uint] * 7 + [ctypes.c_void_p] * 3
    args = (ctypes.c_void_p * len(structs))(*(q.ctypes.data for q in structs))
    r = _launch_fn(kernel.kernel.ptr, *grid, *block, smem, cp.cuda.get_current_stream().ptr, args, None)
    if r != 0:
        raise RuntimeError(f"cuLaunchKernel: CUresult {r} (grid {grid}, block {block}, {smem} bytes of shared memory)")


def pow2ceil(x):
    return 1 << max(0, (x - 1).bit_length())


def stride(DT, K):   # cs_partial_stride: the backward's lane partials, 16-byte words
    lanes = 8
    cw = lanes // K if K <= lanes and lanes % K == 0 else 1
    S = -(-DT // cw) * cw
    if (S // cw) % 2 == 0:
        S += cw
    return S


def ypart_row(DT, K):   # cs_ypart_row
    return K * DT + (DT if DT < 32 and (K * DT) % 32 == 0 else 0)


def fwd_config(M, N, D, ns=None, threads=128, T=8, minb=None):
    if ns is None:
        ns = min(8, pow2ceil(N)) if N < 8 else (4 if N < 32 else 8)
    K = -(-N // ns)
    DT = max(1, min(D, threads // K))
    thr = DT * K
    NP = K * ns
    floats = 32 + 2 * M * T * 3 * DT + 2 * M * T * 2 * NP + 4 * M * T * DT + ((M * T + 3) & ~3) + M * T * ypart_row(DT, K)
    if minb is None:   # CudaScan.forwardPlan's rule
        minb = 4 if M * ns <= 24 and (227 * 1024) // (4 * floats + 1024) >= 4 else 3
    return dict(ns=ns, K=K, DT=DT, threads=thr, T=T, smem=4 * floats, minb=minb, maxt=max(thr, 128 if minb > 1 else 256))


def bwd_config(M, N, D, B, TS, ns=None, T=4, waves=8, minb=None, prefetch=None):
    if ns is None:
        ns = 4 if M <= 4 else 2
        ns = min(ns, pow2ceil(N))
    K = -(-N // ns)
    DT = max(1, min(D, 128 // K))
    thr = DT * K
    NP = K * ns
    S = stride(DT, K)
    sub = -(-TS // T)
    tiles = -(-D // DT)
    def floats(nbuf):
        return (nbuf * M * T * 4 * DT + nbuf * M * T * 2 * NP + 4 * M * T * DT + 2 * M * T * DT
                + ((2 * M * T + M * DT + 3) & ~3) + ((M * 2 * ns * thr + 3) & ~3) + M * K * S * 4
                + T * ns * thr + ((sub * ns * thr + 3) & ~3) + 4 * (M * 2 * max(1, ns // 4) * K + M * DT))
    per_sm = lambda f, cap: min(cap, (227 * 1024) // (4 * f + 1024))
    if minb is None:   # CudaScan.backwardPlan's rule: 4 blocks where 4 fit with the prefetch buffer, else 3
        minb = 4 if per_sm(floats(2), 4) >= 4 else 3
    if prefetch is None:   # prefetch unless it costs a block per multiprocessor
        prefetch = per_sm(floats(2), minb) >= per_sm(floats(1), minb)
    bgroups = min(B, max(1, -(-waves * SMS * minb // tiles)))
    bpb = -(-B // bgroups)
    bgroups = -(-B // bpb)
    floats = floats(2 if prefetch else 1)
    return dict(prefetch=int(prefetch), ns=ns, K=K, DT=DT, threads=thr, T=T, sub=sub, tiles=tiles, bgroups=bgroups, bpb=bpb, smem=4 * floats, minb=minb)


class Scan:
    """Runs the CUDA forward and backward on torch float32 tensors."""

    def __init__(self, M, B, L, D, N, TS=16, fwd=None, bwd=None, src=KDIR):
        self.M, self.B, self.L, self.D, self.N = M, B, L, D, N
        self.fc = fwd_config(M, N, D, **(fwd or {}))
        self.TS = max(self.fc["T"], TS // self.fc["T"] * self.fc["T"])
        self.bc = bwd_config(M, N, D, B, self.TS, **(bwd or {}))
        fc, bc = self.fc, self.bc
        fdef = dict(CS_M=M, CS_NS=fc["ns"], CS_T=fc["T"], CS_K=fc["K"], CS_DT=fc["DT"], CS_FWD_THREADS=fc["maxt"],
                    CS_FWD_MIN_BLOCKS=fc["minb"])
        bdef = dict(CS_M=M, CS_NS=bc["ns"], CS_T=bc["T"], CS_K=bc["K"], CS_DT=bc["DT"], CS_BWD_MIN_BLOCKS=bc["minb"])
        self.fname = "fwd" + str(list(fdef.values()))
        self.bname = "bwd" + str(list(bdef.values()))
        self.fk = module("fwd", fdef, src).get_function("coupled_scan_fwd")
        bm = module("bwd", bdef, src)
        self.bk = bm.get_function("coupled_scan_bwd")
        self.sumk = bm.get_function("coupled_scan_sum_partials")
        self.fk.max_dynamic_shared_size_bytes = fc["smem"]
        self.bk.max_dynamic_shared_size_bytes = bc["smem"]
        self.n_saved = max(0, -(-L // self.TS) - 1)
        self._maps = {}

    def maps(self, x):
        """The forward's CsTensorMaps parameter (the five tensor maps, 640 bytes; CudaScan.tensorMaps's
        conditions), or None: cp.async staging (CS_DEV_TMA=0 forces it)."""
        M, B, L, D, N = self.M, self.B, self.L, self.D, self.N
        fc = self.fc
        NP, T, DT = fc["K"] * fc["ns"], fc["T"], fc["DT"]
        ptrs = tuple(x[k].data_ptr() for k in ("pre", "u", "z", "B", "C"))
        if (os.environ.get("CS_DEV_TMA") == "0" or int(cp.cuda.Device().compute_capability) < 90 or N != NP
                or (T * DT) % 32 or (T * NP) % 32 or D % 4 or N % 4 or any(q % 16 for q in ptrs)):
            return None
        if ptrs not in self._maps:
            ms = [tensor_map(x[k].data_ptr(), (D, L, B, M), (DT, T, 1, 1)) for k in ("pre", "u", "z")]
            ms += [tensor_map(x[k].data_ptr(), (N, L, B, M), (N, T, 1, 1)) for k in ("B", "C")]
            self._maps[ptrs] = np.concatenate(ms)
        return self._maps[ptrs]

    def forward(self, x, out, final=None):
        M, B, L, D, N = self.M, self.B, self.L, self.D, self.N
        saved = torch.empty((B, max(1, self.n_saved), D, N), device="cuda", dtype=torch.float32) if self.n_saved else None
        maps = self.maps(x)
        p = params(u=x["u"], delta_pre=x["pre"], z=x["z"], A=x["A"], Bm=x["B"], Cm=x["C"], Dskip=x["Dskip"],
                   lengths=x.get("lengths"), initial_state=x.get("init"), out=out, final_state=final,
                   chunk_states=saved, modalities=M, batch=B, length=L, channels=D, states=N,
                   lanes=self.fc["K"], chunk_len=self.TS, n_saved=self.n_saved, tensor_maps=int(maps is not None))
        grid = (-(-D // self.fc["DT"]), min(B, 65535), -(-B // 65535))
        launch(self.fk, grid, (self.fc["threads"], 1, 1), self.fc["smem"], p, maps if maps is not None else NO_MAPS)
        return saved

    def backward(self, x, saved, dout, g, dfinal=None):
        M, B, L, D, N = self.M, self.B, self.L, self.D, self.N
        bc = self.bc
        dA_part = torch.empty((bc["bgroups"], M, D, N), device="cuda") if bc["bgroups"] > 1 else g["dA"]
        dDs_part = torch.empty((bc["bgroups"], M, D), device="cuda") if bc["bgroups"] > 1 else g["dDskip"]
        g["dB"].zero_()
        g["dC"].zero_()
        p = params(u=x["u"], delta_pre=x["pre"], z=x["z"], A=x["A"], Bm=x["B"], Cm=x["C"], Dskip=x["Dskip"],
                   lengths=x.get("lengths"), initial_state=x.get("init"), chunk_states=saved, dout=dout,
                   dfinal_state=dfinal, du=g["du"], ddelta_pre=g["dpre"], dz=g["dz"], dB=g["dB"], dC=g["dC"],
                   dA_part=dA_part, dDskip_part=dDs_part, dinitial_state=g.get("dinit"),
                   modalities=M, batch=B, length=L, channels=D, states=N, lanes=bc["K"], chunk_len=self.TS,
                   n_saved=self.n_saved, batch_per_block=bc["bpb"], sub_chunks=bc["sub"], prefetch=bc["prefetch"])
        self.bk((bc["tiles"], bc["bgroups"]), (bc["threads"],), (p,), shared_mem=bc["smem"])
        if bc["bgroups"] > 1:
            self.sumk((264,), (256,), (cp.asarray(g["dA"]), cp.asarray(dA_part), np.int64(M * D * N), np.int32(bc["bgroups"])))
            self.sumk((64,), (256,), (cp.asarray(g["dDskip"]), cp.asarray(dDs_part), np.int64(M * D), np.int32(bc["bgroups"])))


def random_inputs(M, B, L, D, N, lengths=False, init=False, seed=None, dtype=torch.float32):
    gen = torch.Generator(device="cuda")
    gen.manual_seed(seed if seed is not None else int(time.time() * 1e6) % (1 << 31))

    def randn(*shape, scale=1.0, mean=0.0):
        return (torch.randn(*shape, generator=gen, device="cuda", dtype=dtype) * scale + mean)

    x = dict(u=randn(M, B, L, D), pre=randn(M, B, L, D, scale=1.0, mean=-2.0), z=randn(M, B, L, D),
             A=-torch.exp(randn(M, D, N, scale=0.5)), B=randn(M, B, L, N), C=randn(M, B, L, N),
             Dskip=randn(M, D, scale=0.3, mean=1.0))
    if lengths:
        ls = torch.randint(0, L + 1, (B,), generator=gen, device="cuda", dtype=torch.int32)
        ls[0] = L
        if B > 2:
            ls[1] = 0
        x["lengths"] = ls
    if init:
        x["init"] = randn(B, D, N)
    return x


def reference(x, dout=None, dfinal=None):
    """float64 forward (and gradients by autograd) of MODEL.md's coupled scan."""
    r = {k: (v.double().clone().requires_grad_(True) if k != "lengths" else v) for k, v in x.items()}
    u, pre, z, A, Bm, Cm, Ds = r["u"], r["pre"], r["z"], r["A"], r["B"], r["C"], r["Dskip"]
    M, B, L, D = u.shape
    N = A.shape[2]
    delta = torch.where(pre > 20, pre, torch.log1p(torch.exp(pre)))
    s = r["init"] if "init" in r else torch.zeros(B, D, N, dtype=torch.float64, device="cuda")
    outs = []
    lens = x.get("lengths")
    for t in range(L):
        dl = delta[:, :, t, :]
        ab = torch.exp(dl[..., None] * A[:, None, :, :])
        bu = (dl * u[:, :, t, :])[..., None] * Bm[:, :, t, None, :]
        h = ab * s[None] + bu
        y = (h * Cm[:, :, t, None, :]).sum(-1) + Ds[:, None, :] * u[:, :, t, :]
        o = y * z[:, :, t, :] * torch.sigmoid(z[:, :, t, :])
        sn = h.mean(0)
        if lens is not None:
            valid = (t < lens).to(torch.float64)
            sn = torch.where(valid[:, None, None] > 0, sn, s)
            o = o * valid[None, :, None]
        s = sn
        outs.append(o)
    out = torch.stack(outs, dim=2)
    res = dict(out=out.detach(), final=s.detach())
    if dout is not None:
        loss = (out * dout.double()).sum()
        if dfinal is not None:
            loss = loss + (s * dfinal.double()).sum()
        loss.backward()
        res.update(du=r["u"].grad, dpre=r["pre"].grad, dz=r["z"].grad, dA=r["A"].grad, dB=r["B"].grad,
                   dC=r["C"].grad, dDskip=r["Dskip"].grad)
        if "init" in r:
            res["dinit"] = r["init"].grad
    return res


def relerr(a, ref):
    a = a.double()
    ref = ref.double()
    if not torch.isfinite(a).all():
        return float("inf")
    den = ref.norm().item()
    return (a - ref).norm().item() / (den if den > 0 else 1.0)


def check_case(M, B, L, D, N, lengths, init, TS=16, fwd=None, bwd=None):
    sc = Scan(M, B, L, D, N, TS=TS, fwd=fwd, bwd=bwd)
    x = random_inputs(M, B, L, D, N, lengths, init)
    out = torch.full((M, B, L, D), float("nan"), device="cuda")
    final = torch.full((B, D, N), float("nan"), device="cuda")
    saved = sc.forward(x, out, final)
    dout = torch.randn(M, B, L, D, device="cuda")
    dfinal = torch.randn(B, D, N, device="cuda")
    nan = lambda *s: torch.full(s, float("nan"), device="cuda")
    g = dict(du=nan(M, B, L, D), dpre=nan(M, B, L, D), dz=nan(M, B, L, D), dA=nan(M, D, N), dB=nan(M, B, L, N),
             dC=nan(M, B, L, N), dDskip=nan(M, D))
    if init:
        g["dinit"] = nan(B, D, N)
    sc.backward(x, saved, dout, g, dfinal)
    torch.cuda.synchronize()
    ref = reference(x, dout, dfinal)
    errs = dict(out=relerr(out, ref["out"]), final=relerr(final, ref["final"]))
    for k in ["du", "dpre", "dz", "dA", "dB", "dC", "dDskip"] + (["dinit"] if init else []):
        errs[k] = relerr(g[k], ref[k])
    worst_f = max(errs["out"], errs["final"])
    worst_b = max(v for k, v in errs.items() if k not in ("out", "final"))
    ok = worst_f <= 1e-5 and worst_b <= 1e-4
    desc = f"M={M} B={B} L={L} D={D} N={N} len={int(lengths)} init={int(init)} TS={sc.TS} {sc.fname} {sc.bname}"
    print(f"{'ok  ' if ok else 'FAIL'} {desc}: fwd {worst_f:.2e} bwd {worst_b:.2e}  "
          + " ".join(f"{k}={v:.1e}" for k, v in errs.items()), flush=True)
    return ok


def check():
    cases = [
        (1, 2, 1, 3, 1, False, False), (1, 3, 7, 5, 16, True, True), (2, 2, 7, 9, 64, False, True),
        (3, 2, 50, 7, 16, True, True), (3, 3, 50, 33, 64, True, False), (5, 2, 50, 5, 1, True, True),
        (3, 2, 50, 5, 256, False, True), (2, 1, 2048, 3, 16, False, True), (3, 2, 2048, 5, 64, True, True),
        (1, 1, 16384, 3, 1, False, False), (3, 1, 16384, 2, 16, False, True), (5, 2, 7, 17, 256, True, True),
        (3, 4, 50, 64, 64, True, True), (3, 2, 301, 20, 17, True, True), (2, 3, 97, 11, 5, True, False),
        # block sums split over lanes (the backward's cs_split): N = 1 in 16 parts over 128 channels, N = 16 in
        # 4 parts (and M = 1 in 8), N = 256 in 16 parts over 64 lanes; D leaves a partial last tile
        (3, 2, 50, 130, 1, True, True), (3, 2, 60, 100, 16, True, True), (1, 2, 50, 70, 16, True, True),
        (3, 2, 33, 5, 256, True, True),
    ]
    # CS_DEV_CHECK_CONFIG='{"bwd": {"minb": 3}}': launch settings under every case's own
    cfg = json.loads(os.environ.get("CS_DEV_CHECK_CONFIG") or "{}")

    def case(*a, fwd=None, bwd=None, **kw):
        return check_case(*a, fwd={**cfg.get("fwd", {}), **(fwd or {})}, bwd={**cfg.get("bwd", {}), **(bwd or {})}, **kw)

    bad = 0
    for c in cases:
        bad += not case(*c)
    bad += not case(3, 3, 50, 40, 64, True, True, TS=32, bwd=dict(T=8))
    bad += not case(3, 2, 100, 24, 16, True, True, TS=8)
    bad += not case(3, 2, 100, 24, 16, True, True, TS=64)
    bad += not case(3, 2, 100, 24, 64, True, True, fwd=dict(ns=4, T=4), bwd=dict(ns=2))
    bad += not case(3, 2, 100, 24, 64, True, True, fwd=dict(ns=8, threads=256, minb=1), bwd=dict(ns=8, minb=2))
    bad += not case(3, 2, 100, 24, 64, True, True, fwd=dict(ns=16, minb=2), bwd=dict(ns=8, minb=3))
    # two halves equal one whole
    M, B, L, D, N = 3, 2, 64, 12, 16
    sc = Scan(M, B, L, D, N)
    x = random_inputs(M, B, L, D, N, False, True)
    whole = torch.empty(M, B, L, D, device="cuda")
    fw = torch.empty(B, D, N, device="cuda")
    sc.forward(x, whole, fw)
    half = Scan(M, B, L // 2, D, N)
    x1 = {k: (v[:, :, : L // 2].contiguous() if k in ("u", "pre", "z", "B", "C") else v) for k, v in x.items()}
    x2 = {k: (v[:, :, L // 2:].contiguous() if k in ("u", "pre", "z", "B", "C") else v) for k, v in x.items()}
    o1 = torch.empty(M, B, L // 2, D, device="cuda")
    o2 = torch.empty(M, B, L // 2, D, device="cuda")
    f1 = torch.empty(B, D, N, device="cuda")
    f2 = torch.empty(B, D, N, device="cuda")
    half.forward(x1, o1, f1)
    x2["init"] = f1
    half.forward(x2, o2, f2)
    e = max(relerr(torch.cat([o1, o2], 2), whole), relerr(f2, fw))
    print(f"{'ok  ' if e < 1e-6 else 'FAIL'} halves vs whole: {e:.2e}")
    bad += e >= 1e-6
    print(f"check: {bad} failures")
    return bad


def events_time(fn, warm=3, reps=20):
    for _ in range(warm):
        fn()
    times = []
    for _ in range(reps):
        a = torch.cuda.Event(enable_timing=True)
        b = torch.cuda.Event(enable_timing=True)
        a.record()
        fn()
        b.record()
        b.synchronize()
        times.append(a.elapsed_time(b))
    times.sort()
    return times[len(times) // 2]


def copy_bandwidth():
    n = 1 << 29  # 2 GiB of float32
    a = torch.empty(n, device="cuda")
    a.normal_()
    b = torch.empty_like(a)
    ms = events_time(lambda: b.copy_(a), 2, 10)
    return 2 * 4 * n / (ms * 1e-3)


def bench_case(name, M, B, L, D, N, variants, reps=10):
    x = random_inputs(M, B, L, D, N, False, False, seed=1)
    out = torch.empty(M, B, L, D, device="cuda")
    dout = torch.randn(M, B, L, D, device="cuda")
    g = dict(du=torch.empty(M, B, L, D, device="cuda"), dpre=torch.empty(M, B, L, D, device="cuda"),
             dz=torch.empty(M, B, L, D, device="cuda"), dA=torch.empty(M, D, N, device="cuda"),
             dB=torch.empty(M, B, L, N, device="cuda"), dC=torch.empty(M, B, L, N, device="cuda"),
             dDskip=torch.empty(M, D, device="cuda"))
    rows = []
    for v in variants:
        v = dict(v)
        bwd_time = v.pop("bwd_time", True)   # False: a forward-only variant
        tag = v.pop("tag", None)   # the CS_DEV_SOURCES name of v's kernel copy
        try:
            sc = Scan(M, B, L, D, N, **v)
            saved = sc.forward(x, out)
            tf = events_time(lambda: sc.forward(x, out), 2, reps)
            tb = events_time(lambda: sc.backward(x, saved, dout, g), 1, max(3, reps // 2)) if bwd_time else float("nan")
            del saved
            rows.append((name, tag if tag is not None and len(v) == 1 else str(v), sc.fname, sc.bname, tf, tb,
                         f"fDT={sc.fc['DT']} fthr={sc.fc['threads']} bDT={sc.bc['DT']} bthr={sc.bc['threads']} tiles={sc.bc['tiles']} bg={sc.bc['bgroups']} sub={sc.bc['sub']} fsm={sc.fc['smem']//1024}K bsm={sc.bc['smem']//1024}K"))
            print(f"  {name} {rows[-1][1]}: fwd {tf:.3f} ms, bwd {tb:.3f} ms  [{rows[-1][6]}]", flush=True)
        except Exception as e:  # report and go on with the other variants
            print(f"  {name} {v}: ERROR {type(e).__name__}: {e}", flush=True)
    del x, out, dout, g
    torch.cuda.empty_cache()
    return rows


def floors(M, B, L, D, N, bw, clock_hz):
    x = M * B * L * D
    e = x * N
    fwd_bytes = 4 * (4 * x + 2 * M * B * L * N + M * D * N + M * D)
    bwd_bytes = 4 * (7 * x + 4 * M * B * L * N + 2 * M * D * N + 2 * M * D)
    exps = e + 2 * x
    fwd_fma = 5 * e + B * L * D * N * 2
    bwd_fma = 15 * e + B * L * D * N * 2
    rate_exp = 16 * SMS * clock_hz
    rate_fma = 128 * SMS * clock_hz
    f = max(fwd_bytes / bw, exps / rate_exp, fwd_fma / rate_fma)
    b = max(bwd_bytes / bw, exps / rate_exp, bwd_fma / rate_fma)
    return f * 1e3, b * 1e3, (fwd_bytes / bw * 1e3, exps / rate_exp * 1e3, fwd_fma / rate_fma * 1e3), (bwd_bytes / bw * 1e3, bwd_fma / rate_fma * 1e3)


def source_names():
    """CS_DEV_SOURCES as {NAME: DIR}, in the order given."""
    return dict(e.split("=", 1) for e in os.environ.get("CS_DEV_SOURCES", "").split(",") if "=" in e)


def with_sources(variants):
    """The variants with src="NAME" resolved to CS_DEV_SOURCES's directory NAME (and tagged NAME for the
    tables); those naming none dropped."""
    sources = source_names()
    out = []
    for v in variants:
        if "src" not in v:
            out.append(v)
        elif v["src"] in sources:
            out.append(dict(v, src=os.path.abspath(sources[v["src"]]), tag=v["src"]))
    return out


def bench(quick=False):
    bw = copy_bandwidth()
    clock = cp.cuda.runtime.getDeviceProperties(0)["clockRate"] * 1e3
    print(f"copy bandwidth {bw / 1e12:.2f} TB/s, clock {clock / 1e9:.2f} GHz", flush=True)
    settings = [
        # src: a CS_DEV_SOURCES directory (base: the code before a series of changes, prev: before the last
        # one); bwd_time=False: forward only
        ("paper", 3, 1024, 50, 256, 64, [dict(src="base"), dict(src="prev"), dict()]),
        ("long2k-16", 3, 8, 2048, 1536, 16, [dict(src="base"), dict(src="prev"), dict()]),
        ("long2k-64", 3, 8, 2048, 1536, 64, [dict(src="base"), dict(src="prev"), dict()]),
        ("long16k-16", 3, 8, 16384, 1536, 16, [dict(reps=3)]),
        ("long16k-64", 3, 8, 16384, 1536, 64, [dict(reps=3)]),
    ]
    extra = json.loads(os.environ.get("CS_DEV_VARIANTS") or "{}")
    # every other CS_DEV_SOURCES name (e.g. scan_ablations.py's copies) is timed at each setting too
    others = [dict(src=n) for n in source_names() if n not in ("base", "prev")]
    settings = [(n, M, B, L, D, N, with_sources(v + others) + extra.get(n, [])) for n, M, B, L, D, N, v in settings]
    table = []
    for name, M, B, L, D, N, variants in settings:
        if quick and L > 2048:
            continue
        reps = 10
        vs = []
        for v in variants:
            v = dict(v)
            reps = v.pop("reps", reps)
            vs.append(v)
        rows = bench_case(name, M, B, L, D, N, vs, reps)
        f, b, fparts, bparts = floors(M, B, L, D, N, bw, clock)
        for r in rows:
            table.append((r[0], r[1], r[4], f, r[4] / f, r[5], b, r[5] / b))
        print(f"  {name} floors: fwd {f:.3f} ms (bytes {fparts[0]:.3f}, exp {fparts[1]:.3f}, fma {fparts[2]:.3f}); "
              f"bwd {b:.3f} ms (bytes {bparts[0]:.3f}, fma {bparts[1]:.3f})", flush=True)
    print("\nsetting      variant                                   fwd ms  floor  ratio |  bwd ms  floor  ratio")
    for r in table:
        print(f"{r[0]:12s} {r[1][:40]:40s} {r[2]:7.3f} {r[3]:6.3f} {r[4]:5.2f} | {r[5]:7.3f} {r[6]:6.3f} {r[7]:5.2f}")


def prof():
    """One forward and one backward launch at a reduced paper size, for ncu."""
    M, B, L, D, N = 3, 256, 50, 256, 64
    sc = Scan(M, B, L, D, N)
    x = random_inputs(M, B, L, D, N, False, False, seed=1)
    out = torch.empty(M, B, L, D, device="cuda")
    dout = torch.randn(M, B, L, D, device="cuda")
    g = dict(du=torch.empty(M, B, L, D, device="cuda"), dpre=torch.empty(M, B, L, D, device="cuda"),
             dz=torch.empty(M, B, L, D, device="cuda"), dA=torch.empty(M, D, N, device="cuda"),
             dB=torch.empty(M, B, L, N, device="cuda"), dC=torch.empty(M, B, L, N, device="cuda"),
             dDskip=torch.empty(M, D, device="cuda"))
    saved = sc.forward(x, out)
    sc.backward(x, saved, dout, g)
    torch.cuda.synchronize()


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "check"
    print(torch.cuda.get_device_name(0), "torch", torch.__version__, "cupy", cp.__version__, flush=True)
    bad = 0
    if what in ("check", "all"):
        bad = check()
    if what in ("time", "time-quick", "all"):
        bench(quick=what == "time-quick")
    if what == "prof":
        prof()
    sys.exit(1 if bad else 0)   # a failed check fails the command (visit scripts test its exit status)
