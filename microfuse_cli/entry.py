"""The ``microfuse`` console script: catches Ctrl-C, SIGTERM and SIGHUP before the CLI's modules are imported.

The CLI turns an interrupt into ``error: interrupted`` (exit 130) once its handler runs; importing it (click, rich,
numpy) takes a noticeable time, and a Ctrl-C during that import was a Python traceback, a SIGTERM or SIGHUP a death
by the signal with no word (status -15/-1, not 143/129). This module imports only ``interrupts`` (itself only the
standard library), so the handling is in place as soon as the package itself is: what comes before (the
interpreter's start, ``site``, the package's ``__init__``) is Python's to report.
"""

from __future__ import annotations

import os
import sys

from .interrupts import INTERRUPTED, catch_signals, end_of_run, end_on_lost_interrupt, interrupt_behind, leave, \
    report_interrupt, swallowed


def main() -> None:
    """Run the CLI (``cli.main``) and exit with its status; an interrupt at any point is one line and exit 130
    (SIGINT), 143 (SIGTERM) or 129 (SIGHUP). The handling itself is ``interrupts``'s."""
    installed = catch_signals()  # as handle_errors does while a command runs; a nohup'd SIGHUP stays ignored
    _hold_closed_standard_descriptors()
    try:
        sys.unraisablehook = end_on_lost_interrupt  # for the imports only: no output is open yet
        try:
            from .cli import main as run
        finally:
            sys.unraisablehook = sys.__unraisablehook__
        if swallowed() is not None:  # a signal during the imports that some import swallowed
            raise swallowed()
        status = run()
        end_of_run(installed)
    except KeyboardInterrupt as exc:
        status = report_interrupt(exc, ending=True)
    except Exception as exc:
        cause = interrupt_behind(exc)
        if cause is None:
            raise
        status = report_interrupt(cause, ending=True)
    if status in INTERRUPTED:
        leave(status)
    sys.exit(status)


def _hold_closed_standard_descriptors() -> None:
    """Open /dev/null on descriptor 0, 1 or 2 when the shell closed it (`>&-`): the next files opened took those
    numbers, outputs among them, and what native libraries (libgomp, FAISS) write to stdout or stderr went into them.
    Python has already set ``sys.stdout``/``sys.stderr`` to None for a closed one, so `-o -` is still refused."""
    for fd in (0, 1, 2):
        try:
            os.fstat(fd)
        except OSError:
            os.open(os.devnull, os.O_RDWR)  # the lowest free number: this one, as the lower ones are open

