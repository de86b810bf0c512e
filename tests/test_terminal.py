"""The CLI as a shell sees it: closed standard streams, terminals (dumb ones too) and progress bars, on a real
genome run as a real process (test_output_policy.py covers pipes that close mid-output and the output rules)."""

from __future__ import annotations

import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from conftest import MPN_FNA, PANEL, ROOT

MG = PANEL / "GCF_000027325.1_ASM2732v1_genomic"  # Mycoplasma genitalium G37: 476 genes, small
MG_GFF, MG_FNA = Path(f"{MG}.gff.gz"), Path(f"{MG}.fna.gz")
MICROFUSE = Path(sys.executable).parent / "microfuse"


def run_closed(args, closed_fd: int, tmp_path):
    """Run microfuse with file descriptor ``closed_fd`` closed, as `>&-` or `<&-` leaves it."""
    keep = {0: subprocess.DEVNULL, 1: subprocess.PIPE}
    proc = subprocess.run([str(MICROFUSE), *map(str, args)], cwd=tmp_path, capture_output=False, timeout=120,
                          stdin=None if closed_fd == 0 else keep[0], stdout=None if closed_fd == 1 else keep[1],
                          stderr=subprocess.PIPE, preexec_fn=lambda: os.close(closed_fd))
    return proc.returncode, proc.stderr.decode()


@pytest.mark.parametrize("command", [["pairs", MG_GFF, "--fasta", MG_FNA], ["score", MG_GFF, "--fasta", MG_FNA]])
def test_closed_stdout_is_refused_before_work_in_one_line(command, tmp_path):
    """`microfuse score x.gff >&-` says stdout is closed before reading the genome (no info line, no traceback)."""
    code, err = run_closed(command, 1, tmp_path)
    assert code == 2, err
    assert err == "error: stdout is closed; give -o FILE\n", err


