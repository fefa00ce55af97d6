# Development check of kernels/global_conv.cu through CuPy (NVRTC, as the project compiles it) against
# float64 PyTorch references with autograd: every kernel, both convolution paths, M in {1, 2, 3}, L in
# {1, 50, 64, 65, 1000, 8192}. The host logic mirrors io.cmamba.cuda.CudaGlobalConv (the FFTs here are
# CuPy's, out of place). Run on a GPU host from the project root: python3 bench/dev/global_conv_dev.py [time B]
import sys, time, math, json
import numpy as np, cupy as cp, torch
torch.set_default_dtype(torch.float64)
src = open('kernels/global_conv.cu').read()
mod = cp.RawModule(code=src, options=('-arch=sm_90', '-lineinfo'))
F32 = cp.float32
def fn(name, smem=0):
    f = mod.get_function(name)
    if smem > 48 * 1024: f.max_dynamic_shared_size_bytes = smem
    return f
def cdiv(a, b): return (a + b - 1) // b
def pairs_per_block(M): return 1 if M == 1 else 4 if M == 2 else 9

# ------------------------------------------------------------- host logic mirrored from CudaGlobalConv
def kernel_fwd(K, A, delta, B, C):
    M, D, N = A.shape; L = K.shape[3]; P = pairs_per_block(M)
    smem = max(N * 12 + P * N * 4 + P * 4, P * (1024 + 32) * 4)
    fn('gck_fwd_p%d' % P, smem)((cdiv(L, 1024), D, cdiv(M * M, P)), (128,), (K, A, delta, B, C, np.int32(M), np.int32(D), np.int32(N), np.int32(L)), shared_mem=smem)

