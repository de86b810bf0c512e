"""The output policy (io.check_outputs, atomic_output, atomic_directory) through the real CLI on real genomes.

Every case asserts what changed on disk and what did not (content hash, inode, mtime), the exit code and the
message: a file output replaces only a regular file, a symlink is written through, a device or FIFO is written
into, no output may be an input or another output, and a folder output is created or reused only when it holds
a previous output of the same kind, never deleting anything else. Also the CLI items of issue 13 (pipes, exit
codes, messages, retrieve, the man page).
"""

from __future__ import annotations

import contextlib
import errno
import gzip
import hashlib
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest

from conftest import ECOLI_FNA, ECOLI_GFF, MPN_FNA, MPN_GFF, PANEL, as_a_plain_user, run_cli

MG = PANEL / "GCF_000027325.1_ASM2732v1_genomic"  # Mycoplasma genitalium G37: 476 genes, small
MG_GFF, MG_FNA = Path(f"{MG}.gff.gz"), Path(f"{MG}.fna.gz")
MICROFUSE = Path(sys.executable).parent / "microfuse"


def state(path: Path) -> tuple:
    """What must not change: content hash, inode and mtime (a rename or a rewrite changes one of them)."""
    info = os.lstat(path)
    return hashlib.sha256(path.read_bytes()).hexdigest(), info.st_ino, info.st_mtime_ns


def tree(folder: Path) -> dict[str, tuple]:
    return {str(p.relative_to(folder)): state(p) for p in sorted(folder.rglob("*")) if p.is_file()}


def refused(code: int, err: str, fragment: str) -> None:
    lines = err.strip().splitlines()
    assert code == 2, err
    assert lines and lines[0].startswith("error: ") and fragment in lines[0], err
    assert all(line.startswith("Try ") for line in lines[1:]), err
    assert "Traceback" not in err


@pytest.fixture(scope="module")
def made(tmp_path_factory, mg_embedded):
    """Real outputs to reuse: M. genitalium pairs (labelled, split) + proteins, embeddings (this module's copy of the
    session's `embed` run), model and fused vectors."""
    import shutil

    root = tmp_path_factory.mktemp("policy")
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "--label-rule", "og", "--split", "0.7,0.15,0.15",
                            "--proteins", root / "mg.faa", "-o", root / "mg_pairs.tsv"])
    assert code == 0, err
    shutil.copytree(mg_embedded, root / "mg_emb")
    code, _, err = run_cli(["train", root / "mg_pairs.tsv", "-e", root / "mg_emb", "-o", root / "mg_model",
                            "--epochs", "1", "--batch-size", "64"])
    assert code == 0, err
    for name in ("a", "b"):  # one assembly under two genome names: the same contig and pair ids (k141_* alike)
        code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "--fused", root / f"{name}.npy", "--genome-name",
                                name, "-o", root / f"{name}.tsv", "-q"])
        assert code == 0, err
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "--label-rule", "og", "-o", root / "labelled.tsv",
                            "-q"])
    assert code == 0, err
    return root


# ------------------------------------------------------------------------------------------------ file outputs


def _second_fsync_fails(monkeypatch) -> list:
    """The second file synced in this run fails as a full disk does: one output on disk, the next not. Returns the
    descriptors synced so far (a test asserts the failure was reached)."""
    return _fsync_fails_at(monkeypatch, 2)


def _fsync_fails_at(monkeypatch, nth: int) -> list:
    """The ``nth`` file synced in this run fails as a full disk does (``_second_fsync_fails``)."""
    real_fsync, calls = os.fsync, []

    def nth_fails(fd):
        calls.append(fd)
        if len(calls) == nth:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", nth_fails)
    return calls


def test_dev_null_stays_a_device(tmp_path):
    """`-o /dev/null` (run as root here, as in CI) writes into the device; it is never replaced by a file."""
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", "/dev/null", "--proteins", "/dev/null"])
    assert code == 0, err
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert [p.name for p in Path("/dev").glob(".null.*")] == []


@pytest.mark.parametrize("target", ["/dev/stdout", "/dev/fd/1", "link"])
def test_dev_stdout_redirected_to_a_file_is_appended_to_not_replaced(target, tmp_path):
    """`-o /dev/stdout >> log.tsv` (or `{ echo '# run'; microfuse ... -o /dev/stdout; } > f`): the shell's file
    keeps what it held and gets the output after it, as `-o -` gives; it was replaced by a new file."""
    log, plain = tmp_path / "log.tsv", tmp_path / "plain.tsv"
    log.write_text("# an earlier run\n")
    if target == "link":  # a link to /dev/stdout is the same descriptor
        target = tmp_path / "out.tsv"
        target.symlink_to("/dev/stdout")
    with open(log, "a") as handle:
        inode = os.fstat(handle.fileno()).st_ino
        proc = subprocess.run([sys.executable, "-m", "microfuse_cli", "pairs", str(MG_GFF), "--fasta", str(MG_FNA),
                               "-o", str(target)], stdout=handle, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 0, proc.stderr
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", plain])
    assert code == 0, err
    assert os.stat(log).st_ino == inode
    assert log.read_text() == "# an earlier run\n" + plain.read_text()
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


@pytest.mark.parametrize("stderr", ["closed", "read-only", "fd 5 read-only"])
def test_a_descriptor_output_not_open_for_writing_is_refused(stderr, tmp_path):
    """`--proteins /dev/stderr 2>&-`, or under a wrapper script that left stderr open read-only on itself (bash
    opens a script on the lowest free descriptor): /dev/stderr reopened whatever file held descriptor 2 and the
    proteins were appended to it: to the wrapper script, or into the temp file of `-o`."""
    victim, out = tmp_path / "wrapper.sh", tmp_path / "pairs.tsv"
    victim.write_text("#!/bin/sh\nexec microfuse \"$@\"\n")
    before = state(victim)
    target = "/dev/fd/5" if stderr == "fd 5 read-only" else "/dev/stderr"
    command = [sys.executable, "-m", "microfuse_cli", "pairs", str(MG_GFF), "--fasta", str(MG_FNA), "-o", str(out),
               "--proteins", target]
    redirect = {"closed": "2>&-", "read-only": '2<"$0"', "fd 5 read-only": '5<"$0"'}[stderr]
    proc = subprocess.run(["bash", "-c", f'exec "$@" {redirect}', victim, *command], stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 2
    assert state(victim) == before and not out.exists()
    if stderr == "fd 5 read-only":
        assert proc.stderr == "error: --proteins /dev/fd/5: descriptor 5 is not open for writing (closed, or read-only)\n"


@pytest.mark.parametrize("option", ["-o", "--plots"])
def test_a_folder_output_naming_a_piped_descriptor_is_refused_before_work(option, made, tmp_path):
    """`embed G -o /dev/stdout | ...`: the pipe's /proc path does not exist, so it was taken for a new folder; the
    run did all its work, then failed 'cannot write /dev/stdout: No such file or directory', exit 1. A folder output
    naming a descriptor that is no folder is bad usage, said before any work, as `-o -` is."""
    command = {"-o": ["embed", MG_GFF, "--fasta", MG_FNA, "-o", "/dev/stdout"],
               "--plots": ["evaluate", made / "labelled.tsv", "-o", tmp_path / "m.tsv", "--plots", "/dev/fd/1"]}[option]
    proc = subprocess.run([sys.executable, "-m", "microfuse_cli", *map(str, command)], cwd=tmp_path,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    path = command[-1]
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
    assert proc.stderr == (f"error: {option} takes a folder, and {path} names an open descriptor (a pipe, a terminal "
                           "or a redirected file), not a folder; give a folder name\n")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["-o", "--plots"])
def test_a_folder_output_naming_a_closed_descriptor_is_said_closed(option, made, tmp_path):
    """`-o /dev/fd/9` with descriptor 9 closed was refused 'names an open descriptor (a pipe, a terminal or a
    redirected file)', which it is not; it is said closed, as a file output naming it is."""
    command = {"-o": ["embed", MG_GFF, "--fasta", MG_FNA, "-o", "/dev/fd/9"],
               "--plots": ["evaluate", made / "labelled.tsv", "-o", tmp_path / "m.tsv", "--plots", "/dev/fd/9"]}[option]
    proc = subprocess.run([sys.executable, "-m", "microfuse_cli", *map(str, command)], cwd=tmp_path, close_fds=True,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert (proc.returncode, proc.stdout) == (2, ""), proc.stderr
    assert proc.stderr == f"error: {option} /dev/fd/9: descriptor 9 is not open for writing (closed, or read-only)\n"
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("relative", ["output", "input"])
def test_a_deleted_current_folder_is_named_when_a_path_is_relative(relative, tmp_path):
    """A cluster job whose folder was removed (a cleaned scratch space) under it: a relative path there was 'error:
    No such file or directory' (exit 1), naming nothing; absolute paths still work."""
    gone = tmp_path / "gone"
    gone.mkdir()
    genome = "genome.gff.gz" if relative == "input" else str(MG_GFF)
    out = "scores.tsv" if relative == "output" else str(tmp_path / "scores.tsv")
    command = [sys.executable, "-m", "microfuse_cli", "score", genome, "--fasta", str(MG_FNA), "-o", out, "-q"]
    proc = subprocess.run(["bash", "-c", 'cd "$0" && rmdir "$0" && exec "$@"', gone, *command],
                          stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.splitlines()[-1] == (f"error: cannot resolve {genome if relative == 'input' else out}: the "
                                            "current folder no longer exists; cd into one, or give absolute paths")
    absolute = [sys.executable, "-m", "microfuse_cli", "score", str(MG_GFF), "--fasta", str(MG_FNA), "-o",
                str(tmp_path / "scores.tsv"), "-q"]
    gone.mkdir()
    assert subprocess.run(["bash", "-c", 'cd "$0" && rmdir "$0" && exec "$@"', gone, *absolute]).returncode == 0


@pytest.mark.parametrize("moment", ["before the reading", "during the work", "after the writes"])
def test_a_current_folder_removed_during_the_run_is_named_and_nothing_is_half_replaced(moment, tmp_path, monkeypatch):
    """A cluster job's scratch folder removed while `score -o scores.tsv --operons-tsv /results/operons.tsv` runs: the
    run failed with 'error: No such file or directory', naming nothing, or, once its files were written, after
    replacing operons.tsv beside no scores; a relative input was 'no such file'. Now one line names the file and the
    cause, exit 1, and the other output is neither replaced nor left as a temp file."""
    import shutil

    import microfuse_cli.io.outputs as outputs

    job, results = tmp_path / "job", tmp_path / "results"
    job.mkdir()
    results.mkdir()
    shutil.copyfile(MG_GFF, job / "genome.gff.gz")
    monkeypatch.chdir(job)
    genome = "genome.gff.gz" if moment == "before the reading" else MG_GFF
    if moment == "after the writes":
        fsync = os.fsync

        def removed_once_written(fd):  # every file is written, none renamed yet
            fsync(fd)
            shutil.rmtree(job, ignore_errors=True)

        monkeypatch.setattr(os, "fsync", removed_once_written)
        expected = f"error: cannot write {job / 'scores.tsv'}: its folder {job} was removed during the run"
    else:
        check = outputs.check_outputs

        def removed_after_the_checks(*args, **kwargs):
            check(*args, **kwargs)
            shutil.rmtree(job)

        monkeypatch.setattr(outputs, "check_outputs", removed_after_the_checks)
        expected = (f"error: cannot {'read genome.gff.gz' if genome != MG_GFF else 'write scores.tsv'}: the current "
                    "folder was removed during the run; give absolute paths")
    code, _, err = run_cli(["score", genome, "--fasta", MG_FNA, "-o", "scores.tsv", "--operons-tsv",
                            results / "operons.tsv", "-q"])
    assert code == 1 and err.splitlines() == [expected], err
    assert not job.exists() and list(results.iterdir()) == []


@pytest.mark.parametrize("bins", [False, True], ids=["genome", "genome and --bins"])
@pytest.mark.parametrize("command", ["score", "embed"])
def test_a_genome_from_a_pipe_is_read_whole(command, bins, tmp_path):
    """`score <(zcat genome.gff.gz) --fasta ...`: the genome was read twice (its format sniffed, then parsed), and the
    second read of the pipe found nothing: 'error: /dev/fd/63: empty file'; `--bins <(cut ...)` (read for gene
    calling, then for calibration) the same. A pipe is kept in a temp file, as stdin is."""
    (tmp_path / "bins.tsv").write_text("NC_000908.2\tbin1\n")
    out = {"score": ["-o", "scores.tsv", "-q"], "embed": ["-o", "emb", "-q"]}[command]
    script = f'"$2" {command} <(zcat "$0") --fasta <(zcat "$1") ' + " ".join(out)
    if bins:
        script += " --bins <(cat bins.tsv)"
    proc = subprocess.run(["bash", "-c", script, MG_GFF, MG_FNA, str(MICROFUSE)], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    code, _, err = run_cli([command, MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "from_files", "-q",
                            *(["--bins", tmp_path / "bins.tsv"] if bins else [])])
    assert code == 0, err
    if command == "score":
        assert (tmp_path / "scores.tsv").read_text() == (tmp_path / "from_files").read_text()
    else:
        assert (tmp_path / "emb" / "genes.tsv").read_text() == (tmp_path / "from_files" / "genes.tsv").read_text()
        assert np.array_equal(np.load(tmp_path / "emb" / "protein.npy"),
                              np.load(tmp_path / "from_files" / "protein.npy"))


@pytest.mark.parametrize("stream", ["binary", "past the size cap"])
def test_a_pipe_is_refused_as_a_file_is_without_reading_it_all(stream, tmp_path, monkeypatch):
    """`score <(cat /dev/urandom)` or a pipe past MICROFUSE_MAX_INPUT: the pipe was read whole into memory before
    it was kept in a temp file (a stream without end filled the memory), and only then refused. It is kept a block
    at a time and refused as a file is, from its first bytes (binary) or once past the cap."""
    import microfuse_cli.io.files as mio

    monkeypatch.setattr(mio, "MAX_INPUT_BYTES", 4 << 20)
    fifo = tmp_path / "genome.gff"
    os.mkfifo(fifo)
    block = bytes(range(256)) * 4096 if stream == "binary" else b"ACGT" * 262143 + b"\n"  # 1 MiB
    written = []

    def feed() -> None:  # 64 MiB unless the reader stops early (it closes the pipe: BrokenPipeError)
        with contextlib.suppress(BrokenPipeError), open(fifo, "wb") as pipe:
            for _ in range(64):
                pipe.write(block)
                written.append(len(block))

    writer = threading.Thread(target=feed)
    writer.start()
    code, _, err = run_cli(["score", fifo, "-o", tmp_path / "scores.tsv"])
    writer.join(timeout=60)
    assert code == 1 and ("looks like a binary file" if stream == "binary" else "MICROFUSE_MAX_INPUT") in err, err
    assert sum(written) <= 8 << 20, f"read {sum(written)} bytes of the pipe"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["genome.gff"]


def test_stdin_that_cannot_be_kept_in_tmpdir_is_named(tmp_path):
    """A piped genome is kept in a temp file in TMPDIR (several readers need it); a full TMPDIR (a small /tmp on a
    cluster node; `ulimit -f` stands in for it) was 'error: File too large', naming neither stdin nor TMPDIR."""
    import resource
    import tempfile

    genome = tmp_path / "genome.gff"
    with gzip.open(MG_GFF, "rt") as gff:
        genome.write_text(gff.read())
    limit = genome.stat().st_size // 2

    def small_files():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    with open(genome, "rb") as stdin:
        proc = subprocess.run([sys.executable, "-m", "microfuse_cli", "score", "-", "--fasta", str(MG_FNA), "-o",
                               tmp_path / "scores.tsv", "-q"], stdin=stdin, stderr=subprocess.PIPE, text=True,
                              preexec_fn=small_files)
    assert proc.returncode == 1, proc.stderr
    assert proc.stderr == (f"error: cannot keep stdin in a temp file in {tempfile.gettempdir()} (TMPDIR; give it a "
                           "folder with space): File too large\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["genome.gff"]


NATIVE_WARNING_HOOK = """
import os

_fsync = os.fsync


def _fsync_after_a_native_warning(fd):
    for standard in (1, 2):  # as libgomp or FAISS write theirs, below Python's sys.stdout and sys.stderr
        try:
            os.write(standard, b"native library warning\\n")
        except OSError:
            pass
    return _fsync(fd)


os.fsync = _fsync_after_a_native_warning
"""


def test_outputs_never_take_the_descriptors_of_a_closed_stdout_or_stderr(tmp_path):
    """With `>&- 2>&-` the first files opened took descriptors 1 and 2, the outputs' temp files among them, and what
    native libraries write to stdout or stderr (libgomp's 'Invalid value for environment variable', FAISS'
    clustering warnings) went into those outputs. A closed standard descriptor is now held open on /dev/null."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(NATIVE_WARNING_HOOK)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hook), *sys.path]))
    command = [sys.executable, "-m", "microfuse_cli", "pairs", str(MG_GFF), "--fasta", str(MG_FNA), "-o",
               str(tmp_path / "pairs.tsv"), "--proteins", str(tmp_path / "genes.faa")]
    proc = subprocess.run(["bash", "-c", 'exec "$@" >&- 2>&-', "-", *command], env=env)
    assert proc.returncode == 0
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "expected.tsv", "--proteins",
                            tmp_path / "expected.faa"])
    assert code == 0, err
    assert (tmp_path / "pairs.tsv").read_bytes() == (tmp_path / "expected.tsv").read_bytes()
    assert (tmp_path / "genes.faa").read_bytes() == (tmp_path / "expected.faa").read_bytes()


@pytest.mark.parametrize("encoding", ["ascii", "latin-1"])
def test_stdout_output_is_utf8_whatever_the_locale(encoding, tmp_path):
    """`-o -` is the same table as `-o FILE`, which is UTF-8: under a non-UTF-8 locale (an old cluster's
    en_US.ISO-8859-1, PYTHONIOENCODING) a gene id out of that charset ended the table half-written with 'internal
    error: UnicodeEncodeError'."""
    with gzip.open(MG_GFF, "rt") as gff:
        (tmp_path / "genome.gff").write_text(gff.read().replace("locus_tag=MG_001", "locus_tag=gène_001→a"))
    code, _, err = run_cli(["pairs", tmp_path / "genome.gff", "--fasta", MG_FNA, "-o", tmp_path / "pairs.tsv"])
    assert code == 0, err
    proc = subprocess.run([sys.executable, "-m", "microfuse_cli", "pairs", "genome.gff", "--fasta", str(MG_FNA)],
                          cwd=tmp_path, capture_output=True, env=dict(os.environ, PYTHONIOENCODING=encoding))
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout == (tmp_path / "pairs.tsv").read_bytes() and "gène_001→a".encode() in proc.stdout


@pytest.mark.parametrize("output", ["genome.gff", "/dev/stdin"])
def test_file_redirected_to_stdin_is_an_input(output, tmp_path):
    """`microfuse pairs - -o genome.gff < genome.gff`: the file behind stdin is an input like a named one (was: the
    genome was replaced by its pairs table; `-o /dev/stdin` did the same)."""
    genome = tmp_path / "genome.gff"
    with gzip.open(MG_GFF, "rt") as gff, gzip.open(MG_FNA, "rt") as fna:
        genome.write_text(gff.read() + "##FASTA\n" + fna.read())
    before = state(genome)
    with open(genome, "rb") as stdin:
        proc = subprocess.run([sys.executable, "-m", "microfuse_cli", "pairs", "-", "-o", output], stdin=stdin,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=tmp_path)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: -o {output} is also an input (stdin); refusing"), proc.stderr
    assert state(genome) == before and sorted(p.name for p in tmp_path.iterdir()) == ["genome.gff"]


@pytest.mark.parametrize("output", ["-", "/dev/stdout"])
def test_stdout_appended_to_an_input_is_refused(output, tmp_path):
    """`microfuse pairs genome.gff >> genome.gff` (as `cat` refuses 'input file is output file'): was the genome
    with a pairs table appended to it."""
    genome = tmp_path / "genome.gff"
    with gzip.open(MG_GFF, "rt") as gff, gzip.open(MG_FNA, "rt") as fna:
        genome.write_text(gff.read() + "##FASTA\n" + fna.read())
    before = state(genome)
    with open(genome, "a") as stdout:
        proc = subprocess.run([sys.executable, "-m", "microfuse_cli", "pairs", genome, "-o", output], stdout=stdout,
                              stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr.startswith(f"error: -o {output} is also an input ({genome}); refusing"), proc.stderr
    assert state(genome)[:2] == before[:2]


def test_replaced_output_keeps_its_permissions(tmp_path):
    """A private result (chmod 600) stays private when a rerun replaces it, as the shell's `>` keeps a file's mode
    (was: the new file got the umask's 644, readable by everyone); a new file gets the umask's."""
    private, fresh = tmp_path / "private.tsv", tmp_path / "fresh.tsv"
    private.write_text("an earlier run\n")
    private.chmod(0o600)
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", private])
    assert code == 0, err
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", fresh])
    assert code == 0, err
    assert private.read_text() == fresh.read_text()
    mask = os.umask(0)
    os.umask(mask)
    assert stat.S_IMODE(os.stat(private).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(fresh).st_mode) == 0o666 & ~mask


def _foreign_owner() -> tuple[int, int]:
    """An owner and group other than the runner's where allowed (root, as in CI), else a group of the runner's."""
    return (4321, 4322) if os.geteuid() == 0 else (os.getuid(), os.getgroups()[-1])


def test_replaced_output_keeps_its_owner_and_group(made, tmp_path):
    """A lab's group-shared table (0660, group lab) replaced by a rerun came back owned by the runner's user and
    group (root's, in a container): the lab could no longer read it. A replaced file keeps owner and group where the
    runner may give them, as `sed -i` does (the shell's `>` writes in place, keeping both); so do a model's files."""
    import shutil

    owner = _foreign_owner()
    shared, model = tmp_path / "shared.tsv", tmp_path / "model"
    shared.write_text("an earlier run\n")
    shutil.copytree(made / "mg_model", model)
    for path in (shared, *model.iterdir()):
        os.chown(path, *owner)
        path.chmod(0o660)
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", shared])
    assert code == 0, err
    code, _, err = run_cli(_folder_command("train", made, model) + ["--seed", "1"])
    assert code == 0, err
    assert shared.read_text().splitlines()[3].startswith("pair_id\t")  # below the genome's, genes' and scaffold's lines
    for path in (shared, *model.iterdir()):
        info = os.stat(path)
        assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (*owner, 0o660), path


def test_fifo_is_written_into_not_replaced(tmp_path):
    fifo = tmp_path / "pairs.fifo"
    os.mkfifo(fifo)
    received = {}
    reader = threading.Thread(target=lambda: received.setdefault("data", fifo.read_bytes()))
    reader.start()
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", fifo])
    reader.join(timeout=60)
    assert code == 0, err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "plain.tsv"])
    assert code == 0, err
    assert received["data"] == (tmp_path / "plain.tsv").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.fifo", "plain.tsv"]


def test_socket_output_is_refused_before_work(tmp_path):
    """A UNIX socket (a log collector's, say) as -o cannot be opened as a file: the run did all its work and then
    failed with 'No such device or address', exit 1. Now bad usage before any work, the socket left as it was."""
    import socket

    path = tmp_path / "collector.sock"
    server = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        server.bind(str(path))
        code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-o", path])
    finally:
        server.close()
    assert code == 2, err
    assert err.strip() == f"error: -o {path} is a socket, which cannot be written as a file; give a file path, or " \
        "- and a pipe", err
    assert stat.S_ISSOCK(os.lstat(path).st_mode)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["collector.sock"]


def test_symlink_output_is_written_through(tmp_path):
    """As the shell's `>`: the link stays a link and the file it points to gets the output."""
    real = tmp_path / "real.tsv"
    real.write_text("a previous run\n")
    link = tmp_path / "link.tsv"
    link.symlink_to(real.name)
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", link])
    assert code == 0, err
    assert link.is_symlink() and os.readlink(link) == "real.tsv"
    assert real.read_text().splitlines()[3].startswith("pair_id\t") and len(real.read_text().splitlines()) == 3 + 476
    assert sorted(p.name for p in tmp_path.iterdir()) == ["link.tsv", "real.tsv"]


def test_folder_as_file_output_is_refused_before_work(tmp_path):
    folder = tmp_path / "figs"
    folder.mkdir()
    (folder / "keep.txt").write_text("mine\n")
    before = tree(folder)
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "scores.tsv", "--operons-gff", folder])
    refused(code, err, "is a directory")
    assert tree(folder) == before
    assert not (tmp_path / "scores.tsv").exists()  # refused before scoring: no output at all


def _input_copy(tmp_path: Path) -> tuple[Path, Path]:
    gff, fna = tmp_path / "mg.gff.gz", tmp_path / "mg.fna.gz"
    gff.write_bytes(MG_GFF.read_bytes())
    fna.write_bytes(MG_FNA.read_bytes())
    return gff, fna


SAME_AS_INPUT = {
    "score -o INPUT": (["score", "{gff}", "--fasta", "{fna}", "-o", "{gff}"], "-o {gff} is also an input"),
    "score --operons-gff INPUT": (["score", "{gff}", "--fasta", "{fna}", "-o", "{d}/s.tsv", "--operons-gff", "{gff}"],
                                  "--operons-gff {gff} is also an input"),
    "score -o FASTA": (["score", "{gff}", "--fasta", "{fna}", "-o", "{fna}"], "-o {fna} is also an input"),
    "pairs --proteins INPUT": (["pairs", "{gff}", "--fasta", "{fna}", "-o", "{d}/p.tsv", "--proteins", "{gff}"],
                               "--proteins {gff} is also an input"),
    "a symlink to the input": (["pairs", "{gff}", "--fasta", "{fna}", "-o", "{d}/link.gff.gz"], "is also an input"),
    "a hard link to the FASTA": (["pairs", "{gff}", "--fasta", "{fna}", "-o", "{d}/hard.fna.gz"], "is also an input"),
    "-o F --operons-gff F": (["score", "{gff}", "--fasta", "{fna}", "-o", "{d}/x.gff", "--operons-gff", "{d}/x.gff"],
                             "-o and --operons-gff are the same file"),
    "--fused next to -o": (["score", "{gff}", "--fasta", "{fna}", "-o", "{d}/f.ids.tsv", "--fused", "{d}/f.npy"],
                           "-o and --fused are the same file"),
    # `..` past a folder that does not exist: the writers resolve it (realpath) onto the input, which was replaced
    "-o gone/../INPUT": (["score", "{gff}", "--fasta", "{fna}", "-o", "{d}/gone/../{gff.name}"], "is also an input"),
    "--annotate gone/../INPUT": (["score", "{d}/genome.gff", "--fasta", "{fna}", "-o", "{d}/s.tsv", "--annotate",
                                  "{d}/gone/../genome.gff"], "is also an input ({d}/genome.gff)"),
}


@pytest.mark.parametrize("case", SAME_AS_INPUT, ids=list(SAME_AS_INPUT))
def test_output_equal_to_an_input_or_output_is_refused(case, tmp_path):
    gff, fna = _input_copy(tmp_path)
    (tmp_path / "genome.gff").write_bytes(gzip.decompress(gff.read_bytes()))
    (tmp_path / "link.gff.gz").symlink_to(gff)
    os.link(fna, tmp_path / "hard.fna.gz")
    args, message = SAME_AS_INPUT[case]
    fill = {"gff": gff, "fna": fna, "d": tmp_path}
    before = tree(tmp_path)
    code, _, err = run_cli([a.format(**fill) for a in args])
    refused(code, err, message.format(**fill))
    assert tree(tmp_path) == before  # inputs intact (hash, inode, mtime), nothing written


@pytest.mark.parametrize("command", ["score", "evaluate"])
@pytest.mark.parametrize("name", ["config.json", "model.safetensors"])
def test_the_packaged_model_a_run_reads_is_never_an_output(command, name, made, tmp_path, monkeypatch):
    """`score` without -m reads the packaged model (and `evaluate` reads it to compare tables made by it), which
    was no input to the output checks: `score G -o .../default_model/config.json` replaced the model that every
    later `score` loads, exit 0. Refused as any input is (a copy of the packaged model stands in for it here)."""
    import shutil

    from microfuse_cli import score

    packaged = tmp_path / "default_model"
    shutil.copytree(score.DEFAULT_MODEL, packaged)
    monkeypatch.setattr(score, "DEFAULT_MODEL", packaged)
    gff, fna = _input_copy(tmp_path)
    target = tmp_path / "elsewhere" / ".." / "default_model" / name
    (tmp_path / "elsewhere").mkdir()
    args = {"score": ["score", gff, "--fasta", fna, "-o", target],
            "evaluate": ["evaluate", made / "labelled.tsv", "-o", target]}[command]
    before = tree(tmp_path)
    code, _, err = run_cli(args)
    refused(code, err, f"-o {target} is also an input ({packaged / name})")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("output", ["elsewhere", "config.json", "a link to config.json"])
def test_a_packaged_model_that_cannot_be_listed_is_skipped_by_evaluate_and_still_never_an_output(output, made, tmp_path,
                                                                                                monkeypatch):
    """A packaged default model folder the user may not list (installed by another user, mode 0700 or 0711): its
    files were listed as inputs of `evaluate`, which stopped with 'Permission denied (.../default_model)', exit 1,
    though it only compares tables with that model (it does without a missing one). Now it does without it too, and
    a file already in the folder is still refused as an output, so too through a symlink elsewhere (written through,
    it replaced the model's config). Root reads any folder, so the folder's listing and its files' metadata are
    refused here in-process."""
    import shutil

    from microfuse_cli import score

    packaged = tmp_path / "default_model"
    shutil.copytree(score.DEFAULT_MODEL, packaged)
    monkeypatch.setattr(score, "DEFAULT_MODEL", packaged)
    listing, status, folder = os.scandir, os.stat, os.path.realpath(packaged)

    def denied(path):
        return PermissionError(errno.EACCES, os.strerror(errno.EACCES), os.fspath(path))

    def scandir(path="."):
        if os.path.realpath(path) == folder:
            raise denied(path)
        return listing(path)

    def stat(path, *args, **kwargs):  # mode 0700: nor its files' metadata (the model's loader reads that first)
        if not isinstance(path, int) and os.path.dirname(os.path.realpath(path)) == folder:
            raise denied(path)
        return status(path, *args, **kwargs)

    monkeypatch.setattr(os, "scandir", scandir)
    if output == "elsewhere":  # mode 0700; an output in the folder needs one that may be searched and written (0733)
        monkeypatch.setattr(os, "stat", stat)
    target = tmp_path / "m.tsv" if output == "elsewhere" else packaged / "config.json"
    if output.startswith("a link"):
        (tmp_path / "link.tsv").symlink_to(target)
        target = tmp_path / "link.tsv"
    before = tree(packaged)
    code, _, err = run_cli(["evaluate", made / "labelled.tsv", "-o", target, "--bootstrap", "0", "-q"])
    if output == "elsewhere":
        assert code == 0 and err == "", err
        assert target.read_text().startswith("model\tn\t")
    else:
        refused(code, err, f"-o {target} is also an input ({packaged})")
    assert tree(packaged) == before


def test_fused_vectors_and_their_ids_are_replaced_together(made, tmp_path, monkeypatch):
    """A failure while FILE.ids.tsv is written (a full disk) leaves the previous FILE.npy too: the two are one output
    (was: the new vectors beside the old ids, which `retrieve build` then read as belonging together)."""
    import shutil

    for name in ("a.npy", "a.ids.tsv"):
        shutil.copy(made / name, tmp_path / name)
    before = tree(tmp_path)
    calls = _second_fsync_fails(monkeypatch)
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "--fused", tmp_path / "a.npy", "--genome-name", "b",
                            "-o", "-", "-q"])
    assert code == 1 and "No space left on device" in err, err
    assert len(calls) == 2 and tree(tmp_path) == before


def test_fused_vectors_beside_the_ids_of_another_run_are_refused(made, tmp_path):
    """kill -9 between the renames of `score --fused X.npy` (new X.npy in place, X.ids.tsv not yet) left the new
    run's vectors beside the previous run's ids; with as many rows, `retrieve build X.npy` paired each vector with
    another run's pair id, exit 0. The ids file records its vectors' SHA-256 and shape now (and is renamed last):
    the mix is refused in one line, exit 1, and a rerun of score writes a pair that builds. Vectors of another run
    copied by hand beside the ids are refused alike."""
    import shutil

    for name in ("a.npy", "a.ids.tsv"):
        shutil.copy(made / name, tmp_path / name)
    vectors, ids = tmp_path / "a.npy", tmp_path / "a.ids.tsv"
    old_ids = ids.read_bytes()
    rerun = ["score", str(MG_GFF), "--fasta", str(MG_FNA), "-m", str(made / "mg_model"), "--fused", str(vectors),
             "--genome-name", "a", "-o", str(tmp_path / "scores.tsv"), "-q"]
    with _paused_at_rename(rerun, tmp_path, to=".ids.tsv"):  # killed with its vectors renamed, its ids not yet
        pass
    assert ids.read_bytes() == old_ids and vectors.read_bytes() != (made / "a.npy").read_bytes()
    assert len(np.load(vectors)) == len(np.load(made / "a.npy"))  # as many rows: nothing else told them apart
    code, out, err = run_cli(["retrieve", "build", vectors, "-o", tmp_path / "index"])
    assert code == 1 and out == "" and err.count("\n") == 1, err
    assert err.startswith(f"error: {vectors} and a.ids.tsv are from different runs (a.ids.tsv records vectors "), err
    assert f"rerun `microfuse score ... --fused {vectors}`" in err and not (tmp_path / "index").exists(), err
    code, _, err = run_cli(rerun)
    assert code == 0, err
    code, _, err = run_cli(["retrieve", "build", vectors, "-o", tmp_path / "index", "-q"])
    assert code == 0 and err == "", err
    shutil.copy(made / "a.npy", vectors)  # a hand copy: the first run's vectors beside the rerun's ids
    code, _, err = run_cli(["retrieve", "build", vectors, "-o", tmp_path / "index2"])
    assert code == 1 and err.startswith(f"error: {vectors} and a.ids.tsv are from different runs"), err


def test_two_outputs_to_stdout_exit_2(tmp_path):
    code, out, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-o", "-", "--operons-gff", "-"])
    refused(code, err, "only one output can go to stdout")
    assert out == ""


def test_fused_path_is_checked_before_scoring(tmp_path):
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "s.tsv",
                            "--fused", tmp_path / "x.vec"])
    refused(code, err, "--fused takes a .npy path")
    assert list(tmp_path.iterdir()) == []


