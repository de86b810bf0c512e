"""`score --annotate`: the user's GFF3/GenBank with operon features added and every other line unchanged."""

from __future__ import annotations

import gzip
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from conftest import ECOLI_FNA, ECOLI_GFF, ROOT, SHARED, run_cli

from microfuse_cli.score import load_model
from test_gene_models import MG_LENGTH, without_topology, write_rotated

MG_GFF = ROOT / "examples" / "data" / "mgenitalium_g37.gff.gz"
MG_FNA = ROOT / "examples" / "data" / "mgenitalium_g37.fna.gz"
LPN_GBK = SHARED / "lpneumophila_paris" / "CR628336.1.gbk.gz"
OPERON_LINE = re.compile(r"^[^\t]*\tmicrofuse\toperon\t")


def gff3validator(path):
    if shutil.which("gt") is None:
        pytest.fail("GenomeTools (gt) is not installed: `apt-get install genometools` (.ci/run does it as root)")
    result = subprocess.run(["gt", "gff3validator", str(path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def operons_table(path) -> list[dict[str, str]]:
    lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
    return [dict(zip(lines[0].split("\t"), line.split("\t"))) for line in lines[1:]]


def without_operon_blocks(genbank: str) -> str:
    """A GenBank text with its ``operon`` features (header line and qualifier lines) and the COMMENT lines that
    name the model that made them taken out."""
    text = re.sub(r"^ {5}operon {10}.*\n(?: {21}.*\n)*", "", genbank, flags=re.MULTILINE)
    return re.sub(r"^(?:COMMENT| {7}) {5}Operon features predicted by microfuse .*\n(?: {12}.*\n)*?(?=FEATURES)", "",
                  text, flags=re.MULTILINE)


def model_lines(scores) -> list[str]:
    """The '#' lines of a scores TSV that name the model and what it calibrated, as a GFF3 writes them."""
    return [f"# {line[1:]}" for line in scores.read_text().splitlines() if line.startswith("#")]


def microfuse_identities(scores) -> dict[str, str]:
    line = scores.read_text().splitlines()[0]
    return dict(word.split("=", 1) for word in line.split() if "=" in word)


def test_gff3_of_the_example_genome_keeps_every_line_and_validates(tmp_path):
    """Every line kept, an operon line per operon, and the scores' model lines (version, model, model_id,
    decision_id, how the genes were found, calibration) as '#' lines right after ##gff-version."""
    out, table = tmp_path / "mg.annotated.gff3", tmp_path / "operons.tsv"
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "s.tsv", "--annotate", out,
                            "--operons-tsv", table])
    assert code == 0, err
    lines = out.read_text().splitlines(keepends=True)
    comments = model_lines(tmp_path / "s.tsv")
    assert lines[0] == "##gff-version 3\n" and [line.rstrip("\n") for line in lines[1:4]] == comments
    assert "model_id=" in comments[0] and "decision_id=" in comments[0] and "model=default" in comments[0]
    assert comments[1] == "# genes source=annotation genetic_code=4"  # the GFF3's CDS, transl_table=4
    added = [line for line in lines if OPERON_LINE.match(line)]
    kept = "".join(line for i, line in enumerate(lines) if not OPERON_LINE.match(line) and i not in (1, 2, 3))
    assert kept == gzip.decompress(MG_GFF.read_bytes()).decode()
    called = operons_table(table)
    assert len(added) == len(called) > 50
    for line, operon in zip(added, called):  # in genome order, with the table's members and extent
        cols = line.rstrip("\n").split("\t")
        assert (cols[3], cols[4], cols[6]) == (operon["start"], operon["end"], operon["strand"])
        assert f";genes={operon['genes']};" in cols[8] and "Ontology_term=SO:0000178" in cols[8]
    # each operon line sits right before the gene line where it starts, so a sorted file stays sorted
    starts = [int(line.split("\t")[3]) for line in lines if not line.startswith("#")]
    assert starts == sorted(starts)
    gff3validator(out)


def test_an_annotated_file_is_not_annotated_twice(tmp_path):
    first, table = tmp_path / "once.gff3", tmp_path / "operons.tsv"
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "s.tsv", "--annotate", first])
    assert code == 0, err
    lines = first.read_text().splitlines(keepends=True)
    # an ID taken by the user's own feature: the operons get a prefix
    clash = tmp_path / "clash.gff3"
    clash.write_text("".join(line.replace("=gene-MG_001;", "=operon_1;") for line in lines
                             if not OPERON_LINE.match(line)))
    code, _, err = run_cli(["score", clash, "--fasta", MG_FNA, "-o", tmp_path / "s.tsv", "--annotate", first])
    assert code == 0, err
    assert "\tmicrofuse\toperon\t686\t2760\t" in first.read_text() and "ID=microfuse_operon_1;" in first.read_text()
    gff3validator(first)
    code, _, err = run_cli(["score", first, "--fasta", MG_FNA, "-o", tmp_path / "s.tsv", "--annotate",
                            tmp_path / "twice.gff3"])
    assert code == 1 and "already holds microfuse operons" in err, err
    assert not (tmp_path / "twice.gff3").exists()


