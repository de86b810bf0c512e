"""The io package: one id/alias rule for GFF3 and GenBank, inputs streamed (stdin read once, caps kept), gene sources
behind one interface, one protein-FASTA reader and writer."""

from __future__ import annotations

import gzip
import io
import os
import sys
import threading
import warnings

import pytest

from conftest import ROOT, run_cli
from microfuse_cli.errors import DataError, UsageError
from microfuse_cli.genes import AnnotationGenes, PyrodigalGenes
from microfuse_cli.genome import GenomeOptions, gene_source, read_genome
from microfuse_cli.io.fasta import read_fasta_scaffolds, read_proteins, write_proteins
from microfuse_cli.io.genbank import read_genbank
from microfuse_cli.io.gff import read_gff

MG_GFF = ROOT / "examples" / "data" / "mgenitalium_g37.gff.gz"
MG_FNA = ROOT / "examples" / "data" / "mgenitalium_g37.fna.gz"
QUALIFIERS = {"locus_tag": "b0002", "old_locus_tag": "ECK0002", "gene": "thrA", "protein_id": "NP_414543.1",
              "gene_synonym": "Hs, thrA1"}


def _sequence() -> str:
    """600 bp holding one 300-bp ORF at 101..400."""
    orf = "ATG" + "GCT" * 98 + "TAA"
    return "C" * 100 + orf + "G" * 200


def _gff(qualifiers: dict[str, str]) -> str:
    attributes = ";".join(f"{k}={v}" for k, v in qualifiers.items())
    return (f"##gff-version 3\nc1\ttest\tCDS\t101\t400\t.\t+\t0\t{attributes}\n##FASTA\n>c1\n{_sequence()}\n")


def _genbank(qualifiers: dict[str, str]) -> str:
    from Bio.Seq import Seq
    from Bio.SeqFeature import FeatureLocation, SeqFeature
    from Bio.SeqIO import write
    from Bio.SeqRecord import SeqRecord

    record = SeqRecord(Seq(_sequence()), id="c1", name="c1", description="one gene",
                       annotations={"molecule_type": "DNA", "topology": "linear"})
    record.features.append(SeqFeature(FeatureLocation(100, 400, strand=1), type="CDS",
                                      qualifiers={k: [v] for k, v in qualifiers.items()}))
    handle = io.StringIO()
    write(record, handle, "genbank")
    return handle.getvalue()


@pytest.mark.parametrize("drop", [(), ("locus_tag",), ("locus_tag", "protein_id")])
def test_gff_and_genbank_name_a_gene_alike(drop):
    """The same CDS qualifiers give the same id and aliases from both formats (protein_id, then the coordinates,
    when there is no locus_tag; synonyms split on commas and semicolons alike)."""
    qualifiers = {k: v for k, v in QUALIFIERS.items() if k not in drop}
    (from_gff,) = read_gff("one.gff", text=_gff(qualifiers)).genes
    (from_gbk,) = read_genbank("one.gbk", text=_genbank(qualifiers)).genes
    assert (from_gff.id, from_gff.aliases) == (from_gbk.id, from_gbk.aliases)
    assert from_gff.id == {(): "b0002", ("locus_tag",): "NP_414543.1", ("locus_tag", "protein_id"): "c1_101_400"}[drop]
    assert "thrA1" in from_gff.aliases and "Hs" in from_gff.aliases
    assert from_gff.protein == from_gbk.protein == "M" + "A" * 98


def test_refseq_gene_id_is_an_alias_without_its_prefix():
    """A RefSeq gene ID (gene-MG_001) names the gene as MG_001 too; the CDS's protein_id is an alias."""
    genome = read_genome(MG_GFF, MG_FNA)
    first = genome.genes[0]
    assert first.id == "MG_001" and "gene-MG_001" in first.aliases
    assert any(alias.startswith(("NP_", "WP_", "AAC")) for alias in first.aliases), first.aliases


def test_latin1_file_streams_like_a_whole_read(tmp_path):
    """A GFF3 with one latin-1 byte (not UTF-8) still reads; the name is decoded as latin-1, as a whole read did."""
    path = tmp_path / "latin.gff.gz"
    path.write_bytes(gzip.compress(_gff({"locus_tag": "b1", "Name": "caf\xe9"}).encode("latin-1")))
    (gene,) = read_gff(path).genes
    assert "café" in gene.aliases


def test_genome_from_unseekable_stdin_is_read_once(monkeypatch):
    """``-`` reads gzip from a pipe: the format is told from a peeked prefix, then the same stream is parsed."""
    reader, writer = os.pipe()
    data = MG_GFF.read_bytes()

    def feed():
        with open(writer, "wb") as pipe:
            pipe.write(data)

    thread = threading.Thread(target=feed)
    thread.start()
    with open(reader, "r") as stdin:
        monkeypatch.setattr(sys, "stdin", stdin)
        from_stdin = read_genome("-", MG_FNA)
    thread.join()
    from_file = read_genome(MG_GFF, MG_FNA)
    assert len(from_stdin.genes) == 476
    assert [(g.id, g.start, g.end, g.protein) for g in from_stdin.genes] == \
        [(g.id, g.start, g.end, g.protein) for g in from_file.genes]


def test_streamed_fasta_refuses_a_huge_line_without_holding_it(tmp_path):
    """The record-by-record FASTA reader keeps the line cap: a 1 GiB header is refused after MAX_LINE_BYTES."""
    from test_hostile_inputs import assert_refused_within_line_cap, huge_header_gz

    path = tmp_path / "header.fna.gz"
    path.write_bytes(huge_header_gz())
    assert_refused_within_line_cap(read_fasta_scaffolds, path)


