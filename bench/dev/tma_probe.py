"""Probe: the forward's staging by tensor-map (TMA) copies, against the kernels as they are.

bench/NOTES-scan.md (v10) measured the forward's per-thread cp.async staging at 12-13% of its time, and
row-by-row bulk copies 1.4-2x slower. This makes a copy of kernels/ whose forward stages each chunk with
5*M two-dimensional boxes (T rows of DT channels of delta_pre, u, z; T rows of N states of B, C) issued
by one thread through tensor maps that the host encodes with cuTensorMapEncodeTiled, completing on one
mbarrier per staging buffer, then checks it against the unchanged forward (outputs and chunk states,
with tiles and chunks cut short, lengths, and shapes that take the cp.async path) and times both,
alternately. On a GPU host (sm_90 on), from the project root:

    python3 bench/dev/tma_probe.py make DIR    # writes the variant kernels to DIR
    python3 bench/dev/tma_probe.py run         # check and time (the variant in a temporary directory)

A patch that no longer matches the kernel source fails with what it expected, as scan_ablations.py does.
"""
import ctypes
import os
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
KDIR = os.path.join(ROOT, "kernels")

HELPERS = r'''
// --- tensor-map staging (bench/dev/tma_probe.py) ---
__device__ __forceinline__ unsigned cs_smem_addr(const void* p) { return (unsigned)__cvta_generic_to_shared(p); }
__device__ __forceinline__ void cs_mbar_init(unsigned long long* bar, unsigned count) {
    asm volatile("mbarrier.init.shared::cta.b64 [%0], %1;" ::"r"(cs_smem_addr(bar)), "r"(count) : "memory");
}
__device__ __forceinline__ void cs_fence_bulk() {
    asm volatile("fence.mbarrier_init.release.cluster;\n\tfence.proxy.async.shared::cta;" ::: "memory");
}
__device__ __forceinline__ void cs_mbar_expect(unsigned long long* bar, unsigned bytes) {
    asm volatile("mbarrier.arrive.expect_tx.shared::cta.b64 _, [%0], %1;" ::"r"(cs_smem_addr(bar)), "r"(bytes) : "memory");
}
__device__ __forceinline__ void cs_tma4(float* dst, const unsigned long long* map, int c0, int c1, int c2, int c3,
                                        unsigned long long* bar) {
    asm volatile("cp.async.bulk.tensor.4d.shared::cluster.global.tile.mbarrier::complete_tx::bytes [%0], [%1, {%2, %3, %4, %5}], [%6];"
                 ::"r"(cs_smem_addr(dst)), "l"(map), "r"(c0), "r"(c1), "r"(c2), "r"(c3), "r"(cs_smem_addr(bar)) : "memory");
}
__device__ __forceinline__ void cs_mbar_wait(unsigned long long* bar, unsigned parity) {
    unsigned done;
    do {
        asm volatile("{\n\t.reg .pred p;\n\tmbarrier.try_wait.parity.shared::cta.b64 p, [%1], %2;\n\tselp.u32 %0, 1, 0, p;\n\t}"
                     : "=r"(done) : "r"(cs_smem_addr(bar)), "r"(parity) : "memory");
    } while (!done);
}
template <int NS>
__device__ __forceinline__ void cs_load_run(float (&v)[NS], const float* src) {
    if constexpr (NS % 4 == 0) {
#pragma unroll
        for (int j = 0; j < NS / 4; j++) {
            float4 q = *reinterpret_cast<const float4*>(src + 4 * j);
            v[4 * j] = q.x; v[4 * j + 1] = q.y; v[4 * j + 2] = q.z; v[4 * j + 3] = q.w;
        }
    } else {
#pragma unroll
        for (int i = 0; i < NS; i++) v[i] = src[i];
    }
}
'''

