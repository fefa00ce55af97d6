"""Where the coupled scan kernels' time goes, measured by taking parts away.

Each ablation is a copy of kernels/ with one part of coupled_scan_fwd.cu or coupled_scan_bwd.cu switched
off behind a run-time condition that never holds (so that the compiler keeps the surrounding code as it is)
or removed; a probe (b-pairbc) instead makes one part cheaper, to see whether the time follows. The copies compute wrong results: they exist only to be timed against the unchanged kernels in
one run, and the difference is what that part costs in time, overlap with the rest included. Usage, on a
GPU host from the project root:

    python3 bench/dev/scan_ablations.py make DIR    # writes DIR/NAME/ for every ablation, prints CS_DEV_SOURCES
    python3 bench/dev/scan_ablations.py time        # makes them in a temporary directory and times them with
                                                    # the development harness (coupled_scan_dev.py time-quick)
    python3 bench/dev/scan_ablations.py list        # the ablations and what each takes away

A patch that no longer matches the kernel source fails `make` with the ablation's name, so that a kernel
change cannot silently turn an ablation into a copy of the unchanged code.
"""
import os
import shutil
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
KDIR = os.path.join(ROOT, "kernels")
NEVER = "p.length < 0"   # a run-time condition that is never true

# (old, new, count): old must occur exactly count times in the file
BWD_NO_RED = [
    ('asm volatile("red.global.add.v4.f32 [%0], {%1, %2, %3, %4};" ::"l"(dst), "f"(acc[0]),\n'
     '                                         "f"(acc[1]), "f"(acc[2]), "f"(acc[3]) : "memory");',
     f'if ({NEVER}) dst[0] = acc[0] + acc[1] + acc[2] + acc[3];', 1),
    ("if (n0 + e < N) atomicAdd(dst + e, acc[e]);", f"if (n0 + e < N && {NEVER}) dst[e] = acc[e];", 1),
]
BWD_NO_DSUMS = [("if (it < nD * P) {", "if (it < nD * P) {\n                    if (p.length > 0) continue;", 1)]
BWD_NO_NSUMS = [("int item = it - nD * P, part = 0;",
                 "if (p.length > 0) continue;\n                    int item = it - nD * P, part = 0;", 1)]
BWD_NO_STEP_BARRIER = [("__syncthreads();   // step t's partials are complete", "", 1),
                       ("__syncthreads();   // and read: step t-1 overwrites them", "", 1)]
BWD_NO_PASS1 = [("for (int t = 0; t < T; t++) advance(st, t);",
                 f"for (int t = 0; t < ({NEVER} ? T : 0); t++) advance(st, t);", 1)]
# not a removal: neighbouring lanes read one B/C slice, so that shared memory returns those loads in half
# the cycles (pair-uniform addresses); what the time does then says whether the LSU pipe binds
BWD_PAIR_BC = [("* 2 * NP, k, K);", "* 2 * NP, k & ~1, K);", 2), ("* 2 * NP + NP, k, K);", "* 2 * NP + NP, k & ~1, K);", 1)]
# the copies into shared memory after a block's first sample (the later samples work on its stale data)
BWD_NO_STAGE = [("auto issue = [&](int t0, int tEnd, bool full, int q) {\n",
                 "auto issue = [&](int t0, int tEnd, bool full, int q) {\n"
                 "            if (p.length > 0 && b > b0) { cs_cp_async_commit(); return; }\n", 1)]
BWD_NO_RECOMPUTE = [("if (t + 1 < steps) advance(sr, t);", f"if (t + 1 < steps && {NEVER}) advance(sr, t);", 1)]

FWD_NO_TRANSFORM = [("float delta = cs_softplus(pre);", "float delta = pre;", 1),
                    ("zz * cs_sigmoid(zz)", "zz", 1)]
FWD_NO_DOTS = [("cs_row_dots(cb,", f"if ({NEVER}) cs_row_dots(cb,", 1)]
FWD_NO_EPILOGUE = [("// 3. epilogue\n        if (d0 + ec < D) {", f"// 3. epilogue\n        if (d0 + ec < D && {NEVER}) {{", 1)]
FWD_NO_BARRIERS = [("__syncthreads();\n\n        // 2. recurrence", "\n        // 2. recurrence", 1),
                   ("__syncthreads();\n\n        // 3. epilogue", "\n        // 3. epilogue", 1)]
# the copies of every chunk after the first (the later chunks work on its stale data)
FWD_NO_STAGE = [("if (ch + 1 < nChunks) issue(ch + 1);", f"if (ch + 1 < nChunks && {NEVER}) issue(ch + 1);", 1)]
FWD_NO_LOOP = [("step(bcb, t);", f"if ({NEVER}) step(bcb, t);", 2)]

