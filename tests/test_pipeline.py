"""embed -> train -> score -> evaluate through the CLI on real genomes, and the contracts between stages."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
import shutil
import subprocess

import numpy as np
import pytest

from conftest import ECOLI_FNA, ECOLI_GFF, ECOLI_ODB, PANEL, run_cli

from microfuse_cli import __version__
from microfuse_cli.io.model_id import threshold_text
from microfuse_cli.score import DEFAULT_MODEL, load_model


def model_threshold(work) -> float:
    return json.loads((work / "model" / "config.json").read_text())["threshold"]

MG_GFF = PANEL / "GCF_000027325.1_ASM2732v1_genomic.gff.gz"
MG_FNA = PANEL / "GCF_000027325.1_ASM2732v1_genomic.fna.gz"


@pytest.fixture(scope="module")
def mg_embeddings(tmp_path_factory, mg_embedded):
    """`embed` of M. genitalium G37 (the session's run of the CLI), this module's own copy."""
    out = tmp_path_factory.mktemp("mg") / "emb"
    shutil.copytree(mg_embedded, out)
    return out


@pytest.fixture(scope="module")
def ecoli_trained(tmp_path_factory):
    """A short training run on E. coli's known operons (the real recipe, fewer epochs: three reach a test AUROC of
    0.945, five 0.947, eight 0.955; the test asks > 0.93, which an untrained or broken head is far below)."""
    work = tmp_path_factory.mktemp("ecoli")
    pairs, emb, model = work / "pairs.tsv", work / "emb", work / "model"
    code, _, err = run_cli(["pairs", ECOLI_GFF, "--fasta", ECOLI_FNA, "--operons", ECOLI_ODB,
                            "--split", "0.7,0.15,0.15", "-o", pairs])
    assert code == 0, err
    code, _, err = run_cli(["embed", ECOLI_GFF, "--fasta", ECOLI_FNA, "-o", emb, "-t", "2"])
    assert code == 0, err
    code, _, err = run_cli(["train", pairs, "-e", emb, "-o", model, "--epochs", "3", "--patience", "3"])
    assert code == 0, err
    return work


def test_embed_folder_layout(mg_embeddings):
    from microfuse_cli.embed import Embeddings

    manifest = json.loads((mg_embeddings / "manifest.json").read_text())
    assert manifest["views"] == {"protein": "builtin", "context": "builtin"}
    emb = Embeddings.load(mg_embeddings)
    assert emb.protein.shape[0] == len(emb.gene_ids) == 476
    assert emb.pair_context.shape[0] == len(emb.pair_ids)
    assert np.isfinite(np.asarray(emb.protein)).all() and np.isfinite(np.asarray(emb.pair_context)).all()


def test_embeddings_checksum_detects_tampering(mg_embeddings, tmp_path):
    from microfuse_cli.embed import Embeddings
    from microfuse_cli.errors import DataError

    copy = tmp_path / "emb"
    shutil.copytree(mg_embeddings, copy)
    array = np.load(copy / "protein.npy")
    array[0, 0] += 1
    np.save(copy / "protein.npy", array)
    with pytest.raises(DataError, match="checksum"):
        Embeddings.load(copy)


@pytest.mark.parametrize("mmap", [True, False])
def test_embeddings_swapped_after_checksum_are_not_read(mg_embeddings, tmp_path, monkeypatch, mmap):
    """An array file renamed into the folder after its checksum was checked and before it was read (another run's,
    another folder's) was loaded in its place: the folder was hashed by path, then read by path again. Each file is
    read (or mapped) from the handle that was hashed, so the arrays are the checked ones."""
    from microfuse_cli import manifest as manifest_module
    from microfuse_cli.embed import Embeddings

    folder = tmp_path / "emb"
    shutil.copytree(mg_embeddings, folder)
    checked = np.load(folder / "protein.npy")
    other = checked.copy()
    other[0] += 1
    np.save(tmp_path / "other.npy", other)
    real, swapped = manifest_module.check_files, []

    def check_then_swap(*args, **kwargs):
        real(*args, **kwargs)
        if kwargs["verify"] and not swapped:  # the checksums have just been checked
            os.replace(tmp_path / "other.npy", folder / "protein.npy")
            swapped.append(True)

    monkeypatch.setattr(manifest_module, "check_files", check_then_swap)
    emb = Embeddings.load(folder, mmap=mmap)
    assert swapped and np.array_equal(np.asarray(emb.protein), checked)


@pytest.mark.parametrize("name", ["protein.npy", "genes.tsv"])
def test_embeddings_with_a_folder_in_place_of_a_listed_file_say_it_is_missing(mg_embeddings, tmp_path, name):
    """A folder where the manifest lists a file (a file renamed away and a folder made in its place) said 'missing
    NAME (listed in manifest.json)'; opened once for hashing (manifest.open_listed), its descriptor's open() raised
    'Is a directory: 3', naming the descriptor's number, not the file. It is said as before."""
    from microfuse_cli.embed import Embeddings
    from microfuse_cli.errors import DataError

    folder = tmp_path / "emb"
    shutil.copytree(mg_embeddings, folder)
    (folder / name).unlink()
    (folder / name).mkdir()
    with pytest.raises(DataError, match=rf"^{re.escape(str(folder))}: missing {re.escape(name)} \(listed in "
                                        r"manifest.json\)$"):
        Embeddings.load(folder)


def test_train_score_evaluate_on_ecoli(ecoli_trained):
    work = ecoli_trained
    scores, gff, tsv, fused = work / "scores.tsv", work / "operons.gff3", work / "operons.tsv", work / "fused.npy"
    code, _, err = run_cli(["score", work / "pairs.tsv", "-e", work / "emb", "-m", work / "model", "-o", scores,
                            "--fasta", ECOLI_FNA, "--operons-gff", gff, "--operons-tsv", tsv, "--fused", fused])
    assert code == 0, err
    comments = [line for line in scores.read_text().splitlines() if line.startswith("#")]
    model = load_model(work / "model")  # the name alone cannot tell two folders called `model` apart
    identity = model.identity
    assert comments == [f"#microfuse {__version__} model=model threshold={threshold_text(model_threshold(work))} "
                        f"model_from=folder threshold_from=model model_id={identity} "
                        f"decision_id={model.decision_identity}",
                        "#genes source=annotation genetic_code=11"]  # the pairs TSV's: how its genes were found
    assert f"# {comments[0][1:]}" in gff.read_text().splitlines() and tsv.read_text().startswith(comments[0] + "\n")
    header = scores.read_text().splitlines()[len(comments)].split("\t")
    assert header[-6:] == ["probability", "operon_pair", "w_protein", "w_context", "w_agreement", "w_conflict"]
    assert scores.read_text().count("\n") == 4289 + len(comments)
    vectors = np.load(fused)
    model_line, header = (work / "fused.ids.tsv").read_text().splitlines()[:2]
    assert vectors.shape[0] == 4288 and header.startswith("pair_id\tscaffold\tgenome")
    assert model_line == (f"#microfuse {__version__} model_id={identity} "  # retrieve never mixes two models' vectors
                          f"vectors_sha256={hashlib.sha256(fused.read_bytes()).hexdigest()} "  # nor two runs' files
                          f"vectors_shape={vectors.shape[0]}x{vectors.shape[1]}")
    metrics = work / "metrics.tsv"
    code, _, err = run_cli(["evaluate", scores, "--split", "test", "-o", metrics, "--bootstrap", "100",
                            "--plots", work / "plots", "--json", work / "metrics.json"])
    assert code == 0, err
    row = dict(zip(*[line.split("\t") for line in metrics.read_text().splitlines()]))
    assert float(row["auroc"]) > 0.93 and float(row["distance_auroc"]) > 0.9
    assert (work / "plots" / "roc.png").stat().st_size > 1000
    operons = [line for line in tsv.read_text().splitlines() if not line.startswith("#")][1:]
    assert len(operons) > 300
    thr = [o for o in operons if "b0002,b0003,b0004" in o.split("\t")[6]]
    assert thr, "the thrABC operon should be called"


def test_operons_gff_validates_with_genometools(ecoli_trained):
    gff = ecoli_trained / "operons.gff3"
    if not gff.exists():
        test_train_score_evaluate_on_ecoli(ecoli_trained)
    result = subprocess.run(["gt", "gff3validator", str(gff)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    text = gff.read_text()
    assert text.startswith("##gff-version 3\n") and "##sequence-region NC_000913.3 1 4641652" in text
    assert "\toperon\t" in text and "genes=" in text and "Ontology_term=SO:0000178" in text


def test_score_refuses_embeddings_of_other_views(ecoli_trained, tmp_path):
    from microfuse_cli.embed import Embeddings

    emb = Embeddings.load(ecoli_trained / "emb")
    emb = dataclasses.replace(emb, manifest={**emb.manifest, "views": {"protein": "prostt5", "context": "builtin"}})
    emb.save(tmp_path / "emb")
    code, _, err = run_cli(["score", ecoli_trained / "pairs.tsv", "-e", tmp_path / "emb", "-m",
                            ecoli_trained / "model"])
    assert code == 1 and "views" in err


def test_distance_baseline_trains_and_scores(ecoli_trained):
    model = ecoli_trained / "distance"
    code, _, err = run_cli(["train", ecoli_trained / "pairs.tsv", "-e", ecoli_trained / "emb", "-o", model,
                            "--arch", "distance"])
    assert code == 0, err
    code, out, err = run_cli(["score", ecoli_trained / "pairs.tsv", "-e", ecoli_trained / "emb", "-m", model])
    assert code == 0, err
    assert out.startswith("#microfuse ") and out.count("\n") == 4289 + 2  # the model's and the genes' lines: no
    assert out.splitlines()[1] == "#genes source=annotation genetic_code=11"  # calibration line without a
    # per-genome rule
    # with a per-genome rule, as the fusion head: learned on E. coli's labels alone (whose set wants 67 bp), the
    # cut-off moves down from the genome's own 119 bp only to the bottom of its own interval (104 bp)
    code, _, err = run_cli(["train", ecoli_trained / "pairs.tsv", "-e", ecoli_trained / "emb", "-o", model,
                            "--arch", "distance", "--per-genome-rule"])
    assert code == 0, err
    code, out, err = run_cli(["score", ecoli_trained / "pairs.tsv", "-e", ecoli_trained / "emb", "-m", model,
                              "--fasta", ECOLI_FNA])
    assert code == 0, err
    lines = out.splitlines()
    assert lines[1] == "#genes source=annotation genetic_code=11"
    assert lines[2].startswith("#calibration operon_fraction=0.686 cutoff_bp=104 own_cutoff_bp=119 ")
    header = lines[3].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in lines[4:]]
    assert [r["operon_pair"] == "1" for r in rows] == [r["same_strand"] == "1" and int(r["distance"]) <= 104
                                                        for r in rows]


def test_two_models_of_one_name_are_told_apart_in_the_scores(ecoli_trained, tmp_path):
    """Two folders called `model` (a fusion head, a distance baseline): the header's model= was all a scores TSV
    said of its model, the same for both. The baseline has tensors as the head does, so it gets an identity too,
    the same computed before saving as after loading."""
    from microfuse_cli.baseline import DistanceBaseline

    work, other = ecoli_trained, tmp_path / "other" / "model"
    code, _, err = run_cli(["train", work / "pairs.tsv", "-e", work / "emb", "-o", other, "--arch", "distance"])
    assert code == 0, err
    first_lines = []
    for model in (work / "model", other):
        code, out, err = run_cli(["score", work / "pairs.tsv", "-e", work / "emb", "-m", model])
        assert code == 0, err
        first_lines.append(out.splitlines()[0].split())
    assert [words[2] for words in first_lines] == ["model=model", "model=model"]
    ids = [words[-2] for words in first_lines]  # then decision_id=, the field added last
    assert ids[0] != ids[1] and all(i.startswith("model_id=") and len(i) == len("model_id=") + 64 for i in ids)
    baseline = DistanceBaseline.load(other)
    assert ids == [f"model_id={load_model(work / 'model').identity}", f"model_id={baseline.identity}"]
    saved_again = baseline.save(tmp_path / "again")
    assert DistanceBaseline.load(saved_again).identity == baseline.identity


def test_score_is_byte_identical_across_runs(ecoli_trained, tmp_path):
    outputs = []
    for i in range(2):
        out = tmp_path / f"s{i}.tsv"
        code, _, err = run_cli(["score", ecoli_trained / "pairs.tsv", "-e", ecoli_trained / "emb", "-m",
                                ecoli_trained / "model", "-o", out])
        assert code == 0, err
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


def test_manpage_is_current():
    from pathlib import Path

    from microfuse_cli.manpage import render

    page = Path(__file__).resolve().parents[1] / "man" / "microfuse.1"
    assert page.read_text() == render(), "regenerate: python -m microfuse_cli.manpage > man/microfuse.1"


def test_embed_for_a_model_computes_only_what_it_reads(tmp_path):
    emb = tmp_path / "emb"
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", emb, "-m", "default"])
    assert code == 0, err
    manifest = json.loads((emb / "manifest.json").read_text())
    assert not any(n.startswith("term_") for n in manifest["context_columns"]["pair"])  # no RNA folding
    code, staged, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-e", emb])
    assert code == 0, err
    code, one_shot, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA])
    assert code == 0, err
    assert staged == one_shot


