"""What every subcommand shares: options, the stderr console, logging, progress bars and error reporting."""

from __future__ import annotations

import contextlib
import functools
import logging
import math
import re
import signal
import sys
import threading
import time
from dataclasses import dataclass
from typing import Callable, Iterator

import click

from ..interrupts import RunSignals, interrupt_behind, report_interrupt, swallowed
from ..interrupts import Terminated  # noqa: F401  (callers of handle_errors catch or raise it from here)
from ..errors import DataError, MicrofuseError, StdoutClosed
from ..progress import Advance, no_progress
from ..runtime import thread_limits

log = logging.getLogger("microfuse")
#: -t/--threads of every command (its help says why 1).
THREADS_DEFAULT = 1
#: Seconds between the progress lines `-v` logs off a terminal (a cluster job's log), where no bar is drawn.
PROGRESS_LOG_SECONDS = 30.0


@dataclass(frozen=True)
class Run:
    """Per-invocation settings handed to the library: no global state beyond the logger."""

    threads: int = THREADS_DEFAULT
    verbosity: int = 0  # -1 quiet, 0 normal, 1 verbose
    debug: bool = False

    @property
    def quiet(self) -> bool:
        return self.verbosity < 0

    def console(self):
        from rich.console import Console

        console = Console(stderr=True, quiet=self.quiet)
        if not console.is_terminal:  # logs and tables in files: do not wrap at 80 columns
            console = Console(stderr=True, quiet=self.quiet, width=200)
        return console

    def show_table(self, title: str, columns: tuple[str, ...], rows: list[tuple[str, ...]]) -> None:
        """A summary table on stderr: drawn with rich on a terminal; in a log file or a pipe, the title and then one
        tab-separated line per row (header first), which grep and cut read (rich's ~200-column box drawing was
        written there). A cell's line break becomes a space. Nothing when quiet."""
        if self.quiet:
            return
        console = self.console()
        if not console.is_terminal:
            lines = [title, *("\t".join(cell.replace("\n", " ") for cell in row) for row in [columns, *rows])]
            click.echo("\n".join(lines), err=True)
            return
        from rich.table import Table

        table = Table(title=title)
        for column in columns:
            table.add_column(column)
        for row in rows:
            table.add_row(*row)
        console.print(table)

    def bar(self, description: str, total: float | None, unit: str = "") -> tuple[Advance, Callable[[], None]]:
        """(advance, close) of a transient rich progress bar on stderr: the one place bars are drawn. Quiet, not
        on a terminal (a log file, a pipe) or on a dumb one (TERM=dumb, which cannot erase a bar): nothing is
        drawn. While it is drawn, log lines written to stderr are printed above it (rich's stderr redirection)."""
        console = self.console()
        if self.quiet or not console.is_terminal or console.is_dumb_terminal:
            return (_logged_progress(description, total, unit) if self.verbosity > 0 else no_progress), lambda: None
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

        columns = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TextColumn(unit), TimeElapsedColumn()]
        bar = Progress(*columns, console=console, transient=True, redirect_stdout=False)  # stdout is data
        bar.start()
        task = bar.add_task(description, total=total)

        def advance(n: int = 1) -> None:
            bar.advance(task, n)

        advance.set_total = lambda known: bar.update(task, total=known)  # progress.set_total: N, not ?, once known
        return advance, bar.stop

    @contextlib.contextmanager
    def progress(self, description: str, total: float | None, unit: str = "") -> Iterator[Advance]:
        """A progress bar for the duration of the block; yields ``advance(n)`` for the library's callbacks."""
        advance, close = self.bar(description, total, unit)
        try:
            yield advance
        finally:
            close()

    def stage(self, description: str, total: int | None) -> Advance:
        """A ``progress.Stage`` for the library: each stage logged, with a bar that closes at its total."""
        log.debug("%s: %s items", description, total)
        advance, close = self.bar(description, total)
        done = [0]

        def step(n: int = 1) -> None:
            advance(n)
            done[0] += n
            if total is not None and done[0] >= total:
                close()

        return step


def _logged_progress(description: str, total: float | None, unit: str = "") -> Advance:
    """An ``Advance`` that logs ``DESCRIPTION: N/TOTAL UNIT (S s)`` at most every ``PROGRESS_LOG_SECONDS``: with
    `-v` off a terminal (a cluster job's log), where no bar is drawn, a long stage still says it is moving."""
    started = time.monotonic()
    state = {"done": 0, "total": total, "logged": started}
    lock = threading.Lock()  # pyrodigal's worker threads advance it

    def advance(n: int = 1) -> None:
        with lock:
            state["done"] += n
            now = time.monotonic()
            if now - state["logged"] < PROGRESS_LOG_SECONDS:
                return
            state["logged"] = now
            of = "" if state["total"] is None else f"/{_count(state['total'])}"
            done = _count(state["done"])
        log.info("%s: %s%s%s (%.0f s)", description, done, of, f" {unit}" if unit else "", now - started)

    advance.set_total = lambda known: state.update(total=known)  # progress.set_total
    return advance


