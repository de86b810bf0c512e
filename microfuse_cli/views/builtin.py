"""Builtin views: deterministic CPU features of proteins, genes and gene pairs that need no model weights.

Three feature sets, each a float32 matrix with a list of column names:

* :func:`protein_descriptors` (``PROTEIN_FEATURES``): per protein, length, composition, physico-chemical groups,
  Kyte-Doolittle hydropathy, predicted transmembrane segments, charge and pI (Biopython), signal-peptide-like
  N-terminal hydrophobicity.
* :func:`gene_context_features` (``GENE_CONTEXT_FEATURES``): per gene, length, GC, GC3, codon-usage deviation from
  the genome, Shine-Dalgarno strength, strand and place in its directon.
* :func:`pair_context_features` (``PAIR_CONTEXT_FEATURES``): per gene pair, the genome-context signals used for
  operon prediction: strand layout, spacer, directon, codon usage, GC, ribosome binding site, rho-independent
  terminator (ViennaRNA) and sigma-70 promoter in the intergenic DNA.

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

Terminator. ViennaRNA local folding (``RNA.fold_compound`` in window mode, i.e. Lfold, base-pair span at most
``FOLD_SPAN`` nt, no lonely pairs) over the terminator region: ``term_mfe`` is the lowest free energy of any local
structure (close to the minimum MFE of sliding 40-45-nt windows, at a fraction of the cost) and
``term_tscore`` the best T-tract-anchored hairpin: over local structures, ``-dG * T / 10`` where ``T`` is the number
of T in the 10 nt made of the structure's last 3 paired bases and the 7 nt after them (the U-tract often starts
inside the stem, paired to an upstream A-tract); a strong hairpin without a U-tract scores low.

Promoter. A sigma-70 -35 (TTGACA) / -10 (TATAAT) position-weight match with a 15-19 bp spacer, best over the
promoter region. The weights are log-odds of the consensus-base frequencies Harley & Reynolds (1987) report for
E. coli promoters (other bases share the rest equally) against the genome's own base composition.

GC normalisation (``docs/findings.md``, "Single-genome sequence signals barely transfer": energies and motif
scores shift with genome GC). ``*_z`` features are z-scores of the statistic against a background of the genome's own regions with their bases shuffled (mononucleotide shuffle,
fixed seed, ``N_BACKGROUND`` regions sampled from the pairs' regions): the shuffle keeps each region's composition
and length and destroys structure and motifs. The background mean and spread are fitted as linear functions of
log region length (the minimum over more windows is lower), so a z-score reads "how much more terminator-like than
random DNA of this composition and length" (``term_mfe_z`` negative = more stable than random; ``term_tscore_z``
and ``prom_z`` positive = more terminator- / promoter-like). The choice of shuffled windows over divergent/convergent regions is
ours: it works on a metagenomic contig with a handful of pairs, where such regions are too few.

Shine-Dalgarno. In the 20 nt before the start codon (gene strand), the best match to AGGAGG with 3-15 nt between
the motif and the start codon: ``rbs_match`` (matching bases, 0-6; ties go to the spacing nearest 7),
``rbs_spacing``, and ``rbs_dg``, the ViennaRNA duplex energy of that 20-nt window with the anti-Shine-Dalgarno
3' end of 16S rRNA (``ANTI_SD``); ``rbs_z`` is ``rbs_match`` against the same windows of the genome shuffled.

Codon usage. The 64-codon count vector of a gene's internal codons (the last codon left out), which is the
61 sense codons under code 11 and keeps TGA=Trp under code 4; codons with N are skipped. Similarities are cosines of
frequency vectors; the genome average is the pooled count of all genes.

Heavy work (ViennaRNA) runs in a process pool when ``threads > 1``. ``progress(k)`` is called with the number of
pairs finished.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import numpy as np
from Bio.SeqUtils.ProtParamData import kd as kyte_doolittle

from ..errors import DataError
from ..genome import Gene, Genome
from ..pairs import GenePair
from ..runtime import resolve_threads

Progress = Callable[[int], None]

#: Nucleotides of the intergenic region kept next to the upstream gene's stop codon (terminator region).
TERM_CAP = 80
#: Nucleotides of the intergenic region kept next to the downstream gene's start (promoter region).
PROM_CAP = 250
#: Nucleotides read into each flanking gene.
FLANK = 30
#: Largest base-pair span of a local RNA structure (Lfold window).
FOLD_SPAN = 40
#: Number of shuffled regions in the GC background of each folding statistic (4 per pair when fewer pairs, >= 50).
N_BACKGROUND = 200
#: Number of shuffled regions in the background of the promoter score (no folding: cheap).
N_BACKGROUND_PROMOTER = 1000
#: 3' end of E. coli 16S rRNA (5'->3'), which pairs with the Shine-Dalgarno sequence.
ANTI_SD = "CACCUCCUUA"
#: Shine-Dalgarno consensus.
SD_MOTIF = "AGGAGG"

# ------------------------------------------------------------------------------------------------ proteins

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
#: Physico-chemical groups (fractions of residues).
AA_GROUPS = {
    "charged": "DEHKR",
    "positive": "HKR",
    "negative": "DE",
    "polar": "DEHKNQRSTY",
    "hydrophobic": "AVILMFWC",
    "aromatic": "FWYH",
    "aliphatic": "AVIL",
    "tiny": "AGCS",
    "small": "AGCSTDNPV",
}
#: Sliding window and threshold of a transmembrane segment (Kyte & Doolittle 1982).
TM_WINDOW = 19
TM_THRESHOLD = 1.6
#: Window and span of the N-terminal (signal-peptide h-region) hydrophobicity.
SIGNAL_WINDOW = 9
SIGNAL_SPAN = 30

PROTEIN_FEATURES: list[str] = (
    ["log_length"]
    + [f"aa_{a}" for a in AMINO_ACIDS]
    + ["aa_other"]
    + [f"grp_{name}" for name in AA_GROUPS]
    + ["kd_mean", "kd_max_window", "tm_segments", "tm_fraction", "charge_ph7", "charge_ph7_per_res", "pi",
       "nterm_kd_max", "nterm_positive"]
)

_AA_CODE = np.full(256, 20, dtype=np.int64)
for _i, _a in enumerate(AMINO_ACIDS):
    _AA_CODE[ord(_a)] = _i
    _AA_CODE[ord(_a.lower())] = _i
_KD_BY_CODE = np.array([kyte_doolittle[a] for a in AMINO_ACIDS] + [0.0])


def protein_descriptors(proteins: Sequence[str], progress: Progress | None = None) -> np.ndarray:
    """Sequence descriptors of each protein, ``(len(proteins), len(PROTEIN_FEATURES))`` float32.

    Arguments:
        proteins: amino-acid sequences (any case; stops ``*`` and unknown letters count as ``aa_other``).
        progress: called once with ``len(proteins)`` when done.

    Returns:
        The matrix; an empty protein gives a row of zeros.
    """
    n = len(proteins)
    out = np.zeros((n, len(PROTEIN_FEATURES)), dtype=np.float32)
    if n == 0:
        return out
    lengths = np.array([len(p) for p in proteins], dtype=np.int64)
    total = int(lengths.sum())
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    codes = _AA_CODE[np.frombuffer("".join(proteins).encode("latin-1", "replace"), dtype=np.uint8)]
    owner = np.repeat(np.arange(n), lengths)
    counts = np.bincount(owner * 21 + codes, minlength=n * 21).reshape(n, 21).astype(np.float64)
    safe_len = np.maximum(lengths, 1).astype(np.float64)
    comp = counts / safe_len[:, None]
    kd = _KD_BY_CODE[codes]
    kd_mean = np.bincount(owner, weights=kd, minlength=n) / safe_len

    # sliding-window hydropathy inside each protein (windows never cross two proteins)
    csum = np.concatenate([[0.0], np.cumsum(kd)])
    kd_max = kd_mean.copy()
    tm_segments = np.zeros(n)
    tm_cover = np.zeros(n)
    if total >= TM_WINDOW:
        # window k covers residues k .. k+W-1: slices of the cumulative sum and of ``owner`` (no gathers)
        win = (csum[TM_WINDOW:] - csum[:-TM_WINDOW]) / TM_WINDOW
        valid = owner[: len(win)] == owner[TM_WINDOW - 1 :]
        win_owner = owner[: len(win)][valid]
        win_val = win[valid]
        if win_val.size:
            has = np.bincount(win_owner, minlength=n) > 0
            mx = np.full(n, -np.inf)
            np.maximum.at(mx, win_owner, win_val)
            kd_max = np.where(has, mx, kd_mean)
            hit = win_val >= TM_THRESHOLD
            prev_hit = np.concatenate([[False], hit[:-1]])
            prev_owner = np.concatenate([[-1], win_owner[:-1]])
            seg_start = hit & (~prev_hit | (prev_owner != win_owner))
            tm_segments = np.bincount(win_owner[seg_start], minlength=n).astype(np.float64)
            tm_cover = np.bincount(win_owner[hit], minlength=n) / safe_len

    # N-terminal h-region: best short-window hydropathy in the first SIGNAL_SPAN residues
    nterm_kd = kd_mean.copy()
    pos_in_protein = np.arange(total) - np.repeat(offsets[:-1], lengths)
    if total >= SIGNAL_WINDOW:
        win = (csum[SIGNAL_WINDOW:] - csum[:-SIGNAL_WINDOW]) / SIGNAL_WINDOW
        win_owner = owner[: len(win)]
        ok = (win_owner == owner[SIGNAL_WINDOW - 1 :]) & (pos_in_protein[: len(win)] + SIGNAL_WINDOW <= SIGNAL_SPAN)
        mx = np.full(n, -np.inf)
        np.maximum.at(mx, win_owner[ok], win[ok])
        nterm_kd = np.where(np.isfinite(mx), mx, kd_mean)
    early = pos_in_protein < 6
    positive = np.isin(codes, [AMINO_ACIDS.index(c) for c in "KR"])
    nterm_pos = np.bincount(owner[early & positive], minlength=n).astype(np.float64)

    first = codes[offsets[:-1][lengths > 0]]
    last = codes[offsets[1:][lengths > 0] - 1]
    charge = np.zeros(n)
    pi = np.zeros(n)
    charge[lengths > 0], pi[lengths > 0] = _isoelectric(counts[lengths > 0], first, last)

    groups = []
    for members in AA_GROUPS.values():
        idx = [AMINO_ACIDS.index(c) for c in members]
        groups.append(comp[:, idx].sum(axis=1))
    columns = (
        [np.log1p(lengths)]
        + [comp[:, k] for k in range(21)]
        + groups
        + [kd_mean, kd_max, tm_segments, tm_cover, charge, charge / safe_len, pi, nterm_kd, nterm_pos]
    )
    out[:] = np.stack(columns, axis=1)
    out[lengths == 0] = 0.0
    if progress is not None:
        progress(n)
    return out


def _isoelectric(counts: np.ndarray, first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Charge at pH 7 and isoelectric point of many proteins at once: Biopython's ``IsoelectricPoint`` (its pK
    tables, Bjellqvist's terminal pKs, the same bisection and the same order of floating-point operations, so
    the same numbers), vectorised because the per-protein Python loop cost more than every other descriptor.

    ``counts`` holds residue counts in ``AMINO_ACIDS`` order (then other), ``first``/``last`` the residue codes
    at the N and C terminus.
    """
    from Bio.SeqUtils import IsoelectricPoint as iep

    letters = AMINO_ACIDS + "X"
    n_term = np.array([iep.pKnterminal.get(a, iep.positive_pKs["Nterm"]) for a in letters])[first]
    c_term = np.array([iep.pKcterminal.get(a, iep.negative_pKs["Cterm"]) for a in letters])[last]
    ones = np.ones(len(counts))
    positive = [(ones, n_term)] + [(counts[:, AMINO_ACIDS.index(a)], np.full(len(counts), pk))
                                   for a, pk in iep.positive_pKs.items() if a != "Nterm"]
    negative = [(ones, c_term)] + [(counts[:, AMINO_ACIDS.index(a)], np.full(len(counts), pk))
                                   for a, pk in iep.negative_pKs.items() if a != "Cterm"]

    def charge_at(ph: np.ndarray) -> np.ndarray:
        plus = np.zeros(len(counts))
        for count, pk in positive:
            plus += count * (1.0 / (10 ** (ph - pk) + 1.0))
        minus = np.zeros(len(counts))
        for count, pk in negative:
            minus += count * (1.0 / (10 ** (pk - ph) + 1.0))
        return plus - minus

    ph, low, high = np.full(len(counts), 7.775), np.full(len(counts), 4.05), np.full(len(counts), 12.0)
    while True:  # every protein takes the same number of halvings: the interval width does not depend on it
        charge = charge_at(ph)
        if not (high - low > 0.0001).all():
            break
        low = np.where(charge > 0.0, ph, low)
        high = np.where(charge > 0.0, high, ph)
        ph = (low + high) / 2
    return charge_at(np.full(len(counts), 7.0)), ph


