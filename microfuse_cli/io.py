"""File plumbing shared by every stage: transparent decompression, ``-`` for stdin/stdout,
atomic writes (temp file + rename) so an interrupted run never leaves a half-written file."""

from __future__ import annotations

import bz2
import contextlib
import gzip
import lzma
import os
import sys
import tempfile
from pathlib import Path
from typing import IO, Iterator, Union

from .errors import DataError

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


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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


def _read_capped(raw, path) -> bytes:
    head = raw.read(6)
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


@contextlib.contextmanager
def atomic_output(path: PathLike | None, mode: str = "w") -> Iterator[IO]:
    """Open ``path`` for writing through a temp file renamed into place on success.

    ``None`` or ``-`` writes to stdout. On any exception (Ctrl-C included) the temp file is removed and
    an existing file at ``path`` is left untouched.
    """
    if is_stdio(path):
        stream = sys.stdout.buffer if "b" in mode else sys.stdout
        yield stream
        stream.flush()
        return
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise DataError(f"cannot write {target}: directory {parent} does not exist")
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent)
    os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a result file gets the user's usual permissions
    try:
        with os.fdopen(fd, mode, **({} if "b" in mode else {"encoding": "utf-8", "newline": "\n"})) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_directory(path: PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Build a directory next to ``path`` and swap it into place on success; nothing half-built is left."""
    target = Path(path)
    parent = target.parent if str(target.parent) else Path(".")
    if not parent.is_dir():
        raise DataError(f"cannot write {target}: directory {parent} does not exist")
    if target.exists() and not target.is_dir():
        raise DataError(f"cannot write {target}: exists and is not a directory")
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=parent))
    os.chmod(tmp, 0o777 & ~_umask())
    import shutil

    old = None
    try:
        yield tmp
        for file in tmp.rglob("*"):  # on disk before the swap (a full disk fails here, not after)
            os.chmod(file, (0o777 if file.is_dir() else 0o666) & ~_umask())  # some writers make 0600 files
            if file.is_file():
                with open(file, "rb") as handle:
                    os.fsync(handle.fileno())
        if target.exists():
            if not overwrite:
                raise DataError(f"{target} exists (use --force to replace it)")
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=parent))
            os.replace(target, old / "x")
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        if old is not None:  # interrupted between the two renames: put the previous folder back
            if (old / "x").exists() and not target.exists():
                os.replace(old / "x", target)
            shutil.rmtree(old, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_file(path: PathLike) -> str:
    """Hex SHA-256 of a file, read in 1 MiB blocks (manifests record it; loaders verify it)."""
    import hashlib

    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def write_tsv(handle: IO[str], header: list[str], rows) -> int:
    """Write a header line and rows as TSV; returns the number of rows written."""
    handle.write("\t".join(header) + "\n")
    n = 0
    for row in rows:
        handle.write("\t".join(_fmt(v) for v in row) + "\n")
        n += 1
    return n


def _fmt(value) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def read_tsv(path: PathLike, *, required: list[str] | None = None) -> tuple[list[str], list[list[str]]]:
    """Read a TSV with one header line (lines starting with ``#`` before it are skipped)."""
    text = read_text(path)
    lines = [line for line in text.split("\n") if line and not line.startswith("#")]
    if not lines:
        raise DataError(f"{path}: empty table")
    header = lines[0].split("\t")
    missing = [c for c in (required or []) if c not in header]
    if missing:
        raise DataError(f"{path}: missing column(s) {', '.join(missing)}")
    rows = []
    for number, line in enumerate(lines[1:], start=2):
        fields = line.split("\t")
        if len(fields) != len(header):
            raise DataError(f"{path}: line {number} has {len(fields)} fields, header has {len(header)}")
        rows.append(fields)
    return header, rows
