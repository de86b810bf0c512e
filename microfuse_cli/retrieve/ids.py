"""Pair identifiers: the table naming every fused pair vector (pair id, scaffold, genome, label, probability).

Inputs come from the scoring stage: ``FILE.npy`` (float32, n x d) and ``FILE.ids.tsv`` beside it (one header line;
columns ``pair_id scaffold genome`` and optionally ``label`` (0/1/empty) and ``probability``; row order is vector
order; a first ``#`` line records the model's identity, see models.py), read with :func:`read_vectors`.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, Iterator, NamedTuple, Sequence

import numpy as np

from ..errors import DataError, UsageError
from ..io.files import PathLike, read_text
from ..io.model_id import checked_model, comment_model, leading_comments, model_comment
from ..io.tables import FUSED_ID_COLUMNS, fused_id_rows, label_error, parse_label
from ..io.tsv import write_tsv
from ..records import read_only
from .models import one_model, same_model

GROUP_BYS = ("scaffold", "genome")
PAIRS_COLUMNS = FUSED_ID_COLUMNS  # the one table, as io.tables describes it (io cannot import retrieve)
ID_COLUMNS = PAIRS_COLUMNS[:3]  # the columns every table has; label and probability may be left out
GROUP_SEP = "\x1f"  # joins genome and scaffold in a scaffold group when scaffold names repeat across genomes
_CHUNK = 65536  # rows normalised / added / searched at a time

#: Text columns are numpy variable-width strings (numpy >= 2): 16 bytes per value, strings up to 15 bytes inside
#: them and longer ones in one arena, instead of a ~60-byte Python object (+ 8-byte pointer) per value; older
#: numpy keeps object arrays.
_TEXT = np.dtypes.StringDType() if hasattr(np.dtypes, "StringDType") else np.dtype(object)
_TEXT_KINDS = "OUT"
_ID_BLOCK = 1 << 16  # pair-id rows parsed / written at a time
log = logging.getLogger("microfuse")


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
    ``label`` is int8 with 1 = operon pair, 0 = not, -1 = unknown; ``probability`` is float64, NaN = unknown;
    ``model_id`` is the identity of the model that made the vectors (checkpoint.model_identity; None: unknown).
    """

    pair_id: np.ndarray
    scaffold: np.ndarray
    genome: np.ndarray
    label: np.ndarray = field(default=None)  # type: ignore[assignment]
    probability: np.ndarray = field(default=None)  # type: ignore[assignment]
    model_id: str | None = None

    def __post_init__(self) -> None:
        checked_model(self.model_id, "pair ids")
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
        # read-only, as every array the library hands out: index.ids.label[i] = 1 relabelled the index's own pairs
        for name in ("pair_id", "scaffold", "genome", "label", "probability"):
            object.__setattr__(self, name, read_only(getattr(self, name)))

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
            one_model([self.model_id, other.model_id]),
        )

    @classmethod
    def stack(cls, parts: Sequence[PairIds]) -> PairIds:
        """Many tables (one per genome file) in order, copied once (chained ``concat`` would copy quadratically).

        Raises:
            UsageError: no table, or one that is not a PairIds."""
        parts = list(parts)
        stray = next((p for p in parts if not isinstance(p, PairIds)), None)
        if not parts or stray is not None:  # [] was numpy's 'need at least one array to concatenate'
            raise UsageError(f"PairIds.stack takes one or more PairIds (PairIds.from_scores gives one per genome), "
                             f"not {'nothing' if not parts else type(stray).__name__}")
        if len(parts) == 1:
            return parts[0]
        columns = []
        for name in ("pair_id", "scaffold", "genome"):
            arrays = [getattr(p, name) for p in parts]
            if len({a.dtype.kind for a in arrays}) > 1:  # e.g. str and int: keep everything as text
                arrays = [_as_text(a) for a in arrays]
            columns.append(np.concatenate(arrays))
        return cls(*columns, np.concatenate([p.label for p in parts]), np.concatenate([p.probability for p in parts]),
                   one_model(p.model_id for p in parts))

    @classmethod
    def from_scores(cls, scores: Any, genome: str) -> PairIds:
        """The ids of the rows of ``scores.fused`` (``score_genome(..., fused=True)``) of genome ``genome``: what
        `score --fused --genome-name` writes in FILE.ids.tsv (probabilities at its 6 decimals), so that
        ``PairIndex.build([s.fused for s in scores], PairIds.stack([PairIds.from_scores(s, name) ...]))`` indexes
        genomes in memory as `retrieve build` indexes their files.

        Raises:
            UsageError: ``scores`` without fused vectors (scored without ``fused=True``, or by a baseline), or
                ``genome`` not a name.
        """
        if not isinstance(genome, str):
            raise UsageError(f"PairIds.from_scores takes the genome's name (a str, as --genome-name), not "
                             f"{type(genome).__name__}")
        if getattr(scores, "fused", None) is None:
            raise UsageError("these scores hold no fused vectors: score with score_genome(..., fused=True) and a "
                             "fusion head (a baseline gives none)")
        rows = list(fused_id_rows(scores, genome))
        pair_id, scaffold, genomes, label, probability = ([row[i] for row in rows] for i in range(len(PAIRS_COLUMNS)))
        return cls(*(np.array(column, dtype=object) for column in (pair_id, scaffold, genomes)),
                   np.array([-1 if v is None else v for v in label], dtype=np.int8),
                   np.array([float(v) for v in probability], dtype=np.float64), scores.model_id)

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


