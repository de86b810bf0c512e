"""Foundation-model views (ProstT5, ESM-2 + Bacformer) on tiny models of the real architectures and real E. coli
proteins. No test touches the network: HF_HUB_OFFLINE=1 and socket connections raise."""

from __future__ import annotations

import socket
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))
import tiny_models  # noqa: E402

from microfuse_cli.errors import DataError, UsageError  # noqa: E402
from microfuse_cli.views import bacformer as bf  # noqa: E402
from microfuse_cli.views.bacformer import BacformerEmbedder  # noqa: E402
from microfuse_cli.views.hf import length_batches  # noqa: E402
from microfuse_cli.views.prostt5 import ProstT5Embedder  # noqa: E402

@pytest.fixture(autouse=True)
def no_network(monkeypatch, tmp_path):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf_home"))  # an empty cache: hub ids cannot resolve

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny_models")
    return {
        "prostt5": tiny_models.save_tiny_prostt5(root / "prostt5"),
        "esm": tiny_models.save_tiny_esm2(root / "esm2"),
        "bacformer": tiny_models.save_tiny_bacformer(root / "bacformer"),
    }


@pytest.fixture(scope="module")
def proteins():
    # 20 consecutive E. coli proteins (thrL, thrA, ...), capped at 200 aa to keep the CPU time small.
    return [p[:200] for p in tiny_models.ecoli_proteins(20)]


@pytest.fixture(scope="module")
def prostt5(models):
    return ProstT5Embedder(str(models["prostt5"]), max_batch_residues=1500)


@pytest.fixture(scope="module")
def bacformer(models):
    return BacformerEmbedder(str(models["bacformer"]), esm_model=str(models["esm"]), max_batch_residues=2000)


def one_line(err: pytest.ExceptionInfo) -> str:
    text = str(err.value)
    assert "\n" not in text
    return text


# ---------------------------------------------------------------------------------------------------------------
# batching helpers
# ---------------------------------------------------------------------------------------------------------------


def test_length_batches_respect_budget_and_cover_everything():
    lengths = [5, 300, 40, 40, 1200, 7, 99, 300, 2]
    batches = length_batches(lengths, 400)
    flat = sorted(i for b in batches for i in b)
    assert flat == list(range(len(lengths)))
    for b in batches:
        longest = max(lengths[i] for i in b)
        assert len(b) == 1 or longest * len(b) <= 400
    assert [4] in batches  # over-long protein alone


# ---------------------------------------------------------------------------------------------------------------
# ProstT5
# ---------------------------------------------------------------------------------------------------------------


def test_prostt5_shape_and_provenance(prostt5, proteins):
    done = []
    x = prostt5.embed(proteins, progress=done.append)
    assert x.shape == (len(proteins), prostt5.dim) and x.dtype == np.float32
    assert np.isfinite(x).all()
    assert sum(done) == len(proteins)
    info = prostt5.describe()
    assert info["dim"] == 32 and info["dtype"] == "float32" and info["device"] == "cpu"
    assert len(info["weights_sha256"]) == 64


def test_prostt5_alone_equals_batched_and_order_kept(prostt5, proteins):
    batched = prostt5.embed(proteins)
    alone = np.stack([prostt5.embed([p])[0] for p in proteins[:4]])
    np.testing.assert_allclose(alone, batched[:4], atol=2e-5)
    reversed_rows = prostt5.embed(proteins[::-1])
    np.testing.assert_allclose(reversed_rows[::-1], batched, atol=2e-5)


def test_prostt5_mean_over_residues_only(prostt5, proteins):
    seq = proteins[0]
    enc = prostt5.tokenizer(["<AA2fold> " + " ".join(seq)], return_tensors="pt")
    tokens = prostt5.tokenizer.convert_ids_to_tokens(enc["input_ids"][0])
    assert tokens[0] == "<AA2fold>" and tokens[-1] == "</s>" and len(tokens) == len(seq) + 2
    with torch.no_grad():
        hidden = prostt5.model(**enc).last_hidden_state[0]
    expected = hidden[1 : len(seq) + 1].mean(0).numpy()
    np.testing.assert_allclose(prostt5.embed([seq])[0], expected, atol=1e-5)


def test_prostt5_residue_cleaning(prostt5):
    a, b = prostt5.embed(["MKUZOBL", "mkxxxxl*"])
    np.testing.assert_allclose(a, b, atol=1e-6)
    with pytest.raises(DataError) as err:
        prostt5.embed(["MK1L"])
    assert "protein 1" in one_line(err)
    with pytest.raises(DataError):
        prostt5.embed([""])


