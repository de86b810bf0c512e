"""The documentation is honest: every document the code cites exists, every example of --help and the README runs
as written on real genomes, every option is in the man page, and the README's test counts are the real ones."""

from __future__ import annotations

import gzip
import os
import re
import shlex
import shutil
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from conftest import (
    MPN, MPN_FNA, MPN_GFF, MPN_PAIRS, PANEL, ROOT, draft_contigs, genome_sequence, run_cli, write_contigs,
)

#: ``docs/x.md`` optionally followed by ``, "Section"`` (quotes and backticks as written in docstrings).
CITATION = re.compile(r'docs/([\w-]+\.md)`{0,2}(?:,\s*"([^"]+)")?')


def _citations() -> list[tuple[str, str, str | None]]:
    sources = [*ROOT.glob("microfuse_cli/**/*.py"), *ROOT.glob("benchmarks/*.py"), ROOT / "README.md"]
    found = []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        found += [(path.relative_to(ROOT).as_posix(), m[1], m[2]) for m in CITATION.finditer(text)]
    return found


def test_cited_documents_and_sections_exist():
    citations = _citations()
    assert {name for _, name, _ in citations} >= {"method.md", "findings.md"}
    assert any(section for _, _, section in citations)  # the check below is not vacuous
    for source, name, section in citations:
        doc = ROOT / "docs" / name
        assert doc.is_file(), f"{source} cites docs/{name}, which is not in the repository"
        if section:
            headings = {line.lstrip("#").strip() for line in doc.read_text(encoding="utf-8").splitlines()
                        if line.startswith("#")}
            assert any(h == section or h.startswith(section + " (") for h in headings), \
                f"{source} cites section {section!r} of docs/{name}, which has no such heading"


def test_no_code_cites_a_path_outside_the_repository():
    for path in [*ROOT.glob("microfuse_cli/**/*.py"), *ROOT.glob("tests/*.py")]:
        text = path.read_text(encoding="utf-8")
        if path.name == "test_docs.py":
            continue
        assert "/work/shared" not in text, f"{path.relative_to(ROOT)} hard-codes a machine path"


def test_shipped_man_page_is_the_one_the_cli_generates(monkeypatch):
    """man/microfuse.1 is regenerated whenever --help changes (`python -m microfuse_cli.manpage > man/microfuse.1`);
    a stale page documents options that are gone or misses new ones. It is the same page under click before 8.5.1
    (pyproject allows >= 8.4; a GPU machine's image had 8.5.0), which gives no help record for an argument without
    help: the generated page lost its INPUT... rows there and this check failed. (One test: a second one compared the
    page with render() as this one does, only under that click.)"""
    import click

    from microfuse_cli.manpage import render

    shipped = (ROOT / "man" / "microfuse.1").read_text(encoding="utf-8")
    assert shipped == render(), "man/microfuse.1 is stale: run python -m microfuse_cli.manpage > man/microfuse.1"

    def before_8_5_1(self, ctx):  # click 8.5.0's Argument.get_help_record
        return None if getattr(self, "help", None) is None else (self.make_metavar(ctx), self.help)

    monkeypatch.setattr(click.Argument, "get_help_record", before_8_5_1)
    assert shipped == render(), "the generated page depends on click's Argument.get_help_record"


def test_man_page_argument_rows_are_the_metavars_help_shows():
    """An argument without its own metavar reads FILES... / [NAME] in --help's usage line (click's make_metavar);
    the page's row for it said FILES / NAME, so it drifted from --help as soon as such an argument was added."""
    import click

    from microfuse_cli.manpage import render

    @click.group()
    def group():
        """A group."""

    @group.command()
    @click.argument("files", nargs=-1, required=True)
    @click.argument("name", required=False)
    def run(files, name):
        """A command."""

    usage = run.get_usage(click.Context(run, info_name="run"))
    page = render(group)
    assert "FILES... [NAME]" in usage and "\\fBFILES...\\fR" in page and "\\fB[NAME]\\fR" in page, page


