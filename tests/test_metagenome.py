"""Draft and metagenomic assemblies as users feed them: MEGAHIT/SPAdes contigs, MAG bins, mixed samples; all
built from real genomes cut into contigs (conftest.draft_contigs)."""

from __future__ import annotations

from conftest import MPN_FNA, draft_contigs, genome_sequence, run_cli, write_contigs


def test_auto_gene_calling_mode_is_said_with_its_reason(tmp_path):
    sequence = genome_sequence(MPN_FNA)[:300_000]
    complete = write_contigs(tmp_path / "complete.fna", [("chromosome", "M. pneumoniae M129", sequence)])
    contigs = write_contigs(tmp_path / "contigs.fna", draft_contigs(sequence, 1_500, 6_000))
    code, _, err = run_cli(["pairs", complete, "-o", tmp_path / "complete.tsv"])
    assert code == 0, err
    assert "pyrodigal single mode (1 sequence(s), 300000 bp, N50 300000 bp" in err
    code, _, err = run_cli(["pairs", contigs, "-o", tmp_path / "contigs.tsv"])
    assert code == 0, err
    assert "pyrodigal meta mode (" in err and "give --mode to override" in err


def _calibration_lines(scores_tsv):
    return {line.split()[1]: line for line in scores_tsv.read_text().splitlines() if line.startswith("#calibration")}


def test_bin_too_small_to_self_calibrate_is_said_in_header_and_log(tmp_path):
    contigs = draft_contigs(genome_sequence(MPN_FNA)[:600_000], 3_000, 12_000, seed=1)
    assembly = write_contigs(tmp_path / "contigs.fna", contigs)
    bins = tmp_path / "contig2bin.tsv"  # DAS Tool layout: two small contigs are one bin, the rest another
    bins.write_text("".join(f"{name}\t{'bin.small' if i < 2 else 'bin.big'}\n" for i, (name, _, _) in
                            enumerate(contigs)))
    scores = tmp_path / "scores.tsv"
    code, _, err = run_cli(["score", assembly, "--bins", bins, "-o", scores])
    assert code == 0, err
    lines = _calibration_lines(scores)
    assert lines.keys() == {"bin=bin.small", "bin=bin.big"}
    assert "fallback=prior_cutoff(fewer_than_30_pairs)" in lines["bin=bin.small"]
    assert "operon_fraction=0.600 cutoff_bp=118 own_cutoff_bp=none " in lines["bin=bin.small"]  # the prior, 117.5
    assert "fallback" not in lines["bin=bin.big"]
    warnings = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1 and warnings[0].startswith("warning: bin bin.small: ") and "too few" in warnings[0]


def test_no_pair_across_an_assembly_gap(tmp_path):
    """A scaffold of E. coli with a 100-N gap (unknown length, as NCBI and assemblers write it) inside murG
    (99,644-100,711): pyrodigal calls the tail of murG as a gene, and ftsW|murG-tail came out 528 bp apart (they
    overlap by 4 bp); no pair crosses the gap now."""
    from conftest import ECOLI_FNA

    sequence = genome_sequence(ECOLI_FNA)[:200_000]
    gapped = sequence[:100_000] + "N" * 100 + sequence[100_000:]
    assembly = write_contigs(tmp_path / "scaffolds.fasta", [("NODE_1_length_200100_cov_12.3", "", gapped)])
    out = tmp_path / "pairs.tsv"
    code, _, err = run_cli(["pairs", assembly, "-o", out])
    assert code == 0, err
    rows = [line.split("\t") for line in out.read_text().splitlines() if not line.startswith("#")][1:]
    assert len(rows) > 150
    assert not [r for r in rows if int(r[5]) <= 100_000 and int(r[7]) > 100_100], "a pair spans the gap"
    assert "1 assembly gap(s) (runs of 10+ N) in 1 scaffold(s)" in err


