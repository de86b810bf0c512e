"""Analog retrieval: a FAISS index over fused pair vectors, searched across scaffolds or genomes.

Every fused pair vector ``h`` (see ``docs/method.md``, "Retrieval") is L2-normalised and indexed for inner
product, so every similarity reported here is a cosine similarity. A search never returns a pair from the
query's own group (its scaffold, or its genome with ``group_by="genome"``); the pair itself is in its own group,
so self-matches are excluded too. The exclusion holds by construction:

* CPU HNSW indexes, and any query whose own group is too large to over-fetch: queries are searched group by
  group with a FAISS ID selector (``IDSelectorNot`` over the group's rows) passed in ``SearchParameters``, so
  own-group rows are never scored.
* Flat, IVF and IVF-PQ indexes, and GPU indexes (no selector support): each query asks for ``k + g``
  neighbours, ``g`` being the size of its own group, and its own group is filtered out afterwards. At most ``g``
  of those can be own-group rows, so at least ``k`` others remain, and for an exact index they are exactly the
  ``k`` nearest others. One batched search is several times faster than a selector call per group (FAISS' flat
  search with a selector cannot use BLAS at all). Queries whose ``k + g`` would exceed :data:`MAX_OVERFETCH`
  fall back to the selector route (a CPU copy of the index on GPU).
* IVF-PQ indexes re-rank (``refine``, default ``fp16`` up to 256 dimensions, ``sq8`` beyond): the PQ stage fetches ``k_factor`` times as many
  candidates as asked for, and those are re-scored with finer codes (8-bit scalar quantisation, float16, or the
  exact float32 vectors) before the own-group filter and the cut to ``k``; exclusion stays exact, since it is
  applied to the re-ranked list like any other over-fetched list. Without refining, 64-byte PQ codes reach only
  recall@10 0.27 at 1e7 pairs (benchmarks/RESULTS.md).
* Approximate indexes may come back with fewer than ``k`` hits when the probed lists (IVF) or the explored graph
  (HNSW) hold too few rows from other groups; such queries are searched again with ``nprobe`` / ``efSearch``
  doubled until they have ``k`` hits or the whole index has been probed.

Inputs come from the scoring stage: ``FILE.npy`` (float32, n x d) and ``FILE.ids.tsv`` beside it (one header line;
columns ``pair_id scaffold genome`` and optionally ``label`` (0/1/empty) and ``probability``; row order is vector
order), read with :func:`read_vectors`.

An index is saved as a folder (:meth:`PairIndex.save`): ``index.faiss`` (``faiss.write_index``), ``pairs.tsv`` and
``manifest.json`` (manifest.py: format version, index type, dimension, count, metric, grouping, SHA-256 of both files,
microfuse version, and the build settings: nlist, PQ code shape, refine code and k_factor). :meth:`PairIndex.load`
verifies all of it before trusting the files.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import itertools
import logging
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import IO, Any, Iterator, Literal, Sequence

import numpy as np

from .errors import DataError, MicrofuseError, UsageError
from .io.files import PathLike, read_text
from .io.outputs import atomic_directory, atomic_output
from .io.tsv import write_tsv
from .manifest import MANIFEST, ManifestKind, read_manifest, write_manifest
from .progress import Advance

__all__ = [
    "PairIds",
    "PairIndex",
    "SearchResult",
    "RetrievalRow",
    "read_vectors",
    "read_pair_ids",
    "write_pair_ids",
    "ids_path_for",
    "result_rows",
    "write_results",
    "retrieval_evaluate",
    "write_retrieval_table",
    "RESULT_COLUMNS",
    "RESULT_LABEL_COLUMNS",
    "RESULT_QUERY_COLUMNS",
]

log = logging.getLogger(__name__)

IndexKind = Literal["auto", "flat", "ivf", "hnsw", "ivfpq"]
GroupBy = Literal["scaffold", "genome"]
Device = Literal["auto", "cpu", "cuda"]
Exclusion = Literal["auto", "selector", "overfetch"]
Refine = Literal["none", "sq8", "fp16", "flat"]

INDEX_KINDS = ("flat", "ivf", "hnsw", "ivfpq")
GROUP_BYS = ("scaffold", "genome")
DEVICES = ("auto", "cpu", "cuda")
REFINES = ("none", "sq8", "fp16", "flat")

#: ``index="auto"`` uses the exact flat index up to this many vectors, ...
AUTO_FLAT_MAX = 1_000_000
#: ... IVF-Flat up to this many (n x d x 4 bytes: 8 GiB at d = 512), IVF-PQ beyond.
AUTO_IVF_MAX = 4_000_000
#: Largest ``k + own group size`` fetched by the over-fetch route; beyond it a query uses a selector.
MAX_OVERFETCH = 2048
#: Largest k a GPU index returns (FAISS GPU selection limit).
GPU_MAX_K = 2048
#: Default search settings, from benchmarks/retrieve_scale.py on clustered synthetic 512-d data: nprobe 16 gave
#: recall@10 >= 0.9999 at 1e5 and 1e6 (nprobe 8: 0.94 at 1e5), efSearch 64 gave 0.999 at 1e5.
DEFAULT_NPROBE = 16
DEFAULT_EF_SEARCH = 64
#: IVF-PQ re-ranks ``DEFAULT_K_FACTOR`` x the asked-for candidates by default, with float16 copies of the vectors
#: up to ``FP16_REFINE_MAX_DIM`` dimensions (2d bytes per pair) and 8-bit ones beyond (d bytes). Measured at 1e7
#: 128-d pairs (benchmarks/RESULTS.md, "Retrieval at 1e7"): sq8 re-scoring levels off at recall@10 0.94, fp16
#: reaches 0.96-0.98; at 512-d sq8 gives 0.97 (1e6) and fp16 would need 11 GB per 1e7 pairs.
DEFAULT_REFINE = "sq8"
FP16_REFINE_MAX_DIM = 256
DEFAULT_K_FACTOR = 8
#: Most PQ sub-quantisers (code bytes at 8 bits) chosen by default.
PQ_MAX_M = 64
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
KMEANS_ITERATIONS = 20

INDEX_FILE = "index.faiss"
PAIRS_FILE = "pairs.tsv"
#: manifest.json of an index folder (manifest.py). 2: the common layout, ``files_sha256`` (name -> SHA-256) instead
#: of ``files`` (role -> path and SHA-256); version 1 is still read.
PAIR_INDEX = ManifestKind("microfuse-pair-index", (1, 2), "index",
                          "build one with `microfuse retrieve build`")

ID_COLUMNS = ("pair_id", "scaffold", "genome")
GROUP_SEP = "\x1f"  # joins genome and scaffold in a scaffold group when scaffold names repeat across genomes
PAIRS_COLUMNS = ("pair_id", "scaffold", "genome", "label", "probability")
RESULT_COLUMNS = ("query", "target", "rank", "similarity", "target_scaffold", "target_genome")
RESULT_LABEL_COLUMNS = ("target_label", "target_probability")
#: Last column: two genomes may share pair ids (one assembly under two names, MEGAHIT ``k141_*`` contigs), so the
#: query's name alone can be ambiguous. Added after the others, so columns counted by position keep their place.
RESULT_QUERY_COLUMNS = ("query_genome",)

_CHUNK = 65536  # rows normalised / added / searched at a time
_SELECTOR_BATCH = 4096  # queries per selector search call
_QUERY_BLOCK = 1 << 18  # indexed pairs read back and searched at a time by search_all
_POOL_MIN = 32  # groups with fewer queries than this go to the thread pool, one thread each


def _faiss():
    try:
        import faiss  # noqa: PLC0415 - heavy import kept out of module import
    except ImportError as exc:  # pragma: no cover - faiss is a hard dependency
        raise MicrofuseError(f"faiss is not importable ({exc}); install faiss-cpu or faiss-gpu") from None
    return faiss


# ---------------------------------------------------------------------------------------------------------------
# Pair identifiers
# ---------------------------------------------------------------------------------------------------------------

#: Text columns are numpy variable-width strings (numpy >= 2): 16 bytes per value, strings up to 15 bytes inside
#: them and longer ones in one arena, instead of a ~60-byte Python object (+ 8-byte pointer) per value; older
#: numpy keeps object arrays.
_TEXT = np.dtypes.StringDType() if hasattr(np.dtypes, "StringDType") else np.dtype(object)
_TEXT_KINDS = "OUT"
_ID_BLOCK = 1 << 16  # pair-id rows parsed / written at a time


def _as_text(values: np.ndarray) -> np.ndarray:
    """``values`` as a compact text column (numbers are written out: a str and an int column can be joined)."""
    values = np.asarray(values)
    if values.dtype == _TEXT or values.dtype.kind == "T":  # any StringDType (coerce or not) is text already
        return values
    if values.dtype.kind == "O" and _TEXT.kind == "O":  # old numpy: object arrays of str stay as they are
        return np.array([str(v) for v in values.tolist()], dtype=object)
    return values.astype(_TEXT) if values.dtype.kind in _TEXT_KINDS else values.astype(str).astype(_TEXT)


def _compact(values: np.ndarray) -> np.ndarray:
    """A text column (str / object-of-str) as :data:`_TEXT`; numbers and mixed objects unchanged."""
    if values.dtype.kind == "U":
        return values.astype(_TEXT)
    if values.dtype.kind == "O" and _TEXT.kind == "T":
        try:
            return values.astype(np.dtypes.StringDType(coerce=False))
        except (ValueError, TypeError):  # not all str: leave as given
            return values
    return values


def _joined(left: np.ndarray, right: np.ndarray) -> np.ndarray:
    """``left<US>right`` for every row, as text."""
    return _as_text(left) + GROUP_SEP + _as_text(right)


def _unique(values: np.ndarray, *, inverse: bool = False) -> Any:
    """``np.unique`` (with ``return_inverse``), for text by a stable sort: numpy 2.4's default quicksort of
    variable-width strings crashes (segfault) on some inputs, e.g. a sorted run followed by another."""
    values = np.asarray(values)
    if values.dtype.kind not in _TEXT_KINDS:
        if not inverse:
            return np.unique(values)
        keys, codes = np.unique(values, return_inverse=True)
        return keys, codes.ravel().astype(np.int64)
    order = np.argsort(values, kind="stable")
    ordered = values[order]
    first = np.ones(len(values), bool)
    first[1:] = ordered[1:] != ordered[:-1]
    if not inverse:
        return ordered[first]
    codes = np.empty(len(values), np.int64)
    codes[order] = np.cumsum(first) - 1
    return ordered[first], codes


def _positions(keys: np.ndarray, values: np.ndarray) -> np.ndarray:
    """Position of each value in the sorted, unique ``keys``; -1 where absent. Text is sorted together with the keys
    instead of binary-searched: numpy's searchsorted on variable-width strings fails or misplaces values (2.4)."""
    if len(keys) == 0:
        return np.full(len(values), -1, np.int64)
    if keys.dtype.kind not in _TEXT_KINDS:
        pos = np.minimum(np.searchsorted(keys, values), len(keys) - 1)
        return np.where(keys[pos] == values, pos, -1).astype(np.int64)
    inverse = _unique(np.concatenate([keys, values]), inverse=True)[1]
    slot = np.full(len(keys) + len(values), -1, np.int64)
    slot[inverse[: len(keys)]] = np.arange(len(keys))
    return slot[inverse[len(keys) :]]