def test_model_named_default_is_the_packaged_one_in_embed_and_said_so_where_it_is_not(tmp_path, monkeypatch):
    """`embed -m default` is the packaged model, and `score -m default` a folder of that name: after the first, the
    second said only 'no such model folder: default'; it says the packaged model is score's without -m. A model
    folder named default (`train -o default`) was passed over by `embed -m default` without a word: it is said; any
    other folder of that name is no model `score -m default` would read (a rerun of `embed -m default -o default`
    was warned of its own output), and is not."""
    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-m", "default"])
    assert code == 1 and out == "" and err == ("error: no such model folder: default; the packaged model is score's "
                                               "without -m (`embed -m default` names it there)\n"), err
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", "emb", "-m", "default", "-q"])
    assert code == 0 and err == "", err
    (tmp_path / "default").mkdir()  # a folder of that name that holds no model (nor `embed -o default`'s output)
    for _ in range(2):
        code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", "default", "-m", "default", "-q"])
        assert code == 0 and err == "", err
    shutil.rmtree(tmp_path / "default")
    shutil.copytree(DEFAULT_MODEL, tmp_path / "default")  # a model trained with -o default
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-m", "default", "-o", "scores.tsv", "-q"])
    assert code == 0 and err == "", err  # the folder, for score
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", "emb", "-m", "default", "-q"])
    assert code == 0 and err == ("warning: -m default is the packaged model, not the folder default here (`score -m "
                                 "default` reads that one); give ./default for it\n"), err