def test_train_help_says_its_bytes_depend_on_the_thread_count():
    """`train -t 1` and `-t 2` on M. pneumoniae's labelled pairs gave weights differing in their last float digits
    (torch's CPU reductions split by thread); the help promised determinism for a seed alone, so a Snakemake rule
    with `-t {threads}` (or -t 0 on another node) rebuilt a different model."""
    from conftest import run_cli

    code, out, _ = run_cli(["train", "--help"])
    assert code == 0
    text = " ".join(out.split())
    assert "Byte-identical on the CPU for a given seed and -t" in text and "-t 0 depends on" in text
    # --device auto here, cpu in the library (TrainConfig): a GPU's weights differ, so the help says which is which
    assert "--device cpu gives the bytes of the library's training.train, whose TrainConfig defaults to cpu" in text


def test_retrieve_help_says_vectors_replaced_while_read_are_refused():
    """README said that retrieve refuses FILE.npy and FILE.ids.tsv replaced by another run while it reads them; the
    help (and so the man page) did not: `retrieve --help`, `build --help` and `search --help` say it now."""
    from conftest import run_cli

    for command in (["retrieve"], ["retrieve", "build"], ["retrieve", "search"]):
        code, out, _ = run_cli([*command, "--help"])
        text = " ".join(out.split())
        assert code == 0 and "replaced" in text and "while they are read" in text, command


# --- Every example of the help texts and the README runs as written --------------------------------------------------
# Users paste the `Examples:` lines of `--help` (and so of the man page, generated from them) and the README's ```sh
# blocks into a shell. Each block runs here line by line, verbatim through bash, in a folder holding files of the names
# the examples use, made from real genomes: M. pneumoniae M129 (its ODB operons and labelled pairs) as genome.*,
# M. genitalium G37 as the other genome, and 60 kb pieces of it where a reference or a batch of genomes is wanted
# (phmmer against a whole genome would take most of a minute). Hub models cannot download here: their examples must
# fail in one `error:` line.

MG_GFF, MG_FNA = PANEL / "GCF_000027325.1_ASM2732v1_genomic.gff.gz", PANEL / "GCF_000027325.1_ASM2732v1_genomic.fna.gz"
#: Options whose value is a file or folder the command writes (`pairs --proteins` too; elsewhere it is an input).
OUTPUT_OPTIONS = {"-o", "--output", "--operons-gff", "--operons-tsv", "--annotate", "--report", "--fused", "--json",
                  "--plots"}
#: Views that load a Hugging Face model.
HUB_VIEWS = ("prostt5", "bacformer")
MICROFUSE_COMMAND = re.compile(r"(?:^|[|&;(]\s*)microfuse\s")


def help_example_blocks() -> dict[str, list[str]]:
    """The `Examples:` lines of every command's --help, subcommands included, keyed by the command."""
    import click

    from microfuse_cli.cli import cli

    blocks = {}

    def visit(command: click.Command, path: list[str]) -> None:
        epilog = command.epilog or ""
        if "Examples:" in epilog:
            lines = [line.strip() for line in epilog.split("Examples:", 1)[1].splitlines() if line.strip()]
            blocks[" ".join(["microfuse", *path, "--help"])] = lines
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            visit(sub, [*path, name])

    visit(cli, [])
    return blocks


