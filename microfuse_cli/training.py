"""Training and prediction with torch (docs/method.md, "Training protocol").

A trained model is a folder of ``model.safetensors`` + ``config.json`` written atomically (checkpoint.py: the format,
and the input contract ``ModelInputs`` a model records: views, context columns, view widths). No timestamps, so the
same training run gives the same bytes. ``load_training_data`` gathers labelled pairs tables and their embeddings.

Two model kinds share the format: ``TrainedModel`` (fusion head or its baselines) and ``DistanceBaseline``
(``arch = "distance"``, the classic intergenic-distance logistic regression). ``load_model`` opens either.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Optional, Sequence, Union

import numpy as np
import torch

from . import __version__
from .baseline import DistanceBaseline, distance_model, jsonable as _jsonable  # noqa: F401 (re-exported)
from .calibration import DecisionRule
from .checkpoint import CONFIG_FILE, FORMAT, FORMAT_VERSION, WEIGHTS_FILE, ModelInputs, read_checkpoint, \
    read_model_dir, write_model_dir
from .errors import DataError, UsageError
from .metrics import EXPERTS, auroc, auprc, binary_metrics, choose_threshold, router_weight_means
from .fusion import Prediction
from .model import FusionConfig, FusionModel, total_loss
from .runtime import torch_device as _resolve_device

ArrayLike = Union[np.ndarray, torch.Tensor]
Progress = Callable[[dict], None]


# --------------------------------------------------------------------------------------------------
# configs and results


@dataclass
class TrainConfig:
    """Optimisation settings (paper, Appendix A).

    Attributes:
        lr, weight_decay: AdamW settings (weight decay applies to weight matrices only, not to biases/LayerNorm).
        batch_size: pairs per optimisation step.
        max_epochs: upper bound on epochs.
        patience: stop after this many epochs without a better validation AUROC.
        seed: seeds weight initialisation, dropout and shuffling.
        device: ``cpu``, ``cuda`` or ``cuda:N``.
    """

    lr: float = 8e-4
    weight_decay: float = 1e-4
    batch_size: int = 4096
    max_epochs: int = 70
    patience: int = 14
    seed: int = 0
    device: str = "cpu"

    def validate(self) -> "TrainConfig":
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
        return self

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Any) -> "TrainConfig":
        names = {f.name for f in dataclasses.fields(cls)}
        if not isinstance(data, dict) or set(data) != names:
            raise DataError("train config has missing or unknown keys")
        try:
            return cls(**data)
        except TypeError as exc:  # pragma: no cover - keys already checked
            raise DataError(f"invalid train config: {exc}") from None


# --------------------------------------------------------------------------------------------------
# helpers


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


def _as_mask(mask: ArrayLike, n: int, name: str) -> torch.Tensor:
    m = torch.as_tensor(np.asarray(mask))
    if m.dtype != torch.bool or m.shape != (n,):
        raise DataError(f"{name} must be a boolean array of length {n}, got {m.dtype} {tuple(m.shape)}")
    return m


def _check_finite(x: torch.Tensor, rows: torch.Tensor, name: str, chunk: int = 8192) -> None:
    for start in range(0, rows.numel(), chunk):
        if not bool(torch.isfinite(x[rows[start : start + chunk]]).all()):
            raise DataError(f"{name} view contains NaN or infinite values")


def _column_stats(x: torch.Tensor, rows: torch.Tensor, chunk: int = 8192) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean and (population) std of ``x[rows]``, accumulated in float64 chunk by chunk (no full copy)."""
    total = torch.zeros(x.shape[1], dtype=torch.float64)
    for start in range(0, rows.numel(), chunk):
        total += x[rows[start : start + chunk]].to(torch.float64).sum(0)
    mean = total / rows.numel()
    sq = torch.zeros(x.shape[1], dtype=torch.float64)
    for start in range(0, rows.numel(), chunk):
        sq += ((x[rows[start : start + chunk]].to(torch.float64) - mean) ** 2).sum(0)
    return mean.float(), (sq / rows.numel()).sqrt().float()


