"""Shared fixtures: the real data in ../shared/data (CI has it beside the clone)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("MICROFUSE_SHARED_DATA", ROOT.parent / "shared" / "data"))
ECOLI = SHARED / "ecoli_k12_mg1655"
ECOLI_GFF = ECOLI / "GCF_000005845.2_ASM584v2_genomic.gff.gz"
ECOLI_FNA = ECOLI / "GCF_000005845.2_ASM584v2_genomic.fna.gz"
ECOLI_ODB = ECOLI / "odb4_known_operons_ecoli.tsv"
ECOLI_PAIRS = ECOLI / "labelled_pairs_ecoli.csv"
MPN = SHARED / "mpneumoniae_m129"
MPN_GFF = MPN / "GCF_000027345.1_ASM2734v1_genomic.gff.gz"
MPN_FNA = MPN / "GCF_000027345.1_ASM2734v1_genomic.fna.gz"
MPN_PAIRS = MPN / "labelled_pairs_mpneumoniae.csv"
PANEL = SHARED / "panel"


def pyrodigal_data(name: str) -> Path:
    import pyrodigal

    return Path(pyrodigal.__file__).parent / "tests" / "data" / name


def pytest_configure(config):
    import torch

    torch.set_num_threads(1)  # two shared cores: more threads than that slows training tests many-fold
    if not ECOLI_GFF.exists():
        raise pytest.UsageError(f"the shared data is missing: {SHARED} (set MICROFUSE_SHARED_DATA)")


@pytest.fixture(scope="session")
def ecoli_genome():
    from microfuse_cli.genome import read_genome

    return read_genome(ECOLI_GFF, ECOLI_FNA)


@pytest.fixture(scope="session")
def ecoli_pairs(ecoli_genome):
    from microfuse_cli.io.tables import read_operon_table
    from microfuse_cli.pairs import adjacent_pairs, label_with_operons

    labelled, _ = label_with_operons(ecoli_genome, adjacent_pairs(ecoli_genome), read_operon_table(ECOLI_ODB))
    return labelled


def run_cli(args, stdin: bytes | None = None):
    """Run microfuse in-process through click's CliRunner; returns (exit_code, stdout, stderr)."""
    from click.testing import CliRunner

    from microfuse_cli.cli import main

    runner = CliRunner()
    holder = {}

    def invoke():
        holder["code"] = main([str(a) for a in args])

    import click

    @click.command()
    def wrapper():
        invoke()

    result = runner.invoke(wrapper, [], input=stdin, catch_exceptions=False)
    return holder.get("code", result.exit_code), result.stdout, result.stderr
