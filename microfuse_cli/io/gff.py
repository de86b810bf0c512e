"""GFF3: genomes read from RefSeq, Prokka/Bakta (with ``##FASTA``) and Prodigal GFF3, and the operon GFF3 written."""

from __future__ import annotations

import itertools
import logging
import re
import urllib.parse
from dataclasses import dataclass, field, replace
from typing import IO, Iterable, Iterator, Sequence

from .. import __version__
from ..errors import FASTA, DataError, UsageError
from ..records import Gene, Genome, Scaffold, case_hint, genome_name
from .fasta import read_fasta_scaffolds
from .features import NAME_KEYS, _check_extent, _code_of, _covers_whole_scaffold, _unwrap, _warn_skipped, \
    TRANSLATION_EXCUSED, circular_slice, cut_ends, cut_without_flag, gene_names, internal_stops_as_x, \
    joins_across_origin, left_out, stated_length_disagrees, stated_protein, translate, warn_stated_lengths, \
    with_exceptions, with_topology
from .files import PathLike, text_lines
from .tsv import comment_lines, require_operons, require_text_handle

log = logging.getLogger("microfuse")

#: A control character: a seqid holding one once unescaped (``%09``) is refused.
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: A GTF attribute: ``gene_id "b2891"``.
_GTF_ATTRIBUTE = re.compile(r'\s*\w+ +"[^"]*"\s*$')


#: Column 9 of MetaGeneMark's GFF2 before version 3.25: ``gene_id 7``.
_OLD_METAGENEMARK = re.compile(r"\s*gene_id \d+\s*")
#: MetaGeneMark's GFF (gmhmmp -f G, 3.25 on) column 9: ``gene_id=18, length=510, gene_score=-635.99, ...``; its
#: column 1 is the FASTA header whole. Refused, named: read as GFF3, a gene would be named by the whole pair list.
_COMMA_PAIRS = re.compile(r"\w+=[^,;=]*(?:, \w+=[^,;=]*)+")
_METAGENEMARK_INSTEAD = ("run MetaGeneMark-2 (--format gff), or give the assembly itself (genes are then called "
                         "with pyrodigal)")


#: The attributes microfuse reads a gene from: its names (``NAME_KEYS``), its place among the rows (ID, Parent), how
#: it is translated, whether it is partial or a pseudogene, its sequence's topology. Text after an unescaped ';'
#: is never read as part of one of these (``_parse_attributes``).
_READ_KEYS = frozenset(NAME_KEYS) | TRANSLATION_EXCUSED | {
    "Parent", "Is_circular", "Note", "partial", "start_range", "end_range", "pseudo", "pseudogene", "gene_biotype",
    "transl_table", "transl_except", "translation"}
#: A piece of column 9 in the shape of an attribute microfuse reads, its '=' lost: a key it reads and one word, its
#: value (``locus_tag b1``, ``gene dnaN``), or the key alone, a flag (``partial``); never text of the value before it.
#: Text that only starts with such a key (``gene transfer agent protein``, pharokka's product after an unescaped ';')
#: has more words than an id: text. A piece glued to its value (``locus_tagb0001``, a corrupt file) has no such
#: shape either, so it is read as text of the value before it too: telling it from a word of a product would take a
#: guess, and the warning quotes the value so joined.
_LOST_EQUALS = re.compile(r"\s*(?:" + "|".join(sorted(_READ_KEYS)) + r")(?:\s+\S+)?\s*")


def _parse_attributes(column: str, path, number, continued: list[tuple[int, str, str]] | None = None
                      ) -> dict[str, str]:
    """Column 9 as key -> value, percent-escapes decoded; ``.`` (no attributes, valid GFF3) is none. Parent stays
    as written: a list whose commas split it before its ids are unescaped (``_parents``).

    A piece without '=' after a key=value is text of that value cut by a ';' left unescaped (GFF3 writes %3B):
    pharokka 1.4 wrote ``product=DNA sliding clamp inhibitor; arrest of S.aureus DNA synthesis``. It is read as
    part of that value, the line, key and value noted in ``continued`` for one warning, where the value is one
    microfuse reads no gene from (``_READ_KEYS``: not an ID, Parent, name, translation, partial or pseudogene mark)
    and the piece is not such a key with an '=' lost (``_LOST_EQUALS``: ``locus_tag b1``; ``partial``, a flag);
    else, or without ``continued``, it is refused as malformed."""
    attributes: dict[str, str] = {}
    if column.strip() == ".":
        return attributes
    key = cut = None
    for item in column.strip().strip(";").split(";"):
        if not item.strip():
            continue
        if _COMMA_PAIRS.fullmatch(item.strip()):
            raise DataError(f"{path}: line {number}: MetaGeneMark's GFF (attributes {item.strip()[:30]!r}...), not "
                            f"GFF3; {_METAGENEMARK_INSTEAD}")
        if "=" not in item:
            if _GTF_ATTRIBUTE.match(item):
                raise DataError(f"{path}: line {number}: GTF attributes ({item.strip()[:40]}), not GFF3; convert it "
                                "first (gt gtf_to_gff3, or gffread -E -o out.gff3)")
            if _OLD_METAGENEMARK.fullmatch(item):
                raise DataError(f"{path}: line {number}: MetaGeneMark's GFF2 of before version 3.25 ({item.strip()!r}, "
                                f"its genes as gene rows); {_METAGENEMARK_INSTEAD}")
            if key is None or continued is None or key in _READ_KEYS or _LOST_EQUALS.fullmatch(item):
                raise DataError(f"{path}: line {number}: malformed attribute {item.strip()[:40]!r}"
                                + (_unescaped_in(key) if key is not None else ""))
            attributes[key] += ";" + urllib.parse.unquote(item)
            cut = key
            continue
        key, value = item.split("=", 1)
        key = key.strip()
        attributes[key] = value if key == "Parent" else urllib.parse.unquote(value)
    if cut is not None and continued is not None:
        continued.append((number, cut, attributes[cut]))
    return attributes


def _unescaped_in(key: str) -> str:
    """Why a piece without '=' after ``key``'s value is refused, not read as text of that value."""
    if key in _READ_KEYS:
        return (f" (no '='; after {key}=, which microfuse reads genes by, so never read as part of its value: "
                "an unescaped ';', which GFF3 writes %3B, or an '=' lost?)")
    return (" (no '=', and it starts with an attribute microfuse reads genes by: an '=' lost, or a flag? A ';' "
            "inside a value is written %3B in GFF3)")


def _lines_named(first: int, more: int) -> str:
    """How a warning names the rows it is about: 'line N', or 'line N and M more'."""
    return f"line {first} and {more} more" if more else f"line {first}"


def _warn_continued(path, continued: list[tuple[int, str, str]]) -> None:
    """One warning for the rows whose values held an unescaped ';' (``_parse_attributes``), naming the first."""
    number, key, value = continued[0]
    more = len(continued) - 1
    log.warning("%s: %s: a ';' inside a value, unescaped (GFF3 writes %%3B): the text after it, holding no "
                "'=', read as part of that value, one microfuse reads no gene from: %s=%r%s", path,
                _lines_named(number, more), key, value[:80], " ..." if len(value) > 80 else "")


