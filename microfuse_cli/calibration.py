"""Per-genome self-calibration of the intergenic spacer, without labels (after Price et al. 2005, NAR).

Neighbours on opposite strands can never share an operon, so their spacers sample the genome's own non-operon
spacing; same-strand neighbours are a mixture of operon and non-operon spacers. Fitting that mixture on each
input genome turns a raw spacer (whose meaning differs between compact and loose genomes) into genome-relative
evidence: the log-likelihood ratio of "operon" vs "boundary" for this genome, and the posterior.

The mixture is not identifiable on its own (its best fit is "everything is an operon"), so the operon fraction is
anchored by assuming operon spacers are rare beyond the genome's typical divergent spacer.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from .errors import DataError, spellings
from .io.files import PathLike, read_text
from .pairs import GenePair
from .records import case_hint, check_bin_map, read_only

#: Spacers are compared on asinh(d / SCALE): linear around 0 (overlaps of -1/-4 stay distinct), log beyond.
SCALE = 20.0
#: Fewer opposite-strand or same-strand neighbours than this and the genome-level fit falls back to the prior.
MIN_PAIRS = 30

#: How headers and the log name the pool of scaffolds that a --bins table leaves out (no bin name has brackets
#: in MetaBAT, DAS Tool, VAMB or SemiBin output).
UNBINNED = "(unbinned)"

CALIBRATION_FEATURES = ["spacer_llr", "spacer_posterior", "spacer_percentile", "operon_fraction"]


def _transform(d: np.ndarray) -> np.ndarray:
    return np.arcsinh(np.asarray(d, dtype=np.float64) / SCALE)


def _kde(samples: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian kernel density of ``samples`` evaluated on ``grid`` (both on the transformed scale).

    Spacers repeat (whole base pairs), so the density is a count-weighted mixture of normals at the distinct
    values: the density gaussian_kde gives with this bandwidth, without its per-call whitening of the data, which
    dominated the bootstrap of ``own_cutoff_interval``."""
    values, counts = np.unique(samples, return_counts=True)
    if values.size == 0:
        return np.full(grid.shape, 1.0 / (grid[-1] - grid[0]))
    return (counts / counts.sum()) @ _normal_pdf(grid[None, :], values[:, None], bandwidth)


def _normal_pdf(x: np.ndarray, loc: np.ndarray, scale: float) -> np.ndarray:
    """scipy.stats.norm.pdf(x, loc, scale) for a finite ``x`` and ``loc`` and ``scale`` > 0, with its operations in
    its order (the same bits): without its argument checks and masking, which cost as much as the density itself
    in the 400 refits of ``own_cutoff_interval``, and without scipy.stats's import (~0.15 s)."""
    z = (x - loc) / scale
    return np.exp(-z**2 / 2.0) / _SQRT_2PI / scale


_SQRT_2PI = np.sqrt(2 * np.pi)


def _bandwidth(samples: np.ndarray) -> float:
    if samples.size < 2:
        return 0.3
    spread = min(np.std(samples), (np.percentile(samples, 75) - np.percentile(samples, 25)) / 1.34) or np.std(samples)
    return float(max(0.9 * spread * samples.size ** -0.2, 0.08))


def _monotone_tail(grid, f1, f0, g):
    """Beyond a zero spacer the operon evidence can only fall with distance: enforce it on the LLR (isotonic),
    weighting each grid point by how many same-strand pairs sit there. Overlaps keep their own shape."""
    from scipy.optimize import isotonic_regression

    llr = np.log(f1) - np.log(f0)
    start = int(np.searchsorted(grid, 0.0))
    llr[start:] = isotonic_regression(llr[start:], weights=g[start:] + 1e-3, increasing=False).x
    return np.exp(llr) * f0