def test_closed_stdout_is_fine_with_a_file_output(tmp_path):
    code, err = run_closed(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", "pairs.tsv", "-q"], 1, tmp_path)
    assert code == 0, err
    lines = (tmp_path / "pairs.tsv").read_text().splitlines()
    assert lines[0].startswith("#microfuse") and sum(not line.startswith("#") for line in lines) == 476  # header + 475


@pytest.mark.parametrize("command", ["pairs", "score"])
def test_closed_stdin_read_as_dash_is_one_line(command, tmp_path):
    code, err = run_closed([command, "-", "-o", "out.tsv"], 0, tmp_path)
    assert code == 1, err
    assert err == "error: stdin is closed; nothing to read for '-'\n", err
    assert list(tmp_path.iterdir()) == []


def run_on_terminal(args, tmp_path, term: str) -> str:
    """Run microfuse with stderr on a pseudo-terminal (stdout to a file, as `microfuse score x > out`); returns
    what the terminal received."""
    master, slave = pty.openpty()
    env = {**os.environ, "TERM": term, "COLUMNS": "120"}
    env.pop("NO_COLOR", None)
    with open(tmp_path / "stdout", "wb") as out:
        proc = subprocess.Popen([str(MICROFUSE), *map(str, args)], cwd=tmp_path, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=slave, env=env)
    os.close(slave)
    received = bytearray()
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the terminal's last writer has gone
            break
        if not chunk:
            break
        received += chunk
    os.close(master)
    assert proc.wait(timeout=120) == 0, received.decode(errors="replace")
    return received.decode()


def test_dumb_terminal_gets_plain_log_lines_only(tmp_path):
    """TERM=dumb (Emacs shells, some CI consoles): no bars, and none of the blank lines a bar leaves behind."""
    shown = run_on_terminal(["score", MG_FNA, "-o", "scores.tsv"], tmp_path, "dumb")
    lines = shown.replace("\r\n", "\n").splitlines()
    assert lines and all(line.startswith(("info: ", "warning: ")) for line in lines), shown
    assert "\x1b" not in shown, shown


def test_log_lines_are_never_glued_to_a_progress_bar(tmp_path):
    """On a terminal, a log line written while a bar is drawn (genetic code 4 detected while genes are called)
    starts a line of its own instead of being appended to the bar."""
    shown = run_on_terminal(["score", MG_FNA, "-o", "scores.tsv"], tmp_path, "xterm-256color")
    assert "calling genes" in shown and "info: genetic code 4 detected" in shown, shown  # the case is exercised
    starts = [i for i in range(len(shown)) if shown.startswith(("info: ", "warning: "), i)]
    assert starts
    for i in starts:
        assert i == 0 or shown[:i].endswith(("\n", "\r", "\x1b[2K")), repr(shown[max(0, i - 60):i + 20])


def test_evaluate_summary_is_a_drawn_table_on_a_terminal_only(tmp_path):
    """`evaluate` draws its summary as a rich table on a terminal; in a log (test_pipeline) it is tab-separated."""
    scores = tmp_path / "scores.tsv"
    subprocess.run([str(MICROFUSE), "score", str(MG_GFF), "--fasta", str(MG_FNA), "--label-rule", "og", "-o",
                    str(scores), "-q"], check=True, timeout=120)
    shown = run_on_terminal(["evaluate", scores, "--bootstrap", "0", "-o", "m.tsv"], tmp_path, "xterm-256color")
    assert "AUROC" in shown and "\u2503" in shown and "\t" not in shown, shown  # rich's heavy header bars '┃'


def test_gene_calling_bar_counts_known_contigs_while_pyrodigal_trains(tmp_path):
    """The contigs of a bare assembly are known before pyrodigal trains (seconds): the bar shows 0/1 then, not 0/?."""
    shown = run_on_terminal(["pairs", MG_FNA, "-o", "pairs.tsv"], tmp_path, "xterm-256color")
    plain = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", shown)  # colours and cursor moves
    assert "calling genes" in plain and "0/1 contigs" in plain, plain  # was 0/? until the contig was called
    assert "/? contigs" not in plain[plain.index("0/1 contigs"):], plain  # (? only while the FASTA is read)


@pytest.mark.parametrize("args", [["--help"], ["score", "--help"], ["--version"]])
def test_help_into_a_closed_pipe_ends_like_sigpipe(args):
    """`microfuse score --help | head -0`: the reader is gone before the help is written; the same status as a
    command's output into a closed pipe (141, README), not click's silent exit 1."""
    proc = subprocess.Popen([str(MICROFUSE), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141, err
    assert err == ""


@pytest.mark.parametrize("command", [
    ["embed", MG_GFF, "--fasta", MG_FNA],
    ["reference", "build", f"{MG_GFF},{MG_FNA}"],
    ["evaluate", MG_GFF, "--plots"],  # a folder option, checked before its input is read
])
def test_dash_as_a_folder_output_is_refused_not_made(command, tmp_path, monkeypatch):
    """`-o -` reads as stdout to a shell user; a folder output cannot be stdout, and a folder literally named '-'
    (which `rm -r -` cannot remove) must not appear."""
    from conftest import run_cli

    monkeypatch.chdir(tmp_path)
    option = [] if command[-1] == "--plots" else ["-o"]
    code, out, err = run_cli([*command, *option, "-"])
    assert code == 2, err
    assert err.startswith("error: ") and "folder" in err.splitlines()[0] and "stdout" in err.splitlines()[0], err
    assert list(tmp_path.iterdir()) == []


def _commands(group, path=()):
    import click

    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from _commands(command, (*path, name))


def test_every_command_lists_whole_and_every_option_says_what_it_does():
    """`microfuse --help` lists each command in a line that is not cut off ('...'), and every option of every
    command has a help text (a bare `--seed INTEGER [default: 0]` does not say what it seeds)."""
    from microfuse_cli.cli import cli

    problems = []
    for path, command in _commands(cli):
        if command.get_short_help_str(limit=45).endswith("..."):
            problems.append(f"{' '.join(path)}: listed as {command.get_short_help_str(limit=45)!r}")
        for param in command.params:
            if getattr(param, "help", None) == "" or (param.param_type_name == "option" and not param.help):
                problems.append(f"{' '.join(path)} {param.opts[0]}: no help")
    assert problems == []


def _default_signals() -> None:
    """Ctrl-C and SIGHUP as a terminal's job gets them, even where the tests run in the background or under nohup."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGHUP, signal.SIG_DFL)


@pytest.mark.parametrize("sig, code, message", [(signal.SIGINT, 130, "error: interrupted"),
                                                (signal.SIGTERM, 143, "error: terminated"),
                                                (signal.SIGHUP, 129, "error: hung up")])
def test_signal_mid_run_is_one_line_in_a_log(sig, code, message, tmp_path):
    """Ctrl-C (or a scheduler's SIGTERM, or the SIGHUP of a closed terminal or ssh session) with stderr in a log
    file: the log gains one 'error:' line, not a blank line before it (click's newline after an echoed ^C belongs on
    a terminal only), and no output appears. SIGHUP killed the run silently (status -1), temp files left."""
    log = tmp_path / "log"
    with open(log, "wb") as err:
        proc = subprocess.Popen([str(MICROFUSE), "score", str(MPN_FNA), "-o", str(tmp_path / "scores.tsv")],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                preexec_fn=_default_signals)
        deadline = time.monotonic() + 120  # a fresh install compiles its imports first: wait for the work itself
        while "auto picks" not in log.read_text() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.01)
        assert proc.poll() is None, log.read_text()
        proc.send_signal(sig)  # genes being called
        assert proc.wait(timeout=60) == code
    lines = log.read_text().splitlines()
    assert lines == [message] or (lines[-1] == message and all(line.startswith("info: ") for line in lines[:-1])), \
        lines
    assert sorted(p.name for p in tmp_path.iterdir()) == ["log"]


def test_sighup_under_nohup_is_still_ignored(tmp_path):
    """`nohup microfuse ...` (SIGHUP ignored) runs on when its terminal closes: the SIGHUP handling that cleans up
    an interrupted run must not replace an ignored SIGHUP."""
    out = tmp_path / "scores.tsv"
    proc = subprocess.Popen([str(MICROFUSE), "score", str(MPN_FNA), "-o", str(out)],
                            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            preexec_fn=lambda: signal.signal(signal.SIGHUP, signal.SIG_IGN))
    lines = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True).start()
    deadline = time.monotonic() + 120
    while not any("auto picks" in line for line in lines) and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    proc.send_signal(signal.SIGHUP)  # genes being called
    assert proc.wait(timeout=120) == 0, lines
    assert out.read_text().startswith("#microfuse")


def test_quiet_keeps_warnings_and_says_so(tmp_path):
    """-q drops the info lines but keeps warnings (a bins row naming no scaffold must not pass unseen), and its
    help says exactly that."""
    from conftest import run_cli
    from microfuse_cli.cli import cli

    bins = tmp_path / "bins.tsv"
    bins.write_text("NC_000908.2\tmge\nk141_7\tother\n")
    code, _, err = run_cli(["score", MG_FNA, "-g", "4", "--bins", bins, "-q", "-o", tmp_path / "scores.tsv"])
    assert code == 0, err
    assert err == f"warning: 1 scaffold(s) of {bins} are not in {MG_FNA.name} (e.g. k141_7)\n"
    quiet = next(p for p in cli.commands["score"].params if "--quiet" in p.opts)
    assert quiet.help == "Print only warnings and errors."


@pytest.mark.parametrize("flags", [["-q", "-v"], ["--verbose", "--quiet"], ["-qv"]])
def test_quiet_and_verbose_together_are_bad_usage(tmp_path, flags):
    """-q with -v: quiet won without a word (the -v a user asked for printed nothing). Refused as two options asking
    opposite things are elsewhere (--pairs with --labels): exit 2, one line, nothing written."""
    from conftest import run_cli

    out = tmp_path / "pairs.tsv"
    code, stdout, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, *flags, "-o", out])
    assert code == 2 and not out.exists() and stdout == "", err
    assert err == "error: -q/--quiet and -v/--verbose ask for less and for more output; give one\n"


@pytest.mark.parametrize("command", [
    ["score", "--threshold", "nan", MG_GFF, "--fasta", MG_FNA],
    ["plot", "--threshold", "nan", "scores.tsv", MG_GFF, "--fasta", MG_FNA, "-o", "x.png", "--gene", "MG_001"],
    ["evaluate", "--threshold", "nan", "scores.tsv"],
    ["train", "--lr", "inf", "pairs.tsv", "-e", "emb", "-o", "model"],
    ["train", "--weight-decay", "nan", "pairs.tsv", "-e", "emb", "-o", "model"],
    ["train", "--val-fraction", "nan", "pairs.tsv", "-e", "emb", "-o", "model"],
    ["pairs", "--split", "nan,0.5,0.5", MG_GFF, "--fasta", MG_FNA],
    ["pairs", "--split", "inf,0,0", MG_GFF, "--fasta", MG_FNA],
])
def test_nan_and_inf_are_bad_usage_before_any_work(command, tmp_path, monkeypatch):
    """click's FloatRange lets nan through (every comparison with it is false): `plot --threshold nan` drew a
    figure at nan, `pairs --split nan,0.5,0.5` wrote a table, `score --threshold nan` read the genome first."""
    from conftest import run_cli

    monkeypatch.chdir(tmp_path)
    code, out, err = run_cli(command)
    assert code == 2, err
    assert err.startswith("error: ") and ("finite" in err or "non-negative fractions" in err), err
    assert "info:" not in err and out == ""
    assert list(tmp_path.iterdir()) == []


def test_unwritable_home_gives_log_lines_only(tmp_path):
    """A cluster node's read-only HOME (here /proc, which even root cannot write): matplotlib, imported by
    --report, falls back to a temporary cache and says so; it said so in bare lines among the `level:` lines."""
    env = {k: v for k, v in os.environ.items() if k not in ("MPLCONFIGDIR", "XDG_CONFIG_HOME", "XDG_CACHE_HOME")}
    proc = subprocess.run([str(MICROFUSE), "score", MG_GFF, "--fasta", MG_FNA, "--report", "r.html", "-o", "s.tsv"],
                          cwd=tmp_path, env={**env, "HOME": "/proc"}, capture_output=True, timeout=300)
    err = proc.stderr.decode()
    assert proc.returncode == 0, err
    assert "matplotlib" in err.lower()  # the fallback happened and was reported
    assert all(line.startswith(("info: ", "warning: ")) for line in err.splitlines()), err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["r.html", "s.tsv"]


def run_without_hub(args, tmp_path, **env_extra):
    """Run microfuse with the hub at a local port that refuses connections (nothing leaves the machine) and an
    empty Hugging Face cache; returns (exit code, stderr)."""
    import socket

    with socket.socket() as closed_port:  # bound, never listening: every connection is refused at once
        closed_port.bind(("127.0.0.1", 0))
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        env.update(HF_ENDPOINT=f"http://127.0.0.1:{closed_port.getsockname()[1]}", HF_HOME=str(tmp_path / "hf"),
                   **env_extra)
        proc = subprocess.run([str(MICROFUSE), *map(str, args)], cwd=tmp_path, env=env, capture_output=True,
                              timeout=120)
    return proc.returncode, proc.stderr.decode()


@pytest.mark.parametrize("view, model", [
    (["--protein-view", "prostt5"], "Rostlab/ProstT5"),
    (["--context-view", "bacformer"], "macwiatrak/bacformer-masked-complete-genomes"),
])
def test_unreachable_hub_fails_in_seconds_in_one_line(tmp_path, view, model):
    """A compute node without network and without --offline: huggingface_hub retried every file it asked for
    (1+2+4+8+8 s each, bare 'Retrying in 8s' lines) and `embed` failed after minutes. Bacformer's loader skipped
    the one-request check (23 s and 12 doubled 'Retrying' warnings before its error). The check now comes before
    the genome is read and torch imported: the error is stderr's only line, with no 'info: ... genes' line before
    it (it came after reading the genome, 5-10 s)."""
    start = time.monotonic()
    code, err = run_without_hub(["embed", MG_GFF, "--fasta", MG_FNA, "-o", "emb", *view], tmp_path)
    assert code == 1, err
    assert time.monotonic() - start < 30, err
    assert err.count("\n") == 1 and err.startswith("error: cannot download from the Hugging Face hub"), err
    assert model in err and "--local-dir" in err
    assert not (tmp_path / "emb").exists() and not (tmp_path / "emb.partial").exists()


@pytest.mark.parametrize("command", [
    ["embed", MG_FNA, "-o", "emb", "--protein-view", "prostt5", "--offline"],
    ["embed", MG_FNA, "-o", "emb", "--context-view", "builtin,bacformer"],
    ["score", MG_FNA, "-m", "hub_view_model", "-o", "scores.tsv", "--operons-gff", "operons.gff3"],
    ["score", MG_FNA, "-m", "hub_view_model", "-o", "scores.tsv", "--offline"],
])
def test_hub_model_out_of_reach_is_refused_before_the_genome_is_read(command, tmp_path):
    """A bare assembly (genes to call) with a foundation view whose hub model is neither cached nor downloadable:
    `embed` and `score` (with a model trained on ProstT5 views, here the packaged model's files with that view
    recorded) read the genome, called its genes and imported torch before saying so. Now stderr holds the error
    alone (no gene-calling line), and no output is left behind."""
    from microfuse_cli.score import DEFAULT_MODEL

    model = tmp_path / "hub_view_model"
    shutil.copytree(DEFAULT_MODEL, model)
    config = json.loads((model / "config.json").read_text())
    config["inputs"]["views"]["protein"] = "prostt5"
    (model / "config.json").write_text(json.dumps(config))
    code, err = run_without_hub(command, tmp_path)
    assert code == 1, err
    assert err.count("\n") == 1 and err.startswith("error: "), err
    assert ("Rostlab/ProstT5" if "score" in command or "prostt5" in command else "bacformer") in err
    assert ("is not available locally" if "--offline" in command else "cannot download from the Hugging Face hub") \
        in err
    assert sorted(p.name for p in tmp_path.iterdir() if p.name != "hf") == ["hub_view_model"]


@pytest.mark.parametrize("option, folder, what, lacks", [
    ("--protein-model", "bacformer", "ProstT5", "spiece.model or tokenizer.json"),  # a Bacformer folder as ProstT5's
    ("--esm-model", "prostt5", "ESM-2", "vocab.txt"),
    ("--context-model", "empty", "Bacformer", "config.json, model.safetensors or model.safetensors.index.json"),
])
def test_model_folder_lacking_files_is_refused_before_the_genome_is_read(option, folder, what, lacks, tmp_path):
    """A local model folder without a file from_pretrained reads (the tokenizer's, the config, the weights) was
    found out after the genome was read and torch imported; now before, by name."""
    from conftest import ROOT

    reference = ROOT / "tests" / "data" / "foundation_reference"
    models = {"bacformer": reference / "bacformer", "prostt5": reference / "prostt5", "esm2": reference / "esm2",
              "empty": tmp_path / "empty"}
    (tmp_path / "empty").mkdir()
    given = {"--protein-model": "prostt5", "--context-model": "bacformer", "--esm-model": "esm2"}
    given[option] = folder
    views = ["--protein-view", "prostt5", "--context-view", "bacformer"]
    args = [arg for name, key in given.items() for arg in (name, models[key])]
    code, err = run_without_hub(["embed", MG_FNA, "-o", "emb", *views, *args, "--offline"], tmp_path)
    assert code == 1, err
    assert err == f"error: {what} model folder {str(models[folder])!r} lacks {lacks}\n"
    assert not (tmp_path / "emb").exists()


def test_hub_model_availability_is_checked_without_torch(tmp_path, monkeypatch):
    """views.hf.require_model_available accepts the folders from_pretrained loads and a hub id in the cache under
    HF_HUB_OFFLINE, without a network and without importing torch; a hub id not cached is refused offline."""
    import socket

    import huggingface_hub.constants

    from conftest import ROOT
    from microfuse_cli.errors import DataError
    from microfuse_cli.views.foundation import BACFORMER, ESM2, PROSTT5
    from microfuse_cli.views.hf import require_model_available

    def refuse(*args, **kwargs):
        raise AssertionError(f"network access attempted: {args!r}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    reference = ROOT / "tests" / "data" / "foundation_reference"
    for spec, folder in ((PROSTT5, "prostt5"), (ESM2, "esm2"), (BACFORMER, "bacformer")):
        require_model_available(spec, str(reference / folder), offline=False)
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    with pytest.raises(DataError, match="'Rostlab/ProstT5' is not available locally"):
        require_model_available(PROSTT5, "Rostlab/ProstT5", offline=False)
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = tmp_path / "hub" / "models--Rostlab--ProstT5"
    shutil.copytree(reference / "prostt5", repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)
    require_model_available(PROSTT5, "Rostlab/ProstT5", offline=False)
    check = "import sys, microfuse_cli.embed as e; e.ViewConfig('prostt5').require_models(); " \
            "print(sorted({'torch', 'transformers'} & set(sys.modules)))"
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-c", check], env=env, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "[]\n"), proc.stderr


@pytest.mark.parametrize("command, wanted", [
    (["retrieve", "search", "--k", "abc", "--index", "."], "'abc' is not a valid integer."),
    (["score", "--threads", "two", MG_GFF], "'two' is not a valid integer."),
    (["plot", "--dpi", "1e3", "s.tsv", MG_GFF, "-o", "x.png"], "'1e3' is not a valid integer."),
    (["score", "--threshold", "high", MG_GFF], "'high' is not a valid float."),
])
def test_a_word_for_a_number_names_the_number_wanted(command, wanted):
    """click named its range types in the message ("'abc' is not a valid integer range"), which reads as if a
    range like 1-10 were wanted."""
    from conftest import run_cli

    code, _, err = run_cli(command)
    assert code == 2 and err.startswith("error: ") and wanted in err.splitlines()[0], err
    assert "range" not in err.splitlines()[0]


@pytest.mark.parametrize("ks", ["0,1", "-3", "1,x"])
def test_retrieve_evaluate_refuses_a_bad_k_before_loading_the_index(ks, tmp_path):
    """`--ks 0,1` was refused only after the index was loaded and searched, with 'ks must lie between 1 and the
    number of neighbours searched (1): [0, 1]'; the folder here is no index, so only a check before loading passes."""
    from conftest import run_cli

    code, _, err = run_cli(["retrieve", "evaluate", "--index", tmp_path, f"--ks={ks}"])
    assert code == 2, err
    assert err.splitlines()[0] == f"error: Invalid value: --ks takes comma-separated integers of at least 1, not {ks!r}"


def test_a_file_name_that_is_not_utf8_is_written_as_text(tmp_path):
    """A Latin-1 file name ('g\\xe9nome.gff' from an old file share): its name went into --fused ids, the
    --report page and evaluate's model column as a lone surrogate, an internal error (UnicodeEncodeError) after
    all the work. Now the undecodable byte is written as U+FFFD and every output is valid UTF-8."""
    import shutil

    shutil.copy(MG_GFF, os.fsencode(tmp_path) + b"/g\xe9nome.gff.gz")
    score = [MICROFUSE, b"score", b"g\xe9nome.gff.gz", b"--fasta", os.fsencode(MG_FNA), b"--label-rule", b"og",
             b"-o", b"s\xe9.tsv", b"--fused", b"f.npy", b"--report", b"r.html", b"-q"]
    evaluate = [MICROFUSE, b"evaluate", b"s\xe9.tsv", b"--bootstrap", b"0", b"-o", b"m.tsv", b"-q"]
    for command in (score, evaluate):
        proc = subprocess.run(command, cwd=tmp_path, capture_output=True, timeout=300)
        assert proc.returncode == 0, proc.stderr.decode(errors="replace")
    ids = (tmp_path / "f.ids.tsv").read_bytes().decode("utf-8").splitlines()
    assert ids[0].startswith("#") and ids[2].split("\t")[2] == "g\ufffdnome.gff.gz"  # model line, header, row
    assert "g\ufffdnome.gff.gz" in (tmp_path / "r.html").read_bytes().decode("utf-8")
    metrics = (tmp_path / "m.tsv").read_bytes().decode("utf-8").splitlines()
    assert metrics[1].split("\t")[0] == "s\ufffd.tsv"


def _interrupt_while_importing(command: list[str], delay: float, tmp_path) -> tuple[int, str]:
    """Start ``command`` (a Python running microfuse with ``-X importtime``), wait until it has imported a first
    module of click, sleep ``delay`` and send SIGINT; returns (exit status, stderr less the import-time lines).

    click is the first thing the CLI imports, and ``entry.main`` imports it inside its handling, so the signal
    always lands once microfuse's own code runs: a SIGINT during the interpreter's start-up or its ``site``
    imports (before any code of ours exists) is Python's to report, and waiting for click keeps the test exact."""
    import threading

    proc = subprocess.Popen(command, cwd=tmp_path, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines: list[str] = []
    importing_click = threading.Event()

    def read() -> None:
        for raw in proc.stderr:
            line = raw.decode(errors="replace")
            lines.append(line)
            module = line.rsplit("|", 1)[-1].strip() if line.startswith("import time:") else ""
            if module == "click" or module.startswith("click."):
                importing_click.set()
        importing_click.set()  # the process ended (or closed stderr) first: the assertions below say how

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    assert importing_click.wait(timeout=120)
    time.sleep(delay)
    proc.send_signal(signal.SIGINT)
    code = proc.wait(timeout=60)
    reader.join(timeout=60)
    return code, "".join(line for line in lines if not line.startswith("import time:"))


@pytest.mark.parametrize("launcher", ["module", "console_script"])
def test_ctrl_c_while_the_cli_is_importing_is_one_line(launcher, tmp_path):
    """Ctrl-C just after start-up (click, numpy and the commands still being imported) was a Python traceback:
    the console script imported microfuse_cli.cli before any handler existed. The entry function catches it from
    its first line: exit 130 and 'error: interrupted', at every moment from there on into the run."""
    import tomllib

    scripts = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())["project"]["scripts"]
    assert scripts["microfuse"] == "microfuse_cli.entry:main"
    start = {"module": ["-m", "microfuse_cli"],  # what pip's console-script wrapper runs:
             "console_script": ["-c", "import sys; from microfuse_cli.entry import main; sys.exit(main())"]}[launcher]
    command = [sys.executable, "-X", "importtime", *start, "score", str(MG_GFF), "--fasta", str(MG_FNA), "-o",
               str(tmp_path / "scores.tsv")]
    for delay in (0.0, 0.001, 0.003, 0.01, 0.03, 0.1):
        code, err = _interrupt_while_importing(command, delay, tmp_path)
        # exactly 130: interrupts.leave exits directly, as CPython would otherwise sometimes end by SIGINT (-2) here
        assert "Traceback" not in err and code == 130, (delay, code, err)
        assert err.splitlines()[-1] == "error: interrupted", (delay, err)
        assert all(line.startswith("info: ") for line in err.splitlines()[:-1]), (delay, err)
        assert not (tmp_path / "scores.tsv").exists()


def test_ctrl_c_in_a_callback_during_the_imports_ends_the_run(tmp_path):
    """A Ctrl-C that lands in a weakref callback of importlib's module locks cannot be raised: Python printed
    'Exception ignored in: ...' with a traceback and the run went on (exit 0; seen once in fresh-clone CI). The same
    unraisable interrupt, made deterministic by a callback during the CLI's import, ends the run in one line."""
    script = tmp_path / "interrupt_in_callback.py"
    script.write_text(
        "import sys, weakref\n"
        "class Trigger:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'microfuse_cli.cli':\n"
        "            class Obj: pass\n"
        "            obj = Obj()\n"
        "            def interrupted(_):\n"
        "                raise KeyboardInterrupt\n"
        "            ref = weakref.ref(obj, interrupted)\n"
        "            del obj  # the callback runs here, where Python cannot raise its exception\n"
        "        return None\n"
        "sys.meta_path.insert(0, Trigger())\n"
        "sys.argv = ['microfuse', '--version']\n"
        "from microfuse_cli.entry import main\n"
        "main()\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 130 and result.stderr == "error: interrupted\n", (result.returncode, result.stderr)
    assert result.stdout == ""


#: A child that runs microfuse as its launcher does, with ``SIGNAL`` sent to itself just as the CLI starts to import
#: click (its first import): the moment a scheduler's SIGTERM or a closed terminal's SIGHUP lands just after start-up.
_SIGNAL_WHILE_IMPORTING = (
    "import os, signal, sys\n"
    "class Trigger:\n"
    "    def find_spec(self, name, path=None, target=None):\n"
    "        if name == 'click':\n"
    "            os.kill(os.getpid(), signal.SIGNAL)  # its handler runs inside this import\n"
    "        return None\n"
    "sys.meta_path.insert(0, Trigger())\n"
    "sys.argv = ['microfuse', *ARGS]\n")
_LAUNCHERS = {"console_script": "from microfuse_cli.entry import main\nsys.exit(main())\n",  # pip's wrapper
              "module": "import runpy\nrunpy.run_module('microfuse_cli', run_name='__main__', alter_sys=True)\n"}


def _run_signalled_while_importing(sig: str, launcher: str, args: list[str], tmp_path, ignored=()):
    script = tmp_path / "signal_while_importing.py"
    script.write_text(_SIGNAL_WHILE_IMPORTING.replace("SIGNAL", sig).replace("ARGS", repr(args)) + _LAUNCHERS[launcher])

    def dispositions() -> None:  # as a shell gives them (this test may run under nohup), less those `ignored`
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_IGN if s in ignored else signal.SIG_DFL)

    return subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=dispositions)


@pytest.mark.parametrize("launcher", sorted(_LAUNCHERS))
@pytest.mark.parametrize("sig, code, message", [("SIGTERM", 143, "error: terminated"), ("SIGHUP", 129, "error: hung up")])
def test_sigterm_or_sighup_while_the_cli_is_importing_is_one_line(sig, code, message, launcher, tmp_path):
    """A SIGTERM or SIGHUP in the first ~0.1 s of a run (the CLI still importing click, before ``handle_errors``
    had put its handlers in place) killed the process by the signal with no word: status -15 or -1, not 143 or 129
    and an 'error:' line as a moment later. The entry function now handles both from its first line."""
    result = _run_signalled_while_importing(sig, launcher, ["pairs", str(MG_GFF), "--fasta", str(MG_FNA), "-o",
                                                            "pairs.tsv"], tmp_path)
    assert (result.returncode, result.stderr) == (code, message + "\n"), (result.returncode, result.stderr)
    assert result.stdout == "" and not (tmp_path / "pairs.tsv").exists()


def _swallowed_by_a_bare_except(sig: str) -> str:
    """Lines of a generated script, inside a meta-path finder: send ``sig`` to itself and swallow its interrupt as a
    library's bare ``except:`` would, leaving a file ``swallowed`` as the trace."""
    return ("            try:  # a library's bare except\n"
            f"                os.kill(os.getpid(), signal.{sig})\n"
            "                time.sleep(5)\n"
            "            except BaseException:\n"
            "                open('swallowed', 'w').close()\n")


@pytest.mark.parametrize("sig, code, message", [("SIGTERM", 143, "error: terminated"),
                                                ("SIGINT", 130, "error: interrupted")])
@pytest.mark.parametrize("module", ["click", "microfuse_cli.genome"])
def test_a_sigterm_a_library_swallowed_does_not_end_as_a_success(module, sig, code, message, tmp_path):
    """A SIGTERM whose interrupt some code swallowed (a library's bare ``except:``) let the run go on to exit 0, as if
    none had come. It now ends as terminated: at once when it came during the CLI's imports (click), else once the
    run is done (its outputs complete, as when an interrupt lost in a callback comes back too late): 143. A Ctrl-C
    the same (130): Python's own handler, in C, left no record of it, and the run exited 0."""
    script = tmp_path / "swallowed_sigterm.py"
    script.write_text(
        "import os, signal, sys, time\n"
        "class Trigger:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {module!r}:\n"
        + _swallowed_by_a_bare_except(sig) +
        "        return None\n"
        "sys.meta_path.insert(0, Trigger())\n"
        f"sys.argv = ['microfuse', 'pairs', {str(MG_GFF)!r}, '--fasta', {str(MG_FNA)!r}, '-o', 'pairs.tsv']\n"
        + _LAUNCHERS["console_script"])
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            preexec_fn=lambda: signal.signal(getattr(signal, sig), signal.SIG_DFL))
    assert (tmp_path / "swallowed").exists()
    assert result.returncode == code and result.stderr.splitlines()[-1] == message, (result.returncode, result.stderr)
    if module == "click":
        assert result.stderr == f"{message}\n" and not (tmp_path / "pairs.tsv").exists()


def test_ctrl_c_once_the_run_is_over_is_no_traceback(tmp_path):
    """A Ctrl-C after the run, while Python exits (flushing stdout, joining threads; here an atexit callback), was a
    KeyboardInterrupt traceback ('Exception ignored in atexit callback'). The run's outputs are in place by then:
    the process ends by the signal, silently, as a SIGTERM then does."""
    script = tmp_path / "ctrl_c_at_exit.py"
    script.write_text(
        "import atexit, os, signal, sys, time\n"
        "atexit.register(lambda: (os.kill(os.getpid(), signal.SIGINT), time.sleep(5)))\n"
        "sys.argv = ['microfuse', '--version']\n" + _LAUNCHERS["console_script"])
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    assert (result.returncode, result.stdout, result.stderr) == (-signal.SIGINT, "microfuse 0.1.0\n", ""), (
        result.returncode, result.stderr)


def test_a_sigterm_a_library_turned_into_its_own_error_ends_as_terminated(tmp_path):
    """A SIGTERM whose interrupt a library turned into an error of its own (as FAISS's interrupt callback does, a
    RuntimeError; 1 `score` run in 100 under SIGTERM said 'error: internal error: RuntimeError: Err...', exit 1, its
    source not pinned down) ends as what it was: 'error: terminated', 143."""
    script = tmp_path / "converted_sigterm.py"
    script.write_text(
        "import os, signal, sys, time\n"
        "class Trigger:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'microfuse_cli.genome':  # imported once the command runs\n"
        "            try:\n"
        "                os.kill(os.getpid(), signal.SIGTERM)\n"
        "                time.sleep(5)\n"
        "            except BaseException:\n"
        "                raise RuntimeError('Error in check(): computation interrupted') from None\n"
        "        return None\n"
        "sys.meta_path.insert(0, Trigger())\n"
        f"sys.argv = ['microfuse', 'pairs', {str(MG_GFF)!r}, '--fasta', {str(MG_FNA)!r}, '-o', 'pairs.tsv']\n"
        + _LAUNCHERS["console_script"])
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)},
                            preexec_fn=lambda: signal.signal(signal.SIGTERM, signal.SIG_DFL))
    assert (result.returncode, result.stderr) == (143, "error: terminated\n"), (result.returncode, result.stderr)
    assert not (tmp_path / "pairs.tsv").exists()


