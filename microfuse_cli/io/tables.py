"""The tables microfuse reads and writes besides genomes: pair lists, known-operon tables, the pairs TSV, the
scores TSV, the operon table and the ``--fused`` vectors with their ids.

The objects written are those of pairs.py and score.py (``GenePair``, ``Scores``, ``Operon``), used through their
attributes: this module sits below them.
"""

from __future__ import annotations

import csv
import io
import itertools
import re
from pathlib import Path
from typing import IO, TYPE_CHECKING, Iterable, Iterator, Sequence

from ..errors import DataError, UsageError
from ..records import Gene, printable_name
from .files import PathLike, read_text
from .outputs import save_npy
from .tsv import comment_lines, read_numbered_tsv, require_operons, require_text_handle, write_tsv

if TYPE_CHECKING:
    import numpy as np

PAIR_COLUMNS = [
    "pair_id", "scaffold", "gene_a", "gene_b", "start_a", "end_a", "strand_a", "start_b", "end_b", "strand_b",
    "distance", "same_strand",
]
EXTRA_COLUMNS = ["length_a", "length_b", "directon", "genes_between"]

ROUTER_COLUMNS = ["w_protein", "w_context", "w_agreement", "w_conflict"]

_HEADER = re.compile(r"^(name|gene|id|locus(_?tag)?|query|source)[ _]?(1|a)?$", re.IGNORECASE)


# ------------------------------------------------------------------------------------------------ inputs

#: Label cells read as 1 and 0, case-insensitive: what `pairs` writes, pandas' 1.0/0.0 of a 0/1 column with gaps,
#: and a spreadsheet's words. One rule for `--labels` lists and `evaluate`'s scores tables (they differed).
_LABEL_ONE = re.compile(r"1(?:\.0*)?|true|yes|t", re.IGNORECASE)
_LABEL_ZERO = re.compile(r"0(?:\.0*)?|false|no|f", re.IGNORECASE)


def parse_label(cell: str) -> int | None:
    """A label cell as 1, 0 or None (empty: unlabelled); ValueError for anything else (see ``label_error``)."""
    value = cell.strip()
    if not value:
        return None
    if _LABEL_ONE.fullmatch(value):
        return 1
    if _LABEL_ZERO.fullmatch(value):
        return 0
    raise ValueError(cell)


def label_error(path: PathLike, number: int, cell: str) -> DataError:
    """The one message for a label cell ``parse_label`` refuses, naming the file, line and cell."""
    return DataError(f"{path}: line {number}: label {cell[:40]!r} is not 0/1 (1/0, 1.0/0.0, yes/no, true/false, "
                     "t/f; empty: unlabelled)")


