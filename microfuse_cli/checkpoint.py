"""Model folders: ``model.safetensors`` (every tensor) + ``config.json``, read and written here only.

``config.json`` holds ``format``/``format_version``, the architecture (``model``) and training (``train``) configs,
the ``threshold`` chosen on validation, the ``standardisation``, the per-epoch ``history``, validation ``metrics``,
the per-genome ``decision`` rule and ``extra`` metadata, in which ``views``, ``context_features`` and
``input_dims`` are the model's input contract (``ModelInputs``). Weights are read with safetensors, never pickle,
so opening an untrusted model runs no code; anything unexpected is a one-line ``DataError``. No torch here: `score`
reads a model in numpy.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import numpy as np

from .errors import DataError
from .io.outputs import atomic_directory

FORMAT = "microfuse-model"
#: 2: ``decision`` (a calibration.DecisionRule or null) joined the config; a version-1 model (the E. coli-only
#: default of 0.1.0, whose threshold was one fixed probability) is refused rather than scored with another rule.
FORMAT_VERSION = 2
WEIGHTS_FILE = "model.safetensors"
CONFIG_FILE = "config.json"
CONFIG_KEYS = {
    "format", "format_version", "microfuse_version", "model", "train", "threshold", "standardisation", "history",
    "metrics", "extra", "decision",
}
_DIMS = ("protein", "context", "pair_context")


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

    @classmethod
    def from_embeddings(cls, views: Mapping[str, str], dims: Mapping[str, int],
                        context_features=None) -> "ModelInputs":
        """The inputs of a model trained on embeddings of ``views`` with widths ``dims`` (embed.Embeddings)."""
        return cls(views.get("protein", "builtin"), views.get("context", "builtin"),
                   tuple(context_features) if context_features else None,
                   tuple((k, int(dims[k])) for k in _DIMS if k in dims) or None)

    @classmethod
    def from_extra(cls, extra: Mapping[str, Any], where: str = "model config") -> "ModelInputs":
        """The contract as ``config.json``'s ``extra`` stores it; a malformed one is a ``DataError``."""
        views = extra.get("views") or {}
        features = extra.get("context_features")
        dims = extra.get("input_dims") or {}
        if not isinstance(views, dict) or not all(isinstance(v, str) for v in views.values()):
            raise DataError(f"{where}: 'views' must map view kinds to names")
        if features is not None and (not isinstance(features, list) or not all(isinstance(f, str) for f in features)):
            raise DataError(f"{where}: 'context_features' must be a list of column names")
        if not isinstance(dims, dict) or not all(isinstance(v, int) and not isinstance(v, bool) for v in dims.values()):
            raise DataError(f"{where}: 'input_dims' must map views to integer widths")
        return cls.from_embeddings(views, dims, features)

    def to_extra(self) -> dict[str, Any]:
        return {"views": self.views, "input_dims": dict(self.dims or ()),
                "context_features": None if self.context_features is None else list(self.context_features)}


@dataclass(frozen=True)
class Checkpoint:
    """A model folder as read from disk: its checked config, its arrays (numpy) and its input contract."""

    folder: Path
    config: dict[str, Any]
    arrays: dict[str, np.ndarray]
    inputs: ModelInputs

    @property
    def arch(self) -> str:
        return self.config["model"]["arch"]

    def error(self, message: str, file: str = CONFIG_FILE) -> DataError:
        return DataError(f"{self.folder / file}: {message}")


def read_checkpoint(path) -> Checkpoint:
    """Config, arrays and inputs of a model folder; anything unexpected raises a one-line ``DataError``."""
    folder = Path(path)
    config, arrays = read_model_dir(folder)
    return Checkpoint(folder, config, arrays, ModelInputs.from_extra(config["extra"], str(folder / CONFIG_FILE)))


def read_model_dir(path) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """Config and arrays of a model folder, both checked."""
    folder = Path(path)
    if not folder.is_dir():
        raise DataError(f"{folder}: not a model directory")
    for name in (CONFIG_FILE, WEIGHTS_FILE):
        if not (folder / name).is_file():
            raise DataError(f"{folder}: not a microfuse model (missing {name})")
    config = _read_config(folder / CONFIG_FILE)
    return config, _read_weights(folder / WEIGHTS_FILE)


def _read_config(path: Path) -> dict[str, Any]:
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, OSError) as exc:
        raise DataError(f"{path}: not valid JSON ({type(exc).__name__})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise DataError(f"{path}: not a microfuse model config")
    if config.get("format_version") != FORMAT_VERSION:
        raise DataError(
            f"{path}: model format version {config.get('format_version')!r} is not supported "
            f"(this microfuse reads version {FORMAT_VERSION}; retrain it with `microfuse train`)"
        )
    if set(config) != CONFIG_KEYS:
        missing = sorted(CONFIG_KEYS - set(config))
        unknown = sorted(set(config) - CONFIG_KEYS)
        raise DataError(f"{path}: missing keys {missing} / unknown keys {unknown}")
    if not isinstance(config["model"], dict) or "arch" not in config["model"]:
        raise DataError(f"{path}: no model architecture")
    threshold = config["threshold"]
    if not isinstance(threshold, (int, float)) or isinstance(threshold, bool) or not math.isfinite(threshold):
        raise DataError(f"{path}: invalid threshold {threshold!r}")
    if not isinstance(config["extra"], dict) or not isinstance(config["metrics"], dict):
        raise DataError(f"{path}: 'extra' and 'metrics' must be JSON objects")
    if not isinstance(config["history"], list):
        raise DataError(f"{path}: 'history' must be a list")
    if config["decision"] is not None:
        from .calibration import DecisionRule

        try:
            DecisionRule.from_dict(config["decision"])
        except DataError as exc:
            raise DataError(f"{path}: {exc}") from None
    return config


def _read_weights(path: Path) -> dict[str, np.ndarray]:
    from safetensors import safe_open

    arrays: dict[str, np.ndarray] = {}
    try:
        with safe_open(str(path), framework="np") as handle:
            for key in handle.keys():
                arrays[key] = handle.get_tensor(key)
    except Exception as exc:  # safetensors raises its own SafetensorError, OSError, ValueError, ...
        reason = str(exc).splitlines()[0][:120] if str(exc) else type(exc).__name__
        raise DataError(f"{path}: not a valid safetensors file, truncated or corrupted ({reason})") from None
    for key, array in arrays.items():
        if array.dtype.kind == "f" and not bool(np.isfinite(array).all()):
            raise DataError(f"{path}: tensor {key!r} contains NaN or infinite values")
    return arrays


def write_model_dir(path, tensors: Mapping[str, Any], config: dict[str, Any]) -> Path:
    """Write ``tensors`` (torch on the CPU, or numpy; contiguous) and ``config`` (plain JSON values) into folder
    ``path`` atomically, replacing it. Keys are sorted and there are no timestamps: one training run, one set of
    bytes. numpy arrays are written by safetensors.numpy, so a numpy model is saved without importing torch."""
    if all(isinstance(t, np.ndarray) for t in tensors.values()):
        from safetensors.numpy import save_file
    else:
        from safetensors.torch import save_file

    text = json.dumps(config, indent=2, sort_keys=True, allow_nan=False) + "\n"
    with atomic_directory(path) as tmp:
        save_file(dict(tensors), str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT})
        (tmp / CONFIG_FILE).write_text(text, encoding="utf-8")
    return Path(path)
