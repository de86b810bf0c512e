"""Rebuild the packaged default model from the four labelled genomes of ../shared/data, byte for byte.

    python -m microfuse_cli.train_default --data ../shared/data [-o microfuse_cli/data/default_model]

MicroFuse on the builtin views, trained on the labelled pairs (ODB v4 known operons, OpDetect's pair lists) of
E. coli K-12 MG1655, M. pneumoniae M129, L. monocytogenes EGD-e and L. pneumophila Paris; validation = a seeded
20% of those pairs; CPU, seed 0, one thread, trained in float64 and saved as float32 (TrainConfig.precision), with
the libraries' processor-specific code paths held to one (PORTABLE_ARITHMETIC), so the weights are the same bytes
on any x86-64 machine: float32 training under PORTABLE_ARITHMETIC alone still gave other bytes on an AMD processor
than on the Intel one that built them. The context view is cut to the
"core" columns (strand layout, spacer, overlaps). The fusion width is 128, not the paper's 512: the builtin views
are 120 + 11 dimensions, and the shipped weights stay near 1 MB.

Its decision rule (calibration.DecisionRule) is what leave-one-genome-out chose (benchmarks/RESULTS.md, "Leave one
genome out"): each genome's cut-off is where its own self-calibrated spacer posterior falls below the threshold
the four labelled genomes teach (calibration.learn_posterior_threshold: the smallest worst-genome gap to their best
cut-offs), held inside the genome's own 90% bootstrap interval (calibration.own_cutoff_interval), so no genome's
cut-off leaves what its own spacers allow; OWN_WEIGHT = 1 (shrinking toward the across-genome prior helped
M. pneumoniae as much as it hurt E. coli and L. pneumophila); the slope is fitted across the four genomes, and the
head's correction weight is CORRECTION.
"""

from __future__ import annotations

import argparse
import os
import sys
from dataclasses import dataclass
from pathlib import Path

DEFAULT_OUTPUT = Path(__file__).parent / "data" / "default_model"
ECOLI = "ecoli_k12_mg1655"
GFF = "GCF_000005845.2_ASM584v2_genomic.gff.gz"
FNA = "GCF_000005845.2_ASM584v2_genomic.fna.gz"
ODB = "odb4_known_operons_ecoli.tsv"
VAL_FRACTION = 0.2

#: Settings that make float results independent of the processor, read by each library as it loads: torch's
#: kernels without their vector-width dispatch (AVX-512 sums in another order than AVX2), MKL's conditional numerical
#: reproducibility, oneDNN held to SSE4.1, numpy at its baseline (old and new names of its dispatch targets; unknown
#: ones are ignored). They are not enough alone (float32 training still differed between an Intel and an AMD
#: processor, by up to 1.8e-6); with float64 training, weights computed with each library's other code paths (torch's
#: AVX-512 kernels, MKL's AVX-512 path) were within 2e-15 and gave the same float32 bytes.
PORTABLE_ARITHMETIC = {
    "ATEN_CPU_CAPABILITY": "default",
    "MKL_CBWR": "COMPATIBLE",
    "ONEDNN_MAX_CPU_ISA": "SSE41",
    "NPY_DISABLE_CPU_FEATURES": "X86_V3,X86_V4,AVX512_ICL,AVX512_SPR,AVX512_SKX,AVX512_CLX,AVX512_CNL,AVX512F,"
                                "AVX512CD,AVX2,FMA3,AVX,F16C",
}

#: glibc's malloc keeping freed large blocks instead of unmapping them: float64 training allocates 128 MiB similarity
#: matrices every step, and mapping them afresh each time took a third of the build's time. No effect on results.
FEWER_MAPPINGS = "glibc.malloc.mmap_threshold=2147483647:glibc.malloc.trim_threshold=4294967295"


@dataclass(frozen=True)
class LabelledGenome:
    """One labelled genome of ../shared/data: its files, and what the model's README owes its sources."""

    name: str
    folder: str
    annotation: str
    fasta: str | None
    pairs: str
    operons: str
    organism: str

    def load(self, data: Path):
        """(genome, its adjacent pairs, its labelled pairs in the list's order)."""
        from .genome import read_genome
        from .io.tables import read_pair_list
        from .pairs import adjacent_pairs, pairs_from_list

        folder = data / self.folder
        genome = read_genome(folder / self.annotation, folder / self.fasta if self.fasta else None)
        labelled = pairs_from_list(genome, read_pair_list(folder / self.pairs)).pairs
        return genome, adjacent_pairs(genome), labelled


