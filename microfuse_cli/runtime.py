"""Where work runs: the compute device and the number of worker threads, resolved one way everywhere.

torch is imported only inside :func:`resolve_device`, :func:`torch_device` and ``thread_limits(torch=True)``, so that
checking a device name or counting cores stays cheap for the builtin (numpy) views.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import threading
from types import ModuleType
from typing import TYPE_CHECKING, Iterator

from .errors import UsageError, whole_number

if TYPE_CHECKING:  # pragma: no cover
    import torch

_DEVICE_NAME = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device(device: str) -> str:
    """Refuse a malformed device name without importing torch (the builtin views never resolve the device, so a
    typo would otherwise go unnoticed)."""
    if not isinstance(device, str) or not _DEVICE_NAME.fullmatch(device):  # None was a TypeError of re
        raise UsageError(f"device must be auto, cpu, cuda or cuda:N (--device), not {device!r}")
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


class _ThreadPools:
    """The process-wide thread settings :func:`thread_limits` changes, and the lock that guards them.

    torch's thread count and OpenBLAS's pool are the process's, not a call's: two calls in two Python threads, each
    saving then restoring, left the count the second one saved (the first one's limit) for good. Overlapping blocks
    (nested, or in several Python threads) are counted instead: the first saves the settings, the last puts them
    back. OpenMP's counts (and torch's, beside its default for new threads) are per calling thread: each thread's
    own are put back when its outermost block ends. This one object is the module's only state: it records what the
    native libraries' own settings were, none of microfuse's.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._shared: dict = {}  # library file -> (pool, count before), process-wide pools: put back by the last block
        self._torch_saved: int | None = None
        self._thread = threading.local()  # depth, per-thread pools' counts before, and torch's, of each Python thread

    def _own(self):
        """This Python thread's record (made on first use)."""
        own = self._thread
        if not hasattr(own, "depth"):
            own.depth, own.saved, own.torch_before = 0, {}, None
        return own

    def enter(self, threads: int) -> None:
        """Limit every BLAS/OpenMP pool loaded now, torch's among them, to ``threads``."""
        from threadpoolctl import ThreadpoolController

        own = self._own()
        torch_module = _loaded("torch")
        with self._lock:
            # scanned at each block (a nested stage may have loaded more libraries); every count is read before any
            # is set: an OpenBLAS built on OpenMP shares its count with that OpenMP library, torch with its own
            pools = [(pool, pool.get_num_threads()) for pool in ThreadpoolController().lib_controllers]
            if torch_module is not None:  # limited whenever loaded: its OpenMP pool is among the pools anyway
                if own.torch_before is None:
                    own.torch_before = torch_module.get_num_threads()
                if self._torch_saved is None:
                    self._torch_saved = own.torch_before
                torch_module.set_num_threads(threads)
            _release_openblas_control()  # else only the first thread to set one may
            for pool, before in pools:  # a pool's count before the first block that saw it is the one to put back
                (own.saved if _per_thread(pool) else self._shared).setdefault(pool.filepath, (pool, before))
                pool.set_num_threads(threads)
            _release_openblas_control()
            own.depth += 1
            self._depth += 1

    def leave(self) -> None:
        """Put back this thread's settings (its outermost block) and the process-wide ones (the last block)."""
        own = self._own()
        with self._lock:
            own.depth -= 1
            self._depth -= 1
            # torch first: setting its count sets its OpenMP pool's, whose own count before (saved below) is the truth
            if not self._depth and self._torch_saved is not None:
                sys.modules["torch"].set_num_threads(self._torch_saved)
            elif not own.depth and own.torch_before is not None:
                sys.modules["torch"].set_num_threads(own.torch_before)
            if not own.depth:
                own.torch_before = None
            if not self._depth:
                self._torch_saved = None
            _release_openblas_control()
            if not own.depth:
                _put_back(own.saved)
            if not self._depth:
                _put_back(self._shared)
            _release_openblas_control()  # no thread of ours keeps control of OpenBLAS


