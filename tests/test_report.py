"""`score --report`: one self-contained HTML page, checked for content and in a real headless browser."""

from __future__ import annotations

import base64
import io
import re
import shutil
import subprocess

import numpy as np
import pytest

from conftest import ROOT, run_cli

from microfuse_cli.figures import PALETTE

MG_GFF = ROOT / "examples" / "data" / "mgenitalium_g37.gff.gz"
MG_FNA = ROOT / "examples" / "data" / "mgenitalium_g37.fna.gz"
#: Operon colours of figures.PALETTE as RGB: a page whose figures rendered shows plenty of them.
ORANGE, SKY_BLUE = (0xE6, 0x9F, 0x00), (0x56, 0xB4, 0xE9)  # PALETTE[0], PALETTE[1]


def browser() -> str:
    """Chromium's path; a missing browser fails the test (.ci/run installs it as root)."""
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if path is None:
        pytest.fail("chromium is not installed (apt-get install chromium; .ci/run does it as root)")
    return path


def headless(path, tmp_path, page, *args) -> str:
    """Run headless Chromium on ``page`` with console logging on stderr; returns stderr."""
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"
    command = [path, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
               "--enable-logging=stderr", "--v=0", *args, page.as_uri()]
    result = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-2000:]
    return result.stderr


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line or "Uncaught" in line]


def images(page: str) -> list[np.ndarray]:
    from matplotlib.image import imread

    return [imread(io.BytesIO(base64.b64decode(data)), format="png")
            for data in re.findall(r'src="data:image/png;base64,([^"]+)"', page)]


@pytest.fixture(scope="module")
def mg_report(tmp_path_factory):
    folder = tmp_path_factory.mktemp("report")
    report, operons = folder / "mg.html", folder / "operons.tsv"
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-o", folder / "scores.tsv", "--report", report,
                            "--operons-tsv", operons, "--explain"])
    assert code == 0, err
    return report, operons


def test_report_is_self_contained_and_complete(mg_report):
    report, operons = mg_report
    page = report.read_text()
    assert not re.search(r"<script|<link|<iframe|@import|url\(", page, flags=re.IGNORECASE)
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//|file:)""", page, flags=re.IGNORECASE)
    called = [line for line in operons.read_text().splitlines() if not line.startswith("#")][1:]
    assert f"<h2>Operons ({len(called)})</h2>" in page
    for line in called[:5] + called[-5:]:  # each operon's row, with its probabilities
        cols = line.split("\t")
        assert f"<td>{cols[0]}</td><td>{cols[1]}</td><td>{int(cols[2]):,}</td>" in page
        assert f"<td>{cols[7]}</td><td>{cols[8]}</td></tr>" in page
    assert "<td>genes</td><td>476 (source=annotation genetic_code=4)</td>" in page  # as the outputs' '#genes' line
    fraction = float(re.search(r"operon fraction of same-strand neighbours</td><td>([\d.]+)<", page).group(1))
    assert 0.2 <= fraction <= 0.95
    # the cut-off the calls used: the one the scores TSV's header names
    header = next(line for line in (report.parent / "scores.tsv").read_text().splitlines()
                  if line.startswith("#calibration "))
    cutoff = int(re.search(r"cutoff_bp=(\d+)", header).group(1))
    assert f"spacer cut-off of the calls (the model's per-genome rule)</td><td>{cutoff:,} bp</td>" in page
    own = int(re.search(r"own_cutoff_bp=(\d+)", header).group(1))
    assert f"the genome's own cut-off (its posterior falls below 0.5)</td><td>{own:,} bp</td>" in page
    assert "<td>threshold</td><td>0.5000</td>" in page and "<td>microfuse</td><td>0.1.0</td>" in page
    # which model and which rule made the calls: the identities the scores TSV's header names, the rule spelled out
    made_by = dict(word.split("=", 1) for word in (report.parent / "scores.tsv").read_text().split("\n", 1)[0].split()
                   if "=" in word)
    assert f"<td>model_id</td><td>{made_by['model_id']}</td>" in page
    assert f"<td>decision_id</td><td>{made_by['decision_id']}</td>" in page
    assert re.search(r"<td>decision rule</td><td>own_weight 1, .*posterior_threshold 0.35, own_interval 0.9</td>", page)
    figures = images(page)
    assert len(figures) == 3 + 6  # sizes, probabilities, spacers; 3 largest operons + 3 least certain calls
    assert all(f.shape[1] == 11 * 80 for f in figures[3:])  # region figures at the report's 80 dpi
    largest = max(len(line.split("\t")[6].split(",")) for line in called)
    assert f"{largest} genes, mean p" in page


