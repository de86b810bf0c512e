"""Genome-context view: Bacformer contextual protein embeddings (480-d per protein).

Two frozen models run in turn:

1. ESM-2 (``facebook/esm2_t12_35M_UR50D``, :class:`transformers.EsmModel`) embeds every protein; a protein's vector
   is the mean of the last hidden state (see *ESM-2 pooling* below).
2. Bacformer, a transformer whose tokens are the proteins of one genome in genome order, turns those 480-d vectors
   into contextual 480-d vectors.

Bacformer is re-implemented here (:class:`BacformerConfig`, :class:`BacformerModel`) so that the published
checkpoint loads without ``trust_remote_code``. What follows was read from the ``bacformer`` package, version 0.2.0
(PyPI), files ``modeling/config.py``, ``modeling/modeling_base.py``, ``modeling/modeling_pretraining.py``,
``modeling/data_reader.py`` and ``pp/embed_prot_seqs.py``. The modelling files are the same on GitHub
(macwiatrak/Bacformer, commit 55934e3, 2025-07-21); ``data_reader.py`` is not (there it reads inputs laid out
beforehand), and there ``protein_embeddings_to_inputs`` has the same layout with a 6,000-token default. It is a
reading of that code, re-written, not a copy.

Proven against the official code: ``tests/test_views_foundation.py`` loads a tiny ``BacformerForMaskedGM`` and a
tiny ESM-2 saved by the official code and asserts that microfuse gives the vectors of the official functions for one
contig, several contigs, a genome past ``max_position_embeddings``, more contigs than the limit, empty contigs, the
pretraining layout and 30 real E. coli proteins (max |diff| < 1e-5 in float32). ``benchmarks/bacformer_reference.py``
wrote that data with ``bacformer==0.2.0`` in a virtual environment of its own.

Checkpoint layout followed (``config.json`` + ``model.safetensors``)
    ``config.json``: the ``BacformerConfig`` fields ``hidden_size`` (480), ``num_hidden_layers``,
    ``num_attention_heads``, ``intermediate_size``, ``max_position_embeddings`` (6000),
    ``max_token_type_embeddings`` (1000), ``layer_norm_eps`` (1e-12), ``num_special_tokens`` (6),
    ``prot_emb_token_id`` (4), ``pad_token_id`` (0), ``mask_token_id`` (1), ``end_token_id`` (5); unknown keys are
    ignored. Weights, under the prefix ``bacformer.`` (``BacformerForMaskedGM``; a bare ``BacformerModel`` without
    the prefix is accepted too)::

        embeddings.linear.{weight,bias}                      480 -> 480, applied to the ESM-2 vector
        embeddings.token_type_embeddings.weight              (max_token_type_embeddings + 1, 480), contig index
        embeddings.special_tokens_embeddings.weight          (num_special_tokens, 480)
        embeddings.LayerNorm.{weight,bias}                   eps = layer_norm_eps
        encoder.encoder.layers.{i}.self_mha.{q,k,v}.weight   no bias
        encoder.encoder.layers.{i}.self_mha.att_proj_linear.{weight,bias}
        encoder.encoder.layers.{i}.fc1.{weight,bias}, .fc2.{weight,bias}
        encoder.encoder.layers.{i}.norm1.{weight,bias}, .norm2.{weight,bias}   eps = 1e-5 (torch default)

    ``gm_head.*`` (the masked-protein-family head) and ``pooler.*`` are not used and are skipped.

Architecture
    Embedding: ``LayerNorm(where(token == PROT_EMB, linear(esm_vector), special_embedding[token]) +
    token_type_embedding[contig])``. Each layer is post-norm: ``x = norm1(x + proj(attn(x)))``,
    ``x = norm2(x + fc2(gelu(fc1(x))))`` with exact GELU. Attention is bidirectional multi-head attention with
    rotary position embeddings (llama style: adjacent pairs ``(2j, 2j+1)`` of each head rotated by
    ``pos * 10000^(-2j/head_dim)``, computed in float32); the rotary table covers ``1.5 * max_position_embeddings``
    positions. Dropout is off (eval).

Input layout (special tokens PAD 0, MASK 1, CLS 2, SEP 3, PROT_EMB 4, END 5); M = ``max_token_type_embeddings``
    Default, ``contig_separator="cls"``: ``pp.embed_prot_seqs.protein_embeddings_to_inputs``, which every official
    embedding path uses (``compute_bacformer_embeddings``, ``protein_seqs_to_bacformer_inputs``,
    ``embed_dataset_col``, the README, the operon tutorial)::

        [CLS] p(0,1) .. p(0,n0) [CLS] p(1,1) .. [CLS] [END]

    Every contig is closed by the CLS id, an empty one too (it spends a separator and a contig index). Token type
    ids: CLS 0; the proteins of contig c and its separator ``c`` while ``c <= M``, else ``M - 1`` (so index M, the
    embedding's padding row, is used for contig M, as the helper does); END the last contig's id.

    ``contig_separator="sep"``: ``modeling.data_reader.transform_sample`` of the 0.2.0 wheel (the pretraining
    layout it names "for ESMC"): empty contigs are dropped, ids are ``min(c, M - 1)`` and a SEP (3) is put only
    where the id changes and at the end, so contigs ``M - 1`` and beyond run together without separators.

    Special positions carry a zero vector (replaced by the special-token embedding).

Long genomes
    A genome whose layout fits ``1.5 * max_position_embeddings`` tokens (9,000 for the published models, the
    official helpers' ``max_n_proteins`` default) runs in one pass, as the official helpers run it. A longer one,
    which the helpers would cut at 9,000 tokens, is cut into overlapping windows of consecutive proteins, each laid
    out as a genome of its own (contigs renumbered from 0; no separator where a contig goes on past the window's
    end) and run separately; each protein keeps the vector from the window where it is most central (farthest from a
    window edge that is not a genome end). Nothing is truncated.

ESM-2 pooling
    The package averages ESM-2's last hidden state over the attention mask, which includes ``<cls>`` and ``<eos>``,
    after truncating the tokens to 1024 (1022 residues) (``generate_protein_embeddings``). That is what Bacformer's
    input layer was fed, so it is the default (``esm_pooling="bacformer"``). ``esm_pooling="residues"`` averages
    residue positions only.

Precision
    Both models run in one dtype: float32 on CPU; on GPU bfloat16 (float16 where the GPU lacks it), as the README
    and ``embed_dataset_col`` run Bacformer (the README does so on CPU too; float32 is the more exact choice there).
    The official ESM-2 step runs float32 through transformers, bfloat16 through faESM.

Not verified (no network here): the hub checkpoints' own ``config.json`` and key names (our loader reports any
missing key by name) and whether the hub's custom modelling code differs from the 0.2.0 package. The default
checkpoint is ``macwiatrak/bacformer-masked-complete-genomes`` (the design card's choice);
``macwiatrak/bacformer-masked-MAG`` (trained on metagenome-assembled genomes) loads the same way and may suit
fragmented assemblies better.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import DataError, UsageError
from ..runtime import torch_device
from .hf import (
    ModelSource,
    Progress,
    cached_revision,
    clean_protein,
    hub_offline,
    load_hub_or_local,
    load_pretrained,
    missing_model_message,
    resolve_dtype,
    resolve_local_model,
    run_batched,
    weights_sha256,
)

log = logging.getLogger(__name__)

BACFORMER_MODEL = "macwiatrak/bacformer-masked-complete-genomes"
ESM2_MODEL = "facebook/esm2_t12_35M_UR50D"

PAD, MASK, CLS, SEP, PROT_EMB, END = 0, 1, 2, 3, 4, 5

#: ESM-2 tokens per protein in the reference pipeline (``<cls>`` + 1022 residues + ``<eos>``).
ESM_MAX_TOKENS = 1024
#: ESM-2 modules whose weights a checkpoint may lack without harm: their output is never read.
ESM_UNUSED = ("pooler.", "contact_head.")
#: Precision on GPU when none is given: the official README's ``.to(torch.bfloat16)``.
GPU_DTYPE = "bfloat16"


# ---------------------------------------------------------------------------------------------------------------
# Configuration and model
# ---------------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class BacformerConfig:
    """Bacformer hyper-parameters, named as in the published ``config.json``."""

    hidden_size: int = 480
    num_hidden_layers: int = 6  # the package's default; the published base checkpoints have 12 (see config.json)
    num_attention_heads: int = 8
    intermediate_size: int = 1280
    max_position_embeddings: int = 6000
    max_token_type_embeddings: int = 1000
    layer_norm_eps: float = 1e-12
    num_special_tokens: int = 6
    pad_token_id: int = PAD
    mask_token_id: int = MASK
    prot_emb_token_id: int = PROT_EMB
    end_token_id: int = END

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "BacformerConfig":
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def to_dict(self) -> dict[str, Any]:
        return {"model_type": "bacformer", "architectures": ["BacformerForMaskedGM"], **asdict(self)}

    @property
    def rotary_positions(self) -> int:
        """Length of the rotary table (the reference precomputes 1.5 x max_position_embeddings)."""
        return int(self.max_position_embeddings * 1.5)


def _rotary_tables(head_dim: int, n_positions: int) -> tuple[torch.Tensor, torch.Tensor]:
    inv_freq = 1.0 / (10000.0 ** (torch.arange(0, head_dim, 2)[: head_dim // 2].float() / head_dim))
    angles = torch.outer(torch.arange(n_positions, dtype=torch.float32), inv_freq)
    return angles.cos(), angles.sin()


def _rotate(x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
    """Rotate adjacent pairs ``(2j, 2j+1)`` of ``x`` (batch, seq, heads, head_dim) by the angle tables, in float32."""
    pairs = x.float().unflatten(-1, (-1, 2))
    even, odd = pairs[..., 0], pairs[..., 1]
    cos = cos[None, :, None, :]
    sin = sin[None, :, None, :]
    rotated = torch.stack((even * cos - odd * sin, even * sin + odd * cos), dim=-1)
    return rotated.flatten(-2).type_as(x)


class RotarySelfAttention(nn.Module):
    """Bidirectional multi-head self-attention with rotary positions (``self_mha`` in the checkpoint)."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        if hidden % heads:
            raise DataError(f"Bacformer hidden_size {hidden} is not a multiple of num_attention_heads {heads}")
        self.heads = heads
        self.head_dim = hidden // heads
        self.q = nn.Linear(hidden, hidden, bias=False)
        self.k = nn.Linear(hidden, hidden, bias=False)
        self.v = nn.Linear(hidden, hidden, bias=False)
        self.att_proj_linear = nn.Linear(hidden, hidden)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q = _rotate(self.q(x).view(b, n, self.heads, self.head_dim), cos, sin)
        k = _rotate(self.k(x).view(b, n, self.heads, self.head_dim), cos, sin)
        v = self.v(x).view(b, n, self.heads, self.head_dim)
        att = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        return self.att_proj_linear(att.transpose(1, 2).reshape(b, n, d))