# name -> (what it takes away, {file: patches})
ABLATIONS = {
    "b-nored": ("backward: the dB/dC atomics (their sums still run)", {"bwd": BWD_NO_RED}),
    "b-nodsum": ("backward: the dB/dC sums over channels and their atomics", {"bwd": BWD_NO_DSUMS}),
    "b-nonsum": ("backward: the du/ddelta/dz sums over lanes and their stores", {"bwd": BWD_NO_NSUMS}),
    "b-nosums": ("backward: every block sum of a reverse step", {"bwd": BWD_NO_DSUMS + BWD_NO_NSUMS}),
    "b-nosum-nobar": ("backward: every block sum and the reverse step's barriers",
                      {"bwd": BWD_NO_DSUMS + BWD_NO_NSUMS + BWD_NO_STEP_BARRIER}),
    "b-nopass1": ("backward: pass 1 (the states entering each sub-chunk)", {"bwd": BWD_NO_PASS1}),
    "b-norecomp": ("backward: the per-sub-chunk recomputation of s_{t-1}", {"bwd": BWD_NO_RECOMPUTE}),
    "b-body": ("backward: sums, step barrier, pass 1 and recomputation (body, staging, transform left)",
               {"bwd": BWD_NO_DSUMS + BWD_NO_NSUMS + BWD_NO_STEP_BARRIER + BWD_NO_PASS1 + BWD_NO_RECOMPUTE}),
    "b-pairbc": ("backward: B and C slice loads at half their shared-memory cycles (pair-uniform)", {"bwd": BWD_PAIR_BC}),
    "b-nostage": ("backward: the staging copies after each block's first sample", {"bwd": BWD_NO_STAGE}),
    "f-nostage": ("forward: the staging copies after each block's first chunk", {"fwd": FWD_NO_STAGE}),
    "f-notrans": ("forward: softplus and sigmoid of the transform", {"fwd": FWD_NO_TRANSFORM}),
    "f-nodots": ("forward: the C.B row dots", {"fwd": FWD_NO_DOTS}),
    "f-noepi": ("forward: the epilogue (lane sums, gate, output stores)", {"fwd": FWD_NO_EPILOGUE}),
    "f-nobar": ("forward: the two barriers around the recurrence", {"fwd": FWD_NO_BARRIERS}),
    "f-loop": ("forward: all four above (staging and the recurrence left)",
               {"fwd": FWD_NO_TRANSFORM + FWD_NO_DOTS + FWD_NO_EPILOGUE + FWD_NO_BARRIERS}),
    "f-noloop": ("forward: the recurrence (staging, transform, dots, epilogue left)", {"fwd": FWD_NO_LOOP}),
}


def patched(name, which, patches):
    text = open(os.path.join(KDIR, f"coupled_scan_{which}.cu")).read()
    for old, new, count in patches:
        found = text.count(old)
        if found != count:
            raise SystemExit(f"ablation {name}: expected {count} occurrence(s) in coupled_scan_{which}.cu, found "
                             f"{found}, of:\n{old}")
        text = text.replace(old, new)
    return text


def make(out_dir):
    os.makedirs(out_dir, exist_ok=True)
    sources = []
    for name, (_, files) in ABLATIONS.items():
        d = os.path.join(out_dir, name)
        if os.path.exists(d):
            shutil.rmtree(d)
        shutil.copytree(KDIR, d)
        for which, patches in files.items():
            text = patched(name, which, patches)
            with open(os.path.join(d, f"coupled_scan_{which}.cu"), "w") as f:
                f.write(text)
        sources.append(f"{name}={d}")
    return ",".join(sources)


if __name__ == "__main__":
    what = sys.argv[1] if len(sys.argv) > 1 else "list"
    if what == "list":
        for name, (desc, _) in ABLATIONS.items():
            print(f"{name:14s} {desc}")
    elif what == "make":
        if len(sys.argv) != 3:
            raise SystemExit("usage: scan_ablations.py make DIR")
        print("CS_DEV_SOURCES=" + make(sys.argv[2]))
    elif what == "time":
        tmp = tempfile.mkdtemp(prefix="scan-ablations-")
        os.environ["CS_DEV_SOURCES"] = make(tmp)
        sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
        import coupled_scan_dev   # after CS_DEV_SOURCES is set; needs CuPy, PyTorch and a GPU
        print(coupled_scan_dev.torch.cuda.get_device_name(0), flush=True)
        coupled_scan_dev.bench(quick=True)
    else:
        raise SystemExit(f"unknown command {what!r}: list, make DIR or time")
