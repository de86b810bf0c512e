"""Protein descriptors: per protein, length, composition, physico-chemical groups, Kyte-Doolittle hydropathy,
predicted transmembrane segments, charge and pI (Biopython's ``IsoelectricPoint``), signal-peptide-like N-terminal
hydrophobicity. All proteins of a genome are computed at once on one concatenated code array (windows never cross
two proteins).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from Bio.SeqUtils.ProtParamData import kd as kyte_doolittle

from ...progress import Advance

AMINO_ACIDS = "ACDEFGHIKLMNPQRSTVWY"
#: Physico-chemical groups (fractions of residues).
AA_GROUPS = {
    "charged": "DEHKR",
    "positive": "HKR",
    "negative": "DE",
    "polar": "DEHKNQRSTY",
    "hydrophobic": "AVILMFWC",
    "aromatic": "FWYH",
    "aliphatic": "AVIL",
    "tiny": "AGCS",
    "small": "AGCSTDNPV",
}
#: Sliding window and threshold of a transmembrane segment (Kyte & Doolittle 1982).
TM_WINDOW = 19
TM_THRESHOLD = 1.6
#: Window and span of the N-terminal (signal-peptide h-region) hydrophobicity.
SIGNAL_WINDOW = 9
SIGNAL_SPAN = 30

PROTEIN_FEATURES: list[str] = (
    ["log_length"]
    + [f"aa_{a}" for a in AMINO_ACIDS]
    + ["aa_other"]
    + [f"grp_{name}" for name in AA_GROUPS]
    + ["kd_mean", "kd_max_window", "tm_segments", "tm_fraction", "charge_ph7", "charge_ph7_per_res", "pi",
       "nterm_kd_max", "nterm_positive"]
)


def _amino_acid_codes() -> np.ndarray:
    """Byte -> index in ``AMINO_ACIDS`` (either case); every other byte is 20 (other)."""
    table = np.full(256, 20, dtype=np.int64)
    for code, residue in enumerate(AMINO_ACIDS):
        table[ord(residue)] = code
        table[ord(residue.lower())] = code
    return table


_AA_CODE = _amino_acid_codes()
_KD_BY_CODE = np.array([kyte_doolittle[a] for a in AMINO_ACIDS] + [0.0])


def protein_descriptors(proteins: Sequence[str], progress: Advance | None = None) -> np.ndarray:
    """Sequence descriptors of each protein, ``(len(proteins), len(PROTEIN_FEATURES))`` float32.

    Arguments:
        proteins: amino-acid sequences (any case; stops ``*`` and unknown letters count as ``aa_other``).
        progress: called once with ``len(proteins)`` when done.

    Returns:
        The matrix; an empty protein gives a row of zeros.
    """
    n = len(proteins)
    out = np.zeros((n, len(PROTEIN_FEATURES)), dtype=np.float32)
    if n == 0:
        return out
    lengths = np.array([len(p) for p in proteins], dtype=np.int64)
    total = int(lengths.sum())
    offsets = np.zeros(n + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    codes = _AA_CODE[np.frombuffer("".join(proteins).encode("latin-1", "replace"), dtype=np.uint8)]
    owner = np.repeat(np.arange(n), lengths)
    counts = np.bincount(owner * 21 + codes, minlength=n * 21).reshape(n, 21).astype(np.float64)
    safe_len = np.maximum(lengths, 1).astype(np.float64)
    comp = counts / safe_len[:, None]
    kd = _KD_BY_CODE[codes]
    kd_mean = np.bincount(owner, weights=kd, minlength=n) / safe_len

    # sliding-window hydropathy inside each protein (windows never cross two proteins)
    csum = np.concatenate([[0.0], np.cumsum(kd)])
    kd_max = kd_mean.copy()
    tm_segments = np.zeros(n)
    tm_cover = np.zeros(n)
    if total >= TM_WINDOW:
        # window k covers residues k .. k+W-1: slices of the cumulative sum and of ``owner`` (no gathers)
        win = (csum[TM_WINDOW:] - csum[:-TM_WINDOW]) / TM_WINDOW
        valid = owner[: len(win)] == owner[TM_WINDOW - 1 :]
        win_owner = owner[: len(win)][valid]
        win_val = win[valid]
        if win_val.size:
            has = np.bincount(win_owner, minlength=n) > 0
            mx = np.full(n, -np.inf)
            np.maximum.at(mx, win_owner, win_val)
            kd_max = np.where(has, mx, kd_mean)
            hit = win_val >= TM_THRESHOLD
            prev_hit = np.concatenate([[False], hit[:-1]])
            prev_owner = np.concatenate([[-1], win_owner[:-1]])
            seg_start = hit & (~prev_hit | (prev_owner != win_owner))
            tm_segments = np.bincount(win_owner[seg_start], minlength=n).astype(np.float64)
            tm_cover = np.bincount(win_owner[hit], minlength=n) / safe_len

    # N-terminal h-region: best short-window hydropathy in the first SIGNAL_SPAN residues
    nterm_kd = kd_mean.copy()
    pos_in_protein = np.arange(total) - np.repeat(offsets[:-1], lengths)
    if total >= SIGNAL_WINDOW:
        win = (csum[SIGNAL_WINDOW:] - csum[:-SIGNAL_WINDOW]) / SIGNAL_WINDOW
        win_owner = owner[: len(win)]
        ok = (win_owner == owner[SIGNAL_WINDOW - 1 :]) & (pos_in_protein[: len(win)] + SIGNAL_WINDOW <= SIGNAL_SPAN)
        mx = np.full(n, -np.inf)
        np.maximum.at(mx, win_owner[ok], win[ok])
        nterm_kd = np.where(np.isfinite(mx), mx, kd_mean)
    early = pos_in_protein < 6
    positive = np.isin(codes, [AMINO_ACIDS.index(c) for c in "KR"])
    nterm_pos = np.bincount(owner[early & positive], minlength=n).astype(np.float64)

    first = codes[offsets[:-1][lengths > 0]]
    last = codes[offsets[1:][lengths > 0] - 1]
    charge = np.zeros(n)
    pi = np.zeros(n)
    charge[lengths > 0], pi[lengths > 0] = _isoelectric(counts[lengths > 0], first, last)

    groups = []
    for members in AA_GROUPS.values():
        idx = [AMINO_ACIDS.index(c) for c in members]
        groups.append(comp[:, idx].sum(axis=1))
    columns = (
        [np.log1p(lengths)]
        + [comp[:, k] for k in range(21)]
        + groups
        + [kd_mean, kd_max, tm_segments, tm_cover, charge, charge / safe_len, pi, nterm_kd, nterm_pos]
    )
    out[:] = np.stack(columns, axis=1)
    out[lengths == 0] = 0.0
    if progress is not None:
        progress(n)
    return out


def _isoelectric(counts: np.ndarray, first: np.ndarray, last: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Charge at pH 7 and isoelectric point of many proteins at once: Biopython's ``IsoelectricPoint`` (its pK
    tables, Bjellqvist's terminal pKs, the same bisection and the same order of floating-point operations, so
    the same numbers), vectorised because the per-protein Python loop cost more than every other descriptor.

    ``counts`` holds residue counts in ``AMINO_ACIDS`` order (then other), ``first``/``last`` the residue codes
    at the N and C terminus.
    """
    from Bio.SeqUtils import IsoelectricPoint as iep

    letters = AMINO_ACIDS + "X"
    n_term = np.array([iep.pKnterminal.get(a, iep.positive_pKs["Nterm"]) for a in letters])[first]
    c_term = np.array([iep.pKcterminal.get(a, iep.negative_pKs["Cterm"]) for a in letters])[last]
    ones = np.ones(len(counts))
    positive = [(ones, n_term)] + [(counts[:, AMINO_ACIDS.index(a)], np.full(len(counts), pk))
                                   for a, pk in iep.positive_pKs.items() if a != "Nterm"]
    negative = [(ones, c_term)] + [(counts[:, AMINO_ACIDS.index(a)], np.full(len(counts), pk))
                                   for a, pk in iep.negative_pKs.items() if a != "Cterm"]

    def charge_at(ph: np.ndarray) -> np.ndarray:
        plus = np.zeros(len(counts))
        for count, pk in positive:
            plus += count * (1.0 / (10 ** (ph - pk) + 1.0))
        minus = np.zeros(len(counts))
        for count, pk in negative:
            minus += count * (1.0 / (10 ** (pk - ph) + 1.0))
        return plus - minus

    ph, low, high = np.full(len(counts), 7.775), np.full(len(counts), 4.05), np.full(len(counts), 12.0)
    while True:  # every protein takes the same number of halvings: the interval width does not depend on it
        charge = charge_at(ph)
        if not (high - low > 0.0001).all():
            break
        low = np.where(charge > 0.0, ph, low)
        high = np.where(charge > 0.0, high, ph)
        ph = (low + high) / 2
    return charge_at(np.full(len(counts), 7.0)), ph