def _count(value: float) -> str:
    """A count as the bar shows it, in full (%g wrote 1234567 pairs as 1.23457e+06)."""
    return str(int(value)) if float(value).is_integer() else f"{value:g}"


class _StderrHandler(logging.StreamHandler):
    """A handler on the stderr of its set-up that goes through rich's redirection of that stream while a bar is
    drawn, so a log line is printed above the bar instead of being appended to it."""

    def __init__(self):
        super().__init__(sys.stderr)

    @property
    def stream(self):
        current = sys.stderr
        return current if getattr(current, "rich_proxied_file", None) is self._stream else self._stream

    @stream.setter
    def stream(self, value):
        self._stream = value


class _Formatter(logging.Formatter):
    def format(self, record):
        message = getattr(record, "cli_message", None) or record.getMessage()  # a setting named as its option
        if record.name == "py.warnings":  # "FILE:LINE: UserWarning: text\n  source": the text is for the user
            match = re.match(r"^.*?:\d+: \w+: (.*)", message)
            message = match.group(1) if match else message.strip().splitlines()[0]
        return f"{record.levelname.lower()}: {message}"


def setup_logging(run: Run) -> None:
    """Plain ``level: message`` lines on stderr (greppable in cluster logs); warnings.warn goes there too."""
    level = logging.WARNING if run.quiet else logging.DEBUG if run.verbosity > 0 or run.debug else logging.INFO
    handler = _StderrHandler()
    handler.setFormatter(_Formatter())
    for name in ("microfuse", "microfuse_cli", "py.warnings"):  # library modules log as microfuse_cli.*
        logger = logging.getLogger(name)
        logger.handlers[:] = [handler]
        logger.setLevel(level)
        logger.propagate = False
    # matplotlib and huggingface_hub log through Python's last-resort handler: a read-only HOME gave two bare
    # lines ("Matplotlib created a temporary cache directory ..."), a lost network bare retry lines, among the
    # `level:` lines of a cluster log
    for name in ("matplotlib", "huggingface_hub"):
        library = logging.getLogger(name)
        library.handlers[:] = [handler]
        library.setLevel(logging.WARNING)  # their debug output (font search, requests) is no one's business on -v
        library.propagate = False
    logging.captureWarnings(True)


class IntRange(click.IntRange):
    """click's IntRange, named as what the user types: `--k abc` said "'abc' is not a valid integer range", which
    reads as if a range (1-10) were wanted; the bounds are shown beside the help as before."""

    name = "integer"


class FiniteFloatRange(click.FloatRange):
    """A FloatRange that refuses nan and inf: click's range checks pass nan (every comparison with it is
    false), which then reached the library after the genome was read (--threshold nan drew a figure at nan)."""

    name = "float"

    def convert(self, value, param, ctx):
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number.", param, ctx)
        return number


def common_options(func):
    """-t/--threads, -q/--quiet, -v/--verbose and --debug, folded into a ``run: Run`` argument."""

    @click.option("-t", "--threads", type=IntRange(min=0), default=THREADS_DEFAULT, show_default=True,
                  help="Worker threads, numpy's BLAS, OpenMP, torch and FAISS included (0 = every core this job "
                       "may use: the smallest of its CPU affinity, SLURM_CPUS_PER_TASK and a container's CPU quota, "
                       "cgroup v2 cpu.max). 1 by default in every command, not every core as in MMseqs2: a job "
                       "takes no more than the one slot a scheduler gives it unless told, and `train` writes the "
                       "same model on any machine (its sums round differently with each thread count).")
    @click.option("-q", "--quiet", is_flag=True, help="Print only warnings and errors.")
    @click.option("-v", "--verbose", is_flag=True, help="Print more details.")
    @click.option("--debug", is_flag=True, help="Show a traceback on errors.")
    @functools.wraps(func)
    def wrapper(*args, threads, quiet, verbose, debug, **kwargs):
        if quiet and verbose:  # quiet won without a word; two options asking opposite things are refused, as
            from ..errors import UsageError  # --pairs with --labels, --operons with --label-rule

            raise UsageError("-q/--quiet and -v/--verbose ask for less and for more output; give one")
        run = Run(threads=threads, verbosity=-1 if quiet else 1 if verbose else 0, debug=debug)
        click.get_current_context().meta["microfuse_debug"] = debug
        setup_logging(run)
        if threads == 0:  # a log should say what 'every core this job may use' came to on the node it ran on
            from ..runtime import resolve_threads

            log.debug("-t 0: %d thread(s), every core this job may use", resolve_threads(0))
        _refuse_empty_path_options(click.get_current_context())
        _warn_seed_without_split(click.get_current_context())
        with thread_limits(threads):  # numpy's BLAS and OpenMP pools too: `-t 1` ran a BLAS thread per core
            return func(*args, run=run, **kwargs)

    return wrapper