def test_embed_says_a_foundation_model_option_no_view_loads(tmp_path):
    """`embed --protein-model ~/models/ProstT5` without --protein-view prostt5 (or -m of a builtin model) computed the
    builtin views and passed over the model, mistyped or missing, without a word: one warning names the options."""
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "emb", "-m", "default", "-q",
                            "--protein-model", tmp_path / "ProstT5", "--esm-model", "facebook/esm2_t12_35M_UR50D"])
    assert code == 0 and err == ("warning: --protein-model and --esm-model not used: the views computed are protein "
                                 "builtin, context builtin (--protein-model is ProstT5's, --context-model and "
                                 "--esm-model Bacformer's)\n"), err


def test_embed_says_a_view_option_that_the_model_overrules(tmp_path):
    """`embed -m MODEL --protein-view prostt5` computed the model's builtin views and dropped the option without a
    word (-m computes what its model reads), where an unused --protein-model or --device is warned of: one warning
    now names the views given and the model's. A view given that the model reads anyway is not warned of."""
    emb = tmp_path / "emb"
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", emb, "-m", "default", "-q",
                            "--protein-view", "prostt5", "--context-view", "bacformer, builtin"])
    assert code == 0 and err == ("warning: --protein-view prostt5 and --context-view bacformer, builtin not used: -m "
                                 "default computes the views its model reads (protein builtin, context builtin)\n"), err
    assert json.loads((emb / "manifest.json").read_text())["views"] == {"protein": "builtin", "context": "builtin"}
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", emb, "-m", "default", "-q",
                            "--protein-view", "builtin", "--context-view", " builtin"])
    assert code == 0 and err == "", err


