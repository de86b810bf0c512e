"""Conserved adjacency on real data, kept small: M. genitalium ribosomal-protein pairs against M. pneumoniae."""

from __future__ import annotations

import json

import numpy as np
import pytest
from conftest import MPN_FNA, MPN_GFF, PANEL, run_cli

MGE_GFF = PANEL / "GCF_000027325.1_ASM2732v1_genomic.gff.gz"
MGE_FNA = PANEL / "GCF_000027325.1_ASM2732v1_genomic.fna.gz"
#: M. genitalium's S10-spc ribosomal-protein operon (S10 L3 L4 L23 L2 S19 L22 S3 L16): conserved everywhere.
RIBOSOMAL = [f"MG_{n}" for n in range(150, 159)]


@pytest.fixture(scope="module")
def mge():
    from microfuse_cli.genome import read_genome

    return read_genome(MGE_GFF, MGE_FNA)


@pytest.fixture(scope="module")
def mpn_reference():
    from microfuse_cli.comparative import ReferenceSet
    from microfuse_cli.genome import read_genome

    return ReferenceSet.build([read_genome(MPN_GFF, MPN_FNA)], names=["mpneumoniae"])


@pytest.fixture(scope="module")
def ribosomal_pairs(mge):
    from microfuse_cli.pairs import pairs_from_list

    listed = [(a, b, None) for a, b in zip(RIBOSOMAL, RIBOSOMAL[1:])]
    resolved = pairs_from_list(mge, listed)
    assert not resolved.unknown
    return resolved.pairs


def test_homologs_of_conserved_neighbours(mge, mpn_reference, ribosomal_pairs):
    from dataclasses import replace

    from microfuse_cli.comparative import adjacency_from_homologs, conserved_adjacency, search_homologs

    result = conserved_adjacency(mge, ribosomal_pairs, mpn_reference, threads=1)
    assert result.count.tolist() == [1] * len(ribosomal_pairs)  # every neighbour pair is adjacent in M. pneumoniae
    assert result.with_homologs.tolist() == [1] * len(ribosomal_pairs)
    # M. pneumoniae is M. genitalium's sister species: most best hits are >= 50% identical, so its vote is damped
    weight = result.weights["mpneumoniae"]
    assert 0.0 <= weight < 0.5
    np.testing.assert_allclose(result.score, weight)
    assert result.as_array().shape == (len(ribosomal_pairs), 2)

    # the first and last genes of the operon have homologs but are not neighbours there
    first, last = ribosomal_pairs[0].gene_a, ribosomal_pairs[-1].gene_b
    far = replace(ribosomal_pairs[0], gene_b=last)
    genes = [g for p in ribosomal_pairs for g in (p.gene_a, p.gene_b)]
    homologs = search_homologs(genes, mpn_reference)
    assert adjacency_from_homologs([far], homologs, mpn_reference).count.tolist() == [0]
    assert homologs.hits[first.id] and homologs.hits[last.id]
    assert adjacency_from_homologs([far], homologs, mpn_reference, max_gap=20).count.tolist() == [1]


def test_query_genome_in_its_own_reference_only_other_scaffolds_count(mge, ribosomal_pairs):
    from microfuse_cli.comparative import ReferenceSet, conserved_adjacency

    reference = ReferenceSet.build([mge])  # the genome's own (single) chromosome: no independent evidence
    result = conserved_adjacency(mge, ribosomal_pairs[:2], reference)
    assert result.count.tolist() == [0, 0]


