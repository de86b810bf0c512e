"""Write the golden data of tests/test_views_foundation.py: tiny models built with the official code and the vectors
that the official embedding functions give for fixed inputs.

Run once, in a virtual environment of its own (never the project's: ``bacformer==0.2.0`` cannot build a model under
transformers 5, and it must never become a dependency of microfuse)::

    python3 -m venv /tmp/bacformer-venv
    /tmp/bacformer-venv/bin/pip install torch==2.13.0 'transformers<5' datasets pandas torchmetrics \\
        dataclasses-json accelerate einops biopython sentencepiece protobuf
    /tmp/bacformer-venv/bin/pip install --no-deps bacformer==0.2.0
    /tmp/bacformer-venv/bin/python benchmarks/bacformer_reference.py -o tests/data/foundation_reference

(``--no-deps``: bacformer 0.2.0 also pulls scanpy, igraph and leidenalg, which its embedding code never imports.)
The data written with bacformer 0.2.0, transformers 4.57.6 and torch 2.13.0 is committed; rerun only to change it.

``--check``, in the project's environment (no bacformer needed), prints how far microfuse's default vectors are from
the official ones, per case (the table in benchmarks/RESULTS.md)::

    python benchmarks/bacformer_reference.py --check

What it writes (random weights: ours; proteins: E. coli K-12 MG1655, NCBI RefSeq, public):

``bacformer/``  ``BacformerForMaskedGM`` (hidden 32, 2 layers, ``max_position_embeddings`` 40 so that the one-pass
                limit of 1.5 x 40 = 60 tokens stands in for 9,000; ``max_token_type_embeddings`` 8 so that a genome of
                11 contigs stands in for one of 1,001+), saved with ``save_pretrained``.
``esm2/``       ``EsmForMaskedLM`` (hidden 32, rotary, token dropout, the 33-token ESM alphabet), as the hub's are.
``prostt5/``    ``T5ForConditionalGeneration`` (d_model 16) with a SentencePiece model of ProstT5's vocabulary and
                ``<fold2AA>``/``<AA2fold>``, saved with the slow ``T5Tokenizer`` the model card uses.
``ecoli_proteins.faa``  the real proteins of the E. coli cases.
``cases.json``  one entry per case: how the official vectors were made (function, contig sizes, limits).
``vectors.safetensors``  ``<case>/inputs`` (Bacformer's input vectors) and ``<case>/expected`` (one row per protein,
                in input order), float32.

Cases (official function in brackets):

- ``one_contig``, ``several_contigs``, ``long_genome`` (41-60 tokens: past ``max_position_embeddings``, inside the
  one-pass limit), ``many_contigs`` (11 contigs, limit 8): ``compute_bacformer_embeddings`` (the path of
  ``protein_seqs_to_bacformer_emb`` and ``embed_dataset_col``; contigs closed by the CLS id).
- ``empty_contigs``: ``protein_embeddings_to_inputs`` + ``BacformerModel`` (``compute_bacformer_embeddings`` itself
  fails on an empty contig: pandas' ``explode`` turns it into a row without a protein).
- ``sep_several_contigs``, ``sep_many_contigs``: ``data_reader.transform_sample`` (the pretraining layout, SEP id).
- ``ecoli``: 30 real proteins in 3 contigs, one of them longer than ESM-2's 1,024 tokens, through
  ``compute_genome_protein_embeddings`` (ESM-2 mean over the attention mask) then ``compute_bacformer_embeddings``;
  ``ecoli_esm/expected`` holds the ESM-2 vectors.
- ``prostt5``: the ProstT5 model card's recipe (``T5Tokenizer`` + ``T5EncoderModel``, rare residues to X, spaces,
  ``<AA2fold>`` prefix, mean over the residue positions), float32 as on CPU.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
from pathlib import Path

import numpy as np
import torch

HIDDEN = 32
MAX_POSITIONS = 40
MAX_CONTIGS = 8
ONE_PASS = int(MAX_POSITIONS * 1.5)
ESM_VOCAB = ["<cls>", "<pad>", "<eos>", "<unk>", *"LAGVSERTIDPKQNFYMHWCXBUZO", ".", "-", "<null_1>", "<mask>"]
PROSTT5_AMINO_ACIDS = list("ALGVSREDTIPKFQNYMHWCXBOUZ")
PROSTT5_3DI = list("acdefghiklmnpqrstvwy")
ROOT = Path(__file__).resolve().parents[1]


def ecoli_proteins(shared: Path, n: int) -> list[tuple[str, str]]:
    """(locus tag, protein) of the first ``n`` complete CDS of E. coli K-12 MG1655, and of its first protein whose
    ESM-2 tokens exceed 1,024 (so that the case exercises the cut), translated with Biopython."""
    from Bio import SeqIO
    from Bio.Seq import Seq

    folder = shared / "ecoli_k12_mg1655"
    with gzip.open(folder / "GCF_000005845.2_ASM584v2_genomic.fna.gz", "rt") as handle:
        genome = str(next(SeqIO.parse(handle, "fasta")).seq)
    first, long_one = [], None
    with gzip.open(folder / "GCF_000005845.2_ASM584v2_genomic.gff.gz", "rt") as handle:
        for line in handle:
            cols = line.rstrip("\n").split("\t")
            if line.startswith("#") or len(cols) < 9 or cols[2] != "CDS" or "pseudo=true" in cols[8]:
                continue
            dna = Seq(genome[int(cols[3]) - 1 : int(cols[4])])
            protein = str((dna.reverse_complement() if cols[6] == "-" else dna).translate(table=11)).rstrip("*")
            if "*" in protein or not protein:
                continue
            tag = dict(kv.split("=", 1) for kv in cols[8].split(";") if "=" in kv).get("locus_tag", "?")
            if len(first) < n:
                first.append((tag, protein))
            elif len(protein) > 1022:
                long_one = (tag, protein)
                break
    return first + [long_one]


def tiny_bacformer(folder: Path):
    from bacformer.modeling import BacformerConfig, BacformerForMaskedGM, BacformerModel

    config = BacformerConfig(hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4, intermediate_size=64,
                             max_position_embeddings=MAX_POSITIONS, max_token_type_embeddings=MAX_CONTIGS,
                             protein_clusters_vocab_size=10)
    torch.manual_seed(0)
    model = BacformerForMaskedGM(config).eval()
    with torch.no_grad():  # std 0.2 instead of 0.02, so that layouts differ clearly; padding rows stay zero
        for module in model.modules():
            if isinstance(module, (torch.nn.Linear, torch.nn.Embedding)):
                module.weight.normal_(0.0, 0.2)
                if getattr(module, "padding_idx", None) is not None:
                    module.weight[module.padding_idx].zero_()
    model.save_pretrained(folder, safe_serialization=True)
    loaded, info = BacformerModel.from_pretrained(folder, output_loading_info=True)  # as AutoModel loads it
    assert not info["missing_keys"], info
    return loaded.float().eval()


def tiny_esm2(folder: Path):
    from transformers import AutoModel, AutoTokenizer, EsmConfig, EsmForMaskedLM, EsmTokenizer

    folder.mkdir(parents=True, exist_ok=True)
    (folder / "vocab.txt").write_text("\n".join(ESM_VOCAB) + "\n")
    EsmTokenizer(str(folder / "vocab.txt")).save_pretrained(folder)
    config = EsmConfig(vocab_size=len(ESM_VOCAB), hidden_size=HIDDEN, num_hidden_layers=2, num_attention_heads=4,
                       intermediate_size=64, max_position_embeddings=1026, position_embedding_type="rotary",
                       token_dropout=True, emb_layer_norm_before=False, mask_token_id=ESM_VOCAB.index("<mask>"),
                       pad_token_id=ESM_VOCAB.index("<pad>"))
    torch.manual_seed(1)
    EsmForMaskedLM(config).eval().save_pretrained(folder, safe_serialization=True)
    return AutoModel.from_pretrained(folder).eval(), AutoTokenizer.from_pretrained(folder)  # as load_plm does


def prostt5_spiece(path: Path) -> None:
    """A SentencePiece unigram model with ProstT5's pieces: <pad> </s> <unk>, the amino acids, the 3Di states."""
    from sentencepiece import SentencePieceProcessor
    from sentencepiece import sentencepiece_model_pb2 as pb

    model = pb.ModelProto()
    model.trainer_spec.model_type = pb.TrainerSpec.UNIGRAM
    model.trainer_spec.vocab_size = 3 + len(PROSTT5_AMINO_ACIDS) + len(PROSTT5_3DI)
    model.trainer_spec.pad_id, model.trainer_spec.eos_id, model.trainer_spec.unk_id = 0, 1, 2
    model.trainer_spec.bos_id = -1
    model.normalizer_spec.name = "identity"
    model.normalizer_spec.add_dummy_prefix = True
    model.normalizer_spec.remove_extra_whitespaces = True
    model.normalizer_spec.escape_whitespaces = True
    for piece, kind in (("<pad>", pb.ModelProto.SentencePiece.CONTROL), ("</s>", pb.ModelProto.SentencePiece.CONTROL),
                        ("<unk>", pb.ModelProto.SentencePiece.UNKNOWN)):
        entry = model.pieces.add()
        entry.piece, entry.score, entry.type = piece, 0.0, kind
    for letter in PROSTT5_AMINO_ACIDS + PROSTT5_3DI:
        entry = model.pieces.add()
        entry.piece, entry.score, entry.type = "\u2581" + letter, -1.0, pb.ModelProto.SentencePiece.NORMAL
    path.write_bytes(model.SerializeToString())
    assert SentencePieceProcessor(model_file=str(path)).encode("M K", out_type=str) == ["\u2581M", "\u2581K"]


