"""Evaluation of scored pairs against labels, always beside the intergenic-distance baseline."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Mapping

import numpy as np

from . import __version__
from .errors import DataError, UsageError, whole_number
from .io.files import PathLike
from .io.model_id import PACKAGE, Maker, comment_maker
from .io.tsv import read_numbered_tsv
from .metrics import (best_accuracy, binary_metrics, bootstrap_ci, hard_conflict_mask, prefix_identity,
                      router_weight_means)
from .io.tables import ROUTER_COLUMNS, as_written, label_error, parse_label
from .records import RebuiltFromFields, printable_name, read_only

log = logging.getLogger("microfuse")

METRIC_COLUMNS = ["n", "n_positive", "auroc", "auroc_low", "auroc_high", "auprc", "map", "macro_f1", "macro_recall",
                  "accuracy", "accuracy_at_threshold", "best_accuracy", "threshold", "brier", "distance_auroc",
                  "distance_best_accuracy", "hard_auroc", "hard_n"]
#: What made each table, from its ``#microfuse`` line (io.model_id.Maker), after the metrics and router weights:
#: the model folder's name, its model_id (12 hex digits; in full in --json) and decision_id. Empty when unrecorded.
MAKER_COLUMNS = ["model_name", "model_id", "decision_id"]


@dataclass(frozen=True, eq=False)
class ScoredTable(RebuiltFromFields):
    """A scores TSV read back: labels, probabilities, spacers and router weights of its labelled pairs (immutable:
    tuples, read-only arrays and mapping)."""

    name: str
    gene_a: tuple[str, ...]
    gene_b: tuple[str, ...]
    y: np.ndarray
    probability: np.ndarray
    distance: np.ndarray
    same_strand: np.ndarray
    calls: np.ndarray
    router: np.ndarray | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)
    maker: Maker | None = None  # what its ``#microfuse`` line says made it; None: no such line (made by hand)

    def __post_init__(self) -> None:  # normalising the fields as built, never changing them later
        object.__setattr__(self, "gene_a", tuple(self.gene_a))
        object.__setattr__(self, "gene_b", tuple(self.gene_b))
        for name in ("y", "probability", "distance", "same_strand", "calls", "router"):
            object.__setattr__(self, name, read_only(getattr(self, name)))
        object.__setattr__(self, "extra", MappingProxyType(dict(self.extra)))

    @classmethod
    def from_scores(cls, scores, name: str, model_name: str | None = None, model_from: str | None = None, *,
                    threshold_from: str = "model") -> "ScoredTable":
        """The labelled pairs of ``scores`` (score.Scores; ``select_pairs(operons=...)`` or ``labels=`` labels
        them) as ``read_scores`` reads their scores TSV, so a library user evaluates without writing one and
        reading it back: probabilities as the TSV writes them (6 decimals).
        ``model_name`` and ``model_from`` are the header's ``model=`` and ``model_from=``
        (``*score.model_source(model_dir)``), ``threshold_from`` is ``user`` for scores cut at another threshold than
        the model's (``score_genome(threshold=)``); the identities are those ``scores`` carry: ``maker_warnings``
        compares the tables as it compares their headers.

        Raises:
            UsageError: ``scores`` not a score.Scores, ``name`` not a str.
            DataError: no pair of ``scores`` has a label.
        """
        from .score import Scores

        if not isinstance(scores, Scores):
            raise UsageError(f"ScoredTable.from_scores takes the Scores score_genome returns, not "
                             f"{type(scores).__name__}")
        if not isinstance(name, str):  # None was an AttributeError ('encode') in printable_name
            raise UsageError(f"ScoredTable.from_scores takes the table's name (a str, as evaluate --names), not "
                             f"{type(name).__name__}")
        keep = [i for i, pair in enumerate(scores.pairs) if pair.label is not None]
        if not keep:
            raise DataError(f"{name}: no scored pair has a label (label the pairs with select_pairs(operons=...) "
                            f"or labels=)")
        pairs = [scores.pairs[i] for i in keep]
        same = np.array([p.same_strand for p in pairs])
        weights = scores.router_weights
        router = None if weights is None else as_written(weights[keep], 4)  # as the TSV holds them
        return cls(printable_name(name), [p.gene_a.id for p in pairs], [p.gene_b.id for p in pairs],
                   np.array([p.label for p in pairs]), as_written(scores.probability[keep], 6),
                   np.array([p.distance for p in pairs], dtype=np.float64), same,
                   scores.calls[keep], router,
                   maker=Maker(__version__, model_name, scores.model_id, scores.decision_id, model_from,
                               threshold_from, float(scores.threshold)))  # the header writes it exactly


def read_scores(path: PathLike, labels: PathLike | None = None, name: str | None = None,
                split: str | None = None) -> ScoredTable:
    """Read a `microfuse score` TSV; labels come from its `label` column or from a pair list (either order).

    ``split`` keeps only the rows of that split (e.g. the held-out ``test`` blocks).
    """
    comments, header, rows, numbers = read_numbered_tsv(path, required=["gene_a", "gene_b", "distance",
                                                                       "same_strand", "probability"])
    col = {c: i for i, c in enumerate(header)}
    if split is not None:
        if "split" not in col:
            raise DataError(f"{path}: no split column to select {split!r} from")
        numbers = [n for n, r in zip(numbers, rows) if r[col["split"]] == split]
        rows = [r for r in rows if r[col["split"]] == split]
        if not rows:
            raise DataError(f"{path}: no rows in split {split!r}")
    lookup = None
    if labels is not None:
        from .io.tables import read_pair_list

        listed = read_pair_list(labels)
        if all(label is None for _, _, label in listed):
            raise DataError(f"{labels}: needs a third column with 0/1 labels")
        from .records import safe_id

        # a name as the annotation writes it ('MG 001', as `score --labels` takes it) is the scores' MG%20001
        scored_ids = {r[col[c]] for r in rows for c in ("gene_a", "gene_b")}
        listed = [(*(n if n in scored_ids else safe_id(n) for n in (a, b)), label) for a, b, label in listed]
        lookup = {}
        for a, b, label in listed:  # a pair without a label (a pairs TSV's unlabelled row) stays unlabelled
            if label is not None:
                if lookup.get((a, b), label) != label:  # the last one was used, silently
                    raise DataError(f"{labels}: the pair {a} {b} is labelled both 0 and 1")
                lookup[(a, b)] = lookup[(b, a)] = label
    elif "label" not in col:
        raise DataError.naming(f"{path}: no label column; give ", ("read_scores's labels", "--labels"))
    keep, y = [], []
    for i, r in enumerate(rows):
        if lookup is not None:
            value = lookup.get((r[col["gene_a"]], r[col["gene_b"]]))
        else:
            value = _label(r[col["label"]], path, numbers[i])
        if value is not None:
            keep.append(i)
            y.append(value)
    if not keep and lookup:
        scored, listed = rows[0][col["gene_a"]] if rows else "-", next(iter(lookup))[0]
        raise DataError(f"{path}: none of the pairs of {labels} was scored (the scores name genes like {scored!r}, "
                        f"the labels like {listed!r}); give the labels to `microfuse score --labels`, which also "
                        "knows each gene's old_locus_tag, Name and ID")
    if not keep:
        raise DataError(f"{path}: no scored pair has a label")
    if lookup is not None:
        _warn_unscored(path, labels, lookup, {(r[col["gene_a"]], r[col["gene_b"]]) for r in rows})
    if len(keep) < len(rows):  # a genome's whole table against its known pairs: said, not left out silently
        log.info("%s: %d of %d scored pairs have a label; the other %d are not evaluated", path, len(keep), len(rows),
                 len(rows) - len(keep))
    pick = [rows[i] for i in keep]
    try:
        router = None
        if all(c in col for c in ROUTER_COLUMNS):
            router = np.array([[float(r[col[c]]) if r[col[c]] != "" else np.nan for c in ROUTER_COLUMNS] for r in pick])
        table = ScoredTable(
            printable_name(name or Path(str(path)).name),
            [r[col["gene_a"]] for r in pick], [r[col["gene_b"]] for r in pick], np.array(y),
            np.array([float(r[col["probability"]]) for r in pick]),
            np.array([float(r[col["distance"]]) for r in pick]),
            np.array([r[col["same_strand"]] == "1" for r in pick]),
            np.array([int(r[col["operon_pair"]]) if "operon_pair" in col else -1 for r in pick]),
            router,
            maker=comment_maker(comments, str(path)),
        )
    except ValueError as exc:
        raise DataError(f"{path}: bad number ({exc})") from None
    if not np.isfinite(table.probability).all():
        raise DataError(f"{path}: probabilities hold NaN or Inf")
    return table


def _label(cell: str, path, number: int) -> int | None:
    """A scores table's ``label`` cell, read by the rule of ``--labels`` lists (io.tables.parse_label); anything else
    is the file's fault, named with its line (was: 'internal error: ValueError' for a word, and 'labels must be 0 or
    1', naming neither file nor line, for '2')."""
    try:
        return parse_label(cell)
    except ValueError:
        raise label_error(path, number, cell) from None


