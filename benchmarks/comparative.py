"""Conserved adjacency (pyhmmer phmmer against the other shared genomes) as operon evidence, measured honestly.

    nice python benchmarks/comparative.py --data ../shared/data [--threads 2] [--cache /tmp/mf-comparative]

Queries: the labelled pairs of E. coli and M. pneumoniae (only the proteins of those pairs are searched). The
reference is every other shared genome (the query genome itself is never in it); for M. pneumoniae the table
also shows the panel without its close relative M. genitalium. Models: logistic regression on distance features
(spacer clipped to [-100, 1000], signed log, 10 bins, flag for a gene between) with and without the conserved
score, fitted on E. coli (E. coli rows are 5-fold out-of-fold over contiguous blocks), applied unchanged to M.
pneumoniae (never fitted there). AUROC with 1000-resample bootstrap intervals; deltas are paired bootstraps.

Prints markdown tables; the phmmer hits are cached (JSON) so a rerun costs seconds.
"""

from __future__ import annotations

import argparse
import json
import os
import time
from pathlib import Path

import numpy as np

GENOMES = {  # short name -> (folder, accession stem)
    "ecoli": ("ecoli_k12_mg1655", "GCF_000005845.2_ASM584v2"),
    "mpneumoniae": ("mpneumoniae_m129", "GCF_000027345.1_ASM2734v1"),
    "hinfluenzae": ("panel", "GCF_000027305.1_ASM2730v1"),
    "mgenitalium": ("panel", "GCF_000027325.1_ASM2732v1"),
    "synechocystis": ("panel", "GCF_003015225.1_ASM301522v1"),
    "afulgidus": ("panel", "GCF_000008665.1_ASM866v1"),
    "mjannaschii": ("panel", "GCF_000091665.1_ASM9166v1"),
    "mpaludis": ("panel", "GCF_000214725.1_ASM21472v1"),
}
LABELS = {"ecoli": "ecoli_k12_mg1655/labelled_pairs_ecoli.csv",
          "mpneumoniae": "mpneumoniae_m129/labelled_pairs_mpneumoniae.csv"}


def load(data: Path):
    from microfuse_cli.genome import read_genome

    genomes = {}
    for name, (folder, stem) in GENOMES.items():
        base = data / folder / stem
        genomes[name] = read_genome(f"{base}_genomic.gff.gz", f"{base}_genomic.fna.gz")
    return genomes


def homologs_cached(query, genes, reference, cache: Path | None, threads: int):
    from microfuse_cli.comparative import Homologs, search_homologs

    key = f"{query}__{'-'.join(reference.names)}.json"
    if cache is not None and (cache / key).exists():
        raw = json.loads((cache / key).read_text())
        hits = {g: {int(r): [tuple(h) for h in hs] for r, hs in per.items()} for g, per in raw["hits"].items()}
        return Homologs(hits, raw["searched"], raw["seconds"])
    hom = search_homologs(genes, reference, threads=threads)
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
        hits = {g: {r: list(found) for r, found in per.items()} for g, per in hom.hits.items()}
        (cache / key).write_text(json.dumps({"hits": hits, "searched": list(hom.searched), "seconds": hom.seconds}))
    return hom


# ------------------------------------------------------------------------------------------------ models


def distance_features(pairs) -> np.ndarray:
    d = np.clip(np.array([p.distance for p in pairs], dtype=float), -100, 1000)
    slog = np.sign(d) * np.log1p(np.abs(d))
    edges = np.sign(np.linspace(-100, 1000, 11)) * np.log1p(np.abs(np.linspace(-100, 1000, 11)))
    bins = np.clip(np.digitize(slog, edges[1:-1]), 0, 9)
    onehot = np.eye(10)[bins]
    between = np.array([p.genes_between > 0 or not p.same_strand for p in pairs], dtype=float)
    return np.column_stack([slog, onehot, between])


def fit_logistic(x: np.ndarray, y: np.ndarray, l2: float = 1e-2, iters: int = 50):
    mu, sd = x.mean(0), x.std(0)
    sd[sd == 0] = 1.0
    z = np.column_stack([np.ones(len(x)), (x - mu) / sd])
    w = np.zeros(z.shape[1])
    for _ in range(iters):  # Newton / IRLS with a ridge
        p = 1 / (1 + np.exp(-z @ w))
        grad = z.T @ (p - y) + l2 * np.r_[0, w[1:]]
        hess = (z * (p * (1 - p))[:, None]).T @ z + l2 * np.diag(np.r_[0, np.ones(len(w) - 1)])
        step = np.linalg.solve(hess, grad)
        w -= step
        if np.abs(step).max() < 1e-8:
            break
    return lambda xn: 1 / (1 + np.exp(-np.column_stack([np.ones(len(xn)), (xn - mu) / sd]) @ w))


def out_of_fold(x, y, folds=5):
    blocks = np.arange(len(y)) * folds // len(y)  # contiguous blocks in genome order: no neighbour leakage
    out = np.zeros(len(y))
    for k in range(folds):
        test = blocks == k
        out[test] = fit_logistic(x[~test], y[~test])(x[test])
    return out


def ci_text(y, p) -> str:
    from microfuse_cli.metrics import auroc, bootstrap_ci

    ci = bootstrap_ci(y, p, "auroc", n=1000, seed=0)
    return f"{auroc(y, p):.3f} [{ci['low']:.3f}, {ci['high']:.3f}]"


