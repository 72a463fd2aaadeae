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

Shape:
    ``zs``: ``(E, S, D)`` demo embeddings; ``ys``: ``(E, S)`` class index in ``0 .. N-1``;
    ``zq``: ``(E, Q, D)`` query embeddings; ``gate``: ``(E, D)``; returns ``(E, Q, N)`` logits.
"""

from __future__ import annotations

import torch

__all__ = ["fisher_logits"]


_EPS = 1e-4
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
