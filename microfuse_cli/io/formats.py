"""Which format a genome input is in, from its first meaningful lines (a peeked prefix: stdin is read once)."""

from __future__ import annotations

from ..errors import DataError
from .files import PathLike


def sniff_format(text: str, path: PathLike) -> str:
    """Tell GFF3, GenBank, EMBL, FASTA and pairs TSV apart from the first meaningful line."""
    for line in text.split("\n", 50)[:50]:
        if not line.strip():
            continue
        if line.startswith("##gff-version") or line.startswith("##sequence-region"):
            return "gff"
        if line.startswith("LOCUS ") or line.startswith("LOCUS\t"):
            return "genbank"
        if line.startswith("ID   "):  # ENA's EMBL flat file: the GenBank records in another layout
            return "embl"
        if line.startswith(">"):
            return "fasta"
        if line.startswith("pair_id\t"):
            return "pairs"
        if line.startswith("#"):
            continue
        if line.count("\t") == 8:
            return "gff"
        break
    raise DataError(f"{path}: not a GFF3, GenBank, EMBL or FASTA file (first line: {_preview(text)})")


def _preview(text: str) -> str:
    first = text.strip().split("\n", 1)[0] if text.strip() else "<empty>"
    return repr(first[:40])