def test_gene_source_is_chosen_in_one_place():
    options = GenomeOptions(mode="meta", genetic_code=4)
    assert gene_source("fasta", "a.fna", None, options, threads=2) == PyrodigalGenes("meta", 4, 2)
    assert gene_source("gff", "a.gff", "a.fna", options) == AnnotationGenes("gff", "a.fna", 4)
    assert gene_source("genbank", "a.gbk", None, options) == AnnotationGenes("genbank", None, 4)
    with pytest.raises(UsageError, match="a FASTA input is a bare assembly"):
        gene_source("fasta", "a.fna", "b.fna", options)
    with pytest.raises(UsageError, match="only used with a GFF3 input"):
        gene_source("genbank", "a.gbk", "b.fna", options)
    with pytest.raises(UsageError, match="no such NCBI genetic code"):
        gene_source("gff", "a.gff", None, GenomeOptions(genetic_code=7))


def test_annotation_genes_are_those_read_genome_gives():
    genome = AnnotationGenes("gff", MG_FNA).find_genes(MG_GFF)
    assert genome.genes == read_genome(MG_GFF, MG_FNA).genes and genome.gene_source == "annotation"


def test_protein_fasta_round_trip(tmp_path):
    records = [("a", "M" + "K" * 130), ("b", "MV")]
    handle = io.StringIO()
    assert write_proteins(handle, records) == 2
    assert handle.getvalue().split("\n")[1:4] == ["M" + "K" * 59, "K" * 60, "K" * 11]
    (tmp_path / "p.faa").write_text(handle.getvalue())
    assert read_proteins(tmp_path / "p.faa") == dict(records)
    one_line = io.StringIO()
    write_proteins(one_line, records, width=None)
    assert one_line.getvalue() == f">a\n{records[0][1]}\n>b\nMV\n"


def test_warnings_about_stdin_name_it_stdin_not_its_temp_file():
    """A Mycoplasma GFF3 piped without transl_table: the wrong-code warning named the private temp file stdin is
    spooled to ('/tmp/microfuse-if9x25rt/stdin: 340 of 476 CDS have internal stop codons'), which no longer
    exists when the user reads it; errors were already renamed, warnings were not."""
    from conftest import PANEL, run_cli

    gff = PANEL / "GCF_000027325.1_ASM2732v1_genomic.gff.gz"
    fna = PANEL / "GCF_000027325.1_ASM2732v1_genomic.fna.gz"
    without_code = gzip.decompress(gff.read_bytes()).replace(b";transl_table=4", b"")
    code, _, err = run_cli(["pairs", "-", "--fasta", fna, "-o", os.devnull], stdin=without_code)
    assert code == 0, err
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and warning[0].startswith("warning: stdin: 340 of 476 CDS have internal stop"), err
    assert "microfuse-" not in err


def test_biopython_warnings_name_their_file_on_the_logger_also_from_threads(tmp_path, caplog):
    """Biopython warns of a LOCUS length that is not the sequence's through warnings.warn, naming no file
    ('Expected sequence length 3503000, found 3503610 (CR628336.1).'): with several inputs no one could tell which.
    Two copies of L. pneumophila's GenBank, each LOCUS length edited, read on two threads: each warning is said
    once on the microfuse logger naming its file, none as a Python warning, and the warnings filters stay as
    they were."""
    import warnings
    from concurrent.futures import ThreadPoolExecutor

    from conftest import SHARED

    text = gzip.decompress((SHARED / "lpneumophila_paris" / "CR628336.1.gbk.gz").read_bytes()).decode()
    edited = {tmp_path / f"{length}.gbk": length for length in (3503000, 3600000)}
    for path, length in edited.items():
        path.write_text(text.replace("3503610 bp", f"{length} bp", 1))
    with warnings.catch_warnings(record=True) as python_warnings, caplog.at_level("WARNING", logger="microfuse"):
        warnings.simplefilter("always")
        before = list(warnings.filters)
        with ThreadPoolExecutor(2) as pool:
            genomes = list(pool.map(read_genome, edited))
        assert warnings.filters == before
    assert [str(w.message) for w in python_warnings] == []
    logged = sorted(r.getMessage() for r in caplog.records if r.name == "microfuse")
    assert logged == sorted(f"{path}: Expected sequence length {length}, found 3503610 (CR628336.1)"
                            for path, length in edited.items())
    assert all(g.scaffolds["CR628336.1"].length == 3503610 and len(g.genes) > 3000 for g in genomes)


def test_locus_name_run_into_its_length_is_refused_saying_why(tmp_path):
    """Older Prokka/tbl2asn write a contig name over 16 characters into the LOCUS length with no space between;
    Biopython's bare 'Did not recognise the LOCUS line layout' said neither what was wrong nor what to do. A real
    piece of L. pneumophila's GenBank (its first two CDS, 2700 bp) reads with a long name spaced from the length,
    and is refused, saying so, with the name run into it."""
    from conftest import SHARED, run_cli

    lines = gzip.decompress((SHARED / "lpneumophila_paris" / "CR628336.1.gbk.gz").read_bytes()).decode().splitlines()
    origin = next(i for i, line in enumerate(lines) if line.startswith("ORIGIN"))
    body = lines[1:lines.index("FEATURES             Location/Qualifiers") + 69] + lines[origin:origin + 46] + ["//"]
    assert body[-2].split()[0] == "2641" and sum(line.startswith("     CDS ") for line in body) == 2
    spaced, run_together = (tmp_path / "spaced.gbk", tmp_path / "run_together.gbk")
    for path, name in ((spaced, "NODE_1_length_2700_cov_2.51234 "), (run_together, "NODE_1_length_2700_cov_2.512345")):
        path.write_text("\n".join([f"LOCUS       {name}2700 bp    DNA     linear   BCT 27-FEB-2015"] + body) + "\n")
    assert len(read_genome(spaced).genes) == 2
    code, _, err = run_cli(["pairs", run_together, "-o", tmp_path / "o.tsv"])
    assert code == 1 and err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: {run_together}: LOCUS line 'LOCUS       NODE_1_length_2700_cov_2.5123452700 bp")
    assert "the record name runs into its length" in err and "Prokka --compliant" in err and "GFF3" in err


