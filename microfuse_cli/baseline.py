"""The classic operon predictor, intergenic distance alone: a numpy model with the fusion head's scoring contract
(``predict_pairs``), so that scoring with it never imports torch (its folder: checkpoint.py)."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping, Optional

import numpy as np

from .checkpoint import CONFIG_FILE, WEIGHTS_FILE, Checkpoint, DecisionIdentified, ModelInputs, model_identity, \
    read_checkpoint, write_checkpoint
from .errors import DataError, UsageError
from .fusion import PairInputs, Prediction, check_outputs
from .records import RebuiltFromFields, read_only


_SOLVER = "sklearn-newton-cholesky"


def _finite_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and bool(np.isfinite(value))


def _fit_logistic(z: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float, list[dict]]:
    """(weights, bias, history) minimising the log-loss summed over rows plus ``l2 * n / 2 * |w|^2``.

    scikit-learn minimises ``|w|^2 / 2 + C * sum(log-loss)``, so ``C = 1 / (l2 * n)``; the bias is not penalised.
    """
    from sklearn.linear_model import LogisticRegression

    c = 1.0 / (l2 * z.shape[0]) if l2 > 0 else np.inf
    fit = LogisticRegression(C=c, solver="newton-cholesky", tol=1e-10, max_iter=100).fit(z, y)
    history = [{"solver": _SOLVER, "iterations": int(fit.n_iter_[0])}]
    return fit.coef_[0].astype(np.float64), float(fit.intercept_[0]), history


@dataclass(frozen=True, eq=False)
class DistanceBaseline(RebuiltFromFields, DecisionIdentified):
    """The classic operon predictor: logistic regression on the intergenic spacer (and the strand, if given).

    Features: ``s = sign(d) * log1p(|d|)`` with ``d`` the spacer in bp clipped to ``clip`` (negative = overlap),
    plus a 0/1 opposite-strand flag when the model was fitted with one; features are standardised on the training
    split. Fitted by scikit-learn's ``LogisticRegression`` (Newton-Cholesky solver: deterministic, no RNG) with
    the penalty ``l2 * n_train / 2 * |w|^2`` on the weights, not the bias.
    """

    weight: np.ndarray
    bias: float
    feature_mean: np.ndarray
    feature_std: np.ndarray
    clip: tuple[float, float] = (-200.0, 2000.0)
    uses_strand: bool = False
    l2: float = 1e-3
    threshold: float = 0.5
    metrics: Mapping[str, Any] = field(default_factory=dict)
    history: tuple = ()
    provenance: Mapping[str, Any] = field(default_factory=dict)
    inputs: ModelInputs = ModelInputs()
    decision: Any = None  # a calibration.DecisionRule, as on the fusion head; None: cut at ``threshold``

    arch = "distance"

    def __post_init__(self) -> None:  # immutable as the fusion head: read-only arrays, mappings and tuples
        for name in ("weight", "feature_mean", "feature_std"):
            object.__setattr__(self, name, read_only(np.asarray(getattr(self, name), dtype=np.float64)))
        object.__setattr__(self, "clip", tuple(self.clip))
        object.__setattr__(self, "metrics", MappingProxyType(dict(self.metrics)))
        object.__setattr__(self, "history", tuple(self.history))
        object.__setattr__(self, "provenance", MappingProxyType(dict(self.provenance)))

    @staticmethod
    def _features(distance, opposite_strand, clip: tuple[float, float], uses_strand: bool) -> np.ndarray:
        d = np.asarray(distance, dtype=np.float64)
        if d.ndim != 1:
            raise DataError(f"distances must be 1-D, got shape {d.shape}")
        if not np.isfinite(d).all():
            raise DataError("distances contain NaN or infinite values")
        d = np.clip(d, clip[0], clip[1])
        columns = [np.sign(d) * np.log1p(np.abs(d))]
        if uses_strand:
            if opposite_strand is None:
                raise DataError("this distance model was fitted with strands; pass opposite_strand")
            s = np.asarray(opposite_strand)
            if s.shape != d.shape or not np.isin(s, (0, 1)).all():
                raise DataError("opposite_strand must be 0/1 (or bool) with one value per pair")
            columns.append(s.astype(np.float64))
        return np.stack(columns, axis=1)

    @classmethod
    def fit(
        cls,
        distance,
        y,
        train_mask,
        val_mask=None,
        opposite_strand=None,
        clip: tuple[float, float] = (-200.0, 2000.0),
        l2: float = 1e-3,
    ) -> "DistanceBaseline":
        """Fit on the training rows; the macro-F1 threshold is chosen on ``val_mask`` (training rows if None)."""
        from .metrics import binary_metrics, choose_threshold  # scikit-learn: for fitting, not for scoring
        if not clip[0] < clip[1]:
            raise UsageError(f"clip must be (low, high) with low < high, got {clip}")
        if not l2 >= 0:
            raise UsageError(f"l2 must be >= 0, got {l2}")
        uses_strand = opposite_strand is not None
        x = cls._features(distance, opposite_strand, clip, uses_strand)
        y = np.asarray(y)
        n = x.shape[0]
        if y.shape != (n,) or not np.isin(y, (0, 1)).all():
            raise DataError(f"expected {n} labels of 0/1")
        tr = np.asarray(train_mask)
        va = tr if val_mask is None else np.asarray(val_mask)
        for m, name in ((tr, "train_mask"), (va, "val_mask")):
            if m.dtype != bool or m.shape != (n,):
                raise DataError(f"{name} must be a boolean array of length {n}")
            if len(np.unique(y[m])) < 2:
                raise DataError(f"the {name.split('_')[0]} split needs both positive and negative pairs")
        mean = x[tr].mean(0)
        std = x[tr].std(0)
        std[std < 1e-12] = 1.0
        weight, bias, history = _fit_logistic((x[tr] - mean) / std, y[tr], l2)
        model = cls(weight, bias, mean, std, (float(clip[0]), float(clip[1])), uses_strand, l2, history=history)
        p_val = model.predict(distance, opposite_strand).probability[va]
        threshold = choose_threshold(y[va], p_val, "macro_f1")
        return replace(model, threshold=threshold, metrics={
            "n_train": int(tr.sum()),
            "n_validation": int(va.sum()),
            "validation": binary_metrics(y[va], p_val, 0.5),
            "validation_at_threshold": binary_metrics(y[va], p_val, threshold),
        })

    def predict_pairs(self, inputs: PairInputs, *, fused: bool = False) -> Prediction:
        """The scoring contract shared with fusion.FusionHead: ``predict`` on the pairs' spacers and strands (a
        distance model has no fused vector, whatever ``fused`` asks)."""
        return self.predict(inputs.distance, ~np.asarray(inputs.same_strand, dtype=bool))

    def predict(self, distance, opposite_strand=None) -> Prediction:
        """Probability per pair (no router weights, no fused vector)."""
        x = self._features(distance, opposite_strand, self.clip, self.uses_strand)
        with np.errstate(over="ignore", invalid="ignore"):  # a hostile model's overflow: refused just below
            z = (x - self.feature_mean) / self.feature_std
            probability = 1.0 / (1.0 + np.exp(-(z @ self.weight + self.bias)))
        check_outputs(probability)
        return Prediction(probability=probability)

    def _tensors(self) -> dict[str, np.ndarray]:
        """The saved tensors (float64, as ``from_checkpoint`` requires them)."""
        return {
            "weight": np.ascontiguousarray(self.weight, dtype=np.float64),
            "bias": np.array([self.bias], dtype=np.float64),
            "feature_mean": np.ascontiguousarray(self.feature_mean, dtype=np.float64),
            "feature_std": np.ascontiguousarray(self.feature_std, dtype=np.float64),
        }

    def _spec(self) -> dict[str, Any]:
        """The saved ``model`` section of the config."""
        return {"arch": "distance", "clip": list(self.clip), "uses_strand": self.uses_strand}

    @property
    def identity(self) -> str:
        """checkpoint.model_identity, as a fusion head's: a fitted baseline is a model too (two fitted on different
        genomes score differently), and its identity is the same before saving and after loading."""
        return model_identity(self._spec(), self.inputs, self._tensors())

    def save(self, path, provenance: Optional[dict] = None, inputs: Optional[ModelInputs] = None) -> Path:
        """Same folder format as ``TrainedModel.save`` with ``model.arch = "distance"``; ``provenance`` is added to
        the model's own, ``inputs`` replaces its input contract."""
        return write_checkpoint(
            path, self._tensors(),
            model=self._spec(),
            train={"l2": self.l2, "solver": _SOLVER, "threshold_criterion": "macro_f1"},
            threshold=self.threshold,
            standardisation={"computed_on": "training split", "tensors": ["feature_mean", "feature_std"]},
            history=self.history, metrics=self.metrics, decision=self.decision, inputs=inputs or self.inputs,
            provenance={**self.provenance, **(provenance or {})},
        )

    @classmethod
    def load(cls, path) -> "DistanceBaseline":
        return cls.from_checkpoint(read_checkpoint(path))

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint) -> "DistanceBaseline":
        """The distance baseline of a model folder already read (checkpoint.read_checkpoint)."""
        folder, config, tensors = checkpoint.folder, checkpoint.config, checkpoint.arrays
        spec = config["model"]
        if spec.get("arch") != "distance":
            raise DataError(f"{folder}: holds a {spec.get('arch')!r} model, not a distance baseline")
        if set(spec) != {"arch", "clip", "uses_strand"} or not isinstance(spec["uses_strand"], bool):
            raise DataError(f"{folder / CONFIG_FILE}: invalid distance model config")
        clip = spec["clip"]
        if not (isinstance(clip, list) and len(clip) == 2 and all(map(_finite_number, clip)) and clip[0] < clip[1]):
            raise DataError(f"{folder / CONFIG_FILE}: invalid clip {clip!r} (two numbers, low < high)")
        k = 2 if spec["uses_strand"] else 1
        shapes = {"weight": (k,), "bias": (1,), "feature_mean": (k,), "feature_std": (k,)}
        if set(tensors) != set(shapes) or any(tuple(tensors[n].shape) != s or tensors[n].dtype != np.float64
                                              for n, s in shapes.items()):
            raise DataError(f"{folder / WEIGHTS_FILE}: tensors do not match a distance model (float64 "
                            f"{', '.join(f'{n} {s}' for n, s in shapes.items())})")
        if not bool((tensors["feature_std"] > 0).all()):
            raise DataError(f"{folder / WEIGHTS_FILE}: tensor 'feature_std' holds a standard deviation <= 0")
        train_cfg = config["train"]
        if not (_finite_number(train_cfg.get("l2", 1e-3)) and train_cfg.get("l2", 1e-3) >= 0):
            raise DataError(f"{folder / CONFIG_FILE}: invalid l2 {train_cfg.get('l2')!r} (a number >= 0)")
        return cls(
            weight=np.asarray(tensors["weight"], dtype=np.float64),
            bias=float(tensors["bias"][0]),
            feature_mean=np.asarray(tensors["feature_mean"], dtype=np.float64),
            feature_std=np.asarray(tensors["feature_std"], dtype=np.float64),
            clip=(float(clip[0]), float(clip[1])),
            uses_strand=spec["uses_strand"],
            l2=float(train_cfg.get("l2", 1e-3)),
            threshold=float(config["threshold"]),
            metrics=config["metrics"],
            history=config["history"],
            provenance=checkpoint.provenance,
            inputs=checkpoint.inputs,
            decision=checkpoint.decision,
        )