def test_missing_output_directory_is_refused_before_work(tmp_path):
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "nope" / "p.tsv"])
    refused(code, err, "does not exist")


@pytest.mark.parametrize("args, message", [
    (["retrieve", "search", "--index", "{d}/absent"], "no such index folder: {d}/absent"),
    (["retrieve", "evaluate", "--index", "{d}/absent"], "no such index folder: {d}/absent"),
    (["retrieve", "build", "{d}/absent.npy", "-o", "{d}/index"], "no such file: {d}/absent.npy"),
    (["retrieve", "search", "--index", "{d}", "{d}/absent.npy"], "no such file: {d}/absent.npy"),
    (["train", "{d}/pairs.tsv", "-e", "{d}/absent", "-o", "{d}/model"], "no such embedding folder: {d}/absent"),
    (["score", "{gff}", "--fasta", "{fna}", "-e", "{d}/absent", "-o", "{d}/s.tsv"],
     "no such embedding folder: {d}/absent"),
    (["score", "{gff}", "--fasta", "{fna}", "--reference", "{d}/absent", "-o", "{d}/s.tsv"],
     "no such reference folder: {d}/absent"),
    (["pairs", "{d}/absent.gff", "-o", "{d}/p.tsv"], "no such file: {d}/absent.gff"),
    # with several inputs, the missing one was found only after the others were read (embed: embedded and written)
    (["embed", "{gff},{fna}", "{d}/absent.gff", "-o", "{d}/emb"], "no such file: {d}/absent.gff"),
    (["embed", "{mpn_gff},{mpn_fna}", "{gff},{d}/absent.fna", "-o", "{d}/emb"], "no such file: {d}/absent.fna"),
    (["reference", "build", "{gff},{fna}", "{d}/absent.gbk", "-o", "{d}/ref"], "no such file: {d}/absent.gbk"),
    (["reference", "build", "{gff},{fna}", "{gff},{d}/absent.fna", "-o", "{d}/ref"], "no such file: {d}/absent.fna"),
    (["train", "{d}/pairs.tsv", "{d}/absent.tsv", "-e", "{d}", "-e", "{d}", "-o", "{d}/model"],
     "no such file: {d}/absent.tsv"),
    (["evaluate", "{d}/pairs.tsv", "{d}/absent.tsv"], "no such file: {d}/absent.tsv"),
    (["evaluate", "{d}/pairs.tsv", "--labels", "{d}/absent.csv"], "no such file: {d}/absent.csv"),
    (["pairs", "{gff}", "--fasta", "{fna}", "--labels", "{d}/absent.csv", "-o", "{d}/p.tsv"],
     "no such file: {d}/absent.csv"),
    (["score", "{gff}", "--fasta", "{fna}", "--pairs", "{d}/absent.tsv", "-o", "{d}/s.tsv"],
     "no such file: {d}/absent.tsv"),
    (["plot", "{d}/absent.tsv", "{gff}", "--fasta", "{fna}", "--operon", "operon_1", "-o", "{d}/x.png"],
     "no such file: {d}/absent.tsv"),
])
def test_a_missing_input_path_is_bad_data_in_every_command(tmp_path, args, message):
    """A missing input folder or .npy exited 2 with click's "Invalid value for '--index': Directory 'x' does not
    exist." while a missing input file exits 1 ('no such file: x'): each missing input is now exit 1, one line in one
    form ('no such <what>: PATH'), before any work (no output, no gene called)."""
    (tmp_path / "pairs.tsv").write_text("")  # train's pairs table exists: only the folder is missing
    fill = dict(d=tmp_path, gff=MG_GFF, fna=MG_FNA, mpn_gff=MPN_GFF, mpn_fna=MPN_FNA)
    code, out, err = run_cli([a.format(**fill) for a in args])
    assert (code, out, err) == (1, "", f"error: {message.format(**fill)}\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pairs.tsv"]


def test_check_outputs_requires_the_inputs_after_the_outputs(tmp_path):
    """Each command called check_outputs and then require_inputs with the same list, and could do one without the
    other; check_outputs now refuses a missing input itself (exit 1, the readers' words), after a bad output (exit 2)
    is said. ``read_later`` (score's -m: None is the packaged model, a missing folder is 'no such model folder')
    is checked against the outputs only."""
    from microfuse_cli.errors import DataError, UsageError
    from microfuse_cli.io.outputs import Output, check_outputs

    absent, table = tmp_path / "absent.gff", tmp_path / "pairs.ids.tsv"
    table.write_text("")
    with pytest.raises(DataError, match=f"^no such file: {absent}$"):
        check_outputs([table, absent], [Output("-o", tmp_path / "s.tsv")])
    with pytest.raises(UsageError, match="is a directory"):
        check_outputs([absent], [Output("-o", tmp_path)])
    check_outputs([None, "-", table], [Output("-o", tmp_path / "s.tsv")], read_later=[absent, None])
    with pytest.raises(UsageError, match="is also an input"):
        check_outputs([], [Output("-o", table)], read_later=[table])


# ------------------------------------------------------------------------------------------------ folder outputs


def _folder_command(command: str, made: Path, out) -> list:
    return {
        "embed": ["embed", MG_GFF, "--fasta", MG_FNA, "-o", out],
        "train": ["train", made / "mg_pairs.tsv", "-e", made / "mg_emb", "-o", out, "--epochs", "1",
                  "--batch-size", "64"],
        "retrieve build": ["retrieve", "build", made / "a.npy", "-o", out],
        "reference build": ["reference", "build", f"{MG_GFF},{MG_FNA}", "-o", out],
    }[command]


FOLDER_COMMANDS = ["embed", "train", "retrieve build", "reference build"]


@pytest.mark.parametrize("command", FOLDER_COMMANDS)
def test_folder_with_other_files_is_never_emptied(command, made, tmp_path):
    """The issue: `embed -o DIR` and `retrieve build -o DIR` deleted everything already in DIR."""
    folder = tmp_path / "results"
    (folder / "sub").mkdir(parents=True)
    (folder / "notes.txt").write_text("my notes\n")
    (folder / "sub" / "data.tsv").write_text("x\t1\n")
    before = tree(folder)
    code, _, err = run_cli(_folder_command(command, made, folder))
    refused(code, err, "is not empty and holds no previous")
    assert tree(folder) == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["results"]


@pytest.mark.parametrize("command", FOLDER_COMMANDS)
def test_dot_output_writes_into_the_current_folder(command, made, tmp_path, monkeypatch):
    """`-o .` works (was: `has an empty name`, `Device or resource busy (.)`), then reuses its own output."""
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    code, _, err = run_cli(_folder_command(command, made, "."))
    assert code == 0, err
    first = tree(here)
    marker = "config.json" if command == "train" else "manifest.json"
    assert marker in first
    (here / "notes.txt").write_text("kept\n")
    code, _, err = run_cli(_folder_command(command, made, "."))
    assert code == 0, err
    second = tree(here)
    assert second["notes.txt"] == state(here / "notes.txt")
    assert set(second) == set(first) | {"notes.txt"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["here"]  # nothing beside it (no .partial, no temp)
    assert all(not name.startswith(".") for name in second)


def test_folder_of_another_kind_is_refused(made, tmp_path):
    emb = tmp_path / "emb"
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", emb])
    assert code == 0, err
    before = tree(emb)
    code, _, err = run_cli(_folder_command("train", made, emb))
    refused(code, err, "is an embedding folder, not a model folder")
    assert tree(emb) == before


def test_folder_symlink_is_written_through(tmp_path):
    real = tmp_path / "real"
    real.mkdir()
    link = tmp_path / "emb"
    link.symlink_to(real, target_is_directory=True)
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", link])
    assert code == 0, err
    assert link.is_symlink() and (real / "manifest.json").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["emb", "real"]


def test_reused_folder_loses_only_stale_files_of_its_own_kind(tmp_path):
    """A reused folder: the new output's files replace the old; an old file of the same kind that the new output
    lacks is removed (it would contradict the new manifest); every other file stays, byte for byte."""
    from microfuse_cli.io.outputs import atomic_directory

    folder = tmp_path / "emb"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"format": "microfuse-embeddings", "files": ["pair_context.npy"]}')
    (folder / "pair_context.npy").write_bytes(b"old")
    (folder / "notes.txt").write_text("mine\n")
    kept = state(folder / "notes.txt")
    with atomic_directory(folder) as tmp:
        (tmp / "protein.npy").write_bytes(b"new")
        (tmp / "manifest.json").write_text('{"format": "microfuse-embeddings", "files": ["protein.npy"]}')
    assert sorted(p.name for p in folder.iterdir()) == ["manifest.json", "notes.txt", "protein.npy"]
    assert state(folder / "notes.txt") == kept and (folder / "protein.npy").read_bytes() == b"new"


def test_embed_several_inputs_keeps_the_container(made, tmp_path):
    out = tmp_path / "embeddings"
    out.mkdir()
    (out / "README").write_text("the panel\n")
    code, _, err = run_cli(["embed", MG_FNA, MPN_FNA, "-g", "4", "-o", out])  # bare assemblies: genes called
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["GCF_000027325.1_ASM2732v1_genomic",
                                                     "GCF_000027345.1_ASM2734v1_genomic", "README"]
    assert (out / "README").read_text() == "the panel\n"


def test_embed_several_inputs_of_one_name_are_named(tmp_path):
    """Two INPUTs whose folders -o/NAME would be one (x/a.gff and y/a.gbk.gz) are refused naming both and the
    folder (was: 'two INPUTs have the same name', which left the user to find them among many)."""
    import shutil

    for folder in ("x", "y"):
        (tmp_path / folder).mkdir()
        shutil.copyfile(MG_GFF, tmp_path / folder / "mg.gff.gz")
    one, two = f"{tmp_path / 'x' / 'mg.gff.gz'},{MG_FNA}", f"{tmp_path / 'y' / 'mg.gff.gz'},{MG_FNA}"
    code, _, err = run_cli(["embed", one, two, "-o", tmp_path / "out"])
    named = f"INPUTs {tmp_path / 'x' / 'mg.gff.gz'} and {tmp_path / 'y' / 'mg.gff.gz'} would both be written to "
    assert code == 2 and named + str(tmp_path / "out" / "mg") in err, err
    assert not (tmp_path / "out").exists() and err.count("\n") <= 2, err


def test_embed_several_inputs_never_write_beside_the_container(tmp_path):
    """An input named `...gff.gz` (stem '..') had its folder -o/.., the folder above the container: refused after
    the first genome's work when that folder held anything, else written into. Such a stem is now 'genome'."""
    import shutil

    shutil.copyfile(MG_GFF, tmp_path / "...gff.gz")
    out = tmp_path / "results" / "embeddings"
    code, _, err = run_cli(["embed", f"{tmp_path / '...gff.gz'},{MG_FNA}", f"{MG_GFF},{MG_FNA}", "-o", out, "-q"])
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["GCF_000027325.1_ASM2732v1_genomic", "genome"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["...gff.gz", "results"]
    assert os.listdir(out.parent) == ["embeddings"]


# ------------------------------------------------------------------------------------------------ pipes and messages


def test_piped_pairs_table_is_embedded(made, tmp_path):
    """`microfuse pairs ... | microfuse embed - --proteins ...`: the same folder as from the file."""
    table = ["--proteins", made / "mg.faa", "--fasta", MG_FNA]
    code, _, err = run_cli(["embed", made / "mg_pairs.tsv", *table, "-o", tmp_path / "file"])
    assert code == 0, err
    code, _, err = run_cli(["embed", "-", *table, "-o", tmp_path / "pipe"],
                           stdin=(made / "mg_pairs.tsv").read_bytes())
    assert code == 0, err
    for name in ("protein.npy", "context.npy", "pair_context.npy", "pairs.tsv", "genes.tsv"):
        assert (tmp_path / "pipe" / name).read_bytes() == (tmp_path / "file" / name).read_bytes(), name


def test_closed_stdout_ends_quietly_like_sigpipe():
    """`microfuse pairs ecoli | head -1`: the status of a tool killed by SIGPIPE (141), no message."""
    proc = subprocess.Popen([str(MICROFUSE), "pairs", str(ECOLI_GFF)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    assert proc.stdout.readline().startswith(b"#microfuse ")  # the table's first line
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "error" not in err and "Traceback" not in err and "Exception" not in err, err


@pytest.mark.parametrize("command", ["pairs", "score", "embed"])
def test_empty_stdin_is_called_stdin(command, tmp_path):
    code, _, err = run_cli([command, "-", "-o", tmp_path / "out"], stdin=b"")
    assert code == 1, err
    assert err == "error: stdin: empty file\n"
    assert list(tmp_path.iterdir()) == []


def test_microfuse_alone_prints_help_not_an_error():
    code, out, err = run_cli([])
    assert code == 2
    assert err.startswith("Usage: microfuse") and "error:" not in err and "Commands:" in err, err


@pytest.mark.parametrize("piped", [False, True], ids=["file", "stdin"])
def test_zstd_input_is_named(piped, tmp_path):
    """A zstd file is named with what to do, also on stdin (`cat mg.fna.zst | microfuse score -`), which is kept in
    a temp file first: there it was 'looks like a binary file'."""
    path = tmp_path / "mg.fna.zst"
    data = b"\x28\xb5\x2f\xfd" + bytes(range(200))
    path.write_bytes(data)
    code, _, err = run_cli(["score", "-" if piped else path, "-o", tmp_path / "scores.tsv"], stdin=data)
    assert code == 1 and "zstd-compressed" in err and "binary" not in err, err


def test_empty_fasta_record_is_skipped_with_a_warning(tmp_path):
    text = gzip.decompress(MG_FNA.read_bytes()).decode()
    fna = tmp_path / "with_empty.fna"
    fna.write_text(">filtered_contig removed by the binner\n" + text)
    proc = subprocess.run([str(MICROFUSE), "pairs", str(MG_GFF), "--fasta", str(fna), "-o", str(tmp_path / "p.tsv")],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert f"warning: {fna}: record 'filtered_contig' has no sequence; skipped" in proc.stderr.splitlines()
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "ref.tsv"])
    assert (tmp_path / "p.tsv").read_bytes() == (tmp_path / "ref.tsv").read_bytes()


def test_duplicate_cds_id_on_two_contigs_is_named(tmp_path):
    gff = gzip.decompress(MG_GFF.read_bytes()).decode()
    fna = gzip.decompress(MG_FNA.read_bytes()).decode()
    cds = next(line for line in gff.splitlines() if "\tCDS\t" in line)
    seqid = cds.split("\t")[0]
    (tmp_path / "two.gff").write_text(gff + "\t".join(["contig2", *cds.split("\t")[1:]]) + "\n")
    (tmp_path / "two.fna").write_text(fna + ">contig2\n" + "ACGT" * 3000 + "\n")
    code, _, err = run_cli(["pairs", tmp_path / "two.gff", "--fasta", tmp_path / "two.fna"])
    assert code == 1, err
    assert f"is used on two sequences ({seqid} and contig2)" in err and "spans" not in err, err


def test_unknown_ids_are_named_once(tmp_path):
    listed = tmp_path / "pairs.tsv"
    listed.write_text("MG_001\tnot_a_gene\nnot_a_gene\tMG_002\nMG_001\tMG_002\n")
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "--pairs", listed, "-o", tmp_path / "p.tsv"])
    assert code == 0, err
    warning = next(line for line in err.splitlines() if "match no gene" in line)
    assert warning.endswith("match no gene: not_a_gene") and warning.startswith("warning: 1 gene id(s)"), err


