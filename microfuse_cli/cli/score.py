"""``microfuse score``: genome (or pairs + embeddings) -> pair probabilities and operons."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import click

from . import cli
from ..interrupts import swallowed
from ._common import MODEL_FOLDER, ExistingPath, FiniteFloatRange, bins_option, common_options, genome_options, \
    load_bins, load_genome, log, output_option, pair_selection_options, refuse_topology_beside_table, stdin_as_file, \
    warn_code_beside_table, warn_device_unused, warn_subset_table, warn_unmeasured


@cli.command(short_help="Operon probability of adjacent gene pairs.", epilog="""\b
Examples:
  microfuse score genome.gff -o scores.tsv --operons-gff operons.gff3
  microfuse score assembly.fna.gz --operons-tsv operons.tsv > scores.tsv
  microfuse score pairs.tsv --embeddings emb/ -m model/ --fused fused.npy
  microfuse pairs genome.gbk | microfuse score - --embeddings emb/
""")
@click.argument("input", type=click.Path(dir_okay=False, allow_dash=True), metavar="INPUT")
@genome_options
@pair_selection_options
@click.option("-m", "--model", "model_dir", type=MODEL_FOLDER, default=None,
              help="Model folder from `microfuse train` (default: the packaged MicroFuse model, builtin views).")
@click.option("-e", "--embeddings", type=ExistingPath("embedding folder", file_okay=False), default=None,
              help="Precomputed embedding folder (`microfuse embed`); required when INPUT is a pairs TSV.")
@output_option("Scores TSV ('-' = stdout).")
@click.option("--threshold", type=FiniteFloatRange(0, 1), default=None,
              help="Decision threshold on the probability (default: 0.5 for a model with a per-genome rule, as the "
                   "packaged one, whose cut-off in bp is each genome's own; else the one chosen on validation).")
@click.option("--operons-gff", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write predicted operons as GFF3 (SO:0000178; '-' = stdout).")
@click.option("--operons-tsv", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write predicted operons (2+ genes) as a table: operon_id scaffold start end strand n_genes "
                   "genes (comma-separated, in transcription order) mean_probability min_probability (of its adjacent "
                   "pairs); '-' = stdout.")
@click.option("--annotate", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write INPUT's own annotation (GFF3 or GenBank, same format) with the operons added as SO:0000178 "
                   "features; every other line unchanged (GFF3: attributes with an empty value, which GFF3 forbids, "
                   "dropped; a ';' left unescaped inside a value written %3B); '-' = stdout.")
@click.option("--report", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Write one self-contained HTML page of the run: summary, per-genome calibration, model, operons "
                   "and region figures (needs the plots extra; '-' = stdout).")
@click.option("--fused", type=click.Path(dir_okay=False), default=None,
              help="Write fused pair vectors (FILE.npy + FILE.ids.tsv, which records the model and FILE.npy's "
                   "checksum: vectors of another run beside it are refused) for `microfuse retrieve build`.")
@click.option("--genome-name", default=None, help="Genome name in --fused ids and on the --report page (default: the "
              "input file name, as every command names a genome, or a pipe's given by descriptor, <(zcat g.gff.gz), "
              "its first sequence's id; for a pairs TSV, the genome its --embeddings were computed from).")
@click.option("--device", default="auto", show_default=True,
              help="Device of foundation-model views: auto, cpu, cuda or cuda:N (the fusion head runs in numpy).")
@click.option("--offline", is_flag=True, help="Never touch the network when loading foundation models.")
@click.option("--explain", is_flag=True,
              help="Add evidence columns: spacer_llr spacer_posterior (log-likelihood ratio and posterior of one "
                   "operon given the spacer, calibrated on this genome's own neighbours), and with --reference "
                   "conserved_adjacency (reference genomes where homologs of both genes lie on one strand at most one "
                   "gene apart, each weighted down by how close a relative it is) and conserved_genomes (their count).")
@click.option("--reference", "reference_dir", type=ExistingPath("reference folder", file_okay=False), default=None,
              help="Reference folder (`microfuse reference build`) searched with phmmer for conserved adjacency; "
                   "implies --explain.")
@bins_option
@common_options
def score(input, fasta, read_as, selection, model_dir, embeddings, output, threshold, operons_gff,
          operons_tsv, fused, genome_name, device, offline, explain, reference_dir, bins, run, annotate=None,
          report=None):
    """Probability that each adjacent gene pair of INPUT shares an operon, and the operons they form.

    INPUT is anything `microfuse pairs` reads (GFF3, GenBank, EMBL, bare FASTA) or a pairs TSV with --embeddings;
    '-' is stdin.
    With a genome, genes -> pairs -> views -> model run in one process. Output columns: the pairs columns,
    probability, operon_pair (0/1 at the threshold) and the router weights w_protein w_context w_agreement
    w_conflict. The scores TSV and the operon GFF3 and TSV start with '#' lines naming the model (its folder's name,
    model_from=package for the packaged default or folder, threshold_from=model or user for --threshold,
    model_id=SHA-256 of its weights and config and, last on the line, decision_id=16 hex digits naming the rule
    that made the calls, with --threshold's cut when it is not the model's own: two models differing only in that
    rule share model_id; threshold= is the cut exactly, 4 decimals or more), how the genes were found ('genes
    source=annotation', or pyrodigal:single or pyrodigal:meta for a bare FASTA, and genetic_code= the NCBI code(s)
    their proteins were translated with) and, for a model with a per-genome rule, each genome's (--bins bin's)
    estimated operon fraction and cut-off in bp. --annotate records the same lines (GFF3: '#' lines after
    ##gff-version; GenBank: the record's COMMENT, and model name, model_id and decision_id in each operon's /note).
    """
    import os

    from ..embed import check_device
    from ..errors import DataError
    from ..score import check_model_path, load_model, require_view_models, view_model_folders

    check_device(device)
    check_score_outputs(input, fasta, selection, bins, model_dir, embeddings, reference_dir, output,
                        operons_gff, operons_tsv, fused, extra_outputs={"--annotate": annotate, "--report": report},
                        # the views are computed here unless --embeddings: their foundation models' folders are read
                        view_folders=view_model_folders(model_dir) if embeddings is None else ())
    if model_dir == "default" and not os.path.lexists(model_dir):  # as `embed -m default` names the packaged model
        raise DataError("no such model folder: default; the packaged model is score's without -m (`embed -m "
                        "default` names it there)")
    check_model_path(model_dir)  # before any work; it is read in a thread beside gene calling
    # the views are computed here unless --embeddings: their foundation models must be at hand
    warn_device_unused(device, require_view_models(model_dir, offline=offline) if embeddings is None else None)
    if report is not None:
        from ..figures import require_plotting

        require_plotting()
    explain = explain or reference_dir is not None
    reference = None
    if reference_dir is not None:  # the reference is checked before any long work starts
        from ..comparative import ReferenceSet

        reference = ReferenceSet.load(reference_dir)
    import threading
    from concurrent.futures import Future

    # The model load (safetensors and scipy's import, a third of a second) runs in a thread while pyrodigal calls
    # genes, which releases the GIL; started earlier it would slow the Python parsing before it. ``start_loading``
    # is set when gene calling starts, or at once for inputs that need none.
    start_loading = threading.Event()
    model: Future = Future()

    def load():
        start_loading.wait()
        model.set_running_or_notify_cancel()
        try:
            model.set_result(load_model(model_dir))
        except BaseException as exc:  # for the main thread to raise, as a thread pool's future does
            model.set_exception(exc)

    # A daemon thread: a failed or interrupted run never waits for the loader, not even at exit (Python joins a
    # thread pool's threads there). A Ctrl-C that lands in the main thread's imports can leave CPython's import lock
    # held, and the loader, importing scipy, then waited for it forever; a hung network file system, too.
    # --bins is read twice (gene calling, calibration): a pipe (`--bins <(cut ...)`) is kept in a temp file, as INPUT
    with stdin_as_file(input, genome_name) as input, stdin_as_file(bins) as bins:
        threading.Thread(target=load, name="microfuse-model-loader", daemon=True).start()
        try:
            _score(input, fasta, read_as, selection, model, start_loading, embeddings, output,
                   threshold, operons_gff, operons_tsv, fused, genome_name, device, offline, run, explain=explain,
                   reference=reference, bins=bins, annotate=annotate, report=report,
                   model_dir=model_dir)
        finally:
            start_loading.set()  # never leave the loader waiting (an error before gene calling)


def check_score_outputs(input, fasta, selection, bins, model_dir, embeddings, reference_dir, output, operons_gff,
                        operons_tsv, fused, extra_outputs=None, view_folders=()):
    """Every input checked to exist and every output against the inputs and each other, before any work
    (io.check_outputs). ``view_folders``: the local folders (or hub cache snapshots) of the foundation models the
    views load (score.view_model_folders), read too: `-o ./Rostlab/ProstT5/config.json` replaced ProstT5's config."""
    from ..errors import UsageError
    from ..io.outputs import Output, check_outputs
    from ..score import DEFAULT_MODEL

    fused_outputs = []
    if fused is not None:
        if not fused.endswith(".npy"):
            raise UsageError(f"--fused takes a .npy path, not {fused}")
        fused_outputs = [Output("--fused", fused), Output("--fused", str(Path(fused).with_suffix(".ids.tsv")))]
    _check_known_operons(selection.operons, operons_gff)
    check_outputs([input, fasta, *selection.inputs, bins, embeddings, reference_dir],
                  [Output("-o", output), Output("--operons-gff", operons_gff), Output("--operons-tsv", operons_tsv),
                   *fused_outputs, *(Output(k, v) for k, v in (extra_outputs or {}).items())],
                  # None: the packaged model, read too (`-o .../default_model/config.json` replaced it, exit 0);
                  read_later=[model_dir if model_dir is not None else DEFAULT_MODEL,  # a missing -m: check_model_path
                              *view_folders])


def _check_known_operons(operons, operons_gff) -> None:
    """--operons names a file to read (known operons); one that is not there, with no --operons-gff, was most
    likely meant as the output of the predicted operons: said before any work."""
    import os

    from ..errors import DataError
    from ..io.files import is_stdio

    if operons is not None and operons_gff is None and not is_stdio(operons) and not os.path.exists(operons):
        raise DataError(f"no such file: {operons} (--operons reads known operons; to write the predicted operons "
                        f"give --operons-gff {operons} or --operons-tsv)")


def _loaded(pending_model):
    """The loader's model, once it is there. Waited for in steps: a Ctrl-C, SIGTERM or SIGHUP that a library
    swallowed (its bare ``except:``) after it had cut importlib short left CPython's import lock held, and the
    loader, importing scipy, waited for it forever, as did this wait; such a signal now ends the run here."""
    from concurrent.futures import wait

    while not wait([pending_model], timeout=0.2).done:
        if swallowed() is not None:
            raise swallowed()
    return pending_model.result()


def _score(input, fasta, read_as, selection, pending_model, start_loading, embeddings, output,
           threshold, operons_gff, operons_tsv, fused, genome_name, device, offline, run, explain=False, reference=None,
           bins=None, annotate=None, report=None, model_dir=None):
    from ..calibration import read_groups
    from ..embed import Embeddings
    from ..errors import UsageError
    from ..io.formats import sniff_format
    from ..io.files import open_text, peek_lines, read_text
    from ..io.outputs import write_outputs
    from ..pairs import file_named_genome, genome_from_table, read_pairs, subset_comment
    from ..records import genome_name as file_genome_name  # (genome_name is --genome-name here)
    from ..io.gff import write_operons_gff
    from ..io.tables import fused_writers, write_operons_tsv, write_scores
    from ..score import call_operons, genome_spacer_models, header_comments, model_source, score_genome, \
        score_pairs

    if annotate is not None:  # written back with the operons: read whole, once
        text = read_text(input)
        kind = sniff_format(text, input) if text.strip() else None
    else:  # the format from a prefix (an input refused here is read on, for a size cap or corruption further on)
        text = None
        with open_text(input) as lines:
            head = "".join(peek_lines(lines)[0])
            kind = sniff_format(head, input) if head.strip() else None
    if annotate is not None:
        from ..annotate import check_annotate_target

        check_annotate_target(annotate, kind)
    if kind != "fasta":  # no gene calling to overlap with
        start_loading.set()
    if kind == "pairs":
        if embeddings is None:
            raise UsageError("a pairs TSV input needs --embeddings (from `microfuse embed`)")
        if selection.given:  # were ignored: every pair of the table scored, unlabelled, unsplit, without a word
            raise UsageError(f"{selection.given[0]} selects or labels the pairs of a genome INPUT; a pairs TSV is "
                             f"scored as it is: give {selection.given[0]} to the `microfuse pairs` that writes it")
        refuse_topology_beside_table(read_as)
        table = read_pairs(input)
        warn_subset_table(table, input, "score")
        warn_code_beside_table(table, read_as, input)
        embedded = Embeddings.load(embeddings)
        embedded.check_genetic_code(table.genes_comment, "the pairs TSV", table.pairs)
        # named as `score GENOME` names it: by the table's own line, else as embed named it, else by the table; a
        # table of a piped genome says 'stdin', which names none: the folder's name (of `embed GENOME`) comes first
        named = table.genome_name if table.genome_name != file_genome_name("-") else None
        genome = genome_from_table(table, None, fasta, named or embedded.genome_name or table.genome_name
                                   or file_named_genome(table, input), genetic_code=read_as.genetic_code)
        warn_unmeasured(table, genome, fasta, input, "score")
        pairs = table.pairs
        groups = load_bins(bins, genome)
        model = _loaded(pending_model)  # the table's genome holds only its pairs' genes, whose proteins may be unknown
        scores = score_pairs(model, embedded, pairs, threshold=threshold, fused=fused is not None,
                             spacer_models=genome_spacer_models(model, genome, groups), groups=groups)
    else:
        if bins is not None:  # genes are called per bin (genes.call_genes_per_bin)
            read_as = dataclasses.replace(read_as, bins=read_groups(bins))
        genome = load_genome(run, input, fasta, read_as, on_gene_calling=start_loading.set,
                             text=text)
        start_loading.set()
        pairs = selection.select(genome)
        groups = load_bins(bins, genome)
        scores = score_genome(genome, _loaded(pending_model), pairs=pairs,
                              embeddings=None if embeddings is None else Embeddings.load(embeddings), groups=groups,
                              threshold=threshold, fused=fused is not None, threads=run.threads, device=device,
                              offline=offline, stage=run.stage)
    model = _loaded(pending_model)
    for calibrated in scores.calibration:
        log.info("calibrated %s", calibrated.describe())
    model_name, model_from = model_source(model_dir)
    comments = header_comments(scores, model_name, model_from=model_from,  # the identities the scores carry
                               threshold_from="model" if threshold is None else "user", genome=genome,
                               genes=table.genes_comment if kind == "pairs" else None)
    if kind == "pairs" and table.subset_of is not None:  # scores of a subset's table are a subset's: said after '#genes'
        after = next((i for i, line in enumerate(comments) if line.startswith("genes ")), 0) + 1
        comments.insert(after, subset_comment(table.subset_of))
    operons_called = call_operons(genome, scores)
    extra = _explain(run, genome, pairs, reference, groups) if explain else None
    writers = [(output, "w", lambda h: write_scores(h, scores, extra, comments))]
    if operons_gff:
        writers.append((operons_gff, "w", lambda h: write_operons_gff(h, genome, operons_called, comments=comments)))
    if operons_tsv:
        writers.append((operons_tsv, "w", lambda h: write_operons_tsv(h, operons_called, comments)))
    if annotate:
        from ..annotate import annotate as annotated

        writers.append((annotate, "w", lambda h: h.write(annotated(text, kind, genome, operons_called, comments))))
    if report:
        from ..report import write_report

        writers.append((report, "w", lambda h: write_report(h, genome, scores, operons_called, model=model,
                                                            model_name=model_name, extra=extra, groups=groups,
                                                            name=genome_name)))
    if fused:
        writers += fused_writers(fused, scores, genome_name or genome.name)
    # one run's files are one output: none replaces its previous version before all are written (a report, or
    # --fused's vectors, that fail must not leave new scores beside the previous run's operons or vectors); the
    # --fused ids, which record their vectors' checksum, come last: renamed last
    write_outputs(writers)
    from ..io.model_id import threshold_text  # the cut as the '#microfuse' line writes it: 0.81907 said 0.819

    log.info("%d pairs scored, %d called at threshold %s; %d operons of 2+ genes", len(pairs),
             int(scores.calls.sum()), threshold_text(scores.threshold), len(operons_called))


def _explain(run, genome, pairs, reference, groups=None):
    """--explain columns (comparative.explain), with a progress bar over the phmmer queries."""
    from ..comparative import explain

    if reference is None:
        return explain(genome, pairs, threads=run.threads, groups=groups)
    n = len({g.id for p in pairs for g in (p.gene_a, p.gene_b)})
    with run.progress("phmmer vs reference", n, "proteins") as advance:
        columns = explain(genome, pairs, reference, threads=run.threads, progress=advance, groups=groups)
    log.info("conserved adjacency: %d of %d pairs conserved in at least one of %d reference genomes",
             int((columns["conserved_genomes"] > 0).sum()), len(pairs), len(reference.genomes))
    return columns
