"""The README's Python API example runs as written and gives what `microfuse score` gives."""

from __future__ import annotations

import contextlib
import io
import json
import re

import numpy as np

from conftest import ROOT, run_cli


def readme_example() -> str:
    """The python block of README.md's "Python API" section: the README's one python block, so every Python example
    it shows is run here (test_docs runs its sh blocks)."""
    text = (ROOT / "README.md").read_text()
    section = text.split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    assert len(re.findall(r"^```py", text, re.M)) == len(re.findall(r"^```py", section, re.M)) == 1
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


def test_readme_example_scores_as_the_cli_does(tmp_path, monkeypatch):
    """The example writes, in the folder it runs in, the scores TSV and operon GFF3 `microfuse score` writes."""
    work = tmp_path / "work"
    work.mkdir()
    (work / "examples").symlink_to(ROOT / "examples")  # the example names examples/data/ relative to the repository
    monkeypatch.chdir(work)
    namespace: dict = {}
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(readme_example(), "README.md", "exec"), namespace)
    scores, operons = namespace["scores"], namespace["operons"]
    lines = printed.getvalue().splitlines()
    assert lines[0] == f"{len(scores.pairs)} pairs, {int(scores.calls.sum())} called, {len(operons)} operons"
    assert lines[1].startswith("operon_id\t") and len(lines) == 2 + min(3, len(operons))
    assert len(scores.pairs) > 400 and len(operons) > 50  # M. genitalium: ~480 genes, most in operons

    out, operons_gff = tmp_path / "scores.tsv", tmp_path / "operons.gff3"
    gff, fna = ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz"
    code, _, err = run_cli(["score", gff, "--fasta", fna, "-o", out, "--operons-gff", operons_gff])
    assert code == 0, err
    assert (work / "scores.tsv").read_bytes() == out.read_bytes()
    assert (work / "operons.gff3").read_bytes() == operons_gff.read_bytes()
    rows = [line.split("\t") for line in out.read_text().splitlines() if not line.startswith("#")]
    column = rows[0].index("probability")
    assert [r[0] for r in rows[1:]] == [p.pair_id for p in scores.pairs]
    np.testing.assert_array_equal([r[column] for r in rows[1:]], [f"{p:.6f}" for p in scores.probability])


def test_score_genome_takes_a_model_folder_as_a_path_or_a_string(tmp_path):
    """A Python user passes the folder `microfuse score -m` takes: as a str or a Path it is loaded, and scores as
    the loaded model does (it was an AttributeError: 'str' object has no attribute 'inputs')."""
    from microfuse_cli.genome import read_genome
    from microfuse_cli.score import DEFAULT_MODEL, load_model, score_genome

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    loaded = score_genome(genome, load_model(DEFAULT_MODEL))
    for model in (str(DEFAULT_MODEL), DEFAULT_MODEL):
        np.testing.assert_array_equal(score_genome(genome, model).probability, loaded.probability)
    assert len(loaded.pairs) > 400


def test_call_operons_refuses_scores_of_another_genome(ecoli_genome):
    """Scores of M. genitalium joined into operons over E. coli's genes: one DataError naming the first foreign
    pair (it was a bare KeyError: 'MG_002')."""
    import pytest

    from microfuse_cli.errors import DataError
    from microfuse_cli.genome import read_genome
    from microfuse_cli.score import call_operons, score_genome

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    scores = score_genome(genome)
    assert len(call_operons(genome, scores)) > 50
    with pytest.raises(DataError, match=rf"scored pair {scores.pairs[0].pair_id} is not a pair of genome "):
        call_operons(ecoli_genome, scores)


def test_negative_threads_are_refused_whatever_the_views():
    """threads=-1 was silently taken by score_genome: the packaged model's views never reach the one place that
    checked it (RNA folding)."""
    import pytest

    from microfuse_cli.errors import UsageError
    from microfuse_cli.genome import read_genome
    from microfuse_cli.score import score_genome

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    with pytest.raises(UsageError, match="threads must be a whole number >= 0, got -1"):
        score_genome(genome, threads=-1)
    assert len(score_genome(genome, threads=0).pairs) == len(score_genome(genome, threads=1).pairs) > 400


def _process_settings() -> dict:
    """What a library call must leave as it found it: settings shared by everything in the process."""
    import logging
    import os
    import random
    import signal
    import warnings

    import faiss
    import torch

    loggers = {name: (logger.level, list(logger.handlers), logger.propagate, logger.disabled)
               for name, logger in [("", logging.getLogger()), *logging.root.manager.loggerDict.items()]
               if isinstance(logger, logging.Logger) and (logger.level or logger.handlers)}
    return {
        "environment": dict(os.environ), "warnings filters": list(warnings.filters), "loggers": loggers,
        "numpy random": np.random.get_state()[1].tobytes(), "random": random.getstate(),
        "numpy errors": np.geterr(), "signals": {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)},
        "torch": (torch.get_num_threads(), torch.get_num_interop_threads(), torch.get_default_dtype(),
                  torch.are_deterministic_algorithms_enabled()),
        "torch random": torch.get_rng_state().numpy().tobytes(), "faiss threads": faiss.omp_get_max_threads(),
    }


def test_library_calls_leave_process_settings_as_they_were(tmp_path):
    """read, embed, score, train, save/load and retrieve on M. genitalium change no process-wide setting: threads,
    seeds and devices are the calls' own parameters, not torch/numpy/faiss/logging/warnings/environment globals."""
    import torch

    from microfuse_cli import trained
    from microfuse_cli.embed import ViewConfig, compute_embeddings
    from microfuse_cli.fusion import FusionConfig
    from microfuse_cli.genome import read_genome
    from microfuse_cli.pairs import adjacent_pairs
    from microfuse_cli.retrieve.ids import PairIds
    from microfuse_cli.retrieve.index import PairIndex
    from microfuse_cli.score import score_genome
    from microfuse_cli.training import train

    import sklearn.metrics  # noqa: F401 - scikit-learn's import sets KMP_* variables: its own doing, not a call's

    layer = torch.nn.Linear(2, 1)  # torch's own once-per-process setup of its optimisers (an environment variable,
    optimiser = torch.optim.AdamW(layer.parameters())  # a warnings filter) is torch's, not a call's: done first
    layer(torch.ones(1, 2)).sum().backward()
    optimiser.step()
    np.random.seed(1)
    torch.manual_seed(1)
    before = _process_settings()

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    scores = score_genome(genome, fused=True, threads=2)
    embeddings = compute_embeddings(genome, adjacent_pairs(genome), ViewConfig.parse("builtin", "builtin"), threads=2)
    x_protein, x_context = embeddings.pair_views(scores.pairs)
    rows = np.arange(len(scores.pairs)) % 4 != 0
    model = train(x_protein, x_context, scores.calls, rows, ~rows, FusionConfig(hidden=16),
                  trained.TrainConfig(max_epochs=2, batch_size=128))
    trained.load_torch_model(model.save(tmp_path / "model"))
    ids = PairIds(pair_id=np.array([p.pair_id for p in scores.pairs]),
                  scaffold=np.array([p.scaffold for p in scores.pairs]), genome=np.array(["mg"] * len(scores.pairs)))
    index = PairIndex.build(scores.fused, ids, index="flat", device="cpu")
    found = index.search(scores.fused[:20], ids.scaffold[:20], 3, threads=1)

    after = _process_settings()
    assert {k: v for k, v in after.items() if before[k] != v} == {}
    assert found.target.shape == (20, 3) and embeddings.pair_context.shape[0] == len(scores.pairs)


def test_top_level_exports_are_documented_cheap_and_described():
    """Every name of ``microfuse_cli.__all__`` is named in README's Python API section, has a docstring and
    annotations, and ``import microfuse_cli`` loads none of numpy, torch, faiss, transformers or scipy (the
    package exported only its errors, so a user had to know the module layout)."""
    import inspect
    import subprocess
    import sys

    import microfuse_cli

    section = (ROOT / "README.md").read_text().split("\n## Python API\n", 1)[1].split("\n## ", 1)[0]
    assert [n for n in microfuse_cli.__all__ if f"`{n}`" not in section] == []
    for name in microfuse_cli.__all__[1:]:
        value = getattr(microfuse_cli, name)
        assert (value.__doc__ or "").strip(), name
        if inspect.isfunction(value):
            assert "return" in value.__annotations__ and all(
                p in value.__annotations__ for p in inspect.signature(value).parameters), name
    heavy = ["numpy", "torch", "faiss", "transformers", "scipy"]
    code = f"import sys, microfuse_cli; print([m for m in {heavy!r} if m in sys.modules])"
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert loaded.stdout.strip() == "[]"
    assert set(dir(microfuse_cli)) >= set(microfuse_cli.__all__)


def test_library_warnings_go_to_the_logger_not_stderr(tmp_path):
    """A pair list naming an unknown gene is logged as a warning; without logging configured, Python's last-resort
    handler printed it to the library user's stderr. Given a handler, the user still gets it."""
    import subprocess
    import sys

    listed = tmp_path / "pairs.tsv"
    listed.write_text("MG_001\tMG_002\nNOPE_1\tMG_003\n")
    code = ("import logging, sys; from microfuse_cli import read_genome, select_pairs\n"
            "g = read_genome('examples/data/mgenitalium_g37.gff.gz', 'examples/data/mgenitalium_g37.fna.gz')\n"
            f"print(len(select_pairs(g, pair_list={str(listed)!r})))\n"
            "if sys.argv[1:]:\n    logging.basicConfig()\n"
            f"    print(len(select_pairs(g, pair_list={str(listed)!r})))\n")
    quiet = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert (quiet.returncode, quiet.stdout, quiet.stderr) == (0, "1\n", "")
    configured = subprocess.run([sys.executable, "-c", code, "log"], capture_output=True, text=True, cwd=ROOT)
    assert configured.stderr == "WARNING:microfuse:1 gene id(s) in " + str(listed) + " match no gene: NOPE_1\n"


def test_a_path_where_a_genome_belongs_is_a_usage_error():
    """score_genome("genome.gff") and call_operons(path, scores) were AttributeErrors deep inside."""
    import pytest

    from microfuse_cli import UsageError, call_operons, read_genome, score_genome

    path = ROOT / "examples/data/mgenitalium_g37.gff.gz"
    with pytest.raises(UsageError, match=r"score_genome takes a Genome \(read_genome\(path\) reads one\), not str"):
        score_genome(str(path))
    scores = score_genome(read_genome(path, ROOT / "examples/data/mgenitalium_g37.fna.gz"))
    with pytest.raises(UsageError, match="call_operons takes a Genome .*, not PosixPath"):
        call_operons(path, scores)


def test_a_threshold_outside_zero_one_is_refused_before_any_work(monkeypatch):
    """score_genome computed every view and ran the head before refusing threshold=1.5, with a message naming the
    CLI's --threshold option."""
    import pytest

    from microfuse_cli import UsageError, read_genome, score_genome
    from microfuse_cli import embed

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    monkeypatch.setattr(embed, "compute_embeddings", lambda *a, **k: pytest.fail("views computed"))
    for bad in (1.5, float("nan"), "0.5"):
        with pytest.raises(UsageError, match=r"^threshold must be a probability within \[0, 1\], not "):
            score_genome(genome, threshold=bad)
    monkeypatch.undo()
    assert score_genome(genome, threshold=1).calls.sum() == 0


def test_loading_bacformer_leaves_the_callers_random_state_alone(tmp_path):
    """Building our Bacformer to load a checkpoint into drew its initial weights from torch's global generator, so
    computing a bacformer context view moved a user's seeded torch draws."""
    import torch

    import tiny_models
    from microfuse_cli.views.bacformer.model import load_bacformer

    folder = tiny_models.save_tiny_bacformer(tmp_path / "bacformer")
    torch.manual_seed(3)
    expected = torch.rand(4)
    torch.manual_seed(3)
    net, source = load_bacformer(str(folder), offline=True)
    assert torch.equal(torch.rand(4), expected)
    assert source.is_local and not any(p.requires_grad for p in net.parameters())


def test_search_with_one_group_string_is_a_data_error():
    """PairIndex.search(vectors, "NC_000908.2", k): one scaffold name for every query was a bare TypeError
    ('len() of unsized object')."""
    import pytest

    from microfuse_cli import DataError, read_genome, score_genome
    from microfuse_cli.retrieve.ids import PairIds
    from microfuse_cli.retrieve.index import PairIndex

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    scores = score_genome(genome, fused=True)
    ids = PairIds(pair_id=np.array([p.pair_id for p in scores.pairs]),
                  scaffold=np.array([p.scaffold for p in scores.pairs]), genome=np.array(["mg"] * len(scores.pairs)))
    index = PairIndex.build(scores.fused, ids, index="flat", device="cpu")
    with pytest.raises(DataError, match=r"^5 query vectors but query groups of shape \(\) \(one per query\)$"):
        index.search(scores.fused[:5], "NC_000908.2", 3)
    with pytest.raises(DataError, match=r"^5 query vectors but 2 query ids \(one per query\)$"):
        index.search(scores.fused[:5], ["other"] * 5, 3, query_ids=["a", "b"])
    assert index.search(scores.fused[:5], ["other"] * 5, 3).target.shape == (5, 3)


def test_score_genome_takes_an_embedding_folder_as_a_path(tmp_path):
    """`score --embeddings DIR` as a library call: the folder's path was an AttributeError ('str' object has no
    attribute 'check_genes'); it is loaded and scores as the computed views do."""
    from microfuse_cli import read_genome, score_genome
    from microfuse_cli.embed import compute_embeddings, Embeddings
    from microfuse_cli.score import load_model, view_config

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    model = load_model(None)
    pairs = score_genome(genome, model).pairs
    compute_embeddings(genome, pairs, view_config(model)).save(tmp_path / "emb")
    expected = score_genome(genome, model, embeddings=Embeddings.load(tmp_path / "emb")).probability
    for folder in (str(tmp_path / "emb"), tmp_path / "emb"):
        np.testing.assert_array_equal(score_genome(genome, model, embeddings=folder).probability, expected)
    np.testing.assert_array_equal(score_genome(genome, model).probability, expected)