# ------------------------------------------------------------------------------------------------ retrieve


def _index_both_and_search(made, tmp_path, *build_options, k="1") -> tuple[list[list[str]], int]:
    """Index assemblies a and b (same contig names) together, search every pair: (neighbour rows, pairs of a)."""
    code, _, err = run_cli(["retrieve", "build", made / "a.npy", made / "b.npy", *build_options,
                            "-o", tmp_path / "index"])
    assert code == 0, err
    code, out, err = run_cli(["retrieve", "--index", tmp_path / "index", "--k", k])
    assert code == 0, err
    return [line.split("\t") for line in out.splitlines()[1:]], len(np.load(made / "a.npy"))


def test_two_assemblies_with_the_same_contig_names_share_an_index(made, tmp_path):
    rows, n = _index_both_and_search(made, tmp_path, "--group-by", "genome")
    assert len(rows) == 2 * n
    assert all(r[0] == r[1] and float(r[3]) > 0.999 for r in rows)  # each pair finds itself in the other copy


def test_same_scaffold_names_in_two_genomes_are_two_groups(made, tmp_path):
    """Grouped by scaffold (the default), NC_000908.2 of genome a and of genome b are different scaffolds: each pair
    finds its copy in the other genome (before, the copy counted as the query's own scaffold and was excluded)."""
    rows, n = _index_both_and_search(made, tmp_path)
    assert len(rows) == 2 * n
    assert [r[5] for r in rows] == ["b"] * n + ["a"] * n  # the target genome: always the other one
    assert all(r[0] == r[1] and float(r[3]) > 0.999 for r in rows)
    code, out, err = run_cli(["retrieve", "--index", tmp_path / "index", "--k", "1", made / "a.npy"])
    assert code == 0, err
    assert [line.split("\t")[5] for line in out.splitlines()[1:]] == ["b"] * n


def test_query_genome_tells_apart_queries_with_one_pair_id(made, tmp_path):
    """a and b are one assembly under two names, so every pair id is a query twice: the last column, query_genome,
    says which genome each query came from (indexed pairs searched, and query files)."""
    code, _, err = run_cli(["retrieve", "build", made / "a.npy", made / "b.npy", "--group-by", "genome",
                            "-o", tmp_path / "index"])
    assert code == 0, err
    n = len(np.load(made / "a.npy"))
    for queries in ([], [made / "a.npy", made / "b.npy"]):
        code, out, err = run_cli(["retrieve", "--index", tmp_path / "index", "--k", "1", *queries])
        assert code == 0, err
        header, *lines = out.splitlines()
        assert header.split("\t")[:6] == ["query", "target", "rank", "similarity", "target_scaffold", "target_genome"]
        assert header.split("\t")[-2:] == ["query_genome", "query_scaffold"]
        rows = [dict(zip(header.split("\t"), line.split("\t"))) for line in lines]
        assert {r["query_scaffold"] for r in rows} == {r["target_scaffold"] for r in rows} == {"NC_000908.2"}
        assert [r["query_genome"] for r in rows] == ["a"] * n + ["b"] * n
        assert [r["query"] for r in rows[:n]] == [r["query"] for r in rows[n:]], "the same pair ids in both"
        assert all(r["target_genome"] != r["query_genome"] for r in rows)


def test_one_genome_name_in_two_vector_files_is_warned_about(made, tmp_path):
    """Genomes scored from files of one name in per-sample folders (g1/genome.gff.gz, g2/genome.gff.gz; or the
    staged pipeline's pairs.tsv) are both named after that file; grouped by genome they would be one group and
    never each other's neighbours. `retrieve build` says so when it builds, naming the files and the fix."""
    files = []
    for name, gff, fna in (("g1", MG_GFF, MG_FNA), ("g2", MPN_GFF, MPN_FNA)):
        (tmp_path / name).mkdir()
        (tmp_path / name / "genome.gff.gz").write_bytes(gff.read_bytes())
        files.append(tmp_path / name / "fused.npy")
        code, _, err = run_cli(["score", tmp_path / name / "genome.gff.gz", "--fasta", fna, "--fused", files[-1],
                                "-o", tmp_path / name / "scores.tsv"])
        assert code == 0, err
    code, _, err = run_cli(["retrieve", "build", *files, "--group-by", "genome", "-o", tmp_path / "index"])
    assert code == 0, err
    assert (f"warning: {files[0]} and {files[1]} both hold genome 'genome.gff.gz': grouped by genome, their pairs "
            "are never each other's neighbours (give each genome its own `score --genome-name`)") in err, err
    code, _, err = run_cli(["retrieve", "build", made / "a.npy", made / "b.npy", "--group-by", "genome",
                            "-o", tmp_path / "index2"])  # two names: no name clash, but one assembly twice
    assert code == 0 and "both hold genome" not in err, err
    assert "warning: genomes 'a' and 'b' hold the same pairs with the same vectors" in err, err


@pytest.mark.parametrize("named", ["file name", "--genome-name"])
def test_a_genome_name_with_a_tab_or_newline_keeps_the_ids_table_whole(named, tmp_path):
    """The genome column of --fused ids is the input's file name or --genome-name: a name holding a newline or a tab
    (legal in a file name) split its row or added a column, and `retrieve build` then failed on the table."""
    odd = "sample\t1\nrun.gff.gz"
    genome = tmp_path / (odd if named == "file name" else "genome.gff.gz")
    genome.write_bytes(MG_GFF.read_bytes())
    extra = ["--genome-name", odd] if named == "--genome-name" else []
    code, _, err = run_cli(["score", genome, "--fasta", MG_FNA, "--fused", tmp_path / "fused.npy", "-o",
                            tmp_path / "scores.tsv", *extra])
    assert code == 0, err
    assert all(line.count("\t") == 4 for line in (tmp_path / "fused.ids.tsv").read_text().splitlines()[1:])
    assert len((tmp_path / "fused.ids.tsv").read_text().splitlines()) == 2 + 475
    assert "info: sample\ufffd1\ufffdrun.gff.gz: 1 scaffold" in err or named == "--genome-name", err
    code, _, err = run_cli(["retrieve", "build", tmp_path / "fused.npy", "-o", tmp_path / "index"])
    assert code == 0, err


def test_a_hand_made_ids_comment_naming_a_model_is_not_a_recorded_identity(made, tmp_path):
    """Only microfuse's own first line (`#microfuse VERSION model_id=...`) records the model: a user's comment in a
    hand-made or edited ids table ('# vectors of model_id=esm_run3') was read as one and refused as not a digest."""
    vectors = tmp_path / "mine.npy"
    vectors.write_bytes((made / "a.npy").read_bytes())
    rows = (made / "a.ids.tsv").read_text().splitlines(keepends=True)
    (tmp_path / "mine.ids.tsv").write_text("# vectors of model_id=esm_run3, rescored by hand\n" + "".join(rows[1:]))
    code, _, err = run_cli(["retrieve", "build", vectors, "-o", tmp_path / "index"])
    assert code == 0, err
    assert f"warning: {vectors}: no model identity recorded" in err, err


def test_k_is_capped_at_the_index_size(made, tmp_path):
    rows, n = _index_both_and_search(made, tmp_path, "--group-by", "genome", k="100000")
    assert len(rows) == 2 * n * n  # every pair of the other genome, for each query


def test_no_neighbours_is_said(made, tmp_path):
    code, _, err = run_cli(["retrieve", "build", made / "a.npy", "--group-by", "genome", "-o", tmp_path / "index"])
    assert code == 0, err
    code, out, err = run_cli(["retrieve", "--index", tmp_path / "index"])
    assert code == 0, err
    assert len(out.splitlines()) == 1
    assert "warning: no neighbours: every indexed pair is in the query's own genome" in err, err


# ------------------------------------------------------------------------------------------------ man page


def test_manpage_documents_every_subcommand_without_source_indentation():
    from microfuse_cli.manpage import render

    page = render()
    for section, option in [("retrieve build", "\\-\\-group\\-by"), ("retrieve search", "\\-\\-nprobe"),
                            ("retrieve evaluate", "\\-\\-ks"), ("reference build", "\\-\\-genetic\\-code")]:
        body = page.split(f".SS microfuse {section}\n", 1)[1].split(".SS ", 1)[0]
        assert option in body, section
    literal = False
    for line in page.splitlines():
        literal = {".nf": True, ".fi": False}.get(line, literal)
        assert literal or not line.startswith(" "), line
    assert "OUTPUT FILES" in page and "/dev/null" in page


def test_output_inside_an_input_folder_is_refused(made, tmp_path):
    """`score -o emb/pairs.tsv --embeddings emb/` would overwrite a file of the embeddings it reads."""
    before = tree(made / "mg_emb")
    code, _, err = run_cli(["score", made / "mg_pairs.tsv", "-e", made / "mg_emb", "-m", made / "mg_model",
                            "--fasta", MG_FNA, "-o", made / "mg_emb" / "pairs.tsv"])
    refused(code, err, "is also an input")
    assert tree(made / "mg_emb") == before


def test_evaluate_names_each_unscored_labelled_pair_once(made, tmp_path):
    labels = tmp_path / "labels.csv"
    labels.write_text("MG_001,zz,1\nzz,MG_001,1\nMG_001,MG_002,1\nMG_002,MG_003,0\n")
    code, _, err = run_cli(["evaluate", made / "a.tsv", "--labels", labels, "-o", tmp_path / "m.tsv", "-q"])
    assert code == 0, err
    messages = [line for line in err.splitlines() if "labelled pair" in line]
    assert messages == [f"warning: 1 labelled pair(s) of {labels} are not in {made / 'a.tsv'}: MG_001-zz"]


def _previous_embedding_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "emb"
    folder.mkdir()
    (folder / "manifest.json").write_text('{"format": "microfuse-embeddings", "n": "old"}')
    for name in ("genes.tsv", "protein.npy"):
        (folder / name).write_text("old")
    (folder / "notes.txt").write_text("mine")
    return folder


@pytest.mark.parametrize("moment, signame", [("before the first rename", "SIGINT"), ("after the first rename", "SIGINT"),
                                             ("after the first rename", "SIGHUP")])
def test_sigint_during_a_folder_swap_never_mixes_outputs(moment, signame, tmp_path, monkeypatch):
    """Ctrl-C as the first file is renamed into a reused folder: before it, the previous output stays whole; after
    it, the swap finishes first and the interrupt comes at its end. Never half old, half new. SIGHUP (a closed
    terminal, with the CLI's handler) was not held: the new genes.tsv beside the old manifest."""
    import signal

    from microfuse_cli.interrupts import Terminated, terminate
    from microfuse_cli.io.outputs import atomic_directory

    sig = getattr(signal, signame)

    folder = _previous_embedding_folder(tmp_path)
    before = tree(folder)
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        if len(calls) == 1 and moment == "before the first rename":
            signal.raise_signal(sig)
        real_replace(src, dst)
        if len(calls) == 1 and moment == "after the first rename":
            signal.raise_signal(sig)

    monkeypatch.setattr(os, "replace", replace)
    # Python's own Ctrl-C handler even where the test runner was started with SIGINT ignored (a background job);
    # for SIGHUP the one the CLI installs
    previous = signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else terminate)
    try:
        with pytest.raises(Terminated if sig == signal.SIGHUP else KeyboardInterrupt):
            with atomic_directory(folder) as tmp:
                for name in ("genes.tsv", "protein.npy"):
                    (tmp / name).write_text("new")
                (tmp / "manifest.json").write_text('{"format": "microfuse-embeddings", "n": "new"}')
    finally:
        signal.signal(sig, previous)
    assert sorted(p.name for p in folder.iterdir()) == ["genes.tsv", "manifest.json", "notes.txt", "protein.npy"]
    if moment == "before the first rename":
        assert tree(folder) == before
    else:
        assert len(calls) == 3 and "new" in (folder / "manifest.json").read_text()
        assert [(folder / n).read_text() for n in ("genes.tsv", "protein.npy", "notes.txt")] == ["new", "new", "mine"]


def test_an_ignored_sighup_during_a_folder_swap_does_not_drop_a_sigterm(tmp_path, monkeypatch):
    """Under nohup (SIGHUP ignored) a closed terminal's SIGHUP in the middle of a folder swap, then a scheduler's
    SIGTERM: the swap held both, then delivered only the first, to SIG_IGN, and the SIGTERM was lost (the run went
    on to exit 0). An ignored signal is left ignored, and the SIGTERM ends the run once the swap is done."""
    import signal

    from microfuse_cli.interrupts import Terminated, terminate
    from microfuse_cli.io.outputs import atomic_directory

    folder = _previous_embedding_folder(tmp_path)
    real_replace, calls = os.replace, []

    def replace(src, dst):
        calls.append(dst)
        real_replace(src, dst)
        if len(calls) == 1:
            signal.raise_signal(signal.SIGHUP)
            signal.raise_signal(signal.SIGTERM)

    monkeypatch.setattr(os, "replace", replace)
    previous = {signal.SIGHUP: signal.signal(signal.SIGHUP, signal.SIG_IGN),
                signal.SIGTERM: signal.signal(signal.SIGTERM, terminate)}
    try:
        with pytest.raises(Terminated) as raised:
            with atomic_directory(folder) as tmp:
                for name in ("genes.tsv", "protein.npy"):
                    (tmp / name).write_text("new")
                (tmp / "manifest.json").write_text('{"format": "microfuse-embeddings", "n": "new"}')
        assert signal.getsignal(signal.SIGHUP) == signal.SIG_IGN
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    assert raised.value.signum == signal.SIGTERM
    assert len(calls) == 3 and "new" in (folder / "manifest.json").read_text()


def test_a_ctrl_c_as_a_folder_swap_puts_its_handlers_in_place_is_an_interrupt(tmp_path, monkeypatch):
    """A Ctrl-C landing just after the swap had put its SIGINT handler in place, before it had noted the handler it
    replaced: 'KeyError: 2' (an 'internal error', exit 1), and the swap's handler was left in place for good (a
    later Ctrl-C went nowhere). It is an interrupt, the previous folder whole, the handler put back."""
    import signal

    from microfuse_cli.io.outputs import atomic_directory

    folder = _previous_embedding_folder(tmp_path)
    before = tree(folder)
    real_signal, fired = signal.signal, []

    def put_in_place(sig, handler):
        previous = real_signal(sig, handler)
        if sig == signal.SIGINT and getattr(handler, "__name__", "") == "on_signal" and not fired:
            fired.append(sig)
            signal.raise_signal(sig)
        return previous

    previous = real_signal(signal.SIGINT, signal.default_int_handler)  # as in a terminal, even in a background job
    try:
        monkeypatch.setattr(signal, "signal", put_in_place)
        with pytest.raises(KeyboardInterrupt):
            with atomic_directory(folder) as tmp:
                for name in ("genes.tsv", "protein.npy"):
                    (tmp / name).write_text("new")
                (tmp / "manifest.json").write_text('{"format": "microfuse-embeddings", "n": "new"}')
        monkeypatch.undo()
        assert fired and signal.getsignal(signal.SIGINT) is signal.default_int_handler
    finally:
        real_signal(signal.SIGINT, previous)
    assert tree(folder) == before


def test_a_ctrl_c_as_held_signals_are_put_back_leaves_none_held_for_good(monkeypatch):
    """A Ctrl-C just after SIGINT's handler was put back, SIGTERM's and SIGHUP's not yet (ViennaRNA's folds hold
    them once per region, thousands of times a run): the KeyboardInterrupt left the holding handlers of the other
    two in place for good, and a later SIGTERM was held, never to be delivered (the process did not end). All are
    put back; the SIGTERM acts."""
    import signal

    from microfuse_cli.interrupts import Terminated, held_signals, terminate

    real_signal, fired = signal.signal, []

    def put_back(sig, handler):
        previous = real_signal(sig, handler)
        if sig == signal.SIGINT and handler is signal.default_int_handler and not fired:
            fired.append(sig)
            signal.raise_signal(sig)
        return previous

    previous = {signal.SIGINT: real_signal(signal.SIGINT, signal.default_int_handler),
                signal.SIGTERM: real_signal(signal.SIGTERM, terminate),
                signal.SIGHUP: real_signal(signal.SIGHUP, terminate)}
    try:
        monkeypatch.setattr(signal, "signal", put_back)
        with pytest.raises(KeyboardInterrupt):
            with held_signals():
                pass
        monkeypatch.undo()
        assert fired
        assert [signal.getsignal(s) for s in previous] == [signal.default_int_handler, terminate, terminate]
        with pytest.raises(Terminated):
            signal.raise_signal(signal.SIGTERM)
    finally:
        for sig, handler in previous.items():
            real_signal(sig, handler)


def test_raw_scaffold_groups_are_refused_when_names_collide(made):
    from microfuse_cli.errors import UsageError
    from microfuse_cli.retrieve import PairIndex, read_vectors

    (va, ia), (vb, ib) = read_vectors(made / "a.npy"), read_vectors(made / "b.npy")
    index = PairIndex.build(np.concatenate([va, vb]), ia.concat(ib))
    with pytest.raises(UsageError, match="query_groups"):
        index.search(va[:2], ia.scaffold[:2], 1)
    result = index.search(va[:2], index.query_groups(ia)[:2], 1)
    assert (result.target[:, 0] == [len(va), len(va) + 1]).all()  # each finds its copy in genome b


def test_library_module_warnings_reach_stderr_as_one_line(tmp_path):
    """Modules that log under their own name (microfuse_cli.retrieve.index, microfuse_cli.views.*) print through the
    CLI's handler: 'warning: ...', never Python's bare last-resort output."""
    import logging

    from microfuse_cli.cli._common import Run, setup_logging

    setup_logging(Run(verbosity=1))
    logger = logging.getLogger("microfuse_cli.retrieve.index")
    assert logger.getEffectiveLevel() == logging.DEBUG
    handler = logging.getLogger("microfuse_cli").handlers[0]
    record = logger.makeRecord(logger.name, logging.WARNING, __file__, 1, "no neighbours outside %s", ("sc1",), None)
    assert handler.format(record) == "warning: no neighbours outside sc1"


def test_each_artefact_writes_only_files_its_folder_kind_names():
    """The output policy refills a folder only with the files its kind names (io.outputs.FOLDER_KINDS), and the
    manifests check the same list (manifest.ManifestKind.files): every file an artefact writes must be on it."""
    from microfuse_cli import comparative, embed, retrieve
    from microfuse_cli.checkpoint import CONFIG_FILE, WEIGHTS_FILE
    from microfuse_cli.io.outputs import FOLDER_KINDS
    from microfuse_cli.manifest import MANIFEST

    written = {embed.EMBEDDINGS: {*embed.ARRAY_FILES, *embed.ID_FILES},
               retrieve.PAIR_INDEX: {retrieve.INDEX_FILE, retrieve.PAIRS_FILE},
               comparative.REFERENCE: set(comparative.REFERENCE_FILES)}
    for kind, files in written.items():
        assert kind.files == files and FOLDER_KINDS[kind.format].files == files | {MANIFEST}
        assert FOLDER_KINDS[kind.format].marker == MANIFEST
    assert FOLDER_KINDS["microfuse-model"].files == {WEIGHTS_FILE, CONFIG_FILE}


@pytest.mark.parametrize("resume", [False, True], ids=["fresh", "resume"])
def test_embed_never_empties_a_partial_folder_it_did_not_make(resume, tmp_path):
    """embed keeps finished shards in `<output>.partial` beside its folder and empties that folder on a fresh run;
    a folder of that name without embed's marker is the user's (was: deleted with everything in it)."""
    theirs = tmp_path / "out.partial"
    theirs.mkdir()
    (theirs / "notes.txt").write_text("precious\n")
    before = tree(tmp_path)
    resumed = ["--resume"] if resume else []
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "out", *resumed])
    assert code == 2 and "out.partial exists and was not made by `microfuse embed`" in err, err
    assert tree(tmp_path) == before  # nothing deleted, nothing written (no `out`)


def test_embed_reuses_and_then_removes_its_own_partial_folder(tmp_path):
    """A `.partial` folder left by an interrupted embed (it has the marker) is emptied by a fresh run and removed
    when the run ends, so a finished output has nothing beside it."""
    from microfuse_cli.cli.embed import PARTIAL_MARKER

    ours = tmp_path / "out.partial"
    (ours / "0123456789abcdef").mkdir(parents=True)
    (ours / PARTIAL_MARKER).touch()
    (ours / "0123456789abcdef" / "protein.000000000.npy").write_bytes(b"stale shard")
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "out"])
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("resume", [False, True], ids=["fresh", "resume"])
@pytest.mark.parametrize("where", ["input", "fasta", "linked"])
def test_embed_never_deletes_an_input_kept_in_its_own_partial_folder(where, resume, tmp_path):
    """An input inside `out.partial`, a folder embed made (its marker there, left by a killed run): the genome was
    read, then deleted with the folder, emptied by a fresh run and removed when the run ended (exit 0). Refused
    before any work, the input and the folder left as they were; so is a symlink to such an input."""
    from microfuse_cli.cli.embed import PARTIAL_MARKER

    ours = tmp_path / "out.partial"
    ours.mkdir()
    (ours / PARTIAL_MARKER).write_text("4242@node7\n")
    gff, fna = ours / MG_GFF.name, ours / MG_FNA.name
    gff.write_bytes(MG_GFF.read_bytes())
    fna.write_bytes(MG_FNA.read_bytes())
    if where == "input":
        args = [gff, "--fasta", fna]
    elif where == "fasta":
        args = [MG_GFF, "--fasta", fna]
    else:
        (tmp_path / "genome.gff.gz").symlink_to(gff)
        args = [tmp_path / "genome.gff.gz", "--fasta", MG_FNA]
    before = tree(tmp_path)
    code, _, err = run_cli(["embed", *args, "-o", tmp_path / "out", *(["--resume"] if resume else [])])
    refused(code, err, f"is inside {ours}, the work folder `microfuse embed` empties and removes")
    assert tree(tmp_path) == before