def test_save_load_round_trip_and_corruption(tmp_path, mpn_reference):
    from microfuse_cli.comparative import ReferenceSet
    from microfuse_cli.errors import DataError

    folder = tmp_path / "ref"
    mpn_reference.save(folder)
    assert sorted(p.name for p in folder.iterdir()) == ["genes.tsv", "manifest.json", "proteins.faa"]
    loaded = ReferenceSet.load(folder)
    assert loaded.names == mpn_reference.names
    assert loaded.gene_ids == mpn_reference.gene_ids and loaded.proteins == mpn_reference.proteins
    for name in ("genome", "scaffold", "position", "strand", "start", "end"):
        np.testing.assert_array_equal(getattr(loaded, name), getattr(mpn_reference, name))
    assert loaded.genomes == mpn_reference.genomes

    faa = folder / "proteins.faa"
    faa.write_text(faa.read_text().replace("M", "W", 1))
    with pytest.raises(DataError, match="checksum"):
        ReferenceSet.load(folder)
    mpn_reference.save(folder)  # overwrites atomically
    (folder / "genes.tsv").unlink()
    with pytest.raises(DataError, match="missing genes.tsv"):
        ReferenceSet.load(folder)
    (folder / "manifest.json").write_text("{not json")
    with pytest.raises(DataError, match="manifest.json"):
        ReferenceSet.load(folder)
    with pytest.raises(DataError, match="no such reference folder"):
        ReferenceSet.load(tmp_path / "missing")


def test_reference_files_swapped_after_checksum_are_not_read(tmp_path, mpn_reference, monkeypatch):
    """A proteins.faa or genes.tsv renamed into the folder after the checksums were checked and before they were
    read (another reference's) was loaded in their place: the folder was hashed by path, then read by path again.
    Both are read from the handles that were hashed (manifest.open_listed)."""
    import os

    from microfuse_cli import manifest as manifest_module
    from microfuse_cli.comparative import ReferenceSet

    folder = tmp_path / "ref"
    mpn_reference.save(folder)
    faa, genes = (folder / "proteins.faa").read_text(), (folder / "genes.tsv").read_text().split("\n")
    (tmp_path / "proteins.faa").write_text(faa.replace("\nM", "\nW", 1))
    first = genes[1].split("\t")
    first[5:7] = [str(int(first[5]) + 3), str(int(first[6]) + 3)]  # the first gene's start and end moved
    (tmp_path / "genes.tsv").write_text("\n".join([genes[0], "\t".join(first), *genes[2:]]))
    real, swapped = manifest_module.check_files, []

    def check_then_swap(*args, **kwargs):
        real(*args, **kwargs)
        if kwargs["verify"] and not swapped:  # the checksums have just been checked
            for name in ("proteins.faa", "genes.tsv"):
                os.replace(tmp_path / name, folder / name)
            swapped.append(True)

    monkeypatch.setattr(manifest_module, "check_files", check_then_swap)
    loaded = ReferenceSet.load(folder)
    assert swapped and (folder / "proteins.faa").read_text() != faa  # the files were swapped
    assert loaded.proteins == mpn_reference.proteins
    np.testing.assert_array_equal(loaded.start, mpn_reference.start)
    np.testing.assert_array_equal(loaded.end, mpn_reference.end)


def test_version_1_reference_folder_still_loads(mpn_reference, tmp_path):
    """A reference folder written by 0.2 (manifest keys ``version``, ``microfuse``, ``files``) is still read."""
    from microfuse_cli.comparative import ReferenceSet
    from microfuse_cli.errors import DataError

    folder = tmp_path / "ref"
    mpn_reference.save(folder)
    manifest = json.loads((folder / "manifest.json").read_text())
    assert manifest["format_version"] == 2
    old = {**{k: v for k, v in manifest.items() if k not in ("format_version", "microfuse_version", "files_sha256")},
           "version": 1, "microfuse": "0.2.0", "files": manifest["files_sha256"]}
    (folder / "manifest.json").write_text(json.dumps(old, indent=1))
    assert ReferenceSet.load(folder).gene_ids == mpn_reference.gene_ids
    (folder / "proteins.faa").write_text("")
    with pytest.raises(DataError, match="checksum mismatch"):
        ReferenceSet.load(folder)


