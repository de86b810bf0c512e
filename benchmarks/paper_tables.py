"""The paper's tables (docs/method.md): baselines, MicroFuse and every ablation, mean +/- std over seeds, with the
intergenic-distance baseline beside every table, on two benchmarks:

* ``og``: an OG-Operon-style set built with the OG rule (``pairs.label_og``: positive = same strand and a
  -20..40 bp spacer, negative = opposite strands or a spacer >= 600 bp, the middle left out) over the real genomes
  of ../shared/data (E. coli, M. pneumoniae and the six panel genomes), classes balanced per genome by
  down-sampling the larger class, split by scaffold blocks (``assign_splits``) in the paper's proportions
  (68.7 / 14.2 / 17.1 %). These labels are a function of spacer and strand only: any model that sees the spacer
  solves them, which the distance-only row shows.
* ``ecoli``: the real known operons of E. coli K-12 (ODB v4, ``label_with_operons`` on every adjacent pair; natural
  class balance), held-out region blocks 0.7 / 0.15 / 0.15 (seed 0, the same split as benchmarks/cross_species.py).

    python benchmarks/paper_tables.py [--data ../shared/data] [--seeds 3] [--epochs 70] [--benchmarks og,ecoli]
        [--models protein,context,concat,microfuse,no_disagreement_weighting,...] [--write]
        [--protein-view prostt5 --protein-model DIR] [--context-view bacformer --context-model DIR --esm-model DIR]

Views default to the builtin ones (sequence descriptors; genome-context features, which include the spacer and
strand). With ``--protein-view prostt5`` / ``--context-view bacformer`` the foundation models are loaded from the
given folders (or the Hub ids when no folder is given) through ``ViewConfig``; the builtin context view can be
kept beside Bacformer with ``--context-view bacformer,builtin``.

Prints markdown; ``--write`` also puts it into benchmarks/RESULTS.md under the heading "## Paper tables"
(replacing that section when present, appending it otherwise). Progress goes to stderr.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from cross_species import arrays  # noqa: E402  (pair views, labels, spacers, strands and splits as arrays)

HERE = Path(__file__).resolve().parent
SECTION = "## Paper tables"

#: (short name, folder under the data directory, file stem) of every real genome in ../shared/data.
GENOMES = (
    ("ecoli", "ecoli_k12_mg1655", "GCF_000005845.2_ASM584v2"),
    ("mpneumoniae", "mpneumoniae_m129", "GCF_000027345.1_ASM2734v1"),
    ("hinfluenzae", "panel", "GCF_000027305.1_ASM2730v1"),
    ("mgenitalium", "panel", "GCF_000027325.1_ASM2732v1"),
    ("synechocystis", "panel", "GCF_003015225.1_ASM301522v1"),
    ("afulgidus", "panel", "GCF_000008665.1_ASM866v1"),
    ("mjannaschii", "panel", "GCF_000091665.1_ASM9166v1"),
    ("mpaludis", "panel", "GCF_000214725.1_ASM21472v1"),
)
#: The paper's OG-Operon100K split: 68,692 / 14,169 / 17,139 pairs.
OG_FRACTIONS = (0.68692, 0.14169, 0.17139)
ECOLI_FRACTIONS = (0.7, 0.15, 0.15)
BASELINES = ("protein", "context", "concat")
MICROFUSE = "microfuse"


def model_names() -> list[str]:
    from microfuse_cli.model import ABLATIONS

    return list(BASELINES) + [MICROFUSE] + [name for name in ABLATIONS if name != "full"]


def model_config(name: str, hidden: int):
    from microfuse_cli.model import FusionConfig

    if name in BASELINES:
        return FusionConfig(arch=name, hidden=hidden)
    return FusionConfig.ablation("full" if name == MICROFUSE else name, hidden=hidden)


def display_name(name: str, views: dict[str, str]) -> str:
    if name == "protein":
        return f"{views['protein']} only (protein view)"
    if name == "context":
        return f"{views['context']} only (context view)"
    if name == "concat":
        return "Concat MLP"
    if name == MICROFUSE:
        return "**MicroFuse**"
    return f"MicroFuse: {name.replace('_', ' ')}"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# ------------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class GenomeData:
    name: str
    genome: object
    pairs: list
    emb: object


@dataclass(frozen=True)
class Benchmark:
    """Arrays of one benchmark (see ``cross_species.arrays``) plus the pairs' proteins and a description."""

    key: str
    title: str
    data: dict
    notes: list[str] = field(default_factory=list)


