"""Metrics against small cases worked out by hand and brute-force counts, plus the plot writers."""

from __future__ import annotations

import itertools
import math
import warnings

import numpy as np
import pytest

from microfuse_cli import metrics as M
from microfuse_cli.errors import DataError, UsageError


# ---------------------------------------------------------------------------------------------- AUROC


def test_auroc_perfect_reversed_and_all_ties():
    y = [0, 0, 1, 1]
    assert M.auroc(y, [0.1, 0.2, 0.8, 0.9]) == 1.0
    assert M.auroc(y, [0.9, 0.8, 0.2, 0.1]) == 0.0
    assert M.auroc(y, [0.5, 0.5, 0.5, 0.5]) == 0.5


def test_auroc_hand_cases():
    # positives 0.35 and 0.8 vs negatives 0.1 and 0.4: 0.35 beats 0.1 only, 0.8 beats both -> 3 of 4 pairs
    assert M.auroc([0, 0, 1, 1], [0.1, 0.4, 0.35, 0.8]) == pytest.approx(0.75)
    # a positive tied with a negative counts one half: (1 + 0.5 + 1 + 1) / 4
    assert M.auroc([0, 0, 1, 1], [0.2, 0.5, 0.5, 0.9]) == pytest.approx(0.875)


def test_auroc_matches_pair_counting_with_ties():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 60)
    p = rng.integers(0, 6, 60) / 5.0  # many ties
    pos, neg = p[y == 1], p[y == 0]
    wins = sum(1.0 if a > b else 0.5 if a == b else 0.0 for a, b in itertools.product(pos, neg))
    assert M.auroc(y, p) == pytest.approx(wins / (pos.size * neg.size))
    # order of the input does not matter
    perm = rng.permutation(60)
    assert M.auroc(y[perm], p[perm]) == pytest.approx(M.auroc(y, p))


def test_auroc_single_class_is_nan_and_bad_input_raises():
    assert math.isnan(M.auroc([1, 1], [0.2, 0.3]))
    with pytest.raises(DataError):
        M.auroc([0, 1, 2], [0.1, 0.2, 0.3])
    with pytest.raises(DataError):
        M.auroc([0, 1], [0.1, float("nan")])
    with pytest.raises(DataError):
        M.auroc([0, 1], [0.1])


def _noisy(seed: int, n: int = 80, levels: int = 6):
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    p = np.clip(rng.integers(0, levels, n) / (levels - 1) + 0.2 * y, 0, 1)  # ties on purpose
    return y, p


def test_curves_match_counts_at_every_distinct_score():
    y, p = _noisy(4)
    fpr, tpr, thr = M.roc_curve(y, p)
    precision, recall, pr_thr = M.precision_recall_curve(y, p)
    distinct = np.unique(p)[::-1]
    assert thr[0] == np.inf and fpr[0] == tpr[0] == 0 and thr[1:].tolist() == distinct.tolist()
    assert pr_thr.tolist() == distinct.tolist()
    for k, t in enumerate(distinct):
        tp, fp = int(((p >= t) & (y == 1)).sum()), int(((p >= t) & (y == 0)).sum())
        assert tpr[k + 1] == pytest.approx(tp / y.sum()) and fpr[k + 1] == pytest.approx(fp / (y.size - y.sum()))
        assert precision[k] == pytest.approx(tp / (tp + fp)) and recall[k] == pytest.approx(tp / y.sum())
    with pytest.raises(DataError):
        M.roc_curve([1, 1], [0.2, 0.3])
    with pytest.raises(DataError):
        M.precision_recall_curve([0, 0], [0.2, 0.3])


def test_undefined_metrics_are_nan_without_warnings():
    """One class present: the ranking metrics are NaN, the rest stay defined, and nothing warns."""
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert math.isnan(M.auroc([0, 0, 0], [0.1, 0.6, 0.9]))
        assert math.isnan(M.average_precision([0, 0, 0], [0.1, 0.6, 0.9]))
        assert M.mean_average_precision([0, 0, 0], [0.1, 0.6, 0.9]) == pytest.approx(M.average_precision([1, 1, 1], [0.9, 0.4, 0.1]))
        assert M.macro_recall([0, 0, 0], [0.1, 0.6, 0.9]) == pytest.approx(1 / 3)  # recall of the class present
        assert M.brier([1, 1], [1.0, 0.5]) == pytest.approx(0.125)
        res = M.binary_metrics([1, 1, 1], [0.9, 0.8, 0.2])
        assert math.isnan(res["auroc"]) and res["accuracy"] == pytest.approx(2 / 3)
        ranking = M.binary_metrics([0, 1, 1], [-300.0, -20.0, -5.0])  # a score, not a probability
        assert ranking["auroc"] == 1.0 and math.isnan(ranking["brier"])
        empty = M.binary_metrics([], [])
        assert empty["n"] == 0 and math.isnan(empty["auroc"]) and math.isnan(empty["brier"])