def test_without_drops_a_genome(mge, mpn_reference):
    from microfuse_cli.comparative import ReferenceSet
    from microfuse_cli.genome import read_genome

    two = ReferenceSet.build([mge, read_genome(MPN_GFF, MPN_FNA)], names=["mgenitalium", "mpneumoniae"])
    only = two.without(["mgenitalium"])
    assert only.names == ["mpneumoniae"]
    assert only.gene_ids == mpn_reference.gene_ids
    np.testing.assert_array_equal(only.scaffold, mpn_reference.scaffold)
    np.testing.assert_array_equal(only.genome, mpn_reference.genome)


def test_cli_reference_build_and_score_explain(tmp_path):
    ref = tmp_path / "ref"
    code, _, err = run_cli(["reference", "build", f"{MPN_GFF},{MPN_FNA}", "-o", ref, "-q"])
    assert code == 0, err
    manifest = json.loads((ref / "manifest.json").read_text())
    assert manifest["n_proteins"] == 688 and set(manifest["files_sha256"]) == {"proteins.faa", "genes.tsv"}

    pair_list = tmp_path / "pairs.csv"
    pair_list.write_text("".join(f"{a},{b}\n" for a, b in zip(RIBOSOMAL[:4], RIBOSOMAL[1:5])))
    plain, explained, compared = tmp_path / "plain.tsv", tmp_path / "explained.tsv", tmp_path / "compared.tsv"
    base = ["score", MGE_GFF, "--fasta", MGE_FNA, "--pairs", pair_list, "-q"]
    assert run_cli(base + ["-o", plain])[0] == 0
    assert run_cli(base + ["-o", explained, "--explain"])[0] == 0
    code, _, err = run_cli(base + ["-o", compared, "--explain", "--reference", ref])
    assert code == 0, err

    def table(path):
        lines = [line for line in path.read_text().splitlines() if not line.startswith("#")]
        return lines[0].split("\t"), [dict(zip(lines[0].split("\t"), line.split("\t"))) for line in lines[1:]]

    header, rows = table(plain)
    assert "spacer_llr" not in header and "conserved_adjacency" not in header  # default output unchanged
    header_e, rows_e = table(explained)
    assert header_e == header + ["spacer_llr", "spacer_posterior"]
    assert all(0.0 <= float(r["spacer_posterior"]) <= 1.0 for r in rows_e)
    assert [r["probability"] for r in rows_e] == [r["probability"] for r in rows]
    header_c, rows_c = table(compared)
    assert header_c == header_e + ["conserved_adjacency", "conserved_genomes"]
    assert [r["conserved_genomes"] for r in rows_c] == ["1"] * 4
    assert all(0.0 <= float(r["conserved_adjacency"]) < 0.5 for r in rows_c)


def test_score_reference_missing_folder_is_one_line_error(tmp_path):
    code, out, err = run_cli(["score", MGE_GFF, "--fasta", MGE_FNA, "--reference", tmp_path / "nope",
                              "-o", tmp_path / "s.tsv"])
    assert code == 1
    assert err.startswith("error:") and len(err.strip().splitlines()) == 1 and "nope" in err
    assert not (tmp_path / "s.tsv").exists()


def test_cli_query_genome_in_the_reference_under_another_name_is_not_evidence(tmp_path):
    """`reference build` from a renamed copy of the scored genome's files (M. genitalium beside it): the copy is
    recognised by its genes (same scaffold, same coordinates), so it adds no conserved adjacency on the genome's
    single chromosome; matched by file name only, it made every pair 'conserved' (count +1 each)."""
    for suffix, source in (("gff.gz", MGE_GFF), ("fna.gz", MGE_FNA)):
        (tmp_path / f"copy.{suffix}").symlink_to(source)
    pair_list = tmp_path / "pairs.csv"
    pair_list.write_text("".join(f"{a},{b}\n" for a, b in zip(RIBOSOMAL[:4], RIBOSOMAL[1:5])))
    counts = {}
    copy = f"{tmp_path / 'copy.gff.gz'},{tmp_path / 'copy.fna.gz'}"
    for name, genomes in (("mpn", [f"{MPN_GFF},{MPN_FNA}"]), ("mpn+copy", [f"{MPN_GFF},{MPN_FNA}", copy])):
        code, _, err = run_cli(["reference", "build", *genomes, "-o", tmp_path / name, "-q"])
        assert code == 0, err
        out = tmp_path / f"{name}.tsv"
        code, _, err = run_cli(["score", MGE_GFF, "--fasta", MGE_FNA, "--pairs", pair_list, "--explain",
                                "--reference", tmp_path / name, "-o", out, "-q"])
        assert code == 0, err
        lines = [line.split("\t") for line in out.read_text().splitlines() if not line.startswith("#")]
        counts[name] = [dict(zip(lines[0], row))["conserved_genomes"] for row in lines[1:]]
    assert counts["mpn"] == ["1"] * 4  # M. pneumoniae conserves the ribosomal operon
    assert counts["mpn+copy"] == counts["mpn"]


