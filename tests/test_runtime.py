"""Device and thread-count resolution: the one place every stage asks."""

from __future__ import annotations

import os

import pytest
import torch

from microfuse_cli import runtime
from microfuse_cli.errors import UsageError


def test_zero_threads_means_the_cores_this_process_may_use(monkeypatch):
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    monkeypatch.setattr(os, "cpu_count", lambda: 64)  # the machine has more cores than the scheduler grants
    assert runtime.usable_cpus() == 3
    assert runtime.resolve_threads(0) == 3
    assert runtime.resolve_threads(7) == 7
    with pytest.raises(UsageError, match=">= 0"):
        runtime.resolve_threads(-1)


def test_device_names_are_checked_and_auto_resolved():
    gpu = torch.cuda.is_available()
    assert runtime.resolve_device("auto") == ("cuda" if gpu else "cpu")
    assert runtime.resolve_device("cpu") == "cpu"
    assert runtime.torch_device("cpu") == torch.device("cpu")
    assert runtime.torch_device(torch.device("cpu")) == torch.device("cpu")
    for bad in ("tpu", "gpu0", "cuda:x"):
        with pytest.raises(UsageError):
            runtime.resolve_device(bad)
    if not gpu:
        with pytest.raises(UsageError, match="no CUDA GPU"):
            runtime.resolve_device("cuda")
    else:
        with pytest.raises(UsageError, match="GPU\\(s\\) are visible"):
            runtime.resolve_device(f"cuda:{torch.cuda.device_count()}")


def test_check_device_refuses_typos():
    assert runtime.check_device("cuda:1") == "cuda:1"
    with pytest.raises(UsageError, match="--device must be"):
        runtime.check_device("cuda1")


@pytest.mark.parametrize("slurm, cpu_max, expected", [
    (None, None, 3),  # no Slurm, no cgroup file system: the affinity mask
    ("2", None, 2),  # Slurm without affinity (TaskPlugin=task/none)
    (None, "200000 100000\n", 2),  # docker --cpus=2
    (None, "150000 100000\n", 2),  # --cpus=1.5: rounded up
    ("8", "100000 100000\n", 1),  # the smallest limit wins
    ("1", "max 100000\n", 1),  # no quota
    (None, "max 100000\n", 3),
    ("0", "0 100000\n", 3),  # junk: ignored
    ("two", "abc def\n", 3),
    ("-4", "200000\n", 3),
    ("²", "²00000 100000\n", 3),
    ("4 ", "100000 0\n", 3),  # a period of 0 is no quota; "4 " is 4
])
def test_zero_threads_respects_slurm_and_a_container_cpu_quota(slurm, cpu_max, expected, monkeypatch, tmp_path):
    """`-t 0` under Slurm without CPU affinity, or in a container with a CPU quota (cgroup v2 cpu.max, `docker
    --cpus=2`), ran a thread on every core of the node: only the affinity mask was read."""
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0, 3, 5}, raising=False)
    if slurm is None:
        monkeypatch.delenv("SLURM_CPUS_PER_TASK", raising=False)
    else:
        monkeypatch.setenv("SLURM_CPUS_PER_TASK", slurm)
    cgroup = tmp_path / "cpu.max"
    if cpu_max is not None:
        cgroup.write_text(cpu_max)
    assert runtime.usable_cpus(cgroup) == expected
    if slurm is None:
        assert runtime.usable_cpus(tmp_path) == 3  # a folder where the file should be: no quota read


def test_every_command_s_zero_threads_takes_slurm_s_cpus(monkeypatch):
    """resolve_threads, which every command's `-t 0` goes through, reads the job's Slurm share."""
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    assert runtime.resolve_threads(0) == 1
    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "100000")  # more than this machine has: the machine's
    assert runtime.resolve_threads(0) == runtime.usable_cpus() <= len(os.sched_getaffinity(0))
