"""Writing outputs: one policy for every command, checked before any work (``check_outputs``), and atomic writes
(temp file + rename) so an interrupted run never leaves a half-written file or folder."""

from __future__ import annotations

import contextlib
import errno
import io
import json
import logging
import os
import re
import shutil
import stat
import sys
import tempfile
import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Callable, Iterator

from ..errors import DataError, StdoutClosed, UsageError
from ..interrupts import held_signals
from .files import FILES_KEY, PathLike, is_stdio, lost_current_folder, require_readable, sha256_file

log = logging.getLogger("microfuse")


def _umask() -> int:
    """The process's umask, read without setting it where Linux says it (/proc/self/status, since 4.7): setting and
    restoring it is process-wide, so a file another thread of a library user made in between got the wrong mode."""
    with contextlib.suppress(OSError, ValueError):
        with open("/proc/self/status", "rb") as status:
            for line in status:
                if line.startswith(b"Umask:"):
                    return int(line.split()[1], 8)
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _usual_mode(folder: bool = False) -> int:
    """The mode open() or mkdir would give a new file or folder under the umask (mkstemp and mkdtemp give 0600/0700)."""
    return (0o777 if folder else 0o666) & ~_umask()


@contextlib.contextmanager
def fresh_file(path: PathLike) -> Iterator[IO[bytes]]:
    """Write ``path`` (binary) through a fresh temp file beside it, renamed into place when the block ends.

    For a file a run keeps in a folder of its own (``embed --resume``'s shards): the temp file is new (O_EXCL, never
    a fixed name that a planted link could stand at), and a link at ``path`` is replaced, never written through.
    It gets the umask's mode, as open() gives a new file: mkstemp's 0600 left a group's shared folder unreadable to
    the others. Flushed and fsynced before the rename; removed when the block fails, ``path`` left as it was.
    Unlike :func:`atomic_output` (a user's output), a link is not followed and nothing of an old file is kept."""
    descriptor, tmp = tempfile.mkstemp(prefix=os.path.basename(path) + ".", suffix=".tmp",
                                       dir=os.path.dirname(path) or ".")
    try:
        with open(descriptor, "wb") as handle:
            os.fchmod(handle.fileno(), _usual_mode())
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


# ------------------------------------------------------------------------------------------------ output policy
#
# One policy for every command, checked before any work (check_outputs) and honoured by the writers:
# a file output replaces only a regular file (atomically); a symlink is written through (a symlink loop is
# refused); a device or FIFO (-o /dev/null) is written into, never replaced; a folder is refused as a file output;
# a read-only output is refused. No output may be an input or another output of the same run, and two outputs may
# not share one pipe or FIFO. A write that fails names its output (DataError, exit 1). A folder output is created,
# or reused only when it is empty or holds a previous output of the same kind (its manifest), and only that kind's
# own files in it are ever replaced or removed; none of them may be an input or another output (a plain folder such
# as --plots names the files it writes).


@dataclass(frozen=True)
class FolderKind:
    """What a folder output holds: the marker file (manifest) naming its format, and every file it may write."""

    what: str
    marker: str
    format: str
    files: frozenset


FOLDER_KINDS = {
    kind.format: kind
    for kind in (
        FolderKind("embedding folder", "manifest.json", "microfuse-embeddings",
                   frozenset({"protein.npy", "context.npy", "pair_context.npy", "genes.tsv", "pairs.tsv",
                              "manifest.json"})),
        FolderKind("model folder", "config.json", "microfuse-model", frozenset({"model.safetensors", "config.json"})),
        FolderKind("index folder", "manifest.json", "microfuse-pair-index",
                   frozenset({"index.faiss", "pairs.tsv", "manifest.json"})),
        FolderKind("reference folder", "manifest.json", "microfuse-reference",
                   frozenset({"proteins.faa", "genes.tsv", "manifest.json"})),
    )
}


@dataclass(frozen=True)
class Output:
    """One planned output of a command: ``option`` names it in messages; ``kind`` is the format of a folder
    output (``""``: a plain folder that files are only added to, e.g. --plots); None for a file output."""

    option: str
    path: PathLike | None
    kind: str | None = None
    files: tuple[str, ...] = ()  # what a plain folder output (kind "") writes into it, e.g. --plots's PNGs


def folded_name(name: str) -> str:
    """``name`` as a case-insensitive file system compares names (macOS's default APFS, Windows' NTFS, a FAT or
    exFAT disk): case-folded, and in one Unicode normalisation, as APFS also takes 'é' and 'e' + U+0301 for one."""
    return unicodedata.normalize("NFD", unicodedata.normalize("NFD", name).casefold())


def name_clash(names) -> tuple[int, int] | None:
    """The indexes of the first two of ``names`` (file or folder names a run derives from its inputs, in one
    folder) that would be one file where names are compared case-blind (``A`` and ``a``), else None. Commands
    refuse such names on every system, naming both inputs: the same run on a Mac wrote one over the other, and
    on Linux made a folder that a copy to a Mac or a Windows share cannot hold whole."""
    first: dict[str, int] = {}
    for index, name in enumerate(names):
        key = folded_name(str(name))
        if key in first:
            return first[key], index
        first[key] = index
    return None


def _windows_name(name: str) -> str:
    """``name`` as NTFS (and exFAT) compare names: each UTF-16 unit upper-cased by its simple (one-to-one) mapping,
    no Unicode normalisation, so ß stays ß (its upper case SS is two letters) and é is not e + U+0301."""
    return "".join(c.upper() if ord(c) <= 0xFFFF and len(c.upper()) == 1 else c for c in name)


def clash_kind(one: str, two: str) -> tuple[str, str]:
    """Why two names ``name_clash`` paired are one name, and where: (the file system's kind, the systems). Names
    apart only in Unicode normalisation (``é`` as one code point, or ``e`` + U+0301) are one on macOS only, whatever
    their case; Windows tells them apart (was: said 'case-insensitive file system' for them too). So too names one
    only by full case folding (``ß`` and ``ss``, ``ﬁ`` and ``fi``): APFS folds them so (as the APFS readers
    linux-apfs and apfs-fuse do, to find names by their hash), NTFS maps case one letter to one letter."""
    def normal(name):
        return unicodedata.normalize("NFD", name)

    if normal(one) == normal(two):
        return ("file system that takes an accented letter written as one code point (é) and as a letter with a "
                "combining accent (e + U+0301) for one name", "macOS")
    if _windows_name(one) == _windows_name(two):
        return "case-insensitive file system", "macOS, Windows"
    if one.casefold() == two.casefold():
        return "case-insensitive file system that folds case in full, ß to ss", "macOS"
    return "case- and Unicode-normalisation-insensitive file system", "macOS"  # 'É' and 'e' + U+0301


def escaped_name(name: str) -> str:
    """``name`` with every non-ASCII character as a Python escape (é: \\u00e9), so two names that print alike show
    how they differ."""
    return "".join(c if c.isascii() and c.isprintable() else
                   f"\\u{ord(c):04x}" if ord(c) <= 0xFFFF else f"\\U{ord(c):08x}" for c in name)


def clash_phrase(one: str, two: str, thing: str, shown: tuple[str, str] | None = None, note: str = "") -> str:
    """'ONE and TWO, one THING on a KIND (SYSTEMS)': the part of a refusal of two names ``name_clash`` paired that
    every command words alike (one builder: embed's and evaluate's messages had each their own). ``shown``: the
    paths that hold the names, said in their place (``-o/NAME``); ``note`` goes inside the parentheses. Names
    that print alike (NFC é and NFD e + U+0301) are also shown escaped, one line still."""
    kind, systems = clash_kind(one, two)
    first, second = shown or (one, two)
    if one != two and unicodedata.normalize("NFC", one) == unicodedata.normalize("NFC", two):
        first, second = f"{first} (written {escaped_name(one)})", f"{second} (written {escaped_name(two)})"
    return f"{first} and {second}, one {thing} on a {kind} ({systems}{'; ' + note if note else ''})"


def _inner_files(output: Output) -> list[str]:
    """The files a folder output may replace or remove inside its folder: its kind's files, or those it names."""
    names = FOLDER_KINDS[output.kind].files if output.kind else output.files
    return [os.path.join(output.path, name) for name in sorted(names)]


def folder_format(folder: PathLike) -> str | None:
    """The format named by a folder's manifest (or model config), None when it has none."""
    for marker in sorted({kind.marker for kind in FOLDER_KINDS.values()}):
        try:
            doc = json.loads((Path(folder) / marker).read_text(encoding="utf-8"))
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and doc.get("format") in FOLDER_KINDS:
            return doc["format"]
    return None


