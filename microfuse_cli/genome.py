"""Genomes and their protein-coding genes: the data model and the readers for GFF3, GenBank and FASTA.

Coordinates are 1-based and inclusive throughout, as in GFF3. A bare FASTA assembly has no genes yet:
``genes.call_genes`` adds them with pyrodigal.
"""

from __future__ import annotations

import io
import re
import urllib.parse
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from .errors import DataError, UsageError
from .io import PathLike, read_text

_NUCLEOTIDES = set("ACGTUNRYKMSWBDHV")  # IUPAC; lower case (soft-masked) is upper-cased first
_NUCLEOTIDE_BYTES = "".join(sorted(_NUCLEOTIDES)).encode()
_STOP_TRIM = re.compile(r"\*+$")


@dataclass(frozen=True)
class Scaffold:
    """One sequence record (chromosome, plasmid or contig). ``sequence`` is upper-case DNA or ``None``."""

    id: str
    length: int
    sequence: str | None = None
    circular: bool = False


@dataclass(frozen=True)
class Gene:
    """A protein-coding gene. ``start <= end`` (1-based, inclusive); ``strand`` is +1 or -1."""

    id: str
    scaffold: str
    start: int
    end: int
    strand: int
    protein: str = ""
    aliases: tuple[str, ...] = ()
    genetic_code: int = 11
    partial: bool = False

    @property
    def length(self) -> int:
        return self.end - self.start + 1


@dataclass
class Genome:
    """Scaffolds in file order and their genes sorted by (scaffold order, start)."""

    name: str
    scaffolds: dict[str, Scaffold]
    genes: list[Gene] = field(default_factory=list)
    gene_source: str = "annotation"

    def genes_by_scaffold(self) -> dict[str, list[Gene]]:
        grouped: dict[str, list[Gene]] = {sid: [] for sid in self.scaffolds}
        for gene in self.genes:
            grouped[gene.scaffold].append(gene)
        return grouped

    def sort_genes(self) -> None:
        order = {sid: i for i, sid in enumerate(self.scaffolds)}
        self.genes.sort(key=lambda g: (order[g.scaffold], g.start, g.end, g.id))

    @property
    def has_sequence(self) -> bool:
        return all(s.sequence is not None for s in self.scaffolds.values())


# ------------------------------------------------------------------------------------------------ format


def sniff_format(text: str, path: PathLike) -> str:
    """Tell GFF3, GenBank, FASTA and pairs TSV apart from the first meaningful line."""
    for line in text.split("\n", 50)[:50]:
        if not line.strip():
            continue
        if line.startswith("##gff-version") or line.startswith("##sequence-region"):
            return "gff"
        if line.startswith("LOCUS ") or line.startswith("LOCUS\t"):
            return "genbank"
        if line.startswith(">"):
            return "fasta"
        if line.startswith("pair_id\t"):
            return "pairs"
        if line.startswith("#"):
            continue
        if line.count("\t") == 8:
            return "gff"
        break
    raise DataError(f"{path}: not a GFF3, GenBank or FASTA file (first line: {_preview(text)})")


def _preview(text: str) -> str:
    first = text.strip().split("\n", 1)[0] if text.strip() else "<empty>"
    return repr(first[:40])


# ------------------------------------------------------------------------------------------------ FASTA