@pytest.mark.parametrize("module", ["click", "microfuse_cli.genome"])
def test_ctrl_c_that_python_wrapped_in_a_runtime_error_is_one_line(module, tmp_path):
    """Ctrl-C while a class is made (platform.py's, under click's import) reaches the program as 'RuntimeError:
    Error calling __set_name__ ...', raised from the KeyboardInterrupt: during the CLI's imports a traceback (exit
    1), during a run 'internal error'. Both are the interrupt: 'error: interrupted', 130."""
    script = tmp_path / "wrapped_interrupt.py"
    script.write_text(
        "import sys\n"
        "class Interrupted:\n"
        "    def __set_name__(self, owner, name):\n"
        "        raise KeyboardInterrupt\n"
        "class Trigger:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name == {module!r}:\n"
        "            class Made:  # Python raises RuntimeError from the KeyboardInterrupt here\n"
        "                attribute = Interrupted()\n"
        "        return None\n"
        "sys.meta_path.insert(0, Trigger())\n"
        f"sys.argv = ['microfuse', 'pairs', {str(MG_GFF)!r}, '--fasta', {str(MG_FNA)!r}, '-o', 'pairs.tsv']\n"
        + _LAUNCHERS["console_script"])
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert (result.returncode, result.stderr) == (130, "error: interrupted\n"), (result.returncode, result.stderr)
    assert not (tmp_path / "pairs.tsv").exists()


