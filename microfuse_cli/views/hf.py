"""What the foundation-model views (ProstT5, ESM-2 + Bacformer) share: loading from a local folder or the Hugging
Face cache without a network (quietly: transformers' bars and load report stay off the terminal, a checkpoint that
lacks a needed weight is refused), the compute dtype, protein clean-up and length batching.

Batches of proteins are sorted by length under a padded-residue budget, a protein longer than the budget goes
alone, and a batch that runs out of memory is split in half and retried, never skipped.

Heavy imports (torch, transformers, huggingface_hub) happen inside functions so that importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator, Sequence

import numpy as np

from ..errors import DataError, UsageError
from ..progress import Advance

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from .foundation import FoundationModel

log = logging.getLogger(__name__)

#: Files whose bytes identify a model's weights (hashed by ``describe()`` for local folders).
WEIGHT_PATTERNS = ("*.safetensors", "*.bin", "*.pt", "*.pth")

_DTYPES = {
    "float32": "float32",
    "fp32": "float32",
    "float16": "float16",
    "fp16": "float16",
    "half": "float16",
    "bfloat16": "bfloat16",
    "bf16": "bfloat16",
}

_AMINO_ACIDS = re.compile(r"^[A-Z]+$")
_RARE = re.compile(r"[UZOB]")



def resolve_dtype(
    dtype: "str | torch.dtype | None", device: "torch.device", *, gpu_default: str = "bfloat16"
) -> "torch.dtype":
    """Pick the compute dtype: the explicit one, else ``gpu_default`` on GPU and float32 elsewhere.

    ``gpu_default="bfloat16"`` falls back to float16 on a GPU without bfloat16; each view passes the precision of
    its official code (ProstT5's model card: float16; Bacformer's README: bfloat16).

    Raises:
        UsageError: an unknown dtype name.
    """
    import torch

    if dtype is None:
        if device.type != "cuda":
            return torch.float32
        if gpu_default == "bfloat16" and not torch.cuda.is_bf16_supported():
            return torch.float16
        return getattr(torch, _DTYPES[gpu_default])
    if isinstance(dtype, torch.dtype):
        if dtype not in (torch.float32, torch.float16, torch.bfloat16):
            raise UsageError(f"unsupported dtype {dtype} (expected float32, float16 or bfloat16)")
        return dtype
    name = _DTYPES.get(str(dtype).lower())
    if name is None:
        raise UsageError(f"unsupported dtype {dtype!r} (expected float32, float16 or bfloat16)")
    return getattr(torch, name)


def hub_offline(offline: bool) -> bool:
    """True when no download may be attempted: ``offline`` or the ``HF_HUB_OFFLINE`` environment variable."""
    env = os.environ.get("HF_HUB_OFFLINE", "").strip().lower()
    return bool(offline) or env in {"1", "true", "yes", "on"}


def looks_like_path(model: str) -> bool:
    """A model argument that can only be a folder (not an ``owner/name`` hub id)."""
    return model.startswith((".", "/", "~")) or "\\" in model or model.count("/") != 1


@dataclass(frozen=True)
class ModelSource:
    """Where a model's files come from.

    Attributes:
        model: what the user passed (hub id or folder).
        folder: local folder holding the files, once resolved (None before loading a hub model).
        revision: the hub commit hash when the files came from the hub cache, else None.
        is_local: True when ``model`` named a local folder.
    """

    model: str
    folder: Path | None
    revision: str | None
    is_local: bool


def resolve_local_model(model: str) -> ModelSource | None:
    """Return a :class:`ModelSource` if ``model`` is an existing local folder, None if it may be a hub id.

    Raises:
        DataError: ``model`` can only be a path, and that folder does not exist.
    """
    path = Path(model).expanduser()
    if path.is_dir():
        return ModelSource(model=model, folder=path.resolve(), revision=None, is_local=True)
    if path.exists():
        raise DataError(f"model {model!r} is a file; pass the folder that holds config.json and the weights")
    if looks_like_path(model):
        raise DataError(f"no such model folder: {model}")
    return None


def cached_revision(repo_id: str, filename: str = "config.json", revision: str | None = None) -> tuple[Path, str] | None:
    """The snapshot folder and commit hash of a hub repo already in the local cache (None if not cached)."""
    from huggingface_hub import try_to_load_from_cache

    hit = try_to_load_from_cache(repo_id, filename, revision=revision)
    if not isinstance(hit, str):
        return None
    snapshot = Path(hit).parent
    return snapshot, snapshot.name


def model_folder(model: str) -> Path | None:
    """The folder ``model``'s files are read from, where it is at hand: a local folder, or the snapshot of a hub id
    in the local cache; None otherwise, or when it cannot be told (the loaders say why, in their words). A command
    counts the folder among its inputs, so that no output replaces one of its files (`score G -o ./Rostlab/ProstT5/
    config.json` beside a downloaded copy of the hub id the views load)."""
    try:
        local = resolve_local_model(model)
        if local is not None:
            return Path(model).expanduser()  # as given: named so in messages
        cached = cached_revision(model)
    except (DataError, UsageError, OSError, ValueError, ImportError):  # a malformed hub id, an unreadable cache:
        # said by the loader, not here
        return None
    return cached[0] if cached is not None else None


def missing_model_message(what: str, model: str) -> str:
    """One line telling the user how to make the hub model ``model`` available without a network."""
    return (
        f"{what} model {model!r} is not available locally; on a connected machine run "
        f"`huggingface-cli download {model} --local-dir DIR` (or `hf download {model} --local-dir DIR`), "
        "copy DIR here and pass DIR as the model"
    )


def require_reachable_hub(what: str, model: str, revision: str | None) -> None:
    """One request, without retries, before a model is downloaded: on a node without network huggingface_hub
    retries every file it asks for (1+2+4+8+8 s each), so a forgotten --offline took minutes to fail.

    Raises:
        DataError: the hub cannot be reached, or holds no such model.
    """
    from huggingface_hub import get_hf_file_metadata, hf_hub_url
    from huggingface_hub.errors import EntryNotFoundError

    try:
        get_hf_file_metadata(hf_hub_url(model, "config.json", revision=revision), timeout=10)
    except EntryNotFoundError:
        return  # the repository is there; what it lacks is for the loader to say
    except Exception as err:  # connection errors, unknown or gated repositories: all end the same way
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise DataError(f"cannot download from the Hugging Face hub ({first}): {missing_model_message(what, model)}"
                        ) from err


def require_model_available(spec: "FoundationModel", model: str, *, offline: bool, revision: str | None = None
                            ) -> None:
    """Check, without torch or transformers and in well under a second, that ``model`` (a folder or a hub id of
    ``spec``, views.foundation) can be loaded: a folder holding the files ``from_pretrained`` reads, a hub id in the
    local cache, or (not offline) a hub that answers. A command calls it before reading the genome; the loaders
    (:func:`load_hub_or_local`, ``load_bacformer``) check again as they load.

    Raises:
        DataError: the folder is missing or lacks a file, or the hub id is neither cached nor downloadable.
    """
    local = resolve_local_model(model)
    if local is not None:
        assert local.folder is not None
        missing = [name for name in spec.files if not (local.folder / name).is_file()]
        missing += [" or ".join(group) for group in spec.any_of
                    if not any((local.folder / name).is_file() for name in group)]
        if missing:
            raise DataError(f"{spec.what} model folder {model!r} lacks {', '.join(missing)}")
        return
    if cached_revision(model, revision=revision) is not None:
        return
    if hub_offline(offline):
        raise DataError(missing_model_message(spec.what, model))
    require_reachable_hub(spec.what, model, revision)


def weights_sha256(folder: Path) -> str | None:
    """SHA-256 over the weight files of a local model folder (names and bytes, sorted by name); None if none."""
    files = sorted({p for pattern in WEIGHT_PATTERNS for p in folder.glob(pattern) if p.is_file()})
    if not files:
        return None
    digest = hashlib.sha256()
    for path in files:
        digest.update(path.name.encode() + b"\0")
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    return digest.hexdigest()


def length_batches(lengths: Sequence[int], max_batch_residues: int) -> list[list[int]]:
    """Group item indices into batches whose padded size (``len(batch) * longest``) fits ``max_batch_residues``.

    Items are sorted by decreasing length (the largest batch runs first, so an out-of-memory error shows up early);
    an item longer than the budget forms a batch of its own. Ties keep input order, so batching is deterministic.
    """
    if max_batch_residues < 1:
        raise UsageError(f"max_batch_residues must be >= 1 (got {max_batch_residues})")
    order = sorted(range(len(lengths)), key=lambda i: (-lengths[i], i))
    batches: list[list[int]] = []
    current: list[int] = []
    longest = 0
    for i in order:
        n = max(int(lengths[i]), 1)
        if current and max(longest, n) * (len(current) + 1) > max_batch_residues:
            batches.append(current)
            current, longest = [], 0
        current.append(i)
        longest = max(longest, n)
    if current:
        batches.append(current)
    return batches


def is_out_of_memory(err: BaseException) -> bool:
    """True for a CUDA (or CPU allocator) out-of-memory error."""
    import torch

    if isinstance(err, torch.cuda.OutOfMemoryError):
        return True
    text = str(err)
    return isinstance(err, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def run_batched(
    lengths: Sequence[int],
    embed_batch: Callable[[list[int]], np.ndarray],
    out: np.ndarray,
    *,
    max_batch_residues: int,
    progress: Advance | None = None,
    what: str = "protein",
) -> np.ndarray:
    """Fill ``out[i]`` for every item with ``embed_batch(indices) -> (len(indices), dim)``, batching by length.

    A batch that runs out of memory is split in half and both halves are retried; a single item that still does not
    fit raises :class:`DataError`. ``progress(k)`` is called after each finished batch of ``k`` items.
    """
    import torch

    def run(indices: list[int]) -> None:
        try:
            vectors = embed_batch(indices)
        except (RuntimeError, torch.cuda.OutOfMemoryError) as err:
            if not is_out_of_memory(err):
                raise
            if torch.cuda.is_available():
                torch.cuda.empty_cache()
            if len(indices) == 1:
                i = indices[0]
                raise DataError(
                    f"{what} {i + 1} ({lengths[i]} residues) does not fit in memory even alone; "
                    "use a device with more memory"
                ) from err
            half = len(indices) // 2
            log.debug("out of memory on a batch of %d; splitting in two", len(indices))
            run(indices[:half])
            run(indices[half:])
            return
        out[indices] = vectors
        if progress is not None:
            progress(len(indices))

    for batch in length_batches(lengths, max_batch_residues):
        run(batch)
    return out


def clean_protein(seq: str, index: int, *, rare_to_x: bool) -> str:
    """Upper-case a protein, drop one trailing stop ``*`` and (optionally) map U/Z/O/B to X.

    Raises:
        DataError: the protein is empty or holds a character that is not a letter.
    """
    s = str(seq).strip().upper()
    if s.endswith("*"):
        s = s[:-1]
    if not s:
        raise DataError(f"protein {index + 1} is empty")
    if not _AMINO_ACIDS.match(s):
        bad = sorted({c for c in s if not ("A" <= c <= "Z")})
        raise DataError(f"protein {index + 1} holds characters that are not amino acids: {''.join(bad)!r}")
    return _RARE.sub("X", s) if rare_to_x else s


class _LoadReportToDebug(logging.Filter):
    """Turn transformers' report of checkpoint keys (5.x "LOAD REPORT", 4.x "Some weights of ...") into a debug
    record of ours; :func:`load_pretrained` judges the keys itself."""

    def filter(self, record: logging.LogRecord) -> bool:
        text = record.getMessage()
        if "LOAD REPORT" in text or text.startswith("Some weights of"):
            log.debug("transformers: %s", text)
            return False
        return True


@contextmanager
def quiet_transformers_loading() -> Iterator[None]:
    """Keep transformers' own progress bars and load report off the terminal while a model loads.

    The bars' switches are process-wide: transformers' own and huggingface_hub's (global and per group), which
    transformers' switch sets too. Each is put back as it was on exit: turning transformers' back on alone turned
    every hub bar on, and leaving it off left the hub's off for good.
    """
    from transformers.utils import logging as hf_logging

    bars_were_on = hf_logging.is_progress_bar_enabled()
    hub_states = _hub_progress_bar_states()
    hub_before = dict(hub_states)
    report = _LoadReportToDebug()
    target = logging.getLogger("transformers.modeling_utils")
    hf_logging.disable_progress_bar()
    target.addFilter(report)
    try:
        yield
    finally:
        target.removeFilter(report)
        if bars_were_on:
            hf_logging.enable_progress_bar()
        hub_states.clear()
        hub_states.update(hub_before)


def _hub_progress_bar_states() -> dict:
    """huggingface_hub's switches of its progress bars (group name or "_global" -> on), the dict it reads them from
    (``huggingface_hub.utils.tqdm.progress_bar_states``): no function of its sets them back as they were. A hub
    too old to have groups gives an empty dict (its one switch is transformers')."""
    import importlib

    return getattr(importlib.import_module("huggingface_hub.utils.tqdm"), "progress_bar_states", {})


def load_pretrained(
    model_class: Any, name: str, *, what: str, unused_modules: Sequence[str] = (), **kwargs: Any
) -> Any:
    """``model_class.from_pretrained(name, **kwargs)``, quietly, refusing a checkpoint that lacks needed weights.

    Checkpoint weights the model does not use (the heads of the class it was saved as, e.g. ESM-2's ``lm_head``,
    ProstT5's decoder) are logged at debug level. A weight the model needs but the checkpoint lacks would be left
    random, so it is a :class:`DataError`, except under ``unused_modules`` (module prefixes such as ``pooler.`` or
    ``contact_head.`` whose output the view never reads).
    """
    with quiet_transformers_loading():
        model, info = model_class.from_pretrained(name, output_loading_info=True, **kwargs)
    unexpected = sorted(info.get("unexpected_keys", ()))
    missing = sorted(info.get("missing_keys", ()))
    if unexpected:
        log.debug("%s checkpoint %s: %d unused weight(s): %s", what, name, len(unexpected), ", ".join(unexpected))
    needed = [k for k in missing if not k.startswith(tuple(unused_modules))]
    if len(needed) < len(missing):
        log.debug("%s checkpoint %s: no weights for unused modules %s", what, name, sorted(set(missing) - set(needed)))
    if needed:
        raise DataError(f"{what} checkpoint {name} lacks {len(needed)} weight(s) the model needs, e.g. {needed[0]}")
    return model


def load_hub_or_local(
    load: Callable[..., Any],
    model: str,
    *,
    what: str,
    revision: str | None,
    offline: bool,
) -> tuple[Any, ModelSource]:
    """Call ``load(name_or_path, local_files_only=..., revision=...)`` on a local folder or a hub id.

    Never passes ``trust_remote_code``. Returns the loaded object and where it came from.

    Raises:
        DataError: the model is not available locally (offline) or cannot be downloaded/read.
    """
    local = resolve_local_model(model)
    local_only = hub_offline(offline)
    target = str(local.folder) if local is not None else model
    if local is None and cached_revision(model, revision=revision) is None:
        if local_only:
            raise DataError(missing_model_message(what, model))
        require_reachable_hub(what, model, revision)
    try:
        obj = load(target, local_files_only=local_only or local is not None, revision=None if local else revision)
    except DataError:
        raise
    except Exception as err:  # transformers/safetensors raise many types (SafetensorError, HFValidationError...)
        if isinstance(err, (KeyboardInterrupt, MemoryError)):
            raise
        if local is not None:
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DataError(f"cannot load {what} model from folder {model!r}: {first}") from err
        raise DataError(missing_model_message(what, model)) from err
    if local is not None:
        return obj, local
    cached = cached_revision(model, revision=revision)
    folder, commit = cached if cached is not None else (None, None)
    return obj, ModelSource(model=model, folder=folder, revision=commit, is_local=False)


__all__ = [
    "ModelSource", "cached_revision", "clean_protein", "hub_offline", "is_out_of_memory", "length_batches",
    "load_hub_or_local", "load_pretrained", "looks_like_path", "missing_model_message", "quiet_transformers_loading",
    "require_model_available", "require_reachable_hub", "resolve_dtype", "resolve_local_model", "run_batched",
    "weights_sha256",
]
