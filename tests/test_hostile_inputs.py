"""Hardening: hostile input, faults mid-run and untrusted files.

``CASES`` is the table: one row per hostile input, run through the CLI, with the exit code and the one-line
``error:`` it must give (exit 1 bad data, 2 bad usage, never a traceback). Property-based tests (hypothesis) throw
random and mutated bytes at every reader: each must parse correctly or raise a clean ``DataError``. Fault tests
interrupt the real ``microfuse`` with SIGINT/SIGTERM and fill the disk, and check the previous outputs are intact.
Untrusted-file tests check that no model or embedding file can run code or reach outside its folder.
"""

from __future__ import annotations

import bz2
import contextlib
import errno
import functools
import gzip
import io
import json
import lzma
import os
import pickle
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import zlib
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from conftest import ROOT, SHARED, run_cli

MG = SHARED / "panel" / "GCF_000027325.1_ASM2732v1_genomic"  # Mycoplasma genitalium G37: 476 genes, small
MG_GFF, MG_FNA = Path(f"{MG}.gff.gz"), Path(f"{MG}.fna.gz")
MICROFUSE = Path(sys.executable).parent / "microfuse"

#: 60 fixed examples per reader by default (a reproducible run); MICROFUSE_FUZZ_EXAMPLES=5000 for a long random hunt.
_HUNT = int(os.environ.get("MICROFUSE_FUZZ_EXAMPLES", "0"))
pytestmark = pytest.mark.filterwarnings("ignore::Bio.BiopythonParserWarning")  # malformed GenBank, on purpose

FUZZ = settings(max_examples=_HUNT or 60, deadline=None, suppress_health_check=list(HealthCheck),
                derandomize=not _HUNT)

# ------------------------------------------------------------------------------------------------ a small genome

_STOPS = {"TAA", "TAG", "TGA"}
_CODONS = [a + b + c for a in "ACGT" for b in "ACGT" for c in "ACGT" if a + b + c not in _STOPS]
_COMPLEMENT = str.maketrans("ACGTacgtNn", "TGCAtgcaNn")


