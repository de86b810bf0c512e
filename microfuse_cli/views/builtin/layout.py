"""Pair layout: strand arrangement, spacer, overlaps and genes between, from gene coordinates alone (no sequence).

These are the columns the packaged default model reads, so scoring with it costs no sequence work.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...errors import DataError
from ...records import Genome
from ...pairs import GenePair

#: The pair-view columns this module computes, in order.
LAYOUT_FEATURES: list[str] = [
    "strand_same", "strand_convergent", "strand_divergent",
    "dist_clip", "dist_slog", "overlap_1", "overlap_4", "overlap_8", "overlap_other",
    "genes_between_log", "opp_strand_between",
]


def pair_positions(genome: Genome, pairs: Sequence[GenePair], position: dict[str, int]):
    """Row of each pair's two genes in ``genome.genes``; pairs naming genes or scaffolds not there are refused."""
    n = len(pairs)
    ia = np.empty(n, dtype=np.int64)
    ib = np.empty(n, dtype=np.int64)
    for k, p in enumerate(pairs):
        if p.scaffold not in genome.scaffolds:
            raise DataError(f"pair {p.pair_id}: scaffold {p.scaffold!r} is not in the genome")
        try:
            ia[k], ib[k] = position[p.gene_a.id], position[p.gene_b.id]
        except KeyError as exc:
            raise DataError(f"pair {p.pair_id}: gene {exc.args[0]!r} is not in the genome") from None
    return ia, ib


def layout_features(genome: Genome, pairs: Sequence[GenePair], ia: np.ndarray, ib: np.ndarray) -> dict:
    """Strand arrangement, spacer, overlaps and genes between: coordinates only."""
    n = len(pairs)
    strand_a = np.array([p.gene_a.strand for p in pairs])
    strand_b = np.array([p.gene_b.strand for p in pairs])
    between = np.array([p.genes_between for p in pairs], dtype=np.float64)
    opp_between = np.zeros(n)
    genes = genome.genes
    for k, p in enumerate(pairs):  # genes between (listed pairs) on the other strand
        if p.genes_between > 0 and ib[k] > ia[k]:
            opp_between[k] = float(any(g.strand != p.gene_a.strand for g in genes[ia[k] + 1 : ib[k]]))
    dist = np.array([p.distance for p in pairs], dtype=np.float64)
    clipped = np.clip(dist, -100, 1000)
    columns = [
        strand_a == strand_b, (strand_a > 0) & (strand_b < 0), (strand_a < 0) & (strand_b > 0),
        clipped, np.sign(clipped) * np.log1p(np.abs(clipped)),
        dist == -1, dist == -4, dist == -8, (dist < 0) & ~np.isin(dist, (-1, -4, -8)),
        np.log1p(between), opp_between,
    ]
    return {name: np.asarray(c, dtype=np.float64) for name, c in zip(LAYOUT_FEATURES, columns)}
