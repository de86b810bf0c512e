"""Which model and which decision rule made an output: ``model_id`` (weights and inputs: what fused vectors depend
on) and ``decision_id`` (the rule that turns probabilities into calls), in every header, in `evaluate` and on the
model objects."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest

from conftest import MPN_FNA, MPN_GFF, MPN_PAIRS, PANEL, run_cli

from microfuse_cli.score import DEFAULT_MODEL, load_model

MG = PANEL / "GCF_000027325.1_ASM2732v1_genomic"


def copy_with_posterior_threshold(folder, threshold: float):
    """The shipped default in ``folder``, its decision rule's posterior threshold set to ``threshold``."""
    shutil.copytree(DEFAULT_MODEL, folder)
    config = json.loads((folder / "config.json").read_text())
    config["decision"]["posterior_threshold"] = threshold
    (folder / "config.json").write_text(json.dumps(config, indent=2, sort_keys=True))
    return folder


def header_fields(line: str) -> dict[str, str]:
    return dict(word.split("=", 1) for word in line.split() if "=" in word)


def microfuse_line(path) -> str:
    return next(line for line in path.read_text().splitlines() if line.lstrip("# ").startswith("microfuse "))


def test_two_rules_of_one_model_share_model_id_and_differ_in_decision_id(tmp_path):
    """The default and a copy whose rule cuts at posterior 0.5 instead of 0.35: the same weights (model_id, which
    retrieval compares), other calls on M. genitalium (its cut-off 24 bp instead of 28), so another decision_id,
    last on the '#microfuse' line of the scores TSV, the operon GFF3 (still valid) and the operon TSV."""
    strict = copy_with_posterior_threshold(tmp_path / "strict", 0.5)
    seen = {}
    for name, args in (("default", []), ("strict", ["-m", strict])):
        out = {kind: tmp_path / f"{name}.{kind}" for kind in ("tsv", "gff3", "operons.tsv")}
        code, _, err = run_cli(["score", f"{MG}.gff.gz", "--fasta", f"{MG}.fna.gz", *args, "-o", out["tsv"],
                                "--operons-gff", out["gff3"], "--operons-tsv", out["operons.tsv"]])
        assert code == 0, err
        lines = {kind: microfuse_line(path) for kind, path in out.items()}
        assert lines["gff3"] == f"# {lines['tsv'][1:]}" and lines["operons.tsv"] == lines["tsv"]
        assert list(header_fields(lines["tsv"]))[-2:] == ["model_id", "decision_id"]
        check = subprocess.run(["gt", "gff3validator", str(out["gff3"])], capture_output=True, text=True)
        assert check.returncode == 0, check.stderr
        seen[name] = header_fields(lines["tsv"]), out["tsv"].read_text()
    (default, default_text), (other, other_text) = seen["default"], seen["strict"]
    assert default["model_id"] == other["model_id"] == load_model(None).identity
    assert default["decision_id"] == load_model(None).decision_identity
    assert other["decision_id"] == load_model(strict).decision_identity != default["decision_id"]
    assert "cutoff_bp=28 " in default_text and "cutoff_bp=24 " in other_text  # the calls do differ


@pytest.fixture(scope="module")
def mpn_tables(tmp_path_factory):
    """M. pneumoniae scored with labels by the default and by a folder also named `default` whose rule differs."""
    work = tmp_path_factory.mktemp("versions")
    other = copy_with_posterior_threshold(work / "older" / "default", 0.5)
    tables = {}
    for name, args in (("shipped", []), ("other", ["-m", other])):
        tables[name] = work / f"{name}.tsv"
        code, _, err = run_cli(["score", MPN_GFF, "--fasta", MPN_FNA, "--labels", MPN_PAIRS, *args,
                                "-o", tables[name], "-q"])
        assert code == 0, err
    return tables


def metric_rows(path) -> list[dict[str, str]]:
    header, *rows = [line.split("\t") for line in path.read_text().splitlines()]
    return [dict(zip(header, row)) for row in rows]


