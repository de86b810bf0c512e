"""The FAISS index over fused pair vectors: build, append, search, save and load.

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
  recall@10 0.27 at 1e7 pairs (benchmarks/RESULTS.md). On CPU the PQ codes are 4-bit, in FAISS' SIMD fast-scan
  layout (``IndexIVFPQFastScan``): several times faster to scan than 8-bit codes of the same size, which GPU
  builds keep (FAISS has no GPU fast-scan).
* Approximate indexes may come back with fewer than ``k`` hits when the probed lists (IVF) or the explored graph
  (HNSW) hold too few rows from other groups; such queries are searched again with ``nprobe`` / ``efSearch``
  doubled until they have ``k`` hits or the whole index has been probed.

An index is saved as a folder (:meth:`PairIndex.save`): ``index.faiss`` (``faiss.write_index``), ``pairs.tsv`` and
``manifest.json`` (manifest.py: format version, index type, dimension, count, metric, grouping, SHA-256 of both files,
microfuse version, the build settings: nlist, PQ code shape and layout, refine code and k_factor, and ``model_id``, the
identity of the model whose vectors it holds, null when unknown: models.py). :meth:`PairIndex.load` verifies all of
it before trusting the files. An index without ``model_id`` (older microfuse) still loads, as one of unknown model.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import math
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, Iterator, Literal, Sequence

import numpy as np

from ..errors import DataError, MicrofuseError, UsageError, check_flags, whole_number
from ..io.files import PathLike
from ..io.outputs import atomic_directory
from ..manifest import FILES_KEY, MANIFEST, ManifestKind, folder_path, open_listed, read_manifest, write_manifest
from ..progress import Advance, check_callbacks
from ..runtime import check_device, check_seed, thread_limits
from .ids import (
    _CHUNK, _TEXT_KINDS, GROUP_BYS, GROUP_SEP, PairIds, _as_matrix, _as_text, _check_disjoint, _common, _joined,
    _normalised, _pair_keys, _positions, _same_kind, _unique, read_pair_ids, write_pair_ids,
)
from ..io.model_id import MODEL_KEY, checked_model
from .models import same_model
from .results import SELF_SIMILARITY, SearchResult, _finish

log = logging.getLogger("microfuse")  # one channel for the library's warnings and progress (README)

IndexKind = Literal["auto", "flat", "ivf", "hnsw", "ivfpq"]
GroupBy = Literal["scaffold", "genome"]
Device = str  # "auto", "cpu", "cuda" (every GPU, sharded) or "cuda:N" (GPU N)
Exclusion = Literal["auto", "selector", "overfetch"]
Refine = Literal["none", "sq8", "fp16", "flat"]

INDEX_KINDS = ("flat", "ivf", "hnsw", "ivfpq")
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
#: Fast-scan codes re-rank twice as many: at 1e7 128-d pairs (default nlist, nprobe 16) k_factor 8 gave recall@10
#: 0.959 and 16 gave 0.997 at 3,800-4,800 queries/s; at 512-d (nlist 2048) 0.957 and 0.965.
FAST_SCAN_K_FACTOR = 16
#: Most PQ code bytes per pair chosen by default (64 sub-quantisers at 8 bits, 128 at 4).
PQ_MAX_BYTES = 64
#: 4-bit PQ codes are laid out for FAISS' SIMD fast-scan (IndexIVFPQFastScan), the CPU default: 2-4x the
#: queries/s of 8-bit codes of the same bytes at 512-d, 1e6 and 1e7 pairs, for a little less recall per re-ranked
#: candidate (benchmarks/RESULTS.md, "Fast-scan PQ codes"). FAISS has no GPU fast-scan, so GPU builds keep 8-bit
#: codes.
FAST_SCAN_NBITS = 4
HNSW_M = 32
HNSW_EF_CONSTRUCTION = 80
KMEANS_ITERATIONS = 20

INDEX_FILE = "index.faiss"
PAIRS_FILE = "pairs.tsv"
#: manifest.json of an index folder (manifest.py). 2: the common layout, ``files_sha256`` (name -> SHA-256) instead
#: of ``files`` (role -> path and SHA-256); version 1 is still read.
PAIR_INDEX = ManifestKind("microfuse-pair-index", (1, 2), "index",
                          "build one with `microfuse retrieve build`")

_SELECTOR_BATCH = 4096  # queries per selector search call
_QUERY_BLOCK = 1 << 18  # indexed pairs read back and searched at a time by search_all
_RESCORE_VALUES = 1 << 22  # float64 values (32 MB) of neighbour vectors held at once (flat similarities recomputed)
_COPY_MATCHES = 1 << 20  # PairIndex.copies compares every new pair with its namesakes up to this many (about 1 s)
_COPY_PROBES = 8  # pairs of each new genome that pick the indexed genomes it may copy, past _COPY_MATCHES (a copy
#                   of half the pairs is missed once in 256)
_POOL_MIN = 32  # groups with fewer queries than this go to the thread pool, one thread each


def _faiss():
    try:
        import faiss  # noqa: PLC0415 - heavy import kept out of module import
    except ImportError as exc:  # pragma: no cover - faiss is a hard dependency
        raise MicrofuseError(f"faiss is not importable ({exc}); install faiss-cpu or faiss-gpu") from None
    return faiss


@contextlib.contextmanager
def _omp_threads(threads: int | None) -> Iterator[int]:
    """runtime.thread_limits with FAISS's pools (0: every usable core); yields the threads a search may use (FAISS's
    own count for None)."""
    faiss = _faiss()
    with thread_limits(threads, faiss=True) as limit:
        yield faiss.omp_get_max_threads() if limit is None else limit


#: The vectors per k-means centroid below which FAISS warns (on the process's stderr; microfuse says it in its log).
MIN_POINTS_PER_CENTROID = 39


def _default_nlist(n: int) -> int:
    return max(1, min(int(round(4 * math.sqrt(n))), n // MIN_POINTS_PER_CENTROID))  # no k-means warning


def _default_pq(dim: int, n: int, dev: str, nbits: int | None = None) -> tuple[int, int]:
    """(sub-quantisers, bits) of a code of about dim / 4 bytes, at most 64 (at 1e7, 128-d, nprobe 16, k_factor 8,
    32-byte codes re-rank to recall@10 0.93 where 16-byte codes reach 0.80; 64 bytes at 512-d, 1e6: 0.97).
    Bits, unless given: on CPU 4-bit fast-scan codes (two sub-quantisers per byte) when the dimension splits
    evenly; otherwise, and on GPU, 8 (fewer when too little data trains 2^bits centroids per sub-quantiser)."""
    code_bytes = max(1, min(PQ_MAX_BYTES, dim // 4))
    halves = [x for x in range(2, 2 * code_bytes + 1, 2) if dim % x == 0]
    if nbits is None:
        nbits = int(max(1, min(8, math.floor(math.log2(max(2, n / 39))))))
        if dev == "cpu" and nbits >= FAST_SCAN_NBITS and halves:
            nbits = FAST_SCAN_NBITS
    if _fast_scan(nbits, dev) and halves:
        return max(halves), nbits
    return max(x for x in range(1, code_bytes + 1) if dim % x == 0), nbits


def _pq_shape(dim: int, n: int, dev: str, pq_m: int | None, pq_nbits: int | None) -> tuple[int, int]:
    """The (sub-quantisers, bits) an IVF-PQ build uses: the defaults where not given, validated."""
    m0, nbits = _default_pq(dim, n, dev, None if pq_nbits is None else int(pq_nbits))
    m = m0 if pq_m is None else int(pq_m)
    if m < 1 or dim % m:
        raise UsageError(f"pq_m must divide the dimension {dim}, not {m}")
    if not 1 <= nbits <= 16:
        raise UsageError(f"pq_nbits must be between 1 and 16, not {nbits}")
    return m, nbits


def _fast_scan(nbits: int, dev: str) -> bool:
    """Whether PQ codes of ``nbits`` use FAISS' fast-scan layout: 4-bit codes on CPU."""
    return nbits == FAST_SCAN_NBITS and dev == "cpu"


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