def test_gff3_operon_across_the_origin(tmp_path):
    gff, out = write_rotated(tmp_path, "circular"), tmp_path / "annotated.gff3"
    code, _, err = run_cli(["score", gff, "-o", tmp_path / "s.tsv", "--annotate", out])
    assert code == 0, err
    text = out.read_text()
    across = [line.split("\t") for line in text.splitlines() if OPERON_LINE.match(line) and "MG_001" in line]
    assert len(across) == 1 and int(across[0][4]) > MG_LENGTH >= int(across[0][3])
    assert text.split("##FASTA\n")[1] == gff.read_text().split("##FASTA\n")[1]  # the sequences as they were
    gff3validator(out)


@pytest.mark.parametrize("encoding, flags", [("two-part", []), ("circular", ["--circular"])])
def test_gff3_operon_across_an_origin_the_file_does_not_mark_circular(encoding, flags, tmp_path):
    """The chromosome is circular by a CDS joined across its origin (two rows of one ID, as Prokka-style files and
    conversions give it) or by --circular, its region row without Is_circular: the operon across the origin is two
    rows of one ID split there, as its genes are, and `gt gff3validator` accepts the file (was: one row ending past
    the length, 'not contained in range (1,580076) of corresponding sequence region')."""
    gff, out = without_topology(write_rotated(tmp_path, encoding)), tmp_path / "annotated.gff3"
    assert "Is_circular" not in gff.read_text()
    code, _, err = run_cli(["score", gff, *flags, "-o", tmp_path / "s.tsv", "--annotate", out])
    assert code == 0, err
    across = [line.split("\t") for line in out.read_text().splitlines() if OPERON_LINE.match(line) and
              ";genes=MG_001," in line]
    (first, second) = sorted((int(c[3]), int(c[4])) for c in across)
    assert first[0] == 1 and first[1] >= 1760 and second == (MG_LENGTH - 314, MG_LENGTH)  # MG_002: 828..1760
    assert across[0][8] == across[1][8]  # one ID, one feature
    gff3validator(out)


def test_ecoli_refseq_gff3_validates(tmp_path):
    out = tmp_path / "ecoli.gff3"
    code, _, err = run_cli(["score", ECOLI_GFF, "--fasta", ECOLI_FNA, "-o", tmp_path / "s.tsv", "--annotate", out,
                            "-t", "2"])
    assert code == 0, err
    lines = out.read_text().splitlines(keepends=True)
    thr = next(line for line in lines if OPERON_LINE.match(line) and "genes=b0001,b0002,b0003,b0004;" in line)
    assert lines[lines.index(thr) + 1].split("\t")[2] == "gene" and "locus_tag=b0001" in lines[lines.index(thr) + 1]
    comments = model_lines(tmp_path / "s.tsv")
    kept = "".join(line for line in lines if not OPERON_LINE.match(line) and line.rstrip("\n") not in comments)
    assert kept == gzip.decompress(ECOLI_GFF.read_bytes()).decode()
    gff3validator(out)


