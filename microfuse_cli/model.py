"""The MicroFuse fusion head, its baselines and its losses (docs/method.md).

Only modules and loss functions live here: no I/O, no training loop (see ``training.py``).

Choices the paper leaves open, made here:

* Each expert is ``Linear(in, d) -> GELU -> Dropout -> Linear(d, d)``; the router is
  ``Linear(4d, d) -> GELU -> Linear(d, 4)``; the classifier ``g`` is ``Linear(d, d) -> GELU -> Dropout -> Linear(d, 1)``.
* A removed expert (ablation) keeps its parameters, so every ablation has the same weight-file layout, but it is
  never evaluated: its router logit is masked to ``-inf`` before the softmax, so its weight is exactly 0, the other
  weights renormalise, and its parameters receive no gradient.
* The supervised contrastive loss is averaged over anchors that have at least one positive, as a weighted mean
  ``sum(w_i l_i) / sum(w_i)`` with ``w_i = 1 - cos(z_p, z_b)`` (detached: the weights say which pairs matter, they
  are not something to optimise). Without disagreement weighting every ``w_i = 1``.
* Baselines (``protein``, ``context``, ``concat``) are plain MLPs: the projection of their input, then
  ``Linear(d, d) -> GELU -> Dropout`` gives ``h``, then the same classifier ``g``. They are trained with BCE only.
  Their router weights are reported as a fixed one-hot (``protein``: [1, 0, 0, 0], ``context``: [0, 1, 0, 0]) and
  as NaN for ``concat``, which has no notion of experts.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .errors import DataError, UsageError
# the configuration and the expert order (columns of ``FusionOutput.router_weights``) are torch-free, in fusion.py
from .fusion import ABLATIONS, ARCHS, EXPERTS, FusionConfig  # noqa: F401

@dataclass(frozen=True)
class FusionOutput:
    """What ``FusionModel.forward`` returns (shapes for a batch of n pairs, d = hidden).

    Attributes:
        logits: (n,) pre-sigmoid scores.
        h: (n, d) fused vector.
        router_weights: (n, 4) in the order protein, context, agreement, conflict (one-hot or NaN for baselines).
        z_p, z_b: (n, d) projected protein / context views, ``None`` where the architecture has no such projection.
    """

    logits: torch.Tensor
    h: torch.Tensor
    router_weights: torch.Tensor
    z_p: Optional[torch.Tensor] = None
    z_b: Optional[torch.Tensor] = None


def _projection(in_dim: int, d: int, dropout: float, dtype: torch.dtype) -> nn.Sequential:
    return nn.Sequential(nn.LayerNorm(in_dim, dtype=dtype), nn.Linear(in_dim, d, dtype=dtype), nn.GELU(),
                         nn.Dropout(dropout))


def _mlp(in_dim: int, d: int, out_dim: int, dropout: float, dtype: torch.dtype) -> nn.Sequential:
    return nn.Sequential(nn.Linear(in_dim, d, dtype=dtype), nn.GELU(), nn.Dropout(dropout),
                         nn.Linear(d, out_dim, dtype=dtype))


class FusionModel(nn.Module):
    """Fusion head over raw (unstandardised) views; standardisation is applied inside with stored buffers.

    Buffers ``protein_mean``/``protein_std`` and ``context_mean``/``context_std`` hold the training-split statistics
    (identity until ``set_standardisation`` is called) and are saved with the weights. ``dtype``: the parameters'
    and those buffers' type (the expert mask stays bool), drawn in it: a float64 model initialised in float32 and
    converted kept the float32 initialisation's last bits, which differ between processors
    (trained.TrainConfig.precision).
    """

    def __init__(self, config: FusionConfig, dtype: torch.dtype = torch.float32) -> None:
        super().__init__()
        config.validate()
        if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:  # 'float64' was torch's TypeError
            raise UsageError(f"FusionModel's dtype is a floating torch.dtype such as torch.float64, not "
                             f"{dtype!r}")
        if config.uses_protein and config.protein_dim is None:
            raise UsageError("protein_dim must be set to build the model")
        if config.uses_context and config.context_dim is None:
            raise UsageError("context_dim must be set to build the model")
        self.config = config
        d, p = config.hidden, config.dropout
        if config.uses_protein:
            self.register_buffer("protein_mean", torch.zeros(config.protein_dim, dtype=dtype))
            self.register_buffer("protein_std", torch.ones(config.protein_dim, dtype=dtype))
        if config.uses_context:
            self.register_buffer("context_mean", torch.zeros(config.context_dim, dtype=dtype))
            self.register_buffer("context_std", torch.ones(config.context_dim, dtype=dtype))

        if config.arch == "microfuse":
            self.proj_protein = _projection(config.protein_dim, d, p, dtype)
            self.proj_context = _projection(config.context_dim, d, p, dtype)
            self.experts = nn.ModuleDict(
                {
                    "protein": _mlp(d, d, d, p, dtype),
                    "context": _mlp(d, d, d, p, dtype),
                    "agreement": _mlp(2 * d, d, d, p, dtype),
                    "conflict": _mlp(2 * d, d, d, p, dtype),
                }
            )
            self.router = nn.Sequential(nn.Linear(4 * d, d, dtype=dtype), nn.GELU(),
                                        nn.Linear(d, len(EXPERTS), dtype=dtype))
            self.register_buffer("expert_mask", torch.tensor(config.active_experts()), persistent=False)
        else:
            in_dim = {
                "protein": config.protein_dim,
                "context": config.context_dim,
                "concat": (config.protein_dim or 0) + (config.context_dim or 0),
            }[config.arch]
            self.proj = _projection(in_dim, d, p, dtype)
            self.body = nn.Sequential(nn.Linear(d, d, dtype=dtype), nn.GELU(), nn.Dropout(p))
        self.classifier = _mlp(d, d, 1, p, dtype)

    # ---------------------------------------------------------------------------------------------
    def set_standardisation(
        self,
        protein: Optional[tuple[torch.Tensor, torch.Tensor]] = None,
        context: Optional[tuple[torch.Tensor, torch.Tensor]] = None,
    ) -> None:
        """Store (mean, std) of each view; std values below 1e-6 are raised to 1 (constant columns)."""
        for name, stats in (("protein", protein), ("context", context)):
            if stats is None or not hasattr(self, f"{name}_mean"):
                continue
            mean, std = (torch.as_tensor(t, dtype=torch.float32) for t in stats)
            std = torch.where(std < 1e-6, torch.ones_like(std), std)
            getattr(self, f"{name}_mean").copy_(mean)
            getattr(self, f"{name}_std").copy_(std)

    def _standardise(self, x: Optional[torch.Tensor], name: str) -> torch.Tensor:
        if x is None:
            raise DataError(f"the {self.config.arch} model needs the {name} view")
        mean = getattr(self, f"{name}_mean")
        if x.ndim != 2 or x.shape[1] != mean.shape[0]:
            raise DataError(f"{name} view has shape {tuple(x.shape)}, the model expects (n, {mean.shape[0]})")
        return (x - mean) / getattr(self, f"{name}_std")

    # ---------------------------------------------------------------------------------------------
    def forward(self, x_protein: Optional[torch.Tensor], x_context: Optional[torch.Tensor]) -> FusionOutput:
        cfg = self.config
        xp = self._standardise(x_protein, "protein") if cfg.uses_protein else None
        xb = self._standardise(x_context, "context") if cfg.uses_context else None
        if cfg.arch != "microfuse":
            x = {"protein": xp, "context": xb}.get(cfg.arch)
            if x is None:
                x = torch.cat([xp, xb], dim=1)
            h = self.body(self.proj(x))
            n = h.shape[0]
            if cfg.arch == "concat":
                weights = torch.full((n, len(EXPERTS)), float("nan"), device=h.device)
            else:
                weights = torch.zeros(n, len(EXPERTS), device=h.device)
                weights[:, 0 if cfg.arch == "protein" else 1] = 1.0
            return FusionOutput(self.classifier(h).squeeze(-1), h, weights)

        z_p = self.proj_protein(xp)
        z_b = self.proj_context(xb)
        diff = z_p - z_b
        prod = z_p * z_b
        router_logits = self.router(torch.cat([z_p, z_b, diff.abs(), prod], dim=1))
        router_logits = router_logits.masked_fill(~self.expert_mask, float("-inf"))
        weights = torch.softmax(router_logits, dim=1)
        inputs = {
            "protein": z_p,
            "context": z_b,
            "agreement": torch.cat([prod, prod.abs()], dim=1),
            "conflict": torch.cat([diff.abs(), diff], dim=1),
        }
        h = torch.zeros_like(z_p)
        for k, name in enumerate(EXPERTS):
            if cfg.active_experts()[k]:  # removed experts are never evaluated
                h = h + weights[:, k : k + 1] * self.experts[name](inputs[name])
        return FusionOutput(self.classifier(h).squeeze(-1), h, weights, z_p, z_b)


# --------------------------------------------------------------------------------------------------
# losses


def bce_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy on logits, averaged over the batch."""
    return F.binary_cross_entropy_with_logits(logits, y.to(logits.dtype))


