"""``score --report``: one self-contained HTML page per run (no network, no scripts; figures inlined as PNG).

It shows the genome's summary and operon sizes, what the spacer self-calibration (calibration.SpacerModel) fitted
on this genome, the model and version, every operon with its probabilities, and region figures of the largest
operons and of the least certain calls (figures.draw_regions). No dates or paths of this machine: the same run
gives the same page.
"""

from __future__ import annotations

import base64
import html
import dataclasses
from dataclasses import dataclass
from typing import Sequence

import numpy as np

from . import __version__
from .calibration import SpacerModel, _transform, posterior_cutoff
from .figures import ScoredGenome, draw_regions, gene_label, operon_region, region_view
from .records import Genome, printable_name, read_only
from .io.model_id import threshold_text
from .score import Operon, Scores, decision_id, genes_comment

#: Region figures of each kind (largest operons, least certain calls); flank around each, bp.
N_REGIONS = 3
FLANK = 1500
#: With --bins, spacer figures of at most this many bins (those with most same-strand neighbours); all are listed.
MAX_BIN_FIGURES = 12
SPACER_TICKS = (-100, -20, 0, 20, 50, 100, 200, 500, 1000, 3000)


@dataclass(frozen=True)
class Calibrated:
    """What the spacer self-calibration fitted on this genome: the mixture and the spacer where the calibrated
    posterior falls below one half (calibration.posterior_cutoff)."""

    model: SpacerModel
    cutoff_bp: int
    same_strand: np.ndarray
    opposite_strand: np.ndarray

    def __post_init__(self) -> None:  # read-only views of the arrays as built, never changed later
        for name in ("same_strand", "opposite_strand"):
            object.__setattr__(self, name, read_only(getattr(self, name)))


def calibrate(genome: Genome) -> Calibrated:
    """Fit the spacer mixture on the adjacent pairs of the genome, as --explain does for the whole input (pairs on
    short fragments left out: calibration.usable_pairs)."""
    from .calibration import short_fragments
    from .pairs import adjacent_pairs

    return _calibrated(adjacent_pairs(genome), short_fragments(genome))


def _calibrated(pairs, fragments: frozenset[str] = frozenset(), model: SpacerModel | None = None) -> Calibrated:
    model = model or SpacerModel.fit(pairs, fragments)
    same = np.array([p.distance for p in pairs if p.same_strand], dtype=np.float64)
    opposite = np.array([p.distance for p in pairs if not p.same_strand], dtype=np.float64)
    return Calibrated(model, int(posterior_cutoff(model)), same, opposite)


def calibrate_bins(genome: Genome, groups: dict[str, str], decided: Sequence) -> list[tuple[str, Calibrated]]:
    """Each --bins bin's own fit (``calibration.calibrate_by_group``, as scoring does: unlisted scaffolds pooled)
    with the cut-off its calls used, for the ``MAX_BIN_FIGURES`` bins with most same-strand neighbours."""
    from .calibration import calibrate_by_group, short_fragments
    from .pairs import adjacent_pairs

    pairs = adjacent_pairs(genome)
    models = calibrate_by_group(pairs, [], groups, short_fragments(genome))[1]
    members: dict[str, list] = {}
    for pair in pairs:
        members.setdefault(groups.get(pair.scaffold, ""), []).append(pair)
    shown = sorted((c for c in decided if c.group in models), key=lambda c: (-c.n_same, c.group))[:MAX_BIN_FIGURES]
    return [(c.group, dataclasses.replace(_calibrated(members[c.group], model=models[c.group]),
                                          cutoff_bp=int(round(c.cutoff_bp)))) for c in shown]