def read_pair_ids(path: PathLike, *, what: str | None = None, handle: IO[bytes] | None = None) -> PairIds:
    """Read a pair-id table (``pair_id scaffold genome [label] [probability]``); rejects duplicates.

    The rows are parsed a block at a time into compact columns, so only one block's worth of Python strings
    exists at once (a whole 1e7-row table as lists of strings would take several GB). ``handle``: ``path`` already
    opened (and hashed), read from there."""
    name = what or str(path)
    text = read_text(path, handle=handle)
    model_id = comment_model(leading_comments(text), name)
    lines = _table_lines(text, path)
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
    ids = dataclasses.replace(ids, model_id=model_id)
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
            if fields[il] in ("0", "1"):  # as written: the rule's other spellings only where these are not
                label[r] = int(fields[il])
            else:  # the one label rule of --labels, pairs and scores tables (was '0, 1 or empty' only: 1.0 refused)
                try:
                    value = parse_label(fields[il])
                except ValueError:
                    raise label_error(name, line, fields[il]) from None
                label[r] = -1 if value is None else value
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
    """Write ``pair_id scaffold genome label probability`` rows (after the model's comment line when its identity
    is known); returns the number of rows written. Rows are turned into Python objects a block at a time."""

    def rows() -> Iterator[tuple]:
        for start in range(0, len(ids), _ID_BLOCK):
            block = slice(start, start + _ID_BLOCK)
            for pid, sc, ge, lab, pr in zip(ids.pair_id[block].tolist(), ids.scaffold[block].tolist(),
                                            ids.genome[block].tolist(), ids.label[block].tolist(),
                                            ids.probability[block].tolist()):
                yield (pid, sc, ge, "" if lab < 0 else lab, "" if math.isnan(pr) else repr(pr))

    if ids.model_id is not None:
        handle.write(model_comment(ids.model_id))
    return write_tsv(handle, list(PAIRS_COLUMNS), rows())


