"""The line that records which model made a table: ``#microfuse VERSION model_id=<sha256>`` (checkpoint.model_identity).

Fused-vector ids files start with it, and scores and operon tables carry ``model_id=`` on their ``#microfuse`` line;
retrieve compares the identities (retrieve/models.py). A comment older readers skip. Scores and operon tables also
carry ``decision_id=`` (checkpoint.decision_identity: the rule that made the calls) last on that line;
``comment_maker`` reads the line back (``evaluate`` names the model of each table it reads).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import IO, Iterable, Iterator

from ..errors import DataError

MODEL_KEY = "model_id"
DECISION_KEY = "decision_id"
#: Hex digits of a decision identity (checkpoint.decision_identity): a short name for a handful of numbers.
DECISION_ID_LENGTH = 16
_DIGEST = re.compile(r"[0-9a-f]{64}")
_DECISION = re.compile(f"[0-9a-f]{{{DECISION_ID_LENGTH}}}")
#: ``model_from=`` of the packaged default (score.model_source); any other model folder is ``folder``.
PACKAGE = "package"
#: ``vectors_sha256=`` and ``vectors_shape=`` (rows x dimensions) of a fused ids file's ``#microfuse`` line: the
#: vectors file written with it (`score --fused`), so that one beside the other from another run is refused.
VECTORS_SHA256, VECTORS_SHAPE = "vectors_sha256", "vectors_shape"
_FIELDS = ("model", "threshold", "model_from", "threshold_from", MODEL_KEY, DECISION_KEY, VECTORS_SHA256, VECTORS_SHAPE)


def threshold_text(threshold: float) -> str:
    """``threshold`` as the ``threshold=`` of a ``#microfuse`` line writes it: 4 decimals where they are exact (0.5000,
    as every line has said), else the shortest decimal that reads back as the same float (0.81907, once written
    0.8191, which calls no pair of 0.819075): ``evaluate`` reads back the cut that made the calls."""
    import numpy as np

    threshold = float(threshold)  # a numpy float32's shortest digits read back as another float64
    fixed = f"{threshold:.4f}"
    if float(fixed) == threshold:
        return fixed
    return np.format_float_positional(threshold, unique=True, trim="-")  # never 1e-05: a plain decimal


def checked_model(model_id: str | None, where: str) -> str | None:
    """``model_id`` when None or a SHA-256 hex digest; anything else is a one-line DataError naming ``where``."""
    if model_id is not None and (not isinstance(model_id, str) or not _DIGEST.fullmatch(model_id)):
        raise DataError(f"{where}: {MODEL_KEY} {model_id!r} is not a SHA-256 digest")
    return model_id


def model_comment(model_id: str) -> str:
    """The comment line that records ``model_id`` at the top of a pair-id table (and of scores tables)."""
    from .. import __version__

    return f"#microfuse {__version__} {MODEL_KEY}={checked_model(model_id, 'model comment')}\n"


def vectors_comment(model_id: str | None, sha256: str, shape: tuple[int, ...]) -> str:
    """The ``#microfuse`` line of a fused ids file: the model's identity (where known) and the SHA-256 and shape of
    the vectors file written with it (the bytes of FILE.npy as written)."""
    from .. import __version__

    model = "" if model_id is None else f" {MODEL_KEY}={checked_model(model_id, 'model comment')}"
    return (f"#microfuse {__version__}{model} {VECTORS_SHA256}={sha256} "
            f"{VECTORS_SHAPE}={'x'.join(str(int(n)) for n in shape)}\n")


def leading_comments(text: str) -> Iterator[str]:
    """The leading ``#`` lines of a table's ``text``, each whole however long (a hand-made comment of 5 kB before the
    ``#microfuse`` line hid it from a reader of the first 4 KiB): where the header lines end, not a byte count."""
    start = 0
    while text.startswith("#", start):
        stop = text.find("\n", start)
        stop = len(text) if stop < 0 else stop
        yield text[start:stop]
        start = stop + 1


def read_leading_comments(handle: IO[bytes], where: str) -> Iterator[str]:
    """``leading_comments`` of a file open for binary reading at its start, decoded (an undecodable byte replaced),
    one at a time; nothing past the first byte of its first other line is read. A line longer than MAX_LINE_BYTES
    is refused (DataError naming ``where``) as read_text refuses it, after reading that much: a corrupt file of one
    `#` line of gigabytes was read whole, and held, before read_text's cap said so."""
    from . import files

    cap = files.MAX_LINE_BYTES
    while handle.peek(1)[:1] == b"#":
        line = handle.readline(cap + 2).rstrip(b"\n")  # its "\n" and one byte more than allowed: refused
        if len(line) > cap:
            raise DataError(f"{where}: a line longer than {cap} bytes (corrupt, or not a text file?); refusing "
                            "(MICROFUSE_MAX_LINE)")
        yield line.decode("utf-8", errors="replace").rstrip("\r")


