"""The ``microfuse`` console script: catches Ctrl-C before the CLI's modules are imported.

The CLI turns an interrupt into ``error: interrupted`` (exit 130) once its handler runs; importing it (click, rich,
numpy) takes a noticeable time, and a Ctrl-C during that import was a Python traceback. This module imports nothing
of its own, so the handling below is in place as soon as the package itself is.
"""

from __future__ import annotations

import os
import signal
import sys

#: Exit statuses of an interrupted run: SIGHUP (129), SIGINT (130) and SIGTERM (143).
INTERRUPTED = (129, 130, 143)


def main() -> None:
    """Run the CLI (``cli.main``) and exit with its status; an interrupt at any point is one line and exit 130."""
    _hold_closed_standard_descriptors()
    try:
        sys.unraisablehook = _interrupt_in_a_callback  # for the imports only: no output is open yet
        try:
            from .cli import main as run
        finally:
            sys.unraisablehook = sys.__unraisablehook__
        status = run()
    except KeyboardInterrupt:
        status = _interrupted()
    if status in INTERRUPTED:
        _leave(status)
    sys.exit(status)


def _leave(status: int) -> None:
    """Exit with ``status`` now. After a Ctrl-C 10-80 ms into the imports had been handled, ``sys.exit`` sometimes
    ended the process by SIGINT instead (status -2, not 130: 4 of 60 tries), most likely CPython's "unhandled
    interrupt" flag, which a nested evaluation inside an import can leave set. Every output was already finished or
    cleaned up by the command's own handling, so nothing is lost by leaving directly."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing more can be said on it
            pass
    os._exit(status)


def _interrupt_in_a_callback(unraisable) -> None:
    """A Ctrl-C that lands in a callback Python cannot raise from (importlib's module-lock weakref callback) was
    printed as 'Exception ignored in: ...' with a traceback, and the run went on to finish (1 of 3 fresh-clone CI
    runs): during the imports it ends the run as any interrupt does. Other unraisable errors are printed as usual."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        _leave(_interrupted())
    sys.__unraisablehook__(unraisable)


def _hold_closed_standard_descriptors() -> None:
    """Open /dev/null on descriptor 0, 1 or 2 when the shell closed it (`>&-`): the next files opened took those
    numbers, outputs among them, and what native libraries (libgomp, FAISS) write to stdout or stderr went into them.
    Python has already set ``sys.stdout``/``sys.stderr`` to None for a closed one, so `-o -` is still refused."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free number: this one, as the lower ones are open


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
