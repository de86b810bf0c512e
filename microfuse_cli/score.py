"""Scores and operons: apply a trained model to pair views, chain pairs into operons (written by io.tables, io.gff).

An operon is a maximal chain of consecutive same-strand adjacent pairs whose probability reaches the threshold;
chains never cross scaffolds. On a circular scaffold a chain may run through the (last, first) pair.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from numbers import Real
from os import PathLike
from pathlib import Path
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from . import __version__
from .errors import DataError, UsageError, check_flags, log_naming
from .io.model_id import DECISION_KEY, threshold_text
from .records import Genome, printable_name, read_only, require_genome
from .runtime import thread_limits
from .pairs import PAIRS_TAKEN, GenePair, genes_comment, require_pairs  # genes_comment: score.genes_comment too
from .progress import check_callbacks

log = logging.getLogger("microfuse")

if TYPE_CHECKING:  # pragma: no cover
    from .embed import Embeddings, ViewConfig
    from .fusion import PairInputs, ScoringModel
    from .progress import Stage

#: The model shipped in the package: MicroFuse on the builtin views with a per-genome decision rule, trained on the
#: four labelled genomes of ../shared/data (train_default.py).
DEFAULT_MODEL = Path(__file__).parent / "data" / "default_model"


@dataclass(frozen=True)
class Scores:
    """Per-pair model outputs, aligned with ``pairs``: immutable (tuples, read-only arrays), so the writers, the
    operon caller and a library user all read the same scores."""

    pairs: tuple[GenePair, ...]
    probability: np.ndarray
    threshold: float
    router_weights: np.ndarray | None = None
    fused: np.ndarray | None = None
    calibration: tuple = ()  # calibration.GenomeCalibration per genome / --bins bin
    model_id: str | None = None  # checkpoint.model_identity of the model that scored (None: Scores built by hand)
    decision_id: str | None = None  # decision_id(model, threshold): the rule that made ``calls`` (header_comments)
    decided_at: float | None = None  # the threshold decision_id names: a copy cut elsewhere carries no decision_id

    def __post_init__(self) -> None:  # normalising the fields as built, never changing them later
        object.__setattr__(self, "pairs", tuple(self.pairs))
        # a gene id or tuple was an AttributeError in .calls or call_operons
        require_pairs(self.pairs, "Scores hold GenePair objects (select_pairs makes them)")
        object.__setattr__(self, "threshold", _checked_threshold(self.threshold))  # '0.5' failed in .calls
        if self.decided_at is not None and self.decided_at != self.threshold:  # replace(scores, threshold=x): other
            object.__setattr__(self, "decision_id", None)  # calls, whose rule the old decision_id does not name
            object.__setattr__(self, "decided_at", None)
        for name in ("probability", "router_weights", "fused"):
            object.__setattr__(self, name, read_only(getattr(self, name)))
        object.__setattr__(self, "calibration", tuple(self.calibration))
        self._check_aligned()

    def _check_aligned(self) -> None:
        """Scores built by hand: one row per pair in every array, said at once (it was a numpy broadcasting
        ValueError, or a KeyError, in whichever stage read them first)."""
        n = len(self.pairs)
        for name in ("probability", "router_weights", "fused"):
            array = getattr(self, name)
            if array is not None and (array.ndim != (1 if name == "probability" else 2) or len(array) != n):
                raise DataError(f"Scores: {name} of shape {array.shape} for {n} pairs (one row per pair, in order)")

    @property
    def calls(self) -> np.ndarray:
        """1 where a same-strand pair's probability reaches ``threshold``, else 0 (int64, aligned with ``pairs``):
        the scores TSV's ``operon_pair`` and the links of ``call_operons`` (opposite strands are never one operon,
        whatever a model's probability)."""
        same_strand = np.fromiter((p.same_strand for p in self.pairs), dtype=bool, count=len(self.pairs))
        return ((self.probability >= self.threshold) & same_strand).astype(np.int64)