#: The four labelled genomes (four clades); labels: ODB v4 known operons via the OpDetect labelled pairs.
LABELLED_GENOMES = (
    LabelledGenome("ecoli", ECOLI, GFF, FNA, "labelled_pairs_ecoli.csv", ODB,
                   "Escherichia coli K-12 MG1655, RefSeq GCF_000005845.2"),
    LabelledGenome("mpneumoniae", "mpneumoniae_m129", "GCF_000027345.1_ASM2734v1_genomic.gff.gz",
                   "GCF_000027345.1_ASM2734v1_genomic.fna.gz", "labelled_pairs_mpneumoniae.csv",
                   "odb4_known_operons_mpneumoniae.tsv", "Mycoplasma pneumoniae M129, RefSeq GCF_000027345.1"),
    LabelledGenome("lmonocytogenes", "lmonocytogenes_egde", "lmonocytogenes_egde.gff.gz",
                   "GCA_000196035.1_AL591824.1.fna.gz", "labelled_pairs_lmonocytogenes.csv",
                   "odb4_known_operons_lmonocytogenes.tsv", "Listeria monocytogenes EGD-e, GenBank AL591824.1"),
    LabelledGenome("lpneumophila", "lpneumophila_paris", "CR628336.1.gbk.gz", None, "labelled_pairs_lpneumophila.csv",
                   "odb4_known_operons_lpneumophila.tsv", "Legionella pneumophila Paris, GenBank CR628336.1"),
)
HIDDEN = 128
SEED = 0


#: Chosen by leave-one-genome-out (python benchmarks/cross_species.py --logo; benchmarks/RESULTS.md).
OWN_WEIGHT = 1.0
CORRECTION = 0.0


def training_set(data: Path):
    """The labelled pairs of the four genomes with their builtin views, and each genome's LabelledSpacers."""
    import numpy as np

    from .calibration import LabelledSpacers, SpacerModel
    from .embed import CONTEXT_PRESETS, ViewConfig, compute_embeddings

    features = list(CONTEXT_PRESETS["core"])
    views, spacers, manifest = [], [], None
    for entry in LABELLED_GENOMES:
        genome, adjacent, labelled = entry.load(data)
        embeddings = compute_embeddings(genome, labelled, ViewConfig(device="cpu", context_features=tuple(features)),
                                        threads=1)
        manifest = manifest or embeddings
        x_protein, x_context = embeddings.pair_views(labelled, features)
        y = np.array([p.label for p in labelled])
        views.append((x_protein, x_context, y))
        spacers.append(LabelledSpacers.from_pairs(entry.name, SpacerModel.fit(adjacent), labelled))
    x_protein, x_context, y = (np.concatenate(parts) for parts in zip(*views))
    return x_protein, x_context, y, spacers, manifest


def build(data: Path, output: Path, *, epochs: int = 70) -> None:
    """Train and save the default model. Its bytes are the shipped ones only in a process that computes with
    PORTABLE_ARITHMETIC (`python -m microfuse_cli.train_default` sees to it)."""
    import numpy as np

    from .calibration import learn_rule
    from .checkpoint import ModelInputs
    from .embed import CONTEXT_PRESETS
    from .model import FusionConfig
    from .trained import TrainConfig
    from .training import train

    x_protein, x_context, y, spacers, embeddings = training_set(data)
    val = np.random.default_rng(SEED).random(len(y)) < VAL_FRACTION
    model = train(x_protein, x_context, y, ~val, val, FusionConfig(arch="microfuse", hidden=HIDDEN),
                  TrainConfig(seed=SEED, device="cpu", max_epochs=epochs, precision="float64"),
                  threads=1)  # its bytes depend on it
    model = model.with_decision(learn_rule(spacers, OWN_WEIGHT, correction=CORRECTION))
    manifest = embeddings.manifest
    inputs = ModelInputs.from_embeddings(manifest["views"], embeddings.dims, CONTEXT_PRESETS["core"])
    provenance = {
        # the view recipe, not one genome's file hashes (four genomes were embedded)
        "embedding_manifest": {k: v for k, v in manifest.items()
                               if k not in ("device", "genome", "genes_sha256", "pairs_sha256", "gene_source", "genes")},
        "training_data": {
            "genomes": [entry.organism for entry in LABELLED_GENOMES],
            "labels": "ODB v4 known operons (licence: none stated), pairs from the OpDetect benchmark (none stated)",
            "pairs": {"train": int((~val).sum()), "val": int(val.sum())},
            "command": "python -m microfuse_cli.train_default --data ../shared/data",
        },
    }
    model.save(output, provenance, inputs=inputs)


def portable_arithmetic() -> bool:
    """Whether this process computes with PORTABLE_ARITHMETIC: set before numpy and torch loaded, or not at all."""
    return all(os.environ.get(name) == value for name, value in PORTABLE_ARITHMETIC.items())


def _restart_with_portable_arithmetic(argv: list[str]) -> None:
    """Run this module again in a fresh interpreter with PORTABLE_ARITHMETIC set: numpy, torch and MKL read their
    settings once, as they load, so setting them here would come too late where they are loaded already."""
    env = {**os.environ, **PORTABLE_ARITHMETIC}
    env.setdefault("GLIBC_TUNABLES", FEWER_MAPPINGS)
    os.execve(sys.executable, [sys.executable, "-m", "microfuse_cli.train_default", *argv], env)


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
    if not portable_arithmetic():
        _restart_with_portable_arithmetic(sys.argv[1:])
    sys.exit(main())