def read_vectors(npy_path: PathLike, dim: int | None = None, against: str = "the index") -> tuple[np.ndarray, PairIds]:
    """Read fused vectors ``FILE.npy`` and their ids ``FILE.ids.tsv``, checking that they belong together.

    Returns a float32 (n, d) array (a read-only memory map when the file is already float32, so large
    files are not copied) and the :class:`PairIds`. Raises DataError for a missing/unreadable file, a
    non-2-d or non-float array, NaN/Inf values, zero-norm rows, a row-count mismatch, or (``dim`` given) another
    dimension than ``against``'s, named with the file: vectors of another model cannot be compared; UsageError for
    a ``FILE.ids.tsv`` given in place of its vectors.
    """
    path = Path(npy_path)
    ids_path = ids_path_for(path)
    if path.name.endswith(".ids.tsv"):  # a tab completion too far: was "missing its pair-id table X.ids.tsv.ids.tsv"
        raise UsageError(f"{path} is a pair-id table, not fused vectors: give its vectors, "
                         f"{path.with_name(path.name[: -len('.ids.tsv')] + '.npy')}")
    if not path.is_file():
        raise DataError(f"no such file: {path}")
    if not ids_path.is_file():
        raise DataError(f"{path}: missing its pair-id table {ids_path.name} (expected beside it)")
    before = _file_states(path, ids_path)
    try:
        vectors = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        raise DataError(f"{path}: not a readable .npy array ({exc})") from None
    recorded = _recorded_checksum(path, ids_path, vectors.shape)
    if dim is not None and vectors.ndim == 2 and vectors.shape[1] != dim:
        raise DataError(f"{path}: vectors have {vectors.shape[1]} dimensions, {against} has {dim} (fused vectors of "
                        "another model cannot be compared)")
    digest = None if recorded is None else _header_digest(path, vectors)
    vectors = _as_matrix(vectors, str(path), digest=digest)
    if recorded is not None:
        from ..io.files import sha256_file

        found = sha256_file(path) if digest is None else digest.hexdigest()
    ids = read_pair_ids(ids_path)
    if _file_states(path, ids_path) != before:
        raise DataError(f"{path} or {ids_path.name} was replaced while it was read (another run writing them?): "
                        "read them again once that run has finished")
    if recorded is not None and found != recorded:  # after the check above: files replaced meanwhile say so
        raise _other_run(path, ids_path, f"{'x'.join(map(str, vectors.shape))} with another checksum")
    if len(ids) != len(vectors):
        raise DataError(f"{path}: {len(vectors)} vectors but {ids_path.name} lists {len(ids)} pairs")
    return vectors, ids


def _file_states(*paths: Path) -> list[tuple[int, ...] | None]:
    """(device, inode, size, mtime) of each path, None where it cannot be read: read_vectors maps the vectors, then
    reads their ids by path, each a file a `score --fused` rerun may rename new files onto meanwhile (the mapped old
    vectors were paired with the new ids); taken before and after, they must be equal."""
    def state(path: Path) -> tuple[int, ...] | None:
        try:
            info = os.stat(path)
        except OSError:
            return None
        return info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns

    return [state(path) for path in paths]


def _recorded_checksum(path: Path, ids_path: Path, shape: tuple[int, ...]) -> str | None:
    """The SHA-256 of the vectors ``ids_path`` was written with (its ``#microfuse`` line records their SHA-256 and
    shape, io.tables.fused_writers), their shape checked here and their checksum by the caller: a run killed between
    the two files' renames, two runs writing one FILE.npy at once, or files copied by hand from two runs left new
    vectors beside old ids, paired row by row when their counts matched. None for an ids file recording none (an
    older microfuse's, or made by hand): read as before."""
    from ..io.model_id import comment_vectors, read_leading_comments

    try:
        with open(ids_path, "rb") as handle:  # its # lines however long, not the first 4 KiB (a long comment hid it)
            recorded = comment_vectors(read_leading_comments(handle, str(ids_path)), str(ids_path))
    except OSError as exc:
        raise DataError(f"{ids_path}: cannot be read ({exc.strerror or exc})") from None
    if recorded is None:
        log.debug("%s records no checksum of its vectors (an older microfuse's, or made by hand): %s not checked "
                  "against it", ids_path, path.name)
        return None
    sha256, recorded_shape = recorded
    if recorded_shape != tuple(shape):
        said, found = "x".join(map(str, recorded_shape)), "x".join(map(str, shape))
        raise _other_run(path, ids_path, f"of shape {said}, these are {found}")
    return sha256


def _other_run(path: Path, ids_path: Path, differs: str) -> DataError:
    return DataError(f"{path} and {ids_path.name} are from different runs ({ids_path.name} records vectors {differs}): "
                     f"rerun `microfuse score ... --fused {path}` to write both again (files edited together by hand: "
                     f"delete vectors_sha256= and vectors_shape= from {ids_path.name}'s first line)")


