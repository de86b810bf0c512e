"""Candidate gene pairs: consecutive genes on a scaffold, or pairs named in a list; labels and splits.

``distance`` is the number of base pairs between the two genes (negative when they overlap), measured between
the gene that comes first on the scaffold and the next one; a circular scaffold closes with (last, first).
"""

from __future__ import annotations

import logging
import math
import random
import re
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Callable, Iterable, Mapping, Sequence

from . import __version__
from .errors import DataError, UsageError, true_or_false, whole_number
from .records import (Gene, Genome, RebuiltFromFields, descriptor_stream, genome_name, printable_name,
                      require_genome)
from .io.features import MIN_GAP_NS
from .io.files import PathLike
from .io.tables import read_operon_table, read_pair_list, read_pair_table
from .runtime import check_seed

log = logging.getLogger("microfuse")

#: OG-Operon-style labelling rule (see ``label_og``): thresholds in bp.
OG_POSITIVE_MAX_SPACER = 40
OG_POSITIVE_MIN_SPACER = -20
OG_NEGATIVE_MIN_SPACER = 600

@dataclass(frozen=True)
class GenePair:
    """Two genes of one scaffold, ``gene_a`` upstream of ``gene_b`` in scaffold coordinates."""

    scaffold: str
    gene_a: Gene
    gene_b: Gene
    distance: int
    directon: int = 0
    genes_between: int = 0
    label: int | None = None
    split: str | None = None

    @property
    def pair_id(self) -> str:
        return f"{self.gene_a.id}|{self.gene_b.id}"

    @property
    def same_strand(self) -> bool:
        return self.gene_a.strand == self.gene_b.strand

def require_pairs(pairs: Iterable, takes: str) -> None:
    """Refuse ``pairs`` holding anything but GenePair objects, naming the first (``takes``, not KIND VALUE): gene ids
    or tuples were AttributeErrors deep inside."""
    stray = next((p for p in pairs if not isinstance(p, GenePair)), None)
    if stray is not None:
        raise UsageError(f"{takes}, not {type(stray).__name__} {stray!r:.60}")


#: The ``gene_source`` of a Genome rebuilt from a pairs TSV (``genome_from_table``), which does not say how its genes
#: were found.
PAIRS_TABLE = "pairs table"
#: What ``score_genome`` and ``compute_embeddings`` say of ``pairs`` of the wrong kind.
PAIRS_TAKEN = "pairs must be GenePair objects (select_pairs makes them from a list of gene ids)"


def spacer(a: Gene, b: Gene, scaffold_length: int | None = None, wraps: bool = False) -> int:
    """Base pairs between ``a`` and the next gene ``b``; ``wraps`` for a pair closing a circle (``b`` past the
    origin, where ``a`` may end already: a gene across the origin ends past the sequence length)."""
    if wraps:
        if scaffold_length is None:
            raise DataError("a circular pair needs the scaffold length")
        return (scaffold_length - a.end) + b.start - 1
    return b.start - a.end - 1


def directons(genes: Sequence[Gene]) -> list[int]:
    """Index (0-based, per scaffold) of the run of same-strand genes each gene belongs to."""
    index, result = 0, []
    for i, gene in enumerate(genes):
        if i and gene.strand != genes[i - 1].strand:
            index += 1
        result.append(index)
    return result


def upstream_partners(genes: Sequence[Gene], length: int, circular: bool) -> list[tuple[int, int, bool]]:
    """``(a, b, wraps)`` gene indices: each gene ``b`` with the gene before it that reaches furthest downstream.

    The spacer is measured from the furthest end reached so far, so a gene nested inside a longer neighbour does
    not hide that neighbour from the next gene (B. subtilis BSU_03490 -> BSU_03510, with BSU_03500 inside
    BSU_03490). Of genes ending at one base (a nested antisense gene sharing its container's last base), ``b``
    takes the first on its own strand, else the first. Of genes of identical extent (antisense twins), the gene
    before them pairs with the one on its own strand (else the first), the others with that one, whichever sorts
    first by id. On a circular sequence the first genes pair with the gene reaching furthest around the origin
    (``wraps``); these closing pairs come last.
    """
    partners: list[tuple[int, int, bool]] = []
    closing: list[tuple[int, int, bool]] = []
    reach: tuple[list[int], int, bool] | None = None  # (genes ending furthest, that end in this lap, across origin)
    if circular and len(genes) > 2:
        furthest = max(g.end for g in genes)
        reach = ([i for i, g in enumerate(genes) if g.end == furthest], furthest - length, True)
    for i in _twins_in_pairing_order(genes, lambda: reach):
        gene = genes[i]
        if reach is not None and i not in reach[0]:
            a = next((k for k in reach[0] if genes[k].strand == gene.strand), reach[0][0])
            (closing if reach[2] else partners).append((a, i, reach[2]))
        if reach is None or gene.end > reach[1] or (gene.end == reach[1] and reach[2]):
            reach = ([i], gene.end, False)
        elif gene.end == reach[1]:
            reach[0].append(i)
    return partners + closing


def _twins_in_pairing_order(genes: Sequence[Gene], current_reach):
    """Gene indices in order, each run of genes of identical extent led by the one on a strand of the genes
    ``current_reach()`` holds when the run starts (the gene before it pairs with that one)."""
    i = 0
    while i < len(genes):
        run = [i]
        while run[-1] + 1 < len(genes) and _extent(genes[run[-1] + 1]) == _extent(genes[i]):
            run.append(run[-1] + 1)
        reach = current_reach()
        strands = {genes[k].strand for k in reach[0]} if reach is not None else set()
        lead = next((k for k in run if genes[k].strand in strands), run[0])
        yield from [lead] + [k for k in run if k != lead]
        i = run[-1] + 1


def _extent(gene: Gene) -> tuple[int, int]:
    return gene.start, gene.end


def assembly_gaps(sequence: str | None) -> list[tuple[int, int]]:
    """(start, end), 1-based inclusive, of each run of ``MIN_GAP_NS`` or more N: where a scaffold joins contigs.

    A sequence with no N at all (most complete genomes) is told by str's own search, in 0.1 ms on E. coli where the
    regex took 60 ms (and ``score`` asks three times)."""
    import re

    if not sequence or ("N" not in sequence and "n" not in sequence):
        return []
    return [(m.start() + 1, m.end()) for m in re.finditer(f"[Nn]{{{MIN_GAP_NS},}}", sequence)]


def _crosses_gap(gaps: list[tuple[int, int]], a: Gene, b: Gene, wraps: bool) -> bool:
    """Whether the spacer from ``a`` to ``b`` holds an assembly gap (its length is then unknown)."""
    if wraps:
        return any(start > a.end or end < b.start for start, end in gaps)
    return any(start > a.end and end < b.start for start, end in gaps)


