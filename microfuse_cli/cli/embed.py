"""``microfuse embed``: the protein and genome-context views of every gene, as .npy matrices."""

from __future__ import annotations

import contextlib
import dataclasses
import os
import re
import shutil
from pathlib import Path

import click

from . import cli
from ._common import MODEL_FOLDER, IntRange, _one_pass, bins_option, common_options, genome_options, load_bins, \
    load_genome, log, refuse_topology_beside_table, stdin_as_file, warn_device_unused, warn_code_beside_table, \
    warn_subset_table, warn_unmeasured


def view_options(func):
    """--protein-view/--context-view and the model, device and precision options of the foundation views."""
    options = [
        click.option("--offline", is_flag=True, help="Never touch the network (also HF_HUB_OFFLINE=1)."),
        click.option("--batch-residues", type=IntRange(min=1), default=None,
                     help="Padded residues per model batch, ProstT5's and ESM-2's; lower it on small GPUs "
                          "(default: ProstT5 4000; ESM-2 32000 on GPU, 8000 on CPU)."),
        click.option("--contig-separator", type=click.Choice(["cls", "sep"]), default="cls", show_default=True,
                     help="Bacformer's contig separator: cls as the official embedding helpers, sep as its "
                          "pretraining data reader."),
        click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16"]), default=None,
                     help="Model precision (default on GPU: float16 for ProstT5 as its model card, bfloat16 for "
                          "ESM-2 + Bacformer as its README; float32 on CPU)."),
        click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N."),
        click.option("--esm-model", default=None, help="ESM-2 hub id or folder for Bacformer's protein tokens."),
        click.option("--context-model", default=None,
                     help="Bacformer hub id or local folder (default macwiatrak/bacformer-masked-complete-genomes)."),
        click.option("--protein-model", default=None, help="ProstT5 hub id or local folder (default Rostlab/ProstT5)."),
        click.option("--context-view", default="builtin", show_default=True,
                     help="builtin, bacformer, or both comma-separated (concatenated)."),
        click.option("--protein-view", type=click.Choice(["builtin", "prostt5"]), default="builtin", show_default=True,
                     help="builtin: sequence descriptors, no download; prostt5: the ProstT5 encoder."),
    ]
    for option in options:
        func = option(func)
    return func


def view_config(protein_view, context_view, protein_model, context_model, esm_model, device, dtype, offline,
                batch_residues, contig_separator="cls"):
    from ..embed import ViewConfig

    return ViewConfig.parse(protein_view, context_view, protein_model=protein_model, context_model=context_model,
                            esm_model=esm_model, device=device, dtype=dtype, offline=offline,
                            batch_residues=batch_residues, contig_separator=contig_separator)


def _warn_models_unused(config, protein_model, context_model, esm_model) -> None:
    """One warning naming --protein-model, --context-model or --esm-model that no view computed loads: with the
    builtin views (or -m of a model on them) a mistyped or missing model folder was passed over without a word."""
    bacformer = "bacformer" in config.context_views
    unused = [option for option, value, used in (("--protein-model", protein_model, config.protein_view == "prostt5"),
                                                 ("--context-model", context_model, bacformer),
                                                 ("--esm-model", esm_model, bacformer))
              if value is not None and not used]
    if unused:
        log.warning("%s not used: the views computed are protein %s, context %s (--protein-model is ProstT5's, "
                    "--context-model and --esm-model Bacformer's)", " and ".join(unused), config.protein_view,
                    ",".join(config.context_views))


def _warn_views_unused(model_dir, views, protein_view, context_view) -> None:
    """One warning naming --protein-view or --context-view given beside -m that the model's views overrule (-m
    computes what the model reads): `embed -m MODEL --protein-view prostt5` computed the model's builtin view
    without a word, as the unused --protein-model and --device are warned of. A view the model reads anyway is
    not."""
    ctx = click.get_current_context()
    wanted = {"protein": views.get("protein", "builtin"), "context": views.get("context", "builtin")}
    given = [(f"--{kind}-view", value, wanted[kind]) for kind, value in (("protein", protein_view),
                                                                          ("context", context_view))
             if ctx.get_parameter_source(f"{kind}_view") is not click.core.ParameterSource.DEFAULT
             and _view_names(value) != _view_names(wanted[kind])]
    if given:
        log.warning("%s not used: -m %s computes the views its model reads (%s)",
                    " and ".join(f"{option} {value}" for option, value, _ in given), model_dir,
                    ", ".join(f"{option.removeprefix('--').removesuffix('-view')} {view}"
                              for option, _, view in given))


