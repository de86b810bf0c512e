"""Who holds an flock on a file, as Linux's /proc tells it.

A run that locks a file its own parent has locked waits for itself forever: `flock INDEX/manifest.json microfuse
retrieve build ... --append`, a cluster habit, locks the very file the append locks, and the parent releases it only
when the run ends. /proc names the holders (/proc/locks, each descriptor's /proc/PID/fdinfo), so such a run can tell
that lock from another run's. Where there is no /proc (macOS, BSD) nothing is found and callers behave as before.
"""

from __future__ import annotations

import errno
import os
from typing import Iterable, Iterator

#: More parents than any real process chain has: a guard against a /proc that loops.
_MAX_ANCESTORS = 256


def ancestry() -> list[int]:
    """This process and its parents up to the first one (pid 1, or a container's first), nearest first; this process
    alone where /proc cannot tell."""
    chain = [os.getpid()]
    while len(chain) < _MAX_ANCESTORS:
        try:
            with open(f"/proc/{chain[-1]}/stat", "rb") as handle:
                parent = int(handle.read().rpartition(b")")[2].split()[1])  # after the name, which may hold ') '
        except (OSError, ValueError, IndexError):
            break
        if parent < 1 or parent in chain:
            break
        chain.append(parent)
    return chain


def _flocks(lines: Iterable[str], kind: str = "FLOCK") -> Iterator[tuple[int, str, str]]:
    """(pid, READ or WRITE, MAJOR:MINOR:INODE) of each lock of ``kind`` (FLOCK: flock's; OFDLCK: an open file
    description's, its pid -1) held in ``lines`` of /proc/locks' format, or of an fdinfo file's ``lock:`` lines; locks
    waited for ('->') and other kinds (POSIX, which flock ignores) are skipped."""
    for line in lines:
        fields = line.split()
        if fields[:1] == ["lock:"]:
            fields = fields[1:]
        if len(fields) > 5 and fields[1] == kind:
            try:
                yield int(fields[4]), fields[3], fields[5]
            except ValueError:
                continue


def _file_key(status: os.stat_result) -> str:
    """A file as /proc/locks names it: its device's major and minor number (hex) and its inode."""
    return f"{os.major(status.st_dev):02x}:{os.minor(status.st_dev):02x}:{status.st_ino}"


def _listed_holders(status: os.stat_result, kind: str = "FLOCK") -> dict[int, str]:
    """{pid: READ or WRITE} of the processes /proc/locks says hold a lock of ``kind`` (an flock) on the file of
    ``status`` (the one that took it: a descriptor passed on keeps it after that process ends); {} where there is no
    /proc/locks."""
    try:
        with open("/proc/locks", encoding="ascii", errors="replace") as handle:
            return {pid: mode for pid, mode, key in _flocks(handle, kind) if key == _file_key(status)}
    except OSError:
        return {}


def _held_through(pid: int, status: os.stat_result, *, passed_down: bool = False) -> str | None:
    """READ or WRITE where a descriptor of process ``pid`` holds an flock on the file of ``status`` (its fdinfo
    lists the lock), only one that a new program keeps (no close-on-exec: one passed down) if ``passed_down``;
    None where none does or its descriptors cannot be read (another user's process)."""
    try:
        names = os.listdir(f"/proc/{pid}/fdinfo")
    except OSError:
        return None
    for name in names:
        try:
            with open(f"/proc/{pid}/fdinfo/{name}", encoding="ascii", errors="replace") as handle:
                lines = handle.readlines()
            modes = [mode for _, mode, _ in _flocks(lines)]
            if not modes or (passed_down and _closed_on_exec(lines)):
                continue
            named = os.stat(f"/proc/{pid}/fd/{name}")
        except OSError:  # closed meanwhile
            continue
        if (named.st_dev, named.st_ino) == (status.st_dev, status.st_ino):
            return modes[0]
    return None


def _closed_on_exec(fdinfo: list[str]) -> bool:
    """Whether the descriptor of these fdinfo lines is closed when its process runs a new program (octal flags)."""
    flags = next((line.split()[1:2] for line in fdinfo if line.startswith("flags:")), [])
    try:
        return bool(int(flags[0], 8) & os.O_CLOEXEC)
    except (IndexError, ValueError):
        return False


def held_by_this_run(descriptor: int) -> tuple[int, str] | None:
    """(pid, READ or WRITE) of a parent of this process holding an flock on the file ``descriptor`` is open on,
    through a descriptor of its own or as /proc/locks lists it, or of this process through a descriptor passed down
    to it (`exec 9>FILE; flock 9; exec microfuse ...`); None where none does, or /proc cannot tell. A lock this
    process took itself (its descriptors are closed on exec, Python's default) is not counted: another thread's."""
    status = os.fstat(descriptor)
    listed = _listed_holders(status)
    this = os.getpid()
    for pid in ancestry():
        if pid == this:
            mode = _held_through(pid, status, passed_down=True)
        else:
            mode = listed.get(pid) or _held_through(pid, status)
        if mode is not None:
            return pid, mode
    return None


def live_holders(descriptor: int) -> list[int]:
    """The running processes /proc/locks says hold an flock on the file ``descriptor`` is open on, to name in a
    message; [] where it names none (a lock taken on another host of a network file system, no /proc)."""
    return sorted(pid for pid in _listed_holders(os.fstat(descriptor)) if os.path.exists(f"/proc/{pid}"))


def took_a_turn(descriptor: int) -> bool:
    """Whether this run may update the file ``descriptor`` is open on (for writing) beside the other runs under the
    same parent's flock (:func:`held_by_this_run`): that lock keeps out everyone else, not them (`flock FILE
    snakemake -j 2` appending two samples at once read the old index both, the later write dropping the other's).
    They take turns with an open file description lock, which a local flock does not conflict with: True once
    taken (held until ``descriptor`` is closed), or where none can be (no such locks: updated as before), or where
    the lock in the way is no other run's (NFS emulates the parent's flock with a POSIX lock, and waiting for it
    would never end); False while another run holds it: the kernel says the lock in the way is an open file
    description's (F_OFD_GETLK's pid -1), or /proc/locks lists one on the file (btrfs subvolumes give /proc/locks
    other device numbers than stat, so the kernel's answer is asked first)."""
    import fcntl
    import struct

    request = struct.pack("hhqqi", fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0).ljust(32, b"\0")  # struct flock: whole file
    try:
        fcntl.fcntl(descriptor, fcntl.F_OFD_SETLK, request)
    except AttributeError:  # not Linux
        return True
    except OSError as exc:
        if exc.errno not in (errno.EAGAIN, errno.EACCES):  # EINVAL (before Linux 3.15), EBADF (open read-only)
            return True
        return not (_in_the_way_is_an_ofd_lock(descriptor, request) or _listed_holders(os.fstat(descriptor), "OFDLCK"))
    return True


def _in_the_way_is_an_ofd_lock(descriptor: int, request: bytes) -> bool:
    """Whether the lock that keeps ``request`` out is an open file description's: F_OFD_GETLK reports such a lock's
    pid as -1, a POSIX lock's (NFS's emulated flock) as its holder's."""
    import fcntl
    import struct

    try:
        answer = fcntl.fcntl(descriptor, fcntl.F_OFD_GETLK, request)
    except OSError:
        return False
    kind, _, _, _, pid = struct.unpack("hhqqi", answer[:struct.calcsize("hhqqi")])
    return kind != fcntl.F_UNLCK and pid == -1
