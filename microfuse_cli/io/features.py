"""From an annotated CDS to a Gene, the same for GFF3 and GenBank: its id and aliases, joins across the origin of a
circular sequence, whole-sequence CDS left out, translation."""

from __future__ import annotations

import functools
import logging
import re
from dataclasses import replace
from typing import Callable

import numpy as np

from ..errors import DataError, log_naming
from ..records import Scaffold, safe_id

log = logging.getLogger("microfuse")
_STOP_TRIM = re.compile(r"\*+$")


#: A single-segment CDS from 1 to the end of a sequence at least this long is an origin-crossing gene whose
#: join() was flattened by a format conversion: its true extent is unknown, so it is left out.
WHOLE_SCAFFOLD_MIN = 30_000


def _covers_whole_scaffold(segments: list[tuple[int, int]], scaffold: Scaffold, n_cds: int) -> bool:
    """A flattened join: one segment 1..length on a long sequence, or on one that holds other CDS too.

    (A gene partial at both ends of a short contig, alone on it, is real and kept.)
    """
    return (len(segments) == 1 and tuple(segments[0]) == (1, scaffold.length)
            and (scaffold.length >= WHOLE_SCAFFOLD_MIN or n_cds > 1))


#: A run of this many N (or more) is an assembly gap, where a scaffold joins contigs (SPAdes and NCBI fill gaps with
#: 10 N or more); a lone N is an ambiguous base, not a cut.
MIN_GAP_NS = 10


def cut_ends(length: int, sequence: str | None, start: int, end: int) -> tuple[bool, bool]:
    """Whether a CDS ``start..end`` reaches, within a codon, the left and the right end of its sequence or an
    assembly gap (a run of ``MIN_GAP_NS`` or more N inside a scaffold: pyrodigal masks it and ends a gene there on a
    whole codon, as at an end), where a gene caller cuts a gene."""
    return (start <= 3 or _gap_touches(sequence, max(start - 4, 0), start - 1),
            end >= length - 2 or _gap_touches(sequence, end, end + 3))


def cut_without_flag(scaffold_length: int, sequence: str, start: int, end: int, strand: int, code: int,
                     coding: Callable[[], str]) -> bool:
    """Whether a CDS no flag marks partial, on a linear sequence, is cut all the same: its 5' end at an end of its
    sequence or a gap (``cut_ends``) on no start codon, or its 3' end there on no stop codon (``coding()``: its bases
    5' to 3', asked for only then). No gene caller calls a whole gene so, and MetaGeneMark, GeneMarkS-2, Balrog and
    IMG write no partial flag; a start codon at the end may be the gene's own, so that end is not said cut."""
    from Bio.Data import CodonTable

    left, right = cut_ends(scaffold_length, sequence, start, end)
    five_prime, three_prime = (left, right) if strand > 0 else (right, left)
    if not (five_prime or three_prime):
        return False
    bases, table = coding().upper(), CodonTable.unambiguous_dna_by_id[code]
    return (five_prime and bases[:3] not in table.start_codons) or (three_prime and bases[-3:] not in table.stop_codons)


def _gap_touches(sequence: str | None, lo: int, hi: int) -> bool:
    """Whether a run of ``MIN_GAP_NS`` or more N overlaps ``sequence[lo:hi]`` (0-based, end excluded)."""
    if not sequence or lo >= hi:
        return False
    left = max(lo - MIN_GAP_NS + 1, 0)
    window = sequence[left : hi + MIN_GAP_NS - 1]
    return any(m.start() + left < hi and m.end() + left > lo
               for m in re.finditer(f"[Nn]{{{MIN_GAP_NS},}}", window))


def left_out(**counts: int) -> tuple[tuple[str, int], ...]:
    """``Genome.left_out`` from counts by reason (keyword names, '_' for ' '), those of no CDS dropped."""
    return tuple((why.replace("_", " "), n) for why, n in counts.items() if n)


def _warn_skipped(path, skipped: list[str]) -> None:
    if skipped:
        log.warning("%s: skipped %d CDS spanning a whole sequence (an origin-crossing gene whose join was lost, "
                    "e.g. %s)", path, len(skipped), skipped[0])