def load_genome(data: Path, name: str, folder: str, stem: str, view_config, threads: int,
                cache: Path | None = None) -> GenomeData:
    """Read one genome, its adjacent pairs and their views; ``cache`` keeps the views on disk between runs."""
    import hashlib
    import json

    from microfuse_cli.embed import Embeddings, compute_embeddings
    from microfuse_cli.errors import DataError
    from microfuse_cli.genome import read_genome
    from microfuse_cli.pairs import adjacent_pairs

    started = time.time()
    genome = read_genome(data / folder / f"{stem}_genomic.gff.gz", data / folder / f"{stem}_genomic.fna.gz")
    pairs = adjacent_pairs(genome)
    emb, where = None, "computed"
    if cache is not None:
        key = hashlib.sha256(json.dumps([view_config.names, view_config.protein_model, view_config.context_model,
                                         view_config.esm_model]).encode()).hexdigest()[:12]
        folder_path = cache / f"{name}.{key}"
        try:
            emb = Embeddings.load(folder_path)
            emb.check_genes(genome.genes)
            pairs_hash = hashlib.sha256("\n".join(p.pair_id for p in pairs).encode()).hexdigest()
            if emb.manifest.get("pairs_sha256") != pairs_hash:
                emb = None
            else:
                where = f"from {folder_path}"
        except DataError:
            emb = None
    if emb is None:
        emb = compute_embeddings(genome, pairs, view_config, threads=threads)
        if cache is not None:
            cache.mkdir(parents=True, exist_ok=True)
            emb.save(folder_path)
    log(f"[views] {name}: {len(genome.genes)} genes, {len(pairs)} adjacent pairs, dims {emb.dims}, {where}, "
        f"{time.time() - started:.0f} s")
    return GenomeData(name, genome, pairs, emb)


def stack(parts: list[tuple[list, object]]) -> dict:
    """Concatenate ``arrays(pairs, emb)`` over genomes, with the two proteins of every pair."""
    blocks = [arrays(pairs, emb) for pairs, emb in parts if pairs]
    out = {key: np.concatenate([b[key] for b in blocks]) for key in blocks[0]}
    out["protein_a"] = [p.gene_a.protein for pairs, _ in parts for p in pairs]
    out["protein_b"] = [p.gene_b.protein for pairs, _ in parts for p in pairs]
    return out


def balance(pairs: list, seed: int) -> list:
    """Down-sample the larger class to the size of the smaller one; genome order is kept."""
    y = np.array([p.label for p in pairs])
    pos, neg = np.flatnonzero(y == 1), np.flatnonzero(y == 0)
    k = min(len(pos), len(neg))
    rng = np.random.default_rng(seed)
    keep = np.sort(np.concatenate([rng.choice(pos, k, replace=False), rng.choice(neg, k, replace=False)]))
    return [pairs[i] for i in keep]