def comment_vectors(lines: Iterable[str], where: str) -> tuple[str, tuple[int, ...]] | None:
    """The SHA-256 and shape of the vectors file that the ``#microfuse`` line of a fused ids file records (None when
    it records none: an older microfuse's, or a table made by hand). A malformed record is a one-line DataError
    naming ``where``."""
    for line in lines:
        if not line.startswith("#"):
            return None
        if not line.startswith("#microfuse "):
            continue
        fields = dict(word.split("=", 1) for word in line[1:].split() if "=" in word)
        sha256, shape = fields.get(VECTORS_SHA256), fields.get(VECTORS_SHAPE)
        if sha256 is None and shape is None:
            return None
        if sha256 is None or not _DIGEST.fullmatch(sha256) or shape is None or \
                not re.fullmatch(r"[0-9]{1,18}(x[0-9]{1,18})*", shape):
            shown = ", ".join(f"{key}={'(none)' if value is None else value[:80]}"
                              for key, value in ((VECTORS_SHA256, sha256), (VECTORS_SHAPE, shape)))
            raise DataError(f"{where}: malformed {VECTORS_SHA256}= / {VECTORS_SHAPE}= on its #microfuse line "
                            f"({shown}): rerun `microfuse score ... --fused` to write the vectors and ids again (an "
                            "ids file edited by hand: delete both from its first line)")
        return sha256, tuple(int(n) for n in shape.split("x"))
    return None


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


@dataclass(frozen=True)
class Maker:
    """What the ``#microfuse`` line of a scores or operon table says made it; None where the line lacks a field
    (an older microfuse wrote no ``decision_id``, ids files record ``model_id`` alone)."""

    version: str | None = None
    model: str | None = None  # the model folder's name
    model_id: str | None = None
    decision_id: str | None = None
    model_from: str | None = None  # ``package`` (the packaged default), ``folder``; None: an older microfuse's line
    threshold_from: str | None = None  # ``model``, or ``user`` (`score --threshold`: decision_id is not the model's)
    threshold: float | None = None  # the probability the table's pairs were called at (``threshold=``)

    @property
    def packaged(self) -> bool | None:
        """Whether the packaged default made the table (None: the line does not say, as an older microfuse's)."""
        return None if self.model_from is None else self.model_from == PACKAGE

    def scored_by(self) -> str:
        """``scores by microfuse VERSION, model NAME (model_id 12 hex, decision_id ...)``: the words a figure of the
        table's scores records in its metadata."""
        return f"scores by microfuse {self.version or 'unknown'}, model {self.describe()}"

    def describe(self) -> str:
        """``NAME (model_id 12 hex, decision_id ...)``, ``unknown`` for what the table does not record."""
        short = self.model_id[:12] if self.model_id else "unknown"
        return f"{self.model or 'unknown'} (model_id {short}, {DECISION_KEY} {self.decision_id or 'unknown'})"


def comment_maker(lines: Iterable[str], where: str) -> Maker | None:
    """The ``Maker`` of a table from its leading ``#`` lines (None without a ``#microfuse`` line: a table made by
    hand or by another tool). A malformed identity is a one-line DataError naming ``where``."""
    for line in lines:
        if not line.startswith("#"):
            return None
        if not line.startswith("#microfuse "):
            continue
        words = line[1:].split(" ")
        version = words[1] if len(words) > 1 and "=" not in words[1] else None
        fields = _line_fields(words[2 if version else 1:])
        decision_id = fields.get(DECISION_KEY)
        if decision_id is not None and not _DECISION.fullmatch(decision_id):
            raise DataError(f"{where}: {DECISION_KEY} {decision_id!r} is not {DECISION_ID_LENGTH} hex digits")
        return Maker(version, fields.get("model"), checked_model(fields.get(MODEL_KEY), where), decision_id,
                     fields.get("model_from"), fields.get("threshold_from"), _threshold(fields.get("threshold")))
    return None


def _threshold(text: str | None) -> float | None:
    """The ``threshold=`` of a ``#microfuse`` line as a probability; None when absent or not one (a line edited by
    hand: what needs it falls back to the table's calls)."""
    try:
        value = float(text) if text is not None else None
    except ValueError:
        return None
    return value if value is not None and 0.0 <= value <= 1.0 else None


def _line_fields(words: list[str]) -> dict[str, str]:
    """``key=value`` words of the ``#microfuse`` line; a word that starts no known field continues the value before
    it (a model folder named with a space)."""
    fields: dict[str, str] = {}
    last = None
    for word in words:
        key, sep, value = word.partition("=")
        if sep and key in _FIELDS:
            fields[key], last = value, key
        elif last is not None:
            fields[last] += f" {word}"
    return fields