def test_contigs_in_no_bin_are_one_named_pool(tmp_path):
    """A binner leaves contigs out: they are pooled, and that pool's header line says so (it read like a whole
    genome's line, with no bin= at all, beside the bins' lines)."""
    contigs = draft_contigs(genome_sequence(MPN_FNA)[:300_000], 3_000, 12_000, seed=2)
    assembly = write_contigs(tmp_path / "contigs.fna", contigs)
    bins = tmp_path / "contig2bin.tsv"
    bins.write_text("".join(f"{name}\tmaxbin.001\n" for name, _, _ in contigs[::2]))
    scores = tmp_path / "scores.tsv"
    code, _, err = run_cli(["score", assembly, "--bins", bins, "-o", scores])
    assert code == 0, err
    assert _calibration_lines(scores).keys() == {"bin=maxbin.001", "bin=(unbinned)"}
    unbinned = len(contigs) - len(contigs[::2])
    assert f"1 bins over {len(contigs[::2])} scaffolds; {unbinned} scaffold(s) in no bin are pooled as (unbinned)" in err


def test_binned_assembly_calls_genes_per_bin_with_its_own_code(tmp_path):
    """E. coli and M. pneumoniae (code 4) contigs in one assembly of long contigs: auto picked single mode, one
    model and code 11 for both, and the Mycoplasma bin had 406 neighbour pairs instead of 280 (genes cut at every
    UGA). With --bins, genes are called per bin, each with its own model and code, as alone."""
    from conftest import ECOLI_FNA

    mpn = draft_contigs(genome_sequence(MPN_FNA)[:300_000], 20_000, 60_000, seed=3, prefix="mpn_")
    eco = draft_contigs(genome_sequence(ECOLI_FNA)[:1_500_000], 20_000, 60_000, seed=4, prefix="eco_")
    assembly = write_contigs(tmp_path / "contigs.fna", mpn + eco)
    bins = tmp_path / "contig2bin.tsv"
    bins.write_text("".join(f"{name}\t{name.split('_')[0]}\n" for name, _, _ in mpn + eco))
    scores = tmp_path / "scores.tsv"
    code, _, err = run_cli(["score", assembly, "--bins", bins, "-o", scores])
    assert code == 0, err
    assert "gene calling per bin: 2 in pyrodigal single mode" in err
    assert scores.read_text().splitlines()[1] == "#genes source=pyrodigal:single genetic_code=4,11"  # both bins'
    code4 = [line for line in err.splitlines() if "genetic code 4 detected" in line]
    assert len(code4) == 1 and " of bin mpn with code 4" in code4[0], err
    for prefix, contigs, code_of_genome in (("mpn_", mpn, "4"), ("eco_", eco, "11")):
        alone = tmp_path / f"{prefix}alone.tsv"
        fna = write_contigs(tmp_path / f"{prefix}.fna", contigs)
        code, _, err = run_cli(["pairs", fna, "-g", code_of_genome, "-o", alone])
        assert code == 0, err
        expected = len(alone.read_text().splitlines()) - 1
        got = sum(1 for line in scores.read_text().splitlines() if line.startswith(prefix))
        assert abs(got - expected) <= 0.05 * expected, (prefix, got, expected)


def test_metabat_bins_given_as_several_inputs_are_told_how(tmp_path):
    """MetaBAT writes one FASTA per bin; `score bin.1.fa bin.2.fa` was told only to give the second with --fasta
    (the hint for a GFF3 beside its sequence), which reads nothing useful from two bins."""
    contigs = draft_contigs(genome_sequence(MPN_FNA)[:60_000], 3_000, 12_000, seed=6)
    first = write_contigs(tmp_path / "bin.1.fa", contigs[:3])
    second = write_contigs(tmp_path / "bin.2.fa", contigs[3:])
    code, out, err = run_cli(["score", first, second, "-o", tmp_path / "scores.tsv"])
    assert code == 2 and out == "" and not (tmp_path / "scores.tsv").exists()
    assert (f"error: Got unexpected extra argument ({second}); give the sequence with --fasta {second}, or, for one "
            "FASTA per bin, concatenate the bins and give `score --bins` a contig<TAB>bin table") in err, err


def _calibrated_contigs(tmp_path, contigs):
    """What `score` calibrates on an assembly of ``contigs`` (genes by pyrodigal, one genome, no --bins), and
    the model it used; the warning it logs goes to the caplog of the calling test."""
    import numpy as np

    from microfuse_cli.genome import read_genome
    from microfuse_cli.pairs import adjacent_pairs
    from microfuse_cli.score import apply_decision, genome_spacer_models, load_model

    genome = read_genome(write_contigs(tmp_path / "contigs.fna", contigs))
    model = load_model(None)
    pairs = adjacent_pairs(genome)
    _, (calibrated,) = apply_decision(model.decision, pairs, np.full(len(pairs), 0.5),
                                      genome_spacer_models(model, genome), None)
    return calibrated, model, pairs