def _warn_unscored(path, labels, lookup: dict, scored: set) -> None:
    """Labelled pairs the scores lack, each named once (the lookup holds both orders of every pair)."""
    seen: set = set()
    missing = [pair for pair in lookup if pair not in scored and pair[::-1] not in scored
               and frozenset(pair) not in seen and not seen.add(frozenset(pair))]
    if missing:
        shown = ", ".join(f"{a}-{b}" for a, b in missing[:5])
        log.warning("%d labelled pair(s) of %s are not in %s: %s%s", len(missing), labels, path, shown,
                    " ..." if len(missing) > 5 else "")


def distance_score(distance: np.ndarray, same_strand: np.ndarray) -> np.ndarray:
    """The classic baseline as a score: shorter spacer = more likely an operon; opposite strands last."""
    return np.where(same_strand, -np.asarray(distance, dtype=np.float64), -1e9)


def best_cutoff_accuracy(y: np.ndarray, score: np.ndarray) -> float:
    """Accuracy of the best possible cut-off on ``score`` (an upper bound for any threshold rule on it)."""
    return best_accuracy(y, score)


def _protein_text(gene: str, protein: object) -> str:
    """A protein of ``evaluate_table(proteins=)`` as text: a str, or Biopython's Seq, MutableSeq or SeqRecord
    (``SeqIO.to_dict(SeqIO.parse("genes.faa", "fasta"))`` gives the last), whose sequence is what a notebook
    holds; they were refused. Anything else is a UsageError naming the gene."""
    if isinstance(protein, str):
        return protein
    from Bio.Seq import MutableSeq, Seq
    from Bio.SeqRecord import SeqRecord

    sequence = protein.seq if isinstance(protein, SeqRecord) else protein
    if isinstance(sequence, (Seq, MutableSeq)):
        try:
            return str(sequence)
        except ValueError:  # Bio.Seq.UndefinedSequenceError: a Seq of known length but no letters
            pass
    raise UsageError(f"evaluate_table's proteins map gene id -> protein sequence (str, or Biopython's Seq or "
                     f"SeqRecord with letters), not {type(protein).__name__} (gene {gene!r})")