def og_benchmark(genomes: list[GenomeData]) -> Benchmark:
    from microfuse_cli.pairs import (OG_NEGATIVE_MIN_SPACER, OG_POSITIVE_MAX_SPACER, OG_POSITIVE_MIN_SPACER,
                                     assign_splits, label_og)

    scaffold_owner: dict[str, str] = {}
    for g in genomes:
        for sid in g.genome.scaffolds:
            if scaffold_owner.setdefault(sid, g.name) != g.name:
                raise SystemExit(f"scaffold id {sid} occurs in two genomes; the block split needs unique ids")
    per_genome, rows = [], []
    for g in genomes:
        labelled = [p for p in label_og(g.pairs) if p.label is not None]
        kept = balance(labelled, seed=[x[0] for x in GENOMES].index(g.name))
        per_genome.append(kept)
        rows.append(f"{g.name} {len(kept)} ({sum(p.label == 1 for p in labelled)} pos / "
                    f"{sum(p.label == 0 for p in labelled)} neg labelled of {len(g.pairs)} adjacent)")
    split = assign_splits([p for kept in per_genome for p in kept], OG_FRACTIONS, seed=0)
    by_genome: dict[str, list] = {g.name: [] for g in genomes}
    for p in split:
        by_genome[scaffold_owner[p.scaffold]].append(p)
    data = stack([(by_genome[g.name], g.emb) for g in genomes])
    notes = [
        f"OG rule (`label_og`): positive = same strand and {OG_POSITIVE_MIN_SPACER}..{OG_POSITIVE_MAX_SPACER} bp "
        f"spacer; negative = opposite strands or spacer >= {OG_NEGATIVE_MIN_SPACER} bp; the middle is left out. "
        "Classes balanced per genome (larger class down-sampled); pairs kept per genome: " + "; ".join(rows) + ".",
        "**These labels are a function of spacer and strand only, so any model that sees the spacer (the builtin "
        "context view holds it explicitly) solves this benchmark, as the distance-only rows show. It measures "
        "nothing about operons beyond the labelling rule; the E. coli known-operon table is the meaningful test.**",
    ]
    return Benchmark("og", "OG-Operon-style benchmark (OG rule over the real genomes)", data, notes)


def ecoli_benchmark(data_dir: Path, eco: GenomeData) -> Benchmark:
    from microfuse_cli.io.tables import read_operon_table
    from microfuse_cli.pairs import assign_splits, label_with_operons

    units = read_operon_table(data_dir / "ecoli_k12_mg1655" / "odb4_known_operons_ecoli.tsv")
    labelled, unmatched = label_with_operons(eco.genome, eco.pairs, units)
    # split before dropping unlabelled pairs, exactly as benchmarks/cross_species.py does (same held-out blocks)
    pairs = [p for p in assign_splits(labelled, ECOLI_FRACTIONS, seed=0) if p.label is not None]
    notes = [
        "Labels: ODB v4 known operons of E. coli K-12 (`label_with_operons` on every adjacent pair, both strands): "
        "1 = one known unit holds both genes, 0 = both genes known but in different units (opposite-strand pairs "
        f"included); natural class balance; {unmatched} operon members matched no gene. Region blocks of 50 pairs "
        "split 0.7 / 0.15 / 0.15 (seed 0, the blocks of benchmarks/cross_species.py).",
    ]
    return Benchmark("ecoli", "E. coli K-12 known operons (ODB v4)", stack([(pairs, eco.emb)]), notes)


# ------------------------------------------------------------------------------------------------ evaluation


def test_metrics(y, p, threshold, hard) -> dict[str, float]:
    from microfuse_cli.metrics import auroc, binary_metrics

    m = binary_metrics(y, p, 0.5)
    at = binary_metrics(y, p, threshold)
    return {
        "auroc": m["auroc"], "auprc": m["auprc"], "map": m["map"], "mf1": m["macro_f1"], "mar": m["macro_recall"],
        "acc": m["accuracy"], "brier": m["brier"], "acc_thr": at["accuracy"], "mf1_thr": at["macro_f1"],
        "hard_auroc": auroc(y[hard], p[hard]) if hard.any() else float("nan"),
    }