def test_small_bin_warning_names_the_python_argument_or_the_option(tmp_path, caplog):
    """A bin too small to self-calibrate is told to leave small bins out of --bins: a Python caller (score_genome
    with GenomeOptions(bins=...)) was told the option too; the record names the argument, its cli_message (what
    the CLI prints, as test_bin_too_small_to_self_calibrate_is_said_in_header_and_log checks) the option. The
    calibration's few_pairs_warning() is that message as Python reads it (it was log_naming's parts, a tuple), None
    for a bin that calibrates itself."""
    import numpy as np

    from microfuse_cli.genome import read_genome
    from microfuse_cli.pairs import adjacent_pairs
    from microfuse_cli.score import apply_decision, load_model

    sequence = genome_sequence(MPN_FNA)[:300_000]
    genome = read_genome(write_contigs(tmp_path / "contigs.fna", [("small", "", sequence[:15_000]),
                                                                  ("big", "", sequence[15_000:])]))
    pairs = adjacent_pairs(genome)
    with caplog.at_level("WARNING", logger="microfuse"):
        _, calibration = apply_decision(load_model(None).decision, pairs, np.full(len(pairs), 0.5), None,
                                        {"small": "bin.small"})
    (record,) = [r for r in caplog.records if "too few to self-calibrate" in r.getMessage()]
    assert [c.few_pairs_warning() for c in calibration] == [record.getMessage(), None]
    assert record.getMessage().startswith("bin bin.small: ") and record.getMessage().endswith(
        "; leave small bins out of GenomeOptions(bins={scaffold: bin}) to pool them with the unbinned rest"), \
        record.getMessage()
    assert record.cli_message.endswith("; leave small bins out of --bins to pool them with the unbinned rest")


def test_contigs_too_short_to_show_spacers_take_the_prior_cutoff_and_say_so(tmp_path, caplog):
    """500 kbp of E. coli in 100-400 bp contigs: a contig shows only the spacers short enough to fit between two
    gene fragments. The whole genome so cut had a cut-off of 91 bp (14 bp in 200 bp contigs; the complete genome:
    145), silently; now no pair is fitted, the cut-off is the model's prior, and the header and one warning say so."""
    from conftest import ECOLI_FNA

    contigs = draft_contigs(genome_sequence(ECOLI_FNA)[:500_000], 100, 400)
    with caplog.at_level("WARNING", logger="microfuse"):
        calibrated, model, pairs = _calibrated_contigs(tmp_path, contigs)
    assert calibrated.cutoff_bp == model.decision.prior_cutoff_bp and not calibrated.self_calibrated
    assert len(pairs) > 80 and calibrated.left_out == len(pairs)
    line = calibrated.describe()
    assert f"cutoff_bp={model.decision.prior_cutoff_bp:.0f} own_cutoff_bp=none " in line  # was 5000 (no pair fitted)
    assert f"fragment_pairs_left_out={len(pairs)} fallback=prior_cutoff(fewer_than_30_pairs)" in line
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert len(warnings) == 1 and "contigs under 2,000 bp" in warnings[0] and "the model's prior" in warnings[0]


def test_short_contigs_are_left_out_and_long_ones_keep_the_genomes_own_cutoff(tmp_path):
    """M. pneumoniae, half in 5-20 kbp contigs and half in 150-1,500 bp ones: the short contigs' pairs are left
    out, so the genome calibrates on the long contigs' pairs (those touching a gene cut by an edge included: their
    spacer runs between two real gene ends), as on the long contigs alone, near its complete cut-off (25 bp)."""
    sequence = genome_sequence(MPN_FNA)
    long_contigs = draft_contigs(sequence[:400_000], 5_000, 20_000, prefix="long_")
    short_contigs = draft_contigs(sequence[400_000:], 150, 1_500, prefix="short_")
    calibrated, model, pairs = _calibrated_contigs(tmp_path, long_contigs + short_contigs)
    alone, _, long_pairs = _calibrated_contigs(tmp_path, long_contigs)
    assert (calibrated.n_same, calibrated.n_opposite, calibrated.cutoff_bp) == (alone.n_same, alone.n_opposite,
                                                                                alone.cutoff_bp)
    assert calibrated.left_out - alone.left_out == len(pairs) - len(long_pairs) > 50  # the last long piece is short
    assert calibrated.self_calibrated and 15 <= calibrated.cutoff_bp <= 35


