"""Where a genome's genes come from, behind one interface (as GECCO's ORFFinder): ``AnnotationGenes`` reads the CDS
of a GFF3 or GenBank annotation, ``PyrodigalGenes`` calls genes on a bare assembly with pyrodigal.

Single mode (trained on the genome itself) for complete or near-complete genomes, metagenomic mode for short or
fragmented assemblies, where there is too little sequence to train on.
"""

from __future__ import annotations

import functools
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Callable, Iterable, Protocol

from .errors import DataError, UsageError, log_naming
from .io.fasta import read_fasta_scaffolds
from .io.files import PathLike
from .io.genbank import read_genbank
from .io.gff import read_gff
from .progress import Advance, set_total
from .records import Gene, Genome, Scaffold, genome_name, safe_id
from .runtime import resolve_threads

log = logging.getLogger("microfuse")

#: Below this much sequence Prodigal cannot train reliably (Prodigal's documentation asks for 100 kbp).
MIN_SINGLE_LENGTH = 100_000
#: An assembly whose N50 is below this is treated as fragmented (metagenomic mode).
MIN_SINGLE_N50 = 20_000


#: Genetic-code detection as in GTDB-Tk and CheckM: code 4 (UGA = Trp) is used when its genes cover clearly more
#: of the assembly than code 11's (by more than this fraction of the sequence; code-11 genomes gain nothing,
#: E. coli -0.001, Synechocystis +0.007; Mycoplasma pneumoniae +0.126, M. genitalium +0.177) ...
CODE4_DENSITY_GAIN = 0.05
#: ... and code 11's coding density is below this. A normal genome codes 85-93% with pyrodigal (E. coli 0.877,
#: A. fulgidus 0.931), a Mycoplasma read with code 11 about 0.78 (GTDB-Tk's 0.70 is measured on Prodigal's
#: closed-ends calls); only below it is the second gene calling with code 4 run at all.
CODE11_LOW_DENSITY = 0.85


class GeneSource(Protocol):
    """Finds the protein-coding genes of one genome input: ``find_genes(path, text)`` -> a Genome with its genes.

    ``text``: the input's contents, or its lines, when the caller has read (some of) them already (stdin can be
    read once); None reads ``path``.
    """

    def find_genes(self, path: PathLike, text: str | Iterable[str] | None = None) -> Genome: ...


@dataclass(frozen=True)
class AnnotationGenes:
    """The CDS of an annotation: ``kind`` "gff" (sequences from its ##FASTA or ``fasta``), "genbank" or "embl".

    ``genetic_code`` translates CDS without a transl_table (default 11); ``circular`` forces every sequence's
    topology before the genes are built (a join across the origin needs it).
    """

    kind: str
    fasta: PathLike | None = None
    genetic_code: int | None = None
    circular: bool | None = None

    def find_genes(self, path: PathLike, text: str | Iterable[str] | None = None) -> Genome:
        if self.kind == "gff":
            return read_gff(path, self.fasta, text=text, genetic_code=self.genetic_code, circular=self.circular)
        return read_genbank(path, text=text, genetic_code=self.genetic_code, circular=self.circular,
                            embl=self.kind == "embl")


@dataclass(frozen=True)
class PyrodigalGenes:
    """Genes called by pyrodigal on a bare assembly (FASTA); the settings are those of ``call_genes``."""

    mode: str = "auto"
    genetic_code: int | None = None
    threads: int = 1
    progress: Advance | None = None
    on_start: Callable[[], None] | None = None
    bins: dict[str, str] | None = None  # scaffold -> bin: genes called per bin (``call_genes_per_bin``)

    def find_genes(self, path: PathLike, text: str | Iterable[str] | None = None) -> Genome:
        check_gene_calling(self.mode, self.genetic_code)
        scaffolds = read_fasta_scaffolds(path, text)
        set_total(self.progress, sum(1 for s in scaffolds.values() if s.sequence))  # 0/N while pyrodigal trains
        call = _called_genes if self.bins is None else functools.partial(_called_per_bin, bins=self.bins)
        genes, modes = call(scaffolds, mode=self.mode, genetic_code=self.genetic_code, threads=self.threads,
                            progress=self.progress, on_start=self.on_start)
        return Genome(genome_name(path), scaffolds, genes, "pyrodigal",
                      gene_modes=modes).with_genes_sorted()