def delta_text(y, p1, p2) -> str:
    from microfuse_cli.metrics import paired_bootstrap_delta

    d = paired_bootstrap_delta(y, p1, p2, "auroc", n=1000, seed=0)
    return f"{d['delta']:+.4f} [{d['low']:+.3f}, {d['high']:+.3f}] p={d['p_value']:.2f}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--cache", type=Path, default=Path(os.environ.get("TMPDIR", "/tmp")) / "mf-comparative")
    parser.add_argument("--save-reference", type=Path, default=None,
                        help="Also save the 8-genome reference folder here (to report its size).")
    args = parser.parse_args()

    from microfuse_cli.comparative import ReferenceSet, adjacency_from_homologs
    from microfuse_cli.io.tables import read_pair_list
    from microfuse_cli.pairs import pairs_from_list

    began = time.perf_counter()
    genomes = load(args.data)
    reference = ReferenceSet.build(list(genomes.values()), names=list(genomes))
    print(f"reference: {len(reference.genomes)} genomes, {reference.n_proteins} proteins "
          f"(loaded in {time.perf_counter() - began:.0f} s)\n")
    if args.save_reference is not None:
        reference.save(args.save_reference)
        size = sum(f.stat().st_size for f in args.save_reference.iterdir())
        print(f"saved reference folder: {size / 1e6:.1f} MB ({args.save_reference})\n")

    results, speed = {}, []
    for query in ("ecoli", "mpneumoniae"):
        pairs = pairs_from_list(genomes[query], read_pair_list(args.data / LABELS[query])).pairs
        ref = reference.without([query])
        genes = [g for p in pairs for g in (p.gene_a, p.gene_b)]
        hom = homologs_cached(query, genes, ref, args.cache, args.threads)
        speed.append((query, len(hom.searched), ref.n_proteins, hom.seconds))
        variants = {"panel": None}
        if query == "mpneumoniae":
            variants["panel without M. genitalium"] = [i for i, n in enumerate(ref.names) if n != "mgenitalium"]
        for variant, keep in variants.items():
            ca = adjacency_from_homologs(pairs, hom, ref, genomes=keep)
            results[(query, variant)] = (pairs, ca)

    print("## Speed (phmmer, E <= 1e-5, threads=%d, nice, machine shared)\n" % args.threads)
    print("| query | proteins searched | reference proteins | seconds | proteins/s |")
    print("|---|---|---|---|---|")
    for query, n, m, s in speed:
        print(f"| {query} | {n} | {m} | {s:.0f} | {n / s:.1f} |" if s else f"| {query} | {n} | {m} | cached | |")

    # fit on E. coli only
    eco_pairs, eco_ca = results[("ecoli", "panel")]
    y_eco = np.array([p.label for p in eco_pairs], dtype=float)

    def combined(pairs, ca, weighted=True):
        return np.column_stack([distance_features(pairs), ca.score if weighted else ca.count, ca.with_homologs == 0])

    x_dist, x_comb, x_count = distance_features(eco_pairs), combined(eco_pairs, eco_ca), \
        combined(eco_pairs, eco_ca, False)
    dist_model, comb_model, count_model = fit_logistic(x_dist, y_eco), fit_logistic(x_comb, y_eco), \
        fit_logistic(x_count, y_eco)

    print("\n## AUROC (95% bootstrap CI); combined - distance is a paired bootstrap\n")
    print("| query | reference | pairs (pos) | pairs with conserved adjacency: pos / neg | no homolog pair | "
          "conserved alone | -distance alone | distance LR | distance + conserved LR | gain | "
          "unweighted count alone | gain with unweighted count |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (query, variant), (pairs, ca) in results.items():
        y = np.array([p.label for p in pairs], dtype=float)
        raw = -np.array([p.distance for p in pairs], dtype=float)
        if query == "ecoli":
            p_dist, p_comb, p_count = out_of_fold(x_dist, y), out_of_fold(x_comb, y), out_of_fold(x_count, y)
            where = "E. coli 5-fold OOF"
        else:
            p_dist, p_comb = dist_model(distance_features(pairs)), comb_model(combined(pairs, ca))
            p_count = count_model(combined(pairs, ca, False))
            where = "fit on E. coli"
        cons = ca.count > 0
        pos, neg = y == 1, y == 0
        print(f"| {query} ({where}) | {variant} | {len(y)} ({int(y.sum())}) | "
              f"{cons[pos].mean():.2f} / {cons[neg].mean():.2f} | {(ca.with_homologs == 0).mean():.2f} | "
              f"{ci_text(y, ca.score)} | {ci_text(y, raw)} | {ci_text(y, p_dist)} | {ci_text(y, p_comb)} | "
              f"{delta_text(y, p_comb, p_dist)} | {ci_text(y, ca.count.astype(float))} | "
              f"{delta_text(y, p_count, p_dist)} |")
    print("\n## Reference genome weights (1 - fraction of query proteins with a >= 50% identical best hit)\n")
    for (query, variant), (_, ca) in results.items():
        if variant == "panel":
            print(f"- {query}: " + ", ".join(f"{n} {w:.2f}" for n, w in ca.weights.items()))
    print(f"\n(total {time.perf_counter() - began:.0f} s)")


if __name__ == "__main__":
    main()