def test_many_contigs_without_bins_are_told_about_bins(tmp_path, caplog):
    """Without --bins every contig is one genome: calibrated, and gene-called in single mode, with one fit. An
    input of 100+ scaffolds (or more sequence than a bacterium has) may be a metagenome: an info line says so."""
    from microfuse_cli.cli._common import load_bins
    from microfuse_cli.genome import read_genome

    sequence = genome_sequence(MPN_FNA)[:300_000]
    draft = read_genome(write_contigs(tmp_path / "draft.fna", draft_contigs(sequence, 1_000, 3_000)))
    whole = read_genome(write_contigs(tmp_path / "whole.fna", [("chromosome", "", sequence)]))
    with caplog.at_level("INFO", logger="microfuse"):
        assert load_bins(None, whole) is None
        assert not [r for r in caplog.records if "--bins" in r.getMessage()]
        assert load_bins(None, draft) is None
    told = [r.getMessage() for r in caplog.records if "--bins" in r.getMessage()]
    assert len(told) == 1 and f"{len(draft.scaffolds)} scaffolds in 300000 bp are calibrated as one genome" in told[0]
    assert "its own calibration and gene calling" in told[0]


def test_pairs_calls_genes_per_bin_as_score_and_embed_do(tmp_path):
    """`pairs --bins` calls a binned assembly's genes per bin, each with its own code, as `score --bins` does: the
    pairs | embed | score pipeline and `score` alone see the same genes. (pairs had no --bins: it called the
    Mycoplasma bin's genes with code 11, cut at every UGA, and its pairs no longer joined those of score.)"""
    from conftest import ECOLI_FNA

    mpn = draft_contigs(genome_sequence(MPN_FNA)[:200_000], 20_000, 60_000, seed=5, prefix="mpn_")
    eco = draft_contigs(genome_sequence(ECOLI_FNA)[:300_000], 20_000, 60_000, seed=6, prefix="eco_")
    assembly = write_contigs(tmp_path / "contigs.fna", mpn + eco)
    bins = tmp_path / "contig2bin.tsv"
    bins.write_text("".join(f"{name}\t{name.split('_')[0]}\n" for name, _, _ in mpn + eco))
    pairs, scores = tmp_path / "pairs.tsv", tmp_path / "scores.tsv"
    code, _, err = run_cli(["pairs", assembly, "--bins", bins, "-o", pairs])
    assert code == 0, err
    assert "genetic code 4 detected" in err and " of bin mpn with code 4" in err
    code, _, err = run_cli(["score", assembly, "--bins", bins, "-o", scores])
    assert code == 0, err
    ids = [[line.split("\t", 1)[0] for line in path.read_text().splitlines() if not line.startswith("#")]
           for path in (pairs, scores)]
    assert ids[0] == ids[1] and len(ids[0]) > 400


