"""Does centring the fused vectors help retrieval? A label-free measurement on the retrieval benchmark's pairs.

    nice python benchmarks/retrieval_centring.py --data ../shared/data [--work DIR] [--bootstrap 2000] [--seed 0]

The fused vectors are uncentred (a large common component), so their cosines saturate near 1. This script scores
the pairs of ``benchmarks/retrieval_eval.sh`` part (b) (E. coli with ODB known operons + M. pneumoniae labelled
pairs, the default model), then compares, on the same queries, neighbours and k values, how the vectors are
transformed before the cosine search (every labelled pair queries the other genome only):

* (a) as today: raw vectors, L2-normalised (the product);
* (b) inductive centring: the database of a query is the genome it searches; its vectors and the queries are
  centred by the database mean, then L2-normalised;
* (c) transductive centring: centred by the mean of all vectors of both genomes (what a mean stored at
  ``retrieve build`` would give on this benchmark's joint index), then L2-normalised;
* (d) centring + PCA whitening fitted on the database (components up to 99% of its variance), then L2-normalised.

No label enters any transformation. Figures come from ``microfuse_cli.retrieve.evaluation.retrieval_evaluate``
(the product's counting rule); (a)'s neighbours are checked against the product's flat index. Intervals: bootstrap
over labelled query pairs (stratified by genome and label), paired with (a) for the differences. Adjacent pairs of
one genome are not independent, so the intervals are, if anything, too narrow. Saturation: share of queries whose
top-1 neighbour (other genome) has cosine > 0.99, the median top-1 cosine, the norm of the mean unit vector and the
first principal component's share of the variance (pooled over both genomes, averaged over the two search
directions where the transformation depends on the database). ``--panel`` adds the saturation figures of the
audit's three archaea (A. fulgidus, M. jannaschii, M. paludis; unlabelled), each searching the other two.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path
from typing import Callable

import numpy as np
from sklearn.decomposition import PCA

from microfuse_cli.retrieve import PairIds, PairIndex, read_vector_files, retrieval_evaluate
from microfuse_cli.retrieve.results import SearchResult

KS = (1, 3, 5, 10)
SATURATED = 0.99
ECOLI = "ecoli_k12_mg1655"
MPN = "mpneumoniae_m129"
PANEL = {"afulgidus": "GCF_000008665.1_ASM866v1", "mjannaschii": "GCF_000091665.1_ASM9166v1",
         "mpaludis": "GCF_000214725.1_ASM21472v1"}

#: a transformation: (database vectors, vectors to transform) -> transformed vectors; fitted on the database only
Transform = Callable[[np.ndarray, np.ndarray], np.ndarray]


def identity(database: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    return vectors


def centre(database: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    return vectors - database.mean(axis=0)


def whiten(database: np.ndarray, vectors: np.ndarray) -> np.ndarray:
    """PCA whitening of the database; components past 99% of its variance are dropped (noise made unit)."""
    pca = PCA(n_components=0.99, whiten=True, svd_solver="full").fit(database)
    return pca.transform(vectors)


def unit(vectors: np.ndarray) -> np.ndarray:
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


# -- data --------------------------------------------------------------------------------------------------------
def score(work: Path, name: str, args: list[str]) -> Path:
    """Fused vectors of one genome (``microfuse score --fused``), cached in ``work``."""
    out = work / f"{name}.npy"
    if not out.exists():
        subprocess.run([sys.executable, "-m", "microfuse_cli", "score", "-q", "-t", "2", *args, "-o", os.devnull,
                        "--fused", str(out), "--genome-name", name], check=True)
    return out


def benchmark_files(data: Path, work: Path) -> list[Path]:
    """The two labelled genomes of retrieval_eval.sh part (b), exactly as that script scores them."""
    eco, mpn = data / ECOLI, data / MPN
    return [
        score(work, "ecoli_known", ["--fasta", str(eco / "GCF_000005845.2_ASM584v2_genomic.fna.gz"),
                                    str(eco / "GCF_000005845.2_ASM584v2_genomic.gff.gz"),
                                    "--operons", str(eco / "odb4_known_operons_ecoli.tsv")]),
        score(work, "mpn_known", ["--fasta", str(mpn / "GCF_000027345.1_ASM2734v1_genomic.fna.gz"),
                                  str(mpn / "GCF_000027345.1_ASM2734v1_genomic.gff.gz"),
                                  "--labels", str(mpn / "labelled_pairs_mpneumoniae.csv")]),
    ]


def panel_files(data: Path, work: Path) -> list[Path]:
    return [score(work, name, ["--fasta", str(data / "panel" / f"{acc}_genomic.fna.gz"),
                               str(data / "panel" / f"{acc}_genomic.gff.gz")]) for name, acc in PANEL.items()]


def load(paths: list[Path]) -> tuple[np.ndarray, PairIds]:
    loaded = read_vector_files(paths)
    return (np.concatenate([np.asarray(v, dtype=np.float64) for v, _ in loaded]),
            PairIds.stack([i for _, i in loaded]))


# -- search ------------------------------------------------------------------------------------------------------
def search(vectors: np.ndarray, genome: np.ndarray, transform: Transform, transductive: bool,
           k: int) -> SearchResult:
    """Exact top-k cosine neighbours of every row among rows of the other genomes, after ``transform``.

    The database of a query is every row of another genome (the transform is fitted on it), or, ``transductive``,
    all rows. Ties are broken by row, as the product does."""
    n = len(vectors)
    target = np.full((n, k), -1, np.int64)
    sim = np.full((n, k), np.nan, np.float32)
    for g in np.unique(genome):
        queries, others = np.nonzero(genome == g)[0], np.nonzero(genome != g)[0]
        fit_on = vectors if transductive else vectors[others]
        q = unit(transform(fit_on, vectors[queries]))
        db = unit(transform(fit_on, vectors[others]))
        s = q @ db.T
        order = np.lexsort((np.broadcast_to(others, s.shape), -s), axis=1)[:, :k]
        target[queries] = others[order]
        sim[queries] = np.take_along_axis(s, order, axis=1)
    rank = np.where(target >= 0, np.arange(1, k + 1, dtype=np.int32), 0).astype(np.int32)
    return SearchResult(target, sim, rank)


def product_agreement(vectors: np.ndarray, ids: PairIds, mine: SearchResult, k: int) -> float:
    """Share of (a)'s top-k neighbours that the product's flat index (grouped by genome) finds too, in order."""
    index = PairIndex.build(vectors.astype(np.float32), ids, index="flat", group_by="genome")
    theirs = index.search_all(k, threads=1)
    return float((theirs.target == mine.target).mean())


# -- figures -----------------------------------------------------------------------------------------------------
def per_query_counts(result: SearchResult, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per query: labelled neighbours in the top k, and those with the query's label (retrieval_evaluate's rule)."""
    top = result.target[:, :k]
    nlab = np.where(top >= 0, labels[np.maximum(top, 0)], -1)
    counted = nlab >= 0
    return counted.sum(axis=1), (counted & (nlab == labels[:, None])).sum(axis=1)


