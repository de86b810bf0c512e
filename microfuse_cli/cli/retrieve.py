"""``microfuse retrieve``: FAISS search for operon-like analogs of gene pairs across scaffolds and genomes."""

from __future__ import annotations

import math

import click

from . import cli
from ._common import ExistingPath, IntRange, common_options, log, output_option


class _VectorFile(ExistingPath):
    """A fused-vector file ``FILE.npy``; ``-`` is bad usage, not 'no such file: -': stdin cannot carry the
    ``FILE.ids.tsv`` that names its rows."""

    def __init__(self):
        super().__init__(dir_okay=False)

    def convert(self, value, param, ctx):
        if value == "-":
            self.fail("fused vectors cannot be read from stdin ('-'): FILE.npy is read with FILE.ids.tsv beside it; "
                      "give the file", param, ctx)
        return super().convert(value, param, ctx)


class _SearchByDefault(click.Group):
    """``microfuse retrieve [OPTIONS] [QUERIES]`` searches; ``build`` and ``evaluate`` are subcommands."""

    def parse_args(self, ctx, args):
        if args and args[0] in self.commands or any(a in ("-h", "--help") for a in args[:1]):
            return super().parse_args(ctx, args)
        return super().parse_args(ctx, ["search", *args])


@cli.group(cls=_SearchByDefault, short_help="Analogous gene pairs in other genomes.", epilog="""\b
Examples:
  microfuse score genome.gff --operons known_operons.tsv --fused fused.npy -o scores.tsv   # labels for evaluate
  microfuse retrieve build fused.npy other_genome.npy -o index/ --group-by genome
  microfuse retrieve --index index/ --k 10 > analogs.tsv            # every indexed pair as a query
  microfuse retrieve --index index/ --k 5 new_genome.npy            # queries from another genome
  microfuse retrieve evaluate --index index/
""")
def retrieve():
    """Find the k most similar gene pairs on OTHER scaffolds (or genomes) by their fused vectors.

    Without a subcommand, searches (see `microfuse retrieve search --help`). Fused vectors are read as FILE.npy
    with the FILE.ids.tsv that `score --fused` wrote beside it: vectors of another model, or of another run than
    their ids, are refused, as are the two replaced (another run writing them) while they are read.
    """


def _index_options(func):
    func = click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda (every GPU) or cuda:N.")(func)
    func = click.option("--index", "index_dir", required=True, type=ExistingPath("index folder", file_okay=False),
                        help="Index folder from `microfuse retrieve build`.")(func)
    return func


@retrieve.command(short_help="Build a FAISS index over fused vectors.", epilog="""\b
Examples:
  microfuse retrieve build a.npy b.npy -o index/
  microfuse retrieve build c.npy -o index/ --append
  microfuse retrieve build genomes/*/fused.npy -o index/ --index-type ivfpq --group-by genome   # 1e7+ pairs
""")
@click.argument("vectors", nargs=-1, required=True, type=_VectorFile(), metavar="VECTORS.npy...")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Index folder.")
@click.option("--index-type", "--index", "kind", type=click.Choice(["auto", "flat", "ivf", "hnsw", "ivfpq"]),
              default="auto", show_default=True,
              help="auto: exact up to 1e6 vectors, IVF / IVF-PQ beyond (trained on a sample). --index, its older name, "
                   "still works here (in search and evaluate --index is the index folder).")
@click.option("--group-by", type=click.Choice(["scaffold", "genome"]), default=None,
              help="Neighbours always come from another group than the query's [default: scaffold; with --append, "
                   "the index's].")
@click.option("--append", is_flag=True,
              help="Add the vectors to an existing index folder, holding a lock on its manifest.json from reading to "
                   "writing back (a second --append waits; wrapped in `flock INDEX/manifest.json`, it goes on under "
                   "that lock on Linux, and waits for itself elsewhere: lock another file there, or none).")
@click.option("--refine", type=click.Choice(["none", "sq8", "fp16", "flat"]), default=None,
              help="ivfpq: re-rank candidates with 8-bit (sq8: d bytes per pair), float16 (fp16: 2d) or float32 (flat: "
                   "4d) copies of the vectors [default: fp16 up to 256 dimensions, sq8 beyond].")
@click.option("--k-factor", type=IntRange(min=1), default=None,
              help="ivfpq: candidates re-ranked per wanted neighbour (default 16 with fast-scan codes, 8 with classic ones; "
                   "a search can override it).")
