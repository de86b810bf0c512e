"""How a fragmented assembly moves the shipped default's cut-off: a labelled genome chopped into contigs.

    nice python benchmarks/fragment_calibration.py --data ../shared/data [--genomes ecoli mpneumoniae]
        [--lengths 200 100-400 1000 2000 3000 5000 10000 50000 mix] [--sources gff fasta] [-t 2]

Each labelled genome is cut into consecutive contigs of one length ("A-B": uniform in A..B bp; "mix": log-uniform
0.5-50 kbp; seed 0), every base kept, and its genes found two ways: "gff" (rows "annotation"), the annotation's
genes lifted onto the contigs (a gene across a cut is clipped at the contig's edge and marked partial, as a gene
caller with open ends reports it), and "fasta" (rows "pyrodigal"), the genes pyrodigal calls on the contigs as
`score` does (auto mode). The calibration runs as `score` runs it (score.genome_spacer_models, the default model's
decision rule). The labels only measure: the accuracy of the complete genome's labelled pairs at each cut-off (the
cost of the cut-off alone), beside theirs at the complete genome's cut-off. Prints a markdown table (E. coli and
M. pneumoniae, both sources, the lengths above: ~5 min on 2 shared cores).
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from microfuse_cli.calibration import (LabelledSpacers, SpacerModel, own_cutoff_interval,  # noqa: E402
                                       posterior_cutoff)
from microfuse_cli.genes import call_genes  # noqa: E402
from microfuse_cli.pairs import adjacent_pairs  # noqa: E402
from microfuse_cli.records import Gene, Genome, Scaffold  # noqa: E402
from microfuse_cli.score import genome_spacer_models, load_model  # noqa: E402
from microfuse_cli.train_default import LABELLED_GENOMES  # noqa: E402


def cuts(length: int, how: str, rng: random.Random) -> list[tuple[int, int]]:
    """(start, end), 1-based inclusive, of consecutive contigs covering 1..length."""
    out, start = [], 1
    while start <= length:
        if how == "mix":
            size = int(math.exp(rng.uniform(math.log(500), math.log(50_000))))
        elif "-" in how:
            size = rng.randint(*map(int, how.split("-")))
        else:
            size = int(how)
        out.append((start, min(start + size - 1, length)))
        start += size
    return out


def lifted(genome: Genome, pieces: list[tuple[int, int]]) -> Genome:
    """The annotation's genes on the contigs: a gene across a cut is clipped to each contig it reaches and
    marked partial."""
    (scaffold,) = genome.scaffolds.values()
    contigs, genes = {}, []
    for n, (start, end) in enumerate(pieces):
        name = f"contig_{n}"
        contigs[name] = Scaffold(name, end - start + 1, scaffold.sequence[start - 1:end])
        for g in genome.genes:
            if g.end < start or g.start > end:
                continue
            s, e = max(g.start, start), min(g.end, end)
            genes.append(Gene(f"{g.id}@{n}", name, s - start + 1, e - start + 1, g.strand, g.protein, g.aliases,
                              g.genetic_code, g.partial or (s, e) != (g.start, g.end)))
    return Genome(genome.name, contigs, genes).with_genes_sorted()


def called(genome: Genome, pieces: list[tuple[int, int]], threads: int) -> Genome:
    (scaffold,) = genome.scaffolds.values()
    contigs = {f"contig_{n}": Scaffold(f"contig_{n}", e - s + 1, scaffold.sequence[s - 1:e])
               for n, (s, e) in enumerate(pieces)}
    return Genome(genome.name, contigs, call_genes(contigs, threads=threads), "pyrodigal").with_genes_sorted()


def n50(pieces) -> int:
    lengths = sorted((e - s + 1 for s, e in pieces), reverse=True)
    running, total = 0, sum(lengths)
    for length in lengths:
        running += length
        if 2 * running >= total:
            return length
    return 0


def row(scoring, genome: Genome, labels: LabelledSpacers, complete_cutoff: float) -> dict:
    """What `score` calibrates on ``genome`` (one group, as without --bins) and the labelled accuracy at it."""
    pairs = adjacent_pairs(genome)
    model = genome_spacer_models(scoring, genome)[""]
    rule = scoring.decision
    cutoff = rule.cutoff_bp(model)
    low, high = own_cutoff_interval(model, 0.9)
    return dict(genes=len(genome.genes), partial=sum(g.partial for g in genome.genes), pairs=len(pairs),
                touching=getattr(model, "n_left_out", 0), n_same=model.n_same, n_opp=model.n_opposite,
                fraction=model.operon_fraction,
                own=posterior_cutoff(model), interval=f"{low:.0f}-{high:.0f}", cutoff=cutoff,
                fallback="prior" if not model.self_calibrated else "", accuracy=labels.accuracy_at(cutoff),
                complete=labels.accuracy_at(complete_cutoff))


def line(name: str, source: str, contigs: str, n50_bp: int, r: dict, complete: bool = False) -> str:
    versus = "" if complete else f" ({r['complete']:.4f})"
    return (f"| {name} | {source} | {contigs} | {n50_bp} | {r['genes']} ({r['partial']}) | {r['pairs']} / "
            f"{r['touching']} | {r['n_same']} / {r['n_opp']} | {r['fraction']:.3f} | {r['own']:.0f} ({r['interval']}) "
            f"| {r['cutoff']:.0f} | {r['fallback']} | {r['accuracy']:.4f}{versus} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=Path("../shared/data"))
    parser.add_argument("--genomes", nargs="+", default=["ecoli", "mpneumoniae"])
    parser.add_argument("--lengths", nargs="+",
                        default=["200", "100-400", "1000", "2000", "3000", "5000", "10000", "50000", "mix"])
    parser.add_argument("--sources", nargs="+", default=["gff", "fasta"])
    parser.add_argument("-t", "--threads", type=int, default=2)
    args = parser.parse_args()
    scoring = load_model(None)
    rule = scoring.decision
    print("| genome | genes from | contigs | N50 bp | genes (partial) | adjacent pairs / left out (contigs < 2 kbp) | "
          "pairs fitted: same / opposite strand | operon fraction | own cut-off bp (90% interval) | cut-off bp | "
          "fallback | accuracy at it (at the complete genome's cut-off) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for entry in (e for e in LABELLED_GENOMES if e.name in args.genomes):
        genome, adjacent, labelled = entry.load(args.data)
        model = SpacerModel.fit(adjacent)
        labels = LabelledSpacers.from_pairs(entry.name, model, labelled)
        complete = rule.cutoff_bp(model)
        (scaffold,) = genome.scaffolds.values()
        print(line(entry.name, "annotation", "complete", scaffold.length, row(scoring, genome, labels, complete), True))
        if "fasta" in args.sources:
            r = row(scoring, called(genome, [(1, scaffold.length)], args.threads), labels, complete)
            print(line(entry.name, "pyrodigal", "complete", scaffold.length, r, True), flush=True)
        for how in args.lengths:
            pieces = cuts(scaffold.length, how, random.Random(0))
            for source in args.sources:
                chopped = lifted(genome, pieces) if source == "gff" else called(genome, pieces, args.threads)
                r = row(scoring, chopped, labels, complete)
                print(line(entry.name, "annotation" if source == "gff" else "pyrodigal", f"{len(pieces)} x {how}",
                           n50(pieces), r), flush=True)


if __name__ == "__main__":
    main()