def test_evaluate_names_each_tables_model_and_says_when_one_is_another_version(mpn_tables, tmp_path):
    """Each row names the model, its model_id (12 hex) and decision_id from the table's header (in full in
    --json), and two tables of one model name made by two versions of it are said in one warning; a user's own
    folder named `default` (model_from=folder) is not taken for another version of the packaged default."""
    shipped = load_model(None)
    metrics, as_json = tmp_path / "m.tsv", tmp_path / "m.json"
    code, _, err = run_cli(["evaluate", mpn_tables["shipped"], mpn_tables["other"], "--bootstrap", "0",
                            "-o", metrics, "--json", as_json, "-q"])
    assert code == 0, err
    rows = metric_rows(metrics)
    assert list(rows[0])[-3:] == ["model_name", "model_id", "decision_id"]  # after the existing columns
    assert [(r["model"], r["model_name"], r["model_id"]) for r in rows] == [
        ("shipped.tsv", "default", shipped.identity[:12]), ("other.tsv", "default", shipped.identity[:12])]
    other_rule = header_fields(microfuse_line(mpn_tables["other"]))["decision_id"]
    assert [r["decision_id"] for r in rows] == [shipped.decision_identity, other_rule]
    assert rows[0]["decision_id"] != rows[1]["decision_id"] and rows[0]["accuracy"] != rows[1]["accuracy"]
    assert [r["model_id"] for r in json.loads(as_json.read_text())] == [shipped.identity] * 2
    warnings = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert len(warnings) == 1, err
    assert "shipped.tsv and other.tsv were scored by two models both named 'default'" in warnings[0]
    assert "not this microfuse's default" not in err


def test_evaluate_says_when_a_table_of_the_packaged_default_is_another_version_of_it(mpn_tables, tmp_path):
    """model_from=package with another decision_id than this installation's default (the default of another
    microfuse) draws one warning naming both; an older table that does not say where its `default` came from is
    compared too, in words that say it may be a folder of that name; a user's folder named `default`, never."""
    shipped = load_model(None)
    line = microfuse_line(mpn_tables["shipped"])
    assert header_fields(line)["model_from"] == "package"
    assert header_fields(microfuse_line(mpn_tables["other"]))["model_from"] == "folder"
    elsewhere = line.replace(shipped.decision_identity, "0" * 16)
    tables = {"packaged": elsewhere, "older": elsewhere.replace(" model_from=package", "")}
    for name, new_line in tables.items():
        tables[name] = tmp_path / f"{name}.tsv"
        tables[name].write_text(mpn_tables["shipped"].read_text().replace(line, new_line, 1))
        code, _, err = run_cli(["evaluate", tables[name], mpn_tables["other"], "--bootstrap", "0",
                                "-o", tmp_path / f"{name}.metrics.tsv"])
        assert code == 0, err
        warnings = [w for w in err.splitlines() if "not this microfuse's default" in w]
        assert len(warnings) == 1 and warnings[0].startswith(f"warning: {name}.tsv was scored by "), err
        assert f"decision_id {'0' * 16}" in warnings[0] and f"decision_id {shipped.decision_identity}" in warnings[0]
    code, _, err = run_cli(["evaluate", tables["older"], "--bootstrap", "0", "-o", tmp_path / "o.tsv"])
    assert "or a folder of that name: its line does not say" in err
    code, _, err = run_cli(["evaluate", tables["packaged"], "--bootstrap", "0", "-o", tmp_path / "p.tsv"])
    assert "scored by the packaged default of another microfuse, not this microfuse's default" in err


