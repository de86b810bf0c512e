"""The numpy fusion head that `score` runs: the same numbers as the torch model on every architecture and
ablation, the same saved-tensor layout, the same refusals of broken files, and no torch import."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import torch

from microfuse_cli.errors import DataError
from microfuse_cli.fusion import FusionHead, parameter_shapes
from microfuse_cli.model import ABLATIONS, FusionConfig, FusionModel
from microfuse_cli.score import DEFAULT_MODEL, load_model
from microfuse_cli.trained import TrainConfig, TrainedModel

from conftest import ROOT

P_DIM, C_DIM, HIDDEN = 12, 6, 16

CONFIGS = [pytest.param(FusionConfig.ablation(name, protein_dim=P_DIM, context_dim=C_DIM, hidden=HIDDEN), id=name)
           for name in ABLATIONS]
CONFIGS += [pytest.param(FusionConfig(arch=arch, protein_dim=P_DIM, context_dim=C_DIM, hidden=HIDDEN), id=arch)
            for arch in ("concat", "protein", "context")]


def _saved(tmp_path, config: FusionConfig, seed: int = 0):
    """A torch model with random weights and standardisation (no training needed), saved to disk."""
    torch.manual_seed(seed)
    model = FusionModel(config)
    with torch.no_grad():
        for p in model.parameters():
            p.add_(torch.randn_like(p) * 0.3)  # move LayerNorm weights etc. away from their identity init
    model.set_standardisation(protein=(torch.randn(P_DIM), torch.rand(P_DIM) + 0.5),
                              context=(torch.randn(C_DIM), torch.rand(C_DIM) + 0.5))
    trained = TrainedModel(model, TrainConfig(), threshold=0.37, provenance={"note": "random"})
    return trained, trained.save(tmp_path / "model")


@pytest.mark.parametrize("config", CONFIGS)
def test_numpy_head_equals_the_torch_model(tmp_path, config):
    trained, folder = _saved(tmp_path, config)
    rng = np.random.default_rng(1)
    xp = rng.normal(size=(300, P_DIM)).astype(np.float32) * 3
    xb = rng.normal(size=(300, C_DIM)).astype(np.float32) * 3
    want = trained.predict(xp, xb)
    head = FusionHead.load(folder)
    got = head.predict(xp, xb, batch_size=7)  # batches must not change anything
    assert head.threshold == pytest.approx(0.37) and head.provenance == {"note": "random"}
    assert np.abs(got.probability - want.probability).max() < 1e-5
    assert np.allclose(got.router_weights, want.router_weights, atol=1e-5, equal_nan=True)
    assert np.abs(got.fused - want.fused).max() < 1e-4
    assert got.probability.std() > 0.01  # a head that ignores its input would pass the checks above trivially
    assert head.predict(xp, xb, fused=False).fused is None


@pytest.mark.parametrize("config", CONFIGS)
def test_parameter_shapes_match_the_torch_state_dict(config):
    torch_shapes = {k: tuple(v.shape) for k, v in FusionModel(config).state_dict().items()}
    assert parameter_shapes(config) == torch_shapes


def test_the_default_model_scores_the_same_in_numpy_and_torch():
    from microfuse_cli.trained import load_torch_model as load_torch

    rng = np.random.default_rng(0)
    torch_model, head = load_torch(DEFAULT_MODEL), load_model(None)
    assert isinstance(head, FusionHead)
    xp = rng.normal(size=(500, head.config.protein_dim)).astype(np.float32)
    xb = rng.normal(size=(500, head.config.context_dim)).astype(np.float32)
    assert np.abs(head.predict(xp, xb).probability - torch_model.predict(xp, xb).probability).max() < 1e-5


def test_broken_model_files_are_refused(tmp_path):
    config = FusionConfig(protein_dim=P_DIM, context_dim=C_DIM, hidden=HIDDEN)
    _, folder = _saved(tmp_path, config)
    settings = json.loads((folder / "config.json").read_text())
    settings["model"]["hidden"] = 32  # tensors no longer fit the architecture
    (folder / "config.json").write_text(json.dumps(settings))
    with pytest.raises(DataError, match="tensor"):
        FusionHead.load(folder)
    (folder / "model.safetensors").write_bytes(b"\x80\x04not a safetensors file")
    with pytest.raises(DataError, match="safetensors"):
        FusionHead.load(folder)
    with pytest.raises(DataError, match="not a model directory"):
        FusionHead.load(tmp_path / "absent")


def test_wrong_input_width_is_a_data_error(tmp_path):
    _, folder = _saved(tmp_path, FusionConfig(protein_dim=P_DIM, context_dim=C_DIM, hidden=HIDDEN))
    head = FusionHead.load(folder)
    with pytest.raises(DataError, match="expects"):
        head.predict(np.zeros((3, P_DIM + 1), np.float32), np.zeros((3, C_DIM), np.float32))
    with pytest.raises(DataError, match="NaN"):
        head.predict(np.full((3, P_DIM), np.nan, np.float32), np.zeros((3, C_DIM), np.float32))


def test_scoring_a_genome_with_the_default_model_never_imports_torch(tmp_path):
    """torch's import costs more CPU than calling E. coli's genes: `score` on builtin views must not pay it."""
    genome = ROOT / "examples" / "data" / "mgenitalium_g37.fna.gz"
    code = ("import sys; from microfuse_cli.cli import main; sys.argv = ['microfuse', 'score', '-q', '-g', '4', "
            "sys.argv[1], '-o', sys.argv[2]]\ntry:\n    main()\nexcept SystemExit as e:\n    assert not e.code, e.code\n"
            "assert 'torch' not in sys.modules, 'torch was imported'\n")
    out = tmp_path / "scores.tsv"
    subprocess.run([sys.executable, "-c", code, genome, str(out)], check=True)
    assert len(out.read_text().splitlines()) > 400


def test_scores_tsv_leaves_undefined_router_weights_empty(tmp_path, ecoli_genome):
    """A concat baseline has no experts (NaN weights), a distance model no router at all: empty cells, not 'nan'."""
    import io

    from microfuse_cli.pairs import adjacent_pairs
    from microfuse_cli.io.tables import write_scores
    from microfuse_cli.score import Scores

    pairs = adjacent_pairs(ecoli_genome)[:3]
    weights = np.array([[0.5, 0.25, 0.125, 0.125], [np.nan] * 4, [1.0, 0.0, 0.0, 0.0]], dtype=np.float32)
    written = [["0.5000", "0.2500", "0.1250", "0.1250"], [""] * 4, ["1.0000", "0.0000", "0.0000", "0.0000"]]
    for router, want in ((weights, written), (None, [[""] * 4] * 3)):
        out = io.StringIO()
        write_scores(out, Scores(pairs, np.array([0.9, 0.1, 0.5]), 0.5, router))
        rows = [line.split("\t") for line in out.getvalue().splitlines()]
        start = rows[0].index("w_protein")
        assert [r[start:start + 4] for r in rows[1:]] == want
        assert [r[rows[0].index("operon_pair")] for r in rows[1:]] == ["1", "0", "1"]
        assert [r[rows[0].index("probability")] for r in rows[1:]] == ["0.900000", "0.100000", "0.500000"]


def test_a_distance_model_is_saved_and_scores_without_torch(tmp_path):
    """The distance baseline is numpy end to end: fitted on M. pneumoniae's labelled pairs, saved, read back by
    the torch-side loader (same numbers), and `score -m` with it never imports torch."""
    from conftest import MPN_FNA, MPN_GFF, MPN_PAIRS
    from microfuse_cli.genome import read_genome
    from microfuse_cli.io.tables import read_pair_list
    from microfuse_cli.pairs import pairs_from_list
    from microfuse_cli.baseline import DistanceBaseline
    from microfuse_cli.trained import load_torch_model

    pairs = pairs_from_list(read_genome(MPN_GFF, MPN_FNA), read_pair_list(MPN_PAIRS)).pairs
    distance = np.array([p.distance for p in pairs], dtype=float)
    y = np.array([p.label for p in pairs])
    model = DistanceBaseline.fit(distance, y, np.arange(len(y)) % 4 != 0, np.arange(len(y)) % 4 == 0)
    model.save(tmp_path / "dist")
    again = load_torch_model(tmp_path / "dist")
    assert np.array_equal(again.predict(distance).probability, model.predict(distance).probability)
    genome = ROOT / "examples" / "data" / "mgenitalium_g37.fna.gz"
    code = ("import sys; from microfuse_cli.cli import main; sys.argv = ['microfuse', 'score', '-q', '-g', '4', "
            "'-m', sys.argv[3], sys.argv[1], '-o', sys.argv[2]]\ntry:\n    main()\nexcept SystemExit as e:\n"
            "    assert not e.code, e.code\nassert 'torch' not in sys.modules, 'torch was imported'\n")
    out = tmp_path / "scores.tsv"
    subprocess.run([sys.executable, "-c", code, genome, str(out), str(tmp_path / "dist")], check=True)
    assert len([line for line in out.read_text().splitlines() if not line.startswith("#")]) > 400



def test_head_and_distance_baseline_share_the_predict_pairs_contract():
    """score asks every model the same question (fusion.PairInputs -> Prediction) instead of branching on its kind:
    the shipped fusion head reads the views, a distance baseline the spacers and strands (M. pneumoniae)."""
    from microfuse_cli.baseline import DistanceBaseline
    from microfuse_cli.embed import compute_embeddings
    from microfuse_cli.genome import read_genome
    from microfuse_cli.pairs import adjacent_pairs
    from microfuse_cli.score import pair_inputs, view_config

    from conftest import MPN_FNA, MPN_GFF

    genome = read_genome(MPN_GFF, MPN_FNA)
    pairs = adjacent_pairs(genome)
    head = load_model(DEFAULT_MODEL)
    inputs = pair_inputs(head, compute_embeddings(genome, pairs, view_config(head, device="cpu"), threads=1), pairs)
    assert len(inputs.distance) == len(pairs) and inputs.same_strand.sum() == sum(p.same_strand for p in pairs)
    views = head.predict(inputs.x_protein, inputs.x_context)
    assert np.array_equal(head.predict_pairs(inputs, fused=True).fused, views.fused)
    assert np.array_equal(head.predict_pairs(inputs).probability, views.probability)
    assert head.predict_pairs(inputs).fused is None

    y = (inputs.same_strand & (inputs.distance < 40)).astype(float)
    everything = np.ones(len(pairs), dtype=bool)
    baseline = DistanceBaseline.fit(inputs.distance, y, everything, everything, opposite_strand=~inputs.same_strand)
    got = baseline.predict_pairs(inputs).probability
    assert np.array_equal(got, baseline.predict(inputs.distance, ~inputs.same_strand).probability)
    assert got[inputs.same_strand & (inputs.distance < 0)].min() > got[~inputs.same_strand].max()