def test_seqids_differing_only_in_case_are_named_not_matched(tmp_path):
    """A GFF3 (or a bins table) whose seqids differ from the FASTA's only in case: the error names the near match
    (was: a plain 'not found' / 'the bins of another assembly?'), and the ids are still not matched silently."""
    from conftest import run_cli

    lowered = gzip.decompress(MG_GFF.read_bytes()).decode().replace("NC_000908.2\t", "nc_000908.2\t")
    gff = tmp_path / "lower.gff"
    gff.write_text(lowered)
    code, _, err = run_cli(["pairs", gff, "--fasta", MG_FNA, "-o", tmp_path / "pairs.tsv"])
    assert code == 1 and err.splitlines()[-1] == (
        f"error: {gff}: sequence id(s) nc_000908.2 not found in the FASTA sequences (did you mean NC_000908.2? it "
        "differs from nc_000908.2 only in case)"), err
    bins = tmp_path / "bins.tsv"
    bins.write_text("nc_000908.2\tmge\n")
    code, _, err = run_cli(["pairs", MG_FNA, "-g", "4", "--bins", bins, "-o", tmp_path / "pairs.tsv"])
    assert code == 1 and err.splitlines()[-1] == (
        f"error: {bins}: none of its 1 scaffolds is in {MG_FNA.name} (e.g. nc_000908.2) (did you mean NC_000908.2? "
        "it differs from nc_000908.2 only in case)"), err
    assert not (tmp_path / "pairs.tsv").exists()


def test_a_lone_n_beside_a_cds_end_is_no_assembly_gap():
    """A CDS cut within a codon of a run of 10+ N (an assembly gap, as pairs.assembly_gaps counts it) is cut there;
    one ambiguous base beside its end is not a gap (a /pseudo CDS with < or > there stays a pseudogene)."""
    from microfuse_cli.io.features import MIN_GAP_NS, cut_ends
    from microfuse_cli.pairs import assembly_gaps

    body = "ATG" + "GCA" * 30 + "TAA"  # a CDS at 101..196 of a 400 bp scaffold
    lone = "A" * 97 + "ANA" + body + "TNA" + "A" * 201
    gapped = "A" * (100 - MIN_GAP_NS) + "N" * MIN_GAP_NS + body + "T" + "N" * MIN_GAP_NS + "A" * (203 - MIN_GAP_NS)
    assert len(lone) == len(gapped) == 400
    assert cut_ends(400, lone, 101, 196) == (False, False) and not assembly_gaps(lone)
    assert cut_ends(400, gapped, 101, 196) == (True, True) and len(assembly_gaps(gapped)) == 2
    assert cut_ends(400, None, 2, 399) == (True, True)
    assert assembly_gaps(body) == [] and assembly_gaps("ACGT" * 50 + "nnnnNNNNNn" + "ACGT") == [(201, 210)]


def test_codon_lookup_translates_as_biopython_in_every_genetic_code():
    """io.features._translate_codons (a numpy lookup for A/C/G/T, else Biopython) gives Biopython's protein in every
    NCBI table, on pieces of M. genitalium read forward and reversed, in lower case, with an N, an IUPAC code, a U."""
    from Bio import BiopythonWarning
    from Bio.Data import CodonTable
    from Bio.Seq import Seq

    from microfuse_cli.io.features import _translate_codons

    genome = gzip.decompress(MG_FNA.read_bytes()).decode().split("\n", 1)[1].replace("\n", "").upper()
    pieces = [genome[i:i + 900] for i in range(0, 90_000, 9_000)]
    pieces += [str(Seq(p).reverse_complement()) for p in pieces]
    pieces += [pieces[0].lower(), pieces[1][:300] + "N" + pieces[1][301:], pieces[2][:300] + "R" + pieces[2][301:],
               pieces[3].replace("T", "U"), ""]
    for code in CodonTable.ambiguous_generic_by_id:
        for piece in pieces:
            with warnings.catch_warnings():  # tables 27, 28, 31: Biopython warns that a stop codon also codes
                warnings.simplefilter("ignore", BiopythonWarning)
                expected = str(Seq(piece).translate(table=code))
                assert _translate_codons(piece, code) == expected, (code, piece[:20])


def test_operon_gff3_gene_lists_split_before_unescaping(tmp_path):
    """write_operons_gff escapes each member id (a ',' in one is %2C) and joins them with ','; read back as known
    operons, the list is split first, so such an id stays one gene; a GFF3 operon without genes= is refused."""
    from microfuse_cli.errors import DataError
    from microfuse_cli.io.tables import read_operon_table

    known = tmp_path / "operons.gff3"
    known.write_text("##gff-version 3\n#!microfuse 0.1.0\ns1\tmicrofuse\toperon\t1\t900\t0.9\t+\t.\t"
                     "ID=operon_1;genes=geneA%2Cx,geneB;n_genes=2\ns1\tother\tgene\t5\t90\t.\t+\t.\tID=g\n"
                     "s1\tother\tregion\t1\t2000\t.\t+\t.\tID=op;Ontology_term=GO:0000001,SO:0000178;genes=geneC,geneD\n")
    assert read_operon_table(known) == [["geneA,x", "geneB"], ["geneC", "geneD"]]
    known.write_text("##gff-version 3\ns1\tother\toperon\t1\t900\t.\t+\t.\tID=op1\n")
    with pytest.raises(DataError, match="line 2: an operon feature without genes="):
        read_operon_table(known)