def test_pairs_table_scores_a_draft_as_its_genome_does(tmp_path):
    """`score PAIRS.tsv --embeddings` (the examples/ workflow's route) calibrates a draft as `score GENOME` does:
    the table records how many genes are partial (`#partial_genes`), so the short contigs are left out of the
    spacer fit on both routes. The table said nothing of it: every pair was fitted, and all probabilities differed.
    A table without the line (an older one) fits every pair, as before."""
    from conftest import ECOLI_FNA

    from microfuse_cli.genome import read_genome

    contigs = draft_contigs(genome_sequence(ECOLI_FNA)[:300_000], 1_000, 4_000, seed=7)
    assembly = write_contigs(tmp_path / "contigs.fna", contigs)
    pairs, proteins, emb = tmp_path / "pairs.tsv", tmp_path / "proteins.faa", tmp_path / "emb"
    code, _, err = run_cli(["pairs", assembly, "-o", pairs, "--proteins", proteins])
    assert code == 0, err
    code, _, err = run_cli(["embed", assembly, "-o", emb, "-q"])
    assert code == 0, err
    by_genome, by_table = tmp_path / "genome.scores.tsv", tmp_path / "table.scores.tsv"
    code, _, err = run_cli(["score", assembly, "-o", by_genome, "-q"])
    assert code == 0, err
    code, _, err = run_cli(["score", pairs, "--embeddings", emb, "-o", by_table, "-q"])
    assert code == 0, err
    texts = [path.read_text().splitlines() for path in (by_genome, by_table)]
    rows = [[line for line in text if not line.startswith("#")] for text in texts]
    assert rows[0] == rows[1] and len(rows[0]) > 150
    calibration = [[line for line in text if line.startswith("#calibration")] for text in texts]
    assert calibration[0] == calibration[1] and _left_out(calibration[0][0]) > 50
    partial = sum(g.partial for g in read_genome(assembly).genes)
    assert [line for line in pairs.read_text().splitlines() if line.startswith("#partial_genes")] == \
        [f"#partial_genes count={partial}"] and partial > 50
    older = tmp_path / "older.tsv"
    older.write_text("".join(line + "\n" for line in pairs.read_text().splitlines()
                             if not line.startswith("#partial_genes")))
    code, _, err = run_cli(["score", older, "--embeddings", emb, "-o", tmp_path / "older.scores.tsv", "-q"])
    assert code == 0, err
    (line,) = [line for line in (tmp_path / "older.scores.tsv").read_text().splitlines()
               if line.startswith("#calibration")]
    assert _left_out(line) == 0
    older.write_text(pairs.read_text().replace("#partial_genes count=", "#partial_genes count=many"))
    code, _, err = run_cli(["score", older, "--embeddings", emb, "-o", tmp_path / "bad.scores.tsv", "-q"])
    assert code == 1 and "a '#partial_genes' line is 'count=N', not 'count=many" in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "bad.scores.tsv").exists()


def _left_out(calibration_line):
    return int(next(w for w in calibration_line.split() if w.startswith("fragment_pairs_left_out="))
               .removeprefix("fragment_pairs_left_out="))


def test_pairs_table_of_a_draft_gff_without_its_fasta_says_its_lengths_are_unknown(tmp_path):
    """`pairs draft.gff` alone (Prodigal's GFF, no FASTA) writes no '#scaffold' line, so `score PAIRS.tsv` without
    --fasta has each contig as long as its genes reach: a 2,000+ bp contig whose last gene ends before 2,000 bp was
    left out of the spacer fit as short, which `score` of the genome keeps, silently (all probabilities differed).
    It is said now, naming --fasta; with --fasta the table route scores as the genome's. (A GFF3 that states no
    length: Prodigal's '# Sequence Data' lines, whose seqlen `pairs` now writes as '#scaffold' lines, taken out.)"""
    contigs, assembly, gff = prodigal_draft(tmp_path)
    gff = without_lengths(gff)
    annotation = tmp_path / "draft.gff"
    annotation.write_text(gff)
    pairs, emb = tmp_path / "pairs.tsv", tmp_path / "emb"
    code, _, err = run_cli(["pairs", annotation, "-o", pairs])
    assert code == 0, err
    comments = [line for line in pairs.read_text().splitlines() if line.startswith("#")]
    assert not [c for c in comments if c.startswith("#scaffold")] and "#partial_genes count=203" in comments
    code, _, err = run_cli(["embed", annotation, "--fasta", assembly, "-o", emb, "-q"])
    assert code == 0, err
    by_genome, guessed, by_table = (tmp_path / f"{name}.scores.tsv" for name in ("genome", "guessed", "table"))
    code, _, err = run_cli(["score", annotation, "--fasta", assembly, "-o", by_genome, "-q"])
    assert code == 0, err
    code, _, err = run_cli(["score", pairs, "--embeddings", emb, "-o", guessed, "-q"])
    assert code == 0, err
    reach = {}  # each contig's last gene end, the length the table route has without --fasta
    for row in gff.splitlines():
        if not row.startswith("#"):
            reach[row.split("\t")[0]] = max(reach.get(row.split("\t")[0], 0), int(row.split("\t")[4]))
    unknown = [name for name, _, sequence in contigs if len(sequence) >= 2_000 and reach.get(name, 0) < 2_000]
    assert unknown  # what the warning is for: left out by the table route, kept by the genome's
    (warning,) = err.strip().splitlines()
    assert warning.startswith("warning: ") and "have no length in the pairs ('#scaffold' lines)" in warning
    assert "give --fasta (the assembly) to calibrate as it does" in warning
    code, _, err = run_cli(["score", pairs, "--embeddings", emb, "--fasta", assembly, "-o", by_table, "-q"])
    assert code == 0 and err == "", err
    rows = [[line for line in path.read_text().splitlines() if not line.startswith("#")]
            for path in (by_genome, guessed, by_table)]
    assert rows[0] == rows[2] and len(rows[0]) > 150 and rows[1] != rows[0]


