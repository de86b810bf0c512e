"""`pairs` on real genomes: readers, gene calling, labels, splits, and the CLI's handling of bad input."""

from __future__ import annotations

import gzip

import pytest

from conftest import (
    ECOLI_FNA, ECOLI_GFF, ECOLI_ODB, ECOLI_PAIRS, MG_G37, MPN_FNA, MPN_GFF, MPN_PAIRS, PANEL, ROOT, pyrodigal_data,
    run_cli,
)
from microfuse_cli import pairs as P
from microfuse_cli.errors import DataError
from microfuse_cli.io import tables as T
from microfuse_cli.genome import GenomeOptions, read_genome


def gff_coordinates(path):
    coords = {}
    with gzip.open(path, "rt") as handle:
        for line in handle:
            cols = line.rstrip("\n").split("\t")
            if len(cols) == 9 and cols[2] == "gene" and "gene_biotype=protein_coding" in cols[8]:
                tag = [kv.split("=")[1] for kv in cols[8].split(";") if kv.startswith("locus_tag=")][0]
                coords[tag] = (int(cols[3]), int(cols[4]), cols[6])
    return coords


def test_ecoli_adjacent_pairs_match_gff_coordinates(ecoli_genome):
    pairs = P.adjacent_pairs(ecoli_genome)
    assert 4200 <= len(pairs) <= 4400
    coords = gff_coordinates(ECOLI_GFF)
    for pair in pairs[:-1]:  # the last one wraps around the circular chromosome
        a, b = coords[pair.gene_a.id], coords[pair.gene_b.id]
        assert (pair.gene_a.start, pair.gene_a.end) == a[:2]
        assert pair.distance == b[0] - a[1] - 1
    wrap = pairs[-1]
    assert (wrap.gene_a.id, wrap.gene_b.id) == ("b4403", "b0001")
    assert wrap.distance == 4641652 - wrap.gene_a.end + wrap.gene_b.start - 1
    thr = {p.pair_id: p for p in pairs}["b0002|b0003"]
    assert thr.distance == 1 and thr.same_strand


def test_ecoli_proteins_translate_cleanly(ecoli_genome):
    proteins = {g.id: g.protein for g in ecoli_genome.genes}
    assert proteins["b0001"] == "MKRISTTITTTITITTGNGAG"
    assert sum("X" in p for p in proteins.values()) <= 5  # selenoproteins only


def test_bare_fasta_calls_similar_number_of_genes():
    genome = read_genome(ECOLI_FNA, threads=2)
    assert genome.gene_source == "pyrodigal"
    assert 4150 <= len(genome.genes) <= 4500
    assert all(len(g.protein) >= 20 for g in genome.genes if not g.partial)


def test_metagenomic_contigs_use_meta_mode():
    from microfuse_cli.genes import choose_mode
    from microfuse_cli.io.fasta import read_fasta_scaffolds

    # SRR492066: an 80 kbp metagenomic assembly, too little sequence to train Prodigal on
    path = pyrodigal_data("SRR492066.fna.gz")
    assert choose_mode(read_fasta_scaffolds(path)) == "meta"
    genome = read_genome(path)
    assert len(genome.genes) > 50
    expected = gzip.decompress(pyrodigal_data("SRR492066.meta.faa.gz").read_bytes()).decode().count(">")
    assert len(genome.genes) == expected  # same calls as Prodigal's own meta mode
    # MIIJ01000039 is one 870 kbp contig: single mode by default, meta when asked
    miij = pyrodigal_data("MIIJ01000039.fna.gz")
    assert choose_mode(read_fasta_scaffolds(miij)) == "single"
    meta = read_genome(miij, None, GenomeOptions(mode="meta"))
    assert abs(len(meta.genes) - gzip.decompress(pyrodigal_data("MIIJ01000039.meta.faa.gz").read_bytes()).decode().count(">")) <= 2
    assert all(p.gene_a.scaffold == p.gene_b.scaffold for p in P.adjacent_pairs(meta))


def test_odb_labels_over_a_thousand_positives(ecoli_pairs):
    positives = sum(p.label == 1 for p in ecoli_pairs)
    negatives = sum(p.label == 0 for p in ecoli_pairs)
    assert positives > 1000 and negatives > 1000
    # positives are same-strand by construction of a transcription unit (a few curation errors in ODB)
    assert sum(not p.same_strand for p in ecoli_pairs if p.label == 1) < 10
    import statistics

    assert statistics.median(p.distance for p in ecoli_pairs if p.label == 1) < 30
    assert statistics.median(p.distance for p in ecoli_pairs if p.label == 0) > 100


def test_regulondb_operonset_labels_through_gene_names(ecoli_genome):
    units = T.read_operon_table(ECOLI_ODB.parent / "regulondb_9.3" / "OperonSet.txt")
    labelled, unmatched = P.label_with_operons(ecoli_genome, P.adjacent_pairs(ecoli_genome), units)
    assert sum(p.label == 1 for p in labelled) > 1000
    assert unmatched < 600


def test_pair_list_resolves_all_but_a_handful(ecoli_genome):
    listed = T.read_pair_list(ECOLI_PAIRS)
    resolved = P.pairs_from_list(ecoli_genome, listed)
    assert len(listed) == 3824
    assert len(resolved.pairs) >= len(listed) - 10
    assert len(set(resolved.unknown)) <= 10
    assert all(p.label in (0, 1) for p in resolved.pairs)


def test_mpneumoniae_old_locus_tags_and_code_4():
    genome = read_genome(MPN_GFF, MPN_FNA)
    assert all(g.genetic_code == 4 for g in genome.genes)
    assert sum("X" in g.protein for g in genome.genes) == 0  # UGA = Trp under code 4
    resolved = P.pairs_from_list(genome, T.read_pair_list(MPN_PAIRS))
    assert len(resolved.pairs) >= 365


def test_a_labelled_pairs_tsv_of_microfuse_is_a_pair_list_for_labels_and_pairs(tmp_path):
    """`pairs --operons` writes labels that `evaluate --labels` and `score --labels`/`--pairs` should take: they
    read its first three columns (pair_id, scaffold, gene_a) and stopped at "label 'MPN_001' is not 0/1"."""
    labelled, scores = tmp_path / "labelled pairs.tsv", tmp_path / "scores.tsv"
    known = MPN_PAIRS.with_name("odb4_known_operons_mpneumoniae.tsv")
    code, _, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "--operons", known, "-o", labelled, "-q"])
    assert code == 0, err
    listed = T.read_pair_list(labelled)
    assert len(listed) == 687 and listed[0][:2] == ("MPN_001", "MPN_002")
    assert {label for _, _, label in listed} == {0, 1, None}  # unlabelled pairs stay unlabelled
    code, _, err = run_cli(["score", MPN_GFF, "--fasta", MPN_FNA, "-o", scores, "-q"])
    assert code == 0, err
    code, with_labels, err = run_cli(["evaluate", scores, "--labels", labelled, "--bootstrap", "0", "-q"])
    assert code == 0, err
    labelled_scores = tmp_path / "labelled scores.tsv"  # a scores TSV (its '#' lines first) with a label column
    code, _, err = run_cli(["score", MPN_GFF, "--fasta", MPN_FNA, "--operons", known, "-o", labelled_scores, "-q"])
    assert code == 0, err
    assert T.read_pair_list(labelled_scores) == listed
    n = sum(label is not None for _, _, label in listed)
    assert with_labels.splitlines()[1].split("\t")[1:3] == [str(n), str(sum(label == 1 for _, _, label in listed))]
    code, text, err = run_cli(["score", MPN_GFF, "--fasta", MPN_FNA, "--pairs", labelled, "-q"])
    assert code == 0, err
    assert len([line for line in text.splitlines() if not line.startswith("#")]) == 1 + 687


def test_a_pairs_tsv_row_cut_short_is_refused_not_read_as_an_empty_gene(tmp_path):
    """A microfuse pairs TSV read as a pair list: a row cut short (a truncated copy) was padded with empty ids and
    read as the pair ('MPN_003', ''), which matched no gene with a blank name in the warning."""
    listed = tmp_path / "short.tsv"
    listed.write_text("gene_a\tgene_b\tlabel\nMPN_001\tMPN_002\t1\nMPN_003\n")
    with pytest.raises(DataError, match="line 3: a row cut short"):
        T.read_pair_list(listed)
    code, _, err = run_cli(["score", MPN_GFF, "--fasta", MPN_FNA, "--pairs", listed, "-q"])
    assert code == 1 and "line 3: a row cut short" in err


def test_splits_keep_blocks_together(ecoli_pairs):
    split = P.assign_splits(ecoli_pairs, (0.7, 0.15, 0.15), seed=1)
    counts = {name: sum(p.split == name for p in split) for name in ("train", "val", "test")}
    assert abs(counts["train"] / len(split) - 0.7) < 0.03
    changes = sum(1 for x, y in zip(split, split[1:]) if x.split != y.split)
    assert changes <= len(split) // 50 + 1  # contiguous blocks of 50 pairs
    assert [p.split for p in P.assign_splits(ecoli_pairs, (0.7, 0.15, 0.15), seed=1)] == [p.split for p in split]


def test_og_rule_is_a_function_of_spacer(ecoli_pairs):
    labelled = P.label_og(ecoli_pairs)
    for p in labelled:
        if p.label == 1:
            assert p.same_strand and -20 <= p.distance <= 40
        elif p.label == 0:
            assert not p.same_strand or p.distance >= 600


def test_multi_record_panel_genome_with_plasmids():
    gff = PANEL / "GCF_000091665.1_ASM9166v1_genomic.gff.gz"
    fna = PANEL / "GCF_000091665.1_ASM9166v1_genomic.fna.gz"
    genome = read_genome(gff, fna)
    assert len(genome.scaffolds) == 3
    assert all(p.gene_a.scaffold == p.gene_b.scaffold for p in P.adjacent_pairs(genome))


