"""Region figures: genes as arrows, operons as coloured blocks, each adjacent pair's probability as a track.

``load_scored`` joins a scores TSV to its genome and calls the operons again at the table's threshold;
``region_view`` works out what a figure of one region places (genes, operons, pair junctions, in the region's own
coordinates, which run past the sequence's length across the origin of a circular one); ``draw_regions`` draws
those views with DNA Features Viewer on a private matplotlib Figure (the optional ``plots`` extra), so tests can
check what is placed as well as the image. ``save_figure`` records in the image's metadata the model that made the
scores, as the table's ``#microfuse`` line names it (io.model_id.Maker), not whatever model is the default now.
"""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import DataError, UsageError, log_naming
from .fusion import EXPERTS
from .records import Gene, Genome, read_only
from .pairs import GeneIndex, GenePair
from .io.files import is_stdio
from .io.model_id import Maker, comment_maker, threshold_text
from .io.tables import ROUTER_COLUMNS
from .score import Operon, Scores, call_operons

log = logging.getLogger(__name__)
FORMATS = {".png": "png", ".svg": "svg", ".pdf": "pdf"}
#: Suffixes io.outputs writes compressed: never a figure's.
COMPRESSED = (".gz", ".bz2", ".xz")
#: Operon colours (colour-blind-safe Okabe-Ito, grey and black left out); genes outside operons are light grey.
PALETTE = ("#E69F00", "#56B4E9", "#009E73", "#0072B2", "#D55E00", "#CC79A7", "#F0E442")
LONE_GENE = "#d9d9d9"
EXPERT_COLOURS = ("#4C72B0", "#55A868", "#8172B2", "#C44E52")
_GENE_NAME = re.compile(r"^[a-z]{3}[A-Z]?\d{0,2}$")  # bacterial gene symbols: thrA, dnaN, rpsL, insA1


def require_plotting():
    """Import DNA Features Viewer, or say in one line how to install the optional extra."""
    try:
        import dna_features_viewer
        import matplotlib  # noqa: F401
    except ImportError:
        raise UsageError("figures need the plotting extra: pip install 'microfuse-cli[plots]'") from None
    return dna_features_viewer


@functools.cache
def image_suffixes() -> frozenset[str]:
    """Suffixes that name an image format, as the libraries know them (was a hand-written list): those matplotlib
    writes (.eps, .pgf, .raw ...) and the image/* types of Python's own MIME table (.bmp, .heic ...; its built-in
    one, not the machine's /etc/mime.types, so a name means the same everywhere). A figure of another format is
    never named so; any other suffix (a version's .2) is part of a name. Only asked for such a suffix, so a plain
    .png name imports no matplotlib; a missing plotting extra says so in its one line (``require_plotting``)."""
    import mimetypes

    require_plotting()
    from matplotlib.backend_bases import FigureCanvasBase

    table = mimetypes.MimeTypes()  # the built-in table only (the module's functions read the machine's files too)
    known = {**table.types_map[False], **table.types_map[True]}
    return frozenset({f".{name}" for name in FigureCanvasBase.get_supported_filetypes()}
                     | {suffix for suffix, kind in known.items() if kind.startswith("image/")})


