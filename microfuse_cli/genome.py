"""Reading genomes and their protein-coding genes from GFF3, GenBank and FASTA (the records: records.py).

Coordinates are 1-based and inclusive throughout, as in GFF3. A bare FASTA assembly has no genes yet:
``genes.call_genes`` adds them with pyrodigal.
"""

from __future__ import annotations

import io
import logging
import re
import urllib.parse
import warnings
from dataclasses import dataclass
from pathlib import Path

from .errors import DataError, UsageError
from .io.files import PathLike, read_text
from .records import Gene, Genome, Scaffold, safe_id  # noqa: F401  (also imported from here)

_NUCLEOTIDES = set("ACGTNRYKMSWBDHV")  # IUPAC DNA; lower case (soft-masked) is upper-cased first
_NUCLEOTIDE_BYTES = "".join(sorted(_NUCLEOTIDES)).encode()
_STOP_TRIM = re.compile(r"\*+$")
log = logging.getLogger("microfuse")


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
            raise DataError(f"{path}: record {ident!r} {_not_dna(bad)}")
        records.append((ident, title, seq))
    if not records:
        raise DataError(f"{path}: no FASTA records{' with a sequence' if seen else ''}")
    return records


def _trailing_header(text: str) -> str | None:
    """The title of a header on the last line (a file cut short after it?), else None."""
    last = text.rstrip().rsplit("\n", 1)[-1]
    return last[1:].strip() if last.startswith(">") else None


def _not_dna(bad: set[str]) -> str:
    """Why a sequence is not DNA, from the characters that are not IUPAC DNA."""
    letters = "".join(sorted(bad))[:10]
    if len(bad & set("EFILPQ")) >= 2:
        return f"holds protein characters ({letters}): expected DNA"
    if "U" in bad and len(bad) == 1:
        return "is RNA (holds U): give the DNA sequence (U -> T, e.g. `tr U T`)"
    return f"holds non-nucleotide characters ({letters}): expected DNA"


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
    segments: list[tuple[int, int, int]]  # (start, end, phase) as written
    attributes: dict[str, str]
    line: int


def read_gff(path: PathLike, fasta: PathLike | None = None, text: str | None = None,
             genetic_code: int | None = None) -> Genome:
    """Read a GFF3 (RefSeq, Prokka/Bakta with ``##FASTA``, Prodigal) into a Genome of its CDS genes.

    ``genetic_code`` translates CDS without a ``transl_table`` attribute (default 11).
    """
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
        seqid, _, ftype, start, end, _, strand, phase, attrs = cols
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
        segment = (start_i, end_i, int(phase) if phase in ("0", "1", "2") else 0)
        key = attributes.get("ID") or f"{seqid}:{start}-{end}:{strand}"
        if key in cds:
            part = cds[key]
            if part.seqid != seqid:
                raise DataError(f"{path}: line {number}: CDS ID {key!r} is used on two sequences ({part.seqid} and "
                                f"{seqid}); CDS IDs must be unique")
            part.segments.append(segment)
        else:
            cds[key] = _CdsParts(seqid, 1 if strand == "+" else -1, [segment], attributes, number)
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
            extent[cds[k].seqid] = max(extent.get(cds[k].seqid, 0), max(e for _, e, _ in cds[k].segments))
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
    per_scaffold: dict[str, int] = {}
    for key in order:
        per_scaffold[cds[key].seqid] = per_scaffold.get(cds[key].seqid, 0) + 1
    genes: dict[str, tuple[Gene, str]] = {}
    skipped = []
    for key in order:
        part = cds[key]
        scaffold = scaffolds[part.seqid]
        parent_id = part.attributes.get("Parent", "")
        if _covers_whole_scaffold([s[:2] for s in part.segments], scaffold, per_scaffold[part.seqid]):
            skipped.append(part.attributes.get("locus_tag") or key)
            continue
        gene = _gene_from_cds(part, genes_meta.get(parent_id, {}), scaffold, path, genetic_code)
        if gene.id in genes:
            previous, previous_parent = genes[gene.id]
            if not parent_id or parent_id != previous_parent:
                raise DataError(f"{path}: line {part.line}: duplicate gene id {gene.id!r}")
            if gene.length <= previous.length:  # an isoform (alternative start) of one gene: keep the longest
                continue
        genes[gene.id] = (gene, parent_id)
    _warn_skipped(path, skipped)
    genome = Genome(Path(str(path)).name, scaffolds, [g for g, _ in genes.values()], "annotation")
    genome.sort_genes()
    return genome