def read_pair_list(path: PathLike) -> list[tuple[str, str, int | None]]:
    """Read a CSV or TSV of gene pairs (``name_1,name_2[,label]``, or one ``A|B`` pair id a line, as the first column
    of microfuse's TSVs); a header line is recognised and skipped.

    microfuse's own pairs and scores TSVs are pair lists too: their ``gene_a``, ``gene_b`` (and ``label``) columns
    are read, wherever they stand (``pairs --operons`` makes the labels another command reads)."""
    text = read_text(path)
    if not text.strip():
        raise DataError(f"{path}: empty pair list")
    first = next((line for line in text.split("\n") if line.strip() and not line.startswith("#")), "")
    delimiter = "\t" if "\t" in first else ","  # told by the first row: a scores TSV starts with '#' lines
    rows = []
    reader = csv.reader(io.StringIO(text), delimiter=delimiter)
    columns = None  # (gene_a, gene_b, label or None) positions in a microfuse pairs/scores TSV
    for number in itertools.count(1):
        try:
            fields = next(reader, None)
        except csv.Error as exc:  # a field over csv's size limit, an unterminated quote ...
            raise DataError(f"{path}: line {number}: not a CSV/TSV pair list ({exc})") from None
        if fields is None:
            break
        fields = [f.strip() for f in fields]
        if not fields or not any(fields) or fields[0].startswith("#"):
            continue
        if not rows and columns is None and {"gene_a", "gene_b"} <= set(fields):
            columns = (fields.index("gene_a"), fields.index("gene_b"),
                       fields.index("label") if "label" in fields else None)
            continue
        if columns is not None:
            needed = max(i for i in columns if i is not None) + 1
            if len(fields) < needed or not fields[columns[0]] or not fields[columns[1]]:
                raise DataError(f"{path}: line {number}: a row cut short ({len(fields)} of the header's "
                                f"{needed}+ columns, or gene_a/gene_b empty)")
            fields = [fields[i] if i is not None else "" for i in columns]
        elif not rows and (_HEADER.match(fields[0]) or fields == ["pair_id"]):
            continue
        if len(fields) == 1 and fields[0].count("|") == 1:  # a pair_id column (`cut -f1` of a scores TSV): A|B
            fields = fields[0].split("|")
        elif len(fields) == 1 and fields[0].count("|") > 1:  # was 'expected two gene ids, found 1 field(s)'
            raise DataError(f"{path}: line {number}: pair id {fields[0][:60]!r} holds {fields[0].count('|')} '|': "
                            "which two gene ids it joins is ambiguous; name a gene id holding '|' as microfuse's "
                            "tables do (| as %7C), or give the two ids in two columns")
        if len(fields) < 2:
            raise DataError(f"{path}: line {number}: expected two gene ids, found {len(fields)} field(s)")
        label = None
        if len(fields) >= 3:
            try:
                label = parse_label(fields[2])
            except ValueError:
                if number == 1:
                    continue  # header
                raise label_error(path, number, fields[2]) from None
        rows.append((fields[0], fields[1], label))
    if not rows:
        raise DataError(f"{path}: no pairs")
    return rows


def read_operon_table(path: PathLike) -> list[list[str]]:
    """Known operons/transcription units as lists of gene names.

    Accepts the ODB known-operon table (column ``op``), RegulonDB OperonSet/TUSet (gene names in the
    column after the operon/TU name), a plain ``operon_id<TAB>gene,gene,...`` table, and microfuse's own
    operon outputs (the ``--operons-tsv`` table, column ``genes``, and the ``--operons-gff`` GFF3), so one run's
    operons label the pairs of another.
    """
    text = read_text(path)
    if text.startswith("##gff-version"):
        from .gff import read_operons_gff

        return read_operons_gff(text.split("\n"), path)
    lines = [line for line in text.split("\n") if line.strip() and not line.startswith("#")]
    if not lines:
        raise DataError(f"{path}: empty operon table")
    header = lines[0].split("\t")
    units: list[list[str]] = []
    if "op" in header or {"operon_id", "genes"} <= set(header):  # ODB, microfuse's --operons-tsv
        column = header.index("op" if "op" in header else "genes")
        for line in lines[1:]:
            fields = line.split("\t")
            if len(fields) > column and fields[column].strip():
                units.append([g.strip() for g in fields[column].split(",") if g.strip()])
    elif len(header) >= 7 and header[3] in ("forward", "reverse"):  # RegulonDB OperonSet
        for line in lines:
            fields = line.split("\t")
            if len(fields) > 5:
                units.append([g.strip() for g in fields[5].split(",") if g.strip()])
    elif len(header) >= 4 and header[0].startswith("ECK"):  # RegulonDB TUSet
        for line in lines:
            fields = line.split("\t")
            if len(fields) > 3:
                units.append([g.strip() for g in fields[3].split(",") if g.strip()])
    elif len(header) == 2:
        start = 1 if "," not in header[1] and not header[1].strip() else 0
        for line in lines[start:]:
            fields = line.split("\t")
            if len(fields) != 2:
                raise DataError(f"{path}: expected operon_id<TAB>gene,gene,... lines")
            units.append([g.strip() for g in fields[1].split(",") if g.strip()])
        if units and len(units[0]) == 1 and units[0][0].lower() in ("genes", "members"):
            units = units[1:]
    else:
        raise DataError(f"{path}: unrecognised operon table (expected ODB, RegulonDB, operon_id<TAB>genes, "
                        "or microfuse's operon TSV or GFF3)")
    if not units:
        raise DataError(f"{path}: no operons found")
    return units


