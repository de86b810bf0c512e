"""``microfuse reference``: build a reference set of genomes for conserved-adjacency evidence (`score --reference`)."""

from __future__ import annotations

import click

from . import cli
from ._common import IntRange, cds_left_out, common_options, count, log, stdin_as_file


@cli.group(short_help="Reference genomes for conserved adjacency.", epilog="""\b
Examples:
  microfuse reference build other1.gbk other2.gff.gz,other2.fna.gz -o ref/
  microfuse score genome.gff --fasta genome.fna --reference ref/ --explain -o scores.tsv
""")
def reference():
    """Reference genomes whose gene order is searched for a query pair's homologs (see `reference build`)."""


@reference.command(short_help="Write a reference folder from genomes.", epilog="""\b
Examples:
  microfuse reference build panel/*.gbk -o ref/
  microfuse reference build a.gff.gz,a.fna.gz b.gbk assembly.fna.gz -g 11 -o ref/
""")
@click.argument("genomes", nargs=-1, required=True, metavar="GENOME...")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Reference folder to write.")
@click.option("-g", "--genetic-code", type=IntRange(1, 33), default=None,
              help="Genetic code of CDS without transl_table, and of gene calling on a bare assembly (default: 11, "
                   "or 4 when detected on a bare assembly).")
@click.option("--mode", type=click.Choice(["auto", "single", "meta"]), default="auto", show_default=True,
              help="pyrodigal mode for a bare assembly.")
@common_options
def build(genomes, output, genetic_code, mode, run):
    """Gene order, strands and proteins of each GENOME, written to a reference folder.

    GENOME is a GenBank file, a GFF3 with ##FASTA, a bare assembly (genes are called with pyrodigal) or
    ANNOTATION.gff,ASSEMBLY.fna (a GFF3 and its FASTA joined by a comma); one may be '-' (stdin, named stdin). Each
    file counts as one reference genome, named after the file (a pipe given by descriptor, <(zcat g.gbk.gz), after
    its first sequence). The folder holds proteins.faa, genes.tsv and manifest.json (sha256 checksums, each genome's
    genetic code); it is replaced atomically.
    """
    from ..comparative import ReferenceSet, genetic_codes
    from ..errors import DataError, UsageError
    from ..genome import GenomeOptions, read_genome
    from ..io.outputs import Output, check_outputs
    from ..records import descriptor_stream, genome_name

    parts = [part for spec in genomes for part in spec.split(",") if part]
    check_outputs(parts, [Output("-o", output, "microfuse-reference")])
    # read_genome's names, but a pipe's: its first sequence's id, known once read (refuse_named_alike); its
    # descriptor's number ('63' of <(zcat g.fna.gz)) refused a file of that name (x/63) that it would not be named as
    named = [genome_name(path) for path in (spec.partition(",")[0] for spec in genomes) if not descriptor_stream(path)]
    if len(set(named)) != len(named):  # before reading them all (a batch of hundreds), not after
        twice = next(name for name in named if named.count(name) > 1)
        raise UsageError(f"two GENOME files share the file name {twice}; reference genomes are named after their "
                         "files (link or copy one under another name)")
    loaded, read_from = [], {}
    for spec in genomes:
        path, _, fasta = spec.partition(",")
        with stdin_as_file(path) as readable, run.progress(f"reading {path}", None, "contigs") as advance:
            # named "stdin" in the reference and in messages, as in pairs and score (was '-')
            genome = read_genome(readable, fasta or None, GenomeOptions(mode, genetic_code), threads=run.threads,
                                 progress=advance)
        if genome.genes and not genome.has_sequence and not any(g.protein for g in genome.genes):
            raise DataError(f"{path}: no sequence, so no proteins; give a GFF3 without ##FASTA with its FASTA as "
                            f"{path},ASSEMBLY.fna")
        refuse_named_alike(genome.name, path, read_from)
        codes = ",".join(map(str, genetic_codes(genome)))
        log.info("%s: %s, %d protein-coding genes%s%s", genome.name, count(len(genome.scaffolds), "scaffold"),
                 len(genome.genes), f", genetic code {codes}" if codes else "", cds_left_out(genome))
        loaded.append(genome)
    ref = ReferenceSet.build(loaded)
    ref.save(output)
    log.info("reference of %s, %s written to %s", count(len(ref.genomes), "genome"), count(ref.n_proteins, "protein"),
             output)


def refuse_named_alike(name: str, path: str, read_from: dict[str, str]) -> None:
    """Refuse a genome named as one read before it, as soon as it is read: a pipe given by descriptor
    (`<(zcat a.fna.gz)`) is named after its first sequence, so two drafts whose first contigs share an id (contig_1)
    were refused only once every genome was read, as 'two reference genomes share a name', naming no input and no
    way out. ``read_from``: each name read so far -> its GENOME argument."""
    from ..errors import DataError

    if name in read_from:
        raise DataError(f"{read_from[name]} and {path} both hold a genome named {name} (a genome read from a pipe is "
                        "named after its first sequence); reference genomes need distinct names: give one as a file")
    read_from[name] = path