def readme_example_blocks() -> dict[str, list[str]]:
    """The lines of README.md's ```sh blocks that run microfuse (the set-up line from its first `microfuse`)."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = {}
    for number, block in enumerate(re.findall(r"```sh\n(.*?)```", text, re.S), 1):
        lines = []
        for line in block.splitlines():
            found = MICROFUSE_COMMAND.search(line)
            if found and "pip install" in line:  # a set-up line: what follows the installation
                lines.append(line[found.start():].lstrip("|&;( "))
            elif found:
                lines.append(line)
        if lines:
            blocks[f"README.md sh block {number}"] = lines
    return blocks


EXAMPLES = {**help_example_blocks(), **readme_example_blocks()}


def expected_outputs(line: str) -> tuple[list[str], bool]:
    """The files/folders an example line names as outputs, and whether its stdout is the result."""
    tokens = shlex.split(line, comments=True, posix=True)
    tokens = [t for part in tokens for t in re.split(r"(&&|\|)", part) if t]
    outputs, to_stdout = [], True
    command = None
    for i, token in enumerate(tokens):
        if token in ("&&", "|"):
            command, to_stdout = None, True
            continue
        if command is None and i and tokens[i - 1] == "microfuse":
            command = token
        follows = tokens[i + 1] if i + 1 < len(tokens) else None
        if follows is None:
            continue
        if token == ">" or token in OUTPUT_OPTIONS or (token == "--proteins" and command == "pairs"):
            if follows != "-":  # `-o - | gzip > f`: stdout, not a file named '-'
                outputs.append(follows)
            if token in (">", "-o", "--output") and follows != "-":
                to_stdout = False
    return outputs, to_stdout


def data_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _gff_rows(gff_gz: Path) -> list[list[str]]:
    rows = [line.split("\t") for line in gzip.decompress(gff_gz.read_bytes()).decode().splitlines()]
    return [row for row in rows if len(row) == 9 and row[2] in ("gene", "CDS")]


def _attributes(row: list[str]) -> dict[str, str]:
    return dict(kv.split("=", 1) for kv in row[8].split(";") if "=" in kv)


def _piece(rows, sequence: str, start: int, end: int, seqid: str):
    """The genes wholly inside start..end of a genome, as a genome of their own (a real 60 kb contig)."""
    inside = [[seqid, *row[1:3], str(int(row[3]) - start + 1), str(int(row[4]) - start + 1), *row[5:]]
              for row in rows if int(row[3]) >= start and int(row[4]) <= end]
    return inside, {seqid: sequence[start - 1:end]}


def _write_gff(path: Path, rows, sequences: dict[str, str], *, fasta: bool, circular: bool) -> None:
    head = ["##gff-version 3"] + [f"##sequence-region {s} 1 {len(seq)}" for s, seq in sequences.items()]
    if circular:  # as RefSeq writes it
        head += [f"{s}\tRefSeq\tregion\t1\t{len(seq)}\t.\t+\t.\tID={s}:1..{len(seq)};Is_circular=true"
                 for s, seq in sequences.items()]
    text = "\n".join(head + ["\t".join(row) for row in rows]) + "\n"
    if fasta:
        text += "##FASTA\n" + "".join(f">{s}\n{seq}\n" for s, seq in sequences.items())
    path.write_bytes(gzip.compress(text.encode(), mtime=0) if path.suffix == ".gz" else text.encode())


def _write_genbank(path: Path, rows, sequences: dict[str, str], *, circular: bool) -> None:
    from Bio import SeqIO
    from Bio.Seq import Seq
    from Bio.SeqFeature import FeatureLocation, SeqFeature
    from Bio.SeqRecord import SeqRecord

    names = {_attributes(r).get("locus_tag"): _attributes(r) for r in rows if r[2] == "gene"}
    records = []
    for number, (seqid, sequence) in enumerate(sequences.items()):
        record = SeqRecord(Seq(sequence), id=seqid, name=f"{path.stem[:12]}{number}", description=path.stem,
                           annotations={"molecule_type": "DNA", "topology": "circular" if circular else "linear"})
        for row in (r for r in rows if r[2] == "CDS" and r[0] == seqid):
            cds, gene = _attributes(row), names.get(_attributes(row).get("locus_tag"), {})
            qualifiers = {key: [value] for key, value in (
                ("locus_tag", cds.get("locus_tag")), ("old_locus_tag", gene.get("old_locus_tag")),
                ("gene", gene.get("Name")), ("transl_table", cds.get("transl_table"))) if value}
            location = FeatureLocation(int(row[3]) - 1, int(row[4]), strand=1 if row[6] == "+" else -1)
            record.features.append(SeqFeature(location, type="CDS", qualifiers=qualifiers))
        records.append(record)
    SeqIO.write(records, path, "genbank")


def _cli(*args) -> None:
    code, _, err = run_cli(["-q" if a == "QUIET" else a for a in args])
    assert code == 0, err


def build_example_folder(folder: Path) -> None:
    """Every input the examples name, from real genomes, and the outputs of earlier stages they start from."""
    os.chdir(folder)
    mpn_rows, mpn = _gff_rows(MPN_GFF), {"NC_000912.1": genome_sequence(MPN_FNA)}
    mg_rows, mg = _gff_rows(MG_GFF), {"NC_000908.2": genome_sequence(MG_FNA)}
    _write_gff(Path("genome.gff"), mpn_rows, mpn, fasta=True, circular=True)
    _write_gff(Path("genome.gff.gz"), mpn_rows, mpn, fasta=False, circular=True)
    Path("genome.fna").write_text(f">NC_000912.1\n{mpn['NC_000912.1']}\n")
    shutil.copyfile(MPN_FNA, "genome.fna.gz")
    _write_genbank(Path("genome.gbk"), mpn_rows, mpn, circular=True)
    _write_genbank(Path("other.gbk"), mg_rows, mg, circular=True)
    shutil.copyfile(MG_FNA, "assembly.fna.gz")
    Path("assembly.fna").write_bytes(gzip.decompress(MG_FNA.read_bytes()))
    shutil.copyfile(MPN / "odb4_known_operons_mpneumoniae.tsv", "known_operons.tsv")
    tags = {a["old_locus_tag"]: a["locus_tag"] for a in map(_attributes, mpn_rows) if "old_locus_tag" in a}
    labels = [line.split(",") for line in MPN_PAIRS.read_text().splitlines()]  # named as the scores name genes
    Path("labelled_pairs.csv").write_text("".join(f"{tags.get(a, a)},{tags.get(b, b)},{y}\n" for a, b, y in labels))
    Path("my_pairs.csv").write_text("".join(f"{a},{b}\n" for a, b, _ in labels))
    pieces = [_piece(mg_rows, mg["NC_000908.2"], start, start + 59_999, f"NC_000908.2_{start}")
              for start in (1, 200_001, 400_001)]
    for name, (rows, sequences) in zip("abc", pieces):
        _write_gff(Path(f"{name}.gff"), rows, sequences, fasta=True, circular=False)
    _write_genbank(Path("other1.gbk"), *pieces[0], circular=False)
    _write_gff(Path("other2.gff.gz"), pieces[1][0], {}, fasta=False, circular=False)
    Path("other2.fna.gz").write_bytes(gzip.compress("".join(f">{s}\n{q}\n" for s, q in pieces[1][1].items()).encode()))
    shutil.copyfile("other2.gff.gz", "a.gff.gz")
    shutil.copyfile("other2.fna.gz", "a.fna.gz")
    _write_genbank(Path("b.gbk"), *pieces[2], circular=False)
    for sub, chosen in (("other", pieces[:1]), ("panel", pieces[1:])):
        Path(sub).mkdir()
        for number, piece in enumerate(chosen):
            _write_genbank(Path(sub) / f"mgenitalium_{number}.gbk", *piece, circular=False)
    contigs = draft_contigs(mg["NC_000908.2"], 20_000, 60_000, seed=1)
    write_contigs(Path("contigs.fna"), contigs)
    Path("contig2bin.tsv").write_text("".join(f"{name}\tbin.{i % 2 + 1}\n" for i, (name, _, _) in enumerate(contigs)))
    (folder / "examples").symlink_to(ROOT / "examples")  # the README's quick start names examples/data/
    # what earlier stages leave: pairs with labels and splits, embeddings, a model, scores, fused vectors, an index
    _cli("pairs", "QUIET", "genome.gff", "--operons", "known_operons.tsv", "--split", "0.7,0.15,0.15",
         "--proteins", "genes.faa", "-o", "pairs.tsv")
    _cli("embed", "QUIET", "genome.gff", "-o", "emb")
    _cli("train", "QUIET", "pairs.tsv", "-e", "emb", "-o", "model", "--epochs", "2", "--patience", "1")
    _cli("score", "QUIET", "genome.gff", "--operons", "known_operons.tsv", "-o", "scores.tsv", "--fused", "fused.npy")
    _cli("score", "QUIET", "pairs.tsv", "-e", "emb", "-m", "model", "-o", "concat.tsv")
    shutil.copyfile("scores.tsv", "microfuse.tsv")
    _cli("score", "QUIET", "other.gbk", "-o", "/dev/null", "--fused", "other_genome.npy")
    for name in ("a", "b", "c"):
        _cli("score", "QUIET", f"{name}.gff", "-o", "/dev/null", "--fused", f"{name}.npy")
    for copy, source in (("new_genome", "other_genome"), ("queries", "other_genome"),
                         ("genomes/mpneumoniae/fused", "fused"), ("genomes/mgenitalium/fused", "other_genome")):
        Path(copy).parent.mkdir(parents=True, exist_ok=True)
        for suffix in (".npy", ".ids.tsv"):
            shutil.copyfile(source + suffix, copy + suffix)
    _cli("retrieve", "build", "QUIET", "fused.npy", "other_genome.npy", "-o", "index", "--group-by", "genome")


def run_block(template: Path, folder: Path, lines: list[str], env: dict) -> list[dict]:
    """Run an example block's lines in order in a copy of the example folder; what each line did."""
    shutil.copytree(template, folder, symlinks=True)
    results = []
    for line in lines:
        start = time.monotonic()
        # pipefail: `microfuse plot ... -o - | gzip > f.svgz` exits 0 with a 20-byte f.svgz when plot fails
        proc = subprocess.run(["bash", "-o", "pipefail", "-c", line], cwd=folder, env=env, capture_output=True,
                              text=True, timeout=300)
        outputs, to_stdout = expected_outputs(line)
        results.append({"code": proc.returncode, "stdout": proc.stdout, "stderr": proc.stderr,
                        "seconds": time.monotonic() - start,
                        "outputs": {name: folder / name for name in outputs}, "to_stdout": to_stdout})
    return results