def test_a_genome_built_by_hand_is_checked_before_scoring():
    """The data model is exported; a Genome built by hand with a gene on a scaffold it lacks was a bare KeyError,
    and a strand of 0, start > end or genes out of order were scored as if nothing were wrong."""
    import dataclasses

    import pytest

    from microfuse_cli import DataError, Genome, call_operons, read_genome, score_genome

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    genes, last = genome.genes[:30], genome.genes[29]
    first = genes[:-1]
    broken = {
        "is on scaffold 'plasmid', which the genome lacks": [*first, dataclasses.replace(last, scaffold="plasmid")],
        "needs strand \\+1 or -1 and 1 <= start <= end, has strand 0": [*first, dataclasses.replace(last, strand=0)],
        "needs strand .* has strand 1, 38987..38977": [*first, dataclasses.replace(last, start=last.end + 10)],
        r"genes are not in scaffold and start order at MG_031 \(Genome.with_genes_sorted\(\) puts": genes[::-1],
    }
    for message, genes_of in broken.items():
        with pytest.raises(DataError, match=message):
            score_genome(Genome("hand", genome.scaffolds, genes_of))
    by_hand = Genome("hand", genome.scaffolds, list(genes))
    assert len(call_operons(by_hand, score_genome(by_hand))) > 3


def test_pairs_and_groups_of_the_wrong_kind_are_one_line_errors():
    """score_genome(pairs=[("MG_001", "MG_002")]) and groups as a list were AttributeErrors; groups naming none of
    the genome's scaffolds silently pooled everything, where `score --bins` refuses them."""
    import pytest

    from microfuse_cli import DataError, UsageError, read_genome, score_genome, select_pairs

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    with pytest.raises(UsageError, match=r"pairs must be GenePair objects \(select_pairs makes them .*\), not tuple"):
        score_genome(genome, pairs=[("MG_001", "MG_002")])
    with pytest.raises(UsageError, match="groups map scaffold names to bin names"):
        score_genome(genome, groups=["NC_000908.2"])
    with pytest.raises(DataError, match="groups: none of its 1 scaffolds is in mgenitalium_g37.gff.gz"):
        score_genome(genome, groups={"NC_000912.1": "bin1"})
    scores = score_genome(genome, pairs=select_pairs(genome), groups={"NC_000908.2": "bin1"})
    assert [c.group for c in scores.calibration] == ["bin1"] and len(scores.pairs) > 400


def test_select_pairs_refuses_an_unknown_label_rule():
    """select_pairs(genome, label_rule="OG") returned the pairs unlabelled without a word."""
    import pytest

    from microfuse_cli import UsageError, read_genome, select_pairs

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    with pytest.raises(UsageError, match="label_rule must be 'og' or None, not 'OG'"):
        select_pairs(genome, label_rule="OG")
    labelled = select_pairs(genome, label_rule="og")
    assert {p.label for p in labelled} == {0, 1, None} and len(labelled) > 400  # og leaves the middle unlabelled


def _refused(change) -> BaseException:
    """The exception ``change()`` raises (the test fails if it changes something instead)."""
    import dataclasses

    import pytest

    with pytest.raises((dataclasses.FrozenInstanceError, TypeError, AttributeError, ValueError)) as info:
        change()
    return info.value


def test_public_objects_cannot_be_changed():
    """What the library hands out (a genome, its scores and operons, the loaded model) is frozen: a caller, or a
    later stage, that assigns to a field or writes into an array gets an error instead of corrupting what every
    other stage reads (they were plain dataclasses; read_genome and call_operons changed theirs after building)."""
    import dataclasses

    from microfuse_cli import call_operons, load_model, read_genome, score_genome

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    model = load_model(None)
    scores = score_genome(genome, model)
    operon = call_operons(genome, scores)[0]
    frozen = dataclasses.FrozenInstanceError
    for change in (lambda: setattr(genome, "name", "other"), lambda: setattr(genome, "genes", []),
                   lambda: setattr(scores, "threshold", 0.0), lambda: setattr(operon, "id", "mine"),
                   lambda: setattr(model, "threshold", 0.0), lambda: setattr(model.config, "hidden", 1),
                   lambda: setattr(model, "decision", None)):
        assert isinstance(_refused(change), frozen)
    for change in (lambda: scores.probability.__setitem__(0, 1.0), lambda: scores.router_weights.__setitem__(0, 0.0),
                   lambda: model.weights["classifier.3.bias"].__setitem__(0, 9.0)):
        assert "read-only" in str(_refused(change))
    for change in (lambda: genome.scaffolds.__setitem__("plasmid", None), lambda: genome.genes.append(None),
                   lambda: scores.pairs.append(None), lambda: operon.genes.append("x"),
                   lambda: model.metrics.__setitem__("auroc", 1.0)):
        assert isinstance(_refused(change), (TypeError, AttributeError))
    assert operon.id == "operon_1" and scores.threshold == 0.5 and model.weights["classifier.3.bias"].shape == (1,)


def test_scoring_leaves_its_input_genome_unchanged():
    """score_genome, call_operons and the writers read the genome and change nothing of it (deep equality with a
    copy taken before); the copy itself is a frozen genome built as the original was."""
    import copy
    import io as stdio

    from microfuse_cli import GenomeOptions, call_operons, read_genome, score_genome
    from microfuse_cli.io.gff import write_operons_gff
    from microfuse_cli.io.tables import write_operons_tsv, write_scores

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz",
                         GenomeOptions(circular=True))
    before = copy.deepcopy(genome)
    assert before is not genome and type(before.scaffolds) is type(genome.scaffolds)
    scores = score_genome(genome)
    operons = call_operons(genome, scores)
    write_scores(stdio.StringIO(), scores)
    write_operons_tsv(stdio.StringIO(), operons)
    write_operons_gff(stdio.StringIO(), genome, operons)
    assert genome == before and dict(genome.scaffolds) == dict(before.scaffolds)
    assert all(s.circular for s in genome.scaffolds.values()) and len(operons) > 50


def _raises_section(function) -> str:
    """The ``Raises:`` section of ``function``'s docstring ('' when it has none)."""
    import inspect

    doc = inspect.getdoc(function) or ""
    return doc.split("\nRaises:\n", 1)[1] if "\nRaises:\n" in doc else ""


def test_public_functions_raise_the_errors_their_docstrings_name(tmp_path):
    """Each function of ``__all__`` says what it returns and raises, and raises it: a misuse from a notebook is one
    microfuse error of the documented kind. These were AttributeErrors (adjacent_pairs(path), call_operons(genome,
    "scores.tsv"), read_genome(path, options="meta"), score_genome(genome, embeddings=5)), TypeErrors
    (threads=None, load_model(5)) or silently taken (threads=1.5 ran on 1 thread, seed=-1 split as seed 1 did)."""
    import inspect

    import pytest

    import microfuse_cli
    from microfuse_cli import DataError, UsageError

    gff, fna = ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz"
    genome = microfuse_cli.read_genome(gff, fna)
    misuses = {
        "read_genome": [(DataError, lambda: microfuse_cli.read_genome(tmp_path / "none.gff")),
                        (UsageError, lambda: microfuse_cli.read_genome(gff, fna, options="meta"))],
        "adjacent_pairs": [(UsageError, lambda: microfuse_cli.adjacent_pairs(str(gff)))],
        "select_pairs": [(UsageError, lambda: microfuse_cli.select_pairs(genome, split="0.8,0.1,0.1", seed=-1)),
                         (UsageError, lambda: microfuse_cli.select_pairs(gff)),
                         (DataError, lambda: microfuse_cli.select_pairs(genome, operons=tmp_path / "none.tsv"))],
        "load_model": [(DataError, lambda: microfuse_cli.load_model(tmp_path / "no_model")),
                       (UsageError, lambda: microfuse_cli.load_model("")),
                       (UsageError, lambda: microfuse_cli.load_model(5))],
        "score_genome": [(UsageError, lambda: microfuse_cli.score_genome(genome, threads=1.5)),
                         (UsageError, lambda: microfuse_cli.score_genome(genome, threads=None)),
                         (UsageError, lambda: microfuse_cli.score_genome(genome, {"model": "folder"})),
                         (UsageError, lambda: microfuse_cli.score_genome(genome, embeddings=5)),
                         (DataError, lambda: microfuse_cli.score_genome(genome, tmp_path / "no_model"))],
        "call_operons": [(UsageError, lambda: microfuse_cli.call_operons(genome, "scores.tsv"))],
    }
    functions = [n for n in microfuse_cli.__all__ if inspect.isfunction(getattr(microfuse_cli, n))]
    assert sorted(misuses) == sorted(functions)
    for name in functions:
        doc = inspect.getdoc(getattr(microfuse_cli, name))
        assert "\nReturns:\n" in doc, f"{name}'s docstring does not say what it returns"
        for kind, misuse in misuses[name]:
            with pytest.raises(kind) as raised:
                misuse()
            assert type(raised.value) is kind and "\n" not in str(raised.value)
            assert kind.__name__ in _raises_section(getattr(microfuse_cli, name)), f"{name} does not document {kind}"
    assert len(microfuse_cli.select_pairs(genome, split="0.8,0.1,0.1", seed=np.int64(1))) > 400  # numpy ints are ints


def test_seeds_are_whole_numbers_and_each_draws_its_own(tmp_path):
    """seed=-1 split M. genitalium's pairs exactly as seed=1 (Python's random takes the absolute value) and was a
    bare ValueError for an IVF index or a bootstrap (numpy's generators refuse it)."""
    import pytest

    from microfuse_cli import UsageError, read_genome, select_pairs
    from microfuse_cli.metrics import bootstrap_ci
    from microfuse_cli.retrieve.ids import PairIds
    from microfuse_cli.retrieve.index import PairIndex

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    splits = {seed: [p.split for p in select_pairs(genome, split="0.6,0.2,0.2", seed=seed)] for seed in (1, 2)}
    assert splits[1] != splits[2] and splits[1] == [p.split for p in select_pairs(genome, split="0.6,0.2,0.2", seed=1)]
    vectors = np.random.default_rng(0).standard_normal((400, 8)).astype(np.float32)
    rows = range(400)
    ids = PairIds(pair_id=np.array([f"p{i}" for i in rows]), scaffold=np.array([f"s{i // 20}" for i in rows]),
                  genome=np.array(["g"] * 400))
    for bad in (-1, 1.5, None, "1"):
        with pytest.raises(UsageError, match=r"seed must be a whole number >= 0, got "):
            select_pairs(genome, split="0.6,0.2,0.2", seed=bad)
        with pytest.raises(UsageError, match=r"seed must be a whole number >= 0, got "):
            PairIndex.build(vectors, ids, index="ivf", nlist=4, device="cpu", seed=bad)
        with pytest.raises(UsageError, match=r"seed must be a whole number >= 0, got "):
            bootstrap_ci([0, 1, 0, 1], [0.1, 0.9, 0.2, 0.8], n=10, seed=bad)


def test_an_input_named_by_a_file_descriptor_is_refused_and_left_open():
    """read_genome(3) opened file descriptor 3 (open() takes an int as one): it parsed whatever the caller had open
    there, then closed the caller's descriptor."""
    import os

    import pytest

    from microfuse_cli import UsageError, read_genome

    fd = os.open(ROOT / "examples/data/mgenitalium_g37.gff.gz", os.O_RDONLY)
    try:
        with pytest.raises(UsageError, match=rf"an input is named by a path \(str or os.PathLike\), not int {fd}"):
            read_genome(fd, ROOT / "examples/data/mgenitalium_g37.fna.gz")
        assert os.fstat(fd).st_size > 0  # still the caller's, still open
    finally:
        os.close(fd)


#: Run in a fresh interpreter: the library's own imports count too. Its dependencies' import-time setup (scipy's
#: warnings filters) is theirs and done first.
_FRESH_PROCESS_SCRIPT = r"""
import io, json, logging, os, random, signal, sys, warnings
import numpy, scipy.stats, Bio.Seq
import threadpoolctl  # sets KMP_DUPLICATE_LIB_OK: its own import-time setup (scoring with threads imports it)
import torch  # its loggers: its own setup (microfuse_cli.training imports it)

def settings():
    loggers = {n: (l.level, len(l.handlers), l.propagate, l.disabled)
               for n, l in logging.root.manager.loggerDict.items()
               if isinstance(l, logging.Logger) and not n.startswith("microfuse")}
    return {"environ": dict(os.environ), "cwd": os.getcwd(), "stdio": [id(sys.stdout), id(sys.stderr), id(sys.stdin)],
            "signals": {int(s): repr(signal.getsignal(s)) for s in signal.valid_signals()
                        if signal.getsignal(s) is not None},
            "root logger": [logging.root.level, len(logging.root.handlers)], "loggers": repr(loggers),
            "warnings": repr(warnings.filters), "random": repr(random.getstate()), "umask": os.umask(0o22),
            "numpy random": numpy.random.get_state()[1].tolist(), "numpy errors": numpy.geterr(),
            "recursion limit": sys.getrecursionlimit()}

before = settings(); os.umask(before["umask"])
from microfuse_cli import call_operons, read_genome, score_genome
import microfuse_cli.cli, microfuse_cli.evaluate, microfuse_cli.figures, microfuse_cli.plots, microfuse_cli.training
from microfuse_cli.io.tables import write_operons_tsv
genome = read_genome(sys.argv[1], sys.argv[2])
operons = call_operons(genome, score_genome(genome, threads=2))
write_operons_tsv(io.StringIO(), operons)
after = settings(); os.umask(after["umask"])
def diff(a, b):
    return {k: [a.get(k), b.get(k)] for k in {*a, *b} if a.get(k) != b.get(k)} if isinstance(a, dict) else [a, b]

print(json.dumps({"changed": {k: diff(before[k], after[k]) for k in before if before[k] != after[k]},
                  "operons": len(operons)}, default=str))
"""