def test_embed_says_nothing_of_a_foundation_model_option_a_computed_view_loads(monkeypatch):
    """The warning above names only options no view loads: with --protein-view prostt5 (or -m of a model on it) the
    ProstT5 folder is used, with bacformer in --context-view (alone or beside builtin) Bacformer's and ESM-2's are;
    it follows the models `embed` loads (ViewConfig.foundation_models), view by view."""
    from microfuse_cli.cli import embed as embed_cli
    from microfuse_cli.embed import ViewConfig

    said = []
    monkeypatch.setattr(embed_cli.log, "warning", lambda *args: said.append(args[1]))
    for protein, context in (("prostt5", "builtin"), ("builtin", "bacformer"), ("prostt5", "builtin,bacformer"),
                             ("builtin", "builtin")):
        config = ViewConfig.parse(protein, context)
        loaded = {spec.what for spec, _ in config.foundation_models()}
        said.clear()
        embed_cli._warn_models_unused(config, "pm", "cm", "em")
        unused = [option for option, name in (("--protein-model", "ProstT5"), ("--context-model", "Bacformer"),
                                              ("--esm-model", "ESM-2")) if name not in loaded]
        assert said == ([" and ".join(unused)] if unused else []), (protein, context, said)


def test_train_per_genome_rule_then_score_cuts_at_the_genomes_own_spacer(ecoli_trained, tmp_path):
    """`train --per-genome-rule` stores a DecisionRule; `score` then calls exactly the same-strand pairs within the
    genome's cut-off (E. coli: its own label-free 119 bp, moved toward what its labels want, 67 bp, but only as far
    as its own 90% interval allows: 104 bp) and writes both in the header."""
    work = ecoli_trained
    model, scores = tmp_path / "rule", tmp_path / "scores.tsv"
    code, _, err = run_cli(["train", work / "pairs.tsv", "-e", work / "emb", "-o", model, "--arch", "context",
                            "--epochs", "2", "--per-genome-rule"])
    assert code == 0, err
    decision = json.loads((model / "config.json").read_text())["decision"]
    assert decision["trained_on"] == ["pairs.tsv"] and decision["own_weight"] == 1.0 and decision["slope"] > 0
    code, _, err = run_cli(["score", work / "pairs.tsv", "-e", work / "emb", "-m", model, "-o", scores,
                            "--fasta", ECOLI_FNA])
    assert code == 0, err
    lines = scores.read_text().splitlines()
    ruled = load_model(model)
    assert lines[0] == (f"#microfuse {__version__} model=rule threshold=0.5000 model_from=folder "
                        f"threshold_from=model model_id={ruled.identity} decision_id={ruled.decision_identity}")
    assert lines[1] == "#genes source=annotation genetic_code=11"
    assert lines[2].startswith("#calibration operon_fraction=0.686 cutoff_bp=104 own_cutoff_bp=119 ")
    assert decision["posterior_threshold"] > 0.5 and decision["own_interval"] == 0.9
    header = lines[3].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in lines[4:]]
    calls = [r["operon_pair"] == "1" for r in rows]
    assert calls == [r["same_strand"] == "1" and int(r["distance"]) <= 104 for r in rows]


def test_retrieve_takes_threads_0_as_every_core_like_every_command(tmp_path):
    """`-t 0` is 'all cores' for every command; `retrieve build` and `retrieve` refused it ('threads must be >= 1,
    not 0'). With every core the index and the neighbours (M. genitalium's pairs among M. pneumoniae's and back)
    equal those with one."""
    from conftest import MPN_FNA, MPN_GFF, ROOT

    mg = ROOT / "examples/data/mgenitalium_g37"
    fused = []
    for name, gff, fna in (("mg", f"{mg}.gff.gz", f"{mg}.fna.gz"), ("mpn", MPN_GFF, MPN_FNA)):
        fused.append(tmp_path / f"{name}.npy")
        code, _, err = run_cli(["score", gff, "--fasta", fna, "--fused", fused[-1], "-o", tmp_path / f"{name}.tsv"])
        assert code == 0, err
    for threads in ("0", "1"):
        code, _, err = run_cli(["retrieve", "build", *fused, "--group-by", "genome", "-o", tmp_path / f"index{threads}",
                                "-t", threads])
        assert code == 0, err
    assert (tmp_path / "index0" / "manifest.json").read_text() == (tmp_path / "index1" / "manifest.json").read_text()
    found = [run_cli(["retrieve", "--index", tmp_path / "index0", "--k", "3", "-t", threads]) for threads in "01"]
    assert found[0] == found[1] and found[0][0] == 0
    assert len(found[0][1].splitlines()) > 3 * 1000  # ~480 + ~690 pairs, 3 neighbours each