@pytest.fixture(scope="module")
def example_runs(tmp_path_factory):
    """Every example block, run in its own copy of the example folder, two at a time (the machine's cores)."""
    import socket

    root = tmp_path_factory.mktemp("examples")
    template = root / "template"
    template.mkdir()
    cwd = os.getcwd()
    try:
        build_example_folder(template)
    finally:
        os.chdir(cwd)
    shim = root / "bin" / "microfuse"  # `microfuse` on PATH: this checkout's CLI
    shim.parent.mkdir()
    shim.write_text(f'#!/bin/sh\nexec "{sys.executable}" -m microfuse_cli "$@"\n')
    shim.chmod(0o755)
    with socket.socket() as closed_port:  # the hub: a local port refusing connections; nothing leaves the machine
        closed_port.bind(("127.0.0.1", 0))
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        env.update(PATH=f"{shim.parent}{os.pathsep}{env['PATH']}", HF_HOME=str(root / "hf"),
                   HF_ENDPOINT=f"http://127.0.0.1:{closed_port.getsockname()[1]}",
                   PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [env.get("PYTHONPATH")])]))
        longest_first = sorted(EXAMPLES.items(), key=lambda item: -len(item[1]))  # no long block left for last
        with ThreadPoolExecutor(2) as pool:
            futures = {name: pool.submit(run_block, template, root / f"block{i}", lines, env)
                       for i, (name, lines) in enumerate(longest_first)}
            return {name: future.result() for name, future in futures.items()}


