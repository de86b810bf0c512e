"""The fusion head without torch: its configuration and numpy inference (its file format: checkpoint.py).

``score`` applies a trained head to a genome's pairs; importing torch for that costs more CPU time (about 2.5 s)
than calling the genes of E. coli, so inference here is numpy, reading the same ``model.safetensors`` +
``config.json`` that ``trained.TrainedModel`` writes. Training (and the GPU) stays with torch (``model.py``,
``training.py``, ``trained.py``); a test holds the two forward passes equal on every architecture and ablation.

The forward pass mirrors ``model.FusionModel`` in float32, as torch runs it: standardise with the stored training-split statistics,
``LayerNorm -> Linear -> GELU`` projections, the four experts weighted by the router's softmax (removed experts
masked out), the classifier. GELU is the exact erf form, as torch's default.
"""

from __future__ import annotations

import dataclasses
import functools
import math
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Mapping, Optional, Protocol

import numpy as np

from .checkpoint import (CONFIG_FILE, WEIGHTS_FILE, Checkpoint, DecisionIdentified, ModelInputs, model_identity,
                         read_checkpoint)
from .errors import DataError, UsageError
from .records import RebuiltFromFields, read_only
from .vocabulary import ABLATIONS, ARCHS, EXPERTS  # noqa: F401  (re-exported: the model's vocabulary)

#: LayerNorm's epsilon (torch's default, which ``model.FusionModel`` uses).
LAYER_NORM_EPS = 1e-5


@dataclass(frozen=True)
class FusionConfig:
    """Architecture and loss settings of a fusion head.

    Attributes:
        arch: ``microfuse`` (the four-expert mixture), ``concat`` (MLP on [x_p; x_b]), ``protein`` or ``context``
            (MLP on one view).
        protein_dim: width of the protein view (3072 for ProstT5 pairs); ``None`` = taken from the data by
            ``training.train``.
        context_dim: width of the genome-context view (960 for Bacformer pairs); ``None`` = from the data.
        hidden: d, the width of projections, experts and the fused vector h.
        dropout: dropout after projections, inside experts and in the classifier.
        lambda_xmod, lambda_supcon: weights of the two contrastive terms in the loss.
        tau_xmod, tau_supcon: their temperatures.
        disagreement_weighting: weight each supervised-contrastive anchor by 1 - cos(z_p, z_b).
        interaction_experts: keep the agreement and conflict experts (off: protein + context experts only).
        conflict_expert: keep the conflict expert.
        supcon: add the supervised contrastive loss on h.
        xmod: add the cross-modal InfoNCE loss between z_p and z_b.
    """

    arch: str = "microfuse"
    protein_dim: Optional[int] = None
    context_dim: Optional[int] = None
    hidden: int = 512
    dropout: float = 0.2
    lambda_xmod: float = 0.02
    lambda_supcon: float = 0.03
    tau_xmod: float = 0.12
    tau_supcon: float = 0.15
    disagreement_weighting: bool = True
    interaction_experts: bool = True
    conflict_expert: bool = True
    supcon: bool = True
    xmod: bool = True

    def __post_init__(self) -> None:  # normalising the fields as built, never changing them later
        plain_scalars(self)

    @classmethod
    def ablation(cls, name: str, **overrides: Any) -> "FusionConfig":
        """The config of one of the paper's ablations (see ``ABLATIONS``), other fields from ``overrides``."""
        try:
            switches = ABLATIONS[name]
        except KeyError:
            raise UsageError(f"unknown ablation {name!r}; choose from {', '.join(ABLATIONS)}") from None
        return cls(**{**overrides, **switches})

    @property
    def uses_protein(self) -> bool:
        return self.arch != "context"

    @property
    def uses_context(self) -> bool:
        return self.arch != "protein"

    def active_experts(self) -> tuple[bool, bool, bool, bool]:
        """Which of (protein, context, agreement, conflict) the router may choose."""
        inter = self.interaction_experts
        return (True, True, inter, inter and self.conflict_expert)

    def validate(self) -> "FusionConfig":
        """Raise ``UsageError`` for an impossible setting; returns self."""
        if self.arch not in ARCHS:
            raise UsageError(f"unknown architecture {self.arch!r}; choose from {', '.join(ARCHS)}")
        for name in ("protein_dim", "context_dim", "hidden"):
            value = getattr(self, name)
            if (value is not None or name == "hidden") and not (_is_int(value) and value > 0):
                raise UsageError(f"{name} must be a positive integer, got {value!r}")
        for name in ("dropout", "lambda_xmod", "lambda_supcon", "tau_xmod", "tau_supcon"):
            value = getattr(self, name)
            if not (isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)):
                raise UsageError(f"{name} must be a finite number, got {value!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise UsageError(f"dropout must be in [0, 1), got {self.dropout}")
        for name in ("lambda_xmod", "lambda_supcon"):
            if getattr(self, name) < 0:
                raise UsageError(f"{name} must be >= 0, got {getattr(self, name)}")
        for name in ("tau_xmod", "tau_supcon"):
            if getattr(self, name) <= 0:
                raise UsageError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("disagreement_weighting", "interaction_experts", "conflict_expert", "supcon", "xmod"):
            if not isinstance(getattr(self, name), bool):
                raise UsageError(f"{name} must be true or false, got {getattr(self, name)!r}")
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "FusionConfig":
        """Rebuild from ``to_dict()`` output; any missing/unknown key or bad value raises ``DataError``."""
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, dict):
            raise DataError("model config is not a JSON object")
        if set(data) != names:
            missing = sorted(names - set(data))
            unknown = sorted(set(data) - names)
            raise DataError(f"model config has missing keys {missing} / unknown keys {unknown}")
        try:
            return cls(**data).validate()
        except (UsageError, TypeError) as exc:
            raise DataError(f"invalid model config: {exc}") from None


