"""Where the time of `score --reference` goes (conserved adjacency: pyhmmer phmmer of each query protein against
the reference), and what candidate speed-ups would cost in changed hits and calls.

    nice python benchmarks/reference_speed.py --data ../shared/data [--query mgenitalium]
        [--reference mpneumoniae,hinfluenzae,mjannaschii] [--pairs 120] [--repeats 3] [--variants]

The query's first ``--pairs`` adjacent pairs (0: all) are scored against a reference built from the named shared
genomes. Stages are timed inside one process in CPU seconds (pyhmmer runs in the main thread; CPU time is
what a shared machine's load inflates least), interleaved over ``--repeats`` rounds (medians, CPU ms per searched
protein): building each query's HMM (pyhmmer Builder: the single-sequence model plus its E-value calibration, a
simulation of random sequences), the pipeline search of the reference block, and the scoring of pairs from the
hits. ``--variants`` also runs pipeline/builder settings that cut work (stricter filters F1/F2/F3, smaller
calibration samples), each interleaved with the default, and counts how many kept hits (E <= 1e-5, the 3 best per
reference genome) and conserved-adjacency counts change. Quote the ratios.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from comparative import GENOMES  # noqa: E402  (the benchmark next door: short name -> folder, accession stem)

#: Candidate settings: (name, Pipeline options, Builder options).
VARIANTS = [
    ("F1=0.01 (MSV filter; default 0.02)", {"F1": 0.01}, {}),
    ("F1=0.005", {"F1": 0.005}, {}),
    ("F2=1e-4, F3=1e-7 (Viterbi, Forward filters; defaults 1e-3, 1e-5)", {"F2": 1e-4, "F3": 1e-7}, {}),
    ("calibration EmN=EvN=100 (filters' E-value fit; default 200)", {}, {"EmN": 100, "EvN": 100}),
]
EVALUE = 1e-5


def read(data: Path, name: str):
    from microfuse_cli.genome import read_genome

    folder, stem = GENOMES[name]
    base = data / folder / stem
    return read_genome(f"{base}_genomic.gff.gz", f"{base}_genomic.fna.gz")


def setup(args):
    from microfuse_cli.comparative import ReferenceSet
    from microfuse_cli.pairs import adjacent_pairs

    query = read(args.data, args.query)
    names = args.reference.split(",")
    reference = ReferenceSet.build([read(args.data, n) for n in names], names)
    pairs = adjacent_pairs(query)
    pairs = pairs[:args.pairs] if args.pairs else pairs
    genes = [g for p in pairs for g in (p.gene_a, p.gene_b)]
    return query, reference, pairs, genes


def digitized(genes):
    from pyhmmer import easel

    from microfuse_cli.comparative import _genes_by_protein

    alphabet = easel.Alphabet.amino()
    return [easel.TextSequence(name=ids[0], sequence=text).digitize(alphabet)
            for text, ids in _genes_by_protein(genes).items()]


def stage_times(queries, reference, builder_options=None, pipeline_options=None):
    """Seconds to build every query's HMM, and to search them all, with one Builder and one Pipeline."""
    from pyhmmer import easel, plan7

    alphabet = easel.Alphabet.amino()
    background = plan7.Background(alphabet)
    builder = plan7.Builder(alphabet, **(builder_options or {}))
    pipeline = plan7.Pipeline(alphabet, background=background, E=EVALUE, domE=EVALUE, **(pipeline_options or {}))
    target = reference.block()
    began = time.process_time()
    hmms = [builder.build(q, background)[0] for q in queries]
    built = time.process_time()
    for hmm in hmms:
        pipeline.search_hmm(hmm, target)
        pipeline.clear()
    return built - began, time.process_time() - built


def search_with(genes, reference, pipeline_options, builder_options):
    """search_homologs with pyhmmer's phmmer given these options (the default when both are empty)."""
    from pyhmmer import easel, hmmer, plan7

    from microfuse_cli.comparative import search_homologs

    if not pipeline_options and not builder_options:
        return search_homologs(genes, reference, evalue=EVALUE)
    original = hmmer.phmmer

    def phmmer(*a, **k):
        return original(*a, builder=plan7.Builder(easel.Alphabet.amino(), **builder_options), **k, **pipeline_options)

    hmmer.phmmer = phmmer
    try:
        return search_homologs(genes, reference, evalue=EVALUE)
    finally:
        hmmer.phmmer = original


