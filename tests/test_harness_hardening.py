"""Harness hardening (issue 13, items 15, 19, 20): a bad model or video root fails at once and leaves
nothing behind; a resume accepts the same model however it is spelled. (Items 15 and 16 over the
openai backend: tests/test_harness_openai.py.)"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest
from click.testing import CliRunner

from tvgbench.cli.main import cli
from tvgbench.harness.jsonl import recover

FAST = ["--fps", "1", "--total-pixels", str(192 * 28 * 28), "--max-pixels", str(64 * 28 * 28),
        "--min-pixels", str(4 * 28 * 28), "--max-new-tokens", "4", "--threads", "1", "--device", "cpu",
        "--bootstrap", "0", "--quiet"]
HEAVY = ("torch", "transformers", "decord", "av")

# what a user's process does: call the harness, and report the error and which heavy libraries it loaded
PROBE = """
import json, sys
from tvgbench.core.errors import Timer1Error
{setup}
try:
    {call}
    print(json.dumps({{"error": None}}))
except Timer1Error as e:
    print(json.dumps({{"error": str(e), "heavy": [m for m in {heavy!r} if m in sys.modules]}}))
"""


def _probe(setup: str, call: str) -> dict:
    code = PROBE.format(setup=setup, call=call, heavy=HEAVY)
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.fixture
def not_a_model(tmp_path, tiny_model_dir):
    empty = tmp_path / "empty-folder"
    empty.mkdir()
    unfinished = tmp_path / "half-downloaded"  # the config and tokenizer came, the weights did not
    shutil.copytree(tiny_model_dir, unfinished, ignore=shutil.ignore_patterns("*.safetensors"))
    return {"missing": (str(tmp_path / "no-such-model"), ["model folder not found", "no-such-model", "config.json"]),
            # offline and not in the HF cache: what to run on a networked machine (tests/test_hub_models.py)
            "hub id": ("Qwen/Qwen2.5-VL-7B-Instruct", ["Qwen/Qwen2.5-VL-7B-Instruct", "offline",
                                                       "hf download Qwen/Qwen2.5-VL-7B-Instruct"]),
            "no config": (str(empty), ["config.json", str(empty)]),
            "no weights": (str(unfinished), ["no weights", "*.safetensors", str(unfinished)])}


@pytest.mark.parametrize("kind", ["missing", "hub id", "no config", "no weights"])
def test_eval_run_checks_the_model_before_any_decode_or_heavy_import(tmp_path, synth_split, not_a_model, kind):
    model, expected = not_a_model[kind]
    out = tmp_path / "run"
    got = _probe("from tvgbench.harness.runner import run_eval",
                 f"run_eval({str(synth_split)!r}, {str(synth_split)!r}, {model!r}, out_dir={str(out)!r}, progress=False)")
    assert got["error"] is not None and "\n" not in got["error"]
    assert all(word in got["error"] for word in expected), got["error"]
    assert got["heavy"] == []  # neither torch nor a decoder was loaded to find out
    assert not out.exists()  # no run folder, no lock left behind


def test_predict_checks_the_model_before_decoding_the_video(tmp_path, synth_split, not_a_model):
    model, expected = not_a_model["missing"]
    video = sorted((synth_split / "videos").glob("*.mp4"))[0]
    got = _probe("from tvgbench.harness.config import PredictConfig\nfrom tvgbench.harness.predict import predict_one",
                 f"predict_one(PredictConfig(model={model!r}), {str(video)!r}, 'a red square appears')")
    assert got["error"] is not None and all(word in got["error"] for word in expected), got["error"]
    assert got["heavy"] == []


def test_eval_qa_checks_the_model_first(tmp_path, not_a_model):
    model, expected = not_a_model["hub id"]
    out = tmp_path / "qa"
    got = _probe("from tvgbench.harness.qa import run_qa",
                 f"run_qa('mvbench', {str(tmp_path)!r}, {model!r}, out_dir={str(out)!r}, progress=False)")
    assert got["error"] is not None and all(word in got["error"] for word in expected), got["error"]
    assert not out.exists()


def test_a_refused_run_leaves_no_lock_behind(tmp_path, synth_split, tiny_model_dir):
    out = tmp_path / "run"
    out.mkdir()
    (out / "predictions.jsonl").write_text("")  # a run is there already: refused without --resume
    res = CliRunner().invoke(cli, ["eval", "run", "--split", str(synth_split), "--model", str(tiny_model_dir),
                                   "--out", str(out), *FAST])
    assert res.exit_code == 2 and "--resume" in res.output
    assert sorted(p.name for p in out.iterdir()) == ["predictions.jsonl"]


def test_a_lock_left_by_a_killed_run_is_taken_over_and_removed(tmp_path):
    import fcntl

    from tvgbench.core.errors import Timer1Error
    from tvgbench.harness.runner import RunLock

    out = tmp_path / "run"
    out.mkdir()
    (out / ".timer1.lock").write_text("")  # kill -9 leaves the file (the kernel released the flock)
    with RunLock(out):
        with pytest.raises(Timer1Error, match="another timer1 process"):
            RunLock(out).__enter__()
        with open(out / ".timer1.lock") as f:  # the file now is the one held
            with pytest.raises(BlockingIOError):
                fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    assert list(out.iterdir()) == []


def test_missing_model_on_the_command_line_leaves_no_run_folder(tmp_path, synth_split):
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, ["eval", "run", "--split", str(synth_split), "--model", str(tmp_path / "nope"),
                                   "--out", str(out), *FAST])
    assert res.exit_code == 2 and res.output.startswith("error: model folder not found"), res.output
    assert len(res.output.strip().splitlines()) == 1
    assert not out.exists()


def test_no_video_found_fails_at_once_with_a_hint(tmp_path, synth_split, tiny_model_dir):
    wrong_root = tmp_path / "elsewhere"
    wrong_root.mkdir()
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, ["eval", "run", "--split", str(synth_split), "--video-root", str(wrong_root),
                                   "--model", str(tiny_model_dir), "--out", str(out), *FAST])
    assert res.exit_code == 2, res.output
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: none of the 44 queries' videos")
    assert "--video-root" in lines[0] and str(wrong_root / "videos") in lines[0]
    assert not out.exists()


def test_some_missing_videos_still_run_as_per_query_errors(tmp_path, synth_split):
    """The no-video check fires only when no video at all is there (one missing file is a per-query miss)."""
    from tvgbench.harness.runner import check_videos_exist

    videos = sorted((synth_split / "videos").glob("*.mp4"))
    check_videos_exist([videos[0], tmp_path / "missing.mp4"], hint="")
    with pytest.raises(Exception, match="none of the 2 queries' videos"):
        check_videos_exist([tmp_path / "a.mp4", tmp_path / "b.mp4"], hint="")


def _content(records):
    return [{k: v for k, v in r.items() if k != "timing"} for r in records]


def test_resume_accepts_the_same_model_spelled_differently(tmp_path, synth_split, tiny_model_dir, monkeypatch):
    out = tmp_path / "run"
    common = ["eval", "run", "--split", str(synth_split), "--out", str(out), "--limit", "4", "--batch-size", "2", *FAST]
    res = CliRunner().invoke(cli, common + ["--model", str(tiny_model_dir)])
    assert res.exit_code == 0, res.output
    pred = out / "predictions.jsonl"
    full = recover(pred, truncate=False)
    pred.write_text("".join(line + "\n" for line in pred.read_text().splitlines()[:2]))  # as if killed
    monkeypatch.chdir(tiny_model_dir.parent)
    res = CliRunner().invoke(cli, common + ["--model", tiny_model_dir.name, "--resume"])  # relative now
    assert res.exit_code == 0, res.output
    assert _content(recover(pred, truncate=False)) == _content(full)

    other = tmp_path / "other-model"  # a different model (another config) is still refused
    shutil.copytree(tiny_model_dir, other)
    config = json.loads((other / "config.json").read_text())
    config["rope_theta"] = float(config.get("rope_theta", 10000.0)) * 2
    (other / "config.json").write_text(json.dumps(config))
    res = CliRunner().invoke(cli, common + ["--model", str(other), "--resume"])
    assert res.exit_code == 2 and "cannot resume" in res.output and "model" in res.output, res.output


def test_merge_accepts_shards_of_one_checkpoint_spelled_differently(tmp_path, synth_split, tiny_model_dir,
                                                                    monkeypatch):
    common = ["eval", "run", "--split", str(synth_split), "--shard", "{}/2", "--limit", "1", *FAST]
    res = CliRunner().invoke(cli, [a.format(0) for a in common] + ["--model", str(tiny_model_dir),
                                                                   "--out", str(tmp_path / "s0")])
    assert res.exit_code == 0, res.output
    monkeypatch.chdir(tiny_model_dir.parent)
    res = CliRunner().invoke(cli, [a.format(1) for a in common] + ["--model", tiny_model_dir.name,
                                                                   "--out", str(tmp_path / "s1")])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, ["eval", "merge", str(tmp_path / "s0"), str(tmp_path / "s1"), "-o",
                                   str(tmp_path / "merged"), "--bootstrap", "0"])
    assert res.exit_code == 0, res.output
    assert len(recover(tmp_path / "merged" / "predictions.jsonl", truncate=False)) == 2
