"""Analog retrieval: a FAISS index over fused pair vectors, searched across scaffolds or genomes.

One module per part: ``ids`` (the pair-id table and the vectors it names), ``results`` (search results and
their TSV), ``index`` (the FAISS index, its folder and manifest), ``evaluation`` (the retrieval table), ``models``
(which model made the vectors: vectors of two models are never compared).
"""

from .evaluation import RetrievalRow, retrieval_evaluate, write_retrieval_table
from .ids import (
    PairIds, SharedScaffold, genome_copies, ids_path_for, read_pair_ids, read_vector_files, read_vectors,
    shared_genome, shared_scaffold, write_pair_ids,
)
from .index import INDEX_FILE, PAIR_INDEX, PAIRS_FILE, PairIndex
from .results import (
    RESULT_COLUMNS, RESULT_LABEL_COLUMNS, RESULT_QUERY_COLUMNS, SearchResult, found_themselves, result_rows,
    write_results,
)

__all__ = [
    "PairIds",
    "PairIndex",
    "SearchResult",
    "RetrievalRow",
    "read_vectors",
    "read_vector_files",
    "genome_copies",
    "shared_genome",
    "shared_scaffold",
    "SharedScaffold",
    "read_pair_ids",
    "write_pair_ids",
    "ids_path_for",
    "result_rows",
    "found_themselves",
    "write_results",
    "retrieval_evaluate",
    "write_retrieval_table",
    "RESULT_COLUMNS",
    "RESULT_LABEL_COLUMNS",
    "RESULT_QUERY_COLUMNS",
    # the index folder's manifest kind and file names (the output policy checks them)
    "PAIR_INDEX",
    "INDEX_FILE",
    "PAIRS_FILE",
]
