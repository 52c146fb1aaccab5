"""The timer1 command as a user runs it: subprocesses, exit codes, one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest


def run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "tvgbench.cli.main", *args], capture_output=True, text=True, **kw)


def test_help_and_version_are_fast_and_import_no_deep_learning_stack():
    code = ("import sys; from click.testing import CliRunner; from tvgbench.cli.main import cli; "
            "r = CliRunner().invoke(cli, ['--help']); assert r.exit_code == 0, r.output; "
            "heavy = [m for m in ('torch', 'transformers', 'trl', 'vllm', 'datasets') if m in sys.modules]; "
            "print(','.join(heavy))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""
    r = run("--version")
    assert r.returncode == 0 and r.stdout.startswith("timer1 ")


@pytest.mark.parametrize("group", ["data", "eval", "data ingest", "eval score"])
def test_help_everywhere(group):
    r = run(*group.split(), "--help")
    assert r.returncode == 0 and "Usage:" in r.stdout


def test_ingest_then_score_end_to_end(tvgbench_json, tmp_path):
    out = tmp_path / "tvgbench"
    r = run("data", "ingest", "--format", "timer1-tvgbench", str(tvgbench_json), "-o", str(out))
    assert r.returncode == 0, r.stderr
    assert "kept 800" in r.stdout and "bins differ for item 510" in r.stdout
    import pyarrow.parquet as pq

    rows = pq.read_table(out / "data" / "test-00000-of-00001.parquet").to_pylist()
    preds = tmp_path / "p.jsonl"
    preds.write_text("".join(json.dumps({"qid": r_["qid"], "pred": r_["span"]}) + "\n" for r_ in rows[:400]))
    r = run("eval", "score", str(preds), "--split", str(out), "--json", "--bootstrap", "50", "--out", str(tmp_path / "s.json"))
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    # perfect predictions on half the queries: the 11 zero-length GTs can never be hit
    zero_len = sum(1 for r_ in rows[:400] if r_["span"][0] == r_["span"][1])
    assert res["metrics"]["R1@0.3"] == pytest.approx(100 * (400 - zero_len) / 800)
    assert json.loads((tmp_path / "s.json").read_text())["metrics"] == res["metrics"]
    r = run("eval", "score", str(preds), "--split", str(out))
    assert r.returncode == 0 and "R1@0.5" in r.stdout and "by qtype" in r.stdout


@pytest.mark.parametrize("args,needle", [
    (["data", "ingest", "--format", "nope", "x.json", "-o", "out"], "Invalid value for '--format'"),
    (["data", "ingest", "--format", "charades-sta", "missing.json", "-o", "out"], "file not found"),
    (["eval", "score", "missing.jsonl", "--split", "nowhere"], "not found"),
    (["eval", "score", "bad.jsonl", "--split", "SPLIT"], "line 2: not valid JSON"),
    (["no-such-command"], "No such command"),
])
def test_bad_input_is_one_line_and_nonzero(tvgbench_split, tmp_path, args, needle):
    (tmp_path / "bad.jsonl").write_text('{"qid": "a", "pred": [1, 2]}\n{"qid": \n')
    args = [str(tvgbench_split) if a == "SPLIT" else a for a in args]
    r = run(*args, cwd=tmp_path)
    assert r.returncode != 0
    assert "Traceback" not in r.stderr
    lines = [ln for ln in r.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and needle in lines[0], r.stderr