def test_an_ignored_sighup_while_the_cli_is_importing_stays_ignored(tmp_path):
    """Under `nohup` (SIGHUP ignored at start) a SIGHUP just after start-up is not the run's end: handling SIGHUP
    from the entry function's first line must not undo nohup."""
    result = _run_signalled_while_importing("SIGHUP", "console_script", ["--version"], tmp_path,
                                            ignored=(signal.SIGHUP,))
    assert (result.returncode, result.stdout, result.stderr) == (0, "microfuse 0.1.0\n", "")


@pytest.mark.parametrize("sig, code, message", [("SIGTERM", 143, "error: terminated"),
                                                ("SIGINT", 130, "error: interrupted")])
def test_a_sigterm_a_library_swallowed_with_the_import_lock_held_ends_score(sig, code, message, tmp_path):
    """`score` hit by SIGTERM 0.3-0.8 s in hung for good in about 1 run of 15: the interrupt, raised just after
    importlib had taken CPython's import lock, was swallowed (no 'error:' line, no lost-interrupt report) and left
    the lock held; the main thread then waited for the model loader, which waited for the lock. The same state,
    made deterministic (the lock taken and kept, the SIGTERM raised inside a bare ``except:``, in the main thread's
    first import once the loader exists), ends the run: 'error: terminated', 143, no output. A Ctrl-C the same
    (130): Python's own handler, in C, left no record of it, and `score` waited until a second Ctrl-C."""
    script = tmp_path / "swallowed_sigterm.py"
    script.write_text(
        "import _imp, os, signal, sys, threading, time\n"
        "class Trigger:\n"
        "    done = False\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if (not self.done and threading.current_thread() is threading.main_thread()\n"
        "                and any(t.name == 'microfuse-model-loader' for t in threading.enumerate())):\n"
        "            self.done = True\n"
        "            _imp.acquire_lock()  # never released, as an interrupt just after importlib took it leaves it\n"
        + _swallowed_by_a_bare_except(sig) +
        "        return None\n"
        "sys.meta_path.insert(0, Trigger())\n"
        f"sys.argv = ['microfuse', 'score', {str(MG_GFF)!r}, '--fasta', {str(MG_FNA)!r}, '-o', 'scores.tsv']\n"
        "from microfuse_cli.entry import main\n"
        "sys.exit(main())\n")

    def dispositions() -> None:  # as a shell gives them (this test may run under nohup)
        for s in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(s, signal.SIG_DFL)

    proc = subprocess.Popen([sys.executable, str(script)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            cwd=tmp_path, env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=dispositions)
    try:
        out, err = proc.communicate(timeout=90)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"score still running 90 s after a swallowed {sig}: {err}")
    assert (tmp_path / "swallowed").exists()  # the state above was reached
    assert proc.returncode == code and err.splitlines()[-1] == message, (proc.returncode, err)
    assert all(line.startswith("info: ") for line in err.splitlines()[:-1]), err
    assert out == "" and not (tmp_path / "scores.tsv").exists()


