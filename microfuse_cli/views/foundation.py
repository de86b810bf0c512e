"""The foundation models the views load: default hub ids and the files a local folder needs, torch-free, so that a
command can check that every model it will load is at hand (views.hf.require_model_available) before it reads a
genome or imports torch and transformers: without a network or a cached copy, the one-line error came after both
(5-10 s, more on a big genome)."""

from __future__ import annotations

from dataclasses import dataclass

#: Weight files ``from_pretrained`` reads (one of them: a single file, or the index of a sharded checkpoint).
PRETRAINED_WEIGHTS = ("model.safetensors", "model.safetensors.index.json", "pytorch_model.bin",
                      "pytorch_model.bin.index.json")


@dataclass(frozen=True)
class FoundationModel:
    """One foundation model of a view.

    Attributes:
        what: its name in messages.
        default: the hub id loaded when the user names none.
        files: files a local folder must hold, every one.
        any_of: groups of files a local folder must hold one of each (weights: one file or a shard index;
            a tokenizer that reads either of two files).
    """

    what: str
    default: str
    files: tuple[str, ...]
    any_of: tuple[tuple[str, ...], ...] = (PRETRAINED_WEIGHTS,)


#: The ProstT5 encoder and its tokenizer (``T5Tokenizer``: ``spiece.model``, or with transformers 5 the
#: ``tokenizer.json`` it saves instead).
PROSTT5 = FoundationModel("ProstT5", "Rostlab/ProstT5", ("config.json",),
                          (PRETRAINED_WEIGHTS, ("spiece.model", "tokenizer.json")))
#: ESM-2, Bacformer's protein tokens (``EsmTokenizer`` reads ``vocab.txt``).
ESM2 = FoundationModel("ESM-2", "facebook/esm2_t12_35M_UR50D", ("config.json", "vocab.txt"))
#: Bacformer, read by microfuse's own loader: safetensors only (views/bacformer/model.py).
BACFORMER = FoundationModel("Bacformer", "macwiatrak/bacformer-masked-complete-genomes", ("config.json",),
                            (("model.safetensors", "model.safetensors.index.json"),))

__all__ = ["BACFORMER", "ESM2", "PRETRAINED_WEIGHTS", "PROSTT5", "FoundationModel"]
