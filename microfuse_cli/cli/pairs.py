"""``microfuse pairs``: genome -> candidate gene pairs (TSV), optionally labelled and split."""

from __future__ import annotations

import dataclasses

import click

from . import cli
from ._common import check_bins, common_options, genome_options, input_argument, load_genome, log, output_option, \
    pair_selection_options, stdin_as_file


@cli.command(short_help="Candidate gene pairs of a genome (TSV).", epilog="""\b
Examples:
  microfuse pairs genome.gff.gz --fasta genome.fna.gz -o pairs.tsv
  microfuse pairs assembly.fna --proteins genes.faa > pairs.tsv
  microfuse pairs genome.gbk --operons known_operons.tsv --split 0.7,0.15,0.15
  microfuse pairs genome.gff --pairs my_pairs.csv
""")
@input_argument()
@genome_options
@pair_selection_options
@output_option("Pairs TSV ('-' = stdout).")
@click.option("--proteins", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Also write the proteins (FASTA, ids = gene ids; '-' = stdout).")
@click.option("--bins", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="scaffold<TAB>bin table (e.g. DAS Tool contig2bin; '-' = stdin): call the genes of a bare "
                   "assembly per bin (--mode auto: each bin its own mode and genetic code), as `score --bins` and "
                   "`embed --bins` do, so their genes and pairs match; unlisted scaffolds are pooled.")
@common_options
def pairs(input, fasta, read_as, selection, output, proteins, bins, run):
    """Candidate gene pairs of a genome, one TSV row per pair.

    INPUT is a GFF3 (with ##FASTA or --fasta), a GenBank or EMBL file or a bare nucleotide FASTA (genes are then
    called with pyrodigal); gzip/bzip2/xz are read transparently, '-' is stdin. By default every pair of consecutive
    protein-coding genes on a scaffold, both strands; on a circular sequence the last and first gene pair up.
    Coordinates are 1-based inclusive; distance is the spacer in bp (negative = overlap).

    Output columns: pair_id (gene_a|gene_b), scaffold, gene_a, gene_b, start_a end_a strand_a, start_b end_b
    strand_b, distance, same_strand (1 or 0), length_a length_b (bp), directon (0-based index, on its scaffold, of
    the run of same-strand genes holding both genes; -1 for opposite strands or a pair across the origin),
    genes_between (genes between the two: 0 for neighbours, more for a --pairs pair), then label (1, 0 or empty)
    with --operons/--labels/--label-rule and split with --split. Above the header, '#' lines: '#microfuse
    VERSION pairs genome=NAME' (INPUT's file name, or a pipe's given by descriptor, <(zcat g.gff.gz), its first
    sequence's id, which `embed` and `score` of the table then name the genome by, as they name INPUT itself),
    '#genes source=... genetic_code=...' (how the genes were found, which `score` of the table writes in its
    header), on a draft '#partial_genes count=N' (the genome's genes cut by a contig's
    edge, so `embed` and `score` of the table leave its contigs under 2,000 bp out of the spacer calibration, as of
    INPUT), with --labels/--pairs that leave out some adjacent pair '#subset of=N pairs' (N: the genome's adjacent
    pairs; the table holds only its pairs' genes, so `embed` and `score` of it calibrate and compute context over
    those alone, and say so) and, for each scaffold of the pairs whose sequence was read, '#scaffold length=N
    topology=circular|linear id=ID' (ID to the line's end), or, read without it, '#scaffold_length length=N
    topology=circular|linear id=ID' where the annotation states its length ('##sequence-region ID 1 N', else a
    region row 1..N, unless N is where its last feature ends; Prodigal's 'seqlen='; a GenBank LOCUS line), against
    which `embed` and `score` of the table check their --fasta, or 'at_least=N' for 'length=N' where it gives a
    bound only (a '##sequence-region' ending where the last feature ends, the length GenomeTools makes up, or not
    starting at 1; the genes' extent of a circular scaffold, or of one whose genes in the table end sooner, as a
    subset's may), which they take as its length without --fasta, as for INPUT, and do not check. Its topology is
    the annotation's (Is_circular, a CDS joined across the origin, --circular/--linear): a subset lacking the pair
    that closes a circle stays circular, and a linear scaffold shorter than a gene's end is refused (an older
    table's line without a topology reads as before). With --circular/--linear of INPUT read without its sequence,
    last, '#topology forced=circular|linear': `embed` and `score` of the table keep it over a --fasta header
    (circular=true), as the option does for INPUT. Every microfuse reader skips leading '#' lines.
    """
    from ..errors import DataError
    from ..records import NO_SEQUENCE_HINT
    from ..io.fasta import write_proteins
    from ..io.outputs import Output, check_outputs, write_outputs
    from ..io.tables import write_pairs
    from ..pairs import pairs_comments

    check_outputs([input, fasta, *selection.inputs, bins], [Output("-o", output), Output("--proteins", proteins)])
    if bins is not None:  # genes are called per bin, as in score and embed (genes.call_genes_per_bin)
        from ..calibration import read_groups

        read_as = dataclasses.replace(read_as, bins=read_groups(bins))
    with stdin_as_file(input) as readable:  # messages name it "stdin"
        genome = load_genome(run, readable, fasta, read_as)
    if bins is not None:  # as score: a table of another assembly is refused, missing scaffolds are said
        check_bins(bins, dict(read_as.bins), genome)
    selected = selection.select(genome)
    lacking = next((g.id for g in genome.genes if not g.protein), None) if proteins else None
    if lacking is not None and not genome.has_sequence:  # a GenBank's /translation gives proteins without it
        raise DataError.naming(f"{genome.name} has no sequence and gene {lacking} no protein (", *NO_SEQUENCE_HINT, ")")
    records = ((gene.id, gene.protein) for gene in genome.genes)
    writers = [(proteins, "w", lambda h: write_proteins(h, records))] if proteins else []
    # embed and score of the table name its genome and genes as of it, and keep a forced topology
    comments = pairs_comments(genome, selected, circular=read_as.circular)
    writers.append((output, "w", lambda h: write_pairs(h, selected, comments)))
    # the pairs and their proteins are one output (embed reads them together): neither file replaces its previous
    # version before both are written
    write_outputs(writers)
    log.info("%d pairs written to %s", len(selected), "stdout" if output == "-" else output)