def test_embed_never_deletes_an_input_in_its_partial_folder_under_another_spelling(tmp_path, monkeypatch):
    """On a case-insensitive file system (macOS, Windows) out.PARTIAL/genome.gff.gz is inside out.partial, but the
    resolved paths' text told them apart: the genome was read, then deleted with the folder (so too through a bind
    mount of it). Compared by identity now. Here a symlink spelt OUT.PARTIAL stands in for the other spelling, with
    realpath leaving it as spelt, as macOS's does (this file system is case-sensitive)."""
    from microfuse_cli.cli.embed import PARTIAL_MARKER

    ours = tmp_path / "out.partial"
    ours.mkdir()
    (ours / PARTIAL_MARKER).write_text("4242@node7\n")
    (ours / MG_GFF.name).write_bytes(MG_GFF.read_bytes())
    (tmp_path / "OUT.PARTIAL").symlink_to(ours)
    resolve = os.path.realpath
    monkeypatch.setattr(os.path, "realpath", lambda path, *args, **kwargs: os.path.abspath(path)
                        if "OUT.PARTIAL" in os.fspath(path) else resolve(path, *args, **kwargs))
    before = tree(tmp_path)
    spelt = tmp_path / "OUT.PARTIAL" / MG_GFF.name
    code, _, err = run_cli(["embed", spelt, "--fasta", MG_FNA, "-o", tmp_path / "out"])
    refused(code, err, f"{spelt} is inside {ours}, the work folder `microfuse embed` empties and removes")
    assert tree(tmp_path) == before


OUTPUT_REFUSALS_THROUGH_A_LINK = {
    "missing folder": (["pairs", "-o", "{lnk}/sub/x.tsv"], "cannot write {lnk}/sub/x.tsv: directory {lnk}/sub does not "
                                                           "exist"),
    "file as folder": (["pairs", "-o", "{lnk}/mine.txt/x.tsv"],
                       "cannot write {lnk}/mine.txt/x.tsv: {lnk}/mine.txt is a file, not a folder"),
    "folder under a file": (["embed", "-o", "{lnk}/mine.txt/emb"],
                            "cannot write {lnk}/mine.txt/emb: {lnk}/mine.txt is a file, not a folder"),
    "the user's OUT.partial": (["embed", "-o", "{lnk}/emb"], "{lnk}/emb.partial exists and was not made by `microfuse "
                                                             "embed`"),
    "input inside OUT.partial": (["embed", "-o", "{lnk}/e2", "--fasta", str(MG_FNA), "--", "{lnk}/e2.partial/g.gff.gz"],
                                 "{lnk}/e2.partial/g.gff.gz is inside {lnk}/e2.partial, the work folder"),
}


@pytest.mark.parametrize("case", OUTPUT_REFUSALS_THROUGH_A_LINK, ids=list(OUTPUT_REFUSALS_THROUGH_A_LINK))
def test_output_refusals_name_the_path_as_given_not_as_resolved(case, tmp_path):
    """Refusals of an output named folders by their resolved paths: `-o lnk/sub/x.tsv` said 'directory
    /data/real/sub does not exist' (on macOS, /tmp/x was /private/tmp/x), a path the user never typed. They name the
    path as given now; the checks still resolve it."""
    from microfuse_cli.cli.embed import PARTIAL_MARKER

    real, lnk = tmp_path / "real", tmp_path / "lnk"
    real.mkdir()
    lnk.symlink_to(real)
    (real / "mine.txt").write_text("mine\n")
    (real / "emb.partial").mkdir()
    (real / "emb.partial" / "x").write_text("mine\n")
    (real / "e2.partial").mkdir()
    (real / "e2.partial" / PARTIAL_MARKER).write_text("4242@node7\n")
    (real / "e2.partial" / "g.gff.gz").write_bytes(MG_GFF.read_bytes())
    args, message = OUTPUT_REFUSALS_THROUGH_A_LINK[case]
    args = [a.format(lnk=lnk) for a in args]
    if "--" not in args:
        args += [MG_GFF, "--fasta", MG_FNA]
    else:
        args.remove("--")
    before = tree(tmp_path)
    code, _, err = run_cli(args)
    refused(code, err, message.format(lnk=lnk))
    assert tree(tmp_path) == before


def test_a_folder_output_through_a_dangling_link_into_a_locked_folder_is_refused_before_any_work(tmp_path,
                                                                                                   monkeypatch):
    """`-o lnk/ref` with lnk a link to a folder still to be made, in a folder that cannot be written: the path's
    folders walked as spelt stopped at lnk's own folder (writable), so the run read the genome and then failed at
    mkdir, 'cannot make folder', exit 1. The resolved path is walked, as the writer makes it; the locked folder is
    named by its own path, which nothing the user typed resolves to (root, as here, may write any folder, so the
    kernel's answer is stood in for, as above)."""
    import microfuse_cli.io.outputs as outputs

    locked = tmp_path / "locked"
    locked.mkdir()
    (tmp_path / "lnk").symlink_to(locked / "new")
    real_access = os.access
    monkeypatch.setattr(outputs.os, "access", lambda path, mode: not (Path(path) == locked and mode & os.W_OK)
                        and real_access(path, mode))  # a folder it may search, not write: mode 555
    started = []
    monkeypatch.setattr("microfuse_cli.genome.read_genome", lambda *a, **k: started.append(1))
    target = tmp_path / "lnk" / "ref"
    code, _, err = run_cli(["reference", "build", f"{MG_GFF},{MG_FNA}", "-o", target])
    refused(code, err, f"cannot write {target}: directory {locked} is not writable")
    assert not started and list(locked.iterdir()) == []


def _fake_prostt5(folder: Path) -> Path:
    """The files views.hf.require_model_available looks for in a local ProstT5 folder (never loaded here)."""
    folder.mkdir(parents=True)
    for name in ("config.json", "model.safetensors", "spiece.model"):
        (folder / name).write_text(f"{name} of a local ProstT5\n")
    return folder


@pytest.mark.parametrize("resume", [False, True], ids=["fresh", "resume"])
def test_embed_never_deletes_a_local_view_model_kept_in_its_partial_folder(resume, tmp_path):
    """A local ProstT5 folder given as --protein-model inside out.partial (embed's own work folder, left by a killed
    run) was deleted with the folder's contents when the run began, then looked for on the hub. Refused before any
    work, as any input there is."""
    from microfuse_cli.cli.embed import PARTIAL_MARKER

    ours = tmp_path / "out.partial"
    ours.mkdir()
    (ours / PARTIAL_MARKER).write_text("4242@node7\n")
    local = _fake_prostt5(ours / "prostt5")
    before = tree(tmp_path)
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "out", "--protein-view", "prostt5",
                            "--protein-model", local, "--offline", *(["--resume"] if resume else [])])
    refused(code, err, f"{local} is inside {ours}, the work folder `microfuse embed` empties and removes")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("option", ["-o", "--operons-gff"])
def test_score_never_overwrites_a_file_of_the_local_folder_its_views_load(option, tmp_path, monkeypatch):
    """A model whose views load ProstT5 reads it from a folder named as its hub id where one is at hand
    (./Rostlab/ProstT5, downloaded with --local-dir): its files were no inputs of the output checks, so `score G
    -o Rostlab/ProstT5/config.json` was let through to replace ProstT5's config. Refused before any work."""
    import json
    import shutil

    from microfuse_cli.score import DEFAULT_MODEL

    model = tmp_path / "model"
    shutil.copytree(DEFAULT_MODEL, model)
    config = json.loads((model / "config.json").read_text())
    config["inputs"]["views"]["protein"] = "prostt5"
    (model / "config.json").write_text(json.dumps(config))
    _fake_prostt5(tmp_path / "Rostlab" / "ProstT5")
    monkeypatch.chdir(tmp_path)
    before = tree(tmp_path)
    target = os.path.join("Rostlab", "ProstT5", "config.json")
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-m", model, option, target, "--offline", "-q"])
    refused(code, err, f"{option} {target} is also an input; refusing to overwrite it")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("resume", [False, True])
def test_embed_never_empties_the_partial_folder_of_a_running_embed(resume, tmp_path):
    """Two `embed -o out` at once (a rule rerun while the first, hours into ProstT5, runs): the second emptied the
    first's out.partial, its finished shards lost and its next shard write failing. A running embed holds its
    marker's flock; a folder so held is refused before any work, and reused once the holder is gone."""
    from microfuse_cli.cli.embed import PARTIAL_MARKER

    ours = tmp_path / "out.partial"
    (ours / "0123456789abcdef").mkdir(parents=True)
    (ours / "0123456789abcdef" / "protein.000000000.npy").write_bytes(b"a shard of the running embed")
    (ours / PARTIAL_MARKER).write_text("4242@node7\n")
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'r+'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(120)",
                               str(ours / PARTIAL_MARKER)], stdout=subprocess.PIPE, text=True)
    resumed = ["--resume"] if resume else []
    try:
        assert holder.stdout.readline() == "held\n"
        before = tree(tmp_path)
        code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "out", *resumed])
        refused(code, err, f"{ours} is in use by a running `microfuse embed` writing the same output")
        assert tree(tmp_path) == before
    finally:
        holder.kill()
        holder.wait()
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "out", *resumed])
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


@pytest.mark.parametrize("resume", [False, True])
def test_embed_never_writes_through_a_symlinked_partial_marker(resume, tmp_path):
    """out.partial's marker linked to another file (planted, or a user's link): the run took it for its own,
    truncated the link's target and wrote its run tag there. A marker that is a symlink is not embed's: refused
    before any work, the target and the link as they were."""
    from microfuse_cli.cli.embed import PARTIAL_MARKER

    victim = tmp_path / "precious.txt"
    victim.write_text("a file of the user's\n")
    partial = tmp_path / "out.partial"
    partial.mkdir()
    (partial / PARTIAL_MARKER).symlink_to(victim)
    before = tree(tmp_path)
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "out",
                            *(["--resume"] if resume else [])])
    refused(code, err, f"{partial} exists and was not made by `microfuse embed`")
    assert tree(tmp_path) == before and victim.read_text() == "a file of the user's\n"


@pytest.mark.parametrize("target", ["a file", "missing"])
def test_a_marker_symlinked_after_the_check_is_not_written_through(target, tmp_path, monkeypatch):
    """A symlink put in the marker's place between the check and the claim (the up-front check passed minutes
    earlier) was followed: its target was created or overwritten with the run's tag. The marker is written
    without following links (O_NOFOLLOW); the claim is refused, nothing written."""
    import click

    import microfuse_cli.cli.embed as embed

    victim = tmp_path / "precious.txt"
    if target == "a file":
        victim.write_text("a file of the user's\n")
    partial = tmp_path / "out.partial"
    partial.mkdir()
    (partial / embed.PARTIAL_MARKER).symlink_to(victim)
    monkeypatch.setattr(embed, "check_partial", lambda folder, shown=None: None)  # the link came after the check
    with pytest.raises(click.UsageError, match="was not made by `microfuse embed`"):
        with embed.claimed_partial(partial, resume=True):
            pass
    assert (victim.read_text() == "a file of the user's\n") if target == "a file" else not victim.exists()
    assert (partial / embed.PARTIAL_MARKER).is_symlink()


def test_embed_resume_never_writes_shards_through_links_in_its_partial_folder(tmp_path):
    """Links in a resumed out.partial (planted, or a user's): a shard folder linked elsewhere got its shards
    written (and same-named files replaced) in the link's target, and a shard's fixed temp name NAME.tmp linked to
    a file had that file overwritten with the shard. A linked shard folder is refused; shards go through new temp
    files (O_EXCL), never through a link."""
    import numpy as np

    from microfuse_cli.cli.embed import PARTIAL_MARKER
    from microfuse_cli.embed import _save_shard, genes_hash
    from microfuse_cli.genome import read_genome

    elsewhere, victim = tmp_path / "elsewhere", tmp_path / "precious.txt"
    elsewhere.mkdir()
    victim.write_text("a file of the user's\n")
    partial = tmp_path / "out.partial"
    partial.mkdir()
    (partial / PARTIAL_MARKER).write_text("4242@node7\n")
    (partial / genes_hash(read_genome(MG_GFF, MG_FNA).genes)[:16]).symlink_to(elsewhere)
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "out", "--resume"])
    errors = [line for line in err.splitlines() if line.startswith("error: ")]  # once the genome is read
    assert code == 2 and len(errors) == 1 and "is a symlink, not a folder `microfuse embed` made" in errors[0], err
    assert list(elsewhere.iterdir()) == [] and not (tmp_path / "out").exists()
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "protein.000000000.npy.tmp").symlink_to(victim)
    _save_shard(shards / "protein.000000000.npy", np.arange(3.0))
    assert victim.read_text() == "a file of the user's\n"
    assert np.array_equal(np.load(shards / "protein.000000000.npy"), np.arange(3.0))
    assert not (shards / "protein.000000000.npy").is_symlink()


def test_a_folder_that_cannot_be_made_leaves_none_of_its_new_parents(tmp_path):
    """`-o new/NAME/emb` where NAME is too long to make: `mkdir -p` made new/, then failed at NAME; the run said
    'cannot make folder', exit 1, but left the empty new/ behind (only a failure after the folders were made took
    them back). The parents made before the failure are removed, as a failed run's are."""
    from microfuse_cli.errors import DataError
    from microfuse_cli.io.outputs import made_folder

    out = tmp_path / "new" / ("x" * 300) / "emb"
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", out])
    refused(code, err, f"the folder name {'x' * 40}... is longer than 255 bytes")  # now said first, as bad usage
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(DataError, match="^cannot make folder "):  # a library writer, which has no such check
        with made_folder(out):
            pass
    assert list(tmp_path.iterdir()) == []


def test_embed_shards_get_the_umask_mode_not_mkstemps_private_one(tmp_path):
    """A shard goes through a new temp file (mkstemp, which makes 0600); renamed into place it stayed 0600, so in a
    group's shared folder (umask 002) the others' `embed --resume` could not read it and silently recomputed hours
    of foundation-view shards (before the temp file, a shard got the umask's 0664). It gets the umask's mode."""
    import numpy as np

    from microfuse_cli.embed import _save_shard

    shard = tmp_path / "protein.000000000.npy"
    mask = os.umask(0o002)
    try:
        _save_shard(shard, np.arange(3.0))
    finally:
        os.umask(mask)
    assert stat.S_IMODE(os.stat(shard).st_mode) == 0o664
    assert [p.name for p in tmp_path.iterdir()] == [shard.name]


def test_fresh_file_replaces_a_link_never_writes_through_it_and_a_failure_leaves_the_old_file(tmp_path):
    """io.outputs.fresh_file, the one writer of a file a run keeps in its own folder (embed's shards): a link at the
    name is replaced (its target untouched), the file gets the umask's mode, and a block that fails leaves the old
    file as it was and no temp file."""
    from microfuse_cli.io.outputs import fresh_file

    victim, path = tmp_path / "victim", tmp_path / "folder" / "file.bin"
    victim.write_bytes(b"the user's")
    path.parent.mkdir()
    path.symlink_to(victim)
    mask = os.umask(0o027)
    try:
        with fresh_file(path) as handle:
            handle.write(b"new")
    finally:
        os.umask(mask)
    assert victim.read_bytes() == b"the user's" and not path.is_symlink() and path.read_bytes() == b"new"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o640
    with pytest.raises(KeyboardInterrupt):
        with fresh_file(path) as handle:
            handle.write(b"half")
            raise KeyboardInterrupt
    assert path.read_bytes() == b"new" and [p.name for p in path.parent.iterdir()] == ["file.bin"]


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads the umask from Linux's /proc")
def test_the_umask_is_read_without_setting_it(monkeypatch):
    """Output modes follow the umask; reading it by setting and restoring it is process-wide, so a file another
    thread of a library user made in between got mode 0644 under a umask of 077. Linux says it in /proc."""
    from microfuse_cli.io import outputs

    mask = os.umask(0o077)
    try:
        def no_setting(_):
            raise AssertionError("the umask was set")

        monkeypatch.setattr(outputs.os, "umask", no_setting)
        assert outputs._umask() == 0o077
    finally:
        monkeypatch.undo()
        os.umask(mask)


def test_a_lock_another_run_took_a_moment_ago_refuses_the_claim(tmp_path):
    """Two embeds started together both pass the up-front check; the one that then finds the marker's lock taken
    stops before emptying anything (its lock attempt was ignored, so both ran, one unlocked; found in review)."""
    from microfuse_cli.errors import UsageError
    from microfuse_cli.io.outputs import held_lock

    marker = tmp_path / "marker"
    marker.write_text("")
    holder = subprocess.Popen([sys.executable, "-c", "import fcntl, sys, time; f = open(sys.argv[1], 'r+'); "
                               "fcntl.flock(f, fcntl.LOCK_EX); print('held', flush=True); time.sleep(120)",
                               str(marker)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline() == "held\n"
        with pytest.raises(UsageError, match="^in use$"):
            with held_lock(marker, "in use"):
                pass
    finally:
        holder.kill()
        holder.wait()
    with held_lock(marker, "in use"):  # free again
        pass


@pytest.mark.parametrize("recorded", ["4242@node7", "1@{host}"])
def test_embed_resumes_a_partial_folder_of_a_run_that_is_gone_wherever_it_ran(recorded, tmp_path):
    """An embed killed at a cluster job's time limit and resubmitted to another node, or after a reboot where its
    PID now names another process (PID 1 always lives): the marker's PID@HOST was trusted, so --resume was refused
    for 7 days (another host) or for as long as that process lived, its shards lost if the folder was deleted. A
    run holds the marker's lock instead, which the kernel drops when the run ends, however it ends."""
    from microfuse_cli.cli.embed import PARTIAL_MARKER
    from microfuse_cli.io.outputs import _host_tag

    ours = tmp_path / "out.partial"
    ours.mkdir()
    (ours / PARTIAL_MARKER).write_text(recorded.format(host=_host_tag()) + "\n")
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "out", "--resume"])
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out"]


def test_a_failed_resume_keeps_the_partial_folder_embeds(tmp_path):
    """`embed --resume` that fails before its first shard (here --bins of another assembly) removed the marker of
    OUT.partial while other shards kept for --resume were still in it: the next `embed --resume` refused the folder
    as the user's ('not made by microfuse embed'). The marker goes only with the folder."""
    from microfuse_cli.cli.embed import PARTIAL_MARKER

    ours = tmp_path / "out.partial"
    (ours / "fedcba9876543210").mkdir(parents=True)
    (ours / PARTIAL_MARKER).touch()
    (ours / "fedcba9876543210" / "protein.000000000.npy").write_bytes(b"a kept shard")
    (tmp_path / "bins.tsv").write_text("another_assembly_contig\tbin1\n")
    before = tree(tmp_path)
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "out", "--resume", "--bins",
                            tmp_path / "bins.tsv"])
    assert code == 1 and "none of its 1 scaffolds" in err, err
    marker = f"out.partial/{PARTIAL_MARKER}"  # rewritten: it names the last run that claimed the folder
    assert {k: v for k, v in tree(tmp_path).items() if k != marker} == {k: v for k, v in before.items() if k != marker}
    assert (tmp_path / marker).is_file()
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "out", "--resume"])
    assert code == 0, err


def test_embed_creates_missing_parent_folders_of_its_output(tmp_path):
    """`-o a/b/genome` with neither a nor b there (as the Snakemake workflow asks) works, and leaves no .partial."""
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "a" / "b" / "genome"])
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "a" / "b").iterdir()) == ["genome"]


def test_a_read_only_output_file_is_refused_and_left_alone(tmp_path):
    """chmod a-w says "do not replace": the shell's > refuses it, and so does -o (root's access() would not)."""
    kept = tmp_path / "pairs.tsv"
    kept.write_text("my curated table\n")
    kept.chmod(0o444)
    before = state(kept)
    code, out, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", kept])
    assert code == 2 and out == ""
    assert err.strip().splitlines() == [f"error: -o {kept} is read-only; refusing to replace it (make it writable, "
                                        "or give another name)"]
    assert state(kept) == before and stat.S_IMODE(kept.stat().st_mode) == 0o444
    assert [p.name for p in tmp_path.iterdir()] == ["pairs.tsv"]  # no temp file left either
    kept.chmod(0o644)  # writable again: replaced, keeping its permissions
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", kept])
    assert code == 0, err
    assert kept.read_text().splitlines()[3].startswith("pair_id\t") and stat.S_IMODE(kept.stat().st_mode) == 0o644


def test_a_fasta_given_as_a_second_argument_gets_the_fasta_hint_and_the_log_counts_right(tmp_path):
    code, out, err = run_cli(["score", MG_GFF, MG_FNA])
    assert code == 2 and out == ""
    assert f"unexpected extra argument ({MG_FNA}); give the sequence with --fasta {MG_FNA}" in err
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "pairs.tsv"])
    assert code == 0 and ": 1 scaffold, 476 protein-coding genes" in err


def test_score_outputs_are_replaced_as_a_set(tmp_path, monkeypatch):
    """A report that fails after the scores and operons were written leaves the previous run's files whole, not
    new scores beside old operons; a run that succeeds replaces them all."""
    import microfuse_cli.report
    from microfuse_cli.errors import DataError

    outputs = {name: tmp_path / name for name in ("scores.tsv", "operons.tsv", "operons.gff3", "report.html")}
    for path in outputs.values():
        path.write_text("previous run\n")
    before = tree(tmp_path)
    args = ["score", MG_GFF, "--fasta", MG_FNA, "-o", outputs["scores.tsv"], "--operons-tsv", outputs["operons.tsv"],
            "--operons-gff", outputs["operons.gff3"], "--report", outputs["report.html"]]

    def failing_report(*args, **kwargs):
        raise DataError("the report could not be drawn")

    monkeypatch.setattr(microfuse_cli.report, "write_report", failing_report)
    code, _, err = run_cli(args)
    assert code == 1 and "the report could not be drawn" in err
    assert tree(tmp_path) == before  # nothing replaced, no temp file left
    monkeypatch.undo()
    code, _, err = run_cli(args)
    assert code == 0, err
    assert all(path.read_text() != "previous run\n" for path in outputs.values())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(outputs)


def test_score_fused_vectors_are_replaced_with_the_other_outputs(tmp_path, monkeypatch):
    """A full disk while --fused's vectors were written left the new scores beside the previous run's vectors and
    ids (--fused was written after the set of the other outputs, already in place): now one set, nothing replaced."""
    scores, vectors = tmp_path / "scores.tsv", tmp_path / "f.npy"
    for path in (scores, vectors, tmp_path / "f.ids.tsv"):
        path.write_text("previous run\n")
    before = tree(tmp_path)
    calls = _second_fsync_fails(monkeypatch)  # one file on disk (the scores, before), one of the vectors' not
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-o", scores, "--fused", vectors, "-q"])
    assert len(calls) == 2 and code == 1, err
    assert tree(tmp_path) == before
    assert err.strip().splitlines() in ([f"error: cannot write {path}: No space left on device"]
                                        for path in (vectors, vectors.with_suffix(".ids.tsv"))), err
    monkeypatch.undo()
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-o", scores, "--fused", vectors, "-q"])
    assert code == 0, err
    assert len(np.load(vectors)) == 475 and scores.read_text().startswith("#microfuse")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.ids.tsv", "f.npy", "scores.tsv"]