def parse_fasta(text: str, path: PathLike) -> list[tuple[str, str, str]]:
    """Parse nucleotide FASTA into (id, description, SEQUENCE) tuples; refuses empty or protein records."""
    from Bio.SeqIO.FastaIO import SimpleFastaParser

    if not text.strip():
        raise DataError(f"{path}: empty file")
    if not text.lstrip().startswith(">"):
        raise DataError(f"{path}: not a FASTA file (first line: {_preview(text)})")
    records = []
    seen = set()
    trailing = _trailing_header(text)
    for title, seq in SimpleFastaParser(io.StringIO(text)):
        ident = title.split(None, 1)[0] if title.strip() else ""
        if not ident:
            raise DataError(f"{path}: a FASTA record has an empty header")
        if ident in seen:
            raise DataError(f"{path}: duplicate sequence id {ident!r}")
        seen.add(ident)
        seq = seq.replace(" ", "").upper()
        if not seq:  # one empty record (a filtered contig) should not reject the whole assembly
            hint = " (the file ends on it: truncated?)" if title == trailing else ""
            warnings.warn(f"{path}: record {ident!r} has no sequence{hint}; skipped")
            continue
        # bytes.translate deletes the allowed letters in C: a set() of a 5 Mbp string took longer than pyrodigal's
        # own parsing
        if seq.isascii():
            bad = set(seq.encode().translate(None, _NUCLEOTIDE_BYTES).decode())
        else:
            bad = set(seq) - _NUCLEOTIDES
        if bad:
            kind = "protein" if len(bad & set("EFILPQ")) >= 2 else "non-nucleotide"
            raise DataError(f"{path}: record {ident!r} holds {kind} characters ({''.join(sorted(bad))[:10]}): expected DNA")
        records.append((ident, title, seq))
    if not records:
        raise DataError(f"{path}: no FASTA records{' with a sequence' if seen else ''}")
    return records


def _trailing_header(text: str) -> str | None:
    """The title of a header on the last line (a file cut short after it?), else None."""
    last = text.rstrip().rsplit("\n", 1)[-1]
    return last[1:].strip() if last.startswith(">") else None


def _fasta_circular(description: str) -> bool:
    lowered = description.lower()
    return "topology=circular" in lowered or "circular=true" in lowered or "[circular]" in lowered


def read_fasta_scaffolds(path: PathLike, text: str | None = None) -> dict[str, Scaffold]:
    text = read_text(path) if text is None else text
    return {
        ident: Scaffold(ident, len(seq), seq, _fasta_circular(desc)) for ident, desc, seq in parse_fasta(text, path)
    }


# ------------------------------------------------------------------------------------------------ GFF3


def _parse_attributes(column: str, path, number) -> dict[str, str]:
    attributes = {}
    for item in column.strip().strip(";").split(";"):
        if not item.strip():
            continue
        if "=" not in item:
            raise DataError(f"{path}: line {number}: malformed attribute {item.strip()[:40]!r}")
        key, value = item.split("=", 1)
        attributes[key.strip()] = urllib.parse.unquote(value)
    return attributes


@dataclass
class _CdsParts:
    seqid: str
    strand: int
    segments: list[tuple[int, int]]
    attributes: dict[str, str]
    line: int


