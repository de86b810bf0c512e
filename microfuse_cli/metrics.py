"""Evaluation metrics for binary operon prediction, on numpy arrays only (no sklearn).

Conventions used everywhere in this module:

* ``y`` holds the true labels (1 = same operon, 0 = not), ``p`` the predicted probability of class 1.
* A pair is called positive when ``p >= threshold``.
* Ranking metrics (AUROC, average precision) give tied scores their average rank / treat a block of tied
  scores as one threshold, so the result never depends on the input order.
* A metric that is undefined for the data (AUROC with one class present, ...) is ``nan``, never an exception:
  a bootstrap resample or a tiny validation split can legitimately hit that case.
"""

from __future__ import annotations

from typing import Callable, Mapping, Sequence, Union

import numpy as np

from .errors import DataError, UsageError

#: Expert order of the router weights everywhere in microfuse.
EXPERTS = ("protein", "context", "agreement", "conflict")

MetricFn = Callable[[np.ndarray, np.ndarray], float]


# --------------------------------------------------------------------------------------------------
# input checks


def _check(y, p) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y)
    p = np.asarray(p, dtype=np.float64)
    if y.ndim != 1 or p.ndim != 1:
        raise DataError(f"labels and scores must be 1-D, got shapes {y.shape} and {p.shape}")
    if y.shape != p.shape:
        raise DataError(f"{y.shape[0]} labels but {p.shape[0]} scores")
    if y.size and not np.isin(y, (0, 1)).all():
        raise DataError("labels must be 0 or 1")
    if not np.isfinite(p).all():
        raise DataError("scores contain NaN or infinite values")
    return y.astype(np.int64), p


# --------------------------------------------------------------------------------------------------
# ranking metrics


def _average_ranks(x: np.ndarray) -> np.ndarray:
    """1-based ranks of ``x``; tied values share the mean of their ranks."""
    order = np.argsort(x, kind="mergesort")
    xs = x[order]
    # start index of each block of equal values
    starts = np.flatnonzero(np.r_[True, xs[1:] != xs[:-1]])
    ends = np.r_[starts[1:], xs.size]
    block_rank = (starts + ends + 1) / 2.0  # mean of ranks starts+1 .. ends
    ranks = np.empty(x.size, dtype=np.float64)
    ranks[order] = np.repeat(block_rank, ends - starts)
    return ranks


def auroc(y, p) -> float:
    """Area under the ROC curve (Mann-Whitney U / (n_pos * n_neg)); ties count one half. ``nan`` with one class."""
    y, p = _check(y, p)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = _average_ranks(p)
    u = ranks[y == 1].sum() - n_pos * (n_pos + 1) / 2.0
    return float(u / (n_pos * n_neg))


def _threshold_counts(y: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """For each distinct score, descending: (score, true positives, false positives) when predicting ``p >= score``."""
    order = np.argsort(-p, kind="mergesort")
    ps = p[order]
    ys = y[order]
    last = np.r_[np.flatnonzero(ps[1:] != ps[:-1]), ps.size - 1]  # last index of each tied block
    tp = np.cumsum(ys)[last]
    fp = (last + 1) - tp
    return ps[last], tp, fp


def average_precision(y, p) -> float:
    """Average precision: sum over distinct thresholds of (R_k - R_{k-1}) * P_k. ``nan`` without positives."""
    y, p = _check(y, p)
    n_pos = int(y.sum())
    if n_pos == 0:
        return float("nan")
    _, tp, fp = _threshold_counts(y, p)
    precision = tp / (tp + fp)
    recall = tp / n_pos
    delta = np.diff(np.r_[0.0, recall])
    return float(np.sum(delta * precision))


def auprc(y, p) -> float:
    """Area under the precision-recall curve of the positive class, computed as average precision."""
    return average_precision(y, p)


def mean_average_precision(y, p) -> float:
    """mAP: average precision of each class (class 1 ranked by ``p``, class 0 by ``1 - p``), averaged.

    The paper does not define mAP; this reading is the one consistent with its numbers (see method.md).
    """
    y, p = _check(y, p)
    return float(np.nanmean([average_precision(y, p), average_precision(1 - y, 1.0 - p)]))


def roc_curve(y, p) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) at every distinct score, starting from the point (0, 0) (threshold +inf)."""
    y, p = _check(y, p)
    n_pos = int(y.sum())
    n_neg = y.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise DataError("a ROC curve needs both classes")
    thr, tp, fp = _threshold_counts(y, p)
    return np.r_[0.0, fp / n_neg], np.r_[0.0, tp / n_pos], np.r_[np.inf, thr]


def precision_recall_curve(y, p) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) at every distinct score, by decreasing threshold."""
    y, p = _check(y, p)
    n_pos = int(y.sum())
    if n_pos == 0:
        raise DataError("a precision-recall curve needs positives")
    thr, tp, fp = _threshold_counts(y, p)
    return tp / (tp + fp), tp / n_pos, thr