@dataclass(frozen=True)
class SpacerModel:
    """Densities of operon and boundary spacers for one genome (or a pooled bin/sample), on a fixed grid."""

    grid: np.ndarray
    boundary_density: np.ndarray
    operon_density: np.ndarray
    same_strand_density: np.ndarray
    operon_fraction: float
    same_strand_spacers: np.ndarray
    n_same: int
    n_opposite: int
    boundary_spacers: np.ndarray  # what the boundary density was fitted on (divergent, else all opposite-strand)
    n_left_out: int = 0  # pairs left out of the fit (``usable_pairs``): on a short fragment

    def __post_init__(self) -> None:  # read-only views of the arrays as fitted, never changed later
        for name in ("grid", "boundary_density", "operon_density", "same_strand_density", "same_strand_spacers",
                     "boundary_spacers"):
            object.__setattr__(self, name, read_only(getattr(self, name)))

    @classmethod
    def fit(cls, pairs: Sequence[GenePair], fragments: frozenset[str] = frozenset()) -> "SpacerModel":
        """Fit on the adjacent pairs of a genome (``usable_pairs``; ``fragments``: see ``short_fragments``):
        opposite-strand spacers model the boundaries."""
        usable = usable_pairs(pairs, fragments)
        model = cls._fit_usable(usable)
        return dataclasses.replace(model, n_left_out=len(pairs) - len(usable))

    @classmethod
    def _fit_usable(cls, pairs: Sequence[GenePair]) -> "SpacerModel":
        same = np.array([p.distance for p in pairs if p.same_strand], dtype=np.float64)
        opposite = np.array([p.distance for p in pairs if not p.same_strand], dtype=np.float64)
        # divergent pairs (<- ->) model boundaries best: convergent 3'-3' spacers are short and overlap like operons
        divergent = np.array([p.distance for p in pairs if not p.same_strand and p.gene_a.strand < 0], dtype=np.float64)
        return cls.from_spacers(same, divergent if divergent.size >= MIN_PAIRS else opposite, int(opposite.size))

    @classmethod
    def from_spacers(cls, same: np.ndarray, boundary: np.ndarray, n_opposite: int) -> "SpacerModel":
        """Fit on same-strand spacers (the mixture) and boundary spacers (bp): what ``fit`` and resampling share."""
        same, boundary = np.asarray(same, dtype=np.float64), np.asarray(boundary, dtype=np.float64)
        grid = np.linspace(_transform(-200), _transform(5000), 400)
        xs, xb = _transform(np.clip(same, -200, 5000)), _transform(np.clip(boundary, -200, 5000))
        g = _kde(xs, grid, _bandwidth(xs)) + 1e-6
        f0 = _kde(xb, grid, _bandwidth(xb)) + 1e-6
        # operons are rare beyond the boundary median: the mass of same-strand pairs there, relative to the
        # boundary density's, gives the share of boundaries among same-strand neighbours
        cut = np.median(xb) if xb.size else _transform(150)
        tail = grid >= cut
        ratio = g[tail].sum() / max(f0[tail].sum(), 1e-9)
        fraction = float(np.clip(1.0 - ratio, 0.2, 0.95))
        if same.size < MIN_PAIRS or boundary.size < MIN_PAIRS:
            fraction = 0.6
        f1 = np.maximum(g - (1.0 - fraction) * f0, 1e-6) / fraction
        f1 = f1 / np.trapezoid(f1, grid)
        f1 = _monotone_tail(grid, f1, f0, g)
        return cls(grid, f0, f1, g, fraction, np.sort(same), int(same.size), int(n_opposite), np.sort(boundary))

    @property
    def self_calibrated(self) -> bool:
        """False when too few same-strand or boundary spacers (``MIN_PAIRS``) were there to fit (a small bin, or
        contigs too short to show the spacers as they are, ``short_fragments``): the operon fraction is the prior 0.6,
        the densities rest on a handful of spacers, and a DecisionRule takes its prior cut-off instead."""
        return self.n_same >= MIN_PAIRS and self.boundary_spacers.size >= MIN_PAIRS

    def llr(self, distance: np.ndarray) -> np.ndarray:
        x = _transform(np.clip(distance, -200, 5000))
        f1 = np.interp(x, self.grid, self.operon_density)
        f0 = np.interp(x, self.grid, self.boundary_density)
        return np.clip(np.log(f1) - np.log(f0), -12.0, 12.0)

    def posterior(self, distance: np.ndarray) -> np.ndarray:
        odds = np.exp(self.llr(distance)) * self.operon_fraction / (1.0 - self.operon_fraction)
        return odds / (1.0 + odds)

    def percentile(self, distance: np.ndarray) -> np.ndarray:
        if self.same_strand_spacers.size == 0:
            return np.full(np.shape(distance), 0.5)
        return np.searchsorted(self.same_strand_spacers, distance, side="right") / self.same_strand_spacers.size

    def features(self, pairs: Sequence[GenePair]) -> np.ndarray:
        """CALIBRATION_FEATURES per pair; opposite-strand pairs get the boundary end of the scale."""
        d = np.array([p.distance for p in pairs], dtype=np.float64)
        same = np.array([p.same_strand for p in pairs])
        llr = np.where(same, self.llr(d), -12.0)
        post = np.where(same, self.posterior(d), 0.0)
        pct = np.where(same, self.percentile(d), 1.0)
        frac = np.full(d.shape, self.operon_fraction)
        return np.stack([llr, post, pct, frac], axis=1).astype(np.float32)


