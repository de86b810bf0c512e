"""Reading inputs: transparent decompression (gzip, bzip2, xz), ``-`` for stdin, and caps on size and line length
so a decompression bomb or a corrupt single-line file is refused, never held whole."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import io
import itertools
import json
import lzma
import os
import select
import sys
from typing import IO, Iterable, Iterator, Union

from ..errors import DataError, MicrofuseError, UsageError

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


def lost_current_folder(path: PathLike | None) -> bool:
    """True when ``path`` is relative and the current folder it names a file in no longer exists (a cluster job's
    scratch folder removed under it): every use of it fails with 'No such file or directory', naming nothing."""
    if is_stdio(path) or os.path.isabs(path):
        return False
    try:
        os.getcwd()
    except FileNotFoundError:
        return True
    return False


def _sniff(head: bytes):
    for magic, opener in _MAGIC.items():
        if head.startswith(magic):
            return opener
    return None


def _binary(path) -> DataError:
    return DataError(f"{path}: looks like a binary file, not text")


def _too_large(path, measured: str = "bytes (decompressed)") -> DataError:
    return DataError(f"{path}: more than {MAX_INPUT_BYTES} {measured}; refusing (MICROFUSE_MAX_INPUT)")


def spool(source: IO[bytes], destination: IO[bytes], shown: str) -> None:
    """Copy a one-pass input (stdin, a pipe) to a temp file a block at a time, so it can be read twice: refused as
    the readers refuse it, binary from its first bytes and past MAX_INPUT_BYTES, never held whole in memory (a
    `<(cat /dev/urandom)` filled the memory before). A compressed stream is kept as it comes, and capped there by its
    compressed bytes, so the temp file stays bounded (a stream of empty gzip members decompresses to nothing); its
    decompressed bytes are capped when it is read, as a file's are. A failed read names ``shown`` (DataError); a
    failed write is the caller's to name (an OSError, as from the temp file's folder)."""
    total, measured = 0, "bytes (decompressed)"
    while block := _read_named(source, shown):
        if total == 0:
            _refuse_unsupported_compression(block, shown)
            if _sniff(block) is not None:  # the cap counts what is kept: said so, not 'decompressed'
                measured = "compressed bytes"
            elif b"\x00" in block[:_BINARY_PROBE]:
                raise _binary(shown)
        total += len(block)
        if total > MAX_INPUT_BYTES:
            raise _too_large(shown, measured)
        destination.write(block)


def _read_named(source: IO[bytes], shown: str) -> bytes:
    """A block of ``source``; a failed read (a socket reset, EIO) names the source: it was taken for the temp file's
    ('cannot keep stdin in a temp file in /tmp (TMPDIR ...): Connection reset by peer')."""
    try:
        return source.read(_STREAM_CHUNK)
    except OSError as exc:
        raise DataError(f"cannot read {shown}: {exc.strerror or exc}") from None


def stdin_stream() -> IO[bytes]:
    """stdin's bytes; a one-line error when the shell closed it (`<&-`), where Python leaves ``sys.stdin`` None."""
    if sys.stdin is None:
        raise DataError("stdin is closed; nothing to read for '-'")
    return _Waiting(sys.stdin.buffer)


class _Waiting:
    """A stream read as a blocking one is, also when the program that started microfuse left it non-blocking
    (O_NONBLOCK; the flag belongs to the pipe, shared with that program, so it is left as it is): a read that would
    block gave None, taken for the end of the input, so a writer that paused gave half a genome. Waits for more
    (select) instead; ``read(n)`` gives n bytes unless the input ends first, as a blocking read does."""

    def __init__(self, stream):
        self._stream = stream

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            return b"".join(iter(lambda: self.read(_STREAM_CHUNK), b""))
        parts, got = [], 0
        while got < size:
            try:
                block = self._stream.read(size - got)
            except BlockingIOError:
                block = None
            if block is None:  # nothing yet: wait until the writer writes or closes
                select.select([self._stream], [], [])
                continue
            if not block:
                break
            parts.append(block)
            got += len(block)
        return b"".join(parts)

    def __getattr__(self, name):
        return getattr(self._stream, name)


def missing_input(path: PathLike, noun: str = "file") -> DataError:
    """The error for an input that is not there: 'no such file: PATH', or, for a relative path whose current folder
    was removed during the run (a cleaned scratch space), that."""
    if lost_current_folder(path):
        return DataError(f"cannot read {path}: the current folder was removed during the run; give absolute paths")
    return DataError(f"no such {noun}: {path}")


