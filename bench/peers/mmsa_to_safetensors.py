#!/usr/bin/env python3
"""Converts an MMSA / MMSA-FET feature pickle (CMU-MOSI, CMU-MOSEI, CH-SIMS, CH-SIMS v2) to a feature
directory that io.cmamba.data.FeatureDirectoryLoader reads (the layout is in docs/DATA.md):

    OUT/dataset.json
    OUT/train.safetensors  OUT/valid.safetensors  OUT/test.safetensors

The pickle is a dict of splits 'train' / 'valid' / 'test' (a 'dev' split is taken as 'valid'), each a
dict with, per modality, features [n, L, F] ('text', 'audio', 'vision'), optional true lengths
('text_lengths', 'audio_lengths', 'vision_lengths'), 'regression_labels' [n] (or [n, 1]), optional
'classification_labels' [n], and 'id'. For BERT models MMSA stores 'text_bert' [n, 3, L]: token ids,
attention mask and segment ids. Those are not features: when a split has no float 'text' array, BERT
features must be extracted separately and given with --text-features DIR (DIR/train.npy, valid.npy,
test.npy, each float [n, L, F]); the attention mask still gives the text lengths.

True lengths, per modality: the '<modality>_lengths' array when the pickle has one (clipped to
[0, L] with a warning); for text, else the sum of the 'text_bert' attention mask; else the number of
steps up to the last step that is not all zero (word-aligned data has no length arrays). Non-finite
feature values (MMSA's audio has -inf, which its own loader sets to 0) are set to 0 and counted;
--strict makes them an error. Values past a sample's length are set to 0.

Needs python3 and numpy; uses the `safetensors` package when it is installed, else writes the format
itself. Every file is written to a temporary name and renamed, and dataset.json (with each file's
SHA-256) comes last, so an interrupted run never leaves a directory that loads.

Pickles can run code when loaded: convert only files from a source you trust.

    python3 bench/peers/mmsa_to_safetensors.py aligned_50.pkl data/mosi --name mosi
"""
import argparse
import hashlib
import json
import os
import pickle
import sys
import tempfile

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import safetensors_np  # noqa: E402  (beside this script)

FORMAT = "cmamba-features"
VERSION = 1
SPLITS = ("train", "valid", "test")


class ConversionError(Exception):
    pass


def load_pickle(path):
    with open(path, "rb") as f:
        try:
            return pickle.load(f)
        except UnicodeDecodeError:
            # pickles written by Python 2 (the original CMU-MultimodalSDK ones) need latin1 for numpy arrays
            f.seek(0)
            return pickle.load(f, encoding="latin1")


def split_dicts(data, path):
    if not isinstance(data, dict):
        raise ConversionError(f"{path}: expected a dict of splits, got {type(data).__name__}")
    out = {}
    for split in SPLITS:
        key = split if split in data else ("dev" if split == "valid" and "dev" in data else None)
        if key is None:
            raise ConversionError(f"{path}: no '{split}' split (the pickle has {sorted(map(str, data.keys()))})")
        if not isinstance(data[key], dict):
            raise ConversionError(f"{path}: split '{key}' is {type(data[key]).__name__}, expected a dict")
        out[split] = data[key]
    return out


def as_float_features(x, what):
    try:
        a = np.asarray(x)
    except Exception as e:  # ragged lists
        raise ConversionError(f"{what}: not an array ({e})")
    if a.ndim != 3:
        raise ConversionError(f"{what}: expected features [n, L, F], got shape {list(a.shape)}")
    if not (np.issubdtype(a.dtype, np.floating) or np.issubdtype(a.dtype, np.integer)):
        raise ConversionError(f"{what}: dtype {a.dtype} is not numeric")
    return np.array(a, dtype=np.float32)  # a copy: the caller edits it