def _parents(attributes: dict[str, str]) -> tuple[str, ...]:
    """A row's Parent ids: GFF3 allows several (``Parent=tx1,tx2``, a CDS shared by two transcripts), split on the
    commas before each is unescaped, so ``%2C`` stays inside one id."""
    return tuple(urllib.parse.unquote(p) for p in attributes.get("Parent", "").split(",") if p)


#: The types of the rows a gene is read from: the CDS, and those above it whose attributes name it, mark it a
#: pseudogene or link it to its gene (a landmark's tell its sequence's topology).
_GENE_ROWS = frozenset({"CDS", "gene", "pseudogene", "mRNA", "transcript"})


def row_columns(line: str) -> list[str]:
    """A row's tab-separated columns as ``read_gff`` reads them: empty ones past the 9th (a stray trailing tab:
    pharokka ends its CDS rows so) hold nothing, dropped. The reader, ``io.formats.sniff_format`` and
    ``read_operons_gff`` all split rows so (the last two by ``gff_row``), which a GFF3 of such rows, read by one,
    was refused or skipped by the others for."""
    cols = line.split("\t")
    return cols[:9] if len(cols) > 9 and not any(column.strip() for column in cols[9:]) else cols


#: Columns 4, 5 and 7 of a GFF3 row: start, end, strand.
_START_END_STRAND = re.compile(r"\d+\t\d+\t[^\t]*\t[-+.?]")


def gff_row(line: str) -> list[str] | None:
    """A line's columns where it can be a GFF3 feature row as ``read_gff`` reads one, else None: 9 columns
    (``row_columns``: a stray trailing tab dropped), or more whose first 9 have GFF3's shape (start and end
    integers, a strand, column 9 key=value pairs or '.'), the columns past them (pharokka's tRNA rows carry a 10th)
    for the reader to set aside or refuse. The shape is asked of the longer rows only: a BLAST tabular row (12
    columns, a number in the 7th) or another TSV is no GFF3; a row of 9 is one by its count, as a GTF's is (the
    reader names that)."""
    cols = row_columns(line)
    if len(cols) == 9:
        return cols
    if len(cols) > 9 and _START_END_STRAND.fullmatch("\t".join(cols[3:7])) and (
            cols[8].strip() == "." or "=" in cols[8]):
        return cols
    return None


def _nine_columns(cols: list[str], path, number: int, set_aside: list[int]) -> list[str]:
    """A row of more than 9 columns, not all empty past the 9th (``row_columns``), read as its 9. Those past it
    (pharokka's tRNA rows carry a 10th) are set aside, its line noted in
    ``set_aside`` for one warning, on a row no gene is read from; on a CDS, gene, mRNA, transcript or landmark row
    (``_GENE_ROWS``, ``_LANDMARKS``) they may be its column 9 cut by an unescaped tab (GFF3 writes %09), its
    locus_tag or Parent after it: refused. A pseudogene row's are set aside where they hold no attribute (no '='):
    tRNAscan-SE's tRNA pseudogenes in pharokka's GFF3 carry the anticodon there. Columns holding a gene or landmark
    row (``_refuse_joined_row``) are refused on any row."""
    extra = cols[9:]
    ftype = cols[2]
    _refuse_joined_row(cols, path, number, _GENE_ROWS | _LANDMARKS)
    attribute_after = any("=" in column for column in extra)
    if ftype in _GENE_ROWS and (ftype != "pseudogene" or attribute_after) or ftype in _LANDMARKS:
        place, shown = next((k, column) for k, column in enumerate(extra, start=10) if column.strip())
        raise DataError(f"{path}: line {number}: expected 9 tab-separated GFF3 columns, found {len(cols)} (this "
                        f"{ftype} row's column {place} holds {shown.strip()[:40]!r}: an unescaped tab in column 9, "
                        "which GFF3 writes %09?)")
    set_aside.append(number)
    return cols[:9]


def _refuse_joined_row(cols: list[str], path, number: int, types: frozenset[str]) -> None:
    """Refuse a row whose columns past the 9th hold the type (one of ``types``: those the reader reads), start and
    end of another row: the next row, its line break lost (a file cut and pasted, or written half), which set aside
    with the columns would be gone without a word (a CDS after a tRNA row; an operon after an operon row)."""
    extra = cols[9:]
    joined = next((k for k in range(len(extra) - 2) if extra[k] in types and extra[k + 1].isdigit()
                   and extra[k + 2].isdigit()), None)
    if joined is not None:
        article = "an" if extra[joined][:1] in "aeiou" else "a"
        raise DataError(f"{path}: line {number}: expected 9 tab-separated GFF3 columns, found {len(cols)} (columns "
                        f"{joined + 10}-{joined + 12} hold {article} {extra[joined]} row's type, start and end: two "
                        "rows on one line, a line break lost?)")


#: How GFF3 writes what a row of start after end (some exporters' form) means.
_ACROSS_ORIGIN = (" (a feature across the origin of a circular sequence ends past its length, on a region with "
                  "Is_circular=true, or is two rows of one ID)")

#: The types of a row spanning a sequence, not a feature on it: NCBI's and Bakta's ``region``, GenBank-converted
#: ``source``, Ensembl's ``chromosome``, ``plasmid``, ``supercontig`` and other landmarks' (Sequence Ontology names).
_LANDMARKS = frozenset({"region", "source", "chromosome", "plasmid", "supercontig", "scaffold"})

#: A sequence's length and FASTA header on Prodigal's ``# Sequence Data: seqnum=1;seqlen=79939;seqhdr="..."`` line.
_PRODIGAL_SEQUENCE = re.compile(r'seqlen=(\d+);seqhdr="([^"]*)"')
#: The genetic code on Prodigal's ``# Model Data: ...;transl_table=4;...`` line.
_PRODIGAL_CODE = re.compile(r"[;:\s]transl_table=(\d+);")


#: Prodigal's GFF3 ID of a gene: ``<sequence number>_<gene number>``.
_PRODIGAL_ID = re.compile(r"\d+_(\d+)")


def _name_as_prodigal_proteins(source: str, seqid: str, attributes: dict[str, str]) -> None:
    """A Prodigal CDS named as Prodigal's proteins (.faa) and nucleotides (.ffn) name it, ``<seqid>_<gene number>``
    (pyrodigal's GFF3 and microfuse's own gene calling too), not ``1_2``, which every genome's first sequence
    repeats: that name is its locus tag here (its ID stays an alias)."""
    match = _PRODIGAL_ID.fullmatch(attributes.get("ID", ""))
    if match and source.startswith("Prodigal") and "locus_tag" not in attributes:
        attributes["locus_tag"] = f"{seqid}_{match.group(1)}"


