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
    with pytest.raises(UsageError, match=r"^device must be auto, cpu, cuda or cuda:N \(--device\), not 'cuda1'$"):
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



def test_zero_threads_says_what_it_came_to_at_verbose(monkeypatch, tmp_path):
    """`-t 0 -v` in a cluster job's log said nothing of the threads it used: the node's cores, Slurm's share and
    a container's quota decide it, so the log now names the count (one debug line; none for a given -t)."""
    from conftest import PANEL, run_cli

    monkeypatch.setenv("SLURM_CPUS_PER_TASK", "1")
    gff, fna = PANEL / "GCF_000027325.1_ASM2732v1_genomic.gff.gz", PANEL / "GCF_000027325.1_ASM2732v1_genomic.fna.gz"
    code, _, err = run_cli(["pairs", gff, "--fasta", fna, "-o", tmp_path / "p.tsv", "-t", "0", "-v"])
    assert code == 0 and "debug: -t 0: 1 thread(s), every core this job may use" in err.splitlines(), err
    code, _, err = run_cli(["pairs", gff, "--fasta", fna, "-o", tmp_path / "p.tsv", "-t", "2", "-v"])
    assert code == 0 and "-t 0" not in err, err

MG_GFF, MG_FNA = "GCF_000027325.1_ASM2732v1_genomic.gff.gz", "GCF_000027325.1_ASM2732v1_genomic.fna.gz"  # M. genitalium


def _pool_sizes() -> dict[str, int]:
    """Threads of every BLAS/OpenMP pool threadpoolctl finds loaded, by library file (as the calling thread sees)."""
    from threadpoolctl import threadpool_info

    return {pool["filepath"]: pool["num_threads"] for pool in threadpool_info()}


def test_score_genome_runs_every_blas_and_openmp_pool_on_its_threads_and_puts_them_back(monkeypatch):
    """score_genome(threads=1) (`score -t 1`) ran the fusion head's matrix products on a BLAS thread per core:
    `threads` reached pyrodigal, ViennaRNA and torch, not numpy's, scipy's or scikit-learn's pools. Inside the call
    every pool has one thread; after it, the caller's counts are back (M. genitalium)."""
    from threadpoolctl import threadpool_limits

    from conftest import PANEL
    from microfuse_cli import read_genome, score_genome
    from microfuse_cli.fusion import FusionHead

    genome = read_genome(PANEL / MG_GFF, PANEL / MG_FNA)
    inside, predict = [], FusionHead.predict

    def watched(self, *args, **kwargs):
        inside.append(_pool_sizes())
        return predict(self, *args, **kwargs)

    monkeypatch.setattr(FusionHead, "predict", watched)
    with threadpool_limits(limits=2):  # the caller's own counts, whatever this machine's cores
        before = _pool_sizes()
        scores = score_genome(genome, threads=1)
        after = _pool_sizes()
    assert len(scores.pairs) == len(genome.genes) - 1 and inside
    assert any("openblas" in path for path in inside[0]) and set(inside[0].values()) == {1}, inside[0]
    assert set(before.values()) == {2} and {path: after[path] for path in before} == before


def test_thread_limits_work_with_threadpoolctl_before_3_8(monkeypatch):
    """threadpoolctl 3.7 (pyproject allows >= 3.7; a GPU machine's image had it) has no
    OpenBLASController.clear_controlling_thread: every command that limited threads ended 'internal error:
    AttributeError: type object 'OpenBLASController' has no attribute 'clear_controlling_thread''. Those versions
    have no controlling thread to clear, so limits are set and put back without it."""
    from threadpoolctl import OpenBLASController, ThreadpoolController

    pools = ThreadpoolController().lib_controllers
    saved = [(pool, pool.get_num_threads()) for pool in pools]
    monkeypatch.delattr(OpenBLASController, "clear_controlling_thread", raising=False)
    try:
        for pool in pools:  # the caller's own counts, whatever this machine's cores (threadpool_limits needs 3.8's)
            pool.set_num_threads(2)
        before = _pool_sizes()
        with runtime.thread_limits(1):
            inside = _pool_sizes()
        after = _pool_sizes()
    finally:
        monkeypatch.undo()
        for pool, count in saved:
            pool.set_num_threads(count)
        runtime._release_openblas_control()  # 3.8 only: the counts set here leave no thread in control
    assert any("openblas" in path for path in inside) and set(inside.values()) == {1}, inside
    assert after == before and set(before.values()) == {2}


