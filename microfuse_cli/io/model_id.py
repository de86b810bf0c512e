"""The line that records which model made a table: ``#microfuse VERSION model_id=<sha256>`` (checkpoint.model_identity).

Fused-vector ids files start with it, and scores and operon tables carry ``model_id=`` on their ``#microfuse`` line;
retrieve compares the identities (retrieve/models.py). A comment older readers skip.
"""

from __future__ import annotations

import re
from typing import Iterable

from ..errors import DataError

MODEL_KEY = "model_id"
_DIGEST = re.compile(r"[0-9a-f]{64}")


def checked_model(model_id: str | None, where: str) -> str | None:
    """``model_id`` when None or a SHA-256 hex digest; anything else is a one-line DataError naming ``where``."""
    if model_id is not None and (not isinstance(model_id, str) or not _DIGEST.fullmatch(model_id)):
        raise DataError(f"{where}: {MODEL_KEY} {model_id!r} is not a SHA-256 digest")
    return model_id


def model_comment(model_id: str) -> str:
    """The comment line that records ``model_id`` at the top of a pair-id table (and of scores tables)."""
    from .. import __version__

    return f"#microfuse {__version__} {MODEL_KEY}={checked_model(model_id, 'model comment')}\n"


def comment_model(lines: Iterable[str], where: str) -> str | None:
    """The ``model_id=`` recorded in the leading ``#`` lines of a table (None when none records one). Only
    microfuse's own ``#microfuse`` line records it: a user's comment naming a model_id is a comment."""
    for line in lines:
        if not line.startswith("#"):
            return None
        if not line.startswith("#microfuse "):
            continue
        for word in line[1:].split():
            if word.startswith(f"{MODEL_KEY}="):
                return checked_model(word.split("=", 1)[1], where)
    return None
