"""The data model every stage shares: scaffolds, protein-coding genes and the genome that holds them.

Coordinates are 1-based and inclusive throughout, as in GFF3; a strand is +1 or -1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields, replace
from types import MappingProxyType
from typing import Iterable, Mapping

from .errors import FASTA

#: Characters a gene id must not carry into the TSVs (columns, ``a|b`` pair ids, comma-joined operon members) or a
#: protein FASTA (whose readers take a header's first word: `pairs --proteins` of ``gene 1`` was read back as
#: ``gene``); a ``%`` that would read as an escape is encoded too, so the encoded form decodes back to the original.
_UNSAFE_ID = re.compile(r"[\x00-\x1f\x7f,|\s]|%(?=[0-9A-Fa-f]{2})|^#")


def safe_id(value: str) -> str:
    """A gene id percent-encoded where it would break a TSV column, a pair id, an operon's member list or a FASTA
    header's first word (whitespace), or begin a row readers skip as a comment (a leading ``#``)."""
    return _UNSAFE_ID.sub(lambda m: "".join(f"%{b:02X}" for b in m.group().encode()), value)


def case_hint(missing, known) -> str:
    """' (did you mean X? ...)' naming a ``known`` id that differs from one of ``missing`` only in case, else '':
    ids are case-sensitive (GFF3, FASTA, INSDC), so such a pair is named in the error, never matched silently."""
    folded = {k.casefold(): k for k in known}
    near = next(((m, folded[m.casefold()]) for m in missing if m.casefold() in folded), None)
    return "" if near is None else f" (did you mean {near[1]}? it differs from {near[0]} only in case)"


def check_bin_map(bins: object, name: str) -> None:
    """Refuse a scaffold -> bin map (``GenomeOptions.bins``, ``score_genome``'s ``groups``) that is not a mapping of
    str -> str, naming the first entry of another kind: a list was a ValueError of dict deep inside."""
    stray = None if not isinstance(bins, Mapping) else next(
        ((k, v) for k, v in bins.items() if not isinstance(k, str) or not isinstance(v, str)), None)
    if not isinstance(bins, Mapping) or stray is not None:
        from .errors import UsageError

        found = type(bins).__name__ if stray is None else f"{stray[0]!r:.40} -> {stray[1]!r:.40}"
        raise UsageError(f"{name} map scaffold names to bin names (str -> str, as read_groups gives), not {found}")


#: What a genome read without sequence needs for its genes' proteins (a CDS without /translation has none).
#: As parts of ``errors.MicrofuseError.naming``.
NO_SEQUENCE_HINT = ("a GFF3 without ##FASTA needs ", FASTA, "; a GenBank or EMBL record with a CONTIG line instead of "
                    "its sequence needs downloading with its sequence")


@dataclass(frozen=True)
class Scaffold:
    """One sequence record (chromosome, plasmid or contig). ``sequence`` is upper-case DNA or ``None``."""

    id: str
    length: int
    sequence: str | None = None
    circular: bool = False
    #: Without ``sequence``: whether ``length`` is the one the annotation states (a GFF3's ``##sequence-region ID 1
    #: N``, else its region row 1..N, Prodigal's ``seqlen=``, a GenBank LOCUS line), not the genes' extent; `pairs`
    #: then writes it as ``#scaffold_length length=N`` (pairs.length_comments), which a --fasta must match.
    length_stated: bool = field(default=False, compare=False)
    #: Without ``sequence``: whether ``length`` is only a bound the annotation gives (a ``##sequence-region`` ending
    #: where its last feature ends, the length GenomeTools makes up, or not starting at 1): the length used, as a
    #: stated one, but no statement a FASTA must match; `pairs` writes it as ``#scaffold_length at_least=N``.
    length_bound: bool = field(default=False, compare=False)


@dataclass(frozen=True)
class Gene:
    """A protein-coding gene. ``start <= end`` (1-based, inclusive); ``strand`` is +1 or -1."""

    id: str
    scaffold: str
    start: int
    end: int
    strand: int
    protein: str = ""
    aliases: tuple[str, ...] = ()
    genetic_code: int = 11
    partial: bool = False

    @property
    def length(self) -> int:
        return self.end - self.start + 1


def read_only(array):
    """A view of ``array`` that refuses writes (``ValueError``), for the arrays of objects handed between stages and
    to library users; ``None`` stays ``None``. A view, not a copy: the producer hands its array over."""
    if array is None:
        return None
    import numpy as np  # here, not at the top: records.py is imported by `import microfuse_cli` paths kept cheap

    view = np.asarray(array).view()
    view.flags.writeable = False
    return view


def _thawed(value):
    """``value`` with its read-only mappings (nested too) as dicts again: what a constructor takes."""
    if isinstance(value, MappingProxyType):
        return {k: _thawed(v) for k, v in value.items()}
    return value


