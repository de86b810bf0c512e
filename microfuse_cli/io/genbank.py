"""GenBank/GBFF and EMBL: genomes read with Biopython, CDS features with their /translation (or translated)."""

from __future__ import annotations

import itertools
import logging
import re
import threading
import warnings
from collections import Counter
from types import MappingProxyType
from typing import Iterable, Iterator, Mapping

from ..errors import DataError
from ..records import Gene, Genome, Scaffold, genome_name
from .fasta import _NUCLEOTIDES, _not_dna
from .features import TRANSLATION_EXCUSED, _check_extent, _code_of, _covers_whole_scaffold, _unwrap, \
    _warn_skipped, cut_ends, cut_without_flag, gene_names, internal_stops_as_x, joins_across_origin, left_out, \
    stated_length_disagrees, stated_protein, translate, warn_stated_lengths, with_exceptions, with_topology
from .files import PathLike, text_lines

log = logging.getLogger("microfuse")


def read_genbank(path: PathLike, text: str | Iterable[str] | None = None, genetic_code: int | None = None,
                 circular: bool | None = None, embl: bool = False) -> Genome:
    """Read GenBank/GBFF records (EMBL's when ``embl``); CDS features with their /translation (or translated from
    the sequence).

    ``genetic_code`` translates CDS without a /transl_table (default 11). ``circular`` forces the topology of every
    record (None: the LOCUS line, or a CDS joined across the origin, says it). ``text``: the file's contents (or
    its lines) when the caller has read them already.
    """
    with text_lines(path, text) as lines:
        handle = _EmblLineHandle(lines) if embl else _LineHandle(lines)
        return _read_genbank(handle, path, genetic_code, circular, "embl" if embl else "genbank")


_NAMES = {"genbank": "GenBank", "embl": "EMBL"}


class _LineHandle:
    """The text handle Biopython's parser reads line by line, over an iterator of lines; it keeps the number and
    text of the last line read, which an error the parser gives without a message names. Cheap: the parser asks
    for every line of the sequence too. GenBank names no entries (``entry_names``: see ``_EmblLineHandle``)."""

    entry_names: Mapping[int, str] = MappingProxyType({})

    def __init__(self, lines: Iterator[str]):
        self._numbered = zip(itertools.count(1), lines)
        self.number, self.last = 0, ""

    def readline(self) -> str:
        for self.number, self.last in self._numbered:  # the next line; at the end, the last one stays named
            return self.last
        return ""

    def read(self, size: int = -1) -> str:
        return "" if size == 0 else "".join(line for _, line in self._numbered)

    def __iter__(self) -> Iterator[str]:
        return iter(self.readline, "")


class _EmblLineHandle(_LineHandle):
    """``_LineHandle`` that also collects the EMBL entry names (``AC * _name``, which Biopython drops) by the number
    of the record they are in (ID lines counted from 0)."""

    def __init__(self, lines: Iterator[str]):
        super().__init__(lines)
        self.records, self.entry_names = 0, {}

    def readline(self) -> str:
        line = super().readline()
        if line.startswith("ID   "):
            self.records += 1
        elif line.startswith("AC * ") and self.records:
            self.entry_names[self.records - 1] = line[5:].strip().rstrip(";").strip().removeprefix("_")
        return line


#: Held while Biopython parses: see ``parse_records``.
_PARSING = threading.Lock()


def parse_records(handle, layout: str, path: PathLike | None) -> list:
    """Biopython's records of ``handle`` (layout ``genbank`` or ``embl``). What its parser finds odd (a LOCUS length
    that is not the sequence's, a location it ignores) it says through warnings.warn naming no file, so with several
    inputs no one could tell which; each is said once on the microfuse logger naming ``path`` (None: not said, as
    when a file read before is parsed again). warnings.catch_warnings swaps process-wide state, so parses take turns
    (the parser is pure Python and holds the GIL: threads lose nothing), and a warning another thread gave meanwhile
    is passed on as it came."""
    from Bio import BiopythonParserWarning, SeqIO

    caught: list = []
    try:
        with _PARSING, warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", BiopythonParserWarning)
            return list(SeqIO.parse(handle, layout))
    finally:
        _pass_on(caught, path)


def _pass_on(caught: list, path: PathLike | None) -> None:
    from Bio import BiopythonParserWarning

    said: Counter = Counter()
    for found in caught:
        if issubclass(found.category, BiopythonParserWarning):
            said[" ".join(str(found.message).split()).rstrip(".")] += 1
        else:
            warnings.warn_explicit(found.message, found.category, found.filename, found.lineno, source=found.source)
    for text, times in said.items() if path is not None else ():
        log.warning("%s: %s%s", path, text, f" ({times} times)" if times > 1 else "")


