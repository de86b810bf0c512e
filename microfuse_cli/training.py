"""Training with torch (docs/method.md, "Training protocol"): the loop with early stopping, and several seeds.

``train`` returns a ``trained.TrainedModel`` (its ``TrainConfig``, ``predict``, ``save``/``load``: a model folder of
``model.safetensors`` + ``config.json``, written atomically by checkpoint.py with no timestamps, so the same training
run gives the same bytes). The training data (labelled pairs tables and their embeddings) are gathered by
training_data.py; the intergenic-distance baseline is fitted by baseline.py. Their names are re-exported here.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import time
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Iterator, Mapping, Optional, Sequence

import numpy as np
import torch

from .checkpoint import ModelInputs
from .errors import DataError, UsageError
from .metrics import auroc, auprc, binary_metrics, choose_threshold, router_weight_means
from .model import FusionConfig, FusionModel, total_loss
from .progress import Advance, CheckedFirstCall, EpochReport, check_callbacks
from .records import RebuiltFromFields
from .runtime import thread_limits, torch_device as _resolve_device
from .trained import ArrayLike, TrainConfig, TrainedModel, _as_matrix, _batched_forward, _check_finite

# --------------------------------------------------------------------------------------------------
# helpers


def _as_mask(mask: ArrayLike, n: int, name: str) -> torch.Tensor:
    array = mask.cpu().numpy() if isinstance(mask, torch.Tensor) else np.asarray(mask)
    if array.dtype != bool or array.shape != (n,):  # split names ('train') were a TypeError of torch
        raise DataError(f"{name} must be a boolean array of length {n}, got {array.dtype} {tuple(array.shape)}")
    return torch.as_tensor(array)




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




def _reported_at_weight_precision(value):
    """``value`` (a float, or dicts and lists of them) to 7 significant digits, about float32's precision: a float64
    run's figures differ between processors near 1e-15, as its weights do before they are saved as float32, so its
    config.json is the same bytes on every processor only when its figures are rounded as its weights are."""
    if isinstance(value, dict):
        return {key: _reported_at_weight_precision(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_reported_at_weight_precision(item) for item in value]
    if isinstance(value, float) and math.isfinite(value):
        return float(f"{value:.7g}")
    return value


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
    progress: Optional[Advance] = None,
    *,
    threads: int = 1,
    inputs: Optional[ModelInputs] = None,
    on_epoch: Optional[EpochReport] = None,
) -> TrainedModel:
    """Fit a fusion head with AdamW and early stopping on validation AUROC; keeps the best epoch's weights.

    Args:
        x_protein: (n, protein_dim) raw protein view (``None`` for the ``context`` baseline). float32 input is used
            in place, without a copy.
        x_context: (n, context_dim) raw context view (``None`` for the ``protein`` baseline).
        y: (n,) labels 0/1.
        train_mask, val_mask: (n,) boolean, disjoint; standardisation statistics come from the training rows.
        model_config: architecture; ``protein_dim``/``context_dim`` left ``None`` are taken from the data.
        train_config: optimisation settings, seed, device and precision (float64 trains in float64, saved as float32).
        threads: torch's and the BLAS/OpenMP pools' CPU threads for this call, put back after (these settings are
            process-wide: runtime.thread_limits). Default 1, as in every library call, so that a cluster job takes
            no more than its slot unless told; 0: every usable core. The trained bytes depend on it (rounding).
        inputs: what the views are (``Embeddings.model_inputs(context_features)`` of the embeddings they come
            from), recorded in the model and its saved folder: `score` computes those views for it. None: the
            builtin views with every context column (a model trained on fewer columns then fails to score).
        progress: called with 1 after every epoch, as every ``progress=`` of the library counts (progress.py):
            ``tqdm(total=max_epochs).update`` fits.
        on_epoch: called after every epoch with its record, a dict (``epoch``, ``max_epochs``, ``train_loss``,
            ``val_auroc``, ``best_val_auroc``, ``best_epoch``, ``improved``, ``seconds``).

    Returns:
        The ``TrainedModel`` at the best validation epoch, with the macro-F1 threshold chosen on validation. In a
        float64 run the threshold, history and metrics are the float64 weights', to 7 significant digits; the
        float32 weights it holds score within float32's rounding of them.

    Raises:
        DataError: inconsistent shapes, non-finite values, a split without both classes, or divergence.
        UsageError: impossible settings (unknown device, non-positive batch size, ...), ``progress`` or
            ``on_epoch`` not a callable of its shape (progress.check_callbacks), before any work; a ``progress``
            that fails on its first count (one reading the dict it was called with before it counted) then.
    """
    check_callbacks("train", progress=progress, on_epoch=on_epoch)
    if progress is not None and not isinstance(progress, CheckedFirstCall):  # train_seeds' is checked once
        progress = CheckedFirstCall("train", progress)
    if inputs is not None and not isinstance(inputs, ModelInputs):
        raise UsageError(f"inputs are a checkpoint.ModelInputs (Embeddings.model_inputs() gives them), not "
                         f"{type(inputs).__name__}")
    if not isinstance(model_config, FusionConfig) or not isinstance(train_config, TrainConfig):  # dicts were
        raise UsageError(f"train takes a model.FusionConfig and a trained.TrainConfig, not "  # AttributeErrors
                         f"{type(model_config).__name__} and {type(train_config).__name__}")
    y = np.asarray(y)
    if y.dtype.kind not in "biuf":  # labels of unlabelled pairs (None) or text were a TypeError of torch
        raise DataError(f"labels must be 0 or 1 (train on labelled pairs only: p.label is not None), not "
                        f"{y.dtype} values such as {y.ravel()[:1].tolist()}")
    with thread_limits(threads, torch=True, sklearn=True):  # process-wide settings (torch's, BLAS's): put back
        model_config.validate()
        train_config.validate()
        device = _resolve_device(train_config.device)
        y_all = torch.as_tensor(y)
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
        _check_inputs_fit(inputs, dims)
        labels = _labels(y_all, n)
        train_rows, val_rows = _split_rows(labels, _as_mask(train_mask, n, "train_mask"),
                                           _as_mask(val_mask, n, "val_mask"))
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
        dtype = train_config.torch_dtype
        y_tr = labels[train_rows].to(device, dtype)
        y_va = labels[val_rows].numpy().astype(np.int64)
        n_train = train_rows.numel()
        bs = train_config.batch_size

        generator = torch.Generator().manual_seed(train_config.seed)
        history: list[dict] = []
        best = {"auroc": -math.inf, "epoch": 0, "state": None}
        with _seeded(train_config.seed, device):
            model = FusionModel(model_config, dtype)
            model.set_standardisation(stats.get("protein"), stats.get("context"))
            model.to(device)  # float32 batches meet a float64 model's standardisation and become float64
            decay = [p for p in model.parameters() if p.ndim >= 2]
            no_decay = [p for p in model.parameters() if p.ndim < 2]
            optimiser = torch.optim.AdamW(
                [{"params": decay, "weight_decay": train_config.weight_decay},
                 {"params": no_decay, "weight_decay": 0.0}],
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
                        raise DataError(f"training diverged at epoch {epoch} (loss is not finite); try a lower "
                                        "learning rate")
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
                    k = local.numel()
                    total += float(loss.detach()) * k
                    seen += k
                    for key, value in parts.items():
                        sums[key] = sums.get(key, 0.0) + value * k
                logits, _, _ = _batched_forward(model, xp_va, xb_va, va_index, 8192, device, want_fused=False,
                                                dtype=dtype)
                prob = torch.sigmoid(logits.double()).numpy()
                val_auroc = auroc(y_va, prob)
                val_bce = float(
                    torch.nn.functional.binary_cross_entropy_with_logits(logits, torch.as_tensor(y_va, dtype=dtype))
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
                    progress(1)
                if on_epoch is not None:
                    on_epoch(
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
        logits, weights, _ = _batched_forward(model, xp_va, xb_va, va_index, 8192, device, want_fused=False,
                                              dtype=dtype)
        prob = torch.sigmoid(logits.double()).numpy()
        reported = _reported_at_weight_precision if dtype == torch.float64 else (lambda value: value)
        threshold = reported(choose_threshold(y_va, prob, "macro_f1"))
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
            history=reported(history),
            metrics=reported(metrics),
            standardisation=standardisation,
            device=train_config.device,
            inputs=inputs,
        )


@dataclass(frozen=True)
class SeedRuns(RebuiltFromFields):
    """Several seeds of one configuration: the models and their validation metrics, per seed and summarised.

    ``std`` is the sample standard deviation (ddof = 1; 0 with a single seed). Immutable (tuples, read-only
    mappings).
    """

    seeds: tuple[int, ...]
    models: tuple[TrainedModel, ...]
    per_seed: tuple[Mapping[str, float], ...]
    mean: Mapping[str, float] = field(default_factory=dict)
    std: Mapping[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:  # normalising the fields as built, never changing them later
        object.__setattr__(self, "seeds", tuple(self.seeds))
        object.__setattr__(self, "models", tuple(self.models))
        object.__setattr__(self, "per_seed", tuple(MappingProxyType(dict(m)) for m in self.per_seed))
        object.__setattr__(self, "mean", MappingProxyType(dict(self.mean)))
        object.__setattr__(self, "std", MappingProxyType(dict(self.std)))


def _check_inputs_fit(inputs: Optional[ModelInputs], dims: dict[str, int]) -> None:
    """Refuse ``inputs`` whose views are not as wide as the matrices trained on (``ModelInputs.input_widths``, the
    layout ``Embeddings.pair_views`` builds): the model would be saved reading other columns, and scoring it failed
    in numpy, after the training."""
    expected = inputs.input_widths() if inputs is not None else None
    if expected is None:
        return
    for name, width in dims.items():
        if width != expected[name]:
            raise DataError(f"inputs describe a {expected[name]}-column {name.removesuffix('_dim')} view, the data "
                            f"has {width} columns: give the inputs of the embeddings and context columns the views "
                            "came from (Embeddings.model_inputs(context_features))")


def train_seeds(
    x_protein: Optional[ArrayLike],
    x_context: Optional[ArrayLike],
    y: ArrayLike,
    train_mask: ArrayLike,
    val_mask: ArrayLike,
    model_config: FusionConfig,
    train_config: TrainConfig,
    seeds: Sequence[int] = (0, 1, 2),
    progress: Optional[Advance] = None,
    *,
    threads: int = 1,
    inputs: Optional[ModelInputs] = None,
    on_epoch: Optional[EpochReport] = None,
) -> SeedRuns:
    """Train one model per seed (``train_config.seed`` is replaced) and summarise validation metrics; ``threads``,
    ``inputs`` and ``progress`` (1 per epoch, every seed's) as for ``train``; ``on_epoch``'s records also name the
    ``seed``."""
    check_callbacks("train_seeds", progress=progress, on_epoch=on_epoch)
    if progress is not None:
        progress = CheckedFirstCall("train_seeds", progress)
    if not seeds:
        raise UsageError("at least one seed is needed")
    models, per_seed = [], []
    for seed in seeds:
        report = None if on_epoch is None else (lambda info, s=seed: on_epoch({**info, "seed": s}))
        model = train(
            x_protein, x_context, y, train_mask, val_mask, model_config,
            dataclasses.replace(train_config, seed=int(seed)), progress, threads=threads, inputs=inputs,
            on_epoch=report,
        )  # fmt: skip
        models.append(model)
        per_seed.append({k: v for k, v in model.metrics["validation"].items() if isinstance(v, float)})
    keys = per_seed[0].keys()
    mean = {k: float(np.mean([m[k] for m in per_seed])) for k in keys}
    std = {k: float(np.std([m[k] for m in per_seed], ddof=1)) if len(per_seed) > 1 else 0.0 for k in keys}
    return SeedRuns([int(s) for s in seeds], models, per_seed, mean, std)


__all__ = ["SeedRuns", "train", "train_seeds"]
