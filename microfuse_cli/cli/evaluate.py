"""``microfuse evaluate``: metrics of scored pairs, side by side with the intergenic-distance baseline."""

from __future__ import annotations

import contextlib
import json
import math
import numbers
import os

import click

from . import cli
from ..runtime import thread_limits
from ._common import FiniteFloatRange, IntRange, common_options, log, output_option, stdin_as_files


@cli.command(short_help="Score tables against labels and distance.", epilog="""\b
Examples:
  microfuse evaluate scores.tsv                       # labels from the scores' label column
  microfuse evaluate scores.tsv --labels labelled_pairs.csv --plots figs/
  microfuse evaluate microfuse.tsv concat.tsv --names microfuse,concat -o table.tsv --json metrics.json
""")
@click.argument("scores", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True),
                metavar="SCORES.tsv...")
@click.option("--labels", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Labelled pairs (name_1,name_2,label, or a `pairs --operons` TSV; '-' = stdin) instead of the "
                   "scores' label column.")
@click.option("--split", "split_name", default=None, help="Only pairs of this split (e.g. test).")
@click.option("--names", default=None, help="Comma-separated model names for the table (default: file names, "
              "with as many of their folders as tell them apart, case-blind: ecoli/scores.tsv, lmono/scores.tsv).")
@click.option("--threshold", type=FiniteFloatRange(0, 1), default=None,
              help="Threshold for accuracy_at_threshold (default: the one the scores were called at).")
