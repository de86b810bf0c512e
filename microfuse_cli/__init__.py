"""microfuse: operon prediction by fusing protein and genome-context views of gene pairs.

The pipeline, one module per stage::

    genome (genome.py) -> genes (genes.py) -> pairs (pairs.py) -> views (views/, embed.py)
    -> fusion head (model.py, training.py) -> scores (score.py) -> operons / analogs (retrieve/)

The names in ``__all__`` are the library's entry points (README, "Python API"). All but the version and the
errors are imported on first use, so ``import microfuse_cli`` stays cheap: numpy, torch and faiss load only when a
call needs them.
"""

from __future__ import annotations

import logging
from importlib import import_module
from typing import Any

__version__ = "0.1.0"

from .errors import DataError, MicrofuseError, UsageError  # noqa: E402

# The library's info lines and warnings are for the application to show (the CLI does, on stderr): without a
# handler of its own, Python's last-resort handler would print them to the stderr of whoever imports the library.
for _name in ("microfuse", "microfuse_cli"):
    logging.getLogger(_name).addHandler(logging.NullHandler())
del _name

#: Entry point -> the module that defines it.
_LAZY = {
    "read_genome": "genome", "GenomeOptions": "genome", "Genome": "records", "Gene": "records",
    "Scaffold": "records", "GenePair": "pairs", "adjacent_pairs": "pairs", "select_pairs": "pairs",
    "load_model": "score", "score_genome": "score", "call_operons": "score", "Scores": "score", "Operon": "score",
    "ScoringModel": "fusion",
}

__all__ = ["__version__", "MicrofuseError", "DataError", "UsageError", *_LAZY]


def __getattr__(name: str) -> Any:
    """An entry point, imported from its module on first use (PEP 562)."""
    if name not in _LAZY:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