@dataclass  # mutable on purpose: one CDS's segments accumulate while a GFF3 is read; it never leaves the reader
class _CdsParts:
    seqid: str
    strand: int
    segments: list[tuple[int, int, int]]  # (start, end, phase) as written
    attributes: dict[str, str]
    line: int


def _check_same_sequences(path: PathLike, embedded: dict, fasta: PathLike, given: dict) -> None:
    """A GFF3 with its own ##FASTA and a --fasta too: refused unless every sequence both name is the same."""
    shared = [sid for sid in embedded if sid in given]
    differing = [sid for sid in shared if embedded[sid].sequence != given[sid].sequence]
    if not shared or differing:
        where = f"on {differing[0]}" if differing else "on every sequence name"
        raise DataError.naming(f"{path}: its ##FASTA and ", FASTA, f" {fasta} disagree {where}; give the sequences "
                               "once")


def read_gff(path: PathLike, fasta: PathLike | None = None, text: str | Iterable[str] | None = None,
             genetic_code: int | None = None, circular: bool | None = None) -> Genome:
    """Read a GFF3 (RefSeq, Prokka/Bakta with ``##FASTA``, Prodigal) into a Genome of its CDS genes, line by line.

    ``genetic_code`` translates CDS without a ``transl_table`` attribute (default 11; Prodigal's ``# Model Data``
    line gives the table of the CDS rows after it). ``circular`` forces the
    topology of every sequence (None: an Is_circular region, or a CDS joined across the origin, says it).
    ``text``: the file's contents (or its lines) when the caller has read them already.
    """
    with text_lines(path, text) as lines:
        return _read_gff(lines, path, fasta, genetic_code, circular)


@dataclass  # mutable on purpose: what a GFF3's rows tell accumulates as they are read; it never leaves the reader
class _Rows:
    """What ``_read_rows`` gathers from a GFF3's rows and comment lines before its sequences are known."""

    regions: dict[str, int] = field(default_factory=dict)  # each sequence's length by any pragma, region or seqlen
    pragmas: dict[str, tuple[str, str, int]] = field(default_factory=dict)  # 1st ##sequence-region: start, end, line
    seqlen: dict[str, int] = field(default_factory=dict)  # Prodigal's '# Sequence Data: ...seqlen=N;seqhdr="ID ..."'
    declared: dict[str, int] = field(default_factory=dict)  # ##sequence-region <seqid> 1 <length>, as the file says
    region_rows: dict[str, tuple[int, int]] = field(default_factory=dict)  # longest region row from 1: (end, line)
    reached: dict[str, int] = field(default_factory=dict)  # the furthest end of any feature but a region
    circular: set[str] = field(default_factory=set)
    genes_meta: dict[str, dict[str, str]] = field(default_factory=dict)
    links: dict[str, tuple[str, ...]] = field(default_factory=dict)  # an ID -> its Parents (gene -> mRNA -> CDS)
    pseudogenes: set[str] = field(default_factory=set)  # a CDS under one of these is a pseudogene's, whatever it says
    cds: dict[str, _CdsParts] = field(default_factory=dict)
    order: list[str] = field(default_factory=list)
    n_features: int = 0
    repeated: int = 0  # CDS rows repeating a row of their CDS
    other_parents: list[tuple[str, tuple[str, ...], int]] = field(default_factory=list)  # (CDS, Parents, line): a
    # part under other ones
    flagged: set[str] = field(default_factory=set)  # CDS marked pseudo=true alone: a pseudogene's, or cut by an end
    pseudo_cds: set[str] = field(default_factory=set)  # the CDS (by ID, else by row) of pseudogenes left out as read
    escaped: dict[str, str] = field(default_factory=dict)  # a seqid decoded -> as written, when they differ
    model_code: re.Match | None = None  # Prodigal writes each sequence's genetic code on a comment line before its CDS
    fasta_line: int = 0  # the number of the ##FASTA line
    set_aside: list[int] = field(default_factory=list)  # rows not read for genes whose extra columns were set aside
    continued: list[tuple[int, str, str]] = field(default_factory=list)  # (line, key, value): a ';' in a value


def _read_gff(lines: Iterator[str], path: PathLike, fasta: PathLike | None, genetic_code: int | None,
              topology: bool | None) -> Genome:
    """``read_gff``: the rows, then the sequences they lie on, then a Gene per CDS."""
    rows = _read_rows(lines, path)
    cds = rows.cds
    lineages = {key: _lineage(_parents(cds[key].attributes), rows.links) for key in rows.order}
    order = [key for key in rows.order if not rows.pseudogenes.intersection(lineages[key])]
    n_pseudo = len(rows.pseudo_cds) + len(rows.order) - len(order)
    if not order:
        if rows.n_features == 0:
            raise DataError(f"{path}: no GFF3 features found")
        raise DataError(f"{path}: no protein-coding (CDS) features found")
    stated = _stated_lengths(rows.declared, rows.region_rows, rows.reached)  # lengths a FASTA must match, and where
    scaffolds, source = _sequences(rows, order, stated, lines, path, fasta)
    _check_declared_lengths(path, stated, rows.reached, scaffolds, source)
    n_kept = len(order)
    order = [k for k in order if k not in rows.flagged or _cut_by_sequence_end(cds[k], scaffolds[cds[k].seqid])]
    n_pseudo += n_kept - len(order)  # marked pseudo=true, not cut by a sequence end
    joined = {cds[k].seqid for k in order if joins_across_origin(cds[k].segments, scaffolds[cds[k].seqid].length)}
    scaffolds = {sid: with_topology(s, topology, sid in joined, str(path)) for sid, s in scaffolds.items()}
    if topology is False:
        _refuse_forced_linear([cds[k] for k in order], scaffolds, rows.circular, path)
    genes, n_skipped, n_isoforms = _genes(rows, order, lineages, scaffolds, path, genetic_code)
    genes = internal_stops_as_x(path, genes, genetic_code)
    dropped = left_out(of_pseudogenes=n_pseudo, spanning_a_whole_sequence=n_skipped, shorter_isoforms=n_isoforms)
    return Genome(genome_name(path), scaffolds, genes, "annotation", dropped).with_genes_sorted()


