"""Train on E. coli, test on held-out E. coli blocks and on M. pneumoniae (never tuned on): the models beside
the intergenic-distance baseline, with bootstrap intervals.

    python benchmarks/cross_species.py --data ../shared/data [--seeds 3] [--epochs 70]
        [--variants microfuse:core:128,microfuse:all:512,concat:all:512,context:all:512,protein:all:512]
        [--protein-per-genome]

``--protein-per-genome`` z-scores each protein descriptor within each genome before training and scoring (a
genome-relative protein view).

A variant is ARCH:CONTEXT_FEATURES:HIDDEN; microfuse:core:128 is the recipe of the shipped default model.

Prints a markdown table (paste into benchmarks/RESULTS.md).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def load_sets(data: Path):
    from microfuse_cli.embed import ViewConfig, compute_embeddings
    from microfuse_cli.genome import read_genome
    from microfuse_cli.pairs import adjacent_pairs, assign_splits, label_with_operons, pairs_from_list, \
        read_operon_table, read_pair_list

    eco = data / "ecoli_k12_mg1655"
    genome = read_genome(eco / "GCF_000005845.2_ASM584v2_genomic.gff.gz", eco / "GCF_000005845.2_ASM584v2_genomic.fna.gz")
    pairs, _ = label_with_operons(genome, adjacent_pairs(genome), read_operon_table(eco / "odb4_known_operons_ecoli.tsv"))
    pairs = [p for p in assign_splits(pairs, (0.7, 0.15, 0.15), seed=0) if p.label is not None]
    eco_emb = compute_embeddings(genome, pairs, ViewConfig(device="cpu"), threads=2)
    mpn = data / "mpneumoniae_m129"
    mgenome = read_genome(mpn / "GCF_000027345.1_ASM2734v1_genomic.gff.gz", mpn / "GCF_000027345.1_ASM2734v1_genomic.fna.gz")
    mpairs = pairs_from_list(mgenome, read_pair_list(mpn / "labelled_pairs_mpneumoniae.csv")).pairs
    mpn_emb = compute_embeddings(mgenome, mpairs, ViewConfig(device="cpu"), threads=2)
    return (pairs, eco_emb), (mpairs, mpn_emb)


def arrays(pairs, emb):
    xp, xc = emb.pair_views(pairs)
    return {"xp": xp, "xc": xc, "y": np.array([p.label for p in pairs]),
            "d": np.array([p.distance for p in pairs], dtype=float),
            "opp": np.array([not p.same_strand for p in pairs]),
            "split": np.array([p.split or "test" for p in pairs])}


def report(name, model_name, y, p, threshold, d, opp):
    from microfuse_cli.evaluate import best_cutoff_accuracy, distance_score
    from microfuse_cli.metrics import accuracy, auroc, bootstrap_ci, paired_bootstrap_delta

    base = distance_score(d, ~opp)
    ci = bootstrap_ci(y, p, "auroc", n=1000, seed=0)
    delta = paired_bootstrap_delta(y, p, base, "auroc", n=1000, seed=0)
    return (f"| {name} | {model_name} | {len(y)} | {auroc(y, p):.4f} [{ci['low']:.3f}, {ci['high']:.3f}] | "
            f"{auroc(y, base):.4f} | {delta['delta']:+.4f} [{delta['low']:+.3f}, {delta['high']:+.3f}] | "
            f"{accuracy(y, p, threshold):.4f} | {best_cutoff_accuracy(y, base):.4f} |")


def main() -> None:
    import torch

    from microfuse_cli.model import FusionConfig
    from microfuse_cli.training import DistanceBaseline, TrainConfig, train

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=70)
    parser.add_argument("--variants", default="microfuse:core:128,microfuse:all:512,concat:all:512,"
                                                 "context:all:512,context:core:512,protein:all:512")
    parser.add_argument("--protein-per-genome", action="store_true",
                        help="Standardise the protein view within each genome (E. coli, M. pneumoniae separately).")
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.time()
    (eco_pairs, eco_emb), (mpn_pairs, mpn_emb) = load_sets(args.data)
    if args.protein_per_genome:
        for emb in (eco_emb, mpn_emb):
            sd = emb.protein.std(axis=0)
            emb.protein = ((emb.protein - emb.protein.mean(axis=0)) / np.where(sd < 1e-6, 1.0, sd)).astype(np.float32)
    eco, mpn = arrays(eco_pairs, eco_emb), arrays(mpn_pairs, mpn_emb)
    tr, va, te = (eco["split"] == s for s in ("train", "val", "test"))
    print(f"E. coli: {tr.sum()} train / {va.sum()} val / {te.sum()} test pairs; M. pneumoniae: {len(mpn['y'])} pairs; "
          f"features in {time.time() - start:.0f} s\n")
    print("| test set | model | pairs | AUROC [95% CI] | distance AUROC | delta vs distance [95% CI] | "
          "accuracy at model's threshold | best distance cut-off accuracy (oracle) |")
    print("|---|---|---|---|---|---|---|---|")
    dist = DistanceBaseline.fit(eco["d"], eco["y"], tr, va, eco["opp"])
    for name, s, mask in (("E. coli held-out blocks", eco, te), ("M. pneumoniae", mpn, np.ones(len(mpn["y"]), bool))):
        p = dist.predict(s["d"][mask], s["opp"][mask]).probability
        print(report(name, "distance (logistic)", s["y"][mask], p, dist.threshold, s["d"][mask], s["opp"][mask]))
    from microfuse_cli.embed import CONTEXT_PRESETS

    for variant in args.variants.split(","):
        arch, features, hidden = variant.split(":")
        keep = (np.arange(eco["xc"].shape[1]) if features == "all"
                else eco_emb.column_index([n for n in eco_emb.context_names if n in CONTEXT_PRESETS[features]]))
        rows = {"eco": [], "mpn": []}
        for seed in range(args.seeds):
            t0 = time.time()
            model = train(eco["xp"], eco["xc"][:, keep], eco["y"], tr, va, FusionConfig(arch=arch, hidden=int(hidden)),
                          TrainConfig(seed=seed, max_epochs=args.epochs))
            for key, s, mask in (("eco", eco, te), ("mpn", mpn, np.ones(len(mpn["y"]), bool))):
                p = model.predict(s["xp"][mask], s["xc"][mask][:, keep], fused=False).probability
                rows[key].append((p, model.threshold))
            print(f"<!-- {variant} seed {seed}: {time.time() - t0:.0f} s, best epoch {model.metrics.get('best_epoch')} -->",
                  flush=True)
        for name, key, s, mask in (("E. coli held-out blocks", "eco", eco, te),
                                   ("M. pneumoniae", "mpn", mpn, np.ones(len(mpn["y"]), bool))):
            p = np.mean([r[0] for r in rows[key]], axis=0)
            thr = float(np.mean([r[1] for r in rows[key]]))
            print(report(name, f"{variant} (mean of {args.seeds} seeds)", s["y"][mask], p, thr, s["d"][mask],
                         s["opp"][mask]), flush=True)


if __name__ == "__main__":
    main()