def evaluate_table(table: ScoredTable, *, threshold: float | None = None, proteins: dict[str, str] | None = None,
                   seed: int = 0, n_boot: int = 1000) -> dict:
    """Every metric of the model and the distance baseline on the same pairs: a row of `microfuse evaluate`'s table.

    ``threshold``: the cut of ``accuracy_at_threshold`` (default: the one ``table``'s calls were made at, and the
    accuracy that of its calls, where it has them).

    Returns:
        A dict of metric name -> value (NaN where a metric does not exist), with what made the table.
    Raises:
        UsageError: ``table`` not a ScoredTable (``ScoredTable.from_scores`` or ``read_scores`` gives one), a
            ``threshold`` outside [0, 1], a negative ``n_boot`` (0: no interval), ``proteins`` not a mapping of
            sequences.
    """
    if not isinstance(table, ScoredTable):  # Scores were an AttributeError ('y')
        raise UsageError(f"evaluate_table takes a ScoredTable (ScoredTable.from_scores(scores, name) or "
                         f"read_scores(path)), not {type(table).__name__}")
    if threshold is not None:
        from .score import _checked_threshold

        threshold = _checked_threshold(threshold)  # '0.5' was a numpy ufunc error deep in the metrics
    if proteins is not None and not isinstance(proteins, Mapping):  # a list of ids gave no hard subset, silently
        raise UsageError(f"evaluate_table's proteins map gene id -> protein sequence, not {type(proteins).__name__}")
    if proteins is not None:
        proteins = {gene: _protein_text(gene, protein) for gene, protein in proteins.items()}
    if not whole_number(n_boot) or n_boot < 0:  # '10' was a TypeError, 1.5 a ValueError of scipy's bootstrap
        raise UsageError(f"n_boot must be a whole number >= 0 (0: no interval), not {n_boot!r}")
    y, p = table.y, table.probability
    maker = table.maker or Maker()
    result = {"model": table.name, "model_name": maker.model, "model_id": maker.model_id,
              "decision_id": maker.decision_id}
    at_half = binary_metrics(y, p, 0.5)
    result.update({k: at_half[k] for k in ("n", "n_positive", "auroc", "auprc", "map", "macro_f1", "macro_recall",
                                           "accuracy", "brier")})
    if n_boot:
        ci = bootstrap_ci(y, p, "auroc", n=n_boot, seed=seed)
        result["auroc_low"], result["auroc_high"] = ci["low"], ci["high"]
    else:
        result["auroc_low"] = result["auroc_high"] = float("nan")
    # the table's own cut: the accuracy of its calls (operon_pair), not of its probabilities cut again there, which
    # are written with 6 decimals: a pair just under the cut, called 0, may be written on it (44 tied M. genitalium
    # pairs of 0.8599328 written 0.859933, at --threshold 0.859933)
    own_calls = threshold is None and y.size > 0 and bool((table.calls >= 0).all())
    if threshold is None:
        threshold = _called_at(table, maker.threshold)
    threshold = 0.5 if threshold is None else threshold
    result["threshold"] = threshold
    result["accuracy_at_threshold"] = (float(np.mean(table.calls == y)) if own_calls
                                       else binary_metrics(y, p, threshold)["accuracy"])
    # the best any threshold could do with these scores (chosen with the labels): what calibration alone can reach
    result["best_accuracy"] = best_cutoff_accuracy(y, p)
    baseline = distance_score(table.distance, table.same_strand)
    result["distance_auroc"] = binary_metrics(y, baseline)["auroc"]
    result["distance_best_accuracy"] = best_cutoff_accuracy(y, baseline)
    result["hard_auroc"], result["hard_n"] = np.nan, 0
    if proteins:
        known = [i for i in range(len(y)) if table.gene_a[i] in proteins and table.gene_b[i] in proteins]
        if known:
            identity = np.array([prefix_identity(proteins[table.gene_a[i]], proteins[table.gene_b[i]]) for i in known])
            mask = hard_conflict_mask(y[known], identity)
            idx = np.array(known)[mask]
            if len(np.unique(y[idx])) == 2:
                result["hard_auroc"] = binary_metrics(y[idx], p[idx])["auroc"]
                result["hard_n"] = int(len(idx))
    if table.router is not None and np.isfinite(table.router).any():
        result["router"] = router_weight_means(table.router)
    return result