# ------------------------------------------------------------------------------------------------ CLI


def test_cli_pairs_tsv_columns_and_proteins(tmp_path):
    out, faa = tmp_path / "pairs.tsv", tmp_path / "genes.faa"
    code, _, err = run_cli(["pairs", ECOLI_GFF, "--fasta", ECOLI_FNA, "-o", out, "--proteins", faa,
                            "--operons", ECOLI_ODB, "--split", "0.7,0.15,0.15"])
    assert code == 0, err
    lines = [line for line in out.read_text().splitlines() if not line.startswith("#")]
    assert lines[0].split("\t")[:12] == T.PAIR_COLUMNS
    assert lines[0].split("\t")[-2:] == ["label", "split"]
    assert len(lines) - 1 == 4288
    assert faa.read_text().count(">") == 4288
    table = P.read_pairs(out)
    assert sum(p.label == 1 for p in table.pairs) > 1000


def test_cli_stdout_and_gzip_stdin(tmp_path):
    data = gzip.compress(pyrodigal_data("MIIJ01000039.fna.gz").read_bytes() and gzip.decompress(
        pyrodigal_data("MIIJ01000039.fna.gz").read_bytes()))
    code, out, err = run_cli(["pairs", "-", "-q"], stdin=data)
    assert code == 0, err
    assert out.split("\n")[0].endswith(" pairs genome=stdin") and out.split("\n")[1].startswith("#genes source=")
    assert out.split("\n")[2].startswith("#partial_genes count=")  # a contig of a draft: genes cut by its ends
    assert out.split("\n")[3].startswith("#scaffold length=869782 topology=linear id=562.SAMN05730656.MIIJ01000039")
    assert out.split("\n")[4].startswith("pair_id\t") and out.count("\n") > 100
    assert err == ""


def test_cli_pairs_list_reports_unknown_ids(tmp_path):
    listing = tmp_path / "pairs.csv"
    listing.write_text("name_1,name_2\nthrA,thrB\nb0003,nosuchgene\n")
    out = tmp_path / "p.tsv"
    code, _, err = run_cli(["pairs", ECOLI_GFF, "--fasta", ECOLI_FNA, "--pairs", listing, "-o", out])
    assert code == 0
    assert "nosuchgene" in err
    assert len([line for line in out.read_text().splitlines() if not line.startswith("#")]) == 2


BAD_INPUTS = {
    "empty": b"",
    "binary": bytes(range(256)) * 8,
    "malformed_gff": b"##gff-version 3\nchr1\tx\tCDS\t10\n",
    "bad_coordinates": b"##gff-version 3\nchr1\tx\tCDS\tten\t20\t.\t+\t0\tID=a\n",
    "truncated_fasta": b">contig1\n>contig2\n",  # (one empty record among others is skipped with a warning)
    "protein_fasta": b">p1\nMKRISTTITTTITITTGNGAGLEEQQWP\n",
    "truncated_gzip": gzip.compress(b">c\n" + b"ACGT" * 1000)[:40],
}


@pytest.mark.parametrize("name", sorted(BAD_INPUTS))
def test_cli_bad_input_one_line_error(tmp_path, name):
    path = tmp_path / f"{name}.dat"
    path.write_bytes(BAD_INPUTS[name])
    out = tmp_path / "out.tsv"
    code, stdout, err = run_cli(["pairs", path, "-o", out])
    assert code == 1, err
    *before, last = err.splitlines()  # one error line, after any warnings about the records read
    assert last.startswith("error: ") and all(line.startswith("warning: ") for line in before), err
    assert "Traceback" not in err and not out.exists()
    if name == "truncated_fasta":  # the record the file ends on is said to be cut short
        assert any("the file ends on it: truncated?" in line for line in before), err


def test_cli_gff_seqid_missing_from_fasta(tmp_path):
    gff = tmp_path / "x.gff"
    gff.write_text("##gff-version 3\nchrX\tx\tCDS\t1\t30\t.\t+\t0\tID=a;locus_tag=a\n")
    fasta = tmp_path / "x.fna"
    fasta.write_text(">chr1\n" + "ATG" * 20 + "\n")
    code, _, err = run_cli(["pairs", gff, "--fasta", fasta])
    assert code == 1 and "chrX" in err and "not found" in err


def test_cli_windows_line_endings(tmp_path):
    text = gzip.decompress(MPN_GFF.read_bytes()).decode()
    crlf = tmp_path / "mpn.gff"
    crlf.write_bytes(text.replace("\n", "\r\n").encode())
    out = tmp_path / "p.tsv"
    code, _, err = run_cli(["pairs", crlf, "--fasta", MPN_FNA, "-o", out])
    assert code == 0, err
    assert out.read_text().count("\n") > 600 and "\r" not in out.read_text()


def test_cli_bad_usage_exit_2(tmp_path):
    code, _, err = run_cli(["pairs", ECOLI_GFF, "--split", "a,b"])
    assert code == 2 and err.startswith("error: ")
    code, _, err = run_cli(["pairs", "--no-such-option"])
    assert code == 2
    code, out, _ = run_cli(["--version"])
    assert code == 0 and "microfuse" in out


def test_cli_missing_file(tmp_path):
    code, _, err = run_cli(["pairs", tmp_path / "nope.gff"])
    assert code == 1 and "no such file" in err


def test_output_is_atomic_on_failure(tmp_path):
    out = tmp_path / "pairs.tsv"
    out.write_text("previous\n")
    bad = tmp_path / "bad.gff"
    bad.write_text("##gff-version 3\nchr1\tx\tCDS\t1\t2\n")
    code, _, _ = run_cli(["pairs", bad, "-o", out])
    assert code == 1 and out.read_text() == "previous\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_genbank_reader(tmp_path):
    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqFeature import FeatureLocation, SeqFeature
    from Bio.SeqRecord import SeqRecord

    genome = read_genome(MPN_GFF, MPN_FNA)
    scaffold = next(iter(genome.scaffolds.values()))
    record = SeqRecord(Seq(scaffold.sequence), id=scaffold.id, annotations={"molecule_type": "DNA", "topology": "circular"})
    for gene in genome.genes[:50]:
        loc = FeatureLocation(gene.start - 1, gene.end, strand=gene.strand)
        record.features.append(SeqFeature(loc, type="CDS", qualifiers={"locus_tag": [gene.id], "transl_table": ["4"]}))
    path = tmp_path / "mpn.gbk"
    SeqIO.write(record, path, "genbank")
    parsed = read_genome(path)
    assert [g.id for g in parsed.genes] == [g.id for g in genome.genes[:50]]
    assert [g.protein for g in parsed.genes] == [g.protein for g in genome.genes[:50]]
    assert next(iter(parsed.scaffolds.values())).circular


@pytest.mark.parametrize("gff_id, fasta_id", [("NC_000912.1", "NC_000912"), ("NC_000912", "NC_000912.1")])
def test_cli_gff_seqid_differing_from_fasta_by_version(gff_id, fasta_id, tmp_path):
    """M. pneumoniae's GFF3 and FASTA with the accession's version on one side only (a renamed FASTA, a tool that
    strips versions): refused, and the error names the FASTA's id that differs only by its version (was: 'not
    found' alone, the user left to guess)."""
    text = gzip.decompress(MPN_GFF.read_bytes()).decode().replace("NC_000912.1", gff_id)
    fasta = gzip.decompress(MPN_FNA.read_bytes()).decode()
    (tmp_path / "mpn.gff").write_text(text)
    (tmp_path / "mpn.fna").write_text(">" + fasta_id + fasta[fasta.index(" "):])
    code, _, err = run_cli(["pairs", tmp_path / "mpn.gff", "--fasta", tmp_path / "mpn.fna", "-o", tmp_path / "p"])
    assert code == 1 and err.count("\n") == 1, err
    assert f"{gff_id} not found in the FASTA sequences (the FASTA has {fasta_id}: " in err, err


def test_every_column_pairs_writes_is_explained_in_its_help(tmp_path):
    """`pairs --help` named distance alone: `directon` (0, 1, ... or -1) and `genes_between` were left to guess, and
    the README's table left out genes_between. Every column of a labelled, split table is now named in the help."""
    out = tmp_path / "pairs.tsv"
    code, _, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "--labels", MPN_PAIRS, "--split", "0.7,0.15,0.15",
                            "-o", out])
    assert code == 0, err
    header = [line for line in out.read_text().splitlines() if not line.startswith("#")][0].split("\t")
    assert {"directon", "genes_between", "label", "split"} <= set(header)
    code, text, _ = run_cli(["pairs", "--help"])
    assert code == 0
    words = set(text.replace("(", " ").replace(")", " ").replace(",", " ").split())
    assert [c for c in header if c not in words] == []


def test_labels_of_a_list_without_labels_is_an_error_not_an_unlabelled_table(tmp_path):
    """`score --labels two_columns.tsv` (or an unlabelled pairs TSV) scored the listed pairs with no label column
    and exit 0, so `evaluate` or `train` failed later on 'no label column'; `evaluate --labels` refused the same
    file at once. Every command now refuses it, naming --pairs for a list of pairs alone."""
    listed = tmp_path / "pairs_only.tsv"
    listed.write_text("MPN_001\tMPN_002\nMPN_002\tMPN_003\n")
    for command in ("pairs", "score"):
        out = tmp_path / f"{command}.tsv"
        code, _, err = run_cli([command, MPN_GFF, "--fasta", MPN_FNA, "--labels", listed, "-o", out])
        assert code == 1 and err.splitlines()[-1] == (
            f"error: {listed}: no pair has a label (--labels takes name_1,name_2,label or a labelled pairs TSV; "
            "a list of pairs alone is --pairs)"), err
        assert not out.exists()
    listed.write_text("MPN_001\tMPN_002\t1\nMPN_002\tMPN_003\t\n")  # one label is enough: the other stays unlabelled
    code, _, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "--labels", listed, "-o", tmp_path / "ok.tsv"])
    assert code == 0, err
    rows = [line.split("\t") for line in (tmp_path / "ok.tsv").read_text().splitlines() if not line.startswith("#")]
    assert [r[rows[0].index("label")] for r in rows[1:]] == ["1", ""]


