#!/usr/bin/env bash
# The GPU checks in one short run (under 10 minutes on one H200), for a session that has a GPU for a few minutes:
# the default model rebuilt on the GPU machine's processor, the foundation views' throughput by precision and batch
# size, CPU against GPU for the views and the fusion head, FAISS on the GPU against the CPU where the FAISS build has
# GPU support, then the test suite with a GPU visible.
# Run from the repository root; each log also lands in $OUT (default: a new temporary folder).
#   bash benchmarks/gpu_checks.sh [SHARED_DATA]
# The package's dependencies must be importable by python3 itself, not through PYTHONPATH alone: many tests start
# new interpreters with their own PYTHONPATH (a first run installed wheels with --target and got "No module named
# 'Bio'" in them), at the versions pyproject asks for (the H200 image of 2026-11 had transformers 5.17.0 and
# threadpoolctl 3.7.0; transformers must be 5.20 or newer). The suite needs pytest-xdist. FAISS's PyPI GPU wheels
# need CUDA 12's cuBLAS.
set -uo pipefail
export MICROFUSE_SHARED_DATA="${1:-${MICROFUSE_SHARED_DATA:-$(cd "$(dirname "$0")/../.." && pwd)/shared/data}}"
export PYTHONUNBUFFERED=1 HF_HUB_OFFLINE=1
out="${OUT:-$(mktemp -d)}"; work="$(mktemp -d)"
step() { echo "== $* [$(date +%T)]"; }

step versions
nvidia-smi -L
python3 -c "import sys, torch, transformers, numpy, faiss, threadpoolctl as t
print('python', sys.version.split()[0], 'torch', torch.__version__, 'transformers', transformers.__version__,
      'numpy', numpy.__version__, 'faiss', faiss.__version__, 'threadpoolctl', t.__version__,
      'cuda', torch.cuda.is_available(), 'faiss GPUs', faiss.get_num_gpus())"

step "the default model rebuilt on this machine's processor (a second x86-64 kind: PORTABLE_ARITHMETIC's claim)"
timeout 180 python3 -m microfuse_cli.train_default --data "$MICROFUSE_SHARED_DATA" -o "$work/default" 2>&1 | tail -1
for name in model.safetensors config.json; do
  cmp "$work/default/$name" microfuse_cli/data/default_model/$name && echo "$name: byte for byte"
done 2>&1 | tee "$out/rebuild.log"

step "throughput: embed's defaults, then other batches and precisions"
timeout 120 python3 benchmarks/embed_throughput.py --device cuda --repeats 2 2>&1 | tee "$out/throughput.log"
for batch in 32000 128000; do
  timeout 60 python3 benchmarks/embed_throughput.py --device cuda --skip-bacformer --max-batch-residues "$batch" 2>&1 | tee -a "$out/throughput.log"
done
timeout 60 python3 benchmarks/embed_throughput.py --device cuda --skip-bacformer --dtype bfloat16 2>&1 | tee -a "$out/throughput.log"
timeout 60 python3 benchmarks/embed_throughput.py --device cuda --skip-prostt5 --max-batch-residues 4000 2>&1 | tee -a "$out/throughput.log"

step "CPU against GPU: views and fusion head"
timeout 150 python3 benchmarks/gpu_parity.py --device cuda --epochs 20 2>&1 | grep -v "Writing model" | tee "$out/parity.log"

step "FAISS: the same index and search on the CPU and the GPU"
if python3 -c "import faiss, sys; sys.exit(faiss.get_num_gpus() == 0)"; then
  eco="$MICROFUSE_SHARED_DATA/ecoli_k12_mg1655/GCF_000005845.2_ASM584v2_genomic"
  lmo="$MICROFUSE_SHARED_DATA/lmonocytogenes_egde"
  python3 -m microfuse_cli score -q "$eco.gff.gz" --fasta "$eco.fna.gz" -o /dev/null --fused "$work/ecoli.npy"
  python3 -m microfuse_cli score -q "$lmo/lmonocytogenes_egde.gff.gz" --fasta "$lmo/GCA_000196035.1_AL591824.1.fna.gz" \
    -o /dev/null --fused "$work/lmono.npy"
  for device in cpu cuda:0; do
    for kind in flat ivf; do
      /usr/bin/time -f "$kind $device build %e s" python3 -m microfuse_cli retrieve build -q "$work/ecoli.npy" \
        "$work/lmono.npy" --group-by genome -o "$work/$kind-$device" --index-type "$kind" --device "$device"
      /usr/bin/time -f "$kind $device search %e s" python3 -m microfuse_cli retrieve -q --index "$work/$kind-$device" \
        --k 10 --device "$device" -o "$work/$kind-$device.tsv"
    done
  done
  python3 - "$work" <<'PY' 2>&1 | tee "$out/faiss.log"
import csv, sys
from pathlib import Path
def hits(path):
    """Each query's set of neighbours (pair id and genome)."""
    rows = {}
    for row in csv.DictReader((line for line in open(path) if not line.startswith("#")), delimiter="\t"):
        rows.setdefault((row["query_genome"], row["query"]), set()).add((row["target_genome"], row["target"]))
    return rows
work = Path(sys.argv[1])
for kind in ("flat", "ivf"):
    cpu, gpu = hits(work / f"{kind}-cpu.tsv"), hits(work / f"{kind}-cuda:0.tsv")
    same = sum(cpu[q] == gpu.get(q) for q in cpu)
    print(f"{kind}: {same} of {len(cpu)} queries have the same neighbour set on the GPU as on the CPU")
PY
else
  echo "this FAISS build sees no GPU: retrieval on the GPU not checked"
fi

step "the test suite with a GPU visible"
timeout 360 python3 -m pytest -q -n "$(nproc)" -p no:cacheprovider -rfE --tb=line tests > "$out/pytest.log" 2>&1
echo "pytest exit $?"; grep -E "^(FAILED|ERROR)| passed| failed" "$out/pytest.log" | cut -c1-240 | tail -60
step done