# (old, new, count) on coupled_scan_fwd.cu
PATCHES = [
    ('#include "coupled_scan_common.cuh"\n', '#include "coupled_scan_common.cuh"\n' + HELPERS, 1),
    ("__device__ __forceinline__ void coupled_scan_fwd_impl(const CoupledScanParams& p) {",
     "__device__ __forceinline__ void coupled_scan_fwd_impl(const CoupledScanParams& p, const unsigned long long* maps) {", 1),
    ("coupled_scan_fwd(const CoupledScanParams p) {\n    coupled_scan_fwd_impl<CS_M, CS_NS, CS_T, CS_K, CS_DT>(p);",
     "coupled_scan_fwd(const CoupledScanParams p, const unsigned long long* __restrict__ maps) {\n"
     "    coupled_scan_fwd_impl<CS_M, CS_NS, CS_T, CS_K, CS_DT>(p, maps);", 1),
    ("    extern __shared__ float4 smem4[];\n    float* sm = reinterpret_cast<float*>(smem4);\n",
     "    extern __shared__ __align__(128) float4 smem4[];\n"
     "    unsigned long long* const bars = reinterpret_cast<unsigned long long*>(smem4);   // one per staging buffer\n"
     "    float* sm = reinterpret_cast<float*>(smem4) + 32;   // 128 bytes: the boxes stay 128-byte aligned\n", 1),
    ("    for (int e = tid; e < 2 * bcSize; e += threads) bc0[e] = 0.f;\n    __syncthreads();\n",
     "    for (int e = tid; e < 2 * bcSize; e += threads) bc0[e] = 0.f;\n"
     "    // raw [3][M][T][DT] and B/C [2][M][T][NP] boxes of whole rows; 128-byte aligned boxes\n"
     "    const bool tma = maps != nullptr && vecX && vecBC && N == NP && (T * DT) % 32 == 0 && (T * NP) % 32 == 0;\n"
     "    if (tma && tid == 0) {\n        cs_mbar_init(bars, 1);\n        cs_mbar_init(bars + 1, 1);\n    }\n"
     "    if (tma) cs_fence_bulk();\n    __syncthreads();\n", 1),
    ("""        cs_stage_rows<M, T>(raw, 3 * DT, preB, xStrideM, t0, len, D, d0, xWalk, vecX, 0, 1);
        cs_stage_rows<M, T>(raw + DT, 3 * DT, uB, xStrideM, t0, len, D, d0, xWalk, vecX, 0, 1);
        cs_stage_rows<M, T>(raw + 2 * DT, 3 * DT, zB, xStrideM, t0, len, D, d0, xWalk, vecX, 0, 1);
        cs_stage_bc<M, T, NS>(bc, 2 * NP, BmB, bcStrideM, N, K, t0, len, bWalk, vecBC, 0, 1);
        cs_stage_bc<M, T, NS>(bc + NP, 2 * NP, CmB, bcStrideM, N, K, t0, len, bWalk, vecBC, 0, 1);""",
     """        if (tma) {
            if (tid == 0) {
                cs_mbar_expect(bars + q, (unsigned)(M * T * (3 * DT + 2 * NP) * 4));
#pragma unroll
                for (int m = 0; m < M; m++) {
#pragma unroll
                    for (int w = 0; w < 3; w++) cs_tma4(raw + (w * M + m) * T * DT, maps + w * 16, d0, t0, b, m, bars + q);
#pragma unroll
                    for (int w = 0; w < 2; w++) cs_tma4(bc + (w * M + m) * T * NP, maps + (3 + w) * 16, 0, t0, b, m, bars + q);
                }
            }
            return;
        }
        cs_stage_rows<M, T>(raw, DT, preB, xStrideM, t0, len, D, d0, xWalk, vecX, 0, 1);
        cs_stage_rows<M, T>(raw + M * T * DT, DT, uB, xStrideM, t0, len, D, d0, xWalk, vecX, 0, 1);
        cs_stage_rows<M, T>(raw + 2 * M * T * DT, DT, zB, xStrideM, t0, len, D, d0, xWalk, vecX, 0, 1);
        cs_stage_rows<M, T>(bc, NP, BmB, bcStrideM, t0, len, N, 0, bWalk, vecBC, 0, 1);
        cs_stage_rows<M, T>(bc + M * T * NP, NP, CmB, bcStrideM, t0, len, N, 0, bWalk, vecBC, 0, 1);""", 1),
    ("""            cs_load_slice<NS>(Bv, bcb + (m * T + t) * 2 * NP, k, K);
            cs_load_slice<NS>(Cv, bcb + (m * T + t) * 2 * NP + NP, k, K);""",
     """            cs_load_run<NS>(Bv, bcb + (m * T + t) * NP + k * NS);
            cs_load_run<NS>(Cv, bcb + (M * T + m * T + t) * NP + k * NS);""", 1),
    ("        cs_cp_async_wait<0>();\n        __syncthreads();",
     "        cs_cp_async_wait<0>();\n        if (tma) cs_mbar_wait(bars + q, (ch >> 1) & 1);   // its (ch / 2)-th use\n"
     "        __syncthreads();", 1),
    ("""                const float* rr = raw + r * 3 * DT + ec;
                float pre = rr[0], uu = rr[DT], zz = rr[2 * DT];""",
     """                const float* rr = raw + r * DT + ec;
                float pre = rr[0], uu = rr[M * T * DT], zz = rr[2 * M * T * DT];""", 1),
    ("cs_row_dots(cb, bc0 + q * bcSize, 2 * NP, NP, NP, M * T, NP % 4 == 0, tid, threads);",
     "cs_row_dots(cb, bc0 + q * bcSize, NP, M * T * NP, NP, M * T, NP % 4 == 0, tid, threads);", 1),
]