def _warn_seed_without_split(ctx) -> None:
    """--seed of `pairs` and `score` seeds --split's deal alone: given without it, it was ignored without a word. A
    warning, not a refusal: scripts pass one seed to every command."""
    if "split" in ctx.params and ctx.params["split"] is None and \
            ctx.get_parameter_source("seed") not in (None, click.core.ParameterSource.DEFAULT):
        log.warning("--seed seeds --split alone; without --split it changes nothing")


def empty_path_message(option: str, what: str) -> str:
    """The refusal of an empty path option (`--fasta "$FNA"` with FNA unset), in check_outputs' words for outputs."""
    return f"{option} is an empty path (an unset shell variable?); give {what}"


def _refuse_empty_path_options(ctx) -> None:
    """Refuse an empty path given to an option, naming it: check_outputs knows only the paths, so `--fasta ""` said
    'an input is an empty path ...', naming no option, and `score -m ""` 'the model path is empty (None is the
    packaged model)', Python's spelling. ExistingPath says its own."""
    import os

    from ..errors import UsageError

    for param in ctx.command.params:
        if not isinstance(param, click.Option) or not isinstance(param.type, click.Path) or \
                isinstance(param.type, ExistingPath):
            continue
        value = ctx.params.get(param.name)
        if any(v is not None and not os.fspath(v) for v in (value if isinstance(value, tuple) else (value,))):
            raise UsageError(empty_path_message(param.opts[0],  # as check_outputs names it: -o, not --output
                                                "a folder name" if not param.type.file_okay else "a file name"))


class ExistingPath(click.Path):
    """click.Path(exists=True) that refuses a missing or unreadable input as bad data (exit 1), in the words the
    library uses for the files it opens ('no such file: PATH', 'no such index folder: PATH'): click's own check
    said "Invalid value for '--index': Directory 'x' does not exist." and exited 2, where a missing input file
    exits 1. A path of the wrong kind (a folder for a file) is still bad usage (exit 2), as for every path option."""

    def __init__(self, noun: str = "file", **kwargs):
        super().__init__(exists=False, **kwargs)
        self.noun = noun

    def convert(self, value, param, ctx):
        import os

        from ..errors import UsageError
        from ..io.files import require_readable

        if not os.fspath(value):  # `--index "$INDEX"` with INDEX unset said 'no such index folder: ', naming nothing
            option = max(param.opts, key=len) if param is not None and param.opts else "a path"
            raise UsageError(empty_path_message(option, f"the {self.noun}'s path"))
        if not (self.allow_dash and value == "-"):
            require_readable(value, self.noun)
        return super().convert(value, param, ctx)


#: The type of a -m model folder: its readability is the library's to say (score.check_model_path: 'model folder M
#: cannot be read by this user (...)', exit 1, as for a file of it or the packaged default), not click's ("Invalid
#: value for '-m' / '--model': Directory 'M' is not readable.", exit 2, for the folder itself alone).
MODEL_FOLDER = click.Path(file_okay=False, readable=False)


def input_argument(name: str = "input"):
    return click.argument(name, type=click.Path(dir_okay=False, allow_dash=True), metavar=name.upper())


def output_option(help_text: str = "Output file ('-' = stdout)."):
    return click.option("-o", "--output", type=click.Path(dir_okay=False, allow_dash=True), default="-",
                        show_default=True, help=help_text)


@contextlib.contextmanager
def stdin_as_file(path, name: str | None = None):
    """stdin can be read once; several readers need it, so it is spooled to a private temp file.

    Messages name it ``stdin``, not the temp path; log lines name it ``name`` when the user gave the genome one
    (`score --genome-name`), where they said 'stdin' whatever it was.
    """
    if path != "-" and not _one_pass(path):
        yield path
        return
    import tempfile
    from pathlib import Path

    from ..io.files import spool, stdin_stream
    from ..records import StreamCopy, descriptor_stream, genome_name

    shown = "stdin" if path == "-" else str(path)
    descriptor = path != "-" and descriptor_stream(str(path))  # before it is read: `<(zcat g.gff.gz)`, /dev/fd/63
    with tempfile.TemporaryDirectory(prefix="microfuse-") as tmp:
        spooled = Path(tmp) / genome_name(path)  # named after its file, by the one rule (a descriptor's: StreamCopy)
        with contextlib.ExitStack() as files:
            source = stdin_stream() if path == "-" else files.enter_context(open(path, "rb"))
            try:
                spool(source, files.enter_context(open(spooled, "wb")), shown)
            except OSError as exc:  # a full /tmp said only 'No space left on device'
                raise DataError(f"cannot keep {shown} in a temp file in {tempfile.gettempdir()} (TMPDIR; give it a "
                                f"folder with space): {exc.strerror or exc}") from None
        try:
            with _logged_as(str(spooled), name or shown, genome_file="stdin" if path == "-" else None):
                yield StreamCopy(spooled) if descriptor else str(spooled)  # named as the stream: read_genome
        except MicrofuseError as exc:
            renamed = type(exc)(str(exc).replace(str(spooled), shown))
            if exc.cli_message is not None:
                renamed.cli_message = exc.cli_message.replace(str(spooled), shown)
            raise renamed from None