#: A piece of a longer sequence shorter than this gives no spacer to the calibration (``short_fragments``). Measured
#: (benchmarks/RESULTS.md, "Fragmented assemblies"): in 1 kbp pieces the cut-off stays within 6% of the complete
#: genome's (E. coli, M. pneumoniae), in 100-400 bp pieces it falls to 91-120 bp, in 200 bp ones to 14 bp instead of
#: 145; at 2 kbp the bias below is half that of 1 kbp pieces, and binners drop contigs under 1.5-2.5 kbp anyway.
MIN_FRAGMENT_LENGTH = 2_000


def short_fragments(genome) -> frozenset[str]:
    """The scaffolds whose pairs the calibration leaves out: in a draft assembly (a gene is cut by a contig's edge,
    partial), those shorter than ``MIN_FRAGMENT_LENGTH``. A random piece of a genome shows a spacer of d bp only
    if d and two gene fragments a gene caller finds (~60 bp each) fit inside it, with a chance proportional to
    L - d - 120 for a piece of L bp: it sees short spacers more often than long ones, by 16% at d = 300 bp in 2 kbp
    pieces, by a third in 1 kbp pieces, and in 200 bp pieces only spacers under 80 bp. A complete genome (no
    partial gene) keeps its small plasmids. A genome rebuilt from a pairs TSV has no partial flags; its
    ``#partial_genes`` line says how many there were (``Genome.partial_genes``)."""
    if not genome.partial_genes and not any(g.partial for g in genome.genes):
        return frozenset()
    return frozenset(sid for sid, s in genome.scaffolds.items() if s.length < MIN_FRAGMENT_LENGTH)


def unmeasured_fragments(table, genome) -> list[str]:
    """The scaffolds of a draft's pairs TSV (``pairs.PairTable`` with ``#partial_genes``) that
    ``pairs.genome_from_table`` without a FASTA has shorter than ``MIN_FRAGMENT_LENGTH`` by its genes' extent or a
    bound alone (no ``#scaffold`` line, no pair closing a circle, a ``#scaffold_length`` line of ``at_least=`` or
    none: `pairs` of a GFF3 without its FASTA stating no length):
    ``short_fragments`` leaves them out as short contigs, where the genome's route, which reads the sequence (or,
    without it, the GFF3's ``##sequence-region`` or Prodigal's ``seqlen``), keeps those that are not. Here, beside
    the cut-off it tells of, as pairs.py may not import this module (it imports pairs.py)."""
    if not table.partial_genes:
        return []
    declared = {**(table.scaffolds or {}), **{sid: told for sid, told in (table.lengths or {}).items() if told.exact}}
    return [sid for sid, s in genome.scaffolds.items()
            if sid not in declared and not s.circular and s.length < MIN_FRAGMENT_LENGTH]