def write_report(handle, genome: Genome, scores: Scores, operons: Sequence[Operon], *, model, model_name: str,
                 extra: dict | None = None, groups: dict[str, str] | None = None, dpi: int = 80,
                 name: str | None = None) -> None:
    """Write the HTML page of one `score` run (``groups``: the --bins table, for one spacer figure per bin;
    ``name``: the genome's name on the page, by default ``genome.name``, which is 'stdin' for a piped input; made
    printable as ``genome.name`` is, since the page is UTF-8)."""
    name = printable_name(name) if name else genome.name
    extra = extra or {}
    spacer = extra.get("spacer_posterior")
    scored = ScoredGenome(genome, list(scores.pairs), scores.probability, scores.threshold,
                          None if spacer is None else np.asarray(spacer, dtype=np.float64), scores.router_weights,
                          list(operons))
    calibrated = calibrate(genome)
    if len(scores.calibration) == 1:  # the model's per-genome rule decided the calls: show its cut-off
        calibrated = dataclasses.replace(calibrated, cutoff_bp=int(round(scores.calibration[0].cutoff_bp)))
    bins = calibrate_bins(genome, groups, scores.calibration) if groups and len(scores.calibration) > 1 else []
    sections = [
        _summary(genome, name, scores, operons, dpi),
        _calibration(calibrated, dpi, scores.calibration, bins),
        _model(model, model_name, scores.threshold, scores.decision_id or decision_id(model, scores.threshold)),
        _regions(scored, dpi),
        _operon_table(genome, operons),
    ]
    handle.write(PAGE.format(title=html.escape(f"microfuse: {name}"), version=html.escape(__version__),
                             body="\n".join(sections)))


# ------------------------------------------------------------------------------------------------ sections


def _summary(genome: Genome, name: str, scores: Scores, operons: Sequence[Operon], dpi: int) -> str:
    same = np.array([p.same_strand for p in scores.pairs], dtype=bool)
    called = int((scores.calls.astype(bool) & same).sum())
    in_operons = sum(len(op.genes) for op in operons)
    length = sum(s.length for s in genome.scaffolds.values())
    rows = [
        ("sequences", f"{len(genome.scaffolds):,} ({sum(s.circular for s in genome.scaffolds.values())} circular)"),
        ("total length", f"{length:,} bp"),
        ("genes", f"{len(genome.genes):,} ({genes_comment(genome).removeprefix('genes ')})"),  # the '#genes' line
        ("adjacent pairs scored", f"{len(scores.pairs):,} ({int(same.sum()):,} on the same strand)"),
        ("pairs called operon pairs", f"{called:,}"),
        ("operons of 2+ genes", f"{len(operons):,}"),
        ("genes in operons", f"{in_operons:,} ({100 * in_operons / max(len(genome.genes), 1):.1f}%)"),
    ]
    return (f"<h2>Genome</h2>\n<p>{html.escape(name)}</p>\n{_table(('', ''), rows, with_header=False)}\n"
            + _figure(_size_figure(operons), "Operon sizes (genes per operon)", dpi)
            + _figure(_probability_figure(scores), "Pair probabilities, same- and opposite-strand neighbours, "
                                                   "with the threshold", dpi))


def _calibration(calibrated: Calibrated, dpi: int, decided: Sequence = (),
                 bins: Sequence[tuple[str, Calibrated]] = ()) -> str:
    """The fitted mixture; with a model's per-genome rule (``decided``: calibration.GenomeCalibration per genome
    or --bins bin), the cut-off its calls used; with --bins, each bin's own fit (``bins``) after the whole input's."""
    model = calibrated.model
    cutoff = f"{calibrated.cutoff_bp:,} bp"
    label = ("spacer cut-off of the calls (the model's per-genome rule)" if len(decided) == 1
             else "spacer cut-off (calibrated posterior falls below 0.5)")
    rows = [
        ("operon fraction of same-strand neighbours", f"{model.operon_fraction:.3f}"),
        (label, cutoff),
        ("same-strand neighbours", f"{model.n_same:,}"),
        ("opposite-strand neighbours (boundaries)", f"{model.n_opposite:,}"),
    ]
    if len(decided) == 1:  # the rule moves the genome's own cut-off within its own interval: show both
        rows.insert(2, ("the genome's own cut-off (its posterior falls below 0.5)",
                        f"{decided[0].own_cutoff_bp:,.0f} bp" if decided[0].self_calibrated else "none (too few pairs)"))
    if len(decided) > 1:  # --bins: one cut-off per bin
        rows += [(f"bin {html.escape(c.group)}: operon fraction / cut-off",
                  f"{c.operon_fraction:.3f} / {c.cutoff_bp:,.0f} bp") for c in decided]
    return ("<h2>Calibrated on this genome</h2>\n<p>The intergenic spacer of same-strand neighbours is fitted as a "
            "mixture of operon and boundary spacers; opposite-strand neighbours sample this genome's boundaries "
            "(Price et al. 2005). The spacer evidence of <code>--explain</code> and the context view use it.</p>\n"
            + _table(("", ""), rows, with_header=False, raw=True)
            + _figure(_spacer_figure(calibrated), "Spacers of same-strand and opposite-strand neighbours and the "
                                                   "fitted mixture" + (" (the whole input)" if bins else ""), dpi)
            + "".join(_figure(_spacer_figure(fit), f"Bin {name or 'of unbinned scaffolds'}: "
                              f"operon fraction {fit.model.operon_fraction:.3f}, cut-off of its calls "
                              f"{fit.cutoff_bp:,} bp", dpi) for name, fit in bins)
            + (f"<p>Spacer figures of the {len(bins)} bins with most same-strand neighbours; every bin is listed "
               "above.</p>\n" if len(bins) < len(decided) and bins else ""))


