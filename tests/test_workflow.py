"""examples/workflow/Snakefile end to end with snakemake (a test extra) on four real genomes: an annotated
E. coli K-12 (GFF + separate FASTA) and three bare assemblies whose genes pyrodigal calls, M. genitalium among
them (genetic code 4, which microfuse detects when the workflow does not set a code)."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import ECOLI_FNA, ECOLI_GFF, ROOT, pyrodigal_data, run_cli

SNAKEFILE = ROOT / "examples" / "workflow" / "Snakefile"
SAMPLES = ("ecoli", "kk037166", "mgenitalium", "nctc11397")
# KK037166 is a draft with two 100+ N gaps: the two neighbour pairs across them are no pairs (17 before);
# M. genitalium's 527 genes called with code 4 (with code 11, TGA cuts them into 995)
PAIRS = {"ecoli": 4288, "kk037166": 15, "mgenitalium": 526, "nctc11397": 102}


def table_lines(path: Path) -> list[str]:
    """A TSV's header and rows, without the '#' provenance lines above them."""
    return [line for line in path.read_text().splitlines() if not line.startswith("#")]


def snakemake(work: Path, *args: str) -> subprocess.CompletedProcess:
    import snakemake as _  # noqa: F401  (a test extra: an ImportError here fails the test, it never skips)

    command = [sys.executable, "-m", "snakemake", "-s", str(SNAKEFILE), "--directory", str(work), "--cores", "2",
               "--configfile", str(work / "config.yaml"), *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, f"snakemake failed:\n{result.stdout[-4000:]}\n{result.stderr[-8000:]}"
    return result


def snapshot(out: Path) -> dict[str, tuple[str, int]]:
    """sha256 and mtime of every output file (logs and snakemake's own markers left out)."""
    files = {}
    for path in sorted(out.rglob("*")):
        rel = path.relative_to(out)
        if path.is_file() and rel.parts[0] != "logs" and path.name != ".snakemake_timestamp":
            files[str(rel)] = (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
    return files


@pytest.fixture(scope="module")
def workflow(tmp_path_factory):
    work = tmp_path_factory.mktemp("workflow")
    rows = [("ecoli", ECOLI_GFF, ECOLI_FNA, "11"), ("kk037166", pyrodigal_data("KK037166.fna.gz"), "", ""),
            ("mgenitalium", ROOT / "examples" / "data" / "mgenitalium_g37.fna.gz", "", ""),
            ("nctc11397", pyrodigal_data("GCF_001457455.1_NCTC11397_genomic_100kb.fna.gz"), "", "")]
    (work / "samples.tsv").write_text("sample\tpath\tfasta\tgenetic_code\n"
                                      + "".join("\t".join(map(str, row)) + "\n" for row in rows))
    # batch_size 2: ecoli's code is set (-g 11), the others' microfuse's own: one embed job with a single genome
    # (ecoli), one with two (kk037166, mgenitalium) and one with a single genome again (nctc11397)
    (work / "config.yaml").write_text(json.dumps({
        "samples": "samples.tsv", "outdir": "out", "microfuse": f"{sys.executable} -m microfuse_cli",
        "batch_size": 2, "analogs_k": 5, "device": {"embed": "cpu", "score": "cpu", "index": "cpu"},
        "threads": {"pairs": 1, "embed": 1, "score": 1, "index": 1},
    }))
    snakemake(work)
    return work


def test_workflow_merges_every_sample(workflow):
    out = workflow / "out"
    assert sorted(p.name for p in (out / "embeddings").iterdir()) == ["auto-00000", "auto-00001", "g11-00000"]
    assert (out / "embeddings" / "g11-00000" / "ecoli" / "manifest.json").is_file()
    assert sorted(p.name for p in (out / "embeddings" / "auto-00000").iterdir() if p.is_dir()) == \
        ["kk037166", "mgenitalium"]
    assert (out / "embeddings" / "auto-00001" / "nctc11397" / "manifest.json").is_file()
    assert not (out / "staged").exists() or not any((out / "staged").iterdir()), "staged copies are temporary"

    lines = (out / "operons.tsv").read_text().splitlines()
    provenance = [line for line in lines if line.startswith("#")]
    assert lines[:len(provenance)] == provenance, "the samples' provenance lines come first"
    lines = lines[len(provenance):]
    header, rows = lines[0].split("\t"), [line.split("\t") for line in lines[1:]]
    own_header = table_lines(out / "genomes" / "ecoli" / "operons.tsv")[0].split("\t")
    assert header == ["sample", *own_header]
    samples = [row[0] for row in rows]
    assert set(samples) == set(SAMPLES) and samples == sorted(samples), "rows of all samples, in sample order"
    for sample in SAMPLES:
        own_lines = (out / "genomes" / sample / "operons.tsv").read_text().splitlines()
        own = table_lines(out / "genomes" / sample / "operons.tsv")[1:]
        assert [f"#sample={sample} {line[1:]}" for line in own_lines if line.startswith("#")] == \
            [line for line in provenance if line.startswith(f"#sample={sample} ")]
        assert f"#sample={sample} microfuse " in "\n".join(provenance)
        assert ["\t".join(row[1:]) for row in rows if row[0] == sample] == own
    assert samples.count("ecoli") > 300

    manifest = json.loads((out / "index" / "manifest.json").read_text())
    assert manifest["count"] == sum(PAIRS.values()) and manifest["group_by"] == "genome"
    for sample, n in PAIRS.items():
        ids = table_lines(out / "genomes" / sample / "fused.ids.tsv")[1:]
        assert len(ids) == n and all(line.startswith(f"{sample}:") and line.split("\t")[2] == sample for line in ids)


def test_a_bare_mycoplasma_assembly_is_called_with_the_code_microfuse_detects(workflow):
    """The workflow passes -g only for a code the user set: with the config's old default (-g 11 for every
    sample) M. genitalium's genes were called with code 11, cut at every TGA (Trp in code 4) into 995 fragments,
    and the detection that picks code 4 never ran."""
    out = workflow / "out"
    pairs_log = (out / "logs" / "pairs" / "mgenitalium.log").read_text()
    embed_log = (out / "logs" / "embed" / "auto-00000.log").read_text()
    assert "genetic code 4 detected" in pairs_log and "genetic code 4 detected" in embed_log
    assert len(table_lines(out / "genomes" / "mgenitalium" / "pairs.tsv")) == 1 + PAIRS["mgenitalium"]
    assert "transl_table" not in (out / "logs" / "pairs" / "ecoli.log").read_text()


def test_retrieval_finds_neighbours_in_other_genomes_only(workflow):
    out = workflow / "out"
    code, text, err = run_cli(["retrieve", "--index", out / "index", "--k", "5",
                               out / "genomes" / "kk037166" / "fused.npy"])
    assert code == 0, err
    rows = [dict(zip(text.splitlines()[0].split("\t"), line.split("\t"))) for line in text.splitlines()[1:]]
    assert len(rows) == 5 * PAIRS["kk037166"]
    assert {r["target_genome"] for r in rows} <= set(SAMPLES) - {"kk037166"}
    assert all(r["query"].startswith("kk037166:") for r in rows)

    lines = (out / "analogs.tsv").read_text().splitlines()
    analogs = [dict(zip(lines[0].split("\t"), line.split("\t"))) for line in lines[1:]]
    assert len(analogs) == 5 * sum(PAIRS.values())
    assert all(a["query"].split(":", 1)[0] != a["target_genome"] for a in analogs)
    assert {a["target_genome"] for a in analogs} == set(SAMPLES)


def test_second_run_is_a_no_op_and_reruns_are_byte_identical(workflow):
    out = workflow / "out"
    before = snapshot(out)
    result = snakemake(workflow)
    assert "Nothing to be done" in result.stdout + result.stderr
    assert snapshot(out) == before

    # Redo one embedding batch and everything downstream of it: same bytes (only mtimes move).
    result = snakemake(workflow, "--forcerun", "out/embeddings/auto-00001")
    assert "rule index" in result.stdout + result.stderr
    after = snapshot(out)
    assert after.keys() == before.keys()
    assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in before.items()}
    assert after["index/index.faiss"][1] > before["index/index.faiss"][1], "the index was rebuilt"


@pytest.mark.parametrize("batch_residues", [None, 32000])
def test_embed_passes_batch_residues_only_when_set(tmp_path, batch_residues):
    """config.yaml's batch_residues: 4000 went to every `embed` job as --batch-residues 4000, so once the option
    reached ESM-2 the workflow ran it in batches of 4,000 on a GPU (a third of the tokens/s of its own 32,000 there)
    and on the CPU (half its 8,000). Left empty, the default, each model keeps its own; a number is passed on."""
    (tmp_path / "samples.tsv").write_text(
        f"sample\tpath\tfasta\tgenetic_code\nmg\t{ROOT / 'examples' / 'data' / 'mgenitalium_g37.fna.gz'}\t\t\n")
    settings = {"samples": "samples.tsv", "outdir": "out", "microfuse": "microfuse"}
    if batch_residues is not None:
        settings["batch_residues"] = batch_residues
    (tmp_path / "config.yaml").write_text(json.dumps(settings))
    printed = snakemake(tmp_path, "--dry-run", "--printshellcmds").stdout
    embed = [line for line in printed.splitlines() if "microfuse embed " in line]
    assert embed, printed[-4000:]
    if batch_residues is None:
        assert "--batch-residues" not in embed[0], embed[0]
    else:
        assert f"--batch-residues {batch_residues}" in embed[0], embed[0]
