"""``timer1 train compare RUN...``: a table, a PNG and JSON of real training runs and their held-out evals."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tvgbench.cli.main import cli

SHORT = ["trl.num_generations=4", "trl.per_device_train_batch_size=4", "trl.max_completion_length=8",
         "video.max_frames=4", "trl.save_steps=1", "trl.logging_steps=1", "trl.max_steps=2",
         "data.synthetic.n_videos=1"]


def invoke(*args):
    return CliRunner().invoke(cli, [str(a) for a in args])


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A finished 2-step tiny-cpu run with two evals saved inside it: a held-out split (another rendered
    video) and its own training split."""
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg binary not on PATH (apt-get install ffmpeg)")
    from tvgbench.data.synth import make_synthetic

    root = tmp_path_factory.mktemp("train_compare")
    run = root / "grpo"
    r = invoke("train", "--recipe", "tiny-cpu", "-o", run, *[a for s in SHORT for a in ("--set", s)])
    assert r.exit_code == 0, r.output
    heldout = root / "heldout"
    make_synthetic(heldout, n_videos=1, seed=7)
    for split, out in ((heldout, "eval-heldout"), (run / "synthetic", "eval-train")):
        r = invoke("eval", "run", "--split", split, "--model", run / "final", "--out", run / out, "--limit", "3",
                   "--max-new-tokens", "4", "--quiet")
        assert r.exit_code == 0, r.output
    return run


def test_table_has_the_curve_summary_and_only_the_held_out_score(trained, tmp_path):
    log = [json.loads(x) for x in (trained / "train_log.jsonl").read_text().splitlines()]
    rewards = [e["reward"] for e in log if "reward" in e]
    scores = json.loads((trained / "eval-heldout" / "scores.json").read_text())
    r = invoke("train", "compare", trained)
    assert r.exit_code == 0, r.output
    header, rule, row = r.output.splitlines()
    assert header.split()[:6] == ["run", "recipe", "paradigm", "steps", "curve", "first"]
    cells = row.split()
    assert cells[:5] == ["grpo", "tiny-cpu", "grpo", "2", "reward"]
    assert cells[5] == f"{rewards[0]:.3f}" and cells[6] == f"{rewards[-1]:.3f}"
    assert f"{scores['metrics']['mIoU']:.1f} (test, 3 q)" in row  # the held-out split, not eval-train


def test_json_holds_the_logged_curve_and_marks_the_training_split_eval(trained):
    r = invoke("train", "compare", trained, "--json")
    assert r.exit_code == 0, r.output
    (run,) = json.loads(r.output)["runs"]
    log = [json.loads(x) for x in (trained / "train_log.jsonl").read_text().splitlines()]
    assert run["curve_key"] == "reward" and run["curve_steps"] == [1, 2]
    assert run["curve_values"] == [e["reward"] for e in log if "reward" in e]
    assert run["extra"]["iou"] == pytest.approx([e["iou"] for e in log if "iou" in e][-1])  # last 10% of 2 steps
    by_folder = {e["folder"]: e for e in run["evals"]}
    assert by_folder["eval-heldout"]["on_training_split"] is False
    assert by_folder["eval-train"]["on_training_split"] is True and by_folder["eval-train"]["model"] == "final"


def test_plot_is_a_png_and_is_not_replaced_without_overwrite(trained, tmp_path):
    other = tmp_path / "grpo-copy"  # a second run: the same folder under another name
    shutil.copytree(trained, other)
    png = tmp_path / "compare.png"
    r = invoke("train", "compare", trained, other, "--plot", png)
    assert r.exit_code == 0, r.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and len(r.output.splitlines()) >= 4
    r = invoke("train", "compare", trained, "--plot", png)
    assert r.exit_code == 2 and r.output.strip().splitlines()[-1].startswith("error: ") and "--overwrite" in r.output
    assert invoke("train", "compare", trained, "--plot", png, "--overwrite").exit_code == 0


def test_a_run_still_training_is_read_from_its_newest_checkpoint(trained, tmp_path):
    running = tmp_path / "running"
    shutil.copytree(trained, running, ignore=shutil.ignore_patterns("run.json", "train_log.jsonl", "checkpoint-2"))
    r = invoke("train", "compare", running, "--json")
    assert r.exit_code == 0, r.output
    (run,) = json.loads(r.output)["runs"]
    assert run["status"] == "training" and run["steps"] == 1 and run["curve_steps"] == [1]
    assert "1 (training)" in invoke("train", "compare", running).output


@pytest.mark.parametrize("kind", ["eval run", "empty folder", "file", "missing"])
def test_a_folder_that_is_not_a_train_run_is_one_error_line(trained, tmp_path, kind):
    target = {"eval run": trained / "eval-heldout", "empty folder": tmp_path, "file": trained / "run.json",
              "missing": tmp_path / "nope"}[kind]
    r = invoke("train", "compare", trained, target)
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert r.exit_code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in r.output
    assert str(target) in lines[0]