def check_model_path(path: str | PathLike | None) -> Path:
    """The model folder ``load_model`` reads (the packaged default when ``path`` is None), checked for its files:
    a one-line ``DataError`` when it is missing or incomplete."""
    from .checkpoint import check_model_folder, model_folder_path

    folder = DEFAULT_MODEL if path is None else Path(model_folder_path(path))
    try:  # Python 3.11's is_dir() raises PermissionError in a folder that may not be searched
        if not folder.is_dir():
            if path is None:
                raise DataError(f"the default model is missing from the installation ({folder}); reinstall "
                                "microfuse")
            raise DataError(f"{folder}: a file, not a model folder" if folder.exists()
                            else f"no such model folder: {folder}")
        return _open_model_files(check_model_folder(folder))
    except PermissionError as exc:
        raise _unreadable_model(exc, folder, packaged=path is None) from None


def _open_model_files(folder: Path) -> Path:
    """``folder``, its config and weights opened (not read), so one this user may not read raises PermissionError
    here, said as such by ``check_model_path``, not later as a broken file."""
    from .checkpoint import CONFIG_FILE, WEIGHTS_FILE

    for name in (CONFIG_FILE, WEIGHTS_FILE):
        with open(folder / name, "rb"):
            pass
    return folder


def _unreadable_model(exc: PermissionError, folder: Path, *, packaged: bool) -> DataError:
    """A model folder, or its config or weights, this user may not read, said in one line: it was 'Permission denied
    (PATH)', or its config 'not valid JSON (unreadable)', exit 1. The packaged default (installed by another user
    with mode 0700, or a umask of 077) is named as such, with the way out."""
    denied = exc.strerror or str(exc)
    if packaged:
        return DataError.naming(
            f"the default model of this installation cannot be read by this user ({denied}: "
            f"{exc.filename or folder}); reinstall microfuse as this user, or ",
            ("load a model folder of your own (load_model(path))", "give a model folder with -m"))
    if exc.filename and Path(exc.filename) != folder:
        denied += f": {exc.filename}"
    return DataError(f"model folder {folder} cannot be read by this user ({denied})")


def require_view_models(path: str | PathLike | None, *, offline: bool = False):
    """Refuse, before a genome is read, a model whose views load a foundation model that is not at hand (a folder
    lacking files, a hub id neither cached nor downloadable): embed.ViewConfig.require_models.

    Returns:
        The model's views, as embed.ViewConfig.
    """
    from .checkpoint import read_inputs
    from .embed import ViewConfig

    inputs = read_inputs(check_model_path(path))
    config = ViewConfig.parse(inputs.protein_view, inputs.context_view, offline=offline)
    config.require_models()
    return config


def view_model_folders(path: str | PathLike | None, *, views: tuple[str, str] | None = None,
                       **models: str | None) -> list[str]:
    """The folders of the foundation models the views of the model at ``path`` (None: the packaged one) load, where
    they are at hand (embed.ViewConfig.model_folders), from its config alone; none when the views or the model cannot
    be read (said later, in ``check_model_path``'s words, after the outputs are checked). ``views`` (protein,
    context): a run's own views, read in place of a model's (`embed` without -m; ``path`` unused); ``models``:
    `embed`'s ``protein_model``, ``context_model`` and ``esm_model``, the folders or hub ids the views load instead
    of their defaults."""
    from .checkpoint import read_inputs
    from .embed import ViewConfig

    try:
        if views is None:
            inputs = read_inputs(check_model_path(path))
            views = inputs.protein_view, inputs.context_view
        return ViewConfig.parse(*views, **models).model_folders()
    except (DataError, UsageError, OSError):
        return []