def check_figure_path(path: str, fmt: str | None = None) -> str:
    """The image format of a figure written to ``path``: ``fmt`` (png, svg or pdf; `plot --format`) or else the
    format its suffix (.png, .svg, .pdf) names. Stdout (``-``), /dev/stdout or a file without a suffix has none to
    go by, so it needs ``fmt``. A .gz/.bz2/.xz name, which the writer would compress (io.outputs), is refused; with
    ``fmt``, so is an image suffix other than its own (a PNG named .svg or .jpg); any other suffix is part of the
    name (``gyrA_v1.2``, was refused as a .2 name). A device or FIFO may have any name but another of .png/.svg/.pdf
    (plot.fifo): it holds no file of that name."""
    from .io.outputs import is_stream

    given = ("fmt=", "--format ")  # the Python argument, or the option
    suffix = "" if is_stdio(path) else Path(path).suffix.lower()
    if suffix in COMPRESSED:  # with or without fmt (`-o fig.svg.gz` was told to end in .svg, which it does)
        raise UsageError(f"{path}: a figure is not written compressed; give a path without {suffix}")
    if fmt is None:
        if suffix in FORMATS:
            return FORMATS[suffix]
        if suffix and suffix in image_suffixes():
            raise UsageError(f"{path}: give a figure path ending in .png, .svg or .pdf")
        if suffix:  # a version's .2, a sample's .S1: a name that --format keeps as it is
            raise UsageError.naming(f"{path}: give a figure path ending in .png, .svg or .pdf, or ", given,
                                    f"png, svg or pdf to keep the name {Path(path).name}")
        raise UsageError.naming(f"{'stdout' if is_stdio(path) else path}: no .png, .svg or .pdf suffix to tell the "
                                "figure's format; give ", given, "png, svg or pdf")
    if not isinstance(fmt, str) or fmt.lower() not in FORMATS.values():
        raise UsageError.naming(given, f"{fmt}: give png, svg or pdf")
    fmt = fmt.lower()
    if suffix and suffix != f".{fmt}" and (suffix in FORMATS or not is_stream(path) and suffix in image_suffixes()):
        raise UsageError.naming(f"{path}: a {suffix} name for the ", given, f"{fmt} figure; give a path ending in "
                                f".{fmt}" + (", or leave " if suffix in FORMATS else ""),
                                ("fmt", "--format") if suffix in FORMATS else "", " out" if suffix in FORMATS else "")
    return fmt


# ------------------------------------------------------------------------------------------------ data


@dataclass(frozen=True)
class ScoredGenome:
    """A genome with its scored adjacent pairs (aligned arrays) and the operons they make at ``threshold``."""

    genome: Genome
    pairs: tuple[GenePair, ...]
    probability: np.ndarray
    threshold: float
    spacer_posterior: np.ndarray | None
    router_weights: np.ndarray | None
    operons: tuple[Operon, ...]
    maker: Maker | None = None  # what the scores' ``#microfuse`` line says made them (None: no such line)

    def __post_init__(self) -> None:  # tuples and read-only arrays, as the scores it was built from
        object.__setattr__(self, "pairs", tuple(self.pairs))
        object.__setattr__(self, "operons", tuple(self.operons))
        for name in ("probability", "spacer_posterior", "router_weights"):
            object.__setattr__(self, name, read_only(getattr(self, name)))


def load_scored(scores_path, genome: Genome, threshold: float | None = None) -> ScoredGenome:
    """Join a scores TSV to the genome it was scored on; operons are called again as `score` calls them.

    ``threshold`` defaults to the one the table's calls were made at (its '#microfuse' line's, the packaged
    model's for a table without one, else the lowest probability it called an operon pair): either way the operons
    are the ones `score` wrote.
    """
    from .pairs import read_pairs

    table = read_pairs(scores_path)
    if "probability" not in table.extra or "operon_pair" not in table.extra:
        raise DataError(f"{scores_path}: not a scores TSV (no probability/operon_pair columns); give `score`'s output")
    genes = {g.id: g for g in genome.genes}
    missing = [g.id for p in table.pairs for g in (p.gene_a, p.gene_b) if g.id not in genes]
    if missing:
        raise DataError(f"{scores_path}: gene {missing[0]!r} is not in {genome.name}: give the genome these pairs "
                        "were scored on")
    pairs = [replace(p, gene_a=genes[p.gene_a.id], gene_b=genes[p.gene_b.id]) for p in table.pairs]
    _warn_origin_pairs_on_linear(scores_path, genome, pairs)
    probability = _floats(table.extra["probability"], scores_path, "probability")
    called = np.array([c == "1" for c in table.extra["operon_pair"]])
    maker = comment_maker(table.comments, str(scores_path))
    if threshold is None:
        threshold = _table_threshold(probability, called, np.array([p.same_strand for p in pairs], dtype=bool), maker)
    weights = None
    if all(c in table.extra for c in ROUTER_COLUMNS):
        weights = np.column_stack([_floats(table.extra[c], scores_path, c) for c in ROUTER_COLUMNS])
        weights = None if np.isnan(weights).all() else weights
    spacer = table.extra.get("spacer_posterior")
    spacer = _floats(spacer, scores_path, "spacer_posterior") if spacer is not None else None
    operons = call_operons(genome, Scores(pairs, probability, threshold))
    return ScoredGenome(genome, pairs, probability, threshold, spacer, weights, operons, maker)


