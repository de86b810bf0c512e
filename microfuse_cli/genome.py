"""A genome with its protein-coding genes from any supported input: an annotation (GFF3, GenBank, EMBL) or a bare
assembly (FASTA), whose genes pyrodigal calls. The formats themselves are read in ``io/``; the records are in
records.py.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Callable, Iterable, Mapping

from .errors import FASTA, DataError, UsageError, true_or_false, whole_number
from .genes import AnnotationGenes, GeneSource, PyrodigalGenes, check_gene_calling
from .io.files import PathLike, peek_lines, text_lines
from .io.formats import sniff_format
from .progress import Advance, check_callbacks
from .records import Genome, RebuiltFromFields, check_bin_map, descriptor_stream, stream_named

log = logging.getLogger("microfuse")


# ------------------------------------------------------------------------------------------------ entry point


@dataclass(frozen=True)
class GenomeOptions(RebuiltFromFields):
    """How to read a genome input (the CLI's --mode, -g, --circular).

    ``genetic_code``: for an annotation, the code of CDS without a transl_table (default 11); for a bare assembly,
    pyrodigal's table (default: 11, or 4 when the assembly codes like a Mycoplasma, see ``genes.call_genes``).
    ``mode`` (auto/single/meta) only applies to gene calling; ``circular`` forces the topology of every sequence.
    ``bins`` (scaffold -> bin, the CLI's --bins): a bare assembly's genes are called per bin
    (``genes.call_genes_per_bin``).
    """

    mode: str = "auto"
    genetic_code: int | None = None
    circular: bool | None = None

    bins: Mapping[str, str] | None = None  # scaffold -> bin of a binned metagenome: genes are called per bin

    def __post_init__(self) -> None:  # checked as built: a typo in mode= was ignored when reading an annotation
        check_gene_calling(self.mode, None)
        code = self.genetic_code  # whether a table of that number exists is the reader's (NCBI's, or pyrodigal's)
        if code is not None:
            if not whole_number(code) or not 1 <= code <= 33:
                raise UsageError(f"genetic_code is an NCBI table number from 1 to 33 (as -g), not {code!r}")
            object.__setattr__(self, "genetic_code", int(code))  # numpy's integers too, as a plain int
        if self.circular is not None:
            if not true_or_false(self.circular):
                raise UsageError(f"circular is True, False or None (each sequence's own topology), not "
                                 f"{self.circular!r}")
            object.__setattr__(self, "circular", bool(self.circular))  # numpy's bool too, as a plain bool
        if self.bins is not None:  # the bins as a read-only mapping, whatever mapping they came in
            check_bin_map(self.bins, "bins")
            object.__setattr__(self, "bins", MappingProxyType(dict(self.bins)))


def read_genome(path: PathLike, fasta: PathLike | None = None, options: GenomeOptions = GenomeOptions(), *,
                threads: int = 1, progress: Advance | None = None, on_gene_calling: Callable[[], None] | None = None,
                text: str | Iterable[str] | None = None) -> Genome:
    """Read any supported input into a Genome with genes; a bare FASTA gets genes called by pyrodigal.

    ``fasta``: the sequences of a GFF3 without ##FASTA. ``threads``, ``progress`` and ``on_gene_calling`` (see
    ``genes.call_genes(on_start=)``) only apply to gene calling. ``text``: the file's contents (or its lines)
    when the caller has read them already; else the input is read as it is parsed, never whole.

    Returns:
        The genome: its scaffolds in file order, its genes in (scaffold, start) order; named after its file
        (``records.genome_name``), or, read from a pipe given by descriptor (/dev/fd/63 of `<(zcat g.gff.gz)`),
        after its first sequence.
    Raises:
        DataError: the input cannot be read (missing, empty, binary, too large) or parsed, or holds no sequence.
        UsageError: an impossible setting: ``options`` not a GenomeOptions (or an unknown mode or genetic code),
            ``threads`` not a whole number >= 0, ``path`` not a str or os.PathLike, ``fasta`` with a FASTA input,
            ``progress`` not a callable of its shape (progress.check_callbacks) or ``on_gene_calling`` not callable.
    """
    if not isinstance(options, GenomeOptions):  # options="meta" was an AttributeError after reading the input
        raise UsageError(f"read_genome's options are a GenomeOptions (GenomeOptions(mode=...)), not "
                         f"{type(options).__name__}")
    check_callbacks("read_genome", progress=progress)  # a TypeError in gene calling, after the input was read
    if on_gene_calling is not None and not callable(on_gene_calling):
        raise UsageError(f"read_genome's on_gene_calling is a callable, not {type(on_gene_calling).__name__}")
    # before it is read: `<(zcat g.gff.gz)` (/dev/fd/63, or the CLI's StreamCopy of it) is named after its first
    # sequence, not '63'
    stream = descriptor_stream(path)
    with text_lines(path, text) as lines:
        head, lines = peek_lines(lines)  # the format is told from a prefix: stdin can be read once
        if not any(line.strip() for line in head):
            raise DataError(f"{path}: empty file")
        source = gene_source(sniff_format("".join(head), path), path, fasta, options, threads=threads,
                             progress=progress, on_gene_calling=on_gene_calling)
        genome = source.find_genes(path, lines)
    if options.circular is not None:
        genome = replace(genome, scaffolds={sid: replace(s, circular=options.circular)
                                            for sid, s in genome.scaffolds.items()})
    if stream:
        genome = stream_named(genome)
    _say_assembly_gaps(genome)
    return genome


def _say_assembly_gaps(genome: Genome) -> None:
    """One info line when scaffolds hold assembly gaps: the neighbours across them are not paired (pairs.py)."""
    from .pairs import MIN_GAP_NS, assembly_gaps

    counts = [len(assembly_gaps(s.sequence)) for s in genome.scaffolds.values()]
    if sum(counts):
        log.info("%s: %d assembly gap(s) (runs of %d+ N) in %d scaffold(s); genes on either side of a gap are "
                 "never paired, its length being unknown", genome.name, sum(counts), MIN_GAP_NS,
                 sum(1 for c in counts if c))


def gene_source(kind: str, path: PathLike, fasta: PathLike | None, options: GenomeOptions, *, threads: int = 1,
                progress=None, on_gene_calling=None) -> GeneSource:
    """Where the genes of an input of format ``kind`` (``io.formats.sniff_format``) come from: the one place that
    chooses between an annotation and gene calling, and refuses options that do not apply."""
    if kind == "fasta":
        if fasta is not None:
            raise UsageError.naming(FASTA, " is only used with a GFF3 input; a FASTA input is a bare assembly")
        return PyrodigalGenes(options.mode, options.genetic_code, threads, progress, on_gene_calling, options.bins)
    check_genetic_code(options.genetic_code)
    if kind == "pairs":
        raise UsageError(f"{path} is a pairs table; this command needs a genome (GFF3, GenBank, EMBL or FASTA)")
    if kind in ("genbank", "embl") and fasta is not None:
        raise UsageError.naming(FASTA, " is only used with a GFF3 input")
    return AnnotationGenes(kind, fasta, options.genetic_code, options.circular)


def check_genetic_code(code: int | None) -> None:
    """Refuse a -g that names no NCBI genetic code (7, 8, 17-20 were never assigned or were withdrawn)."""
    from Bio.Data import CodonTable

    if code is not None and code not in CodonTable.unambiguous_dna_by_id:
        known = sorted(CodonTable.unambiguous_dna_by_id)
        raise UsageError.naming(f"genetic code {code} (", (f"genetic_code={code}", f"-g {code}"),
                                f"): no such NCBI genetic code (known: {_ranges(known)})")


def _ranges(values: list[int]) -> str:
    """1-6, 9-16, 21-33 from a sorted list of integers."""
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)