def test_train_threads_are_a_parameter_and_put_back(tmp_path):
    """`train -t 2` called torch.set_num_threads(2) and left it so for the rest of the process (a Snakemake `run:`
    block, a notebook); the library's train had no threads parameter at all. Now training runs with the threads
    asked for and torch's setting is put back (M. pneumoniae's labelled pairs)."""
    import torch

    from conftest import MPN_FNA, MPN_GFF, MPN_PAIRS
    from microfuse_cli.fusion import FusionConfig
    from microfuse_cli.trained import TrainConfig
    from microfuse_cli.training import train
    from microfuse_cli.training_data import load_training_data

    pairs, proteins, emb = tmp_path / "pairs.tsv", tmp_path / "genes.faa", tmp_path / "emb"
    for args in (["pairs", MPN_GFF, "--fasta", MPN_FNA, "--labels", MPN_PAIRS, "--split", "0.7,0.15,0.15",
                  "--proteins", proteins, "-o", pairs],
                 ["embed", pairs, "--proteins", proteins, "--fasta", MPN_FNA, "-o", emb]):
        code, _, err = run_cli(args)
        assert code == 0, err
    before = torch.get_num_threads()
    code, _, err = run_cli(["train", pairs, "-e", emb, "-o", tmp_path / "model", "--epochs", "2", "-t", "2"])
    assert code == 0, err
    assert torch.get_num_threads() == before == 1  # conftest runs the tests on one thread

    data = load_training_data([pairs], [emb], 0.15, 0, "all")
    during = []
    model = train(data.x_protein, data.x_context, data.y, data.train, data.val, FusionConfig(hidden=16),
                  TrainConfig(max_epochs=2), lambda info: during.append(torch.get_num_threads()), threads=2)
    assert during == [2, 2] and torch.get_num_threads() == before
    assert 0.0 <= model.threshold <= 1.0


def test_a_genome_without_genes_gives_empty_outputs_not_a_failed_batch(tmp_path):
    """A 60-bp piece of M. genitalium (a bin of one tiny contig): pyrodigal calls no gene. `pairs` wrote a header
    alone, but microfuse refused to read it back ('no pairs'), `score` failed ('no genes') and one such genome
    failed a whole `embed A B` batch of the Snakemake workflow. Now every stage writes its empty output and warns."""
    import gzip

    fasta = gzip.decompress(MG_FNA.read_bytes()).decode()
    tiny = tmp_path / "tinybin.fna"
    tiny.write_text(f">tiny_contig\n{''.join(fasta.splitlines()[1:])[1000:1060]}\n")
    whole = tmp_path / "mg.gff"  # self-contained, as the workflow stages a genome for a batch
    whole.write_text(gzip.decompress(MG_GFF.read_bytes()).decode() + "##FASTA\n" + fasta)
    code, _, err = run_cli(["pairs", tiny, "-o", tmp_path / "tiny.tsv"])
    assert code == 0 and "0 protein-coding genes" in err, err
    code, _, err = run_cli(["embed", tiny, whole, "-o", tmp_path / "batch"])
    assert code == 0 and "warning: tinybin.fna: no genes; nothing to embed or score" in err, err
    assert sorted(p.name for p in (tmp_path / "batch").iterdir()) == ["mg", "tinybin"]
    code, out, err = run_cli(["score", tmp_path / "tiny.tsv", "-e", tmp_path / "batch" / "tinybin"])
    assert code == 0, err
    assert [line for line in out.splitlines() if not line.startswith("#")] == [out.splitlines()[-1]]  # header
    code, out, err = run_cli(["score", tiny, "--operons-gff", tmp_path / "o.gff3", "--fused", tmp_path / "f.npy"])
    assert code == 0 and "0 pairs scored" in err, err
    assert np.load(tmp_path / "f.npy").shape[0] == 0


def test_embed_several_annotations_each_with_its_fasta(tmp_path):
    """NCBI ships a GFF3 and its FASTA apart; several such genomes are given to one embed run as ANNOTATION,FASTA
    (as `reference build` takes them), each into its own folder. (--fasta is refused with several inputs, and the
    comma form was 'no such file': such genomes could only be embedded one run, one model load, at a time.)"""
    mj = "GCF_000091665.1_ASM9166v1_genomic"
    code, _, err = run_cli(["embed", f"{MG_GFF},{MG_FNA}", f"{PANEL / mj}.gff.gz,{PANEL / mj}.fna.gz",
                            "-o", tmp_path / "emb"])
    assert code == 0, err
    genes = {path.parent.name: len(path.read_text().splitlines()) - 1
             for path in (tmp_path / "emb").glob("*/genes.tsv")}
    assert genes == {"GCF_000027325.1_ASM2732v1_genomic": 476, mj: 1770}
    code, _, err = run_cli(["embed", f"{MG_GFF},{MG_FNA}", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "twice"])
    assert code == 2 and "--fasta" in err and "ANNOTATION,FASTA" in err
    bare = tmp_path / "bare.gff.gz"  # without its FASTA: told the form, not --fasta (refused with several inputs)
    shutil.copyfile(MG_GFF, bare)
    code, _, err = run_cli(["embed", f"{MG_GFF},{MG_FNA}", bare, "-o", tmp_path / "bare"])
    assert code == 1 and err.splitlines()[-1].endswith(f"as ANNOTATION,FASTA ({bare},genome.fna)"), err