def test_threshold_metrics_match_confusion_counts():
    y, p = _noisy(5, n=200)
    for t in (0.25, 0.5, 0.7):
        yhat = p >= t
        tp, fp = np.sum(yhat & (y == 1)), np.sum(yhat & (y == 0))
        fn, tn = np.sum(~yhat & (y == 1)), np.sum(~yhat & (y == 0))
        f1 = (2 * tp / (2 * tp + fp + fn) + 2 * tn / (2 * tn + fn + fp)) / 2
        assert M.macro_f1(y, p, t) == pytest.approx(f1)
        assert M.macro_recall(y, p, t) == pytest.approx((tp / (tp + fn) + tn / (tn + fp)) / 2)
    # a class never predicted nor present has F1 0
    assert M.macro_f1([1, 1], [0.9, 0.8]) == pytest.approx(0.5)


# ---------------------------------------------------------------------------------------------- precision


def test_average_precision_hand_case():
    # ranking 0.9(+) 0.8(-) 0.7(+) 0.1(-): precision 1 at recall 0.5, 2/3 at recall 1
    y, p = [1, 0, 1, 0], [0.9, 0.8, 0.7, 0.1]
    assert M.average_precision(y, p) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    assert M.auprc(y, p) == M.average_precision(y, p)


def test_average_precision_ties_form_one_threshold():
    # both scores tied: one threshold with precision 1/2 at recall 1
    assert M.average_precision([1, 0], [0.5, 0.5]) == pytest.approx(0.5)


def test_map_averages_both_classes():
    y, p = [1, 0, 0, 0], [0.6, 0.7, 0.2, 0.1]
    ap1 = 0.5  # the positive is ranked second
    # class 0 ranked by 1 - p: 0.9(+) 0.8(+) 0.4(-) 0.3(+): precisions 1, 1, 3/4 at recall steps of 1/3
    ap0 = (1 + 1 + 0.75) / 3
    assert M.mean_average_precision(y, p) == pytest.approx((ap1 + ap0) / 2)


# ---------------------------------------------------------------------------------------------- thresholded


def test_threshold_metrics_hand_case():
    y, p = [1, 1, 1, 0], [0.9, 0.8, 0.2, 0.1]  # predictions at 0.5: 1 1 0 0
    f1_pos = 2 * 2 / (2 * 2 + 0 + 1)  # tp 2, fp 0, fn 1
    f1_neg = 2 * 1 / (2 * 1 + 1 + 0)  # tn 1, the missed positive is a false "negative" prediction
    assert M.macro_f1(y, p) == pytest.approx((f1_pos + f1_neg) / 2)
    assert M.macro_recall(y, p) == pytest.approx((2 / 3 + 1) / 2)
    assert M.accuracy(y, p) == pytest.approx(0.75)
    assert M.brier(y, p) == pytest.approx((0.01 + 0.04 + 0.64 + 0.01) / 4)
    res = M.binary_metrics(y, p)
    assert res["n"] == 4 and res["n_positive"] == 3 and res["positive_rate"] == 0.5
    assert res["macro_f1"] == pytest.approx((f1_pos + f1_neg) / 2)
    assert M.binary_metrics(y, p, threshold=0.15)["accuracy"] == 1.0


def test_choose_threshold_separates_perfectly():
    y, p = [0, 0, 1, 1], [0.1, 0.3, 0.6, 0.8]
    t = M.choose_threshold(y, p)
    assert t == pytest.approx(0.45)  # midpoint between 0.3 and 0.6
    assert M.macro_f1(y, p, t) == 1.0
    assert M.choose_threshold(y, p, "accuracy") == pytest.approx(0.45)
    with pytest.raises(UsageError):
        M.choose_threshold(y, p, "nonsense")


def test_choose_threshold_maximises_macro_f1_over_a_grid():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 300)
    p = np.clip(0.3 * y + rng.normal(0.35, 0.2, 300), 0, 1)
    best_grid = max(M.macro_f1(y, p, t) for t in np.linspace(0, 1, 1001))
    assert M.macro_f1(y, p, M.choose_threshold(y, p)) >= best_grid - 1e-12