def usable_pairs(pairs: Sequence[GenePair], fragments: frozenset[str] = frozenset()) -> list[GenePair]:
    """The pairs whose spacer the calibration fits: those not on one of the short ``fragments``. A pair touching a
    gene cut by an edge stays: its spacer runs between two real gene ends."""
    return [p for p in pairs if p.scaffold not in fragments]


def calibrate_by_group(all_pairs: Sequence[GenePair], query: Sequence[GenePair], groups: dict[str, str] | None = None,
                       fragments: frozenset[str] = frozenset()):
    """Calibration features of ``query`` pairs, fitting one SpacerModel per group of scaffolds.

    ``groups`` maps scaffold -> group (a genome, bin or sample); default: everything is one genome, which is
    right for a genome with plasmids and for a metagenome pooled per sample. ``fragments``: ``short_fragments``.
    """
    groups = groups or {}
    members: dict[str, list[GenePair]] = {}
    for p in all_pairs:
        members.setdefault(groups.get(p.scaffold, ""), []).append(p)
    models = {name: SpacerModel.fit(ps, fragments) for name, ps in members.items()}
    out = np.zeros((len(query), len(CALIBRATION_FEATURES)), dtype=np.float32)
    by_group: dict[str, list[int]] = {}
    for i, p in enumerate(query):
        by_group.setdefault(groups.get(p.scaffold, ""), []).append(i)
    for name, idx in by_group.items():
        model = models.get(name) or SpacerModel.fit(all_pairs, fragments)
        out[idx] = model.features([query[i] for i in idx])
    return out, models