def balanced(counted: np.ndarray, same: np.ndarray, labels: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Balanced precision for each resample (rows: (B, m) query rows); pooled over neighbours as the product."""
    pos = labels[rows] == 1
    neg = ~pos
    c, s = counted[rows], same[rows]
    return ((s * pos).sum(1) / (c * pos).sum(1) + (s * neg).sum(1) / (c * neg).sum(1)) / 2


def resamples(labels: np.ndarray, genome: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap rows of labelled queries, stratified by (genome, label): (n_boot, m)."""
    rng = np.random.default_rng(seed)
    strata = [np.nonzero((labels == lab) & (genome == g))[0] for g in np.unique(genome) for lab in (0, 1)]
    return np.concatenate([s[rng.integers(0, len(s), (n_boot, len(s)))] for s in strata if len(s)], axis=1)


def saturation(result: SearchResult) -> tuple[float, float]:
    top1 = result.similarity[:, 0]
    return float((top1 > SATURATED).mean()), float(np.median(top1))


def geometry(vectors: np.ndarray, genome: np.ndarray, transform: Transform, transductive: bool) -> tuple[float, float]:
    """Norm of the mean unit vector and PC1 variance share of all transformed vectors, averaged over directions."""
    norms, pc1 = [], []
    for g in np.unique(genome):
        fit_on = vectors if transductive else vectors[genome != g]
        u = unit(transform(fit_on, vectors))
        norms.append(np.linalg.norm(u.mean(axis=0)))
        pc1.append(PCA(n_components=1).fit(u).explained_variance_ratio_[0])
        if transductive:
            break
    return float(np.mean(norms)), float(np.mean(pc1))


VARIANTS = {
    "a": ("as today (raw)", identity, False),
    "b": ("centred, database mean", centre, False),
    "c": ("centred, mean of both genomes", centre, True),
    "d": ("centred + PCA-whitened (database)", lambda db, v: whiten(db, v), False),
}


def interval(values: np.ndarray) -> str:
    lo, hi = np.percentile(values, [2.5, 97.5])
    return f"[{lo:+.3f}, {hi:+.3f}]" if lo < 0 or hi < 0 else f"[{lo:.3f}, {hi:.3f}]"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data",
                        help="the shared data folder (default: ../shared/data next to the repository)")
    parser.add_argument("--work", type=Path, default=Path("/tmp/microfuse-centring"),
                        help="folder for the fused vectors (reused when present)")
    parser.add_argument("--bootstrap", type=int, default=2000, help="bootstrap resamples")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--panel", action="store_true", help="also the saturation of the audit's three archaea")
    args = parser.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)

    vectors, ids = load(benchmark_files(args.data, args.work))
    genome, labels = np.asarray(ids.genome, dtype=object), np.asarray(ids.label)
    kmax = max(KS)
    results = {key: search(vectors, genome, fn, trans, kmax) for key, (_, fn, trans) in VARIANTS.items()}
    print(f"(a) neighbours identical to the product's flat index: "
          f"{product_agreement(vectors, ids, results['a'], kmax):.4f} of top-{kmax} slots")
    labelled = labels >= 0
    rows = resamples(labels, genome, args.bootstrap, args.seed)
    boot = {}
    for key, result in results.items():
        for k in (1, 10):
            counted, same = per_query_counts(result, labels, k)
            boot[key, k] = balanced(counted, same, labels, rows)

    print(f"\nretrieval (b) pairs: {labelled.sum()} labelled queries ({(labels == 1).sum()} positive), "
          f"{len(labels)} indexed pairs; {args.bootstrap} stratified bootstrap resamples, seed {args.seed}\n")
    print("| variant | k | positive precision | negative precision | balanced | enrichment |")
    print("|---|---|---|---|---|---|")
    for key, (name, _, _) in VARIANTS.items():
        for row in retrieval_evaluate(results[key], labels, KS):
            print(f"| ({key}) {name} | {row.k} | {row.positive_precision:.3f} | {row.negative_precision:.3f} | "
                  f"{row.balanced_precision:.3f} | {row.enrichment:.3f} |")
    print("\n| variant | balanced@1 [95% CI] | minus (a) [95% CI] | balanced@10 [95% CI] | minus (a) [95% CI] |")
    print("|---|---|---|---|---|")
    for key, (name, _, _) in VARIANTS.items():
        cells = []
        for k in (1, 10):
            point = retrieval_evaluate(results[key], labels, (k,))[0].balanced_precision
            base = retrieval_evaluate(results["a"], labels, (k,))[0].balanced_precision
            diff = "-" if key == "a" else f"{point - base:+.3f} {interval(boot[key, k] - boot['a', k])}"
            cells += [f"{point:.3f} {interval(boot[key, k])}", diff]
        print(f"| ({key}) {name} | " + " | ".join(cells) + " |")

    print("\nSaturation (top-1 neighbour from the other genome, every indexed pair as query):\n")
    print("| genomes | variant | top-1 cosine > 0.99 | median top-1 cosine | mean unit vector norm | PC1 share |")
    print("|---|---|---|---|---|---|")
    sets = [("E. coli + M. pneumoniae", vectors, genome, results)]
    if args.panel:
        pv, pids = load(panel_files(args.data, args.work))
        pg = np.asarray(pids.genome, dtype=object)
        sets.append(("A. fulgidus + M. jannaschii + M. paludis", pv, pg,
                     {key: search(pv, pg, fn, trans, 1) for key, (_, fn, trans) in VARIANTS.items()}))
    for title, vec, gen, res in sets:
        for key, (name, fn, trans) in VARIANTS.items():
            share, median = saturation(res[key])
            norm, pc1 = geometry(vec, gen, fn, trans)
            print(f"| {title} | ({key}) {name} | {share:.3f} | {median:.4f} | {norm:.3f} | {pc1:.3f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
