#!/usr/bin/env python3
"""Tiny MMSA-style pickles for testing mmsa_to_safetensors.py, and a self-test of the converter.

    python3 bench/peers/test_mmsa_to_safetensors.py                 # self-test (exit 0 when it passes)
    python3 bench/peers/test_mmsa_to_safetensors.py make OUT.pkl [--variant mosi|sims-bert] [--text-features DIR]

Both variants are generated from a formula, so a reader of the converted files (this self-test, or the
Java test io.cmamba.data.MmsaConversionTest) can check every value without the pickle:
  feature value of modality m (index in text, audio, vision), split s (train 0, valid 1, test 2),
  sample i, step t, feature f:  1000 m + 100 s + 10 i + t + f / 16   (exact in float32)
Variant "mosi" (labels in [-3, 3], 3 classes): splits of 5 / 3 / 4 samples;
  text [n, 6, 4] features non-zero also past the text length (BERT states of padding tokens are),
  with text_bert [n, 3, 6] whose attention mask has 2 + i % 4 ones;
  audio [n, 8, 3] with audio_lengths 3 + i % 5 (train sample 0 has 8 steps but says 9: clipped to 8), zero past
  the length, and -inf at step 0, feature 0 of sample 1 (set to 0 by the converter);
  vision [n, 7, 2] with vision_lengths 7 - i % 3 (a numpy array), zero past the length;
  regression_labels (i - 2) * 0.75 ([n], but [n, 1] in the test split), classification_labels i % 3.
Variant "sims-bert" (labels in [-1, 1], no classes, split 'dev' for valid):
  only text_bert [n, 3, 5] (mask 1 + i % 5 ones, at most 5): text features come from --text-features DIR,
  DIR/<split>.npy [n, 5, 3] by the formula (written by `make` when --text-features is given);
  audio [n, 6, 2] zero past 2 + i % 4 steps and no lengths (the converter trims trailing zero steps);
  vision [n, 4, 3] full; regression_labels (i - 2) * 0.4.
"""
import argparse
import json
import os
import pickle
import struct
import subprocess
import sys
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
SIZES = {"train": 5, "valid": 3, "test": 4}
SPLIT_INDEX = {"train": 0, "valid": 1, "test": 2}


def value(m, s, i, t, f):
    return 1000 * m + 100 * s + 10 * i + t + f / 16


def block(m, s, n, L, F):
    i, t, f = np.meshgrid(np.arange(n), np.arange(L), np.arange(F), indexing="ij")
    return value(m, s, i, t, f).astype(np.float32)


def lengths(variant, modality, i, split):
    if variant == "mosi":
        audio = 8 if split == "train" and i == 0 else 3 + i % 5  # that sample's stored length 9 is clipped to 8
        return {"text": 2 + i % 4, "audio": audio, "vision": 7 - i % 3}[modality]
    return {"text": 1 + i % 5, "audio": 2 + i % 4, "vision": 4}[modality]


def make(path, variant, text_dir=None):
    data = {}
    for split, n in SIZES.items():
        s = SPLIT_INDEX[split]
        d = {"id": [f"{split}_{i}" for i in range(n)], "raw_text": [f"sample {i}" for i in range(n)]}
        tl = 6 if variant == "mosi" else 5
        bert = np.zeros((n, 3, tl), dtype=np.int64)
        for i in range(n):
            k = lengths(variant, "text", i, split)
            bert[i, 0, :k] = 101 + np.arange(k)
            bert[i, 1, :k] = 1
        d["text_bert"] = bert
        if variant == "mosi":
            d["text"] = block(0, s, n, 6, 4)
            audio, vision = block(1, s, n, 8, 3), block(2, s, n, 7, 2)
            for i in range(n):
                audio[i, lengths(variant, "audio", i, split):] = 0
                vision[i, lengths(variant, "vision", i, split):] = 0
            audio[1, 0, 0] = -np.inf
            d["audio"], d["vision"] = audio, vision
            al = [3 + i % 5 for i in range(n)]
            if split == "train":
                al[0] = 9
            d["audio_lengths"] = al
            d["vision_lengths"] = np.array([7 - i % 3 for i in range(n)])
            y = np.array([(i - 2) * 0.75 for i in range(n)], dtype=np.float32)
            d["regression_labels"] = y[:, None] if split == "test" else y
            d["classification_labels"] = np.array([i % 3 for i in range(n)], dtype=np.float32)
            data[split] = d
        else:
            audio = block(1, s, n, 6, 2)
            for i in range(n):
                audio[i, lengths(variant, "audio", i, split):] = 0
            d["audio"], d["vision"] = audio, block(2, s, n, 4, 3)
            d["regression_labels"] = np.array([(i - 2) * 0.4 for i in range(n)], dtype=np.float32)
            data["dev" if split == "valid" else split] = d
            if text_dir:
                os.makedirs(text_dir, exist_ok=True)
                np.save(os.path.join(text_dir, f"{split}.npy"), block(0, s, n, 5, 3))
    with open(path, "wb") as f:
        pickle.dump(data, f, protocol=4)