def test_reference_records_the_genetic_code_of_each_genome(tmp_path, mge):
    """The manifest records the code each genome's proteins were translated with: 4 from M. pneumoniae's
    transl_table, 11 for its bare assembly called with -g 11; a folder from before codes were kept reads as
    unknown (())."""
    from microfuse_cli.comparative import ReferenceSet

    code, _, err = run_cli(["reference", "build", f"{MPN_GFF},{MPN_FNA}", MPN_FNA, "-g", "11", "-o", tmp_path / "ref"])
    assert code == 0, err
    assert "protein-coding genes, genetic code 4" in err and "protein-coding genes, genetic code 11" in err, err
    manifest = json.loads((tmp_path / "ref" / "manifest.json").read_text())
    assert [g["genetic_codes"] for g in manifest["genomes"]] == [[4], [11]]
    assert [g.genetic_codes for g in ReferenceSet.load(tmp_path / "ref").genomes] == [(4,), (11,)]
    assert ReferenceSet.build([mge]).genomes[0].genetic_codes == (4,)
    for genome in manifest["genomes"]:
        del genome["genetic_codes"]
    (tmp_path / "ref" / "manifest.json").write_text(json.dumps(manifest))
    assert [g.genetic_codes for g in ReferenceSet.load(tmp_path / "ref").genomes] == [(), ()]


def test_score_reference_warns_of_a_close_relative_read_under_another_code(tmp_path):
    """M. genitalium (code 4) against M. pneumoniae, its sister species: read from its annotation (code 4) nothing
    is said; its bare assembly called with -g 11 (proteins cut at every TGA, which codes Trp there) gets one
    warning naming the genome and both codes. M. jannaschii (code 11) is distant: a different code is its own,
    not a mistake, and is not flagged."""
    jannaschii = [f"{PANEL / 'GCF_000091665.1_ASM9166v1_genomic.gff.gz'},"
                  f"{PANEL / 'GCF_000091665.1_ASM9166v1_genomic.fna.gz'}"]
    pair_list = tmp_path / "pairs.csv"
    pair_list.write_text("".join(f"{a},{b}\n" for a, b in zip(RIBOSOMAL[:4], RIBOSOMAL[1:5])))
    errors = {}
    for name, genomes in (("right", [f"{MPN_GFF},{MPN_FNA}", *jannaschii]), ("wrong", [str(MPN_FNA), *jannaschii])):
        code, _, err = run_cli(["reference", "build", *genomes, "-g", "11", "-o", tmp_path / name, "-q"])
        assert code == 0, err
        code, _, errors[name] = run_cli(["score", MGE_GFF, "--fasta", MGE_FNA, "--pairs", pair_list, "--explain",
                                         "--reference", tmp_path / name, "-o", tmp_path / f"{name}.tsv", "-q"])
        assert code == 0, errors[name]
    assert errors["right"] == ""
    assert errors["wrong"] == (f"warning: reference genome '{MPN_FNA.name}' was read under genetic code 11, "
                               f"{MGE_GFF.name} under 4, yet most of their proteins are close homologs: one of them "
                               "is probably read under the wrong code (check -g / transl_table)\n")