def test_operon_gff3_rows_with_a_stray_trailing_tab_are_read(tmp_path):
    """An operon GFF3 whose rows end in a stray tab (an empty 10th column, as pharokka writes its rows and read_gff
    drops) was read as having no operon feature: its rows, not of exactly 9 columns, were skipped."""
    from microfuse_cli.io.tables import read_operon_table

    known = tmp_path / "operons.gff3"
    known.write_text("##gff-version 3\r\ns1\tmicrofuse\toperon\t1\t900\t0.9\t+\t.\tID=operon_1;genes=geneA,geneB"
                     "\t\r\ns1\tmicrofuse\toperon\t950\t2000\t0.8\t-\t.\tID=operon_2;genes=geneC,geneD\t \t\n")
    assert read_operon_table(known) == [["geneA", "geneB"], ["geneC", "geneD"]]


@pytest.mark.parametrize("compressed", [True, False])
def test_a_spooled_stream_past_the_cap_says_which_bytes_it_counted(compressed, monkeypatch):
    """A pipe is kept in a temp file as it comes, so a gzip stream is capped by its compressed bytes there (its
    decompressed bytes are capped when read): 1,900 random bytes gzipped past a 1,910-byte cap were refused as
    'more than 1910 bytes (decompressed)', which they were not. A plain stream's bytes are its decompressed bytes."""
    import microfuse_cli.io.files as mio
    from microfuse_cli.errors import DataError

    monkeypatch.setattr(mio, "MAX_INPUT_BYTES", 1910)
    data = gzip.compress(os.urandom(1900)) if compressed else b"ACGT\n" * 400
    assert len(data) > 1910 and (not compressed or len(gzip.decompress(data)) < 1910)
    kept = io.BytesIO()
    with pytest.raises(DataError) as refused:
        mio.spool(io.BytesIO(data), kept, "stdin")
    said = "compressed bytes" if compressed else "bytes (decompressed)"
    assert str(refused.value) == f"stdin: more than 1910 {said}; refusing (MICROFUSE_MAX_INPUT)"
    assert len(kept.getvalue()) <= 1910


def test_a_failed_read_of_stdin_names_stdin_not_tmpdir(monkeypatch):
    """stdin is kept in a temp file; a read of stdin that failed (EIO, a reset socket) was reported as the temp
    file's ('cannot keep stdin in a temp file in /tmp (TMPDIR ...): Input/output error'). A failed read names
    stdin (a temp file that cannot be written still names TMPDIR: test_output_policy)."""
    import errno

    import microfuse_cli.io.files as mio
    from microfuse_cli.cli._common import stdin_as_file
    from microfuse_cli.errors import DataError

    class FailsAfterOneBlock(io.BytesIO):
        def read(self, size=-1):
            if self.tell():
                raise OSError(errno.EIO, os.strerror(errno.EIO))
            return super().read(size)

    monkeypatch.setattr(mio, "stdin_stream", lambda: FailsAfterOneBlock(b"##gff-version 3\n" * 100000))
    with pytest.raises(DataError) as refused, stdin_as_file("-"):
        pass
    assert str(refused.value) == "cannot read stdin: Input/output error"


def test_gene_ids_with_whitespace_keep_their_own_protein_through_a_protein_fasta(tmp_path):
    """`pairs --proteins` wrote '>MG 001' for a legal GFF3 locus_tag with a space, which every FASTA reader takes as
    'MG': embed then said the gene had no protein, and where another gene was named 'MG' it got this one's protein
    silently (the last of a repeated first word won). Whitespace in gene ids is percent-encoded as in the TSVs (the
    name as written stays an alias), and a protein FASTA giving one id two sequences is refused."""
    import gzip

    from conftest import MG_G37, run_cli

    from microfuse_cli.errors import DataError
    from microfuse_cli.io.fasta import read_proteins

    text = gzip.decompress(open(f"{MG_G37}.gff.gz", "rb").read()).decode()
    gff = tmp_path / "mg.gff"
    gff.write_text(text.replace("locus_tag=MG_001;", "locus_tag=MG 001;").replace("locus_tag=MG_002;", "locus_tag=MG;"))
    code, _, err = run_cli(["pairs", gff, "--fasta", f"{MG_G37}.fna.gz", "--genetic-code", "4", "--proteins",
                            tmp_path / "p.faa", "-o", tmp_path / "pairs.tsv", "-q"])
    assert code == 0, err
    proteins = read_proteins(tmp_path / "p.faa")
    first = [line for line in (tmp_path / "pairs.tsv").read_text().splitlines() if line[:1] != "#"][1].split("\t")
    assert first[2:4] == ["MG%20001", "MG"] and proteins["MG%20001"] != proteins["MG"]
    assert proteins["MG%20001"].startswith("M") and len(proteins) == 476
    code, _, err = run_cli(["score", gff, "--fasta", f"{MG_G37}.fna.gz", "--genetic-code", "4", "--pairs", "-",
                            "-o", tmp_path / "s.tsv", "-q"], stdin=b"MG 001\tMG\n")
    assert code == 0 and "MG%20001|MG" in (tmp_path / "s.tsv").read_text(), err  # the name as written still works
    twice = tmp_path / "twice.faa"
    twice.write_text(">MG 001 one\nMKV\n>MG two\nMLL\n")
    with pytest.raises(DataError, match="protein 'MG' is given twice with different sequences"):
        read_proteins(twice)


