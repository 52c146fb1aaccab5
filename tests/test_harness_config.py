"""One run configuration: run.json's settings pinned, option defaults = dataclass defaults, small signatures."""

from __future__ import annotations

import ast
import dataclasses
import inspect
import json
from pathlib import Path
from types import SimpleNamespace

import pytest
from click.testing import CliRunner

from tvgbench.cli.main import cli
from tvgbench.core.errors import Timer1Error
from tvgbench.harness.backends.base import GenParams
from tvgbench.harness.config import PredictConfig, QARunConfig, RunConfig, config_from_call, parse_shard
from tvgbench.video.config import SamplingConfig

REPO = Path(__file__).resolve().parents[1]
GOLDEN = Path(__file__).parent / "golden"
# run.json "settings" written before the settings became a dataclass (paths rewritten to /golden)
SPLIT = SimpleNamespace(name="test", window_mode="crop",
                        content_hash="sha256:5479b8244a24c20c96e4aa4110f0680715fc39389b7520924f70a3005ada0800")
FAST = {"fps": 1.0, "total_pixels": 192 * 28 * 28, "max_pixels": 64 * 28 * 28, "min_pixels": 4 * 28 * 28}


def _golden(name: str) -> str:
    return (GOLDEN / f"run_settings_{name}.json").read_text()


def test_tvg_settings_are_byte_identical_to_the_keyword_era_run_json():
    # `run_eval(..., shard="1/6", layout/parser timer1-eval, prompt nothink, dict sampling and gen, workers=0)`
    config = RunConfig("/golden/synth", "/golden/synth", model="/golden/tiny", shard="1/6", layout="timer1-eval",
                       parser="timer1-eval", prompt="nothink", batch_size=2, sampling={**FAST, "resize": "torch"},
                       gen={"max_new_tokens": 10, "temperature": 0.7, "seed": 3},
                       backend_options={"threads": 1, "device": "cpu"}, workers=0)
    assert json.dumps(config.resolved().settings(SPLIT), indent=2) == _golden("api_shard")


def test_cli_settings_are_byte_identical_to_the_keyword_era_run_json(monkeypatch):
    seen = {}
    monkeypatch.setattr("tvgbench.harness.runner.run_eval", lambda config: seen.setdefault("config", config) and {
        "counts": {"lines": 0, "errors": 0, "unparsed": 0}, "status": "clean", "out_dir": "o"})
    r = CliRunner().invoke(cli, ["eval", "run", "--split", "/golden/synth", "--model", "/golden/tiny", "--out", "o",
                                 "--batch-size", "3", "--limit", "7", "--workers", "1", "--bootstrap", "200", "--quiet",
                                 "--cache-dir", "c", "--fps", "1.0", "--total-pixels", str(FAST["total_pixels"]),
                                 "--max-pixels", str(FAST["max_pixels"]), "--min-pixels", str(FAST["min_pixels"]),
                                 "--max-new-tokens", "12", "--threads", "1", "--device", "cpu"])
    assert r.exit_code == 0, r.output
    assert json.dumps(seen["config"].resolved().settings(SPLIT), indent=2) == _golden("cli_tvg")


def test_a_later_sampling_field_is_recorded_only_when_it_is_not_the_default():
    """max_source_pixels came after the golden runs: at its default run.json (and a resume's check) is as
    before; another value is recorded, so a resume with a different one is refused."""
    from tvgbench.harness.config import fingerprint

    default = RunConfig("/golden/synth", model="/golden/tiny", sampling=FAST).resolved().settings(SPLIT)
    bounded = RunConfig("/golden/synth", model="/golden/tiny", sampling={**FAST, "max_source_pixels": 1 << 20})
    bounded = bounded.resolved().settings(SPLIT)
    assert "max_source_pixels" not in default["sampling"] and bounded["sampling"]["max_source_pixels"] == 1 << 20
    assert "sampling.max_source_pixels" in set(fingerprint(bounded)) - set(fingerprint(default))


def test_qa_settings_are_byte_identical_to_the_keyword_era_run_json():
    config = QARunConfig("mvbench", "/golden/mvbench", model="/golden/tiny", sampling=FAST, gen={"max_new_tokens": 12},
                         backend_options={"device": "cpu", "dtype": "auto", "threads": 1}, workers=0)
    assert json.dumps(config.resolved().settings(), indent=2) == _golden("qa")


def _captured(monkeypatch, target: str, args: list[str]):
    seen = {}

    def fake(config, *a, **kw):
        seen["config"] = config
        raise SystemExit(0)

    monkeypatch.setattr(target, fake)
    r = CliRunner().invoke(cli, args)
    assert r.exit_code == 0, r.output
    return seen["config"]