#: Share of an annotation's CDS with an internal stop above which its genetic code is likely not the one read
#: (M. genitalium and M. pneumoniae without transl_table, read with code 11: 71%; Synechocystis' frameshifted
#: genes: 0.2%).
WRONG_CODE_SHARE = 0.1


def internal_stops_as_x(path, genes, given_code: int | None = None) -> list:
    """``genes`` (proteins from ``translate(stop="*")``) with their internal stops written as X, as everything
    downstream reads them; one warning when many CDS hold one: an annotation of a code-4 organism (Prokka --gcode 4
    writes no transl_table) read with the default code 11, where every TGA (Trp) reads as a stop. Only stop codons
    count, not the X of a codon with an ambiguity code (N, R, Y in the DNA). ``given_code``: the user's -g, which
    CDS with a transl_table of their own do not take (``_warn_code_not_taken``)."""
    _warn_code_not_taken(path, genes, given_code)
    stopped = [g for g in genes if "*" in g.protein]
    if genes and len(stopped) > WRONG_CODE_SHARE * len(genes):
        code = max({g.genetic_code for g in stopped}, key=[g.genetic_code for g in stopped].count)
        advice = (("if the organism uses another code, give it with ", ("genetic_code", "-g"), " (Mycoplasma: ",
                   ("genetic_code=4", "-g 4"), ")") if given_code in (None, code) else
                  ("their transl_table says so, which ", (f"genetic_code={given_code}", f"-g {given_code}"),
                   " does not change"))
        log_naming(log, logging.WARNING, f"{path}: {len(stopped)} of {len(genes)} CDS have internal stop codons with "
                   f"genetic code {code} (read as X); ", *advice)
    return [replace(g, protein=g.protein.replace("*", "X")) if "*" in g.protein else g for g in genes]


def _warn_code_not_taken(path, genes, given_code: int | None) -> None:
    """One warning when the user's -g is not the code of CDS whose own transl_table the annotation gives (it
    applies to CDS without one, as --help says): -g 11 on M. genitalium's transl_table=4 was set aside silently."""
    own = [g.genetic_code for g in genes if given_code is not None and g.genetic_code != given_code]
    if own:
        tables = ", ".join(f"transl_table={c}" for c in sorted(set(own)))
        log_naming(log, logging.WARNING, f"{path}: ", (f"genetic_code={given_code}", f"-g {given_code}"),
                   f" applies to CDS without a transl_table; {len(own)} of {len(genes)} CDS carry their own ({tables}) "
                   "and are read with it")


#: A gap between the parts of a CDS longer than this is no translational bypass (T4 gene 60 skips 50 nt) or
#: frameshift: a join with parts at both ends of a sequence and such a gap runs across its origin.
MAX_BYPASS_GAP = 100