def _phage() -> tuple[str, list[tuple[str, int, int, int, str]]]:
    """A 4,000-bp phage-like sequence (made up) and its genes: (locus tag, start, end, strand, protein)."""
    import random

    from Bio.Seq import Seq

    rng = random.Random(7)
    sense = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in ("TAA", "TAG", "TGA")]
    sequence = list(rng.choice("ACGT") for _ in range(4000))
    genes = []
    for tag, start, codons, strand in (("phage_CDS_0001", 61, 120, 1), ("phage_CDS_0002", 481, 200, 1),
                                       ("phage_CDS_0003", 1201, 150, -1), ("phage_CDS_0004", 2001, 90, 1)):
        orf = "ATG" + "".join(rng.choice(sense) for _ in range(codons - 2)) + "TAA"
        placed = orf if strand > 0 else str(Seq(orf).reverse_complement())
        sequence[start - 1:start - 1 + len(orf)] = placed
        genes.append((tag, start, start + len(orf) - 1, strand, str(Seq(orf).translate(table=11, to_stop=True))))
    return "".join(sequence), genes


def _pharokka_gff(sequence: str, genes, cds_tail: str = "\t", trna_tail: str = "\tMet") -> str:
    """The GFF3 pharokka writes, in its form: each CDS row ends in a stray tab (an empty 10th column), its tRNA row
    carries a 10th column, then ##FASTA."""
    rows = ["##gff-version 3", f"##sequence-region phage 1 {len(sequence)}"]
    for tag, start, end, strand, _ in genes:
        rows.append(f"phage\tPhanotate\tCDS\t{start}\t{end}\t.\t{'+-'[strand < 0]}\t0\tID={tag};transl_table=11;"
                    f"phrog=No_PHROG;top_hit=No_PHROG;locus_tag={tag};function=unknown%20function;"
                    f"product=hypothetical protein{cds_tail}")
        if tag.endswith("2"):
            rows.append(f"phage\ttRNAscan-SE\ttRNA\t{end + 31}\t{end + 104}\t61.2\t+\t.\tID=phage_tRNA_0001;"
                        f"trna=tRNA-Met(cat);isotypes=Met;anticodon=cat;locus_tag=phage_tRNA_0001{trna_tail}")
    return "\n".join(rows) + f"\n##FASTA\n>phage\n{sequence}\n"


def test_pharokka_gff3_reads_with_its_stray_tabs_and_tRNA_column(tmp_path, caplog):
    """pharokka's GFF3 (CDS rows ending in a trailing tab, tRNA rows with a 10th column) was refused at its first CDS
    row ('expected 9 tab-separated GFF3 columns, found 10'). Empty columns past the 9th hold nothing: read silently;
    a 10th on the tRNA row, which no gene is read from, is set aside with one warning naming its line. The genes are
    the annotation's: ids, coordinates, strands and proteins."""
    sequence, genes = _phage()
    path = tmp_path / "pharokka.gff"
    path.write_text(_pharokka_gff(sequence, genes))
    with caplog.at_level("INFO", logger="microfuse"):
        genome = read_genome(path)
    assert [(g.id, g.start, g.end, g.strand, g.protein, g.partial) for g in genome.genes] == [
        (tag, start, end, strand, protein, False) for tag, start, end, strand, protein in genes]
    assert genome.scaffolds["phage"].length == 4000
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert said == [f"{path}: line 5: its columns past the 9th set aside (GFF3 has 9; that row is not read for "
                    "genes)"], said
    caplog.clear()
    path.write_text(_pharokka_gff(sequence, genes, trna_tail="\t \t"))  # empty extra columns alone: nothing said
    with caplog.at_level("INFO", logger="microfuse"):
        assert [g.id for g in read_genome(path).genes] == [g[0] for g in genes]
    assert not [r for r in caplog.records if "column" in r.getMessage()], caplog.records


def test_a_gff3_without_its_version_line_whose_rows_end_in_a_stray_tab_is_sniffed_as_gff3(tmp_path):
    """Format sniffing took a row for GFF3 only at exactly 8 tabs, while read_gff drops empty columns past the 9th:
    pharokka's GFF3 without its ##gff-version and ##sequence-region lines was refused as 'not a GFF3, GenBank, EMBL
    or FASTA file'. It reads as the reader reads it; a row of a 10th column holding text is GFF3 too (was: not
    sniffed so, 'not a GFF3 ... file'), the reader naming that column on a CDS row, where it may be column 9 cut."""
    from microfuse_cli.io.formats import sniff_format

    sequence, genes = _phage()
    text = "\n".join(line for line in _pharokka_gff(sequence, genes).split("\n") if not line.startswith("##g")
                     and not line.startswith("##s"))
    path = tmp_path / "headless.gff"
    path.write_text(text)
    assert sniff_format(text, path) == "gff"
    assert [(g.id, g.start, g.end, g.strand) for g in read_genome(path).genes] == [g[:4] for g in genes]
    path.write_text(text.replace("\t\n", "\tx\n", 1))
    assert sniff_format(path.read_text(), path) == "gff"
    with pytest.raises(DataError, match=r"line 1: .* \(this CDS row's column 10 holds 'x': an unescaped tab"):
        read_genome(path)


def test_a_cds_row_with_a_tenth_column_is_still_refused(tmp_path):
    """Columns past the 9th on a CDS row may be its column 9 cut by an unescaped tab (its locus_tag after it): never
    read as 9 columns, silently renaming the gene; the error names the line and what the column holds. A row short
    of a column (a truncated file) is refused as before."""
    sequence, genes = _phage()
    path = tmp_path / "pharokka.gff"
    path.write_text(_pharokka_gff(sequence, genes, cds_tail="\tlocus_tag=x"))
    code, _, err = run_cli(["pairs", path, "-o", tmp_path / "p.tsv"])
    assert code == 1 and err.strip() == (f"error: {path}: line 3: expected 9 tab-separated GFF3 columns, found 10 "
                                         "(this CDS row's column 10 holds 'locus_tag=x': an unescaped tab in column 9, "
                                         "which GFF3 writes %09?)"), err
    text = _pharokka_gff(sequence, genes)
    path.write_text(text[:text.index("\tCDS\t2001\t") + 10])  # cut inside its last CDS row, after a tab
    code, _, err = run_cli(["pairs", path, "-o", tmp_path / "p.tsv"])
    assert code == 1 and err.strip() == f"error: {path}: line 7: expected 9 tab-separated GFF3 columns, found 5", err
    assert not (tmp_path / "p.tsv").exists()


