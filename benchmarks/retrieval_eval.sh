#!/usr/bin/env bash
# The paper's retrieval table (Table 6 layout) with the default model's fused vectors, neighbours always from
# another genome. (a) E. coli + pyrodigal's bundled test genomes labelled by the OG rule (a function of spacer
# and strand); (b) real known operons: E. coli (ODB) + M. pneumoniae (labelled pairs).
#   bash benchmarks/retrieval_eval.sh [SHARED_DATA] [WORKDIR]
set -euo pipefail
data="${1:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}"
work="${2:-$(mktemp -d)}"; mkdir -p "$work"
pyro="$(python -c 'import pyrodigal, pathlib; print(pathlib.Path(pyrodigal.__file__).parent / "tests" / "data")')"
eco="$data/ecoli_k12_mg1655"; mpn="$data/mpneumoniae_m129"
ecoli=(--fasta "$eco/GCF_000005845.2_ASM584v2_genomic.fna.gz" "$eco/GCF_000005845.2_ASM584v2_genomic.gff.gz")
score() { name=$1; shift; microfuse score -q -t 2 "$@" -o /dev/null --fused "$work/$name.npy" --genome-name "$name"; }

score ecoli_og "${ecoli[@]}" --label-rule og
for g in GCF_001457455.1_NCTC11397_genomic SRR492066 KK037166 MIIJ01000039; do
  score "${g}_og" "$pyro/$g.fna.gz" --label-rule og
done
microfuse retrieve build "$work"/*_og.npy -o "$work/index_og" --group-by genome -q
echo "## (a) OG-rule labels, E. coli + pyrodigal test genomes"
microfuse retrieve evaluate --index "$work/index_og" -q -o -

score ecoli_known "${ecoli[@]}" --operons "$eco/odb4_known_operons_ecoli.tsv"
score mpn_known --fasta "$mpn/GCF_000027345.1_ASM2734v1_genomic.fna.gz" "$mpn/GCF_000027345.1_ASM2734v1_genomic.gff.gz" \
  --labels "$mpn/labelled_pairs_mpneumoniae.csv"
microfuse retrieve build "$work/ecoli_known.npy" "$work/mpn_known.npy" -o "$work/index_known" --group-by genome -q
echo "## (b) known operons, E. coli (ODB) + M. pneumoniae"
microfuse retrieve evaluate --index "$work/index_known" -q -o -
