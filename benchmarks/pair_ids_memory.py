"""Memory of the pair-id table: reading an index's ``pairs.tsv`` (``read_pair_ids``) into a :class:`PairIds`.

Writes a table of n rows with text ids like ``microfuse score`` output (locus-tag pair ids, RefSeq-style scaffold
and assembly names, labels and probabilities), then reads it back in a fresh process and reports the resident
memory the table keeps (RSS after reading minus before; again after ``malloc_trim`` has handed freed parsing
buffers back, which is the table itself), the peak while reading, and the time.

Usage::

    python benchmarks/pair_ids_memory.py --rows 1000000
    PYTHONPATH=/path/to/other/checkout python benchmarks/pair_ids_memory.py --rows 1000000   # compare code
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import gc
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SCAFFOLD = 16  # pairs per scaffold, as in retrieve_scale.py
GENOME = 2000  # pairs per genome


def write_table(path: Path, n: int) -> None:
    rng = np.random.default_rng(0)
    prob = rng.random(n).tolist()
    with open(path, "w") as handle:
        handle.write("pair_id\tscaffold\tgenome\tlabel\tprobability\n")
        for r in range(n):
            label = "" if r % 3 else str(r % 2)
            handle.write(f"RS_{r:08d}|RS_{r + 1:08d}\tNZ_CP{r // SCAFFOLD:07d}.1\tGCF_{r // GENOME:09d}.1\t{label}\t"
                         f"{prob[r]:.6f}\n")


def rss_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def measure(path: Path) -> None:
    from microfuse_cli.retrieve import read_pair_ids

    gc.collect()
    before = rss_mib()
    t0 = time.perf_counter()
    ids = read_pair_ids(path)
    seconds = time.perf_counter() - t0
    gc.collect()
    kept = rss_mib() - before
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    trimmed = kept
    with contextlib.suppress(OSError, AttributeError):  # glibc: hand freed parsing buffers back to the system
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        trimmed = rss_mib() - before
    print(f"| {len(ids):.0e} | {ids.pair_id.dtype} | {seconds:.1f} | {kept:.0f} | {trimmed:.0f} "
          f"| {trimmed * 2**20 / len(ids):.0f} | {peak:.0f} |")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--child", default=None, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        measure(Path(args.child))
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pairs.tsv"
        write_table(path, args.rows)
        print(f"pairs.tsv: {args.rows} rows, {path.stat().st_size / 2**20:.0f} MiB\n")
        print("| rows | text column dtype | read s | RSS kept MiB | after malloc_trim MiB | bytes per pair (trimmed) "
              "| peak RSS MiB while reading |")
        print("|---|---|---|---|---|---|---|")
        sys.stdout.flush()
        subprocess.run([sys.executable, __file__, "--child", str(path)], check=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