@click.option("--pq-m", type=IntRange(min=1), default=None,
              help="ivfpq: PQ sub-quantisers (must divide the dimension; code bytes = m x bits / 8; default: codes of "
                   "dimension / 4 bytes, at most 64).")
@click.option("--pq-nbits", type=IntRange(1, 16), default=None,
              help="ivfpq: bits per sub-quantiser. 4 on CPU uses FAISS' SIMD fast-scan (the CPU default, several times "
                   "faster); 8: classic codes (the GPU default; FAISS has no GPU fast-scan).")
@click.option("--nlist", type=IntRange(min=1), default=None,
              help="IVF lists (default 4 x sqrt(pairs), at most pairs / 39 and at least 1: k-means wants 39 "
                   "vectors per list).")
@click.option("--train-sample", type=IntRange(min=1), default=None,
              help="Vectors the IVF / PQ quantisers are trained on (default max(40 x nlist, 10000)).")
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda (every GPU) or cuda:N.")
@click.option("--seed", type=IntRange(min=0), default=0, show_default=True,
              help="Seed of the sample the IVF / PQ quantisers are trained on.")
@common_options
def build(vectors, output, kind, group_by, append, refine, k_factor, pq_m, pq_nbits, nlist, train_sample, device, seed,
          run):
    """Build (or --append to) a cosine-similarity index over fused pair vectors (FILE.npy + FILE.ids.tsv).

    The files are memory-mapped and added chunk by chunk, never concatenated; IVF / IVF-PQ quantisers are trained
    on a sample. Build settings (--refine, --k-factor, --pq-m, --pq-nbits, --nlist) are kept in the index's manifest.json,
    with the identity of the model that made the vectors (FILE.ids.tsv records it): vectors of two models are refused,
    files that record none are indexed with a warning. FILE.ids.tsv also records the checksum of the FILE.npy written
    with it: vectors of another run beside it (a run killed between writing the two, a hand copy) are refused, as
    are the two replaced by another run (a `score --fused` rerun) while they are read: read them again once it ends."""
    import contextlib

    from ..io.outputs import Output, check_outputs, updating
    from ..manifest import MANIFEST
    from ..retrieve import ids_path_for

    # a missing pair-id table is said by read_vector_files, naming the vectors it belongs to
    check_outputs(vectors, [Output("-o", output, "microfuse-pair-index")], read_later=map(ids_path_for, vectors))
    # --append reads the index, adds and writes it back: another --append to it waits (it would be lost)
    if append and click.get_current_context().get_parameter_source("seed") is click.core.ParameterSource.DEFAULT:
        seed = None  # --append checks only a seed that was given
    with updating(output, MANIFEST) if append else contextlib.nullcontext():
        _build(vectors, output, kind, group_by, append, refine, k_factor, pq_m, pq_nbits, nlist, train_sample, device,
               seed, run)