def _with_trna_pseudogene(text: str, tenth: str) -> str:
    """pharokka's GFF3 with a tRNAscan-SE tRNA pseudogene row after its tRNA row, ``tenth`` its 10th column (pharokka
    writes the anticodon there)."""
    trna = next(line for line in text.split("\n") if "\ttRNA\t" in line)
    return text.replace(trna, f"{trna}\nphage\ttRNAscan-SE\tpseudogene\t1700\t1765\t17.1\t-\t.\tID=phage_tRNA_0002;"
                              f"locus_tag=phage_tRNA_0002;gene=tRNA-Lys(AAG);product=tRNA-Lys(AAG)\t{tenth}")


def test_pharokka_trna_pseudogene_row_with_its_anticodon_column_reads(tmp_path, caplog):
    """pharokka also writes tRNAscan-SE's tRNA pseudogenes as pseudogene rows with the anticodon in a 10th column
    (its golden tmRNA output): refused, a pseudogene row being one of the gene rows, so such a file could not be read
    at all. A 10th column holding no attribute is set aside there too; one holding key=value (column 9 cut by a
    tab, its ID or Parent after it) is still refused."""
    sequence, genes = _phage()
    path = tmp_path / "pharokka.gff"
    path.write_text(_with_trna_pseudogene(_pharokka_gff(sequence, genes), "AAG"))
    with caplog.at_level("INFO", logger="microfuse"):
        genome = read_genome(path)
    assert [(g.id, g.start, g.end, g.protein) for g in genome.genes] == [(t, s, e, p) for t, s, e, _, p in genes]
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert said == [f"{path}: line 5 and 1 more: their columns past the 9th set aside (GFF3 has 9; those rows are "
                    "not read for genes)"], said
    path.write_text(_with_trna_pseudogene(_pharokka_gff(sequence, genes), "Parent=x"))
    with pytest.raises(DataError, match=r"line 6: .* \(this pseudogene row's column 10 holds 'Parent=x': an "):
        read_genome(path)


def test_a_trna_row_and_the_cds_row_after_it_on_one_line_are_refused(tmp_path):
    """A tRNA row and the CDS row after it on one line (a line break lost) set the CDS aside with the tRNA row's 10th
    column: a gene gone under the warning every pharokka file gets (was: read, one gene and one pair fewer).
    Refused, naming the line and the row in its columns."""
    sequence, genes = _phage()
    text = _pharokka_gff(sequence, genes)
    trna = next(line for line in text.split("\n") if "\ttRNA\t" in line)
    path = tmp_path / "pharokka.gff"
    path.write_text(text.replace(trna + "\n", trna))
    code, _, err = run_cli(["pairs", path, "-o", tmp_path / "p.tsv"])
    assert code == 1 and err.strip() == (f"error: {path}: line 5: expected 9 tab-separated GFF3 columns, found 19 "
                                         "(columns 12-14 hold a CDS row's type, start and end: two rows on one "
                                         "line, a line break lost?)"), err
    assert not (tmp_path / "p.tsv").exists()


#: Products pharokka 1.4 wrote with a ';' unescaped (its SAOMS1 example output, lines 110, 111 and 251), as it
#: wrote them: the second is 'ribulose-1,5-bisphosphate ...' with its comma turned into a ';'.
_PHAROKKA_14_PRODUCTS = ("DNA sliding clamp inhibitor; arrest of S.aureus DNA synthesis",
                         "ribulose-1;5-bisphosphate carboxylase/oxygenase small subunit", "hypothetical protein",
                         "ribosome associated inhibitor A; zinc finger domain")


def _pharokka_14_gff(sequence: str, genes, products=_PHAROKKA_14_PRODUCTS) -> str:
    """The GFF3 pharokka 1.4 wrote (its SAOMS1 example's form): ID, phrog, top_hit, locus_tag, function, then product
    as written, a ';' in it unescaped; 9 columns; ##FASTA."""
    rows = ["##gff-version 3", f"##sequence-region phage 1 {len(sequence)}"]
    for (tag, start, end, strand, _), product in zip(genes, products):
        rows.append(f"phage\tPHANOTATE\tCDS\t{start}\t{end}\t-54.03645559932034\t{'+-'[strand < 0]}\t0\tID={tag};"
                    f"phrog=3664;top_hit=MF398190_p178;locus_tag={tag};function=DNA, RNA and nucleotide metabolism;"
                    f"product={product}")
    return "\n".join(rows) + f"\n##FASTA\n>phage\n{sequence}\n"