# ------------------------------------------------------------------------------------------------ DNA helpers

_NT_CODE = np.full(256, 4, dtype=np.uint8)
for _i, _b in enumerate("ACGT"):
    _NT_CODE[ord(_b)] = _i
    _NT_CODE[ord(_b.lower())] = _i
_NT_CODE[ord("U")] = 3
_NT_CODE[ord("u")] = 3
_COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)
_RNA_LETTERS = np.frombuffer(b"ACGUN", dtype=np.uint8)
_IS_GC = np.array([0, 1, 1, 0, 0], dtype=np.float64)


def _encode(sequence: str) -> np.ndarray:
    return _NT_CODE[np.frombuffer(sequence.encode("ascii", "replace"), dtype=np.uint8)]


def _rna(codes: np.ndarray) -> str:
    return _RNA_LETTERS[codes].tobytes().decode("ascii")


def _revcomp(codes: np.ndarray) -> np.ndarray:
    return _COMPLEMENT[codes[::-1]]


class _Sequences:
    """Scaffold sequences as 0-4 codes (A, C, G, T, other) with wrapped / N-padded slicing."""

    def __init__(self, genome: Genome, what: str):
        if not genome.has_sequence:
            raise DataError(f"the builtin {what} view needs the genome sequence: give the assembly with --fasta")
        self.codes = {sid: _encode(s.sequence or "") for sid, s in genome.scaffolds.items()}
        self.circular = {sid: s.circular for sid, s in genome.scaffolds.items()}
        all_codes = np.concatenate(list(self.codes.values())) if self.codes else np.zeros(0, np.uint8)
        counts = np.bincount(all_codes, minlength=5)[:4].astype(np.float64) + 1.0
        self.composition = counts / counts.sum()
        self.gc = float(self.composition[1] + self.composition[2])

    def get(self, sid: str, start0: int, end0: int, strand: int = 1) -> np.ndarray:
        """Bases ``[start0, end0)`` (0-based), reverse-complemented for ``strand < 0``."""
        codes = self.codes[sid]
        length = len(codes)
        if end0 <= start0 or length == 0:
            return np.zeros(0, dtype=np.uint8)
        if 0 <= start0 and end0 <= length:
            region = codes[start0:end0]
        elif self.circular[sid]:
            region = codes[np.arange(start0, end0) % length]
        else:
            idx = np.arange(start0, end0)
            inside = (idx >= 0) & (idx < length)
            region = np.full(end0 - start0, 4, dtype=np.uint8)
            region[inside] = codes[idx[inside]]
        return _revcomp(region) if strand < 0 else region