def test_pairs_table_of_a_draft_without_partial_flags_finds_its_cut_genes_in_the_fasta(tmp_path):
    """A draft annotated with no partial flags (IMG, MetaGeneMark) read without its FASTA: `pairs` finds no partial
    gene and writes neither '#partial_genes' nor '#scaffold' lines, so `score PAIRS.tsv --fasta` fitted every pair
    (fragment_pairs_left_out=0) where `score draft.gff --fasta` finds the genes cut by contig edges in the sequence
    and leaves the short contigs out: all probabilities differed. The table route now reads them so too."""
    import re

    _, assembly, gff = prodigal_draft(tmp_path)
    annotation = tmp_path / "noflag.gff"
    annotation.write_text(re.sub(r"partial=[01]{2};", "", without_lengths(gff)))  # no seqlen: no '#scaffold' line
    assert "partial=" not in annotation.read_text()
    pairs, emb = tmp_path / "pairs.tsv", tmp_path / "emb"
    code, _, err = run_cli(["pairs", annotation, "-o", pairs])
    assert code == 0, err
    comments = [line for line in pairs.read_text().splitlines() if line.startswith("#")]
    assert not [c for c in comments if c.startswith(("#scaffold", "#partial_genes"))], comments
    code, _, err = run_cli(["embed", annotation, "--fasta", assembly, "-o", emb, "-q"])
    assert code == 0, err
    by_genome, by_table = tmp_path / "genome.scores.tsv", tmp_path / "table.scores.tsv"
    code, _, err = run_cli(["score", annotation, "--fasta", assembly, "-o", by_genome, "-q"])
    assert code == 0, err
    code, _, err = run_cli(["score", pairs, "--embeddings", emb, "--fasta", assembly, "-o", by_table, "-q"])
    assert code == 0 and err == "", err
    calibrated = [_calibration_lines(path) for path in (by_genome, by_table)]
    assert calibrated[0] == calibrated[1] and _left_out(next(iter(calibrated[1].values()))) > 0, calibrated
    rows = [[line for line in path.read_text().splitlines() if not line.startswith("#")]
            for path in (by_genome, by_table)]
    assert rows[0] == rows[1] and len(rows[0]) > 150


def without_lengths(gff: str) -> str:
    """A Prodigal GFF without its '# Sequence Data: ...seqlen=N' lines: a GFF3 that states no sequence's length."""
    return "".join(line for line in gff.splitlines(True) if not line.startswith("# Sequence Data:"))


def prodigal_draft(tmp_path):
    """The first 300 kb of E. coli in 1-4 kb contigs (written to draft.fna) and pyrodigal's meta-mode GFF3 of them
    without the sequence (with Prodigal's seqlen and partial=NN), as a user's draft annotation."""
    import io

    import pyrodigal
    from conftest import ECOLI_FNA

    contigs = draft_contigs(genome_sequence(ECOLI_FNA)[:300_000], 1_000, 4_000, seed=7)
    assembly = write_contigs(tmp_path / "draft.fna", contigs)
    finder, gff = pyrodigal.GeneFinder(meta=True), io.StringIO()
    for i, (name, _, sequence) in enumerate(contigs):
        finder.find_genes(sequence.encode()).write_gff(gff, sequence_id=name, header=i == 0)
    return contigs, assembly, gff.getvalue()


