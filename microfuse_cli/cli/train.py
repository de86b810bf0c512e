"""``microfuse train``: fit the fusion head (or a baseline) on labelled pairs and their embeddings."""

from __future__ import annotations

import dataclasses

import click

from ..runtime import thread_limits
from ..vocabulary import ABLATIONS, ARCHS, PRECISIONS
from . import cli
from ._common import ExistingPath, FiniteFloatRange, IntRange, common_options, log, stdin_as_files, \
    warn_subset_table

#: Earlier releases called the model with nothing turned off "none"; it is still accepted on the command line.
ABLATION_ALIASES = {"none": "full"}


@cli.command(short_help="Fit a fusion head on labelled pairs.", epilog="""\b
Examples:
  microfuse pairs genome.gff --fasta genome.fna --operons known_operons.tsv --split 0.7,0.15,0.15 -o pairs.tsv
  microfuse embed genome.gff --fasta genome.fna -o emb/
  microfuse train pairs.tsv --embeddings emb/ -o model/
  microfuse train pairs.tsv --embeddings emb/ -o concat/ --arch concat --seeds 3
""")
@click.argument("pairs_tables", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True),
                metavar="PAIRS.tsv...")
@click.option("-e", "--embeddings", "embedding_dirs", multiple=True, required=True,
              type=ExistingPath("embedding folder", file_okay=False),
              help="Embedding folder of each pairs table, in order.")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False), help="Model folder to write.")
@click.option("--arch", type=click.Choice([*ARCHS, "distance"]),
              default="microfuse", show_default=True, help="The fusion head, a baseline, or intergenic distance alone.")
@click.option("--ablation", type=click.Choice([*ABLATIONS, *ABLATION_ALIASES]), default="full", show_default=True,
              help="A named ablation of the paper (microfuse arch only).")
@click.option("--context-features", default="all", show_default=True,
              help="Context columns to use: all, core (strand layout, spacer, overlaps: transfers across "
                   "species), or a comma list of feature names.")
@click.option("--seed", type=IntRange(min=0), default=0, show_default=True,
              help="Random seed: initial weights and batch order (of the first of --seeds runs), and the "
                   "--val-fraction split.")
@click.option("--seeds", type=IntRange(min=1), default=1, show_default=True,
              help="Train this many seeds (seed, seed+1, ...), report mean +/- std, keep the best on validation.")
@click.option("--val-fraction", type=FiniteFloatRange(0.01, 0.9), default=None,
              help="Validation share of a table without a split column, which needs it (whole scaffolds / gene "
                   "blocks); a table's own split column (`pairs --split`) is used as it is.")
@click.option("--epochs", type=IntRange(min=1), default=70, show_default=True,
              help="Most epochs to train (early stopping usually ends sooner).")
@click.option("--patience", type=IntRange(min=1), default=14, show_default=True,
              help="Stop after this many epochs without a better validation AUROC.")
@click.option("--batch-size", type=IntRange(min=2), default=4096, show_default=True,
              help="Pairs per training batch.")
@click.option("--lr", type=FiniteFloatRange(min=0, min_open=True), default=8e-4, show_default=True,
              help="AdamW learning rate.")
@click.option("--weight-decay", type=FiniteFloatRange(min=0), default=1e-4, show_default=True,
              help="AdamW weight decay.")
@click.option("--device", default="auto", show_default=True,
              help="auto (a GPU when one is visible), cpu, cuda or cuda:N. A GPU trains other weights than the CPU "
                   "(rounding), so other probabilities: --device cpu gives the bytes of the library's "
                   "training.train, whose TrainConfig defaults to cpu.")
@click.option("--precision", type=click.Choice(PRECISIONS), default="float32", show_default=True,
              help="Arithmetic of training (the weights are saved as float32 either way). float64 takes about twice "
                   "the time on a CPU and gives the same model bytes on other processors (their rounding differs near "
                   "1e-15, far below float32's); float32's last bits depend on the processor's vector units.")
@click.option("--per-genome-rule", is_flag=True,
              help="Store a per-genome decision rule learned from the tables (one genome each, all its adjacent "
                   "pairs, as `microfuse pairs` writes): `score` then cuts each genome where its own label-free "
                   "spacer posterior falls below the threshold these labels teach, kept inside the genome's own "
                   "90% interval, and ranks same-strand pairs by spacer, as the default model does.")
