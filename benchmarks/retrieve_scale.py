"""Scale benchmark for microfuse_cli.retrieve: build time, query throughput, peak memory and recall@10.

Synthetic *clustered* vectors of the fused dimension (512, float32) stand in for fused pair vectors: each row is
``A @ (centre_c + 0.5 * z) + 0.15 * e`` with a random 64 -> 512 map ``A``, one of ~n/1000 cluster centres ``c``, and
Gaussian ``z`` (64-d) and ``e`` (512-d), so the data has a low intrinsic dimension like learned embeddings, not
uniform noise. Rows come in scaffolds of 16 consecutive pairs; every search excludes the query's own scaffold, as
``microfuse retrieve`` does. Queries are indexed pairs drawn at random; recall@10 is measured against the exact
answer (brute force with the same exclusion).

``--dim 128`` gives 128-d vectors (the default model's fused dimension) from the same 64-d latent clusters.

Every size runs in its own child process, so "peak RSS" (resource.getrusage ru_maxrss) belongs to that size; the
search peak is the high-water mark after it was reset (``/proc/self/clear_refs``) once the index was built. At 1e7
(IVF-PQ, re-ranked with ``--refine``: by default fp16 up to 256-d, sq8 beyond) the vectors are generated chunk by chunk and appended
(``PairIndex.append``, as ``retrieve build --append`` does), the quantisers being trained on the first chunk, and
the exact answer is accumulated over the same chunks, so the full matrix (20 GB at 512-d) never exists.

Usage::

    python benchmarks/retrieve_scale.py                       # 1e5, 1e6, 1e7
    python benchmarks/retrieve_scale.py --sizes 100000 --queries 500   # quick
    python benchmarks/retrieve_scale.py --sizes 10000000 --dim 128 --nlist 2048 --nprobe 8,16 --k-factor 1,2,4,8
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

DIM = 512
LATENT = 64
SCAFFOLD = 16
CHUNK = 250_000
K = 10


class Generator:
    """Deterministic clustered vectors; rows [start, stop) can be generated independently (chunk-seeded)."""

    def __init__(self, n: int, seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.n = n
        self.seed = seed
        self.clusters = max(100, n // 1000)
        self.centres = rng.standard_normal((self.clusters, LATENT)).astype(np.float32)
        self.mix = (rng.standard_normal((LATENT, DIM)) / math.sqrt(LATENT)).astype(np.float32)

    def rows(self, start: int, stop: int) -> np.ndarray:
        out = np.empty((stop - start, DIM), np.float32)
        for c0 in range(start - start % CHUNK, stop, CHUNK):
            block = self._chunk(c0 // CHUNK)
            lo, hi = max(start, c0), min(stop, c0 + CHUNK)
            out[lo - start : hi - start] = block[lo - c0 : hi - c0]
        return out

    def pick(self, rows: np.ndarray) -> np.ndarray:
        """Rows at arbitrary positions, each chunk generated once."""
        out = np.empty((len(rows), DIM), np.float32)
        for c in np.unique(rows // CHUNK):
            sel = rows // CHUNK == c
            out[sel] = self._chunk(int(c))[rows[sel] - int(c) * CHUNK]
        return out

    def _chunk(self, c: int) -> np.ndarray:
        rng = np.random.default_rng([self.seed, c])
        m = min(CHUNK, self.n - c * CHUNK)
        latent = self.centres[rng.integers(0, self.clusters, m)]
        latent += 0.5 * rng.standard_normal((m, LATENT), dtype=np.float32)
        x = latent @ self.mix
        x += 0.15 * rng.standard_normal((m, DIM), dtype=np.float32)
        return x


TEXT_IDS = False


def ids_for(start: int, stop: int):
    """Pair ids of rows [start, stop): integers, or with ``--text-ids`` text like ``microfuse score`` writes
    (locus-tag pair ids, RefSeq-style scaffold and assembly names), built from Python strings as a table read
    from disk would be."""
    from microfuse_cli.retrieve import PairIds

    rows = np.arange(start, stop, dtype=np.int64)
    if not TEXT_IDS:
        return PairIds(rows, rows // SCAFFOLD, rows // 2000)
    pair_id = np.array([f"RS_{r:08d}|RS_{r + 1:08d}" for r in rows.tolist()], dtype=object)
    scaffold = np.array([f"NZ_CP{r // SCAFFOLD:07d}.1" for r in rows.tolist()], dtype=object)
    genome = np.array([f"GCF_{r // 2000:09d}.1" for r in rows.tolist()], dtype=object)
    return PairIds(pair_id, scaffold, genome)


def groups_of(rows: np.ndarray) -> np.ndarray:
    """The scaffold of each row, as :func:`ids_for` names it."""
    if not TEXT_IDS:
        return rows // SCAFFOLD
    return np.array([f"NZ_CP{r // SCAFFOLD:07d}.1" for r in rows.tolist()], dtype=object)


def peak_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def reset_peak() -> bool:
    """Reset this process's RSS high-water mark (VmHWM); False where the kernel does not allow it."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
        return True
    except OSError:
        return False


