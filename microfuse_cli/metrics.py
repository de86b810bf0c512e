"""Evaluation metrics for binary operon prediction: scikit-learn's metrics behind the conventions microfuse needs.

Conventions used everywhere in this module:

* ``y`` holds the true labels (1 = same operon, 0 = not), ``p`` the predicted probability of class 1.
* A pair is called positive when ``p >= threshold``.
* Ranking metrics (AUROC, average precision) give tied scores their average rank / treat a block of tied
  scores as one threshold, so the result never depends on the input order (scikit-learn's definitions).
* A metric that is undefined for the data (AUROC with one class present, ...) is ``nan``, never an exception:
  a bootstrap resample or a tiny validation split can legitimately hit that case. Inputs are checked here, so
  scikit-learn's own errors and warnings about them never reach the caller.

What is ours: that checking, mAP (``docs/method.md``, "Metrics"), the threshold choice and sweep, the bootstrap
wrappers and the paper's hard-conflict subset.
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence, Union

import numpy as np
from scipy import stats

from .errors import DataError, UsageError
from .fusion import EXPERTS  # the router's expert order, defined with the model (still importable from here)
from .runtime import check_seed, import_keeping_random


def _sklearn_metrics():
    """scikit-learn's metrics, imported at first use: importing scikit-learn sets KMP_* variables in os.environ,
    which importing microfuse (training, evaluation, plots) must not do to its caller's process; nor does the
    import draw from the caller's Python ``random`` (runtime.import_keeping_random)."""
    return import_keeping_random("sklearn.metrics")


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


def _both_classes(y: np.ndarray) -> bool:
    n_pos = int(y.sum())
    return 0 < n_pos < y.size


# --------------------------------------------------------------------------------------------------
# ranking metrics


def auroc(y, p) -> float:
    """Area under the ROC curve (ties count one half); ``nan`` with one class."""
    y, p = _check(y, p)
    if not _both_classes(y):
        return float("nan")
    return float(_sklearn_metrics().roc_auc_score(y, p))


def average_precision(y, p) -> float:
    """Average precision: sum over distinct thresholds of (R_k - R_{k-1}) * P_k. ``nan`` without positives."""
    y, p = _check(y, p)
    if not y.any():
        return float("nan")
    return float(_sklearn_metrics().average_precision_score(y, p))


def auprc(y, p) -> float:
    """Area under the precision-recall curve of the positive class, computed as average precision."""
    return average_precision(y, p)


def mean_average_precision(y, p) -> float:
    """mAP: average precision of each class (class 1 ranked by ``p``, class 0 by ``1 - p``), averaged.

    The paper does not define mAP; this reading is the one consistent with its numbers (``docs/method.md``,
    "Metrics").
    """
    y, p = _check(y, p)
    per_class = np.array([average_precision(y, p), average_precision(1 - y, 1.0 - p)])
    defined = per_class[np.isfinite(per_class)]
    return float(defined.mean()) if defined.size else float("nan")


def roc_curve(y, p) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(fpr, tpr, thresholds) at every distinct score, starting from the point (0, 0) (threshold +inf)."""
    y, p = _check(y, p)
    if not _both_classes(y):
        raise DataError("a ROC curve needs both classes")
    return _sklearn_metrics().roc_curve(y, p, drop_intermediate=False)


def precision_recall_curve(y, p) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(precision, recall, thresholds) at every distinct score, by decreasing threshold (no (1, 0) end point)."""
    y, p = _check(y, p)
    if not y.any():
        raise DataError("a precision-recall curve needs positives")
    precision, recall, thresholds = _sklearn_metrics().precision_recall_curve(y, p)
    return precision[-2::-1], recall[-2::-1], thresholds[::-1]


# --------------------------------------------------------------------------------------------------
# threshold metrics


def _f1(tp, fp, fn):
    """F1 = 2TP / (2TP + FP + FN); 0 where the denominator is 0 (vectorised over thresholds)."""
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
    if y.size == 0:
        return 0.0
    return float(_sklearn_metrics().f1_score(y, _labels_at(p, threshold), labels=[0, 1], average="macro",
                                             zero_division=0.0))


