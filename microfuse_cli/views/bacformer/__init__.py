"""Genome-context view: Bacformer contextual protein embeddings (480-d per protein).

Two frozen models run in turn:

1. ESM-2 (``facebook/esm2_t12_35M_UR50D``, :class:`transformers.EsmModel`) embeds every protein; a protein's vector
   is the mean of the last hidden state (see *ESM-2 pooling* in :mod:`.embedder`).
2. Bacformer, a transformer whose tokens are the proteins of one genome in genome order, turns those 480-d vectors
   into contextual 480-d vectors.

Bacformer is re-implemented in :mod:`.model` (:class:`BacformerConfig`, :class:`BacformerModel`) so that the
published checkpoint loads without ``trust_remote_code``. What follows was read from the ``bacformer`` package,
version 0.2.0 (PyPI), files ``modeling/config.py``, ``modeling/modeling_base.py``,
``modeling/modeling_pretraining.py``, ``modeling/data_reader.py`` and ``pp/embed_prot_seqs.py``. The modelling files are the same on GitHub
(macwiatrak/Bacformer, commit 55934e3, 2025-07-21); ``data_reader.py`` is not (there it reads inputs laid out
beforehand), and there ``protein_embeddings_to_inputs`` has the same layout with a 6,000-token default. It is a
reading of that code, re-written, not a copy.

Proven against the official code: ``tests/test_views_foundation.py`` loads a tiny ``BacformerForMaskedGM`` and a
tiny ESM-2 saved by the official code and asserts that microfuse gives the vectors of the official functions for one
contig, several contigs, a genome past ``max_position_embeddings``, more contigs than the limit, empty contigs, the
pretraining layout and 30 real E. coli proteins (max |diff| < 1e-5 in float32). ``benchmarks/bacformer_reference.py``
wrote that data with ``bacformer==0.2.0`` in a virtual environment of its own.

Modules: :mod:`.model` (the configuration, the ``nn.Module`` classes and the checkpoint loader), :mod:`.layout`
(the official input layouts and the windows of a long genome), :mod:`.embedder` (ESM-2 then Bacformer over one
genome: :class:`BacformerEmbedder`). Loading, batching and the compute dtype are shared with ProstT5
(``views/hf.py``).

Not verified (no network here): the hub checkpoints' own ``config.json`` and key names (our loader reports any
missing key by name) and whether the hub's custom modelling code differs from the 0.2.0 package. The default
checkpoint is ``macwiatrak/bacformer-masked-complete-genomes`` (the design card's choice);
``macwiatrak/bacformer-masked-MAG`` (trained on metagenome-assembled genomes) loads the same way and may suit
fragmented assemblies better.
"""

from __future__ import annotations

from .embedder import ESM2_MODEL, ESM_MAX_TOKENS, BacformerEmbedder
from .layout import (
    CLS,
    CONTIG_SEPARATORS,
    END,
    MASK,
    PAD,
    PROT_EMB,
    SEP,
    GenomeLayout,
    assign_windows,
    contig_tokens,
    plan_windows,
)
from .model import BACFORMER_MODEL, GPU_DTYPE, BacformerConfig, BacformerModel, load_bacformer

__all__ = [
    "BACFORMER_MODEL", "ESM2_MODEL", "ESM_MAX_TOKENS", "GPU_DTYPE", "PAD", "MASK", "CLS", "SEP", "PROT_EMB", "END",
    "CONTIG_SEPARATORS", "BacformerConfig", "BacformerModel", "BacformerEmbedder", "GenomeLayout", "load_bacformer",
    "contig_tokens", "plan_windows", "assign_windows",
]