def _view_names(views: str) -> tuple[str, ...]:
    """'builtin, bacformer' as ('builtin', 'bacformer'), as ViewConfig.parse reads it."""
    return tuple(view.strip() for view in views.split(",") if view.strip())


def is_pairs_table(path) -> bool:
    """Whether ``path`` (a file, or stdin kept in one) is a pairs TSV, by its first lines."""
    from ..io.files import open_text, peek_lines
    from ..io.formats import sniff_format

    with open_text(path) as lines:
        head = "".join(peek_lines(lines)[0])
    return bool(head.strip()) and sniff_format(head, path) == "pairs"


def refuse_topology_for_table(path, read_as, shown=None) -> None:
    """--circular/--linear beside ``path`` if it is a pairs TSV (refuse_topology_beside_table)."""
    if read_as.circular is not None and is_pairs_table(path):
        refuse_topology_beside_table(read_as, shown or path)


def read_input(run, path, fasta, proteins, read_as, shown=None, config=None):
    """A genome (any format `pairs` reads) or a pairs TSV with --proteins (and --fasta where ``config``, the views
    computed, reads the sequence); returns (genome, pairs, the table's '#genes' line or None)."""
    from ..errors import UsageError
    from ..pairs import adjacent_pairs, file_named_genome, genome_from_table, read_pairs

    if is_pairs_table(path):
        table = read_pairs(path)
        genome = genome_from_table(table, proteins, fasta, table.genome_name or file_named_genome(table, path),
                                   genetic_code=read_as.genetic_code)
        if proteins is None:  # was 'gene MG_001 has an empty protein', exit 1, as if the table were at fault
            raise UsageError(f"a pairs TSV input ({shown or path}) needs --proteins: the FASTA `microfuse pairs "
                             "--proteins` writes beside it")
        if fasta is None and config is not None and config.needs_sequence:  # a missing companion option, as
            # --proteins: was exit 1 from deep in the view ('the builtin gene context view needs the genome sequence')
            raise UsageError(f"a pairs TSV input ({shown or path}) needs --fasta: the builtin context view reads the "
                             "genome's sequence, which the table does not hold (give the assembly it was made from)")
        warn_subset_table(table, shown or path, "embed")  # as `score` of the table says them
        warn_code_beside_table(table, read_as, shown or path)
        warn_unmeasured(table, genome, fasta, shown or path, "embed")
        return genome, table.pairs, table.genes_comment
    genome = load_genome(run, path, fasta, read_as)
    return genome, adjacent_pairs(genome), None


def output_folder(output: str, inputs: tuple[str, ...], index: int) -> Path:
    """The embedding folder of ``inputs[index]`` (resolved: ``-o .`` has a name, a symlink is written through)."""
    if len(inputs) == 1:
        return Path(os.path.realpath(output))
    return Path(os.path.realpath(output)) / genome_stem(inputs[index])


def output_named(output: str, inputs: tuple[str, ...], index: int) -> str:
    """``output_folder`` as the user gave it (``-o emb`` is 'emb', not the resolved /home/.../emb), for log lines,
    which name every other command's outputs as given."""
    return output if len(inputs) == 1 else os.path.join(output, genome_stem(inputs[index]))


#: Marks a ``<output>.partial`` folder (finished foundation-view shards, for ``--resume``) as embed's own.
PARTIAL_MARKER = ".microfuse-embed-partial"


