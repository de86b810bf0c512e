"""Bacformer's input: the official token layouts of a genome, and the windows of a genome too long for one pass.

Input layout (special tokens PAD 0, MASK 1, CLS 2, SEP 3, PROT_EMB 4, END 5); M = ``max_token_type_embeddings``
    Default, ``contig_separator="cls"``: ``pp.embed_prot_seqs.protein_embeddings_to_inputs``, which every official
    embedding path uses (``compute_bacformer_embeddings``, ``protein_seqs_to_bacformer_inputs``,
    ``embed_dataset_col``, the README, the operon tutorial)::

        [CLS] p(0,1) .. p(0,n0) [CLS] p(1,1) .. [CLS] [END]

    Every contig is closed by the CLS id, an empty one too (it spends a separator and a contig index). Token type
    ids: CLS 0; the proteins of contig c and its separator ``c`` while ``c <= M``, else ``M - 1`` (so index M, the
    embedding's padding row, is used for contig M, as the helper does); END the last contig's id.

    ``contig_separator="sep"``: ``modeling.data_reader.transform_sample`` of the 0.2.0 wheel (the pretraining
    layout it names "for ESMC"): empty contigs are dropped, ids are ``min(c, M - 1)`` and a SEP (3) is put only
    where the id changes and at the end, so contigs ``M - 1`` and beyond run together without separators.

    Special positions carry a zero vector (replaced by the special-token embedding).

Long genomes
    A genome whose layout fits ``1.5 * max_position_embeddings`` tokens (9,000 for the published models, the
    official helpers' ``max_n_proteins`` default) runs in one pass, as the official helpers run it. A longer one,
    which the helpers would cut at 9,000 tokens, is cut into overlapping windows of consecutive proteins, each laid
    out as a genome of its own (contigs renumbered from 0; no separator where a contig goes on past the window's
    end) and run separately; each protein keeps the vector from the window where it is most central (farthest from a
    window edge that is not a genome end). Nothing is truncated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ...errors import UsageError

PAD, MASK, CLS, SEP, PROT_EMB, END = 0, 1, 2, 3, 4, 5

#: Contig layouts, named by the id that closes a contig: "cls" = ``protein_embeddings_to_inputs`` (the official
#: embedding helpers), "sep" = ``data_reader.transform_sample`` (the pretraining layout of the 0.2.0 wheel).
CONTIG_SEPARATORS = ("cls", "sep")


def contig_tokens(
    counts: Sequence[int], *, separator: str = "cls", max_contigs: int = 1000, closed: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and token type ids of ``CLS``, contigs of ``counts`` proteins with their separators, ``END``.

    ``separator="cls"`` follows ``protein_embeddings_to_inputs``: every contig, an empty one too, is closed by the
    CLS id and has the id ``c`` while ``c <= max_contigs``, else ``max_contigs - 1``. ``separator="sep"`` follows
    ``transform_sample``: ids ``min(c, max_contigs - 1)``, a SEP where the id changes and after the last protein,
    empty contigs skipped. ``closed=False`` leaves out the separator of the last contig (a window that ends inside
    it). END has the last contig's id. (A leading empty contig, which the helper cannot take because it reads the
    vector size from the first contig's first protein, is laid out like any other.)
    """
    tokens, types = [CLS], [0]
    contig = 0
    if separator == "cls":
        for index, count in enumerate(counts):
            contig = index if index <= max_contigs else max_contigs - 1
            tokens += [PROT_EMB] * count
            types += [contig] * count
            if closed or index < len(counts) - 1:
                tokens.append(CLS)
                types.append(contig)
    else:
        for index, count in enumerate(counts):
            if count == 0:
                continue
            clamped = min(index, max_contigs - 1)
            if clamped != contig:
                tokens.append(SEP)
                types.append(contig)
            tokens += [PROT_EMB] * count
            types += [clamped] * count
            contig = clamped
        if closed:
            tokens.append(SEP)
            types.append(contig)
    tokens.append(END)
    types.append(contig)
    return np.asarray(tokens, dtype=np.int64), np.asarray(types, dtype=np.int64)


@dataclass(frozen=True)