def test_a_users_threshold_makes_another_decision_id_and_the_header_says_so(mpn_tables, tmp_path):
    """`score --threshold 0.9` on the default: other calls, so the decision_id of the default's rule cut at 0.9
    (not the model's own), and threshold_from=user, in the header and in --report; at 0.5, the model's own cut, the
    model's decision_id; evaluate does not take the user's cut for another version of the default."""
    from microfuse_cli.checkpoint import decision_identity

    shipped = load_model(None)
    seen = {}
    for cut in ("0.9", "0.5"):
        out, report = tmp_path / f"at{cut}.tsv", tmp_path / f"at{cut}.html"
        code, _, err = run_cli(["score", MPN_GFF, "--fasta", MPN_FNA, "--labels", MPN_PAIRS, "--threshold", cut,
                                "-o", out, "-q", *(["--report", report] if cut == "0.9" else [])])
        assert code == 0, err
        seen[cut] = header_fields(microfuse_line(out)), out
    own = header_fields(microfuse_line(mpn_tables["shipped"]))
    strict, same = seen["0.9"][0], seen["0.5"][0]
    assert own["threshold_from"] == "model" and strict["threshold_from"] == same["threshold_from"] == "user"
    assert strict["threshold"] == "0.9000" and strict["model_id"] == own["model_id"] == shipped.identity
    assert strict["decision_id"] == decision_identity(shipped.decision, shipped.threshold, cut=0.9)
    assert strict["decision_id"] != own["decision_id"] == same["decision_id"] == shipped.decision_identity
    assert strict["decision_id"] in (tmp_path / "at0.9.html").read_text()  # the report names the rule used too
    assert shipped.decision_identity not in (tmp_path / "at0.9.html").read_text()
    calls = {cut: sum(r["operon_pair"] == "1" for r in metric_rows_after_comments(path)) for cut, (_, path) in
             seen.items()}
    assert calls["0.9"] < calls["0.5"]  # the calls do differ
    assert decision_identity(None, 0.5, cut=0.4) == decision_identity(None, 0.4)  # a rule-less model cut at 0.4
    code, _, err = run_cli(["evaluate", mpn_tables["shipped"], seen["0.9"][1], "--bootstrap", "0",
                            "-o", tmp_path / "m.tsv"])
    assert code == 0 and "warning" not in err, err


def metric_rows_after_comments(path) -> list[dict[str, str]]:
    header, *rows = [line.split("\t") for line in path.read_text().splitlines() if not line.startswith("#")]
    return [dict(zip(header, row)) for row in rows]


def test_evaluate_of_one_version_or_of_tables_recording_no_rule_warns_of_nothing(mpn_tables, tmp_path):
    """The shipped default's table alone draws no warning; a table of an older microfuse (no decision_id on its
    line) or made by hand (no '#microfuse' line) is evaluated with what it records, the rest left empty."""
    text = mpn_tables["shipped"].read_text()
    older, by_hand = tmp_path / "older.tsv", tmp_path / "by_hand.tsv"
    line = text.splitlines()[0]
    older.write_text(text.replace(line, line.rsplit(" decision_id=", 1)[0], 1))
    by_hand.write_text("\n".join(row for row in text.splitlines() if not row.startswith("#")) + "\n")
    metrics = tmp_path / "m.tsv"
    code, _, err = run_cli(["evaluate", mpn_tables["shipped"], older, by_hand, "--bootstrap", "0", "-o", metrics])
    assert code == 0, err
    assert "warning" not in err
    rows = metric_rows(metrics)
    shipped = load_model(None)
    assert [(r["model_name"], r["model_id"], r["decision_id"]) for r in rows] == [
        ("default", shipped.identity[:12], shipped.decision_identity), ("default", shipped.identity[:12], ""),
        ("", "", "")]
    assert f"default {shipped.identity[:12]} {shipped.decision_identity}" in err  # the terminal table too


def test_every_kind_of_model_takes_decision_identity_from_one_definition():
    """A fusion head, the torch-backed model and a distance baseline name their rule by one property (it was three
    copies, with three docstrings, that could drift apart); the distance baseline's follows its threshold."""
    from microfuse_cli.baseline import DistanceBaseline
    from microfuse_cli.checkpoint import DecisionIdentified, decision_identity
    from microfuse_cli.fusion import FusionHead
    from microfuse_cli.trained import TrainedModel

    assert {vars(DecisionIdentified)["decision_identity"]} == {
        kind.decision_identity for kind in (FusionHead, TrainedModel, DistanceBaseline)}
    import dataclasses

    import numpy as np

    fitted = DistanceBaseline.fit(np.array([10.0, 20.0, 300.0, 400.0]), np.array([1, 1, 0, 0]), np.ones(4, bool))
    stricter = dataclasses.replace(fitted, threshold=0.9)
    assert fitted.decision is None and stricter.decision_identity == decision_identity(None, 0.9) != (
        fitted.decision_identity)


