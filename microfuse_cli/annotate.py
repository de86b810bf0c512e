"""``score --annotate``: the user's own GFF3 or GenBank file with predicted operons added, nothing else changed.

Bakta and Prokka users keep one annotation file per genome; this writes that file back with one SO:0000178
operon feature per predicted operon, placed before the first top-level feature at or after its start (so a
sorted file stays sorted). Every other line is written byte for byte as read (as
io.files.read_text gives it: decompressed, with LF line ends), except that a GFF3 attribute with an empty value
(``protein_id=``, which GFF3 forbids and ``gt gff3validator`` rejects) is dropped: it carries nothing, and the
output is microfuse's, so it must validate; for the same reason a ';' io.gff read as text of a value (pharokka 1.4's
``product=A; B``) is written %3B. Members are named in a ``genes``
attribute (GFF3) or ``/note`` (GenBank): linking them by ``Parent`` would rewrite the user's gene lines.
The model and rule that made the calls (score.header_comments: version, model name, model_id, decision_id) are
recorded as each format allows: GFF3 ``#`` lines after ``##gff-version``, as the operon GFF3 has them; GenBank
the lines of a record's COMMENT (the 64-digit model_id on a line of its own, within 80 columns) and, shorter,
each operon's ``/note``, which stays with the feature when it is copied elsewhere.
"""

from __future__ import annotations

import bisect
import io
import logging
import re
from collections import Counter
import textwrap
from pathlib import Path
from typing import Sequence

from . import __version__
from .errors import DataError, UsageError, log_naming
from .records import Genome
from .io.gff import OPERON, escape, escape_seqid
from .io.model_id import MODEL_KEY, Maker, comment_maker
from .score import Operon

#: Output suffixes per input format: the annotation is written in the format it was read in, uncompressed.
SUFFIXES = {"gff": (".gff", ".gff3"), "genbank": (".gbk", ".gb", ".gbff", ".genbank")}
COMPRESSED = (".gz", ".bz2", ".xz")
#: Characters a GenBank COMMENT line holds after its 12-column margin (80 columns in all).
COMMENT_WIDTH = 68
_ID = re.compile(r"(?:^|;)\s*ID=([^;]*)")
OPERON_LINE = re.compile(r"^[^\t#]*\tmicrofuse\toperon\t")
_EMPTY_VALUE = re.compile(r"^[^=]+=$")
log = logging.getLogger("microfuse")
ALREADY = "the input already holds microfuse operons (an --annotate output?); give the original annotation"


def check_annotate_target(path: str | None, kind: str | None) -> None:
    """Refuse --annotate for an input with no annotation of its own, or a suffix of the other format."""
    if path is None or kind is None:  # no input to speak of: reading it reports that
        return
    if kind not in SUFFIXES:
        what = {"pairs": "a pairs table", "fasta": "a bare assembly"}.get(kind, "EMBL, which it does not write")
        raise UsageError(f"--annotate adds operons to the input's own annotation: give a GFF3 or GenBank input "
                         f"(this one is {what})")
    if path == "-":
        return
    name = Path(path)
    if name.suffix.lower() in COMPRESSED:  # written compressed (io.outputs): the format is the suffix before
        name = name.with_suffix("")
    suffix = name.suffix.lower()
    if suffix not in SUFFIXES[kind]:
        wanted = "GFF3" if kind == "gff" else "GenBank"
        raise UsageError(f"--annotate {path}: the input is {wanted}, so the annotation is written as {wanted}; "
                         f"give a path ending in {' or '.join(SUFFIXES[kind])} (optionally + .gz, .bz2 or .xz)")


def annotate(text: str, kind: str, genome: Genome, operons: Sequence[Operon], comments: Sequence[str] = ()) -> str:
    """``text`` (the input file's contents) with the operons added, in its own format, and ``comments``
    (score.header_comments: the model and rule that made them) recorded as the format allows."""
    if kind == "gff":
        return annotate_gff(text, genome, operons, comments=comments)
    if kind == "genbank":
        return annotate_genbank(text, genome, operons, comments)
    raise UsageError("--annotate needs a GFF3 or GenBank input")


# ------------------------------------------------------------------------------------------------ GFF3