def test_a_fresh_process_is_as_it_was_after_importing_and_scoring(tmp_path):
    """Importing (the CLI, training, evaluation and plotting modules too: they imported scikit-learn, which set
    KMP_DUPLICATE_LIB_OK and KMP_INIT_AT_FORK in os.environ), reading and scoring M. genitalium (2 threads) in a
    fresh interpreter leave its environment, working directory, std streams, signal handlers, logging, warnings filters, random states and
    umask as they were, print nothing, and write nothing in HOME, TMPDIR or the working directory."""
    import json
    import os
    import subprocess
    import sys

    home, temp, work = (tmp_path / name for name in ("home", "tmp", "work"))
    for folder in (home, temp, work):
        folder.mkdir()
    # not the KMP_* variables this process's imports (scikit-learn's, threadpoolctl's) set: the child would inherit
    # them, and a microfuse import setting them again would change nothing there
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("KMP_")}, "HOME": str(home),
           "TMPDIR": str(temp), "PYTHONPATH": str(ROOT)}
    env.pop("MPLCONFIGDIR", None)
    genome = [str(ROOT / "examples/data/mgenitalium_g37.gff.gz"), str(ROOT / "examples/data/mgenitalium_g37.fna.gz")]
    run = subprocess.run([sys.executable, "-c", _FRESH_PROCESS_SCRIPT, *genome],
                         capture_output=True, text=True, cwd=work, env=env, timeout=300)
    assert run.returncode == 0 and run.stderr == "", run.stderr
    result = json.loads(run.stdout)  # one line: nothing else was printed
    assert result["changed"] == {} and result["operons"] > 50
    assert [p for p in tmp_path.rglob("*") if p not in (home, temp, work)] == []


def test_genomes_read_in_parallel_threads_leave_the_warnings_filters_alone():
    """A pipeline reading genomes on a thread pool: each CDS was translated inside warnings.catch_warnings, which
    swaps the process-wide filters, so the interleaved enter/exit of 4 threads left 'ignore every warning' installed
    for the rest of the process. The translation itself warns of nothing (whole codons only)."""
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    from microfuse_cli import read_genome

    gff, fna = ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any warning of a read is an error here
        first = read_genome(gff, fna)
        before = list(warnings.filters)
        with ThreadPoolExecutor(4) as pool:
            genomes = list(pool.map(lambda _: read_genome(gff, fna), range(8)))
        assert warnings.filters == before
    assert all(g == first for g in genomes) and len(first.genes) > 400


def test_every_library_warning_reaches_the_microfuse_logger_not_warnings_warn(tmp_path, caplog):
    """Library warnings went through two channels: warnings.warn (a FASTA record without sequence, labelled pairs
    the scores lack, FAISS fallbacks) and the `microfuse` logger (everything else), so a user filtering one missed
    the other. On M. genitalium, each of those modules' warnings now reaches the logger and none is a Python
    warning."""
    import gzip
    import warnings
    from pathlib import Path

    from conftest import PANEL
    from microfuse_cli import read_genome, score_genome
    from microfuse_cli.evaluate import read_scores
    from microfuse_cli.io.tables import write_scores
    from microfuse_cli.retrieve import PairIds, PairIndex

    mg = PANEL / "GCF_000027325.1_ASM2732v1_genomic"
    fna, table, labels = tmp_path / "mg.fna", tmp_path / "scores.tsv", tmp_path / "labels.csv"
    fna.write_text(gzip.decompress(Path(f"{mg}.fna.gz").read_bytes()).decode() + ">filtered_contig\n")
    with warnings.catch_warnings(record=True) as python_warnings, caplog.at_level("WARNING", logger="microfuse"):
        warnings.simplefilter("always")
        genome = read_genome(f"{mg}.gff.gz", fna)
        scores = score_genome(genome, fused=True)
        with open(table, "w", encoding="utf-8") as handle:
            write_scores(handle, scores)
        first = scores.pairs[0]
        labels.write_text(f"{first.gene_a.id},{first.gene_b.id},1\n{first.gene_a.id},zz,1\n")
        read_scores(table, labels)
        ids = PairIds(np.array([p.pair_id for p in scores.pairs], dtype=object),
                      np.array([p.scaffold for p in scores.pairs], dtype=object),
                      np.array([genome.name] * len(scores.pairs), dtype=object))
        index = PairIndex.build(np.asarray(scores.fused), ids, index="ivfpq", pq_nbits=4, refine="none",
                                device="cpu", threads=1)
        index.search_all(5)
        index._to_gpu()  # a fast-scan index (4-bit codes) has no GPU form
    logged = [r.getMessage() for r in caplog.records if r.name == "microfuse" and r.levelname == "WARNING"]
    assert logged == [f"{fna}: record 'filtered_contig' has no sequence (the file ends on it: truncated?); skipped",
                      f"1 labelled pair(s) of {labels} are not in {table}: {first.gene_a.id}-zz",
                      "training 16 PQ centroids per sub-quantiser on 475 vectors (k-means wants at least 624): a "
                      "smaller pq_nbits, or more vectors, trains them better",  # FAISS printed it on stderr
                      "search_all on IVF-PQ without vectors uses PQ-decoded queries",
                      "FAISS has no GPU fast-scan PQ (4-bit codes; build with pq_nbits=8 for GPUs); the index stays "
                      "on the CPU"]
    ours = ("has no sequence", "labelled pair", "PQ-decoded", "no GPU")
    assert [str(w.message) for w in python_warnings if any(text in str(w.message) for text in ours)] == []


def test_header_comments_of_model_source_are_the_clis_header(tmp_path):
    """`header_comments(scores, *model_source(None))` is the '#microfuse' line of `microfuse score`: the name and
    model_from model_source gives fill the header's model= and model_from= (model_from was header_comments' third,
    positional place of model_id: the line read model_from=folder model_id=package, a silently wrong header).
    A model_from or threshold_from header readers do not know is refused."""
    import pytest

    from microfuse_cli import UsageError, read_genome, score_genome
    from microfuse_cli.score import header_comments, model_source

    gff, fna = ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz"
    genome = read_genome(gff, fna)
    scores = score_genome(genome)
    out = tmp_path / "scores.tsv"
    code, _, err = run_cli(["score", gff, "--fasta", fna, "-o", out])
    assert code == 0, err
    written = [line[1:] for line in out.read_text().splitlines() if line.startswith("#")]
    assert header_comments(scores, *model_source(None), genome=genome) == written
    for wrong in ({"model_from": "pkg"}, {"threshold_from": "cli"}):
        with pytest.raises(UsageError, match="model_from|threshold_from"):
            header_comments(scores, "default", **wrong)


def test_header_comments_take_a_pairs_tables_own_genes_line(tmp_path):
    """A genome rebuilt from a pairs TSV (genome_from_table) does not know how its genes were found
    (``source=pairs_table``); the table `microfuse pairs` wrote says it (read_pairs' genes_comment), and
    header_comments writes that line instead, as `score PAIRS.tsv` does. A genes line that is none is refused."""
    import pytest

    from microfuse_cli import UsageError, read_genome, score_genome
    from microfuse_cli.pairs import genes_comment, genome_from_table, read_pairs
    from microfuse_cli.score import header_comments, model_source

    gff, fna = ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz"
    genome = read_genome(gff, fna)
    scores = score_genome(genome)
    code, _, err = run_cli(["pairs", gff, "--fasta", fna, "-o", tmp_path / "pairs.tsv", "-q"])
    assert code == 0, err
    table = read_pairs(tmp_path / "pairs.tsv")
    rebuilt = genome_from_table(table, None, fna, table.genome_name)
    assert rebuilt.name == genome.name and genes_comment(rebuilt) == "genes source=pairs_table"
    own = header_comments(scores, *model_source(None), genome=genome)
    assert own[1] == table.genes_comment == "genes source=annotation genetic_code=4"
    assert header_comments(scores, *model_source(None), genome=rebuilt, genes=table.genes_comment) == own
    for wrong in ({"genome": rebuilt, "genes": "source=annotation"}, {"genome": rebuilt, "genes": "genes source=a\nb"},
                  {"genes": table.genes_comment}):
        with pytest.raises(UsageError, match="genes source="):
            header_comments(scores, "default", **wrong)


def test_scores_evaluate_in_memory_as_their_tsv_does(tmp_path):
    """Labelled pairs scored by score_genome are evaluated as `microfuse evaluate` evaluates `score --labels`'s TSV,
    with no file written and read back (ScoredTable.from_scores; evaluation took only a scores TSV's path)."""
    import math

    from microfuse_cli import read_genome, score_genome, select_pairs
    from microfuse_cli.evaluate import ScoredTable, evaluate_table, maker_warnings, read_scores
    from microfuse_cli.score import model_source
    from conftest import SHARED

    folder = SHARED / "mpneumoniae_m129"
    gff, fna = folder / "GCF_000027345.1_ASM2734v1_genomic.gff.gz", folder / "GCF_000027345.1_ASM2734v1_genomic.fna.gz"
    labels = folder / "labelled_pairs_mpneumoniae.csv"
    out = tmp_path / "mpn.tsv"
    code, _, err = run_cli(["score", gff, "--fasta", fna, "--labels", labels, "-o", out])
    assert code == 0, err
    genome = read_genome(gff, fna)
    scores = score_genome(genome, pairs=select_pairs(genome, labels=labels))
    table, read = ScoredTable.from_scores(scores, "mpn.tsv", *model_source(None)), read_scores(out)
    assert table.maker == read.maker and maker_warnings([table, read]) == []
    in_memory, from_file = evaluate_table(table, n_boot=50), evaluate_table(read, n_boot=50)
    assert in_memory.keys() == from_file.keys() and in_memory["n"] > 300
    for key, value in from_file.items():
        both_nan = isinstance(value, float) and math.isnan(value) and math.isnan(in_memory[key])
        assert value == in_memory[key] or both_nan, (key, value, in_memory[key])


def test_in_memory_tables_round_probabilities_as_the_files_do(tmp_path):
    """ScoredTable.from_scores and PairIds.from_scores hold each probability as the scores TSV and the fused ids
    file write it (6 decimals, router weights 4): np.round, a scaled multiply, missed Python's correctly rounded
    formatting on near-ties (0.8506245 -> 0.850624 against the file's 0.850625), so in-memory metrics could differ
    from the file route's."""
    import dataclasses

    import numpy as np

    from microfuse_cli import read_genome, score_genome, select_pairs
    from microfuse_cli.evaluate import ScoredTable, read_scores
    from microfuse_cli.io.tables import write_fused_ids, write_scores
    from microfuse_cli.retrieve import PairIds
    from microfuse_cli.retrieve.ids import read_pair_ids
    from microfuse_cli.score import header_comments, model_source

    gff, fna = ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz"
    genome = read_genome(gff, fna)
    scores = score_genome(genome, pairs=select_pairs(genome, label_rule="og"), fused=True)
    n = len(scores.pairs)
    near_ties = (np.arange(n) * 7919 % 10**6) / 1e6 + 5e-7  # each half-way between two 6-decimal values
    weights = np.tile(np.arange(4) * 0.12345 + 0.00005, (n, 1)) + (np.arange(n) % 7)[:, None] * 1e-4
    scores = dataclasses.replace(scores, probability=near_ties, router_weights=weights)
    assert not np.array_equal(np.round(near_ties, 6), [float(f"{v:.6f}") for v in near_ties])  # the case exists
    with open(tmp_path / "s.tsv", "w") as handle:
        write_scores(handle, scores, comments=header_comments(scores, *model_source(None)))
    table, read = ScoredTable.from_scores(scores, "s.tsv", *model_source(None)), read_scores(tmp_path / "s.tsv")
    assert np.array_equal(table.probability, read.probability)
    assert np.array_equal(table.router, read.router)
    with open(tmp_path / "ids.tsv", "w") as handle:
        write_fused_ids(handle, scores, "mg37")
    in_memory, from_file = PairIds.from_scores(scores, "mg37"), read_pair_ids(tmp_path / "ids.tsv")
    assert np.array_equal(in_memory.probability, from_file.probability)


def test_fused_ids_in_memory_are_the_rows_the_file_holds(tmp_path):
    """io.tables describes the fused ids table once (FUSED_ID_COLUMNS, fused_id_rows): write_fused_ids writes those
    rows and PairIds.from_scores holds them, every column (labels known and not, a genome name with a byte that is
    not UTF-8 and a tab, probabilities at 6 decimals), and retrieve's table has those columns (io cannot import
    retrieve: both described it, and could drift)."""
    from microfuse_cli import read_genome, score_genome, select_pairs
    from microfuse_cli.io.tables import FUSED_ID_COLUMNS, fused_id_rows, write_fused_ids
    from microfuse_cli.retrieve import PairIds
    from microfuse_cli.retrieve.ids import PAIRS_COLUMNS, read_pair_ids

    gff, fna = ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz"
    genome = read_genome(gff, fna)
    scores = score_genome(genome, pairs=select_pairs(genome, label_rule="og"), fused=True)
    assert {p.label for p in scores.pairs} == {None, 0, 1}
    name = "mg\udce937\tdraft"
    with open(tmp_path / "ids.tsv", "w") as handle:
        write_fused_ids(handle, scores, name)
    in_memory, from_file = PairIds.from_scores(scores, name), read_pair_ids(tmp_path / "ids.tsv")
    assert PAIRS_COLUMNS == FUSED_ID_COLUMNS
    assert (tmp_path / "ids.tsv").read_text().splitlines()[1] == "\t".join(FUSED_ID_COLUMNS)
    for column in FUSED_ID_COLUMNS:
        np.testing.assert_array_equal(getattr(in_memory, column), getattr(from_file, column), err_msg=column)
    assert in_memory.genome[0] == "mg\ufffd37\ufffddraft" and in_memory.model_id == from_file.model_id
    rows = list(fused_id_rows(scores, name))
    assert [row[3] for row in rows] == [p.label for p in scores.pairs]
    assert in_memory.label.tolist() == [-1 if row[3] is None else row[3] for row in rows]