@contextlib.contextmanager
def claimed_partial(folder: Path, resume: bool, shown: str | None = None):
    """The shard folder beside an embedding folder, its marker locked while the run fills it, emptied (once locked)
    unless ``resume``. A folder of that name that embed did not make (no marker file) is the user's: refused, never
    emptied or written into; one whose lock another run holds is refused too, also when that run claimed it a
    moment ago (two runs started together: the loser removes nothing). ``shown``: the output as the user gave it."""
    from ..errors import DataError
    from ..io.outputs import TempOwner, held_lock

    named = _partial_named(folder, shown)
    if folder.exists() or folder.is_symlink():
        check_partial(folder, named)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:  # beside an -o nothing may be made in (/proc, /sys): the error named OUT.partial, not -o
        raise DataError(f"cannot write {shown or folder.with_name(folder.name.removesuffix('.partial'))}: "
                        f"{exc.strerror or exc}") from exc
    marker = folder / PARTIAL_MARKER
    _write_marker(folder, b"", os.O_CREAT, named)
    with held_lock(marker, _in_use(named)):
        if not resume:
            for entry in os.scandir(folder):
                if entry.name != PARTIAL_MARKER:
                    shutil.rmtree(entry.path) if entry.is_dir(follow_symlinks=False) else os.unlink(entry.path)
        _write_marker(folder, (TempOwner.this_run().tag + "\n").encode("ascii"), os.O_TRUNC, named)  # for a person
        yield folder


def _write_marker(folder: Path, data: bytes, flags: int, shown: str | None = None) -> None:
    """Write the marker itself, never through a symlink put in its place after the check (O_NOFOLLOW): a marker
    linked to another file had that file truncated and overwritten with this run's tag (or created, when missing)."""
    try:
        descriptor = os.open(folder / PARTIAL_MARKER, os.O_WRONLY | os.O_NOFOLLOW | flags, 0o666)
    except OSError:
        # a symlink fails O_NOFOLLOW with ELOOP on Linux and macOS, EMLINK on FreeBSD, EFTYPE on NetBSD: asked directly
        if (folder / PARTIAL_MARKER).is_symlink():
            raise click.UsageError(_not_embeds(shown or folder)) from None
        raise
    with open(descriptor, "wb") as handle:
        handle.write(data)


def _partial_named(folder: Path, shown: str | None) -> str:
    """The work folder ``folder`` (resolved) as the user would name it: beside -o as given (`-o lnk/emb`:
    lnk/emb.partial, not the resolved path of the link's target); ``folder`` itself where -o is a symlink (the work
    folder is beside its target) or has no name of its own (`-o .`)."""
    given = None if shown is None else str(shown).rstrip(os.sep)
    if not given or os.path.basename(given) in (".", "..") or os.path.islink(given):
        return str(folder)
    return given + ".partial"


def check_partial(folder: Path, shown: str | None = None) -> None:
    """Refuse a ``<output>.partial`` that embed did not make (no marker): it is the user's, never emptied; and one
    that a running embed is filling (it holds its marker's lock): emptied, the other run lost hours of
    foundation-view shards and then failed writing the next. A run that ended, on whatever node, holds no lock.
    ``shown``: the folder as the user would name it (``_partial_named``), for the messages."""
    from ..io.outputs import locked_by_another

    marker = folder / PARTIAL_MARKER
    if (folder.exists() or folder.is_symlink()) and (
            not folder.is_dir() or folder.is_symlink() or not marker.is_file() or marker.is_symlink()):
        raise click.UsageError(_not_embeds(shown or folder))
    if locked_by_another(folder / PARTIAL_MARKER):
        raise click.UsageError(_in_use(shown or folder))


def _not_embeds(folder: Path | str) -> str:
    return (f"{folder} exists and was not made by `microfuse embed` (it keeps finished shards there); move it away "
            "or give another -o")


def _in_use(folder: Path | str) -> str:
    return (f"{folder} is in use by a running `microfuse embed` writing the same output (it holds the folder's "
            "lock); wait for it to end, or give another -o")


