"""A trained torch fusion head (or MLP baseline): its settings, ``predict`` and its model folder.

``TrainedModel`` is what ``training.train`` returns and what ``save``/``load`` turn into and from a model folder
(checkpoint.py: the format, the input contract ``ModelInputs``, the decision rule). ``score`` does not use it: it
reads the same folder in numpy (fusion.FusionHead), without torch. ``load_torch_model`` opens either model kind with
torch (``TrainedModel`` or the numpy ``baseline.DistanceBaseline``).
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Union

import numpy as np
import torch

from .baseline import DistanceBaseline
from .checkpoint import (CONFIG_FILE, Checkpoint, DecisionIdentified, ModelInputs, model_identity, read_checkpoint,
                         write_checkpoint)
from .errors import DataError, UsageError
from .fusion import PairInputs, Prediction, check_outputs, checked_head, plain_scalars
from .vocabulary import EXPERTS, PRECISIONS as PRECISION_NAMES
from .model import FusionConfig, FusionModel
from .runtime import torch_device as _resolve_device

if TYPE_CHECKING:  # pragma: no cover
    from .calibration import DecisionRule

ArrayLike = Union[np.ndarray, torch.Tensor]
PRECISIONS = {name: getattr(torch, name) for name in PRECISION_NAMES}  # TrainConfig.precision: training's arithmetic


# --------------------------------------------------------------------------------------------------
# configs and results


@dataclass(frozen=True)
class TrainConfig:
    """Optimisation settings (paper, Appendix A).

    Attributes:
        lr, weight_decay: AdamW settings (weight decay applies to weight matrices only, not to biases/LayerNorm).
        batch_size: pairs per optimisation step.
        max_epochs: upper bound on epochs.
        patience: stop after this many epochs without a better validation AUROC.
        seed: seeds weight initialisation, dropout and shuffling.
        device: ``cpu`` (the default), ``auto``, ``cuda`` or ``cuda:N``. The CPU by default, where `train --device`
            says ``auto``: a library call gives the same bytes on every machine (train_default relies on it), and a
            head trained on a GPU gives other weights, so other probabilities.
        precision: ``float32`` (the default) or ``float64``, the arithmetic of training; the weights are saved as
            float32 either way. float32 weights differ in their last bits between processors (AVX-512 and SSE sum in
            other orders, and Intel and AMD processors differed even with those held alike); float64 keeps those
            differences near 1e-15, far below float32's rounding, so its saved bytes are the same on any processor
            (train_default uses it), at about twice the time.
    """

    lr: float = 8e-4
    weight_decay: float = 1e-4
    batch_size: int = 4096
    max_epochs: int = 70
    patience: int = 14
    seed: int = 0
    device: str = "cpu"
    precision: str = "float32"

    def __post_init__(self) -> None:  # normalising the fields as built: seed=np.int64(1) was refused
        plain_scalars(self)

    def validate(self) -> "TrainConfig":
        """This config, when every setting is possible; else a UsageError naming the first that is not."""
        for name in ("lr", "weight_decay"):  # lr='0.1' was a TypeError of the comparison below
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, numbers.Real) or math.isnan(value):
                raise UsageError(f"{name} must be a number, got {value!r}")
        if not self.lr > 0:
            raise UsageError(f"learning rate must be > 0, got {self.lr}")
        if self.weight_decay < 0:
            raise UsageError(f"weight decay must be >= 0, got {self.weight_decay}")
        for name in ("batch_size", "max_epochs", "patience"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise UsageError(f"{name} must be a positive integer, got {value!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool) or self.seed < 0:
            raise UsageError(f"seed must be a non-negative integer, got {self.seed!r}")
        _resolve_device(self.device)
        if not isinstance(self.precision, str) or self.precision not in PRECISIONS:  # a list was a TypeError
            raise UsageError(f"precision must be one of {', '.join(PRECISIONS)}, got {self.precision!r}")
        return self

    @property
    def torch_dtype(self) -> torch.dtype:
        return PRECISIONS[self.precision]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        if isinstance(data, dict) and "precision" not in data:  # saved before precision was a setting
            data = {**data, "precision": "float32"}
        if not isinstance(data, dict) or set(data) != names:
            raise DataError("train config has missing or unknown keys")
        try:
            return cls(**data)
        except TypeError as exc:  # pragma: no cover - keys already checked
            raise DataError(f"invalid train config: {exc}") from None




# --------------------------------------------------------------------------------------------------
# tensors in, predictions out


def _as_matrix(x: Optional[ArrayLike], name: str, n: Optional[int] = None) -> Optional[torch.Tensor]:
    """A float32 CPU tensor sharing memory with ``x`` when ``x`` already is float32 (no copy)."""
    if x is None:
        return None
    t = x.detach() if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim != 2:
        raise DataError(f"{name} view must be a 2-D matrix, got shape {tuple(t.shape)}")
    if n is not None and t.shape[0] != n:
        raise DataError(f"{name} view has {t.shape[0]} rows, expected {n}")
    if not (t.is_floating_point() or t.dtype in (torch.int32, torch.int64)):
        raise DataError(f"{name} view must be numeric, got {t.dtype}")
    return t.to(device="cpu", dtype=torch.float32)




def _check_finite(x: torch.Tensor, rows: torch.Tensor, name: str, chunk: int = 8192) -> None:
    for start in range(0, rows.numel(), chunk):
        if not bool(torch.isfinite(x[rows[start : start + chunk]]).all()):
            raise DataError(f"{name} view contains NaN or infinite values")




def _batched_forward(
    model: FusionModel,
    xp: Optional[torch.Tensor],
    xb: Optional[torch.Tensor],
    rows: Optional[torch.Tensor],
    batch_size: int,
    device: torch.device,
    want_fused: bool = True,
    dtype: torch.dtype = torch.float32,
) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """Logits, router weights and (optionally) h for ``rows`` (all rows when None), on CPU as ``dtype``, in eval
    mode."""
    n = (xp if xp is not None else xb).shape[0] if rows is None else rows.numel()
    was_training = model.training
    model.eval()
    logits, weights, fused = [], [], []
    with torch.inference_mode():
        for start in range(0, n, batch_size):
            sel = slice(start, start + batch_size) if rows is None else rows[start : start + batch_size]
            bp = xp[sel].to(device) if xp is not None else None
            bb = xb[sel].to(device) if xb is not None else None
            out = model(bp, bb)
            logits.append(out.logits.to(dtype).cpu())
            weights.append(out.router_weights.to(dtype).cpu())
            if want_fused:
                fused.append(out.h.to(dtype).cpu())
    model.train(was_training)
    d = model.config.hidden
    cat = lambda parts, shape: torch.cat(parts) if parts else torch.zeros(shape)  # noqa: E731
    return (
        cat(logits, (0,)),
        cat(weights, (0, len(EXPERTS))),
        cat(fused, (0, d)) if want_fused else None,
    )




def _tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {key: torch.from_numpy(np.array(array)) for key, array in arrays.items()}




# --------------------------------------------------------------------------------------------------
# the model


class TrainedModel(DecisionIdentified):
    """A fitted fusion head (or baseline) with everything needed to score new pairs.

    Attributes:
        model: the ``FusionModel`` (eval mode, on ``device``, float32: a float64 one is converted in place, the
            caller's module too, as training in float64 gives its weights; score reads float32 weights only).
        model_config, train_config: how it was built and trained.
        threshold: decision threshold chosen on validation (maximising macro-F1).
        history: one dict per epoch (train loss parts, validation loss/AUROC/AUPRC).
        metrics: validation metrics of the kept epoch (at 0.5 and at ``threshold``), best epoch, sizes.
        standardisation: description of the stored standardisation (the values are buffers of ``model``).
        provenance: how the model was made (embedding recipe, training data, seeds), saved with it, never read.
        inputs: the views, context columns and view widths the model reads (checkpoint.ModelInputs).
        decision: the per-genome decision rule (calibration.DecisionRule) ``score`` applies, or None.
    """

    def __init__(
        self,
        model: FusionModel,
        train_config: TrainConfig,
        threshold: float = 0.5,
        history: Optional[list[dict]] = None,
        metrics: Optional[dict] = None,
        standardisation: Optional[dict] = None,
        provenance: Optional[dict] = None,
        device: str = "cpu",
        decision=None,
        inputs: Optional[ModelInputs] = None,
    ) -> None:
        self.decision = decision
        self.model = model.to(torch.float32).eval()  # held, saved and scored as float32, whatever it was trained in
        self.model_config = model.config
        self.train_config = train_config
        self.threshold = float(threshold)
        self.history = list(history or [])
        self.metrics = dict(metrics or {})
        self.standardisation = dict(standardisation or {})
        self.provenance = dict(provenance or {})
        self.inputs = inputs or ModelInputs()
        self.device = _resolve_device(device)
        self.model.to(self.device)

    @property
    def arch(self) -> str:
        return self.model_config.arch

    @property
    def identity(self) -> str:
        """checkpoint.model_identity of the current weights: the same as the saved folder's once saved."""
        arrays = {k: v.detach().cpu().numpy() for k, v in self.model.state_dict().items()}
        return model_identity(self.model_config.to_dict(), self.inputs, arrays)

    def with_decision(self, decision: Optional["DecisionRule"]) -> "TrainedModel":
        """This model (the same torch module) with the per-genome decision rule ``decision``
        (``training_data.decision_rule_from_pairs``; None: the validation threshold): a new object, so whoever
        holds this one keeps the rule it had (a torch module cannot be frozen; its settings are kept unchanged
        instead).

        Raises:
            UsageError: ``decision`` neither a calibration.DecisionRule nor None."""
        from .calibration import DecisionRule

        if decision is not None and not isinstance(decision, DecisionRule):  # was an AttributeError when scoring
            raise UsageError(f"with_decision takes a calibration.DecisionRule (decision_rule_from_pairs learns one) "
                             f"or None, not {type(decision).__name__}")
        return TrainedModel(self.model, self.train_config, self.threshold, self.history, self.metrics,
                            self.standardisation, self.provenance, self.device, decision, self.inputs)

    def predict_pairs(self, inputs: PairInputs, *, fused: bool = False) -> Prediction:
        """The scoring contract of fusion.FusionHead (``score_pairs`` takes either)."""
        return self.predict(inputs.x_protein, inputs.x_context, fused=fused)

    def predict(
        self,
        x_protein: Optional[ArrayLike],
        x_context: Optional[ArrayLike],
        batch_size: int = 8192,
        fused: bool = True,
    ) -> Prediction:
        """Score pairs from raw (unstandardised) views; ``fused=False`` skips returning h (saves memory)."""
        if batch_size < 1:
            raise UsageError(f"batch size must be positive, got {batch_size}")
        cfg = self.model_config
        xp = _as_matrix(x_protein, "protein") if cfg.uses_protein else None
        xb = _as_matrix(x_context, "context") if cfg.uses_context else None
        if cfg.uses_protein and xp is None:
            raise DataError(f"the {cfg.arch} model needs the protein view")
        if cfg.uses_context and xb is None:
            raise DataError(f"the {cfg.arch} model needs the context view")
        if xp is not None and xb is not None and xp.shape[0] != xb.shape[0]:
            raise DataError(f"protein view has {xp.shape[0]} rows but context view has {xb.shape[0]}")
        for t, name in ((xp, "protein"), (xb, "context")):
            if t is not None:
                _check_finite(t, torch.arange(t.shape[0]), name)
        logits, weights, h = _batched_forward(self.model, xp, xb, None, batch_size, self.device, fused)
        probability = torch.sigmoid(logits.double()).numpy()
        check_outputs(probability, None if h is None else h.numpy())
        return Prediction(
            probability=probability,
            router_weights=weights.numpy(),
            fused=None if h is None else h.numpy(),
        )

    # ---------------------------------------------------------------------------------------------
    def save(self, path: Union[str, os.PathLike], provenance: Optional[dict] = None,
             inputs: Optional[ModelInputs] = None) -> Path:
        """Write ``model.safetensors`` + ``config.json`` into directory ``path`` atomically (replacing it);
        ``provenance`` is added to the model's own, ``inputs`` replaces its input contract.

        Returns:
            The folder written.
        Raises:
            UsageError: ``path`` not a str or os.PathLike.
            DataError: the folder cannot be written."""
        return write_checkpoint(
            path, self.model.state_dict(), model=self.model_config.to_dict(), train=self.train_config.to_dict(),
            threshold=self.threshold, standardisation=self.standardisation, history=self.history,
            metrics=self.metrics, decision=self.decision, inputs=inputs or self.inputs,
            provenance={**self.provenance, **(provenance or {})},
        )

    @classmethod
    def load(cls, path: Union[str, os.PathLike], device: str = "cpu") -> "TrainedModel":
        """Read a directory written by ``save``, onto ``device``.

        ``device`` is the head's own and defaults to ``cpu``, where ``score_genome(device=)`` says ``auto``: that one
        places the foundation-model views, the costly work a GPU pays for, while the head is small and ``score``
        runs it in numpy on the CPU; the same weights on a GPU give probabilities a few roundings apart.
        ``"auto"`` takes a GPU when one is visible.

        Raises:
            UsageError: ``path`` not a str or os.PathLike, a device this machine lacks.
            DataError: the folder is missing, corrupted or not a microfuse model."""
        return cls.from_checkpoint(read_checkpoint(path), device)

    @classmethod
    def from_checkpoint(cls, checkpoint: Checkpoint, device: str = "cpu") -> "TrainedModel":
        """The torch model of a folder already read (checkpoint.read_checkpoint); its tensors checked."""
        folder, config = checkpoint.folder, checkpoint.config
        model_config = checked_head(checkpoint)  # before torch allocates what the config asks for
        train_config = TrainConfig.from_dict(config["train"])
        with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten: leave the caller's RNG alone
            try:
                model = FusionModel(model_config)
            except UsageError as exc:
                raise DataError(f"{folder / CONFIG_FILE}: {exc}") from None
        tensors = _tensors(checkpoint.arrays)
        model.load_state_dict(tensors, strict=True)
        return cls(
            model,
            train_config,
            threshold=config["threshold"],
            history=config["history"],
            metrics=config["metrics"],
            standardisation=config["standardisation"],
            provenance=checkpoint.provenance,
            device=device,
            decision=checkpoint.decision,
            inputs=checkpoint.inputs,
        )




def load_torch_model(path, device: str = "cpu") -> Union[TrainedModel, DistanceBaseline]:
    """Open any saved microfuse model directory with torch, on ``device`` (``cpu`` unless told, as
    ``TrainedModel.load`` says why): a fusion head or MLP baseline as a
    ``TrainedModel`` (to predict on a GPU, train further or save again), a distance model as the numpy
    ``baseline.DistanceBaseline`` (it has no torch form). To score, ``score.load_model`` reads the same folder in
    numpy, without importing torch."""
    checkpoint = read_checkpoint(path)
    if checkpoint.arch == "distance":
        return DistanceBaseline.from_checkpoint(checkpoint)
    return TrainedModel.from_checkpoint(checkpoint, device)


#: The former name, which README documented; kept so that code written to it still runs. It was renamed because
#: ``score.load_model`` (the public ``microfuse_cli.load_model``) reads alike and loads the numpy scorer.
load_model = load_torch_model