def test_fused_vectors_index_in_memory_as_their_files_do(tmp_path):
    """score_genome(fused=True) and PairIds.from_scores give the vectors and ids `score --fused` writes, so a genome
    is indexed and searched in memory as `retrieve build` indexes its files (the ids were built by hand from
    Scores, column by column); scores without fused vectors are refused in one line."""
    import pytest

    from microfuse_cli import UsageError, read_genome, score_genome
    from microfuse_cli.retrieve import PairIds, PairIndex, read_vector_files

    gff, fna = ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz"
    fused = tmp_path / "mg.npy"
    code, _, err = run_cli(["score", gff, "--fasta", fna, "-o", tmp_path / "s.tsv", "--fused", fused,
                            "--genome-name", "mg37"])
    assert code == 0, err
    scores = score_genome(read_genome(gff, fna), fused=True)
    ids = PairIds.from_scores(scores, "mg37")
    [(vectors, written)] = read_vector_files([fused])
    np.testing.assert_array_equal(np.asarray(vectors), scores.fused)
    for column in ("pair_id", "scaffold", "genome", "label", "probability"):
        np.testing.assert_array_equal(getattr(ids, column), getattr(written, column), err_msg=column)
    assert ids.model_id == written.model_id == scores.model_id
    in_memory = PairIndex.build(scores.fused, ids, index="flat", device="cpu", threads=1)
    from_files = PairIndex.build([vectors], written, index="flat", device="cpu", threads=1)
    elsewhere = ["another genome"] * 20  # a group the index lacks: nothing excluded, every query finds neighbours
    found = in_memory.search(scores.fused[:20], elsewhere, 3, threads=1)
    expected = from_files.search(np.asarray(vectors)[:20], elsewhere, 3, threads=1)
    assert (found.target >= 0).all() and (found.target[:, 0] == np.arange(20)).all()  # each finds itself first
    np.testing.assert_array_equal(found.target, expected.target)
    with pytest.raises(UsageError, match="fused=True"):
        PairIds.from_scores(score_genome(read_genome(gff, fna)), "mg37")


def test_calls_are_the_operon_pairs_the_scores_tsv_writes():
    """``Scores.calls`` is the TSV's operon_pair: 0 on opposite strands whatever the probability (a model that
    gives them 0.9 had them counted as called by scores.calls and by score's "N called" line, 0 in the TSV)."""
    from microfuse_cli import Scores, adjacent_pairs, read_genome
    from microfuse_cli.io.tables import write_scores

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    pairs = adjacent_pairs(genome)
    scores = Scores(pairs, np.full(len(pairs), 0.9), 0.5)
    written = io.StringIO()
    write_scores(written, scores)
    rows = [line.split("\t") for line in written.getvalue().splitlines()]
    column = rows[0].index("operon_pair")
    same_strand = [p.same_strand for p in pairs]
    assert 0 < sum(same_strand) < len(pairs)
    assert scores.calls.tolist() == [int(r[column]) for r in rows[1:]] == [int(s) for s in same_strand]


def test_scores_built_by_hand_hold_one_row_per_pair():
    """Scores whose probabilities, router weights or fused vectors do not match their pairs are a DataError when
    built (it was numpy's broadcasting ValueError in call_operons, or a misaligned TSV)."""
    import pytest

    from microfuse_cli import DataError, Scores, adjacent_pairs, read_genome

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    pairs = adjacent_pairs(genome)
    n = len(pairs)
    assert len(Scores(pairs, np.zeros(n), 0.5, np.zeros((n, 4)), np.zeros((n, 8))).calls) == n
    for wrong in ({"probability": np.zeros(5)}, {"probability": np.zeros((n, 1))},
                  {"router_weights": np.zeros((n - 1, 4))}, {"fused": np.zeros(n)}):
        fields = {"probability": np.zeros(n), **wrong}
        with pytest.raises(DataError, match="one row per pair"):
            Scores(pairs, threshold=0.5, **fields)


def test_genome_options_are_checked_when_built():
    """A mode, genetic code or topology no reader knows is a UsageError when GenomeOptions is built (mode='metagenome'
    was ignored for an annotation, and read as the default topology never: a typo passed unnoticed); building one
    imports neither Biopython nor pyrodigal."""
    import os
    import subprocess
    import sys

    import pytest

    from microfuse_cli import GenomeOptions, UsageError

    for wrong, said in (({"mode": "metagenome"}, "mode"), ({"genetic_code": 99}, "99"),
                        ({"circular": "yes"}, "circular")):
        with pytest.raises(UsageError, match=said):
            GenomeOptions(**wrong)
    assert GenomeOptions(mode="meta", genetic_code=np.int64(4), circular=False).genetic_code == 4
    topology = GenomeOptions(circular=np.bool_(True)).circular  # a numpy flag, as numpy's integers are taken
    assert topology is True
    with pytest.raises(UsageError, match="circular"):
        GenomeOptions(circular=np.int64(1))
    probe = ("import sys; from microfuse_cli import GenomeOptions; GenomeOptions(mode='single'); "
             "print(sorted(m for m in ('Bio', 'pyrodigal') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.stdout.strip() == "[]"


def test_the_per_genome_rule_is_learned_from_pairs_in_memory(tmp_path):
    """decision_rule_from_pairs learns from a genome's labelled pairs in memory the rule `train --per-genome-rule`
    learns from its `pairs --operons` table (it was only possible from pairs tables on disk); a genome without
    labels is a DataError."""
    import pytest

    from conftest import MPN_FNA, MPN_GFF, SHARED

    from microfuse_cli import DataError, read_genome, select_pairs
    from microfuse_cli.training_data import decision_rule_from_pairs, learn_decision_rule

    known = SHARED / "mpneumoniae_m129" / "odb4_known_operons_mpneumoniae.tsv"
    table = tmp_path / "mpn.tsv"
    code, _, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "--operons", known, "-o", table])
    assert code == 0, err
    genome = read_genome(MPN_GFF, MPN_FNA)
    rule = decision_rule_from_pairs({"mpn.tsv": select_pairs(genome, operons=known)})
    assert rule == learn_decision_rule([table]) and rule.trained_on == ("mpn.tsv",)
    with pytest.raises(DataError, match="no labelled pairs"):
        decision_rule_from_pairs({"mpn": select_pairs(genome)})


def test_the_per_genome_rule_keeps_every_table_of_one_file_name(tmp_path):
    """`train a/pairs.tsv b/pairs.tsv --per-genome-rule` (one folder per genome, as examples/workflow lays them out)
    named both genomes 'pairs.tsv': the second table replaced the first in the rule's genomes, so the rule was
    learned from one genome, trained_on ('pairs.tsv',). Tables of one file name are named by their paths."""
    from conftest import MG_G37, MPN_FNA, MPN_GFF, SHARED

    from microfuse_cli.pairs import read_pairs
    from microfuse_cli.training_data import decision_rule_from_pairs, learn_decision_rule

    known = SHARED / "mpneumoniae_m129" / "odb4_known_operons_mpneumoniae.tsv"
    tables = [tmp_path / "mpn" / "pairs.tsv", tmp_path / "mg" / "pairs.tsv"]
    for args, table in (([MPN_GFF, "--fasta", MPN_FNA, "--operons", known], tables[0]),
                        ([f"{MG_G37}.gff.gz", "--fasta", f"{MG_G37}.fna.gz", "--label-rule", "og"], tables[1])):
        table.parent.mkdir()
        code, _, err = run_cli(["pairs", *args, "-o", table, "-q"])
        assert code == 0, err
    rule = learn_decision_rule(tables)
    assert rule.trained_on == tuple(str(t) for t in tables)
    assert rule == decision_rule_from_pairs({str(t): read_pairs(t).pairs for t in tables})
    assert rule != learn_decision_rule(tables[1:])  # both genomes taught it
    assert learn_decision_rule(tables[:1]).trained_on == ("pairs.tsv",)  # a name of its own: the file's, as before


def test_operons_of_another_genome_are_not_written_as_its_gff3(tmp_path):
    """write_operons_gff with operons of M. genitalium and the genome of M. pneumoniae is a DataError before any
    line is written (it wrote MG operons under MPN's ##sequence-region lines: an invalid GFF3)."""
    import pytest

    from conftest import MPN_FNA, MPN_GFF

    from microfuse_cli import DataError, call_operons, read_genome, score_genome
    from microfuse_cli.io.gff import write_operons_gff

    mg = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    operons = call_operons(mg, score_genome(mg))
    written = io.StringIO()
    assert write_operons_gff(written, mg, operons) == len(operons) > 50
    handle = io.StringIO()
    with pytest.raises(DataError, match=f"operon operon_1 .* not of genome 'GCF_000027345.1"):
        write_operons_gff(handle, read_genome(MPN_GFF, MPN_FNA), operons)
    assert handle.getvalue() == ""


def test_one_comment_string_is_refused_by_the_writers(ecoli_genome):
    """The writers take header_comments' list of lines; one string (header_comments(...)[0]) was written one
    character a '#' line. Refused as a UsageError before anything is written."""
    import pytest

    from microfuse_cli import Scores, UsageError, adjacent_pairs
    from microfuse_cli.io.gff import write_operons_gff
    from microfuse_cli.io.tables import write_operons_tsv, write_scores

    pairs = adjacent_pairs(ecoli_genome)[:3]
    scores = Scores(pairs, np.array([0.9, 0.1, 0.5]), 0.5)
    line = "microfuse 0.1.0 model=default"
    for write in (lambda h, c: write_scores(h, scores, comments=c), lambda h, c: write_operons_tsv(h, [], c),
                  lambda h, c: write_operons_gff(h, ecoli_genome, [], comments=c)):
        handle = io.StringIO()
        write(handle, [line])
        assert f"{line}\n" in handle.getvalue() and "#m\n" not in handle.getvalue()
        handle = io.StringIO()
        with pytest.raises(UsageError, match="list of lines"):
            write(handle, line)
        assert handle.getvalue() == ""


def test_a_head_trained_in_memory_records_the_views_it_was_trained_on(tmp_path):
    """train(inputs=embeddings.model_inputs(columns)) records the context columns a head was trained on, so its
    saved folder scores a genome as the model in memory predicts (without, a head trained on the 'core' columns
    was saved as reading every column, and scoring failed: 'context view has shape (n, 75), the model expects
    (n, 11)')."""
    import pytest
    from conftest import MPN, MPN_FNA, MPN_GFF

    from microfuse_cli import read_genome, score_genome, select_pairs
    from microfuse_cli.embed import ViewConfig, compute_embeddings
    from microfuse_cli.errors import DataError
    from microfuse_cli.model import FusionConfig
    from microfuse_cli.trained import TrainConfig
    from microfuse_cli.training import train
    from microfuse_cli.training_data import resolve_context_features

    genome = read_genome(MPN_GFF, MPN_FNA)
    pairs = [p for p in select_pairs(genome, operons=MPN / "odb4_known_operons_mpneumoniae.tsv", split="0.7,0.3,0")
             if p.label is not None]
    embeddings = compute_embeddings(genome, pairs, ViewConfig.parse("builtin", "builtin"))
    columns = resolve_context_features("core", embeddings)
    x_protein, x_context = embeddings.pair_views(pairs, columns)
    assert x_context.shape[1] == len(columns) < embeddings.dims["pair_context"]
    split = np.array([p.split for p in pairs])
    with pytest.raises(DataError, match="11 columns"):  # the inputs of every column: refused before training
        train(x_protein, x_context, [p.label for p in pairs], split == "train", split == "val",
              FusionConfig(hidden=32), TrainConfig(max_epochs=2, batch_size=128), inputs=embeddings.model_inputs())
    model = train(x_protein, x_context, [p.label for p in pairs], split == "train", split == "val",
                  FusionConfig(hidden=32), TrainConfig(max_epochs=2, batch_size=128),
                  inputs=embeddings.model_inputs(columns))
    assert model.inputs.context_features == tuple(columns)
    model.save(tmp_path / "core")
    scores = score_genome(genome, tmp_path / "core", pairs=pairs)
    np.testing.assert_allclose(scores.probability, model.predict(x_protein, x_context).probability, atol=1e-6)


def test_pair_ids_from_scores_take_the_genome_name_not_the_genome(ecoli_genome):
    """PairIds.from_scores(scores, genome) names the genome by a str, as --genome-name: the Genome itself (what
    the parameter's name suggests) ended in 'AttributeError: 'Genome' object has no attribute 'encode''."""
    import pytest

    from microfuse_cli import UsageError
    from microfuse_cli.pairs import adjacent_pairs
    from microfuse_cli.retrieve import PairIds
    from microfuse_cli.score import Scores

    pairs = adjacent_pairs(ecoli_genome)[:3]
    scores = Scores(pairs, np.array([0.9, 0.1, 0.5]), 0.5, fused=np.zeros((3, 4), np.float32))
    assert PairIds.from_scores(scores, "k12").genome.tolist() == ["k12"] * 3
    with pytest.raises(UsageError, match="the genome's name"):
        PairIds.from_scores(scores, ecoli_genome)