def check_embed_outputs(inputs, fastas, proteins, bins, model_dir, output, view_folders=()) -> None:
    """Refuse, before any work, a folder that is not a previous embedding folder (io.check_outputs). ``view_folders``
    (score.view_model_folders) are read too: none may be inside the work folder, which a run empties and removes (a
    local ProstT5 given as --protein-model out.partial/prostt5 was deleted before it was loaded)."""
    from ..errors import UsageError
    from ..io.outputs import NAME_MAX, Output, check_outputs, clash_phrase, folded_name, name_clash

    if len(inputs) == 1:
        outputs = [Output("-o", output, "microfuse-embeddings")]
    else:  # a plain folder of folders: only the genomes' own folders in it are written
        outputs = [Output("-o", output, "")] + [Output("-o", output_folder(output, inputs, i), "microfuse-embeddings")
                                                for i in range(len(inputs))]
        stems = [genome_stem(path) for path in inputs]
        clash = name_clash(stems)  # named, so the user knows which two (`embed x/a.gff y/a.gbk`: both -o/a)
        if clash:  # A.gff and a.gff too: -o/A and -o/a are one folder on macOS and Windows
            one, two = clash
            named = "each genome gets -o/NAME, NAME its file name without suffixes"
            folders = (os.path.join(output, stems[one]), os.path.join(output, stems[two]))
            where = (f"both be written to {folders[0]} ({named})" if stems[one] == stems[two]
                     else f"be written to {clash_phrase(stems[one], stems[two], 'folder', folders, named)}")
            raise click.UsageError(f"INPUTs {inputs[one]} and {inputs[two]} would {where}; give one of them another "
                                   f"file name{_joined_hint(inputs[one], inputs[two])}")
        works = [folded_name(stem + ".partial") for stem in stems]  # x.gff's work folder is x.partial.gff's folder
        one, two = next(((i, works.index(folded_name(stem))) for i, stem in enumerate(stems)
                         if folded_name(stem) in works), (None, None))
        if one is not None:  # was refused as 'not made by embed' after the first genome's work, or its output taken
            raise click.UsageError(f"INPUT {inputs[one]} would be written to {os.path.join(output, stems[one])}, the "
                                   f"work folder of INPUT {inputs[two]} (each genome gets -o/NAME, and -o/NAME.partial "
                                   "while it runs); give one of them another file name")
    later = proteins_after_stdin(inputs, proteins)  # `pairs --proteins p.faa | embed - --proteins p.faa`
    check_outputs([*inputs, *fastas, None if later else proteins, bins], outputs,  # load_model says a missing -m
                  read_later=[model_dir if model_dir != "default" else None, later, *view_folders])
    if later:
        require_proteins_folder(later, "stdin" if inputs[0] == "-" else inputs[0])
    for index in range(len(inputs)):  # before any work: with several inputs, not after the first genome's
        target = output_folder(output, inputs, index)
        if len(os.fsencode(target.name + ".partial")) > NAME_MAX:  # was 'File name too long' after the work
            raise UsageError(f"-o {target}: the name is too long for its work folder NAME.partial (at most "
                             f"{NAME_MAX - len('.partial')} bytes); give a shorter name")
        partial = target.with_name(target.name + ".partial")
        named = _partial_named(partial, output_named(output, inputs, index))
        check_partial(partial, named)
        _refuse_input_inside(partial, [*inputs, *fastas, proteins, bins, model_dir if model_dir != "default" else None,
                                       *view_folders], named)


def _refuse_input_inside(partial: Path, paths, shown: str | None = None) -> None:
    """An input inside embed's own work folder (one a killed run left, its marker there) was read, then deleted with
    the folder: emptied by a fresh run, removed when the run ended. Refused before any work; ``partial`` is resolved.

    Compared by identity (device and inode of the path and each folder above it), not as text: on a case-insensitive
    file system (macOS, Windows) out.PARTIAL/genome.gff is inside out.partial, and so is a path through a bind mount
    of it; the resolved paths' text told them apart, and the input was deleted."""
    if not partial.is_dir():  # nothing can be inside a folder that is not there
        return
    work = os.stat(partial)
    for path in paths:
        if path is None or path == "-" or _one_pass(path):
            continue
        if _within(os.path.realpath(path), (work.st_dev, work.st_ino)):
            raise click.UsageError(f"{path} is inside {shown or partial}, the work folder `microfuse embed` empties "
                                   "and removes for this -o; move it out, or give another -o")


def _within(real: str, folder: tuple[int, int]) -> bool:
    """Whether the resolved path ``real`` is the folder of identity ``folder`` (st_dev, st_ino) or is inside it."""
    while True:
        try:
            info = os.stat(real)
        except OSError:  # a file still to be made, a folder that may not be searched: its folders above may be
            info = None
        if info is not None and (info.st_dev, info.st_ino) == folder:
            return True
        parent = os.path.dirname(real)
        if parent == real:
            return False
        real = parent


