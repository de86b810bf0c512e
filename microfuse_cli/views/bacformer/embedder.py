"""The Bacformer view's embedder: ESM-2 vectors of a genome's proteins, then Bacformer over them in genome order
(windowed when the genome is too long for one pass).

ESM-2 pooling
    The package averages ESM-2's last hidden state over the attention mask, which includes ``<cls>`` and ``<eos>``,
    after truncating the tokens to 1024 (1022 residues) (``generate_protein_embeddings``). That is what Bacformer's
    input layer was fed, so it is the default (``esm_pooling="bacformer"``). ``esm_pooling="residues"`` averages
    residue positions only.

Precision
    Both models run in one dtype: float32 on CPU; on GPU bfloat16 (float16 where the GPU lacks it), as the README
    and ``embed_dataset_col`` run Bacformer (the README does so on CPU too; float32 is the more exact choice there).
    The official ESM-2 step runs float32 through transformers, bfloat16 through faESM.

"""

from __future__ import annotations

import logging
from typing import Any, Sequence

import numpy as np
import torch

from ...errors import DataError, UsageError
from ...progress import Advance
from ...runtime import torch_device
from ..foundation import ESM2
from ..hf import (
    ModelSource,
    clean_protein,
    load_hub_or_local,
    load_pretrained,
    resolve_dtype,
    run_batched,
    weights_sha256,
)
from .layout import CONTIG_SEPARATORS, GenomeLayout, assign_windows, plan_windows
from .model import BACFORMER_MODEL, GPU_DTYPE, BacformerConfig, BacformerModel, load_bacformer

log = logging.getLogger(__name__)

ESM2_MODEL = ESM2.default
#: ESM-2 tokens per protein in the reference pipeline (``<cls>`` + 1022 residues + ``<eos>``).
ESM_MAX_TOKENS = 1024
#: ESM-2 modules whose weights a checkpoint may lack without harm: their output is never read.
ESM_UNUSED = ("pooler.", "contact_head.")
#: Padded residues per ESM-2 batch unless told: ESM-2 35M is small, so a GPU wants big batches (on an H200, 512
#: E. coli proteins ran at 21,000 tokens/s in batches of 4,000 and 73,000 in batches of 32,000, 0.75 GiB at most;
#: benchmarks/RESULTS.md). The CPU default predates that measurement.
ESM_BATCH_RESIDUES = {"cpu": 8000, "cuda": 32000}


