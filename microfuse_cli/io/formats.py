"""Which format a genome input is in, from its first meaningful lines (a peeked prefix: stdin is read once)."""

from __future__ import annotations

import re

from ..errors import DataError
from .files import PathLike


def sniff_format(text: str, path: PathLike) -> str:
    """Tell GFF3, GenBank, EMBL, FASTA and pairs TSV apart from the first meaningful line (after the header of a
    GenBank release file, which Biopython's parser skips)."""
    release = False
    for line in text.split("\n", 50)[:50]:
        if not line.strip():
            continue
        if release and not line.startswith("LOCUS"):  # a release's header: its name, date, number, division, counts
            continue
        if _RELEASE_HEADER.match(line):
            release = True
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
    if release:
        raise DataError(f"{path}: a GenBank release file's header without a LOCUS line after it (the release notes, "
                        "gbrel.txt?); give a sequence file of the release (gbbct1.seq) or a GenBank record")
    raise DataError(f"{path}: not a GFF3, GenBank, EMBL or FASTA file (first line: {_preview(text)})")


#: The first line of every file of an NCBI GenBank release (``GBBCT1.SEQ          Genetic Sequence Data Bank``),
#: before the name of the release, its date, division and counts; the first LOCUS line follows.
_RELEASE_HEADER = re.compile(r"^GB\w+\.(?:SEQ|TXT|IDX)\s+Genetic Sequence Data Bank\s*$", re.IGNORECASE)


def _preview(text: str) -> str:
    first = text.strip().split("\n", 1)[0] if text.strip() else "<empty>"
    return repr(first[:40])