def test_prostt5_oom_batch_is_split_not_skipped(prostt5, proteins, monkeypatch):
    proteins = proteins[:10]
    expected = prostt5.embed(proteins)
    real = prostt5._embed_batch
    sizes = []

    def flaky(seqs):
        sizes.append(len(seqs))
        if len(seqs) > 2:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
        return real(seqs)

    monkeypatch.setattr(prostt5, "_embed_batch", flaky)
    got = prostt5.embed(proteins)
    np.testing.assert_allclose(got, expected, atol=2e-5)
    assert max(sizes) > 2 and any(s <= 2 for s in sizes)

    def always(seqs):
        raise torch.cuda.OutOfMemoryError("CUDA out of memory.")

    monkeypatch.setattr(prostt5, "_embed_batch", always)
    with pytest.raises(DataError) as err:
        prostt5.embed(proteins[:3])
    assert "does not fit in memory" in one_line(err)


def test_prostt5_missing_model_is_one_line_data_error(tmp_path):
    with pytest.raises(DataError) as err:
        ProstT5Embedder("Rostlab/ProstT5")
    text = one_line(err)
    assert "Rostlab/ProstT5" in text and "--local-dir" in text
    with pytest.raises(DataError) as err:
        ProstT5Embedder(str(tmp_path / "nowhere"))
    assert "no such model folder" in one_line(err)


def test_prostt5_bad_options(models):
    with pytest.raises(UsageError):
        ProstT5Embedder(str(models["prostt5"]), device="tpu")
    with pytest.raises(UsageError):
        ProstT5Embedder(str(models["prostt5"]), dtype="int8")
    if not torch.cuda.is_available():
        with pytest.raises(UsageError):
            ProstT5Embedder(str(models["prostt5"]), device="cuda")


# ---------------------------------------------------------------------------------------------------------------
# Bacformer: layout and windows
# ---------------------------------------------------------------------------------------------------------------


def test_bacformer_input_layouts():
    cls_layout = bf.GenomeLayout.from_sizes([3, 0, 2])  # protein_embeddings_to_inputs: the empty contig counts
    tokens, types, positions = cls_layout.window_tokens(0, 5)
    assert tokens.tolist() == [bf.CLS, 4, 4, 4, bf.CLS, bf.CLS, 4, 4, bf.CLS, bf.END]
    assert types.tolist() == [0, 0, 0, 0, 0, 1, 2, 2, 2, 2]
    assert positions.tolist() == [1, 2, 3, 6, 7]
    sep_layout = bf.GenomeLayout.from_sizes([3, 0, 2], "sep")  # transform_sample: no empty contig
    tokens, types, positions = sep_layout.window_tokens(0, 5)
    assert tokens.tolist() == [bf.CLS, 4, 4, 4, bf.SEP, 4, 4, bf.SEP, bf.END]
    assert types.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert sep_layout.n_tokens(0, 5) == len(tokens)
    # a window that ends inside a contig does not close it; the next window renumbers its contigs from 0
    assert cls_layout.window_tokens(0, 2)[0].tolist() == [bf.CLS, 4, 4, bf.END]
    tokens, types, _ = cls_layout.window_tokens(2, 5)
    assert tokens.tolist() == [bf.CLS, 4, bf.CLS, bf.CLS, 4, 4, bf.CLS, bf.END]
    assert types.tolist() == [0, 0, 0, 1, 2, 2, 2, 2]


def test_bacformer_more_contigs_than_the_limit():
    # protein_embeddings_to_inputs: ids pass through up to the limit itself (the padding row), then limit - 1;
    # every contig keeps its separator.
    tokens, types = bf.contig_tokens([1, 1, 1, 1], separator="cls", max_contigs=2)
    assert tokens.tolist() == [bf.CLS, 4, bf.CLS, 4, bf.CLS, 4, bf.CLS, 4, bf.CLS, bf.END]
    assert types.tolist() == [0, 0, 0, 1, 1, 2, 2, 1, 1, 1]
    # transform_sample: ids min(c, limit - 1), contigs past the limit run together without separators
    tokens, types = bf.contig_tokens([1, 1, 1, 1], separator="sep", max_contigs=2)
    assert tokens.tolist() == [bf.CLS, 4, bf.SEP, 4, 4, 4, bf.SEP, bf.END]
    assert types.tolist() == [0, 0, 0, 1, 1, 1, 1, 1]