# --------------------------------------------------------------------------------------------------
# threshold metrics


def _confusion(y: np.ndarray, yhat: np.ndarray) -> tuple[int, int, int, int]:
    tp = int(np.sum((yhat == 1) & (y == 1)))
    fp = int(np.sum((yhat == 1) & (y == 0)))
    fn = int(np.sum((yhat == 0) & (y == 1)))
    tn = int(np.sum((yhat == 0) & (y == 0)))
    return tp, fp, fn, tn


def _f1(tp, fp, fn):
    """F1 = 2TP / (2TP + FP + FN); 0 where the denominator is 0 (vectorised)."""
    tp, fp, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fp, fn))
    den = 2 * tp + fp + fn
    return np.divide(2 * tp, den, out=np.zeros_like(den), where=den > 0)


def _recall(tp, fn):
    tp, fn = (np.asarray(v, dtype=np.float64) for v in (tp, fn))
    den = tp + fn
    return np.divide(tp, den, out=np.full_like(den, np.nan), where=den > 0)


def _labels_at(p: np.ndarray, threshold: float) -> np.ndarray:
    return (p >= threshold).astype(np.int64)


def macro_f1(y, p, threshold: float = 0.5) -> float:
    """Mean of the F1 of class 1 and the F1 of class 0 (a class's F1 is 0 when it is never predicted nor present)."""
    y, p = _check(y, p)
    tp, fp, fn, tn = _confusion(y, _labels_at(p, threshold))
    return float((_f1(tp, fp, fn) + _f1(tn, fn, fp)) / 2.0)


def macro_recall(y, p, threshold: float = 0.5) -> float:
    """Mean of the recall of each class present (the paper's mAR; equals balanced accuracy)."""
    y, p = _check(y, p)
    tp, fp, fn, tn = _confusion(y, _labels_at(p, threshold))
    return float(np.nanmean([_recall(tp, fn), _recall(tn, fp)]))


def accuracy(y, p, threshold: float = 0.5) -> float:
    y, p = _check(y, p)
    if y.size == 0:
        return float("nan")
    return float(np.mean(_labels_at(p, threshold) == y))


def brier(y, p) -> float:
    """Mean squared difference between the probability and the label."""
    y, p = _check(y, p)
    if y.size == 0:
        return float("nan")
    return float(np.mean((p - y) ** 2))


def binary_metrics(y, p, threshold: float = 0.5) -> dict[str, float]:
    """Every headline metric in one dict (ranking metrics do not depend on ``threshold``)."""
    y, p = _check(y, p)
    return {
        "n": int(y.size),
        "n_positive": int(y.sum()),
        "auroc": auroc(y, p),
        "auprc": auprc(y, p),
        "map": mean_average_precision(y, p),
        "macro_f1": macro_f1(y, p, threshold),
        "macro_recall": macro_recall(y, p, threshold),
        "accuracy": accuracy(y, p, threshold),
        "brier": brier(y, p),
        "positive_rate": float(np.mean(p >= threshold)) if y.size else float("nan"),
        "threshold": float(threshold),
    }


_CRITERIA = ("macro_f1", "accuracy", "youden", "f1")


def _criterion_at_candidates(y: np.ndarray, p: np.ndarray, criterion: str) -> tuple[np.ndarray, np.ndarray]:
    """Value of ``criterion`` when predicting ``p >= t`` for t = each distinct score (descending) and t = +inf."""
    thr, tp, fp = _threshold_counts(y, p)
    thr = np.r_[np.inf, thr]
    tp = np.r_[0, tp].astype(np.float64)
    fp = np.r_[0, fp].astype(np.float64)
    n_pos = float(y.sum())
    n_neg = float(y.size) - n_pos
    fn = n_pos - tp
    tn = n_neg - fp
    if criterion == "macro_f1":
        value = (_f1(tp, fp, fn) + _f1(tn, fn, fp)) / 2.0
    elif criterion == "f1":
        value = _f1(tp, fp, fn)
    elif criterion == "accuracy":
        value = (tp + tn) / y.size
    else:  # youden
        value = tp / max(n_pos, 1.0) - fp / max(n_neg, 1.0)
    return thr, value