#: A single-segment CDS from 1 to the end of a sequence at least this long is an origin-crossing gene whose
#: join() was flattened by a format conversion: its true extent is unknown, so it is left out.
WHOLE_SCAFFOLD_MIN = 30_000


def _covers_whole_scaffold(segments: list[tuple[int, int]], scaffold: Scaffold, n_cds: int) -> bool:
    """A flattened join: one segment 1..length on a long sequence, or on one that holds other CDS too.

    (A gene partial at both ends of a short contig, alone on it, is real and kept.)
    """
    return (len(segments) == 1 and tuple(segments[0]) == (1, scaffold.length)
            and (scaffold.length >= WHOLE_SCAFFOLD_MIN or n_cds > 1))


def _warn_skipped(path, skipped: list[str]) -> None:
    if skipped:
        log.warning("%s: skipped %d CDS spanning a whole sequence (an origin-crossing gene whose join was lost, "
                    "e.g. %s)", path, len(skipped), skipped[0])


def _unwrap(segments: list[tuple[int, int, int]], scaffold: Scaffold) -> list[tuple[int, int, int]]:
    """Segments in genome order; those of a join across the origin of a circular sequence (``a..length`` +
    ``1..b``) continue past its end (``length + 1 .. length + b``), as GFF3 writes such a gene."""
    segments = sorted(segments)
    length = scaffold.length
    if scaffold.circular and len(segments) > 1 and segments[0][0] == 1 and segments[-1][1] == length:
        gaps = [i for i in range(1, len(segments)) if segments[i][0] > segments[i - 1][1] + length // 2]
        if gaps:
            k = gaps[0]
            return segments[k:] + [(s + length, e + length, phase) for s, e, phase in segments[:k]]
    return segments


def _check_extent(start: int, end: int, scaffold: Scaffold, where: str) -> None:
    """A gene may run past the end of a sequence only across the origin of a circular one."""
    if end <= scaffold.length:
        return
    if not scaffold.circular:
        raise DataError(f"{where}: CDS ends at {end}, past the end of {scaffold.id} ({scaffold.length} bp; only a "
                        "circular sequence (region with Is_circular=true) has genes across its origin)")
    if end - start + 1 > scaffold.length:
        raise DataError(f"{where}: CDS {start}..{end} is longer than the circular {scaffold.id} ({scaffold.length} bp)")


def circular_slice(sequence: str, start: int, end: int) -> str:
    """Bases ``start..end`` (1-based, inclusive) of a circular sequence; ``end`` may pass its length."""
    length = len(sequence)
    if end <= length:
        return sequence[start - 1 : end]
    if start > length:
        return sequence[start - length - 1 : end - length]
    return sequence[start - 1 :] + sequence[: end - length]


def _code_of(value: str | None, default: int | None) -> int:
    """A CDS's transl_table, else the user's -g, else 11 (a non-numeric table reads as missing)."""
    if value is not None and value.isdecimal():
        return int(value)
    return default or 11


def _gene_from_cds(part: _CdsParts, parent: dict[str, str], scaffold: Scaffold, path, default_code) -> Gene:
    attrs = part.attributes
    segments = _unwrap(part.segments, scaffold)
    start, end = segments[0][0], max(e for _, e, _ in segments)
    _check_extent(start, end, scaffold, f"{path}: line {part.line}")
    locus = attrs.get("locus_tag") or parent.get("locus_tag")
    raw_id = locus or parent.get("ID") or attrs.get("ID") or f"{part.seqid}_{start}_{end}"
    ident = safe_id(raw_id)
    aliases = [ident]
    for source in (attrs, parent):
        for key in ("locus_tag", "old_locus_tag", "Name", "gene", "ID"):
            if source.get(key):
                aliases.extend(source[key].split(","))
        if source.get("gene_synonym"):
            aliases.extend(source["gene_synonym"].split(","))
    if parent.get("ID", "").startswith("gene-"):
        aliases.append(parent["ID"][5:])
    code = _code_of(attrs.get("transl_table"), default_code)
    phase = segments[0][2] if part.strand > 0 else segments[-1][2]  # the phase of the 5'-most segment
    partial = (attrs.get("partial", "").lower() == "true" or "partial" in attrs.get("Note", "")
               or "start_range" in attrs or "end_range" in attrs or phase > 0)
    protein = ""
    if scaffold.sequence is not None:
        nucleotides = "".join(circular_slice(scaffold.sequence, s, e) for s, e, _ in segments)
        protein = translate(nucleotides, part.strand, code, phase, start_codon=phase == 0 and not partial)
    return Gene(ident, part.seqid, start, end, part.strand, protein, tuple(dict.fromkeys(a for a in aliases if a)), code, partial)


def translate(nucleotides: str, strand: int, code: int = 11, phase: int = 0, start_codon: bool = True) -> str:
    """Translate a CDS (given on the + strand) into protein; trailing stops removed, internal stops -> X.

    ``phase`` bases are skipped at the 5' end (GFF3 phase; GenBank /codon_start - 1). ``start_codon``: the first
    codon is a start codon, read as Met whatever it is (TTG/GTG/CTG); false for a gene cut at its 5' end.
    """
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
    if start_codon and protein and protein[0] in "LV" and strand != 0:
        protein = "M" + protein[1:]  # alternative start codons (TTG/GTG/CTG) are read as Met
    return protein


# ------------------------------------------------------------------------------------------------ GenBank


def read_genbank(path: PathLike, text: str | None = None, genetic_code: int | None = None) -> Genome:
    """Read GenBank/GBFF records; CDS features with their /translation (or translated from the sequence).

    ``genetic_code`` translates CDS without a /transl_table (default 11).
    """
    from Bio import SeqIO

    text = read_text(path) if text is None else text
    scaffolds: dict[str, Scaffold] = {}
    genes: list[Gene] = []
    seen_ids: set[str] = set()
    skipped: list[str] = []
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
            raise DataError(f"{path}: record {record.id!r} {_not_dna(bad)}")
        topology = record.annotations.get("topology", "linear")
        scaffold = Scaffold(record.id, len(record.seq), sequence or None, topology == "circular")
        scaffolds[record.id] = scaffold
        features = [f for f in record.features if f.type == "CDS" and "pseudo" not in f.qualifiers
                    and "pseudogene" not in f.qualifiers]
        for feature in features:
            if feature.location is None:
                raise DataError(f"{path}: record {record.id!r}: a CDS with an unreadable location")
            segments = [(int(p.start) + 1, int(p.end), 0) for p in feature.location.parts]
            if _covers_whole_scaffold([s[:2] for s in segments], scaffold, len(features)):
                skipped.append((feature.qualifiers.get("locus_tag") or [f"{record.id}:1-{scaffold.length}"])[0])
                continue
            gene = _gene_from_feature(feature, record, scaffold, path, genetic_code)
            if gene.id in seen_ids:
                raise DataError(f"{path}: duplicate gene id {gene.id!r}")
            seen_ids.add(gene.id)
            genes.append(gene)
    _warn_skipped(path, skipped)
    if not genes:
        raise DataError(f"{path}: no protein-coding (CDS) features found")
    genome = Genome(Path(str(path)).name, scaffolds, genes, "annotation")
    genome.sort_genes()
    return genome


def _gene_from_feature(feature, record, scaffold: Scaffold, path, default_code) -> Gene:
    """One GenBank CDS feature as a Gene; a join across the origin continues past the sequence's end."""
    q = feature.qualifiers
    loc = feature.location
    segments = _unwrap([(int(p.start) + 1, int(p.end), 0) for p in loc.parts], scaffold)
    start, end = segments[0][0], max(e for _, e, _ in segments)
    if scaffold.sequence:
        _check_extent(start, end, scaffold, f"{path}: record {record.id!r}")
    strand = -1 if loc.strand == -1 else 1
    table = q.get("transl_table", [None])[0]
    if table is not None and not table.isdecimal():
        raise DataError(f"{path}: record {record.id!r}: transl_table {table[:20]!r} is not a number")
    code = _code_of(table, default_code)
    codon_start = q.get("codon_start", ["1"])[0]
    phase = int(codon_start) - 1 if codon_start in ("1", "2", "3") else 0
    partial = phase > 0 or "<" in str(loc) or ">" in str(loc)
    raw_id = (q.get("locus_tag") or q.get("protein_id") or [f"{record.id}_{start}_{end}"])[0]
    ident = safe_id(raw_id)
    if "translation" in q:
        protein = q["translation"][0].replace("*", "X")
    elif scaffold.sequence:
        protein = translate(str(feature.extract(record.seq)), 1, code, phase, start_codon=not partial)
    else:
        protein = ""
    aliases = [ident] + [v for key in ("locus_tag", "old_locus_tag", "gene", "protein_id") for v in q.get(key, [])]
    aliases += [s for v in q.get("gene_synonym", []) for s in re.split(r"[;,]\s*", v)]
    return Gene(ident, record.id, start, end, strand, protein, tuple(dict.fromkeys(aliases)), code, partial)


# ------------------------------------------------------------------------------------------------ entry point


def read_genome(
    path: PathLike,
    fasta: PathLike | None = None,
    *,
    mode: str = "auto",
    genetic_code: int | None = None,
    threads: int = 1,
    circular: bool | None = None,
    progress=None,
    on_gene_calling=None,
    text: str | None = None,
) -> Genome:
    """Read any supported input into a Genome with genes; a bare FASTA gets genes called by pyrodigal.

    ``genetic_code``: for an annotation, the code of CDS without a transl_table (default 11); for a bare assembly,
    pyrodigal's table (default: 11, or 4 when the assembly codes like a Mycoplasma, see ``genes.call_genes``).
    ``mode`` (auto/single/meta) and ``on_gene_calling`` (see ``genes.call_genes(on_start=)``) only apply to gene
    calling. ``text``: the file's contents when the caller has read them already.
    """
    text = read_text(path) if text is None else text
    if not text.strip():
        raise DataError(f"{path}: empty file")
    kind = sniff_format(text, path)
    if kind != "fasta":
        check_genetic_code(genetic_code)
    if kind == "gff":
        genome = read_gff(path, fasta, text=text, genetic_code=genetic_code)
    elif kind == "genbank":
        if fasta is not None:
            raise UsageError("--fasta is only used with a GFF3 input")
        genome = read_genbank(path, text=text, genetic_code=genetic_code)
    elif kind == "fasta":
        if fasta is not None:
            raise UsageError("--fasta is only used with a GFF3 input; a FASTA input is a bare assembly")
        from .genes import call_genes, check_gene_calling

        check_gene_calling(mode, genetic_code)
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


def check_genetic_code(code: int | None) -> None:
    """Refuse a -g that names no NCBI genetic code (7, 8, 17-20 were never assigned or were withdrawn)."""
    from Bio.Data import CodonTable

    if code is not None and code not in CodonTable.unambiguous_dna_by_id:
        known = sorted(CodonTable.unambiguous_dna_by_id)
        raise UsageError(f"-g {code}: no such NCBI genetic code (known: {_ranges(known)})")


def _ranges(values: list[int]) -> str:
    """1-6, 9-16, 21-33 from a sorted list of integers."""
    runs: list[list[int]] = []
    for v in values:
        if runs and v == runs[-1][1] + 1:
            runs[-1][1] = v
        else:
            runs.append([v, v])
    return ", ".join(f"{a}-{b}" if b > a else str(a) for a, b in runs)