def _is_special(path: PathLike) -> bool:
    """A device, FIFO or socket: written into, never replaced (stat follows symlinks such as /dev/stdout)."""
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return False
    return not stat.S_ISREG(mode) and not stat.S_ISDIR(mode)


def _refuse_socket(output: Output) -> None:
    """A UNIX socket cannot be opened as a file (the write failed with exit 1 after all the work): bad usage."""
    if stat.S_ISSOCK(os.stat(output.path).st_mode):
        raise UsageError(f"{output.option} {output.path} is a socket, which cannot be written as a file; give a file "
                         "path, or - and a pipe")


#: Paths that name an open file descriptor of this process (the shell's redirections).
_DESCRIPTOR = re.compile(r"/dev/std(in|out|err)|/dev/fd/(\d+)|/proc/(self|thread-self|\d+)/fd/(\d+)")
_STANDARD = {"in": 0, "out": 1, "err": 2}


def _descriptor_named(path: PathLike) -> int | None:
    """The descriptor that ``/dev/stdout``, ``/dev/fd/N``, ``/proc/self/fd/N``, or a symlink to one names, else None.
    Such a path is written into (appended to), never replaced; the file behind it is the one the shell opened
    (``>> log`` must keep what the log held)."""
    current = os.path.abspath(path)
    for _ in range(40):  # the kernel's own limit on symlink hops
        found = _DESCRIPTOR.fullmatch(current)
        if found:
            return _STANDARD[found[1]] if found[1] else int(found[2] or found[4])
        if not os.path.islink(current):
            return None
        current = os.path.normpath(os.path.join(os.path.dirname(current), os.readlink(current)))
    return None


def _names_a_descriptor(path: PathLike) -> bool:
    return _descriptor_named(path) is not None


def names_stdout(path: PathLike) -> bool:
    """Whether an output path is stdout: ``-``, ``/dev/stdout``, ``/dev/fd/1`` or a symlink to one."""
    return str(path) == "-" or _descriptor_named(path) == _STANDARD["out"]


def _check_descriptor(output: Output, read: dict) -> None:
    """A descriptor path must name a descriptor open for writing: reopening a closed one (`2>&-`) or a read-only one
    (a wrapper script that bash left open on descriptor 2) opened whatever file held that number, and the output
    was appended to it: the wrapper script, or another output's temp file."""
    import fcntl

    fd = _descriptor_named(output.path)
    if fd is None or _identity(output.path) in read:  # `-o /dev/stdin < genome.gff`: said to be an input below
        return
    closed = {1: sys.stdout, 2: sys.stderr}.get(fd, True) is None  # Python found it closed at start-up
    try:
        writable = fcntl.fcntl(fd, fcntl.F_GETFL) & os.O_ACCMODE in (os.O_WRONLY, os.O_RDWR)
    except OSError:
        writable = False
    if closed or not writable:
        raise UsageError(f"{output.option} {output.path}: descriptor {fd} is not open for writing (closed, or "
                         "read-only)")


def _identity(path: PathLike) -> tuple:
    """Same file <=> same identity: the inode when it exists (hard links, symlinks), else the resolved path.

    The resolved path is what a writer writes (``os.path.realpath``), and it may exist where the path as spelled
    does not: `-o nothere/../genome.gff` resolves past the missing folder onto the input genome, which was then
    replaced by the scores."""
    for spelled in (path, os.path.realpath(path)):
        try:
            info = os.stat(spelled)
            return ("inode", info.st_dev, info.st_ino)
        except OSError:
            continue
    return ("path", os.path.realpath(path))


def check_outputs(inputs, outputs, *, read_later=()) -> None:
    """Refuse, before any work, outputs that would destroy something (UsageError, exit 2), then inputs that are not
    there ('no such file: PATH') or cannot be read (DataError, exit 1): one call, so no command checks its outputs
    against inputs it never made sure exist. A bad output is said before a missing input.

    ``inputs``: paths (files or folders; None and ``-`` are skipped) the run reads; ``outputs``: its
    :class:`Output` plan; ``read_later``: paths also read that may be absent here, their reader saying so in its own
    words (a model folder: 'no such model folder: PATH'; a vector file's pair-id table): only outputs are checked
    against them.
    """
    inputs = list(inputs)
    if any(path is not None and not os.fspath(path) for path in inputs):  # was 'no such file: ' (naming nothing)
        raise UsageError("an input is an empty path (an unset shell variable?); give a file name, or - for stdin")
    _check_outputs([*inputs, *read_later], outputs)
    for path in inputs:
        if not is_stdio(path):
            require_readable(path)


def _check_outputs(inputs, outputs) -> None:
    planned = [o for o in outputs if o.path is not None]
    inputs = list(inputs)
    for output in planned:  # `-o "$OUT"` with OUT unset: '' was the current folder, an embedding folder written there
        if not os.fspath(output.path):
            raise UsageError(f"{output.option} is an empty path (an unset shell variable?); give a "
                             f"{'file' if output.kind is None else 'folder'} name")
    _check_current_folder([*inputs, *(o.path for o in planned)])
    for output in planned:
        if output.kind is not None and is_stdio(output.path):
            raise UsageError(f"{output.option} takes a folder, and a folder cannot be stdout ('-'); give a folder name")
    to_stdout = [o.option for o in planned if is_stdio(o.path)]
    if len(to_stdout) > 1:
        raise UsageError(f"only one output can go to stdout ({' and '.join(to_stdout)} are both '-')")
    if to_stdout:
        stdout_stream()
    if sum(1 for p in inputs if p is not None and is_stdio(p)) > 1:  # `pairs - --fasta -`: the second read nothing
        raise UsageError("only one input can be read from stdin ('-' is given twice)")
    unlisted: dict = {}
    read = {_identity(p): str(p) for p in _input_files(inputs, unlisted)}
    _add_unlisted(read, unlisted, planned)
    stdin = _descriptor_identity(sys.stdin) if any(p is not None and is_stdio(p) for p in inputs) else None
    if stdin is not None:  # `-o genome.gff < genome.gff`: the file behind stdin is read too
        read.setdefault(stdin, "stdin")
    written: dict = {}
    for output in planned:
        if is_stdio(output.path):
            key = _shared_stream(output.path)  # `>> genome.gff` appends to the file being read
            if key in read:
                raise UsageError(f"{output.option} {output.path} is also an input ({read[key]}); refusing to "
                                 "overwrite it")
            _claim_stream(key, output, written)
            continue
        _check_descriptor(output, read)  # a closed one (`-o /dev/fd/9`) is said so first, not as an open one below
        if output.kind is not None and _names_a_descriptor(output.path) and not os.path.isdir(output.path):
            # `-o /dev/stdout | ...`: a pipe's /proc path does not exist, so it was taken for a new folder and the
            # run failed after the work ('No such file or directory')
            raise UsageError(f"{output.option} takes a folder, and {output.path} names an open descriptor (a pipe, "
                             "a terminal or a redirected file), not a folder; give a folder name")
        _check_target(output)
        if _is_special(output.path):
            _refuse_socket(output)
            _claim_stream(_shared_stream(output.path), output, written)
            continue
        key = _identity(output.path)
        if key in read:
            also = "" if str(read[key]) == str(output.path) else f" ({read[key]})"
            raise UsageError(f"{output.option} {output.path} is also an input{also}; refusing to overwrite it")
        if key in written:
            raise UsageError(f"{written[key].option} and {output.option} are the same file ({output.path}); "
                             "give each output its own path")
        written[key] = output
        if output.kind is not None:
            _check_inner_files(output, read, written)
    _check_names_apart(planned)


def _check_names_apart(planned) -> None:
    """Two outputs of one folder whose names are one on a case-insensitive file system (`score G -o S.tsv
    --operons-tsv s.tsv`, `evaluate -o figs/ROC.png --plots figs`): refused on every system, as derived names
    are (``name_clash``): on a Mac the second write replaced the first, on Linux the folder cannot be copied whole
    to a Mac or a Windows share. Names the user typed were only compared as paths, so S.tsv and s.tsv passed."""
    seen: dict[tuple, tuple[str, str]] = {}
    for output in planned:
        if is_stdio(output.path) or _is_special(output.path) or _names_a_descriptor(output.path):
            continue
        files = [(f"{output.option} {output.path}", output.path)]
        if output.kind is not None:
            files += [(f"{inner} ({output.option})", inner) for inner in _inner_files(output)]
        for shown, path in files:
            folder, name = _entry(path)
            key = (folder, folded_name(name))
            if key in seen and seen[key][1] != name:
                first, other = seen[key]
                raise UsageError(f"outputs {clash_phrase(other, name, 'file', (first, shown))}; "
                                 "give each output a name of its own")
            seen.setdefault(key, (shown, name))


