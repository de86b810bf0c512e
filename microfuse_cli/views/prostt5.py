"""Protein view: mean-pooled ProstT5 encoder embeddings (1024-d per protein).

Recipe (as the ProstT5 model card describes it for amino-acid input): residues upper-cased, the rare amino acids
U, Z, O and B mapped to X, residues separated by spaces and the sequence prefixed with ``<AA2fold>``; the T5 encoder
runs on the tokenised batch and a protein's vector is the mean of its residue positions only (the ``<AA2fold>``
prefix, the closing ``</s>`` and padding are left out). Precision as on the card: float16 on GPU (``model.half()``, as
in the ProstT5 repository's ``scripts/embed.py``), float32 on CPU; ``dtype="bfloat16"`` is an option (same range
as float32, 3 fewer mantissa bits than float16, so a larger error against float32).

Proven against the card: ``tests/test_views_foundation.py`` compares with vectors that the card's code
(``T5Tokenizer`` + ``T5EncoderModel`` under transformers 4.57) gave on a tiny T5 with ProstT5's SentencePiece
vocabulary (``benchmarks/bacformer_reference.py``).

Loading, batching and the compute dtype are shared with the Bacformer view (``views/hf.py``). Heavy imports
(torch, transformers) happen inside functions so that importing this module is cheap.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from ..errors import DataError, UsageError
from ..progress import Advance
from ..runtime import torch_device
from .foundation import PROSTT5
from .hf import (
    ModelSource,
    clean_protein,
    load_hub_or_local,
    load_pretrained,
    resolve_dtype,
    run_batched,
    weights_sha256,
)

if TYPE_CHECKING:  # pragma: no cover
    import torch

log = logging.getLogger(__name__)

#: Model id of the published ProstT5 checkpoint on the Hugging Face hub.
PROSTT5_MODEL = PROSTT5.default
#: Precision on GPU when none is given: the model card's ``model.half()``.
GPU_DTYPE = "float16"


# ---------------------------------------------------------------------------------------------------------------
# ProstT5
# ---------------------------------------------------------------------------------------------------------------


class ProstT5Embedder:
    """Mean-pooled ProstT5 encoder embeddings of proteins (the ``prostt5`` protein view, 1024-d).

    Arguments:
        model: hub id (default ``Rostlab/ProstT5``) or a local folder holding ``config.json``, the weights and the
            T5 tokenizer files (``spiece.model`` or ``tokenizer.json``).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (``runtime.resolve_device``).
        dtype: compute dtype (``float32``, ``float16``, ``bfloat16``); None picks float16 on GPU (the model card)
            and float32 on CPU.
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
        self.device = torch_device(device)
        self.dtype = resolve_dtype(dtype, self.device, gpu_default=GPU_DTYPE)
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
            lambda name, **kw: load_pretrained(T5EncoderModel, name, what="ProstT5", dtype=self.dtype, **kw),
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
        self.device = torch_device(device)
        self.dtype = resolve_dtype(dtype, self.device, gpu_default=GPU_DTYPE)
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

    def embed(self, proteins: Sequence[str], progress: Advance | None = None) -> np.ndarray:
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