@pytest.mark.parametrize("sizes", [[40], [1] * 25, [7, 1, 5, 30, 2], [3, 9, 1, 1, 14], [0, 4, 0, 0, 9, 2, 0]])
@pytest.mark.parametrize("max_length", [6, 11, 23])
@pytest.mark.parametrize("separator", ["cls", "sep"])
def test_plan_windows_fit_cover_and_overlap(sizes, max_length, separator):
    layout = bf.GenomeLayout.from_sizes(sizes, separator, max_contigs=3)
    n = len(layout)
    windows = bf.plan_windows(layout, max_length, 0.25)
    assert windows[0][0] == 0 and windows[-1][1] == n
    for (s0, e0), (s1, e1) in zip(windows, windows[1:]):
        assert s0 < s1 <= e0 and e0 < e1  # progress, no gap
    assert all(layout.n_tokens(s, e) <= max_length for s, e in windows)
    owner = bf.assign_windows(windows, n)
    assert (owner >= 0).all()
    for i, w in enumerate(owner):
        s, e = windows[w]
        assert s <= i < e


def test_whole_genome_is_one_window():
    layout = bf.GenomeLayout.from_sizes([10, 5])
    assert bf.plan_windows(layout, 19, 0.25) == [(0, 15)]  # 15 proteins + 2 separators + CLS + END
    assert len(bf.plan_windows(layout, 18, 0.25)) > 1
    # exactly: contigs past the limit share separators in the pretraining layout
    merged = bf.GenomeLayout.from_sizes([1] * 10, "sep", max_contigs=2)
    assert merged.n_tokens(0, 10) == 14 and bf.plan_windows(merged, 14, 0.25) == [(0, 10)]


# ---------------------------------------------------------------------------------------------------------------
# Bacformer: embedding
# ---------------------------------------------------------------------------------------------------------------


def test_bacformer_shape_order_and_provenance(bacformer, proteins):
    contigs = [proteins[:12], proteins[12:]]
    done = []
    x = bacformer.embed(contigs, progress=done.append)
    assert x.shape == (len(proteins), bacformer.dim) and x.dtype == np.float32
    assert np.isfinite(x).all() and sum(done) == len(proteins)
    info = bacformer.describe()
    assert info["name"] == "bacformer" and info["contig_separator"] == "cls"
    assert len(info["weights_sha256"]) == 64 and len(info["esm"]["weights_sha256"]) == 64


def test_esm_alone_equals_batched_and_pooling(bacformer, proteins):
    batched = bacformer.embed_proteins(proteins)
    alone = np.stack([bacformer.embed_proteins([p])[0] for p in proteins[:5]])
    np.testing.assert_allclose(alone, batched[:5], atol=2e-5)
    # reference pooling: mean over every non-padding token, <cls> and <eos> included
    enc = bacformer.esm_tokenizer([proteins[0]], return_tensors="pt")
    assert enc["input_ids"].shape[1] == len(proteins[0]) + 2
    with torch.no_grad():
        hidden = bacformer.esm(**enc).last_hidden_state[0]
    np.testing.assert_allclose(batched[0], hidden.mean(0).numpy(), atol=1e-5)


def test_esm_residue_pooling_option(models, proteins):
    emb = BacformerEmbedder(str(models["bacformer"]), esm_model=str(models["esm"]), esm_pooling="residues")
    enc = emb.esm_tokenizer([proteins[1]], return_tensors="pt")
    with torch.no_grad():
        hidden = emb.esm(**enc).last_hidden_state[0]
    np.testing.assert_allclose(emb.embed_proteins([proteins[1]])[0], hidden[1:-1].mean(0).numpy(), atol=1e-5)


def test_bacformer_windows_stitch_from_the_right_window(models, bacformer, proteins):
    contigs = [proteins[:9], proteins[9:10], proteins[10:]]
    sizes = [len(c) for c in contigs]
    vectors = bacformer.embed_proteins(proteins)
    small = BacformerEmbedder(str(models["bacformer"]), esm_model=str(models["esm"]), max_length=10)
    got = small.contextualise(vectors, sizes)
    assert got.shape == (len(proteins), small.dim)  # nothing truncated

    layout = bf.GenomeLayout.from_sizes(sizes, max_contigs=small.config.max_token_type_embeddings)
    windows = bf.plan_windows(layout, 10, small.window_overlap)
    assert len(windows) > 2
    owner = bf.assign_windows(windows, len(layout))
    for w, (s, e) in enumerate(windows):
        tokens, types, positions = layout.window_tokens(s, e)
        assert len(tokens) <= 10
        x = np.zeros((len(tokens), vectors.shape[1]), np.float32)
        x[positions] = vectors[s:e]
        with torch.no_grad():
            out = small.bacformer(torch.from_numpy(x)[None], torch.from_numpy(tokens)[None], torch.from_numpy(types)[None])
        rows = out[0, positions].numpy()
        mine = owner[s:e] == w
        np.testing.assert_allclose(got[s:e][mine], rows[mine], atol=1e-5)

    # A window that holds the whole genome gives the same answer as the default (one pass).
    whole = bacformer.contextualise(vectors, sizes)
    fits = BacformerEmbedder(str(models["bacformer"]), esm_model=str(models["esm"]), max_length=len(proteins) + 5)
    np.testing.assert_allclose(fits.contextualise(vectors, sizes), whole, atol=1e-5)