def test_an_unwritable_output_folder_is_refused_before_any_work(tmp_path, monkeypatch):
    """A user without write access to the output's folder learns it at once (root, as here, always has it, so the
    kernel's answer is stood in for; the check is the kernel's own access())."""
    import microfuse_cli.io.outputs as outputs

    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(outputs.os, "access", lambda path, mode: not (Path(path) == locked and mode & os.W_OK)
                        and real_access(path, mode))  # a folder it may search, not write: mode 555
    started = []
    monkeypatch.setattr("microfuse_cli.genome.read_genome", lambda *a, **k: started.append(1))
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", locked / "pairs.tsv"])
    assert code == 2 and not started and list(locked.iterdir()) == []
    assert err.strip() == f"error: cannot write {locked / 'pairs.tsv'}: directory {locked} is not writable"


def test_an_output_inside_a_folder_that_may_not_be_searched_is_refused_as_bad_usage(tmp_path):
    """`-o noperm/x.tsv` under a mode-000 folder: Python 3.11's Path.is_dir() raises PermissionError there, where the
    checks expected False, so the run ended 'Permission denied (PATH)', exit 1, in the output checks, not with the
    one-line refusal (exit 2) of any other folder it may not write. Each output, file or folder (embed -o, retrieve
    build -o), in it or in a folder under it, is refused alike, for what is true of it: it may not be searched (a
    file in it and the folder outputs were said 'not writable', a file under it 'may not be searched'). Run without
    root's file-access overrides (as root, setpriv drops them; any other user has none), as the user who meets it."""
    noperm = tmp_path / "noperm"
    noperm.mkdir()
    noperm.chmod(0)
    np.save(tmp_path / "v.npy", np.zeros((3, 4), dtype="float32"))
    genome = [str(MG_GFF), "--fasta", str(MG_FNA)]
    drop = as_a_plain_user()
    try:
        for command, output in ((["pairs", *genome], "noperm/x.tsv"), (["pairs", *genome], "noperm/sub/x.tsv"),
                                (["embed", *genome], "noperm/emb"), (["embed", *genome], "noperm/sub/emb"),
                                (["retrieve", "build", "v.npy"], "noperm/idx"),
                                (["retrieve", "build", "v.npy"], "noperm/sub/idx")):
            proc = subprocess.run([*drop, sys.executable, "-m", "microfuse_cli", *command, "-o", output],
                                  cwd=tmp_path, capture_output=True, text=True)
            said = f"error: cannot write {output}: directory noperm may not be searched (no execute permission)\n"
            assert (proc.returncode, proc.stderr) == (2, said), (output, proc.returncode, proc.stderr)
    finally:
        noperm.chmod(0o755)
    assert list(noperm.iterdir()) == []


# ------------------------------------------------------------------------------------------------ audit: file safety


def test_a_folder_output_never_replaces_an_input_inside_it(made, tmp_path):
    """`embed emb/pairs.tsv --proteins ... -o emb`: the labelled pairs table read from a previous embedding folder
    was replaced by embed's own pairs.tsv (a list of ids): a folder output's files may not be inputs."""
    import shutil

    emb = tmp_path / "emb"
    shutil.copytree(made / "mg_emb", emb)
    shutil.copy(made / "mg_pairs.tsv", emb / "pairs.tsv")
    before = tree(tmp_path)
    code, _, err = run_cli(["embed", emb / "pairs.tsv", "--proteins", made / "mg.faa", "--fasta", MG_FNA, "-o", emb])
    refused(code, err, f"-o {emb} would replace {emb / 'pairs.tsv'}, which is an input; give another folder")
    spelled = tmp_path / "gone" / ".." / "emb"  # resolved past a missing folder, as the writer resolves it
    code, _, err = run_cli(["embed", emb / "pairs.tsv", "--proteins", made / "mg.faa", "--fasta", MG_FNA, "-o",
                            spelled])
    refused(code, err, f"-o {spelled} would replace {spelled / 'pairs.tsv'}, which is an input ({emb / 'pairs.tsv'})")
    assert tree(tmp_path) == before


EVALUATE_PLOTS = {
    "-o is a plot": (["-o", "{figs}/roc.png"], "-o and --plots are the same file ({figs}/roc.png)"),
    "--json is a plot": (["-o", "{d}/m.tsv", "--json", "{figs}/pr.png"], "--json and --plots are the same file"),
    "an input is a plot": (["{figs}/labelled.threshold_sweep.png", "--names", "labelled"],
                           "--plots {figs} would replace {figs}/labelled.threshold_sweep.png, which is an input"),
    # two files of one name are told apart by their folders (x/labelled.tsv): two --names alike are refused
    "two tables of one name": (["{d}/x/labelled.tsv", "--names", "same,same"],
                               "labelled.tsv and {d}/x/labelled.tsv are both named same, so their --plots figures"),
}


@pytest.mark.parametrize("case", EVALUATE_PLOTS, ids=list(EVALUATE_PLOTS))
def test_evaluate_plots_never_overwrite_another_output_or_an_input(case, made, tmp_path):
    """--plots writes roc.png, pr.png and NAME.KIND.png into its folder: each was written over whatever -o, --json
    or a score table of that name was (the metrics table became a PNG), and two tables named alike shared figures."""
    import shutil

    figs, other = tmp_path / "figs", tmp_path / "x"
    figs.mkdir()
    other.mkdir()
    (figs / "notes.txt").write_text("mine\n")
    shutil.copy(made / "labelled.tsv", figs / "labelled.threshold_sweep.png")
    shutil.copy(made / "labelled.tsv", other / "labelled.tsv")
    args, message = EVALUATE_PLOTS[case]
    fill = {"figs": figs, "d": tmp_path}
    extra = [a.format(**fill) for a in args]
    scores = [] if extra[0].endswith(".png") and not extra[0].startswith("-") else [made / "labelled.tsv"]
    before = tree(tmp_path)
    code, _, err = run_cli(["evaluate", *scores, *extra, "--plots", figs, "--bootstrap", "0", "-q"])
    refused(code, err, message.format(**fill))
    assert tree(tmp_path) == before


@pytest.mark.parametrize("case", ["file names", "--names"])
def test_evaluate_plots_of_names_alike_but_for_case_are_refused(case, made, tmp_path):
    """`evaluate S.tsv s.tsv --plots figs` (or --names A,a) names its figures S.tsv.roc.png and s.tsv.roc.png: one
    file on macOS's and Windows' case-insensitive file systems, so one table's figures were written over the
    other's there. Refused on every system, naming both tables, before anything is written."""
    import shutil

    tables = [tmp_path / "S.tsv", tmp_path / ("s.tsv" if case == "file names" else "other.tsv")]
    for table in tables:
        shutil.copy(made / "labelled.tsv", table)
    names = ["--names", "A,a"] if case == "--names" else []
    metrics = tmp_path / "m.tsv"
    metrics.write_text("the previous metrics\n")
    before = tree(tmp_path)
    code, _, err = run_cli(["evaluate", *tables, *names, "-o", metrics, "--plots", tmp_path / "figs",
                            "--bootstrap", "0", "-q"])
    alike = "S.tsv and s.tsv" if case == "file names" else "A and a"
    refused(code, err, f"score tables {tables[0]} and {tables[1]} are named {alike}, one file name on a "
                       "case-insensitive file system (macOS, Windows), so their --plots figures would overwrite each "
                       "other; give --names")
    assert tree(tmp_path) == before and not (tmp_path / "figs").exists()


def test_evaluate_names_tables_apart_by_their_folders_case_blind(made, tmp_path):
    """x/S.tsv and y/s.tsv were named S.tsv and s.tsv (apart only by case), so --plots was refused (or, on a Mac,
    wrote one table's figures over the other's); their default names now take the folders that tell them apart
    case-blind, as for two scores.tsv."""
    import shutil

    for table in ("x/S.tsv", "y/s.tsv"):
        (tmp_path / table).parent.mkdir()
        shutil.copy(made / "labelled.tsv", tmp_path / table)
    figs = tmp_path / "figs"
    code, out, err = run_cli(["evaluate", tmp_path / "x" / "S.tsv", tmp_path / "y" / "s.tsv", "--plots", figs,
                              "--bootstrap", "0", "-q"])
    assert code == 0, err
    assert [line.split("\t")[0] for line in out.splitlines()[1:]] == ["x/S.tsv", "y/s.tsv"]
    written = sorted(p.name for p in figs.iterdir())
    assert "x_S.tsv.calibration.png" in written and "y_s.tsv.calibration.png" in written
    assert len({name.casefold() for name in written}) == len(written)


def test_evaluate_names_stay_apart_when_two_tables_differ_only_by_case(made, tmp_path):
    """x/S.tsv, x/s.tsv and y/S.tsv: no folder tells the first two apart case-blind, and the names fell back to the
    file names alone, so two different tables (x/S.tsv and y/S.tsv) were both rows 'S.tsv' of the metrics. They
    keep the folders that tell them apart (as before names were compared case-blind); --plots is still refused."""
    import shutil

    tables = [tmp_path / name for name in ("x/S.tsv", "x/s.tsv", "y/S.tsv")]
    for table in tables:
        table.parent.mkdir(exist_ok=True)
        shutil.copy(made / "labelled.tsv", table)
    code, out, err = run_cli(["evaluate", *tables, "--bootstrap", "0", "-q"])
    assert code == 0, err
    assert [line.split("\t")[0] for line in out.splitlines()[1:]] == ["x/S.tsv", "x/s.tsv", "y/S.tsv"]
    code, _, err = run_cli(["evaluate", *tables, "--plots", tmp_path / "figs", "--bootstrap", "0", "-q"])
    refused(code, err, f"score tables {tables[0]} and {tables[1]} are named x_S.tsv and x_s.tsv, one file name")
    assert not (tmp_path / "figs").exists()


def test_evaluate_tells_apart_by_folder_tables_named_alike_once_printable(made, tmp_path):
    """d1/x<TAB>y.tsv and d2/x<LF>y.tsv print alike ('x\ufffdy.tsv'), but their folders tell them apart, as for two
    scores.tsv: both metrics rows were 'x\ufffdy.tsv' and --plots refused them ('give --names')."""
    import shutil

    tables = [tmp_path / "d1" / "x\ty.tsv", tmp_path / "d2" / "x\ny.tsv"]
    for table in tables:
        table.parent.mkdir()
        shutil.copy(made / "labelled.tsv", table)
    code, _, err = run_cli(["evaluate", *tables, "-o", tmp_path / "m.tsv", "--plots", tmp_path / "figs",
                            "--bootstrap", "0", "-q"])
    assert code == 0, err
    rows = [line.split("\t")[0] for line in (tmp_path / "m.tsv").read_text().splitlines()[1:]]
    assert rows == ["d1/x\ufffdy.tsv", "d2/x\ufffdy.tsv"]
    assert {"d1_x\ufffdy.tsv.calibration.png", "d2_x\ufffdy.tsv.calibration.png"} <= {
        p.name for p in (tmp_path / "figs").iterdir()}


def test_evaluate_plots_of_tables_named_alike_once_printable_are_refused_in_one_line(made, tmp_path):
    """'x<TAB>y.tsv' and 'x<LF>y.tsv' are two names, but each table is named as text every output can hold (a
    control character as U+FFFD): both were 'x\ufffdy.tsv', and --plots wrote one set of figures, the second
    table's over the first's, exit 0. Refused as two tables of one name are, the paths escaped on one line."""
    import shutil

    tables = [tmp_path / "x\ty.tsv", tmp_path / "x\ny.tsv"]
    for table in tables:
        shutil.copy(made / "labelled.tsv", table)
    code, _, err = run_cli(["evaluate", *tables, "--plots", tmp_path / "figs", "--bootstrap", "0", "-q"])
    refused(code, err, f"score tables {tmp_path}/x\\u0009y.tsv and {tmp_path}/x\\u000ay.tsv are both named "
                       "x\ufffdy.tsv, so their --plots figures would overwrite each other")
    assert not (tmp_path / "figs").exists()
    code, _, err = run_cli(["evaluate", *tables, "--plots", tmp_path / "figs", "--names", "a,b", "--bootstrap", "0",
                            "-q"])
    assert code == 0, err
    assert {"a.calibration.png", "b.calibration.png"} <= {p.name for p in (tmp_path / "figs").iterdir()}


def test_embed_several_inputs_of_names_alike_but_for_case_are_refused(tmp_path):
    """`embed A.gff a.gff -o D` writes D/A and D/a: one folder on macOS's and Windows' case-insensitive file
    systems, where the second genome's embeddings replaced the first's. Refused on every system, naming both
    inputs and both folders, before any work."""
    import shutil

    for name in ("Mg.gff.gz", "mG.gff.gz"):
        shutil.copyfile(MG_GFF, tmp_path / name)
    one, two = (f"{tmp_path / name},{MG_FNA}" for name in ("Mg.gff.gz", "mG.gff.gz"))
    out = tmp_path / "out"
    code, _, err = run_cli(["embed", one, two, "-o", out])
    refused(code, err, f"INPUTs {tmp_path / 'Mg.gff.gz'} and {tmp_path / 'mG.gff.gz'} would be written to "
                       f"{out / 'Mg'} and {out / 'mG'}, one folder on a case-insensitive file system (macOS, Windows")
    assert not out.exists()


@pytest.mark.parametrize("command", ["evaluate", "embed"])
def test_names_apart_only_by_unicode_normalisation_are_refused_as_such(command, made, tmp_path):
    """café written with é as one code point and as e + U+0301 is one name on macOS (not on Windows): the refusal
    said 'case-insensitive file system (macOS, Windows)' for two names of the same case; it says why now."""
    import shutil
    import unicodedata

    composed, decomposed = (unicodedata.normalize(form, "café") for form in ("NFC", "NFD"))
    why = ("file system that takes an accented letter written as one code point (é) and as a letter with a "
           "combining accent (e + U+0301) for one name (macOS")
    if command == "evaluate":
        tables = [tmp_path / "a.tsv", tmp_path / "b.tsv"]
        for table in tables:
            shutil.copy(made / "labelled.tsv", table)
        code, _, err = run_cli(["evaluate", *tables, "--names", f"{composed},{decomposed}", "--plots",
                                tmp_path / "figs", "--bootstrap", "0", "-q"])
        refused(code, err, rf"are named {composed} (written caf\u00e9) and {decomposed} (written cafe\u0301), one "
                           f"file name on a {why}), so their --plots")
        assert not (tmp_path / "figs").exists()
        return
    for name in (composed, decomposed):
        shutil.copyfile(MG_GFF, tmp_path / f"{name}.gff.gz")
    out = tmp_path / "out"
    code, _, err = run_cli(["embed", *(f"{tmp_path / name}.gff.gz,{MG_FNA}" for name in (composed, decomposed)),
                            "-o", out])
    refused(code, err, rf"{out / composed} (written caf\u00e9) and {out / decomposed} (written cafe\u0301), one "
                       f"folder on a {why}; each genome gets -o/NAME")
    assert not out.exists()


def test_names_one_only_by_full_case_folding_are_refused_for_macos_alone(made, tmp_path):
    """Straße and STRASSE are one name on APFS, which folds case in full (ß to ss, as the APFS readers linux-apfs
    and apfs-fuse fold to find a name's hash), but two on NTFS, which maps case letter to letter: still refused
    (APFS is macOS's default), and the refusal said 'macOS, Windows' for them."""
    import shutil

    from microfuse_cli.io.outputs import clash_kind, name_clash

    assert name_clash(["Straße", "STRASSE"]) == (0, 1) and name_clash(["A.tsv", "a.TSV"]) == (0, 1)
    assert clash_kind("A.tsv", "a.TSV")[1] == clash_kind("σ", "ς")[1] == "macOS, Windows"  # one letter to one
    tables = [tmp_path / "a.tsv", tmp_path / "b.tsv"]
    for table in tables:
        shutil.copy(made / "labelled.tsv", table)
    code, _, err = run_cli(["evaluate", *tables, "--names", "Straße,STRASSE", "--plots", tmp_path / "figs",
                            "--bootstrap", "0", "-q"])
    refused(code, err, "are named Straße and STRASSE, one file name on a case-insensitive file system that folds case "
                       "in full, ß to ss (macOS), so their --plots figures")
    assert not (tmp_path / "figs").exists()


def test_typed_outputs_of_one_folder_alike_but_for_case_are_refused(made, tmp_path):
    """`pairs G -o S.tsv --proteins s.tsv` (or `evaluate -o figs/ROC.png --plots figs`, which writes figs/roc.png):
    one file on macOS's and Windows' case-insensitive file systems, where the second write replaced the first. Names
    a run derives were refused so (name_clash), names typed were only compared as paths and passed; refused now on
    every system, in one line, exit 2, before anything is written."""
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "S.tsv", "--proteins",
                            tmp_path / "s.tsv"])
    refused(code, err, f"outputs -o {tmp_path / 'S.tsv'} and --proteins {tmp_path / 's.tsv'}, one file on a "
                       "case-insensitive file system (macOS, Windows); give each output a name of its own")
    figs = tmp_path / "figs"
    figs.mkdir()
    code, _, err = run_cli(["evaluate", made / "labelled.tsv", "-o", figs / "ROC.png", "--plots", figs,
                            "--bootstrap", "0", "-q"])
    refused(code, err, f"outputs -o {figs / 'ROC.png'} and {figs / 'roc.png'} (--plots), one file on a case-")
    assert sorted(p.name for p in tmp_path.rglob("*")) == ["figs"]


def test_typed_outputs_alike_but_for_case_are_compared_in_the_folder_the_kernel_writes(tmp_path):
    """`-o lnk/../S.tsv`, lnk a link to a/deep, writes a/S.tsv; its folder was taken as spelled with `..` dropped
    (the current one), so `--proteins s.tsv` (another folder) was refused and `--proteins a/s.tsv` (the same one)
    written beside it. Each output's folder is now the one the kernel finds, as for the same-file check."""
    (tmp_path / "a" / "deep").mkdir(parents=True)
    (tmp_path / "lnk").symlink_to(tmp_path / "a" / "deep")
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", f"{tmp_path}/lnk/../S.tsv", "--proteins",
                            tmp_path / "s.tsv", "-q"])
    assert code == 0, err
    assert (tmp_path / "a" / "S.tsv").is_file() and (tmp_path / "s.tsv").is_file()
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", f"{tmp_path}/lnk/../T.tsv", "--proteins",
                            tmp_path / "a" / "t.tsv", "-q"])
    refused(code, err, f"outputs -o {tmp_path}/lnk/../T.tsv and --proteins {tmp_path / 'a' / 't.tsv'}, one file on "
                       "a case-insensitive file system (macOS, Windows); give each output a name of its own")
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == ["S.tsv", "deep"]


def test_embed_folder_names_drop_upper_case_suffixes(tmp_path):
    """`embed A.GFF.gz b.gff.gz -o D` wrote D/A.GFF and D/b: the suffixes were dropped in lower case only."""
    import shutil

    shutil.copyfile(MG_GFF, tmp_path / "A.GFF.GZ")
    shutil.copyfile(MG_GFF, tmp_path / "b.Gff3.gz")
    out = tmp_path / "out"
    code, _, err = run_cli(["embed", f"{tmp_path / 'A.GFF.GZ'},{MG_FNA}", f"{tmp_path / 'b.Gff3.gz'},{MG_FNA}",
                            "-o", out, "-q"])
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["A", "b"]


def test_embed_input_named_as_another_inputs_work_folder_is_refused(tmp_path):
    """`embed x.partial.gff x.gff -o D`: x's work folder D/x.partial is x.partial's embedding folder. The first
    genome's folder was written, then x was refused as 'D/x.partial ... was not made by microfuse embed' (exit 2
    after the work; the other order took D/x.partial as x's shards first). Refused before any work, naming both."""
    import shutil

    for name in ("x.partial.gff.gz", "X.gff.gz"):
        shutil.copyfile(MG_GFF, tmp_path / name)
    out = tmp_path / "out"
    code, _, err = run_cli(["embed", f"{tmp_path / 'x.partial.gff.gz'},{MG_FNA}", f"{tmp_path / 'X.gff.gz'},{MG_FNA}",
                            "-o", out])
    refused(code, err, f"INPUT {tmp_path / 'x.partial.gff.gz'} would be written to {out / 'x.partial'}, the work "
                       f"folder of INPUT {tmp_path / 'X.gff.gz'} (each genome gets -o/NAME, and -o/NAME.partial")
    assert not out.exists()


@pytest.mark.parametrize("command", ["pairs", "embed"])
def test_a_symlink_loop_output_is_refused_not_replaced(command, tmp_path):
    """`-o loop` where loop -> other -> loop: the shell says 'Too many levels of symbolic links'; the link itself
    was replaced by the output (realpath stops inside a loop), silently undoing the user's links."""
    (tmp_path / "loop").symlink_to("other")
    (tmp_path / "other").symlink_to("loop")
    before = {p.name: os.readlink(p) for p in tmp_path.iterdir()}
    code, _, err = run_cli([command, MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "loop"])
    refused(code, err, f"-o {tmp_path / 'loop'}: too many levels of symbolic links")
    assert {p.name: os.readlink(p) for p in tmp_path.iterdir() if p.is_symlink()} == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["loop", "other"]


def _file_size_limited(limit: int):
    import resource

    return lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # `ulimit -f`: EFBIG past it


WRITE_FAILS = {
    "pairs": (lambda made, out: ["pairs", MG_GFF, "--fasta", MG_FNA, "-o", out], "out.tsv", None),
    "embed": (lambda made, out: ["embed", MG_GFF, "--fasta", MG_FNA, "-o", out], "out", "mg_emb"),
    "train": (lambda made, out: ["train", made / "mg_pairs.tsv", "-e", made / "mg_emb", "-o", out, "--epochs", "1",
                                 "--batch-size", "64"], "out", "mg_model"),
    "retrieve build": (lambda made, out: ["retrieve", "build", made / "a.npy", "-o", out], "out", None),
    "score -o --operons-tsv": (lambda made, out: ["score", MG_GFF, "--fasta", MG_FNA, "-o", out, "--operons-tsv",
                                                  out.with_name("operons.tsv")], "out.tsv", None),
    "score --fused": (lambda made, out: ["score", MG_GFF, "--fasta", MG_FNA, "--fused", out, "-o", os.devnull],
                      "out.npy", None),
}


@pytest.mark.parametrize("command", WRITE_FAILS, ids=list(WRITE_FAILS))
def test_a_write_that_fails_part_way_names_the_output_and_keeps_the_previous_one(command, made, tmp_path):
    """A real short write (RLIMIT_FSIZE, as `ulimit -f` or a quota gives): exit 1 with one line naming the output and
    the kernel's reason, the previous output intact, no temp file left. Was: 'File too large' naming no file,
    numpy's '19040 requested and 5088 written' (embed), and 'internal error: SafetensorError ... report it'
    (train) or 'internal error: RuntimeError: Error in faiss::write_index' (retrieve build). Of several outputs, the
    one that failed is named (the scores here, larger than the limit; the operons are not)."""
    import shutil

    args, name, previous = WRITE_FAILS[command]
    out = tmp_path / name
    if previous:
        shutil.copytree(made / previous, out)
    elif name == "out.tsv":
        out.write_text("pair_id\tfrom a previous run\n")
    before = tree(tmp_path)
    proc = subprocess.run([sys.executable, "-m", "microfuse_cli", *map(str, args(made, out)), "-q"],
                          capture_output=True, text=True, preexec_fn=_file_size_limited(16 * 1024), timeout=300)
    assert proc.returncode == 1, proc.stderr
    failed = {out, out.with_suffix(".ids.tsv")}  # --fused: whichever of its two files passes the limit first
    assert proc.stderr.splitlines() in ([f"error: cannot write {path}: File too large"] for path in failed), proc.stderr
    assert tree(tmp_path) == before