def read_gff(path: PathLike, fasta: PathLike | None = None, text: str | None = None) -> Genome:
    """Read a GFF3 (RefSeq, Prokka/Bakta with ``##FASTA``, Prodigal) into a Genome of its CDS genes."""
    text = read_text(path) if text is None else text
    body, _, fasta_part = text.partition("\n##FASTA\n")
    regions: dict[str, int] = {}
    circular: set[str] = set()
    genes_meta: dict[str, dict[str, str]] = {}
    cds: dict[str, _CdsParts] = {}
    order: list[str] = []
    n_features = 0
    for number, line in enumerate(body.split("\n"), start=1):
        if not line or line.startswith("#"):
            if line.startswith("##sequence-region"):
                parts = line.split()
                if len(parts) == 4 and parts[3].isdigit():
                    regions[parts[1]] = int(parts[3])
            continue
        cols = line.split("\t")
        if len(cols) != 9:
            raise DataError(f"{path}: line {number}: expected 9 tab-separated GFF3 columns, found {len(cols)}")
        seqid, _, ftype, start, end, _, strand, _, attrs = cols
        try:
            start_i, end_i = int(start), int(end)
        except ValueError:
            raise DataError(f"{path}: line {number}: start/end are not integers ({start!r}, {end!r})") from None
        if start_i < 1 or end_i < start_i:
            raise DataError(f"{path}: line {number}: invalid coordinates {start}..{end}")
        n_features += 1
        attributes = _parse_attributes(attrs, path, number)
        if ftype == "region" and attributes.get("Is_circular", "").lower() == "true":
            circular.add(seqid)
        if ftype in ("region", "source") and start_i == 1:
            regions.setdefault(seqid, end_i)
        if ftype == "gene" and "ID" in attributes:
            genes_meta[attributes["ID"]] = attributes
        if ftype != "CDS":
            continue
        if attributes.get("pseudo", "").lower() == "true" or "pseudogene" in attributes:
            continue
        if strand not in ("+", "-"):
            raise DataError(f"{path}: line {number}: CDS without strand ({strand!r})")
        key = attributes.get("ID") or f"{seqid}:{start}-{end}:{strand}"
        if key in cds:
            part = cds[key]
            if part.seqid != seqid:
                raise DataError(f"{path}: line {number}: CDS ID {key!r} is used on two sequences ({part.seqid} and "
                                f"{seqid}); CDS IDs must be unique")
            part.segments.append((start_i, end_i))
        else:
            cds[key] = _CdsParts(seqid, 1 if strand == "+" else -1, [(start_i, end_i)], attributes, number)
            order.append(key)
    if not cds:
        if n_features == 0:
            raise DataError(f"{path}: no GFF3 features found")
        raise DataError(f"{path}: no protein-coding (CDS) features found")

    if fasta_part.strip():
        scaffolds = read_fasta_scaffolds(f"{path} (##FASTA)", fasta_part)
    elif fasta is not None:
        scaffolds = read_fasta_scaffolds(fasta)
    else:
        extent: dict[str, int] = {}  # one pass: a max per sequence id over all CDS was quadratic
        for k in order:
            extent[cds[k].seqid] = max(extent.get(cds[k].seqid, 0), max(e for _, e in cds[k].segments))
        scaffolds = {sid: Scaffold(sid, regions.get(sid) or end, None, sid in circular) for sid, end in extent.items()}
    scaffolds = {
        sid: Scaffold(s.id, s.length, s.sequence, s.circular or sid in circular) for sid, s in scaffolds.items()
    }
    missing = sorted({cds[k].seqid for k in order} - set(scaffolds))
    if missing:
        raise DataError(
            f"{path}: sequence id(s) {', '.join(missing[:3])}{' ...' if len(missing) > 3 else ''} "
            "not found in the FASTA sequences"
        )
    genes: dict[str, tuple[Gene, str]] = {}
    skipped = []
    for key in order:
        part = cds[key]
        scaffold = scaffolds[part.seqid]
        parent_id = part.attributes.get("Parent", "")
        if _covers_whole_scaffold(part, scaffold):
            skipped.append(part.attributes.get("locus_tag") or key)
            continue
        gene = _gene_from_cds(part, genes_meta.get(parent_id, {}), scaffold, path)
        if gene.id in genes:
            previous, previous_parent = genes[gene.id]
            if not parent_id or parent_id != previous_parent:
                raise DataError(f"{path}: line {part.line}: duplicate gene id {gene.id!r}")
            if gene.length <= previous.length:  # an isoform (alternative start) of one gene: keep the longest
                continue
        genes[gene.id] = (gene, parent_id)
    if skipped:
        warnings.warn(f"{path}: skipped {len(skipped)} CDS spanning a whole sequence (an origin-crossing gene whose "
                      f"join was lost, e.g. {skipped[0]})", stacklevel=2)
    genome = Genome(Path(str(path)).name, scaffolds, [g for g, _ in genes.values()], "annotation")
    genome.sort_genes()
    return genome


#: A single-segment CDS from 1 to the end of a sequence at least this long is an origin-crossing gene whose
#: join() was flattened by a format conversion: its true extent is unknown, so it is left out.
WHOLE_SCAFFOLD_MIN = 30_000


def _covers_whole_scaffold(part: "_CdsParts", scaffold: Scaffold) -> bool:
    return (len(part.segments) == 1 and part.segments[0] == (1, scaffold.length)
            and scaffold.length >= WHOLE_SCAFFOLD_MIN)