def _read_rows(lines: Iterator[str], path: PathLike) -> _Rows:
    """Every line up to ##FASTA (``lines`` is left there, for ``_sequences``): comments, then rows, each checked as
    read; a CDS's parts under other Parents are checked once every row's Parents are known (mRNA rows may come
    later)."""
    rows = _Rows()
    for number, line in enumerate(lines, start=1):
        if line.rstrip() == "##FASTA" and number > 1:  # the rest of ``lines`` is FASTA (a trailing blank too)
            rows.fasta_line = number
            break
        line = line[:-1] if line.endswith("\n") else line
        if not line or line.startswith("#"):
            _read_comment(rows, line, number, path)
            continue
        if line.startswith(">"):
            raise DataError.naming(f"{path}: line {number}: a FASTA header ({line.split()[0][:40]!r}) after the GFF3 "
                                   "rows without a ##FASTA line before it (GFF3 puts one there; add it, or give the "
                                   "sequences with ", FASTA, ")")
        _read_row(rows, line, number, path)
    for key, parents, number in rows.other_parents:
        _check_same_gene(rows.cds[key], parents, rows.links, key, f"{path}: line {number}")
    if rows.set_aside:
        first, more = rows.set_aside[0], len(rows.set_aside) - 1
        log.warning("%s: %s: %s columns past the 9th set aside (GFF3 has 9; %s not read for genes)", path,
                    _lines_named(first, more), "their" if more else "its",
                    "those rows are" if more else "that row is")
    if rows.continued:
        _warn_continued(path, rows.continued)
    if rows.repeated:
        log.warning("%s: %d CDS row%s a row of %s CDS (files concatenated or merged?); read once", path, rows.repeated,
                    " repeats" if rows.repeated == 1 else "s repeat", "its" if rows.repeated == 1 else "their")
    return rows


def _read_comment(rows: _Rows, line: str, number: int, path: PathLike) -> None:
    """A comment line that tells of the sequences: a ##sequence-region pragma (a second one of another extent for a
    sequence is refused: the last won, silently, as the length `pairs` writes), Prodigal's ``# Model Data`` (the
    genetic code of the CDS rows after it) and ``# Sequence Data`` (a sequence's length)."""
    if line.startswith("##sequence-region"):
        parts = line.split()
        if len(parts) == 4 and parts[3].isdigit():
            parts[1] = urllib.parse.unquote(parts[1])  # escaped as in column 1
            first = rows.pragmas.setdefault(parts[1], (parts[2], parts[3], number))
            if first[:2] != (parts[2], parts[3]):
                raise DataError(f"{path}: line {number}: a second ##sequence-region for {parts[1]!r} "
                                f"({parts[2]}..{parts[3]}; line {first[2]}: {first[0]}..{first[1]}): GFF3s "
                                "of two assemblies concatenated? Keep the one of the sequences annotated")
            rows.regions[parts[1]] = int(parts[3])
            if parts[2] == "1":
                rows.declared[parts[1]] = int(parts[3])
    elif line.startswith("# Model Data:"):
        rows.model_code = _PRODIGAL_CODE.search(line)
    elif line.startswith("# Sequence Data:") and (data := _PRODIGAL_SEQUENCE.search(line)):
        seqid = urllib.parse.unquote((data.group(2).split() or [""])[0])  # its first word, read as column 1
        rows.regions.setdefault(seqid, int(data.group(1)))
        rows.seqlen.setdefault(seqid, int(data.group(1)))


def _read_row(rows: _Rows, line: str, number: int, path: PathLike) -> None:
    """A feature row: its columns checked, what it tells of its sequence (extent, length, Is_circular), of the genes
    above a CDS (names, Parents, pseudogene marks) noted; a CDS row's part added (``_add_cds``)."""
    cols = row_columns(line)
    if len(cols) > 9:
        cols = _nine_columns(cols, path, number, rows.set_aside)
    if len(cols) != 9:
        raise DataError(f"{path}: line {number}: expected 9 tab-separated GFF3 columns, found {len(cols)}")
    seqid, _, ftype, start, end, _, _, _, attrs = cols
    if "%" in seqid:  # GFF3 escapes what a seqid holds outside [a-zA-Z0-9.:^*$@!+_?-|] (NC%2F1 is NC/1)
        if _CONTROL.search(urllib.parse.unquote(seqid)):  # would split a row of every TSV output
            raise DataError(f"{path}: line {number}: seqid {seqid!r} unescaped holds a tab, line break or other "
                            "control character, which no TSV output can hold; rename the sequence")
        rows.escaped.setdefault(urllib.parse.unquote(seqid), seqid)
        seqid = urllib.parse.unquote(seqid)
    try:
        start_i, end_i = int(start), int(end)
    except ValueError:
        raise DataError(f"{path}: line {number}: start/end are not integers ({start!r}, {end!r})") from None
    if start_i < 1 or end_i < start_i:
        raise DataError(f"{path}: line {number}: invalid coordinates {start}..{end}"
                        + (_ACROSS_ORIGIN if start_i > end_i >= 1 else ""))
    rows.n_features += 1
    if ftype not in _LANDMARKS:  # NCBI's and Bakta's region row spans the sequence its pragma gives
        rows.reached[seqid] = max(rows.reached.get(seqid, 0), end_i)
    attributes = _parse_attributes(attrs, path, number, rows.continued)
    if attributes.get("Is_circular", "").lower() == "true":  # on the landmark, whatever its type (Ensembl's
        rows.circular.add(seqid)  # is a chromosome row)
    if ftype in _LANDMARKS and start_i == 1:
        rows.regions.setdefault(seqid, end_i)
    if (ftype in _LANDMARKS and ftype != "source" and start_i == 1
            and end_i > rows.region_rows.get(seqid, (0, 0))[0]):
        rows.region_rows[seqid] = (end_i, number)
    if ftype == "gene" and "ID" in attributes:
        rows.genes_meta[attributes["ID"]] = attributes
    if ftype != "CDS" and attributes.get("ID") and attributes.get("Parent"):
        rows.links[attributes["ID"]] = _parents(attributes)
    if "ID" in attributes and _is_pseudo(ftype, attributes):
        rows.pseudogenes.add(attributes["ID"])
    if ftype == "CDS":
        _add_cds(rows, cols, seqid, start_i, end_i, attributes, path, number)


def _add_cds(rows: _Rows, cols: list[str], seqid: str, start: int, end: int, attributes: dict[str, str],
             path: PathLike, number: int) -> None:
    """A CDS row: a pseudogene's left out (its parts unchecked), else a part of the CDS its ID (or Parent) names,
    checked against the parts before it (``_check_part``); a row given twice is one part (files concatenated or
    merged; or one CDS of two transcripts, a row each)."""
    strand, phase = cols[6], cols[7]
    where = f"{path}: line {number}"
    flagged_only = _flagged_pseudo_only(attributes)
    if (_is_pseudo("CDS", attributes) and not flagged_only
            or rows.pseudogenes.intersection(_lineage(_parents(attributes), rows.links))):
        # a pseudogene's CDS, or one under a pseudogene row read already (NCBI writes it first): never a gene
        rows.pseudo_cds.add(attributes.get("ID") or f"{seqid}:{start}-{end}:{strand}")
        return
    if rows.model_code is not None:
        attributes.setdefault("transl_table", rows.model_code.group(1))
    _name_as_prodigal_proteins(cols[1], seqid, attributes)
    if strand not in ("+", "-"):
        raise DataError(f"{where}: CDS without strand ({strand!r})")
    segment = (start, end, int(phase) if phase in ("0", "1", "2") else 0)
    key = _cds_key(attributes, seqid, start, end, strand, rows.cds)
    part = rows.cds.get(key)
    if part is None:
        rows.cds[key] = _CdsParts(seqid, 1 if strand == "+" else -1, [segment], attributes, number)
        rows.order.append(key)
    else:
        if part.seqid != seqid:
            raise DataError(f"{where}: CDS ID {key!r} is used on two sequences ({part.seqid} and {seqid}); CDS IDs "
                            "must be unique")
        if segment in part.segments and strand == "+-"[part.strand < 0]:
            rows.repeated += 1
            return
        if set(_parents(attributes)) != set(_parents(part.attributes)):
            rows.other_parents.append((key, _parents(attributes), number))
        _check_part(part, segment, strand, key, where)
        part.segments.append(segment)
        if "translation" in attributes:  # written on one row of the CDS, not necessarily its first
            part.attributes.setdefault("translation", attributes["translation"])
    if flagged_only:
        rows.flagged.add(key)