def test_genbank_reads_back_with_biopython(tmp_path):
    """Operon features Biopython reads back, each /note naming the model (12-hex model_id, decision_id), and the
    record's COMMENT (it had none) naming it in full: version, model, the 64-digit model_id, decision_id."""
    from Bio import SeqIO

    out, table = tmp_path / "lpp.gbk", tmp_path / "operons.tsv"
    code, _, err = run_cli(["score", LPN_GBK, "-o", tmp_path / "s.tsv", "--annotate", out, "--operons-tsv", table,
                            "-t", "2"])
    assert code == 0, err
    record = SeqIO.read(out, "genbank")
    features = [f for f in record.features if f.type == "operon"]
    called = operons_table(table)
    assert len(features) == len(called) > 100
    for feature, operon in zip(features, called):
        assert feature.qualifiers["operon"] == [operon["operon_id"]]
        extent = (int(feature.location.start) + 1, int(feature.location.end))
        assert extent == (int(operon["start"]), int(operon["end"]))
        assert feature.location.strand == (1 if operon["strand"] == "+" else -1)
        listed = re.search(r" genes (.+?); mean probability", feature.qualifiers["note"][0]).group(1)
        assert listed.split(", ") == operon["genes"].split(","), (listed, operon["genes"])  # no id cut by a wrap
    made = microfuse_identities(tmp_path / "s.tsv")
    assert all(f"model default (model_id {made['model_id'][:12]}, decision_id {made['decision_id']})" in
               f.qualifiers["note"][0] for f in features)
    comment = record.annotations["comment"].split("\n")
    assert comment[0].startswith("Operon features predicted by microfuse ") and made["model_id"] in comment
    assert f"decision_id={made['decision_id']}" in record.annotations["comment"]
    assert "genes source=annotation genetic_code=11" in comment  # how the genes were found, a line of its own
    assert max(len(line) for line in out.read_text().splitlines()) <= 80
    assert without_operon_blocks(out.read_text()) == gzip.decompress(LPN_GBK.read_bytes()).decode()
    code, _, err = run_cli(["score", out, "-o", tmp_path / "s.tsv", "--annotate", tmp_path / "twice.gbk"])
    assert code == 1 and "already holds microfuse operons" in err, err


def test_genbank_operon_across_the_origin(tmp_path):
    """An operon across the origin as a join; the record's own COMMENT kept, the model's lines after it."""
    from Bio import SeqIO

    gbk, out = write_rotated(tmp_path, "genbank"), tmp_path / "annotated.gbk"
    gbk.write_text(gbk.read_text().replace("\nFEATURES ", "\nCOMMENT     A user's own comment,\n            on two "
                                           "lines.\nFEATURES ", 1))
    code, _, err = run_cli(["score", gbk, "-o", tmp_path / "s.tsv", "--annotate", out])
    assert code == 0, err
    record = SeqIO.read(out, "genbank")
    cds = {f.qualifiers["locus_tag"][0]: f for f in record.features if f.type == "CDS"}
    across = [f for f in record.features if f.type == "operon" and "MG_001" in f.qualifiers["note"][0]]
    assert len(across) == 1
    parts = across[0].location.parts
    assert len(parts) == 2 and int(parts[0].end) == MG_LENGTH and int(parts[1].start) == 0
    dna_a = str(cds["MG_001"].extract(record.seq))
    assert dna_a in str(across[0].extract(record.seq))  # the operon's DNA holds its first gene's
    comment = record.annotations["comment"].split("\n")
    assert comment[:3] == ["A user's own comment,", "on two lines.", comment[2]]
    assert comment[2].startswith("Operon features predicted by microfuse ") and load_model(None).identity in comment
    assert without_operon_blocks(out.read_text()) == gbk.read_text()


