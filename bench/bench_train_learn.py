"""Does training on the video teach grounding? Held-out mIoU of a small model: base, SFT, SFT → GRPO, and a
blank-video GRPO control, on the synthetic benchmark (CPU, offline, the real trainer and harness).

The synthetic benchmark is rendered once and split by video: queries of the first ``--train-videos``
videos train, those of the next ``--heldout-videos`` videos are never trained on and are what is scored.

* ``base``: the tiny random Qwen2.5-VL (``timer1 model tiny`` options: ``--hidden``, ``--heads``);
* ``sft``: the ``tiny-cpu-sft`` recipe on the training videos' true answers;
* ``sft_grpo``: GRPO from the SFT model with Time-R1's rewards only (``iou_v2`` + ``format``, no ``tags``);
* ``sft_grpo_blank_video``: the same GRPO with every frame replaced by a constant (pixels 0 after the
  processor's normalisation): what GRPO gains without looking must not count as grounding.

Each model is scored by ``timer1 eval run`` on the held-out videos with the training prompt, layout and
frame sampling (greedy), into ``RUN/eval-heldout`` (``timer1 train compare`` reads it); checkpoints are
scored too for the curves (``--curve-points``).

    .venv/bin/python bench/bench_train_learn.py                 # about 25 minutes on 2 busy cores

Writes ``OUT/train_learn.json`` and ``OUT/train_learn.png`` (``--out``, default ``bench/results``); the
runs stay in ``--work`` (default ``runs/train_learn``, git-ignored; a rerun reuses what is finished there):
``timer1 train compare runs/train_learn/sft runs/train_learn/sft_grpo runs/train_learn/sft_grpo_blank_video``.
Goal: ``sft_grpo`` >= ``sft`` + 5 points and ``sft_grpo_blank_video`` >= 5 points below ``sft_grpo``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

REPO = Path(__file__).resolve().parents[1]
ANSWER_TOKENS = 40  # "<think></think><answer>12.50 to 17.80</answer>" in the tiny tokenizer, with room
TIME_R1_REWARDS = "rewards={iou_v2: 1.0, format: 1.0}"


def video_sets(root: Path, n_train: int, n_heldout: int, seed: int, max_duration: float) -> Path:
    """Render the benchmark into ``root/synth`` and write its ``train`` and ``heldout`` splits, split by video."""
    from tvgbench.core.splits import list_splits, load_split, write_split
    from tvgbench.data.synth import make_synthetic

    synth = root / "synth"
    if {"train", "heldout"} <= set(list_splits(synth) if synth.exists() else []):
        return synth
    make_synthetic(synth, n_videos=n_train + n_heldout, seed=seed, max_duration=max_duration, progress=True)
    split = load_split(synth, "test")
    videos = sorted({s.video for s in split.samples})
    train_videos = set(videos[:n_train])
    write_split([s for s in split.samples if s.video in train_videos], synth, "train", window_mode=split.window_mode)
    write_split([s for s in split.samples if s.video not in train_videos], synth, "heldout",
                window_mode=split.window_mode)
    return synth


def frame_options(video: dict) -> list[str]:
    """``timer1 eval run`` options that sample frames as the recipe's video section does (same frame cache)."""
    return ["--fps", str(video["fps"]), "--max-frames", str(video["max_frames"]), "--min-pixels",
            str(video["min_pixels"]), "--max-pixels", str(video["max_pixels"]), "--total-pixels",
            str(video["total_pixels"]), "--cache-dir", str(video["cache_dir"])]


def heldout_miou(model: Path, synth: Path, out: Path, video: dict, prompt: str, layout: str) -> float:
    """Held-out mIoU (percent) of ``model`` by ``timer1 eval run`` (greedy), written into ``out``."""
    scores = out / "scores.json"
    if not scores.is_file():
        cmd = [sys.executable, "-m", "tvgbench.cli.main", "eval", "run", "--split", str(synth), "--split-name",
               "heldout", "--video-root", str(synth), "--model", str(model), "--out", str(out), "--prompt", prompt,
               "--layout", layout, "--max-new-tokens", str(ANSWER_TOKENS), "--quiet", "--overwrite",
               *frame_options(video)]
        r = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO)
        if r.returncode != 0:
            raise RuntimeError(f"eval run of {model} failed:\n{r.stderr[-2000:]}")
    return json.loads(scores.read_text())["metrics"]["mIoU"]  # scores.json has it in percent


