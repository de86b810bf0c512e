"""Model folders: read once per score, the input contract typed, malformed contracts refused in one line, the
previous format (inputs inside ``extra``) still read."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil

import numpy as np
import pytest

from conftest import ROOT, run_cli
from microfuse_cli import checkpoint
from microfuse_cli.errors import DataError
from microfuse_cli.checkpoint import FORMAT_VERSION, ModelInputs, read_checkpoint
from microfuse_cli.score import DEFAULT_MODEL, load_model

GFF = ROOT / "examples" / "data" / "mgenitalium_g37.gff.gz"
FNA = ROOT / "examples" / "data" / "mgenitalium_g37.fna.gz"
#: config.json of the default model as 0.2 shipped it (format 2: the inputs inside ``extra``); its weights are
#: the ones shipped today.
FORMAT_2_CONFIG = ROOT / "tests" / "data" / "model_format2" / "config.json"


def test_default_model_inputs_round_trip_through_its_config():
    config = json.loads((DEFAULT_MODEL / "config.json").read_text())
    assert config["format_version"] == FORMAT_VERSION == 4 and "extra" not in config
    inputs = read_checkpoint(DEFAULT_MODEL).inputs
    assert inputs.views == {"protein": "builtin", "context": "builtin"}
    assert inputs.context_features and "dist_clip" in inputs.context_features
    assert inputs.dim("pair_context") == len(inputs.context_features)
    assert config["inputs"] == inputs.to_dict()
    assert ModelInputs.from_dict(inputs.to_dict()) == inputs
    assert not {"views", "context_features", "input_dims"} & set(config["provenance"])


def _format_2_folder(tmp_path):
    folder = tmp_path / "model_v2"
    shutil.copytree(DEFAULT_MODEL, folder)
    shutil.copy(FORMAT_2_CONFIG, folder / "config.json")
    return folder


def _shipped_folder_with_the_format_2_rule(tmp_path):
    """The shipped model with the decision rule 0.2 shipped (the own posterior at 0.5, unbounded)."""
    folder = tmp_path / "model_v3"
    shutil.copytree(DEFAULT_MODEL, folder)
    config = json.loads((folder / "config.json").read_text())
    config["decision"] = json.loads(FORMAT_2_CONFIG.read_text())["decision"]
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True) + "\n")
    return folder


def test_format_2_folder_reads_as_the_same_model(tmp_path):
    old, new = read_checkpoint(_format_2_folder(tmp_path)), read_checkpoint(DEFAULT_MODEL)
    v2 = json.loads(FORMAT_2_CONFIG.read_text())
    assert v2["format_version"] == 2 and "extra" in v2
    assert old.inputs == new.inputs
    # its rule predates the learned threshold and the own-interval bound: read as the rule it was made with
    assert "posterior_threshold" not in v2["decision"] and (old.decision.posterior_threshold,
                                                            old.decision.own_interval) == (0.5, 0.0)
    assert old.decision == read_checkpoint(_shipped_folder_with_the_format_2_rule(tmp_path)).decision
    assert old.provenance == {k: v for k, v in v2["extra"].items()
                              if k not in ("views", "context_features", "input_dims")}
    assert set(old.config) == set(new.config)


def test_format_2_folder_scores_like_the_shipped_model(tmp_path):
    outputs = []
    folders = (("v2", _format_2_folder(tmp_path)), ("v3", _shipped_folder_with_the_format_2_rule(tmp_path)))
    for name, folder in folders:
        code, out, err = run_cli(["score", GFF, "--fasta", FNA, "-m", folder, "--operons-tsv", tmp_path / name])
        assert code == 0, err
        outputs.append([line for line in [*out.splitlines(), *(tmp_path / name).read_text().splitlines()]
                        if not line.startswith("#")])  # the '#' lines name the model folder
    assert len(outputs[0]) > 400 and outputs[0] == outputs[1]


def _two_models(tmp_path):
    """Two model folders that differ only in their weights (one bias moved by 1): 'mine' and 'theirs'."""
    shipped = read_checkpoint(DEFAULT_MODEL)
    fields = dict(model=shipped.config["model"], train=shipped.config["train"], threshold=shipped.config["threshold"],
                  standardisation=shipped.config["standardisation"], history=shipped.config["history"],
                  metrics=shipped.config["metrics"], decision=shipped.decision, inputs=shipped.inputs,
                  provenance=shipped.provenance)
    mine = checkpoint.write_checkpoint(tmp_path / "mine", shipped.arrays, **fields)
    other = {**shipped.arrays, "classifier.3.bias": shipped.arrays["classifier.3.bias"] + 1}
    theirs = checkpoint.write_checkpoint(tmp_path / "theirs", other, **fields)
    return mine, theirs


def test_weights_of_another_model_beside_a_config_are_refused(tmp_path):
    """A model folder mixed from two models (model.safetensors copied from another folder by hand, or left by a
    kill while `train -o` swapped its files in) was scored with this config's threshold and standardisation, exit 0:
    only a build folder left beside it, by its file times, could tell. The config records the SHA-256 of the
    weights written with it now (format 4), checked on every load: one line, exit 1. A format-3 config, which
    records none, is read as before: the same model."""
    from microfuse_cli import trained

    mine, theirs = _two_models(tmp_path)
    assert load_model(mine).identity == load_model(DEFAULT_MODEL).identity != load_model(theirs).identity
    shutil.copy(theirs / "model.safetensors", mine / "model.safetensors")  # a hand copy: their weights, my config
    message = (f"{mine}: model.safetensors is not the weights its config.json was written with (checksum mismatch: "
               "files of two models mixed, or edited since): copy the model folder whole again, or train it again")
    for loader in (load_model, trained.load_torch_model):
        with pytest.raises(DataError) as caught:
            loader(mine)
        assert str(caught.value) == message
    code, out, err = run_cli(["score", GFF, "--fasta", FNA, "-m", mine, "-o", tmp_path / "s.tsv"])
    assert code == 1 and out == "" and err.endswith(f"error: {message}\n") and err.count("error:") == 1, err
    assert not (tmp_path / "s.tsv").exists()
    config = json.loads((mine / "config.json").read_text())
    # checked as a manifest's files_sha256 is (manifest.check_files, the one check): a SHA-256 of each file, the
    # weights listed and nothing else
    for bad, said in (({}, "model config lists no model.safetensors"),
                      ({"model.safetensors": "0" * 63}, "corrupted model config (files_sha256 must map file names to "
                                                        "SHA-256 digests)"),
                      ({"model.safetensors": "0" * 64, "x": "0" * 64}, "unexpected file 'x'")):
        (mine / "config.json").write_text(json.dumps({**config, "files_sha256": bad}))
        with pytest.raises(DataError) as caught:
            read_checkpoint(mine)
        assert str(caught.value) == f"{mine / 'config.json'}: {said}"
    v3 = {k: v for k, v in config.items() if k != "files_sha256"}  # as format 3 wrote it: its weights unchecked
    (mine / "config.json").write_text(json.dumps({**v3, "format_version": 3}))
    assert load_model(mine).identity == load_model(theirs).identity


def test_weights_swapped_after_they_were_read_are_refused(tmp_path, monkeypatch):
    """A load read model.safetensors twice, the tensors then the checksum: weights of another model read first,
    the folder's own put back before the hash (a hand copy or a `train -o` finishing meanwhile), were scored with this
    config's threshold and standardisation, the checksum passing on the other bytes. The bytes are read once now,
    hashed and deserialised: the weights used are the weights checked."""
    from microfuse_cli import trained

    mine, theirs = _two_models(tmp_path)
    own = (mine / "model.safetensors").read_bytes()
    original = checkpoint._read_weights

    def read_then_put_back(*args):  # the tensors read, the folder's own weights are back before anything else
        arrays = original(*args)
        (tmp_path / "own").write_bytes(own)
        os.replace(tmp_path / "own", mine / "model.safetensors")
        return arrays

    monkeypatch.setattr(checkpoint, "_read_weights", read_then_put_back)
    message = (f"{mine}: model.safetensors is not the weights its config.json was written with (checksum mismatch: "
               "files of two models mixed, or edited since): copy the model folder whole again, or train it again")
    for loader in (load_model, trained.load_torch_model):
        shutil.copy(theirs / "model.safetensors", mine / "model.safetensors")  # their weights, read first
        with pytest.raises(DataError) as caught:
            loader(mine)
        assert str(caught.value) == message
        assert (mine / "model.safetensors").read_bytes() == own
    assert load_model(mine).identity == load_model(DEFAULT_MODEL).identity  # its own weights: read as before


def test_load_model_reads_the_folder_once(monkeypatch):
    reads = []
    original = checkpoint._read_weights
    monkeypatch.setattr(checkpoint, "_read_weights", lambda *args: reads.append(args) or original(*args))
    model = load_model(None)
    assert len(reads) == 1 and model.inputs == read_checkpoint(DEFAULT_MODEL).inputs


def _score_with_config(tmp_path, config):
    folder = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL, folder, dirs_exist_ok=True)
    (folder / "config.json").write_text(json.dumps(config))
    code, out, err = run_cli(["score", GFF, "--fasta", FNA, "-m", folder, "-o", tmp_path / "s.tsv"])
    assert code == 1 and out == "" and "Traceback" not in err
    assert not (tmp_path / "s.tsv").exists()
    return [line for line in err.splitlines() if line.startswith("error:")]  # after the genome's info line


def test_malformed_input_contract_is_one_line_error(tmp_path):
    config = json.loads((DEFAULT_MODEL / "config.json").read_text())
    config["inputs"]["context_features"] = "dist_clip"  # a string, not a list of columns
    errors = _score_with_config(tmp_path, config)
    assert errors == [f"error: {tmp_path / 'model' / 'config.json'}: 'context_features' must be a list of column names"]
    config["inputs"]["context_features"] = None
    config["inputs"]["dims"] = {"protein": 40, "colour": 3}
    errors = _score_with_config(tmp_path, config)
    assert errors == [f"error: {tmp_path / 'model' / 'config.json'}: "
                      "'dims' must map protein, context, pair_context to integer widths"]
    del config["inputs"]["dims"]
    assert "'inputs' must hold exactly" in _score_with_config(tmp_path, config)[0]


def test_malformed_format_2_contract_is_one_line_error(tmp_path):
    config = json.loads(FORMAT_2_CONFIG.read_text())
    config["extra"]["context_features"] = "dist_clip"
    errors = _score_with_config(tmp_path, config)
    assert errors == [f"error: {tmp_path / 'model' / 'config.json'}: 'context_features' must be a list of column names"]


def _model_folder(tmp_path, config_edit=None, tensor_edit=None, source=DEFAULT_MODEL):
    """A copy of a model folder (the shipped model by default), its config or its tensors edited (the config then
    records the edited weights' checksum, as a model written with them would)."""
    import hashlib

    from safetensors.numpy import load_file, save_file

    folder = tmp_path / "model"
    shutil.copytree(source, folder)
    if config_edit is not None:
        config = json.loads((folder / "config.json").read_text())
        config_edit(config)
        (folder / "config.json").write_text(json.dumps(config))
    if tensor_edit is not None:
        arrays = load_file(str(folder / "model.safetensors"))
        tensor_edit(arrays)
        save_file(arrays, str(folder / "model.safetensors"))
        config = json.loads((folder / "config.json").read_text())
        if config.get("files_sha256"):
            digest = hashlib.sha256((folder / "model.safetensors").read_bytes()).hexdigest()
            (folder / "config.json").write_text(json.dumps({**config, "files_sha256": {"model.safetensors": digest}}))
    return folder


def _set_model(key, value):
    return lambda config: config["model"].__setitem__(key, value)


MALFORMED_HEADS = {  # what a config or weights file may say, and the one line both loaders answer with
    "huge hidden width": (_set_model("hidden", 10**6), None, "tensor 'proj_protein.1.weight' is float32 (128, 120), "
                                                             "the config needs float32 (1000000, 120)"),
    "huge view width": (_set_model("protein_dim", 10**9), None, "tensor 'protein_mean' is float32 (120,)"),
    "width a boolean": (_set_model("hidden", True), None, "hidden must be a positive integer, got True"),
    "temperature NaN": (_set_model("tau_xmod", float("nan")), None, "tau_xmod must be a finite number, got nan"),
    "switch a string": (_set_model("supcon", "yes"), None, "supcon must be true or false, got 'yes'"),
    "zero standard deviation": (None, lambda a: a.__setitem__("protein_std", np.zeros_like(a["protein_std"])),
                                "tensor 'protein_std' holds a standard deviation <= 0"),
    "train settings not an object": (lambda c: c.__setitem__("train", []), None,  # score read it, torch did not
                                     "'train', 'standardisation', 'provenance', 'metrics' must be JSON objects"),
    "float16 tensor": (None, lambda a: a.__setitem__("classifier.3.bias", a["classifier.3.bias"].astype(np.float16)),
                       "tensor 'classifier.3.bias' is float16 (1,), the config needs float32 (1,)"),
}


@pytest.mark.parametrize("case", MALFORMED_HEADS)
def test_malformed_head_is_the_same_one_line_error_from_both_loaders(case, tmp_path):
    """The numpy loader (score) and the torch loader (trained.load_torch_model) check a head the same way, before torch
    builds anything: a huge width in config.json was a 4 TB allocation in torch, a boolean a TypeError."""
    from microfuse_cli import trained

    config_edit, tensor_edit, message = MALFORMED_HEADS[case]
    folder = _model_folder(tmp_path, config_edit, tensor_edit)
    for loader in (load_model, trained.load_torch_model):
        with pytest.raises(DataError) as caught:
            loader(folder)
        assert message in str(caught.value) and str(folder) in str(caught.value)
        assert "\n" not in str(caught.value)


def test_loading_a_torch_model_leaves_the_callers_random_state_alone():
    """Building the head to load its weights into drew its initial weights from torch's global generator, so a
    user's seeded draws after ``trained.load_torch_model`` differed from those without it."""
    import torch

    from microfuse_cli import trained

    torch.manual_seed(7)
    expected = torch.rand(4)
    torch.manual_seed(7)
    model = trained.load_torch_model(DEFAULT_MODEL)
    assert torch.equal(torch.rand(4), expected)
    assert model.model_config.hidden == 128


def test_model_files_linked_from_outside_the_folder_are_read(tmp_path):
    """DVC's symlink cache and git-annex keep each file of a tracked folder as a link out of it: such a model folder
    loads as the model its files hold (its identity is that of their bytes), as does a folder that is itself a link;
    they were refused. A link to something that is not a regular file is a missing file, never read."""
    outside = tmp_path / "cache"
    shutil.copytree(DEFAULT_MODEL, outside)
    folder = tmp_path / "tracked"
    folder.mkdir()
    for name in ("config.json", "model.safetensors"):
        (folder / name).symlink_to(outside / name)
    (tmp_path / "alias").symlink_to(outside)
    for model in (load_model(folder), load_model(tmp_path / "alias")):
        assert model.identity == load_model(None).identity
    (folder / "model.safetensors").unlink()
    (folder / "model.safetensors").symlink_to("/dev/zero")
    with pytest.raises(DataError, match="missing model.safetensors"):
        load_model(folder)


@pytest.fixture(scope="module")
def ecoli_distance_model(ecoli_pairs, tmp_path_factory):
    """The distance baseline fitted on E. coli's labelled adjacent pairs, saved."""
    from microfuse_cli.baseline import DistanceBaseline

    pairs = [p for p in ecoli_pairs if p.label is not None]
    train_rows = np.arange(len(pairs)) % 5 != 0
    model = DistanceBaseline.fit([p.distance for p in pairs], [p.label for p in pairs], train_rows, ~train_rows,
                                 opposite_strand=[int(not p.same_strand) for p in pairs])
    return model.save(tmp_path_factory.mktemp("distance") / "model")


def test_distance_model_round_trips_byte_identical(ecoli_distance_model, tmp_path):
    from microfuse_cli.baseline import DistanceBaseline

    model = load_model(ecoli_distance_model)
    assert isinstance(model, DistanceBaseline) and model.uses_strand
    model.save(tmp_path / "again")
    for name in ("config.json", "model.safetensors"):
        assert (tmp_path / "again" / name).read_bytes() == (ecoli_distance_model / name).read_bytes()
    again = load_model(tmp_path / "again")
    assert (again.identity, again.decision_identity) == (model.identity, model.decision_identity)
    # without a rule it cuts at its threshold: another threshold is another decision, not another model
    other = dataclasses.replace(model, threshold=model.threshold / 2)
    assert other.identity == model.identity and other.decision_identity != model.decision_identity


MALFORMED_DISTANCE = {  # each was loaded and scored NaN, scored nonsense, or raised a bare ValueError/TypeError
    "l2 a string": (lambda c: c["train"].__setitem__("l2", "x"), None, "invalid l2 'x'"),
    "clip reversed": (lambda c: c["model"].__setitem__("clip", [2000, -200]), None, "invalid clip [2000, -200]"),
    "clip NaN": (lambda c: c["model"].__setitem__("clip", [float("nan"), 2000]), None, "invalid clip [nan, 2000]"),
    "zero standard deviation": (None, lambda a: a.__setitem__("feature_std", np.zeros(2)),
                                "tensor 'feature_std' holds a standard deviation <= 0"),
    "integer weights": (None, lambda a: a.__setitem__("weight", np.array([1, 2])),
                        "tensors do not match a distance model (float64 weight (2,)"),
}


@pytest.mark.parametrize("case", MALFORMED_DISTANCE)
def test_malformed_distance_model_is_one_line_error(case, ecoli_distance_model, tmp_path):
    config_edit, tensor_edit, message = MALFORMED_DISTANCE[case]
    folder = _model_folder(tmp_path, config_edit, tensor_edit, source=ecoli_distance_model)
    with pytest.raises(DataError) as caught:
        load_model(folder)
    assert message in str(caught.value) and str(folder) in str(caught.value)


def test_shipped_model_round_trips_through_torch_byte_identical_and_scores_the_same(tmp_path):
    """One model contract: the torch model loaded from the shipped folder re-saves to the same bytes, and scores
    M. genitalium exactly as the numpy head that `score` loads."""
    from microfuse_cli import read_genome, score_genome, trained

    model = trained.load_torch_model(DEFAULT_MODEL)
    model.save(tmp_path / "again")
    for name in ("config.json", "model.safetensors"):
        assert (tmp_path / "again" / name).read_bytes() == (DEFAULT_MODEL / name).read_bytes()
    genome = read_genome(GFF, FNA)
    numpy_scores, torch_scores = score_genome(genome, load_model(None)), score_genome(genome, model)
    assert len(numpy_scores.pairs) > 400
    np.testing.assert_array_equal(torch_scores.probability, numpy_scores.probability)


def test_model_path_that_is_empty_or_a_file_says_so():
    """load_model("") read the working directory as a model; a file was 'no such model folder'."""
    from microfuse_cli.errors import UsageError

    with pytest.raises(UsageError, match="the model path is empty"):
        load_model("")
    with pytest.raises(DataError, match="mgenitalium_g37.fna.gz: a file, not a model folder"):
        load_model(FNA)
    with pytest.raises(DataError, match="no such model folder: .*nowhere"):
        load_model(ROOT / "nowhere")


def test_model_reading_views_microfuse_cannot_compute_is_a_data_error_on_loading(tmp_path):
    """A config naming an unknown view loaded, and `score -m` failed after reading the genome with '--protein-view
    must be one of ...', exit 2: an option the user never gave. It is the model's fault: one line naming its
    config, exit 1, when the model is loaded."""
    from microfuse_cli import trained

    config = json.loads((DEFAULT_MODEL / "config.json").read_text())
    config["inputs"]["views"] = {"protein": "esm3", "context": "builtin"}
    folder = _model_folder(tmp_path, lambda c: c.update(inputs=config["inputs"]))
    for loader in (load_model, trained.load_torch_model):
        with pytest.raises(DataError, match="the model reads views this microfuse cannot compute"):
            loader(folder)
    code, out, err = run_cli(["score", GFF, "--fasta", FNA, "-m", folder, "-o", tmp_path / "s.tsv"])
    errors = [line for line in err.splitlines() if not line.startswith("info:")]
    assert (code, out, len(errors)) == (1, "", 1), err
    assert errors[0].startswith(f"error: {folder / 'config.json'}: the model reads views this microfuse cannot"), err
    config["inputs"]["views"]["protein"], config["inputs"]["views"]["context"] = "prostt5", "builtin,bacformer"
    assert ModelInputs.from_dict(config["inputs"]).views == config["inputs"]["views"]


@pytest.fixture(scope="module")
def mg_views():
    """(pairs, builtin embeddings) of M. genitalium G37: 475 pairs, views 40 + 16 + 43 columns wide."""
    from microfuse_cli import read_genome
    from microfuse_cli.embed import ViewConfig, compute_embeddings
    from microfuse_cli.pairs import adjacent_pairs

    genome = read_genome(GFF, FNA)
    pairs = adjacent_pairs(genome)
    return pairs, compute_embeddings(genome, pairs, ViewConfig.parse("builtin", "builtin"))


def test_input_widths_are_the_widths_pair_views_builds(mg_views):
    """The contract's input widths (what training checks a head against) are the matrices pair_views builds: every
    column, the kept columns, and embeddings that lack the gene-context or the pair view."""
    from microfuse_cli.training_data import resolve_context_features

    pairs, embeddings = mg_views
    core = resolve_context_features("core", embeddings)
    without_context = dataclasses.replace(embeddings, context=None)
    without_pair = dataclasses.replace(embeddings, pair_context=None)
    cases = [(embeddings, None), (embeddings, core), (without_context, None), (without_pair, None)]
    for emb, columns in cases:
        x_protein, x_context = emb.pair_views(pairs, columns)
        widths = emb.model_inputs(columns).input_widths()
        assert widths == {"protein_dim": x_protein.shape[1], "context_dim": x_context.shape[1]}, (emb.dims, columns)
    assert embeddings.model_inputs().input_widths() == {"protein_dim": 3 * 40, "context_dim": 2 * 16 + 43}
    assert embeddings.model_inputs(core).input_widths()["context_dim"] == len(core) == 11
    assert ModelInputs().input_widths() is None  # widths not recorded: nothing to check against


def test_pair_views_and_input_widths_follow_the_one_layout(mg_views, monkeypatch):
    """checkpoint.PAIR_LAYOUT is the one description of the columns: a layout without the |a-b| block and with the
    pair columns first is what pair_views builds, what context_names names and what the widths count (a formula
    restated anywhere, pair_views or training's check, would keep the old widths or order)."""
    pairs, embeddings = mg_views
    x_protein, x_context = embeddings.pair_views(pairs)
    monkeypatch.setitem(checkpoint.PAIR_LAYOUT, "protein_dim", (("protein", "a"), ("protein", "b")))
    monkeypatch.setitem(checkpoint.PAIR_LAYOUT, "context_dim",
                        (("pair_context", "pair"), ("context", "a"), ("context", "b")))
    y_protein, y_context = embeddings.pair_views(pairs)
    assert embeddings.model_inputs().input_widths() == {"protein_dim": 80, "context_dim": 75}
    np.testing.assert_array_equal(y_protein, x_protein[:, :80])
    np.testing.assert_array_equal(y_context, np.concatenate([x_context[:, 32:], x_context[:, :32]], axis=1))
    assert embeddings.context_names[:43] == list(embeddings.manifest["context_columns"]["pair"])
    from microfuse_cli.training import _check_inputs_fit  # what training refuses a head's inputs by

    _check_inputs_fit(embeddings.model_inputs(), {"protein_dim": 80, "context_dim": 75})
    with pytest.raises(DataError, match="inputs describe a 80-column protein view, the data has 120 columns"):
        _check_inputs_fit(embeddings.model_inputs(), {"protein_dim": 120, "context_dim": 75})


def test_the_two_loaders_say_what_they_load():
    """microfuse_cli.load_model (score's) reads a model folder into the numpy scorer without importing torch;
    trained.load_torch_model reads it into the torch model. Both were named load_model; the torch one's old name,
    which README documented, still opens the torch model."""
    import subprocess
    import sys

    from microfuse_cli import trained

    code = ("import sys, microfuse_cli; model = microfuse_cli.load_model(None); "
            "print(type(model).__name__, 'torch' in sys.modules)")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert loaded.stdout.split() == ["FusionHead", "False"], loaded.stderr
    torch_model = trained.load_torch_model(DEFAULT_MODEL)
    assert isinstance(torch_model, trained.TrainedModel) and torch_model.identity == load_model(None).identity
    assert trained.load_model is trained.load_torch_model


def _padded_config(folder, size):
    """The folder's config.json made ``size`` bytes long with whitespace: the same valid JSON document."""
    text = (folder / "config.json").read_bytes().rstrip()
    (folder / "config.json").write_bytes(text[:-1] + b" " * (size - len(text)) + b"}")


CONFIGS_NO_MODEL_READS = {  # config.json bytes -> the one line both loaders answer with
    "nested 100,000 deep": (b"[" * 100_000, "not valid JSON (RecursionError)"),  # was an internal RecursionError
    "integer of 5,000 digits": (b'{"format": 1' + b"0" * 5000 + b"}", "not valid JSON (ValueError)"),  # int limit
    "valid JSON past the size cap": (None, "over 16 MiB"),  # was read whole: a 2 GB config held 4 GB
}


@pytest.mark.parametrize("case", CONFIGS_NO_MODEL_READS)
def test_config_no_model_could_have_is_one_line_error(case, tmp_path):
    from microfuse_cli import trained

    data, message = CONFIGS_NO_MODEL_READS[case]
    folder = _model_folder(tmp_path)
    if data is None:
        _padded_config(folder, checkpoint.MAX_CONFIG_BYTES + 1)
        assert json.loads((folder / "config.json").read_text())["format"] == checkpoint.FORMAT
    else:
        (folder / "config.json").write_bytes(data)
    for loader in (load_model, trained.load_torch_model, checkpoint.read_inputs):
        with pytest.raises(DataError) as caught:
            loader(folder)
        assert message in str(caught.value) and str(folder / "config.json") in str(caught.value)
        assert "\n" not in str(caught.value)


def test_config_within_the_size_cap_is_read(tmp_path):
    """The cap refuses what no model writes, not a config padded to just under it."""
    folder = _model_folder(tmp_path)
    _padded_config(folder, checkpoint.MAX_CONFIG_BYTES)
    assert read_checkpoint(folder).inputs == read_checkpoint(DEFAULT_MODEL).inputs


def _tiny_std(arrays):
    arrays["protein_std"] = arrays["protein_std"].copy()
    arrays["protein_std"][0] = 1e-45  # > 0, as the loader checks, yet x / std overflows float32


def test_weights_that_overflow_give_an_error_not_nan_calls(mg_views, tmp_path):
    """Finite weights that overflow float32 on real views made NaN probabilities (NaN is no operon at every
    threshold: silently wrong calls) and NaN fused vectors; both loaders' models refuse them."""
    from microfuse_cli import trained

    pairs, embeddings = mg_views
    folder = _model_folder(tmp_path, lambda c: c.__setitem__("decision", None), _tiny_std)
    model = load_model(folder)
    x_protein, x_context = embeddings.pair_views(pairs, list(model.inputs.context_features))
    for loaded in (model, trained.load_torch_model(folder)):
        for fused in (False, True):
            with pytest.raises(DataError, match=r"NaN or infinite outputs for \d+ of 475 pairs"):
                loaded.predict(x_protein, x_context, fused=fused)
    assert np.isfinite(load_model(DEFAULT_MODEL).predict(x_protein, x_context).probability).all()


def test_distance_model_that_overflows_gives_an_error_not_nan():
    from microfuse_cli.baseline import DistanceBaseline

    model = DistanceBaseline(weight=np.array([0.0, 1.0]), bias=0.0, feature_mean=np.zeros(2),
                             feature_std=np.array([1e-308, 1.0]), uses_strand=True)  # a spacer > 0: inf * 0
    with pytest.raises(DataError, match="NaN or infinite outputs for 1 of 2 pairs"):
        model.predict(np.array([100.0, 0.0]), np.array([1, 0]))


def test_model_reading_only_calibration_or_unknown_columns_is_scored_or_named(mg_views, tmp_path):
    """Context columns with no builtin pair feature among them made np.stack of nothing (an internal error): the
    calibration columns alone are computed, and a column no view has is the one-line 'lack' error."""
    from microfuse_cli import read_genome
    from microfuse_cli.embed import builtin_pair_features

    pairs, _ = mg_views
    matrix = builtin_pair_features(read_genome(GFF, FNA), pairs, ["spacer_llr"])
    assert matrix.shape == (len(pairs), 1) and np.isfinite(matrix).all() and matrix.std() > 0
    config = json.loads((DEFAULT_MODEL / "config.json").read_text())
    config["inputs"]["context_features"] = ["no_such_column"]
    assert _score_with_config(tmp_path, config) == [
        "error: the embeddings lack context feature(s) no_such_column that the model uses (computed with other "
        "views or an older microfuse?)"]
