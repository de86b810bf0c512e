"""The ``microfuse`` console script: catches Ctrl-C, SIGTERM and SIGHUP before the CLI's modules are imported.

The CLI turns an interrupt into ``error: interrupted`` (exit 130) once its handler runs; importing it (click, rich,
numpy) takes a noticeable time, and a Ctrl-C during that import was a Python traceback, a SIGTERM or SIGHUP a death
by the signal with no word (status -15/-1, not 143/129). This module imports nothing of its own, so the handling
below is in place as soon as the package itself is: what comes before (the interpreter's start, ``site``, the
package's ``__init__``) is Python's to report.
"""

from __future__ import annotations

import os
import signal
import sys

from .interrupts import Terminated, interrupt_behind, swallowed, terminate

#: Exit statuses of an interrupted run: SIGHUP (129), SIGINT (130) and SIGTERM (143).
INTERRUPTED = (129, 130, 143)


def main() -> None:
    """Run the CLI (``cli.main``) and exit with its status; an interrupt at any point is one line and exit 130
    (SIGINT), 143 (SIGTERM) or 129 (SIGHUP)."""
    installed = _catch_signals()
    _hold_closed_standard_descriptors()
    try:
        sys.unraisablehook = _interrupt_in_a_callback  # for the imports only: no output is open yet
        try:
            from .cli import main as run
        finally:
            sys.unraisablehook = sys.__unraisablehook__
        if swallowed() is not None:  # a SIGTERM or SIGHUP during the imports that some import swallowed
            raise swallowed()
        status = run()
        # the run is over, its outputs in place: a signal from here on ends the process by the signal, as it did
        # (Ctrl-C too: its KeyboardInterrupt at the `sys.exit` below, or at exit, would be a traceback)
        for sig, previous in installed.items():
            signal.signal(sig, previous)
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            signal.signal(signal.SIGINT, signal.SIG_DFL)
    except KeyboardInterrupt as exc:
        status = _interrupted(exc)
    except Exception as exc:
        cause = interrupt_behind(exc)
        if cause is None:
            raise
        status = _interrupted(cause)
    if status in INTERRUPTED:
        _leave(status)
    sys.exit(status)


def _catch_signals() -> dict:
    """SIGTERM and SIGHUP raise ``Terminated`` from now on (``handle_errors`` does the same while a command runs),
    so one that comes while the CLI is imported is one line, not a death by the signal. A SIGHUP ignored at start
    (`nohup`) stays ignored, as does Ctrl-C in a background job (Python leaves an ignored SIGINT alone). Returns
    the handlers replaced."""
    installed = {}
    for sig in (signal.SIGTERM, signal.SIGHUP):
        if sig == signal.SIGTERM or signal.getsignal(sig) != signal.SIG_IGN:
            installed[sig] = signal.signal(sig, terminate)
    return installed


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
        _leave(_interrupted(unraisable.exc_value))
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


def _interrupted(cause: BaseException) -> int:
    """``error: interrupted`` (after a newline that closes a terminal's ^C), ``error: terminated`` or
    ``error: hung up``, written without importing click, which may be what the interrupt cut short; a second signal
    while it is written is ignored."""
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, signal.SIG_IGN)
    if isinstance(cause, Terminated):
        message, status = (b"hung up" if cause.signum == signal.SIGHUP else b"terminated"), 128 + cause.signum
    else:
        message, status = b"interrupted", 130
    try:
        newline = b"\n" if status == 130 and sys.stderr is not None and sys.stderr.isatty() else b""
        os.write(2, newline + b"error: " + message + b"\n")
    except (OSError, ValueError):  # no stderr to write to: the status still says it
        pass
    return status
