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
MG_G37 = PANEL / "GCF_000027325.1_ASM2732v1_genomic"  # Mycoplasma genitalium G37: 476 genes, small


def pyrodigal_data(name: str) -> Path:
    import pyrodigal

    return Path(pyrodigal.__file__).parent / "tests" / "data" / name


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config):
    """`-n auto` (pyproject's addopts): at most two workers, CI's two cores. Each worker builds the session fixtures
    again and holds its own torch, and its tests run torch on one thread, so more workers than cores only compete;
    one core runs in-process (0). PYTEST_XDIST_AUTO_NUM_WORKERS still sets the number outright."""
    if os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS"):
        return int(os.environ["PYTEST_XDIST_AUTO_NUM_WORKERS"])
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return 2 if cores >= 2 else 0


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


@pytest.fixture(scope="session")
def mg_embedded(tmp_path_factory):
    """`microfuse embed` of M. genitalium G37 (builtin views), run once for the session: the folder is the same bytes
    wherever it is written, so module fixtures copy it (no test writes into this one) instead of embedding again."""
    out = tmp_path_factory.mktemp("mg_embedded") / "emb"
    code, _, err = run_cli(["embed", f"{MG_G37}.gff.gz", "--fasta", f"{MG_G37}.fna.gz", "-o", out])
    assert code == 0, err
    return out


@pytest.fixture(scope="session")
def ecoli_scored(tmp_path_factory):
    """`microfuse score` of E. coli K-12 (annotation + FASTA) with the default model, -t 2: scores.tsv,
    operons.tsv and report.html, from one CLI run for the session (several modules read them; none writes)."""
    folder = tmp_path_factory.mktemp("ecoli_scored")
    code, _, err = run_cli(["score", ECOLI_GFF, "--fasta", ECOLI_FNA, "-o", folder / "scores.tsv", "--operons-tsv",
                            folder / "operons.tsv", "--report", folder / "report.html", "-t", "2"])
    assert code == 0, err
    return folder


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


def as_a_plain_user() -> list[str]:
    """The command prefix that runs a subprocess without root's file-access overrides (CAP_DAC_OVERRIDE,
    CAP_DAC_READ_SEARCH), so a mode-000 file or folder is refused to it as to any other user: setpriv (util-linux),
    dropping them from the bounding and inheritable sets (an inheritable set left full, as some container runtimes
    give root, kept them across the exec); none for another user. Root without setpriv fails the test, never skips
    it: CI runs as root."""
    import shutil

    if os.geteuid() != 0:
        return []
    if shutil.which("setpriv") is None:
        pytest.fail("setpriv (util-linux) is needed to run this check without root's file-access overrides")
    return ["setpriv", "--bounding-set=-dac_override,-dac_read_search", "--inh-caps=-all"]


def genome_sequence(fna_gz: Path) -> str:
    """The first record of a gzipped FASTA, as one upper-case string."""
    import gzip

    return "".join(gzip.decompress(fna_gz.read_bytes()).decode().split(">")[1].split("\n", 1)[1].split()).upper()


def reverse_complement(sequence: str) -> str:
    return sequence[::-1].translate(str.maketrans("ACGTN", "TGCAN"))


def draft_contigs(sequence: str, min_length: int, max_length: int, *, seed: int = 0,
                  prefix: str = "k141_") -> list[tuple[str, str, str]]:
    """A real genome cut as an assembler leaves it: ``(id, description, sequence)`` contigs of random lengths
    in [min_length, max_length], about half reverse-complemented, in shuffled order, named MEGAHIT-style
    (``k141_7 flag=1 multi=3.0 len=5000``)."""
    import random

    rng, pieces, start = random.Random(seed), [], 0
    while start < len(sequence):
        length = rng.randint(min_length, max_length)
        piece = sequence[start:start + length]
        pieces.append(reverse_complement(piece) if rng.random() < 0.5 else piece)
        start += length
    rng.shuffle(pieces)
    return [(f"{prefix}{i}", f"flag=1 multi={rng.uniform(2, 40):.4f} len={len(p)}", p) for i, p in enumerate(pieces)]


def write_contigs(path: Path, contigs) -> Path:
    path.write_text("".join(f">{name} {description}\n{seq}\n" for name, description, seq in contigs))
    return path