def test_bacformer_checkpoint_without_prefix_loads(tmp_path, models, bacformer):
    from safetensors.torch import load_file, save_file

    folder = tmp_path / "bare"
    folder.mkdir()
    (folder / "config.json").write_text((models["bacformer"] / "config.json").read_text())
    state = load_file(str(models["bacformer"] / "model.safetensors"))
    save_file({k.removeprefix("bacformer."): v for k, v in state.items() if k.startswith("bacformer.")},
              str(folder / "model.safetensors"))
    net, _ = bf.load_bacformer(str(folder))
    for (k, a), b in zip(net.state_dict().items(), bacformer.bacformer.state_dict().values()):
        assert torch.equal(a, b), k


def test_bacformer_save_pretrained_replaces_both_files_or_neither(tmp_path):
    """save_pretrained wrote config.json, then model.safetensors straight into the folder: a write that failed
    (a full disk; `ulimit -f` stands in for it) left the new config beside the old weights, truncated, and raised
    safetensors' own error. Now the two are written as every command writes its files: the previous checkpoint
    stays whole, no temp file is left, one error names the file, and a folder it made is removed again."""
    import resource

    folder = tiny_models.save_tiny_bacformer(tmp_path / "bacformer")
    (folder / "tokenizer.json").write_text("{}")  # another file of the folder: left alone
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        model = bf.BacformerModel(bf.BacformerConfig(hidden_size=48, num_hidden_layers=1, num_attention_heads=4,
                                                     intermediate_size=96, max_position_embeddings=64))
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (4096, hard))  # the config fits, the weights do not
    try:
        with pytest.raises(DataError, match="^cannot write .*/model.safetensors: File too large$"):
            model.save_pretrained(folder)
        with pytest.raises(DataError, match="model.safetensors: File too large"):
            model.save_pretrained(tmp_path / "new" / "bacformer")
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bacformer"]
    assert model.save_pretrained(folder) == folder  # written whole: loads as the model it was
    assert (folder / "tokenizer.json").read_text() == "{}"
    net, _ = bf.load_bacformer(str(folder))
    assert net.config == model.config
    for (name, a), b in zip(net.state_dict().items(), model.state_dict().values()):
        assert torch.equal(a, b), name


def test_bacformer_save_pretrained_streams_the_weights_the_same_bytes(tmp_path):
    """save_pretrained serialised every tensor into one bytes object, then wrote it: the model's size held twice at
    the peak (a Bacformer checkpoint is ~1 GB). The tensors are streamed into the temp file now (safetensors'
    save_file), which is renamed into place as before: the Python objects it allocates stay far below the weights'
    size, and the file holds the bytes the in-memory serialiser gave, its permissions kept."""
    import tracemalloc

    from safetensors.torch import save

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(2)
        model = bf.BacformerModel(bf.BacformerConfig(hidden_size=256, num_hidden_layers=2, num_attention_heads=4,
                                                     intermediate_size=512, max_position_embeddings=64))
    state = {f"bacformer.{k}": v.detach().contiguous() for k, v in model.state_dict().items()}
    size = sum(t.numel() * t.element_size() for t in state.values())
    assert size > 4 << 20
    folder = tmp_path / "bacformer"
    model.save_pretrained(folder)
    (folder / "model.safetensors").chmod(0o640)
    tracemalloc.start()
    try:
        model.save_pretrained(folder)  # over the previous one
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < size // 4, (peak, size)
    assert (folder / "model.safetensors").read_bytes() == save(state, metadata={"format": "pt"})
    assert (folder / "model.safetensors").stat().st_mode & 0o777 == 0o640
    assert sorted(p.name for p in folder.iterdir()) == ["config.json", "model.safetensors"]


_KILLED_MIDWAY = """
import os, signal, sys
import safetensors.torch
import torch
from microfuse_cli.views import bacformer as bf

def killed_midway(state, path, metadata=None):  # as safetensors 0.8 writes: its own temp file beside the name given
    with open(os.path.join(os.path.dirname(path), ".tmpK1ll3d"), "wb") as handle:
        handle.write(safetensors.torch.save(state, metadata=metadata)[:4096])
    os.kill(os.getpid(), signal.SIGKILL)

safetensors.torch.save_file = killed_midway
torch.manual_seed(3)
bf.BacformerModel(bf.BacformerConfig(hidden_size=48, num_hidden_layers=1, num_attention_heads=4, intermediate_size=96,
                                     max_position_embeddings=64)).save_pretrained(sys.argv[1])
"""