def _sequences(rows: _Rows, order: list[str], stated: dict[str, tuple[int, str]], lines: Iterator[str],
               path: PathLike, fasta: PathLike | None) -> tuple[dict[str, Scaffold], str]:
    """The sequences the CDS lie on, and where they were read (for messages): the ##FASTA section (with --fasta
    too, the two must agree), else --fasta, else lengths alone (``_lengths_only``); each named as the GFF3 means it
    and circular where its rows say so. A CDS's sequence missing from them is refused, naming a near id."""
    lines = _fasta_section(lines, path, rows.fasta_line)
    first_sequence = next((line for line in lines if line.strip()), None)
    if first_sequence is not None:
        scaffolds = read_fasta_scaffolds(f"{path} (##FASTA)", itertools.chain([first_sequence], lines))
        if fasta is not None:  # given twice: fine when they agree, never a silent choice when they do not
            _check_same_sequences(path, scaffolds, fasta, read_fasta_scaffolds(fasta))
    elif fasta is not None:
        scaffolds = read_fasta_scaffolds(fasta)
    else:
        scaffolds = _lengths_only(rows, order, stated)
    used = {rows.cds[k].seqid for k in order}
    scaffolds = _named_as_decoded(scaffolds, rows.escaped, used)
    scaffolds = {sid: replace(s, circular=s.circular or sid in rows.circular) for sid, s in scaffolds.items()}
    missing = sorted(used - set(scaffolds))
    if missing:
        raise DataError(
            f"{path}: sequence id(s) {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''} "
            f"not found in the FASTA sequences{_id_hint(missing, scaffolds)}"
        )
    return scaffolds, fasta if first_sequence is None else "##FASTA"


def _lengths_only(rows: _Rows, order: list[str], stated: dict[str, tuple[int, str]]) -> dict[str, Scaffold]:
    """Each sequence of a CDS, without its sequence: as long as the file says, else as its genes reach.

    A length the file states, which a FASTA must then match (as _check_declared_lengths checks one): Prodigal's
    seqlen, a pragma (else a region row) from 1 unless it ends where the features do (GenomeTools makes one up so).
    Any other length of the file (that guess, a pragma not from 1) is a bound: the length used here, as without the
    file's word the genes' extent is, but no statement a FASTA must match."""
    extent: dict[str, int] = {}  # one pass: a max per sequence id over all CDS was quadratic
    for k in order:
        part = rows.cds[k]
        extent[part.seqid] = max(extent.get(part.seqid, 0), max(e for _, e, _ in part.segments))
    told = {sid: n for sid, (n, _) in stated.items() if n != rows.reached.get(sid)} | {
        sid: n for sid, n in rows.seqlen.items() if sid not in rows.declared}
    exact = {sid for sid, n in told.items() if n == rows.regions.get(sid)}
    return {sid: Scaffold(sid, rows.regions.get(sid) or end, None, sid in rows.circular, sid in exact,
                          sid in rows.regions and sid not in exact)
            for sid, end in extent.items()}


def _genes(rows: _Rows, order: list[str], lineages: dict[str, list[str]], scaffolds: dict[str, Scaffold],
           path: PathLike, genetic_code: int | None) -> tuple[list[Gene], int, int]:
    """A Gene per CDS (``_gene_from_cds``), with the CDS spanning a whole sequence left out (``_warn_skipped``) and
    the shorter isoforms of one gene; how many of each were left out. The CDS left out, those whose translation
    attribute is not their length and those read from their first base whatever their phase are each said in one
    line."""
    per_scaffold: dict[str, int] = {}
    for key in order:
        per_scaffold[rows.cds[key].seqid] = per_scaffold.get(rows.cds[key].seqid, 0) + 1
    genes: dict[str, tuple[Gene, str]] = {}
    skipped = []
    mislengthed: list[tuple[str, int, int]] = []  # CDS whose translation attribute is not their location's length
    n_unframed = n_isoforms = 0
    for key in order:
        part = rows.cds[key]
        scaffold = scaffolds[part.seqid]
        lineage = lineages[key]  # the gene is the first gene row above the CDS (any mRNA between), else the top
        parent_id = next((i for i in lineage if i in rows.genes_meta), lineage[-1] if lineage else "")
        if _covers_whole_scaffold([s[:2] for s in part.segments], scaffold, per_scaffold[part.seqid]):
            skipped.append(part.attributes.get("locus_tag") or key)
            continue
        gene, unframed = _gene_from_cds(part, rows.genes_meta.get(parent_id, {}), scaffold, path, genetic_code)
        n_unframed += unframed
        bases = sum(e - s + 1 for s, e, _ in part.segments)
        if ("translation" in part.attributes and not TRANSLATION_EXCUSED & set(part.attributes)
                and stated_length_disagrees(gene.protein, bases)):
            mislengthed.append((gene.id, len(gene.protein), bases))
        if gene.id in genes:
            previous, previous_parent = genes[gene.id]
            if not parent_id or parent_id != previous_parent:
                raise DataError(f"{path}: line {part.line}: duplicate gene id {gene.id!r}")
            n_isoforms += 1
            if gene.length <= previous.length:  # an isoform (alternative start) of one gene: keep the longest
                continue
        genes[gene.id] = (gene, parent_id)
    _warn_skipped(path, skipped)
    warn_stated_lengths(path, mislengthed, "translation attribute")
    if n_unframed:
        log.info("%s: %d CDS have phase 1 or 2 in column 8 but a whole 5' end (not flagged partial): read from "
                 "their first base, as RAST and PATRIC mean it (at a sequence edge, in the frame their 3' end fixes)",
                 path, n_unframed)
    return [g for g, _ in genes.values()], len(skipped), n_isoforms


def _fasta_section(lines: Iterator[str], path, fasta_line: int) -> Iterator[str]:
    """The lines after ##FASTA, refusing another GFF3's header among them: GFF3 files joined with cat (two Prokka
    annotations), whose second file's rows would be read as sequence ('protein characters')."""
    for number, line in enumerate(lines, start=fasta_line + 1):
        if line.startswith("##gff-version"):
            raise DataError(f"{path}: line {number}: a second GFF3 (##gff-version) after the ##FASTA section of the "
                            "first (files joined with cat?); give one GFF3 per genome, or one with all the rows, "
                            "then one ##FASTA")
        yield line


