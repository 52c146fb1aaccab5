"""kill -9 at random moments, then --resume: the predictions equal an uninterrupted run's, line for line."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time

import pytest

from tvgbench.harness.jsonl import recover

FAST = {"fps": 1.0, "total_pixels": 192 * 28 * 28, "max_pixels": 64 * 28 * 28, "min_pixels": 4 * 28 * 28}
MAX_NEW = 12


def _cli_args(split, model, out):
    return [sys.executable, "-m", "tvgbench.cli.main", "eval", "run", "--split", str(split), "--model", str(model),
            "--out", str(out), "--quiet", "--batch-size", "3", "--max-new-tokens", str(MAX_NEW), "--fps", "1",
            "--total-pixels", str(FAST["total_pixels"]), "--max-pixels", str(FAST["max_pixels"]),
            "--min-pixels", str(FAST["min_pixels"]), "--threads", "1", "--device", "cpu", "--bootstrap", "0"]


def _content(records):
    return [{k: v for k, v in r.items() if k != "timing"} for r in records]


def _line_count(path) -> int:
    try:
        return path.read_bytes().count(b"\n")
    except FileNotFoundError:
        return 0


@pytest.fixture(scope="module")
def reference(tmp_path_factory, synth_split, tiny_model_dir):
    from tvgbench.harness.runner import run_eval

    out = tmp_path_factory.mktemp("reference") / "run"
    run_eval(synth_split, synth_split, tiny_model_dir, out_dir=out, batch_size=3, sampling=FAST,
             gen={"max_new_tokens": MAX_NEW}, backend_options={"threads": 1, "device": "cpu"}, progress=False,
             bootstrap=0)
    return recover(out / "predictions.jsonl", truncate=False)


@pytest.mark.slow
def test_kill_dash_nine_at_random_points_then_resume_is_exact(tmp_path, synth_split, tiny_model_dir, reference):
    seed = int(os.environ.get("TIMER1_TEST_SEED", random.randrange(1 << 30)))
    rng = random.Random(seed)
    out = tmp_path / "run"
    pred = out / "predictions.jsonl"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    n = len(reference)
    kills = []
    for attempt in range(3):
        args = _cli_args(synth_split, tiny_model_dir, out) + (["--resume"] if attempt else [])
        before = _line_count(pred)
        # kill when the file has grown by a random number of lines (mid-batch included), or, for the
        # first attempt, possibly before any line exists (during model loading)
        target = before + rng.randint(0 if attempt == 0 else 1, max(1, (n - before) // 2))
        extra_delay = rng.uniform(0, 0.3)
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 240
        while proc.poll() is None and _line_count(pred) < target and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(extra_delay)
        if proc.poll() is None:
            proc.send_signal(signal.SIGKILL)
            proc.wait()
            kills.append(_line_count(pred))
        else:
            break
    final = subprocess.run(_cli_args(synth_split, tiny_model_dir, out) + ["--resume"], env=env,
                           capture_output=True, text=True, timeout=600)
    assert final.returncode == 0, f"seed {seed}: {final.stderr[-2000:]}"
    assert kills and any(0 < k < n for k in kills), f"seed {seed}: no kill landed mid-run ({kills})"
    got = recover(pred, truncate=False)
    qids = [r["qid"] for r in got]
    assert len(qids) == len(set(qids)), f"seed {seed}: duplicate lines after kills at {kills}"
    assert _content(got) == _content(reference), f"seed {seed}: kills at {kills} changed the output"
    assert pred.read_bytes().endswith(b"\n")


def test_torn_last_line_is_dropped_and_redone(tmp_path, synth_split, tiny_model_dir, reference):
    from tvgbench.harness.runner import run_eval

    out = tmp_path / "run"
    out.mkdir()
    pred = out / "predictions.jsonl"
    import orjson

    # 7 complete lines and a torn 8th, as a kill in the middle of a write would leave
    body = b"".join(orjson.dumps(r) + b"\n" for r in reference[:7])
    pred.write_bytes(body + orjson.dumps(reference[7])[:25])
    summary = run_eval(synth_split, synth_split, tiny_model_dir, out_dir=out, batch_size=3, sampling=FAST,
                       gen={"max_new_tokens": MAX_NEW}, backend_options={"threads": 1, "device": "cpu"},
                       resume=True, progress=False, bootstrap=0)
    assert summary["last_session"]["written"] == len(reference) - 7
    got = recover(pred, truncate=False)
    assert _content(got) == _content(reference)


def test_corrupt_middle_line_is_an_error_not_silently_skipped(tmp_path, synth_split, tiny_model_dir, reference):
    from click.testing import CliRunner

    from tvgbench.cli.main import cli

    out = tmp_path / "run"
    out.mkdir()
    import orjson

    lines = [orjson.dumps(r) for r in reference[:3]]
    lines[1] = lines[1][:10]
    (out / "predictions.jsonl").write_bytes(b"\n".join(lines) + b"\n")
    res = CliRunner().invoke(cli, ["eval", "run", "--split", str(synth_split), "--model", str(tiny_model_dir),
                                   "--out", str(out), "--resume", "--quiet"])
    assert res.exit_code == 2 and "line 2 is corrupt" in res.output