def _model(model, model_name: str, threshold: float, decided: str) -> str:
    """The model by name and by its two identities, as the scores' header gives them: ``model_id`` (weights and
    inputs) and ``decided``, the ``decision_id`` of the rule that made the calls (score.decision_id: with a user's
    threshold, not the model's own), spelled out below it."""
    views = model.inputs.views
    validation = (getattr(model, "metrics", {}) or {}).get("validation", {})
    rows = [("microfuse", __version__), ("model", model_name), ("model_id", model.identity),
            ("decision_id", decided), ("decision rule", _rule_text(model.decision)),
            ("architecture", getattr(model, "arch", "?")),
            ("views", ", ".join(f"{k}: {v}" for k, v in views.items())), ("threshold", threshold_text(threshold))]
    rows += [(f"validation {k}", f"{validation[k]:.3f}") for k in ("auroc", "auprc", "accuracy") if k in validation]
    return "<h2>Model</h2>\n" + _table(("", ""), rows, with_header=False)


def _rule_text(decision) -> str:
    """A decision rule's fields as ``name value`` (calibration.DecisionRule.to_dict), or what cuts without one."""
    if decision is None:
        return "none: the probabilities are cut at the threshold"
    return ", ".join(f"{name} {', '.join(value) if isinstance(value, list) else format(value, 'g')}"
                     for name, value in decision.to_dict().items())


def _regions(scored: ScoredGenome, dpi: int) -> str:
    """Region figures: the largest operons, then the least certain calls (lowest pair probability)."""
    largest = sorted(scored.operons, key=lambda op: (-len(op.genes), op.id))[:N_REGIONS]
    shown = {op.id for op in largest}
    uncertain = [op for op in sorted(scored.operons, key=lambda op: (op.min_probability, op.id))
                 if op.id not in shown][:N_REGIONS]
    parts = ["<h2>Regions</h2>"]
    for heading, chosen in (("Largest operons", largest), ("Least certain calls", uncertain)):
        if not chosen:
            continue
        parts.append(f"<h3>{heading}</h3>")
        for op in chosen:
            view = region_view(scored, operon_region(scored, op.id, FLANK))
            caption = (f"{op.id} on {op.scaffold}:{op.start:,}-{op.end:,} ({'+' if op.strand > 0 else '-'}), "
                       f"{len(op.genes)} genes, mean p {op.mean_probability:.3f}, min p {op.min_probability:.3f}")
            parts.append(_figure(draw_regions([view], width=11.0), caption, dpi))
    if len(parts) == 1:
        parts.append("<p>No operons were called.</p>")
    return "\n".join(parts)


def _operon_table(genome: Genome, operons: Sequence[Operon]) -> str:
    genes = {g.id: g for g in genome.genes}
    rows = [(op.id, op.scaffold, f"{op.start:,}", f"{op.end:,}", "+" if op.strand > 0 else "-", str(len(op.genes)),
             ", ".join(gene_label(genes[g]) if g in genes else g for g in op.genes),
             f"{op.mean_probability:.4f}", f"{op.min_probability:.4f}") for op in operons]  # as --operons-tsv
    header = ("operon", "sequence", "start", "end", "strand", "genes", "members", "mean p", "min p")
    return f"<h2>Operons ({len(operons):,})</h2>\n" + _table(header, rows)


# ------------------------------------------------------------------------------------------------ figures


def _figure(fig, caption: str, dpi: int) -> str:
    """A Figure as an inline PNG (a data: URI: nothing is fetched)."""
    from .io.images import image_bytes

    data = base64.b64encode(image_bytes(fig, "png", dpi=dpi)).decode("ascii")
    return (f'<figure><img src="data:image/png;base64,{data}" alt="{html.escape(caption)}">'
            f"<figcaption>{html.escape(caption)}</figcaption></figure>\n")


