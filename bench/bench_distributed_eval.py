"""2-process torchrun eval vs 1 process: wall-clock of `timer1 eval run` with the tiny model on CPU.

Both arms are the command a user types, timed from start to exit (process start, model load, decoding,
generation, the merge and scoring): ``timer1 eval run ...`` and ``torchrun --nproc_per_node 2 --no-python
timer1 eval run ...`` on the same synthetic split, settings and output folder name. The arms alternate
(ABAB...) so machine-load drifts hit both; each repeat's predictions are checked equal to the 1-process
run's (ignoring ``timing``). Also reported: the evaluation loop's throughput (queries / seconds of the
loop; for 2 processes, the slower rank's loop), which leaves out process start and model load.

No target: on a 2-core machine two processes share the cores a single process already uses (its model
thread plus a decode worker), so the ratio says what a second process costs or gains there. The load
average at the start is recorded: on a shared machine the figures move with it.

    .venv/bin/python bench/bench_distributed_eval.py [--videos 2] [--repeats 2] [--json bench/results/distributed_eval.json]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BIN = Path(sys.executable).parent
LAUNCH_VARS = ("RANK", "WORLD_SIZE", "LOCAL_RANK", "SLURM_PROCID", "SLURM_NTASKS")


def lines_without_timing(run: Path) -> list[dict]:
    return [{k: v for k, v in json.loads(line).items() if k != "timing"}
            for line in (run / "predictions.jsonl").read_text().splitlines()]


def loop_seconds(run: Path) -> float:
    """Seconds of the evaluation loop: the run's own, or the slowest rank's of a merged run."""
    record = json.loads((run / "run.json").read_text())
    shards = (record.get("distributed") or {}).get("shards")
    if shards:
        return max(s["last_session"]["seconds"] for s in shards)
    return record["last_session"]["seconds"]


def timed(cmd: list[str], cwd: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k not in LAUNCH_VARS}
    t0 = time.perf_counter()
    res = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - t0
    if res.returncode != 0:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{res.stdout[-2000:]}\n{res.stderr[-2000:]}")
    return seconds


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--videos", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--max-new-tokens", type=int, default=16)
    ap.add_argument("--json", default=None, help="also write the result here")
    args = ap.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench_dist_"))
    timer1 = str(BIN / "timer1")
    subprocess.run([timer1, "data", "synth", "--videos", str(args.videos), "-o", str(work / "synth")], check=True,
                   capture_output=True)
    subprocess.run([timer1, "model", "tiny", "-o", str(work / "tiny")], check=True, capture_output=True)
    run = ["eval", "run", "--split", str(work / "synth"), "--model", str(work / "tiny"), "--out", "run",
           "--max-new-tokens", str(args.max_new_tokens), "--quiet", "--overwrite"]
    arms = {"1_process": [timer1, *run],
            "torchrun_2": [str(BIN / "torchrun"), "--nproc_per_node", "2", "--no-python", timer1, *run]}
    load = os.getloadavg()
    wall: dict[str, list[float]] = {name: [] for name in arms}
    loops: dict[str, list[float]] = {name: [] for name in arms}
    reference = None
    for repeat in range(args.repeats):
        for name, cmd in arms.items():
            cwd = work / name
            cwd.mkdir(exist_ok=True)
            wall[name].append(timed(cmd, cwd))
            loops[name].append(loop_seconds(cwd / "run"))
            lines = lines_without_timing(cwd / "run")
            reference = lines if reference is None else reference
            if lines != reference:
                raise SystemExit(f"{name} repeat {repeat}: predictions differ from the 1-process run")
            print(f"repeat {repeat} {name}: {wall[name][-1]:.1f} s wall, loop {loops[name][-1]:.2f} s", flush=True)

    queries = len(reference)
    median = {name: statistics.median(v) for name, v in wall.items()}
    loop_median = {name: statistics.median(v) for name, v in loops.items()}
    result = {
        "what": "timer1 eval run, tiny Qwen2.5-VL on CPU: 1 process vs torchrun --nproc_per_node 2 (wall-clock, "
                "start to exit); predictions checked equal (ignoring timing) in every repeat",
        "queries": queries, "videos": args.videos, "max_new_tokens": args.max_new_tokens, "repeats": args.repeats,
        "cpu_count": os.cpu_count(), "load_average_at_start": [round(x, 2) for x in load],
        "wall_s": {name: [round(x, 2) for x in v] for name, v in wall.items()},
        "wall_s_median": {name: round(v, 2) for name, v in median.items()},
        "loop_queries_per_s_median": {name: round(queries / v, 2) for name, v in loop_median.items()},
        "speedup_wall_2_vs_1": round(median["1_process"] / median["torchrun_2"], 3),
        "speedup_loop_2_vs_1": round(loop_median["1_process"] / loop_median["torchrun_2"], 3),
        "predictions_equal": True,
    }
    print(json.dumps(result, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