def n50(lengths: list[int]) -> int:
    total, running = sum(lengths), 0
    for length in sorted(lengths, reverse=True):
        running += length
        if running * 2 >= total:
            return length
    return 0


def choose_mode(scaffolds: dict[str, Scaffold], *, say: bool = True) -> str:
    """'single' for a genome with enough contiguous sequence to train on, else 'meta'; said in an info line
    (with the numbers behind it), since the two modes call different genes on the same contigs."""
    lengths = [s.length for s in scaffolds.values()]
    total, middle = sum(lengths), n50(lengths)
    mode = "single" if total >= MIN_SINGLE_LENGTH and middle >= MIN_SINGLE_N50 else "meta"
    log_naming(log, logging.INFO if say else logging.DEBUG,
               f"gene calling: pyrodigal {mode} mode ({len(lengths)} sequence(s), {total} bp, N50 {middle} bp; auto "
               f"picks single at >= {MIN_SINGLE_LENGTH} bp and N50 >= {MIN_SINGLE_N50} bp; give ",
               ("mode='single' or 'meta'", "--mode"), " to override)")
    return mode


def call_genes_per_bin(scaffolds: dict[str, Scaffold], *, bins: dict[str, str], mode: str = "auto",
                       progress: Advance | None = None, **options) -> list[Gene]:
    """``call_genes`` on each bin of a binned metagenome (``bins``: scaffold -> bin), as Prodigal is run on each
    MAG: auto picks each bin's mode, and in single mode its own model and genetic code (one model trained on a
    whole sample called M. pneumoniae's contigs with E. coli's code 11, its genes cut at every UGA). The
    scaffolds in no bin, several genomes' leftovers, are called in meta mode under auto."""
    return _called_per_bin(scaffolds, bins=bins, mode=mode, progress=progress, **options)[0]


def _called_per_bin(scaffolds: dict[str, Scaffold], *, bins: dict[str, str], mode: str = "auto",
                    progress: Advance | None = None, **options) -> tuple[list[Gene], tuple[str, ...]]:
    """``call_genes_per_bin``'s genes and the pyrodigal modes they were called in (sorted; both for a sample whose
    bins differ), which the outputs' ``#genes`` line records."""
    members: dict[str | None, dict[str, Scaffold]] = {}
    for sid, scaffold in scaffolds.items():
        members.setdefault(bins.get(sid), {})[sid] = scaffold
    genes: list[Gene] = []
    modes: dict[str, int] = {}
    for name, part in members.items():
        if not any(s.sequence for s in part.values()):
            continue
        chosen = mode if mode != "auto" else "meta" if name is None else choose_mode(part, say=False)
        modes[chosen] = modes.get(chosen, 0) + 1
        where = f"bin {name}" if name is not None else "the contigs in no bin"
        genes += call_genes(part, mode=chosen, progress=progress, where=where, **options)
    if not modes:
        raise DataError("no sequence to call genes on")
    log.info("gene calling per bin: %s (auto: single mode for a bin of >= %d bp and N50 >= %d bp, else meta; "
             "contigs in no bin in meta)", ", ".join(f"{n} in pyrodigal {m} mode" for m, n in sorted(modes.items())),
             MIN_SINGLE_LENGTH, MIN_SINGLE_N50)
    return genes, tuple(sorted(modes))


def check_gene_calling(mode: str, genetic_code: int | None) -> None:
    """Refuse a mode or -g pyrodigal cannot call genes with, before any work is done."""
    if mode not in ("auto", "single", "meta"):
        raise UsageError(f"gene calling mode must be auto, single or meta, not {mode!r}")
    if genetic_code is None:
        return
    import pyrodigal  # only here: imported before the FASTA is read, it left 13 MiB more peak memory

    if genetic_code not in pyrodigal.TRANSLATION_TABLES:
        raise UsageError.naming(f"genetic code {genetic_code} (",
                                (f"genetic_code={genetic_code}", f"-g {genetic_code}"),
                                f"): pyrodigal has no translation table {genetic_code} "
                                f"(it has {', '.join(map(str, sorted(pyrodigal.TRANSLATION_TABLES)))})")
    if mode == "meta" and not _meta_bins(genetic_code):
        raise UsageError.naming(f"genetic code {genetic_code} in mode meta (",
                                (f"genetic_code={genetic_code}, mode='meta'", f"-g {genetic_code} --mode meta"),
                                "): pyrodigal's metagenomic models use genetic code 11 or 4 only; use ",
                                ("mode='single'", "--mode single"), " on a genome of 100 kbp or more")