def choose_threshold(y, p, criterion: str = "macro_f1") -> float:
    """Decision threshold maximising ``criterion`` (``macro_f1``, ``accuracy``, ``youden`` or ``f1``) on (y, p).

    Candidates are the distinct scores; the returned value is the midpoint between the best score and the next
    lower distinct score, so that the split is the same on this data and less brittle on new data. Among equally
    good thresholds the one closest to 0.5 wins (deterministic).
    """
    if criterion not in _CRITERIA:
        raise UsageError(f"unknown threshold criterion {criterion!r}; choose from {', '.join(_CRITERIA)}")
    y, p = _check(y, p)
    if y.size == 0:
        raise DataError("cannot choose a threshold on an empty set")
    thr, value = _criterion_at_candidates(y, p, criterion)
    # thr is descending with thr[0] = +inf (nothing positive); thr[k + 1] is the next lower distinct score
    mids = np.empty_like(thr)
    mids[0] = thr[1] + max(1e-6, abs(thr[1]) * 1e-6)
    mids[1:-1] = (thr[1:-1] + thr[2:]) / 2.0
    mids[-1] = thr[-1]  # lowest score: everything positive
    best = np.flatnonzero(value >= value.max() - 1e-12)
    pick = best[np.argmin(np.abs(mids[best] - 0.5))]
    return float(mids[pick])


def threshold_sweep(y, p, thresholds: Sequence[float] | np.ndarray | None = None) -> dict[str, np.ndarray]:
    """Metrics at each threshold (default 0, 0.01, ..., 1): macro_f1, accuracy, positive_rate, macro_recall."""
    y, p = _check(y, p)
    t = np.linspace(0.0, 1.0, 101) if thresholds is None else np.asarray(thresholds, dtype=np.float64)
    ps = np.sort(p)
    n = float(y.size)
    # counts of predictions >= t, overall and among positives, via binary search
    n_pred = y.size - np.searchsorted(ps, t, side="left")
    pos_scores = np.sort(p[y == 1])
    tp = pos_scores.size - np.searchsorted(pos_scores, t, side="left")
    fp = n_pred - tp
    n_pos = float(pos_scores.size)
    fn = n_pos - tp
    tn = (n - n_pos) - fp
    return {
        "threshold": t,
        "macro_f1": (_f1(tp, fp, fn) + _f1(tn, fn, fp)) / 2.0,
        "accuracy": (tp + tn) / n if n else np.full(t.shape, np.nan),
        "positive_rate": n_pred / n if n else np.full(t.shape, np.nan),
        "macro_recall": np.nanmean(np.vstack([_recall(tp, fn), _recall(tn, fp)]), axis=0),
    }