def load_model(path: str | PathLike | None) -> ScoringModel:
    """A model folder written by `train` (the packaged default when ``path`` is None), ready to score.

    The folder is read once (checkpoint.read_checkpoint). Fusion heads and their baselines load as numpy
    ``fusion.FusionHead`` (no torch import); a distance baseline as numpy ``baseline.DistanceBaseline``. To predict
    with torch on a device, train further or save again, ``trained.load_torch_model`` opens the same folder.

    Returns:
        The model, as the ``ScoringModel`` that ``score_genome`` takes.
    Raises:
        DataError: no such folder, a file in its place, or missing, corrupt or inconsistent model files.
        UsageError: ``path`` is empty ("" would be the working directory) or not a str or os.PathLike.
    """
    from .checkpoint import read_checkpoint
    from .fusion import FusionHead

    checkpoint = read_checkpoint(check_model_path(path))
    if checkpoint.arch == "distance":
        from .baseline import DistanceBaseline

        return DistanceBaseline.from_checkpoint(checkpoint)
    head = FusionHead.from_checkpoint(checkpoint)
    if head.decision is not None:  # the spacer calibration's isotonic fit: ~0.3 s of imports, paid in the
        import importlib  # loader thread, beside pyrodigal, rather than after gene calling

        importlib.import_module("scipy.optimize")
    return head


def model_views(model: ScoringModel) -> dict[str, str]:
    """The views a model was trained on (as recorded in its metadata)."""
    return model.inputs.views


def model_context_features(model: ScoringModel) -> list[str] | None:
    """The named context columns a model reads (None: every column of its views)."""
    features = model.inputs.context_features
    return list(features) if features else None


def check_compatible(model: ScoringModel, embeddings: Embeddings) -> None:
    """Refuse embeddings whose views or dimensions differ from those the model was trained on."""
    inputs = model.inputs
    have = embeddings.manifest.get("views", {})
    if have and (have.get("protein"), have.get("context")) != (inputs.protein_view, inputs.context_view):
        raise DataError(f"the model was trained on views protein={inputs.protein_view}, context={inputs.context_view} "
                        f"but the embeddings hold protein={have.get('protein')}, context={have.get('context')}")
    if inputs.context_features:
        embeddings.column_index(list(inputs.context_features))
        if inputs.dims and inputs.dim("protein") != embeddings.dims["protein"]:
            raise DataError(f"the model expects a {inputs.dim('protein')}-d protein view, the embeddings have "
                            f"{embeddings.dims['protein']}")
    elif inputs.dims and any(inputs.dim(k) != embeddings.dims[k] for k in ("protein", "context", "pair_context")):
        raise DataError(f"the model expects view dims {dict(inputs.dims)}, the embeddings have {embeddings.dims}")


def default_threshold(model: ScoringModel) -> float:
    """The probability a model calls an operon pair at: 0.5 under a per-genome decision rule (the cut-off in bp is
    the genome's own), else the threshold chosen on validation."""
    return 0.5 if model.decision is not None else float(model.threshold)


def view_config(model: ScoringModel, *, device: str = "auto", offline: bool = False) -> ViewConfig:
    """The embed.ViewConfig that computes the views ``model`` was trained on."""
    from .embed import ViewConfig

    inputs = model.inputs
    return ViewConfig.parse(inputs.protein_view, inputs.context_view, device=device, offline=offline,
                            context_features=inputs.context_features or None)