def test_report_in_headless_chromium(mg_report, tmp_path):
    from matplotlib.image import imread

    path = browser()
    report, _ = mg_report
    # the console check itself: a page with an error is caught the same way
    bad = tmp_path / "bad.html"
    bad.write_text("<!DOCTYPE html><html><body><script>undefined_function();</script></body></html>")
    assert console_errors(headless(path, tmp_path, bad, "--dump-dom"))
    assert console_errors(headless(path, tmp_path, report, "--dump-dom")) == []
    shot = tmp_path / "shot.png"
    headless(path, tmp_path, report, f"--screenshot={shot}", "--window-size=1200,2600")
    pixels = (imread(shot)[:, :, :3] * 255).round().astype(int)
    assert pixels.shape[:2] == (2600, 1200)

    def count(colour) -> int:
        return int((np.abs(pixels - np.array(colour)).max(axis=2) <= 8).sum())

    # operon sizes (orange bars) and region figures (operons in the palette's other colours; blue #0072B2 also
    # draws the calibration curves) were drawn
    others = sum(count(tuple(int(c[i:i + 2], 16) for i in (1, 3, 5))) for c in PALETTE[1:] if c != "#0072B2")
    assert count(ORANGE) > 2000 and others > 2000 and count(SKY_BLUE) > 0


def test_ecoli_report_shows_the_thr_operon_among_its_operons(ecoli_scored):
    # the session's `score ECOLI_GFF --fasta ECOLI_FNA -o scores.tsv --report report.html -t 2` (and --operons-tsv)
    page = (ecoli_scored / "report.html").read_text()
    assert "<td>thrL, thrA, thrB, thrC</td>" in page
    assert "<td>sequences</td><td>1 (1 circular)</td>" in page
    assert len(images(page)) == 9


def test_report_refuses_to_overwrite_an_input(tmp_path):
    before = MG_FNA.read_bytes()
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "s.tsv", "--report", MG_FNA])
    assert code == 2 and "--report" in err and "is also an input" in err
    assert MG_FNA.read_bytes() == before


def test_report_without_the_plotting_extra_fails_before_any_work(tmp_path, monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "dna_features_viewer", None)  # as if not installed
    scores = tmp_path / "s.tsv"
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-o", scores, "--report", tmp_path / "r.html"])
    assert code == 2 and err.strip() == "error: figures need the plotting extra: pip install 'microfuse-cli[plots]'"
    assert not scores.exists()


def test_report_with_bins_draws_each_bins_own_calibration(tmp_path):
    """`score --bins --report` on a two-genome assembly (M. genitalium + M. pneumoniae, one bin each): besides the
    whole input's mixture, one spacer figure per bin, each with the cut-off that bin's calls used (the scores TSV
    header's)."""
    import gzip

    from Bio import SeqIO

    from conftest import MPN_FNA, PANEL

    mixed = tmp_path / "mix.fna.gz"
    with gzip.open(mixed, "wb") as out:
        for path in (PANEL / "GCF_000027325.1_ASM2732v1_genomic.fna.gz", MPN_FNA):
            out.write(gzip.open(path).read())
    with gzip.open(mixed, "rt") as handle:  # the sequence ids alone: no gene calling just to name the two bins
        scaffolds = [record.id for record in SeqIO.parse(handle, "fasta")]
    assert len(scaffolds) == 2
    bins = tmp_path / "bins.tsv"
    bins.write_text("".join(f"{sid}\tbin{i}\n" for i, sid in enumerate(scaffolds)))
    report, scores = tmp_path / "binned.html", tmp_path / "scores.tsv"
    code, _, err = run_cli(["score", mixed, "-g", "4", "--bins", bins, "-o", scores, "--report", report, "-q"])
    assert code == 0, err
    page = report.read_text()
    cutoffs = dict(re.findall(r"#calibration bin=(\S+) .*?cutoff_bp=(\d+)", scores.read_text()))
    assert sorted(cutoffs) == ["bin0", "bin1"]
    for name, cutoff in cutoffs.items():
        fraction = float(re.search(rf"<td>bin {name}: operon fraction / cut-off</td><td>([\d.]+) /", page).group(1))
        assert f"Bin {name}: operon fraction {fraction:.3f}, cut-off of its calls {int(cutoff):,} bp" in page
    assert "fitted mixture (the whole input)" in page
    assert len(images(page)) == 3 + 2 + 6  # sizes, probabilities, whole-input spacers; one per bin; regions


def test_report_of_a_piped_genome_is_titled_with_its_genome_name(tmp_path):
    """`zcat genome.gff.gz | microfuse score - --genome-name NAME --report r.html`, as a workflow runs it: the page
    was titled 'microfuse: stdin' whatever --genome-name said, so every genome's report had one title."""
    import gzip

    report = tmp_path / "report.html"
    code, _, err = run_cli(["score", "-", "--fasta", MG_FNA, "--genome-name", "M genitalium & G37", "--report",
                            report, "-o", tmp_path / "scores.tsv", "-q"], stdin=gzip.decompress(MG_GFF.read_bytes()))
    assert code == 0, err
    page = report.read_text()
    assert "<title>microfuse: M genitalium &amp; G37</title>" in page
    assert "<p>M genitalium &amp; G37</p>" in page and "stdin" not in page


def test_report_of_a_genome_name_that_is_not_utf8_is_written(tmp_path):
    """--genome-name bytes that are not UTF-8 (argv decodes them as surrogates) are shown as U+FFFD on the page, as
    in every other output: the UTF-8 page failed with an internal UnicodeEncodeError and no output was written."""
    report = tmp_path / "report.html"
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "--genome-name", "g\udcffx", "--report", report,
                            "-o", tmp_path / "scores.tsv", "-q"])
    assert code == 0, err
    assert "<title>microfuse: g\ufffdx</title>" in report.read_text(encoding="utf-8")