def adjacent_pairs(genome: Genome) -> list[GenePair]:
    """Every pair of neighbouring protein-coding genes on each scaffold, both strands (see ``upstream_partners``).

    Neighbours with an assembly gap (``assembly_gaps``) between them are no pair, as genes on two contigs are not:
    the gap's length is a guess, so their spacer is none (a scaffold of 200 kbp of E. coli with 100 N inside
    murG paired ftsW with a truncated murG 528 bp apart; they overlap by 4 bp in the genome).

    Returns:
        The pairs in scaffold and gene order, unlabelled and unsplit.
    Raises:
        UsageError: ``genome`` is not a Genome, or one built by hand holds fields of the wrong kind (``Genome.check``).
        DataError: a Genome built by hand breaks its invariants (``Genome.check``).
    """
    require_genome(genome, "adjacent_pairs")
    pairs: list[GenePair] = []
    skipped = 0
    for sid, genes in genome.genes_by_scaffold().items():
        scaffold = genome.scaffolds[sid]
        runs = directons(genes)
        gaps = assembly_gaps(scaffold.sequence)
        for i, j, wraps in upstream_partners(genes, scaffold.length, scaffold.circular):
            a, b = genes[i], genes[j]
            if gaps and _crosses_gap(gaps, a, b, wraps):
                skipped += 1
                continue
            run = runs[i] if a.strand == b.strand and runs[i] == runs[j] and not wraps else -1
            pairs.append(GenePair(sid, a, b, spacer(a, b, scaffold.length, wraps), run))
    if skipped:
        log.debug("%d neighbour pair(s) across an assembly gap (a run of %d+ N) left out: their spacer is unknown",
                  skipped, MIN_GAP_NS)
    return pairs


class GeneIndex:
    """Resolves any of a gene's names (locus_tag, old_locus_tag, Name, ID, synonyms) to the gene."""

    def __init__(self, genome: Genome):
        self.genome = genome
        self.position = {g.id: i for i, g in enumerate(genome.genes)}
        self.by_name: dict[str, Gene] = {}
        ambiguous: set[str] = set()
        for gene in genome.genes:
            self.by_name[gene.id] = gene
        for gene in genome.genes:
            for alias in gene.aliases:
                known = self.by_name.get(alias)
                if known is not None and known.id != gene.id and alias not in self.position:
                    ambiguous.add(alias)
                self.by_name.setdefault(alias, gene)
        for alias in ambiguous:  # a name shared by two genes identifies neither
            if alias not in self.position:
                self.by_name.pop(alias, None)
        self.lower = {k.lower(): v for k, v in self.by_name.items()}

    def get(self, name: str) -> Gene | None:
        return self.by_name.get(name) or self.lower.get(name.lower())


@dataclass(frozen=True)
class ResolvedPairs:
    """The pairs a list names, in its order, and the names that match no gene."""

    pairs: tuple[GenePair, ...]
    unknown: tuple[str, ...]


def pairs_from_list(genome: Genome, listed: Iterable[tuple[str, str, int | None]], *, header_ok=True) -> ResolvedPairs:
    """Build the listed pairs (in the list's order); ids that match no gene are collected in ``unknown``."""
    index = GeneIndex(genome)
    runs = {}
    for sid, genes in genome.genes_by_scaffold().items():
        for gene, run in zip(genes, directons(genes)):
            runs[gene.id] = run
    # a listed pair of neighbours takes their geometry (across the origin, past a nested gene) from adjacent_pairs
    neighbours = {frozenset((p.gene_a.id, p.gene_b.id)): p for p in adjacent_pairs(genome)}
    pairs, unknown = [], []
    for n, (name_a, name_b, label) in enumerate(listed):
        a, b = index.get(name_a), index.get(name_b)
        if a is None or b is None:
            if n == 0 and header_ok and (a is None and b is None):
                unknown_header = name_a.lower().startswith(("name", "gene", "id", "locus"))
                if unknown_header:
                    continue
            unknown.extend(x for x, g in ((name_a, a), (name_b, b)) if g is None)
            continue
        if a.scaffold != b.scaffold:
            raise DataError(f"pair {name_a},{name_b}: the genes lie on different scaffolds")
        known = neighbours.get(frozenset((a.id, b.id)))
        if known is not None:
            pairs.append(replace(known, label=label))
            continue
        if index.position[a.id] > index.position[b.id]:
            a, b = b, a
        between = index.position[b.id] - index.position[a.id] - 1
        run = runs[a.id] if a.strand == b.strand and runs[a.id] == runs[b.id] else -1
        pairs.append(GenePair(a.scaffold, a, b, spacer(a, b), run, between, label))
    return ResolvedPairs(tuple(pairs), tuple(unknown))


# ------------------------------------------------------------------------------------------------ labels


def label_with_operons(genome: Genome, pairs: list[GenePair], units: list[list[str]]) -> tuple[list[GenePair], int]:
    """label=1 when one known unit holds both genes, 0 when both are known but never together, else None.

    Returns the labelled pairs and how many unit members matched no gene.
    """
    index = GeneIndex(genome)
    membership: dict[str, set[int]] = {}
    unmatched = 0
    for u, names in enumerate(units):
        for name in names:
            gene = index.get(name)
            if gene is None:
                unmatched += 1
                continue
            membership.setdefault(gene.id, set()).add(u)
    labelled = []
    for pair in pairs:
        units_a, units_b = membership.get(pair.gene_a.id), membership.get(pair.gene_b.id)
        if units_a is None or units_b is None:
            label = None
        else:
            label = 1 if (units_a & units_b) else 0
        labelled.append(replace(pair, label=label))
    return labelled, unmatched


def label_og(pairs: list[GenePair]) -> list[GenePair]:
    """OG-Operon100K-style labels, a function of spacer and strand only (so any model seeing distance solves it).

    Positive: same strand and OG_POSITIVE_MIN_SPACER <= spacer <= OG_POSITIVE_MAX_SPACER bp.
    Negative: opposite strands, or spacer >= OG_NEGATIVE_MIN_SPACER bp. Everything else: unlabelled.
    """
    out = []
    for p in pairs:
        if p.same_strand and OG_POSITIVE_MIN_SPACER <= p.distance <= OG_POSITIVE_MAX_SPACER:
            label = 1
        elif not p.same_strand or p.distance >= OG_NEGATIVE_MIN_SPACER:
            label = 0
        else:
            label = None
        out.append(replace(p, label=label))
    return out


# ------------------------------------------------------------------------------------------------ splits


def parse_fractions(text: str) -> tuple[float, float, float]:
    if not isinstance(text, str):  # select_pairs(split=(0.7, 0.15, 0.15)) was an AttributeError ('split')
        raise UsageError(f"split takes three fractions as text, like '0.7,0.15,0.15' (as --split), not {text!r}")
    try:
        values = [float(x) for x in text.split(",")]
    except ValueError:
        raise UsageError(f"split takes three fractions like 0.7,0.15,0.15 (--split), not {text!r}") from None
    if len(values) != 3 or not all(math.isfinite(v) and v >= 0 for v in values) or sum(values) <= 0:
        raise UsageError(f"split takes three non-negative fractions like 0.7,0.15,0.15 (--split), not {text!r}")
    total = sum(values)
    return tuple(v / total for v in values)  # type: ignore[return-value]


def assign_splits(
    pairs: list[GenePair], fractions: tuple[float, float, float], *, seed: int = 0, block_size: int = 50
) -> list[GenePair]:
    """Assign train/val/test so no split leaks neighbouring context.

    Units are whole scaffolds; a scaffold with more than ``block_size`` pairs is cut into contiguous blocks
    of genes. Units are shuffled with ``seed`` and dealt out until each split holds its share of pairs.
    """
    units: list[list[int]] = []
    by_scaffold: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        by_scaffold.setdefault(p.scaffold, []).append(i)
    for members in by_scaffold.values():
        for start in range(0, len(members), block_size):
            units.append(members[start : start + block_size])
    rng = random.Random(check_seed(seed))
    rng.shuffle(units)
    names = ("train", "val", "test")
    targets = [f * len(pairs) for f in fractions]
    filled = [0.0, 0.0, 0.0]
    split_of = [""] * len(pairs)
    for unit in units:
        deficits = [targets[k] - filled[k] for k in range(3)]
        k = max(range(3), key=lambda j: deficits[j])
        filled[k] += len(unit)
        for i in unit:
            split_of[i] = names[k]
    return [replace(p, split=split_of[i]) for i, p in enumerate(pairs)]


