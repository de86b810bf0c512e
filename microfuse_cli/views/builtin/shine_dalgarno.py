"""Shine-Dalgarno (ribosome binding site) of each gene.

In the 20 nt before the start codon (gene strand), the best match to AGGAGG with 3-15 nt between the motif and the
start codon: ``rbs_match`` (matching bases, 0-6; ties go to the spacing nearest 7), ``rbs_spacing``, and
``rbs_dg``, the ViennaRNA duplex energy of that 20-nt window with the anti-Shine-Dalgarno 3' end of 16S rRNA
(``ANTI_SD``); ``rbs_z`` is ``rbs_match`` against the same windows of the genome shuffled.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...records import Gene
from .background import mean_sd
from .dna import ScaffoldSequences, encode, rna

#: 3' end of E. coli 16S rRNA (5'->3'), which pairs with the Shine-Dalgarno sequence.
ANTI_SD = "CACCUCCUUA"
#: Shine-Dalgarno consensus.
SD_MOTIF = "AGGAGG"


def _sd_windows(seqs: ScaffoldSequences, genes: Sequence[Gene], width: int = 20) -> np.ndarray:
    """(n, width) codes of the ``width`` nt before each gene's start codon, on the gene's strand."""
    out = np.full((len(genes), width), 4, dtype=np.uint8)
    for i, g in enumerate(genes):
        if g.strand > 0:
            out[i] = seqs.get(g.scaffold, g.start - 1 - width, g.start - 1, 1)
        else:
            out[i] = seqs.get(g.scaffold, g.end, g.end + width, -1)
    return out


_SD = encode(SD_MOTIF)
_SD_MIN_SPACING, _SD_MAX_SPACING, _SD_BEST_SPACING = 3, 15, 7


def _sd_match(windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Best AGGAGG match (bases matching) and its spacing in (n, 20) upstream windows."""
    n, width = windows.shape
    k = len(_SD)
    best = np.zeros(n)
    best_spacing = np.zeros(n)
    best_key = np.full(n, -np.inf)
    for spacing in range(_SD_MIN_SPACING, _SD_MAX_SPACING + 1):
        end = width - spacing
        start = end - k
        if start < 0:
            break
        matches = (windows[:, start:end] == _SD).sum(axis=1).astype(np.float64)
        key = matches - 0.01 * abs(spacing - _SD_BEST_SPACING)
        better = key > best_key
        best_key = np.where(better, key, best_key)
        best = np.where(better, matches, best)
        best_spacing = np.where(better, spacing, best_spacing)
    return best, best_spacing


def rbs_scores(seqs: ScaffoldSequences, genes: Sequence[Gene]) -> np.ndarray:
    """(n, 4): match, spacing, duplex energy with the anti-SD, match z-score against shuffled windows."""
    import RNA

    windows = _sd_windows(seqs, genes)
    match, spacing = _sd_match(windows)
    dg = np.array([RNA.duplexfold(rna(w), ANTI_SD).energy if (w < 4).any() else 0.0 for w in windows])
    rng = np.random.default_rng(0)
    if len(windows):
        shuffled = rng.permuted(windows, axis=1)
        bg, _ = _sd_match(shuffled)
        mu, sd = mean_sd(bg)
    else:
        mu, sd = 0.0, 1.0
    return np.stack([match, spacing, np.minimum(dg, 0.0), (match - mu) / sd], axis=1) if len(windows) else np.zeros((0, 4))