def test_labels_written_by_pandas_as_1_0_and_0_0_are_labels(tmp_path):
    """pandas writes a 0/1 label column with gaps as 1.0/0.0/empty: `--labels` read them as 1/0, as `evaluate` reads
    a scores table's (was: "label '1.0' is not 0/1"); 1.5 stays refused."""
    written = {}
    for form, (one, zero) in {"int": ("1", "0"), "pandas": ("1.0", "0.0")}.items():
        listed = tmp_path / f"{form}.csv"
        listed.write_text(f"name_1,name_2,label\nMPN_001,MPN_002,{one}\nMPN_002,MPN_003,{zero}\nMPN_003,MPN_004,\n")
        out = tmp_path / f"{form}.tsv"
        code, _, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "--labels", listed, "-o", out])
        assert code == 0, err
        written[form] = [line for line in out.read_text().splitlines() if not line.startswith("#")]
    assert written["pandas"] == written["int"] and [row.split("\t")[-1] for row in written["int"][1:]] == ["1", "0", ""]
    listed.write_text("name_1,name_2,label\nMPN_001,MPN_002,1.5\n")
    code, _, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "--labels", listed])
    assert code == 1 and err.splitlines()[-1] == f"error: {listed}: line 2: label '1.5' is not 0/1 (1/0, 1.0/0.0, " \
        "yes/no, true/false, t/f; empty: unlabelled)", err  # evaluate's message for a scores table's: one rule


def test_a_labelled_pair_listed_twice_is_one_row_and_two_labels_are_refused(tmp_path):
    """`score --labels` of MG_001,MG_002,1 and MG_002,MG_001,0 wrote two rows of one pair_id with both labels (exit
    0), which `train` and `evaluate` then counted twice; one label twice was two rows too. Now: refused naming the
    pair (exit 1), and one row when the labels agree."""
    from conftest import MG_G37, run_cli

    genome = [f"{MG_G37}.gff.gz", "--fasta", f"{MG_G37}.fna.gz", "--genetic-code", "4"]
    labels = tmp_path / "labels.csv"
    labels.write_text("MG_001,MG_002,1\nMG_002,MG_001,0\nMG_002,MG_003,1\n")
    out = tmp_path / "s.tsv"
    code, _, err = run_cli(["score", *genome, "--labels", labels, "-o", out, "-q"])
    assert code == 1 and not out.exists() and err.count("\n") == 1, err
    assert "MG_001 MG_002 is labelled both 0 and 1" in err, err
    labels.write_text("MG_001,MG_002,1\nMG_002,MG_001,1\nMG_002,MG_003,0\n")
    code, _, err = run_cli(["score", *genome, "--labels", labels, "-o", out, "-q"])
    rows = [line.split("\t") for line in out.read_text().splitlines() if not line.startswith("#")]
    assert code == 0 and [(r[0], r[rows[0].index("label")]) for r in rows[1:]] == [
        ("MG_001|MG_002", "1"), ("MG_002|MG_003", "0")], err


def test_a_list_of_pair_ids_selects_those_pairs(tmp_path):
    """`cut -f1 scores.tsv | grep ... | microfuse score --pairs -`: a one-column list of pair ids (A|B, the first
    column of every microfuse TSV, under its `pair_id` header) was 'expected two gene ids, found 1 field(s)'."""
    from conftest import MG_G37, run_cli

    genome = [f"{MG_G37}.gff.gz", "--fasta", f"{MG_G37}.fna.gz", "--genetic-code", "4"]
    code, all_scores, err = run_cli(["score", *genome, "-o", "-", "-q"])
    assert code == 0, err
    rows = [line for line in all_scores.splitlines() if not line.startswith("#")]
    picked = "\n".join(line.split("\t")[0] for line in [rows[0], rows[5], rows[9]]) + "\n"
    code, out, err = run_cli(["score", *genome, "--pairs", "-", "-o", "-", "-q"], stdin=picked.encode())
    got = [line for line in out.splitlines() if not line.startswith("#")]
    assert code == 0 and got == [rows[0], rows[5], rows[9]], err


def test_pairs_tsv_records_its_genome_and_how_its_genes_were_found(tmp_path):
    """`microfuse pairs` wrote no provenance: `embed pairs.tsv` and `score pairs.tsv --embeddings` named the genome
    after the table ('pairs.tsv'), not as `score GENOME` does, and scoring the table said `#genes source=pairs_table`
    though its genes came from an annotation or pyrodigal. The table now opens with `#microfuse VERSION pairs
    genome=NAME` and score's `#genes` line, which read_pairs returns; its rows are unchanged, and a table without the
    lines (older, or made by hand) reads as before, with neither."""
    from microfuse_cli import __version__
    from microfuse_cli.genome import GenomeOptions

    gff, fna = f"{MG_G37}.gff.gz", f"{MG_G37}.fna.gz"
    for args, name, genes in (
            ([gff, "--fasta", fna], f"{MG_G37.name}.gff.gz", "genes source=annotation genetic_code=4"),
            ([fna], f"{MG_G37.name}.fna.gz", "genes source=pyrodigal:single genetic_code=4")):
        out = tmp_path / "pairs.tsv"
        code, _, err = run_cli(["pairs", *args, "-o", out, "-q"])
        assert code == 0, err
        lines = out.read_text().splitlines()
        assert lines[:3] == [f"#microfuse {__version__} pairs genome={name}", f"#{genes}",
                             "#scaffold length=580076 topology=linear id=NC_000908.2"]
        assert lines[3].split("\t")[:12] == T.PAIR_COLUMNS and not any(line.startswith("#") for line in lines[4:])
        table = P.read_pairs(out)
        assert (table.genome_name, table.genes_comment) == (name, genes)
        genome = read_genome(args[0], args[2] if len(args) > 1 else None, GenomeOptions())
        assert [p.pair_id for p in table.pairs] == [p.pair_id for p in P.adjacent_pairs(genome)]
        assert P.genes_comment(genome) == genes and genome.name == name
    bare = tmp_path / "bare.tsv"
    bare.write_text("\n".join(lines[3:]) + "\n")  # the last (pyrodigal) table without its '#' lines
    old = P.read_pairs(bare)
    assert (old.genome_name, old.genes_comment, old.comments, old.scaffolds) == (None, None, (), None)
    assert old.pairs == table.pairs


def test_pairs_tsv_genome_line_keeps_a_file_name_with_spaces_and_odd_bytes(tmp_path):
    """The genome's name runs to the end of its line, so a file name with spaces (or words like ``model_id=``) reads
    back whole, as records.genome_name gives it; control characters are written as U+FFFD, as every output does."""
    import shutil

    from microfuse_cli.records import genome_name, printable_name

    for name in ("my genome model_id=x.gff.gz", "g\tx.gff.gz"):
        gff = tmp_path / name
        shutil.copy(f"{MG_G37}.gff.gz", gff)
        out = tmp_path / "pairs.tsv"
        code, _, err = run_cli(["pairs", gff, "--fasta", f"{MG_G37}.fna.gz", "-o", out, "-q"])
        assert code == 0, err
        table = P.read_pairs(out)
        assert table.genome_name == printable_name(genome_name(gff)) == name.replace("\t", "\ufffd")
        assert out.read_text().count("\n") == 3 + 1 + 475  # the name's tab split no line


def test_a_bad_row_of_a_pairs_tsv_is_named_by_its_line_in_the_file(tmp_path):
    """Errors in a pairs TSV named the row by its place among the non-'#' lines: with the two '#' lines `pairs` now
    writes, 'line 5' was the file's line 7 (what `sed -n 7p`, an editor or `grep -n` show); a blank or '#' line
    between rows shifted it further. Rows are now named by their line in the file."""
    code, out, err = run_cli(["pairs", f"{MG_G37}.gff.gz", "--fasta", f"{MG_G37}.fna.gz", "-q"])
    assert code == 0 and out.startswith("#microfuse "), err
    lines = out.splitlines()
    strand = lines[6].split("\t")  # below three '#' lines and the header
    strand[6] = "X"  # strand_a of the file's line 7
    bad = tmp_path / "strand.tsv"
    bad.write_text("\n".join([*lines[:6], "\t".join(strand), *lines[7:]]) + "\n")
    with pytest.raises(DataError, match=r"strand\.tsv: line 7: bad value \(gene 'MG_003'"):
        P.read_pairs(bad)
    code, _, err = run_cli(["embed", bad, "--fasta", f"{MG_G37}.fna.gz", "-o", tmp_path / "emb", "-q"])
    assert code == 1 and "strand.tsv: line 7: bad value" in err and not (tmp_path / "emb").exists()
    short = tmp_path / "short.tsv"  # a blank line, then line 10 cut short
    short.write_text("\n".join([*lines[:5], "", *lines[5:8], lines[8].rsplit("\t", 1)[0], *lines[9:]]) + "\n")
    with pytest.raises(DataError, match=r"short\.tsv: line 10 has 15 fields, header has 16"):
        P.read_pairs(short)


