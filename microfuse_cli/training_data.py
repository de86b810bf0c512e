"""Training data: labelled pairs tables with their embedding folders, row-aligned, and the per-genome decision
rule learned from the tables. numpy only: ``training`` fits on what this gathers."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Optional, Sequence

import numpy as np

from .checkpoint import ModelInputs
from .errors import DataError, UsageError, log_naming
from .io.files import FILES_KEY

if TYPE_CHECKING:
    from .calibration import DecisionRule
    from .pairs import GenePair

log = logging.getLogger("microfuse")


def resolve_context_features(spec: str, emb) -> list[str] | None:
    """'all' -> None; a preset name or a comma list -> the matching context column names of ``emb``."""
    from .embed import CONTEXT_PRESETS

    if spec == "all":
        return None
    wanted = CONTEXT_PRESETS.get(spec) or tuple(n.strip() for n in spec.split(",") if n.strip())
    names = emb.context_names
    chosen = [n for n in names if n in wanted or n.split(":", 1)[-1] in wanted]
    unknown = [w for w in wanted if not any(n == w or n.split(":", 1)[-1] == w for n in names)]
    if unknown or not chosen:
        raise UsageError(f"--context-features: unknown feature(s) {', '.join(unknown[:4]) or spec} "
                         f"(presets: all, {', '.join(CONTEXT_PRESETS)})")
    return chosen


@dataclass(frozen=True)
class TrainingData:
    """Labelled pairs of one or more genomes, row-aligned: their pair views, labels, split masks, spacers and
    strands, and the embedding manifest (of the first folder; all hold the same views)."""

    x_protein: np.ndarray
    x_context: np.ndarray
    y: np.ndarray
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    distance: np.ndarray
    opposite: np.ndarray
    pairs: list
    manifest: dict
    context_features: Optional[list[str]]
    #: each pairs table read (``pairs.PairTable``), in the order of the paths: `train --per-genome-rule` learns its
    #: rule from them (``learn_decision_rule``) without reading the files again
    tables: tuple = ()

    @property
    def inputs(self) -> ModelInputs:
        """The input contract of a model trained on these pairs: views, context columns, view widths."""
        return ModelInputs.from_embeddings(self.manifest.get("views") or {}, self.manifest.get("dims") or {},
                                           self.context_features)

    def provenance(self) -> dict:
        """What a model records of its training data besides its inputs: the embedding manifest, pair counts."""
        return {
            "embedding_manifest": {k: v for k, v in self.manifest.items() if k not in (FILES_KEY,)},
            "training_pairs": int(self.train.sum()), "validation_pairs": int(self.val.sum()),
        }


def load_training_data(pair_paths, embedding_dirs, val_fraction, seed, context_spec="all") -> TrainingData:
    """Concatenate labelled pairs of one or more genomes with their pair views and splits."""
    from .embed import Embeddings
    from .pairs import assign_splits, read_pairs

    if len(pair_paths) != len(embedding_dirs):
        raise UsageError(f"give one --embeddings folder per pairs table ({len(pair_paths)} tables, "
                         f"{len(embedding_dirs)} folders)")
    xs_p, xs_c, ys, splits, distances, opposite, manifests, all_pairs, tables = [], [], [], [], [], [], [], [], []
    split_given = []  # tables whose own split column decides, where val_fraction is not used
    for path, folder in zip(pair_paths, embedding_dirs):
        table = read_pairs(path)
        tables.append(table)
        pairs = [p for p in table.pairs if p.label is not None]
        if not pairs:
            raise DataError(f"{path}: no labelled pairs (a `label` column from `microfuse pairs --operons`)")
        if any(p.split is None for p in pairs):
            if val_fraction is None:
                raise UsageError(f"{path} has no split column: give --val-fraction (or `pairs --split`)")
            pairs = assign_splits(pairs, (1 - val_fraction, val_fraction, 0.0), seed=seed)
        elif val_fraction is not None:
            split_given.append(str(path))
        emb = Embeddings.load(folder)
        features = resolve_context_features(context_spec, emb)
        try:
            emb.check_genetic_code(table.genes_comment, "the pairs TSV", pairs)
            x_p, x_c = emb.pair_views(pairs, features)
        except DataError as exc:  # with several tables, which table and which folder do not match
            raise DataError(f"{path} and {folder}: {exc}") from None
        xs_p.append(x_p), xs_c.append(x_c), manifests.append(emb.manifest)
        ys.append(np.array([p.label for p in pairs]))
        splits.append(np.array([p.split for p in pairs]))
        distances.append(np.array([p.distance for p in pairs], dtype=np.float64))
        opposite.append(np.array([not p.same_strand for p in pairs]))
        all_pairs += pairs
    views = {(m.get("views", {}).get("protein"), m.get("views", {}).get("context")) for m in manifests}
    if len(views) > 1:
        raise DataError(f"the embedding folders hold different views: {sorted(views)}")
    if split_given:  # `train --val-fraction 0.3` of a `pairs --split` table trained on the table's split, silently
        more = f" (and {len(split_given) - 1} more)" if len(split_given) > 1 else ""
        log_naming(log, logging.WARNING, ("val_fraction", "--val-fraction"),
                   f" {val_fraction:g} is not used for {split_given[0]}{more}: its split column decides which pairs "
                   "train and which validate (`pairs --split`); give a table without one to split it by ",
                   ("val_fraction", "--val-fraction"))
    split = np.concatenate(splits)
    return TrainingData(np.concatenate(xs_p), np.concatenate(xs_c), np.concatenate(ys), split == "train",
                        split == "val", split == "test", np.concatenate(distances), np.concatenate(opposite),
                        all_pairs, manifests[0], features, tuple(tables))


def learn_decision_rule(pair_paths, tables=None):
    """calibration.learn_rule over the tables, each one genome: spacer self-calibration on all its pairs.
    ``tables``: the ``pairs.PairTable`` of each path, where read already (``TrainingData.tables``); else each path is
    read here."""
    from .pairs import read_pairs

    names = [Path(path).name for path in pair_paths]
    if len(set(names)) < len(set(map(str, pair_paths))):  # a/pairs.tsv, b/pairs.tsv: one name replaced the other
        names = [str(path) for path in pair_paths]
    if tables is None:
        tables = [read_pairs(path) for path in pair_paths]
    elif len(tables) != len(pair_paths):
        raise UsageError(f"learn_decision_rule: {len(tables)} tables read for {len(pair_paths)} paths")
    return decision_rule_from_pairs({name: table.pairs for name, table in zip(names, tables)})


def decision_rule_from_pairs(genomes: Mapping[str, Sequence[GenePair]]) -> DecisionRule:
    """The per-genome rule (calibration.DecisionRule) that labelled genomes teach, from each genome's name (the
    rule records it; `train --per-genome-rule` names a genome by its table's file name, or by its path where two
    tables share a file name) and all its adjacent pairs, some labelled (``select_pairs(genome, operons=...)``):
    what `train --per-genome-rule` learns from pairs tables, for pairs in memory. ``TrainedModel.with_decision(rule)``
    gives it to a model.

    Raises:
        UsageError: ``genomes`` not a mapping of names to GenePair objects.
        DataError: a genome with no labelled pair.
    """
    from .calibration import LabelledSpacers, SpacerModel, learn_rule
    from .pairs import require_pairs

    if not isinstance(genomes, Mapping) or not genomes:
        raise UsageError(f"decision_rule_from_pairs takes a non-empty mapping of genome name -> its pairs, not "
                         f"{type(genomes).__name__}")
    labelled_genomes = []
    for name, pairs in genomes.items():
        pairs = [pairs] if isinstance(pairs, str) else list(pairs)
        # gene ids or tuples were an AttributeError ('label')
        require_pairs(pairs, f"{name}: decision_rule_from_pairs takes each genome's GenePair objects "
                             "(select_pairs(genome, operons=...))")
        labelled = [p for p in pairs if p.label is not None]
        if not labelled:
            raise DataError(f"{name}: no labelled pairs to learn a decision rule from (label them with "
                            f"select_pairs(genome, operons=...))")
        labelled_genomes.append(LabelledSpacers.from_pairs(name, SpacerModel.fit(pairs), labelled))
    return learn_rule(labelled_genomes)