def score_genome(genome: Genome, model: ScoringModel | str | PathLike | None = None, *,
                 pairs: Sequence[GenePair] | None = None, embeddings: Embeddings | str | PathLike | None = None,
                 groups: Mapping[str, str] | None = None, threshold: float | None = None, fused: bool = False,
                 threads: int = 1, device: str = "auto", offline: bool = False, stage: Stage | None = None) -> Scores:
    """Score ``pairs`` of ``genome`` (default: every adjacent pair) with ``model`` (from ``load_model``, or a model
    folder's path, which is loaded; default: the packaged model): views -> fusion head -> each genome's spacer
    calibration.

    ``embeddings`` (embed.Embeddings of this genome, or its folder's path) skips computing the views. ``groups``
    (scaffold -> bin, as calibration.read_groups gives) calibrates each bin of a metagenome on its own spacers; it
    does not call genes again (the genes, and the pairs given, are the genome's as read): read a bare assembly with
    ``read_genome(path, options=GenomeOptions(bins=groups))`` for each bin's own gene calling, as `score --bins`.
    ``stage(description, total) -> advance(n)`` reports progress of the view computation (progress.Stage).
    ``device`` places the foundation-model views (``auto``: a GPU when one is visible), never the head: a
    ``load_model`` model (or a folder's path) runs its head in numpy on the CPU, a torch ``TrainedModel``
    (``training.train``, ``TrainedModel.load``) on its own device, the CPU unless told (for the same bytes).

    Returns:
        The ``Scores`` of ``pairs``, in their order, each pair once (one given twice, as A|B again, is scored at its
        first place, as ``select_pairs`` keeps a listed pair, and said in an info line): probabilities, calls at the
        model's decision, and the fused vectors when ``fused``.
    Raises:
        UsageError: ``genome`` not a Genome (or one built by hand holding other than Gene records with whole-number
            coordinates); a ``threshold`` outside [0, 1], ``threads`` not a whole number >= 0,
            a malformed ``device`` (or one this machine lacks, for a model with foundation-model views); a
            ``model``, ``embeddings``, ``pairs``, ``groups`` or ``stage`` of the wrong kind.
        DataError: a Genome built by hand that breaks its invariants, pairs of another genome, a pair given twice
            labelled 0 and 1, a model or embedding folder that is missing or does not fit, groups naming no scaffold
            of the genome.
    """
    from .pairs import adjacent_pairs, one_row_per_pair

    require_genome(genome, "score_genome")
    check_flags("score_genome", fused=fused, offline=offline)
    check_callbacks("score_genome", stage=stage)  # stage=True was a TypeError once the views began
    if threshold is not None:
        _checked_threshold(threshold)  # before the views are computed
    if groups is not None:
        from .calibration import unknown_group_scaffolds

        unknown_group_scaffolds(groups, genome, "groups")
    model = load_model(model) if model is None or isinstance(model, (str, PathLike)) else model
    if not callable(getattr(model, "predict_pairs", None)):
        raise UsageError(f"score_genome's model is a ScoringModel (load_model(path) loads one) or a model folder's "
                         f"path, not {type(model).__name__}")
    pairs = adjacent_pairs(genome) if pairs is None else list(pairs)
    require_pairs(pairs, PAIRS_TAKEN)
    pairs = one_row_per_pair(pairs, "score_genome's pairs")  # once each, as select_pairs keeps a list's (`--pairs`)
    with thread_limits(threads):  # the views, the head's matrix products and the calibration: `threads` BLAS threads
        if embeddings is None:
            from .embed import compute_embeddings

            embeddings = compute_embeddings(genome, pairs, view_config(model, device=device, offline=offline),
                                            threads=threads, stage=stage, groups=groups)
        else:
            from .embed import Embeddings

            if isinstance(embeddings, (str, PathLike)):  # an embedding folder, as `score --embeddings` takes
                embeddings = Embeddings.load(embeddings)
            if not isinstance(embeddings, Embeddings):
                raise UsageError(f"score_genome's embeddings are an embed.Embeddings or an embedding folder's path, "
                                 f"not {type(embeddings).__name__}")
            embeddings.check_genes(genome.genes)
        return score_pairs(model, embeddings, pairs, threshold=threshold, fused=fused,
                           spacer_models=genome_spacer_models(model, genome, groups), groups=groups)


def genome_spacer_models(model: ScoringModel, genome: Genome, groups: Mapping[str, str] | None = None) -> dict | None:
    """The spacer calibration of each genome (``groups`` bin) on all its adjacent pairs, whichever are scored, but
    those on short fragments (``calibration.usable_pairs``); None for a model without a per-genome rule."""
    if model.decision is None:
        return None
    from .calibration import calibrate_by_group, short_fragments
    from .pairs import adjacent_pairs

    return calibrate_by_group(adjacent_pairs(genome), [], groups, short_fragments(genome))[1]


