"""Training memory and time at the paper's scale on the CPU: must 100k pairs x 70 epochs fit in 24 GiB?

Synthesises N pairs (default 100,000) at the paper's view widths (protein 3072 = [e_a; e_b; |e_a - e_b|] of
1024-d ProstT5, context 960 = [c_a; c_b] of 480-d Bacformer) in float32, with a weak label signal so validation
AUROC moves, splits them 68.7 / 14.2 / 17.1 % as OG-Operon100K, and trains the full MicroFuse head (d = 512, every
loss term; batch 4096, AdamW) with ``training.train`` for ``--epochs`` epochs (early stopping is switched off by
patience = epochs, so every epoch runs). Reports the peak resident set size of the process
(``resource.getrusage``), the wall-clock and CPU seconds per epoch (training + validation pass) and the extrapolation
to 70 epochs. On a shared machine the wall time depends on the load; CPU seconds / threads is the uncontended time.

    python benchmarks/train_scale.py [--pairs 100000] [--epochs 70] [--threads 1] [--budget-gib 24]
    python benchmarks/train_scale.py --epochs 2          # quick: the peak memory does not grow with epochs

Peak memory is reached in the first epoch (the data, the model, AdamW's state, one batch's activations and a copy of
the best weights), so a short run measures it; the time of a full run is epochs x seconds per epoch (no early stop).
Prints one markdown table (header + one row).
"""

from __future__ import annotations

import argparse
import platform
import resource
import sys
import time

import numpy as np

GIB = 1024 ** 3


def peak_rss_bytes() -> int:
    """Peak resident set size of this process (ru_maxrss is KiB on Linux, bytes on macOS)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def cpu_seconds() -> float:
    """User + system CPU time of this process so far (independent of how contended the machine is)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def synthesise(n: int, protein_dim: int, context_dim: int, seed: int, chunk: int = 8192):
    """float32 views filled chunk by chunk (no float64 temporaries) and balanced labels with a weak signal."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.5).astype(np.int64)
    xp = np.empty((n, protein_dim), dtype=np.float32)
    xc = np.empty((n, context_dim), dtype=np.float32)
    shift_p = rng.standard_normal(protein_dim, dtype=np.float32) * 0.005
    shift_c = rng.standard_normal(context_dim, dtype=np.float32) * 0.005
    for start in range(0, n, chunk):
        stop = min(start + chunk, n)
        sign = (2 * y[start:stop] - 1).astype(np.float32)[:, None]
        rng.standard_normal(out=xp[start:stop], dtype=np.float32)
        xp[start:stop] += sign * shift_p
        rng.standard_normal(out=xc[start:stop], dtype=np.float32)
        xc[start:stop] += sign * shift_c
    split = rng.random(n)
    train_mask = split < 0.68692
    val_mask = (split >= 0.68692) & (split < 0.68692 + 0.14169)
    return xp, xc, y, train_mask, val_mask


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--epochs", type=int, default=70)
    parser.add_argument("--target-epochs", type=int, default=70, help="extrapolate the time to this many epochs")
    parser.add_argument("--protein-dim", type=int, default=3072)
    parser.add_argument("--context-dim", type=int, default=960)
    parser.add_argument("--hidden", type=int, default=512)
    parser.add_argument("--batch-size", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=1, help="torch threads")
    parser.add_argument("--budget-gib", type=float, default=24.0)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()

    import torch

    from microfuse_cli.model import FusionConfig
    from microfuse_cli.trained import TrainConfig
    from microfuse_cli.training import train

    torch.set_num_threads(args.threads)
    start_rss = peak_rss_bytes()
    t0 = time.perf_counter()
    xp, xc, y, tr, va = synthesise(args.pairs, args.protein_dim, args.context_dim, args.seed)
    data_bytes = xp.nbytes + xc.nbytes
    data_rss = peak_rss_bytes()
    print(f"synthesised {args.pairs} pairs ({data_bytes / GIB:.2f} GiB of float32 views) in "
          f"{time.perf_counter() - t0:.0f} s; train {tr.sum()} / val {va.sum()}", file=sys.stderr, flush=True)

    epochs: list[dict] = []

    def on_epoch(info: dict) -> None:
        epochs.append(info)
        print(f"epoch {info['epoch']}/{info['max_epochs']}: {info['seconds']:.1f} s, loss {info['train_loss']:.4f}, "
              f"val AUROC {info['val_auroc']:.4f}, peak RSS {peak_rss_bytes() / GIB:.2f} GiB", file=sys.stderr,
              flush=True)

    t1, c1 = time.perf_counter(), cpu_seconds()
    model = train(xp, xc, y, tr, va, FusionConfig(hidden=args.hidden),
                  TrainConfig(batch_size=args.batch_size, max_epochs=args.epochs, patience=args.epochs,
                              seed=args.seed), on_epoch=on_epoch)
    total = time.perf_counter() - t1
    cpu_per_epoch = (cpu_seconds() - c1) / max(len(epochs), 1)  # includes the one-off setup, a slight overestimate
    peak = peak_rss_bytes()
    seconds = np.array([e["seconds"] for e in epochs])
    per_epoch = float(seconds.mean())
    steady = float(seconds[1:].mean()) if len(seconds) > 1 else per_epoch
    setup = total - float(seconds.sum())  # standardisation stats, finiteness checks, final threshold pass
    projected = setup + steady * args.target_epochs
    fits = peak <= args.budget_gib * GIB
    params = sum(p.numel() for p in model.model.parameters())
    print(f"CPU: {platform.processor() or platform.machine()}, torch {torch.__version__}, {args.threads} thread(s); "
          f"model {params / 1e6:.2f} M parameters; RSS before data {start_rss / GIB:.2f} GiB, after data "
          f"{data_rss / GIB:.2f} GiB", file=sys.stderr)
    print("| pairs | views (protein / context) | batch | threads | epochs run | wall s per epoch (mean; after the first) | "
          f"projected {args.target_epochs} epochs (wall) | CPU s per epoch | projected {args.target_epochs} epochs (CPU) | "
          f"peak RSS | float32 views | fits {args.budget_gib:g} GiB |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    print(f"| {args.pairs:,} | {args.protein_dim} / {args.context_dim} | {args.batch_size} | {args.threads} | "
          f"{len(epochs)} | {per_epoch:.1f} ; {steady:.1f} | {projected / 60:.0f} min ({projected / 3600:.2f} h) | "
          f"{cpu_per_epoch:.1f} | {cpu_per_epoch * args.target_epochs / 3600:.2f} h | {peak / GIB:.2f} GiB | {data_bytes / GIB:.2f} GiB | {'yes' if fits else 'NO'} |")


if __name__ == "__main__":
    main()