def test_two_pairs_tables_joined_with_their_headers_are_refused_naming_the_second_header(tmp_path):
    """`(cat a.tsv; tail -n +2 b.tsv) > ab.tsv` joined two pairs tables when they began with their header; now that
    each begins with two '#' lines, `tail -n +2` leaves b's header in the middle, which was refused as a row with a
    bad value ("invalid literal for int() ... 'start_a'"). The message now says what the line is and how to join
    tables."""
    tables = []
    for args in ([f"{MG_G37}.gff.gz", "--fasta", f"{MG_G37}.fna.gz"], [MPN_GFF, "--fasta", MPN_FNA]):
        code, out, err = run_cli(["pairs", *args, "-q"])
        assert code == 0, err
        tables.append(out.splitlines(True))
    joined = tmp_path / "ab.tsv"
    joined.write_text("".join(tables[0] + tables[1][1:]))
    line = len(tables[0]) + 3  # b's header, after its '#genes' and '#scaffold' lines
    with pytest.raises(DataError, match=rf"ab\.tsv: line {line}: a second header line \(tables joined\?"):
        P.read_pairs(joined)
    code, _, err = run_cli(["embed", joined, "--fasta", f"{MG_G37}.fna.gz", "-o", tmp_path / "emb", "-q"])
    assert code == 1 and f"line {line}: a second header line" in err and "grep -hv '^#'" in err
    fine = tmp_path / "fine.tsv"  # as the message says: every '#' line out, then the headers after the first
    body = ["".join(line for line in t if not line.startswith("#")) for t in tables]
    fine.write_text(body[0] + body[1].split("\n", 1)[1])
    assert len(P.read_pairs(fine).pairs) == sum(len(b.splitlines()) - 1 for b in body)


def test_a_table_of_some_pairs_says_it_is_a_subset_of_its_genome(tmp_path):
    """`pairs --labels L` / `--pairs P` writes only those pairs, and so only their genes: `embed` and `score` of it
    calibrate on the subset and see its genes alone, so every score differs from `score GENOME --labels L`'s, and the
    table did not say it was a part. It says so now ('#subset of=N pairs', N the genome's adjacent pairs); the whole
    genome's table, labelled or split, does not."""
    whole, sub, listed = tmp_path / "whole.tsv", tmp_path / "sub.tsv", tmp_path / "listed.tsv"
    code, _, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "--label-rule", "og", "--split", "0.7,0.15,0.15",
                            "-o", whole, "-q"])
    assert code == 0, err
    rows = [line for line in whole.read_text().splitlines() if not line.startswith("#")]
    assert not [line for line in whole.read_text().splitlines() if line.startswith("#subset")]
    code, _, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "--labels", MPN_PAIRS, "-o", sub, "-q"])
    assert code == 0, err
    lines = sub.read_text().splitlines()
    assert f"#subset of={len(rows) - 1} pairs" in lines and len([l for l in lines if not l.startswith("#")]) < len(rows)
    listed.write_text("\n".join(row.split("\t")[0] for row in rows[1:3]) + "\n")
    code, _, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "--pairs", listed, "-o", sub, "-q"])
    assert code == 0, err
    assert f"#subset of={len(rows) - 1} pairs" in sub.read_text().splitlines()
    table = P.read_pairs(sub)
    assert table.subset_of == len(rows) - 1 and len(table.pairs) == 2 and P.read_pairs(whole).subset_of is None
    joined = tmp_path / "joined.tsv"  # two subsets' headers of two genomes put together: not one count kept silently
    text = sub.read_text()
    told = f"#subset of={len(rows) - 1} pairs"
    joined.write_text(text.replace(told, f"{told}\n#subset of=9 pairs"))
    with pytest.raises(DataError, match="two '#subset' lines of two counts"):
        P.read_pairs(joined)


def test_no_module_of_the_package_imports_one_that_imports_it():
    """One module per pipeline stage, no circles: pairs.py imported calibration (MIN_FRAGMENT_LENGTH, inside
    ``unmeasured_fragments``) while calibration.py imports GenePair from pairs.py. Imports inside functions count:
    they hide a circle from the interpreter, not from the design."""
    import ast
    from pathlib import Path

    import microfuse_cli

    package = Path(microfuse_cli.__file__).parent
    modules = {path.stem for path in package.glob("*.py")}
    imports = {}
    for path in package.glob("*.py"):
        named = set()
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ImportFrom) and node.level == 1:
                named.update([node.module.split(".")[0]] if node.module else [alias.name for alias in node.names])
        imports[path.stem] = sorted(named & modules - {path.stem})

    def circle(start):
        """A path of imports from ``start`` back to it, or None."""
        stack, seen = [(start, [start])], set()
        while stack:
            module, path = stack.pop()
            for imported in imports[module]:
                if imported == start:
                    return path + [start]
                if imported not in seen:
                    seen.add(imported)
                    stack.append((imported, path + [imported]))
        return None

    circles = [" -> ".join(found) for found in map(circle, sorted(imports)) if found]
    assert len(imports) > 10 and "calibration" in imports["score"], imports
    assert not circles, circles


def test_pairs_piped_into_embed_with_their_proteins(tmp_path):
    """`pairs G --proteins p.faa | embed - --proteins p.faa` failed 'no such file: p.faa': embed checked it before
    reading the table, while pairs writes p.faa (before its table) only as it ends. embed now looks for it once the
    table on stdin has ended."""
    import os
    import shlex
    import subprocess
    import sys

    run = f"{shlex.quote(sys.executable)} -m microfuse_cli"
    genome = f"{shlex.quote(str(MPN_GFF))} --fasta {shlex.quote(str(MPN_FNA))}"
    line = (f"set -o pipefail; {run} pairs {genome} --proteins p.faa -q | "
            f"{run} embed - --proteins p.faa --fasta {shlex.quote(str(MPN_FNA))} -o emb -q")
    result = subprocess.run(["bash", "-c", line], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert (tmp_path / "emb" / "manifest.json").is_file() and (tmp_path / "p.faa").is_file()


def test_embed_of_a_table_on_stdin_says_why_its_proteins_file_must_exist(tmp_path):
    """A --proteins file still missing once the table on stdin has ended: one line that says it had to be written
    first (exit 1, nothing written)."""
    table = tmp_path / "pairs.tsv"
    code, _, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "-o", table, "-q"])
    assert code == 0, err
    missing = tmp_path / "p.faa"
    code, out, err = run_cli(["embed", "-", "--proteins", missing, "--fasta", MPN_FNA, "-o", tmp_path / "emb", "-q"],
                             stdin=table.read_bytes())
    assert code == 1 and out == "", err
    assert err == f"error: no such file: {missing} (--proteins of the table on stdin, looked for once it ended; " \
        "write it first, e.g. run `microfuse pairs --proteins` to a file or in the pipe)\n", err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.tsv"]


def test_embed_of_a_table_on_stdin_refuses_a_proteins_path_no_command_can_write_at_once(tmp_path):
    """--proteins is looked for once the table on stdin ends (so `pairs --proteins p.faa | embed - --proteins
    p.faa` works, above), but a path whose folder does not exist can never appear (pairs refuses to write there):
    a typo in it was said only once stdin ended, after the whole upstream run. Said now while stdin is still open
    (exit 1, nothing written)."""
    import os
    import subprocess
    import sys

    for proteins in ("nothere/p.faa", "file/p.faa"):
        (tmp_path / "file").write_text("")
        embed = subprocess.Popen([sys.executable, "-m", "microfuse_cli", "embed", "-", "--proteins", proteins,
                                  "--fasta", str(MPN_FNA), "-o", "emb", "-q"], cwd=tmp_path, stdin=subprocess.PIPE,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                 env={**os.environ, "PYTHONPATH": str(ROOT)})
        try:  # stdin is left open (communicate would close it): an upstream command still running
            embed.wait(timeout=60)
        except subprocess.TimeoutExpired:
            embed.kill()
            embed.communicate()
            raise AssertionError(f"--proteins {proteins}: still waiting for stdin to end") from None
        finally:
            embed.stdin.close()
        out, err = embed.stdout.read(), embed.stderr.read()
        embed.stdout.close(), embed.stderr.close()
        assert embed.returncode == 1 and out == "", err
        folder, what = ("nothere", "does not exist") if proteins.startswith("nothere") else ("file", "is not a folder")
        assert err == f"error: no such file: {proteins} (--proteins of the table on stdin: its folder {folder} " \
            f"{what}, so nothing can write it while the table is read)\n", err
        assert sorted(p.name for p in tmp_path.iterdir()) == ["file"]


def test_a_pairs_tables_label_column_is_read_by_the_rule_of_label_lists(tmp_path):
    """A pairs TSV's label cells (a table labelled by hand or through pandas) were int()s: 1.0 or yes was
    'bad value (invalid literal for int() ...)' where --labels and evaluate read them as 1; one rule now, and one
    message naming file, line and cell for what it refuses."""
    out = tmp_path / "pairs.tsv"
    code, _, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "-o", out, "-q"])
    assert code == 0, err
    lines = out.read_text().split("\n")
    at = next(i for i, line in enumerate(lines) if line.startswith("pair_id\t"))
    lines[at] += "\tlabel"
    cells = ["1.0", "yes", "0", "No", ""]
    for i, cell in enumerate(cells):
        lines[at + 1 + i] += f"\t{cell}"
    for i in range(at + 1 + len(cells), len(lines)):
        if lines[i]:
            lines[i] += "\t"
    out.write_text("\n".join(lines))
    assert [p.label for p in P.read_pairs(out).pairs[:5]] == [1, 1, 0, 0, None]
    lines[at + 1] = lines[at + 1].rsplit("\t", 1)[0] + "\t2"
    out.write_text("\n".join(lines))
    with pytest.raises(DataError) as caught:
        P.read_pairs(out)
    assert str(caught.value) == f"{out}: line {at + 2}: label '2' is not 0/1 (1/0, 1.0/0.0, yes/no, true/false, " \
        "t/f; empty: unlabelled)"


