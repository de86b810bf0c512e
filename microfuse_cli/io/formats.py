"""Which format a genome input is in, from its first meaningful lines (a peeked prefix: stdin is read once)."""

from __future__ import annotations

import io
import re

from ..errors import FASTA, DataError
from .files import PathLike
from .gff import gff_row


def sniff_format(text: str, path: PathLike) -> str:
    """Tell GFF3, GenBank, EMBL, FASTA and pairs TSV apart from the first meaningful line (after the header of a
    GenBank release file, which Biopython's parser skips)."""
    release = False
    _refuse_gene_caller_output(text.split("\n", 50)[:50], path)
    looked = 0
    for line in io.StringIO(text, newline="\n"):  # lazily: '#' lines are not counted (a pairs TSV of a
        line = line.removesuffix("\n")  # metagenome has thousands, a '#scaffold' line per contig, above its header)
        looked += not line.startswith("#")
        if looked > 50:
            break
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
        if gff_row(line) is not None:  # as read_gff reads it: a stray trailing tab dropped, a 10th set aside
            return "gff"
        break
    if release:
        raise DataError(f"{path}: a GenBank release file's header without a LOCUS line after it (the release notes, "
                        "gbrel.txt?); give a sequence file of the release (gbbct1.seq) or a GenBank record")
    raise DataError(f"{path}: not a GFF3, GenBank, EMBL or FASTA file (first line: {_preview(text)})")


#: The first line of every file of an NCBI GenBank release (``GBBCT1.SEQ          Genetic Sequence Data Bank``),
#: before the name of the release, its date, division and counts; the first LOCUS line follows.
_RELEASE_HEADER = re.compile(r"^GB\w+\.(?:SEQ|TXT|IDX)\s+Genetic Sequence Data Bank\s*$", re.IGNORECASE)


#: What other gene callers write instead of GFF3, each told by a line of its first ones, and what to give instead
#: (``errors.MicrofuseError.naming`` parts).
_GENE_CALLER_OUTPUTS = (
    (re.compile(r"^DEFINITION  seqnum=\d+;seqlen=\d+;"), ("Prodigal's GenBank-like output (-f gbk, its default), "
     "which has no LOCUS line and no sequence; run prodigal with -f gff and give that GFF3 with ", FASTA)),
    (re.compile(r"^>\d+_\d+_\d+_[+-]\s*$"), ("Prodigal's simple coordinate output (-f sco), which has no gene "
     "names and no sequence; run prodigal with -f gff and give that GFF3 with ", FASTA)),
    (re.compile(r"^\S+\s+\d+\s+\d+\s+[+-][123]\s+-?\d+(?:\.\d+)?\s*$"), ("Glimmer3's gene predictions "
     "(.predict), which hold no sequence; give a GFF3 of them with ", FASTA, ", or the assembly itself (genes are "
     "then called with pyrodigal)")),
    (re.compile(r"^#?\s*GeneMark\.hmm.*(?:LST|PROKARYOTIC \(Version)"), ("GeneMark's LST output; run it writing "
     "GFF (gms2.pl --format gff, gmhmmp2 --format gff, gmhmmp -f G) and give that with ", FASTA)),
)


def _refuse_gene_caller_output(lines: list[str], path: PathLike) -> None:
    """A gene caller's own output format (``_GENE_CALLER_OUTPUTS``) named in the error, with what to give instead:
    Prodigal's .sco and Glimmer's .predict have FASTA-like ``>`` lines and would be refused as broken FASTA."""
    for line in lines:
        for pattern, what in _GENE_CALLER_OUTPUTS:
            if pattern.match(line):
                raise DataError.naming(f"{path}: ", *what)


def _preview(text: str) -> str:
    first = text.strip().split("\n", 1)[0] if text.strip() else "<empty>"
    return repr(first[:40])
