"""Model folders: ``model.safetensors`` (every tensor) + ``config.json``, read and written here only.

``config.json`` (format 4) holds ``format``/``format_version``, the architecture (``model``) and training (``train``)
configs, the ``threshold`` chosen on validation, the ``standardisation``, the per-epoch ``history``, validation
``metrics``, the per-genome ``decision`` rule, the typed input contract ``inputs`` (``ModelInputs``: views,
context columns, view widths), ``provenance``: how the model was made (embedding recipe, training data, seeds),
recorded for people and never read to score, and ``files_sha256``: the SHA-256 of the ``model.safetensors``
written with it (as a manifest records its files, manifest.py), checked on every load, so weights beside another
model's config (a folder copied by hand from two models, a kill mid-swap) are a one-line ``DataError``. Format 3
lacked ``files_sha256`` (read as before: its weights cannot be checked); format 2 kept the inputs inside an
untyped ``extra`` object (``extra`` less the inputs becomes ``provenance``); both are still read. Weights are read
with safetensors, never pickle, so opening an untrusted model runs no code; anything unexpected is a one-line
``DataError``. No torch here: `score` reads a model in numpy.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from . import __version__
from .errors import DataError, UsageError
from .io.files import read_json
from .io.model_id import DECISION_ID_LENGTH
from .io.outputs import atomic_directory
from .manifest import FILES_KEY, check_files, refuse_interrupted_swap
from .vocabulary import CONTEXT_VIEWS, PROTEIN_VIEWS

log = logging.getLogger("microfuse")

FORMAT = "microfuse-model"
#: 2: ``decision`` (a calibration.DecisionRule or null) joined the config; a version-1 model (the E. coli-only
#: default of 0.1.0, whose threshold was one fixed probability) is refused rather than scored with another rule.
#: 3: the input contract moved from ``extra`` into a typed ``inputs`` section; the rest of ``extra`` is
#: ``provenance``. 4: ``files_sha256`` records the weights' checksum, verified on load. Versions 2 and 3 are still
#: read.
FORMAT_VERSION = 4
READABLE_VERSIONS = (2, 3, 4)
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
#: A model's config is ~15 kB (its history grows ~0.3 kB an epoch); a larger one is refused before it is read.
MAX_CONFIG_BYTES = 16 << 20
_COMMON_KEYS = {
    "format", "format_version", "microfuse_version", "model", "train", "threshold", "standardisation", "history",
    "metrics", "decision",
}
# FILES_KEY (io.files'; checked by manifest.check_files, as a manifest's): the key of the weights' checksum.
CONFIG_KEYS_V3 = _COMMON_KEYS | {"inputs", "provenance"}
CONFIG_KEYS = CONFIG_KEYS_V3 | {FILES_KEY}
CONFIG_KEYS_V2 = _COMMON_KEYS | {"extra"}
_DIMS = ("protein", "context", "pair_context")
#: The two matrices a model reads, block by block in column order, each block a view of gene a, gene b, their
#: absolute difference or the pair: embed.Embeddings.pair_views builds them in this order and
#: ModelInputs.widths_of counts them, so the widths a model is checked against are the widths it is given.
PAIR_LAYOUT = {
    "protein_dim": (("protein", "a"), ("protein", "b"), ("protein", "|a-b|")),
    "context_dim": (("context", "a"), ("context", "b"), ("pair_context", "pair")),
}
_INPUT_KEYS = ("views", "context_features", "dims")
_V2_INPUT_KEYS = ("views", "context_features", "input_dims")


def jsonable(value: Any) -> Any:
    """Plain JSON types; non-finite floats become null so the file is strict JSON."""
    if isinstance(value, Mapping):  # a dict, or the read-only mapping of a loaded model
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, np.ndarray):
        return jsonable(value.tolist())
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, Path):
        return str(value)
    raise UsageError(f"cannot store {type(value).__name__} in the model config (provenance must be JSON)")


@dataclass(frozen=True)
class ModelInputs:
    """What a model reads: the views it was trained on, the named context columns it selects (None: every column
    of its views) and the widths of the protein, gene-context and pair-context views (None: not recorded)."""

    protein_view: str = "builtin"
    context_view: str = "builtin"
    context_features: tuple[str, ...] | None = None
    dims: tuple[tuple[str, int], ...] | None = None  # (("protein", 40), ("context", 0), ("pair_context", 11))

    @property
    def views(self) -> dict[str, str]:
        return {"protein": self.protein_view, "context": self.context_view}

    def dim(self, name: str) -> int | None:
        return dict(self.dims or ()).get(name)

    @staticmethod
    def widths_of(dims: Mapping[str, int], context_features=None) -> dict[str, int]:
        """Widths of the protein and context matrices (``PAIR_LAYOUT``) built from views ``dims`` wide (a view
        left out is 0 wide); with ``context_features`` the context matrix keeps only those columns."""
        widths = {matrix: sum(int(dims.get(view, 0)) for view, _ in blocks) for matrix, blocks in PAIR_LAYOUT.items()}
        if context_features is not None:
            widths["context_dim"] = len(context_features)
        return widths

    def input_widths(self) -> dict[str, int] | None:
        """``widths_of`` this contract's view widths and context columns; None when the widths were not recorded."""
        return self.widths_of(dict(self.dims), self.context_features) if self.dims else None

    @classmethod
    def from_embeddings(cls, views: Mapping[str, str], dims: Mapping[str, int],
                        context_features=None) -> "ModelInputs":
        """The inputs of a model trained on embeddings of ``views`` with widths ``dims`` (embed.Embeddings)."""
        return cls(views.get("protein", "builtin"), views.get("context", "builtin"),
                   tuple(context_features) if context_features else None,
                   tuple((k, int(dims[k])) for k in _DIMS if k in dims) or None)

    def to_dict(self) -> dict[str, Any]:
        """The ``inputs`` section of ``config.json``."""
        return {"views": self.views,
                "context_features": None if self.context_features is None else list(self.context_features),
                "dims": None if self.dims is None else dict(self.dims)}

    @classmethod
    def from_dict(cls, data: Any, where: str = "model config") -> "ModelInputs":
        """The ``inputs`` section as written by ``to_dict``; anything else is a one-line ``DataError``."""
        if not isinstance(data, dict) or set(data) != set(_INPUT_KEYS):
            raise DataError(f"{where}: 'inputs' must hold exactly {', '.join(_INPUT_KEYS)}")
        views, features, dims = (data[k] for k in _INPUT_KEYS)
        if not isinstance(views, dict) or not set(views) <= {"protein", "context"}:
            raise DataError(f"{where}: 'views' must map protein and context to view names")
        return cls._checked(views, features, dims, "dims", where)

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any], where: str = "model config") -> "ModelInputs":
        """The contract as format 2 stored it in ``config.json``'s ``extra``; a malformed one is a ``DataError``."""
        views, features, dims = (extra.get(k) for k in _V2_INPUT_KEYS)
        if views is not None and not isinstance(views, dict):
            raise DataError(f"{where}: 'views' must map view kinds to names")
        return cls._checked(views or {}, features, dims or {}, "input_dims", where)

    @classmethod
    def _checked(cls, views, features, dims, dims_key: str, where: str) -> "ModelInputs":
        if not all(isinstance(v, str) for v in views.values()):
            raise DataError(f"{where}: 'views' must map view kinds to names")
        contexts = views.get("context", "builtin").split(",")
        if views.get("protein", "builtin") not in PROTEIN_VIEWS or not all(c in CONTEXT_VIEWS for c in contexts):
            raise DataError(f"{where}: the model reads views this microfuse cannot compute ({views}; protein: "
                            f"{', '.join(PROTEIN_VIEWS)}; context: {', '.join(CONTEXT_VIEWS)})")
        if features is not None and (not isinstance(features, list) or not all(isinstance(f, str) for f in features)):
            raise DataError(f"{where}: 'context_features' must be a list of column names")
        if dims is not None and (not isinstance(dims, dict) or not set(dims) <= set(_DIMS) or not all(
                isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in dims.values())):
            raise DataError(f"{where}: '{dims_key}' must map {', '.join(_DIMS)} to integer widths")
        return cls.from_embeddings(views, dims or {}, features)


