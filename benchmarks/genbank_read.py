"""Speed of reading a GenBank file: `microfuse pairs` on L. pneumophila's GenBank record (3.5 Mb, 128,021 lines,
every one read through io.genbank's line handle) from two checkouts, as fresh processes taken in turn (A B A B ...)
so that a drift of the shared machine hits both; medians of the CPU and wall seconds and of the pair-by-pair A/B
ratios. In one more process per run, medians of 5 CPU times: "read s", io.genbank.read_genbank alone on lines
already read and decompressed (the parse and the line handle, without the interpreter's start and the imports),
and "handle s", the GenBank line handle alone handing Biopython every line (what the parser pays per line).

    nice python benchmarks/genbank_read.py --a NEW_CHECKOUT --b OLD_CHECKOUT [--data ../shared/data] [--repeats 5]

A checkout is a folder holding microfuse_cli (a worktree, or a `git archive REV microfuse_cli | tar -x -C DIR`
copy); it is put first on PYTHONPATH.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from everyday_speed import run_once as time_command, two_trees_parser  # noqa: E402

RECORD = Path("lpneumophila_paris") / "CR628336.1.gbk.gz"
READ_ALONE = """
import gzip, statistics, sys, time
from Bio import SeqIO  # imported before the clock starts, as read_genbank imports it on first use
from microfuse_cli.io import genbank
lines = gzip.open(sys.argv[1], "rt").read().splitlines(keepends=True)
def cpu(work):
    start = time.process_time()
    work()
    return time.process_time() - start
def every_line():
    readline = genbank._LineHandle(iter(lines)).readline
    while readline():
        pass
print(statistics.median(cpu(lambda: genbank.read_genbank(sys.argv[1], text=lines)) for _ in range(5)),
      statistics.median(cpu(every_line) for _ in range(5)))
"""


def run_once(checkout: Path, genbank: Path, cwd: str) -> tuple[float, ...]:
    """(read s, handle s, CPU s, wall s): read_genbank and the line handle alone in one process, then one
    `microfuse pairs` process reading ``genbank``, each with ``checkout``'s code (timed as everyday_speed times a
    command: away from any checkout, bytecode cached)."""
    where = dict(cwd=cwd, env=dict(os.environ, PYTHONPATH=str(checkout.resolve())), check=True)
    alone = subprocess.run([sys.executable, "-c", READ_ALONE, str(genbank.resolve())], capture_output=True, text=True,
                           **where).stdout.split()
    wall, cpu = time_command(checkout.resolve(), ["pairs", str(genbank.resolve()), "-q"], cwd)
    return *(float(x) for x in alone), cpu, wall


def main() -> None:
    args = two_trees_parser(__doc__, {"--a": "checkout A (the change)", "--b": "checkout B (before it)"}).parse_args()
    genbank = args.data / RECORD
    with tempfile.TemporaryDirectory() as cwd:
        for checkout in (args.a, args.b):  # warm-up: file cache, bytecode
            run_once(checkout, genbank, cwd)
        runs = [(run_once(args.a, genbank, cwd), run_once(args.b, genbank, cwd)) for _ in range(args.repeats)]
    print(f"{RECORD}: read_genbank and its line handle alone (read s, handle s), microfuse pairs (cpu s, wall s), "
          f"{args.repeats} paired runs, medians\n")
    print("| figure | A | B | A/B |")
    print("|---|---|---|---|")
    for index, name in enumerate(("read s", "handle s", "cpu s", "wall s")):
        a, b = ([run[side][index] for run in runs] for side in (0, 1))
        ratio = statistics.median(x / y for x, y in zip(a, b))
        print(f"| {name} | {statistics.median(a):.3f} | {statistics.median(b):.3f} | {ratio:.3f} |")


if __name__ == "__main__":
    main()