def test_an_example_fails_when_a_command_before_a_pipe_fails(tmp_path):
    """An example's exit status was its last command's: `microfuse plot ... -o - --format svg | gzip > f.svgz` that
    failed (a gene misspelt) passed as written, gzip having made a non-empty f.svgz of nothing."""
    template = tmp_path / "template"
    template.mkdir()
    [run] = run_block(template, tmp_path / "block", ["false | gzip > f.svgz"], dict(os.environ))
    assert run["code"] == 1 and run["outputs"] == {"f.svgz": tmp_path / "block" / "f.svgz"}
    assert (tmp_path / "block" / "f.svgz").stat().st_size > 0  # the file alone could not tell


def test_examples_are_found_in_every_help_text_and_the_readme():
    from microfuse_cli.cli import cli

    commands = {f"microfuse {name} --help" for name in cli.commands} | {"microfuse --help"}
    assert commands <= set(EXAMPLES), f"no Examples: in {sorted(commands - set(EXAMPLES))}"
    assert {"microfuse retrieve build --help", "microfuse retrieve search --help", "microfuse reference build --help",
            "microfuse retrieve evaluate --help"} <= set(EXAMPLES)
    readme = [line for name, lines in EXAMPLES.items() if name.startswith("README") for line in lines]
    assert len(readme) >= 20 and readme[0].startswith("microfuse score examples/data/")


