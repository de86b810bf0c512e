"""Throughput and peak memory of the foundation-model views at their real sizes (random weights).

Architectures (weights are random: speed and memory do not depend on their values):

- ProstT5 encoder = ProtT5-XL encoder: d_model 1024, 24 layers, d_ff 16384, 32 heads, d_kv 128, ReLU FFN,
  vocabulary 150 (about 1.2 B parameters in the encoder).
- ESM-2 35M (``facebook/esm2_t12_35M_UR50D``): hidden 480, 12 layers, 20 heads, FFN 1920, rotary positions.
- Bacformer base: hidden 480, 12 layers, 8 heads, FFN 1280. 12 layers is inferred from the published 50.9 M
  parameter count (12 x 2.15 M layers + 0.72 M input layer + 24.3 M masked-family head = 50.85 M).

Every model runs through the production embedders (``ProstT5Embedder``/``BacformerEmbedder.from_modules``) on real
E. coli K-12 proteins. Model FLOPs are ``2 * matmul parameters * tokens`` (attention score FLOPs left out, as usual
for MFU); MFU divides the achieved rate by the device's peak: the vendor dense bf16/fp16 figure on a known GPU,
and on CPU the rate this machine reaches on a large float32 matmul (so the CPU "MFU" is relative to measured
matmul speed, not a datasheet number).

Usage::

    python benchmarks/embed_throughput.py                  # CPU: a handful of proteins, about 1-2 minutes
    python benchmarks/embed_throughput.py --device cuda --n-proteins 512
"""

from __future__ import annotations

import argparse
import gc
import resource
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))

import tiny_models  # noqa: E402  (real E. coli proteins and the real tokenizer vocabularies)

from microfuse_cli.views.bacformer import BacformerConfig, BacformerEmbedder, BacformerModel  # noqa: E402
from microfuse_cli.views.prostt5 import ProstT5Embedder  # noqa: E402

#: Dense (no sparsity) tensor-core peaks in FLOP/s for half precision, by a substring of the device name.
GPU_PEAK_HALF = {"H200": 989e12, "H100 SXM": 989e12, "H100 NVL": 835e12, "H100": 756e12, "A100": 312e12,
                 "L40S": 362e12, "A10": 125e12, "L4": 121e12, "V100": 125e12, "T4": 65e12}


def matmul_params(model: torch.nn.Module) -> int:
    """Parameters that take part in matmuls per token (Linear weights; embeddings excluded)."""
    return sum(m.weight.numel() for m in model.modules() if isinstance(m, torch.nn.Linear))


def rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def peak_flops(device: torch.device, dtype: torch.dtype) -> tuple[float, str]:
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, value in GPU_PEAK_HALF.items():
            if key in name:
                scale = 1.0 if dtype in (torch.float16, torch.bfloat16) else 0.5  # TF32 is about half
                return value * scale, f"{name} datasheet"
        return float("nan"), f"{name} (unknown peak)"
    n = 2048
    a, b = torch.randn(n, n), torch.randn(n, n)
    a @ b
    t = time.perf_counter()
    reps = 5
    for _ in range(reps):
        a @ b
    rate = 2 * n**3 * reps / (time.perf_counter() - t)
    return rate, f"measured fp32 {n}x{n} matmul, {torch.get_num_threads()} threads"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(device: torch.device, fn, warm_up, repeats: int = 1) -> tuple[float, object]:
    warm_up()  # a small call first: thread pools, allocator, kernel selection
    sync(device)
    t = time.perf_counter()
    for _ in range(repeats):
        out = fn()
    sync(device)
    return (time.perf_counter() - t) / repeats, out


def report(name: str, *, tokens: int, seconds: float, params: int, peak: float, unit: str, mem: str) -> None:
    flops = 2 * params * tokens / seconds
    mfu = flops / peak if peak == peak else float("nan")
    print(
        f"{name:<26} {tokens / seconds:>10.1f} {unit}/s  {seconds:7.2f} s  "
        f"{flops / 1e12:7.3f} TFLOP/s  MFU {100 * mfu:5.1f}%  {mem}"
    )


