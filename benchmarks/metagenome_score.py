"""Peak memory and time of `microfuse score --bins` on a ~20 Mb multi-genome draft assembly made of real genomes.

Every genome of --data (FASTA and the L. pneumophila GenBank) is cut into MEGAHIT-style contigs of 1-60 kbp
(log-uniform), about half reverse-complemented, shuffled together; a contig2bin table puts each genome's contigs in
one bin. Genomes are repeated (each copy a different cut) until the assembly reaches --target-mb. Writes the
assembly and table to --out, then prints the command to measure:

    nice python benchmarks/metagenome_score.py --data ../shared/data --out /tmp/mg
    nice /usr/bin/time -v microfuse score /tmp/mg/assembly.fna --bins /tmp/mg/contig2bin.tsv -t 2 -o /tmp/mg/scores.tsv
"""

from __future__ import annotations

import argparse
import gzip
import math
import random
from pathlib import Path

from Bio import SeqIO


def genomes(data: Path):
    for path in sorted(data.glob("*/*.fna.gz")) + sorted(data.glob("*/*.gbk.gz")):
        kind = "fasta" if path.name.endswith(".fna.gz") else "genbank"
        with gzip.open(path, "rt") as handle:
            for record in SeqIO.parse(handle, kind):
                yield path.name.split(".")[0], str(record.seq).upper()


def contigs(sequence: str, rng: random.Random):
    start = 0
    while start < len(sequence):
        length = int(math.exp(rng.uniform(math.log(1_000), math.log(60_000))))
        piece = sequence[start:start + length]
        start += length
        if rng.random() < 0.5:
            piece = piece[::-1].translate(str.maketrans("ACGTN", "TGCAN"))
        yield piece


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--target-mb", type=float, default=20.0)
    args = parser.parse_args()
    rng, pieces, total, copy = random.Random(0), [], 0, 0
    source = list(genomes(args.data))
    while total < args.target_mb * 1e6:
        copy += 1
        for name, sequence in source:
            for piece in contigs(sequence, rng):
                pieces.append((f"{name}.{copy}", piece))
                total += len(piece)
    rng.shuffle(pieces)
    args.out.mkdir(parents=True, exist_ok=True)
    with open(args.out / "assembly.fna", "w") as fna, open(args.out / "contig2bin.tsv", "w") as bins:
        for i, (bin_name, piece) in enumerate(pieces):
            fna.write(f">k141_{i} flag=1 multi=5.0 len={len(piece)}\n{piece}\n")
            bins.write(f"k141_{i}\t{bin_name}\n")
    print(f"{len(pieces)} contigs, {total} bp, {len({b for b, _ in pieces})} bins in {args.out}")


if __name__ == "__main__":
    main()