def _refine_settings(kind: str, refine: str | None, k_factor: int | None, dim: int,
                     fast_scan: bool) -> tuple[str, int]:
    """Validate refine / k_factor: only IVF-PQ re-ranks (the other kinds keep full vectors)."""
    if refine is not None and refine not in REFINES:
        raise UsageError(f"refine must be one of {', '.join(REFINES)}, not {refine!r}")
    if kind != "ivfpq":
        if refine not in (None, "none"):
            raise UsageError(f"refine applies to ivfpq indexes only (this one is {kind}: its vectors are exact)")
        return "none", 1
    if refine is None:
        refine = "fp16" if dim <= FP16_REFINE_MAX_DIM else DEFAULT_REFINE
    if k_factor is None:
        k_factor = FAST_SCAN_K_FACTOR if fast_scan else DEFAULT_K_FACTOR
    if isinstance(k_factor, bool) or int(k_factor) != k_factor or k_factor < 1:
        raise UsageError(f"k_factor must be a positive integer, not {k_factor!r}")
    return refine, int(k_factor)


def _refine_index(faiss: Any, refine: str, dim: int) -> Any:
    if refine == "flat":
        return faiss.IndexFlatIP(dim)
    qtype = {"sq8": faiss.ScalarQuantizer.QT_8bit, "fp16": faiss.ScalarQuantizer.QT_fp16}[refine]
    return faiss.IndexScalarQuantizer(dim, qtype, faiss.METRIC_INNER_PRODUCT)


def _trained_ivf(faiss: Any, kind: str, parts: Sequence[np.ndarray], n: int, dim: int, dev: str, params: dict, *,
                 gpu: int | None = None,
                 seed: int, train_sample: int | None, nlist: int | None, pq: tuple[int, int] | None,
                 refine: str) -> Any:
    """An IVF-Flat or IVF-PQ index (``pq``: its code shape from :func:`_pq_shape`; wrapped in ``IndexRefine`` when
    refining) trained on a sample of the vectors."""
    nl = _default_nlist(n) if nlist is None else int(nlist)
    if not 1 <= nl <= n:
        raise UsageError(f"nlist must be between 1 and the number of vectors ({n}), not {nl}")
    quantizer = faiss.IndexFlatIP(dim)
    if kind == "ivf":
        cpu = faiss.IndexIVFFlat(quantizer, dim, nl, faiss.METRIC_INNER_PRODUCT)
    else:
        m, nbits = pq
        if _fast_scan(nbits, dev):
            cpu = faiss.IndexIVFPQFastScan(quantizer, dim, nl, m, nbits, faiss.METRIC_INNER_PRODUCT)
        else:
            cpu = faiss.IndexIVFPQ(quantizer, dim, nl, m, nbits, faiss.METRIC_INNER_PRODUCT)
        cpu.pq.cp.seed = int(seed)
        cpu.pq.cp.min_points_per_centroid = 0  # FAISS' own warning goes to the process's stderr: said below instead
        params.update(pq_m=m, pq_nbits=nbits, fast_scan=_fast_scan(nbits, dev))
    cpu.cp.seed = int(seed)
    cpu.cp.niter = KMEANS_ITERATIONS
    cpu.cp.min_points_per_centroid = 0  # (it only decides that warning)
    params["nlist"] = nl
    sample = max(40 * nl, 10000) if train_sample is None else train_sample
    sample = min(int(sample), n)
    if sample < nl:
        raise UsageError(f"train_sample ({sample}) must be at least nlist ({nl})")
    for what, centroids, setting in (("IVF lists", nl, "nlist"),
                                     ("PQ centroids per sub-quantiser", 2 ** pq[1] if pq else 0, "pq_nbits")):
        if sample < MIN_POINTS_PER_CENTROID * centroids:  # the advice names the setting that helps
            log.warning("training %d %s on %d vectors (k-means wants at least %d): a smaller %s%s trains them better",
                        centroids, what, sample, MIN_POINTS_PER_CENTROID * centroids, setting,
                        ", or a larger train_sample," if sample < n else ", or more vectors,")
    params["train_sample"] = sample
    rng = np.random.default_rng(seed)
    rows = np.sort(rng.choice(n, size=sample, replace=False)) if sample < n else np.arange(n)
    train = _normalised(_rows_of(parts, rows))
    log.info("training %s index: %d lists on %d vectors", kind, nl, sample)
    if dev == "cuda":  # the CPU index's k-means, its assignment step on the GPU (FAISS's own benchmarks do so): a
        # GPU copy of the index trained with FAISS's default clustering settings (GpuIndexIVF::copyFrom leaves
        # ``cp``), so the seed and iterations set above were lost and a GPU-built index was another index
        resources = faiss.StandardGpuResources()
        cpu.clustering_index = faiss.index_cpu_to_gpu(resources, gpu or 0, faiss.IndexFlatIP(dim))
        try:
            cpu.train(train)
        finally:
            cpu.clustering_index = None  # the GPU index goes with ``resources``: no pointer to it is kept
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