def _named_as_decoded(scaffolds: dict, escaped: dict[str, str], used: set[str]) -> dict:
    """``scaffolds`` with a sequence whose FASTA name is the escaped form of a GFF3 seqid (``NC%2F1`` in both files,
    where GFF3 means NC/1) named as the GFF3 means it, so the two files still meet."""
    renamed = {raw: decoded for decoded, raw in escaped.items()
               if decoded in used and decoded not in scaffolds and raw in scaffolds}
    if not renamed:
        return scaffolds
    return {renamed.get(sid, sid): replace(s, id=renamed[sid]) if sid in renamed else s for sid, s in scaffolds.items()}


def _stated_lengths(declared: dict[str, int], region_rows: dict[str, tuple[int, int]],
                    reached: dict[str, int]) -> dict[str, tuple[int, str]]:
    """Each sequence's length as the file states it, and where: its ``##sequence-region``, else its region row
    from 1 (NCBI's and Bakta's span the sequence; a file whose pragmas were dropped keeps them). A region row ending
    before the features do spans part of the sequence only: no length."""
    stated = {sid: (length, "##sequence-region") for sid, length in declared.items()}
    for sid, (end, number) in region_rows.items():
        if sid not in stated and end >= reached.get(sid, 0):
            stated[sid] = (end, f"the region row (line {number})")
    return stated


def _check_declared_lengths(path, stated: dict[str, tuple[int, str]], reached: dict[str, int], scaffolds: dict,
                            source) -> None:
    """Refuse a sequence whose length differs from the one the file states (``_stated_lengths``): the annotation is
    of another sequence (another assembly or version under one name), its genes read out of frame. (GenomeTools
    writes a pragma it makes up from the features' extent, ending at the last feature's end: not a length.)"""
    for sid, (length, where) in stated.items():
        scaffold = scaffolds.get(sid)
        if scaffold is None or scaffold.sequence is None or scaffold.length == length or length == reached.get(sid):
            continue
        raise DataError(f"{path}: {where} gives {sid} {length} bp, its sequence in {source} has "
                        f"{scaffold.length} bp: the annotation is of another sequence (another assembly or version "
                        "under the same name?); give the FASTA it was made on")


#: An accession's version suffix: NC_000913.3.
_VERSION = re.compile(r"\.\d+$")


def _refuse_forced_linear(parts: list[_CdsParts], scaffolds: dict, circular: set[str], path) -> None:
    """--linear against a CDS ending past the length of a sequence its region marks Is_circular (a gene across its
    origin): refused, naming --linear as what forbids it, as for a join."""
    for part in parts:
        if part.seqid in circular and max(e for _, e, _ in part.segments) > scaffolds[part.seqid].length:
            raise DataError.naming(f"{path}: line {part.line}: a CDS across the origin of {part.seqid} (ending past "
                                   "its length on its Is_circular region), which ",
                                   ("GenomeOptions(circular=False)", "--linear"), " makes linear")


def _id_hint(missing: list[str], scaffolds: dict) -> str:
    """What a FASTA id near a missing one is (``_version_hint``, ``_pipe_hint``, ``case_hint``), or ''."""
    return _version_hint(missing, scaffolds) or _pipe_hint(missing, scaffolds) or case_hint(missing, scaffolds)


def _pipe_hint(missing: list[str], scaffolds: dict) -> str:
    """A FASTA id in NCBI's old ``gi|12045107|ref|NC_000908.2|`` form holding a missing id as one of its fields,
    or a missing id of that form holding a FASTA id, named: never matched silently, as for ``_version_hint``."""
    fields = {f: sid for sid in scaffolds if "|" in sid for f in sid.split("|") if f}
    for m in missing:
        if m in fields:
            return f" (the FASTA has {fields[m]}, NCBI's old form of that name; give both files one name)"
        inner = next((f for f in m.split("|") if f and f in scaffolds), None) if "|" in m else None
        if inner is not None:
            return f" (the FASTA has {inner}, the name inside {m}; give both files one name)"
    return ""


def _version_hint(missing: list[str], scaffolds: dict) -> str:
    """A FASTA id that differs from a missing one only by its accession's version, named (never matched silently:
    two versions of an accession are two sequences)."""
    unversioned = {_VERSION.sub("", sid): sid for sid in scaffolds}
    near = next(((m, unversioned[_VERSION.sub("", m)]) for m in missing if _VERSION.sub("", m) in unversioned), None)
    if near is None:
        return ""
    return f" (the FASTA has {near[1]}: an id differing from {near[0]} only in its version; give both files one name)"


def _lineage(parents: tuple[str, ...], links: dict[str, tuple[str, ...]]) -> list[str]:
    """A CDS's Parents, their Parents and so on up to its gene (Ensembl: gene -> mRNA -> CDS), nearest first."""
    lineage = list(dict.fromkeys(parents))
    for parent in lineage:  # the list grows as it is walked, each id once (a cycle ends)
        lineage.extend([p for p in dict.fromkeys(links.get(parent, ())) if p not in lineage])
    return lineage


#: Parts of one CDS overlap by at most this many bases (a -1 frameshift repeats one: E. coli dnaX's gamma); two
#: Parent-only CDS rows overlapping by more are alternative CDS of one gene (mrcB's two starts), not parts.
MAX_PART_OVERLAP = 3


def _check_part(part: _CdsParts, segment: tuple[int, int, int], strand: str, key: str, where: str) -> None:
    """Refuse a row that cannot be a part of the CDS its ID names: on the other strand, or overlapping a part by
    more than a frameshift does (``MAX_PART_OVERLAP``)."""
    if (1 if strand == "+" else -1) != part.strand:
        raise DataError(f"{where}: CDS {key!r} is on both strands; each CDS needs its own ID")
    start, end, _ = segment
    for s, e, _ in part.segments:
        overlap = min(end, e) - max(start, s) + 1
        if overlap > MAX_PART_OVERLAP:
            raise DataError(f"{where}: CDS {key!r}: parts {s}..{e} and {start}..{end} overlap by {overlap} bp (parts "
                            f"of one CDS overlap by at most {MAX_PART_OVERLAP}, at a frameshift); each CDS needs "
                            "its own ID")


def _check_same_gene(part: _CdsParts, parents: tuple[str, ...], links: dict[str, tuple[str, ...]], key: str,
                     where: str) -> None:
    """Refuse a row of a CDS ID under another gene than its first row (the parts of one CDS share a gene): two
    genes' CDS named alike (a protein accession as ID, which identical proteins share) were joined into one gene
    spanning both and the genes between, its protein the two concatenated, without a word. Two transcripts of one
    gene (Parents whose lineages meet: one CDS of two mRNAs, a row each, in any order) are one CDS."""
    first = _parents(part.attributes)
    if first and parents and not set(_lineage(first, links)) & set(_lineage(parents, links)):
        raise DataError(f"{where}: CDS ID {key!r} is used under two parents ({','.join(sorted(set(first)))} and "
                        f"{','.join(sorted(set(parents)))}); each CDS needs its own ID")