def _warn_origin_pairs_on_linear(scores_path, genome: Genome, pairs) -> None:
    """Pairs closing a circle (``b`` wholly before ``a``) on a sequence read as linear are never drawn: the table
    was scored with --circular (or from an annotation saying so) and the genome read here without it."""
    wraps = [p for p in pairs if not genome.scaffolds[p.gene_a.scaffold].circular and p.gene_b.end < p.gene_a.start]
    if wraps:
        log_naming(log, logging.WARNING, f"{scores_path}: {len(wraps)} pair(s) across the origin (e.g. "
                   f"{wraps[0].pair_id}) on sequence(s) read here as linear are not drawn; give ",
                   ("GenomeOptions(circular=True)", "--circular"), " as to score")


def _floats(values: Sequence[str], path, column: str) -> np.ndarray:
    try:
        return np.array([float(v) if v != "" else np.nan for v in values])
    except ValueError:
        raise DataError(f"{path}: column {column} holds a value that is not a number") from None


def _table_threshold(probability: np.ndarray, called: np.ndarray, same_strand: np.ndarray,
                     maker: Maker | None) -> float:
    """The threshold a table was called at: its '#microfuse' line's (the packaged model's for a table without one)
    where that is the cut, else the lowest call (score.threshold_of_calls)."""
    from .score import default_threshold, load_model, threshold_of_calls

    stated = maker.threshold if maker is not None and maker.threshold is not None else None
    if stated is None:
        stated = default_threshold(load_model(None))
    return threshold_of_calls(probability, called, same_strand, stated)


# ------------------------------------------------------------------------------------------------ regions


@dataclass(frozen=True)
class Region:
    """1-based inclusive; ``end`` past the sequence's length runs across the origin of a circular one."""

    scaffold: str
    start: int
    end: int
    title: str = ""


def parse_region(text: str, genome: Genome) -> Region:
    """``SCAFFOLD:START-END`` (commas allowed); START > END on a circular sequence runs across its origin.

    Raises:
        UsageError: text not of that form, a position 0, START > END on a linear sequence.
        DataError: a sequence the genome lacks, or a region past the end of its sequence (the data lacks it, as
            a gene or pair past the end of its scaffold in a GFF3 or pairs TSV is bad data).
    """
    match = re.fullmatch(r"(.+):([\d,]+)-([\d,]+)", text.strip())
    if match is None:
        raise UsageError(f"--region {text}: expected SCAFFOLD:START-END, e.g. NC_000913.3:1-20000")
    sid, start, end = match.group(1), int(match.group(2).replace(",", "")), int(match.group(3).replace(",", ""))
    scaffold = genome.scaffolds.get(sid)
    if scaffold is None:
        known = ", ".join(list(genome.scaffolds)[:3])
        raise DataError(f"--region {text}: no sequence {sid!r} in {genome.name} (it has {known} ...)")
    if start < 1 or end < 1:  # no position 0 on any sequence: the text is wrong
        raise UsageError(f"--region {text}: positions are 1-based; start must lie within 1..{scaffold.length}")
    if start > scaffold.length:  # the sequence lacks it, as a sequence the genome lacks: bad data (1)
        raise DataError(f"--region {text}: starts past the end of {sid} ({scaffold.length:,} bp); start must lie "
                        f"within 1..{scaffold.length}")
    if end < start:
        if not scaffold.circular:
            raise UsageError(f"--region {text}: start after end, and {sid} is linear (give --circular if it is not)")
        end += scaffold.length
    if end - start + 1 > scaffold.length or (end > scaffold.length and not scaffold.circular):
        raise DataError(f"--region {text}: ends past the end of {sid} ({scaffold.length:,} bp)")
    return Region(sid, start, end, f"{sid}:{start:,}-{_position(end, scaffold.length):,}")