def test_pairs_through_a_process_substitution_into_embed_with_their_proteins(tmp_path):
    """`embed <(pairs G --proteins p.faa) --proteins p.faa`, a pipe as INPUT as stdin is: it was still 'no such file:
    p.faa', looked for before the table was read; now once the table has ended, as for `embed -`."""
    import os
    import shlex
    import subprocess
    import sys

    run = f"{shlex.quote(sys.executable)} -m microfuse_cli"
    pairs = f"sleep 1; {run} pairs {shlex.quote(str(MPN_GFF))} --fasta {shlex.quote(str(MPN_FNA))} --proteins p.faa -q"
    line = f"{run} embed <({pairs}) --proteins p.faa --fasta {shlex.quote(str(MPN_FNA))} -o emb -q"
    result = subprocess.run(["bash", "-c", line], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0 and result.stderr == "", result.stderr
    assert (tmp_path / "emb" / "manifest.json").is_file() and (tmp_path / "p.faa").is_file()


def test_a_labels_list_of_every_adjacent_pair_and_more_is_not_called_a_subset(tmp_path):
    """`pairs --labels L` where L lists every adjacent pair and pairs of non-adjacent genes besides (a superset)
    wrote '#subset of=N pairs', though the table holds every gene of the genome's pairs, as its whole table does,
    and `embed`/`score` of it warned that its context and calibration were a subset's. A list that lacks an adjacent
    pair is still a subset, whatever else it holds."""
    whole, table = tmp_path / "whole.tsv", tmp_path / "table.tsv"
    code, _, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "-o", whole, "-q"])
    assert code == 0, err
    adjacent = [row.split("\t")[2:4] for row in whole.read_text().splitlines()[1:] if not row.startswith("#")][1:]
    labelled = [line for line in open(MPN_PAIRS).read().splitlines()[1:] if line]
    superset, subset = tmp_path / "superset.csv", tmp_path / "subset.csv"
    superset.write_text("name_1,name_2,label\n" + "".join(f"{a},{b},\n" for a, b in adjacent) + "\n".join(labelled)
                        + "\n")
    subset.write_text("name_1,name_2,label\n" + "".join(f"{a},{b},1\n" for a, b in adjacent[1:]))  # all but one
    for listed, apart, told in ((superset, 56, None), (subset, 0, len(adjacent))):
        code, _, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "--labels", listed, "-o", table, "-q"])
        assert code == 0, err
        read = P.read_pairs(table)
        assert sum(p.genes_between > 0 for p in read.pairs) == apart  # 56 labelled pairs of non-adjacent genes
        assert read.subset_of == told and len(read.pairs) == len(adjacent) - 1 + apart + (told is None), listed


def test_a_subset_line_its_rows_contradict_is_refused(tmp_path):
    """'#subset of=N pairs' was not checked against the rows: a hand-edited N, or a whole table's rows under a
    subset's header, were read as told (and `score` warned of a subset, or copied a wrong count). A subset lacks
    some of the genome's N adjacent pairs: N or more pairs of neighbouring genes under it are refused, in one line
    naming the file and the line."""
    sub, whole = tmp_path / "sub.tsv", tmp_path / "whole.tsv"
    code, _, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "--labels", MPN_PAIRS, "-o", sub, "-q"])
    assert code == 0, err
    code, _, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "-o", whole, "-q"])
    assert code == 0, err
    assert P.read_pairs(sub).subset_of == 687  # 316 of its 372 pairs are of neighbouring genes: fine
    lines = sub.read_text().splitlines(True)
    number = next(i for i, line in enumerate(lines, start=1) if line.startswith("#subset"))
    edited, joined = tmp_path / "edited.tsv", tmp_path / "joined.tsv"
    edited.write_text("".join(lines).replace("#subset of=687 pairs", "#subset of=316 pairs"))
    whole_lines = whole.read_text().splitlines(True)
    joined.write_text("".join(whole_lines[:2] + [lines[number - 1]] + whole_lines[2:]))
    (tmp_path / "p.faa").write_text(">MPN_001\nM\n")  # not read: the table is refused first
    for path, told, held in ((edited, 316, 316), (joined, 687, 687)):
        at = number if path == edited else 3
        code, _, err = run_cli(["embed", path, "--proteins", tmp_path / "p.faa", "-o", tmp_path / "emb", "-q"])
        assert code == 1 and err == (
            f"error: {path}: line {at}: '#subset of={told} pairs' says the table lacks some of its genome's {told} "
            f"adjacent pairs, but it holds {held} pairs of neighbouring genes: a table edited, or its rows and header "
            "of two genomes? (write it again with `microfuse pairs`)\n"), err
        assert not (tmp_path / "emb").exists()


def test_a_table_without_a_genes_line_reads_cut_genes_in_the_code_given(tmp_path):
    """A table with no '#genes' line (made by hand, an older one) read with --fasta and no '#scaffold' line checks
    the genes at a contig's edge for a stop codon: under code 11 always, though the user gave `-g 4`. M. pneumoniae
    (code 4) cut inside a gene right after an in-frame TGA (Trp under code 4, a stop under 11): the gene was read
    whole, so its short contig stayed in the spacer calibration, where the genome's route leaves it out."""
    from Bio.Seq import Seq

    from conftest import genome_sequence

    whole = tmp_path / "whole.tsv"
    code, _, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "-o", whole, "-q"])
    assert code == 0, err
    sequence = genome_sequence(MPN_FNA)
    rows = [line for line in whole.read_text().splitlines() if not line.startswith("#")]
    header, rows = rows[0], [row.split("\t") for row in rows[1:9]]
    cols = header.split("\t")
    a, b = cols.index("start_b"), cols.index("end_b")
    last = next(r for r in rows[3:] if r[cols.index("strand_b")] == "+")  # a plus-strand gene_b past the first few
    start, end = int(last[a]), int(last[b])
    codons = str(Seq(sequence[start - 1:end]))
    cut = next(i for i in range(3, len(codons) - 3, 3) if codons[i:i + 3] == "TGA")  # its first in-frame TGA (Trp)
    length = start - 1 + cut + 3
    kept = rows[:rows.index(last) + 1]
    last[b] = str(length)
    last[cols.index("length_b")] = str(length - start + 1)
    table, fasta = tmp_path / "cut.tsv", tmp_path / "cut.fna"
    table.write_text("\n".join([header] + ["\t".join(r) for r in kept]) + "\n")  # no '#' line: made by hand
    scaffold = kept[0][cols.index("scaffold")]
    fasta.write_text(f">{scaffold}\n{sequence[:length]}\n")
    read = P.read_pairs(table)
    gene = last[cols.index("gene_b")]
    by_code = {code: next(g for g in P.genome_from_table(read, None, fasta, "cut", genetic_code=code).genes
                          if g.id == gene).partial for code in (None, 4)}
    assert by_code == {None: False, 4: True}, by_code


def test_a_pairs_list_with_a_nested_genes_neighbour_is_read_back(tmp_path):
    """`pairs --pairs L` wrote a table that `embed` and `score` of it refused: L named every adjacent pair but one
    and the pair (ga, gb) of a gene nested in gc and the gene after gc, neighbours by position (genes_between 0)
    but not an adjacent pair (gb's is gc|gb: gc reaches further), so the '#subset of=3 pairs' check counted 3 pairs
    of neighbouring genes and refused microfuse's own table. A pair whose gene_a a gene of the table before it
    reaches past is not counted, and `embed`'s warning counts it among the pairs `embed GENOME` has none of."""
    from microfuse_cli.cli._common import subset_table_message

    gff, listed, table = tmp_path / "nested.gff", tmp_path / "list.csv", tmp_path / "table.tsv"
    gff.write_text("##gff-version 3\n##sequence-region n1 1 3000\n" + "".join(
        f"n1\tx\tCDS\t{start}\t{end}\t.\t+\t0\tID={tag};locus_tag={tag}\n"
        for tag, start, end in (("gc", 100, 999), ("ga", 301, 501), ("gb", 1100, 1399), ("gd", 1500, 1799))))
    for lines, missing in (("ga,gb\ngc,gb\ngb,gd\n", "gc|ga"), ("ga,gb\ngc,ga\ngb,gd\n", "gc|gb")):
        listed.write_text(lines)
        code, _, err = run_cli(["pairs", gff, "--pairs", listed, "-o", table, "-q"])
        assert code == 0, err
        read = P.read_pairs(table)  # was a DataError: '#subset of=3 pairs' ... it holds 3 pairs of neighbouring genes
        assert read.subset_of == 3 and [p.genes_between for p in read.pairs] == [0, 0, 0], missing
        said = subset_table_message(read, table, "embed")
        assert "fails on its 1 pair(s) of non-adjacent genes" in said, said
    whole = tmp_path / "whole.tsv"
    code, _, err = run_cli(["pairs", gff, "-o", whole, "-q"])
    assert code == 0, err
    rows = whole.read_text().splitlines(True)
    joined = tmp_path / "joined.tsv"  # the whole table under a subset's header: still refused
    joined.write_text("".join(rows[:2] + ["#subset of=3 pairs\n"] + rows[2:]))
    with pytest.raises(DataError, match="holds 3 pairs of neighbouring genes"):
        P.read_pairs(joined)