def test_best_accuracy_is_the_best_cut_off():
    y, p = _noisy(8, n=120)
    brute = max(np.mean((p >= t) == y) for t in np.r_[np.unique(p), np.inf])
    assert M.best_accuracy(y, p) == pytest.approx(brute)
    assert M.best_accuracy([1, 0, 0], [0.2, 0.9, 0.8]) == pytest.approx(2 / 3)  # calling nothing positive is best
    assert math.isnan(M.best_accuracy([], []))


def test_threshold_sweep_values():
    y, p = np.array([1, 1, 1, 0]), np.array([0.9, 0.8, 0.2, 0.1])
    sweep = M.threshold_sweep(y, p, [0.0, 0.5, 1.0])
    assert sweep["positive_rate"].tolist() == [1.0, 0.5, 0.0]
    assert sweep["accuracy"].tolist() == [0.75, 0.75, 0.25]
    assert sweep["macro_f1"][1] == pytest.approx(M.macro_f1(y, p, 0.5))
    assert M.threshold_sweep(y, p)["threshold"].shape == (101,)


def test_calibration_curve_bins():
    mean_p, rate, count = M.calibration_curve([0, 1, 1, 1], [0.05, 0.15, 0.95, 0.99], n_bins=10)
    assert count.tolist() == [1, 1, 2]
    assert rate.tolist() == [0.0, 1.0, 1.0]
    assert mean_p[2] == pytest.approx(0.97)
    y, p = _noisy(6, n=300, levels=23)
    mean_p, rate, count = M.calibration_curve(y, p, n_bins=5)
    assert count.sum() == y.size and np.all(np.diff(mean_p) > 0)
    assert np.sum(rate * count) == pytest.approx(y.sum())  # the bins' positives add up to all positives
    with pytest.raises(DataError):
        M.calibration_curve([0, 1], [0.5, 1.5])


# ---------------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.4 * y + rng.uniform(0, 0.6, 200), 0, 1)
    a = M.bootstrap_ci(y, p, "auroc", n=200, seed=5)
    b = M.bootstrap_ci(y, p, M.auroc, n=200, seed=5)
    assert a == pytest.approx(b, abs=1e-12)  # the vectorised AUROC path and one call per resample
    assert M.bootstrap_ci(y, p, "auroc", n=200, seed=5) == a
    assert a["low"] <= a["estimate"] <= a["high"]
    assert a["estimate"] == M.auroc(y, p)
    with pytest.raises(UsageError):
        M.bootstrap_ci(y, p, "nope", n=10)


def test_bootstrap_ci_is_scipys_percentile_interval():
    from scipy import stats

    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 150)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, 150), 0, 1)
    ours = M.bootstrap_ci(y, p, "auroc", n=300, seed=7, alpha=0.1)
    theirs = stats.bootstrap((y, p), M.auroc, n_resamples=300, paired=True, vectorized=False, method="percentile",
                             confidence_level=0.9, rng=np.random.default_rng(7))
    assert ours["low"] == pytest.approx(theirs.confidence_interval.low)
    assert ours["high"] == pytest.approx(theirs.confidence_interval.high)
    assert ours["std"] == pytest.approx(theirs.standard_error)


def test_bootstrap_ignores_resamples_with_one_class():
    y, p = [1, 0, 0, 0, 0, 0], [0.9, 0.1, 0.2, 0.3, 0.4, 0.5]  # a third of the resamples draw no positive
    res = M.bootstrap_ci(y, p, "auroc", n=200, seed=0)
    assert res["estimate"] == 1.0 and res["low"] == res["high"] == 1.0 and math.isfinite(res["std"])
    delta = M.paired_bootstrap_delta(y, p, 1 - np.asarray(p), "auroc", n=200, seed=0)
    assert delta["delta"] == 1.0 and delta["low"] == 1.0 and delta["p_value"] == 0.0


def test_paired_bootstrap_delta():
    rng = np.random.default_rng(2)
    y = rng.integers(0, 2, 200)
    good = y + rng.normal(0, 0.3, 200)
    noise = rng.normal(0, 1, 200)
    res = M.paired_bootstrap_delta(y, good, noise, "auroc", n=200, seed=0)
    assert res["delta"] > 0.3 and res["low"] > 0 and res["p_value"] < 0.05
    same = M.paired_bootstrap_delta(y, good, good, "auroc", n=50, seed=0)
    assert same["delta"] == 0.0 and same["p_value"] == 1.0


# ---------------------------------------------------------------------------------------------- hard subset, router