def _entry(path: PathLike) -> tuple[tuple, str]:
    """The folder a path's last name is an entry of, as the kernel finds it (its ``_identity``), and that name:
    `lnk/../S.tsv` is an entry of the folder above lnk's target, not of the current folder (``abspath`` drops
    `lnk/..` as text). `figs/` is figs; `.` and `..` are the folder's own name in its parent."""
    spelled = os.fspath(path).rstrip(os.sep) or os.sep
    folder, name = os.path.split(spelled)
    if name in ("", ".", ".."):
        folder, name = os.path.split(os.path.realpath(spelled))
    return _identity(folder or "."), name


def _check_current_folder(paths) -> None:
    """A relative path needs the current folder: one removed under a running job (a cleaned scratch space) made
    every relative path 'No such file or directory', naming nothing."""
    relative = [p for p in paths if p is not None and not is_stdio(p) and not os.path.isabs(p)]
    if not relative:
        return
    try:
        os.getcwd()
    except FileNotFoundError:
        raise UsageError(f"cannot resolve {relative[0]}: the current folder no longer exists; cd into one, or give "
                         "absolute paths") from None


def _shared_stream(path: PathLike | None) -> tuple | None:
    """The identity of what ``-`` or a device path writes into (a pipe, FIFO, socket, or the file behind a
    redirection); None for a character device (/dev/null, a terminal), which any number of outputs may share."""
    try:
        info = os.fstat(stdout_stream().fileno()) if is_stdio(path) else os.stat(path)
    except (OSError, ValueError, AttributeError):  # no descriptor (a test runner's stdout)
        return None
    return None if stat.S_ISCHR(info.st_mode) else ("inode", info.st_dev, info.st_ino)


def _claim_stream(key: tuple | None, output: Output, written: dict) -> None:
    """Two outputs into one pipe (`-o - --proteins /dev/stdout | ...`) arrive as one mixed stream: refused as two
    outputs to stdout are."""
    if key is None:
        return
    if key in written:
        raise UsageError(f"{written[key].option} and {output.option} write into the same stream ({output.path}); "
                         "give each output its own file")
    written[key] = output


def _check_inner_files(output: Output, read: dict, written: dict) -> None:
    """A folder output replaces files of fixed names inside it: none may be an input (`embed emb/pairs.tsv -o emb`
    replaced the labelled table it read) or another output (`evaluate -o figs/roc.png --plots figs`)."""
    for inner in _inner_files(output):
        if len(os.fsencode(os.path.basename(inner))) > NAME_MAX:  # a figure named after a long table name
            raise UsageError(f"{output.option} {output.path} would hold {os.path.basename(inner)[:40]}..., a name "
                             f"longer than {NAME_MAX} bytes, the file system's limit; give shorter names")
        key = _identity(inner)
        if key in read:
            also = "" if read[key] == inner else f" ({read[key]})"
            raise UsageError(f"{output.option} {output.path} would replace {inner}, which is an input{also}; give "
                             "another folder")
        if key in written:
            raise UsageError(f"{written[key].option} and {output.option} are the same file ({inner}); "
                             "give each output its own path")
        written[key] = output


def _add_unlisted(read: dict, unlisted: dict, planned) -> None:
    """An existing output file (or file of fixed name in a folder output) in an input folder that could not be
    listed counts as an input, named by that folder: it may be one of its files (`-o MODEL/config.json`), so too
    where the output is a symlink into the folder, which is written through (`-o link.tsv`, a link to
    MODEL/config.json, replaced the model's config)."""
    for output in planned if unlisted else ():
        if is_stdio(output.path) or _is_special(output.path):
            continue
        for path in [output.path, *(_inner_files(output) if output.kind is not None else ())]:
            folders = {_entry(path)[0], _identity(os.path.dirname(os.path.realpath(path)))}
            named = next((unlisted[folder] for folder in folders if folder in unlisted), None)
            if named is not None and os.path.lexists(path):
                read.setdefault(_identity(path), named)


def _descriptor_identity(stream) -> tuple | None:
    """The identity of the file behind stdin or stdout (a shell's ``< file``, ``>> file``), None without one."""
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):  # no descriptor (a test runner's stdin)
        return None
    return ("inode", info.st_dev, info.st_ino)


def _input_files(inputs, unlisted: dict | None = None) -> Iterator[PathLike]:
    """The inputs, and the files directly inside an input folder (a model, embeddings, an index: a few files).

    A folder that cannot be listed (no read permission: a packaged default model installed so, which `evaluate`
    only compares tables with) is not listed: its reader says so in its own words, or does without it. Its
    identity goes into ``unlisted``, so that a file already in it is still never written (was: 'Permission
    denied', exit 1, from `evaluate`, which does not need that model)."""
    for path in inputs:
        if is_stdio(path) or _is_special(path):
            continue
        yield path
        if os.path.isdir(path):
            try:
                entries = [entry.path for entry in os.scandir(path) if entry.is_file()]
            except OSError:
                if unlisted is not None:
                    unlisted.setdefault(_identity(path), str(path))
                continue
            yield from entries


def _symlink_loop(path: Path) -> bool:
    try:
        os.stat(path)
    except OSError as exc:
        return exc.errno == errno.ELOOP
    return False


def _read_only(path: Path) -> bool:
    """A regular file or folder the runner may not write: the shell's ``>`` refuses it, cp asks; replacing it by a
    rename (which needs only the folder's write bit) would bypass what its owner said. Root's access() ignores the
    bits, so for root it is one nobody may write (chmod a-w); for anyone else, what access() says (another user's
    0644 table in a shared group folder, or one's own file with its owner write bit off)."""
    try:
        info = os.stat(path)
    except OSError:
        return False
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        return False
    if not info.st_mode & 0o222:
        return True
    return os.geteuid() != 0 and not os.access(path, os.W_OK)


def _foreign_in_sticky_folder(path: Path) -> bool:
    """A file of another user in a folder with the sticky bit (a 1777 scratch space), which a rename by anyone but
    its owner, the folder's or root cannot replace: refused up front, where the rename failed after the work."""
    try:
        info, folder = os.stat(path), os.stat(path.parent)
    except OSError:
        return False
    me = os.geteuid()
    return bool(folder.st_mode & stat.S_ISVTX) and me not in (0, info.st_uid, folder.st_uid)


def _check_target(output: Output) -> None:
    path = Path(output.path)
    if len(os.fsencode(os.path.abspath(path))) >= PATH_MAX:  # was 'File name too long (PATH)', exit 1, 4 kB long
        raise UsageError(f"{output.option} {str(output.path)[:40]}...: the path is longer than {PATH_MAX - 1} bytes, "
                         "the system's limit; give a shorter path")
    if len(os.fsencode(os.path.realpath(path))) >= PATH_MAX:  # written there: a link to a deep folder, as above
        raise UsageError(f"{output.option} {str(output.path)[:40]}...: the path it leads to through links is longer "
                         f"than {PATH_MAX - 1} bytes, the system's limit; give a shorter path")
    if len(os.fsencode(path.name)) > NAME_MAX:  # was 'File name too long', exit 1, as if the data were bad
        raise UsageError(f"{output.option} {path}: the name is longer than {NAME_MAX} bytes, the file system's limit; "
                         "give a shorter name")
    folder = next((part for part in path.parent.parts if len(os.fsencode(part)) > NAME_MAX), None)
    if folder is not None:  # no such folder can exist: was 'File name too long (PATH)', exit 1
        raise UsageError(f"{output.option} {path}: the folder name {folder[:40]}... is longer than {NAME_MAX} bytes, "
                         "the file system's limit; give a shorter name")
    if _symlink_loop(path):  # realpath stops inside the loop: the link itself would be replaced by the output
        raise UsageError(f"{output.option} {path}: too many levels of symbolic links (a symlink loop); give "
                         "another name")
    real = Path(os.path.realpath(path))
    parent = real.parent
    beside = parent if os.path.islink(path) else os.path.dirname(path)  # its temp files' folder, as shown
    if output.kind is None:
        if os.path.isdir(real):
            raise UsageError(f"{output.option} {path} is a directory; give a file name")
        if str(output.path).endswith(("/", "/.")):  # `> out.tsv/` fails in the shell: a file named out.tsv is not it
            raise UsageError(f"{output.option} {output.path} names a folder (it ends in '/'); give a file name")
        # os.path's tests, not Path's: Python 3.11's raise PermissionError on a path in a folder that may not be
        # searched (mode 000), which said 'Permission denied (PATH)', exit 1, for what is refused as bad usage
        if not os.path.isdir(parent):
            nearest = next((p for p in (parent, *parent.parents) if os.path.exists(p)), None)  # the deepest there
            if nearest is not None and not os.path.isdir(nearest):  # `-o out.tsv/scores.tsv`: 'does not exist' misled
                raise UsageError(f"cannot write {path}: {_spelt_as(nearest, path)} is a file, not a folder")
            if nearest is not None and not os.access(nearest, os.X_OK):  # what is inside it cannot be told
                raise _unwritable(nearest, path)
            raise UsageError(f"cannot write {path}: directory {_spelt_as(parent, path)} does not exist")
        if not os.access(parent, os.W_OK | os.X_OK):  # said now, not after hours of work at the rename
            raise _unwritable(parent, path)
        if _read_only(real):
            raise UsageError(f"{output.option} {path} is read-only; refusing to replace it (make it writable, or "
                             "give another name)")
        if _foreign_in_sticky_folder(real):
            raise UsageError(f"{output.option} {path} belongs to another user in a folder with the sticky bit "
                             "(shared scratch space), where only its owner may replace it; give another name")
        _warn_leftover_files(real, beside)
        return
    if os.path.exists(real) and not os.path.isdir(real):
        raise UsageError(f"{output.option} {path} exists and is not a folder")
    if os.path.isdir(real) and output.kind:
        check_reusable(real, output.kind, option=output.option, shown=path)
        _warn_leftovers(real, path)
    if output.kind:  # the build folder of a new one (_built_beside), beside it, that a killed run left
        _warn_leftover_files(real, beside, folders=True)
    _check_folder_writable(output, path, real)