def around(genome: Genome, scaffold_id: str, start: int, end: int, flank: int, title: str) -> Region:
    """``start..end`` with ``flank`` bp either side: clipped at the ends of a linear sequence, across the origin
    of a circular one."""
    scaffold = genome.scaffolds[scaffold_id]
    length = scaffold.length
    lo, hi = start - flank, end + flank
    if hi - lo + 1 >= length:
        return Region(scaffold_id, 1, length, title)
    if scaffold.circular:
        if lo < 1:
            lo, hi = lo + length, hi + length
        return Region(scaffold_id, lo, hi, title)
    return Region(scaffold_id, max(1, lo), min(length, hi), title)


def gene_region(scored: ScoredGenome, name: str, flank: int) -> Region:
    gene = GeneIndex(scored.genome).get(name)
    if gene is None:
        raise DataError(f"--gene {name}: no gene of that name, locus tag or id in {scored.genome.name}")
    return around(scored.genome, gene.scaffold, gene.start, gene.end, flank, f"{gene_label(gene)} ({gene.id})")


def operon_region(scored: ScoredGenome, operon_id: str, flank: int) -> Region:
    operon = next((op for op in scored.operons if op.id == operon_id), None)
    if operon is None:
        raise DataError(f"--operon {operon_id}: no such operon at threshold {scored.threshold:.3f} "
                         f"(operon_1 .. operon_{len(scored.operons)})")
    return around(scored.genome, operon.scaffold, operon.start, operon.end, flank,
                  f"{operon.id}: {len(operon.genes)} genes, mean p {operon.mean_probability:.2f}")


def _position(x: float, length: int) -> int:
    """A coordinate of the unrolled circle as a position on the sequence."""
    return int((x - 1) % length) + 1


def gene_label(gene: Gene) -> str:
    """The gene symbol (thrA) when the annotation gives one, else the gene's id (locus tag)."""
    return next((a for a in gene.aliases if _GENE_NAME.match(a)), gene.id)


# ------------------------------------------------------------------------------------------------ placement


@dataclass(frozen=True)
class PlacedGene:
    id: str
    label: str
    start: int
    end: int
    strand: int
    operon: str | None


@dataclass(frozen=True)
class PlacedOperon:
    id: str
    start: int
    end: int
    strand: int
    mean_probability: float
    colour: str


@dataclass(frozen=True)
class PlacedPair:
    pair_id: str
    x: float
    probability: float
    called: bool
    spacer_posterior: float | None
    router_weights: tuple[float, ...] | None


@dataclass(frozen=True)
class RegionView:
    """What one region's figure places, in the region's coordinates (``region.start .. region.end``)."""

    region: Region
    length: int
    genes: list[PlacedGene]
    operons: list[PlacedOperon]
    pairs: list[PlacedPair]
    threshold: float


