"""Should the posterior threshold leave 0.5? Post-hoc checks of two cut-off rules (issue 14).

    python benchmarks/posterior_threshold.py --data ../shared/data [--resamples 200] [--seed 0]

Both rules were thought of after the pre-registered leave-one-genome-out table (benchmarks/RESULTS.md) had been
seen, so they are checks, not pre-registered results; the last one is the rule shipped since the sixth landing
(calibration.learn_rule's defaults). No fusion head here: cross_species.py --logo gives the same rule with it. Inside each fold the threshold t (calls where the genome's own spacer
posterior >= t) is learned from the three training genomes' labels only:
- "mean": the t with the best mean accuracy over the training genomes (the pre-registered T3 design);
- "worst": the t with the smallest worst gap to the training genomes' best cut-offs (the issue's target is per
  genome, so the criterion is too);
- "worst, inside own interval": the "worst" cut-off clipped to the held-out genome's own 90% bootstrap interval
  (calibration.own_cutoff_interval: label-free refits to its resampled same-strand and boundary spacers): never
  further from the genome's own estimate than its own evidence allows.
- "label shift": a threshold per genome from its own mixture operon fraction pi_G and one labelled-set positive
  rate pi_L learned across the training genomes (smallest worst gap): calls where the posterior re-weighted from
  pi_G to pi_L is >= 0.5 (the prior correction for label shift, Saerens et al. 2002), i.e.
  t = pi_G (1 - pi_L) / (pi_G (1 - pi_L) + pi_L (1 - pi_G)); inside the own interval as above.
Per fold: the chosen t, the cut-off in bp, the gap to the held-out set's best cut-off (uses its labels; target
<= 0.04, mean <= 0.02) and the accuracy against the label-free posterior >= 0.5 (target >= -0.01).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from microfuse_cli.calibration import (POSTERIOR_THRESHOLDS, LabelledSpacers, SpacerModel,  # noqa: E402
                                       learn_posterior_threshold, own_cutoff_interval, posterior_cutoff)
from microfuse_cli.train_default import LABELLED_GENOMES  # noqa: E402


def learned_threshold(train: list[LabelledSpacers], criterion: str) -> float:
    if criterion == "worst":
        return learn_posterior_threshold(train)
    best = [g.best_cutoff()[1] for g in train]
    return min(POSTERIOR_THRESHOLDS, key=lambda t: (
        np.mean([b - g.accuracy_at(posterior_cutoff(g.spacer, t)) for b, g in zip(best, train)])))


#: The labelled-set positive rates the "label shift" rule may learn.
LABELLED_RATES = tuple(round(r, 3) for r in np.arange(0.30, 0.951, 0.025))


def shifted_threshold(operon_fraction: float, labelled_rate: float) -> float:
    """The posterior threshold at which a genome's posterior, re-weighted to a set with ``labelled_rate``
    positives, is one half."""
    kept = operon_fraction * (1 - labelled_rate)
    return kept / (kept + labelled_rate * (1 - operon_fraction))


def learned_labelled_rate(train: list[LabelledSpacers]) -> float:
    best = [g.best_cutoff()[1] for g in train]

    def loss(rate):
        gaps = [b - g.accuracy_at(posterior_cutoff(g.spacer, shifted_threshold(g.spacer.operon_fraction, rate)))
                for b, g in zip(best, train)]
        return max(gaps), float(np.mean(gaps))

    return min(LABELLED_RATES, key=loss)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--resamples", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    sets, intervals = {}, {}
    for entry in LABELLED_GENOMES:
        genome, adjacent, labelled = entry.load(args.data)
        sets[entry.name] = LabelledSpacers.from_pairs(entry.name, SpacerModel.fit(adjacent), labelled)
        intervals[entry.name] = own_cutoff_interval(sets[entry.name].spacer, 0.9, resamples=args.resamples,
                                                    seed=args.seed)
    print("| rule | " + " | ".join(f"{n}: t, cut-off bp, gap to best, vs posterior 0.5" for n in sets)
          + " | mean gap | worst gap |")
    print("|---|" + "---|" * (len(sets) + 2))
    for rule in ("posterior 0.5 (the fourth landing)", "mean", "worst", "worst, inside own interval",
                 "label shift, inside own interval"):
        cells, gaps = [], []
        for name, held in sets.items():
            train = [sets[n] for n in sets if n != name]
            if rule.startswith("label shift"):
                t = shifted_threshold(held.spacer.operon_fraction, learned_labelled_rate(train))
            else:
                t = 0.5 if rule.startswith("posterior") else learned_threshold(train, rule.split(",")[0])
            cutoff = posterior_cutoff(held.spacer, t)
            if rule.endswith("interval"):
                cutoff = float(np.clip(cutoff, *intervals[name]))
            gap = held.best_cutoff()[1] - held.accuracy_at(cutoff)
            versus = held.accuracy_at(cutoff) - held.accuracy_at(posterior_cutoff(held.spacer))
            cells.append(f"{t:.2f}, {cutoff:.0f}, {gap:.3f}, {versus:+.3f}")
            gaps.append(gap)
        print(f"| {rule} | " + " | ".join(cells) + f" | {np.mean(gaps):.5f} | {max(gaps):.3f} |")
    print("\nown 90% bootstrap intervals (bp): "
          + ", ".join(f"{n} {lo:.0f}-{hi:.0f}" for n, (lo, hi) in intervals.items()))


if __name__ == "__main__":
    main()