def test_two_sequence_region_lines_that_disagree_are_refused(tmp_path):
    """Two '##sequence-region' lines for one sequence giving two extents (GFF3s of two assemblies concatenated) were
    read silently, the last one winning: as the scaffold's length, and now written into the pairs TSV as its
    '#scaffold_length' line, which `embed`/`score` of the table then check a --fasta against. `gt gff3validator`
    refuses them; `pairs` now does, naming the line. The same line twice (one file concatenated with itself) is
    read."""
    rows = "".join(f"c1\tx\tCDS\t{100 + 350 * i}\t{399 + 350 * i}\t.\t+\t0\tID=g{i};locus_tag=g{i}\n" for i in range(4))
    gff, table = tmp_path / "two.gff", tmp_path / "t.tsv"
    for pragmas, refused in ((("c1 1 3000", "c1 1 4000"), True), (("c1 1 4000", "c1 5 3000"), True),
                             (("c1 1 3000", "c1 1 3000"), False)):
        gff.write_text("##gff-version 3\n" + "".join(f"##sequence-region {p}\n" for p in pragmas) + rows)
        code, _, err = run_cli(["pairs", gff, "-o", table, "-q"])
        if refused:
            assert code == 1 and err.startswith(f"error: {gff}: line 3: ") and "##sequence-region" in err, err
            assert err.count("\n") == 1 and "Traceback" not in err, err
        else:
            assert code == 0 and "#scaffold_length length=3000 topology=linear id=c1\n" in table.read_text(), err


def circular_mg(tmp_path, end=None, pragma_start=1, region=True):
    """M. genitalium G37's RefSeq GFF3 (a pragma, no region row) with the region row NCBI writes for a circular
    chromosome (Is_circular=true, as E. coli's has; none with ``region`` False), cut to its first ``end`` bp (the
    rows ending within; the pragma then runs ``pragma_start``..``end``), and its FASTA so cut. Returns (gff, fasta)."""
    from microfuse_cli.io.fasta import read_fasta_scaffolds

    sequence = read_fasta_scaffolds(f"{MG_G37}.fna.gz")["NC_000908.2"].sequence
    end = end or len(sequence)
    sequence = sequence[:end]
    with gzip.open(f"{MG_G37}.gff.gz", "rt") as handle:
        rows = [line for line in handle if not line.startswith("#") and line.strip()
                and int(line.split("\t")[4]) <= end]
    header = f"##gff-version 3\n##sequence-region NC_000908.2 {pragma_start} {end}\n"
    if region:
        header += f"NC_000908.2\tRefSeq\tregion\t1\t{end}\t.\t+\t.\tID=NC_000908.2:1..{end};Is_circular=true\n"
    gff, fasta = tmp_path / "mg.gff", tmp_path / "mg.fna"
    gff.write_text(header + "".join(rows))
    fasta.write_text(">NC_000908.2\n" + "".join(sequence[i:i + 80] + "\n" for i in range(0, end, 80)))
    return gff, fasta


def score_both_tables(tmp_path, gff, fasta, labels):
    """`score` of `pairs GFF --labels` made with and without its FASTA, both with the embeddings of the first:
    (the lines of each, its '#calibration' line and data rows; the second table's '#scaffold' lines)."""
    with_fasta, without, faa, emb = (tmp_path / name for name in ("with.tsv", "without.tsv", "p.faa", "emb"))
    code, _, err = run_cli(["pairs", gff, "--fasta", fasta, "--labels", labels, "--proteins", faa, "-o", with_fasta,
                            "-q"])
    assert code == 0, err
    code, _, err = run_cli(["pairs", gff, "--labels", labels, "-o", without, "-q"])
    assert code == 0, err
    code, _, err = run_cli(["embed", with_fasta, "--proteins", faa, "--fasta", fasta, "-o", emb, "-q"])
    assert code == 0, err
    rows = []
    for table in (with_fasta, without):
        code, out, err = run_cli(["score", table, "--embeddings", emb, "-q"])
        assert code == 0, err
        rows.append(out.splitlines())
    return rows, [line for line in without.read_text().splitlines() if line.startswith("#scaffold")]


def test_a_subset_table_of_a_circular_gff_without_its_fasta_keeps_its_topology(tmp_path):
    """`pairs --labels` of a circular GFF3 (Is_circular=true) read without its FASTA, the labels lacking the pair
    closing the circle: the table said the length ('#scaffold_length length=N id=ID') but no topology, and its table
    route rebuilt the chromosome linear, so `score` of it calibrated without the closing pair (M. genitalium: 402 of
    475 probabilities differed from those of the same table written with the FASTA). The line says the topology
    now, and the scores are those of the table written with the FASTA; an older line without one reads as before."""
    gff, fasta = circular_mg(tmp_path)
    genome = read_genome(gff, fasta)
    *kept, closing = P.adjacent_pairs(genome)
    assert genome.scaffolds["NC_000908.2"].circular and closing.gene_b.start < closing.gene_a.start
    labels = tmp_path / "labels.csv"
    labels.write_text("".join(f"{p.gene_a.id},{p.gene_b.id},{i % 2}\n" for i, p in enumerate(kept)))
    (by_fasta, by_annotation), lines = score_both_tables(tmp_path, gff, fasta, labels)
    assert lines == ["#scaffold_length length=580076 topology=circular id=NC_000908.2"]
    assert len(by_fasta) == len(kept) + 5 and by_annotation == by_fasta  # 4 '#' lines and the header
    table = tmp_path / "without.tsv"
    rebuilt = P.genome_from_table(P.read_pairs(table), None, None, "mg").scaffolds["NC_000908.2"]
    assert (rebuilt.length, rebuilt.circular) == (580_076, True)
    older = tmp_path / "older.tsv"  # a table of the last version: its length alone, linear by the table route
    older.write_text(table.read_text().replace(lines[0], "#scaffold_length length=580076 id=NC_000908.2"))
    assert P.read_pairs(older).lengths == {"NC_000908.2": P.StatedLength(580_076, True, None)}
    rebuilt = P.genome_from_table(P.read_pairs(older), None, None, "mg").scaffolds["NC_000908.2"]
    assert (rebuilt.length, rebuilt.circular) == (580_076, False)


def test_a_length_the_annotation_gives_as_a_bound_is_the_table_routes_too(tmp_path):
    """A '##sequence-region' ending where the last feature ends (a gene row of a tRNA here: true, but also what
    GenomeTools makes up) is the length of the genome's route without a FASTA, but `pairs` wrote no line of it, so
    the table route had the chromosome as long as its CDS reach, and linear (M. genitalium cut after a tRNA, a
    subset without the closing pair: its '#calibration' line counted 329 same-strand pairs, not 330). It writes
    '#scaffold_length at_least=N' now, which the table route reads as the genome's route does, and, as that route,
    does not check a --fasta against (a FASTA longer than the made-up pragma is read); so too a pragma not starting
    at 1."""
    from microfuse_cli.io.fasta import read_fasta_scaffolds

    with gzip.open(f"{MG_G37}.gff.gz", "rt") as handle:
        rows = [line.split("\t") for line in handle if "\tgene\t" in line and "protein_coding" not in line]
    end = max(int(row[4]) for row in rows if int(row[4]) < 500_000)  # a tRNA's or rRNA's gene, no CDS, ends last
    gff, fasta = circular_mg(tmp_path, end)
    genome = read_genome(gff, fasta)
    *kept, closing = P.adjacent_pairs(genome)
    assert closing.gene_b.start < closing.gene_a.start and max(g.end for g in genome.genes) < end
    labels = tmp_path / "labels.csv"
    labels.write_text("".join(f"{p.gene_a.id},{p.gene_b.id},{i % 2}\n" for i, p in enumerate(kept)))
    (by_fasta, by_annotation), lines = score_both_tables(tmp_path, gff, fasta, labels)
    assert lines == [f"#scaffold_length at_least={end} topology=circular id=NC_000908.2"]
    assert by_annotation == by_fasta
    table = tmp_path / "without.tsv"
    told = P.read_pairs(table).lengths["NC_000908.2"]
    assert (told.length, told.exact, told.circular) == (end, False, True)
    whole = tmp_path / "whole.fna"  # the pragma as GenomeTools' guess: the sequence is longer; neither route refuses
    whole.write_text(">NC_000908.2\n" + read_fasta_scaffolds(f"{MG_G37}.fna.gz")["NC_000908.2"].sequence + "\n")
    for args in (["pairs", gff, "--fasta", whole],
                 ["score", table, "--embeddings", tmp_path / "emb", "--fasta", whole]):
        code, _, err = run_cli([*args, "-o", tmp_path / "out.tsv", "-q"])
        assert code == 0 and "error" not in err and "#scaffold_length" not in err, err
    gff, _ = circular_mg(tmp_path, end, pragma_start=101, region=False)  # a pragma not from 1: linear, as long
    code, _, err = run_cli(["pairs", gff, "--labels", labels, "-o", table, "-q"])
    assert code == 0, err
    assert f"#scaffold_length at_least={end} topology=linear id=NC_000908.2\n" in table.read_text()
    rebuilt = P.genome_from_table(P.read_pairs(table), None, None, "mg").scaffolds["NC_000908.2"]
    assert (rebuilt.length, rebuilt.circular) == (read_genome(gff).scaffolds["NC_000908.2"].length, False) \
        == (end, False)