def annotate_gff(text: str, genome: Genome, operons: Sequence[Operon], *, source: str = "microfuse",
                 comments: Sequence[str] = ()) -> str:
    """The GFF3 ``text`` with one operon line per operon and ``comments`` as ``# `` lines after ``##gff-version``,
    as io.gff.write_operons_gff writes them. A text without ``##gff-version`` (the sniffer takes a GFF3 by its rows)
    gets one first: without it `gt gff3validator` refuses the file and ``--operons`` does not take it for GFF3.

    An operon across the origin ends past its sequence's length on a sequence the file marks Is_circular (as GFF3
    allows such a feature); on one read as circular otherwise (a CDS joined across its origin, --circular) it is
    two rows of one ID, split at the origin (``_operon_lines``), so the file stays valid with its own lines.
    """
    body, marker, rest = _split_fasta(text)
    lines = body.splitlines(keepends=True)
    newline = "\n"  # io.files.read_text gives LF line ends whatever the file had
    if lines and not lines[-1].endswith("\n"):
        lines[-1] += newline
    lines = _valid_attributes(lines)
    starts, last, ids = _top_level_features(lines)
    if any(OPERON_LINE.match(line) for line in lines):
        raise DataError(ALREADY)
    prefix = "microfuse_" if any(op.id in ids for op in operons) else ""
    circular = _marked_circular(lines)
    spelled = _seqid_spellings(lines)
    inserts: dict[int, list[str]] = {}
    for op in operons:
        if prefix + op.id in ids:
            raise DataError(f"the annotation already has features with IDs {op.id} and {prefix + op.id}")
        seqid = spelled.get(op.scaffold) or escape_seqid(op.scaffold)
        for start, line in _operon_lines(op, prefix + op.id, source, genome, circular, seqid):
            at = _insertion_index(starts.get(op.scaffold, []), start)
            at = at if at is not None else last.get(op.scaffold, len(lines) - 1) + 1  # after the sequence's last
            inserts.setdefault(at, []).append(line + newline)
    version = next((i for i, line in enumerate(lines) if line.startswith("##gff-version")), None)
    if comments:
        inserts.setdefault(0 if version is None else version + 1, []).insert(0, "".join(f"# {c}\n" for c in comments))
    if version is None:  # a GFF3 read without one (sniffed by its rows): GFF3 starts with it
        inserts.setdefault(0, []).insert(0, "##gff-version 3\n")
    return _with_inserts(lines, inserts) + marker + rest


def _with_inserts(lines: list[str], inserts: dict[int, list[str]]) -> str:
    """``lines`` joined with each ``inserts[i]`` put before line i (those past the last line at the end)."""
    left = dict(inserts)
    out = io.StringIO()
    for i, line in enumerate(lines):
        out.writelines(left.pop(i, ()))
        out.write(line)
    for i in sorted(left):
        out.writelines(left[i])
    return out.getvalue()


_CIRCULAR = re.compile(r"(?:^|;)\s*Is_circular=(?i:true)(?:;|\s*$)")


def _marked_circular(lines: list[str]) -> set[str]:
    """The sequences whose region row says Is_circular=true, as io.gff.read_gff reads it (the key as written, the
    value in any case)."""
    marked = set()
    for line in lines:
        cols = _columns(line)
        if cols is not None and cols[2] == "region" and _CIRCULAR.search(cols[8]):
            marked.add(_unescape(cols[0]))
    return marked


def _operon_lines(op: Operon, ident: str, source: str, genome: Genome, circular: set[str],
                  seqid: str) -> list[tuple[int, str]]:
    """(start, line) of an operon's rows: one, or for one across the origin of a sequence the file does not mark
    Is_circular, two rows of one ID split at the origin (one row ending past the length fails `gt gff3validator`
    there: 'not contained in range ... of corresponding sequence region')."""
    length = genome.scaffolds[op.scaffold].length
    if op.end <= length or op.scaffold in circular:
        return [(op.start, _gff_line(op, ident, source, seqid))]
    return [(op.start, _gff_line(op, ident, source, seqid, op.start, length)),
            (1, _gff_line(op, ident, source, seqid, 1, op.end - length))]


