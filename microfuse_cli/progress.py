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

from typing import Any, Callable, Mapping, Optional

Advance = Callable[[int], None]
Stage = Callable[[str, Optional[int]], Advance]
EpochReport = Callable[[Mapping[str, Any]], None]


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
