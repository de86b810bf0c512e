"""Comparative evidence: is a pair's adjacency conserved in other genomes? (gene-neighbourhood conservation)

A *reference set* holds the proteins of other genomes with their gene order and strand. For a query pair
(gene_a, gene_b), a reference genome supports the pair when a homolog of gene_a and a homolog of gene_b (two
different reference genes) lie on one reference scaffold, on the same strand (co-directional), at most
``max_gap`` genes apart (default 1: adjacent, or one gene in between). Homologs come from pyhmmer's phmmer
(E-value <= ``evalue``; only the ``top_hits`` best-scoring hits per reference genome are kept, so a big paralog
family such as ABC ATPases cannot make every pair look conserved).

Weighting (the choice, and why): a close relative conserves gene order wholesale, operon or not, so its vote
says little (M. genitalium makes M. pneumoniae's non-operon pairs look conserved). Each reference genome r gets
``w_r = 1 - f_r``, where ``f_r`` is the fraction of the searched query proteins whose best hit in r has at least
``close_identity`` (default 0.5) identity over its alignment. Distant genomes (best hits ~25-40% identical) keep
w ~ 1; a sister species, where most proteins are >50% identical, is down-weighted towards 0. The score is
``sum_r w_r * conserved_r``; the raw count ``sum_r conserved_r`` is returned beside it, and ``with_homologs``
(how many reference genomes hold homologs of both genes: how much evidence there could have been).

When the query genome itself is in the reference (a metagenome whose own contigs form the reference), hits on
the pair's own scaffold are ignored: other scaffolds of the same input still count. The query genome is found by
name, or by content under any name: a reference genome where most query genes hit themselves (same scaffold name
and coordinates).

Folder format (``ReferenceSet.save``/``load``; written atomically, no pickle): ``proteins.faa`` (ids = row
numbers of the genes table), ``genes.tsv`` (row, genome, scaffold, position, strand, start, end, gene id,
has_protein), ``manifest.json`` (manifest.py: format version, sha256 of both files; genomes with their
scaffolds' gene counts, topology and the genetic code(s) their proteins were translated with). A checksum mismatch
or a missing file is a DataError.

Genetic codes: genomes of distant clades legitimately use different codes (a Mycoplasma's 4, E. coli's 11), so a
difference alone says nothing. A close relative read under another code than the query, though, is almost surely
a genome read under the wrong one (its proteins cut at a reassigned stop), so `conserved_adjacency` warns about
those, once. Reference folders written before codes were recorded are read as codes unknown, and not checked.
"""

from __future__ import annotations

import logging
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import BinaryIO, Iterable, Mapping, Sequence

import numpy as np

from .errors import FASTA, DataError, UsageError, check_flags, log_naming
from .records import Genome, RebuiltFromFields, read_only
from .io.fasta import read_proteins, write_proteins
from .io.files import PathLike, read_text
from .io.outputs import atomic_directory
from .manifest import FILES_KEY, ManifestKind, folder_path, open_listed, read_manifest, write_manifest
from .progress import Advance, check_callbacks
from .pairs import GenePair
from .runtime import resolve_threads

#: manifest.json of a reference folder (manifest.py). 2: the common manifest layout (``format_version``,
#: ``microfuse_version``, ``files_sha256``) instead of ``version``, ``microfuse``, ``files``; version 1 is still read.
REFERENCE_FILES = ("proteins.faa", "genes.tsv")
REFERENCE = ManifestKind("microfuse-reference", (1, 2), "reference",
                         "build one with `microfuse reference build`")
GENES_COLUMNS = ["row", "genome", "scaffold", "position", "strand", "start", "end", "gene_id", "has_protein"]
#: Output columns of `score --explain --reference`.
COLUMNS = ["conserved_adjacency", "conserved_genomes"]

log = logging.getLogger("microfuse")