class GenomeLayout:
    """The contigs of one genome, in order, as one of the official layouts lays them out.

    Attributes:
        sizes: proteins per contig (empty contigs kept for the "cls" layout, which spends a separator on each).
        separator: ``"cls"`` or ``"sep"`` (see :func:`contig_tokens`).
        max_contigs: the checkpoint's ``max_token_type_embeddings``.
    """

    sizes: np.ndarray
    separator: str = "cls"
    max_contigs: int = 1000

    @classmethod
    def from_sizes(cls, sizes: Sequence[int], separator: str = "cls", max_contigs: int = 1000) -> "GenomeLayout":
        if separator not in CONTIG_SEPARATORS:
            raise UsageError(f"contig_separator must be 'cls' or 'sep' (got {separator!r})")
        kept = [int(s) for s in sizes if separator == "cls" or int(s) > 0]
        if any(s < 0 for s in kept):
            raise UsageError("contig sizes must be >= 0")
        return cls(sizes=np.asarray(kept, dtype=np.int64), separator=separator, max_contigs=int(max_contigs))

    def __len__(self) -> int:
        return int(self.sizes.sum())

    @property
    def contig(self) -> np.ndarray:
        """Contig index of each protein."""
        return np.repeat(np.arange(len(self.sizes)), self.sizes)

    @property
    def last(self) -> np.ndarray:
        """True where a protein is the last of its contig."""
        last = np.zeros(len(self), dtype=bool)
        ends = np.cumsum(self.sizes)[self.sizes > 0] - 1
        last[ends] = True
        return last

    def window_tokens(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Token ids, token type ids and protein positions of proteins ``[start, end)``, laid out as a genome.

        The window holds the contigs from that of protein ``start`` to that of protein ``end - 1`` (the empty ones
        between them too, and those before the first or after the last protein when the window starts or ends the
        genome), renumbered from 0; its last contig is closed only where it really ends.
        """
        n = len(self)
        contig = self.contig
        bounds = np.concatenate([[0], np.cumsum(self.sizes)])
        first = 0 if start == 0 else int(contig[start])
        last = len(self.sizes) - 1 if end == n else int(contig[end - 1])
        counts = [int(min(bounds[c + 1], end) - max(bounds[c], start)) for c in range(first, last + 1)]
        closed = end == n or bool(self.last[end - 1])
        tokens, types = contig_tokens(counts, separator=self.separator, max_contigs=self.max_contigs, closed=closed)
        return tokens, types, np.nonzero(tokens == PROT_EMB)[0]

    def n_tokens(self, start: int, end: int) -> int:
        """Tokens of the window of proteins ``[start, end)`` (CLS, separators and END included)."""
        return len(self.window_tokens(start, end)[0])

    def token_weights(self) -> tuple[np.ndarray, int]:
        """Per protein, an upper bound of the tokens it brings to a window (itself, its contig's separator and the
        separators of empty contigs after it), and the separators of empty contigs before the first protein."""
        weights = 1 + self.last.astype(np.int64)
        if self.separator == "cls" and len(self):
            empties = np.nonzero(self.sizes == 0)[0]
            owners = np.searchsorted(np.nonzero(self.sizes)[0], empties, side="left") - 1  # previous non-empty contig
            lead = int((owners < 0).sum())
            ends = np.cumsum(self.sizes) - 1
            np.add.at(weights, ends[np.nonzero(self.sizes)[0][owners[owners >= 0]]], 1)
            return weights, lead
        return weights, 0


def plan_windows(layout: GenomeLayout, max_length: int, overlap: float) -> list[tuple[int, int]]:
    """Cover proteins ``[0, n)`` with windows ``[start, end)`` that each fit in ``max_length`` tokens.

    A genome that fits is one window (the official helpers' single pass). Otherwise consecutive windows share about
    ``overlap`` of a window's proteins and the last window is aligned to the genome end so that it is as full as the
    first; windows are sized with :meth:`GenomeLayout.token_weights`, which never under-counts.
    """
    n = len(layout)
    if n == 0:
        return []
    if max_length < 4:
        raise UsageError(f"max_length must be >= 4 tokens (got {max_length})")
    if layout.n_tokens(0, n) <= max_length:
        return [(0, n)]
    weights, lead = layout.token_weights()
    # cost(start, end) = 2 + f[end] - f[start] (+ lead when start == 0); f is strictly increasing.
    f = np.concatenate([[0], np.cumsum(weights)])

    def cost(start: int, end: int) -> int:
        return 2 + int(f[end] - f[start]) + (lead if start == 0 else 0)

    def farthest_end(start: int) -> int:
        budget = max_length - 2 - (lead if start == 0 else 0) + f[start]
        return max(start + 1, int(np.searchsorted(f, budget, side="right") - 1))

    def earliest_start(end: int) -> int:
        start = int(np.searchsorted(f, f[end] + 2 - max_length, side="left"))
        return 1 if start == 0 and cost(0, end) > max_length else start

    windows: list[tuple[int, int]] = []
    start = 0
    while True:
        end = farthest_end(start)
        if end >= n:
            if windows:
                start = max(windows[-1][0] + 1, min(start, earliest_start(n)))
            windows.append((start, n))
            return windows
        windows.append((start, end))
        start += max(1, int(round((end - start) * (1.0 - overlap))))
        if farthest_end(start) <= end:  # heavy separators: start later, so that the next window reaches past this one
            start = max(start, min(earliest_start(end + 1), end))


def assign_windows(windows: Sequence[tuple[int, int]], n: int) -> np.ndarray:
    """For each protein, the index of the window where it is most central (ties: the earlier window).

    Centrality is the distance to the nearer window edge; an edge at a genome end does not count (the protein there
    has all the context that exists on that side).
    """
    best = np.full(n, -1, dtype=np.int64)
    score = np.full(n, -np.inf)
    for w, (start, end) in enumerate(windows):
        idx = np.arange(start, end)
        left = np.where(start == 0, np.inf, idx - start)
        right = np.where(end == n, np.inf, end - 1 - idx)
        s = np.minimum(left, right)
        better = s > score[idx]
        best[idx[better]] = w
        score[idx[better]] = s[better]
    return best