def mem_note(device: torch.device) -> str:
    if device.type == "cuda":
        return f"peak GPU {torch.cuda.max_memory_allocated(device) / 1024**3:.2f} GiB"
    return f"peak RSS {rss_gib():.2f} GiB"


def batch_option(args) -> dict:
    """``max_batch_residues`` when given, else none: each model then runs its own default, as `microfuse embed` does."""
    return {} if args.max_batch_residues is None else {"max_batch_residues": args.max_batch_residues}


def bench_prostt5(args, device, dtype, proteins, peak) -> None:
    from transformers import T5Config, T5EncoderModel

    config = T5Config(vocab_size=150, d_model=1024, d_kv=128, d_ff=16384, num_layers=args.prostt5_layers,
                      num_heads=32, feed_forward_proj="relu", is_encoder_decoder=False, use_cache=False)
    t = time.perf_counter()
    # Allocate without the (slow, 1.2 B-parameter) default initialisation, then fill with small random values.
    with torch.device("meta"):
        model = T5EncoderModel(config)
    model = model.to_empty(device=device).to(dtype)
    generator = torch.Generator(device=device).manual_seed(0)
    with torch.no_grad():
        for param in model.parameters():
            param.uniform_(-0.02, 0.02, generator=generator)
    build = time.perf_counter() - t
    emb = ProstT5Embedder.from_modules(model, tiny_models.prostt5_tokenizer(), device=str(device), dtype=dtype,
                                       label="prostt5-xl-random", **batch_option(args))
    params = matmul_params(model)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds, out = timed(device, lambda: emb.embed(proteins), lambda: emb.embed([proteins[0][:32]]), args.repeats)
    residues = sum(len(p) for p in proteins)
    print(f"  ProstT5 encoder: {params / 1e9:.2f} B matmul params, {args.prostt5_layers} layers, built in {build:.1f} s; "
          f"{len(proteins)} proteins, {residues} residues, {str(dtype).removeprefix('torch.')}, "
          f"batches of at most {emb.max_batch_residues} padded residues, "
          f"attention {getattr(model.config, '_attn_implementation', None)}")
    report("ProstT5 (T5-XL encoder)", tokens=residues, seconds=seconds, params=params, peak=peak, unit="res",
           mem=mem_note(device))
    assert np.isfinite(out).all()
    del emb, model
    gc.collect()
    if device.type == "cuda":
        torch.cuda.empty_cache()


