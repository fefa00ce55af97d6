"""PyTorch peers of the two fusion models of MODEL.md: Coupled Mamba and cross-attention fusion.

The same mathematics as the Java models (MODEL.md, formula by formula), written plainly so that they
serve two purposes:
  * a reference: `load_java_checkpoint` maps a checkpoint written by `cmamba train` onto these
    modules, so that both implementations can be run on the same inputs and compared;
  * a peer in benchmarks: `bench_fusion_torch.py` times them at the sizes the Java harness uses.

The coupled scan here is a loop over time with every (batch, channel, state) in parallel, which is
how a PyTorch user would write it without a custom kernel; `coupled_scan` can be swapped for a faster
formulation (bench/peers/coupled_scan_torch.py) without touching the model.
"""
import math

import torch
import torch.nn as nn
import torch.nn.functional as F


class Config:
    """Mirror of io.cmamba.model.ModelConfig (field names in snake_case)."""

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

    @property
    def modalities(self):
        return len(self.feature_sizes)

    @property
    def inner(self):
        return self.expand * self.d_model

    @property
    def outputs(self):
        return 1 if self.task == "REGRESSION" else self.classes

    @staticmethod
    def from_json(d):
        keys = {"featureSizes": "feature_sizes", "inputLengths": "input_lengths", "dModel": "d_model",
                "dState": "d_state", "dtRank": "dt_rank", "convWidth": "conv_width", "headHidden": "head_hidden"}
        return Config(**{keys.get(k, k): v for k, v in d.items()})


def make_norm(cfg, width):
    if cfg.norm == "RMS":
        return RMSNorm(width)
    return nn.LayerNorm(width, eps=1e-5)


class RMSNorm(nn.Module):
    def __init__(self, width, eps=1e-5):
        super().__init__()
        self.eps = eps
        self.weight = nn.Parameter(torch.ones(width))

    def forward(self, x):
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + self.eps) * self.weight


def length_pool(x, lengths, out_len):
    """Adaptive average pooling over each sample's first lengths[b] steps only (padding never leaks).

    Window of output step i: [floor(i*len/out_len), ceil((i+1)*len/out_len)). x [B, Lin, F] -> [B, out_len, F].
    """
    bsz, lin, _ = x.shape
    i = torch.arange(out_len, device=x.device)
    ln = lengths.to(torch.long).view(bsz, 1)
    start = torch.div(i.view(1, -1) * ln, out_len, rounding_mode="floor")
    end = -torch.div(-(i.view(1, -1) + 1) * ln, out_len, rounding_mode="floor")
    t = torch.arange(lin, device=x.device).view(1, 1, -1)
    w = ((t >= start.unsqueeze(-1)) & (t < end.unsqueeze(-1))).to(x.dtype)       # [B, out_len, Lin]
    w = w / w.sum(-1, keepdim=True).clamp_min(1)
    return torch.bmm(w, x)


def coupled_scan(u, delta_pre, z, A, Bm, Cm, Dskip):
    """MODEL.md's coupled scan, all modalities at once. u, delta_pre, z [M,B,L,D]; A [M,D,N]; B, C [M,B,L,N];
    Dskip [M,D]. Returns out [M,B,L,D]. A loop over time; every (b, d, n) in parallel."""
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
    """One modality's parameters in one coupled layer (MODEL.md steps 1-5)."""

    def __init__(self, cfg):
        super().__init__()
        d, n, r = cfg.inner, cfg.d_state, cfg.dt_rank
        self.norm = make_norm(cfg, cfg.d_model)
        self.in_proj = nn.Linear(cfg.d_model, 2 * d)
        self.conv = nn.Conv1d(d, d, cfg.conv_width, groups=d, padding=cfg.conv_width - 1)
        self.x_proj = nn.Linear(d, r + 2 * n, bias=False)
        self.dt_proj = nn.Linear(r, d)
        self.A_log = nn.Parameter(torch.log(torch.arange(1, n + 1, dtype=torch.float32)).repeat(d, 1))
        self.Dskip = nn.Parameter(torch.ones(d))
        self.out_proj = nn.Linear(d, cfg.d_model)
        self.n, self.r = n, r
        dt = torch.exp(torch.rand(d) * (math.log(0.1) - math.log(1e-3)) + math.log(1e-3))
        with torch.no_grad():
            self.dt_proj.bias.copy_(dt + torch.log(-torch.expm1(-dt)))     # softplus^-1(dt)

    def project(self, r):
        length = r.shape[1]
        xz = self.in_proj(self.norm(r))
        x, z = xz.chunk(2, dim=-1)
        u = F.silu(self.conv(x.transpose(1, 2))[..., :length].transpose(1, 2))
        dbc = self.x_proj(u)
        dtr, b, c = dbc.split([self.r, self.n, self.n], dim=-1)
        return u, self.dt_proj(dtr), z, -torch.exp(self.A_log), b, c