@common_options
def train(pairs_tables, embedding_dirs, output, arch, ablation, context_features, seed, seeds, val_fraction, epochs, patience,
          batch_size, lr, weight_decay, device, precision, per_genome_rule, run):
    """Fit the MicroFuse fusion head on labelled pairs (the `label` and `split` columns of PAIRS.tsv; '-' is stdin).

    AdamW with early stopping on validation AUROC, keeping the best epoch; the decision threshold is chosen on
    validation. Saves model.safetensors + config.json (with the standardisation statistics and the embedding
    manifest). Byte-identical on the CPU for a given seed and -t: another thread count rounds differently
    (-t 0 depends on the machine's cores); the same bytes on another processor with --precision float64.
    """
    from ..io.outputs import Output, check_outputs

    if arch != "microfuse" and ABLATION_ALIASES.get(ablation, ablation) != "full":
        # the other heads have no experts or contrastive terms to turn off: `--arch concat --ablation no_supcon`
        # trained the plain concat head, without a word
        raise click.UsageError(f"--ablation {ablation} turns off a part of the microfuse head; --arch {arch} has "
                               "none to turn off (leave --ablation out, or give --arch microfuse)")
    check_outputs([*pairs_tables, *embedding_dirs], [Output("-o", output, "microfuse-model")])
    # a table on stdin (or a pipe) is kept in a file, so messages name it 'stdin', as every command does, not '-'
    with stdin_as_files(pairs_tables) as tables:
        _train(tables, embedding_dirs, output, arch, ablation, context_features, seed, seeds, val_fraction, epochs,
               patience, batch_size, lr, weight_decay, device, precision, per_genome_rule, run)


def _train(pairs_tables, embedding_dirs, output, arch, ablation, context_features, seed, seeds, val_fraction, epochs,
           patience, batch_size, lr, weight_decay, device, precision, per_genome_rule, run):
    """`train` of its checked options, a table on stdin kept in a file (each table is read once, by
    load_training_data; --per-genome-rule reuses what it read, TrainingData.tables)."""
    from ..embed import resolve_device
    from ..model import FusionConfig
    from ..baseline import DistanceBaseline
    from ..trained import TrainConfig
    from ..training import train_seeds
    from ..training_data import load_training_data

    data = load_training_data(pairs_tables, embedding_dirs, val_fraction, seed, context_features)
    provenance = data.provenance()
    log.info("%d training, %d validation pairs (%d test held out); protein %d-d, context %d-d", data.train.sum(),
             data.val.sum(), data.test.sum(), data.x_protein.shape[1], data.x_context.shape[1])
    if arch == "distance":
        with thread_limits(run.threads, sklearn=True):  # its threshold's metrics load scikit-learn's pools now
            model = DistanceBaseline.fit(data.distance, data.y, data.train, data.val, data.opposite)
        if per_genome_rule:
            model = dataclasses.replace(model, decision=_decision_rule(pairs_tables, data.tables))
        model.save(output, provenance, inputs=data.inputs)
        log.info("distance baseline written to %s (threshold %.3f)", output, model.threshold)
        return
    ablation = ABLATION_ALIASES.get(ablation, ablation)
    config = FusionConfig(arch=arch) if ablation == "full" else FusionConfig.ablation(ablation, arch=arch)
    train_config = TrainConfig(lr=lr, weight_decay=weight_decay, batch_size=batch_size, max_epochs=epochs,
                               patience=patience, seed=seed, device=resolve_device(device), precision=precision)
    with run.progress("training", epochs * seeds, "epochs") as advance:
        def on_epoch(info):
            log.debug("seed %s epoch %d: loss %.4f, val AUROC %.4f", info.get("seed", seed), info["epoch"],
                      info["train_loss"], info["val_auroc"])

        runs = train_seeds(data.x_protein, data.x_context, data.y, data.train, data.val, config,
                           train_config, seeds=range(seed, seed + seeds), progress=advance, threads=run.threads,
                           inputs=data.inputs, on_epoch=on_epoch)
    best = max(range(len(runs.models)), key=lambda i: runs.per_seed[i].get("auroc", 0.0))
    model = runs.models[best]
    if per_genome_rule:
        model = model.with_decision(_decision_rule(pairs_tables, data.tables))
    summary = {k: (runs.mean[k], runs.std[k]) for k in runs.mean}
    provenance["seeds"] = {"seeds": runs.seeds, "per_seed": runs.per_seed, "mean": runs.mean, "std": runs.std}
    model.save(output, provenance)
    auroc = summary.get("auroc", (float("nan"), 0.0))
    log.info("validation AUROC %.4f +/- %.4f over %d seed(s); kept seed %d (epoch %s), threshold %.3f -> %s",
             auroc[0], auroc[1], len(runs.seeds), runs.seeds[best], model.metrics.get("best_epoch"),
             model.threshold, output)


def _decision_rule(pairs_tables, tables):
    """The per-genome rule learned from the tables (each one genome; ``tables``: each read once, by
    load_training_data), logged; a subset's table (`pairs --labels`) is said, as `embed` and `score` of it say it:
    the rule calibrates on its pairs alone."""
    from ..training_data import learn_decision_rule

    for path, table in zip(pairs_tables, tables):
        warn_subset_table(table, path, "train")
    rule = learn_decision_rule(pairs_tables, tables)
    log.info("per-genome rule: posterior threshold %.2f inside the own %.0f%% interval, prior cut-off %.0f bp, "
             "slope %.3f", rule.posterior_threshold, 100 * rule.own_interval, rule.prior_cutoff_bp, rule.slope)
    return rule
