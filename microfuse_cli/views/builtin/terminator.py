"""Rho-independent terminator in the intergenic DNA of a pair (ViennaRNA).

ViennaRNA local folding (``RNA.fold_compound`` in window mode, i.e. Lfold, base-pair span at most ``FOLD_SPAN`` nt,
no lonely pairs) over the terminator region: ``term_mfe`` is the lowest free energy of any local structure (close
to the minimum MFE of sliding 40-45-nt windows, at a fraction of the cost) and ``term_tscore`` the best
T-tract-anchored hairpin: over local structures, ``-dG * T / 10`` where ``T`` is the number of T in the 10 nt made
of the structure's last 3 paired bases and the 7 nt after them (the U-tract often starts inside the stem, paired to
an upstream A-tract); a strong hairpin without a U-tract scores low. ``term_mfe_z`` and ``term_tscore_z`` are
these against ``N_BACKGROUND`` shuffled regions (:mod:`.background`).

Folding, 90% of the cost of the whole pair view, runs in a process pool when ``threads > 1``; ``progress(k)`` is
called with the number of pairs finished.
"""

from __future__ import annotations

import numpy as np

from ...interrupts import held_signals
from ...progress import Advance
from ...runtime import resolve_threads
from .background import fit_background, shuffled, zscore
from .dna import rna

#: Largest base-pair span of a local RNA structure (Lfold window).
FOLD_SPAN = 40
#: Number of shuffled regions in the GC background of each folding statistic (4 per pair when fewer pairs, >= 50).
N_BACKGROUND = 200
#: The pair-view columns this module computes, in order.
TERMINATOR_FEATURES = ["term_mfe", "term_tscore", "term_tract", "term_mfe_z", "term_tscore_z"]

_T_TRACT = 10  # nt of the U-tract window: the last _T_BACK paired bases of the stem and what follows
_T_BACK = 3


def fold_regions(regions: list[str]) -> list[tuple[float, float, float]]:
    """(lowest local-structure energy, best T-tract-anchored hairpin score, T's after that hairpin) per region."""
    import RNA

    md = RNA.md()
    md.max_bp_span = FOLD_SPAN
    md.window_size = FOLD_SPAN
    md.noLP = 1
    out = []
    for seq in regions:
        hits: list[tuple[int, str, float]] = []

        def collect(start, end, structure, mfe, data=None, _hits=hits):
            if structure:
                _hits.append((start, structure, mfe))

        if len(seq) >= 5:
            fc = RNA.fold_compound(seq, md, RNA.OPTION_WINDOW)
            with held_signals():  # a handler's exception raised in ViennaRNA's callback became its RuntimeError
                fc.mfe_window_cb(collect, None)
        min_mfe, best, tract = 0.0, 0.0, 0.0
        for start, structure, mfe in hits:
            min_mfe = min(min_mfe, mfe)
            last = start - 1 + structure.rfind(")")  # 0-based index of the 3'-most paired base
            t = seq[max(last - _T_BACK + 1, 0) : last + 1 + _T_TRACT - _T_BACK].count("U")
            score = -mfe * t / _T_TRACT
            if score > best:
                best, tract = score, float(t)
        out.append((min_mfe, best, tract))
    return out


def _run_folds(
    regions: list[str], threads: int, progress: Advance | None, reported: list[int]
) -> np.ndarray:
    """Fold every region (process pool when threads > 1); ``reported[i]`` items go to progress for chunk i."""
    chunk = max(8, min(64, -(-len(regions) // (4 * threads))))
    chunks = [regions[i : i + chunk] for i in range(0, len(regions), chunk)]
    results: list[list[tuple[float, float, float]] | None] = [None] * len(chunks)
    counts = [0] * len(chunks)
    remaining = list(reported)
    for c in range(len(chunks)):
        take = min(len(chunks[c]), remaining[0] if remaining else 0)
        counts[c] = take
        if remaining:
            remaining[0] -= take
    if threads > 1 and len(chunks) > 1:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor, as_completed

        # fork where there is one: the workers only fold RNA, and forkserver/spawn would re-run a caller's script
        # that lacks an ``if __name__ == "__main__"`` guard
        method = "fork" if "fork" in multiprocessing.get_all_start_methods() else None
        context = multiprocessing.get_context(method)
        with ProcessPoolExecutor(max_workers=threads, mp_context=context) as pool:
            futures = {pool.submit(fold_regions, part): c for c, part in enumerate(chunks)}
            for future in as_completed(futures):
                c = futures[future]
                results[c] = future.result()
                if progress is not None and counts[c]:
                    progress(counts[c])
    else:
        for c, part in enumerate(chunks):
            results[c] = fold_regions(part)
            if progress is not None and counts[c]:
                progress(counts[c])
    flat = [row for part in results for row in (part or [])]
    return np.array(flat, dtype=np.float64).reshape(len(regions), 3)


def terminator_features(
    term_regions: list[np.ndarray], threads: int, progress: Advance | None
) -> dict:
    """Fold the pairs' terminator regions and a shuffled background in one pool; z-scores against it."""
    n = len(term_regions)
    threads = resolve_threads(threads)
    background = shuffled(term_regions, min(N_BACKGROUND, max(50, 4 * n)), seed=1)
    folded = _run_folds([rna(r) for r in term_regions + background], threads, progress, [n])
    term, term_bg = folded[:n], folded[n:]
    term_len = np.array([len(r) for r in term_regions], dtype=np.float64)
    bg_len = np.array([len(r) for r in background], dtype=np.float64)
    if len(background):
        mfe_z = zscore(term_len, term[:, 0], fit_background(bg_len, term_bg[:, 0]), 0.5)
        tscore_z = zscore(term_len, term[:, 1], fit_background(bg_len, term_bg[:, 1]), 0.25)
    else:
        mfe_z = tscore_z = np.zeros(n)
    return dict(zip(TERMINATOR_FEATURES, [term[:, 0], term[:, 1], term[:, 2], mfe_z, tscore_z]))