# ------------------------------------------------------------------------------------------------ pairs TSV


def _strand(strand: int) -> str:
    return "+" if strand > 0 else "-"


def pair_row(pair) -> list:
    """The pairs columns of one pair (a ``pairs.GenePair``)."""
    a, b = pair.gene_a, pair.gene_b
    return [
        pair.pair_id, pair.scaffold, a.id, b.id, a.start, a.end, _strand(a.strand), b.start, b.end,
        _strand(b.strand), pair.distance, int(pair.same_strand), a.length, b.length, pair.directon,
        pair.genes_between,
    ]


def pair_header(pairs: Sequence) -> list[str]:
    header = PAIR_COLUMNS + EXTRA_COLUMNS
    if any(p.label is not None for p in pairs):
        header = header + ["label"]
    if any(p.split is not None for p in pairs):
        header = header + ["split"]
    return header


def pair_rows(pairs: Sequence, header: list[str]) -> Iterable[list]:
    with_label, with_split = "label" in header, "split" in header
    for p in pairs:
        row = pair_row(p)
        if with_label:
            row.append("" if p.label is None else p.label)
        if with_split:
            row.append(p.split or "")
        yield row


def write_pairs(handle, pairs: Sequence, comments: Sequence[str] = ()) -> int:
    """``#`` ``comments`` (pairs.pairs_comments: the genome and how its genes were found), then the pairs columns."""
    for line in comment_lines(comments):
        handle.write(f"#{line}\n")
    header = pair_header(pairs)
    return write_tsv(handle, header, pair_rows(pairs, header))


def read_pair_table(path: PathLike) -> tuple[list[tuple], dict[str, list[str]], list[str]]:
    """Read a pairs TSV written by ``microfuse pairs``: one ``pairs.GenePair`` field tuple per row (genes carry
    coordinates, no protein), the extra columns as strings, and its leading ``#`` lines (a scores table's
    ``#microfuse`` line names the model that scored it)."""
    comments, header, rows, numbers = read_numbered_tsv(path, required=PAIR_COLUMNS)  # messages: file lines
    col = {name: i for i, name in enumerate(header)}
    pairs = []
    seen = set()
    for number, r in zip(numbers, rows):
        if r == header:  # `tail -n +2` of a table under '#' lines (as `microfuse pairs` writes) keeps its header
            raise DataError(f"{path}: line {number}: a second header line (tables joined? keep one header and no "
                            "'#' lines: grep -hv '^#' a.tsv b.tsv | awk 'NR == 1 || $1 != \"pair_id\"')")
        try:
            a = Gene(r[col["gene_a"]], r[col["scaffold"]], int(r[col["start_a"]]), int(r[col["end_a"]]),
                     1 if r[col["strand_a"]] == "+" else -1)
            b = Gene(r[col["gene_b"]], r[col["scaffold"]], int(r[col["start_b"]]), int(r[col["end_b"]]),
                     1 if r[col["strand_b"]] == "+" else -1)
            distance = int(r[col["distance"]])
            try:  # the rule of --labels lists and evaluate's scores tables (was: int(), so 1.0 or yes was 'bad value')
                label_value = parse_label(r[col["label"]]) if "label" in col else None
            except ValueError:
                raise label_error(path, number, r[col["label"]]) from None
            for gene, strand in ((a, r[col["strand_a"]]), (b, r[col["strand_b"]])):
                if strand not in ("+", "-") or not 1 <= gene.start <= gene.end:
                    raise ValueError(f"gene {gene.id!r} at {gene.start}..{gene.end} strand {strand!r}")
            directon = int(r[col["directon"]]) if "directon" in col else 0
            between = int(r[col["genes_between"]]) if "genes_between" in col else 0
        except ValueError as exc:
            raise DataError(f"{path}: line {number}: bad value ({exc})") from None
        pair_id = f"{a.id}|{b.id}"
        if pair_id in seen:
            raise DataError(f"{path}: line {number}: duplicate pair {pair_id}")
        seen.add(pair_id)
        pairs.append((r[col["scaffold"]], a, b, distance, directon, between, label_value,
                      (r[col["split"]] or None) if "split" in col else None))
    known = set(PAIR_COLUMNS + EXTRA_COLUMNS + ["label", "split"])
    extra = {name: [r[i] for r in rows] for name, i in col.items() if name not in known}
    return pairs, extra, comments  # a header alone is what `pairs` writes for a genome without genes (a tiny bin)


