"""Training loop, model files and the distance baseline (including a check on real E. coli operon pairs)."""

from __future__ import annotations

import csv
import dataclasses
import gzip
import json
import os
import pickle

import numpy as np
import pytest
import torch

from microfuse_cli.checkpoint import ModelInputs
from microfuse_cli.errors import DataError, UsageError
from microfuse_cli.metrics import auroc
from microfuse_cli.model import FusionConfig
from microfuse_cli.baseline import DistanceBaseline
from microfuse_cli.trained import TrainConfig, TrainedModel, load_torch_model
from microfuse_cli.training import train, train_seeds

from conftest import ECOLI, MG_G37, MPN_FNA, MPN_GFF, run_cli




def _problem(n: int = 900, seed: int = 0):
    """Pairs whose label is whether the two views agree on a shared latent signal (plus a weak marginal cue).

    Neither view alone carries much; their interaction does, which is what the fusion head is for.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    s = rng.normal(size=(n, 3))
    xp = rng.normal(size=(n, 10)).astype(np.float32)
    xb = rng.normal(size=(n, 6)).astype(np.float32)
    xp[:, :3] = s * 2 + 5  # an offset and scale that standardisation must remove
    xb[:, :3] = s * (2 * y[:, None] - 1) + 0.3 * rng.normal(size=(n, 3))
    xb[:, 3] += 0.5 * y
    fold = np.arange(n) % 10
    return xp, xb, y, fold < 6, (fold == 6) | (fold == 7), fold >= 8


SMALL = dict(hidden=16, dropout=0.1)
FAST = dict(batch_size=64, max_epochs=12, patience=4, lr=1e-2)


@pytest.fixture(scope="module")
def problem():
    return _problem()


@pytest.fixture(scope="module")
def trained(problem):
    xp, xb, y, tr, va, _ = problem
    return train(xp, xb, y, tr, va, FusionConfig(**SMALL), TrainConfig(**FAST))


# ---------------------------------------------------------------------------------------------- learning


def test_microfuse_beats_chance_on_held_out_pairs(problem, trained):
    xp, xb, y, _, _, test = problem
    pred = trained.predict(xp[test], xb[test])
    assert auroc(y[test], pred.probability) > 0.9
    assert trained.metrics["validation"]["auroc"] > 0.9
    assert pred.router_weights.shape == (test.sum(), 4)
    assert np.allclose(pred.router_weights.sum(1), 1, atol=1e-5)
    assert pred.fused.shape == (test.sum(), 16)
    assert 0.0 < trained.threshold < 1.0
    assert trained.model_config.protein_dim == 10 and trained.model_config.context_dim == 6


def test_early_stopping_keeps_the_best_epoch(problem):
    xp, xb, y, tr, va, _ = problem
    seen = []
    cfg = TrainConfig(batch_size=64, max_epochs=25, patience=2, lr=1e-2)
    model = train(xp, xb, y, tr, va, FusionConfig(hidden=16, dropout=0.0), cfg, on_epoch=seen.append)
    aurocs = [h["val_auroc"] for h in model.history]
    assert [s["epoch"] for s in seen] == list(range(1, len(aurocs) + 1))
    best = int(np.argmax(aurocs)) + 1  # first epoch reaching the maximum
    assert model.metrics["best_epoch"] == best
    assert len(aurocs) == min(cfg.max_epochs, best + cfg.patience)
    # the returned weights are those of the best epoch, not the last one
    prob = model.predict(xp[va], xb[va]).probability
    assert auroc(y[va], prob) == pytest.approx(aurocs[best - 1], abs=1e-9)
    assert model.metrics["validation"]["auroc"] == pytest.approx(aurocs[best - 1], abs=1e-9)


def test_training_is_deterministic_for_a_seed(problem):
    xp, xb, y, tr, va, _ = problem
    cfg = TrainConfig(batch_size=128, max_epochs=3, patience=3)
    a = train(xp, xb, y, tr, va, FusionConfig(**SMALL), cfg)
    b = train(xp, xb, y, tr, va, FusionConfig(**SMALL), cfg)
    c = train(xp, xb, y, tr, va, FusionConfig(**SMALL), TrainConfig(batch_size=128, max_epochs=3, seed=1))
    sa, sb, sc = a.model.state_dict(), b.model.state_dict(), c.model.state_dict()
    assert all(torch.equal(sa[k], sb[k]) for k in sa)
    assert a.history == b.history and a.threshold == b.threshold
    assert not all(torch.equal(sa[k], sc[k]) for k in sa)
    # the caller's global RNG is left alone
    torch.manual_seed(123)
    expected = torch.rand(1)
    torch.manual_seed(123)
    train(xp, xb, y, tr, va, FusionConfig(**SMALL), TrainConfig(batch_size=256, max_epochs=1))
    assert torch.equal(torch.rand(1), expected)


@pytest.mark.parametrize("arch", ["protein", "context", "concat"])
def test_baselines_train(problem, arch):
    xp, xb, y, tr, va, _ = problem
    model = train(
        xp if arch != "context" else None, xb if arch != "protein" else None, y, tr, va,
        FusionConfig(arch=arch, **SMALL), TrainConfig(batch_size=256, max_epochs=2),
    )  # fmt: skip
    pred = model.predict(xp[va], xb[va])
    assert pred.probability.shape == (va.sum(),)
    if arch == "concat":
        assert np.isnan(pred.router_weights).all()
    else:
        assert pred.router_weights[:, 0 if arch == "protein" else 1].tolist() == [1.0] * int(va.sum())


def test_train_seeds_summarises(problem):
    xp, xb, y, tr, va, _ = problem
    runs = train_seeds(
        xp, xb, y, tr, va, FusionConfig(**SMALL), TrainConfig(batch_size=256, max_epochs=2), seeds=[0, 1]
    )
    assert runs.seeds == (0, 1) and len(runs.models) == 2
    values = [m["auroc"] for m in runs.per_seed]
    assert runs.mean["auroc"] == pytest.approx(np.mean(values))
    assert runs.std["auroc"] == pytest.approx(np.std(values, ddof=1))


def test_progress_counts_epochs_as_every_progress_callback_counts(problem):
    """progress= of train and train_seeds is an Advance, as read_genome's and PairIndex.build's are (progress.py):
    called with 1 per epoch, every seed's, so a counter's own method fits. It was called with a dict per epoch,
    the one progress= of another shape; the record now goes to on_epoch, which names each seed's."""
    xp, xb, y, tr, va, _ = problem
    counted, records = [], []
    runs = train_seeds(xp, xb, y, tr, va, FusionConfig(**SMALL), TrainConfig(batch_size=256, max_epochs=2),
                       seeds=[0, 1], progress=counted.append, on_epoch=records.append)
    assert counted == [1] * 4
    assert [(r["seed"], r["epoch"]) for r in records] == [(0, 1), (0, 2), (1, 1), (1, 2)]
    assert {"train_loss", "val_auroc", "best_epoch", "max_epochs"} <= set(records[0])
    for call in (train, train_seeds):
        for name in ("progress", "on_epoch"):
            with pytest.raises(UsageError, match=f"^{call.__name__}'s {name} is a callable {name}\\(.* not str$"):
                call(xp, xb, y, tr, va, FusionConfig(**SMALL), TrainConfig(max_epochs=1), **{name: "x"})