def test_embed_of_an_annotation_and_its_fasta_as_two_inputs_is_told_to_join_them(tmp_path):
    """`embed genome.gff.gz genome.fna.gz -o emb` (the FASTA beside its GFF3, as Prodigal/Bakta users type it) was
    told only that both would be written to emb/genome and to rename one of them; the form it meant is named."""
    out = tmp_path / "emb"
    code, _, err = run_cli(["embed", MG_GFF, MG_FNA, "-o", out])
    assert code == 2 and err.splitlines()[0].endswith(
        f"give one of them another file name, or give a GFF3 and its FASTA as one INPUT, ANNOTATION,FASTA: "
        f"{MG_GFF},{MG_FNA}"), err
    assert not out.exists()
    code, _, err = run_cli(["embed", MG_GFF, tmp_path / MG_GFF.name, "-o", out])  # two annotations: no such hint
    assert code == 2 and err.splitlines()[0].endswith("give one of them another file name"), err


def test_evaluate_plots_roc_and_pr_of_tables_on_different_genomes(tmp_path):
    """Two genomes' score tables (here with OG-style labels) hold different pairs: one ROC of both cannot be
    drawn, and --plots silently drew none, though its help promises ROC and PR. Each table gets its own, beside
    its distance baseline."""
    mj = PANEL / "GCF_000091665.1_ASM9166v1_genomic"
    tables = []
    for name, gff, fna in (("mge", MG_GFF, MG_FNA), ("mja", f"{mj}.gff.gz", f"{mj}.fna.gz")):
        tables.append(tmp_path / f"{name}.tsv")
        code, _, err = run_cli(["score", gff, "--fasta", fna, "--label-rule", "og", "-o", tables[-1], "-q"])
        assert code == 0, err
    figs = tmp_path / "figs"
    code, _, err = run_cli(["evaluate", *tables, "--names", "mge,mja", "--plots", figs, "--bootstrap", "0",
                            "-o", tmp_path / "metrics.tsv"])
    assert code == 0, err
    for name in ("mge", "mja"):
        for kind in ("roc", "pr"):
            assert (figs / f"{name}.{kind}.png").stat().st_size > 1000
    assert not (figs / "roc.png").exists() and "ROC and PR per table" in err


def test_evaluate_names_tables_of_one_file_name_by_their_folders(tmp_path, monkeypatch):
    """A workflow writes every genome's scores as <genome>/scores.tsv: `evaluate */scores.tsv` named every row of
    the metrics 'scores.tsv' (rows nobody could tell apart) and refused --plots. The default names now carry as
    many folders as tell the tables apart, a relative path and an absolute one alike."""
    mj = PANEL / "GCF_000091665.1_ASM9166v1_genomic"
    for name, gff, fna in (("mge", MG_GFF, MG_FNA), ("mja", f"{mj}.gff.gz", f"{mj}.fna.gz")):
        (tmp_path / name).mkdir()
        code, _, err = run_cli(["score", gff, "--fasta", fna, "--label-rule", "og", "-o",
                                tmp_path / name / "scores.tsv", "-q"])
        assert code == 0, err
    monkeypatch.chdir(tmp_path)
    code, text, err = run_cli(["evaluate", "mge/scores.tsv", tmp_path / "mja" / "scores.tsv", "--bootstrap", "0",
                               "--plots", "figs", "-q"])
    assert code == 0, err
    assert [line.split("\t")[0] for line in text.splitlines()[1:]] == ["mge/scores.tsv", "mja/scores.tsv"]
    assert (tmp_path / "figs" / "mja_scores.tsv.roc.png").stat().st_size > 1000
    code, text, err = run_cli(["evaluate", "mge/scores.tsv", "--bootstrap", "0", "-q"])
    assert code == 0 and text.splitlines()[1].split("\t")[0] == "scores.tsv", "one table keeps its file name"


def test_evaluate_of_stdin_names_it_stdin_in_its_row_figures_and_errors(tmp_path):
    """`score ... | evaluate -` named the metrics row '-', its figures '-.calibration.png' (which `ls` and `rm` read
    as options) and its errors '-: line 24 has 13 fields'; a --labels list on stdin was 'the pairs of -'. Stdin is
    'stdin' there, as every command names it, and its metrics are the file's."""
    scores = tmp_path / "scores.tsv"
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "--label-rule", "og", "-o", scores, "-q"])
    assert code == 0, err
    code, from_file, err = run_cli(["evaluate", scores, "--bootstrap", "0", "-q"])
    assert code == 0, err
    code, text, err = run_cli(["evaluate", "-", "--bootstrap", "0", "--plots", tmp_path / "figs", "-q"],
                              stdin=scores.read_bytes())
    assert code == 0, err
    assert text.splitlines()[1] == "stdin\t" + from_file.splitlines()[1].split("\t", 1)[1]
    assert sorted(p.name for p in (tmp_path / "figs").iterdir()) == [
        "pr.png", "roc.png", "stdin.calibration.png", "stdin.router_weights.png", "stdin.threshold_sweep.png"]
    code, _, err = run_cli(["evaluate", "-", "--bootstrap", "0"], stdin=scores.read_bytes()[:3000])
    assert code == 1 and err.startswith("error: stdin: line ") and "fields, header has" in err, err
    code, _, err = run_cli(["evaluate", scores, "--labels", "-"], stdin=b"MPN001,MPN002,1\n")
    assert code == 1 and "none of the pairs of stdin was scored" in err, err