def read_groups(path: PathLike) -> dict[str, str]:
    """A ``scaffold<TAB>bin`` table (DAS Tool / MetaBAT contig-to-bin style; ``#`` comments, no header needed).

    Scaffolds it does not list are pooled together by ``calibrate_by_group`` (the unbinned rest of a sample).
    """
    groups: dict[str, str] = {}
    for number, line in enumerate(read_text(path).split("\n"), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.rstrip().split("\t")
        if len(fields) < 2 or not fields[0] or not fields[1]:
            raise DataError(f"{path}: line {number}: expected 'scaffold<TAB>bin', got {line[:60]!r}")
        scaffold, group = fields[0], fields[1]
        if groups.get(scaffold, group) != group:
            raise DataError(f"{path}: scaffold {scaffold!r} is in two bins ({groups[scaffold]!r}, {group!r})")
        groups[scaffold] = group
    if not groups:
        raise DataError(f"{path}: no 'scaffold<TAB>bin' rows")
    return groups


def unknown_group_scaffolds(groups: Mapping[str, str], genome, where) -> list[str]:
    """The scaffolds of a scaffold -> bin map that ``genome`` lacks; a map naming none of its scaffolds (the bins
    of another assembly: the whole input would silently be one pool) is a DataError. Any mapping: the read-only
    ``GenomeOptions.bins`` too."""
    check_bin_map(groups, where)
    unknown = [s for s in groups if s not in genome.scaffolds]
    if groups and len(unknown) == len(groups):
        hint = case_hint(unknown, genome.scaffolds)
        raise DataError(f"{where}: none of its {len(groups)} scaffolds is in {genome.name} (e.g. {unknown[0]})"
                        + (hint if hint else "; the bins of another assembly?"))
    return unknown


# ------------------------------------------------------------------------------------------------ decisions


def spacer_scale(distance) -> np.ndarray:
    """The scale on which cut-offs are compared and shrunk: asinh(d / 20), linear near 0 and log beyond."""
    return _transform(distance)


def posterior_cutoff(model: SpacerModel, threshold: float = 0.5) -> float:
    """The spacer (bp, >= 0) where the genome's self-calibrated posterior first falls below ``threshold``."""
    spacers = np.arange(0, 5001, dtype=np.float64)
    below = np.nonzero(model.posterior(spacers) < threshold)[0]
    return float(spacers[below[0]] if below.size else spacers[-1])


#: Refits behind a genome's own cut-off interval (``own_cutoff_interval``); fixed, with a fixed seed, so that
#: ``score`` gives the same calls on every run.
INTERVAL_RESAMPLES = 200
#: Above this many pairs the interval comes from refits to this many (m-out-of-n), widened back by sqrt(m / n):
#: a metagenome pooled per sample costs what a large genome does.
INTERVAL_MAX_PAIRS = 20_000


def own_cutoff_interval(model: SpacerModel, coverage: float, *, resamples: int = INTERVAL_RESAMPLES,
                        seed: int = 0) -> tuple[float, float]:
    """The ``coverage`` bootstrap interval (bp) of the genome's own cut-off (``posterior_cutoff`` at 0.5): refits
    to its same-strand and boundary spacers drawn with replacement. No labels; it says how far the genome's own
    evidence lets a rule move its cut-off. A genome with no spacers of one kind gets no bound (0, 5000)."""
    same, boundary = model.same_strand_spacers, model.boundary_spacers
    if same.size == 0 or boundary.size == 0:
        return 0.0, 5000.0
    share = min(1.0, INTERVAL_MAX_PAIRS / (same.size + boundary.size))
    m_same, m_boundary = max(1, round(share * same.size)), max(1, round(share * boundary.size))
    rng = np.random.default_rng(seed)
    own = spacer_scale(posterior_cutoff(model))
    draws = np.array([spacer_scale(posterior_cutoff(SpacerModel.from_spacers(
        rng.choice(same, m_same), rng.choice(boundary, m_boundary), model.n_opposite))) for _ in range(resamples)])
    low, high = own + (np.quantile(draws, [(1 - coverage) / 2, (1 + coverage) / 2]) - own) * np.sqrt(share)
    return float(max(np.sinh(low) * SCALE, 0.0)), float(min(np.sinh(high) * SCALE, 5000.0))


#: The coverage of the own-cut-off interval that bounds a learned rule's cut-off (``DecisionRule.own_interval``).
OWN_INTERVAL = 0.9
#: The posterior thresholds a rule may learn (``learn_posterior_threshold``).
POSTERIOR_THRESHOLDS = tuple(round(t, 2) for t in np.arange(0.05, 0.951, 0.05))


def learn_posterior_threshold(genomes: Sequence["LabelledSpacers"]) -> float:
    """The posterior threshold whose cut-offs come closest to each labelled genome's best one in the worst genome
    (then on average): the targets are per genome, so the criterion is too."""
    best = [g.best_cutoff()[1] for g in genomes]

    def loss(threshold):
        gaps = [b - g.accuracy_at(posterior_cutoff(g.spacer, threshold)) for b, g in zip(best, genomes)]
        return max(gaps), float(np.mean(gaps))

    return min(POSTERIOR_THRESHOLDS, key=loss)


@dataclass(frozen=True)
class GenomeCalibration:
    """What ``score`` calibrated for one genome (or ``--bins`` bin): reported in the log and output headers."""

    group: str
    operon_fraction: float
    cutoff_bp: float
    n_same: int
    n_opposite: int
    own_cutoff_bp: float  # where the genome's own posterior falls below 0.5: the cut-off before the rule moved it
    self_calibrated: bool = True  # False: too few pairs (SpacerModel.self_calibrated): the cut-off is the prior
    unbinned: bool = False  # the pool of the scaffolds a --bins table does not list (group "")
    left_out: int = 0  # pairs left out of the fit (``usable_pairs``): on contigs too short (``short_fragments``)

    def describe(self) -> str:
        name = f"bin={self.group} " if self.group else f"bin={UNBINNED} " if self.unbinned else ""
        fallback = "" if self.self_calibrated else f" fallback=prior_cutoff(fewer_than_{MIN_PAIRS}_pairs)"
        return (f"{name}operon_fraction={self.operon_fraction:.3f} cutoff_bp={self.cutoff_bp:.0f} "
                f"own_cutoff_bp={self.own_cutoff_text()} "
                f"same_strand_pairs={self.n_same} opposite_strand_pairs={self.n_opposite} "
                f"fragment_pairs_left_out={self.left_out}{fallback}")

    def own_cutoff_text(self) -> str:
        """The genome's own cut-off in bp, or ``none`` when it had too few pairs to have one (a fit to none or a
        handful of spacers is no cut-off of the genome's: 5000 bp was printed for an empty one)."""
        return f"{self.own_cutoff_bp:.0f}" if self.self_calibrated else "none"

    def few_pairs_warning(self) -> str | None:
        """What a user must know about a genome or bin too small to calibrate itself, or None when it could: the
        warning ``score_genome`` logs, as a Python caller reads it (a bin's fix names ``GenomeOptions(bins=...)``;
        the CLI's line names --bins)."""
        parts = self._few_pairs_parts()
        return None if parts is None else spellings(*parts)[0]

    def _few_pairs_parts(self) -> tuple | None:
        """:meth:`few_pairs_warning` as :func:`errors.log_naming`'s parts, each reader's spelling (score logs it)."""
        if self.self_calibrated:
            return None
        name = f"bin {self.group}" if self.group else f"bin {UNBINNED}" if self.unbinned else "this genome"
        short = "" if not self.left_out else (
            f" ({self.left_out} more lie on contigs under {MIN_FRAGMENT_LENGTH:,} bp of a draft assembly and are "
            "left out: short contigs show only short spacers)")
        return (f"{name}: {self.n_same} same-strand and {self.n_opposite} opposite-strand neighbour pairs"
                f"{short}, too few to self-calibrate (needs {MIN_PAIRS} of each): its cut-off is "
                f"the model's prior, {self.cutoff_bp:.0f} bp (the labelled genomes' mean best cut-off), not its own",
                *(("; leave small bins out of ", ("GenomeOptions(bins={scaffold: bin})", "--bins"),
                   " to pool them with the unbinned rest") if self.group else ()))


@dataclass(frozen=True)
class DecisionRule:
    """How a model turns a genome's own spacer evidence into its cut-off and pair probabilities.

    The cut-off (on ``spacer_scale``) is ``w * (own + offset) + (1 - w) * prior``: ``own`` is where the genome's
    self-calibrated posterior falls below ``posterior_threshold``, ``prior`` the labelled genomes' mean best
    cut-off; ``w`` is how far the genome's own evidence leads. With ``own_interval`` > 0 the cut-off is then held
    inside that bootstrap interval of the genome's own 0.5-posterior cut-off (``own_cutoff_interval``): whatever
    the labelled genomes taught, a genome's cut-off stays where its own spacers allow. A same-strand pair's logit
    is ``slope * (cutoff - x) + correction * g`` with ``g`` the fusion head's per-genome standardised residual
    beyond distance (``head_residual``); with ``correction = 0`` the probability is a strictly decreasing function
    of the spacer, so it ranks pairs exactly as distance does. Opposite-strand pairs get probability 0.
    """

    own_weight: float
    prior_cutoff_bp: float
    offset: float
    slope: float
    correction: float
    trained_on: tuple[str, ...]
    posterior_threshold: float = 0.5
    own_interval: float = 0.0

    def cutoff_bp(self, model: SpacerModel) -> float:
        """The genome's cut-off (bp); the prior's when its own spacers are too few (``SpacerModel.self_calibrated``):
        a handful of spacers, or contigs too short to show long spacers, say nothing of where its operons end."""
        if not model.self_calibrated:
            return float(np.round(self.prior_cutoff_bp, 1))
        own = spacer_scale(posterior_cutoff(model, self.posterior_threshold))
        prior = spacer_scale(self.prior_cutoff_bp)
        x = self.own_weight * (own + self.offset) + (1.0 - self.own_weight) * prior
        cutoff = float(np.sinh(x) * SCALE)
        if self.own_interval > 0:
            cutoff = float(np.clip(cutoff, *own_cutoff_interval(model, self.own_interval)))
        return float(np.round(cutoff, 1))

    def calibrate(self, group: str, model: SpacerModel) -> GenomeCalibration:
        return GenomeCalibration(group, round(model.operon_fraction, 4), self.cutoff_bp(model), model.n_same,
                                 model.n_opposite, posterior_cutoff(model), model.self_calibrated,
                                 left_out=model.n_left_out)

    def probability(self, distance, same_strand, cutoff_bp: float, residual=None) -> np.ndarray:
        logit = self.slope * (spacer_scale(cutoff_bp) - spacer_scale(distance))
        if residual is not None and self.correction:
            logit = logit + self.correction * residual
        return np.where(same_strand, 1.0 / (1.0 + np.exp(-logit)), 0.0)

    def to_dict(self) -> dict:
        return {"own_weight": self.own_weight, "prior_cutoff_bp": self.prior_cutoff_bp, "offset": self.offset,
                "slope": self.slope, "correction": self.correction, "trained_on": list(self.trained_on),
                "posterior_threshold": self.posterior_threshold, "own_interval": self.own_interval}

    @classmethod
    def from_dict(cls, data) -> "DecisionRule":
        """The rule of a model's config; models written before ``posterior_threshold`` and ``own_interval`` existed
        lack both and get 0.5 and 0 (no bound), the rule they were made with."""
        names = ("own_weight", "prior_cutoff_bp", "offset", "slope", "correction", "trained_on")
        later = {"posterior_threshold": 0.5, "own_interval": 0.0}
        if not isinstance(data, dict) or not set(names) <= set(data) <= set(names) | set(later):
            raise DataError(f"model decision rule must have the keys {', '.join(names)} "
                            f"(and optionally {', '.join(later)}), nothing else")
        data = {**later, **data}
        numbers = [data[n] for n in (*names[:5], *later)]
        if not all(isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v) for v in numbers):
            raise DataError("model decision rule: own_weight, prior_cutoff_bp, offset, slope, correction, "
                            "posterior_threshold, own_interval must be numbers")
        if not 0.0 <= data["own_weight"] <= 1.0 or data["slope"] <= 0 or data["correction"] < 0:
            raise DataError("model decision rule: need 0 <= own_weight <= 1, slope > 0, correction >= 0")
        if not 0.0 < data["posterior_threshold"] < 1.0 or not 0.0 <= data["own_interval"] < 1.0:
            raise DataError("model decision rule: need 0 < posterior_threshold < 1 and 0 <= own_interval < 1")
        trained_on = data["trained_on"]
        if not isinstance(trained_on, list) or not all(isinstance(t, str) for t in trained_on):
            raise DataError("model decision rule: trained_on must be a list of genome names")
        first, rest = (float(data[n]) for n in names[:5]), (float(data[n]) for n in later)
        return cls(*first, tuple(trained_on), *rest)