def _valid_attributes(lines: list[str]) -> list[str]:
    """``lines`` with column 9 made valid GFF3 in one pass, as the annotated file must validate where the input did
    not: each ';' io.gff read as text of a value (pharokka 1.4's ``product=A; B``: the piece after it holds no
    '=') written %3B, as GFF3 writes one inside a value (copied as read, `gt gff3validator` failed: 'does not
    contain exactly one ='), then every ``key=`` attribute (empty value, which GFF3 forbids) taken out ('.' when
    none is left); `product=; B` is text, so it is joined before empties are looked for. One warning counts each
    kind. Only column 9 is touched: a line needing neither is kept as it was, columns past the 9th as read."""
    joined = 0
    dropped: Counter[str] = Counter()
    out = []
    for line in lines:
        cols = _columns(line)  # pharokka's CDS rows, whose products hold such ';', end in a stray tab
        if cols is None or "=" not in cols[8]:
            out.append(line)
            continue
        column, n = _joined_values(cols[8])
        column, empty = _without_empty_values(column)
        if not n and not empty:
            out.append(line)
            continue
        joined += n
        dropped.update(empty)
        extra = line.rstrip("\n").split("\t")[9:]  # columns past the 9th, kept as read
        out.append("\t".join(cols[:8] + [column] + extra) + "\n")
    _warn_rewritten(joined, dropped)
    return out


def _without_empty_values(column: str) -> tuple[str, list[str]]:
    """Column 9 without its ``key=`` attributes ('.' when none is left; as it was when it has none), and the key of
    each taken out."""
    parts = column.split(";")
    empty = [part for part in parts if _EMPTY_VALUE.match(part.strip())]
    if not empty:
        return column, []
    kept = ";".join(part for part in parts if part not in empty)
    return (kept if kept.strip(" ;") else "."), [part.strip()[:-1] for part in empty]


def _warn_rewritten(joined: int, dropped: Counter[str]) -> None:
    """One warning for the ';' written %3B, then one for the empty attributes dropped, counted by key."""
    if joined:
        log_naming(log, logging.WARNING, ("annotate_gff", "--annotate"),
                   f": wrote {joined} ';' inside a value as %3B, as GFF3 writes it (the input's were unescaped)")
    if dropped:
        keys = ", ".join(f"{key} ({n})" for key, n in sorted(dropped.items()))
        n = sum(dropped.values())
        log_naming(log, logging.WARNING, ("annotate_gff", "--annotate"),
                   f": dropped {n} attribute{'' if n == 1 else 's'} with an empty value, which GFF3 forbids: {keys}")


def _joined_values(column: str) -> tuple[str, int]:
    """Column 9 with each piece that holds no '=' joined to the key=value before it by %3B, and how many were."""
    parts: list[str] = []
    for part in column.split(";"):
        if parts and "=" in parts[-1] and part.strip() and "=" not in part:
            parts[-1] += "%3B" + part
        else:
            parts.append(part)
    return ";".join(parts), column.count(";") + 1 - len(parts)


def _split_fasta(text: str) -> tuple[str, str, str]:
    """(features, the ``##FASTA`` line, the sequences after it); the last two empty when there is none."""
    match = re.search(r"^##FASTA[^\n]*\n?", text, flags=re.MULTILINE)
    if match is None:
        return text, "", ""
    return text[: match.start()], match.group(), text[match.end():]


def _top_level_features(lines: list[str]) -> tuple[dict[str, list[tuple[int, int]]], dict[str, int], set[str]]:
    """Per sequence, (start, line index) of its features without a Parent (regions excluded), in file order,
    and the index of its last feature line; every ID in the file."""
    starts: dict[str, list[tuple[int, int]]] = {}
    last: dict[str, int] = {}
    ids: set[str] = set()
    for index, line in enumerate(lines):
        cols = _columns(line)
        if cols is None:
            continue
        last[_unescape(cols[0])] = index
        match = _ID.search(cols[8])
        if match:
            ids.add(_unescape(match.group(1)))
        if cols[2] in ("region", "source") or "Parent=" in cols[8] or not cols[3].isdigit():
            continue
        starts.setdefault(_unescape(cols[0]), []).append((int(cols[3]), index))
    return starts, last, ids


def _seqid_spellings(lines: list[str]) -> dict[str, str]:
    """Each sequence's column 1 as the file spells it, by the name it decodes to: the operon rows go on the file's
    own spelling (NC%2F1 stays NC%2F1; an unescaped NC/1, which many tools write, stays NC/1)."""
    spelled: dict[str, str] = {}
    for line in lines:
        cols = _columns(line)
        if cols is not None:
            spelled.setdefault(_unescape(cols[0]), cols[0])
    return spelled