def _header_digest(path: Path, vectors: np.ndarray):
    """A SHA-256 of FILE.npy's header, which ``_as_matrix`` completes with the rows as it scans them, so the file is
    read once, not hashed first and scanned then (and the bytes hashed are the rows mapped, not the path's file
    read again). None where the rows scanned are not the file's bytes (not float32 in C order, a file longer than
    its array): the caller hashes the file then."""
    import hashlib

    if not (isinstance(vectors, np.memmap) and vectors.ndim == 2 and vectors.dtype == np.float32
            and vectors.flags.c_contiguous):
        return None
    try:
        if os.path.getsize(path) != vectors.offset + vectors.nbytes:
            return None
        with open(path, "rb") as handle:
            header = handle.read(vectors.offset)
    except OSError:
        return None
    return hashlib.sha256(header) if len(header) == vectors.offset else None


def read_vector_files(paths: Sequence[PathLike], *, against: str | None = None, dim: int | None = None,
                      model_id: str | None = None) -> list[tuple[np.ndarray, PairIds]]:
    """Fused vector files (:func:`read_vectors`) to index or search together: each of the first file's width and
    model or, ``against`` (e.g. "the index idx/") given, of ``dim`` and ``model_id``. A file of another width or
    model is a one-line DataError naming both; files recording no model are accepted with one warning."""
    if not paths:
        raise UsageError("no vector files")
    loaded: list[tuple[np.ndarray, PairIds]] = []
    if against is None:
        loaded.append(read_vectors(paths[0]))
        against, dim, model_id, paths = str(paths[0]), loaded[0][0].shape[1], loaded[0][1].model_id, paths[1:]
    named = [(against, model_id)]
    for path in paths:
        loaded.append(read_vectors(path, dim, against))
        named.append((str(path), loaded[-1][1].model_id))
    same_model(named)
    return loaded


def _as_matrix(x: Any, what: str, dim: int | None = None, *, digest=None) -> np.ndarray:
    """Validate an (n, d) float matrix (finite, non-zero rows) and return it as float32 without copying if possible.
    ``digest`` (hashlib; ``x`` float32 in C order) is updated with the rows' bytes as they are scanned."""
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
        if digest is not None:
            digest.update(block)
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


def genome_copies(parts: Sequence[np.ndarray], ids: PairIds, *, share: float = 0.5) -> list[tuple[str, str]]:
    """Pairs of genome names that hold one assembly twice: at least ``share`` of the smaller one's pairs have the
    same scaffold, pair id and fused vector in the other (the same genome scored under two ``--genome-name``s),
    so each copy's nearest neighbours are its own pairs at similarity 1. Shared names alone are not enough:
    MEGAHIT calls every assembly's contigs ``k141_*``, so only rows whose names collide are compared."""
    if len(ids) < 2:
        return []
    names, genome = _unique(ids.genome, inverse=True)
    key = _unique(_joined(ids.scaffold, ids.pair_id), inverse=True)[1]
    order = np.lexsort((genome, key))
    same_key = key[order][1:] == key[order][:-1]
    rows = np.unique(np.concatenate([order[1:][same_key], order[:-1][same_key]]))
    if len(rows) == 0:
        return []
    offsets = np.cumsum([0] + [len(p) for p in parts])  # only the colliding rows are read from each part
    vectors = np.ascontiguousarray(np.concatenate(
        [np.asarray(part[rows[(rows >= lo) & (rows < hi)] - lo]) for part, lo, hi in zip(parts, offsets, offsets[1:])]),
        dtype=np.float32)
    content = _unique(vectors.view(np.dtype((np.void, vectors.shape[1] * 4))).ravel(), inverse=True)[1]
    keyed = np.lexsort((genome[rows], content, key[rows]))
    equal = (key[rows][keyed][1:] == key[rows][keyed][:-1]) & (content[keyed][1:] == content[keyed][:-1])
    sizes = np.bincount(genome, minlength=len(names))
    shared: dict[tuple[int, int], int] = {}
    for a, b in zip(genome[rows][keyed][:-1][equal].tolist(), genome[rows][keyed][1:][equal].tolist()):
        if a != b:
            shared[min(a, b), max(a, b)] = shared.get((min(a, b), max(a, b)), 0) + 1
    return [(str(names[a]), str(names[b])) for (a, b), n in sorted(shared.items())
            if n >= share * min(sizes[a], sizes[b])]


