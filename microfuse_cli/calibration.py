"""Per-genome self-calibration of the intergenic spacer, without labels (after Price et al. 2005, NAR).

Neighbours on opposite strands can never share an operon, so their spacers sample the genome's own non-operon
spacing; same-strand neighbours are a mixture of operon and non-operon spacers. Fitting that mixture on each
input genome turns a raw spacer (whose meaning differs between compact and loose genomes) into genome-relative
evidence: the log-likelihood ratio of "operon" vs "boundary" for this genome, and the posterior.

The mixture is not identifiable on its own (its best fit is "everything is an operon"), so the operon fraction is
anchored by assuming operon spacers are rare beyond the genome's typical divergent spacer.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .errors import DataError
from .io import PathLike, read_text
from .pairs import GenePair

#: Spacers are compared on asinh(d / SCALE): linear around 0 (overlaps of -1/-4 stay distinct), log beyond.
SCALE = 20.0
#: Fewer opposite-strand or same-strand neighbours than this and the genome-level fit falls back to the prior.
MIN_PAIRS = 30

CALIBRATION_FEATURES = ["spacer_llr", "spacer_posterior", "spacer_percentile", "operon_fraction"]


def _transform(d: np.ndarray) -> np.ndarray:
    return np.arcsinh(np.asarray(d, dtype=np.float64) / SCALE)


def _kde(samples: np.ndarray, grid: np.ndarray, bandwidth: float) -> np.ndarray:
    """Gaussian kernel density of ``samples`` evaluated on ``grid`` (both on the transformed scale)."""
    if samples.size == 0:
        return np.full(grid.shape, 1.0 / (grid[-1] - grid[0]))
    z = (grid[:, None] - samples[None, :]) / bandwidth
    dens = np.exp(-0.5 * z * z).sum(axis=1) / (samples.size * bandwidth * np.sqrt(2 * np.pi))
    return dens


def _bandwidth(samples: np.ndarray) -> float:
    if samples.size < 2:
        return 0.3
    spread = min(np.std(samples), (np.percentile(samples, 75) - np.percentile(samples, 25)) / 1.34) or np.std(samples)
    return float(max(0.9 * spread * samples.size ** -0.2, 0.08))


def _pav_decreasing(values: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted pool-adjacent-violators fit of a non-increasing sequence."""
    blocks: list[list[float]] = []  # [mean, weight, count]
    for v, w in zip(values, weights):
        blocks.append([float(v), float(w), 1])
        while len(blocks) > 1 and blocks[-2][0] < blocks[-1][0]:
            m2, w2, c2 = blocks.pop()
            m1, w1, c1 = blocks.pop()
            total = w1 + w2
            blocks.append([(m1 * w1 + m2 * w2) / total, total, c1 + c2])
    return np.concatenate([np.full(c, m) for m, _, c in blocks])


def _monotone_tail(grid, f1, f0, g):
    """Beyond a zero spacer the operon evidence can only fall with distance: enforce it on the LLR (isotonic),
    weighting each grid point by how many same-strand pairs sit there. Overlaps keep their own shape."""
    llr = np.log(f1) - np.log(f0)
    start = int(np.searchsorted(grid, 0.0))
    llr[start:] = _pav_decreasing(llr[start:], g[start:] + 1e-3)
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

    @classmethod
    def fit(cls, pairs: Sequence[GenePair]) -> "SpacerModel":
        """Fit on all adjacent pairs of a genome: opposite-strand spacers model the boundaries."""
        same = np.array([p.distance for p in pairs if p.same_strand], dtype=np.float64)
        opposite = np.array([p.distance for p in pairs if not p.same_strand], dtype=np.float64)
        # divergent pairs (<- ->) model boundaries best: convergent 3'-3' spacers are short and overlap like operons
        divergent = np.array([p.distance for p in pairs if not p.same_strand and p.gene_a.strand < 0], dtype=np.float64)
        boundary = divergent if divergent.size >= MIN_PAIRS else opposite
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
        return cls(grid, f0, f1, g, fraction, np.sort(same), int(same.size), int(opposite.size))

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


def calibrate_by_group(all_pairs: Sequence[GenePair], query: Sequence[GenePair], groups: dict[str, str] | None = None):
    """Calibration features of ``query`` pairs, fitting one SpacerModel per group of scaffolds.

    ``groups`` maps scaffold -> group (a genome, bin or sample); default: everything is one genome, which is
    right for a genome with plasmids and for a metagenome pooled per sample.
    """
    groups = groups or {}
    members: dict[str, list[GenePair]] = {}
    for p in all_pairs:
        members.setdefault(groups.get(p.scaffold, ""), []).append(p)
    models = {name: SpacerModel.fit(ps) for name, ps in members.items()}
    out = np.zeros((len(query), len(CALIBRATION_FEATURES)), dtype=np.float32)
    by_group: dict[str, list[int]] = {}
    for i, p in enumerate(query):
        by_group.setdefault(groups.get(p.scaffold, ""), []).append(i)
    for name, idx in by_group.items():
        model = models.get(name) or SpacerModel.fit(all_pairs)
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