def test_a_pair_given_twice_gets_one_row_and_is_scored_each_time(tmp_path):
    """A pair list naming one pair twice ('A B' and 'B A'): compute_embeddings gave its saved folder a pairs.tsv
    listing the pair twice, which its own load refuses; refusing such a list instead stopped `score --pairs`, which
    scored it before. One row per pair, readable when saved, and `score --pairs` scores it once (one row per
    listing gave --fused vectors whose ids `retrieve build` refuses, and `pairs --pairs` a table `score` refuses);
    an Embeddings built by hand with a pair twice is refused when built."""
    import pytest

    from conftest import MPN_FNA, MPN_GFF

    from microfuse_cli import DataError, read_genome
    from microfuse_cli.embed import Embeddings, ViewConfig, compute_embeddings
    from microfuse_cli.pairs import adjacent_pairs

    genome = read_genome(MPN_GFF, MPN_FNA)
    pairs = adjacent_pairs(genome)[:3]
    once = compute_embeddings(genome, pairs, ViewConfig.parse("builtin", "builtin"))
    twice = compute_embeddings(genome, [*pairs, pairs[1]], ViewConfig.parse("builtin", "builtin"))
    assert twice.pair_ids == once.pair_ids == tuple(p.pair_id for p in pairs)
    assert np.array_equal(twice.pair_context, once.pair_context)
    twice.save(tmp_path / "emb")
    assert Embeddings.load(tmp_path / "emb").pair_ids == once.pair_ids
    listed = tmp_path / "pairs.tsv"
    listed.write_text("MPN_001\tMPN_002\nMPN_002\tMPN_003\nMPN_002\tMPN_001\n")
    code, out, err = run_cli(["score", MPN_GFF, "--fasta", MPN_FNA, "--pairs", listed, "-o", "-", "-q"])
    rows = [line.split("\t") for line in out.splitlines() if not line.startswith("#")]
    assert code == 0 and [r[0] for r in rows[1:]] == ["MPN_001|MPN_002", "MPN_002|MPN_003"], err
    with pytest.raises(DataError, match=re.escape("pair 'a|b' is listed twice in the embeddings")):
        Embeddings(["a", "b"], ["s", "s"], np.zeros((2, 3), np.float32), None, ["a|b", "a|b"],
                   np.zeros((2, 1), np.float32), {})


def test_embeddings_save_hashes_its_arrays_as_written_not_read_back(tmp_path, monkeypatch):
    """Embeddings.save wrote each .npy, then write_manifest read every one back to hash it (a second read of the
    largest files of the folder): the arrays are hashed as they are written now, the small id tables still read;
    the manifest records the files' true checksums, verified on load."""
    import hashlib

    from conftest import MPN_FNA, MPN_GFF

    from microfuse_cli import manifest, read_genome
    from microfuse_cli.embed import Embeddings, ViewConfig, compute_embeddings
    from microfuse_cli.pairs import adjacent_pairs

    genome = read_genome(MPN_GFF, MPN_FNA)
    embeddings = compute_embeddings(genome, adjacent_pairs(genome)[:40], ViewConfig.parse("builtin", "builtin"))
    read_back = []
    monkeypatch.setattr(manifest, "sha256_file", lambda path, real=manifest.sha256_file: read_back.append(
        path.name) or real(path))
    embeddings.save(tmp_path / "emb")
    assert read_back and not [name for name in read_back if name.endswith(".npy")], read_back
    listed = json.loads((tmp_path / "emb" / "manifest.json").read_text())["files_sha256"]
    assert {name for name in listed if name.endswith(".npy")} == {"protein.npy", "context.npy", "pair_context.npy"}
    for name, digest in listed.items():
        assert hashlib.sha256((tmp_path / "emb" / name).read_bytes()).hexdigest() == digest, name
    assert Embeddings.load(tmp_path / "emb", verify=True).pair_ids == embeddings.pair_ids


def test_every_library_call_defaults_to_one_thread():
    """read_genome, compute_embeddings and score_genome took 1 thread by default, but training.train and PairIndex
    took None: torch's and FAISS' own count, every core of a cluster node for a job given one slot. Every call that
    takes ``threads`` now defaults to 1 (0: every usable core), which torch and FAISS see during the call, and the
    caller's counts come back after it."""
    import inspect

    import faiss
    import torch

    from microfuse_cli.comparative import explain, search_homologs
    from microfuse_cli.embed import compute_embeddings
    from microfuse_cli.fusion import FusionConfig
    from microfuse_cli.genome import read_genome
    from microfuse_cli.retrieve.ids import PairIds
    from microfuse_cli.retrieve.index import PairIndex
    from microfuse_cli.score import score_genome
    from microfuse_cli.trained import TrainConfig
    from microfuse_cli.training import train, train_seeds

    for call in (read_genome, compute_embeddings, score_genome, train, train_seeds, explain, search_homologs,
                 PairIndex.build, PairIndex.append, PairIndex.search):
        assert inspect.signature(call).parameters["threads"].default == 1, call.__qualname__
    before = torch.get_num_threads(), faiss.omp_get_max_threads()
    torch.set_num_threads(2)
    faiss.omp_set_num_threads(2)
    try:
        seen = []
        x = np.random.default_rng(0).normal(size=(200, 8)).astype(np.float32)
        rows = np.arange(200) % 4 != 0
        train(x, x, x[:, 0] > 0, rows, ~rows, FusionConfig(hidden=8), TrainConfig(max_epochs=2, batch_size=64),
              progress=lambda info: seen.append(("torch", torch.get_num_threads())))
        ids = PairIds(pair_id=np.array([f"p{i}" for i in range(200)]),
                      scaffold=np.array([f"s{i // 20}" for i in range(200)]), genome=np.array(["g"] * 200))
        index = PairIndex.build(x, ids, index="flat", device="cpu",
                                progress=lambda n: seen.append(("faiss", faiss.omp_get_max_threads())))
        index.search(x[:5], ids.scaffold[:5], 3, progress=lambda n: seen.append(("faiss", faiss.omp_get_max_threads())))
        assert set(seen) == {("torch", 1), ("faiss", 1)}, seen
        assert (torch.get_num_threads(), faiss.omp_get_max_threads()) == (2, 2)
    finally:
        torch.set_num_threads(before[0])
        faiss.omp_set_num_threads(before[1])


def test_pair_ids_and_search_results_are_read_only():
    """README: what the library returns cannot be changed in place. PairIds and SearchResult arrays were writable:
    ``index.ids.label[0] = 1`` relabelled the index's own pairs (its ids are the PairIds it was built with)."""
    from microfuse_cli import read_genome, score_genome
    from microfuse_cli.retrieve import PairIds, PairIndex

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    scores = score_genome(genome, fused=True)
    ids = PairIds.from_scores(scores, "mg")
    index = PairIndex.build(scores.fused, ids, index="flat", device="cpu")
    found = index.search(scores.fused[:3], ids.scaffold[:3], 2)
    for array in (index.ids.label, index.ids.probability, index.ids.pair_id, ids.genome, found.target,
                  found.similarity, found.rank):
        assert "read-only" in str(_refused(lambda: array.__setitem__(0, array[0])))
    stacked = PairIds.stack([ids, PairIds.from_scores(scores, "mg2")])
    assert len(stacked) == 2 * len(ids) and not stacked.label.flags.writeable


def test_first_evaluation_and_training_leave_pythons_random_sequence_alone():
    """Importing scikit-learn (at the first evaluation or training of a process) imports rich, which draws from
    Python's global ``random``: after ``random.seed(1)``, a notebook's next draw differed depending on whether a
    microfuse call had evaluated before. The import now puts the state back."""
    import os
    import subprocess
    import sys

    probe = ("import random, numpy as np\n"
             "from microfuse_cli.metrics import auroc\n"
             "from microfuse_cli.runtime import thread_limits\n"
             "random.seed(1); expected = [random.random() for _ in range(3)]\n"
             "random.seed(1); first = random.random()\n"
             "auroc(np.array([0, 1, 0, 1]), np.array([0.1, 0.9, 0.4, 0.6]))\n"
             "with thread_limits(1, sklearn=True): pass\n"
             "print([first, random.random(), random.random()] == expected)\n")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "True"


def test_hand_built_genomes_and_scores_of_the_wrong_kinds_are_one_line_errors():
    """The data model is exported: a Genome named None, one holding gene ids or a gene with text coordinates, and
    Scores of gene-id strings or with a text threshold were AttributeErrors/TypeErrors deep inside (printable_name,
    genes_by_scaffold, Genome.check's comparison, Scores.calls); a numpy float32 threshold (a cut read from a
    model's metrics) was refused although it is a probability."""
    import dataclasses

    import pytest

    from microfuse_cli import DataError, Scores, UsageError, adjacent_pairs, read_genome, score_genome

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    first, rest = genome.genes[0], list(genome.genes[1:])
    with pytest.raises(UsageError, match="a Genome's name is a str"):
        dataclasses.replace(genome, name=None)
    for genes, said in ((["MG_001", *rest], "its genes are Gene records, not str 'MG_001'"),
                        ([dataclasses.replace(first, start="686"), *rest], "needs whole-number coordinates")):
        with pytest.raises(UsageError, match=said):
            score_genome(dataclasses.replace(genome, genes=genes))
    pairs = adjacent_pairs(genome)[:2]
    with pytest.raises(UsageError, match="Scores hold GenePair objects"):
        Scores([p.pair_id for p in pairs], np.array([0.9, 0.1]), 0.5)
    with pytest.raises(UsageError, match="threshold must be a probability"):
        Scores(pairs, np.array([0.9, 0.1]), "0.5")
    assert Scores(pairs, np.array([0.9, 0.1]), np.float32(0.5)).calls.tolist() == [1, 0]
    assert score_genome(genome, threshold=np.float32(0.75)).threshold == float(np.float32(0.75))


def test_a_hand_built_genome_of_the_wrong_kinds_is_a_usage_error_and_of_bad_values_a_data_error():
    """A Genome's fields of the wrong Python kind (a gene id where a Gene belongs, numpy or text coordinates) are
    the caller's slip, a UsageError (exit 2) as every other argument of the wrong kind is: they were DataErrors,
    which say the input data is bad. Values that do not fit together stay DataErrors, as from a file."""
    import dataclasses

    import pytest

    from microfuse_cli import DataError, UsageError, adjacent_pairs, read_genome

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    first, rest = genome.genes[0], list(genome.genes[1:])
    kinds = (["MG_001", *rest], [dataclasses.replace(first, end=float(first.end)), *rest],
             [dataclasses.replace(first, start=None), *rest])
    for genes in kinds:
        with pytest.raises(UsageError) as refused:
            adjacent_pairs(dataclasses.replace(genome, genes=genes))
        assert refused.value.exit_code == 2 and not isinstance(refused.value, DataError)
    assert len(adjacent_pairs(dataclasses.replace(genome, genes=[dataclasses.replace(
        first, start=np.int64(first.start)), *rest]))) == len(adjacent_pairs(genome))  # numpy's ints are whole
    values = ([dataclasses.replace(first, strand=0), *rest], [dataclasses.replace(first, start=first.end + 1), *rest],
              [dataclasses.replace(first, scaffold="elsewhere"), *rest], [*rest, first])
    for genes in values:
        with pytest.raises(DataError) as refused:
            adjacent_pairs(dataclasses.replace(genome, genes=genes))
        assert refused.value.exit_code == 1


def test_settings_of_the_wrong_kind_are_usage_errors():
    """device=None (score_genome, ViewConfig.parse) was a TypeError of re; GenomeOptions(bins=[...]) or a str a
    ValueError of dict(): each a UsageError now, as a misspelled device or mode is."""
    import pytest

    from microfuse_cli import GenomeOptions, UsageError, read_genome, score_genome
    from microfuse_cli.embed import ViewConfig

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    with pytest.raises(UsageError, match="not None"):
        score_genome(genome, device=None)
    with pytest.raises(UsageError, match="not None"):
        ViewConfig.parse("builtin", "builtin", device=None)
    with pytest.raises(UsageError, match="ViewConfig.parse takes the view names as str"):
        ViewConfig.parse("builtin", ["builtin"])
    for bins, found in ((["NC_000908.2"], "list"), ("NC_000908.2\tbin1", "str"),
                        ({"NC_000908.2": "bin1", "NC_000909.1": 1}, "'NC_000909.1' -> 1")):
        with pytest.raises(UsageError) as refused:
            GenomeOptions(bins=bins)  # a bad entry of a dict is named, not the dict ('not dict' was said)
        assert str(refused.value).startswith("bins map scaffold names to bin names") and \
            str(refused.value).endswith(f", not {found}"), str(refused.value)
    assert dict(GenomeOptions(bins={"NC_000908.2": "bin1"}).bins) == {"NC_000908.2": "bin1"}


def test_a_bin_map_of_the_wrong_kind_is_said_one_way_wherever_it_is_passed():
    """GenomeOptions(bins=) and score_genome(groups=) take the same scaffold -> bin map and checked it twice in
    two wordings ('groups must map ... (str -> str)' named no entry); one check now, naming the stray entry."""
    import pytest

    from microfuse_cli import GenomeOptions, UsageError, read_genome, score_genome

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    said = {}
    for name, call in (("bins", lambda bad: GenomeOptions(bins=bad)),
                       ("groups", lambda bad: score_genome(genome, groups=bad))):
        for bad in (["NC_000908.2"], {"NC_000908.2": 1}):
            with pytest.raises(UsageError) as refused:
                call(bad)
            said.setdefault(name, []).append(str(refused.value).removeprefix(name))
    assert said["bins"] == said["groups"] == [
        " map scaffold names to bin names (str -> str, as read_groups gives), not list",
        " map scaffold names to bin names (str -> str, as read_groups gives), not 'NC_000908.2' -> 1"]