def plain_scalars(config: Any) -> None:
    """Numpy scalars in a config's fields become Python ones (hidden=np.int64(16) was refused, and would not have
    been JSON for its model folder), as every other library call takes numpy ints (errors.whole_number)."""
    for field in dataclasses.fields(config):
        value = getattr(config, field.name)
        if isinstance(value, np.generic):
            object.__setattr__(config, field.name, value.item())


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


@dataclass(frozen=True)
class Prediction:
    """Per-pair outputs as numpy arrays.

    Attributes:
        probability: (n,) probability of being in one operon.
        router_weights: (n, 4) expert weights (protein, context, agreement, conflict); one-hot for single-view
            baselines, NaN for the concat baseline, ``None`` for the distance baseline.
        fused: (n, d) fused vector h (``None`` for the distance baseline or when not requested).
    """

    probability: np.ndarray
    router_weights: Optional[np.ndarray] = None
    fused: Optional[np.ndarray] = None

    def __post_init__(self) -> None:  # read-only views of the arrays as built, never changed later
        for name in ("probability", "router_weights", "fused"):
            object.__setattr__(self, name, read_only(getattr(self, name)))


@dataclass(frozen=True)
class PairInputs:
    """Everything a scoring model may read for n pairs, row-aligned: the fusion head reads the two views, the
    distance baseline the spacer and strands. ``score`` builds one and calls ``model.predict_pairs`` on it, so it
    never asks which kind of model it holds."""

    x_protein: Optional[np.ndarray]
    x_context: Optional[np.ndarray]
    distance: np.ndarray
    same_strand: np.ndarray


class ScoringModel(Protocol):
    """The one contract ``score`` holds a model to, whichever kind it is (``FusionHead``, ``trained.TrainedModel``,
    ``baseline.DistanceBaseline``): what it reads, how its probabilities are cut, and ``predict_pairs``. Code that
    scores never asks which kind it holds.

    Two identities, as two things make a call: ``identity`` names the weights and inputs (what fused vectors and
    probabilities depend on; ids files and indexes compare it, so vectors of two rules may be mixed) and
    ``decision_identity`` the rule that cuts the probabilities into calls (the ``decision_id=`` of headers)."""

    arch: str
    threshold: float
    inputs: ModelInputs  # the views, context columns and view widths it reads
    decision: Any  # a calibration.DecisionRule, or None: probabilities are cut at ``threshold``
    identity: str  # checkpoint.model_identity: which model this is, whatever its folder is called
    decision_identity: str  # checkpoint.decision_identity: which rule turns its probabilities into calls

    def predict_pairs(self, inputs: PairInputs, *, fused: bool = False) -> Prediction: ...