class BacformerLayer(nn.Module):
    """Post-norm transformer layer: attention, then a GELU feed-forward, each followed by LayerNorm."""

    def __init__(self, config: BacformerConfig) -> None:
        super().__init__()
        self.self_mha = RotarySelfAttention(config.hidden_size, config.num_attention_heads)
        self.fc1 = nn.Linear(config.hidden_size, config.intermediate_size)
        self.fc2 = nn.Linear(config.intermediate_size, config.hidden_size)
        self.norm1 = nn.LayerNorm(config.hidden_size)
        self.norm2 = nn.LayerNorm(config.hidden_size)

    def forward(self, x: torch.Tensor, cos: torch.Tensor, sin: torch.Tensor) -> torch.Tensor:
        x = self.norm1(x + self.self_mha(x, cos, sin))
        return self.norm2(x + self.fc2(F.gelu(self.fc1(x))))


class _LayerStack(nn.Module):
    def __init__(self, config: BacformerConfig) -> None:
        super().__init__()
        self.layers = nn.ModuleList(BacformerLayer(config) for _ in range(config.num_hidden_layers))


class BacformerEncoder(nn.Module):
    """The layer stack (``encoder.encoder.layers`` in the checkpoint) and the rotary tables (not saved)."""

    def __init__(self, config: BacformerConfig) -> None:
        super().__init__()
        self.encoder = _LayerStack(config)
        cos, sin = _rotary_tables(config.hidden_size // config.num_attention_heads, config.rotary_positions)
        self.register_buffer("freqs_cos", cos, persistent=False)
        self.register_buffer("freqs_sin", sin, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        n = x.shape[1]
        cos, sin = self.freqs_cos[:n], self.freqs_sin[:n]
        for layer in self.encoder.layers:
            x = layer(x, cos, sin)
        return x


class BacformerEmbeddings(nn.Module):
    """Input layer: projected ESM-2 vectors or special-token embeddings, plus the contig (token type) embedding."""

    def __init__(self, config: BacformerConfig) -> None:
        super().__init__()
        self.prot_emb_token_id = config.prot_emb_token_id
        self.linear = nn.Linear(config.hidden_size, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(
            config.max_token_type_embeddings + 1, config.hidden_size, padding_idx=config.max_token_type_embeddings
        )
        self.special_tokens_embeddings = nn.Embedding(config.num_special_tokens, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps)

    def forward(self, vectors: torch.Tensor, tokens: torch.Tensor, token_types: torch.Tensor) -> torch.Tensor:
        proteins = self.linear(vectors.to(self.linear.weight.dtype))
        special = self.special_tokens_embeddings(tokens)
        x = torch.where((tokens == self.prot_emb_token_id)[..., None], proteins, special)
        return self.LayerNorm(x + self.token_type_embeddings(token_types))


class BacformerModel(nn.Module):
    """Bacformer encoder: ``(vectors (b, n, hidden), tokens (b, n), token_types (b, n)) -> (b, n, hidden)``.

    Parameter names match the published checkpoint under the ``bacformer.`` prefix (see the module docstring).
    Inputs are not padded: run one genome window per call.
    """

    def __init__(self, config: BacformerConfig) -> None:
        super().__init__()
        self.config = config
        self.embeddings = BacformerEmbeddings(config)
        self.encoder = BacformerEncoder(config)

    def forward(self, vectors: torch.Tensor, tokens: torch.Tensor, token_types: torch.Tensor) -> torch.Tensor:
        if tokens.shape[1] > self.config.rotary_positions:
            raise DataError(f"Bacformer input of {tokens.shape[1]} tokens exceeds {self.config.rotary_positions}")
        return self.encoder(self.embeddings(vectors, tokens, token_types))

    def save_pretrained(self, folder: str | Path) -> Path:
        """Write ``config.json`` + ``model.safetensors`` in the published layout (``bacformer.`` prefix)."""
        from safetensors.torch import save_file

        folder = Path(folder)
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "config.json").write_text(json.dumps(self.config.to_dict(), indent=2, sort_keys=True) + "\n")
        state = {f"bacformer.{k}": v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
        return folder


# ---------------------------------------------------------------------------------------------------------------
# Loading
# ---------------------------------------------------------------------------------------------------------------


def _read_state_dict(folder: Path) -> dict[str, torch.Tensor]:
    from safetensors.torch import load_file

    single = folder / "model.safetensors"
    index = folder / "model.safetensors.index.json"
    if single.is_file():
        return load_file(str(single))
    if index.is_file():
        shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        state: dict[str, torch.Tensor] = {}
        for shard in shards:
            state.update(load_file(str(folder / shard)))
        return state
    if any(folder.glob("*.bin")):
        raise DataError(
            f"Bacformer folder {folder} has only pickled *.bin weights; microfuse reads model.safetensors only "
            "(convert with safetensors.torch.save_file on a trusted machine)"
        )
    raise DataError(f"Bacformer folder {folder} has no model.safetensors")


def load_bacformer(
    model: str = BACFORMER_MODEL,
    *,
    device: str | torch.device = "cpu",
    dtype: str | torch.dtype | None = None,
    revision: str | None = None,
    offline: bool = False,
) -> tuple[BacformerModel, ModelSource]:
    """Load a Bacformer checkpoint (hub id or local folder) into our re-implementation, frozen and in eval mode.

    Raises:
        DataError: the checkpoint is missing, not a Bacformer checkpoint, or lacks weights.
    """
    local = resolve_local_model(model)
    if local is not None:
        source = local
        folder = local.folder
    else:
        from huggingface_hub import hf_hub_download

        local_only = hub_offline(offline)
        try:
            config_path = hf_hub_download(model, "config.json", revision=revision, local_files_only=local_only)
            try:
                hf_hub_download(model, "model.safetensors", revision=revision, local_files_only=local_only)
            except Exception:  # noqa: BLE001 - a sharded checkpoint is the only other layout we read
                index = hf_hub_download(
                    model, "model.safetensors.index.json", revision=revision, local_files_only=local_only
                )
                for shard in sorted(set(json.loads(Path(index).read_text())["weight_map"].values())):
                    hf_hub_download(model, shard, revision=revision, local_files_only=local_only)
        except Exception as err:  # huggingface_hub raises several unrelated classes here
            raise DataError(missing_model_message("Bacformer", model)) from err
        folder = Path(config_path).parent
        cached = cached_revision(model, revision=revision)
        source = ModelSource(model=model, folder=folder, revision=cached[1] if cached else folder.name, is_local=False)
    assert folder is not None
    config_file = folder / "config.json"
    if not config_file.is_file():
        raise DataError(f"Bacformer folder {folder} has no config.json")
    try:
        raw = json.loads(config_file.read_text())
    except json.JSONDecodeError as err:
        raise DataError(f"Bacformer config {config_file} is not valid JSON: {err}") from err
    if raw.get("model_type", "bacformer") != "bacformer":
        raise DataError(f"{model!r} is not a Bacformer checkpoint (model_type {raw.get('model_type')!r})")
    config = BacformerConfig.from_dict(raw)

    state = _read_state_dict(folder)
    if any(k.startswith("bacformer.") for k in state):
        state = {k.removeprefix("bacformer."): v for k, v in state.items() if k.startswith("bacformer.")}
    net = BacformerModel(config)
    expected = net.state_dict()
    missing = [k for k in expected if k not in state]
    if missing:
        raise DataError(
            f"Bacformer checkpoint {model!r} lacks {len(missing)} weight(s), e.g. {missing[0]}; "
            "is it a Bacformer base (ESM-2) checkpoint?"
        )
    state = {k: v for k, v in state.items() if k in expected}
    try:
        net.load_state_dict(state, strict=True)
    except RuntimeError as err:
        raise DataError(f"Bacformer checkpoint {model!r} does not match its config.json: {str(err).splitlines()[0]}")
    dev = torch_device(device)
    net = net.to(device=dev, dtype=resolve_dtype(dtype, dev, gpu_default=GPU_DTYPE)).eval()
    net.requires_grad_(False)
    return net, source


# ---------------------------------------------------------------------------------------------------------------
# Genome layout and windows
# ---------------------------------------------------------------------------------------------------------------


#: Contig layouts, named by the id that closes a contig: "cls" = ``protein_embeddings_to_inputs`` (the official
#: embedding helpers), "sep" = ``data_reader.transform_sample`` (the pretraining layout of the 0.2.0 wheel).
CONTIG_SEPARATORS = ("cls", "sep")


def contig_tokens(
    counts: Sequence[int], *, separator: str = "cls", max_contigs: int = 1000, closed: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Token ids and token type ids of ``CLS``, contigs of ``counts`` proteins with their separators, ``END``.

    ``separator="cls"`` follows ``protein_embeddings_to_inputs``: every contig, an empty one too, is closed by the
    CLS id and has the id ``c`` while ``c <= max_contigs``, else ``max_contigs - 1``. ``separator="sep"`` follows
    ``transform_sample``: ids ``min(c, max_contigs - 1)``, a SEP where the id changes and after the last protein,
    empty contigs skipped. ``closed=False`` leaves out the separator of the last contig (a window that ends inside
    it). END has the last contig's id. (A leading empty contig, which the helper cannot take because it reads the
    vector size from the first contig's first protein, is laid out like any other.)
    """
    tokens, types = [CLS], [0]
    contig = 0
    if separator == "cls":
        for index, count in enumerate(counts):
            contig = index if index <= max_contigs else max_contigs - 1
            tokens += [PROT_EMB] * count
            types += [contig] * count
            if closed or index < len(counts) - 1:
                tokens.append(CLS)
                types.append(contig)
    else:
        for index, count in enumerate(counts):
            if count == 0:
                continue
            clamped = min(index, max_contigs - 1)
            if clamped != contig:
                tokens.append(SEP)
                types.append(contig)
            tokens += [PROT_EMB] * count
            types += [clamped] * count
            contig = clamped
        if closed:
            tokens.append(SEP)
            types.append(contig)
    tokens.append(END)
    types.append(contig)
    return np.asarray(tokens, dtype=np.int64), np.asarray(types, dtype=np.int64)


@dataclass(frozen=True)
class GenomeLayout:
    """The contigs of one genome, in order, as one of the official layouts lays them out.

    Attributes:
        sizes: proteins per contig (empty contigs kept for the "cls" layout, which spends a separator on each).
        separator: ``"cls"`` or ``"sep"`` (see :func:`contig_tokens`).
        max_contigs: the checkpoint's ``max_token_type_embeddings``.
    """

    sizes: np.ndarray
    separator: str = "cls"
    max_contigs: int = 1000

    @classmethod
    def from_sizes(cls, sizes: Sequence[int], separator: str = "cls", max_contigs: int = 1000) -> "GenomeLayout":
        if separator not in CONTIG_SEPARATORS:
            raise UsageError(f"contig_separator must be 'cls' or 'sep' (got {separator!r})")
        kept = [int(s) for s in sizes if separator == "cls" or int(s) > 0]
        if any(s < 0 for s in kept):
            raise UsageError("contig sizes must be >= 0")
        return cls(sizes=np.asarray(kept, dtype=np.int64), separator=separator, max_contigs=int(max_contigs))

    def __len__(self) -> int:
        return int(self.sizes.sum())

    @property
    def contig(self) -> np.ndarray:
        """Contig index of each protein."""
        return np.repeat(np.arange(len(self.sizes)), self.sizes)

    @property
    def last(self) -> np.ndarray:
        """True where a protein is the last of its contig."""
        last = np.zeros(len(self), dtype=bool)
        ends = np.cumsum(self.sizes)[self.sizes > 0] - 1
        last[ends] = True
        return last

    def window_tokens(self, start: int, end: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Token ids, token type ids and protein positions of proteins ``[start, end)``, laid out as a genome.

        The window holds the contigs from that of protein ``start`` to that of protein ``end - 1`` (the empty ones
        between them too, and those before the first or after the last protein when the window starts or ends the
        genome), renumbered from 0; its last contig is closed only where it really ends.
        """
        n = len(self)
        contig = self.contig
        bounds = np.concatenate([[0], np.cumsum(self.sizes)])
        first = 0 if start == 0 else int(contig[start])
        last = len(self.sizes) - 1 if end == n else int(contig[end - 1])
        counts = [int(min(bounds[c + 1], end) - max(bounds[c], start)) for c in range(first, last + 1)]
        closed = end == n or bool(self.last[end - 1])
        tokens, types = contig_tokens(counts, separator=self.separator, max_contigs=self.max_contigs, closed=closed)
        return tokens, types, np.nonzero(tokens == PROT_EMB)[0]

    def n_tokens(self, start: int, end: int) -> int:
        """Tokens of the window of proteins ``[start, end)`` (CLS, separators and END included)."""
        return len(self.window_tokens(start, end)[0])

    def token_weights(self) -> tuple[np.ndarray, int]:
        """Per protein, an upper bound of the tokens it brings to a window (itself, its contig's separator and the
        separators of empty contigs after it), and the separators of empty contigs before the first protein."""
        weights = 1 + self.last.astype(np.int64)
        if self.separator == "cls" and len(self):
            empties = np.nonzero(self.sizes == 0)[0]
            owners = np.searchsorted(np.nonzero(self.sizes)[0], empties, side="left") - 1  # previous non-empty contig
            lead = int((owners < 0).sum())
            ends = np.cumsum(self.sizes) - 1
            np.add.at(weights, ends[np.nonzero(self.sizes)[0][owners[owners >= 0]]], 1)
            return weights, lead
        return weights, 0


def plan_windows(layout: GenomeLayout, max_length: int, overlap: float) -> list[tuple[int, int]]:
    """Cover proteins ``[0, n)`` with windows ``[start, end)`` that each fit in ``max_length`` tokens.

    A genome that fits is one window (the official helpers' single pass). Otherwise consecutive windows share about
    ``overlap`` of a window's proteins and the last window is aligned to the genome end so that it is as full as the
    first; windows are sized with :meth:`GenomeLayout.token_weights`, which never under-counts.
    """
    n = len(layout)
    if n == 0:
        return []
    if max_length < 4:
        raise UsageError(f"max_length must be >= 4 tokens (got {max_length})")
    if layout.n_tokens(0, n) <= max_length:
        return [(0, n)]
    weights, lead = layout.token_weights()
    # cost(start, end) = 2 + f[end] - f[start] (+ lead when start == 0); f is strictly increasing.
    f = np.concatenate([[0], np.cumsum(weights)])

    def cost(start: int, end: int) -> int:
        return 2 + int(f[end] - f[start]) + (lead if start == 0 else 0)

    def farthest_end(start: int) -> int:
        budget = max_length - 2 - (lead if start == 0 else 0) + f[start]
        return max(start + 1, int(np.searchsorted(f, budget, side="right") - 1))

    def earliest_start(end: int) -> int:
        start = int(np.searchsorted(f, f[end] + 2 - max_length, side="left"))
        return 1 if start == 0 and cost(0, end) > max_length else start

    windows: list[tuple[int, int]] = []
    start = 0
    while True:
        end = farthest_end(start)
        if end >= n:
            if windows:
                start = max(windows[-1][0] + 1, min(start, earliest_start(n)))
            windows.append((start, n))
            return windows
        windows.append((start, end))
        start += max(1, int(round((end - start) * (1.0 - overlap))))
        if farthest_end(start) <= end:  # heavy separators: start later, so that the next window reaches past this one
            start = max(start, min(earliest_start(end + 1), end))


def assign_windows(windows: Sequence[tuple[int, int]], n: int) -> np.ndarray:
    """For each protein, the index of the window where it is most central (ties: the earlier window).

    Centrality is the distance to the nearer window edge; an edge at a genome end does not count (the protein there
    has all the context that exists on that side).
    """
    best = np.full(n, -1, dtype=np.int64)
    score = np.full(n, -np.inf)
    for w, (start, end) in enumerate(windows):
        idx = np.arange(start, end)
        left = np.where(start == 0, np.inf, idx - start)
        right = np.where(end == n, np.inf, end - 1 - idx)
        s = np.minimum(left, right)
        better = s > score[idx]
        best[idx[better]] = w
        score[idx[better]] = s[better]
    return best


# ---------------------------------------------------------------------------------------------------------------
# Embedder
# ---------------------------------------------------------------------------------------------------------------


class BacformerEmbedder:
    """Contextual protein embeddings from ESM-2 + Bacformer (the ``bacformer`` genome-context view, 480-d).

    Arguments:
        model: Bacformer hub id or local folder (``config.json`` + ``model.safetensors``).
        esm_model: ESM-2 hub id or local folder (``EsmModel`` weights + ``vocab.txt``).
        device: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` (``runtime.resolve_device``).
        dtype: compute dtype of both models; None picks bfloat16 on GPU (float16 where the GPU lacks it), as the
            official README runs Bacformer, and float32 on CPU.
        max_batch_residues: padded residues per ESM-2 batch; a longer protein runs alone.
        max_length: Bacformer tokens per pass (CLS, separators and END included); None uses the official helpers'
            single pass, ``1.5 * max_position_embeddings`` (9,000); a longer genome is windowed.
        window_overlap: fraction of a window shared with the next one when a genome needs several windows.
        esm_pooling: ``"bacformer"`` (mean over all ESM-2 tokens but padding, as ``generate_protein_embeddings``)
            or ``"residues"`` (residue positions only).
        contig_separator: ``"cls"`` (id 2, ``protein_embeddings_to_inputs``, every official embedding path) or
            ``"sep"`` (id 3, ``data_reader.transform_sample``, the pretraining layout); see the module docstring.
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
        max_batch_residues: int = 8000,
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
        max_batch_residues: int = 8000,
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
        max_batch_residues: int,
        window_overlap: float,
        esm_pooling: str,
        contig_separator: str,
    ) -> None:
        if max_batch_residues < 1:
            raise UsageError(f"max_batch_residues must be >= 1 (got {max_batch_residues})")
        if not 0.0 <= window_overlap < 1.0:
            raise UsageError(f"window_overlap must be in [0, 1) (got {window_overlap})")
        if esm_pooling not in ("bacformer", "residues"):
            raise UsageError(f"esm_pooling must be 'bacformer' or 'residues' (got {esm_pooling!r})")
        if contig_separator not in CONTIG_SEPARATORS:
            raise UsageError(f"contig_separator must be 'cls' or 'sep' (got {contig_separator!r})")
        self.device = torch_device(device)
        self.dtype = resolve_dtype(dtype, self.device, gpu_default=GPU_DTYPE)
        self.max_batch_residues = int(max_batch_residues)
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

    def embed(self, contigs: Sequence[Sequence[str]], progress: Progress | None = None) -> np.ndarray:
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

    def embed_proteins(self, proteins: Sequence[str], progress: Progress | None = None) -> np.ndarray:
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
