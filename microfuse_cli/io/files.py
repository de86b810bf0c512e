"""Reading inputs: transparent decompression (gzip, bzip2, xz), ``-`` for stdin, and caps on size and line length
so a decompression bomb or a corrupt single-line file is refused, never held whole."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
import sys
from typing import Union

from ..errors import DataError

PathLike = Union[str, "os.PathLike[str]"]

_MAGIC = {
    b"\x1f\x8b": gzip.open,
    b"BZh": bz2.open,
    b"\xfd7zXZ\x00": lzma.open,
}

#: Largest decompressed input accepted, in bytes: caps a decompression bomb (override with MICROFUSE_MAX_INPUT).
MAX_INPUT_BYTES = int(os.environ.get("MICROFUSE_MAX_INPUT", str(8 * 1024**3)))
#: Longest line accepted, in bytes (at least _CHUNK is always read): a 1 GB FASTA header is refused after reading
#: this much, not held in several copies. A whole bacterial chromosome on one line is ~15 MB (MICROFUSE_MAX_LINE).
MAX_LINE_BYTES = int(os.environ.get("MICROFUSE_MAX_LINE", str(64 * 1024**2)))
_CHUNK = 1 << 24


def is_stdio(path: PathLike | None) -> bool:
    return path is None or str(path) == "-"


def _sniff(head: bytes):
    for magic, opener in _MAGIC.items():
        if head.startswith(magic):
            return opener
    return None


def read_bytes(path: PathLike) -> bytes:
    """Read a whole (possibly compressed) file or stdin, decompressed.

    Read in chunks and refused as soon as it passes MAX_INPUT_BYTES or holds a line longer than MAX_LINE_BYTES,
    so a decompression bomb or a corrupt single-line file is never held whole in memory.
    """
    if is_stdio(path):
        return _read_capped(sys.stdin.buffer, "stdin")
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise DataError(f"no such file: {path}") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a directory, expected a file") from None
    except PermissionError:
        raise DataError(f"cannot read {path}: permission denied") from None
    with handle:
        return _read_capped(handle, path)


class _Prepend:
    """A read-only stream giving ``head`` back before the rest of ``stream`` (stdin cannot seek back)."""

    def __init__(self, head: bytes, stream):
        self.head, self.stream = head, stream

    def read(self, size: int = -1) -> bytes:
        if not self.head:
            return self.stream.read(size)
        if size is None or size < 0:
            out, self.head = self.head + self.stream.read(), b""
        else:
            out, self.head = self.head[:size], self.head[size:]
        return out


#: Compressions recognised but not read: named in the error instead of "binary file".
_UNSUPPORTED_MAGIC = {b"\x28\xb5\x2f\xfd": ("zstd", "zstd -d"), b"\x04\x22\x4d\x18": ("lz4", "lz4 -d")}


def _read_capped(raw, path) -> bytes:
    head = raw.read(6)
    for magic, (name, command) in _UNSUPPORTED_MAGIC.items():
        if head.startswith(magic):
            raise DataError(f"{path}: {name}-compressed; decompress it first ({command}) or use gzip, bzip2 or xz")
    opener = _sniff(head)
    stream = _Prepend(head, raw)
    chunks, total, line = [], 0, 0
    try:
        with opener(stream) if opener is not None else contextlib.nullcontext(stream) as handle:
            while chunk := handle.read(_CHUNK):
                chunks.append(chunk)
                total += len(chunk)
                if total > MAX_INPUT_BYTES:
                    raise DataError(f"{path}: more than {MAX_INPUT_BYTES} bytes (decompressed); refusing "
                                    "(MICROFUSE_MAX_INPUT)")
                first = chunk.find(b"\n")  # a line inside one chunk is shorter than _CHUNK: track the running one
                if first < 0:
                    line += len(chunk)
                elif line + first > MAX_LINE_BYTES:
                    line += first
                else:
                    line = len(chunk) - chunk.rfind(b"\n") - 1
                if line > MAX_LINE_BYTES:
                    raise DataError(f"{path}: a line longer than {MAX_LINE_BYTES} bytes (corrupt, or not a text "
                                    "file?); refusing (MICROFUSE_MAX_LINE)")
    except (OSError, EOFError, lzma.LZMAError) as exc:
        if opener is None:
            raise
        raise DataError(f"{path}: corrupt or truncated compressed file ({exc})") from None
    return b"".join(chunks)


def read_text(path: PathLike) -> str:
    """Read a text file (compressed or not, ``-`` = stdin); refuses binary data and normalises line endings."""
    data = read_bytes(path)
    if b"\x00" in data[:65536]:
        raise DataError(f"{path}: looks like a binary file, not text")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        try:
            text = data.decode("latin-1")
        except UnicodeDecodeError:  # pragma: no cover - latin-1 decodes everything
            raise DataError(f"{path}: not a text file") from None
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text



def sha256_file(path: PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (manifests record it; loaders verify it)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()

