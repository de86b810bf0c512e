"""Per-genome spacer self-calibration (no labels) on real genomes, and its per-bin pooling for metagenomes."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
from conftest import MPN_FNA, MPN_GFF, MPN_PAIRS, PANEL, run_cli

from microfuse_cli.calibration import POSTERIOR_THRESHOLDS, DecisionRule, LabelledSpacers, SpacerModel, _bandwidth, \
    _kde, _normal_pdf, _transform, calibrate_by_group, head_residual, learn_posterior_threshold, learn_rule, \
    own_cutoff_interval, posterior_cutoff, read_groups, spacer_scale
from microfuse_cli.errors import DataError
from microfuse_cli.records import Genome
from microfuse_cli.metrics import auroc
from microfuse_cli.pairs import adjacent_pairs

MGE_FNA = PANEL / "GCF_000027325.1_ASM2732v1_genomic.fna.gz"


def test_spacer_model_on_ecoli_ranks_like_distance_and_is_monotone(ecoli_genome, ecoli_pairs):
    model = SpacerModel.fit(adjacent_pairs(ecoli_genome))
    assert 0.3 < model.operon_fraction < 0.8
    llr = model.llr(np.arange(1, 2000, 10.0))
    assert np.all(np.diff(llr) <= 1e-9)  # past a zero spacer the operon evidence only falls (isotonic)
    assert llr[0] > 1 > -1 > llr[-1]
    labelled = [p for p in ecoli_pairs if p.label is not None and p.same_strand and p.genes_between == 0]
    y = np.array([p.label for p in labelled])
    features = model.features(labelled)
    distance = auroc(y, -np.array([p.distance for p in labelled], dtype=float))
    # a genome-relative recoding of distance: it ranks these 2,726 ODB-labelled pairs as distance does (0.906
    # against 0.909); what it adds is a scale that means the same in every genome, and a label-free posterior
    assert distance - 0.02 < auroc(y, features[:, 0]) <= distance + 0.01
    posterior_calls = features[:, 1] >= 0.5
    assert (posterior_calls == (y == 1)).mean() > 0.8  # 0.83 at the label-free cut-off


@pytest.fixture(scope="module")
def two_genomes() -> Genome:
    """M. genitalium and M. pneumoniae as one two-scaffold 'metagenome' (pyrodigal's genes on each); called once for
    the module, as the tests only read it (a frozen Genome)."""
    from microfuse_cli.genome import GenomeOptions, read_genome

    code4 = GenomeOptions(genetic_code=4)
    parts = [read_genome(MGE_FNA, None, code4), read_genome(MPN_FNA, None, code4)]
    return Genome("mix", {**parts[0].scaffolds, **parts[1].scaffolds}, parts[0].genes + parts[1].genes, "pyrodigal")


def test_per_bin_calibration_equals_each_genome_calibrated_alone(two_genomes):
    mix = two_genomes
    pairs = adjacent_pairs(mix)
    groups = {sid: f"bin{i}" for i, sid in enumerate(mix.scaffolds)}
    binned, models = calibrate_by_group(pairs, pairs, groups)
    pooled, _ = calibrate_by_group(pairs, pairs)
    assert set(models) == {"bin0", "bin1"}
    for sid in mix.scaffolds:
        rows = [i for i, p in enumerate(pairs) if p.scaffold == sid]
        alone = SpacerModel.fit([pairs[i] for i in rows]).features([pairs[i] for i in rows])
        assert np.array_equal(binned[rows], alone)
    assert not np.array_equal(binned, pooled)
    fractions = {float(f) for f in binned[:, 3]}
    assert len(fractions) == 2  # each bin keeps its own operon fraction


def test_read_groups(tmp_path):
    table = tmp_path / "bins.tsv"
    table.write_text("# contig2bin\nctg1\tbinA\nctg2\tbinB\nctg3\tbinA\textra column\n\n")
    assert read_groups(table) == {"ctg1": "binA", "ctg2": "binB", "ctg3": "binA"}
    table.write_text("ctg1\tbinA\nctg1\tbinB\n")
    with pytest.raises(DataError, match="two bins"):
        read_groups(table)
    table.write_text("ctg1 binA\n")
    with pytest.raises(DataError, match="line 1"):
        read_groups(table)
    table.write_text("# nothing\n")
    with pytest.raises(DataError, match="no 'scaffold"):
        read_groups(table)


def test_cli_score_explain_with_bins(tmp_path, two_genomes):
    """`score --bins` on a two-genome assembly: each bin's spacer evidence is its own genome's."""
    mixed = tmp_path / "mix.fna.gz"
    with gzip.open(mixed, "wb") as out:
        for path in (MGE_FNA, MPN_FNA):
            out.write(gzip.open(path).read())
    genome = two_genomes  # with --bins, genes are called per bin: each genome's own gene calls
    bins = tmp_path / "bins.tsv"
    bins.write_text("".join(f"{sid}\tbin{i}\n" for i, sid in enumerate(genome.scaffolds)) + "absent_contig\tbin9\n")

    code, binned, err = run_cli(["score", mixed, "-g", "4", "--explain", "--bins", bins])
    assert code == 0, err
    assert "absent_contig" in err  # a bins row naming no scaffold of the input is reported
    code, pooled, err = run_cli(["score", mixed, "-g", "4", "--explain"])
    assert code == 0, err

    comments = [line for line in binned.splitlines() if line.startswith("#calibration")]
    assert [c.split()[1] for c in comments] == ["bin=bin0", "bin=bin1"]  # each bin's own cut-off, in the header

    def llr_by_pair(text):
        rows = [line.split("\t") for line in text.splitlines() if not line.startswith("#")]
        col = rows[0].index("spacer_llr")
        return {r[0]: float(r[col]) for r in rows[1:]}

    got, before = llr_by_pair(binned), llr_by_pair(pooled)
    pairs = adjacent_pairs(genome)
    for sid in genome.scaffolds:
        own = [p for p in pairs if p.scaffold == sid]
        want = SpacerModel.fit(own).features(own)[:, 0]
        assert np.allclose([got[p.pair_id] for p in own], want, atol=1e-4)
    assert any(abs(got[k] - before[k]) > 0.05 for k in got)

    code, _, err = run_cli(["score", mixed, "-g", "4", "--bins", tmp_path / "missing.tsv"])
    assert code != 0 and "Traceback" not in err


def test_bins_of_another_assembly_are_refused_not_ignored(tmp_path):
    """A bins table none of whose scaffolds is in the input (another assembly's, or names a binner rewrote)
    would silently pool the whole input into one calibration; it is a one-line error before scoring."""
    bins = tmp_path / "bins.tsv"
    bins.write_text("NC_000912.1\tmpn\nk141_7\tbin2\n")  # M. pneumoniae's chromosome and a MEGAHIT contig
    for command in (["score", MGE_FNA, "-g", "4"], ["embed", MGE_FNA, "-g", "4", "-o", tmp_path / "emb"]):
        code, out, err = run_cli([*command, "--bins", bins])
        assert code == 1 and out == "", err
        assert err.splitlines()[-1] == (f"error: {bins}: none of its 2 scaffolds is in "
                                        f"{MGE_FNA.name} (e.g. NC_000912.1); the bins of another assembly?"), err
    assert not (tmp_path / "emb").exists()


def test_cli_embed_with_bins_records_them(tmp_path):
    import json

    code, _, err = run_cli(["embed", MGE_FNA, "-g", "4", "-o", tmp_path / "plain"])
    assert code == 0, err
    bins = tmp_path / "bins.tsv"
    bins.write_text("NC_000908.2\tmge\n")
    code, _, err = run_cli(["embed", MGE_FNA, "-g", "4", "--bins", bins, "-o", tmp_path / "binned"])
    assert code == 0, err
    manifest = json.loads((tmp_path / "binned" / "manifest.json").read_text())
    assert manifest["calibration_groups"] == 1 and "calibration_groups" not in json.loads(
        (tmp_path / "plain" / "manifest.json").read_text())
    # one bin holding the only scaffold is the whole genome: the same features
    binned, plain = (np.load(tmp_path / name / "pair_context.npy") for name in ("binned", "plain"))
    assert np.array_equal(binned, plain)


@pytest.fixture(scope="module")
def mpn_spacers():
    """M. pneumoniae's labelled pairs with its own label-free spacer calibration."""
    from microfuse_cli.genome import read_genome
    from microfuse_cli.io.tables import read_pair_list
    from microfuse_cli.pairs import pairs_from_list

    genome = read_genome(MPN_GFF, MPN_FNA)
    labelled = pairs_from_list(genome, read_pair_list(MPN_PAIRS)).pairs
    return LabelledSpacers.from_pairs("mpneumoniae", SpacerModel.fit(adjacent_pairs(genome)), labelled)


def test_decision_rule_ranks_exactly_as_distance_and_cuts_at_the_genomes_own_posterior(mpn_spacers):
    g = mpn_spacers
    rule = DecisionRule(1.0, 100.0, 0.0, 1.6, 0.0, ("x",))
    cut = rule.cutoff_bp(g.spacer)
    assert cut == posterior_cutoff(g.spacer) == 20.0  # M. pneumoniae's compact genome: its posterior halves at 20 bp
    assert g.spacer.posterior(np.array([cut - 1.0]))[0] >= 0.5 > g.spacer.posterior(np.array([cut]))[0]
    p = rule.probability(g.distance, g.same_strand, cut)
    assert auroc(g.label, p) == auroc(g.label, np.where(g.same_strand, -g.distance, -1e9))
    assert np.array_equal(p >= 0.5, g.same_strand & (g.distance <= cut))
    opposite = rule.probability(np.array([5.0, 5.0]), np.array([False, True]), cut)
    assert opposite[0] == 0.0 < opposite[1]
    # a thin own-evidence weight pulls the cut-off toward the prior, on the asinh scale
    half = DecisionRule(0.5, 100.0, 0.0, 1.6, 0.0, ("x",)).cutoff_bp(g.spacer)
    assert half == pytest.approx(np.sinh((spacer_scale(20.0) + spacer_scale(100.0)) / 2) * 20, abs=0.05)


def test_learn_rule_from_labelled_genomes(mpn_spacers):
    best_bp, best_acc = mpn_spacers.best_cutoff()
    assert best_bp == 62 and best_acc == pytest.approx(0.8683, abs=1e-4)  # findings.md: 62 bp, 0.868
    rule = learn_rule([mpn_spacers], 0.5, with_offset=True, correction=0.25, posterior_threshold=0.5, own_interval=0.0)
    assert rule.prior_cutoff_bp == pytest.approx(62.0, abs=0.1) and rule.trained_on == ("mpneumoniae",)
    assert rule.offset == pytest.approx(float(spacer_scale(62.0) - spacer_scale(20.0)), abs=1e-4)
    assert 0.5 < rule.slope < 10 and rule.correction == 0.25
    assert DecisionRule.from_dict(rule.to_dict()) == rule
    for bad in ({**rule.to_dict(), "own_weight": 2}, {**rule.to_dict(), "slope": 0},
                {k: v for k, v in rule.to_dict().items() if k != "offset"}, {**rule.to_dict(), "trained_on": "x"},
                {**rule.to_dict(), "posterior_threshold": 1.0}, {**rule.to_dict(), "own_interval": -0.1},
                {**rule.to_dict(), "own_interval": True}, {**rule.to_dict(), "surprise": 1}):
        with pytest.raises(DataError):
            DecisionRule.from_dict(bad)
    # a model written before the threshold and the interval existed keeps the rule it was made with
    old = {k: v for k, v in rule.to_dict().items() if k not in ("posterior_threshold", "own_interval")}
    assert DecisionRule.from_dict(old) == rule and (rule.posterior_threshold, rule.own_interval) == (0.5, 0.0)


def test_kde_is_scipys_gaussian_kde_on_real_spacers(mpn_spacers):
    """The count-weighted mixture over distinct spacers is gaussian_kde's density with the same bandwidth."""
    from scipy.stats import gaussian_kde

    x = _transform(mpn_spacers.spacer.same_strand_spacers)
    assert np.unique(x).size < x.size  # repeated spacers: the weighting is exercised
    grid, bandwidth = mpn_spacers.spacer.grid, _bandwidth(x)
    expected = gaussian_kde(x, bw_method=bandwidth / np.std(x, ddof=1))(grid)
    assert np.allclose(_kde(x, grid, bandwidth), expected, rtol=1e-10, atol=1e-14)


def test_normal_density_has_the_bits_of_scipys(mpn_spacers, ecoli_genome):
    """The KDE's normal density is scipy.stats.norm.pdf's to the last bit (its operations in its order), on real
    spacers at their bandwidth and at others: the seeded refits of own_cutoff_interval are the ones scipy gave."""
    from scipy.stats import norm

    ecoli = SpacerModel.fit(adjacent_pairs(ecoli_genome))
    for spacers in (mpn_spacers.spacer.same_strand_spacers, ecoli.same_strand_spacers, ecoli.boundary_spacers):
        x = _transform(spacers)
        values, grid = np.unique(x)[:, None], mpn_spacers.spacer.grid[None, :]
        for bandwidth in (_bandwidth(x), 0.08, 0.3, 1.7):
            assert np.array_equal(_normal_pdf(grid, values, bandwidth), norm.pdf(grid, loc=values, scale=bandwidth))


def test_own_cutoff_interval_brackets_the_own_cutoff_and_narrows_with_more_pairs(mpn_spacers, ecoli_genome):
    mpn = mpn_spacers.spacer
    low, high = own_cutoff_interval(mpn, 0.9)
    assert low <= posterior_cutoff(mpn) == 20.0 <= high and high - low > 5  # 687 adjacent pairs: 14-29 bp
    assert own_cutoff_interval(mpn, 0.9) == (low, high)  # seeded: the same calls on every run
    narrow = own_cutoff_interval(mpn, 0.5)
    assert low <= narrow[0] <= narrow[1] <= high
    ecoli = SpacerModel.fit(adjacent_pairs(ecoli_genome))
    e_low, e_high = own_cutoff_interval(ecoli, 0.9)
    assert e_low <= posterior_cutoff(ecoli) == 119.0 <= e_high
    # ten copies of E. coli's spacers: refits to 20,000 of them, widened back by sqrt(m / n), give about a third
    # of the width on the asinh scale (1 / sqrt(10)), at the cost of 20,000-pair refits
    tenfold = SpacerModel.from_spacers(np.tile(ecoli.same_strand_spacers, 10), np.tile(ecoli.boundary_spacers, 10),
                                       10 * ecoli.n_opposite)
    t_low, t_high = own_cutoff_interval(tenfold, 0.9, resamples=50)
    ratio = (spacer_scale(t_high) - spacer_scale(t_low)) / (spacer_scale(e_high) - spacer_scale(e_low))
    assert t_low <= posterior_cutoff(tenfold) <= t_high and 0.15 < ratio < 0.6  # (a narrower kernel: 122 bp)


def test_learned_threshold_has_the_smallest_worst_gap(mpn_spacers):
    best = mpn_spacers.best_cutoff()[1]
    gaps = {t: best - mpn_spacers.accuracy_at(posterior_cutoff(mpn_spacers.spacer, t)) for t in POSTERIOR_THRESHOLDS}
    learned = learn_posterior_threshold([mpn_spacers])
    assert gaps[learned] == min(gaps.values()) < gaps[0.5]  # M. pneumoniae's set wants more than its own 20 bp
    assert learned < 0.5


def test_bounded_rule_keeps_the_cutoff_inside_the_genomes_own_interval(mpn_spacers):
    spacer = mpn_spacers.spacer
    low, high = own_cutoff_interval(spacer, 0.9)
    loose, tight = DecisionRule(1.0, 100.0, 0.0, 1.6, 0.0, ("x",), 0.05, 0.9), DecisionRule(
        1.0, 100.0, 0.0, 1.6, 0.0, ("x",), 0.95, 0.9)
    assert posterior_cutoff(spacer, 0.05) > high and loose.cutoff_bp(spacer) == round(high, 1)
    assert posterior_cutoff(spacer, 0.95) < low and tight.cutoff_bp(spacer) == round(low, 1)
    unbounded = DecisionRule(1.0, 100.0, 0.0, 1.6, 0.0, ("x",), 0.05, 0.0)
    assert unbounded.cutoff_bp(spacer) == posterior_cutoff(spacer, 0.05)
    calibration = loose.calibrate("", spacer)
    assert calibration.own_cutoff_bp == 20.0 and f"own_cutoff_bp=20 " in calibration.describe()


def test_head_residual_removes_what_distance_explains(mpn_spacers):
    g = mpn_spacers
    x = spacer_scale(g.distance)
    signal = np.random.default_rng(0).normal(size=x.size)
    residual = head_residual(2.0 - 1.5 * x + 0.2 * x * x + signal, g.distance, g.same_strand)
    same = g.same_strand
    assert np.allclose(head_residual(2.0 - 1.5 * x, g.distance, same)[same], 0.0, atol=1e-6)
    assert abs(np.corrcoef(residual[same], x[same])[0, 1]) < 0.01  # exactly 0 before the clip to +-3 sd
    assert np.corrcoef(residual[same], signal[same])[0, 1] > 0.95
    assert np.abs(residual).max() <= 3.0 and residual[~same].tolist() == [0.0] * int((~same).sum())