#: Residuals of the head beyond distance are clipped here (in per-genome standard deviations).
RESIDUAL_CLIP = 3.0


def head_residual(logit, distance, same_strand, fit_on=None) -> np.ndarray:
    """The fusion head's logit minus its least-squares fit on [1, x, x^2] (x = spacer_scale) over one genome's
    same-strand pairs (those of ``fit_on`` if given), in units of the residual's standard deviation, clipped:
    what the head says beyond distance, on a scale that does not depend on the genome. Opposite strands get 0."""
    logit, same = np.asarray(logit, dtype=np.float64), np.asarray(same_strand, dtype=bool)
    fit = same if fit_on is None else same & np.asarray(fit_on, dtype=bool)
    out = np.zeros(logit.shape)
    if fit.sum() < 3:
        return out
    x = spacer_scale(np.asarray(distance, dtype=np.float64))
    design = np.stack([np.ones_like(x), x, x * x], axis=1)
    coef, *_ = np.linalg.lstsq(design[fit], logit[fit], rcond=None)
    resid = logit - design @ coef
    sd = resid[fit].std()
    out[same] = np.clip(resid[same] / sd, -RESIDUAL_CLIP, RESIDUAL_CLIP) if sd > 1e-6 else 0.0
    return out


def fit_slope(distance, cutoff_bp, y) -> float:
    """The one slope k of ``sigmoid(k * (cutoff - x))`` that best fits labelled same-strand pairs (log-loss)."""
    from scipy.optimize import minimize_scalar
    from scipy.special import log_expit

    margin = spacer_scale(cutoff_bp) - spacer_scale(distance)
    y = np.asarray(y, dtype=np.float64)

    def loss(k):
        return -np.mean(y * log_expit(k * margin) + (1 - y) * log_expit(-k * margin))

    return float(round(minimize_scalar(loss, bounds=(0.05, 50.0), method="bounded").x, 4))