def bench_bacformer(args, device, dtype, proteins, peak) -> None:
    from transformers import EsmConfig, EsmModel, EsmTokenizer

    with tempfile.TemporaryDirectory() as tmp:
        vocab = Path(tmp) / "vocab.txt"
        vocab.write_text("\n".join(tiny_models.ESM_VOCAB) + "\n")
        tokenizer = EsmTokenizer(str(vocab))
    esm_config = EsmConfig(vocab_size=33, hidden_size=480, num_hidden_layers=12, num_attention_heads=20,
                           intermediate_size=1920, max_position_embeddings=1026, position_embedding_type="rotary",
                           token_dropout=True, emb_layer_norm_before=False, mask_token_id=32, pad_token_id=1)
    torch.manual_seed(0)
    esm = EsmModel(esm_config, add_pooling_layer=False)
    bac = BacformerModel(BacformerConfig(num_hidden_layers=12))
    emb = BacformerEmbedder.from_modules(bac, esm, tokenizer, device=str(device), dtype=dtype,
                                         label="random", **batch_option(args))
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds, vectors = timed(device, lambda: emb.embed_proteins(proteins),
                             lambda: emb.embed_proteins([proteins[0][:32]]), args.repeats)
    tokens = sum(min(len(p), 1022) + 2 for p in proteins)
    print(f"  ESM-2 35M: {matmul_params(esm) / 1e6:.1f} M matmul params; {len(proteins)} proteins, {tokens} tokens, "
          f"batches of at most {emb.max_batch_residues} padded residues")
    report("ESM-2 35M (per protein)", tokens=tokens, seconds=seconds, params=matmul_params(esm), peak=peak,
           unit="tok", mem=mem_note(device))

    # Bacformer over one full window of genome context (random ESM-like vectors: cost does not depend on them).
    n = args.bacformer_tokens - 3  # one contig: CLS + proteins + SEP + END
    rng = np.random.default_rng(0)
    genome = rng.standard_normal((n, 480)).astype(np.float32)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    seconds, out = timed(device, lambda: emb.contextualise(genome, [n]),
                         lambda: emb.contextualise(genome[:64], [64]), args.repeats)
    print(f"  Bacformer: {matmul_params(bac) / 1e6:.1f} M matmul params; one window of {args.bacformer_tokens} tokens")
    report("Bacformer (genome window)", tokens=n, seconds=seconds, params=matmul_params(bac), peak=peak,
           unit="prot", mem=mem_note(device))
    assert np.isfinite(out).all() and np.isfinite(vectors).all()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--device", default="auto", help="auto, cpu, cuda or cuda:N")
    parser.add_argument("--dtype", default=None, help="float32, float16 or bfloat16 (default: each view's own, as `microfuse embed` runs it: on GPU "
                             "ProstT5 float16 (its model card), Bacformer bfloat16 (its README); float32 on CPU)")
    parser.add_argument("--n-proteins", type=int, default=None,
                        help="E. coli proteins to embed (default: 2 for ProstT5 and 16 for ESM-2 on CPU, 512 on GPU)")
    parser.add_argument("--max-residues", type=int, default=None,
                        help="cut proteins to this length (default: 128 on CPU, none on GPU)")
    parser.add_argument("--max-batch-residues", type=int, default=None,
                        help="padded residues per batch, both models (default: each model's own, as `microfuse embed`: "
                             "ProstT5 4000; ESM-2 32000 on GPU, 8000 on CPU)")
    parser.add_argument("--bacformer-tokens", type=int, default=None, help="window size (default: 1000 CPU, 6000 GPU)")
    parser.add_argument("--prostt5-layers", type=int, default=24, help="encoder layers (24 = ProstT5)")
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--skip-prostt5", action="store_true")
    parser.add_argument("--skip-bacformer", action="store_true")
    args = parser.parse_args(argv)

    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cuda" if args.device == "auto" and torch.cuda.is_available() else
                          ("cpu" if args.device == "auto" else args.device))
    gpu = device.type == "cuda"
    from microfuse_cli.views.hf import resolve_dtype
    from microfuse_cli.views.prostt5 import GPU_DTYPE as PROSTT5_GPU_DTYPE

    bacformer_dtype = resolve_dtype(args.dtype, device)
    prostt5_dtype = resolve_dtype(args.dtype, device, gpu_default=PROSTT5_GPU_DTYPE)
    args.bacformer_tokens = args.bacformer_tokens or (6000 if gpu else 1000)
    cap = args.max_residues if args.max_residues is not None else (None if gpu else 128)
    n_prost = args.n_proteins or (512 if gpu else 2)
    n_esm = args.n_proteins or (512 if gpu else 16)
    proteins = [p[:cap] if cap else p for p in tiny_models.ecoli_proteins(max(n_prost, n_esm))]

    peak, peak_src = peak_flops(device, prostt5_dtype)  # float16 and bfloat16 share one tensor-core peak
    names = {view: str(dt).removeprefix("torch.") for view, dt in (("Bacformer", bacformer_dtype), ("ProstT5", prostt5_dtype))}
    print(f"device {device} ({torch.cuda.get_device_name(device) if gpu else f'{torch.get_num_threads()} CPU threads'}), "
          f"dtype {', '.join(f'{view} {name}' for view, name in names.items())}, torch {torch.__version__}; "
          f"peak {peak / 1e12:.3f} TFLOP/s ({peak_src})")
    # Smaller models first, so that the CPU peak RSS of each line is its own (RSS peaks only grow).
    if not args.skip_bacformer:
        bench_bacformer(args, device, bacformer_dtype, proteins[:n_esm], peak)
    if not args.skip_prostt5:
        bench_prostt5(args, device, prostt5_dtype, proteins[:n_prost], peak)
    return 0


if __name__ == "__main__":
    sys.exit(main())
