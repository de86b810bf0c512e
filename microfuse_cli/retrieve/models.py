"""Which model made a set of fused vectors: its identity (checkpoint.model_identity), recorded and compared.

Fused vectors of two models live in two unrelated spaces, even at one width: indexed together or searched against
each other they give meaningless neighbours. `score --fused` therefore writes the model's identity into the ids
file's first line (``#microfuse VERSION model_id=<sha256>``, a comment older readers skip), the index manifest
records it, and files of two models are refused. Files without one (an older microfuse, vectors made with numpy)
cannot be checked: they are accepted with one warning.
"""

from __future__ import annotations

import logging
from typing import Iterable, Sequence

from ..errors import DataError

log = logging.getLogger("microfuse")

_SHORT = 12  # hex digits shown in messages, as git shows a commit


def short_model(model_id: str | None) -> str:
    """The first 12 hex digits of an identity, for messages."""
    return "(none recorded)" if model_id is None else model_id[:_SHORT]


def one_model(model_ids: Iterable[str | None]) -> str | None:
    """The one identity among ``model_ids`` (None: none known); two different ones are a DataError."""
    known = sorted({m for m in model_ids if m is not None})
    if len(known) > 1:
        raise DataError(f"fused vectors of two models ({short_model(known[0])}, {short_model(known[1])}) cannot be "
                        "indexed or searched together")
    return known[0] if known else None


def same_model(named: Sequence[tuple[str, str | None]]) -> str | None:
    """The identity shared by every ``(what, model_id)``: a DataError naming both sides when two differ, one
    warning when some record none (they cannot be checked). Returns the known identity, or None."""
    known = [(what, m) for what, m in named if m is not None]
    for what, model_id in known[1:]:
        if model_id != known[0][1]:
            first, theirs = known[0]
            raise DataError(f"{what}: vectors of model {short_model(model_id)}, {first} of model "
                            f"{short_model(theirs)} (fused vectors of different models cannot be compared)")
    unknown = [what for what, m in named if m is None]
    if unknown:
        more = f" (and {len(unknown) - 1} more)" if len(unknown) > 1 else ""
        log.warning("%s%s: no model identity recorded (older microfuse, or vectors made by hand): cannot check that "
                    "the vectors come from the same model", unknown[0], more)
    return known[0][1] if known else None
