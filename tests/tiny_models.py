"""Tiny, randomly initialised models with the real architectures and vocabularies, for tests that must not download.

- :func:`save_tiny_prostt5`: a T5 encoder-decoder (as the ProstT5 checkpoint is) with ProstT5's 150-token vocabulary:
  ``<pad> </s> <unk>``, the 25 amino-acid pieces ``▁A ▁L ...``, the 20 lower-case 3Di pieces, 100 sentinels and the
  ``<fold2AA>`` / ``<AA2fold>`` special tokens. Built from a vocabulary list, so no SentencePiece model is needed.
- :func:`save_tiny_esm2`: an ``EsmForMaskedLM`` (as ``facebook/esm2_*`` are saved) with the real 33-token ESM alphabet.
- :func:`save_tiny_bacformer`: our Bacformer re-implementation saved in the published layout (``bacformer.`` prefix,
  plus a ``gm_head`` the loader must skip).
- :func:`ecoli_proteins`: real E. coli K-12 MG1655 proteins, translated from the shared GFF + FASTA with Biopython.

Each builder writes a folder that the production loaders read as a local model.
"""

from __future__ import annotations

import gzip
from functools import lru_cache
from pathlib import Path

from conftest import ECOLI_FNA as FNA, ECOLI_GFF as GFF  # the shared data, found the one way the tests find it

#: ProstT5 vocabulary order (ids 3..27 amino acids, 28..47 3Di states); ids 148/149 are <fold2AA>/<AA2fold>.
PROSTT5_AMINO_ACIDS = list("ALGVSREDTIPKFQNYMHWCXBOUZ")
PROSTT5_3DI = list("acdefghiklmnpqrstvwy")

#: ESM-2 alphabet (``vocab.txt`` of facebook/esm2_*), in id order.
ESM_VOCAB = ["<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTIDPKQNFYMHWCXBUZO", ".", "-", "<null_1>", "<mask>"]


def prostt5_tokenizer():
    """A T5 tokenizer with ProstT5's vocabulary (150 tokens)."""
    from transformers import T5Tokenizer

    vocab = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0)]
    vocab += [("\u2581" + c, -1.0) for c in PROSTT5_AMINO_ACIDS + PROSTT5_3DI]
    vocab += [(f"<extra_id_{i}>", 0.0) for i in range(99, -1, -1)]
    tokenizer = T5Tokenizer(vocab=vocab, extra_ids=100)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<fold2AA>", "<AA2fold>"]})
    return tokenizer


def save_tiny_prostt5(folder: Path, *, d_model: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """Write a tiny ProstT5-like checkpoint (T5ForConditionalGeneration + tokenizer) to ``folder``."""
    import torch
    from transformers import T5Config, T5ForConditionalGeneration

    tokenizer = prostt5_tokenizer()
    config = T5Config(
        vocab_size=len(tokenizer),
        d_model=d_model,
        d_kv=d_model // 4,
        d_ff=2 * d_model,
        num_layers=layers,
        num_decoder_layers=1,
        num_heads=4,
        feed_forward_proj="relu",
        decoder_start_token_id=0,
    )
    torch.manual_seed(seed)
    model = T5ForConditionalGeneration(config).eval()
    folder = Path(folder)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_tiny_esm2(folder: Path, *, hidden: int = 32, layers: int = 2, seed: int = 0) -> Path:
    """Write a tiny ESM-2 checkpoint (EsmForMaskedLM with rotary positions) and its ``vocab.txt``."""
    import torch
    from transformers import EsmConfig, EsmForMaskedLM, EsmTokenizer

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(ESM_VOCAB) + "\n")
    tokenizer = EsmTokenizer(str(folder / "vocab.txt"))
    config = EsmConfig(
        vocab_size=len(ESM_VOCAB),
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=2 * hidden,
        max_position_embeddings=1026,
        position_embedding_type="rotary",
        token_dropout=True,
        emb_layer_norm_before=False,
        mask_token_id=ESM_VOCAB.index("<mask>"),
        pad_token_id=ESM_VOCAB.index("<pad>"),
    )
    torch.manual_seed(seed)
    EsmForMaskedLM(config).eval().save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return folder


def save_tiny_bacformer(
    folder: Path, *, hidden: int = 32, layers: int = 2, max_position_embeddings: int = 6000, seed: int = 0
) -> Path:
    """Write a tiny Bacformer checkpoint in the published layout, with a (skipped) ``gm_head``."""
    import torch
    from safetensors.torch import load_file, save_file

    from microfuse_cli.views.bacformer import BacformerConfig, BacformerModel

    torch.manual_seed(seed)
    config = BacformerConfig(
        hidden_size=hidden,
        num_hidden_layers=layers,
        num_attention_heads=4,
        intermediate_size=2 * hidden,
        max_position_embeddings=max_position_embeddings,
    )
    model = BacformerModel(config)
    # Random special-token and contig embeddings of the size the real ones have (N(0, 0.02) init in the package).
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
                module.weight.normal_(0.0, 0.2)
    folder = model.save_pretrained(folder)
    state = load_file(str(folder / "model.safetensors"))
    state["gm_head.dense.weight"] = torch.zeros(hidden, hidden)
    state["gm_head.decoder.weight"] = torch.zeros(11, hidden)
    state["gm_head.bias"] = torch.zeros(11)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    return folder


@lru_cache(maxsize=4)
def ecoli_cds(limit: int = 60) -> tuple[tuple[str, int, str], ...]:
    """The first ``limit`` complete CDS of E. coli K-12 MG1655 in genome order: ``(locus_tag, strand, protein)``."""
    from Bio import SeqIO
    from Bio.Seq import Seq

    with gzip.open(FNA, "rt") as handle:
        genome = str(next(SeqIO.parse(handle, "fasta")).seq)
    out: list[tuple[str, int, str]] = []
    with gzip.open(GFF, "rt") as handle:
        for line in handle:
            if line.startswith("#"):
                continue
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 9 or cols[2] != "CDS" or "pseudo=true" in cols[8] or "partial=true" in cols[8]:
                continue
            start, end, strand = int(cols[3]), int(cols[4]), cols[6]
            dna = Seq(genome[start - 1 : end])
            if strand == "-":
                dna = dna.reverse_complement()
            protein = str(dna.translate(table=11)).rstrip("*")
            if "*" in protein or not protein:
                continue
            attrs = dict(kv.split("=", 1) for kv in cols[8].split(";") if "=" in kv)
            out.append((attrs.get("locus_tag", attrs.get("ID", "?")), 1 if strand == "+" else -1, protein))
            if len(out) >= limit:
                break
    return tuple(out)


def ecoli_proteins(limit: int = 60) -> list[str]:
    """Protein sequences of :func:`ecoli_cds`."""
    return [p for _, _, p in ecoli_cds(limit)]