def xmod_infonce_loss(z_p: torch.Tensor, z_b: torch.Tensor, tau: float = 0.12) -> torch.Tensor:
    """Symmetric InfoNCE between the two views: S = cos(z_p_i, z_b_j) / tau; the same pair is the positive.

    ``(CE(S, diag) + CE(S^T, diag)) / 2``, each cross-entropy averaged over the batch.
    """
    zp = F.normalize(z_p, dim=1)
    zb = F.normalize(z_b, dim=1)
    sim = zp @ zb.T / tau
    target = torch.arange(sim.shape[0], device=sim.device)
    return (F.cross_entropy(sim, target) + F.cross_entropy(sim.T, target)) / 2


def disagreement_weights(z_p: torch.Tensor, z_b: torch.Tensor) -> torch.Tensor:
    """1 - cos(z_p, z_b) per pair, in [0, 2], detached from the graph."""
    return (1.0 - F.cosine_similarity(z_p, z_b, dim=1)).detach()


def supcon_loss(
    h: torch.Tensor, y: torch.Tensor, tau: float = 0.15, weights: Optional[torch.Tensor] = None
) -> torch.Tensor:
    """Supervised contrastive loss (Khosla et al. 2020, "L_out") on L2-normalised h, same label = positive.

    For anchor i with positives P(i) (same label, j != i):
    ``l_i = -1/|P(i)| sum_{p in P(i)} log( exp(s_ip) / sum_{a != i} exp(s_ia) )``, ``s = cos / tau``.
    The loss is ``sum(w_i l_i) / sum(w_i)`` over anchors with at least one positive (``w_i = 1`` by default);
    0 when no anchor has a positive.
    """
    n = h.shape[0]
    z = F.normalize(h, dim=1)
    sim = z @ z.T / tau
    eye = torch.eye(n, dtype=torch.bool, device=h.device)
    log_prob = sim - torch.logsumexp(sim.masked_fill(eye, float("-inf")), dim=1, keepdim=True)
    positive = (y.view(-1, 1) == y.view(1, -1)) & ~eye
    n_pos = positive.sum(dim=1)
    has_pos = n_pos > 0
    if not bool(has_pos.any()):
        return h.sum() * 0.0
    per_anchor = -(log_prob * positive).sum(dim=1)[has_pos] / n_pos[has_pos]
    w = torch.ones_like(per_anchor) if weights is None else weights[has_pos].to(per_anchor.dtype)
    return (w * per_anchor).sum() / w.sum().clamp_min(1e-12)