# ------------------------------------------------------------------------------------------------ genes


def _cds_codes(seqs: _Sequences, gene: Gene) -> np.ndarray:
    return seqs.get(gene.scaffold, gene.start - 1, gene.end, gene.strand)


def _codon_counts(seqs: _Sequences, genes: Sequence[Gene]) -> np.ndarray:
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


_CODON_GC = np.array([[_IS_GC[(c >> 4) & 3], _IS_GC[(c >> 2) & 3], _IS_GC[c & 3]] for c in range(64)])


def _cosine_rows(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    nx = np.linalg.norm(x, axis=1)
    ny = np.linalg.norm(y, axis=1) if y.ndim == 2 else np.full(len(x), np.linalg.norm(y))
    dot = (x * y).sum(axis=1) if y.ndim == 2 else x @ y
    with np.errstate(invalid="ignore", divide="ignore"):
        cos = dot / (nx * ny)
    return np.nan_to_num(cos, nan=0.0)


class GeneTable:
    """Per-gene composition, codon usage, Shine-Dalgarno and directon data shared by the gene and pair views
    (build it with :func:`gene_table`)."""

    def __init__(self, genome: Genome, seqs: _Sequences):
        genes = genome.genes
        self.genes = genes
        self.position = {g.id: i for i, g in enumerate(genes)}
        counts = _codon_counts(seqs, genes)
        totals = counts.sum(axis=1)
        safe = np.maximum(totals, 1.0)
        self.codon_freq = counts / safe[:, None]
        self.genome_codon = counts.sum(axis=0) / max(counts.sum(), 1.0)
        self.codon_cos_genome = _cosine_rows(self.codon_freq, self.genome_codon)
        gc_pos = (counts @ _CODON_GC) / safe[:, None]
        self.gc = gc_pos.mean(axis=1)
        self.gc3 = gc_pos[:, 2]
        has = totals > 0
        self.gc_mean, self.gc_sd = _mean_sd(self.gc[has])
        self.gc3_mean, self.gc3_sd = _mean_sd(self.gc3[has])
        self.rbs = _rbs_scores(seqs, genes)
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
    return GeneTable(genome, _Sequences(genome, "gene context"))


def _table_for(genome: Genome, table: GeneTable | None, seqs: _Sequences) -> GeneTable:
    if table is None:
        return GeneTable(genome, seqs)
    if table.genes is not genome.genes:
        raise DataError("the gene table passed was built from another genome")
    return table


def _mean_sd(values: np.ndarray) -> tuple[float, float]:
    if values.size == 0:
        return 0.0, 1.0
    sd = float(values.std())
    return float(values.mean()), sd if sd > 1e-6 else 1.0


def _sd_windows(seqs: _Sequences, genes: Sequence[Gene], width: int = 20) -> np.ndarray:
    """(n, width) codes of the ``width`` nt before each gene's start codon, on the gene's strand."""
    out = np.full((len(genes), width), 4, dtype=np.uint8)
    for i, g in enumerate(genes):
        if g.strand > 0:
            out[i] = seqs.get(g.scaffold, g.start - 1 - width, g.start - 1, 1)
        else:
            out[i] = seqs.get(g.scaffold, g.end, g.end + width, -1)
    return out


_SD = _encode(SD_MOTIF)
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


def _rbs_scores(seqs: _Sequences, genes: Sequence[Gene]) -> np.ndarray:
    """(n, 4): match, spacing, duplex energy with the anti-SD, match z-score against shuffled windows."""
    import RNA

    windows = _sd_windows(seqs, genes)
    match, spacing = _sd_match(windows)
    dg = np.array([RNA.duplexfold(_rna(w), ANTI_SD).energy if (w < 4).any() else 0.0 for w in windows])
    rng = np.random.default_rng(0)
    if len(windows):
        shuffled = rng.permuted(windows, axis=1)
        bg, _ = _sd_match(shuffled)
        mu, sd = _mean_sd(bg)
    else:
        mu, sd = 0.0, 1.0
    return np.stack([match, spacing, np.minimum(dg, 0.0), (match - mu) / sd], axis=1) if len(windows) else np.zeros((0, 4))


GENE_CONTEXT_FEATURES: list[str] = [
    "log_length", "strand", "gc", "gc3", "gc_z", "gc3_z", "codon_cos_genome", "codon_dev_genome",
    "rbs_match", "rbs_spacing", "rbs_dg", "rbs_z",
    "directon_size_log", "directon_rel_pos", "directon_first", "directon_last",
]


def gene_context_features(genome: Genome, table: GeneTable | None = None) -> np.ndarray:
    """Per-gene context features, ``(len(genome.genes), len(GENE_CONTEXT_FEATURES))`` float32 in ``genome.genes`` order.

    ``table`` (from :func:`gene_table`) reuses per-gene data already computed for the pair view.

    Raises:
        DataError: the genome has no sequence, or ``table`` comes from another genome.
    """
    seqs = _Sequences(genome, "gene context")
    return _gene_matrix(_table_for(genome, table, seqs))


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


# ------------------------------------------------------------------------------------------------ promoter

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


def _promoter_scores(regions: list[np.ndarray], background: np.ndarray) -> np.ndarray:
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


# ------------------------------------------------------------------------------------------------ terminator

_T_TRACT = 10  # nt of the U-tract window: the last _T_BACK paired bases of the stem and what follows
_T_BACK = 3


def _fold_regions(regions: list[str]) -> list[tuple[float, float, float]]:
    """(lowest local-structure energy, best T-tract-anchored hairpin score, T's after that hairpin) per region."""
    import RNA

    md = RNA.md()
    md.max_bp_span = FOLD_SPAN
    md.window_size = FOLD_SPAN
    md.noLP = 1
    out = []
    for seq in regions:
        hits: list[tuple[int, str, float]] = []

        def collect(start, end, structure, mfe, data=None, _hits=hits):
            if structure:
                _hits.append((start, structure, mfe))

        if len(seq) >= 5:
            fc = RNA.fold_compound(seq, md, RNA.OPTION_WINDOW)
            fc.mfe_window_cb(collect, None)
        min_mfe, best, tract = 0.0, 0.0, 0.0
        for start, structure, mfe in hits:
            min_mfe = min(min_mfe, mfe)
            last = start - 1 + structure.rfind(")")  # 0-based index of the 3'-most paired base
            t = seq[max(last - _T_BACK + 1, 0) : last + 1 + _T_TRACT - _T_BACK].count("U")
            score = -mfe * t / _T_TRACT
            if score > best:
                best, tract = score, float(t)
        out.append((min_mfe, best, tract))
    return out


def _run_folds(
    regions: list[str], threads: int, progress: Progress | None, reported: list[int]
) -> np.ndarray:
    """Fold every region (process pool when threads > 1); ``reported[i]`` items go to progress for chunk i."""
    chunk = max(8, min(64, -(-len(regions) // (4 * threads))))
    chunks = [regions[i : i + chunk] for i in range(0, len(regions), chunk)]
    results: list[list[tuple[float, float, float]] | None] = [None] * len(chunks)
    counts = [0] * len(chunks)
    remaining = list(reported)
    for c in range(len(chunks)):
        take = min(len(chunks[c]), remaining[0] if remaining else 0)
        counts[c] = take
        if remaining:
            remaining[0] -= take
    if threads > 1 and len(chunks) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # fork where there is one: the workers only fold RNA, and forkserver/spawn would re-run a caller's script
        # that lacks an ``if __name__ == "__main__"`` guard
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        context = multiprocessing.get_context(method)
        with ProcessPoolExecutor(max_workers=threads, mp_context=context) as pool:
            futures = {pool.submit(_fold_regions, part): c for c, part in enumerate(chunks)}
            for future in as_completed(futures):
                c = futures[future]
                results[c] = future.result()
                if progress is not None and counts[c]:
                    progress(counts[c])
    else:
        for c, part in enumerate(chunks):
            results[c] = _fold_regions(part)
            if progress is not None and counts[c]:
                progress(counts[c])
    flat = [row for part in results for row in (part or [])]
    return np.array(flat, dtype=np.float64).reshape(len(regions), 3)


def _fit_background(lengths: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Linear fits of mean and spread of ``values`` on log length; returns (mean coefs, sd coefs)."""
    x = np.stack([np.ones(len(lengths)), np.log(np.maximum(lengths, 1.0))], axis=1)
    if len(values) < 3 or np.ptp(x[:, 1]) < 1e-9:
        mu, sd = _mean_sd(values)
        return np.array([mu, 0.0]), np.array([sd, 0.0])
    beta, *_ = np.linalg.lstsq(x, values, rcond=None)
    spread = np.abs(values - x @ beta) * math.sqrt(math.pi / 2.0)
    gamma, *_ = np.linalg.lstsq(x, spread, rcond=None)
    return beta, gamma


def _zscore(lengths: np.ndarray, values: np.ndarray, fit: tuple[np.ndarray, np.ndarray], floor: float) -> np.ndarray:
    beta, gamma = fit
    logl = np.log(np.maximum(lengths, 1.0))
    mu = beta[0] + beta[1] * logl
    sd = np.maximum(gamma[0] + gamma[1] * logl, floor)
    return (values - mu) / sd


# ------------------------------------------------------------------------------------------------ pairs

PAIR_CONTEXT_FEATURES: list[str] = [
    "strand_same", "strand_convergent", "strand_divergent",
    "dist_clip", "dist_slog", "overlap_1", "overlap_4", "overlap_8", "overlap_other",
    "genes_between_log", "opp_strand_between",
    "len_up_log", "len_down_log",
    "same_directon", "directon_size_log", "directon_pairs_before_log", "directon_pairs_after_log",
    "directon_rel_pos",
    "codon_cos", "codon_cos_up_genome", "codon_cos_down_genome",
    "gc_absdiff", "gc3_absdiff", "gc_up_z", "gc_down_z", "gc3_up_z", "gc3_down_z", "ig_gc_dev",
    "rbs_match", "rbs_spacing", "rbs_dg", "rbs_z",
    "term_mfe", "term_tscore", "term_tract", "term_mfe_z", "term_tscore_z",
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


def _pair_regions(seqs: _Sequences, pair: GenePair, length: int, circular: bool):
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


def _shuffled(regions: list[np.ndarray], n: int, seed: int) -> list[np.ndarray]:
    """``n`` regions sampled (with replacement when few) from ``regions``, each with its bases shuffled."""
    rng = np.random.default_rng(seed)
    usable = [r for r in regions if len(r)]
    if not usable:
        return []
    picks = rng.choice(len(usable), size=n, replace=len(usable) < n)
    return [rng.permutation(usable[i]) for i in picks]


#: Column groups of :data:`PAIR_CONTEXT_FEATURES`, each computed only when one of its columns is asked for. The
#: layout group reads gene coordinates alone (no sequence); the others read the DNA.
PAIR_FEATURE_GROUPS: dict[str, list[str]] = {
    "layout": PAIR_CONTEXT_FEATURES[:11],
    "genes": PAIR_CONTEXT_FEATURES[11:27] + ["rbs_match", "rbs_spacing", "rbs_dg", "rbs_z"],
    "intergenic": ["ig_gc_dev"],
    "terminator": ["term_mfe", "term_tscore", "term_tract", "term_mfe_z", "term_tscore_z"],
    "promoter": ["prom_score", "prom_z"],
}


def pair_context_features(
    genome: Genome,
    pairs: Sequence[GenePair],
    *,
    columns: Sequence[str] | None = None,
    threads: int = 1,
    progress: Progress | None = None,
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
    ia, ib = _pair_positions(genome, pairs, position)
    values = _layout_features(genome, pairs, ia, ib)
    if groups - {"layout"}:
        seqs = _Sequences(genome, "context")
        regions = [_pair_regions(seqs, p, genome.scaffolds[p.scaffold].length, genome.scaffolds[p.scaffold].circular)
                   for p in pairs]
        if "genes" in groups:
            values.update(_gene_pair_features(_table_for(genome, table, seqs), pairs, ia, ib,
                                              values["opp_strand_between"] == 0))
        if "intergenic" in groups:
            values["ig_gc_dev"] = np.array([(_IS_GC[c].sum() / max((c < 4).sum(), 1)) if (c < 4).any() else seqs.gc
                                            for _, _, c in regions]) - seqs.gc
        if "terminator" in groups:
            values.update(_terminator_features([r[0] for r in regions], threads, progress))
        if "promoter" in groups:
            values.update(_promoter_features([r[1] for r in regions], seqs.composition))
    if progress and "terminator" not in groups:
        progress(n)
    return np.stack([values[c] for c in columns], axis=1).astype(np.float32)


def _pair_positions(genome: Genome, pairs: Sequence[GenePair], position: dict[str, int]):
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


def _layout_features(genome: Genome, pairs: Sequence[GenePair], ia: np.ndarray, ib: np.ndarray) -> dict:
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
    return {name: np.asarray(c, dtype=np.float64) for name, c in zip(PAIR_FEATURE_GROUPS["layout"], columns)}


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
        _cosine_rows(t.codon_freq[ia], t.codon_freq[ib]), t.codon_cos_genome[up], t.codon_cos_genome[down],
        np.abs(t.gc[ia] - t.gc[ib]), np.abs(t.gc3[ia] - t.gc3[ib]),
        (t.gc[up] - t.gc_mean) / t.gc_sd, (t.gc[down] - t.gc_mean) / t.gc_sd,
        (t.gc3[up] - t.gc3_mean) / t.gc3_sd, (t.gc3[down] - t.gc3_mean) / t.gc3_sd,
        t.rbs[down, 0], t.rbs[down, 1], t.rbs[down, 2], t.rbs[down, 3],
    ]
    return dict(zip(PAIR_FEATURE_GROUPS["genes"], columns))


def _terminator_features(term_regions: list[np.ndarray], threads: int, progress: Progress | None) -> dict:
    """Fold the pairs' terminator regions and a shuffled background in one pool; z-scores against it."""
    n = len(term_regions)
    threads = resolve_threads(threads)
    background = _shuffled(term_regions, min(N_BACKGROUND, max(50, 4 * n)), seed=1)
    folded = _run_folds([_rna(r) for r in term_regions + background], threads, progress, [n])
    term, term_bg = folded[:n], folded[n:]
    term_len = np.array([len(r) for r in term_regions], dtype=np.float64)
    bg_len = np.array([len(r) for r in background], dtype=np.float64)
    if len(background):
        mfe_z = _zscore(term_len, term[:, 0], _fit_background(bg_len, term_bg[:, 0]), 0.5)
        tscore_z = _zscore(term_len, term[:, 1], _fit_background(bg_len, term_bg[:, 1]), 0.25)
    else:
        mfe_z = tscore_z = np.zeros(n)
    return dict(zip(PAIR_FEATURE_GROUPS["terminator"], [term[:, 0], term[:, 1], term[:, 2], mfe_z, tscore_z]))


def _promoter_features(prom_regions: list[np.ndarray], composition: np.ndarray) -> dict:
    """Sigma-70 PWM score against the genome's composition, z against shuffled promoter regions."""
    prom = _promoter_scores(prom_regions, composition)
    prom_bg_regions = _shuffled(prom_regions, N_BACKGROUND_PROMOTER, seed=2)
    if prom_bg_regions:
        prom_bg = _promoter_scores(prom_bg_regions, composition)
        prom_len = np.array([len(r) for r in prom_regions], dtype=np.float64)
        prom_bg_len = np.array([len(r) for r in prom_bg_regions], dtype=np.float64)
        prom_z = _zscore(prom_len, prom, _fit_background(prom_bg_len, prom_bg), 0.25)
    else:
        prom_z = np.zeros(len(prom_regions))
    return {"prom_score": prom, "prom_z": prom_z}


__all__ = [
    "PROTEIN_FEATURES", "GENE_CONTEXT_FEATURES", "PAIR_CONTEXT_FEATURES",
    "PAIR_FEATURE_GROUPS", "GeneTable", "gene_table", "protein_descriptors", "gene_context_features",
    "pair_context_features",
]
