"""Generate the ``microfuse(1)`` manual page from the click definitions, so it never drifts from ``--help``.

    python -m microfuse_cli.manpage > man/microfuse.1
"""

from __future__ import annotations

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


def _options(command: click.Command, ctx: click.Context) -> list[str]:
    out = []
    for param in command.get_params(ctx):
        record = param.get_help_record(ctx)
        if record is None:
            continue
        names, help_text = record
        out += [".TP", f"\\fB{_roff(names)}\\fR", _roff(help_text or "")]
    return out


def render(group: click.Group | None = None) -> str:
    """The whole manual page: synopsis, then one section per subcommand with its help, options and examples."""
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
        _roff(group.help or ""),
        ".SH COMMANDS",
    ]
    for name in sorted(group.commands):
        command = group.commands[name]
        sub = click.Context(command, info_name=name, parent=ctx, **command.context_settings)
        out += [f".SS microfuse {name}", _roff(command.help or "")]
        if isinstance(command, click.Group):
            for child in sorted(command.commands):
                out += [".PP", f"\\fBmicrofuse {name} {child}\\fR: {_roff(command.commands[child].get_short_help_str(200))}"]
        out += _options(command, sub)
        if command.epilog:
            out += [".PP", ".nf", _roff(command.epilog), ".fi"]
    out += [
        ".SH EXIT STATUS",
        "0 on success, 1 on bad or inconsistent data, 2 on bad usage, 130 when interrupted.",
        ".SH SHELL COMPLETION",
        ".nf",
        'eval "$(_MICROFUSE_COMPLETE=bash_source microfuse)"   # bash; zsh_source / fish_source for zsh / fish',
        ".fi",
        ".SH SEE ALSO",
        "prodigal(1), gt(1)",
    ]
    return "\n".join(out) + "\n"


if __name__ == "__main__":
    sys.stdout.write(render())
