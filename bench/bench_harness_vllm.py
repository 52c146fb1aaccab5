"""vLLM backend throughput on a GPU machine (needs `pip install 'timer1[vllm]'`); not runnable on CPU-only hosts.

Builds the tiny model with head_dim 64 (vLLM's attention kernels need >= 32) and a synthetic split, then runs
`run_eval(backend="vllm")` and, for comparison in the same process, the hf backend on the same GPU. Prints
queries/s for each and their ratio. For a real checkpoint pass --model DIR.

    python bench/bench_harness_vllm.py [--model DIR] [--videos 8] [--batch-size 16] [--max-new-tokens 64]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default=None)
    ap.add_argument("--videos", type=int, default=8)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--max-new-tokens", type=int, default=64)
    ap.add_argument("--skip-hf", action="store_true")
    args = ap.parse_args()

    from tvgbench.harness.runner import run_eval
    from tvgbench.data.synth import make_synthetic
    from tvgbench.models.tiny import build_tiny_model

    work = Path(tempfile.mkdtemp(prefix="bench_vllm_"))
    try:
        make_synthetic(work / "synth", n_videos=args.videos, seed=0)
        model = args.model or build_tiny_model(work / "tiny", seed=0, hidden_size=128, num_heads=2)
        result = {}
        for backend in ("vllm",) + (() if args.skip_hf else ("hf",)):
            opts = {"device": "cuda"} if backend == "hf" else {}
            t0 = time.perf_counter()
            summary = run_eval(work / "synth", work / "synth", model, backend=backend, out_dir=work / backend,
                               batch_size=args.batch_size, gen={"max_new_tokens": args.max_new_tokens},
                               workers=4, progress=False, bootstrap=0, backend_options=opts)
            result[backend] = {"queries": summary["counts"]["lines"], "seconds": round(time.perf_counter() - t0, 2),
                               "loop_qps": summary["last_session"]["queries_per_s"], "status": summary["status"]}
            print(backend, result[backend])
        if "hf" in result:
            result["vllm_over_hf"] = round(result["vllm"]["loop_qps"] / result["hf"]["loop_qps"], 3)
        print(json.dumps(result, indent=2))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