def test_reference_gff3_without_its_fasta_is_told_the_comma_form(tmp_path):
    """`reference build` has no --fasta: a GFF3 without ##FASTA given alone was told 'a GFF3 needs --fasta', an
    option it does not have (`no such option`); the way is ANNOTATION.gff,ASSEMBLY.fna."""
    code, _, err = run_cli(["reference", "build", MPN_GFF, "-o", tmp_path / "ref"])
    assert code == 1 and not (tmp_path / "ref").exists()
    last = err.strip().splitlines()[-1]
    assert last.startswith("error: ") and "--fasta" not in last and f"{MPN_GFF},ASSEMBLY.fna" in last, err


def test_reference_of_one_genome_says_one_genome(tmp_path):
    """The closing line counted its genomes in the plural: 'reference of 1 genomes, 688 proteins'."""
    code, _, err = run_cli(["reference", "build", f"{MPN_GFF},{MPN_FNA}", "-o", tmp_path / "ref"])
    assert code == 0, err
    assert f"info: reference of 1 genome, 688 proteins written to {tmp_path / 'ref'}" in err.splitlines()


def test_genes_sharing_a_protein_share_one_search_with_the_same_hits(ribosomal_pairs, mpn_reference):
    """Identical proteins are searched once: every gene gets exactly the hits of a search of its own, and the
    progress still counts genes."""
    from dataclasses import replace

    from microfuse_cli.comparative import search_homologs

    genes = [g for p in ribosomal_pairs for g in (p.gene_a, p.gene_b)]
    copy = replace(genes[0], id="copy_of_" + genes[0].id, start=genes[0].start + 1)  # a duplicated gene
    advanced = []
    together = search_homologs([*genes, copy], mpn_reference, progress=advanced.append)
    assert sum(advanced) == len({g.id for g in genes}) + 1
    assert together.searched == (*dict.fromkeys(g.id for g in genes), copy.id)
    assert together.hits[copy.id] == together.hits[genes[0].id] and together.hits[copy.id]
    for gene in (genes[0], genes[5], copy):  # one query per call: the search before identical proteins were merged
        alone = search_homologs([gene], mpn_reference)
        assert alone.hits[gene.id] == together.hits[gene.id]

def test_cli_reference_build_from_stdin_names_it_stdin(tmp_path):
    """A genome read from stdin (`-`) is named "stdin" in the reference, as pairs and score name it (was '-')."""
    import gzip

    ref = tmp_path / "ref"
    code, _, err = run_cli(["reference", "build", "-", "-o", ref, "-q"], stdin=gzip.decompress(MGE_FNA.read_bytes()))
    assert code == 0, err
    manifest = json.loads((ref / "manifest.json").read_text())
    assert [g["name"] for g in manifest["genomes"]] == ["stdin"], manifest["genomes"]


def test_reference_build_refuses_two_files_of_one_name_before_reading_any(tmp_path):
    """Per-sample folders often hold files of one name (s1/genomic.gbff.gz, s2/genomic.gbff.gz): `reference build`
    read and gene-called every genome, then refused them; it now refuses before reading, naming the file name."""
    import shutil

    mg = PANEL / "GCF_000027325.1_ASM2732v1_genomic"
    for sample in ("s1", "s2"):
        (tmp_path / sample).mkdir()
        shutil.copyfile(f"{mg}.gff.gz", tmp_path / sample / "genomic.gff.gz")
    code, _, err = run_cli(["reference", "build", f"{tmp_path / 's1' / 'genomic.gff.gz'},{mg}.fna.gz",
                            f"{tmp_path / 's2' / 'genomic.gff.gz'},{mg}.fna.gz", "-o", tmp_path / "ref"])
    assert code == 2 and err.splitlines() == [
        "error: two GENOME files share the file name genomic.gff.gz; reference genomes are named after their files "
        "(link or copy one under another name)"], err
    assert not (tmp_path / "ref").exists()
