"""``microfuse pairs``: genome -> candidate gene pairs (TSV), optionally labelled and split."""

from __future__ import annotations

import click

from . import cli
from ._common import common_options, input_argument, log, output_option, stdin_as_file


def genome_options(func):
    """Options of every command that reads a genome: --fasta, gene-calling mode, genetic code, topology."""
    func = click.option("--circular/--linear", "circular", default=None,
                        help="Force the topology of every sequence (default: from the annotation).")(func)
    func = click.option("-g", "--genetic-code", type=click.IntRange(1, 33), default=None,
                        help="Genetic code: of CDS without transl_table in an annotation (default 11); of gene "
                             "calling on a bare assembly (default: 11, or 4 when detected, as in Mycoplasma).")(func)
    func = click.option("--mode", type=click.Choice(["auto", "single", "meta"]), default="auto", show_default=True,
                        help="pyrodigal mode for a bare assembly: auto picks meta for short/fragmented input.")(func)
    func = click.option("--fasta", type=click.Path(dir_okay=False, allow_dash=False), default=None,
                        help="Nucleotide FASTA for a GFF3 that has no ##FASTA section.")(func)
    return func


def bins_option(func):
    """--bins: fit the per-genome spacer calibration per bin of a metagenome."""
    return click.option("--bins", type=click.Path(dir_okay=False), default=None,
                        help="scaffold<TAB>bin table (e.g. DAS Tool contig2bin): fit the spacer calibration per bin; "
                             "unlisted scaffolds are pooled (default: the whole input is one genome or sample).")(func)


def load_bins(path, genome):
    """The scaffold -> bin map of --bins (None without it); warns about scaffolds the genome lacks."""
    if path is None:
        return None
    from ..calibration import read_groups

    groups = read_groups(path)
    unknown = [s for s in groups if s not in genome.scaffolds]
    if unknown:
        log.warning("%d scaffold(s) of %s are not in %s (e.g. %s)", len(unknown), path, genome.name, unknown[0])
    log.info("spacer calibration per bin: %d bins over %d scaffolds", len(set(groups.values())),
             len(groups) - len(unknown))
    return groups


def load_genome(run, input, fasta, mode, genetic_code, circular, on_gene_calling=None, text=None):
    """Read a genome, with a progress bar while pyrodigal calls genes."""
    from ..genome import read_genome

    with run.progress("calling genes", None, "contigs") as advance:
        genome = read_genome(input, fasta, mode=mode, genetic_code=genetic_code, threads=run.threads,
                             circular=circular, progress=advance, on_gene_calling=on_gene_calling, text=text)
    log.info("%s: %d scaffolds, %d protein-coding genes (%s)", genome.name, len(genome.scaffolds),
             len(genome.genes), genome.gene_source)
    return genome


def select_pairs(run, genome, pair_list, operons, labels, label_rule, split, seed):
    """Everything `pairs` does after reading the genome; shared with `score` and `embed`."""
    from .. import pairs as P
    from ..errors import UsageError

    if pair_list and labels:
        raise UsageError("--pairs and --labels both name pairs; give one")
    listed = pair_list or labels
    if listed:
        resolved = P.pairs_from_list(genome, P.read_pair_list(listed))
        unknown = list(dict.fromkeys(resolved.unknown))  # an id of several pairs is named once
        if unknown:
            log.warning("%d gene id(s) in %s match no gene: %s%s", len(unknown), listed, ", ".join(unknown[:5]),
                        " ..." if len(unknown) > 5 else "")
        if not resolved.pairs:
            from ..errors import DataError

            raise DataError(f"no pair of {listed} matches genes of {genome.name}")
        pairs = resolved.pairs
        if pair_list:
            pairs = [P.GenePair(p.scaffold, p.gene_a, p.gene_b, p.distance, p.directon, p.genes_between) for p in pairs]
    else:
        pairs = P.adjacent_pairs(genome)
    if operons and label_rule:
        raise UsageError("--operons and --label-rule are two ways to label; give one")
    if operons:
        pairs, unmatched = P.label_with_operons(genome, pairs, P.read_operon_table(operons))
        log.info("labels from %s: %d positive, %d negative, %d unlabelled pairs (%d operon members match no gene)",
                 operons, sum(p.label == 1 for p in pairs), sum(p.label == 0 for p in pairs),
                 sum(p.label is None for p in pairs), unmatched)
    elif label_rule == "og":
        pairs = P.label_og(pairs)
    if split:
        pairs = P.assign_splits(pairs, P.parse_fractions(split), seed=seed)
    return pairs