def _meta_bins(genetic_code: int | None):
    """pyrodigal's metagenomic models of one genetic code (all 50 when None): -g holds in meta mode too."""
    import pyrodigal

    if genetic_code is None:
        return pyrodigal.METAGENOMIC_BINS
    return pyrodigal.MetagenomicBins(
        [b for b in pyrodigal.METAGENOMIC_BINS if b.training_info.translation_table == genetic_code])


def call_genes(
    scaffolds: dict[str, Scaffold],
    *,
    mode: str = "auto",
    genetic_code: int | None = None,
    threads: int = 1,
    progress: Advance | None = None,
    on_start: Callable[[], None] | None = None,
    where: str = "the assembly",
) -> list[Gene]:
    """Predict protein-coding genes on every scaffold; ids follow Prodigal (``<scaffold>_<n>``). ``where`` names
    the sequences in the log (a bin of ``call_genes_per_bin``).

    Without ``genetic_code``, single mode uses code 11 unless the assembly codes like a Mycoplasma (see
    ``CODE11_LOW_DENSITY``), which is then called with code 4 and said in an info line; meta mode lets each
    contig pick among all of pyrodigal's models (codes 11 and 4).

    ``on_start`` is called just before pyrodigal starts: pyrodigal releases the GIL, so a caller can start other
    Python work then (``score`` imports torch and loads its model) without slowing the Python work before it.
    """
    return _called_genes(scaffolds, mode=mode, genetic_code=genetic_code, threads=threads, progress=progress,
                         on_start=on_start, where=where)[0]


def _called_genes(scaffolds: dict[str, Scaffold], *, mode: str = "auto", genetic_code: int | None = None,
                  threads: int = 1, progress: Advance | None = None, on_start: Callable[[], None] | None = None,
                  where: str = "the assembly") -> tuple[list[Gene], tuple[str, ...]]:
    """``call_genes``'s genes and the pyrodigal mode they were called in (auto's choice), which the outputs'
    ``#genes`` line records."""
    import pyrodigal

    check_gene_calling(mode, genetic_code)
    if mode == "auto":
        mode = choose_mode(scaffolds)
    records = [s for s in scaffolds.values() if s.sequence]
    if not records:
        raise DataError("no sequence to call genes on")
    if on_start is not None:
        on_start()
    workers = resolve_threads(threads)
    if mode == "meta":
        finder = pyrodigal.GeneFinder(meta=True, mask=True, closed=False, metagenomic_bins=_meta_bins(genetic_code))
        return _predict(finder, records, genetic_code or 11, workers, progress), (mode,)
    finder = _trained(records, genetic_code or 11)
    genes = _predict(finder, records, genetic_code or 11, workers, progress)
    if genetic_code is None:
        total = sum(s.length for s in records)
        density11 = coding_density(genes, total)
        if density11 < CODE11_LOW_DENSITY:  # only then is code 4 worth a second run
            genes4 = _predict(_trained(records, 4), records, 4, workers, None)
            density4 = coding_density(genes4, total)
            if density4 - density11 > CODE4_DENSITY_GAIN:
                log_naming(log, logging.INFO, f"genetic code 4 detected (genes cover {100 * density4:.1f}% of {where} "
                           f"with code 4, {100 * density11:.1f}% with code 11, as in Mycoplasma); give ",
                           ("genetic_code=11", "-g 11"), " to call with code 11")
                _warn_mixed_codes(records, genes, 4, workers, where)
                return genes4, (mode,)
        _warn_mixed_codes(records, genes, 11, workers, where)
    return genes, (mode,)


