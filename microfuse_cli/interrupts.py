"""How the console script and the CLI's ``handle_errors`` tell an interrupt: SIGTERM and SIGHUP raised as
``Terminated`` (a KeyboardInterrupt, so the atomic writers remove their temp files), a record of those raised in a
run that a library may have swallowed, and the interrupt behind an error Python wrapped it in. Below both (it
imports only ``signal``): entry.py runs before the CLI is imported, and the CLI must not import the entry point.
"""

from __future__ import annotations

import signal


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread as Ctrl-C is, so the atomic writers remove their temp files."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__()
        self.signum = signum


#: The signals ``terminate`` raised as ``Terminated`` during the current run (``handle_errors`` clears it at the
#: start and end of each; ``entry.main`` checks those of the imports before it). A run still going after one has
#: had it swallowed: a library's bare ``except:`` or a C function that clears errors took it (a `score` run under
#: SIGTERM went on to wait for its model loader forever, the import lock left held by the same interrupt).
#: ``swallowed`` says so where the run waits or ends.
RAISED: list[int] = []


def terminate(signum, frame) -> None:
    """The SIGTERM/SIGHUP handler of the console script and ``handle_errors``: recorded, then raised."""
    RAISED.append(signum)
    raise Terminated(signum)


def swallowed() -> Terminated | None:
    """The ``Terminated`` of a SIGTERM or SIGHUP raised in this run that did not end it: call it where the run
    would otherwise wait or finish as if none had come; None if there was none."""
    return Terminated(RAISED[0]) if RAISED else None


def interrupt_behind(exc: BaseException, before: BaseException | None = None) -> KeyboardInterrupt | None:
    """The interrupt an error was raised from, if any: Python wraps one raised while a class is made (a Ctrl-C in
    ``__set_name__`` while platform.py was imported, under click) in 'RuntimeError: Error calling __set_name__ ...',
    which was a traceback, or in `score` an 'internal error'. The chain is followed up to ``before``, the exception
    being handled when the run started (a program running a command from its own ``except KeyboardInterrupt:``
    block): that one is no interrupt of the run."""
    seen = set()
    while exc is not None and exc is not before and id(exc) not in seen:
        if isinstance(exc, KeyboardInterrupt):
            return exc
        seen.add(id(exc))
        exc = exc.__cause__ or exc.__context__
    return None