def proteins_after_stdin(inputs, proteins) -> str | None:
    """--proteins when it is looked for only once the pairs table on stdin has ended: `microfuse pairs --proteins
    p.faa | microfuse embed - --proteins p.faa` failed with 'no such file: p.faa', checked before the table was
    read, while pairs writes p.faa before its table (io.outputs.write_outputs: files, then streams). So too for a
    pipe as INPUT, `embed <(microfuse pairs G --proteins p.faa) --proteins p.faa` (was still 'no such file'). Only for
    a first INPUT: a later one is read after earlier genomes' work, which a missing file must not follow."""
    return proteins if proteins is not None and inputs and (inputs[0] == "-" or _one_pass(inputs[0])) else None


def require_proteins_folder(proteins, shown: str = "stdin") -> None:
    """Of the check ``proteins_after_stdin`` put off, what can be said now: a --proteins file whose folder does not
    exist cannot appear while the table on ``shown`` is read (pairs writes no file there: it refuses a missing
    folder, as every command does), so a typo in it was found only once stdin ended, after a whole upstream run."""
    from ..errors import DataError

    folder = os.path.dirname(proteins)
    if folder and not os.path.isdir(folder):  # as the kernel resolves it: `nothere/../p.faa` is no file either
        what = "is not a folder" if os.path.exists(folder) else "does not exist"
        raise DataError(f"no such file: {proteins} (--proteins of the table on {shown}: its folder {folder} {what}, "
                        "so nothing can write it while the table is read)")


def require_proteins_after_stdin(proteins, shown: str = "stdin") -> None:
    """The check ``proteins_after_stdin`` put off, now the table on ``shown`` (stdin, a pipe) has ended, saying why
    the file had to be there."""
    from ..errors import DataError
    from ..io.files import require_readable

    if not os.path.exists(proteins):
        raise DataError(f"no such file: {proteins} (--proteins of the table on {shown}, looked for once it ended; "
                        "write it first, e.g. run `microfuse pairs --proteins` to a file or in the pipe)")
    require_readable(proteins)


def split_fastas(inputs: tuple[str, ...], fasta: str | None) -> tuple[tuple[str, ...], list[str | None]]:
    """INPUTs as paths and the FASTA of each: ANNOTATION,FASTA gives a GFF3 its own FASTA (as `reference build`
    takes it), the way to give several such genomes; --fasta is the single input's. A file whose name holds a
    comma is read as it is."""
    pairs = [spec.partition(",")[::2] if "," in spec and not os.path.exists(spec) else (spec, "") for spec in inputs]
    own = [fasta_of or None for _, fasta_of in pairs]
    if fasta and (len(inputs) > 1 or any(own)):
        raise click.UsageError("--fasta applies to a single input; give several genomes each with its FASTA as "
                               "ANNOTATION,FASTA (genome.gff,genome.fna)")
    return tuple(path for path, _ in pairs), own if any(own) else [fasta] * len(inputs)


def _joined_hint(one: str, two: str) -> str:
    """', or give a GFF3 and its FASTA as one INPUT ...: A.gff,A.fna' where one of two INPUTs of one name is a
    GFF3 and the other a FASTA: `embed genome.gff genome.fna -o emb` (the sequence beside its annotation, as `score
    GFF FNA` is told to give --fasta) was told to rename one of them."""
    def kind(path: str) -> str:
        name = re.sub(r"\.(gz|bz2|xz)$", "", Path(path).name.lower())
        return next((k for k, ends in (("gff", (".gff", ".gff3")), ("fasta", (".fna", ".fasta", ".fa")))
                     if name.endswith(ends)), "")

    pair = {kind(one): one, kind(two): two}
    if set(pair) != {"gff", "fasta"}:
        return ""
    return f", or give a GFF3 and its FASTA as one INPUT, ANNOTATION,FASTA: {pair['gff']},{pair['fasta']}"


