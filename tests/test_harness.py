"""End-to-end evaluation harness on the synthetic split with the tiny model (CPU, offline)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from tvgbench.cli.main import cli
from tvgbench.harness.jsonl import recover

# small pixel budgets keep the tiny model fast; every value is recorded in run.json
FAST = {"fps": 1.0, "total_pixels": 192 * 28 * 28, "max_pixels": 64 * 28 * 28, "min_pixels": 4 * 28 * 28}
GEN = {"max_new_tokens": 12}
ONE_THREAD = {"threads": 1, "device": "cpu"}  # small ops on a shared 2-core box: 1 thread is ~10x faster


def _lines(run_dir: Path) -> list[dict]:
    return recover(run_dir / "predictions.jsonl", truncate=False)


def _strip_timing(records):
    return {r["qid"]: {k: v for k, v in r.items() if k != "timing"} for r in records}


@pytest.fixture(scope="module")
def full_run(tmp_path_factory, synth_split, tiny_model_dir):
    from tvgbench.harness.runner import run_eval
    from tvgbench.harness.config import RunConfig

    out = tmp_path_factory.mktemp("run") / "full"
    summary = run_eval(RunConfig(synth_split, synth_split, model=tiny_model_dir, out_dir=out, batch_size=3, sampling=FAST,
                                 gen=GEN, backend_options=ONE_THREAD, workers=2, progress=False, bootstrap=200))
    return out, summary


def test_run_writes_predictions_run_json_and_scores(full_run, synth_split):
    from tvgbench.core.splits import load_split

    out, summary = full_run
    split = load_split(synth_split)
    recs = _lines(out)
    assert [r["qid"] for r in recs] == [s.qid for s in split.samples]  # one line per query, split order
    assert summary["status"] == "clean"
    for r in recs:
        assert isinstance(r["text"], str) and r["error"] is None
        assert r["n_tokens"] <= GEN["max_new_tokens"]
        assert r["video"]["n_frames"] >= 4 and r["video"]["video_tokens"] > 0
        assert set(r["timing"]) == {"decode_s", "generate_s", "batch_size"}
    # the random model's text depends on what it sees (a constant text would hide mix-ups)
    assert len({r["text"] for r in recs}) > len(recs) // 2

    run = json.loads((out / "run.json").read_text())
    s = run["settings"]
    assert run["status"] == "clean" and run["queries"] == len(split.samples)
    assert s["prompt"]["name"] == "r1" and len(s["prompt"]["sha256"]) == 64 and "[EVENT]" in s["prompt"]["template"]
    assert s["prompt"]["layout"] == "default"
    assert s["sampling"]["fps"] == 1.0 and s["sampling"]["total_pixels"] == FAST["total_pixels"]
    assert s["sampling"]["decoder"] == "decord"
    assert s["generation"]["greedy"] is True and s["generation"]["max_new_tokens"] == 12
    assert s["split_content_hash"].startswith("sha256:")
    assert run["backend"]["weights_sha256"].startswith("sha256:")
    assert run["libraries"]["torch"] and run["libraries"]["transformers"] and run["project_version"]

    scores = json.loads((out / "scores.json").read_text())
    assert scores["counts"]["scored"] == len(split.samples) and scores["counts"]["missing"] == 0
    # scores.json is exactly what the scorer says about predictions.jsonl
    from tvgbench.core.scoring import score

    again = score(out / "predictions.jsonl", synth_split, bootstrap=200)
    assert again["metrics"] == scores["metrics"]
    assert scores["counts"]["unparseable"] == sum(r["pred"] is None for r in recs)


def test_prefetch_and_inline_decode_give_identical_lines(full_run, tmp_path, synth_split, tiny_model_dir):
    from tvgbench.harness.runner import run_eval

    out, _ = full_run
    inline = tmp_path / "inline"
    run_eval(synth_split, synth_split, tiny_model_dir, out_dir=inline, batch_size=3, sampling=FAST, gen=GEN, backend_options=ONE_THREAD,
             workers=0, progress=False, bootstrap=0)
    assert _strip_timing(_lines(inline)) == _strip_timing(_lines(out))


def test_shards_then_merge_equal_the_full_run(full_run, tmp_path, synth_split, tiny_model_dir):
    from tvgbench.harness.runner import run_eval

    out, _ = full_run
    dirs = []
    for i in range(3):
        d = tmp_path / f"shard{i}"
        summary = run_eval(synth_split, synth_split, tiny_model_dir, out_dir=d, batch_size=3, sampling=FAST, gen=GEN, backend_options=ONE_THREAD,
                           shard=f"{i}/3", progress=False, bootstrap=0)
        assert summary["scores"] is None  # a shard alone is never scored
        dirs.append(str(d))
    res = CliRunner().invoke(cli, ["eval", "merge", *dirs[:2], "-o", str(tmp_path / "bad")])
    assert res.exit_code == 2 and "shards [2] of 3 are missing" in res.output
    project = tmp_path / "project"  # merge writes run.json and scores.json straight into -o: never over a user's
    project.mkdir()
    (project / "run.json").write_text("mine")
    res = CliRunner().invoke(cli, ["eval", "merge", *dirs, "-o", str(project)])
    assert res.exit_code == 2 and res.output.startswith("error: ") and "not empty (run.json)" in res.output
    assert [p.name for p in project.iterdir()] == ["run.json"] and (project / "run.json").read_text() == "mine"
    res = CliRunner().invoke(cli, ["eval", "merge", *dirs, "-o", str(tmp_path / "merged"), "--bootstrap", "200"])
    assert res.exit_code == 0, res.output
    merged = tmp_path / "merged"
    # batches restart at each shard boundary, so compare what does not depend on batch membership
    full = _strip_timing(_lines(out))
    got = _strip_timing(_lines(merged))
    assert list(got) == list(full)
    scores = json.loads((merged / "scores.json").read_text())
    assert scores["counts"]["missing"] == 0 and scores["counts"]["scored"] == len(full)


def test_bad_videos_are_per_query_misses_and_exit_3(tmp_path, synth_split, tiny_model_dir):
    from tvgbench.core.splits import load_split

    split = load_split(synth_split)
    root = tmp_path / "root"
    shutil.copytree(synth_split, root)
    videos = sorted((root / "videos").glob("*.mp4"))
    videos[0].unlink()  # missing
    data = videos[1].read_bytes()
    videos[1].write_bytes(data[: len(data) // 3])  # truncated
    out = tmp_path / "run"
    res = CliRunner().invoke(cli, [
        "eval", "run", "--split", str(root), "--model", str(tiny_model_dir), "--out", str(out), "--quiet",
        "--max-new-tokens", "4", "--fps", "1", "--total-pixels", str(FAST["total_pixels"]),
        "--max-pixels", str(FAST["max_pixels"]), "--bootstrap", "0", "--threads", "1"])
    assert res.exit_code == 3, res.output
    assert "partial:" in res.output
    recs = {r["qid"]: r for r in _lines(out)}
    assert len(recs) == len(split.samples)
    bad0 = [s.qid for s in split.samples if s.video.endswith(videos[0].name)]
    assert bad0 and all(recs[q]["error"]["reason"] == "missing" and recs[q]["pred"] is None for q in bad0)
    bad1 = [s.qid for s in split.samples if s.video.endswith(videos[1].name)]
    assert all(recs[q]["error"] is not None for q in bad1)
    ok = [q for q in recs if q not in bad0 + bad1]
    assert ok and all(recs[q]["error"] is None for q in ok)
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "partial" and run["counts"]["errors_by_reason"]["missing"] == len(bad0)
    scores = json.loads((out / "scores.json").read_text())
    assert scores["counts"]["scored"] == len(split.samples)  # errors stay in the denominator


def test_limit_scores_only_the_evaluated_subset(tmp_path, synth_split, tiny_model_dir):
    from tvgbench.harness.runner import run_eval

    summary = run_eval(synth_split, synth_split, tiny_model_dir, out_dir=tmp_path / "lim", limit=5, batch_size=2,
                       sampling=FAST, gen=GEN, backend_options=ONE_THREAD, progress=False, bootstrap=0)
    assert summary["counts"]["lines"] == 5
    assert summary["scores"]["counts"]["split_queries"] == 5 and summary["scores"]["harness"]["subset"] is True


@pytest.mark.parametrize("args,message", [
    (["--video-root", "/nonexistent/videos"], "is not a folder"),
    (["--shard", "3/3"], "need 0 <= i < n"),
    (["--shard", "x"], "i/n"),
    (["--prompt", "nope"], "unknown prompt"),
    (["--prompt", "mcq_r1"], "not 'tg'"),
    (["--dtype", "float33"], "--dtype must be"),
    (["--model", "/nonexistent/model"], "model folder not found"),
])
def test_bad_input_is_a_one_line_error(tmp_path, synth_split, tiny_model_dir, args, message):
    res = CliRunner().invoke(cli, ["eval", "run", "--split", str(synth_split), "--model", str(tiny_model_dir),
                                   "--out", str(tmp_path / "r"), "--quiet", *args])
    assert res.exit_code == 2
    lines = res.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], res.output


def test_existing_run_needs_resume_or_overwrite_and_resume_checks_settings(full_run, tmp_path, synth_split, tiny_model_dir):
    out, _ = full_run
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    base = ["eval", "run", "--split", str(synth_split), "--model", str(tiny_model_dir), "--out", str(copy), "--quiet",
            "--fps", "1", "--total-pixels", str(FAST["total_pixels"]), "--max-pixels", str(FAST["max_pixels"]),
            "--min-pixels", str(FAST["min_pixels"]), "--batch-size", "3", "--bootstrap", "0", "--threads", "1"]
    res = CliRunner().invoke(cli, base + ["--max-new-tokens", "12"])
    assert res.exit_code == 2 and "--resume" in res.output
    res = CliRunner().invoke(cli, base + ["--max-new-tokens", "13", "--resume"])
    assert res.exit_code == 2 and "generation.max_new_tokens" in res.output
    res = CliRunner().invoke(cli, base + ["--max-new-tokens", "12", "--resume"])  # nothing left to do
    assert res.exit_code == 0, res.output
    assert _strip_timing(_lines(copy)) == _strip_timing(_lines(out))


def test_report_on_the_tiny_model_run(full_run, tmp_path):
    out, _ = full_run
    res = CliRunner().invoke(cli, ["eval", "report", str(out), "-o", str(tmp_path / "rep"), "--bootstrap", "100"])
    assert res.exit_code == 0, res.output
    md = (tmp_path / "rep" / "report.md").read_text()
    scores = json.loads((out / "scores.json").read_text())
    assert f"| mIoU | {scores['metrics']['mIoU']:.2f}" in md
    assert "| prompt | r1 (sha256 " in md and "fps 1.0" in md


def test_frame_cache_gives_identical_lines(full_run, tmp_path, synth_split, tiny_model_dir):
    from tvgbench.harness.runner import run_eval

    out, _ = full_run
    cache = tmp_path / "frames"
    for k in range(2):  # first run fills the cache, second reads it
        run_eval(synth_split, synth_split, tiny_model_dir, out_dir=tmp_path / f"c{k}", batch_size=3, sampling=FAST,
                 gen=GEN, backend_options=ONE_THREAD, cache_dir=cache, progress=False, bootstrap=0)
        assert _strip_timing(_lines(tmp_path / f"c{k}")) == _strip_timing(_lines(out))
    assert any(cache.rglob("*"))


def test_sampling_is_seeded_and_differs_from_greedy(full_run, tmp_path, synth_split, tiny_model_dir):
    from tvgbench.harness.runner import run_eval

    out, _ = full_run
    texts = []
    for k, seed in enumerate((7, 7, 8)):
        run_eval(synth_split, synth_split, tiny_model_dir, out_dir=tmp_path / f"s{k}", batch_size=3, limit=6,
                 sampling=FAST, gen={**GEN, "temperature": 1.0, "top_p": 1.0, "seed": seed},
                 backend_options=ONE_THREAD, progress=False, bootstrap=0)
        texts.append([r["text"] for r in _lines(tmp_path / f"s{k}")])
    greedy = [r["text"] for r in _lines(out)][:6]
    assert texts[0] == texts[1]  # same seed, same samples
    assert texts[0] != texts[2] and texts[0] != greedy
    run = json.loads((tmp_path / "s0" / "run.json").read_text())
    assert run["settings"]["generation"]["greedy"] is False and run["settings"]["generation"]["seed"] == 7


def test_left_padded_batches_equal_one_by_one(full_run, tmp_path, synth_split, tiny_model_dir):
    """Batching (left padding, mixed prompt and video lengths) must not change greedy outputs."""
    from tvgbench.harness.runner import run_eval

    out, _ = full_run
    run_eval(synth_split, synth_split, tiny_model_dir, out_dir=tmp_path / "b1", batch_size=1, limit=14, sampling=FAST,
             gen=GEN, backend_options=ONE_THREAD, progress=False, bootstrap=0)
    one = _lines(tmp_path / "b1")
    batched = _lines(out)[:14]
    # the full run's batch 9-11 mixes two videos of different lengths (11 queries per video)
    assert len({r["video"]["video_tokens"] for r in batched[9:12]}) == 2
    assert [r["text"] for r in one] == [r["text"] for r in batched]


def test_scores_json_follows_the_scorer_schema_and_has_timer1_mode(full_run):
    import jsonschema

    out, _ = full_run
    schema = json.loads((Path(__file__).resolve().parents[1] / "tvgbench" / "core" / "scores.schema.json").read_text())
    scores = json.loads((out / "scores.json").read_text())
    jsonschema.validate(scores, schema)
    assert scores["timer1_mode"]["hit_rule"] == "IoU > θ" and "avg" in scores["timer1_mode"]["metrics"]


def test_a_second_process_cannot_write_into_a_running_run(tmp_path, synth_split, tiny_model_dir):
    import fcntl

    out = tmp_path / "busy"
    out.mkdir()
    with open(out / ".timer1.lock", "a+") as held:  # what a running `eval run` holds
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        res = CliRunner().invoke(cli, ["eval", "run", "--split", str(synth_split), "--model", str(tiny_model_dir),
                                       "--out", str(out), "--quiet", "--limit", "1"])
    assert res.exit_code == 2 and "another timer1 process" in res.output
    assert not (out / "predictions.jsonl").exists()