def _common(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Sorted values found in both ``a`` and ``b`` (``np.intersect1d``)."""
    a, b = _same_kind(a, b)
    ua = _unique(a)
    return ua[_positions(_unique(b), ua) >= 0]


def _pair_keys(genome: np.ndarray, pair_id: np.ndarray) -> np.ndarray:
    """One integer per row, equal exactly where (genome, pair_id) is equal: duplicates are then found by sorting
    integers instead of hashing Python tuples (~150 bytes each)."""
    genome_codes = _unique(genome, inverse=True)[1]
    names, pair_codes = _unique(pair_id, inverse=True)
    return genome_codes * max(len(names), 1) + pair_codes


def _repeats(keys: np.ndarray) -> np.ndarray:
    """Rows whose key an earlier row already had."""
    order = np.argsort(keys, kind="stable")  # of equal keys, the earlier row comes first
    return order[1:][keys[order][1:] == keys[order][:-1]]


def _first_repeat(genome: np.ndarray, pair_id: np.ndarray) -> int | None:
    """Row of the first (genome, pair_id) that an earlier row already had, or None."""
    rows = _repeats(_pair_keys(genome, pair_id)) if len(pair_id) > 1 else np.empty(0, np.int64)
    return int(rows.min()) if len(rows) else None


@dataclass(frozen=True, eq=False)
class PairIds:
    """Identifiers of n pairs, in vector order.

    ``pair_id``, ``scaffold`` and ``genome`` are 1-d numpy arrays (text, stored compactly as :data:`_TEXT`, or
    integers for synthetic data);
    ``label`` is int8 with 1 = operon pair, 0 = not, -1 = unknown; ``probability`` is float64, NaN = unknown.
    """

    pair_id: np.ndarray
    scaffold: np.ndarray
    genome: np.ndarray
    label: np.ndarray = field(default=None)  # type: ignore[assignment]
    probability: np.ndarray = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        n = len(self.pair_id)
        for name in ("pair_id", "scaffold", "genome"):
            arr = np.asarray(getattr(self, name))
            if arr.ndim != 1 or len(arr) != n:
                raise DataError(f"pair ids: column {name} has {len(arr)} rows, expected {n}")
            object.__setattr__(self, name, _compact(arr))
        label = np.full(n, -1, np.int8) if self.label is None else np.asarray(self.label)
        if label.shape != (n,):
            raise DataError(f"pair ids: column label has {len(label)} rows, expected {n}")
        if label.size and not np.isin(label, (-1, 0, 1)).all():
            raise DataError("pair ids: labels must be 0, 1 or unknown (-1)")
        object.__setattr__(self, "label", label.astype(np.int8, copy=False))
        prob = np.full(n, np.nan) if self.probability is None else np.asarray(self.probability, dtype=np.float64)
        if prob.shape != (n,):
            raise DataError(f"pair ids: column probability has {len(prob)} rows, expected {n}")
        object.__setattr__(self, "probability", prob)

    def __len__(self) -> int:
        return len(self.pair_id)

    @property
    def has_labels(self) -> bool:
        return bool((self.label >= 0).any())

    @property
    def has_probability(self) -> bool:
        return bool((~np.isnan(self.probability)).any())

    def groups(self, group_by: str, *, by_genome: bool = False) -> np.ndarray:
        """The group of every pair: its scaffold or its genome; ``by_genome``: scaffolds named ``genome<US>scaffold``
        (two assemblies may both have a ``k141_7``)."""
        if group_by not in GROUP_BYS:
            raise UsageError(f"group_by must be one of {', '.join(GROUP_BYS)}, not {group_by!r}")
        if group_by == "genome":
            return self.genome
        if not by_genome:
            return self.scaffold
        return _joined(self.genome, self.scaffold)

    def scaffolds_collide(self) -> bool:
        """Whether one scaffold name occurs in two genomes (MEGAHIT names every assembly's contigs ``k141_*``)."""
        scaffolds, scaffold_codes = _unique(self.scaffold, inverse=True)
        genome_codes = _unique(self.genome, inverse=True)[1]  # (genome, scaffold) as one integer, no joined text
        return len(np.unique(genome_codes * len(scaffolds) + scaffold_codes)) != len(scaffolds)

    def concat(self, other: PairIds) -> PairIds:
        return PairIds(
            _concat(self.pair_id, other.pair_id),
            _concat(self.scaffold, other.scaffold),
            _concat(self.genome, other.genome),
            np.concatenate([self.label, other.label]),
            np.concatenate([self.probability, other.probability]),
        )

    @classmethod
    def stack(cls, parts: Sequence[PairIds]) -> PairIds:
        """Many tables (one per genome file) in order, copied once (chained ``concat`` would copy quadratically)."""
        if len(parts) == 1:
            return parts[0]
        columns = []
        for name in ("pair_id", "scaffold", "genome"):
            arrays = [getattr(p, name) for p in parts]
            if len({a.dtype.kind for a in arrays}) > 1:  # e.g. str and int: keep everything as text
                arrays = [_as_text(a) for a in arrays]
            columns.append(np.concatenate(arrays))
        return cls(*columns, np.concatenate([p.label for p in parts]), np.concatenate([p.probability for p in parts]))

    def keys(self) -> list[tuple]:
        """(genome, pair_id) of every pair: two assemblies may reuse contig names (MEGAHIT ``k141_*``)."""
        return list(zip(self.genome.tolist(), self.pair_id.tolist()))

    def check_unique(self, existing: PairIds | None = None) -> None:
        """Raise DataError when a pair_id occurs twice in one genome, or is already in ``existing``."""
        row = _first_repeat(self.genome, self.pair_id)
        if row is not None:
            genome, pair_id = self.genome[row : row + 1].tolist()[0], self.pair_id[row : row + 1].tolist()[0]
            raise DataError(f"duplicate pair_id {pair_id!r} in genome {genome!r} (give each assembly its own "
                            "`score --genome-name`)")
        if existing is not None:
            _check_disjoint(existing, self)


def _check_disjoint(existing: PairIds, new: PairIds, shared: np.ndarray | None = None) -> None:
    """Raise DataError for a (genome, pair_id) of ``new`` already in ``existing`` (each free of repeats). Only the
    rows of ``shared`` genomes (default: those in both) are compared, by sorting rather than a set of tuples."""
    if shared is None:
        shared = _common(existing.genome, new.genome)
    if not len(shared):
        return
    old, shared = _same_kind(existing.genome, shared)
    rows = np.flatnonzero(_positions(_unique(shared), old) >= 0)
    both = PairIds.stack([PairIds(existing.pair_id[rows], existing.scaffold[rows], existing.genome[rows]), new])
    clash = _repeats(_pair_keys(both.genome, both.pair_id))
    if len(clash):
        _raise_clash(set(zip(both.genome[clash].tolist(), both.pair_id[clash].tolist())))


def _same_kind(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Two columns comparable element by element: both as text unless both are numbers."""
    if a.dtype.kind in _TEXT_KINDS or b.dtype.kind in _TEXT_KINDS:
        return _as_text(a), _as_text(b)
    return a, b


def _raise_clash(clash: set) -> None:
    genome, pair_id = sorted(clash, key=str)[0]
    raise DataError(f"pair_id {str(pair_id)!r} of genome {str(genome)!r} is already in the index")


def _concat(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    if a.dtype.kind != b.dtype.kind:  # e.g. str and int: keep everything as text
        return np.concatenate([_as_text(a), _as_text(b)])
    return np.concatenate([a, b])


def ids_path_for(npy_path: PathLike) -> Path:
    """``fused.npy`` -> ``fused.ids.tsv`` (same folder, same stem)."""
    path = Path(npy_path)
    return path.with_name((path.name[:-4] if path.name.endswith(".npy") else path.name) + ".ids.tsv")


def read_pair_ids(path: PathLike, *, what: str | None = None) -> PairIds:
    """Read a pair-id table (``pair_id scaffold genome [label] [probability]``); rejects duplicates.

    The rows are parsed a block at a time into compact columns, so only one block's worth of Python strings
    exists at once (a whole 1e7-row table as lists of strings would take several GB)."""
    name = what or str(path)
    lines = _table_lines(read_text(path), path)
    header = next(lines)[1].split("\t")
    missing = [c for c in ID_COLUMNS if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    if len(set(header)) != len(header):
        raise DataError(f"{name}: duplicate column names in header")
    cols = {c: i for i, c in enumerate(header)}
    blocks = []
    while True:
        block = list(itertools.islice(lines, _ID_BLOCK))
        if not block:
            break
        blocks.append(_parse_id_rows(block, header, cols, path, name))
    ids = PairIds.stack(blocks) if blocks else PairIds(*(np.empty(0, _TEXT) for _ in ID_COLUMNS))
    try:
        ids.check_unique()
    except DataError as exc:
        raise DataError(f"{name}: {exc}") from None
    return ids


def _table_lines(text: str, path: PathLike) -> Iterator[tuple[int, str]]:
    """(number, line) of a TSV's header and data lines, as :func:`microfuse_cli.io.tsv.read_tsv` numbers them (blank
    and ``#`` lines skipped), read a slice of the text at a time."""
    number = 0
    start = 0
    while start < len(text):
        stop = text.find("\n", start + (1 << 22))
        stop = len(text) if stop < 0 else stop
        for line in text[start:stop].split("\n"):
            if line and not line.startswith("#"):
                number += 1
                yield number, line
        start = stop + 1
    if number == 0:
        raise DataError(f"{path}: empty table")


def _parse_id_rows(block: list[tuple[int, str]], header: list[str], cols: dict, path: PathLike, name: str) -> PairIds:
    """One block of ``(line number, line)`` as a :class:`PairIds` (not checked for repeats)."""
    n = len(block)
    pair_id, scaffold, genome = [""] * n, [""] * n, [""] * n
    label = np.full(n, -1, np.int8)
    prob = np.full(n, np.nan)
    ip, isc, ig = cols["pair_id"], cols["scaffold"], cols["genome"]
    il, ipr = cols.get("label"), cols.get("probability")
    for r, (line, text) in enumerate(block):
        fields = text.split("\t")
        if len(fields) != len(header):
            raise DataError(f"{path}: line {line} has {len(fields)} fields, header has {len(header)}")
        pair_id[r], scaffold[r], genome[r] = fields[ip], fields[isc], fields[ig]
        if not fields[ip] or not fields[isc] or not fields[ig]:
            raise DataError(f"{name}: line {line}: empty pair_id, scaffold or genome")
        if il is not None and fields[il] != "":
            if fields[il] not in ("0", "1"):
                raise DataError(f"{name}: line {line}: label must be 0, 1 or empty, not {fields[il]!r}")
            label[r] = int(fields[il])
        if ipr is not None and fields[ipr] != "":
            try:
                value = float(fields[ipr])
            except ValueError:
                raise DataError(f"{name}: line {line}: probability {fields[ipr]!r} is not a number") from None
            if not 0.0 <= value <= 1.0:
                raise DataError(f"{name}: line {line}: probability {fields[ipr]!r} is outside [0, 1]")
            prob[r] = value
    return PairIds(*(np.array(c, dtype=_TEXT) for c in (pair_id, scaffold, genome)), label, prob)


def write_pair_ids(handle: IO[str], ids: PairIds) -> int:
    """Write ``pair_id scaffold genome label probability`` rows; returns the number of rows written. Rows are
    turned into Python objects a block at a time, not all at once."""

    def rows() -> Iterator[tuple]:
        for start in range(0, len(ids), _ID_BLOCK):
            block = slice(start, start + _ID_BLOCK)
            for pid, sc, ge, lab, pr in zip(ids.pair_id[block].tolist(), ids.scaffold[block].tolist(),
                                            ids.genome[block].tolist(), ids.label[block].tolist(),
                                            ids.probability[block].tolist()):
                yield (pid, sc, ge, "" if lab < 0 else lab, "" if math.isnan(pr) else repr(pr))

    return write_tsv(handle, list(PAIRS_COLUMNS), rows())


def read_vectors(npy_path: PathLike) -> tuple[np.ndarray, PairIds]:
    """Read fused vectors ``FILE.npy`` and their ids ``FILE.ids.tsv``, checking that they belong together.

    Returns a float32 (n, d) array (a read-only memory map when the file is already float32, so large
    files are not copied) and the :class:`PairIds`. Raises DataError for a missing/unreadable file, a
    non-2-d or non-float array, NaN/Inf values, zero-norm rows, or a row-count mismatch.
    """
    path = Path(npy_path)
    ids_path = ids_path_for(path)
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    if not ids_path.is_file():
        raise DataError(f"{path}: missing its pair-id table {ids_path.name} (expected beside it)")
    try:
        vectors = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc})") from None
    vectors = _as_matrix(vectors, str(path))
    ids = read_pair_ids(ids_path)
    if len(ids) != len(vectors):
        raise DataError(f"{path}: {len(vectors)} vectors but {ids_path.name} lists {len(ids)} pairs")
    return vectors, ids


def _as_matrix(x: Any, what: str, dim: int | None = None) -> np.ndarray:
    """Validate an (n, d) float matrix (finite, non-zero rows) and return it as float32 without copying if possible."""
    arr = x if isinstance(x, np.ndarray) else np.asarray(x)
    if arr.ndim != 2:
        raise DataError(f"{what}: expected a 2-d array (pairs x dimensions), got {arr.ndim}-d")
    if arr.dtype.kind not in "fiu":
        raise DataError(f"{what}: expected float vectors, got dtype {arr.dtype}")
    if arr.shape[1] == 0:
        raise DataError(f"{what}: vectors have 0 dimensions")
    if dim is not None and arr.shape[1] != dim:
        raise DataError(f"{what}: vectors have {arr.shape[1]} dimensions, the index has {dim}")
    if arr.dtype != np.float32:
        arr = arr.astype(np.float32)
    for start in range(0, len(arr), _CHUNK):
        block = np.asarray(arr[start : start + _CHUNK])
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            raise DataError(f"{what}: row {start + int(np.argmin(finite)) + 1} contains NaN or Inf")
        zero = ~np.any(block != 0, axis=1)
        if zero.any():
            raise DataError(f"{what}: row {start + int(np.argmax(zero)) + 1} is all zeros (cosine undefined)")
    return arr


def _normalised(block: np.ndarray) -> np.ndarray:
    out = np.array(block, dtype=np.float32, order="C", copy=True)
    out /= np.linalg.norm(out, axis=1, keepdims=True)
    return out


# ---------------------------------------------------------------------------------------------------------------
# Search results
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True, eq=False)
class SearchResult:
    """k neighbours of each query, best first.

    ``target`` (nq, k) int64: row of the neighbour in the index (-1 = no neighbour);
    ``similarity`` (nq, k) float32: cosine similarity (NaN where no neighbour; approximate for IVF-PQ);
    ``rank`` (nq, k) int32: 1..k (0 where no neighbour); ``query_ids`` and ``query_genomes``: names and genomes
    of the queries, for rendering. Ties in similarity are ordered by target row, so results are deterministic.
    """

    target: np.ndarray
    similarity: np.ndarray
    rank: np.ndarray
    query_ids: np.ndarray | None = None
    query_genomes: np.ndarray | None = None

    @property
    def k(self) -> int:
        return self.target.shape[1]

    def __len__(self) -> int:
        return self.target.shape[0]