def test_evaluate_of_several_tables_reads_labels_on_stdin_for_each(tmp_path):
    """`evaluate a.tsv b.tsv --labels -` (or `--labels <(...)`) read the labels again for each table: the second
    found stdin ended, 'error: -: empty pair list'. Stdin is kept in a file, so each table is evaluated against the
    same labels, as from its own label column."""
    scores = tmp_path / "scores.tsv"
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "--label-rule", "og", "-o", scores, "-q"])
    assert code == 0, err
    rows = [line.split("\t") for line in scores.read_text().splitlines() if not line.startswith("#")]
    column = {name: i for i, name in enumerate(rows[0])}
    labels = "".join(f"{r[column['gene_a']]},{r[column['gene_b']]},{r[column['label']]}\n" for r in rows[1:]
                     if r[column["label"]] != "")
    (tmp_path / "again.tsv").write_bytes(scores.read_bytes())
    tables = [scores, tmp_path / "again.tsv", "--bootstrap", "0", "-q"]
    code, own, err = run_cli(["evaluate", *tables])
    assert code == 0, err
    code, piped, err = run_cli(["evaluate", *tables, "--labels", "-"], stdin=labels.encode())
    assert code == 0 and piped == own and len(piped.splitlines()) == 3, err


def test_a_pair_list_or_known_operons_on_stdin_is_named_stdin(tmp_path):
    """`pairs G --labels -` (and --pairs, --operons: '-' = stdin, as their helps say) named stdin '-' in its
    messages: 'error: -: empty pair list', '2 gene id(s) in - match no gene', 'labels from -'. They say 'stdin', as
    for an INPUT on stdin, and the pairs are those of the same list given as a file."""
    listed = b"MG_001,MG_002,1\nXX_1,XX_2,0\n"
    (tmp_path / "labels.csv").write_bytes(listed)
    code, from_file, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "--labels", tmp_path / "labels.csv"])
    assert code == 0, err
    code, piped, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "--labels", "-"], stdin=listed)
    assert code == 0 and piped == from_file and len(piped.splitlines()) == 6, err  # 4 '#' lines, header, 1 pair
    assert "warning: 2 gene id(s) in stdin match no gene: XX_1, XX_2\n" in err, err
    code, out, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "--pairs", "-"], stdin=b"")
    assert code == 1 and out == "" and err.endswith("\nerror: stdin: empty pair list\n"), err
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "--operons", "-", "-o", tmp_path / "scores.tsv"],
                           stdin=b"op1\tMG_001,MG_002\n")
    assert code == 0 and "info: labels from stdin: 1 positive, 0 negative, 474 unlabelled pairs" in err, err


def test_evaluate_json_is_strict_json_with_null_for_missing_metrics(tmp_path):
    """Without a bootstrap or --proteins, auroc_low/high and hard_auroc do not exist: --json wrote them as NaN,
    which is no JSON value (JSON.parse, Go's encoding/json and R's jsonlite refuse the file). They are null, as they
    are empty cells in the TSV; counts stay integers."""
    scores, as_json = tmp_path / "scores.tsv", tmp_path / "metrics.json"
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "--label-rule", "og", "-o", scores, "-q"])
    assert code == 0, err
    code, _, err = run_cli(["evaluate", scores, "--bootstrap", "0", "--json", as_json, "-o", tmp_path / "m.tsv"])
    assert code == 0, err

    def refuse(constant):
        raise ValueError(f"{constant} in {as_json}")

    (metrics,) = json.loads(as_json.read_text(), parse_constant=refuse)
    assert metrics["auroc_low"] is metrics["auroc_high"] is metrics["hard_auroc"] is None
    assert isinstance(metrics["n"], int) and 0 < metrics["auroc"] <= 1


@pytest.mark.parametrize("kept_label", ["1", "0"])
def test_evaluate_says_an_auroc_of_one_class_in_words(kept_label, tmp_path):
    """A table whose labelled pairs are all positive (or all negative) has no AUROC (nor AUPRC): the summary
    showed 'nan'. It says 'n/a (one class)'; the TSV keeps an empty field (read as missing by pandas and R) and
    --json null."""
    scores, one_class = tmp_path / "scores.tsv", tmp_path / "positives.tsv"
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "--label-rule", "og", "-o", scores, "-q"])
    assert code == 0, err
    lines = scores.read_text().splitlines()
    header = next(line for line in lines if not line.startswith("#"))
    label = header.split("\t").index("label")
    kept = [line for line in lines if line.startswith("#") or line == header or line.split("\t")[label] == kept_label]
    one_class.write_text("\n".join(kept) + "\n")
    metrics, as_json = tmp_path / "metrics.tsv", tmp_path / "metrics.json"
    code, _, err = run_cli(["evaluate", one_class, "--bootstrap", "0", "-o", metrics, "--json", as_json])
    assert code == 0, err
    names = err.splitlines()[-2].split("\t")
    row = dict(zip(names, err.splitlines()[-1].split("\t")))
    assert row["AUROC [95% CI]"] == row["distance AUROC"] == "n/a (one class)" and "nan" not in err, err
    table = dict(zip(*(line.split("\t") for line in metrics.read_text().splitlines())))
    assert table["auroc"] == table["distance_auroc"] == "" and int(table["n"]) > 50
    assert int(table["n_positive"]) == (int(table["n"]) if kept_label == "1" else 0)
    (result,) = json.loads(as_json.read_text())
    assert result["auroc"] is result["distance_auroc"] is None
    assert result["auprc"] == 1.0 if kept_label == "1" else row["AUPRC"] == "n/a (one class)"