def tiny_prostt5(folder: Path):
    from transformers import T5Config, T5EncoderModel, T5ForConditionalGeneration, T5Tokenizer

    folder.mkdir(parents=True, exist_ok=True)
    prostt5_spiece(folder / "spiece.model")
    tokenizer = T5Tokenizer(str(folder / "spiece.model"), extra_ids=100, legacy=True)
    tokenizer.add_special_tokens({"additional_special_tokens": ["<fold2AA>", "<AA2fold>"]})
    assert tokenizer.convert_tokens_to_ids("<AA2fold>") == 149 and len(tokenizer) == 150
    tokenizer.save_pretrained(folder)
    config = T5Config(vocab_size=150, d_model=16, d_kv=4, d_ff=32, num_layers=2, num_decoder_layers=1, num_heads=4,
                      feed_forward_proj="relu", decoder_start_token_id=0)
    torch.manual_seed(2)
    T5ForConditionalGeneration(config).eval().save_pretrained(folder, safe_serialization=True)
    # The model card: T5Tokenizer.from_pretrained(..., do_lower_case=False), T5EncoderModel.from_pretrained(...).
    model = T5EncoderModel.from_pretrained(folder).float().eval()
    return model, T5Tokenizer.from_pretrained(folder, do_lower_case=False)