@dataclass(frozen=True)
class LabelledSpacers:
    """One labelled genome's spacers, labels and self-calibration: what a DecisionRule learns from."""

    name: str
    spacer: SpacerModel
    distance: np.ndarray
    same_strand: np.ndarray
    label: np.ndarray

    def __post_init__(self) -> None:  # read-only views of the arrays as built, never changed later
        for name in ("distance", "same_strand", "label"):
            object.__setattr__(self, name, read_only(getattr(self, name)))

    @classmethod
    def from_pairs(cls, name: str, spacer: SpacerModel, labelled: Sequence[GenePair]) -> "LabelledSpacers":
        """From a genome's labelled pairs (each with a ``label``) and its self-calibration."""
        return cls(name, spacer, np.array([p.distance for p in labelled], dtype=np.float64),
                   np.array([p.same_strand for p in labelled], dtype=bool), np.array([p.label for p in labelled]))

    def accuracy_at(self, cutoff_bp: float) -> float:
        calls = self.same_strand & (self.distance <= cutoff_bp)
        return float(np.mean(calls == self.label))

    def best_cutoff(self) -> tuple[float, float]:
        """(bp, accuracy) of the best spacer cut-off on the labels: an upper bound for any cut-off rule."""
        cuts = np.unique(self.distance[self.same_strand])
        accuracy = [self.accuracy_at(c) for c in cuts]
        return float(cuts[int(np.argmax(accuracy))]), float(max(accuracy))


