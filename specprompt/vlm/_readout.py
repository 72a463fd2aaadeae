"""Episode-adaptive readout: class scores from demo and query embeddings (pure torch functions).

The deciding attribute changes from episode to episode, so no fixed metric can say what to
compare. The readout estimates it from the demonstrations: for every embedding dimension it
compares the spread of the class means (between-class variance) with the spread of the demos
around their own class mean (within-class variance, shrunk towards a learned prior so one shot
per class works). Dimensions whose ratio is high decide the episode; a softmax over the log-ratios
(plus a text gate from the instruction) weights a normalized squared distance from the query to
each class mean.

The squared distance of each dimension is divided by a spread: with ``scale="prior"`` (as v1 and
v2 were trained) the within-class variance shrunk towards the prior plus the between-class
variance; with ``scale="episode"`` the episode's own empirical within-class plus between-class
variance. The prior is a floor that makes demos which differ only slightly (one small region of
the same photo: a digit on a tag) all equally near, so every answer gets about the same
probability; the episode's own spread keeps such small differences apart.

:func:`raw_logits` is the same comparison for unlearned features with gaps (the fine tokens'
spectra of ``ModelConfig.fine_readout``), weighted by how far they separate the demos.

Shape:
    ``zs``: ``(E, S, D)`` demo embeddings; ``ys``: ``(E, S)`` class index in ``0 .. N-1``;
    ``zq``: ``(E, Q, D)`` query embeddings; ``gate``: ``(E, D)``; returns ``(E, Q, N)`` logits.
"""

from __future__ import annotations

import math

import torch

__all__ = ["SHARE_RANGE", "TRUST_RANGE", "fisher_logits", "raw_logits"]


_EPS = 1e-4
#: Effective Fisher ratio of :func:`raw_logits` at which it starts to count, and at which it counts
#: fully (log-linear in between). Measured on the real-photo tasks with 1-2 demos per class: 2-11
#: on tint, texture and identity, 10-77 on the digit of photo-detail (texture's spectra do separate
#: its classes: :data:`SHARE_RANGE` is what leaves texture to the learned readout).
TRUST_RANGE: tuple[float, float] = (5.0, 20.0)
#: Share of the usable dimensions that carry the weights of :func:`raw_logits` (the exponential of
#: the weights' entropy over their number) at or below which it counts fully, and at or above which
#: it does not count (log-linear in between): the readout is for demos that differ in a small
#: region, which the learned embedding pools away. Measured at full resolution: about 0.05 on
#: photo-detail, 0.5-0.75 on tint, texture and identity, whose classes differ everywhere.
SHARE_RANGE: tuple[float, float] = (0.1, 0.3)
_TINY = 1e-12


def fisher_logits(
    zs: torch.Tensor,
    ys: torch.Tensor,
    n_way: int,
    zq: torch.Tensor,
    *,
    prior_var: torch.Tensor,
    kappa: float,
    beta: torch.Tensor,
    tau: torch.Tensor,
    gate: torch.Tensor | None = None,
    scale: str = "prior",
) -> torch.Tensor:
    """Logits of each query for each class (classes without demos get ``-inf``).

    Args:
        zs: demo embeddings.
        ys: demo classes.
        n_way: number of classes ``N``.
        zq: query embeddings.
        prior_var: ``(D,)`` positive prior within-class variance.
        kappa: weight (in pseudo-demos) of the prior variance.
        beta: scalar sharpness of the dimension weights.
        tau: scalar temperature of the logits.
        gate: optional ``(E, D)`` additive logits of the dimension weights (from text).
        scale: ``"prior"`` or ``"episode"``: the spread that distances are measured in (module docstring).

    Convention:
        Unbalanced shots are allowed; the within-class variance uses ``S - N_present`` degrees of
        freedom plus ``kappa`` prior pseudo-observations.
    """
    y = torch.nn.functional.one_hot(ys, n_way).to(zs.dtype)  # E, S, N
    counts = y.sum(1)  # E, N
    present = counts > 0
    mu = torch.einsum("esn,esd->end", y, zs) / counts.clamp_min(1.0)[..., None]
    resid = zs - torch.einsum("esn,end->esd", y, mu)
    dof = (zs.shape[1] - present.sum(1)).to(zs.dtype)  # E
    within = (resid.square().sum(1) + kappa * prior_var) / (dof + kappa)[:, None]
    n_present = present.sum(1).to(zs.dtype)
    mean = (mu * present[..., None]).sum(1) / n_present[:, None]
    between = ((mu - mean[:, None]).square() * present[..., None]).sum(1) / (n_present - 1).clamp_min(1.0)[:, None]
    score = beta * (torch.log(between + _EPS) - torch.log(within + _EPS))
    if gate is not None:
        score = score + gate
    weight = torch.softmax(score, dim=-1)  # E, D
    if scale == "episode":
        spread = resid.square().sum(1) / dof.clamp_min(1.0)[:, None] + between + _TINY
    else:
        spread = within + between + _EPS
    unit = weight / spread
    diff = zq[:, :, None, :] - mu[:, None, :, :]  # E, Q, N, D
    dist = (diff.square() * unit[:, None, None, :]).sum(-1)
    logits = -tau * dist
    return logits.masked_fill(~present[:, None, :], float("-inf"))