def test_prefix_identity():
    assert M.prefix_identity("MKV", "MKA") == pytest.approx(2 / 3)
    assert M.prefix_identity("MKVL", "MK") == 1.0  # compared over the shorter prefix
    assert M.prefix_identity("", "MK") == 0.0
    # only the first 300 residues count
    assert M.prefix_identity("A" * 300 + "C" * 50, "A" * 300 + "D" * 50) == 1.0
    assert M.prefix_identity("ACDE", "ACFF", n=2) == 1.0
    arr = M.prefix_identity(["MKV", "AAAA"], ["MKA", "CCCC"])
    assert arr.tolist() == pytest.approx([2 / 3, 0.0])
    with pytest.raises(DataError):
        M.prefix_identity(["A"], ["A", "B"])


def test_hard_conflict_mask():
    identity = np.array([0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8])
    y = np.array([1, 0, 1, 0, 1, 0, 1, 0])
    # quartiles (linear interpolation): 0.275 and 0.625 -> positive 0.1 and negative 0.8 only
    assert M.hard_conflict_mask(y, identity).tolist() == [True, False, False, False, False, False, False, True]


def test_router_weight_means():
    w = np.array([[0.5, 0.5, 0.0, 0.0], [0.1, 0.2, 0.3, 0.4]])
    assert M.router_weight_means(w) == pytest.approx(
        {"protein": 0.3, "context": 0.35, "agreement": 0.15, "conflict": 0.2}
    )
    assert math.isnan(M.router_weight_means(np.full((3, 4), np.nan))["conflict"])
    with pytest.raises(DataError):
        M.router_weight_means(np.zeros((3, 3)))


# ---------------------------------------------------------------------------------------------- plots


def test_plots_write_deterministic_pngs(tmp_path):
    from microfuse_cli import plots

    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, 120)
    p = np.clip(0.4 * y + rng.uniform(0, 0.6, 120), 0, 1)
    w = rng.dirichlet(np.ones(4), size=120)
    written = [
        plots.plot_roc(y, {"a": p, "b": 1 - p}, tmp_path / "roc.png"),
        plots.plot_pr(y, p, tmp_path / "pr.png"),
        plots.plot_threshold_sweep(y, p, tmp_path / "sweep.png", threshold=0.5),
        plots.plot_calibration(y, p, tmp_path / "cal.png"),
        plots.plot_router_weights(w, tmp_path / "router.png"),
    ]
    for path in written:
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    again = plots.plot_roc(y, {"a": p, "b": 1 - p}, tmp_path / "roc2.png")
    assert again.read_bytes() == written[0].read_bytes()
    assert sorted(f.name for f in tmp_path.iterdir()) == ["cal.png", "pr.png", "roc.png", "roc2.png", "router.png", "sweep.png"]


def test_plots_write_the_format_their_path_names(tmp_path):
    """plot_roc(..., 'roc.pdf') wrote PNG bytes into a .pdf (the library wrote PNG whatever the suffix): each
    function writes the format the suffix names, or ``fmt``, and refuses another image suffix or none, as `plot`
    does, writing nothing."""
    from microfuse_cli import plots
    from microfuse_cli.errors import UsageError

    y, p = np.array([0, 1, 0, 1, 1, 0]), np.array([0.1, 0.8, 0.4, 0.6, 0.9, 0.3])
    assert plots.plot_roc(y, p, tmp_path / "roc.pdf").read_bytes()[:5] == b"%PDF-"
    assert b"<svg" in plots.plot_pr(y, p, tmp_path / "pr.SVG").read_bytes()[:400]
    assert plots.plot_calibration(y, p, tmp_path / "cal", fmt="pdf").read_bytes()[:5] == b"%PDF-"
    for name, fmt in (("roc.jpg", None), ("roc", None), ("roc.png", "svg")):
        with pytest.raises(UsageError, match="roc"):
            plots.plot_roc(y, p, tmp_path / name, fmt=fmt)
    assert sorted(f.name for f in tmp_path.iterdir()) == ["cal", "pr.SVG", "roc.pdf"]


def test_plots_take_the_format_of_any_path_like(tmp_path):
    """A path is any os.PathLike: its suffix was read from str(path), which for one that is not a pathlib.Path is
    its repr (no suffix: refused as a name without one)."""
    from microfuse_cli import plots

    class Where:
        def __init__(self, path):
            self.path = path

        def __fspath__(self):
            return str(self.path)

    y, p = np.array([0, 1, 0, 1]), np.array([0.2, 0.7, 0.4, 0.9])
    plots.plot_roc(y, p, Where(tmp_path / "roc.pdf"))
    assert (tmp_path / "roc.pdf").read_bytes()[:5] == b"%PDF-"