# ------------------------------------------------------------------------------------------------ scores


def write_scores(handle: IO[str], scores, extra: dict[str, np.ndarray] | None = None,
                 comments: Sequence[str] = ()) -> int:
    """``#`` ``comments``, then the pairs columns, probability, operon_pair and the four router weights (then
    ``extra`` columns).

    Raises:
        UsageError: ``handle`` not an open text file (a path), ``scores`` not the Scores score_genome returns.
    """
    require_text_handle(handle, "write_scores")
    if not all(hasattr(scores, name) for name in ("pairs", "probability", "calls", "router_weights")):
        raise UsageError(f"write_scores takes the Scores score_genome returns, not {type(scores).__name__}")
    extra = extra or {}
    for line in comment_lines(comments):
        handle.write(f"#{line}\n")
    header = pair_header(scores.pairs) + ["probability", "operon_pair"] + ROUTER_COLUMNS + list(extra)
    # formatted column by column from Python floats: numpy scalars format several times slower, row by row
    probability = [f"{p:.6f}" for p in scores.probability.tolist()]
    calls = scores.calls.tolist()  # 0 on opposite strands, whatever the model's probability
    if scores.router_weights is None:
        weights = [[None] * 4] * len(scores.pairs)
    else:
        weights = [[None if w != w else f"{w:.4f}" for w in row] for row in scores.router_weights.tolist()]
    extras = [[_number(v) for v in column] for column in extra.values()]

    def rows():
        for i, row in enumerate(pair_rows(scores.pairs, header)):
            yield row + [probability[i], calls[i]] + weights[i] + [column[i] for column in extras]

    return write_tsv(handle, header, rows())


def as_written(values, decimals: int):
    """``values`` as a table written with ``decimals`` decimals reads them back (float64): Python's correctly rounded
    formatting, which ``np.round`` (a scaled multiply) misses on near-ties, so results built in memory equal the
    file route's exactly."""
    import numpy as np

    return np.array([float(f"{v:.{decimals}f}") for v in np.asarray(values, dtype=np.float64).ravel().tolist()],
                    dtype=np.float64).reshape(np.shape(values))


def _number(value) -> str:
    """An --explain cell: integers as such, floats with 4 decimals."""
    import numpy as np  # only here: `microfuse pairs` writes tables without importing numpy

    if isinstance(value, (int, np.integer)):
        return str(int(value))
    return "" if np.isnan(value) else f"{float(value):.4f}"


def fused_writers(path: PathLike, scores, genome_name: str) -> list:
    """The ``(path, mode, write)`` of `score --fused path` (``outputs.write_outputs``, in one set with the run's other
    outputs): fused vectors h as FILE.npy and their ids as FILE.ids.tsv (pair_id scaffold genome label probability),
    whose first line records the model's identity (retrieve.models: `retrieve` never compares vectors of two
    models) and the SHA-256 and shape of FILE.npy as written (retrieve.ids.read_vectors refuses vectors that are
    not those: the two renamed into place one after the other, a run killed between the renames left new vectors
    beside the previous run's ids, which `retrieve build` paired row by row when their counts matched). The ids
    come last: a caller puts them after every other output, so they are renamed into place last."""
    import hashlib

    vectors, ids = fused_files(path, scores)
    digest = hashlib.sha256()
    written: list[str] = []  # the vectors' digest, once they are written

    def write_vectors(handle) -> None:
        write_fused_vectors(handle, scores, digest)
        written.append(digest.hexdigest())

    def write_ids(handle) -> None:  # vectors into a stream (a FIFO FILE.npy) are written after the files: hashed here
        write_fused_ids(handle, scores, genome_name, written[0] if written else fused_sha256(scores))

    return [(vectors, "wb", write_vectors), (ids, "w", write_ids)]