def require_readable(path: PathLike, noun: str = "file") -> None:
    """Refuse a missing or unreadable input as bad data (exit 1), in the words the readers use: checked before any
    work, so a missing last input is not found only after the first was read (and, in embed, embedded)."""
    try:
        os.stat(path)
    except (FileNotFoundError, NotADirectoryError):
        raise missing_input(path, noun) from None
    except OSError as exc:  # a folder on its way that may not be searched (chmod 600) was 'no such file'
        raise DataError(f"cannot read {path}: {(exc.strerror or str(exc)).lower()}") from None
    if not os.access(path, os.R_OK):
        raise DataError(f"cannot read {path}: permission denied")


@contextlib.contextmanager
def _opened(path: PathLike, handle: IO[bytes] | None = None) -> Iterator[IO[bytes]]:
    """The raw bytes of ``path`` (stdin for ``-``), with one-line errors for what cannot be opened; ``handle``: the
    file already opened (and hashed) by the caller, read in place of ``path`` and left open."""
    if handle is not None:
        yield handle
        return
    if path is None:  # read_genome(snakemake.input.get("gff")) of a missing key waited on stdin for ever
        raise UsageError("an input is named by a path (str or os.PathLike; '-' for stdin), not None")
    if is_stdio(path):
        yield stdin_stream()
        return
    if not isinstance(path, (str, os.PathLike)):  # open(3) would read, then close, the caller's file descriptor 3
        raise UsageError(f"an input is named by a path (str or os.PathLike), not {type(path).__name__} {path!r}")
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        raise missing_input(path) from None
    except IsADirectoryError:
        raise DataError(f"{path} is a directory, expected a file") from None
    except PermissionError:
        raise DataError(f"cannot read {path}: permission denied") from None
    with handle:
        yield handle


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


def _refuse_unsupported_compression(head: bytes, path) -> None:
    for magic, (name, command) in _UNSUPPORTED_MAGIC.items():
        if head.startswith(magic):
            raise DataError(f"{path}: {name}-compressed; decompress it first ({command}) or use gzip, bzip2 or xz")


def _capped_chunks(raw, path, size: int) -> Iterator[bytes]:
    """The decompressed bytes of ``raw`` in chunks of ``size``, refused (DataError) past MAX_INPUT_BYTES in all or
    MAX_LINE_BYTES on one line, or when the compressed data is corrupt."""
    head = raw.read(6)
    _refuse_unsupported_compression(head, path)
    opener = _sniff(head)
    stream = _Prepend(head, raw)
    total, line = 0, 0
    try:
        with opener(stream) if opener is not None else contextlib.nullcontext(stream) as handle:
            while chunk := handle.read(size):
                total += len(chunk)
                if total > MAX_INPUT_BYTES:
                    raise _too_large(path)
                first = chunk.find(b"\n")  # a line inside one chunk is shorter than a chunk: track the running one
                if first < 0:
                    line += len(chunk)
                elif line + first > MAX_LINE_BYTES:
                    line += first
                else:
                    line = len(chunk) - chunk.rfind(b"\n") - 1
                if line > MAX_LINE_BYTES:
                    raise DataError(f"{path}: a line longer than {MAX_LINE_BYTES} bytes (corrupt, or not a text "
                                    "file?); refusing (MICROFUSE_MAX_LINE)")
                yield chunk
    except (OSError, EOFError, lzma.LZMAError) as exc:
        if opener is None:
            raise
        raise DataError(f"{path}: corrupt or truncated compressed file ({exc})") from None


def read_text(path: PathLike, *, handle: IO[bytes] | None = None) -> str:
    """Read a text file (compressed or not, ``-`` = stdin), decompressed, with LF line ends.

    Read in chunks and refused as soon as it passes MAX_INPUT_BYTES, holds a line longer than MAX_LINE_BYTES, or
    shows binary data in its first bytes, so a decompression bomb, a corrupt single-line file or a BAM is never
    held (or read) whole. ``handle``: ``path`` already opened, read from there (``_opened``)."""
    with _opened(path, handle) as raw:
        data = b"".join(_text_chunks(_capped_chunks(raw, "stdin" if is_stdio(path) else path, _CHUNK), path))
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


#: A NUL in this many first bytes makes an input binary, not text.
_BINARY_PROBE = 65536
#: Bytes decompressed at a time when an input is read line by line.
_STREAM_CHUNK = 1 << 20