def kept(homologs) -> set:
    return {(gene, genome, row) for gene, per in homologs.hits.items() for genome, hits in per.items()
            for row, _, _ in hits}


def compare(name, base, other, pairs, reference, query, seconds):
    import numpy as np

    from microfuse_cli.comparative import adjacency_from_homologs

    a = adjacency_from_homologs(pairs, base, reference, query_name=query.name)
    b = adjacency_from_homologs(pairs, other, reference, query_name=query.name)
    lost, new = kept(base) - kept(other), kept(other) - kept(base)
    weights = max(abs(a.weights[g] - b.weights[g]) for g in a.weights)
    ratios = [o / d for d, o in seconds]
    print(f"| {name} | {statistics.median(ratios):.3f} ({min(ratios):.3f}-{max(ratios):.3f}) | {len(kept(base))} | "
          f"{len(lost)} | {len(new)} | "
          f"{int((a.count != b.count).sum())} | {int(((a.count > 0) != (b.count > 0)).sum())} | "
          f"{float(np.abs(a.score - b.score).max()):.4f} | {weights:.4f} |")


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--data", type=Path, default=Path(__file__).resolve().parents[1].parent / "shared" / "data",
                        help="the shared data folder (default: ../shared/data beside the repository)")
    parser.add_argument("--query", default="mgenitalium", choices=sorted(GENOMES))
    parser.add_argument("--reference", default="mpneumoniae,hinfluenzae,mjannaschii",
                        help="comma-separated shared genomes (default: %(default)s)")
    parser.add_argument("--pairs", type=int, default=120, help="first N adjacent pairs of the query, 0 = all")
    parser.add_argument("--repeats", type=int, default=3,
                        help="interleaved timing rounds (medians); 0: only count genes and distinct proteins")
    parser.add_argument("--variants", action="store_true", help="also time and compare candidate settings")
    args = parser.parse_args(argv)

    began = time.process_time()
    query, reference, pairs, genes = setup(args)
    queries = digitized(genes)
    n_genes = len({g.id for g in genes if g.protein})
    residues = sum(len(p) for p in reference.proteins)
    print(f"query {args.query}: {len(pairs)} pairs, {n_genes} genes, {len(queries)} distinct proteins; "
          f"reference {args.reference}: {reference.n_proteins} proteins, {residues} residues; "
          f"setup {time.process_time() - began:.1f} CPU s")
    if args.repeats < 1:
        return

    build, search = [], []
    for _ in range(args.repeats):
        b, s = stage_times(queries, reference)
        build.append(b)
        search.append(s)
    from microfuse_cli.comparative import adjacency_from_homologs

    began = time.process_time()
    homologs = search_with(genes, reference, {}, {})
    whole = time.process_time() - began
    began = time.process_time()
    adjacency_from_homologs(pairs, homologs, reference, query_name=query.name)
    scoring = time.process_time() - began
    per = 1000 / len(queries)
    print("\n| stage | CPU ms per searched protein (median) |\n|---|---|")
    print(f"| HMM build + E-value calibration (Builder) | {statistics.median(build) * per:.1f} |")
    print(f"| pipeline search of the reference block | {statistics.median(search) * per:.1f} |")
    print(f"| search_homologs as a whole (phmmer, hits kept) | {whole * per:.1f} |")
    print(f"| adjacency_from_homologs (all pairs) | {scoring * per:.2f} |")

    if args.variants:
        print("\n| variant | CPU time ratio vs default, median (min-max) | kept hits (default) | lost | new | "
              "count changed | conserved (>0) changed | max score change | max weight change |")
        print("|---|---|---|---|---|---|---|---|---|")
        for name, pipeline_options, builder_options in VARIANTS:
            seconds, other = [], None
            for _ in range(args.repeats):
                t0 = time.process_time()
                base = search_with(genes, reference, {}, {})
                t1 = time.process_time()
                other = search_with(genes, reference, pipeline_options, builder_options)
                seconds.append((t1 - t0, time.process_time() - t1))
            compare(name, base, other, pairs, reference, query, seconds)


if __name__ == "__main__":
    main()