def test_evaluate_summary_in_a_log_is_one_tab_separated_line_per_row(tmp_path):
    """stderr in a log file (not a terminal): the summary was rich's box-drawn table, 200 columns wide, that grep
    and cut cannot read. It is now the title, a header line and one line per table, tab-separated, no box
    characters; the values are those of the metrics TSV."""
    scores, metrics = tmp_path / "scores.tsv", tmp_path / "metrics.tsv"
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "--label-rule", "og", "-o", scores, "-q"])
    assert code == 0, err
    code, _, err = run_cli(["evaluate", scores, "--bootstrap", "0", "-o", metrics])
    assert code == 0, err
    assert err.isascii(), err  # no box drawing
    lines = err.splitlines()
    header = lines.index("\t".join(("model", "n", "AUROC [95% CI]", "AUPRC", "mAP", "macro-F1", "acc@0.5", "acc@thr",
                                    "Brier", "distance AUROC", "distance best acc", "hard AUROC")))
    assert lines[header - 1].startswith("microfuse evaluate (distance = ")
    (row,) = [dict(zip(lines[header].split("\t"), line.split("\t"))) for line in lines[header + 1:]]
    names, values = metrics.read_text().splitlines()[:2]
    expected = dict(zip(names.split("\t"), values.split("\t")))
    assert row["model"].split(" ")[0] == "scores.tsv" and row["n"] == expected["n"]
    assert float(row["AUROC [95% CI]"].split(" ")[0]) == pytest.approx(float(expected["auroc"]), abs=1e-4)
    assert row["AUROC [95% CI]"] == expected["auroc"], "no bootstrap, no interval: was '0.xxxx [nan, nan]'"
    code, _, err = run_cli(["evaluate", scores, "--bootstrap", "50", "-o", metrics])
    assert code == 0, err
    (line,) = [line for line in err.splitlines() if line.startswith("scores.tsv")]
    auroc, low, high = re.fullmatch(r"(\d\.\d{4}) \[(\d\.\d{3}), (\d\.\d{3})\]", line.split("\t")[2]).groups()
    assert float(low) <= float(auroc) <= float(high)


def test_a_folder_of_embedding_folders_given_as_one_names_them(mg_embeddings, tmp_path):
    """`embed A B -o DIR` writes DIR/A and DIR/B; `score -e DIR` (or `train -e DIR`) said 'not a microfuse embedding
    folder (no manifest.json; run `microfuse embed` first)', advice that sent the user to rerun what they had run.
    The error names the genome folders inside it instead."""
    batch = tmp_path / "batch"
    shutil.copytree(mg_embeddings, batch / "mg")
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-e", batch, "-o", tmp_path / "scores.tsv"])
    assert code == 1, err
    last = err.splitlines()[-1]
    assert last.startswith("error: ") and str(batch / "mg") in last and "give one of them" in last, err
    assert not (tmp_path / "scores.tsv").exists()


def test_training_on_listed_pairs_says_how_to_embed_them(tmp_path):
    """OpDetect's labelled pairs skip opposite-strand genes in between, so some are not adjacent and a genome's
    embedding has no pair features for them: `train` said only 'rerun `microfuse embed` with these pairs', and
    rerunning `embed GENOME` gave the same folder. The error now gives the command that embeds them, which works."""
    from conftest import MPN_FNA, MPN_GFF, MPN_PAIRS

    pairs, proteins = tmp_path / "pairs.tsv", tmp_path / "genes.faa"
    code, _, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "--labels", MPN_PAIRS, "-o", pairs,
                            "--proteins", proteins])
    assert code == 0, err
    code, _, err = run_cli(["embed", MPN_GFF, "--fasta", MPN_FNA, "-o", tmp_path / "genome_emb"])
    assert code == 0, err
    train = ["train", pairs, "--val-fraction", "0.2", "--epochs", "2", "-q"]
    code, _, err = run_cli([*train, "-e", tmp_path / "genome_emb", "-o", tmp_path / "m1"])
    assert code == 1, err
    assert "embed these pairs: `microfuse embed PAIRS.tsv --proteins genes.faa --fasta GENOME.fna -o DIR`" in err
    code, _, err = run_cli(["embed", pairs, "--proteins", proteins, "--fasta", MPN_FNA, "-o", tmp_path / "pairs_emb"])
    assert code == 0, err
    code, _, err = run_cli([*train, "-e", tmp_path / "pairs_emb", "-o", tmp_path / "m2"])
    assert code == 0 and (tmp_path / "m2" / "model.safetensors").is_file(), err


def test_a_folder_of_embedding_folders_given_as_an_index_is_not_sent_to_them(mg_embeddings, tmp_path):
    """`retrieve --index DIR` of a folder holding embedding folders said 'not a microfuse index folder itself, but
    it holds 1 folder(s) with a manifest.json (DIR/mg), as `embed` ... writes one per genome: give one of them':
    an embedding folder, which is no index. Only folders of the kind asked for are named."""
    batch = tmp_path / "batch"
    shutil.copytree(mg_embeddings, batch / "mg")
    code, out, err = run_cli(["retrieve", "--index", batch, "--k", "3"])
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert err.startswith(f"error: {batch}: not a microfuse index folder (no manifest.json") and str(batch / "mg") not in err, err