def select_pairs(genome: Genome, *, pair_list: PathLike | None = None, operons: PathLike | None = None,
                 labels: PathLike | None = None, label_rule: str | None = None, split: str | None = None,
                 seed: int = 0) -> list[GenePair]:
    """The pairs `pairs`, `embed` and `score` work on: every adjacent pair, or those listed (``pair_list``, or
    ``labels`` with a label column), labelled from known ``operons`` or by ``label_rule`` ("og"), and split into
    train/val/test at ``split`` ("TRAIN,VAL,TEST" fractions, dealt out with ``seed``).

    Returns:
        The pairs, in scaffold and gene order (``adjacent_pairs``) or in the list's order (a pair listed twice, as
        A,B or B,A, once, where first listed), with ``label`` and ``split`` set where asked for.
    Raises:
        UsageError: two ways to name or to label pairs at once, an unknown ``label_rule``, a malformed ``split``,
            ``seed`` not a whole number >= 0, ``genome`` not a Genome (or a hand-built one with fields of the wrong
            kind).
        DataError: a table cannot be read or parsed, a list names no pair of the genome, ``operons`` no gene of it,
            or a Genome built by hand breaks its invariants (``Genome.check``).
    """
    require_genome(genome, "select_pairs")
    if pair_list and labels:
        raise UsageError.naming(("pair_list", "--pairs"), " and ", ("labels", "--labels"), " both name pairs; give one")
    if operons and label_rule:
        raise UsageError.naming(("operons", "--operons"), " and ", ("label_rule", "--label-rule"),
                                " are two ways to label; give one")
    if label_rule not in (None, "og"):  # the CLI offers only "og"; the library took anything and labelled nothing
        raise UsageError(f"label_rule must be 'og' or None, not {label_rule!r}")
    listed = pair_list or labels
    pairs = _listed_pairs(genome, listed, keep_labels=not pair_list) if listed else adjacent_pairs(genome)
    if operons:
        units = read_operon_table(operons)
        pairs, unmatched = label_with_operons(genome, pairs, units)
        members = [name for unit in units for name in unit]
        if unmatched == len(members):  # every pair was left unlabelled, said only in an info line
            raise DataError(f"no gene of {operons} is a gene of {genome.name} ({len(members)} operon members"
                            f"{f', e.g. {members[0]}' if members else ''}): known operons of another genome or "
                            "assembly?")
        log.info("labels from %s: %d positive, %d negative, %d unlabelled pairs (%d operon members match no gene)",
                 operons, sum(p.label == 1 for p in pairs), sum(p.label == 0 for p in pairs),
                 sum(p.label is None for p in pairs), unmatched)
    elif label_rule == "og":
        pairs = label_og(pairs)
    if split:
        pairs = assign_splits(pairs, parse_fractions(split), seed=seed)
    return pairs


def one_row_per_pair(pairs: Sequence[GenePair], path: PathLike) -> list[GenePair]:
    """A pair listed twice (A,B again, or B,A) once, at its first place (its label where only a later listing has
    one), said in one warning naming ``path`` (the list, or the function given the pairs): two rows of one
    pair_id were written, which `train` and `evaluate` then counted twice, or with both labels; `pairs --pairs`
    wrote a table its own `embed` and `score` refuse ('duplicate pair'), `score --pairs --fused` vectors `retrieve
    build` refuses. ``select_pairs`` keeps a list's pairs so, and ``score_genome`` the pairs a caller builds. Two
    different labels are refused, as `evaluate` does."""
    kept: dict[str, GenePair] = {}
    for pair in pairs:
        first = kept.setdefault(pair.pair_id, pair)
        if first.label is not None and pair.label is not None and first.label != pair.label:
            raise DataError(f"{path}: the pair {pair.gene_a.id} {pair.gene_b.id} is labelled both 0 and 1")
        if first.label is None and pair.label is not None:
            kept[pair.pair_id] = pair
    if len(kept) < len(pairs):  # a warning, as the list's ids that match no gene are: it is about the user's list
        log.warning("%s: %d pair(s) listed more than once are kept once", path, len(pairs) - len(kept))
    return list(kept.values())


def _listed_pairs(genome: Genome, path: PathLike, *, keep_labels: bool) -> list[GenePair]:
    """The pairs a two- or three-column list names; unknown ids are warned about, none found is an error, and so
    is a --labels list without a label (``keep_labels``), which labelled nothing and said nothing."""
    listed = read_pair_list(path)
    if keep_labels and listed and all(label is None for _, _, label in listed):  # as `evaluate --labels` says it
        raise DataError.naming(f"{path}: no pair has a label (", ("labels", "--labels"), " takes name_1,name_2,label "
                               "or a labelled pairs TSV; a list of pairs alone is ", ("pair_list", "--pairs"), ")")
    resolved = pairs_from_list(genome, listed)
    unknown = list(dict.fromkeys(resolved.unknown))  # an id of several pairs is named once
    if unknown:
        log.warning("%d gene id(s) in %s match no gene: %s%s", len(unknown), path, ", ".join(unknown[:5]),
                    " ..." if len(unknown) > 5 else "")
    if not resolved.pairs:
        raise DataError(f"no pair of {path} matches genes of {genome.name}")
    if keep_labels:
        return one_row_per_pair(resolved.pairs, path)
    return one_row_per_pair([replace(p, label=None) for p in resolved.pairs], path)


# ------------------------------------------------------------------------------------------------ TSV


def genes_comment(genome: Genome) -> str:
    """``genes source=... genetic_code=...``: how ``genome``'s genes were found, a ``#`` line of every output of its
    scores and of its pairs TSV (the same pairs score differently when the genes differ): ``source=annotation`` (the
    CDS of a GFF3, GenBank or EMBL), ``source=pyrodigal:single`` or ``pyrodigal:meta`` (gene calling on a bare
    assembly; both, ``pyrodigal:meta,single``, where --bins' bins were called in each), ``source=pairs_table`` (a
    pairs TSV without its own ``#genes`` line, which does not say); ``genetic_code``: the NCBI codes its proteins were
    translated with (transl_table, -g, or the one gene calling chose: 4 for a Mycoplasma), in increasing order, where
    the genes say."""
    require_genome(genome, "genes_comment")
    source = "_".join(printable_name(str(genome.gene_source)).split()) or "unknown"
    if genome.gene_modes:
        source += ":" + ",".join(genome.gene_modes)
    words = [f"source={source}"]
    codes = {gene.genetic_code for gene in genome.genes}  # a hand-built genome's: '4' beside 11 failed sorted()
    stray = next((code for code in codes if not whole_number(code)), None)
    if stray is not None:
        raise UsageError(f"{genome.name}: a gene's genetic code is a whole number (NCBI's transl_table), not "
                         f"{stray!r:.40}")
    codes = sorted(int(code) for code in codes)
    if codes and genome.gene_source != PAIRS_TABLE:  # a pairs table's genes carry no code: 11 is only a default
        words.append(f"genetic_code={','.join(map(str, codes))}")
    return "genes " + " ".join(words)


def genes_line_code(genes_line: str | None) -> str | None:
    """The ``genetic_code=`` value of a ``#genes`` line (``genes_comment``: '11', or '4,11' for several), None where
    it names none (an older table or folder, a pairs table's own genes)."""
    if not isinstance(genes_line, str):
        return None
    word = next((w for w in genes_line.split() if w.startswith("genetic_code=")), None)
    return None if word is None else word.removeprefix("genetic_code=") or None