def test_option_defaults_are_the_dataclass_defaults(monkeypatch, tmp_path):
    hf_defaults = {"device": "auto", "dtype": "auto", "threads": None}
    run = _captured(monkeypatch, "tvgbench.harness.runner.run_eval",
                    ["eval", "run", "--split", "s", "--model", "m", "--out", "o"])
    assert run == RunConfig("s", model="m", out_dir="o", backend_options=hf_defaults)
    qa = _captured(monkeypatch, "tvgbench.harness.qa.run_qa",
                   ["eval", "qa", "--dataset", "mvbench", "--root", str(tmp_path), "--model", "m", "--out", "o"])
    assert qa == QARunConfig("mvbench", str(tmp_path), model="m", out_dir="o", backend_options=hf_defaults)
    assert qa.prompt == "mcq_r1"
    pred = _captured(monkeypatch, "tvgbench.harness.predict.predict_one",
                     ["predict", "--model", "m", "--video", "v.mp4", "--query", "q"])
    assert pred == PredictConfig(model="m", backend_options=hf_defaults)
    assert run.sampling == SamplingConfig() and run.gen == GenParams()


def test_preprocess_sampling_defaults_are_sampling_configs(monkeypatch, tmp_path):
    seen = {}

    def fake(*args, config, **kw):
        seen["config"] = config
        raise SystemExit(0)

    monkeypatch.setattr("tvgbench.video.preprocess.preprocess", fake)
    r = CliRunner().invoke(cli, ["data", "preprocess", "s", "--video-root", "s", "--cache", str(tmp_path / "c")])
    assert r.exit_code == 0, r.output
    # all but the decoder: preprocess defaults to auto (PyAV reads decord's frames faster, same cache entries)
    assert seen["config"] == dataclasses.replace(SamplingConfig(), decoder="auto")


def test_backend_option_defaults_are_the_backends_own():
    from tvgbench.harness.backends.hf import HFBackend
    from tvgbench.harness.backends.openai import OpenAIBackend
    from tvgbench.cli.harness import run as run_cmd

    options = {p.name: p.default for p in run_cmd.params}
    for cls, names in ((HFBackend, ("device", "dtype", "threads")), (OpenAIBackend, ("api_base", "api_key_env"))):
        params = inspect.signature(cls.__init__).parameters
        for name in names:
            assert options[name] == params[name].default, (cls.__name__, name)


def test_configs_are_frozen_validated_and_normalised():
    c = RunConfig("split", model="m", shard="2/4", sampling={"fps": 1.0}, gen={"max_new_tokens": 3})
    assert c.video_root == "split" and c.shard == (2, 4)
    assert c.sampling == SamplingConfig(fps=1.0) and c.gen == GenParams(max_new_tokens=3)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.batch_size = 8
    for bad, message in (({"batch_size": 0}, "--batch-size"), ({"limit": 0}, "--limit"), ({"layout": "x"}, "layout"),
                         ({"parser": "x"}, "parser"), ({"shard": "4/4"}, "--shard"), ({"workers": -1}, "--workers")):
        with pytest.raises(Timer1Error, match=message):
            RunConfig("split", model="m", **bad).resolved()
    with pytest.raises(Timer1Error, match="parser"):
        QARunConfig("mvbench", "root", model="m", parser="canonical")
    with pytest.raises(Timer1Error, match="is for task"):
        RunConfig("split", model="m", prompt="mcq_r1").resolved()
    assert parse_shard([1, 3]) == (1, 3)


def test_the_older_keyword_call_builds_the_same_config():
    positional = ("split_dir", "video_root", "model")
    new = RunConfig("s", "v", model="m", batch_size=2)
    assert config_from_call(RunConfig, positional, ("s", "v", "m"), {"batch_size": 2}) == new
    assert config_from_call(RunConfig, positional, (new,), {}) is new
    with pytest.raises(TypeError):
        config_from_call(RunConfig, positional, (new,), {"batch_size": 3})


OWNED = ["tvgbench/harness/runner.py", "tvgbench/harness/rundir.py", "tvgbench/cli/harness.py", "tvgbench/harness/qa.py",
         "tvgbench/harness/predict.py", "tvgbench/harness/provenance.py", "tvgbench/harness/merge.py",
         "tvgbench/harness/config.py", "tvgbench/cli/preprocess.py", "tvgbench/video/config.py", "leaderboard/quickstart.py"]


@pytest.mark.parametrize("path", OWNED)
def test_no_function_but_a_click_command_takes_more_than_ten_parameters(path):
    tree = ast.parse((REPO / path).read_text())
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            is_command = any("command" in ast.unparse(d) for d in node.decorator_list)
            a = node.args
            n = len(a.posonlyargs) + len(a.args) + len(a.kwonlyargs)  # *args/**kwargs not counted
            assert is_command or n <= 10, f"{path}:{node.lineno} {node.name} takes {n} parameters"