@pytest.mark.parametrize("block, number", [(block, n) for block, lines in EXAMPLES.items() for n in range(len(lines))],
                         ids=[f"{block}:{line}"[:110] for block, lines in EXAMPLES.items() for line in lines])
def test_example_runs_as_written(example_runs, block, number):
    line = EXAMPLES[block][number]
    run = example_runs[block][number]
    err = run["stderr"]
    assert "Traceback" not in err, f"{line}\n{err}"
    if any(view in line for view in HUB_VIEWS):  # a hub model, unreachable here: one line, no download, no hang
        problems = [text for text in err.splitlines() if not text.startswith("info: ")]
        assert run["code"] in (1, 2) and len(problems) == 1 and problems[0].startswith("error: "), f"{line}\n{err}"
        return
    closed = run["code"] == 141 and re.search(r"\|\s*head\b", line)  # `| head` ended it: microfuse's SIGPIPE status
    assert run["code"] == 0 or closed, f"{line}\nexit {run['code']}\n{err[-3000:]}"
    for name, path in run["outputs"].items():
        assert path.exists(), f"{line}: no {name}"
        if path.is_dir():
            assert any(path.iterdir()), f"{line}: {name} is empty"
        elif path.suffix in (".tsv", ".gff3", ".json", ".csv", ".faa"):
            text = path.read_text()
            assert len(data_lines(text)) >= (2 if path.suffix == ".tsv" else 1), f"{line}: {name} holds no result"
        else:
            assert path.stat().st_size > 0, f"{line}: {name} is empty"
    if run["to_stdout"]:
        assert len(data_lines(run["stdout"])) >= 2, f"{line}: nothing on stdout\n{err}"


# --- The CLI's own surface: version, no command, a wrong command, -h everywhere, every option in the man page --------

def _microfuse(*args: str) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]))
    return subprocess.run([sys.executable, "-m", "microfuse_cli", *args], capture_output=True, text=True, env=env,
                          timeout=60)


def _command_paths() -> list[list[str]]:
    from microfuse_cli.cli import cli

    paths = []

    def visit(command, path):
        paths.append(path)
        for name, sub in sorted(getattr(command, "commands", {}).items()):
            visit(sub, [*path, name])

    visit(cli, [])
    return paths


def test_version_no_command_and_an_unknown_command():
    from microfuse_cli import __version__

    version = _microfuse("--version")
    assert version.returncode == 0 and version.stdout == f"microfuse {__version__}\n"
    bare = _microfuse()  # usage on stderr, as for any usage error
    assert bare.returncode == 2 and bare.stdout == "" and "Commands:" in bare.stderr and "Examples:" in bare.stderr
    wrong = _microfuse("socre", "genome.gff")
    assert wrong.returncode == 2 and wrong.stdout == ""
    assert wrong.stderr.splitlines()[0] == "error: No such command 'socre'. Did you mean 'score'?", wrong.stderr


def test_dash_h_is_help_for_every_command():
    """-h is click's help option name on every command (in-process: a process of its own per command only paid the
    imports; --version and the exit codes above go through a real one)."""
    for path in _command_paths():
        (code, short, err), (_, long, _) = run_cli([*path, "-h"]), run_cli([*path, "--help"])
        assert code == 0 and short.startswith("Usage: microfuse"), (path, err)
        assert short == long, path


