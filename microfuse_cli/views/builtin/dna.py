"""Scaffold DNA as 0-4 codes (A, C, G, T, other), read with wrapping on a circle and N past a linear end.

Every sequence feature of the gene and pair views reads the genome through :class:`ScaffoldSequences`.
"""

from __future__ import annotations

import numpy as np

from ...errors import FASTA, DataError
from ...records import Genome


def _code_table() -> np.ndarray:
    """Byte -> base code: A, C, G, T (and U) in either case; every other byte is 4 (N)."""
    table = np.full(256, 4, dtype=np.uint8)
    for code, base in enumerate("ACGT"):
        table[ord(base)] = code
        table[ord(base.lower())] = code
    table[ord("U")] = 3
    table[ord("u")] = 3
    return table


_NT_CODE = _code_table()
_COMPLEMENT = np.array([3, 2, 1, 0, 4], dtype=np.uint8)
_RNA_LETTERS = np.frombuffer(b"ACGUN", dtype=np.uint8)
#: 1.0 where a base code is G or C.
IS_GC = np.array([0, 1, 1, 0, 0], dtype=np.float64)


def encode(sequence: str) -> np.ndarray:
    """Base codes of a DNA (or RNA) string."""
    return _NT_CODE[np.frombuffer(sequence.encode("ascii", "replace"), dtype=np.uint8)]


def rna(codes: np.ndarray) -> str:
    """RNA string of base codes (what ViennaRNA reads; other bases as N)."""
    return _RNA_LETTERS[codes].tobytes().decode("ascii")


def revcomp(codes: np.ndarray) -> np.ndarray:
    """Reverse complement of base codes (N stays N)."""
    return _COMPLEMENT[codes[::-1]]


class ScaffoldSequences:
    """Scaffold sequences as 0-4 codes (A, C, G, T, other) with wrapped / N-padded slicing."""

    def __init__(self, genome: Genome, what: str):
        if not genome.has_sequence:
            raise DataError.naming(f"the builtin {what} view needs the genome sequence: give the assembly with ", FASTA)
        self.codes = {sid: encode(s.sequence or "") for sid, s in genome.scaffolds.items()}
        self.circular = {sid: s.circular for sid, s in genome.scaffolds.items()}
        all_codes = np.concatenate(list(self.codes.values())) if self.codes else np.zeros(0, np.uint8)
        counts = np.bincount(all_codes, minlength=5)[:4].astype(np.float64) + 1.0
        self.composition = counts / counts.sum()
        self.gc = float(self.composition[1] + self.composition[2])

    def get(self, sid: str, start0: int, end0: int, strand: int = 1) -> np.ndarray:
        """Bases ``[start0, end0)`` (0-based), reverse-complemented for ``strand < 0``."""
        codes = self.codes[sid]
        length = len(codes)
        if end0 <= start0 or length == 0:
            return np.zeros(0, dtype=np.uint8)
        if 0 <= start0 and end0 <= length:
            region = codes[start0:end0]
        elif self.circular[sid]:
            region = codes[np.arange(start0, end0) % length]
        else:
            idx = np.arange(start0, end0)
            inside = (idx >= 0) & (idx < length)
            region = np.full(end0 - start0, 4, dtype=np.uint8)
            region[inside] = codes[idx[inside]]
        return revcomp(region) if strand < 0 else region