def test_pharokka_14_products_with_an_unescaped_semicolon_read(tmp_path, caplog):
    """pharokka 1.4 wrote a product's ';' unescaped (``product=DNA sliding clamp inhibitor; arrest of S.aureus DNA
    synthesis``): such a file was refused ('malformed attribute'). The piece after the ';', holding no '=', is
    text of the product, which no gene is read from: read as part of it, with one warning naming the first line.
    The genes are those of the same file with the ';' escaped (%3B), which reads without a word."""
    sequence, genes = _phage()
    path = tmp_path / "pharokka.gff"
    path.write_text(_pharokka_14_gff(sequence, genes))
    with caplog.at_level("INFO", logger="microfuse"):
        genome = read_genome(path)
    said = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert said == [f"{path}: line 3 and 2 more: a ';' inside a value, unescaped (GFF3 writes %3B): the text after it, "
                    "holding no '=', read as part of that value, one microfuse reads no gene from: product='DNA "
                    "sliding clamp inhibitor; arrest of S.aureus DNA synthesis'"], said
    escaped = tmp_path / "escaped.gff"
    escaped.write_text(_pharokka_14_gff(sequence, genes, [p.replace(";", "%3B") for p in _PHAROKKA_14_PRODUCTS]))
    caplog.clear()
    with caplog.at_level("INFO", logger="microfuse"):
        assert read_genome(escaped).genes == genome.genes
    assert not [r for r in caplog.records if r.levelname == "WARNING"], caplog.records
    assert [(g.id, g.start, g.end, g.strand, g.protein, g.aliases) for g in genome.genes] == [
        (tag, start, end, strand, protein, (tag,)) for tag, start, end, strand, protein in genes]
    code, _, err = run_cli(["pairs", path, "-o", tmp_path / "p.tsv", "-q"])
    assert code == 0 and "a ';' inside a value" in err and len((tmp_path / "p.tsv").read_text().splitlines()) == 7


@pytest.mark.parametrize("attributes, why", [
    ("ID=phage_CDS_0001; b;locus_tag=phage_CDS_0001", "after ID=, which microfuse reads genes by"),
    ("ID=x;locus_tag=phage_CDS_0001;x", "after locus_tag=, which microfuse reads genes by"),
    ("ID=x;Parent=gene1; gene2;locus_tag=y", "after Parent=, which microfuse reads genes by"),
    ("ID=x;Name=dnaN; beta clamp;locus_tag=y", "after Name=, which microfuse reads genes by"),
    ("ID=x;product=beta clamp;locus_tag phage_CDS_0009", "starts with an attribute microfuse reads genes by"),
    ("ID=x;locus_tag=y;product=beta clamp; partial", "starts with an attribute microfuse reads genes by"),
    ("ID=x;locus_tag=y;product=beta clamp; gene dnaN", "starts with an attribute microfuse reads genes by"),
    ("product=beta clamp;ID=x;Note=cut; missing C-terminus", "after Note=, which microfuse reads genes by"),
    ("beta clamp;ID=x;locus_tag=y", ""),
])
def test_a_piece_without_equals_near_a_gene_name_is_still_refused(tmp_path, attributes, why):
    """Text without '=' after an ID, Parent, locus_tag, Name (or any value microfuse reads a gene from), or starting
    with such a key (an '=' lost: 'locus_tag b1'; a flag: 'partial'), or before any key=value, is never read as part
    of a value: refused as malformed, naming the line and why, so no gene is named, joined or read wrong."""
    sequence, genes = _phage()
    text = _pharokka_14_gff(sequence, genes, ["beta clamp"] * 4)
    first = next(line for line in text.split("\n") if "\tCDS\t" in line)
    path = tmp_path / "pharokka.gff"
    path.write_text(text.replace(first, first.rsplit("\t", 1)[0] + "\t" + attributes))
    code, _, err = run_cli(["pairs", path, "-o", tmp_path / "p.tsv"])
    assert code == 1 and err.startswith(f"error: {path}: line 3: malformed attribute ") and why in err, err
    assert len(err.strip().splitlines()) == 1 and not (tmp_path / "p.tsv").exists()


@pytest.mark.parametrize("piece, product", [
    ("gene transfer agent protein", "beta clamp; gene transfer agent protein"),
    ("Name resolution in phage genomes", "beta clamp; Name resolution in phage genomes"),
    ("locus_tagphage_CDS_0009", "beta clamp; locus_tagphage_CDS_0009"),
])
def test_a_piece_that_only_starts_with_a_key_is_text_of_the_product(tmp_path, caplog, piece, product):
    """Text after an unescaped ';' in a product that starts with a key microfuse reads (``gene transfer agent
    protein``) was refused as an '=' lost ('malformed attribute'), the whole file with it. An '=' lost leaves a key
    and its one-word value (``gene dnaN``, still refused); more words are text: read as part of the product, the
    genes those of the file with the ';' escaped. A key glued to its value (``locus_tagphage_CDS_0009``, a corrupt
    file) cannot be told from a word of text: read so too, the warning quoting the product so joined."""
    sequence, genes = _phage()
    text = _pharokka_14_gff(sequence, genes, ["beta clamp"] * 4)
    first = next(line for line in text.split("\n") if "\tCDS\t" in line)
    path = tmp_path / "pharokka.gff"
    path.write_text(text.replace(first, f"{first}; {piece}"))
    with caplog.at_level("WARNING", logger="microfuse"):
        genome = read_genome(path)
    said = [r.getMessage() for r in caplog.records]
    assert said == [f"{path}: line 3: a ';' inside a value, unescaped (GFF3 writes %3B): the text after it, holding no "
                    f"'=', read as part of that value, one microfuse reads no gene from: product={product!r}"], said
    escaped = tmp_path / "escaped.gff"
    escaped.write_text(text.replace(first, f"{first}%3B {piece}"))
    assert genome.genes == read_genome(escaped).genes
    assert [g.id for g in genome.genes] == [tag for tag, *_ in genes]


