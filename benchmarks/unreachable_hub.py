"""How long `microfuse embed --context-view bacformer` / `--protein-view prostt5` takes to say that its hub model
is out of reach (no network, empty Hugging Face cache), against `microfuse --version` (the floor: Python and the CLI
starting). The hub is a local port that refuses connections; nothing leaves the machine.

    python benchmarks/unreachable_hub.py --data ../shared/data [--repeats 3]

Run it with PYTHONPATH at another checkout to measure that one. Each run is a fresh process; best of N.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

GENOMES = {  # name -> (annotation or assembly, sequence or None)
    "M. genitalium GFF3 (476 genes)": ("panel/GCF_000027325.1_ASM2732v1_genomic.gff.gz",
                                       "panel/GCF_000027325.1_ASM2732v1_genomic.fna.gz"),
    "E. coli bare FASTA (gene calling)": ("ecoli_k12_mg1655/GCF_000005845.2_ASM584v2_genomic.fna.gz", None),
}
VIEWS = {"bacformer": ["--context-view", "bacformer"], "prostt5": ["--protein-view", "prostt5"]}


def run(args: list[str], env: dict[str, str], cwd: str) -> tuple[float, int, str]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "microfuse_cli", *args], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=600)
    return time.perf_counter() - start, proc.returncode, proc.stderr


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--repeats", type=int, default=3)
    opts = parser.parse_args()
    with socket.socket() as closed_port, tempfile.TemporaryDirectory() as work:
        closed_port.bind(("127.0.0.1", 0))
        env = {k: v for k, v in os.environ.items() if not k.startswith("HF_")}
        env.update(HF_ENDPOINT=f"http://127.0.0.1:{closed_port.getsockname()[1]}", HF_HOME=f"{work}/hf")
        floor = min(run(["--version"], env, work)[0] for _ in range(opts.repeats))
        print(f"| run | wall s (best of {opts.repeats}) | exit | stderr lines before the error |")
        print("|---|---|---|---|")
        print(f"| microfuse --version | {floor:.2f} | 0 | - |")
        for name, (genome, fasta) in GENOMES.items():
            for view, flags in VIEWS.items():
                args = ["embed", str(opts.data / genome), "-o", f"{work}/emb", *flags]
                if fasta:
                    args += ["--fasta", str(opts.data / fasta)]
                results = [run(args, env, work) for _ in range(opts.repeats)]
                wall, code, err = min(results)
                before = len(err.splitlines()) - 1
                print(f"| {name}, {view} | {wall:.2f} | {code} | {before} |")


if __name__ == "__main__":
    main()