def test_embed_of_a_draft_table_without_lengths_says_what_score_says(tmp_path):
    """`embed PAIRS.tsv` of a draft's table with no '#scaffold' line (`pairs draft.gff` without its FASTA) and no
    --fasta leaves the contigs its genes end under 2,000 bp on out of the spacer calibration, as `score` of it does,
    but said nothing where `score` warns: it now gives the same warning, from one builder. (`-m default` reads the
    layout columns only, so it needs no --fasta; the builtin views would refuse the table without one first.)"""
    _, assembly, gff = prodigal_draft(tmp_path)
    annotation = tmp_path / "draft.gff"
    annotation.write_text(without_lengths(gff))  # Prodigal's seqlen taken out: a GFF3 stating no length
    pairs, faa = tmp_path / "pairs.tsv", tmp_path / "p.faa"
    code, _, err = run_cli(["pairs", annotation, "-o", pairs, "-q"])
    assert code == 0, err
    code, _, err = run_cli(["pairs", annotation, "--fasta", assembly, "--proteins", faa, "-o", tmp_path / "x.tsv",
                            "-q"])
    assert code == 0, err
    code, _, err = run_cli(["embed", pairs, "--proteins", faa, "-m", "default", "-o", tmp_path / "emb", "-q"])
    assert code == 0, err
    said = [line for line in err.splitlines() if line.startswith("warning: ")]
    assert said and said[0].startswith("warning: ") and "scaffold(s) of " in said[0], err
    assert "have no length in the pairs ('#scaffold' lines)" in said[0] and "`embed` of the genome may keep" in said[0]
    code, _, err = run_cli(["embed", pairs, "--proteins", faa, "--fasta", assembly, "-o", tmp_path / "emb2", "-q"])
    assert code == 0 and "#scaffold" not in err, err


def test_pairs_of_a_gff_without_its_fasta_writes_the_lengths_it_states(tmp_path):
    """`pairs draft.gff` without its FASTA wrote no length, though Prodigal's GFF states each contig's (`# Sequence
    Data: ...seqlen=N`), so `score PAIRS.tsv` without --fasta had each contig as long as its genes reach, left the
    2,000+ bp contigs whose genes end sooner out of the spacer calibration and warned. The stated lengths are written
    now, as '#scaffold_length' lines (with the annotation's topology, linear: nothing marks a contig circular), and
    the table route scores as the genome's with its FASTA, without a warning, with or without --fasta; a FASTA of
    other lengths is refused; a GFF3 that states none still writes none."""
    _, assembly, gff = prodigal_draft(tmp_path)
    annotation = tmp_path / "draft.gff"
    annotation.write_text(gff)
    pairs, emb, by_genome, by_table = (tmp_path / name for name in ("pairs.tsv", "emb", "g.tsv", "t.tsv"))
    code, _, err = run_cli(["pairs", annotation, "-o", pairs, "-q"])
    assert code == 0, err
    told = {}
    for line in gff.splitlines():
        if line.startswith("# Sequence Data:"):
            fields = dict(word.split("=", 1) for word in line.split(": ", 1)[1].split(";"))
            told[fields["seqhdr"].strip('"')] = int(fields["seqlen"])
    written = [line for line in pairs.read_text().splitlines() if line.startswith("#scaffold")]  # none of topology
    held = {line.split("\t")[1] for line in pairs.read_text().splitlines() if not line.startswith("#")} - {"scaffold"}
    assert sorted(written) == sorted(f"#scaffold_length length={told[sid]} topology=linear id={sid}" for sid in held)
    code, _, err = run_cli(["embed", annotation, "--fasta", assembly, "-o", emb, "-q"])
    assert code == 0, err
    code, _, err = run_cli(["score", annotation, "--fasta", assembly, "-o", by_genome, "-q"])
    assert code == 0, err
    code, _, err = run_cli(["score", pairs, "--embeddings", emb, "-o", by_table, "-q"])
    assert code == 0 and err == "", err
    assert by_table.read_text() == by_genome.read_text()
    code, _, err = run_cli(["score", pairs, "--embeddings", emb, "--fasta", assembly, "-o", by_table, "-q"])
    assert code == 0 and err == "" and by_table.read_text() == by_genome.read_text(), err
    first = next(iter(sorted(held)))
    other, lines = tmp_path / "other.fna", assembly.read_text().split("\n")
    at = next(i for i, line in enumerate(lines) if line.split()[:1] == [f">{first}"]) + 1
    lines[at] = "ACGTACGTAC" + lines[at]  # one contig 10 bp longer: another assembly
    other.write_text("\n".join(lines))
    code, _, err = run_cli(["score", pairs, "--embeddings", emb, "--fasta", other, "-o", tmp_path / "no.tsv", "-q"])
    assert code == 1 and f"{first} is {told[first]:,} bp by the pairs' '#scaffold_length' line" in err, err
    bare = tmp_path / "bare.gff"
    bare.write_text(without_lengths(gff))
    code, out, err = run_cli(["pairs", bare, "-q"])
    assert code == 0 and "#scaffold" not in out, err