def _build(vectors, output, kind, group_by, append, refine, k_factor, pq_m, pq_nbits, nlist, train_sample, device,
           seed, run) -> None:
    from ..errors import UsageError
    from ..retrieve import PairIds, PairIndex, genome_copies, read_vector_files

    current = PairIndex.load(output, device=device) if append else None
    if current is not None and group_by is not None and group_by != current.group_by:  # before reading the vectors
        raise UsageError(f"--group-by {group_by} differs from the existing index's {current.group_by} (set at build)")
    if current is not None:  # settings fixed at build, before the vectors are read
        if kind != "auto" and kind != current.kind:
            raise UsageError(f"--index-type {kind} differs from the existing {current.kind} index")
        params = current.params
        fixed = {"--refine": (refine, params.get("refine", "none")), "--pq-m": (pq_m, params.get("pq_m")),
                 "--pq-nbits": (pq_nbits, params.get("pq_nbits")), "--k-factor": (k_factor, params.get("k_factor")),
                 "--nlist": (nlist, params.get("nlist")), "--train-sample": (train_sample, params.get("train_sample")),
                 "--seed": (seed, params.get("seed"))}  # the last two trained the quantisers: ignored, they misled
        for option, (given, existing) in fixed.items():  # one the index has none of, its build took and ignored
            if given is not None and existing is not None and given != existing:
                raise UsageError(f"{option} {given} differs from the existing index's {existing} (set at build)")
    group_by = group_by or (current.group_by if current is not None else "scaffold")
    if current is None:
        loaded = read_vector_files(vectors)
    else:  # of the index's width and model
        loaded = read_vector_files(vectors, against=f"the index {output}", dim=current.dim, model_id=current.model_id)
    _refuse_shared_scaffolds(vectors, [i for _, i in loaded], current, output)
    if group_by == "genome":
        _warn_shared_genome_names(vectors, [i for _, i in loaded], current, output)
    ids = PairIds.stack([i for _, i in loaded])
    parts = [v for v, _ in loaded]
    copies = genome_copies(parts, ids) + (current.copies(parts, ids) if current is not None else [])
    for first, second in copies[:1]:  # 20 clonal isolates of one pipeline would be 19 lines or more: one, counting
        others = len({name for pair in copies for name in pair}) - 2
        more = f" ({others} more genome{'s share' if others > 1 else ' shares'} such pairs)" if others else ""
        log.warning("genomes '%s' and '%s' hold the same pairs with the same vectors (one assembly under two names, "
                    "or clonal isolates annotated alike?): each will find itself in the other, at similarity 1%s",
                    first, second, more)
    with run.progress("indexing", len(ids), "pairs") as advance:
        if append:
            index = current
            index.append(parts, ids, threads=run.threads, progress=advance)
        else:
            index = PairIndex.build(parts, ids, index=kind, group_by=group_by, device=device, seed=seed, refine=refine,
                                    k_factor=k_factor, pq_m=pq_m, pq_nbits=pq_nbits, nlist=nlist, train_sample=train_sample,
                                    threads=run.threads, progress=advance)
    index.save(output)
    log.info("%s index of %d pairs (%d-d, grouped by %s, %.0f bytes per pair) -> %s", index.kind, index.ntotal,
             index.dim, index.group_by, index.bytes_per_pair, output)


def _refuse_shared_scaffolds(paths, ids, current, output) -> None:
    """A scaffold of one genome name in two files (or in a file and the index it is appended to) that they do not show
    to be one genome's pairs scored in batches (shared_scaffold) is one genome given twice, or two assemblies under one
    name: refused, either would leave the two silently mixed in one group."""
    from ..errors import DataError
    from ..retrieve import shared_scaffold

    names = [*([f"the index {output}"] if current is not None else []), *map(str, paths)]
    found = shared_scaffold([*([current.ids] if current is not None else []), *ids])
    if found is None:
        return
    first, second, genome, scaffold, same, both = found
    fix = "give each assembly its own `score --genome-name`"
    if same and current is not None and first == 0:
        raise DataError(f"{names[second]}: genome '{genome}' is already in the index {output} (all its pair ids): a "
                        "genome is indexed once (twice, each pair's nearest neighbour is its own copy; to replace it, "
                        f"build the index again without it); another assembly under that name? {fix}")
    if same:
        raise DataError(f"{names[first]} and {names[second]} both hold genome '{genome}', the same pair ids: one genome "
                        "given twice, or two assemblies under one genome name (a pipeline's file name, e.g. each "
                        f"isolate's PROKKA_<date>.gff)? their pairs would be one group; index a genome once, and {fix}")
    if both:  # overlapping batches, or isolates with Prodigal's gene ids: 'batches that share no gene' would mislead
        raise DataError(f"{names[first]} and {names[second]} both hold genome '{genome}', scaffold '{scaffold}', "
                        f"{len(both)} of its pair ids in both (first '{both[0]}') and others in one only: one "
                        "genome's pairs scored in overlapping batches, or two assemblies under one genome name (a "
                        "pipeline's file name, e.g. each isolate's PROKKA_<date>.gff, with gene ids such as Prodigal's "
                        "contig00001_1)? their pairs would be one group, and a pair is indexed once; "
                        f"{fix}, or score one genome's pairs in batches that do not overlap")
    raise DataError(f"{names[first]} and {names[second]} both hold genome '{genome}', scaffold '{scaffold}' with other "
                    "pair ids: one genome given twice, or two assemblies under one genome name (a pipeline's file name, "
                    "e.g. each isolate's PROKKA_<date>.gff), or one genome's pairs scored in batches that share no "
                    "gene on it (vector files record no assembly to tell these apart)? their pairs would be one group; "
                    f"{fix}, or score one genome's pairs in one run or in batches of consecutive pairs (sharing a gene)")