def checkpoint_curve(run: Path, synth: Path, video: dict, prompt: str, layout: str) -> list[tuple[int, float]]:
    """(step, held-out mIoU) of every checkpoint of a run, in step order."""
    points = []
    for ckpt in sorted(run.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1])):
        step = int(ckpt.name.split("-")[1])
        points.append((step, heldout_miou(ckpt, synth, run / f"eval-heldout-step{step}", video, prompt, layout)))
    return points


def blind_baselines(synth: Path, out: Path) -> dict[str, float]:
    """Held-out mIoU (percent) of answers that never look at the video: the middle half of the clip, and
    the training videos' mean span (the best a model ignoring the video can learn from the SFT answers)."""
    from tvgbench.core.scoring import read_split_columns
    from tvgbench.harness.baselines import baseline_spans, normalised_prior

    cols = read_split_columns(synth, "heldout")
    result = {}
    for name, prior in (("middle", None), ("train_prior", normalised_prior(synth, "train"))):
        spans = baseline_spans("middle" if prior is None else "prior", cols.duration, prior)
        preds = out / f"blind-{name}.jsonl"
        preds.write_text("".join(json.dumps({"qid": q, "pred": [float(a), float(b)]}) + "\n"
                                 for q, (a, b) in zip(cols.qid.to_pylist(), spans)))
        r = subprocess.run([sys.executable, "-m", "tvgbench.cli.main", "eval", "score", str(preds), "--split",
                            str(synth), "--split-name", "heldout", "--json"], capture_output=True, text=True, cwd=REPO)
        if r.returncode != 0:
            raise RuntimeError(f"scoring the {name} baseline failed:\n{r.stderr[-2000:]}")
        result[name] = json.loads(r.stdout)["metrics"]["mIoU"]
    return result


class BlankVideo:
    """``video_inputs`` with every pixel tensor replaced by zeros (a constant frame); the rest (the grid,
    the time axis, the token count) unchanged, so the prompt and the time encoding stay as they were."""

    def __init__(self, video_inputs):
        self.video_inputs = video_inputs

    def __call__(self, row):
        import torch

        inputs = dict(self.video_inputs(row))  # a copy: the provider memoises its dicts
        for key, value in inputs.items():
            if key.startswith("pixel_values") and torch.is_tensor(value):
                inputs[key] = torch.zeros_like(value)
        return inputs


def blank_video_trainer():
    from trainer.video_grpo import VideoGRPOTrainer

    class BlankVideoGRPOTrainer(VideoGRPOTrainer):
        """VideoGRPOTrainer that never sees the frames (the control)."""

        def __init__(self, *args, video_inputs, **kwargs):
            super().__init__(*args, video_inputs=BlankVideo(video_inputs), **kwargs)

    return BlankVideoGRPOTrainer


def train(recipe: str, sets: list[str], out: Path, trainer_cls=None) -> dict:
    from trainer.config import load_config
    from trainer.progress import quiet_library_bars
    from trainer.train import run_training

    if (out / "run.json").is_file():
        return json.loads((out / "run.json").read_text())
    cfg = load_config(recipe, sets)
    with quiet_library_bars():
        return run_training(cfg, out, trainer_cls=trainer_cls)


def reward_curve(run: Path) -> tuple[list[int], list[float]]:
    log = [json.loads(line) for line in (run / "train_log.jsonl").read_text().splitlines() if line.strip()]
    key = "reward" if any("reward" in e for e in log) else "loss"
    rows = [e for e in log if key in e and "train_runtime" not in e]
    return [e["step"] for e in rows], [e[key] for e in rows]


