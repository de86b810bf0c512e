"""Views of gene pairs: per-gene matrices from the chosen protein and context views, pair-level features,
and the assembly of pair vectors the fusion head reads.

On disk an embedding folder holds::

    protein.npy        genes x d_protein   (row order = genes.tsv)
    context.npy        genes x d_context   (absent when the context view has no per-gene part)
    genes.tsv          gene_id, scaffold, start, end, strand   (1-based, inclusive, + or -: where each gene
                       sits, checked against the pairs scored or trained on; an older folder's lists gene_id,
                       scaffold only, and its genes are found by id alone)
    pair_context.npy   pairs x d_pair      (absent when no builtin context view)
    pairs.tsv          pair_id             (row order of pair_context.npy)
    manifest.json      views, model ids and hashes, dims, dtype, device, version, content hashes

Pair vectors: protein = [e_a ; e_b ; |e_a - e_b|], context = [c_a ; c_b ; pair features].
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import stat
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Iterator, Mapping, Sequence

import numpy as np

from . import __version__
from .checkpoint import PAIR_LAYOUT, ModelInputs
from .errors import DataError, UsageError, check_flags
from .records import NO_SEQUENCE_HINT, Genome, RebuiltFromFields, read_only
from .io.files import PathLike, read_text
from .io.outputs import atomic_directory, fresh_file, save_npy
from .manifest import (FILES_KEY, HEADER, MANIFEST, ManifestKind, folder_path, open_listed, read_manifest,
                       write_manifest)
from .pairs import PAIRS_TABLE, PAIRS_TAKEN, GenePair, adjacent_pairs, genes_comment, genes_line_code, require_pairs
from .progress import Stage, check_callbacks, silent_stage
from .runtime import check_device, resolve_device, resolve_threads  # noqa: F401  (check_device: also the CLI's)
from .runtime import thread_limits
from .vocabulary import CONTEXT_VIEWS, PROTEIN_VIEWS

log = logging.getLogger("microfuse")

#: Named subsets of the context columns. "core": the genome-independent layout of a pair (strand arrangement,
#: spacer, the -1/-4/-8 overlaps of translational coupling, genes between); the signals that ``docs/findings.md``
#: shows do not transfer between species (terminator, promoter, codon usage, GC, lengths) are left out.
CONTEXT_PRESETS = {
    "core": ("strand_same", "strand_convergent", "strand_divergent", "dist_clip", "dist_slog", "overlap_1",
             "overlap_4", "overlap_8", "overlap_other", "genes_between_log", "opp_strand_between"),
}
ARRAY_FILES = ("protein.npy", "context.npy", "pair_context.npy")
ID_FILES = ("genes.tsv", "pairs.tsv")
#: genes.tsv's header since gene places are recorded (an older folder's is ``gene_id\tscaffold``).
GENES_HEADER = "gene_id\tscaffold\tstart\tend\tstrand\n"
_ASCII_NUMBER = re.compile(r"[0-9]+")


def _where(scaffold: str, start: int, end: int, strand: int) -> str:
    return f"{scaffold}:{start}..{end}({'+' if strand > 0 else '-'})"


def _rows(text: str) -> list[str]:
    """An ids file's rows after its header, split on the newlines written: ``str.splitlines`` also splits on U+2028,
    U+2029 and NEL, which a scaffold name may hold (gene ids carry them percent-encoded: ``safe_id``)."""
    return text.removesuffix("\n").split("\n")[1:]


class _Places(tuple):
    """Gene places ``_places`` parsed and checked already: ``Embeddings`` keeps them without a second pass."""


def _places(genes: list[list[str]], path: Path) -> _Places:
    """(start, end, strand) of genes.tsv's rows, checked and parsed a column at a time (row by row, with the
    normalising in ``Embeddings``, it was 2-3 us a gene, most of the load of a large folder); a row that fails is
    found and named row by row."""
    if genes and set(map(len, genes)) == {5}:
        _, _, starts, ends, strands = zip(*genes)
        # ASCII digits only: str.isdigit() alone passes '19²', which int() refuses; no field may be empty, and none
        # so long that int64 overflows
        if "" not in starts and "" not in ends and set(strands) <= {"+", "-"} \
                and max(map(len, starts)) < 19 and max(map(len, ends)) < 19 \
                and all(_ASCII_NUMBER.fullmatch("".join(c)) for c in (starts, ends)):
            start, end = np.array(starts, dtype=np.int64), np.array(ends, dtype=np.int64)
            if ((1 <= start) & (start <= end)).all():
                strand = np.where(np.array(strands) == "+", 1, -1)
                return _Places(zip(start.tolist(), end.tolist(), strand.tolist()))
    for number, g in enumerate(genes, start=2):
        if len(g) != 5 or not _ASCII_NUMBER.fullmatch(g[2]) or not _ASCII_NUMBER.fullmatch(g[3]) \
                or g[4] not in ("+", "-") or not 1 <= int(g[2]) <= int(g[3]):
            raise DataError(f"{path}: line {number}: corrupted (gene_id, scaffold, start, end, strand expected)")
    return _Places((int(g[2]), int(g[3]), 1 if g[4] == "+" else -1) for g in genes)  # numbers of 19+ digits


#: manifest.json of an embedding folder (manifest.py); version 1 since 0.1.0.
EMBEDDINGS = ManifestKind("microfuse-embeddings", (1,), "embedding",
                          "run `microfuse embed` first")



@dataclass(frozen=True)
class ViewConfig:
    """Which views to compute and with which models; ``device='auto'`` takes a GPU when one is present."""

    protein_view: str = "builtin"
    context_views: tuple[str, ...] = ("builtin",)
    protein_model: str | None = None
    context_model: str | None = None
    esm_model: str | None = None
    device: str = "auto"
    dtype: str | None = None
    offline: bool = False
    #: Padded residues per model batch, ProstT5's and ESM-2's; None: each model's own default.
    batch_residues: int | None = None
    #: Bacformer's contig separator: "cls" (the official embedding helpers) or "sep" (the pretraining layout).
    contig_separator: str = "cls"
    #: Context columns a model will read (None = all); lets `score` skip costly features no model uses.
    context_features: tuple[str, ...] | None = None

    def __post_init__(self):
        check_device(self.device)
        check_flags("ViewConfig", offline=self.offline)  # offline='no' was kept, a true str: the hub never asked
        object.__setattr__(self, "offline", bool(self.offline))  # numpy's bool too, as a plain bool
        if self.contig_separator not in ("cls", "sep"):
            raise UsageError.naming(("contig_separator", "--contig-separator"),
                                    f" must be cls or sep, not {self.contig_separator!r}")

    @property
    def needs_gene_context(self) -> bool:
        return self.context_features is None or any(name.startswith(("a:", "b:")) for name in self.context_features)

    @property
    def pair_columns(self) -> list[str] | None:
        """The pair-level builtin columns to compute (None = all), in their canonical order."""
        if self.context_features is None:
            return None
        wanted = set(self.context_features)
        return [n for n in _builtin_pair_names() if n in wanted]

    @property
    def needs_sequence(self) -> bool:
        """Whether these views read the genome's DNA: the builtin context view's gene features, or a pair column
        beyond the layout and the spacer calibration (which read coordinates alone, as the packaged model's do). A
        pairs TSV holds no sequence: `embed` of one needs --fasta exactly when this holds."""
        if "builtin" not in self.context_views:
            return False
        if self.needs_gene_context:
            return True
        from .views.builtin.layout import LAYOUT_FEATURES

        return any(name not in LAYOUT_FEATURES and name not in CALIBRATION_NAMES for name in self.pair_columns)

    @classmethod
    def parse(cls, protein: str, context: str, **kwargs: Any) -> "ViewConfig":
        """The views `embed --protein-view P --context-view C` computes: ``protein`` one name, ``context`` one or
        more comma-separated (``parse("builtin", "builtin")``: the packaged model's, no weights); ``kwargs`` are
        the other fields (``device``, ``offline``, ``context_features``, the models' folders or hub ids).

        Raises:
            UsageError: an unknown or repeated view name, a malformed ``device``.
        """
        if not isinstance(protein, str) or not isinstance(context, str):  # a list was an AttributeError ('split')
            raise UsageError(f"ViewConfig.parse takes the view names as str (e.g. 'builtin', 'builtin,bacformer'), "
                             f"not {type(protein).__name__} and {type(context).__name__}")
        contexts = tuple(v.strip() for v in context.split(",") if v.strip())
        if protein not in PROTEIN_VIEWS:
            raise UsageError.naming(("ViewConfig.parse's protein view", "--protein-view"),
                                    f" must be one of {', '.join(PROTEIN_VIEWS)}, not {protein!r}")
        bad = [v for v in contexts if v not in CONTEXT_VIEWS]
        if bad or not contexts or len(set(contexts)) != len(contexts):
            raise UsageError.naming(("ViewConfig.parse's context view", "--context-view"),
                                    f" takes one or more of {', '.join(CONTEXT_VIEWS)} (comma-separated), "
                                    f"not {context!r}")
        return cls(protein, contexts, **kwargs)

    @property
    def names(self) -> dict[str, str]:
        return {"protein": self.protein_view, "context": ",".join(self.context_views)}

    def foundation_models(self) -> list[tuple[Any, str]]:
        """(views.foundation.FoundationModel, folder or hub id) of every model these views load, in loading order."""
        from .views.foundation import BACFORMER, ESM2, PROSTT5

        models = [(PROSTT5, self.protein_model or PROSTT5.default)] if self.protein_view == "prostt5" else []
        if "bacformer" in self.context_views:
            models += [(BACFORMER, self.context_model or BACFORMER.default), (ESM2, self.esm_model or ESM2.default)]
        return models

    def model_folders(self) -> list[str]:
        """The folders of the foundation models these views load that are at hand (views.hf.model_folder): inputs
        of the run, which no output may replace."""
        from .views.hf import model_folder

        return [str(folder) for _, model in self.foundation_models() if (folder := model_folder(model)) is not None]

    def require_models(self) -> None:
        """Refuse, before a genome is read or torch imported, a model that cannot be loaded (views.hf.
        require_model_available): without a network the error came only after both, 5-10 s or more."""
        from .views.hf import require_model_available

        for spec, model in self.foundation_models():
            require_model_available(spec, model, offline=self.offline)


def _laid_out(blocks: Mapping[tuple[str, str], np.ndarray], layout, n_rows: int) -> np.ndarray:
    """The blocks a matrix's ``layout`` (checkpoint.PAIR_LAYOUT) names, side by side in its order; a view these
    embeddings lack adds no block, and a matrix of none has no columns."""
    present = [blocks[block] for block in layout if block in blocks]
    return np.concatenate(present, axis=1) if present else np.zeros((n_rows, 0), np.float32)


def genes_hash(genes) -> str:
    """Content hash of the genes a set of embeddings was computed from (ids, coordinates, proteins)."""
    digest = hashlib.sha256()
    for g in genes:
        digest.update(f"{g.id}\t{g.scaffold}\t{g.start}\t{g.end}\t{g.strand}\t{g.protein}\n".encode())
    return digest.hexdigest()


@dataclass(frozen=True, eq=False)
class Embeddings(RebuiltFromFields):
    """Per-gene view matrices and pair-level features of one genome (or several concatenated).

    Immutable (tuples of ids, read-only arrays, a read-only manifest mapping): the views one stage computed are
    the views every later stage reads; a changed copy is ``dataclasses.replace``."""

    gene_ids: tuple[str, ...]
    gene_scaffolds: tuple[str, ...]
    protein: np.ndarray
    context: np.ndarray | None
    pair_ids: tuple[str, ...]
    pair_context: np.ndarray | None
    manifest: Mapping[str, Any] = field(default_factory=dict)
    #: (start, end, strand) of each gene, as ``gene_ids``; None for a folder written before they were recorded.
    gene_places: tuple[tuple[int, int, int], ...] | None = None

    def __post_init__(self) -> None:  # normalising the fields as built, and the row indexes derived from them
        for name in ("gene_ids", "gene_scaffolds", "pair_ids"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.gene_places is not None:
            places = tuple(self.gene_places) if isinstance(self.gene_places, _Places) else \
                tuple((int(s), int(e), 1 if int(d) > 0 else -1) for s, e, d in self.gene_places)  # load's: parsed
            if len(places) != len(self.gene_ids):
                raise DataError(f"{len(places)} gene places for {len(self.gene_ids)} genes in the embeddings")
            object.__setattr__(self, "gene_places", places)
        for name in ("protein", "context", "pair_context"):
            object.__setattr__(self, name, read_only(getattr(self, name)))
        object.__setattr__(self, "manifest", MappingProxyType(dict(self.manifest)))
        object.__setattr__(self, "_gene_row", {g: i for i, g in enumerate(self.gene_ids)})
        object.__setattr__(self, "_pair_row", {p: i for i, p in enumerate(self.pair_ids)})
        if len(self._gene_row) != len(self.gene_ids):
            raise DataError("duplicate gene ids in the embeddings")
        if len(self._pair_row) != len(self.pair_ids):
            raise DataError(f"pair {_first_repeat(self.pair_ids)!r} is listed twice in the embeddings")

    @property
    def dims(self) -> dict[str, int]:
        return {
            "protein": int(self.protein.shape[1]),
            "context": int(self.context.shape[1]) if self.context is not None else 0,
            "pair_context": int(self.pair_context.shape[1]) if self.pair_context is not None else 0,
        }

    def model_inputs(self, context_features: Sequence[str] | None = None):
        """The input contract (checkpoint.ModelInputs) of a model trained on ``pair_views(pairs, context_features)``
        of these embeddings: their views, widths and the context columns kept, for ``training.train(inputs=)``,
        so that `score` computes for the saved model the views it was trained on."""
        return ModelInputs.from_embeddings(self.manifest.get("views") or {}, self.dims, context_features)

    @property
    def context_names(self) -> list[str]:
        """Names of the x_context columns of :meth:`pair_views` (checkpoint.PAIR_LAYOUT): a:/b: gene-level columns,
        then pair columns."""
        columns = self.manifest.get("context_columns", {})
        gene, pair = list(columns.get("gene", [])), list(columns.get("pair", []))
        if len(gene) != self.dims["context"] or len(pair) != self.dims["pair_context"]:
            gene = [f"context_{i}" for i in range(self.dims["context"])]
            pair = [f"pair_{i}" for i in range(self.dims["pair_context"])]
        named = {("context", "a"): [f"a:{n}" for n in gene], ("context", "b"): [f"b:{n}" for n in gene],
                 ("pair_context", "pair"): pair}
        return [name for block in PAIR_LAYOUT["context_dim"] for name in named[block]]

    def column_index(self, names: Sequence[str]) -> np.ndarray:
        """Positions of the named context columns; a name these embeddings lack is a DataError."""
        position = {name: i for i, name in enumerate(self.context_names)}
        missing = [n for n in names if n not in position]
        if missing:
            raise DataError(f"the embeddings lack context feature(s) {', '.join(missing[:4])} that the model uses "
                            "(computed with other views or an older microfuse?)")
        return np.array([position[n] for n in names], dtype=np.int64)

    @property
    def genome_name(self) -> str | None:
        """The name of the genome these were computed from, as its reader named it (records.genome_name, or a pipe's
        first sequence: read_genome; None when the manifest records none): `score PAIRS.tsv --embeddings` names its
        genome so where the table's own ``#microfuse ... pairs genome=`` line does not (an older table), not after
        the table ('stdin' when piped), so that its --fused ids name the genome as `score GENOME` does and retrieval
        leaves the query's own genome out. `embed PAIRS.tsv` records the table's genome name, else
        ``pairs.file_named_genome``'s (the table's file name; a piped table's first scaffold)."""
        name = self.manifest.get("genome")
        return name if isinstance(name, str) and name else None

    def _made_from(self) -> str:
        """' of GENOME, whose genes are named like ID': which of a workflow's embedding folders these are."""
        made = f" of {self.genome_name}" if self.genome_name else ""
        return f"{made}, whose genes are named like {self.gene_ids[0]!r}" if self.gene_ids else made

    def pair_views(self, pairs: Sequence[GenePair], context_features: Sequence[str] | None = None
                   ) -> tuple[np.ndarray, np.ndarray]:
        """(x_protein, x_context) float32 matrices for ``pairs``; unknown genes or pairs are a DataError.

        ``context_features`` keeps only those named context columns (see :attr:`context_names`).
        """
        try:
            ia = np.fromiter((self._gene_row[p.gene_a.id] for p in pairs), dtype=np.int64, count=len(pairs))
            ib = np.fromiter((self._gene_row[p.gene_b.id] for p in pairs), dtype=np.int64, count=len(pairs))
        except KeyError as exc:
            raise DataError(f"gene {exc.args[0]!r} of the pairs is not in the embeddings{self._made_from()} "
                            "(computed from another genome or annotation?)") from None
        self._check_places(pairs, ia, ib)
        ea, eb = self.protein[ia].astype(np.float32), self.protein[ib].astype(np.float32)
        blocks = {("protein", "a"): ea, ("protein", "b"): eb, ("protein", "|a-b|"): np.abs(ea - eb)}
        if self.context is not None:
            blocks[("context", "a")] = self.context[ia].astype(np.float32)
            blocks[("context", "b")] = self.context[ib].astype(np.float32)
        if self.pair_context is not None:
            try:
                ip = np.fromiter((self._pair_row[p.pair_id] for p in pairs), dtype=np.int64, count=len(pairs))
            except KeyError as exc:
                raise DataError(f"pair {exc.args[0]!r} has no pair-level features in the embeddings, which "
                                "hold only the pairs they were computed for (a genome's: its adjacent pairs); embed "
                                "these pairs: `microfuse embed PAIRS.tsv --proteins "
                                "genes.faa --fasta GENOME.fna -o DIR`, the proteins from `microfuse pairs "
                                "--proteins`") from None
            blocks[("pair_context", "pair")] = self.pair_context[ip].astype(np.float32)
        x_protein, x_context = (_laid_out(blocks, PAIR_LAYOUT[matrix], len(pairs))
                                for matrix in ("protein_dim", "context_dim"))
        if context_features is not None:
            x_context = x_context[:, self.column_index(context_features)]
        for name, x in (("protein", x_protein), ("context", x_context)):
            if not np.isfinite(x).all():
                raise DataError(f"the {name} embeddings hold NaN or Inf values")
        return x_protein, x_context

    def _check_places(self, pairs: Sequence[GenePair], ia: np.ndarray, ib: np.ndarray) -> None:
        """Refuse pairs whose genes sit elsewhere than the embeddings' genes of their ids: gene callers number genes
        by position (NODE_1_5), Prokka and Bakta by order, so embeddings of another assembly or gene calling carry the
        pairs' ids for other genes, and were used silently. Folders without places (older) are not checked."""
        if self.gene_places is None:
            return
        made = f" of {self.genome_name}" if self.genome_name else ""
        for p, i, j in zip(pairs, ia.tolist(), ib.tolist()):
            for gene, row in ((p.gene_a, i), (p.gene_b, j)):
                here = (gene.start, gene.end, 1 if gene.strand > 0 else -1)
                if here != self.gene_places[row] or gene.scaffold != self.gene_scaffolds[row]:
                    start, end, strand = self.gene_places[row]
                    raise DataError(f"gene {gene.id!r} of the pairs is at {_where(gene.scaffold, *here)} but at "
                                    f"{_where(self.gene_scaffolds[row], start, end, strand)} in the embeddings"
                                    f"{made}: embeddings of another assembly or gene calling?")

    # ------------------------------------------------------------------------------------------------ disk

    def save(self, path: PathLike, *, dtype: str = "float32") -> None:
        """Write the folder atomically (built beside it, then swapped into place)."""
        if dtype not in ("float32", "float16"):
            raise UsageError(f"embedding dtype must be float32 or float16, not {dtype!r}")
        with atomic_directory(path) as tmp:
            files = {"protein.npy": self.protein}
            if self.context is not None:
                files["context.npy"] = self.context
            if self.pair_context is not None:
                files["pair_context.npy"] = self.pair_context
            hashed = {}  # the arrays' checksums as written: the manifest does not read them back
            for name, array in files.items():
                digest = hashlib.sha256()
                save_npy(tmp / name, np.ascontiguousarray(array, dtype=dtype), digest=digest)
                hashed[name] = digest.hexdigest()
            if self.gene_places is None:  # a folder read without them is written as it was
                genes = "gene_id\tscaffold\n" + "".join(f"{g}\t{s}\n" for g, s in zip(self.gene_ids,
                                                                                     self.gene_scaffolds))
            else:
                genes = GENES_HEADER + "".join(
                    f"{g}\t{s}\t{start}\t{end}\t{'+' if strand > 0 else '-'}\n"
                    for g, s, (start, end, strand) in zip(self.gene_ids, self.gene_scaffolds, self.gene_places))
            (tmp / "genes.tsv").write_text(genes)
            (tmp / "pairs.tsv").write_text("pair_id\n" + "".join(f"{p}\n" for p in self.pair_ids))
            fields = {k: v for k, v in self.manifest.items() if k not in HEADER}
            write_manifest(tmp, EMBEDDINGS, [*files, *ID_FILES], dict(
                fields, dtype=dtype, files=sorted(files), dims=self.dims, n_genes=len(self.gene_ids),
                n_pairs=len(self.pair_ids)), hashed=hashed)

    @classmethod
    def load(cls, path: PathLike, *, mmap: bool = True, verify: bool = True) -> "Embeddings":
        """Read a folder written by :meth:`save`; checks the manifest, hashes, shapes and finiteness."""
        folder = folder_path(path, EMBEDDINGS)
        manifest = read_manifest(folder, EMBEDDINGS, required=("protein.npy", *ID_FILES), verify=False)
        with ExitStack() as stack:  # each file opened once: the bytes hashed are those read or mapped
            handles = open_listed(folder, manifest, EMBEDDINGS, stack, required=("protein.npy", *ID_FILES),
                                  verify=verify)
            arrays, text, pair_ids = cls._read_files(folder, manifest, handles, mmap)
        genes = [line.split("\t") for line in _rows(text)]
        places = None
        if text.startswith(GENES_HEADER):
            places = _places(genes, folder / "genes.tsv")
        else:
            # info, not a warning: said on each run of a workflow with such a folder, where -q keeps it out
            log.info("%s: genes.tsv records no gene coordinates (an older folder): the genes of the pairs are "
                     "looked up by id alone, their places unchecked; re-run `microfuse embed` to record them", folder)
        for name, what, ids in (("genes.tsv", "gene", [g[0] for g in genes]), ("pairs.tsv", "pair", pair_ids)):
            repeat = _first_repeat(ids)  # else a pair listed twice read as the last row, or as no pair features
            if repeat is not None:
                raise DataError(f"{folder / name}: corrupted ({what} {repeat!r} is listed twice)")
        emb = cls([g[0] for g in genes], [g[1] if len(g) > 1 else "" for g in genes], arrays["protein.npy"],
                  arrays.get("context.npy"), pair_ids, arrays.get("pair_context.npy"), manifest, places)
        for name, array, rows in (("protein.npy", emb.protein, len(genes)), ("context.npy", emb.context, len(genes)),
                                  ("pair_context.npy", emb.pair_context, len(pair_ids))):
            if array is not None and (array.ndim != 2 or array.shape[0] != rows):
                raise DataError(f"{folder / name}: shape {array.shape} does not match {rows} rows of its ids file")
        return emb

    @staticmethod
    def _read_files(folder: Path, manifest: dict, handles: Mapping[str, Any],
                    mmap: bool) -> tuple[dict, str, list[str]]:
        """The arrays (memory-mapped with ``mmap``, else read whole), genes.tsv's text and the pair ids of
        ``folder``, read from ``handles`` (``open_listed``'s: the files as hashed; one left out of them is opened by
        path, failing as it did), the manifest's own fields checked first."""
        manifest_path = folder / MANIFEST
        if not isinstance(manifest.get("views", {}), dict):
            raise DataError(f"{manifest_path}: corrupted manifest (views must be an object)")
        columns = manifest.get("context_columns", {})
        if not isinstance(columns, dict) or not all(
                isinstance(names, list) and all(isinstance(n, str) for n in names) for names in columns.values()):
            raise DataError(f"{manifest_path}: corrupted manifest (context_columns must map gene and pair to lists "
                            "of column names)")
        files = manifest.get("files", [])
        if not isinstance(files, list) or not all(isinstance(f, str) for f in files) \
                or not set(files) <= set(ARRAY_FILES) or "protein.npy" not in files:
            raise DataError(f"{manifest_path}: unexpected file list {files!r}")
        for name in sorted(set(files) - set(manifest[FILES_KEY])):
            raise DataError(f"{manifest_path}: manifest lists no {name}")
        arrays = {}
        for name in files:
            try:
                if name in handles:
                    arrays[name] = _read_npy(handles[name], mmap)
                else:
                    arrays[name] = np.load(folder / name, mmap_mode="r" if mmap else None, allow_pickle=False)
            except Exception as exc:  # a damaged header: ValueError, EOFError, OverflowError, SyntaxError, ...
                raise DataError(f"{folder / name}: unreadable array ({type(exc).__name__}: "
                                f"{str(exc).splitlines()[0][:80] if str(exc) else ''})") from None
            if arrays[name].dtype.kind != "f":
                raise DataError(f"{folder / name}: holds {arrays[name].dtype} values, not floating point")
        try:  # genes.tsv once: its header says whether it records places; read as every text input is (size caps,
            # binary refused), from the bytes hashed
            text, pairs = (read_text(folder / name, handle=handles[name]) if name in handles
                           else (folder / name).read_text() for name in ID_FILES)
        except (OSError, UnicodeDecodeError) as exc:
            raise DataError(f"{folder}: unreadable genes.tsv or pairs.tsv ({type(exc).__name__})") from None
        return arrays, text, _rows(pairs)

    def check_genes(self, genes) -> None:
        """Refuse embeddings computed from other genes than ``genes`` (by content hash). Those of a pairs table
        (`embed PAIRS.tsv`) hold its pairs' genes only, with context features of those genes alone: never a
        whole genome's, even of the same genome; the message says so and what to run."""
        expected = self.manifest.get("genes_sha256")
        if expected and genes and all(g.protein for g in genes) and genes_hash(genes) != expected:
            if self.manifest.get("gene_source") == PAIRS_TABLE:
                raise DataError(f"the embeddings{self._made_from()} were made from a pairs table (`microfuse embed "
                                f"PAIRS.tsv`): they hold its pairs' {len(self.gene_ids):,} genes, with context "
                                f"features of those alone, not this input's {len(genes):,} (content hash mismatch); "
                                "score that table (`microfuse score PAIRS.tsv --embeddings DIR`), or embed this "
                                "genome (`microfuse embed GENOME -o DIR`)")
            raise DataError("the embeddings were computed from other genes or proteins than this input "
                            "(content hash mismatch); rerun `microfuse embed`")

    def check_genetic_code(self, genes_line: str | None, what: str, pairs: Sequence[GenePair]) -> None:
        """Refuse embeddings whose genes were translated with another genetic code than ``what`` says its were
        (``genes_line``: its ``#genes`` line): a table and the embeddings of one genome made with two `-g` have the
        same genes at the same places and other proteins, which the places do not tell. Either not saying (an older
        table or folder) is not checked. Embeddings lacking a gene of ``pairs``, or placing it elsewhere, are other
        genes: ``pair_views`` says that (here first, for the places), not the code."""
        told, ours = genes_line_code(genes_line), genes_line_code(self.manifest.get("genes"))
        if told is not None and ours is not None and told != ours:
            rows = self._gene_row
            if not all(p.gene_a.id in rows and p.gene_b.id in rows for p in pairs):
                return
            self._check_places(pairs, np.array([rows[p.gene_a.id] for p in pairs], dtype=np.int64),
                               np.array([rows[p.gene_b.id] for p in pairs], dtype=np.int64))
            made = f" of {self.genome_name}" if self.genome_name else ""
            raise DataError(f"{what}'s genes were translated with genetic code {told} (its '#genes' line), those of "
                            f"the embeddings{made} with {ours}: proteins of another `-g`? embed the table with the "
                            "proteins `microfuse pairs --proteins` wrote beside it")


def _first_repeat(ids):
    """The first id listed a second time, else None."""
    if len(set(ids)) == len(ids):  # the usual answer, without a loop in Python
        return None
    seen = set()
    for ident in ids:
        if ident in seen:
            return ident
        seen.add(ident)
    return None


# ------------------------------------------------------------------------------------------------ compute


def compute_embeddings(
    genome: Genome,
    pairs: Sequence[GenePair],
    config: ViewConfig,
    *,
    threads: int = 1,
    stage: Stage | None = None,
    shard_dir: Path | None = None,
    groups: dict[str, str] | None = None,
    genes_line: str | None = None,
) -> Embeddings:
    """Compute the configured views for the genes of ``genome`` and the pair features of ``pairs``.

    ``shard_dir`` (with the foundation views) keeps finished shards so an interrupted run can resume.
    ``groups`` (scaffold -> bin or genome) fits the spacer calibration per group instead of over the whole input.
    ``genes_line``: how the genes were found where ``genome`` cannot tell it (a pairs table's own ``#genes`` line,
    ``PairTable.genes_comment``); recorded in the manifest (``genes``), whose genetic code `score` and `train` of a
    table check (``check_genetic_code``).

    Raises:
        UsageError: ``genome`` not a Genome (or a hand-built one with fields of the wrong kind), ``config`` not a
            ViewConfig (``ViewConfig.parse`` makes one), ``pairs`` not GenePair objects, ``threads`` not a whole
            number >= 0, ``stage`` not a callable of its shape (progress.check_callbacks), a device this machine
            lacks.
        DataError: a Genome built by hand that breaks its invariants, pairs of another genome, a gene without
            protein.
    """
    from .records import require_genome

    require_genome(genome, "compute_embeddings")  # a path, a config or gene-id tuples were AttributeErrors inside
    if not isinstance(config, ViewConfig):
        raise UsageError(f"compute_embeddings takes a ViewConfig (ViewConfig.parse('builtin', 'builtin')), not "
                         f"{type(config).__name__}")
    require_pairs(pairs, PAIRS_TAKEN)
    check_callbacks("compute_embeddings", stage=stage)  # stage=True was a TypeError once the first view began
    if genes_line is not None and not isinstance(genes_line, str):
        raise UsageError(f"compute_embeddings' genes_line is a '#genes' line (PairTable.genes_comment), not "
                         f"{type(genes_line).__name__}")
    # a pair listed twice (`score --pairs` of 'A B' and 'B A') gets one row, its first: its features are the same,
    # pair_views finds it by id for each listing, and a saved folder lists each pair once, as its load requires
    unique: dict[str, GenePair] = {}
    for pair in pairs:
        unique.setdefault(pair.pair_id, pair)
    if len(unique) != len(pairs):
        pairs = list(unique.values())
    stage = stage or silent_stage
    threads = resolve_threads(threads)  # refused when negative, whichever views would use it
    genes = genome.genes
    if not genes:  # a tiny bin or contig: empty outputs, so one such genome does not fail a batch or a workflow
        log.warning("%s: no genes; nothing to embed or score", genome.name)
    # the builtin views are numpy on the CPU: only a foundation model needs a device (and torch's import)
    uses_models = config.protein_view != "builtin" or "bacformer" in config.context_views
    device = resolve_device(config.device) if uses_models else "cpu"
    proteins = [g.protein for g in genes]
    if any(not p for p in proteins):
        missing = next(g.id for g in genes if not g.protein)
        if genome.has_sequence:
            raise DataError(f"gene {missing} has an empty protein (a CDS shorter than a codon, or a lone stop codon)")
        raise DataError.naming(f"gene {missing} has no protein sequence (", *NO_SEQUENCE_HINT, ")")
    manifest: dict = {
        "format": EMBEDDINGS.format,
        "format_version": EMBEDDINGS.version,
        "microfuse_version": __version__,
        "views": config.names,
        "genome": genome.name,
        "genes_sha256": genes_hash(genes),
        "gene_source": str(genome.gene_source),  # 'pairs table': check_genes says what such a folder is of
        "genes": genes_comment(genome) if genes_line is None else genes_line,
        "pairs_sha256": hashlib.sha256("\n".join(p.pair_id for p in pairs).encode()).hexdigest(),
        "device": device,
    }
    if groups:
        manifest["calibration_groups"] = len(set(groups.values()))
    # a foundation model on the CPU runs on torch's threads; the builtin views and the calibration on BLAS's
    with thread_limits(threads, torch=uses_models):
        protein, manifest["protein_view"] = _protein_view(proteins, config, device, threads, stage, shard_dir)
        gene_parts, pair_parts, context_info = [], [], {}
        gene_names: list[str] = []
        pair_names: list[str] = []
        for view in config.context_views:
            if view == "bacformer":
                matrix, info = _bacformer_view(genome, config, device, stage, shard_dir)
                gene_parts.append(matrix)
                gene_names += [f"bacformer_{i}" for i in range(matrix.shape[1])]
                context_info["bacformer"] = info
            elif view == "builtin":
                from .views import builtin

                advance = stage("context features", len(pairs))
                table = None
                if config.needs_gene_context:
                    table = builtin.gene_table(genome)  # the pair features reuse it
                    gene_parts.append(builtin.gene_context_features(genome, table))
                    gene_names += list(builtin.GENE_CONTEXT_FEATURES)
                names = config.pair_columns
                if names is None:
                    names = _builtin_pair_names()
                features = builtin_pair_features(genome, pairs, names, threads=threads, progress=advance,
                                                 groups=groups, table=table)
                pair_parts.append(features)
                pair_names += names
                context_info["builtin"] = {"gene_features": list(builtin.GENE_CONTEXT_FEATURES),
                                           "pair_features": names}
        manifest["context_view"] = context_info
        manifest["context_columns"] = {"gene": gene_names, "pair": pair_names}
        context = np.concatenate(gene_parts, axis=1).astype(np.float32) if gene_parts else None
        pair_context = np.concatenate(pair_parts, axis=1).astype(np.float32) if pair_parts else None
        return Embeddings([g.id for g in genes], [g.scaffold for g in genes], protein, context,
                          [p.pair_id for p in pairs], pair_context, manifest,
                          [(g.start, g.end, g.strand) for g in genes])


from .calibration import CALIBRATION_FEATURES as CALIBRATION_NAMES  # noqa: E402


def builtin_pair_features(genome: Genome, pairs: Sequence[GenePair], columns: Sequence[str] | None = None, *,
                          threads: int = 1, progress=None, groups: dict[str, str] | None = None,
                          table=None) -> np.ndarray:
    """Builtin pair features plus the genome's own spacer calibration (fitted on all its adjacent pairs, or per
    group of scaffolds: ``groups`` maps scaffold -> bin, unlisted scaffolds are pooled).

    ``columns`` (default: all of :func:`_builtin_pair_names`) selects and orders them; only what they need is
    computed. ``table`` is the genome's ``views.builtin.gene_table`` when the gene view has built it already.
    """
    from .calibration import calibrate_by_group, short_fragments
    from .views import builtin

    columns = list(_builtin_pair_names() if columns is None else columns)
    calibration = [c for c in columns if c in CALIBRATION_NAMES]
    plain = [c for c in columns if c not in CALIBRATION_NAMES]
    values = dict(zip(plain, builtin.pair_context_features(genome, pairs, columns=plain, threads=threads,
                                                           progress=progress, table=table).T)) if plain else {}
    if calibration:
        matrix, _ = calibrate_by_group(adjacent_pairs(genome), pairs, groups, short_fragments(genome))
        values.update(zip(CALIBRATION_NAMES, matrix.T))
    if not columns:
        return np.zeros((len(pairs), 0), dtype=np.float32)
    return np.stack([values[c] for c in columns], axis=1).astype(np.float32)


def _builtin_pair_names() -> list[str]:
    """Every pair-level column of the builtin context view: the pair features, then the spacer calibration."""
    from .views import builtin

    return list(builtin.PAIR_CONTEXT_FEATURES) + CALIBRATION_NAMES


def _protein_view(proteins, config, device, threads, stage, shard_dir):
    if config.protein_view == "builtin":
        from .views import builtin

        advance = stage("protein descriptors", len(proteins))
        matrix = builtin.protein_descriptors(proteins)
        advance(len(proteins))
        return matrix.astype(np.float32), {"name": "builtin", "features": list(builtin.PROTEIN_FEATURES)}
    from .views.prostt5 import PROSTT5_MODEL, ProstT5Embedder

    with _loading(stage, "ProstT5"):
        embedder = ProstT5Embedder(config.protein_model or PROSTT5_MODEL, device=device, dtype=config.dtype,
                                   offline=config.offline, **_batch_option(config))
    matrix = _sharded(proteins, embedder.embed, embedder.dim, "protein", stage("ProstT5", len(proteins)), shard_dir)
    return matrix, embedder.describe()


def _batch_option(config: ViewConfig) -> dict:
    """``max_batch_residues`` for a model when the user set one (`--batch-residues`); else the model's own default."""
    return {} if config.batch_residues is None else {"max_batch_residues": config.batch_residues}


def _bacformer_view(genome, config, device, stage, shard_dir):
    from .views.bacformer import BACFORMER_MODEL, ESM2_MODEL, BacformerEmbedder

    with _loading(stage, "ESM-2 + Bacformer"):
        embedder = BacformerEmbedder(config.context_model or BACFORMER_MODEL,
                                     esm_model=config.esm_model or ESM2_MODEL, device=device, dtype=config.dtype,
                                     offline=config.offline, contig_separator=config.contig_separator,
                                     **_batch_option(config))
    # scaffolds without genes are left out, as bacformer's preprocess_genome_assembly leaves out contigs without CDS
    contigs = [[g.protein for g in genes] for genes in genome.genes_by_scaffold().values() if genes]
    shard = shard_dir / "context.bacformer.npy" if shard_dir else None
    if shard is not None:
        block = _load_shard(shard)
        if block is not None and block.ndim == 2 and block.shape[0] == sum(map(len, contigs)):
            return block, embedder.describe()
    matrix = embedder.embed(contigs, progress=stage("ESM-2 + Bacformer", sum(map(len, contigs))))
    if shard is not None:
        _save_shard(shard, matrix)
    return matrix, embedder.describe()


@contextmanager
def _loading(stage: Stage, what: str) -> Iterator[None]:
    """Show a model's loading as a stage of microfuse's own progress display (transformers' bars are off)."""
    done = stage(f"loading {what}", 1)
    try:
        yield
    finally:
        done(1)


#: Proteins per shard of a foundation-model view: the unit of work `--resume` skips.
SHARD_SIZE = 2048


def _sharded(items, embed, dim, name, advance, shard_dir) -> np.ndarray:
    out = np.zeros((len(items), dim), dtype=np.float32)
    for start in range(0, len(items), SHARD_SIZE):
        stop = min(start + SHARD_SIZE, len(items))
        shard = shard_dir / f"{name}.{start:09d}.npy" if shard_dir else None
        if shard is not None:
            block = _load_shard(shard)
            if block is not None and block.shape == (stop - start, dim):
                out[start:stop] = block
                advance(stop - start)
                continue
        out[start:stop] = embed(items[start:stop], progress=advance)
        if shard is not None:
            _save_shard(shard, out[start:stop])
    return out


def _read_npy(handle, mmap: bool) -> np.ndarray:
    """The array of an open .npy file: memory-mapped from that handle (``mmap``), as ``np.load(path, mmap_mode="r")``
    maps it from its path (which it requires), else read whole; a pickle or an .npz is a ValueError."""
    from numpy.lib import format as npy

    if not mmap:
        return npy.read_array(handle, allow_pickle=False)
    version = npy.read_magic(handle)
    if version not in ((1, 0), (2, 0)):  # (3, 0) is for structured types' non-ASCII field names: not ours
        raise ValueError(f"unsupported .npy format version {version}")
    read_header = npy.read_array_header_1_0 if version == (1, 0) else npy.read_array_header_2_0
    shape, fortran, dtype = read_header(handle)
    if dtype.hasobject:
        raise ValueError("Array can't be memory-mapped: Python objects in dtype.")
    return np.memmap(handle, dtype=dtype, mode="r", shape=shape, order="F" if fortran else "C",
                     offset=handle.tell())


def _load_shard(path: Path) -> np.ndarray | None:
    """A finished shard, or None (recomputed, then replaced): missing, damaged (ValueError, EOFError, ...), or not a
    regular file of its own: a shard symlinked to a file elsewhere (an .npy of the right shape) was used as this
    run's. O_NOFOLLOW fails on a link (each system with its own errno); O_NONBLOCK keeps a FIFO from blocking."""
    try:
        descriptor = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    with open(descriptor, "rb") as handle:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            return None
        try:
            return np.load(handle, allow_pickle=False)
        except Exception:  # a damaged shard
            return None


def _save_shard(path: Path, array: np.ndarray) -> None:
    """A shard written through a fresh temp file (``fresh_file``): the fixed name NAME.tmp was opened as found, so
    in a resumed folder a symlink of that name had its target overwritten; and with the umask's mode, so a group's
    shared `--resume` folder stays readable to the others (who silently recomputed every 0600 shard)."""
    with fresh_file(path) as handle:
        save_npy(handle, array)
