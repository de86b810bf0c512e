"""Tests for microfuse_cli.retrieve: group exclusion, exactness, append, persistence, evaluation.

Synthetic clustered vectors are enough here: the properties tested are geometric, not biological.
"""

from __future__ import annotations

import io
import json
import math
import os
import re

import numpy as np
import pytest

faiss = pytest.importorskip("faiss")

from microfuse_cli.errors import DataError, UsageError  # noqa: E402
from microfuse_cli.retrieve.index import _default_pq  # noqa: E402
from microfuse_cli.retrieve import (  # noqa: E402
    PairIds,
    PairIndex,
    SearchResult,
    read_pair_ids,
    read_vectors,
    retrieval_evaluate,
    write_pair_ids,
    write_results,
)

KINDS = ["flat", "ivf", "hnsw", "ivfpq"]
DIM = 32
K = 10
TIGHT = "sc_tight"  # a scaffold of 40 near-identical pairs: a query's nearest neighbours are all its own group


def _dataset(n_scaffolds: int = 30, per: int = 20, seed: int = 1) -> tuple[np.ndarray, PairIds]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((12, DIM)).astype(np.float32) * 3
    vec = centres[rng.integers(0, 12, n_scaffolds * per)] + rng.standard_normal((n_scaffolds * per, DIM)).astype(np.float32)
    scaffold = np.array([f"sc{i // per:03d}" for i in range(n_scaffolds * per)], dtype=object)
    genome = np.array([f"g{i // (per * 5)}" for i in range(n_scaffolds * per)], dtype=object)
    # the tight group: 40 pairs around one point, far larger than k
    tight = rng.standard_normal(DIM).astype(np.float32) * 3 + rng.standard_normal((40, DIM)).astype(np.float32) * 0.01
    vec = np.concatenate([vec, tight]).astype(np.float32)
    scaffold = np.concatenate([scaffold, np.array([TIGHT] * 40, dtype=object)])
    genome = np.concatenate([genome, np.array(["g_tight"] * 40, dtype=object)])
    n = len(vec)
    label = rng.integers(0, 2, n).astype(np.int8)
    label[::7] = -1
    prob = rng.random(n)
    prob[::5] = np.nan
    ids = PairIds(np.array([f"p{i}" for i in range(n)], dtype=object), scaffold, genome, label, prob)
    return vec, ids


def _brute(vec: np.ndarray, groups: np.ndarray, q: np.ndarray, qgroups: np.ndarray, k: int):
    x = vec / np.linalg.norm(vec, axis=1, keepdims=True)
    y = q / np.linalg.norm(q, axis=1, keepdims=True)
    sim = (y.astype(np.float64) @ x.T.astype(np.float64))
    sim[qgroups[:, None] == groups[None, :]] = -np.inf
    order = np.argsort(-sim, axis=1, kind="stable")[:, :k]
    return order, np.take_along_axis(sim, order, axis=1)


def _assert_same_neighbours(target: np.ndarray, order: np.ndarray, sim: np.ndarray, tol: float = 1e-5) -> None:
    """Targets equal brute force, except that near-ties (float32 vs float64 rounding) may swap places."""
    tied = np.zeros_like(sim, dtype=bool)
    close = np.abs(np.diff(sim, axis=1)) <= tol
    tied[:, 1:] |= close
    tied[:, :-1] |= close
    assert tied.mean() < 0.2, "test setup: too many ties for the comparison to mean anything"
    np.testing.assert_array_equal(np.where(tied, -1, target), np.where(tied, -1, order))
    for row in np.flatnonzero(tied.any(axis=1)):  # the tied ones are the same set of neighbours
        assert set(target[row][tied[row]]) == set(order[row][tied[row]])


@pytest.fixture(scope="module")
def data():
    return _dataset()


@pytest.fixture(scope="module")
def built(data):
    vec, ids = data
    return {
        (kind, gb): PairIndex.build(vec, ids, index=kind, group_by=gb, device="cpu", threads=2)
        for kind in KINDS
        for gb in ("scaffold", "genome")
    }


@pytest.mark.parametrize("group_by", ["scaffold", "genome"])
@pytest.mark.parametrize("kind", KINDS)
def test_own_group_and_self_excluded(built, data, kind, group_by):
    vec, ids = data
    index = built[(kind, group_by)]
    groups = ids.groups(group_by)
    res = index.search_all(K, vectors=vec, nprobe=2, efSearch=16)
    assert res.target.shape == (len(vec), K)
    assert (res.target >= 0).all(), "every query has >= k pairs outside its group, so k must come back"
    assert not (res.target == np.arange(len(vec))[:, None]).any()
    assert not (groups[res.target] == groups[:, None]).any()
    assert (res.rank == np.arange(1, K + 1)).all()
    assert (np.diff(res.similarity, axis=1) <= 1e-6).all()
    # the tight group (40 > k members, all nearer than anything else) yields k pairs from other groups
    tight = np.flatnonzero(ids.scaffold == TIGHT)
    assert len(tight) > K
    x = vec / np.linalg.norm(vec, axis=1, keepdims=True)
    own_nearest = np.argsort(-(x[tight] @ x.T), axis=1)[:, 1 : K + 1]
    assert np.isin(own_nearest, tight).all(), "test setup: own group must hold the true nearest neighbours"
    assert not np.isin(res.target[tight], tight).any()


@pytest.mark.parametrize("exclusion", ["auto", "selector", "overfetch"])
@pytest.mark.parametrize("group_by", ["scaffold", "genome"])
def test_flat_equals_numpy_bruteforce(built, data, group_by, exclusion):
    vec, ids = data
    groups = ids.groups(group_by)
    res = built[("flat", group_by)].search_all(K, exclusion=exclusion, threads=2)
    order, sim = _brute(vec, groups, vec, groups, K)
    _assert_same_neighbours(res.target, order, sim)
    np.testing.assert_allclose(res.similarity, sim, atol=1e-5)


def test_flat_external_queries_and_unknown_group(built, data):
    vec, ids = data
    rng = np.random.default_rng(5)
    q = vec[rng.integers(0, len(vec), 25)] + 0.1 * rng.standard_normal((25, DIM)).astype(np.float32)
    qg = np.array(["sc001", "elsewhere", TIGHT, "sc007", "new"] * 5, dtype=object)
    res = built[("flat", "scaffold")].search(q, qg, 7, query_ids=[f"q{i}" for i in range(25)])
    order, sim = _brute(vec, ids.scaffold, q, qg, 7)
    _assert_same_neighbours(res.target, order, sim)
    np.testing.assert_allclose(res.similarity, sim, atol=1e-5)


def test_ivf_selector_and_overfetch_agree(built, data):
    vec, _ = data
    index = built[("ivf", "scaffold")]
    a = index.search_all(K, nprobe=3, exclusion="selector")
    b = index.search_all(K, nprobe=3, exclusion="overfetch")
    np.testing.assert_array_equal(a.target, b.target)


def test_ivf_full_probe_is_exact(built, data):
    vec, ids = data
    index = built[("ivf", "genome")]
    res = index.search_all(K, nprobe=index.params["nlist"])
    order, sim = _brute(vec, ids.genome, vec, ids.genome, K)
    _assert_same_neighbours(res.target, order, sim)


def test_k_larger_than_other_groups(data):
    vec, ids = data
    small = PairIndex.build(vec[:60], _take(ids, slice(0, 60)), index="flat", device="cpu")  # 3 scaffolds of 20
    res = small.search_all(50)
    assert ((res.target >= 0).sum(axis=1) == 40).all()
    assert (res.rank[:, 40:] == 0).all() and np.isnan(res.similarity[:, 40:]).all()


def _take(ids: PairIds, rows) -> PairIds:
    return PairIds(ids.pair_id[rows], ids.scaffold[rows], ids.genome[rows], ids.label[rows], ids.probability[rows])


@pytest.mark.parametrize("kind", ["flat", "ivf"])
def test_append_matches_single_build(data, kind):
    vec, ids = data
    half = 300  # scaffolds sc000..sc014 first, the rest as "new genomes"
    once = PairIndex.build(vec, ids, index=kind, device="cpu")
    grown = PairIndex.build(vec[:half], _take(ids, slice(0, half)), index=kind, device="cpu", nlist=once.params.get("nlist"))
    if kind == "ivf":
        centroids = faiss.extract_index_ivf(grown._index).quantizer.reconstruct_n(0, grown.params["nlist"]).copy()
    grown.append(vec[half:], _take(ids, slice(half, None)))
    assert grown.ntotal == once.ntotal == len(vec)
    np.testing.assert_array_equal(grown.ids.pair_id, ids.pair_id)
    if kind == "flat":
        a, b = once.search_all(K), grown.search_all(K)
        np.testing.assert_array_equal(a.target, b.target)
        np.testing.assert_array_equal(a.similarity, b.similarity)
    else:  # the trained quantiser is kept; probing every list is exact
        after = faiss.extract_index_ivf(grown._index).quantizer.reconstruct_n(0, grown.params["nlist"])
        np.testing.assert_array_equal(centroids, after)
        res = grown.search_all(K, nprobe=grown.params["nlist"])
        order, sim = _brute(vec, ids.scaffold, vec, ids.scaffold, K)
        _assert_same_neighbours(res.target, order, sim)
    with pytest.raises(DataError, match="already in the index"):
        grown.append(vec[:2], _take(ids, slice(0, 2)))


@pytest.mark.parametrize("kind", KINDS)
def test_save_load_round_trip(built, data, tmp_path, kind):
    vec, ids = data
    index = built[(kind, "scaffold")]
    index.save(tmp_path / "idx")
    loaded = PairIndex.load(tmp_path / "idx", device="cpu")
    assert (loaded.kind, loaded.group_by, loaded.dim, loaded.ntotal) == (kind, "scaffold", DIM, len(vec))
    np.testing.assert_array_equal(loaded.ids.pair_id, ids.pair_id)
    np.testing.assert_array_equal(loaded.ids.label, ids.label)
    np.testing.assert_array_equal(np.isnan(loaded.ids.probability), np.isnan(ids.probability))
    np.testing.assert_array_equal(loaded.ids.probability[~np.isnan(ids.probability)], ids.probability[~np.isnan(ids.probability)])
    a = index.search_all(K, vectors=vec, nprobe=4)
    b = loaded.search_all(K, vectors=vec, nprobe=4)
    np.testing.assert_array_equal(a.target, b.target)
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["count"] == len(vec) and manifest["metric"] == "cosine" and manifest["index_type"] == kind
    assert manifest["format_version"] == 2 and len(manifest["files_sha256"]["index.faiss"]) == 64


@pytest.fixture()
def saved(built, tmp_path):
    path = tmp_path / "idx"
    built[("flat", "scaffold")].save(path)
    return path


def _edit_manifest(path, fn):
    manifest = json.loads((path / "manifest.json").read_text())
    fn(manifest)
    (path / "manifest.json").write_text(json.dumps(manifest))


def _as_version_1(path):
    """Rewrite a saved manifest in the layout of 0.2 (format version 1: ``files`` maps roles to path and sha256)."""
    def old(m):
        hashes = m.pop("files_sha256")
        m.update(format_version=1, files={"index": {"path": "index.faiss", "sha256": hashes["index.faiss"]},
                                          "pairs": {"path": "pairs.tsv", "sha256": hashes["pairs.tsv"]}})
    _edit_manifest(path, old)


def test_version_1_index_folder_still_loads(saved):
    want = PairIndex.load(saved, device="cpu")
    _as_version_1(saved)
    got = PairIndex.load(saved, device="cpu")
    assert got.ntotal == want.ntotal and list(got.ids.pair_id) == list(want.ids.pair_id)