def prostt5_card_vectors(model, tokenizer, sequences: list[str]) -> np.ndarray:
    """The model card's per-protein embedding, for amino-acid input (upper case)."""
    lengths = [len(s) for s in sequences]
    spaced = [" ".join(list(re.sub(r"[UZOB]", "X", s))) for s in sequences]
    spaced = ["<AA2fold>" + " " + s if s.isupper() else "<fold2AA>" + " " + s for s in spaced]
    ids = tokenizer.batch_encode_plus(spaced, add_special_tokens=True, padding="longest", return_tensors="pt")
    with torch.no_grad():
        hidden = model(ids.input_ids, attention_mask=ids.attention_mask).last_hidden_state
    return np.stack([hidden[i, 1 : n + 1].mean(dim=0).numpy() for i, n in enumerate(lengths)])


def flatten(per_contig) -> np.ndarray:
    return np.stack([v for contig in per_contig for v in contig]).astype(np.float32)


def split(vectors: np.ndarray, sizes: list[int]) -> list[list[np.ndarray]]:
    bounds = np.cumsum([0, *sizes])
    return [list(vectors[a:b]) for a, b in zip(bounds[:-1], bounds[1:])]


def helper_case(model, vectors, sizes, **limits) -> np.ndarray:
    from bacformer.pp.embed_prot_seqs import compute_bacformer_embeddings

    out = compute_bacformer_embeddings(model, split(vectors, sizes), max_n_proteins=ONE_PASS, **limits)
    return flatten(out)


