"""FASTA: nucleotide assemblies (one Scaffold per record) and protein FASTA (gene id -> protein), read and written."""

from __future__ import annotations

import itertools
import logging
from typing import IO, Iterable, Iterator

from ..errors import DataError
from ..records import Scaffold
from .files import PathLike, open_text, text_lines

log = logging.getLogger("microfuse")

_NUCLEOTIDES = set("ACGTNRYKMSWBDHV")  # IUPAC DNA; lower case (soft-masked) is upper-cased first
_NUCLEOTIDE_BYTES = "".join(sorted(_NUCLEOTIDES)).encode()


def parse_fasta(lines: Iterable[str], path: PathLike) -> list[tuple[str, str, str]]:
    """Parse nucleotide FASTA lines into (id, description, SEQUENCE) tuples, record by record; refuses empty or
    protein records."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    lines = iter(lines)
    first = next((line for line in lines if line.strip()), None)
    if first is None:
        raise DataError(f"{path}: empty file")
    if not first.lstrip().startswith(">"):
        raise DataError(f"{path}: not a FASTA file (first line: {_first_line_preview(first, lines)})")
    records = []
    seen = set()
    empty = None  # a record without sequence: its warning says "truncated?" when no record follows it
    for title, seq in SimpleFastaParser(itertools.chain([first], lines)):
        if empty is not None:
            _warn_empty(path, empty, last=False)
            empty = None
        ident = title.split(None, 1)[0] if title.strip() else ""
        if not ident:
            raise DataError(f"{path}: a FASTA record has an empty header")
        if ident in seen:
            raise DataError(f"{path}: duplicate sequence id {ident!r}")
        seen.add(ident)
        seq = seq.replace(" ", "").upper()
        if not seq:  # one empty record (a filtered contig) should not reject the whole assembly
            empty = (ident, title)
            continue
        # bytes.translate deletes the allowed letters in C: a set() of a 5 Mbp string took longer than pyrodigal's
        # own parsing
        if seq.isascii():
            bad = set(seq.encode().translate(None, _NUCLEOTIDE_BYTES).decode())
        else:
            bad = set(seq) - _NUCLEOTIDES
        if bad:
            raise DataError(f"{path}: record {ident!r} {_not_dna(bad)}")
        records.append((ident, title, seq))
    if empty is not None:
        _warn_empty(path, empty, last=True)
    if not records:
        raise DataError(f"{path}: no FASTA records{' with a sequence' if seen else ''}")
    return records


def _warn_empty(path, record: tuple[str, str], *, last: bool) -> None:
    """A record without sequence is skipped; on the file's last line (its header unindented) it hints truncation."""
    ident, title = record
    hint = " (the file ends on it: truncated?)" if last and title == title.lstrip() else ""
    log.warning("%s: record %r has no sequence%s; skipped", path, ident, hint)


def _first_line_preview(first: str, rest: Iterator[str]) -> str:
    """``formats._preview`` of a whole input from its first non-blank line: trailing blanks count unless it is the
    last non-blank line."""
    line = first.lstrip().rstrip("\n")
    if not any(other.strip() for other in rest):
        line = line.rstrip()
    return repr(line[:40])


def _not_dna(bad: set[str]) -> str:
    """Why a sequence is not DNA, from the characters that are not IUPAC DNA."""
    letters = "".join(sorted(bad))[:10]
    if len(bad & set("EFILPQ")) >= 2:
        return f"holds protein characters ({letters}): expected DNA"
    if "U" in bad and len(bad) == 1:
        return "is RNA (holds U): give the DNA sequence (U -> T, e.g. `tr U T`)"
    return f"holds non-nucleotide characters ({letters}): expected DNA"


def _fasta_circular(description: str) -> bool:
    lowered = description.lower()
    return "topology=circular" in lowered or "circular=true" in lowered or "[circular]" in lowered


def read_fasta_scaffolds(path: PathLike, text: str | Iterable[str] | None = None) -> dict[str, Scaffold]:
    """The records of a nucleotide FASTA as Scaffolds; ``text``: its contents (or lines) when already read."""
    with text_lines(path, text) as lines:
        return {ident: Scaffold(ident, len(seq), seq, _fasta_circular(desc))
                for ident, desc, seq in parse_fasta(lines, path)}


# ------------------------------------------------------------------------------------------------ protein FASTA


def read_proteins(path: PathLike, *, handle: IO[bytes] | None = None) -> dict[str, str]:
    """A protein FASTA (compressed or not, ``-`` = stdin) as id (first word of the header) -> sequence as written.
    An id given twice with two sequences is refused: the last one was taken silently, another gene's protein when
    two headers shared a first word. ``handle``: ``path`` already opened (and hashed), read from there."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    proteins: dict[str, str] = {}
    with open_text(path, handle=handle) as lines:
        for title, seq in SimpleFastaParser(lines):
            if not title.strip():
                raise DataError(f"{path}: a FASTA record has an empty header")
            ident = title.split(None, 1)[0]
            if proteins.setdefault(ident, seq) != seq:
                raise DataError(f"{path}: protein {ident!r} is given twice with different sequences (ids are the "
                                "first word of each header)")
    return proteins


def write_proteins(handle: IO[str], records: Iterable[tuple[str, str]], *, width: int | None = 60) -> int:
    """``>id`` and the sequence of each (id, protein), wrapped at ``width`` residues (None: one line); returns the
    number written."""
    n = 0
    for ident, protein in records:
        handle.write(f">{ident}\n")
        if width is None:
            handle.write(protein + "\n")
        else:
            for i in range(0, len(protein), width):
                handle.write(protein[i : i + width] + "\n")
        n += 1
    return n