NEW_FOLDER_FAILS = {
    "evaluate --plots": lambda made, out: ["evaluate", made / "labelled.tsv", "-o", os.devnull, "--plots", out,
                                           "--bootstrap", "0"],
    "embed": lambda made, out: ["embed", MG_GFF, "--fasta", MG_FNA, "-o", out],
    "embed, a bad genome": lambda made, out: ["embed", f"{out.parents[2] / 'bad.gff'},{MG_FNA}", f"{MG_GFF},{MG_FNA}",
                                              "-o", out],
    "train": lambda made, out: ["train", made / "mg_pairs.tsv", "-e", made / "mg_emb", "-o", out, "--epochs", "1",
                                "--batch-size", "64"],
    "retrieve build": lambda made, out: ["retrieve", "build", made / "a.npy", "-o", out],
    "reference build": lambda made, out: ["reference", "build", f"{MG_GFF},{MG_FNA}", "-o", out],
}


@pytest.mark.parametrize("command", NEW_FOLDER_FAILS, ids=list(NEW_FOLDER_FAILS))
def test_a_run_that_fails_leaves_no_new_folder(command, made, tmp_path_factory):
    """A folder output in folders still to make (`-o new/out`), the run failing after they were made: a short write
    (`ulimit -f`), or bad data in the first of several genomes. The new folders were left behind, empty (--plots
    and embed's folder of genomes were made before the writes; every folder output made its parents)."""
    root = tmp_path_factory.mktemp("fails")
    (root / "bad.gff").write_text("##gff-version 3\nbad\tline\n")
    work = root / "work"
    work.mkdir()
    args = NEW_FOLDER_FAILS[command](made, work / "new" / "out")
    proc = subprocess.run([sys.executable, "-m", "microfuse_cli", *map(str, args), "-q"], capture_output=True,
                          text=True, preexec_fn=_file_size_limited(16 * 1024), timeout=300)
    assert proc.returncode == 1 and proc.stderr.startswith("error: "), proc.stderr
    assert list(work.iterdir()) == []


def test_a_new_parent_taken_back_by_a_failed_parallel_run_is_made_again(tmp_path, monkeypatch):
    """Two runs building folder outputs under one new parent (`-o new/a`, `-o new/b`): the one that fails takes the
    parent back while still empty (made_folder), between the other's `mkdir -p` and its temp folder, which then
    failed with 'No such file or directory'. The parent is made again and the run goes on."""
    import tempfile

    import microfuse_cli.io.outputs as outputs

    real_mkdtemp, taken = tempfile.mkdtemp, []

    def parent_taken_back_once(*args, dir=None, **kwargs):
        if not taken:
            taken.append(dir)
            os.rmdir(dir)  # what the failed run's made_folder does to the empty parent
        return real_mkdtemp(*args, dir=dir, **kwargs)

    monkeypatch.setattr(outputs.tempfile, "mkdtemp", parent_taken_back_once)
    with outputs.atomic_directory(tmp_path / "new" / "b") as folder:
        (folder / "x.txt").write_text("x\n")
    assert [str(d) for d in taken] == [str(tmp_path / "new")]
    assert (tmp_path / "new" / "b" / "x.txt").read_text() == "x\n"
    assert [p.name for p in (tmp_path / "new").iterdir()] == ["b"]


def test_two_runs_building_one_new_folder_both_succeed(made, tmp_path, monkeypatch):
    """Two runs writing the same new folder (a rule run twice): the one finishing second found the folder made by
    the first and failed after all its work ('Directory not empty'); it now replaces that output as a rerun does."""
    import shutil

    import microfuse_cli.io.outputs as outputs

    code, _, err = run_cli(["retrieve", "build", made / "b.npy", "-o", tmp_path / "first"])
    assert code == 0, err
    index, real_settle = tmp_path / "index", outputs._settle

    def other_run_finishes_first(folder):
        real_settle(folder)
        shutil.copytree(tmp_path / "first", index)

    monkeypatch.setattr(outputs, "_settle", other_run_finishes_first)
    code, _, err = run_cli(["retrieve", "build", made / "a.npy", "-o", index])
    assert code == 0, err
    monkeypatch.undo()
    code, _, err = run_cli(["retrieve", "build", made / "a.npy", "-o", tmp_path / "alone"])
    assert code == 0, err
    assert {k: v[0] for k, v in tree(index).items()} == {k: v[0] for k, v in tree(tmp_path / "alone").items()}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone", "first", "index"]


def _read_only_tree(folder: Path) -> None:
    for path in [*folder.rglob("*"), folder]:
        path.chmod(path.stat().st_mode & ~0o222)


def _writable_tree(folder: Path) -> None:
    for path in [folder, *folder.rglob("*")]:
        path.chmod(path.stat().st_mode | 0o200)


def _refused_as(uid: int | None, path: Path) -> bool | str:
    """Whether ``-o path`` is refused as read-only when checked by user ``uid`` (a forked child that drops root's
    rights; None: this process), or what else went wrong."""
    from microfuse_cli.errors import UsageError
    from microfuse_cli.io.outputs import Output, check_outputs

    def check() -> int:
        try:
            check_outputs([], [Output("-o", path)])
        except UsageError as exc:
            return 10 if "is read-only" in str(exc) or "sticky bit" in str(exc) else 11
        return 20

    if uid is None:
        code = check()
    else:
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's coverage is not collected
            try:
                os.setgid(uid)
                os.setuid(uid)
                os._exit(check())
            finally:
                os._exit(3)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
    return {10: True, 20: False}.get(code, f"exit {code}")


def test_a_file_the_runner_may_not_write_is_refused_as_the_shell_refuses_it(tmp_path):
    """A rename needs only the folder's write bit: in a group-writable shared folder, -o replaced another member's
    0644 table, or one's own with its owner write bit off (0464), where the shell's > says "Permission denied".
    For any user but root (whose access() ignores the bits), such an output is refused before any work; so is
    another user's file in a sticky (1777) folder, which the rename at the end could not replace (EPERM)."""
    import shutil
    import tempfile

    user = None if os.geteuid() != 0 else 4321
    folder = Path(tempfile.mkdtemp(dir="/tmp")) if user else tmp_path  # a folder the dropped user can reach
    try:
        if user:
            os.chown(folder, user, user)
        folder.chmod(0o777)
        mine_locked, mine_open = folder / "mine_0464.tsv", folder / "mine_0644.tsv"
        for path, mode in ((mine_locked, 0o464), (mine_open, 0o644)):
            path.write_text("a table\n")
            if user:
                os.chown(path, user, user)
            path.chmod(mode)
        assert _refused_as(user, mine_locked) is True
        assert _refused_as(user, mine_open) is False
        if user:  # another member's table, writable only by its owner
            theirs = folder / "theirs.tsv"
            theirs.write_text("their table\n")
            os.chown(theirs, user + 1, user)
            theirs.chmod(0o644)
            assert _refused_as(user, theirs) is True
            assert _refused_as(None, theirs) is False  # root may replace it, as root's > may
            scratch = folder / "scratch"  # a 1777 shared scratch space: their group-writable table
            scratch.mkdir()
            scratch.chmod(0o1777)
            shared = scratch / "theirs_0664.tsv"
            shared.write_text("their table\n")
            os.chown(shared, user + 1, user)
            shared.chmod(0o664)
            assert _refused_as(user, shared) is True  # the rename at the end failed: EPERM, after the work
            assert _refused_as(None, shared) is False
    finally:
        if user:
            shutil.rmtree(folder)


def test_an_input_in_a_folder_that_may_not_be_searched_is_unreadable_not_missing(tmp_path):
    """`pairs private/genome.gff` where private/ is chmod 600 (its files may not be reached) said 'no such file',
    sending the user to look for a file that is there."""
    import shutil
    import tempfile

    from microfuse_cli.errors import DataError
    from microfuse_cli.io.outputs import check_outputs

    user = None if os.geteuid() != 0 else 4321  # root reaches any file: checked as another user
    folder = Path(tempfile.mkdtemp(dir="/tmp")) if user else tmp_path
    try:
        private = folder / "private"
        private.mkdir()
        (private / "genome.gff").write_text("##gff-version 3\n")
        if user:
            os.chown(folder, user, user)
            os.chown(private, user, user)
        private.chmod(0o600)
        pid = os.fork()
        if pid == 0:  # pragma: no cover - the child's coverage is not collected
            try:
                if user:
                    os.setgid(user)
                    os.setuid(user)
                try:
                    check_outputs([private / "genome.gff"], [])
                except DataError as exc:
                    os._exit(10 if str(exc) == f"cannot read {private / 'genome.gff'}: permission denied" else 11)
                os._exit(12)
            finally:
                os._exit(3)
        assert os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) == 10
    finally:
        (folder / "private").chmod(0o700)
        if user:
            shutil.rmtree(folder)


@pytest.mark.parametrize("protected", ["the folder", "a file of it"])
def test_a_read_only_folder_output_is_refused_and_left_alone(protected, made, tmp_path):
    """`chmod -R a-w model/` (a published model) says "do not replace", as it does for a file output: train
    replaced both files by renames (root, or any owner of the folder), and --plots a read-only roc.png."""
    import shutil

    model, figs = tmp_path / "model", tmp_path / "figs"
    shutil.copytree(made / "mg_model", model)
    figs.mkdir()
    (figs / "roc.png").write_bytes(b"my figure")
    if protected == "the folder":
        _read_only_tree(model)
    else:
        (model / "config.json").chmod(0o444)
        (figs / "roc.png").chmod(0o444)
    before = tree(tmp_path)
    try:
        code, _, err = run_cli(_folder_command("train", made, model))
        which = f"-o {model} is read-only" if protected == "the folder" else f"{model / 'config.json'} is read-only"
        refused(code, err, which)
        if protected == "a file of it":
            code, _, err = run_cli(["evaluate", made / "labelled.tsv", "--plots", figs, "--bootstrap", "0", "-q"])
            refused(code, err, f"--plots {figs}: {figs / 'roc.png'} is read-only; refusing to replace it")
        assert tree(tmp_path) == before
    finally:
        _writable_tree(model)


def test_a_linked_file_of_a_folder_output_is_replaced_and_its_target_left_alone(made, tmp_path):
    """A model folder whose weights are a symlink to a write-protected file elsewhere (a published copy): a rerun
    replaces the link, as a folder save does, and leaves the target as it was; it was refused as 'read-only', the
    check reading the link's target (found in review)."""
    import shutil

    model, published = tmp_path / "model", tmp_path / "published.safetensors"
    shutil.copytree(made / "mg_model", model)
    (model / "model.safetensors").rename(published)
    published.chmod(0o444)
    before = published.read_bytes()
    (model / "model.safetensors").symlink_to(published)
    code, _, err = run_cli(_folder_command("train", made, model) + ["--seed", "1"])
    assert code == 0, err
    assert not (model / "model.safetensors").is_symlink() and (model / "model.safetensors").stat().st_size > 0
    assert published.read_bytes() == before and stat.S_IMODE(published.stat().st_mode) == 0o444


def test_a_plots_figure_linked_to_a_read_only_file_is_refused_and_the_target_left_alone(made, tmp_path, monkeypatch):
    """--plots writes its figures as file outputs, through a link: figs/roc.png linked to a write-protected file
    elsewhere had that file replaced by the figure, the read-only check skipping links as if the link were
    replaced (as a model folder's is)."""
    figs, published = tmp_path / "figs", tmp_path / "published.png"
    figs.mkdir()
    published.write_bytes(b"my figure")
    published.chmod(0o444)
    (figs / "roc.png").symlink_to(published)
    before = tree(tmp_path)
    code, _, err = run_cli(["evaluate", made / "labelled.tsv", "--plots", figs, "--bootstrap", "0", "-q"])
    refused(code, err, f"--plots {figs}: {figs / 'roc.png'} (a link to {published}) is read-only; refusing to replace")
    assert tree(tmp_path) == before and (figs / "roc.png").is_symlink()
    assert sorted(p.name for p in figs.iterdir()) == ["roc.png"]
    (figs / "roc.png").unlink()  # a link into a folder that is not there: was said after the work, exit 1
    (figs / "roc.png").symlink_to(tmp_path / "gone" / "roc.png")
    code, _, err = run_cli(["evaluate", made / "labelled.tsv", "--plots", figs, "--bootstrap", "0", "-q"])
    refused(code, err, f"--plots {figs}: {figs / 'roc.png'} (a link to {tmp_path / 'gone' / 'roc.png'}) is in a "
                       "folder that does not exist")
    assert sorted(p.name for p in figs.iterdir()) == ["roc.png"] and not (tmp_path / "gone").exists()
    (figs / "roc.png").unlink()  # given relatively, a plain read-only figure was said to be 'a link to' its path
    published.replace(figs / "roc.png")
    monkeypatch.chdir(tmp_path)
    code, _, err = run_cli(["evaluate", made / "labelled.tsv", "--plots", "figs", "--bootstrap", "0", "-q"])
    refused(code, err, "--plots figs: figs/roc.png is read-only; refusing to replace it")


def test_an_empty_path_is_refused_never_taken_for_the_current_folder(made, tmp_path, monkeypatch):
    """`embed G -o "$OUT"` with OUT unset wrote the embedding folder into the current folder (replacing a previous
    one there), exit 0; `pairs ""` said 'no such file: ', naming nothing. The shell's `> ""` and `mkdir ""` fail."""
    import shutil

    here = tmp_path / "here"
    shutil.copytree(made / "mg_emb", here)  # the current folder holds a previous embedding folder
    monkeypatch.chdir(here)
    before = tree(here)
    for args, fragment in (
            (["embed", MPN_GFF, "--fasta", MPN_FNA, "-o", ""], "-o is an empty path (an unset shell variable?); "
                                                               "give a folder name"),
            (["pairs", MG_GFF, "-o", ""], "-o is an empty path (an unset shell variable?); give a file name"),
            (["evaluate", made / "labelled.tsv", "--plots", ""], "--plots is an empty path"),
            (["pairs", "", "-o", tmp_path / "p.tsv"], "an input is an empty path (an unset shell variable?)"),
            # an option's input is named, as an output's is: was 'an input is an empty path ...', naming no option,
            # and -m '' named Python's None
            (["pairs", MG_GFF, "--fasta", "", "-o", tmp_path / "p.tsv"], "--fasta is an empty path (an unset shell "
                                                                         "variable?); give a file name"),
            (["score", MG_GFF, "--bins", "", "-o", tmp_path / "s.tsv"], "--bins is an empty path"),
            (["score", MG_GFF, "-m", "", "-o", tmp_path / "s.tsv"], "-m is an empty path (an unset shell variable?); "
                                                                   "give a folder name"),
            # folder inputs checked as the options are read: was 'no such index folder: ', exit 1
            (["retrieve", "search", "--index", "", "-o", tmp_path / "h.tsv"], "--index is an empty path (an unset "
                                                                              "shell variable?); give the index "
                                                                              "folder's path"),
            (["score", made / "mg_pairs.tsv", "--embeddings", "", "-o", tmp_path / "s.tsv"], "--embeddings is an "
                                                                                           "empty path"),
            (["train", made / "mg_pairs.tsv", "-e", "", "-o", tmp_path / "m"], "--embeddings is an empty path"),
            (["score", MG_GFF, "--fasta", MG_FNA, "--reference", "", "-o", tmp_path / "s.tsv"], "--reference is an "
                                                                                              "empty path")):
        code, _, err = run_cli(args)
        refused(code, err, fragment)
    from microfuse_cli.embed import Embeddings
    from microfuse_cli.errors import UsageError
    from microfuse_cli.io.outputs import atomic_output

    with pytest.raises(UsageError, match=r"^an output path is empty \(an unset variable\?\); give a folder name$"):
        Embeddings.load(made / "mg_emb").save("")  # was written into the current folder, replacing the one there
    with pytest.raises(UsageError, match=r"^an output path is empty \(an unset variable\?\); give a file name$"):
        with atomic_output(""):  # was ' is a directory; give a file name', naming nothing
            pass
    with pytest.raises(UsageError, match=r"^the embedding folder's path is empty \(an unset variable\?\)$"):
        Embeddings.load("")  # the one in the current folder was read
    from microfuse_cli.checkpoint import read_checkpoint

    with pytest.raises(UsageError, match=r"^the model path is empty \(an unset variable\?\)$"):
        read_checkpoint("")
    assert tree(here) == before and sorted(p.name for p in tmp_path.iterdir()) == ["here"]


def test_a_reused_folder_keeps_the_permissions_of_the_files_it_replaces(made, tmp_path):
    """A private model (chmod 600, 640) stays private when a rerun replaces its files, as a replaced file output does
    (was: the umask's 644, readable by everyone)."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(made / "mg_model", model)
    (model / "model.safetensors").chmod(0o600)
    (model / "config.json").chmod(0o640)
    before = tree(model)
    code, _, err = run_cli(_folder_command("train", made, model) + ["--seed", "1"])
    assert code == 0, err
    assert all(tree(model)[name][:2] != before[name][:2] for name in before)  # replaced (new inode)
    assert stat.S_IMODE((model / "model.safetensors").stat().st_mode) == 0o600
    assert stat.S_IMODE((model / "config.json").stat().st_mode) == 0o640


def test_a_run_killed_while_refilling_a_folder_does_not_block_the_rerun(made, tmp_path):
    """SIGKILL (the OOM killer) while a run fills an existing empty folder leaves its hidden build folder there; the
    rerun refused the folder, which looks empty to `ls`, as 'not empty'. It now writes the output and names the
    leftover for the user to remove (never removed by microfuse: another run may be building in it)."""
    out = tmp_path / "out"
    out.mkdir()
    leftover = _killed_at_rename(["retrieve", "build", str(made / "a.npy"), "-o", str(out)], out, tmp_path)
    assert leftover.startswith(".microfuse.") and leftover.endswith(".tmp")
    code, _, err = run_cli(["retrieve", "build", made / "a.npy", "-o", out])
    assert code == 0, err
    assert f"warning: {out / leftover}: left by an interrupted run; remove it to free its space" in err, err
    assert sorted(p.name for p in out.iterdir()) == sorted([leftover, "index.faiss", "manifest.json", "pairs.tsv"])


def test_a_run_killed_before_its_rename_leaves_a_temp_file_the_rerun_names(tmp_path):
    """SIGKILL (a Snakemake job killed by the scheduler, then retried) at a file output's rename leaves its hidden
    temp file beside it; the retry wrote the output but never said the hidden file was there, filling a project
    folder with `.scores.tsv.*.tmp` copies unseen. It is named now (never removed: another run may be writing it)."""
    out = tmp_path / "out"
    out.mkdir()
    leftover = _killed_at_rename(["pairs", str(MG_GFF), "--fasta", str(MG_FNA), "-o", str(out / "pairs.tsv")], out,
                                 tmp_path)
    assert leftover.startswith(".pairs.tsv.") and leftover.endswith(".tmp")
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", out / "pairs.tsv"])
    assert code == 0, err
    assert f"warning: {out / leftover}: left by an interrupted run; remove it to free its space" in err, err
    assert sorted(p.name for p in out.iterdir()) == sorted([leftover, "pairs.tsv"])


def test_a_run_killed_while_building_a_new_folder_leaves_a_build_folder_the_rerun_names(made, tmp_path):
    """SIGKILL while a new folder output (an index, an embedding folder) is built leaves its hidden build folder
    beside it, as large as the output; a killed file output's temp file was named by the rerun, this never was."""
    out = tmp_path / "out"
    out.mkdir()
    leftover = _killed_at_rename(["retrieve", "build", str(made / "a.npy"), "-o", str(out / "index")], out, tmp_path)
    assert leftover.startswith(".index.") and leftover.endswith(".tmp") and (out / leftover).is_dir()
    code, _, err = run_cli(["retrieve", "build", made / "a.npy", "-o", out / "index"])
    assert code == 0, err
    assert _named_leftovers(err, out) == {leftover}, err
    assert sorted(p.name for p in out.iterdir()) == sorted([leftover, "index"])


def _an_index_its_appended_twin_and_a_gone_runs_build_folder_name(made, tmp_path):
    """Folders ``old`` (a.npy) and ``new`` (a.npy, b.npy: old after an --append) and the name of a build folder of a
    run that is gone (a finished process's pid on this host), as a killed run leaves one, holding what it had left."""
    from microfuse_cli.io.outputs import _host_tag

    old, new = tmp_path / "old", tmp_path / "new"
    for out, vectors in ((old, [made / "a.npy"]), (new, [made / "a.npy", made / "b.npy"])):
        code, _, err = run_cli(["retrieve", "build", *vectors, "-o", out, "--group-by", "genome", "-q"])
        assert code == 0, err
    ended = subprocess.Popen(["true"])
    ended.wait()
    return old, new, f".microfuse.{ended.pid}@{_host_tag()}.abcd1234.tmp"


def test_a_folder_left_part_old_part_new_by_a_killed_swap_is_refused_saying_what_to_do(made, tmp_path):
    """kill -9 while a run swaps its files into a folder output (`retrieve build --append`, `train -o` over a model)
    leaves it part new, part old, the rest in its build folder (marker moved last). The index said only 'checksum
    mismatch (corrupted or edited since it was written)', as if the disk were failing; the model, whose config
    records no checksum of its weights, scored with the new weights and the old threshold and standardisation, exit
    0. Both are refused now, naming the build folder and what to do; one killed before or after its swap is not."""
    import shutil

    old, new, name = _an_index_its_appended_twin_and_a_gone_runs_build_folder_name(made, tmp_path)
    model = tmp_path / "model"
    shutil.copytree(made / "mg_model", model)
    (old / name).mkdir()
    (model / name).mkdir()
    for name_in in ("index.faiss", "pairs.tsv", "manifest.json"):  # killed before its swap: the folder as it was
        shutil.copy(new / name_in, old / name / name_in)
    searched = ["retrieve", "search", "--index", old, "-o", tmp_path / "hits.tsv", "-q"]
    assert run_cli(searched)[0] == 0
    (old / name / "index.faiss").replace(old / "index.faiss")  # the first file swapped in, then killed
    shutil.copy(made / "mg_model" / "config.json", model / name / "config.json")  # the weights swapped in
    for folder, args in ((old, searched),
                         (model, ["score", MG_GFF, "--fasta", MG_FNA, "-m", model, "-o", tmp_path / "s.tsv"])):
        (tmp_path / "hits.tsv").unlink(missing_ok=True)
        code, _, err = run_cli(args)
        assert code == 1 and len(err.strip().splitlines()) == 1, err
        assert err.strip() == (f"error: {folder}: a run killed while replacing its files left it part old, part new; "
                               f"the rest of its finished output is in {folder / name}: complete it (mv "
                               f"{folder / name}/* {folder}/ && rmdir {folder / name}), or write the folder again "
                               "with the command that made it"), err
    assert not (tmp_path / "hits.tsv").exists() and not (tmp_path / "s.tsv").exists()
    for moved in ("pairs.tsv", "manifest.json"):  # killed after its swap: only the empty build folder is left
        (old / name / moved).replace(old / moved)
    assert run_cli(searched)[0] == 0


