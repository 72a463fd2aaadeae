"""The band VLM: a small transformer over one image's band tokens, and the episode readout.

Imports torch; import it lazily (``specprompt.vlm`` does).

Architecture:
    Each created token is ``Linear_band(patch features) + band embedding + Linear(2-D Fourier
    position code)``; the band embedding stands for the Laplacian level (the working bands have no
    orientation or colour component). A few learned readout tokens join the image's tokens in a
    pre-norm transformer; their outputs are concatenated and projected to the image embedding,
    made of ``slices`` slices (slice ``i`` feeds auxiliary head ``i``). An episode's demos and query
    are embedded independently and compared by :func:`~specprompt.vlm._readout.fisher_logits`,
    whose dimension weights also take a gate computed from the hashed instruction/answer text.

    With ``canvas`` > 64 (v2) each fine level's pooled tokens (:func:`~specprompt.vlm._pyramid.fine_features`)
    are embedded by a two-layer MLP per level, plus a fine-level embedding and the same position
    code, and join the sequence after the five bands' tokens. With ``canvas=64`` the module, its
    parameters and its outputs are exactly those of v1.

    With ``fine_readout`` > 0 the embedding also carries the kept fine tokens' spectral signatures
    (zeros for tokens not created), and their logits from the unlearned
    :func:`~specprompt.vlm._readout.raw_logits` are added to the learned readout's.

Shape:
    ``feats[l]``: ``(B, T_l, F_l)``; ``keep[l]``: ``(B, T_l)`` bool; ``encode`` -> ``(B, D)``;
    ``fine_feats[j]``: ``(B, G^2, fine_feature_dim(cells))``; ``fine_keep[j]``: ``(B, G^2)`` bool, with
    ``G = ModelConfig.fine_grid`` and ``cells = ModelConfig.fine_cells``; with ``fine_readout``,
    ``D = embedding_dim + fine_levels * G^2 * SPECTRAL_BINS``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from specprompt.vlm._config import ModelConfig
from specprompt.vlm._pyramid import feature_dims, fine_positions, token_positions
from specprompt.vlm._readout import fisher_logits, raw_logits
from specprompt.vlm._text import VOCAB
from specprompt.vlm._tokenizer import PATCHES, SPECTRAL_BINS, fine_feature_dim

__all__ = ["BandVLM"]


def _raw_colour(residual: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """Mean colour of the created residual tokens, globally and per token (missing ones imputed).

    Shape:
        residual: ``(B, 4, 12)`` (2 x 2 samples x 3 channels per token); keep: ``(B, 4)`` -> ``(B, 15)``.
    """
    b, t, f = residual.shape
    per = residual.view(b, t, f // 3, 3).mean(2)  # B, T, 3
    k = keep[..., None].to(per.dtype)
    glob = (per * k).sum(1) / k.sum(1).clamp_min(1.0)
    per = per * k + glob[:, None] * (1 - k)
    return torch.cat([glob, per.flatten(1)], dim=1)


def _raw_fine(feats: torch.Tensor, keep: torch.Tensor) -> torch.Tensor:
    """The kept fine tokens' spectral signatures (their last ``SPECTRAL_BINS`` features), flattened;
    zeros for tokens that were not created.

    Shape:
        ``(B, T, F)`` features and ``(B, T)`` keep -> ``(B, T * SPECTRAL_BINS)``.
    """
    spec = feats[..., -SPECTRAL_BINS:] * keep[..., None].to(feats.dtype)
    return spec.flatten(1)


class _ConvStem(nn.Module):
    """Two strided 3 x 3 convs over one patch (zero padding inside the patch: no leak between tokens)."""

    def __init__(self, patch: int, dim: int) -> None:
        super().__init__()
        self.patch = patch
        self.net = nn.Sequential(
            nn.Conv2d(3, 12, 3, stride=2, padding=1),
            nn.GELU(),
            nn.Conv2d(12, 16, 3, stride=2 if patch >= 16 else 1, padding=1),
            nn.GELU(),
            nn.Flatten(),
            nn.Linear(16 * 16, dim),
        )

    def forward(self, feats: torch.Tensor) -> torch.Tensor:
        p = self.patch
        x = feats[:, : 3 * p * p].reshape(-1, p, p, 3).permute(0, 3, 1, 2)
        out: torch.Tensor = self.net(x)
        return out


class _Block(nn.Module):
    def __init__(self, dim: int, heads: int, mlp_ratio: int) -> None:
        super().__init__()
        self.heads = heads
        self.norm1 = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm2 = nn.LayerNorm(dim)
        self.mlp = nn.Sequential(nn.Linear(dim, mlp_ratio * dim), nn.GELU(), nn.Linear(mlp_ratio * dim, dim))

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, t, d = x.shape
        q, k, v = self.qkv(self.norm1(x)).view(b, t, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        att = F.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        x = x + self.out(att.transpose(1, 2).reshape(b, t, d))
        out: torch.Tensor = x + self.mlp(self.norm2(x))
        return out


class BandVLM(nn.Module):
    """Band-token image encoder plus the episode-adaptive readout.

    Args:
        config: the architecture.

    Example:
        >>> import torch
        >>> from specprompt.vlm._pyramid import band_features, working_bands
        >>> model = BandVLM(ModelConfig(dim=16, depth=1, heads=2, slices=2, slice_dim=4))
        >>> feats = band_features(working_bands(torch.rand(3, 3, 64, 64)))
        >>> keep = [torch.ones(f.shape[:2], dtype=torch.bool) for f in feats]
        >>> model.encode(feats, keep).shape
        torch.Size([3, 23])
    """

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        c = config
        self.embed = nn.ModuleList(nn.Linear(f, c.dim) for f in feature_dims())
        self.stems = nn.ModuleDict(
            {str(lv): _ConvStem(p, c.dim) for lv, p in enumerate(PATCHES) if c.conv_stem and p >= 8}
        )
        self.band_emb = nn.Parameter(torch.randn(len(self.embed), c.dim) * 0.02)
        pos = token_positions()
        freqs = (2.0 ** torch.arange(c.pos_freqs, dtype=torch.float32)) * math.pi
        for lv, p in enumerate(pos):
            ang = torch.from_numpy(p)[:, :, None] * freqs  # T, 2, F
            self.register_buffer(f"pos{lv}", torch.cat([ang.sin(), ang.cos()], -1).flatten(1), persistent=False)
        self.pos_proj = nn.Linear(4 * c.pos_freqs, c.dim)
        self.readout = nn.Parameter(torch.randn(c.readout_tokens, c.dim) * 0.02)
        self.blocks = nn.ModuleList(_Block(c.dim, c.heads, c.mlp_ratio) for _ in range(c.depth))
        self.norm = nn.LayerNorm(c.dim)
        learned = c.slices * c.slice_dim
        self.proj = nn.Linear(c.readout_tokens * c.dim, learned)
        self.out_norm = nn.LayerNorm(learned)
        self.text_emb = nn.EmbeddingBag(VOCAB, c.text_dim, mode="mean")
        self.text_gate = nn.Linear(c.text_dim, c.embedding_dim)
        nn.init.zeros_(self.text_gate.weight)
        nn.init.zeros_(self.text_gate.bias)
        self.log_prior = nn.Parameter(torch.zeros(c.embedding_dim))
        self.beta = nn.Parameter(torch.tensor(1.0))
        self.log_tau = nn.Parameter(torch.tensor(math.log(2.0)))
        self.aux_heads = nn.ModuleList(nn.Linear(c.slice_dim, n) for _, n in c.aux)
        if c.fine_levels:  # created last: a 64 px config builds (and seeds) exactly the v1 module
            self.fine_embed = nn.ModuleList(
                nn.Sequential(nn.Linear(fine_feature_dim(c.fine_cells), c.dim), nn.GELU(), nn.Linear(c.dim, c.dim))
                for _ in range(c.fine_levels)
            )
            self.fine_band_emb = nn.Parameter(torch.randn(c.fine_levels, c.dim) * 0.02)
            for j, p in enumerate(fine_positions(c.fine_levels, c.fine_grid)):
                ang = torch.from_numpy(p)[:, :, None] * freqs
                self.register_buffer(f"fpos{j}", torch.cat([ang.sin(), ang.cos()], -1).flatten(1), persistent=False)

    # -- images ---------------------------------------------------------------------------------------
    def _fine_token(self, j: int, f: torch.Tensor, ti: torch.Tensor) -> torch.Tensor:
        pos: torch.Tensor = getattr(self, f"fpos{j}")
        out: torch.Tensor = self.fine_embed[j](f) + self.fine_band_emb[j] + self.pos_proj(pos[ti])
        return out

    def encode(
        self,
        feats: list[torch.Tensor],
        keep: list[torch.Tensor],
        fine_feats: list[torch.Tensor] | None = None,
        fine_keep: list[torch.Tensor] | None = None,
    ) -> torch.Tensor:
        """Image embeddings ``(B, D)`` from the kept tokens only.

        Tokens whose ``keep`` is False are never embedded or attended: each image's kept tokens are
        packed to the front of a padded sequence, after the readout tokens (fine levels last).

        Raises:
            ConfigError: fine levels given to a model without them, or missing for one with them.
        """
        from specprompt.errors import ConfigError

        n_fine = self.config.fine_levels
        fine_feats, fine_keep = fine_feats or [], fine_keep or []
        if len(fine_feats) != n_fine or len(fine_keep) != n_fine:
            raise ConfigError(
                f"this model has {n_fine} fine levels, got {len(fine_feats)} fine features and {len(fine_keep)} masks"
            )
        r = self.config.readout_tokens
        bsz = feats[0].shape[0]
        counts = torch.stack([k.sum(1) for k in (*keep, *fine_keep)]).sum(0)  # B
        length = r + int(counts.max().item()) if bsz else r
        x = feats[0].new_zeros(bsz, length, self.config.dim)
        x[:, :r] = self.readout
        offset = torch.full((bsz,), r, dtype=torch.long, device=x.device)
        for lv, (f, k) in enumerate(zip(feats, keep, strict=True)):
            bi, ti = k.nonzero(as_tuple=True)
            if bi.numel():
                rank = (k.long().cumsum(1) - 1)[bi, ti]
                pos: torch.Tensor = getattr(self, f"pos{lv}")
                fk = f[bi, ti]
                e = self.embed[lv](fk) + self.band_emb[lv] + self.pos_proj(pos[ti])
                if str(lv) in self.stems:
                    e = e + self.stems[str(lv)](fk)
                x = x.index_put((bi, offset[bi] + rank), e)
            offset = offset + k.sum(1)
        for j, (f, k) in enumerate(zip(fine_feats, fine_keep, strict=True)):
            bi, ti = k.nonzero(as_tuple=True)
            if bi.numel():
                rank = (k.long().cumsum(1) - 1)[bi, ti]
                x = x.index_put((bi, offset[bi] + rank), self._fine_token(j, f[bi, ti], ti))
            offset = offset + k.sum(1)
        mask = torch.arange(length, device=x.device)[None, :] < (r + counts)[:, None]
        for blk in self.blocks:
            x = blk(x, mask)
        summary = self.norm(x[:, :r]).flatten(1)
        out: torch.Tensor = self.out_norm(self.proj(summary))
        if self.config.raw_colour:
            out = torch.cat([out, _raw_colour(feats[-1], keep[-1])], dim=1)
        if self.config.fine_readout and fine_feats:
            raw = [_raw_fine(f, k) for f, k in zip(fine_feats, fine_keep, strict=True)]
            out = torch.cat([out, *raw], dim=1)
        return out

    def aux_logits(self, z: torch.Tensor) -> list[torch.Tensor]:
        """Per auxiliary attribute, logits ``(B, classes)`` read from its slice of ``z``."""
        s = self.config.slice_dim
        return [head(z[:, i * s : (i + 1) * s]) for i, head in enumerate(self.aux_heads)]

    # -- text and readout -------------------------------------------------------------------------------
    def text_gate_of(self, ids: list[list[int]]) -> torch.Tensor:
        """Dimension-weight gates ``(E, D)`` from hashed text ids (empty text gives the bias)."""
        device = self.log_prior.device
        flat = torch.tensor([i for row in ids for i in row], dtype=torch.long, device=device)
        offsets = torch.tensor([0, *[len(r) for r in ids[:-1]]], dtype=torch.long, device=device).cumsum(0)
        emb = self.text_emb(flat, offsets)  # empty bags give zeros
        out: torch.Tensor = self.text_gate(emb)
        return out

    def episode_logits(
        self, zs: torch.Tensor, ys: torch.Tensor, n_way: int, zq: torch.Tensor, gate: torch.Tensor | None
    ) -> torch.Tensor:
        """Query logits ``(E, Q, N)``; see :func:`~specprompt.vlm._readout.fisher_logits`.

        With ``fine_readout`` the embedding's columns past ``embedding_dim`` (raw fine features) get a
        second, unlearned readout at the episode scale whose logits are added
        (:func:`~specprompt.vlm._readout.raw_logits`).
        """
        d = self.config.embedding_dim
        logits = fisher_logits(
            zs[..., :d],
            ys,
            n_way,
            zq[..., :d],
            prior_var=F.softplus(self.log_prior) + 1e-3,
            kappa=1.0,
            beta=self.beta,
            tau=self.log_tau.exp(),
            gate=gate,
            scale=self.config.readout_scale,
        )
        if zs.shape[-1] > d:
            logits = logits + raw_logits(zs[..., d:], ys, n_way, zq[..., d:], tau=self.config.fine_readout)
        return logits