def _origin_gap(segments: list[tuple[int, ...]], length: int) -> int | None:
    """Where a join across the origin (``a..length`` + ``1..b``) breaks in ``segments`` sorted: the index of its
    first segment after its widest gap; None when the segments are not such a join. (A gene may cover most of a
    small plasmid: the gap need not be half the sequence.)"""
    if len(segments) > 1 and segments[0][0] == 1 and segments[-1][1] == length:
        gap, k = max((segments[i][0] - segments[i - 1][1] - 1, i) for i in range(1, len(segments)))
        if gap > min(MAX_BYPASS_GAP, length // 2):
            return k
    return None


def joins_across_origin(segments: list[tuple[int, ...]], length: int) -> bool:
    """A CDS joined across the ends of its sequence: only a circular sequence has one."""
    return _origin_gap(sorted(segments), length) is not None


def with_topology(scaffold: Scaffold, circular: bool | None, joined: bool, where: str) -> Scaffold:
    """``scaffold`` made circular as ``circular`` (--circular/--linear) forces, else as its file says or when a CDS
    is ``joined`` across its origin (the annotation's own word that it is circular: Prokka and format conversions
    leave out the Is_circular region, linear GenBank LOCUS lines are common)."""
    if circular is False and joined:
        raise DataError.naming(f"{where}: a CDS is joined across the origin of {scaffold.id}, which ",
                               ("GenomeOptions(circular=False)", "--linear"), " makes linear")
    wanted = circular if circular is not None else scaffold.circular or joined
    if wanted and joined and not scaffold.circular and circular is None:
        log.info("%s: %s read as circular (a CDS is joined across its origin)", where, scaffold.id)
    return scaffold if wanted == scaffold.circular else replace(scaffold, circular=wanted)


def _unwrap(segments: list[tuple[int, int, int]], scaffold: Scaffold) -> list[tuple[int, int, int]]:
    """Segments in genome order; those of a join across the origin of a circular sequence (``a..length`` +
    ``1..b``) continue past its end (``length + 1 .. length + b``), as GFF3 writes such a gene."""
    segments = sorted(segments)
    length = scaffold.length
    k = _origin_gap(segments, length) if scaffold.circular else None
    if k is not None:
        return segments[k:] + [(s + length, e + length, phase) for s, e, phase in segments[:k]]
    return segments


def _check_extent(start: int, end: int, scaffold: Scaffold, where: str) -> None:
    """A gene may run past the end of a sequence only across the origin of a circular one."""
    if end <= scaffold.length:
        return
    if not scaffold.circular:
        raise DataError.naming(f"{where}: CDS ends at {end}, past the end of {scaffold.id} ({scaffold.length} bp; "
                               "only a circular sequence (region with Is_circular=true, or ",
                               ("GenomeOptions(circular=True)", "--circular"), ") has genes across its origin)")
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


def translate(nucleotides: str, strand: int, code: int = 11, phase: int = 0, start_codon: bool = True,
              stop: str = "X") -> str:
    """Translate a CDS (given on the + strand) into protein; trailing stops removed, internal stops -> ``stop``
    (X, as a codon with an ambiguity code reads; "*" keeps them apart, for ``internal_stops_as_x``).

    ``phase`` bases are skipped at the 5' end (GFF3 phase; GenBank /codon_start - 1). ``start_codon``: the first
    codon is read as Met when it is one of the code's start codons (TTG/GTG/CTG, ATT/ATC/ATA in table 11; with
    ambiguity codes, when every reading is one: RTG, NTG), as NCBI translates; false for a gene cut at its 5' end.
    """
    from Bio.Data import CodonTable
    from Bio.Seq import Seq

    seq = Seq(nucleotides)
    if strand < 0:
        seq = seq.reverse_complement()
    seq = seq[phase:]
    tail = str(seq[len(seq) // 3 * 3 :])  # an incomplete last codon: a CDS cut at its 3' end, or not whole codons
    seq = seq[: len(seq) // 3 * 3]  # whole codons: Biopython's one translation warning (a partial codon) cannot arise
    # no warnings.catch_warnings here: it swaps the process-wide filters, and genomes read in parallel threads left
    # 'ignore every warning' installed for good
    try:
        protein = _translate_codons(str(seq), code)
    except KeyError:
        raise DataError(f"unknown genetic code (transl_table) {code}") from None
    if not protein.endswith("*"):
        protein += _residue_of_two_bases(tail, code)
    protein = _STOP_TRIM.sub("", protein).replace("*", stop)
    # alternative start codons are read as Met, and so is an ambiguity code all of whose readings are starts (RTG)
    if start_codon and protein and str(seq[:3]).upper() in CodonTable.ambiguous_dna_by_id[code].start_codons:
        protein = "M" + protein[1:]
    return protein


def _residue_of_two_bases(tail: str, code: int) -> str:
    """The residue of an incomplete last codon as NCBI's translator reads it: padded with N, kept unless that reads X
    (GC? is Ala, CT? Leu; AT? is Ile or Met, one base anything). Its /translation of a CDS cut inside its last codon
    ends with that residue (7 of 3,195 CDS of PGAP's JAOQKG01), and so does that of any CDS whose location leaves
    two bases after its last whole codon, partial or not (the C++ toolkit's ``CSeqTranslator`` pads every incomplete
    codon); Biopython's ambiguity codes give the residue every reading of the N shares. A stop is no residue: a
    trailing one is dropped."""
    if len(tail) != 2:
        return ""
    residue = _translate_codons(tail + "N", code)
    return "" if residue in ("X", "*") else residue


def stated_protein(value: str) -> str:
    """A CDS's protein as its annotation states it: GenBank's /translation, the GFF3 ``translation`` attribute DFAST
    writes. Its producer translated with the organism's code, which a DFAST GFF3 does not name (no transl_table):
    taken as written, not re-translated with -g or 11. A trailing stop is dropped as ``translate`` drops it; a stop
    inside counts as one (``internal_stops_as_x``)."""
    return _STOP_TRIM.sub("", "".join(value.split()))


#: Qualifiers of a CDS whose stated protein may rightly differ from its location's translation (INSDC's
#: /exception: "annotated by transcript or proteomic data", "rearrangement required for product"; a location made
#: up around a low-quality region).
TRANSLATION_EXCUSED = frozenset({"exception", "artificial_location"})


def stated_length_disagrees(protein: str, coding_bases: int) -> bool:
    """Whether a stated protein is not as long as its CDS location codes, whatever its codon_start: ``coding_bases``
    hold k whole codons after a phase of 0-2 bases, the protein k residues (cut at its 3' end) or k - 1 (its stop
    left out; a stop completed by polyA, ``transl_except`` TERM, is one of the k), or k + 1 when cut inside its last
    codon (NCBI's translator pads those bases with N and keeps the residue they fix: GC? is A)."""
    return not (coding_bases - 2) // 3 - 1 <= len(protein) <= -(-coding_bases // 3)


def warn_stated_lengths(path, disagreeing: list[tuple[str, int, int]], what: str) -> None:
    """One warning naming the CDS (name, residues, bases) whose stated protein (``what``) is not the length of their
    location: one of the two is wrong (a location edited or converted, its protein left as it was); the stated
    protein is used, as for every CDS that has one."""
    if disagreeing:
        shown = ", ".join(f"{name} ({aa} aa, {bp} bp)" for name, aa, bp in disagreeing[:3])
        more = f" and {len(disagreeing) - 3} more" if len(disagreeing) > 3 else ""
        log.warning("%s: the %s of %d CDS is not the length of its location: %s%s; the %s is used as written "
                    "(was the location edited, or the file converted, without it?)", path, what, len(disagreeing),
                    shown, more, what)


def _translate_codons(nucleotides: str, code: int) -> str:
    """Biopython's translation (``Seq.translate(table=code)``) of whole codons. A sequence of A, C, G and T alone (as
    nearly every CDS is) is looked up 64 codons at a time with numpy, the same residues as Biopython's per-codon
    Python loop, which took a fifth of reading an annotated genome; any other letter goes to Biopython."""
    from Bio.Seq import Seq

    residues = _codon_residues(code)
    if residues is not None and nucleotides.isascii():
        bases = _BASE_INDEX[np.frombuffer(nucleotides.upper().encode("ascii"), dtype=np.uint8)]
        if not (bases > 3).any():
            return residues[bases[0::3] * 16 + bases[1::3] * 4 + bases[2::3]].tobytes().decode("ascii")
    return str(Seq(nucleotides).translate(table=code))


#: A, C, G, T (upper case) -> 0..3; every other byte -> 4.
_BASE_INDEX = np.full(256, 4, dtype=np.uint8)
_BASE_INDEX[np.frombuffer(b"ACGT", dtype=np.uint8)] = np.arange(4, dtype=np.uint8)


@functools.cache
def _codon_residues(code: int) -> np.ndarray | None:
    """The residue of each of the 64 codons (index 16 * first + 4 * second + third base, ACGT = 0..3) as
    Biopython's translation reads them with NCBI table ``code`` (``*`` a stop); None for a table with a codon that is
    both a stop and an amino acid (Biopython warns on each translation with one). KeyError: no such table."""
    from itertools import product

    from Bio.Data import CodonTable

    table = CodonTable.ambiguous_generic_by_id[code]
    if any(c in table.forward_table for c in table.stop_codons):
        return None
    residues = []
    for codon in map("".join, product("ACGT", repeat=3)):
        try:
            residues.append(table.forward_table[codon])
        except (KeyError, CodonTable.TranslationError):
            residues.append("*" if codon in table.stop_codons else "?")
    return None if "?" in residues else np.frombuffer("".join(residues).encode("ascii"), dtype=np.uint8)


#: One ``/transl_except`` (GenBank) or ``transl_except`` (GFF3) value, its spaces removed (a value wrapped in a
#: GenBank file is read with one where it broke, inside a range too): ``(pos:1547986..1547988,aa:Sec)``,
#: ``(pos:complement(4298947..4298949),aa:Sec)``, ``(pos:complement(NC_000003.11:49395565..49395567),aa:Sec)``
#: (the position's sequence named, inside or outside complement(), as INSDC allows).
_TRANSL_EXCEPT = re.compile(r"pos:(?:[^:(),]+:)?(?:complement\()?(?:[^:(),]+:)?(\d+)\.\.(\d+)\)?,aa:(\w+)")


def with_exceptions(protein: str, values, segments: list[tuple[int, int, int]], strand: int, phase: int,
                    length: int) -> str:
    """``protein`` with the residues its transl_except ``values`` name (selenocysteine U for the UGA of E. coli
    fdhF, fdnG, fdoG, as NCBI's proteins have it, not X); ``segments`` in genome order, ``length`` the sequence's
    (a join across the origin continues past it). A codon outside the CDS or out of its frame is left alone."""
    from Bio.SeqUtils import seq1

    residues = list(protein)
    for value in values:
        for low, high, name in _TRANSL_EXCEPT.findall("".join(value.split())):
            offset = _cds_offset(int(low) if strand > 0 else int(high), segments, strand, length)
            index, frame = divmod(offset - phase, 3) if offset is not None else (-1, 0)
            residue = seq1(name) if name != "TERM" else ""
            if 0 <= index < len(residues) and frame == 0 and residue:
                residues[index] = residue
    return "".join(residues)


def _cds_offset(position: int, segments: list[tuple[int, int, int]], strand: int, length: int) -> int | None:
    """How many bases of the CDS come before ``position`` (its first base of a codon, on the CDS's strand)."""
    offset = 0
    for start, end, _ in segments if strand > 0 else segments[::-1]:
        for p in (position, position + length):
            if start <= p <= end:
                return offset + (p - start if strand > 0 else end - p)
        offset += end - start + 1
    return None


#: Qualifiers (GenBank) or attributes (GFF3) whose values are a gene's other names, in the order figures look
#: for a gene symbol among them.
_ALIAS_KEYS = ("locus_tag", "old_locus_tag", "Name", "gene", "ID", "protein_id", "gene_id")
#: Every key ``gene_names`` reads.
NAME_KEYS = _ALIAS_KEYS + ("gene_synonym",)


def gene_names(sources, fallback: str) -> tuple[str, tuple[str, ...]]:
    """A CDS's id and aliases, one rule for GFF3 and GenBank.

    ``sources``: the CDS's qualifiers, then its parent gene's (GFF3), each a mapping of key -> list of values.
    The id is the first locus_tag, else gene_id (Ensembl, GTF-derived GFF3), else the gene's ID (then the CDS's),
    else the protein_id, else ``fallback``
    (``<seqid>_<start>_<end>``); aliases are every name of ``_ALIAS_KEYS`` and gene_synonym, and an ID with
    RefSeq's ``gene-`` prefix also without it.
    """
    raw = (_first(sources, "locus_tag") or _first(sources, "gene_id") or _first(sources[::-1], "ID")
           or _first(sources, "protein_id") or fallback)
    ident = safe_id(raw)
    aliases = [ident]
    for source in sources:
        for key in _ALIAS_KEYS:
            for value in source.get(key, ()):
                aliases += value.split(",")
        for value in source.get("gene_synonym", ()):
            aliases += _SYNONYMS.split(value)
    for source in sources:
        aliases += [value[5:] for value in source.get("ID", ()) if value.startswith("gene-")]
    return ident, tuple(dict.fromkeys(a for a in aliases if a))


_SYNONYMS = re.compile(r"[;,]\s*")


def _first(sources, key: str) -> str | None:
    """The first non-empty value of ``key`` in ``sources``."""
    for source in sources:
        values = source.get(key)
        if values and values[0]:
            return values[0]
    return None