def test_plots_into_an_open_file_take_the_format_its_name_says(tmp_path):
    """A binary file opened on roc.pdf got PNG bytes (a file object was always written PNG): its name's .png, .svg
    or .pdf suffix tells the format, as a path's does, and fmt= against it is refused; a file of no such name
    (io.BytesIO, evaluate --plots) is still PNG."""
    import io

    from microfuse_cli import plots
    from microfuse_cli.errors import UsageError

    y, p = np.array([0, 1, 0, 1]), np.array([0.2, 0.7, 0.4, 0.9])
    with open(tmp_path / "roc.pdf", "wb") as handle:
        plots.plot_roc(y, p, handle)
    assert (tmp_path / "roc.pdf").read_bytes()[:5] == b"%PDF-"
    with open(tmp_path / "pr.SVG", "wb") as handle, pytest.raises(UsageError, match="pr.SVG"):
        plots.plot_pr(y, p, handle, fmt="png")
    assert plots.plot_pr(y, p, io.BytesIO()).getvalue()[:4] == b"\x89PNG"


def test_auroc_bootstrap_vectorised_equals_one_call_per_resample():
    """The vectorised AUROC path (ranks over every resample at once) gives the intervals sklearn's auroc gives,
    ties and one-class resamples included."""
    rng = np.random.default_rng(3)
    y = rng.integers(0, 2, 300)
    y[:3] = [0, 1, 0]
    p = np.round(rng.random(300) + 0.4 * y, 1)  # coarse scores: many ties
    q = np.round(rng.random(300) + 0.1 * y, 1)
    fast, slow = M.bootstrap_ci(y, p, "auroc", n=300, seed=2), M.bootstrap_ci(y, p, M.auroc, n=300, seed=2)
    assert fast == pytest.approx(slow, abs=1e-12)
    fast = M.paired_bootstrap_delta(y, p, q, "auroc", n=300, seed=2)
    slow = M.paired_bootstrap_delta(y, p, q, M.auroc, n=300, seed=2)
    assert fast == pytest.approx(slow, abs=1e-12)
    tiny = np.array([1, 0, 1]), np.array([0.2, 0.3, 0.9])  # many resamples hold one class: left out, not NaN
    fast, slow = M.bootstrap_ci(*tiny, "auroc", n=200), M.bootstrap_ci(*tiny, M.auroc, n=200)
    assert np.isfinite(fast["low"]) and fast == pytest.approx(slow, abs=1e-12)


def test_vectorised_threshold_metrics_and_brier_equal_sklearn_per_resample(ecoli_genome, ecoli_pairs):
    """Macro-F1, macro recall, accuracy and Brier of every bootstrap resample at once (confusion counts per row)
    are scikit-learn's numbers to the last bit, on E. coli's ODB-labelled pairs scored by the spacer posterior."""
    from sklearn import metrics as skm

    from microfuse_cli.calibration import SpacerModel
    from microfuse_cli.pairs import adjacent_pairs

    labelled = [p for p in ecoli_pairs if p.label is not None]
    y = np.array([p.label for p in labelled])
    p = SpacerModel.fit(adjacent_pairs(ecoli_genome)).features(labelled)[:, 1].astype(np.float64)
    idx = np.random.default_rng(0).integers(0, y.size, (100, y.size))
    idx[0] = np.flatnonzero(y == 1)[0]  # a resample of one class
    sklearn_per_row = {
        "macro_f1": lambda t, s: skm.f1_score(t, s >= 0.5, labels=[0, 1], average="macro", zero_division=0.0),
        "macro_recall": lambda t, s: skm.recall_score(t, s >= 0.5, labels=np.unique(t), average="macro"),
        "accuracy": lambda t, s: skm.accuracy_score(t, s >= 0.5),
        "brier": lambda t, s: skm.brier_score_loss(t, s, labels=[0, 1]),
    }
    for name, reference in sklearn_per_row.items():
        want = np.array([reference(y[i], p[i]) for i in idx])
        assert np.array_equal(M._ROWS[name](y[idx], p[idx]), want), name
    outside = np.where(np.arange(y.size) == 5, 1.5, p)  # a ranking score, not a probability: Brier is undefined
    brier = M._ROWS["brier"](y[idx], outside[idx])
    assert np.array_equal(np.isnan(brier), (idx == 5).any(axis=1)) and np.isnan(brier).any()
    for name in sklearn_per_row:  # the same resamples through scipy: the same intervals as a call per resample
        fast, slow = M.bootstrap_ci(y, p, name, n=40, seed=1), M.bootstrap_ci(y, p, M._NAMED[name], n=40, seed=1)
        assert fast == slow, name
    q = np.round(p, 1)
    assert M.paired_bootstrap_delta(y, p, q, "macro_f1", n=40) == M.paired_bootstrap_delta(y, p, q, M.macro_f1, n=40)
