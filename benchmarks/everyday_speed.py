"""Whole-process wall and CPU time of the everyday commands, two versions of the code side by side.

Each command runs in a fresh interpreter with PYTHONPATH set to one code tree, then the other, in turn (old, new,
old, new, ...), so that a change of load on the machine falls on both alike, with bytecode cached (in a temporary
folder) as an installed package runs; prints the median wall and CPU (user + system of the child) seconds over
--repeats runs of each, and the new/old ratio. On a shared machine the CPU figure is the steadier one.

    git archive <old commit> | tar -x -C /tmp/old
    nice python benchmarks/everyday_speed.py --old /tmp/old --new . --data ../shared/data [--repeats 5] [--only a,d]

Paths: (a) score E. coli GFF3 + FASTA with --operons-gff, (b) score L. pneumophila GenBank, (c) score M. genitalium
bare FASTA (pyrodigal), (d) pairs E. coli, (e) `microfuse --help`, (f) `microfuse score --help`.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def commands(data: Path, out: str) -> dict[str, list[str]]:
    eco = data / "ecoli_k12_mg1655" / "GCF_000005845.2_ASM584v2_genomic"
    gbk = data / "lpneumophila_paris" / "CR628336.1.gbk.gz"
    mge = data / "panel" / "GCF_000027325.1_ASM2732v1_genomic.fna.gz"
    scored = ["-o", f"{out}/s.tsv", "--operons-gff", f"{out}/o.gff3", "-q"]
    return {
        "a score E. coli GFF3": ["score", f"{eco}.gff.gz", "--fasta", f"{eco}.fna.gz", *scored],
        "b score L. pneumophila GenBank": ["score", str(gbk), *scored],
        "c score M. genitalium FASTA": ["score", str(mge), *scored],
        "d pairs E. coli GFF3": ["pairs", f"{eco}.gff.gz", "--fasta", f"{eco}.fna.gz", "-o", f"{out}/p.tsv", "-q"],
        "e --help": ["--help"],
        "f score --help": ["score", "--help"],
    }


def run_once(code_root: Path, args: list[str], cwd: str) -> tuple[float, float]:
    """Wall and CPU seconds of one `python -m microfuse_cli ARGS` with ``code_root`` first on the path (run in
    ``cwd``, away from any checkout: `-m` puts the working directory before PYTHONPATH)."""
    env = {**os.environ, "PYTHONPATH": str(code_root), "PYTHONPYCACHEPREFIX": str(Path(cwd) / "pycache")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # bytecode cached, as an installed package runs
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "microfuse_cli", *args], check=True, env=env, stdout=subprocess.DEVNULL,
                   cwd=cwd)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def two_trees_parser(doc: str, trees: dict[str, str]) -> argparse.ArgumentParser:
    """The options of a benchmark that times two code trees in turn: the trees (``trees``: option -> help, both
    required), --data (the shared data folder beside the repository) and --repeats; ``doc`` is its --help text."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    for option, help_text in trees.items():
        parser.add_argument(option, type=Path, required=True, help=help_text)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[2] / "shared" / "data")
    parser.add_argument("--repeats", type=int, default=5)
    return parser


def main() -> None:
    parser = two_trees_parser(__doc__, {"--old": "code tree of the old version",
                                        "--new": "code tree of the new version"})
    parser.add_argument("--only", default="", help="comma-separated path letters (default: all)")
    args = parser.parse_args()
    wanted = set(args.only.split(",")) - {""}
    roots = {"old": args.old.resolve(), "new": args.new.resolve()}
    with tempfile.TemporaryDirectory() as out:
        print("| path | old wall (s) | new wall (s) | new/old | old CPU (s) | new CPU (s) | new/old |")
        print("|---|---|---|---|---|---|---|")
        for name, command in commands(args.data, out).items():
            if wanted and name[0] not in wanted:
                continue
            times = {version: [] for version in roots}
            for _ in range(args.repeats):
                for version, root in roots.items():
                    times[version].append(run_once(root, command, out))
            wall = {v: statistics.median(w for w, _ in t) for v, t in times.items()}
            cpu = {v: statistics.median(c for _, c in t) for v, t in times.items()}
            print(f"| {name} | {wall['old']:.2f} | {wall['new']:.2f} | {wall['new'] / wall['old']:.2f} "
                  f"| {cpu['old']:.2f} | {cpu['new']:.2f} | {cpu['new'] / cpu['old']:.2f} |", flush=True)


if __name__ == "__main__":
    main()