def macro_recall(y, p, threshold: float = 0.5) -> float:
    """Mean of the recall of each class present (the paper's mAR; equals balanced accuracy)."""
    y, p = _check(y, p)
    if y.size == 0:
        return float("nan")
    return float(_sklearn_metrics().recall_score(y, _labels_at(p, threshold), labels=np.unique(y), average="macro"))


def accuracy(y, p, threshold: float = 0.5) -> float:
    y, p = _check(y, p)
    if y.size == 0:
        return float("nan")
    return float(_sklearn_metrics().accuracy_score(y, _labels_at(p, threshold)))


def brier(y, p) -> float:
    """Mean squared difference between the probability and the label; ``nan`` when ``p`` is not a probability
    (a ranking score such as the distance baseline's) or the set is empty."""
    y, p = _check(y, p)
    if y.size == 0 or ((p < 0) | (p > 1)).any():
        return float("nan")
    return float(_sklearn_metrics().brier_score_loss(y, p, labels=[0, 1]))


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
    tn, fp, fn, tp, thr = _sklearn_metrics().confusion_matrix_at_thresholds(y, p)
    n_pos = float(y.sum())
    n_neg = float(y.size) - n_pos
    thr = np.r_[np.inf, thr]
    tp, fp = np.r_[0.0, tp], np.r_[0.0, fp]
    fn, tn = np.r_[n_pos, fn], np.r_[n_neg, tn]
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


def best_accuracy(y, p) -> float:
    """Accuracy of the best possible cut-off on ``p``, chosen with the labels (all-negative included): an upper
    bound for any threshold rule on these scores. ``nan`` for an empty set."""
    y, p = _check(y, p)
    if y.size == 0:
        return float("nan")
    return float(_criterion_at_candidates(y, p, "accuracy")[1].max())


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
    """(mean predicted probability, observed positive rate, count) per equal-width bin; empty bins dropped.

    The bins are scikit-learn's (``sklearn.calibration.calibration_curve``, ``strategy="uniform"``: a probability
    on an inner edge falls in the lower bin); the count of each kept bin is added for plotting.
    """
    y, p = _check(y, p)
    if ((p < 0) | (p > 1)).any():
        raise DataError("a calibration curve needs probabilities in [0, 1]")
    if y.size == 0:
        return np.zeros(0), np.zeros(0), np.zeros(0)
    sklearn_calibration_curve = import_keeping_random("sklearn.calibration").calibration_curve

    rate, mean_p = sklearn_calibration_curve(y, p, n_bins=n_bins, strategy="uniform")
    edges = np.linspace(0.0, 1.0 + 1e-8, n_bins + 1)  # sklearn's edges, so the counts match its bins
    count = np.bincount(np.searchsorted(edges[1:-1], p), minlength=n_bins).astype(np.float64)
    return mean_p, rate, count[count > 0]


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


