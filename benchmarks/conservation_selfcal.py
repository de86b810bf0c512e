"""Label-free, per-genome likelihood ratios of conserved adjacency: does comparative evidence calibrated on the
query genome itself (no labels) add to the spacer?

    nice python benchmarks/conservation_selfcal.py --data ../shared/data [--threads 2] [--cache /tmp/mf-selfcal]

The design, fixed before any number was seen (it extends Price et al.'s spacer trick to gene order):
- For every adjacent pair of the query genome and every reference genome r (the seven other shared genomes),
  the state is *conserved* (homologs of both genes within two positions on one reference scaffold, in the same
  arrangement: co-directional, divergent or convergent), *broken* (homologs of both, never so arranged) or
  *unknown* (a gene without homolog in r). phmmer E <= 1e-5, three best hits per genome, all query proteins.
- Divergent pairs are never one operon: their conserved rate c0_r estimates P(conserved | no operon) in r.
  Same-strand pairs mix operons (fraction pi from the spacer self-calibration) and boundaries:
  c1_r = (m_r - (1 - pi) c0_r) / pi, clipped to [c0_r + 0.001, 0.999].
- Evidence = sum over r of log(c1/c0) when conserved, log((1-c1)/(1-c0)) when broken (naive Bayes), added to
  the spacer's log-likelihood ratio. Nothing is fitted on labels, in any genome.
Scored on each query's labelled pairs (those not adjacent get no conservation evidence); AUROC with 1,000-resample
bootstrap intervals and the paired gain over the spacer alone.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import comparative as C  # noqa: E402  (the benchmark next door: genome list, cached phmmer, interval helpers)


def arrangement(strand_first: int, strand_second: int) -> str:
    """'same', 'div' (<- ->) or 'conv' (-> <-) for two genes in scaffold order."""
    if strand_first == strand_second:
        return "same"
    return "conv" if strand_first > 0 else "div"


def state(pair, homologs, reference, r, sizes, circular):
    """True (conserved), False (broken) or None (a gene without homolog in reference genome r)."""
    hits_a = homologs.hits.get(pair.gene_a.id, {}).get(r)
    hits_b = homologs.hits.get(pair.gene_b.id, {}).get(r)
    if not hits_a or not hits_b:
        return None
    want = arrangement(pair.gene_a.strand, pair.gene_b.strand)
    for row_a, _, _ in hits_a:
        for row_b, _, _ in hits_b:
            if row_a == row_b or reference.scaffold[row_a] != reference.scaffold[row_b]:
                continue
            sc = int(reference.scaffold[row_a])
            pa, pb = int(reference.position[row_a]), int(reference.position[row_b])
            gap = abs(pa - pb)
            if circular[sc]:
                gap = min(gap, int(sizes[sc]) - gap)
            if not 1 <= gap <= 2:
                continue
            sa, sb = int(reference.strand[row_a]), int(reference.strand[row_b])
            if want == "same":
                if sa == sb:
                    return True
                continue
            first, second = (sa, sb) if (pb - pa) % int(sizes[sc]) <= 2 else (sb, sa)
            if first != second and arrangement(first, second) == want:
                return True
    return False


def conservation_llr(genome, homologs, reference, pairs, fraction):
    """Per-pair summed log-likelihood ratio and the per-reference rates (c0, m, c1, counts)."""
    sizes, circular = reference.scaffold_sizes()
    states = np.full((len(pairs), len(reference.genomes)), np.nan)
    for k, pair in enumerate(pairs):
        for r in range(len(reference.genomes)):
            s = state(pair, homologs, reference, r, sizes, circular)
            if s is not None:
                states[k, r] = float(s)
    same = np.array([p.same_strand for p in pairs])
    divergent = np.array([p.gene_a.strand < 0 < p.gene_b.strand for p in pairs])
    llr = np.zeros(len(pairs))
    rates = []
    for r, ref in enumerate(reference.genomes):
        known = ~np.isnan(states[:, r])
        c0 = (np.nansum(states[divergent & known, r]) + 0.5) / (np.sum(divergent & known) + 1)
        m = (np.nansum(states[same & known, r]) + 0.5) / (np.sum(same & known) + 1)
        c1 = float(np.clip((m - (1 - fraction) * c0) / fraction, c0 + 1e-3, 0.999))
        rates.append((ref.name, int(np.sum(divergent & known)), int(np.sum(same & known)), c0, m, c1))
        conserved, broken = known & (states[:, r] == 1), known & (states[:, r] == 0)
        llr[conserved] += np.log(c1 / c0)
        llr[broken] += np.log((1 - c1) / (1 - c0))
    return llr, rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "mf-selfcal")
    args = parser.parse_args()

    from microfuse_cli.calibration import SpacerModel
    from microfuse_cli.comparative import ReferenceSet
    from microfuse_cli.io.tables import read_pair_list
    from microfuse_cli.pairs import adjacent_pairs, pairs_from_list

    genomes = C.load(args.data)
    rows = []
    for query in ("ecoli", "mpneumoniae"):
        genome = genomes[query]
        names = [n for n in genomes if n != query]
        reference = ReferenceSet.build([genomes[n] for n in names], names)
        homologs = C.homologs_cached(query + "_all", genome.genes, reference, args.cache, args.threads)
        pairs = adjacent_pairs(genome)
        spacer = SpacerModel.fit(pairs)
        llr, rates = conservation_llr(genome, homologs, reference, pairs, spacer.operon_fraction)
        print(f"{query}: {len(pairs)} adjacent pairs, operon fraction {spacer.operon_fraction:.3f}")
        print("| reference | divergent with homologs | same-strand with homologs | c0 | m | c1 |\n|---|---|---|---|---|---|")
        for name, n_div, n_same, c0, m, c1 in rates:
            print(f"| {name} | {n_div} | {n_same} | {c0:.3f} | {m:.3f} | {c1:.3f} |")
        print()
        labelled = pairs_from_list(genome, read_pair_list(args.data / C.LABELS[query])).pairs
        index = {p.pair_id: i for i, p in enumerate(pairs)}
        y = np.array([p.label for p in labelled])
        distance = -np.array([p.distance for p in labelled], dtype=float)
        spacer_llr = spacer.features(labelled)[:, 0].astype(float)
        cons = np.array([llr[index[p.pair_id]] if p.pair_id in index else 0.0 for p in labelled])
        rows.append((query, len(y), C.ci_text(y, distance), C.ci_text(y, spacer_llr), C.ci_text(y, cons),
                     C.ci_text(y, spacer_llr + cons), C.delta_text(y, spacer_llr + cons, spacer_llr)))
    print("| query | labelled pairs | distance | spacer LLR | conservation LLR | spacer + conservation | gain over spacer |")
    print("|---|---|---|---|---|---|---|")
    for row in rows:
        print("| " + " | ".join(str(v) for v in row) + " |")


if __name__ == "__main__":
    main()