def test_a_folder_mixed_by_a_killed_swap_is_read_once_written_again_or_completed_as_advised(made, tmp_path):
    """A folder mixed by a run killed in its swap, then written again (the advice), was still refused as 'part old,
    part new' for as long as the killed run's build folder stayed; and the advice, 'write it again with the command
    that made it', was refused too when that command was `retrieve build --append` (it reads the folder). The build
    folder holds the rest of a finished output: moving it in, as the message says, gives the killed run's output."""
    import shutil

    old, new, name = _an_index_its_appended_twin_and_a_gone_runs_build_folder_name(made, tmp_path)
    pristine = tmp_path / "pristine"
    shutil.copytree(old, pristine)

    def mixed():  # `retrieve build --append b.npy -o old` killed after swapping index.faiss in
        shutil.rmtree(old)
        shutil.copytree(pristine, old)
        (old / name).mkdir()
        for file in ("pairs.tsv", "manifest.json"):
            shutil.copy(new / file, old / name / file)
        shutil.copy(new / "index.faiss", old / "index.faiss")

    def search(index, out):
        return run_cli(["retrieve", "search", "--index", index, "-o", out, "-q"])

    mixed()
    code, _, err = run_cli(["retrieve", "build", "--append", made / "b.npy", "-o", old, "-q"])
    assert code == 1 and "part old, part new" in err, err
    code, _, err = run_cli(["retrieve", "build", made / "a.npy", "-o", old, "--group-by", "genome", "-q"])
    assert code == 0, err  # written again from scratch: read, though the killed run's build folder is still there
    assert (old / name).is_dir() and search(old, tmp_path / "again.tsv")[0] == 0
    assert search(pristine, tmp_path / "pristine.tsv")[0] == 0
    assert (tmp_path / "again.tsv").read_bytes() == (tmp_path / "pristine.tsv").read_bytes()
    older = (old / name / "manifest.json").stat().st_mtime - 60  # copied without its times (cp -r): looks older
    os.utime(old / "manifest.json", (older, older))
    assert search(old, tmp_path / "again.tsv")[0] == 0  # its index.faiss is not the killed run's: not mixed
    mixed()
    code, _, err = search(old, tmp_path / "hits.tsv")
    assert code == 1 and f"complete it (mv {old / name}/* {old}/ && rmdir {old / name})" in err, err
    done = subprocess.run(["bash", "-c", f"mv {old / name}/* {old}/ && rmdir {old / name}"])
    assert done.returncode == 0 and sorted(p.name for p in old.iterdir()) == sorted(p.name for p in new.iterdir())
    assert search(old, tmp_path / "hits.tsv")[0] == 0 and search(new, tmp_path / "new.tsv")[0] == 0
    assert (tmp_path / "hits.tsv").read_bytes() == (tmp_path / "new.tsv").read_bytes()  # the killed run's output


@pytest.mark.skipif(not Path("/proc/self/stat").exists() or not hasattr(os, "waitid"),
                    reason="a zombie is told from its state in Linux's /proc (made with waitid's WNOWAIT)")
def test_a_folder_mixed_by_a_killed_swap_is_said_so_while_the_killed_run_is_a_zombie(made, tmp_path):
    """Right after `kill -9` of a run swapping its files in (`retrieve build --append`), before its parent reaps it,
    the killed process is a zombie, which signal 0 still finds: its build folder was taken for a live run's, and the
    next --append said 'checksum mismatch (corrupted or edited since it was written)' instead of 'part old, part
    new' and what to do. A zombie is a run that is gone (Linux: its /proc state). The zombie here is a process that
    ended and is not yet waited for (waitid's WNOWAIT)."""
    import shutil

    from microfuse_cli.io.outputs import _host_tag

    old, new, _ = _an_index_its_appended_twin_and_a_gone_runs_build_folder_name(made, tmp_path)
    killed = subprocess.Popen(["true"])
    try:
        os.waitid(os.P_PID, killed.pid, os.WEXITED | os.WNOWAIT)  # ended, not reaped: a zombie
        name = f".microfuse.{killed.pid}@{_host_tag()}.abcd1234.tmp"
        (old / name).mkdir()
        for file in ("pairs.tsv", "manifest.json"):  # killed after swapping index.faiss in
            shutil.copy(new / file, old / name / file)
        shutil.copy(new / "index.faiss", old / "index.faiss")
        code, _, err = run_cli(["retrieve", "build", "--append", made / "b.npy", "-o", old, "-q"])
        assert code == 1 and f"error: {old}: a run killed while replacing its files left it part old, part new; the " \
            f"rest of its finished output is in {old / name}" in err and "checksum mismatch" not in err, err
    finally:
        killed.wait()


@pytest.mark.parametrize("command", ["pairs", "embed"])
def test_an_output_path_longer_than_the_system_allows_is_bad_usage(command, tmp_path):
    """A path past Linux's 4096 bytes (25 names of 200 bytes) was 'error: File name too long (PATH)', exit 1, one
    4 kB line, from a stat in the output check; it is bad usage, said in a line that fits a terminal."""
    deep = tmp_path.joinpath(*["d" * 200] * 21) / "out"
    code, _, err = run_cli([command, MG_GFF, "--fasta", MG_FNA, "-o", deep])
    refused(code, err, f"-o {str(deep)[:40]}...: the path is longer than 4095 bytes, the system's limit")
    assert len(err.splitlines()[0]) < 200 and list(tmp_path.iterdir()) == []


def test_an_output_past_the_limits_through_a_link_or_in_a_long_folder_name_is_bad_usage(tmp_path):
    """`-o link/NAME` where link leads to a deep folder (the real path, which is written, past 4096 bytes), and `-o
    LONG/NAME` with a folder name past 255 bytes were 'error: File name too long (PATH)', exit 1, after the
    path-length check that measured the path as given and the name check that measured only its last name."""
    deep = tmp_path.joinpath(*["d" * 200] * 19)
    deep.mkdir(parents=True)
    (tmp_path / "link").symlink_to(deep)
    name = "n" * 250
    for command, kind in (("pairs", ".tsv"), ("embed", "")):
        code, _, err = run_cli([command, MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "link" / (name + kind)])
        refused(code, err, f"-o {str(tmp_path / 'link')[:40]}...: the path it leads to through links is longer than "
                           "4095 bytes, the system's limit")
        assert len(err.splitlines()[0]) < 200
        code, _, err = run_cli([command, MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / ("f" * 256) / ("out" + kind)])
        refused(code, err, f"the folder name {'f' * 40}... is longer than 255 bytes, the file system's limit")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d" * 200, "link"] and not any(deep.iterdir())


def test_an_output_name_near_the_length_limit_is_written(tmp_path):
    """A name the shell's `>` accepts (250 to 255 bytes, the file system's limit) failed after the work: its temp file,
    the name with a dot and a random suffix, was 'File name too long', and the message named the temp file. The temp
    name is shortened now; embed, whose OUTPUT.partial work folder is part of its interface, refuses a name with no
    room for it before any work."""
    name = "é" * 100 + "n" * 46  # 246 bytes: multi-byte characters are cut on the byte count
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / f"{name}.tsv", "--fused",
                            tmp_path / f"{name}.npy", "-q"])
    assert code == 0, err
    code, _, err = run_cli(["retrieve", "build", tmp_path / f"{name}.npy", "-o", tmp_path / (name + "x" * 9)])
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([f"{name}.tsv", f"{name}.npy", f"{name}.ids.tsv",
                                                                  name + "x" * 9])
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / (name + "y" * 9)])
    assert code == 2 and err.startswith(f"error: -o {tmp_path / (name + 'y' * 9)}: the name is too long"), err
    assert not (tmp_path / (name + "y" * 9)).exists()
    for option, long in (("-o", f"{name}{'z' * 6}.tsv"), ("--fused", f"{name}{'z' * 2}.npy")):  # its .ids.tsv: 256
        code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, option, tmp_path / long, "-q"])
        assert code == 2 and err.startswith(f"error: {option} {tmp_path / long.removesuffix('.npy')}"), err
        assert "longer than 255 bytes" in err.splitlines()[0], err


def test_evaluate_plots_without_matplotlib_is_refused_before_the_metrics_are_replaced(made, tmp_path, monkeypatch):
    """matplotlib is an optional extra: `evaluate -o m.tsv --plots figs` without it replaced m.tsv, then failed with
    'internal error: ModuleNotFoundError ... report it'. Now: one line, exit 2, before any work."""
    metrics = tmp_path / "m.tsv"
    metrics.write_text("a previous run\n")
    before = tree(tmp_path)
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # as when it is not installed
    code, _, err = run_cli(["evaluate", made / "labelled.tsv", "-o", metrics, "--plots", tmp_path / "figs",
                            "--bootstrap", "0", "-q"])
    refused(code, err, "--plots needs matplotlib: pip install 'microfuse-cli[plots]'")
    assert tree(tmp_path) == before


def test_pairs_and_their_proteins_are_replaced_together(tmp_path, monkeypatch):
    """A full disk while the pairs table is written leaves the previous proteins too (was: new proteins beside the
    previous pairs, which `embed pairs.tsv --proteins` reads as one genome); piped into `head`, the proteins are
    still written whole, before the stream."""
    pairs, proteins = tmp_path / "pairs.tsv", tmp_path / "genes.faa"
    pairs.write_text("pair_id\tfrom a previous run\n")
    proteins.write_text(">from_a_previous_run\nMK\n")
    before = tree(tmp_path)

    calls = _second_fsync_fails(monkeypatch)  # the proteins are on disk, the pairs table is not
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "--proteins", proteins, "-o", pairs])
    assert len(calls) == 2 and code == 1 and err.strip().splitlines()[-1] == f"error: cannot write {pairs}: No space left on device", err
    assert tree(tmp_path) == before
    monkeypatch.undo()
    proc = subprocess.Popen([str(MICROFUSE), "pairs", str(ECOLI_GFF), "--fasta", str(ECOLI_FNA), "--proteins",
                             str(proteins)], stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # more than a pipe holds
    assert proc.stdout.readline().startswith(b"#microfuse ")  # the table's first line
    proc.stdout.close()
    assert proc.wait(timeout=120) == 141, proc.stderr.read()
    text = proteins.read_text()
    assert text.count(">") > 4000 and text.endswith("\n") and text.rstrip().splitlines()[-1].isalpha()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["genes.faa", "pairs.tsv"]


def test_pairs_file_is_written_when_the_proteins_reader_stops_early(tmp_path):
    """`pairs -o pairs.tsv --proteins - | head`: the proteins stream and the table were one set, so the reader
    leaving ended the run before the table was put in place (exit 141, no pairs.tsv); the file is now written
    first, as it is with `--proteins genes.faa` and the table on stdout."""
    pairs = tmp_path / "pairs.tsv"
    proc = subprocess.Popen([str(MICROFUSE), "pairs", str(MG_GFF), "--fasta", str(MG_FNA), "--proteins", "-", "-o",
                             str(pairs), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # a reader that is gone before the first protein
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "alone.tsv", "-q"])
    assert code == 0, err
    assert pairs.read_bytes() == (tmp_path / "alone.tsv").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone.tsv", "pairs.tsv"]


def test_evaluate_table_and_json_are_replaced_together(made, tmp_path, monkeypatch):
    """A failure while the JSON is written (a full disk) left the new metrics table beside the previous JSON."""

    table, doc = tmp_path / "m.tsv", tmp_path / "m.json"
    table.write_text("a previous run\n")
    doc.write_text("{}\n")
    before = tree(tmp_path)
    calls = _second_fsync_fails(monkeypatch)
    code, _, err = run_cli(["evaluate", made / "labelled.tsv", "-o", table, "--json", doc, "--bootstrap", "0", "-q"])
    assert code == 1 and "No space left on device" in err, err
    assert len(calls) == 2 and tree(tmp_path) == before
    monkeypatch.undo()
    code, _, err = run_cli(["evaluate", made / "labelled.tsv", "-o", table, "--json", doc, "--bootstrap", "0", "-q"])
    assert code == 0, err
    assert table.read_text().startswith("model\t") and doc.read_text().startswith("[")


def test_evaluate_figures_are_replaced_with_the_metrics(made, tmp_path, monkeypatch):
    """A full disk at the second figure (each was renamed into place alone, after the metrics and JSON) left new
    metrics and roc.png beside the previous run's other figures; now the metrics, the JSON and the figures are one
    set. With `-o -` the files come first: a reader that stops early left no JSON and no figures."""
    figs, table, doc = tmp_path / "figs", tmp_path / "m.tsv", tmp_path / "m.json"
    args = ["evaluate", made / "labelled.tsv", "--json", doc, "--plots", figs, "--bootstrap", "0", "-q"]
    code, _, err = run_cli([*args, "-o", table])
    assert code == 0, err
    names = sorted(p.name for p in figs.iterdir())
    assert len(names) == 5, names
    for path in [table, doc, *figs.iterdir()]:
        path.write_bytes(b"previous run\n")
    before = tree(tmp_path)
    calls = _fsync_fails_at(monkeypatch, 4)  # the metrics, JSON and roc.png on disk, pr.png not
    code, _, err = run_cli([*args, "-o", table])
    assert len(calls) == 4 and code == 1, err
    assert tree(tmp_path) == before
    assert len(err.strip().splitlines()) == 1 and err.endswith(": No space left on device\n"), err
    monkeypatch.undo()
    doc.unlink()
    for figure in figs.iterdir():
        figure.unlink()
    proc = subprocess.Popen([str(MICROFUSE), *map(str, args), "-o", "-"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.close()  # a reader that is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert sorted(p.name for p in figs.iterdir()) == names and all(p.read_bytes().startswith(b"\x89PNG")
                                                                  for p in figs.iterdir())
    assert doc.read_text().startswith("[") and table.read_bytes() == b"previous run\n"


def test_a_figure_name_over_the_length_limit_is_refused_before_work(made, tmp_path):
    """--plots names its figures after each table (NAME.threshold_sweep.png): a table name of 236+ bytes (a long
    file name, or --names) made 'File name too long (...)', exit 1, after the metrics had replaced the previous
    run's. Now refused before any work, as a long output name is."""
    table = tmp_path / "m.tsv"
    table.write_text("previous run\n")
    before = tree(tmp_path)
    code, _, err = run_cli(["evaluate", made / "labelled.tsv", "--names", "n" * 240, "-o", table, "--plots",
                            tmp_path / "figs", "--bootstrap", "0", "-q"])
    refused(code, err, "a name longer than 255 bytes")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("command", ["evaluate --plots", "embed -o"])
def test_a_plain_folder_output_through_a_symlink_to_a_folder_still_to_make(command, made, tmp_path):
    """--plots figs, or embed's container for several genomes, a symlink to results/figs that does not exist yet:
    written through, as the other outputs are; it failed with 'error: File exists (figs)', exit 1 (evaluate:
    after the work)."""
    link, folder = tmp_path / "figs", tmp_path / "results" / "figs"
    link.symlink_to(folder)
    if command == "embed -o":
        args = ["embed", f"{MG_GFF},{MG_FNA}", f"{MPN_GFF},{MPN_FNA}", "-o", link, "-q"]
    else:
        args = ["evaluate", made / "labelled.tsv", "-o", tmp_path / "m.tsv", "--plots", link, "--bootstrap", "0", "-q"]
    code, _, err = run_cli(args)
    assert code == 0, err
    pattern, files = ("*/*.npy", 6) if command == "embed -o" else ("*.png", 5)  # 3 matrices a genome; 5 figures
    assert link.is_symlink() and len(list(folder.glob(pattern))) == files


def test_a_file_output_ending_in_a_slash_is_refused(tmp_path):
    """`-o results/` for a file output (the shell's `> results/` fails 'Is a directory'): a file named `results` was
    written instead, where the user meant a folder."""
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", f"{tmp_path / 'results'}/"])
    refused(code, err, "names a folder (it ends in '/'); give a file name")
    assert list(tmp_path.iterdir()) == []


def test_a_foreign_partial_folder_is_refused_before_any_genome_is_embedded(tmp_path):
    """`embed a b -o out` with a user's `out/b.partial`: refused after `out/a` was written (the check came with the
    second genome); now before any work, so nothing is written."""
    out = tmp_path / "out"
    (out / "GCF_000027345.1_ASM2734v1_genomic.partial").mkdir(parents=True)
    before = tree(tmp_path)
    code, _, err = run_cli(["embed", MG_FNA, MPN_FNA, "-g", "4", "-o", out])
    assert code == 2 and "GCF_000027345.1_ASM2734v1_genomic.partial exists and was not made by" in err, err
    assert tree(tmp_path) == before and [p.name for p in out.iterdir()] == ["GCF_000027345.1_ASM2734v1_genomic.partial"]


def test_two_outputs_into_one_pipe_are_refused(tmp_path):
    """`-o - --proteins /dev/stdout | ...` (or one FIFO twice) mixed the pairs and the proteins into one stream, as
    `-o - --proteins -` is refused for; /dev/null stays shareable."""
    proc = subprocess.run([sys.executable, "-m", "microfuse_cli", "pairs", str(MG_GFF), "--fasta", str(MG_FNA), "-o",
                           "-", "--proteins", "/dev/stdout"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert proc.returncode == 2 and proc.stdout == "", proc.stderr
    assert proc.stderr.startswith("error: -o and --proteins write into the same stream (/dev/stdout)"), proc.stderr
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", fifo, "--proteins", fifo])
    refused(code, err, f"-o and --proteins write into the same stream ({fifo})")
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", os.devnull, "--proteins", os.devnull])
    assert code == 0, err


@pytest.mark.parametrize("command", FOLDER_COMMANDS)
def test_a_folder_output_under_a_file_is_refused_before_work(command, made, tmp_path):
    """`-o results.tsv/emb` (a typo for results/emb): mkdir -p fails at the end, after the work, with a bare 'Not a
    directory (.../emb.partial)'; now one line before any work."""
    (tmp_path / "results.tsv").write_text("mine\n")
    before = tree(tmp_path)
    code, _, err = run_cli(_folder_command(command, made, tmp_path / "results.tsv" / "emb" / "x"))
    refused(code, err, f"{tmp_path / 'results.tsv'} is a file, not a folder")
    assert tree(tmp_path) == before


@pytest.mark.parametrize("under", ["results.tsv", "results.tsv/sub"])
def test_a_file_output_under_a_file_is_named_as_such(under, tmp_path):
    """`-o results.tsv/scores.tsv` (a typo for results/): refused as 'directory .../results.tsv does not exist',
    though it exists, as a file; the message now says what is wrong."""
    (tmp_path / "results.tsv").write_text("mine\n")
    before = tree(tmp_path)
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / under / "scores.tsv"])
    refused(code, err, f"{tmp_path / 'results.tsv'} is a file, not a folder")
    assert tree(tmp_path) == before


def test_a_folder_where_a_folder_output_writes_a_file_is_refused_before_work(made, tmp_path):
    """A folder named roc.png in --plots (or protein.npy in an embedding folder): the metrics were replaced, then
    the plot failed ('is a directory'); embed failed at its swap, after the work. Now both are refused first."""
    import shutil

    figs, emb, metrics = tmp_path / "figs", tmp_path / "emb", tmp_path / "m.tsv"
    (figs / "roc.png").mkdir(parents=True)
    shutil.copytree(made / "mg_emb", emb)
    (emb / "protein.npy").unlink()
    (emb / "protein.npy").mkdir()
    metrics.write_text("a previous run\n")
    before = tree(tmp_path)
    code, _, err = run_cli(["evaluate", made / "labelled.tsv", "-o", metrics, "--plots", figs, "--bootstrap", "0"])
    refused(code, err, f"--plots {figs}: {figs / 'roc.png'} is a folder, where the run writes a file")
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", emb])
    refused(code, err, f"-o {emb}: {emb / 'protein.npy'} is a folder, where the run writes a file")
    assert tree(tmp_path) == before


def test_score_files_are_written_when_the_stdout_reader_stops_early(tmp_path):
    """`score -o - --operons-tsv ops.tsv --fused f.npy | head`: the reader leaving ended the run before the operons
    file was put in place (it was in one set with the stream) and before --fused; the files are now written first,
    and only the stream is cut short."""
    operons = tmp_path / "ops.tsv"
    proc = subprocess.Popen([str(MICROFUSE), "score", str(MG_GFF), "--fasta", str(MG_FNA), "-o", "-",
                             "--operons-tsv", str(operons), "--fused", str(tmp_path / "f.npy"), "-q"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # a reader that is gone before the first line
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-o", os.devnull, "--operons-tsv",
                            tmp_path / "alone.tsv", "-q"])
    assert code == 0, err
    assert operons.read_bytes() == (tmp_path / "alone.tsv").read_bytes()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["alone.tsv", "f.ids.tsv", "f.npy", "ops.tsv"]
    assert len(np.load(tmp_path / "f.npy")) == 475


@pytest.mark.parametrize("command", ["pairs", "score", "retrieve"])
def test_a_full_disk_under_stdout_is_named(command, made, tmp_path):
    """`> /dev/full` (a full disk under the shell's redirection): one line naming stdout, exit 1; was 'error: No
    space left on device', naming no output (the files of the run, written before the stream, are whole)."""
    args = {"pairs": ["pairs", MG_GFF, "--fasta", MG_FNA, "--proteins", tmp_path / "genes.faa"],
            "score": ["score", MG_GFF, "--fasta", MG_FNA, "--operons-tsv", tmp_path / "operons.tsv"],
            "retrieve": ["retrieve", "search", made / "a.npy", "--index", tmp_path / "index"]}[command]
    if command == "retrieve":
        code, _, err = run_cli(["retrieve", "build", made / "a.npy", "-o", tmp_path / "index", "-q"])
        assert code == 0, err
    with open("/dev/full", "w") as full:
        proc = subprocess.run([str(MICROFUSE), *map(str, args), "-q"], stdout=full, stderr=subprocess.PIPE,
                              text=True, timeout=120)
    assert proc.returncode == 1 and proc.stderr == "error: cannot write stdout: No space left on device\n", proc.stderr
    written = [p for p in tmp_path.iterdir() if p.suffix in (".faa", ".tsv")]
    assert [p.read_text()[-1:] for p in written] == ["\n"] * (command != "retrieve")


@pytest.mark.parametrize("stream", ["/dev/stdout", "fifo"])
def test_files_are_written_when_a_named_stream_reader_stops_early(stream, tmp_path):
    """`score -o /dev/stdout --operons-tsv ops.tsv | head`, or -o a FIFO (a shell's `-o >(head)` names a pipe the
    same way): only '-' came after the files, so a named stream was one set with them and the reader leaving ended
    the run with no operons file. Every stream (stdout, a descriptor path, a FIFO) now comes after the files."""
    operons = tmp_path / "ops.tsv"
    target = stream
    if stream == "fifo":
        target = tmp_path / "scores.fifo"
        os.mkfifo(target)

        def read_a_little():
            with open(target, "rb") as fifo:
                fifo.read(10)

        threading.Thread(target=read_a_little, daemon=True).start()
    proc = subprocess.Popen([str(MICROFUSE), "score", str(ECOLI_GFF), "--fasta", str(ECOLI_FNA), "-o", str(target),
                             "--operons-tsv", str(operons), "-q"], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # /dev/stdout's reader is gone at once
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=300) == 141, err
    lines = operons.read_text().splitlines()
    assert lines[0].startswith("#microfuse") and len(lines) > 500 and lines[-1].count("\t") == lines[-2].count("\t")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted({"ops.tsv", Path(target).name} - {"stdout"})


def test_a_compressed_suffix_compresses_the_output(tmp_path):
    """`-o scores.tsv.gz` wrote plain text under a .gz name, which zcat and pandas (compression by suffix) refuse.
    Each of .gz, .bz2 and .xz now holds what the plain output holds; gzip without a time stamp, so a rerun gives
    the same bytes."""
    import bz2
    import lzma

    plain = ["-o", tmp_path / "s.tsv", "--operons-gff", tmp_path / "o.gff3", "--operons-tsv", tmp_path / "o.tsv"]
    packed = ["-o", tmp_path / "s.tsv.gz", "--operons-gff", tmp_path / "o.gff3.bz2",
              "--operons-tsv", tmp_path / "o.tsv.xz"]
    for outputs in (plain, packed):
        code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-q", *outputs])
        assert code == 0, err
    first = (tmp_path / "s.tsv.gz").read_bytes()
    assert gzip.decompress(first) == (tmp_path / "s.tsv").read_bytes()
    assert bz2.decompress((tmp_path / "o.gff3.bz2").read_bytes()) == (tmp_path / "o.gff3").read_bytes()
    assert lzma.decompress((tmp_path / "o.tsv.xz").read_bytes()) == (tmp_path / "o.tsv").read_bytes()
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-q", "-o", tmp_path / "p.tsv.gz",
                            "--proteins", tmp_path / "g.faa.gz"])
    assert code == 0, err
    assert gzip.decompress((tmp_path / "g.faa.gz").read_bytes()).startswith(b">MG_001\n")
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-q", "-o", tmp_path / "s.tsv.gz"])
    assert code == 0, err
    assert (tmp_path / "s.tsv.gz").read_bytes() == first
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(  # no temporary file left behind
        ["s.tsv", "o.gff3", "o.tsv", "s.tsv.gz", "o.gff3.bz2", "o.tsv.xz", "p.tsv.gz", "g.faa.gz"])


