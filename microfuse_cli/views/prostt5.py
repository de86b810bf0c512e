"""Protein view: mean-pooled ProstT5 encoder embeddings (1024-d per protein).

Recipe (as the ProstT5 model card describes it for amino-acid input): residues upper-cased, the rare amino acids
U, Z, O and B mapped to X, residues separated by spaces and the sequence prefixed with ``<AA2fold>``; the T5 encoder
runs on the tokenised batch and a protein's vector is the mean of its residue positions only (the ``<AA2fold>``
prefix, the closing ``</s>`` and padding are left out). Half precision on GPU (bfloat16 where the GPU supports it,
else float16), float32 on CPU.

This module also holds the batching machinery the other foundation views share (:func:`length_batches`,
:func:`run_batched`, :func:`resolve_device`, :func:`resolve_dtype`, :func:`resolve_local_model`): batches of
proteins sorted by length under a padded-residue budget, a protein longer than the budget goes alone, and a batch
that runs out of memory is split in half and retried, never skipped.

Heavy imports (torch, transformers, huggingface_hub) happen inside functions so that importing this module is cheap.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from ..errors import DataError, UsageError

if TYPE_CHECKING:  # pragma: no cover
    import torch

log = logging.getLogger(__name__)

#: Model id of the published ProstT5 checkpoint on the Hugging Face hub.
PROSTT5_MODEL = "Rostlab/ProstT5"

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

Progress = Callable[[int], None]


# ---------------------------------------------------------------------------------------------------------------
# Shared helpers for the foundation-model views
# ---------------------------------------------------------------------------------------------------------------


def resolve_device(device: str) -> "torch.device":
    """Turn ``"cpu"``, ``"cuda"``, ``"cuda:N"`` (or ``"mps"``) into a :class:`torch.device`.

    Raises:
        UsageError: the device is malformed or not available on this machine.
    """
    import torch

    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise UsageError(f"invalid device {device!r} (expected cpu, cuda or cuda:N)") from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device {device!r} asked for, but no CUDA GPU is available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f"device {device!r} asked for, but only {torch.cuda.device_count()} GPU(s) are visible")
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise UsageError(f"device {device!r} asked for, but MPS is not available")
    elif dev.type != "cpu":
        raise UsageError(f"unsupported device {device!r} (expected cpu, cuda or cuda:N)")
    return dev


def resolve_dtype(dtype: "str | torch.dtype | None", device: "torch.device") -> "torch.dtype":
    """Pick the compute dtype: the explicit one, else bfloat16 (or float16) on GPU and float32 elsewhere.

    Raises:
        UsageError: an unknown dtype name.
    """
    import torch

    if dtype is None:
        if device.type == "cuda":
            return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.float32
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


def missing_model_message(what: str, model: str) -> str:
    """One line telling the user how to make the hub model ``model`` available without a network."""
    return (
        f"{what} model {model!r} is not available locally; on a connected machine run "
        f"`huggingface-cli download {model} --local-dir DIR` (or `hf download {model} --local-dir DIR`), "
        "copy DIR here and pass DIR as the model"
    )


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
    progress: Progress | None = None,
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
    if local is None and local_only and cached_revision(model, revision=revision) is None:
        raise DataError(missing_model_message(what, model))
    try:
        obj = load(target, local_files_only=local_only or local is not None, revision=None if local else revision)
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


# ---------------------------------------------------------------------------------------------------------------
# ProstT5
# ---------------------------------------------------------------------------------------------------------------


class ProstT5Embedder:
    """Mean-pooled ProstT5 encoder embeddings of proteins (the ``prostt5`` protein view, 1024-d).

    Arguments:
        model: hub id (default ``Rostlab/ProstT5``) or a local folder holding ``config.json``, the weights and the
            T5 tokenizer files (``spiece.model`` or ``tokenizer.json``).
        device: ``cpu``, ``cuda`` or ``cuda:N``.
        dtype: compute dtype (``float32``, ``float16``, ``bfloat16``); None picks bfloat16/float16 on GPU and
            float32 on CPU.
        max_batch_residues: padded residues per batch (``batch size * longest protein``); a longer protein runs alone.
        offline: never try the network (also implied by ``HF_HUB_OFFLINE=1``).
        revision: hub revision (branch, tag or commit) when ``model`` is a hub id.

    Raises:
        DataError: the model is missing or unreadable.
        UsageError: a bad device, dtype or batch size.
    """

    name = "prostt5"
    dim = 1024
    prefix = "<AA2fold>"

    def __init__(
        self,
        model: str = PROSTT5_MODEL,
        *,
        device: str = "cpu",
        dtype: "str | torch.dtype | None" = None,
        max_batch_residues: int = 4000,
        offline: bool = False,
        revision: str | None = None,
    ) -> None:
        from transformers import T5EncoderModel, T5Tokenizer

        if max_batch_residues < 1:
            raise UsageError(f"max_batch_residues must be >= 1 (got {max_batch_residues})")
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.max_batch_residues = int(max_batch_residues)
        self._weights_sha256: str | None = None

        self.tokenizer, self.source = load_hub_or_local(
            lambda name, **kw: T5Tokenizer.from_pretrained(name, do_lower_case=False, **kw),
            model,
            what="ProstT5",
            revision=revision,
            offline=offline,
        )
        encoder, _ = load_hub_or_local(
            lambda name, **kw: T5EncoderModel.from_pretrained(name, dtype=self.dtype, **kw),
            model,
            what="ProstT5",
            revision=revision,
            offline=offline,
        )
        self._attach(encoder, model)

    @classmethod
    def from_modules(
        cls,
        encoder: Any,
        tokenizer: Any,
        *,
        device: str = "cpu",
        dtype: "str | torch.dtype | None" = None,
        max_batch_residues: int = 4000,
        label: str = "in-memory",
    ) -> "ProstT5Embedder":
        """Wrap an already built ``T5EncoderModel`` and tokenizer (benchmarks, tests); ``label`` names it."""
        if max_batch_residues < 1:
            raise UsageError(f"max_batch_residues must be >= 1 (got {max_batch_residues})")
        self = cls.__new__(cls)
        self.device = resolve_device(device)
        self.dtype = resolve_dtype(dtype, self.device)
        self.max_batch_residues = int(max_batch_residues)
        self._weights_sha256 = None
        self.tokenizer = tokenizer
        self.source = ModelSource(model=label, folder=None, revision=None, is_local=False)
        self._attach(encoder.to(dtype=self.dtype), label)
        return self

    def _attach(self, encoder: Any, model: str) -> None:
        import torch

        self.model = encoder.to(self.device).eval()
        self.model.requires_grad_(False)
        hidden = int(self.model.config.d_model)
        if hidden != self.dim:
            # Tiny test models and other T5 encoders are accepted; the width is what the checkpoint says.
            log.info("ProstT5 model %s has d_model=%d (the published model has %d)", model, hidden, self.dim)
            self.dim = hidden
        prefix_id = self.tokenizer.convert_tokens_to_ids(self.prefix)
        if prefix_id is None or prefix_id == self.tokenizer.unk_token_id:
            raise DataError(f"the tokenizer of model {model!r} has no {self.prefix} token; is it ProstT5?")
        self._torch = torch

    # -- public API -------------------------------------------------------------------------------------------

    def embed(self, proteins: Sequence[str], progress: Progress | None = None) -> np.ndarray:
        """Embed proteins; returns an ``(n, dim)`` float32 array whose rows follow the input order.

        Raises:
            DataError: an empty protein, a non-amino-acid character, or a protein that does not fit in memory.
        """
        seqs = [clean_protein(p, i, rare_to_x=True) for i, p in enumerate(proteins)]
        out = np.zeros((len(seqs), self.dim), dtype=np.float32)
        if not seqs:
            return out
        lengths = [len(s) for s in seqs]
        return run_batched(
            lengths,
            lambda idx: self._embed_batch([seqs[i] for i in idx]),
            out,
            max_batch_residues=self.max_batch_residues,
            progress=progress,
        )

    def describe(self) -> dict[str, Any]:
        """Provenance of the embeddings: model id or folder, hub revision or weight hash, dim, dtype, device."""
        info: dict[str, Any] = {
            "name": self.name,
            "model": self.source.model,
            "revision": self.source.revision,
            "dim": self.dim,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "prefix": self.prefix,
            "pooling": "mean over residue positions",
        }
        if self.source.is_local and self.source.folder is not None:
            if self._weights_sha256 is None:
                self._weights_sha256 = weights_sha256(self.source.folder)
            info["path"] = str(self.source.folder)
            info["weights_sha256"] = self._weights_sha256
        return info

    # -- internals --------------------------------------------------------------------------------------------

    def _embed_batch(self, seqs: list[str]) -> np.ndarray:
        torch = self._torch
        texts = [f"{self.prefix} " + " ".join(s) for s in seqs]
        enc = self.tokenizer(texts, add_special_tokens=True, padding="longest", return_tensors="pt")
        lengths = torch.tensor([len(s) for s in seqs])
        # prefix + residues + </s> must be exactly the non-padding tokens: one token per residue.
        if not torch.equal(enc["attention_mask"].sum(1).cpu(), lengths + 2):
            raise DataError("the ProstT5 tokenizer does not map one token per residue; is this the ProstT5 tokenizer?")
        input_ids = enc["input_ids"].to(self.device)
        attention_mask = enc["attention_mask"].to(self.device)
        with torch.inference_mode():
            hidden = self.model(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
        positions = torch.arange(hidden.shape[1], device=hidden.device)
        lengths = lengths.to(hidden.device)
        residues = (positions[None, :] >= 1) & (positions[None, :] <= lengths[:, None])
        weights = residues.to(torch.float32)
        summed = torch.einsum("bld,bl->bd", hidden.to(torch.float32), weights)
        return (summed / lengths[:, None].to(torch.float32)).cpu().numpy()