def _check_folder_writable(output: Output, path: Path, real: Path) -> None:
    """A folder output, as a file output: refused before any work when its folder cannot be written, or when it
    (or a file of it that the run would replace) is read-only; a rename would replace a `chmod -R a-w` model."""
    if _read_only(path):
        raise UsageError(f"{output.option} {path} is read-only; refusing to write into it (make it writable, or "
                         "give another folder)")
    for inner in _inner_files(output):
        if os.path.isdir(inner):  # its file cannot replace a folder: said now, not after the work
            raise UsageError(f"{output.option} {path}: {inner} is a folder, where the run writes a file; move it "
                             "away or give another folder")
        # a kind's files are swapped in (a link replaced, its target left alone); a plain folder's (--plots) are
        # file outputs, written through a link: its target is what is replaced (a read-only one was, unasked)
        linked = not output.kind and os.path.islink(inner)  # (a relative path's realpath is no link: was said so)
        written = Path(os.path.realpath(inner) if linked else inner)
        shown = f"{inner} (a link to {written})" if linked else inner
        if not os.path.islink(written) and _read_only(written):
            raise UsageError(f"{output.option} {path}: {shown} is read-only; refusing to replace it (make it "
                             "writable, or give another folder)")
        if linked and not os.path.isdir(written.parent):  # was said after the work, exit 1, as a linked -o is before it
            raise UsageError(f"{output.option} {path}: {shown} is in a folder that does not exist; give another "
                             "folder")
        if linked and not os.access(written.parent, os.W_OK | os.X_OK):
            raise UsageError(f"{output.option} {path}: {shown} is in a folder that is not writable; give another "
                             "folder")
        if _foreign_in_sticky_folder(written):
            raise UsageError(f"{output.option} {path}: {shown} belongs to another user in a folder with the sticky "
                             "bit, where only its owner may replace it; give another folder")
    existing = real  # the folders made (mkdir -p) are the resolved path's, as the writer resolves it
    while not os.path.isdir(existing):
        if os.path.exists(existing):  # `-o pairs.tsv/emb`: mkdir -p fails there, after the work
            raise UsageError(f"cannot write {path}: {_spelt_as(existing, path)} is a file, not a folder")
        existing = existing.parent
    if not os.access(existing, os.W_OK | os.X_OK):
        raise _unwritable(existing, path)


def _unwritable(folder: Path, path: Path) -> UsageError:
    """The refusal of an output in ``folder``, which this user may not write in, said alike for file and folder
    outputs: a folder it may not search (no execute permission: mode 000, 600) is said to be so, one it may search
    but not write (mode 555) not writable. A mode-000 folder was 'may not be searched' under a file output's missing
    subfolder but 'not writable' to a file in it and to a folder output (embed -o, retrieve build -o)."""
    shown = _spelt_as(folder, path)
    if not os.access(folder, os.X_OK):
        return UsageError(f"cannot write {path}: directory {shown} may not be searched (no execute permission)")
    return UsageError(f"cannot write {path}: directory {shown} is not writable")


def _spelt_as(folder: Path, output: Path) -> Path:
    """A resolved folder on the way to an output, for messages, named as the user spelt it: the folder of
    ``output``'s path that resolves to it (`-o lnk/sub/x.tsv`: lnk/sub, not the link target's path), else ``folder``
    itself (the current folder, named by no one; one reached only through a link, as a dangling link's missing
    target). The checks walk the resolved path, as the writer makes it: a walk of the path as spelt stopped at a
    dangling link's own folder, and a folder output led by it into a folder that cannot be written was let through,
    to fail at mkdir after the work, exit 1."""
    for spelt in (output, *output.parents):
        if str(spelt) not in ("", ".") and os.path.realpath(spelt) == str(folder):
            return spelt
    return folder


def check_reusable(folder: Path, kind: str, *, option: str = "output", ignore: str | None = None,
                   shown: PathLike | None = None) -> None:
    """A folder output may be reused only when empty or holding a previous output of the same kind."""
    found = folder_format(folder)
    if found == kind:
        return
    what, name = FOLDER_KINDS[kind].what, shown or folder
    if found is not None:
        raise UsageError(f"{option} {name} is {_a(FOLDER_KINDS[found].what)}, not {_a(what)}; give another folder")
    if any(entry.name != ignore and not _LEFTOVER.fullmatch(entry.name) for entry in os.scandir(folder)):
        raise UsageError(f"{option} {name} is not empty and holds no previous {what}; refusing to write into it "
                         "(give a new or empty folder)")


#: The hidden build folder of a refill (_refill) that a killed run (SIGKILL, the OOM killer) left behind: an empty
#: folder holding only one is still empty to the user (`ls` hides it), so it does not stop a rerun. The writer's
#: process and host (``.microfuse.PID@HOST.``) are absent from names made before they were recorded.
_LEFTOVER = re.compile(r"\.microfuse\.(?:(\d{1,10})@([A-Za-z0-9-]{1,63})\.)?[A-Za-z0-9_]{8}\.tmp")

#: A temp file or folder written from another host (a cluster's shared NFS folder), whose process cannot be asked
#: whether it runs, is taken as left over once unchanged this long: longer than the usual longest cluster job.
OTHER_HOST_LEFTOVER_AGE_S = 7 * 24 * 3600

#: The end of a temp name that records its writer: ``.NAME.PID@HOST.XXXXXXXX.tmp`` (mkstemp's 8 characters).
_OWNED_TEMP = re.compile(r"\.(.+)\.(\d{1,10})@([A-Za-z0-9-]{1,63})\.[A-Za-z0-9_]{8}\.tmp", re.DOTALL)


