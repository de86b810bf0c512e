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

The last three columns are an alternative `score` does not use (RESULTS.md, "Fragmented assemblies": measured, not
shipped), a truncation-aware fit: in a draft assembly no contig is left out, and each spacer d is weighted by the
inverse of the share of the genome's positions at which its contigs show it, sum (L_i - d - 120)+ / sum L_i
(inverse-probability weights of a truncated sample, capped at 10), in the mixture's densities, the weighted median
behind its operon fraction and each bootstrap refit; where contigs show a 500 bp spacer at under a tenth of the
positions (the boundaries' spacers are gone, no weight brings them back), or under 30 pairs, the prior cut-off.
"""

from __future__ import annotations

import argparse
import math
import random
import sys
from pathlib import Path


sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402

from microfuse_cli.calibration import (MIN_PAIRS, LabelledSpacers, SpacerModel, _bandwidth,  # noqa: E402
                                       _monotone_tail, _transform, own_cutoff_interval, posterior_cutoff,
                                       spacer_scale)
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


#: The truncation-aware alternative: a pair shows with a gene fragment a caller finds on either side (~60 bp each);
#: no spacer counts for more than MAX_WEIGHT of its own; contigs that show a SHOWN_AT bp spacer at under
#: 1 / MAX_WEIGHT of the positions cannot be reweighted (the boundaries' spacers are gone) and get the prior.
EDGE_ROOM, MAX_WEIGHT, SHOWN_AT = 120.0, 10.0, 500.0


def shown(lengths: np.ndarray, distance) -> np.ndarray:
    """The share of the genome's positions at which a spacer of ``distance`` bp and its two gene fragments fit on
    contigs of ``lengths``: sum (L_i - d - EDGE_ROOM)+ / sum L_i."""
    lengths = np.sort(lengths)
    need = np.maximum(np.asarray(distance, dtype=np.float64), 0.0) + EDGE_ROOM
    first = np.searchsorted(lengths, need, side="right")  # the contigs longer than need: lengths[first:]
    longer = np.concatenate([np.cumsum(lengths[::-1])[::-1], [0.0]])[first]
    return (longer - (lengths.size - first) * need) / lengths.sum()


def weighted_fit(same, boundary, n_opposite, lengths) -> tuple[SpacerModel, np.ndarray, np.ndarray]:
    """SpacerModel.from_spacers with each spacer weighted by 1 / shown (capped): the same densities, tail-ratio
    operon fraction (weighted boundary median) and monotone tail. Returns the model and the two weight vectors."""
    from scipy.stats import norm

    def weights(d):  # lengths None: a complete genome, every weight 1 (the shipped fit, to the bit)
        if lengths is None:
            return np.ones(np.shape(d))
        return np.minimum(1.0 / np.maximum(shown(lengths, d), 1.0 / MAX_WEIGHT), MAX_WEIGHT)

    def kde(x, w):
        values, where = np.unique(x, return_inverse=True)
        counts = np.bincount(where, weights=w, minlength=values.size)
        return (counts / counts.sum()) @ norm.pdf(grid[None, :], loc=values[:, None], scale=_bandwidth(x))

    grid = np.linspace(_transform(-200), _transform(5000), 400)
    xs, xb = _transform(np.clip(same, -200, 5000)), _transform(np.clip(boundary, -200, 5000))
    ws, wb = weights(same), weights(boundary)
    g, f0 = kde(xs, ws) + 1e-6, kde(xb, wb) + 1e-6
    order = np.argsort(xb, kind="stable")
    running = np.cumsum(wb[order])
    tail = grid >= (np.median(xb) if lengths is None else xb[order][np.searchsorted(running, running[-1] / 2)])
    fraction = float(np.clip(1.0 - g[tail].sum() / max(f0[tail].sum(), 1e-9), 0.2, 0.95))
    if same.size < MIN_PAIRS or boundary.size < MIN_PAIRS:
        fraction = 0.6
    f1 = np.maximum(g - (1.0 - fraction) * f0, 1e-6) / fraction
    f1 = _monotone_tail(grid, f1 / np.trapezoid(f1, grid), f0, g)
    model = SpacerModel(grid, f0, f1, g, fraction, np.sort(same), int(same.size), int(n_opposite), np.sort(boundary))
    return model, ws, wb


def truncation_aware(rule, genome: Genome, pairs, labels: LabelledSpacers) -> dict:
    """The alternative's cut-off (DecisionRule.cutoff_bp with weighted fits, bootstrap included) on ``pairs``."""
    lengths = np.array([s.length for s in genome.scaffolds.values()], dtype=np.float64)
    if not any(g.partial for g in genome.genes):
        lengths = None  # a complete genome: the shipped fit
    same = np.sort([p.distance for p in pairs if p.same_strand]).astype(np.float64)
    opposite = [p.distance for p in pairs if not p.same_strand]
    divergent = np.array([p.distance for p in pairs if not p.same_strand and p.gene_a.strand < 0], dtype=np.float64)
    boundary = np.sort(divergent if divergent.size >= MIN_PAIRS else np.array(opposite, dtype=np.float64))
    model = weighted_fit(same, boundary, len(opposite), lengths)[0]
    if not model.self_calibrated or lengths is not None and shown(lengths, [SHOWN_AT])[0] < 1.0 / MAX_WEIGHT:
        prior = float(np.round(rule.prior_cutoff_bp, 1))
        return dict(t_fraction=model.operon_fraction, t_cutoff=prior, t_fallback="prior",
                    t_accuracy=labels.accuracy_at(prior))
    own = spacer_scale(posterior_cutoff(model, rule.posterior_threshold))
    cutoff = np.sinh(rule.own_weight * (own + rule.offset) + (1 - rule.own_weight) * spacer_scale(
        rule.prior_cutoff_bp)) * 20.0
    rng = np.random.default_rng(0)  # own_cutoff_interval's refits, each weighted
    draws = np.array([spacer_scale(posterior_cutoff(weighted_fit(rng.choice(same, same.size), rng.choice(
        boundary, boundary.size), len(opposite), lengths)[0])) for _ in range(200)])
    low, high = np.sinh(np.quantile(draws, [(1 - rule.own_interval) / 2, (1 + rule.own_interval) / 2])) * 20.0
    cutoff = float(np.round(np.clip(cutoff, max(low, 0.0), min(high, 5000.0)), 1))
    return dict(t_fraction=model.operon_fraction, t_fallback="", t_cutoff=cutoff, t_accuracy=labels.accuracy_at(cutoff))


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
    return dict(**truncation_aware(rule, genome, pairs, labels), genes=len(genome.genes),
                partial=sum(g.partial for g in genome.genes), pairs=len(pairs),
                touching=getattr(model, "n_left_out", 0), n_same=model.n_same, n_opp=model.n_opposite,
                fraction=model.operon_fraction,
                own=posterior_cutoff(model), interval=f"{low:.0f}-{high:.0f}", cutoff=cutoff,
                fallback="prior" if not model.self_calibrated else "", accuracy=labels.accuracy_at(cutoff),
                complete=labels.accuracy_at(complete_cutoff))


def line(name: str, source: str, contigs: str, n50_bp: int, r: dict, complete: bool = False) -> str:
    if complete:  # one whole chromosome: the alternative's weights are 1 (to 1e-4, when pyrodigal reports the
        # gene across the origin partial), and its reimplementation of the shipped fit must give the same cut-off
        assert r["t_cutoff"] == r["cutoff"] and abs(r["t_fraction"] - r["fraction"]) < 1e-4, r
    versus = "" if complete else f" ({r['complete']:.4f})"
    return (f"| {name} | {source} | {contigs} | {n50_bp} | {r['genes']} ({r['partial']}) | {r['pairs']} / "
            f"{r['touching']} | {r['n_same']} / {r['n_opp']} | {r['fraction']:.3f} | {r['own']:.0f} ({r['interval']}) "
            f"| {r['cutoff']:.0f} | {r['fallback']} | {r['accuracy']:.4f}{versus} "
            f"| {r['t_fraction']:.3f} | {r['t_cutoff']:.0f}{' (prior)' if r['t_fallback'] else ''} "
            f"| {r['t_accuracy']:.4f} |")


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
          "fallback | accuracy at it (at the complete genome's cut-off) | truncation-aware: operon fraction | "
          "truncation-aware: cut-off bp | truncation-aware: accuracy at it |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
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
