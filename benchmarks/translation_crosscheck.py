"""Whether microfuse builds the proteins an annotation means: each CDS's protein as microfuse translates it from its
location and sequence, compared with the protein the annotation itself states.

- GenBank/EMBL files: read as written (each CDS with a /translation takes it) and again with every /translation
  removed (each CDS translated from its location, codon_start, transl_table and transl_except); the two compared
  CDS by CDS, with their coordinates.
- ``--gff GFF[:FASTA]=PROTEINS``: a GFF3 (with ##FASTA, or with FASTA) against the protein FASTA (.faa) or GenBank
  of the same annotation (Prokka's, Bakta's, Prodigal's, pharokka's), by gene id or alias.

Differences are counted by kind: ``stated_start_not_M`` (the stated protein keeps V/L/I for an alternative start
codon, where NCBI and microfuse read Met; pharokka's PHANOTATE genes do), ``excused(...)`` (a CDS with /exception,
/transl_except, /ribosomal_slippage or /artificial_location, whose stated protein may rightly differ), ``DIFFER``
(anything else: a wrong protein, shown).

    python benchmarks/translation_crosscheck.py FILE.gbk [FILE.embl.gz ...] [--gff GFF[:FASTA]=PROTEINS ...]
"""

from __future__ import annotations

import argparse
import io
import logging
import re
from collections import Counter

from microfuse_cli.errors import DataError
from microfuse_cli.genome import read_genome
from microfuse_cli.io.fasta import read_proteins as read_protein_fasta
from microfuse_cli.io.features import stated_protein
from microfuse_cli.io.files import read_text
from microfuse_cli.io.formats import sniff_format
from microfuse_cli.io.genbank import parse_records

#: A /translation qualifier with its continuation lines, in GenBank's and EMBL's layouts.
_TRANSLATION = {"genbank": re.compile(r'^ {21}/translation="[^"]*"\n', re.M),
                "embl": re.compile(r'^FT {19}/translation="[^"]*"\n', re.M)}
_EXCUSES = ("exception", "transl_except", "ribosomal_slippage", "artificial_location")


def excused(text: str, layout: str) -> dict[str, set[str]]:
    """The qualifiers of ``_EXCUSES`` each CDS carries, by locus_tag, gene and protein_id (the records parsed as
    microfuse's GenBank/EMBL reader parses them)."""
    found: dict[str, set[str]] = {}
    for record in parse_records(io.StringIO(text), layout, None):
        for feature in (f for f in record.features if f.type == "CDS"):
            for key in ("locus_tag", "gene", "protein_id"):
                for name in feature.qualifiers.get(key, ()):
                    found.setdefault(name, set()).update(q for q in _EXCUSES if q in feature.qualifiers)
    return found


def kind_of(derived: str, stated: str, excuses: set[str]) -> str:
    if derived == stated:
        return "same"
    if excuses:
        return f"excused({','.join(sorted(excuses))})"
    if derived[:1] == "M" and derived[1:] == stated[1:]:
        return "stated_start_not_M"
    return "DIFFER"


def show(kind: str, gene, derived: str, stated: str) -> None:
    at = next((i for i, (a, b) in enumerate(zip(derived, stated)) if a != b), min(len(derived), len(stated)))
    print(f"  {kind} {gene.id} {gene.scaffold}:{gene.start}..{gene.end} {gene.strand:+d} code {gene.genetic_code} "
          f"partial={gene.partial}: {len(derived)} aa, stated {len(stated)}; from residue {at}: "
          f"{derived[max(at - 5, 0):at + 10]!r} vs {stated[max(at - 5, 0):at + 10]!r}")


def check_flat_file(path: str, shown: int) -> Counter:
    text = read_text(path)  # decompressed, LF line ends, as microfuse reads it
    layout = sniff_format(text, path)
    counts: Counter = Counter()
    if layout not in _TRANSLATION or "/translation=" not in text:
        print(f"{path}: no /translation" if layout in _TRANSLATION else f"{path}: {layout}, not GenBank/EMBL")
        return counts
    stated = {g.id: g for g in read_genome(path, text=text).genes}
    derived = {g.id: g for g in read_genome(path, text=_TRANSLATION[layout].sub("", text)).genes}
    excuses = excused(text, layout)
    for name, gene in stated.items():
        other = derived.get(name)
        if other is None:
            counts["lost_without_translation"] += 1
            continue
        counts["cds"] += 1
        counts["coordinates_differ"] += (other.start, other.end, other.strand) != (gene.start, gene.end, gene.strand)
        kind = kind_of(other.protein, gene.protein, next((excuses[a] for a in gene.aliases if a in excuses), set()))
        counts[kind] += 1
        if kind == "DIFFER" and counts[kind] <= shown:
            show(kind, other, other.protein, gene.protein)
    print(f"{path}: {dict(counts)}")
    return counts


def read_proteins(path: str) -> dict[str, str]:
    """The proteins of a protein FASTA (microfuse's reader; a trailing stop dropped and an inside one read as X, as
    microfuse reads a stated protein), else of an annotation (its stated proteins)."""
    if not path.endswith((".faa", ".faa.gz", ".fasta", ".fa")):
        return {g.id: g.protein for g in read_genome(path).genes}
    return {name: stated_protein(protein).replace("*", "X") for name, protein in read_protein_fasta(path).items()}


def check_gff(spec: str, shown: int) -> Counter:
    files, _, reference = spec.partition("=")
    gff, _, fasta = files.partition(":")
    genes = read_genome(gff, fasta or None).genes
    by_name = {alias: g for g in genes for alias in (*g.aliases, g.id)}
    counts: Counter = Counter(genes=len(genes))
    for name, protein in read_proteins(reference).items():
        gene = by_name.get(name)
        if gene is None:
            counts["not_a_gene"] += 1
            continue
        counts["cds"] += 1
        kind = kind_of(gene.protein, protein, set())
        counts[kind] += 1
        if kind == "DIFFER" and counts[kind] <= shown:
            show(kind, gene, gene.protein, protein)
    print(f"{gff} vs {reference}: {dict(counts)}")
    return counts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("files", nargs="*", help="GenBank/EMBL files (.gz too) with /translation")
    parser.add_argument("--gff", action="append", default=[], metavar="GFF[:FASTA]=PROTEINS")
    parser.add_argument("--show", type=int, default=5, help="differing CDS shown per file")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="  microfuse: %(message)s")
    total: Counter = Counter()
    for check, inputs in ((check_flat_file, args.files), (check_gff, args.gff)):
        for one in inputs:
            try:
                total += check(one, args.show)
            except DataError as exc:  # microfuse's one-line refusal of a file, counted
                print(f"{one}: refused: {exc}")
                total["files_refused"] += 1
    print("total", dict(total))


if __name__ == "__main__":
    main()
