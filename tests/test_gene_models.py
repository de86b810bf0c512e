"""Gene models as the annotation means them, on real genomes with variants made here: genes across the origin in
the three encodings, nested genes, partial CDS with a phase, genetic codes, odd ids, RNA input."""

from __future__ import annotations

import gzip
import subprocess

import numpy as np
import pytest

from conftest import ECOLI_FNA, ECOLI_GFF, MPN_FNA, MPN_GFF, PANEL, ROOT, SHARED, run_cli
from microfuse_cli.errors import DataError
from microfuse_cli.genome import GenomeOptions, read_genome
from microfuse_cli.pairs import adjacent_pairs

MG_GFF = ROOT / "examples" / "data" / "mgenitalium_g37.gff.gz"
MG_FNA = ROOT / "examples" / "data" / "mgenitalium_g37.fna.gz"
MG_LENGTH = 580_076
#: Rotating the chromosome by this many bases puts MG_001 (dnaN, 686..1828) across the origin: 315 + 828 bp.
SHIFT = 1000


def table_lines(text: str) -> list[str]:
    """A scores TSV's header and rows, without the '#' provenance lines above them."""
    return [line for line in text.splitlines() if not line.startswith("#")]


def mg_lines() -> list[list[str]]:
    with gzip.open(MG_GFF, "rt") as handle:
        return [line.rstrip("\n").split("\t") for line in handle if line.strip() and not line.startswith("#")]


def mg_sequence() -> str:
    with gzip.open(MG_FNA, "rt") as handle:
        return "".join(line.strip() for line in handle if not line.startswith(">"))


def rotated(position: int, shift: int = SHIFT) -> int:
    return position - shift if position > shift else position - shift + MG_LENGTH


def write_rotated(tmp_path, encoding: str, shift: int = SHIFT):
    """M. genitalium turned so MG_001 crosses the origin (or the gene ``shift`` puts there), written the way
    ``encoding`` writes such a gene."""
    sequence = mg_sequence()
    sequence = sequence[shift:] + sequence[:shift]
    fasta = tmp_path / "mg_rot.fna"
    fasta.write_text(f">NC_000908.2\n{sequence}\n")
    features = []  # (type, [(start, end)], strand, attributes)
    for cols in mg_lines():
        if cols[2] not in ("gene", "CDS"):
            continue
        start, end = rotated(int(cols[3]), shift), rotated(int(cols[4]), shift)
        parts = [(start, end)] if start <= end else [(start, MG_LENGTH), (1, end)]
        features.append((cols[2], parts, cols[6], cols[8]))
    if encoding == "genbank":
        return write_rotated_genbank(tmp_path, sequence, features)
    rows = [f"NC_000908.2\tx\tregion\t1\t{MG_LENGTH}\t.\t+\t.\tID=NC_000908.2:1..{MG_LENGTH};Is_circular=true"]
    for ftype, parts, strand, attrs in features:
        if encoding == "circular":  # RefSeq: one row ending past the sequence length
            parts = [(parts[0][0], parts[-1][1] + (MG_LENGTH if len(parts) > 1 else 0))]
        phase = "0" if ftype == "CDS" else "."
        rows += [f"NC_000908.2\tx\t{ftype}\t{s}\t{e}\t.\t{strand}\t{phase}\t{attrs}" for s, e in parts]
    gff = tmp_path / f"mg_{encoding}.gff"
    gff.write_text("##gff-version 3\n" + "\n".join(rows) + "\n##FASTA\n" + fasta.read_text())
    return gff


def write_rotated_genbank(tmp_path, sequence, features):
    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqFeature import CompoundLocation, FeatureLocation, SeqFeature
    from Bio.SeqRecord import SeqRecord

    record = SeqRecord(Seq(sequence), id="NC_000908.2", annotations={"molecule_type": "DNA", "topology": "circular"})
    for ftype, parts, strand, attrs in features:
        if ftype != "CDS":
            continue
        sign = 1 if strand == "+" else -1
        locations = [FeatureLocation(s - 1, e, strand=sign) for s, e in parts][::sign]  # 5' to 3', as INSDC
        location = locations[0] if len(locations) == 1 else CompoundLocation(locations)
        values = dict(kv.split("=", 1) for kv in attrs.split(";"))
        record.features.append(SeqFeature(location, type="CDS", qualifiers={
            "locus_tag": [values["locus_tag"]], "transl_table": [values["transl_table"]]}))
    path = tmp_path / "mg_rot.gbk"
    SeqIO.write(record, path, "genbank")
    return path


@pytest.fixture(scope="module")
def mg_original():
    genome = read_genome(MG_GFF, MG_FNA, GenomeOptions(circular=True))  # its GFF has no region row to say so
    return genome, {p.pair_id: p for p in adjacent_pairs(genome)}


@pytest.mark.parametrize("encoding", ["circular", "two-part", "genbank"])
def test_gene_across_the_origin_in_each_encoding(encoding, tmp_path, mg_original):
    original, original_pairs = mg_original
    genome = read_genome(write_rotated(tmp_path, encoding))
    genes = {g.id: g for g in genome.genes}
    mg001 = genes["MG_001"]
    assert (mg001.start, mg001.end, mg001.length) == (MG_LENGTH - 314, MG_LENGTH + 828, 1143)
    assert mg001.protein == next(g.protein for g in original.genes if g.id == "MG_001")
    assert len(genome.genes) == len(original.genes) == 476
    pairs = {p.pair_id: p for p in adjacent_pairs(genome)}
    assert len(pairs) == len(original_pairs)
    assert pairs["MG_001|MG_002"].distance == original_pairs["MG_001|MG_002"].distance == -1
    # the other side: the last gene of the original genome closes its circle with MG_001
    before = original_pairs[next(k for k in original_pairs if k.endswith("|MG_001"))]
    assert before.gene_a.id == "MG_470"
    assert pairs["MG_470|MG_001"].distance == before.distance == MG_LENGTH - 580033 + 686 - 1 == 728
    assert {k: p.distance for k, p in pairs.items()} == {k: p.distance for k, p in original_pairs.items()}


@pytest.mark.parametrize("encoding", ["circular", "two-part", "genbank", "embl"])
def test_minus_strand_gene_across_the_origin_in_each_encoding(encoding, tmp_path, mg_original):
    """MG_012 (13,569..14,432, minus strand) across the origin of M. genitalium turned by 14,000 bp: GFF3's row
    ending past the length, two rows of one ID, GenBank's complement(join(579645..580076,1..432)), the same in
    EMBL with ENA's ID line (code 4 from /transl_table=4, no /translation); its protein, place and pairs are those
    of the unturned genome (a guard: it worked)."""
    path = write_rotated(tmp_path, "genbank" if encoding == "embl" else encoding, shift=14_000)
    if encoding in ("genbank", "embl"):
        assert "complement(join(579645..580076,1..432))" in path.read_text() and "/translation" not in path.read_text()
    if encoding == "embl":
        from Bio import SeqIO

        SeqIO.write(SeqIO.parse(path, "genbank"), tmp_path / "written.embl", "embl")
        text = (tmp_path / "written.embl").read_text().split("\n", 1)[1]
        path = tmp_path / "mg_rot.embl"
        path.write_text("ID   NC_000908; SV 2; circular; genomic DNA; STD; PRO; 580076 BP.\n" + text)
        assert "FT   CDS             complement(join(579645..580076,1..432))" in text
    genome = read_genome(path)
    assert genome.scaffolds["NC_000908.2"].circular
    mg012 = next(g for g in genome.genes if g.id == "MG_012")
    assert (mg012.start, mg012.end, mg012.strand) == (MG_LENGTH - 431, MG_LENGTH + 432, -1)
    assert gene_models(genome)["MG_012"][4] == gene_models(mg_original[0])["MG_012"][4] and genome.genes[-1] == mg012
    assert {p.pair_id: p.distance for p in adjacent_pairs(genome)} == \
        {k: p.distance for k, p in mg_original[1].items()}


