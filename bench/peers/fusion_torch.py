"""PyTorch peers of the two fusion models of MODEL.md: Coupled Mamba and cross-attention fusion.

The same mathematics as the Java models (io.cmamba.model, io.cmamba.nn), written plainly so that they
serve two purposes:
  * a reference: `load_java_checkpoint` loads a checkpoint written by `cmamba train` into these modules
    (bench/peers/roundtrip.py runs both on the same inputs and compares);
  * a peer in benchmarks, at the sizes the Java harness uses.

Module and parameter names are the Java parameter names (`input.0.proj.weight`,
`layers.1.mod.2.x_proj.weight`, `head.fc1.bias`, ...) and every tensor has the Java layout, so a
checkpoint maps one to one onto `state_dict()`; the loader fails on any name or shape that does not.

The coupled scan here is a loop over time with every (batch, channel, state) in parallel, which is how
a PyTorch user would write it without a custom kernel; `coupled_scan` can be swapped for a faster
formulation (bench/peers/coupled_scan_torch.py) without touching the model.
"""
import json
import math

import torch
import torch.nn as nn
import torch.nn.functional as F

import safetensors_np

CHECKPOINT_FORMAT = "cmamba-checkpoint-1"


class Config:
    """Mirror of io.cmamba.model.ModelConfig (field names in snake_case, enum values as the Java names)."""

    def __init__(self, feature_sizes, input_lengths, length, d_model=128, expand=2, d_state=64, dt_rank=0,
                 conv_width=4, layers=3, mode="SELECTIVE", fusion="COUPLED", architecture="COUPLED_MAMBA",
                 heads=8, norm="LAYER", task="REGRESSION", classes=0, head_hidden=64):
        self.feature_sizes = list(feature_sizes)
        self.input_lengths = list(input_lengths)
        self.length = length
        self.d_model = d_model
        self.expand = expand
        self.d_state = d_state
        self.dt_rank = dt_rank if dt_rank > 0 else (d_state + 7) // 8
        self.conv_width = conv_width
        self.layers = layers
        self.mode = mode
        self.fusion = fusion
        self.architecture = architecture
        self.heads = heads
        self.norm = norm
        self.task = task
        self.classes = classes
        self.head_hidden = head_hidden
        known = {"mode": ("SELECTIVE", "LTI"), "fusion": ("COUPLED", "INDEPENDENT", "AVERAGE", "CONCAT"),
                 "architecture": ("COUPLED_MAMBA", "CROSS_ATTENTION"), "norm": ("LAYER", "RMS"),
                 "task": ("REGRESSION", "CLASSIFICATION")}
        for key, values in known.items():
            if getattr(self, key) not in values:
                raise ValueError(f"config {key}: expected one of {values}, got {getattr(self, key)!r}")

    @property
    def modalities(self):
        return len(self.feature_sizes)

    @property
    def inner(self):
        return self.expand * self.d_model

    @property
    def outputs(self):
        return 1 if self.task == "REGRESSION" else self.classes

    JSON_KEYS = {"featureSizes": "feature_sizes", "inputLengths": "input_lengths", "dModel": "d_model",
                 "dState": "d_state", "dtRank": "dt_rank", "convWidth": "conv_width", "headHidden": "head_hidden"}

    @staticmethod
    def from_json(d):
        """From the JSON of a ModelConfig (a checkpoint's `config` metadata); an unknown key is an error."""
        return Config(**{Config.JSON_KEYS.get(k, k): v for k, v in d.items()})

    def __repr__(self):
        return "Config(" + ", ".join(f"{k}={v}" for k, v in vars(self).items()) + ")"


def make_norm(cfg, width):
    return RMSNorm(width) if cfg.norm == "RMS" else nn.LayerNorm(width, eps=1e-5)