def pair_inputs(model: ScoringModel, embeddings: Embeddings, pairs: Sequence[GenePair]) -> PairInputs:
    """The model's inputs for ``pairs`` (fusion.PairInputs): its views from ``embeddings``, checked against the
    model's input contract, and the pairs' spacers and strands."""
    from .fusion import PairInputs

    check_compatible(model, embeddings)
    x_protein, x_context = embeddings.pair_views(pairs, model_context_features(model))
    return PairInputs(x_protein, x_context, np.array([p.distance for p in pairs], dtype=np.float64),
                      np.array([p.same_strand for p in pairs], dtype=bool))


def score_pairs(model: ScoringModel, embeddings: Embeddings, pairs: Sequence[GenePair], *,
                threshold: float | None = None, fused: bool = False, spacer_models: dict | None = None,
                groups: Mapping[str, str] | None = None) -> Scores:
    """Probabilities (and router weights, fused vectors) of ``pairs`` from their embeddings.

    A model with a decision rule calibrates each genome (``groups``: scaffold -> bin) on its own spacers:
    ``spacer_models`` (group -> calibration.SpacerModel, fitted on all adjacent pairs; default: fitted on ``pairs``).
    """
    check_flags("score_pairs", fused=fused)
    cut = default_threshold(model) if threshold is None else _checked_threshold(threshold)
    prediction = model.predict_pairs(pair_inputs(model, embeddings, pairs), fused=fused)
    probability = np.asarray(prediction.probability, dtype=np.float64)
    decision = model.decision
    calibration = []
    if decision is not None:
        probability, calibration = apply_decision(decision, pairs, probability, spacer_models, groups)
    return Scores(list(pairs), probability, float(cut), prediction.router_weights,
                  prediction.fused if fused else None, calibration, getattr(model, "identity", None),
                  decision_id(model, cut), float(cut))


def _checked_threshold(threshold: float) -> float:
    """``threshold`` as a float, refused before any work unless a probability in [0, 1] (numpy's floats too: a
    ``np.float32`` cut from a model's metrics is a probability)."""
    if isinstance(threshold, bool) or not isinstance(threshold, Real) or not 0.0 <= threshold <= 1.0:
        raise UsageError(f"threshold must be a probability within [0, 1], not {threshold!r}")
    return float(threshold)


def apply_decision(rule, pairs: Sequence[GenePair], head_probability: np.ndarray, spacer_models: dict | None,
                   groups: Mapping[str, str] | None):
    """(probability, [GenomeCalibration]): each genome's (bin's) cut-off from its own spacers and the rule's prior,
    the head's residual beyond distance added with the rule's weight."""
    from .calibration import calibrate_by_group, head_residual

    groups = groups or {}
    if spacer_models is None:
        _, spacer_models = calibrate_by_group(pairs, pairs, groups)
    distance = np.array([p.distance for p in pairs], dtype=np.float64)
    same = np.array([p.same_strand for p in pairs], dtype=bool)
    head = np.clip(head_probability, 1e-7, 1 - 1e-7)
    logit = np.log(head) - np.log1p(-head)
    members: dict[str, list[int]] = {}
    for i, p in enumerate(pairs):
        members.setdefault(groups.get(p.scaffold, ""), []).append(i)
    probability = np.zeros(len(pairs))
    calibration = []
    for name, rows in members.items():
        model = spacer_models.get(name)
        if model is None:  # pairs of a scaffold the models were not fitted on: calibrate on these pairs
            _, fitted = calibrate_by_group([pairs[i] for i in rows], [pairs[i] for i in rows])
            model = fitted[""]
        genome = rule.calibrate(name, model)
        if groups and not name:
            genome = replace(genome, unbinned=True)
        if (warning := genome._few_pairs_parts()) is not None:
            log_naming(log, logging.WARNING, *warning)
        residual = head_residual(logit[rows], distance[rows], same[rows]) if rule.correction else None
        probability[rows] = rule.probability(distance[rows], same[rows], genome.cutoff_bp, residual)
        calibration.append(genome)
    return probability, calibration


