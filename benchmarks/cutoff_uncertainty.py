"""Is a genome's own cut-off uncertain enough for a prior to lead? (issue 14: "where the genome's own evidence is
thin, the prior leads")

    python benchmarks/cutoff_uncertainty.py --data ../shared/data [--resamples 400] [--seed 0]

For each labelled genome: the cut-off where its self-calibrated spacer posterior falls below 0.5
(calibration.posterior_cutoff) and its bootstrap spread over refits to resampled adjacent pairs (label-free), beside
the spread of the best cut-offs between the labelled sets (uses labels). A precision-weighted (empirical Bayes)
shrinkage would give the genome's own cut-off the weight tau^2 / (tau^2 + v): v its bootstrap variance, tau^2 the
between-set variance of the best cut-offs over the other three genomes (both on calibration.spacer_scale).
Prints a markdown table.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from microfuse_cli.calibration import (SCALE, LabelledSpacers, SpacerModel,  # noqa: E402
                                       posterior_cutoff, spacer_scale)
from microfuse_cli.train_default import LABELLED_GENOMES  # noqa: E402


def bootstrap_cutoffs(adjacent, resamples: int, seed: int) -> np.ndarray:
    """Own cut-offs (spacer_scale) of refits to adjacent pairs drawn with replacement."""
    rng = np.random.default_rng(seed)
    draws = (rng.integers(0, len(adjacent), len(adjacent)) for _ in range(resamples))
    return np.array([spacer_scale(posterior_cutoff(SpacerModel.fit([adjacent[i] for i in rows]))) for rows in draws])


def bp(x: float) -> float:
    return float(np.sinh(x) * SCALE)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--resamples", type=int, default=400)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    rows = {}
    for entry in LABELLED_GENOMES:
        started = time.perf_counter()
        genome, adjacent, labelled = entry.load(args.data)
        model = SpacerModel.fit(adjacent)
        labels = LabelledSpacers.from_pairs(entry.name, model, labelled)
        boot = bootstrap_cutoffs(adjacent, args.resamples, args.seed)
        rows[entry.name] = dict(own=spacer_scale(posterior_cutoff(model)), boot=boot, best=labels.best_cutoff(),
                                labels=labels, seconds=time.perf_counter() - started)
    print(f"{args.resamples} bootstrap refits per genome, seed {args.seed}; x = asinh(bp / {SCALE:g})\n")
    print("| genome | own cut-off bp (x) | bootstrap 90% interval bp | bootstrap variance v "
          "| best cut-off on the labels bp (x) | tau^2 of the other three sets' best x | weight tau^2/(tau^2+v) "
          "| shrunk cut-off bp | accuracy own / shrunk / best |")
    print("|---|---|---|---|---|---|---|---|---|")
    for name, row in rows.items():
        others = np.array([spacer_scale(rows[h]["best"][0]) for h in rows if h != name])
        mu, tau2, v = others.mean(), others.var(ddof=1), row["boot"].var(ddof=1)
        weight = tau2 / (tau2 + v)
        shrunk = round(bp(weight * row["own"] + (1 - weight) * mu), 1)
        low, high = np.quantile(row["boot"], [0.05, 0.95])
        lab = row["labels"]
        print(f"| {name} | {bp(row['own']):.0f} ({row['own']:.2f}) | {bp(low):.0f}-{bp(high):.0f} | {v:.4f} | "
              f"{row['best'][0]:.0f} ({spacer_scale(row['best'][0]):.2f}) | {tau2:.3f} | {weight:.3f} | {shrunk:.0f} | "
              f"{lab.accuracy_at(bp(row['own'])):.4f} / {lab.accuracy_at(shrunk):.4f} / {row['best'][1]:.4f} |")
    print("\nseconds per genome: " + ", ".join(f"{n} {r['seconds']:.0f}" for n, r in rows.items()))


if __name__ == "__main__":
    main()
