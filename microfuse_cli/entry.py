"""The ``microfuse`` console script: catches Ctrl-C before the CLI's modules are imported.

The CLI turns an interrupt into ``error: interrupted`` (exit 130) once its handler runs; importing it (click, rich,
numpy) takes a noticeable time, and a Ctrl-C during that import was a Python traceback. This module imports nothing
of its own, so the handling below is in place as soon as the package itself is.
"""

from __future__ import annotations

import os
import signal
import sys


def main() -> None:
    """Run the CLI (``cli.main``) and exit with its status; an interrupt at any point is one line and exit 130."""
    try:
        from .cli import main as run

        status = run()
    except KeyboardInterrupt:
        status = _interrupted()
    sys.exit(status)


def _interrupted() -> int:
    """``error: interrupted`` (after a newline that closes a terminal's ^C), written without importing click,
    which may be what the interrupt cut short; a second Ctrl-C while it is written is ignored."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        newline = b"\n" if sys.stderr is not None and sys.stderr.isatty() else b""
        os.write(2, newline + b"error: interrupted\n")
    except (OSError, ValueError):  # no stderr to write to: the status still says it
        pass
    return 130