def _called_at(table: ScoredTable, stated: float | None) -> float | None:
    """The threshold ``table``'s calls were made at (score.threshold_of_calls; of the labelled pairs, the smallest
    called probability is not always the cut that made them). ``evaluate_table`` takes the accuracy of the calls
    themselves."""
    from .score import threshold_of_calls

    known = bool((table.calls >= 0).all())
    return threshold_of_calls(table.probability, table.calls == 1 if known else None, table.same_strand, stated)


def maker_warnings(tables) -> list[str]:
    """What a user comparing ``tables`` must know about the models that made them: two tables of one model name
    made by two versions of it (another model_id or decision_id, where both record it), and a table of the packaged
    default made by another version of it than this installation's (an older microfuse's default, or one rebuilt
    since). A user's own folder named ``default`` (``model_from=folder``) is not compared with the package's; a
    table of an older microfuse, whose line does not say which it was, is, in words that say so."""
    messages = []
    by_name: dict[str, ScoredTable] = {}
    for table in tables:
        maker = table.maker
        if maker is None or maker.model is None:
            continue
        first = by_name.setdefault(maker.model, table)
        if _differ(first.maker, maker):
            messages.append(f"{first.name} and {table.name} were scored by two models both named {maker.model!r} "
                            f"(two versions of it, or two folders of one name): {first.maker.describe()} and "
                            f"{maker.describe()}")
    defaults = [t for t in tables if t.maker and t.maker.model == "default" and t.maker.packaged is not False]
    default = _default_maker() if defaults else None
    for table in defaults:
        if default and _differ(table.maker, default):
            what = ("the packaged default of another microfuse" if table.maker.packaged else
                    "a model named 'default' (the packaged default of another microfuse, or a folder of that name: "
                    "its line does not say)")
            messages.append(f"{table.name} was scored by {what}, not this microfuse's default: "
                            f"{table.maker.describe()}, written by microfuse {table.maker.version or '?'}; this "
                            f"microfuse's default is {default.describe()}")
    return messages


def _differ(one: Maker, other: Maker) -> bool:
    """Whether two makers are two models: an identity both record differs (one a table does not record, as an
    older microfuse wrote no decision_id, tells nothing; nor does the decision_id of a user's `--threshold`)."""
    pairs = [(one.model_id, other.model_id)]
    if "user" not in (one.threshold_from, other.threshold_from):
        pairs.append((one.decision_id, other.decision_id))
    return any(a is not None and b is not None and a != b for a, b in pairs)


def _default_maker() -> Maker | None:
    """The identities of this installation's default model (score.DEFAULT_MODEL); None when it is missing or
    cannot be read (then nothing is compared: evaluating tables does not need it; a folder installed unreadable
    to the user stopped `evaluate` with 'Permission denied')."""
    from . import __version__
    from .score import load_model

    try:
        model = load_model(None)
    except (DataError, OSError):
        return None
    return Maker(__version__, "default", model.identity, model.decision_identity, PACKAGE)