def test_every_command_takes_threads_with_one_default_and_says_why():
    """-t/--threads is one option of every command (cli._common.common_options): the same default, 1, and the same
    help saying why (a scheduler's one slot; train's model bytes depend on the thread count), so no command grows
    a default of its own unexplained."""
    import click

    from microfuse_cli.cli import cli
    from microfuse_cli.cli._common import THREADS_DEFAULT

    options, commands = [], 0
    for path in _command_paths()[1:]:
        command = cli
        for name in path:
            command = command.commands[name]
        if not getattr(command, "commands", None):
            commands += 1
            params = command.get_params(click.Context(command, info_name=path[-1]))
            options += [(path, p) for p in params if isinstance(p, click.Option) and "--threads" in p.opts]
    assert len(options) == commands >= 10 and THREADS_DEFAULT == 1
    assert {(p.default, p.help) for _, p in options} == {(THREADS_DEFAULT, options[0][1].help)}, options
    assert "1 by default in every command" in options[0][1].help and "0 = every core" in options[0][1].help


def test_every_file_option_that_reads_or_writes_dash_says_so(tmp_path):
    """`--fasta -` and `--bins -` read stdin, and so do --pairs, --operons, --labels and the --proteins inputs;
    `pairs --proteins -`, `score --operons-gff -` and `evaluate --json -` write stdout: none of their helps said
    so, where -o's said "('-' = stdout)". A file option says '-' in its help exactly where it takes it (click's
    allow_dash), and a positional file that takes it says so in its command's help. --fused and the vector files
    of `retrieve` refuse '-' (a .npy is read with its ids file beside it) and do not say it."""
    import click

    from microfuse_cli.cli import cli

    unsaid, unread = [], []
    for path in _command_paths()[1:]:
        command = cli
        for name in path:
            command = command.commands[name]
        for param in command.params:
            if not isinstance(param.type, click.Path) or not param.type.file_okay:
                continue
            text = " ".join((param.help if isinstance(param, click.Option) else command.help or "").split())
            said = "'-'" in text
            if param.type.allow_dash != said:
                unsaid.append((" ".join(path), param.opts))
            if not param.type.allow_dash:
                unread.append((" ".join(path), param.opts))
    assert not unsaid and unread == [("retrieve build", ["vectors"]), ("retrieve search", ["queries"]),
                                     ("score", ["--fused"])], (unsaid, unread)
    # as the helps say: the assembly of --fasta and the bins of --bins from stdin
    mg = PANEL / "GCF_000027325.1_ASM2732v1_genomic"
    fna = gzip.decompress(Path(f"{mg}.fna.gz").read_bytes())
    code, out, err = run_cli(["pairs", f"{mg}.gff.gz", "--fasta", "-", "-q"], stdin=fna)
    assert code == 0 and len(data_lines(out)) == 476, err  # the header and M. genitalium's 475 pairs
    (tmp_path / "mg.fna").write_bytes(fna)
    code, out, err = run_cli(["pairs", tmp_path / "mg.fna", "--bins", "-"], stdin=b"NC_000908.2\tbin.1\n")
    assert code == 0 and "gene calling per bin: 1 in pyrodigal single mode" in err and "of bin bin.1" in err, err


def test_search_effort_defaults_in_the_help_are_the_library_s():
    """`retrieve search --nprobe` and `--ef-search` showed no default: they are the index's DEFAULT_NPROBE and
    DEFAULT_EF_SEARCH, which the help now states."""
    from microfuse_cli.retrieve.index import DEFAULT_EF_SEARCH, DEFAULT_NPROBE

    code, out, _ = run_cli(["retrieve", "search", "--help"])
    text = " ".join(out.split())
    assert code == 0 and f"(default {DEFAULT_NPROBE};" in text.split("--nprobe", 1)[1].split("--ef-search")[0]
    assert f"(default {DEFAULT_EF_SEARCH};" in text.split("--ef-search", 1)[1].split("--k-factor")[0]


