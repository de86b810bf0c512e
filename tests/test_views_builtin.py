"""Builtin views: shapes, determinism, edge cases, and known E. coli biology showing up in the features."""

from __future__ import annotations

import math

import numpy as np
import pytest

from microfuse_cli.errors import DataError
from microfuse_cli.records import Gene, Genome, Scaffold
from microfuse_cli.metrics import auroc
from microfuse_cli.pairs import GenePair, adjacent_pairs
from microfuse_cli.views import builtin as B
from microfuse_cli.views.builtin import dna, pair_context, promoter, protein, terminator


def col(matrix: np.ndarray, names: list[str], name: str) -> np.ndarray:
    return matrix[:, names.index(name)]


# ------------------------------------------------------------------------------------------------ proteins


def test_protein_descriptors_shape_and_values():
    proteins = ["MKKLLAVAVLLALLGLAIVVLLFAGSAKE", "MDEDEKRKRHSTNQG", "", "mkwy*X"]
    x = B.protein_descriptors(proteins)
    assert x.shape == (4, len(B.PROTEIN_FEATURES)) and x.dtype == np.float32
    assert len(set(B.PROTEIN_FEATURES)) == len(B.PROTEIN_FEATURES)
    comp = [f"aa_{a}" for a in protein.AMINO_ACIDS] + ["aa_other"]
    sums = x[:, [B.PROTEIN_FEATURES.index(c) for c in comp]].sum(axis=1)
    np.testing.assert_allclose(sums[[0, 1, 3]], 1.0, atol=1e-5)
    assert np.all(x[2] == 0)  # empty protein
    assert col(x, B.PROTEIN_FEATURES, "tm_segments")[0] == 1
    assert col(x, B.PROTEIN_FEATURES, "tm_segments")[1] == 0
    assert col(x, B.PROTEIN_FEATURES, "kd_mean")[0] > 1 > col(x, B.PROTEIN_FEATURES, "kd_mean")[1]
    assert col(x, B.PROTEIN_FEATURES, "log_length")[1] == pytest.approx(math.log1p(15))
    assert col(x, B.PROTEIN_FEATURES, "aa_other")[3] == pytest.approx(2 / 6)  # '*' and 'X'
    assert np.array_equal(x, B.protein_descriptors(proteins))
    assert B.protein_descriptors([]).shape == (0, len(B.PROTEIN_FEATURES))


# ------------------------------------------------------------------------------------------------ tiny genome


