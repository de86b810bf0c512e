"""Generate the ``microfuse(1)`` manual page from the click definitions, so it never drifts from ``--help``.

    python -m microfuse_cli.manpage > man/microfuse.1
"""

from __future__ import annotations

import inspect
import sys

import click

from . import __version__


def _roff(text: str) -> str:
    lines = []
    for line in text.replace("\\", "\\\\").replace("\b\n", "").splitlines():
        line = line.rstrip()
        if line.startswith((".", "'")):
            line = "\\&" + line
        lines.append(line.replace("-", "\\-"))
    return "\n".join(lines)


def _help_record(param: click.Parameter, ctx: click.Context) -> tuple[str, str] | None:
    """An argument's row is its metavar as --help's usage line shows it (INPUT..., [NAME]) and its help (empty when
    it has none), whatever click's version: before 8.5.1 Argument.get_help_record gave None without help, so the
    page (and its staleness test) depended on click."""
    if isinstance(param, click.Argument):
        return param.make_metavar(ctx), getattr(param, "help", None) or ""
    return param.get_help_record(ctx)


def _options(command: click.Command, ctx: click.Context) -> list[str]:
    out = []
    for param in command.get_params(ctx):
        record = _help_record(param, ctx)
        if record is None:
            continue
        names, help_text = record
        out += [".TP", f"\\fB{_roff(names)}\\fR", _roff(help_text or "")]
    return out


def _paragraphs(text: str) -> list[str]:
    """Docstring paragraphs as filled roff text (no source indentation); a click ``\\b`` block stays as written."""
    out = []
    for block in inspect.cleandoc(text or "").split("\n\n"):
        if not block.strip():
            continue
        if block.startswith("\b"):
            out += [".PP", ".nf", _roff(block[1:].lstrip("\n")), ".fi"]
        else:
            out += [".PP", _roff(" ".join(line.strip() for line in block.splitlines()))]
    return out


def _command(command: click.Command, path: list[str], parent: click.Context) -> list[str]:
    """One section per command, then one per subcommand of a group (retrieve build/search/evaluate, ...)."""
    ctx = click.Context(command, info_name=path[-1], parent=parent, **command.context_settings)
    out = [f".SS microfuse {' '.join(path)}", *_paragraphs(command.help or "")]
    out += _options(command, ctx)
    if command.epilog:
        out += [".PP", ".nf", _roff(command.epilog), ".fi"]
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            out += _command(command.commands[name], [*path, name], ctx)
    return out


def render(group: click.Group | None = None) -> str:
    """The whole manual page: synopsis, then one section per (sub)command with its help, options and examples."""
    from .cli import cli

    group = group or cli
    ctx = click.Context(group, info_name="microfuse", **group.context_settings)
    out = [
        f'.TH MICROFUSE 1 "" "microfuse {__version__}" "User Commands"',
        ".SH NAME",
        "microfuse \\- predict operons by fusing protein and genome\\-context views of gene pairs",
        ".SH SYNOPSIS",
        "\\fBmicrofuse\\fR \\fICOMMAND\\fR [\\fIOPTIONS\\fR] \\fIINPUT\\fR...",
        ".SH DESCRIPTION",
        *_paragraphs(group.help or ""),
        ".SH COMMANDS",
    ]
    for name in sorted(group.commands):
        out += _command(group.commands[name], [name], ctx)
    out += [
        ".SH OUTPUT FILES",
        *_paragraphs(OUTPUT_RULES),
        ".SH EXIT STATUS",
        "0 on success, 1 on bad or inconsistent data, 2 on bad usage (outputs are checked before any work), "
        "130 when interrupted, 143 when terminated, 129 when its terminal hung up (SIGHUP; not under nohup), 141 "
        "when the reader of stdout went away (as for a tool killed by SIGPIPE).",
        ".SH SHELL COMPLETION",
        ".nf",
        'eval "$(_MICROFUSE_COMPLETE=bash_source microfuse)"   # bash; zsh_source / fish_source for zsh / fish',
        ".fi",
        ".SH SEE ALSO",
        "prodigal(1), gt(1)",
    ]
    return "\n".join(out) + "\n"


OUTPUT_RULES = """
Every output is checked before any work starts; a refused one exits 2 and writes nothing.
A file output replaces a regular file atomically (a temp file renamed into place), so an interrupted run leaves
the previous file as it was. A run killed outright (SIGKILL, the OOM killer) can leave its hidden temp file or
new folder's build folder beside the output (.NAME.PID@HOST.XXXXXXXX.tmp), or the build folder of a folder output
it was writing again inside that folder (.microfuse.PID@HOST.XXXXXXXX.tmp), never a half-written output; the next
run writing that output names them and never removes them. A symlink is written through, like the shell's >. A
device or FIFO (-o /dev/null) is written into, never replaced. A folder given as a file output is refused. A
read-only output (chmod a-w: a file, a folder output, or a file of it that the run would replace) is refused, as
the shell's > refuses it.

No output may be an input or another output of the same run (compared by resolved path and inode), and two
outputs may not write into one pipe or FIFO (-o - with another output to /dev/stdout); /dev/null is shared.

A folder output (embed, train, retrieve build, reference build; -o . included) is created, or reused only when
it is empty or holds a previous output of the same kind (its manifest.json, or a model's config.json): the new
files replace that output's files and nothing else in the folder is touched. None of those files may be an
input. evaluate --plots writes roc.png, pr.png and NAME.threshold_sweep.png, NAME.calibration.png,
NAME.router_weights.png (NAME: the table's --names entry or file name, stdin for -) into its folder, replacing
files of those names only; none may be an input or another output.
"""


if __name__ == "__main__":
    sys.stdout.write(render())