def as_vector(x, n, what, dtype):
    a = np.asarray(x)
    if a.ndim == 2 and a.shape[1] == 1:
        a = a[:, 0]
    if a.shape != (n,):
        raise ConversionError(f"{what}: expected shape [{n}], got {list(a.shape)}")
    return a.astype(dtype)


def trailing_length(x):
    """Per sample, 1 + the last step with any non-zero value (0 for an all-zero sample)."""
    nonzero = np.any(x != 0, axis=2)  # [n, L]
    steps = np.arange(1, x.shape[1] + 1)
    return np.max(np.where(nonzero, steps[None, :], 0), axis=1).astype(np.int32)


def lengths_for(split_name, d, modality, x, log):
    n, L = x.shape[0], x.shape[1]
    key = f"{modality}_lengths"
    if key in d and d[key] is not None:
        lengths = as_vector(d[key], n, f"{split_name}.{key}", np.int64)
        over, under = int(np.sum(lengths > L)), int(np.sum(lengths < 0))
        if over or under:
            log(f"  warning: {split_name}.{key}: {over} lengths above {L} and {under} below 0, clipped to [0, {L}]")
        return np.clip(lengths, 0, L).astype(np.int32), key
    if modality == "text" and "text_bert" in d:
        bert = np.asarray(d["text_bert"])
        if bert.ndim != 3 or bert.shape[0] != n or bert.shape[1] != 3:
            raise ConversionError(f"{split_name}.text_bert: expected [n, 3, L] (ids, mask, segments), got {list(bert.shape)}")
        lengths = np.sum(bert[:, 1, :] != 0, axis=1)
        return np.clip(lengths, 0, L).astype(np.int32), "text_bert attention mask"
    return trailing_length(x), "last non-zero step"


def text_features(split_name, d, text_dir):
    if text_dir is not None:
        path = os.path.join(text_dir, f"{split_name}.npy")
        if not os.path.isfile(path):
            raise ConversionError(f"{path}: no such file (--text-features needs train.npy, valid.npy and test.npy)")
        return as_float_features(np.load(path, allow_pickle=False), path)
    if "text" in d and d["text"] is not None and np.asarray(d["text"]).ndim == 3:
        return as_float_features(d["text"], f"{split_name}.text")
    if "text_bert" in d:
        raise ConversionError(
            f"split '{split_name}' has only 'text_bert' (BERT token ids, attention mask, segment ids), which are not "
            "features: extract BERT features separately (e.g. the 768-d last hidden states) and pass them with "
            "--text-features DIR holding train.npy, valid.npy, test.npy of shape [n, L, 768]")
    raise ConversionError(f"split '{split_name}' has no 'text' features (keys: {sorted(d.keys())})")


def convert_split(split_name, d, modalities, text_dir, strict, log):
    if "regression_labels" not in d:
        raise ConversionError(f"split '{split_name}' has no 'regression_labels' (keys: {sorted(d.keys())})")
    y0 = np.asarray(d["regression_labels"])
    n = y0.shape[0] if y0.ndim >= 1 else -1
    if n < 1:
        raise ConversionError(f"split '{split_name}': regression_labels has shape {list(y0.shape)}, expected [n]")
    tensors = []
    for m in modalities:
        if m == "text":
            x = text_features(split_name, d, text_dir)
        else:
            if m not in d or d[m] is None:
                raise ConversionError(f"split '{split_name}' has no '{m}' features (keys: {sorted(d.keys())})")
            x = as_float_features(d[m], f"{split_name}.{m}")
        if x.shape[0] != n:
            raise ConversionError(f"split '{split_name}': '{m}' has {x.shape[0]} samples, the labels {n}")
        bad = ~np.isfinite(x)
        if bad.any():
            msg = f"{split_name}.{m}: {int(bad.sum())} non-finite values (-inf: {int(np.sum(x == -np.inf))})"
            if strict:
                raise ConversionError(msg + " (--strict)")
            log(f"  {msg}, set to 0")
            x[bad] = 0
        lengths, source = lengths_for(split_name, d, m, x, log)
        steps = np.arange(x.shape[1])
        x[steps[None, :] >= lengths[:, None]] = 0
        log(f"  {split_name}.{m}: {list(x.shape)}, lengths {int(lengths.min())}..{int(lengths.max())} from {source}")
        tensors.append((f"{m}.features", x))
        tensors.append((f"{m}.lengths", lengths))
    y = as_vector(d["regression_labels"], n, f"{split_name}.regression_labels", np.float64)
    if not np.all(np.isfinite(y)):
        raise ConversionError(f"{split_name}.regression_labels: {int(np.sum(~np.isfinite(y)))} non-finite labels")
    tensors.append(("labels.regression", y.astype(np.float32)))
    classes = None
    if d.get("classification_labels") is not None:
        c = as_vector(d["classification_labels"], n, f"{split_name}.classification_labels", np.float64)
        if not np.all(np.isfinite(c)) or not np.all(c == np.round(c)) or np.any(c < 0):
            raise ConversionError(f"{split_name}.classification_labels: expected whole numbers >= 0")
        classes = c.astype(np.int32)
    ids = [str(i) for i in d.get("id", [])]
    return tensors, classes, ids