def _origin_order(segments: list[tuple[int, int]], scaffold: Scaffold) -> list[tuple[int, int]]:
    """Segments of a CDS joined across the origin of a circular sequence, in genome order (end part first)."""
    if scaffold.circular and len(segments) > 1 and segments[0][0] == 1 and segments[-1][1] == scaffold.length:
        split = next(i for i in range(1, len(segments)) if segments[i][0] > segments[i - 1][1] + scaffold.length // 2) \
            if any(segments[i][0] > segments[i - 1][1] + scaffold.length // 2 for i in range(1, len(segments))) else 0
        if split:
            return segments[split:] + segments[:split]
    return segments


def _gene_from_cds(part: _CdsParts, parent: dict[str, str], scaffold: Scaffold, path) -> Gene:
    attrs = part.attributes
    segments = _origin_order(sorted(part.segments), scaffold)
    start, end = segments[0][0], max(e for _, e in segments)
    if segments[0][0] > segments[-1][1]:  # across the origin: placed where it starts, up to the sequence end
        end = scaffold.length
    if end > scaffold.length:
        raise DataError(f"{path}: line {part.line}: CDS ends at {end}, past the end of {scaffold.id} ({scaffold.length} bp)")
    locus = attrs.get("locus_tag") or parent.get("locus_tag")
    ident = locus or parent.get("ID") or attrs.get("ID") or f"{part.seqid}_{start}_{end}"
    aliases = []
    for source in (attrs, parent):
        for key in ("locus_tag", "old_locus_tag", "Name", "gene", "ID"):
            if source.get(key):
                aliases.extend(source[key].split(","))
        if source.get("gene_synonym"):
            aliases.extend(source["gene_synonym"].split(","))
    if parent.get("ID", "").startswith("gene-"):
        aliases.append(parent["ID"][5:])
    code = int(attrs.get("transl_table", "11")) if attrs.get("transl_table", "11").isdecimal() else 11
    partial = attrs.get("partial", "").lower() == "true" or "partial" in attrs.get("Note", "")
    protein = ""
    if scaffold.sequence is not None:
        pieces = [scaffold.sequence[s - 1 : e] for s, e in segments]
        nucleotides = "".join(pieces)
        phase = 0
        protein = translate(nucleotides, part.strand, code, phase)
    return Gene(ident, part.seqid, start, end, part.strand, protein, tuple(dict.fromkeys(a for a in aliases if a)), code, partial)


def translate(nucleotides: str, strand: int, code: int = 11, phase: int = 0) -> str:
    """Translate a CDS (given on the + strand) into protein; trailing stops removed, internal stops -> X."""
    from Bio.Seq import Seq

    seq = Seq(nucleotides)
    if strand < 0:
        seq = seq.reverse_complement()
    seq = seq[phase:]
    seq = seq[: len(seq) // 3 * 3]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            protein = str(seq.translate(table=code))
        except KeyError:
            raise DataError(f"unknown genetic code (transl_table) {code}") from None
    protein = _STOP_TRIM.sub("", protein).replace("*", "X")
    if protein and protein[0] in "LV" and strand != 0:
        protein = "M" + protein[1:]  # alternative start codons (TTG/GTG/CTG) are read as Met
    return protein


# ------------------------------------------------------------------------------------------------ GenBank


def read_genbank(path: PathLike, text: str | None = None) -> Genome:
    """Read GenBank/GBFF records; CDS features with their /translation (or translated from the sequence)."""
    from Bio import SeqIO
    from Bio.SeqFeature import CompoundLocation

    text = read_text(path) if text is None else text
    scaffolds: dict[str, Scaffold] = {}
    genes: list[Gene] = []
    seen_ids: set[str] = set()
    try:
        records = list(SeqIO.parse(io.StringIO(text), "genbank"))
    except Exception as exc:  # Biopython raises ValueError and friends for malformed records
        reason = (str(exc).strip().splitlines() or [type(exc).__name__])[0][:80]  # some carry no message
        raise DataError(f"{path}: malformed GenBank file ({reason})") from None
    if not records:
        raise DataError(f"{path}: no GenBank records")
    for record in records:
        try:
            sequence = str(record.seq).upper()
        except Exception:  # undefined sequence (CONTIG-only records)
            sequence = None
        if record.id in scaffolds:
            raise DataError(f"{path}: duplicate sequence id {record.id!r}")
        bad = set(sequence or "") - _NUCLEOTIDES
        if bad:
            raise DataError(f"{path}: record {record.id!r} holds non-nucleotide characters ({''.join(sorted(bad))[:10]})")
        topology = record.annotations.get("topology", "linear")
        scaffold = Scaffold(record.id, len(record.seq), sequence or None, topology == "circular")
        scaffolds[record.id] = scaffold
        for feature in record.features:
            if feature.type != "CDS" or "pseudo" in feature.qualifiers or "pseudogene" in feature.qualifiers:
                continue
            q = feature.qualifiers
            loc = feature.location
            if loc is None:
                raise DataError(f"{path}: record {record.id!r}: a CDS with an unreadable location")
            start, end = int(loc.start) + 1, int(loc.end)
            if end > scaffold.length and sequence:
                raise DataError(f"{path}: CDS ends at {end}, past the end of {record.id} ({scaffold.length} bp)")
            strand = -1 if loc.strand == -1 else 1
            table = q.get("transl_table", ["11"])[0]
            if not table.isdecimal():
                raise DataError(f"{path}: record {record.id!r}: transl_table {table[:20]!r} is not a number")
            code = int(table)
            ident = (q.get("locus_tag") or q.get("protein_id") or [f"{record.id}_{start}_{end}"])[0]
            if ident in seen_ids:
                raise DataError(f"{path}: duplicate gene id {ident!r}")
            seen_ids.add(ident)
            if "translation" in q:
                protein = q["translation"][0].replace("*", "X")
            elif sequence:
                protein = translate(str(feature.extract(record.seq)), 1, code)
            else:
                protein = ""
            if isinstance(loc, CompoundLocation) and end - start + 1 > scaffold.length / 2 and scaffold.circular:
                # a CDS across the origin of a circular sequence: keep it where it starts
                start, end = int(loc.parts[0].start) + 1, int(loc.parts[0].end)
            aliases = [v for key in ("locus_tag", "old_locus_tag", "gene", "protein_id") for v in q.get(key, [])]
            aliases += [s for v in q.get("gene_synonym", []) for s in re.split(r"[;,]\s*", v)]
            genes.append(Gene(ident, record.id, start, end, strand, protein, tuple(dict.fromkeys(aliases)), code))
    if not genes:
        raise DataError(f"{path}: no protein-coding (CDS) features found")
    genome = Genome(Path(str(path)).name, scaffolds, genes, "annotation")
    genome.sort_genes()
    return genome


# ------------------------------------------------------------------------------------------------ entry point


def read_genome(
    path: PathLike,
    fasta: PathLike | None = None,
    *,
    mode: str = "auto",
    genetic_code: int = 11,
    threads: int = 1,
    circular: bool | None = None,
    progress=None,
    on_gene_calling=None,
    text: str | None = None,
) -> Genome:
    """Read any supported input into a Genome with genes; a bare FASTA gets genes called by pyrodigal.

    ``mode`` (auto/single/meta), ``genetic_code`` and ``on_gene_calling`` (see ``genes.call_genes(on_start=)``)
    only apply to gene calling. ``text``: the file's contents when the caller has read them already.
    """
    text = read_text(path) if text is None else text
    if not text.strip():
        raise DataError(f"{path}: empty file")
    kind = sniff_format(text, path)
    if kind == "gff":
        genome = read_gff(path, fasta, text=text)
    elif kind == "genbank":
        if fasta is not None:
            raise UsageError("--fasta is only used with a GFF3 input")
        genome = read_genbank(path, text=text)
    elif kind == "fasta":
        if fasta is not None:
            raise UsageError("--fasta is only used with a GFF3 input; a FASTA input is a bare assembly")
        from .genes import call_genes

        scaffolds = read_fasta_scaffolds(path, text)
        genome = Genome(Path(str(path)).name, scaffolds, [], "pyrodigal")
        genome.genes = call_genes(scaffolds, mode=mode, genetic_code=genetic_code, threads=threads, progress=progress,
                                  on_start=on_gene_calling)
        genome.sort_genes()
    else:
        raise UsageError(f"{path} is a pairs table; this command needs a genome (GFF3, GenBank or FASTA)")
    if circular is not None:
        genome.scaffolds = {sid: Scaffold(s.id, s.length, s.sequence, circular) for sid, s in genome.scaffolds.items()}
    return genome
