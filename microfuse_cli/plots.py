"""Evaluation figures as PNG, SVG or PDF files (matplotlib, Agg, imported only when a plot is drawn).

Every function takes arrays and an output path (or a binary file), draws on a private ``Figure`` (no pyplot
state), and writes it atomically, in the format ``fmt`` or the path's suffix names (a binary file: its name's
suffix, else PNG), with no timestamp/version metadata, so the same inputs give the same bytes.
``p`` may be one score array or a mapping ``{label: scores}`` to overlay several models.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import IO, Mapping, Optional, Sequence, Union

import numpy as np

from .errors import DataError, UsageError
from .fusion import EXPERTS
from .io.images import image_bytes, save_image
from .metrics import (
    auroc,
    average_precision,
    calibration_curve,
    precision_recall_curve,
    roc_curve,
    threshold_sweep,
)

Scores = Union[np.ndarray, Sequence[float], Mapping[str, np.ndarray]]
#: What a plot function returns: the Path of the figure it wrote, or the binary file it was given to write into.
Written = Union[Path, IO[bytes]]


def require_matplotlib() -> None:
    """matplotlib is an optional extra: its absence is one line before any work, not an internal error after it."""
    try:
        import matplotlib.backends.backend_agg  # noqa: F401
    except ImportError:
        raise UsageError("--plots needs matplotlib: pip install 'microfuse-cli[plots]'") from None


def _series(p: Scores) -> dict[str, np.ndarray]:
    if isinstance(p, Mapping):
        if not p:
            raise DataError("nothing to plot")
        return {str(k): np.asarray(v, dtype=np.float64) for k, v in p.items()}
    return {"model": np.asarray(p, dtype=np.float64)}


def _figure(width: float = 5.0, height: float = 4.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _save(fig, path, description: str | None = None, fmt: str | None = None) -> Written:
    """Write the figure to a path (atomically) as ``fmt`` or the format its suffix names (.png, .svg, .pdf; another
    image suffix, or none, is refused as `plot` refuses it: an x.pdf got PNG bytes), or into a binary file such as
    ``io.BytesIO`` (a caller writing several outputs as one set) as ``fmt`` or PNG, or as its ``name``'s suffix
    names (``open('roc.pdf', 'wb')`` got PNG bytes); ``description`` (which models made the scores drawn) in its
    metadata. Returns ``path``, as a Path when it is one."""
    from .figures import FORMATS, check_figure_path

    if hasattr(path, "write"):
        name = getattr(path, "name", None)
        named = isinstance(name, str) and Path(name).suffix.lower() in FORMATS
        fmt = check_figure_path(name, fmt) if named else check_figure_path("-", fmt or "png")
        fig.tight_layout()
        path.write(image_bytes(fig, fmt, description=description))
        return path
    fmt = check_figure_path(os.fsdecode(path), fmt)
    fig.tight_layout()
    return save_image(fig, path, fmt, description=description)


def plot_roc(y, p: Scores, path, title: str = "ROC", description: str | None = None,
             fmt: str | None = None) -> Written:
    """ROC curve(s) with AUROC in the legend."""
    fig, ax = _figure()
    for name, scores in _series(p).items():
        fpr, tpr, _ = roc_curve(y, scores)
        ax.plot(fpr, tpr, label=f"{name} (AUROC {auroc(y, scores):.3f})")
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set(xlabel="false positive rate", ylabel="true positive rate", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower right", fontsize="small")
    return _save(fig, path, description, fmt)


def plot_pr(y, p: Scores, path, title: str = "Precision-recall", description: str | None = None,
            fmt: str | None = None) -> Written:
    """Precision-recall curve(s) with average precision in the legend; the dashed line is the positive rate."""
    fig, ax = _figure()
    y_arr = np.asarray(y)
    for name, scores in _series(p).items():
        precision, recall, _ = precision_recall_curve(y, scores)
        ax.step(np.r_[0.0, recall], np.r_[precision[0], precision], where="post",
                label=f"{name} (AP {average_precision(y, scores):.3f})")  # fmt: skip
    ax.axhline(float(np.mean(y_arr)) if y_arr.size else 0.0, linestyle="--", color="grey", linewidth=0.8)
    ax.set(xlabel="recall", ylabel="precision", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="lower left", fontsize="small")
    return _save(fig, path, description, fmt)


def plot_threshold_sweep(y, p, path, threshold: Optional[float] = None, title: str = "Threshold sweep",
                         description: str | None = None, fmt: str | None = None) -> Written:
    """Macro-F1, accuracy and positive rate against the decision threshold; ``threshold`` is marked if given."""
    sweep = threshold_sweep(y, p)
    fig, ax = _figure()
    for key in ("macro_f1", "accuracy", "positive_rate"):
        ax.plot(sweep["threshold"], sweep[key], label=key.replace("_", " "))
    if threshold is not None:
        ax.axvline(threshold, linestyle=":", color="black", linewidth=1, label=f"chosen {threshold:.3f}")
    ax.set(xlabel="threshold", ylabel="value", title=title, xlim=(0, 1), ylim=(0, 1.01))
    ax.legend(loc="best", fontsize="small")
    return _save(fig, path, description, fmt)


def plot_calibration(y, p: Scores, path, n_bins: int = 10, title: str = "Calibration",
                     description: str | None = None, fmt: str | None = None) -> Written:
    """Observed positive rate against mean predicted probability per equal-width bin."""
    fig, ax = _figure()
    for name, scores in _series(p).items():
        mean_p, rate, _ = calibration_curve(y, scores, n_bins)
        ax.plot(mean_p, rate, marker="o", label=name)
    ax.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=0.8)
    ax.set(xlabel="mean predicted probability", ylabel="fraction positive", title=title, xlim=(0, 1), ylim=(0, 1))
    ax.legend(loc="upper left", fontsize="small")
    return _save(fig, path, description, fmt)


def plot_router_weights(
    weights: Union[np.ndarray, Mapping[str, float]], path, experts: Sequence[str] = EXPERTS,
    title: str = "Router weights", description: str | None = None, fmt: str | None = None,
) -> Written:  # fmt: skip
    """Bar chart of the mean router weight per expert, from an (n, 4) weight matrix or a {expert: mean} dict."""
    if isinstance(weights, Mapping):
        means = np.array([float(weights.get(k, np.nan)) for k in experts])
    else:
        w = np.asarray(weights, dtype=np.float64)
        if w.ndim != 2 or w.shape[1] != len(experts):
            raise DataError(f"router weights must have shape (n, {len(experts)}), got {w.shape}")
        means = w.mean(axis=0) if w.shape[0] else np.full(len(experts), np.nan)
    fig, ax = _figure()
    heights = np.nan_to_num(means, nan=0.0)
    bars = ax.bar(list(experts), heights, color=["#4C72B0", "#55A868", "#8172B2", "#C44E52"][: len(experts)])
    for bar, value in zip(bars, means):
        label = "n/a" if np.isnan(value) else f"{value:.3f}"
        ax.annotate(label, (bar.get_x() + bar.get_width() / 2, bar.get_height()), ha="center", va="bottom")
    ax.set(ylabel="mean weight", title=title, ylim=(0, max(1.0, float(heights.max()) * 1.1)))
    return _save(fig, path, description, fmt)


__all__ = ["plot_calibration", "plot_pr", "plot_roc", "plot_router_weights", "plot_threshold_sweep"]