def _release_openblas_control() -> None:
    """Let any thread set OpenBLAS's process-wide count again.

    threadpoolctl 3.8 lets only the first thread that set that count set it again, until it is cleared; 3.7 (which
    pyproject allows) has no such rule and no way to clear it.
    """
    from threadpoolctl import OpenBLASController

    clear = getattr(OpenBLASController, "clear_controlling_thread", None)
    if clear is not None:
        clear(force=True)


def _loaded(name: str):
    """The module ``name`` when imported (not while another thread is still importing it), else None."""
    module = sys.modules.get(name)
    return None if getattr(getattr(module, "__spec__", None), "_initializing", False) else module


def _per_thread(pool) -> bool:
    """Whether a threadpoolctl pool's count is the calling thread's (OpenMP, or an OpenBLAS built on it)."""
    return pool.user_api == "openmp" or getattr(pool, "threading_layer", None) == "openmp"


def _put_back(saved: dict) -> None:
    """Set each saved pool's count back, and forget them."""
    for pool, before in saved.values():
        if before is not None:
            pool.set_num_threads(before)
    saved.clear()


#: The one record of the process's native thread settings (see _ThreadPools: why it is the module's).
_POOLS = _ThreadPools()


@contextlib.contextmanager
def thread_limits(threads: int | None, *, torch: bool = False, faiss: bool = False,
                  sklearn: bool = False) -> Iterator[int | None]:
    """Inside the block, every BLAS/OpenMP thread pool loaded (numpy's and scipy's OpenBLAS, scikit-learn's OpenMP,
    through threadpoolctl) and torch's CPU threads use ``threads`` (0: every usable core; None: left alone), and the
    caller's settings are put back after it; ``torch``, ``faiss`` and ``sklearn`` import those libraries first, so
    that their pools are among them (microfuse imports scikit-learn only where it is used: its import sets KMP_*
    variables in os.environ). Without it `score -t 1` ran a BLAS thread per core of the node. Yields the resolved count
    (None for None).

    Pools loaded later inside the block are limited by the next (nested) block; overlapping blocks (nested, or in
    several Python threads) are counted, and the last one restores (see ``_ThreadPools``): until then the latest
    block's count holds, so nest only blocks of one count (the library passes its ``threads`` down).
    """
    if threads is None:
        yield None
        return
    threads = resolve_threads(threads)
    if faiss:
        import faiss as _  # noqa: F401 - its OpenMP and OpenBLAS are then among the loaded pools
    if torch:
        import torch as _  # noqa: F401,F811 - the same for torch
    if sklearn:
        import_keeping_random("sklearn.metrics")  # and for scikit-learn
    _POOLS.enter(threads)
    try:
        yield threads
    finally:
        _POOLS.leave()


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


def import_keeping_random(name: str) -> ModuleType:
    """Module ``name``, imported with Python's global ``random`` state put back after the import: scikit-learn's
    import draws from it (rich, imported for its progress bars, seeds an id counter), so a caller's
    ``random.seed(1)`` sequence came out shifted after the first evaluation or training of the process."""
    import importlib
    import random

    if name in sys.modules:
        return sys.modules[name]
    state = random.getstate()
    try:
        return importlib.import_module(name)
    finally:
        random.setstate(state)


def resolve_threads(threads: int) -> int:
    """Worker threads to use: ``threads`` itself, or every usable core for 0.

    Raises:
        UsageError: ``threads`` is not a whole number >= 0.
    """
    if not whole_number(threads) or threads < 0:
        raise UsageError(f"threads must be a whole number >= 0, got {threads!r}")
    return usable_cpus() if threads == 0 else int(threads)


def check_seed(seed: int) -> int:
    """``seed`` as an int, so that every seed a user passes gives its own, repeatable draws: Python's random took
    -1 as 1 (the same split), numpy's generators refused it with a ValueError and 1.5 with a TypeError.

    Raises:
        UsageError: ``seed`` is not a whole number >= 0.
    """
    if not whole_number(seed) or seed < 0:
        raise UsageError(f"seed must be a whole number >= 0, got {seed!r}")
    return int(seed)


__all__ = ["check_device", "check_seed", "resolve_device", "resolve_threads", "thread_limits", "torch_device",
           "usable_cpus"]