def region_view(scored: ScoredGenome, region: Region) -> RegionView:
    """Genes, operons and pair junctions that overlap ``region``, each where it falls in it (a circle's copies
    before and after the origin included)."""
    scaffold = scored.genome.scaffolds[region.scaffold]
    length = scaffold.length
    shifts = (-length, 0, length) if scaffold.circular else (0,)

    def placed(start: float, end: float) -> list[int]:
        return [k for k in shifts if end + k >= region.start and start + k <= region.end]

    colour = {op.id: PALETTE[i % len(PALETTE)] for i, op in enumerate(scored.operons)}
    member = {g: op.id for op in scored.operons for g in op.genes}
    genes = [PlacedGene(g.id, gene_label(g), g.start + k, g.end + k, g.strand, member.get(g.id))
             for g in scored.genome.genes if g.scaffold == region.scaffold for k in placed(g.start, g.end)]
    operons = [PlacedOperon(op.id, op.start + k, op.end + k, op.strand, op.mean_probability, colour[op.id])
               for op in scored.operons if op.scaffold == region.scaffold for k in placed(op.start, op.end)]
    pairs = []
    for i, pair in enumerate(scored.pairs):
        if pair.scaffold != region.scaffold:
            continue
        a, b = pair.gene_a, pair.gene_b
        x = (a.end + b.start + (length if b.start < a.start else 0)) / 2  # the (last, first) pair of a circle
        for k in placed(x, x):
            pairs.append(PlacedPair(
                pair.pair_id, x + k, float(scored.probability[i]),
                bool(pair.same_strand and scored.probability[i] >= scored.threshold),
                None if scored.spacer_posterior is None else float(scored.spacer_posterior[i]),
                None if scored.router_weights is None else tuple(float(w) for w in scored.router_weights[i])))
    return RegionView(region, length, sorted(genes, key=lambda g: g.start), sorted(operons, key=lambda o: o.start),
                      sorted(pairs, key=lambda p: p.x), scored.threshold)


# ------------------------------------------------------------------------------------------------ drawing


def draw_regions(views: Sequence[RegionView], *, width: float = 11.0):
    """A matplotlib Figure with one panel per region: gene map, pair probabilities, router weights."""
    require_plotting()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    with_weights = any(p.router_weights is not None for v in views for p in v.pairs)
    rows_per = 3 if with_weights else 2
    ratios = ([2.4, 1.4, 0.8] if with_weights else [2.4, 1.4]) * len(views)
    fig = Figure(figsize=(width, (3.3 if with_weights else 2.7) * len(views)), layout="constrained")
    FigureCanvasAgg(fig)
    grid = fig.add_gridspec(rows_per * len(views), 1, height_ratios=ratios)
    for n, view in enumerate(views):
        axes = [fig.add_subplot(grid[n * rows_per + r, 0]) for r in range(rows_per)]
        _draw_genes(axes[0], view)
        _draw_probabilities(axes[1], view)
        if with_weights:
            _draw_weights(axes[2], view)
        for ax in axes[1:]:
            ax.set_xlim(*_xlim(view))
            _position_ticks(ax, view)
        for ax in axes[:-1]:
            ax.tick_params(labelbottom=False)
    return fig


def _xlim(view: RegionView) -> tuple[float, float]:
    return view.region.start - 0.5, view.region.end + 0.5


def _position_ticks(ax, view: RegionView) -> None:
    """Tick labels as positions on the sequence (a region across the origin restarts at 1)."""
    from matplotlib.ticker import FixedLocator, FuncFormatter, MaxNLocator

    region, length = view.region, view.length
    steps = MaxNLocator(7, integer=True, steps=[1, 2, 2.5, 5, 10]).tick_values(0, region.end - region.start)
    step = int(steps[1] - steps[0]) if len(steps) > 1 else 1
    ticks = [t + shift for shift in (0, length) for t in range(step, length + 1, step)]
    if region.end > length:
        ticks.append(length + 1)  # position 1, where the sequence starts again
    ax.xaxis.set_major_locator(FixedLocator(sorted(t for t in ticks if region.start <= t <= region.end)))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda x, _: f"{_position(x, length):,}"))


def _draw_genes(ax, view: RegionView) -> None:
    """Operons as coloured blocks above their genes; genes as arrows, coloured by operon, named."""
    from dna_features_viewer import GraphicFeature, GraphicRecord

    region = view.region
    colour = {op.id: op.colour for op in view.operons}
    features = [GraphicFeature(start=max(op.start, region.start) - 1, end=min(op.end, region.end), strand=0,
                               color=op.colour, thickness=7, linewidth=0, label=f"{op.id} ({op.mean_probability:.2f})",
                               fontdict={"fontsize": 7}, open_left=op.start < region.start,
                               open_right=op.end > region.end)
                for op in view.operons]
    features += [GraphicFeature(start=max(g.start, region.start) - 1, end=min(g.end, region.end), strand=g.strand,
                                color=colour.get(g.operon, LONE_GENE), label=g.label, fontdict={"fontsize": 7},
                                open_left=g.start < region.start, open_right=g.end > region.end)
                 for g in view.genes]
    record = GraphicRecord(sequence_length=region.end - region.start + 1, features=features,
                           first_index=region.start - 1)
    record.plot(ax=ax, with_ruler=False, strand_in_label_threshold=7)
    ax.set_xlim(*_xlim(view))
    title = region.title or f"{region.scaffold}:{region.start:,}-{_position(region.end, view.length):,}"
    if region.end > view.length:
        title += " (across the origin)"
    ax.set_title(title, fontsize=9, loc="left")