def _axes(width: float = 6.0, height: float = 3.0):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)
    return fig, fig.add_subplot(1, 1, 1)


def _size_figure(operons: Sequence[Operon]):
    fig, ax = _axes(5.0, 2.6)
    sizes = np.array([len(op.genes) for op in operons], dtype=int)
    if sizes.size:
        values, counts = np.unique(sizes, return_counts=True)
        ax.bar(values, counts, color="#E69F00")
        ax.set_xticks(values)
    ax.set(xlabel="genes per operon", ylabel="operons")
    return fig


def _probability_figure(scores: Scores):
    fig, ax = _axes(5.0, 2.6)
    same = np.array([p.same_strand for p in scores.pairs], dtype=bool)
    bins = np.linspace(0, 1, 41)
    ax.hist(scores.probability[same], bins=bins, color="#009E73", alpha=0.8, label="same strand")
    ax.hist(scores.probability[~same], bins=bins, color="#999999", alpha=0.8, label="opposite strands")
    ax.axvline(scores.threshold, linestyle="--", color="black", linewidth=0.8,
               label=f"threshold {scores.threshold:.3f}")
    ax.set(xlabel="P(operon pair)", ylabel="pairs")
    ax.legend(fontsize=7, frameon=False)
    return fig


def _spacer_figure(calibrated: Calibrated):
    """Histograms of both kinds of spacers and the fitted densities, on calibration's asinh scale."""
    model = calibrated.model
    fig, ax = _axes(7.0, 3.2)
    bins = np.linspace(model.grid[0], model.grid[-1], 60)
    for values, colour, label in ((calibrated.same_strand, "#009E73", "same strand"),
                                  (calibrated.opposite_strand, "#999999", "opposite strands")):
        if values.size:
            ax.hist(_transform(np.clip(values, -200, 5000)), bins=bins, density=True, color=colour, alpha=0.45,
                    label=f"{label} ({values.size:,})")
    fraction = model.operon_fraction
    ax.plot(model.grid, model.same_strand_density, color="#009E73", linewidth=1.4, label="same strand (fitted)")
    ax.plot(model.grid, fraction * model.operon_density, color="#E69F00", linewidth=1.4,
            label=f"operon component ({fraction:.2f})")
    ax.plot(model.grid, (1 - fraction) * model.boundary_density, color="#0072B2", linewidth=1.4,
            label=f"boundary component ({1 - fraction:.2f})")
    ax.axvline(_transform(calibrated.cutoff_bp), linestyle="--", color="black", linewidth=0.8,
               label=f"cut-off {calibrated.cutoff_bp} bp")
    ax.set_xticks(_transform(np.array(SPACER_TICKS)), [str(t) for t in SPACER_TICKS])
    ax.set(xlabel="intergenic spacer, bp (asinh scale)", ylabel="density")
    ax.legend(fontsize=7, frameon=False)
    return fig


def _table(columns: Sequence[str], rows, *, with_header: bool = True, raw: bool = False) -> str:
    """An HTML table; cells escaped unless ``raw`` (the first column only, for entities in labels)."""
    def cell(value: str, first: bool) -> str:
        return value if raw and first else html.escape(value)

    head = ("<thead><tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in columns) + "</tr></thead>"
            if with_header else "")
    body = "".join("<tr>" + "".join(f"<td>{cell(v, i == 0)}</td>" for i, v in enumerate(row)) + "</tr>\n"
                   for row in rows)
    return f"<table>{head}<tbody>\n{body}</tbody></table>\n"


PAGE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="microfuse {version}">
<title>{title}</title>
<style>
body {{ font-family: sans-serif; margin: 2em auto; max-width: 1000px; color: #222; line-height: 1.4; }}
h1 {{ font-size: 1.5em; }} h2 {{ border-bottom: 1px solid #ccc; margin-top: 1.6em; }}
table {{ border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }}
td, th {{ border: 1px solid #ddd; padding: 2px 8px; text-align: left; vertical-align: top; }}
th {{ background: #f3f3f3; position: sticky; top: 0; }}
figure {{ margin: 1em 0; }} img {{ max-width: 100%; height: auto; }}
figcaption {{ font-size: 0.85em; color: #555; }}
</style>
</head>
<body>
<h1>{title}</h1>
<p>Operons predicted by microfuse {version}.</p>
{body}
</body>
</html>
"""
