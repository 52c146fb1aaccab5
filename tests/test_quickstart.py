"""The README's main job, end to end on the synthetic benchmark (small settings)."""

import json
import shutil
import subprocess
import sys

import pytest


@pytest.mark.slow
def test_quickstart_runs_the_whole_pipeline(tmp_path):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg binary not installed (apt-get install -y ffmpeg)")
    out = tmp_path / "qs"
    r = subprocess.run([sys.executable, "-m", "tvgbench.cli.main", "quickstart", "-o", str(out), "--videos", "1",
                        "--max-new-tokens", "8"], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "baseline: middle half" in r.stdout and "tiny-qwen2.5-vl" in r.stdout
    scores = json.loads((out / "runs" / "tiny-qwen2.5-vl" / "scores.json").read_text())
    n = scores["split"]["queries"]
    assert n == 11 and scores["counts"]["scored"] == n
    lines = (out / "runs" / "tiny-qwen2.5-vl" / "predictions.jsonl").read_text().splitlines()
    assert len(lines) == n
    assert (out / "site" / "index.html").exists() and (out / "leaderboard.sqlite").exists()