def helper_inputs_case(model, vectors, sizes) -> np.ndarray:
    """protein_embeddings_to_inputs + the model, keeping the protein positions (what compute_bacformer_embeddings
    does, for layouts it cannot finish itself)."""
    from bacformer.pp.embed_prot_seqs import protein_embeddings_to_inputs

    inputs = protein_embeddings_to_inputs(split(vectors, sizes), max_n_proteins=ONE_PASS, max_n_contigs=MAX_CONTIGS)
    with torch.no_grad():
        hidden = model(**inputs, return_dict=True).last_hidden_state
    return hidden[inputs["special_tokens_mask"] == 4].numpy()


def pretraining_case(model, vectors, sizes) -> np.ndarray:
    from bacformer.modeling.config import SPECIAL_TOKENS_DICT
    from bacformer.modeling.data_reader import transform_sample

    sample = {"protein_embeddings": list(vectors), "contig_idx": np.repeat(np.arange(len(sizes)), sizes).tolist()}
    out = transform_sample(0.0, SPECIAL_TOKENS_DICT, ONE_PASS, MAX_CONTIGS, sample=sample)
    inputs = {
        "protein_embeddings": torch.tensor(np.stack(out["prot_embeddings"]))[None],
        "special_tokens_mask": torch.tensor(out["special_tokens_mask"])[None],
        "token_type_ids": torch.tensor(out["token_type_ids"])[None],
        "attention_mask": torch.tensor(out["attention_mask"])[None],
    }
    with torch.no_grad():
        hidden = model(**inputs, return_dict=True).last_hidden_state
    return hidden[inputs["special_tokens_mask"] == 4].numpy()