#: What the ``#microfuse`` line of a pairs TSV says after the version: ``pairs genome=NAME``, NAME to the line's end.
_PAIRS_WORD, _GENOME_KEY = "pairs", "genome="
_GENES_LINE = "#genes source="


def pairs_comments(genome: Genome, pairs: Sequence[GenePair] | None = None, *,
                   circular: bool | None = None) -> list[str]:
    """The ``#`` lines (without the ``#``) above the header of `microfuse pairs`' TSV: ``microfuse VERSION pairs
    genome=NAME`` (NAME: ``genome.name``, the file name every command names the genome by, records.genome_name, to
    the line's end: a file name may hold spaces), ``genes_comment``, on a draft ``partial_genes count=N``
    (``partial_count``), where ``pairs`` lack some of the genome's adjacent pairs ``subset of=N pairs``, then
    ``scaffold_comments`` and ``length_comments`` (of ``pairs``' scaffolds; None: the genome's adjacent pairs), and
    ``topology forced=circular|linear`` where ``circular`` (--circular/--linear, GenomeOptions.circular) forced the
    topology of a genome some of whose scaffolds were read without their sequence (``topology_comment``; a
    ``#scaffold`` line says it already of one read with it). `embed` and `score` of the table name its genome and
    its genes so, not after the table's own file (``read_pairs``), calibrate as of the genome, and check a
    ``--fasta`` against the scaffolds' lengths."""
    require_genome(genome, "pairs_comments")
    if circular is not None and not true_or_false(circular):  # `not in (None, True, False)` let 1, 0 and 1.0 pass
        raise UsageError(f"pairs_comments' circular is True, False or None (the genome's own topology), not "
                         f"{circular!r:.40}")
    partial = partial_count(genome)
    whole = None if pairs is None else adjacent_pairs(genome)
    # a subset lacks some adjacent pair: a --labels/--pairs list of them all and of pairs of non-adjacent genes
    # besides (a superset) holds every gene of the genome's pairs, as its whole table does, and is not one
    subset = whole is not None and bool({p.pair_id for p in whole} - {p.pair_id for p in pairs})
    held = genome.scaffolds if pairs is None else {p.scaffold for p in pairs}
    forced = circular is not None and any(genome.scaffolds[sid].sequence is None for sid in held
                                          if sid in genome.scaffolds)
    return [f"microfuse {__version__} {_PAIRS_WORD} {_GENOME_KEY}{genome.name}", genes_comment(genome),
            *([f"partial_genes count={partial}"] if partial else []),
            *([subset_comment(len(whole))] if subset else []), *scaffold_comments(genome, pairs),
            *length_comments(genome, pairs), *([topology_comment(circular)] if forced else [])]


#: A pairs TSV's line when `pairs` was told the topology (--circular/--linear): ``#topology forced=circular|linear``.
#: It wins over a --fasta header of the table route (Unicycler's ``circular=true``), as the option does over it on
#: the genome's route: without it, a genome read without its sequence under --linear was read circular again by
#: `score TABLE --fasta` of such a FASTA (a ``#scaffold_length`` line's topology is the annotation's default there).
_TOPOLOGY_LINE = "#topology "
_TOPOLOGY = re.compile(r"#topology forced=(circular|linear)")


def topology_comment(circular: bool) -> str:
    """The ``#topology`` line (without its ``#``) of a table whose genome's topology was forced to ``circular``."""
    return f"topology forced={'circular' if circular else 'linear'}"


def table_topology(comments: Sequence[str], path: PathLike) -> bool | None:
    """Whether a table's ``#topology`` line forced every scaffold circular (True) or linear (False); None where it has
    none. A line that says it badly, or two that disagree, is a DataError."""
    told = set()
    for number, line in enumerate(comments, start=1):
        if line.startswith(_TOPOLOGY_LINE):
            match = _TOPOLOGY.fullmatch(line)
            if match is None:
                raise DataError(f"{path}: line {number}: a '#topology' line is 'forced=circular|linear', not "
                                f"{line[len(_TOPOLOGY_LINE):]!r:.60}")
            told.add(match[1] == "circular")
    if len(told) > 1:
        raise DataError(f"{path}: two '#topology' lines, circular and linear: tables of two runs put together?")
    return told.pop() if told else None


#: A pairs TSV's line when its rows are not the genome's adjacent pairs (`pairs --labels`/`--pairs`):
#: ``#subset of=N pairs``, N the genome's adjacent pairs. The table holds only its pairs' genes, so the spacer
#: calibration and the genome-wide context features of `embed`/`score` of it are the subset's, not the genome's.
_SUBSET_LINE = "#subset "
_SUBSET = re.compile(r"#subset of=([0-9]+) pairs")


def subset_comment(adjacent: int) -> str:
    """The ``#subset`` line (without its ``#``) of a table, or of `score`'s outputs of it, whose pairs lack some of
    the genome's ``adjacent`` pairs."""
    return f"subset of={adjacent} pairs"


def table_subset(comments: Sequence[str], path: PathLike) -> int | None:
    """The genome's pair count of a table's ``#subset`` line (``pairs_comments``); None where it has none (the
    whole genome's table, an older one). A line that says it badly, or two that disagree, is a DataError."""
    counts = _told_counts(comments, path, _SUBSET_LINE, _SUBSET, "of=N pairs")
    return counts.pop() if counts else None


def _told_counts(comments: Sequence[str], path: PathLike, start: str, form: re.Pattern, spelled: str) -> set[int]:
    """The one count a table's header lines beginning ``start`` tell (matched whole by ``form``), as a set: empty
    where none does. A line that says it badly, or two lines of two counts (tables of two assemblies put
    together), is a DataError."""
    counts = set()
    for number, line in enumerate(comments, start=1):
        if not line.startswith(start):
            continue
        match = form.fullmatch(line)
        if match is None:
            raise DataError(f"{path}: line {number}: a '{start.strip()}' line is '{spelled}', not "
                            f"{line[len(start):]!r:.60}")
        counts.add(int(match[1]))
    if len(counts) > 1:
        raise DataError(f"{path}: two '{start.strip()}' lines of two counts: tables of two assemblies put together?")
    return counts


#: A pairs TSV's line of a draft: ``#partial_genes count=N``, the genome's genes cut by a contig's edge (all its
#: genes, also those in no pair). Absent: none is (a complete genome), or an older table, which does not say.
_PARTIAL_LINE = "#partial_genes "
_PARTIAL = re.compile(r"#partial_genes count=([0-9]+)")


def partial_count(genome: Genome) -> int:
    """How many of ``genome``'s genes are partial: the calibration leaves out the short contigs of a genome with
    any (calibration.short_fragments), so a pairs TSV records it, and its table route calibrates as the genome's."""
    return sum(g.partial for g in genome.genes) or genome.partial_genes


def table_partial(comments: Sequence[str], path: PathLike) -> int:
    """The count of a table's ``#partial_genes`` line (``pairs_comments``); 0 where it has none. A line that says
    it badly, or two that disagree, is a DataError."""
    counts = _told_counts(comments, path, _PARTIAL_LINE, _PARTIAL, "count=N")
    return counts.pop() if counts else 0


#: A pairs TSV's line per scaffold: ``#scaffold length=N topology=circular|linear id=ID``, ID to the line's end (a
#: GFF3 seqid unescaped may hold spaces or '='; control characters are refused by every reader).
_SCAFFOLD_LINE = "#scaffold "
_SCAFFOLD = re.compile(r"#scaffold length=(?P<length>[0-9]+) topology=(?P<topology>circular|linear) id=(?P<id>.+)")


