"""Signal handling, in one place, for the console script (``entry.main``) and the CLI's ``handle_errors``: the
handlers (SIGTERM and SIGHUP raised as ``Terminated``, a KeyboardInterrupt, so the atomic writers remove their temp
files; Ctrl-C recorded, then raised), the record of the signals a run raised that a library may have swallowed or
Python lost in a callback, the interrupt behind an error Python wrapped it in, and the one ``error:`` line that
reports an interrupt. It imports only the standard library: entry.py runs it before the CLI is imported, and the
CLI must not import the entry point.

Signal handlers are changed only here, and each change is put back: ``catch_signals`` (the console script from its
first line; ``RunSignals``, for ``handle_errors`` in the main thread, for the run alone) and ``held_signals`` (library
code: io/outputs.py during a folder swap, views/builtin/terminator.py while ViennaRNA folds, for one block); the
console script alone ignores signals once it is ending (``report_interrupt(..., ending=True)``) and leaves
(``leave``). ``sys.unraisablehook`` is ``RunSignals``'s for a run, and the console script's (entry.py sets
``end_on_lost_interrupt`` around its imports) before it.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
from typing import Callable, Iterator

#: Exit statuses of an interrupted run: SIGHUP (129), SIGINT (130) and SIGTERM (143).
INTERRUPTED = (129, 130, 143)


class Terminated(KeyboardInterrupt):
    """SIGTERM or SIGHUP, raised in the main thread as Ctrl-C is, so the atomic writers remove their temp files."""

    def __init__(self, signum: int = signal.SIGTERM):
        super().__init__()
        self.signum = signum


#: The signals ``terminate`` and ``interrupt`` raised during the current run (``handle_errors`` clears it at the
#: start and end of each; ``entry.main`` checks those of the imports before it). A run still going after one has
#: had it swallowed: a library's bare ``except:`` or a C function that clears errors took it (a `score` run under
#: SIGTERM went on to wait for its model loader forever, the import lock left held by the same interrupt).
#: ``swallowed`` says so where the run waits or ends.
RAISED: list[int] = []


def terminate(signum, frame) -> None:
    """The SIGTERM/SIGHUP handler of the console script and ``handle_errors``: recorded, then raised."""
    RAISED.append(signum)
    raise Terminated(signum)


def interrupt(signum, frame) -> None:
    """The Ctrl-C handler of a run, in place of Python's own: recorded, then raised as KeyboardInterrupt. Python's
    (``signal.default_int_handler``, in C) leaves no trace, so a Ctrl-C a library swallowed went unnoticed: `score`
    waited for its model loader until a second Ctrl-C, and a run that finished exited 0."""
    RAISED.append(signum)
    raise KeyboardInterrupt


def swallowed() -> KeyboardInterrupt | None:
    """The interrupt (``Terminated`` for SIGTERM or SIGHUP) of a signal raised in this run that did not end it:
    call it where the run would otherwise wait or finish as if none had come; None if there was none."""
    if not RAISED:
        return None
    return KeyboardInterrupt() if RAISED[0] == signal.SIGINT else Terminated(RAISED[0])


def catch_signals(installed: dict | None = None) -> dict:
    """Ctrl-C, SIGTERM and SIGHUP recorded and raised from now on (``interrupt``, ``terminate``); returns the
    handlers replaced, for ``restore``. Left as they are: an ignored SIGHUP (`nohup`) or SIGINT (a background job;
    an ignored SIGTERM is replaced, as a scheduler's kill must end the run), a program's own SIGINT handler, and a
    handler set from C (``signal.getsignal`` says None), which Python could not put back.

    ``installed`` (filled, and returned): each handler is in it before it is replaced, so a signal whose handler
    raises half-way (a Ctrl-C as a run starts) leaves the caller all it must put back."""
    installed = {} if installed is None else installed
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        current = signal.getsignal(sig)
        if sig == signal.SIGINT:
            wanted = current is signal.default_int_handler
        else:
            wanted = current is not None and (sig == signal.SIGTERM or current != signal.SIG_IGN)
        if wanted:
            installed[sig] = current
            signal.signal(sig, interrupt if sig == signal.SIGINT else terminate)
    return installed


def restore(installed: dict) -> None:
    """Put back the handlers ``catch_signals`` (or ``held_signals``) replaced. A signal whose handler raises
    between two of them (a Ctrl-C just after SIGINT's is back) left the others in place for good (held signals then
    went nowhere): all are put back before it goes on."""
    try:
        for sig, previous in installed.items():
            signal.signal(sig, previous)
    except BaseException:
        for sig, previous in installed.items():
            signal.signal(sig, previous)
        raise


def end_of_run(installed: dict) -> None:
    """The console script's run is over, its outputs in place: a signal from here on ends the process by the signal,
    as it did (Ctrl-C too: its KeyboardInterrupt at ``sys.exit``, or at exit, would be a traceback)."""
    restore(installed)
    if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
        signal.signal(signal.SIGINT, signal.SIG_DFL)


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


def report_interrupt(cause: BaseException, *, ending: bool = False) -> int:
    """``error: interrupted`` (exit 130, after a newline that closes a terminal's ^C), ``error: terminated`` (143)
    or ``error: hung up`` (129); returns the status. A stderr that cannot be written loses only the line.

    ``ending``: the console script, about to exit: a second signal while the line is written is ignored, and it is
    written to descriptor 2 directly, without click or the text layer, which the interrupt may have cut short."""
    if ending:
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
    if isinstance(cause, Terminated):
        message, status = ("hung up" if cause.signum == signal.SIGHUP else "terminated"), 128 + cause.signum
    else:
        message, status = "interrupted", 130
    stderr = sys.stderr
    try:
        newline = "\n" if status == 130 and stderr is not None and stderr.isatty() else ""
        line = f"{newline}error: {message}\n"
        if ending:
            os.write(2, line.encode())
        elif stderr is not None:
            stderr.write(line)
            stderr.flush()
    except (OSError, ValueError):  # no stderr to write to: the status still says it
        pass
    return status


def leave(status: int) -> None:
    """The console script exits with ``status`` now. After a Ctrl-C 10-80 ms into the imports had been handled,
    ``sys.exit`` sometimes ended the process by SIGINT instead (status -2, not 130: 4 of 60 tries), most likely
    CPython's "unhandled interrupt" flag, which a nested evaluation inside an import can leave set. Every output was
    already finished or cleaned up by the command's own handling, so nothing is lost by leaving directly."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream is not None:
                stream.flush()
        except (OSError, ValueError):  # a closed or broken stream: nothing more can be said on it
            pass
    os._exit(status)


def end_on_lost_interrupt(unraisable) -> None:
    """The console script's ``sys.unraisablehook`` while it imports the CLI. A Ctrl-C that lands in a callback
    Python cannot raise from (importlib's module-lock weakref callback) was printed as 'Exception ignored in: ...'
    with a traceback, and the run went on to finish (1 of 3 fresh-clone CI runs): during the imports it ends the
    run as any interrupt does. Other unraisable errors are printed as usual."""
    if isinstance(unraisable.exc_value, KeyboardInterrupt):
        leave(report_interrupt(unraisable.exc_value, ending=True))
    sys.__unraisablehook__(unraisable)


class LostInterrupts:
    """The ``sys.unraisablehook`` of a run: an interrupt whose handler ran in a callback Python cannot raise from (a
    weakref callback, as importlib's module locks have) was printed as 'Exception ignored in: ...' with a traceback
    and lost: the run went on to exit 0, or hung for good when it had cut importlib short with the import lock held
    (a thread importing after it waited forever). The signal is sent again to the main thread, to end the run as any
    interrupt does: from another thread, a moment later, as a handler run inside this hook would be lost in turn,
    and as a real signal, which also wakes a main thread blocked waiting for a lock. Never once the run is over
    (``close``): it came after ``handle_errors`` had returned, into a library user's program or at exit. Other
    unraisable errors, and those of other threads, go to ``previous``."""

    def __init__(self, previous: Callable):
        self.previous = previous
        self.cause: KeyboardInterrupt | None = None  # the first interrupt lost
        self._lock = threading.Lock()
        self._open = True

    def __call__(self, unraisable) -> None:
        if not (isinstance(unraisable.exc_value, KeyboardInterrupt)
                and threading.current_thread() is threading.main_thread()):
            self.previous(unraisable)
            return
        cause = unraisable.exc_value
        with self._lock:
            if self.cause is None:
                self.cause = cause
        again = threading.Timer(0.01, self._send, (cause.signum if isinstance(cause, Terminated) else signal.SIGINT,))
        again.daemon = True
        again.start()

    def _send(self, signum: int) -> None:
        with self._lock:
            if self._open:
                signal.pthread_kill(threading.main_thread().ident, signum)

    def close(self) -> None:
        """No signal is sent again from now on."""
        with self._lock:
            self._open = False


class RunSignals:
    """The signal handling of one ``handle_errors`` run, a context manager. In the main thread (where interrupts are
    raised, and the only thread that may set handlers) Ctrl-C, SIGTERM and SIGHUP are caught (``catch_signals``),
    the record of those raised starts empty, and interrupts lost in callbacks are sent again (``LostInterrupts``);
    all put back at the end. In another thread (a Snakemake `run:` block) nothing process-wide is touched."""

    def __init__(self):
        self.installed: dict = {}
        self.lost: LostInterrupts | None = None
        self._taken: KeyboardInterrupt | None = None
        self._main = False

    def __enter__(self) -> RunSignals:
        self._main = threading.current_thread() is threading.main_thread()
        if self._main:
            RAISED.clear()  # raised outside a run (a Python program's own handling); the console script checks its own
            try:
                catch_signals(self.installed)
                self.lost = LostInterrupts(sys.unraisablehook)
                sys.unraisablehook = self.lost
            except BaseException:  # a signal as they were put in place: no run, and nothing of it left behind
                self.__exit__(None, None, None)
                raise
        return self

    def run(self, invoke: Callable[[], object]) -> object:
        """``invoke()``; a lost interrupt is no longer sent once it returns or fails, before a failure is reported
        (a signal sent again then was a second 'error:' line)."""
        try:
            return invoke()
        finally:
            if self.lost is not None:
                self.lost.close()

    def __exit__(self, *exc_info) -> None:
        if self.lost is not None:
            sys.unraisablehook = self.lost.previous
            self.lost.close()
        try:
            restore(self.installed)
        finally:
            if self._main:  # the record ends with the run, also when an error leaves it (--debug): a later run in
                # another thread, which does not clear it, took a signal of this one as its own ('error: terminated'
                # for its bug)
                self._taken = swallowed()
                RAISED.clear()

    def missed(self) -> KeyboardInterrupt | None:
        """Once the run is over: the interrupt it lost in a callback (it ended before the signal came again) or
        that a library swallowed (it went on to its end), which a run that succeeded reports; None if none."""
        if self.lost is None:
            return None
        return self.lost.cause if self.lost.cause is not None else self._taken


#: The signals ``held_signals`` holds: those the CLI turns into interrupts.
HELD = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


@contextlib.contextmanager
def held_signals(started: Callable[[], bool] | None = None) -> Iterator[None]:
    """Ctrl-C, SIGTERM and SIGHUP held while the block runs, then delivered to the handlers they had, each once, in
    the order they came (a handler that raises, as the CLI's do, ends the delivery). With ``started``, they act at
    once until ``started()`` says what must not be cut has begun (a folder swap's first rename: it reads the file
    system, so a signal just after an atomic rename is never misjudged).

    Where a handler's exception would do harm: ViennaRNA's callbacks turned it into "RuntimeError: Some error
    occurred ..." (`embed` under SIGTERM said 'internal error', exit 1); a folder swap cut half-way left old files
    beside new ones. Main thread only, where handlers run. An ignored signal (nohup's SIGHUP, a background job's
    Ctrl-C) is left ignored: held, it took the place of a SIGTERM after it; a handler set from C (``getsignal``:
    None) is left alone, as Python cannot put it back (the restore raised TypeError)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    saved: dict = {}

    def on_signal(signum, frame):
        if started is None or started():
            caught.append(signum)
        else:
            _deliver(saved[signum], signum, frame)

    try:
        for sig in HELD:
            previous = signal.getsignal(sig)
            if previous not in (signal.SIG_IGN, None):
                saved[sig] = previous  # before ``on_signal`` is in place: a signal just after it looks it up there
                signal.signal(sig, on_signal)
        yield
    finally:  # also where a signal's handler raised while they were put in place: none of them is left holding
        restore(saved)
        for signum in dict.fromkeys(caught):
            _deliver(saved[signum], signum, None)


def _deliver(handler, signum: int, frame) -> None:
    """Act on a signal as ``handler``, the one it had, would have."""
    if callable(handler):
        handler(signum, frame)
    elif handler == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