def _resolve_device(device: str) -> tuple[str, int | None]:
    """("cpu" or "cuda", the one GPU asked for or None for all): the names score_genome takes (runtime.check_device),
    ``cuda:N`` checked against the GPUs FAISS sees."""
    check_device(device)
    gpus = _faiss().get_num_gpus()
    if device.startswith("cuda") and gpus == 0:
        raise UsageError(f"device {device!r} asked for, but FAISS sees no GPU (faiss-gpu build and a CUDA device needed)")
    if device == "auto":
        return ("cuda" if gpus > 0 else "cpu"), None
    if device.startswith("cuda:"):
        gpu = int(device[5:])
        if gpu >= gpus:
            raise UsageError(f"device {device!r} asked for, but FAISS sees only {gpus} GPU(s)")
        return "cuda", gpu
    return device, None


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
    def model_id(self) -> str | None:
        """Identity of the model whose fused vectors are indexed (checkpoint.model_identity); None: unknown."""
        return self._ids.model_id

    def check_model(self, model_id: str | None, what: str = "query vectors") -> None:
        """Refuse (DataError) vectors ``what`` of another model than the indexed ones; when either side records
        no model, warn once that it cannot be checked."""
        same_model([("the index", self.model_id), (what, model_id)])

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
        self._group_key_bytes = None  # the keys as UTF-8 bytes, made by the first text lookup (_codes_for)
        self._group_codes = codes
        self._group_sizes = np.bincount(self._group_codes, minlength=len(keys)).astype(np.int64)
        self._group_order = np.argsort(self._group_codes, kind="stable").astype(np.int64)
        self._group_offsets = np.concatenate([[0], np.cumsum(self._group_sizes)]).astype(np.int64)

    def query_groups(self, ids: PairIds) -> np.ndarray:
        """The group of each query pair as this index names its groups (for :meth:`search`).

        Where each scaffold name is indexed once, groups are plain scaffold names; a query scaffold of that name in
        another genome (Shovill's contig00001 or MEGAHIT's k141_7 in every assembly) is not that group: it gets its
        genome-qualified name, which no group has (the indexed scaffold of its name was left out of its
        neighbours)."""
        self._ensure_groups()
        groups = ids.groups(self.group_by, by_genome=self._by_genome)
        if self.group_by != "scaffold" or self._by_genome or not len(groups):
            return groups
        codes = self._codes_for(groups)
        named = np.flatnonzero(codes >= 0)
        if not len(named):
            return groups
        first_rows = self._group_order[self._group_offsets[codes[named]]]  # one genome per scaffold name here
        indexed, queried = _same_kind(self._ids.genome[first_rows], ids.genome[named])
        other = named[np.asarray(indexed != queried, bool)]
        if not len(other):
            return groups
        groups = np.array(_as_text(groups), copy=True)
        groups[other] = _joined(ids.genome[other], ids.scaffold[other])
        return groups

    def namesakes(self, ids: PairIds, *, share: float = 0.5) -> list[tuple[str, int, int]]:
        """(genome, queries, of how many) for query genomes of which at least ``share`` of the pairs fall in an
        indexed group of theirs (a genome of their name, or its scaffold of their name) without being among that
        genome's indexed pairs (same genome name, other pair ids): another assembly under the name (isolates each
        annotated into Prokka's PROKKA_<date>.gff with their own locus tags), whose indexed namesake the search
        leaves out of their neighbours as the query's own group. Only the index's rows of the groups the queries
        fall in are compared."""
        if not len(ids) or not self.ntotal:
            return []
        own = self._codes_for(self.query_groups(ids))
        rows = np.flatnonzero(own >= 0)
        if not len(rows):
            return []
        indexed = self._ids
        old = np.concatenate([self._members(code) for code in np.unique(own[rows]).tolist()])  # the groups they hit
        both = PairIds.stack([PairIds(indexed.pair_id[old], indexed.scaffold[old], indexed.genome[old]),
                              PairIds(ids.pair_id[rows], ids.scaffold[rows], ids.genome[rows])])
        keys = _pair_keys(both.genome, both.pair_id)
        known = np.isin(keys[len(old) :], keys[: len(old)])
        names, genome_of = _unique(ids.genome, inverse=True)
        total = np.bincount(genome_of, minlength=len(names))
        strangers = np.bincount(genome_of[rows[~known]], minlength=len(names))
        return [(str(names[g]), int(strangers[g]), int(total[g])) for g in range(len(names))
                if strangers[g] and strangers[g] >= share * total[g]]

    def _members(self, code: int) -> np.ndarray:
        return self._group_order[self._group_offsets[code] : self._group_offsets[code + 1]]

    def _codes_for(self, groups: np.ndarray) -> np.ndarray:
        """Group code of each query group, -1 for a group the index does not contain."""
        keys = self._group_keys
        groups = np.asarray(groups)
        if len(keys) == 0 or len(groups) == 0:
            return np.full(len(groups), -1, np.int64)
        keys, groups = _same_kind(keys, groups)
        sorted_bytes = self._sorted_key_bytes() if keys.dtype.kind in _TEXT_KINDS else None
        probe = None if sorted_bytes is None else _utf8(groups)
        if probe is None:
            return _positions(keys, groups)
        # binary search in the keys as bytes: a lookup costs O(queries log groups), not a sort of every group
        # (0.5 s per call at 625,000 scaffolds); numpy's searchsorted is only wrong on variable-width strings
        pos = np.minimum(np.searchsorted(sorted_bytes, probe), len(sorted_bytes) - 1)
        return np.where(sorted_bytes[pos] == probe, pos, -1).astype(np.int64)

    def _sorted_key_bytes(self) -> np.ndarray | None:
        """The group keys as fixed-width UTF-8 bytes, in the same order (UTF-8 sorts by code point, as the keys
        were sorted), made once per group table; None where that cannot stand in for the keys."""
        if self._group_key_bytes is None:
            encoded = _utf8(self._group_keys)
            ordered = encoded is not None and (len(encoded) < 2 or bool((encoded[1:] > encoded[:-1]).all()))
            self._group_key_bytes = encoded if ordered else False
        return None if self._group_key_bytes is False else self._group_key_bytes

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
        threads: int = 1,
        progress: Advance | None = None,
    ) -> PairIndex:
        """Build an index over ``vectors`` (n, d) whose rows are described by ``ids``.

        Arguments:
            vectors: one (n, d) array, or several (e.g. memory-mapped ``.npy`` files, one per genome) whose rows are
                indexed in order; they are read chunk by chunk, never concatenated.
            index: ``flat`` (exact), ``ivf`` (IVF-Flat), ``hnsw``, ``ivfpq``, or ``auto``: flat up to
                :data:`AUTO_FLAT_MAX` vectors, IVF-Flat up to :data:`AUTO_IVF_MAX`, IVF-PQ beyond.
            group_by: a search excludes the query's own ``scaffold`` or ``genome``.
            device: ``cuda`` puts flat/IVF/IVF-PQ indexes on the GPU(s) (sharded over several), ``cuda:N`` on GPU N
                only; HNSW stays on CPU.
            seed: seeds the training sample and k-means.
            train_sample: vectors used to train IVF / PQ (default ``max(40 * nlist, 10000)``, at most n).
            nlist: IVF lists (default ``4 * sqrt(n)``, at most n / 39). pq_m / pq_nbits: PQ sub-quantisers and
                bits per sub-quantiser (default: codes of about d / 4 bytes, at most 64; 4-bit fast-scan codes
                on CPU, 8-bit on GPU; 4 bits on CPU is always fast-scan). hnsw_m: HNSW graph degree.
            refine: IVF-PQ only: re-rank candidates with ``sq8``, ``fp16`` or ``flat`` (float32) copies of the
                vectors, or ``none``; default fp16 up to :data:`FP16_REFINE_MAX_DIM` dimensions, sq8 beyond. k_factor: candidates re-ranked per asked-for neighbour (default
                :data:`FAST_SCAN_K_FACTOR` for fast-scan codes, :data:`DEFAULT_K_FACTOR` otherwise; a search may
                override it).
            threads: OpenMP threads for FAISS (default 1, as in every library call, so that a cluster job takes no
                more than its slot unless told; 0: every usable core).
            progress: called with the number of vectors added after each chunk.

        Raises:
            UsageError: unknown option values. DataError: bad vectors or ids.
        """
        if index not in ("auto", *INDEX_KINDS):
            raise UsageError(f"index must be one of auto, {', '.join(INDEX_KINDS)}, not {index!r}")
        if group_by not in GROUP_BYS:
            raise UsageError(f"group_by must be one of {', '.join(GROUP_BYS)}, not {group_by!r}")
        for name, value in (("nlist", nlist), ("pq_m", pq_m), ("pq_nbits", pq_nbits), ("train_sample", train_sample),
                            ("hnsw_m", hnsw_m)):  # nlist=8.5 was cut to 8, hnsw_m='8' a TypeError
            if value is not None and (not whole_number(value) or value < 1):
                raise UsageError(f"{name} must be a whole number >= 1, not {value!r}")
        check_callbacks("PairIndex.build", progress=progress)
        parts = _vector_parts(vectors, "vectors")
        if not isinstance(ids, PairIds):
            raise UsageError("ids must be a PairIds")
        n, dim = sum(len(p) for p in parts), parts[0].shape[1]
        if len(ids) != n:
            raise DataError(f"{n} vectors but {len(ids)} pair ids")
        if n == 0:
            raise DataError("no vectors to index")
        ids.check_unique()
        dev, gpu = _resolve_device(device)
        kind = index
        if kind == "auto":
            kind = "flat" if n <= AUTO_FLAT_MAX else ("ivf" if n <= AUTO_IVF_MAX else "ivfpq")
        pq = _pq_shape(dim, n, dev, pq_m, pq_nbits) if kind == "ivfpq" else None
        refine, k_factor = _refine_settings(kind, refine, k_factor, dim, pq is not None and _fast_scan(pq[1], dev))
        faiss = _faiss()
        params: dict = {"seed": check_seed(seed)}
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
                cpu = _trained_ivf(faiss, kind, parts, n, dim, dev, params, gpu=gpu, seed=seed, train_sample=train_sample,
                                   nlist=nlist, pq=pq, refine=refine)
                if refine != "none":
                    params.update(refine=refine, k_factor=k_factor)
            if kind == "ivfpq" and refine == "none":
                params["refine"] = "none"
            built = cls(cpu, PairIds(ids.pair_id[:0], ids.scaffold[:0], ids.genome[:0]), kind=kind, group_by=group_by, params=params)
            if dev == "cuda":
                built._to_gpu(gpu)
            built._add(parts, progress)
        built._ids = ids
        built._set_groups()
        return built

    @property
    def refined(self) -> bool:
        """Whether searches re-rank PQ candidates with finer codes (an IVF-PQ index built with ``refine``)."""
        return self.params.get("refine", "none") != "none"

    def _to_gpu(self, gpu: int | None = None) -> None:
        """Move the index to GPU ``gpu``, or None: sharded over every GPU: the whole index, or for a refined IVF-PQ
        its PQ stage only (the re-ranking codes stay in host memory and re-score the GPU's candidates on the CPU)."""
        faiss = _faiss()
        if self.kind == "hnsw" or self.params.get("fast_scan"):
            what = "HNSW" if self.kind == "hnsw" else "fast-scan PQ (4-bit codes; build with pq_nbits=8 for GPUs)"
            log.warning("FAISS has no GPU %s; the index stays on the CPU", what)
            self.device = "cpu"
            return
        cpu = self._index
        base = faiss.downcast_index(cpu.base_index) if self.refined else cpu
        co = _cloner_options(faiss, self.kind)
        if gpu is None and faiss.get_num_gpus() > 1:
            co_multi = faiss.GpuMultipleClonerOptions()
            co_multi.shard = True
            co_multi.useFloat16 = co.useFloat16
            on_gpu = faiss.index_cpu_to_all_gpus(base, co=co_multi)
        else:
            self._gpu_res = faiss.StandardGpuResources()
            on_gpu = faiss.index_cpu_to_gpu(self._gpu_res, gpu or 0, base, co)
        self._gpu_base = on_gpu
        if self.refined:
            self._refine_part = faiss.downcast_index(cpu.refine_index)
            self._host_index = cpu  # owns the refine codes, shared with the GPU wrapper
            on_gpu = faiss.IndexRefine(on_gpu, self._refine_part)
        self._index = on_gpu
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

    def append(self, vectors: np.ndarray | Sequence[np.ndarray], ids: PairIds, *, threads: int = 1,
               progress: Advance | None = None) -> None:
        """Add pairs (e.g. new genomes; one array or several, read chunk by chunk). Trained indexes keep their
        quantiser (and refine codes their ranges); the exact index gives the same answers as building once over
        everything. Rejects pair ids already in the index. ``threads``: FAISS threads, as for :meth:`build`."""
        check_callbacks("PairIndex.append", progress=progress)
        parts = _vector_parts(vectors, "vectors", dim=self.dim)
        n = sum(len(p) for p in parts)
        if len(ids) != n:
            raise DataError(f"{n} vectors but {len(ids)} pair ids")
        if None not in (self.model_id, ids.model_id):
            self.check_model(ids.model_id, "the vectors to append")
        ids.check_unique()
        self._check_new(ids)
        with _omp_threads(threads):
            self._add(parts, progress)
        self._genomes = _unique(np.concatenate(_same_kind(self._genomes, ids.genome)))
        self._ids = self._ids.concat(ids)
        self._set_groups()

    def copies(self, vectors: np.ndarray | Sequence[np.ndarray], ids: PairIds, *,
               share: float = 0.5) -> list[tuple[str, str]]:
        """(genome of ``ids``, indexed genome of another name) where at least ``share`` of the genome's pairs are
        indexed already: same scaffold and pair id, cosine >= :data:`~.results.SELF_SIMILARITY` (re-ranking codes put
        an identical vector just under 1). Appended, such a copy (one assembly under two names, or clonal isolates
        annotated alike) is each of its pairs' nearest neighbour; :func:`~.ids.genome_copies` says it of the files
        of one build. Only indexed pairs whose scaffold and pair id the new ones share are read back. Where every
        isolate names them alike (Shovill's contig00001, Prodigal's gene IDs 1_1, 1_2), that is every indexed
        genome's: past :data:`_COPY_MATCHES` such comparisons, :data:`_COPY_PROBES` pairs spread over each new genome
        pick the indexed genomes it may copy, and only those are compared pair by pair (all of them grew as new
        pairs x indexed genomes: 4e9 vectors read back for a 1,000-genome chunk appended to 1,000)."""
        parts = _vector_parts(vectors, "vectors", dim=self.dim)
        if len(ids) != sum(len(p) for p in parts):
            raise DataError(f"{sum(len(p) for p in parts)} vectors but {len(ids)} pair ids")
        if not len(ids) or not self.ntotal:
            return []
        indexed = self._ids
        old_pid, new_pid = _same_kind(indexed.pair_id, ids.pair_id)
        candidates = np.flatnonzero(_positions(_unique(new_pid), old_pid) >= 0)
        if not len(candidates):
            return []
        old_keys, new_keys = _same_kind(_joined(indexed.scaffold[candidates], old_pid[candidates]),
                                        _joined(ids.scaffold, new_pid))
        codes = _unique(np.concatenate([old_keys, new_keys]), inverse=True)[1]
        old_codes, new_codes = codes[: len(candidates)], codes[len(candidates) :]
        old_names, old_genome = _unique(indexed.genome[candidates], inverse=True)  # codes of the candidates' genomes
        names, new_genome = _unique(ids.genome, inverse=True)
        namesake = _positions(*_same_kind(old_names, names))  # a new genome's code among old_names, or -1
        order = np.argsort(old_codes, kind="stable")
        low = np.searchsorted(old_codes[order], new_codes, "left")
        count = np.searchsorted(old_codes[order], new_codes, "right") - low

        def matches(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
            """(new row, candidate) for every candidate of those new rows' scaffold and pair id."""
            n = count[rows]
            new_rows = np.repeat(rows, n)
            within = np.arange(len(new_rows)) - np.repeat(np.cumsum(n) - n, n)
            return new_rows, order[np.repeat(low[rows], n) + within]

        if int(count.sum()) <= _COPY_MATCHES:
            new_rows, old = self._close_copies(parts, *matches(np.arange(len(ids))), candidates, new_genome,
                                               old_genome, namesake)
        else:
            rows = np.flatnonzero(count)
            grouped = rows[np.argsort(new_genome[rows], kind="stable")]  # each genome's rows, in file order
            sizes = np.bincount(new_genome[rows], minlength=len(names))
            first = np.cumsum(sizes) - sizes
            spread = np.minimum(sizes, _COPY_PROBES)
            genome = np.repeat(np.arange(len(names)), spread)
            step = np.arange(len(genome)) - np.repeat(np.cumsum(spread) - spread, spread)
            probes = grouped[first[genome] + step * sizes[genome] // np.maximum(spread[genome], 1)]
            new_rows, old = self._close_copies(parts, *matches(probes), candidates, new_genome, old_genome, namesake)
            picked = np.unique(new_genome[new_rows] * len(old_names) + old_genome[old])
            # each pair of a picked new genome against the pair of its scaffold and pair id in the picked indexed one
            width = int(codes.max()) + 1
            keyed = old_genome * width + old_codes  # one candidate at most: pair ids are unique in a genome
            by_key = np.argsort(keyed, kind="stable")
            new_of, old_of = np.divmod(picked, len(old_names))
            take = [grouped[first[a] : first[a] + sizes[a]] for a in new_of.tolist()]
            new_rows = np.concatenate([np.zeros(0, np.int64), *take])
            wanted = np.repeat(old_of, [len(t) for t in take]) * width + new_codes[new_rows]
            slot = np.minimum(np.searchsorted(keyed[by_key], wanted), len(keyed) - 1)
            hit = keyed[by_key][slot] == wanted
            new_rows, old = self._close_copies(parts, new_rows[hit], by_key[slot[hit]], candidates, new_genome,
                                               old_genome, namesake)
        if not len(new_rows):
            return []
        key = new_genome[new_rows] * len(old_names) + old_genome[old]
        pairs, found = np.unique(np.unique(key * len(ids) + new_rows) // len(ids), return_counts=True)
        sizes = np.bincount(new_genome, minlength=len(names))
        new_of, old_of = np.divmod(pairs, len(old_names))
        return [(str(names[a]), str(old_names[b])) for a, b, n in zip(new_of.tolist(), old_of.tolist(),
                                                                       found.tolist()) if n >= share * sizes[a]]

    def _close_copies(self, parts: Sequence[np.ndarray], new_rows: np.ndarray, old: np.ndarray,
                      candidates: np.ndarray, new_genome: np.ndarray, old_genome: np.ndarray,
                      namesake: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Of (new row, candidate) matches, those of another genome name whose vectors are the same (cosine >=
        SELF_SIMILARITY; on PQ codes without re-ranking codes, the new vector's code is the stored one, as the
        decoded codes of a copy fell far below that cosine): the new vectors read once each, the stored ones a block of
        matches at a time."""
        other = namesake[new_genome[new_rows]] != old_genome[old]
        new_rows, old = new_rows[other], old[other]
        if not len(new_rows):
            return new_rows, old
        unique_new, where = np.unique(new_rows, return_inverse=True)
        fresh = _normalised(_rows_of(parts, unique_new))
        close = np.zeros(len(new_rows), bool)
        if self.kind == "ivfpq" and not self.refined:  # PQ codes alone: the same vector decodes to the same code
            cpu = self._cpu_index()
            fresh = np.asarray(cpu.sa_decode(cpu.sa_encode(fresh)), dtype=np.float32)
            with self._stored_rows() as read:
                for start in range(0, len(new_rows), _CHUNK):
                    block = slice(start, start + _CHUNK)
                    close[block] = (fresh[where[block]] == read(candidates[old[block]])).all(axis=1)
            return new_rows[close], old[close]
        with self._stored_rows() as read:
            for start in range(0, len(new_rows), _CHUNK):  # many isolates named alike: a block of matches at a time
                block = slice(start, start + _CHUNK)
                stored = read(candidates[old[block]])
                stored /= np.maximum(np.linalg.norm(stored, axis=1, keepdims=True), 1e-30)
                close[block] = np.einsum("ij,ij->i", fresh[where[block]], stored) >= SELF_SIMILARITY
        return new_rows[close], old[close]

    @contextlib.contextmanager
    def _stored_rows(self) -> Iterator[Any]:
        """A reader of the stored vectors of given rows (exact but for PQ and re-ranking codes); an IVF index's
        direct map, made for it, is dropped again afterwards, so that what is saved stays as it was."""
        cpu, made = self._readable_cpu_index()
        try:
            yield lambda rows: np.asarray(cpu.reconstruct_batch(np.ascontiguousarray(rows, dtype=np.int64)),
                                          dtype=np.float32)
        finally:
            if made is not None:
                made.set_direct_map_type(_faiss().DirectMap.NoMap)

    def _readable_cpu_index(self) -> tuple[Any, Any]:
        """The CPU index with its stored vectors readable by row number, and the IVF index whose direct map was made
        for that (None if none was): IVF lists keep no row order (re-ranking codes do, in row order already)."""
        faiss = _faiss()
        cpu = self._cpu_index()
        if self.kind in ("ivf", "ivfpq") and not self.refined:
            ivf = faiss.extract_index_ivf(cpu)
            if ivf.direct_map.type == faiss.DirectMap.NoMap:
                ivf.make_direct_map()
                return cpu, ivf
        return cpu, None

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
        check_flags("PairIndex.save", overwrite=overwrite)  # overwrite='no' replaced the index there
        faiss = _faiss()
        cpu = self._cpu_index()
        with atomic_directory(path, overwrite=overwrite) as tmp:
            with open(tmp / INDEX_FILE, "wb") as handle:  # through Python: a failed write is the kernel's reason
                faiss.write_index(cpu, faiss.PyCallbackIOWriter(handle.write))
            with open(tmp / PAIRS_FILE, "w", encoding="utf-8", newline="\n") as handle:
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
                MODEL_KEY: self.model_id,
            })

    @classmethod
    def load(cls, path: PathLike, *, device: Device = "auto") -> PairIndex:
        """Load an index folder written by :meth:`save`, verifying manifest, paths and checksums first.

        Raises DataError for a missing folder/file, a foreign or newer manifest, a manifest path that leaves the
        folder (``..`` or absolute), a checksum mismatch, or counts/dimensions that disagree.
        """
        folder = folder_path(path, PAIR_INDEX)
        manifest = read_manifest(folder, PAIR_INDEX, required=(INDEX_FILE, PAIRS_FILE), upgrade=_index_from_version_1,
                                 verify=False)
        mpath = folder / MANIFEST
        kind, group_by, dim, count = (manifest.get(k) for k in ("index_type", "group_by", "dim", "count"))
        if kind not in INDEX_KINDS or group_by not in GROUP_BYS or manifest.get("metric") != "cosine":
            raise DataError(f"{mpath}: unknown index_type, group_by or metric")
        if not isinstance(dim, int) or not isinstance(count, int) or dim < 1 or count < 0:
            raise DataError(f"{mpath}: dim and count must be non-negative integers")
        index_path, pairs_path = folder / INDEX_FILE, folder / PAIRS_FILE
        faiss = _faiss()
        with contextlib.ExitStack() as stack:  # each file opened once and hashed: the bytes read are those checked
            handles = open_listed(folder, manifest, PAIR_INDEX, stack, required=(INDEX_FILE, PAIRS_FILE))
            try:  # streamed from the hashed handle (a file renamed in meanwhile was read by name), never held twice
                cpu = faiss.read_index(faiss.PyCallbackIOReader(handles[INDEX_FILE].read))
            except RuntimeError as exc:
                first = str(exc).strip().splitlines()[0] if str(exc).strip() else "unreadable"
                raise DataError(f"{index_path}: not a readable FAISS index ({first})") from None
            params = manifest.get("params") if isinstance(manifest.get("params"), dict) else {}
            _check_index_type(faiss, cpu, kind, params, index_path)
            _decodable(faiss, cpu)
            if cpu.d != dim or cpu.ntotal != count:
                raise DataError(f"{index_path}: holds {cpu.ntotal} x {cpu.d} vectors, manifest says {count} x {dim}")
            ids = dataclasses.replace(read_pair_ids(pairs_path, handle=handles[PAIRS_FILE]),
                                      model_id=checked_model(manifest.get(MODEL_KEY), str(mpath)))
        if len(ids) != count:
            raise DataError(f"{pairs_path}: lists {len(ids)} pairs, manifest says {count}")
        loaded = cls(cpu, ids, kind=kind, group_by=group_by, params=params)
        dev, gpu = _resolve_device(device)
        if dev == "cuda":
            loaded._to_gpu(gpu)
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
        threads: int = 1,
        query_ids: Sequence | np.ndarray | None = None,
        query_genomes: Sequence | np.ndarray | None = None,
        query_scaffolds: Sequence | np.ndarray | None = None,
        exclusion: Exclusion = "auto",
        k_factor: int | None = None,
        query_model: str | None = None,
        progress: Advance | None = None,
    ) -> SearchResult:
        """The ``k`` most cosine-similar indexed pairs of each query, never from the query's own group.

        Arguments:
            query_vectors: (nq, d) vectors (normalised here). query_groups: the scaffold (or genome, as the index
                groups) of each query; a group unknown to the index excludes nothing. Pass ``query_groups(ids)``:
                scaffold groups are genome-qualified where one scaffold name is in several indexed genomes, and a
                plain scaffold name would leave out another genome's scaffold of that name (contig00001).
            nprobe: IVF lists probed (default :data:`DEFAULT_NPROBE`); efSearch: HNSW beam width (default
                :data:`DEFAULT_EF_SEARCH`, at least k). threads: FAISS threads (default 1; 0: every usable core).
                query_ids, query_genomes, query_scaffolds: names, genomes and scaffolds of the queries, for rendering.
            exclusion: ``auto`` (see module docstring), or force ``selector`` / ``overfetch`` (tests, benchmarks).
            k_factor: refined IVF-PQ: candidates re-ranked per wanted neighbour (default: the build's ``k_factor``).
            query_model: identity of the model that made the queries (``PairIds.model_id``): refused (DataError)
                when the index records another.
            progress: called with the number of queries finished.

        Fewer than k neighbours (target -1) come back only when fewer than k indexed pairs lie outside the group;
        k is capped at the number of indexed pairs (a huge k would allocate queries x k for nothing).
        """
        if isinstance(k, bool) or int(k) != k or k < 1:
            raise UsageError(f"k must be a positive integer, not {k!r}")
        k = max(1, min(int(k), self.ntotal))  # more neighbours than indexed pairs cannot exist (--k 100000)
        if exclusion not in ("auto", "selector", "overfetch"):
            raise UsageError(f"exclusion must be auto, selector or overfetch, not {exclusion!r}")
        check_callbacks("PairIndex.search", progress=progress)
        for name, value in (("nprobe", nprobe), ("efSearch", efSearch)):  # '8' was a TypeError of the comparison
            if value is not None and (not whole_number(value) or value < 1):
                raise UsageError(f"{name} must be a whole number >= 1, not {value!r}")
        if k_factor is not None and (isinstance(k_factor, bool) or int(k_factor) != k_factor or k_factor < 1):
            raise UsageError(f"k_factor must be a positive integer, not {k_factor!r}")
        kf = int(self.params.get("k_factor", 1) if k_factor is None else k_factor) if self.refined else 1
        if None not in (self.model_id, query_model):
            self.check_model(query_model)
        q = _as_matrix(query_vectors, "query vectors", dim=self.dim)
        groups = _per_query(query_groups, len(q), "query groups")
        query_ids = None if query_ids is None else _per_query(query_ids, len(q), "query ids")
        query_genomes = None if query_genomes is None else _per_query(query_genomes, len(q), "query genomes")
        query_scaffolds = None if query_scaffolds is None else _per_query(query_scaffolds, len(q), "query scaffolds")
        self._ensure_groups()
        if self._by_genome and not _all_contain(groups, GROUP_SEP):
            raise UsageError("this index holds scaffolds of one name in several genomes: give query groups from "
                             "index.query_groups(ids)")
        own = self._codes_for(groups)
        with _omp_threads(threads) as nthreads:
            dist, lab = self._search_codes(q, own, k, nprobe, efSearch, exclusion, nthreads, progress, kf)
        if self.kind == "flat" and self.device != "cuda":
            dist = self._exact_similarities(q, lab)
        return _finish(dist, lab, query_ids, query_genomes, query_scaffolds)

    def _exact_similarities(self, q: np.ndarray, lab: np.ndarray) -> np.ndarray:
        """Each found neighbour's cosine recomputed from its stored vector in float64, a block of queries at a time.

        FAISS' BLAS path sums in an order that depends on the thread count: the last float32 bit differed between
        ``-t 1`` and ``-t 2`` and flipped printed similarities (and the order of near-ties); this sum does not."""
        dist = np.full(lab.shape, -np.inf, np.float32)
        step = max(1, _RESCORE_VALUES // max(lab.size // max(len(q), 1) * self.dim, 1))
        for start in range(0, len(q), step):
            rows = lab[start : start + step]
            found = rows >= 0
            targets = self._index.reconstruct_batch(np.ascontiguousarray(rows[found], dtype=np.int64))
            block = np.asarray(q[start : start + step], dtype=np.float64)
            block /= np.linalg.norm(block, axis=1, keepdims=True)
            owner = np.nonzero(found)[0]
            sims = np.einsum("ij,ij->i", block[owner], targets.astype(np.float64))
            dist[start : start + step][found] = sims.astype(np.float32)
        return dist

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
                               query_scaffolds=self._ids.scaffold, **kwargs)
        if self.kind == "ivfpq" and not self.refined:
            log.warning("search_all on IVF-PQ without vectors uses PQ-decoded queries")
        # queries read back block by block: 1e7 x 512 float32 queries at once would be 20 GB
        parts = [self.search(self._reconstruct(start, min(start + _QUERY_BLOCK, self.ntotal)),
                             groups[start : start + _QUERY_BLOCK], k, **kwargs)
                 for start in range(0, self.ntotal, _QUERY_BLOCK)]
        return SearchResult(*(np.concatenate([getattr(r, name) for r in parts]) if parts else
                              np.zeros((0, min(k, max(self.ntotal, 1))), dtype)
                              for name, dtype in (("target", np.int64), ("similarity", np.float32), ("rank", np.int32))),
                            query_ids=self._ids.pair_id, query_genomes=self._ids.genome,
                            query_scaffolds=self._ids.scaffold)

    def _reconstruct(self, start: int, stop: int) -> np.ndarray:
        """Stored vectors of rows ``start:stop`` (search_all's queries; the direct map is kept for the next block)."""
        return self._readable_cpu_index()[0].reconstruct_n(start, stop - start)

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
        # bucket queries by fetch size (next power of two of k + g + 1: one candidate past the cut, to see a tie
        # across it) so each call is one batch
        need = np.minimum(k + sizes[rows] + 1, limit)
        bucket = np.minimum(2 ** np.ceil(np.log2(np.maximum(need, 1))).astype(np.int64), limit)
        for fetch in np.unique(bucket):
            pending = rows[bucket == fetch]
            fetch = int(fetch)
            while len(pending):
                tied = np.zeros(len(pending), bool)
                for start in range(0, len(pending), _CHUNK):
                    part = pending[start : start + _CHUNK]
                    qb = _normalised(q[part])
                    d, i = index.search(qb, fetch) if params is None else index.search(qb, fetch, params=params)
                    keep = (i >= 0) & (self._group_codes[np.maximum(i, 0)] != own[part][:, None])
                    # other groups' rows first, by similarity then row, as results are ordered (_finish): FAISS
                    # returns tied candidates in no set order, so cutting its list at k kept either of two twins
                    order = np.lexsort((i, -d, ~keep), axis=1)[:, :k]
                    got = np.take_along_axis(keep, order, axis=1)
                    lab[part, : order.shape[1]] = np.where(got, np.take_along_axis(i, order, axis=1), -1)
                    dist[part, : order.shape[1]] = np.where(got, np.take_along_axis(d, order, axis=1), -np.inf)
                    # a full list whose last candidate ties with the k-th kept one may hold only some of the tie
                    tied[start : start + len(part)] = (i[:, -1] >= 0) & (dist[part, k - 1] == d[:, -1])
                    if progress is not None:
                        progress(len(part))
                # a short row whose fetched list was full may have more candidates, and so may a tie at the cut:
                # fetch more
                full = (lab[pending, k - 1] < 0) | tied
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
            queries, todo = _normalised(q[part]), np.arange(len(part))
            fetch = min(k + 1, self.ntotal)  # one candidate past the cut, to see a tie across it
            while True:
                d, i = index.search(queries[todo], fetch, params=params)
                order = np.lexsort((i, -d, i < 0), axis=1)  # by similarity then row, as results are (_finish)
                d, i = np.take_along_axis(d, order, axis=1), np.take_along_axis(i, order, axis=1)
                dist[part[todo]], lab[part[todo]] = d[:, :k], i[:, :k]
                # FAISS keeps either of two tied candidates: a tie reaching the list's end may go on past it
                tied = (i[:, -1] >= 0) & (d[:, k - 1] == d[:, -1])
                if fetch >= self.ntotal or fetch == k or not tied.any():
                    break
                todo, fetch = todo[tied], min(2 * fetch, self.ntotal)
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


def _per_query(values: Sequence | np.ndarray, n: int, what: str) -> np.ndarray:
    """``values`` as one entry per query; a lone string (or any other shape) is a one-line DataError."""
    array = np.asarray(values)
    if array.shape != (n,):
        given = f"{array.shape[0]} {what}" if array.ndim == 1 else f"{what} of shape {array.shape}"
        raise DataError(f"{n} query vectors but {given} (one per query)")
    return array


def _utf8(values: np.ndarray) -> np.ndarray | None:
    """Text values as a fixed-width bytes array (UTF-8), which numpy sorts and binary-searches correctly; None if
    a value ends in NUL (fixed-width bytes would drop it)."""
    raw = [str(v).encode("utf-8") for v in values.tolist()]
    if any(r.endswith(b"\0") for r in raw):
        return None
    return np.array(raw, dtype=bytes)


def _all_contain(values: np.ndarray, part: str) -> bool:
    """Whether every value, as text, contains ``part``."""
    text = _as_text(values)
    if text.dtype.kind == "T":
        return bool((np.strings.find(text, part) >= 0).all())
    return all(part in str(v) for v in text.tolist())


def _decodable(faiss: Any, cpu: Any) -> None:
    """Point an IndexIVFPQFastScan read from disk at its own PQ: FAISS (1.15) sets its ``fine_quantizer`` only in the
    constructor, so reconstruct, sa_decode and reconstruct_from_offset of a read one followed a null pointer
    (segmentation fault: 'retrieve' without queries, 'retrieve evaluate', the copy check of --append)."""
    try:
        ivf = faiss.downcast_index(faiss.extract_index_ivf(cpu))
    except RuntimeError:  # not an IVF index
        return
    if isinstance(ivf, faiss.IndexIVFPQFastScan) and ivf.fine_quantizer is None:
        ivf.fine_quantizer = ivf.pq


def _check_index_type(faiss: Any, cpu: Any, kind: str, params: dict, path: Path) -> None:
    """Raise DataError unless the FAISS index is what the manifest says (kind, metric, refine code)."""
    pq_class = faiss.IndexIVFPQFastScan if params.get("fast_scan") is True else faiss.IndexIVFPQ
    expected = {"flat": faiss.IndexFlat, "ivf": faiss.IndexIVFFlat, "hnsw": faiss.IndexHNSWFlat, "ivfpq": pq_class}
    refine = params.get("refine", "none")
    what = kind if refine == "none" else f"{kind} refined by {refine}"
    base = faiss.downcast_index(cpu.base_index) if isinstance(cpu, faiss.IndexRefine) else cpu
    fine = faiss.downcast_index(cpu.refine_index) if isinstance(cpu, faiss.IndexRefine) else None
    fine_type = {"none": type(None), "flat": faiss.IndexFlat, "sq8": faiss.IndexScalarQuantizer,
                 "fp16": faiss.IndexScalarQuantizer}.get(refine)
    if pq_class is faiss.IndexIVFPQFastScan:
        what += " with fast-scan codes"
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
    return {**{k: v for k, v in manifest.items() if k != "files"}, FILES_KEY: hashes}


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