@contextlib.contextmanager
def _seeded(seed: int, device: torch.device) -> Iterator[None]:
    """Seed torch inside a forked RNG scope, so the caller's RNG state is restored afterwards.

    ``torch.use_deterministic_algorithms`` is deliberately not switched on: every op used here is deterministic on
    CPU already (a test checks bit-identical runs), the switch is process-global, its first call costs ~1.5 s of
    imports, and on CUDA it would need ``CUBLAS_WORKSPACE_CONFIG`` set before start-up. GPU runs are therefore
    reproducible only up to floating-point reduction order.
    """
    devices = [device.index or 0] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _batched_forward(
    model: FusionModel,
    xp: Optional[torch.Tensor],
    xb: Optional[torch.Tensor],
    rows: Optional[torch.Tensor],
    batch_size: int,
    device: torch.device,
    want_fused: bool = True,
) -> tuple[torch.Tensor, torch.Tensor, Optional[torch.Tensor]]:
    """Logits, router weights and (optionally) h for ``rows`` (all rows when None), on CPU, in eval mode."""
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
            logits.append(out.logits.float().cpu())
            weights.append(out.router_weights.float().cpu())
            if want_fused:
                fused.append(out.h.float().cpu())
    model.train(was_training)
    d = model.config.hidden
    cat = lambda parts, shape: torch.cat(parts) if parts else torch.zeros(shape)  # noqa: E731
    return (
        cat(logits, (0,)),
        cat(weights, (0, len(EXPERTS))),
        cat(fused, (0, d)) if want_fused else None,
    )


def _write_model_dir(path, tensors: dict[str, torch.Tensor], config: dict[str, Any]) -> Path:
    return write_model_dir(path, {k: v.detach().cpu().contiguous() for k, v in tensors.items()}, _jsonable(config))