def _check_fractions(ctx, param, value):
    """Validate --split before any work starts."""
    from ..errors import UsageError
    from ..pairs import parse_fractions

    if value is None:
        return None
    try:
        parse_fractions(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc).replace("--split takes", "takes")) from None
    return value


def pair_selection_options(func):
    func = click.option("--seed", type=int, default=0, show_default=True, help="Seed for --split.")(func)
    func = click.option("--split", metavar="TRAIN,VAL,TEST", default=None, callback=_check_fractions,
                        help="Add a split column with these fractions (whole scaffolds, or blocks of 50 "
                             "consecutive pairs on a long scaffold, go to one split).")(func)
    func = click.option("--label-rule", type=click.Choice(["og"]), default=None,
                        help="og: OG-Operon100K-style labels from spacer and strand alone: positive = same strand "
                             "and -20..40 bp apart, negative = opposite strands or >= 600 bp apart, else unlabelled.")(func)
    func = click.option("--labels", type=click.Path(dir_okay=False), default=None,
                        help="Pairs with a third label column (CSV/TSV: name_1,name_2,label).")(func)
    func = click.option("--operons", type=click.Path(dir_okay=False), default=None,
                        help="Known operons (ODB table, RegulonDB OperonSet/TUSet, or operon_id<TAB>gene,gene): "
                             "label 1 inside one unit, 0 at a known boundary.")(func)
    func = click.option("--pairs", "pair_list", type=click.Path(dir_okay=False), default=None,
                        help="Only these pairs: a two-column CSV/TSV of gene ids (locus_tag, old_locus_tag, Name or ID).")(func)
    return func


@cli.command(epilog="""\b
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
@click.option("--proteins", type=click.Path(dir_okay=False, allow_dash=False), default=None,
              help="Also write the proteins (FASTA, ids = gene ids).")
@common_options
def pairs(input, fasta, mode, genetic_code, circular, pair_list, operons, labels, label_rule, split, seed, output,
          proteins, run):
    """Candidate gene pairs of a genome, one TSV row per pair.

    INPUT is a GFF3 (with ##FASTA or --fasta), a GenBank file or a bare nucleotide FASTA (genes are then called
    with pyrodigal); gzip/bzip2/xz are read transparently, '-' is stdin. By default every pair of consecutive
    protein-coding genes on a scaffold, both strands; on a circular sequence the last and first gene pair up.
    Coordinates are 1-based inclusive; distance is the spacer in bp (negative = overlap).
    """
    from ..io import Output, atomic_output, check_outputs
    from ..pairs import write_pairs

    check_outputs([input, fasta, pair_list, operons, labels], [Output("-o", output), Output("--proteins", proteins)])
    with stdin_as_file(input) as readable:  # messages name it "stdin"
        genome = load_genome(run, readable, fasta, mode, genetic_code, circular)
    selected = select_pairs(run, genome, pair_list, operons, labels, label_rule, split, seed)
    if proteins:
        write_proteins(genome, proteins)
    with atomic_output(output) as handle:
        n = write_pairs(handle, selected)
    log.info("%d pairs written to %s", n, "stdout" if output == "-" else output)


def write_proteins(genome, path) -> None:
    from ..errors import DataError
    from ..io import atomic_output

    if not genome.has_sequence:
        raise DataError(f"{genome.name} has no sequence: pass --fasta to write proteins")
    with atomic_output(path) as handle:
        for gene in genome.genes:
            handle.write(f">{gene.id}\n")
            for i in range(0, len(gene.protein), 60):
                handle.write(gene.protein[i : i + 60] + "\n")