def revcomp(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


@dataclass(frozen=True)
class Synthetic:
    """20 genes on one 8 kb contig (no internal stops), in GFF3, GenBank, FASTA and pairs forms."""

    seq: str
    genes: tuple[tuple[str, int, int, str], ...]  # id, start, end, strand


@functools.lru_cache(maxsize=None)
def synthetic(seed: int = 7) -> Synthetic:
    rng = random.Random(seed)
    seq = list("".join(rng.choice("ACGT") for _ in range(8000)))
    genes = []
    for i in range(20):
        start, strand = 101 + i * 380, "-" if i % 3 == 2 else "+"
        orf = "ATG" + "".join(rng.choice(_CODONS) for _ in range(98)) + "TAA"
        seq[start - 1 : start - 1 + 300] = orf if strand == "+" else revcomp(orf)
        genes.append((f"SYN_{i:03d}", start, start + 299, strand))
    return Synthetic("".join(seq), tuple(genes))


def fasta_text(seq: str, ident: str = "c1", width: int = 70) -> str:
    return f">{ident}\n" + "".join(seq[i : i + width] + "\n" for i in range(0, len(seq), width))


def gff_text(genes=None, seq: str | None = None, *, extra: str = "", region: int | None = None, fasta=True) -> str:
    syn = synthetic()
    seq = syn.seq if seq is None else seq
    genes = syn.genes if genes is None else genes
    lines = ["##gff-version 3", f"##sequence-region c1 1 {region or len(seq)}"]
    for k, (ident, start, end, strand) in enumerate(genes):
        lines.append(f"c1\ttest\tgene\t{start}\t{end}\t.\t{strand}\t.\tID=gene-{k};locus_tag={ident}")
        lines.append(f"c1\ttest\tCDS\t{start}\t{end}\t.\t{strand}\t0\tID=cds-{k};Parent=gene-{k};"
                     f"locus_tag={ident}")
    text = "\n".join(lines) + "\n" + extra
    return text + ("##FASTA\n" + fasta_text(seq) if fasta else "")


@functools.lru_cache(maxsize=None)
def genbank_text(lower: bool = False, n_genes: int = 20, length: int = 8000) -> str:
    from Bio.Seq import Seq
    from Bio.SeqFeature import FeatureLocation, SeqFeature
    from Bio.SeqIO import write
    from Bio.SeqRecord import SeqRecord

    syn = synthetic()
    seq = syn.seq[:length].lower() if lower else syn.seq[:length]
    record = SeqRecord(Seq(seq), id="c1", name="c1", description="synthetic",
                       annotations={"molecule_type": "DNA", "topology": "linear"})
    for ident, start, end, strand in syn.genes[:n_genes]:
        record.features.append(SeqFeature(FeatureLocation(start - 1, end, strand=1 if strand == "+" else -1),
                                          type="CDS", qualifiers={"locus_tag": [ident], "transl_table": ["11"]}))
    handle = io.StringIO()
    write(record, handle, "genbank")
    return handle.getvalue()


@functools.lru_cache(maxsize=None)
def pairs_tsv_text() -> str:
    from microfuse_cli.io.gff import read_gff
    from microfuse_cli.io.tables import write_pairs
    from microfuse_cli.pairs import adjacent_pairs, label_og

    genome = read_gff("syn.gff", text=gff_text())
    handle = io.StringIO()
    write_pairs(handle, label_og(adjacent_pairs(genome)))
    return handle.getvalue()


def syn_proteins() -> str:
    from microfuse_cli.io.gff import read_gff

    genome = read_gff("syn.gff", text=gff_text())
    return "".join(f">{g.id}\n{g.protein}\n" for g in genome.genes)


def edit_line(text: str, contains: str, old: str, new: str) -> str:
    """Replace ``old`` by ``new`` in the first line holding ``contains``."""
    lines = text.split("\n")
    i = next(k for k, line in enumerate(lines) if contains in line)
    lines[i] = lines[i].replace(old, new, 1)
    return "\n".join(lines)


def with_base(position: int, base: str) -> str:
    """The synthetic genome's GFF with one base of its ##FASTA changed (1-based)."""
    syn = synthetic()
    return gff_text(seq=syn.seq[: position - 1] + base + syn.seq[position:])


# ------------------------------------------------------------------------------------------------ compressed inputs


def gzip_bomb(size: int, line: bytes = b"ACGT" * 15 + b"\n") -> bytes:
    """A small .gz that expands to ``size`` bytes of FASTA-like lines."""
    block = line * ((1 << 20) // len(line))
    comp = zlib.compressobj(9, zlib.DEFLATED, 31)
    out = [comp.compress(b">bomb\n")]
    for _ in range(size // len(block) + 1):
        out.append(comp.compress(block))
    out.append(comp.flush())
    return b"".join(out)


@functools.lru_cache(maxsize=None)
def huge_header_gz(size: int = 1 << 30) -> bytes:
    """A valid gzip of a FASTA whose header line is ``size`` bytes, built in ~1 MB without ever holding it.

    Each 1 MiB block is compressed after a full flush (no back-references), so its compressed form is identical
    every time and can be repeated; the trailer carries the CRC and length of the whole stream.
    """
    block = b"H" * (1 << 20)
    comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    piece = comp.compress(block) + comp.flush(zlib.Z_FULL_FLUSH)
    tail_data = b"\nACGT\n"
    tail = comp.compress(tail_data) + comp.flush()
    n = size // len(block)
    crc = zlib.crc32(b">")
    for _ in range(n):
        crc = zlib.crc32(block, crc)
    crc = zlib.crc32(tail_data, crc)
    head_comp = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = head_comp.compress(b">") + head_comp.flush(zlib.Z_FULL_FLUSH)
    total = 1 + n * len(block) + len(tail_data)
    header = b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x02\xff"
    return header + first + piece * n + tail + crc.to_bytes(4, "little") + (total & 0xFFFFFFFF).to_bytes(4, "little")


def assert_refused_within_line_cap(read, path) -> None:
    """``read(path)`` refuses the huge header line with the MICROFUSE_MAX_LINE message, holding at most the cap
    (plus 64 MiB of slack) in memory on the way."""
    import tracemalloc

    from microfuse_cli.errors import DataError
    from microfuse_cli.io.files import MAX_LINE_BYTES

    tracemalloc.start()
    try:
        with pytest.raises(DataError, match="MICROFUSE_MAX_LINE"):
            read(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < MAX_LINE_BYTES + (64 << 20), f"peak {peak / 2**20:.0f} MiB"


# ------------------------------------------------------------------------------------------------ shared outputs


@pytest.fixture(scope="module")
def work(tmp_path_factory, mg_embedded):
    """Real outputs to attack: M. genitalium pairs, embeddings (this module's copy of the session's `embed` run) and
    a model; the synthetic genome's embeddings."""
    root = tmp_path_factory.mktemp("hostile")
    (root / "syn.gff").write_text(gff_text())
    (root / "syn_pairs.tsv").write_text(pairs_tsv_text())
    code, _, err = run_cli(["pairs", root / "syn.gff", "-o", root / "syn_ref.tsv"])
    assert code == 0, err
    code, _, err = run_cli(["pairs", MG_GFF, "--fasta", MG_FNA, "--label-rule", "og", "--split", "0.7,0.15,0.15",
                            "-o", root / "mg_pairs.tsv"])
    assert code == 0, err
    shutil.copytree(mg_embedded, root / "mg_emb")
    code, _, err = run_cli(["train", root / "mg_pairs.tsv", "-e", root / "mg_emb", "-o", root / "mg_model",
                            "--epochs", "2", "--patience", "2", "--batch-size", "64"])
    assert code == 0, err
    code, _, err = run_cli(["embed", root / "syn.gff", "-o", root / "syn_emb"])
    assert code == 0, err
    code, _, err = run_cli(["reference", "build", root / "syn.gff", "-o", root / "syn_ref"])
    assert code == 0, err
    code, _, err = run_cli(["score", root / "mg_pairs.tsv", "-e", root / "mg_emb", "-m", root / "mg_model", "--fasta",
                            MG_FNA, "--fused", root / "mg_fused.npy", "-o", root / "mg_scores.tsv"])
    assert code == 0, err
    code, _, err = run_cli(["retrieve", "build", root / "mg_fused.npy", "-o", root / "mg_index"])
    assert code == 0, err
    return root


def tamper_embeddings(src: Path, dst: Path, *, arrays: dict | None = None, manifest: Callable | None = None,
                      files: dict | None = None, rehash: bool = True) -> Path:
    """Copy an embedding folder and change it: new arrays, raw files, a manifest edit; re-hashed unless told."""
    from microfuse_cli.io.files import sha256_file as _sha256

    shutil.copytree(src, dst)
    for name, array in (arrays or {}).items():
        np.save(dst / name, array, allow_pickle=True)
    for name, data in (files or {}).items():
        (dst / name).write_bytes(data)
    doc = json.loads((dst / "manifest.json").read_text())
    if rehash:
        doc["files_sha256"] = {n: _sha256(dst / n) for n in doc["files_sha256"] if (dst / n).exists()}
    if manifest is not None:
        doc = manifest(doc)
    (dst / "manifest.json").write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return dst


def tamper_reference(src: Path, dst: Path, *, genes: Callable | None = None, proteins: Callable | None = None,
                     manifest: Callable | None = None) -> Path:
    """Copy a reference folder and edit its genes.tsv rows (lists of fields, header first), proteins.faa text or
    manifest; re-hashed, as a deliberate edit would be."""
    from microfuse_cli.io.files import sha256_file as _sha256

    shutil.copytree(src, dst)
    if genes is not None:
        rows = [line.split("\t") for line in (dst / "genes.tsv").read_text().splitlines()]
        genes(rows)
        (dst / "genes.tsv").write_text("".join("\t".join(row) + "\n" for row in rows))
    if proteins is not None:
        (dst / "proteins.faa").write_text(proteins((dst / "proteins.faa").read_text()))
    doc = json.loads((dst / "manifest.json").read_text())
    doc["files_sha256"] = {n: _sha256(dst / n) for n in doc["files_sha256"]}
    (dst / "manifest.json").write_text(json.dumps(manifest(doc) if manifest else doc))
    return dst


def rehash(folder: Path) -> None:
    """Re-write a folder's checksums, as a deliberate edit would."""
    from microfuse_cli.io.files import sha256_file as _sha256

    doc = json.loads((folder / "manifest.json").read_text())
    doc["files_sha256"] = {n: _sha256(folder / n) for n in doc["files_sha256"]}
    (folder / "manifest.json").write_text(json.dumps(doc))


def linked_out(source: str, name: str, file: str, absolute: bool = False) -> Callable:
    """A copy of the shared folder ``source`` as ``{d}/name`` whose ``file`` is a symlink to the same bytes outside
    it (in ``{d}/elsewhere``): every checksum still matches."""
    def build(work: Path, folder: Path):
        shutil.copytree(work / source, folder / name)
        (folder / "elsewhere").mkdir()
        shutil.move(folder / name / file, folder / "elsewhere" / file)
        target = folder / "elsewhere" / file
        (folder / name / file).symlink_to(target if absolute else Path("..") / "elsewhere" / file)

    return build


def linked_folder(source: str, name: str) -> Callable:
    """``{d}/name``, a symlink to a copy of the shared folder ``source`` elsewhere (a folder moved to another disk)."""
    def build(work: Path, folder: Path):
        shutil.copytree(work / source, folder / "disk2" / source)
        (folder / name).symlink_to(folder / "disk2" / source)

    return build


def row_twice(source: str, name: str, file: str) -> Callable:
    """A copy of the shared folder ``source`` as ``{d}/name`` whose ``file`` lists its first data row twice, in
    place of the second (row counts unchanged), re-hashed."""
    def build(work: Path, folder: Path):
        shutil.copytree(work / source, folder / name)
        lines = (folder / name / file).read_text().splitlines(keepends=True)
        first = next(i for i, line in enumerate(lines) if not line.startswith("#")) + 1  # after the header
        lines[first + 1] = lines[first]
        (folder / name / file).write_text("".join(lines))
        rehash(folder / name)

    return build


def file_edited(source: str, name: str, file: str, edit: Callable[[bytes], bytes]) -> Callable:
    """A copy of the shared folder ``source`` as ``{d}/name`` whose ``file`` holds ``edit`` of its bytes, re-hashed."""
    def build(work: Path, folder: Path):
        shutil.copytree(work / source, folder / name)
        (folder / name / file).write_bytes(edit((folder / name / file).read_bytes()))
        rehash(folder / name)

    return build


def _binary_rows(data: bytes) -> bytes:
    """A table's header line, then binary rows."""
    return data.split(b"\n", 1)[0] + b"\n" + bytes(range(256)) * 4


def _past_1_mib(data: bytes) -> bytes:
    """A table padded with empty lines past 1 MiB (the cap these cases set; every other input is under it)."""
    return data + b"\n" * (2 << 20)


def _ref(**kwargs) -> Callable:
    return lambda work, folder: tamper_reference(work / "syn_ref", folder / "ref", **kwargs) and None


def _set_field(row: int, column: int, value: str) -> Callable:
    return lambda rows: rows[row + 1].__setitem__(column, value)


def _nan_protein(work):
    array = np.load(work / "mg_emb" / "protein.npy")
    array[3, 2] = np.nan
    return array


# ------------------------------------------------------------------------------------------------ the table


@dataclass(frozen=True)
class Case:
    """A hostile input and what microfuse must do with it.

    ``files``: name -> bytes, str or ``callable(work, folder) -> bytes/str/None`` (None: it wrote the files),
    written into a fresh folder. ``args``: the command line; ``{d}`` is that folder, ``{w}`` the shared outputs,
    ``{mg_gff}``/``{mg_fna}`` the M. genitalium genome. ``patch``: attributes of ``microfuse_cli.io.files`` to set
    (a dotted path: of that module).
    ``same``: the output ``{d}/out.tsv`` must be byte-identical to the pairs of the clean synthetic genome.
    """

    name: str
    files: dict
    args: str
    code: int
    message: str
    patch: tuple = ()
    same: bool = False


PAIRS = "pairs {d}/input -o {d}/out.tsv"
PAIRS_GZ = "pairs {d}/input.gz -o {d}/out.tsv"
SYN = gff_text()
GENES = synthetic().genes
BAD_GENES = [GENES[0], ("SYN_000", 501, 800, "+"), *GENES[2:]]  # two genes called SYN_000


def _emb(name: str, **kwargs) -> Callable:
    def build(work: Path, folder: Path):
        arrays = kwargs.get("arrays")
        tamper_embeddings(work / "mg_emb", folder / name,
                          **{**kwargs, "arrays": arrays(work) if callable(arrays) else arrays})

    return build


SCORE_MG = "score {w}/mg_pairs.tsv -e {d}/emb -m {w}/mg_model --fasta {mg_fna} -o {d}/out.tsv"
SCORE_REF = "score {w}/syn.gff --reference {d}/ref -o {d}/out.tsv"
SEARCH = "retrieve search --index {d}/idx -k 2 -o {d}/out.tsv"

CASES: list[Case] = [
    # --- any file
    Case("empty file", {"input": b""}, PAIRS, 1, "empty file"),
    Case("whitespace only", {"input": b"  \n\n\t\n"}, PAIRS, 1, "empty file"),
    Case("binary with NULs", {"input": bytes(range(256)) * 4}, PAIRS, 1, "binary file"),
    # a binary file is named as such from its first bytes, not after reading up to the size cap (a BAM, an image,
    # /dev/urandom: gigabytes), whether read line by line (pairs) or whole (evaluate's table)
    Case("binary past the size cap", {"input": bytes(range(256)) * 8192}, PAIRS, 1, "binary file",
         patch=(("MAX_INPUT_BYTES", 1 << 20),)),
    Case("gzip-compressed binary past the size cap (BAM-like)", {"input.gz": gzip.compress(bytes(range(256)) * 8192)},
         PAIRS_GZ, 1, "binary file", patch=(("MAX_INPUT_BYTES", 1 << 20),)),
    Case("binary table past the size cap", {"input": bytes(range(256)) * 8192}, "evaluate {d}/input", 1,
         "binary file", patch=(("MAX_INPUT_BYTES", 1 << 20),)),
    Case("latin-1 junk", {"input": "\xe9t\xe9\n\xff\xfe\n".encode("latin-1")}, PAIRS, 1, "not a GFF3"),
    Case("missing file", {}, PAIRS, 1, "no such file"),
    Case("a directory", {"input/x": b""}, PAIRS, 2, "is a directory"),
    Case("truncated gzip", {"input.gz": gzip.compress(SYN.encode())[:300]}, PAIRS_GZ, 1, "corrupt or truncated"),
    Case("gzip magic, garbage", {"input.gz": b"\x1f\x8b" + b"junk" * 50}, PAIRS_GZ, 1, "corrupt or truncated"),
    Case("xz magic, garbage", {"input.gz": b"\xfd7zXZ\x00" + b"junk" * 50}, PAIRS_GZ, 1, "corrupt or truncated"),
    Case("gzip bomb", {"input.gz": lambda w, d: gzip_bomb(8 << 20)}, PAIRS_GZ, 1, "MICROFUSE_MAX_INPUT",
         patch=(("MAX_INPUT_BYTES", 4 << 20),)),
    Case("bzip2 bomb", {"input.gz": lambda w, d: bz2.compress(b"ACGT" * (1 << 19))}, PAIRS_GZ, 1,
         "MICROFUSE_MAX_INPUT", patch=(("MAX_INPUT_BYTES", 1 << 20),)),
    Case("xz bomb", {"input.gz": lambda w, d: lzma.compress(b"ACGT\n" * (2 << 20))}, PAIRS_GZ, 1,
         "MICROFUSE_MAX_INPUT", patch=(("MAX_INPUT_BYTES", 4 << 20),)),
    Case("plain file over the cap", {"input": SYN.encode()}, PAIRS, 1, "MICROFUSE_MAX_INPUT",
         patch=(("MAX_INPUT_BYTES", 1000),)),
    Case("1 GB single-line FASTA header (gzip)", {"input.gz": lambda w, d: huge_header_gz()}, PAIRS_GZ, 1,
         "MICROFUSE_MAX_LINE"),
    Case("gzip: concatenated members", {"input.gz": gzip.compress(SYN[:3000].encode())
                                                        + gzip.compress(SYN[3000:].encode())}, PAIRS_GZ, 0, "",
         same=True),
    Case("CRLF line endings and a BOM", {"input": ("\ufeff" + SYN.replace("\n", "\r\n")).encode()}, PAIRS, 0, "",
         same=True),
    # --- GFF3
    Case("GFF: 8 columns", {"input": edit_line(SYN, "\tCDS\t", "\t.\t+\t0\t", "\t.\t+\t")}, PAIRS, 1,
         "expected 9 tab-separated"),
    Case("GFF: start not a number", {"input": edit_line(SYN, "\tCDS\t", "\t101\t", "\tone\t")}, PAIRS, 1,
         "not integers"),
    Case("GFF: start after end", {"input": edit_line(SYN, "\tCDS\t", "\t101\t400\t", "\t400\t101\t")}, PAIRS, 1,
         "invalid coordinates"),
    Case("GFF: zero start", {"input": edit_line(SYN, "\tCDS\t", "\t101\t", "\t0\t")}, PAIRS, 1,
         "invalid coordinates"),
    Case("GFF: CDS without strand", {"input": edit_line(SYN, "\tCDS\t", "\t.\t+\t0\t", "\t.\t.\t0\t")}, PAIRS, 1,
         "without strand"),
    Case("GFF: strand '+-'", {"input": edit_line(SYN, "\tCDS\t", "\t.\t+\t0\t", "\t.\t+-\t0\t")}, PAIRS, 1,
         "without strand"),
    Case("GFF: malformed attribute", {"input": edit_line(SYN, "\tCDS\t", "ID=cds", "IDcds")}, PAIRS, 1,
         "malformed attribute"),
    Case("GFF: duplicate gene id", {"input": gff_text(BAD_GENES)}, PAIRS, 1, "duplicate gene id"),
    Case("GFF: CDS off the end of its contig", {"input": edit_line(SYN, "\tCDS\t7321", "\t7620\t",
                                                                   "\t8003\t")}, PAIRS, 1,
         "past the end"),
    Case("GFF: CDS past ##sequence-region, no sequence", {"input": gff_text(region=5000, fasta=False)}, PAIRS, 1,
         "past the end"),
    Case("GFF: seqid not in the FASTA", {"input": SYN.replace(">c1", ">chr1")}, PAIRS, 1, "not found in the FASTA"),
    Case("GFF: genes but no CDS", {"input": "\n".join(l for l in SYN.split("\n") if "\tCDS\t" not in l)}, PAIRS, 1,
         "no protein-coding"),
    Case("GFF: unknown transl_table", {"input": edit_line(SYN, "\tCDS\t", "locus_tag=", "transl_table=99;locus_tag=")},
         PAIRS, 1, "unknown genetic code"),
    Case("GFF: superscript digit transl_table", {"input": edit_line(SYN, "\tCDS\t", "locus_tag=",
                                                                    "transl_table=\u00b2;locus_tag=")}, PAIRS, 0, "",
         same=True),
    Case("GFF: IUPAC N and R/Y inside genes", {"input": with_base(150, "N").replace("ACGTA", "ACNRY", 3)},
         PAIRS, 0, "", same=True),
    Case("GFF: '*' in the sequence", {"input": with_base(150, "*")}, PAIRS, 1, "non-nucleotide"),
    Case("GFF: '.' in the sequence", {"input": with_base(150, ".")}, PAIRS, 1, "non-nucleotide"),
    Case("GFF: junk in the sequence", {"input": with_base(150, "@")}, PAIRS, 1, "non-nucleotide"),
    Case("GFF: ##FASTA holds protein", {"input": gff_text(seq="MKLVEFILPQ" * 800)}, PAIRS, 1, "protein characters"),
    Case("GFF: zero-length protein (CDS = one stop codon) -> pairs fine",
         {"input": gff_text([*GENES[:5], ("SYN_STOP", 3400, 3402, "+")], seq=synthetic().seq[:3399] + "TAA"
                            + synthetic().seq[3402:])}, PAIRS, 0, ""),
    Case("GFF: zero-length protein -> embed refuses",
         {"input": gff_text([*GENES[:5], ("SYN_STOP", 3400, 3402, "+")], seq=synthetic().seq[:3399] + "TAA"
                            + synthetic().seq[3402:])}, "embed {d}/input -o {d}/emb", 1, "empty protein"),
    Case("GFF: 10^4 contigs, no sequence-region (was quadratic)",
         {"input": "##gff-version 3\n" + "".join(f"c{i}\tx\tCDS\t1\t300\t.\t+\t0\tlocus_tag=g{i}\n"
                                                  for i in range(10_000))}, PAIRS, 0, ""),
    # --- FASTA (a bare assembly: genes are called)
    Case("FASTA: empty header", {"input": ">\nACGTACGT\n"}, PAIRS, 1, "empty header"),
    Case("FASTA: duplicate ids", {"input": ">a\nACGT\n>a\nACGT\n"}, PAIRS, 1, "duplicate sequence id"),
    Case("FASTA: no record with a sequence", {"input": ">a\n>b\n"}, PAIRS, 1, "no FASTA records with a sequence"),
    Case("FASTA: protein", {"input": ">p\nMKLVEFILPQMKLVEFILPQ\n"}, PAIRS, 1, "protein characters"),
    Case("FASTA: junk characters", {"input": ">a\nACGT!!ACGT\n"}, PAIRS, 1, "non-nucleotide"),
    Case("FASTA: alignment gaps", {"input": ">a\nACGT--ACGT\n"}, PAIRS, 1, "non-nucleotide"),
    Case("FASTA: text before the first record", {"input": "hello\n>a\nACGT\n"}, PAIRS, 1, "not a GFF3"),
    Case("FASTA: all N", {"input": ">a\n" + "N" * 5000 + "\n"}, PAIRS, 0, ""),
    Case("FASTA: --fasta with a FASTA input", {"input": ">a\nACGT\n", "b.fna": ">a\nACGT\n"},
         "pairs {d}/input --fasta {d}/b.fna", 2, "only used with a GFF3"),
    # --- GenBank
    Case("GenBank: truncated", {"input": genbank_text()[:2500]}, PAIRS, 1, "GenBank"),
    Case("GenBank: duplicate LOCUS", {"input": genbank_text() + genbank_text()}, PAIRS, 1,
         "duplicate sequence id"),
    Case("GenBank: duplicate locus_tag", {"input": genbank_text().replace("SYN_001", "SYN_000")}, PAIRS, 1,
         "duplicate gene id"),
    Case("GenBank: transl_table not a number", {"input": genbank_text().replace('/transl_table=11',
                                                                              '/transl_table="eleven"', 1)},
         PAIRS, 1, "not a number"),
    Case("GenBank: unknown transl_table", {"input": genbank_text().replace('/transl_table=11', '/transl_table=99', 1)},
         PAIRS, 1, "unknown genetic code"),
    Case("GenBank: junk in the sequence", {"input": re.sub(r"(\n\s+1 )(\w)", r"\1@", genbank_text())}, PAIRS, 1,
         "non-nucleotide"),
    Case("GenBank: CDS off the end", {"input": genbank_text().replace("7321..7620", "7321..8300")}, PAIRS, 1,
         "past the end"),
    Case("GenBank: no CDS", {"input": re.sub(r"     CDS .*?(?=\n     CDS|\nORIGIN)", "", genbank_text(),
                                             flags=re.S)}, PAIRS, 1, "no protein-coding"),
    # --- pair lists (--pairs / --labels)
    Case("pair list: one column", {"list.csv": "SYN_000\nSYN_001\n"}, "pairs {w}/syn.gff --pairs {d}/list.csv", 1,
         "expected two gene ids"),
    Case("pair list: field over csv's limit", {"list.csv": "SYN_000," + "x" * 200_000 + "\n"},
         "pairs {w}/syn.gff --pairs {d}/list.csv", 1, "not a CSV/TSV pair list"),
    Case("pair list: empty", {"list.csv": "\n"}, "pairs {w}/syn.gff --pairs {d}/list.csv", 1, "empty pair list"),
    Case("pair list: unknown ids only", {"list.csv": "nope1,nope2\nnope3,nope4\n"},
         "pairs {w}/syn.gff --pairs {d}/list.csv", 1, "no pair of"),
    Case("labels: label 'maybe'", {"list.csv": "SYN_000,SYN_001,1\nSYN_001,SYN_002,maybe\n"},
         "pairs {w}/syn.gff --labels {d}/list.csv", 1, "is not 0/1"),
    Case("pair list: --pairs and --labels", {"list.csv": "SYN_000,SYN_001\n"},
         "pairs {w}/syn.gff --pairs {d}/list.csv --labels {d}/list.csv", 2, "give one"),
    # --- operon tables (--operons)
    Case("operons: unrecognised", {"op.tsv": "a\tb\tc\n1\t2\t3\n"}, "pairs {w}/syn.gff --operons {d}/op.tsv", 1,
         "unrecognised operon table"),
    Case("operons: empty", {"op.tsv": "# nothing\n"}, "pairs {w}/syn.gff --operons {d}/op.tsv", 1,
         "empty operon table"),
    Case("operons: ragged two-column table", {"op.tsv": "op1\tSYN_000,SYN_001\nop2\tSYN_002\textra\n"},
         "pairs {w}/syn.gff --operons {d}/op.tsv", 1, "operon_id<TAB>"),
    # --- pairs TSV (embed/score input)
    Case("pairs TSV: valid, with proteins", {"p.tsv": lambda w, d: pairs_tsv_text(), "p.faa": syn_proteins(),
                                          "p.fna": fasta_text(synthetic().seq)},
         "embed {d}/p.tsv --proteins {d}/p.faa --fasta {d}/p.fna -o {d}/emb", 0, ""),
    Case("pairs TSV: missing columns", {"p.tsv": "pair_id\tscaffold\n"}, "embed {d}/p.tsv -o {d}/emb", 1,
         "missing column"),
    Case("pairs TSV: ragged line", {"p.tsv": lambda w, d: pairs_tsv_text() + "x\ty\n"}, "embed {d}/p.tsv -o {d}/emb",
         1, "fields, header has"),
    Case("pairs TSV: start not a number", {"p.tsv": lambda w, d: edit_line(pairs_tsv_text(), "SYN_000|", "\t101\t",
                                                                          "\tx\t")},
         "embed {d}/p.tsv -o {d}/emb", 1, "bad value"),
    Case("pairs TSV: strand '?'", {"p.tsv": lambda w, d: edit_line(pairs_tsv_text(), "SYN_000|", "\t+\t", "\t?\t")},
         "embed {d}/p.tsv -o {d}/emb", 1, "bad value"),
    Case("pairs TSV: start after end", {"p.tsv": lambda w, d: edit_line(pairs_tsv_text(), "SYN_000|", "\t101\t400\t",
                                                                       "\t400\t101\t")},
         "embed {d}/p.tsv -o {d}/emb", 1, "bad value"),
    Case("pairs TSV: directon not a number", {"p.tsv": lambda w, d: edit_line(pairs_tsv_text(), "SYN_000|", "\t300\t0\t",
                                                                             "\t300\tzero\t")},
         "embed {d}/p.tsv -o {d}/emb", 1, "bad value"),
    Case("pairs TSV: label 2", {"p.tsv": lambda w, d: re.sub(r"\t0\n", "\t2\n", pairs_tsv_text(), count=1)},
         "embed {d}/p.tsv -o {d}/emb", 1, "label '2' is not 0/1"),
    Case("pairs TSV: duplicate pair", {"p.tsv": lambda w, d: pairs_tsv_text() + pairs_tsv_text().split("\n")[1] + "\n"},
         "embed {d}/p.tsv -o {d}/emb", 1, "duplicate pair"),
    Case("pairs TSV: protein missing", {"p.tsv": lambda w, d: pairs_tsv_text(), "p.faa": ">SYN_000\nMK\n"},
         "embed {d}/p.tsv --proteins {d}/p.faa -o {d}/emb", 1, "has no protein"),
    Case("pairs TSV as a genome", {"p.tsv": lambda w, d: pairs_tsv_text()}, "pairs {d}/p.tsv", 2, "is a pairs table"),
    # --- embeddings against pairs and models
    Case("embeddings: NaN", {"emb": _emb("emb", arrays=lambda w: {"protein.npy": _nan_protein(w)})}, SCORE_MG, 1, "NaN or Inf"),
    Case("embeddings: Inf in pair features", {"emb": _emb("emb", arrays=lambda w: {
        "pair_context.npy": np.full_like(np.load(w / "mg_emb" / "pair_context.npy"), np.inf)})}, SCORE_MG, 1,
         "NaN or Inf"),
    Case("embeddings: other genes (ids)", {}, "score {w}/mg_pairs.tsv -e {w}/syn_emb -m {w}/mg_model "
         "--fasta {mg_fna} -o {d}/out.tsv", 1, "not in the embeddings"),
    Case("embeddings: same ids, other proteins (content hash)", {"input": with_base(200, "C" if
                                                                 synthetic().seq[199] != "C" else "G")},
         "score {d}/input -e {w}/syn_emb -m {w}/mg_model -o {d}/out.tsv", 1, "content hash mismatch"),
    Case("embeddings: other dims", {"emb": _emb("emb", arrays={"protein.npy": np.zeros((476, 7), np.float32)})},
         SCORE_MG, 1, "expects view dims"),
    Case("embeddings: other view names", {"emb": _emb("emb", manifest=lambda m: {
        **m, "views": {"protein": "prostt5", "context": "builtin"}})}, SCORE_MG, 1, "trained on views"),
    Case("embeddings: changed file (checksum)", {"emb": _emb("emb", arrays={"protein.npy": np.ones((476, 40),
                                                                                                   np.float32)},
                                                             rehash=False)}, SCORE_MG, 1, "checksum mismatch"),
    Case("embeddings: path traversal in the file list", {"emb": _emb("emb", manifest=lambda m: {
        **m, "files": ["protein.npy", "../x.npy"]})}, SCORE_MG, 1, "unexpected file list"),
    Case("embeddings: path traversal in the hashes", {"emb": _emb("emb", manifest=lambda m: {
        **m, "files_sha256": {**m["files_sha256"], "../../etc/passwd": "0" * 64}})}, SCORE_MG, 1, "unexpected file"),
    Case("embeddings: absolute path in the file list", {"emb": _emb("emb", manifest=lambda m: {
        **m, "files": ["protein.npy", "/etc/passwd"]})}, SCORE_MG, 1, "unexpected file list"),
    Case("embeddings: unhashable file list", {"emb": _emb("emb", manifest=lambda m: {**m, "files": [{"a": 1}]})},
         SCORE_MG, 1, "unexpected file list"),
    Case("embeddings: hashes not an object", {"emb": _emb("emb", manifest=lambda m: {**m, "files_sha256": [1]})},
         SCORE_MG, 1, "corrupted manifest"),
    # a checksum that is no SHA-256 (upper case: not as written) is a corrupted manifest, as in a model's config (one
    # check, manifest.check_files), not a file 'corrupted or edited since it was written'
    Case("embeddings: a checksum that is no SHA-256", {"emb": _emb("emb", manifest=lambda m: {
        **m, "files_sha256": {k: v.upper() for k, v in m["files_sha256"].items()}})}, SCORE_MG, 1,
         "corrupted manifest (files_sha256 must map file names to SHA-256 digests)"),
    Case("embeddings: manifest nested 100000 deep", {"emb": _emb("emb", manifest=lambda m: "[" * 100_000)},
         SCORE_MG, 1, "corrupted manifest"),
    Case("embeddings: object array (pickle)", {"emb": _emb("emb", arrays={
        "protein.npy": np.array([{"a": 1}] * 476, dtype=object).reshape(476, 1)})}, SCORE_MG, 1, "unreadable array"),
    Case("embeddings: integer array", {"emb": _emb("emb", arrays={"protein.npy": np.zeros((476, 40), np.int64)})},
         SCORE_MG, 1, "not floating point"),
    Case("embeddings: 3-d array", {"emb": _emb("emb", arrays={"protein.npy": np.zeros((476, 40, 1), np.float32)})},
         SCORE_MG, 1, "does not match"),
    Case("embeddings: not a folder", {"emb/x": b""}, SCORE_MG.replace("{d}/emb", "{d}/emb/x"), 2, "is a file"),
    # a malformed column list was an internal AttributeError / TypeError
    Case("embeddings: context columns a list", {"emb": _emb("emb", manifest=lambda m: {**m, "context_columns": [1]})},
         SCORE_MG, 1, "context_columns must map"),
    Case("embeddings: context column names a number", {"emb": _emb("emb", manifest=lambda m: {
        **m, "context_columns": {"gene": 5, "pair": []}})}, SCORE_MG, 1, "context_columns must map"),
    Case("embeddings: manifest past the size cap", {"emb": _emb("emb", manifest=lambda m: json.dumps(m)[:-1]
                                                                 + " " * (1 << 20) + "}")},
         SCORE_MG, 1, "far larger than any microfuse metadata file",
         patch=(("microfuse_cli.manifest.MAX_MANIFEST_BYTES", 1 << 20),)),
    # --- reference folders (score --reference), re-hashed as a deliberate edit is: an index out of range was an
    # IndexError deep in the search (or silently wrapped when negative), a strand or protein row silently misread
    Case("reference: genome index past the last", {"ref": _ref(genes=_set_field(0, 1, "7"))}, SCORE_REF, 1,
         "genes.tsv row 0 places its gene outside"),
    Case("reference: scaffold index past the last", {"ref": _ref(genes=_set_field(3, 2, "9"))}, SCORE_REF, 1,
         "genes.tsv row 3 places its gene outside"),
    Case("reference: negative scaffold index", {"ref": _ref(genes=_set_field(3, 2, "-1"))}, SCORE_REF, 1,
         "genes.tsv row 3 places its gene outside"),
    Case("reference: position past its scaffold", {"ref": _ref(genes=_set_field(5, 3, "20"))}, SCORE_REF, 1,
         "genes.tsv row 5 places its gene outside"),
    Case("reference: position past int32", {"ref": _ref(genes=_set_field(5, 3, str(10**12)))}, SCORE_REF, 1,
         "inconsistent reference files"),
    Case("reference: strand 'x'", {"ref": _ref(genes=_set_field(2, 4, "x"))}, SCORE_REF, 1,
         "inconsistent reference files"),
    Case("reference: protein of row -1", {"ref": _ref(proteins=lambda t: t.replace(">0\n", ">-1\n", 1))}, SCORE_REF,
         1, "proteins.faa names row '-1' of 20"),
    Case("reference: proteins missing", {"ref": _ref(proteins=lambda t: "")}, SCORE_REF, 1,
         "proteins.faa and the has_protein column of genes.tsv disagree"),
    Case("reference: a gene row listed twice", {"ref": row_twice("syn_ref", "ref", "genes.tsv")}, SCORE_REF, 1,
         "genes.tsv rows 0 and 1 place two genes at one position of one scaffold"),
    # a binary or oversized genes.tsv, re-hashed, is refused as every text input is (io.files.read_text): the
    # reference's said 'inconsistent reference files' or read it whole, the embeddings' 'UnicodeDecodeError' or
    # 'line 478: corrupted'
    Case("embeddings: binary genes.tsv", {"emb": file_edited("mg_emb", "emb", "genes.tsv", _binary_rows)}, SCORE_MG,
         1, "genes.tsv: looks like a binary file"),
    Case("embeddings: genes.tsv past the size cap", {"emb": file_edited("mg_emb", "emb", "genes.tsv", _past_1_mib)},
         SCORE_MG, 1, "genes.tsv: more than 1048576 bytes", patch=(("MAX_INPUT_BYTES", 1 << 20),)),
    Case("reference: binary genes.tsv", {"ref": file_edited("syn_ref", "ref", "genes.tsv", _binary_rows)}, SCORE_REF,
         1, "genes.tsv: looks like a binary file"),
    Case("reference: genes.tsv past the size cap", {"ref": file_edited("syn_ref", "ref", "genes.tsv", _past_1_mib)},
         SCORE_REF, 1, "genes.tsv: more than 1048576 bytes", patch=(("MAX_INPUT_BYTES", 1 << 20),)),
    # --- a folder's files linked to files outside it (DVC's symlink cache, git-annex, `cp -rs`), or the folder itself
    #     a link (moved to another disk): read, each file's checksum verified (nothing of the target is written)
    Case("embeddings: a file linked outside the folder", {"emb": linked_out("mg_emb", "emb", "protein.npy")},
         SCORE_MG, 0, ""),
    Case("embeddings: the folder a link to another disk", {"emb": linked_folder("mg_emb", "emb")}, SCORE_MG, 0, ""),
    Case("embeddings: a pair listed twice", {"emb": row_twice("mg_emb", "emb", "pairs.tsv")}, SCORE_MG, 1,
         "pairs.tsv: corrupted (pair 'MG_001|MG_002' is listed twice)"),
    Case("reference: a file linked outside the folder", {"ref": linked_out("syn_ref", "ref", "genes.tsv", True)},
         SCORE_REF, 0, ""),
    Case("reference: manifest linked outside the folder", {"ref": linked_out("syn_ref", "ref", "manifest.json")},
         SCORE_REF, 0, ""),
    Case("index: a file linked outside the folder", {"idx": linked_out("mg_index", "idx", "index.faiss")},
         SEARCH, 0, ""),
    Case("index: a pair listed twice", {"idx": row_twice("mg_index", "idx", "pairs.tsv")}, SEARCH, 1,
         "duplicate pair_id 'MG_001|MG_002'"),
    Case("reference: scaffold lists of unequal lengths", {"ref": _ref(manifest=lambda m: {
        **m, "genomes": [{**m["genomes"][0], "scaffolds": ["c1", "c2"]}]})}, SCORE_REF, 1, "of unequal lengths"),
    # --- options the builtin views never use must still be checked (the fusion head runs without torch)
    Case("score: malformed --device", {}, "score {mg_gff} --fasta {mg_fna} --device gpu0 -o {d}/out.tsv", 2,
         "device must be auto, cpu, cuda or cuda:N (--device), not 'gpu0'"),
    Case("embed: malformed --device", {}, "embed {mg_gff} --fasta {mg_fna} --device cuda:x -o {d}/emb", 2,
         "device must be auto, cpu, cuda or cuda:N (--device), not 'cuda:x'"),
]


def _materialise(case: Case, work: Path, folder: Path) -> list[str]:
    for name, data in case.files.items():
        path = folder / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if callable(data):
            data = data(work, folder)
        if data is None:
            continue
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    args = case.args.format(d=folder, w=work, mg_gff=MG_GFF, mg_fna=MG_FNA)
    return args.split()


def assert_clean_error(code, err, expected_code, fragment):
    assert "Traceback" not in err, err
    assert code == expected_code, err
    if expected_code:
        lines = [line for line in err.splitlines() if line.startswith("error:")]
        assert len(lines) == 1, err
        assert "internal error" not in lines[0], err
        assert fragment in lines[0], err


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_case(case, work, tmp_path, monkeypatch):
    import microfuse_cli.io.files as mio

    for attribute, value in case.patch:
        if "." in attribute:  # a dotted path names another module's attribute
            monkeypatch.setattr(attribute, value)
        else:
            monkeypatch.setattr(mio, attribute, value)
    args = _materialise(case, work, tmp_path)
    code, _, err = run_cli(args)
    assert_clean_error(code, err, case.code, case.message)
    if case.same:  # the reference table but for its first line, which names each table's own input
        got, ref = (path.read_bytes().split(b"\n", 1) for path in (tmp_path / "out.tsv", work / "syn_ref.tsv"))
        name = Path(args[1]).name.encode()  # input or input.gz
        assert got[1] == ref[1] and got[0] == ref[0].replace(b" genome=syn.gff", b" genome=" + name)
    if case.code:  # nothing half-written beside an output
        assert not [p for p in tmp_path.rglob("*") if p.name.endswith((".tmp", ".old", ".partial"))]


# ------------------------------------------------------------------------------------- gene callers' own formats

#: The first lines of what gene callers write besides GFF3 (Prodigal 2.6.3 -f gbk, its default, and -f sco; Glimmer3's
#: .predict; GeneMarkS-2's and MetaGeneMark's LST, MetaGeneMark's GFF2 of both layouts), genes of E. coli's first
#: kilobases; and what the error must name.
GENE_CALLER_OUTPUTS = {
    "prodigal-gbk": ('DEFINITION  seqnum=1;seqlen=30000;seqhdr="NC_000913.3";version=Prodigal.v2.6.3;run_type=Single;'
                     'model="Ab initio";gc_cont=50.79;transl_table=11;uses_sd=1\n'
                     "FEATURES             Location/Qualifiers\n     CDS             337..2799\n"
                     '                     /note="ID=1_1;partial=00;start_type=ATG;rbs_motif=GGAG/GAGG;"\n//\n',
                     "Prodigal's GenBank-like output (-f gbk"),
    "prodigal-sco": ('# Sequence Data: seqnum=1;seqlen=30000;seqhdr="NC_000913.3"\n'
                     "# Model Data: version=Prodigal.v2.6.3;run_type=Single;transl_table=11;uses_sd=1\n"
                     ">1_337_2799_+\n>2_2801_3733_+\n",
                     "Prodigal's simple coordinate output (-f sco)"),
    "glimmer3-predict": (">NC_000913.3 Escherichia coli\norf00001      337     2799  +1     9.97\n"
                         "orf00003     3734     5020  +3    10.02\n", "Glimmer3's gene predictions"),
    "metagenemark-gff2": ("##gff-version 2\n##source-version GeneMark.hmm_PROKARYOTIC 2.8\n"
                          "NC_000913.3 Escherichia coli\tGeneMark.hmm\tgene\t337\t2799\t.\t+\t0\tgene_id 1\n",
                          "line 3: MetaGeneMark's GFF2 of before version 3.25"),
    "metagenemark-gff": ("##gff-version 2\n##source-version GeneMark.hmm_PROKARYOTIC 3.25\n"
                         "NC_000913.3 len=30000\tGeneMark.hmm\tCDS\t337\t2799\t-635.9\t+\t0\tgene_id=1, "
                         "length=2463, gene_score=-635.9, rbs_score=-0.02, rbs_spacer=-1, stop_enforced=N\n",
                         "line 3: MetaGeneMark's GFF (attributes"),
    "genemark-lst": ("# GeneMark.hmm-2 LST format\n# GeneMark.hmm-2 prokaryotic version: 1.14\n\n"
                     "     1   +   337   2799   2463  native  AGGAG  8  1\n", "GeneMark's LST output"),
}


@pytest.mark.parametrize("producer", GENE_CALLER_OUTPUTS)
def test_gene_caller_output_that_is_no_gff3_is_named_with_what_to_give(producer, tmp_path):
    """A gene caller's own format is refused in one line naming it and what to give instead (-f gff), never as a
    broken FASTA (was: Prodigal's .sco and Glimmer's .predict, whose ``>`` lines look like FASTA headers, were
    'not a FASTA file' and 'holds non-nucleotide characters'; Prodigal's default output was 'not a GFF3')."""
    text, named = GENE_CALLER_OUTPUTS[producer]
    path = tmp_path / f"{producer}.txt"
    path.write_text(text)
    code, _, err = run_cli(["pairs", path, "--fasta", MG_FNA, "-o", tmp_path / "pairs.tsv"])
    assert_clean_error(code, err, 1, f"error: {path}: {named}")
    assert not (tmp_path / "pairs.tsv").exists()


def test_gff3_files_joined_with_cat_are_refused_at_the_second_header(tmp_path):
    """Two GFF3 files with ##FASTA joined with cat (two Prokka annotations of one genome's replicons): refused at
    the second file's ##gff-version line, saying what happened (was: its rows read as sequence, 'record c1 holds
    protein characters')."""
    joined = tmp_path / "joined.gff"
    joined.write_text(SYN + SYN.replace("c1", "c2"))
    code, _, err = run_cli(["pairs", joined, "-o", tmp_path / "pairs.tsv"])
    second = SYN.count("\n") + 1
    assert_clean_error(code, err, 1, f"error: {joined}: line {second}: a second GFF3 (##gff-version) after the "
                                     "##FASTA section of the first (files joined with cat?)")
    assert not (tmp_path / "pairs.tsv").exists()


def test_stdin_whose_connection_is_reset_is_named_not_tmpdir(tmp_path):
    """`microfuse pairs -` reading a TCP connection (nc, a socket activation) that the peer resets: the failed read
    of stdin was reported as the temp file's ('cannot keep stdin in a temp file in /tmp (TMPDIR; give it a folder
    with space): Connection reset by peer'). It names stdin."""
    import socket
    import struct

    with socket.create_server(("127.0.0.1", 0)) as server, socket.create_connection(server.getsockname()) as peer:
        received, _ = server.accept()
        with received:
            proc = subprocess.Popen([sys.executable, "-m", "microfuse_cli", "pairs", "-", "-o", tmp_path / "p.tsv"],
                                    stdin=received.fileno(), stderr=subprocess.PIPE, text=True,
                                    env=dict(os.environ, PYTHONPATH=str(ROOT)))
        peer.sendall(SYN.encode()[:2000])
        time.sleep(1)  # read by the run, which waits for more
        peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))  # close with a reset
    _, err = proc.communicate(timeout=60)
    assert_clean_error(proc.returncode, err, 1, "error: cannot read stdin: Connection reset by peer")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("compressed", [False, True])
def test_a_non_blocking_stdin_whose_writer_pauses_is_read_whole(compressed, tmp_path):
    """A program that leaves its pipe to `microfuse pairs -` non-blocking (O_NONBLOCK: Node.js, some workflow
    runners) and writes the genome in two parts with a pause between: the read that found the pipe empty was
    taken for the end of the input, and the first half was read as the whole genome (cut at a line: fewer pairs,
    exit 0). It is read whole, as from the file."""
    text = gzip.decompress(MG_GFF.read_bytes())
    cut = text.index(b"\n", len(text) // 2) + 1  # at a line end: a short read parses
    data = gzip.compress(text) if compressed else text
    cut = len(data) // 2 if compressed else cut
    expected = tmp_path / "from_file.tsv"
    code, _, err = run_cli(["pairs", MG_GFF, "-o", expected, "-q"])
    assert code == 0, err
    read, write = os.pipe()
    os.set_blocking(read, False)
    with open(read, "rb") as reader:  # the run's only reader once it runs: a run that stops reading breaks the pipe
        proc = subprocess.Popen([sys.executable, "-m", "microfuse_cli", "pairs", "-", "-o", tmp_path / "piped.tsv",
                                 "-q"], stdin=reader, stderr=subprocess.PIPE, text=True,
                                env=dict(os.environ, PYTHONPATH=str(ROOT)))
    with contextlib.suppress(BrokenPipeError), open(write, "wb") as pipe:
        pipe.write(data[:cut])
        pipe.flush()
        time.sleep(1.5)
        pipe.write(data[cut:])
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 0 and err == "", err
    piped = (tmp_path / "piped.tsv").read_bytes()  # the file's table, named after stdin
    assert piped == expected.read_bytes().replace(f" genome={MG_GFF.name}\n".encode(), b" genome=stdin\n", 1)


# ------------------------------------------------------------------------------------------------ soft-masked DNA


def _soft_mask(seq: str, seed: int = 3) -> str:
    """Lower-case random runs, as RepeatMasker-style soft masking does."""
    rng, out, i = random.Random(seed), [], 0
    while i < len(seq):
        n = rng.randint(5, 300)
        out.append(seq[i : i + n].lower() if rng.random() < 0.5 else seq[i : i + n])
        i += n
    return "".join(out)


@pytest.mark.parametrize("form", ["gff", "genbank", "fasta"])
def test_soft_masked_sequence_works_as_upper_case(form, tmp_path):
    """Lower-case (soft-masked) DNA gives byte-identical pairs and proteins to the same DNA in upper case."""
    syn = synthetic()
    variants = {
        "gff": (gff_text(), gff_text(seq=_soft_mask(syn.seq))),
        "genbank": (genbank_text(), genbank_text(lower=True)),
        "fasta": (fasta_text(syn.seq), fasta_text(_soft_mask(syn.seq))),
    }[form]
    outputs = []
    for label, text in zip(("upper", "lower"), variants):
        folder = tmp_path / label
        folder.mkdir()
        (folder / "genome").write_text(text)
        code, _, err = run_cli(["pairs", folder / "genome", "-o", folder / "pairs.tsv", "--proteins",
                                folder / "proteins.faa"])
        assert code == 0, err
        outputs.append(((folder / "pairs.tsv").read_bytes(), (folder / "proteins.faa").read_bytes()))
    assert outputs[0][0].count(b"\n") > 5
    assert outputs[0] == outputs[1]
    if form == "gff":  # the views read the sequence too (GC, RBS, terminators)
        from microfuse_cli.embed import Embeddings

        for label in ("upper", "lower"):
            code, _, err = run_cli(["embed", tmp_path / label / "genome", "-o", tmp_path / label / "emb"])
            assert code == 0, err
        a, b = (Embeddings.load(tmp_path / label / "emb") for label in ("upper", "lower"))
        assert np.array_equal(a.protein, b.protein) and np.array_equal(a.pair_context, b.pair_context)
        assert a.manifest["genes_sha256"] == b.manifest["genes_sha256"]


# ------------------------------------------------------------------------------------------------ size and time


def test_huge_header_refused_without_holding_it(tmp_path):
    """A 1 GiB FASTA header (a ~1 MB .gz) is refused after reading MAX_LINE_BYTES, never held whole."""
    from microfuse_cli.io.files import read_text

    path = tmp_path / "header.fna.gz"
    path.write_bytes(huge_header_gz())
    assert path.stat().st_size < 4 << 20
    assert_refused_within_line_cap(read_text, path)


def test_huge_header_construction_is_valid_gzip():
    """The lazy construction gives a valid gzip (CRC and length included) of one long header line: checked at
    64 MiB, the same code as the 1 GiB stream."""
    size = 64 << 20
    data = gzip.decompress(huge_header_gz(size))
    assert len(data) == 1 + size + 6 and data.count(b"\n") == 2 and data.startswith(b">HHH")


def _many_features(n_genes: int) -> str:
    head = f"##gff-version 3\n##sequence-region c1 1 {300 * n_genes + 100}\n"
    return head + "".join(
        f"c1\tx\tgene\t{300 * i + 1}\t{300 * i + 270}\t.\t{'+-'[i % 2]}\t.\tID=gene-{i};locus_tag=g{i}\n"
        f"c1\tx\tCDS\t{300 * i + 1}\t{300 * i + 270}\t.\t{'+-'[i % 2]}\t0\tID=cds-{i};Parent=gene-{i};"
        f"locus_tag=g{i}\n" for i in range(n_genes))


def test_many_features_on_one_contig_parse_in_linear_time():
    """2 x 10^4 and 10^5 features on one contig: parse time grows linearly (10^6 runs with MICROFUSE_FULL_SCALE=1).

    10^6 features (5 x 10^5 genes) take ~15-30 s on two shared cores: linear, but too long for every run.
    """
    from microfuse_cli.io.gff import read_gff
    from microfuse_cli.pairs import adjacent_pairs

    sizes = [10_000, 50_000] + ([500_000] if os.environ.get("MICROFUSE_FULL_SCALE") else [])
    times = []
    for n in sizes:
        text = _many_features(n)
        start = time.perf_counter()
        genome = read_gff("many.gff", text=text)
        pairs = adjacent_pairs(genome)
        times.append(time.perf_counter() - start)
        assert len(genome.genes) == n and len(pairs) == n - 1
    per_feature = [t / (2 * n) for t, n in zip(times, sizes)]
    # quadratic would be 5x per step, and more; no bound on the time itself, which is the machine's (170 us per
    # feature with seven other jobs on the two cores, where an idle machine takes about 50)
    assert per_feature[-1] < 4 * per_feature[0] + 20e-6, times


# ------------------------------------------------------------------------------------------------ signals


#: Loaded as ``sitecustomize`` by the real CLI under test: the atomic writers' final rename waits (after touching
#: MICROFUSE_TEST_MARK) so the signal lands at the worst moment, with the new output complete but not yet in place
#: (for a folder reused in place: before the first of its files is renamed out of the hidden build folder).
SLOW_RENAME_HOOK = '''
import os
import time

_replace = os.replace


def _replace_slowly(src, dst, *args, **kwargs):
    mark = os.environ.get("MICROFUSE_TEST_MARK")
    to = os.environ.get("MICROFUSE_TEST_RENAME_TO", "")  # pause at the rename onto a name ending so (default: any)
    if mark and (str(src).endswith(".tmp") or os.path.dirname(str(src)).endswith(".tmp")) and str(dst).endswith(to):
        open(mark, "w").close()
        time.sleep(600)
    return _replace(src, dst, *args, **kwargs)


os.replace = _replace_slowly
'''


def snapshot(path: Path) -> dict[str, bytes]:
    if path.is_file():
        return {"": path.read_bytes()}
    return {str(p.relative_to(path)): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def leftovers(folder: Path, keep: set[str]) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name not in keep)


def _fault_command(command: str, work: Path, out: Path) -> list[str]:
    return {
        "embed": ["embed", MG_GFF, "--fasta", MG_FNA, "-o", out],
        "train": ["train", work / "mg_pairs.tsv", "-e", work / "mg_emb", "-o", out, "--batch-size", "64"],
        "score": ["score", work / "mg_pairs.tsv", "-e", work / "mg_emb", "-m", work / "mg_model", "--fasta", MG_FNA,
                  "-o", out],
    }[command]


def _previous_output(command: str, work: Path, out: Path) -> None:
    if command == "embed":
        shutil.copytree(work / "mg_emb", out)
    elif command == "train":
        shutil.copytree(work / "mg_model", out)
    else:
        out.write_text("pair_id\tprobability\nfrom\ta previous run\n")


def _start(args, env_extra: dict, hook_dir: Path) -> tuple[subprocess.Popen, list[str]]:
    path = os.pathsep.join(p for p in (str(hook_dir), os.environ.get("PYTHONPATH", "")) if p)
    env = dict(os.environ, PYTHONPATH=path, OMP_NUM_THREADS="1", **env_extra)
    proc = subprocess.Popen([str(MICROFUSE), *map(str, args)], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True, env=env)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True).start()
    return proc, lines


def _wait_for(condition, proc, lines, timeout=300.0) -> str | None:
    """None once ``condition()`` holds, else why it never did."""
    deadline = time.monotonic() + timeout
    while not condition():
        if proc.poll() is not None:
            return f"microfuse ended (exit {proc.returncode}) before the signal: {''.join(lines)}"
        if time.monotonic() > deadline:
            return "timed out waiting for microfuse to reach the point of the signal"
        time.sleep(0.01)
    return None


SIGNALS = {"SIGINT": (signal.SIGINT, 130, "error: interrupted"), "SIGTERM": (signal.SIGTERM, 143, "error: terminated"),
           "SIGHUP": (signal.SIGHUP, 129, "error: hung up")}  # a closed terminal or ssh session
FAULTS = [(c, s, "rename") for c in ("embed", "train", "score") for s in SIGNALS] + \
         [("train", s, "training") for s in SIGNALS]


def _interrupt(fault, work: Path, folder: Path, hook: Path) -> dict:
    """Run one command of FAULTS on a previous output, signal it at its moment; what the test checks."""
    command, sig, moment = fault
    out = folder / "run" / ("out.tsv" if command == "score" else "out")
    out.parent.mkdir(parents=True)
    _previous_output(command, work, out)
    before = snapshot(out)
    mark = folder / "renaming"
    args = _fault_command(command, work, out)
    if moment == "training":  # a long run, interrupted mid-epoch
        args += ["--epochs", "100000", "--patience", "100000"]
    elif command == "train":
        args += ["--epochs", "1"]
    proc, lines = _start(args, {"MICROFUSE_TEST_MARK": str(mark)} if moment == "rename" else {}, hook)
    try:
        if moment == "rename":
            problem = _wait_for(mark.exists, proc, lines)
        else:
            problem = _wait_for(lambda: any("training," in line for line in lines), proc, lines)
            time.sleep(0.5)
        if problem is None:
            proc.send_signal(SIGNALS[sig][0])
            proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    time.sleep(0.1)  # the stderr reader drains
    return {"problem": problem, "code": proc.returncode, "err": "".join(lines), "before": before,
            "after": snapshot(out), "leftovers": leftovers(out.parent, {out.name})}


@contextlib.contextmanager
def _signals_as_in_a_terminal():
    """Ctrl-C and SIGHUP not ignored in this process while the block starts children, who inherit an ignored one
    (tests run in the background, `pytest ... &`, where the shell ignores SIGINT, or under nohup): the CLI rightly
    leaves an ignored signal ignored, so the test's signal did nothing and `score` waited for its stuck model loader
    ('still running 30 s after the signal', only where the suite ran as a background job). Main thread only; the
    test's threads start the children inside the block, as a ``preexec_fn`` is unsafe with threads."""
    ignored = [s for s in (signal.SIGINT, signal.SIGHUP) if signal.getsignal(s) == signal.SIG_IGN]
    try:
        for sig in ignored:
            signal.signal(sig, signal.default_int_handler if sig == signal.SIGINT else signal.SIG_DFL)
        yield
    finally:
        for sig in ignored:
            signal.signal(sig, signal.SIG_IGN)


@pytest.fixture(scope="module")
def interrupted(work, tmp_path_factory):
    """Every FAULTS run at once (separate processes, so the shared cores overlap them); results by fault."""
    root = tmp_path_factory.mktemp("signals")
    hook = root / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(SLOW_RENAME_HOOK)
    results: dict = {}
    with _signals_as_in_a_terminal():
        threads = [threading.Thread(target=lambda f=f, i=i: results.__setitem__(f, _interrupt(f, work, root / str(i),
                                                                                             hook)))
                   for i, f in enumerate(FAULTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    return results


@pytest.mark.parametrize("fault", FAULTS, ids=["-".join(f) for f in FAULTS])
def test_signal_leaves_previous_output_intact(fault, interrupted):
    """SIGINT/SIGTERM/SIGHUP to the real CLI, during the work or during the final rename: the previous output stays
    byte-identical, no temp file or folder is left beside it, and the exit is a one-line error (SIGHUP killed the
    run silently, its temp files and build folders left behind)."""
    result = interrupted[fault]
    assert result["problem"] is None, result["problem"]
    _, code, message = SIGNALS[fault[1]]
    err = result["err"]
    assert result["code"] == code, err
    assert err.rstrip().splitlines()[-1] == message and "Traceback" not in err, err
    assert result["after"] == result["before"]
    assert result["leftovers"] == []


#: As SLOW_RENAME_HOOK: the model loader that `score` runs in a thread beside the gene calling never finishes (it
#: waits, after touching MICROFUSE_TEST_MARK, in its import of scipy.special), as it did when an interrupt landed in
#: the main thread's own imports and left CPython's import lock held: the loader then waited for it forever.
BLOCKED_LOADER_HOOK = '''
import importlib
import os
import threading
import time

_import_module = importlib.import_module


def _blocked(name, *args, **kwargs):
    mark = os.environ.get("MICROFUSE_TEST_MARK")
    if mark and name == "scipy.special" and threading.current_thread() is not threading.main_thread():
        open(mark, "w").close()
        time.sleep(600)
    return _import_module(name, *args, **kwargs)


importlib.import_module = _blocked
'''


def _status_within(proc, seconds: float, since: str) -> int | str:
    """``proc``'s exit status, or what went wrong (a string no status equals) if it runs on ``seconds`` ``since``."""
    try:
        return proc.wait(timeout=seconds)
    except subprocess.TimeoutExpired:
        return f"still running {seconds} s {since}"


def _ended(proc) -> None:
    """``proc`` killed if it still runs, and its stderr reader given time to drain."""
    if proc.poll() is None:
        proc.kill()
        proc.wait()
    time.sleep(0.1)


def _start_with_a_blocked_loader(tmp_path, args):
    """``microfuse ARGS`` started with its model loader stuck (BLOCKED_LOADER_HOOK, in tmp_path/hook): (process,
    its stderr lines, the file the loader makes once it is stuck)."""
    hook = tmp_path / "hook"
    hook.mkdir()
    (hook / "sitecustomize.py").write_text(BLOCKED_LOADER_HOOK)
    mark = tmp_path / "loading"
    with _signals_as_in_a_terminal():
        proc, lines = _start(args, {"MICROFUSE_TEST_MARK": str(mark)}, hook)
    return proc, lines, mark


@pytest.mark.parametrize("sig", ["SIGINT", "SIGTERM"])
def test_an_interrupt_never_waits_for_the_model_loader(sig, tmp_path):
    """SIGINT 0.35-0.75 s into `score` on M. genitalium hung for good (2 of 30 tries): the interrupted main thread
    waited for the model-loading thread, which waited for the import lock the interrupt had left held (see
    test_terminal's test_an_interrupt_in_a_callback_during_a_run_ends_it). An interrupt now ends the run (one line,
    its status, the previous outputs kept) without waiting for the loader."""
    out = tmp_path / "scores.tsv"
    out.write_text("old\n")
    proc, lines, mark = _start_with_a_blocked_loader(
        tmp_path, ["score", MG_GFF, "--fasta", MG_FNA, "-o", out, "--operons-gff", tmp_path / "operons.gff3"])
    try:
        problem = _wait_for(mark.exists, proc, lines, timeout=120)
        assert problem is None, problem
        time.sleep(0.3)  # the main thread on to its genes, or waiting for the model
        proc.send_signal(SIGNALS[sig][0])
        code = _status_within(proc, 30, "after the signal")
    finally:
        _ended(proc)
    assert code == SIGNALS[sig][1], "".join(lines)
    assert "".join(lines).rstrip().splitlines()[-1] == SIGNALS[sig][2]
    assert out.read_text() == "old\n" and sorted(p.name for p in tmp_path.iterdir()) == ["hook", "loading", out.name]


def test_a_failed_score_never_waits_for_the_model_loader(tmp_path):
    """A `score` that fails on its data (a --bins table naming none of the genome's scaffolds) while its model is
    still loading: the failure was said at once, but the exit then waited for the loader (Python joins a thread
    pool's threads at exit), for good where the loader was stuck (the import lock a lost interrupt left held, a hung
    network file system). It ends with its one line and exit 1, the loader left behind."""
    bins = tmp_path / "bins.tsv"
    bins.write_text("k141_7\tbin1\n")
    proc, lines, mark = _start_with_a_blocked_loader(
        tmp_path, ["score", MG_GFF, "--fasta", MG_FNA, "--bins", bins, "-o", tmp_path / "scores.tsv"])
    try:
        code = _status_within(proc, 60, "after it started")
    finally:
        _ended(proc)
    assert mark.exists()  # the loader was stuck when the run failed
    assert code == 1, "".join(lines)
    assert "".join(lines).rstrip().splitlines()[-1].startswith("error: ")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bins.tsv", "hook", "loading"]


# ------------------------------------------------------------------------------------------------ resume


@pytest.fixture(scope="module")
def tiny_prostt5(tmp_path_factory):
    sys.path.insert(0, str(Path(__file__).parent))
    import tiny_models

    return tiny_models.save_tiny_prostt5(tmp_path_factory.mktemp("tiny") / "prostt5")


def test_embed_resume_after_kill_is_byte_identical(work, tiny_prostt5, tmp_path, monkeypatch):
    """Killed on its third ProstT5 shard, then `--resume`d (past a stray temp shard and a damaged one): the folder is
    byte-identical to an uninterrupted run, and only the missing or damaged shards are recomputed."""
    import microfuse_cli.embed as embed_module
    from microfuse_cli.views.prostt5 import ProstT5Embedder

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(embed_module, "SHARD_SIZE", 4)  # 20 genes: 5 shards

    def args(out):
        return ["embed", work / "syn.gff", "-o", out, "--protein-view", "prostt5", "--protein-model", tiny_prostt5,
                "--offline", "--device", "cpu"]

    code, _, err = run_cli(args(tmp_path / "reference"))
    assert code == 0, err

    real, calls = ProstT5Embedder.embed, []

    def dies_on_third_shard(self, proteins, progress=None):
        calls.append(len(proteins))
        if len(calls) == 3:
            raise KeyboardInterrupt
        return real(self, proteins, progress=progress)

    monkeypatch.setattr(ProstT5Embedder, "embed", dies_on_third_shard)
    out = tmp_path / "out"
    code, _, err = run_cli(args(out))
    assert code == 130 and "error: interrupted" in err, err
    assert not out.exists()
    shards = sorted((tmp_path / "out.partial").rglob("protein.*.npy"))
    assert [s.name for s in shards] == ["protein.000000000.npy", "protein.000000004.npy"]
    (shards[0].parent / "protein.000000008.npy.tmp").write_bytes(b"\x93NUMPY half a shard")  # what SIGKILL leaves
    shards[1].write_bytes(shards[1].read_bytes()[:100])  # a damaged shard is recomputed, not trusted

    calls.clear()
    monkeypatch.setattr(ProstT5Embedder, "embed", lambda self, p, progress=None: calls.append(len(p)) or real(
        self, p, progress=progress))
    code, _, err = run_cli(args(out) + ["--resume"])
    assert code == 0, err
    assert calls == [4, 4, 4, 4]  # shard 0 kept; 1 (damaged), 2, 3, 4 computed
    assert snapshot(out) == snapshot(tmp_path / "reference")
    assert leftovers(tmp_path, {"out", "reference"}) == []


# ------------------------------------------------------------------------------------------------ disk full


def _enospc(*args, **kwargs):
    raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


DISK_FULL = [("pairs", "fsync"), ("pairs", "write"), ("embed", "fsync"), ("embed", "write"), ("train", "fsync"),
             ("score", "fsync")]


@pytest.mark.parametrize("command,where", DISK_FULL, ids=[f"{c}-{w}" for c, w in DISK_FULL])
def test_disk_full_keeps_previous_output(command, where, work, tmp_path, monkeypatch):
    """ENOSPC while writing (half a file out) or at fsync: one `error:` line, exit 1, the previous output intact."""
    import microfuse_cli.io.tables as pairs_module

    out = tmp_path / ("out" if command in ("embed", "train") else "out.tsv")
    if command == "pairs":
        out.write_text("pair_id\tfrom a previous run\n")
        args = ["pairs", MG_GFF, "--fasta", MG_FNA, "-o", out]
    else:
        _previous_output(command, work, out)
        args = _fault_command(command, work, out) + (["--epochs", "1"] if command == "train" else [])
    before = snapshot(out)
    if where == "fsync":
        monkeypatch.setattr(os, "fsync", _enospc)
    elif command == "pairs":
        def half_then_full(handle, pairs, comments=()):
            handle.write("pair_id\tscaffold\n" * 100)
            _enospc()

        monkeypatch.setattr(pairs_module, "write_pairs", half_then_full)
    else:
        real_save = np.save

        def save_half(file, array, **kwargs):
            real_save(file, array[: len(array) // 2], **kwargs)
            _enospc()

        monkeypatch.setattr(np, "save", save_half)
    code, _, err = run_cli(args)
    assert_clean_error(code, err, 1, "No space left on device")
    assert snapshot(out) == before
    assert leftovers(tmp_path, {out.name}) == []


# ------------------------------------------------------------------------------------------------ untrusted files


class _Payload:
    """Unpickling this creates ``marker``: proof that a file was unpickled (code ran)."""

    def __init__(self, marker: Path):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _live_pickle(marker: Path, tmp_path: Path) -> bytes:
    payload = pickle.dumps(_Payload(marker))
    probe = tmp_path / "probe-marker"
    pickle.loads(pickle.dumps(_Payload(probe)))  # the payload is live: unpickling does create its marker
    assert probe.exists()
    probe.unlink()
    return payload


UNTRUSTED_MODELS = ["weights are a pickle", "config is a pickle", "config points elsewhere",
                    "model config points elsewhere", "weights missing, pickles beside"]


@pytest.mark.parametrize("variant", UNTRUSTED_MODELS)
def test_untrusted_model_folder_runs_no_code(variant, work, tmp_path):
    marker = tmp_path / "PWNED"
    payload = _live_pickle(marker, tmp_path)
    model = tmp_path / "model"
    shutil.copytree(work / "mg_model", model)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (elsewhere / "model.safetensors").write_bytes(payload)
    for name in ("pytorch_model.bin", "model.bin", "model.pt", "model.pkl"):
        (model / name).write_bytes(payload)
    config = json.loads((model / "config.json").read_text())
    expected = "not a valid safetensors file"
    if variant == "weights are a pickle":
        (model / "model.safetensors").write_bytes(payload)
    elif variant == "config is a pickle":
        (model / "config.json").write_bytes(payload)
        expected = "not valid JSON"
    elif variant == "config points elsewhere":
        config["weights"] = str(elsewhere / "model.safetensors")
        (model / "config.json").write_text(json.dumps(config))
        expected = "unknown keys ['weights']"
    elif variant == "model config points elsewhere":
        config["model"]["checkpoint"] = "../elsewhere/model.safetensors"
        (model / "config.json").write_text(json.dumps(config))
        expected = "unknown keys ['checkpoint']"
    else:
        (model / "model.safetensors").unlink()
        expected = "missing model.safetensors"
    code, _, err = run_cli(["score", work / "mg_pairs.tsv", "-e", work / "mg_emb", "-m", model, "--fasta", MG_FNA,
                            "-o", tmp_path / "scores.tsv"])
    assert_clean_error(code, err, 1, expected)
    assert not marker.exists()


@pytest.mark.parametrize("variant", ["auto_map to remote code", "weights are a pickle"])
def test_untrusted_prostt5_folder_runs_no_code(variant, work, tiny_prostt5, tmp_path, monkeypatch):
    """A foundation-model folder asking for its own code (auto_map + a .py beside it) or holding pickled weights
    never runs them: the code is not imported and the pickle is not loaded."""
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    marker = tmp_path / "PWNED"
    folder = tmp_path / "prostt5"
    shutil.copytree(tiny_prostt5, folder)
    (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').close()\nfrom transformers import T5EncoderModel as "
                                    "EvilModel, T5Config as EvilConfig\n")
    config = json.loads((folder / "config.json").read_text())
    config["auto_map"] = {"AutoConfig": "evil.EvilConfig", "AutoModel": "evil.EvilModel",
                          "AutoModelForSeq2SeqLM": "evil.EvilModel"}
    (folder / "config.json").write_text(json.dumps(config))
    if variant == "weights are a pickle":
        payload = _live_pickle(marker, tmp_path)
        (folder / "model.safetensors").write_bytes(payload)
        (folder / "pytorch_model.bin").write_bytes(payload)
    code, _, err = run_cli(["embed", work / "syn.gff", "-o", tmp_path / "emb", "--protein-view", "prostt5",
                            "--protein-model", folder, "--offline", "--device", "cpu"])
    assert not marker.exists()
    if variant == "weights are a pickle":
        # refused before any unpickling: a one-line error naming the folder, exit 1
        last = err.splitlines()[-1]
        assert code == 1 and "Traceback" not in err and "internal error" not in last, err
        assert last.startswith("error: cannot load ProstT5 model from folder"), err
    else:
        assert code == 0, err  # auto_map is ignored: the T5 encoder class is fixed, no remote code


def test_no_remote_code_or_unpickling_in_the_package():
    """trust_remote_code is never passed as anything but False; nothing unpickles (pickle, torch.load, numpy)."""
    unsafe = {
        r"trust_remote_code\s*=\s*(?!False\b)": "trust_remote_code other than False",
        r"\bpickle\.loads?\(|\bdill\.|\bjoblib\.load\(|\bcloudpickle\.": "unpickling",
        r"torch\.load\((?![^)]*weights_only\s*=\s*True)": "torch.load without weights_only=True",
        r"allow_pickle\s*=\s*True": "numpy allow_pickle=True",
        r"(?<![.\w])(eval|exec)\(": "eval/exec",
        r"use_safetensors\s*=\s*False": "use_safetensors=False",
    }
    found = []
    for path in sorted((ROOT / "microfuse_cli").rglob("*.py")):
        text = path.read_text()
        for pattern, what in unsafe.items():
            for match in re.finditer(pattern, text):
                line = text.count("\n", 0, match.start()) + 1
                found.append(f"{path.relative_to(ROOT)}:{line}: {what}")
    assert found == []


# ------------------------------------------------------------------------------------------------ names from colleagues


def renamed_mg(folder: Path, names: list[str]) -> Path:
    """M. genitalium's GFF3 with the locus tags of its first genes replaced by ``names`` (GFF3-escaped as written)."""
    import urllib.parse

    lines, n = [], -1
    for line in gzip.open(MG_GFF, "rt"):
        cols = line.rstrip("\n").split("\t")
        if len(cols) == 9 and cols[2] == "gene":
            n += 1
        if len(cols) == 9 and 0 <= n < len(names):
            cols[8] = re.sub(r"locus_tag=[^;]*", lambda _: "locus_tag=" + urllib.parse.quote(names[n], safe=""),
                             cols[8])
        lines.append("\t".join(cols) + "\n")
    path = folder / "renamed.gff"
    path.write_text("".join(lines))
    return path


def test_embedding_folder_of_genes_named_with_unicode_line_breaks_loads_back(tmp_path):
    # U+2028/U+2029 and NEL are legal in a GFF3 value; str.splitlines broke genes.tsv's rows on them, so a folder
    # `embed` had just written was "corrupted". Being whitespace, gene ids now carry them percent-encoded (safe_id,
    # for protein FASTA headers), and the folder's tables are split on the newlines written alone either way
    names = ["ls\u2028x", "ps\u2029x", "nel\x85x", "fs\x1cx"]
    gff = renamed_mg(tmp_path, names)
    code, _, err = run_cli(["embed", gff, "--fasta", MG_FNA, "-g", "4", "-o", tmp_path / "emb"])
    assert code == 0, err
    code, _, err = run_cli(["score", gff, "--fasta", MG_FNA, "-g", "4", "-e", tmp_path / "emb",
                            "-o", tmp_path / "s.tsv"])
    assert code == 0, err
    from microfuse_cli.embed import Embeddings

    ids = Embeddings.load(tmp_path / "emb").gene_ids
    assert len(ids) == 476 and {"ls%E2%80%A8x", "ps%E2%80%A9x", "nel%C2%85x", "fs%1Cx"} <= set(ids)


def test_model_folder_named_with_a_tab_and_newline_keeps_every_header_one_comment_line(tmp_path):
    # a folder name may hold a tab or newline; written raw after model=, it ended the '#microfuse' line early: the
    # scores TSV had a stray row before its column names (evaluate: 'missing column(s)') and the operon GFF3 a
    # line gt gff3validator refuses
    from microfuse_cli.score import DEFAULT_MODEL

    model = tmp_path / "my\tmodel\nx"
    shutil.copytree(DEFAULT_MODEL, model)
    code, _, err = run_cli(["score", MG_GFF, "--fasta", MG_FNA, "-g", "4", "-m", model, "--label-rule", "og",
                            "-o", tmp_path / "s.tsv", "--operons-gff", tmp_path / "op.gff3",
                            "--operons-tsv", tmp_path / "op.tsv"])
    assert code == 0, err
    for name, columns in (("s.tsv", 23), ("op.tsv", 9), ("op.gff3", 9)):
        rows = [line for line in (tmp_path / name).read_text().split("\n")[:-1] if not line.startswith("#")]
        assert {len(row.split("\t")) for row in rows} == {columns}, name
    code, out, err = run_cli(["evaluate", tmp_path / "s.tsv", "-o", tmp_path / "e.tsv", "--json", "-"])
    assert code == 0, err
    assert json.loads(out)[0]["model_name"] == "my\ufffdmodel\ufffdx"


@pytest.mark.parametrize("escaped", ["%09", "%0A", "%0D"])
def test_gff3_seqid_escaping_a_tab_or_newline_is_refused_in_one_line(tmp_path, escaped):
    # GFF3 percent-escapes a seqid; decoded, a tab or newline in the scaffold name split the scores and operons TSV
    # rows (exit 0) while the GFF3 outputs stayed valid. FASTA names cannot hold one, so the name is refused
    seqid = f"NC_000908.2{escaped}x"
    gff, fna = tmp_path / "mg.gff", tmp_path / "mg.fna"
    gff.write_text(gzip.open(MG_GFF, "rt").read().replace("NC_000908.2", seqid))
    fna.write_text(gzip.open(MG_FNA, "rt").read().replace(">NC_000908.2", f">{seqid}", 1))
    code, _, err = run_cli(["score", gff, "--fasta", fna, "-g", "4", "-o", tmp_path / "s.tsv",
                            "--operons-tsv", tmp_path / "op.tsv"])
    assert code == 1 and err.count("error:") == 1 and "Traceback" not in err, err
    assert f"{seqid!r}" in err and "tab, line break" in err, err
    assert not (tmp_path / "s.tsv").exists()


def test_gene_id_starting_with_a_hash_does_not_make_its_row_a_comment(tmp_path):
    # a locus tag '#MG_001' (legal) began the pairs and scores TSV row of its pair ('#MG_001|MG_002'), which every
    # reader skips as a comment: the pair was lost silently (474 of 475 read back, evaluate one labelled pair short)
    gff = renamed_mg(tmp_path, ["#MG_001", "MG_002"])
    code, _, err = run_cli(["pairs", gff, "--fasta", MG_FNA, "-g", "4", "-o", tmp_path / "p.tsv"])
    assert code == 0, err
    from microfuse_cli.pairs import read_pairs

    pairs = read_pairs(tmp_path / "p.tsv").pairs
    assert len(pairs) == 475 and pairs[0].gene_a.id == "%23MG_001"
    from microfuse_cli.io.gff import read_gff

    assert "#MG_001" in read_gff(gff, MG_FNA, genetic_code=4).genes[0].aliases  # the tag as written still finds it


# ------------------------------------------------------------------------------------------------ fuzzing

#: Bytes that matter to the parsers, spliced in by the mutator.
TOKENS = [b"\t", b"\n", b"\r\n", b";", b"=", b",", b'"', b"%", b"%zz", b"%00", b"+", b"-", b".", b"*", b"0", b"-1",
          b"99999999999999999999", b"\x00", b"\xff\xfe", "\u00e9\u00b2".encode(), b">", b"#", b"##FASTA\n",
          b"##sequence-region c1 1 10\n", b"LOCUS       ", b"ORIGIN\n", b"//\n", b"pair_id\t", b"NaN", b"inf", b"..",
          b"<", b"join(", b"complement(", b"/transl_table=", b"Parent=", b"ID=", b"locus_tag=", b"CDS", b"N", b"n"]


@st.composite
def mutated(draw, seed: bytes, max_edits: int = 6) -> bytes:
    """``seed`` with a few byte flips, token insertions, deletions and duplications."""
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, max_edits))):
        kind = draw(st.sampled_from(["flip", "token", "token", "delete", "duplicate", "truncate"]))
        pos = draw(st.integers(0, len(data)))
        if kind == "flip" and data:
            data[min(pos, len(data) - 1)] = draw(st.integers(0, 255))
        elif kind == "token":
            data[pos:pos] = draw(st.sampled_from(TOKENS))
        elif kind == "delete":
            del data[pos : pos + draw(st.integers(1, 120))]
        elif kind == "duplicate":
            data[pos:pos] = data[pos : pos + draw(st.integers(1, 400))]
        elif kind == "truncate":
            del data[pos:]
    return bytes(data)


def hostile_bytes(seed: bytes):
    return st.one_of(st.binary(max_size=600), mutated(seed))


def _small_syn() -> tuple[tuple, str]:
    syn = synthetic()
    return syn.genes[:4], syn.seq[:1700]


SEEDS = {
    "gff": gff_text(*_small_syn()).encode(),
    "gff_nofasta": gff_text(_small_syn()[0], fasta=False).encode(),
    "genbank": None,  # built lazily (Biopython)
    "fasta": (fasta_text(synthetic().seq[:400], "c1 topology=circular") + fasta_text("ACGTN" * 30, "c2")).encode(),
    "pairs": None,
    "pair_list": b"name_1,name_2,label\nSYN_000,SYN_001,1\nSYN_001,SYN_002,0\n# note\nSYN_002\tSYN_003\n",
    "operons_odb": b"org\top\tx\nE\tSYN_000,SYN_001\t1\nE\tSYN_002,SYN_003\t2\n",
    "operons_plain": b"op1\tSYN_000,SYN_001\nop2\tSYN_002,SYN_003\n",
    "operons_tuset": b"ECK1\tTU\tx\tSYN_000,SYN_001\ty\nECK2\tTU\tx\tSYN_002\ty\n",
    "operons_microfuse_tsv": b"#microfuse 0.1.0 model=default\noperon_id\tscaffold\tstart\tend\tstrand\tn_genes\tgenes\t"
                             b"mean_probability\tmin_probability\noperon_1\ts\t1\t900\t+\t2\tSYN_000,SYN_001\t0.9\t0.9\n",
    "operons_microfuse_gff": b"##gff-version 3\n##sequence-region s 1 1700\ns\tmicrofuse\toperon\t1\t900\t0.9\t+\t.\t"
                             b"ID=operon_1;genes=SYN_000,SYN%2C001;Ontology_term=SO:0000178\n",
}


def seed(name: str) -> bytes:
    if SEEDS[name] is None:
        SEEDS[name] = (genbank_text(n_genes=4, length=1700) if name == "genbank" else pairs_tsv_text()).encode()
    return SEEDS[name]


def _scratch(data: bytes, name: str = "input") -> Path:
    import tempfile

    folder = Path(tempfile.mkdtemp(prefix="mf-fuzz-"))
    (folder / name).write_bytes(data)
    return folder / name


def _check_genome(genome):
    ids = [g.id for g in genome.genes]
    assert len(ids) == len(set(ids))
    for gene in genome.genes:
        scaffold = genome.scaffolds[gene.scaffold]
        assert 1 <= gene.start <= gene.end and gene.strand in (1, -1)
        assert gene.end <= scaffold.length or scaffold.sequence is None
    for scaffold in genome.scaffolds.values():
        assert scaffold.sequence is None or (set(scaffold.sequence) <= set("ACGTUNRYKMSWBDHV")
                                             and len(scaffold.sequence) == scaffold.length)


def _parses_or_refuses(read, data: bytes, check=None):
    """``read(path)`` returns a correct parse or raises the DataError/UsageError the CLI turns into `error:`."""
    from microfuse_cli.errors import MicrofuseError

    path = _scratch(data)
    try:
        result = read(path)
    except MicrofuseError as exc:
        assert str(exc).strip(), "an error needs a message"
        return None
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)
    if check is not None:
        check(result)
    return result


@FUZZ
@given(data=st.one_of(hostile_bytes(seed("gff")), mutated(seed("gff_nofasta"))))
def test_fuzz_gff(data):
    from microfuse_cli.io.gff import read_gff

    _parses_or_refuses(read_gff, data, _check_genome)


@FUZZ
@given(data=st.data())
def test_fuzz_genbank(data):
    from microfuse_cli.io.genbank import read_genbank

    _parses_or_refuses(read_genbank, data.draw(hostile_bytes(seed("genbank"))), _check_genome)


@FUZZ
@given(data=hostile_bytes(seed("fasta")))
def test_fuzz_fasta(data):
    from microfuse_cli.io.fasta import read_fasta_scaffolds

    def check(scaffolds):
        assert scaffolds and all(set(s.sequence) <= set("ACGTUNRYKMSWBDHV") for s in scaffolds.values())

    _parses_or_refuses(read_fasta_scaffolds, data, check)


@FUZZ
@given(data=st.data())
def test_fuzz_read_genome_sniffing(data):
    """The entry point every command uses: format sniffing, then the reader (a bare FASTA: gene calling)."""
    from microfuse_cli.genome import read_genome

    source = data.draw(st.sampled_from(["gff", "genbank", "fasta", "pairs"]))
    _parses_or_refuses(read_genome, data.draw(hostile_bytes(seed(source))), _check_genome)


@FUZZ
@given(data=st.data())
def test_fuzz_pairs_tsv(data):
    from microfuse_cli.pairs import read_pairs

    def check(table):
        ids = [p.pair_id for p in table.pairs]
        assert len(ids) == len(set(ids)) and table.pairs
        for p in table.pairs:
            assert p.label in (None, 0, 1)
            for g in (p.gene_a, p.gene_b):
                assert 1 <= g.start <= g.end and g.strand in (1, -1)

    _parses_or_refuses(read_pairs, data.draw(hostile_bytes(seed("pairs"))), check)


@FUZZ
@given(data=st.one_of(hostile_bytes(seed("pair_list")),
                      st.text(alphabet=',\t"\n #abc01', max_size=300).map(str.encode)))
def test_fuzz_pair_list(data):
    from microfuse_cli.io.tables import read_pair_list

    def check(rows):
        assert rows and all(isinstance(a, str) and isinstance(b, str) and label in (None, 0, 1)
                            for a, b, label in rows)

    _parses_or_refuses(read_pair_list, data, check)


@FUZZ
@given(data=st.data())
def test_fuzz_operon_table(data):
    from microfuse_cli.io.tables import read_operon_table

    def check(units):
        assert units and all(isinstance(u, list) and all(isinstance(g, str) and g for g in u) for u in units)

    source = data.draw(st.sampled_from(["operons_odb", "operons_plain", "operons_tuset", "operons_microfuse_tsv",
                                        "operons_microfuse_gff"]))
    _parses_or_refuses(read_operon_table, data.draw(hostile_bytes(seed(source))), check)


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=12),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
                    max_leaves=8)