def _owners(tables: Sequence[PairIds]) -> dict[Any, list[int]]:
    """Genome name -> the numbers of the tables that hold it (in order)."""
    owners: dict[Any, list[int]] = {}
    for number, table in enumerate(tables):
        for name in _unique(table.genome).tolist():
            owners.setdefault(name, []).append(number)
    return owners


def shared_genome(tables: Sequence[PairIds]) -> tuple[int, int, str] | None:
    """The first genome name held by two tables: ``(earlier table, later table, genome)``, or None. Grouped by genome
    their pairs are one group (right for a chromosome and a plasmid scored apart under one ``--genome-name``). A name
    whose two tables share a scaffold is left out: past :func:`shared_scaffold`, one genome's pairs scored in batches.
    Each table's rows of such names are read once (a scan of a table per shared name took 12 s for 1,000 genomes'
    plasmids appended to an index of their chromosomes)."""
    first_two = {name: held[:2] for name, held in _owners(tables).items() if len(held) > 1}
    if not first_two:
        return None
    names_of: dict[int, set] = {}
    for name, held in first_two.items():
        for number in held:
            names_of.setdefault(number, set()).add(name)
    keys, genomes, where = [], [], []
    for number, wanted_names in names_of.items():
        table = tables[number]
        names, genome_of = _unique(table.genome, inverse=True)
        wanted = np.array([name in wanted_names for name in names.tolist()], bool)
        rows = np.flatnonzero(wanted[genome_of])
        joined = _joined(table.genome[rows], table.scaffold[rows])
        at = np.unique(_unique(joined, inverse=True)[1], return_index=True)[1]  # each (genome, scaffold) once
        keys.append(joined[at])
        genomes.extend(table.genome[rows[at]].tolist())
        where.append(np.full(len(at), number, np.int64))
    code = _unique(np.concatenate(keys), inverse=True)[1]
    twice = np.flatnonzero(np.bincount(code)[code] > 1)  # a scaffold in both of its name's first two tables
    linked = {genomes[row] for row in twice.tolist()}
    shared = [(held[0], held[1], str(name)) for name, held in first_two.items() if name not in linked]
    return min(shared, key=lambda found: found[:2]) if shared else None


class SharedScaffold(NamedTuple):
    """A scaffold of one genome name in two tables that do not show it to be one assembly (:func:`shared_scaffold`)."""

    first: int  #: the earlier table
    second: int  #: the later table
    genome: str
    scaffold: str
    same: bool  #: every pair of the later table's genome is in the earlier one too: one genome given twice
    #: the scaffold's pair ids both tables hold, sorted (none: two assemblies, or batches that share no gene; some
    #: with others in one table only: overlapping batches, or isolates with Prodigal's ``contig00001_1`` ids)
    in_both: tuple[str, ...]