@pytest.mark.parametrize("args, message", [
    (["--annotate", "{tmp}/x.gbk"], "the input is GFF3, so the annotation is written as GFF3"),
    (["--annotate", "{input}"], "is also an input"),
])
def test_annotate_refusals(args, message, tmp_path):
    gff = tmp_path / "mg.gff"
    gff.write_bytes(gzip.decompress(MG_GFF.read_bytes()))
    args = [a.format(tmp=tmp_path, input=gff) for a in args]
    code, _, err = run_cli(["score", gff, "--fasta", MG_FNA, "-o", tmp_path / "s.tsv", *args])
    assert code == 2 and message in err, err
    assert gff.read_bytes() == gzip.decompress(MG_GFF.read_bytes())


def test_annotate_refuses_a_bare_assembly(tmp_path):
    code, _, err = run_cli(["score", MG_FNA, "-o", tmp_path / "s.tsv", "--annotate", tmp_path / "x.gff3"])
    assert code == 2 and "give a GFF3 or GenBank input (this one is a bare assembly)" in err, err
    assert not (tmp_path / "s.tsv").exists()


def test_a_compressed_annotation_is_named_by_its_inner_suffix(tmp_path):
    """Outputs named .gz are written compressed, so `--annotate genome.operons.gff3.gz` (the way Bakta/Prokka
    results are kept) is a GFF3 name; it was refused as not ending in .gff or .gff3."""
    plain, packed = tmp_path / "mg.gff3", tmp_path / "mg.gff3.gz"
    for out in (plain, packed):
        code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "s.tsv", "--annotate", out, "-q"])
        assert code == 0, err
    assert gzip.decompress(packed.read_bytes()) == plain.read_bytes()
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "s.tsv", "--annotate",
                            tmp_path / "mg.gbk.gz"])
    assert code == 2 and "give a path ending in .gff or .gff3 (optionally + .gz" in err, err


SYNECHOCYSTIS = SHARED / "panel" / "GCF_003015225.1_ASM301522v1_genomic"  # + .gff.gz, .fna.gz


def test_empty_attribute_values_are_dropped_so_the_output_validates(tmp_path):
    """The Synechocystis feature table has 104 CDS rows with `protein_id=` (no value), which GFF3 forbids: copied
    as read, the annotated file failed `gt gff3validator`. They are dropped with one warning naming the key;
    every other row is written as read."""
    gff, out = Path(f"{SYNECHOCYSTIS}.gff.gz"), tmp_path / "syn.gff3"
    code, _, err = run_cli(["score", gff, "--fasta", f"{SYNECHOCYSTIS}.fna.gz", "-o", tmp_path / "s.tsv",
                            "--annotate", out, "-t", "2"])
    assert code == 0, err
    gff3validator(out)
    assert err.count("attributes with an empty value") == 1 and "dropped 104 " in err and "protein_id (104)" in err
    comments = model_lines(tmp_path / "s.tsv")
    kept = [line for line in out.read_text().splitlines() if not OPERON_LINE.match(line) and line not in comments]
    original = gzip.decompress(gff.read_bytes()).decode().splitlines()
    assert len(kept) == len(original)
    changed = [(new, old) for new, old in zip(kept, original) if new != old]
    assert len(changed) == 104
    assert all(new == old.replace(";protein_id=;", ";") for new, old in changed)


def test_library_annotation_without_a_model_line_names_no_unknown_model(tmp_path):
    """`annotate_genbank` called from Python without ``comments`` (no `#microfuse` line to read) wrote each operon's
    note as 'model unknown (model_id unknown, decision_id unknown)'; it says what it knows: microfuse's version."""
    from microfuse_cli import __version__
    from microfuse_cli.annotate import annotate_genbank
    from microfuse_cli.genome import read_genome
    from microfuse_cli.score import Operon

    gbk = write_rotated(tmp_path, "genbank")
    genome = read_genome(gbk)
    a, b = genome.genes[1], genome.genes[2]
    operon = Operon("operon_1", a.scaffold, a.start, b.end, a.strand, (a.id, b.id), (0.9,))
    text = annotate_genbank(gbk.read_text(), genome, [operon])
    note = re.search(r'/note="(predicted by microfuse [^"]*)"', text.replace("\n                     ", " "))
    assert note and note.group(1).startswith(f"predicted by microfuse {__version__}: 2 genes"), text
    assert "unknown" not in text