MANIFEST_KEYS = ["format", "files", "files_sha256", "views", "dims", "genes_sha256", "n_genes", "dtype", "x"]


@FUZZ
@given(data=st.data())
def test_fuzz_embedding_folder(data, work):
    """Any manifest (random JSON values, mutated bytes) or damaged file: Embeddings.load gives consistent
    embeddings or a DataError, and pair_views on them gives finite matrices or a DataError."""
    from microfuse_cli.embed import Embeddings
    from microfuse_cli.io.files import sha256_file as _sha256
    from microfuse_cli.errors import DataError
    from microfuse_cli.pairs import read_pairs

    folder = _scratch(b"").parent / "emb"
    shutil.copytree(work / "syn_emb", folder)
    try:
        target = data.draw(st.sampled_from(["manifest.json", "manifest.json", "protein.npy", "context.npy",
                                            "pair_context.npy", "genes.tsv", "pairs.tsv"]))
        manifest = json.loads((folder / "manifest.json").read_text())
        if target == "manifest.json" and data.draw(st.booleans()):
            for _ in range(data.draw(st.integers(1, 3))):
                manifest[data.draw(st.sampled_from(MANIFEST_KEYS))] = data.draw(JSON)
            (folder / "manifest.json").write_text(json.dumps(manifest))
        else:
            (folder / target).write_bytes(data.draw(mutated((folder / target).read_bytes())))
            if target != "manifest.json" and data.draw(st.booleans()):  # consistent hashes: reach the readers
                manifest["files_sha256"][target] = _sha256(folder / target)
                (folder / "manifest.json").write_text(json.dumps(manifest))
        try:
            emb = Embeddings.load(folder, mmap=data.draw(st.booleans()))
        except DataError:
            return
        assert emb.protein.ndim == 2 and emb.protein.shape[0] == len(emb.gene_ids)
        try:
            x_protein, x_context = emb.pair_views(read_pairs(work / "syn_pairs.tsv").pairs)
        except DataError:
            return
        assert np.isfinite(x_protein).all() and np.isfinite(x_context).all()
    finally:
        shutil.rmtree(folder.parent, ignore_errors=True)


