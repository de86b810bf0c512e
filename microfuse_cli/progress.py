"""Progress reporting as plain callables: the library calls them and never draws anything (no rich here); the CLI
passes callables that draw bars on a terminal (cli/_common.py).

``Advance(n)`` is called with the number of items just finished. ``Stage(description, total) -> Advance`` opens
one stage of a longer job (``total`` items, None when unknown) and returns its ``Advance``. An ``Advance`` opened
before its total was known (a bar opened before the input is read) may take it later through ``set_total``.
"""

from __future__ import annotations

from typing import Callable, Optional

Advance = Callable[[int], None]
Stage = Callable[[str, Optional[int]], Advance]


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