def test_a_progress_callback_of_the_old_dict_contract_is_a_usage_error_naming_the_shape(problem):
    """progress= of train was called with each epoch's record (a dict) before it counted. A callback of another
    arity failed with a bare TypeError after the first epoch; it is refused before any work, naming the parameter
    and its shape. One reading the count as that dict (no signature shows it) is refused on its first call, with
    the fix (on_epoch), not left to an ''int' object is not subscriptable' deep inside training."""
    xp, xb, y, tr, va, _ = problem
    data = (xp, xb, y, tr, va, FusionConfig(**SMALL), TrainConfig(batch_size=256, max_epochs=3))
    shape = r"progress\(n\) -> None, called with the number of items just finished \(progress.Advance\)"
    for call in (train, train_seeds):
        records = []
        with pytest.raises(UsageError, match=rf"^{call.__name__}'s progress is a callable {shape}; "
                                             r"test_.*<lambda>\(epoch, record\) cannot be called so$"):
            call(*data, progress=lambda epoch, record: None, on_epoch=records.append)
        with pytest.raises(UsageError, match=rf"^{call.__name__}'s on_epoch is a callable on_epoch\(record\) -> None"):
            call(*data, on_epoch=lambda: None)
        assert records == []  # refused before the first epoch
        with pytest.raises(UsageError, match=rf"^{call.__name__}'s progress is a callable {shape}; it raised TypeError "
                                             r"\('int' object is not subscriptable\) when called with 1 "
                                             r"\(if it reads each epoch's record, a dict: that goes to on_epoch\)$") as raised:
            call(*data, progress=lambda info: print(info["val_auroc"]), on_epoch=records.append)
        assert records == [] and isinstance(raised.value.__cause__, TypeError)  # on the first count