def make(out_dir):
    if os.path.exists(out_dir):
        shutil.rmtree(out_dir)
    shutil.copytree(KDIR, out_dir)
    path = os.path.join(out_dir, "coupled_scan_fwd.cu")
    text = open(path).read()
    for old, new, count in PATCHES:
        found = text.count(old)
        if found != count:
            raise SystemExit(f"tma_probe: expected {count} occurrence(s) in coupled_scan_fwd.cu, found {found}, of:\n{old}")
        text = text.replace(old, new)
    with open(path, "w") as f:
        f.write(text)
    return out_dir


_enc = None


def encode(ptr, dims, box):
    """A float32 tensor map (128 bytes) of a contiguous tensor, dims and box innermost first."""
    import numpy as np
    global _enc
    if _enc is None:
        _enc = ctypes.CDLL("libcuda.so.1").cuTensorMapEncodeTiled
        _enc.restype = ctypes.c_int
        _enc.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_uint32, ctypes.c_void_p,
                         ctypes.POINTER(ctypes.c_uint64), ctypes.POINTER(ctypes.c_uint64),
                         ctypes.POINTER(ctypes.c_uint32), ctypes.POINTER(ctypes.c_uint32),
                         ctypes.c_int, ctypes.c_int, ctypes.c_int, ctypes.c_int]
    raw = np.zeros(256, np.uint8)
    off = (-raw.ctypes.data) % 64   # CUtensorMap is 64-byte aligned
    view = raw[off:off + 128]
    rank = len(dims)
    strides, acc = [], 4
    for n in dims[:-1]:
        acc *= n
        strides.append(acc)
    r = _enc(view.ctypes.data, 7, rank, ptr, (ctypes.c_uint64 * rank)(*dims), (ctypes.c_uint64 * (rank - 1))(*strides),
             (ctypes.c_uint32 * rank)(*box), (ctypes.c_uint32 * rank)(*([1] * rank)), 0, 0, 2, 0)
    if r != 0:
        raise RuntimeError(f"cuTensorMapEncodeTiled: CUresult {r} for dims {dims}, box {box}")
    return view.copy()