def fused_files(path: PathLike, scores) -> tuple[Path, Path]:
    """The two files of ``--fused path``: a caller writing other outputs puts them in its own set
    (``outputs.write_outputs``), so that a failure never leaves new scores beside the previous run's vectors."""
    if scores.fused is None:
        raise DataError("this model gives no fused vectors (a baseline?)")
    path = Path(path)
    if path.suffix != ".npy":
        raise UsageError(f"--fused takes a .npy path, not {path}")
    return path, path.with_suffix(".ids.tsv")


def _fused_array(scores):
    import numpy as np

    return np.ascontiguousarray(scores.fused, dtype=np.float32)


def write_fused_vectors(handle: IO[bytes], scores, digest=None) -> None:
    """FILE.npy of `score --fused`; ``digest`` (hashlib) is updated with its bytes as written."""
    save_npy(handle, _fused_array(scores), digest=digest)


def fused_sha256(scores) -> str:
    """The SHA-256 of the FILE.npy that ``write_fused_vectors`` writes, without writing it."""
    import hashlib

    digest = hashlib.sha256()
    save_npy(_Discard(), _fused_array(scores), digest=digest)
    return digest.hexdigest()


class _Discard:
    def write(self, data) -> int:
        return len(data)


#: The ids table of fused pair vectors: FILE.ids.tsv beside `score --fused`'s FILE.npy, one row per vector in vector
#: order; retrieve.ids.PairIds holds it in memory (from_scores), reads it and writes it into an index.
FUSED_ID_COLUMNS = ("pair_id", "scaffold", "genome", "label", "probability")


def fused_id_rows(scores, genome_name: str) -> Iterator[tuple[str, str, str, int | None, str]]:
    """The rows (``FUSED_ID_COLUMNS``) of the ids of ``scores.fused``: the genome's printable name (--genome-name
    bytes that are not UTF-8 cannot be written), the label (None: unknown) and the probability as written, with 6
    decimals, so that the ids built in memory (PairIds.from_scores) are the file's."""
    genome = printable_name(genome_name)
    for pair, probability in zip(scores.pairs, scores.probability):
        yield pair.pair_id, pair.scaffold, genome, pair.label, f"{probability:.6f}"


def write_fused_ids(handle: IO[str], scores, genome_name: str, vectors_sha256: str | None = None) -> None:
    """The ids table of ``fused_writers``, its first line the model's identity and (``vectors_sha256``: the SHA-256
    of the FILE.npy written with it) its vectors' checksum and shape."""
    from .model_id import model_comment, vectors_comment

    if vectors_sha256 is not None:
        handle.write(vectors_comment(scores.model_id, vectors_sha256, scores.fused.shape))
    elif scores.model_id is not None:
        handle.write(model_comment(scores.model_id))
    handle.write("\t".join(FUSED_ID_COLUMNS) + "\n")
    for pair_id, scaffold, genome, label, probability in fused_id_rows(scores, genome_name):
        handle.write(f"{pair_id}\t{scaffold}\t{genome}\t{'' if label is None else label}\t{probability}\n")


# ------------------------------------------------------------------------------------------------ operons


def write_operons_tsv(handle: IO[str], operons: Sequence, comments: Sequence[str] = ()) -> int:
    """``#`` ``comments`` (the provenance lines of the scores TSV), then one row per operon.

    Raises:
        UsageError: ``handle`` not an open text file (a path), ``operons`` not those call_operons returns.
    """
    require_text_handle(handle, "write_operons_tsv")
    operons = require_operons(operons, "write_operons_tsv")
    for line in comment_lines(comments):
        handle.write(f"#{line}\n")
    handle.write("operon_id\tscaffold\tstart\tend\tstrand\tn_genes\tgenes\tmean_probability\tmin_probability\n")
    for op in operons:
        handle.write(f"{op.id}\t{op.scaffold}\t{op.start}\t{op.end}\t{'+' if op.strand > 0 else '-'}\t{len(op.genes)}\t"
                     f"{','.join(op.genes)}\t{op.mean_probability:.4f}\t{op.min_probability:.4f}\n")
    return len(operons)
