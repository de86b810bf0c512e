"""Codon usage: the 64-codon count vector of a gene's internal codons (the last codon left out), which is the 61
sense codons under code 11 and keeps TGA=Trp under code 4; codons with N are skipped. Similarities are cosines of
frequency vectors; the genome average is the pooled count of all genes.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...records import Gene
from .dna import IS_GC, ScaffoldSequences


def _cds_codes(seqs: ScaffoldSequences, gene: Gene) -> np.ndarray:
    return seqs.get(gene.scaffold, gene.start - 1, gene.end, gene.strand)


def codon_counts(seqs: ScaffoldSequences, genes: Sequence[Gene]) -> np.ndarray:
    """(n_genes, 64) counts of internal codons (last codon left out; codons with N skipped)."""
    counts = np.zeros((len(genes), 64), dtype=np.float64)
    for i, gene in enumerate(genes):
        cds = _cds_codes(seqs, gene)
        n = len(cds) // 3 - 1
        if n <= 0:
            continue
        tri = cds[: n * 3].reshape(n, 3).astype(np.int64)
        ok = (tri < 4).all(axis=1)
        idx = tri[ok, 0] * 16 + tri[ok, 1] * 4 + tri[ok, 2]
        counts[i] = np.bincount(idx, minlength=64)
    return counts


#: (64, 3): 1.0 where codon position 1, 2 or 3 is G or C.
CODON_GC = np.array([[IS_GC[(c >> 4) & 3], IS_GC[(c >> 2) & 3], IS_GC[c & 3]] for c in range(64)])


def cosine_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Cosine of each row of ``x`` with the same row of ``y`` (or with the vector ``y``); 0 for a zero row."""
    nx = np.linalg.norm(x, axis=1)
    ny = np.linalg.norm(y, axis=1) if y.ndim == 2 else np.full(len(x), np.linalg.norm(y))
    dot = (x * y).sum(axis=1) if y.ndim == 2 else x @ y
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = dot / (nx * ny)
    return np.nan_to_num(cos, nan=0.0)