@contextlib.contextmanager
def stdin_as_files(paths):
    """``stdin_as_file`` of each of ``paths`` (None stays None), as one list: the several inputs of a command that
    reads them more than once or names them in messages (train's tables, evaluate's, a pair selection's lists)."""
    with contextlib.ExitStack() as files:
        yield [files.enter_context(stdin_as_file(path)) for path in paths]


def _one_pass(path) -> bool:
    """A pipe or FIFO input (a shell's `<(zcat genome.gff.gz)`, /dev/stdin) can be read once, as stdin can: read
    twice (its format sniffed, then parsed; --bins for gene calling, then calibration) the second read found nothing:
    'error: /dev/fd/63: empty file'."""
    import os
    import stat

    if path is None:
        return False
    try:
        return stat.S_ISFIFO(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


class _Renamed(logging.Filter):
    """Writes ``path`` as ``name`` in log lines, and the genome read from it, named after its file (``stdin``, the
    spooled file's name), as ``name`` too."""

    def __init__(self, path: str, name: str, genome_file: str | None = "stdin"):
        super().__init__()
        self.path, self.name = path, name
        self.genome = re.compile(rf"\b{re.escape(genome_file)}\b") if genome_file and name != genome_file else None

    def _renamed(self, text: str) -> str:
        text = text.replace(self.path, self.name)
        return self.genome.sub(self.name, text) if self.genome is not None else text

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        renamed = self._renamed(message)
        if renamed != message:
            record.msg, record.args = renamed, ()
        cli = getattr(record, "cli_message", None)  # errors.log_naming's spelling for the command line, too
        if cli is not None:
            record.cli_message = self._renamed(cli)
        return True


@contextlib.contextmanager
def _logged_as(path: str, name: str, genome_file: str | None = "stdin"):
    """Warnings about a spooled stdin name it ``stdin`` (a spooled pipe, its path), as its errors do: the temp path
    is gone when read. ``genome_file``: the spooled file's name, which the genome read from it is named after."""
    renamed = _Renamed(path, name, genome_file)
    loggers = ("microfuse", "microfuse_cli", "py.warnings")  # those of setup_logging
    handlers = {handler for logger in loggers for handler in logging.getLogger(logger).handlers}
    for handler in handlers:
        handler.addFilter(renamed)
    try:
        yield
    finally:
        for handler in handlers:
            handler.removeFilter(renamed)


def report_error(message: str) -> None:
    """The one error line on stderr; a stderr that cannot be written (left read-only by a wrapper) loses only the
    line, the exit status still says it (was: a second error while reporting the first, exit 1)."""
    with contextlib.suppress(OSError, ValueError):
        click.echo(f"error: {message}", err=True)


class InterruptedRun(Exception):
    """A KeyboardInterrupt (or ``Terminated``) that ended a command, carried past click's own handling."""

    def __init__(self, cause: KeyboardInterrupt):
        super().__init__()
        self.cause = cause


def count(n: int, noun: str) -> str:
    """'1 scaffold', '2 scaffolds'."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


def handle_errors(invoke: Callable[[], object], debug: bool) -> int:
    """Run the command; map failures to a one-line ``error:`` and an exit code (0 ok, 1 data, 2 usage).

    SIGTERM (a scheduler's kill) and SIGHUP (a closed terminal or ssh session) are handled like Ctrl-C while it
    runs: outputs are left as they were. SIGHUP killed the run at once, leaving its temp files and, in a folder
    swap, old files beside new ones; an ignored SIGHUP (`nohup`) stays ignored. The handlers, the record of the
    signals raised and the interrupts lost in callbacks are ``interrupts.RunSignals``'s, the ``error:`` line
    ``interrupts.report_interrupt``'s, as in the console script.
    """
    with RunSignals() as signals:  # the handlers, the record of signals and lost interrupts: interrupts.py
        status = _handle_errors(lambda: signals.run(invoke), debug)
    missed = signals.missed()
    if status == 0 and missed is not None:  # lost in a callback, or swallowed by a library, and the run went on
        return report_interrupt(missed)
    return status


def _silence_stdout() -> None:
    """The reader is gone: later flushes (at exit too) go to /dev/null instead of raising again."""
    import os

    with contextlib.suppress(Exception):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _click_saw_a_broken_pipe() -> bool:
    """click handles EPIPE itself, even with standalone_mode=False: it wraps stdout to silence later flushes and
    exits 1. Its wrapper on sys.stdout is the only trace it leaves (PacifyFlushWrapper before click 8.5)."""
    return type(sys.stdout).__name__ in ("_PacifyFlushWrapper", "PacifyFlushWrapper")


#: A FASTA file name, as users pass the sequence beside an annotation (`score genome.gff genome.fna`).
_FASTA_ARGUMENT = re.compile(r"unexpected extra arguments? \((\S+\.(?:fna|fa|fasta|fas|ffn|fsa)(?:\.gz)?)\b")


def _sequence_hint(message: str) -> str:
    """'; give it with --fasta FILE' when the extra argument click refused is a FASTA file, and how MetaBAT-style
    bins (one FASTA per bin, all given at once) are read instead."""
    found = _FASTA_ARGUMENT.search(message)
    return (f"; give the sequence with --fasta {found.group(1)}, or, for one FASTA per bin, concatenate the bins and "
            "give `score --bins` a contig<TAB>bin table" if found else "")


def _handle_errors(invoke: Callable[[], object], debug: bool) -> int:
    handled = sys.exc_info()[1]  # an exception the caller is handling: the context of every error of the run
    try:
        result = invoke()
        return int(result or 0) if isinstance(result, int) else 0
    except click.exceptions.Exit as exc:
        return exc.exit_code
    except SystemExit:
        if _click_saw_a_broken_pipe():  # click's own echo (--help, --version) hit a closed pipe: as below
            return 128 + signal.SIGPIPE
        raise
    except click.exceptions.NoArgsIsHelpError as exc:  # `microfuse` alone: the help, not "error: Usage: ..."
        click.echo(exc.ctx.get_help(), err=True)
        return 2
    except InterruptedRun as exc:
        return report_interrupt(exc.cause)
    except click.exceptions.Abort as exc:  # click turns KeyboardInterrupt into Abort (before a command runs)
        if isinstance(exc.__cause__, KeyboardInterrupt):
            return report_interrupt(exc.__cause__)
        report_error("aborted")
        return 130
    except click.UsageError as exc:
        hint = f"\nTry '{exc.ctx.command_path} --help' for help." if exc.ctx is not None else ""
        report_error(f"{exc.format_message()}{_sequence_hint(exc.format_message())}{hint}")
        return 2
    except click.ClickException as exc:
        report_error(exc.format_message())
        return exc.exit_code
    except MicrofuseError as exc:
        if debug:  # the traceback ends in the Python spelling (genetic_code=4): the note gives the user's (-g 4)
            if exc.cli_message is not None and exc.for_cli() != str(exc) and \
                    f"error: {exc.for_cli()}" not in getattr(exc, "__notes__", ()):
                exc.add_note(f"error: {exc.for_cli()}")
            raise
        message = exc.for_cli().strip()
        report_error(message.splitlines()[0] if message else type(exc).__name__)
        return exc.exit_code
    except KeyboardInterrupt as exc:  # Terminated included
        return report_interrupt(exc)
    except (BrokenPipeError, StdoutClosed):  # `| head`: end quietly, with the status of a tool killed by SIGPIPE
        _silence_stdout()
        return 128 + signal.SIGPIPE
    except MemoryError:
        report_error("out of memory")
        return 1
    except OSError as exc:
        if debug:
            raise
        where = f" ({exc.filename})" if getattr(exc, "filename", None) else ""
        report_error(f"{exc.strerror or exc}{where}")
        return 1
    except Exception as exc:  # the last line of defence: never a traceback unless --debug
        if interrupt_behind(exc, handled) is not None:  # Python's 'Error calling __set_name__', raised from it
            return report_interrupt(interrupt_behind(exc, handled))
        if swallowed() is not None:  # a library turned the signal's interrupt into its own error (FAISS's
            return report_interrupt(swallowed())  # interrupt callback raises RuntimeError): the run was terminated
        if debug:
            raise
        report_error(f"internal error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''} "
                     "(rerun with --debug and report it)")
        return 1


# ------------------------------------------------------------------------------------------------ shared options and steps


def genome_options(func):
    """Options of every command that reads a genome: --fasta, and gene-calling mode, genetic code and topology
    folded into a ``read_as: genome.GenomeOptions`` argument."""

    @functools.wraps(func)
    def wrapper(*args, mode, genetic_code, circular, **kwargs):
        from ..genome import GenomeOptions

        return func(*args, read_as=GenomeOptions(mode, genetic_code, circular), **kwargs)

    wrapper = click.option("--circular/--linear", "circular", default=None,
                           help="Force the topology of every sequence (default: from the annotation).")(wrapper)
    wrapper = click.option("-g", "--genetic-code", type=IntRange(1, 33), default=None,
                           help="Genetic code: of CDS without transl_table in an annotation (default 11); of gene "
                                "calling on a bare assembly (default: 11, or 4 when detected, as in "
                                "Mycoplasma).")(wrapper)
    wrapper = click.option("--mode", type=click.Choice(["auto", "single", "meta"]), default="auto",
                           show_default=True,
                           help="pyrodigal mode for a bare assembly: auto picks meta for short/fragmented "
                                "input (under 100 kbp, or N50 under 20 kbp) and says so.")(wrapper)
    wrapper = click.option("--fasta", type=click.Path(dir_okay=False, allow_dash=True), default=None,
                           help="Nucleotide FASTA for a GFF3 that has no ##FASTA section (beside one, it must hold "
                                "the same sequences; '-' = stdin).")(wrapper)
    return wrapper


def bins_option(func):
    """--bins: fit the per-genome spacer calibration per bin of a metagenome."""
    return click.option("--bins", type=click.Path(dir_okay=False, allow_dash=True), default=None,
                        help="scaffold<TAB>bin table (e.g. DAS Tool contig2bin; '-' = stdin): fit the spacer "
                             "calibration per bin, and call the genes of a bare assembly per bin (--mode auto: each "
                             "bin its own mode and genetic code); unlisted scaffolds are pooled (default: the whole "
                             "input is one genome or sample).")(func)


#: Without --bins, an input this large (more than the largest bacterial genomes, ~16 Mbp) or in this many
#: scaffolds may be several genomes: ``load_bins`` says that --bins calibrates each bin on its own.
MANY_GENOMES_BP, MANY_SCAFFOLDS = 16_000_000, 100


def load_bins(path, genome):
    """The scaffold -> bin map of --bins (None without it); warns about scaffolds the genome lacks, and refuses a
    table naming none of its scaffolds. Without it, an input that may be several genomes is told about --bins."""
    if path is None:
        _say_one_genome(genome)
        return None
    from ..calibration import UNBINNED, read_groups

    groups = read_groups(path)
    binned = len(groups) - len(check_bins(path, groups, genome))
    log.info("spacer calibration per bin: %d bins over %d scaffolds; %d scaffold(s) in no bin are pooled as %s",
             len(set(groups.values())), binned, len(genome.scaffolds) - binned, UNBINNED)
    return groups


def check_bins(path, groups, genome) -> list[str]:
    """The scaffolds of the --bins table ``groups`` that ``genome`` lacks, said in one warning (with a near match
    differing only in case); a table naming none of its scaffolds is refused (calibration.unknown_group_scaffolds)."""
    from ..calibration import unknown_group_scaffolds
    from ..records import case_hint

    unknown = unknown_group_scaffolds(groups, genome, path)
    if unknown:
        log.warning("%d scaffold(s) of %s are not in %s (e.g. %s)%s", len(unknown), path, genome.name, unknown[0],
                    case_hint(unknown, genome.scaffolds))
    return unknown


def _say_one_genome(genome) -> None:
    """An info line when an input without --bins is large or in many scaffolds: it is calibrated, and a bare
    assembly's genes called (in single mode with one model), as one genome, which a metagenome is not."""
    total = sum(s.length for s in genome.scaffolds.values())
    if total > MANY_GENOMES_BP or len(genome.scaffolds) >= MANY_SCAFFOLDS:
        log.info("%s in %d bp are calibrated as one genome (one spacer fit%s); if they are several genomes (a "
                 "metagenome), give --bins contig<TAB>bin (MetaBAT/DAS Tool contig2bin): each bin then gets its own "
                 "calibration%s", count(len(genome.scaffolds), "scaffold"), total,
                 ", one pyrodigal run" if genome.gene_source == "pyrodigal" else "",
                 " and gene calling" if genome.gene_source == "pyrodigal" else "")


def load_genome(run, input, fasta, read_as, on_gene_calling=None, text=None):
    """Read a genome (``read_as``: a ``genome.GenomeOptions``), with a progress bar while pyrodigal calls genes."""
    from ..genome import read_genome

    with run.progress("calling genes", None, "contigs") as advance:
        genome = read_genome(input, fasta, read_as, threads=run.threads, progress=advance,
                             on_gene_calling=on_gene_calling, text=text)
    log.info("%s: %s, %d protein-coding genes (%s%s)", genome.name, count(len(genome.scaffolds), "scaffold"),
             len(genome.genes), genome.gene_source, cds_left_out(genome))
    return genome


def cds_left_out(genome) -> str:
    """'; 110 CDS left out: 104 of pseudogenes, 6 spanning a whole sequence' (the annotation's CDS that are no
    gene, by reason, for the line that counts the genes read), or ''."""
    if not genome.left_out:
        return ""
    reasons = ", ".join(f"{n} {why}" for why, n in genome.left_out)
    return f"; {sum(n for _, n in genome.left_out)} CDS left out: {reasons}"


def _check_fractions(ctx, param, value):
    """Validate --split before any work starts."""
    from ..errors import UsageError
    from ..pairs import parse_fractions

    if value is None:
        return None
    try:
        parse_fractions(value)
    except UsageError as exc:
        raise click.BadParameter(str(exc).replace("--split takes", "takes")) from None
    return value


@dataclass(frozen=True)
class PairSelection:
    """--pairs, --labels, --operons, --label-rule, --split and --seed: which pairs a command works on."""

    pair_list: str | None = None
    operons: str | None = None
    labels: str | None = None
    label_rule: str | None = None
    split: str | None = None
    seed: int = 0

    @property
    def inputs(self) -> list[str | None]:
        return [self.pair_list, self.operons, self.labels]

    @property
    def given(self) -> list[str]:
        """The options given, as the user typed them (--seed only beside --split, which it seeds)."""
        named = {"--pairs": self.pair_list, "--operons": self.operons, "--labels": self.labels,
                 "--label-rule": self.label_rule, "--split": self.split}
        return [option for option, value in named.items() if value is not None]

    def select(self, genome):
        """pairs.select_pairs with these options; a list on stdin (or a pipe) is named 'stdin' in messages, as an
        INPUT on stdin is: `--labels -` said '-: empty pair list' and 'gene id(s) in - match no gene'."""
        from ..pairs import select_pairs

        with stdin_as_files(self.inputs) as (pair_list, operons, labels):
            return select_pairs(genome, pair_list=pair_list, operons=operons, labels=labels,
                                label_rule=self.label_rule, split=self.split, seed=self.seed)


def pair_selection_options(func):
    """The pair selection options, folded into a ``selection: PairSelection`` argument."""

    @functools.wraps(func)
    def wrapper(*args, pair_list, operons, labels, label_rule, split, seed, **kwargs):
        return func(*args, selection=PairSelection(pair_list, operons, labels, label_rule, split, seed), **kwargs)

    wrapper = click.option("--seed", type=IntRange(min=0), default=0, show_default=True,
                           help="Seed for --split.")(wrapper)
    wrapper = click.option("--split", metavar="TRAIN,VAL,TEST", default=None, callback=_check_fractions,
                           help="Add a split column with these fractions (whole scaffolds, or blocks of 50 "
                                "consecutive pairs on a long scaffold, go to one split).")(wrapper)
    wrapper = click.option("--label-rule", type=click.Choice(["og"]), default=None,
                           help="og: OG-Operon100K-style labels from spacer and strand alone: positive = same strand "
                                "and -20..40 bp apart, negative = opposite strands or >= 600 bp apart, else "
                                "unlabelled.")(wrapper)
    wrapper = click.option("--labels", type=click.Path(dir_okay=False, allow_dash=True), default=None,
                           help="Only these pairs, with their labels: a third column (CSV/TSV: name_1,name_2,label), "
                                "or a labelled pairs TSV of `microfuse pairs` (`score` then joins operons from these "
                                "pairs alone; --operons labels every pair instead); '-' = stdin.")(wrapper)
    wrapper = click.option("--operons", type=click.Path(dir_okay=False, allow_dash=True), default=None,
                           help="Known operons (ODB table, RegulonDB OperonSet/TUSet, operon_id<TAB>gene,gene, or "
                                "microfuse's own --operons-tsv/--operons-gff output; '-' = stdin): "
                                "label 1 inside one unit, 0 at a known boundary.")(wrapper)
    wrapper = click.option("--pairs", "pair_list", type=click.Path(dir_okay=False, allow_dash=True), default=None,
                           help="Only these pairs: a two-column CSV/TSV of gene ids (locus_tag, old_locus_tag, Name "
                                "or ID), a pairs TSV of `microfuse pairs`, or a list of pair ids A|B (the first "
                                "column of its TSVs); '-' = stdin.")(wrapper)
    return wrapper


def subset_table_message(table, shown, command: str) -> str | None:
    """What `score`, `embed` and `train --per-genome-rule` say of a pairs TSV of `pairs --labels`/`--pairs` (its
    ``#subset`` line; None for any other table): it holds only its pairs' genes, so the spacer calibration fits its
    pairs alone and the genome-wide context features (z-scores, codon usage) see its genes alone (M. pneumoniae's
    labelled pairs: 18 of 43 pair-context columns differ from `embed GENOME`'s), silently. Its pairs are not said to
    be of the genome's adjacent pairs: --labels lists pairs across opposite-strand genes too (M. pneumoniae: 56 of
    372), which `embed GENOME` holds no features of, so for those no command gives the genome's context."""
    if table.subset_of is None:
        return None
    head = (f"{shown} holds {len(table.pairs)} chosen pairs (`pairs --labels`/`--pairs`; its genome has "
            f"{table.subset_of} adjacent pairs) and only their genes: ")
    if command == "score":
        return head + ("its spacer calibration (and, embedded from the table, its context features) are the "
                       "subset's, so its scores differ from the whole genome's; to score these pairs as the "
                       "genome's, give --labels/--pairs to `score GENOME` (or make the table of the whole genome)")
    from ..pairs import not_adjacent

    apart = len(not_adjacent(table.pairs))
    if command == "embed":
        said = ("its context features are the subset's, not the genome's, so a model trained on them sees other "
                "features than `score GENOME` gives it; ")
    else:  # train --per-genome-rule
        said = ("the per-genome rule's spacer calibration fits its pairs alone, not the genome's adjacent pairs "
                "that `score GENOME` calibrates on; for the rule, train on the whole genome's table (`pairs GENOME "
                "--operons`); ")
    route = ("for the genome's context, embed the genome (`microfuse embed GENOME -o DIR`) and give DIR to `train` "
             "of this table")
    if apart:
        route += (f", which fails on its {apart} pair(s) of non-adjacent genes (`embed GENOME` holds its adjacent "
                  "pairs only; no command embeds those with the genome's context): leave them out of the list")
    return head + said + route


def warn_subset_table(table, shown, command: str) -> None:
    """Warn once, in ``subset_table_message``'s words, where ``table`` is a subset's."""
    message = subset_table_message(table, shown, command)
    if message is not None:
        log.warning("%s", message)


def warn_code_beside_table(table, read_as, shown) -> None:
    """Say a -g that a pairs TSV's own '#genes' line overrules: its genes were read in the code that line names (the
    table route reads only cut genes with -g, and only where the table names no code), so `-g 11` beside a table of
    M. pneumoniae (code 4) changed nothing, without a word."""
    from ..pairs import genes_line_code

    told = genes_line_code(table.genes_comment)
    if read_as.genetic_code is not None and told is not None and told != str(read_as.genetic_code):
        log.warning("-g %d is not used for %s: its genes were read in genetic code %s (its '#genes' line); give -g "
                    "to the `microfuse pairs` that writes the table", read_as.genetic_code, shown, told)


def warn_unmeasured(table, genome, fasta, shown, command: str) -> None:
    """Say the short contigs of a draft's table without '#scaffold' lines (`pairs` of a GFF3 without its FASTA that
    states no length) that the spacer calibration of `score` and `embed` of it leaves out by their genes' extent
    alone (calibration.unmeasured_fragments), which the genome's route, reading their lengths, may keep; nothing
    where a --fasta (``fasta``) told their lengths."""
    from ..calibration import MIN_FRAGMENT_LENGTH, unmeasured_fragments

    unmeasured = unmeasured_fragments(table, genome) if fasta is None else []
    if unmeasured:
        log.warning("%d scaffold(s) of %s (e.g. %s) have no length in the pairs ('#scaffold' lines) and end "
                    "under %s bp by their genes: left out of the spacer calibration as short contigs, which "
                    "`%s` of the genome may keep; give --fasta (the assembly) to calibrate as it does",
                    len(unmeasured), shown, unmeasured[0], f"{MIN_FRAGMENT_LENGTH:,}", command)


def refuse_topology_beside_table(read_as, shown=None) -> None:
    """--circular/--linear beside a pairs TSV input (`embed`, `score`): they were ignored, and a table's pair across
    the origin was embedded and scored under --linear; the table's topology is the `pairs` run's that wrote it."""
    from ..errors import UsageError

    if read_as.circular is not None:
        topology = "--circular" if read_as.circular else "--linear"
        raise UsageError(f"{topology} sets the topology of a genome INPUT; a pairs TSV's is its own (its "
                         f"'#scaffold' lines, else a pair across the origin): give {topology} to the `microfuse "
                         "pairs` that writes it"
                         + (f" ({shown})" if shown else ""))


def warn_device_unused(device: str, config) -> None:
    """One warning when --device names a GPU that no view will use: builtin views run in numpy on the CPU and never
    resolve the device (``config`` an embed.ViewConfig without foundation models), nor do views read from
    --embeddings (``config`` None); `score --device cuda` with the packaged model ran on the CPU without a word."""
    if device in ("auto", "cpu"):
        return
    if config is None:
        log.warning("--device %s: the views are read from --embeddings and the fusion head runs in numpy on the CPU; "
                    "--device applies where foundation-model views are computed", device)
    elif not config.foundation_models():
        log.warning("--device %s: the views are builtin, computed in numpy on the CPU; --device applies to "
                    "foundation-model views (--protein-view prostt5, --context-view bacformer)", device)
