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


def test_bacformer_input_layout_matches_pretraining():
    layout = bf.GenomeLayout.from_sizes([3, 0, 2])  # an empty contig is skipped
    tokens, types, positions = bf.window_inputs(layout, 0, 5)
    assert tokens.tolist() == [bf.CLS, 4, 4, 4, bf.SEP, 4, 4, bf.SEP, bf.END]
    assert types.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1]
    assert positions.tolist() == [1, 2, 3, 5, 6]
    assert layout.n_tokens(0, 5) == len(tokens)
    tokens, _, _ = bf.window_inputs(layout, 0, 5, separator=bf.CLS)
    assert tokens.tolist() == [2, 4, 4, 4, 2, 4, 4, 2, 5]


@pytest.mark.parametrize("sizes", [[40], [1] * 25, [7, 1, 5, 30, 2], [3, 9, 1, 1, 14]])
@pytest.mark.parametrize("max_length", [6, 11, 23])
def test_plan_windows_fit_cover_and_overlap(sizes, max_length):
    layout = bf.GenomeLayout.from_sizes(sizes)
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
    assert bf.plan_windows(layout, 19, 0.25) == [(0, 15)]  # 15 proteins + 2 SEP + CLS + END
    assert len(bf.plan_windows(layout, 18, 0.25)) > 1


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
    assert info["name"] == "bacformer" and info["contig_separator"] == "sep"
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

    layout = bf.GenomeLayout.from_sizes(sizes)
    windows = bf.plan_windows(layout, 10, small.window_overlap)
    assert len(windows) > 2
    owner = bf.assign_windows(windows, len(layout))
    for w, (s, e) in enumerate(windows):
        tokens, types, positions = bf.window_inputs(layout, s, e)
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
