"""End-to-end speed of `microfuse score` on E. coli: the bare FASTA against pyrodigal alone on the same file
(the floor for a bare assembly), and the GFF + FASTA input; wall time and peak memory of each run.

    python benchmarks/score_speed.py --data ../shared/data [--threads 2] [--repeats 3]

Each measurement is a fresh process (`/usr/bin/time`-style: resource.getrusage of the child), best of N.
"""

from __future__ import annotations

import argparse
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

PYRODIGAL_ONLY = """
import sys, pyrodigal, gzip
from Bio.SeqIO.FastaIO import SimpleFastaParser
from concurrent.futures import ThreadPoolExecutor
records = [s.upper().encode() for _, s in SimpleFastaParser(gzip.open(sys.argv[1], "rt"))]
finder = pyrodigal.GeneFinder(meta=False, mask=True)
finder.train(*records)
with ThreadPoolExecutor(int(sys.argv[2])) as pool:
    genes = [g for found in pool.map(finder.find_genes, records) for g in found]
print(len(genes), file=sys.stderr)
"""


def measure(command: list[str], repeats: int) -> tuple[float, float]:
    """Best wall time (s) and the peak RSS (MiB) of that run, each in a fresh child process."""
    best, peak = float("inf"), 0.0
    for _ in range(repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        start = time.perf_counter()
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
        wall = time.perf_counter() - start
        rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        if wall < best:
            best, peak = wall, max(rss, before) / 1024
    return best, peak


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    eco = args.data / "ecoli_k12_mg1655"
    fna, gff = eco / "GCF_000005845.2_ASM584v2_genomic.fna.gz", eco / "GCF_000005845.2_ASM584v2_genomic.gff.gz"
    microfuse = [sys.executable, "-m", "microfuse_cli", "score", "-q", "-t", str(args.threads)]
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "scores.tsv")
        rows = [
            ("pyrodigal alone (E. coli FASTA)", [sys.executable, "-c", PYRODIGAL_ONLY, str(fna), str(args.threads)]),
            ("microfuse score (E. coli FASTA)", microfuse + [str(fna), "-o", out]),
            ("microfuse score (E. coli GFF + FASTA)", microfuse + [str(gff), "--fasta", str(fna), "-o", out]),
        ]
        results = [(name, *measure(cmd, args.repeats)) for name, cmd in rows]
    print(f"threads={args.threads}, best of {args.repeats}, cores={os.cpu_count()}\n")
    print("| run | wall s | peak RSS MiB |")
    print("|---|---|---|")
    for name, wall, rss in results:
        print(f"| {name} | {wall:.2f} | {rss:.0f} |")
    print(f"\nratio bare-FASTA score / pyrodigal alone: {results[1][1] / results[0][1]:.2f}x (target <= 1.5x)")
    print(f"GFF input: {results[2][1]:.2f} s (target < 10 s on 2 cores)")


if __name__ == "__main__":
    main()
