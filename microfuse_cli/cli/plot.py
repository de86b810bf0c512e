"""``microfuse plot``: figures of genome regions from a scores TSV and its genome."""

from __future__ import annotations

import sys

import click

from . import cli
from ._common import FiniteFloatRange, IntRange, common_options, genome_options, load_genome, log, \
    stdin_as_file


@cli.command(short_help="Figures of genome regions and operons.", epilog="""\b
Examples:
  microfuse plot scores.tsv genome.gff -o gyrA.png --gene gyrA
  microfuse plot scores.tsv genome.gbk -o fig.svg --region NC_000912.1:1-20000 --operon operon_12
  microfuse plot scores.tsv genome.gff --fasta genome.fna -o origin.pdf --region NC_000912.1:810000-12000
  microfuse plot scores.tsv genome.gff -o - --format svg --gene gyrA | gzip > gyrA.svgz   # stdout: --format
""")
@click.argument("scores", type=click.Path(dir_okay=False, allow_dash=True), metavar="SCORES.tsv")
@click.argument("genome_path", type=click.Path(dir_okay=False, allow_dash=True), metavar="GENOME")
@genome_options
@click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), required=True,
              help="Figure file: PNG, SVG or PDF by its suffix (or --format); '-' = stdout.")
@click.option("--format", "fmt", type=click.Choice(["png", "svg", "pdf"], case_sensitive=False), default=None,
              help="Image format [default: -o's suffix; needed where it has none, as - or /dev/stdout]; a -o "
                   "suffix of another format is refused.")
@click.option("--region", "regions", multiple=True,
              help="SCAFFOLD:START-END (repeatable); START > END runs across the origin of a circular sequence.")
@click.option("--gene", "genes", multiple=True, help="A gene (name, locus tag or id) and --flank bp around it "
                                                     "(repeatable).")
@click.option("--operon", "operons", multiple=True, help="An operon id of `score` (operon_12) and --flank bp "
                                                         "around it (repeatable).")
@click.option("--flank", type=IntRange(min=0), default=3000, show_default=True,
              help="Bases shown either side of a --gene or --operon.")
@click.option("--threshold", type=FiniteFloatRange(0, 1), default=None,
              help="Threshold drawn and used to join operons (default: the one the scores were called at).")
@click.option("--dpi", type=IntRange(30, 1200), default=150, show_default=True, help="PNG resolution.")
@common_options
def plot(scores, genome_path, fasta, read_as, output, fmt, regions, genes, operons, flank,
         threshold, dpi, run):
    """Draw genome regions: genes as arrows by strand with their names, operons as coloured blocks, each adjacent
    pair's probability (and the spacer posterior of --explain) at the junction of its genes with the threshold,
    and the router's expert weights.

    SCORES.tsv is `microfuse score` output; GENOME is the annotation (or assembly) it was scored from, read with
    the same options (--fasta, --circular ...); either may be '-' (stdin). The figure's metadata (PNG and SVG
    Description, PDF Subject) names the model the scores' '#microfuse' line records: microfuse version, model
    name, model_id (12 hex digits) and decision_id, and a --threshold given. Needs the plotting extra: pip install
    'microfuse-cli[plots]'.
    """
    from ..errors import UsageError
    from ..figures import (check_figure_path, draw_regions, gene_region, load_scored, operon_region, parse_region,
                           region_view, require_plotting, save_figure)
    from ..io.outputs import Output, check_outputs, names_stdout

    if not (regions or genes or operons):
        raise UsageError("give at least one --region, --gene or --operon to draw")
    fmt = check_figure_path(output, fmt)  # before any work, as every refused output is
    check_outputs([scores, genome_path, fasta], [Output("-o", output)])  # a closed stdout is refused here
    if fmt != "svg" and names_stdout(output) and sys.stdout.isatty():  # as gzip: no binary on a screen
        raise UsageError(f"a {fmt.upper()} figure is binary: send stdout into a file or a pipe, or give -o FILE")
    require_plotting()
    with stdin_as_file(genome_path) as readable:  # messages name it "stdin", as pairs and score do
        genome = load_genome(run, readable, fasta, read_as)
    scored = load_scored(scores, genome, threshold)
    wanted = ([parse_region(r, genome) for r in regions] + [gene_region(scored, g, flank) for g in genes]
              + [operon_region(scored, o, flank) for o in operons])
    views = [region_view(scored, region) for region in wanted]
    save_figure(draw_regions(views), output, fmt=fmt, dpi=dpi, maker=scored.maker, threshold=threshold)
    log.info("%s: %d region(s), %d genes, %d operons drawn (threshold %.3f)", "stdout" if output == "-" else output,
             len(views), sum(len(v.genes) for v in views), sum(len(v.operons) for v in views), scored.threshold)