def run():
    sys.path.insert(0, HERE)
    import coupled_scan_dev as dev   # needs CuPy, PyTorch and a GPU
    np = dev.np
    cp, torch = dev.cp, dev.torch
    vdir = make(os.path.join(tempfile.mkdtemp(prefix="tma-probe-"), "kernels"))

    class TmaScan(dev.Scan):
        def __init__(self, M, B, L, D, N):
            super().__init__(M, B, L, D, N, src=vdir)
            self.fc = dict(self.fc, smem=self.fc["smem"] + 128)
            self.fk.max_dynamic_shared_size_bytes = self.fc["smem"]
            self._maps = {}

        def maps(self, x):
            """The five tensor maps of x's inputs on the device (cached: encoding is host work), or a null
            pointer where the rows cannot be boxes (D or N not a multiple of 4)."""
            M, B, L, D, N = self.M, self.B, self.L, self.D, self.N
            if D % 4 or N % 4:
                return np.uint64(0)
            key = tuple(x[k].data_ptr() for k in ("pre", "u", "z", "B", "C"))
            if key not in self._maps:
                DT, T = self.fc["DT"], self.fc["T"]
                ms = [encode(x[k].data_ptr(), (D, L, B, M), (DT, T, 1, 1)) for k in ("pre", "u", "z")]
                ms += [encode(x[k].data_ptr(), (N, L, B, M), (N, T, 1, 1)) for k in ("B", "C")]
                self._maps[key] = cp.asarray(np.concatenate(ms))
            return self._maps[key]

        def forward(self, x, out, final=None, use_maps=True):
            M, B, L, D, N = self.M, self.B, self.L, self.D, self.N
            DT = self.fc["DT"]
            maps = self.maps(x) if use_maps else np.uint64(0)
            saved = torch.empty((B, max(1, self.n_saved), D, N), device="cuda") if self.n_saved else None
            p = dev.params(u=x["u"], delta_pre=x["pre"], z=x["z"], A=x["A"], Bm=x["B"], Cm=x["C"], Dskip=x["Dskip"],
                           lengths=x.get("lengths"), initial_state=x.get("init"), out=out, final_state=final,
                           chunk_states=saved, modalities=M, batch=B, length=L, channels=D, states=N,
                           lanes=self.fc["K"], chunk_len=self.TS, n_saved=self.n_saved)
            grid = (-(-D // DT), min(B, 65535), -(-B // 65535))
            self.fk(grid, (self.fc["threads"],), (p, maps), shared_mem=self.fc["smem"])
            return saved

    def compare(M, B, L, D, N, lengths, use_maps=True):
        x = dev.random_inputs(M, B, L, D, N, lengths, False, seed=7)
        o1, o2 = torch.full((M, B, L, D), float("nan"), device="cuda"), torch.full((M, B, L, D), float("nan"), device="cuda")
        f1, f2 = torch.full((B, D, N), float("nan"), device="cuda"), torch.full((B, D, N), float("nan"), device="cuda")
        base = dev.Scan(M, B, L, D, N)
        s1 = base.forward(x, o1, f1)
        s2 = TmaScan(M, B, L, D, N).forward(x, o2, f2, use_maps)
        torch.cuda.synchronize()
        scale = o1.abs().max().item() + 1e-30
        e = max((o1 - o2).abs().max().item() / scale, (f1 - f2).abs().max().item() / (f1.abs().max().item() + 1e-30))
        if s1 is not None:   # only the chunk states a sample reaches are written (and read by the backward)
            starts = (torch.arange(s1.shape[1], device="cuda") + 1) * base.TS
            lens = x["lengths"].long() if lengths else torch.full((B,), L, device="cuda")
            keep = (starts[None, :] < lens[:, None])[:, :, None, None]
            d = torch.where(keep, s1 - s2, torch.zeros_like(s1)).abs().max().item()
            e = max(e, d / (torch.where(keep, s1, torch.zeros_like(s1)).abs().max().item() + 1e-30))
        bad = not (e < 1e-5) or bool(torch.isnan(o2).any()) or bool(torch.isnan(f2).any())
        print(f"{'FAIL' if bad else 'ok  '} M={M} B={B} L={L} D={D} N={N} lengths={lengths} maps={use_maps}: "
              f"max difference / max |value| {e:.2e}", flush=True)
        return bad

    bad = 0
    for case in [(3, 16, 50, 256, 64, False), (3, 8, 37, 72, 64, True), (3, 4, 300, 96, 16, True),
                 (2, 3, 21, 40, 16, False), (1, 5, 64, 128, 256, True)]:
        bad += compare(*case)
    bad += compare(3, 4, 33, 70, 64, True, use_maps=True)    # D % 4 != 0: the cp.async path inside the variant
    bad += compare(3, 6, 50, 64, 64, False, use_maps=False)  # no maps: the cp.async path in the new layout
    print(f"check: {bad} failures", flush=True)

    for rnd in range(1, int(os.environ.get("TMA_PROBE_ROUNDS", "2")) + 1):
        for name, M, B, L, D, N in [("paper", 3, 1024, 50, 256, 64), ("long2k-16", 3, 8, 2048, 1536, 16),
                                    ("long2k-64", 3, 8, 2048, 1536, 64)]:
            x = dev.random_inputs(M, B, L, D, N, False, False, seed=1)
            out = torch.empty(M, B, L, D, device="cuda")
            base, tma = dev.Scan(M, B, L, D, N), TmaScan(M, B, L, D, N)
            tb = dev.events_time(lambda: base.forward(x, out), 3, 20)
            tma.maps(x)   # encoded before the timing
            tt = dev.events_time(lambda: tma.forward(x, out), 3, 20)
            print(f"round {rnd} {name:10s} forward: v10 {tb:.3f} ms, tensor-map staging {tt:.3f} ms ({tt / tb - 1:+.1%})",
                  flush=True)
    return bad


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else ""
    if what == "make" and len(sys.argv) == 3:
        print(make(sys.argv[2]))
    elif what == "run":
        sys.exit(1 if run() else 0)
    else:
        raise SystemExit(__doc__)