def test_bacformer_save_pretrained_killed_midway_leaves_named_leftovers(tmp_path, caplog):
    """safetensors' save_file writes a temp file of its own (.tmpXXXXXX) beside the name it is given and renames it
    onto it: given our temp file's name, a kill mid-write (SIGKILL, the OOM killer) left it in the model folder,
    as large as the weights, a name no leftover warning knew. It is written inside a private temp folder now, named
    like microfuse's own build folders: the leftover warnings name everything the killed run left."""
    import logging
    import subprocess

    from microfuse_cli.io import outputs

    folder = tiny_models.save_tiny_bacformer(tmp_path / "bacformer")
    before = {p.name for p in folder.iterdir()}
    killed = subprocess.run([sys.executable, "-c", _KILLED_MIDWAY, str(folder)], capture_output=True)
    assert killed.returncode == -9, killed.stderr.decode()
    left = sorted({p.name for p in folder.iterdir()} - before)
    assert left, "the killed run left nothing to warn of"
    with caplog.at_level(logging.WARNING, logger="microfuse"):
        outputs._warn_leftovers(folder, folder)
        outputs._warn_leftover_files(folder / "model.safetensors", folder)
    named = {Path(r.getMessage().split(": left by an interrupted run")[0]).name for r in caplog.records}
    assert set(left) <= named, (left, named)
    assert not (folder / ".tmpK1ll3d").exists()


def test_bacformer_missing_or_broken_model(tmp_path, models):
    with pytest.raises(DataError) as err:
        BacformerEmbedder("macwiatrak/bacformer-masked-MAG", esm_model=str(models["esm"]))
    text = one_line(err)
    assert "macwiatrak/bacformer-masked-MAG" in text and "--local-dir" in text
    with pytest.raises(DataError) as err:
        BacformerEmbedder(str(models["bacformer"]), esm_model="facebook/esm2_t12_35M_UR50D")
    assert "facebook/esm2_t12_35M_UR50D" in one_line(err)

    from safetensors.torch import load_file, save_file

    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text((models["bacformer"] / "config.json").read_text())
    state = load_file(str(models["bacformer"] / "model.safetensors"))
    state.pop("bacformer.embeddings.linear.weight")
    save_file(state, str(broken / "model.safetensors"))
    with pytest.raises(DataError) as err:
        bf.load_bacformer(str(broken))
    assert "embeddings.linear.weight" in one_line(err)


def test_bacformer_bad_options(models):
    for kwargs in ({"max_length": 3}, {"window_overlap": 1.0}, {"esm_pooling": "cls"}, {"contig_separator": "x"}):
        with pytest.raises(UsageError):
            BacformerEmbedder(str(models["bacformer"]), esm_model=str(models["esm"]), **kwargs)


# ---------------------------------------------------------------------------------------------------------------
# Golden data: vectors of the official code (benchmarks/bacformer_reference.py, bacformer 0.2.0, transformers 4.57)
# ---------------------------------------------------------------------------------------------------------------

REFERENCE = Path(__file__).parent / "data" / "foundation_reference"


@pytest.fixture(scope="module")
def reference():
    import json

    from safetensors.numpy import load_file

    meta = json.loads((REFERENCE / "cases.json").read_text())
    assert meta["bacformer"] == "0.2.0" and meta["transformers"].startswith("4.")
    return meta, load_file(str(REFERENCE / "vectors.safetensors"))


@pytest.fixture(scope="module")
def official_bacformer():
    """microfuse's loader on the official tiny checkpoint, one embedder per contig separator."""
    return {sep: BacformerEmbedder(str(REFERENCE / "bacformer"), esm_model=str(REFERENCE / "esm2"),
                                   contig_separator=sep) for sep in ("cls", "sep")}


def reference_proteins() -> list[str]:
    from Bio import SeqIO

    return [str(r.seq) for r in SeqIO.parse(REFERENCE / "ecoli_proteins.faa", "fasta")]


@pytest.mark.parametrize("case", ["one_contig", "several_contigs", "long_genome", "many_contigs", "empty_contigs",
                                  "sep_several_contigs", "sep_many_contigs"])
def test_bacformer_matches_the_official_functions(reference, official_bacformer, case):
    meta, vectors = reference
    spec = meta["cases"][case]
    embedder = official_bacformer[spec["layout"]]
    assert embedder.max_length == meta["one_pass_tokens"]  # 1.5 x max_position_embeddings: one pass
    got = embedder.contextualise(vectors[f"{case}/inputs"], spec["contig_sizes"])
    np.testing.assert_allclose(got, vectors[f"{case}/expected"], rtol=0, atol=1e-5)