def test_bad_training_input(problem):
    xp, xb, y, tr, va, _ = problem
    cfg, tcfg = FusionConfig(**SMALL), TrainConfig(max_epochs=1)
    with pytest.raises(DataError, match="overlap"):
        train(xp, xb, y, tr, tr, cfg, tcfg)
    with pytest.raises(DataError, match="both"):
        train(xp, xb, y, tr, va & (y == 1), cfg, tcfg)
    bad = xp.copy()
    bad[np.flatnonzero(tr)[0], 0] = np.nan
    with pytest.raises(DataError, match="NaN"):
        train(bad, xb, y, tr, va, cfg, tcfg)
    with pytest.raises(DataError):
        train(xp[:-1], xb, y, tr, va, cfg, tcfg)
    with pytest.raises(DataError):
        train(xp, xb, y, tr, va, FusionConfig(protein_dim=99, **SMALL), tcfg)
    with pytest.raises(UsageError):
        train(xp, xb, y, tr, va, cfg, TrainConfig(device="tpu"))
    with pytest.raises(UsageError):
        train(xp, xb, y, tr, va, cfg, TrainConfig(batch_size=0))


# ---------------------------------------------------------------------------------------------- precision


def test_float64_training_gives_the_same_model_bytes_whatever_the_vector_width(tmp_path, mg_embedded):
    """`train --precision float64` on M. genitalium writes the same model folder with torch's AVX2 kernels as with its
    plain ones (another processor differs the same way, in summation order): float32 training differed there
    from byte 3,221 of the weights, and train_default's bytes differed between an Intel and an AMD processor."""
    import subprocess
    import sys

    from conftest import MG_G37

    code, _, err = run_cli(["pairs", f"{MG_G37}.gff.gz", "--fasta", f"{MG_G37}.fna.gz", "--label-rule", "og",
                            "--split", "0.7,0.15,0.15", "-o", tmp_path / "pairs.tsv"])
    assert code == 0, err
    folders = {}
    for kernels in ("default", "avx2"):  # read as torch loads, so each run is a process of its own
        folders[kernels] = tmp_path / f"model_{kernels}"
        done = subprocess.run([sys.executable, "-m", "microfuse_cli", "train", str(tmp_path / "pairs.tsv"), "-e",
                               str(mg_embedded), "-o", str(folders[kernels]), "--epochs", "3", "--device", "cpu",
                               "--precision", "float64"], env={**os.environ, "ATEN_CPU_CAPABILITY": kernels},
                              capture_output=True, text=True)
        assert done.returncode == 0, done.stderr
    for name in ("model.safetensors", "config.json"):
        assert (folders["default"] / name).read_bytes() == (folders["avx2"] / name).read_bytes(), name
    config = json.loads((folders["default"] / "config.json").read_text())
    assert config["train"]["precision"] == "float64"
    assert all(float(f"{v:.7g}") == v  # at the weights' precision: the full float64 figures differ by processor
               for record in config["history"] for v in record.values() if isinstance(v, float))


def test_float64_model_is_saved_and_used_as_float32(tmp_path, problem):
    """A float64-trained head is a float32 model like any other (its weights file, its predictions after loading);
    its config says how it was trained, and a config saved before the setting existed reads as float32."""
    from safetensors import safe_open

    xp, xb, y, tr, va, test = problem
    model = train(xp, xb, y, tr, va, FusionConfig(**SMALL), TrainConfig(**FAST, precision="float64"))
    assert {p.dtype for p in model.model.parameters()} == {torch.float32}
    assert auroc(y[test], model.predict(xp[test], xb[test]).probability) > 0.9
    model.save(tmp_path / "m")
    with safe_open(tmp_path / "m" / "model.safetensors", "np") as weights:
        assert {weights.get_tensor(k).dtype for k in weights.keys()} == {np.dtype("float32")}
    loaded = TrainedModel.load(tmp_path / "m")
    assert loaded.train_config.precision == "float64"
    assert np.array_equal(loaded.predict(xp[test], xb[test]).probability, model.predict(xp[test], xb[test]).probability)
    older = {k: v for k, v in TrainConfig(**FAST).to_dict().items() if k != "precision"}
    assert TrainConfig.from_dict(older).precision == "float32"
    with pytest.raises(UsageError, match="precision must be one of float32, float64, got 'float16'"):
        TrainConfig(precision="float16").validate()