def scaffold_comments(genome: Genome, pairs: Sequence[GenePair] | None = None) -> list[str]:
    """``scaffold length=N topology=circular|linear id=ID`` for each scaffold holding a gene of ``pairs`` (every
    scaffold: None), in the genome's order: the table route (``genome_from_table``) checks a FASTA's length against it
    exactly, where a pair closing the circle told it only of a whole circular one. One line per scaffold, not per
    genome: a `--labels` subset lists only its pairs' scaffolds, a metagenome's table grows by a line per contig.
    Only scaffolds whose sequence was read: without it a length is the genes' extent or one the annotation states
    (``length_comments``), and a topology the reader's default (linear), which a FASTA given later may contradict
    (Unicycler's and Flye's headers say circular=true); the table route checks those as a table without lines."""
    held = None if pairs is None else {p.scaffold for p in pairs}
    return [f"scaffold length={s.length} topology={'circular' if s.circular else 'linear'} id={sid}"
            for sid, s in genome.scaffolds.items() if (held is None or sid in held) and s.sequence is not None]


#: A pairs TSV's line per scaffold read without its sequence whose length the annotation states (a GFF3's
#: ``##sequence-region ID 1 N``, Prodigal's ``seqlen=``, a GenBank LOCUS line): ``#scaffold_length length=N
#: topology=circular|linear id=ID``; or gives only a bound, which the genome's route takes as its length (a
#: ``##sequence-region`` ending where the features end, the length GenomeTools makes up, or not starting at 1; a
#: circular scaffold's genes' extent, or a scaffold's where the table's genes end sooner): ``at_least=N`` for
#: ``length=N``. Its topology is the annotation's (Is_circular, a CDS joined across the origin, --circular/--linear);
#: an older table's line without one leaves it to the table route (a pair or gene across the origin, a --fasta
#: header), as without the line.
_LENGTH_LINE = "#scaffold_length "
_LENGTH = re.compile(r"#scaffold_length (?P<kind>length|at_least)=(?P<length>[0-9]+)"
                     r"(?: topology=(?P<topology>circular|linear))? id=(?P<id>.+)")


@dataclass(frozen=True)
class StatedLength:
    """What a table's ``#scaffold_length`` line tells of a scaffold read without its sequence: its ``length``
    (``exact``: stated, ``length=``, which a --fasta must match; else a bound, ``at_least=``, the genome's route takes
    as the length) and whether ``circular`` (None: an older line, which does not say). The reader's side of
    ``Scaffold.length_stated`` (``exact``) and ``Scaffold.length_bound``, as ``length_comments`` writes them."""

    length: int
    exact: bool = True
    circular: bool | None = None


def length_comments(genome: Genome, pairs: Sequence[GenePair] | None = None) -> list[str]:
    """``scaffold_length length=N topology=circular|linear id=ID`` for each scaffold holding a gene of ``pairs``
    (every scaffold: None) read without its sequence but with a length its annotation states
    (``Scaffold.length_stated``), ``at_least=N`` for ``length=N`` where it gives a bound only (``length_bound``; a
    circular scaffold's genes' extent; the genes' extent of one whose genes in ``pairs`` end sooner, as a
    `--pairs`/`--labels` subset's may): `embed` and `score` of the table without --fasta then have each such contig
    as long and of the topology the genome's route has it, not as long as the table's genes reach (a 2,000+ bp
    contig was left out of the spacer calibration as short) and linear (a `--labels` subset of a circular genome
    without the pair closing its circle calibrated without that pair), and check a --fasta's length against a
    stated one. A scaffold whose length is its genes' extent and the table's genes reach it needs no line."""
    held = None if pairs is None else {p.scaffold for p in pairs}
    reach: dict[str, int] = {}  # where the table's genes end on each scaffold: its length by the table alone
    for g in genome.genes if pairs is None else (g for p in pairs for g in (p.gene_a, p.gene_b)):
        reach[g.scaffold] = max(reach.get(g.scaffold, 0), g.end)
    return [f"scaffold_length {'length' if s.length_stated else 'at_least'}={s.length} "
            f"topology={'circular' if s.circular else 'linear'} id={sid}" for sid, s in genome.scaffolds.items()
            if (held is None or sid in held) and s.sequence is None
            and (s.length_stated or s.length_bound or s.circular or s.length > reach.get(sid, 0))]


def table_lengths(comments: Sequence[str], path: PathLike) -> dict[str, StatedLength] | None:
    """Scaffold -> StatedLength of a table's ``#scaffold_length`` lines (``length_comments``; an older table's line
    ``length=N id=ID`` tells no topology); None where it has none. A line that says it badly, or one scaffold of two
    lengths or topologies, is a DataError."""
    lengths = _told_per_scaffold(
        comments, path, _LENGTH_LINE, _LENGTH, "length=N (or at_least=N) topology=circular|linear id=ID",
        lambda m: StatedLength(int(m["length"]), m["kind"] == "length",
                               None if m["topology"] is None else m["topology"] == "circular"),
        "two lengths or topologies")
    return lengths or None


def table_scaffolds(comments: Sequence[str], path: PathLike) -> dict[str, tuple[int, bool]] | None:
    """Scaffold -> (length, circular) of a table's ``#scaffold`` lines (``scaffold_comments``); None where it has
    none (an older table, one made by hand). A line that says it badly, or one scaffold twice, is a DataError."""
    scaffolds = _told_per_scaffold(comments, path, _SCAFFOLD_LINE, _SCAFFOLD,
                                   "length=N topology=circular|linear id=ID",
                                   lambda m: (int(m["length"]), m["topology"] == "circular"),
                                   "two lengths or topologies")
    return scaffolds or None


def _told_per_scaffold(comments: Sequence[str], path: PathLike, start: str, form: re.Pattern, spelled: str,
                       value: Callable[[re.Match], object], differing: str) -> dict[str, object]:
    """Scaffold id -> ``value`` of each header line beginning ``start`` (matched whole by ``form``, whose groups
    ``length`` and ``id`` are those), for ``table_scaffolds`` and ``table_lengths``. A line that says it badly
    (``spelled``: what it should say) or a zero length, or one scaffold told twice of ``differing`` values, is a
    DataError."""
    found: dict[str, object] = {}
    for number, line in enumerate(comments, start=1):
        if not line.startswith(start):
            continue
        match = form.fullmatch(line)
        if match is None or not int(match["length"]):
            raise DataError(f"{path}: line {number}: a '{start.strip()}' line is '{spelled}', not "
                            f"{line[len(start):]!r:.60}")
        told = value(match)
        if found.setdefault(match["id"], told) != told:
            raise DataError(f"{path}: line {number}: scaffold {match['id']!r} is told twice, of "
                            f"{differing}: tables of two assemblies put together?")
    return found


def table_provenance(comments: Iterable[str]) -> tuple[str | None, str | None]:
    """``(genome name, genes line)`` of a table's leading ``#`` lines (``pairs_comments``, the genes line without its
    ``#``); None for what they do not say (an older table, a list made by hand, a scores TSV's model line)."""
    name = genes = None
    for line in comments:
        if line.startswith("#microfuse ") and name is None:
            words = line.split(" ", 3)
            if len(words) == 4 and words[2] == _PAIRS_WORD and words[3].startswith(_GENOME_KEY):
                name = printable_name(words[3][len(_GENOME_KEY):]) or None
        elif line.startswith(_GENES_LINE) and genes is None:
            genes = printable_name(line[1:])
    return name, genes