def test_score_t_1_runs_one_thread_per_pool_on_a_node_whose_default_is_more(tmp_path):
    """`microfuse score -t 1` in its own process, where the node's defaults (OMP_NUM_THREADS, OPENBLAS_NUM_THREADS)
    give every pool 4 threads: at the fusion head, every pool threadpoolctl sees (numpy's and scipy's OpenBLAS,
    scikit-learn's OpenMP) has 1, and so has torch when loaded."""
    import json
    import subprocess
    import sys

    from conftest import PANEL, ROOT

    probe = tmp_path / "pools.json"
    code = ("import json, sys\nfrom threadpoolctl import threadpool_info\nfrom microfuse_cli.fusion import FusionHead\n"
            "predict = FusionHead.predict\n"
            "def watched(self, *args, **kwargs):\n"
            "    torch = sys.modules.get('torch')\n"
            f"    json.dump({{'pools': [p['num_threads'] for p in threadpool_info()],\n"
            "               'torch': torch.get_num_threads() if torch else None}, open(sys.argv[1], 'w'))\n"
            "    return predict(self, *args, **kwargs)\n"
            "FusionHead.predict = watched\n"
            "from microfuse_cli.cli import main\n"
            "main(sys.argv[2:])\n")
    env = dict(os.environ, OMP_NUM_THREADS="4", OPENBLAS_NUM_THREADS="4", MKL_NUM_THREADS="4",
               PYTHONPATH=str(ROOT))
    proc = subprocess.run([sys.executable, "-c", code, probe, "score", PANEL / MG_GFF, "--fasta", PANEL / MG_FNA,
                           "-t", "1", "-q", "-o", tmp_path / "scores.tsv"],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(probe.read_text())
    assert len(seen["pools"]) >= 2 and set(seen["pools"]) == {1}, seen
    assert seen["torch"] in (None, 1)
    assert (tmp_path / "scores.tsv").read_text().count("\n") > 400


def test_thread_limits_in_two_python_threads_put_the_callers_counts_back():
    """Two library calls in two Python threads (a notebook's thread pool), the first ending first: each saved
    torch's count then restored it, so the second restored the first one's limit and every new thread ran torch on
    1 thread for good. Overlapping blocks are counted now: the last one puts back what the first one found."""
    import threading

    from threadpoolctl import threadpool_limits

    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    inside = []

    def call(entered, wait_for, then):
        with runtime.thread_limits(1, torch=True):
            entered.set()
            wait_for.wait(10)
            inside.append((torch.get_num_threads(), set(_pool_sizes().values())))
        if then is not None:
            then.set()

    def new_thread_count() -> int:
        counts = []
        reader = threading.Thread(target=lambda: counts.append(torch.get_num_threads()))
        reader.start()
        reader.join()
        return counts[0]

    before = torch.get_num_threads()
    torch.set_num_threads(3)
    try:
        with threadpool_limits(limits=2):
            blas_before = _pool_sizes()
            first = threading.Thread(target=call, args=(first_in, second_in, first_out))
            second = threading.Thread(target=call, args=(second_in, first_out, None))
            first.start()
            first_in.wait(10)
            second.start()
            first.join(20)
            second.join(20)
            blas_after = _pool_sizes()
        assert inside == [(1, {1}), (1, {1})]
        assert torch.get_num_threads() == 3 and new_thread_count() == 3
        assert {path: blas_after[path] for path in blas_before} == blas_before
    finally:
        torch.set_num_threads(before)
