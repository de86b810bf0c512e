"""All-vs-all retrieval with genome groups on the four labelled genomes: time, where it goes, and the rows it writes.

Fused vectors of E. coli, L. monocytogenes, L. pneumophila and M. pneumoniae (their labelled pairs, `score --labels
--fused`; with --pairs all, every adjacent pair, labelled by `--operons`) go into one exact (flat) index grouped by
genome; then `retrieve search --k K` (every indexed pair as a query) and `retrieve evaluate` run as whole
processes under /usr/bin/time -v, alternating between the code trees given (old, new, old, new, ...) so that a
change of load falls on both alike. Prints, per tree and command, the
median wall and CPU seconds and peak RSS; a cProfile of `PairIndex.search_all` in each tree (share inside FAISS);
and how the search tables compare: rows that differ between the trees, and rows that differ from a numpy brute
force of the documented rule (exact cosine, descending, then the lower index row; own genome excluded), split into
exact float32 ties, ties to the 6 printed decimals, and others.

    git archive <old commit> microfuse_cli | tar -x -C /tmp/old
    nice python benchmarks/retrieve_groups.py --data ../shared/data --old /tmp/old [--new .] [--repeats 5] [--pairs all]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
GENOMES = {  # name: (inputs of `score`, labelled pairs); the ODB known operons are odb4_known_operons_NAME.tsv
    "eco": (["ecoli_k12_mg1655/GCF_000005845.2_ASM584v2_genomic.gff.gz", "--fasta",
             "ecoli_k12_mg1655/GCF_000005845.2_ASM584v2_genomic.fna.gz"], "ecoli_k12_mg1655/labelled_pairs_ecoli.csv"),
    "lmo": (["lmonocytogenes_egde/lmonocytogenes_egde.gff.gz", "--fasta",
             "lmonocytogenes_egde/GCA_000196035.1_AL591824.1.fna.gz"],
            "lmonocytogenes_egde/labelled_pairs_lmonocytogenes.csv"),
    "lpp": (["lpneumophila_paris/CR628336.1.gbk.gz"], "lpneumophila_paris/labelled_pairs_lpneumophila.csv"),
    "mpn": (["mpneumoniae_m129/GCF_000027345.1_ASM2734v1_genomic.gff.gz", "--fasta",
             "mpneumoniae_m129/GCF_000027345.1_ASM2734v1_genomic.fna.gz"],
            "mpneumoniae_m129/labelled_pairs_mpneumoniae.csv"),
}
PROFILE = """
import cProfile, pstats, sys
from microfuse_cli.retrieve import PairIndex
index = PairIndex.load(sys.argv[1])
k, threads = int(sys.argv[2]), int(sys.argv[3])
index.search_all(k, threads=threads)  # warm
profile = cProfile.Profile()
profile.runcall(index.search_all, k, threads=threads)
stats = pstats.Stats(profile).stats
total = sum(v[2] for v in stats.values())
faiss = sum(v[2] for key, v in stats.items() if "faiss" in key[0] or "faiss" in key[2])
print(f"{total:.3f} {faiss:.3f}")
"""


def microfuse(tree: Path, args: list[str], timed: bool = False) -> dict[str, float]:
    """Run `microfuse ARGS` with ``tree`` first on the path; with ``timed``, /usr/bin/time -v's figures. It runs in
    a temporary folder: `python -m` puts the current folder first on the path, which would shadow ``tree``."""
    env = {**os.environ, "PYTHONPATH": str(tree)}
    command = [sys.executable, "-m", "microfuse_cli", *args]
    if timed:
        command = ["/usr/bin/time", "-v", *command]
    done = subprocess.run(command, env=env, capture_output=True, text=True, cwd=tempfile.gettempdir())
    if done.returncode:
        sys.exit(f"microfuse {' '.join(args)} failed:\n{done.stderr}")
    return _time_figures(done.stderr) if timed else {}


def _time_figures(text: str) -> dict[str, float]:
    values = {}
    for line in text.splitlines():
        name, _, value = line.strip().rpartition(": ")
        if name == "Elapsed (wall clock) time (h:mm:ss or m:ss)":
            values["wall"] = sum(float(p) * 60 ** i for i, p in enumerate(reversed(value.split(":"))))
        elif name in ("User time (seconds)", "System time (seconds)"):
            values["cpu"] = values.get("cpu", 0.0) + float(value)
        elif name == "Maximum resident set size (kbytes)":
            values["rss_mb"] = float(value) / 1024
    return values


ODB_NAMES = {"eco": "ecoli", "lmo": "lmonocytogenes", "lpp": "lpneumophila", "mpn": "mpneumoniae"}


def prepare(data: Path, work: Path, tree: Path, pairs: str) -> Path:
    """Fused vectors of the four genomes and a flat index grouped by genome (made once per work folder): their
    labelled pairs (``pairs="labelled"``), or every adjacent pair labelled by the ODB known operons."""
    for name, (inputs, labels) in GENOMES.items():
        if not (work / f"{name}.npy").exists():
            folder = (data / labels).parent
            label = (["--labels", str(data / labels)] if pairs == "labelled" else
                     ["--operons", str(folder / f"odb4_known_operons_{ODB_NAMES[name]}.tsv")])
            microfuse(tree, ["score", *[a if a.startswith("-") else str(data / a) for a in inputs], *label,
                             "--fused", str(work / f"{name}.npy"), "--genome-name", name,
                             "-o", os.devnull, "-q", "-t", "1"])
    index = work / "index"
    if not index.exists():
        microfuse(tree, ["retrieve", "build", *[str(work / f"{n}.npy") for n in GENOMES], "-o", str(index),
                         "--index", "flat", "--group-by", "genome", "-q"])
    return index


def reference(index_dir: Path, k: int) -> tuple[dict, np.ndarray, np.ndarray]:
    """Row of each (genome, pair), every pair's similarity to every other (own genome -inf) as search reports it
    (float64 sum, clipped, float32), and the brute-force top k targets of every indexed pair."""
    import faiss

    from microfuse_cli.retrieve.ids import read_pair_ids

    ids = read_pair_ids(index_dir / "pairs.tsv")
    stored = faiss.read_index(str(index_dir / "index.faiss")).reconstruct_n(0, len(ids))
    queries = stored.astype(np.float64)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    sims = np.clip(queries @ stored.T.astype(np.float64), -1, 1).astype(np.float32)
    genome = np.asarray(ids.genome.tolist())
    sims[genome[:, None] == genome[None, :]] = -np.inf
    rows = np.broadcast_to(np.arange(len(ids)), sims.shape)
    order = np.lexsort((rows, -sims), axis=1)[:, :k]
    row_of = {(g, p): r for r, (g, p) in enumerate(zip(genome.tolist(), ids.pair_id.tolist()))}
    return row_of, sims, order


def compare(tables: dict[str, Path], index_dir: Path, k: int) -> None:
    row_of, sims, truth = reference(index_dir, k)
    lines = {tree: path.read_text().splitlines() for tree, path in tables.items()}
    names = list(lines)
    if len(names) == 2:
        a, b = (lines[n] for n in names)
        changed = sum(x != y for x, y in zip(a, b)) + abs(len(a) - len(b))
        print(f"search table rows that differ between {names[0]} and {names[1]}: {changed} of {len(a) - 1}")
    for tree, table in lines.items():
        header = table[0].split("\t")
        counts = {"exact tie": 0, "printed tie": 0, "other": 0}
        for line in table[1:]:
            row = dict(zip(header, line.split("\t")))
            query, rank = row_of[row["query_genome"], row["query"]], int(row["rank"])
            target, expected = row_of[row["target_genome"], row["target"]], truth[query, rank - 1]
            if target != expected:
                got, want = sims[query, target], sims[query, expected]
                counts["exact tie" if got == want else "printed tie" if f"{got:.6f}" == f"{want:.6f}" else "other"] += 1
        print(f"{tree}: rows unlike the brute-force rule: {sum(counts.values())} ({counts['exact tie']} at an exact "
              f"float32 tie, {counts['printed tie']} at a tie to 6 decimals, {counts['other']} others)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="the shared data folder")
    parser.add_argument("--old", type=Path, help="a code tree to compare with (holding microfuse_cli/)")
    parser.add_argument("--new", type=Path, default=ROOT, help="this code tree by default")
    parser.add_argument("--work", type=Path, help="folder for vectors and index (default: a temporary one)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--k", type=int, default=10)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--pairs", choices=("labelled", "all"), default="labelled",
                        help="the genomes' labelled pairs, or all adjacent pairs (labels from the ODB known operons)")
    args = parser.parse_args()
    work = args.work or Path(tempfile.mkdtemp(prefix="retrieve_groups."))
    work.mkdir(parents=True, exist_ok=True)
    trees = {"new": args.new.resolve()} if args.old is None else {"old": args.old.resolve(), "new": args.new.resolve()}
    index = prepare(args.data, work, trees["new"], args.pairs)
    print(f"index: {index} (flat, grouped by genome, {args.pairs} pairs), k = {args.k}, threads = {args.threads}")
    runs: dict[tuple[str, str], list[dict]] = {}
    commands = {
        "search": lambda tree: ["retrieve", "--index", str(index), "--k", str(args.k), "-t", str(args.threads), "-q",
                                "-o", str(work / f"search.{tree}.tsv")],
        "evaluate": lambda tree: ["retrieve", "evaluate", "--index", str(index), "-t", str(args.threads), "-q",
                                  "-o", str(work / f"evaluate.{tree}.tsv")],
    }
    for _ in range(args.repeats):
        for what, command in commands.items():
            for tree, path in trees.items():
                runs.setdefault((what, tree), []).append(microfuse(path, command(tree), timed=True))
    print("command   tree  wall s  cpu s  peak MB  (medians of", args.repeats, "runs)")
    for (what, tree), figures in runs.items():
        med = {key: statistics.median(f[key] for f in figures) for key in ("wall", "cpu", "rss_mb")}
        print(f"{what:9} {tree:4} {med['wall']:7.2f} {med['cpu']:6.2f} {med['rss_mb']:8.0f}")
    for tree, path in trees.items():
        done = subprocess.run([sys.executable, "-c", PROFILE, str(index), str(args.k), str(args.threads)],
                              env={**os.environ, "PYTHONPATH": str(path)}, capture_output=True, text=True, check=True,
                              cwd=tempfile.gettempdir())
        total, faiss = map(float, done.stdout.split())
        print(f"cProfile {tree}: search_all {total:.2f} s, of which FAISS calls {faiss:.2f} s")
    compare({tree: work / f"search.{tree}.tsv" for tree in trees}, index, args.k)
    if len(trees) == 2:
        same = (work / "evaluate.old.tsv").read_text() == (work / "evaluate.new.tsv").read_text()
        print("retrieval tables (evaluate):", "identical" if same else "differ")


if __name__ == "__main__":
    main()