def write_safetensors(path, tensors, metadata, use_package):
    tensors = [(k, np.ascontiguousarray(v, dtype=v.dtype.newbyteorder("<"))) for k, v in tensors]
    if use_package:
        from safetensors.numpy import save_file

        def writer(f):
            # save_file wants a path; write beside, then copy into the atomic temp file
            with tempfile.TemporaryDirectory(dir=os.path.dirname(os.path.abspath(path))) as td:
                p = os.path.join(td, "t.safetensors")
                save_file(dict(tensors), p, metadata=metadata)
                with open(p, "rb") as src:
                    while True:
                        chunk = src.read(1 << 24)
                        if not chunk:
                            break
                        f.write(chunk)
        safetensors_np.write_atomic(path, writer)
    else:
        safetensors_np.write(path, dict(tensors), metadata)


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while True:
            chunk = f.read(1 << 24)
            if not chunk:
                break
            h.update(chunk)
    return h.hexdigest()


def have_safetensors():
    try:
        import safetensors.numpy  # noqa: F401
        return True
    except ImportError:
        return False


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("pickle", help="MMSA feature pickle (e.g. aligned_50.pkl, unaligned_50.pkl, unaligned_39.pkl)")
    ap.add_argument("out", help="output feature directory (created; existing files of the layout are replaced)")
    ap.add_argument("--name", help="dataset name for dataset.json (default: the pickle's file name)")
    ap.add_argument("--modalities", default="text,audio,vision", help="modalities to keep, in order (default text,audio,vision)")
    ap.add_argument("--label-range", type=int, choices=(1, 3),
                    help="3 for labels in [-3, 3] (MOSI, MOSEI), 1 for [-1, 1] (SIMS); default: 1 if every |label| <= 1")
    ap.add_argument("--classes", type=int, help="number of classes of classification_labels (default: 1 + the largest label)")
    ap.add_argument("--no-classes", action="store_true", help="ignore classification_labels")
    ap.add_argument("--text-features", metavar="DIR", help="precomputed text features DIR/{train,valid,test}.npy [n, L, F]")
    ap.add_argument("--strict", action="store_true", help="fail on non-finite feature values instead of setting them to 0")
    ap.add_argument("--no-package", action="store_true", help="write safetensors by hand even if the package is installed")
    ap.add_argument("--quiet", action="store_true")
    args = ap.parse_args(argv)
    log = (lambda s: None) if args.quiet else (lambda s: print(s, file=sys.stderr))

    try:
        modalities = [m.strip() for m in args.modalities.split(",") if m.strip()]
        for m in modalities:
            if not m.replace("_", "").replace("-", "").isalnum() or len(m) > 64:
                raise ConversionError(f"modality name '{m}' must be 1 to 64 of A-Z a-z 0-9 _ -")
        if len(set(modalities)) != len(modalities) or not 1 <= len(modalities) <= 8:
            raise ConversionError(f"--modalities {args.modalities}: expected 1 to 8 distinct names")
        if not os.path.isfile(args.pickle):
            raise ConversionError(f"{args.pickle}: no such file")
        splits = split_dicts(load_pickle(args.pickle), args.pickle)
        converted = {s: convert_split(s, splits[s], modalities, args.text_features, args.strict, log) for s in SPLITS}

        # the modalities must agree across splits
        first = converted["train"][0]
        for s in SPLITS:
            for (name, a), (_, b) in zip(converted[s][0], first):
                if name.endswith(".features") and a.shape[1:] != b.shape[1:]:
                    raise ConversionError(f"split '{s}': '{name}' is {list(a.shape[1:])} per sample, train has {list(b.shape[1:])}")

        labels = np.concatenate([dict(converted[s][0])["labels.regression"] for s in SPLITS])
        label_range = args.label_range
        if label_range is None:
            label_range = 1 if np.max(np.abs(labels)) <= 1 else 3
            log(f"label range [-{label_range}, {label_range}] (largest |label| {float(np.max(np.abs(labels))):.3f}; --label-range to set it)")
        if np.max(np.abs(labels)) > label_range:
            raise ConversionError(f"labels reach {float(np.max(np.abs(labels)))}, outside [-{label_range}, {label_range}]")

        classes = 0
        have = [converted[s][1] is not None for s in SPLITS]
        if not args.no_classes and any(have):
            if not all(have):
                raise ConversionError("classification_labels are in some splits only; use --no-classes")
            largest = max(int(converted[s][1].max()) for s in SPLITS)
            classes = args.classes if args.classes is not None else largest + 1
            if classes < 2 or largest >= classes:
                raise ConversionError(f"classification labels go up to {largest}, which does not fit {classes} classes")
        elif args.classes:
            raise ConversionError("--classes given, but the pickle has no classification_labels")

        os.makedirs(args.out, exist_ok=True)
        use_package = have_safetensors() and not args.no_package
        log(f"writing with {'the safetensors package' if use_package else 'the built-in safetensors writer'}")
        entries = {}
        for s in SPLITS:
            tensors, cls, ids = converted[s]
            if classes:
                tensors = tensors + [("labels.class", cls)]
            path = os.path.join(args.out, f"{s}.safetensors")
            metadata = {"format": FORMAT, "split": s}
            if ids:
                metadata["ids"] = json.dumps(ids)
            write_safetensors(path, tensors, metadata, use_package)
            entries[s] = {"samples": int(tensors[-1][1].shape[0]), "sha256": sha256(path)}
        x = dict(converted["train"][0])
        description = {
            "format": FORMAT,
            "version": VERSION,
            "name": args.name or os.path.splitext(os.path.basename(args.pickle))[0],
            "modalities": modalities,
            "feature_sizes": [int(x[f"{m}.features"].shape[2]) for m in modalities],
            "max_lengths": [int(x[f"{m}.features"].shape[1]) for m in modalities],
            "label_range": label_range,
            "classes": classes,
            "splits": entries,
            "source": f"{os.path.basename(args.pickle)} converted by bench/peers/mmsa_to_safetensors.py",
        }
        if args.text_features:
            description["notes"] = "text features from " + os.path.abspath(args.text_features)
        text = json.dumps(description, indent=2) + "\n"
        safetensors_np.write_atomic(os.path.join(args.out, "dataset.json"), lambda f: f.write(text.encode("utf-8")))
        counts = ", ".join(f"{s} {entries[s]['samples']}" for s in SPLITS)
        log(f"wrote {args.out}: {counts} samples, "
            f"modalities {modalities}, F {description['feature_sizes']}, L {description['max_lengths']}, classes {classes}")
        return 0
    except ConversionError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