def hwm_gib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024**2
    return float("nan")


class ExactTopK:
    """Running exact top-k (cosine, own scaffold excluded) of fixed queries over database chunks."""

    def __init__(self, queries: np.ndarray, qrows: np.ndarray) -> None:
        self.q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
        self.qgroup = qrows // SCAFFOLD
        self.sim = np.full((len(queries), K), -np.inf, np.float32)
        self.idx = np.full((len(queries), K), -1, np.int64)

    def update(self, x: np.ndarray, start: int) -> None:
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        for s in range(0, len(x), 50_000):
            sim = self.q @ x[s : s + 50_000].T
            rows = np.arange(start + s, start + s + sim.shape[1])
            sim[self.qgroup[:, None] == (rows // SCAFFOLD)[None, :]] = -np.inf
            top = np.argpartition(-sim, K, axis=1)[:, :K] if sim.shape[1] > K else np.tile(np.arange(sim.shape[1]), (len(sim), 1))
            cand_sim = np.concatenate([self.sim, np.take_along_axis(sim, top, axis=1)], axis=1)
            cand_idx = np.concatenate([self.idx, rows[top]], axis=1)
            best = np.argsort(-cand_sim, axis=1, kind="stable")[:, :K]
            self.sim = np.take_along_axis(cand_sim, best, axis=1)
            self.idx = np.take_along_axis(cand_idx, best, axis=1)


def recall(found: np.ndarray, truth: np.ndarray) -> float:
    hits = sum(len(np.intersect1d(f[f >= 0], t[t >= 0])) for f, t in zip(found, truth))
    return hits / truth.size


def timed_search(index, q, groups, **kw):
    index.search(q[:50], groups[:50], K, **kw)  # warm-up (page-in, thread pools)
    t0 = time.perf_counter()
    res = index.search(q, groups, K, **kw)
    return res, time.perf_counter() - t0


NLIST_OVERRIDE: int | None = None
REFINE: str | None = None
PQ_M: int | None = None
PQ_NBITS: int | None = None
K_FACTORS = [4]
STREAM = False


def pq_sweep(index, queries, groups, truth, nprobes, threads, base, build, build_peak) -> list[dict]:
    """One row per (nprobe, k_factor) of a (refined) IVF-PQ index; RSS high-water mark reset before searching."""
    rows = []
    reset = reset_peak()
    factors = K_FACTORS if index.refined else [1]
    for nprobe in nprobes:
        for kf in factors:
            kw = {"k_factor": kf} if index.refined else {}
            res, dt = timed_search(index, queries, groups, nprobe=nprobe, threads=threads, **kw)
            code = index.params["pq_m"] * index.params["pq_nbits"] // 8
            layout = "fs" if index.params.get("fast_scan") else ""
            settings = f"nlist={index.params['nlist']} pq={code}B{layout} refine={index.params.get('refine', 'none')} nprobe={nprobe}"
            if index.refined:
                settings += f" k_factor={kf}"
            rows.append(base | {"index": "ivfpq", "settings": settings, "build_s": build, "qps": len(queries) / dt,
                                "recall10": recall(res.target, truth), "peak_gib": build_peak,
                                "search_peak_gib": hwm_gib() if reset else float("nan"),
                                "bytes_per_pair": index.bytes_per_pair})
    return rows


def run_size(n: int, nq: int, threads: int, kinds: list[str], nprobes: list[int], efs: list[int], device: str) -> list[dict]:
    from microfuse_cli.retrieve import PairIndex

    rows_out: list[dict] = []
    gen = Generator(n)
    rng = np.random.default_rng(1)
    qrows = np.sort(rng.choice(n, size=min(nq, n), replace=False))
    base = {"n": n, "dim": DIM, "queries": len(qrows), "threads": threads, "device": device}

    if n > 4_000_000 or STREAM:  # IVF-PQ from chunks generated on the fly
        first = min(n, CHUNK)
        x0 = gen.rows(0, first)
        t0 = time.perf_counter()
        nlist = NLIST_OVERRIDE or int(round(4 * math.sqrt(n)))
        index = PairIndex.build(x0, ids_for(0, first), index="ivfpq", nlist=nlist, train_sample=min(first, 64 * nlist),
                                refine=REFINE, pq_m=PQ_M, pq_nbits=PQ_NBITS, device=device, threads=threads)
        queries = gen.pick(qrows)
        exact = ExactTopK(queries, qrows)
        exact.update(x0, 0)
        t_exact = 0.0
        del x0
        for start in range(first, n, CHUNK):
            x = gen.rows(start, min(n, start + CHUNK))
            index.append(x, ids_for(start, start + len(x)), threads=threads)
            t1 = time.perf_counter()
            exact.update(x, start)
            t_exact += time.perf_counter() - t1
            print(f"# {start + len(x)} of {n} rows added, {time.perf_counter() - t0:.0f} s, peak {peak_gib():.2f} GiB",
                  file=sys.stderr, flush=True)
        build = time.perf_counter() - t0 - t_exact
        x = None  # the last chunk (0.5 GB at 512-d): `retrieve search` holds no vectors but its queries
        print(f"# built n={n} in {build:.0f} s (+{t_exact:.0f} s exact search), peak {peak_gib():.2f} GiB", file=sys.stderr, flush=True)
        return pq_sweep(index, queries, groups_of(qrows), exact.idx, nprobes, threads, base, build, peak_gib())

    x = gen.rows(0, n)
    ids = ids_for(0, n)
    queries = x[qrows]
    groups = groups_of(qrows)
    t0 = time.perf_counter()
    flat = PairIndex.build(x, ids, index="flat", device=device, threads=threads)
    build = time.perf_counter() - t0
    res, dt = timed_search(flat, queries, groups, threads=threads)
    truth = res.target
    rows_out.append(base | {"index": "flat", "settings": "exact", "build_s": build, "qps": len(qrows) / dt,
                            "recall10": 1.0, "peak_gib": peak_gib(), "bytes_per_pair": flat.bytes_per_pair})
    check = ExactTopK(queries[:100], qrows[:100])  # sanity: the flat index agrees with numpy brute force
    check.update(x, 0)
    rows_out[-1]["recall10"] = recall(truth[:100], check.idx)
    del flat
    for kind in kinds:
        if kind == "flat":
            continue
        t0 = time.perf_counter()
        options = {"refine": REFINE, "pq_m": PQ_M, "pq_nbits": PQ_NBITS} if kind == "ivfpq" else {}
        if NLIST_OVERRIDE and kind in ("ivf", "ivfpq"):
            options["nlist"] = NLIST_OVERRIDE
        index = PairIndex.build(x, ids, index=kind, device=device, threads=threads, **options)
        build = time.perf_counter() - t0
        if kind == "ivfpq":
            rows_out += pq_sweep(index, queries, groups, truth, nprobes, threads, base, build, peak_gib())
            del index
            continue
        if kind == "hnsw":
            sweep = [("efSearch", ef) for ef in efs]
        else:
            sweep = [("nprobe", p) for p in nprobes]
        for name, value in sweep:
            res, dt = timed_search(index, queries, groups, threads=threads, **{name: value})
            settings = f"{name}={value}"
            if "nlist" in index.params:
                settings = f"nlist={index.params['nlist']} " + settings
            if "pq_m" in index.params:
                settings += f" m={index.params['pq_m']}"
            if kind == "hnsw":
                settings = f"M={index.params['hnsw_m']} " + settings
            rows_out.append(base | {"index": kind, "settings": settings, "build_s": build, "qps": len(qrows) / dt,
                                    "recall10": recall(res.target, truth), "peak_gib": peak_gib(),
                                    "bytes_per_pair": index.bytes_per_pair})
        del index
    return rows_out


def main(argv=None) -> int:
    global DIM, REFINE, PQ_M, PQ_NBITS, K_FACTORS, STREAM, CHUNK, NLIST_OVERRIDE, TEXT_IDS
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="100000,1000000,10000000", help="comma-separated database sizes")
    ap.add_argument("--queries", type=int, default=2000, help="queries per size (default 2000)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--kinds", default=None, help="index kinds below 4e6 (default: flat,ivf,hnsw at <=1e5; flat,ivf beyond)")
    ap.add_argument("--nprobe", default="8,16,32,64")
    ap.add_argument("--efsearch", default="32,64,128")
    ap.add_argument("--device", default="cpu", choices=["cpu", "cuda", "both"])
    ap.add_argument("--nlist", type=int, default=None,
                    help="IVF lists of the ivf and ivfpq indexes (default 4*sqrt(n); fewer lists make a 1e7 build "
                         "feasible on 2 cores)")
    ap.add_argument("--dim", type=int, default=512, help="vector dimension (512 fused default; 128 like the default model)")
    ap.add_argument("--refine", default=None, choices=["none", "sq8", "fp16", "flat"],
                    help="IVF-PQ re-ranking codes (default: the library's, fp16 up to 256-d, sq8 beyond)")
    ap.add_argument("--k-factor", default="4", help="comma-separated IVF-PQ re-ranking factors to sweep")
    ap.add_argument("--pq-m", type=int, default=None, help="PQ sub-quantisers (default: the library's)")
    ap.add_argument("--pq-nbits", type=int, default=None,
                    help="bits per PQ sub-quantiser (default: the library's, 4-bit fast-scan on CPU; 8: classic codes)")
    ap.add_argument("--stream", action="store_true", help="build IVF-PQ chunk by chunk at every size (default: > 4e6)")
    ap.add_argument("--chunk", type=int, default=250_000, help="rows generated and appended at a time")
    ap.add_argument("--text-ids", action="store_true",
                    help="text pair ids, scaffolds and genomes like real tables (default: integers)")
    ap.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    PQ_NBITS = args.pq_nbits
    DIM, REFINE, PQ_M, STREAM, CHUNK, TEXT_IDS = args.dim, args.refine, args.pq_m, args.stream, args.chunk, args.text_ids
    K_FACTORS = [int(s) for s in args.k_factor.split(",")]
    sizes = [int(float(s)) for s in args.sizes.split(",") if s]
    nprobes = [int(s) for s in args.nprobe.split(",")]
    efs = [int(s) for s in args.efsearch.split(",")]
    if args.child:
        NLIST_OVERRIDE = args.nlist
        n = sizes[0]
        kinds = args.kinds.split(",") if args.kinds else (["flat", "ivf", "hnsw", "ivfpq"] if n <= 100_000 else ["flat", "ivf"])
        for row in run_size(n, args.queries, args.threads, kinds, nprobes, efs, args.device):
            print(json.dumps(row), flush=True)
        return 0
    import faiss

    devices = ["cpu", "cuda"] if args.device == "both" else [args.device]
    if args.device == "both" and faiss.get_num_gpus() == 0:
        devices = ["cpu"]
    results = []
    for device in devices:
        for n in sizes:
            cmd = [sys.executable, __file__, "--child", "--sizes", str(n), "--queries", str(args.queries),
                   "--threads", str(args.threads), "--nprobe", args.nprobe, "--efsearch", args.efsearch, "--device", device,
                   "--dim", str(args.dim), "--k-factor", args.k_factor, "--chunk", str(args.chunk)]
            if args.stream:
                cmd.append("--stream")
            if args.text_ids:
                cmd.append("--text-ids")
            if args.pq_m:
                cmd += ["--pq-m", str(args.pq_m)]
            if args.pq_nbits:
                cmd += ["--pq-nbits", str(args.pq_nbits)]
            if args.refine:
                cmd += ["--refine", args.refine]
            if args.kinds:
                cmd += ["--kinds", args.kinds]
            if args.nlist:
                cmd += ["--nlist", str(args.nlist)]
            t0 = time.perf_counter()
            proc = subprocess.run(cmd, stdout=subprocess.PIPE, text=True)
            if proc.returncode != 0:
                print(f"size {n} on {device} failed (exit {proc.returncode})", file=sys.stderr)
                continue
            for line in proc.stdout.splitlines():
                if line.startswith("{"):
                    results.append(json.loads(line))
            print(f"# n={n} {device}: {time.perf_counter() - t0:.0f} s wall", file=sys.stderr, flush=True)
    print(f"faiss {faiss.__version__}, {args.threads} threads, k={K}, queries exclude their own scaffold of {SCAFFOLD} pairs\n")
    print("| n | d | device | index | settings | build s | queries/s | recall@10 | index bytes/pair | peak RSS GiB "
          "(all) | peak RSS GiB (search) |")
    print("|---|---|---|---|---|---|---|---|---|---|---|")
    for r in results:
        print(f"| {r['n']:.0e} | {r['dim']} | {r['device']} | {r['index']} | {r['settings']} | {r['build_s']:.1f} "
              f"| {r['qps']:.0f} | {r['recall10']:.4f} | {r['bytes_per_pair']:.0f} | {r['peak_gib']:.2f} "
              f"| {r.get('search_peak_gib', float('nan')):.2f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