def decision_id(model: ScoringModel, threshold: float) -> str:
    """The ``decision_id`` of calls made by ``model`` at ``threshold``: the model's own (its ``decision_identity``)
    at its own cut (``default_threshold``), else that of its rule with the user's cut in its place
    (checkpoint.decision_identity's ``cut``): other calls, another identity.

    Raises:
        UsageError: ``model`` not a ScoringModel (``load_model`` gives one), ``threshold`` outside [0, 1]."""
    from .checkpoint import decision_identity

    if not hasattr(model, "decision_identity"):  # a path or a str was an AttributeError ('decision')
        raise UsageError(f"decision_id takes a ScoringModel (load_model(path) loads one), not {type(model).__name__}")
    threshold = _checked_threshold(threshold)

    if float(threshold) == default_threshold(model):
        return model.decision_identity
    return decision_identity(model.decision, model.threshold, cut=float(threshold))


def model_source(model_dir: str | PathLike | None) -> tuple[str, str]:
    """(name, ``model_from``) of the model a run scored with: ``default``/``package`` for the packaged model (named or
    given by its path), the folder's name/``folder`` for any other, ``default`` too when a user names it so: the
    ``model_from=`` of headers tells the two apart (``evaluate`` compares only the package's with its own).

    Raises:
        UsageError: ``model_dir`` neither None nor a path (a loaded model is named by the folder it came from)."""
    from .checkpoint import model_folder_path

    if model_dir is not None:
        model_folder_path(model_dir)  # a loaded model, say, was a TypeError of pathlib
    if model_dir is None or Path(model_dir).resolve() == DEFAULT_MODEL.resolve():
        return "default", "package"
    return Path(model_dir).name, "folder"


def header_comments(scores: Scores, model_name: str, model_from: str = "folder", *, model_id: str | None = None,
                    decision_id: str | None = None, threshold_from: str = "model",
                    genome: Genome | None = None, genes: str | None = None) -> list[str]:
    """Comment lines that say which model scored (its folder's name and, as two folders may share a name, its
    identity: checkpoint.model_identity in full, the ``model_id=`` of `score --fused` ids files), which rule made
    its calls (``decision_id``, checkpoint.decision_identity: two models differing only in it share ``model_id``)
    and what it calibrated per genome (or bin). ``model_from`` (``package``: the packaged default, else
    ``folder``) and ``threshold_from`` (``model``, or ``user`` for `score --threshold`) come before ``model_id``:
    a reader of the older line reads them as part of the threshold's value, which it does not use, and finds
    ``model_id`` and ``decision_id`` where they were. Either identity not given is the one ``scores`` carry
    (score_genome's): a library user writes the header of the model and rule that did score.
    ``header_comments(scores, *model_source(model_dir))`` is the CLI's header for `score -m model_dir` (identities
    are keyword-only: given in third place, the ``model_from`` of model_source once became a ``model_id=``).
    ``genome``, the one scored, adds its ``genes_comment`` after the ``#microfuse`` line (how its genes were found);
    ``genes`` is that line where the genome cannot tell it: a pairs TSV's own (``PairTable.genes_comment``), which
    a genome rebuilt from the table (``genome_from_table``: ``source=pairs_table``) does not know.

    Raises:
        UsageError: ``scores`` not Scores, an identity neither given nor carried by ``scores`` (Scores built by
            hand), a ``model_from`` other than package/folder or a ``threshold_from`` other than model/user, or
            ``genes`` not a ``genes source=...`` line or given without ``genome``."""
    if not isinstance(scores, Scores):  # a Genome (or a path) was an AttributeError ('model_id')
        raise UsageError(f"header_comments takes the Scores score_genome returns, not {type(scores).__name__}")
    if genome is not None:
        require_genome(genome, "header_comments")
    if genes is not None and (genome is None or not isinstance(genes, str) or not genes.startswith("genes source=")
                              or "\n" in genes):
        raise UsageError(f"header_comments' genes is the 'genes source=...' line of the genome given (a pairs "
                         f"table's PairTable.genes_comment), not {genes!r:.60}")
    if model_from not in ("package", "folder") or threshold_from not in ("model", "user"):
        raise UsageError(f"header_comments takes model_from 'package' or 'folder' (score.model_source gives it) and "
                         f"threshold_from 'model' or 'user', not {model_from!r} and {threshold_from!r}")
    model_id = scores.model_id if model_id is None else model_id
    decision_id = scores.decision_id if decision_id is None else decision_id
    if model_id is None or decision_id is None:
        raise UsageError("these scores do not record which model and rule made them (built by hand, or cut at "
                         "another threshold with dataclasses.replace?): pass header_comments its model_id and "
                         "decision_id (score.decision_id(model, threshold))")
    model_name = printable_name(str(model_name))  # a folder name's tab or newline would end the '#' line early
    lines = [f"microfuse {__version__} model={model_name} threshold={threshold_text(scores.threshold)} "
             f"model_from={model_from} threshold_from={threshold_from} model_id={model_id} "
             f"{DECISION_KEY}={decision_id}"]
    if genome is not None:
        lines.append(genes_comment(genome) if genes is None else genes)
    return lines + [f"calibration {c.describe()}" for c in scores.calibration]