def _auroc_rows(y: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    """AUROC of every row at once (the Mann-Whitney U over average ranks, as scikit-learn ties them), NaN where
    a row holds one class: what scipy.stats.bootstrap's vectorised path needs, 20x faster than a call per row."""
    y = np.moveaxis(y, axis, -1).astype(np.float64)
    ranks = stats.rankdata(np.moveaxis(p, axis, -1), axis=-1)
    n_pos = y.sum(axis=-1)
    n_neg = y.shape[-1] - n_pos
    u = (ranks * y).sum(axis=-1) - n_pos * (n_pos + 1) / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where((n_pos > 0) & (n_neg > 0), u / (n_pos * n_neg), np.nan)


def _confusion_rows(y: np.ndarray, p: np.ndarray, threshold: float = 0.5, axis: int = -1):
    """(tp, fp, fn, tn) of every row at once, as float64: one bincount over (row, cell) codes."""
    truth = np.moveaxis(y, axis, -1).astype(np.int64)
    cells = 2 * truth + (np.moveaxis(p, axis, -1) >= threshold)  # 0 tn, 1 fp, 2 fn, 3 tp
    flat = cells.reshape(-1, cells.shape[-1])
    codes = 4 * np.arange(flat.shape[0])[:, None] + flat
    counts = np.bincount(codes.ravel(), minlength=4 * flat.shape[0]).astype(np.float64)
    counts = counts.reshape(*cells.shape[:-1], 4)
    return counts[..., 3], counts[..., 1], counts[..., 2], counts[..., 0]


def _macro_f1_rows(y: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    """:func:`macro_f1` at 0.5 of every row at once."""
    tp, fp, fn, tn = _confusion_rows(y, p, 0.5, axis)
    return (_f1(tn, fn, fp) + _f1(tp, fp, fn)) / 2.0


def _macro_recall_rows(y: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    """:func:`macro_recall` at 0.5 of every row at once (the mean over the classes the row holds)."""
    tp, fp, fn, tn = _confusion_rows(y, p, 0.5, axis)
    return np.nanmean(np.stack([_recall(tn, fp), _recall(tp, fn)]), axis=0)


def _accuracy_rows(y: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    """:func:`accuracy` at 0.5 of every row at once."""
    tp, fp, fn, tn = _confusion_rows(y, p, 0.5, axis)
    return (tp + tn) / (tp + fp + fn + tn)


def _brier_rows(y: np.ndarray, p: np.ndarray, axis: int = -1) -> np.ndarray:
    """:func:`brier` of every row at once, NaN where a row holds a score outside [0, 1]. The operations are
    scikit-learn's for a binary target (one-hot labels against ``(1 - p, p)``, summed, averaged, halved), so the
    numbers are the same to the last bit."""
    y = np.moveaxis(y, axis, -1).astype(np.float64)
    p = np.moveaxis(p, axis, -1)
    squared = ((1.0 - y) - (1.0 - p)) ** 2 + (y - p) ** 2
    return np.where(((p < 0) | (p > 1)).any(axis=-1), np.nan, squared.mean(axis=-1) * 0.5)


#: Named metrics that the bootstrap computes for every resample at once (scipy.stats.bootstrap's vectorised path),
#: with the values of one scikit-learn call per resample (``tests/test_metrics.py``); the others are called once
#: per resample.
_ROWS: dict[str, Callable[..., np.ndarray]] = {
    "auroc": _auroc_rows,
    "macro_f1": _macro_f1_rows,
    "macro_recall": _macro_recall_rows,
    "accuracy": _accuracy_rows,
    "brier": _brier_rows,
}


def _resampled(statistic, data: tuple[np.ndarray, ...], n: int, seed: int, vectorized: bool = False) -> np.ndarray:
    """``statistic`` over ``n`` paired bootstrap resamples of ``data`` (scipy.stats.bootstrap's resampling).

    The interval is taken from this distribution with NaN resamples left out: scipy's own percentile interval is
    NaN as soon as one resample is (an AUROC on a resample that drew one class only), which is common on the
    small validation splits microfuse reports on. A ``vectorized`` statistic sees the same resamples.
    """
    if n < 1:
        raise UsageError(f"the number of bootstrap resamples must be >= 1, got {n}")
    if data[0].size == 0:
        return np.full(n, np.nan)
    with warnings.catch_warnings():  # scipy warns that its interval is NaN; ours leaves those resamples out
        warnings.simplefilter("ignore", stats.DegenerateDataWarning)
        result = stats.bootstrap(data, statistic, n_resamples=n, paired=True, vectorized=vectorized,
                                 method="percentile", rng=np.random.default_rng(check_seed(seed)))
    return np.asarray(result.bootstrap_distribution, dtype=np.float64)


def bootstrap_ci(
    y, p, metric: Union[str, MetricFn] = "auroc", n: int = 1000, seed: int = 0, alpha: float = 0.05
) -> dict[str, float]:
    """Percentile bootstrap: ``{"estimate", "low", "high", "std"}`` with a (1 - alpha) interval.

    Resamples where the metric is undefined (e.g. one class only) are ignored.
    """
    y, p = _check(y, p)
    fn = _metric_fn(metric)
    rows = _ROWS.get(metric) if isinstance(metric, str) else None
    if rows is not None:
        values = _resampled(rows, (y, p), n, seed, vectorized=True)
    else:
        values = _resampled(fn, (y, p), n, seed)
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
    rows = _ROWS.get(metric) if isinstance(metric, str) else None
    if rows is not None:
        deltas = _resampled(lambda yy, a, b, axis=-1: rows(yy, a, axis) - rows(yy, b, axis),
                            (y, p1, p2), n, seed, vectorized=True)
    else:
        deltas = _resampled(lambda yy, a, b: fn(yy, a) - fn(yy, b), (y, p1, p2), n, seed)
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
# hard-conflict subset and router means


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