@settings(FUZZ, max_examples=_HUNT or 30)
@given(data=st.data())
def test_fuzz_cli_never_tracebacks(data, work):
    """Whole commands on hostile genomes: exit 0, or exit 1/2 with exactly one `error:` line and no traceback."""
    source = data.draw(st.sampled_from(["gff", "genbank", "fasta", "pairs"]))
    path = _scratch(data.draw(hostile_bytes(seed(source))))
    try:
        command = data.draw(st.sampled_from(["pairs", "embed"]))
        args = [command, path, "-o", path.parent / ("out.tsv" if command == "pairs" else "emb")]
        code, _, err = run_cli(args)
        assert "Traceback" not in err and "internal error" not in err, err
        if code:
            assert code in (1, 2) and len([line for line in err.splitlines() if line.startswith("error:")]) == 1, err
    finally:
        shutil.rmtree(path.parent, ignore_errors=True)


def test_evaluate_labels_naming_a_gene_with_a_space_as_written_find_its_scored_pair(tmp_path):
    # a gene id with a space is written percent-encoded (MG%20001) in the scores TSV; evaluate has no genome to
    # resolve a label list's names through, so 'MG 001,MG_002,1' (the name as the annotation writes it, as `score
    # --labels` takes it) matched no scored pair: the pair was left out with a warning
    gff = renamed_mg(tmp_path, ["MG 001", "MG_002", "MG_003"])
    code, _, err = run_cli(["score", gff, "--fasta", MG_FNA, "-g", "4", "-o", tmp_path / "s.tsv", "-q"])
    assert code == 0, err
    (tmp_path / "labels.csv").write_text("MG 001,MG_002,1\nMG_002,MG_003,0\n")
    code, out, err = run_cli(["evaluate", tmp_path / "s.tsv", "--labels", tmp_path / "labels.csv", "--bootstrap", "0",
                              "-o", "-", "-q"])
    assert code == 0, err
    header, row = out.splitlines()[:2]
    assert dict(zip(header.split("\t"), row.split("\t")))["n"] == "2" and "not in" not in err