def plot(result: dict, runs: dict[str, Path], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    fig, (ax_reward, ax_miou) = plt.subplots(1, 2, figsize=(12, 4.5))
    for name in ("sft_grpo", "sft_grpo_blank_video"):
        if name in runs:
            steps, values = reward_curve(runs[name])
            k = max(1, len(values) // 15)
            smooth = np.convolve(values, np.ones(k) / k, mode="valid")
            ax_reward.plot(steps[k - 1:], smooth, label=f"{name} (moving mean of {k})")
    ax_reward.set_xlabel("GRPO step")
    ax_reward.set_ylabel("mean reward (iou_v2 + format)")
    ax_reward.legend(fontsize=8)
    for name in ("sft", "sft_grpo", "sft_grpo_blank_video"):
        curve = result["heldout_curves"].get(name) or []
        if curve and name != "sft" and result["heldout_miou"]["sft"] is not None:
            curve = [(0, result["heldout_miou"]["sft"]), *curve]  # GRPO starts from the SFT model
        elif curve and name == "sft":
            curve = [(0, result["heldout_miou"]["base"]), *curve]  # SFT starts from the base model
        if curve:
            start = result["sft_steps"] if name != "sft" else 0
            ax_miou.plot([start + s for s, _ in curve], [m for _, m in curve], marker="o", label=name)
    ax_miou.axhline(result["heldout_miou"]["base"], color="0.5", ls="--", label="base")
    for (name, value), style in zip(result["heldout_blind_baselines_miou"].items(), (":", "-.")):
        ax_miou.axhline(value, color="0.3", ls=style, lw=1, label=f"blind: {name}")
    ax_miou.set_xlabel("step (SFT, then GRPO)")
    ax_miou.set_ylabel("held-out mIoU (%)")
    ax_miou.legend(fontsize=8)
    m = result["heldout_miou"]
    fig.suptitle("held-out mIoU: " + ", ".join(f"{k} {v:.1f}" for k, v in m.items() if v is not None))
    fig.tight_layout()
    tmp = path.with_suffix(".tmp.png")
    fig.savefig(tmp, dpi=110)
    os.replace(tmp, path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default="bench/results")
    ap.add_argument("--work", default="runs/train_learn", help="the synthetic split, models and runs")
    ap.add_argument("--train-videos", type=int, default=6)
    ap.add_argument("--heldout-videos", type=int, default=3)
    ap.add_argument("--max-duration", type=float, default=30.0)
    ap.add_argument("--hidden", type=int, default=64, help="tiny model hidden size (timer1 model tiny)")
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--sft-steps", type=int, default=300)
    ap.add_argument("--grpo-steps", type=int, default=60)
    ap.add_argument("--grpo-lr", type=float, default=1e-3)
    ap.add_argument("--curve-points", type=int, default=2, help="checkpoints scored per run (0: final only)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--plot-only", action="store_true", help="redraw OUT/train_learn.png from the JSON and --work")
    args = ap.parse_args()
    out, work = Path(args.out), Path(args.work)
    if args.plot_only:
        names = ("sft", "sft_grpo", "sft_grpo_blank_video")
        plot(json.loads((out / "train_learn.json").read_text()), {n: work / n for n in names if (work / n).is_dir()},
             out / "train_learn.png")
        return
    out.mkdir(parents=True, exist_ok=True)
    work.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()

    from trainer.config import load_recipe_dict, recipe_names
    from tvgbench.models.tiny import build_tiny_model

    synth = video_sets(work, args.train_videos, args.heldout_videos, args.seed, args.max_duration)
    base = work / "base"
    if not (base / "config.json").exists():
        build_tiny_model(base, seed=args.seed, hidden_size=args.hidden, num_heads=args.heads)
    recipe = load_recipe_dict("tiny-cpu")
    video, prompt, layout = recipe["video"], recipe["data"]["prompt"], recipe["data"]["layout"]
    video["cache_dir"] = str(work / "frames")  # decoded once per clip: training re-reads every query's video
    data = [f"data.split_dir={synth}", "data.split=train", f"data.video_root={synth}",
            f"video.cache_dir={video['cache_dir']}"]
    timings, runs, curves = {}, {}, {}
    miou = {"base": heldout_miou(base, synth, base / "eval-heldout", video, prompt, layout), "sft": None,
            "sft_grpo": None, "sft_grpo_blank_video": None}
    blind = blind_baselines(synth, work)
    state = {"miou": miou, "blind": blind, "curves": curves, "seconds": timings, "runs": runs, "started": started}
    report(args, state, out, complete=False)

    start_model, sft_ok = base, "tiny-cpu-sft" in recipe_names()
    if sft_ok:
        t = time.perf_counter()
        every = max(1, args.sft_steps // max(1, args.curve_points))
        run = train("tiny-cpu-sft", [f"model.path={base}", *data, f"trl.max_steps={args.sft_steps}",
                                     f"trl.save_steps={every}", "trl.logging_steps=5"], work / "sft")
        runs["sft"], start_model = work / "sft", Path(run["final"])
        timings["sft"] = time.perf_counter() - t
        miou["sft"] = heldout_miou(start_model, synth, work / "sft" / "eval-heldout", video, prompt, layout)
        curves["sft"] = checkpoint_curve(work / "sft", synth, video, prompt, layout) if args.curve_points else []
        report(args, state, out, complete=False)
    # else: the SFT trainer is not in this checkout, GRPO starts from the base model and "sft" stays null

    every = max(1, args.grpo_steps // max(1, args.curve_points))
    grpo = [f"model.path={start_model}", *data, TIME_R1_REWARDS, f"trl.max_steps={args.grpo_steps}",
            f"trl.save_steps={every}", f"trl.learning_rate={args.grpo_lr}", "trl.logging_steps=1",
            f"trl.max_completion_length={ANSWER_TOKENS}"]
    for name, cls in (("sft_grpo", None), ("sft_grpo_blank_video", blank_video_trainer())):
        t = time.perf_counter()
        run = train("tiny-cpu", grpo, work / name, trainer_cls=cls)
        runs[name] = work / name
        timings[name] = time.perf_counter() - t
        miou[name] = heldout_miou(Path(run["final"]), synth, work / name / "eval-heldout", video, prompt, layout)
        curves[name] = checkpoint_curve(work / name, synth, video, prompt, layout) if args.curve_points else []
        report(args, state, out, complete=name == "sft_grpo_blank_video")


def report(args, state: dict, out: Path, complete: bool) -> None:
    """Write train_learn.json (and the PNG once a GRPO run is done); called after every stage."""
    from tvgbench.core.report import write_json_atomic

    miou = state["miou"]
    done = all(miou[k] is not None for k in ("sft", "sft_grpo", "sft_grpo_blank_video"))
    gain = miou["sft_grpo"] - miou["sft"] if done else None
    control_gap = miou["sft_grpo"] - miou["sft_grpo_blank_video"] if done else None
    result = {
        "heldout_miou": miou,
        "goal": {"sft_grpo_minus_sft": gain, "sft_grpo_minus_blank": control_gap,
                 "met": bool(done and gain >= 5 and control_gap >= 5)},
        "complete": complete,
        "heldout_blind_baselines_miou": state["blind"],
        "heldout_curves": state["curves"], "sft_steps": args.sft_steps if "sft" in state["runs"] else 0,
        "grpo_steps": args.grpo_steps,
        "videos": {"train": args.train_videos, "heldout": args.heldout_videos, "max_duration": args.max_duration},
        "model": {"hidden_size": args.hidden, "num_heads": args.heads},
        "grpo": {"rewards": TIME_R1_REWARDS, "learning_rate": args.grpo_lr, "max_completion_length": ANSWER_TOKENS},
        "seconds": {**state["seconds"], "wall": time.perf_counter() - state["started"]},
        "cpu_count": os.cpu_count(), "load_average_at_end": os.getloadavg(),
    }
    if "sft_grpo" in state["runs"]:
        plot(result, state["runs"], out / "train_learn.png")
    write_json_atomic(out / "train_learn.json", result)
    if complete:
        print(json.dumps({k: result[k] for k in ("heldout_miou", "goal", "seconds")}, indent=2))


if __name__ == "__main__":
    main()
