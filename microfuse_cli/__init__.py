"""microfuse: operon prediction by fusing protein and genome-context views of gene pairs.

The pipeline, one module per stage::

    genome (genome.py) -> genes (genes.py) -> pairs (pairs.py) -> views (views/, embed.py)
    -> fusion head (model.py, training.py) -> scores (score.py) -> operons / analogs (retrieve/)
"""

__version__ = "0.1.0"

from .errors import DataError, MicrofuseError, UsageError  # noqa: E402

__all__ = ["__version__", "MicrofuseError", "DataError", "UsageError"]