def test_operon_across_the_origin_is_circular_gff3(tmp_path, mg_original):
    original, original_pairs = mg_original
    gff, out = write_rotated(tmp_path, "circular"), tmp_path / "operons.gff3"
    code, stdout, err = run_cli(["score", gff, "--operons-gff", out, "--operons-tsv", tmp_path / "operons.tsv"])
    assert code == 0, err
    lines = table_lines(stdout)
    rows = [dict(zip(lines[0].split("\t"), r.split("\t"))) for r in lines[1:]]
    rotated_p = float(next(r["probability"] for r in rows if r["pair_id"] == "MG_001|MG_002"))
    # the unrotated genome, circular too: the same pairs enter its own spacer calibration (the wrap pair included)
    code, stdout, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "--circular"])
    assert code == 0, err
    plain = table_lines(stdout)
    header = plain[0].split("\t")
    plain_p = float(next(dict(zip(header, r.split("\t")))["probability"] for r in plain[1:]
                         if r.startswith("MG_001|MG_002\t")))
    assert rotated_p == plain_p and rotated_p > 0.8  # the same pair, the same evidence, wherever the origin is
    text = out.read_text()
    assert f"NC_000908.2\tmicrofuse\tregion\t1\t{MG_LENGTH}\t.\t+\t.\tID=NC_000908.2;Is_circular=true\n" in text
    across = [line.split("\t") for line in text.splitlines() if "\toperon\t" in line and "MG_001" in line]
    assert len(across) == 1
    start, end = int(across[0][3]), int(across[0][4])
    assert start <= MG_LENGTH - 314 and end >= MG_LENGTH + 1760  # covers MG_001 and MG_002 (1828..2760 -> 828..1760)
    result = subprocess.run(["gt", "gff3validator", str(out)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_linear_sequence_refuses_a_gene_past_its_end(tmp_path):
    gff = write_rotated(tmp_path, "circular")
    gff.write_text(gff.read_text().replace(";Is_circular=true", ""))
    code, _, err = run_cli(["pairs", gff, "-o", tmp_path / "p.tsv"])
    assert code == 1
    assert f"CDS ends at {MG_LENGTH + 828}, past the end of NC_000908.2 ({MG_LENGTH} bp; only a circular" in err


def test_gene_across_the_origin_written_start_after_end_is_refused_with_the_gff3_forms(tmp_path):
    """MG_001 written 579762..828 (start after end, as some exporters write a feature across the origin): GFF3
    has no such row; the error says which forms it has (was: 'invalid coordinates' alone)."""
    gff = write_rotated(tmp_path, "two-part")
    rows = gff.read_text().split("\n")
    first = next(i for i, row in enumerate(rows) if "\tCDS\t" in row and f"\t{MG_LENGTH}\t" in row)
    second = next(i for i, row in enumerate(rows) if i > first and rows[first].split("\t")[8] == row.split("\t")[-1])
    cols = rows[first].split("\t")
    cols[4] = rows[second].split("\t")[4]
    rows[first], rows[second] = "\t".join(cols), "# " + rows[second]
    gff.write_text("\n".join(rows))
    code, _, err = run_cli(["pairs", gff, "-o", tmp_path / "p.tsv"])
    assert code == 1 and err.count("\n") == 1
    assert f"invalid coordinates {MG_LENGTH - 314}..828 (a feature across the origin of a circular sequence ends past " \
           "its length, on a region with Is_circular=true, or is two rows of one ID)" in err, err


def without_topology(path):
    """The rotated genome as Prokka, a format conversion or a cut-down file gives it: nothing says it is circular."""
    text = path.read_text()
    path.write_text(text.replace(" circular ", " linear   ", 1) if path.suffix == ".gbk"
                    else text.replace(";Is_circular=true", ""))
    return path


@pytest.mark.parametrize("encoding", ["two-part", "genbank"])
def test_join_across_the_origin_makes_the_sequence_circular(encoding, tmp_path, mg_original):
    """join(579762..580076,1..828) can only mean a gene across the origin: the sequence is read as circular even
    when no region/LOCUS line says so (was: MG_001 read as one gene of 1..580,076, paired with every gene)."""
    original, original_pairs = mg_original
    genome = read_genome(without_topology(write_rotated(tmp_path, encoding)))
    mg001 = next(g for g in genome.genes if g.id == "MG_001")
    assert (mg001.start, mg001.end) == (MG_LENGTH - 314, MG_LENGTH + 828)
    assert mg001.protein == next(g.protein for g in original.genes if g.id == "MG_001")
    assert genome.scaffolds["NC_000908.2"].circular
    assert {p.pair_id: p.distance for p in adjacent_pairs(genome)} == \
        {k: p.distance for k, p in original_pairs.items()}


@pytest.mark.parametrize("encoding", ["circular", "two-part", "genbank"])
def test_circular_option_reaches_the_gene_models(encoding, tmp_path, mg_original):
    """--circular on an annotation that does not say so: MG_001 crosses the origin in every encoding (was: the
    one-row form refused, "only a circular sequence ...", and the joins read as a whole-chromosome gene)."""
    path = without_topology(write_rotated(tmp_path, encoding))
    code, out, err = run_cli(["pairs", path, "--circular"])
    assert code == 0, err
    rows = {line.split("\t")[0]: line.split("\t") for line in out.splitlines()[4:]}  # below '#' lines and header
    assert out.splitlines()[2] == f"#scaffold length={MG_LENGTH} topology=circular id=NC_000908.2"
    assert out.splitlines()[3].startswith("pair_id\t") and rows["MG_001|MG_002"][4:6] == [str(MG_LENGTH - 314), str(MG_LENGTH + 828)]
    assert rows["MG_001|MG_002"][10] == "-1" and rows["MG_470|MG_001"][10] == "728"
    assert len(rows) == len(mg_original[1])


@pytest.mark.parametrize("encoding", ["circular", "two-part", "genbank"])
def test_linear_option_refuses_a_join_across_the_origin(encoding, tmp_path):
    """--linear on a gene across the origin, in each encoding, says that --linear is what refuses it (was, for a
    GFF3 row ending past the length on its Is_circular region: 'only a circular sequence (region with
    Is_circular=true, or --circular) ...', a region the file has)."""
    code, _, err = run_cli(["pairs", write_rotated(tmp_path, encoding), "--linear"])
    assert code == 1 and "Traceback" not in err
    assert err.startswith("error: ") and "across the origin" in err and "--linear" in err, err


def test_nested_gene_keeps_its_neighbour_in_view(tmp_path, mg_original):
    """A CDS made inside MG_003 (gyrB, 2845..4797): MG_004 is still measured from gyrB's end."""
    rows = ["\t".join(c) for c in mg_lines()]
    rows.append("NC_000908.2\tx\tCDS\t3001\t3501\t.\t+\t0\tID=cds-nested;locus_tag=MG_NESTED;transl_table=4")
    gff = tmp_path / "nested.gff"
    gff.write_text("##gff-version 3\n" + "\n".join(rows) + "\n")
    genome = read_genome(gff, MG_FNA)
    pairs = {p.pair_id: p for p in adjacent_pairs(genome)}
    assert pairs["MG_003|MG_NESTED"].distance == 3001 - 4797 - 1
    assert pairs["MG_003|MG_004"].distance == 4812 - 4797 - 1 == 14
    assert "MG_NESTED|MG_004" not in pairs
    assert len(pairs) == 476  # 475 neighbours on the linear reading of the chromosome, one more gene


@pytest.mark.parametrize("start, locus_tag", [(3501, "MG_AS"), (2845, "MG_003a"), (2845, "MG_002z")])
def test_gene_ending_with_its_neighbour_on_the_other_strand_hides_nothing(start, locus_tag, tmp_path):
    """An antisense CDS ending where gyrB (MG_003, 2845..4797 +) ends, nested in it or with the very same
    coordinates (its id sorting after or before gyrB's): gyrA (MG_004 +) still pairs with gyrB, 14 bp on, and
    with nothing on the other strand (was: the gene sorted last of two ending at one base took the reach, so
    gyrB|gyrA, an operon pair, was replaced by an opposite-strand pair)."""
    rows = ["\t".join(c) for c in mg_lines()]
    rows.append(f"NC_000908.2\tx\tCDS\t{start}\t4797\t.\t-\t0\tID=cds-as;locus_tag={locus_tag};transl_table=4")
    gff = tmp_path / "antisense.gff"
    gff.write_text("##gff-version 3\n" + "\n".join(rows) + "\n")
    pairs = {p.pair_id: p.distance for p in adjacent_pairs(read_genome(gff, MG_FNA))}
    assert pairs["MG_003|MG_004"] == 14 and not [k for k in pairs if k.endswith("|MG_004") and k != "MG_003|MG_004"]
    assert (pairs.get(f"MG_003|{locus_tag}") or pairs[f"{locus_tag}|MG_003"]) == start - 4797 - 1
    assert len(pairs) == 476


def test_ecoli_nested_gene_pairs_and_operon_extent(ecoli_genome):
    """b4510 (578,327..578,509) lies inside b0556 (578,107..578,568): b0557 pairs with b0556, the operon ends at 578,568."""
    from microfuse_cli.score import Scores, call_operons

    pairs = adjacent_pairs(ecoli_genome)
    by_id = {p.pair_id: p for p in pairs}
    assert by_id["b0556|b4510"].distance == -242
    assert by_id["b0556|b0557"].distance == 578600 - 578568 - 1
    assert "b4510|b0557" not in by_id
    members = {"b0554", "b0555", "b0556", "b4510"}
    probability = np.array([1.0 if {p.gene_a.id, p.gene_b.id} <= members else 0.0 for p in pairs])
    operons = call_operons(ecoli_genome, Scores(pairs, probability, 0.5))
    assert [(o.genes, o.start, o.end) for o in operons] == [(("b0554", "b0555", "b0556", "b4510"), 577398, 578568)]


def test_opposite_strand_pairs_are_never_operon_pairs(ecoli_genome):
    import io

    from microfuse_cli.io.tables import write_scores
    from microfuse_cli.score import Scores

    pairs = adjacent_pairs(ecoli_genome)[:40]
    handle = io.StringIO()
    write_scores(handle, Scores(pairs, np.full(len(pairs), 0.99), 0.5))
    lines = handle.getvalue().splitlines()
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    assert {r["operon_pair"] for r in rows if r["same_strand"] == "0"} == {"0"}
    assert {r["operon_pair"] for r in rows if r["same_strand"] == "1"} == {"1"}
    assert sum(r["same_strand"] == "0" for r in rows) >= 10


def contig_cut(tmp_path, cut: int):
    """M. genitalium from base ``cut`` on (a linear contig): MG_003 (gyrB, 2845..4797 +) loses its 5' end."""
    sequence = mg_sequence()[cut - 1 : 20_000]
    phase = (2845 - cut) % 3
    gff = tmp_path / f"cut{cut}.gff"
    gff.write_text("##gff-version 3\n"
                   f"c1\tx\tCDS\t1\t{4797 - cut + 1}\t.\t+\t{phase}\tID=cds3;locus_tag=MG_003;transl_table=4;partial=true\n"
                   f"c1\tx\tCDS\t{4812 - cut + 1}\t{7322 - cut + 1}\t.\t+\t0\tID=cds4;locus_tag=MG_004;transl_table=4\n"
                   f"##FASTA\n>c1\n{sequence}\n")
    return gff, sequence, phase


@pytest.mark.parametrize("cut, phase", [(2946, 1), (2945, 2), (2947, 0)])
def test_partial_cds_is_translated_in_its_phase(cut, phase, tmp_path, mg_original):
    gff, _, written = contig_cut(tmp_path, cut)
    assert written == phase
    gyrb = next(g for g in mg_original[0].genes if g.id == "MG_003").protein
    gene = next(g for g in read_genome(gff).genes if g.id == "MG_003")
    assert gene.partial and gene.protein == gyrb[34:] and len(gene.protein) == 650 - 34


def test_partial_cds_codon_start_in_genbank(tmp_path, mg_original):
    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqFeature import BeforePosition, FeatureLocation, SeqFeature
    from Bio.SeqRecord import SeqRecord

    _, sequence, _ = contig_cut(tmp_path, 2945)
    record = SeqRecord(Seq(sequence), id="c1", annotations={"molecule_type": "DNA", "topology": "linear"})
    record.features.append(SeqFeature(FeatureLocation(BeforePosition(0), 4797 - 2945 + 1, strand=1), type="CDS",
                                      qualifiers={"locus_tag": ["MG_003"], "transl_table": ["4"], "codon_start": ["3"]}))
    path = tmp_path / "cut.gbk"
    SeqIO.write(record, path, "genbank")
    gene = read_genome(path).genes[0]
    assert gene.protein == next(g for g in mg_original[0].genes if g.id == "MG_003").protein[34:]


def without_transl_table(tmp_path):
    rows = ["\t".join(c[:8] + [c[8].replace(";transl_table=4", "")]) for c in mg_lines()]
    gff = tmp_path / "prokka_like.gff"
    gff.write_text("##gff-version 3\n" + "\n".join(rows) + "\n")
    return gff


def test_genetic_code_option_applies_to_annotations_without_transl_table(tmp_path):
    gff = without_transl_table(tmp_path)
    assert "transl_table" not in gff.read_text()
    as_11 = read_genome(gff, MG_FNA)
    assert sum(g.protein.count("X") for g in as_11.genes) == 1091
    as_4 = read_genome(gff, MG_FNA, GenomeOptions(genetic_code=4))
    assert sum(g.protein.count("X") for g in as_4.genes) == 0 and {g.genetic_code for g in as_4.genes} == {4}
    proteins = tmp_path / "p.faa"
    code, _, err = run_cli(["pairs", gff, "--fasta", MG_FNA, "-g", "4", "--proteins", proteins, "-o", tmp_path / "o"])
    assert code == 0, err
    assert proteins.read_text().count(">") == 476 and "X" not in proteins.read_text().replace(">", "").split("\n", 1)[1]


def test_genetic_code_option_applies_to_genbank_without_transl_table(tmp_path):
    gbk = write_rotated(tmp_path, "genbank")
    gbk.write_text(gbk.read_text().replace('/transl_table=4', '/note="no code"'))
    assert sum(g.protein.count("X") for g in read_genome(gbk).genes) > 1000
    assert sum(g.protein.count("X") for g in read_genome(gbk, None, GenomeOptions(genetic_code=4)).genes) == 0


def dfast_like(tmp_path, rows: list[list[str]] | None = None):
    """M. genitalium's GFF3 as DFAST writes it: no transl_table, each CDS's table-4 protein in ``translation``
    (Biopython's, a trailing stop on every other one); ``rows`` to change the rows first."""
    from Bio.Seq import Seq

    rows = rows or mg_lines()
    sequence = mg_sequence()
    parts: dict[str, list[list[str]]] = {}
    for c in rows:
        if c[2] == "CDS":
            parts.setdefault(c[8].split(";")[0], []).append(c)
    stated = {}
    for n, (ident, cds) in enumerate(parts.items()):
        nucleotides = Seq("".join(sequence[int(c[3]) - 1:int(c[4])] for c in sorted(cds, key=lambda c: int(c[3]))))
        nucleotides = nucleotides.reverse_complement() if cds[0][6] == "-" else nucleotides
        try:
            protein = str(nucleotides.translate(table=4, cds=True)) + "*" * (n % 2)
        except Exception:  # a partial or frameshifted CDS: codon by codon, as written
            protein = str(nucleotides[:len(nucleotides) // 3 * 3].translate(table=4))
        stated[ident] = protein
    out = []
    for c in rows:
        attributes = c[8].replace(";transl_table=4", "")
        if c[2] == "CDS":
            attributes += f";translation={stated[attributes.split(';')[0]]}"
        out.append("\t".join(c[:8] + [attributes]))
    gff = tmp_path / "dfast.gff"
    gff.write_text("##gff-version 3\n" + "\n".join(out) + "\n")
    return gff


def test_dfast_translation_attribute_is_the_protein(tmp_path, mg_original, caplog):
    gff = dfast_like(tmp_path)
    assert "transl_table" not in gff.read_text() and gff.read_text().count("translation=") == 476
    with caplog.at_level("WARNING", logger="microfuse"):
        genome = read_genome(gff, MG_FNA, GenomeOptions(circular=True))
    assert not [r for r in caplog.records if "internal stop codons" in r.getMessage()]
    assert {g.id: g.protein for g in genome.genes} == {g.id: g.protein for g in mg_original[0].genes}
    assert sum(g.protein.count("X") for g in genome.genes) == 0  # TGA read as Trp, not as a stop (X)


def test_translation_attribute_on_one_row_of_a_cds_is_its_protein_percent_decoded(tmp_path, mg_original):
    rows = mg_lines()
    k = next(i for i, c in enumerate(rows) if c[2] == "CDS" and "locus_tag=MG_002;" in c[8])
    first, second = list(rows[k]), list(rows[k])  # MG_002 in two rows of one ID, as a join writes it
    first[4], second[3] = str(int(rows[k][3]) + 299), str(int(rows[k][3]) + 300)
    rows[k:k + 1] = [first, second]
    gff = dfast_like(tmp_path, rows)
    text = gff.read_text().splitlines()
    two = [i for i, line in enumerate(text) if "locus_tag=MG_002;" in line and "\tCDS\t" in line]
    text[two[0]] = text[two[0]].split(";translation=")[0]  # the protein on its second row only, escaped
    text[two[1]] = text[two[1]].replace(";translation=M", ";translation=%4D")
    gff.write_text("\n".join(text) + "\n")
    genome = read_genome(gff, MG_FNA, GenomeOptions(circular=True))
    expected = next(g.protein for g in mg_original[0].genes if g.id == "MG_002")
    assert next(g.protein for g in genome.genes if g.id == "MG_002") == expected and expected.startswith("M")


def test_bare_mycoplasma_assembly_is_called_with_code_4(tmp_path):
    code, out, err = run_cli(["pairs", MPN_FNA, "-o", tmp_path / "mpn.tsv"])
    assert code == 0, err
    assert "info: genetic code 4 detected (genes cover 91.3% of the assembly with code 4, 78.6% with code 11" in err
    assert "764 protein-coding genes" in err
    code, out, err = run_cli(["pairs", MPN_FNA, "-g", "11", "-o", tmp_path / "mpn11.tsv"])
    assert code == 0 and "1402 protein-coding genes" in err and "detected" not in err
    genitalium = read_genome(PANEL / "GCF_000027325.1_ASM2732v1_genomic.fna.gz")
    assert len(genitalium.genes) == 527 and {g.genetic_code for g in genitalium.genes} == {4}


def test_normal_genome_keeps_code_11_without_a_second_gene_calling(monkeypatch):
    from microfuse_cli import genes

    trained = []
    real = genes._trained
    monkeypatch.setattr(genes, "_trained", lambda records, code: trained.append(code) or real(records, code))
    genome = read_genome(ECOLI_FNA)
    assert trained == [11] and {g.genetic_code for g in genome.genes} == {11}


@pytest.mark.parametrize("args, message", [
    (["-g", "7"], "genetic code 7 (-g 7): pyrodigal has no translation table 7"),
    (["-g", "7", "--mode", "meta"], "genetic code 7 (-g 7): pyrodigal has no translation table 7"),
    (["-g", "25", "--mode", "meta"], "genetic code 25 in mode meta (-g 25 --mode meta): pyrodigal's metagenomic models "
                                     "use genetic code 11 or 4"),
])
def test_impossible_genetic_code_for_gene_calling_is_refused(args, message, tmp_path):
    out = tmp_path / "o.tsv"
    code, _, err = run_cli(["pairs", PANEL / "GCF_000027325.1_ASM2732v1_genomic.fna.gz", *args, "-o", out])
    assert code == 2 and f"error: {message}" in err and not out.exists()


def test_unknown_genetic_code_for_an_annotation_is_refused(tmp_path):
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-g", "8", "-o", tmp_path / "o.tsv"])
    assert code == 2 and "error: genetic code 8 (-g 8): no such NCBI genetic code (known: 1-6, 9-16, 21-33)" in err


def test_meta_mode_keeps_the_given_code(tmp_path):
    fna = tmp_path / "mg_head.fna"
    fna.write_text(">c1\n" + mg_sequence()[:60_000] + "\n")
    assert {g.genetic_code for g in read_genome(fna, None, GenomeOptions(mode="meta", genetic_code=4)).genes} == {4}
    assert {g.genetic_code for g in read_genome(fna, None, GenomeOptions(mode="meta", genetic_code=11)).genes} == {11}


def test_rna_input_is_refused(tmp_path):
    rna = tmp_path / "rna.fna"
    rna.write_text(">c1\n" + mg_sequence()[:200_000].replace("T", "U") + "\n")
    code, _, err = run_cli(["pairs", rna, "-o", tmp_path / "o.tsv"])
    assert code == 1
    assert "error: " in err and "record 'c1' is RNA (holds U): give the DNA sequence" in err


def test_percent_encoded_ids_keep_the_tables_well_formed(tmp_path):
    odd = {"MG_001": "MG%09001", "MG_002": "MG%2C002", "MG_003": "MG%7C003"}
    text = gzip.open(MG_GFF, "rt").read()
    for tag, value in odd.items():
        text = text.replace(f"locus_tag={tag};", f"locus_tag={value};")
    gff = tmp_path / "odd.gff"
    gff.write_text(text)
    scores, operons = tmp_path / "scores.tsv", tmp_path / "operons.tsv"
    code, _, err = run_cli(["score", gff, "--fasta", MG_FNA, "-o", scores, "--operons-tsv", operons])
    assert code == 0, err
    lines = table_lines(scores.read_text())
    width = len(lines[0].split("\t"))
    assert width == 22 and all(len(line.split("\t")) == width for line in lines)
    assert "MG%0900" + "1|MG%2C002\tNC_000908.2\tMG%09001\tMG%2C002\t" in scores.read_text()
    assert "MG%2C002|MG%7C003" in scores.read_text()
    members = [line.split("\t")[6].split(",") for line in table_lines(operons.read_text())[1:]]
    assert members[0] == ["MG%09001", "MG%2C002"]
    # a pair list names them as the tables do (or by the decoded name, where it has no comma)
    genome = read_genome(gff, MG_FNA)
    from microfuse_cli.pairs import pairs_from_list

    resolved = pairs_from_list(genome, [("MG\t001", "MG%2C002", 1)])
    assert [(p.pair_id, p.distance) for p in resolved.pairs] == [("MG%09001|MG%2C002", -1)]


def test_whole_sequence_cds_is_skipped_with_a_clean_warning(tmp_path):
    """(A seventh such CDS, C7I86_16655, is a pseudogene's: left out as one, not counted here.)"""
    gff = PANEL / "GCF_003015225.1_ASM301522v1_genomic.gff.gz"
    fna = PANEL / "GCF_003015225.1_ASM301522v1_genomic.fna.gz"
    code, out, err = run_cli(["pairs", gff, "--fasta", fna])
    assert code == 0, err
    warnings = [line for line in err.splitlines() if line.startswith("warning:") and "spanning a whole sequence" in line]
    assert warnings == [f"warning: {gff}: skipped 6 CDS spanning a whole sequence (an origin-crossing gene whose "
                        "join was lost, e.g. C7I86_00005)"]
    assert "UserWarning" not in err and "warnings.warn" not in err
    rows = [line.split("\t") for line in out.splitlines() if not line.startswith("#")][1:]
    plasmid = [r for r in rows if r[1] in ("NZ_CP028095.1", "NZ_CP028096.1")]
    assert plasmid and min(int(r[10]) for r in plasmid) > -100
    assert not {"C7I86_16655", "C7I86_16670", "C7I86_00005"} & ({r[2] for r in rows} | {r[3] for r in rows})


def _distinct_cds(gff) -> int:
    """The CDS of a GFF3: rows with one ID are the parts of one CDS."""
    with gzip.open(gff, "rt") as handle:
        return len({line.split("\t")[8].split("ID=")[1].split(";")[0] for line in handle if "\tCDS\t" in line})


def test_the_genes_read_line_counts_the_cds_left_out_by_reason(tmp_path):
    """Synechocystis has 3,678 CDS and 3,568 genes are read: the 6 spanning a whole sequence had a warning, the 104
    under pseudogene rows no word anywhere. The info line that counts the genes now says how many CDS were left out
    and why, once; the counts and the genes read add up to the file's CDS (E. coli's shorter isoforms, the
    pseudogenes of L. pneumophila's GenBank too)."""
    gff = PANEL / "GCF_003015225.1_ASM301522v1_genomic.gff.gz"
    code, _, err = run_cli(["pairs", gff, "--fasta", PANEL / "GCF_003015225.1_ASM301522v1_genomic.fna.gz",
                            "-o", tmp_path / "pairs.tsv"])
    assert code == 0, err
    lines = [line for line in err.splitlines() if "left out" in line]
    assert lines == ["info: GCF_003015225.1_ASM301522v1_genomic.gff.gz: 7 scaffolds, 3568 protein-coding genes "
                     "(annotation; 110 CDS left out: 104 of pseudogenes, 6 spanning a whole sequence)"], err
    assert _distinct_cds(gff) == 3568 + 110
    ecoli = read_genome(ECOLI_GFF, ECOLI_FNA)
    assert ecoli.left_out == (("of pseudogenes", 17), ("shorter isoforms", 10))
    assert len(ecoli.genes) + 27 == _distinct_cds(ECOLI_GFF)
    gbk = SHARED / "lpneumophila_paris" / "CR628336.1.gbk.gz"
    with gzip.open(gbk, "rt") as handle:
        n_cds = sum(line.startswith("     CDS ") for line in handle)
    legionella = read_genome(gbk)
    assert legionella.left_out == (("of pseudogenes", 55),) and len(legionella.genes) + 55 == n_cds
    assert read_genome(PANEL / "GCF_000027325.1_ASM2732v1_genomic.fna.gz").left_out == ()  # genes called: none


def test_archaeal_opposite_strand_pair_is_not_an_operon_pair():
    """A. fulgidus AF_0807/AF_0808 lie on opposite strands: operon_pair 0 whatever their probability."""
    gff = PANEL / "GCF_000008665.1_ASM866v1_genomic.gff.gz"
    fna = PANEL / "GCF_000008665.1_ASM866v1_genomic.fna.gz"
    code, out, err = run_cli(["score", gff, "--fasta", fna])
    assert code == 0, err
    lines = table_lines(out)
    header = lines[0].split("\t")
    rows = [dict(zip(header, line.split("\t"))) for line in lines[1:]]
    pair = next(r for r in rows if r["pair_id"] == "AF_0807|AF_0808")
    assert (pair["same_strand"], pair["operon_pair"]) == ("0", "0")
    assert {r["operon_pair"] for r in rows if r["same_strand"] == "0"} == {"0"}


@pytest.mark.parametrize("contig_end", [579900, 579901, 579902])
def test_partial_minus_strand_cds_takes_the_phase_of_its_5_prime_end(contig_end, tmp_path, mg_original):
    """MG_470 (579,224..580,033, minus strand) cut at the contig's end: its 5' end is the one lost."""
    lost = 580033 - contig_end
    phase = -lost % 3
    sequence = mg_sequence()[570_000:contig_end]
    gff = tmp_path / "cut.gff"
    gff.write_text("##gff-version 3\n"
                   f"c1\tx\tCDS\t{579224 - 570_000}\t{contig_end - 570_000}\t.\t-\t{phase}\t"
                   "ID=cds470;locus_tag=MG_470;transl_table=4;partial=true\n"
                   f"##FASTA\n>c1\n{sequence}\n")
    gene = read_genome(gff).genes[0]
    full = next(g for g in mg_original[0].genes if g.id == "MG_470").protein
    assert gene.partial
    assert gene.protein == full[(lost + phase) // 3:] and len(gene.protein) == 269 - (lost + phase) // 3


def test_listed_and_tabled_pairs_keep_the_origin_geometry(tmp_path):
    """A labels list naming MG_002,MG_001 gets the pair across the origin; a pairs table gives back the circle."""
    from microfuse_cli.pairs import genome_from_table, pairs_from_list, read_pairs

    gff = write_rotated(tmp_path, "two-part")
    genome = read_genome(gff)
    resolved = pairs_from_list(genome, [("MG_002", "MG_001", 1), ("MG_470", "MG_001", 0)])
    assert [(p.pair_id, p.distance, p.label) for p in resolved.pairs] == [("MG_001|MG_002", -1, 1),
                                                                          ("MG_470|MG_001", 728, 0)]
    table = tmp_path / "pairs.tsv"
    code, _, err = run_cli(["pairs", gff, "-o", table])
    assert code == 0, err
    rebuilt = genome_from_table(read_pairs(table), None, None, "mg")
    scaffold = rebuilt.scaffolds["NC_000908.2"]
    assert (scaffold.length, scaffold.circular) == (MG_LENGTH, True)
    assert {p.pair_id: p.distance for p in adjacent_pairs(rebuilt)}["MG_001|MG_002"] == -1


def test_a_pairs_table_without_the_pair_across_the_origin_keeps_the_gene_across_it(tmp_path):
    """A pairs table holding MG_001 (across the origin) but not the pair that closes the circle, as `pairs --labels`
    of MG_470,MG_001 writes it: its coordinates end past the FASTA's length, which only a circular sequence has
    (as readers take a CDS joined across the origin), so `embed` and `score` of it with --fasta read it as
    circular; Genome.check refused the rebuilt genome ('past the end of NC_000908.2'), where main read the bases
    past the end as N."""
    from microfuse_cli.pairs import genome_from_table, read_pairs

    gff = write_rotated(tmp_path, "circular")
    labels, table = tmp_path / "labels.csv", tmp_path / "pairs.tsv"
    labels.write_text("MG_470,MG_001,0\n")
    code, _, err = run_cli(["pairs", gff, "--labels", labels, "-o", table, "--proteins", tmp_path / "p.faa"])
    assert code == 0, err
    assert [p.pair_id for p in read_pairs(table).pairs] == ["MG_470|MG_001"]
    rebuilt = genome_from_table(read_pairs(table), None, tmp_path / "mg_rot.fna", "mg")
    assert rebuilt.scaffolds["NC_000908.2"].circular and rebuilt.genes[-1].end > MG_LENGTH
    code, _, err = run_cli(["embed", table, "--proteins", tmp_path / "p.faa", "--fasta", tmp_path / "mg_rot.fna",
                            "-o", tmp_path / "emb", "-q"])
    assert code == 0, err


def without_scaffold_lines(table) -> None:
    """``table`` as an older or hand-made pairs TSV has it: without `pairs`' '#scaffold' lines."""
    table.write_text("".join(line for line in table.read_text().splitlines(keepends=True)
                             if not line.startswith("#scaffold ")))


def test_a_fasta_of_another_length_than_the_circle_of_the_pairs_is_refused(tmp_path):
    """The pair closing a circle tells its length (distance + a.end - b.start + 1, also for MG_001|MG_002, whose
    gene_a crosses the origin): `embed` and `score` of a pairs table with a FASTA a few bp shorter read the last gene
    as crossing the origin (scores of E. coli changed, silently), one longer moved the closing pair; both refused,
    one line naming the scaffold and both lengths. The matching FASTA reads as before. (Tables without '#scaffold'
    lines, older or made by hand: those lines, where present, are checked first.)"""
    from microfuse_cli.pairs import genome_from_table, read_pairs

    sequence = mg_sequence()
    mg = tmp_path / "mg.fna"
    mg.write_text(f">NC_000908.2\n{sequence}\n")
    tables = {"circular": tmp_path / "mg_circular.tsv", "rotated": tmp_path / "mg_rotated.tsv"}
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", mg, "--circular", "-o", tables["circular"], "-q"])
    assert code == 0, err
    rotated_gff = write_rotated(tmp_path, "circular")
    code, _, err = run_cli(["pairs", rotated_gff, "-o", tables["rotated"], "-q"])
    assert code == 0, err
    for table in tables.values():
        without_scaffold_lines(table)
    closing = {"circular": "MG_470|MG_001", "rotated": "MG_001|MG_002"}  # the rotated one's gene_a crosses the origin
    for kind, table in tables.items():
        full = (mg if kind == "circular" else tmp_path / "mg_rot.fna").read_text().split("\n")[1]
        rebuilt = genome_from_table(read_pairs(table), None, mg if kind == "circular" else tmp_path / "mg_rot.fna",
                                    "mg")
        assert (rebuilt.scaffolds["NC_000908.2"].length, rebuilt.scaffolds["NC_000908.2"].circular) == \
            (MG_LENGTH, True)
        for name, other in (("short", full[:-5]), ("long", full + "ACGTA" * 20), ("indel", full[:9000] + full[9040:])):
            fasta = tmp_path / f"{kind}_{name}.fna"
            fasta.write_text(f">NC_000908.2\n{other}\n")
            with pytest.raises(DataError) as caught:
                genome_from_table(read_pairs(table), None, fasta, "mg")
            assert str(caught.value) == (f"NC_000908.2 is 580,076 bp by the pair closing its circle ({closing[kind]}), "
                                         f"{len(other):,} bp in {fasta}: a FASTA of another assembly?"), kind
    fasta = tmp_path / "circular_short.fna"
    code, _, err = run_cli(["embed", tables["circular"], "--fasta", fasta, "-o", tmp_path / "emb", "-q"])
    assert code == 1 and err == (f"error: NC_000908.2 is 580,076 bp by the pair closing its circle (MG_470|MG_001), "
                                 f"580,071 bp in {fasta}: a FASTA of another assembly?\n"), err
    assert not (tmp_path / "emb").exists()


def test_pairs_telling_two_lengths_of_one_circle_are_refused(tmp_path):
    """Pairs of one circular scaffold from two assemblies put together: the rebuilt circle took the length the last
    closing pair read told, and the other's genes lay on it; refused, naming both pairs and lengths."""
    import dataclasses

    from microfuse_cli.pairs import genome_from_table, read_pairs

    table = tmp_path / "mg.tsv"
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "--circular", "-o", table, "-q"])
    assert code == 0, err
    read = read_pairs(table)
    *inside, closing = read.pairs
    assert closing.pair_id == "MG_470|MG_001" and genome_from_table(read, None, None, "mg").scaffolds[
        "NC_000908.2"].length == MG_LENGTH
    other = dataclasses.replace(closing, gene_a=inside[-1].gene_a, distance=closing.distance + 100)  # MG_469 last
    with pytest.raises(DataError, match=r"^the pairs MG_470\|MG_001 and MG_469\|MG_001 both close the circle of "
                                        r"NC_000908.2 but tell two lengths \(580,076 and \d{3},\d{3} bp\): pairs of "
                                        r"two assemblies\?$"):
        genome_from_table(dataclasses.replace(read, pairs=(*read.pairs, other)), None, None, "mg")


def test_a_gene_across_the_origin_unchecked_by_a_closing_pair_is_said(tmp_path):
    """A pairs table holding a gene across the origin but not the pair closing the circle (`pairs --labels` of
    MG_470,MG_001) cannot tell a FASTA of its assembly from one a few bp shorter of another: both read MG_001 as
    crossing the origin. Still read (the route works), with one warning saying what was assumed; the complete
    table, whose closing pair checks the length, says nothing. (Tables without '#scaffold' lines, older or made by
    hand: `pairs` writes them, and they settle it.)"""
    gff = write_rotated(tmp_path, "circular")
    labels, subset, full = tmp_path / "labels.csv", tmp_path / "subset.tsv", tmp_path / "full.tsv"
    labels.write_text("MG_470,MG_001,0\n")
    for args in (["--labels", labels, "-o", subset], ["-o", full]):
        code, _, err = run_cli(["pairs", gff, *args, "--proteins", tmp_path / "p.faa", "-q"])
        assert code == 0, err
        without_scaffold_lines(args[-1])
    fasta = tmp_path / "mg_rot.fna"
    said = {}
    for table in (full, subset):
        code, _, said[table] = run_cli(["embed", table, "--proteins", tmp_path / "p.faa", "--fasta", fasta,
                                        "-o", tmp_path / table.stem, "-q"])
        assert code == 0, said[table]
    assert said[full] == ""
    crossing, chosen = said[subset].splitlines(True)  # then the subset's warning (`embed` of a subset table)
    assert crossing == (
        f"warning: gene MG_001 of the pairs ends at {MG_LENGTH + 828}, past the end of NC_000908.2 in {fasta} "
        f"({MG_LENGTH} bp): read as crossing the origin of a circular NC_000908.2, unchecked (the pairs lack the pair "
        f"closing its circle, which tells its length); if {fasta} is of another assembly, its genes are misplaced\n")
    assert chosen.startswith(f"warning: {subset} holds 1 chosen pairs"), chosen


def test_pairs_describes_each_scaffold_of_its_pairs(tmp_path):
    """`pairs` writes a '#scaffold length=N topology=... id=ID' line per scaffold of the pairs it writes (E. coli:
    its circle; M. pneumoniae, its RefSeq GFF3 read as linear; a `--labels` subset of a panel genome: only the
    scaffolds of its pairs), which `read_pairs` gives back; an id to the line's end keeps spaces and '='. A genome
    read without its sequence (a GFF3 alone) has no such line but a '#scaffold_length' line: the length its pragma
    states, which the true FASTA then matches, and the annotation's topology (linear: nothing marks it circular)."""
    from microfuse_cli.pairs import genome_from_table, read_pairs, table_scaffolds

    told = {}
    for name, args in (("ecoli", [ECOLI_GFF, "--fasta", ECOLI_FNA]), ("mpn", [MPN_GFF, "--fasta", MPN_FNA])):
        code, out, err = run_cli(["pairs", *args, "-q"])
        assert code == 0, err
        table = tmp_path / f"{name}.tsv"
        table.write_text(out)
        told[name] = [line for line in out.splitlines() if line.startswith("#scaffold")]
        assert read_pairs(table).scaffolds == {"ecoli": {"NC_000913.3": (4_641_652, True)},
                                               "mpn": {"NC_000912.1": (816_394, False)}}[name]
    assert told == {"ecoli": ["#scaffold length=4641652 topology=circular id=NC_000913.3"],
                    "mpn": ["#scaffold length=816394 topology=linear id=NC_000912.1"]}
    assert table_scaffolds(["#microfuse 0.1.0 pairs genome=x", "#scaffold length=10 topology=linear id=a b=c"],
                           "t.tsv") == {"a b=c": (10, False)}
    assert table_scaffolds(["#genes source=annotation"], "t.tsv") is None
    code, out, err = run_cli(["pairs", MPN_GFF, "-q"])  # no sequence read: the pragma's length, linear
    assert code == 0 and [line for line in out.splitlines() if line.startswith("#scaffold")] == [
        "#scaffold_length length=816394 topology=linear id=NC_000912.1"], err
    (tmp_path / "bare.tsv").write_text(out)  # read with the true FASTA as a table without the lines
    assert genome_from_table(read_pairs(tmp_path / "bare.tsv"), None, MPN_FNA, "m").scaffolds["NC_000912.1"].length \
        == 816_394
    gff = MPN_GFF if not PANEL.exists() else min(PANEL.glob("*.gff.gz"))
    genome = read_genome(gff, gff.with_name(gff.name.replace(".gff.gz", ".fna.gz")))
    first = adjacent_pairs(genome)[0]
    labels = tmp_path / "labels.csv"
    labels.write_text(f"{first.gene_a.id},{first.gene_b.id},1\n")
    code, out, err = run_cli(["pairs", gff, "--fasta", gff.with_name(gff.name.replace(".gff.gz", ".fna.gz")),
                              "--labels", labels, "-q"])
    assert code == 0, err
    scaffold = genome.scaffolds[first.scaffold]
    assert [line for line in out.splitlines() if line.startswith("#scaffold")] == [
        f"#scaffold length={scaffold.length} topology={'circular' if scaffold.circular else 'linear'} "
        f"id={first.scaffold}"]


def test_scaffold_lines_check_a_fasta_exactly(tmp_path):
    """With `pairs`' '#scaffold' lines the table route checks every FASTA's length exactly: a `--labels` subset
    holding MG_001 across the origin but not the pair closing the circle read a FASTA 5 bp shorter with a warning
    ('unchecked'), now refused, and the right FASTA reads without a word; a linear scaffold (M. pneumoniae) was
    checked only for genes past its end: a FASTA 100 bp longer was taken, now refused. Through a pipe too."""
    from microfuse_cli.pairs import genome_from_table, read_pairs

    gff = write_rotated(tmp_path, "circular")
    labels, subset = tmp_path / "labels.csv", tmp_path / "subset.tsv"
    labels.write_text("MG_470,MG_001,0\n")
    code, _, err = run_cli(["pairs", gff, "--labels", labels, "-o", subset, "--proteins", tmp_path / "p.faa", "-q"])
    assert code == 0, err
    fasta, short = tmp_path / "mg_rot.fna", tmp_path / "short.fna"
    name, sequence = fasta.read_text().split("\n")[:2]
    short.write_text(f"{name}\n{sequence[:-5]}\n")
    code, _, err = run_cli(["embed", subset, "--proteins", tmp_path / "p.faa", "--fasta", fasta, "-o",
                            tmp_path / "emb", "-q"])
    assert code == 0 and len(err.splitlines()) == 1 and err.startswith(f"warning: {subset} holds 1 chosen pairs"), err
    code, _, err = run_cli(["embed", subset, "--proteins", tmp_path / "p.faa", "--fasta", short, "-o",
                            tmp_path / "emb2", "-q"])
    assert (code, err) == (1, f"error: NC_000908.2 is 580,076 bp by the pairs' '#scaffold' line, 580,071 bp in "
                              f"{short}: a FASTA of another assembly?\n")
    assert not (tmp_path / "emb2").exists()
    rebuilt = genome_from_table(read_pairs(subset), None, None, "mg").scaffolds["NC_000908.2"]
    assert (rebuilt.length, rebuilt.circular) == (MG_LENGTH, True)

    mpn = tmp_path / "mpn.tsv"
    code, out, err = run_cli(["pairs", MPN_GFF, "--fasta", MPN_FNA, "-q"])
    assert code == 0, err
    mpn.write_text(out)
    with gzip.open(MPN_FNA, "rt") as handle:
        name, *lines = handle.read().split("\n")
    longer = tmp_path / "mpn_longer.fna"
    longer.write_text(f"{name}\n{''.join(lines)}{'ACGTA' * 20}\n")
    assert not genome_from_table(read_pairs(mpn), None, MPN_FNA, "mpn").scaffolds["NC_000912.1"].circular
    with pytest.raises(DataError, match=r"^NC_000912\.1 is 816,394 bp by the pairs' '#scaffold' line, 816,494 bp in "):
        genome_from_table(read_pairs(mpn), None, longer, "mpn")
    code, _, err = run_cli(["score", "-", "--embeddings", tmp_path / "emb", "--fasta", longer, "-q"],
                           stdin=out.encode())  # a pipe: `pairs ... | score - ...`
    assert code == 1 and "816,394 bp by the pairs' '#scaffold' line, 816,494 bp in" in err, err


def test_scaffold_lines_contradicting_the_rows_are_refused(tmp_path):
    """A '#scaffold' line calling linear the scaffold whose circle a pair closes, telling another length than that
    pair, or ending before a gene, or said badly, is bad data (exit 1), for every command reading the table (train
    too, through read_pairs); the table as written reads."""
    from microfuse_cli.pairs import read_pairs

    table = tmp_path / "mg.tsv"
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "--circular", "-o", table, "--proteins",
                            tmp_path / "p.faa", "-q"])
    assert code == 0, err
    text = table.read_text()
    line = f"#scaffold length={MG_LENGTH} topology=circular id=NC_000908.2\n"
    assert line in text and read_pairs(table).scaffolds == {"NC_000908.2": (MG_LENGTH, True)}
    edited = tmp_path / "edited.tsv"
    for wrong, said in (
            (line.replace("circular", "linear"), "the pair MG_470|MG_001 closes the circle of NC_000908.2, which its "
                                                 "'#scaffold' line calls linear"),
            (line.replace(str(MG_LENGTH), str(MG_LENGTH + 7)), "NC_000908.2 is 580,083 bp by its '#scaffold' line, "
                                                               "580,076 bp by the pair closing its circle"),
            (line.replace(str(MG_LENGTH), "500000"), "past the end of NC_000908.2, 500,000 bp and circular"),
            (line.replace("topology=circular", "topology=round"), "line 3: a '#scaffold' line is 'length=N "
                                                                   "topology=circular|linear id=ID'"),
            (line + line.replace("circular", "linear"), "line 4: scaffold 'NC_000908.2' is told twice")):
        edited.write_text("".join(row for row in text.replace(line, wrong).splitlines(keepends=True)
                                  if "500000" not in wrong or not row.startswith("MG_470|MG_001")))  # no closing pair
        with pytest.raises(DataError) as caught:
            read_pairs(edited)
        assert said in str(caught.value), str(caught.value)
        code, _, err = run_cli(["embed", edited, "--proteins", tmp_path / "p.faa", "-o", tmp_path / "emb", "-q"])
        assert code == 1 and said in err and err.count("\n") == 1, err


def test_a_table_of_many_scaffolds_is_told_a_table(tmp_path):
    """A draft assembly of 60 contigs gets 60 '#scaffold' lines above its header: `embed` and `score` of the table
    looked for the header among the first 50 lines only and refused it ('not a GFF3, GenBank, EMBL or FASTA file'),
    `pairs` of it did not say it is a table; also through a pipe. The scores are those of the table as read."""
    with gzip.open(MPN_FNA, "rt") as handle:
        sequence = "".join(handle.read().split("\n")[1:])
    draft = tmp_path / "draft.fna"
    draft.write_text("".join(f">ctg{i} cov=3\n{sequence[i * 5000:(i + 1) * 5000]}\n" for i in range(60)))
    table, proteins, folder = tmp_path / "draft.tsv", tmp_path / "draft.faa", tmp_path / "emb"
    code, _, err = run_cli(["pairs", draft, "-o", table, "--proteins", proteins, "-q"])
    assert code == 0, err
    assert sum(line.startswith("#scaffold ") for line in table.read_text().splitlines()) > 50
    code, _, err = run_cli(["embed", table, "--proteins", proteins, "--fasta", draft, "-o", folder, "-q"])
    assert code == 0, err
    code, out, err = run_cli(["score", table, "--embeddings", folder, "-q"])
    assert code == 0, err
    rows = [line for line in out.splitlines() if not line.startswith("#")]
    assert rows[0].startswith("pair_id\t") and len(rows) - 1 == len(read_pairs_of(table))
    code, piped, err = run_cli(["score", "-", "--embeddings", folder, "-q"], stdin=table.read_bytes())
    assert (code, piped) == (0, out), err
    code, _, err = run_cli(["pairs", table, "-q"])
    assert code == 2 and "is a pairs table; this command needs a genome" in err, err


def read_pairs_of(table):
    from microfuse_cli.pairs import read_pairs

    return read_pairs(table).pairs


def ecoli_piece(start: int, end: int) -> str:
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    with gzip.open(ECOLI_FNA, "rt") as handle:
        return next(SimpleFastaParser(handle))[1][start - 1 : end]


#: b0022 (20,233..20,508, minus strand, GTG start) on a contig from 20,300: its 3' end is cut, its start is whole.
CUT = 20_300


@pytest.mark.parametrize("form", ["ncbi-gff", "prodigal-gff", "genbank", "partial-true", "pgap-note"])
def test_gene_cut_at_its_3_prime_end_keeps_its_start_codon(form, tmp_path, ecoli_genome):
    """The 5' end (GTG) is in the contig: the protein starts with Met as its annotation's; only a cut 5' end loses it
    (was: any partial CDS, whichever end was cut, kept V/L; ``partial=true`` alone, which names no end, or with
    PGAP's Note "missing C-terminus", too: its 3' end at the contig's edge says which end is cut)."""
    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqFeature import BeforePosition, FeatureLocation, SeqFeature
    from Bio.SeqRecord import SeqRecord

    sequence, end = ecoli_piece(CUT, CUT + 5000), 20_508 - CUT + 1
    if form == "genbank":
        record = SeqRecord(Seq(sequence), id="c1", annotations={"molecule_type": "DNA", "topology": "linear"})
        record.features.append(SeqFeature(FeatureLocation(BeforePosition(0), end, strand=-1), type="CDS",
                                          qualifiers={"locus_tag": ["b0022"]}))
        path = tmp_path / "cut.gbk"
        SeqIO.write(record, path, "genbank")
    else:
        flags = {"ncbi-gff": "partial=true;start_range=.,1", "prodigal-gff": "partial=10",
                 "partial-true": "partial=true", "pgap-note": "Note=incomplete%3B partial on complete genome%3B missing C-terminus"}[form]
        path = tmp_path / "cut.gff"
        path.write_text(f"##gff-version 3\nc1\tx\tCDS\t1\t{end}\t.\t-\t0\tID=b0022;{flags}\n##FASTA\n>c1\n{sequence}\n")
    gene = read_genome(path).genes[0]
    full = next(g for g in ecoli_genome.genes if g.id == "b0022").protein
    assert gene.partial and full.startswith("MASVS")
    # 69 whole codons and the two bases of the 70th (GC?, Ala whatever the third), read as NCBI reads them
    assert gene.protein == full[: end // 3 + 1] and len(gene.protein) == 70 and gene.protein[-1] == "A"


#: L. monocytogenes lmo0004 (4,644..4,865, plus strand, TTG start).
LMO_FNA = SHARED / "lmonocytogenes_egde" / "GCA_000196035.1_AL591824.1.fna.gz"


@pytest.mark.parametrize("where", ["contig end", "assembly gap", "mid-contig"])
def test_partial_true_alone_is_cut_where_its_sequence_ends(where, tmp_path):
    """``partial=true`` with no start_range/end_range names no end: lmo0004 running off its contig's end, or into a
    100-N gap, is cut at its 3' end only, its TTG start read as Met, as Biopython translates the CDS (was: cut at
    both ends, L). Reaching neither, no end can be told whole: both stay cut, TTG read as L."""
    from Bio import SeqIO
    from Bio.Seq import Seq

    with gzip.open(LMO_FNA, "rt") as handle:
        chromosome = str(next(SeqIO.parse(handle, "fasta")).seq)
    cds = chromosome[4643:4799]  # 52 codons: lmo0004 from its TTG, its 3' end cut
    sequence = {"contig end": chromosome[2000:4799], "assembly gap": chromosome[2000:4799] + "N" * 100 + "ACGT" * 50,
                "mid-contig": chromosome[2000:6000]}[where]
    path = tmp_path / "cut.gff"
    path.write_text(f"##gff-version 3\nc1\tx\tCDS\t2644\t2799\t.\t+\t0\tID=lmo0004;partial=true\n"
                    f"##FASTA\n>c1\n{sequence}\n")
    gene, = read_genome(path).genes
    protein = str(Seq(cds).translate(table=11))
    assert cds.startswith("TTG") and protein.startswith("L") and "*" not in protein
    assert gene.partial and gene.protein == (protein if where == "mid-contig" else "M" + protein[1:])


def test_prodigal_gff_partial_genes_give_prodigal_proteins(tmp_path):
    """A real Prodigal GFF3 (pyrodigal's writer) of E. coli cut into 3 kb contigs: `partial=10/01/11` flags name the
    cut edges; every protein is Prodigal's own (was: a gene cut at its 5' end got Met for its first L/V codon)."""
    import io

    import pyrodigal

    sequence = ecoli_piece(1, 90_000)
    contigs = [(f"c{i}", sequence[i : i + 3001]) for i in range(0, len(sequence), 3001)]
    finder, gff, expected = pyrodigal.GeneFinder(meta=True), io.StringIO(), {}
    for sid, contig in contigs:
        genes = finder.find_genes(contig.encode())
        genes.write_gff(gff, sequence_id=sid, header=False)
        expected.update({(sid, g.begin, g.end): (g.translate(include_stop=False), g.partial_begin or g.partial_end)
                         for g in genes})
    path = tmp_path / "prodigal.gff"
    path.write_text("##gff-version 3\n" + gff.getvalue().replace("##gff-version  3\n", "") + "##FASTA\n"
                    + "".join(f">{sid}\n{contig}\n" for sid, contig in contigs))
    genome = read_genome(path)
    found = {(g.scaffold, g.start, g.end): (g.protein, g.partial) for g in genome.genes}
    assert found == expected
    assert sum(p for _, p in expected.values()) > 30
    assert sum(protein[0] in "LV" and partial for protein, partial in expected.values()) >= 3


def test_prodigal_gff_model_line_gives_the_genetic_code():
    """Prodigal's own GFF3 of a Mycoplasma contig (shipped with pyrodigal) says `transl_table=4` on its `# Model Data`
    line, not on each CDS: its proteins are Prodigal's, UGA read as Trp (was: 70 genes with X for every TGA)."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    from conftest import pyrodigal_data

    with gzip.open(pyrodigal_data("SRR492066.meta.faa.gz"), "rt") as handle:
        prodigal = {tuple(int(f) for f in title.split(" # ")[1:3]): protein.rstrip("*")
                    for title, protein in SimpleFastaParser(handle)}
    genome = read_genome(pyrodigal_data("SRR492066.meta.gff"), pyrodigal_data("SRR492066.fna.gz"))
    assert len(genome.genes) == len(prodigal) == 70 and {g.genetic_code for g in genome.genes} == {4}
    assert {(g.start, g.end): g.protein for g in genome.genes} == prodigal


def test_cds_of_a_pseudogene_is_not_a_gene():
    """Synechocystis (panel, from NCBI's feature table) gives 103 pseudogenes a CDS row under a
    `gene_biotype=pseudogene` gene, without `pseudo=true` on the CDS itself: they are not protein-coding genes
    (was: read as genes, 69 of them with internal stops, and paired with their neighbours)."""
    gff = PANEL / "GCF_003015225.1_ASM301522v1_genomic.gff.gz"
    with gzip.open(gff, "rt") as handle:
        pseudo = {line.split("locus_tag=")[1].split(";")[0] for line in handle
                  if "\tgene\t" in line and "gene_biotype=pseudogene" in line}
    genome = read_genome(gff, PANEL / "GCF_003015225.1_ASM301522v1_genomic.fna.gz")
    assert len(pseudo) == 104 and "C7I86_00465" in pseudo
    assert not pseudo & {g.id for g in genome.genes}
    assert len(genome.genes) == 3671 - 103
    assert sum("X" in g.protein for g in genome.genes) == 6


def test_genbank_cds_translated_as_ncbi_translated_them():
    """L. pneumophila's GenBank with its /translation qualifiers removed: every CDS translated from the sequence is
    NCBI's protein; lpp1869, lpp2152 and lpp2769 start with ATT/ATC/ATA, start codons of table 11 read as Met
    (was: Ile; only TTG/CTG/GTG were read as starts)."""
    import re

    gbk = SHARED / "lpneumophila_paris" / "CR628336.1.gbk.gz"
    with gzip.open(gbk, "rt") as handle:
        text = handle.read()
    stripped = re.sub(r'\n {21}/translation="[^"]*"', "", text)
    assert "/translation" in text and "/translation" not in stripped
    ncbi = {g.id: g.protein for g in read_genome(gbk).genes}
    ours = {g.id: g.protein for g in read_genome("cut.gbk", text=stripped).genes}
    assert len(ours) == 3027 and ours == ncbi


def ecoli_genbank(tmp_path, end: int = 600_000):
    """E. coli's first ``end`` bases as RefSeq's GenBank gives them: one CDS feature per CDS ID of the GFF3 (joins
    for the split ones), /locus_tag and /protein_id; dnaX (b0470) and copA (b0484) have two CDS each, the second
    a ribosomal-slippage join, under one locus_tag."""
    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqFeature import CompoundLocation, FeatureLocation, SeqFeature
    from Bio.SeqRecord import SeqRecord

    parts: dict[str, list] = {}
    with gzip.open(ECOLI_GFF, "rt") as handle:
        for line in handle:
            cols = line.rstrip("\n").split("\t")
            if len(cols) == 9 and cols[2] == "CDS" and "pseudo=true" not in cols[8] and int(cols[4]) <= end:
                attrs = dict(kv.split("=", 1) for kv in cols[8].split(";"))
                parts.setdefault(attrs["ID"], []).append((int(cols[3]), int(cols[4]), cols[6], attrs))
    record = SeqRecord(Seq(ecoli_piece(1, end)), id="NC_000913.3",
                       annotations={"molecule_type": "DNA", "topology": "linear"})
    for rows in parts.values():
        strand = 1 if rows[0][2] == "+" else -1
        locations = [FeatureLocation(s - 1, e, strand=strand) for s, e, _, _ in rows]  # in the GFF3's 5'->3' order
        location = locations[0] if len(locations) == 1 else CompoundLocation(locations)
        record.features.append(SeqFeature(location, type="CDS", qualifiers={
            "locus_tag": [rows[0][3]["locus_tag"]], "protein_id": [rows[0][3].get("protein_id", "")]}))
    path = tmp_path / "ecoli.gbk"
    SeqIO.write(record, path, "genbank")
    return path


def test_genbank_isoforms_of_one_locus_tag_are_one_gene(tmp_path, ecoli_genome):
    """RefSeq GenBank gives dnaX two CDS under /locus_tag="b0470" (tau, and gamma by ribosomal slippage): one gene,
    the longest, as from the GFF3 (was: "duplicate gene id 'b0470'", the whole genome refused)."""
    genome = read_genome(ecoli_genbank(tmp_path))
    from_gff = {g.id: (g.start, g.end, g.strand, g.protein) for g in ecoli_genome.genes if g.end <= 600_000}
    assert {g.id: (g.start, g.end, g.strand, g.protein) for g in genome.genes} == from_gff
    assert from_gff["b0470"][:2] == (492092, 494023) and from_gff["b0484"][:2] == (508875, 511379)


def test_gene_across_the_origin_of_a_small_plasmid(tmp_path, mg_original):
    """gyrB (MG_003, 1,953 bp) on a 3 kb circle cut from M. genitalium, turned so it crosses the origin: NCBI's two
    rows (2345..3000, 1..1297) are one gene of 2345..4297 whatever share of the circle it covers (was: a join was
    taken across the origin only when the gene covered less than half of its sequence; this one read 1..3000)."""
    circle = mg_sequence()[2000:5000]
    circle = circle[1500:] + circle[:1500]
    gff = tmp_path / "plasmid.gff"
    gff.write_text("##gff-version 3\n"
                   "p1\tx\tregion\t1\t3000\t.\t+\t.\tID=p1;Is_circular=true\n"
                   "p1\tx\tCDS\t2345\t3000\t.\t+\t0\tID=cds3;locus_tag=MG_003;transl_table=4\n"
                   "p1\tx\tCDS\t1\t1297\t.\t+\t0\tID=cds3;locus_tag=MG_003;transl_table=4\n"
                   f"##FASTA\n>p1\n{circle}\n")
    (gene,) = read_genome(gff).genes
    assert (gene.start, gene.end) == (2345, 3000 + 1297)
    assert gene.protein == next(g.protein for g in mg_original[0].genes if g.id == "MG_003")


def test_fasta_given_beside_an_embedded_fasta_must_agree(tmp_path):
    """A Prokka/Bakta-style GFF3 (with ##FASTA) and --fasta too: the same sequences are fine, other sequences are
    refused in one line (never a silent choice of one), and the input and --fasta cannot both be stdin."""
    bakta = tmp_path / "mg.gff3"
    rows = gzip.decompress(MG_GFF.read_bytes()).decode().rstrip("\n")
    bakta.write_text(rows + "\n##FASTA\n" + gzip.decompress(MG_FNA.read_bytes()).decode())
    plain = tmp_path / "plain.tsv"
    assert run_cli(["pairs", bakta, "-o", plain])[0] == 0
    code, _, err = run_cli(["pairs", bakta, "--fasta", MG_FNA, "-o", tmp_path / "same.tsv"])
    assert code == 0, err
    assert (tmp_path / "same.tsv").read_text() == plain.read_text()
    code, _, err = run_cli(["pairs", bakta, "--fasta", MPN_FNA, "-o", tmp_path / "other.tsv"])
    assert code == 1 and not (tmp_path / "other.tsv").exists()
    assert err.strip() == (f"error: {bakta}: its ##FASTA and --fasta {MPN_FNA} disagree on every sequence name; "
                           "give the sequences once")
    edited = tmp_path / "edited.fna"  # the same name, one base changed
    sequence = gzip.decompress(MG_FNA.read_bytes()).decode().split("\n", 1)
    edited.write_text(sequence[0] + "\n" + ("T" if sequence[1][0] != "T" else "A") + sequence[1][1:])
    code, _, err = run_cli(["pairs", bakta, "--fasta", edited, "-o", tmp_path / "edited.tsv"])
    header = sequence[0][1:].split()[0]
    assert code == 1 and f"disagree on {header}; give the sequences once" in err
    code, _, err = run_cli(["pairs", "-", "--fasta", "-"], stdin=bakta.read_bytes())
    assert code == 2 and err.strip() == "error: only one input can be read from stdin ('-' is given twice)"


def gene_models(genome) -> dict[str, tuple]:
    return {g.id: (g.scaffold, g.start, g.end, g.strand, g.protein, g.partial) for g in genome.genes}


def test_cds_parts_without_id_are_one_cds_by_their_parent(ecoli_genome):
    """GTF-derived GFF3 (`gt gtf_to_gff3`, gffread) gives the parts of one CDS only their Parent, no ID: E. coli's
    RefSeq GFF3 with every CDS ID removed gives the same 4,288 gene models. prfB's two rows (a +1 frameshift) are
    RF2 of 365 aa (was: the longer part alone, 340 aa from mid-gene); the alternative CDS of mrcB, dnaX (tau and
    the frameshifted gamma, whose parts share a base) and copA stay alternatives, the longest kept."""
    import re

    with gzip.open(ECOLI_GFF, "rt") as handle:
        text = "".join(re.sub(r"\tID=[^;]*;", "\t", line) if "\tCDS\t" in line else line for line in handle)
    assert "\tCDS\t" in text and not re.search(r"\tCDS\t.*\tID=", text)
    genome = read_genome("no_cds_ids.gff", ECOLI_FNA, text=text)
    assert gene_models(genome) == gene_models(ecoli_genome)
    prfb = next(g for g in genome.genes if g.id == "b2891")
    assert (prfb.start, prfb.end, len(prfb.protein)) == (3035184, 3036282, 365)
    assert prfb.protein.startswith("MFEINPVNNRIQDLTERSDVLRGYLDYDAKKERLEEV")


def ensembl_gff3(end: int) -> str:
    """E. coli's first ``end`` bases annotated the way Ensembl Bacteria writes GFF3, from RefSeq's own CDS rows:
    gene (ID=gene:<b-number>, gene_id, Name) -> mRNA (ID=transcript:<protein>) -> CDS (ID=CDS:<protein>, no
    locus_tag); seqid 'Chromosome'. mrcB (b0149) and dnaX (b0470) get two transcripts each, as two CDS."""
    rows, seen = [], set()
    with gzip.open(ECOLI_GFF, "rt") as handle:
        for line in handle:
            cols = line.rstrip("\n").split("\t")
            if len(cols) != 9 or cols[2] != "CDS" or "pseudo=true" in cols[8] or int(cols[4]) > end:
                continue
            attrs = dict(kv.split("=", 1) for kv in cols[8].split(";"))
            tag, protein = attrs["locus_tag"], attrs["protein_id"].split(".")[0]
            where = f"{cols[3]}\t{cols[4]}\t.\t{cols[6]}\t."
            if tag not in seen:  # the gene row spans its first CDS: the reader takes coordinates from the CDS
                rows.append(f"Chromosome\tena\tgene\t{where}\tID=gene:{tag};Name={attrs.get('gene', tag)};"
                            f"biotype=protein_coding;gene_id={tag}")
            if protein not in seen:
                rows.append(f"Chromosome\tena\tmRNA\t{where}\tID=transcript:{protein};Parent=gene:{tag}")
            seen |= {tag, protein}
            rows.append("\t".join(["Chromosome", "ena", *cols[2:8],
                                   f"ID=CDS:{protein};Parent=transcript:{protein};protein_id={protein}"]))
    return "##gff-version 3\n" + "\n".join(rows) + f"\n##FASTA\n>Chromosome dna:chromosome\n{ecoli_piece(1, end)}\n"


def test_ensembl_gene_mrna_cds_gives_the_genes_names(tmp_path, ecoli_genome):
    """Ensembl Bacteria GFF3 puts an mRNA between gene and CDS and the b-number only on the gene: each CDS is named
    by its gene (b0001, alias thrL), so ODB/RegulonDB labels find it, and two CDS of one gene are one gene
    (was: ids 'CDS:NP_414542', the b-number and gene name nowhere among the aliases)."""
    gff = tmp_path / "ensembl.gff3"
    gff.write_text(ensembl_gff3(200_000))
    genome = read_genome(gff)
    expected = {g.id: (g.start, g.end, g.strand, g.protein) for g in ecoli_genome.genes if g.end <= 200_000}
    assert {g.id: (g.start, g.end, g.strand, g.protein) for g in genome.genes} == expected
    thrl = genome.genes[0]
    assert thrl.id == "b0001" and "thrL" in thrl.aliases and "NP_414542" in thrl.aliases
    assert expected["b0149"][:2] == (164730, 167264) and len(expected) > 150


#: E. coli's selenoproteins: (locus_tag, piece of the chromosome holding it, Sec residue); fdnG is on the plus
#: strand, fdhF on the minus strand.
SELENOPROTEINS = (("b1474", (1_547_001, 1_551_000), 196), ("b4079", (4_297_001, 4_300_000), 140))



def _selenoprotein_genbank(path, edit, record_id: str = "{}"):
    """E. coli's selenoprotein genes cut from the genome as GenBank records (named ``record_id`` of the locus tag),
    each with its GFF3 transl_except moved to the cut coordinates and passed through ``edit(tag, value)``."""
    import re

    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqFeature import FeatureLocation, SeqFeature
    from Bio.SeqRecord import SeqRecord

    with gzip.open(ECOLI_GFF, "rt") as handle:
        rows = {line.split("locus_tag=")[1].split(";")[0]: line.split("\t") for line in handle
                if "\tCDS\t" in line and "transl_except=" in line}
    records = []
    for tag, (first, last), _ in SELENOPROTEINS:
        cols, shift = rows[tag], first - 1
        value = cols[8].split("transl_except=")[1].split(";")[0].replace("%2C", ",")
        value = edit(tag, re.sub(r"\d+", lambda m: str(int(m.group()) - shift), value))
        record = SeqRecord(Seq(ecoli_piece(first, last)), id=record_id.format(tag), name=tag,
                           annotations={"molecule_type": "DNA"})
        location = FeatureLocation(int(cols[3]) - 1 - shift, int(cols[4]) - shift, strand=1 if cols[6] == "+" else -1)
        record.features.append(SeqFeature(location, type="CDS", qualifiers={"locus_tag": [tag],
                                                                            "transl_except": [value]}))
        records.append(record)
    SeqIO.write(records, path, "genbank")
    return path

def test_selenocysteine_is_read_from_transl_except(tmp_path, ecoli_genome):
    """fdnG, fdoG and fdhF read their UGA as selenocysteine (RefSeq's transl_except, Sec140 of FdhF, Sec196 of
    FdnG/FdoG): U, as in NCBI's proteins and in a GenBank's /translation (was: X, so the same gene's protein
    differed between a GFF3 and a GenBank with /translation); the same from a GenBank without /translation."""
    proteins = {g.id: g.protein for g in ecoli_genome.genes}
    assert [proteins[tag].count("U") for tag in ("b1474", "b3894", "b4079")] == [1, 1, 1]
    assert not any("X" in proteins[tag] for tag in ("b1474", "b3894", "b4079"))
    assert proteins["b4079"][139] == "U" and proteins["b1474"][195] == proteins["b3894"][195] == "U"
    path = _selenoprotein_genbank(tmp_path / "seleno.gbk", lambda tag, value: value.replace(",", ", ")
                                  if tag == "b4079" else value)  # as a wrapped GenBank value reads
    assert {g.id: g.protein for g in read_genome(path).genes} == {tag: proteins[tag] for tag, _, _ in SELENOPROTEINS}


def test_features_without_attributes_are_read(tmp_path, mg_original):
    """GFF3 writes '.' for an empty column 9 (`gt gff3validator` accepts it): M. genitalium with a repeat_region and
    a CDS without attributes reads, the bare CDS named by its position (was: 'malformed attribute', the whole
    genome refused)."""
    lines = gzip.decompress(MG_GFF.read_bytes()).decode().splitlines()
    cds = [i for i, line in enumerate(lines) if "\tCDS\t" in line and "locus_tag=MG_003;" in line]
    cols = lines[cds[0]].split("\t")
    lines[cds[0]] = "\t".join(cols[:8] + ["."])
    lines.insert(2, f"{cols[0]}\tx\trepeat_region\t10\t50\t.\t+\t.\t.")
    gff = tmp_path / "dots.gff"
    gff.write_text("\n".join(lines) + "\n")
    genome = read_genome(gff, MG_FNA, GenomeOptions(genetic_code=4, circular=True))  # -g 4: it lost transl_table
    original = {g.id: g for g in mg_original[0].genes}
    bare = next(g for g in genome.genes if g.id == f"{cols[0]}_2845_4797")
    assert bare.protein == original["MG_003"].protein and bare.genetic_code == 4
    assert len(genome.genes) == len(original) and "MG_003" not in {g.id for g in genome.genes}


def test_gtf_is_refused_with_the_conversion_and_gt_output_reads(tmp_path, ecoli_genome):
    """E. coli's RefSeq CDS rows around prfB written as GTF: refused in one line that says how to convert it (was:
    "malformed attribute 'gene_id ...'"); converted by `gt gtf_to_gff3` (gene -> mRNA -> CDS parts with only a
    Parent, the b-number as gene_id) it gives RefSeq's genes and proteins, prfB's frameshift included."""
    first, last = 3_030_001, 3_040_000
    rows = []
    with gzip.open(ECOLI_GFF, "rt") as handle:
        for line in handle:
            cols = line.rstrip("\n").split("\t")
            if len(cols) == 9 and cols[2] == "CDS" and first <= int(cols[3]) and int(cols[4]) <= last:
                tag = cols[8].split("locus_tag=")[1].split(";")[0]
                rows.append("\t".join(["piece", *cols[1:3], str(int(cols[3]) - first + 1),
                                       str(int(cols[4]) - first + 1), *cols[5:8],
                                       f'gene_id "{tag}"; transcript_id "{tag}.t1";']))
    gtf, fasta, gff = tmp_path / "piece.gtf", tmp_path / "piece.fna", tmp_path / "piece.gff3"
    gtf.write_text("\n".join(rows) + "\n")
    fasta.write_text(f">piece\n{ecoli_piece(first, last)}\n")
    code, _, err = run_cli(["pairs", gtf, "--fasta", fasta, "-o", tmp_path / "pairs.tsv"])
    assert code == 1 and err.strip() == (f'error: {gtf}: line 1: GTF attributes (gene_id "b2888"), not GFF3; '
                                         "convert it first (gt gtf_to_gff3, or gffread -E -o out.gff3)")
    converted = subprocess.run(["gt", "gtf_to_gff3", str(gtf)], capture_output=True, text=True, check=True)
    gff.write_text(converted.stdout)
    genes = {g.id: (g.start + first - 1, g.end + first - 1, g.strand, g.protein)
             for g in read_genome(gff, fasta).genes}
    expected = {g.id: (g.start, g.end, g.strand, g.protein) for g in ecoli_genome.genes
                if first <= g.start and g.end <= last}
    assert genes == expected and len(genes["b2891"][3]) == 365 and len(genes) >= 8


def test_annotation_read_with_the_wrong_code_is_warned(tmp_path):
    """M. genitalium annotated without transl_table (as Prokka --gcode 4 writes it), GFF3 or GenBank: read with the
    default code 11, 340 of its 476 CDS hold a stop (TGA) inside, which one warning names with the -g that fixes it
    (was: silent, X in 71% of the proteins); with -g 4, or on a real code-11 genome, no warning."""
    gff, gbk = without_transl_table(tmp_path), write_rotated(tmp_path, "genbank")
    gbk.write_text(gbk.read_text().replace("/transl_table=4", '/note="no code"'))
    warning = (" CDS have internal stop codons with genetic code 11 (read as X); if the organism uses another code, "
               "give it with -g (Mycoplasma: -g 4)")
    for path, extra in ((gff, ["--fasta", MG_FNA]), (gbk, [])):
        code, _, err = run_cli(["pairs", path, *extra, "-o", tmp_path / "pairs.tsv"])
        assert code == 0 and f"warning: {path}: 340 of 476{warning}" in err
        code, _, err = run_cli(["pairs", path, *extra, "-g", "4", "-o", tmp_path / "pairs.tsv"])
        assert code == 0 and "warning" not in err
    code, _, err = run_cli(["pairs", PANEL / "GCF_000027305.1_ASM2730v1_genomic.gff.gz", "--fasta",
                            PANEL / "GCF_000027305.1_ASM2730v1_genomic.fna.gz", "-o", tmp_path / "hi.tsv"])
    assert code == 0 and "warning" not in err


def test_ambiguity_codes_are_not_counted_as_internal_stops(tmp_path):
    """An N in a codon reads as X, as a stop does, but is no sign of a wrong genetic code: M. genitalium (code 4,
    given) with an N in the 11th codon of every CDS gets no wrong-code warning (was: '476 of 476 CDS have internal
    stop codons with genetic code 4'), while its proteins still carry the X."""
    sequence = list(mg_sequence())
    cds = [c for c in mg_lines() if c[2] == "CDS"]
    for c in cds:
        sequence[int(c[3]) - 1 + 30 if c[6] == "+" else int(c[4]) - 1 - 30] = "N"  # first base of codon 11
    fna = tmp_path / "with_ns.fna"
    fna.write_text(">NC_000908.2\n" + "".join(sequence) + "\n")
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", fna, "-o", tmp_path / "pairs.tsv"])
    assert code == 0 and "internal stop" not in err, err
    proteins = [g.protein for g in read_genome(MG_GFF, fna).genes]
    assert sum(p[10] == "X" for p in proteins) > 0.9 * len(proteins)


def test_a_start_codon_with_an_ambiguity_code_is_read_as_met(tmp_path):
    """A start codon whose every reading is a start (RTG: ATG or GTG; NTG: ATG, CTG, GTG or TTG in code 4) is Met,
    as NCBI reads an ATG; it read X. Biopython's ambiguous codon tables say which codons those are."""
    from Bio.Seq import reverse_complement

    sequence = list(mg_sequence())
    changed = 0
    for i, c in enumerate(c for c in mg_lines() if c[2] == "CDS"):
        start, end = int(c[3]) - 1, int(c[4])
        plus = "".join(sequence[start : start + 3]) if c[6] == "+" else "".join(sequence[end - 3 : end])
        codon = plus if c[6] == "+" else reverse_complement(plus)
        if codon in ("ATG", "GTG"):
            code = "R" if i % 2 else "N"
            if c[6] == "+":
                sequence[start] = code
            else:
                sequence[end - 1] = reverse_complement(code)
            changed += 1
    fna = tmp_path / "ambiguous_starts.fna"
    fna.write_text(">NC_000908.2\n" + "".join(sequence) + "\n")
    options = GenomeOptions(genetic_code=4)
    genes = read_genome(MG_GFF, fna, options).genes
    original = read_genome(MG_GFF, MG_FNA, options).genes
    assert changed > 400 and [g.id for g in genes] == [g.id for g in original]
    # a changed base inside an overlapping neighbour's codon reads X there, as an ambiguity code does
    differing = [(g.id, g.protein[:3], o.protein[:3]) for g, o in zip(genes, original) if g.protein[0] != o.protein[0]
                 or any(a != b and a != "X" for a, b in zip(g.protein, o.protein))]
    assert not differing, differing[:5]


@pytest.mark.parametrize("genomes, warned", [
    ((ECOLI_FNA, PANEL / "GCF_000027325.1_ASM2732v1_genomic.fna.gz"),
     "called with genetic code 11 as one genome, but NC_000908.2 codes like genetic code 4 (Mycoplasma)"),
    ((PANEL / "GCF_000027305.1_ASM2730v1_genomic.fna.gz", PANEL / "GCF_000027325.1_ASM2732v1_genomic.fna.gz"),
     "called with genetic code 4 as one genome, but NC_000907.1 codes like genetic code 11 (most bacteria)"),
    ((PANEL / "GCF_003015225.1_ASM301522v1_genomic.fna.gz",), None),  # a chromosome and plasmids: one genome
])
def test_a_record_with_another_genetic_code_in_one_fasta_is_warned(genomes, warned, caplog):
    """Without --bins, one FASTA is called as one genome with one genetic code, chosen on the whole: M. genitalium
    beside E. coli got code 11 (its UGA read as stops), beside H. influenzae code 4 for both, silently. A warning
    now names the record that codes otherwise on its own, with --bins and -g (bins and genetic_code in a Python
    caller's record); Synechocystis' 103 kb plasmid, whose
    density is low beside its chromosome, is no such record."""
    from microfuse_cli.genes import call_genes
    from microfuse_cli.io.fasta import read_fasta_scaffolds

    scaffolds = {k: s for path in genomes for k, s in read_fasta_scaffolds(path).items()}
    with caplog.at_level("WARNING", logger="microfuse"):
        call_genes(scaffolds, mode="single")
    warnings = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    if warned is None:
        assert warnings == []
    else:  # a Python caller is named the argument; the CLI prints the record's cli_message, naming --bins and -g
        assert len(warnings) == 1 and warnings[0].startswith(f"the assembly: {warned}; if they are several genomes, "
                                                             "give GenomeOptions(bins={scaffold: bin})"), warnings
        cli = [r.cli_message for r in caplog.records if r.levelname == "WARNING"][0]
        assert cli.startswith(f"the assembly: {warned}; if they are several genomes, give --bins") and " or -g " in cli


def test_genes_under_an_operon_feature_stay_distinct(tmp_path, ecoli_genome):
    """E. coli's thr operon (b0001-b0004, RefSeq rows) with an operon feature as the genes' Parent (as
    BioCyc-style GFF3 nests them): four genes named by their gene rows; two genes given one locus_tag are refused
    as a duplicate, not merged as isoforms of the operon (was, with the gene taken as the top of the lineage)."""
    rows = ["piece\tx\toperon\t190\t5020\t.\t+\t.\tID=thrLABC"]
    with gzip.open(ECOLI_GFF, "rt") as handle:
        for line in handle:
            cols = line.rstrip("\n").split("\t")
            if len(cols) == 9 and cols[2] in ("gene", "CDS") and int(cols[4]) <= 5020:
                attrs = cols[8] + (";Parent=thrLABC" if cols[2] == "gene" else "")
                rows.append("\t".join(["piece", *cols[1:8], attrs]))
    text = "##gff-version 3\n" + "\n".join(rows) + f"\n##FASTA\n>piece\n{ecoli_piece(1, 6000)}\n"
    (tmp_path / "thr.gff").write_text(text)
    genes = read_genome(tmp_path / "thr.gff").genes
    assert [g.id for g in genes] == ["b0001", "b0002", "b0003", "b0004"] and "thrA" in genes[1].aliases
    assert [g.protein for g in genes] == [g.protein for g in ecoli_genome.genes[:4]]
    (tmp_path / "dup.gff").write_text(text.replace("locus_tag=b0003", "locus_tag=b0002"))
    with pytest.raises(DataError, match="duplicate gene id 'b0002'"):
        read_genome(tmp_path / "dup.gff")


def test_crlf_text_given_to_the_api_reads_as_the_file(mg_original):
    """M. genitalium as a Bakta-style GFF3 (##FASTA) with Windows line ends, given to read_genome as text (the file
    read as it is, as `open(newline='')` or bytes.decode() give it): the same genes as the file (was: the ##FASTA
    line, read with its CR, was not seen, and its sequence lines were refused as GFF3 rows)."""
    text = gzip.decompress(MG_GFF.read_bytes()).decode() + "##FASTA\n" + gzip.decompress(MG_FNA.read_bytes()).decode()
    genome = read_genome("mg.gff3", text=text.replace("\n", "\r\n"), options=GenomeOptions(circular=True))
    assert gene_models(genome) == gene_models(mg_original[0]) and len(genome.genes) == 476


def rast_gff(tmp_path):
    """M. genitalium's CDS as RAST and PATRIC write GFF3: source FIG, ``fig|`` peg ids, the product as Name, no
    transl_table, and 1 in the phase column of every CDS (a whole CDS; GFF3 would say 0)."""
    rows = ["##gff-version 3\t\t\t\t\t\t\t\t", f"##sequence-region\taccn|NC_000908.2\t1\t{MG_LENGTH}\t\t\t\t\t"]
    cds = [c for c in mg_lines() if c[2] == "CDS"]
    for n, cols in enumerate(cds, start=1):
        product = dict(kv.split("=", 1) for kv in cols[8].split(";")).get("product", "hypothetical protein")
        rows.append("\t".join([cols[0], "FIG", "CDS", cols[3], cols[4], ".", cols[6], "1",
                               f"ID=fig|243273.25.peg.{n};Name={product}"]))
    gff = tmp_path / "rast.gff"
    gff.write_text("\n".join(rows) + "\n")
    return gff


def test_rast_phase_one_on_whole_cds_reads_them_from_their_start(tmp_path, mg_original):
    """RAST/PATRIC GFF3 puts 1 in the phase column of every CDS; on a CDS neither flagged partial nor at a sequence
    edge that is no frame (a whole bacterial CDS starts on its first codon): the proteins are NCBI's, no gene is
    partial, one line says so (was: every CDS read from its second base, 476 garbage proteins flagged partial and
    a warning to give -g 4, which was given)."""
    gff = rast_gff(tmp_path)
    code, _, err = run_cli(["pairs", gff, "--fasta", MG_FNA, "-g", "4", "--proteins", tmp_path / "p.faa",
                            "-o", tmp_path / "p.tsv"])
    assert code == 0 and "warning" not in err, err
    assert "476 CDS have phase 1 or 2 in column 8 but a whole 5' end" in err
    genome = read_genome(gff, MG_FNA, GenomeOptions(genetic_code=4))
    expected = [g.protein for g in mg_original[0].genes]
    assert [g.protein for g in genome.genes] == expected and not any(g.partial for g in genome.genes)
    assert genome.genes[0].id == "fig%7C243273.25.peg.1" and "fig|243273.25.peg.1" in genome.genes[0].aliases


def test_prodigal_gff_genes_take_the_names_of_prodigal_proteins(tmp_path):
    """Prodigal's own GFF3 names its genes ``1_1`` (sequence number, gene number), its proteins ``<seqid>_1``, as
    pyrodigal's GFF3 and microfuse's own gene calling do: the genes take the protein names (the GFF3 ID stays an
    alias), so ids match Prodigal's .faa and a bare FASTA's run (was: 1_1 ..., in every genome alike)."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    from conftest import pyrodigal_data

    with gzip.open(pyrodigal_data("SRR492066.meta.faa.gz"), "rt") as handle:
        prodigal = {title.split()[0]: protein.rstrip("*") for title, protein in SimpleFastaParser(handle)}
    genome = read_genome(pyrodigal_data("SRR492066.meta.gff"), pyrodigal_data("SRR492066.fna.gz"))
    assert {g.id: g.protein for g in genome.genes} == prodigal and len(prodigal) == 70
    first = genome.genes[0]
    assert first.id == "NODE_23_length_79939_cov_26.984653_1" and "1_1" in first.aliases
    called = read_genome(pyrodigal_data("SRR492066.fna.gz"), options=GenomeOptions(mode="meta"))
    shared = {g.id for g in called.genes} & {g.id for g in genome.genes}
    assert len(shared) >= 60


def test_embl_reads_as_its_genbank(tmp_path, mg_original):
    """ENA's EMBL flat file (the same records as GenBank in another layout, read by Biopython): M. genitalium turned
    so MG_001 crosses the origin, written as EMBL, gives the GenBank file's genes and pairs, circular from its ID
    line (was: refused as 'not a GFF3, GenBank or FASTA file')."""
    from Bio import SeqIO

    gbk = write_rotated(tmp_path, "genbank")
    embl = tmp_path / "mg_rot.embl"
    SeqIO.write(SeqIO.parse(gbk, "genbank"), embl, "embl")
    assert embl.read_text().startswith("ID   ") and "circular" in embl.read_text().splitlines()[0]
    genome, expected = read_genome(embl), read_genome(gbk)
    assert gene_models(genome) == gene_models(expected) and len(genome.genes) == 476
    assert genome.scaffolds["NC_000908.2"].circular
    assert {p.pair_id: p.distance for p in adjacent_pairs(genome)} == \
        {k: p.distance for k, p in mg_original[1].items()}
    code, out, err = run_cli(["pairs", embl, "--fasta", MG_FNA])
    assert code == 2 and "--fasta is only used with a GFF3 input" in err
    code, _, err = run_cli(["score", embl, "--annotate", tmp_path / "out.embl"])
    assert code == 2 and "EMBL" in err and "GFF3 or GenBank" in err, err


#: M. genitalium 2,945..20,000 as one Bakta contig: gyrB (MG_003) loses its 5' end, MG_018 its 3' end (cut where
#: pyrodigal cuts them, on whole codons); MG_009 is a pseudogene with /pseudogene, MG_011 one marked /pseudo only.
BAKTA_CONTIG = (2944, 20_000)
BAKTA_CUT = {"MG_003": (2947, 4797, "(5' truncated)"), "MG_018": (19252, 19998, "(3' truncated)")}


def bakta_contig_features():
    """(locus_tag, start, end, strand, qualifiers) of the Bakta contig's CDS, as Bakta marks them."""
    offset, last = BAKTA_CONTIG
    for cols in mg_lines():
        tag = dict(kv.split("=", 1) for kv in cols[8].split(";"))["locus_tag"]
        start, end = int(cols[3]), int(cols[4])
        if cols[2] != "CDS" or (tag not in BAKTA_CUT and not offset < start <= end <= last):
            continue
        start, end = BAKTA_CUT.get(tag, (start, end))[:2]
        qualifiers = {"pseudo": "True", "note": BAKTA_CUT[tag][2]} if tag in BAKTA_CUT else {}
        qualifiers.update({"MG_009": {"pseudogene": "unitary"}, "MG_011": {"pseudo": "True"}}.get(tag, {}))
        yield tag, start - offset, end - offset, 1 if cols[6] == "+" else -1, qualifiers


def write_bakta(tmp_path, form: str, translated: dict[str, str] | None = None):
    """The contig as Bakta writes it: GFF3 (``pseudo=True`` and nothing else on a truncated CDS) or GenBank
    (``/pseudo``, a < or > location, a note and ``translated[tag]`` as its /translation)."""
    features = list(bakta_contig_features())
    cut = [tag for tag, *_, qualifiers in features if "note" in qualifiers]
    return write_bakta_contig(tmp_path / "bakta", form, mg_sequence()[BAKTA_CONTIG[0] : BAKTA_CONTIG[1]], features,
                              {tag: "5'" if tag == "MG_003" else "3'" for tag in cut},
                              {tag: translated[tag] for tag in cut} if translated else {})


def write_bakta_contig(stem, form: str, sequence: str, features, cut: dict[str, str], proteins: dict[str, str]):
    """``features`` (tag, start, end, strand, qualifiers) on contig_1 written as Bakta writes them: GFF3 rows in
    start order without the note, then ##FASTA; or GenBank with each ``cut`` tag's cut end (5' or 3') as a < or >
    location and ``proteins[tag]`` as its /translation (Bakta gives a truncated CDS its protein, NCBI none)."""
    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqFeature import AfterPosition, BeforePosition, FeatureLocation, SeqFeature
    from Bio.SeqRecord import SeqRecord

    if form == "gff3":
        rows = [f"contig_1\tPyrodigal\tCDS\t{start}\t{end}\t.\t{'+-'[strand < 0]}\t0\tID={tag};locus_tag={tag}"
                + "".join(f";{k}={v}" for k, v in qualifiers.items() if k != "note")
                for tag, start, end, strand, qualifiers in sorted(features, key=lambda f: f[1])]
        path = stem.with_suffix(".gff3")
        path.write_text(f"##gff-version 3\n##sequence-region contig_1 1 {len(sequence)}\n" + "\n".join(rows)
                        + f"\n##FASTA\n>contig_1\n{sequence}\n")
        return path
    record = SeqRecord(Seq(sequence), id="contig_1", annotations={"molecule_type": "DNA"})
    for tag, start, end, strand, qualifiers in features:
        begin, stop = start - 1, end
        if cut.get(tag) == "5'":
            begin = BeforePosition(begin)
        elif cut.get(tag) == "3'":
            stop = AfterPosition(stop)
        values = {k: [None if k == "pseudo" else v] for k, v in qualifiers.items()}
        if tag in proteins:
            values["translation"] = [proteins[tag]]
        record.features.append(SeqFeature(FeatureLocation(begin, stop, strand=strand), type="CDS",
                                          qualifiers={"locus_tag": [tag], **values}))
    path = stem.with_suffix(".gbff")
    SeqIO.write(record, path, "genbank")
    return path


@pytest.mark.parametrize("form", ["gff3", "genbank"])
def test_bakta_truncated_cds_at_contig_edges_are_genes(form, tmp_path, mg_original):
    """Bakta marks a CDS cut by its contig's end pseudo (GFF3 ``pseudo=True``, GenBank/EMBL ``/pseudo`` with a < or >
    location), a real pseudogene ``pseudogene=``: gyrB (5' cut) and MG_018 (3' cut) are partial genes with NCBI's
    protein fragments, paired with their neighbours (was: both dropped as pseudogenes, gyrB|gyrA lost); MG_009
    (/pseudogene), MG_011 (pseudo, away from the edges) and, in GenBank, an edge CDS without a protein stay out."""
    reference = {g.id: g.protein for g in mg_original[0].genes}
    fragments = {"MG_003": reference["MG_003"][34:], "MG_018": reference["MG_018"][:249]}
    path = write_bakta(tmp_path, form, fragments)
    genes = {g.id: g for g in read_genome(path, options=GenomeOptions(genetic_code=4)).genes}
    assert genes["MG_003"].partial and genes["MG_003"].protein == reference["MG_003"][34:]
    assert genes["MG_018"].partial and genes["MG_018"].protein == reference["MG_018"][:249]
    assert "MG_009" not in genes and "MG_011" not in genes and len(genes) == 12
    assert not any(g.partial for g in genes.values() if g.id not in BAKTA_CUT)
    pairs = {p.pair_id: p.distance for p in adjacent_pairs(read_genome(path, options=GenomeOptions(genetic_code=4)))}
    assert pairs["MG_003|MG_004"] == 14 and pairs["MG_015|MG_018"] == mg_original[1]["MG_015|MG_018"].distance == 9
    if form == "genbank":  # /pseudo at the edge without a protein: NCBI's "too short partial abutting assembly gap"
        (tmp_path / "ncbi").mkdir()
        assert len(read_genome(write_bakta(tmp_path / "ncbi", form)).genes) == 10


def mg_with_row(tmp_path, edit) -> object:
    """M. genitalium's GFF3 with gyrB's CDS row (MG_003, 2845..4797 +) followed by ``edit`` of itself."""
    rows = ["\t".join(c) for c in mg_lines()]
    at = next(i for i, row in enumerate(rows) if "\tCDS\t" in row and "locus_tag=MG_003;" in row)
    rows.insert(at + 1, edit(rows[at]))
    gff = tmp_path / "mg_edited.gff"
    gff.write_text("##gff-version 3\n" + "\n".join(rows) + "\n")
    return gff


def test_repeated_cds_row_is_read_once(tmp_path, mg_original):
    """gyrB's CDS row twice (as concatenated or merged GFF3 files give it): one gene with NCBI's protein and a
    warning (was: the two rows read as two parts of one CDS, a 1,301-residue 'protein', gyrB twice over)."""
    code, _, err = run_cli(["pairs", mg_with_row(tmp_path, lambda row: row), "--fasta", MG_FNA, "--proteins",
                            tmp_path / "p.faa", "-o", tmp_path / "p.tsv"])
    assert code == 0 and "warning: " in err and "1 CDS row repeats a row of its CDS" in err, err
    genome = read_genome(mg_with_row(tmp_path, lambda row: row), MG_FNA)
    assert gene_models(genome) == gene_models(read_genome(MG_GFF, MG_FNA))


@pytest.mark.parametrize("edit, message", [
    (lambda row: row.replace("\t2845\t", "\t3001\t"), "parts 2845..4797 and 3001..4797 overlap by 1797 bp"),
    (lambda row: row.replace("\t+\t", "\t-\t"), "is on both strands"),
    # serS's row (MG_005, 7294..8547 +) under gyrB's CDS ID: a protein accession as ID, shared by two genes
    (lambda row: row.replace("\t2845\t4797\t", "\t7294\t8547\t").replace("Parent=gene-MG_003;locus_tag=MG_003",
                                                                      "Parent=gene-MG_005;locus_tag=MG_005"),
     "CDS ID 'cds-AAC71219.1' is used under two parents \\(gene-MG_003 and gene-MG_005\\)"),
])
def test_cds_parts_that_cannot_be_one_cds_are_refused(edit, message, tmp_path):
    """Two rows of one CDS ID overlapping by more than a frameshift's 1-3 bases, on opposite strands, or under two
    genes (Parents), are no parts of one CDS (was: joined into one, read across both; under two genes, MG_003
    read as one gene over 2845..8547, gyrA between, its protein gyrB's and serS's, exit 0)."""
    with pytest.raises(DataError, match=message):
        read_genome(mg_with_row(tmp_path, edit), MG_FNA)


@pytest.mark.parametrize("mrna_rows", ["first", "last"])
def test_one_cds_of_two_transcripts_in_coordinate_order_is_one_gene(mrna_rows, tmp_path, ecoli_genome):
    """E. coli prfB (ribosomal slippage: 3,036,208..3,036,282 and 3,035,184..3,036,206, minus strand) as one CDS ID
    of two mRNAs of its gene, a row per mRNA, sorted by start (at a tie, tx2's row or tx1's first): one gene, NCBI's protein
    (was: refused, 'used under two parents (tx2 and tx1)'); the mRNA rows may follow the CDS rows."""
    offset = 3_030_000

    def row(kind, start, end, attributes):
        return f"c1\tx\t{kind}\t{start - offset}\t{end - offset}\t.\t-\t{'0' if kind == 'CDS' else '.'}\t{attributes}"

    mrnas = [row("mRNA", 3035184, 3036282, f"ID={tx};Parent=gene-b2891") for tx in ("tx1", "tx2")]
    cds = [row("CDS", start, end, f"ID=cds-prfB;Parent={tx};locus_tag=b2891")  # ties in no order of tx
           for start, end, tx in ((3035184, 3036206, "tx2"), (3035184, 3036206, "tx1"), (3036208, 3036282, "tx1"),
                                  (3036208, 3036282, "tx2"))]
    rows = [row("gene", 3035184, 3036282, "ID=gene-b2891;locus_tag=b2891")]
    rows += mrnas + cds if mrna_rows == "first" else cds + mrnas
    path = tmp_path / "prfb.gff"
    path.write_text("##gff-version 3\n" + "\n".join(rows) + f"\n##FASTA\n>c1\n{ecoli_piece(offset + 1, offset + 10_000)}\n")
    gene, = read_genome(path).genes
    prfb = next(g for g in ecoli_genome.genes if g.id == "b2891")
    assert (gene.id, gene.start + offset, gene.end + offset, gene.protein) == ("b2891", prfb.start, prfb.end,
                                                                               prfb.protein)
    assert len(gene.protein) == 365


def test_prodigal_gff_without_sequence_takes_lengths_from_its_sequence_data_lines(tmp_path):
    """Prodigal's GFF3 gives each sequence's length on its `# Sequence Data: ...;seqlen=79939;...` line; read without
    the FASTA, the contig is that long, so the pair closing it under --circular is measured as with the FASTA
    (was: the contig ended at its last CDS, 79,242, and the closing spacer read 0 instead of 697)."""
    from conftest import pyrodigal_data

    text = pyrodigal_data("SRR492066.meta.gff").read_text()
    gff = tmp_path / "prodigal.gff"
    gff.write_text("".join(line for line in text.splitlines(keepends=True) if "\tCDS\t79328\t" not in line))
    options = GenomeOptions(circular=True)
    bare, full = read_genome(gff, options=options), read_genome(gff, pyrodigal_data("SRR492066.fna.gz"), options)
    assert [s.length for s in bare.scaffolds.values()] == [s.length for s in full.scaffolds.values()] == [79939]
    closing = [{p.pair_id: p.distance for p in adjacent_pairs(g)}["NODE_23_length_79939_cov_26.984653_69|"
                                                                   "NODE_23_length_79939_cov_26.984653_1"]
               for g in (bare, full)]
    assert closing == [697, 697]


#: A scaffold gap of 100 N over M. genitalium 7,500..7,599, inside MG_005 (7,294..8,547 +): Bakta (pyrodigal, N runs
#: masked) calls its two pieces as CDS cut at the gap, on whole codons of its frame, and marks each pseudo.
GAP = (7500, 7599)
GAP_PIECES = {"MG_005_1": (7294, 7497, "(3' truncated)"), "MG_005_2": (7600, 8547, "(5' truncated)")}


def write_bakta_gap(tmp_path, form: str, reference: dict[str, str]):
    """The Bakta contig (``BAKTA_CONTIG``) with that gap, MG_005 as its two cut pieces, in ``form``."""
    offset = BAKTA_CONTIG[0]
    sequence = mg_sequence()
    sequence = (sequence[:GAP[0] - 1] + "N" * (GAP[1] - GAP[0] + 1) + sequence[GAP[1]:])[offset:BAKTA_CONTIG[1]]
    features = [f for f in bakta_contig_features() if f[0] not in BAKTA_CUT and f[0] != "MG_005"]
    pieces = {"MG_005_1": reference["MG_005"][:68], "MG_005_2": reference["MG_005"][102:]}
    features += [(tag, start - offset, end - offset, 1, {"pseudo": "True", "note": note})
                 for tag, (start, end, note) in GAP_PIECES.items()]
    return write_bakta_contig(tmp_path / "gap", form, sequence, features, {"MG_005_1": "3'", "MG_005_2": "5'"}, pieces)


@pytest.mark.parametrize("form", ["gff3", "genbank"])
def test_bakta_cds_cut_at_an_assembly_gap_are_partial_genes(form, tmp_path, mg_original):
    """Bakta marks a CDS cut by a run of N inside a scaffold as it marks one cut by the contig's end (pyrodigal
    masks N runs: GFF3 ``pseudo=True``, GenBank ``/pseudo`` with < or > and its protein): MG_005's two pieces on
    either side of a 100-N gap are partial genes with NCBI's protein pieces, MG_004 pairs with the first at the
    genome's spacer, the second with MG_006, and the gap pairs neither (was: both dropped as pseudogenes, MG_004
    and MG_006 left without their neighbour)."""
    reference = {g.id: g.protein for g in mg_original[0].genes}
    genome = read_genome(write_bakta_gap(tmp_path, form, reference), options=GenomeOptions(genetic_code=4))
    genes = {g.id: g for g in genome.genes}
    assert genes["MG_005_1"].partial and genes["MG_005_1"].protein == reference["MG_005"][:68]
    assert genes["MG_005_2"].partial and genes["MG_005_2"].protein == reference["MG_005"][102:]
    assert "MG_009" not in genes and "MG_011" not in genes
    pairs = {p.pair_id: p.distance for p in adjacent_pairs(genome)}
    assert pairs["MG_004|MG_005_1"] == mg_original[1]["MG_004|MG_005"].distance == -29
    assert pairs["MG_005_2|MG_006"] == mg_original[1]["MG_005|MG_006"].distance == 3
    assert "MG_005_1|MG_005_2" not in pairs


@pytest.mark.parametrize("twin", ["AS_012", "ZZ_012"])
def test_gene_with_an_antisense_twin_keeps_its_neighbours_whatever_the_ids(twin, tmp_path, mg_original):
    """A CDS with the coordinates of MG_012 (13,569..14,432 -) on the + strand: MG_011 pairs with MG_012, its own
    strand's, the twin with MG_012, MG_013 with MG_012, and every other pair is M. genitalium's, whichever of the
    two sorts first by id (was: the twin named AS_012 took MG_011|MG_012's place, an operon pair lost)."""
    rows = ["\t".join(c) for c in mg_lines()]
    rows.append(f"NC_000908.2\tx\tCDS\t13569\t14432\t.\t+\t0\tID=cds-{twin};locus_tag={twin};transl_table=4")
    gff = tmp_path / "twin.gff"
    gff.write_text("##gff-version 3\n" + "\n".join(rows) + "\n")
    genome = read_genome(gff, MG_FNA, GenomeOptions(circular=True))
    pairs = {p.pair_id.replace(twin, "twin"): (p.distance, p.same_strand) for p in adjacent_pairs(genome)}
    expected = {k: (p.distance, p.same_strand) for k, p in mg_original[1].items()}
    assert pairs == {**expected, "MG_012|twin": (-864, False)}
    assert pairs["MG_011|MG_012"] == (4, True) and pairs["MG_012|MG_013"] == (-38, True)


def mg_contig_genbank(tmp_path, mg_original, without_translation: str = ""):
    """M. genitalium as NCBI's default GenBank view of a large record gives it: the features with their
    /translation, a CONTIG line instead of the ORIGIN sequence; ``without_translation``: a CDS left without one."""
    import re

    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqFeature import FeatureLocation, SeqFeature
    from Bio.SeqRecord import SeqRecord

    record = SeqRecord(Seq(mg_sequence()), id="NC_000908.2", annotations={"molecule_type": "DNA"})
    for gene in mg_original[0].genes:
        qualifiers = {"locus_tag": [gene.id], "transl_table": ["4"]}
        if gene.id != without_translation:
            qualifiers["translation"] = [gene.protein]
        record.features.append(SeqFeature(FeatureLocation(gene.start - 1, min(gene.end, MG_LENGTH), gene.strand),
                                          type="CDS", qualifiers=qualifiers))
    path = tmp_path / "contig.gbk"
    SeqIO.write(record, path, "genbank")
    text = re.sub(r"ORIGIN\n.*?//", f"CONTIG      join(U39679.1:1..{MG_LENGTH})\n//", path.read_text(), flags=re.S)
    path.write_text(text)
    return path


def test_genbank_with_a_contig_line_gives_ncbi_proteins_and_says_what_lacks(tmp_path, mg_original):
    """A GenBank record with a CONTIG line and no sequence (NCBI's default view of a large record): its genes have
    the /translation proteins, which `pairs --proteins` writes (was: refused, 'pass --fasta', an option a GenBank
    input refuses); with a CDS without /translation, the error says the record lacks its sequence. Its LOCUS line
    states the length and topology, which the table says (it said neither: `score` of it had the record as long as
    its genes reach)."""
    from Bio import SeqIO

    path = mg_contig_genbank(tmp_path, mg_original)
    code, _, err = run_cli(["pairs", path, "--proteins", tmp_path / "p.faa", "-o", tmp_path / "p.tsv"])
    assert code == 0, err
    assert [line for line in (tmp_path / "p.tsv").read_text().splitlines() if line.startswith("#scaffold")] == [
        f"#scaffold_length length={MG_LENGTH} topology=linear id=NC_000908.2"]
    written = {r.id: str(r.seq) for r in SeqIO.parse(tmp_path / "p.faa", "fasta")}
    assert written == {g.id: g.protein for g in mg_original[0].genes} and len(written) == 476
    lacking = mg_contig_genbank(tmp_path, mg_original, without_translation="MG_003")
    code, _, err = run_cli(["pairs", lacking, "--proteins", tmp_path / "q.faa", "-o", tmp_path / "q.tsv"])
    assert code == 1 and "gene MG_003 no protein" in err and "GenBank or EMBL record with a CONTIG line" in err, err


#: NCBI's WGS master record of a draft assembly (as efetch gives it): the project's metadata and the accession range
#: of its contigs, no sequence and no CDS.
WGS_MASTER = """\
LOCUS       JAAXYZ000000000            0 rc    DNA     linear   BCT 15-APR-2020
DEFINITION  Mycoplasma genitalium strain X, whole genome shotgun sequencing project.
ACCESSION   JAAXYZ000000000
VERSION     JAAXYZ000000000.1
DBLINK      BioProject: PRJNA000000
            BioSample: SAMN00000000
KEYWORDS    WGS.
SOURCE      Mycoplasma genitalium
  ORGANISM  Mycoplasma genitalium
            Bacteria; Mycoplasmatota; Mollicutes; Mycoplasmataceae; Mycoplasma.
FEATURES             Location/Qualifiers
     source          1..580076
                     /organism="Mycoplasma genitalium"
                     /mol_type="genomic DNA"
WGS         JAAXYZ010000001-JAAXYZ010000045
//
"""


def test_wgs_master_record_is_refused_naming_its_contigs(tmp_path):
    """A WGS master record (what `efetch -id <assembly accession>` gives for a draft genome) has neither sequence
    nor genes: the error says what it is and which records hold the genes (was: only 'no protein-coding (CDS)
    features found', for a file that looks like a GenBank genome)."""
    path = tmp_path / "master.gbk"
    path.write_text(WGS_MASTER)
    code, _, err = run_cli(["pairs", path, "-o", tmp_path / "p.tsv"])
    assert code == 1 and err.count("\n") == 1 and "no protein-coding (CDS) features" in err, err
    assert "JAAXYZ000000000.1 is a WGS master record" in err and "JAAXYZ010000001-JAAXYZ010000045" in err, err
    assert not (tmp_path / "p.tsv").exists()


def test_embl_line_biopython_cannot_read_is_named_in_the_error(tmp_path):
    """An EMBL record whose ID line Biopython's parser rejects with a bare assertion (here one ending in 'SQ.',
    the count of a set's sequences, not 'BP.') is refused naming the line and its number (was: 'malformed EMBL file
    (AssertionError)', which tells no one where to look)."""
    path = tmp_path / "set.embl"
    path.write_text("\nID   CABHFN010000000; SV 1; linear; genomic DNA; SET; PRO; 186 SQ.\nXX\nAC   CABHFN000000000;\n"
                    "XX\nFH   Key             Location/Qualifiers\nFT   source          1..580076\nXX\n//\n")
    code, _, err = run_cli(["pairs", path, "-o", tmp_path / "p.tsv"])
    assert code == 1 and err.count("\n") == 1 and "malformed EMBL file" in err, err
    assert "line 2" in err and "186 SQ." in err and "AssertionError" not in err, err


def test_embl_for_submission_names_its_sequences_by_their_entry_names(tmp_path, mg_original):
    """An EMBL file made for an ENA submission (EMBLmyGFF3, genometools' gff3_to_embl) has the placeholder XXX for
    every accession and names each sequence on an 'AC * _name' line: M. genitalium cut at base 300,810 (between two
    CDS) as two such records gives the genes and proteins of the genome, on contig_1 and contig_2 (was: refused,
    'duplicate sequence id 'XXX'')."""
    import re

    from Bio import SeqIO
    from Bio.SeqFeature import SimpleLocation

    record = SeqIO.read(write_rotated(tmp_path, "genbank", shift=0), "genbank")
    halves = [record[:300_810], record[300_810:]]  # between MG_2xx CDS: none crosses it
    assert sum(len(h.features) for h in halves) == 476
    for number, half in enumerate(halves, 1):
        half.id = half.name = f"contig_{number}"
        half.annotations = {"molecule_type": "DNA", "topology": "linear"}
        for feature in half.features:
            feature.location = SimpleLocation(feature.location.start, feature.location.end, feature.location.strand)
    path = tmp_path / "submission.embl"
    SeqIO.write(halves, path, "embl")
    text = re.sub(r"^ID   (contig_\d);.*; (\d+) BP\.$", r"ID   XXX; XXX; linear; genomic DNA; XXX; XXX; \2 BP.",
                  path.read_text(), flags=re.M)
    path.write_text(re.sub(r"^AC   (contig_\d);$", r"AC   XXX;\nXX\nAC * _\1;", text, flags=re.M))
    genome = read_genome(path)
    assert list(genome.scaffolds) == ["contig_1", "contig_2"] and len(genome.genes) == 476
    expected = {g.id: (g.start - (300_810 if g.start > 300_810 else 0), g.protein) for g in mg_original[0].genes}
    assert {g.id: (g.start, g.protein) for g in genome.genes} == expected
    assert {g.scaffold for g in genome.genes if g.id in ("MG_001", "MG_470")} == {"contig_1", "contig_2"}


def test_genbank_line_biopython_cannot_read_is_named_in_the_error(tmp_path):
    """GenBank keeps the line numbers EMBL has (its reader skips only EMBL's entry names): a CDS whose second line
    is neither a qualifier nor a continuation stops Biopython's parser on a bare assertion, and the error names
    the line it stopped at (it reads a feature's lines, up to the next section's, before parsing them)."""
    path = tmp_path / "bad.gbk"
    path.write_text("LOCUS       AB000001                   4 bp    DNA     linear   BCT 01-JAN-2000\n"
                    "FEATURES             Location/Qualifiers\n     CDS             1..4\n                     foo\n"
                    "ORIGIN\n        1 acgt\n//\n")
    code, _, err = run_cli(["pairs", path, "-o", tmp_path / "p.tsv"])
    assert code == 1 and err.count("\n") == 1, err
    assert "malformed GenBank file (line 5 unreadable: 'ORIGIN')" in err and "AssertionError" not in err, err
    assert not (tmp_path / "p.tsv").exists()


def ecoli_head_gff(tmp_path, edit=lambda cols: cols, end: int = 600_000):
    """E. coli's RefSeq GFF3 rows within its first ``end`` bases (``edit`` applied to each row's columns), with
    that sequence as ##FASTA."""
    with gzip.open(ECOLI_GFF, "rt") as handle:
        rows = [edit(line.rstrip("\n").split("\t")) for line in handle if not line.startswith("#")]
    kept = ["\t".join(c) for c in rows if len(c) == 9 and c[2] != "region" and int(c[4]) <= end]
    path = tmp_path / f"ecoli_head_{len(list(tmp_path.iterdir()))}.gff"
    path.write_text("##gff-version 3\n" + "\n".join(kept) + f"\n##FASTA\n>NC_000913.3\n{ecoli_piece(1, end)}\n")
    return path


def test_pseudogene_cds_parts_are_never_checked_as_parts(tmp_path):
    """yaiT (b4580) is a pseudogene of two fragments, CDS rows under a pseudogene row: with its second fragment's
    row moved to overlap the first by 9 bp (a frameshift by deletion), E. coli still reads, with the same genes
    (was: refused as 'parts ... overlap by 9 bp', for a CDS the pseudogene leaves out anyway)."""
    def overlapped(cols):
        if cols[2:5] == ["CDS", "392970", "394418"] and "locus_tag=b4580" in cols[8]:
            cols[3] = "391700"
        return cols

    plain, edited = read_genome(ecoli_head_gff(tmp_path)), read_genome(ecoli_head_gff(tmp_path, overlapped))
    assert "b4580" not in {g.id for g in plain.genes} and len(plain.genes) == 555
    assert gene_models(edited) == gene_models(plain)


def test_genbank_cds_under_a_pseudo_gene_feature_is_no_gene():
    """L. pneumophila's GenBank with /pseudo left on its 55 pseudogenes' gene features only (INSDC: /pseudo on a
    gene covers the features of that gene; older EMBL-derived records mark the gene alone): the same 3,027 genes
    and proteins (was: 55 more, pseudogene fragments translated with their internal stops), as a GFF3's CDS under
    a pseudo=true gene row."""
    gbk = SHARED / "lpneumophila_paris" / "CR628336.1.gbk.gz"
    with gzip.open(gbk, "rt") as handle:
        lines = handle.read().splitlines(keepends=True)
    kept, feature = [], ""
    for line in lines:
        if line.startswith("     ") and line[5] != " ":
            feature = line[5:21].strip()
        if not (feature == "CDS" and line.strip() == "/pseudo"):
            kept.append(line)
    assert len(lines) - len(kept) == 55
    ncbi = {g.id: (g.start, g.end, g.protein) for g in read_genome(gbk).genes}
    ours = {g.id: (g.start, g.end, g.protein) for g in read_genome("gene_pseudo.gbk", text="".join(kept)).genes}
    assert len(ours) == 3027 and ours == ncbi


def turned(position: int, shift: int) -> int:
    """Where base ``position`` of M. genitalium lies once the chromosome begins at base ``shift`` + 1."""
    return position - shift if position > shift else position - shift + MG_LENGTH


def rast_rotated(tmp_path, shift: int):
    """M. genitalium turned to begin at base ``shift`` + 1, as RAST writes it (``rast_gff``: phase 1 on every CDS,
    the product as Name), with its sequence as ##FASTA; a gene across the new origin is left out."""
    sequence = mg_sequence()
    rows = [f"##gff-version 3\n##sequence-region\taccn|NC_000908.2\t1\t{MG_LENGTH}"]
    for n, cols in enumerate((c for c in mg_lines() if c[2] == "CDS"), start=1):
        start, end = turned(int(cols[3]), shift), turned(int(cols[4]), shift)
        if start <= end:
            product = dict(kv.split("=", 1) for kv in cols[8].split(";")).get("product", "hypothetical protein")
            rows.append("\t".join([cols[0], "FIG", "CDS", str(start), str(end), ".", cols[6], "1",
                                   f"ID=fig|243273.25.peg.{n};Name={product}"]))
    gff = tmp_path / f"rast_{shift}.gff"
    gff.write_text("\n".join(rows) + f"\n##FASTA\n>NC_000908.2\n{sequence[shift:] + sequence[:shift]}\n")
    return gff


@pytest.mark.parametrize("shift, edge", [(685, (1, 1143)), (580_033, (MG_LENGTH - 809, MG_LENGTH))])
@pytest.mark.parametrize("circular", [None, True])
def test_rast_cds_at_the_sequence_edge_is_read_in_the_frame_its_stop_fixes(shift, edge, circular, tmp_path,
                                                                         mg_original):
    """M. genitalium turned to begin with dnaN (MG_001, + strand, now 1..1143), as complete genomes begin with
    dnaA, or to end with MG_470 (- strand, its 5' end now the last base), written as RAST writes it (phase 1 on
    every CDS, no partial flag): that gene is whole, NCBI's protein, not partial (was: read from its second base
    as if cut there, a garbage protein flagged partial, with or without --circular)."""
    genome = read_genome(rast_rotated(tmp_path, shift), options=GenomeOptions(genetic_code=4, circular=circular))
    expected = {(turned(g.start, shift), turned(g.end, shift)): g.protein for g in mg_original[0].genes}
    proteins = {(g.start, g.end): g.protein for g in genome.genes}
    assert proteins == {k: expected[k] for k in proteins} and len(proteins) == 476
    edge_gene = next(g for g in genome.genes if (g.start, g.end) == edge)
    assert not any(g.partial for g in genome.genes) and edge_gene.protein.startswith("M")


@pytest.mark.parametrize("pragma, region_row", [(True, False), (True, True), (False, True)],
                         ids=["pragma", "pragma and region row", "region row"])
def test_sequence_of_another_length_than_its_sequence_region_is_refused(pragma, region_row, tmp_path, mg_original):
    """M. genitalium's GFF3 stating its length in ``##sequence-region NC_000908.2 1 580076``, in NCBI's region row
    1..580076, or both, given a FASTA of NC_000908.2 with 200 bp more near its start (another assembly under the
    same name): refused in one line naming both lengths (was: read, 470 of 476 proteins out of frame, and a warning
    to give -g 4, which the annotation's transl_table=4 gave; with the region row alone, its pragma dropped, it
    still was). GenomeTools' made-up pragma (the features' extent, here from base 1) is no length: it still
    reads."""
    sequence = mg_sequence()
    fna = tmp_path / "other.fna"
    fna.write_text(f">NC_000908.2\n{sequence[:100]}{'ACGT' * 50}{sequence[100:]}\n")
    gff = tmp_path / "mg.gff"
    region = (f"NC_000908.2\tRefSeq\tregion\t1\t{MG_LENGTH}\t.\t+\t.\tID=NC_000908.2:1..{MG_LENGTH};"
              "Dbxref=taxon:243273;Is_circular=true;gbkey=Src;mol_type=genomic DNA\n")
    version, sequence_region, rows = gzip.decompress(MG_GFF.read_bytes()).decode().split("\n", 2)
    stating = (f"{sequence_region}\n" if pragma else "") + (region if region_row else "")
    gff.write_text(f"{version}\n{stating}{rows}")
    out = tmp_path / "pairs.tsv"
    code, _, err = run_cli(["pairs", gff, "--fasta", fna, "-o", out])
    assert code == 1 and not out.exists() and err.count("\n") == 1
    stated = "##sequence-region" if pragma else "the region row (line 2)"
    assert err.startswith(f"error: {gff}: {stated} gives NC_000908.2 580076 bp, its sequence in {fna} "
                          "has 580276 bp: the annotation is of another sequence"), err
    assert len(read_genome(gff, MG_FNA).genes) == 476
    rows = [c[:3] + [str(int(c[3]) - 685), str(int(c[4]) - 685)] + c[5:] for c in mg_lines() if 686 <= int(c[3])
            and int(c[4]) <= 20_000]
    gff = tmp_path / "piece.gff3"
    gff.write_text("##gff-version 3\n" + "\n".join("\t".join(c) for c in rows) + "\n")
    tidy = subprocess.run(["gt", "gff3", "-sort", str(gff)], capture_output=True, text=True, check=True).stdout
    assert f"##sequence-region   NC_000908.2 1 {max(int(c[4]) for c in rows)}\n" in tidy
    gff.write_text(tidy)
    (tmp_path / "piece.fna").write_text(f">NC_000908.2\n{sequence[685:30_000]}\n")
    genes = read_genome(gff, tmp_path / "piece.fna").genes
    expected = {g.id: g.protein for g in mg_original[0].genes}
    assert len(genes) > 10 and all(g.protein == expected[g.id] for g in genes)


@pytest.mark.parametrize("form", ["gff3", "genbank"])
def test_genetic_code_option_the_annotation_overrides_is_warned(form, tmp_path):
    """-g applies to CDS without a transl_table (as --help says): given -g 11, M. genitalium's CDS keep their
    transl_table=4 and one warning says so (was: silent); -g 4, the annotation's own, says nothing. With the
    annotation saying transl_table=11 (a Mycoplasma annotated with code 11) and -g 4, the internal-stop warning no
    longer advises the -g just given."""
    path, extra = (MG_GFF, ["--fasta", MG_FNA]) if form == "gff3" else (write_rotated(tmp_path, "genbank"), [])
    out = tmp_path / "pairs.tsv"
    code, _, err = run_cli(["pairs", path, *extra, "-g", "11", "-o", out])
    assert code == 0 and err.count("warning: ") == 1, err
    assert (f"warning: {path}: -g 11 applies to CDS without a transl_table; 476 of 476 CDS carry their own "
            "(transl_table=4) and are read with it") in err
    code, _, err = run_cli(["pairs", path, *extra, "-g", "4", "-o", out])
    assert code == 0 and "warning" not in err, err
    coded11 = tmp_path / f"code11{path.suffixes[0]}"
    text = gzip.decompress(path.read_bytes()).decode() if form == "gff3" else path.read_text()
    coded11.write_text(text.replace("transl_table=4", "transl_table=11"))
    code, _, err = run_cli(["pairs", coded11, *extra, "-g", "4", "-o", out])
    assert code == 0 and "-g 4 applies to CDS without a transl_table; 476 of 476 CDS carry their own " \
                         "(transl_table=11)" in err, err
    assert "340 of 476 CDS have internal stop codons with genetic code 11 (read as X); their transl_table says " \
           "so, which -g 4 does not change" in err and "Mycoplasma: -g 4" not in err, err


def test_library_warnings_name_the_python_argument_and_the_cli_the_option(tmp_path, caplog):
    """Library warnings told a notebook to 'give -g 11' or '--mode' (options it has no way to pass), as errors did
    before MicrofuseError.naming. A Python caller's log record now names the argument (genetic_code=11,
    mode=...); the CLI's stderr, from the same record, the option (-g 11, --mode): M. genitalium's GFF3 read with
    code 11, and its bare FASTA called (code 4 detected)."""
    with caplog.at_level("DEBUG", logger="microfuse"):
        read_genome(MG_GFF, MG_FNA, GenomeOptions(genetic_code=11))
        read_genome(MG_FNA)
    python = [r.getMessage() for r in caplog.records]
    assert any(f"{MG_GFF}: genetic_code=11 applies to CDS without a transl_table; 476 of 476 CDS" in m for m in python)
    assert any("give mode='single' or 'meta' to override" in m for m in python), python
    assert any("as in Mycoplasma); give genetic_code=11 to call with code 11" in m for m in python), python
    assert not [m for m in python if "-g " in m or "--mode" in m], python
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-g", "11", "-o", tmp_path / "annotated.tsv"])
    assert code == 0 and f"warning: {MG_GFF}: -g 11 applies to CDS without a transl_table" in err, err
    code, _, err = run_cli(["pairs", MG_FNA, "-o", tmp_path / "called.tsv"])
    assert code == 0 and "give --mode to override" in err and "as in Mycoplasma); give -g 11 to call" in err, err
    assert "genetic_code=" not in err and "mode='" not in err, err


def test_seqid_in_ncbi_gi_form_on_one_side_only_is_named(tmp_path):
    """NCBI's old FASTA names a sequence `gi|12045107|ref|NC_000908.2|`, its GFF3 `NC_000908.2` (or the other way
    round): refused, never matched silently, and the error names the FASTA's id as that name's other form (was:
    'not found in the FASTA sequences' alone). The gi form on both sides reads, tables and operon GFF3 included."""
    gi = "gi|12045107|ref|NC_000908.2|"
    sequence = mg_sequence()
    old_fasta = tmp_path / "gi.fna"
    old_fasta.write_text(f">{gi} Mycoplasma genitalium G37, complete genome\n{sequence}\n")
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", old_fasta, "-o", tmp_path / "p.tsv"])
    assert code == 1 and err.strip() == (f"error: {MG_GFF}: sequence id(s) NC_000908.2 not found in the FASTA "
                                         f"sequences (the FASTA has {gi}, NCBI's old form of that name; give both "
                                         "files one name)")
    gi_gff = tmp_path / "gi.gff"
    gi_gff.write_text("##gff-version 3\n" + "\n".join("\t".join([gi, *c[1:]]) for c in mg_lines()) + "\n")
    code, _, err = run_cli(["pairs", gi_gff, "--fasta", MG_FNA, "-o", tmp_path / "p.tsv"])
    assert code == 1 and err.strip().endswith(f"(the FASTA has NC_000908.2, the name inside {gi}; give both files "
                                              "one name)"), err
    operons = tmp_path / "operons.gff3"
    code, _, err = run_cli(["score", gi_gff, "--fasta", old_fasta, "-o", tmp_path / "s.tsv", "--operons-gff", operons])
    assert code == 0, err
    assert table_lines((tmp_path / "s.tsv").read_text())[1].split("\t")[:3] == ["MG_001|MG_002", gi, "MG_001"]
    assert f"\n{gi}\tmicrofuse\toperon\t686\t" in operons.read_text()
    result = subprocess.run(["gt", "gff3validator", str(operons)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_fasta_appended_without_its_fasta_line_is_told_so(tmp_path):
    """`cat genome.gff genome.fna > both.gff` (as Roary and Panaroo users are told to join them, short of the
    ##FASTA line GFF3 puts before the sequences): one error naming the header and the missing line (was: 'line
    1004: expected 9 tab-separated GFF3 columns, found 1'); with the line added, M. genitalium reads, and so it does
    with a blank after ##FASTA (was: the line not seen, the same error)."""
    both = tmp_path / "both.gff"
    gff_text = gzip.decompress(MG_GFF.read_bytes()).decode()
    fasta_text = gzip.decompress(MG_FNA.read_bytes()).decode()
    both.write_text(gff_text + fasta_text)
    number = gff_text.count("\n") + 1
    code, _, err = run_cli(["pairs", both, "-o", tmp_path / "p.tsv"])
    assert code == 1 and err.strip() == (f"error: {both}: line {number}: a FASTA header ('>NC_000908.2') after the GFF3 "
                                         "rows without a ##FASTA line before it (GFF3 puts one there; add it, or give "
                                         "the sequences with --fasta)"), err
    for line in ("##FASTA\n", "##FASTA \n"):
        both.write_text(gff_text + line + fasta_text)
        assert len(read_genome(both).genes) == 476


LPN_GBK = SHARED / "lpneumophila_paris" / "CR628336.1.gbk.gz"
#: The header every sequence file of an NCBI GenBank release starts with (ftp.ncbi.nlm.nih.gov/genbank/, gbrel.txt
#: section 3.1): the file's name, the date, the release, the division and its counts, then the first LOCUS line.
RELEASE_HEADER = """\
GBBCT1.SEQ          Genetic Sequence Data Bank
                         October 15 2024

                NCBI-GenBank Flat File Release 263.0

                     Bacterial Sequences (Part 1)

      2 loci,       50000 bases, from        2 reported sequences


"""


def lpn_records(spans) -> list:
    """Pieces of L. pneumophila's GenBank record (its features inside each), one record per span."""
    from Bio import SeqIO

    with gzip.open(LPN_GBK, "rt") as handle:
        whole = SeqIO.read(handle, "genbank")
    records = []
    for number, (start, end) in enumerate(spans):
        piece = whole[start:end]
        piece.id = piece.name = f"CR62833{number}"
        piece.annotations = {key: whole.annotations[key] for key in ("molecule_type", "topology", "data_file_division")}
        records.append(piece)
    return records


def test_genbank_release_file_reads_past_its_header(tmp_path):
    """A file of an NCBI GenBank release (gbbct1.seq.gz: a header of its release, then LOCUS records), from a file
    and from stdin: every record, and each CDS with its /translation, the /pseudo one left out (was: 'not a GFF3,
    GenBank, EMBL or FASTA file (first line: 'GBBCT1.SEQ ...')'); the release notes, a header without records, are
    refused in one line saying what they are."""
    from Bio import SeqIO

    records = lpn_records([(0, 20_000), (100_000, 130_000)])
    SeqIO.write(records, tmp_path / "body.gbk", "genbank")
    release = tmp_path / "gbbct1.seq.gz"
    release.write_bytes(gzip.compress((RELEASE_HEADER + (tmp_path / "body.gbk").read_text()).encode()))
    wanted = {f.qualifiers["locus_tag"][0]: f.qualifiers["translation"][0] for r in records for f in r.features
              if f.type == "CDS" and "pseudo" not in f.qualifiers}
    assert len(wanted) == 36 and "lpp0111" not in wanted
    for args, stdin in (([release], None), (["-"], gzip.decompress(release.read_bytes()))):
        code, _, err = run_cli(["pairs", *args, "--proteins", tmp_path / "p.faa", "-o", tmp_path / "p.tsv"], stdin)
        assert code == 0, err
        assert {r.id: str(r.seq) for r in SeqIO.parse(tmp_path / "p.faa", "fasta")} == wanted
        assert {line.split("\t")[1] for line in table_lines((tmp_path / "p.tsv").read_text())[1:]} == \
            {"CR628330", "CR628331"}
    notes = tmp_path / "gbrel.txt"
    notes.write_text(RELEASE_HEADER.replace("GBBCT1.SEQ", "GBREL.TXT") + " This document describes the format...\n")
    code, _, err = run_cli(["pairs", notes, "-o", tmp_path / "q.tsv"])
    assert code == 1 and err.count("\n") == 1 and "a GenBank release file's header without a LOCUS line" in err, err


@pytest.mark.parametrize("layout", ["genbank", "embl"])
def test_cds_located_in_another_record_is_skipped_never_read_here(layout, tmp_path, caplog):
    """A CDS whose location names another record (INSDC's remote location, join(AB000001.1:1..100,1676..2679)) is
    skipped with a warning naming it, with its /translation or without (was: a gene placed at 1..2679 of this record;
    without /translation an internal error); a part naming this record itself is read as its own."""
    import re

    from Bio import SeqIO

    records = lpn_records([(0, 20_000)])
    SeqIO.write(records, tmp_path / "piece", layout)
    text = (tmp_path / "piece").read_text()
    wanted = {f.qualifiers["locus_tag"][0]: f.qualifiers["translation"][0] for f in records[0].features
              if f.type == "CDS" and "pseudo" not in f.qualifiers}
    assert "   CDS             1576..2679\n" in text and len(wanted) == 14
    bare = re.sub(r'\n(?:FT)? {19,21}/translation="[^"]*"', "", text)
    assert "/translation" in text and "/translation" not in bare
    for body in (text, bare):
        remote = body.replace("CDS             1576..2679\n", "CDS             join(AB000001.1:1..100,1676..2679)\n")
        caplog.clear()
        genome = read_genome(f"remote.{layout}", text=remote)
        assert {g.id: g.protein for g in genome.genes} == {k: v for k, v in wanted.items() if k != "lpp0002"}
        assert "skipped 1 CDS located in another record" in caplog.text and ": lpp0002" in caplog.text
        own = body.replace("CDS             1576..2679\n", "CDS             join(CR628330:1576..2000,2001..2679)\n")
        genome = read_genome(f"own.{layout}", text=own)
        assert {g.id: g.protein for g in genome.genes} == wanted
        assert [(g.start, g.end) for g in genome.genes if g.id == "lpp0002"] == [(1576, 2679)]


def test_cds_naming_its_own_record_stays_when_an_embl_entry_name_renames_the_record(tmp_path, caplog):
    """An EMBL record made for submission names its sequence on an ``AC * _name`` line, which becomes the record's
    id; a CDS located by the record's own accession.version (join(CR628330.1:...)) was then taken for one in another record
    and skipped with a warning (lpp0002 lost, its pairs with it)."""
    from Bio import SeqIO

    records = lpn_records([(0, 20_000)])
    records[0].id = "CR628330.1"  # accession.version: ID line 'CR628330; SV 1'
    SeqIO.write(records, tmp_path / "piece", "embl")
    text = (tmp_path / "piece").read_text()
    wanted = {f.qualifiers["locus_tag"][0]: f.qualifiers["translation"][0] for f in records[0].features
              if f.type == "CDS" and "pseudo" not in f.qualifiers}
    ac = next(line for line in text.splitlines() if line.startswith("AC   "))
    named = text.replace(ac + "\n", ac + "\nXX\nAC * _contig1\n", 1).replace(
        "CDS             1576..2679\n", "CDS             join(CR628330.1:1576..2000,2001..2679)\n")
    caplog.clear()
    genome = read_genome("named.embl", text=named)
    assert list(genome.scaffolds) == ["contig1"]
    assert {g.id: g.protein for g in genome.genes} == wanted
    assert "another record" not in caplog.text


def test_escaped_seqid_is_the_sequence_it_decodes_to(tmp_path, mg_original):
    """A GFF3 seqid escaped as the spec asks (``NC%2F000908.2`` in column 1 and ##sequence-region, for a FASTA
    record ``>NC/000908.2``) names that record: M. genitalium's genes and proteins (was: 'sequence id(s)
    NC%2F000908.2 not found in the FASTA sequences'); a FASTA that writes the escaped form too still meets it, its
    region's Is_circular kept."""
    text = gzip.decompress(MG_GFF.read_bytes()).decode().replace("NC_000908.2", "NC%2F000908.2")
    assert text.count("NC%2F000908.2") > 900 and "##sequence-region NC%2F000908.2 1 580076\n" in text
    text = text.replace("580076\n", "580076\nNC%2F000908.2\tx\tregion\t1\t580076\t.\t+\t.\tID=c;Is_circular=true\n", 1)
    gff = tmp_path / "escaped.gff"
    gff.write_text(text)
    sequence = gzip.decompress(MG_FNA.read_bytes()).decode()
    wanted = [(g.id, g.start, g.end, g.strand, g.protein) for g in mg_original[0].genes]
    for name in ("NC/000908.2", "NC%2F000908.2"):
        fasta = tmp_path / "mg.fna"
        fasta.write_text(sequence.replace(">NC_000908.2", f">{name}"))
        genome = read_genome(gff, fasta)
        assert [(s.id, s.length, s.circular) for s in genome.scaffolds.values()] == [("NC/000908.2", 580076, True)]
        assert [(g.id, g.start, g.end, g.strand, g.protein) for g in genome.genes] == wanted


def windows_mac_and_bgzip(text: str) -> dict[str, bytes]:
    """``text`` as other systems and tools write it: CRLF (Windows), CR (classic Mac), a UTF-8 byte-order mark with
    CRLF (Notepad), and bgzip's blocks (htslib: many gzip members)."""
    import io

    from Bio import bgzf

    handle = io.BytesIO()
    blocks = bgzf.BgzfWriter(fileobj=handle)
    blocks.write(text.encode())
    blocks.flush()
    bgzipped = handle.getvalue()
    return {"crlf": text.replace("\n", "\r\n").encode(), "cr": text.replace("\n", "\r").encode(),
            "bom": b"\xef\xbb\xbf" + text.replace("\n", "\r\n").encode(), "bgzip": bgzipped}


def test_line_ends_byte_order_marks_and_bgzip_give_the_same_genes(tmp_path, mg_original):
    """Guard: GFF3, FASTA and GenBank with Windows or Mac line ends, a byte-order mark, or bgzipped give the genes
    and proteins of the plain files (M. genitalium; L. pneumophila's GenBank, a piece)."""
    from Bio import SeqIO

    SeqIO.write(lpn_records([(0, 20_000)]), tmp_path / "plain.gbk", "genbank")
    gbk_text = (tmp_path / "plain.gbk").read_text()
    gbk_genes = [(g.id, g.start, g.end, g.protein) for g in read_genome(tmp_path / "plain.gbk").genes]
    mg_genes = [(g.id, g.start, g.end, g.protein) for g in mg_original[0].genes]
    gff_forms = windows_mac_and_bgzip(gzip.decompress(MG_GFF.read_bytes()).decode())
    fasta_forms = windows_mac_and_bgzip(gzip.decompress(MG_FNA.read_bytes()).decode())
    for form, gbk in windows_mac_and_bgzip(gbk_text).items():
        (tmp_path / "mg.gff").write_bytes(gff_forms[form])
        (tmp_path / "mg.fna").write_bytes(fasta_forms[form])
        (tmp_path / "piece.gbk").write_bytes(gbk)
        genome = read_genome(tmp_path / "mg.gff", tmp_path / "mg.fna", GenomeOptions(circular=True))
        assert [(g.id, g.start, g.end, g.protein) for g in genome.genes] == mg_genes, form
        assert [(g.id, g.start, g.end, g.protein) for g in read_genome(tmp_path / "piece.gbk").genes] == gbk_genes
    assert len(mg_genes) == 476 and len(gbk_genes) == 14


def test_prodigal_gff_with_an_escaped_seqid_keeps_its_sequence_length(tmp_path):
    """Prodigal's GFF3 without sequence, of a FASTA record named ``mg%2F1``: column 1, read percent-decoded
    (``mg/1``), takes its length from the ``# Sequence Data`` line of that header (was, once column 1 was decoded: the
    length of its last gene's end, the header's name left as written)."""
    import pyrodigal

    sequence = mg_sequence()[:20_000]
    finder = pyrodigal.GeneFinder(meta=True)
    gff = tmp_path / "prodigal.gff"
    with gff.open("w") as handle:
        finder.find_genes(sequence.encode()).write_gff(handle, sequence_id="mg%2F1")
    assert 'seqhdr="mg%2F1"' in gff.read_text() and "\nmg%2F1\t" in gff.read_text()
    genome = read_genome(gff)
    assert {sid: s.length for sid, s in genome.scaffolds.items()} == {"mg/1": 20_000}
    assert max(g.end for g in genome.genes) < 20_000


def write_ensembl_gff(path, sequence: str) -> None:
    """M. genitalium as Ensembl Bacteria writes a GFF3: seqid ``Chromosome``, its landmark a ``chromosome`` row (not
    ``region``) carrying Is_circular=true, gene -> mRNA -> exon + CDS with typed IDs (``gene:``, ``transcript:``,
    ``CDS:``), the locus tag as gene_id, no transl_table, ``###`` after each gene."""
    rows = ["##gff-version 3", f"##sequence-region   Chromosome 1 {MG_LENGTH}", "#!genome-build ENA ASM2732v1",
            f"Chromosome\tena\tchromosome\t1\t{MG_LENGTH}\t.\t.\t.\tID=chromosome:Chromosome;Alias=L43967.2;"
            "Is_circular=true", "###"]
    for cols in mg_lines():
        if cols[2] != "CDS":
            continue
        tag = cols[8].split("locus_tag=")[1].split(";")[0]
        protein = cols[8].split("protein_id=")[1].split(";")[0].split(".")[0]
        where = f"Chromosome\tena\t{{}}\t{cols[3]}\t{cols[4]}\t.\t{cols[6]}\t{{}}\t"
        rows += [where.format("gene", ".") + f"ID=gene:{tag};biotype=protein_coding;gene_id={tag};logic_name=ena",
                 where.format("mRNA", ".") + f"ID=transcript:{protein};Parent=gene:{tag};biotype=protein_coding",
                 where.format("exon", ".") + f"Parent=transcript:{protein};Name={protein}-1;exon_id={protein}-1;rank=1",
                 where.format("CDS", "0") + f"ID=CDS:{protein};Parent=transcript:{protein};protein_id={protein}",
                 "###"]
    path.write_text("\n".join(rows) + f"\n##FASTA\n>Chromosome dna:chromosome chromosome:ASM2732v1\n{sequence}\n")


def test_ensembl_gff3_chromosome_row_says_the_sequence_is_circular(tmp_path, mg_original):
    """Ensembl marks a circular sequence with Is_circular=true on its ``chromosome`` landmark row (GFF3 puts the
    attribute on the landmark, whatever its type): read circular, so the last and first genes pair up, with the
    genes, ids and proteins of the NCBI annotation (was: only a ``region`` row's was read, the chromosome linear)."""
    original, original_pairs = mg_original
    gff = tmp_path / "ensembl.gff3"
    write_ensembl_gff(gff, mg_sequence())
    genome = read_genome(gff, options=GenomeOptions(genetic_code=4))
    assert genome.scaffolds["Chromosome"].circular
    assert [(g.id, g.start, g.end, g.strand, g.protein) for g in genome.genes] == [
        (g.id, g.start, g.end, g.strand, g.protein) for g in original.genes]
    assert {p.pair_id for p in adjacent_pairs(genome)} == set(original_pairs)


def test_ensembl_gff3_of_a_sequence_of_another_length_is_refused(tmp_path):
    """The chromosome row spans the sequence, as a region row does, so it is no feature reaching its end: a FASTA
    one base short is refused for its ##sequence-region length (was: the row, read as a feature, made the pragma look
    like GenomeTools' made-up extent, and every gene after the lost base was read out of frame)."""
    gff = tmp_path / "ensembl.gff3"
    sequence = mg_sequence()
    write_ensembl_gff(gff, sequence[:1000] + sequence[1001:])
    code, _, err = run_cli(["pairs", gff, "-g", "4", "-o", tmp_path / "pairs.tsv"])
    assert code == 1 and not (tmp_path / "pairs.tsv").exists()
    assert err.startswith(f"error: {gff}: ##sequence-region gives Chromosome {MG_LENGTH} bp, its sequence in ##FASTA "
                          f"has {MG_LENGTH - 1} bp"), err


@pytest.mark.parametrize("layout", ["gff", "genbank"])
def test_genes_running_off_a_contig_are_partial_without_a_flag(layout, tmp_path):
    """MetaGeneMark-2's GFF3 (``ID=c1_1; Parent=...; gene_type=bacteria;``, no partial flag: its layout as quoted in
    github.com/gatech-genemark/MetaGeneMark-2 issue 6), or a GenBank file
    without ``<``/``>``, of two pieces of M. genitalium whose edges cut four genes (5' and 3' ends, both strands):
    each gene reaching an end without a start or a stop codon there is partial, as pyrodigal says of the same
    genes, with pyrodigal's proteins (was: whole, unless its frame at base 1 needed a phase, so a draft assembly's
    genes read complete)."""
    import pyrodigal
    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqFeature import FeatureLocation, SeqFeature
    from Bio.SeqRecord import SeqRecord

    sequence = mg_sequence()
    pieces = {"c1": sequence[1200:9000], "c2": sequence[30100:35996]}
    finder = pyrodigal.GeneFinder(meta=True)
    rows, records, called = ["##gff-version 3"], [], {}
    for sid, piece in pieces.items():
        record = SeqRecord(Seq(piece), id=sid, name=sid, annotations={"molecule_type": "DNA"})
        for number, gene in enumerate(finder.find_genes(piece.encode()), start=1):
            strand = "+" if gene.strand > 0 else "-"
            rows += [f"{sid}\tGeneMark.hmm2\tgene\t{gene.begin}\t{gene.end}\t.\t{strand}\t.\tID=gene_{sid}_{number};",
                     f"{sid}\tGeneMark.hmm2\tCDS\t{gene.begin}\t{gene.end}\t50.1\t{strand}\t0\tID={sid}_{number}; "
                     f"Parent=gene_{sid}_{number}; gene_type=bacteria; gc=32; length={gene.end - gene.begin + 1};"]
            record.features.append(SeqFeature(FeatureLocation(gene.begin - 1, gene.end, gene.strand), type="CDS",
                                              qualifiers={"locus_tag": [f"{sid}_{number}"], "transl_table": ["4"]}))
            called[sid, gene.begin, gene.end] = (gene.partial_begin or gene.partial_end, gene.translate().rstrip("*"))
        records.append(record)
    path = tmp_path / f"pieces.{layout}"
    if layout == "gff":
        path.write_text("\n".join(rows) + "\n##FASTA\n" + "".join(f">{sid}\n{s}\n" for sid, s in pieces.items()))
    else:
        SeqIO.write(records, path, "genbank")
    genome = read_genome(path, options=GenomeOptions(genetic_code=4))
    assert {(g.scaffold, g.start, g.end): (g.partial, g.protein) for g in genome.genes} == called
    assert sum(partial for partial, _ in called.values()) == 4


def test_seqids_with_spaces_stay_whole_without_a_fasta(tmp_path):
    """A GFF3 seqid holding a space (``contig 1``, unescaped) names its sequence whole: cutting it to its first word
    merged ``contig 1`` and ``contig 2`` into one sequence and paired genes of different contigs (found in review
    of a MetaGeneMark reader that cut every seqid so)."""
    rows = ["##gff-version 3"]
    for number, (seqid, start) in enumerate([("contig 1", 100), ("contig 1", 1000), ("contig 2", 100),
                                              ("contig 2", 1000)]):
        rows.append(f"{seqid}\tcaller\tCDS\t{start}\t{start + 599}\t.\t+\t0\tID=g{number};locus_tag=g{number}")
    path = tmp_path / "spaces.gff"
    path.write_text("\n".join(rows) + "\n")
    genome = read_genome(path)
    assert sorted({g.scaffold for g in genome.genes}) == ["contig 1", "contig 2"]
    assert sorted(p.pair_id for p in adjacent_pairs(genome)) == ["g0|g1", "g2|g3"]


def test_cds_of_two_transcripts_is_its_gene_with_a_parent_list(tmp_path, mg_original):
    """GFF3 lets a CDS shared by two transcripts name both, ``Parent=a,b``, a list split on its commas before each
    id is unescaped (``%2C`` is a comma inside one id). M. genitalium as Ensembl writes it, with two mRNAs per gene
    whose ids hold ``%2C``, the CDS under both: the genes, ids and proteins of the NCBI annotation, and MG_010 left
    out once its gene row says pseudogene (was: the list read as one parent, so no gene row was found above any CDS,
    the genes named by their CDS ids, and the pseudogene's CDS read as a gene)."""
    original, _ = mg_original
    gff = tmp_path / "ensembl.gff3"
    write_ensembl_gff(gff, mg_sequence())
    rows = []
    for row in gff.read_text().split("\n##FASTA\n")[0].splitlines():
        cols = row.split("\t")
        if len(cols) == 9 and cols[2] == "gene" and "gene_id=MG_010;" in cols[8]:
            cols[8] = cols[8].replace("biotype=protein_coding", "biotype=pseudogene;gene_biotype=pseudogene")
        if len(cols) == 9 and cols[2] == "mRNA":
            mrna = cols[8].split(";")[0].removeprefix("ID=")
            rows += ["\t".join(cols[:8] + [cols[8].replace(f"ID={mrna}", f"ID={mrna}%2C{isoform}")])
                     for isoform in "ab"]
            continue
        if len(cols) == 9 and cols[2] in ("CDS", "exon"):
            mrna = cols[8].split("Parent=")[1].split(";")[0]
            cols[8] = cols[8].replace(f"Parent={mrna}", f"Parent={mrna}%2Ca,{mrna}%2Cb")
        rows.append("\t".join(cols))
    gff.write_text("\n".join(rows) + "\n##FASTA\n" + gff.read_text().split("\n##FASTA\n")[1])
    genome = read_genome(gff, options=GenomeOptions(genetic_code=4))
    expected = [(g.id, g.start, g.end, g.strand, g.protein) for g in original.genes if g.id != "MG_010"]
    assert len(expected) == len(original.genes) - 1
    assert [(g.id, g.start, g.end, g.strand, g.protein) for g in genome.genes] == expected


@pytest.mark.parametrize("layout", ["genbank", "embl", "gff"])
def test_stated_protein_of_another_length_than_its_location_is_warned(layout, tmp_path, caplog):
    """A /translation (GFF3: DFAST's translation attribute) whose length is not its location's (k codons: k - 1
    residues and the stop, or k when cut at its 3' end) contradicts it, one of the two edited without the other: one
    warning names the CDS, its protein kept as written; a CDS with an /exception (a protein from transcript or
    proteomic data) may differ and is not named (was: nothing said). A piece of L. pneumophila, every /translation
    the length of its CDS as NCBI wrote them, with the proteins of two CDS swapped."""
    from Bio import SeqIO

    record = lpn_records([(0, 60_000)])[0]
    cds = [f for f in record.features if f.type == "CDS" and "translation" in f.qualifiers]
    swapped, excused = cds[4], cds[7]
    assert len(swapped.qualifiers["translation"][0]) != len(excused.qualifiers["translation"][0])
    swapped.qualifiers["translation"], excused.qualifiers["translation"] = (
        excused.qualifiers["translation"], swapped.qualifiers["translation"])
    excused.qualifiers["exception"] = ["annotated by transcript or proteomic data"]
    path = tmp_path / f"lpn.{layout}"
    if layout == "gff":
        rows = [f"{record.id}\tDFAST\tCDS\t{f.location.start + 1}\t{f.location.end}\t.\t"
                f"{'+' if f.location.strand > 0 else '-'}\t0\tID={f.qualifiers['locus_tag'][0]};locus_tag="
                f"{f.qualifiers['locus_tag'][0]};translation={f.qualifiers['translation'][0]}"
                + (";exception=annotated by transcript or proteomic data" if f is excused else "") for f in cds]
        path.write_text("##gff-version 3\n" + "\n".join(rows) + f"\n##FASTA\n>{record.id}\n{record.seq}\n")
    else:
        SeqIO.write(record, path, layout)
    with caplog.at_level("WARNING", logger="microfuse"):
        genome = read_genome(path)
    said = [r.getMessage() for r in caplog.records if "is not the length of its location" in r.getMessage()]
    tag = swapped.qualifiers["locus_tag"][0]
    what = "translation attribute" if layout == "gff" else "/translation"
    assert said == [f"{path}: the {what} of 1 CDS is not the length of its location: {tag} "
                    f"({len(swapped.qualifiers['translation'][0])} aa, {len(swapped.location)} bp); the {what} is used "
                    "as written (was the location edited, or the file converted, without it?)"], said
    proteins = {g.id: g.protein for g in genome.genes}
    assert len(proteins) == len(cds) and proteins[tag] == swapped.qualifiers["translation"][0]


def cut_in_last_codon_pieces() -> tuple[list, dict[str, str]]:
    """Three pieces of L. pneumophila, each ending two bases into a four-fold codon of a + strand CDS (GC?, CT?...),
    that CDS cut there (``..>END``) with its /translation as NCBI's translator makes it: its k whole codons and the
    residue the two bases fix; and those proteins by locus tag."""
    from Bio.Data.CodonTable import standard_dna_table
    from Bio.SeqFeature import AfterPosition, FeatureLocation, SeqFeature

    fourfold = {codon[:2] for codon in standard_dna_table.forward_table
                if all(codon[:2] + b in standard_dna_table.forward_table
                       and standard_dna_table.forward_table[codon[:2] + b] == standard_dna_table.forward_table[codon]
                       for b in "ACGT")}
    whole = lpn_records([(0, 60_000)])[0]
    records, expected = [], {}
    for f in whole.features:
        if f.type != "CDS" or f.location.strand != 1 or len(f.location.parts) != 1 or len(records) == 3:
            continue
        start, coding = int(f.location.start), str(f.extract(whole.seq))
        codon = next(j for j in range(len(coding) // 6, len(coding) // 3) if coding[3 * j : 3 * j + 2] in fourfold)
        end = start + 3 * codon + 2
        piece = whole[start - 100 : end]
        piece.id = piece.name = f"CR6283{len(records)}"
        piece.annotations = dict(whole.annotations)
        tag = f.qualifiers["locus_tag"][0]
        protein = f.qualifiers["translation"][0][:codon] + standard_dna_table.forward_table[coding[3 * codon:][:2] + "A"]
        piece.features = [SeqFeature(FeatureLocation(100, AfterPosition(end - start + 100), strand=1), type="CDS",
                                     qualifiers={"locus_tag": [tag], "codon_start": ["1"], "transl_table": ["11"],
                                                 "translation": [protein]})]
        records.append(piece)
        expected[tag] = protein
    assert len(records) == 3
    return records, expected


def test_stated_protein_with_its_partial_last_codon_translated_is_not_warned(tmp_path, caplog):
    """NCBI's translator pads a CDS's incomplete last codon with N and keeps the residue when those two bases fix it
    (GC? is A, CT? is L...): a gene cut at its contig's end (``..>END``), k whole codons and two bases, has k + 1
    residues in its /translation, as GenBank and RefSeq draft genomes write it. Pieces of L. pneumophila cut inside
    CDS so, each /translation as NCBI makes it: no warning, the stated proteins used (was: every such contig-edge
    gene of a draft genome named as 'not their location's length')."""
    from Bio import SeqIO

    records, expected = cut_in_last_codon_pieces()
    path = tmp_path / "draft.gbk"
    SeqIO.write(records, path, "genbank")
    assert "..>" in path.read_text()
    with caplog.at_level("WARNING", logger="microfuse"):
        genome = read_genome(path)
    assert [r.getMessage() for r in caplog.records if "length is not" in r.getMessage()] == []
    assert {g.id: g.protein for g in genome.genes} == expected
    assert all(g.partial for g in genome.genes)


@pytest.mark.parametrize("layout", ["genbank", "gff"])
def test_cds_cut_inside_its_last_codon_is_translated_as_ncbi_translates_it(layout, tmp_path):
    """A CDS cut at its contig's end two bases into a codon those bases fix (GC? is A) ends with that residue when
    microfuse translates it, as NCBI's /translation (and its protein FASTA) of the same CDS does: 7 of the 3,195 CDS
    of PGAP's draft genome JAOQKG01 end so. The pieces of ``cut_in_last_codon_pieces`` without their /translation,
    as GenBank and as PGAP's GFF3 (``end_range``) writes them: NCBI's proteins (was: one residue short)."""
    from Bio import SeqIO

    records, expected = cut_in_last_codon_pieces()
    path = tmp_path / f"draft.{layout}"
    if layout == "genbank":
        for record in records:
            del record.features[0].qualifiers["translation"]
        SeqIO.write(records, path, "genbank")
    else:
        rows = [f"{r.id}\tGeneMarkS-2+\tCDS\t101\t{len(r)}\t.\t+\t0\tID=cds-{r.features[0].qualifiers['locus_tag'][0]};"
                f"locus_tag={r.features[0].qualifiers['locus_tag'][0]};partial=true;end_range={len(r)},.;"
                "transl_table=11" for r in records]
        path.write_text("##gff-version 3\n" + "\n".join(rows) + "\n##FASTA\n"
                        + "".join(f">{r.id}\n{r.seq}\n" for r in records))
    assert "translation" not in path.read_text()
    genes = read_genome(path).genes
    assert {g.id: g.protein for g in genes} == expected
    assert all(g.partial and (g.end - g.start + 1) % 3 == 2 for g in genes)


@pytest.mark.parametrize("layout", ["genbank", "gff"])
def test_whole_cds_of_two_bases_past_whole_codons_ends_as_ncbi_translates_it(layout, tmp_path):
    """NCBI's translator (the C++ toolkit's ``CSeqTranslator``) pads any incomplete last codon with N, not only that
    of a CDS cut at its 3' end: a whole CDS (no flag, inside its contig) whose location leaves two bases after its
    last whole codon ends with the residue those bases fix in the CDS's own code. Three minus-strand genes of
    M. pneumoniae (code 4: their first codons hold a TGA, Trp), their 3' (left) end moved to two bases into a codon
    the two bases fix, read from GenBank and GFF3 without a translation: each is the gene's own protein up to that
    residue, and whole (was: one residue short)."""
    from Bio.Seq import Seq

    mpn = read_genome(MPN_GFF, MPN_FNA)
    sequence = mpn.scaffolds["NC_000912.1"].sequence
    pieces, expected = [], {}
    for gene in (g for g in mpn.genes if g.strand < 0 and g.genetic_code == 4 and g.end - g.start > 600):
        coding = str(Seq(sequence[gene.start - 1 : gene.end]).reverse_complement())
        codon = next((j for j in range(100, len(coding) // 3 - 1)
                      if str(Seq(coding[3 * j : 3 * j + 2] + "N").translate(table=4)) not in ("X", "*")), None)
        if codon is None or "TGA" not in {coding[3 * i : 3 * i + 3] for i in range(codon)}:
            continue
        left = gene.end - 3 * codon - 2 + 1  # the CDS's 3' end: codon whole codons and two bases
        lo, hi = left - 150, gene.end + 150
        pieces.append((f"mpn{len(pieces)}", gene.id, sequence[lo - 1 : hi], left - lo + 1, gene.end - lo + 1))
        expected[gene.id] = gene.protein[: codon + 1]
        if len(pieces) == 3:
            break
    assert len(pieces) == 3 and all("W" in p for p in expected.values())
    path = tmp_path / f"whole.{layout}"
    if layout == "genbank":
        from Bio import SeqIO
        from Bio.SeqFeature import FeatureLocation, SeqFeature
        from Bio.SeqRecord import SeqRecord

        records = []
        for name, tag, bases, start, end in pieces:
            record = SeqRecord(Seq(bases), id=name, name=name,
                               annotations={"molecule_type": "DNA", "topology": "linear"})
            record.features.append(SeqFeature(FeatureLocation(start - 1, end, strand=-1), type="CDS",
                                              qualifiers={"locus_tag": [tag], "transl_table": ["4"]}))
            records.append(record)
        SeqIO.write(records, path, "genbank")
    else:
        path.write_text("##gff-version 3\n"
                        + "".join(f"{name}\tx\tCDS\t{start}\t{end}\t.\t-\t0\tID={tag};locus_tag={tag};transl_table=4\n"
                                  for name, tag, _, start, end in pieces)
                        + "##FASTA\n" + "".join(f">{name}\n{bases}\n" for name, _, bases, _, _ in pieces))
    assert "translation" not in path.read_text() and "partial" not in path.read_text()
    genes = read_genome(path).genes
    assert {g.id: g.protein for g in genes} == expected
    assert not any(g.partial for g in genes) and all((g.end - g.start + 1) % 3 == 2 for g in genes)


def test_transl_except_wrapped_anywhere_or_naming_its_record_is_read(tmp_path, ecoli_genome):
    """A /transl_except too long for its line (coordinates past 10 Mb, a join) is wrapped where the writer breaks
    it, which Biopython reads with a space there, inside the range too; NCBI may name the position's sequence
    (``pos:complement(NC_000003.11:49395565..49395567)``). fdnG's Sec196 with its value broken after ``..`` and
    fdhF's Sec140 with its record named are U, as read from RefSeq's GFF3 (was: X, the value not recognised)."""
    proteins = {g.id: g.protein for g in ecoli_genome.genes}
    path = _selenoprotein_genbank(
        tmp_path / "seleno.gbk", lambda tag, value: value.replace("..", "..\n") if tag == "b1474"
        else value.replace("(pos:complement(", f"(pos:complement({tag}.1:"), record_id="{}.1")
    text = path.read_text()
    assert "..\n" in text and "pos:complement(b4079.1:" in text
    path.write_text(text.replace("..\n", "..\n                     "))  # the wrapped line, indented as GenBank's
    assert {g.id: g.protein for g in read_genome(path).genes} == {tag: proteins[tag] for tag, _, _ in SELENOPROTEINS}


@pytest.mark.parametrize("note, partial", [("partially confirmed by proteomics", False), ("impartial call", False),
                                           ("incomplete; partial on complete genome", True)])
def test_a_note_says_partial_only_in_the_word_partial(tmp_path, note, partial):
    """Any Note containing 'partial' made a CDS partial at both ends ('partially confirmed...'): its GTG start was
    read as V, not M, and the gene flagged cut. Only the word itself (NCBI's 'partial on complete genome') does."""
    from microfuse_cli import read_genome

    sequence = "A" * 30 + "GTGAAACCCGGGTAA" + "A" * 30
    path = tmp_path / "g.gff"
    path.write_text("##gff-version 3\n"
                    f"c1\tx\tCDS\t31\t45\t.\t+\t0\tID=cds1;Note={note.replace(';', '%3B')}\n"
                    f"##FASTA\n>c1\n{sequence}\n")
    gene, = read_genome(path).genes
    assert (gene.partial, gene.protein) == ((True, "VKPG") if partial else (False, "MKPG"))


def test_embeddings_match_pairs_of_the_same_genome_in_another_format_across_the_origin(tmp_path):
    """Embeddings record where each gene sits and `score PAIRS.tsv --embeddings` refuses pairs placed elsewhere; the
    same genome read from GFF3 (a row ending past the length) and from GenBank (a join across the origin) places
    MG_001 alike, so either's pairs score with the other's embeddings (of the genome, or of its table embedded
    with its proteins: places from the table), the same bytes; a subset of them (`pairs --labels`) too."""
    gff = write_rotated(tmp_path, "circular")  # both beside one FASTA, mg_rot.fna
    gbk = write_rotated(tmp_path, "genbank")
    tables = {}
    for name, path in (("gff", gff), ("gbk", gbk)):
        tables[name] = tmp_path / f"{name}.tsv"
        code, _, err = run_cli(["pairs", path, "-o", tables[name], "--proteins", tmp_path / f"{name}.faa", "-q"])
        assert code == 0, err
    code, _, err = run_cli(["embed", gff, "-o", tmp_path / "emb_genome", "-q"])
    assert code == 0, err
    code, _, err = run_cli(["embed", tables["gff"], "--proteins", tmp_path / "gff.faa", "--fasta",
                            tmp_path / "mg_rot.fna", "-o", tmp_path / "emb_table", "-q"])
    assert code == 0, err
    row = next(line for line in (tmp_path / "emb_genome" / "genes.tsv").read_text().splitlines()
               if line.startswith("MG_001\t"))
    assert row == f"MG_001\tNC_000908.2\t{MG_LENGTH - 314}\t{MG_LENGTH + 828}\t+"
    assert row in (tmp_path / "emb_table" / "genes.tsv").read_text().splitlines()
    labels = tmp_path / "labels.tsv"
    labels.write_text("MG_470\tMG_001\t0\nMG_001\tMG_002\t1\n")
    code, _, err = run_cli(["pairs", gbk, "--labels", labels, "-o", tmp_path / "subset.tsv", "-q"])
    assert code == 0, err
    scored = {}
    for emb in ("emb_genome", "emb_table"):
        for table in ("gff", "gbk"):
            out = tmp_path / f"{emb}_{table}.scores"
            code, _, err = run_cli(["score", tables[table], "--embeddings", tmp_path / emb, "-o", out, "-q"])
            assert code == 0, (emb, table, err)
            scored[emb, table] = table_lines(out.read_text())
        code, _, err = run_cli(["score", tmp_path / "subset.tsv", "--embeddings", tmp_path / emb, "-o",
                                tmp_path / "subset.scores", "-q"])
        assert code == 0, (emb, err)
        assert len(table_lines((tmp_path / "subset.scores").read_text())) == 3
    assert scored["emb_genome", "gff"] == scored["emb_genome", "gbk"]
    assert scored["emb_table", "gff"] == scored["emb_table", "gbk"]
    code, _, err = run_cli(["score", gbk, "--embeddings", tmp_path / "emb_genome", "-o", tmp_path / "g.scores", "-q"])
    assert code == 0, err


@pytest.mark.parametrize("pragma", [True, False], ids=["sequence-region", "no-sequence-region"])
def test_pairs_linear_without_fasta_stays_linear_beside_a_circular_fasta_header(pragma, tmp_path):
    """`pairs G --linear` of a GFF3 without its FASTA, then `embed TABLE --fasta F` where F's header says circular=true
    (Unicycler's, Flye's): the table route read the genome circular again, the user's --linear undone (its
    '#scaffold_length' line, written only where the annotation states a length, says the annotation's topology, which
    a FASTA header overrules), and its pair context was not the genome's route's under --linear. Now the table says
    '#topology forced=linear' and that wins, as --linear does on the genome's route: the same vectors, byte for
    byte. A table whose rows or lines contradict the line is refused."""
    gff = tmp_path / "mg.gff"
    text = gzip.decompress(MG_GFF.read_bytes()).decode()
    gff.write_text(text if pragma else text.replace(f"##sequence-region NC_000908.2 1 {MG_LENGTH}\n", ""))
    fasta = tmp_path / "mg.fna"
    fasta.write_text(gzip.decompress(MG_FNA.read_bytes()).decode().replace("\n", " circular=true\n", 1))
    table, proteins = tmp_path / "p.tsv", tmp_path / "p.faa"
    code, _, err = run_cli(["pairs", gff, "--linear", "-o", table])
    assert code == 0, err
    code, _, err = run_cli(["pairs", gff, "--fasta", fasta, "--circular", "-o", tmp_path / "c.tsv", "--proteins",
                            proteins])
    assert code == 0, err
    head = [line for line in table.read_text().splitlines() if line.startswith("#")]
    assert head[-1] == "#topology forced=linear", head
    from microfuse_cli.pairs import genome_from_table, read_pairs

    assert not genome_from_table(read_pairs(table), proteins, fasta, "mg").scaffolds["NC_000908.2"].circular
    for args, out in ((["embed", table, "--proteins", proteins], "t"), (["embed", gff, "--linear"], "g")):
        code, _, err = run_cli([*args, "--fasta", fasta, "-o", tmp_path / out])
        assert code == 0, err
    assert (tmp_path / "t" / "pair_context.npy").read_bytes() == (tmp_path / "g" / "pair_context.npy").read_bytes()
    code, _, err = run_cli(["score", table, "--embeddings", tmp_path / "t", "--linear", "-o", tmp_path / "s.tsv"])
    assert code == 2 and "give --linear to the `microfuse pairs` that writes it" in err, err
    closing = (tmp_path / "c.tsv").read_text().splitlines()[-1]  # the pair closing the circle, last of --circular
    edited = tmp_path / "edited.tsv"
    edited.write_text(table.read_text() + closing + "\n")
    code, _, err = run_cli(["embed", edited, "--proteins", proteins, "--fasta", fasta, "-o", tmp_path / "e"])
    said = ("the circle of NC_000908.2, which its '#scaffold_length' line calls linear: a table edited, or its rows "
            "and header of two assemblies?" if pragma else "a circle, which its '#topology forced=linear' line "
            "forbids: a table edited, or its rows and header of two runs?")
    assert code == 1 and err.strip().endswith(f"{edited}: the pair {closing.split()[0]} closes {said}"), err


def test_a_forced_linear_table_refuses_a_fasta_shorter_than_its_genes(tmp_path):
    """A table of `pairs G --linear` (G without its FASTA or a stated length) read with a FASTA that ends before its
    last gene: the line makes the scaffold linear, so the gene cannot cross the origin: refused as the genome's route
    refuses it under --linear, not read circular with a warning."""
    from microfuse_cli.pairs import genome_from_table, read_pairs

    gff = tmp_path / "mg.gff"
    gff.write_text(gzip.decompress(MG_GFF.read_bytes()).decode().replace(
        f"##sequence-region NC_000908.2 1 {MG_LENGTH}\n", ""))
    header, sequence = gzip.decompress(MG_FNA.read_bytes()).decode().split("\n", 1)
    short = tmp_path / "short.fna"
    short.write_text(f"{header} circular=true\n{sequence.replace(chr(10), '')[:-400]}\n")
    table = tmp_path / "p.tsv"
    code, _, err = run_cli(["pairs", gff, "--linear", "-o", table])
    assert code == 0, err
    with pytest.raises(DataError, match=r"gene 'MG_470' of the pairs ends at 580033, past the end of NC_000908.2 in "
                                        r".*short.fna \(579,676 bp\), which the pairs' '#topology forced=linear' line"):
        genome_from_table(read_pairs(table), None, short, "mg")


def test_gene_ids_holding_a_bar_make_unambiguous_pair_ids(tmp_path):
    """A locus_tag holding '|' (pair ids are A|B) is read %7C-encoded, so every pair id splits one way; a --pairs
    list names such genes by their own names in two columns, or by the table's pair id; a pair id of several '|'
    is refused, saying why (was: 'expected two gene ids, found 1 field(s)'). A Genome built by hand with such an id
    is refused as the readers would never give it (was: pair ids 'a|1|b', which split two ways, written into every
    table)."""
    gff = tmp_path / "bar.gff"
    text = gzip.decompress(MG_GFF.read_bytes()).decode()
    gff.write_text(text.replace("locus_tag=MG_002;", "locus_tag=MG|002;").replace("locus_tag=MG_003;",
                                                                                "locus_tag=MG_003|x;"))
    table = tmp_path / "p.tsv"
    code, _, err = run_cli(["pairs", gff, "--fasta", MG_FNA, "-o", table])
    assert code == 0, err
    ids = [line.split("\t")[0] for line in table_lines(table.read_text())[1:]]
    assert ids[:3] == ["MG_001|MG%7C002", "MG%7C002|MG_003%7Cx", "MG_003%7Cx|MG_004"]
    assert all(i.count("|") == 1 for i in ids)
    for listed in ("MG|002,MG_003|x\n", "MG%7C002|MG_003%7Cx\n"):
        (tmp_path / "list.txt").write_text(listed)
        code, out, err = run_cli(["pairs", gff, "--fasta", MG_FNA, "--pairs", tmp_path / "list.txt", "-q"])
        assert code == 0 and [line.split("\t")[0] for line in table_lines(out)[1:]] == [ids[1]], err
    (tmp_path / "list.txt").write_text("MG|002|MG_003|x\n")
    code, _, err = run_cli(["pairs", gff, "--fasta", MG_FNA, "--pairs", tmp_path / "list.txt"])
    assert code == 1 and err.strip().endswith(
        f"{tmp_path / 'list.txt'}: line 1: pair id 'MG|002|MG_003|x' holds 3 '|': which two gene ids it joins is "
        "ambiguous; name a gene id holding '|' as microfuse's tables do (| as %7C), or give the two ids in two "
        "columns"), err
    from microfuse_cli.records import Gene, Genome, Scaffold

    genome = Genome("g", {"c": Scaffold("c", 5000)}, [Gene("a|1", "c", 1, 300, 1), Gene("b", "c", 400, 700, 1)],
                    "annotation")
    with pytest.raises(DataError, match=r"^g: gene id 'a\|1' holds '\|', which joins the two gene ids of a pair id "
                                        r"\(A\|B\); write it 'a%7C1', as the readers do$"):
        adjacent_pairs(genome)
