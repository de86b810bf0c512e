#!/usr/bin/env bash
# The microfuse stages as a shell pipeline, on the M. genitalium G37 genome shipped in examples/data
# (and M. pneumoniae M129, shipped beside it, for analogs across genomes).
# Usage: bash examples/pipeline.sh [OUTDIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-microfuse-example}"
mkdir -p "$out"
gff="$here/data/mgenitalium_g37.gff.gz"
fna="$here/data/mgenitalium_g37.fna.gz"

# 1. one shot: genome -> scores + operons (default model, builtin views)
microfuse score "$gff" --fasta "$fna" -o "$out/scores.tsv" --operons-gff "$out/operons.gff3" --operons-tsv "$out/operons.tsv"

# 2. the same, stage by stage: pairs | embed | score
microfuse pairs "$gff" --fasta "$fna" --proteins "$out/genes.faa" > "$out/pairs.tsv"
microfuse embed "$out/pairs.tsv" --proteins "$out/genes.faa" --fasta "$fna" -o "$out/emb"
microfuse score "$out/pairs.tsv" --embeddings "$out/emb" --fused "$out/fused.npy" --genome-name mgenitalium_g37 \
  > "$out/scores.staged.tsv"

# 3. a bare assembly read from stdin: genes called with pyrodigal (genetic code 4 for Mycoplasma)
zcat "$fna" | microfuse score - -g 4 --operons-tsv "$out/operons.bare.tsv" > "$out/scores.bare.tsv"

# 4. analogs of every pair in another genome: M. pneumoniae M129, M. genitalium's closest sequenced relative
#    (one chromosome alone has no pair on another scaffold: index several genomes, --group-by genome)
microfuse score "$here/data/mpneumoniae_m129.gff.gz" --fasta "$here/data/mpneumoniae_m129.fna.gz" \
  --fused "$out/mpneumoniae.npy" --genome-name mpneumoniae_m129 -o "$out/scores.mpneumoniae.tsv"
microfuse retrieve build "$out/fused.npy" "$out/mpneumoniae.npy" --group-by genome -o "$out/index"
microfuse retrieve --index "$out/index" --k 5 > "$out/analogs.tsv"

echo "operons: $(($(grep -vc '^#' "$out/operons.tsv") - 1)); pairs: $(($(grep -vc '^#' "$out/scores.tsv") - 1))" >&2