def kernel_bwd(dA, dDelta, dB, dC, dK, A, delta, B, C):
    M, D, N = A.shape; L = dK.shape[3]; P = pairs_per_block(M); MM = M * M
    zb = cdiv(MM, P)
    want = max(1, cdiv(4 * 132, D * zb))
    T = max(1, min(cdiv(L, 512), want))
    lpb = cdiv(cdiv(L, T), 64) * 64
    T = cdiv(L, lpb)
    part = cp.empty(D * T * 2 * MM * N, F32)
    smem = ((((3 * N + 1) // 2) + 1) & ~1) * 8 + P * 512 * 4
    fn('gck_bwd_partial_p%d' % P, smem)((T, D, zb), (256,), (part, dK, A, delta, np.int32(M), np.int32(D), np.int32(N), np.int32(L), np.int32(lpb)), shared_mem=smem)
    nt = 32
    while nt < N: nt *= 2
    bc = cp.empty(D * 2 * M * N, F32)
    smem = 5 * M * nt * 8
    fn('gck_bwd_chain', smem)((D,), (nt,), (dA, dDelta, bc, part, dK, A, delta, B, C, np.int32(M), np.int32(D), np.int32(N), np.int32(L), np.int32(T)), shared_mem=smem)
    fn('gck_bwd_reduce')((cdiv(2 * M * N, 256),), (256,), (dB, dC, bc, np.int32(M), np.int32(D), np.int32(N)))

def conv_direct(y, u, K, Dskip, rev=False, pairO=None, pairI=None):
    M, Bt, L, D = u.shape
    MO = min(M, 4); groups = cdiv(M, MO); tiles = cdiv(L, 64)
    smem = (MO * 128 * 33 + 64 * 32) * 4
    if pairO is None: pairO, pairI = M, 1
    fn(('gcd_conv_rev_m%d' if rev else 'gcd_conv_fwd_m%d') % MO, smem)((cdiv(D, 32), cdiv(tiles, 2), Bt * groups), (32, 4),
        (y, u, K, Dskip, np.int32(M), np.int32(Bt), np.int32(L), np.int32(D), np.int32(pairO), np.int32(pairI)), shared_mem=smem)

def dskip(dDs, dy, u):
    M, Bt, L, D = u.shape; rows = Bt * L
    chunks = max(1, min(cdiv(rows, 256), cdiv(4 * 132, cdiv(D, 32) * M)))
    rpc = cdiv(rows, chunks); chunks = cdiv(rows, rpc)
    part = cp.empty(chunks * M * D, F32)
    fn('gc_dskip_partial')((cdiv(D, 32), M, chunks), (32, 8), (part, dy, u, np.int32(M), np.int32(rows), np.int32(D), np.int32(rpc)))
    fn('gc_dskip_reduce')((cdiv(M * D, 256),), (256,), (dDs, part, np.int32(chunks), np.int32(M * D)))

def conv_direct_bwd(du, dK, dDs, dy, u, K, Dskip):
    M, Bt, L, D = u.shape
    conv_direct(du, dy, K, Dskip, rev=True, pairO=1, pairI=M)
    KG = min(M, 4); tiles = cdiv(L, 64)
    base = cdiv(D, 32) * cdiv(tiles, 2) * M * cdiv(M, KG)
    g = max(1, min(Bt, 8, cdiv(2 * 132 * 4, base)))
    smem = (KG * 128 * 32 + 64 * 32) * 4
    out = dK if g == 1 else cp.empty(g * M * M * D * L, F32)
    fn('gcd_corr_m%d' % KG, smem)((cdiv(D, 32), cdiv(tiles, 2), M * cdiv(M, KG) * g), (32, 4),
        (out, dy, u, np.int32(M), np.int32(Bt), np.int32(L), np.int32(D), np.int32(g)), shared_mem=smem)
    if g > 1:
        n = M * M * D * L
        fn('gc_sum_parts')((min(cdiv(n, 256), 4096),), (256,), (dK, out, np.int32(g), np.int64(n)))
    dskip(dDs, dy, u)

def nfft_for(L):
    n = 1
    while n < 2 * L - 1: n *= 2
    if n >= 8 and (3 * n) // 4 >= 2 * L - 1: n = (3 * n) // 4
    return max(n, 2)

def pad_t(x, nfft):
    M, Bt, L, D = x.shape
    buf = cp.empty((M * Bt * D, nfft), F32)
    fn('gcf_pad_transpose')((cdiv(nfft, 32), cdiv(D, 32), M * Bt), (32, 8), (buf, x, np.int32(L), np.int32(D), np.int32(nfft), np.int32(nfft)))
    return buf
def pad_r(K, nfft):
    rows = K.shape[0] * K.shape[1] * K.shape[2]; L = K.shape[3]
    buf = cp.empty((rows, nfft), F32)
    fn('gcf_pad_rows')((rows, cdiv(nfft, 256)), (256,), (buf, K, np.int32(L), np.int32(nfft), np.int32(nfft)))
    return buf

def conv_fft(y, u, K, Dskip):
    M, Bt, L, D = u.shape; nfft = nfft_for(L); F = nfft // 2 + 1
    X = cp.fft.rfft(pad_t(u, nfft), axis=1)
    Kf = cp.fft.rfft(pad_r(K, nfft), axis=1)
    fn('gcf_mul_fwd_m%d' % M)((cdiv(D * F, 256), Bt), (256,), (X, Kf, np.int32(Bt), np.int32(D), np.int32(F), np.int32(1)))
    xt = cp.fft.irfft(X, n=nfft, axis=1) * nfft   # cupy normalises; undo so the kernel's 1/nfft applies
    xt = cp.ascontiguousarray(xt, dtype=F32)
    fn('gcf_unpad_transpose')((cdiv(L, 32), cdiv(D, 32), M * Bt), (32, 8), (y, xt, u, Dskip, np.int32(Bt), np.int32(L), np.int32(D), np.int32(nfft), np.float32(1.0 / nfft)))

def conv_fft_bwd(du, dK, dDs, dy, u, K, Dskip):
    M, Bt, L, D = u.shape; nfft = nfft_for(L); F = nfft // 2 + 1
    X = cp.fft.rfft(pad_t(dy, nfft), axis=1)
    U = cp.fft.rfft(pad_t(u, nfft), axis=1)
    Kf = cp.fft.rfft(pad_r(K, nfft), axis=1)
    fn('gcf_mul_bwd_m%d' % M)((cdiv(D * F, 256), 1), (256,), (X, U, Kf, Kf, np.int32(Bt), np.int32(D), np.int32(F), np.int32(Bt)))
    xt = cp.ascontiguousarray(cp.fft.irfft(X, n=nfft, axis=1) * nfft, dtype=F32)
    fn('gcf_unpad_transpose')((cdiv(L, 32), cdiv(D, 32), M * Bt), (32, 8), (du, xt, dy, Dskip, np.int32(Bt), np.int32(L), np.int32(D), np.int32(nfft), np.float32(1.0 / nfft)))
    kt = cp.ascontiguousarray(cp.fft.irfft(Kf, n=nfft, axis=1) * nfft, dtype=F32)
    rows = M * M * D
    fn('gcf_unpad_rows')((rows, cdiv(L, 256)), (256,), (dK, kt, np.int32(L), np.int32(nfft), np.float32(1.0 / nfft)))
    dskip(dDs, dy, u)

# ------------------------------------------------------------- float64 references (autograd)
def ref_kernel(A, delta, B, C, L):
    M, D, N = A.shape
    Abar = torch.exp(delta[:, :, None] * A)
    G = Abar.mean(0)
    beta = delta[:, :, None] * B[:, None, :]
    alpha = C[:, None, :] * Abar / M
    K0 = torch.eye(M)[:, :, None] * (C[:, None, :] * beta).sum(-1)[:, None, :]
    if L == 1: return K0[..., None]
    l = torch.arange(0, L - 1, dtype=torch.float64)
    P = G[:, :, None] ** l
    Kl = torch.einsum('mdn,kdn,dnl->mkdl', alpha, beta, P)
    return torch.cat([K0[..., None], Kl], -1)

def ref_conv(u, K, Dskip):
    M, Bt, L, D = u.shape
    n = 2 * L
    U = torch.fft.rfft(u.permute(0, 1, 3, 2), n=n)
    Kf = torch.fft.rfft(K, n=n)
    Y = torch.einsum('mkdf,kbdf->mbdf', Kf, U)
    y = torch.fft.irfft(Y, n=n)[..., :L].permute(0, 1, 3, 2)
    return y + Dskip[:, None, None, :] * u

def rel(gpu, ref):
    g = cp.asnumpy(gpu).astype(np.float64).ravel(); r = ref.detach().numpy().ravel()
    if np.isnan(g).any(): return float('nan')
    return float(np.max(np.abs(g - r)) / max(np.max(np.abs(r)), 1e-300))

def nan(shape): return cp.full(shape, cp.nan, F32)
def c32(t): return cp.asarray(t.detach().numpy().astype(np.float32))

def check(M, L, Bt=2, D=40, N=12, seed=0):
    g = torch.Generator().manual_seed(seed * 1000 + M * 100 + L)
    A = (-(torch.arange(N) + 1.0)[None, None, :] * torch.exp(0.3 * torch.randn(M, D, N, generator=g))).requires_grad_()
    delta = torch.exp(torch.empty(M, D).uniform_(math.log(1e-3), math.log(1e-1), generator=g)).requires_grad_()
    B = torch.randn(M, N, generator=g).requires_grad_(); C = torch.randn(M, N, generator=g).requires_grad_()
    Ds = torch.randn(M, D, generator=g).requires_grad_(); u = torch.randn(M, Bt, L, D, generator=g).requires_grad_()
    # round the inputs to float32 first so both sides see the same numbers
    with torch.no_grad():
        for t in (A, delta, B, C, Ds, u): t.copy_(t.float().double())
    Kr = ref_kernel(A, delta, B, C, L)
    dK = torch.randn(Kr.shape, generator=g).float().double()
    gA, gdel, gB, gC = [g if g is not None else torch.zeros_like(x) for g, x in zip(torch.autograd.grad(Kr, (A, delta, B, C), dK, allow_unused=True), (A, delta, B, C))]
    Kd = Kr.detach().float().double().requires_grad_()
    yr = ref_conv(u, Kd, Ds)
    dy = torch.randn(yr.shape, generator=g).float().double()
    gu, gK, gDs = torch.autograd.grad(yr, (u, Kd, Ds), dy)
    res = {}
    gA_, gdel_, gB_, gC_ = c32(A), c32(delta), c32(B), c32(C)
    K = nan(Kr.shape); kernel_fwd(K, gA_, gdel_, gB_, gC_); res['K'] = rel(K, Kr)
    o = [nan(A.shape), nan(delta.shape), nan(B.shape), nan(C.shape)]
    kernel_bwd(*o, c32(dK), gA_, gdel_, gB_, gC_)
    res['dA'], res['ddelta'], res['dB'], res['dC'] = rel(o[0], gA), rel(o[1], gdel), rel(o[2], gB), rel(o[3], gC)
    for path in ('direct', 'fft'):
        y = nan(u.shape)
        (conv_direct if path == 'direct' else conv_fft)(y, c32(u), c32(Kd), c32(Ds))
        res[path + ':y'] = rel(y, yr)
        du, dKo, dDs = nan(u.shape), nan(Kr.shape), nan(Ds.shape)
        (conv_direct_bwd if path == 'direct' else conv_fft_bwd)(du, dKo, dDs, c32(dy), c32(u), c32(Kd), c32(Ds))
        res[path + ':du'], res[path + ':dK'], res[path + ':dDskip'] = rel(du, gu), rel(dKo, gK), rel(dDs, gDs)
    return res

bad = 0
for M in (1, 2, 3):
    for L in (1, 50, 64, 65, 1000, 8192):
        for (Bt, D, N) in ((2, 40, 12), (3, 33, 64)):
            if L == 8192 and N == 64: continue
            r = check(M, L, Bt, D, N)
            worst = max(r.values())
            ok = worst < 1e-4 and not math.isnan(worst)
            bad += not ok
            print(('OK  ' if ok else 'BAD ') + 'M=%d L=%d B=%d D=%d N=%d ' % (M, L, Bt, D, N) + ' '.join('%s=%.1e' % kv for kv in r.items()), flush=True)
print('CHECKS FAILED: %d' % bad, flush=True)

# ------------------------------------------------------------- timings (events, warm-up, median)
def timeit(f, reps=10, warm=2):
    for _ in range(warm): f()
    cp.cuda.Device().synchronize()
    ts = []
    for _ in range(reps):
        s, e = cp.cuda.Event(), cp.cuda.Event(); s.record(); f(); e.record(); e.synchronize()
        ts.append(cp.cuda.get_elapsed_time(s, e))
    return float(np.median(ts))

if len(sys.argv) > 1 and sys.argv[1] == 'time':
    M, D, N, Bt = 3, 256, 64, int(sys.argv[2]) if len(sys.argv) > 2 else 8
    rs = cp.random.RandomState(1)
    print('M=%d D=%d N=%d B=%d; ms (median)' % (M, D, N, Bt))
    print('%6s %9s %9s %9s %9s %9s %9s %9s %9s' % ('L', 'Kfwd', 'Kbwd', 'dir fwd', 'fft fwd', 'dir bwd', 'fft bwd', 'copy GB/s', ''))
    A = (-cp.arange(1, N + 1, dtype=F32)[None, None, :] * cp.ones((M, D, 1), F32)).astype(F32)
    delta = cp.full((M, D), 0.01, F32); Bm = rs.randn(M, N).astype(F32); Cm = rs.randn(M, N).astype(F32); Ds = rs.randn(M, D).astype(F32)
    for L in (64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384):
        u = rs.randn(M, Bt, L, D).astype(F32); dy = rs.randn(M, Bt, L, D).astype(F32)
        K = cp.empty((M, M, D, L), F32); y = cp.empty_like(u); du = cp.empty_like(u); dK = cp.empty_like(K); dDs = cp.empty_like(Ds)
        oA, od, oB, oC = cp.empty_like(A), cp.empty_like(delta), cp.empty_like(Bm), cp.empty_like(Cm)
        reps = 10 if L <= 4096 else 3
        tk = timeit(lambda: kernel_fwd(K, A, delta, Bm, Cm))
        tkb = timeit(lambda: kernel_bwd(oA, od, oB, oC, K, A, delta, Bm, Cm))
        td = timeit(lambda: conv_direct(y, u, K, Ds), reps) if L <= 8192 else float('nan')
        tf = timeit(lambda: conv_fft(y, u, K, Ds))
        tdb = timeit(lambda: conv_direct_bwd(du, dK, dDs, dy, u, K, Ds), reps) if L <= 8192 else float('nan')
        tfb = timeit(lambda: conv_fft_bwd(du, dK, dDs, dy, u, K, Ds))
        print('%6d %9.3f %9.3f %9.3f %9.3f %9.3f %9.3f' % (L, tk, tkb, td, tf, tdb, tfb), flush=True)
    big = cp.empty(1 << 28, F32); big2 = cp.empty_like(big)
    t = timeit(lambda: big2.__setitem__(slice(None), big))
    print('device copy: %.0f GB/s (read + write)' % (2 * big.nbytes / t / 1e6))
