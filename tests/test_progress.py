"""Progress: the library reports through plain callables (progress.py) and never imports rich; the CLI's one
bar helper closes a stage's bar when the stage reaches its total."""

from __future__ import annotations

import json
import subprocess
import sys

from conftest import ROOT

GFF = ROOT / "examples" / "data" / "mgenitalium_g37.gff.gz"
FNA = ROOT / "examples" / "data" / "mgenitalium_g37.fna.gz"

SCRIPT = """
import json, sys
from microfuse_cli.genome import read_genome
from microfuse_cli.score import score_genome

stages = {}
def stage(description, total):
    stages[description] = [total, 0]
    def advance(n=1):
        stages[description][1] += n
    return advance

scores = score_genome(read_genome(sys.argv[1], sys.argv[2]), stage=stage)
print(json.dumps({"pairs": len(scores.pairs), "stages": stages, "rich": "rich" in sys.modules}))
"""


def test_library_reports_stages_through_callables_without_rich():
    run = subprocess.run([sys.executable, "-c", SCRIPT, str(GFF), str(FNA)], capture_output=True, text=True,
                         cwd=ROOT, check=True)
    result = json.loads(run.stdout)
    assert result["rich"] is False
    assert result["pairs"] == 475 and result["stages"]
    for description, (total, done) in result["stages"].items():
        assert done == total, description


def test_cli_stage_closes_its_bar_at_the_total(monkeypatch):
    from microfuse_cli.cli._common import Run

    advanced, closed = [], []
    monkeypatch.setattr(Run, "bar", lambda self, description, total, unit="": (advanced.append, lambda: closed.append(1)))
    step = Run().stage("protein descriptors", 3)
    step(1)
    assert closed == []
    step(2)
    assert advanced == [1, 2] and closed == [1]
    with Run().progress("training", 5, "epochs") as advance:
        advance(5)
    assert closed == [1, 1]


def test_a_decorated_callback_is_checked_by_the_signature_it_is_called_through():
    """check_callbacks read a functools.wraps wrapper's signature from the function it wraps: a decorator that
    supplies an argument (``advance(log, n)`` called as ``advance(n)``) was refused, though it takes progress(n)."""
    import functools

    import pytest

    from microfuse_cli.errors import UsageError
    from microfuse_cli.progress import check_callbacks

    counts = []

    def with_log(function):
        @functools.wraps(function)
        def wrapper(n):
            return function(counts, n)
        return wrapper

    @with_log
    def advance(log, n):
        log.append(n)

    check_callbacks("read_genome", progress=advance)
    advance(3)
    assert counts == [3]

    def two(a, b):
        pass

    def none():  # neither the wrapper's signature nor the wrapped function's fits: still refused
        pass

    with pytest.raises(UsageError, match=r"^read_genome's progress is a callable progress\(n\)"):
        check_callbacks("read_genome", progress=functools.wraps(two)(none))