@pytest.mark.parametrize("attributes, marked", [
    ("ID=chr;Is_circular=true", True), ("ID=chr;Is_circular=TRUE;Name=x", True), ("Is_circular=true", True),
    ("ID=chr;is_circular=true", False), ("ID=chr;Is_circular=trueish", False), ("ID=chr;Is_circular=false", False),
])
def test_circular_marks_are_read_as_the_gff3_reader_reads_them(attributes, marked):
    """--annotate writes an operon row past the length only on a region the reader (and gt) take as Is_circular:
    a key in another case or a value only starting with 'true' was taken as the mark, so the row past the length
    made an invalid file."""
    from microfuse_cli.annotate import _marked_circular

    lines = ["##gff-version 3\n", f"chr\tRefSeq\tregion\t1\t100\t.\t+\t.\t{attributes}\n"]
    assert _marked_circular(lines) == ({"chr"} if marked else set())


@pytest.mark.parametrize("spelling", ["NC%2F000908.2", "NC/000908.2"])
def test_operons_go_on_the_seqid_as_the_annotation_spells_it(spelling, tmp_path):
    """A seqid escaped as GFF3 asks (NC%2F000908.2 for NC/000908.2) is read decoded; the operon rows of --annotate
    went on 'NC/000908.2', a sequence the file does not have (gt gff3validator: no ##sequence-region), and so did
    --operons-gff's. --annotate keeps the file's own spelling (an unescaped NC/000908.2, as many tools write, too);
    --operons-gff escapes column 1 as the spec asks."""
    gff, fasta = tmp_path / "mg.gff", tmp_path / "mg.fna"
    gff.write_text(gzip.decompress(MG_GFF.read_bytes()).decode().replace("NC_000908.2", spelling))
    fasta.write_text(gzip.decompress(MG_FNA.read_bytes()).decode().replace(">NC_000908.2", ">NC/000908.2"))
    annotated, operons = tmp_path / "annotated.gff", tmp_path / "operons.gff3"
    code, _, err = run_cli(["score", gff, "--fasta", fasta, "--annotate", annotated, "--operons-gff", operons,
                            "-o", tmp_path / "scores.tsv", "-q"])
    assert code == 0, err
    rows = [line for line in annotated.read_text().splitlines() if OPERON_LINE.match(line)]
    assert len(rows) > 50 and {row.split("\t")[0] for row in rows} == {spelling}
    if spelling == "NC%2F000908.2":  # gt checks an escaped seqid against its ##sequence-region
        gff3validator(annotated)
    written = [line.split("\t")[0] for line in operons.read_text().splitlines() if not line.startswith("#")]
    assert set(written) == {"NC%2F000908.2"} and "##sequence-region NC%2F000908.2 1 580076" in operons.read_text()
    gff3validator(operons)


