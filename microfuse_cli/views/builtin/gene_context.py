"""Gene context: per gene, length, GC, GC3, codon-usage deviation from the genome, Shine-Dalgarno strength, strand
and place in its directon (run of same-strand genes, merged across the origin of a circular scaffold).

:class:`GeneTable` holds these per-gene data once for both the gene view and the pair view.
"""

from __future__ import annotations

import numpy as np

from ...errors import DataError
from ...records import Genome
from .background import mean_sd
from .codons import CODON_GC, codon_counts, cosine_rows
from .dna import ScaffoldSequences
from .shine_dalgarno import rbs_scores

GENE_CONTEXT_FEATURES: list[str] = [
    "log_length", "strand", "gc", "gc3", "gc_z", "gc3_z", "codon_cos_genome", "codon_dev_genome",
    "rbs_match", "rbs_spacing", "rbs_dg", "rbs_z",
    "directon_size_log", "directon_rel_pos", "directon_first", "directon_last",
]


class GeneTable:
    """Per-gene composition, codon usage, Shine-Dalgarno and directon data shared by the gene and pair views
    (build it with :func:`gene_table`)."""

    def __init__(self, genome: Genome, seqs: ScaffoldSequences):
        genes = genome.genes
        self.genes = genes
        self.position = {g.id: i for i, g in enumerate(genes)}
        counts = codon_counts(seqs, genes)
        totals = counts.sum(axis=1)
        safe = np.maximum(totals, 1.0)
        self.codon_freq = counts / safe[:, None]
        self.genome_codon = counts.sum(axis=0) / max(counts.sum(), 1.0)
        self.codon_cos_genome = cosine_rows(self.codon_freq, self.genome_codon)
        gc_pos = (counts @ CODON_GC) / safe[:, None]
        self.gc = gc_pos.mean(axis=1)
        self.gc3 = gc_pos[:, 2]
        has = totals > 0
        self.gc_mean, self.gc_sd = mean_sd(self.gc[has])
        self.gc3_mean, self.gc3_sd = mean_sd(self.gc3[has])
        self.rbs = rbs_scores(seqs, genes)
        self._directons(genome)

    def _directons(self, genome: Genome) -> None:
        """Directon (run of same-strand genes) of each gene, merged across the origin of a circular scaffold."""
        n = len(self.genes)
        self.run_id = np.zeros(n, dtype=np.int64)
        self.run_size = np.ones(n, dtype=np.int64)
        self.rank = np.zeros(n, dtype=np.int64)  # 0 = first gene of its directon in transcription order
        next_run = 0
        for sid, genes in genome.genes_by_scaffold().items():
            if not genes:
                continue
            idx = [self.position[g.id] for g in genes]
            runs: list[list[int]] = [[idx[0]]]
            for k in range(1, len(idx)):
                if genes[k].strand == genes[k - 1].strand:
                    runs[-1].append(idx[k])
                else:
                    runs.append([idx[k]])
            if genome.scaffolds[sid].circular and len(runs) > 1 and genes[0].strand == genes[-1].strand:
                runs[0] = runs.pop() + runs[0]  # the last run continues through the origin into the first
            for members in runs:
                size = len(members)
                forward = self.genes[members[0]].strand > 0
                for k, i in enumerate(members):
                    self.run_id[i] = next_run
                    self.run_size[i] = size
                    self.rank[i] = k if forward else size - 1 - k
                next_run += 1


def gene_table(genome: Genome) -> GeneTable:
    """The per-gene data the gene and pair views share: build it once and pass it to :func:`gene_context_features`
    and :func:`pair_context_features` when computing both (it costs a pass of ViennaRNA over every gene).

    Raises:
        DataError: the genome has no sequence.
    """
    return GeneTable(genome, ScaffoldSequences(genome, "gene context"))


def table_for(genome: Genome, table: GeneTable | None, seqs: ScaffoldSequences) -> GeneTable:
    """``table`` when it was built from ``genome`` (refused otherwise), a new table when it is None."""
    if table is None:
        return GeneTable(genome, seqs)
    if table.genes is not genome.genes:
        raise DataError("the gene table passed was built from another genome")
    return table


def gene_context_features(genome: Genome, table: GeneTable | None = None) -> np.ndarray:
    """Per-gene context features, ``(len(genome.genes), len(GENE_CONTEXT_FEATURES))`` float32 in ``genome.genes`` order.

    ``table`` (from :func:`gene_table`) reuses per-gene data already computed for the pair view.

    Raises:
        DataError: the genome has no sequence, or ``table`` comes from another genome.
    """
    seqs = ScaffoldSequences(genome, "gene context")
    return _gene_matrix(table_for(genome, table, seqs))


def _gene_matrix(t: GeneTable) -> np.ndarray:
    n = len(t.genes)
    if n == 0:
        return np.zeros((0, len(GENE_CONTEXT_FEATURES)), dtype=np.float32)
    lengths = np.array([g.length for g in t.genes], dtype=np.float64)
    strand = np.array([g.strand for g in t.genes], dtype=np.float64)
    rel = np.where(t.run_size > 1, t.rank / np.maximum(t.run_size - 1, 1), 0.0)
    cols = [
        np.log(lengths), strand, t.gc, t.gc3, (t.gc - t.gc_mean) / t.gc_sd, (t.gc3 - t.gc3_mean) / t.gc3_sd,
        t.codon_cos_genome, 1.0 - t.codon_cos_genome,
        t.rbs[:, 0], t.rbs[:, 1], t.rbs[:, 2], t.rbs[:, 3],
        np.log(t.run_size), rel, (t.rank == 0).astype(float), (t.rank == t.run_size - 1).astype(float),
    ]
    return np.stack(cols, axis=1).astype(np.float32)
