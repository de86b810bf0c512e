"""Artefact folders (embeddings, pair index, reference set): one ``manifest.json`` layout, written and checked here.

A manifest names its ``format`` and ``format_version``, the ``microfuse_version`` that wrote it and
``files_sha256`` (file name -> SHA-256 of every data file in the folder), beside fields of the artefact's own.
Reading checks the format, the version and, unless told not to, every checksum, so a folder that is foreign,
newer, edited or half-copied is a one-line ``DataError``. (Model folders are checkpoint.py's: safetensors + config.)
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Iterable, Mapping

from .errors import DataError, UsageError
from .io.files import FILES_KEY, read_json, sha256_file
from .io.outputs import FOLDER_KINDS

MANIFEST = "manifest.json"
HEADER = ("format", "format_version", "microfuse_version", FILES_KEY)
_DIGEST = re.compile(r"[0-9a-f]{64}")
#: A manifest is a few kB; a reference set's grows with its scaffold names (~50 bytes each): 256 MiB is millions
#: of contigs. A larger one is refused before it is read, never held whole.
MAX_MANIFEST_BYTES = 256 << 20


@dataclass(frozen=True)
class ManifestKind:
    """One artefact's manifest: its format name, the versions this microfuse reads (the last is written), the noun
    its messages use ("embedding", "index", "reference") and what to tell a user whose folder is missing."""

    format: str
    versions: tuple[int, ...]
    noun: str
    hint: str

    @property
    def version(self) -> int:
        return self.versions[-1]

    @property
    def files(self) -> frozenset[str]:
        """The data files a folder of this kind may hold besides ``manifest.json``: one list, the output policy's
        (io.outputs.FOLDER_KINDS), so the files a folder may be refilled with and those it checks cannot differ."""
        return FOLDER_KINDS[self.format].files - {MANIFEST}


def write_manifest(folder: Path, kind: ManifestKind, files: Iterable[str], fields: Mapping[str, Any], *,
                   hashed: Mapping[str, str] | None = None) -> dict:
    """Hash ``files`` (names inside ``folder``) and write ``folder/manifest.json``; returns what was written.
    ``fields`` may not reuse the header keys. ``hashed``: the SHA-256 of files hashed as they were written
    (io.outputs.save_npy's ``digest``), not read back."""
    from . import __version__

    clash = set(HEADER) & set(fields)
    if clash:
        raise ValueError(f"manifest fields may not set {sorted(clash)}")
    hashed = hashed or {}
    manifest = {**fields, "format": kind.format, "format_version": kind.version, "microfuse_version": __version__,
                FILES_KEY: {name: hashed.get(name) or sha256_file(folder / name) for name in sorted(files)}}
    (folder / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return manifest


def folder_path(path, kind: ManifestKind) -> Path:
    """``path`` as a Path, refused (UsageError) unless a str or os.PathLike: Embeddings.load(None) or
    PairIndex.load(None) was a TypeError of Path()."""
    if not isinstance(path, (str, os.PathLike)):
        raise UsageError(f"the {kind.noun} folder is named by its path (str or os.PathLike), not {type(path).__name__}")
    if not os.fspath(path):  # Path("") is the current folder: the one there was read for an unset variable
        raise UsageError(f"the {kind.noun} folder's path is empty (an unset variable?)")
    return Path(path)


def read_manifest(folder: Path, kind: ManifestKind, *, required: Iterable[str] = (), verify: bool = True,
                  upgrade=None) -> dict:
    """The manifest of ``folder``, its format and version checked; every file it lists must be one of
    ``kind.files``, every ``required`` file listed, and (``verify``) each file present with its checksum.

    ``upgrade(manifest, path) -> manifest`` turns an older version's layout into this one (keeping its version
    number) before the version and file checks; it gets every manifest of the right format.
    """
    folder = folder_path(folder, kind)
    if not folder.is_dir():
        raise DataError(f"no such {kind.noun} folder: {folder} ({kind.hint})")
    path = folder / MANIFEST
    if not path.is_file():
        inner = _folders_with_manifest(folder, kind)
        if inner:  # `embed A B -o DIR` (or a workflow's outdir): DIR holds one folder per genome, not one itself
            shown = ", ".join(str(folder / name) for name in inner[:3]) + (", ..." if len(inner) > 3 else "")
            raise DataError(f"{folder}: not a microfuse {kind.noun} folder itself, but it holds {len(inner)} "
                            f"{kind.noun} folder(s) ({shown})"
                            f"{', as `embed` with several inputs writes one per genome' if kind.noun == 'embedding' else ''}"
                            ": give one of them")
        raise DataError(f"{folder}: not a microfuse {kind.noun} folder (no {MANIFEST}; {kind.hint})")
    manifest = read_json(path, MAX_MANIFEST_BYTES, "corrupted manifest, unreadable JSON")
    if not isinstance(manifest, dict) or manifest.get("format") != kind.format:
        raise DataError(f"{path}: not a microfuse {kind.noun} manifest")
    if upgrade is not None:
        manifest = upgrade(manifest, path)
    version = manifest.get("format_version")
    if version not in kind.versions or isinstance(version, bool):
        raise DataError(f"{path}: unsupported {kind.noun} format version {version!r} (this microfuse reads "
                        f"{', '.join(map(str, kind.versions))}; {kind.hint})")
    refuse_interrupted_swap(folder)
    check_files(folder, manifest.get(FILES_KEY), set(required), kind.files, verify=verify)
    return manifest


def open_listed(folder: Path, manifest: Mapping[str, Any], kind: ManifestKind, stack: ExitStack, *,
                required: Iterable[str] = (), verify: bool = True) -> dict[str, BinaryIO]:
    """The files ``manifest`` (``read_manifest``'s, read with ``verify=False``) lists, each opened once (closed with
    ``stack``) and, with ``verify``, hashed through that handle, rewound, and checked (``check_files``' digests):
    the caller reads or maps them from these handles, so the bytes it uses are those hashed. Checked by path, then
    read by path again, a file renamed into the folder between the two reads (another run's, another folder's)
    passed for the one hashed. A listed file that is missing, not a regular file or cannot be opened is left out:
    ``check_files`` says so, as before."""
    handles: dict[str, BinaryIO] = {}
    digests: dict[str, str] = {}
    hashes = manifest.get(FILES_KEY)
    for name in sorted(hashes if isinstance(hashes, dict) else ()):
        try:  # O_NONBLOCK: a FIFO renamed in does not block the open (it is left out below)
            descriptor = os.open(folder / name, os.O_RDONLY | os.O_NONBLOCK)
        except OSError:
            continue
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):  # before open(), which raises on a folder's descriptor
            os.close(descriptor)
            continue
        handle = stack.enter_context(open(descriptor, "rb"))
        if verify:
            digest = hashlib.sha256()
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
            handle.seek(0)
            digests[name] = digest.hexdigest()
        handles[name] = handle
    check_files(folder, hashes, set(required), kind.files, verify=verify, digests=digests)
    return handles


def refuse_interrupted_swap(folder: Path) -> None:
    """A folder output that a run killed midway through replacing its files (kill -9 during `retrieve build
    --append` or `train -o`, a power cut) left part old, part new: a DataError that says so and what to do. An index
    said only 'checksum mismatch (corrupted or edited since it was written)'; a model's config (format 4) records its
    weights' checksum too, but its load said only that the weights are not those of the config (a format-3 config
    records none: the new weights were scored with the old threshold and standardisation). Writing it again from
    scratch was the only advice, which `retrieve build --append` cannot (it reads the folder)."""
    import shlex

    from .io.outputs import interrupted_swap

    left = interrupted_swap(folder)
    if left is not None:  # its build folder holds the rest of a finished output (synced before the swap began)
        rest = folder / left
        raise DataError(f"{folder}: a run killed while replacing its files left it part old, part new; the rest of "
                        f"its finished output is in {rest}: complete it (mv {shlex.quote(str(rest))}/* "
                        f"{shlex.quote(str(folder))}/ && rmdir {shlex.quote(str(rest))}), or write the folder again "
                        "with the command that made it")


def _folders_with_manifest(folder: Path, kind: ManifestKind) -> list[str]:
    """Names of the visible subfolders of ``folder`` whose manifest is of ``kind`` (sorted): a folder of embedding
    folders given as an index is no folder of indexes; [] where it cannot be listed."""
    def of_kind(entry: Path) -> bool:
        if entry.name.startswith(".") or not (entry / MANIFEST).is_file():
            return False
        try:
            manifest = read_json(entry / MANIFEST, MAX_MANIFEST_BYTES, "unreadable")
        except (DataError, OSError):
            return False
        return isinstance(manifest, dict) and manifest.get("format") == kind.format

    try:
        return sorted(entry.name for entry in folder.iterdir() if of_kind(entry))
    except OSError:
        return []


def check_files(folder: Path, hashes: Any, required: set[str], allowed: frozenset[str], *, verify: bool,
                where: Path | None = None, noun: str = "manifest", digests: Mapping[str, str] | None = None,
                mismatch: str | None = None) -> None:
    """The one check of a folder's ``files_sha256`` (``hashes``), a manifest's or a model config's (checkpoint.py):
    it maps only ``allowed`` names, each to a SHA-256 digest (64 lowercase hex digits), and lists every ``required``
    one; with ``verify``, each listed file has its checksum. ``digests``: the SHA-256 of files already read (a
    model's weights, hashed from the bytes that were deserialised), compared in place of reading the file again, so
    a file replaced meanwhile cannot pass for the one read. ``where``: the file that lists them (``folder``'s
    manifest by default), ``noun`` what it is called in messages; ``mismatch``: the message of a file whose checksum
    differs (by default, that it was corrupted or edited)."""
    where = folder / MANIFEST if where is None else where
    if not isinstance(hashes, dict) or not all(isinstance(v, str) and _DIGEST.fullmatch(v) for v in hashes.values()):
        raise DataError(f"{where}: corrupted {noun} ({FILES_KEY} must map file names to SHA-256 digests)")
    for name in hashes:
        if name not in allowed:
            raise DataError(f"{where}: unexpected file {name!r}")
    for name in sorted(required - set(hashes)):
        raise DataError(f"{where}: {noun} lists no {name}")
    if not verify:
        return
    digests = digests or {}
    for name, digest in sorted(hashes.items()):
        found = digests.get(name)
        if found is None:
            if not (folder / name).is_file():
                raise DataError(f"{folder}: missing {name} (listed in {where.name})")
            found = sha256_file(folder / name)
        if found != digest:
            raise DataError(mismatch or f"{folder / name}: checksum mismatch (corrupted or edited since it was "
                                        "written)")
