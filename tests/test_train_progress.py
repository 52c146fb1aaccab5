"""What ``timer1 train`` shows: one progress bar and a readable line per logging step (trainer/progress.py)."""

from __future__ import annotations

import io
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest

from trainer.progress import TrainProgress, format_end_line, format_log_line

REPO = Path(__file__).resolve().parents[1]
SHORT = ["trl.num_generations=4", "trl.per_device_train_batch_size=4", "trl.max_completion_length=8",
         "video.max_frames=4", "trl.save_steps=1", "trl.logging_steps=1", "trl.max_steps=2",
         "data.synthetic.n_videos=1"]
# a bar rendering: "<desc>: 50%|█████     | 1/2 [00:00<00:00, 1.15step/s]"
BAR = re.compile(r"(?:(?P<desc>[^\r\n|]*?): )?\s*\d+%\|[^|]*\| *\d+/\d+ \[")

# one log entry as TRL 1.16 wrote it for the tiny-cpu recipe (train_log.jsonl, step 2)
LOGGED = {"loss": 0.02977, "grad_norm": 0.7312, "learning_rate": 0.003, "num_tokens": 2224.0,
          "completions/mean_length": 8.0, "rewards/iou_v2/mean": 0.0, "rewards/iou_v2/std": 0.0,
          "rewards/format/mean": 0.25, "rewards/format/std": 0.5, "rewards/tags/mean": 0.1667,
          "rewards/tags/std": 0.0, "reward": 0.4167, "reward_std": 0.0, "frac_reward_zero_std": 1.0,
          "iou": 0.125, "kl": 0.7443, "entropy": 4.916, "step_time": 0.2799, "epoch": 0.1818}


def test_a_log_entry_reads_as_one_line_with_each_reward_part():
    line = format_log_line(LOGGED, step=2, max_steps=80)
    assert line == ("step 2/80  reward 0.417 (iou_v2 0.000, format 0.250, tags 0.167)  loss 0.02977  "
                    "IoU 0.125  format 25%  KL 0.744  0.28 s/step")


def test_what_a_log_lacks_is_left_out_and_the_closing_log_has_its_own_line():
    sft_like = {"loss": 1.25, "grad_norm": 3.0, "learning_rate": 1e-4, "epoch": 0.5}  # no rewards, no KL
    assert format_log_line(sft_like, 3, 10) == "step 3/10  loss 1.25"
    closing = {"train_runtime": 1.0811, "train_samples_per_second": 7.4, "train_loss": 0.0149, "epoch": 0.18}
    assert format_log_line(closing, 2, 2) is None
    assert format_end_line(closing, 2) == "trained to step 2 in 1.1 s (mean loss 0.0149)"


def test_without_a_bar_the_lines_are_still_printed():
    out = io.StringIO()
    cb = TrainProgress(bar=False, stream=out)
    state = SimpleNamespace(is_world_process_zero=True, global_step=2, max_steps=80)
    cb.on_train_begin(None, state, None)
    cb.on_log(None, state, None, logs=dict(LOGGED))
    cb.on_train_end(None, state, None)
    assert out.getvalue() == format_log_line(LOGGED, 2, 80) + "\n"


@pytest.mark.slow
def test_a_two_step_run_shows_one_bar_and_readable_lines(tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg binary not on PATH (apt-get install ffmpeg)")
    out = tmp_path / "run"
    sets = [a for s in (*SHORT, "trl.report_to=tensorboard") for a in ("--set", s)]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    r = subprocess.run([sys.executable, "-m", "tvgbench.cli.main", "train", "--recipe", "tiny-cpu", "-o", str(out),
                        *sets], capture_output=True, text=True, cwd=REPO, env=env, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    shown = r.stdout + r.stderr
    bars = [m.group("desc") for m in BAR.finditer(shown)]
    assert bars and set(bars) == {"training"}, bars  # no "Loading weights" / "Writing model shards" bars
    assert shown.count("0/2 [") == 1  # one bar, started once
    assert "'loss'" not in shown and "'grad_norm'" not in shown  # none of transformers' raw dicts
    lines = [seg.strip() for seg in re.split(r"[\r\n]", shown) if seg.strip().startswith("step ")]
    assert [ln.split("  ")[0] for ln in lines] == ["step 1/2", "step 2/2"]
    log = [json.loads(x) for x in (out / "train_log.jsonl").read_text().splitlines()]
    for line, entry in zip(lines, log):
        assert f"reward {entry['reward']:.3f} (iou_v2 {entry['rewards/iou_v2/mean']:.3f}, " in line
        assert f"IoU {entry['iou']:.3f}" in line and "format " in line and "KL " in line
        assert re.search(r" \d+\.\d\d s/step$", line)
        assert 0.0 <= entry["iou"] <= 1.0
    assert "trained to step 2 in " in shown

    # TensorBoard gets the scalars as before, the mean IoU among them
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(next(out.rglob("events.out.tfevents*")).parent))
    events.Reload()
    tags = set(events.Tags()["scalars"])
    assert {"train/reward", "train/kl", "train/rewards/iou_v2/mean", "train/iou"} <= tags, tags