def learn_rule(genomes: Sequence[LabelledSpacers], own_weight: float = 1.0, *, with_offset: bool = False,
               correction: float = 0.0, posterior_threshold: float | None = None,
               own_interval: float = OWN_INTERVAL) -> DecisionRule:
    """The DecisionRule the labelled ``genomes`` teach: prior = their mean best cut-off (spacer_scale), offset =
    their mean (best - own) when ``with_offset``, the posterior threshold (``learn_posterior_threshold`` when
    None), the own-interval bound, and the slope fitted with each genome's cut-off under that rule. The defaults
    are the design leave-one-genome-out chose (benchmarks/RESULTS.md, "Leave one genome out")."""
    best = [spacer_scale(g.best_cutoff()[0]) for g in genomes]
    own = [spacer_scale(posterior_cutoff(g.spacer)) for g in genomes]
    offset = round(float(np.mean(np.subtract(best, own))), 4) if with_offset else 0.0
    prior_bp = float(np.round(np.sinh(np.mean(best)) * SCALE, 1))
    threshold = learn_posterior_threshold(genomes) if posterior_threshold is None else posterior_threshold
    rule = DecisionRule(float(own_weight), prior_bp, offset, 1.0, float(correction), tuple(g.name for g in genomes),
                        float(threshold), float(own_interval))
    same = [g.same_strand for g in genomes]
    distance = np.concatenate([g.distance[s] for g, s in zip(genomes, same)])
    label = np.concatenate([g.label[s] for g, s in zip(genomes, same)])
    cutoff = np.concatenate([np.full(int(s.sum()), rule.cutoff_bp(g.spacer)) for g, s in zip(genomes, same)])
    return dataclasses.replace(rule, slope=fit_slope(distance, cutoff, label))