def _random_dna(n: int, seed: int, gc: float = 0.5) -> str:
    rng = np.random.default_rng(seed)
    p = [(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2]
    return "".join(rng.choice(list("ACGT"), size=n, p=p))


@pytest.fixture(scope="module")
def tiny() -> Genome:
    seq = list(_random_dna(3000, 7))
    seq[1250:1259] = "N" * 9  # N's inside an intergenic region (g3-g4); 10 or more would be an assembly gap
    seq[1500:1503] = "NNN"  # and inside a gene (g4)
    sequence = "".join(seq)
    chrom = Scaffold("chr", 3000, sequence, circular=True)
    contig = Scaffold("ctg", 400, _random_dna(400, 8), circular=False)
    genes = [
        Gene("g1", "chr", 1, 300, 1),        # starts at the origin: wraps onto g6
        Gene("g2", "chr", 297, 600, 1),      # -4 overlap with g1
        Gene("g3", "chr", 700, 1200, 1),
        Gene("g4", "chr", 1400, 1700, -1),   # convergent with g3
        Gene("g5", "chr", 1900, 2400, 1),    # divergent with g4
        Gene("g6", "chr", 2500, 2997, 1),    # last gene; (g6, g1) wraps the origin
        Gene("c1", "ctg", 1, 150, -1),       # at the left edge of a linear contig
        Gene("c2", "ctg", 200, 399, -1),     # near the right edge
    ]
    return Genome("tiny", {"chr": chrom, "ctg": contig}, genes)


def test_pair_features_tiny_genome(tiny):
    pairs = adjacent_pairs(tiny)
    ids = [p.pair_id for p in pairs]
    assert "g6|g1" in ids  # the wrap pair
    x = B.pair_context_features(tiny, pairs)
    names = B.PAIR_CONTEXT_FEATURES
    assert x.shape == (len(pairs), len(names)) and x.dtype == np.float32
    assert len(set(names)) == len(names)
    assert np.isfinite(x).all()
    by = {pid: row for pid, row in zip(ids, x)}
    f = {n: i for i, n in enumerate(names)}
    assert by["g1|g2"][f["overlap_4"]] == 1 and by["g1|g2"][f["dist_clip"]] == -4
    assert by["g3|g4"][f["strand_convergent"]] == 1 and by["g3|g4"][f["strand_same"]] == 0
    assert by["g4|g5"][f["strand_divergent"]] == 1
    wrap = by["g6|g1"]
    assert wrap[f["dist_clip"]] == 3 + 0  # 3000 - 2997 + 1 - 1
    assert wrap[f["strand_same"]] == 1 and wrap[f["same_directon"]] == 1
    # the directon g5-g6-g1-g2-g3 runs through the origin: 5 genes, (g6, g1) is its second pair
    assert wrap[f["directon_size_log"]] == pytest.approx(math.log1p(5))
    assert wrap[f["directon_pairs_before_log"]] == pytest.approx(math.log1p(1))
    # '-' strand pair: gene_b (c2) is upstream in transcription order
    assert by["c1|c2"][f["len_up_log"]] == pytest.approx(math.log(200))
    assert by["c1|c2"][f["len_down_log"]] == pytest.approx(math.log(150))
    assert np.array_equal(x, B.pair_context_features(tiny, pairs))


def test_pair_features_pool_matches_serial(tiny):
    pairs = adjacent_pairs(tiny)
    seen = []
    serial = B.pair_context_features(tiny, pairs, threads=1, progress=seen.append)
    pooled = B.pair_context_features(tiny, pairs, threads=2)
    assert np.array_equal(serial, pooled)
    assert sum(seen) == len(pairs)


def test_wrap_region_reads_through_the_origin(tiny):
    pair = next(p for p in adjacent_pairs(tiny) if p.pair_id == "g6|g1")
    seqs = dna.ScaffoldSequences(tiny, "context")
    term, prom, core = pair_context.pair_regions(seqs, pair, 3000, True)
    sequence = tiny.scaffolds["chr"].sequence
    expected = sequence[2997 - pair_context.FLANK :] + sequence[: pair_context.FLANK]
    assert dna.rna(term) == expected.replace("T", "U")
    assert dna.rna(core) == sequence[2997:].replace("T", "U")


def test_contig_edges_pad_with_n(tiny):
    seqs = dna.ScaffoldSequences(tiny, "context")
    region = seqs.get("ctg", -5, 5, 1)
    assert list(region[:5]) == [4] * 5 and (region[5:] < 4).all()
    assert len(seqs.get("ctg", 395, 410, -1)) == 15


def test_listed_pair_with_genes_between(tiny):
    g = {gene.id: gene for gene in tiny.genes}
    pair = GenePair("chr", g["g3"], g["g5"], 1900 - 1200 - 1, -1, 1)
    x = B.pair_context_features(tiny, [pair])
    f = B.PAIR_CONTEXT_FEATURES
    assert x[0, f.index("opp_strand_between")] == 1
    assert x[0, f.index("genes_between_log")] == pytest.approx(math.log(2))
    assert x[0, f.index("same_directon")] == 0


def test_nested_gene_pair_stays_capped(tiny):
    g = {gene.id: gene for gene in tiny.genes}
    inner = Gene("n1", "chr", 800, 1000, -1)  # nested inside g3 (700..1200)
    genome = Genome("nested", tiny.scaffolds, sorted([*tiny.genes, inner], key=lambda x: x.start))
    pair = GenePair("chr", g["g3"], inner, 800 - 1200 - 1)
    seqs = dna.ScaffoldSequences(genome, "context")
    term, prom, _ = pair_context.pair_regions(seqs, pair, 3000, True)
    flank = pair_context.FLANK
    assert len(term) == pair_context.TERM_CAP + 2 * flank and len(prom) <= pair_context.PROM_CAP + 2 * flank
    x = B.pair_context_features(genome, [pair])
    assert np.isfinite(x).all() and x[0, B.PAIR_CONTEXT_FEATURES.index("overlap_other")] == 1


def test_gene_features_tiny(tiny):
    x = B.gene_context_features(tiny)
    names = B.GENE_CONTEXT_FEATURES
    assert x.shape == (len(tiny.genes), len(names)) and np.isfinite(x).all()
    size = dict(zip([g.id for g in tiny.genes], np.exp(col(x, names, "directon_size_log")).round()))
    assert size["g1"] == size["g6"] == size["g3"] == 5 and size["g4"] == 1 and size["c1"] == 2
    rel = dict(zip([g.id for g in tiny.genes], col(x, names, "directon_rel_pos")))
    assert rel["g5"] == 0 and rel["g3"] == 1 and rel["g1"] == pytest.approx(0.5)
    assert rel["c2"] == 0 and rel["c1"] == 1  # '-' strand: c2 is transcribed first


def test_a_shared_gene_table_gives_the_same_features(tiny):
    """The gene and pair views share one gene table when the caller passes it; the numbers do not change."""
    pairs = adjacent_pairs(tiny)
    table = B.gene_table(tiny)
    assert np.array_equal(B.gene_context_features(tiny, table), B.gene_context_features(tiny))
    assert np.array_equal(B.pair_context_features(tiny, pairs, table=table), B.pair_context_features(tiny, pairs))
    other = Genome("other", tiny.scaffolds, list(tiny.genes))  # equal genes, but another genome object
    with pytest.raises(DataError, match="another genome"):
        B.gene_context_features(other, table)


def test_kyte_doolittle_scale_is_biopythons():
    from Bio.SeqUtils.ProtParamData import kd

    x = B.protein_descriptors(["IVLR"])
    assert col(x, B.PROTEIN_FEATURES, "kd_mean")[0] == pytest.approx(np.mean([kd[a] for a in "IVLR"]), abs=1e-6)


def test_no_sequence_is_a_data_error(tiny):
    bare = Genome("bare", {sid: Scaffold(s.id, s.length, None, s.circular) for sid, s in tiny.scaffolds.items()},
                  list(tiny.genes))
    for call in (lambda: B.pair_context_features(bare, adjacent_pairs(bare)), lambda: B.gene_context_features(bare)):
        with pytest.raises(DataError, match="give the assembly with read_genome's fasta$") as info:
            call()
        assert info.value.for_cli().endswith("give the assembly with --fasta")  # the option, as the CLI says it


def test_terminator_scores_a_real_hairpin_above_random():
    hairpin = "AAAAGCCCGCCUAAUGAGCGGGCUUUUUUUUAUCG"  # strong stem + U-tract (trp-attenuator-like)
    rows = terminator.fold_regions([hairpin, "ACGUACGUACGUACGUACGUACGUACGUACGUACG", "NNNN"])
    assert rows[0][0] < -10 and rows[0][1] > 5 and rows[0][2] >= 6
    assert rows[1][1] < rows[0][1]
    assert rows[2] == (0.0, 0.0, 0.0)


def test_promoter_pwm_finds_consensus():
    background = np.full(4, 0.25)
    consensus = dna.encode("GCGC" + "TTGACA" + "GCGCGCGCGCGCGCGCG" + "TATAAT" + "GCGCGC")
    shuffled = np.random.default_rng(0).permutation(consensus)
    scores = promoter.promoter_scores([consensus, shuffled, dna.encode("ACG")], background)
    assert scores[0] > scores[1] > scores[2]


# ------------------------------------------------------------------------------------------------ E. coli


@pytest.fixture(scope="module")
def ecoli(ecoli_genome, ecoli_pairs):
    """Pair features of E. coli's labelled same-strand adjacent pairs (ODB known operons)."""
    labelled = [p for p in ecoli_pairs if p.label is not None and p.same_strand]
    x = B.pair_context_features(ecoli_genome, labelled, threads=2)
    y = np.array([p.label for p in labelled])
    return ecoli_genome, labelled, x, y


def test_ecoli_distance_separates_operons(ecoli):
    _, _, x, y = ecoli
    dist = col(x, B.PAIR_CONTEXT_FEATURES, "dist_clip")
    assert dist[y == 1].mean() < 40 < 150 < dist[y == 0].mean()
    assert auroc(y, -dist) > 0.85


def test_ecoli_terminators_mark_boundaries(ecoli):
    _, _, x, y = ecoli
    names = B.PAIR_CONTEXT_FEATURES
    for name in ("term_tscore", "term_tscore_z"):
        score = col(x, names, name)
        assert score[y == 0].mean() > score[y == 1].mean()
        assert auroc(y, score) < 0.4  # boundaries rank higher
    mfe_z = col(x, names, "term_mfe_z")
    assert mfe_z[y == 0].mean() < mfe_z[y == 1].mean()  # more stable hairpins at boundaries


def test_ecoli_codon_usage_more_similar_inside_operons(ecoli):
    _, _, x, y = ecoli
    cos = col(x, B.PAIR_CONTEXT_FEATURES, "codon_cos")
    assert cos[y == 1].mean() > cos[y == 0].mean()
    assert auroc(y, cos) > 0.55


def test_ecoli_most_genes_have_a_shine_dalgarno(ecoli):
    genome = ecoli[0]
    g = B.gene_context_features(genome)
    names = B.GENE_CONTEXT_FEATURES
    assert g.shape == (len(genome.genes), len(names))
    match = col(g, names, "rbs_match")
    assert (match >= 4).mean() > 0.6  # most genes: >= 4 of AGGAGG 3-15 nt upstream
    assert col(g, names, "rbs_z").mean() > 0.3  # above composition-shuffled windows
    assert np.median(col(g, names, "rbs_spacing")) == pytest.approx(7, abs=2)


def test_ecoli_membrane_proteins_have_tm_segments(ecoli):
    from microfuse_cli.pairs import GeneIndex

    genome = ecoli[0]
    index = GeneIndex(genome)
    names = ["lacY", "secY", "lacZ", "rpoB"]
    x = B.protein_descriptors([index.get(n).protein for n in names])
    tm = col(x, B.PROTEIN_FEATURES, "tm_segments")
    assert tm[0] >= 10 and tm[1] >= 8 and tm[2] == 0 and tm[3] == 0


def test_ecoli_selected_columns_equal_the_full_matrix(ecoli):
    """Asking for a subset computes only its groups but gives exactly the columns of the full matrix."""
    genome, labelled, x, _ = ecoli
    for columns in (["dist_clip", "strand_same", "opp_strand_between"], ["prom_z", "len_up_log", "ig_gc_dev"],
                    ["term_tscore_z", "rbs_dg"]):
        subset = B.pair_context_features(genome, labelled, columns=columns, threads=2)
        full = x[:, [B.PAIR_CONTEXT_FEATURES.index(c) for c in columns]]
        assert np.array_equal(subset, full), columns
    with pytest.raises(DataError, match="unknown pair feature"):
        B.pair_context_features(genome, labelled, columns=["dist_clip", "no_such_column"])


def test_layout_columns_need_no_sequence(ecoli):
    genome, labelled, x, _ = ecoli
    bare = Genome(genome.name, {sid: Scaffold(s.id, s.length, None, s.circular) for sid, s in genome.scaffolds.items()},
                  genome.genes, genome.gene_source)
    layout = B.PAIR_FEATURE_GROUPS["layout"]
    got = B.pair_context_features(bare, labelled, columns=layout)
    assert np.array_equal(got, x[:, : len(layout)])
    with pytest.raises(DataError, match="sequence"):
        B.pair_context_features(bare, labelled, columns=["gc_absdiff"])


def test_ecoli_charge_and_pi_equal_biopython(ecoli_genome):
    """The vectorised isoelectric point gives Biopython's numbers for every E. coli protein."""
    from Bio.SeqUtils.IsoelectricPoint import IsoelectricPoint

    proteins = [g.protein for g in ecoli_genome.genes] + ["M", "PE", "XKD", "mkr"]
    x = B.protein_descriptors(proteins)
    want = np.array([(IsoelectricPoint(p.upper()).charge_at_pH(7.0), IsoelectricPoint(p.upper()).pi())
                     for p in proteins], dtype=np.float32)
    got = x[:, [B.PROTEIN_FEATURES.index("charge_ph7"), B.PROTEIN_FEATURES.index("pi")]]
    assert np.array_equal(got, want)
    assert 4.0 < want[:, 1].min() and want[:, 1].max() < 12.1 and want[:, 1].std() > 1


def test_a_signal_during_folding_is_raised_as_itself_not_as_a_vienna_error(capfd):
    """SIGTERM while `embed` folded terminators ended in "internal error: RuntimeError: Some error occurred while
    executing sliding window MFE callback" and a printed traceback: the handler's exception was raised inside the
    Python callback ViennaRNA calls, which swallowed it. SIGTERM (here at ten moments) now ends the fold with the
    handler's own exception, once the region being folded is done, and nothing is printed; the handler is put back."""
    import os
    import random
    import signal
    import threading

    import RNA  # noqa: F401  (imported before the signals: an import they cut would be another failure)

    from microfuse_cli.views.builtin.terminator import fold_regions

    class Stop(Exception):
        pass

    def stop(signum, frame):
        raise Stop()

    rng = random.Random(0)
    regions = ["".join(rng.choice("ACGU") for _ in range(300)) for _ in range(400)]  # about a second of folding
    previous = signal.signal(signal.SIGTERM, stop)
    try:
        for delay in np.linspace(0.01, 0.2, 10):
            timer = threading.Timer(delay, os.kill, (os.getpid(), signal.SIGTERM))
            timer.start()
            with pytest.raises(Stop):
                fold_regions(regions)
            timer.join()
        assert signal.getsignal(signal.SIGTERM) is stop
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert "Traceback" not in capfd.readouterr().err
