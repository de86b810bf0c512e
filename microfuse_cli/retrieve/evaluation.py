"""Retrieval evaluation (the paper's table): same-label precision of retrieved neighbours."""

from __future__ import annotations

from dataclasses import dataclass
from typing import IO, Sequence

import numpy as np

from ..errors import DataError, UsageError
from ..io.tsv import write_tsv
from .ids import PairIds
from .results import SearchResult

@dataclass(frozen=True)
class RetrievalRow:
    """One row of the retrieval table (see :func:`retrieval_evaluate`)."""

    k: int
    positive_precision: float
    negative_precision: float
    balanced_precision: float
    enrichment: float
    label_rate: float
    positive_queries: int
    negative_queries: int

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


RETRIEVAL_COLUMNS = (
    "k",
    "positive_precision",
    "negative_precision",
    "balanced_precision",
    "enrichment",
    "label_rate",
    "positive_queries",
    "negative_queries",
)


def retrieval_evaluate(
    results: SearchResult,
    labels: np.ndarray | PairIds,
    ks: Sequence[int] = (1, 3, 5, 10),
    *,
    query_labels: np.ndarray | None = None,
) -> list[RetrievalRow]:
    """Same-label precision of retrieved neighbours, as in the paper's retrieval table.

    ``labels``: label of every indexed pair (1 / 0 / -1 = unknown; or the index's :class:`PairIds`), used for
    the targets; ``query_labels`` defaults to ``labels`` (the :meth:`PairIndex.search_all` case).

    Counting rule: only labelled queries count, and for each of them only the labelled targets among its top-k
    results (ranks 1..k) count; unlabelled or missing neighbours are skipped, not scored as errors. Shares are
    pooled over neighbours (micro-averaged):

    * positive precision@k = positive labelled neighbours of positive queries / labelled neighbours of positive
      queries; negative precision@k likewise for negatives;
    * balanced precision@k = their mean;
    * enrichment@k = positive precision@k / label rate, the share of positives among labelled indexed pairs
      (1.0 = no better than picking neighbours at random); the paper's k=1 figures (0.573 / 0.571 / 1.134)
      fit this reading with a label rate of about 0.505.

    A precision with no neighbour to count is NaN.
    """
    target_labels = labels.label if isinstance(labels, PairIds) else np.asarray(labels)
    qlab = target_labels if query_labels is None else np.asarray(query_labels)
    if qlab.shape != (len(results),):
        raise DataError(f"{len(results)} queries but {len(qlab)} query labels")
    ks = [int(k) for k in ks]
    searched_all = results.k >= len(target_labels)  # k was capped at the index size: a larger k adds nothing
    if not ks or min(ks) < 1 or (max(ks) > results.k and not searched_all):
        raise UsageError(f"ks must lie between 1 and the number of neighbours searched ({results.k}): {ks}")
    target = results.target
    if target.size and target.max() >= len(target_labels):
        raise DataError("search results point past the end of the labels")
    nlab = np.where(target >= 0, target_labels[np.maximum(target, 0)], -1)
    known = target_labels[target_labels >= 0]
    label_rate = float(known.mean()) if known.size else float("nan")
    out = []
    for k in ks:
        top = nlab[:, :k]
        counted = top >= 0
        same = counted & (top == qlab[:, None])
        pos, neg = qlab == 1, qlab == 0
        pp = _ratio(same[pos].sum(), counted[pos].sum())
        npr = _ratio(same[neg].sum(), counted[neg].sum())
        bal = (pp + npr) / 2
        enr = pp / label_rate if label_rate > 0 else float("nan")
        out.append(RetrievalRow(k, pp, npr, bal, enr, label_rate, int(pos.sum()), int(neg.sum())))
    return out


def _ratio(num: int, den: int) -> float:
    return float(num) / float(den) if den else float("nan")


def write_retrieval_table(handle: IO[str], rows: Sequence[RetrievalRow]) -> int:
    """Write the retrieval table as TSV; returns the number of rows written."""
    return write_tsv(handle, list(RETRIEVAL_COLUMNS), ([getattr(r, c) for c in RETRIEVAL_COLUMNS] for r in rows))