def _finish(distances: np.ndarray, labels: np.ndarray, query_ids: np.ndarray | None,
            query_genomes: np.ndarray | None = None) -> SearchResult:
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
    return SearchResult(labels, sim, rank, query_ids, query_genomes)


def result_rows(result: SearchResult, index: PairIndex, *, with_labels: bool | None = None) -> Iterator[tuple]:
    """Rows ``query target rank similarity target_scaffold target_genome [target_label target_probability]
    query_genome``.

    Missing neighbours (fewer than k available) are skipped. Label columns are added when ``with_labels`` is true,
    or by default when the index knows any label or probability; unknown values are empty, and so is the query
    genome when the search was not told it (``query_genomes``).
    """
    ids = index.ids
    if with_labels is None:
        with_labels = ids.has_labels or ids.has_probability
    qnames = result.query_ids if result.query_ids is not None else np.arange(len(result))
    qgenomes = result.query_genomes if result.query_genomes is not None else np.full(len(result), "", dtype=object)
    for qi in range(len(result)):
        qname, qgenome = qnames[qi], qgenomes[qi]
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
                row += ("" if lab < 0 else lab, "" if math.isnan(pr) else f"{pr:.6g}")
            yield row + (qgenome,)


def write_results(handle: IO[str], result: SearchResult, index: PairIndex, *, with_labels: bool | None = None) -> int:
    """Write search results as TSV (header + :func:`result_rows`); returns the number of rows."""
    if with_labels is None:
        with_labels = index.ids.has_labels or index.ids.has_probability
    header = list(RESULT_COLUMNS) + (list(RESULT_LABEL_COLUMNS) if with_labels else []) + list(RESULT_QUERY_COLUMNS)
    return write_tsv(handle, header, result_rows(result, index, with_labels=with_labels))