def _ecoli_rows_with_a_tenth_column() -> tuple[str, str]:
    """Real E. coli rows (225,381-240,000: tRNA and rRNA genes, then 12 CDS), as a GFF3 without its header and
    region row starting at a tRNA row, each tRNA row with a 10th column as pharokka writes one; and the same rows
    with 9 columns."""
    from conftest import ECOLI_GFF

    rows = [line for line in gzip.decompress(ECOLI_GFF.read_bytes()).decode().split("\n")
            if line and not line.startswith("#") and int(line.split("\t")[3]) >= 225381
            and int(line.split("\t")[4]) <= 240000][1:]
    assert rows[0].split("\t")[2] == "tRNA" and sum("\tCDS\t" in row for row in rows) == 12
    tenth = [row + "\tanticodon" if row.split("\t")[2] == "tRNA" else row for row in rows]
    return "\n".join(tenth) + "\n", "\n".join(rows) + "\n"


def test_a_gff3_whose_first_row_has_a_tenth_column_is_read(tmp_path):
    """A GFF3 without ##gff-version whose first row carries a 10th column (a tRNA row of pharokka's form) was
    refused as 'not a GFF3, GenBank, EMBL or FASTA file': only rows of 9 columns told GFF3, where the reader sets
    such a column aside. A row of more is GFF3 when its first 9 have GFF3's shape: the pairs are those of the same
    rows with 9 columns. A BLAST tabular file (12 columns, the 7th a number) is still no GFF3."""
    from conftest import ECOLI_FNA

    from microfuse_cli.io.formats import sniff_format

    tenth, nine = _ecoli_rows_with_a_tenth_column()
    (tmp_path / "tenth.gff").write_text(tenth)
    (tmp_path / "nine.gff").write_text(nine)
    for name in ("tenth", "nine"):
        code, _, err = run_cli(["pairs", tmp_path / f"{name}.gff", "--fasta", ECOLI_FNA, "-o",
                                tmp_path / f"{name}.tsv"])
        assert code == 0, err
    pairs = [line for line in (tmp_path / "tenth.tsv").read_text().splitlines() if not line.startswith("#")]
    assert pairs == [line for line in (tmp_path / "nine.tsv").read_text().splitlines() if not line.startswith("#")]
    assert len(pairs) == 12 and pairs[1].startswith("b0207|b0208\t")
    blast = "b0001\tsp|P0AD86|THRL_ECOLI\t100.000\t21\t0\t0\t1\t21\t1\t21\t4.5e-07\t42.4\n"
    with pytest.raises(DataError, match="not a GFF3, GenBank, EMBL or FASTA file"):
        sniff_format(blast, "hits.tsv")


def _ecoli_operons(tmp_path) -> tuple[object, str]:
    """The 9-column rows of ``_ecoli_rows_with_a_tenth_column`` as a genome file, and the operon GFF3 `score` writes
    of them (two operons: b0209,b0210 and b0212,b0211)."""
    from conftest import ECOLI_FNA

    _, nine = _ecoli_rows_with_a_tenth_column()
    genome = tmp_path / "nine.gff"
    genome.write_text(nine)
    code, _, err = run_cli(["score", genome, "--fasta", ECOLI_FNA, "-o", tmp_path / "s.tsv", "--operons-gff",
                            tmp_path / "ops.gff3", "-q"])
    assert code == 0, err
    operons = (tmp_path / "ops.gff3").read_text()
    assert "genes=b0209,b0210;" in operons and "genes=b0212,b0211;" in operons
    return genome, operons


def test_an_operon_row_with_a_tenth_column_labels_its_pairs(tmp_path):
    """An operon GFF3 (--operons) row with a 10th column was skipped without a word, its operon's pairs left
    unlabelled, where read_gff sets such a column aside. It is read by its 9 columns, with one warning: the labels
    are those of the same file without the column."""
    from conftest import ECOLI_FNA

    genome, operons = _ecoli_operons(tmp_path)
    first = next(line for line in operons.split("\n") if "\toperon\t" in line)
    assert "genes=b0209,b0210;" in first
    (tmp_path / "tenth.gff3").write_text(operons.replace(first, first + "\tnote"))
    labels = {}
    for name in ("ops", "tenth"):
        code, _, err = run_cli(["pairs", genome, "--fasta", ECOLI_FNA, "--operons", tmp_path / f"{name}.gff3", "-o",
                                tmp_path / f"{name}.tsv", "-q"])
        assert code == 0, err
        rows = [line.split("\t") for line in (tmp_path / f"{name}.tsv").read_text().splitlines()[1:]
                if not line.startswith("#")]
        labels[name] = {row[0]: row[-1] for row in rows}
    assert labels["tenth"] == labels["ops"] and labels["tenth"]["b0209|b0210"] == "1"
    assert f"{tmp_path / 'tenth.gff3'}: line 8: columns past the 9th of an operon row set aside (GFF3 has 9)" in err


def test_two_operon_rows_on_one_line_are_refused(tmp_path):
    """Two operon rows joined on one line (a line break lost) were read as the first, the second's columns 'set
    aside' with a warning that spoke of extra columns only: its operon gone, its pairs labelled as if no operon
    held them. read_gff refuses a gene row so joined; the operon reader refuses an operon row so joined alike,
    nothing written."""
    from conftest import ECOLI_FNA

    genome, operons = _ecoli_operons(tmp_path)
    joined = tmp_path / "joined.gff3"
    joined.write_text(operons.replace(";Ontology_term=SO:0000178\nNC_000913.3", ";Ontology_term=SO:0000178\tNC_000913.3",
                                      1))
    code, _, err = run_cli(["pairs", genome, "--fasta", ECOLI_FNA, "--operons", joined, "-o", tmp_path / "p.tsv"])
    assert code == 1 and not (tmp_path / "p.tsv").exists(), err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert errors == [err.strip().splitlines()[-1]] and errors[0].startswith(f"error: {joined}: line 8: "), err
    assert "columns 12-14 hold an operon row's type, start and end: two rows on one line" in errors[0], err