@dataclass(frozen=True)
class PairTable(RebuiltFromFields):
    """A pairs TSV read back: its rows as GenePairs (genes carry coordinates, no protein); ``extra`` maps each
    further column to its values (read-only, as the table); ``comments`` its leading ``#`` lines; ``genome_name``
    and ``genes_comment`` what they say of the genome the pairs are of (``table_provenance``: None where they do
    not say)."""

    pairs: tuple[GenePair, ...]
    extra: Mapping[str, tuple[str, ...]]
    comments: tuple[str, ...] = ()
    genome_name: str | None = None
    genes_comment: str | None = None
    #: scaffold -> (length, circular) of its ``#scaffold`` lines (``scaffold_comments``); None: it has none.
    scaffolds: Mapping[str, tuple[int, bool]] | None = None
    #: the count of its ``#partial_genes`` line (``table_partial``): 0 where it has none.
    partial_genes: int = 0
    #: the genome's pair count of its ``#subset`` line (``table_subset``): None where it has none.
    subset_of: int | None = None
    #: scaffold -> what its ``#scaffold_length`` lines tell (``table_lengths``): None where it has none.
    lengths: Mapping[str, StatedLength] | None = None
    #: the topology its ``#topology`` line forces on every scaffold (``table_topology``): None where it has none.
    forced_circular: bool | None = None


def read_pairs(path: PathLike) -> PairTable:
    """Read a pairs TSV written by ``microfuse pairs``; extra columns are kept as strings. Its ``#scaffold`` lines
    are checked against its rows: a pair closing the circle of a scaffold they call linear or of another length, or a
    gene past the end of its scaffold (across the origin of a linear one), is a DataError (an edited table, or rows
    and header of two assemblies)."""
    rows, extra, comments = read_pair_table(path)
    pairs = tuple(GenePair(*row) for row in rows)
    scaffolds = table_scaffolds(comments, path)
    if scaffolds is not None:
        _check_scaffold_lines(pairs, scaffolds, path)
        scaffolds = MappingProxyType(scaffolds)
    subset_of = table_subset(comments, path)
    if subset_of is not None:
        _check_subset_count(pairs, subset_of, comments, path)
    lengths = table_lengths(comments, path)
    if lengths is not None:
        _check_length_lines(pairs, lengths, path)
        lengths = MappingProxyType(lengths)
    forced = table_topology(comments, path)
    if forced is not None:
        _check_topology_line(pairs, forced, scaffolds or {}, lengths or {}, path)
    return PairTable(pairs, MappingProxyType({name: tuple(values) for name, values in extra.items()}),
                     tuple(comments), *table_provenance(comments), scaffolds, table_partial(comments, path),
                     subset_of, lengths, forced)


def _check_topology_line(pairs: Sequence[GenePair], forced: bool, scaffolds: Mapping, lengths: Mapping,
                         path: PathLike) -> None:
    """Refuse a ``#topology`` line its table contradicts: a ``#scaffold``/``#scaffold_length`` line of the other
    topology, or a pair closing the circle of a scaffold it makes linear (`pairs --linear` writes neither)."""
    other = next((sid for sid, (_, circular) in scaffolds.items() if circular != forced), None)
    other = other or next((sid for sid, told in lengths.items() if told.circular not in (None, forced)), None)
    if other is not None:
        raise DataError(f"{path}: its '#topology forced={'circular' if forced else 'linear'}' line and the line of "
                        f"{other} disagree: a table edited, or its header of two runs?")
    closing = next(iter(_circle_lengths(pairs).values()), None) if not forced else None
    if closing is not None:
        raise DataError(f"{path}: the pair {closing[1].pair_id} closes a circle, which its '#topology forced=linear' "
                        "line forbids: a table edited, or its rows and header of two runs?")


def _check_length_lines(pairs: Sequence[GenePair], lengths: Mapping[str, StatedLength], path: PathLike) -> None:
    """Refuse rows a table's ``#scaffold_length`` lines contradict: a pair closing the circle of a scaffold of
    another length or one the line calls linear, a gene starting past its end, or ending past the end of one the
    line calls linear (an older line, telling no topology, reads such a gene as crossing the origin)."""
    for sid, (length, pair) in _circle_lengths(pairs).items():
        if sid in lengths and lengths[sid].circular is False:
            raise DataError(f"{path}: the pair {pair.pair_id} closes the circle of {sid}, which its "
                            "'#scaffold_length' line calls linear: a table edited, or its rows and header of two "
                            "assemblies?")
        if sid in lengths and lengths[sid].length != length:
            raise DataError(f"{path}: {sid} is {lengths[sid].length:,} bp by its '#scaffold_length' line, {length:,} "
                            f"bp by the pair closing its circle ({pair.pair_id}): a table edited, or its rows and "
                            "header of two assemblies?")
    for p in pairs:
        for g in (p.gene_a, p.gene_b):
            told = lengths.get(g.scaffold)
            if told is not None and g.start > told.length:
                raise DataError(f"{path}: gene {g.id!r} starts at {g.start}, past the end of {g.scaffold}, "
                                f"{told.length:,} bp by its '#scaffold_length' line: a table edited, or its "
                                "rows and header of two assemblies?")
            if told is not None and told.circular is False and g.end > told.length:
                raise DataError(f"{path}: gene {g.id!r} ends at {g.end}, past the end of {g.scaffold}, "
                                f"{told.length:,} bp and linear by its '#scaffold_length' line: a table edited, or "
                                "its rows and header of two assemblies?")


def not_adjacent(pairs: Sequence[GenePair]) -> set[str]:
    """The ids of ``pairs`` (a `--labels`/`--pairs` list's) the table shows are no adjacent pair of their genome:
    genes between them, or neighbours by position whose ``gene_a`` a gene of the table sorted before it reaches
    past (nested in it: ``gene_b``'s adjacent pair is with that gene, ``upstream_partners``; genes_between is 0)."""
    genes: dict[str, dict[str, Gene]] = {}
    for p in pairs:
        for g in (p.gene_a, p.gene_b):
            genes.setdefault(g.scaffold, {})[g.id] = g
    reach: dict[str, int] = {}  # gene id -> the furthest end of the table's genes sorted before it
    for held in genes.values():
        furthest = 0
        for g in sorted(held.values(), key=lambda g: (g.start, g.end, g.id)):
            reach[g.id] = furthest
            furthest = max(furthest, g.end)
    return {p.pair_id for p in pairs if p.genes_between or (p.gene_a.start <= p.gene_b.start
                                                             and reach[p.gene_a.id] > p.gene_a.end)}


def _check_subset_count(pairs: Sequence[GenePair], told: int, comments: Sequence[str], path: PathLike) -> None:
    """Refuse a ``#subset of=N pairs`` line its rows contradict: a subset lacks some of the genome's N adjacent
    pairs, so it holds fewer than N pairs of neighbouring genes (``genes_between`` 0; its pairs of non-adjacent
    genes are not counted). More, or as many, is a hand-edited N, or rows of another genome or of a whole table
    under a subset's header, which `embed` and `score` then warned of wrongly or counted by."""
    adjacent = len({p.pair_id for p in pairs} - not_adjacent(pairs))
    if adjacent >= told:
        number = next(i for i, line in enumerate(comments, start=1) if line.startswith(_SUBSET_LINE))
        raise DataError(f"{path}: line {number}: '#subset of={told} pairs' says the table lacks some of its "
                        f"genome's {told} adjacent pairs, but it holds {adjacent} pairs of neighbouring genes: a "
                        "table edited, or its rows and header of two genomes? (write it again with `microfuse pairs`)")


