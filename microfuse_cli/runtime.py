"""Where work runs: the compute device and the number of worker threads, resolved one way everywhere.

torch is imported only inside :func:`resolve_device` and :func:`torch_device`, so that checking a device name or
counting cores stays cheap for the builtin (numpy) views.
"""

from __future__ import annotations

import contextlib
import numbers
import os
import re
from typing import TYPE_CHECKING, Iterator

from .errors import UsageError

if TYPE_CHECKING:  # pragma: no cover
    import torch

_DEVICE_NAME = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device(device: str) -> str:
    """Refuse a malformed device name without importing torch (the builtin views never resolve the device, so a
    typo would otherwise go unnoticed)."""
    if not _DEVICE_NAME.fullmatch(device):
        raise UsageError(f"--device must be auto, cpu, cuda or cuda:N, not {device!r}")
    return device


def resolve_device(device: str = "auto") -> str:
    """The device to run on, as a name torch accepts: ``auto`` becomes ``cuda`` when a GPU is visible, else ``cpu``.

    ``cpu``, ``cuda``, ``cuda:N`` and ``mps`` are checked against this machine.

    Raises:
        UsageError: the name is malformed, or names a device this machine lacks.
    """
    import torch

    if device == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    try:
        dev = torch.device(device)
    except (RuntimeError, TypeError) as err:
        raise UsageError(f"invalid device {device!r} (expected auto, cpu, cuda or cuda:N)") from err
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise UsageError(f"device {device!r} asked for, but no CUDA GPU is available")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise UsageError(f"device {device!r} asked for, but only {torch.cuda.device_count()} GPU(s) are visible")
    elif dev.type == "mps":
        if not (hasattr(torch.backends, "mps") and torch.backends.mps.is_available()):
            raise UsageError(f"device {device!r} asked for, but MPS is not available")
    elif dev.type != "cpu":
        raise UsageError(f"unsupported device {device!r} (expected auto, cpu, cuda or cuda:N)")
    return str(device)


def torch_device(device: "str | torch.device") -> "torch.device":
    """:func:`resolve_device` as a :class:`torch.device` (a :class:`torch.device` is checked the same way)."""
    import torch

    return torch.device(resolve_device(str(device)))


@contextlib.contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """torch's intra-op CPU threads set to ``threads`` (0: every usable core; None: left alone) inside the block and
    put back after it: the setting is process-wide, and a library call must not leave it changed."""
    if threads is None:
        yield
        return
    import torch

    before = torch.get_num_threads()
    torch.set_num_threads(resolve_threads(threads))
    try:
        yield
    finally:
        torch.set_num_threads(before)


_WHOLE = re.compile(r"[0-9]+")

#: cgroup v2's CPU quota of this process's cgroup, as a container sees it (``docker --cpus=2``: "200000 100000").
CGROUP_CPU_MAX = "/sys/fs/cgroup/cpu.max"


def usable_cpus(cgroup_cpu_max: str | os.PathLike = CGROUP_CPU_MAX) -> int:
    """Cores this process may use: the smallest of its CPU affinity mask (Slurm with task/affinity, taskset), Slurm's
    SLURM_CPUS_PER_TASK (a node without affinity, TaskPlugin=task/none) and a container's cgroup v2 CPU quota
    (``cpu.max``); a missing or malformed limit is ignored. Without them `-t 0` ran a thread on every core of a
    shared node."""
    try:
        counts = [len(os.sched_getaffinity(0))]
    except AttributeError:  # pragma: no cover - no affinity masks outside Linux
        counts = [os.cpu_count() or 1]
    counts += [n for n in (_slurm_cpus_per_task(), _cgroup_cpu_quota(cgroup_cpu_max)) if n is not None]
    return min(counts)


def _slurm_cpus_per_task() -> int | None:
    """SLURM_CPUS_PER_TASK when it is a positive whole number (set by ``sbatch --cpus-per-task``), else None."""
    value = os.environ.get("SLURM_CPUS_PER_TASK", "").strip()
    return int(value) if _WHOLE.fullmatch(value) and int(value) > 0 else None


def _cgroup_cpu_quota(path: str | os.PathLike) -> int | None:
    """Whole cores of a cgroup v2 quota, ``QUOTA PERIOD`` in ``cpu.max`` rounded up (2.5 cores: 3); None for "max"
    (no quota), an unreadable file (cgroup v1, no cgroup file system) or anything malformed."""
    try:
        with open(path, encoding="ascii") as handle:
            fields = handle.read().split()
    except (OSError, ValueError):
        return None
    if len(fields) != 2 or not all(_WHOLE.fullmatch(f) and int(f) > 0 for f in fields):
        return None
    return -(-int(fields[0]) // int(fields[1]))


def _whole_number(value: object) -> bool:
    """An int (numpy's too), not a bool: 1.5 threads were cut to 1 and None was a TypeError."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def resolve_threads(threads: int) -> int:
    """Worker threads to use: ``threads`` itself, or every usable core for 0.

    Raises:
        UsageError: ``threads`` is not a whole number >= 0.
    """
    if not _whole_number(threads) or threads < 0:
        raise UsageError(f"threads must be a whole number >= 0, got {threads!r}")
    return usable_cpus() if threads == 0 else int(threads)


def check_seed(seed: int) -> int:
    """``seed`` as an int, so that every seed a user passes gives its own, repeatable draws: Python's random took
    -1 as 1 (the same split), numpy's generators refused it with a ValueError and 1.5 with a TypeError.

    Raises:
        UsageError: ``seed`` is not a whole number >= 0.
    """
    if not _whole_number(seed) or seed < 0:
        raise UsageError(f"seed must be a whole number >= 0, got {seed!r}")
    return int(seed)


__all__ = ["check_device", "check_seed", "resolve_device", "resolve_threads", "torch_device", "torch_threads",
           "usable_cpus"]