def calibration_curve(y, p, n_bins: int = 10) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean predicted probability, observed positive rate, count) per equal-width bin; empty bins dropped."""
    y, p = _check(y, p)
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    idx = np.clip(np.searchsorted(edges, p, side="right") - 1, 0, n_bins - 1)
    count = np.bincount(idx, minlength=n_bins).astype(np.float64)
    sum_p = np.bincount(idx, weights=p, minlength=n_bins)
    sum_y = np.bincount(idx, weights=y.astype(np.float64), minlength=n_bins)
    keep = count > 0
    return sum_p[keep] / count[keep], sum_y[keep] / count[keep], count[keep]


# --------------------------------------------------------------------------------------------------
# uncertainty

_NAMED: dict[str, MetricFn] = {
    "auroc": auroc,
    "auprc": auprc,
    "average_precision": average_precision,
    "map": mean_average_precision,
    "macro_f1": macro_f1,
    "macro_recall": macro_recall,
    "accuracy": accuracy,
    "brier": brier,
}


def _metric_fn(metric: Union[str, MetricFn]) -> MetricFn:
    if callable(metric):
        return metric
    try:
        return _NAMED[metric]
    except KeyError:
        raise UsageError(f"unknown metric {metric!r}; choose from {', '.join(_NAMED)}") from None


def bootstrap_ci(
    y, p, metric: Union[str, MetricFn] = "auroc", n: int = 1000, seed: int = 0, alpha: float = 0.05
) -> dict[str, float]:
    """Percentile bootstrap: ``{"estimate", "low", "high", "std"}`` with a (1 - alpha) interval.

    Resamples where the metric is undefined (e.g. one class only) are ignored.
    """
    y, p = _check(y, p)
    fn = _metric_fn(metric)
    rng = np.random.default_rng(seed)
    values = np.empty(n)
    for i in range(n):
        idx = rng.integers(0, y.size, y.size)
        values[i] = fn(y[idx], p[idx])
    return {
        "estimate": float(fn(y, p)),
        "low": float(np.nanpercentile(values, 100 * alpha / 2)),
        "high": float(np.nanpercentile(values, 100 * (1 - alpha / 2))),
        "std": float(np.nanstd(values, ddof=1)) if n > 1 else float("nan"),
    }


def paired_bootstrap_delta(
    y, p1, p2, metric: Union[str, MetricFn] = "auroc", n: int = 1000, seed: int = 0, alpha: float = 0.05
) -> dict[str, float]:
    """Bootstrap of ``metric(y, p1) - metric(y, p2)`` over the same resampled pairs.

    Returns ``{"delta", "low", "high", "p_value"}``; ``p_value`` is two-sided: twice the smaller fraction of
    resampled deltas on either side of 0 (capped at 1).
    """
    y, p1 = _check(y, p1)
    _, p2 = _check(y, p2)
    fn = _metric_fn(metric)
    rng = np.random.default_rng(seed)
    deltas = np.empty(n)
    for i in range(n):
        idx = rng.integers(0, y.size, y.size)
        deltas[i] = fn(y[idx], p1[idx]) - fn(y[idx], p2[idx])
    deltas = deltas[np.isfinite(deltas)]
    if deltas.size == 0:
        p_value = float("nan")
    else:
        p_value = float(min(1.0, 2 * min(np.mean(deltas <= 0), np.mean(deltas >= 0))))
    return {
        "delta": float(fn(y, p1) - fn(y, p2)),
        "low": float(np.percentile(deltas, 100 * alpha / 2)) if deltas.size else float("nan"),
        "high": float(np.percentile(deltas, 100 * (1 - alpha / 2))) if deltas.size else float("nan"),
        "p_value": p_value,
    }


# --------------------------------------------------------------------------------------------------
# hard-conflict subset and router summaries


def _identity_one(a: str, b: str, n: int) -> float:
    a, b = a[:n], b[:n]
    m = min(len(a), len(b))
    if m == 0:
        return 0.0
    return sum(1 for x, z in zip(a[:m], b[:m]) if x == z) / m


def prefix_identity(a: Union[str, Sequence[str]], b: Union[str, Sequence[str]], n: int = 300):
    """Position-wise identity of the first ``n`` residues of two proteins, without alignment or gaps.

    The fraction of positions i < min(n, len(a), len(b)) where ``a[i] == b[i]``; 0 when either is empty.
    Given two sequences of strings, returns a float array (one identity per pair).
    """
    if n <= 0:
        raise UsageError(f"prefix length must be positive, got {n}")
    if isinstance(a, str) and isinstance(b, str):
        return _identity_one(a, b, n)
    if isinstance(a, str) or isinstance(b, str) or len(a) != len(b):
        raise DataError("prefix_identity needs two strings or two sequences of strings of equal length")
    return np.array([_identity_one(x, z, n) for x, z in zip(a, b)], dtype=np.float64)


def hard_conflict_mask(y, identity) -> np.ndarray:
    """Boolean mask of the hard conflict subset: positives whose identity is in the lowest quartile and
    negatives in the highest quartile, quartiles taken over all pairs given (e.g. the test split)."""
    y = np.asarray(y)
    identity = np.asarray(identity, dtype=np.float64)
    if y.shape != identity.shape or y.ndim != 1:
        raise DataError(f"labels {y.shape} and identities {identity.shape} must be 1-D of equal length")
    if y.size == 0:
        return np.zeros(0, dtype=bool)
    q1, q3 = np.quantile(identity, [0.25, 0.75])
    return ((y == 1) & (identity <= q1)) | ((y == 0) & (identity >= q3))


def router_weight_means(weights, experts: Sequence[str] = EXPERTS) -> dict[str, float]:
    """Mean router weight of each expert over pairs (NaN rows, as reported by the concat baseline, give NaN)."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 2 or w.shape[1] != len(experts):
        raise DataError(f"router weights must have shape (n, {len(experts)}), got {w.shape}")
    if w.shape[0] == 0:
        return {name: float("nan") for name in experts}
    return {name: float(np.mean(w[:, k])) for k, name in enumerate(experts)}


def summarise_router(weights: np.ndarray, groups: Mapping[str, np.ndarray] | None = None) -> dict:
    """Router means overall and, optionally, within named boolean masks (e.g. positives, hard subset)."""
    out = {"all": router_weight_means(weights)}
    for name, mask in (groups or {}).items():
        out[name] = router_weight_means(np.asarray(weights)[np.asarray(mask, dtype=bool)])
    return out
