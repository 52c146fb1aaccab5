"""Benchmark: `timer1 eval score` on 1,000,000 predictions vs a straightforward Time-R1-style scorer.

Writes a 1M-query split and a matching ~140 MB JSONL of Time-R1 evaluate.py lines, then times, in
the same run and best of N:
  * reference: json.loads per line, last duplicate wins, a Python IoU per item, R1@{.3,.5,.7} + mIoU
  * timer1:    the CLI end to end (process start, read, parse, join with the split, all breakdowns),
               bootstrap off; and the 1000-sample video bootstrap timed on its own.
Goal (issue #2): timer1 ≤ 1.5 s wall and ≥ 5x the reference on the 2-core CPU machine.

    python bench/bench_score.py [--n 1000000] [--repeat 3] [--workdir DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def make_inputs(workdir: Path, n: int, seed: int = 0) -> tuple[Path, Path]:
    import pyarrow as pa
    import pyarrow.parquet as pq

    from tvgbench.core.schema import arrow_schema

    split_dir = workdir / "split"
    pred_path = workdir / "pred.jsonl"
    if pred_path.exists() and (split_dir / "data").exists():
        return pred_path, split_dir
    rng = np.random.default_rng(seed)
    duration = rng.uniform(5, 180, n).round(2)
    start = (rng.uniform(0, 0.8, n) * duration).round(2)
    end = np.minimum(duration, start + rng.uniform(0.05, 0.5, n) * duration).round(2)
    qids = [f"bench-{i:016x}" for i in range(n)]
    videos = [f"v{i // 3:07d}.mp4" for i in range(n)]
    qtypes = ["Human Action (Simple)", "Human Pose", "Object Counting", "Environment Change"]
    table = pa.table(
        {
            "qid": qids,
            "video": videos,
            "query": ["a person does something"] * n,
            "span": pa.FixedSizeListArray.from_arrays(pa.array(np.stack([start, end], 1).ravel()), 2),
            "duration": duration,
            "window": pa.nulls(n, pa.list_(pa.float64(), 2)),
            "source": [("charades", "activitynet", "tacos")[i % 3] for i in range(n)],
            "qtype": [qtypes[i % 4] for i in range(n)],
            "bins": pa.StructArray.from_arrays(
                [pa.array(np.floor(duration / 20).astype(np.int32)), pa.array(np.zeros(n, np.int32)),
                 pa.array(np.zeros(n, np.int32))], ["videolen", "qcenter", "qlen"]),
            "difficulty": pa.nulls(n, pa.float64()),
            "pred": pa.nulls(n, pa.list_(pa.float64(), 2)),
            "source_id": pa.nulls(n, pa.string()),
            "flags": pa.array([[]] * n, pa.list_(pa.string())),
            "meta": pa.nulls(n, pa.string()),
        },
        schema=arrow_schema(),
    )
    (split_dir / "data").mkdir(parents=True, exist_ok=True)
    pq.write_table(table, split_dir / "data" / "test-00000-of-00001.parquet")
    ps = np.clip(start + rng.normal(0, 5, n), 0, None).round(2)
    pe = (end + rng.normal(0, 5, n)).round(2)
    with open(pred_path, "w") as f:
        for i in range(n):
            f.write(json.dumps({"qid": qids[i], "pred": [ps[i], pe[i]], "target": [start[i], end[i]],
                                "duration": duration[i],
                                "output_text": f"<answer>{ps[i]:.2f} to {pe[i]:.2f}</answer>"}) + "\n")
    return pred_path, split_dir


def reference_scorer(pred_path: Path) -> dict:
    """What Time-R1's eval_all.py does, written plainly: json.loads per line, a Python IoU per item."""
    last = {}
    with open(pred_path) as f:
        for line in f:
            item = json.loads(line)
            last[item["qid"]] = item
    scores = []
    for item in last.values():
        p, t = item["pred"], item["target"]
        if None in p:
            scores.append(0.0)
            continue
        inter = max(0.0, min(p[1], t[1]) - max(p[0], t[0]))
        union = max(0.0, max(p[1], t[1]) - min(p[0], t[0]))
        scores.append(inter / union if union > 0 else 0.0)
    n = len(scores)
    out = {f"R1@{m}": sum(s > m for s in scores) / n * 100 for m in (0.3, 0.5, 0.7)}
    out["mIoU"] = sum(scores) / n * 100
    return out


def best_of(fn, repeat: int) -> tuple[float, object]:
    best, result = float("inf"), None
    for _ in range(repeat):
        t0 = time.perf_counter()
        result = fn()
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--n", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--json-out", type=Path, default=None)
    args = ap.parse_args()
    workdir = args.workdir or Path(tempfile.gettempdir()) / f"timer1-bench-score-{args.n}"
    workdir.mkdir(parents=True, exist_ok=True)
    pred_path, split_dir = make_inputs(workdir, args.n)
    size_mb = pred_path.stat().st_size / 1e6

    cli = [sys.executable, "-m", "tvgbench.cli.main", "eval", "score", str(pred_path), "--split", str(split_dir), "--json"]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}

    def run_cli(mode_args, bootstrap):
        out = subprocess.run(cli + mode_args + ["--bootstrap", str(bootstrap)], capture_output=True, text=True,
                             env=env, check=True).stdout
        return json.loads(out)

    t_ref, ref = best_of(lambda: reference_scorer(pred_path), args.repeat)
    t_canon, canon = best_of(lambda: run_cli([], 0), args.repeat)
    t_compat, compat = best_of(lambda: run_cli(["--compat", "timer1"], 0), args.repeat)
    from tvgbench.core.scoring import bootstrap_ci

    iou = np.random.default_rng(0).uniform(0, 1, args.n)
    import pyarrow as pa

    units = pa.array([f"v{i // 3:07d}" for i in range(args.n)])
    t_boot, _ = best_of(lambda: bootstrap_ci(iou, units, strict=False, samples=1000, seed=0), 1)
    for k in ref:
        assert abs(ref[k] - compat["metrics"][k]) < 1e-3, (k, ref[k], compat["metrics"][k])
    report = {
        "n_predictions": args.n, "jsonl_mb": round(size_mb, 1), "reference_s": round(t_ref, 3),
        "timer1_canonical_cli_s": round(t_canon, 3), "timer1_compat_cli_s": round(t_compat, 3),
        "speedup_canonical": round(t_ref / t_canon, 2), "speedup_compat": round(t_ref / t_compat, 2),
        "bootstrap_1000_video_resamples_s": round(t_boot, 3), "n_videos": (args.n + 2) // 3,
        "compat_equals_reference": True, "cpu_count": os.cpu_count(),
    }
    print(json.dumps(report, indent=2))
    if args.json_out:
        args.json_out.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