def test_a_subset_table_of_a_draft_gff_without_lengths_keeps_each_contigs_extent(tmp_path):
    """`pairs draft.gff --pairs LIST` of a GFF3 stating no length (Prodigal's without its seqlen lines), without its
    FASTA: each contig is as long as all its genes reach in the genome's route, but the table held only the listed
    genes, so the table route had a 2,000+ bp contig whose listed genes end sooner as short and left it out of the
    spacer calibration, which the same list's table written with the FASTA keeps (every score differed). The table
    says the genome's extent now ('#scaffold_length at_least=N', a bound: no FASTA is checked against it), and
    scores as the one written with the FASTA (contigs whose genes all end under 2,000 bp left out of the list: there
    only the sequence tells the length)."""
    import re

    from microfuse_cli.pairs import genome_from_table, read_pairs

    contigs, assembly, gff = prodigal_draft(tmp_path)
    annotation = tmp_path / "draft.gff"
    annotation.write_text(without_lengths(gff))
    whole = tmp_path / "whole.tsv"
    code, _, err = run_cli(["pairs", annotation, "-o", whole, "-q"])
    assert code == 0 and "#scaffold" not in whole.read_text(), err
    rows = [line.split("\t") for line in whole.read_text().splitlines() if not line.startswith(("#", "pair_id"))]
    reach, last = {}, {}  # each contig's genes' extent, and its last pair
    for row in rows:
        reach[row[1]] = max(reach.get(row[1], 0), int(row[5]), int(row[8]))
        last[row[1]] = row[0]
    length = {name: len(sequence) for name, _, sequence in contigs}
    listed = [row for row in rows if row[0] != last[row[1]] and (reach[row[1]] >= 2_000 or length[row[1]] < 2_000)]
    cut = {}  # how far the listed genes reach on each contig
    for row in listed:
        cut[row[1]] = max(cut.get(row[1], 0), int(row[5]), int(row[8]))
    shortened = sorted(name for name in cut if cut[name] < 2_000 <= reach[name])
    assert len(shortened) > 5 and len(listed) > 100  # what the line is for
    names = tmp_path / "listed.txt"
    names.write_text("".join(f"{row[0]}\n" for row in listed))
    sub, sub_fasta, faa, emb = (tmp_path / name for name in ("sub.tsv", "sub_fasta.tsv", "p.faa", "emb"))
    code, _, err = run_cli(["pairs", annotation, "--pairs", names, "-o", sub, "-q"])
    assert code == 0, err
    told = [line for line in sub.read_text().splitlines() if line.startswith("#scaffold")]
    assert {f"#scaffold_length at_least={reach[name]} topology=linear id={name}" for name in shortened} <= set(told)
    assert all(re.fullmatch(r"#scaffold_length at_least=\d+ topology=linear id=\S+", line) for line in told), told
    rebuilt = genome_from_table(read_pairs(sub), None, None, "draft").scaffolds
    assert {name: s.length for name, s in rebuilt.items()} == {name: reach[name] for name in cut}
    code, _, err = run_cli(["pairs", annotation, "--fasta", assembly, "--pairs", names, "--proteins", faa, "-o",
                            sub_fasta, "-q"])
    assert code == 0, err
    code, _, err = run_cli(["embed", sub_fasta, "--proteins", faa, "--fasta", assembly, "-o", emb, "-q"])
    assert code == 0, err
    scores = []
    for table in (sub_fasta, sub):
        out = tmp_path / f"{table.stem}.scores.tsv"
        code, _, err = run_cli(["score", table, "--embeddings", emb, "-o", out, "-q"])
        assert code == 0, err
        scores.append((_calibration_lines(out), [line for line in out.read_text().splitlines()
                                                 if not line.startswith("#")]))
    assert scores[0] == scores[1] and len(scores[0][1]) > 100