def test_the_readmes_in_memory_calls_refuse_wrong_kinds_in_one_line(tmp_path):
    """The calls README's Python API names beyond __all__ (evaluate, retrieval, training in memory, headers): each
    misuse from a notebook was a bare AttributeError, TypeError or ValueError from deep inside; each is now the
    MicrofuseError kind its docstring's Raises section names."""
    import pytest

    from conftest import MPN_FNA, MPN_GFF, MPN_PAIRS

    from microfuse_cli import DataError, UsageError, read_genome, score_genome, select_pairs
    from microfuse_cli.embed import ViewConfig, compute_embeddings
    from microfuse_cli.evaluate import ScoredTable, evaluate_table
    from microfuse_cli.fusion import FusionConfig
    from microfuse_cli.retrieve import PairIds
    from microfuse_cli.score import decision_id, header_comments, load_model, model_source
    from microfuse_cli.trained import TrainConfig, TrainedModel
    from microfuse_cli.training import train
    from microfuse_cli.training_data import decision_rule_from_pairs

    genome = read_genome(MPN_GFF, MPN_FNA)
    pairs = select_pairs(genome, labels=MPN_PAIRS)
    labelled = [p for p in pairs if p.label is not None]
    scores = score_genome(genome, pairs=pairs)
    table = ScoredTable.from_scores(scores, "mpn", *model_source(None))
    config = ViewConfig.parse("builtin", "builtin")
    embeddings = compute_embeddings(genome, labelled, config)
    x_protein, x_context = embeddings.pair_views(labelled)
    rows = np.arange(len(labelled)) % 4 != 0
    y = np.array([p.label for p in labelled])
    head = train(x_protein, x_context, y, rows, ~rows, FusionConfig(hidden=8), TrainConfig(max_epochs=1),
                 inputs=embeddings.model_inputs())
    a_file = tmp_path / "notes.txt"
    a_file.write_text("a file where the model's parent folder is named\n")
    misuses = [
        (evaluate_table, UsageError, lambda: evaluate_table(scores)),
        (evaluate_table, UsageError, lambda: evaluate_table(table, threshold="0.5")),
        (ScoredTable.from_scores, UsageError, lambda: ScoredTable.from_scores(scores, None)),
        (PairIds.stack, UsageError, lambda: PairIds.stack([])),
        (header_comments, UsageError, lambda: header_comments(genome, "default")),
        (model_source, UsageError, lambda: model_source(3)),
        (decision_id, UsageError, lambda: decision_id("default", 0.5)),
        (compute_embeddings, UsageError, lambda: compute_embeddings(str(MPN_GFF), labelled, config)),
        (compute_embeddings, UsageError, lambda: compute_embeddings(genome, labelled, "builtin")),
        (compute_embeddings, UsageError, lambda: compute_embeddings(genome, [("MPN_001", "MPN_002")], config)),
        (train, DataError, lambda: train(x_protein, x_context, [None, *y[1:]], rows, ~rows,  # an unlabelled pair
                                         FusionConfig(hidden=8), TrainConfig(max_epochs=1))),
        (train, UsageError, lambda: train(x_protein, x_context, y, rows, ~rows, {"hidden": 8},
                                          TrainConfig(max_epochs=1))),
        (train, UsageError, lambda: train(x_protein, x_context, y, rows, ~rows, FusionConfig(hidden=8),
                                          TrainConfig(lr="1e-3", max_epochs=1))),  # was a TypeError of '>'
        (decision_rule_from_pairs, UsageError, lambda: decision_rule_from_pairs({"mpn": ["MPN_001|MPN_002"]})),
        (TrainedModel.with_decision, UsageError, lambda: head.with_decision("per-genome")),
        (TrainedModel.save, UsageError, lambda: head.save(3)),
        (TrainedModel.save, DataError, lambda: head.save(a_file / "head")),  # was FileExistsError of mkdir
        (TrainedModel.load, UsageError, lambda: TrainedModel.load(3)),
    ]
    for function, kind, misuse in misuses:
        with pytest.raises(kind) as raised:
            misuse()
        assert type(raised.value) is kind and "\n" not in str(raised.value), function.__qualname__
        doc = inspect_doc(function)
        assert "Raises:" in doc and kind.__name__ in doc.split("Raises:", 1)[1], function.__qualname__
    assert list(tmp_path.iterdir()) == [a_file]  # nothing half-written where a bad path was refused
    assert decision_id(load_model(None), 0.5) == scores.decision_id


def inspect_doc(function) -> str:
    """``function``'s docstring, inherited or not ('' when it has none)."""
    import inspect

    return inspect.getdoc(function) or ""



def test_scores_cut_at_another_threshold_carry_no_stale_decision_id(tmp_path):
    """`dataclasses.replace(scores, threshold=x)` (README: a changed copy) makes other calls, yet kept the decision_id
    of the model's own cut, so header_comments wrote a decision_id naming a rule that did not make those calls. The
    copy carries none (header_comments asks for it); the same cut keeps it, and the asked-for one is the CLI's."""
    import dataclasses

    import pytest

    from microfuse_cli import UsageError, load_model, read_genome, score_genome
    from microfuse_cli.score import decision_id, header_comments, model_source

    gff, fna = ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz"
    model = load_model(None)
    scores = score_genome(read_genome(gff, fna), model)
    assert dataclasses.replace(scores, calibration=()).decision_id == scores.decision_id  # the same cut
    recut = dataclasses.replace(scores, threshold=0.9)
    assert recut.decision_id is None and recut.model_id == scores.model_id
    with pytest.raises(UsageError, match="decision_id"):
        header_comments(recut, *model_source(None))
    out = tmp_path / "scores.tsv"
    code, _, err = run_cli(["score", gff, "--fasta", fna, "--threshold", "0.9", "-o", out])
    assert code == 0, err
    written = [line[1:] for line in out.read_text().splitlines() if line.startswith("#microfuse")]
    given = header_comments(recut, *model_source(None), decision_id=decision_id(model, 0.9), threshold_from="user")
    assert given[:1] == written


def test_score_genome_takes_the_bins_of_genome_options(tmp_path):
    """`GenomeOptions(bins=...)` holds its bins as a read-only mapping; score_genome's `groups` refused that mapping
    (it asked for a dict), so the bins a genome was read with could not calibrate its scores."""
    from microfuse_cli import GenomeOptions, read_genome, score_genome

    gff, fna = ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz"
    genome = read_genome(gff, fna)
    options = GenomeOptions(bins={name: "bin1" for name in genome.scaffolds})
    scores = score_genome(genome, groups=options.bins)
    assert [c.group for c in scores.calibration] == ["bin1"]
    assert scores.probability.tolist() == score_genome(genome, groups=dict(options.bins)).probability.tolist()


def _mg_genome():
    from microfuse_cli import read_genome

    return read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")


def test_a_hand_built_genomes_scaffolds_ids_and_extents_are_checked():
    """Genome.check looked at genes only: a scaffold filed under another key than its id was a KeyError in
    call_operons, an int gene id a TypeError in the GFF3 writer, circular='no' (a true str) paired M. genitalium's
    last gene with its first, and a gene past the end of a linear scaffold was scored (readers refuse it). A list
    of Scaffolds where a mapping belongs was a TypeError of dict()."""
    import dataclasses

    import pytest

    from microfuse_cli import DataError, Scaffold, UsageError, adjacent_pairs, call_operons, score_genome

    genome = _mg_genome()
    (sid, scaffold), = genome.scaffolds.items()
    first, rest = genome.genes[0], list(genome.genes[1:])
    renamed = dataclasses.replace(genome, scaffolds={"chr": scaffold},
                                  genes=[dataclasses.replace(g, scaffold="chr") for g in genome.genes])
    with pytest.raises(DataError, match="the scaffold under the key 'chr' is named 'NC_000908.2'"):
        call_operons(renamed, score_genome(renamed))
    with pytest.raises(UsageError, match="a gene's id is a str, not int 1"):
        score_genome(dataclasses.replace(genome, genes=[dataclasses.replace(first, id=1), *rest]))
    for field, value in (("circular", "no"), ("length", "580076")):
        with pytest.raises(UsageError, match="needs a whole-number length and circular True or False"):
            adjacent_pairs(dataclasses.replace(genome, scaffolds={sid: dataclasses.replace(scaffold, **{field: value})}))
    with pytest.raises(DataError, match=r"ends at \d+, past the end of NC_000908.2 \(500000 bp"):
        adjacent_pairs(dataclasses.replace(genome, scaffolds={sid: Scaffold(sid, 500_000)}))
    circular = adjacent_pairs(dataclasses.replace(genome, scaffolds={sid: dataclasses.replace(scaffold, circular=True)}))
    assert adjacent_pairs(dataclasses.replace(
        genome, scaffolds={sid: dataclasses.replace(scaffold, circular=np.True_)})) == circular  # numpy's bool too
    assert len(circular) == len(adjacent_pairs(genome)) + 1
    with pytest.raises(UsageError, match=r"a Genome's scaffolds map each id to its Scaffold \(\{s.id: s for s in"):
        dataclasses.replace(genome, scaffolds=[scaffold])  # was a TypeError of dict()


def test_pairs_comments_takes_a_bool_for_circular_as_genome_options_does():
    """pairs_comments(genome, circular=1) wrote '#topology forced=circular' (and 0 'linear'): its check, `not in
    (None, True, False)`, let an int or a float equal to one pass, where GenomeOptions(circular=1) and a Scaffold's
    circular are refused; a flag is True or False (numpy's bool too) or None, as errors.true_or_false says."""
    import dataclasses

    import pytest

    from microfuse_cli import UsageError
    from microfuse_cli.pairs import pairs_comments

    genome = _mg_genome()
    (sid, scaffold), = genome.scaffolds.items()
    unread = dataclasses.replace(genome, scaffolds={sid: dataclasses.replace(scaffold, sequence=None)})
    for value in (1, 0, 1.0, "yes"):
        with pytest.raises(UsageError, match=r"^pairs_comments' circular is True, False or None \(the genome's own "
                                             rf"topology\), not {value!r}$"):
            pairs_comments(unread, circular=value)
    assert pairs_comments(unread, circular=np.True_)[-1] == "topology forced=circular"
    assert pairs_comments(unread, circular=False)[-1] == "topology forced=linear"


def test_a_gene_wholly_past_the_end_of_a_circular_scaffold_is_refused():
    """Genome.check let a circular scaffold hold genes that begin past its end (M. genitalium's genes on a 500 kb
    circle: coordinates of another assembly), pairing MG_470 with MG_066 across a made-up origin; only a gene that
    starts inside and runs across the origin may end past it, as readers give it."""
    import dataclasses

    import pytest

    from microfuse_cli import DataError, adjacent_pairs

    genome = _mg_genome()
    (sid, scaffold), = genome.scaffolds.items()
    shorter = dataclasses.replace(scaffold, length=500_000, sequence=None, circular=True)
    with pytest.raises(DataError, match=r"ends at \d+, past the end of NC_000908.2 \(500000 bp"):
        adjacent_pairs(dataclasses.replace(genome, scaffolds={sid: shorter}))
    across = dataclasses.replace(genome, genes=[*genome.genes[:-1], dataclasses.replace(
        genome.genes[-1], end=scaffold.length + 30)], scaffolds={sid: dataclasses.replace(scaffold, circular=True)})
    assert adjacent_pairs(across)[-1].pair_id == f"{genome.genes[-1].id}|{genome.genes[0].id}"


def test_the_writers_refuse_a_path_or_objects_of_another_kind_before_writing(tmp_path, monkeypatch):
    """write_scores('scores.tsv', scores), write_operons_gff(handle, operons, genome) (arguments swapped) and
    write_operons_tsv(handle, scores) were AttributeErrors or TypeErrors, the last two after the header was
    written; a binary handle wrote nothing but failed with a TypeError."""
    import pytest

    from microfuse_cli import UsageError, call_operons, score_genome
    from microfuse_cli.io.gff import write_operons_gff
    from microfuse_cli.io.tables import write_operons_tsv, write_scores

    monkeypatch.chdir(tmp_path)
    genome = _mg_genome()
    scores = score_genome(genome)
    operons = call_operons(genome, scores)
    with pytest.raises(UsageError, match=r"^write_scores writes to an open text file \(open\(path, 'w'\), sys.stdout\), "
                                         r"not str$"):
        write_scores("scores.tsv", scores)
    with pytest.raises(UsageError, match="write_scores takes the Scores score_genome returns, not list"):
        write_scores(io.StringIO(), operons)
    calls = ((write_operons_gff, (genome, operons), None), (write_operons_gff, (operons, genome), "takes a Genome"),
             (write_operons_tsv, (scores,), "takes the operons call_operons returns, not Scores$"),
             (write_operons_tsv, (["operon_1"],), "not str 'operon_1'"))
    for write, args, said in calls:
        for handle in (io.StringIO(), io.BytesIO()):
            binary = isinstance(handle, io.BytesIO)  # refused first, whatever else is wrong
            with pytest.raises(UsageError, match="not a binary file" if binary else said) if binary or said else \
                    contextlib.nullcontext():
                write(handle, *args)
            assert (len(handle.getvalue()) > 0) == (said is None and not binary)  # nothing written when refused
    assert list(tmp_path.iterdir()) == []


def test_the_operon_writers_write_every_operon_of_a_generator():
    """require_operons looked through a generator for a stray item, so the writers found it empty: write_operons_tsv(h,
    (op for op in operons if len(op.genes) > 2)) wrote the header alone and returned 0, write_operons_gff no
    operon; an iterable writes what its list does."""
    from microfuse_cli import call_operons, score_genome
    from microfuse_cli.io.gff import write_operons_gff
    from microfuse_cli.io.tables import write_operons_tsv

    genome = _mg_genome()
    operons = [op for op in call_operons(genome, score_genome(genome)) if len(op.genes) > 2]
    for write in (write_operons_tsv, lambda handle, ops: write_operons_gff(handle, genome, ops)):
        as_list, as_generator = io.StringIO(), io.StringIO()
        listed, generated = write(as_list, operons), write(as_generator, (op for op in operons))
        assert as_generator.getvalue() == as_list.getvalue() and listed == generated
        assert sum(op.id in as_list.getvalue() for op in operons) == len(operons) > 10


def test_select_pairs_takes_its_split_as_text_and_says_so():
    """select_pairs(genome, split=(0.7, 0.15, 0.15)) was an AttributeError ('tuple' object has no attribute
    'split')."""
    import pytest

    from microfuse_cli import UsageError, select_pairs

    with pytest.raises(UsageError, match=r"split takes three fractions as text, like '0.7,0.15,0.15'"):
        select_pairs(_mg_genome(), split=(0.7, 0.15, 0.15))
    # a library caller is told the argument, a CLI user the flag: `--split takes ...` named only the flag
    for text, what in (("0.7,x", "three fractions"), ("0.7,0.3", "three non-negative fractions")):
        with pytest.raises(UsageError, match=rf"^split takes {what} like 0.7,0.15,0.15 \(--split\), not '{text}'$"):
            select_pairs(_mg_genome(), split=text)


