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