def test_rows_of_more_than_nine_columns_are_features_where_operons_go(tmp_path):
    """pharokka's GFF3 (read since 2db7961): its rows end in a stray tab, a 10th column. --annotate took rows of other
    than 9 columns for no feature, so every operon went after the file's last row (the file no longer sorted), and
    such a row's empty attribute (GFF3 forbids it) was kept. Now a row is read as io.gff reads it, its first 9
    columns: each operon right before the gene row where it starts, the empty attribute dropped, the stray tab kept,
    every other line as read."""
    text = gzip.decompress(MG_GFF.read_bytes()).decode()
    text = "".join(line + "\t\n" if "\tgene\t" in line or "\tCDS\t" in line else line + "\n"
                   for line in text.splitlines())
    assert "protein_id=AAC71217.2;" in text
    gff, out = tmp_path / "pharokka.gff", tmp_path / "annotated.gff"
    gff.write_text(text.replace("protein_id=AAC71217.2;", "protein_id=;"))
    code, _, err = run_cli(["score", gff, "--fasta", MG_FNA, "-o", tmp_path / "s.tsv", "--annotate", out, "-q"])
    assert code == 0, err
    lines = out.read_text().splitlines(keepends=True)
    added = [line for line in lines if OPERON_LINE.match(line)]
    assert len(added) > 50
    kept = [line for line in lines if not OPERON_LINE.match(line) and not line.startswith("# ")]
    assert "".join(kept) == text.replace("protein_id=AAC71217.2;", "")
    starts = [int(line.split("\t")[3]) for line in lines if not line.startswith("#")]
    assert starts == sorted(starts)
    for index, line in enumerate(lines):  # before the gene row where it starts
        if OPERON_LINE.match(line):
            following = next(row for row in lines[index + 1:] if not OPERON_LINE.match(row))
            assert following.split("\t")[2:4] == ["gene", line.split("\t")[3]], (line, following)


def test_genbank_note_of_genes_named_with_quotes_reads_back(tmp_path):
    """A locus tag holding '"' (legal in a GenBank qualifier, written '""'): Biopython's writer breaks a /note
    without spaces at the column limit, also between the two quotes of one '""', which no reader then reads back
    (Biopython warns, and reads other quotes). The note names such a gene with '"' as %22 (ids never hold a
    literal %22: safe_id encodes it), so it holds no quote to split."""
    from Bio import SeqIO
    from Bio.SeqFeature import SeqFeature, SimpleLocation
    from Bio.SeqRecord import SeqRecord

    genome = SeqIO.read(gzip.open(MG_FNA, "rt"), "fasta")
    record = SeqRecord(genome.seq, id="NC_000908.2", name="NC_000908", annotations={"molecule_type": "DNA"})
    for n, line in enumerate(line for line in gzip.open(MG_GFF, "rt") if "\tCDS\t" in line):
        cols = line.split("\t")
        tag = re.search(r"locus_tag=([^;\n]*)", cols[8]).group(1)
        record.features.append(SeqFeature(SimpleLocation(int(cols[3]) - 1, int(cols[4]), 1 if cols[6] == "+" else -1),
                                          type="CDS", qualifiers={"locus_tag": [f'{tag}{"_q" * (n % 5)}"""'],
                                                                  "transl_table": ["4"]}))
    gbk, out, table = tmp_path / "mg.gbk", tmp_path / "annotated.gbk", tmp_path / "operons.tsv"
    SeqIO.write(record, gbk, "genbank")
    code, _, err = run_cli(["score", gbk, "-o", tmp_path / "s.tsv", "--annotate", out, "--operons-tsv", table])
    assert code == 0, err
    features = [f for f in SeqIO.read(out, "genbank").features if f.type == "operon"]
    called = operons_table(table)
    assert len(features) == len(called) > 50
    for feature, operon in zip(features, called):
        assert operon["genes"] in feature.qualifiers["note"][0].replace(" ", "").replace("%22", '"')