def test_a_linear_scaffold_shorter_than_its_genes_is_refused(tmp_path):
    """A '#scaffold_length' line edited to end before a gene of a linear scaffold does (M. pneumoniae, its RefSeq GFF3
    read without its FASTA) was read, the gene as crossing the origin of a circle the annotation never drew. Its
    topology on the line makes that a data error now, in one line; on a circular one the gene crosses the origin,
    as before, and so on an older line, which tells no topology. A line misspelt is refused naming both its forms
    (it named 'length=N' alone)."""
    code, out, err = run_cli(["pairs", MPN_GFF, "-q"])
    assert code == 0, err
    line = "#scaffold_length length=816394 topology=linear id=NC_000912.1"
    last = max(int(row.split("\t")[8]) for row in out.splitlines() if not row.startswith(("#", "pair_id")))
    assert line in out.splitlines() and 816_000 < last < 816_394
    table = tmp_path / "edited.tsv"
    table.write_text(out.replace(line, line.replace("816394", "816000")))
    code, _, err = run_cli(["embed", table, "-o", tmp_path / "emb", "-q"])
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err and not (tmp_path / "emb").exists(), err
    assert f"ends at {last}, past the end of NC_000912.1, 816,000 bp and linear by its '#scaffold_length' line" in err
    for edited in ("length=816000 topology=circular", "length=816000"):
        table.write_text(out.replace(line, f"#scaffold_length {edited} id=NC_000912.1"))
        rebuilt = P.genome_from_table(P.read_pairs(table), None, None, "mpn").scaffolds["NC_000912.1"]
        assert (rebuilt.length, rebuilt.circular) == (816_000, True), edited
    table.write_text(out.replace(line, line.replace("length=", "atleast=")))  # misspelt: the error names both forms
    code, _, err = run_cli(["embed", table, "-o", tmp_path / "emb", "-q"])
    assert code == 1 and "a '#scaffold_length' line is 'length=N (or at_least=N) topology=circular|linear id=ID', " \
        "not 'atleast=816394" in err and err.count("\n") == 1, err


def test_a_pair_listed_twice_is_one_row_of_the_table_its_embed_and_score_read(tmp_path):
    """`pairs --pairs` of a list naming MPN_001,MPN_002 again (as itself, as MPN_002,MPN_001, as the pair id) wrote
    the pair once per listing, and `embed`/`score` of that table refused it ('line 6: duplicate pair'): a table its
    own next stage refuses. Kept once, as --labels keeps an agreeing pair once (and refuses two labels of it), with a
    warning that -q keeps, as the list's unknown ids get (an info line, -q hid that the user's list had repeats)."""
    genome = [MPN_GFF, "--fasta", MPN_FNA]
    listed = tmp_path / "list.tsv"
    listed.write_text("MPN_001\tMPN_002\nMPN_002\tMPN_003\nMPN_002\tMPN_001\nMPN_001|MPN_002\nMPN_001\tMPN_002\n")
    table, proteins = tmp_path / "pairs.tsv", tmp_path / "proteins.faa"
    code, _, err = run_cli(["pairs", *genome, "--pairs", listed, "--proteins", proteins, "-o", table, "-q"])
    assert code == 0 and err == f"warning: {listed}: 3 pair(s) listed more than once are kept once\n", err
    assert [p.pair_id for p in P.read_pairs(table).pairs] == ["MPN_001|MPN_002", "MPN_002|MPN_003"]
    code, _, err = run_cli(["embed", table, "--proteins", proteins, "--fasta", MPN_FNA, "-o", tmp_path / "emb",
                            "-q"])
    assert code == 0, err
    labels = tmp_path / "labels.csv"
    labels.write_text("MPN_001,MPN_002,1\nMPN_002,MPN_003,0\nMPN_002,MPN_001,1\n")
    code, _, err = run_cli(["pairs", *genome, "--labels", labels, "-o", table, "-q"])
    rows = [line.split("\t") for line in table.read_text().splitlines() if not line.startswith("#")]
    assert code == 0 and [(r[0], r[rows[0].index("label")]) for r in rows[1:]] == [
        ("MPN_001|MPN_002", "1"), ("MPN_002|MPN_003", "0")], err
    before = table.read_bytes()
    labels.write_text("MPN_001,MPN_002,1\nMPN_002,MPN_003,0\nMPN_002,MPN_001,0\n")
    code, _, err = run_cli(["pairs", *genome, "--labels", labels, "-o", table, "-q"])
    assert code == 1 and err == f"error: {labels}: the pair MPN_001 MPN_002 is labelled both 0 and 1\n", err
    assert table.read_bytes() == before


def test_a_seed_without_split_is_said_to_change_nothing(tmp_path):
    """--seed of `pairs` and `score` seeds --split's deal alone: without --split it was ignored without a word (a
    user who set it expects some randomness it governs). One warning then, not a refusal (scripts pass one seed to
    every command); the outputs are those without it, and beside --split it is said nothing of."""
    genome = [f"{MG_G37}.gff.gz", "--fasta", f"{MG_G37}.fna.gz", "--genetic-code", "4"]
    warning = "warning: --seed seeds --split alone; without --split it changes nothing\n"
    code, _, err = run_cli(["pairs", *genome, "--seed", "3", "-o", tmp_path / "seeded.tsv", "-q"])
    assert code == 0 and err == warning, err
    code, _, err = run_cli(["pairs", *genome, "-o", tmp_path / "plain.tsv", "-q"])
    assert code == 0 and err == "", err
    assert (tmp_path / "seeded.tsv").read_bytes() == (tmp_path / "plain.tsv").read_bytes()
    code, _, err = run_cli(["pairs", *genome, "--seed", "3", "--split", "0.7,0.15,0.15", "-o", tmp_path / "s.tsv",
                            "-q"])
    assert code == 0 and err == "", err
    code, _, err = run_cli(["score", *genome, "--seed", "0", "-o", tmp_path / "scores.tsv", "-q"])
    assert code == 0 and err == warning, err


@pytest.mark.parametrize("command", [["pairs", "{missing}.gff", "--split", "0.7,0.15,0.15"], ["score", "{missing}.gff"],
                                     ["train", "{missing}.tsv", "-e", "{tmp}", "-o", "{tmp}/model"],
                                     ["retrieve", "build", "{missing}.npy", "-o", "{tmp}/index"]])
def test_a_negative_seed_is_refused_as_the_command_line_is_read(command, tmp_path):
    """`--seed -1` was refused only once the genome was read (pairs, score) or the vectors loaded (retrieve build),
    in the library's words ('seed must be a whole number >= 0'), naming no option; now click refuses it naming --seed
    before any input is opened: the missing input below is never reached."""
    args = [part.format(missing=tmp_path / "nothere", tmp=tmp_path) for part in command]
    words = 2 if args[0] == "retrieve" else 1  # --seed right after the (sub)command: read before any path
    code, out, err = run_cli([*args[:words], "--seed", "-1", *args[words:]])
    assert code == 2 and "'--seed': -1 is not in the range x>=0" in err and "nothere" not in err, err
    assert "Traceback" not in err and out == ""


def _piped(data: bytes):
    """The read end's name, /dev/fd/N, of a pipe a thread fills with ``data``, as a shell's `<(zcat g.gff.gz)`."""
    import os
    import threading

    read, write = os.pipe()

    def fill():
        with open(write, "wb") as handle:
            handle.write(data)

    threading.Thread(target=fill, daemon=True).start()
    return read, f"/dev/fd/{read}"


def test_a_genome_from_a_pipe_given_by_descriptor_is_named_after_its_first_sequence(tmp_path):
    """`score <(zcat g.gff.gz) --fasta g.fna` named the genome '63' (/dev/fd/63's file name) in the pairs TSV's
    genome= line, the --fused ids and the reference: a number of no meaning. A pipe given by descriptor is named
    after its first sequence; its scores are the file's, byte for byte. A regular file opened on a descriptor keeps
    its name (it is the user's choice), and so does every named file."""
    import os

    from microfuse_cli.genome import read_genome

    gff = gzip.decompress(MG_G37.with_name(MG_G37.name + ".gff.gz").read_bytes())
    fna = f"{MG_G37}.fna.gz"
    code, _, err = run_cli(["score", f"{MG_G37}.gff.gz", "--fasta", fna, "-o", tmp_path / "file.tsv", "--fused",
                            tmp_path / "file.npy", "-q"])
    assert code == 0, err
    read, named = _piped(gff)
    try:
        code, _, err = run_cli(["score", named, "--fasta", fna, "-o", tmp_path / "pipe.tsv", "--fused",
                                tmp_path / "pipe.npy", "-q"])
    finally:
        os.close(read)
    assert code == 0, err
    assert (tmp_path / "pipe.tsv").read_bytes() == (tmp_path / "file.tsv").read_bytes()
    rows = [line.split("\t") for line in (tmp_path / "pipe.ids.tsv").read_text().splitlines()[2:]]
    assert {row[2] for row in rows} == {"NC_000908.2"}, rows[:2]
    read, named = _piped(gff)
    try:
        code, out, err = run_cli(["pairs", named, "-q"])
    finally:
        os.close(read)
    assert code == 0 and out.startswith("#microfuse ") and out.split("\n", 1)[0].endswith(" genome=NC_000908.2"), err
    read, named = _piped(gff)
    try:
        assert read_genome(named).name == "NC_000908.2"  # the library's read of the descriptor itself
    finally:
        os.close(read)
    (tmp_path / "mg.gff").write_bytes(gff)
    with open(tmp_path / "mg.gff", "rb") as handle:  # `pairs /dev/fd/3 3< mg.gff`: a regular file keeps its name
        code, out, err = run_cli(["pairs", f"/dev/fd/{handle.fileno()}", "-q"])
        assert code == 0 and out.split("\n", 1)[0].endswith(" genome=mg.gff"), err