def test_index_settings_of_the_wrong_kind_are_usage_errors_and_faiss_warns_through_the_log(capfd, caplog):
    """PairIndex.build took nlist=8.5 as 8 and '8' as 8, hnsw_m='8' and search(nprobe='2') were TypeErrors; and an
    IVF index of more lists than its vectors train well printed FAISS' 'WARNING clustering ...' on the process's
    stderr, where neither the microfuse logger nor a notebook's capture sees it."""
    import logging

    import pytest

    from microfuse_cli import UsageError, score_genome
    from microfuse_cli.retrieve import PairIds, PairIndex

    scores = score_genome(_mg_genome(), fused=True)
    ids = PairIds.from_scores(scores, "mg")
    for setting in ({"nlist": 8.5}, {"nlist": "8"}, {"train_sample": "400"}, {"pq_m": "4", "index": "ivfpq"},
                    {"hnsw_m": "8", "index": "hnsw"}):
        with pytest.raises(UsageError, match=f"^{next(iter(setting))} must be a whole number >= 1, not"):
            PairIndex.build(scores.fused, ids, **{"index": "ivf", "device": "cpu", **setting})
    capfd.readouterr()
    with caplog.at_level(logging.WARNING, logger="microfuse"):
        index = PairIndex.build(scores.fused, ids, index="ivf", nlist=16, device="cpu")
    assert capfd.readouterr() == ("", "")
    assert "training 16 IVF lists on 475 vectors (k-means wants at least 624): a smaller nlist, or more vectors, " \
           "trains them better" in caplog.text
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="microfuse"):  # the advice names what helps: not pq_nbits here
        PairIndex.build(scores.fused, ids, index="ivf", nlist=4, train_sample=100, device="cpu")
    assert caplog.messages == ["training 4 IVF lists on 100 vectors (k-means wants at least 156): a smaller nlist, or "
                               "a larger train_sample, trains them better"]
    for setting in ({"nprobe": "2"}, {"efSearch": 1.5}):
        with pytest.raises(UsageError, match=f"^{next(iter(setting))} must be a whole number >= 1"):
            index.search(scores.fused[:2], ["other"] * 2, 3, **setting)
    assert index.search(scores.fused[:2], ["other"] * 2, 3, nprobe=np.int64(2)).target.shape == (2, 3)


def test_an_input_path_of_none_is_refused_not_read_from_stdin():
    """read_genome(None) (a Snakemake script's snakemake.input.get('gff') of a missing key), read_scores(None),
    read_pairs(None) and read_pair_ids(None) read the process's stdin as if given '-': in a notebook or a job whose
    stdin stays open they waited for ever. None names no input: a UsageError, at once."""
    import subprocess
    import sys

    code = ("from microfuse_cli import UsageError, read_genome\n"
            "from microfuse_cli.evaluate import read_scores\n"
            "from microfuse_cli.pairs import read_pairs\n"
            "from microfuse_cli.retrieve import read_pair_ids\n"
            "for read in (read_genome, read_scores, read_pairs, read_pair_ids):\n"
            "    try:\n"
            "        read(None)\n"
            "    except UsageError as refused:\n"
            "        print(refused)\n")
    with subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, text=True, cwd=ROOT) as child:  # stdin left open, as a terminal's
        try:
            out, err = _communicate_keeping_stdin_open(child, 30)
        finally:
            child.kill()
    assert err == "" and out.splitlines() == [
        "an input is named by a path (str or os.PathLike; '-' for stdin), not None"] * 4


def _communicate_keeping_stdin_open(child, timeout: float) -> tuple[str, str]:
    """stdout and stderr of ``child`` once it ends, its stdin still open (communicate() would close it); '' and
    'timed out' when it waits for input instead."""
    import subprocess

    try:
        child.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        return "", "timed out"
    return child.stdout.read(), child.stderr.read()


def test_evaluate_table_refuses_a_bootstrap_count_that_is_not_a_whole_number():
    """evaluate_table(table, n_boot='10') was a TypeError and n_boot=1.5 a ValueError of scipy's bootstrap, though
    its docstring names a UsageError; a whole count (numpy's too) still gives the interval."""
    import pytest

    from conftest import MPN
    from microfuse_cli import UsageError, read_genome, score_genome, select_pairs
    from microfuse_cli.evaluate import ScoredTable, evaluate_table

    genome = read_genome(ROOT / "examples/data/mpneumoniae_m129.gff.gz", ROOT / "examples/data/mpneumoniae_m129.fna.gz")
    table = ScoredTable.from_scores(score_genome(genome, pairs=select_pairs(
        genome, labels=MPN / "labelled_pairs_mpneumoniae.csv")), "mpn")
    for n_boot in ("10", 1.5, -1, None):
        with pytest.raises(UsageError, match=r"^n_boot must be a whole number >= 0 \(0: no interval\), not"):
            evaluate_table(table, n_boot=n_boot)
    low, high = (evaluate_table(table, n_boot=np.int64(20))[k] for k in ("auroc_low", "auroc_high"))
    assert 0 < low <= high <= 1


def test_progress_callbacks_of_another_kind_are_usage_errors_before_any_work():
    """read_genome(fasta, progress='x') and score_genome(genome, stage=True) failed with a TypeError ('not
    callable') inside gene calling or the views, after the input was read or the genes called; so did a callable
    that cannot take the arguments it is called with (progress(n), stage(description, total)). Each is refused at
    once, naming the parameter and its shape."""
    import numpy as np
    import pytest

    from microfuse_cli import UsageError, read_genome, score_genome
    from microfuse_cli.retrieve import PairIds, PairIndex

    advance = r"progress\(n\) -> None, called with the number of items just finished \(progress.Advance\)"
    with pytest.raises(UsageError, match=f"^read_genome's progress is a callable {advance}, not str$"):
        read_genome(ROOT / "examples/data/mgenitalium_g37.fna.gz", progress="x")
    with pytest.raises(UsageError, match=rf"^read_genome's progress is a callable {advance}; .*<lambda>\(\) cannot "
                                         "be called so$"):
        read_genome(ROOT / "examples/data/mgenitalium_g37.fna.gz", progress=lambda: None)
    with pytest.raises(UsageError, match="^read_genome's on_gene_calling is a callable, not int$"):
        read_genome(ROOT / "examples/data/mgenitalium_g37.fna.gz", on_gene_calling=1)
    stage = r"stage\(description, total\) -> progress, called as each stage of the job opens \(progress.Stage\)"
    with pytest.raises(UsageError, match=f"^score_genome's stage is a callable {stage}, not bool$"):
        score_genome(_mg_genome(), stage=True)
    with pytest.raises(UsageError, match=rf"^score_genome's stage is a callable {stage}; .*<lambda>\(description\) "
                                         "cannot be called so$"):
        score_genome(_mg_genome(), stage=lambda description: None)
    ids = PairIds(np.array(["a|b", "b|c"]), np.array(["s", "s"]), np.array(["g", "g"]))
    with pytest.raises(UsageError, match=f"^PairIndex.build's progress is a callable {advance}; "):
        PairIndex.build(np.eye(2, dtype=np.float32), ids, index="flat", device="cpu", progress=lambda: None)


def test_compute_embeddings_refuses_a_stage_of_another_shape_before_any_view():
    """compute_embeddings, the README's way to the views of labelled pairs, takes score_genome's stage= but did not
    check it: stage=True or a one-argument callable was a bare TypeError once the first view began (stage=0 was
    taken for none). README says every callback of another shape is a UsageError before any work."""
    import pytest

    from microfuse_cli import UsageError, adjacent_pairs
    from microfuse_cli.embed import ViewConfig, compute_embeddings

    genome = _mg_genome()
    config = ViewConfig.parse("builtin", "builtin")
    stage = r"stage\(description, total\) -> progress, called as each stage of the job opens \(progress.Stage\)"
    for bad, end in ((True, ", not bool$"), (0, ", not int$"),
                     (lambda description: None, r"; .*<lambda>\(description\) cannot be called so$")):
        with pytest.raises(UsageError, match=f"^compute_embeddings's stage is a callable {stage}{end}"):
            compute_embeddings(genome, adjacent_pairs(genome), config, stage=bad)


def test_explain_refuses_a_progress_of_another_shape_before_any_work():
    """comparative.explain and conserved_adjacency pass progress= to search_homologs, which alone checked it: without
    a reference explain(progress='x') was taken silently, and with one the refusal named search_homologs, after the
    spacer calibration. Each checks it first, in its own name."""
    import pytest

    from microfuse_cli import UsageError, adjacent_pairs
    from microfuse_cli.comparative import conserved_adjacency, explain

    genome = _mg_genome()
    pairs = adjacent_pairs(genome)
    advance = r"progress\(n\) -> None, called with the number of items just finished \(progress.Advance\)"
    with pytest.raises(UsageError, match=f"^explain's progress is a callable {advance}, not str$"):
        explain(genome, pairs, progress="x")
    with pytest.raises(UsageError, match=rf"^conserved_adjacency's progress is a callable {advance}; .*<lambda>\(\) "
                                         "cannot be called so$"):
        conserved_adjacency(genome, pairs, None, progress=lambda: None)  # refused before the reference is read


def test_a_folder_of_none_or_another_kind_is_a_usage_error():
    """Embeddings.load(None), PairIndex.load(None) and ReferenceSet.load(None) (a config key that is not set) were
    TypeErrors of Path()."""
    import pytest

    from microfuse_cli import UsageError
    from microfuse_cli.comparative import ReferenceSet
    from microfuse_cli.embed import Embeddings
    from microfuse_cli.retrieve import PairIndex

    for load, noun in ((Embeddings.load, "embedding"), (PairIndex.load, "index"), (ReferenceSet.load, "reference")):
        for path in (None, 3):
            with pytest.raises(UsageError, match=f"^the {noun} folder is named by its path \\(str or os.PathLike\\), "
                                                 f"not {type(path).__name__}$"):
                load(path)


def test_a_folder_to_write_of_none_is_a_usage_error(tmp_path):
    """Embeddings.save(None) and PairIndex.save(None) (the output key of a config that is not set) were TypeErrors of
    os.path.realpath, where their load(None) is a UsageError; nothing is written, also not in the current folder."""
    import os

    import pytest

    from microfuse_cli import UsageError
    from microfuse_cli.retrieve import PairIds, PairIndex

    vectors = np.random.default_rng(0).standard_normal((20, 8)).astype(np.float32)
    ids = PairIds(pair_id=np.array([f"p{i}" for i in range(20)]), scaffold=np.array(["s"] * 20),
                  genome=np.array(["g"] * 20))
    index = PairIndex.build(vectors, ids, index="flat", device="cpu")
    before = os.listdir(".")
    for path in (None, 3):
        with pytest.raises(UsageError, match=f"^an output folder is named by its path \\(str or os.PathLike\\), "
                                             f"not {type(path).__name__}$"):
            index.save(path)
    assert os.listdir(".") == before


def test_training_masks_of_split_names_are_refused_in_one_line():
    """train(..., train_mask=[p.split for p in pairs], ...) (the split names, where booleans belong) was torch's
    TypeError "can't convert np.ndarray of type numpy.str_"; the masks of README's recipe (split == 'train') train."""
    import pytest

    from conftest import MPN, MPN_FNA, MPN_GFF
    from microfuse_cli import DataError, read_genome, select_pairs
    from microfuse_cli.embed import ViewConfig, compute_embeddings
    from microfuse_cli.model import FusionConfig
    from microfuse_cli.trained import TrainConfig
    from microfuse_cli.training import train

    genome = read_genome(MPN_GFF, MPN_FNA)
    pairs = [p for p in select_pairs(genome, operons=MPN / "odb4_known_operons_mpneumoniae.tsv", split="0.7,0.3,0")
             if p.label is not None]
    x_protein, x_context = compute_embeddings(genome, pairs, ViewConfig.parse("builtin", "builtin")).pair_views(pairs)
    labels, split = [p.label for p in pairs], np.array([p.split for p in pairs])
    settings = (FusionConfig(hidden=16), TrainConfig(max_epochs=1, batch_size=128))
    with pytest.raises(DataError, match=f"^train_mask must be a boolean array of length {len(pairs)}, got <U5 "):
        train(x_protein, x_context, labels, split, split, *settings)
    assert train(x_protein, x_context, labels, split == "train", split == "val", *settings).metrics["epochs_run"] == 1


def test_pair_index_takes_the_device_names_score_genome_takes(tmp_path):
    """PairIndex.build/load(device=) take auto, cpu, cuda and cuda:N, as score_genome does: 'cuda:0' was "device
    must be one of auto, cpu, cuda"; without a GPU it is the same one-line UsageError as 'cuda', and a malformed
    name is refused before any work."""
    import faiss
    import pytest

    from microfuse_cli import UsageError
    from microfuse_cli.retrieve import PairIds, PairIndex

    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(40, 8)).astype(np.float32)
    ids = PairIds([f"p{i}" for i in range(40)], [f"s{i % 4}" for i in range(40)], ["g"] * 40)
    index = PairIndex.build(vectors, ids, index="flat", device="cpu")
    index.save(tmp_path / "idx")
    for bad in ("gpu", "cuda:", "cuda:x", None):
        for call in (lambda: PairIndex.build(vectors, ids, device=bad), lambda: PairIndex.load(tmp_path / "idx", device=bad)):
            with pytest.raises(UsageError, match=r"^device must be auto, cpu, cuda or cuda:N \(--device\), not "):
                call()
    gpus = faiss.get_num_gpus()
    for device in ("cuda", "cuda:0", f"cuda:{gpus}"):
        if device == "cuda" and gpus:
            continue
        want = "no GPU" if gpus == 0 else f"only {gpus} GPU"
        for call in (lambda: PairIndex.build(vectors, ids, device=device),
                     lambda: PairIndex.load(tmp_path / "idx", device=device)):
            if device == "cuda:0" and gpus:
                assert call().device == "cuda"
            else:
                with pytest.raises(UsageError, match=f"^device '{device}' asked for, but FAISS sees {want}"):
                    call()


