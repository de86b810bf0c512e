"""Sigma-70 promoter in the intergenic DNA of a pair.

A sigma-70 -35 (TTGACA) / -10 (TATAAT) position-weight match with a 15-19 bp spacer, best over the promoter region.
The weights are log-odds of the consensus-base frequencies Harley & Reynolds (1987) report for E. coli promoters
(other bases share the rest equally) against the genome's own base composition. ``prom_z`` is the score against
shuffled promoter regions (:mod:`.background`).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from .background import fit_background, shuffled, zscore

#: Number of shuffled regions in the background of the promoter score (no folding: cheap).
N_BACKGROUND_PROMOTER = 1000

# Harley & Reynolds (1987): percentage of E. coli promoters with the consensus base at each position.
_MINUS35 = ("TTGACA", (0.82, 0.84, 0.79, 0.64, 0.53, 0.45))
_MINUS10 = ("TATAAT", (0.79, 0.95, 0.44, 0.59, 0.51, 0.96))
_SPACERS = range(15, 20)
_SPACER_PENALTY = 0.5  # log-odds units per bp away from the optimal 17 bp


def _pwm(consensus: str, conservation: Sequence[float], background: np.ndarray) -> np.ndarray:
    """(len, 5) log2-odds; N (column 4) scores the row minimum."""
    rows = []
    for base, p in zip(consensus, conservation):
        probs = np.full(4, (1.0 - p) / 3.0)
        probs["ACGT".index(base)] = p
        row = np.log2(probs / background)
        rows.append(np.append(row, row.min()))
    return np.array(rows)


def promoter_scores(regions: list[np.ndarray], background: np.ndarray) -> np.ndarray:
    """Best -35/-10 match (log2-odds) per region; regions shorter than a whole promoter score the minimum."""
    n = len(regions)
    if n == 0:
        return np.zeros(0)
    p35 = _pwm(*_MINUS35, background)
    p10 = _pwm(*_MINUS10, background)
    width = max(max(len(r) for r in regions), 40)
    codes = np.full((n, width), 4, dtype=np.int64)
    valid_len = np.zeros(n, dtype=np.int64)
    for i, r in enumerate(regions):
        codes[i, : len(r)] = r
        valid_len[i] = len(r)
    positions = width - 5
    s35 = np.zeros((n, positions))
    s10 = np.zeros((n, positions))
    for k in range(6):
        s35 += p35[k][codes[:, k : k + positions]]
        s10 += p10[k][codes[:, k : k + positions]]
    best = np.full(n, -np.inf)
    for spacer in _SPACERS:
        shift = 6 + spacer
        if shift >= positions:
            continue
        total = s35[:, : positions - shift] + s10[:, shift:] - _SPACER_PENALTY * abs(spacer - 17)
        end = np.arange(positions - shift) + shift + 6  # one past the -10 box
        total = np.where(end[None, :] <= valid_len[:, None], total, -np.inf)
        best = np.maximum(best, total.max(axis=1))
    floor = p35.min(axis=1).sum() + p10.min(axis=1).sum() - _SPACER_PENALTY * 2
    return np.where(np.isfinite(best), best, floor)


def promoter_features(prom_regions: list[np.ndarray], composition: np.ndarray) -> dict:
    """Sigma-70 PWM score against the genome's composition, z against shuffled promoter regions."""
    prom = promoter_scores(prom_regions, composition)
    prom_bg_regions = shuffled(prom_regions, N_BACKGROUND_PROMOTER, seed=2)
    if prom_bg_regions:
        prom_bg = promoter_scores(prom_bg_regions, composition)
        prom_len = np.array([len(r) for r in prom_regions], dtype=np.float64)
        prom_bg_len = np.array([len(r) for r in prom_bg_regions], dtype=np.float64)
        prom_z = zscore(prom_len, prom, fit_background(prom_bg_len, prom_bg), 0.25)
    else:
        prom_z = np.zeros(len(prom_regions))
    return {"prom_score": prom, "prom_z": prom_z}