# ------------------------------------------------------------------------------------------------ operons


@dataclass(frozen=True)
class Operon:
    """Genes joined by called same-strand adjacent pairs: ``genes`` in transcription order, ``probabilities`` of
    the pairs that join them; ``start``/``end`` span every member (``end`` past the scaffold's length when
    ``wraps`` across the origin of a circular scaffold, as GFF3 writes such a feature). Immutable (tuples)."""

    id: str
    scaffold: str
    start: int
    end: int
    strand: int
    genes: tuple[str, ...]
    probabilities: tuple[float, ...]
    wraps: bool = False

    def __post_init__(self) -> None:  # normalising the fields as built, never changing them later
        object.__setattr__(self, "genes", tuple(self.genes))
        object.__setattr__(self, "probabilities", tuple(self.probabilities))

    @property
    def mean_probability(self) -> float:
        return float(np.mean(self.probabilities))

    @property
    def min_probability(self) -> float:
        return float(np.min(self.probabilities))


def threshold_of_calls(probability: np.ndarray, called: np.ndarray | None, same_strand: np.ndarray,
                       stated: float | None) -> float | None:
    """The cut a scores table's calls (``called``, booleans; None where some are unknown) were made at, for
    `evaluate` and `plot`, which read tables back: ``stated`` (its '#microfuse' line's threshold, or the packaged
    model's) where it is the cut, else the smallest probability called positive.

    microfuse writes the line's threshold exactly (io.model_id.threshold_text), so a value of more than 4 decimals is
    the cut itself. One of 4 decimals may be an older microfuse's rounding (--threshold 0.81907 said 0.8191, which
    calls no pair of 0.819075), so it is taken only where it gives the table's calls (same-strand pairs at or above
    it; calls never join opposite strands)."""
    if stated is not None and (float(f"{stated:.4f}") != stated or called is None
                               or np.array_equal((probability >= stated) & same_strand, called)):
        return stated
    if called is not None and called.any():
        return float(probability[called].min())
    return stated