def test_train_and_fusion_configs_take_numpy_scalars_as_python_ones():
    """TrainConfig(seed=np.int64(1)) and max_epochs=np.int64(3) were "must be a ... integer" although every other
    library call takes numpy ints (FusionConfig's hidden=np.int64(16) and xmod=np.bool_ too); they are Python
    scalars as built, so the model folder's config JSON holds plain numbers."""
    import json

    from microfuse_cli.fusion import FusionConfig
    from microfuse_cli.trained import TrainConfig

    train = TrainConfig(seed=np.int64(1), max_epochs=np.int64(3), batch_size=np.int32(64), lr=np.float32(0.5)).validate()
    fusion = FusionConfig(hidden=np.int64(16), dropout=np.float64(0.1), xmod=np.bool_(False)).validate()
    assert (train.seed, train.max_epochs, train.batch_size, train.lr, fusion.hidden, fusion.xmod) == (1, 3, 64, 0.5, 16, False)
    assert [type(v) for v in (train.seed, train.max_epochs, train.batch_size, train.lr)] == [int, int, int, float]
    assert [type(v) for v in (fusion.hidden, fusion.dropout, fusion.xmod)] == [int, float, bool]
    assert TrainConfig.from_dict(json.loads(json.dumps(train.to_dict()))) == train
    assert FusionConfig.from_dict(json.loads(json.dumps(fusion.to_dict()))) == fusion


def test_evaluate_table_refuses_proteins_that_are_no_mapping_of_gene_ids():
    """evaluate_table(table, proteins=['x']) (a list where gene id -> sequence belongs) silently gave no hard
    subset (hard_n 0); a mapping still gives one."""
    import pytest

    from conftest import MPN
    from microfuse_cli import UsageError, read_genome, score_genome, select_pairs
    from microfuse_cli.evaluate import ScoredTable, evaluate_table

    genome = read_genome(ROOT / "examples/data/mpneumoniae_m129.gff.gz", ROOT / "examples/data/mpneumoniae_m129.fna.gz")
    table = ScoredTable.from_scores(score_genome(genome, pairs=select_pairs(
        genome, labels=MPN / "labelled_pairs_mpneumoniae.csv")), "mpn")
    proteins = {g.id: g.protein for g in genome.genes}
    for wrong in (list(proteins), "x", [("a", "MK")]):
        with pytest.raises(UsageError, match=r"^evaluate_table's proteins map gene id -> protein sequence, not "):
            evaluate_table(table, proteins=wrong, n_boot=0)
    assert evaluate_table(table, proteins=proteins, n_boot=0)["hard_n"] > 0
    # Biopython's Seq and SeqRecord (SeqIO.to_dict's values) were "prefix_identity needs two strings...", then
    # refused: they are read as their letters, and give what the str do; a Seq without letters is refused
    from Bio.Seq import MutableSeq, Seq
    from Bio.SeqRecord import SeqRecord

    expected = evaluate_table(table, proteins=proteins, n_boot=0)
    for kind in (Seq, MutableSeq, lambda text: SeqRecord(Seq(text), id="x")):
        given = evaluate_table(table, proteins={g: kind(p) for g, p in proteins.items()}, n_boot=0)
        assert given.keys() == expected.keys()
        assert all(given[k] == expected[k] or given[k] != given[k] and expected[k] != expected[k] for k in given)
    gene = next(iter(proteins))
    for wrong, name in ((Seq(None, 5), "Seq"), (b"MKV", "bytes")):
        with pytest.raises(UsageError, match=rf"^evaluate_table's proteins map gene id -> protein sequence \(str, or "
                                             rf"Biopython's Seq or SeqRecord with letters\), not {name} \(gene "
                                             rf"{gene!r}\)$"):
            evaluate_table(table, proteins={**proteins, gene: wrong}, n_boot=0)


def test_flags_of_public_calls_are_true_or_false():
    """score_genome(fused='yes') and offline='x' were taken as true (fused='no' too), score_pairs likewise: one
    rule (errors.true_or_false) refuses any flag that is not a bool before work; numpy's bools are flags."""
    import pytest

    from microfuse_cli import GenomeOptions, UsageError, read_genome, score_genome
    from microfuse_cli.errors import true_or_false

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    for name in ("fused", "offline"):
        for wrong in ("yes", "no", 1, None, np.array([True])):
            with pytest.raises(UsageError, match=f"^score_genome's {name} is True or False, not "):
                score_genome(genome, **{name: wrong})
    scores = score_genome(genome, fused=np.bool_(True), offline=np.bool_(False))
    assert scores.fused is not None and scores.fused.shape[0] == len(scores.pairs)
    assert score_genome(genome, fused=np.False_).fused is None
    assert [true_or_false(v) for v in (True, np.True_, np.array(False), "yes", 0, np.array([True]))] == \
        [True, True, True, False, False, False]
    assert GenomeOptions(circular=np.True_).circular is True


def test_overwrite_of_a_save_is_true_or_false(tmp_path):
    """PairIndex.save(folder, overwrite='no') (a true str) replaced the index already there, as ReferenceSet.save
    did: the flag that guards a folder against clobbering follows errors.check_flags, refused before any write."""
    import pytest

    from microfuse_cli import UsageError, read_genome
    from microfuse_cli.comparative import ReferenceSet
    from microfuse_cli.retrieve import PairIds, PairIndex

    vectors = np.random.default_rng(0).normal(size=(40, 8)).astype(np.float32)
    ids = PairIds([f"p{i}" for i in range(40)], [f"s{i % 4}" for i in range(40)], ["g"] * 40)
    reference = ReferenceSet.build([read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz",
                                                ROOT / "examples/data/mgenitalium_g37.fna.gz")])
    for name, saved in (("PairIndex.save", PairIndex.build(vectors, ids, index="flat", device="cpu")),
                        ("ReferenceSet.save", reference)):
        folder = tmp_path / name
        saved.save(folder)
        before = {p.name: p.read_bytes() for p in folder.iterdir()}
        for wrong in ("no", "False", 1, None, np.array([False])):
            with pytest.raises(UsageError, match=f"^{name}'s overwrite is True or False, not "):
                saved.save(folder, overwrite=wrong)
            with pytest.raises(UsageError, match=f"^{name}'s overwrite is True or False, not "):
                saved.save(tmp_path / f"new-{name}", overwrite=wrong)
        assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
        assert not (tmp_path / f"new-{name}").exists()
        saved.save(folder, overwrite=np.True_)
        saved.save(tmp_path / f"other-{name}", overwrite=False)


def test_view_config_offline_is_true_or_false():
    """ViewConfig.parse('prostt5', 'builtin', offline='no') kept 'no', a true str: the hub was never asked (as
    score_genome(offline='no') was, before errors.check_flags); numpy's bool is a flag, as a plain bool."""
    import pytest

    from microfuse_cli import UsageError
    from microfuse_cli.embed import ViewConfig

    for wrong in ("no", 0, None):
        with pytest.raises(UsageError, match="^ViewConfig's offline is True or False, not "):
            ViewConfig.parse("prostt5", "builtin", offline=wrong)
    assert ViewConfig.parse("builtin", "builtin", offline=np.True_).offline is True
    assert ViewConfig().offline is False


def test_sorting_a_genome_with_a_gene_on_a_scaffold_it_lacks_says_so():
    """Genome.with_genes_sorted() (what check's own message advises for genes out of order) was a KeyError of its
    sort key on a hand-built genome naming a scaffold it lacks; it is check's DataError now."""
    import dataclasses

    import pytest

    from microfuse_cli import DataError

    genome = _mg_genome()
    stray = dataclasses.replace(genome.genes[3], scaffold="plasmid1")
    wrong = dataclasses.replace(genome, genes=[*genome.genes[:3], stray, *genome.genes[4:]])
    with pytest.raises(DataError, match=rf"gene {stray.id} is on scaffold 'plasmid1', which the genome lacks$"):
        wrong.with_genes_sorted()
    assert genome.with_genes_sorted().genes == genome.genes


def test_library_errors_name_python_arguments_and_the_cli_its_options(tmp_path):
    """A Python user calling read_genome(path, fasta=...) or select_pairs(pair_list=..., labels=...) was told of
    `--fasta`, `--pairs` and `--labels`, options of a command never run. The message names the Python argument; its
    ``cli_message`` (what the CLI prints) names the option, so the command line's errors are unchanged, also across
    a process pool (pickled)."""
    import pickle

    import pytest

    from microfuse_cli import DataError, UsageError, read_genome, select_pairs
    from microfuse_cli.embed import ViewConfig
    from microfuse_cli.genes import check_gene_calling

    fna, gff = ROOT / "examples/data/mgenitalium_g37.fna.gz", ROOT / "examples/data/mgenitalium_g37.gff.gz"
    listed = tmp_path / "pairs.csv"
    listed.write_text("MG_001,MG_002\n")
    expected = {
        lambda: read_genome(fna, fna): ("read_genome's fasta is only used with a GFF3 input; a FASTA input is a bare "
                                        "assembly", "--fasta is only used with a GFF3 input; a FASTA input is a bare "
                                        "assembly"),
        lambda: select_pairs(_mg_genome(), pair_list=listed, labels=listed): (
            "pair_list and labels both name pairs; give one", "--pairs and --labels both name pairs; give one"),
        lambda: select_pairs(_mg_genome(), labels=listed): (
            f"{listed}: no pair has a label (labels takes name_1,name_2,label or a labelled pairs TSV; a list of pairs "
            "alone is pair_list)", f"{listed}: no pair has a label (--labels takes name_1,name_2,label or a labelled "
            "pairs TSV; a list of pairs alone is --pairs)"),
        lambda: ViewConfig.parse("esm", "builtin"): ("ViewConfig.parse's protein view must be one of builtin, prostt5, "
                                                     "not 'esm'", "--protein-view must be one of builtin, prostt5, "
                                                     "not 'esm'"),
        lambda: check_gene_calling("meta", 25): (
            "genetic code 25 in mode meta (genetic_code=25, mode='meta'): pyrodigal's metagenomic models use genetic "
            "code 11 or 4 only; use mode='single' on a genome of 100 kbp or more",
            "genetic code 25 in mode meta (-g 25 --mode meta): pyrodigal's metagenomic models use genetic code 11 or "
            "4 only; use --mode single on a genome of 100 kbp or more"),
    }
    for call, (python, cli) in expected.items():
        with pytest.raises((UsageError, DataError)) as info:
            call()
        assert (str(info.value), info.value.for_cli()) == (python, cli)
        again = pickle.loads(pickle.dumps(info.value))
        assert (type(again), str(again), again.for_cli()) == (type(info.value), python, cli)
    assert UsageError("plain").for_cli() == "plain"

    code, _, err = run_cli(["pairs", gff, "--fasta", fna, "--pairs", listed, "--labels", listed])
    assert (code, err.strip().splitlines()[-1]) == (2, "error: --pairs and --labels both name pairs; give one")
    code, _, err = run_cli(["pairs", "-", "--fasta", fna], stdin=fna.read_bytes())
    assert (code, err.strip().splitlines()[-1]) == (2, "error: --fasta is only used with a GFF3 input; a FASTA "
                                                       "input is a bare assembly")


def test_read_scores_without_labels_names_its_argument_and_the_cli_its_option(tmp_path):
    """read_scores(path) of a table without a label column told a Python caller to 'give --labels', an option of a
    command never run: it names read_scores's labels, and `microfuse evaluate` still prints --labels."""
    import pytest

    from microfuse_cli import DataError
    from microfuse_cli.evaluate import read_scores

    table = tmp_path / "scores.tsv"
    table.write_text("gene_a\tgene_b\tdistance\tsame_strand\tprobability\nMG_001\tMG_002\t10\t1\t0.5\n")
    with pytest.raises(DataError) as info:
        read_scores(table)
    assert (str(info.value), info.value.for_cli()) == (f"{table}: no label column; give read_scores's labels",
                                                       f"{table}: no label column; give --labels")
    code, _, err = run_cli(["evaluate", table])
    assert (code, err.strip().splitlines()[-1]) == (1, f"error: {table}: no label column; give --labels")


def test_score_genome_scores_a_pair_given_twice_once_as_select_pairs_keeps_it(caplog):
    """Pairs built by hand holding one pair twice were scored twice, two rows of one pair_id that write_scores wrote
    and `retrieve build`, `evaluate` and every pairs reader then refuse or count twice, where `score --pairs` (and
    select_pairs) keep it once and say so: score_genome now does the same, with the same info line; a pair labelled
    both 0 and 1 is refused, as in a list."""
    import dataclasses

    import pytest

    from microfuse_cli import DataError, adjacent_pairs, read_genome, score_genome

    genome = read_genome(ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz")
    pairs = adjacent_pairs(genome)
    once = score_genome(genome, pairs=pairs[:3])
    with caplog.at_level("INFO", logger="microfuse"):
        twice = score_genome(genome, pairs=[pairs[0], pairs[1], pairs[0], pairs[2], pairs[1]])
    assert [p.pair_id for p in twice.pairs] == [p.pair_id for p in pairs[:3]]
    assert twice.probability.tolist() == once.probability.tolist()
    assert "score_genome's pairs: 2 pair(s) listed more than once are kept once" in caplog.messages
    with pytest.raises(DataError, match=r"^score_genome's pairs: the pair MG_001 MG_002 is labelled both 0 and 1$"):
        score_genome(genome, pairs=[dataclasses.replace(pairs[0], label=1), dataclasses.replace(pairs[0], label=0)])
