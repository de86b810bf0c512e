"""Pair context: per gene pair, the genome-context signals used for operon prediction: strand layout, spacer,
directon, codon usage, GC, ribosome binding site, rho-independent terminator (ViennaRNA) and sigma-70 promoter in
the intergenic DNA. This module cuts the intergenic regions and puts together the columns the other modules
compute.

Orientation of a pair. Every pair is read in the transcription direction of ``gene_a``: for a pair whose
``gene_a`` is on '+' the upstream gene (in transcription order) is ``gene_a`` and the downstream gene ``gene_b``;
for ``gene_a`` on '-' they swap (so in a same-strand '-' pair the downstream gene is ``gene_a``). For a convergent
pair (a '+', b '-') this reads the intergenic DNA after ``gene_a``'s stop codon; for a divergent pair (a '-', b '+')
it reads it in ``gene_a``'s direction, towards ``gene_a``'s start. Features named ``_up``/``_down`` follow this order.

Intergenic regions. The terminator region is the intergenic DNA next to the upstream gene's stop codon, capped at
``TERM_CAP`` bp, plus ``FLANK`` nt into each flanking gene; the promoter region the intergenic DNA next to the
downstream gene's start, capped at ``PROM_CAP`` bp, plus the same flanks. Overlapping genes give the overlap plus
flanks (an overlap longer than ``TERM_CAP``, i.e. a nested gene, keeps the capped stretch next to the stop or
start). Positions past the end of a linear scaffold read as N; a circular scaffold wraps.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...errors import DataError
from ...records import Genome
from ...pairs import GenePair
from ...progress import Advance
from .codons import cosine_rows
from .dna import IS_GC, ScaffoldSequences
from .gene_context import GeneTable, table_for
from .layout import LAYOUT_FEATURES, layout_features, pair_positions
from .promoter import promoter_features
from .terminator import TERMINATOR_FEATURES, terminator_features

#: Nucleotides of the intergenic region kept next to the upstream gene's stop codon (terminator region).
TERM_CAP = 80
#: Nucleotides of the intergenic region kept next to the downstream gene's start (promoter region).
PROM_CAP = 250
#: Nucleotides read into each flanking gene.
FLANK = 30

PAIR_CONTEXT_FEATURES: list[str] = [
    *LAYOUT_FEATURES,
    "len_up_log", "len_down_log",
    "same_directon", "directon_size_log", "directon_pairs_before_log", "directon_pairs_after_log",
    "directon_rel_pos",
    "codon_cos", "codon_cos_up_genome", "codon_cos_down_genome",
    "gc_absdiff", "gc3_absdiff", "gc_up_z", "gc_down_z", "gc3_up_z", "gc3_down_z", "ig_gc_dev",
    "rbs_match", "rbs_spacing", "rbs_dg", "rbs_z",
    *TERMINATOR_FEATURES,
    "prom_score", "prom_z",
]


def _pair_geometry(pair: GenePair, length: int, circular: bool) -> tuple[int, int, int]:
    """(a_end0, b_start0, spacer): 0-based end of gene_a, start of gene_b (unwrapped past the origin), spacer."""
    a, b = pair.gene_a, pair.gene_b
    a_end0 = a.end
    b_start0 = b.start - 1
    if circular and b.start < a.start:
        b_start0 += length
    return a_end0, b_start0, b_start0 - a_end0


def pair_regions(seqs: ScaffoldSequences, pair: GenePair, length: int, circular: bool):
    """Oriented terminator region, promoter region and intergenic core (codes) of a pair."""
    a_end0, b_start0, spacer = _pair_geometry(pair, length, circular)
    sid = pair.scaffold
    orient = 1 if pair.gene_a.strand > 0 else -1
    lo, hi = min(a_end0, b_start0), max(a_end0, b_start0)
    if spacer <= 0 and hi - lo <= TERM_CAP:
        term = prom = seqs.get(sid, lo - FLANK, hi + FLANK, orient)
    elif spacer <= 0:  # a long overlap (a nested gene): the stretches next to the upstream stop / downstream start
        if orient > 0:
            term = seqs.get(sid, a_end0 - TERM_CAP - FLANK, a_end0 + FLANK, 1)
            prom = seqs.get(sid, b_start0 - FLANK, b_start0 + min(hi - lo, PROM_CAP) + FLANK, 1)
        else:
            term = seqs.get(sid, b_start0 - FLANK, b_start0 + TERM_CAP + FLANK, -1)
            prom = seqs.get(sid, a_end0 - min(hi - lo, PROM_CAP) - FLANK, a_end0 + FLANK, -1)
    else:
        if orient > 0:  # upstream gene = a (stop at a_end0); downstream = b (start at b_start0)
            term = seqs.get(sid, a_end0 - FLANK, a_end0 + min(spacer, TERM_CAP) + FLANK, 1)
            prom = seqs.get(sid, b_start0 - min(spacer, PROM_CAP) - FLANK, b_start0 + FLANK, 1)
        else:  # upstream gene = b (stop at b_start0, reading leftwards); downstream = a
            term = seqs.get(sid, b_start0 - min(spacer, TERM_CAP) - FLANK, b_start0 + FLANK, -1)
            prom = seqs.get(sid, a_end0 - FLANK, a_end0 + min(spacer, PROM_CAP) + FLANK, -1)
    core = seqs.get(sid, a_end0, a_end0 + min(spacer, 2000), 1) if spacer > 0 else np.zeros(0, np.uint8)
    return term, prom, core


#: Column groups of :data:`PAIR_CONTEXT_FEATURES`, each computed only when one of its columns is asked for. The
#: layout group reads gene coordinates alone (no sequence); the others read the DNA.
PAIR_FEATURE_GROUPS: dict[str, list[str]] = {
    "layout": LAYOUT_FEATURES,
    "genes": PAIR_CONTEXT_FEATURES[11:27] + ["rbs_match", "rbs_spacing", "rbs_dg", "rbs_z"],
    "intergenic": ["ig_gc_dev"],
    "terminator": TERMINATOR_FEATURES,
    "promoter": ["prom_score", "prom_z"],
}


def pair_context_features(
    genome: Genome,
    pairs: Sequence[GenePair],
    *,
    columns: Sequence[str] | None = None,
    threads: int = 1,
    progress: Advance | None = None,
    table: GeneTable | None = None,
) -> np.ndarray:
    """Genome-context features of each pair, ``(len(pairs), len(columns))`` float32.

    Only the groups of :data:`PAIR_FEATURE_GROUPS` that ``columns`` touch are computed: a model that reads the
    pair layout alone (the default model) costs no sequence work, and RNA folding (90% of the full cost) runs only
    when a ``term_*`` column is asked for.

    Arguments:
        genome: the genome the pairs come from (with sequence, unless only layout columns are asked for).
        pairs: gene pairs (adjacent, listed, opposite-strand, across the origin of a circle).
        columns: names from ``PAIR_CONTEXT_FEATURES``, in the order wanted (default: all of them).
        threads: processes for RNA folding (1 = in this process; 0 = every core this process may use).
        progress: called with the number of pairs finished.
        table: the genome's :func:`gene_table`, when the gene view has built it already.

    Raises:
        DataError: a column is unknown, the genome lacks the sequence a column needs, a pair names a gene or
            scaffold the genome lacks, or ``table`` comes from another genome.
    """
    columns = list(PAIR_CONTEXT_FEATURES if columns is None else columns)
    unknown = [c for c in columns if c not in PAIR_CONTEXT_FEATURES]
    if unknown:
        raise DataError(f"unknown pair feature(s): {', '.join(unknown)}")
    groups = {g for g, names in PAIR_FEATURE_GROUPS.items() if set(names) & set(columns)}
    n = len(pairs)
    if n == 0:
        if progress:
            progress(0)
        return np.zeros((0, len(columns)), dtype=np.float32)
    position = {g.id: i for i, g in enumerate(genome.genes)}
    ia, ib = pair_positions(genome, pairs, position)
    values = layout_features(genome, pairs, ia, ib)
    if groups - {"layout"}:
        seqs = ScaffoldSequences(genome, "context")
        regions = [pair_regions(seqs, p, genome.scaffolds[p.scaffold].length, genome.scaffolds[p.scaffold].circular)
                   for p in pairs]
        if "genes" in groups:
            values.update(_gene_pair_features(table_for(genome, table, seqs), pairs, ia, ib,
                                              values["opp_strand_between"] == 0))
        if "intergenic" in groups:
            values["ig_gc_dev"] = np.array([(IS_GC[c].sum() / max((c < 4).sum(), 1)) if (c < 4).any() else seqs.gc
                                            for _, _, c in regions]) - seqs.gc
        if "terminator" in groups:
            values.update(terminator_features([r[0] for r in regions], threads, progress))
        if "promoter" in groups:
            values.update(promoter_features([r[1] for r in regions], seqs.composition))
    if progress and "terminator" not in groups:
        progress(n)
    return np.stack([values[c] for c in columns], axis=1).astype(np.float32)


def _gene_pair_features(t: GeneTable, pairs: Sequence[GenePair], ia: np.ndarray, ib: np.ndarray,
                        no_opposite_between: np.ndarray) -> dict:
    """Lengths, directon, codon usage, GC and Shine-Dalgarno of the pair's genes (upstream / downstream order)."""
    strand_a = np.array([p.gene_a.strand for p in pairs])
    strand_b = np.array([p.gene_b.strand for p in pairs])
    up = np.where(strand_a > 0, ia, ib)
    down = np.where(strand_a > 0, ib, ia)
    lengths = np.array([g.length for g in t.genes], dtype=np.float64)
    same_run = (strand_a == strand_b) & (t.run_id[ia] == t.run_id[ib]) & no_opposite_between
    size = np.where(same_run, t.run_size[ia], 0)
    before = np.where(same_run, np.minimum(t.rank[ia], t.rank[ib]), 0)
    after = np.maximum(np.where(same_run, size - 2 - before, 0), 0)
    rel = np.where(same_run & (size > 2), before / np.maximum(size - 2, 1), 0.0)
    columns = [
        np.log(lengths[up]), np.log(lengths[down]),
        same_run.astype(float), np.log1p(size), np.log1p(before), np.log1p(after), rel,
        cosine_rows(t.codon_freq[ia], t.codon_freq[ib]), t.codon_cos_genome[up], t.codon_cos_genome[down],
        np.abs(t.gc[ia] - t.gc[ib]), np.abs(t.gc3[ia] - t.gc3[ib]),
        (t.gc[up] - t.gc_mean) / t.gc_sd, (t.gc[down] - t.gc_mean) / t.gc_sd,
        (t.gc3[up] - t.gc3_mean) / t.gc3_sd, (t.gc3[down] - t.gc3_mean) / t.gc3_sd,
        t.rbs[down, 0], t.rbs[down, 1], t.rbs[down, 2], t.rbs[down, 3],
    ]
    return dict(zip(PAIR_FEATURE_GROUPS["genes"], columns))
