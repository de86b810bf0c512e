"""The ``microfuse`` command line: a thin layer over the library, one module per subcommand."""

from __future__ import annotations

import sys

import click

from .. import __version__
from ._common import InterruptedRun, handle_errors


class _Group(click.Group):
    """The top-level group: an interrupt (Ctrl-C, SIGTERM) leaves the command as ``InterruptedRun``, so click's
    main does not print the blank line it adds after an echoed ^C (a stray line in a log); handle_errors adds it
    on a terminal only."""

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt as exc:
            raise InterruptedRun(exc) from exc

    def make_context(self, *args, **kwargs):
        """As ``invoke``: an interrupt while the top-level arguments are parsed (just after start-up) gave click's
        blank line before 'error: interrupted'."""
        try:
            return super().make_context(*args, **kwargs)
        except KeyboardInterrupt as exc:
            raise InterruptedRun(exc) from exc

EPILOG = """\b
Examples:
  microfuse pairs genome.gff --fasta genome.fna -o pairs.tsv
  microfuse score genome.gbk -o scores.tsv --operons-gff operons.gff3
  microfuse pairs assembly.fna.gz --proteins genes.faa | head
"""


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}, epilog=EPILOG)
@click.version_option(__version__, "-V", "--version", prog_name="microfuse", message="%(prog)s %(version)s")
def cli():
    """Predict operons in bacterial and metagenomic assemblies.

    Each subcommand reads and writes standard formats (GFF3, GenBank, EMBL, FASTA, TSV; '-' for stdin/stdout),
    so they compose in shell pipelines and workflows.
    """


def _register() -> None:
    from . import pairs as _pairs  # noqa: F401

    for name in ("embed", "train", "evaluate", "score", "retrieve", "reference", "plot"):
        try:
            __import__(f"{__name__}.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"{__name__}.{name}":
                raise


_register()


def main(argv: list[str] | None = None) -> int:
    """Run microfuse with ``argv`` (default: sys.argv[1:]) and return the exit code."""
    args = sys.argv[1:] if argv is None else list(argv)
    debug = "--debug" in args
    return handle_errors(lambda: cli.main(args=args, prog_name="microfuse", standalone_mode=False), debug)