def _cds_key(attributes: dict[str, str], seqid: str, start: int, end: int, strand: str,
             cds: dict[str, _CdsParts]) -> str:
    """The CDS a row is part of: its ID; without one, its Parent's (GTF-derived GFF3, as ``gt gtf_to_gff3`` and
    gffread write it, gives the parts of one CDS only their Parent) unless it overlaps a part already there; else
    the row alone."""
    if attributes.get("ID"):
        return attributes["ID"]
    if attributes.get("Parent"):
        key = f"{seqid}:{strand}:Parent={attributes['Parent']}"
        held = cds.get(key)
        if held is None or all(min(end, e) - max(start, s) + 1 <= MAX_PART_OVERLAP for s, e, _ in held.segments):
            return key
    return f"{seqid}:{start}-{end}:{strand}"


def _flagged_pseudo_only(attributes: dict[str, str]) -> bool:
    """``pseudo=true`` the only pseudogene mark of a CDS row: Bakta marks so a CDS cut by its contig's end too (a
    real pseudogene gets ``pseudogene=unitary`` or ``unprocessed``; NCBI's has a pseudogene row above it)."""
    return (attributes.get("pseudo", "").lower() == "true" and "pseudogene" not in attributes
            and attributes.get("gene_biotype") != "pseudogene")


def _cut_by_sequence_end(part: _CdsParts, scaffold: Scaffold) -> bool:
    """Whether a CDS marked pseudo only reaches an end of its sequence or an assembly gap (``cut_ends``): a gene
    cut there, made partial at that end (NCBI's start_range/end_range), not a pseudogene."""
    start, end = min(s for s, _, _ in part.segments), max(e for _, e, _ in part.segments)
    left, right = cut_ends(scaffold.length, scaffold.sequence, start, end)
    if left:
        part.attributes.setdefault("start_range", f".,{start}")
    if right:
        part.attributes.setdefault("end_range", f"{end},.")
    return left or right


def _is_pseudo(ftype: str, attributes: dict[str, str]) -> bool:
    """A pseudogene's row: NCBI's pseudogene type or gene_biotype, ``pseudo=true``, a ``pseudogene`` attribute."""
    return (ftype == "pseudogene" or attributes.get("gene_biotype") == "pseudogene"
            or attributes.get("pseudo", "").lower() == "true" or "pseudogene" in attributes)


def _gene_from_cds(part: _CdsParts, parent: dict[str, str], scaffold: Scaffold, path,
                   default_code) -> tuple[Gene, bool]:
    """One CDS as a Gene, and whether its written phase was set aside.

    A phase shifts the frame only of a CDS cut at its 5' end: flagged partial, or at the sequence's edge
    (``_edge_phase``). A whole bacterial CDS starts on its first codon (Prodigal writes 0 on every CDS); RAST and
    PATRIC write 1 on every one.
    """
    attrs = part.attributes
    segments = _unwrap(part.segments, scaffold)
    start, end = segments[0][0], max(e for _, e, _ in segments)
    _check_extent(start, end, scaffold, f"{path}: line {part.line}")
    ident, aliases = gene_names([{k: [s[k]] for k in NAME_KEYS if k in s} for s in (attrs, parent)],
                                f"{part.seqid}_{start}_{end}")
    code = _code_of(attrs.get("transl_table"), default_code)
    written = segments[0][2] if part.strand > 0 else segments[-1][2]  # the phase of the 5'-most segment
    left, right = _cut_edges(attrs, scaffold, start, end, part.strand, written)
    at_edge = start == 1 if part.strand > 0 else end == scaffold.length
    if left if part.strand > 0 else right:
        phase = written
    else:
        phase = _edge_phase(written, segments, part.strand, scaffold.length) if at_edge else 0
    partial = left or right or phase > 0
    five_prime_cut = phase > 0 or (left if part.strand > 0 else right)
    nucleotides = "".join(circular_slice(scaffold.sequence, s, e) for s, e, _ in segments) if scaffold.sequence else ""
    if nucleotides and not partial and not _partial_flagged(attrs) and not scaffold.circular:
        from Bio.Seq import reverse_complement

        partial = cut_without_flag(scaffold.length, scaffold.sequence, start, end, part.strand, code,
                                   lambda: nucleotides if part.strand > 0 else reverse_complement(nucleotides))
    protein = ""
    if "translation" in attrs:  # DFAST's, with no transl_table: read as GenBank's /translation
        protein = stated_protein(attrs["translation"])
    elif nucleotides:
        protein = translate(nucleotides, part.strand, code, phase, start_codon=not five_prime_cut, stop="*")
        protein = with_exceptions(protein, [attrs.get("transl_except", "")], segments, part.strand, phase,
                                  scaffold.length)
    return Gene(ident, part.seqid, start, end, part.strand, protein, aliases, code, partial), written != phase


def _partial_flagged(attrs: dict[str, str]) -> bool:
    """Whether a CDS row says whether it is cut (Prodigal's ``partial=00`` says it is whole), which no reading of its
    sequence overrules."""
    return "partial" in attrs or "start_range" in attrs or "end_range" in attrs or _noted_partial(attrs)


def _noted_partial(attrs: dict[str, str]) -> bool:
    """A Note that calls the CDS partial (NCBI's "incomplete; partial on complete genome"); "partially confirmed"
    and the like say nothing of its ends."""
    return _PARTIAL_WORD.search(attrs.get("Note", "")) is not None


_PARTIAL_WORD = re.compile(r"\bpartial\b")


def _edge_phase(written: int, segments: list[tuple[int, int, int]], strand: int, length: int) -> int:
    """The frame of a CDS whose 5' end is at its sequence's edge with no flag saying it is cut there: the one its
    whole 3' end fixes (a stop codon ends it on a codon: length % 3 bases before its first codon) when it is one
    part with its 3' end away from the other edge (within a codon); else the written phase. RAST writes 1 on every
    CDS, so dnaA at base 1 of a complete genome read from its second base, a garbage protein flagged partial."""
    start, end = segments[0][0], segments[-1][1]
    three_prime_at_edge = end >= length - 2 if strand > 0 else start <= 3  # within a codon, as ``cut_ends``
    if len(segments) == 1 and not three_prime_at_edge:
        return (end - start + 1) % 3
    return written