def _read_genbank(handle: _LineHandle, path: PathLike, genetic_code: int | None, circular: bool | None,
                  layout: str) -> Genome:
    scaffolds: dict[str, Scaffold] = {}
    genes: dict[str, Gene] = {}
    skipped: list[str] = []
    remote: list[str] = []
    mislengthed: list[tuple[str, int, int]] = []  # CDS whose /translation is not their location's length
    n_pseudo = n_isoforms = 0
    try:
        records = parse_records(handle, layout, path)
    except DataError:  # the input's own limits (size, line length, corrupt compression)
        raise
    except Exception as exc:  # Biopython raises ValueError and friends for malformed records
        # some carry no message (a bare assert on a field of the ID or LOCUS line): the line it stopped at says where
        unread = f"line {handle.number} unreadable: {handle.last.rstrip()[:70]!r}"
        reason = str(exc).strip().splitlines()[0][:80] if str(exc).strip() else unread
        raise DataError(_name_into_length(str(exc), path) or f"{path}: malformed {_NAMES[layout]} file ({reason})") \
            from None
    if not records:
        raise DataError(f"{path}: no {_NAMES[layout]} records")
    for number, record in enumerate(records):
        # a file made for submission to ENA (EMBLmyGFF3, gt gff3_to_embl) has the accession XXX in every record
        # and the name of each sequence (its seqid in the GFF3 and FASTA) on an AC * line
        own_names = {record.id, record.name, *record.annotations.get("accessions", ())}  # a location's own refs
        record.id = handle.entry_names.get(number) or record.id
        try:
            sequence = str(record.seq).upper()
        except Exception:  # undefined sequence (CONTIG-only records)
            sequence = None
        if record.id in scaffolds:
            raise DataError(f"{path}: duplicate sequence id {record.id!r}")
        bad = set(sequence or "") - _NUCLEOTIDES
        if bad:
            raise DataError(f"{path}: record {record.id!r} {_not_dna(bad)}")
        topology = record.annotations.get("topology", "linear")
        # without its sequence (a CONTIG line), the LOCUS line still states its length and topology
        scaffold = Scaffold(record.id, len(record.seq), sequence or None, topology == "circular", not sequence)
        pseudo = _pseudo_genes(record.features)
        every_cds = [f for f in record.features if f.type == "CDS"]
        features = [f for f in every_cds if not _pseudogene(f, scaffold) and not _under_pseudo_gene(f, pseudo)]
        n_pseudo += len(every_cds) - len(features)
        if any(feature.location is None for feature in features):
            raise DataError(f"{path}: record {record.id!r}: a CDS with an unreadable location")
        elsewhere = [f for f in features if _in_other_records(f, own_names)]
        remote += [_feature_name(f) for f in elsewhere]
        features = [f for f in features if f not in elsewhere]
        parts = [[(int(p.start) + 1, int(p.end), 0) for p in feature.location.parts] for feature in features]
        joined = any(joins_across_origin(segments, scaffold.length) for segments in parts)
        scaffold = scaffolds[record.id] = with_topology(scaffold, circular, joined, str(path))
        for feature, segments in zip(features, parts):
            if _covers_whole_scaffold([s[:2] for s in segments], scaffold, len(features)):
                skipped.append((feature.qualifiers.get("locus_tag") or [f"{record.id}:1-{scaffold.length}"])[0])
                continue
            gene = _gene_from_feature(feature, record, scaffold, path, genetic_code)
            if ("translation" in feature.qualifiers and not TRANSLATION_EXCUSED & set(feature.qualifiers)
                    and stated_length_disagrees(gene.protein, len(feature.location))):
                mislengthed.append((gene.id, len(gene.protein), len(feature.location)))
            previous = genes.get(gene.id)
            if previous is not None:
                if not _isoforms(previous, gene):
                    raise DataError(f"{path}: duplicate gene id {gene.id!r}")
                n_isoforms += 1
                if gene.length <= previous.length:
                    continue
            genes[gene.id] = gene
    _warn_skipped(path, skipped)
    warn_stated_lengths(path, mislengthed, "/translation")
    if remote:
        log.warning("%s: skipped %d CDS located in another record (a location such as join(AB000001.1:1..100,"
                    "200..300)), whose sequence this file lacks: %s", path, len(remote), _some(remote))
    if not genes:
        raise DataError(f"{path}: no protein-coding (CDS) features found{_wgs_master_hint(records)}")
    cds = internal_stops_as_x(path, list(genes.values()), genetic_code)
    dropped = left_out(of_pseudogenes=n_pseudo, spanning_a_whole_sequence=len(skipped), in_another_record=len(remote),
                       shorter_isoforms=n_isoforms)
    return Genome(genome_name(path), scaffolds, cds, "annotation", dropped).with_genes_sorted()


