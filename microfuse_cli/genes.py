"""Gene calling on bare assemblies with pyrodigal.

Single mode (trained on the genome itself) for complete or near-complete genomes, metagenomic mode for short or
fragmented assemblies, where there is too little sequence to train on.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from typing import Callable

from .errors import DataError, UsageError
from .genome import Gene, Scaffold

#: Below this much sequence Prodigal cannot train reliably (Prodigal's documentation asks for 100 kbp).
MIN_SINGLE_LENGTH = 100_000
#: An assembly whose N50 is below this is treated as fragmented (metagenomic mode).
MIN_SINGLE_N50 = 20_000


def resolve_threads(threads: int) -> int:
    """0 means every core this process may use (respects affinity masks set by schedulers)."""
    if threads < 0:
        raise UsageError(f"--threads must be >= 0, got {threads}")
    if threads == 0:
        try:
            return len(os.sched_getaffinity(0))
        except AttributeError:  # pragma: no cover - non-Linux
            return os.cpu_count() or 1
    return threads


def n50(lengths: list[int]) -> int:
    total, running = sum(lengths), 0
    for length in sorted(lengths, reverse=True):
        running += length
        if running * 2 >= total:
            return length
    return 0


def choose_mode(scaffolds: dict[str, Scaffold]) -> str:
    """'single' for a genome with enough contiguous sequence to train on, else 'meta'."""
    lengths = [s.length for s in scaffolds.values()]
    if sum(lengths) >= MIN_SINGLE_LENGTH and n50(lengths) >= MIN_SINGLE_N50:
        return "single"
    return "meta"


def call_genes(
    scaffolds: dict[str, Scaffold],
    *,
    mode: str = "auto",
    genetic_code: int = 11,
    threads: int = 1,
    progress: Callable[[int], None] | None = None,
    on_start: Callable[[], None] | None = None,
) -> list[Gene]:
    """Predict protein-coding genes on every scaffold; ids follow Prodigal (``<scaffold>_<n>``).

    ``on_start`` is called just before pyrodigal starts: pyrodigal releases the GIL, so a caller can start other
    Python work then (``score`` imports torch and loads its model) without slowing the Python work before it.
    """
    import pyrodigal

    if mode not in ("auto", "single", "meta"):
        raise UsageError(f"gene calling mode must be auto, single or meta, not {mode!r}")
    if mode == "auto":
        mode = choose_mode(scaffolds)
    records = [s for s in scaffolds.values() if s.sequence]
    if not records:
        raise DataError("no sequence to call genes on")
    finder = pyrodigal.GeneFinder(meta=(mode == "meta"), mask=True, closed=False)
    if on_start is not None:
        on_start()
    if mode == "single":
        training = [s.sequence.encode() for s in records]
        try:
            finder.train(*training, translation_table=genetic_code)
        except ValueError as exc:
            raise DataError(f"cannot train pyrodigal on this assembly ({exc}); try --mode meta") from None

    def predict(scaffold: Scaffold):
        found = finder.find_genes(scaffold.sequence.encode())
        if progress:
            progress(1)
        return scaffold, found

    genes: list[Gene] = []
    workers = resolve_threads(threads)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for scaffold, found in pool.map(predict, records):
            for i, g in enumerate(found, start=1):
                ident = f"{scaffold.id}_{i}"
                code = g.translation_table if hasattr(g, "translation_table") else genetic_code
                protein = g.translate(translation_table=code, include_stop=False).replace("*", "X")
                partial = bool(g.partial_begin or g.partial_end)
                genes.append(Gene(ident, scaffold.id, g.begin, g.end, g.strand, protein, (ident,), code, partial))
    return genes