@dataclass(frozen=True)
class Checkpoint:
    """A model folder as read from disk: its checked config (format 4 layout; ``files_sha256`` None where an older
    format recorded none), its arrays (numpy), its input
    contract and its decision rule (calibration.DecisionRule or None)."""

    folder: Path
    config: dict[str, Any]
    arrays: dict[str, np.ndarray]
    inputs: ModelInputs
    decision: Any = None

    @property
    def arch(self) -> str:
        return self.config["model"]["arch"]

    @property
    def provenance(self) -> dict[str, Any]:
        return self.config["provenance"]


def model_identity(model: Mapping[str, Any], inputs: ModelInputs, arrays: Mapping[str, np.ndarray]) -> str:
    """SHA-256 (hex) of what makes a model's fused vectors: its architecture config, its input contract and every
    tensor (name, dtype, shape, bytes, in name order). Training history, metrics and provenance are left out, and
    the tensors are hashed by content, not by file, so a model has one identity before saving and after loading.
    The decision rule is left out too (``decision_identity`` names it): the fused vectors do not depend on it."""
    digest = hashlib.sha256()
    layout = {"model": jsonable(dict(model)), "inputs": inputs.to_dict()}
    digest.update(json.dumps(layout, sort_keys=True, separators=(",", ":")).encode())
    for name in sorted(arrays):
        array = np.asarray(arrays[name])
        array = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
        digest.update(f"\0{name}\0{array.dtype.str}\0{array.shape}\0".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()


def decision_identity(decision, threshold: float, cut: float | None = None) -> str:
    """The first ``DECISION_ID_LENGTH`` hex digits of SHA-256 of how a model turns its probabilities into calls: its
    per-genome rule (calibration.DecisionRule, every field) or, without one, the probability ``threshold`` it cuts
    at. Kept apart from ``model_identity`` on purpose: fused vectors do not depend on the rule, so retrieval may
    mix the vectors of two models that differ only in it, while their calls differ. Numbers are hashed as floats,
    so a rule built with ints has the identity it has once saved and loaded. ``cut``: a probability a user cuts at
    in place of the model's own (`score --threshold`), which makes other calls, so another identity; a model
    without a rule cut at ``cut`` is the model whose threshold is ``cut``."""
    if decision is None:
        contract = {"threshold": float(threshold if cut is None else cut)}
    else:
        contract = {"rule": {k: float(v) if isinstance(v, (int, float)) and not isinstance(v, bool) else v
                             for k, v in decision.to_dict().items()}}
        if cut is not None:
            contract["cut"] = float(cut)
    text = json.dumps(jsonable(contract), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:DECISION_ID_LENGTH]


class DecisionIdentified:
    """The ``decision_identity`` of a scoring model (a fusion head, a torch-backed model, a distance baseline), one
    definition for all: each has ``decision`` and ``threshold``."""

    @property
    def decision_identity(self) -> str:
        """decision_identity of ``decision`` (or of ``threshold`` without one). Two identities, as two things make a
        call: ``identity`` (the weights, what fused vectors depend on) and this (the rule cutting the
        probabilities); two models differing only in their rule share ``identity`` and give different calls."""
        return decision_identity(self.decision, self.threshold)


def model_folder_path(path):
    """``path`` when it names a model folder (str or os.PathLike), else a one-line UsageError (an int was pathlib's
    TypeError, and an int is also a file descriptor to open()) or is empty (Path("") is the current folder: a model
    there was read for an unset variable): the one check of score's and trained's loaders."""
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(f"a model folder is named by its path (str or os.PathLike), not {type(path).__name__}")
    if not os.fspath(path):
        raise UsageError("the model path is empty (an unset variable?)")
    return path


def check_model_folder(path) -> Path:
    """The folder, when it holds a model's two files; else the one-line ``DataError`` reading it would raise (a
    cheap check a command can make before long work)."""
    folder = Path(model_folder_path(path))
    if not folder.is_dir():
        raise DataError(f"{folder}: not a model directory")
    for name in (CONFIG_FILE, WEIGHTS_FILE):  # a link to a regular file is read (DVC's symlink cache, git-annex)
        if not (folder / name).is_file():
            raise DataError(f"{folder}: not a microfuse model (missing {name})")
    refuse_interrupted_swap(folder)  # new weights beside the old config were read without a word
    return folder


def read_inputs(path) -> ModelInputs:
    """The input contract of a model folder from its config alone (no tensors): what a command checks before work."""
    where = check_model_folder(path) / CONFIG_FILE
    return ModelInputs.from_dict(_read_config(where)["inputs"], str(where))


def read_checkpoint(path) -> Checkpoint:
    """Config, arrays, inputs and decision rule of a model folder (format 2, 3 or 4; the weights checked against the
    checksum a format-4 config records); anything unexpected raises a one-line ``DataError``."""
    folder = check_model_folder(path)
    where = folder / CONFIG_FILE
    config = _read_config(where)
    inputs = ModelInputs.from_dict(config["inputs"], str(where))
    # read once: the bytes hashed are the bytes deserialised (read twice, weights swapped between the two reads
    # passed the checksum of others); a file that is no safetensors (truncated, a pickle) says so first
    data = _read_bytes(folder / WEIGHTS_FILE)
    arrays = _read_weights(data, folder / WEIGHTS_FILE)
    _check_weights(folder, where, config[FILES_KEY], hashlib.sha256(data).hexdigest())
    return Checkpoint(folder, config, arrays, inputs, _decision(config, where))


def _check_weights(folder: Path, where: Path, recorded: dict[str, str] | None, digest: str) -> None:
    """The weights read (their SHA-256 ``digest``) must be those the config was written with (``files_sha256``,
    checked as a manifest's, manifest.check_files): a folder whose model.safetensors came from another model
    (copied by hand from two folders, a kill while `train -o` swapped its files in) was scored with this config's
    threshold and standardisation, or refused only by the file times of a build folder left beside it. A config of
    format 3 or 2 records none: read as before (said on -v)."""
    if recorded is None:
        log.debug("%s: its config records no checksum of %s (an older microfuse's model): not checked", folder,
                  WEIGHTS_FILE)
        return
    check_files(folder, recorded, {WEIGHTS_FILE}, frozenset({WEIGHTS_FILE}), verify=True, where=where,
                noun="model config", digests={WEIGHTS_FILE: digest},
                mismatch=f"{folder}: {WEIGHTS_FILE} is not the weights its {CONFIG_FILE} was written with (checksum "
                         "mismatch: files of two models mixed, or edited since): copy the model folder whole again, "
                         "or train it again")


def _decision(config: dict[str, Any], path: Path):
    if config["decision"] is None:
        return None
    from .calibration import DecisionRule

    try:
        return DecisionRule.from_dict(config["decision"])
    except DataError as exc:
        raise DataError(f"{path}: {exc}") from None


def _read_config(path: Path) -> dict[str, Any]:
    """The config in the format-4 layout (a format-2 or 3 config is converted, ``files_sha256`` None); its top-level
    shape checked."""
    config = read_json(path, MAX_CONFIG_BYTES, "not valid JSON")
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise DataError(f"{path}: not a microfuse model config")
    version = config.get("format_version")
    if version not in READABLE_VERSIONS:
        raise DataError(
            f"{path}: model format version {version!r} is not supported "
            f"(this microfuse reads versions {', '.join(map(str, READABLE_VERSIONS))}; "
            "retrain it with `microfuse train`)"
        )
    keys = {2: CONFIG_KEYS_V2, 3: CONFIG_KEYS_V3, FORMAT_VERSION: CONFIG_KEYS}[version]
    if set(config) != keys:
        missing = sorted(keys - set(config))
        unknown = sorted(set(config) - keys)
        raise DataError(f"{path}: missing keys {missing} / unknown keys {unknown}")
    if version == 2:
        config = _from_version_2(config, path)
    if version < FORMAT_VERSION:
        config = {**config, "format_version": FORMAT_VERSION, FILES_KEY: None}
    else:  # its shape checked before the weights are read
        check_files(path.parent, config[FILES_KEY], {WEIGHTS_FILE}, frozenset({WEIGHTS_FILE}), verify=False,
                    where=path, noun="model config")
    if not isinstance(config["model"], dict) or "arch" not in config["model"]:
        raise DataError(f"{path}: no model architecture")
    threshold = config["threshold"]
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not math.isfinite(threshold):
        raise DataError(f"{path}: invalid threshold {threshold!r}")
    objects = ("train", "standardisation", "provenance", "metrics")
    if not all(isinstance(config[key], dict) for key in objects):
        raise DataError(f"{path}: {', '.join(map(repr, objects))} must be JSON objects")
    if not isinstance(config["history"], list):
        raise DataError(f"{path}: 'history' must be a list")
    return config


def _from_version_2(config: dict[str, Any], path: Path) -> dict[str, Any]:
    """A format-2 config in the format-3 layout: ``extra`` split into ``inputs`` and ``provenance``."""
    extra = config["extra"]
    if not isinstance(extra, dict):
        raise DataError(f"{path}: 'extra' and 'metrics' must be JSON objects")
    inputs = ModelInputs.from_extra(extra, str(path))
    rest = {k: v for k, v in config.items() if k != "extra"}
    provenance = {k: v for k, v in extra.items() if k not in _V2_INPUT_KEYS}
    return {**rest, "format_version": 3, "inputs": inputs.to_dict(), "provenance": provenance}


def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise DataError(f"{path}: cannot be read ({exc.strerror or exc})") from None


def _read_weights(data: bytes, path: Path) -> dict[str, np.ndarray]:
    """The tensors of safetensors bytes ``data`` (read from ``path``), as writable numpy arrays of their own."""
    from safetensors.numpy import load

    try:
        arrays = {key: np.array(array) for key, array in load(data).items()}  # copied: load's views are read-only
    except Exception as exc:  # safetensors raises its own SafetensorError, OSError, ValueError, ...
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: not a valid safetensors file, truncated or corrupted ({reason})") from None
    for key, array in arrays.items():
        if array.dtype.kind == "f" and not bool(np.isfinite(array).all()):
            raise DataError(f"{path}: tensor {key!r} contains NaN or infinite values")
    return arrays


def write_checkpoint(path, tensors: Mapping[str, Any], *, model: dict, train: dict, threshold: float,
                     standardisation: dict, history: list, metrics: dict, decision, inputs: ModelInputs | None,
                     provenance: Mapping[str, Any] | None) -> Path:
    """Write a model folder (format 4) atomically, replacing ``path``: ``tensors`` (torch or numpy) into
    ``model.safetensors``, the rest (and the SHA-256 of those bytes) into ``config.json``. ``decision`` is a
    calibration.DecisionRule or None; ``inputs`` None records the defaults (builtin views, every column, widths not
    recorded). Keys are sorted and there are no timestamps: one training run, one set of bytes. numpy arrays are
    written by safetensors.numpy, so a numpy model is saved without importing torch."""
    model_folder_path(path)
    config = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "microfuse_version": __version__,
        "model": model,
        "train": train,
        "threshold": threshold,
        "standardisation": standardisation,
        "history": history,
        "metrics": metrics,
        "decision": None if decision is None else decision.to_dict(),
        "inputs": (inputs or ModelInputs()).to_dict(),
        "provenance": dict(provenance or {}),
    }
    if all(isinstance(t, np.ndarray) for t in tensors.values()):
        from safetensors.numpy import save
    else:
        from safetensors.torch import save

        tensors = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    # serialised here, written by Python: a failed write is the kernel's reason (a full disk), not the library's
    # own error type, which read as an internal error (the head is a few MB)
    weights = save(dict(tensors), metadata={"format": FORMAT})
    config[FILES_KEY] = {WEIGHTS_FILE: hashlib.sha256(weights).hexdigest()}
    text = json.dumps(jsonable(config), indent=2, sort_keys=True, allow_nan=False) + "\n"
    with atomic_directory(path) as tmp:
        (tmp / WEIGHTS_FILE).write_bytes(weights)
        (tmp / CONFIG_FILE).write_text(text, encoding="utf-8")
    return Path(path)
