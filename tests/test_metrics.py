"""Metrics against small cases worked out by hand, plus the plot writers."""

from __future__ import annotations

import itertools
import math

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


# ---------------------------------------------------------------------------------------------- bootstrap


def test_bootstrap_ci_is_seeded_and_brackets_the_estimate():
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 200)
    p = np.clip(0.4 * y + rng.uniform(0, 0.6, 200), 0, 1)
    a = M.bootstrap_ci(y, p, "auroc", n=200, seed=5)
    b = M.bootstrap_ci(y, p, M.auroc, n=200, seed=5)
    assert a == b
    assert a["low"] <= a["estimate"] <= a["high"]
    assert a["estimate"] == M.auroc(y, p)
    with pytest.raises(UsageError):
        M.bootstrap_ci(y, p, "nope", n=10)


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
    pytest.importorskip("matplotlib")
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
