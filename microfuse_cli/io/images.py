"""Images as files and bytes, written the one way every figure of microfuse is: no date or software version in the
metadata and SVG ids numbered in order, so the same figure gives the same bytes; a description (which model made
the scores drawn) under each format's own key."""

from __future__ import annotations

import io
import re
from pathlib import Path

from .files import PathLike
from .outputs import atomic_output

#: Where a description goes in each format: PNG tEXt and SVG (Dublin Core) Description, PDF Subject.
DESCRIPTION_KEY = {"png": "Description", "svg": "Description", "pdf": "Subject"}
#: The metadata matplotlib would fill with the moment or its version, set empty: reruns give the same bytes, also
#: under another matplotlib (SVG's Creator and PDF's Creator and Producer named its version).
_UNDATED = {"png": {"Software": None}, "svg": {"Date": None, "Creator": None},
            "pdf": {"CreationDate": None, "Creator": None, "Producer": None}}

_SVG_ID = re.compile(rb'id="([pmh][0-9a-f]{10})"')


def image_bytes(fig, fmt: str, *, dpi: float | None = None, description: str | None = None) -> bytes:
    """``fig`` (a matplotlib Figure) as ``fmt`` (png, svg or pdf) at ``dpi`` (None: the figure's own), with
    ``description`` in its metadata."""
    import matplotlib

    metadata = dict(_UNDATED[fmt])
    if description:
        metadata[DESCRIPTION_KEY[fmt]] = description
    buffer = io.BytesIO()
    with matplotlib.rc_context({"svg.hashsalt": "microfuse"}):  # else every id hashes a random salt too
        fig.savefig(buffer, format=fmt, dpi=dpi, metadata=metadata)
    return _numbered_svg_ids(buffer.getvalue()) if fmt == "svg" else buffer.getvalue()


def save_image(fig, path: PathLike, fmt: str, *, dpi: float | None = None, description: str | None = None) -> Path:
    """``image_bytes`` written to ``path`` atomically."""
    data = image_bytes(fig, fmt, dpi=dpi, description=description)
    with atomic_output(path, "wb") as handle:
        handle.write(data)
    return Path(path)


def _numbered_svg_ids(svg: bytes) -> bytes:
    """matplotlib names clip paths, markers and hatches by a hash of their exact floats (and a random salt unless
    one is set): the same figure drawn twice in one process differed in the last bit of a clip box, so in its ids.
    Each id becomes its type and its rank of appearance (p1, p2, m1, ...), wherever it is defined or referenced."""
    renamed: dict[bytes, bytes] = {}
    counts: dict[bytes, int] = {}
    for match in _SVG_ID.finditer(svg):
        old = match.group(1)
        if old not in renamed:
            kind = old[:1]
            counts[kind] = counts.get(kind, 0) + 1
            renamed[old] = kind + b"mf%d" % counts[kind]
    if not renamed:
        return svg
    pattern = re.compile(rb'(?<=["#])(' + b"|".join(map(re.escape, renamed)) + rb')(?=["\)])')
    return pattern.sub(lambda m: renamed[m.group(1)], svg)