def call_operons(genome: Genome, scores: Scores) -> list[Operon]:
    """Join genes linked by same-strand adjacent pairs at or above the threshold into multi-gene operons.

    An operon covers its members: from the first start to the furthest end (a member nested in a longer one does
    not cut it short). One that runs across the origin of a circular scaffold ends past the scaffold's length,
    as GFF3 writes such features.

    Returns:
        The operons in scaffold and start order, with ids ``operon_1``, ``operon_2``, ...
    Raises:
        UsageError: ``genome`` is not a Genome (or a hand-built one with fields of the wrong kind, ``Genome.check``)
            or ``scores`` not Scores.
        DataError: ``scores`` are of pairs that ``genome`` lacks (scores of another genome), or a Genome built by
            hand breaks its invariants.
    """
    require_genome(genome, "call_operons")
    if not isinstance(scores, Scores):
        raise UsageError(f"call_operons takes the Scores score_genome returns, not {type(scores).__name__}")
    by_scaffold = genome.genes_by_scaffold()
    position = {g.id: (i, g) for genes in by_scaffold.values() for i, g in enumerate(genes)}
    _check_same_genome(genome, scores, position)
    calls = scores.calls
    parent: dict[str, str] = {}

    def root(gene_id: str) -> str:
        while parent.setdefault(gene_id, gene_id) != gene_id:
            parent[gene_id] = parent[parent[gene_id]]
            gene_id = parent[gene_id]
        return gene_id

    links: list[tuple[GenePair, float]] = []
    for pair, call, prob in zip(scores.pairs, calls, scores.probability):
        if call and pair.same_strand and pair.genes_between == 0:
            links.append((pair, float(prob)))
            parent[root(pair.gene_a.id)] = root(pair.gene_b.id)
    groups: dict[str, list[GenePair]] = {}
    probabilities: dict[str, list[float]] = {}
    for pair, prob in links:
        key = root(pair.gene_a.id)
        groups.setdefault(key, []).append(pair)
        probabilities.setdefault(key, []).append(prob)
    counts = {sid: len(genes) for sid, genes in by_scaffold.items()}
    operons = [_operon(links_of, probabilities[key], position, genome, counts) for key, links_of in groups.items()]
    scaffold_order = {sid: i for i, sid in enumerate(genome.scaffolds)}
    operons.sort(key=lambda o: (scaffold_order[o.scaffold], o.start, o.end))
    return [replace(operon, id=f"operon_{i}") for i, operon in enumerate(operons, start=1)]


def _check_same_genome(genome: Genome, scores: Scores, position: dict) -> None:
    """Refuse scores of pairs whose genes ``genome`` lacks (scores of another genome) in one line."""
    for pair in scores.pairs:
        for gene in (pair.gene_a, pair.gene_b):
            if gene.id not in position or pair.scaffold not in genome.scaffolds:
                raise DataError(f"scored pair {pair.pair_id} is not a pair of genome {genome.name!r} "
                                f"(no gene {gene.id!r} on scaffold {pair.scaffold!r}): scores of another genome?")


def _operon(links: list[GenePair], probs: list[float], position: dict, genome: Genome, counts: dict) -> Operon:
    """One operon from its linking pairs: members in transcription order, extent over all members."""
    members = sorted({g.id for p in links for g in (p.gene_a, p.gene_b)}, key=lambda gid: position[gid][0])
    scaffold = genome.scaffolds[links[0].scaffold]
    closes_circle = any(p.gene_b.start < p.gene_a.start for p in links)
    ring = len(members) == counts[scaffold.id]  # every gene of a circle: written from its first gene
    if closes_circle and not ring:  # members after the largest gap in gene order come first (past the origin)
        indices = [position[gid][0] for gid in members]
        cut = max(range(1, len(indices)), key=lambda k: indices[k] - indices[k - 1])
        head = members[:cut]
        members = members[cut:] + head
        shifted = set(head)
    else:
        shifted = set()
    genes = [position[gid][1] for gid in members]
    offset = [scaffold.length if gid in shifted else 0 for gid in members]
    start = min(g.start + o for g, o in zip(genes, offset))
    end = max(g.end + o for g, o in zip(genes, offset))
    strand = genes[0].strand
    if strand < 0:  # list members in transcription order
        members, probs = members[::-1], probs[::-1]
    return Operon("", scaffold.id, start, end, strand, members, probs, end > scaffold.length)


