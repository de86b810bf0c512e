"""Shuffled-DNA backgrounds and z-scores, which make sequence signals comparable across genomes of different GC.

GC normalisation (``docs/findings.md``, "Single-genome sequence signals barely transfer": energies and motif
scores shift with genome GC). ``*_z`` features are z-scores of the statistic against a background of the genome's
own regions with their bases shuffled (mononucleotide shuffle, fixed seed, regions sampled from the pairs' regions):
the shuffle keeps each region's composition and length and destroys structure and motifs. The background mean and
spread are fitted as linear functions of log region length (the minimum over more windows is lower), so a z-score
reads "how much more terminator-like than random DNA of this composition and length" (``term_mfe_z`` negative =
more stable than random; ``term_tscore_z`` and ``prom_z`` positive = more terminator- / promoter-like). The choice
of shuffled windows over divergent/convergent regions is ours: it works on a metagenomic contig with a handful of
pairs, where such regions are too few.
"""

from __future__ import annotations

import math

import numpy as np


def mean_sd(values: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation; 0 and 1 for no values, and a spread of 1 where it is (nearly) zero."""
    if values.size == 0:
        return 0.0, 1.0
    sd = float(values.std())
    return float(values.mean()), sd if sd > 1e-6 else 1.0


def shuffled(regions: list[np.ndarray], n: int, seed: int) -> list[np.ndarray]:
    """``n`` regions sampled (with replacement when few) from ``regions``, each with its bases shuffled."""
    rng = np.random.default_rng(seed)
    usable = [r for r in regions if len(r)]
    if not usable:
        return []
    picks = rng.choice(len(usable), size=n, replace=len(usable) < n)
    return [rng.permutation(usable[i]) for i in picks]


def fit_background(lengths: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear fits of mean and spread of ``values`` on log length; returns (mean coefs, sd coefs)."""
    x = np.stack([np.ones(len(lengths)), np.log(np.maximum(lengths, 1.0))], axis=1)
    if len(values) < 3 or np.ptp(x[:, 1]) < 1e-9:
        mu, sd = mean_sd(values)
        return np.array([mu, 0.0]), np.array([sd, 0.0])
    beta, *_ = np.linalg.lstsq(x, values, rcond=None)
    spread = np.abs(values - x @ beta) * math.sqrt(math.pi / 2.0)
    gamma, *_ = np.linalg.lstsq(x, spread, rcond=None)
    return beta, gamma


def zscore(lengths: np.ndarray, values: np.ndarray, fit: tuple[np.ndarray, np.ndarray], floor: float) -> np.ndarray:
    """``values`` as z-scores against a :func:`fit_background` fit, the spread kept at ``floor`` or above."""
    beta, gamma = fit
    logl = np.log(np.maximum(lengths, 1.0))
    mu = beta[0] + beta[1] * logl
    sd = np.maximum(gamma[0] + gamma[1] * logl, floor)
    return (values - mu) / sd