def test_a_signal_handler_set_from_c_is_left_alone(tmp_path):
    """A host program that set SIGHUP's handler in C (an embedding application, a native library at start-up:
    ``signal.getsignal`` says None) ran a command in-process: ``handle_errors`` and the folder swap replaced that
    handler and put it back with ``signal.signal(SIGHUP, None)``, which raises TypeError (a traceback out of the
    CLI's main after the run). A handler Python cannot put back is left alone; the run writes its output."""
    script = tmp_path / "c_handler.py"
    script.write_text(
        "import ctypes, signal, sys\n"
        "libc = ctypes.CDLL(None)\n"
        "libc.signal.restype, libc.signal.argtypes = ctypes.c_void_p, [ctypes.c_int, ctypes.c_void_p]\n"
        "libc.signal(signal.SIGHUP, ctypes.cast(libc.getpid, ctypes.c_void_p))  # a C function as the handler\n"
        "signal.signal(signal.SIGINT, signal.SIG_DFL)\n"
        "del sys.modules['signal'], sys.modules['_signal']  # read the handlers again, as at a start-up after it\n"
        "import signal\n"
        "print('before', signal.getsignal(signal.SIGHUP), flush=True)\n"
        "from microfuse_cli.cli import main\n"
        f"status = main(['pairs', {str(MG_GFF)!r}, '--fasta', {str(MG_FNA)!r}, '-o', 'pairs.tsv'])\n"
        "print('status', status, 'after', signal.getsignal(signal.SIGHUP), flush=True)\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=_default_signals)
    assert result.stdout.splitlines() == ["before None", "status 0 after None"], (result.stdout, result.stderr)
    assert "Traceback" not in result.stderr and (tmp_path / "pairs.tsv").stat().st_size > 0, result.stderr


def test_verbose_off_a_terminal_logs_progress_lines_where_no_bar_is_drawn(tmp_path, monkeypatch):
    """A cluster job's log drew no bar and said nothing for a minute of `score --reference` even at -v; with -v a
    long stage logs how far it is (every PROGRESS_LOG_SECONDS; 0 here, so every step), without -v nothing."""
    from conftest import MG_G37, run_cli

    from microfuse_cli.cli import _common

    monkeypatch.setattr(_common, "PROGRESS_LOG_SECONDS", 0.0)
    args = ["embed", f"{MG_G37}.gff.gz", "--fasta", f"{MG_G37}.fna.gz", "--genetic-code", "4", "-o", tmp_path / "emb"]
    code, _, err = run_cli([*args, "-v"])
    assert code == 0, err
    lines = [line for line in err.splitlines() if re.search(r": \d+(/\d+)?( \w+)? \(\d+ s\)$", line)]
    assert lines, err
    code, _, err = run_cli([*args[:-1], tmp_path / "emb2"])
    assert code == 0 and not re.search(r"\(\d+ s\)$", err, re.M), err


def test_progress_lines_off_a_terminal_write_large_counts_in_full(monkeypatch):
    """`-v`'s progress lines in a cluster job's log formatted their counts with %g: indexing ten million pairs said
    'indexing: 1.23457e+06/1e+07 pairs', six digits of a count and an exponent, where the bar says 1234567/10000000."""
    import logging

    from microfuse_cli.cli import _common

    monkeypatch.setattr(_common, "PROGRESS_LOG_SECONDS", 0.0)
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(record.getMessage())
    logger = logging.getLogger("microfuse")
    logger.addHandler(handler)
    monkeypatch.setattr(logger, "level", logging.INFO)
    monkeypatch.setattr(logger, "disabled", False)
    try:
        monkeypatch.setattr(_common.Run, "console", lambda self: type("Log", (), {"is_terminal": False,
                                                                                  "is_dumb_terminal": False})())
        run = _common.Run(threads=1, verbosity=1, debug=False)
        advance, close = run.bar("indexing", 10_000_000, "pairs")
        advance(1_234_567)
        close()
        advance, close = run.bar("reading", None, "contigs")
        advance.set_total(2_500_000)
        advance(2_000_001)
        close()
    finally:
        logger.removeHandler(handler)
    assert [re.sub(r" \(\d+ s\)$", "", line) for line in lines] == [
        "indexing: 1234567/10000000 pairs", "reading: 2000001/2500000 contigs"], lines


@pytest.mark.parametrize("raised, code, message", [("KeyboardInterrupt()", 130, "error: interrupted"),
                                                   ("Terminated(signal.SIGTERM)", 143, "error: terminated"),
                                                   ("Terminated(signal.SIGHUP)", 129, "error: hung up")])
def test_an_interrupt_in_a_callback_during_a_run_ends_it(raised, code, message, tmp_path):
    """Ctrl-C or SIGTERM whose handler ran in a weakref callback after start-up (`evaluate` at 5.5 s, `score` at
    0.5 s into a run on M. genitalium) was printed as 'Exception ignored in: ...' with a traceback and lost: the run
    finished with exit 0, or, where it cut importlib short with its import lock held, hung for good (the model
    loader's import waited for that lock, the main thread for the model). It now ends the run as any interrupt."""
    script = tmp_path / "interrupt_in_callback.py"
    script.write_text(
        "import signal, sys, weakref\n"
        "class Trigger:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'microfuse_cli.pairs':  # imported by the command itself, after start-up\n"
        "            from microfuse_cli.cli._common import Terminated\n"
        "            class Obj: pass\n"
        "            obj = Obj()\n"
        "            def interrupted(_):\n"
        f"                raise {raised}\n"
        "            ref = weakref.ref(obj, interrupted)\n"
        "            del obj  # the callback runs here, where Python cannot raise its exception\n"
        "        return None\n"
        "sys.meta_path.insert(0, Trigger())\n"
        f"sys.argv = ['microfuse', 'pairs', {str(MG_GFF)!r}, '--fasta', {str(MG_FNA)!r}, '-o', 'pairs.tsv']\n"
        "from microfuse_cli.entry import main\n"
        "main()\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=120, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)}, preexec_fn=_default_signals)  # not nohup's
    assert result.returncode == code and result.stderr.splitlines()[-1] == message, (result.returncode, result.stderr)
    assert "Exception ignored" not in result.stderr and "Traceback" not in result.stderr, result.stderr
    assert sorted(p.name for p in tmp_path.iterdir()) == [script.name]


#: A KeyboardInterrupt or Terminated raised in a weakref callback, where Python cannot raise it (``lose(...)``).
_LOSE_AN_INTERRUPT = (
    "import weakref\n"
    "def lose(exc):\n"
    "    class Obj: pass\n"
    "    obj = Obj()\n"
    "    def callback(_):\n"
    "        raise exc\n"
    "    ref = weakref.ref(obj, callback)\n"
    "    del obj  # the callback runs here\n")


@pytest.mark.parametrize("raised, code, message", [("KeyboardInterrupt()", 130, "error: interrupted"),
                                                   ("Terminated(signal.SIGTERM)", 143, "error: terminated")])
def test_an_interrupt_lost_at_the_end_of_a_run_is_not_sent_after_it(raised, code, message, tmp_path):
    """An interrupt lost in a callback just before the run ended (less than the 10 ms before it is sent again) was
    sent after ``handle_errors`` had returned 0: into the program of a Python user who called the CLI's main (a
    KeyboardInterrupt traceback, or death by SIGTERM), the real CLI exiting 0 as if none had come. The run now
    ends as interrupted, and nothing comes after it."""
    script = tmp_path / "lost_at_the_end.py"
    script.write_text(
        "import signal, sys, time\n" + _LOSE_AN_INTERRUPT +
        "from microfuse_cli.cli._common import Terminated, handle_errors\n"
        f"status = handle_errors(lambda: lose({raised}), False)\n"
        "print('status', status, flush=True)\n"
        "time.sleep(0.5)  # a signal sent 10 ms after the run ended comes here\n"
        "print('after', flush=True)\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0 and result.stdout.splitlines() == [f"status {code}", "after"], (
        result.returncode, result.stdout, result.stderr)
    assert result.stderr.splitlines() == [message], result.stderr


def test_a_run_in_another_thread_leaves_the_main_threads_unraisable_errors_alone(tmp_path):
    """The CLI run in a worker thread (a Snakemake `run:` block, a library user's thread) took over the
    process-wide ``sys.unraisablehook``: an interrupt lost in the main thread's own callbacks meanwhile, which is
    the program's business, was sent again to it as SIGINT (a KeyboardInterrupt traceback) instead of going to the
    program's hook; two such runs restoring in the wrong order left the CLI's hook in place for good."""
    script = tmp_path / "run_in_a_thread.py"
    script.write_text(
        "import sys, threading, time\n" + _LOSE_AN_INTERRUPT +
        "seen = []\n"
        "def hook(unraisable):\n"
        "    seen.append(type(unraisable.exc_value).__name__)\n"
        "sys.unraisablehook = hook\n"
        "from microfuse_cli.cli._common import handle_errors\n"
        "started, done = threading.Event(), threading.Event()\n"
        "def invoke():\n"
        "    started.set()\n"
        "    done.wait(10)\n"
        "worker = threading.Thread(target=lambda: print('status', handle_errors(invoke, False), flush=True))\n"
        "worker.start()\n"
        "started.wait(10)\n"
        "lose(KeyboardInterrupt())\n"
        "time.sleep(0.5)\n"
        "done.set()\n"
        "worker.join()\n"
        "print(seen, sys.unraisablehook is hook, flush=True)\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0 and result.stdout.splitlines() == ["status 0", "['KeyboardInterrupt'] True"], (
        result.returncode, result.stdout, result.stderr)


def test_an_interrupt_lost_just_before_a_failure_is_not_a_second_error_line(tmp_path):
    """An interrupt lost in a callback, then the run failing on its own before the interrupt was sent again: the
    signal came while the failure was being reported, a second 'error: interrupted' line (or a KeyboardInterrupt
    out of the CLI's main for a Python caller) after 'error: ...'. The failure is the one line and its status."""
    script = tmp_path / "lost_before_a_failure.py"
    script.write_text(
        "import sys, time\n" + _LOSE_AN_INTERRUPT +
        "from microfuse_cli.cli import _common\n"
        "from microfuse_cli.errors import DataError\n"
        "report = _common.report_error\n"
        "def slow_report(message):  # a stderr slow to take the line (a full pipe, a network file system)\n"
        "    report(message)\n"
        "    time.sleep(0.2)\n"
        "_common.report_error = slow_report\n"
        "def invoke():\n"
        "    lose(KeyboardInterrupt())\n"
        "    raise DataError('genes.gff: no genes')\n"
        "try:\n"
        "    status = _common.handle_errors(invoke, False)\n"
        "except KeyboardInterrupt:\n"
        "    status = 'KeyboardInterrupt'\n"
        "print('status', status, flush=True)\n"
        "time.sleep(0.2)\n")
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, cwd=tmp_path,
                            env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert result.returncode == 0 and result.stdout.splitlines() == ["status 1"], (
        result.returncode, result.stdout, result.stderr)
    assert result.stderr.splitlines() == ["error: genes.gff: no genes"], result.stderr


def test_an_error_of_a_run_started_while_a_program_handles_its_own_ctrl_c_is_not_reported_as_an_interrupt(capsys):
    # a program that runs a command in-process from its own `except KeyboardInterrupt:` (a cleanup step): every
    # exception raised in the run has that handled interrupt as its __context__, so a genuine error of the run was
    # 'error: interrupted' (130); only an interrupt raised during the run itself is one
    from microfuse_cli.cli._common import handle_errors

    def fails():
        raise RuntimeError("a bug")

    try:
        raise KeyboardInterrupt
    except KeyboardInterrupt:
        status = handle_errors(fails, debug=False)
    assert status == 1 and "internal error: RuntimeError: a bug" in capsys.readouterr().err


def test_a_ctrl_c_as_a_run_puts_its_handlers_in_place_leaves_none_behind(monkeypatch):
    # a program running a command in-process, Ctrl-C'd just as handle_errors had put its own Ctrl-C handler in
    # place, SIGTERM's not yet: the interrupt left handle_errors before its run (and its putting back) had begun,
    # and the program kept the CLI's handler for good (its next asyncio.run no longer took Ctrl-C gracefully, as
    # Python's own handler was no longer there)
    from microfuse_cli.cli._common import handle_errors
    from microfuse_cli.interrupts import terminate

    real_signal, fired = signal.signal, []

    def put_in_place(sig, handler):
        if sig == signal.SIGTERM and handler is terminate and not fired:
            fired.append(sig)
            signal.raise_signal(signal.SIGINT)
        return real_signal(sig, handler)

    previous = {signal.SIGINT: real_signal(signal.SIGINT, signal.default_int_handler),
                signal.SIGTERM: real_signal(signal.SIGTERM, signal.SIG_DFL)}
    try:
        monkeypatch.setattr(signal, "signal", put_in_place)
        try:
            handle_errors(lambda: 0, debug=False)
        except KeyboardInterrupt:  # before the run began: the program's to handle, as any of its own
            pass
        monkeypatch.undo()
        assert fired
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        for sig, handler in previous.items():
            real_signal(sig, handler)


def test_debug_traceback_ends_in_the_error_as_the_command_line_says_it():
    """--debug re-raises a MicrofuseError for its traceback, whose last line is str(error): the message as Python
    spells the settings (read_genome's fasta), not the option the user typed (--fasta) that the one-line error
    shows. The traceback now ends with that line too, as a note; an error that names no option gets none."""
    import traceback

    from microfuse_cli.cli._common import handle_errors
    from microfuse_cli.errors import FASTA, DataError

    def fails():
        raise DataError.naming("genes.gff: no sequences (give them with ", FASTA, ")")

    with pytest.raises(DataError) as raised:
        handle_errors(fails, debug=True)
    shown = "".join(traceback.format_exception(raised.value)).splitlines()
    assert shown[-2:] == ["microfuse_cli.errors.DataError: genes.gff: no sequences (give them with read_genome's "
                          "fasta)", "error: genes.gff: no sequences (give them with --fasta)"], shown[-3:]

    def plain():
        raise DataError("genes.gff: no genes")

    with pytest.raises(DataError) as raised:
        handle_errors(plain, debug=True)
    assert not hasattr(raised.value, "__notes__")


def test_a_signal_of_a_run_that_left_by_an_error_is_not_a_later_runs(capsys):
    # a run with --debug, a SIGTERM swallowed in it, then a bug: the bug is raised (--debug), and the record of the
    # SIGTERM stayed; a later run in another thread (which leaves the record alone) said 'error: terminated' (143)
    # for a bug of its own, and `score` there stopped at once waiting for its model
    from microfuse_cli.cli._common import handle_errors
    from microfuse_cli.errors import DataError

    def swallows_then_fails():
        try:  # a library's bare except
            signal.raise_signal(signal.SIGTERM)
        except BaseException:
            pass
        raise DataError("genes.gff: no genes")

    previous = signal.signal(signal.SIGTERM, signal.SIG_DFL)
    try:
        with pytest.raises(DataError):
            handle_errors(swallows_then_fails, debug=True)
    finally:
        signal.signal(signal.SIGTERM, previous)

    def fails():
        raise RuntimeError("a bug")

    statuses = []
    worker = threading.Thread(target=lambda: statuses.append(handle_errors(fails, debug=False)))
    worker.start()
    worker.join()
    assert statuses == [1] and "internal error: RuntimeError: a bug" in capsys.readouterr().err


def test_help_into_a_closed_pipe_is_141_with_click_before_8_5(monkeypatch):
    """click before 8.5 names its closed-pipe wrapper on sys.stdout PacifyFlushWrapper (8.5: _PacifyFlushWrapper):
    with click 8.4, `microfuse --help | head -0` ended click's silent 1, not 141 as every other closed pipe."""
    import click.utils

    from microfuse_cli.cli._common import handle_errors

    wrapper = getattr(click.utils, "_PacifyFlushWrapper", None) or click.utils.PacifyFlushWrapper
    before_8_5 = type("PacifyFlushWrapper", (wrapper,), {})

    def help_into_a_closed_pipe():  # what click's main does on EPIPE
        sys.stdout = before_8_5(sys.stdout)
        raise SystemExit(1)

    monkeypatch.setattr(sys, "stdout", sys.stdout)
    assert handle_errors(help_into_a_closed_pipe, debug=False) == 141
