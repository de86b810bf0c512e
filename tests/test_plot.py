"""`microfuse plot` and microfuse_cli.figures: what each region figure places, and the image files."""

from __future__ import annotations

import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import PANEL, ROOT, run_cli
from microfuse_cli.genome import read_genome
from test_gene_models import MG_LENGTH, write_rotated

MG_GFF = ROOT / "examples" / "data" / "mgenitalium_g37.gff.gz"
MG_FNA = ROOT / "examples" / "data" / "mgenitalium_g37.fna.gz"
MJ_GFF = PANEL / "GCF_000091665.1_ASM9166v1_genomic.gff.gz"
MJ_FNA = PANEL / "GCF_000091665.1_ASM9166v1_genomic.fna.gz"


def png_size(path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return struct.unpack(">II", head[16:24])


def score(tmp_path, *args) -> object:
    out = tmp_path / "scores.tsv"
    code, _, err = run_cli(["score", *args, "-o", out])
    assert code == 0, err
    return out


@pytest.fixture(scope="module")
def mg_scores(tmp_path_factory):
    folder = tmp_path_factory.mktemp("mg")
    return score(folder, MG_GFF, "--fasta", MG_FNA, "--explain", "--operons-tsv", folder / "operons.tsv")


def test_operons_are_those_score_wrote(mg_scores, mg_scored):
    lines = [line for line in (mg_scores.parent / "operons.tsv").read_text().splitlines() if line[:1] != "#"][1:]
    written = [(cols[0], cols[6]) for cols in (line.split("\t") for line in lines)]
    assert written == [(op.id, ",".join(op.genes)) for op in mg_scored.operons] and len(written) > 50
    from microfuse_cli.score import default_threshold, load_model

    assert mg_scored.threshold == default_threshold(load_model(None))  # the default model's, which made these calls


@pytest.fixture(scope="module")
def mg_scored(mg_scores):
    from microfuse_cli.figures import load_scored

    return load_scored(mg_scores, read_genome(MG_GFF, MG_FNA))


def test_cli_draws_png_of_an_operon_and_a_gene(mg_scores, tmp_path):
    out = tmp_path / "fig.png"
    code, _, err = run_cli(["plot", mg_scores, MG_GFF, "--fasta", MG_FNA, "-o", out, "--operon", "operon_2",
                            "--gene", "gyrA", "--dpi", "40"])
    assert code == 0, err
    assert png_size(out) == (11 * 40, round(2 * 3.3 * 40))  # two regions, each with its router-weight track
    assert "2 region(s)" in err


def test_operon_region_places_its_genes_pairs_and_threshold(mg_scored):
    from microfuse_cli.figures import draw_regions, operon_region, region_view

    operon = next(op for op in mg_scored.operons if op.id == "operon_2")
    assert operon.genes[:2] == ("MG_003", "MG_004")
    view = region_view(mg_scored, operon_region(mg_scored, "operon_2", 1000))
    assert (view.region.start, view.region.end) == (operon.start - 1000, operon.end + 1000)
    placed = {g.id: g for g in view.genes}
    assert {placed[g].operon for g in operon.genes} == {"operon_2"}
    assert placed["MG_003"].label == "gyrB" and placed["MG_004"].label == "gyrA"
    assert all(view.region.start <= g.end and g.start <= view.region.end for g in view.genes)
    inside = [p for p in view.pairs if set(p.pair_id.split("|")) <= set(operon.genes)]
    assert len(inside) == len(operon.genes) - 1 and all(p.called for p in inside)
    assert all(operon.start < p.x < operon.end and p.probability >= view.threshold for p in inside)
    assert [p.probability for p in inside] == pytest.approx(operon.probabilities)
    assert all(p.spacer_posterior is not None and p.router_weights is not None for p in view.pairs)
    fig = draw_regions([view])
    texts = {t.get_text() for ax in fig.axes for t in ax.texts}
    assert {"gyrA", "gyrB"} <= texts and any(t.startswith("operon_2 (") for t in texts)
    legend = [t.get_text() for t in fig.axes[1].get_legend().get_texts()]
    assert f"threshold {view.threshold:.3f}" in legend and "spacer posterior" in legend
    assert fig.axes[1].get_xlim() == pytest.approx((view.region.start - 0.5, view.region.end + 0.5))


def test_region_across_the_origin_svg_and_pdf(tmp_path):
    from microfuse_cli.figures import load_scored, parse_region, region_view

    gff = write_rotated(tmp_path, "circular")
    scores = score(tmp_path, gff)
    scored = load_scored(scores, read_genome(gff))
    view = region_view(scored, parse_region(f"NC_000908.2:{MG_LENGTH - 3000}-4000", scored.genome))
    assert view.region.end == MG_LENGTH + 4000
    mg001 = next(g for g in view.genes if g.id == "MG_001")
    assert mg001.start <= MG_LENGTH < mg001.end  # the gene across the origin, drawn in one piece
    across = [op for op in view.operons if op.start <= MG_LENGTH < op.end]
    assert len(across) == 1 and mg001.operon == across[0].id
    assert {g.id for g in view.genes} >= {"MG_001", "MG_002"}
    for suffix, magic in ((".svg", b"<?xml"), (".pdf", b"%PDF")):
        out = tmp_path / f"origin{suffix}"
        code, _, err = run_cli(["plot", scores, gff, "-o", out, "--region", f"NC_000908.2:{MG_LENGTH - 3000}-4000"])
        assert code == 0, err
        assert out.read_bytes().startswith(magic)
    assert "(across the origin)" in (tmp_path / "origin.svg").read_text()


def test_multi_contig_assembly_keeps_each_region_on_its_sequence(tmp_path):
    from microfuse_cli.figures import load_scored, parse_region, region_view

    scores = score(tmp_path, MJ_GFF, "--fasta", MJ_FNA)
    genome = read_genome(MJ_GFF, MJ_FNA)
    scored = load_scored(scores, genome)
    plasmid = genome.scaffolds["NC_001733.1"]
    views = [region_view(scored, parse_region(text, genome)) for text in
             ("NC_000909.1:1-15000", f"NC_001733.1:1-{plasmid.length}")]
    for view in views:
        gene_ids = {g.id for g in genome.genes if g.scaffold == view.region.scaffold}
        assert view.genes and {g.id for g in view.genes} <= gene_ids
        assert all(set(p.pair_id.split("|")) <= gene_ids for p in view.pairs)
    assert len(views[1].genes) == sum(g.scaffold == "NC_001733.1" for g in genome.genes)
    out = tmp_path / "two.png"
    code, _, err = run_cli(["plot", scores, MJ_GFF, "--fasta", MJ_FNA, "-o", out, "--region", "NC_000909.1:1-15000",
                            "--region", "NC_001733.1:1-5000", "--dpi", "30"])
    assert code == 0, err
    assert png_size(out) == (11 * 30, round(2 * 3.3 * 30))


def test_ecoli_thr_operon(ecoli_scored, ecoli_genome):
    from microfuse_cli.figures import gene_region, load_scored, region_view

    # the session's `score ECOLI_GFF --fasta ECOLI_FNA -t 2` and its read of the same GFF + FASTA
    scored = load_scored(ecoli_scored / "scores.tsv", ecoli_genome)
    view = region_view(scored, gene_region(scored, "thrA", 2000))
    thr = {g.label: g.operon for g in view.genes if g.label in ("thrL", "thrA", "thrB", "thrC")}
    assert len(thr) == 4 and len(set(thr.values())) == 1 and None not in thr.values()
    assert view.region.end > scored.genome.scaffolds["NC_000913.3"].length  # thrA's flank reaches back past 1


@pytest.mark.parametrize("args, code, message", [
    (["-o", "{tmp}/x.jpg", "--gene", "gyrA"], 2, "give a figure path ending in .png, .svg or .pdf"),
    (["-o", "-", "--gene", "gyrA"], 2, "stdout: no .png, .svg or .pdf suffix to tell the figure's format; give "
                                       "--format png, svg or pdf"),
    (["-o", "/dev/stdout", "--gene", "gyrA"], 2, "/dev/stdout: no .png, .svg or .pdf suffix"),
    (["-o", "{tmp}/x", "--gene", "gyrA"], 2, "x: no .png, .svg or .pdf suffix to tell the figure's format"),
    (["-o", "{tmp}/x.png", "--format", "svg", "--gene", "gyrA"], 2,
     "x.png: a .png name for the --format svg figure; give a path ending in .svg, or leave --format out"),
    (["-o", "{tmp}/x.jpg", "--format", "png", "--gene", "gyrA"], 2, "x.jpg: a .jpg name for the --format png figure"),
    (["-o", "{tmp}/x.TIFF", "--format", "pdf", "--gene", "gyrA"], 2,
     "x.TIFF: a .tiff name for the --format pdf figure"),
    (["-o", "{tmp}/x.heif", "--format", "png", "--gene", "gyrA"], 2,  # an image type of Python's MIME table
     "x.heif: a .heif name for the --format png figure"),
    (["-o", "{tmp}/x.PPM", "--gene", "gyrA"], 2, "x.PPM: give a figure path ending in .png, .svg or .pdf\n"),
    (["-o", "{tmp}/x.v2", "--gene", "gyrA"], 2, "x.v2: give a figure path ending in .png, .svg or .pdf, or --format "
                                                "png, svg or pdf to keep the name x.v2"),
    (["-o", "{tmp}/x.svg.gz", "--format", "svg", "--gene", "gyrA"], 2, "a figure is not written compressed"),
    # without --format it was told 'give a figure path ending in .png, .svg or .pdf', which x.svg.gz seems to do
    (["-o", "{tmp}/x.svg.gz", "--gene", "gyrA"], 2, "x.svg.gz: a figure is not written compressed; give a path "
                                                    "without .gz\n"),
    (["-o", "{tmp}/x.png", "--format", "jpg", "--gene", "gyrA"], 2, "'jpg' is not one of 'png', 'svg', 'pdf'"),
    (["-o", "{tmp}/x.png"], 2, "give at least one --region, --gene or --operon"),
    # a gene, operon or sequence the genome and its scores lack is bad data (1), as a --pairs list's pairs that match
    # no gene and `evaluate --split` of a split the table lacks are: it was exit 2
    (["-o", "{tmp}/x.png", "--gene", "nosuchgene"], 1, "--gene nosuchgene: no gene"),
    (["-o", "{tmp}/x.png", "--operon", "operon_9999"], 1, "--operon operon_9999: no such operon"),
    (["-o", "{tmp}/x.png", "--region", "NC_000908.2:5000-100"], 2, "is linear"),
    (["-o", "{tmp}/x.png", "--region", "chrX:1-100"], 1, "no sequence 'chrX'"),
    # a region past the end of its sequence: the data lacks it, as a sequence it lacks (1); it was exit 2
    (["-o", "{tmp}/x.png", "--region", "NC_000908.2:900000-900100"], 1,
     "--region NC_000908.2:900000-900100: starts past the end of NC_000908.2 (580,076 bp); start must lie within "
     "1..580076\n"),
    (["-o", "{tmp}/x.png", "--region", "NC_000908.2:580000-580100"], 1, "ends past the end of NC_000908.2 (580,076 "
                                                                        "bp)\n"),
    (["-o", "{tmp}/x.png", "--region", "NC_000908.2:0-100"], 2, "positions are 1-based; start must lie within "
                                                                "1..580076\n"),
])
def test_plot_refusals(mg_scores, tmp_path, args, code, message):
    args = [a.format(tmp=tmp_path) for a in args]
    result, _, err = run_cli(["plot", mg_scores, MG_GFF, *args])
    assert result == code and message in err and "Traceback" not in err, err
    assert not list(tmp_path.glob("x.*"))


def test_a_suffix_of_another_format_never_replaces_the_file(mg_scores, tmp_path):
    """`-o fig.png --format svg`: refused before any work; the PNG there is left as it was, no temp file beside."""
    out = tmp_path / "fig.png"
    out.write_bytes(b"an earlier figure")
    code, _, err = run_cli(["plot", mg_scores, MG_GFF, "--fasta", MG_FNA, "-o", out, "--format", "svg", "--gene",
                            "gyrA"])
    assert code == 2 and "--format svg" in err and err.count("\n") == 1, err
    assert out.read_bytes() == b"an earlier figure" and [p.name for p in tmp_path.iterdir()] == ["fig.png"]


@pytest.mark.parametrize("fmt, magic", [("svg", b"<?xml"), ("png", b"\x89PNG\r\n\x1a\n"), ("pdf", b"%PDF-")])
def test_figure_to_stdout_through_a_pipe(mg_scores, tmp_path, fmt, magic):
    """`plot -o - --format svg | ...`, `-o /dev/stdout`: the figure's format came only from -o's suffix, so no
    figure could go into a pipe, a device or a FIFO (every other output can). With --format each gets the very
    bytes `-o fig.FMT` writes, and `| head` ends the run quietly; no file is left anywhere."""
    drawn = ["plot", str(mg_scores), str(MG_GFF), "--fasta", str(MG_FNA), "--gene", "gyrA", "--dpi", "40", "-q"]
    code, _, err = run_cli([*drawn, "-o", tmp_path / f"fig.{fmt}"])
    assert code == 0, err
    expected = (tmp_path / f"fig.{fmt}").read_bytes()
    assert expected.startswith(magic)
    microfuse = Path(sys.executable).parent / "microfuse"
    for target in ("-", "/dev/stdout"):
        proc = subprocess.run([str(microfuse), *drawn, "-o", target, "--format", fmt.upper() if target == "-" else fmt],
                              capture_output=True, timeout=120, cwd=tmp_path)
        assert proc.returncode == 0 and proc.stdout == expected, proc.stderr
    proc = subprocess.run(["bash", "-c", '"$@" -o - --format ' + fmt + " | head -c 8; exit ${PIPESTATUS[0]}",
                           "-", str(microfuse), *drawn], capture_output=True, timeout=120, cwd=tmp_path)
    assert proc.returncode in (0, 141) and proc.stdout == expected[:8] and proc.stderr == b"", proc.stderr
    fifo = tmp_path / "fig.fifo"
    os.mkfifo(fifo)
    reader = subprocess.Popen(["cat", str(fifo)], stdout=subprocess.PIPE)
    code, _, err = run_cli([*drawn, "-o", fifo, "--format", fmt])
    assert code == 0 and reader.communicate(timeout=60)[0] == expected, err
    code, _, err = run_cli([*drawn, "-o", os.devnull, "--format", fmt])
    assert code == 0 and Path(os.devnull).is_char_device(), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fig.fifo", f"fig.{fmt}"]


@pytest.mark.parametrize("fmt, refused, target", [("png", True, "-"), ("pdf", True, "/dev/fd/1"), ("svg", False, "-")])
def test_a_binary_figure_is_not_written_onto_a_terminal(mg_scores, tmp_path, fmt, refused, target):
    """`plot -o - --format png` with stdout on a terminal printed the PNG's bytes onto the screen (exit 0); like
    gzip, a binary figure is refused there (exit 2, nothing written), while SVG, which is text, is still shown.
    Stdout by another name (/dev/fd/1) is the same terminal."""
    import pty
    main, terminal = pty.openpty()
    microfuse = Path(sys.executable).parent / "microfuse"
    proc = subprocess.Popen([str(microfuse), "plot", str(mg_scores), str(MG_GFF), "--fasta", str(MG_FNA), "--gene",
                             "gyrA", "--dpi", "30", "-q", "-o", target, "--format", fmt], stdout=terminal,
                            stderr=subprocess.PIPE, cwd=tmp_path)
    os.close(terminal)
    shown = b""
    try:
        while chunk := os.read(main, 65536):  # read as it comes: a terminal holds only a few KiB
            shown += chunk
    except OSError:  # EIO: the run closed its end of the terminal
        pass
    finally:
        os.close(main)
    proc.stderr = proc.stderr.read()
    proc.wait(timeout=120)
    if refused:
        assert proc.returncode == 2 and shown == b"", proc.stderr
        assert proc.stderr.decode().startswith(f"error: a {fmt.upper()} figure is binary"), proc.stderr
    else:
        assert proc.returncode == 0 and b"<svg" in shown, proc.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_binary_figure_to_a_closed_stdout_is_one_line(mg_scores, tmp_path):
    """`plot -o - --format png >&-`: the terminal check asked a closed stdout (None) whether it is a terminal and
    died with an internal error; the closed stdout is refused first, as for every output."""
    microfuse = Path(sys.executable).parent / "microfuse"
    proc = subprocess.run(["bash", "-c", '"$@" >&-', "-", str(microfuse), "plot", str(mg_scores), str(MG_GFF),
                           "--fasta", str(MG_FNA), "--gene", "gyrA", "-q", "-o", "-", "--format", "png"],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert (proc.returncode, proc.stderr) == (2, "error: stdout is closed; give -o FILE\n")
    assert list(tmp_path.iterdir()) == []


def test_format_names_a_file_without_a_suffix(mg_scores, tmp_path):
    """A name without a suffix (`-o gyrA --format svg`) is written in the format asked for; a FIG.PNG suffix is
    read case-blind, and --format png agrees with it."""
    for name, fmt, magic in (("gyrA", "svg", b"<?xml"), ("GYRA.PNG", "png", b"\x89PNG")):
        code, _, err = run_cli(["plot", mg_scores, MG_GFF, "--fasta", MG_FNA, "--gene", "gyrA", "--dpi", "30",
                                "-o", tmp_path / name, "--format", fmt])
        assert code == 0, err
        assert (tmp_path / name).read_bytes().startswith(magic)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["GYRA.PNG", "gyrA"]


def test_format_keeps_a_suffix_that_names_no_image_format(mg_scores, tmp_path):
    """`-o gyrA_v1.2 --format png` was refused as a '.2 name for the --format png figure': with --format, a suffix
    that is neither an image format nor .gz/.bz2/.xz is part of the name, written as given."""
    code, _, err = run_cli(["plot", mg_scores, MG_GFF, "--fasta", MG_FNA, "--gene", "gyrA", "--dpi", "30",
                            "-o", tmp_path / "gyrA_v1.2", "--format", "png"])
    assert code == 0, err
    assert [p.name for p in tmp_path.iterdir()] == ["gyrA_v1.2"]
    assert (tmp_path / "gyrA_v1.2").read_bytes().startswith(b"\x89PNG")


def test_image_suffixes_without_the_plotting_extra_is_one_line(monkeypatch):
    """The image formats come from matplotlib (figures.image_suffixes): asked for where matplotlib is missing, the
    plotting extra's one-line message, not an ImportError."""
    from microfuse_cli.errors import UsageError
    from microfuse_cli.figures import check_figure_path, image_suffixes

    image_suffixes.cache_clear()
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as if not installed
    with pytest.raises(UsageError, match=r"^figures need the plotting extra: pip install 'microfuse-cli\[plots\]'$"):
        check_figure_path("gyrA_v1.2", "png")
    assert check_figure_path("gyrA.png") == "png"  # a plain name asks for no matplotlib


def test_scores_of_another_genome_are_refused(mg_scores, tmp_path):
    code, _, err = run_cli(["plot", mg_scores, MJ_GFF, "-o", tmp_path / "x.png", "--gene", "gyrA"])
    assert code == 1 and "is not in" in err and "give the genome these pairs were scored on" in err


def test_missing_plotting_extra_is_one_line(mg_scores, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "dna_features_viewer", None)  # as if not installed
    code, _, err = run_cli(["plot", mg_scores, MG_GFF, "-o", tmp_path / "x.png", "--gene", "gyrA"])
    assert code == 2
    assert err.strip() == "error: figures need the plotting extra: pip install 'microfuse-cli[plots]'"


@pytest.mark.parametrize("suffix", [".svg", ".pdf", ".png"])
def test_same_figure_twice_is_byte_identical(mg_scores, suffix, tmp_path):
    """A figure in a Snakemake rule reruns to the same bytes; SVG element ids were matplotlib's random ones."""
    outputs = [tmp_path / f"gyrA{i}{suffix}" for i in (1, 2)]
    for out in outputs:
        code, _, err = run_cli(["plot", mg_scores, MG_GFF, "--fasta", MG_FNA, "-o", out, "--gene", "gyrA"])
        assert code == 0, err
    assert outputs[0].read_bytes() == outputs[1].read_bytes()


def test_genome_from_stdin_is_named_stdin_as_in_score(mg_scores, tmp_path):
    """`zcat g.gff.gz | microfuse plot scores.tsv - ...` logged its genome as '-' (score and pairs say 'stdin')."""
    import gzip

    out = tmp_path / "gyrA.png"
    code, _, err = run_cli(["plot", mg_scores, "-", "--fasta", MG_FNA, "-o", out, "--gene", "gyrA"],
                           stdin=gzip.decompress(MG_GFF.read_bytes()))
    assert code == 0, err
    assert err.splitlines()[0] == "info: stdin: 1 scaffold, 476 protein-coding genes (annotation)", err
    assert out.read_bytes().startswith(b"\x89PNG")


def test_scores_made_circular_drawn_on_a_linear_read_say_so(tmp_path):
    """NCBI's panel GFF3 states no topology: scored with --circular, then plotted without it, the pair across
    each origin (MJ_1682|MJ_0001) was dropped from the figure without a word. One warning says what to give."""
    scores = score(tmp_path, MJ_GFF, "--fasta", MJ_FNA, "--circular")
    out = tmp_path / "x.png"
    code, _, err = run_cli(["plot", scores, MJ_GFF, "--fasta", MJ_FNA, "-o", out, "--gene", "MJ_0001"])
    assert code == 0 and out.exists(), err
    warning = [line for line in err.splitlines() if line.startswith("warning:")]
    assert len(warning) == 1 and "3 pair(s) across the origin" in warning[0] and "--circular" in warning[0], err
    code, _, err = run_cli(["plot", scores, MJ_GFF, "--fasta", MJ_FNA, "--circular", "-o", out, "--gene", "MJ_0001"])
    assert code == 0 and "warning:" not in err, err


@pytest.mark.parametrize("suffix", ["png", "svg", "pdf"])
def test_figure_metadata_names_the_model_of_the_scores_drawn(mg_scores, tmp_path, suffix):
    """The image's metadata (PNG and SVG Description, PDF Subject) names the model the scores' '#microfuse' line
    records (here a table rewritten as made by a model 'mine' of another model_id), not this installation's
    default, and a --threshold of the user's; a table made by hand, with no such line, gives a figure without
    one."""
    import re

    text = mg_scores.read_text()
    line = text.splitlines()[0]
    fields = dict(word.split("=", 1) for word in line.split() if "=" in word)
    other = "ab" * 32
    theirs = tmp_path / "theirs.tsv"
    theirs.write_text(text.replace(line, line.replace("model=default", "model=mine")
                                   .replace(fields["model_id"], other), 1))
    by_hand = tmp_path / "by_hand.tsv"
    by_hand.write_text("".join(row for row in text.splitlines(keepends=True) if not row.startswith("#")))
    wanted = f"model mine (model_id {other[:12]}, decision_id {fields['decision_id']})"
    runs = ((theirs, "theirs", []), (by_hand, "by_hand", []), (theirs, "cut", ["--threshold", "0.7"]))
    for scores, name, cut in runs:
        out = tmp_path / f"{name}.{suffix}"
        code, _, err = run_cli(["plot", scores, MG_GFF, "--fasta", MG_FNA, "-o", out, "--operon", "operon_2",
                                "--dpi", "30", *cut])
        assert code == 0, err
        if suffix == "png":
            from PIL import Image

            described = Image.open(out).text.get("Description", "")
        elif suffix == "svg":
            described = "".join(re.findall(r"<dc:description>(.*?)</dc:description>", out.read_text()))
        else:
            described = b"".join(re.findall(rb"/Subject \((.*?[^\\])\)", out.read_bytes())).decode().replace("\\", "")
        if name == "theirs":
            assert described == f"scores by microfuse {line.split()[1]}, {wanted}"
            assert fields["model_id"][:12] not in described
        elif name == "cut":  # the operons drawn were joined at the user's threshold, not by the rule named
            assert described == f"scores by microfuse {line.split()[1]}, {wanted}; operons joined at the user's " \
                                "threshold 0.7000"
        else:
            assert described == ""


def test_every_image_is_written_by_io_images_alone():
    """Image metadata (no date or software version; the description under PNG/SVG Description, PDF Subject) is set
    in one place: plots, figures and the report each built their own savefig metadata, three copies that could
    drift apart. No module but io.images calls savefig."""
    callers = sorted(str(path.relative_to(ROOT)) for path in (ROOT / "microfuse_cli").rglob("*.py")
                     if ".savefig(" in path.read_text())
    assert callers == ["microfuse_cli/io/images.py"]


@pytest.mark.parametrize("fmt", ["png", "svg", "pdf"])
def test_image_bytes_are_undated_described_and_the_same_twice(fmt):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    from microfuse_cli.io.images import image_bytes

    fig = Figure(figsize=(2, 2), dpi=30)
    FigureCanvasAgg(fig)
    fig.add_subplot(1, 1, 1).plot([0, 1], [1, 0])
    first = image_bytes(fig, fmt, description="scores by microfuse 9.9, model x")
    assert first == image_bytes(fig, fmt, description="scores by microfuse 9.9, model x")
    assert b"scores by microfuse 9.9, model x" in first
    assert {"png": b"Software", "svg": b"<dc:date>", "pdf": b"/CreationDate"}[fmt] not in first
    assert b"Matplotlib v" not in first and b"matplotlib.org" not in first  # Creator, Producer: its version
    assert {"png": b"Description", "svg": b"<dc:description>", "pdf": b"/Subject"}[fmt] in first


def test_a_table_cut_at_a_users_threshold_is_drawn_at_that_cut(tmp_path):
    """plot took the packaged model's threshold where it explained the calls, else the lowest called probability:
    a table scored at --threshold 0.61 (written exactly on its '#microfuse' line) was drawn at its lowest call
    (0.61x), not at 0.61. It now reads the line, as evaluate does (score.threshold_of_calls); the operons are the
    ones score wrote either way."""
    from microfuse_cli.figures import load_scored

    operons = tmp_path / "operons.tsv"
    scores = score(tmp_path, MG_GFF, "--fasta", MG_FNA, "--threshold", "0.61", "--operons-tsv", operons)
    assert " threshold=0.6100 " in scores.read_text().splitlines()[0]
    called = [float(row.split("\t")[16]) for row in scores.read_text().splitlines()
              if row[:1] != "#" and row.split("\t")[17] == "1"]
    assert min(called) > 0.61  # the lowest call is not the cut: the old rule drew this table there
    scored = load_scored(scores, read_genome(MG_GFF, MG_FNA))
    assert scored.threshold == 0.61
    lines = [line for line in operons.read_text().splitlines() if line[:1] != "#"][1:]
    assert [line.split("\t")[6] for line in lines] == [",".join(op.genes) for op in scored.operons]