def _columns(line: str) -> list[str] | None:
    """A feature row's 9 columns (column 9 without its line end), as io.gff.read_gff reads the row: columns past
    the 9th (pharokka ends its CDS rows in a stray tab, its tRNA rows carry a 10th) left out, which the reader
    drops or sets aside; None for a comment, a blank line or a row of fewer columns. Rows of more were taken for
    no feature: pharokka's operons all went after its last row, and its IDs, spelling of a seqid and
    Is_circular were not seen."""
    if line.startswith("#"):
        return None
    cols = line.rstrip("\n").split("\t")
    return cols[:9] if len(cols) >= 9 else None


def _unescape(value: str) -> str:
    import urllib.parse

    return urllib.parse.unquote(value)


def _insertion_index(features: list[tuple[int, int]], start: int) -> int | None:
    """The line of the first feature (in file order) starting at or after ``start``; None when none does."""
    starts = [s for s, _ in features]
    if starts == sorted(starts):  # the usual sorted file: a binary search (thousands of operons)
        k = bisect.bisect_left(starts, start)
        return features[k][1] if k < len(features) else None
    return next((index for feature_start, index in features if feature_start >= start), None)


def _gff_line(op: Operon, ident: str, source: str, seqid: str, start: int | None = None,
              end: int | None = None) -> str:
    """One SO:0000178 line on ``seqid`` (column 1 as written) from ``start`` to ``end`` (the operon's own by
    default); members in transcription order in ``genes`` (comma-separated, each escaped)."""
    attributes = ";".join([
        f"ID={escape(ident)}", f"Name={escape(op.id)}", f"genes={','.join(escape(g) for g in op.genes)}",
        f"n_genes={len(op.genes)}", f"mean_probability={op.mean_probability:.4f}",
        f"min_probability={op.min_probability:.4f}", f"Ontology_term={OPERON[1]}",
    ])
    start, end = op.start if start is None else start, op.end if end is None else end
    return (f"{seqid}\t{source}\t{OPERON[0]}\t{start}\t{end}\t{op.mean_probability:.4f}\t"
            f"{'+' if op.strand > 0 else '-'}\t.\t{attributes}")


# ------------------------------------------------------------------------------------------------ GenBank


def annotate_genbank(text: str, genome: Genome, operons: Sequence[Operon], comments: Sequence[str] = ()) -> str:
    """The GenBank ``text`` with one ``operon`` feature per operon in its record's feature table and, in each record
    given one, ``comments`` (the model that made them) at the end of its COMMENT (a new COMMENT without one).

    Biopython locates each record's features (same order as their header lines in the text); the new features
    are formatted by Biopython's own GenBank writer, so they wrap and quote as INSDC requires.
    """
    from .io.genbank import parse_records

    records = parse_records(io.StringIO(text), "genbank", None)  # its warnings were said when the genome was read
    if any(f.type == OPERON[0] and any("microfuse" in v for v in f.qualifiers.get("inference", []))
           for record in records for f in record.features):
        raise DataError(ALREADY)
    chunks = _record_chunks(text)
    if len(chunks) != len(records):
        raise DataError(f"found {len(records)} GenBank records but {len(chunks)} '//' record ends")
    by_scaffold: dict[str, list[Operon]] = {}
    for op in operons:
        by_scaffold.setdefault(op.scaffold, []).append(op)
    maker = comment_maker([f"#{c}" for c in comments[:1]], "the model line") or Maker(__version__)
    comment = _comment_lines(comments)
    return "".join(_annotate_record(chunk, record, by_scaffold.get(record.id, []), comment, maker)
                   for chunk, record in zip(chunks, records)) + text[sum(len(c) for c in chunks):]