def test_a_fifo_named_gz_is_compressed_as_a_file_of_that_name_is(tmp_path):
    """`-o pairs.tsv.gz` on a FIFO (`mkfifo pairs.tsv.gz; zcat pairs.tsv.gz | ...`) got plain text while a regular
    file of that name got gzip, so the reader's zcat failed: it now gets the very bytes the file holds, as
    `gzip -c > pairs.tsv.gz` would write into it."""
    fifo = tmp_path / "pairs.tsv.gz"
    os.mkfifo(fifo)
    received = {}
    reader = threading.Thread(target=lambda: received.setdefault("data", fifo.read_bytes()))
    reader.start()
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", fifo, "-q"])
    reader.join(timeout=60)
    assert code == 0, err
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "file.tsv.gz", "-q"])
    assert code == 0, err
    assert received["data"] == (tmp_path / "file.tsv.gz").read_bytes()
    assert gzip.decompress(received["data"]).split(b"\n")[3].startswith(b"pair_id\t")


def test_a_library_folder_output_without_overwrite_names_the_argument_not_a_cli_option(tmp_path):
    """atomic_directory(overwrite=False) is a library switch (no command has a --force): its refusal said 'use
    --force', an option that does not exist; the folder is left as it was."""
    from microfuse_cli.errors import DataError
    from microfuse_cli.io.outputs import atomic_directory

    folder = tmp_path / "index"
    folder.mkdir()
    (folder / "mine.txt").write_text("mine\n")
    with pytest.raises(DataError, match="pass overwrite=True") as caught:
        with atomic_directory(folder, overwrite=False):
            pass
    assert "--force" not in str(caught.value)
    assert [p.name for p in folder.iterdir()] == ["mine.txt"]


@pytest.mark.parametrize("output", ["folder", "file set"])
def test_two_runs_replacing_one_output_never_mix_their_files(output, tmp_path, monkeypatch):
    """Two runs replacing one index folder, or one set of score files, at once (a rule rerun while the first still
    writes; one slower, on a busy node) renamed their files in turn: the folder ended with one run's index.faiss
    beside the other's pairs.tsv and manifest (which failed its checksums), the scores of one run beside the operons
    of the other. The renames into one folder now take turns: the output is one run's, whole."""
    import json
    import time

    from microfuse_cli.io.outputs import atomic_directory, write_outputs

    folder = tmp_path / "out"
    folder.mkdir()
    names = ("index.faiss", "pairs.tsv", "manifest.json") if output == "folder" else ("scores.tsv", "operons.tsv")
    for name in names:
        (folder / name).write_text(json.dumps({"format": "microfuse-pair-index", "run": "previous"}))
    real_replace, delay, failed = os.replace, threading.local(), []

    def slow_replace(src, dst, *args, **kwargs):  # each rename takes a while, the slower run's longer
        time.sleep(getattr(delay, "seconds", 0))
        return real_replace(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "replace", slow_replace)

    def write(run: str, seconds: float, start: float) -> None:
        time.sleep(start)
        delay.seconds = seconds
        text = json.dumps({"format": "microfuse-pair-index", "run": run})
        try:
            if output == "folder":
                with atomic_directory(folder) as tmp:
                    for name in names:
                        (tmp / name).write_text(text)
            else:
                write_outputs([(folder / name, "w", lambda handle: handle.write(text)) for name in names])
        except Exception as exc:
            failed.append(exc)

    # the fast run starts its renames after the slow one has put its first file in place
    runs = [threading.Thread(target=write, args=("slow", 0.3, 0)),
            threading.Thread(target=write, args=("fast", 0, 0.45))]
    for run in runs:
        run.start()
    for run in runs:
        run.join(timeout=60)
    assert failed == []
    assert len({json.loads((folder / name).read_text())["run"] for name in names}) == 1
    assert sorted(p.name for p in folder.iterdir()) == sorted(names)


@pytest.mark.parametrize("command", ["pairs", "retrieve build"])
def test_a_folder_locked_for_the_whole_run_is_not_waited_for(command, made, tmp_path, monkeypatch):
    """`flock results/ microfuse ... -o results/x` (flock(1) serialising jobs on a folder) holds a lock on the output
    folder for the whole run: the run, waiting for that lock before its renames, waited for itself forever. A lock
    held longer than a run's renames take is someone else's and is not waited for; one warning line says the run
    swapped unlocked (it said nothing)."""
    import fcntl
    import time

    import microfuse_cli.io.outputs as outputs

    monkeypatch.setattr(outputs, "SWAP_LOCK_WAIT_S", 0.5)
    results = tmp_path / "results"
    results.mkdir()
    if command == "pairs":
        args, out = ["pairs", MG_GFF, "--fasta", MG_FNA, "-o", results / "pairs.tsv"], results
    else:  # a folder output reused: its swap locks the output folder itself
        out = results / "index"
        code, _, err = run_cli(["retrieve", "build", made / "a.npy", "-o", out, "-q"])
        assert code == 0, err
        args = ["retrieve", "build", made / "b.npy", "-o", out]
    held = os.open(out, os.O_RDONLY | os.O_DIRECTORY)
    fcntl.flock(held, fcntl.LOCK_EX)
    try:
        outcome: list = []
        run = threading.Thread(target=lambda: outcome.append(run_cli(args)), daemon=True)
        started = time.monotonic()
        run.start()
        run.join(timeout=30)
    finally:
        os.close(held)
    assert outcome and outcome[0][0] == 0, outcome
    assert time.monotonic() - started < 30
    warned = [line for line in outcome[0][2].splitlines() if "without the lock" in line]
    assert len(warned) == 1 and warned[0].startswith("warning: ") and os.path.realpath(out) in warned[0], outcome
    assert (results / "pairs.tsv").is_file() if command == "pairs" else (out / "index.faiss").is_file()


@contextlib.contextmanager
def _paused_at_rename(args: list[str], tmp_path, to: str = "") -> Iterator[subprocess.Popen]:
    """Run microfuse ``args`` until its output's rename (a sitecustomize hook slows it and leaves a mark), yield the
    live run paused there, then SIGKILL it, as a scheduler kills a job. ``to``: pause at the first rename onto a
    name ending so (the renames before it done), not at the first."""
    import time

    from test_hostile_inputs import SLOW_RENAME_HOOK

    hook, mark = tmp_path / "hook", tmp_path / "renaming"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SLOW_RENAME_HOOK)
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(hook), *sys.path]), MICROFUSE_TEST_MARK=str(mark),
               MICROFUSE_TEST_RENAME_TO=to)
    proc = subprocess.Popen([sys.executable, "-m", "microfuse_cli", *args], env=env, stdin=subprocess.DEVNULL,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while not mark.exists() and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mark.exists(), "the run never reached its rename"
        yield proc
    finally:
        proc.kill()
        proc.wait()


def _killed_at_rename(args: list[str], out, tmp_path) -> str:
    """Run microfuse ``args`` until its output's rename, SIGKILL it there; returns the one file it left in ``out``."""
    with _paused_at_rename(args, tmp_path):
        pass
    (leftover,) = [p.name for p in out.iterdir()]
    return leftover


def _named_leftovers(err: str, folder: Path) -> set[str]:
    """The names in ``folder`` that a run's warnings call left by an interrupted run."""
    suffix = ": left by an interrupted run; remove it to free its space"
    return {line.removeprefix(f"warning: {folder}/").removesuffix(suffix)
            for line in err.splitlines() if line.startswith("warning: ") and line.endswith(suffix)}


@pytest.mark.parametrize("output", ["file", "refilled folder"])
def test_only_temp_files_of_runs_that_are_gone_are_named_as_leftovers(output, made, tmp_path):
    """Snakemake jobs share output folders, and two may race on one output (a rule rerun while the first runs): the
    second named the first's temp file or build folder, being written, as 'left by an interrupted run', and a user
    removing it lost the first run's output. A temp name now records its writer (PID@HOST): named are only those of
    a process of this host that is gone, of another host's unchanged for a week, and names made before writers were
    recorded; never those of a live run. Nothing is removed."""
    import time

    from microfuse_cli.io.outputs import OTHER_HOST_LEFTOVER_AGE_S, _host_tag

    out = tmp_path / "out"
    out.mkdir()
    if output == "file":
        args, stem = ["pairs", str(MG_GFF), "--fasta", str(MG_FNA), "-o", str(out / "pairs.tsv")], ".pairs.tsv."
    else:
        args, stem = ["retrieve", "build", str(made / "a.npy"), "-o", str(out)], ".microfuse."
    host, other = _host_tag(), f"not-{_host_tag()[:50]}"
    with _paused_at_rename(args, tmp_path) as first:
        (live,) = {p.name for p in out.iterdir()}
        second = subprocess.Popen([sys.executable, "-m", "microfuse_cli", *args], stdin=subprocess.DEVNULL,
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        # past its checks (its own temp file or build folder is there), it waits for the first's renames: one at a time
        deadline = time.monotonic() + 120
        while len(list(out.iterdir())) < 2 and second.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
    err = second.communicate(timeout=120)[1]  # the first is gone now, killed in its swap
    assert second.returncode == 0, err
    assert _named_leftovers(err, out) == set(), err
    assert live.startswith(f"{stem}{first.pid}@{host}.") and live.endswith(".tmp")
    sleeper, ended = subprocess.Popen(["sleep", "120"]), subprocess.Popen(["true"])
    ended.wait()
    planted = {f"{stem}{sleeper.pid}@{host}.live0001.tmp": False, f"{stem}{ended.pid}@{host}.dead0001.tmp": True,
               f"{stem}{sleeper.pid}@{other}.fresh001.tmp": False, f"{stem}{sleeper.pid}@{other}.stale001.tmp": True,
               f"{stem}0ld_form.tmp": True}
    try:
        for name in planted:
            if output == "file":
                (out / name).write_text("partial")
            else:
                (out / name).mkdir()
        week_ago = time.time() - OTHER_HOST_LEFTOVER_AGE_S - 3600
        os.utime(out / f"{stem}{sleeper.pid}@{other}.stale001.tmp", (week_ago, week_ago))
        code, _, err = run_cli(args)  # the first run is gone now
        assert code == 0, err
        assert _named_leftovers(err, out) == {live} | {name for name, dead in planted.items() if dead}, err
        assert set(planted) | {live} <= {p.name for p in out.iterdir()}
    finally:
        sleeper.kill()
        sleeper.wait()


def test_a_temp_name_cut_to_the_length_limit_is_still_known_by_its_writer():
    """A long output name is cut in its temp name to fit 255 bytes, the more as the writer's PID@HOST is longer: the
    cut name is still known as that output's, and its writer's; a temp name of another output is not."""
    from microfuse_cli.io.outputs import NAME_MAX, TempOwner, _temp_file_owner, _temp_prefix

    name, owner = "é" * 100 + "n" * 46 + ".tsv", TempOwner(4194304, "n" * 63)  # the longest PID and host names
    temp = _temp_prefix(name, owner) + "abc_1234.tmp"
    assert len(os.fsencode(temp)) == NAME_MAX
    assert _temp_file_owner(temp, name) == (True, owner)
    assert _temp_file_owner(f".{name[:20]}.{owner.tag}.abc_1234.tmp", name) == (False, None)
    assert _temp_file_owner(_temp_prefix(name, None) + "abc_1234.tmp", name) == (True, None)  # before writers


PROC_MAKES_NO_FILES = pytest.mark.skipif(not Path("/proc/self").is_dir(), reason="needs Linux's /proc, where no "
                                         "file can be made (a root user may write anywhere else)")


@PROC_MAKES_NO_FILES
@pytest.mark.parametrize("option, name", [("-o", "x.tsv"), ("--operons-gff", "x.gff"), ("--annotate", "x.gff"),
                                          ("--fused", "x.npy"), ("--report", "x.html")])
def test_an_output_that_cannot_be_made_is_named_not_its_temp_file(option, name, tmp_path):
    """`score --fused /proc/x.npy` said 'No such file or directory (/proc/.x.npy.PID@HOST.XXXXXXXX.tmp)': the temp
    file's name, never given by the user, and not which output it was. Each output says 'cannot write' with its own
    name, exit 1, one line."""
    if option == "--report":
        pytest.importorskip("matplotlib")
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, option, f"/proc/{name}", "-q",
                            *(["-o", tmp_path / "ops.tsv"] if option != "-o" else [])])
    assert code == 1 and err.splitlines() == [f"error: cannot write /proc/{name}: No such file or directory"], err
    assert list(tmp_path.iterdir()) == []


@PROC_MAKES_NO_FILES
def test_an_embedding_folder_that_cannot_be_made_is_named_not_its_work_folder():
    """`embed -o /proc/emb` said 'No such file or directory (/proc/emb.partial)': the shard folder beside -o, made
    first. It says 'cannot write /proc/emb', as reference build and retrieve build do."""
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", "/proc/emb", "-q"])
    assert code == 1 and err.splitlines() == ["error: cannot write /proc/emb: No such file or directory"], err


@PROC_MAKES_NO_FILES
def test_an_embedding_folder_that_cannot_be_made_is_named_as_given(tmp_path):
    """`embed -o link/emb` (link -> /proc) and `embed -o emb` run in /proc said 'cannot write /proc/emb': the resolved
    path, not the -o given, which `score -o link/x.tsv` and `reference build -o link/ref` name. Named as given."""
    (tmp_path / "link").symlink_to("/proc")
    code, _, err = run_cli(["embed", MG_GFF, "--fasta", MG_FNA, "-o", tmp_path / "link" / "emb", "-q"])
    assert code == 1 and err.splitlines() == [f"error: cannot write {tmp_path / 'link' / 'emb'}: "
                                              "No such file or directory"], err


def test_an_existing_folder_that_takes_no_new_files_is_named_not_the_temp_folder(tmp_path, monkeypatch):
    """An existing, empty folder output nothing may be made in (an empty folder of /sys, writable to root) said
    'Operation not permitted (FOLDER/.microfuse.PID@HOST.XXXXXXXX.tmp)'. It names the output."""
    import tempfile

    from microfuse_cli.errors import DataError
    from microfuse_cli.io.outputs import atomic_directory

    def refused(*args, dir=None, **kwargs):
        raise PermissionError(errno.EPERM, "Operation not permitted", os.path.join(dir, ".microfuse.1@h.abcdefgh.tmp"))

    monkeypatch.setattr(tempfile, "mkdtemp", refused)
    with pytest.raises(DataError) as caught:
        with atomic_directory(tmp_path):
            pass
    assert str(caught.value) == f"cannot write {tmp_path}: Operation not permitted"


def test_a_symlinked_marker_is_refused_whatever_errno_o_nofollow_gives(tmp_path, monkeypatch):
    """A marker that is a symlink was refused with the clean message only where O_NOFOLLOW fails with ELOOP (Linux,
    macOS); FreeBSD's EMLINK (NetBSD's EFTYPE) passed as a bare OSError. Whatever the errno, the same message."""
    import click

    import microfuse_cli.cli.embed as embed

    victim = tmp_path / "precious.txt"
    victim.write_text("a file of the user's\n")
    partial = tmp_path / "out.partial"
    partial.mkdir()
    (partial / embed.PARTIAL_MARKER).symlink_to(victim)
    real_open = os.open

    def as_on_freebsd(path, flags, *args, **kwargs):
        try:
            return real_open(path, flags, *args, **kwargs)
        except OSError as exc:
            if exc.errno == errno.ELOOP and flags & os.O_NOFOLLOW:
                raise OSError(errno.EMLINK, os.strerror(errno.EMLINK), str(path)) from None
            raise

    monkeypatch.setattr(os, "open", as_on_freebsd)
    monkeypatch.setattr(embed, "check_partial", lambda folder, shown=None: None)  # the link came after the check
    with pytest.raises(click.UsageError, match="was not made by `microfuse embed`"):
        with embed.claimed_partial(partial, resume=True):
            pass
    assert victim.read_text() == "a file of the user's\n"


def test_a_symlinked_shard_is_recomputed_not_read_through_the_link(tmp_path):
    """`embed --resume` read a shard that is a symlink through the link: a foreign .npy of the right shape was used
    as this run's vectors. Such a shard is recomputed, as a damaged one is, and replaced by a file of its own; the
    link's target is left as it was."""
    from microfuse_cli.embed import _sharded

    foreign = tmp_path / "foreign.npy"
    np.save(foreign, np.full((3, 4), 7.0, dtype=np.float32))
    before = state(foreign)
    shards = tmp_path / "shards"
    shards.mkdir()
    (shards / "protein.000000000.npy").symlink_to(foreign)
    computed = np.arange(12.0, dtype=np.float32).reshape(3, 4)
    out = _sharded(["MA", "MB", "MC"], lambda batch, progress: computed[:len(batch)], 4, "protein",
                   lambda n: None, shards)
    assert np.array_equal(out, computed)
    assert not (shards / "protein.000000000.npy").is_symlink()
    assert np.array_equal(np.load(shards / "protein.000000000.npy"), computed)
    assert state(foreign) == before


def test_a_folder_that_cannot_be_locked_is_said_once_on_verbose(tmp_path, monkeypatch):
    """flock failing with ENOLCK (some network file systems) let the run swap its outputs in unlocked, silently: two
    runs writing there at once could mix their outputs with nothing to explain it. It proceeds, and says so once at
    debug level (-v); a folder that cannot be opened (chmod 333, the user's choice) still says nothing."""
    import fcntl
    import logging

    from microfuse_cli.io.outputs import _swaps_one_at_a_time

    def no_locks(descriptor, operation):
        raise OSError(errno.ENOLCK, os.strerror(errno.ENOLCK))

    monkeypatch.setattr(fcntl, "flock", no_locks)
    records: list[logging.LogRecord] = []
    handler = logging.Handler(logging.DEBUG)
    handler.emit = records.append
    logger = logging.getLogger("microfuse")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        with _swaps_one_at_a_time(tmp_path):
            (tmp_path / "x.tsv").write_text("done\n")
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)
    assert (tmp_path / "x.tsv").read_text() == "done\n"
    said = [r.getMessage() for r in records if r.levelno >= logging.DEBUG]
    assert said == [f"{tmp_path}: cannot be locked ({os.strerror(errno.ENOLCK)}); writing into it without the lock"]


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="a parent's lock is told by Linux's /proc")
def test_a_lock_this_process_took_is_not_taken_for_a_parents(tmp_path):
    """An update that finds its marker locked goes on where the lock is a parent's (`flock FILE microfuse ...`) or
    was passed down to this process (`exec 9<FILE; flock 9; exec microfuse ...`: a descriptor kept across exec). A
    lock this process took itself, through a descriptor closed on exec (Python's default: another thread's update),
    is neither: that update is waited for, not run beside."""
    import fcntl

    from microfuse_cli.io.locks import held_by_this_run

    marker = tmp_path / "manifest.json"
    marker.write_text("{}\n")
    holder, mine = os.open(marker, os.O_RDONLY), os.open(marker, os.O_RDONLY)
    try:
        fcntl.flock(holder, fcntl.LOCK_EX)
        assert held_by_this_run(mine) is None
        os.set_inheritable(holder, True)  # as a shell passes it down
        assert held_by_this_run(mine) == (os.getpid(), "WRITE")
        fcntl.flock(holder, fcntl.LOCK_SH)
        assert held_by_this_run(mine) == (os.getpid(), "READ")
    finally:
        os.close(holder)
        os.close(mine)


@pytest.mark.skipif(not Path("/proc/locks").exists(), reason="a parent's lock is told by Linux's /proc")
def test_updates_under_one_parents_lock_take_turns_but_never_wait_for_that_lock(tmp_path, monkeypatch):
    """Updates that go on under a parent's flock (`flock FILE snakemake -j 2`) take turns with an open file
    description lock on the marker: one that another update holds is waited for. A lock of another kind in the way
    (NFS emulates the parent's flock with a POSIX lock on the server, which such a lock conflicts with; here a
    POSIX lock of another process stands in for it) is not another update's: waiting for it would never end."""
    import fcntl
    import struct
    import subprocess
    import sys

    from microfuse_cli.io.locks import took_a_turn

    marker = tmp_path / "manifest.json"
    marker.write_text("{}\n")
    other, mine = os.open(marker, os.O_RDWR), os.open(marker, os.O_RDWR)
    try:
        fcntl.fcntl(other, fcntl.F_OFD_SETLK, struct.pack("hhqqi", fcntl.F_WRLCK, 0, 0, 0, 0).ljust(32, b"\0"))
        assert not took_a_turn(mine)  # another update's turn
        # ... also where /proc/locks names the file by other device numbers than stat (btrfs subvolumes)
        monkeypatch.setattr("microfuse_cli.io.locks._listed_holders", lambda status, kind="FLOCK": {})
        assert not took_a_turn(mine)
        monkeypatch.undo()
        os.close(other)
        other = None
        assert took_a_turn(mine)
    finally:
        for descriptor in (other, mine):
            if descriptor is not None:
                os.close(descriptor)
    posix = subprocess.Popen([sys.executable, "-c", "import fcntl, sys\nwith open(sys.argv[1], 'r+') as f:\n"
                              "    fcntl.lockf(f, fcntl.LOCK_EX)\n    print('held', flush=True)\n    sys.stdin.readline()\n",
                              marker], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert posix.stdout.readline() == "held\n"
        mine = os.open(marker, os.O_RDWR)
        try:
            assert took_a_turn(mine)  # in the way, yet no update's: gone on
        finally:
            os.close(mine)
    finally:
        posix.communicate("\n", timeout=60)


def test_an_append_lock_holds_where_flock_is_a_posix_lock(tmp_path, monkeypatch):
    """`retrieve build --append` locks the index's manifest.json from reading to writing back. It opened it
    read-only, and on NFS (flock(2): Linux emulates flock there with a POSIX lock of the whole file, which "must be
    opened for writing" to lock it exclusively) the lock failed with EBADF: appends went on unlocked, said only on
    -v, and two at once lost one's genomes again, the cluster case the lock is for. The manifest is opened for
    writing where it may be (nothing is written), read-only otherwise (a manifest of mode 444: locked as before)."""
    import fcntl

    from microfuse_cli.io.outputs import updating

    real = fcntl.flock

    def nfs_flock(descriptor, operation):  # NFS's emulation: an exclusive lock needs a descriptor open for writing
        if operation & fcntl.LOCK_EX and fcntl.fcntl(descriptor, fcntl.F_GETFL) & os.O_ACCMODE == os.O_RDONLY:
            raise OSError(errno.EBADF, os.strerror(errno.EBADF))
        return real(descriptor, operation)

    (tmp_path / "manifest.json").write_text("{}\n")

    def locked_elsewhere() -> bool:
        with open(tmp_path / "manifest.json", "rb") as other:
            try:
                real(other.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
            real(other.fileno(), fcntl.LOCK_UN)
            return False

    monkeypatch.setattr(fcntl, "flock", nfs_flock)
    with updating(tmp_path, "manifest.json"):
        assert locked_elsewhere()
    assert not locked_elsewhere()
    assert (tmp_path / "manifest.json").read_text() == "{}\n"
    monkeypatch.setattr(fcntl, "flock", real)
    plain_open = os.open

    def no_writing(path, flags, *args):  # a manifest of mode 444 (root may write anything: refused here by hand)
        if flags & os.O_ACCMODE != os.O_RDONLY:
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return plain_open(path, flags, *args)

    monkeypatch.setattr(os, "open", no_writing)
    with updating(tmp_path, "manifest.json"):
        assert locked_elsewhere()