def shared_scaffold(tables: Sequence[PairIds]) -> SharedScaffold | None:
    """The first scaffold of one genome name found in two tables (one per vector file, or the index's) that the
    tables do not show to be one assembly, or None when there is none.

    A scaffold named in two tables is two assemblies under one genome name (Shovill's ``contig00001`` in every
    isolate, each annotated into Prokka's ``PROKKA_<date>.gff``: grouped by scaffold or genome, their pairs would be
    one group, never each other's neighbours), or one genome's pairs scored in batches (`score --pairs` in chunks).
    The tables record no assembly, only pair ids ``gene_a|gene_b``: a scaffold whose tables hold no pair id twice
    and are linked by shared genes (consecutive batches share the gene at their edge) is taken as one genome split;
    isolates share no gene (other locus tags) or their pairs (Prodigal's ``contig00001_1`` ids). Only the rows of
    genome names shared by two tables are looked into, by sorting their (genome, scaffold) names once (a scan of
    each table per shared name took 15 s for 1,000 genomes' plasmids appended to an index of their chromosomes)."""
    owners = _owners(tables)
    rank = {name: number for number, (name, held) in enumerate(owners.items()) if len(held) > 1}
    if not rank:
        return None
    keys, where, table_rows = [], [], []
    for number, table in enumerate(tables):
        names, genome_of = _unique(table.genome, inverse=True)
        wanted = np.array([name in rank for name in names.tolist()], bool)
        rows = np.flatnonzero(wanted[genome_of]) if len(names) else np.zeros(0, np.int64)
        if not len(rows):
            continue
        keys.append(_joined(table.genome[rows], table.scaffold[rows]))
        where.append(np.full(len(rows), number, np.int64))
        table_rows.append(rows)
    code = _unique(np.concatenate(keys), inverse=True)[1]
    table_of, row_of = np.concatenate(where), np.concatenate(table_rows)
    held = np.unique(code * len(tables) + table_of)  # each (scaffold, table) once, by scaffold then table
    held_code = held // len(tables)
    starts = np.flatnonzero(np.r_[True, held_code[1:] != held_code[:-1]])
    two = starts[(starts + 1 < len(held_code)) & (held_code[np.minimum(starts + 1, len(held_code) - 1)] ==
                                                  held_code[starts])]
    if not len(two):
        return None
    unexplained = _not_one_assembly(tables, held_code[two], code, table_of, row_of)
    if not unexplained:
        return None
    earlier, later = min(unexplained.values())
    found = [(c, rows) for c, rows in ((c, np.flatnonzero(code == c)) for c, pair in unexplained.items()
                                       if pair == (earlier, later))]
    first = tables[earlier]
    named = []
    for _, rows in found:
        row = int(row_of[rows[table_of[rows] == earlier][0]])
        named.append((rank[first.genome[row]], str(first.scaffold[row]), first.genome[row]))
    _, scaffold, name = min(named, key=lambda found: found[:2])
    second = tables[later]
    same = set(second.pair_id[np.asarray(second.genome == name, bool)].tolist()) <= \
        set(first.pair_id[np.asarray(first.genome == name, bool)].tolist())
    on_it = [{str(p) for p in t.pair_id[(t.genome == name) & (t.scaffold == scaffold)].tolist()}
             for t in (first, second)]
    return SharedScaffold(earlier, later, str(name), scaffold, same, tuple(sorted(on_it[0] & on_it[1])))


def _not_one_assembly(tables: Sequence[PairIds], shared: np.ndarray, code: np.ndarray, table_of: np.ndarray,
                      row_of: np.ndarray) -> dict[int, tuple[int, int]]:
    """Of the scaffolds ``shared`` by two tables or more (``code`` of each row, in table ``table_of`` at ``row_of``),
    those the tables do not show to be one genome's pairs split: scaffold -> the two tables to name (two holding one
    pair id, or the first table and the first one not linked to it by a shared gene)."""
    rows = np.flatnonzero(np.isin(code, shared))
    rows = rows[np.argsort(code[rows], kind="stable")]  # each scaffold's rows, table by table
    pair_ids = np.empty(len(rows), dtype=object)
    for number in np.unique(table_of[rows]).tolist():  # read a table's pair ids at once, not one element each
        at = np.flatnonzero(table_of[rows] == number)
        pair_ids[at] = [str(p) for p in tables[number].pair_id[row_of[rows[at]]].tolist()]
    bounds = np.flatnonzero(np.r_[True, code[rows][1:] != code[rows][:-1], True])
    found: dict[int, tuple[int, int]] = {}
    for lo, hi in zip(bounds[:-1].tolist(), bounds[1:].tolist()):
        holder: dict[str, int] = {}  # pair id -> table
        gene_table: dict[str, int] = {}  # gene -> the first table holding it
        parent: dict[int, int] = {}
        clash = None

        def root(t: int) -> int:
            while parent.setdefault(t, t) != t:
                t = parent[t]
            return t

        for t, pair_id in zip(table_of[rows[lo:hi]].tolist(), pair_ids[lo:hi].tolist()):
            if holder.setdefault(pair_id, t) != t:
                clash = (holder[pair_id], t)
                break
            genes = pair_id.split("|")
            for gene in genes if len(genes) == 2 else ():
                parent[root(t)] = root(gene_table.setdefault(gene, t))
            root(t)
        if clash is None:
            members = sorted(parent)
            apart = [t for t in members if root(t) != root(members[0])]
            clash = (members[0], apart[0]) if apart else None
        if clash is not None:
            found[int(code[rows[lo]])] = (min(clash), max(clash))
    return found