def _rebuilt(cls, fields_: dict):
    return cls(**fields_)


class RebuiltFromFields:
    """For a frozen dataclass holding read-only mappings, which neither pickle nor deep-copy: pickled and copied
    as its constructor's arguments, so a copy is built (and frozen) as the original was."""

    def __reduce__(self):
        return _rebuilt, (type(self), {f.name: _thawed(getattr(self, f.name)) for f in fields(self)})


def genome_name(path) -> str:
    """The name of the genome read from ``path``: its whole file name ('mg.gbk.gz', not 'mg'; 'stdin' for '-'), the
    one rule every reader and command names a genome by (Genome.name, `score --fused` ids, `reference build`,
    embed's manifest.json), so the outputs of two commands name one genome alike: retrieval and conserved adjacency
    leave out the query's own genome by its name. embed's per-genome folder (-o/NAME) is a path, not this name.
    A regular file opened on a descriptor (`pairs /dev/fd/3 3< g.gff`, `/dev/stdin < g.gff`) is named after the file
    it opens, 'g.gff', not '3' (``opened_file``): the file the kernel opened, so a symlink's target (`3< link.gff`),
    its name not being kept. ``read_genome`` names a genome read from a pipe given by descriptor (`<(zcat
    g.gff.gz)`, /dev/fd/63, /dev/stdin of a pipe) after its first sequence instead (``stream_named``)."""
    from pathlib import Path

    text = str(path)
    return "stdin" if text == "-" else Path(opened_file(text) or text).name


def opened_file(path: str) -> str | None:
    """The file a descriptor's name (/dev/stdin, /dev/fd/N, /proc/self/fd/N) opens, where it is a regular file that
    is still there (Linux's /proc link, resolved); else None: a pipe (``descriptor_stream``), a file deleted or replaced
    since it was opened, a system without the link (macOS's /dev/fd/N is no link), or a path that names no
    descriptor."""
    import os
    import stat

    opened = _descriptor_stat(path)
    if opened is None or not stat.S_ISREG(opened.st_mode):
        return None
    try:
        target = os.path.realpath(path)
        if target == path or not os.path.samestat(opened, os.stat(target)):
            return None
    except (OSError, ValueError):  # its file gone ('/tmp/g.gff (deleted)')
        return None
    return target


def _descriptor_stat(path: object):
    """What the open descriptor ``path`` names (/dev/stdin, /dev/fd/N, /proc/self/fd/N) is, as os.stat says (the
    one test of a descriptor ``opened_file`` and ``descriptor_stream`` share); None for a path that names no
    descriptor, or a closed one, which nothing is read from."""
    import os

    if not isinstance(path, str) or not _DESCRIPTOR.fullmatch(path):
        return None
    try:
        return os.stat(path)
    except (OSError, ValueError):
        return None


#: The name of an open descriptor: a shell's process substitution `<(zcat genome.gff.gz)` is /dev/fd/63; /dev/stdin
#: is /dev/fd/0 by another name (it was named 'stdin' where /dev/fd/0 took the name of the file behind it).
_DESCRIPTOR = re.compile(r"/dev/stdin|/(?:dev/fd|proc/self/fd)/\d+")


class StreamCopy(str):
    """The path of a file that holds what was read from a ``descriptor_stream``: the command line keeps a pipe in a
    temp file (named as the descriptor, '63') to read it more than once, and its genome is named as the stream's."""


def descriptor_stream(path) -> bool:
    """Whether ``path`` names an open descriptor (/dev/stdin, /dev/fd/N, /proc/self/fd/N) that is not a regular file
    (a pipe, as a shell's `<(zcat genome.gff.gz)` gives), or a ``StreamCopy`` of one: its file name, the descriptor's
    number, names no genome. A regular file opened on a descriptor (`3< genome.gff` ... /dev/fd/3) is a file the
    user named, named after it (``genome_name``): not one."""
    import os
    import stat

    if isinstance(path, StreamCopy):
        return True
    if isinstance(path, os.PathLike):  # Path('/dev/fd/63'), as read_genome may be given
        path = os.fspath(path)
    opened = _descriptor_stat(path)
    return opened is not None and not stat.S_ISREG(opened.st_mode)


def stream_named(genome: "Genome") -> "Genome":
    """``genome``, read from a ``descriptor_stream``, named after its first sequence (`score <(zcat g.gff.gz)` named
    the genome '63' in the pairs TSV's genome= line, the --fused ids and the report); one without a sequence keeps
    its name."""
    first = next(iter(genome.scaffolds), None)
    return genome if first is None else replace(genome, name=first)


