"""Rebuild the packaged default model from the shared E. coli data, byte for byte.

    python -m microfuse_cli.train_default --data ../shared/data [-o microfuse_cli/data/default_model]

MicroFuse on the builtin views, trained on E. coli K-12 MG1655 (RefSeq GCF_000005845.2) adjacent gene pairs
labelled with ODB v4 known operons; validation = 20% of the chromosome in blocks of 50 pairs (seed 0);
CPU, seed 0, one thread, so the weights are deterministic. The context view is cut to the "core" columns
(strand layout, spacer, overlaps), the signals that hold across bacteria: a model that learns E. coli's
terminator or codon statistics does not transfer (../shared/docs/findings.md). The fusion width is 128, not the
paper's 512: the builtin views are 120 + 11 dimensions, and the shipped weights stay near 1 MB.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEFAULT_OUTPUT = Path(__file__).parent / "data" / "default_model"
ECOLI = "ecoli_k12_mg1655"
GFF = "GCF_000005845.2_ASM584v2_genomic.gff.gz"
FNA = "GCF_000005845.2_ASM584v2_genomic.fna.gz"
ODB = "odb4_known_operons_ecoli.tsv"
VAL_FRACTION = 0.2
HIDDEN = 128
SEED = 0


def training_set(data: Path):
    """E. coli's adjacent pairs with ODB labels and block splits, plus their builtin views."""
    from .embed import CONTEXT_PRESETS, ViewConfig, compute_embeddings
    from .genome import read_genome
    from .pairs import adjacent_pairs, assign_splits, label_with_operons, read_operon_table

    genome = read_genome(data / ECOLI / GFF, data / ECOLI / FNA)
    pairs, _ = label_with_operons(genome, adjacent_pairs(genome), read_operon_table(data / ECOLI / ODB))
    pairs = assign_splits(pairs, (1 - VAL_FRACTION, VAL_FRACTION, 0.0), seed=SEED)
    config = ViewConfig(device="cpu", context_features=CONTEXT_PRESETS["core"])
    embeddings = compute_embeddings(genome, pairs, config, threads=1)
    return genome, pairs, embeddings


def build(data: Path, output: Path, *, epochs: int = 70) -> None:
    import numpy as np
    import torch

    from .model import FusionConfig
    from .training import TrainConfig, train

    torch.set_num_threads(1)
    genome, pairs, embeddings = training_set(data)
    from .embed import CONTEXT_PRESETS

    labelled = [p for p in pairs if p.label is not None]
    features = list(CONTEXT_PRESETS["core"])
    x_protein, x_context = embeddings.pair_views(labelled, features)
    y = np.array([p.label for p in labelled])
    split = np.array([p.split for p in labelled])
    model = train(x_protein, x_context, y, split == "train", split == "val", FusionConfig(arch="microfuse", hidden=HIDDEN),
                  TrainConfig(seed=SEED, device="cpu", max_epochs=epochs))
    manifest = embeddings.manifest
    extra = {
        "views": manifest["views"],
        "input_dims": embeddings.dims,
        "context_features": features,
        "embedding_manifest": {k: v for k, v in manifest.items() if k != "device"},
        "training_data": {
            "genome": "Escherichia coli K-12 MG1655, RefSeq GCF_000005845.2 (NCBI, no restrictions)",
            "labels": "ODB v4 known operons of taxid 511145 (licence: none stated)",
            "pairs": {"train": int((split == "train").sum()), "val": int((split == "val").sum())},
            "command": "python -m microfuse_cli.train_default --data ../shared/data",
        },
    }
    model.save(output, extra=extra)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m microfuse_cli.train_default", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), help="the shared data folder")
    parser.add_argument("-o", "--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--epochs", type=int, default=70)
    args = parser.parse_args(argv)
    build(args.data, args.output, epochs=args.epochs)
    print(f"default model written to {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
