"""Model folders: read once per score, the input contract typed, malformed contracts refused in one line."""

from __future__ import annotations

import json
import shutil

from conftest import ROOT, run_cli
from microfuse_cli import checkpoint
from microfuse_cli.checkpoint import ModelInputs, read_checkpoint
from microfuse_cli.score import DEFAULT_MODEL, load_model

GFF = ROOT / "examples" / "data" / "mgenitalium_g37.gff.gz"
FNA = ROOT / "examples" / "data" / "mgenitalium_g37.fna.gz"


def test_default_model_inputs_round_trip_through_its_config():
    extra = json.loads((DEFAULT_MODEL / "config.json").read_text())["extra"]
    inputs = read_checkpoint(DEFAULT_MODEL).inputs
    assert inputs.views == {"protein": "builtin", "context": "builtin"}
    assert inputs.context_features and "dist_clip" in inputs.context_features
    assert inputs.dim("pair_context") == len(inputs.context_features)
    assert {k: extra[k] for k in ("views", "input_dims", "context_features")} == inputs.to_extra()
    assert ModelInputs.from_extra(inputs.to_extra()) == inputs


def test_load_model_reads_the_folder_once(monkeypatch):
    reads = []
    original = checkpoint._read_weights
    monkeypatch.setattr(checkpoint, "_read_weights", lambda path: reads.append(path) or original(path))
    model = load_model(None)
    assert len(reads) == 1 and model.inputs == read_checkpoint(DEFAULT_MODEL).inputs


def test_malformed_input_contract_is_one_line_error(tmp_path):
    folder = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL, folder)
    config = json.loads((folder / "config.json").read_text())
    config["extra"]["context_features"] = "dist_clip"  # a string, not a list of columns
    (folder / "config.json").write_text(json.dumps(config))
    code, out, err = run_cli(["score", GFF, "--fasta", FNA, "-m", folder, "-o", tmp_path / "s.tsv"])
    assert code == 1 and out == ""
    errors = [line for line in err.splitlines() if line.startswith("error:")]  # after the genome's info line
    assert errors == [f"error: {folder / 'config.json'}: 'context_features' must be a list of column names"]
    assert "Traceback" not in err
    assert not (tmp_path / "s.tsv").exists()
