"""Plain TSV tables with one header line: the format of every table microfuse writes."""

from __future__ import annotations

import math
from typing import IO

from ..errors import DataError, UsageError
from .files import PathLike, read_text


def comment_lines(comments) -> list[str]:
    """The ``#`` lines of an output, one per item of ``comments`` (header_comments' list): a single string,
    which would have been written one character a line, is refused."""
    if isinstance(comments, (str, bytes)):
        raise UsageError("comments are a list of lines (score.header_comments gives one), not one string")
    return [str(line) for line in comments]


def require_text_handle(handle, function: str) -> None:
    """Refuse, before anything is written, a path or a binary file where an open text file belongs: a path was an
    AttributeError ('write'), a binary file a TypeError after part of the output."""
    import io

    if not callable(getattr(handle, "write", None)) or isinstance(handle, (io.RawIOBase, io.BufferedIOBase)):
        what = "a binary file" if callable(getattr(handle, "write", None)) else type(handle).__name__
        raise UsageError(f"{function} writes to an open text file (open(path, 'w'), sys.stdout), not {what}")


#: What an operon is read through by the writers (score.Operon; this module sits below score.py).
OPERON_FIELDS = ("id", "scaffold", "start", "end", "strand", "genes", "mean_probability", "min_probability")


def require_operons(operons, function: str) -> list:
    """``operons`` as a list, refused (UsageError) unless each is an operon (``call_operons`` gives them): Scores, a
    gene id or a bare list were an AttributeError or TypeError, after the header was written. Listed before it is
    looked through: a generator (a filter of call_operons' list) is read once."""
    if isinstance(operons, (str, bytes)) or not hasattr(operons, "__iter__"):
        raise UsageError(f"{function} takes the operons call_operons returns, not {type(operons).__name__}")
    operons = list(operons)
    stray = next((op for op in operons if not all(hasattr(op, name) for name in OPERON_FIELDS)), None)
    if stray is not None:
        raise UsageError(f"{function} takes the operons call_operons returns, not {type(stray).__name__} "
                         f"{stray!r:.40}")
    return operons


def write_tsv(handle: IO[str], header: list[str], rows) -> int:
    """Write a header line and rows as TSV; returns the number of rows written."""
    handle.write("\t".join(header) + "\n")
    n = 0
    for row in rows:
        handle.write("\t".join(_fmt(v) for v in row) + "\n")
        n += 1
    return n


def _fmt(value) -> str:
    """A TSV field; missing (None) and not computable (NaN) are both empty, as in every microfuse table."""
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def read_tsv(path: PathLike, *, required: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """Read a TSV with one header line (lines starting with ``#`` before it are skipped)."""
    return read_commented_tsv(path, required=required)[1:]


def read_commented_tsv(path: PathLike, *, required: list[str] | None = None):
    """``(comments, header, rows)`` of a TSV read once (``-`` can be read only once): ``comments`` are its leading
    ``#`` lines (the ``#microfuse`` provenance of microfuse's tables), the rest as ``read_tsv`` gives it."""
    return read_numbered_tsv(path, required=required)[:3]


def read_numbered_tsv(path: PathLike, *, required: list[str] | None = None):
    """``(comments, header, rows, numbers)``: ``read_commented_tsv``'s and each row's line in the file (1-based,
    counting the ``#`` and blank lines skipped), so a message names the line an editor or ``sed -n`` shows."""
    text = read_text(path)
    every = text.split("\n")
    comments = []
    for line in every:
        if not line.startswith("#"):
            break
        comments.append(line.rstrip("\r"))
    lines = [(number, line) for number, line in enumerate(every, start=1) if line and not line.startswith("#")]
    if not lines:
        raise DataError(f"{path}: empty table")
    header = lines[0][1].split("\t")
    missing = [c for c in (required or []) if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    rows, numbers = [], []
    for number, line in lines[1:]:
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataError(f"{path}: line {number} has {len(fields)} fields, header has {len(header)}")
        rows.append(fields)
        numbers.append(number)
    return comments, header, rows, numbers
