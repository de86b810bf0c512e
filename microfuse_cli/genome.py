"""A genome with its protein-coding genes from any supported input: an annotation (GFF3, GenBank) or a bare assembly
(FASTA), whose genes pyrodigal calls. The formats themselves are read in ``io/``; the records are in records.py.
"""

from __future__ import annotations

from pathlib import Path

from .errors import DataError, UsageError
from .io.fasta import read_fasta_scaffolds
from .io.files import PathLike, read_text
from .io.formats import sniff_format
from .io.genbank import read_genbank
from .io.gff import read_gff
from .records import Gene, Genome, Scaffold, safe_id  # noqa: F401  (also imported from here)


# ------------------------------------------------------------------------------------------------ entry point


def read_genome(
    path: PathLike,
    fasta: PathLike | None = None,
    *,
    mode: str = "auto",
    genetic_code: int | None = None,
    threads: int = 1,
    circular: bool | None = None,
    progress=None,
    on_gene_calling=None,
    text: str | None = None,
) -> Genome:
    """Read any supported input into a Genome with genes; a bare FASTA gets genes called by pyrodigal.

    ``genetic_code``: for an annotation, the code of CDS without a transl_table (default 11); for a bare assembly,
    pyrodigal's table (default: 11, or 4 when the assembly codes like a Mycoplasma, see ``genes.call_genes``).
    ``mode`` (auto/single/meta) and ``on_gene_calling`` (see ``genes.call_genes(on_start=)``) only apply to gene
    calling. ``text``: the file's contents when the caller has read them already.
    """
    text = read_text(path) if text is None else text
    if not text.strip():
        raise DataError(f"{path}: empty file")
    kind = sniff_format(text, path)
    if kind != "fasta":
        check_genetic_code(genetic_code)
    if kind == "gff":
        genome = read_gff(path, fasta, text=text, genetic_code=genetic_code)
    elif kind == "genbank":
        if fasta is not None:
            raise UsageError("--fasta is only used with a GFF3 input")
        genome = read_genbank(path, text=text, genetic_code=genetic_code)
    elif kind == "fasta":
        if fasta is not None:
            raise UsageError("--fasta is only used with a GFF3 input; a FASTA input is a bare assembly")
        from .genes import call_genes, check_gene_calling

        check_gene_calling(mode, genetic_code)
        scaffolds = read_fasta_scaffolds(path, text)
        genome = Genome(Path(str(path)).name, scaffolds, [], "pyrodigal")
        genome.genes = call_genes(scaffolds, mode=mode, genetic_code=genetic_code, threads=threads, progress=progress,
                                  on_start=on_gene_calling)
        genome.sort_genes()
    else:
        raise UsageError(f"{path} is a pairs table; this command needs a genome (GFF3, GenBank or FASTA)")
    if circular is not None:
        genome.scaffolds = {sid: Scaffold(s.id, s.length, s.sequence, circular) for sid, s in genome.scaffolds.items()}
    return genome


def check_genetic_code(code: int | None) -> None:
    """Refuse a -g that names no NCBI genetic code (7, 8, 17-20 were never assigned or were withdrawn)."""
    from Bio.Data import CodonTable

    if code is not None and code not in CodonTable.unambiguous_dna_by_id:
        known = sorted(CodonTable.unambiguous_dna_by_id)
        raise UsageError(f"-g {code}: no such NCBI genetic code (known: {_ranges(known)})")


def _ranges(values: list[int]) -> str:
    """1-6, 9-16, 21-33 from a sorted list of integers."""
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)
