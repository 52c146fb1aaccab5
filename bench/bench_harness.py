"""Decode prefetch vs a sequential loop: samples/s of `run_eval` with the tiny model on CPU.

Both arms run the same split, the same loaded model, settings and batches in the same process; the only
difference is ``workers`` (0: decode inline, then generate; N: a pool decodes ahead while the model
generates). The figure is the evaluation loop's throughput (queries / seconds of the loop, as run.json's
``last_session`` reports it); end-to-end times (with scoring and file writes) are printed too.
Target: ratio >= 1.5. The arms alternate (ABAB...) so machine-load drifts hit both.

    .venv/bin/python bench/bench_harness.py [--videos 4] [--repeats 2] [--workers 2] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=4)
    ap.add_argument("--max-duration", type=float, default=60.0)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=4)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--threads", type=int, default=1, help="torch intra-op threads (both arms)")
    ap.add_argument("--limit", type=int, default=None)
    ap.add_argument("--json", default=None, help="also write the result here")
    args = ap.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")

    from tvgbench.harness import run_eval
    from tvgbench.harness.backends import GenParams, make_backend
    from tvgbench.synth import make_synthetic
    from tvgbench.tiny_model import build_tiny_model

    work = Path(tempfile.mkdtemp(prefix="bench_harness_"))
    try:
        make_synthetic(work / "synth", n_videos=args.videos, seed=0, max_duration=args.max_duration)
        model = build_tiny_model(work / "tiny", seed=0)
        params = GenParams(max_new_tokens=args.max_new_tokens)
        backend = make_backend("hf", str(model), params, threads=args.threads, device="cpu")  # loaded once
        common = dict(batch_size=args.batch_size, gen=params, progress=False, bootstrap=0, limit=args.limit,
                      backend_obj=backend)
        rates: dict[str, list[float]] = {"sequential": [], "prefetch": []}
        end_to_end: dict[str, list[float]] = {"sequential": [], "prefetch": []}
        n_queries = 0
        # warm-up (imports, first decode, allocator) outside the timed arms
        run_eval(work / "synth", work / "synth", model, out_dir=work / "warm", limit=args.batch_size, **{
            k: v for k, v in common.items() if k != "limit"})
        for rep in range(args.repeats):
            for arm, workers in (("sequential", 0), ("prefetch", args.workers)):
                out = work / f"{arm}{rep}"
                t0 = time.perf_counter()
                summary = run_eval(work / "synth", work / "synth", model, out_dir=out, workers=workers, **common)
                seconds = time.perf_counter() - t0
                n_queries = summary["counts"]["lines"]
                loop = summary["last_session"]
                rates[arm].append(loop["queries_per_s"])
                end_to_end[arm].append(n_queries / seconds)
                print(f"{arm:10s} rep {rep}: loop {loop['seconds']:.2f} s = {loop['queries_per_s']:.2f} q/s; "
                      f"end to end {seconds:.2f} s; summed decode {summary['counts']['decode_s_total']:.1f} s, "
                      f"generate {summary['counts']['generate_s_total']:.1f} s")
                shutil.rmtree(out)
        seq, pre = statistics.median(rates["sequential"]), statistics.median(rates["prefetch"])
        result = {
            "bench": "harness prefetch vs sequential", "queries": n_queries, "videos": args.videos,
            "workers": args.workers, "batch_size": args.batch_size, "threads": args.threads,
            "max_new_tokens": args.max_new_tokens, "sequential_qps": round(seq, 3), "prefetch_qps": round(pre, 3),
            "ratio": round(pre / seq, 3), "target": 1.5, "rates": rates,
            "end_to_end_ratio": round(statistics.median(end_to_end["prefetch"]) / statistics.median(end_to_end["sequential"]), 3),
            "cpu_count": os.cpu_count(),
            "load_avg": os.getloadavg(),
        }
        print(json.dumps(result, indent=2))
        if args.json:
            Path(args.json).write_text(json.dumps(result, indent=2) + "\n")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