def test_the_old_layouts_would_fail_the_golden_test(reference, official_bacformer):
    """The checks above can fail: SEP-closed contigs, a 6,000-token window (here 40) and ids clamped with a
    separator after every contig all move the vectors well past the tolerance."""
    meta, vectors = reference
    sep = official_bacformer["sep"]
    for case in ("one_contig", "several_contigs"):
        got = sep.contextualise(vectors[f"{case}/inputs"], meta["cases"][case]["contig_sizes"])
        assert np.abs(got - vectors[f"{case}/expected"]).max() > 1e-2
    short = BacformerEmbedder(str(REFERENCE / "bacformer"), esm_model=str(REFERENCE / "esm2"), max_length=40)
    got = short.contextualise(vectors["long_genome/inputs"], meta["cases"]["long_genome"]["contig_sizes"])
    assert np.abs(got - vectors["long_genome/expected"]).max() > 1e-2
    # ids clamped at M - 1 (the old rule) instead of the helper's M (the padding row) for contig M
    tokens, types = bf.contig_tokens(meta["cases"]["many_contigs"]["contig_sizes"], max_contigs=meta["max_contigs"])
    assert types.max() == meta["max_contigs"]
    x = np.zeros((len(tokens), vectors["many_contigs/inputs"].shape[1]), np.float32)
    x[tokens == bf.PROT_EMB] = vectors["many_contigs/inputs"]
    clamped = np.minimum(types, meta["max_contigs"] - 1)
    with torch.no_grad():
        out = official_bacformer["cls"].bacformer(*(torch.from_numpy(a)[None] for a in (x, tokens, clamped)))[0]
    assert np.abs(out[tokens == bf.PROT_EMB].numpy() - vectors["many_contigs/expected"]).max() > 1e-2


def test_esm2_and_bacformer_match_the_official_path_on_real_proteins(reference, official_bacformer):
    meta, vectors = reference
    proteins = reference_proteins()
    assert len(proteins) == 30 and max(map(len, proteins)) > 1022  # one protein past ESM-2's 1,024-token cut
    embedder = official_bacformer["cls"]
    np.testing.assert_allclose(embedder.embed_proteins(proteins), vectors["ecoli_esm/expected"], rtol=0, atol=1e-5)
    bounds = np.cumsum([0, *meta["cases"]["ecoli"]["contig_sizes"]])
    got = embedder.embed([proteins[a:b] for a, b in zip(bounds[:-1], bounds[1:])])
    np.testing.assert_allclose(got, vectors["ecoli/expected"], rtol=0, atol=1e-5)


def test_prostt5_matches_the_model_card(reference):
    meta, vectors = reference
    embedder = ProstT5Embedder(str(REFERENCE / "prostt5"), max_batch_residues=600)  # several batches
    got = embedder.embed(meta["cases"]["prostt5"]["proteins"])
    np.testing.assert_allclose(got, vectors["prostt5/expected"], rtol=0, atol=1e-5)


def test_golden_data_stays_small():
    total = sum(p.stat().st_size for p in REFERENCE.rglob("*") if p.is_file())
    assert total < 1_000_000


# ---------------------------------------------------------------------------------------------------------------
# Loading: quiet, progress through microfuse, real gaps refused; precision defaults
# ---------------------------------------------------------------------------------------------------------------


def test_loading_esm2_masked_lm_is_quiet(capfd, caplog):
    import logging

    from transformers.utils import logging as hf_logging

    bars_before = hf_logging.is_progress_bar_enabled()
    with caplog.at_level(logging.DEBUG, logger="microfuse_cli"):
        BacformerEmbedder(str(REFERENCE / "bacformer"), esm_model=str(REFERENCE / "esm2"))
        ProstT5Embedder(str(REFERENCE / "prostt5"))
    out, err = capfd.readouterr()
    assert "LOAD REPORT" not in out + err and "Loading weights" not in out + err and "lm_head" not in out + err
    assert any("lm_head.dense.weight" in r.getMessage() and r.levelno == logging.DEBUG for r in caplog.records)
    assert hf_logging.is_progress_bar_enabled() == bars_before


