"""Speed of `retrieve build --append --group-by genome` when every genome of the index gets a second file: 1,000
genomes' plasmids appended to an index of their chromosomes (1,000 pairs each, 1e6 in all), each plasmid file's
genome named as its chromosome's.

Before indexing, the command checks the new pair-id tables against the index's: ``shared_scaffold`` (two assemblies
under one genome name are refused) and, grouped by genome, ``shared_genome`` (a genome name in two files is said
once). Scanning a table once per shared genome name made these 11.6 s at 1e6 indexed pairs (d136e4f); each table
is read once since 673cdce. ``tests/test_retrieve.py``'s
``test_shared_genome_among_thousands_of_genomes_reads_each_table_once`` checks their answers; this measures their
speed, on the tables as read back from the files, and the whole command's wall time (Python start-up included).

The input is built in a temporary folder: ``chromosomes.npy`` (+ ``.ids.tsv``, pair ids ``G0000_1|G0000_2``,
scaffold ``chr0``, genome ``G0000``) and ``plasmids.npy`` (5 pairs a genome on scaffold ``p0``), random vectors of
``--dim`` columns (the checks read only the ids); the chromosome index is built first (not timed).

Usage::

    python benchmarks/shared_genome_speed.py                      # 1,000 genomes x 1,000 pairs
    python benchmarks/shared_genome_speed.py --genomes 200        # quick
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from microfuse_cli.retrieve import PairIds, PairIndex, read_vector_files, shared_genome, shared_scaffold  # noqa: E402
from microfuse_cli.retrieve.ids import write_pair_ids  # noqa: E402


def write_file(folder: Path, stem: str, genomes: int, per: int, scaffold: str, first_gene: int, dim: int,
               rng: np.random.Generator) -> Path:
    """``stem.npy`` and ``stem.ids.tsv``: ``per`` consecutive pairs of each genome on its scaffold ``scaffold{g}``."""
    genome = np.repeat([f"G{g:04d}" for g in range(genomes)], per)
    gene = np.tile(np.arange(first_gene, first_gene + per), genomes)
    ids = PairIds(np.char.add(np.char.add(np.char.add(genome, "_"), gene.astype(str)),
                              np.char.add(np.char.add("|", genome), np.char.add("_", (gene + 1).astype(str)))),
                  np.repeat([f"{scaffold}{g}" for g in range(genomes)], per), genome)
    with open(folder / f"{stem}.ids.tsv", "w") as handle:
        write_pair_ids(handle, ids)
    np.save(folder / f"{stem}.npy", rng.standard_normal((len(ids), dim), dtype=np.float32))
    return folder / f"{stem}.npy"


def cli(*arguments: object) -> float:
    """Wall seconds of one `microfuse` command (quiet); a failure ends the benchmark with its message."""
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "microfuse_cli", *map(str, arguments), "-q"], env=env,
                          capture_output=True, text=True, cwd=tempfile.gettempdir())
    seconds = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"microfuse {' '.join(map(str, arguments))} failed: {done.stderr.strip()}")
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--genomes", type=int, default=1000)
    parser.add_argument("--pairs", type=int, default=1000, help="chromosome pairs a genome (default 1000)")
    parser.add_argument("--plasmid-pairs", type=int, default=5, help="plasmid pairs a genome (default 5)")
    parser.add_argument("--dim", type=int, default=8, help="vector width (default 8: the checks read only ids)")
    parser.add_argument("--repeats", type=int, default=3, help="timings of the checks; the best is printed")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        chromosomes = write_file(folder, "chromosomes", args.genomes, args.pairs, "chr", 1, args.dim, rng)
        plasmids = write_file(folder, "plasmids", args.genomes, args.plasmid_pairs, "p", args.pairs + 2, args.dim, rng)
        cli("retrieve", "build", chromosomes, "-o", folder / "index", "--group-by", "genome", "--index-type", "flat")
        tables = [PairIndex.load(folder / "index", device="cpu").ids, read_vector_files([plasmids])[0][1]]
        scaffold_check, genome_check = [], []
        for _ in range(args.repeats):
            started = time.perf_counter()
            assert shared_scaffold(tables) is None  # one genome each: other scaffolds
            between = time.perf_counter()
            found = shared_genome(tables)
            scaffold_check.append(between - started)
            genome_check.append(time.perf_counter() - between)
        assert found == (0, 1, "G0000"), found
        append = cli("retrieve", "build", plasmids, "-o", folder / "index", "--append", "--group-by", "genome")
    print(f"{args.genomes} genomes x {args.pairs} indexed pairs + {args.plasmid_pairs} appended each: "
          f"shared_scaffold {min(scaffold_check):.2f} s, shared_genome {min(genome_check):.2f} s (best of "
          f"{args.repeats}); "
          f"`retrieve build --append --group-by genome` {append:.2f} s wall")


if __name__ == "__main__":
    main()