class RMSNorm(nn.Module):
    """x / sqrt(mean(x^2) + eps) * weight, eps 1e-5 (io.cmamba.nn.Norm without beta)."""

    def __init__(self, width, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


class CausalConv1d(nn.Module):
    """Depthwise causal conv over time; weight [D, K] and bias [D] as in io.cmamba.nn.CausalConv1d
    (PyTorch's Conv1d would store [D, 1, K]). x [B, L, D] -> [B, L, D], y_t sees x_{t-K+1..t}."""

    def __init__(self, channels, width):
        super().__init__()
        bound = 1 / math.sqrt(width)
        self.weight = nn.Parameter(torch.empty(channels, width).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(channels).uniform_(-bound, bound))

    def forward(self, x):
        d, k = self.weight.shape
        y = F.conv1d(x.transpose(1, 2), self.weight.unsqueeze(1), self.bias, padding=k - 1, groups=d)
        return y[..., :x.shape[1]].transpose(1, 2)


def length_pool(x, lengths, out_len):
    """Adaptive average pooling over each sample's first lengths[b] steps only (padding never leaks).

    Window of output step i: [floor(i*len/out_len), ceil((i+1)*len/out_len)); a sample of length 0 gives
    zeros. x [B, Lin, F] -> [B, out_len, F].
    """
    bsz, lin, _ = x.shape
    i = torch.arange(out_len, device=x.device)
    ln = lengths.to(device=x.device, dtype=torch.long).view(bsz, 1)
    start = torch.div(i.view(1, -1) * ln, out_len, rounding_mode="floor")
    end = -torch.div(-(i.view(1, -1) + 1) * ln, out_len, rounding_mode="floor")
    t = torch.arange(lin, device=x.device).view(1, 1, -1)
    w = ((t >= start.unsqueeze(-1)) & (t < end.unsqueeze(-1))).to(x.dtype)       # [B, out_len, Lin]
    w = w / w.sum(-1, keepdim=True).clamp_min(1)
    return torch.bmm(w, x)


def coupled_scan(u, delta_pre, z, A, Bm, Cm, Dskip):
    """MODEL.md's coupled scan, all modalities at once. u, delta_pre, z [M,B,L,D]; A [M,D,N]; B, C [M,B,L,N];
    Dskip [M,D]. Returns out [M,B,L,D]. A loop over time; every (b, d, n) in parallel. With M = 1 this is
    Mamba's selective scan (the uncoupled ablations run it once per modality)."""
    m, bsz, length, d = u.shape
    delta = F.softplus(delta_pre)
    s = u.new_zeros(bsz, d, A.shape[-1])
    ys = []
    for t in range(length):
        dt = delta[:, :, t]                                                  # [M, B, D]
        abar = torch.exp(dt.unsqueeze(-1) * A.unsqueeze(1))                  # [M, B, D, N]
        bbar_u = (dt * u[:, :, t]).unsqueeze(-1) * Bm[:, :, t].unsqueeze(2)  # [M, B, D, N]
        h = abar * s.unsqueeze(0) + bbar_u
        ys.append(torch.einsum("mbdn,mbn->mbd", h, Cm[:, :, t]))
        s = h.mean(0)
    y = torch.stack(ys, 2) + Dskip.view(m, 1, 1, d) * u
    return y * F.silu(z)


class MambaBranch(nn.Module):
    """One modality's parameters in one coupled layer (MODEL.md steps 1-5; io.cmamba.nn.CoupledMambaLayer.Branch).
    in_proj and out_proj carry no bias, as in Mamba. Time-invariant mode: dt_raw [D], B [N], C [N] instead
    of x_proj and dt_proj."""

    def __init__(self, cfg):
        super().__init__()
        d, n, r = cfg.inner, cfg.d_state, cfg.dt_rank
        self.lti = cfg.mode == "LTI"
        self.n, self.r = n, r
        self.norm = make_norm(cfg, cfg.d_model)
        self.in_proj = nn.Linear(cfg.d_model, 2 * d, bias=False)
        self.conv1d = CausalConv1d(d, cfg.conv_width)
        dt = torch.exp(torch.rand(d) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        step = dt + torch.log(-torch.expm1(-dt))                              # softplus^-1(dt)
        if self.lti:
            self.dt_raw = nn.Parameter(step)
            self.B = nn.Parameter(torch.empty(n).uniform_(-1 / math.sqrt(n), 1 / math.sqrt(n)))
            self.C = nn.Parameter(torch.empty(n).uniform_(-1 / math.sqrt(n), 1 / math.sqrt(n)))
        else:
            self.x_proj = nn.Linear(d, r + 2 * n, bias=False)
            self.dt_proj = nn.Linear(r, d)
            with torch.no_grad():
                self.dt_proj.bias.copy_(step)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(d, 1))
        self.Dskip = nn.Parameter(torch.ones(d))
        self.out_proj = nn.Linear(d, cfg.d_model, bias=False)

    def project(self, r):
        """r [B, L, dModel] -> the scan's inputs u, deltaPre, z [B, L, D], A [D, N], B, C [B, L, N]."""
        xz = self.in_proj(self.norm(r))
        x, z = xz.chunk(2, dim=-1)
        u = F.silu(self.conv1d(x))
        if self.lti:
            # constant delta, B, C: the recurrence the global convolution unrolls (MODEL.md), run as a scan
            shape = u.shape[:2]
            return (u, self.dt_raw.expand(*shape, -1), z, -torch.exp(self.A_log),
                    self.B.expand(*shape, -1), self.C.expand(*shape, -1))
        dtr, b, c = self.x_proj(u).split([self.r, self.n, self.n], dim=-1)
        return u, self.dt_proj(dtr), z, -torch.exp(self.A_log), b, c


class CoupledLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.coupled = cfg.fusion == "COUPLED"
        self.mod = nn.ModuleList(MambaBranch(cfg) for _ in cfg.feature_sizes)

    def forward(self, rs):
        parts = [branch.project(r) for branch, r in zip(self.mod, rs)]
        u, dpre, z, A, b, c = (torch.stack(t) for t in zip(*parts))
        dskip = torch.stack([branch.Dskip for branch in self.mod])
        if self.coupled:
            o = coupled_scan(u, dpre, z, A, b, c, dskip)
        else:  # uncoupled chains: each modality its own M = 1 scan
            o = torch.cat([coupled_scan(u[i:i + 1], dpre[i:i + 1], z[i:i + 1], A[i:i + 1], b[i:i + 1],
                                        c[i:i + 1], dskip[i:i + 1]) for i in range(len(rs))])
        return [r + branch.out_proj(o[i]) for i, (branch, r) in enumerate(zip(self.mod, rs))]


class InputStage(nn.Module):
    """Linear(F_m, dModel), then length-aware pooling to the common length L."""

    def __init__(self, features, d_model, length):
        super().__init__()
        self.length = length
        self.proj = nn.Linear(features, d_model)

    def forward(self, x, lengths):
        return length_pool(self.proj(x), lengths, self.length)


class FusionHead(nn.Module):
    """Per modality a final norm and a max over time, then fusion and Linear -> ReLU -> Linear
    (io.cmamba.nn.FusionHead). kind SOFTMAX (fusion_weight [M], the model's), AVERAGE or CONCAT."""

    def __init__(self, cfg, kind):
        super().__init__()
        m = cfg.modalities
        self.kind = kind
        self.norm = nn.ModuleList(make_norm(cfg, cfg.d_model) for _ in range(m))
        if kind == "SOFTMAX":
            self.fusion_weight = nn.Parameter(torch.zeros(m))
        self.fc1 = nn.Linear(cfg.d_model * (m if kind == "CONCAT" else 1), cfg.head_hidden)
        self.fc2 = nn.Linear(cfg.head_hidden, cfg.outputs)

    def forward(self, rs):
        pooled = torch.stack([norm(r).amax(1) for norm, r in zip(self.norm, rs)])   # [M, B, dModel]
        if self.kind == "CONCAT":
            fused = torch.cat(list(pooled), -1)
        elif self.kind == "AVERAGE":
            fused = pooled.mean(0)
        else:
            fused = torch.einsum("m,mbd->bd", torch.softmax(self.fusion_weight, 0), pooled)
        return self.fc2(F.relu(self.fc1(fused)))


class CoupledMambaTorch(nn.Module):
    """Coupled Mamba and its fusion ablations (io.cmamba.model.CoupledMambaModel): COUPLED and
    INDEPENDENT fuse by softmax weights, AVERAGE by the mean, CONCAT by concatenation; only COUPLED
    couples the chains."""

    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.input = nn.ModuleList(InputStage(f, cfg.d_model, cfg.length) for f in cfg.feature_sizes)
        self.layers = nn.ModuleList(CoupledLayer(cfg) for _ in range(cfg.layers))
        kind = {"COUPLED": "SOFTMAX", "INDEPENDENT": "SOFTMAX", "AVERAGE": "AVERAGE", "CONCAT": "CONCAT"}[cfg.fusion]
        self.head = FusionHead(cfg, kind)

    def forward(self, features, lengths):
        rs = [stage(x, ln) for stage, x, ln in zip(self.input, features, lengths)]
        for layer in self.layers:
            rs = layer(rs)
        return self.head(rs)


class CrossAttentionBlock(nn.Module):
    """Target modality m attends to the time-concatenation of the others; pre-norm, residual, FFN with
    tanh-approximated GELU (io.cmamba.nn.CrossAttentionBlock)."""

    def __init__(self, cfg):
        super().__init__()
        dm = cfg.d_model
        self.heads = cfg.heads
        self.norm_q = make_norm(cfg, dm)
        self.norm_kv = make_norm(cfg, dm)
        self.q_proj = nn.Linear(dm, dm)
        self.k_proj = nn.Linear(dm, dm)
        self.v_proj = nn.Linear(dm, dm)
        self.o_proj = nn.Linear(dm, dm)
        self.norm_ff = make_norm(cfg, dm)
        self.ff1 = nn.Linear(dm, 4 * dm)
        self.ff2 = nn.Linear(4 * dm, dm)

    def forward(self, x, context, materialise=True):
        bsz, lq, dm = x.shape
        h = self.heads
        q = self.q_proj(self.norm_q(x)).view(bsz, lq, h, dm // h).transpose(1, 2)
        kv_in = self.norm_kv(context)
        k = self.k_proj(kv_in).view(bsz, -1, h, dm // h).transpose(1, 2)
        v = self.v_proj(kv_in).view(bsz, -1, h, dm // h).transpose(1, 2)
        if materialise:
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dm // h), -1) @ v
        else:
            att = F.scaled_dot_product_attention(q, k, v)
        x = x + self.o_proj(att.transpose(1, 2).reshape(bsz, lq, dm))
        return x + self.ff2(F.gelu(self.ff1(self.norm_ff(x)), approximate="tanh"))


class CrossLayer(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.mod = nn.ModuleList(CrossAttentionBlock(cfg) for _ in cfg.feature_sizes)

    def forward(self, rs, materialise):
        # every target reads the previous layer's states; the context is the others in modality order
        return [block(rs[i], torch.cat([rs[j] for j in range(len(rs)) if j != i], 1), materialise)
                for i, block in enumerate(self.mod)]


class CrossAttentionTorch(nn.Module):
    """Cross-attention fusion, the paper's baseline (io.cmamba.model.CrossAttentionModel).
    materialise: explicit softmax(QK^T)V (the reference); False: scaled_dot_product_attention."""

    def __init__(self, cfg, materialise=True):
        super().__init__()
        self.cfg = cfg
        self.materialise = materialise
        self.input = nn.ModuleList(InputStage(f, cfg.d_model, cfg.length) for f in cfg.feature_sizes)
        self.layers = nn.ModuleList(CrossLayer(cfg) for _ in range(cfg.layers))
        self.head = FusionHead(cfg, "SOFTMAX")

    def forward(self, features, lengths):
        rs = [stage(x, ln) for stage, x, ln in zip(self.input, features, lengths)]
        for layer in self.layers:
            rs = layer(rs, self.materialise)
        return self.head(rs)


def build(cfg, materialise=True):
    if cfg.architecture == "CROSS_ATTENTION":
        return CrossAttentionTorch(cfg, materialise)
    return CoupledMambaTorch(cfg)


def load_java_checkpoint(path, dtype=torch.float32, device="cpu", materialise=True):
    """A checkpoint written by `cmamba train` (or io.cmamba.train.Checkpoint.write) as (model, cfg): the
    model the `config` metadata names, every weight copied in, in eval mode, of the given dtype. Optimizer
    moments (`optimizer.m.*`, `optimizer.v.*`) are skipped; any other tensor the model lacks, any
    parameter the file lacks, or any shape that differs is an error naming them."""
    tensors, meta = safetensors_np.read(path)
    if meta.get("format") != CHECKPOINT_FORMAT:
        raise ValueError(f"{path}: not a cmamba checkpoint (format {meta.get('format')!r}, expected {CHECKPOINT_FORMAT!r})")
    if "config" not in meta:
        raise ValueError(f"{path}: metadata 'config' is missing")
    cfg = Config.from_json(json.loads(meta["config"]))
    model = build(cfg, materialise)
    state = model.state_dict()
    weights = {k: v for k, v in tensors.items() if not k.startswith(("optimizer.m.", "optimizer.v."))}
    missing = sorted(set(state) - set(weights))
    unmapped = sorted(set(weights) - set(state))
    if missing or unmapped:
        raise ValueError(f"{path}: the checkpoint does not map onto {type(model).__name__} "
                         f"(parameters missing from the file: {missing}; tensors with no parameter: {unmapped})")
    loaded = {}
    for name, target in state.items():
        a = weights[name]
        if tuple(a.shape) != tuple(target.shape):
            raise ValueError(f"{path}: tensor '{name}' has shape {list(a.shape)}, the model expects {list(target.shape)}")
        loaded[name] = torch.from_numpy(a.copy())
    model.load_state_dict(loaded, strict=True)
    return model.to(device=device, dtype=dtype).eval(), cfg


def read_inputs(path, cfg, dtype=torch.float32, device="cpu"):
    """features.{m} [B, L_m, F_m] and lengths.{m} [B] of an inputs file (the format `cmamba predict` reads)."""
    tensors, _ = safetensors_np.read(path)
    feats, lens = [], []
    for m in range(cfg.modalities):
        for name in (f"features.{m}", f"lengths.{m}"):
            if name not in tensors:
                raise ValueError(f"{path}: tensor '{name}' is missing (the file has {sorted(tensors)})")
        feats.append(torch.from_numpy(tensors[f"features.{m}"].copy()).to(device=device, dtype=dtype))
        lens.append(torch.from_numpy(tensors[f"lengths.{m}"].astype("int64")).to(device))
    return feats, lens


def random_batch(cfg, batch, device, generator=None):
    feats, lens = [], []
    for f, length in zip(cfg.feature_sizes, cfg.input_lengths):
        feats.append(torch.randn(batch, length, f, device=device, generator=generator))
        lens.append(torch.randint(max(1, length // 2), length + 1, (batch,), device=device, generator=generator))
    return feats, lens
