"""Search results: the k neighbours of each query and their rendering as a TSV table."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import IO, Iterator, Protocol

import numpy as np

from ..io.tsv import write_tsv
from ..records import read_only
from .ids import PairIds

RESULT_COLUMNS = ("query", "target", "rank", "similarity", "target_scaffold", "target_genome")
RESULT_LABEL_COLUMNS = ("target_label", "target_probability")
#: Last columns: two genomes may share pair ids (one assembly under two names, MEGAHIT ``k141_*`` contigs), so the
#: query's name alone can be ambiguous; its scaffold lets hits be grouped by query scaffold without a join on the
#: ids table. Each added after the others, so columns counted by position keep their place.
RESULT_QUERY_COLUMNS = ("query_genome", "query_scaffold")


class _HasIds(Protocol):
    """What rendering needs of an index (a :class:`~.index.PairIndex`): its pair table. Named by this shape, not
    by ``PairIndex``, so that results need not import the index module, which imports them."""

    @property
    def ids(self) -> PairIds: ...


@dataclass(frozen=True, eq=False)
class SearchResult:
    """k neighbours of each query, best first.

    ``target`` (nq, k) int64: row of the neighbour in the index (-1 = no neighbour);
    ``similarity`` (nq, k) float32: cosine similarity (NaN where no neighbour; approximate for IVF-PQ);
    ``rank`` (nq, k) int32: 1..k (0 where no neighbour); ``query_ids``, ``query_genomes`` and
    ``query_scaffolds``: names, genomes and scaffolds of the queries, for rendering. Ties in similarity are ordered
    by target row, and a tie across the cut at k keeps the lower rows, so results are deterministic.
    """

    target: np.ndarray
    similarity: np.ndarray
    rank: np.ndarray
    query_ids: np.ndarray | None = None
    query_genomes: np.ndarray | None = None
    query_scaffolds: np.ndarray | None = None

    def __post_init__(self) -> None:  # read-only arrays, as everything the library returns
        for name in ("target", "similarity", "rank", "query_ids", "query_genomes", "query_scaffolds"):
            object.__setattr__(self, name, read_only(getattr(self, name)))

    @property
    def k(self) -> int:
        return self.target.shape[1]

    def __len__(self) -> int:
        return self.target.shape[0]


def _finish(distances: np.ndarray, labels: np.ndarray, query_ids: np.ndarray | None,
            query_genomes: np.ndarray | None = None, query_scaffolds: np.ndarray | None = None) -> SearchResult:
    labels = labels.astype(np.int64, copy=False)
    missing = labels < 0
    sim = np.where(missing, -np.inf, distances).astype(np.float32)
    # order by similarity (desc), then target row (asc), missing last
    key_target = np.where(missing, np.iinfo(np.int64).max, labels)
    nq, k = labels.shape
    rows = np.repeat(np.arange(nq), k)
    order = np.lexsort((key_target.ravel(), -sim.ravel(), rows)).reshape(nq, k) - (np.arange(nq) * k)[:, None]
    labels = np.take_along_axis(labels, order, axis=1)
    sim = np.take_along_axis(sim, order, axis=1)
    missing = labels < 0
    sim = np.where(missing, np.nan, np.clip(sim, -1.0, 1.0)).astype(np.float32)
    rank = np.where(missing, 0, np.arange(1, k + 1, dtype=np.int32)[None, :]).astype(np.int32)
    return SearchResult(labels, sim, rank, query_ids, query_genomes, query_scaffolds)


def result_rows(result: SearchResult, index: _HasIds, *, with_labels: bool | None = None) -> Iterator[tuple]:
    """Rows ``query target rank similarity target_scaffold target_genome [target_label target_probability]
    query_genome query_scaffold``.

    Missing neighbours (fewer than k available) are skipped. Label columns are added when ``with_labels`` is true,
    or by default when the index knows any label or probability; unknown values are empty, and so is the query
    genome and scaffold when the search was not told them (``query_genomes``, ``query_scaffolds``).
    """
    ids = index.ids
    if with_labels is None:
        with_labels = ids.has_labels or ids.has_probability
    qnames = result.query_ids if result.query_ids is not None else np.arange(len(result))
    unknown = np.full(len(result), "", dtype=object)
    qgenomes = result.query_genomes if result.query_genomes is not None else unknown
    qscaffolds = result.query_scaffolds if result.query_scaffolds is not None else unknown
    for qi in range(len(result)):
        qname, query = qnames[qi], (qgenomes[qi], qscaffolds[qi])
        for j in range(result.k):
            t = int(result.target[qi, j])
            if t < 0:
                continue
            row: tuple = (
                qname,
                ids.pair_id[t],
                int(result.rank[qi, j]),
                f"{float(result.similarity[qi, j]):.6f}",
                ids.scaffold[t],
                ids.genome[t],
            )
            if with_labels:
                lab = int(ids.label[t])
                pr = float(ids.probability[t])
                row += ("" if lab < 0 else lab, "" if math.isnan(pr) else f"{pr:.6f}")  # as the scores TSV
            yield row + query


def write_results(handle: IO[str], result: SearchResult, index: _HasIds, *, with_labels: bool | None = None) -> int:
    """Write search results as TSV (header + :func:`result_rows`); returns the number of rows."""
    if with_labels is None:
        with_labels = index.ids.has_labels or index.ids.has_probability
    header = list(RESULT_COLUMNS) + (list(RESULT_LABEL_COLUMNS) if with_labels else []) + list(RESULT_QUERY_COLUMNS)
    return write_tsv(handle, header, result_rows(result, index, with_labels=with_labels))


#: A neighbour this close, of the query's own pair id and scaffold, is the query itself: re-ranking codes put an
#: identical vector under 1 (an IVF-PQ index's sq8 codes at 0.9992-1 for M. pneumoniae's pairs, which 0.9999 left
#: below half of its queries: no warning; fp16 at 0.99992). Names tell a copy (other pairs of one genome reach
#: 0.9999 too); the similarity keeps out pairs whose names merely collide, whose vectors differ.
SELF_SIMILARITY = 0.999


def found_themselves(result: SearchResult, index: _HasIds, *, share: float = 0.5) -> list[tuple[str, str, int, int]]:
    """(query genome, indexed genome, queries, of how many) where at least ``share`` of a query genome's queries
    found their own pair (same pair id and scaffold, similarity >= :data:`SELF_SIMILARITY`) in an indexed genome of
    another name: one assembly under two names (`score` of a renamed or decompressed file, of a pairs table, or with
    and without --genome-name). The exclusion of the query's own genome or scaffold goes by name, so such a copy is
    each query's nearest neighbour. Names that merely collide (MEGAHIT's ``k141_*`` contigs of two samples) have
    other vectors and are not counted. Empty when the queries' genomes or scaffolds are unknown.

    It runs after every search, so it reads the result a block of queries at a time and compares names only where
    the previous comparison held: many strains of one species put most neighbours at similarity ~1, and the names
    of every such neighbour, gathered at once, took ~100 bytes per neighbour (1.1 GB and 20 s for 1e6 queries x 10)."""
    if result.query_ids is None or result.query_genomes is None or result.query_scaffolds is None or not len(result):
        return []
    from .ids import _CHUNK, _same_kind, _unique

    ids = index.ids
    columns = [(np.asarray(result.query_scaffolds), np.asarray(ids.scaffold), True),
               (np.asarray(result.query_ids), np.asarray(ids.pair_id), True),
               (np.asarray(result.query_genomes), np.asarray(ids.genome), False)]  # the same pair, another genome
    found_rows, found_targets = [], []
    for start in range(0, len(result), _CHUNK):
        block = slice(start, start + _CHUNK)
        # NaN (no neighbour) is never close; target -1 is checked too, for a SearchResult built by hand
        rows, cols = np.nonzero((result.similarity[block] >= SELF_SIMILARITY) & (result.target[block] >= 0))
        rows += start
        targets = result.target[rows, cols]
        for query, indexed, equal in columns:
            if not len(rows):
                break
            a, b = _same_kind(query[rows], indexed[targets])
            keep = np.asarray(a == b, bool) == equal
            rows, targets = rows[keep], targets[keep]
        found_rows.append(rows)
        found_targets.append(targets)
    rows, targets = np.concatenate(found_rows), np.concatenate(found_targets)
    if not len(rows):
        return []
    names, codes = _unique(np.asarray(result.query_genomes), inverse=True)
    queries = np.bincount(codes, minlength=len(names))
    indexed_names, indexed = _unique(np.asarray(ids.genome)[targets], inverse=True)
    key = codes[rows] * len(indexed_names) + indexed  # (query genome, indexed genome) as one integer
    order = np.lexsort((rows, key))
    once = np.ones(len(order), bool)  # each query counted once per indexed genome that holds its pair
    once[1:] = (key[order][1:] != key[order][:-1]) | (rows[order][1:] != rows[order][:-1])
    pairs, n = np.unique(key[order][once], return_counts=True)
    q, t = np.divmod(pairs, len(indexed_names))
    return [(str(names[a]), str(indexed_names[b]), int(count), int(queries[a]))
            for a, b, count in zip(q.tolist(), t.tolist(), n.tolist()) if count >= share * queries[a]]