def genome_stem(path: str) -> str:
    """An input's folder name under -o: its file name without a compression and a format suffix, in any case
    (`A.GFF` was folder A.GFF beside `b.gff`'s b)."""
    name = Path(path).name
    formats = (".gff3", ".gff", ".gbk", ".gbff", ".gb", ".fna", ".fasta", ".fa", ".tsv")
    for suffixes in ((".gz", ".bz2", ".xz"), formats):
        found = next((suffix for suffix in suffixes if name.lower().endswith(suffix)), None)
        if found:
            name = name[:-len(found)]
    return name if name.strip(".") else "genome"  # `...gff`'s '..' named the folder above -o, '.' -o itself


@cli.command(short_help="Protein and genome-context views of genes.", epilog="""\b
Examples:
  microfuse embed genome.gff --fasta genome.fna -o emb/
  microfuse embed genome.gbk -o emb/ --protein-view prostt5 --context-view bacformer,builtin
  microfuse embed pairs.tsv --proteins genes.faa --fasta genome.fna -o emb/
  microfuse embed a.gff b.gff c.gff -o embeddings/   # one model load, one folder per genome
  microfuse embed a.gff.gz,a.fna.gz other2.gff.gz,other2.fna.gz -o ncbi/   # each GFF3 with its FASTA
""")
@click.argument("inputs", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True), metavar="INPUT...")
@genome_options
@click.option("--proteins", type=click.Path(dir_okay=False, allow_dash=True), default=None,
              help="Protein FASTA of a pairs TSV input (ids = gene ids; '-' = stdin).")
@click.option("-o", "--output", required=True, type=click.Path(file_okay=False),
              help="Embedding folder (with several inputs: a folder of folders, one per genome).")
@view_options
@click.option("-m", "--model", "model_dir", type=MODEL_FOLDER, default=None,
              help="Compute what this model reads (its views and context columns) instead of --protein-view/"
                   "--context-view; `default` = the packaged model.")
@click.option("--float16", "half", is_flag=True, help="Store matrices as float16 (half the disk).")
@click.option("--resume", is_flag=True, help="Continue an interrupted run, keeping the finished shards it left in "
              "OUTPUT.partial (beside OUTPUT; removed when the run ends).")