@click.option("--proteins", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Protein FASTA (ids = gene ids; '-' = stdin) for the hard sequence-conflict subset.")
@output_option("Metrics TSV ('-' = stdout). A metric that does not exist (the AUROC of a table with one class "
               "only, an interval with --bootstrap 0) is an empty field, which pandas and R read as missing; null "
               "in --json; 'n/a (one class)' in the summary.")
@click.option("--json", "json_path", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Also write JSON ('-' = stdout).")
@click.option("--plots", type=click.Path(file_okay=False), default=None,
              help="Folder for ROC, PR, threshold-sweep, calibration and router-weight PNGs (each PNG's Description "
                   "names the model of the tables it draws, from their '#microfuse' lines).")
@click.option("--bootstrap", type=IntRange(min=0), default=1000, show_default=True,
              help="Bootstrap resamples for the AUROC interval (0 = none).")
@common_options
def evaluate(scores, labels, split_name, names, threshold, proteins, output, json_path, plots, bootstrap, run):
    """AUROC, AUPRC, mAP, macro-F1, macro-recall, accuracy (at 0.5 and at the model's threshold), Brier score,
    router weights and the hard sequence-conflict subset, for one or more score tables, each beside the
    intergenic-distance baseline on the same pairs (AUROC and best possible cut-off accuracy). The last columns
    say what made each table, from its '#microfuse' line: model_name, model_id (12 hex digits) and decision_id;
    tables of one model name made by two versions of it, or by a 'default' other than this microfuse's, are
    warned of. One SCORES.tsv may be '-' (stdin)."""
    from ..errors import UsageError
    from ..evaluate import evaluate_table, maker_warnings, read_scores
    from ..io.fasta import read_proteins
    from ..io.outputs import Output, check_outputs, made_folder, write_outputs
    from ..score import DEFAULT_MODEL

    labels_names = names.split(",") if names else default_names(scores)
    if len(labels_names) != len(scores):
        raise UsageError(f"--names has {len(labels_names)} names for {len(scores)} score tables")
    check_outputs([*scores, labels, proteins],
                  [Output("-o", output), Output("--json", json_path),
                   Output("--plots", plots, "", plot_files(scores, labels_names) if plots else ())],
                  read_later=[DEFAULT_MODEL])  # read to compare tables of the packaged model: never replaced
    if plots:  # said now: after the work, the metrics would already have replaced the previous run's
        from ..plots import require_matplotlib

        require_matplotlib()
    with stdin_as_files([*scores, labels, proteins]) as readable:  # stdin is 'stdin' in messages, not '-'
        *scores, labels, proteins = readable
        protein_map = read_proteins(proteins) if proteins else None
        tables = [read_scores(path, labels, name, split_name) for path, name in zip(scores, labels_names)]
    for message in maker_warnings(tables):
        log.warning("%s", message)
    with thread_limits(run.threads, sklearn=True):  # again, now that scipy's and scikit-learn's pools are loaded
        results = [evaluate_table(t, threshold=threshold, proteins=protein_map, n_boot=bootstrap) for t in tables]
    figures = render_plots(tables) if plots else {}
    # the metrics, their JSON and the figures are one output: none replaces its previous version before all are
    # written (a figure that fails, or Ctrl-C while they are drawn, left new metrics and some new figures beside
    # the previous run's others)
    writers = [(output, "w", lambda h: write_metrics(h, results))]
    if json_path:
        writers.append((json_path, "w", lambda h: write_json(h, results)))
    if plots:
        writers += [(os.path.join(plots, name), "wb", lambda h, png=png: h.write(png)) for name, png in figures.items()]
    # a symlink to a folder still to make is written through; a new folder is removed again if the writes fail
    with made_folder(plots) if plots else contextlib.nullcontext():
        write_outputs(writers)
    show_table(run, results)
    if plots:
        log.info("plots written to %s", plots)


def default_names(scores) -> list[str]:
    """Each table's file name, with as many of its folders as tell the tables apart: one run per genome writes
    every genome's scores.tsv, and their metrics rows were all named 'scores.tsv' (--plots refused them). Stdin is
    'stdin', as every command names it: '-' named the row '-' and the figures '-.calibration.png', which shell
    tools read as options."""
    from ..io.outputs import name_clash
    from ..records import printable_name

    # told apart as printed (a tab, newline or non-UTF-8 byte as U+FFFD, as read_scores names them): d1/x<TAB>y.tsv
    # and d2/x<LF>y.tsv were both 'x\ufffdy.tsv', two metrics rows of one name, and --plots refused them
    parts = [printable_name(os.path.abspath(path)).split(os.sep) if path != "-" else ["stdin"] for path in scores]
    depths = range(1, max(len(p) for p in parts) + 1)
    for distinct in (lambda names: name_clash(names) is None,  # case-blind too: x/S.tsv, y/s.tsv name --plots figures
                     lambda names: len(set(names)) == len(names)):  # x/S.tsv, x/s.tsv can't be: y/S.tsv still named
        for depth in depths:
            names = ["/".join(p[-depth:]) for p in parts]
            if distinct(names):
                return names
    return ["/".join(p[-1:]) for p in parts]  # one file given twice: names cannot tell it apart


def write_metrics(handle, results) -> None:
    """The metrics table: one row per score table."""
    from ..evaluate import MAKER_COLUMNS, METRIC_COLUMNS

    handle.write("\t".join(["model"] + METRIC_COLUMNS + ["w_protein", "w_context", "w_agreement", "w_conflict"]
                           + MAKER_COLUMNS) + "\n")
    for r in results:
        router = r.get("router", {})
        values = [r["model"]] + [_fmt(r.get(c)) if c != "threshold" else _threshold_cell(r.get(c))
                                 for c in METRIC_COLUMNS]
        values += [_fmt(router.get(k)) for k in ("protein", "context", "agreement", "conflict")]
        values += [_fmt(r["model_name"]), (r["model_id"] or "")[:12], _fmt(r["decision_id"])]
        handle.write("\t".join(values) + "\n")


def write_json(handle, results) -> None:
    """The metrics as JSON; a metric that does not exist (no bootstrap interval, no hard subset: NaN) is null, as it
    is an empty cell in the TSV: NaN is no JSON value, and JSON.parse, Go, R's jsonlite and serde refused the file."""
    json.dump(_json_ready(results), handle, indent=2, allow_nan=False)
    handle.write("\n")


def _json_ready(value):
    """``value`` with numpy numbers as Python ones and NaN or infinity as None."""
    if isinstance(value, dict):
        return {key: _json_ready(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_json_ready(item) for item in value]
    if value is None or isinstance(value, (str, bool)):
        return value
    if isinstance(value, numbers.Integral):
        return int(value)
    number = float(value)
    return number if math.isfinite(number) else None


def _fmt(value) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return ""
    if isinstance(value, float):
        return f"{value:.4f}"
    return str(value)


def _threshold_cell(value) -> str:
    """The cut as the scores' '#microfuse' line writes it (4 decimals only where exact): 0.81907, not 0.8191."""
    from ..io.model_id import threshold_text

    return "" if value is None or value != value else threshold_text(value)


def _model_cell(result) -> str:
    """The table's name and, below it, what made it: the model's name, model_id (12 hex) and decision_id."""
    if result["model_name"] is None and result["model_id"] is None:
        return result["model"]
    return (f"{result['model']}\n{result['model_name'] or '?'} {(result['model_id'] or '?')[:12]} "
            f"{result['decision_id'] or '?'}")


#: An AUROC that does not exist, in the summary: the table's labelled pairs are all positive or all negative.
ONE_CLASS = "n/a (one class)"


def _auroc_text(value: float) -> str:
    """An AUROC (or AUPRC, mAP) in the summary, in words where it does not exist (it showed 'nan')."""
    return ONE_CLASS if math.isnan(value) else f"{value:.4f}"


def _auroc_cell(result) -> str:
    """The AUROC and its bootstrap interval; the AUROC alone without one (--bootstrap 0 printed '[nan, nan]')."""
    low, high = result["auroc_low"], result["auroc_high"]
    if math.isnan(low) or math.isnan(high):
        return _auroc_text(result["auroc"])
    return f"{result['auroc']:.4f} [{low:.3f}, {high:.3f}]"


def show_table(run, results) -> None:
    columns = ("model", "n", "AUROC [95% CI]", "AUPRC", "mAP", "macro-F1", "acc@0.5", "acc@thr", "Brier",
               "distance AUROC", "distance best acc", "hard AUROC")
    rows = [(_model_cell(r), str(r["n"]), _auroc_cell(r),
             _auroc_text(r["auprc"]), _auroc_text(r["map"]), f"{r['macro_f1']:.4f}", f"{r['accuracy']:.4f}",
             f"{r['accuracy_at_threshold']:.4f}", f"{r['brier']:.4f}", _auroc_text(r["distance_auroc"]),
             f"{r['distance_best_accuracy']:.4f}", _fmt(r["hard_auroc"]) or "-") for r in results]
    run.show_table("microfuse evaluate (distance = intergenic-distance baseline on the same pairs)", columns, rows)


#: The figures of each score table in --plots, as NAME.KIND.png.
TABLE_PLOTS = ("threshold_sweep", "calibration", "router_weights")


def _plot_stem(name: str) -> str:
    return name.replace("/", "_")


def plot_files(scores, names) -> tuple[str, ...]:
    """Every file --plots may write (checked against the inputs and the other outputs before any work); two tables
    of one name would overwrite each other's figures."""
    from pathlib import Path

    from ..errors import UsageError
    from ..io.outputs import clash_phrase, escaped_name, name_clash
    from ..records import printable_name

    # named as read_scores names each table (a tab, a newline or a non-UTF-8 byte as U+FFFD): 'x<TAB>y.tsv' and
    # 'x<LF>y.tsv' passed as two names, then wrote one set of figures, the second table's over the first's
    stems = [_plot_stem(printable_name(name or Path(str(path)).name)) for path, name in zip(scores, names)]
    clash = name_clash(stems)  # S.tsv and s.tsv too: one file on macOS and Windows
    if clash:
        one, two = clash
        named = (f"are both named {stems[one]}" if stems[one] == stems[two] else
                 f"are named {clash_phrase(stems[one], stems[two], 'file name')}")
        first, second = (str(p) if printable_name(str(p)) == str(p) else escaped_name(str(p))  # one line: \t, not a tab
                         for p in (scores[one], scores[two]))
        raise UsageError(f"score tables {first} and {second} {named}, so their --plots figures would overwrite each "
                         "other; give --names")
    return ("roc.png", "pr.png", *(f"{stem}.{kind}.png" for stem in stems for kind in (*TABLE_PLOTS, "roc", "pr")))


def render_plots(tables) -> dict[str, bytes]:
    """The --plots figures, file name -> PNG bytes: drawn in memory, so that they are written with the metrics as
    one set (``evaluate``)."""
    import io

    import numpy as np

    from .. import plots
    from ..evaluate import distance_score

    figures: dict[str, bytes] = {}

    def draw(name, plot, *args, **kwargs):
        buffer = io.BytesIO()
        plot(*args, buffer, **kwargs)
        figures[name] = buffer.getvalue()

    def with_distance(t, series):
        score = np.clip(distance_score(t.distance, t.same_strand) / 50, -50, 50)
        return {**series, "distance": 1 / (1 + np.exp(-score))}

    y = tables[0].y
    same = all(len(t.y) == len(y) and (t.y == y).all() for t in tables)
    described = {t.name: f"{t.name}: {t.maker.scored_by()}" for t in tables if t.maker is not None}
    every = "; ".join(described.values()) or None  # each figure names the models of the tables it draws
    if same:
        series = with_distance(tables[0], {t.name: t.probability for t in tables})
        draw("roc.png", plots.plot_roc, y, series, description=every)
        draw("pr.png", plots.plot_pr, y, series, description=every)
    else:  # other pairs or labels (other genomes): no curve of one holds the others
        log.info("the score tables hold different labelled pairs: ROC and PR per table (NAME.roc.png, NAME.pr.png)")
    for t in tables:
        stem, description = _plot_stem(t.name), described.get(t.name)
        if not same:
            own = with_distance(t, {t.name: t.probability})
            draw(f"{stem}.roc.png", plots.plot_roc, t.y, own, description=description)
            draw(f"{stem}.pr.png", plots.plot_pr, t.y, own, description=description)
        draw(f"{stem}.{TABLE_PLOTS[0]}.png", plots.plot_threshold_sweep, t.y, t.probability, description=description)
        draw(f"{stem}.{TABLE_PLOTS[1]}.png", plots.plot_calibration, t.y, t.probability, description=description)
        if t.router is not None and np.isfinite(t.router).all():
            draw(f"{stem}.{TABLE_PLOTS[2]}.png", plots.plot_router_weights, t.router, description=description)
    return figures