def check(root: Path) -> None:
    """Max |diff| and min cosine of microfuse (defaults; the "sep" cases with contig_separator="sep") against the
    official vectors written in ``root``."""
    from Bio import SeqIO
    from safetensors.numpy import load_file

    from microfuse_cli.views.bacformer import BacformerEmbedder
    from microfuse_cli.views.prostt5 import ProstT5Embedder

    meta = json.loads((root / "cases.json").read_text())
    vectors = load_file(str(root / "vectors.safetensors"))
    models = {"esm_model": str(root / "esm2")}
    default = BacformerEmbedder(str(root / "bacformer"), **models)
    pretraining = BacformerEmbedder(str(root / "bacformer"), contig_separator="sep", **models)
    proteins = [str(r.seq) for r in SeqIO.parse(root / "ecoli_proteins.faa", "fasta")]
    bounds = np.cumsum([0, *meta["cases"]["ecoli"]["contig_sizes"]])
    got = {
        "ecoli_esm": default.embed_proteins(proteins),
        "ecoli": default.embed([proteins[a:b] for a, b in zip(bounds[:-1], bounds[1:])]),
        "prostt5": ProstT5Embedder(str(root / "prostt5")).embed(meta["cases"]["prostt5"]["proteins"]),
    }
    print(f"| case | official function | max abs diff | min cosine |\n|---|---|---|---|")
    for name, case in meta["cases"].items():
        if name not in got:
            embedder = pretraining if case["layout"] == "sep" else default
            got[name] = embedder.contextualise(vectors[f"{name}/inputs"], case["contig_sizes"])
        want = vectors[f"{name}/expected"]
        cosine = (got[name] * want).sum(1) / np.linalg.norm(got[name], axis=1) / np.linalg.norm(want, axis=1)
        print(f"| {name} | {case['official']} | {np.abs(got[name] - want).max():.1e} | {cosine.min():.4f} |")
    for dtype in ("float16", "bfloat16"):  # the half precisions on GPU, here run on the CPU
        half = ProstT5Embedder(str(root / "prostt5"), dtype=dtype).embed(meta["cases"]["prostt5"]["proteins"])
        print(f"| prostt5, {dtype} on CPU | the card's recipe in {dtype} | "
              f"{np.abs(half - vectors['prostt5/expected']).max():.1e} | |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=ROOT / "tests" / "data" / "foundation_reference")
    parser.add_argument("--shared", type=Path,
                        default=Path(os.environ.get("MICROFUSE_SHARED_DATA", ROOT.parent / "shared" / "data")))
    parser.add_argument("--check", action="store_true", help="compare microfuse with the data in --output")
    args = parser.parse_args()
    if args.check:
        check(args.output)
        return
    import bacformer  # noqa: F401  (fail early outside the reference venv)
    import transformers
    from bacformer.pp.embed_prot_seqs import compute_bacformer_embeddings, compute_genome_protein_embeddings
    from importlib.metadata import version

    out = args.output
    out.mkdir(parents=True, exist_ok=True)
    bacformer_model = tiny_bacformer(out / "bacformer")
    esm, esm_tokenizer = tiny_esm2(out / "esm2")
    t5, t5_tokenizer = tiny_prostt5(out / "prostt5")

    rng = np.random.default_rng(0)
    tensors: dict[str, np.ndarray] = {}
    cases: dict[str, dict] = {}

    def record(name: str, vectors, expected, sizes, layout: str, function: str) -> None:
        if vectors is not None:
            tensors[f"{name}/inputs"] = np.ascontiguousarray(vectors, dtype=np.float32)
        tensors[f"{name}/expected"] = np.ascontiguousarray(expected, dtype=np.float32)
        cases[name] = {"contig_sizes": sizes, "layout": layout, "official": function}

    for name, sizes in (("one_contig", [12]), ("several_contigs", [5, 1, 7, 3]), ("long_genome", [30, 24]),
                        ("many_contigs", [2, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1])):
        vectors = rng.standard_normal((sum(sizes), HIDDEN)).astype(np.float32)
        record(name, vectors, helper_case(bacformer_model, vectors, sizes, max_n_contigs=MAX_CONTIGS), sizes, "cls",
               "bacformer.pp.embed_prot_seqs.compute_bacformer_embeddings")
    sizes = [3, 0, 2, 0, 1]
    vectors = rng.standard_normal((sum(sizes), HIDDEN)).astype(np.float32)
    record("empty_contigs", vectors, helper_inputs_case(bacformer_model, vectors, sizes), sizes, "cls",
           "bacformer.pp.embed_prot_seqs.protein_embeddings_to_inputs")
    for name, sizes in (("sep_several_contigs", [5, 1, 7, 3]), ("sep_many_contigs", [2, 1, 1, 1, 1, 1, 1, 1, 1, 2, 1])):
        vectors = rng.standard_normal((sum(sizes), HIDDEN)).astype(np.float32)
        record(name, vectors, pretraining_case(bacformer_model, vectors, sizes), sizes, "sep",
               "bacformer.modeling.data_reader.transform_sample")

    proteins = ecoli_proteins(args.shared, 29)
    with open(out / "ecoli_proteins.faa", "w") as handle:
        handle.writelines(f">{tag}\n{seq}\n" for tag, seq in proteins)
    sequences = [seq for _, seq in proteins]
    sizes = [14, 9, 7]
    nested = [sequences[a:b] for a, b in zip(np.cumsum([0, *sizes])[:-1], np.cumsum(sizes))]
    esm_vectors = compute_genome_protein_embeddings(esm, esm_tokenizer, nested, model_type="esm2", batch_size=8,
                                                    max_prot_seq_len=1024)
    contextual = compute_bacformer_embeddings(bacformer_model, esm_vectors, max_n_proteins=ONE_PASS,
                                              max_n_contigs=MAX_CONTIGS)
    record("ecoli_esm", None, flatten(esm_vectors), sizes, "-",
           "bacformer.pp.embed_prot_seqs.compute_genome_protein_embeddings")
    record("ecoli", None, flatten(contextual), sizes, "cls",
           "compute_genome_protein_embeddings + compute_bacformer_embeddings")

    card_inputs = sequences[:8] + [sequences[8][:40] + "UZOB" + sequences[8][40:80]]
    record("prostt5", None, prostt5_card_vectors(t5, t5_tokenizer, card_inputs), [len(card_inputs)], "-",
           "ProstT5 model card (T5Tokenizer + T5EncoderModel, mean over residues)")
    cases["prostt5"]["proteins"] = card_inputs

    from safetensors.numpy import save_file

    save_file(tensors, str(out / "vectors.safetensors"))
    meta = {"bacformer": version("bacformer"), "transformers": transformers.__version__, "torch": torch.__version__,
            "one_pass_tokens": ONE_PASS, "max_contigs": MAX_CONTIGS, "cases": cases}
    (out / "cases.json").write_text(json.dumps(meta, indent=1) + "\n")
    print(f"wrote {len(cases)} cases to {out}")


if __name__ == "__main__":
    main()