def printable_name(name: str) -> str:
    """``name`` (often a file name) as text every output can hold: bytes of a file name that are not UTF-8 (a
    Latin-1 'g\xe9nome.gff' from an old file share) become U+FFFD; writing them ended in an internal error. So do
    control characters (a tab or newline, legal in a file name), which split a TSV row or a log line."""
    text = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
    return _CONTROL.sub("\ufffd", text)


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


#: A gene-calling mode as the '#genes' line lists it (``source=pyrodigal:meta,single``): one word.
_MODE = re.compile(r"[\w.+-]+")

#: No scaffold (Genome.check's "previous gene's scaffold" before the first gene; None could be a gene's scaffold).
_NO_SCAFFOLD = object()


@dataclass(frozen=True)
class Genome(RebuiltFromFields):
    """Scaffolds in file order and their genes sorted by (scaffold order, start).

    Immutable, as every stage's input is: ``scaffolds`` is a read-only mapping and ``genes`` a tuple (whatever
    mapping and iterable it was built from), so no stage can change the genome another stage reads; a changed
    genome is a new one (``dataclasses.replace``).
    """

    name: str
    scaffolds: Mapping[str, Scaffold]
    genes: tuple[Gene, ...] = ()
    gene_source: str = "annotation"
    #: The annotation's CDS that are not among ``genes``, as (why, how many) pairs ("of pseudogenes", ...): said where
    #: the genes read are; not part of what the genome is (two readings of one genome compare equal).
    left_out: tuple[tuple[str, int], ...] = field(default=(), compare=False)
    #: pyrodigal's modes the genes were called in (``single``, ``meta``; both where --bins' bins differ), empty for
    #: genes read from an annotation: how the genes were found, which the outputs' ``#genes`` line records.
    gene_modes: tuple[str, ...] = field(default=(), compare=False)
    #: How many genes are partial where the genes cannot say: a genome rebuilt from a pairs TSV, whose
    #: ``#partial_genes`` line tells it (pairs.partial_count); the calibration's ``short_fragments`` reads it.
    partial_genes: int = field(default=0, compare=False)

    def __post_init__(self) -> None:  # the one place fields are set after construction: normalising them
        if not isinstance(self.name, str):  # name=None was an AttributeError ('encode') inside printable_name
            from .errors import UsageError

            raise UsageError(f"a Genome's name is a str (read_genome names it by its file), not "
                             f"{type(self.name).__name__}")
        object.__setattr__(self, "name", printable_name(self.name))
        if not isinstance(self.scaffolds, Mapping):  # a list of Scaffolds was a TypeError of dict()
            from .errors import UsageError

            raise UsageError(f"a Genome's scaffolds map each id to its Scaffold ({{s.id: s for s in scaffolds}}), "
                             f"not {type(self.scaffolds).__name__}")
        object.__setattr__(self, "scaffolds", MappingProxyType(dict(self.scaffolds)))
        object.__setattr__(self, "genes", tuple(self.genes))
        object.__setattr__(self, "left_out", tuple((str(why), int(n)) for why, n in self.left_out))
        modes = (self.gene_modes,) if isinstance(self.gene_modes, str) else self.gene_modes  # "meta": one, not 4
        modes = tuple(modes) if isinstance(modes, Iterable) else None
        if modes is None or not all(isinstance(m, str) and _MODE.fullmatch(m) for m in modes):
            from .errors import UsageError  # a newline in one ended the outputs' '#genes' line early

            raise UsageError(f"a Genome's gene_modes are pyrodigal's mode names ('single', 'meta'), not "
                             f"{self.gene_modes!r:.60}")
        object.__setattr__(self, "gene_modes", modes)
        if isinstance(self.partial_genes, bool) or not isinstance(self.partial_genes, int) or self.partial_genes < 0:
            from .errors import UsageError

            raise UsageError(f"a Genome's partial_genes is a count (0 or more), not {self.partial_genes!r:.60}")

    def genes_by_scaffold(self) -> dict[str, list[Gene]]:
        grouped: dict[str, list[Gene]] = {sid: [] for sid in self.scaffolds}
        for gene in self.genes:
            grouped[gene.scaffold].append(gene)
        return grouped

    def check(self) -> None:
        """Refuse a genome built by hand that breaks the invariants every stage relies on (readers give only valid
        ones). A field of the wrong Python kind is the caller's slip, a UsageError as every argument of the wrong
        kind is: a gene that is not a Gene, an id that is not a str, coordinates or a scaffold length that are not
        whole numbers, ``circular`` not a bool. Values that do not fit together are a DataError, as when read from a
        file: a scaffold under another name than its id, strand not +1/-1, not 1 <= start <= end, a gene on a
        scaffold the genome lacks or past its end (but from inside across the origin of a circular one), genes out of
        (scaffold, start) order, a gene id holding '|', which joins the two of a pair id (``A|B``): readers write it
        %7C (``safe_id``), so a pair id splits one way only."""
        from .errors import DataError, UsageError, true_or_false, whole_number

        order = {}  # id -> (place, length, circular); the loops take the exact types readers give at once
        for place, (sid, scaffold) in enumerate(self.scaffolds.items()):  # a stage looks it up by key, writes its .id
            if type(scaffold) is not Scaffold and not isinstance(scaffold, Scaffold):
                raise UsageError(f"{self.name}: its scaffolds map names to Scaffold records, not "
                                 f"{type(scaffold).__name__} {scaffold!r:.40}")
            length, circular = scaffold.length, scaffold.circular
            if (type(length) is not int and not whole_number(length)) or (type(circular) is not bool
                                                                          and not true_or_false(circular)):
                # circular='no' (a true str) paired the last gene with the first
                raise UsageError(f"{self.name}: scaffold {sid!r} needs a whole-number length and circular True or "
                                 f"False, has {length!r} and {circular!r}")
            if scaffold.id != sid:  # a KeyError in call_operons
                raise DataError(f"{self.name}: the scaffold under the key {sid!r} is named {scaffold.id!r}")
            order[sid] = (place, length, circular)
        on = _NO_SCAFFOLD  # the scaffold of the previous gene: genes in order come a scaffold at a time
        place = previous_place = previous_start = -1
        length, circular = 0, False
        for gene in self.genes:
            if type(gene) is not Gene and not isinstance(gene, Gene):  # a gene id was an AttributeError later on
                raise UsageError(f"{self.name}: its genes are Gene records, not {type(gene).__name__} {gene!r:.40}")
            if type(gene.id) is not str and not isinstance(gene.id, str):  # an int id: a TypeError in the GFF3 writer
                raise UsageError(f"{self.name}: a gene's id is a str, not {type(gene.id).__name__} {gene.id!r:.40}")
            if "|" in gene.id:  # 'a|1|b' was the pair of a|1 and b, or of a and 1|b
                raise DataError(f"{self.name}: gene id {gene.id!r:.60} holds '|', which joins the two gene ids of a "
                                f"pair id (A|B); write it {safe_id(gene.id)!r:.60}, as the readers do")
            start, end = gene.start, gene.end
            if (type(start) is not int or type(end) is not int) and not (whole_number(start) and whole_number(end)):
                raise UsageError(f"{self.name}: gene {gene.id} needs whole-number coordinates, has {start!r}..{end!r}")
            if gene.scaffold is not on:
                entry = order.get(gene.scaffold)
                if entry is None:
                    raise DataError(f"{self.name}: gene {gene.id} is on scaffold {gene.scaffold!r}, which the genome "
                                    "lacks")
                on, (place, length, circular) = gene.scaffold, entry
            if gene.strand not in (1, -1) or not 1 <= start <= end:
                raise DataError(f"{self.name}: gene {gene.id} needs strand +1 or -1 and 1 <= start <= end, has "
                                f"strand {gene.strand!r}, {start}..{end}")
            if end > length and (not circular or start > length or end - start >= length):  # as readers refuse
                raise DataError(f"{self.name}: gene {gene.id} ends at {end}, past the end of {gene.scaffold} "
                                f"({length} bp; only a gene across the origin of a circular scaffold may)")
            if place < previous_place or (place == previous_place and start < previous_start):
                raise DataError(f"{self.name}: genes are not in scaffold and start order at {gene.id} "
                                "(Genome.with_genes_sorted() puts them in order)")
            previous_place, previous_start = place, start

    def with_genes_sorted(self) -> Genome:
        """This genome with its genes in (scaffold order, start, end, id) order, as ``check`` requires."""
        order = {sid: i for i, sid in enumerate(self.scaffolds)}
        try:
            genes = sorted(self.genes, key=lambda g: (order[g.scaffold], g.start, g.end, g.id))
        except KeyError as missing:  # a hand-built genome's gene on a scaffold it lacks: check's error, not ours
            from .errors import DataError

            stray = next(g for g in self.genes if g.scaffold == missing.args[0])
            raise DataError(f"{self.name}: gene {stray.id} is on scaffold {stray.scaffold!r}, which the genome "
                            "lacks") from None
        return replace(self, genes=genes)

    @property
    def has_sequence(self) -> bool:
        return all(s.sequence is not None for s in self.scaffolds.values())


def require_genome(genome: Genome, function: str) -> None:
    """A path (or anything else) where a Genome belongs is a one-line UsageError, not an AttributeError inside; a
    Genome built by hand is checked (``Genome.check``: UsageError for fields of the wrong kind, DataError for values
    that do not fit together)."""
    if not isinstance(genome, Genome):
        from .errors import UsageError

        raise UsageError(f"{function} takes a Genome (read_genome(path) reads one), not {type(genome).__name__}")
    genome.check()