@pytest.mark.parametrize("transformers_bars", [True, False])
def test_quiet_loading_puts_back_every_progress_bar_switch(transformers_bars, monkeypatch):
    """transformers' switch of its bars sets huggingface_hub's too: after a quiet load, a hub whose bars were on
    beside transformers' off had them off for good, and one with a group's bars off had every group's on. Each
    switch (transformers', the hub's global one and its groups') is now as it was, and off inside the block."""
    import importlib

    from huggingface_hub import utils as hub
    from transformers.utils import logging as hf_logging

    from microfuse_cli.views.hf import quiet_transformers_loading

    switches = importlib.import_module("huggingface_hub.utils.tqdm")
    monkeypatch.setattr(switches, "HF_HUB_DISABLE_PROGRESS_BARS", None)  # the environment's, if set, would fix them
    monkeypatch.setattr(switches, "progress_bar_states", {})  # switches of this test's own; the process's put back
    monkeypatch.setattr(hf_logging, "_tqdm_active", hf_logging.is_progress_bar_enabled())  # put back after
    (hf_logging.enable_progress_bar if transformers_bars else hf_logging.disable_progress_bar)()
    hub.enable_progress_bars()
    hub.disable_progress_bars("huggingface_hub.snapshot_download")
    with quiet_transformers_loading():
        assert not hf_logging.is_progress_bar_enabled() and hub.are_progress_bars_disabled()
    assert hf_logging.is_progress_bar_enabled() == transformers_bars
    assert not hub.are_progress_bars_disabled() and hub.are_progress_bars_disabled("huggingface_hub.snapshot_download")


def test_checkpoint_missing_a_needed_weight_is_refused(tmp_path):
    import shutil

    from safetensors.torch import load_file, save_file

    folder = tmp_path / "esm2"
    shutil.copytree(REFERENCE / "esm2", folder)
    state = load_file(str(folder / "model.safetensors"))
    dropped = "esm.encoder.layer.1.attention.self.query.weight"
    del state[dropped]
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    with pytest.raises(DataError) as err:
        BacformerEmbedder(str(REFERENCE / "bacformer"), esm_model=str(folder))
    text = one_line(err)
    assert "lacks 1 weight" in text and "encoder.layer.1.attention.self.query.weight" in text


def test_gpu_precision_follows_the_official_code(monkeypatch):
    from microfuse_cli.views import prostt5
    from microfuse_cli.views.hf import resolve_dtype

    gpu = torch.device("cuda")
    assert resolve_dtype(None, gpu, gpu_default=prostt5.GPU_DTYPE) == torch.float16  # the model card's half()
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)
    assert resolve_dtype(None, gpu, gpu_default=bf.GPU_DTYPE) == torch.bfloat16  # the README's bfloat16
    assert resolve_dtype("bf16", gpu, gpu_default=prostt5.GPU_DTYPE) == torch.bfloat16  # the option
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert resolve_dtype(None, gpu, gpu_default=bf.GPU_DTYPE) == torch.float16
    assert resolve_dtype(None, torch.device("cpu"), gpu_default=prostt5.GPU_DTYPE) == torch.float32


# ---------------------------------------------------------------------------------------------------------------
# CLI: the separator option, on the first E. coli genes
# ---------------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ecoli_head(tmp_path_factory):
    """The first 12 kb of E. coli K-12 (GFF3 rows and sequence), a one-contig genome of about 10 genes."""
    import gzip

    from conftest import ECOLI_FNA, ECOLI_GFF

    root = tmp_path_factory.mktemp("ecoli_head")
    with gzip.open(ECOLI_FNA, "rt") as handle:
        lines = handle.read().split("\n", 1)
    seqid = lines[0][1:].split()[0]
    (root / "head.fna").write_text(f">{seqid}\n{lines[1].replace(chr(10), '')[:12000]}\n")
    rows = ["##gff-version 3"]
    with gzip.open(ECOLI_GFF, "rt") as handle:
        for line in handle:
            cols = line.split("\t")
            if len(cols) == 9 and cols[2] in ("gene", "CDS") and int(cols[4]) <= 12000:
                rows.append(line.rstrip("\n"))
    (root / "head.gff").write_text("\n".join(rows) + "\n")
    return root


def test_embed_cli_contig_separator(ecoli_head, tmp_path):
    import json

    from conftest import run_cli

    outputs = {}
    for sep in ("cls", "sep"):
        args = ["embed", ecoli_head / "head.gff", "--fasta", ecoli_head / "head.fna", "-o", tmp_path / sep,
                "--context-view", "bacformer", "--context-model", REFERENCE / "bacformer",
                "--esm-model", REFERENCE / "esm2", "--offline", "--device", "cpu"]
        code, out, err = run_cli(args + (["--contig-separator", sep] if sep == "sep" else []))
        assert code == 0, err
        assert "LOAD REPORT" not in out + err and "Loading weights" not in out + err
        manifest = json.loads((tmp_path / sep / "manifest.json").read_text())
        assert manifest["context_view"]["bacformer"]["contig_separator"] == sep
        outputs[sep] = np.load(tmp_path / sep / "context.npy")
    assert outputs["cls"].shape == outputs["sep"].shape and outputs["cls"].shape[0] >= 8
    assert np.abs(outputs["cls"] - outputs["sep"]).max() > 1e-2  # even one contig: the closing token differs
    code, _, err = run_cli(["embed", ecoli_head / "head.gff", "-o", tmp_path / "x", "--contig-separator", "eos"])
    assert code == 2 and "contig-separator" in err