@pytest.mark.parametrize("precision", [None, 64, torch.float64, "FLOAT64", ["float64"], {"float64": 1}])
def test_precision_typed_wrongly_is_a_usage_error(problem, precision):
    """train refuses a precision other than the two names in one line, before any work: a list or a dict (a
    config read from JSON) was a TypeError of the lookup (unhashable), not a UsageError."""
    xp, xb, y, tr, va, _ = problem
    with pytest.raises(UsageError, match=r"^precision must be one of float32, float64, got "):
        train(xp, xb, y, tr, va, FusionConfig(**SMALL), TrainConfig(max_epochs=1, precision=precision))


def test_a_float64_fusion_model_is_held_saved_and_read_as_float32(tmp_path, problem):
    """TrainedModel of a FusionModel(config, torch.float64), as training builds one in float64, holds it as float32,
    the form score reads: its save was a folder of float64 tensors that load_torch_model and score refused ('the
    config needs float32'), and its identity was not the saved folder's."""
    from microfuse_cli.model import FusionModel
    from microfuse_cli.score import load_model

    xp, xb, *_ = problem
    config = FusionConfig(protein_dim=xp.shape[1], context_dim=xb.shape[1], **SMALL)
    head = TrainedModel(FusionModel(config, torch.float64), TrainConfig())
    assert {t.dtype for t in head.model.state_dict().values() if t.is_floating_point()} == {torch.float32}
    head.save(tmp_path / "m")
    loaded = load_torch_model(tmp_path / "m")
    assert loaded.identity == head.identity == load_model(tmp_path / "m").identity
    assert np.array_equal(loaded.predict(xp, xb).probability, head.predict(xp, xb).probability)


@pytest.mark.parametrize("dtype", ["float64", torch.int64, None])
def test_fusion_model_refuses_a_dtype_that_is_no_float_type(dtype):
    """FusionModel(config, dtype) takes torch's floating types only: a name ('float64') was a TypeError of
    torch.zeros, an integer type a RuntimeError about gradients."""
    from microfuse_cli.model import FusionModel

    with pytest.raises(UsageError, match=r"^FusionModel's dtype is a floating torch.dtype such as torch.float64, "
                                         r"not "):
        FusionModel(FusionConfig(protein_dim=4, context_dim=3, **SMALL), dtype)


# ---------------------------------------------------------------------------------------------- model files


def test_save_load_round_trip(tmp_path, problem, trained):
    xp, xb, *_ = problem
    provenance = {"manifest": {"n": 3}}
    inputs = ModelInputs("prostt5", "bacformer", ("dist_clip",), (("protein", 1024), ("context", 960)))
    trained.save(tmp_path / "m", provenance, inputs=inputs)
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == ["config.json", "model.safetensors"]
    loaded = TrainedModel.load(tmp_path / "m")
    a, b = trained.predict(xp, xb), loaded.predict(xp, xb)
    assert np.array_equal(a.probability, b.probability)
    assert np.array_equal(a.router_weights, b.router_weights)
    assert np.array_equal(a.fused, b.fused)
    assert loaded.threshold == trained.threshold
    assert loaded.model_config == trained.model_config and loaded.train_config == trained.train_config
    assert loaded.provenance == provenance and loaded.inputs == inputs
    config = json.loads((tmp_path / "m" / "config.json").read_text())
    assert config["metrics"]["best_epoch"] == trained.metrics["best_epoch"]
    assert len(config["history"]) == len(trained.history)
    # same model, same bytes; saving again replaces the directory
    loaded.save(tmp_path / "m2")
    for name in ("model.safetensors", "config.json"):
        assert (tmp_path / "m" / name).read_bytes() == (tmp_path / "m2" / name).read_bytes()
    assert isinstance(load_torch_model(tmp_path / "m"), TrainedModel)
    # no leftover temporary directories
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m", "m2"]


