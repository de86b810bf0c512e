"""Time the bootstrap intervals of microfuse.metrics (what `microfuse evaluate --bootstrap N` pays per model).

    python benchmarks/metrics_speed.py --pairs 5000 --resamples 1000

Synthetic labels and scores (seeded); prints seconds per call, best of --repeats.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from microfuse_cli import metrics


def best_of(repeats: int, fn) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        fn()
        times.append(time.perf_counter() - began)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--pairs", type=int, default=5000)
    parser.add_argument("--resamples", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, args.pairs)
    p = np.clip(0.3 * y + rng.uniform(0, 0.7, args.pairs), 0, 1)
    q = np.clip(0.2 * y + rng.uniform(0, 0.8, args.pairs), 0, 1)
    print(f"{args.pairs} pairs, {args.resamples} resamples, best of {args.repeats}")
    for name in ("auroc", "macro_f1", "brier"):
        seconds = best_of(args.repeats, lambda: metrics.bootstrap_ci(y, p, name, n=args.resamples))
        print(f"bootstrap_ci {name}: {seconds:.2f} s")
    seconds = best_of(args.repeats, lambda: metrics.paired_bootstrap_delta(y, p, q, "auroc", n=args.resamples))
    print(f"paired_bootstrap_delta auroc: {seconds:.2f} s")


if __name__ == "__main__":
    main()