# ------------------------------------------------------------------ self-test


def read_safetensors(path):
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n])
    meta = header.pop("__metadata__", {})
    out = {}
    for name, e in header.items():
        dtype = {"F32": "<f4", "I32": "<i4"}[e["dtype"]]
        b, end = e["data_offsets"]
        out[name] = np.frombuffer(raw[8 + n + b:8 + n + end], dtype=dtype).reshape(e["shape"])
    return out, meta


def check(out_dir, variant):
    desc = json.load(open(os.path.join(out_dir, "dataset.json")))
    assert desc["format"] == "cmamba-features" and desc["version"] == 1, desc
    assert desc["modalities"] == ["text", "audio", "vision"], desc
    shapes = {"mosi": ([4, 3, 2], [6, 8, 7], 3, 3), "sims-bert": ([3, 2, 3], [5, 6, 4], 1, 0)}[variant]
    assert desc["feature_sizes"] == shapes[0] and desc["max_lengths"] == shapes[1], desc
    assert desc["label_range"] == shapes[2] and desc["classes"] == shapes[3], desc
    for split, n in SIZES.items():
        s = SPLIT_INDEX[split]
        t, meta = read_safetensors(os.path.join(out_dir, f"{split}.safetensors"))
        assert json.loads(meta["ids"]) == [f"{split}_{i}" for i in range(n)], meta
        for m, name in enumerate(desc["modalities"]):
            x, ln = t[f"{name}.features"], t[f"{name}.lengths"]
            want_len = [lengths(variant, name, i, split) for i in range(n)]
            assert ln.tolist() == want_len, (split, name, ln.tolist(), want_len)
            want = block(m, s, n, desc["max_lengths"][m], desc["feature_sizes"][m])
            for i in range(n):
                want[i, want_len[i]:] = 0
            if variant == "mosi" and name == "audio":
                want[1, 0, 0] = 0
            assert np.array_equal(x, want), (split, name)
        y = t["labels.regression"]
        step = 0.75 if variant == "mosi" else 0.4
        assert np.allclose(y, [(i - 2) * step for i in range(n)], atol=1e-6), y
        if variant == "mosi":
            assert t["labels.class"].tolist() == [i % 3 for i in range(n)]
        else:
            assert "labels.class" not in t


def run(args):
    return subprocess.run([sys.executable, os.path.join(HERE, "mmsa_to_safetensors.py")] + args,
                          capture_output=True, text=True)


def self_test():
    with tempfile.TemporaryDirectory() as tmp:
        pkl = os.path.join(tmp, "mosi.pkl")
        make(pkl, "mosi")
        for extra in (["--no-package"], []):
            out = os.path.join(tmp, "mosi" + "".join(extra))
            r = run([pkl, out, "--name", "mosi"] + extra)
            assert r.returncode == 0, r.stderr
            assert "clipped" in r.stderr and "non-finite" in r.stderr, r.stderr
            check(out, "mosi")
        r = run([pkl, os.path.join(tmp, "strict"), "--strict"])
        assert r.returncode == 2 and "non-finite" in r.stderr and "--strict" in r.stderr, r.stderr
        r = run([pkl, os.path.join(tmp, "c2"), "--classes", "2"])
        assert r.returncode == 2 and "does not fit 2 classes" in r.stderr, r.stderr
        r = run([pkl, os.path.join(tmp, "r1"), "--label-range", "1"])
        assert r.returncode == 2 and "outside [-1, 1]" in r.stderr, r.stderr

        sims, text = os.path.join(tmp, "sims.pkl"), os.path.join(tmp, "bert")
        make(sims, "sims-bert", text)
        r = run([sims, os.path.join(tmp, "no-text")])
        assert r.returncode == 2 and "--text-features" in r.stderr, r.stderr
        assert not os.path.exists(os.path.join(tmp, "no-text", "dataset.json"))
        out = os.path.join(tmp, "sims")
        r = run([sims, out, "--text-features", text])
        assert r.returncode == 0, r.stderr
        check(out, "sims-bert")
        r = run([os.path.join(tmp, "absent.pkl"), out])
        assert r.returncode == 2 and "no such file" in r.stderr, r.stderr
    print("mmsa_to_safetensors self-test passed")


def main():
    ap = argparse.ArgumentParser(description="tiny MMSA-style pickles; without arguments, the converter's self-test")
    sub = ap.add_subparsers(dest="cmd")
    mk = sub.add_parser("make")
    mk.add_argument("out")
    mk.add_argument("--variant", choices=("mosi", "sims-bert"), default="mosi")
    mk.add_argument("--text-features", metavar="DIR")
    a = ap.parse_args()
    if a.cmd == "make":
        make(a.out, a.variant, a.text_features)
    else:
        self_test()


if __name__ == "__main__":
    main()