class CoupledMambaTorch(nn.Module):
    def __init__(self, cfg):
        super().__init__()
        self.cfg = cfg
        self.proj = nn.ModuleList(nn.Linear(f, cfg.d_model) for f in cfg.feature_sizes)
        self.layers = nn.ModuleList(nn.ModuleList(MambaBranch(cfg) for _ in cfg.feature_sizes) for _ in range(cfg.layers))
        self.final_norm = nn.ModuleList(make_norm(cfg, cfg.d_model) for _ in cfg.feature_sizes)
        self.fusion_weight = nn.Parameter(torch.zeros(cfg.modalities))
        head_in = cfg.d_model * (cfg.modalities if cfg.fusion == "CONCAT" else 1)
        self.head = nn.Sequential(nn.Linear(head_in, cfg.head_hidden), nn.ReLU(), nn.Linear(cfg.head_hidden, cfg.outputs))

    def forward(self, features, lengths):
        cfg = self.cfg
        rs = [length_pool(p(x), ln, cfg.length) for p, x, ln in zip(self.proj, features, lengths)]
        for layer in self.layers:
            parts = [branch.project(r) for branch, r in zip(layer, rs)]
            u, dpre, z, A, b, c = (torch.stack(t) for t in zip(*parts))
            dskip = torch.stack([branch.Dskip for branch in layer])
            if cfg.fusion == "COUPLED":
                o = coupled_scan(u, dpre, z, A, b, c, dskip)
            else:  # uncoupled chains: each modality its own M = 1 scan
                o = torch.cat([coupled_scan(u[i:i + 1], dpre[i:i + 1], z[i:i + 1], A[i:i + 1], b[i:i + 1],
                                            c[i:i + 1], dskip[i:i + 1]) for i in range(cfg.modalities)])
            rs = [r + branch.out_proj(o[i]) for i, (branch, r) in enumerate(zip(layer, rs))]
        pooled = torch.stack([norm(r).amax(1) for norm, r in zip(self.final_norm, rs)])   # [M, B, d_model]
        if cfg.fusion == "CONCAT":
            fused = torch.cat(list(pooled), -1)
        elif cfg.fusion == "AVERAGE":
            fused = pooled.mean(0)
        else:
            fused = torch.einsum("m,mbd->bd", torch.softmax(self.fusion_weight, 0), pooled)
        return self.head(fused)


class CrossAttentionBlock(nn.Module):
    """Target modality m attends to the time-concatenation of the others; pre-norm, residual, FFN."""

    def __init__(self, cfg):
        super().__init__()
        dm = cfg.d_model
        self.heads = cfg.heads
        self.norm_q = make_norm(cfg, dm)
        self.norm_kv = make_norm(cfg, dm)
        self.q = nn.Linear(dm, dm)
        self.k = nn.Linear(dm, dm)
        self.v = nn.Linear(dm, dm)
        self.o = nn.Linear(dm, dm)
        self.norm_ff = make_norm(cfg, dm)
        self.ff1 = nn.Linear(dm, 4 * dm)
        self.ff2 = nn.Linear(4 * dm, dm)

    def forward(self, x, context, materialise=False):
        bsz, lq, dm = x.shape
        h = self.heads
        q = self.q(self.norm_q(x)).view(bsz, lq, h, -1).transpose(1, 2)
        kv_in = self.norm_kv(context)
        k = self.k(kv_in).view(bsz, -1, h, dm // h).transpose(1, 2)
        v = self.v(kv_in).view(bsz, -1, h, dm // h).transpose(1, 2)
        if materialise:
            att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(dm // h), -1) @ v
        else:
            att = F.scaled_dot_product_attention(q, k, v)
        x = x + self.o(att.transpose(1, 2).reshape(bsz, lq, dm))
        return x + self.ff2(F.gelu(self.ff1(self.norm_ff(x)), approximate="tanh"))


class CrossAttentionTorch(nn.Module):
    def __init__(self, cfg, materialise=False):
        super().__init__()
        self.cfg = cfg
        self.materialise = materialise
        self.proj = nn.ModuleList(nn.Linear(f, cfg.d_model) for f in cfg.feature_sizes)
        self.layers = nn.ModuleList(nn.ModuleList(CrossAttentionBlock(cfg) for _ in cfg.feature_sizes) for _ in range(cfg.layers))
        self.final_norm = nn.ModuleList(make_norm(cfg, cfg.d_model) for _ in cfg.feature_sizes)
        self.fusion_weight = nn.Parameter(torch.zeros(cfg.modalities))
        self.head = nn.Sequential(nn.Linear(cfg.d_model, cfg.head_hidden), nn.ReLU(), nn.Linear(cfg.head_hidden, cfg.outputs))

    def forward(self, features, lengths):
        cfg = self.cfg
        rs = [length_pool(p(x), ln, cfg.length) for p, x, ln in zip(self.proj, features, lengths)]
        for layer in self.layers:
            rs = [block(rs[i], torch.cat([rs[j] for j in range(len(rs)) if j != i], 1), self.materialise)
                  for i, block in enumerate(layer)]
        pooled = torch.stack([norm(r).amax(1) for norm, r in zip(self.final_norm, rs)])
        fused = torch.einsum("m,mbd->bd", torch.softmax(self.fusion_weight, 0), pooled)
        return self.head(fused)


def build(cfg, materialise=False):
    if cfg.architecture == "CROSS_ATTENTION":
        return CrossAttentionTorch(cfg, materialise)
    return CoupledMambaTorch(cfg)


def random_batch(cfg, batch, device, generator=None):
    feats, lens = [], []
    for f, length in zip(cfg.feature_sizes, cfg.input_lengths):
        feats.append(torch.randn(batch, length, f, device=device, generator=generator))
        lens.append(torch.randint(max(1, length // 2), length + 1, (batch,), device=device, generator=generator))
    return feats, lens