# ---------------------------------------------------------------------------------------------------------------
# The index
# ---------------------------------------------------------------------------------------------------------------


@contextlib.contextmanager
def _omp_threads(threads: int | None) -> Iterator[int]:
    faiss = _faiss()
    before = faiss.omp_get_max_threads()
    if threads is None:
        yield before
        return
    if threads < 1:
        raise UsageError(f"threads must be >= 1, not {threads}")
    faiss.omp_set_num_threads(int(threads))
    try:
        yield int(threads)
    finally:
        faiss.omp_set_num_threads(before)


def _default_nlist(n: int) -> int:
    return max(1, min(int(round(4 * math.sqrt(n))), n // 39))


def _default_pq(dim: int, n: int) -> tuple[int, int]:
    """(sub-quantisers, bits): about 4 dimensions per sub-quantiser but at most 64 (at 1e7, 128-d, nprobe 16,
    k_factor 8, 32-byte codes re-rank to recall@10 0.93 where 16-byte codes reach 0.80; 64 bytes at 512-d, 1e6:
    0.97), 8 bits when there is enough training data."""
    target = max(1, min(PQ_MAX_M, dim // 4))
    m = max(x for x in range(1, target + 1) if dim % x == 0)
    nbits = int(max(1, min(8, math.floor(math.log2(max(2, n / 39))))))
    return m, nbits


def _vector_parts(vectors: Any, what: str, dim: int | None = None) -> list[np.ndarray]:
    """One matrix or a sequence of matrices (e.g. one memory map per genome) as a list of validated float32 parts."""
    if isinstance(vectors, (list, tuple)):
        if not vectors:
            raise DataError(f"{what}: no vector files")
        parts = []
        for number, part in enumerate(vectors):
            parts.append(_as_matrix(part, f"{what} (part {number + 1})", dim))
            dim = parts[0].shape[1]
        return parts
    return [_as_matrix(vectors, what, dim)]


def _rows_of(parts: Sequence[np.ndarray], rows: np.ndarray) -> np.ndarray:
    """Rows ``rows`` (sorted, counted across all parts) of the parts stacked, reading only those rows."""
    bounds = np.cumsum([0] + [len(p) for p in parts])
    out = [np.asarray(p[rows[(rows >= lo) & (rows < hi)] - lo]) for p, lo, hi in zip(parts, bounds[:-1], bounds[1:])]
    return np.concatenate(out)


def _refine_settings(kind: str, refine: str | None, k_factor: int | None, dim: int) -> tuple[str, int]:
    """Validate refine / k_factor: only IVF-PQ re-ranks (the other kinds keep full vectors)."""
    if refine is not None and refine not in REFINES:
        raise UsageError(f"refine must be one of {', '.join(REFINES)}, not {refine!r}")
    if kind != "ivfpq":
        if refine not in (None, "none"):
            raise UsageError(f"refine applies to ivfpq indexes only (this one is {kind}: its vectors are exact)")
        return "none", 1
    if refine is None:
        refine = "fp16" if dim <= FP16_REFINE_MAX_DIM else DEFAULT_REFINE
    k_factor = DEFAULT_K_FACTOR if k_factor is None else k_factor
    if isinstance(k_factor, bool) or int(k_factor) != k_factor or k_factor < 1:
        raise UsageError(f"k_factor must be a positive integer, not {k_factor!r}")
    return refine, int(k_factor)


def _refine_index(faiss: Any, refine: str, dim: int) -> Any:
    if refine == "flat":
        return faiss.IndexFlatIP(dim)
    qtype = {"sq8": faiss.ScalarQuantizer.QT_8bit, "fp16": faiss.ScalarQuantizer.QT_fp16}[refine]
    return faiss.IndexScalarQuantizer(dim, qtype, faiss.METRIC_INNER_PRODUCT)


def _trained_ivf(faiss: Any, kind: str, parts: Sequence[np.ndarray], n: int, dim: int, dev: str, params: dict, *,
                 seed: int, train_sample: int | None, nlist: int | None, pq_m: int | None, pq_nbits: int | None,
                 refine: str) -> Any:
    """An IVF-Flat or IVF-PQ index (wrapped in ``IndexRefine`` when refining) trained on a sample of the vectors."""
    nl = _default_nlist(n) if nlist is None else int(nlist)
    if not 1 <= nl <= n:
        raise UsageError(f"nlist must be between 1 and the number of vectors ({n}), not {nl}")
    quantizer = faiss.IndexFlatIP(dim)
    if kind == "ivf":
        cpu = faiss.IndexIVFFlat(quantizer, dim, nl, faiss.METRIC_INNER_PRODUCT)
    else:
        m0, b0 = _default_pq(dim, n)
        m = m0 if pq_m is None else int(pq_m)
        nbits = b0 if pq_nbits is None else int(pq_nbits)
        if m < 1 or dim % m:
            raise UsageError(f"pq_m must divide the dimension {dim}, not {m}")
        if not 1 <= nbits <= 16:
            raise UsageError(f"pq_nbits must be between 1 and 16, not {nbits}")
        cpu = faiss.IndexIVFPQ(quantizer, dim, nl, m, nbits, faiss.METRIC_INNER_PRODUCT)
        cpu.pq.cp.seed = int(seed)
        params.update(pq_m=m, pq_nbits=nbits)
    cpu.cp.seed = int(seed)
    cpu.cp.niter = KMEANS_ITERATIONS
    params["nlist"] = nl
    sample = max(40 * nl, 10000) if train_sample is None else train_sample
    sample = min(int(sample), n)
    if sample < nl:
        raise UsageError(f"train_sample ({sample}) must be at least nlist ({nl})")
    params["train_sample"] = sample
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=sample, replace=False)) if sample < n else np.arange(n)
    train = _normalised(_rows_of(parts, rows))
    log.info("training %s index: %d lists on %d vectors", kind, nl, sample)
    if dev == "cuda":
        gpu = faiss.index_cpu_to_gpu(faiss.StandardGpuResources(), 0, cpu, _cloner_options(faiss, kind))
        gpu.train(train)
        cpu = faiss.index_gpu_to_cpu(gpu)
        del gpu
    else:
        cpu.train(train)
    if refine == "none":
        return cpu
    fine = _refine_index(faiss, refine, dim)
    fine.train(train)  # scalar quantisers learn each dimension's range; flat needs nothing
    return faiss.IndexRefine(cpu, fine)  # faiss' Python layer keeps both parts alive with the wrapper


def _payload_bytes(faiss: Any, index: Any) -> float:
    """Bytes per vector a FAISS index holds in memory (codes, list ids, graph links), from its own code sizes."""
    index = faiss.downcast_index(index)
    if isinstance(index, faiss.IndexRefine):
        return _payload_bytes(faiss, index.base_index) + _payload_bytes(faiss, index.refine_index)
    if isinstance(index, faiss.IndexIVF):
        return float(index.code_size + 8)  # codes + the 64-bit id stored in the inverted list
    if isinstance(index, faiss.IndexHNSW):
        return _payload_bytes(faiss, index.storage) + 4 * 2 * index.hnsw.nb_neighbors(0)
    return float(index.sa_code_size())


def _resolve_device(device: str) -> str:
    if device not in DEVICES:
        raise UsageError(f"device must be one of {', '.join(DEVICES)}, not {device!r}")
    gpus = _faiss().get_num_gpus()
    if device == "cuda" and gpus == 0:
        raise UsageError("device 'cuda' asked for, but FAISS sees no GPU (faiss-gpu build and a CUDA device needed)")
    if device == "auto":
        return "cuda" if gpus > 0 else "cpu"
    return device


class PairIndex:
    """Cosine-similarity index over fused pair vectors, searched across groups (scaffolds or genomes).

    Build with :meth:`build`, grow with :meth:`append`, persist with :meth:`save` / :meth:`load`,
    query with :meth:`search` / :meth:`search_all`.
    """

    def __init__(
        self,
        index: Any,
        ids: PairIds,
        *,
        kind: str,
        group_by: str,
        device: str = "cpu",
        params: dict | None = None,
    ) -> None:
        self._index = index  # CPU index, or GPU index when device == "cuda"
        self._cpu_copy: Any = None  # CPU copy of a GPU index (selector fallback), made lazily
        self.kind = kind
        self.group_by = group_by
        self.device = device
        self.params = dict(params or {})
        self._ids = ids
        self._groups_ready = False
        self._genomes: np.ndarray | None = None  # genome names in the index, sorted (pair ids are unique within one)

    # -- properties ----------------------------------------------------------------------------------------
    @property
    def ids(self) -> PairIds:
        return self._ids

    @property
    def dim(self) -> int:
        return int(self._index.d)

    @property
    def ntotal(self) -> int:
        return int(self._index.ntotal)

    def __len__(self) -> int:
        return self.ntotal

    def __repr__(self) -> str:
        return f"PairIndex(kind={self.kind!r}, n={self.ntotal}, dim={self.dim}, group_by={self.group_by!r}, device={self.device!r})"

    def _set_groups(self) -> None:
        """Mark the group tables stale; they are rebuilt on the next search (cheap appends)."""
        self._groups_ready = False

    def _ensure_groups(self) -> None:
        if self._groups_ready:
            return
        self._groups_ready = True
        self._by_genome = self.group_by == "scaffold" and self._ids.scaffolds_collide()
        values = self._ids.groups(self.group_by, by_genome=self._by_genome)
        keys, codes = _unique(values, inverse=True)
        self._group_keys = keys
        self._group_codes = codes
        self._group_sizes = np.bincount(self._group_codes, minlength=len(keys)).astype(np.int64)
        self._group_order = np.argsort(self._group_codes, kind="stable").astype(np.int64)
        self._group_offsets = np.concatenate([[0], np.cumsum(self._group_sizes)]).astype(np.int64)

    def query_groups(self, ids: PairIds) -> np.ndarray:
        """The group of each query pair as this index names its groups (for :meth:`search`)."""
        self._ensure_groups()
        return ids.groups(self.group_by, by_genome=self._by_genome)

    def _members(self, code: int) -> np.ndarray:
        return self._group_order[self._group_offsets[code] : self._group_offsets[code + 1]]

    def _codes_for(self, groups: np.ndarray) -> np.ndarray:
        """Group code of each query group, -1 for a group the index does not contain."""
        keys = self._group_keys
        groups = np.asarray(groups)
        if len(keys) == 0 or len(groups) == 0:
            return np.full(len(groups), -1, np.int64)
        return _positions(*_same_kind(keys, groups))

    # -- building --------------------------------------------------------------------------------------------
    @classmethod
    def build(
        cls,
        vectors: np.ndarray | Sequence[np.ndarray],
        ids: PairIds,
        *,
        index: IndexKind = "auto",
        group_by: GroupBy = "scaffold",
        device: Device = "auto",
        seed: int = 0,
        train_sample: int | None = None,
        nlist: int | None = None,
        pq_m: int | None = None,
        pq_nbits: int | None = None,
        refine: Refine | None = None,
        k_factor: int | None = None,
        hnsw_m: int = HNSW_M,
        threads: int | None = None,
        progress: Advance | None = None,
    ) -> PairIndex:
        """Build an index over ``vectors`` (n, d) whose rows are described by ``ids``.

        Arguments:
            vectors: one (n, d) array, or several (e.g. memory-mapped ``.npy`` files, one per genome) whose rows are
                indexed in order; they are read chunk by chunk, never concatenated.
            index: ``flat`` (exact), ``ivf`` (IVF-Flat), ``hnsw``, ``ivfpq``, or ``auto``: flat up to
                :data:`AUTO_FLAT_MAX` vectors, IVF-Flat up to :data:`AUTO_IVF_MAX`, IVF-PQ beyond.
            group_by: a search excludes the query's own ``scaffold`` or ``genome``.
            device: ``cuda`` puts flat/IVF/IVF-PQ indexes on the GPU(s) (sharded over several); HNSW stays on CPU.
            seed: seeds the training sample and k-means.
            train_sample: vectors used to train IVF / PQ (default ``max(40 * nlist, 10000)``, at most n).
            nlist: IVF lists (default ``4 * sqrt(n)``, at most n / 39). pq_m / pq_nbits: PQ code shape
                (default about 8 dimensions per sub-quantiser, 8 bits). hnsw_m: HNSW graph degree.
            refine: IVF-PQ only: re-rank candidates with ``sq8``, ``fp16`` or ``flat`` (float32) copies of the
                vectors, or ``none``; default fp16 up to :data:`FP16_REFINE_MAX_DIM` dimensions, sq8 beyond. k_factor: candidates re-ranked per asked-for neighbour (default
                :data:`DEFAULT_K_FACTOR`; a search may override it).
            threads: OpenMP threads for FAISS (default: FAISS' own default).
            progress: called with the number of vectors added after each chunk.

        Raises:
            UsageError: unknown option values. DataError: bad vectors or ids.
        """
        if index not in ("auto", *INDEX_KINDS):
            raise UsageError(f"index must be one of auto, {', '.join(INDEX_KINDS)}, not {index!r}")
        if group_by not in GROUP_BYS:
            raise UsageError(f"group_by must be one of {', '.join(GROUP_BYS)}, not {group_by!r}")
        parts = _vector_parts(vectors, "vectors")
        if not isinstance(ids, PairIds):
            raise UsageError("ids must be a PairIds")
        n, dim = sum(len(p) for p in parts), parts[0].shape[1]
        if len(ids) != n:
            raise DataError(f"{n} vectors but {len(ids)} pair ids")
        if n == 0:
            raise DataError("no vectors to index")
        ids.check_unique()
        dev = _resolve_device(device)
        kind = index
        if kind == "auto":
            kind = "flat" if n <= AUTO_FLAT_MAX else ("ivf" if n <= AUTO_IVF_MAX else "ivfpq")
        refine, k_factor = _refine_settings(kind, refine, k_factor, dim)
        faiss = _faiss()
        params: dict = {"seed": int(seed)}
        with _omp_threads(threads):
            if kind == "flat":
                cpu = faiss.IndexFlatIP(dim)
            elif kind == "hnsw":
                if hnsw_m < 2:
                    raise UsageError(f"hnsw_m must be >= 2, not {hnsw_m}")
                cpu = faiss.IndexHNSWFlat(dim, int(hnsw_m), faiss.METRIC_INNER_PRODUCT)
                cpu.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
                params["hnsw_m"] = int(hnsw_m)
            else:
                cpu = _trained_ivf(faiss, kind, parts, n, dim, dev, params, seed=seed, train_sample=train_sample,
                                   nlist=nlist, pq_m=pq_m, pq_nbits=pq_nbits, refine=refine)
                if refine != "none":
                    params.update(refine=refine, k_factor=k_factor)
            if kind == "ivfpq" and refine == "none":
                params["refine"] = "none"
            built = cls(cpu, PairIds(ids.pair_id[:0], ids.scaffold[:0], ids.genome[:0]), kind=kind, group_by=group_by, params=params)
            if dev == "cuda":
                built._to_gpu()
            built._add(parts, progress)
        built._ids = ids
        built._set_groups()
        return built

    @property
    def refined(self) -> bool:
        """Whether searches re-rank PQ candidates with finer codes (an IVF-PQ index built with ``refine``)."""
        return self.params.get("refine", "none") != "none"

    def _to_gpu(self) -> None:
        """Move the index to the GPU(s): the whole index, or for a refined IVF-PQ its PQ stage only (the
        re-ranking codes stay in host memory and re-score the GPU's candidates on the CPU)."""
        faiss = _faiss()
        if self.kind == "hnsw":
            warnings.warn("FAISS has no GPU HNSW; the HNSW index stays on the CPU", stacklevel=3)
            self.device = "cpu"
            return
        cpu = self._index
        base = faiss.downcast_index(cpu.base_index) if self.refined else cpu
        co = _cloner_options(faiss, self.kind)
        if faiss.get_num_gpus() > 1:
            co_multi = faiss.GpuMultipleClonerOptions()
            co_multi.shard = True
            co_multi.useFloat16 = co.useFloat16
            gpu = faiss.index_cpu_to_all_gpus(base, co=co_multi)
        else:
            self._gpu_res = faiss.StandardGpuResources()
            gpu = faiss.index_cpu_to_gpu(self._gpu_res, 0, base, co)
        self._gpu_base = gpu
        if self.refined:
            self._refine_part = faiss.downcast_index(cpu.refine_index)
            self._host_index = cpu  # owns the refine codes, shared with the GPU wrapper
            gpu = faiss.IndexRefine(gpu, self._refine_part)
        self._index = gpu
        self._cpu_copy = None
        self.device = "cuda"

    def _cpu_index(self) -> Any:
        if self.device != "cuda":
            return self._index
        if self._cpu_copy is None:
            faiss = _faiss()
            base = faiss.index_gpu_to_cpu(self._gpu_base)
            self._cpu_copy = faiss.IndexRefine(base, self._refine_part) if self.refined else base
        return self._cpu_copy

    def _add(self, parts: Sequence[np.ndarray], progress: Advance | None) -> None:
        for vectors in parts:
            for start in range(0, len(vectors), _CHUNK):
                block = _normalised(vectors[start : start + _CHUNK])
                self._index.add(block)
                if progress is not None:
                    progress(len(block))
        self._cpu_copy = None

    def append(self, vectors: np.ndarray | Sequence[np.ndarray], ids: PairIds, *, threads: int | None = None,
               progress: Advance | None = None) -> None:
        """Add pairs (e.g. new genomes; one array or several, read chunk by chunk). Trained indexes keep their
        quantiser (and refine codes their ranges); the exact index gives the same answers as building once over
        everything. Rejects pair ids already in the index."""
        parts = _vector_parts(vectors, "vectors", dim=self.dim)
        n = sum(len(p) for p in parts)
        if len(ids) != n:
            raise DataError(f"{n} vectors but {len(ids)} pair ids")
        ids.check_unique()
        self._check_new(ids)
        with _omp_threads(threads):
            self._add(parts, progress)
        self._genomes = _unique(np.concatenate(_same_kind(self._genomes, ids.genome)))
        self._ids = self._ids.concat(ids)
        self._set_groups()

    @property
    def bytes_per_pair(self) -> float:
        """Memory the FAISS index takes per indexed pair (codes, list ids, re-ranking codes); the pair-id table
        (compact numpy strings: about 90 bytes per pair for locus-tag ids, benchmarks/pair_ids_memory.py) comes on
        top."""
        return _payload_bytes(_faiss(), self._cpu_index())

    def _check_new(self, ids: PairIds) -> None:
        """Raise DataError for a (genome, pair_id) already indexed. Only genomes already in the index can clash, so
        only their pairs are looked at: a set of every key would cost ~200 bytes per pair (2 GB at 1e7)."""
        if self._genomes is None:
            self._genomes = _unique(self._ids.genome)
        _check_disjoint(self._ids, ids, _common(self._genomes, ids.genome))

    # -- persistence -----------------------------------------------------------------------------------------
    def save(self, path: PathLike, *, overwrite: bool = True) -> None:
        """Write ``index.faiss``, ``pairs.tsv`` and ``manifest.json`` into folder ``path`` (atomically)."""
        faiss = _faiss()
        cpu = self._cpu_index()
        with atomic_directory(path, overwrite=overwrite) as tmp:
            faiss.write_index(cpu, str(tmp / INDEX_FILE))
            with atomic_output(tmp / PAIRS_FILE) as handle:
                write_pair_ids(handle, self._ids)
            write_manifest(tmp, PAIR_INDEX, (INDEX_FILE, PAIRS_FILE), {
                "index_type": self.kind,
                "faiss_class": type(cpu).__name__,
                "dim": self.dim,
                "count": self.ntotal,
                "metric": "cosine",
                "group_by": self.group_by,
                "params": self.params,
                "bytes_per_pair": self.bytes_per_pair,
            })

    @classmethod
    def load(cls, path: PathLike, *, device: Device = "auto") -> PairIndex:
        """Load an index folder written by :meth:`save`, verifying manifest, paths and checksums first.

        Raises DataError for a missing folder/file, a foreign or newer manifest, a manifest path that leaves the
        folder (``..`` or absolute), a checksum mismatch, or counts/dimensions that disagree.
        """
        folder = Path(path)
        manifest = read_manifest(folder, PAIR_INDEX, required=(INDEX_FILE, PAIRS_FILE), upgrade=_index_from_version_1)
        mpath = folder / MANIFEST
        kind, group_by, dim, count = (manifest.get(k) for k in ("index_type", "group_by", "dim", "count"))
        if kind not in INDEX_KINDS or group_by not in GROUP_BYS or manifest.get("metric") != "cosine":
            raise DataError(f"{mpath}: unknown index_type, group_by or metric")
        if not isinstance(dim, int) or not isinstance(count, int) or dim < 1 or count < 0:
            raise DataError(f"{mpath}: dim and count must be non-negative integers")
        index_path, pairs_path = folder / INDEX_FILE, folder / PAIRS_FILE
        faiss = _faiss()
        try:
            cpu = faiss.read_index(str(index_path))
        except RuntimeError as exc:
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
            raise DataError(f"{index_path}: not a readable FAISS index ({first})") from None
        params = manifest.get("params") if isinstance(manifest.get("params"), dict) else {}
        _check_index_type(faiss, cpu, kind, params, index_path)
        if cpu.d != dim or cpu.ntotal != count:
            raise DataError(f"{index_path}: holds {cpu.ntotal} x {cpu.d} vectors, manifest says {count} x {dim}")
        ids = read_pair_ids(pairs_path)
        if len(ids) != count:
            raise DataError(f"{pairs_path}: lists {len(ids)} pairs, manifest says {count}")
        loaded = cls(cpu, ids, kind=kind, group_by=group_by, params=params)
        if _resolve_device(device) == "cuda":
            loaded._to_gpu()
        return loaded

    # -- searching -------------------------------------------------------------------------------------------
    def search(
        self,
        query_vectors: np.ndarray,
        query_groups: Sequence | np.ndarray,
        k: int,
        *,
        nprobe: int | None = None,
        efSearch: int | None = None,
        threads: int | None = None,
        query_ids: Sequence | np.ndarray | None = None,
        query_genomes: Sequence | np.ndarray | None = None,
        exclusion: Exclusion = "auto",
        k_factor: int | None = None,
        progress: Advance | None = None,
    ) -> SearchResult:
        """The ``k`` most cosine-similar indexed pairs of each query, never from the query's own group.

        Arguments:
            query_vectors: (nq, d) vectors (normalised here). query_groups: the scaffold (or genome, as the index
                groups) of each query; a group unknown to the index excludes nothing. When one scaffold name occurs
                in several indexed genomes, scaffold groups are genome-qualified: pass ``query_groups(ids)``.
            nprobe: IVF lists probed (default :data:`DEFAULT_NPROBE`); efSearch: HNSW beam width (default
                :data:`DEFAULT_EF_SEARCH`, at least k). threads: FAISS threads. query_ids, query_genomes: names
                and genomes of the queries, for rendering.
            exclusion: ``auto`` (see module docstring), or force ``selector`` / ``overfetch`` (tests, benchmarks).
            k_factor: refined IVF-PQ: candidates re-ranked per wanted neighbour (default: the build's ``k_factor``).
            progress: called with the number of queries finished.

        Fewer than k neighbours (target -1) come back only when fewer than k indexed pairs lie outside the group;
        k is capped at the number of indexed pairs (a huge k would allocate queries x k for nothing).
        """
        if isinstance(k, bool) or int(k) != k or k < 1:
            raise UsageError(f"k must be a positive integer, not {k!r}")
        k = max(1, min(int(k), self.ntotal))  # more neighbours than indexed pairs cannot exist (--k 100000)
        if exclusion not in ("auto", "selector", "overfetch"):
            raise UsageError(f"exclusion must be auto, selector or overfetch, not {exclusion!r}")
        if nprobe is not None and nprobe < 1:
            raise UsageError(f"nprobe must be >= 1, not {nprobe}")
        if efSearch is not None and efSearch < 1:
            raise UsageError(f"efSearch must be >= 1, not {efSearch}")
        if k_factor is not None and (isinstance(k_factor, bool) or int(k_factor) != k_factor or k_factor < 1):
            raise UsageError(f"k_factor must be a positive integer, not {k_factor!r}")
        kf = int(self.params.get("k_factor", 1) if k_factor is None else k_factor) if self.refined else 1
        q = _as_matrix(query_vectors, "query vectors", dim=self.dim)
        groups = np.asarray(query_groups)
        if groups.shape != (len(q),):
            raise DataError(f"{len(q)} query vectors but {len(groups)} query groups")
        if query_ids is not None:
            query_ids = np.asarray(query_ids)
            if query_ids.shape != (len(q),):
                raise DataError(f"{len(q)} query vectors but {len(query_ids)} query ids")
        if query_genomes is not None:
            query_genomes = np.asarray(query_genomes)
            if query_genomes.shape != (len(q),):
                raise DataError(f"{len(q)} query vectors but {len(query_genomes)} query genomes")
        self._ensure_groups()
        if self._by_genome and not _all_contain(groups, GROUP_SEP):
            raise UsageError("this index holds scaffolds of one name in several genomes: give query groups from "
                             "index.query_groups(ids)")
        own = self._codes_for(groups)
        with _omp_threads(threads) as nthreads:
            dist, lab = self._search_codes(q, own, k, nprobe, efSearch, exclusion, nthreads, progress, kf)
        return _finish(dist, lab, query_ids, query_genomes)

    def search_all(self, k: int, *, vectors: np.ndarray | None = None, **kwargs: Any) -> SearchResult:
        """Search with every indexed pair as a query (in index order), excluding each one's own group.

        ``vectors``: the original vectors in index order; by default they are read back from the index (exact
        for flat / IVF / HNSW, from the re-ranking codes for refined IVF-PQ (exact with ``refine="flat"``),
        PQ-approximated for IVF-PQ without refine, so pass them there). Other arguments as :meth:`search`.
        """
        groups = self.query_groups(self._ids)
        if vectors is not None:
            if len(vectors) != self.ntotal:
                raise DataError(f"{len(vectors)} vectors given, the index holds {self.ntotal}")
            return self.search(vectors, groups, k, query_ids=self._ids.pair_id, query_genomes=self._ids.genome,
                               **kwargs)
        if self.kind == "ivfpq" and not self.refined:
            warnings.warn("search_all on IVF-PQ without vectors uses PQ-decoded queries", stacklevel=2)
        # queries read back block by block: 1e7 x 512 float32 queries at once would be 20 GB
        parts = [self.search(self._reconstruct(start, min(start + _QUERY_BLOCK, self.ntotal)),
                             groups[start : start + _QUERY_BLOCK], k, **kwargs)
                 for start in range(0, self.ntotal, _QUERY_BLOCK)]
        return SearchResult(*(np.concatenate([getattr(r, name) for r in parts]) if parts else
                              np.zeros((0, min(k, max(self.ntotal, 1))), dtype)
                              for name, dtype in (("target", np.int64), ("similarity", np.float32), ("rank", np.int32))),
                            query_ids=self._ids.pair_id, query_genomes=self._ids.genome)

    def _reconstruct(self, start: int, stop: int) -> np.ndarray:
        faiss = _faiss()
        cpu = self._cpu_index()
        if self.kind in ("ivf", "ivfpq") and not self.refined:  # refine codes are stored in row order already
            ivf = faiss.extract_index_ivf(cpu)
            if ivf.direct_map.type == faiss.DirectMap.NoMap:
                ivf.make_direct_map()
        return cpu.reconstruct_n(start, stop - start)

    def _search_params(self, nprobe: int, ef: int, sel: Any = None, kf: int = 1) -> Any:
        faiss = _faiss()
        if self.kind in ("ivf", "ivfpq"):
            p = faiss.SearchParametersIVF()
            p.nprobe = nprobe
        elif self.kind == "hnsw":
            p = faiss.SearchParametersHNSW()
            p.efSearch = ef
        else:
            p = faiss.SearchParameters()
        if sel is not None:
            p.sel = sel
        if not self.refined:
            return p
        outer = faiss.IndexRefineSearchParameters()  # the PQ stage's settings (and selector) go inside
        outer.k_factor = float(kf)
        outer.base_index_params = p
        outer.inner = p  # base_index_params is a bare pointer: keep its Python object alive with the outer one
        return outer

    def _max_effort(self) -> tuple[int, int]:
        return (int(self.params.get("nlist", 1)), max(self.ntotal, 1))

    def _search_codes(self, q, own, k, nprobe, ef, exclusion, nthreads, progress, kf=1):
        nq = len(q)
        dist = np.full((nq, k), -np.inf, np.float32)
        lab = np.full((nq, k), -1, np.int64)
        if nq == 0 or self.ntotal == 0:
            return dist, lab
        nprobe = min(DEFAULT_NPROBE if nprobe is None else int(nprobe), self._max_effort()[0])
        ef = max(DEFAULT_EF_SEARCH if ef is None else int(ef), k)
        if exclusion == "auto":
            # one batched search + filter is several times faster than a selector call per group; HNSW keeps
            # selectors (its beam would have to grow with k + g)
            exclusion = "overfetch" if (self.kind != "hnsw" or self.device == "cuda") else "selector"
        sizes = np.where(own >= 0, self._group_sizes[np.maximum(own, 0)], 0)
        if exclusion == "overfetch":
            # on a GPU the PQ stage returns at most GPU_MAX_K candidates: k_factor x fetch of them when refining
            cap = min(MAX_OVERFETCH, GPU_MAX_K // kf) if self.device == "cuda" else MAX_OVERFETCH
            fits = k + sizes <= cap
            rows = np.flatnonzero(fits)
            if len(rows):
                self._overfetch(q, own, sizes, rows, k, nprobe, ef, cap, dist, lab, progress, kf)
            rest = np.flatnonzero(~fits)
        else:
            rest = np.arange(nq)
        if len(rest):
            self._selector(self._cpu_index(), q, own, rest, k, nprobe, ef, nthreads, dist, lab, progress, kf)
        # approximate indexes: refill queries that came back short although enough other-group rows exist
        available = self.ntotal - sizes
        short = np.flatnonzero((lab[:, k - 1] < 0) & (available >= k))
        max_nprobe, max_ef = self._max_effort()
        while len(short) and self.kind != "flat" and (nprobe < max_nprobe or ef < max_ef):
            nprobe, ef = min(2 * nprobe, max_nprobe), min(2 * ef, max_ef)
            log.debug("%d queries short of %d hits: retrying with nprobe=%d efSearch=%d", len(short), k, nprobe, ef)
            self._selector(self._cpu_index(), q, own, short, k, nprobe, ef, nthreads, dist, lab, None, kf)
            short = short[(lab[short, k - 1] < 0)]
        return dist, lab

    def _overfetch(self, q, own, sizes, rows, k, nprobe, ef, cap, dist, lab, progress, kf=1) -> None:
        """Fetch k + own-group-size neighbours, drop own-group rows, keep the first k; grow when needed."""
        faiss = _faiss()
        index = self._index
        on_gpu = self.device == "cuda"
        if on_gpu and self.kind in ("ivf", "ivfpq"):
            faiss.GpuParameterSpace().set_index_parameter(self._gpu_base, "nprobe", min(nprobe, GPU_MAX_K))
            if self.refined:
                index.k_factor = float(kf)
        params = None if on_gpu else self._search_params(nprobe, ef, kf=kf)
        limit = min(cap, self.ntotal)
        # bucket queries by fetch size (next power of two of k + g) so each call is one batch
        need = np.minimum(k + sizes[rows], limit)
        bucket = np.minimum(2 ** np.ceil(np.log2(np.maximum(need, 1))).astype(np.int64), limit)
        for fetch in np.unique(bucket):
            pending = rows[bucket == fetch]
            fetch = int(fetch)
            while len(pending):
                for start in range(0, len(pending), _CHUNK):
                    part = pending[start : start + _CHUNK]
                    qb = _normalised(q[part])
                    d, i = index.search(qb, fetch) if params is None else index.search(qb, fetch, params=params)
                    keep = (i >= 0) & (self._group_codes[np.maximum(i, 0)] != own[part][:, None])
                    order = np.argsort(~keep, axis=1, kind="stable")[:, :k]
                    got = np.take_along_axis(keep, order, axis=1)
                    lab[part, : order.shape[1]] = np.where(got, np.take_along_axis(i, order, axis=1), -1)
                    dist[part, : order.shape[1]] = np.where(got, np.take_along_axis(d, order, axis=1), -np.inf)
                    if progress is not None:
                        progress(len(part))
                # a short row whose fetched list was full may have more candidates: fetch more
                full = lab[pending, k - 1] < 0
                if fetch >= limit or not full.any():
                    break
                pending = pending[full]
                fetch = min(2 * fetch, limit)
                progress = None  # re-searched rows were counted already

    def _selector(self, index, q, own, rows, k, nprobe, ef, nthreads, dist, lab, progress, kf=1) -> None:
        """Search ``rows`` group by group with an ID selector that removes the group's rows."""
        faiss = _faiss()
        order = rows[np.argsort(own[rows], kind="stable")]
        codes = own[order]
        cuts = np.flatnonzero(np.diff(codes)) + 1
        tasks = []
        for part in np.split(order, cuts):
            for start in range(0, len(part), _SELECTOR_BATCH):
                tasks.append(part[start : start + _SELECTOR_BATCH])

        def run(part: np.ndarray) -> int:
            code = int(own[part[0]])
            sel = inner = members = None
            if code >= 0:
                members = self._members(code)
                if members[-1] - members[0] + 1 == len(members):
                    inner = faiss.IDSelectorRange(int(members[0]), int(members[-1]) + 1)
                else:
                    inner = faiss.IDSelectorBatch(len(members), faiss.swig_ptr(members))
                sel = faiss.IDSelectorNot(inner)
            params = self._search_params(nprobe, ef, sel, kf)
            d, i = index.search(_normalised(q[part]), k, params=params)
            dist[part] = d
            lab[part] = i
            del sel, inner, members  # the selectors had to outlive the search call
            return len(part)

        big = [t for t in tasks if len(t) >= _POOL_MIN]
        small = [t for t in tasks if len(t) < _POOL_MIN]
        for part in big:
            done = run(part)
            if progress is not None:
                progress(done)
        if not small:
            return
        if nthreads <= 1 or len(small) == 1:
            for part in small:
                done = run(part)
                if progress is not None:
                    progress(done)
            return
        # many small groups: one search per group, in parallel Python threads (FAISS releases the GIL),
        # each with a single OpenMP thread (omp_set_num_threads is per calling thread)
        with concurrent.futures.ThreadPoolExecutor(max_workers=nthreads, initializer=faiss.omp_set_num_threads, initargs=(1,)) as pool:
            for done in pool.map(run, small, chunksize=16):
                if progress is not None:
                    progress(done)


def _all_contain(values: np.ndarray, part: str) -> bool:
    """Whether every value, as text, contains ``part``."""
    text = _as_text(values)
    if text.dtype.kind == "T":
        return bool((np.strings.find(text, part) >= 0).all())
    return all(part in str(v) for v in text.tolist())


def _check_index_type(faiss: Any, cpu: Any, kind: str, params: dict, path: Path) -> None:
    """Raise DataError unless the FAISS index is what the manifest says (kind, metric, refine code)."""
    expected = {"flat": faiss.IndexFlat, "ivf": faiss.IndexIVFFlat, "hnsw": faiss.IndexHNSWFlat, "ivfpq": faiss.IndexIVFPQ}
    refine = params.get("refine", "none")
    what = kind if refine == "none" else f"{kind} refined by {refine}"
    base = faiss.downcast_index(cpu.base_index) if isinstance(cpu, faiss.IndexRefine) else cpu
    fine = faiss.downcast_index(cpu.refine_index) if isinstance(cpu, faiss.IndexRefine) else None
    fine_type = {"none": type(None), "flat": faiss.IndexFlat, "sq8": faiss.IndexScalarQuantizer,
                 "fp16": faiss.IndexScalarQuantizer}.get(refine)
    if (fine_type is None or not isinstance(base, expected[kind]) or not isinstance(fine, fine_type)
            or cpu.metric_type != faiss.METRIC_INNER_PRODUCT):
        raise DataError(f"{path}: a {type(cpu).__name__} index, manifest says {what} (inner product)")
    qtype = {"sq8": faiss.ScalarQuantizer.QT_8bit, "fp16": faiss.ScalarQuantizer.QT_fp16}.get(refine)
    if qtype is not None and fine.sq.qtype != qtype:
        raise DataError(f"{path}: its re-ranking codes are not {refine}, as the manifest says")
    k_factor = params.get("k_factor", 1)
    if isinstance(k_factor, bool) or not isinstance(k_factor, int) or k_factor < 1:
        raise DataError(f"{path}: manifest k_factor must be a positive integer, not {k_factor!r}")


def _cloner_options(faiss: Any, kind: str) -> Any:
    co = faiss.GpuClonerOptions()
    if kind == "ivfpq":
        co.useFloat16 = True  # 64 sub-quantisers x 256 codes needs float16 lookup tables in shared memory
    return co



def _index_from_version_1(manifest: dict, path: Path) -> dict:
    """A version-1 index manifest (``files``: role -> path and SHA-256) in the version-2 layout; a path that
    leaves the folder is refused."""
    if manifest.get("format_version") != 1:
        return manifest
    files = manifest.get("files")
    if not isinstance(files, dict) or not all(isinstance(files.get(k), dict) for k in ("index", "pairs")):
        raise DataError(f"{path}: manifest lists no index and pairs files")
    hashes = {}
    for role, entry in files.items():
        member = _safe_member(path.parent, entry.get("path") if isinstance(entry, dict) else None, path)
        hashes[member.relative_to(path.parent).as_posix()] = entry.get("sha256")
    return {**{k: v for k, v in manifest.items() if k != "files"}, "files_sha256": hashes}


def _safe_member(folder: Path, name: Any, manifest: Path) -> Path:
    """Resolve a manifest file entry inside ``folder``; refuse absolute paths, ``..`` and escapes via links."""
    if not isinstance(name, str) or not name or "\x00" in name:
        raise DataError(f"{manifest}: invalid file entry {name!r}")
    parts = name.replace("\\", "/").split("/")
    if PurePosixPath(name).is_absolute() or PureWindowsPath(name).is_absolute() or name.startswith(("/", "\\")) \
            or PureWindowsPath(name).drive or ".." in parts:
        raise DataError(f"{manifest}: refusing file entry {name!r} (path outside the index folder)")
    path = folder / name
    root = folder.resolve()
    try:
        path.resolve().relative_to(root)
    except ValueError:
        raise DataError(f"{manifest}: refusing file entry {name!r} (resolves outside the index folder)") from None
    return path


# ---------------------------------------------------------------------------------------------------------------
# Retrieval evaluation (the paper's table)
# ---------------------------------------------------------------------------------------------------------------


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