def test_a_regular_file_given_by_descriptor_is_named_after_the_file(tmp_path):
    """`pairs /dev/fd/3 3< mg.gff` named the genome '3', the descriptor's number (its path's file name), in the pairs
    TSV's genome= line, the --fused ids, embed's manifest and the reference: it is named after the file the
    descriptor opens, mg.gff, as `pairs mg.gff` names it, and so is a pairs TSV naming no genome (embed's manifest);
    scores are the named file's, byte for byte. Two descriptors of files of one name are refused by reference build
    as two such files are."""
    import json

    gff, fna = tmp_path / "mg.gff", f"{MG_G37}.fna.gz"
    gff.write_bytes(gzip.decompress(MG_G37.with_name(MG_G37.name + ".gff.gz").read_bytes()))
    code, _, err = run_cli(["score", gff, "--fasta", fna, "-o", tmp_path / "file.tsv", "--fused", tmp_path / "f.npy",
                            "-q"])
    assert code == 0, err
    with open(gff, "rb") as handle:
        fd = f"/dev/fd/{handle.fileno()}"
        code, out, err = run_cli(["pairs", fd, "--fasta", fna, "--proteins", tmp_path / "mg.faa", "-q"])
        assert code == 0 and out.split("\n", 1)[0].endswith(" genome=mg.gff"), err
        code, _, err = run_cli(["score", fd, "--fasta", fna, "-o", tmp_path / "fd.tsv", "--fused", tmp_path / "d.npy",
                                "-q"])
        assert code == 0, err
        code, _, err = run_cli(["embed", f"/proc/self/fd/{handle.fileno()}", "--fasta", fna, "-o", tmp_path / "emb",
                                "-m", "default", "-q"])
        assert code == 0, err
        code, _, err = run_cli(["reference", "build", f"{fd},{fna}", "-o", tmp_path / "ref", "-q"])
        assert code == 0, err
    assert (tmp_path / "fd.tsv").read_bytes() == (tmp_path / "file.tsv").read_bytes()
    assert (tmp_path / "d.ids.tsv").read_bytes() == (tmp_path / "f.ids.tsv").read_bytes()
    rows = [line.split("\t") for line in (tmp_path / "d.ids.tsv").read_text().splitlines()[2:]]
    assert {row[2] for row in rows} == {"mg.gff"}, rows[:2]
    assert json.loads((tmp_path / "emb" / "manifest.json").read_text())["genome"] == "mg.gff"
    assert [g["name"] for g in json.loads((tmp_path / "ref" / "manifest.json").read_text())["genomes"]] == ["mg.gff"]
    table = tmp_path / "unnamed.tsv"  # a pairs TSV without its genome= line, given by descriptor
    table.write_text(out.split("\n", 1)[1])
    with open(table, "rb") as handle:
        code, _, err = run_cli(["embed", f"/dev/fd/{handle.fileno()}", "--proteins", tmp_path / "mg.faa", "-o",
                                tmp_path / "emb2", "-m", "default", "-q"])
    assert code == 0, err
    assert json.loads((tmp_path / "emb2" / "manifest.json").read_text())["genome"] == "unnamed.tsv"
    (tmp_path / "a").mkdir()
    (tmp_path / "a" / "mg.gff").write_bytes(gff.read_bytes())
    with open(gff, "rb") as one, open(tmp_path / "a" / "mg.gff", "rb") as two:
        code, _, err = run_cli(["reference", "build", f"/dev/fd/{one.fileno()},{fna}", f"/dev/fd/{two.fileno()},{fna}",
                                "-o", tmp_path / "ref2"])
    assert code == 2 and "two GENOME files share the file name mg.gff" in err, err


def test_dev_stdin_is_named_as_dev_fd_0(tmp_path):
    """/dev/stdin is descriptor 0 by another name: `pairs /dev/stdin < mg.gff` named the genome 'stdin' where
    `pairs /dev/fd/0 < mg.gff` named it mg.gff, and `cat mg.gff | pairs /dev/stdin` 'stdin' where /dev/fd/0 of a
    pipe took its first sequence's id. Every path naming a descriptor is now named by what it opens; '-' alone is
    'stdin'. A symlink given by descriptor is named after its target (the descriptor keeps no link's name)."""
    import subprocess
    import sys

    gff = tmp_path / "mg.gff"
    gff.write_bytes(gzip.decompress(MG_G37.with_name(MG_G37.name + ".gff.gz").read_bytes()))
    (tmp_path / "link.gff").symlink_to(gff)

    def named(path, given):
        """The genome= of `pairs PATH`, stdin a file (``given``: a path) or a pipe (``given``: bytes)."""
        command = [sys.executable, "-m", "microfuse_cli", "pairs", path, "-q"]
        if isinstance(given, bytes):
            result = subprocess.run(command, input=given, capture_output=True, cwd=tmp_path, timeout=300)
        else:
            with open(given, "rb") as stdin:
                result = subprocess.run(command, stdin=stdin, capture_output=True, cwd=tmp_path, timeout=300)
        assert result.returncode == 0, result.stderr
        return result.stdout.split(b"\n", 1)[0].rsplit(b" genome=", 1)[1].decode()

    assert [named(path, gff) for path in ("/dev/stdin", "/dev/fd/0", "-")] == ["mg.gff", "mg.gff", "stdin"]
    assert named("/dev/stdin", tmp_path / "link.gff") == "mg.gff"
    assert [named(path, gff.read_bytes()) for path in ("/dev/stdin", "/dev/fd/0", "-")] == \
        ["NC_000908.2", "NC_000908.2", "stdin"]


def test_a_piped_pairs_tsv_that_names_no_genome_is_named_after_its_first_scaffold(tmp_path):
    """A pairs TSV without its '#microfuse ... genome=' line (an older or hand-made table) is named after its file;
    piped by descriptor (`embed <(grep -v ... pairs.tsv)`), embed's manifest named the genome '63', the descriptor's
    number, as the genome's own route did before: it is named after its first scaffold, as a piped genome is."""
    import json
    import os

    table, proteins = tmp_path / "mg_pairs.tsv", tmp_path / "mg.faa"
    code, _, err = run_cli(["pairs", f"{MG_G37}.gff.gz", "--fasta", f"{MG_G37}.fna.gz", "--proteins", proteins, "-o",
                            table, "-q"])
    assert code == 0, err
    lines = table.read_text().splitlines(keepends=True)
    assert lines[0].startswith("#microfuse ") and " genome=" in lines[0]
    unnamed = "".join(lines[1:])
    read, named = _piped(unnamed.encode())
    try:
        code, _, err = run_cli(["embed", named, "--proteins", proteins, "-o", tmp_path / "emb", "-m", "default", "-q"])
    finally:
        os.close(read)
    assert code == 0, err
    assert json.loads((tmp_path / "emb" / "manifest.json").read_text())["genome"] == "NC_000908.2"
    (tmp_path / "old.tsv").write_text(unnamed)  # a file keeps its name
    code, _, err = run_cli(["embed", tmp_path / "old.tsv", "--proteins", proteins, "-o", tmp_path / "file", "-m",
                            "default", "-q"])
    assert code == 0 and json.loads((tmp_path / "file" / "manifest.json").read_text())["genome"] == "old.tsv", err


def test_reference_build_of_two_pipes_naming_their_genomes_alike_says_why(tmp_path):
    """A pipe given by descriptor is named after its first sequence, so two drafts whose first contigs share an id
    (or one genome piped twice) name two reference genomes alike: that was said only after every genome was read, as
    'two reference genomes share a name', naming neither input nor the way out. It is said as the second is read."""
    import os

    gff = gzip.decompress(MG_G37.with_name(MG_G37.name + ".gff.gz").read_bytes())
    fna = gzip.decompress(MG_G37.with_name(MG_G37.name + ".fna.gz").read_bytes())
    piped = [_piped(data) for data in (gff, fna, gff, fna)]
    (first, _), (second, _) = piped[0], piped[2]
    try:
        code, _, err = run_cli(["reference", "build", f"{piped[0][1]},{piped[1][1]}", f"{piped[2][1]},{piped[3][1]}",
                                "-o", tmp_path / "ref"])
    finally:
        for read, _ in piped:
            os.close(read)
    assert code == 1 and err.endswith(
        f"error: /dev/fd/{first} and /dev/fd/{second} both hold a genome named NC_000908.2 (a genome read from a pipe "
        "is named after its first sequence); reference genomes need distinct names: give one as a file\n"), err
    assert not (tmp_path / "ref").exists()


def test_reference_build_of_a_file_named_as_a_pipes_descriptor(tmp_path):
    """`reference build x/63 <(zcat g.fna.gz)` was refused before any read: 'two GENOME files share the file name
    63', the pipe taken by its descriptor's number, though it is named after its first sequence. Built now, each
    genome under its name; a file named as the pipe's first sequence is still refused, once the pipe is read."""
    import json
    import os

    gff = gzip.decompress(MG_G37.with_name(MG_G37.name + ".gff.gz").read_bytes())
    other = gzip.decompress((PANEL / "GCF_000008665.1_ASM866v1_genomic.fna.gz").read_bytes())  # NC_000917.1 first
    (tmp_path / "x").mkdir()
    for output in ("ref", "ref2"):
        read, named = _piped(other)
        mine = tmp_path / "x" / (str(read) if output == "ref" else "NC_000917.1")  # x/63 beside /dev/fd/63
        mine.write_bytes(gff)
        try:
            code, _, err = run_cli(["reference", "build", f"{mine},{MG_G37}.fna.gz", named, "-o", tmp_path / output,
                                    "-q"])
        finally:
            os.close(read)
            mine.unlink()
        if output == "ref":
            assert code == 0, err
            names = [g["name"] for g in json.loads((tmp_path / "ref" / "manifest.json").read_text())["genomes"]]
            assert names == [str(read), "NC_000917.1"], names
    assert code == 1 and err == (f"error: {mine} and {named} both hold a genome named NC_000917.1 (a genome read "
                                 "from a pipe is named after its first sequence); reference genomes need distinct "
                                 "names: give one as a file\n"), err
    assert not (tmp_path / "ref2").exists()
