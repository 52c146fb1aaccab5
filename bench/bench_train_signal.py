"""Learning signal of the ``tiny-cpu`` recipe: does the mean total reward rise within a time budget?

Runs ``timer1 train --recipe tiny-cpu`` (the real pipeline: synthetic videos, tiny Qwen2.5-VL,
VideoGRPOTrainer, KL reference) until ``--minutes`` of training have passed or ``--max-steps`` is
reached, then compares the mean total reward of the first and the last 10% of steps (Welch t-test
on the per-step means) and draws the reward curve.

    .venv/bin/python bench/bench_train_signal.py --minutes 20 --out bench/results/train_signal

Writes ``OUT/train_signal.json``, ``OUT/train_signal.png`` and ``OUT/train_log.jsonl`` (and the run
folder ``OUT/run``, which can be deleted; ``--plot-only`` redraws from the JSON files).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def welch_t(a, b) -> float:
    import numpy as np

    a, b = np.asarray(a, float), np.asarray(b, float)
    se = math.sqrt(a.var(ddof=1) / len(a) + b.var(ddof=1) / len(b)) if len(a) > 1 and len(b) > 1 else float("nan")
    if not se == se:  # NaN: fewer than two steps per window
        return float("nan")
    return float((b.mean() - a.mean()) / se) if se > 0 else float("inf")


def plot(steps, components: dict, total, path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, ax = plt.subplots(figsize=(8, 4.5))
    ax.plot(steps, total, color="0.75", lw=1, label="total reward (per step)")
    k = max(1, len(total) // 20)
    smooth = np.convolve(total, np.ones(k) / k, mode="valid")
    ax.plot(steps[k - 1:], smooth, color="k", lw=2, label=f"total, moving mean of {k}")
    for name, values in components.items():
        ax.plot(steps[k - 1:], np.convolve(values, np.ones(k) / k, mode="valid"), lw=1,
                label=f"rewards/{name}, moving mean of {k}")
    ax.set_xlabel("optimizer step")
    ax.set_ylabel("mean reward")
    ax.set_title(title)
    ax.legend(fontsize=8)
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)


def read_log(path: Path):
    log = [json.loads(line) for line in open(path) if line.strip()]
    log = [e for e in log if "reward" in e]
    names = [k.split("/")[1] for k in log[0] if k.startswith("rewards/") and k.endswith("/mean")]
    components = {n: [e[f"rewards/{n}/mean"] for e in log] for n in names}
    return [e["step"] for e in log], components, [e["reward"] for e in log]


def draw(steps, components, total, out: Path, result: dict) -> None:
    import numpy as np

    plot(np.array(steps), {k: np.array(v) for k, v in components.items()}, np.array(total), out / "train_signal.png",
         f"tiny-cpu: first 10% {result['first10_mean_reward']:.3f} -> last 10% {result['last10_mean_reward']:.3f} "
         f"({result['steps']} steps, {result['train_seconds'] / 60:.1f} min)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=20.0, help="training-time budget")
    ap.add_argument("--max-steps", type=int, default=2000)
    ap.add_argument("--out", default="bench/results/train_signal")
    ap.add_argument("--set", dest="sets", action="append", default=[], help="extra recipe overrides")
    ap.add_argument("--plot-only", action="store_true", help="redraw from OUT/run and OUT/train_signal.json")
    args = ap.parse_args()
    out = Path(args.out)
    if args.plot_only:
        result = json.loads((out / "train_signal.json").read_text())
        steps, components, total = read_log(out / "train_log.jsonl")
        draw(steps, components, total, out, result)
        return

    from transformers import TrainerCallback

    from trainer.config import load_config
    from trainer.train import run_training
    from tvgbench.core.report import write_json_atomic

    class TimeBudget(TrainerCallback):
        def __init__(self, seconds):
            self.seconds, self.start = seconds, None

        def on_train_begin(self, args, state, control, **kw):
            self.start = time.perf_counter()

        def on_step_end(self, args, state, control, **kw):
            if time.perf_counter() - self.start > self.seconds:
                control.should_training_stop = True
                control.should_save = True

    out.mkdir(parents=True, exist_ok=True)
    cfg = load_config("tiny-cpu", [f"trl.max_steps={args.max_steps}", "trl.save_steps=100000", *args.sets])
    started = time.perf_counter()
    run = run_training(cfg, out / "run", callbacks=[TimeBudget(args.minutes * 60)])
    wall = time.perf_counter() - started

    import shutil

    shutil.copy2(out / "run" / "train_log.jsonl", out / "train_log.jsonl")  # the curve's data, beside the PNG
    steps, components, total = read_log(out / "train_log.jsonl")
    n10 = max(1, len(total) // 10)
    first, last = total[:n10], total[-n10:]
    import numpy as np

    result = {
        "recipe": "tiny-cpu", "steps": len(total), "train_seconds": run["train_seconds"], "wall_seconds": wall,
        "seconds_per_step": run["train_seconds"] / max(1, len(total)),
        "first10_mean_reward": float(np.mean(first)), "last10_mean_reward": float(np.mean(last)),
        "first10_components": {n: float(np.mean(v[:n10])) for n, v in components.items()},
        "last10_components": {n: float(np.mean(v[-n10:])) for n, v in components.items()},
        "welch_t": welch_t(first, last), "n_per_window": n10,
        "cpu_count": os.cpu_count(), "load_average_at_end": os.getloadavg(),
        "overrides": args.sets,
    }
    result["rose_clearly"] = bool(result["last10_mean_reward"] > result["first10_mean_reward"] and result["welch_t"] > 3)
    draw(steps, components, total, out, result)
    write_json_atomic(out / "train_signal.json", result)
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