def _check_scaffold_lines(pairs: Sequence[GenePair], scaffolds: Mapping[str, tuple[int, bool]],
                          path: PathLike) -> None:
    """Refuse rows the table's ``#scaffold`` lines contradict (``read_pairs``); scaffolds they do not list are not
    checked."""
    for sid, (length, pair) in _circle_lengths(pairs).items():
        if sid not in scaffolds:
            continue
        told, circular = scaffolds[sid]
        if not circular:
            raise DataError(f"{path}: the pair {pair.pair_id} closes the circle of {sid}, which its '#scaffold' line "
                            "calls linear: a table edited, or its rows and header of two assemblies?")
        if told != length:
            raise DataError(f"{path}: {sid} is {told:,} bp by its '#scaffold' line, {length:,} bp by the pair "
                            f"closing its circle ({pair.pair_id}): a table edited, or its rows and header of two "
                            "assemblies?")
    for p in pairs:
        for g in (p.gene_a, p.gene_b):
            told = scaffolds.get(g.scaffold)
            if told is not None and (g.start > told[0] or (g.end > told[0] and not told[1])):
                raise DataError(f"{path}: gene {g.id!r} ends at {g.end}, past the end of {g.scaffold}, "
                                f"{told[0]:,} bp and {'circular' if told[1] else 'linear'} by its '#scaffold' line: "
                                "a table edited, or its rows and header of two assemblies?")


def _circle_lengths(pairs: Iterable[GenePair]) -> dict[str, tuple[int, GenePair]]:
    """Scaffold -> (length, pair) told by each pair closing a circle (``gene_b`` before ``gene_a``: ``spacer``'s
    ``wraps``, whose distance is length - a.end + b.start - 1, also for an ``a`` across the origin); pairs that tell
    two lengths of one scaffold (tables of two assemblies put together) are a DataError."""
    lengths: dict[str, tuple[int, GenePair]] = {}
    for p in pairs:
        if p.gene_b.start < p.gene_a.start:
            length = p.distance + p.gene_a.end - p.gene_b.start + 1
            first = lengths.setdefault(p.scaffold, (length, p))
            if first[0] != length:
                raise DataError(f"the pairs {first[1].pair_id} and {p.pair_id} both close the circle of {p.scaffold} "
                                f"but tell two lengths ({first[0]:,} and {length:,} bp): pairs of two assemblies?")
    return lengths


def _place(gene: Gene) -> tuple:
    return gene.scaffold, gene.start, gene.end, gene.strand


def _where(gene: Gene) -> str:
    return f"{gene.scaffold}:{gene.start}..{gene.end}({'+' if gene.strand > 0 else '-'})"


def _ids_hint(pairs: Sequence[GenePair], sequences: Mapping[str, str]) -> str:
    """Where no gene of the pairs has a protein: the ids each file uses (protein ids beside locus tags, say)."""
    if any(g.id in sequences for p in pairs for g in (p.gene_a, p.gene_b)):
        return ""
    return (f", nor has any other: its ids are like {next(iter(sequences))!r}, the pairs' like {pairs[0].gene_a.id!r} "
            "(proteins named by another id, e.g. protein ids, not locus tags? `microfuse pairs --proteins` writes "
            "them by the pairs' ids)")


#: ``gene length - 3 * residues`` (a final ``*`` not counted) of a gene's own protein: 3 for a whole CDS (its stop),
#: 0-2 for one cut at a sequence end, 2 or 4 for a programmed frameshift (E. coli prfB); the proteins the four
#: labelled genomes and the panel write (`pairs --proteins`) all lie in 1..4. Another gene's protein rarely does.
_CODED = range(-2, 9)


def _check_protein_lengths(genes: Iterable[Gene], written: Mapping[str, str], proteins: PathLike) -> None:
    """Refuse proteins that the genes' coordinates cannot code: a proteins FASTA of another assembly or gene calling
    whose ids are the table's (gene callers number genes by position, NODE_1_5; Prokka and Bakta by order) gave
    most genes another gene's protein, silently (M. pneumoniae with 3 kb more near its start: 744 of 764)."""
    odd = [g for g in genes if (g.end - g.start + 1) - 3 * len(written[g.id].rstrip("*")) not in _CODED]
    if odd:
        g = odd[0]
        raise DataError(f"{len(odd)} gene(s) of the pairs have a protein in {proteins} of a length their coordinates "
                        f"do not code (e.g. {g.id}, {g.end - g.start + 1} bp, "
                        f"{len(written[g.id].rstrip('*'))} residues): proteins of another assembly or gene calling?")


def file_named_genome(table: PairTable, path) -> str:
    """The genome name of a pairs TSV whose ``#microfuse`` line names none (an older or hand-made table): its file
    name (``records.genome_name``), or, read from a pipe given by descriptor (`embed <(grep ... pairs.tsv)`,
    /dev/fd/63), its first pair's scaffold, as ``read_genome`` names a piped genome after its first sequence: the
    descriptor's number, '63', named the genome in embed's manifest and the --fused ids."""
    return table.pairs[0].scaffold if table.pairs and descriptor_stream(path) else genome_name(path)