def _comment_lines(comments: Sequence[str]) -> list[str]:
    """The COMMENT text of ``comments`` in lines of at most ``COMMENT_WIDTH`` characters: the model line's words
    wrapped, its 64-digit ``model_id`` last on a line of its own (unbroken, as a reader must find it), then each
    line after it (the ``genes`` and calibration lines) wrapped."""
    if not comments:
        return []
    words = comments[0].split(" ")
    digest = next((w.split("=", 1)[1] for w in words if w.startswith(f"{MODEL_KEY}=")), None)
    head = " ".join(w for w in words if not w.startswith(f"{MODEL_KEY}="))
    lines = textwrap.wrap(f"Operon features predicted by {head}" + (f"; {MODEL_KEY} (SHA-256):" if digest else ""),
                          COMMENT_WIDTH, break_long_words=False, break_on_hyphens=False)
    lines += [digest] if digest else []
    for line in comments[1:]:
        lines += textwrap.wrap(line, COMMENT_WIDTH, break_long_words=False, break_on_hyphens=False)
    return lines


def _record_chunks(text: str) -> list[str]:
    """The text of each record, through its ``//`` line."""
    chunks, start = [], 0
    for match in re.finditer(r"^//[^\n]*(?:\n|$)", text, flags=re.MULTILINE):
        chunks.append(text[start: match.end()])
        start = match.end()
    return chunks


def _annotate_record(chunk: str, record, operons: list[Operon], comment: list[str], maker: Maker) -> str:
    if not operons:
        return chunk
    lines = chunk.splitlines(keepends=True)
    table = next((i for i, line in enumerate(lines) if line.startswith("FEATURES")), None)
    if table is None:
        raise DataError(f"GenBank record {record.id!r} has no FEATURES table")
    block = _comment_block(lines[:table], comment)
    end = next(i for i in range(table + 1, len(lines)) if not lines[i].startswith(" "))
    headers = [i for i in range(table + 1, end) if re.match(r"^ {5}\S", lines[i])]
    if len(headers) != len(record.features):
        raise DataError(f"GenBank record {record.id!r}: {len(headers)} feature lines but Biopython read "
                        f"{len(record.features)} features")
    features = [(int(f.location.start) + 1, i) for f, i in zip(record.features, headers) if f.type != "source"]
    inserts: dict[int, list[str]] = {}
    for op in operons:
        at = _insertion_index(features, op.start)
        inserts.setdefault(end if at is None else at, []).append(_genbank_feature(op, len(record), maker))
    if block:
        inserts.setdefault(table, []).insert(0, block)
    return _with_inserts(lines, inserts)


def _comment_block(header: list[str], comment: list[str]) -> str:
    """``comment`` as GenBank COMMENT lines to go right before FEATURES: continuing the record's COMMENT when it
    is the section there, else a COMMENT of its own."""
    if not comment:
        return ""
    at = len(header) - 1
    while at > 0 and header[at].startswith(" " * 12):
        at -= 1
    ongoing = header[at].startswith("COMMENT")
    return "".join(f"{'COMMENT' if i == 0 and not ongoing else '':<12}{line}\n" for i, line in enumerate(comment))


#: A '"' (of a gene id, a model folder's name) is %22 in a /note (for a gene id unambiguous: safe_id encodes an id's
#: own %22): Biopython's writer breaks a note without spaces at the column limit, also between the two quotes of
#: its '""', which no reader then reads back.
QUOTE = '"'


def _genbank_feature(op: Operon, length: int, maker: Maker) -> str:
    """An INSDC ``operon`` feature (``/operon`` is its required qualifier), written by Biopython."""
    from Bio.SeqFeature import CompoundLocation, SeqFeature, SimpleLocation
    from Bio.SeqIO.InsdcIO import GenBankWriter

    strand = 1 if op.strand > 0 else -1
    if op.end > length:  # across the origin: join(start..length,1..rest)
        parts = [SimpleLocation(op.start - 1, length, strand), SimpleLocation(0, op.end - length, strand)]
        location = CompoundLocation(parts if strand > 0 else parts[::-1])
    else:
        location = SimpleLocation(op.start - 1, op.end, strand)
    feature = SeqFeature(location, type=OPERON[0], qualifiers={
        "operon": [op.id],
        "note": [(f"predicted by microfuse {maker.version or __version__}"
                  + (f", model {maker.describe()}" if maker.model else "") + ": "
                  f"{len(op.genes)} genes {', '.join(op.genes)}; mean probability {op.mean_probability:.4f}, min "
                  f"{op.min_probability:.4f}; {OPERON[1]}").replace(QUOTE, "%22")],
        "inference": [f"ab initio prediction:microfuse:{__version__}"],
    })
    handle = io.StringIO()
    GenBankWriter(handle)._write_feature(feature, length)
    return handle.getvalue()