@pytest.fixture
def saved(tmp_path, trained):
    return trained.save(tmp_path / "model")


def _refused(path):
    with pytest.raises(DataError) as info:
        TrainedModel.load(path)
    assert "\n" not in str(info.value)
    return str(info.value)


def test_truncated_weights_are_refused(saved):
    weights = saved / "model.safetensors"
    data = weights.read_bytes()
    weights.write_bytes(data[: len(data) // 2])
    assert "safetensors" in _refused(saved)
    weights.write_bytes(b"")
    _refused(saved)


def test_pickle_renamed_to_safetensors_is_refused(saved):
    payload = {"weight": np.zeros(3)}
    (saved / "model.safetensors").write_bytes(pickle.dumps(payload))
    _refused(saved)


def test_foreign_or_broken_config_is_refused(saved):
    config_path = saved / "config.json"
    good = json.loads(config_path.read_text())

    config_path.write_text(json.dumps({**good, "unexpected": 1}))
    _refused(saved)
    config_path.write_text(json.dumps({k: v for k, v in good.items() if k != "threshold"}))
    _refused(saved)
    config_path.write_text(json.dumps({**good, "model": {**good["model"], "colour": "red"}}))
    _refused(saved)
    config_path.write_text(json.dumps({**good, "model": {**good["model"], "hidden": 32}}))  # shapes mismatch
    assert "tensor" in _refused(saved)
    config_path.write_text(json.dumps({**good, "format": "something-else"}))
    _refused(saved)
    config_path.write_text(json.dumps({**good, "format_version": 99}))
    _refused(saved)
    config_path.write_text("{not json")
    _refused(saved)
    config_path.write_bytes(b"\xff\xfe\x00garbage")
    _refused(saved)
    config_path.unlink()
    _refused(saved)
    _refused(saved / "nonexistent")


# ---------------------------------------------------------------------------------------------- distance baseline


def test_distance_baseline_synthetic_and_round_trip(tmp_path):
    rng = np.random.default_rng(0)
    n = 400
    y = rng.integers(0, 2, n)
    distance = np.where(y == 1, rng.normal(20, 40, n), rng.normal(400, 300, n)).round()
    opposite = (rng.uniform(size=n) < 0.3) & (y == 0)
    tr = np.arange(n) % 2 == 0
    model = DistanceBaseline.fit(distance, y, tr, ~tr, opposite_strand=opposite)
    assert model.weight.shape == (2,) and model.weight[0] < 0 and model.weight[1] < 0
    prob = model.predict(distance, opposite).probability
    assert auroc(y[~tr], prob[~tr]) > 0.9
    model.save(tmp_path / "d", {"note": "spacer"})
    loaded = load_torch_model(tmp_path / "d")
    assert isinstance(loaded, DistanceBaseline)
    assert np.array_equal(loaded.predict(distance, opposite).probability, prob)
    assert loaded.threshold == model.threshold and loaded.provenance == {"note": "spacer"}
    assert loaded.decision is None and loaded.inputs == ModelInputs()
    from microfuse_cli.score import DEFAULT_MODEL, default_threshold

    model = dataclasses.replace(model, decision=TrainedModel.load(DEFAULT_MODEL).decision)  # as the fusion head carries
    model.save(tmp_path / "d")
    ruled = load_torch_model(tmp_path / "d")
    assert ruled.decision == model.decision and default_threshold(ruled) == 0.5
    assert json.loads((tmp_path / "d" / "config.json").read_text())["model"]["arch"] == "distance"
    with pytest.raises(DataError):
        TrainedModel.load(tmp_path / "d")
    with pytest.raises(DataError):
        loaded.predict(distance)  # fitted with strands: they are required
    with pytest.raises(DataError):
        DistanceBaseline.fit(distance, y, tr & (y == 1))


def _ecoli_pairs():
    """Labelled E. coli pairs with their intergenic spacer (bp, negative = overlap) and leftmost coordinate."""
    genes = {}
    with gzip.open(ECOLI / "GCF_000005845.2_ASM584v2_genomic.gff.gz", "rt") as handle:
        for line in handle:
            fields = line.rstrip("\n").split("\t")
            if len(fields) == 9 and fields[2] == "gene":
                attrs = dict(kv.split("=", 1) for kv in fields[8].split(";") if "=" in kv)
                if "locus_tag" in attrs:
                    genes[attrs["locus_tag"]] = (int(fields[3]), int(fields[4]))  # 1-based inclusive
    distance, left, labels = [], [], []
    with open(ECOLI / "labelled_pairs_ecoli.csv", newline="") as handle:
        for row in csv.DictReader(handle):
            a, b = genes.get(row["name_1"]), genes.get(row["name_2"])
            if a is None or b is None:  # a handful of b-numbers have no gene feature in this annotation
                continue
            first, second = sorted([a, b])
            distance.append(second[0] - first[1] - 1)
            left.append(first[0])
            labels.append(int(row["true"]))
    return np.array(distance, float), np.array(left), np.array(labels)


def test_distance_baseline_on_real_ecoli_operons(tmp_path):
    distance, left, y = _ecoli_pairs()
    assert len(y) > 3500 and 0.3 < y.mean() < 0.6
    # held-out blocks: 200 kb windows of the chromosome, every fifth one for testing
    test = (left // 200_000) % 5 == 0
    model = DistanceBaseline.fit(distance, y, ~test)
    assert auroc(y[test], model.predict(distance).probability[test]) > 0.93
    model.save(tmp_path / "d")
    loaded = load_torch_model(tmp_path / "d")
    assert np.array_equal(loaded.predict(distance).probability, model.predict(distance).probability)


def test_distance_baseline_minimises_its_penalised_log_loss():
    """The fitted weights are the minimiser the docstring states (the one the former Newton solver found): the
    gradient of the summed log-loss plus ``l2 * n / 2 * |w|^2`` vanishes, with and without the strand flag."""
    distance, _, y = _ecoli_pairs()
    opposite = np.arange(len(y)) % 7 == 0
    everything = np.ones(len(y), dtype=bool)
    for strands in (None, opposite):
        model = DistanceBaseline.fit(distance, y, everything, opposite_strand=strands)
        x = DistanceBaseline._features(distance, strands, model.clip, model.uses_strand)
        z = (x - model.feature_mean) / model.feature_std
        residual = model.predict(distance, strands).probability - y
        assert np.abs(z.T @ residual + model.l2 * len(y) * model.weight).max() < 1e-6
        assert abs(residual.sum()) < 1e-6  # the bias is not penalised
    unpenalised = DistanceBaseline.fit(distance, y, everything, l2=0.0)
    assert abs(unpenalised.weight[0]) > abs(model.weight[0])  # the penalty shrinks the weight
    with pytest.raises(UsageError):
        DistanceBaseline.fit(distance, y, everything, l2=-1.0)


def test_pairs_of_another_genome_than_the_embeddings_are_named_with_both(mg_embedded, tmp_path):
    """Train on two genomes with their -e folders given in the wrong order: the error said only "gene 'MPN_001' of
    the pairs is not in the embeddings", not which table, which folder, or whose genes the folder holds."""
    pairs = tmp_path / "mpn pairs.tsv"
    code, _, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "--label-rule", "og", "-o", pairs, "-q"])
    assert code == 0, err
    code, _, err = run_cli(["train", pairs, "-e", mg_embedded, "-o", tmp_path / "model", "--val-fraction", "0.2",
                            "--epochs", "1"])
    assert code == 1, err
    assert err.strip() == (f"error: {pairs} and {mg_embedded}: gene 'MPN_001' of the pairs is not in the embeddings "
                           "of GCF_000027325.1_ASM2732v1_genomic.gff.gz, whose genes are named like 'MG_001' "
                           "(computed from another genome or annotation?)")
    code, _, err = run_cli(["score", pairs, "-e", mg_embedded, "-o", tmp_path / "scores.tsv"])
    assert code == 1 and "of GCF_000027325.1_ASM2732v1_genomic.gff.gz, whose genes are named like 'MG_001'" in err


def test_val_fraction_beside_a_split_column_is_said_not_to_be_used(mg_embedded, tmp_path):
    """`train --val-fraction 0.5` of a `pairs --split` table trained on the table's own split (70/15/15), without a
    word: a user asking for half the pairs to validate got 15%. It is said in one warning; a table without a split
    column is split by it, without one."""
    gff, fna = f"{MG_G37}.gff.gz", f"{MG_G37}.fna.gz"
    split, plain = tmp_path / "split.tsv", tmp_path / "plain.tsv"
    for table, more in ((split, ["--split", "0.7,0.15,0.15"]), (plain, [])):
        code, _, err = run_cli(["pairs", gff, "--fasta", fna, "--label-rule", "og", *more, "-o", table, "-q"])
        assert code == 0, err
    code, _, err = run_cli(["train", split, "-e", mg_embedded, "-o", tmp_path / "m1", "--val-fraction", "0.5",
                            "--epochs", "1"])
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert warnings == [f"warning: --val-fraction 0.5 is not used for {split}: its split column decides which pairs "
                        "train and which validate (`pairs --split`); give a table without one to split it by "
                        "--val-fraction"], err
    rows = [line.split("\t") for line in split.read_text().splitlines() if not line.startswith("#")]
    column = rows[0].index("split"), rows[0].index("label")
    told = {name: sum(1 for row in rows[1:] if row[column[0]] == name and row[column[1]] != "")
            for name in ("train", "val", "test")}
    assert f"{told['train']} training, {told['val']} validation pairs ({told['test']} test held out)" in err
    code, _, err = run_cli(["train", plain, "-e", mg_embedded, "-o", tmp_path / "m2", "--val-fraction", "0.5",
                            "--epochs", "1"])
    assert code == 0 and "warning:" not in err, err


def test_train_of_a_table_on_stdin_with_a_per_genome_rule_is_the_tables_model(mg_embedded, tmp_path):
    """`pairs ... | train - --per-genome-rule` trained, then read the table again for the rule and found stdin empty:
    'error: -: empty table' after the whole training, no model. Stdin is kept in a file, as `score` and `embed`
    keep it: the model is the file's, but for the genome's name ('stdin') the rule records, and an error names
    stdin, not '-'."""
    table = tmp_path / "pairs.tsv"
    code, _, err = run_cli(["pairs", f"{MG_G37}.gff.gz", "--fasta", f"{MG_G37}.fna.gz", "--label-rule", "og",
                            "--split", "0.7,0.15,0.15", "-o", table, "-q"])
    assert code == 0, err
    for name, given, stdin in (("file", table, None), ("piped", "-", table.read_bytes())):
        code, _, err = run_cli(["train", given, "-e", mg_embedded, "-o", tmp_path / name, "--epochs", "1",
                                "--per-genome-rule", "-q"], stdin=stdin)
        assert code == 0, err
    weights = [(tmp_path / name / "model.safetensors").read_bytes() for name in ("piped", "file")]
    assert weights[0] == weights[1]
    piped, from_file = (json.loads((tmp_path / name / "config.json").read_text()) for name in ("piped", "file"))
    assert json.dumps(piped).replace('"stdin"', '"pairs.tsv"') == json.dumps(from_file) != json.dumps(piped)
    code, _, err = run_cli(["train", "-", "-e", mg_embedded, "-o", tmp_path / "none"], stdin=b"hello\n")
    assert code == 1 and err.startswith("error: stdin: "), err


@pytest.mark.parametrize("arch", ["concat", "distance"])
def test_an_ablation_of_another_head_than_microfuse_is_refused_before_any_work(arch, mg_embedded, tmp_path):
    """`train --arch concat --ablation no_supcon` trained the plain concat head (its loss has no contrastive term and
    it has no experts to turn off), without a word, as if the ablation had been run: refused as bad usage, before
    the tables are read (none exists here) and before -o is made."""
    code, _, err = run_cli(["train", tmp_path / "pairs.tsv", "-e", mg_embedded, "-o", tmp_path / "model",
                            "--arch", arch, "--ablation", "no_supcon"])
    assert code == 2 and err.startswith(f"error: --ablation no_supcon turns off a part of the microfuse head; --arch "
                                        f"{arch} has none to turn off"), err
    assert not (tmp_path / "model").exists()
    for ablation in ("full", "none"):  # the whole head, by its name and its older one: no ablation, as before
        code, _, err = run_cli(["train", tmp_path / "pairs.tsv", "-e", mg_embedded, "-o", tmp_path / "model",
                                "--arch", arch, "--ablation", ablation])
        assert code == 1 and err == f"error: no such file: {tmp_path / 'pairs.tsv'}\n", err
