#!/usr/bin/env python3
"""Probes where a feature directory's label lives: in order-free per-modality summaries, or in the
relation between modalities over time. Two small numpy models, trained the same way (Adam, L1 loss,
batch 64), on the modalities pooled to a common length L by length-aware average pooling (as the
Java model does):

  late     per modality, a shared per-step layer (Linear + ReLU), max-pooled over time, then the
           pooled vectors concatenated into a head (Linear 64 + ReLU + Linear 1): late fusion of
           independently pooled modalities, blind to when anything happened;
  window   one shared per-step layer over a window of 3 consecutive steps of ALL modalities
           concatenated, max-pooled, the same head: it sees which event of one modality comes right
           after which event of another;
  window:<m>  the window model on modality m alone (unimodal).

    python3 bench/peers/synthetic_probe.py DIR late window window:text window:audio [--epochs 100]

DIR is a feature directory (docs/DATA.md); export the built-in dataset with FeatureDirectoryWriter.
Prints test Acc-2 (has-0) and MAE. Needs numpy only.
"""
import argparse
import json
import os
import struct

import numpy as np


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    header.pop("__metadata__", None)
    out = {}
    for name, e in header.items():
        b, end = e["data_offsets"]
        dtype = {"F32": "<f4", "I32": "<i4"}[e["dtype"]]
        out[name] = np.frombuffer(raw[8 + n + b:8 + n + end], dtype=dtype).reshape(e["shape"])
    return out


def pool(x, lengths, length):
    """[n, L_m, F] -> [n, length, F]: bin t averages steps floor(t l / L) .. ceil((t + 1) l / L) - 1 of the true length l."""
    n, _, f = x.shape
    out = np.zeros((n, length, f), np.float32)
    for i in range(n):
        l = int(lengths[i])
        if l == 0:
            continue
        for t in range(length):
            a, b = (t * l) // length, -((-(t + 1) * l) // length)
            out[i, t] = x[i, a:b].mean(0)
    return out


def load(directory, split, modalities, length):
    t = read_safetensors(os.path.join(directory, f"{split}.safetensors"))
    return [pool(t[m + ".features"], t[m + ".lengths"], length) for m in modalities], t["labels.regression"].astype(np.float32)


def inputs(xs, mode, names):
    """The per-step inputs of each branch: [n, T, C] arrays."""
    if mode == "late":
        return list(xs)
    if mode.startswith("window:"):
        xs = [xs[names.index(mode.split(":", 1)[1])]]
    x = np.concatenate(xs, 2)
    t = x.shape[1]
    return [np.concatenate([x[:, k:t - 2 + k] for k in range(3)], 2)]


def train(mode, train_set, test_set, names, epochs, seed, hidden=96, lr=3e-3):
    rng = np.random.default_rng(seed)
    ftr, fte = inputs(train_set[0], mode, names), inputs(test_set[0], mode, names)
    ytr, yte = train_set[1], test_set[1]
    ws = [rng.normal(0, 1 / np.sqrt(f.shape[2]), (f.shape[2], hidden)).astype(np.float32) for f in ftr]
    bs = [np.zeros(hidden, np.float32) for _ in ftr]
    v1 = rng.normal(0, 1 / np.sqrt(hidden * len(ftr)), (hidden * len(ftr), 64)).astype(np.float32)
    c1 = np.zeros(64, np.float32)
    v2 = rng.normal(0, 1 / 8, (64,)).astype(np.float32)
    c2 = np.zeros(1, np.float32)
    params = ws + bs + [v1, c1, v2, c2]
    m1 = [np.zeros_like(p) for p in params]
    m2 = [np.zeros_like(p) for p in params]

    def forward(fs):
        hs = [np.maximum(f @ w + b, 0) for f, w, b in zip(fs, ws, bs)]
        arg = [h.argmax(1) for h in hs]
        p = np.concatenate([h.max(1) for h in hs], 1)
        z = np.maximum(p @ v1 + c1, 0)
        return z @ v2 + c2[0], hs, arg, p, z

    n, step = len(ytr), 0
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, 64):
            idx = order[start:start + 64]
            fs, y = [f[idx] for f in ftr], ytr[idx]
            out, hs, arg, p, z = forward(fs)
            g = np.sign(out - y) / len(idx)  # L1 loss
            gz = np.outer(g, v2) * (z > 0)
            gp = gz @ v1.T
            gws, gbs = [], []
            rows, cols = np.arange(len(idx))[:, None], np.arange(hidden)[None, :]
            for k, (f, h, a) in enumerate(zip(fs, hs, arg)):
                gh = np.zeros_like(h)
                gh[rows, a, cols] = gp[:, k * hidden:(k + 1) * hidden]  # max-pool routes to the argmax
                gh *= h > 0
                gws.append(np.einsum("btc,bth->ch", f, gh))
                gbs.append(gh.sum((0, 1)))
            grads = gws + gbs + [p.T @ gz, gz.sum(0), z.T @ g, np.array([g.sum()], np.float32)]
            step += 1
            for i, (prm, grd) in enumerate(zip(params, grads)):
                m1[i] = 0.9 * m1[i] + 0.1 * grd
                m2[i] = 0.999 * m2[i] + 0.001 * grd * grd
                prm -= (lr * (m1[i] / (1 - 0.9 ** step)) / (np.sqrt(m2[i] / (1 - 0.999 ** step)) + 1e-8)).astype(prm.dtype)
    out = forward(fte)[0]
    return float(np.mean((out >= 0) == (yte >= 0))), float(np.mean(np.abs(out - yte)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("dir")
    ap.add_argument("modes", nargs="+")
    ap.add_argument("--epochs", type=int, default=100)
    ap.add_argument("--length", type=int, default=16)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args()
    desc = json.load(open(os.path.join(a.dir, "dataset.json")))
    names = desc["modalities"]
    tr, te = load(a.dir, "train", names, a.length), load(a.dir, "test", names, a.length)
    print(f"{desc['name']}: {len(tr[1])} train / {len(te[1])} test samples, L {a.length}, "
          f"predicting 0 gives MAE {float(np.mean(np.abs(te[1]))):.3f}")
    for mode in a.modes:
        acc, mae = train(mode, tr, te, names, a.epochs, a.seed)
        print(f"{mode:14s} test Acc-2 {acc:.3f}  MAE {mae:.3f}", flush=True)


if __name__ == "__main__":
    main()