def parameter_shapes(config: FusionConfig) -> dict[str, tuple[int, ...]]:
    """Name and shape of every saved tensor of a fusion head with ``config`` (``FusionModel.state_dict()``)."""
    d = config.hidden
    shapes: dict[str, tuple[int, ...]] = {}
    for view, dim, used in (("protein", config.protein_dim, config.uses_protein),
                            ("context", config.context_dim, config.uses_context)):
        if used:
            shapes[f"{view}_mean"] = shapes[f"{view}_std"] = (dim,)

    def projection(prefix: str, in_dim: int) -> None:
        shapes.update({f"{prefix}.0.weight": (in_dim,), f"{prefix}.0.bias": (in_dim,),
                       f"{prefix}.1.weight": (d, in_dim), f"{prefix}.1.bias": (d,)})

    def mlp(prefix: str, in_dim: int, out_dim: int) -> None:
        shapes.update({f"{prefix}.0.weight": (d, in_dim), f"{prefix}.0.bias": (d,),
                       f"{prefix}.3.weight": (out_dim, d), f"{prefix}.3.bias": (out_dim,)})

    if config.arch == "microfuse":
        projection("proj_protein", config.protein_dim)
        projection("proj_context", config.context_dim)
        for name, width in zip(EXPERTS, (d, d, 2 * d, 2 * d)):
            mlp(f"experts.{name}", width, d)
        shapes.update({"router.0.weight": (d, 4 * d), "router.0.bias": (d,),
                       "router.2.weight": (len(EXPERTS), d), "router.2.bias": (len(EXPERTS),)})
    else:
        in_dim = {"protein": config.protein_dim, "context": config.context_dim,
                  "concat": (config.protein_dim or 0) + (config.context_dim or 0)}[config.arch]
        projection("proj", in_dim)
        shapes.update({"body.0.weight": (d, d), "body.0.bias": (d,)})
    mlp("classifier", d, 1)
    return shapes


def checked_head(checkpoint: Checkpoint) -> FusionConfig:
    """The fusion head's config of a model folder already read, its tensors checked against it (names, shapes,
    float32, positive standard deviations) before anything is built from them: both loaders (this numpy one and
    ``trained.TrainedModel``) refuse a malformed folder with the same one-line ``DataError``, never with torch
    allocating what a corrupt config asks for."""
    folder, arrays = checkpoint.folder, checkpoint.arrays
    if checkpoint.arch == "distance":
        raise DataError(f"{folder}: holds a distance baseline, not a fusion model")
    try:
        model_config = FusionConfig.from_dict(checkpoint.config["model"])
    except DataError as exc:
        raise DataError(f"{folder / CONFIG_FILE}: {exc}") from None
    if (model_config.uses_protein and model_config.protein_dim is None
            or model_config.uses_context and model_config.context_dim is None):
        raise DataError(f"{folder / CONFIG_FILE}: the view widths are not set")
    expected = parameter_shapes(model_config)
    if set(arrays) != set(expected):
        missing = sorted(set(expected) - set(arrays))[:3]
        unknown = sorted(set(arrays) - set(expected))[:3]
        raise DataError(f"{folder / WEIGHTS_FILE}: tensors do not match the config (missing {missing}, "
                        f"unknown {unknown})")
    for key, shape in expected.items():
        got = arrays[key]
        if tuple(got.shape) != shape or got.dtype != np.float32:
            raise DataError(f"{folder / WEIGHTS_FILE}: tensor {key!r} is {got.dtype} {tuple(got.shape)}, "
                            f"the config needs float32 {shape}")
        if key.endswith("_std") and not bool((got > 0).all()):
            raise DataError(f"{folder / WEIGHTS_FILE}: tensor {key!r} holds a standard deviation <= 0")
    return model_config


def check_outputs(probability: np.ndarray, fused: Optional[np.ndarray] = None) -> None:
    """Refuse NaN probabilities or non-finite fused vectors: finite weights (or embeddings) large enough to
    overflow float32 inside the head would otherwise be written as NaN, and NaN is no operon at every threshold."""
    bad = np.isnan(probability)
    if fused is not None:
        bad = bad | ~np.isfinite(fused).all(axis=1)
    if bad.any():
        raise DataError(f"the model gave NaN or infinite outputs for {int(bad.sum())} of {len(bad)} pairs: its "
                        "weights or these views overflow its arithmetic (a damaged model, or views far outside those it "
                        "was trained on)")