def test_the_nlist_cap_in_the_help_and_man_page_is_the_library_s():
    """`retrieve build --nlist` said 'default 4 x sqrt(pairs)', and so did the man page, while the library caps it at
    pairs / MIN_POINTS_PER_CENTROID (k-means' vectors per list): 10,000 pairs get 256 lists, not 400."""
    from microfuse_cli.retrieve.index import MIN_POINTS_PER_CENTROID, _default_nlist

    code, out, _ = run_cli(["retrieve", "build", "--help"])
    said = " ".join(out.split()).split("--nlist", 1)[1].split("--train-sample")[0]
    assert code == 0 and f"default 4 x sqrt(pairs), at most pairs / {MIN_POINTS_PER_CENTROID}" in said, said
    page = (ROOT / "man" / "microfuse.1").read_text(encoding="utf-8")
    assert f"at most pairs / {MIN_POINTS_PER_CENTROID}" in page.split("\\fB\\-\\-nlist", 1)[1].split(".TP", 1)[0]
    assert (_default_nlist(10_000), _default_nlist(1_000_000)) == (10_000 // MIN_POINTS_PER_CENTROID, 4000)


def test_every_option_of_the_help_is_in_the_man_page():
    import click

    from microfuse_cli.cli import cli

    page = (ROOT / "man" / "microfuse.1").read_text(encoding="utf-8")
    sections = {section.split("\n", 1)[0].strip(): section for section in page.split(".SS ")[1:]}
    for path in _command_paths()[1:]:
        command = cli
        for name in path:
            command = command.commands[name]
        section = sections[" ".join(["microfuse", *path])]
        ctx = click.Context(command, info_name=path[-1])
        for param in command.get_params(ctx):
            for opt in (*param.opts, *param.secondary_opts) if isinstance(param, click.Option) else ():
                assert opt.replace("-", "\\-") in section, f"microfuse {' '.join(path)}: {opt} not in the man page"


def test_readme_test_counts_are_the_collected_counts():
    """README's Reliability section states how many tests some files hold; a count that drifts is a false claim."""
    text = (ROOT / "README.md").read_text(encoding="utf-8")
    stated = {name: int(n) for name, n in re.findall(r"`tests/(test_\w+\.py)` \((\d+)", text)}
    assert len(stated) >= 4
    proc = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider",
                           *[f"tests/{name}" for name in stated]], cwd=ROOT, capture_output=True, text=True,
                          timeout=120, env=dict(os.environ, PYTHONPATH=str(ROOT)))
    collected = {}
    for line in proc.stdout.splitlines():
        if "::" in line:
            name = line.split("::", 1)[0].removeprefix("tests/")
            collected[name] = collected.get(name, 0) + 1
    assert collected == stated, proc.stdout[-2000:]
    assert "python -m pytest -q" in (ROOT / ".ci" / "run").read_text()  # README: "the exact command .ci/run calls"


def test_readme_hostile_input_count_is_the_table_length():
    """README's Reliability section says how many hostile inputs tests/test_hostile_inputs.py's one table holds, and
    how many of them are refused and parsed; a merge that added a row left both one short."""
    from test_hostile_inputs import CASES

    text = (ROOT / "README.md").read_text(encoding="utf-8")
    stated = re.search(r"\*\*(\d+) hostile inputs\*\* in one table", text)
    assert stated is not None and int(stated[1]) == len(CASES), (stated and stated[0], len(CASES))
    split = re.search(r"All handled: (\d+) refused with one `error:` line\s+\(exit 1 data, 2 usage\), (\d+) parsed "
                      r"correctly", text)
    refused = sum(1 for case in CASES if case.code != 0)
    assert split is not None and (int(split[1]), int(split[2])) == (refused, len(CASES) - refused), split


def test_paired_speed_benchmarks_share_their_options(tmp_path):
    """benchmarks/everyday_speed.py and genbank_read.py time two code trees in turn and set up the same options
    (the two trees, --data, --repeats) from one function of everyday_speed; each --help still runs, from any folder,
    and names them."""
    for script, trees in (("everyday_speed.py", ("--old", "--new")), ("genbank_read.py", ("--a", "--b"))):
        proc = subprocess.run([sys.executable, ROOT / "benchmarks" / script, "--help"], capture_output=True, text=True,
                              cwd=tmp_path, timeout=60)
        assert proc.returncode == 0, proc.stderr
        assert all(option in proc.stdout for option in (*trees, "--data", "--repeats")), proc.stdout
