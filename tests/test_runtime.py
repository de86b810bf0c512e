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