#: A LOCUS line whose name runs into its length: ``LOCUS       NODE_1_length_12345_cov_2.512345 bp    DNA``.
_NAME_INTO_LENGTH = re.compile(r"^LOCUS\s+(\S*\D)(\d+) (?:bp|aa)\b")


def _name_into_length(message: str, path: PathLike) -> str | None:
    """The error for Biopython's bare "Did not recognise the LOCUS line layout" when the name ran into the length:
    older Prokka and tbl2asn write a contig name over 16 characters so, and where the name ends is lost (its last
    digits may be the length's), so it is refused, saying what to do."""
    lines = message.strip().splitlines()
    found = _NAME_INTO_LENGTH.match(lines[1]) if len(lines) > 1 and "LOCUS line" in lines[0] else None
    if found is None:
        return None
    return (f"{path}: LOCUS line {lines[1][:60].rstrip()!r}: the record name runs into its length (a name too long "
            "for the LOCUS layout, as older Prokka/tbl2asn write contig names over 16 characters); re-export with "
            "shorter contig names (Prokka --compliant, or --centre X), or give the GFF3 with its FASTA")


def _in_other_records(feature, own: set[str]) -> bool:
    """A CDS with a part in another record (``join(AB000001.1:1..100,200..300)``, INSDC's remote location): read
    here, its bases there would be taken from this record. A part naming this record itself (``own``: its
    accession.version, name and accessions as the file gives them, before an EMBL entry name renames it) is its
    own; another version of it is another sequence."""
    return any(part.ref is not None and part.ref not in own for part in feature.location.parts)


def _feature_name(feature) -> str:
    """A CDS's name in a message: its locus_tag, gene or protein_id, else its location as the file writes it."""
    q = feature.qualifiers
    return (q.get("locus_tag") or q.get("gene") or q.get("protein_id") or [str(feature.location)])[0]


def _some(names: list[str], shown: int = 3) -> str:
    """The first ``shown`` of ``names``, and how many more."""
    more = f" and {len(names) - shown} more" if len(names) > shown else ""
    return ", ".join(names[:shown]) + more


def _wgs_master_hint(records) -> str:
    """Why records hold no gene when one is a WGS master record (what NCBI gives for a draft assembly's accession:
    the accession range of its contigs in a WGS line, no sequence, no CDS), so the user fetches the contigs."""
    for record in records:
        if contigs := record.annotations.get("wgs"):
            return (f" ({record.id} is a WGS master record, which holds neither sequence nor genes: give the GenBank"
                    f" records of its contigs, {'-'.join(contigs)})")
    return ""


def _pseudogene(feature, scaffold: Scaffold) -> bool:
    """A pseudogene's CDS (/pseudogene, or /pseudo), except one marked /pseudo only because the end of its contig
    or an assembly gap cuts it (Bakta's GenBank and EMBL do so, with a '(5' truncated)' note and the protein): a
    /pseudo CDS with a /translation and a location running off either end or into a run of N (< or > within a
    codon of it, ``cut_ends``), without /pseudogene, is a partial gene. (A pseudogene has no protein: NCBI's "too
    short partial abutting assembly gap" stays out.)"""
    qualifiers = feature.qualifiers
    if "pseudogene" in qualifiers:
        return True
    if "pseudo" not in qualifiers or "translation" not in qualifiers or feature.location is None:
        return "pseudo" in qualifiers
    from Bio.SeqFeature import AfterPosition, BeforePosition

    cut = [cut_ends(scaffold.length, scaffold.sequence, int(p.start) + 1, int(p.end)) for p in feature.location.parts]
    return not any((isinstance(p.start, BeforePosition) and left) or (isinstance(p.end, AfterPosition) and right)
                   for p, (left, right) in zip(feature.location.parts, cut))