def _draw_probabilities(ax, view: RegionView) -> None:
    """Each adjacent pair's probability at the junction of its genes, the spacer posterior, the threshold."""
    xs = [p.x for p in view.pairs]
    called = [p.called for p in view.pairs]
    colours = ["#009E73" if c else "#999999" for c in called]
    ax.vlines(xs, 0, [p.probability for p in view.pairs], colors=colours, linewidth=1.2)
    ax.scatter(xs, [p.probability for p in view.pairs], c=colours, s=14, zorder=3, label="probability")
    spacer = [(p.x, p.spacer_posterior) for p in view.pairs if p.spacer_posterior is not None
              and not np.isnan(p.spacer_posterior)]
    if spacer:
        ax.scatter(*zip(*spacer), facecolors="none", edgecolors="#0072B2", s=18, zorder=4, label="spacer posterior")
    ax.axhline(view.threshold, linestyle="--", color="black", linewidth=0.8, label=f"threshold {view.threshold:.3f}")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("P(operon)", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(loc="lower right", fontsize=6, ncols=3, frameon=False, bbox_to_anchor=(1, 1), borderaxespad=0)


def _draw_weights(ax, view: RegionView) -> None:
    """The router's four expert weights of each pair, stacked at its junction."""
    pairs = [p for p in view.pairs if p.router_weights is not None]
    xs = np.array([p.x for p in pairs])
    weights = np.array([p.router_weights for p in pairs]).reshape(len(pairs), len(EXPERTS))
    bar = max((view.region.end - view.region.start) / 150, 1)
    bottom = np.zeros(len(pairs))
    for k, expert in enumerate(EXPERTS):
        ax.bar(xs, weights[:, k], width=bar, bottom=bottom, color=EXPERT_COLOURS[k], label=expert)
        bottom += np.nan_to_num(weights[:, k])
    ax.set_ylim(0, 1)
    ax.set_ylabel("router", fontsize=8)
    ax.tick_params(labelsize=7)
    ax.legend(loc="lower right", fontsize=6, ncols=4, frameon=False, bbox_to_anchor=(1, 1), borderaxespad=0)


def figure_description(maker: Maker, threshold: float | None = None) -> str:
    """``scores by microfuse VERSION, model NAME (model_id 12 hex, decision_id 16 hex)``: what a figure's scores
    were made by, as their table's ``#microfuse`` line says; ``threshold``: a user's own (`plot --threshold`),
    which joined the operons drawn in place of the rule that decision_id names."""
    text = maker.scored_by()
    return text if threshold is None else f"{text}; operons joined at the user's threshold {threshold_text(threshold)}"


def save_figure(fig, path, *, fmt: str | None = None, dpi: int = 150, maker: Maker | None = None,
                threshold: float | None = None) -> Path:
    """Write ``fig`` atomically as ``fmt`` or, without it, in the format of ``path``'s suffix (check_figure_path),
    the same bytes on rerun (io.images), with ``maker`` (the model of the scores drawn) and a user's ``threshold``
    in the metadata (``figure_description``). ``-``, /dev/stdout, a device or a FIFO is written into (io.outputs)."""
    from .io.images import save_image

    description = None if maker is None else figure_description(maker, threshold)
    return save_image(fig, path, check_figure_path(str(path), fmt), dpi=dpi, description=description)
