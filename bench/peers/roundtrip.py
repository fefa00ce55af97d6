"""A Java checkpoint through the PyTorch peer: do both implementations compute the same function?

    python3 bench/peers/roundtrip.py make-inputs --checkpoint best.safetensors --out inputs.safetensors --batch 12 --seed 1
    cmamba predict --checkpoint best.safetensors --in inputs.safetensors --out java.safetensors
    python3 bench/peers/roundtrip.py compare --checkpoint best.safetensors --inputs inputs.safetensors --java-outputs java.safetensors

make-inputs writes random features (padding included: it must not leak) and random true lengths per
sample, the full length and 1 among them, in the format `cmamba predict` reads. compare loads the
checkpoint into fusion_torch's model (bench/peers/fusion_torch.py) in float64 and in float32, runs it
on the same inputs, and prints per Java output file the largest absolute difference and the largest
difference relative to the largest |Java output|; exit 1 when a relative difference passes --tol.
bench/peers/roundtrip.sh runs the whole round trip over both architectures and several fusions.
Needs numpy and torch; not the safetensors package.
"""
import argparse
import json
import sys

import numpy as np

import safetensors_np


def config_of(path):
    _, meta = safetensors_np.read(path)
    if "config" not in meta:
        raise SystemExit(f"{path}: no 'config' metadata (not a cmamba checkpoint?)")
    return json.loads(meta["config"])


def make_inputs(args):
    cfg = config_of(args.checkpoint)
    rng = np.random.default_rng(args.seed)
    tensors = {}
    for m, (length, features) in enumerate(zip(cfg["inputLengths"], cfg["featureSizes"])):
        tensors[f"features.{m}"] = rng.standard_normal((args.batch, length, features)).astype(np.float32)
        lengths = rng.integers(1, length + 1, size=args.batch).astype(np.int32)
        lengths[0] = length                      # one whole sample, one of a single step: the edge windows
        if args.batch > 1:
            lengths[1] = 1
        tensors[f"lengths.{m}"] = lengths
    safetensors_np.write(args.out, tensors, {"seed": args.seed, "checkpoint": args.checkpoint})
    shapes = ", ".join(f"features.{m} {list(tensors[f'features.{m}'].shape)}" for m in range(len(cfg["featureSizes"])))
    print(f"wrote {args.out}: {shapes}")


def differences(ours, java):
    abs_diff = float(np.max(np.abs(ours - java)))
    scale = float(np.max(np.abs(java)))
    return abs_diff, abs_diff / scale if scale > 0 else abs_diff


def compare(args):
    import torch
    import fusion_torch

    if hasattr(torch.backends, "nnpack"):
        torch.backends.nnpack.set_flags(False)  # on CPUs it cannot use it only prints warnings
    runs = {}
    for name, dtype in (("float64", torch.float64), ("float32", torch.float32)):
        model, cfg = fusion_torch.load_java_checkpoint(args.checkpoint, dtype=dtype, device=args.device)
        feats, lens = fusion_torch.read_inputs(args.inputs, cfg, dtype=dtype, device=args.device)
        with torch.no_grad():
            runs[name] = model(feats, lens).double().cpu().numpy()
    worst = 0.0
    for path in args.java_outputs:
        tensors, meta = safetensors_np.read(path)
        if "output" not in tensors:
            raise SystemExit(f"{path}: tensor 'output' is missing (the file has {sorted(tensors)})")
        java = tensors["output"].astype(np.float64)
        if java.shape != runs["float64"].shape:
            raise SystemExit(f"{path}: output has shape {list(java.shape)}, the PyTorch model gives {list(runs['float64'].shape)}")
        if not np.all(np.isfinite(java)):
            raise SystemExit(f"{path}: the Java outputs hold NaN or infinite values")
        parts = []
        for name, ours in runs.items():
            a, r = differences(ours, java)
            worst = max(worst, r)
            parts.append(f"torch {name}: max abs {a:.2e}, max rel {r:.2e}")
        verdict = "ok" if max(differences(o, java)[1] for o in runs.values()) <= args.tol else f"ABOVE tol {args.tol:g}"
        label = f"{args.label} " if args.label else ""
        print(f"{label}java {meta.get('device', '?')} [{java.shape[0]}x{java.shape[1]}], max |out| "
              f"{np.max(np.abs(java)):.3g}; " + "; ".join(parts) + f"; {verdict}")
    return 0 if worst <= args.tol else 1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    mk = sub.add_parser("make-inputs", help="random inputs for a checkpoint's model, in the format cmamba predict reads")
    mk.add_argument("--checkpoint", required=True)
    mk.add_argument("--out", required=True)
    mk.add_argument("--batch", type=int, default=12)
    mk.add_argument("--seed", type=int, default=1)
    cp = sub.add_parser("compare", help="the PyTorch peer's outputs against the Java model's")
    cp.add_argument("--checkpoint", required=True)
    cp.add_argument("--inputs", required=True)
    cp.add_argument("--java-outputs", required=True, nargs="+", help="one or more files written by cmamba predict")
    cp.add_argument("--tol", type=float, default=1e-5, help="largest accepted max|ours - java| / max|java|")
    cp.add_argument("--device", default="cpu", help="where PyTorch runs (cpu, cuda)")
    cp.add_argument("--label", default="", help="prefix of every printed line")
    args = ap.parse_args(argv)
    if args.cmd == "make-inputs":
        if args.batch < 1:
            ap.error(f"--batch must be >= 1, got {args.batch}")
        make_inputs(args)
        return 0
    return compare(args)


if __name__ == "__main__":
    sys.exit(main())
