"""Progress reporting as plain callables: the library calls them and never draws anything (no rich here); the CLI
passes callables that draw bars on a terminal (cli/_common.py).

``Advance(n)`` is called with the number of items just finished. ``Stage(description, total) -> Advance`` opens
one stage of a longer job (``total`` items, None when unknown) and returns its ``Advance``.
"""

from __future__ import annotations

from typing import Callable, Optional

Advance = Callable[[int], None]
Stage = Callable[[str, Optional[int]], Advance]


def no_progress(n: int = 1) -> None:
    """An ``Advance`` that reports nothing."""


def silent_stage(description: str, total: Optional[int]) -> Advance:
    """A ``Stage`` that reports nothing."""
    return no_progress