def test_batch_residues_reaches_both_models_and_each_keeps_its_own_default(ecoli_head, models, tmp_path, monkeypatch):
    """`embed --batch-residues N` ("lower it on small GPUs") reached ProstT5 only: ESM-2 ran batches of 8,000 padded
    residues whatever was asked. Both take N now; without it, ProstT5 keeps 4,000 (fastest of 4k/32k/128k on an
    H200) and ESM-2 8,000 on the CPU, 32,000 on a GPU (3.5 times the tokens/s of 4,000 there)."""
    from conftest import run_cli
    from microfuse_cli.views import hf

    budgets = []
    batches = hf.length_batches
    monkeypatch.setattr(hf, "length_batches", lambda lengths, budget: budgets.append(budget) or batches(lengths, budget))
    base = ["embed", ecoli_head / "head.gff", "--fasta", ecoli_head / "head.fna", "--protein-view", "prostt5",
            "--protein-model", models["prostt5"], "--context-view", "bacformer", "--context-model", models["bacformer"],
            "--esm-model", models["esm"], "--offline", "--device", "cpu"]
    code, _, err = run_cli([*base, "-o", tmp_path / "asked", "--batch-residues", "300"])
    assert code == 0, err
    assert budgets == [300, 300], budgets  # ProstT5's, then ESM-2's
    budgets.clear()
    code, _, err = run_cli([*base, "-o", tmp_path / "default"])
    assert code == 0, err
    assert budgets == [4000, 8000], budgets
    assert np.allclose(np.load(tmp_path / "asked" / "context.npy"), np.load(tmp_path / "default" / "context.npy"),
                       atol=1e-5)  # padding is masked: the batch size changes no vector


def test_esm2_batch_default_follows_the_device(monkeypatch):
    """Without max_batch_residues, ESM-2 runs 32,000 padded residues a batch on any GPU (cuda:N too) and 8,000 on
    the CPU; a number given is kept. The GPU branch, which no CPU test reached, checked without a GPU: the device
    name is taken as is and the dtype given, so nothing touches CUDA."""
    from microfuse_cli.views.bacformer import embedder as module

    monkeypatch.setattr(module, "torch_device", lambda device: torch.device(device))

    def budget(device, asked=None):
        embedder = module.BacformerEmbedder.__new__(module.BacformerEmbedder)
        embedder._configure(device, "float32", asked, 0.25, "bacformer", "cls")
        return embedder.max_batch_residues

    assert [budget(d) for d in ("cpu", "cuda", "cuda:1")] == [8000, 32000, 32000]
    assert budget("cuda", 500) == 500 and budget("cpu", 500) == 500


def test_foundation_views_run_on_the_threads_asked_for(models, monkeypatch):
    """compute_embeddings(threads=1) ran ProstT5 and ESM-2 + Bacformer on torch's process-wide thread count (every
    core by default), so `embed -t 1` on a CPU node took them all; they run on ``threads``, and the caller's setting
    is put back after."""
    import dataclasses

    from conftest import ROOT
    from microfuse_cli import read_genome
    from microfuse_cli.embed import ViewConfig, compute_embeddings
    from microfuse_cli.pairs import adjacent_pairs

    seen = {}
    for name, cls in (("prostt5", ProstT5Embedder), ("bacformer", BacformerEmbedder)):
        def embed(self, *args, _embed=cls.embed, _name=name, **kwargs):
            seen[_name] = torch.get_num_threads()
            return _embed(self, *args, **kwargs)

        monkeypatch.setattr(cls, "embed", embed)
    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    genome = dataclasses.replace(genome, genes=genome.genes[:8])
    config = ViewConfig.parse("prostt5", "bacformer", protein_model=str(models["prostt5"]),
                              context_model=str(models["bacformer"]), esm_model=str(models["esm"]), device="cpu")
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        embeddings = compute_embeddings(genome, adjacent_pairs(genome), config, threads=1)
        assert seen == {"prostt5": 1, "bacformer": 1} and torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)
    assert embeddings.protein.shape[0] == 8