def _truncate(path):
    data = (path / "index.faiss").read_bytes()
    (path / "index.faiss").write_bytes(data[: len(data) // 2])


def _edit_pairs(path):
    text = (path / "pairs.tsv").read_text()
    (path / "pairs.tsv").write_text(text.replace("p1\t", "p1x\t", 1))


@pytest.mark.parametrize(
    "corrupt, message",
    [
        (_truncate, "checksum mismatch"),
        (_edit_pairs, "checksum mismatch"),
        (lambda p: (p / "pairs.tsv").unlink(), "missing pairs.tsv"),
        (lambda p: (p / "index.faiss").unlink(), "missing index.faiss"),
        (lambda p: (p / "manifest.json").unlink(), "not a microfuse index"),
        (lambda p: (p / "manifest.json").write_text("{not json"), "corrupted manifest"),
        (lambda p: _edit_manifest(p, lambda m: m.update(format="something-else")), "not a microfuse"),
        (lambda p: _edit_manifest(p, lambda m: m.update(format_version=99)), "unsupported index format"),
        (lambda p: _edit_manifest(p, lambda m: m["files_sha256"].update({"../index.faiss": "0" * 64})),
         "unexpected file '../index.faiss'"),
        (lambda p: _edit_manifest(p, lambda m: m["files_sha256"].pop("pairs.tsv")), "lists no pairs.tsv"),
        (lambda p: _as_version_1(p) or _edit_manifest(p, lambda m: m["files"]["index"].update(path="../index.faiss")),
         "outside"),
        (lambda p: _as_version_1(p) or _edit_manifest(p, lambda m: m["files"]["pairs"].update(path="sub/../../x.tsv")),
         "outside"),
        (lambda p: _as_version_1(p) or _edit_manifest(p, lambda m: m["files"]["pairs"].update(path="/etc/passwd")),
         "outside"),
        (lambda p: _as_version_1(p) or _edit_manifest(
            p, lambda m: m["files"]["index"].update(path="C:\\x\\index.faiss")), "outside"),
        (lambda p: _edit_manifest(p, lambda m: m.update(count=5)), "manifest says"),
        (lambda p: _edit_manifest(p, lambda m: m.update(index_type="ivf")), "manifest says ivf"),
    ],
)
def test_corrupted_index_folder(saved, corrupt, message):
    corrupt(saved)
    with pytest.raises(DataError, match=message) as info:
        PairIndex.load(saved, device="cpu")
    assert "\n" not in str(info.value)


def test_foreign_index_file_with_matching_checksum(saved):
    (saved / "index.faiss").write_bytes(b"not a faiss index at all")
    import hashlib

    digest = hashlib.sha256(b"not a faiss index at all").hexdigest()
    _edit_manifest(saved, lambda m: m["files_sha256"].update({"index.faiss": digest}))
    with pytest.raises(DataError, match="not a readable FAISS index"):
        PairIndex.load(saved, device="cpu")


def test_index_files_swapped_after_checksum_are_not_read(built, data, saved, tmp_path, monkeypatch):
    """An index.faiss or pairs.tsv renamed into the folder after the checksums were checked and before FAISS and
    the pair table read them (another build's, of as many pairs) was loaded in their place: the folder was hashed
    by path, then read by path again. Both are read from the handles that were hashed (manifest.open_listed)."""
    from microfuse_cli import manifest as manifest_module

    vec, ids = data
    other = tmp_path / "other"
    PairIndex.build(vec[::-1].copy(), ids, index="flat", group_by="scaffold", device="cpu").save(other)
    _edit_pairs(other)
    real, swapped = manifest_module.check_files, []

    def check_then_swap(*args, **kwargs):
        real(*args, **kwargs)
        if kwargs["verify"] and not swapped:  # the checksums have just been checked
            for name in ("index.faiss", "pairs.tsv"):
                (other / name).replace(saved / name)
            swapped.append(True)

    monkeypatch.setattr(manifest_module, "check_files", check_then_swap)
    loaded = PairIndex.load(saved, device="cpu")
    assert swapped and (saved / "pairs.tsv").read_text().count("p1x\t") == 1  # the files were swapped
    np.testing.assert_array_equal(loaded.ids.pair_id, ids.pair_id)
    want = built[("flat", "scaffold")].search_all(K, vectors=vec)
    got = loaded.search_all(K, vectors=vec)
    np.testing.assert_array_equal(got.target, want.target)
    np.testing.assert_array_equal(got.similarity, want.similarity)


def test_load_missing_folder(tmp_path):
    with pytest.raises(DataError, match="no such index folder"):
        PairIndex.load(tmp_path / "nope")


def test_usage_errors(data):
    vec, ids = data
    with pytest.raises(UsageError):
        PairIndex.build(vec, ids, index="lsh")
    with pytest.raises(UsageError):
        PairIndex.build(vec, ids, group_by="contig")
    if faiss.get_num_gpus() == 0:
        with pytest.raises(UsageError, match="no GPU"):
            PairIndex.build(vec, ids, device="cuda")
    index = PairIndex.build(vec[:50], _take(ids, slice(0, 50)), index="flat", device="cpu")
    with pytest.raises(UsageError):
        index.search(vec[:2], ["a", "b"], 0)
    with pytest.raises(DataError, match="dimensions"):
        index.search(vec[:2, :5], ["a", "b"], 3)
    with pytest.raises(DataError, match="query groups"):
        index.search(vec[:2], ["a"], 3)


def test_read_vectors(tmp_path, data):
    vec, ids = data
    np.save(tmp_path / "fused.npy", vec[:4])
    (tmp_path / "fused.ids.tsv").write_text(
        "pair_id\tscaffold\tgenome\tlabel\tprobability\np0\ts1\tg1\t1\t0.9\np1\ts1\tg1\t0\t\np2\ts2\tg1\t\t0.5\np3\ts3\tg2\t1\t0.25\n"
    )
    got, pid = read_vectors(tmp_path / "fused.npy")
    assert got.dtype == np.float32 and got.shape == (4, DIM)
    assert pid.label.tolist() == [1, 0, -1, 1] and math.isnan(pid.probability[1])
    np.save(tmp_path / "fused.npy", vec[:3])
    with pytest.raises(DataError, match="3 vectors but"):
        read_vectors(tmp_path / "fused.npy")
    bad = vec[:4].copy()
    bad[2, 3] = np.nan
    np.save(tmp_path / "fused.npy", bad)
    with pytest.raises(DataError, match="row 3 contains NaN"):
        read_vectors(tmp_path / "fused.npy")
    (tmp_path / "fused.ids.tsv").unlink()
    with pytest.raises(DataError, match="fused.ids.tsv"):
        read_vectors(tmp_path / "fused.npy")
    (tmp_path / "x.ids.tsv").write_text("pair_id\tscaffold\tgenome\tlabel\np0\ts\tg\t2\n")
    with pytest.raises(DataError, match=re.escape("x.ids.tsv: line 2: label '2' is not 0/1 (1/0, 1.0/0.0, yes/no")):
        read_pair_ids(tmp_path / "x.ids.tsv")
    (tmp_path / "x.ids.tsv").write_text("pair_id\tscaffold\tgenome\np0\ts\tg\np0\ts\tg\n")
    with pytest.raises(DataError, match="duplicate pair_id"):
        read_pair_ids(tmp_path / "x.ids.tsv")


def test_pair_ids_labels_are_read_by_the_one_label_rule(tmp_path):
    """A pair-id table's label cells read as --labels lists, pairs and scores tables read theirs (io.tables.parse_label):
    1.0/0.0 as pandas writes a 0/1 column with gaps, yes/no, a blank cell unlabelled; it refused all but 0 and 1."""
    (tmp_path / "x.ids.tsv").write_text("pair_id\tscaffold\tgenome\tlabel\np0\ts\tg\t1.0\np1\ts\tg\tNo\n"
                                        "p2\ts\tg\t \np3\ts\tg\t1\np4\ts\tg\t\n")
    assert read_pair_ids(tmp_path / "x.ids.tsv").label.tolist() == [1, 0, -1, 1, -1]


def test_write_results(data):
    vec, ids = data
    index = PairIndex.build(vec[:60], _take(ids, slice(0, 60)), index="flat", device="cpu")
    res = index.search(vec[:2], ["sc000", "sc000"], 2, query_ids=["qa", "qb"])
    out = io.StringIO()
    n = write_results(out, res, index)
    lines = out.getvalue().splitlines()
    assert n == 4 and len(lines) == 5
    assert lines[0].split("\t") == [
        "query", "target", "rank", "similarity", "target_scaffold", "target_genome", "target_label", "target_probability",
        "query_genome", "query_scaffold",
    ]
    first = lines[1].split("\t")
    assert first[0] == "qa" and first[2] == "1" and first[4] != "sc000"
    assert first[1] == ids.pair_id[res.target[0, 0]]
    assert first[-2:] == ["", ""], "the query genome and scaffold are empty when the search was not told them"
    named = index.search(vec[:2], ["sc000", "sc000"], 2, query_ids=["qa", "qa"], query_genomes=["g_one", "g_two"])
    out = io.StringIO()
    write_results(out, named, index)
    assert [line.split("\t")[-2] for line in out.getvalue().splitlines()[1:]] == ["g_one"] * 2 + ["g_two"] * 2
    with pytest.raises(DataError, match="2 query vectors but 1 query genomes"):
        index.search(vec[:2], ["sc000", "sc000"], 2, query_genomes=["g_one"])


def test_hits_name_the_query_scaffold(data):
    """Hits named the target's scaffold but not the query's, so grouping them by query scaffold took a join on the
    ids table. query_scaffold is the last column (after query_genome: columns counted by position keep their place):
    search_all fills it from the index, search when told (query_scaffolds)."""
    vec, ids = data
    index = PairIndex.build(vec[:60], _take(ids, slice(0, 60)), index="flat", device="cpu")
    out = io.StringIO()
    write_results(out, index.search_all(2), index)
    header, *rows = (line.split("\t") for line in out.getvalue().splitlines())
    assert header[:6] == ["query", "target", "rank", "similarity", "target_scaffold", "target_genome"]
    assert header[-2:] == ["query_genome", "query_scaffold"] and len(rows) == 120
    scaffold_of = dict(zip(ids.pair_id[:60], ids.scaffold[:60]))
    assert [r[-1] for r in rows] == [scaffold_of[r[0]] for r in rows] and len({r[-1] for r in rows}) > 1
    assert all(r[-1] != r[4] for r in rows), "a hit is never on the query's own scaffold"
    told = index.search(vec[:2], ids.scaffold[:2], 2, query_scaffolds=ids.scaffold[:2])
    out = io.StringIO()
    write_results(out, told, index)
    assert [line.split("\t")[-1] for line in out.getvalue().splitlines()[1:]] == [ids.scaffold[0]] * 2 + [ids.scaffold[1]] * 2
    with pytest.raises(DataError, match="2 query vectors but 1 query scaffolds"):
        index.search(vec[:2], ids.scaffold[:2], 2, query_scaffolds=ids.scaffold[:1])


def test_retrieval_evaluate_hand_case():
    # 4 indexed pairs, labels: 1 1 0 unknown. Results (k = 3):
    #   q0 (pos): 1, 2, 3  -> k=1: 1/1 pos;         k=3: labelled {1:pos, 2:neg} -> 1/2
    #   q1 (pos): 2, 0, -1 -> k=1: 0/1;             k=3: {2:neg, 0:pos}           -> 1/2
    #   q2 (neg): 3, 0, 1  -> k=1: nothing counted; k=3: {0:pos, 1:pos}           -> 0/2
    #   q3 (unlabelled): ignored
    labels = np.array([1, 1, 0, -1], np.int8)
    target = np.array([[1, 2, 3], [2, 0, -1], [3, 0, 1], [0, 1, 2]])
    res = SearchResult(target, np.zeros(target.shape, np.float32), np.tile(np.arange(1, 4), (4, 1)))
    rows = retrieval_evaluate(res, labels, ks=(1, 3))
    r1, r3 = rows
    assert r1.k == 1 and r1.positive_precision == pytest.approx(1 / 2)  # q0 hit, q1 miss
    assert math.isnan(r1.negative_precision)  # q2's first neighbour is unlabelled
    assert r1.label_rate == pytest.approx(2 / 3)
    assert r1.enrichment == pytest.approx(0.5 / (2 / 3))
    assert r3.positive_precision == pytest.approx(2 / 4)
    assert r3.negative_precision == pytest.approx(0 / 2)
    assert r3.balanced_precision == pytest.approx(0.25)
    assert r3.enrichment == pytest.approx(0.75)
    assert (r3.positive_queries, r3.negative_queries) == (2, 1)
    with pytest.raises(UsageError):
        retrieval_evaluate(res, labels, ks=(5,))


# ---------------------------------------------------------------------------------------------------------------
# Compressed indexes with re-ranking (IVF-PQ + refine)
# ---------------------------------------------------------------------------------------------------------------


def _recall(target: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean([len(set(t) & set(r)) / len(r) for t, r in zip(target.tolist(), truth.tolist())]))


@pytest.fixture(scope="module")
def refined_flat(data):
    vec, ids = data
    return {gb: PairIndex.build(vec, ids, index="ivfpq", refine="flat", group_by=gb, device="cpu", threads=2)
            for gb in ("scaffold", "genome")}


@pytest.mark.parametrize("exclusion", ["overfetch", "selector"])
@pytest.mark.parametrize("group_by", ["scaffold", "genome"])
def test_refined_ivfpq_is_exact_when_every_candidate_is_reranked(data, refined_flat, group_by, exclusion):
    """Probing every list and re-ranking every candidate with float32 vectors gives brute force's answer, own group
    excluded (the tight scaffold's 40 mutual nearest neighbours included)."""
    vec, ids = data
    index = refined_flat[group_by]
    assert index.refined and index.params["refine"] == "flat"
    res = index.search_all(K, vectors=vec, nprobe=index.params["nlist"], k_factor=64, exclusion=exclusion)
    groups = ids.groups(group_by)
    order, sim = _brute(vec, groups, vec, groups, K)
    _assert_same_neighbours(res.target, order, sim)
    np.testing.assert_allclose(res.similarity, sim, atol=1e-5)
    assert not (groups[res.target] == groups[:, None]).any()


def test_refine_recovers_what_the_pq_codes_lose(data):
    vec, ids = data
    order, _ = _brute(vec, ids.scaffold, vec, ids.scaffold, K)
    recall = {}
    for refine in ("none", "sq8", None):
        index = PairIndex.build(vec, ids, index="ivfpq", refine=refine, pq_m=4, device="cpu", threads=2)
        recall[index.params["refine"]] = _recall(index.search_all(K, vectors=vec).target, order)
    assert set(recall) == {"none", "sq8", "fp16"}  # fp16: the default at this dimension
    assert recall["fp16"] >= recall["sq8"] >= 0.95, recall
    assert recall["none"] < recall["sq8"] - 0.2, recall  # short PQ codes alone lose most neighbours here


def test_refined_index_round_trip_and_manifest(data, tmp_path):
    vec, ids = data
    index = PairIndex.build(vec, ids, index="ivfpq", refine="sq8", pq_m=8, k_factor=3, device="cpu", threads=2)
    assert index.params["refine"] == "sq8" and index.params["k_factor"] == 3
    code = 8 * index.params["pq_nbits"] // 8
    assert index.bytes_per_pair == code + 8 + DIM  # PQ code + list id + one byte per dimension
    index.save(tmp_path / "idx")
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["params"]["refine"] == "sq8" and manifest["params"]["k_factor"] == 3
    assert manifest["params"]["pq_m"] == 8 and manifest["bytes_per_pair"] == code + 8 + DIM
    loaded = PairIndex.load(tmp_path / "idx", device="cpu")
    a, b = index.search_all(K), loaded.search_all(K)  # queries read back from the sq8 codes, block by block
    np.testing.assert_array_equal(a.target, b.target)
    np.testing.assert_array_equal(a.target, index.search_all(K, vectors=loaded._reconstruct(0, len(vec))).target)
    for refine in ("fp16", "none"):
        _edit_manifest(tmp_path / "idx", lambda m, r=refine: m["params"].update(refine=r))
        with pytest.raises(DataError, match="manifest says|not fp16"):
            PairIndex.load(tmp_path / "idx", device="cpu")


@pytest.mark.parametrize("nbits", [4, 8])
def test_fast_scan_and_classic_pq_codes_are_exact_when_everything_is_reranked(data, tmp_path, nbits):
    """4-bit codes on CPU use FAISS' fast-scan layout (the default), 8-bit ones the classic IVF-PQ: both probe
    every list and re-rank every candidate to brute force's answer, and survive a save / load."""
    vec, ids = data
    index = PairIndex.build(vec, ids, index="ivfpq", refine="flat", pq_nbits=nbits, device="cpu", threads=2)
    fast = nbits == 4
    assert index.params["fast_scan"] is fast and index.params["pq_nbits"] == nbits
    assert index.params["pq_m"] == (16 if fast else 8)  # d / 4 = 8 code bytes either way
    assert index.params["k_factor"] == (16 if fast else 8)  # fast-scan re-ranks more candidates by default
    base = faiss.downcast_index(index._index.base_index)
    assert type(base) is (faiss.IndexIVFPQFastScan if fast else faiss.IndexIVFPQ)
    assert index.bytes_per_pair == 8 + 8 + 4 * DIM
    index.save(tmp_path / "idx")
    loaded = PairIndex.load(tmp_path / "idx", device="cpu")
    res = loaded.search_all(K, vectors=vec, nprobe=index.params["nlist"], k_factor=64)
    order, sim = _brute(vec, ids.scaffold, vec, ids.scaffold, K)
    _assert_same_neighbours(res.target, order, sim)
    _edit_manifest(tmp_path / "idx", lambda m: m["params"].update(fast_scan=not fast))
    with pytest.raises(DataError, match="manifest says ivfpq refined by flat"):
        PairIndex.load(tmp_path / "idx", device="cpu")
    if not fast:  # a manifest written before fast-scan existed has no fast_scan key: classic codes
        _edit_manifest(tmp_path / "idx", lambda m: m["params"].pop("fast_scan"))
        assert PairIndex.load(tmp_path / "idx", device="cpu").ntotal == len(vec)


def test_default_pq_codes_per_device():
    """CPU: 4-bit fast-scan codes of d / 4 bytes (two sub-quantisers per byte); GPU: 8-bit codes of the same bytes;
    too little data for 16 centroids per sub-quantiser, or an odd dimension: classic codes."""
    assert _default_pq(512, 10**7, "cpu") == (128, 4)
    assert _default_pq(512, 10**7, "cuda") == (64, 8)
    assert _default_pq(128, 10**6, "cpu") == (64, 4)
    assert _default_pq(128, 400, "cpu") == (32, 3)
    assert _default_pq(33, 10**6, "cpu") == (3, 8)
    assert _default_pq(128, 10**6, "cpu", nbits=8) == (32, 8)


def test_a_fast_scan_index_stays_on_the_cpu(data, caplog):
    """FAISS has no GPU fast-scan: asking for the GPU warns (the `microfuse` logger) and keeps the CPU index
    (searched as before)."""
    vec, ids = data
    index = PairIndex.build(vec, ids, index="ivfpq", device="cpu", threads=2)
    before = index.search_all(K, vectors=vec).target
    with caplog.at_level("WARNING", logger="microfuse"):
        index._to_gpu()
    assert any("no GPU fast-scan" in r.getMessage() for r in caplog.records)
    assert index.device == "cpu"
    np.testing.assert_array_equal(index.search_all(K, vectors=vec).target, before)


def test_build_from_parts_and_append_match_one_build(data):
    """Several arrays (one per genome file) are indexed in order without concatenation; appending keeps the trained
    quantisers and the refine codes' ranges."""
    vec, ids = data
    once = PairIndex.build(vec, ids, index="ivfpq", device="cpu", threads=2)
    parts = PairIndex.build([vec[:250], vec[250:]], ids, index="ivfpq", device="cpu", threads=2)
    a, b = once.search_all(K, vectors=vec), parts.search_all(K, vectors=vec)
    np.testing.assert_array_equal(a.target, b.target)
    np.testing.assert_array_equal(a.similarity, b.similarity)
    grown = PairIndex.build(vec[:300], _take(ids, slice(0, 300)), index="ivfpq", refine="flat", nlist=8, device="cpu")
    grown.append([vec[300:500], vec[500:]], _take(ids, slice(300, None)))
    assert grown.ntotal == faiss.downcast_index(grown._index.refine_index).ntotal == len(vec)
    res = grown.search_all(K, vectors=vec, nprobe=8, k_factor=64)
    order, sim = _brute(vec, ids.scaffold, vec, ids.scaffold, K)
    _assert_same_neighbours(res.target, order, sim)


def test_refine_usage_errors(data):
    vec, ids = data
    with pytest.raises(UsageError, match="ivfpq indexes only"):
        PairIndex.build(vec, ids, index="ivf", refine="sq8")
    with pytest.raises(UsageError, match="refine must be"):
        PairIndex.build(vec, ids, index="ivfpq", refine="sq4")
    with pytest.raises(UsageError, match="k_factor"):
        PairIndex.build(vec, ids, index="ivfpq", k_factor=0)
    index = PairIndex.build(vec, ids, index="ivfpq", device="cpu")
    with pytest.raises(UsageError, match="k_factor"):
        index.search(vec[:2], ["a", "b"], 3, k_factor=0)


def test_cli_refined_ivfpq_on_real_genomes(tmp_path):
    """Real fused vectors (M. genitalium, then M. pneumoniae appended): a refined IVF-PQ index probing every list
    and re-ranking every candidate returns the exact index's neighbours; settings fixed at build are refused on
    --append."""
    from conftest import MPN_FNA, MPN_GFF, PANEL, run_cli

    genomes = {"mg": (PANEL / "GCF_000027325.1_ASM2732v1_genomic.gff.gz", PANEL / "GCF_000027325.1_ASM2732v1_genomic.fna.gz"),
               "mpn": (MPN_GFF, MPN_FNA)}
    for name, (gff, fna) in genomes.items():
        code, _, err = run_cli(["score", gff, "--fasta", fna, "--fused", tmp_path / f"{name}.npy", "--genome-name", name,
                                "-o", tmp_path / f"{name}.tsv", "-q"])
        assert code == 0, err
    code, _, err = run_cli(["retrieve", "build", tmp_path / "mg.npy", "-o", tmp_path / "pq", "--index-type", "ivfpq",
                            "--refine", "flat", "--k-factor", "8", "--nlist", "4", "--pq-m", "8", "-q"])
    assert code == 0, err
    code, _, err = run_cli(["retrieve", "build", tmp_path / "mpn.npy", "-o", tmp_path / "pq", "--append", "--refine", "sq8"])
    assert code == 2 and "--refine sq8 differs from the existing index's flat" in err, err
    code, _, err = run_cli(["retrieve", "build", tmp_path / "mpn.npy", "-o", tmp_path / "pq", "--append", "-q"])
    assert code == 0, err
    code, _, err = run_cli(["retrieve", "build", tmp_path / "mg.npy", tmp_path / "mpn.npy", "-o", tmp_path / "exact",
                            "--index", "flat", "-q"])
    assert code == 0, err
    code, _, err = run_cli(["retrieve", "build", tmp_path / "mg.npy", tmp_path / "mpn.npy", "-o", tmp_path / "fs",
                            "--index-type", "ivfpq", "-q"])
    assert code == 0, err
    params = json.loads((tmp_path / "fs" / "manifest.json").read_text())["params"]
    assert params["fast_scan"] is True and params["pq_nbits"] == 4  # the CPU default with enough pairs to train
    assert params["k_factor"] == 16  # fast-scan codes re-rank twice as many candidates as classic ones
    code, _, err = run_cli(["retrieve", "build", tmp_path / "mg.npy", "-o", tmp_path / "fs", "--append", "--pq-nbits", "8"])
    assert code == 2 and "--pq-nbits 8 differs from the existing index's 4" in err, err
    manifest = json.loads((tmp_path / "pq" / "manifest.json").read_text())
    assert manifest["params"]["refine"] == "flat" and manifest["params"]["k_factor"] == 8
    assert manifest["params"]["nlist"] == 4 and manifest["params"]["pq_m"] == 8
    n = len(np.load(tmp_path / "mg.npy")) + len(np.load(tmp_path / "mpn.npy"))
    assert manifest["count"] == n
    tables = {}
    for name, extra in (("pq", ["--nprobe", "4", "--k-factor", "64"]), ("exact", [])):
        code, out, err = run_cli(["retrieve", "--index", tmp_path / name, "--k", "5", *extra, "-q"])
        assert code == 0, err
        tables[name] = [line.split("\t") for line in out.splitlines()[1:]]
    assert len(tables["pq"]) == len(tables["exact"]) == 5 * n
    pq, exact = np.array(tables["pq"], dtype=object), np.array(tables["exact"], dtype=object)
    np.testing.assert_allclose(pq[:, 3].astype(float), exact[:, 3].astype(float), atol=2e-6)
    same = pq[:, 1] == exact[:, 1]
    assert same.mean() > 0.99  # the rest: neighbours tied in similarity to 6 decimals, ordered by row either way


def test_pair_ids_stack_equals_chained_concat(data):
    _, ids = data
    a, b, c = _take(ids, slice(0, 100)), _take(ids, slice(100, 300)), _take(ids, slice(300, None))
    numeric = PairIds(np.arange(3), np.arange(3), np.arange(3))
    for parts in ([a, b, c], [a, numeric]):
        chained = parts[0]
        for more in parts[1:]:
            chained = chained.concat(more)
        stacked = PairIds.stack(parts)
        for name in ("pair_id", "scaffold", "genome", "label"):
            np.testing.assert_array_equal(getattr(stacked, name), getattr(chained, name))
        np.testing.assert_array_equal(np.isnan(stacked.probability), np.isnan(chained.probability))


def test_long_group_names_exclude_like_short_ones(data):
    """Names over 15 characters (WGS contigs such as NZ_JAHXYZ010000001.1) lie outside numpy's 16-byte string
    slots, where numpy 2.4's searchsorted misplaces or refuses them: the own-group lookup must not depend on it."""
    vec, ids = data
    renamed = np.array([f"NZ_JAHXYZ0100000{s}.1" for s in ids.scaffold.tolist()], dtype=object)
    long_ids = PairIds(ids.pair_id, renamed, ids.genome, ids.label, ids.probability)
    rows = np.arange(0, len(vec), 9)
    short = PairIndex.build(vec, ids, index="flat", device="cpu").search(vec[rows], ids.scaffold[rows], K)
    index = PairIndex.build(vec, long_ids, index="flat", device="cpu")
    long = index.search(vec[rows], long_ids.scaffold[rows], K)
    np.testing.assert_array_equal(long.target, short.target)
    assert not (long_ids.scaffold[long.target] == long_ids.scaffold[rows][:, None]).any()


def test_own_group_lookup_by_bytes_matches_the_sorting_lookup(data):
    """Query groups are looked up by binary search in the group names as UTF-8 bytes (cheap per call), which must
    give the codes of the sort-based lookup for short, long and non-ASCII names, unknown groups, and a name
    ending in NUL (which fixed-width bytes would drop: the sort-based lookup takes over)."""
    from microfuse_cli.retrieve.ids import _positions, _same_kind

    vec, ids = data
    names = ["c", "NZ_JAHXYZ010000001.1", "contig_é_1", "contig_ü_22", "Ω", "a" * 40, "b"]
    scaffold = np.array([names[i % len(names)] + f"_{i // 40}" for i in range(len(vec))], dtype=object)
    named = PairIds(ids.pair_id, scaffold, ids.genome)
    index = PairIndex.build(vec, named, index="flat", device="cpu")
    known = index.query_groups(named)[::7].tolist()  # genome-qualified where one name is in several genomes
    queries = np.array([*known, "absent", "contig_é_1_99", "Ωmega", ""], dtype=object)
    want = _positions(*_same_kind(index._group_keys, queries))
    np.testing.assert_array_equal(index._codes_for(queries), want)
    assert (want[-4:] == -1).all() and (want[:-4] >= 0).all()
    assert index._group_key_bytes is not None and index._group_key_bytes is not False  # the byte route was taken
    nul = np.array([known[0] + "\x00", known[0]], dtype=object)
    np.testing.assert_array_equal(index._codes_for(nul), _positions(*_same_kind(index._group_keys, nul)))
    assert index._codes_for(nul)[0] == -1


def test_pair_id_table_round_trip_across_parse_blocks(tmp_path):
    """pairs.tsv is parsed 65,536 rows at a time: a table of two blocks reads back unchanged, and a repeat in the
    second block is reported with its genome."""
    n = 70_000
    pid = np.array([f"g{i:06d}|g{i + 1:06d}" for i in range(n)], dtype=object)
    scaffold = np.array([f"contig_{i // 5000}" for i in range(n)], dtype=object)
    genome = np.array(["genome_a" if i < n // 2 else "a_second_genome_name" for i in range(n)], dtype=object)
    label = np.where(np.arange(n) % 3 == 0, -1, np.arange(n) % 2).astype(np.int8)
    prob = np.where(np.arange(n) % 4 == 0, np.nan, np.linspace(0, 1, n))
    ids = PairIds(pid, scaffold, genome, label, prob)
    with open(tmp_path / "pairs.tsv", "w") as handle:
        write_pair_ids(handle, ids)
    back = read_pair_ids(tmp_path / "pairs.tsv")
    for name in ("pair_id", "scaffold", "genome", "label"):
        assert getattr(back, name).tolist() == getattr(ids, name).tolist()
    np.testing.assert_array_equal(back.probability, ids.probability)
    lines = (tmp_path / "pairs.tsv").read_text().splitlines()
    lines[-1] = lines[-2]
    (tmp_path / "pairs.tsv").write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError, match=re.escape("duplicate pair_id 'g069998|g069999' in genome 'a_second_genome_name'")):
        read_pair_ids(tmp_path / "pairs.tsv")


def test_many_groups_and_sorted_queries_search_cleanly():
    """Group lookup sorts the index's group names and the queries' together: a sorted run followed by another, the
    input on which numpy 2.4's quicksort of variable-width strings crashed (segfault) with 18,750 groups."""
    n = 18_750
    vec = np.random.default_rng(3).standard_normal((n, 8)).astype(np.float32)
    scaffold = np.array([f"NZ_CP{i:07d}.1" for i in range(n)], dtype=object)
    ids = PairIds(np.array([f"p{i}" for i in range(n)], dtype=object), scaffold, np.full(n, "g", dtype=object))
    index = PairIndex.build(vec, ids, index="flat", device="cpu")
    rows = np.sort(np.random.default_rng(1).integers(0, n, 100))
    res = index.search(vec[rows], scaffold[rows], 3)
    assert (res.target >= 0).all() and not (res.target == rows[:, None]).any()
    assert (res.similarity[:, 0] < 0.9999).all(), "each query's only own-scaffold pair, itself, is excluded"


def test_cli_retrieval_table_leaves_a_precision_without_queries_empty(tmp_path):
    """The known operon pairs (ODB) of M. pneumoniae and E. coli as the only labels: no negative query, so
    negative precision cannot be computed. Its TSV field is empty, as every microfuse table leaves a missing value
    (the pair-id reader refuses 'nan'); it was written 'nan'."""
    from conftest import ECOLI_FNA, ECOLI_GFF, ECOLI_ODB, MPN, MPN_FNA, MPN_GFF, run_cli

    runs = {"ecoli": [ECOLI_GFF, "--fasta", ECOLI_FNA, "--operons", ECOLI_ODB],
            "mpn": [MPN_GFF, "--fasta", MPN_FNA, "--operons", MPN / "odb4_known_operons_mpneumoniae.tsv"]}
    for name, args in runs.items():
        code, _, err = run_cli(["score", *args, "--fused", tmp_path / f"{name}.npy", "--genome-name", name,
                                "-o", tmp_path / f"{name}.tsv", "-q"])
        assert code == 0, err
        ids = tmp_path / f"{name}.ids.tsv"  # keep the known operons' pairs, forget the known boundaries
        comment, *lines = ids.read_text().splitlines()  # the first line records the model
        rows = [line.split("\t") for line in lines]
        assert {r[3] for r in rows[1:]} == {"0", "1", ""}
        ids.write_text(comment + "\n" + "".join("\t".join(r[:3] + ["" if r[3] == "0" else r[3]] + r[4:]) + "\n"
                                                for r in rows))
    code, _, err = run_cli(["retrieve", "build", tmp_path / "ecoli.npy", tmp_path / "mpn.npy", "-o", tmp_path / "idx",
                            "--group-by", "genome", "-q"])
    assert code == 0, err
    code, out, err = run_cli(["retrieve", "evaluate", "--index", tmp_path / "idx", "--ks", "1,5"])
    assert code == 0, err
    header, *table = [line.split("\t") for line in out.splitlines()]
    assert len(table) == 2 and "nan" not in out.lower()
    for row in map(dict, (zip(header, r) for r in table)):
        assert row["negative_queries"] == "0" and int(row["positive_queries"]) > 1000
        assert row["negative_precision"] == row["balanced_precision"] == ""
        assert float(row["positive_precision"]) == float(row["enrichment"]) == 1.0  # every labelled pair positive
    assert "nan" not in err.lower()  # the summary on stderr shows '-'
    # where the table went was not said, as `retrieve search` says it ('N neighbours written to FILE')
    assert "info: retrieval table (k = 1, 5) written to stdout" in err.splitlines(), err
    code, _, err = run_cli(["retrieve", "evaluate", "--index", tmp_path / "idx", "--ks", "1,5", "-o",
                            tmp_path / "retrieval.tsv"])
    assert code == 0 and (tmp_path / "retrieval.tsv").read_text() == out, err
    assert f"info: retrieval table (k = 1, 5) written to {tmp_path / 'retrieval.tsv'}" in err.splitlines(), err
    # stderr is no terminal here (a log): the summary is tab-separated lines, not a box-drawn table
    assert err.isascii(), err
    summary = err.splitlines()[err.splitlines().index("retrieval (neighbours from other groups)") + 1:]
    assert summary == ["k\tpositive precision\tnegative precision\tbalanced\tenrichment",
                       "1\t1.0000\t-\t-\t1.0000", "5\t1.0000\t-\t-\t1.0000"], err


@pytest.fixture(scope="module")
def real_fused(tmp_path_factory):
    """Fused vectors of three real genomes from `score --fused`: M. pneumoniae, M. genitalium, M. jannaschii."""
    from conftest import MPN_FNA, MPN_GFF, PANEL, run_cli

    folder = tmp_path_factory.mktemp("fused")
    genomes = {"mpn": (MPN_GFF, MPN_FNA)}
    for name, accession in (("mg", "GCF_000027325.1_ASM2732v1"), ("mj", "GCF_000091665.1_ASM9166v1")):
        genomes[name] = (PANEL / f"{accession}_genomic.gff.gz", PANEL / f"{accession}_genomic.fna.gz")
    for name, (gff, fna) in genomes.items():
        code, _, err = run_cli(["score", gff, "--fasta", fna, "--fused", folder / f"{name}.npy", "--genome-name", name,
                                "-o", folder / f"{name}.tsv", "-q"])
        assert code == 0, err
    return folder


def test_cli_flat_search_is_brute_force_and_thread_independent(real_fused, tmp_path):
    """Exact search over real fused vectors: the similarities are numpy's cosines, each query's neighbours are the
    brute-force top k of other genomes, and the TSV is byte-identical at -t 1 and -t 2 (FAISS' BLAS sums differed in
    the last float32 bit with the thread count, flipping printed 6th decimals of 76 rows)."""
    from conftest import run_cli

    files = [real_fused / f"{name}.npy" for name in ("mpn", "mg", "mj")]
    code, _, err = run_cli(["retrieve", "build", *files, "-o", tmp_path / "flat", "--index", "flat",
                            "--group-by", "genome", "-q"])
    assert code == 0, err
    outputs = []
    for threads in ("1", "2"):
        code, out, err = run_cli(["retrieve", "--index", tmp_path / "flat", "--k", "5", "-t", threads, "-q"])
        assert code == 0, err
        outputs.append(out)
    assert outputs[0] == outputs[1]
    loaded = [read_vectors(path) for path in files]
    vectors = np.concatenate([v for v, _ in loaded]).astype(np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    genome = np.array([g for _, i in loaded for g in i.genome.tolist()])
    pair_id = [p for _, i in loaded for p in i.pair_id.tolist()]
    row_of = {(g, p): r for r, (g, p) in enumerate(zip(genome, pair_id))}
    sims = vectors @ vectors.T
    sims[genome[:, None] == genome[None, :]] = -np.inf
    header, *rows = [line.split("\t") for line in outputs[0].splitlines()]
    got = {}
    for r in rows:
        row = dict(zip(header, r))
        query, target = row_of[row["query_genome"], row["query"]], row_of[row["target_genome"], row["target"]]
        assert abs(float(row["similarity"]) - sims[query, target]) < 1e-6
        got.setdefault(query, []).append(target)
    assert sorted(got) == list(range(len(vectors))) and all(len(t) == 5 for t in got.values())
    for query, targets in got.items():
        fifth = np.sort(sims[query])[-5]  # every listed neighbour is in the top 5, up to float32 ties
        assert (sims[query, targets] >= fifth - 1e-6).all()


def test_cli_vectors_of_another_dimension_are_refused_naming_the_file(real_fused, tmp_path):
    """Fused vectors of another width (another model) among several files: one line that names the file; it said
    'query vectors' (search) or 'vectors (part 3)' (build), leaving the user to guess which of the files."""
    from conftest import run_cli

    vectors = np.load(real_fused / "mg.npy")
    np.save(tmp_path / "narrow.npy", vectors[:, : vectors.shape[1] // 2])
    (tmp_path / "narrow.ids.tsv").write_text(_edited_by_hand((real_fused / "mg.ids.tsv").read_text()))
    mpn, mj, narrow = real_fused / "mpn.npy", real_fused / "mj.npy", tmp_path / "narrow.npy"
    code, _, err = run_cli(["retrieve", "build", mpn, mj, narrow, "-o", tmp_path / "idx", "-q"])
    assert code == 1 and err.count("\n") == 1 and err.startswith(f"error: {narrow}: vectors have 64 dimensions, "
                                                                 f"{mpn} has 128"), err
    assert not (tmp_path / "idx").exists()
    code, _, err = run_cli(["retrieve", "build", mpn, mj, "-o", tmp_path / "idx", "-q"])
    assert code == 0, err
    code, out, err = run_cli(["retrieve", "--index", tmp_path / "idx", mpn, narrow, "-q"])
    assert code == 1 and out == "" and err.count("\n") == 1 and f"error: {narrow}: vectors have 64 dimensions" in err


def test_read_vectors_refuses_vectors_other_than_those_its_ids_record(real_fused, tmp_path, caplog):
    """`score --fused`'s ids file records the SHA-256 and shape of the vectors written with it: another run's vectors
    beside it (a run killed between the two renames, a hand copy) of the same shape were paired row by row with
    its ids. Refused now, naming both files; a malformed record is refused too; an ids file recording none (an
    older microfuse's, or made by hand) is read as before, said on -v only."""
    import logging

    ids_text = (real_fused / "mg.ids.tsv").read_text()
    vectors = np.load(real_fused / "mg.npy")
    (tmp_path / "mg.ids.tsv").write_text(ids_text)
    np.save(tmp_path / "mg.npy", vectors)  # the same bytes: read
    got, ids = read_vectors(tmp_path / "mg.npy")
    assert np.array_equal(got, vectors) and len(ids) == len(vectors)
    np.save(tmp_path / "mg.npy", np.roll(vectors, 1, axis=0))  # as many rows, other vectors
    shape = f"{vectors.shape[0]}x{vectors.shape[1]}"
    with pytest.raises(DataError, match=f"^{re.escape(str(tmp_path / 'mg.npy'))} and mg.ids.tsv are from different "
                                        rf"runs \(mg.ids.tsv records vectors {shape} with another checksum\): rerun"):
        read_vectors(tmp_path / "mg.npy")
    np.save(tmp_path / "mg.npy", vectors[:-1])
    with pytest.raises(DataError, match=f"records vectors of shape {shape}, these are {len(vectors) - 1}x"):
        read_vectors(tmp_path / "mg.npy")
    (tmp_path / "mg.ids.tsv").write_text(ids_text.replace("vectors_sha256=", "vectors_sha256=z", 1))
    with pytest.raises(DataError, match="mg.ids.tsv: malformed vectors_sha256="):
        read_vectors(tmp_path / "mg.npy")
    # a record mangled (a shell's line wrap, a hostile file): one short line that says what to do
    (tmp_path / "mg.ids.tsv").write_text(re.sub("vectors_shape=[0-9x]+", "vectors_shape=" + "9x" * 2000,
                                                ids_text.replace("vectors_sha256=", "vectors_sha=", 1), count=1))
    with pytest.raises(DataError) as caught:
        read_vectors(tmp_path / "mg.npy")
    message = str(caught.value)
    assert message.startswith(f"{tmp_path / 'mg.ids.tsv'}: malformed vectors_sha256= / vectors_shape= on its "
                              f"#microfuse line (vectors_sha256=(none), vectors_shape={'9x' * 40}): rerun `microfuse "
                              "score ... --fused` to write the vectors and ids again"), message
    # bounded apart from the path, whose own length varies with the pytest worker
    assert len(message) - len(str(tmp_path / "mg.ids.tsv")) < 400 and "\n" not in message, message
    (tmp_path / "mg.ids.tsv").write_text(_edited_by_hand(ids_text))
    np.save(tmp_path / "mg.npy", np.roll(vectors, 1, axis=0))
    with caplog.at_level(logging.DEBUG, logger="microfuse"):
        got, ids = read_vectors(tmp_path / "mg.npy")
    assert ids.model_id is not None and np.array_equal(got, np.roll(vectors, 1, axis=0))
    assert "mg.ids.tsv records no checksum of its vectors" in caplog.text


def test_read_vectors_checks_the_recorded_checksum_in_its_one_read_of_the_vectors(real_fused, tmp_path, monkeypatch):
    """The vectors' checksum was a read of the whole FILE.npy before the read that checks its rows (NaN, zeros):
    now the rows are hashed as they are checked, in one read, for the files `score --fused` writes; a copy saved in
    Fortran order (the same rows, other bytes: their ids record the copy's checksum) is hashed apart, and both refuse
    a byte changed."""
    import hashlib

    from microfuse_cli.io import files

    hashed = []
    monkeypatch.setattr(files, "sha256_file", lambda path, real=files.sha256_file: hashed.append(path) or real(path))
    ids_text = (real_fused / "mg.ids.tsv").read_text()
    vectors = np.load(real_fused / "mg.npy")
    for order, saved in (("C", vectors), ("F", np.asfortranarray(vectors))):
        np.save(tmp_path / "mg.npy", saved)
        digest = hashlib.sha256((tmp_path / "mg.npy").read_bytes()).hexdigest()
        (tmp_path / "mg.ids.tsv").write_text(re.sub("vectors_sha256=[0-9a-f]{64}", f"vectors_sha256={digest}",
                                                    ids_text, count=1))
        got, ids = read_vectors(tmp_path / "mg.npy")
        assert np.array_equal(got, vectors) and len(ids) == len(vectors), order
        assert hashed == ([] if order == "C" else [tmp_path / "mg.npy"]), order
        changed = bytearray((tmp_path / "mg.npy").read_bytes())
        changed[-1] ^= 1  # the last row's last byte: a vector still finite, another checksum
        (tmp_path / "mg.npy").write_bytes(bytes(changed))
        with pytest.raises(DataError, match="are from different runs .mg.ids.tsv records vectors [0-9]+x[0-9]+ with "
                                            "another checksum"):
            read_vectors(tmp_path / "mg.npy")
        hashed.clear()


def test_read_vectors_finds_the_record_after_a_long_comment_line(real_fused, tmp_path):
    """The ids file's record of its vectors (vectors_sha256=, vectors_shape=) and model (model_id=) were looked for
    in its first 4 KiB only: a hand-made `#` line of 5 kB above the `#microfuse` line left new vectors beside old ids
    unchecked and the model unknown. Read where the header's `#` lines end now, however long they are."""
    ids_text = (real_fused / "mg.ids.tsv").read_text()
    vectors = np.load(real_fused / "mg.npy")
    model_id = read_vectors(real_fused / "mg.npy")[1].model_id
    for comment in ("#" + "x" * 5000 + "\n", "# a note\n" * 1000):  # one long line, many short ones
        (tmp_path / "mg.ids.tsv").write_text(comment + ids_text)
        np.save(tmp_path / "mg.npy", vectors)
        got, ids = read_vectors(tmp_path / "mg.npy")
        assert np.array_equal(got, vectors) and ids.model_id == model_id is not None
        np.save(tmp_path / "mg.npy", np.roll(vectors, 1, axis=0))  # another run's vectors, as many rows
        with pytest.raises(DataError, match="are from different runs .mg.ids.tsv records vectors [0-9]+x[0-9]+ with "
                                            "another checksum"):
            read_vectors(tmp_path / "mg.npy")


def test_read_vectors_reads_a_long_comment_line_no_further_than_the_line_cap(real_fused, tmp_path, monkeypatch):
    """The ids file's leading # lines were read whole, however long, before read_text's line cap refused them: a
    corrupt FILE.ids.tsv of one `#` line of gigabytes was read, and held twice (bytes and text), first. Refused now
    once MAX_LINE_BYTES are read, with read_text's message; a line of the cap itself is read."""
    import tracemalloc

    from microfuse_cli.io import files

    monkeypatch.setattr(files, "MAX_LINE_BYTES", 4096)
    ids_text = (real_fused / "mg.ids.tsv").read_text()
    np.save(tmp_path / "mg.npy", np.load(real_fused / "mg.npy"))
    (tmp_path / "mg.ids.tsv").write_text("#" + "x" * 4095 + "\n" + ids_text)  # 4096 bytes: read
    assert len(read_vectors(tmp_path / "mg.npy")[1]) == len(np.load(real_fused / "mg.npy"))
    (tmp_path / "mg.ids.tsv").write_text("#" + "x" * (8 << 20) + "\n" + ids_text)  # 8 MB
    tracemalloc.start()
    try:
        with pytest.raises(DataError) as caught:
            read_vectors(tmp_path / "mg.npy")
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(caught.value) == (f"{tmp_path / 'mg.ids.tsv'}: a line longer than 4096 bytes (corrupt, or not a text "
                                 "file?); refusing (MICROFUSE_MAX_LINE)")
    assert peak < 1 << 20, peak  # the line was not read whole


def test_read_vectors_refuses_files_replaced_by_another_run_while_it_reads_them(real_fused, tmp_path, monkeypatch):
    """read_vectors memory-maps FILE.npy, then hashes it and reads FILE.ids.tsv by path: a `score --fused` rerun
    renaming its two files into place between those reads (same genome, as many rows) left the mapped old vectors
    paired with the new ids, whose checksum matched the new vectors on disk, without a word. Refused now, in one
    line; files left alone read as before."""
    import hashlib

    ids_text = (real_fused / "mg.ids.tsv").read_text()
    vectors = np.load(real_fused / "mg.npy")
    (tmp_path / "mg.ids.tsv").write_text(ids_text)
    np.save(tmp_path / "mg.npy", vectors)
    rerun = np.roll(vectors, 1, axis=0)  # the rerun's vectors and the ids that record them
    np.save(tmp_path / "rerun.npy", rerun)
    digest = hashlib.sha256((tmp_path / "rerun.npy").read_bytes()).hexdigest()
    (tmp_path / "rerun.ids.tsv").write_text(re.sub("vectors_sha256=[0-9a-f]{64}", f"vectors_sha256={digest}",
                                                   ids_text, count=1))
    load = np.load

    def load_then_rerun(path, *args, **kwargs):  # the rerun's renames land just after the vectors are mapped
        mapped = load(path, *args, **kwargs)
        if (tmp_path / "rerun.npy").exists():
            (tmp_path / "rerun.npy").replace(tmp_path / "mg.npy")
            (tmp_path / "rerun.ids.tsv").replace(tmp_path / "mg.ids.tsv")
        return mapped

    monkeypatch.setattr(np, "load", load_then_rerun)
    with pytest.raises(DataError) as caught:
        read_vectors(tmp_path / "mg.npy")
    assert str(caught.value) == (f"{tmp_path / 'mg.npy'} or mg.ids.tsv was replaced while it was read (another run "
                                 "writing them?): read them again once that run has finished")
    got, ids = read_vectors(tmp_path / "mg.npy")  # the rerun's files, read again: its vectors
    assert np.array_equal(got, rerun) and len(ids) == len(rerun)


def test_cli_build_warns_of_one_assembly_under_two_genome_names(real_fused, tmp_path):
    """M. pneumoniae indexed twice (a second `score --genome-name`): every pair's nearest neighbour is its own copy
    at similarity 1, and the build said nothing. Now one warning names both; names that merely collide (same
    scaffold and pair ids, other vectors, as MEGAHIT's k141_* contigs of two samples) are not flagged."""
    from conftest import run_cli

    ids = (real_fused / "mpn.ids.tsv").read_text()
    vectors = np.load(real_fused / "mpn.npy")
    (tmp_path / "again.ids.tsv").write_text(ids.replace("\tmpn\t", "\tmpn_again\t"))
    np.save(tmp_path / "again.npy", vectors)
    (tmp_path / "other.ids.tsv").write_text(_edited_by_hand(ids.replace("\tmpn\t", "\tsample2\t")))
    np.save(tmp_path / "other.npy", vectors[::-1])
    mpn, mg = real_fused / "mpn.npy", real_fused / "mg.npy"
    code, _, err = run_cli(["retrieve", "build", mpn, mg, tmp_path / "again.npy", "-o", tmp_path / "copies"])
    assert code == 0 and err.count("genomes 'mpn' and 'mpn_again' hold the same pairs") == 1, err
    code, out, err = run_cli(["retrieve", "--index", tmp_path / "copies", "--k", "1", "-q"])
    first = out.splitlines()[1].split("\t")
    assert first[1] == first[0] and first[3] == "1.000000"  # what the warning is about
    code, _, err = run_cli(["retrieve", "build", mpn, mg, tmp_path / "other.npy", "-o", tmp_path / "collide"])
    assert code == 0 and "same pairs" not in err, err


def _edited_by_hand(text: str) -> str:
    """An ids table of `score --fused` as a user who edits its vectors too makes it (as the refusal of mixed files
    advises): its first line without the vectors' checksum and shape, which the edited vectors no longer match."""
    return re.sub(r" vectors_sha256=[0-9a-f]{64} vectors_shape=[0-9x]+", "", text, count=1)


def _renamed(real_fused, tmp_path, stem, genome, source="mpn", vectors=None, replace=()):
    """A copy of ``source``'s fused vectors and ids under genome name ``genome`` (ids edited by ``replace``)."""
    text = (real_fused / f"{source}.ids.tsv").read_text().replace(f"\t{source}\t", f"\t{genome}\t")
    for old, new in replace:
        text = text.replace(old, new)
    (tmp_path / f"{stem}.ids.tsv").write_text(text if vectors is None else _edited_by_hand(text))
    np.save(tmp_path / f"{stem}.npy", np.load(real_fused / f"{source}.npy") if vectors is None else vectors)
    return tmp_path / f"{stem}.npy"


def test_cli_two_assemblies_under_one_genome_name_are_refused(real_fused, tmp_path):
    """Isolates annotated alike (Shovill's contig00001, Prokka's PROKKA_<date>.gff in every isolate's folder) are
    named after that file: one genome name. With other locus tags (`prokka --locustag`) the pair ids differed, so
    `retrieve build` (and --append) indexed them silently as one genome: one scaffold group, never each other's
    neighbours, and the search said only that no other scaffold existed. A scaffold of one genome name in two files
    (or a file and the index) is refused now, naming both; one genome in two files with other scaffolds (a chromosome
    and a plasmid under one --genome-name) is still indexed."""
    from conftest import run_cli

    name = "PROKKA_12012026.gff"
    iso1 = _renamed(real_fused, tmp_path, "iso1", name)
    iso2 = _renamed(real_fused, tmp_path, "iso2", name, replace=[("MPN_", "ISO2_")])
    same_tags = _renamed(real_fused, tmp_path, "iso3", name, vectors=np.load(real_fused / "mpn.npy")[::-1])
    scaffold = (real_fused / "mpn.ids.tsv").read_text().splitlines()[2].split("\t")[1]
    for group_by in ("scaffold", "genome"):
        code, out, err = run_cli(["retrieve", "build", iso1, iso2, "-o", tmp_path / group_by, "--group-by", group_by])
        assert code == 1 and not (tmp_path / group_by).exists(), err
        assert err.startswith(f"error: {iso1} and {iso2} both hold genome '{name}', scaffold '{scaffold}' with other "
                              "pair ids: one genome given twice, or two assemblies under one genome name") and \
            err.count("\n") == 1, err
    code, _, err = run_cli(["retrieve", "build", iso1, same_tags, "-o", tmp_path / "same"])
    assert code == 1 and f"error: {iso1} and {same_tags} both hold genome '{name}', the same pair ids" in err, err
    code, _, err = run_cli(["retrieve", "build", iso1, "-o", tmp_path / "index", "-q"])
    assert code == 0, err
    before = {f.name: f.read_bytes() for f in (tmp_path / "index").iterdir()}
    code, _, err = run_cli(["retrieve", "build", iso2, "-o", tmp_path / "index", "--append"])
    assert code == 1 and err.startswith(f"error: the index {tmp_path / 'index'} and {iso2} both hold genome '{name}'"), err
    assert {f.name: f.read_bytes() for f in (tmp_path / "index").iterdir()} == before
    # a chromosome and a plasmid scored apart under one --genome-name: one genome, indexed (with the warning)
    chromosome = _renamed(real_fused, tmp_path, "chromosome", "sampleA", source="mg")
    plasmid = _renamed(real_fused, tmp_path, "plasmid", "sampleA", source="mj")
    code, _, err = run_cli(["retrieve", "build", chromosome, plasmid, "-o", tmp_path / "sample", "--group-by", "genome"])
    assert code == 0 and f"warning: {chromosome} and {plasmid} both hold genome 'sampleA'" in err, err
    code, _, err = run_cli(["retrieve", "build", chromosome, "-o", tmp_path / "grown", "--group-by", "genome", "-q"])
    assert code == 0, err
    code, _, err = run_cli(["retrieve", "build", plasmid, "-o", tmp_path / "grown", "--append"])
    assert code == 0 and f"warning: the index {tmp_path / 'grown'} and {plasmid} both hold genome 'sampleA'" in err, err
    assert (tmp_path / "grown" / "pairs.tsv").read_text() == (tmp_path / "sample" / "pairs.tsv").read_text()


def _batch(real_fused, tmp_path, stem, rows, source="mpn"):
    """Rows ``rows`` of ``source``'s fused vectors and ids: the files `score --pairs` writes for one batch of pairs."""
    lines = (real_fused / f"{source}.ids.tsv").read_text().splitlines(keepends=True)
    head = 2 if lines[0].startswith("#") else 1  # the model's comment line, the header
    text = "".join([*lines[:head], *(lines[head + r] for r in rows)])
    (tmp_path / f"{stem}.ids.tsv").write_text(_edited_by_hand(text))
    np.save(tmp_path / f"{stem}.npy", np.load(real_fused / f"{source}.npy")[list(rows)])
    return tmp_path / f"{stem}.npy"


def test_cli_one_genome_scored_in_batches_is_indexed_as_one(real_fused, tmp_path):
    """One genome's pairs scored in batches (`score --pairs` in chunks), each writing its vectors, then `retrieve
    build` over all files or `--append` per batch, was refused as two assemblies under one genome name (a scaffold in
    two files), where the version before indexed it. Batches of consecutive pairs share the gene at their edge, which
    isolates never share with other pair ids: indexed as one genome, the index the whole genome's; batches that share
    no gene on a scaffold cannot be told from two assemblies and are refused with a message naming both."""
    from conftest import run_cli

    n = len(np.load(real_fused / "mpn.npy"))
    first, second, third = (_batch(real_fused, tmp_path, f"batch{i}", rows) for i, rows in
                            enumerate((range(0, 250), range(250, 500), range(500, n)), 1))
    mg = real_fused / "mg.npy"
    code, _, err = run_cli(["retrieve", "build", real_fused / "mpn.npy", mg, "-o", tmp_path / "whole", "-q"])
    assert code == 0, err
    for group_by in ("scaffold", "genome"):  # batches 1 and 3 share no gene: batch 2 links them
        code, _, err = run_cli(["retrieve", "build", first, third, mg, second, "-o", tmp_path / group_by,
                                "--group-by", group_by])
        assert code == 0 and "error" not in err and "both hold genome" not in err, err
    code, _, err = run_cli(["retrieve", "build", first, "-o", tmp_path / "appended", "-q"])
    assert code == 0, err
    for batch in (second, mg, third):
        code, _, err = run_cli(["retrieve", "build", batch, "-o", tmp_path / "appended", "--append"])
        assert code == 0 and "both hold genome" not in err, err
    code, whole, _ = run_cli(["retrieve", "--index", tmp_path / "whole", "--k", "3", "-q"])
    code, appended, _ = run_cli(["retrieve", "--index", tmp_path / "appended", "--k", "3", "-q"])
    assert code == 0 and sorted(appended.splitlines()) == sorted(whole.splitlines())
    code, _, err = run_cli(["retrieve", "build", first, third, "-o", tmp_path / "apart"])
    assert code == 1 and err.count("\n") == 1 and not (tmp_path / "apart").exists(), err
    assert err.startswith(f"error: {first} and {third} both hold genome 'mpn', scaffold ") and \
        "two assemblies under one genome name" in err and "scored in batches that share no gene" in err, err


def test_cli_overlapping_batches_of_one_genome_are_refused_naming_a_shared_pair(real_fused, tmp_path):
    """Batches of one genome's pairs that overlap (a pair in two files, others in one) were refused saying the
    batches 'share no gene' and to score 'batches of consecutive pairs (sharing a gene)', which they were: the
    message names the shared pair now, and overlapping batches or two assemblies with Prodigal's gene ids, built
    over all files or appended."""
    from conftest import run_cli

    n = len(np.load(real_fused / "mpn.npy"))
    first, second = (_batch(real_fused, tmp_path, f"over{i}", rows) for i, rows in
                     enumerate((range(0, 300), range(290, n)), 1))
    pair = (tmp_path / "over2.ids.tsv").read_text().splitlines()
    pair = pair[2 if pair[0].startswith("#") else 1].split("\t")[0]
    code, _, err = run_cli(["retrieve", "build", first, second, "-o", tmp_path / "both"])
    assert code == 1 and err.count("\n") == 1 and not (tmp_path / "both").exists(), err
    assert err.startswith(f"error: {first} and {second} both hold genome 'mpn', scaffold ") and \
        f"10 of its pair ids in both (first '{pair}')" in err and "overlapping batches" in err and \
        "share no gene" not in err, err
    code, _, err = run_cli(["retrieve", "build", first, "-o", tmp_path / "index", "-q"])
    assert code == 0, err
    code, _, err = run_cli(["retrieve", "build", second, "-o", tmp_path / "index", "--append"])
    assert code == 1 and err.startswith(f"error: the index {tmp_path / 'index'} and {second} both hold") and \
        "overlapping batches" in err, err


def test_cli_appending_a_genome_already_indexed_is_refused_naming_it(real_fused, tmp_path):
    """A rerun of a Snakemake rule that appends a genome appended it again: refused, as before, but by its first
    clashing pair id, not naming the file or saying that the whole genome is there. Now one line names both, and
    the index is left as it was."""
    from conftest import run_cli

    mpn = real_fused / "mpn.npy"
    code, _, err = run_cli(["retrieve", "build", real_fused / "mg.npy", mpn, "-o", tmp_path / "index", "-q"])
    assert code == 0, err
    before = {f.name: f.read_bytes() for f in (tmp_path / "index").iterdir()}
    code, out, err = run_cli(["retrieve", "build", mpn, "-o", tmp_path / "index", "--append"])
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert err.startswith(f"error: {mpn}: genome 'mpn' is already in the index {tmp_path / 'index'} (all its pair ids)"), err
    assert {f.name: f.read_bytes() for f in (tmp_path / "index").iterdir()} == before


def test_cli_append_waits_for_another_append_to_the_same_index(real_fused, tmp_path):
    """Two `retrieve build --append` runs to one index at once (a Snakemake rule appending each sample, -j 2) each
    read the old index, and the later write dropped the other run's genome, both exiting 0. An append now holds a
    lock on the index's manifest from reading to writing: here a run waits while another process holds it (naming
    it), then reads what the other wrote (its genome included) and adds its own."""
    import os
    import subprocess
    import sys
    import time

    from conftest import ROOT, run_cli

    index = tmp_path / "index"
    code, _, err = run_cli(["retrieve", "build", real_fused / "mg.npy", "-o", index, "-q"])
    assert code == 0, err
    log = tmp_path / "waiting.log"
    holder = subprocess.Popen([sys.executable, "-c", _HOLD_LOCK, index / "manifest.json"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True, start_new_session=True)  # another run's append
    proc = None
    with open(log, "wb") as stderr:
        try:
            assert holder.stdout.readline() == "locked\n"
            proc = subprocess.Popen([sys.executable, "-m", "microfuse_cli", "retrieve", "build", real_fused / "mj.npy",
                                     "-o", index, "--append"], stderr=stderr, stdout=subprocess.DEVNULL, cwd=tmp_path,
                                    env=dict(os.environ, PYTHONPATH=str(ROOT)), start_new_session=True)
            deadline = time.monotonic() + 120
            while "waiting for another run" not in log.read_text() and proc.poll() is None \
                    and time.monotonic() < deadline:
                time.sleep(0.1)
            assert proc.poll() is None, log.read_text()  # it wrote the index while another run was updating it
            assert (f"info: {index}: waiting for another run that is updating it (the lock on {index / 'manifest.json'} "
                    f"is held by pid {holder.pid})\n") in log.read_text()
            other = PairIndex.load(index, device="cpu")  # the other run's append, written while this one waits
            vectors, ids = read_vectors(real_fused / "mpn.npy")
            other.append(vectors, ids)
            other.save(index)
        finally:
            holder.stdin.close()  # lets go of the lock
            _ended(holder)
            code = _ended(proc)
    assert code == 0, log.read_text()
    genomes = [line.split("\t")[2] for line in (index / "pairs.tsv").read_text().splitlines()[2:]]
    assert list(dict.fromkeys(genomes)) == ["mg", "mpn", "mj"]


#: A process holding an flock on argv[1] until its stdin ends ("locked" once it holds it).
_HOLD_LOCK = ("import fcntl, sys\nwith open(sys.argv[1], 'rb') as held:\n    fcntl.flock(held, fcntl.LOCK_EX)\n"
              "    print('locked', flush=True)\n    sys.stdin.readline()\n")


def _ended(proc, timeout: float = 120) -> int | None:
    """The exit code of ``proc`` (None: never started) once it ends; one still running after ``timeout`` seconds is
    killed, its children too (it was started in a session of its own), and fails the test: no test hangs."""
    import signal
    import subprocess

    if proc is None:
        return None
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        pytest.fail(f"still running after {timeout} s: {proc.args}")


def _run_to_the_end(args, cwd, timeout: float = 120) -> tuple[int, str]:
    """Run ``args`` (stdin closed) to its end: (exit code, stderr). One that is still running after ``timeout``
    seconds (an append waiting for its own parent's lock, forever) is killed, its children too, and fails the test."""
    import os
    import signal
    import subprocess

    from conftest import ROOT

    proc = subprocess.Popen([str(arg) for arg in args], cwd=cwd, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, start_new_session=True,
                            env=dict(os.environ, PYTHONPATH=str(ROOT)))
    try:
        _, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        _, err = proc.communicate()
        pytest.fail(f"still running after {timeout} s: {args}\n{err}")
    return proc.returncode, err


APPEND_UNDER_FLOCK = {  # the user's lock on INDEX/manifest.json, then the append, as {} + the command
    "flock": ["flock", "{}"],
    "flock-close": ["flock", "--close", "{}", "sh", "-c", '"$@"; exit $?', "sh"],  # its holder a grandparent
    "exec-9": ["bash", "-c", 'exec 9<"$1" && flock 9 && shift && exec "$@"', "bash", "{}"],  # held by the run itself
}


@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="a parent's lock is told by Linux's /proc")
@pytest.mark.parametrize("wrapper", APPEND_UNDER_FLOCK.values(), ids=APPEND_UNDER_FLOCK.keys())
def test_cli_append_wrapped_in_flock_of_its_manifest_goes_on(real_fused, tmp_path, wrapper):
    """`flock INDEX/manifest.json microfuse retrieve build ... --append` (a cluster habit, which README warned of)
    waited for itself forever: the append locks that file too, and the parent holding it lets go only when the
    append ends. The append now finds the lock held by a parent (or by a descriptor passed down to itself, as a
    shell's `exec 9<FILE; flock 9` leaves it) and goes on under it: that lock keeps every other update out."""
    import sys

    from conftest import run_cli

    index = tmp_path / "index"
    code, _, err = run_cli(["retrieve", "build", real_fused / "mg.npy", "-o", index, "-q"])
    assert code == 0, err
    append = [sys.executable, "-m", "microfuse_cli", "retrieve", "build", real_fused / "mj.npy", "-o", index, "--append"]
    code, err = _run_to_the_end([index / "manifest.json" if arg == "{}" else arg for arg in wrapper] + append, tmp_path)
    assert code == 0 and "waiting" not in err, err
    genomes = [line.split("\t")[2] for line in (index / "pairs.tsv").read_text().splitlines()[2:]]
    assert list(dict.fromkeys(genomes)) == ["mg", "mj"]


#: An update of argv[1] (an index) under way, holding what `retrieve build --append` holds: it adds argv[2]'s vectors
#: once it is in, and writes them back when its stdin ends ("in" once it is in).
_UPDATE_UNDER_WAY = ("import sys\nfrom microfuse_cli.io.outputs import updating\nfrom microfuse_cli.retrieve import "
                     "PairIndex, read_vectors\nwith updating(sys.argv[1], 'manifest.json'):\n"
                     "    index = PairIndex.load(sys.argv[1], device='cpu')\n    print('in', flush=True)\n"
                     "    sys.stdin.readline()\n    index.append(*read_vectors(sys.argv[2]))\n"
                     "    index.save(sys.argv[1])\n")


@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="a parent's lock is told by Linux's /proc")
def test_cli_appends_under_one_flock_of_their_manifest_take_turns(real_fused, tmp_path):
    """`flock INDEX/manifest.json snakemake -j 2` (or `sh -c 'append A & append B & wait'`): both appends found the
    lock held by a parent and went on under it at once, each reading the old index, and the later write dropped the
    other's genome, both exiting 0 (before, both waited forever). Updates under one parent's lock now take turns:
    here the parent (this test) holds the lock, one child is updating, and another child's append waits for it, then
    adds to what it wrote."""
    import fcntl
    import subprocess
    import sys
    import time

    from conftest import ROOT, run_cli

    index = tmp_path / "index"
    code, _, err = run_cli(["retrieve", "build", real_fused / "mg.npy", "-o", index, "-q"])
    assert code == 0, err
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    log = tmp_path / "waiting.log"
    with open(index / "manifest.json", "rb") as held, open(log, "wb") as stderr:
        fcntl.flock(held, fcntl.LOCK_EX)  # the wrapper's lock: this test is the parent of both appends
        first = subprocess.Popen([sys.executable, "-c", _UPDATE_UNDER_WAY, index, real_fused / "mpn.npy"],
                                 stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env,
                                 start_new_session=True)
        proc = None
        try:
            assert first.stdout.readline() == "in\n"
            proc = subprocess.Popen([sys.executable, "-m", "microfuse_cli", "retrieve", "build", real_fused / "mj.npy",
                                     "-o", index, "--append"], stderr=stderr, stdout=subprocess.DEVNULL, cwd=tmp_path,
                                    env=env, start_new_session=True)
            deadline = time.monotonic() + 120
            while "waiting for another run" not in log.read_text() and proc.poll() is None \
                    and time.monotonic() < deadline:
                time.sleep(0.1)
            assert proc.poll() is None, log.read_text()  # it read the index while the other child was updating it
            assert f"info: {index}: waiting for another run that is updating it" in log.read_text()
            first.stdin.close()  # the first child writes its genome back, and ends
            assert _ended(first) == 0
        finally:
            first.stdin.close()
            _ended(first)
            code = _ended(proc)
    assert code == 0, log.read_text()
    genomes = [line.split("\t")[2] for line in (index / "pairs.tsv").read_text().splitlines()[2:]]
    assert list(dict.fromkeys(genomes)) == ["mg", "mpn", "mj"]


@pytest.mark.skipif(not os.path.exists("/proc/locks"), reason="a parent's lock is told by Linux's /proc")
def test_cli_append_wrapped_in_a_shared_flock_of_its_manifest_is_refused(real_fused, tmp_path):
    """`flock -s INDEX/manifest.json microfuse retrieve build ... --append` waited for itself forever too, and a
    shared lock keeps out none of the other runs wrapped alike (they would lose one another's genomes): refused in one
    line, naming the lock and its holder, the index untouched."""
    import sys

    from conftest import run_cli

    index = tmp_path / "index"
    code, _, err = run_cli(["retrieve", "build", real_fused / "mg.npy", "-o", index, "-q"])
    assert code == 0, err
    before = {f.name: f.read_bytes() for f in index.iterdir()}
    code, err = _run_to_the_end(["flock", "--shared", index / "manifest.json", sys.executable, "-m", "microfuse_cli",
                                 "retrieve", "build", real_fused / "mj.npy", "-o", index, "--append"], tmp_path)
    assert code == 2 and err.count("\n") == 1, err
    assert re.fullmatch(rf"error: {re.escape(str(index / 'manifest.json'))}: locked shared \(flock -s\) by pid \d+, "
                        rf"this run or one that started it: .*\n", err), err
    assert {f.name: f.read_bytes() for f in index.iterdir()} == before


def test_cli_vectors_from_stdin_or_an_ids_table_are_bad_usage(real_fused, tmp_path):
    """`retrieve build -` and `retrieve -` said 'no such file: -' (exit 1), as though a file were missing, and an
    ids table given for its vectors (a tab completion too far) said it lacked its own table 'X.ids.tsv.ids.tsv'.
    Both are bad usage now (exit 2), saying why and what to give; nothing is written."""
    from conftest import run_cli

    vectors = (real_fused / "mg.npy").read_bytes()
    code, _, err = run_cli(["retrieve", "build", real_fused / "mpn.npy", "-o", tmp_path / "index", "-q"])
    assert code == 0, err
    for args in (["retrieve", "build", "-", "-o", tmp_path / "new"], ["retrieve", "--index", tmp_path / "index", "-"]):
        code, out, err = run_cli(args, stdin=vectors)
        assert code == 2 and out == "" and "fused vectors cannot be read from stdin ('-')" in err, err
        assert "no such file" not in err, err
    table = real_fused / "mg.ids.tsv"
    for args in (["retrieve", "build", table, "-o", tmp_path / "new"], ["retrieve", "--index", tmp_path / "index", table]):
        code, out, err = run_cli(args)
        assert code == 2 and out == "" and err == (f"error: {table} is a pair-id table, not fused vectors: give its "
                                                   f"vectors, {real_fused / 'mg.npy'}\n"), err
    assert not (tmp_path / "new").exists()


def test_cli_append_warns_of_a_genome_indexed_under_another_name(real_fused, tmp_path):
    """`retrieve build --append` compared the new vectors only with each other: a genome appended again under
    another name (a rerun with another --genome-name) was indexed without a word, though each of its pairs' nearest
    neighbour is then its own copy; only a later search said so. The append now says it, as a build does, and names
    that merely collide (same scaffold and pair ids, other vectors) are not flagged."""
    from conftest import run_cli

    code, _, err = run_cli(["retrieve", "build", real_fused / "mpn.npy", real_fused / "mg.npy", "-o", tmp_path / "index",
                            "-q"])
    assert code == 0, err
    again = _renamed(real_fused, tmp_path, "again", "mpn_again")
    other = _renamed(real_fused, tmp_path, "other", "sample2", vectors=np.load(real_fused / "mpn.npy")[::-1])
    code, _, err = run_cli(["retrieve", "build", other, "-o", tmp_path / "index", "--append"])
    assert code == 0 and "same pairs" not in err, err
    code, _, err = run_cli(["retrieve", "build", again, "-o", tmp_path / "index", "--append"])
    assert code == 0 and err.count("hold the same pairs") == 1, err
    assert "warning: genomes 'mpn_again' and 'mpn' hold the same pairs with the same vectors" in err, err


@pytest.mark.parametrize("kind", KINDS)
def test_copies_of_indexed_genomes_are_found_from_the_stored_vectors(real_fused, kind):
    """PairIndex.copies reads the indexed vectors of the pairs named alike back from the index (an IVF index's
    direct map, made for it, is dropped again: the index saved afterwards is byte for byte the one before)."""
    import faiss

    mpn, mpn_ids = read_vectors(real_fused / "mpn.npy")
    mg, mg_ids = read_vectors(real_fused / "mg.npy")
    settings = {"ivf": {"nlist": 4}, "ivfpq": {"nlist": 4, "pq_m": 16}}.get(kind, {})
    index = PairIndex.build([mpn, mg], PairIds.stack([mpn_ids, mg_ids]), index=kind, device="cpu", **settings)
    before = faiss.serialize_index(index._cpu_index()).tobytes()
    renamed = PairIds(mpn_ids.pair_id, mpn_ids.scaffold, np.full(len(mpn_ids), "copy"))
    assert index.copies(mpn, renamed) == [("copy", "mpn")]
    assert index.copies(mpn[::-1], renamed) == []  # names alike, other vectors
    assert index.copies(mpn, mpn_ids) == []  # its own name: the pair ids clash (append refuses them)
    assert faiss.serialize_index(index._cpu_index()).tobytes() == before


def _isolates(first: int, n: int, rng, vectors=None):
    """``n`` Shovill + Prodigal isolates (genomes G<first>...): every one names its contigs contig00001... and its
    genes 1_1, 1_2... (Prodigal's IDs), so every pair's scaffold and pair id are those of every other isolate."""
    per = 40
    scaffold = np.tile(np.repeat(["contig00001", "contig00002"], per // 2), n)
    pair_id = np.tile([f"{s}_{i}|{s}_{i + 1}" for s in (1, 2) for i in range(1, per // 2 + 1)], n)
    genome = np.repeat([f"G{g:04d}" for g in range(first, first + n)], per)
    vectors = rng.standard_normal((n * per, 16)).astype(np.float32) if vectors is None else vectors
    return vectors, PairIds(pair_id, scaffold, genome)


def test_cli_append_without_locks_warns_once(real_fused, tmp_path, monkeypatch):
    """`retrieve build --append` on a file system without locks (flock: ENOLCK, some network file systems) updated the
    index unlocked, said only on -v, though two appends at once then lose one's genomes: one warning now, naming the
    index, and the append done."""
    import errno
    import fcntl
    import os

    from conftest import run_cli

    code, _, err = run_cli(["retrieve", "build", real_fused / "mpn.npy", "-o", tmp_path / "index", "-q"])
    assert code == 0, err

    def no_locks(descriptor, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    code, _, err = run_cli(["retrieve", "build", real_fused / "mg.npy", "-o", tmp_path / "index", "--append"])
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert code == 0 and warnings == [f"warning: {tmp_path / 'index'}: cannot be locked ({os.strerror(errno.ENOLCK)}); "
                                      "updating it without the lock (two runs updating it at once may lose one's "
                                      "additions)"], err
    assert "\tmg\t" in (tmp_path / "index" / "pairs.tsv").read_text()


@pytest.mark.parametrize("codes", [("--pq-nbits", "4"), ("--pq-nbits", "8", "--pq-m", "16")], ids=["fast-scan", "classic"])
def test_cli_unrefined_ivfpq_index_is_searched_and_appended_to(real_fused, tmp_path, codes):
    """An IVF-PQ index without re-ranking codes (`--refine none`, 4-bit fast-scan codes on CPU), read back from disk:
    FAISS' reconstruct of it crashed (segmentation fault, exit 139), so `retrieve` without queries, `retrieve
    evaluate` and an `--append` of a genome named like an indexed one's pairs died (FAISS read it without the
    pointer to its PQ that decoding follows: set on load now). The copy check compared a new vector with the
    decoded PQ code of its twin, far below similarity 0.999, so M. pneumoniae appended under a second name went
    unsaid (classic 8-bit codes too); it compares the decoded codes now, exactly."""
    import subprocess
    import sys

    def microfuse(*args):
        done = subprocess.run([sys.executable, "-m", "microfuse_cli", *map(str, args)], capture_output=True,
                              text=True, cwd=tmp_path)
        return done.returncode, done.stdout, done.stderr

    index = tmp_path / "index"
    code, _, err = microfuse("retrieve", "build", real_fused / "mpn.npy", real_fused / "mg.npy", "-o", index,
                             "--index-type", "ivfpq", "--refine", "none", *codes, "--nlist", "4", "-q")
    assert code == 0, err
    code, out, err = microfuse("retrieve", "--index", index, "--k", "2", "-q")
    n = len(np.load(real_fused / "mpn.npy")) + len(np.load(real_fused / "mg.npy"))
    assert code == 0 and len(out.splitlines()) == 1 + 2 * n, err
    again = _renamed(real_fused, tmp_path, "again", "mpn_again")
    other = _renamed(real_fused, tmp_path, "other", "sample2", vectors=np.load(real_fused / "mpn.npy")[::-1])
    code, _, err = microfuse("retrieve", "build", other, "-o", index, "--append")
    assert code == 0 and "same pairs" not in err, err  # names that merely collide, other vectors
    code, _, err = microfuse("retrieve", "build", again, "-o", index, "--append")
    assert code == 0 and err.count("genomes 'mpn_again' and 'mpn' hold the same pairs with the same vectors") == 1, err


@pytest.mark.parametrize("nlist, nbits", [(300, 4), (3, 4), (300, 8)])
def test_unrefined_ivfpq_read_from_disk_decodes_as_built(tmp_path, nlist, nbits):
    """An IVF-PQ index without re-ranking codes read back from disk: its stored vectors (search_all's queries) and
    the copy check (a genome appended under a second name) are FAISS' own decoding, as in the index that was built
    (FAISS 1.15 reads a fast-scan index without the pointer to its PQ its decoding follows: set on load); list
    numbers of two bytes (nlist > 256), classic 8-bit codes, after an append."""
    rng = np.random.default_rng(5)
    n, d = 2400, 32
    x = rng.standard_normal((n, d)).astype(np.float32)

    def ids(rows, genome):
        return PairIds(np.array([f"g{i}|g{i + 1}" for i in rows]), np.full(len(rows), "chr"), np.full(len(rows), genome))

    built = PairIndex.build(x[:2000], ids(range(2000), "A"), index="ivfpq", device="cpu", refine="none", nlist=nlist,
                            pq_nbits=nbits, pq_m=8)
    built.append(x[2000:], ids(range(2000, n), "B"))
    expected = built.search_all(3)
    built.save(tmp_path / "index")
    loaded = PairIndex.load(tmp_path / "index", device="cpu")
    found = loaded.search_all(3)
    assert np.array_equal(found.target, expected.target) and np.array_equal(found.similarity, expected.similarity)
    assert loaded.copies([x[:100]], ids(range(100), "A2")) == [("A2", "A")]
    assert loaded.copies([x[:100] + 0.2 * rng.standard_normal((100, d)).astype(np.float32)],
                         ids(range(100), "A2")) == []


def test_shared_scaffold_tells_plasmids_from_a_second_assembly_among_thousands_of_genomes():
    """shared_scaffold (refusing two assemblies under one genome name) on 2,000 genomes' chromosomes and their
    plasmids appended under the same names: one genome each, other scaffolds, so nothing shared; one plasmid table
    naming a chromosome of its genome is found, with the tables, genome and scaffold. (It scanned every table once
    per shared genome name, 15 s at 1e6 indexed pairs and 1,000 names; it sorts the rows once now. That speed is
    a benchmark's to measure, not a unit test's.)"""
    from microfuse_cli.retrieve import shared_scaffold

    def tables(genomes: int, rows: int = 200_000):
        per = rows // genomes
        chromosomes = PairIds(np.arange(rows), np.repeat([f"chr{g}" for g in range(genomes)], per),
                              np.repeat([f"G{g:04d}" for g in range(genomes)], per))
        plasmids = PairIds(np.arange(rows, rows + 5 * genomes), np.repeat([f"p{g}" for g in range(genomes)], 5),
                           np.repeat([f"G{g:04d}" for g in range(genomes)], 5))
        return [chromosomes, plasmids]

    assert shared_scaffold(tables(2000)) is None  # chromosome and plasmids: one genome, other scaffolds
    clash = tables(2000)
    clash[1] = PairIds(clash[1].pair_id, np.where(clash[1].genome == "G0042", "chr42", clash[1].scaffold),
                       clash[1].genome)
    assert shared_scaffold(clash) == (0, 1, "G0042", "chr42", False, ())


def test_shared_genome_among_thousands_of_genomes_reads_each_table_once():
    """shared_genome (--group-by genome's warning) on 2,000 genomes' chromosomes and their plasmids appended under the
    same names: the first name held by two tables is said; a name whose two tables share a scaffold (one genome's
    pairs scored in batches) is not. It scanned the first table once per shared name (12 s at 1e6 indexed pairs and
    1,000 names); each table is read once now (that speed is a benchmark's to measure)."""
    from microfuse_cli.retrieve import shared_genome

    genomes, per = 2000, 100
    names = np.repeat([f"G{g:04d}" for g in range(genomes)], per)
    chromosomes = PairIds(np.arange(genomes * per), np.repeat([f"chr{g}" for g in range(genomes)], per), names)
    plasmids = PairIds(np.arange(genomes * per, genomes * per + 5 * genomes),
                       np.repeat([f"p{g}" for g in range(genomes)], 5), np.repeat(names[::per], 5))
    assert shared_genome([chromosomes, plasmids]) == (0, 1, "G0000")
    batches = PairIds(plasmids.pair_id, np.repeat([f"chr{g}" for g in range(genomes)], 5), plasmids.genome)
    assert shared_genome([chromosomes, batches]) is None  # every genome's second table shares its chromosome
    some = PairIds(plasmids.pair_id, np.where(plasmids.genome < "G1500", batches.scaffold, plasmids.scaffold),
                   plasmids.genome)
    assert shared_genome([chromosomes, some]) == (0, 1, "G1500")


def test_shared_scaffold_takes_batches_linked_by_a_gene_and_refuses_isolates_sharing_pair_ids():
    """shared_scaffold on a scaffold in two tables: batches of one genome's consecutive pairs (they share the gene at
    their edge, no pair id) are one genome (None); Prodigal-named isolates (``contig00001_1``...) share pair ids even
    where one isolate has more genes, and locus tags of two Prokka runs share no gene: both refused, naming the
    tables, with the scaffold's pair ids that both hold (the CLI's message names them; it re-derived them)."""
    from microfuse_cli.retrieve import shared_scaffold

    def table(genes, prefix="g", genome="PROKKA_12012026.gff"):
        ids = [f"{prefix}_{i}|{prefix}_{i + 1}" for i in genes]
        return PairIds(np.array(ids), np.full(len(ids), "contig00001"), np.full(len(ids), genome))

    assert shared_scaffold([table(range(1, 50)), table(range(50, 90))]) is None
    assert shared_scaffold([table(range(1, 30)), table(range(60, 90)), table(range(30, 60))]) is None
    assert shared_scaffold([table(range(1, 30)), table(range(60, 90))]) == (0, 1, "PROKKA_12012026.gff",
                                                                             "contig00001", False, ())
    found = shared_scaffold([table(range(1, 50)), table(range(1, 60))])  # an isolate with more genes
    assert found[:2] == (0, 1) and found.in_both == tuple(sorted(f"g_{i}|g_{i + 1}" for i in range(1, 50)))
    assert shared_scaffold([table(range(1, 50), "AAAA"), table(range(1, 50), "BBBB")])[:2] == (0, 1)
    assert shared_scaffold([table(range(1, 50)), table(range(50, 90)), table(range(1, 50), "BBBB")])[:2] == (0, 2)


def test_copies_compares_few_pairs_when_every_isolate_names_its_pairs_alike(monkeypatch):
    """PairIndex.copies compared each new pair with every indexed pair of its scaffold and pair id: with Shovill's
    contig names and Prodigal's gene IDs that is every indexed isolate, new pairs x indexed genomes vectors read
    back (27 s and 1.8 GB appending 100 isolates to 200; Snakefile's chunks of 1,000 on 1,000: 4e9). Past a budget of
    comparisons a few pairs of each new genome now pick the indexed genomes it may copy: here 20 new isolates on 30
    read back a fraction of the 24,000 pairs (with a copy of G0003 and half of G0011 still found), the same answer
    as comparing all."""
    import contextlib

    from microfuse_cli.retrieve import index as index_module

    rng = np.random.default_rng(7)
    vectors, ids = _isolates(0, 30, rng)
    index = PairIndex.build(vectors, ids, index="flat", device="cpu")
    new, new_ids = _isolates(30, 20, rng)
    new[:40] = vectors[3 * 40 : 4 * 40]  # G0030 is G0003 under another name
    new[40:60] = vectors[11 * 40 : 11 * 40 + 20]  # G0031: half of G0011's pairs
    read = []
    stored = PairIndex._stored_rows

    @contextlib.contextmanager
    def counted(self):
        with stored(self) as reader:
            yield lambda rows: (read.append(len(rows)), reader(rows))[1]

    monkeypatch.setattr(PairIndex, "_stored_rows", counted)
    monkeypatch.setattr(index_module, "_COPY_MATCHES", 10**9, raising=False)
    everything = index.copies(new, new_ids)
    assert everything == [("G0030", "G0003"), ("G0031", "G0011")]
    read.clear()
    monkeypatch.setattr(index_module, "_COPY_MATCHES", 1000, raising=False)
    assert index.copies(new, new_ids) == everything
    assert sum(read) <= len(new) * 30 // 4, sum(read)  # compared all: 20 x 40 x 30


def test_cli_a_scaffold_name_of_another_genome_is_not_the_querys_own_scaffold(real_fused, tmp_path):
    """Assemblers name every assembly's contigs alike (Shovill's contig00001, MEGAHIT's k141_7). An index whose
    scaffold names were each indexed once grouped pairs by plain scaffold name, so a query from another genome on
    a scaffold of that name was taken to be on the indexed one: its pairs were left out as the query's 'own
    scaffold' (here every neighbour: 0 written, 'every indexed pair is in the query's own scaffold'). The query's
    genome decides now; the indexed genome's own queries still leave out their scaffold."""
    from conftest import run_cli

    mg_ids = (real_fused / "mg.ids.tsv").read_text().splitlines()
    scaffold = mg_ids[2].split("\t")[1]
    mpn_scaffold = (real_fused / "mpn.ids.tsv").read_text().splitlines()[2].split("\t")[1]
    sample = _renamed(real_fused, tmp_path, "sample", "sampleB", replace=[(f"\t{mpn_scaffold}\t", f"\t{scaffold}\t")])
    code, _, err = run_cli(["retrieve", "build", real_fused / "mg.npy", "-o", tmp_path / "index", "-q"])
    assert code == 0, err
    code, out, err = run_cli(["retrieve", "--index", tmp_path / "index", "--k", "2", sample])
    rows = [line.split("\t") for line in out.splitlines()[1:]]
    n = len(np.load(sample))
    assert code == 0 and len(rows) == 2 * n and "no neighbours" not in err, err
    assert {(r[4], r[5], r[-2], r[-1]) for r in rows} == {(scaffold, "mg", "sampleB", scaffold)}
    code, out, err = run_cli(["retrieve", "--index", tmp_path / "index", "--k", "2", real_fused / "mg.npy"])
    assert code == 0 and out.count("\n") == 1 and "no neighbours" in err, err  # its own scaffold: left out


def test_query_groups_qualify_a_scaffold_name_only_where_the_genome_differs():
    """PairIndex.query_groups: plain scaffold names where the index names each scaffold once and the query is of
    the indexed genome (integer names included), the genome-qualified name for another genome's namesake."""
    rng = np.random.default_rng(0)
    vectors = rng.standard_normal((6, 8)).astype(np.float32)
    index = PairIndex.build(vectors, PairIds(np.arange(6), np.array([1, 1, 1, 2, 2, 2]), np.zeros(6, int)),
                            device="cpu")
    queries = PairIds(np.arange(4), np.array([1, 2, 1, 3]), np.array([0, 0, 7, 7]))
    groups = index.query_groups(queries)
    assert [str(g) for g in groups.tolist()] == ["1", "2", "7\x1f1", "3"]
    result = index.search(vectors[:4], groups, 6)
    assert [sorted(r for r in row if r >= 0) for row in result.target.tolist()] == [
        [3, 4, 5], [0, 1, 2], [0, 1, 2, 3, 4, 5], [0, 1, 2, 3, 4, 5]]


@pytest.mark.parametrize("group_by", ["scaffold", "genome"])
def test_cli_queries_named_like_an_indexed_genome_they_are_not_are_warned_about(real_fused, tmp_path, group_by):
    """An isolate's vectors searched against an index holding another isolate under the same genome name (each
    annotated into Prokka's PROKKA_<date>.gff, with its own locus tags): the indexed namesake counts as the
    queries' own genome or scaffold and is left out of every neighbour list, without a word. One warning now says
    so; the indexed genome's own queries say nothing."""
    from conftest import run_cli

    name = "PROKKA_12012026.gff"
    iso1 = _renamed(real_fused, tmp_path, "iso1", name)
    iso2 = _renamed(real_fused, tmp_path, "iso2", name, replace=[("MPN_", "ISO2_")])
    code, _, err = run_cli(["retrieve", "build", iso1, real_fused / "mg.npy", "-o", tmp_path / "index", "--group-by",
                            group_by, "-q"])
    assert code == 0, err
    n = len(np.load(iso2))
    code, out, err = run_cli(["retrieve", "--index", tmp_path / "index", "--k", "1", iso2])
    assert code == 0 and {line.split("\t")[5] for line in out.splitlines()[1:]} == {"mg"}  # what it is about
    what = "name" if group_by == "genome" else "scaffold names"
    assert err.count("warning: ") == 1 and (f"warning: {n} of the {n} queries of genome '{name}' are not among the "
                                            f"indexed pairs of that name, yet share its {what}: another assembly") in err, err
    code, _, err = run_cli(["retrieve", "--index", tmp_path / "index", "--k", "1", iso1, real_fused / "mg.npy"])
    assert code == 0 and "warning" not in err, err


def test_cli_append_refuses_training_settings_it_would_ignore(real_fused, tmp_path):
    """`--append --train-sample N` or `--seed S` was accepted and ignored (the quantisers were trained at build),
    so a user who meant to retrain did not; they are refused (exit 2) where they differ from the build's, as the
    other build settings are, before any vectors are read. The build's own values, or none, still append."""
    from conftest import run_cli

    index = tmp_path / "index"
    code, _, err = run_cli(["retrieve", "build", real_fused / "mpn.npy", "-o", index, "--index-type", "ivf", "--nlist",
                            "4", "--train-sample", "300", "--seed", "2", "-q"])
    assert code == 0, err
    before = (index / "manifest.json").read_text()
    mg = real_fused / "mg.npy"
    for option, message in ((["--train-sample", "400"], "--train-sample 400 differs from the existing index's 300"),
                            (["--seed", "0"], "--seed 0 differs from the existing index's 2")):
        code, _, err = run_cli(["retrieve", "build", mg, "-o", index, "--append", *option])
        assert code == 2 and f"error: {message} (set at build)" in err, err
        assert (index / "manifest.json").read_text() == before
    code, _, err = run_cli(["retrieve", "build", mg, "-o", index, "--append", "--seed", "2", "--train-sample", "300",
                            "-q"])
    assert code == 0, err


def test_cli_append_takes_the_settings_its_build_took_where_the_index_has_none(real_fused, tmp_path):
    """A Snakemake rule that builds the first chunk and appends the rest with one command line (`--train-sample
    20000 --nlist 64`, then `--append`): a flat index (auto up to 1e6 pairs) took them at build (they train nothing
    there) and the append refused the same flags, '--train-sample 20000 differs from the existing index, which has
    none (set at build)', exit 2. Settings the index records none of are taken, as the build took them."""
    from conftest import run_cli

    flags = ["--train-sample", "20000", "--nlist", "64", "--k-factor", "4", "--seed", "1", "-q"]
    code, _, err = run_cli(["retrieve", "build", real_fused / "mpn.npy", "-o", tmp_path / "index", *flags])
    assert code == 0, err
    code, _, err = run_cli(["retrieve", "build", real_fused / "mg.npy", "-o", tmp_path / "index", "--append", *flags])
    assert code == 0 and err == "", err
    assert json.loads((tmp_path / "index" / "manifest.json").read_text())["count"] == \
        len(np.load(real_fused / "mpn.npy")) + len(np.load(real_fused / "mg.npy"))


def test_cli_copies_of_many_genomes_are_one_warning(real_fused, tmp_path):
    """Clonal isolates under their own names (20 of one outbreak, annotated alike) hold the same pairs with the
    same vectors: `retrieve build` warned once per pair of genomes it found (19 lines for 20). One line now names
    the first two and counts the others, and asks whether they are one assembly or clonal isolates."""
    from conftest import run_cli

    files = [_renamed(real_fused, tmp_path, f"c{i}", f"isolate{i}") for i in range(1, 5)]
    code, _, err = run_cli(["retrieve", "build", *files, real_fused / "mg.npy", "-o", tmp_path / "index"])
    assert code == 0 and err.count("hold the same pairs") == 1, err
    assert ("warning: genomes 'isolate1' and 'isolate2' hold the same pairs with the same vectors (one assembly under "
            "two names, or clonal isolates annotated alike?): each will find itself in the other, at similarity 1 "
            "(2 more genomes share such pairs)") in err, err


@pytest.fixture(scope="module")
def other_model(tmp_path_factory):
    """A second model of the default's width (128-d fused vectors), trained here for one epoch on M. genitalium,
    and its fused vectors of that genome: vectors of two models that only their identity tells apart."""
    from conftest import ROOT, run_cli

    from microfuse_cli.embed import ViewConfig, compute_embeddings
    from microfuse_cli.fusion import FusionConfig
    from microfuse_cli.genome import read_genome
    from microfuse_cli.pairs import adjacent_pairs
    from microfuse_cli.score import score_genome
    from microfuse_cli.trained import TrainConfig, load_torch_model
    from microfuse_cli.training import train

    folder = tmp_path_factory.mktemp("other_model")
    gff, fna = ROOT / "examples/data/mgenitalium_g37.gff.gz", ROOT / "examples/data/mgenitalium_g37.fna.gz"
    genome = read_genome(gff, fna)
    scores = score_genome(genome)
    x_protein, x_context = compute_embeddings(genome, adjacent_pairs(genome),
                                              ViewConfig.parse("builtin", "builtin")).pair_views(scores.pairs)
    rows = np.arange(len(scores.pairs)) % 4 != 0
    model = train(x_protein, x_context, scores.calls, rows, ~rows, FusionConfig(hidden=128),
                  TrainConfig(max_epochs=1, batch_size=128))
    model.save(folder / "model")
    assert load_torch_model(folder / "model").identity == model.identity  # one identity before saving and after loading
    code, _, err = run_cli(["score", gff, "--fasta", fna, "-m", folder / "model", "--fused", folder / "other.npy",
                            "--genome-name", "mg_other", "-o", folder / "other.tsv", "-q"])
    assert code == 0, err
    return folder


def _model_line(ids_path) -> str:
    return ids_path.read_text().split("\n", 1)[0]


def test_cli_vectors_of_another_model_are_refused_naming_both(real_fused, other_model, tmp_path):
    """Two models of one width: their vectors were indexed together and searched against each other without a
    word, giving meaningless neighbours. Now build, --append and search refuse them in one line that names both
    files and both models (short identities), and write nothing."""
    from conftest import run_cli

    from microfuse_cli.score import load_model

    default, other = load_model(None).identity, load_model(other_model / "model").identity
    assert default != other and np.load(other_model / "other.npy").shape[1] == np.load(real_fused / "mpn.npy").shape[1]
    import hashlib

    from microfuse_cli import __version__

    mpn_vectors = real_fused / "mpn.npy"  # its ids' first line: the model, and the vectors written with them
    assert _model_line(real_fused / "mpn.ids.tsv") == (
        f"#microfuse {__version__} model_id={default} vectors_sha256="
        f"{hashlib.sha256(mpn_vectors.read_bytes()).hexdigest()} vectors_shape={'x'.join(map(str, np.load(mpn_vectors).shape))}")
    mpn, mj, theirs = real_fused / "mpn.npy", real_fused / "mj.npy", other_model / "other.npy"
    code, out, err = run_cli(["retrieve", "build", mpn, mj, theirs, "-o", tmp_path / "idx", "-q"])
    assert code == 1 and out == "" and err == (f"error: {theirs}: vectors of model {other[:12]}, {mpn} of model "
                                               f"{default[:12]} (fused vectors of different models cannot be compared)\n")
    assert not (tmp_path / "idx").exists()
    code, _, err = run_cli(["retrieve", "build", mpn, mj, "-o", tmp_path / "idx", "-q"])
    assert code == 0 and err == "", err
    assert json.loads((tmp_path / "idx" / "manifest.json").read_text())["model_id"] == default
    before = {p.name: p.read_bytes() for p in (tmp_path / "idx").iterdir()}
    code, out, err = run_cli(["retrieve", "--index", tmp_path / "idx", real_fused / "mg.npy", theirs, "-q"])
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert err.startswith(f"error: {theirs}: vectors of model {other[:12]}, the index {tmp_path / 'idx'} of model "
                          f"{default[:12]}"), err
    code, _, err = run_cli(["retrieve", "build", theirs, "-o", tmp_path / "idx", "--append", "-q"])
    assert code == 1 and err.count("\n") == 1 and f"of model {other[:12]}" in err and default[:12] in err, err
    assert {p.name: p.read_bytes() for p in (tmp_path / "idx").iterdir()} == before


def test_library_refuses_vectors_of_another_model(real_fused, other_model):
    """The same checks without the CLI: read_vector_files names both files, PairIds of two models do not stack,
    and an index refuses queries or appended pairs of another model."""
    from microfuse_cli.retrieve import read_vector_files

    mpn, theirs = real_fused / "mpn.npy", other_model / "other.npy"
    with pytest.raises(DataError, match=f"^{re.escape(str(theirs))}: vectors of model .*, {re.escape(str(mpn))} of"):
        read_vector_files([mpn, theirs])
    (vectors, ids), (other_vectors, other_ids) = read_vector_files([mpn]) + read_vector_files([theirs])
    with pytest.raises(DataError, match="two models"):
        PairIds.stack([ids, other_ids])
    index = PairIndex.build(vectors, ids, index="flat", device="cpu")
    assert index.model_id == ids.model_id != other_ids.model_id
    with pytest.raises(DataError, match="query vectors: vectors of model"):
        index.search(other_vectors, index.query_groups(other_ids), 3, query_model=other_ids.model_id)
    with pytest.raises(DataError, match="the vectors to append: vectors of model"):
        index.append(other_vectors, other_ids)
    assert index.ntotal == len(ids)


def test_cli_vectors_without_a_model_identity_warn_once_and_search_as_before(real_fused, tmp_path):
    """Fused vectors from an older microfuse (no model line) or made with numpy: indexed and searched as before,
    with one warning that their model cannot be checked; the index records no model, and its neighbours are the
    same as those of the same vectors with their identity."""
    from conftest import run_cli

    for name in ("mpn", "mj"):
        np.save(tmp_path / f"{name}.npy", np.load(real_fused / f"{name}.npy"))
        text = (real_fused / f"{name}.ids.tsv").read_text()
        (tmp_path / f"{name}.ids.tsv").write_text(text.split("\n", 1)[1])  # as written before the model line
    mpn, mj = tmp_path / "mpn.npy", tmp_path / "mj.npy"
    code, _, err = run_cli(["retrieve", "build", mpn, real_fused / "mj.npy", "-o", tmp_path / "mixed", "-q"])
    assert code == 0 and err.count("warning:") == 1, err
    assert f"warning: {mpn}: no model identity recorded" in err and "cannot check" in err, err
    code, _, err = run_cli(["retrieve", "build", mpn, mj, "-o", tmp_path / "old", "-q"])
    assert code == 0 and err == f"warning: {mpn} (and 1 more): no model identity recorded (older microfuse, or " \
                                "vectors made by hand): cannot check that the vectors come from the same model\n", err
    assert json.loads((tmp_path / "old" / "manifest.json").read_text())["model_id"] is None
    code, _, err = run_cli(["retrieve", "build", real_fused / "mpn.npy", real_fused / "mj.npy", "-o", tmp_path / "new",
                            "-q"])
    assert code == 0 and err == "", err
    searches = {}
    for name in ("old", "new"):
        code, searches[name], err = run_cli(["retrieve", "--index", tmp_path / name, real_fused / "mg.npy", "-q"])
        assert code == 0, err
        warned = f"warning: the index {tmp_path / name}: no model identity recorded"
        assert (err.count("warning:"), warned in err) == ((1, True) if name == "old" else (0, False)), err
    assert searches["old"] == searches["new"] and searches["new"].count("\n") > 1000


def test_index_without_model_id_in_its_manifest_still_loads(saved):
    """An index folder written before manifests recorded the model loads as one of unknown model."""
    folder = saved
    manifest = json.loads((folder / "manifest.json").read_text())
    assert "model_id" in manifest and manifest["model_id"] is None  # synthetic ids: no model known
    del manifest["model_id"]
    (folder / "manifest.json").write_text(json.dumps(manifest))
    assert PairIndex.load(folder).model_id is None


def test_cli_target_probability_is_written_as_the_scores_write_it(real_fused, tmp_path):
    """A neighbour's probability reads as in its genome's scores TSV (6 decimals: 0.000000, 0.002714), so the two
    tables can be joined or compared as text; it was written '%.6g' ('0', '1e-06')."""
    from conftest import run_cli

    code, _, err = run_cli(["retrieve", "build", real_fused / "mg.npy", real_fused / "mj.npy", "-o", tmp_path / "idx",
                            "--group-by", "genome", "-q"])
    assert code == 0, err
    code, out, err = run_cli(["retrieve", "--index", tmp_path / "idx", "--k", "3", "-q"])
    assert code == 0, err
    scored = {}
    for name in ("mg", "mj"):
        lines = [line.split("\t") for line in (real_fused / f"{name}.tsv").read_text().splitlines()
                 if not line.startswith("#")]
        column = lines[0].index("probability")
        scored.update({(name, row[0]): row[column] for row in lines[1:]})
    header, *rows = [line.split("\t") for line in out.splitlines()]
    written = [(scored[row[header.index("target_genome")], row[1]], row[header.index("target_probability")])
               for row in rows]
    assert len(written) > 1000 and any(p == "0.000000" for p, _ in written)
    assert all(expected == got for expected, got in written)


def test_log_lines_name_outputs_as_given(tmp_path, monkeypatch):
    """embed logged its folder resolved (/home/.../emb) where every other command names an output as the user
    gave it; retrieve search said '12 neighbours written' and not where. Both now name the output as given."""
    from conftest import MG_G37, run_cli

    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["embed", f"{MG_G37}.gff.gz", "--fasta", f"{MG_G37}.fna.gz", "-o", "./out/emb"])
    assert code == 0, err
    assert " -> ./out/emb (protein " in err and str(tmp_path) not in err, err
    code, _, err = run_cli(["score", f"{MG_G37}.gff.gz", "--fasta", f"{MG_G37}.fna.gz", "-e", "out/emb", "--fused",
                            "mg.npy", "-o", "mg.tsv", "-q"])
    assert code == 0, err
    code, _, err = run_cli(["retrieve", "build", "mg.npy", "-o", "out/index"])
    assert code == 0 and err.rstrip().endswith(" -> out/index"), err
    for output, named in (("out/analogs.tsv", "out/analogs.tsv"), ("-", "stdout")):
        code, _, err = run_cli(["retrieve", "search", "--index", "out/index", "--k", "2", "-o", output])
        assert code == 0, err
        assert re.search(rf"^info: \d+ neighbours written to {re.escape(named)}$", err, re.M), err


def test_cli_tied_neighbours_at_the_cut_are_the_lower_rows(real_fused, tmp_path):
    """M. jannaschii indexed twice (under a second genome name, after the first): every pair of the copy ties
    exactly with its twin. Ties are ordered by target row (SearchResult), so a pair of the copy may be listed only
    right after its twin; at a cut between the two, the copy's was kept in 244 of 687 M. pneumoniae queries at k 3
    (FAISS returns tied candidates in no set order, and its list was cut at k before being ordered)."""
    from conftest import run_cli

    ids = (real_fused / "mj.ids.tsv").read_text()
    (tmp_path / "copy.ids.tsv").write_text(ids.replace("\tmj\t", "\tmj_copy\t"))
    np.save(tmp_path / "copy.npy", np.load(real_fused / "mj.npy"))
    files = [real_fused / "mg.npy", real_fused / "mj.npy", tmp_path / "copy.npy"]
    code, _, err = run_cli(["retrieve", "build", *files, "-o", tmp_path / "idx", "--group-by", "genome", "-q"])
    assert code == 0, err
    loaded = [read_vectors(path) for path in files]
    vectors = np.concatenate([v for v, _ in loaded]).astype(np.float64)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    row_of = {key: r for r, key in enumerate((g, p) for _, i in loaded for g, p in zip(i.genome.tolist(),
                                                                                      i.pair_id.tolist()))}
    first_copy, twins = len(loaded[0][0]) + len(loaded[1][0]), len(loaded[1][0])
    queries, query_ids = read_vectors(real_fused / "mpn.npy")
    queries = queries.astype(np.float64) / np.linalg.norm(queries, axis=1, keepdims=True)
    sims = queries @ vectors.T
    for k in (3, 4):
        code, out, err = run_cli(["retrieve", "--index", tmp_path / "idx", "--k", str(k), real_fused / "mpn.npy",
                                  "-q"])
        assert code == 0, err
        header, *rows = [line.split("\t") for line in out.splitlines()]
        got: dict[str, list[int]] = {}
        for r in rows:
            row = dict(zip(header, r))
            got.setdefault(row["query"], []).append(row_of[row["target_genome"], row["target"]])
        assert sorted(got) == sorted(query_ids.pair_id.tolist())
        lone = [name for name, targets in got.items() if _lone_twin(targets, first_copy, twins)]
        assert not lone, f"k {k}: {len(lone)} queries list a copy's pair without its twin just before it: {lone[:3]}"
        for q, name in enumerate(query_ids.pair_id.tolist()):  # and they are the top k, up to float32 near-ties
            assert (sims[q, got[name]] >= np.sort(sims[q])[-k] - 1e-6).all()
    index = PairIndex.load(tmp_path / "idx")  # the selector route too (HNSW, and groups too large to over-fetch)
    for k in (3, 5):
        found = index.search(read_vectors(real_fused / "mpn.npy")[0], index.query_groups(query_ids), k,
                             exclusion="selector").target
        lone = [q for q, targets in enumerate(found.tolist()) if _lone_twin(targets, first_copy, twins)]
        assert not lone, f"selector, k {k}: {len(lone)} queries list a copy's pair without its twin before it"


def _lone_twin(targets: list[int], first_copy: int, twins: int) -> bool:
    """Whether a target row of the copy (rows from ``first_copy`` on) is listed without its twin (``twins`` rows
    before it) right before it."""
    return any(t >= first_copy and targets[:j][-1:] != [t - twins] for j, t in enumerate(targets))


def test_cli_append_refuses_another_grouping_than_the_index(real_fused, tmp_path):
    """`build --append --group-by scaffold` to an index grouped by genome kept the genome grouping and said nothing
    (exit 0), as --index of another kind is refused: now a usage error naming both, and the index is unchanged;
    the same grouping, or none given, appends."""
    from conftest import run_cli

    code, _, err = run_cli(["retrieve", "build", real_fused / "mg.npy", "-o", tmp_path / "idx", "--group-by", "genome",
                            "-q"])
    assert code == 0, err
    before = (tmp_path / "idx" / "manifest.json").read_bytes()
    code, _, err = run_cli(["retrieve", "build", real_fused / "mj.npy", "-o", tmp_path / "idx", "--append",
                            "--group-by", "scaffold", "-q"])
    assert code == 2 and err.count("\n") == 1, err
    assert "--group-by scaffold differs from the existing index's genome" in err, err
    assert (tmp_path / "idx" / "manifest.json").read_bytes() == before
    for given in (["--group-by", "genome"], []):
        code, _, err = run_cli(["retrieve", "build", real_fused / ("mj.npy" if given else "mpn.npy"), "-o",
                                tmp_path / "idx", "--append", *given, "-q"])
        assert code == 0, err
    manifest = json.loads((tmp_path / "idx" / "manifest.json").read_text())
    assert manifest["group_by"] == "genome" and manifest["count"] == sum(
        len(read_vectors(real_fused / f"{name}.npy")[0]) for name in ("mg", "mj", "mpn"))


def test_build_names_the_index_kind_index_type_and_still_takes_its_old_name(tmp_path):
    """`--index` was the index kind in `build` and the index folder in `search` and `evaluate`; build calls it
    --index-type now, and the old name still builds the same index (scripts keep working)."""
    from conftest import PANEL, run_cli

    mg = PANEL / "GCF_000027325.1_ASM2732v1_genomic"
    code, _, err = run_cli(["score", f"{mg}.gff.gz", "--fasta", f"{mg}.fna.gz", "--fused", tmp_path / "mg.npy",
                            "-o", tmp_path / "mg.tsv", "-q"])
    assert code == 0, err
    for option, name in (("--index-type", "new"), ("--index", "old")):
        code, _, err = run_cli(["retrieve", "build", tmp_path / "mg.npy", "-o", tmp_path / name, option, "hnsw",
                                "--group-by", "genome", "-q"])
        assert code == 0, err
        assert json.loads((tmp_path / name / "manifest.json").read_text())["index_type"] == "hnsw"
    assert (tmp_path / "new" / "index.faiss").read_bytes() == (tmp_path / "old" / "index.faiss").read_bytes()
    code, _, err = run_cli(["retrieve", "build", tmp_path / "mg.npy", "-o", tmp_path / "new", "--append",
                            "--index-type", "flat"])
    assert code == 2 and "--index-type flat differs from the existing hnsw index" in err, err


@pytest.fixture(scope="module")
def mg_two_routes(tmp_path_factory):
    """M. genitalium's fused vectors made two ways: `score GENOME --fused` and, from `microfuse embed`'s folder of the
    genome, `score PAIRS.tsv --embeddings EMB --fused`, the table from `microfuse pairs` (the README's route, which
    embeds the pairs table itself, is test_cli_readme_pairs_route_names_the_genome_as_score_of_the_genome)."""
    from conftest import MG_G37, run_cli

    folder = tmp_path_factory.mktemp("routes")
    gff, fna = f"{MG_G37}.gff.gz", f"{MG_G37}.fna.gz"
    for args in (["embed", f"{gff},{fna}", "-o", folder / "emb"], ["pairs", gff, "--fasta", fna, "-o", folder / "pairs.tsv"],
                 ["score", gff, "--fasta", fna, "--fused", folder / "direct.npy", "-o", folder / "direct.tsv"],
                 ["score", folder / "pairs.tsv", "-e", folder / "emb", "--fused", folder / "embedded.npy",
                  "-o", folder / "embedded.tsv"]):
        code, _, err = run_cli([*args, "-q"])
        assert code == 0, err
    return folder


def _self_hits(out: str) -> list[list[str]]:
    """Rows of a search TSV whose neighbour is the query's own pair (same id and scaffold) at similarity 1."""
    rows = [line.split("\t") for line in out.splitlines()[1:]]
    return [r for r in rows if r[0] == r[1] and r[4] == r[-1] and float(r[3]) > 0.9999]


def test_cli_one_genome_has_one_name_from_score_and_from_embed(mg_two_routes, real_fused, tmp_path):
    """`score PAIRS.tsv --embeddings EMB --fused` named the genome after the pairs table ('pairs.tsv', or 'stdin' when
    piped) while `score GENOME --fused`, `embed` (manifest.json) and `reference build` name it after the genome file:
    an index of one route's vectors grouped by genome, searched with the other's, gave every M. genitalium query its
    own pair at similarity 1 as first neighbour, since the exclusion of the query's own genome goes by name. The
    genome is now named as its embedding folder records it, in both directions."""
    from conftest import MG_G37, run_cli

    name = f"{MG_G37.name}.gff.gz"
    assert json.loads((mg_two_routes / "emb" / "manifest.json").read_text())["genome"] == name
    direct, embedded = mg_two_routes / "direct.npy", mg_two_routes / "embedded.npy"
    for npy in (direct, embedded):
        assert {r.split("\t")[2] for r in (mg_two_routes / f"{npy.stem}.ids.tsv").read_text().splitlines()[2:]} == {name}
    pairs = (mg_two_routes / "pairs.tsv").read_bytes()
    code, _, err = run_cli(["score", "-", "-e", mg_two_routes / "emb", "--fused", tmp_path / "piped.npy", "-o",
                            tmp_path / "piped.tsv", "-q"], stdin=pairs)
    assert code == 0, err
    assert (tmp_path / "piped.ids.tsv").read_text() == (mg_two_routes / "embedded.ids.tsv").read_text()
    for indexed, queries in ((embedded, direct), (direct, embedded)):
        index = tmp_path / f"by_{indexed.stem}"
        code, _, err = run_cli(["retrieve", "build", indexed, real_fused / "mpn.npy", "-o", index, "--group-by",
                                "genome", "-q"])
        assert code == 0, err
        code, out, err = run_cli(["retrieve", "--index", index, "--k", "3", queries])
        assert code == 0 and "found itself" not in err, err
        rows = [line.split("\t") for line in out.splitlines()[1:]]
        assert len(rows) == 3 * 475 and not _self_hits(out)
        assert {r[5] for r in rows} == {"mpn"}  # every neighbour from the other genome


def test_cli_readme_pairs_route_names_the_genome_as_score_of_the_genome(mg_two_routes, tmp_path):
    """The README's route, `pairs g.gff --fasta g.fna --proteins p.faa > pairs.tsv; embed pairs.tsv --proteins p.faa
    --fasta g.fna -o emb; score pairs.tsv --embeddings emb --fused F`, named the genome 'pairs.tsv' (embed's
    manifest.json and so F.ids.tsv) where `score g.gff --fused` names it 'g.gff.gz', so retrieval did not leave a
    query's own genome out; and its scores said `#genes source=pairs_table`. The table now records both, and the
    route's scores and ids are those of `score g.gff` itself. A table without its '#' lines (an older one) is named
    and described as before: after the embedding folder (its manifest), `source=pairs_table`."""
    from conftest import MG_G37, run_cli

    gff, fna = f"{MG_G37}.gff.gz", f"{MG_G37}.fna.gz"
    code, pairs, err = run_cli(["pairs", gff, "--fasta", fna, "--proteins", tmp_path / "p.faa", "-q"])
    assert code == 0, err
    (tmp_path / "pairs.tsv").write_text(pairs)
    code, _, err = run_cli(["embed", tmp_path / "pairs.tsv", "--proteins", tmp_path / "p.faa", "--fasta", fna, "-o",
                            tmp_path / "emb", "-q"])
    assert code == 0, err
    name = f"{MG_G37.name}.gff.gz"
    assert json.loads((tmp_path / "emb" / "manifest.json").read_text())["genome"] == name
    code, _, err = run_cli(["score", tmp_path / "pairs.tsv", "--embeddings", tmp_path / "emb", "--fused",
                            tmp_path / "route.npy", "-o", tmp_path / "route.tsv", "-q"])
    assert code == 0, err
    assert (tmp_path / "route.ids.tsv").read_text() == (mg_two_routes / "direct.ids.tsv").read_text()
    scores, direct = (tmp_path / "route.tsv").read_text(), (mg_two_routes / "direct.tsv").read_text()
    assert scores.splitlines()[1] == "#genes source=annotation genetic_code=4" == direct.splitlines()[1]
    assert scores == direct
    # an older table (no '#' lines), embedded as it was: named after the table, its genes not described
    (tmp_path / "old.tsv").write_text("".join(line for line in pairs.splitlines(True) if not line.startswith("#")))
    code, _, err = run_cli(["embed", tmp_path / "old.tsv", "--proteins", tmp_path / "p.faa", "--fasta", fna, "-o",
                            tmp_path / "old_emb", "-q"])
    assert code == 0, err
    assert json.loads((tmp_path / "old_emb" / "manifest.json").read_text())["genome"] == "old.tsv"
    code, out, err = run_cli(["score", tmp_path / "old.tsv", "--embeddings", tmp_path / "old_emb", "--fused",
                              tmp_path / "old.npy", "-q"])
    assert code == 0, err
    assert out.splitlines()[1] == "#genes source=pairs_table" and out.splitlines()[3:] == scores.splitlines()[3:]
    assert {r.split("\t")[2] for r in (tmp_path / "old.ids.tsv").read_text().splitlines()[2:]} == {"old.tsv"}
    # the table's own line comes first: the new table scored with the older folder is named as the genome
    code, _, err = run_cli(["score", tmp_path / "pairs.tsv", "--embeddings", tmp_path / "old_emb", "--fused",
                            tmp_path / "mixed.npy", "-q"])
    assert code == 0, err
    assert (tmp_path / "mixed.ids.tsv").read_text() == (mg_two_routes / "direct.ids.tsv").read_text()


def test_cli_table_of_piped_genome_is_named_as_its_embedding_folder_says(mg_two_routes, tmp_path):
    """`zcat g.gff.gz | microfuse pairs -` writes 'genome=stdin', which names no genome: `score PAIRS.tsv -e EMB`,
    EMB from `embed g.gff.gz`, named the genome 'stdin' by the table's line, where before that line (and `score
    g.gff --fused`) it was the folder's 'g.gff.gz', so retrieval no longer left the query's own genome out. A
    table's 'stdin' comes after the folder's name."""
    import gzip

    from conftest import MG_G37, run_cli

    code, out, err = run_cli(["pairs", "-", "--fasta", f"{MG_G37}.fna.gz", "-q"],
                             stdin=gzip.decompress(open(f"{MG_G37}.gff.gz", "rb").read()))
    assert code == 0 and out.startswith("#microfuse ") and " pairs genome=stdin\n" in out, err
    (tmp_path / "piped.tsv").write_text(out)
    code, _, err = run_cli(["score", tmp_path / "piped.tsv", "-e", mg_two_routes / "emb", "--fused",
                            tmp_path / "piped.npy", "-o", tmp_path / "piped.scores.tsv", "-q"])
    assert code == 0, err
    assert (tmp_path / "piped.ids.tsv").read_text() == (mg_two_routes / "direct.ids.tsv").read_text()


def test_cli_search_and_evaluate_warn_of_queries_that_find_themselves(mg_two_routes, real_fused, tmp_path):
    """An index made before genomes had one name (M. genitalium's vectors under 'pairs.tsv', as the pairs route named
    them) still loads and searches; queries of that genome under its file name then find themselves at similarity 1,
    which the search wrote without a word. Now one warning names both genomes (search, and evaluate, whose precision
    such copies inflate); a clean search, and names that merely collide (other vectors), say nothing."""
    from conftest import MPN, MPN_FNA, MPN_GFF, run_cli

    ids = (mg_two_routes / "embedded.ids.tsv").read_text()
    name = ids.splitlines()[2].split("\t")[2]
    (tmp_path / "old.ids.tsv").write_text(ids.replace(f"\t{name}\t", "\tpairs.tsv\t"))
    (tmp_path / "old.npy").write_bytes((mg_two_routes / "embedded.npy").read_bytes())
    code, _, err = run_cli(["retrieve", "build", tmp_path / "old.npy", real_fused / "mpn.npy", "-o", tmp_path / "old",
                            "--group-by", "genome", "-q"])
    assert code == 0, err
    code, out, err = run_cli(["retrieve", "--index", tmp_path / "old", "--k", "2", mg_two_routes / "direct.npy"])
    assert code == 0 and len(_self_hits(out)) == 475  # what the warning is about: old names are kept as they were
    assert err.count(f"warning: genome '{name}' found itself in the index as genome 'pairs.tsv' (475 of its 475 "
                     "queries") == 1, err
    np.save(tmp_path / "other.npy", np.roll(np.load(mg_two_routes / "direct.npy"), 1, axis=0))  # same names, other vectors
    (tmp_path / "other.ids.tsv").write_text(_edited_by_hand((mg_two_routes / "direct.ids.tsv").read_text()))
    code, out, err = run_cli(["retrieve", "--index", tmp_path / "old", "--k", "2", tmp_path / "other.npy"])
    assert code == 0 and "found itself" not in err and not _self_hits(out), err
    # M. pneumoniae labelled by its known operons, appended under another name: evaluate's every query finds itself
    code, _, err = run_cli(["score", MPN_GFF, "--fasta", MPN_FNA, "--operons", MPN / "odb4_known_operons_mpneumoniae.tsv",
                            "--fused", tmp_path / "mpn.npy", "-o", tmp_path / "mpn.tsv", "-q"])
    assert code == 0, err
    code, _, err = run_cli(["retrieve", "build", tmp_path / "mpn.npy", real_fused / "mg.npy", "-o", tmp_path / "two",
                            "-q"])
    assert code == 0, err
    code, _, err = run_cli(["retrieve", "evaluate", "--index", tmp_path / "two"])
    assert code == 0 and "found itself" not in err, err
    mpn_ids = (tmp_path / "mpn.ids.tsv").read_text()
    (tmp_path / "again.ids.tsv").write_text(mpn_ids.replace(f"\t{MPN_GFF.name}\t", "\tmpn.gff.gz\t"))
    (tmp_path / "again.npy").write_bytes((tmp_path / "mpn.npy").read_bytes())
    code, _, err = run_cli(["retrieve", "build", tmp_path / "again.npy", "-o", tmp_path / "two", "--append", "-q"])
    assert code == 0, err
    code, _, err = run_cli(["retrieve", "evaluate", "--index", tmp_path / "two"])
    assert code == 0 and err.count("found itself in the index") == 1 and "more such" not in err, err  # both ways: one


def test_found_themselves_reads_a_result_a_block_of_queries_at_a_time():
    """The check runs after every search: it gathered the names of every neighbour at similarity ~1 at once (~90
    bytes each: 1.1 GB for 1e6 queries x 10 neighbours, all close, as many strains of one species put them). Block by
    block it holds a fraction of the result; its answer is the same (each query's neighbour here is another pair)."""
    import tracemalloc
    from types import SimpleNamespace

    from microfuse_cli.retrieve import found_themselves
    from microfuse_cli.retrieve.results import SearchResult

    n = 2_000_000
    ids = PairIds(np.arange(n).astype(str), np.full(n, "chr"), np.repeat(["a", "b"], n // 2))
    target = ((np.arange(n) + 1) % n)[:, None]
    result = SearchResult(target, np.ones((n, 1), np.float32), np.ones((n, 1), np.int32), ids.pair_id, ids.genome,
                          ids.scaffold)
    index = SimpleNamespace(ids=ids)  # what found_themselves reads of a PairIndex
    tracemalloc.start()
    try:
        assert found_themselves(result, index) == []
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < target.nbytes, peak  # 16 MB of targets: ~6 MB; it took 180 MB


def test_found_themselves_counts_each_query_genomes_own_pairs_under_other_names():
    """Which neighbours are a query's own pair under another genome name: same pair id and scaffold at similarity
    >= 0.9999 and another genome; not a name that merely collides (other vector), a near copy (0.99), another pair
    at similarity 1, nor the query's own genome; a genome is named when at least ``share`` of its queries do."""
    from types import SimpleNamespace

    from microfuse_cli.retrieve import found_themselves
    from microfuse_cli.retrieve.results import SearchResult

    names = ["p0", "p1", "p2"] * 3
    ids = PairIds(np.array(names, dtype=object), np.array(["s"] * 9, dtype=object),
                  np.array(["A"] * 3 + ["A2"] * 3 + ["B"] * 3, dtype=object))
    target = np.array([[3, 6], [4, 6], [6, 5], [0, 7], [2, -1], [-1, -1], [0, 1], [7, 0], [1, 2]])
    similarity = np.array([[1, .5], [1, .5], [.5, .99], [1, .5], [1, np.nan], [np.nan, np.nan], [.5, .5], [1, .5],
                           [.5, .5]], np.float32)
    result = SearchResult(target, similarity, (target >= 0).astype(np.int32), ids.pair_id, ids.genome, ids.scaffold)
    index = SimpleNamespace(ids=ids)
    assert found_themselves(result, index) == [("A", "A2", 2, 3)]
    assert found_themselves(result, index, share=1 / 3) == [("A", "A2", 2, 3), ("A2", "A", 1, 3)]
    assert found_themselves(SearchResult(target, similarity, target, ids.pair_id), index) == []  # genomes unknown


def test_cli_search_warns_of_a_copy_indexed_under_sq8_codes(real_fused, tmp_path):
    """IVF-PQ re-ranked with sq8 codes (the default beyond 256 dimensions) puts a query's identical copy at 0.999x,
    not 1: with the copy's threshold at 0.9999, many of M. pneumoniae's queries were not counted, and its copy
    under another name went unsaid though it was most queries' first neighbour. The one warning counts the other
    genomes so found, once a pair of names (a copy indexed both ways finds itself in each)."""
    from conftest import run_cli

    (tmp_path / "copy.ids.tsv").write_text((real_fused / "mpn.ids.tsv").read_text().replace("\tmpn\t", "\tmpn.gff\t"))
    (tmp_path / "copy.npy").write_bytes((real_fused / "mpn.npy").read_bytes())
    code, _, err = run_cli(["retrieve", "build", real_fused / "mg.npy", real_fused / "mj.npy", tmp_path / "copy.npy",
                            "-o", tmp_path / "sq8", "--index-type", "ivfpq", "--refine", "sq8", "--group-by", "genome",
                            "-q"])
    assert code == 0, err
    code, out, err = run_cli(["retrieve", "--index", tmp_path / "sq8", "--k", "3", real_fused / "mpn.npy"])
    rows = [line.split("\t") for line in out.splitlines()[1:]]
    first = [r for r in rows if r[2] == "1" and r[0] == r[1] and r[4] == r[-1]]
    n = len({r[0] for r in rows})
    assert code == 0 and len(first) > n / 2, (len(first), n)  # the copy is most queries' first neighbour
    # ... at similarity 0.999x: a threshold of 0.9999 missed many (28% with the default's fused vectors since the
    # twenty-second landing, over half with the earlier default's)
    assert sum(float(r[3]) < 0.9999 for r in first) > len(first) / 5
    assert err.count("warning: genome 'mpn' found itself in the index as genome 'mpn.gff'") == 1, err
    assert "more such" not in err, err
    # queries of two genomes with copies under other names: one warning, which counts the other
    (tmp_path / "mg.ids.tsv").write_text((real_fused / "mg.ids.tsv").read_text().replace("\tmg\t", "\tmg.gff\t"))
    (tmp_path / "mg.npy").write_bytes((real_fused / "mg.npy").read_bytes())
    code, _, err = run_cli(["retrieve", "--index", tmp_path / "sq8", "--k", "3", real_fused / "mpn.npy",
                            tmp_path / "mg.npy", "-o", tmp_path / "two.tsv"])
    assert code == 0 and err.count("found itself in the index") == 1, err
    assert "warning: genome 'mg.gff' found itself in the index as genome 'mg' (" in err, err
    assert "(1 more such pair of names)" in err, err


@pytest.mark.parametrize("kind", ["ivf", "ivfpq"])
def test_an_index_trained_for_the_gpu_is_the_one_trained_on_the_cpu(data, tmp_path, monkeypatch, kind):
    """IVF training for --device cuda cloned the untrained index to the GPU and trained the copy there; FAISS's GPU
    copy of an IVF index keeps none of the CPU index's clustering settings (GpuIndexIVF::copyFrom leaves ``cp``), so
    the seed and iterations microfuse sets were lost and a GPU-built index was another index than the CPU's (not
    seeded). It trains the CPU index now, with only its k-means assignment step on the GPU. No GPU here: FAISS's GPU
    calls are played by CPU ones that copy an index as the GPU copy does, without its clustering settings."""
    import faiss

    def to_gpu(resources, device, index, options=None):
        copy = faiss.clone_index(index)
        if isinstance(copy, faiss.IndexIVF):
            copy.cp = faiss.ClusteringParameters()  # FAISS's defaults, as a GpuIndexIVF starts with
        return copy

    vec, ids = data
    settings = dict(index=kind, nlist=8, seed=3, **({"pq_m": 4, "pq_nbits": 8} if kind == "ivfpq" else {}))
    PairIndex.build(vec, ids, device="cpu", **settings).save(tmp_path / "cpu")
    monkeypatch.setattr(faiss, "get_num_gpus", lambda: 1)
    monkeypatch.setattr(faiss, "StandardGpuResources", lambda: object())
    monkeypatch.setattr(faiss, "index_cpu_to_gpu", to_gpu)
    monkeypatch.setattr(faiss, "index_gpu_to_cpu", faiss.clone_index)
    built = PairIndex.build(vec, ids, device="cuda", **settings)
    assert built.device == "cuda"
    built.save(tmp_path / "gpu")
    assert (tmp_path / "gpu" / "index.faiss").read_bytes() == (tmp_path / "cpu" / "index.faiss").read_bytes()


def test_cli_search_says_which_effort_settings_its_index_has_no_use_for(real_fused, tmp_path):
    """`retrieve --nprobe 64` on the exact (flat) index `build` makes up to 1e6 pairs, or --ef-search on an IVF one:
    FAISS ignores them, and search did so without a word, so a user tuning recall saw no change and no reason. One
    warning names them; settings the index uses, and the neighbours, are as without them."""
    from conftest import run_cli

    files = [real_fused / f"{name}.npy" for name in ("mpn", "mg")]
    for kind, more in (("flat", []), ("ivf", ["--nlist", "4"])):  # flat: what auto builds for these 1,162 pairs
        code, _, err = run_cli(["retrieve", "build", *files, "-o", tmp_path / kind, "--index", kind, *more,
                                "--group-by", "genome", "-q"])
        assert code == 0, err
    code, plain, err = run_cli(["retrieve", "--index", tmp_path / "flat", "--k", "3"])
    assert code == 0 and "warning:" not in err, err
    code, out, err = run_cli(["retrieve", "--index", tmp_path / "flat", "--k", "3", "--nprobe", "64", "--k-factor",
                              "4"])
    assert code == 0 and out == plain, err
    assert [line for line in err.splitlines() if line.startswith("warning:")] == [
        f"warning: --nprobe and --k-factor not used: {tmp_path / 'flat'} is a flat index (--nprobe applies to ivf "
        "and ivfpq, --ef-search to hnsw, --k-factor to ivfpq unless built with --refine none)"], err
    code, _, err = run_cli(["retrieve", "--index", tmp_path / "ivf", "--k", "3", "--nprobe", "4", "--ef-search", "8"])
    assert code == 0 and "warning: --ef-search not used: " in err and "is an ivf index" in err, err
    assert "--nprobe and" not in err


def test_cli_search_effort_warning_of_each_index_kind_names_only_what_it_ignores(real_fused, tmp_path):
    """Each kind `retrieve build --index` makes uses its own settings and is warned of the others only: HNSW takes
    --ef-search (not --nprobe), an IVF-PQ built with --refine none takes --nprobe (not --k-factor); all three given
    to the flat index are named in one list. HNSW was 'a hnsw index'."""
    from conftest import run_cli

    files = [real_fused / f"{name}.npy" for name in ("mpn", "mg")]
    for kind, more in (("flat", []), ("hnsw", []), ("ivfpq", ["--nlist", "4", "--refine", "none"])):
        code, _, err = run_cli(["retrieve", "build", *files, "-o", tmp_path / kind, "--index", kind, *more,
                                "--group-by", "genome", "-q"])
        assert code == 0, err
    said = ("(--nprobe applies to ivf and ivfpq, --ef-search to hnsw, --k-factor to ivfpq unless built with --refine "
            "none)")
    for kind, given, unused in (("hnsw", ["--nprobe", "4", "--ef-search", "8"], "--nprobe"),
                                ("ivfpq", ["--nprobe", "4", "--k-factor", "2"], "--k-factor"),
                                ("flat", ["--nprobe", "4", "--ef-search", "8", "--k-factor", "2"],
                                 "--nprobe, --ef-search and --k-factor")):
        code, _, err = run_cli(["retrieve", "--index", tmp_path / kind, "--k", "3", *given, "-o", tmp_path / "n.tsv"])
        assert code == 0, err
        article = "a" if kind == "flat" else "an"
        assert [line for line in err.splitlines() if "not used:" in line] == [
            f"warning: {unused} not used: {tmp_path / kind} is {article} {kind} index {said}"], err