@dataclass(frozen=True)
class TempOwner:
    """The run writing a temp file or folder, kept in its name (``PID@HOST``) so that another run can tell a live
    run's temp file (Snakemake's jobs sharing an output folder) from one left by a run that is gone."""

    pid: int
    host: str

    @classmethod
    def this_run(cls) -> "TempOwner":
        return cls(os.getpid(), _host_tag())

    @property
    def tag(self) -> str:
        return f"{self.pid}@{self.host}"

    def gone(self, modified: float, now: float) -> bool:
        """True when the writer no longer runs: a process of this host that no longer exists or has ended unreaped
        (``_zombie``), or a temp name from another host unchanged for OTHER_HOST_LEFTOVER_AGE_S (its process cannot
        be asked from here)."""
        if self.host != _host_tag():
            return now - modified > OTHER_HOST_LEFTOVER_AGE_S
        if self.pid < 1:
            return True
        try:
            os.kill(self.pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:  # another user's process: alive
            return False
        except (OverflowError, OSError):
            return True
        return _zombie(self.pid)  # killed (kill -9), not yet reaped: signal 0 still finds it, but it writes nothing


def _zombie(pid: int) -> bool:
    """Whether process ``pid`` has ended and waits to be reaped by its parent (Linux: the state in /proc/PID/stat;
    False where it cannot be told). Right after a `kill -9` its build folder was taken for a live run's."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as handle:
            line = handle.read()
    except OSError:
        return False
    state = line.rpartition(b")")[2].split()[:1]  # after the command name, which may hold ') '
    return state in ([b"Z"], [b"X"])


def _lock_descriptor(path: PathLike) -> int | None:
    """``path`` opened for an flock (read-write where allowed: NFS emulates flock with fcntl locks, which need it)."""
    for flags in (os.O_RDWR, os.O_RDONLY):
        try:
            return os.open(path, flags | os.O_NOFOLLOW)
        except OSError:
            continue
    return None


@contextlib.contextmanager
def held_lock(path: PathLike, busy: str) -> Iterator[None]:
    """Hold an exclusive flock on ``path`` (a run's marker file) while the block runs, for :func:`locked_by_another`.
    The kernel drops it when the process ends, however it ends (killed at a job's time limit, a node rebooted), so
    no PID or host name has to be trusted; where flock is unsupported nothing is held, as before. Held by another
    run (one that claimed the same folder a moment ago): UsageError ``busy``."""
    import fcntl

    descriptor = _lock_descriptor(path)
    try:
        if descriptor is not None:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise UsageError(busy) from None
            except OSError:
                pass
        yield
    finally:
        if descriptor is not None:
            os.close(descriptor)


def locked_by_another(path: PathLike) -> bool:
    """Whether a live process holds :func:`held_lock` on ``path`` (False where it cannot be told)."""
    import fcntl

    descriptor = _lock_descriptor(path)
    if descriptor is None:
        return False
    try:
        fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return False
    finally:
        os.close(descriptor)  # and with it the lock just taken
    return False


def _host_tag() -> str:
    """This host's short name, in the characters a temp name may hold (a cluster's nodes share NFS folders)."""
    import socket

    short = re.sub(r"[^A-Za-z0-9-]", "", socket.gethostname().split(".")[0])[:63]
    return short or "host"


def _left_over(entry: os.DirEntry, owner: TempOwner | None, now: float) -> bool:
    """A temp name without a recorded writer (made before they were recorded) counts as left over, as it always did."""
    if owner is None:
        return True
    try:
        modified = entry.stat(follow_symlinks=False).st_mtime
    except OSError:  # removed meanwhile: its run finished
        return False
    return owner.gone(modified, now)


def _refill_owner(name: str) -> TempOwner | None:
    found = _LEFTOVER.fullmatch(name)
    return TempOwner(int(found[1]), found[2]) if found and found[1] else None


def interrupted_swap(folder: PathLike) -> str | None:
    """The name of the build folder (in ``folder``, a folder output) of a run that was killed (SIGKILL, a power cut)
    midway through swapping its files in, leaving ``folder`` part old, part new; None when there is none. Such a
    build folder still holds its marker (moved last) but lacks a file the marker lists (already moved): one killed
    before its swap holds them all (``folder`` as it was), one killed after is empty. A live run's is never named,
    nor one whose folder was written again since (its marker newer than the killed run's, or, where the marker
    lists checksums, the files moved in not that run's): it was refused for as long as the build folder stayed."""
    import time

    now = time.time()
    with contextlib.suppress(OSError):
        for entry in sorted((e for e in os.scandir(folder) if _LEFTOVER.fullmatch(e.name)), key=lambda e: e.name):
            if not (entry.is_dir(follow_symlinks=False) and _left_over(entry, _refill_owner(entry.name), now)):
                continue
            kind = folder_format(entry.path)
            if kind is None:  # killed before its marker was written: nothing was swapped in
                continue
            marker = FOLDER_KINDS[kind].marker
            with contextlib.suppress(OSError, ValueError):
                if os.stat(Path(folder, marker)).st_mtime_ns > os.stat(Path(entry.path, marker)).st_mtime_ns:
                    continue  # written again after that run was killed (a rerun wrote its marker later)
                doc = json.loads(Path(entry.path, marker).read_text(encoding="utf-8"))
                listed = doc.get(FILES_KEY) if isinstance(doc.get(FILES_KEY), dict) else None
                names = (set(listed) if listed is not None else FOLDER_KINDS[kind].files - {marker}) & \
                    FOLDER_KINDS[kind].files  # never a name that leaves the folder ('../x')
                moved = sorted(name for name in names if not os.path.lexists(os.path.join(entry.path, name)))
                # where listed, the files moved in are that run's (a copy without times, `cp -r`, could make a
                # folder written again since look older; moving the rest in, as the message says, then mixed it)
                if moved and (listed is None or all(sha256_file(Path(folder, name)) == listed[name] for name in moved)):
                    return entry.name
    return None


def _warn_leftovers(folder: Path, shown: PathLike) -> None:
    """Name build folders left by a killed run (never removed here: another run may be building in one now); a
    live run's (same host, its process still there) is not named."""
    import logging
    import time

    now = time.time()
    for entry in sorted(os.scandir(folder), key=lambda e: e.name):
        if _LEFTOVER.fullmatch(entry.name) and _left_over(entry, _refill_owner(entry.name), now):
            logging.getLogger("microfuse").warning("%s: left by an interrupted run; remove it to free its space",
                                                os.path.join(shown, entry.name))


def _temp_file_owner(name: str, target: str) -> tuple[bool, TempOwner | None]:
    """Whether ``name`` is a temp file of the output named ``target`` (atomic_output's mkstemp name, the output's
    name cut to fit NAME_MAX), and the writer its name records (None in names made before writers were)."""
    if re.fullmatch(re.escape(_temp_prefix(target, None)) + r"[A-Za-z0-9_]{8}\.tmp", name, re.DOTALL):
        return True, None
    found = _OWNED_TEMP.fullmatch(name)
    if not found:
        return False, None
    written, wanted = os.fsencode(found[1]), os.fsencode(target)
    cut = len(os.fsencode(name)) == NAME_MAX and wanted.startswith(written)
    return (True, TempOwner(int(found[2]), found[3])) if written == wanted or cut else (False, None)


def _warn_leftover_files(target: Path, shown_folder: PathLike, *, folders: bool = False) -> None:
    """Name the temp files of ``target`` (atomic_output's mkstemp names) that a killed run (SIGKILL, a scheduler's
    retry) left beside it: hidden, they piled up unseen. A live run's (a concurrent job writing the same output) is
    not named. Never removed here: the run that wrote one may still be running on another host. ``folders``: the
    temp folders a new folder output is built in (mkdtemp, the same names), as large as the output itself."""
    import logging
    import time

    now = time.time()
    with contextlib.suppress(OSError):
        for entry in sorted(os.scandir(target.parent), key=lambda e: e.name):
            ours, owner = _temp_file_owner(entry.name, target.name)
            shaped = entry.is_dir(follow_symlinks=False) if folders else entry.is_file(follow_symlinks=False)
            if ours and shaped and _left_over(entry, owner, now):
                logging.getLogger("microfuse").warning("%s: left by an interrupted run; remove it to free its space",
                                                    os.path.join(shown_folder, entry.name))


def _a(noun: str) -> str:
    return f"{'an' if noun[0] in 'aeiou' else 'a'} {noun}"


def _keep_access(tmp: PathLike, target: Path) -> None:
    """Give ``tmp``, about to replace ``target``, the permissions ``target`` has (as the shell's ``>``: a private
    result stays private) and, where allowed, its owner and group (as `sed -i`; the shell's ``>`` keeps both): a
    lab's group-shared 0660 table came back the runner's own (root's, in a container) and the lab lost it. A new file
    gets the user's usual permissions (mkstemp makes 0600)."""
    try:
        info = os.stat(target)
    except OSError:
        os.chmod(tmp, _usual_mode())
        return
    for owner, group in ((info.st_uid, info.st_gid), (-1, info.st_gid)):  # a user may give a group of theirs alone
        try:
            os.chown(tmp, owner, group)
            break
        except OSError:
            continue
    os.chmod(tmp, stat.S_IMODE(info.st_mode))  # after chown, which clears the set-id bits


def stdout_stream() -> IO[str]:
    """sys.stdout; refused (exit 2) when the shell closed it (`>&-`), where Python leaves ``sys.stdout`` None."""
    if sys.stdout is None:
        raise UsageError("stdout is closed; give -o FILE")
    return sys.stdout


def _utf8(stream: IO[str]) -> IO[str]:
    """stdout writing UTF-8, as every file output does: under a non-UTF-8 locale (en_US.ISO-8859-1, or
    PYTHONIOENCODING) a gene id out of that charset ended the table half-written with an internal error."""
    if (stream.encoding or "").lower().replace("-", "").replace("_", "") != "utf8" and hasattr(stream, "reconfigure"):
        stream.reconfigure(encoding="utf-8")
    return stream


def _compressor(suffix: str) -> Callable[[IO[bytes]], IO[bytes]] | None:
    """A compressor writing into a raw file for a .gz, .bz2 or .xz name, else None: `-o scores.tsv.gz` held plain
    text, which zcat and pandas (compression by suffix) refuse. gzip without a time stamp or name: reruns give the
    same bytes."""
    if suffix == ".gz":
        import gzip

        return lambda raw: gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0)
    if suffix == ".bz2":
        import bz2

        return lambda raw: bz2.BZ2File(raw, "wb")
    if suffix == ".xz":
        import lzma

        return lambda raw: lzma.LZMAFile(raw, "wb")
    return None


#: The longest file name (bytes) that file systems allow (ext4, xfs, btrfs, tmpfs, NFS).
NAME_MAX = 255
#: Linux's limit on a whole path (bytes, with its terminating NUL): a longer one is ENAMETOOLONG, whatever exists.
PATH_MAX = 4096


def _temp_prefix(name: str, owner: TempOwner | None) -> str:
    """``.NAME.PID@HOST.``, the start of an output's temp name (mkstemp adds 8 characters and ``.tmp``; ``.NAME.``
    without an owner, as names were before), with NAME cut so the whole fits in NAME_MAX bytes: a valid output name
    of 242+ bytes made 'File name too long' after the work."""
    tag = f"{owner.tag}." if owner is not None else ""
    raw = os.fsencode(name)[:NAME_MAX - len(".." + tag + "x" * 8 + ".tmp")]
    return f".{os.fsdecode(raw)}.{tag}"


@contextlib.contextmanager
def atomic_output(path: PathLike | None, mode: str = "w", *, _renames: list | None = None) -> Iterator[IO]:
    """Open ``path`` for writing through a temp file renamed into place on success.

    ``None`` or ``-`` writes to stdout. On any exception (Ctrl-C included) the temp file is removed and
    an existing file at ``path`` is left untouched. A symlink is written through (the file it points to is
    replaced); a device or FIFO (``/dev/null``) is opened and written into, never replaced; a descriptor path
    (``/dev/stdout``) is appended to: the shell opened (and, for ``>``, emptied) that file itself.
    ``_renames``: the rename is left to ``write_outputs``, which does them all once every file is on disk.
    ``mode`` ``"path"``: the path of the temp file is yielded, for a writer that writes a file by its name itself
    (safetensors.torch.save_file, which streams tensors to disk); only a regular file is written so.
    """
    if mode == "path" and is_stream(path):  # written by its name, a FIFO would be replaced, stdout has none
        raise UsageError(f"cannot write {path}: it must be a regular file, not a stream or device")
    if is_stdio(path):
        stream = stdout_stream().buffer if "b" in mode else _utf8(stdout_stream())
        try:
            with _write_failure_named("stdout", None):  # `> /dev/full`: was 'error: No space left on device'
                yield stream
                stream.flush()
        except BrokenPipeError:
            raise StdoutClosed() from None
        return
    _refuse_empty(path, "file")
    _refuse_lost_current_folder(path)
    text_args = {} if "b" in mode else {"encoding": "utf-8", "newline": "\n"}
    descriptor = _names_a_descriptor(path)
    packer = _compressor(Path(path).suffix.lower())
    if descriptor or _is_special(path):  # compressed as a file of its name is (`gzip -c > fifo.gz`): was plain text
        opened = mode if packer is None else "wb"
        with _write_failure_named(path, path):
            handle = open(path, opened.replace("w", "a") if descriptor else opened,
                          **({} if "b" in opened else text_args))
        with _closed_after(handle, path, path):
            with _packed(handle, packer, mode, text_args, path, path) as packed:
                yield packed
        return
    target = Path(os.path.realpath(path))
    if target.is_dir():
        raise UsageError(f"{path} is a directory; give a file name")
    parent = target.parent
    if not parent.is_dir():
        raise DataError(f"cannot write {path}: directory {parent} does not exist")
    try:
        fd, tmp = tempfile.mkstemp(prefix=_temp_prefix(target.name, TempOwner.this_run()), suffix=".tmp",
                                   dir=parent)
    except OSError as exc:  # a folder nothing may be made in (/proc, a read-only mount): named our temp file
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from exc
    _keep_access(tmp, target)
    try:
        if mode == "path":
            os.close(fd)
            with _write_failure_named(path, tmp):
                yield tmp
                _keep_access(tmp, target)  # the writer may have renamed a file of its own onto it (safetensors does)
                with open(tmp, "rb") as written:
                    os.fsync(written.fileno())
        else:
            opened = mode if packer is None else "wb"
            with _closed_after(os.fdopen(fd, opened, **({} if "b" in opened else text_args)), path, tmp,
                               sync=True) as raw:
                with _packed(raw, packer, mode, text_args, path, tmp) as packed:  # its trailer written before the sync
                    yield packed
        if _renames is None:
            with _write_failure_named(path, tmp):
                os.replace(tmp, target)
        else:
            _renames.append((tmp, target))
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


@contextlib.contextmanager
def _packed(raw: IO, packer: Callable[[IO[bytes]], IO[bytes]] | None, mode: str, text_args: dict, path: PathLike,
            tmp: PathLike) -> Iterator[IO]:
    """What the writer writes into: ``raw`` itself, or a compressor into it (text through a wrapper), closed (its
    trailer written) when the block ends."""
    if packer is None:
        yield _Named(raw, path)
        return
    with _closed_after(packer(raw), path, tmp) as packed:
        yield _Named(packed if "b" in mode else io.TextIOWrapper(packed, write_through=True, **text_args), path)


def is_stream(path: PathLike | None) -> bool:
    """stdout, a descriptor path (``/dev/stdout``, a shell's ``>(cmd)``), a FIFO or a device: written into, in
    order, by a reader that may stop early; never replaced."""
    if is_stdio(path):
        return True
    if lost_current_folder(path):  # a relative path cannot be resolved: atomic_output names the cause
        return False
    return _names_a_descriptor(path) or _is_special(path)


def write_outputs(writers) -> None:
    """A run's outputs, each ``(path, mode, write)`` with ``write(handle)`` writing it (mode ``"path"``:
    ``write(name)`` writing the file of that name, atomic_output's temp file): the files as one set (none replaces
    its previous version before all are written; Ctrl-C waits once the renames began), then the streams
    (``is_stream``), so that a reader that stops early (`| head`, `-o >(head)`) ends only its stream, never a
    file, and a stream that fails leaves the files whole."""
    with _renamed_together() as renames:
        for path, mode, write in writers:  # one after the other: a run with many figures holds one open at a time
            if not is_stream(path):
                with atomic_output(path, mode, _renames=renames) as handle:
                    write(handle)
    for path, mode, write in writers:
        if is_stream(path):
            with atomic_output(path, mode) as handle:
                write(handle)


def _refuse_empty(path: PathLike, what: str) -> None:
    """An empty output path (a library caller's unset variable): `PairIndex.save("")` wrote the index into the
    current folder, replacing one there; check_outputs refuses it for the CLI, this for every writer."""
    if not os.fspath(path):
        raise UsageError(f"an output path is empty (an unset variable?); give a {what} name")


def _refuse_lost_current_folder(path: PathLike) -> None:
    """A relative output whose current folder was removed during the run (a cleaned scratch space; check_outputs
    says it before any work) fails as one line naming it, exit 1: was 'error: No such file or directory'."""
    if lost_current_folder(path):
        raise DataError(f"cannot write {path}: the current folder was removed during the run; give absolute paths")


@contextlib.contextmanager
def _write_failure_named(path: PathLike, tmp: PathLike) -> Iterator[None]:
    """A write that fails (a full disk, `ulimit -f`, a quota) as one line naming the output, exit 1: the kernel's
    reason alone ('File too large') did not say which of a run's files it was. Errors naming another file (an
    input read while writing) pass as they are."""
    try:
        yield
    except OSError as exc:
        if isinstance(exc, BrokenPipeError) or (exc.filename is not None and (tmp is None or not str(
                exc.filename).startswith(str(tmp)))):
            raise
        folder = os.path.dirname(tmp) if tmp is not None else None
        if exc.errno == errno.ENOENT and folder and not os.path.isdir(folder):
            raise DataError(f"cannot write {path}: its folder {folder} was removed during the run") from exc
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from exc


@contextlib.contextmanager
def _closed_after(handle: IO, path: PathLike, tmp: PathLike, *, sync: bool = False) -> Iterator[IO]:
    """``handle``, flushed (and fsynced) and closed after the block; when the block failed, closed quietly: the
    buffer it still holds fails again on a full disk, and that second error would hide the first, named one."""
    try:
        yield handle
        with _write_failure_named(path, tmp):
            handle.flush()
            if sync:
                os.fsync(handle.fileno())
            handle.close()
    except BaseException:
        with contextlib.suppress(OSError):
            handle.close()
        raise


class _Named:
    """An output's handle whose failed writes name that output: a run writes several (``write_outputs``), and only
    the handle written to knows which file a full disk stopped."""

    def __init__(self, handle: IO, path: PathLike):
        self._handle, self._path = handle, path

    def write(self, data):
        with _write_failure_named(self._path, None):
            return self._handle.write(data)

    def writelines(self, lines) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        with _write_failure_named(self._path, None):
            self._handle.flush()

    def __getattr__(self, name):
        return getattr(self._handle, name)


def save_npy(file, array, *, digest=None) -> None:
    """np.save through Python's own writes: numpy's C writer reports a failed write without its reason
    ('19040 requested and 5088 written'); a Python write raises the kernel's (ENOSPC, EFBIG). ``digest``: a
    hashlib object updated with every byte written, so a checksum is had without reading the file back (`score
    --fused` records its vectors' in their ids file, Embeddings.save its arrays' in its manifest)."""
    import numpy as np

    class _Writes:  # not a real file to numpy, so it writes in chunks through write()
        def __init__(self, handle):
            self.write = handle.write if digest is None else self._hashed
            self._handle = handle

        def _hashed(self, data):
            digest.update(data)
            return self._handle.write(data)

    if isinstance(file, (str, os.PathLike)):
        with open(file, "wb") as handle:
            np.save(_Writes(handle), array, allow_pickle=False)
    else:
        np.save(_Writes(file), array, allow_pickle=False)


@contextlib.contextmanager
def _renamed_together() -> Iterator[list[tuple[str, Path]]]:
    """A list that ``atomic_output(..., _renames=)`` adds its finished temp files to: all are renamed into place when
    the block ends (Ctrl-C waits once the renames began), or all removed when it fails."""
    renames: list[tuple[str, Path]] = []
    try:
        yield renames
        for tmp, target in renames:  # a folder removed meanwhile (a cleaned scratch space) fails before any rename
            with _write_failure_named(target, tmp):
                os.stat(tmp)
        with contextlib.ExitStack() as locks:  # another run replacing the same set waits (folders in one order)
            for folder in sorted({os.path.dirname(target) for _, target in renames}):
                locks.enter_context(_swaps_one_at_a_time(Path(folder)))
            with held_signals(lambda: bool(renames) and not os.path.exists(renames[0][0])):
                for tmp, target in renames:
                    with _write_failure_named(target, tmp):
                        os.replace(tmp, target)
    except BaseException:
        for tmp, _ in renames:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(tmp)
        raise


@contextlib.contextmanager
def atomic_directory(path: PathLike, *, overwrite: bool = True) -> Iterator[Path]:
    """Yield an empty folder to write an output into; on success it becomes ``path``, nothing half-built is left.

    A new ``path`` is built beside it and renamed into place. An existing one (``-o .`` included) is reused
    only when empty or holding a previous output of the same kind (read from the new output's own manifest):
    the new files are built in a hidden folder inside it, then each renamed over its old version, and the
    previous output's files the new one lacks are removed; nothing else in the folder is touched.
    """
    if not isinstance(path, (str, os.PathLike)):  # save(None) was a TypeError of realpath, load(None) a UsageError
        raise UsageError(f"an output folder is named by its path (str or os.PathLike), not {type(path).__name__}")
    _refuse_empty(path, "folder")
    _refuse_lost_current_folder(path)
    target = Path(os.path.realpath(path))  # a symlink is written through; `.` gets its real name
    if target.exists() and not target.is_dir():
        raise UsageError(f"cannot write {path}: exists and is not a folder")
    if target.is_dir():
        if not overwrite and any(os.scandir(target)):
            raise DataError(f"{path} exists and is not empty; pass overwrite=True to replace its output")
        with _refill(target, path) as tmp:
            yield tmp
        return
    with made_folder(target.parent):  # as `mkdir -p` (a workflow names nested folders), undone if the build fails
        with _built_beside(target, path) as tmp:
            yield tmp


@contextlib.contextmanager
def made_folder(path: PathLike) -> Iterator[Path]:
    """``mkdir -p path`` (through a symlink) for the block; when the block fails (bad data, Ctrl-C, a full disk),
    the folders it made are removed again while still empty: a failed run left a new, empty output folder (and
    its new parents) behind. A folder that existed, or that holds anything by then, is never touched."""
    target = Path(os.path.realpath(path))
    missing = [folder for folder in (target, *target.parents) if not folder.exists()]  # deepest first
    try:
        target.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # a file where a folder belongs, a read-only or pseudo file system: was a bare OSError
        # the parents made before the one that failed (`-o new/NAME-too-long/x` left new/ behind)
        _remove_made([folder for folder in missing if os.path.lexists(folder)])
        raise DataError(f"cannot make folder {exc.filename or path}: {exc.strerror or exc}") from exc
    try:
        yield target
    except BaseException:
        _remove_made(missing)
        raise


def _remove_made(made: list[Path]) -> None:
    """Remove the folders ``made`` (deepest first) while they are empty; the first that is not stops it."""
    for folder in made:
        try:
            folder.rmdir()
        except OSError:  # not empty (another run's output, a finished genome) or gone: kept as it is
            break


@contextlib.contextmanager
def _built_beside(target: Path, path: PathLike) -> Iterator[Path]:
    """A new folder output built in a temp folder beside ``target``, renamed into place when the block ends."""
    prefix = _temp_prefix(target.name, TempOwner.this_run())
    try:
        try:
            tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=target.parent))
        except FileNotFoundError:  # a parallel run that made the same new parent failed and took it back
            target.parent.mkdir(parents=True, exist_ok=True)  # (made_folder)
            tmp = Path(tempfile.mkdtemp(prefix=prefix, suffix=".tmp", dir=target.parent))
    except OSError as exc:  # a folder nothing may be made in (/proc, a read-only mount): was a bare OSError
        raise DataError(f"cannot write {path}: {exc.strerror or exc}") from exc
    try:
        with _write_failure_named(path, tmp):
            yield tmp
            _settle(tmp)
            try:
                os.replace(tmp, target)
            except OSError as exc:  # another run (same Snakemake rule twice) made it meanwhile: reused as a rerun
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST) or not target.is_dir():
                    raise
                _swap_in(tmp, target, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _settle(folder: Path) -> None:
    """Usual permissions, and every file on disk before the swap (a full disk fails here, not after)."""
    os.chmod(folder, _usual_mode(folder=True))
    for file in folder.rglob("*"):
        os.chmod(file, _usual_mode(folder=file.is_dir()))  # some writers make 0600 files
        if file.is_file():
            with open(file, "rb") as handle:
                os.fsync(handle.fileno())


def _owned_folder_prefix() -> str:
    """``.microfuse.PID@HOST.``: the start of a temp folder made inside a folder (mkdtemp adds 8 characters and
    ``.tmp``), the names ``_LEFTOVER`` knows, so ``_warn_leftovers`` names one that a killed run left."""
    return f".microfuse.{TempOwner.this_run().tag}."


@contextlib.contextmanager
def private_folder(parent: PathLike) -> Iterator[Path]:
    """A temp folder made in ``parent`` (``.microfuse.PID@HOST.XXXXXXXX.tmp``), removed with all it holds when the
    block ends, for a writer that makes temp files of its own beside the file it is given (safetensors' save_file:
    ``.tmpXXXXXX``, renamed onto it): written in here, what a kill (SIGKILL, the OOM killer) leaves is inside a
    folder the leftover warnings name as an interrupted run's, where a bare ``.tmpXXXXXX`` beside the output, as
    large as the weights, was named by none; on one file system with ``parent``, a rename out of it stays atomic."""
    folder = Path(tempfile.mkdtemp(prefix=_owned_folder_prefix(), suffix=".tmp", dir=parent))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextlib.contextmanager
def _refill(target: Path, shown: PathLike) -> Iterator[Path]:
    try:
        tmp = Path(tempfile.mkdtemp(prefix=_owned_folder_prefix(), suffix=".tmp", dir=target))
    except OSError as exc:  # an empty folder nothing may be made in (/sys): named our temp folder
        raise DataError(f"cannot write {shown}: {exc.strerror or exc}") from exc
    try:
        with _write_failure_named(shown, tmp):
            yield tmp
            _settle(tmp)
            _swap_in(tmp, target, shown)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _swap_in(tmp: Path, target: Path, shown: PathLike) -> None:
    """Move the finished output in ``tmp`` into the existing folder ``target``, file by file (the manifest last), and
    remove the previous output's files it lacks; nothing else in ``target`` is touched."""
    kind = folder_format(tmp)
    if kind is None:  # pragma: no cover - every folder writer writes its manifest
        raise DataError(f"{shown}: the new output has no manifest")
    with _swaps_one_at_a_time(target):
        check_reusable(target, kind, option="output", ignore=tmp.name, shown=shown)
        names = sorted((entry.name for entry in os.scandir(tmp)), key=lambda n: (n == FOLDER_KINDS[kind].marker, n))
        stale = [n for n in sorted(FOLDER_KINDS[kind].files - set(names)) if (target / n).is_file()]
        with held_signals(lambda: not (tmp / names[0]).exists()):  # once the first file is in place
            for name in names:  # the manifest last
                if (target / name).is_file():  # a private or group-shared file stays so, as a replaced output does
                    _keep_access(tmp / name, target / name)
                os.replace(tmp / name, target / name)
            for name in stale:
                os.unlink(target / name)
            tmp.rmdir()


@contextlib.contextmanager
def _swaps_one_at_a_time(folder: Path) -> Iterator[None]:
    """Hold an exclusive lock on ``folder`` (flock, released when the descriptor closes, a killed run's too) while a
    run puts its outputs there: two runs replacing one folder output, or one set of files, at once (a rule rerun
    while the first still writes) swapped their files in turn, leaving one run's index beside the other's manifest,
    or its scores beside the other's operons. A run's renames take milliseconds, so a lock held past
    SWAP_LOCK_WAIT_S is someone else's (`flock results/ microfuse ... -o results/x.tsv` locks the folder for the whole
    run, which then waited for itself forever) and is not waited for (a warning says so); nor is a folder that cannot
    be opened or locked (some network file systems): it is swapped into unlocked, as before."""
    import fcntl
    import time

    try:
        descriptor = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    except OSError:  # a folder the user may write but not list (chmod 333): their choice, nothing to tell
        yield
        return
    try:
        deadline = time.monotonic() + SWAP_LOCK_WAIT_S
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:  # said: a second run of the same rule may now swap beside this one
                    log.warning("%s: locked by another process for over %g s; writing into it without the lock",
                                folder, SWAP_LOCK_WAIT_S)
                    break
                time.sleep(0.02)
            except OSError as exc:  # ENOLCK, EOPNOTSUPP: said on -v only (it may explain two runs' mixed outputs)
                log.debug("%s: cannot be locked (%s); writing into it without the lock", folder, exc.strerror or exc)
                break
        yield
    finally:
        os.close(descriptor)


@contextlib.contextmanager
def updating(folder: PathLike, marker: str) -> Iterator[None]:
    """Hold an exclusive lock for a run that reads a folder output, changes it and writes it back (`retrieve build
    --append`): two such runs at once (a Snakemake rule appending each sample, -j 4) each read the old output, and
    the later write dropped the earlier run's additions, both exiting 0. The lock is taken on the folder's
    ``marker`` file (its manifest, which every write replaces last), not on the folder, which the write itself
    locks while it swaps files in (and a user's ``flock FOLDER`` may hold): a run that waited finds the marker
    replaced and locks the new one, so it reads what the other run wrote. The marker is opened for writing where it
    may be (nothing is written; NFS locks exclusively only so). A folder without the marker (reported when it is
    read) or a file system without locks is not locked (a warning says so: two runs at once may lose one's additions).
    A run wrapped in ``flock FOLDER/MARKER`` goes on under its parent's lock (:func:`_under_a_parents_lock`, Linux;
    elsewhere it waits for itself: the help names the file)."""
    descriptor = _locked_marker(Path(folder) / marker, folder)
    try:
        yield
    finally:
        if descriptor is not None:
            os.close(descriptor)


def _locked_marker(path: Path, shown: PathLike) -> int | None:
    """A descriptor of ``path`` holding its exclusive flock, the file still the one ``path`` names; None when there
    is no such file or it cannot be locked."""
    import fcntl

    said = False
    while True:
        try:  # for writing (nothing is written): NFS emulates flock with a POSIX lock, exclusive only on such a one
            descriptor = os.open(path, os.O_RDWR)
        except OSError as exc:
            if exc.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                return None
            try:  # a manifest of mode 444, a read-only mount: locked read-only (where the file system allows it)
                descriptor = os.open(path, os.O_RDONLY)
            except OSError:
                return None
        try:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if _under_a_parents_lock(path, descriptor, shown):
                    said = _take_turns(descriptor, shown, said)
                else:
                    if not said:
                        log.info("%s: waiting for another run that is updating it%s", shown, _holders(path, descriptor))
                        said = True
                    fcntl.flock(descriptor, fcntl.LOCK_EX)
            held, named = os.fstat(descriptor), os.stat(path)
        except BaseException as exc:
            os.close(descriptor)
            if isinstance(exc, FileNotFoundError):  # removed while we waited: its reader says so
                return None
            if isinstance(exc, OSError):  # ENOLCK, EOPNOTSUPP (some network file systems): updated unlocked, said
                log.warning("%s: cannot be locked (%s); updating it without the lock (two runs updating it at once "
                            "may lose one's additions)", shown, exc.strerror or exc)
                return None
            raise
        if (held.st_dev, held.st_ino) == (named.st_dev, named.st_ino):
            return descriptor
        os.close(descriptor)  # replaced by the run we waited for: lock the new one


def _under_a_parents_lock(path: Path, descriptor: int, shown: PathLike) -> bool:
    """Whether the exclusive flock on ``path`` that this run found taken is held by a parent of this run, or by this
    process through a descriptor passed down to it (Linux: :func:`~.locks.held_by_this_run`): `flock FOLDER/MARKER
    microfuse ...`, a cluster habit, made the run wait for itself forever, its parent letting go only when it ends.
    The update then goes on under that lock, which is safe: every other process that locks the file (another
    update, another run wrapped alike, on this host or another one of a network file system) waits for it until
    this run has ended, so nothing else changes the folder between this run's read and its write, the order the
    lock is for; refusing would make an error of a lock that already does the job. Updates that the parent starts at
    once (its children share its lock: `flock FOLDER/MARKER snakemake -j 2`) take turns (:func:`_take_turns`). A
    shared lock (`flock -s`) keeps other shared holders' updates running beside this one, and waiting for it would
    never end: UsageError."""
    from .locks import held_by_this_run

    holder = held_by_this_run(descriptor)
    if holder is None:
        return False
    pid, mode = holder
    if mode != "WRITE":
        raise UsageError(f"{path}: locked shared (flock -s) by pid {pid}, this run or one that started it: other "
                         f"runs could update {shown} beside this one; lock it exclusively, or not at all (the update "
                         "locks it itself)")
    log.debug("%s: locked by pid %d, this run or one that started it; updating under that lock", path, pid)
    return True


def _take_turns(descriptor: int, shown: PathLike, said: bool) -> bool:
    """Wait until no other run under the same parent's lock is updating ``shown`` (:func:`~.locks.took_a_turn`),
    saying so once (unless ``said``); whether it was said."""
    import time

    from .locks import took_a_turn

    while not took_a_turn(descriptor):
        if not said:
            log.info("%s: waiting for another run that is updating it (under the same lock)", shown)
            said = True
        time.sleep(0.05)
    return said


def _holders(path: Path, descriptor: int) -> str:
    """Who holds the lock on ``path`` (Linux: the processes /proc/locks names), said where known."""
    from .locks import live_holders

    pids = live_holders(descriptor)
    return f" (the lock on {path} is held by {' and '.join(f'pid {pid}' for pid in pids)})" if pids else ""


#: How long a run waits for another run's renames into the same folder (milliseconds, as a rule).
SWAP_LOCK_WAIT_S = 5.0