def _gene_key(feature) -> tuple[str, int] | None:
    """What ties a CDS to its gene feature: its locus_tag (else gene name) and strand."""
    name = (feature.qualifiers.get("locus_tag") or feature.qualifiers.get("gene") or [""])[0]
    return (name, feature.location.strand) if name and feature.location is not None else None


def _pseudo_genes(features) -> dict[tuple[str, int], list[tuple[int, int]]]:
    """The extents of the gene features marked /pseudo or /pseudogene, by ``_gene_key``."""
    extents: dict[tuple[str, int], list[tuple[int, int]]] = {}
    for f in features:
        if f.type == "gene" and _PSEUDO & set(f.qualifiers) and (key := _gene_key(f)) is not None:
            extents.setdefault(key, []).append((int(f.location.start), int(f.location.end)))
    return extents


_PSEUDO = {"pseudo", "pseudogene"}


def _under_pseudo_gene(feature, pseudo: dict[tuple[str, int], list[tuple[int, int]]]) -> bool:
    """A CDS without a pseudo mark of its own inside a gene feature of its name that has one: INSDC's /pseudo on a
    gene covers the features of that gene, and older EMBL-derived records mark the gene alone (a CDS with its own
    /pseudo is ``_pseudogene``'s: Bakta marks a cut one so). Inside, as copies without locus_tag share a name
    (tnpA)."""
    if _PSEUDO & set(feature.qualifiers) or (key := _gene_key(feature)) not in pseudo:
        return False
    start, end = int(feature.location.start), int(feature.location.end)
    return any(low <= start and end <= high for low, high in pseudo[key])


def _isoforms(a: Gene, b: Gene) -> bool:
    """Two CDS of one locus_tag overlapping on one strand of one record: RefSeq's alternative starts and
    ribosomal-slippage forms of one gene (dnaX's tau and gamma), kept as its longest, as the GFF3 reader does."""
    return a.scaffold == b.scaffold and a.strand == b.strand and a.start <= b.end and b.start <= a.end


def _gene_from_feature(feature, record, scaffold: Scaffold, path, default_code) -> Gene:
    """One GenBank CDS feature as a Gene; a join across the origin continues past the sequence's end."""
    q = feature.qualifiers
    loc = feature.location
    segments = _unwrap([(int(p.start) + 1, int(p.end), 0) for p in loc.parts], scaffold)
    start, end = segments[0][0], max(e for _, e, _ in segments)
    if scaffold.sequence:
        _check_extent(start, end, scaffold, f"{path}: record {record.id!r}")
    strand = -1 if loc.strand == -1 else 1
    table = q.get("transl_table", [None])[0]
    if table is not None and not table.isdecimal():
        raise DataError(f"{path}: record {record.id!r}: transl_table {table[:20]!r} is not a number")
    code = _code_of(table, default_code)
    codon_start = q.get("codon_start", ["1"])[0]
    phase = int(codon_start) - 1 if codon_start in ("1", "2", "3") else 0
    partial = phase > 0 or "<" in str(loc) or ">" in str(loc)
    first = loc.parts[0]  # the 5'-most part (Biopython lists a minus-strand join's parts 5' to 3')
    five_prime_cut = phase > 0 or any(c in str(first.start if strand > 0 else first.end) for c in "<>")
    ident, aliases = gene_names([q], f"{record.id}_{start}_{end}")
    if not partial and scaffold.sequence and not scaffold.circular:
        partial = _cut_unmarked(feature, record, scaffold, code, start, end)
    if "translation" in q:
        protein = stated_protein(q["translation"][0])
    elif scaffold.sequence:
        own = {part.ref: record.seq for part in loc.parts if part.ref is not None}  # the record's own name
        protein = translate(str(feature.extract(record.seq, own)), 1, code, phase, start_codon=not five_prime_cut,
                            stop="*")
        protein = with_exceptions(protein, q.get("transl_except", []), segments, strand, phase, scaffold.length)
    else:
        protein = ""
    return Gene(ident, record.id, start, end, strand, protein, aliases, code, partial)


def _cut_unmarked(feature, record, scaffold: Scaffold, code: int, start: int, end: int) -> bool:
    """Whether a CDS without ``<``/``>`` on a linear record is cut by its end or a gap all the same
    (``cut_without_flag``), as the GFF3 reader reads one without a partial flag."""
    own = {part.ref: record.seq for part in feature.location.parts if part.ref is not None}
    strand = -1 if feature.location.strand == -1 else 1
    return cut_without_flag(scaffold.length, scaffold.sequence, start, end, strand, code,
                            lambda: str(feature.extract(record.seq, own)))