def total_loss(output: FusionOutput, y: torch.Tensor, config: FusionConfig) -> tuple[torch.Tensor, dict[str, float]]:
    """L = BCE + lambda_xmod * L_xmod + lambda_supcon * L_supcon (contrastive terms for ``microfuse`` only).

    Returns the loss and its parts as floats (``bce``, and ``xmod`` / ``supcon`` when used).
    """
    loss = bce_loss(output.logits, y)
    parts = {"bce": float(loss.detach())}
    if config.arch != "microfuse":
        return loss, parts
    if config.xmod and config.lambda_xmod > 0:
        lx = xmod_infonce_loss(output.z_p, output.z_b, config.tau_xmod)
        loss = loss + config.lambda_xmod * lx
        parts["xmod"] = float(lx.detach())
    if config.supcon and config.lambda_supcon > 0:
        w = disagreement_weights(output.z_p, output.z_b) if config.disagreement_weighting else None
        ls = supcon_loss(output.h, y, config.tau_supcon, w)
        loss = loss + config.lambda_supcon * ls
        parts["supcon"] = float(ls.detach())
    return loss, parts


__all__ = [
    "ABLATIONS",
    "ARCHS",
    "EXPERTS",
    "FusionConfig",
    "FusionModel",
    "FusionOutput",
    "bce_loss",
    "disagreement_weights",
    "supcon_loss",
    "total_loss",
    "xmod_infonce_loss",
]
