"""CPU against GPU: do the production views and the fusion head give the same numbers on both?

Two parts, each run once on the CPU and once on ``--device`` (a GPU):

- views: ProstT5 (protein) and ESM-2 + Bacformer (context) through ``compute_embeddings`` on every gene of a small
  real genome (M. genitalium G37, 476 genes), with small random models of the real architectures written by
  ``tests/tiny_models.py`` (no weights can be downloaded here). Float32 on both devices, then the GPU's default
  half precisions (ProstT5 float16, Bacformer bfloat16). Max absolute difference and min cosine per matrix.
- head: the shipped default's training recipe (``train_default.training_set``: the four labelled genomes, builtin
  views, seed 0) for ``--epochs`` epochs on each device; max |difference| of the validation probabilities, both
  validation AUROCs, and seconds per epoch.

Usage::

    python benchmarks/gpu_parity.py --device cuda            # needs a GPU and ../shared/data
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import tiny_models  # noqa: E402
from conftest import MG_G37, SHARED  # noqa: E402  (the shared data, found as the tests find it)


def compare(name: str, a: np.ndarray, b: np.ndarray) -> None:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    cos = (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))
    print(f"  {name:<34} max |diff| {np.abs(a - b).max():.2e}  min cosine {cos.min():.6f}  "
          f"(scale: max |value| {np.abs(a).max():.2e})")


def views(device: str) -> None:
    from microfuse_cli.embed import ViewConfig, compute_embeddings
    from microfuse_cli.genome import read_genome
    from microfuse_cli.pairs import adjacent_pairs

    genome = read_genome(f"{MG_G37}.gff.gz", f"{MG_G37}.fna.gz")
    pairs = adjacent_pairs(genome)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        models = dict(protein_model=str(tiny_models.save_tiny_prostt5(root / "prostt5", d_model=128, layers=4)),
                      esm_model=str(tiny_models.save_tiny_esm2(root / "esm2", hidden=64, layers=4)),
                      context_model=str(tiny_models.save_tiny_bacformer(root / "bacformer", hidden=64, layers=4)))
        runs = {}
        for label, dev, dtype in (("cpu float32 (reference)", "cpu", "float32"), (f"{device} float32", device, "float32"),
                                  (f"{device} default", device, None)):
            config = ViewConfig(protein_view="prostt5", context_views=("bacformer",), device=dev, dtype=dtype,
                                offline=True, **models)
            t = time.perf_counter()
            runs[label] = compute_embeddings(genome, pairs, config, threads=4)
            print(f"  {label}: {len(genome.genes)} genes in {time.perf_counter() - t:.1f} s "
                  f"(ProstT5 {runs[label].manifest['protein_view']['dtype']}, "
                  f"Bacformer {runs[label].manifest['context_view']['bacformer'].get('dtype')})")
    base = runs["cpu float32 (reference)"]
    for label in list(runs)[1:]:
        compare(f"protein (ProstT5), {label}", base.protein, runs[label].protein)
        compare(f"context (Bacformer), {label}", base.context, runs[label].context)


def head(device: str, data: Path, epochs: int) -> None:
    from sklearn.metrics import roc_auc_score

    from microfuse_cli.model import FusionConfig
    from microfuse_cli.train_default import HIDDEN, SEED, VAL_FRACTION, training_set
    from microfuse_cli.trained import TrainConfig
    from microfuse_cli.training import train

    x_protein, x_context, y, _, _ = training_set(data)
    val = np.random.default_rng(SEED).random(len(y)) < VAL_FRACTION
    probabilities = {}
    for dev in ("cpu", device):
        t = time.perf_counter()
        model = train(x_protein, x_context, y, ~val, val, FusionConfig(arch="microfuse", hidden=HIDDEN),
                      TrainConfig(seed=SEED, device=dev, max_epochs=epochs), threads=1)
        seconds = time.perf_counter() - t
        p = model.predict(x_protein[val], x_context[val]).probability
        probabilities[dev] = p
        print(f"  head on {dev}: {len(y)} pairs ({int(val.sum())} validation), {model.metrics.get('epochs_run')} epochs in {seconds:.1f} s "
              f"({seconds / max(1, model.metrics.get('epochs_run', 1)):.2f} s/epoch); val AUROC {roc_auc_score(y[val], p):.4f}")
    diff = np.abs(probabilities["cpu"] - probabilities[device])
    print(f"  val probabilities cpu vs {device}: max |diff| {diff.max():.2e}, mean {diff.mean():.2e}, "
          f"calls that differ at 0.5: {int(((probabilities['cpu'] >= 0.5) != (probabilities[device] >= 0.5)).sum())}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="cuda", help="the device compared with the CPU (cuda or cuda:N)")
    parser.add_argument("--data", type=Path, default=SHARED, help="the shared data folder")
    parser.add_argument("--epochs", type=int, default=20, help="fusion-head epochs per device")
    parser.add_argument("--skip-views", action="store_true")
    parser.add_argument("--skip-head", action="store_true")
    args = parser.parse_args(argv)
    import torch

    name = torch.cuda.get_device_name(args.device) if args.device.startswith("cuda") else args.device
    print(f"cpu against {args.device} ({name}), torch {torch.__version__}")
    if not args.skip_views:
        print("views (tiny random models of the real architectures, M. genitalium G37):")
        views(args.device)
    if not args.skip_head:
        print(f"fusion head (the shipped recipe, {args.epochs} epochs):")
        head(args.device, args.data, args.epochs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