def _warn_shared_genome_names(paths, ids, current, output) -> None:
    """Two vector files (or a file and the index it is appended to) holding one genome name are one group under
    --group-by genome: said once, with the fix (files of one name in per-sample folders, e.g. the staged pipeline's
    pairs.tsv, are all named after it)."""
    from ..retrieve import shared_genome

    names = [*([f"the index {output}"] if current is not None else []), *map(str, paths)]
    found = shared_genome([*([current.ids] if current is not None else []), *ids])
    if found is not None:
        first, second, genome = found
        log.warning("%s and %s both hold genome '%s': grouped by genome, their pairs are never each other's "
                    "neighbours (give each genome its own `score --genome-name`)", names[first], names[second], genome)


def _warn_namesakes(index, ids) -> None:
    """Query genomes named like an indexed genome whose pairs they are not: that genome (or its scaffold of their
    name) is left out of their neighbours as their own, by name; said once, with the fix."""
    found = index.namesakes(ids)
    for genome, n, total in found[:1]:
        more = f" ({len(found) - 1} more such genome{'s' if len(found) > 2 else ''})" if len(found) > 1 else ""
        log.warning("%d of the %d queries of genome '%s' are not among the indexed pairs of that name, yet share its "
                    "%s: another assembly under that name (a pipeline's file name, e.g. each isolate's "
                    "PROKKA_<date>.gff), or a new annotation of the indexed one? the indexed one is left out of their "
                    "neighbours as their own%s; give each assembly its own `score --genome-name`", n, total, genome,
                    "name" if index.group_by == "genome" else "scaffold names", more)


def _warn_unused_effort(index, index_dir, nprobe, ef_search, k_factor) -> None:
    """One warning naming the search settings the index's kind has no use for: FAISS ignored them, and so did
    `search`, without a word (`--nprobe 64` on the exact index `build` makes up to 1e6 pairs)."""
    unused = [option for option, value, used in (("--nprobe", nprobe, index.kind in ("ivf", "ivfpq")),
                                                 ("--ef-search", ef_search, index.kind == "hnsw"),
                                                 ("--k-factor", k_factor, index.refined))
              if value is not None and not used]
    if unused:  # "an hnsw" as it is read, aitch; "--nprobe, --ef-search and --k-factor"
        log.warning("%s not used: %s is %s %s index (--nprobe applies to ivf and ivfpq, --ef-search to hnsw, "
                    "--k-factor to ivfpq unless built with --refine none)",
                    " and ".join([", ".join(unused[:-1]), unused[-1]] if len(unused) > 1 else unused), index_dir,
                    "a" if index.kind == "flat" else "an", index.kind)


def _warn_found_themselves(result, index) -> None:
    """Queries whose nearest neighbours are their own pairs, indexed under another genome name: said once, with the
    fix (the exclusion of the query's own genome or scaffold goes by name)."""
    from ..retrieve import found_themselves

    found = found_themselves(result, index)
    for query, indexed, n, total in found[:1]:
        others = len({frozenset(names[:2]) for names in found}) - 1  # A in A2 and A2 in A (both indexed): one copy
        more = f" ({others} more such pair{'s' if others > 1 else ''} of names)" if others else ""
        log.warning("genome '%s' found itself in the index as genome '%s' (%d of its %d queries hit their own pair at "
                    "similarity ~1: one assembly under two names, or clonal isolates annotated alike?)%s; the exclusion "
                    "of the query's own %s goes by name and cannot see a copy: index an assembly once, under the name "
                    "its queries carry (`score --genome-name`)", query, indexed, n, total, more, index.group_by)


@retrieve.command(short_help="The k nearest pairs from other groups.", epilog="""\b
Examples:
  microfuse retrieve --index index/ --k 10
  microfuse retrieve search --index index/ --k 3 queries.npy -o analogs.tsv
""")
@click.argument("queries", nargs=-1, type=_VectorFile(), metavar="[QUERIES.npy...]")
@_index_options
@click.option("-k", "--k", "k", type=IntRange(min=1), default=10, show_default=True, help="Neighbours per query.")
@click.option("--nprobe", type=IntRange(min=1), default=None,
              help="IVF lists to probe, of an ivf or ivfpq index (default 16; recall vs speed).")
@click.option("--ef-search", type=IntRange(min=1), default=None,
              help="HNSW search beam, of an hnsw index (default 64; recall vs speed).")
@click.option("--k-factor", type=IntRange(min=1), default=None,
              help="ivfpq with refine: candidates re-ranked per neighbour (default: the index's; recall vs speed).")