@bins_option
@common_options
def embed(inputs, fasta, read_as, proteins, output, protein_view, context_view, protein_model,
          context_model, esm_model, device, dtype, contig_separator, offline, batch_residues, model_dir, half, resume,
          bins, run):
    """Compute the protein and genome-context views of every gene of INPUT.

    Writes protein.npy / context.npy (genes x dims, rows as in genes.tsv: each gene's id, scaffold, start, end and
    strand, which `score` and `train` check the pairs' genes against), pair_context.npy with pairs.tsv, and
    manifest.json (views, model ids and hashes, dims, dtype, device, version, content hash of the genes).
    The builtin views need no download; prostt5 and bacformer load Hugging Face models from the hub cache or a
    local folder (GPU when present). Several GFF3 without ##FASTA are given each with its FASTA as
    ANNOTATION,FASTA (genome.gff,genome.fna), as in `reference build`. One INPUT may be '-' (stdin).
    """
    from ..embed import compute_embeddings, genes_hash
    from ..errors import DataError
    from ..io.outputs import made_folder

    if inputs.count("-") > 1:
        raise click.UsageError("stdin ('-') can be read only once")
    inputs, fastas = split_fastas(inputs, fasta)
    from ..score import view_model_folders

    view_folders = view_model_folders(None if model_dir == "default" else model_dir,  # with -m, the model's views
                                      views=(protein_view, context_view) if model_dir is None else None,
                                      protein_model=protein_model, context_model=context_model, esm_model=esm_model)
    check_embed_outputs(inputs, fastas, proteins, bins, model_dir, output, view_folders)
    for path in inputs:  # a one-pass INPUT (stdin, a pipe) is checked once kept in a file
        if path != "-" and not _one_pass(path):
            refuse_topology_for_table(path, read_as)
    config = view_config(protein_view, context_view, protein_model, context_model, esm_model, device, dtype,
                         offline, batch_residues, contig_separator)
    if model_dir is not None:
        from ..checkpoint import CONFIG_FILE
        from ..embed import ViewConfig
        from ..score import load_model, model_context_features, model_views

        # warned of only where ./default holds a model (its config.json), which `score -m default` reads; a folder
        # of that name holding none (this run's own `-o default` on a rerun) is no model and was warned of wrongly
        if model_dir == "default" and os.path.isfile(os.path.join(model_dir, CONFIG_FILE)):
            log.warning("-m default is the packaged model, not the folder default here (`score -m default` reads "
                        "that one); give ./default for it")
        model = load_model(None if model_dir == "default" else model_dir)
        views, features = model_views(model), model_context_features(model)
        _warn_views_unused(model_dir, views, protein_view, context_view)
        config = ViewConfig.parse(views.get("protein", "builtin"), views.get("context", "builtin"),
                                  protein_model=protein_model, context_model=context_model, esm_model=esm_model,
                                  device=device, dtype=dtype, offline=offline, batch_residues=batch_residues,
                                  contig_separator=contig_separator,
                                  context_features=tuple(features) if features else None)
    config.require_models()  # before any genome is read or torch imported
    warn_device_unused(device, config)
    _warn_models_unused(config, protein_model, context_model, esm_model)
    proteins_later = proteins_after_stdin(inputs, proteins)  # looked for once the piped table has ended
    container = output_folder(output, inputs, 0).parent  # -o with several inputs (through a symlink), else its parent
    # --bins is read once here and once per genome: a pipe (`--bins <(cut ...)`) is kept in a temp file
    with stdin_as_file(bins) as bins, made_folder(container):  # a failed run leaves no new, empty folder
        if bins is not None:  # genes are called per bin, as in score (genes.call_genes_per_bin)
            from ..calibration import read_groups

            read_as = dataclasses.replace(read_as, bins=read_groups(bins))
        for index, path in enumerate(inputs):
            with stdin_as_file(path) as readable:  # a piped pairs table is sniffed, then read again
                if index == 0 and proteins_later:  # stdin (a pipe) read to its end: its writer ended
                    require_proteins_after_stdin(proteins, "stdin" if path == "-" else path)
                if readable != path:  # kept in a file: not checked before the work
                    refuse_topology_for_table(readable, read_as, "stdin" if path == "-" else path)
                genome, pairs, genes_line = read_input(run, readable, fastas[index], proteins, read_as,
                                                       "stdin" if path == "-" else path, config)
            lacking = next((g.id for g in genome.genes if not g.protein), None)
            if len(inputs) > 1 and lacking is not None and not genome.has_sequence:  # --fasta is one input's
                raise DataError(f"{genome.name} has no sequence and gene {lacking} no protein; give a GFF3 without "
                                f"##FASTA with its FASTA as ANNOTATION,FASTA ({path},genome.fna)")
            target = output_folder(output, inputs, index)
            with claimed_partial(target.with_name(target.name + ".partial"), resume,
                                 output_named(output, inputs, index)) as partial:
                shard_dir = partial / genes_hash(genome.genes)[:16]
                if shard_dir.is_symlink():  # followed, its shards were written (and replaced) in the link's target
                    raise click.UsageError(f"{shard_dir} is a symlink, not a folder `microfuse embed` made for its "
                                           "shards; remove it, or give another -o")
                shard_dir.mkdir(parents=True, exist_ok=True)
                try:
                    embeddings = compute_embeddings(genome, pairs, config, threads=run.threads, stage=run.stage,
                                                    shard_dir=shard_dir, groups=load_bins(bins, genome),
                                                    genes_line=genes_line)
                    embeddings.save(target, dtype="float16" if half else "float32")
                except BaseException:
                    with contextlib.suppress(OSError):  # nothing to resume from: leave no empty folder behind
                        shard_dir.rmdir()
                        if [entry.name for entry in os.scandir(partial)] == [PARTIAL_MARKER]:  # else kept: embed's
                            (partial / PARTIAL_MARKER).unlink()  # (kept shards without it were refused as foreign)
                            partial.rmdir()
                    raise
                shutil.rmtree(partial, ignore_errors=True)
            log.info("%s: %d genes, %d pairs -> %s (protein %d-d, context %d-d, pair %d-d)", genome.name,
                     len(embeddings.gene_ids), len(embeddings.pair_ids), output_named(output, inputs, index),
                     *embeddings.dims.values())