def _tensors(arrays: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {key: torch.from_numpy(np.array(array)) for key, array in arrays.items()}


def _read_model_dir(path) -> tuple[dict[str, Any], dict[str, torch.Tensor]]:
    """Config and tensors of a model directory (``checkpoint.read_model_dir``, as torch tensors)."""
    config, arrays = read_model_dir(path)
    return config, _tensors(arrays)


def _merged_extra(extra: dict, more: Optional[dict], inputs: Optional[ModelInputs]) -> dict:
    """``extra`` updated with ``more``, then with the input contract ``inputs`` (views, columns, widths)."""
    return {**extra, **(more or {}), **(inputs.to_extra() if inputs is not None else {})}


# --------------------------------------------------------------------------------------------------
# the fusion model


class TrainedModel:
    """A fitted fusion head (or baseline) with everything needed to score new pairs.

    Attributes:
        model: the ``FusionModel`` (eval mode, on ``device``).
        model_config, train_config: how it was built and trained.
        threshold: decision threshold chosen on validation (maximising macro-F1).
        history: one dict per epoch (train loss parts, validation loss/AUROC/AUPRC).
        metrics: validation metrics of the kept epoch (at 0.5 and at ``threshold``), best epoch, sizes.
        standardisation: description of the stored standardisation (the values are buffers of ``model``).
        extra: caller metadata saved with the model.
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
        extra: Optional[dict] = None,
        device: str = "cpu",
        decision=None,
    ) -> None:
        self.decision = decision
        self.model = model.eval()
        self.model_config = model.config
        self.train_config = train_config
        self.threshold = float(threshold)
        self.history = list(history or [])
        self.metrics = dict(metrics or {})
        self.standardisation = dict(standardisation or {})
        self.extra = dict(extra or {})
        self.device = _resolve_device(device)
        self.model.to(self.device)

    @property
    def arch(self) -> str:
        return self.model_config.arch

    @property
    def inputs(self) -> ModelInputs:
        """The views, context columns and view widths the model reads (kept in ``extra`` on disk)."""
        return ModelInputs.from_extra(self.extra)

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
        return Prediction(
            probability=torch.sigmoid(logits.double()).numpy(),
            router_weights=weights.numpy(),
            fused=None if h is None else h.numpy(),
        )

    # ---------------------------------------------------------------------------------------------
    def save(self, path, extra: Optional[dict] = None, inputs: Optional[ModelInputs] = None) -> Path:
        """Write ``model.safetensors`` + ``config.json`` into directory ``path`` atomically (replacing it), with
        ``extra`` metadata and the input contract ``inputs``."""
        merged = _merged_extra(self.extra, extra, inputs)
        config = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "microfuse_version": __version__,
            "model": self.model_config.to_dict(),
            "train": self.train_config.to_dict(),
            "threshold": self.threshold,
            "standardisation": self.standardisation,
            "history": self.history,
            "metrics": self.metrics,
            "extra": merged,
            "decision": None if self.decision is None else self.decision.to_dict(),
        }
        return _write_model_dir(path, self.model.state_dict(), config)

    @classmethod
    def load(cls, path, device: str = "cpu") -> "TrainedModel":
        """Read a directory written by ``save``; refuses anything corrupted or foreign with ``DataError``."""
        config, tensors = _read_model_dir(path)
        return cls._from_parts(Path(path), config, tensors, device)

    @classmethod
    def _from_parts(cls, folder: Path, config: dict, tensors: dict, device: str) -> "TrainedModel":
        if config["model"].get("arch") == "distance":
            raise DataError(f"{folder}: holds a distance baseline, not a fusion model (use load_model)")
        model_config = FusionConfig.from_dict(config["model"])
        train_config = TrainConfig.from_dict(config["train"])
        try:
            model = FusionModel(model_config)
        except UsageError as exc:
            raise DataError(f"{folder / CONFIG_FILE}: {exc}") from None
        expected = model.state_dict()
        if set(tensors) != set(expected):
            missing = sorted(set(expected) - set(tensors))[:3]
            unknown = sorted(set(tensors) - set(expected))[:3]
            raise DataError(
                f"{folder / WEIGHTS_FILE}: tensors do not match the config (missing {missing}, unknown {unknown})"
            )
        for key, ref in expected.items():
            got = tensors[key]
            if tuple(got.shape) != tuple(ref.shape) or got.dtype != ref.dtype:
                raise DataError(
                    f"{folder / WEIGHTS_FILE}: tensor {key!r} is {got.dtype} {tuple(got.shape)}, "
                    f"the config needs {ref.dtype} {tuple(ref.shape)}"
                )
        model.load_state_dict(tensors, strict=True)
        return cls(
            model,
            train_config,
            threshold=config["threshold"],
            history=config["history"],
            metrics=config["metrics"],
            standardisation=config["standardisation"] if isinstance(config["standardisation"], dict) else {},
            extra=config["extra"],
            device=device,
            decision=None if config["decision"] is None else DecisionRule.from_dict(config["decision"]),
        )


def _split_rows(y: torch.Tensor, train_mask: torch.Tensor, val_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    if bool((train_mask & val_mask).any()):
        raise DataError("training and validation splits overlap")
    train_rows = torch.nonzero(train_mask).flatten()
    val_rows = torch.nonzero(val_mask).flatten()
    for rows, name in ((train_rows, "training"), (val_rows, "validation")):
        labels = y[rows]
        if rows.numel() == 0 or bool((labels == 0).all()) or bool((labels == 1).all()):
            raise DataError(f"the {name} split needs both positive and negative pairs")
    return train_rows, val_rows


def _labels(y: ArrayLike, n: int) -> torch.Tensor:
    t = torch.as_tensor(np.asarray(y))
    if t.shape != (n,):
        raise DataError(f"expected {n} labels, got shape {tuple(t.shape)}")
    if not bool(((t == 0) | (t == 1)).all()):
        raise DataError("labels must be 0 or 1")
    return t.to(torch.float32)


def train(
    x_protein: Optional[ArrayLike],
    x_context: Optional[ArrayLike],
    y: ArrayLike,
    train_mask: ArrayLike,
    val_mask: ArrayLike,
    model_config: FusionConfig,
    train_config: TrainConfig,
    progress: Optional[Progress] = None,
) -> TrainedModel:
    """Fit a fusion head with AdamW and early stopping on validation AUROC; keeps the best epoch's weights.

    Args:
        x_protein: (n, protein_dim) raw protein view (``None`` for the ``context`` baseline). float32 input is used
            in place, without a copy.
        x_context: (n, context_dim) raw context view (``None`` for the ``protein`` baseline).
        y: (n,) labels 0/1.
        train_mask, val_mask: (n,) boolean, disjoint; standardisation statistics come from the training rows.
        model_config: architecture; ``protein_dim``/``context_dim`` left ``None`` are taken from the data.
        train_config: optimisation settings, seed and device.
        progress: called after every epoch with a dict (``epoch``, ``max_epochs``, ``train_loss``, ``val_auroc``,
            ``best_val_auroc``, ``best_epoch``, ``improved``, ``seconds``).

    Returns:
        The ``TrainedModel`` at the best validation epoch, with the macro-F1 threshold chosen on validation.

    Raises:
        DataError: inconsistent shapes, non-finite values, a split without both classes, or divergence.
        UsageError: impossible settings (unknown device, non-positive batch size, ...).
    """
    model_config.validate()
    train_config.validate()
    device = _resolve_device(train_config.device)
    y_all = torch.as_tensor(np.asarray(y))
    n = int(y_all.shape[0]) if y_all.ndim == 1 else -1
    if n < 0:
        raise DataError(f"labels must be 1-D, got shape {tuple(y_all.shape)}")
    xp = _as_matrix(x_protein, "protein", n) if model_config.uses_protein else None
    xb = _as_matrix(x_context, "context", n) if model_config.uses_context else None
    if model_config.uses_protein and xp is None:
        raise DataError(f"the {model_config.arch} model needs the protein view")
    if model_config.uses_context and xb is None:
        raise DataError(f"the {model_config.arch} model needs the context view")
    dims = {}
    for t, name in ((xp, "protein_dim"), (xb, "context_dim")):
        if t is None:
            continue
        given = getattr(model_config, name)
        if given is not None and given != t.shape[1]:
            raise DataError(f"{name} is {given} in the model config but the data has {t.shape[1]} columns")
        dims[name] = int(t.shape[1])
    model_config = dataclasses.replace(model_config, **dims)
    labels = _labels(y_all, n)
    train_rows, val_rows = _split_rows(labels, _as_mask(train_mask, n, "train_mask"), _as_mask(val_mask, n, "val_mask"))
    used = torch.cat([train_rows, val_rows])
    stats: dict[str, tuple[torch.Tensor, torch.Tensor]] = {}
    for t, name in ((xp, "protein"), (xb, "context")):
        if t is not None:
            _check_finite(t, used, name)
            stats[name] = _column_stats(t, train_rows)

    # On an accelerator the two splits are copied there once; on CPU batches are gathered from the input in place.
    if device.type != "cpu":
        xp_tr, xb_tr = (t[train_rows].to(device) if t is not None else None for t in (xp, xb))
        xp_va, xb_va = (t[val_rows].to(device) if t is not None else None for t in (xp, xb))
        tr_index: Optional[torch.Tensor] = None
        va_index: Optional[torch.Tensor] = None
    else:
        xp_tr, xb_tr, xp_va, xb_va = xp, xb, xp, xb
        tr_index, va_index = train_rows, val_rows
    y_tr = labels[train_rows].to(device)
    y_va = labels[val_rows].numpy().astype(np.int64)
    n_train = train_rows.numel()
    bs = train_config.batch_size

    generator = torch.Generator().manual_seed(train_config.seed)
    history: list[dict] = []
    best = {"auroc": -math.inf, "epoch": 0, "state": None}
    with _seeded(train_config.seed, device):
        model = FusionModel(model_config)
        model.set_standardisation(stats.get("protein"), stats.get("context"))
        model.to(device)
        decay = [p for p in model.parameters() if p.ndim >= 2]
        no_decay = [p for p in model.parameters() if p.ndim < 2]
        optimiser = torch.optim.AdamW(
            [{"params": decay, "weight_decay": train_config.weight_decay}, {"params": no_decay, "weight_decay": 0.0}],
            lr=train_config.lr,
        )
        stale = 0
        for epoch in range(1, train_config.max_epochs + 1):
            started = time.perf_counter()
            model.train()
            order = torch.randperm(n_train, generator=generator)
            sums: dict[str, float] = {}
            total, seen = 0.0, 0
            for start in range(0, n_train, bs):
                local = order[start : start + bs]
                rows = local if tr_index is None else tr_index[local]
                bp = xp_tr[rows.to(xp_tr.device)].to(device) if xp_tr is not None else None
                bb = xb_tr[rows.to(xb_tr.device)].to(device) if xb_tr is not None else None
                out = model(bp, bb)
                loss, parts = total_loss(out, y_tr[local.to(device)], model_config)
                if not bool(torch.isfinite(loss)):
                    raise DataError(f"training diverged at epoch {epoch} (loss is not finite); try a lower learning rate")
                optimiser.zero_grad(set_to_none=True)
                loss.backward()
                optimiser.step()
                k = local.numel()
                total += float(loss.detach()) * k
                seen += k
                for key, value in parts.items():
                    sums[key] = sums.get(key, 0.0) + value * k
            logits, _, _ = _batched_forward(model, xp_va, xb_va, va_index, 8192, device, want_fused=False)
            prob = torch.sigmoid(logits.double()).numpy()
            val_auroc = auroc(y_va, prob)
            val_bce = float(
                torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.as_tensor(y_va, dtype=torch.float32))
            )
            record = {"epoch": epoch, "train_loss": total / seen}
            record.update({f"train_{key}": value / seen for key, value in sums.items()})
            record.update({"val_bce": val_bce, "val_auroc": val_auroc, "val_auprc": auprc(y_va, prob)})
            history.append(record)
            improved = val_auroc > best["auroc"]
            if improved:
                best = {
                    "auroc": val_auroc,
                    "epoch": epoch,
                    "state": {k: v.detach().clone() for k, v in model.state_dict().items()},
                }
                stale = 0
            else:
                stale += 1
            if progress is not None:
                progress(
                    {
                        "epoch": epoch,
                        "max_epochs": train_config.max_epochs,
                        "train_loss": record["train_loss"],
                        "val_auroc": val_auroc,
                        "best_val_auroc": best["auroc"],
                        "best_epoch": best["epoch"],
                        "improved": improved,
                        "seconds": time.perf_counter() - started,
                    }
                )
            if stale >= train_config.patience:
                break

    model.load_state_dict(best["state"])
    model.eval()
    logits, weights, _ = _batched_forward(model, xp_va, xb_va, va_index, 8192, device, want_fused=False)
    prob = torch.sigmoid(logits.double()).numpy()
    threshold = choose_threshold(y_va, prob, "macro_f1")
    metrics = {
        "best_epoch": best["epoch"],
        "epochs_run": len(history),
        "n_train": int(n_train),
        "n_validation": int(val_rows.numel()),
        "validation": binary_metrics(y_va, prob, 0.5),
        "validation_at_threshold": binary_metrics(y_va, prob, threshold),
        "validation_router_means": router_weight_means(weights.numpy()),
    }
    standardisation = {
        "computed_on": "training split",
        "n_rows": int(n_train),
        "tensors": sorted(k for k in model.state_dict() if k.endswith("_mean") or k.endswith("_std")),
    }
    return TrainedModel(
        model.cpu(),
        train_config,
        threshold=threshold,
        history=history,
        metrics=metrics,
        standardisation=standardisation,
        device=train_config.device,
    )


@dataclass
class SeedRuns:
    """Several seeds of one configuration: the models and their validation metrics, per seed and summarised.

    ``std`` is the sample standard deviation (ddof = 1; 0 with a single seed).
    """

    seeds: list[int]
    models: list[TrainedModel]
    per_seed: list[dict[str, float]]
    mean: dict[str, float] = field(default_factory=dict)
    std: dict[str, float] = field(default_factory=dict)


def train_seeds(
    x_protein: Optional[ArrayLike],
    x_context: Optional[ArrayLike],
    y: ArrayLike,
    train_mask: ArrayLike,
    val_mask: ArrayLike,
    model_config: FusionConfig,
    train_config: TrainConfig,
    seeds: Sequence[int] = (0, 1, 2),
    progress: Optional[Progress] = None,
) -> SeedRuns:
    """Train one model per seed (``train_config.seed`` is replaced) and summarise validation metrics."""
    if not seeds:
        raise UsageError("at least one seed is needed")
    models, per_seed = [], []
    for seed in seeds:
        callback = None if progress is None else (lambda info, s=seed: progress({**info, "seed": s}))
        model = train(
            x_protein, x_context, y, train_mask, val_mask, model_config,
            dataclasses.replace(train_config, seed=int(seed)), callback,
        )  # fmt: skip
        models.append(model)
        per_seed.append({k: v for k, v in model.metrics["validation"].items() if isinstance(v, float)})
    keys = per_seed[0].keys()
    mean = {k: float(np.mean([m[k] for m in per_seed])) for k in keys}
    std = {k: float(np.std([m[k] for m in per_seed], ddof=1)) if len(per_seed) > 1 else 0.0 for k in keys}
    return SeedRuns([int(s) for s in seeds], models, per_seed, mean, std)


# --------------------------------------------------------------------------------------------------
# training data: labelled pairs tables and their embedding folders


def resolve_context_features(spec: str, emb) -> list[str] | None:
    """'all' -> None; a preset name or a comma list -> the matching context column names of ``emb``."""
    from .embed import CONTEXT_PRESETS

    if spec == "all":
        return None
    wanted = CONTEXT_PRESETS.get(spec) or tuple(n.strip() for n in spec.split(",") if n.strip())
    names = emb.context_names
    chosen = [n for n in names if n in wanted or n.split(":", 1)[-1] in wanted]
    unknown = [w for w in wanted if not any(n == w or n.split(":", 1)[-1] == w for n in names)]
    if unknown or not chosen:
        raise UsageError(f"--context-features: unknown feature(s) {', '.join(unknown[:4]) or spec} "
                         f"(presets: all, {', '.join(CONTEXT_PRESETS)})")
    return chosen


@dataclass(frozen=True)
class TrainingData:
    """Labelled pairs of one or more genomes, row-aligned: their pair views, labels, split masks, spacers and
    strands, and the embedding manifest (of the first folder; all hold the same views)."""

    x_protein: np.ndarray
    x_context: np.ndarray
    y: np.ndarray
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    distance: np.ndarray
    opposite: np.ndarray
    pairs: list
    manifest: dict
    context_features: Optional[list[str]]

    @property
    def inputs(self) -> ModelInputs:
        """The input contract of a model trained on these pairs: views, context columns, view widths."""
        return ModelInputs.from_embeddings(self.manifest.get("views") or {}, self.manifest.get("dims") or {},
                                           self.context_features)

    def metadata(self) -> dict:
        """What a model records of its training data besides its inputs: the embedding manifest, pair counts."""
        return {
            "embedding_manifest": {k: v for k, v in self.manifest.items() if k not in ("files_sha256",)},
            "training_pairs": int(self.train.sum()), "validation_pairs": int(self.val.sum()),
        }


def load_training_data(pair_paths, embedding_dirs, val_fraction, seed, context_spec="all") -> TrainingData:
    """Concatenate labelled pairs of one or more genomes with their pair views and splits."""
    from .embed import Embeddings
    from .pairs import assign_splits, read_pairs

    if len(pair_paths) != len(embedding_dirs):
        raise UsageError(f"give one --embeddings folder per pairs table ({len(pair_paths)} tables, "
                         f"{len(embedding_dirs)} folders)")
    xs_p, xs_c, ys, splits, distances, opposite, manifests, all_pairs = [], [], [], [], [], [], [], []
    for path, folder in zip(pair_paths, embedding_dirs):
        pairs = [p for p in read_pairs(path).pairs if p.label is not None]
        if not pairs:
            raise DataError(f"{path}: no labelled pairs (a `label` column from `microfuse pairs --operons`)")
        if any(p.split is None for p in pairs):
            if val_fraction is None:
                raise UsageError(f"{path} has no split column: give --val-fraction (or `pairs --split`)")
            pairs = assign_splits(pairs, (1 - val_fraction, val_fraction, 0.0), seed=seed)
        emb = Embeddings.load(folder)
        features = resolve_context_features(context_spec, emb)
        x_p, x_c = emb.pair_views(pairs, features)
        xs_p.append(x_p), xs_c.append(x_c), manifests.append(emb.manifest)
        ys.append(np.array([p.label for p in pairs]))
        splits.append(np.array([p.split for p in pairs]))
        distances.append(np.array([p.distance for p in pairs], dtype=np.float64))
        opposite.append(np.array([not p.same_strand for p in pairs]))
        all_pairs += pairs
    views = {(m.get("views", {}).get("protein"), m.get("views", {}).get("context")) for m in manifests}
    if len(views) > 1:
        raise DataError(f"the embedding folders hold different views: {sorted(views)}")
    split = np.concatenate(splits)
    return TrainingData(np.concatenate(xs_p), np.concatenate(xs_c), np.concatenate(ys), split == "train",
                        split == "val", split == "test", np.concatenate(distances), np.concatenate(opposite),
                        all_pairs, manifests[0], features)


def learn_decision_rule(pair_paths):
    """calibration.learn_rule over the tables, each one genome: spacer self-calibration on all its pairs."""
    from .calibration import LabelledSpacers, SpacerModel, learn_rule
    from .pairs import read_pairs

    genomes = []
    for path in pair_paths:
        pairs = read_pairs(path).pairs
        labelled = [p for p in pairs if p.label is not None]
        genomes.append(LabelledSpacers(Path(path).name, SpacerModel.fit(pairs),
                                       np.array([p.distance for p in labelled], dtype=np.float64),
                                       np.array([p.same_strand for p in labelled]),
                                       np.array([p.label for p in labelled])))
    return learn_rule(genomes)


def load_model(path, device: str = "cpu") -> Union[TrainedModel, DistanceBaseline]:
    """Open any saved microfuse model directory (fusion head, baseline or distance model)."""
    checkpoint = read_checkpoint(path)
    if checkpoint.arch == "distance":
        return distance_model(checkpoint)
    return TrainedModel._from_parts(Path(path), checkpoint.config, _tensors(checkpoint.arrays), device)


__all__ = [
    "CONFIG_FILE",
    "WEIGHTS_FILE",
    "DistanceBaseline",
    "Prediction",
    "SeedRuns",
    "TrainConfig",
    "TrainedModel",
    "TrainingData",
    "distance_model",
    "learn_decision_rule",
    "load_model",
    "load_training_data",
    "resolve_context_features",
    "train",
    "train_seeds",
]