@output_option("Neighbours TSV ('-' = stdout).")
@common_options
def search(queries, index_dir, device, k, nprobe, ef_search, k_factor, output, run):
    """The k nearest pairs of each query from other groups: query target rank similarity target_scaffold
    target_genome (+ target_label target_probability when known) query_genome query_scaffold, best first; pairs of
    equal similarity are listed (and cut at k) in the order they were indexed. Queries default to every indexed
    pair; query vectors of another model than the index's, or of another run than their ids, or replaced while they
    are read, are refused. The query's own group is found by name (the genome and scaffold columns of FILE.ids.tsv):
    queries that find their own pairs in the index under another genome name are warned about."""
    import numpy as np

    from ..io.outputs import Output, atomic_output, check_outputs
    from ..retrieve import PairIndex, ids_path_for, read_vector_files, write_results

    check_outputs([index_dir, *queries], [Output("-o", output)], read_later=map(ids_path_for, queries))
    index = PairIndex.load(index_dir, device=device)
    _warn_unused_effort(index, index_dir, nprobe, ef_search, k_factor)
    with run.progress("searching", None, "queries") as advance:
        if queries:
            loaded = read_vector_files(queries, against=f"the index {index_dir}", dim=index.dim,
                                       model_id=index.model_id)
            ids = loaded[0][1]
            for _, more in loaded[1:]:
                ids = ids.concat(more)
            matrix = np.concatenate([v for v, _ in loaded]) if len(loaded) > 1 else loaded[0][0]
            _warn_namesakes(index, ids)
            result = index.search(matrix, index.query_groups(ids), k, nprobe=nprobe, efSearch=ef_search,
                                  k_factor=k_factor, threads=run.threads, query_ids=ids.pair_id,
                                  query_genomes=ids.genome, query_scaffolds=ids.scaffold,
                                  query_model=ids.model_id, progress=advance)
        else:
            result = index.search_all(k, nprobe=nprobe, efSearch=ef_search, k_factor=k_factor, threads=run.threads,
                                      progress=advance)
    _warn_found_themselves(result, index)
    with atomic_output(output) as handle:
        n = write_results(handle, result, index)
    log.info("%d neighbours written to %s", n, "stdout" if output == "-" else output)
    if n == 0 and len(result):
        log.warning("no neighbours: every indexed pair is in the query's own %s (--group-by %s); index pairs of "
                    "other %ss to find analogs", index.group_by, index.group_by, index.group_by)


@retrieve.command(name="evaluate", short_help="Retrieval precision@k over labelled pairs.", epilog="""\b
Examples:
  microfuse retrieve evaluate --index index/ -o retrieval.tsv
""")
@_index_options
@click.option("--ks", default="1,3,5,10", show_default=True, help="Comma-separated k values.")
@output_option("Retrieval table TSV ('-' = stdout).")
@common_options
def evaluate_retrieval(index_dir, device, ks, output, run):
    """The paper's retrieval table over labelled indexed pairs: positive and negative precision@k, balanced
    precision and enrichment over the label rate (each pair queried against other groups)."""
    from ..errors import DataError
    from ..io.outputs import Output, atomic_output, check_outputs
    from ..retrieve import PairIndex, retrieval_evaluate, write_retrieval_table

    check_outputs([index_dir], [Output("-o", output)])
    try:
        k_values = sorted({int(x) for x in ks.split(",")})
    except ValueError:
        k_values = [0]
    if k_values[0] < 1:  # before the index is loaded and searched
        raise click.BadParameter(f"--ks takes comma-separated integers of at least 1, not {ks!r}")
    index = PairIndex.load(index_dir, device=device)
    if not index.ids.has_labels:
        raise DataError(f"{index_dir}: no labelled pairs (score labelled pairs, e.g. `score --operons`, then build)")
    result = index.search_all(max(k_values), threads=run.threads)
    _warn_found_themselves(result, index)
    rows = retrieval_evaluate(result, index.ids, k_values)
    with atomic_output(output) as handle:
        write_retrieval_table(handle, rows)
    log.info("retrieval table (k = %s) written to %s", ", ".join(map(str, k_values)),
             "stdout" if output == "-" else output)
    cells = [(str(r.k), *("-" if math.isnan(v) else f"{v:.4f}" for v in (r.positive_precision, r.negative_precision,
                                                                         r.balanced_precision, r.enrichment)))
             for r in rows]
    run.show_table("retrieval (neighbours from other groups)",
                   ("k", "positive precision", "negative precision", "balanced", "enrichment"), cells)