def test_identities_of_the_shipped_model_are_one_across_loaders_and_save_and_load(tmp_path):
    """The numpy head `score` loads and the torch model of the library name the shipped default alike, before and
    after saving; another rule (``with_decision``) changes decision_identity only; a rule built with integers has
    the identity it has once saved as JSON and read back as floats."""
    import dataclasses

    from microfuse_cli import trained
    from microfuse_cli.calibration import DecisionRule
    from microfuse_cli.checkpoint import decision_identity

    head, torch_model = load_model(None), trained.load_torch_model(DEFAULT_MODEL)
    identities = (head.identity, head.decision_identity)
    assert (torch_model.identity, torch_model.decision_identity) == identities
    saved = trained.load_torch_model(torch_model.save(tmp_path / "again"))
    assert (saved.identity, saved.decision_identity) == identities == (
        load_model(tmp_path / "again").identity, load_model(tmp_path / "again").decision_identity)
    looser = torch_model.with_decision(dataclasses.replace(torch_model.decision, own_interval=0.5))
    assert looser.identity == head.identity and looser.decision_identity != head.decision_identity
    by_hand = DecisionRule(1, 100, 0, 2, 0, ("a",))
    assert decision_identity(by_hand, 0.5) == decision_identity(
        DecisionRule.from_dict(json.loads(json.dumps(by_hand.to_dict()))), 0.5)
    assert decision_identity(None, 0.5) != decision_identity(None, 0.4) != decision_identity(by_hand, 0.4)


def test_evaluate_plots_name_the_models_of_the_tables_they_draw(mpn_tables, tmp_path):
    """--plots PNGs record in their Description the model each table's header names: roc.png both tables, each
    table's own figures its own (the folder named `default` with its own decision_id)."""
    from PIL import Image

    figs = tmp_path / "figs"
    code, _, err = run_cli(["evaluate", mpn_tables["shipped"], mpn_tables["other"], "--bootstrap", "0",
                            "-o", tmp_path / "m.tsv", "--plots", figs, "-q"])
    assert code == 0, err
    shipped = load_model(None)
    other_rule = header_fields(microfuse_line(mpn_tables["other"]))["decision_id"]
    mine = f"model default (model_id {shipped.identity[:12]}, decision_id {{}})"
    described = {name: Image.open(figs / name).text.get("Description") for name in
                 ("roc.png", "shipped.tsv.threshold_sweep.png", "other.tsv.calibration.png")}
    version = microfuse_line(mpn_tables["shipped"]).split()[1]
    assert described["roc.png"] == (f"shipped.tsv: scores by microfuse {version}, "
                                    f"{mine.format(shipped.decision_identity)}; other.tsv: scores by microfuse "
                                    f"{version}, {mine.format(other_rule)}")
    assert described["shipped.tsv.threshold_sweep.png"].endswith(mine.format(shipped.decision_identity))
    assert described["other.tsv.calibration.png"].endswith(mine.format(other_rule))


@pytest.mark.parametrize("cut", [None, 0.3])
def test_scores_of_score_genome_carry_the_ids_the_cli_header_writes(cut, tmp_path):
    """score_genome's Scores name the model used and the rule at the cut applied (the default's own; a user's 0.3,
    another decision_id): the same model_id and decision_id as `score` writes for that run, and the library's
    header (header_comments without ids) then writes the CLI's '#microfuse' line and scores TSV byte for byte."""
    import io

    from microfuse_cli import UsageError, read_genome, score_genome
    from microfuse_cli.io.tables import write_scores
    from microfuse_cli.score import Scores, header_comments

    out = tmp_path / "cli.tsv"
    code, _, err = run_cli(["score", f"{MG}.gff.gz", "--fasta", f"{MG}.fna.gz", "-o", out,
                            *([] if cut is None else ["--threshold", str(cut)])])
    assert code == 0, err
    cli = header_fields(microfuse_line(out))
    genome = read_genome(f"{MG}.gff.gz", f"{MG}.fna.gz")
    scores = score_genome(genome, None, threshold=cut)
    assert (scores.model_id, scores.decision_id) == (cli["model_id"], cli["decision_id"])
    shipped = load_model(None)
    assert scores.model_id == shipped.identity
    assert (scores.decision_id == shipped.decision_identity) == (cut is None)  # a user's cut: another rule's id
    written = io.StringIO()
    write_scores(written, scores, None, header_comments(scores, "default", model_from="package",
                                                       threshold_from="model" if cut is None else "user",
                                                       genome=genome))
    assert written.getvalue() == out.read_text()
    with pytest.raises(UsageError, match="pass header_comments its model_id and decision_id"):
        header_comments(Scores(scores.pairs, scores.probability, scores.threshold), "default")  # built by hand
