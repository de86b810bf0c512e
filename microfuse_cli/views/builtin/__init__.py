"""Builtin views: deterministic CPU features of proteins, genes and gene pairs that need no model weights.

Three feature sets, each a float32 matrix with a list of column names:

* :func:`protein_descriptors` (``PROTEIN_FEATURES``, :mod:`.protein`): per protein, length, composition,
  physico-chemical groups, hydropathy, transmembrane segments, charge and pI, N-terminal hydrophobicity.
* :func:`gene_context_features` (``GENE_CONTEXT_FEATURES``, :mod:`.gene_context`): per gene, length, GC, GC3,
  codon-usage deviation from the genome (:mod:`.codons`), Shine-Dalgarno strength (:mod:`.shine_dalgarno`), strand
  and place in its directon.
* :func:`pair_context_features` (``PAIR_CONTEXT_FEATURES``, :mod:`.pair_context`): per gene pair, strand layout
  and spacer (:mod:`.layout`), directon, codon usage, GC and ribosome binding site of its genes, rho-independent
  terminator (:mod:`.terminator`) and sigma-70 promoter (:mod:`.promoter`) in the intergenic DNA.

The sequence features read the genome through :mod:`.dna`; :mod:`.background` turns energies and motif scores into
z-scores against shuffled DNA of the genome's own composition. Each module's docstring says how its features are
defined.
"""

from __future__ import annotations

from .gene_context import GENE_CONTEXT_FEATURES, GeneTable, gene_context_features, gene_table
from .pair_context import PAIR_CONTEXT_FEATURES, PAIR_FEATURE_GROUPS, pair_context_features
from .protein import PROTEIN_FEATURES, protein_descriptors

__all__ = [
    "PROTEIN_FEATURES", "GENE_CONTEXT_FEATURES", "PAIR_CONTEXT_FEATURES",
    "PAIR_FEATURE_GROUPS", "GeneTable", "gene_table", "protein_descriptors", "gene_context_features",
    "pair_context_features",
]