def _cut_edges(attrs: dict[str, str], scaffold: Scaffold, start: int, end: int, strand: int,
               written: int) -> tuple[bool, bool]:
    """Whether a CDS is cut at its left (start) and right (end) coordinate: NCBI's start_range/end_range (on the
    coordinates, whichever the strand), Prodigal's ``partial=10/01/11`` (left digit first).

    ``partial=true`` (or a Note saying partial) alone names no end: NCBI's Note "missing N-terminus"/"C-terminus"
    does; else a written phase of 1 or 2 cuts the 5' end, and an end within a codon of its linear sequence's edge
    or an assembly gap (``cut_ends``) is cut; with neither, both count, as no end can be told whole (was: both,
    always, so a gene cut at its 3' end by its contig's edge read its GTG/TTG start as V/L, not M)."""
    flag = attrs.get("partial", "").lower()
    if len(flag) == 2 and set(flag) <= {"0", "1"}:
        return flag[0] == "1", flag[1] == "1"
    left, right = "start_range" in attrs, "end_range" in attrs
    if left or right or not (flag == "true" or _noted_partial(attrs)):
        return left, right
    note = attrs.get("Note", "")
    five, three = "missing N-terminus" in note, "missing C-terminus" in note
    if not (five or three):
        five = written > 0
        if not scaffold.circular:
            low, high = cut_ends(scaffold.length, scaffold.sequence, start, end)
            five, three = five or (low if strand > 0 else high), high if strand > 0 else low
    if not (five or three):
        return True, True
    return (five, three) if strand > 0 else (three, five)


# ------------------------------------------------------------------------------------------------ operon GFF3

#: The feature type and Sequence Ontology term of a predicted operon.
OPERON = ("operon", "SO:0000178")


def escape(value: str) -> str:
    """GFF3 column 9 escaping: ; = & , % and control characters are percent-encoded."""
    return urllib.parse.quote(value, safe=" :^*$@!+_?-|./()[]{}'\"~#<>")


def escape_seqid(value: str) -> str:
    """GFF3 column 1 (and ``##sequence-region``) escaping: every character outside [a-zA-Z0-9.:^*$@!+_?-|] is
    percent-encoded, as the spec asks and as the reader decodes it (NC/1 is written NC%2F1)."""
    return urllib.parse.quote(value, safe=".:^*$@!+_?-|")


def read_operons_gff(lines: Sequence[str], path) -> list[list[str]]:
    """The ``genes`` of each operon feature (type ``operon`` or SO:0000178) of an operon GFF3 such as
    ``write_operons_gff`` writes; the list is split before it is unescaped, so a gene id holding ``%2C`` stays one id.
    A row is read as ``read_gff`` reads it (``gff_row``): an operon row with columns past the 9th (was: skipped, its
    operon gone without a word) is read by its first 9, the columns past them set aside with one warning, unless
    they hold another row (two rows on one line: refused, as ``read_gff`` refuses it).

    Raises:
        DataError: an operon feature without ``genes``, or none at all.
    """
    units = []
    set_aside = []
    for number, line in enumerate(lines, start=1):
        if line.startswith("##FASTA"):
            break
        fields = None if line.startswith("#") else gff_row(line.rstrip("\r"))
        if fields is None:
            continue
        raw = dict(item.strip().split("=", 1) for item in fields[8].split(";") if "=" in item)  # values escaped
        if fields[2] != OPERON[0] and OPERON[1] not in raw.get("Ontology_term", "").split(","):
            continue
        genes = [urllib.parse.unquote(g).strip() for g in raw.get("genes", "").split(",")]
        if not any(genes):
            raise DataError(f"{path}: line {number}: an operon feature without genes=ID,ID,... (the member genes "
                            "microfuse's operon GFF3 lists)")
        units.append([g for g in genes if g])
        if len(fields) > 9:
            _refuse_joined_row(fields, path, number, frozenset({OPERON[0]}) | _GENE_ROWS | _LANDMARKS)
            set_aside.append(number)
    if set_aside:
        log.warning("%s: %s: columns past the 9th of an operon row set aside (GFF3 has 9)", path,
                    _lines_named(set_aside[0], len(set_aside) - 1))
    if not units:
        raise DataError(f"{path}: a GFF3 without operon features")
    return units


def write_operons_gff(handle: IO[str], genome: Genome, operons: Sequence, *, source: str = "microfuse",
                      comments: Sequence[str] = ()) -> int:
    """GFF3 with ##sequence-region per scaffold and one SO:0000178 operon feature per predicted operon (``comments``
    as ``#`` lines after the pragmas).

    Raises:
        DataError: an operon on a scaffold, or of a gene, that ``genome`` lacks (``call_operons`` of another
            genome), said before anything is written.
        UsageError: ``handle`` not an open text file (a path), ``genome`` not a Genome, ``operons`` not those
            call_operons returns (the three in the wrong order).
    """
    require_text_handle(handle, "write_operons_gff")
    if not isinstance(genome, Genome):  # its kind only: call_operons checked the genome the operons are of
        raise UsageError(f"write_operons_gff takes a Genome (read_genome(path) reads one), not {type(genome).__name__}")
    operons = require_operons(operons, "write_operons_gff")
    _check_operons_of(genome, operons)
    comments = comment_lines(comments)
    handle.write("##gff-version 3\n")
    handle.write("##feature-ontology https://raw.githubusercontent.com/The-Sequence-Ontology/SO-Ontologies/"
                 "v3.1/so.obo\n")
    handle.write(f"#!microfuse {__version__}\n")
    for line in comments:
        handle.write(f"# {line}\n")
    for scaffold in genome.scaffolds.values():
        handle.write(f"##sequence-region {escape_seqid(scaffold.id)} 1 {scaffold.length}\n")
    # an operon across the origin ends past the sequence's length, which GFF3 allows on an Is_circular region
    for sid in dict.fromkeys(op.scaffold for op in operons if op.wraps):
        handle.write(f"{escape_seqid(sid)}\t{source}\tregion\t1\t{genome.scaffolds[sid].length}\t.\t+\t.\t"
                     f"ID={escape(sid)};Is_circular=true\n")
    n = 0
    for op in operons:
        attributes = [
            ("ID", op.id), ("Name", op.id), ("genes", ",".join(escape(g) for g in op.genes)),
            ("n_genes", str(len(op.genes))), ("mean_probability", f"{op.mean_probability:.4f}"),
            ("min_probability", f"{op.min_probability:.4f}"),
            ("Ontology_term", OPERON[1]),
        ]
        column9 = ";".join(f"{k}={v if k == 'genes' else escape(v)}" for k, v in attributes)
        end = op.end
        handle.write(f"{escape_seqid(op.scaffold)}\t{source}\t{OPERON[0]}\t{op.start}\t{end}\t"
                     f"{op.mean_probability:.4f}\t{'+' if op.strand > 0 else '-'}\t.\t{column9}\n")
        n += 1
    return n


def _check_operons_of(genome: Genome, operons: Sequence) -> None:
    """Operons of another genome would be written under this one's ##sequence-region lines (and a region of
    another length): refused, as call_operons refuses scores of another genome."""
    gene_ids = {g.id for g in genome.genes}
    for op in operons:
        missing = op.scaffold if op.scaffold not in genome.scaffolds else next(
            (g for g in op.genes if g not in gene_ids), None)
        if missing is not None:
            raise DataError(f"operon {op.id} ({op.scaffold}) is not of genome {genome.name!r}: it has no "
                            f"{'scaffold' if missing == op.scaffold else 'gene'} {missing!r} (operons of another "
                            "genome?)")