def test_an_unescaped_semicolon_read_as_text_of_a_value_is_written_escaped(tmp_path):
    """A ';' left unescaped inside a product (pharokka 1.4: ``product=A; B``) is read as text of the value (io.gff,
    with a warning); copied as read, the annotated file failed `gt gff3validator` ('does not contain exactly one
    =') though `--annotate` writes a file that validates. It is written %3B, as GFF3 writes it, with one warning;
    every other row is written as read."""
    original = gzip.decompress(MG_GFF.read_bytes()).decode()
    rows = original.splitlines()
    cds = [i for i, row in enumerate(rows) if "\tCDS\t" in row and ";product=" in row][:4]
    for i in cds[:3]:
        rows[i] = re.sub(r"(;product=[^;]*)", r"\1; arrest of DNA synthesis", rows[i], count=1)
    # an empty product before the ';': text of the value, never an empty attribute whose text joins the one before
    rows[cds[3]] = re.sub(r";product=[^;]*", ";product=; arrest of DNA synthesis", rows[cds[3]], count=1)
    gff, out = tmp_path / "mg.gff", tmp_path / "mg.annotated.gff3"
    gff.write_text("\n".join(rows) + "\n")
    code, _, err = run_cli(["score", gff, "--fasta", MG_FNA, "-o", tmp_path / "s.tsv", "--annotate", out])
    assert code == 0, err
    gff3validator(out)
    assert "--annotate: wrote 4 ';' inside a value as %3B" in err and "empty value" not in err, err
    comments = model_lines(tmp_path / "s.tsv")
    kept = [line for line in out.read_text().splitlines() if not OPERON_LINE.match(line) and line not in comments]
    assert len(kept) == len(rows)
    changed = [(new, old) for new, old in zip(kept, rows) if new != old]
    assert [old for _, old in changed] == [rows[i] for i in cds]
    assert all(new == old.replace("; arrest", "%3B arrest") for new, old in changed)


def test_an_unescaped_semicolon_on_a_row_ending_in_a_stray_tab_is_written_escaped(tmp_path):
    """pharokka 1.4, whose products hold the unescaped ';' (``product=A; B``), ends its CDS rows in a stray tab:
    io.gff reads such a row as its 9 columns, so `--annotate` writes its ';' %3B too, the tab kept as read, as on
    a row of 9 columns. Split as 10 columns, the row was copied with its ';' unescaped."""
    rows = gzip.decompress(MG_GFF.read_bytes()).decode().splitlines()
    cds = [i for i, row in enumerate(rows) if "\tCDS\t" in row and ";product=" in row][:3]
    for i in cds:
        rows[i] = re.sub(r"(;product=[^;]*)", r"\1; arrest of DNA synthesis", rows[i], count=1) + "\t"
    gff, out = tmp_path / "mg.gff", tmp_path / "mg.annotated.gff3"
    gff.write_text("\n".join(rows) + "\n")
    code, _, err = run_cli(["score", gff, "--fasta", MG_FNA, "-o", tmp_path / "s.tsv", "--annotate", out])
    assert code == 0, err
    assert "--annotate: wrote 3 ';' inside a value as %3B" in err, err
    written = out.read_text().splitlines()
    for i in cds:
        assert rows[i].replace("; arrest", "%3B arrest") in written, rows[i]


def test_gff3_without_its_version_line_is_annotated_as_valid_gff3(tmp_path):
    """A GFF3 without ##gff-version (read since the sniffer took a headless GFF3 by its rows) was written back
    without one: `gt gff3validator` refused the annotated file and `--operons` did not read it as microfuse's operon
    GFF3 ('unrecognised operon table'). The annotation starts with '##gff-version 3', the model lines after it,
    every line of the input kept; it validates and labels the pairs of the genome it annotates."""
    text = "".join(line for line in gzip.open(MG_GFF, "rt") if not line.startswith("#"))
    gff, out = tmp_path / "headless.gff", tmp_path / "annotated.gff3"
    gff.write_text(text)
    code, _, err = run_cli(["score", gff, "--fasta", MG_FNA, "-o", tmp_path / "s.tsv", "--annotate", out, "-q"])
    assert code == 0, err
    lines = out.read_text().splitlines(keepends=True)
    comments = model_lines(tmp_path / "s.tsv")
    assert lines[0] == "##gff-version 3\n" and [line.rstrip("\n") for line in lines[1:4]] == comments
    assert "".join(line for line in lines[4:] if not OPERON_LINE.match(line)) == text
    gff3validator(out)
    code, _, err = run_cli(["pairs", gff, "--fasta", MG_FNA, "--operons", out, "-o", tmp_path / "p.tsv"])
    assert code == 0 and "labels from" in err, err
