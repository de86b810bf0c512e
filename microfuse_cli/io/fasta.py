"""FASTA: nucleotide assemblies (one Scaffold per record) and protein FASTA (gene id -> protein), read and written."""

from __future__ import annotations

import io
import warnings
from typing import IO, Iterable

from ..errors import DataError
from ..records import Scaffold
from .files import PathLike, read_text
from .formats import _preview

_NUCLEOTIDES = set("ACGTNRYKMSWBDHV")  # IUPAC DNA; lower case (soft-masked) is upper-cased first
_NUCLEOTIDE_BYTES = "".join(sorted(_NUCLEOTIDES)).encode()


def parse_fasta(text: str, path: PathLike) -> list[tuple[str, str, str]]:
    """Parse nucleotide FASTA into (id, description, SEQUENCE) tuples; refuses empty or protein records."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    if not text.strip():
        raise DataError(f"{path}: empty file")
    if not text.lstrip().startswith(">"):
        raise DataError(f"{path}: not a FASTA file (first line: {_preview(text)})")
    records = []
    seen = set()
    trailing = _trailing_header(text)
    for title, seq in SimpleFastaParser(io.StringIO(text)):
        ident = title.split(None, 1)[0] if title.strip() else ""
        if not ident:
            raise DataError(f"{path}: a FASTA record has an empty header")
        if ident in seen:
            raise DataError(f"{path}: duplicate sequence id {ident!r}")
        seen.add(ident)
        seq = seq.replace(" ", "").upper()
        if not seq:  # one empty record (a filtered contig) should not reject the whole assembly
            hint = " (the file ends on it: truncated?)" if title == trailing else ""
            warnings.warn(f"{path}: record {ident!r} has no sequence{hint}; skipped")
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
    if not records:
        raise DataError(f"{path}: no FASTA records{' with a sequence' if seen else ''}")
    return records


def _trailing_header(text: str) -> str | None:
    """The title of a header on the last line (a file cut short after it?), else None."""
    last = text.rstrip().rsplit("\n", 1)[-1]
    return last[1:].strip() if last.startswith(">") else None


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


def read_fasta_scaffolds(path: PathLike, text: str | None = None) -> dict[str, Scaffold]:
    text = read_text(path) if text is None else text
    return {
        ident: Scaffold(ident, len(seq), seq, _fasta_circular(desc)) for ident, desc, seq in parse_fasta(text, path)
    }


# ------------------------------------------------------------------------------------------------ protein FASTA


def read_proteins(path: PathLike) -> dict[str, str]:
    """A protein FASTA (compressed or not, ``-`` = stdin) as id (first word of the header) -> sequence as written."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    return {title.split(None, 1)[0]: seq for title, seq in SimpleFastaParser(io.StringIO(read_text(path)))}


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