@dataclass(frozen=True)
class ReferenceGenome:
    """One genome of a reference set: its scaffolds with genes, their gene counts and topologies (tuples)."""

    name: str
    scaffolds: tuple[str, ...]
    genes_per_scaffold: tuple[int, ...]
    circular: tuple[bool, ...]
    genetic_codes: tuple[int, ...] = ()  # codes its proteins were translated with; (): unknown

    def __post_init__(self) -> None:  # normalising the fields as built, never changing them later
        for name in ("scaffolds", "genes_per_scaffold", "circular", "genetic_codes"):
            object.__setattr__(self, name, tuple(getattr(self, name)))


def _reference_from_version_1(manifest: dict, path) -> dict:
    """A version-1 reference manifest (``version``, ``microfuse``, ``files``) in the version-2 layout."""
    if "format_version" in manifest:
        return manifest
    renamed = {"version": "format_version", "microfuse": "microfuse_version", "files": FILES_KEY}
    return {renamed.get(k, k): v for k, v in manifest.items()}


@dataclass(frozen=True, eq=False)
class ReferenceSet:
    """Reference genes (one row each) in gene order; ``proteins[i]`` is row i's protein ('' when none).

    Immutable (tuples, read-only arrays); ``block()`` builds its pyhmmer block once and keeps it, derived data
    that never changes what the set holds."""

    genomes: tuple[ReferenceGenome, ...]
    genome: np.ndarray  # row -> genome index
    scaffold: np.ndarray  # row -> global scaffold index (over all genomes)
    position: np.ndarray  # row -> 0-based position of the gene on its scaffold
    strand: np.ndarray  # +1 / -1
    start: np.ndarray
    end: np.ndarray
    gene_ids: tuple[str, ...]
    proteins: tuple[str, ...]

    def __post_init__(self) -> None:  # normalising the fields as built, never changing them later
        for name in ("genomes", "gene_ids", "proteins"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for name in ("genome", "scaffold", "position", "strand", "start", "end"):
            object.__setattr__(self, name, read_only(getattr(self, name)))

    # ------------------------------------------------------------------------------------------ build

    @classmethod
    def build(cls, genomes: Sequence[Genome], names: Sequence[str] | None = None) -> "ReferenceSet":
        """A reference from genomes with genes and proteins (genes without a protein keep their place in order)."""
        if not genomes:
            raise UsageError("a reference set needs at least one genome")
        names = list(names) if names is not None else [g.name for g in genomes]
        if len(set(names)) != len(names):
            raise DataError(f"two reference genomes share a name: {sorted(n for n in names if names.count(n) > 1)[0]}")
        ref_genomes, rows = [], []
        scaffold_index = 0
        for gi, (genome, name) in enumerate(zip(genomes, names)):
            grouped = genome.genes_by_scaffold()
            sids, counts, circ = [], [], []
            for sid, genes in grouped.items():
                if not genes:
                    continue
                sids.append(sid)
                counts.append(len(genes))
                circ.append(bool(genome.scaffolds[sid].circular))
                length = genome.scaffolds[sid].length
                for pos, gene in enumerate(genes):
                    rows.append((gi, scaffold_index, pos, gene.strand, gene.start, gene.end, gene.id,
                                 _searchable(gene.protein, length)))
                scaffold_index += 1
            if not any(g.protein for g in genome.genes):
                raise DataError.naming(f"{name}: no protein sequences (a GFF3 needs ", FASTA, " or a ##FASTA section)")
            ref_genomes.append(ReferenceGenome(name, sids, counts, circ, genetic_codes(genome)))
        return cls._from_rows(ref_genomes, rows)

    @classmethod
    def _from_rows(cls, genomes, rows) -> "ReferenceSet":
        col = list(zip(*rows)) if rows else [()] * 8
        return cls(
            genomes,
            np.asarray(col[0], dtype=np.int32), np.asarray(col[1], dtype=np.int32), np.asarray(col[2], dtype=np.int32),
            np.asarray(col[3], dtype=np.int8), np.asarray(col[4], dtype=np.int64), np.asarray(col[5], dtype=np.int64),
            list(col[6]), list(col[7]),
        )

    @property
    def names(self) -> list[str]:
        return [g.name for g in self.genomes]

    @property
    def n_proteins(self) -> int:
        return sum(1 for p in self.proteins if p)

    def scaffold_sizes(self) -> tuple[np.ndarray, np.ndarray]:
        """Genes per global scaffold index and whether it is circular."""
        sizes = [n for g in self.genomes for n in g.genes_per_scaffold]
        circ = [c for g in self.genomes for c in g.circular]
        return np.asarray(sizes, dtype=np.int64), np.asarray(circ, dtype=bool)

    def without(self, names: Iterable[str]) -> "ReferenceSet":
        """The same reference minus the named genomes (e.g. the query genome itself, or a close relative)."""
        drop = set(names)
        unknown = drop - set(self.names)
        if unknown:
            raise UsageError(f"not in the reference: {', '.join(sorted(unknown))}")
        keep_genomes = [i for i, g in enumerate(self.genomes) if g.name not in drop]
        rows = []
        scaffold_base = np.cumsum([0] + [len(g.scaffolds) for g in self.genomes])
        new_scaffold, next_index = {}, 0
        for new_gi, gi in enumerate(keep_genomes):
            for k in range(len(self.genomes[gi].scaffolds)):
                new_scaffold[int(scaffold_base[gi] + k)] = next_index
                next_index += 1
        for i in range(len(self.gene_ids)):
            gi = int(self.genome[i])
            if self.genomes[gi].name in drop:
                continue
            rows.append((keep_genomes.index(gi), new_scaffold[int(self.scaffold[i])], int(self.position[i]),
                         int(self.strand[i]), int(self.start[i]), int(self.end[i]), self.gene_ids[i], self.proteins[i]))
        return self._from_rows([self.genomes[i] for i in keep_genomes], rows)

    # ------------------------------------------------------------------------------------------ files

    def save(self, folder: PathLike, *, overwrite: bool = True) -> None:
        """Write proteins.faa, genes.tsv and manifest.json (with their sha256) into ``folder``, atomically."""
        check_flags("ReferenceSet.save", overwrite=overwrite)  # overwrite='no' replaced the reference there
        with atomic_directory(folder, overwrite=overwrite) as tmp:
            with open(tmp / "proteins.faa", "w", encoding="utf-8", newline="\n") as handle:
                write_proteins(handle, ((str(i), p) for i, p in enumerate(self.proteins) if p), width=None)
            with open(tmp / "genes.tsv", "w", encoding="utf-8", newline="\n") as handle:
                handle.write("\t".join(GENES_COLUMNS) + "\n")
                for i in range(len(self.gene_ids)):
                    handle.write(f"{i}\t{int(self.genome[i])}\t{int(self.scaffold[i])}\t{int(self.position[i])}\t"
                                 f"{'+' if self.strand[i] > 0 else '-'}\t{int(self.start[i])}\t{int(self.end[i])}\t"
                                 f"{_clean(self.gene_ids[i])}\t{int(bool(self.proteins[i]))}\n")
            write_manifest(tmp, REFERENCE, REFERENCE_FILES, {
                "genomes": [{"name": g.name, "scaffolds": g.scaffolds, "genes_per_scaffold": g.genes_per_scaffold,
                             "circular": g.circular, "genetic_codes": g.genetic_codes} for g in self.genomes],
                "n_genes": len(self.gene_ids), "n_proteins": self.n_proteins,
            })

    @classmethod
    def load(cls, folder: PathLike) -> "ReferenceSet":
        """Read a folder written by ``save``; any missing, altered or inconsistent file is a DataError."""
        folder = folder_path(folder, REFERENCE)  # load(None): a UsageError, as Embeddings' and PairIndex's
        manifest = read_manifest(folder, REFERENCE, required=REFERENCE_FILES, upgrade=_reference_from_version_1,
                                 verify=False)
        with ExitStack() as stack:  # each file opened once and hashed: the bytes read are those checked
            handles = open_listed(folder, manifest, REFERENCE, stack, required=REFERENCE_FILES)
            return cls._read_files(folder, manifest, handles)

    @classmethod
    def _read_files(cls, folder: Path, manifest: dict, handles: Mapping[str, BinaryIO]) -> "ReferenceSet":
        """The reference set of ``folder``, its files read from ``handles`` (``open_listed``'s: as hashed)."""
        try:
            genomes = [ReferenceGenome(str(g["name"]), [str(s) for s in g["scaffolds"]],
                                       [int(n) for n in g["genes_per_scaffold"]], [bool(c) for c in g["circular"]],
                                       [int(c) for c in g.get("genetic_codes", [])])  # absent before they were kept
                       for g in manifest["genomes"]]
            # read as every text input is (size caps, binary refused), from the bytes hashed
            lines = read_text(folder / "genes.tsv", handle=handles["genes.tsv"]).split("\n")
            if lines[0].split("\t") != GENES_COLUMNS:
                raise ValueError("genes.tsv header")
            rows, with_protein = [], set()
            for line in lines[1:]:
                if not line:
                    continue
                f = line.split("\t")
                rows.append([int(f[1]), int(f[2]), int(f[3]), _STRANDS[f[4]], int(f[5]), int(f[6]), f[7], ""])
                if f[8] == "1":
                    with_protein.add(len(rows) - 1)
            proteins = read_proteins(folder / "proteins.faa", handle=handles["proteins.faa"])
            for ident, seq in proteins.items():
                rows[_row_number(ident, len(rows))][7] = seq
            if {int(ident) for ident in proteins} != with_protein:
                raise ValueError("proteins.faa and the has_protein column of genes.tsv disagree")
            ref = cls._from_rows(genomes, [tuple(r) for r in rows])
        except (KeyError, ValueError, IndexError, TypeError, OverflowError) as exc:
            raise DataError(f"{folder}: inconsistent reference files ({str(exc)[:80]})") from None
        if len(ref.gene_ids) != manifest.get("n_genes") or sum(sum(g.genes_per_scaffold) for g in genomes) != len(rows):
            raise DataError(f"{folder}: gene counts disagree with manifest.json")
        _check_layout(folder, ref)
        return ref

    # ------------------------------------------------------------------------------------------ search

    def block(self):
        """The proteins as a pyhmmer DigitalSequenceBlock (names = row numbers), built once."""
        if "_block" not in self.__dict__:  # a cache of derived data (not a field: a replace() builds its own)
            from pyhmmer import easel

            alphabet = easel.Alphabet.amino()
            seqs = [easel.TextSequence(name=str(i), sequence=_protein_text(p)).digitize(alphabet)
                    for i, p in enumerate(self.proteins) if p]
            object.__setattr__(self, "_block", easel.DigitalSequenceBlock(alphabet, seqs))
        return self._block


_STRANDS = {"+": 1, "-": -1}


def _row_number(ident: str, n_rows: int) -> int:
    """The genes.tsv row a proteins.faa record names (its row number, as ``save`` writes it)."""
    row = int(ident)
    if not 0 <= row < n_rows:
        raise IndexError(f"proteins.faa names row {ident!r} of {n_rows}")
    return row


def _check_layout(folder: Path, ref: "ReferenceSet") -> None:
    """Each gene's genome, scaffold and position within what the manifest lists (a scaffold index of another
    genome, or past the last, failed deep in the search with an IndexError, or silently wrapped when negative), and
    no two genes at one position (a duplicated row was read silently)."""
    scaffolds = [len(g.scaffolds) for g in ref.genomes]
    if any(len(g.genes_per_scaffold) != n or len(g.circular) != n for g, n in zip(ref.genomes, scaffolds)):
        raise DataError(f"{folder}: manifest.json lists scaffolds, their gene counts and topologies of unequal lengths")
    owner = np.repeat(np.arange(len(scaffolds)), scaffolds)
    sizes, _ = ref.scaffold_sizes()
    inside = (ref.genome >= 0) & (ref.genome < len(scaffolds)) & (ref.scaffold >= 0) & (ref.scaffold < len(owner))
    scaffold = np.where(inside, ref.scaffold, 0)
    inside &= (owner[scaffold] == ref.genome) & (ref.position >= 0) & (ref.position < sizes[scaffold])
    if not inside.all():
        row = int(np.argmin(inside))
        raise DataError(f"{folder}: genes.tsv row {row} places its gene outside the genomes and scaffolds that "
                        "manifest.json lists (corrupted or edited)")
    slot = ref.scaffold.astype(np.int64) * (int(sizes.max(initial=0)) + 1) + ref.position  # one per gene
    order = np.argsort(slot, kind="stable")
    twice = np.flatnonzero(slot[order][1:] == slot[order][:-1])
    if twice.size:  # a row listed twice (another gene's slot then empty): a neighbour read as itself
        first, row = sorted(int(r) for r in order[twice[0]:twice[0] + 2])
        raise DataError(f"{folder}: genes.tsv rows {first} and {row} place two genes at one position of one scaffold "
                        "(corrupted or edited)")


def genetic_codes(genome: Genome) -> tuple[int, ...]:
    """The genetic codes a genome's proteins were translated with (transl_table, -g or the gene caller's), sorted."""
    return tuple(sorted({gene.genetic_code for gene in genome.genes}))


#: phmmer's comparison pipeline refuses longer sequences; the longest real bacterial proteins are ~36,000 aa.
MAX_PROTEIN = 100_000


def _searchable(protein: str, scaffold_length: int | None = None) -> str:
    """'' for a protein that cannot be a real CDS product: over MAX_PROTEIN, or coding for more than half its
    scaffold (a GFF3 CDS joined across the origin of a circular sequence reads as start=1, end=length)."""
    if len(protein) > MAX_PROTEIN or (scaffold_length and 3 * len(protein) > scaffold_length / 2 and len(protein) > 3000):
        return ""
    return protein


def _clean(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ")


_AMINO = set("ACDEFGHIKLMNPQRSTVWYBZXUO*-")


def _protein_text(protein: str) -> str:
    """Easel refuses some characters (e.g. J, stray symbols): map anything unknown to X."""
    protein = protein.upper().replace("*", "")
    if set(protein) <= _AMINO:
        return protein
    return "".join(c if c in _AMINO else "X" for c in protein)


# ------------------------------------------------------------------------------------------------ homologs


@dataclass(frozen=True)
class Homologs(RebuiltFromFields):
    """phmmer hits of query genes: ``hits[gene_id][genome index] = ((row, score, identity), ...)`` best first
    (read-only mappings of tuples, as ``searched``)."""

    hits: Mapping[str, Mapping[int, tuple[tuple[int, float, float], ...]]]
    searched: tuple[str, ...]
    seconds: float = 0.0

    def __post_init__(self) -> None:  # normalising the fields as built, never changing them later
        object.__setattr__(self, "hits", MappingProxyType({
            gene: MappingProxyType({genome: tuple(found) for genome, found in per.items()})
            for gene, per in self.hits.items()}))
        object.__setattr__(self, "searched", tuple(self.searched))


def search_homologs(genes, reference: ReferenceSet, *, evalue: float = 1e-5, top_hits: int = 3, threads: int = 1,
                    progress: Advance | None = None) -> Homologs:
    """phmmer each gene's protein against the reference; keep per genome the ``top_hits`` best hits (E <= evalue).

    Genes with the same protein (IS elements, duplicated genes) share one phmmer query: its hits are theirs, as a
    second search would give the same hits (a query's HMM and its calibration depend on its sequence alone; the
    builder reseeds for each one). ``progress`` still advances once per gene.
    ``threads`` 0 means every core this process may use (pyhmmer's own 0 counts every core of the machine).
    """
    import time

    from pyhmmer import easel, hmmer

    check_callbacks("search_homologs", progress=progress)

    alphabet = easel.Alphabet.amino()
    by_protein = _genes_by_protein(genes)
    queries = [easel.TextSequence(name=ids[0], sequence=text).digitize(alphabet) for text, ids in by_protein.items()]
    sharing = {ids[0]: ids for ids in by_protein.values()}
    searched = list(dict.fromkeys(g.id for g in genes if _searchable(g.protein)))  # gene order, each gene once
    hits: dict[str, dict[int, list[tuple[int, float, float]]]] = {gid: {} for gid in searched}
    began = time.perf_counter()
    if queries and reference.n_proteins:
        target = reference.block()
        callback = (lambda query, total: progress(len(sharing[_text(query.name)]))) if progress is not None else None
        for top in hmmer.phmmer(queries, target, cpus=resolve_threads(threads), callback=callback, E=evalue, domE=evalue):
            per = _kept_hits(top, reference, evalue, top_hits)
            for gene_id in sharing[_text(top.query.name)]:
                hits[gene_id] = per
    return Homologs(hits, searched, time.perf_counter() - began)


def _genes_by_protein(genes) -> dict[str, list[str]]:
    """Searchable protein text (as phmmer reads it) -> ids of the genes with that protein, first seen first."""
    by_protein: dict[str, list[str]] = {}
    seen = set()
    for gene in genes:
        if _searchable(gene.protein) and gene.id not in seen:
            seen.add(gene.id)
            by_protein.setdefault(_protein_text(gene.protein), []).append(gene.id)
    return by_protein


def _kept_hits(top, reference: ReferenceSet, evalue: float, top_hits: int) -> dict[int, list[tuple[int, float, float]]]:
    """One query's hits with E <= evalue, the ``top_hits`` best per reference genome (hits come sorted by score)."""
    per: dict[int, list[tuple[int, float, float]]] = {}
    for hit in top:
        if hit.evalue > evalue:
            continue
        row = int(_text(hit.name))
        kept = per.setdefault(int(reference.genome[row]), [])
        if len(kept) < top_hits:
            kept.append((row, float(hit.score), _identity(hit)))
    return per


def _text(name) -> str:
    return name.decode() if isinstance(name, bytes) else name


def _identity(hit) -> float:
    """Identical residues over the aligned columns of the best domain (0 when no alignment)."""
    try:
        ali = hit.best_domain.alignment
        line = ali.identity_sequence
    except Exception:  # pragma: no cover - a hit always has a best domain
        return 0.0
    if not line:
        return 0.0
    return sum(c.isalpha() for c in line) / len(line)


def genome_weights(homologs: Homologs, reference: ReferenceSet, *, close_identity: float = 0.5) -> np.ndarray:
    """w_r = 1 - fraction of searched query proteins whose best hit in genome r is >= close_identity identical."""
    n = max(len(homologs.searched), 1)
    close = np.zeros(len(reference.genomes))
    for per in homologs.hits.values():
        for r, hits in per.items():
            if hits and max(h[2] for h in hits) >= close_identity:
                close[r] += 1
    return 1.0 - close / n


# ------------------------------------------------------------------------------------------------ adjacency


@dataclass(frozen=True, eq=False)
class ConservedAdjacency(RebuiltFromFields):
    """Per pair: the weighted ``score``, the raw ``count`` of supporting reference genomes, and
    ``with_homologs`` (reference genomes holding homologs of both genes); ``weights`` per reference genome.
    Immutable (read-only arrays and mapping)."""

    score: np.ndarray
    count: np.ndarray
    with_homologs: np.ndarray
    weights: Mapping[str, float]
    seconds: float = 0.0

    def __post_init__(self) -> None:  # normalising the fields as built, never changing them later
        for name in ("score", "count", "with_homologs"):
            object.__setattr__(self, name, read_only(getattr(self, name)))
        object.__setattr__(self, "weights", MappingProxyType(dict(self.weights)))

    def as_array(self) -> np.ndarray:
        """(n, 2): score, count."""
        return np.stack([self.score, self.count.astype(np.float64)], axis=1)


def adjacency_from_homologs(pairs: Sequence[GenePair], homologs: Homologs, reference: ReferenceSet, *,
                            query_name: str | None = None, max_gap: int = 1, close_identity: float = 0.5,
                            genomes: Iterable[int] | None = None) -> ConservedAdjacency:
    """Score pairs from precomputed homologs; ``genomes`` restricts the vote to those reference genome indices."""
    sizes, circular = reference.scaffold_sizes()
    weights = genome_weights(homologs, reference, close_identity=close_identity)
    allowed = set(range(len(reference.genomes))) if genomes is None else set(genomes)
    scaffold_names = [(gi, s) for gi, g in enumerate(reference.genomes) for s in g.scaffolds]
    self_genome = {i for i, g in enumerate(reference.genomes) if query_name is not None and g.name == query_name}
    self_genome |= _query_copies(pairs, homologs, reference, scaffold_names)
    score = np.zeros(len(pairs))
    count = np.zeros(len(pairs), dtype=np.int64)
    both = np.zeros(len(pairs), dtype=np.int64)
    for k, pair in enumerate(pairs):
        hits_a = homologs.hits.get(pair.gene_a.id, {})
        hits_b = homologs.hits.get(pair.gene_b.id, {})
        for r in hits_a.keys() & hits_b.keys() & allowed:
            ha, hb = hits_a[r], hits_b[r]
            if r in self_genome:  # the query's own genome: only its other scaffolds are evidence
                ha = [h for h in ha if scaffold_names[reference.scaffold[h[0]]][1] != pair.scaffold]
                hb = [h for h in hb if scaffold_names[reference.scaffold[h[0]]][1] != pair.scaffold]
                if not ha or not hb:
                    continue
            both[k] += 1
            if _adjacent(ha, hb, reference, sizes, circular, max_gap):
                count[k] += 1
                score[k] += weights[r]
    return ConservedAdjacency(score, count, both, {g.name: float(w) for g, w in zip(reference.genomes, weights)},
                              homologs.seconds)


def _query_copies(pairs: Sequence[GenePair], homologs: Homologs, reference: ReferenceSet,
                  scaffold_names: list[tuple[int, str]]) -> set[int]:
    """Reference genomes that are the scored genome under another name (the same assembly from a renamed or
    decompressed file): most query genes with hits there hit themselves, a gene of the same scaffold name and
    coordinates. Matching by name alone let such a copy count every adjacent pair as conserved."""
    genes = {g.id: g for p in pairs for g in (p.gene_a, p.gene_b)}
    with_hits = np.zeros(len(reference.genomes), dtype=np.int64)
    itself = np.zeros(len(reference.genomes), dtype=np.int64)
    for gene_id, per in homologs.hits.items():
        gene = genes.get(gene_id)
        if gene is None:
            continue
        for r, hits in per.items():
            with_hits[r] += 1
            itself[r] += any(scaffold_names[reference.scaffold[row]][1] == gene.scaffold
                             and reference.start[row] == gene.start and reference.end[row] == gene.end
                             for row, _, _ in hits)
    return {int(r) for r in np.flatnonzero(2 * itself > with_hits)}


def _adjacent(ha, hb, reference: ReferenceSet, sizes, circular, max_gap: int) -> bool:
    for row_a, _, _ in ha:
        for row_b, _, _ in hb:
            if row_a == row_b or reference.scaffold[row_a] != reference.scaffold[row_b]:
                continue
            if reference.strand[row_a] != reference.strand[row_b]:
                continue
            gap = abs(int(reference.position[row_a]) - int(reference.position[row_b]))
            sc = int(reference.scaffold[row_a])
            if circular[sc]:
                gap = min(gap, int(sizes[sc]) - gap)
            if 1 <= gap <= max_gap + 1:
                return True
    return False


def conserved_adjacency(genome: Genome, pairs: Sequence[GenePair], reference: ReferenceSet, *, evalue: float = 1e-5,
                        threads: int = 1, max_gap: int = 1, top_hits: int = 3, close_identity: float = 0.5,
                        progress: Advance | None = None) -> ConservedAdjacency:
    """Conserved adjacency of each pair in the reference genomes (see the module docstring for the score).

    Only the proteins of the pairs' genes are searched (``len(unique genes)`` phmmer queries).
    """
    check_callbacks("conserved_adjacency", progress=progress)  # before the reference is read, in this name
    genes = [g for p in pairs for g in (p.gene_a, p.gene_b)]
    if genes and not any(g.protein for g in genes):
        raise DataError.naming(f"{genome.name}: the genes have no protein sequences; conserved adjacency needs them "
                               "(a GFF3 needs ", FASTA, ", a pairs TSV input cannot be used)")
    homologs = search_homologs(genes, reference, evalue=evalue, top_hits=top_hits, threads=threads, progress=progress)
    result = adjacency_from_homologs(pairs, homologs, reference, query_name=genome.name, max_gap=max_gap,
                                     close_identity=close_identity)
    _warn_code_mismatch(genome, reference, result.weights)
    return result


def _warn_code_mismatch(genome: Genome, reference: ReferenceSet, weights: dict[str, float]) -> None:
    """One warning naming the close relatives (weight < 0.5: most searched proteins have a close best hit there)
    read under other genetic codes than ``genome``: one of the two is probably read under the wrong code."""
    query = genetic_codes(genome)
    odd = [g for g in reference.genomes if g.genetic_codes and g.genetic_codes != query and weights[g.name] < 0.5]
    if not odd or not query:
        return
    more = f" (and {len(odd) - 1} more)" if len(odd) > 1 else ""
    log_naming(log, logging.WARNING,
               f"reference genome '{odd[0].name}'{more} was read under genetic code "
               f"{','.join(map(str, odd[0].genetic_codes))}, {genome.name} under {','.join(map(str, query))}, yet most "
               "of their proteins are close homologs: one of them is probably read under the wrong code (check ",
               ("genetic_code", "-g"), " / transl_table)")


# ------------------------------------------------------------------------------------------------ --explain


def explain(genome: Genome, pairs: Sequence[GenePair], reference: ReferenceSet | None = None, *, threads: int = 1,
            evalue: float = 1e-5, progress: Advance | None = None,
            groups: dict[str, str] | None = None) -> dict[str, np.ndarray]:
    """The evidence columns of `score --explain`, aligned with ``pairs``.

    ``spacer_llr``/``spacer_posterior``: calibration.SpacerModel fitted on the genome's own adjacent pairs (no
    labels), or per bin (``groups``: scaffold -> bin). With a ``reference``: ``conserved_adjacency`` (weighted
    score) and ``conserved_genomes`` (count).
    """
    from .calibration import calibrate_by_group, short_fragments
    from .pairs import adjacent_pairs

    check_callbacks("explain", progress=progress)  # without a reference it is never called: refused all the same
    features, _ = calibrate_by_group(adjacent_pairs(genome), pairs, groups, short_fragments(genome))
    columns: dict[str, np.ndarray] = {"spacer_llr": features[:, 0].astype(np.float64),
                                      "spacer_posterior": features[:, 1].astype(np.float64)}
    if reference is not None:
        ca = conserved_adjacency(genome, pairs, reference, evalue=evalue, threads=threads, progress=progress)
        columns["conserved_adjacency"] = ca.score
        columns["conserved_genomes"] = ca.count
    return columns