class BacformerEmbedder:
    """Contextual protein embeddings from ESM-2 + Bacformer (the ``bacformer`` genome-context view, 480-d).

    Arguments:
        model: Bacformer hub id or local folder (``config.json`` + ``model.safetensors``).
        esm_model: ESM-2 hub id or local folder (``EsmModel`` weights + ``vocab.txt``).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (``runtime.resolve_device``).
        dtype: compute dtype of both models; None picks bfloat16 on GPU (float16 where the GPU lacks it), as the
            official README runs Bacformer, and float32 on CPU.
        max_batch_residues: padded residues per ESM-2 batch; a longer protein runs alone. None: 32,000 on a GPU,
            8,000 on the CPU (``ESM_BATCH_RESIDUES``).
        max_length: Bacformer tokens per pass (CLS, separators and END included); None uses the official helpers'
            single pass, ``1.5 * max_position_embeddings`` (9,000); a longer genome is windowed.
        window_overlap: fraction of a window shared with the next one when a genome needs several windows.
        esm_pooling: ``"bacformer"`` (mean over all ESM-2 tokens but padding, as ``generate_protein_embeddings``)
            or ``"residues"`` (residue positions only).
        contig_separator: ``"cls"`` (id 2, ``protein_embeddings_to_inputs``, every official embedding path) or
            ``"sep"`` (id 3, ``data_reader.transform_sample``, the pretraining layout); see :mod:`.layout`.
        offline: never try the network (also implied by ``HF_HUB_OFFLINE=1``).
        revision: hub revision of the Bacformer model.

    Raises:
        DataError: a model is missing or unreadable.
        UsageError: a bad option.
    """

    name = "bacformer"
    dim = 480

    def __init__(
        self,
        model: str = BACFORMER_MODEL,
        *,
        esm_model: str = ESM2_MODEL,
        device: str = "cpu",
        dtype: str | torch.dtype | None = None,
        max_batch_residues: int | None = None,
        max_length: int | None = None,
        window_overlap: float = 0.25,
        esm_pooling: str = "bacformer",
        contig_separator: str = "cls",
        offline: bool = False,
        revision: str | None = None,
    ) -> None:
        from transformers import EsmModel, EsmTokenizer

        self._configure(device, dtype, max_batch_residues, window_overlap, esm_pooling, contig_separator)
        bacformer, self.source = load_bacformer(
            model, device=self.device, dtype=self.dtype, revision=revision, offline=offline
        )
        esm_tokenizer, self.esm_source = load_hub_or_local(
            lambda name, **kw: EsmTokenizer.from_pretrained(name, **kw),
            esm_model,
            what="ESM-2",
            revision=None,
            offline=offline,
        )
        esm, _ = load_hub_or_local(
            lambda name, **kw: load_pretrained(
                EsmModel, name, what="ESM-2", unused_modules=ESM_UNUSED, add_pooling_layer=False, dtype=self.dtype, **kw
            ),
            esm_model,
            what="ESM-2",
            revision=None,
            offline=offline,
        )
        self._attach(bacformer, esm, esm_tokenizer, max_length, esm_model)

    @classmethod
    def from_modules(
        cls,
        bacformer: BacformerModel,
        esm: Any,
        esm_tokenizer: Any,
        *,
        device: str = "cpu",
        dtype: str | torch.dtype | None = None,
        max_batch_residues: int | None = None,
        max_length: int | None = None,
        window_overlap: float = 0.25,
        esm_pooling: str = "bacformer",
        contig_separator: str = "cls",
        label: str = "in-memory",
    ) -> "BacformerEmbedder":
        """Wrap already built models (benchmarks, tests); ``label`` names them in ``describe()``."""
        self = cls.__new__(cls)
        self._configure(device, dtype, max_batch_residues, window_overlap, esm_pooling, contig_separator)
        self.source = ModelSource(model=label, folder=None, revision=None, is_local=False)
        self.esm_source = ModelSource(model=label, folder=None, revision=None, is_local=False)
        bacformer = bacformer.to(device=self.device, dtype=self.dtype).eval()
        self._attach(bacformer, esm.to(dtype=self.dtype), esm_tokenizer, max_length, label)
        return self

    def _configure(
        self,
        device: str,
        dtype: str | torch.dtype | None,
        max_batch_residues: int | None,
        window_overlap: float,
        esm_pooling: str,
        contig_separator: str,
    ) -> None:
        if max_batch_residues is not None and max_batch_residues < 1:
            raise UsageError(f"max_batch_residues must be >= 1 (got {max_batch_residues})")
        if not 0.0 <= window_overlap < 1.0:
            raise UsageError(f"window_overlap must be in [0, 1) (got {window_overlap})")
        if esm_pooling not in ("bacformer", "residues"):
            raise UsageError(f"esm_pooling must be 'bacformer' or 'residues' (got {esm_pooling!r})")
        if contig_separator not in CONTIG_SEPARATORS:
            raise UsageError(f"contig_separator must be 'cls' or 'sep' (got {contig_separator!r})")
        self.device = torch_device(device)
        self.dtype = resolve_dtype(dtype, self.device, gpu_default=GPU_DTYPE)
        self.max_batch_residues = int(max_batch_residues if max_batch_residues is not None
                                      else ESM_BATCH_RESIDUES["cuda" if self.device.type == "cuda" else "cpu"])
        self.window_overlap = float(window_overlap)
        self.esm_pooling = esm_pooling
        self.contig_separator = contig_separator
        self._hashes: dict[str, str | None] = {}

    def _attach(self, bacformer: BacformerModel, esm: Any, esm_tokenizer: Any, max_length: int | None, esm_name: str) -> None:
        self.bacformer = bacformer
        self.bacformer.requires_grad_(False)
        self.config: BacformerConfig = bacformer.config
        limit = self.config.rotary_positions
        self.max_length = int(max_length) if max_length is not None else limit
        if not 4 <= self.max_length <= limit:
            raise UsageError(f"max_length must be between 4 and {limit} tokens (got {self.max_length})")
        self.dim = self.config.hidden_size
        self.esm_tokenizer = esm_tokenizer
        self.esm = esm.to(self.device).eval()
        self.esm.requires_grad_(False)
        if int(self.esm.config.hidden_size) != self.config.hidden_size:
            raise DataError(
                f"ESM-2 model {esm_name!r} gives {self.esm.config.hidden_size}-d vectors but Bacformer expects "
                f"{self.config.hidden_size}-d (use {ESM2_MODEL})"
            )

    # -- public API -------------------------------------------------------------------------------------------

    def embed(self, contigs: Sequence[Sequence[str]], progress: Advance | None = None) -> np.ndarray:
        """Contextual vectors of one genome's proteins.

        Arguments:
            contigs: protein sequences per contig, contigs and proteins in genome order.
            progress: called with the number of proteins whose ESM-2 vector was just computed.

        Returns:
            ``(total proteins, dim)`` float32, rows in the order of ``contigs`` flattened.
        """
        if isinstance(contigs, str) or any(isinstance(c, str) for c in contigs):
            raise UsageError("contigs must be a list of contigs, each a list of protein sequences")
        proteins = [p for contig in contigs for p in contig]
        vectors = self.embed_proteins(proteins, progress=progress)
        return self.contextualise(vectors, [len(c) for c in contigs])

    def embed_proteins(self, proteins: Sequence[str], progress: Advance | None = None) -> np.ndarray:
        """Per-protein ESM-2 mean vectors, ``(n, hidden)`` float32 in input order (Bacformer's input)."""
        seqs = [clean_protein(p, i, rare_to_x=False) for i, p in enumerate(proteins)]
        out = np.zeros((len(seqs), int(self.esm.config.hidden_size)), dtype=np.float32)
        if not seqs:
            return out
        lengths = [min(len(s), ESM_MAX_TOKENS - 2) + 2 for s in seqs]
        return run_batched(
            lengths,
            lambda idx: self._esm_batch([seqs[i] for i in idx]),
            out,
            max_batch_residues=self.max_batch_residues,
            progress=progress,
        )

    def contextualise(self, vectors: np.ndarray, contig_sizes: Sequence[int]) -> np.ndarray:
        """Run Bacformer over per-protein vectors of one genome (contigs of ``contig_sizes`` proteins, in order)."""
        vectors = np.asarray(vectors, dtype=np.float32)
        if sum(int(s) for s in contig_sizes) != len(vectors):
            raise DataError(f"{len(vectors)} protein vectors but contig sizes add up to {sum(contig_sizes)}")
        layout = GenomeLayout.from_sizes(
            contig_sizes, self.contig_separator, max_contigs=self.config.max_token_type_embeddings
        )
        out = np.zeros((len(vectors), self.dim), dtype=np.float32)
        if len(vectors) == 0:
            return out
        windows = plan_windows(layout, self.max_length, self.window_overlap)
        owner = assign_windows(windows, len(layout))
        if len(windows) > 1:
            log.debug("genome of %d proteins split into %d Bacformer windows", len(layout), len(windows))
        for w, (start, end) in enumerate(windows):
            mine = np.nonzero(owner[start:end] == w)[0]
            if len(mine) == 0:
                continue
            tokens, types, positions = layout.window_tokens(start, end)
            x = np.zeros((len(tokens), vectors.shape[1]), dtype=np.float32)
            x[positions] = vectors[start:end]
            with torch.inference_mode():
                hidden = self.bacformer(
                    torch.from_numpy(x)[None].to(self.device),
                    torch.from_numpy(tokens)[None].to(self.device),
                    torch.from_numpy(types)[None].to(self.device),
                )[0]
            picked = hidden[torch.from_numpy(positions[mine]).to(self.device)]
            out[start + mine] = picked.float().cpu().numpy()
        return out

    def describe(self) -> dict[str, Any]:
        """Provenance: both models (id or folder, revision or weight hash), dim, dtype, device, layout options."""

        def part(source: ModelSource) -> dict[str, Any]:
            info: dict[str, Any] = {"model": source.model, "revision": source.revision}
            if source.is_local and source.folder is not None:
                key = str(source.folder)
                if key not in self._hashes:
                    self._hashes[key] = weights_sha256(source.folder)
                info["path"] = key
                info["weights_sha256"] = self._hashes[key]
            return info

        return {
            "name": self.name,
            **part(self.source),
            "esm": part(self.esm_source),
            "dim": self.dim,
            "dtype": str(self.dtype).removeprefix("torch."),
            "device": str(self.device),
            "max_length": self.max_length,
            "window_overlap": self.window_overlap,
            "esm_pooling": self.esm_pooling,
            "contig_separator": self.contig_separator,
        }

    # -- internals --------------------------------------------------------------------------------------------

    def _esm_batch(self, seqs: list[str]) -> np.ndarray:
        enc = self.esm_tokenizer(
            seqs, padding="longest", truncation=True, max_length=ESM_MAX_TOKENS, return_tensors="pt"
        )
        input_ids = enc["input_ids"].to(self.device)
        attention_mask = enc["attention_mask"].to(self.device)
        with torch.inference_mode():
            hidden = self.esm(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state.float()
        mask = attention_mask.to(torch.float32)
        if self.esm_pooling == "residues":
            n_tokens = attention_mask.sum(1)
            positions = torch.arange(hidden.shape[1], device=hidden.device)[None, :]
            mask = ((positions >= 1) & (positions < (n_tokens - 1)[:, None])).to(torch.float32)
        summed = torch.einsum("bld,bl->bd", hidden, mask)
        return (summed / mask.sum(1, keepdim=True)).cpu().numpy()
