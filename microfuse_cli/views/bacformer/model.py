"""Bacformer re-implemented (configuration, ``nn.Module`` classes, checkpoint loader) so that the published
checkpoint loads without ``trust_remote_code``; the package's modelling files it follows are named in
:mod:`microfuse_cli.views.bacformer`.

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
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ...errors import DataError
from ...runtime import torch_device
from ..foundation import BACFORMER
from ..hf import (
    ModelSource, cached_revision, hub_offline, missing_model_message, require_reachable_hub, resolve_dtype,
    resolve_local_model,
)
from .layout import END, MASK, PAD, PROT_EMB

BACFORMER_MODEL = BACFORMER.default
#: Precision on GPU when none is given: the official README's ``.to(torch.bfloat16)``.
GPU_DTYPE = "bfloat16"


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
        """Write ``config.json`` + ``model.safetensors`` in the published layout (``bacformer.`` prefix) into
        ``folder`` (made, with its parents, where missing; other files in it are left alone, as Hugging Face's
        ``save_pretrained`` leaves a tokenizer's). The two files are replaced as one set (``outputs.write_outputs``,
        as every command writes its files): each through a temp file renamed into place once both are on disk, so a
        failure (a full disk, Ctrl-C) leaves the previous checkpoint whole, never a new config beside old or
        half-written weights; a folder it made is removed again. The tensors are streamed to the weights' temp file
        (safetensors.torch.save_file: the bytes ``save`` returns), never serialised in memory first, which held the
        model twice at its peak. save_file writes a temp file of its own (``.tmpXXXXXX``) beside the name it is given
        and renames it onto that name: it is given one in a private temp folder (``_save_file``), so a kill (SIGKILL,
        the OOM killer) mid-write leaves it inside a folder the leftover warnings name; a failure or Ctrl-C removes
        both."""
        from ...io.outputs import made_folder, write_outputs

        config = json.dumps(self.config.to_dict(), indent=2, sort_keys=True) + "\n"
        state = {f"bacformer.{k}": v.detach().contiguous().cpu() for k, v in self.state_dict().items()}
        with made_folder(folder) as made:
            write_outputs([(made / "model.safetensors", "path", lambda tmp: _save_file(state, tmp)),
                           (made / "config.json", "w", lambda handle: handle.write(config))])
        return Path(folder)


def _save_file(state: dict[str, torch.Tensor], path: str) -> None:
    """safetensors.torch.save_file of ``state`` to ``path``, through a private temp folder beside it
    (``outputs.private_folder``): save_file writes a temp file of its own (``.tmpXXXXXX``) in the folder of the name
    it is given, then renames it onto that name; a kill mid-write left it, as large as the weights, beside the
    model, where no leftover warning named it. A failed write (a full disk, `ulimit -f`) is raised as the kernel's
    OSError naming ``path`` (io.outputs names the output from it), not safetensors' own error type, which read as an
    internal error: safetensors says the errno only in its message ('... (os error 28)')."""
    import os
    import re

    from safetensors.torch import save_file

    from ...io.outputs import private_folder

    try:
        with private_folder(os.path.dirname(path)) as private:
            inside = os.path.join(private, "weights")
            try:
                save_file(state, inside, metadata={"format": "pt"})
            except Exception as exc:  # SafetensorError
                found = re.search(r"\(os error (\d+)\)|Os \{ code: (\d+)", str(exc))
                if found is None:
                    raise
                number = int(found.group(1) or found.group(2))
                raise OSError(number, os.strerror(number), path) from exc
            os.replace(inside, path)
    except OSError as exc:  # the private folder's own (made, renamed out of): named as the file written
        if exc.filename == path or exc.errno is None:
            raise
        raise OSError(exc.errno, exc.strerror, path) from exc


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
        if not local_only and cached_revision(model, revision=revision) is None:
            require_reachable_hub("Bacformer", model, revision)  # else 5 retries per file: 23 s, 12 log lines
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
    with torch.random.fork_rng(devices=[]):  # the initial weights are overwritten: leave the caller's RNG alone
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