def run_benchmark(bench: Benchmark, names: list[str], args, views: dict[str, str]) -> str:
    from microfuse_cli.evaluate import best_cutoff_accuracy, distance_score
    from microfuse_cli.metrics import auroc, hard_conflict_mask, paired_bootstrap_delta, prefix_identity, router_weight_means
    from microfuse_cli.model import EXPERTS
    from microfuse_cli.baseline import DistanceBaseline
    from microfuse_cli.trained import TrainConfig
    from microfuse_cli.training import train

    s = bench.data
    tr, va, te = (s["split"] == name for name in ("train", "val", "test"))
    y_te, d_te, opp_te = s["y"][te], s["d"][te], s["opp"][te]
    identity = prefix_identity([a for a, t in zip(s["protein_a"], te) if t], [b for b, t in zip(s["protein_b"], te) if t])
    hard = hard_conflict_mask(y_te, identity)
    results: dict[str, dict] = {}

    dist = DistanceBaseline.fit(s["d"], s["y"], tr, va, s["opp"])
    p_dist = dist.predict(d_te, opp_te).probability
    results["distance"] = {"label": "distance only (logistic on spacer + strand)",
                           "seeds": [test_metrics(y_te, p_dist, dist.threshold, hard)], "router": None, "epochs": [],
                           "seconds": [], "delta": None}
    raw = distance_score(d_te, ~opp_te)

    for name in names:
        cfg = model_config(name, args.hidden)
        entry = {"label": display_name(name, views), "seeds": [], "router": [], "epochs": [], "seconds": [],
                 "probability": []}
        for seed in range(args.seeds):
            started = time.time()
            model = train(s["xp"], s["xc"], s["y"], tr, va, cfg,
                          TrainConfig(seed=seed, max_epochs=args.epochs, patience=args.patience,
                                      batch_size=args.batch_size, device=args.device), threads=args.threads)
            pred = model.predict(s["xp"][te], s["xc"][te], fused=False)
            entry["seeds"].append(test_metrics(y_te, pred.probability, model.threshold, hard))
            entry["router"].append(router_weight_means(pred.router_weights))
            entry["probability"].append(pred.probability)
            entry["epochs"].append(model.metrics["best_epoch"])
            entry["seconds"].append(time.time() - started)
            log(f"[{bench.key}] {name} seed {seed}: test AUROC {entry['seeds'][-1]['auroc']:.4f}, best epoch "
                f"{model.metrics['best_epoch']} of {model.metrics['epochs_run']}, {entry['seconds'][-1]:.0f} s")
        # paired bootstrap of the AUROC gain over the distance baseline, on the seed-averaged scores
        entry["delta"] = paired_bootstrap_delta(y_te, np.mean(entry["probability"], axis=0), p_dist, "auroc",
                                                n=1000, seed=0)
        results[name] = entry

    def fmt(values, digits=4):
        v = np.asarray(values, dtype=float)
        if not np.isfinite(v).any():
            return "n/a"
        if len(v) == 1:
            return f"{v[0]:.{digits}f}"
        return f"{np.nanmean(v):.{digits}f} ± {np.nanstd(v, ddof=1):.{digits}f}"

    lines = [f"### {bench.title}", ""]
    lines += [f"- {note}" for note in bench.notes]
    n_pos = lambda m: int(s["y"][m].sum())  # noqa: E731
    lines += [
        f"- Pairs: train {tr.sum()} ({n_pos(tr)} positive) / val {va.sum()} ({n_pos(va)}) / test {te.sum()} "
        f"({n_pos(te)}). Mean spacer on test: positives {d_te[y_te == 1].mean():.0f} bp, same-strand negatives "
        f"{d_te[(y_te == 0) & ~opp_te].mean():.0f} bp, all negatives {d_te[y_te == 0].mean():.0f} bp "
        f"({int((opp_te & (y_te == 0)).sum())} of {int((y_te == 0).sum())} test negatives are opposite-strand pairs).",
        f"- Distance on the test split without any fitting: AUROC {auroc(y_te, raw):.4f} (shorter same-strand spacer "
        f"ranks higher, opposite strands last); best possible cut-off accuracy (oracle) "
        f"{best_cutoff_accuracy(y_te, raw):.4f}.",
        f"- Hard conflict subset of the test split (prefix identity of the first 300 aa: positives in the lowest, "
        f"negatives in the highest quartile): {int(hard.sum())} pairs, {int(y_te[hard].sum())} positive.",
        f"- {args.seeds} seed(s), at most {args.epochs} epochs (patience {args.patience}), batch {args.batch_size}, "
        f"d = {args.hidden}; views: protein = {views['protein']}, context = {views['context']} "
        f"(x_p {s['xp'].shape[1]}-d, x_b {s['xc'].shape[1]}-d). Test split; mean ± sample std over seeds; "
        "mF1 / mAR / ACC at threshold 0.5. The AUROC gain over distance is a paired bootstrap (1,000 resamples of "
        "the test pairs) of the seed-averaged scores against the distance-only scores.",
        "",
        "| model | AUROC | AUPRC | mAP | mF1 | mAR | ACC |",
        "|---|---|---|---|---|---|---|",
    ]
    order = ["distance"] + names
    for key in order:
        r = results[key]
        lines.append("| " + " | ".join([r["label"]] + [fmt([m[k] for m in r["seeds"]])
                                                      for k in ("auroc", "auprc", "map", "mf1", "mar", "acc")]) + " |")
    lines += [
        "",
        "| model | Brier | ACC at val. threshold | mF1 at val. threshold | hard-subset AUROC | router mean weights "
        "(protein / context / agreement / conflict) | AUROC gain over distance [95% CI] | best epoch | s per seed |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for key in order:
        r = results[key]
        if r["router"]:
            w = {e: np.mean([rw[e] for rw in r["router"]]) for e in EXPERTS}
            router = "n/a (no experts)" if not any(np.isfinite(list(w.values()))) else \
                " / ".join(f"{w[e]:.3f}" for e in EXPERTS)
        else:
            router = "n/a"
        epochs = f"{np.mean(r['epochs']):.0f}" if r["epochs"] else "n/a"
        dl = r["delta"]
        gain = "(reference)" if dl is None else f"{dl['delta']:+.4f} [{dl['low']:+.4f}, {dl['high']:+.4f}]"
        secs = f"{np.mean(r['seconds']):.0f}" if r["seconds"] else "<1"
        lines.append("| " + " | ".join([r["label"]] + [fmt([m[k] for m in r["seeds"]])
                                                      for k in ("brier", "acc_thr", "mf1_thr", "hard_auroc")]
                                       + [router, gain, epochs, secs]) + " |")
    lines.append("")
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------ output


def write_section(text: str, path: Path) -> None:
    """Replace the "## Paper tables" section of ``path`` (up to the next level-2 heading) or append it."""
    old = path.read_text() if path.exists() else "# Benchmark results\n"
    lines = old.split("\n")
    start = next((i for i, line in enumerate(lines) if line.strip() == SECTION), None)
    if start is None:
        new = old.rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n"
    else:
        end = next((i for i in range(start + 1, len(lines)) if lines[i].startswith("## ")), len(lines))
        tail = "\n".join(lines[end:])
        new = "\n".join(lines[:start]).rstrip("\n") + "\n\n" + text.rstrip("\n") + "\n" + ("\n" + tail if tail else "")
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(new)
    os.replace(tmp, path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=HERE.parents[1] / "shared" / "data")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--epochs", type=int, default=70)
    parser.add_argument("--patience", type=int, default=14)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--hidden", type=int, default=512, help="d of the fusion head (paper: 512)")
    parser.add_argument("--benchmarks", default="og,ecoli", help="comma-separated: og, ecoli")
    parser.add_argument("--models", default="all",
                        help="comma-separated from: " + ", ".join(model_names()) + " (default all); "
                             "the distance-only baseline is always shown")
    parser.add_argument("--og-genomes", default="all",
                        help="genomes of the OG benchmark: all or a comma list of " + ", ".join(g[0] for g in GENOMES))
    parser.add_argument("--protein-view", default="builtin", help="builtin or prostt5")
    parser.add_argument("--context-view", default="builtin", help="builtin, bacformer or bacformer,builtin")
    parser.add_argument("--protein-model", help="ProstT5 folder (or Hub id) for --protein-view prostt5")
    parser.add_argument("--context-model", help="Bacformer folder (or Hub id) for --context-view bacformer")
    parser.add_argument("--esm-model", help="ESM-2 folder (or Hub id) that feeds Bacformer")
    parser.add_argument("--offline", action="store_true", help="never download model weights")
    parser.add_argument("--embed-device", default="auto", help="device of the foundation views (auto, cpu, cuda)")
    parser.add_argument("--device", default="cpu", help="training device (cpu, cuda)")
    parser.add_argument("--threads", type=int, default=1, help="torch threads and feature worker processes")
    parser.add_argument("--cache", type=Path, help="folder that keeps each genome's views between runs")
    parser.add_argument("--write", action="store_true", help="also write the tables into benchmarks/RESULTS.md")
    parser.add_argument("--results", type=Path, default=HERE / "RESULTS.md", help=argparse.SUPPRESS)
    args = parser.parse_args()

    import torch

    from microfuse_cli.embed import ViewConfig

    torch.set_num_threads(args.threads)
    names = model_names() if args.models == "all" else [m.strip() for m in args.models.split(",") if m.strip()]
    unknown = [m for m in names if m not in model_names()]
    if unknown:
        parser.error(f"unknown model(s) {', '.join(unknown)}; choose from {', '.join(model_names())}")
    benchmarks = [b.strip() for b in args.benchmarks.split(",") if b.strip()]
    if not benchmarks or any(b not in ("og", "ecoli") for b in benchmarks):
        parser.error("--benchmarks takes og and/or ecoli")
    og_names = [g[0] for g in GENOMES] if args.og_genomes == "all" else [g.strip() for g in args.og_genomes.split(",")]
    if not og_names or any(g not in {x[0] for x in GENOMES} for g in og_names):
        parser.error(f"--og-genomes takes all or names from {', '.join(g[0] for g in GENOMES)}")
    wanted = set(og_names if "og" in benchmarks else []) | ({"ecoli"} if "ecoli" in benchmarks else set())
    view_config = ViewConfig.parse(args.protein_view, args.context_view, protein_model=args.protein_model,
                                   context_model=args.context_model, esm_model=args.esm_model,
                                   device=args.embed_device, offline=args.offline)
    views = view_config.names
    started = time.time()
    genomes = {name: load_genome(args.data, name, folder, stem, view_config, args.threads, args.cache)
               for name, folder, stem in GENOMES if name in wanted}
    parts = [
        SECTION,
        "",
        "Produced by `python benchmarks/paper_tables.py " + " ".join(sys.argv[1:]) + "` (CPU, torch threads "
        f"{args.threads}). The layout follows the paper (docs/method.md): model | AUROC | AUPRC | mAP | mF1 | mAR | "
        "ACC on the test split, then Brier, accuracy and macro-F1 at the threshold chosen on validation, AUROC on the "
        "hard conflict subset and the router's mean weight per expert (test split; one-hot for the single-view "
        "baselines, n/a for concat). The distance-only baseline is the first row of every table.",
        "",
    ]
    if views["protein"] == "builtin" or "builtin" in views["context"]:
        parts += ["Views here are the builtin ones, not the paper's ProstT5 / Bacformer embeddings (no weights on "
                  "this machine), so absolute numbers are not comparable with the paper's; the builtin context view "
                  "includes the spacer and strand.", ""]
    print("\n".join(parts), flush=True)
    for key in benchmarks:
        if key == "og":
            bench = og_benchmark([genomes[n] for n in og_names])
        else:
            bench = ecoli_benchmark(args.data, genomes["ecoli"])
        log(f"[{key}] {len(bench.data['y'])} pairs; training {len(names)} model(s) x {args.seeds} seed(s)")
        parts.append(run_benchmark(bench, names, args, views))
        print(parts[-1], flush=True)
    log(f"total {time.time() - started:.0f} s")
    if args.write:
        write_section("\n".join(parts), args.results)
        log(f"wrote the section {SECTION!r} of {args.results}")


if __name__ == "__main__":
    main()
