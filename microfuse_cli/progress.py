"""Progress reporting as plain callables: the library calls them and never draws anything (no rich here); the CLI
passes callables that draw bars on a terminal (cli/_common.py).

The contract, one shape per parameter name across the library:

- ``progress=`` is always an ``Advance``: called with the number of items just finished (contigs whose genes
  are called in ``read_genome``, vectors added in ``PairIndex.build``, queries in ``search``, epochs in
  ``training.train``). A counter's own method fits as it is (``tqdm(total=...).update``, ``list.append``). An
  ``Advance`` opened before its total was known (a bar opened before the input is read) may take it later through
  ``set_total``.
- ``stage=`` is a ``Stage``: ``stage(description, total) -> Advance`` opens one stage of a longer job (``total``
  items, None when unknown), as ``score_genome`` computes its views one after another.
- ``on_epoch=`` (``training.train``, ``train_seeds``) is an ``EpochReport``: called after every epoch with that
  epoch's record (a dict: loss, validation AUROC, best epoch so far, ...). It is the one callback that carries
  data rather than a count, so it has a name of its own; the count of epochs still goes to ``progress``.
"""

from __future__ import annotations

import inspect
from typing import Any, Callable, Mapping, Optional

from .errors import UsageError

Advance = Callable[[int], None]
Stage = Callable[[str, Optional[int]], Advance]
EpochReport = Callable[[Mapping[str, Any]], None]


#: Each callback's shape, as a refusal names it.
SHAPES = {
    "progress": "progress(n) -> None, called with the number of items just finished (progress.Advance)",
    "on_epoch": "on_epoch(record) -> None, called with each epoch's record, a dict (progress.EpochReport)",
    "stage": "stage(description, total) -> progress, called as each stage of the job opens (progress.Stage)",
}
_ARGUMENTS = {"progress": 1, "on_epoch": 1, "stage": 2}


def check_callbacks(function: str, **callbacks: object) -> None:
    """Refuse, before any work, a callback (named as its parameter: progress, on_epoch, stage) that is not callable
    or cannot take the arguments it will be called with, naming its expected shape: it failed deep inside a run
    with a bare TypeError. A callable whose signature Python cannot read (some builtins) is taken on trust."""
    for name, value in callbacks.items():
        if value is None:
            continue
        if not callable(value):
            raise UsageError(f"{function}'s {name} is a callable {SHAPES[name]}, not {type(value).__name__}")
        try:
            signature = inspect.signature(value)
        except (TypeError, ValueError):
            continue
        if not _binds(signature, name) and not _binds(_own_signature(value), name):
            label = getattr(value, "__qualname__", type(value).__name__)
            raise UsageError(f"{function}'s {name} is a callable {SHAPES[name]}; {label}{signature} cannot be "
                             "called so") from None


def _binds(signature: inspect.Signature | None, name: str) -> bool:
    """Whether a callable of this signature takes the arguments ``name`` is called with (None: not read)."""
    if signature is None:
        return False
    try:
        signature.bind(*range(_ARGUMENTS[name]))
    except TypeError:
        return False
    return True


def _own_signature(value: object) -> inspect.Signature | None:
    """The signature ``value`` is called through: a ``functools.wraps`` wrapper's own (``inspect.signature`` shows
    the wrapped function's, and a decorator that supplies an argument makes the two differ)."""
    try:
        return inspect.signature(value, follow_wrapped=False)
    except (TypeError, ValueError):
        return None


class CheckedFirstCall:
    """An ``Advance`` whose first call turns a TypeError or AttributeError of the callback into a UsageError naming
    the contract. ``training.train``'s ``progress=`` was called with each epoch's record (a dict) before it counted:
    a callback written for that reads the count as a dict (``'int' object is not subscriptable``), which no
    signature shows, so it is caught on its first call, after the first epoch (a made-up early call would be one
    count too many)."""

    def __init__(self, function: str, advance: Advance) -> None:
        self._function, self._advance, self._called = function, advance, False

    def __call__(self, n: int) -> None:
        if self._called:
            self._advance(n)
            return
        self._called = True
        try:
            self._advance(n)
        except (TypeError, AttributeError) as error:
            raise UsageError(f"{self._function}'s progress is a callable {SHAPES['progress']}; it raised "
                             f"{type(error).__name__} ({error}) when called with {n!r} (if it reads each epoch's "
                             f"record, a dict: that goes to on_epoch)") from error


def no_progress(n: int = 1) -> None:
    """An ``Advance`` that reports nothing."""


def set_total(advance: Advance | None, total: int) -> None:
    """Tell ``advance`` its total once the library knows it (the contigs to call genes on, known before pyrodigal
    trains for seconds), when it takes one (a ``set_total`` attribute, as the CLI's bars have); else nothing."""
    setter = getattr(advance, "set_total", None)
    if setter is not None:
        setter(total)


def silent_stage(description: str, total: Optional[int]) -> Advance:
    """A ``Stage`` that reports nothing."""
    return no_progress