# --------------------------------------------------------------------------------------------------
# numpy inference


def _gelu(x: np.ndarray) -> np.ndarray:
    from scipy.special import erf  # imported by FusionHead.load already, off the critical path of `score`

    return 0.5 * x * (1.0 + erf(x / math.sqrt(2.0)))


@dataclass(frozen=True, eq=False)
class FusionHead(RebuiltFromFields, DecisionIdentified):
    """A trained fusion head (or MLP baseline) applied with numpy; what ``score`` loads.

    Immutable, as a loaded model handed to the library's users and to every scoring call must be: ``weights`` are
    read-only arrays in a read-only mapping, ``metrics`` and ``provenance`` read-only mappings (of JSON values as
    the config holds them).

    Attributes:
        config: the architecture.
        weights: the saved tensors by name (float32).
        threshold: decision threshold chosen on validation.
        metrics, provenance: as saved by ``trained.TrainedModel`` (checkpoint.py).
        decision: the per-genome decision rule (calibration.DecisionRule) or None (probabilities from the head,
            cut at ``threshold``).
        inputs: the views, context columns and view widths the head reads (checkpoint.ModelInputs).
    """

    config: FusionConfig
    weights: Mapping[str, np.ndarray]
    threshold: float
    metrics: Optional[Mapping[str, Any]] = None
    provenance: Optional[Mapping[str, Any]] = None
    decision: Any = None
    inputs: Optional[ModelInputs] = None

    def __post_init__(self) -> None:  # normalising the fields as built, never changing them later
        object.__setattr__(self, "inputs", self.inputs or ModelInputs())
        object.__setattr__(self, "threshold", float(self.threshold))
        object.__setattr__(self, "metrics", MappingProxyType(dict(self.metrics or {})))
        object.__setattr__(self, "provenance", MappingProxyType(dict(self.provenance or {})))
        object.__setattr__(self, "weights", MappingProxyType(
            {k: read_only(np.asarray(v, dtype=np.float32)) for k, v in self.weights.items()}))

    @property
    def arch(self) -> str:
        return self.config.arch

    @functools.cached_property
    def identity(self) -> str:
        """checkpoint.model_identity: recorded with the fused vectors, so vectors of two models are never compared."""
        return model_identity(self.config.to_dict(), self.inputs, self.weights)

    @classmethod
    def load(cls, path) -> "FusionHead":
        """Open a model directory written by ``trained.TrainedModel.save`` (not a distance baseline)."""
        return cls.from_checkpoint(read_checkpoint(path))

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint) -> "FusionHead":
        """The head of a model folder already read (checkpoint.read_checkpoint); its shapes checked."""
        import importlib

        # for _gelu: ~0.3 s, paid here, where `score` hides it behind pyrodigal
        importlib.import_module("scipy.special")

        config = checkpoint.config
        return cls(checked_head(checkpoint), checkpoint.arrays, config["threshold"], config["metrics"],
                   checkpoint.provenance, checkpoint.decision, checkpoint.inputs)

    def _linear(self, prefix: str, x: np.ndarray) -> np.ndarray:
        return x @ self.weights[f"{prefix}.weight"].T + self.weights[f"{prefix}.bias"]

    def _projection(self, prefix: str, x: np.ndarray) -> np.ndarray:
        mean = x.mean(axis=1, keepdims=True)
        var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
        normed = (x - mean) / np.sqrt(var + LAYER_NORM_EPS)
        normed = normed * self.weights[f"{prefix}.0.weight"] + self.weights[f"{prefix}.0.bias"]
        return _gelu(self._linear(f"{prefix}.1", normed))

    def _mlp(self, prefix: str, x: np.ndarray) -> np.ndarray:
        return self._linear(f"{prefix}.3", _gelu(self._linear(f"{prefix}.0", x)))

    def _standardise(self, x: Optional[np.ndarray], name: str) -> np.ndarray:
        if x is None:
            raise DataError(f"the {self.arch} model needs the {name} view")
        x = np.asarray(x)
        mean = self.weights[f"{name}_mean"]
        if x.ndim != 2 or x.shape[1] != mean.shape[0]:
            raise DataError(f"{name} view has shape {tuple(x.shape)}, the model expects (n, {mean.shape[0]})")
        x = x.astype(np.float32)
        if not np.isfinite(x).all():
            raise DataError(f"{name} view contains NaN or infinite values")
        return (x - mean) / self.weights[f"{name}_std"]

    def forward(self, x_protein: Optional[np.ndarray], x_context: Optional[np.ndarray]
                ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(logits, router weights, h) for raw (unstandardised) views."""
        cfg = self.config
        xp = self._standardise(x_protein, "protein") if cfg.uses_protein else None
        xb = self._standardise(x_context, "context") if cfg.uses_context else None
        if cfg.arch != "microfuse":
            x = {"protein": xp, "context": xb}.get(cfg.arch)
            if x is None:
                x = np.concatenate([xp, xb], axis=1)
            h = _gelu(self._linear("body.0", self._projection("proj", x)))
            weights = np.zeros((len(h), len(EXPERTS)))
            if cfg.arch == "concat":
                weights[:] = np.nan
            else:
                weights[:, 0 if cfg.arch == "protein" else 1] = 1.0
            return self._mlp("classifier", h)[:, 0], weights, h
        if xp.shape[0] != xb.shape[0]:
            raise DataError(f"protein view has {xp.shape[0]} rows but context view has {xb.shape[0]}")
        z_p = self._projection("proj_protein", xp)
        z_b = self._projection("proj_context", xb)
        diff, prod = z_p - z_b, z_p * z_b
        logits = self._linear("router.2", _gelu(self._linear("router.0", np.concatenate([z_p, z_b, np.abs(diff), prod],
                                                                                          axis=1))))
        active = np.array(cfg.active_experts())
        logits = np.where(active, logits, -np.inf)
        weights = np.exp(logits - logits.max(axis=1, keepdims=True))
        weights /= weights.sum(axis=1, keepdims=True)
        inputs = {"protein": z_p, "context": z_b, "agreement": np.concatenate([prod, np.abs(prod)], axis=1),
                  "conflict": np.concatenate([np.abs(diff), diff], axis=1)}
        h = np.zeros_like(z_p)
        for k, name in enumerate(EXPERTS):
            if active[k]:  # removed experts are never evaluated
                h += weights[:, k : k + 1] * self._mlp(f"experts.{name}", inputs[name])
        return self._mlp("classifier", h)[:, 0], weights, h

    def predict_pairs(self, inputs: PairInputs, *, fused: bool = False) -> Prediction:
        """The scoring contract shared with baseline.DistanceBaseline: ``predict`` on the pairs' two views."""
        return self.predict(inputs.x_protein, inputs.x_context, fused=fused)

    def predict(self, x_protein: Optional[np.ndarray], x_context: Optional[np.ndarray], batch_size: int = 8192,
                fused: bool = True) -> Prediction:
        """Probabilities, router weights and (``fused=True``) h, ``batch_size`` pairs at a time."""
        if batch_size < 1:
            raise UsageError(f"batch size must be positive, got {batch_size}")
        n = (x_protein if x_protein is not None else x_context).shape[0]
        logits, weights, hs = [], [], []
        for start in range(0, n, batch_size):
            rows = slice(start, start + batch_size)
            logit, weight, h = self.forward(None if x_protein is None else x_protein[rows],
                                            None if x_context is None else x_context[rows])
            logits.append(logit)
            weights.append(weight.astype(np.float32))
            if fused:
                hs.append(h.astype(np.float32))
        logit = np.concatenate(logits).astype(np.float64) if logits else np.zeros(0)
        with np.errstate(over="ignore"):  # a logit of -inf is a probability of 0, not a warning
            probability = 1.0 / (1.0 + np.exp(-logit))
        h = (np.concatenate(hs) if hs else np.zeros((0, self.config.hidden), np.float32)) if fused else None
        check_outputs(probability, h)
        return Prediction(
            probability=probability,
            router_weights=np.concatenate(weights) if weights else np.zeros((0, len(EXPERTS)), np.float32),
            fused=h,
        )


__all__ = ["ABLATIONS", "ARCHS", "EXPERTS", "FusionConfig", "FusionHead", "PairInputs", "Prediction", "ScoringModel",
           "check_outputs", "checked_head", "parameter_shapes"]