def _warn_mixed_codes(records: list[Scaffold], genes11: list[Gene], code: int, workers: int, where: str) -> None:
    """One warning naming the records of a multi-record input whose own genetic code is not ``code``, the one
    it was called with as one genome (M. genitalium's chromosome beside E. coli's, called with code 11: its UGA
    read as stops, 291 more, shorter genes). A record long enough to train on whose code-11 coding density
    (``genes11``, one model for the whole input) is low is called alone with both codes and judged by the
    whole-genome rule (``CODE4_DENSITY_GAIN``): alone, since a model trained on others lowers any record's
    density (a 103 kb Synechocystis plasmid: 0.76 in the whole, 0.79 alone, 0.82 alone with code 4)."""
    long = [s for s in records if s.length >= MIN_SINGLE_LENGTH]
    if len(records) < 2 or not long:
        return
    density11 = _densities(genes11, long)
    coded4 = [s.id for s in long if density11[s.id] < CODE11_LOW_DENSITY and _code4_gain(s, workers) >
              CODE4_DENSITY_GAIN]
    odd = coded4 if code == 11 else [s.id for s in long if s.id not in coded4]
    if odd and len(odd) < len(long):
        named = ", ".join(odd[:3]) + (" ..." if len(odd) > 3 else "")
        log_naming(log, logging.WARNING,
                   f"{where}: called with genetic code {code} as one genome, but {named} code"
                   f"{'s' if len(odd) == 1 else ''} like genetic code {15 - code} "
                   f"({'Mycoplasma' if code == 11 else 'most bacteria'}); if they are several genomes, give ",
                   ("GenomeOptions(bins={scaffold: bin})", "--bins with a contig<TAB>bin table"),
                   " (each bin is then called with its own code), or ",
                   (f"genetic_code={15 - code}", f"-g {15 - code}"), " if they are one")


def _code4_gain(scaffold: Scaffold, workers: int) -> float:
    """How much more of ``scaffold`` genes cover with code 4 than with code 11, each trained on it alone."""
    one = [scaffold]
    density = {c: _densities(_predict(_trained(one, c), one, c, workers, None), one)[scaffold.id] for c in (4, 11)}
    return density[4] - density[11]


def _densities(genes: list[Gene], scaffolds: list[Scaffold]) -> dict[str, float]:
    """Each scaffold's coding density (``coding_density``) from ``genes``."""
    covered = {s.id: 0 for s in scaffolds}
    for g in genes:
        if g.scaffold in covered:
            covered[g.scaffold] += g.length
    return {s.id: covered[s.id] / max(s.length, 1) for s in scaffolds}


def coding_density(genes: list[Gene], total_length: int) -> float:
    """Fraction of the assembly inside predicted genes (overlaps counted twice, as GTDB-Tk and CheckM do)."""
    return sum(g.length for g in genes) / max(total_length, 1)


def _trained(records: list[Scaffold], genetic_code: int):
    import pyrodigal

    finder = pyrodigal.GeneFinder(meta=False, mask=True, closed=False)
    try:
        finder.train(*[s.sequence.encode() for s in records], translation_table=genetic_code)
    except ValueError as exc:
        raise DataError.naming(f"cannot train pyrodigal on this assembly ({exc}); try ",
                               ("mode='meta'", "--mode meta")) from None
    return finder


def _predict(finder, records: list[Scaffold], genetic_code: int, workers: int, progress) -> list[Gene]:
    """Genes of every record, ``workers`` records at a time (pyrodigal releases the GIL)."""

    def predict(scaffold: Scaffold):
        found = finder.find_genes(scaffold.sequence.encode())
        if progress:
            progress(1)
        return scaffold, found

    genes: list[Gene] = []
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for scaffold, found in pool.map(predict, records):
            for i, g in enumerate(found, start=1):
                raw = f"{scaffold.id}_{i}"
                ident = safe_id(raw)
                code = g.translation_table if hasattr(g, "translation_table") else genetic_code
                protein = g.translate(translation_table=code, include_stop=False).replace("*", "X")
                partial = bool(g.partial_begin or g.partial_end)
                genes.append(Gene(ident, scaffold.id, g.begin, g.end, g.strand, protein, tuple(dict.fromkeys((ident, raw))), code,
                                  partial))
    return genes