def genome_from_table(table: PairTable, proteins: PathLike | None, fasta: PathLike | None, name: str, *,
                      genetic_code: int | None = None) -> Genome:
    """Rebuild a Genome from a pairs TSV: genes from its coordinates, proteins from a FASTA, DNA from ``fasta``.

    Each scaffold's length told by the table's ``#scaffold`` lines (``scaffold_comments``), else by a pair closing its
    circle (``_circle_lengths``), is checked against ``fasta``'s: a FASTA of another assembly placed the genes on
    another circle (made-up genes across the origin), or cut them elsewhere, silently. Those lines also give each
    scaffold its topology, and so do its ``#scaffold_length`` lines (``length_comments``: circular where they say
    so, or where a FASTA header or a pair or gene across the origin does, as the genome's route reads it); a table
    without either, or with older length lines telling no topology, has circular the scaffolds a pair or gene
    crosses the origin of. A ``#scaffold_length`` line's length is the scaffold's without ``fasta``, checked against
    its length where stated (``length=``), not where a bound (``at_least=``, which the genome's route does not check
    either). ``genetic_code`` (`-g`) is the code a table without a ``#genes`` line naming one reads
    its cut genes' stops in (``_cut_by_sequence``; default 11)."""
    from .io.fasta import read_fasta_scaffolds, read_proteins
    from .records import Scaffold

    sequences: dict[str, str] = {}
    written: dict[str, str] = {}
    if proteins is not None:
        written = read_proteins(proteins)
        sequences = {ident: seq.replace("*", "").upper() for ident, seq in written.items()}
        if not sequences:
            raise DataError(f"{proteins}: no protein records")
    genes: dict[str, Gene] = {}
    for p in table.pairs:
        for g in (p.gene_a, p.gene_b):
            known = genes.get(g.id)
            if known is None:
                if proteins is not None and g.id not in sequences:
                    raise DataError(f"gene {g.id!r} of the pairs has no protein in {proteins}"
                                    + _ids_hint(table.pairs, sequences))
                genes[g.id] = replace(g, protein=sequences.get(g.id, ""), aliases=(g.id,))
            elif _place(known) != _place(g):  # the first was kept, silently
                raise DataError(f"gene {g.id!r} of the pairs is at {_where(known)} and, in {p.pair_id}, at "
                                f"{_where(g)}: pairs of two assemblies or genomes put together?")
    if proteins is not None:
        _check_protein_lengths(genes.values(), written, proteins)
    closing = _circle_lengths(table.pairs)
    declared = dict(table.scaffolds or {})  # checked against the rows by read_pairs
    stated = dict(table.lengths or {})  # without a sequence (`pairs` of a GFF3 without its FASTA), checked so too
    if fasta is not None:
        scaffolds = read_fasta_scaffolds(fasta)
        missing = sorted({g.scaffold for g in genes.values()} - set(scaffolds))
        if missing:
            raise DataError(f"scaffold {missing[0]!r} of the pairs is not in {fasta}")
        _check_fasta_lengths(fasta, scaffolds, genes.values(), declared, stated, closing)
    else:
        extent: dict[str, int] = {}
        for g in genes.values():
            extent[g.scaffold] = max(extent.get(g.scaffold, 0), g.end)
        extent.update({sid: length for sid, (length, _) in closing.items()})  # genes may end past it
        extent.update({sid: told.length for sid, told in stated.items() if sid in extent})
        extent.update({sid: length for sid, (length, _) in declared.items() if sid in extent})
        scaffolds = {sid: Scaffold(sid, length) for sid, length in extent.items()}
    # a gene from inside the sequence to past its end crosses the origin of a circular one (as readers take a CDS
    # joined across it), also where the table lacks the pair closing the circle (`pairs --labels` of one pair);
    # there nothing checks the FASTA's length, and a FASTA of another, shorter assembly reads the same: said
    across = {}
    for g in genes.values():
        if g.start <= scaffolds[g.scaffold].length < g.end:
            across.setdefault(g.scaffold, g)
    if table.forced_circular is False and across:  # as the genome's route refuses it under --linear
        _refuse_past_forced_linear_end(scaffolds, across, fasta)
    for sid, gene in across.items():  # a '#scaffold' line (read_pairs: circular) or '#scaffold_length' line told it
        if sid not in closing and sid not in declared and sid not in stated:
            log.warning("gene %s of the pairs ends at %d, past the end of %s in %s (%d bp): read as crossing the "
                        "origin of a circular %s, unchecked (the pairs lack the pair closing its circle, which tells "
                        "its length); if %s is of another assembly, its genes are misplaced", gene.id, gene.end, sid,
                        fasta, scaffolds[sid].length, sid, fasta)
    wrapped = set(closing) | set(across)
    # a '#scaffold_length' line's topology is the annotation's, which the genome's route reads circular beside a
    # FASTA whose header says so (as s.circular here), and linear where the line says so and nothing else does
    told_circular = {sid for sid, told in stated.items() if told.circular}
    scaffolds = {sid: replace(s, circular=declared[sid][1] if sid in declared
                              else s.circular or sid in wrapped or sid in told_circular)
                 for sid, s in scaffolds.items()}
    forced = table.forced_circular
    if forced is not None:  # `pairs --circular/--linear`: the user's word, over a FASTA header's
        scaffolds = {sid: s if s.circular == forced else replace(s, circular=forced) for sid, s in scaffolds.items()}
    gene_list = list(genes.values())
    if fasta is not None and table.scaffolds is None and not table.partial_genes:
        gene_list = _cut_by_sequence(gene_list, scaffolds, table.genes_comment, genetic_code)
    return Genome(name, scaffolds, gene_list, PAIRS_TABLE,
                  partial_genes=table.partial_genes).with_genes_sorted()


def _refuse_past_forced_linear_end(scaffolds: Mapping, across: Mapping[str, Gene], fasta: PathLike | None) -> None:
    """A gene past the end of a scaffold (``across``: scaffold -> its first such gene) that a table's ``#topology
    forced=linear`` line (``table_topology``) makes linear is refused, as on the genome's route under --linear."""
    sid, gene = next(iter(across.items()))
    raise DataError(f"gene {gene.id!r} of the pairs ends at {gene.end}, past the end of {sid} in {fasta} "
                    f"({scaffolds[sid].length:,} bp), which the pairs' '#topology forced=linear' line makes "
                    "linear: a FASTA of another assembly?")


def _check_fasta_lengths(fasta: PathLike, scaffolds: Mapping, genes: Iterable[Gene], declared: Mapping,
                         stated: Mapping[str, StatedLength], closing: Mapping) -> None:
    """``genome_from_table``'s checks of a --fasta against what the table tells of its scaffolds: each length of a
    ``#scaffold`` line (``declared``), of a ``#scaffold_length length=`` line (``stated``, exact ones only), of a
    pair closing a circle (``closing``), and no gene starting past its scaffold's end."""
    for sid, (length, _) in declared.items():  # the table's '#scaffold' lines: every scaffold, exactly
        if sid in scaffolds and scaffolds[sid].length != length:
            raise DataError(f"{sid} is {length:,} bp by the pairs' '#scaffold' line, {scaffolds[sid].length:,} "
                            f"bp in {fasta}: a FASTA of another assembly?")
    for sid, told in stated.items():  # the annotation's lengths, as its own reader checks a FASTA's (a bound,
        # at_least=, not: nor does it check GenomeTools' guess)
        if sid in scaffolds and told.exact and scaffolds[sid].length != told.length:
            raise DataError(f"{sid} is {told.length:,} bp by the pairs' '#scaffold_length' line, "
                            f"{scaffolds[sid].length:,} bp in {fasta}: a FASTA of another assembly?")
    for sid, (length, pair) in closing.items():  # a FASTA of another length read the pairs on another circle
        if scaffolds[sid].length != length:
            raise DataError(f"{sid} is {length:,} bp by the pair closing its circle ({pair.pair_id}), "
                            f"{scaffolds[sid].length:,} bp in {fasta}: a FASTA of another assembly?")
    past = next((g for g in genes if g.start > scaffolds[g.scaffold].length), None)
    if past is not None:  # was Genome.check's error, naming the genome the embeddings were of, not the FASTA
        raise DataError(f"gene {past.id!r} of the pairs starts at {past.start}, past the end of {past.scaffold} "
                        f"in {fasta} ({scaffolds[past.scaffold].length} bp): a FASTA of another assembly?")


def _cut_by_sequence(genes: list[Gene], scaffolds: Mapping, genes_line: str | None,
                     genetic_code: int | None = None) -> list[Gene]:
    """``genes`` with those cut by a linear contig's edge or a gap marked partial, read from the sequence as the
    GFF3 reader reads a CDS no flag marks (``cut_without_flag``): a table whose `pairs` read no sequence (no
    ``#scaffold`` line) and found no partial gene (no ``#partial_genes`` line: IMG, MetaGeneMark, a GFF3 without its
    FASTA) says nothing of its cut genes, so `score` of it with --fasta left no short contig out of the calibration
    where `score` of the genome with that FASTA does (``calibration.short_fragments``). The code is the table's
    ``#genes`` line's where it names one, else ``genetic_code`` (the user's `-g`: M. pneumoniae's TGA is Trp under
    code 4, a stop under 11), else each gene's own (11)."""
    from .io.features import circular_slice, cut_without_flag

    told = genes_line_code(genes_line)
    code = int(told) if told is not None and told.isdigit() else None  # '4,11': each gene's own
    if told is None:
        code = genetic_code
    out = []
    for g in genes:
        s = scaffolds[g.scaffold]
        if not s.circular and s.sequence:
            def coding(g=g, s=s):
                from Bio.Seq import reverse_complement

                bases = circular_slice(s.sequence, g.start, g.end)
                return bases if g.strand > 0 else reverse_complement(bases)

            if cut_without_flag(s.length, s.sequence, g.start, g.end, g.strand, code or g.genetic_code, coding):
                g = replace(g, partial=True)
        out.append(g)
    return out