def _ramp(x: torch.Tensor, bounds: tuple[float, float]) -> torch.Tensor:
    """0 at or below ``bounds[0]``, 1 at or above ``bounds[1]``, linear in ``log x`` between."""
    low, high = bounds
    return ((torch.log(x.clamp_min(1e-9)) - math.log(low)) / math.log(high / low)).clamp(0.0, 1.0)


def raw_logits(zs: torch.Tensor, ys: torch.Tensor, n_way: int, zq: torch.Tensor, *, tau: float) -> torch.Tensor:
    """Logits like :func:`fisher_logits` at the episode scale, for unlearned features with gaps.

    A demo's zero dimensions are missing (the features of a token it does not have: a dropped or
    blurred-away band), not measured zeros. Class means and within- and between-class variances use
    the present values only; a dimension weighs in only where at least two classes have it, and a
    class that lacks it gets the mean squared distance of the classes that have it (it neither wins
    nor loses on it). The prior within-class variance is the demos' mean variance over the usable
    dimensions (one pseudo-demo), ``beta = 1``, no gate, every spread floored at 1e-3 of the prior.

    The logits count only as far as the demos separate, and in few dimensions: the effective
    Fisher ratio (the weighted mean of between over within) is mapped log-linearly from
    :data:`TRUST_RANGE`, and the share of the usable dimensions that carry the weights from
    :data:`SHARE_RANGE`, onto factors in ``[0, 1]`` that multiply the logits. Logits are shifted so
    that the best present class gets 0: a readout of nothing, of features that do not separate the
    demos, or of differences spread over the whole image (the learned readout's domain) adds nothing.

    Shape:
        as :func:`fisher_logits`.
    """
    y = torch.nn.functional.one_hot(ys, n_way).to(zs.dtype)  # E, S, N
    present = y.sum(1) > 0  # E, N
    have = (zs != 0).to(zs.dtype)  # E, S, D
    n_cd = torch.einsum("esn,esd->end", y, have)  # E, N, D
    has = n_cd > 0
    mu = torch.einsum("esn,esd->end", y, zs) / n_cd.clamp_min(1.0)
    resid = (zs - torch.einsum("esn,end->esd", y, mu)) * have
    n_d = have.sum(1)  # E, D: demos that have the dimension
    k = has.to(zs.dtype).sum(1)  # E, D: classes that have it
    dof = n_d - k
    centred = (zs - (zs.sum(1) / n_d.clamp_min(1.0))[:, None]) * have
    var_d = centred.square().sum(1) / (n_d - 1).clamp_min(1.0)
    usable = (n_d >= 2).to(zs.dtype)
    prior = ((var_d * usable).sum(1) / usable.sum(1).clamp_min(1.0)).clamp_min(1e-8)[:, None]  # E, 1
    floor = 1e-3 * prior
    ss = resid.square().sum(1)
    within = (ss + prior) / (dof + 1.0)
    mean = (mu * has).sum(1) / k.clamp_min(1.0)
    between = ((mu - mean[:, None]).square() * has).sum(1) / (k - 1).clamp_min(1.0)
    ranked = k >= 2  # E, D: dimensions that can tell classes apart
    score = (torch.log(between + floor) - torch.log(within + floor)).masked_fill(~ranked, float("-inf"))
    weight = torch.nan_to_num(torch.softmax(score, dim=-1), nan=0.0)  # E, D (all zero: nothing usable)
    f_eff = (weight * (between + floor) / (within + floor)).sum(-1)  # E
    entropy = -(weight * torch.log(weight.clamp_min(1e-30))).sum(-1)
    share = entropy.exp() / ranked.to(zs.dtype).sum(-1).clamp_min(1.0)  # E
    trust = _ramp(f_eff, TRUST_RANGE) * (1.0 - _ramp(share, SHARE_RANGE))
    unit = trust[:, None] * weight / (ss / dof.clamp_min(1.0) + between + floor)
    term = (zq[:, :, None, :] - mu[:, None, :, :]).square()  # E, Q, N, D
    has_q = has[:, None].expand_as(term)
    fill = (term * has_q).sum(2, keepdim=True) / has_q.sum(2, keepdim=True).clamp_min(1)
    term = torch.where(has_q, term, fill)
    logits = -tau * (term * unit[:, None, None, :]).sum(-1)
    logits = logits.masked_fill(~present[:, None, :], float("-inf"))
    return logits - logits.amax(-1, keepdim=True)