@contextlib.contextmanager
def open_text(path: PathLike, *, handle: IO[bytes] | None = None) -> Iterator[Iterator[str]]:
    """The lines of a text input (compressed or not, ``-`` = stdin), read as they are consumed.

    The same input as ``read_text`` gives, line by line and never whole: the same caps, LF line ends, no
    byte-order mark; a line that is not UTF-8 is read as latin-1, and so is every line after it. The errors come in
    the order a whole read gave them: a binary file as soon as its first bytes show it; when the reader refuses the
    input, the rest is read first, so a size cap or a corrupt compression further on is what is reported (then the
    reader's own error). ``handle``: ``path`` already opened, read from there (``_opened``).
    """
    with _opened(path, handle) as raw:
        chunks = _text_chunks(_capped_chunks(raw, "stdin" if is_stdio(path) else path, _STREAM_CHUNK), path)
        text = io.TextIOWrapper(io.BufferedReader(_ChunkReader(chunks), _STREAM_CHUNK), encoding="utf-8",
                                errors="surrogateescape", newline=None)
        lines = _decoded(text)
        try:
            yield lines
        except MicrofuseError:
            for _ in lines:
                pass
            raise


def _text_chunks(chunks: Iterator[bytes], path) -> Iterator[bytes]:
    """``chunks``, refused as binary when a NUL comes in their first _BINARY_PROBE bytes: at once, not after
    reading the rest (a BAM, an image, /dev/urandom: up to MAX_INPUT_BYTES for nothing)."""
    seen = 0
    for chunk in chunks:
        if seen < _BINARY_PROBE and b"\x00" in chunk[: _BINARY_PROBE - seen]:
            raise _binary(path)
        seen += len(chunk)
        yield chunk


def _decoded(text) -> Iterator[str]:
    """Lines of a UTF-8 text stream read with surrogateescape: from the first line that is not UTF-8 on, latin-1."""
    latin, first = False, True
    for line in text:
        if not line.isascii():
            if not latin:
                try:
                    line.encode("utf-8")
                except UnicodeEncodeError:
                    latin = True
            if latin:
                line = line.encode("utf-8", "surrogateescape").decode("latin-1")
            if first and line.startswith("\ufeff"):
                line = line[1:]
        first = False
        yield line


class _ChunkReader(io.RawIOBase):
    """A readable raw stream over an iterator of byte chunks (so io.TextIOWrapper can decode and split them)."""

    def __init__(self, chunks: Iterator[bytes]):
        self._chunks, self._view, self._pos = chunks, memoryview(b""), 0

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:
        while self._pos >= len(self._view):
            chunk = next(self._chunks, None)
            if chunk is None:
                return 0
            self._view, self._pos = memoryview(chunk), 0
        n = min(len(buffer), len(self._view) - self._pos)
        buffer[:n] = self._view[self._pos : self._pos + n]
        self._pos += n
        return n


def text_lines(path: PathLike, text: str | Iterable[str] | None) -> contextlib.AbstractContextManager:
    """The lines of an input: of ``text`` when the caller has read it already (a string, its CRLF or CR line ends
    read as LF as from a file, or its lines), else read from ``path`` as they are consumed (``open_text``)."""
    if text is None:
        return open_text(path)
    return contextlib.nullcontext(iter(io.StringIO(text, newline=None)) if isinstance(text, str) else iter(text))


def peek_lines(lines: Iterator[str], count: int = 50) -> tuple[list[str], Iterator[str]]:
    """The first ``count`` lines (more while they are all blank or '#' lines: a pairs TSV has a '#scaffold' line per
    scaffold above its header, thousands for a metagenome) and an iterator over all of them again: a format is told
    from a prefix, since stdin can be read once."""
    head: list[str] = []
    told = False  # a line neither blank nor a comment seen
    for line in lines:
        head.append(line)
        told = told or bool(line.strip()) and not line.startswith("#")
        if len(head) >= count and told:
            break
    return head, itertools.chain(head, lines)


#: The key, in a folder's manifest.json (manifest.py) and a model's config.json (checkpoint.py), of the checksums
#: of its data files: file name -> SHA-256 (64 lowercase hex digits), as ``sha256_file`` gives.
FILES_KEY = "files_sha256"


def sha256_file(path: PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (manifests record it; loaders verify it)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_json(path: PathLike, limit: int, what: str):
    """The JSON document of a metadata file (a model's config, a folder's manifest) read with at most ``limit``
    bytes held: a file past it (a hostile 2 GB config) is refused before it is read whole. Unreadable, non-UTF-8,
    too deeply nested or otherwise invalid JSON (an integer past Python's digit limit included) is a one-line
    ``DataError`` naming ``what``."""
    try:
        with open(path, "rb") as handle:
            data = handle.read(limit + 1)
    except OSError as exc:
        raise DataError(f"{path}: {what} (unreadable: {exc.strerror or type(exc).__name__})") from None
    if len(data) > limit:
        raise DataError(f"{path}: over {limit >> 20} MiB, far larger than any microfuse metadata file (refusing "
                        "to read it)")
    try:
        return json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise DataError(f"{path}: {what} ({type(exc).__name__})") from None
