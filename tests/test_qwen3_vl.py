"""Qwen3-VL behind the adapter: inputs equal to transformers' processor, its timestamps, the tiny model, eval run.

The processor comparison runs transformers' real ``Qwen3VLProcessor`` in a subprocess with the
test-only torchvision stand-in of tests/test_video_qwen.py (the installed torchvision is a CUDA build
that does not load); the frames are already at their final size, so its resize step is skipped.
"""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from test_video_qwen import tv_standin  # noqa: F401  (the stand-in fixture)
from test_video_support import make_testsrc
from tvgbench.core.errors import Timer1Error
from tvgbench.models import adapter_class
from tvgbench.models.qwen3_vl.inputs import patch_times, timestamp_text
from tvgbench.models.qwen3_vl.vllm_inputs import video_metadata
from tvgbench.video import SampledVideo, sample_video
from tvgbench.video.config import SamplingConfig

PROMPT = "<|im_start|>user\n<|vision_start|><|video_pad|><|vision_end|>When?<|im_end|>\n"

PROCESSOR_SCRIPT = """
import json, sys
import numpy as np, torch
from transformers import AutoProcessor
from transformers.video_utils import VideoMetadata

model_dir, case_dir, prompt = sys.argv[1], sys.argv[2], sys.argv[3]
proc = AutoProcessor.from_pretrained(model_dir)
assert type(proc).__name__ == "Qwen3VLProcessor", type(proc)
cases = json.loads(open(f"{case_dir}/cases.json").read())
texts = {}
for name, c in cases.items():
    frames = np.load(f"{case_dir}/{name}.npy")
    meta = VideoMetadata(total_num_frames=c["total_frames"], fps=c["video_fps"], frames_indices=c["indices"],
                         width=frames.shape[2], height=frames.shape[1])
    out = proc(text=[prompt], videos=[frames], video_metadata=[meta], do_resize=False, do_sample_frames=False,
               return_tensors="pt")
    torch.save({k: out[k] for k in ("pixel_values_videos", "video_grid_thw", "input_ids", "mm_token_type_ids")},
               f"{case_dir}/{name}.pt")
    texts[name] = proc.tokenizer.decode(out["input_ids"][0])
print(json.dumps(texts))
"""


@pytest.fixture(scope="module")
def tiny_of(tmp_path_factory):
    """model_type -> a tiny random model folder of that family, built once per module."""
    from tvgbench.models.tiny import build_tiny_model

    built = {}

    def get(model_type: str) -> Path:
        if model_type not in built:
            built[model_type] = build_tiny_model(tmp_path_factory.mktemp(model_type) / "tiny", model_type=model_type)
        return built[model_type]
    return get


@pytest.fixture(scope="module")
def tiny_qwen3(tiny_of) -> Path:
    return tiny_of("qwen3_vl")


@pytest.fixture(scope="module")
def adapter(tiny_qwen3):
    from transformers import AutoConfig

    return adapter_class("qwen3_vl")(AutoConfig.from_pretrained(tiny_qwen3))


def _sampling(adapter, **kw) -> SamplingConfig:
    return replace(SamplingConfig(**kw), **adapter.sampling_factors())


@pytest.fixture(scope="module")
def processor_outputs(tmp_path_factory, tv_standin, tiny_qwen3, adapter):  # noqa: F811
    d = tmp_path_factory.mktemp("qwen3_cases")
    small = dict(total_pixels=64 * 32 * 32, max_pixels=8 * 32 * 32, min_pixels=4 * 32 * 32)
    cases = {  # whole videos: transformers' frames_indices / fps are timer1's timestamps
        "ntsc": sample_video(make_testsrc(d / "ntsc.mp4", seconds=6, fps="30000/1001", size=(90, 160)),
                             config=_sampling(adapter, fps=1.5, **small)),
        "short": sample_video(make_testsrc(d / "short.mp4", seconds=1, fps="30", size=(120, 200)),
                              config=_sampling(adapter, **small)),
    }
    odd = cases["short"]  # 3 frames: the processor repeats the last one, and so does its timestamp
    cases["odd"] = SampledVideo(frames=odd.frames[:3], timestamps=odd.timestamps[:3], sample_fps=odd.sample_fps,
                                meta={**odd.meta, "indices": odd.meta["indices"][:3]})
    for name, s in cases.items():
        assert s.frames.shape[1] % 32 == 0 and s.frames.shape[2] % 32 == 0
        np.save(d / f"{name}.npy", s.frames)
    (d / "cases.json").write_text(json.dumps({n: {"total_frames": s.meta["total_frames"], "video_fps": s.meta["video_fps"],
                                                  "indices": s.meta["indices"]} for n, s in cases.items()}))
    env = {"PYTHONPATH": str(tv_standin), "HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"}
    run = subprocess.run([sys.executable, "-c", PROCESSOR_SCRIPT, str(tiny_qwen3), str(d), PROMPT],
                         capture_output=True, text=True, env=env, timeout=300)
    assert run.returncode == 0, run.stderr[-3000:]
    texts = json.loads(run.stdout.strip().splitlines()[-1])
    return {n: (s, torch.load(d / f"{n}.pt"), texts[n]) for n, s in cases.items()}


@pytest.mark.parametrize("name", ["ntsc", "short", "odd"])
def test_inputs_equal_transformers_processor(processor_outputs, tiny_qwen3, adapter, name):
    from transformers import AutoTokenizer

    sampled, expected, expected_text = processor_outputs[name]
    ours = adapter.video_inputs(sampled)
    assert "second_per_grid_ts" not in ours
    assert torch.equal(ours["pixel_values_videos"], expected["pixel_values_videos"])
    assert torch.equal(ours["video_grid_thw"], expected["video_grid_thw"])
    tok = AutoTokenizer.from_pretrained(tiny_qwen3)
    text = adapter.expand_prompt(PROMPT, ours)
    assert text == expected_text and "seconds>" in text
    ids = tok(text, add_special_tokens=False)["input_ids"]
    assert ids == expected["input_ids"][0].tolist()
    # the trainer's path: the same ids from the unexpanded prompt's ids
    assert adapter.expand_prompt_ids(tok(PROMPT, add_special_tokens=False)["input_ids"], ours, tok) == ids
    kwargs = adapter.video_kwargs([ours], torch.tensor([ids]))
    assert torch.equal(kwargs["mm_token_type_ids"], expected["mm_token_type_ids"])
    assert "second_per_grid_ts" not in kwargs
    # frames kept uint8 (the harness's prefetch queue) normalise to the same floats in video_kwargs
    lazy = adapter.video_kwargs([adapter.video_inputs(sampled, normalize=False)], torch.tensor([ids]))
    assert torch.equal(lazy["pixel_values_videos"], expected["pixel_values_videos"])


@pytest.mark.parametrize("indices,fps", [
    ([0, 15, 30, 45, 60, 75], 30.0),
    ([0, 7, 15], 29.97002997002997),  # odd: the last frame repeats
    (list(range(0, 7200, 13)), 23.976023976023978),  # long video, times > 100 s
    ([3], 25.0),
])
def test_timestamp_text_equals_transformers(indices, fps):
    from transformers.models.qwen3_vl.processing_qwen3_vl import Qwen3VLProcessor

    theirs = Qwen3VLProcessor._calculate_timestamps(None, list(indices), fps, 2)
    ours = patch_times([i / fps for i in indices], 2)
    assert [timestamp_text(t) for t in ours] == [f"<{t:.1f} seconds>" for t in theirs]
    # vLLM gets metadata from which the same formula gives the same times
    s = SampledVideo(frames=np.zeros((len(indices), 32, 32, 3), np.uint8), timestamps=np.asarray(indices) / fps,
                     sample_fps=2.0, meta={"indices": list(indices), "video_fps": fps, "total_frames": 10**5})
    meta = video_metadata(s)
    assert Qwen3VLProcessor._calculate_timestamps(None, meta["frames_indices"], meta["fps"], 2) == theirs


def test_cropped_clip_times_are_clip_relative(adapter):
    ts = np.array([3.0, 3.5, 4.0, 4.5]) - 2.9  # a window from 2.9 s: timer1's timestamps count from it
    s = SampledVideo(frames=np.zeros((4, 32, 32, 3), np.uint8), timestamps=ts, sample_fps=2.0,
                     meta={"indices": [6, 7, 8, 9], "video_fps": 2.0, "clip_start": 2.9, "total_frames": 40})
    video = adapter.video_inputs(s)
    assert [timestamp_text(t) for t in video["patch_times"]] == ["<0.4 seconds>", "<1.4 seconds>"]
    meta = video_metadata(s)
    assert [round(i / meta["fps"], 9) for i in meta["frames_indices"]] == [round(t, 9) for t in ts]


def test_prompt_checks(adapter):
    s = SampledVideo(frames=np.zeros((2, 32, 32, 3), np.uint8), timestamps=np.array([0.0, 0.5]), sample_fps=2.0)
    video = adapter.video_inputs(s)
    with pytest.raises(Timer1Error, match="exactly one"):
        adapter.expand_prompt(PROMPT.replace("<|video_pad|>", ""), video)
    with pytest.raises(Timer1Error, match="multiple of 32"):
        adapter.video_inputs(replace(s, frames=np.zeros((2, 28, 28, 3), np.uint8)))
    assert adapter.sampling_factors() == {"frame_factor": 2, "image_factor": 32}
    assert adapter.num_video_tokens(2, 32, 32) == video["num_video_tokens"] == 1


@pytest.mark.parametrize("model_type", ["qwen3_vl", "qwen3_5"])
def test_tiny_model_loads_and_greedy_output_is_deterministic(tiny_of, model_type):
    from transformers import AutoConfig, AutoTokenizer

    tiny_qwen3 = tiny_of(model_type)
    adapter = adapter_class(model_type)(AutoConfig.from_pretrained(tiny_qwen3))
    cfg = json.loads((tiny_qwen3 / "config.json").read_text())
    assert cfg["model_type"] == model_type and cfg["text_config"]["head_dim"] >= 32
    assert cfg["vision_config"]["hidden_size"] // cfg["vision_config"]["num_heads"] >= 32
    tok = AutoTokenizer.from_pretrained(tiny_qwen3)
    for t in ("<|video_pad|>", "<|vision_start|>", "<|vision_end|>", "<|image_pad|>"):
        assert tok.convert_tokens_to_ids(t) != tok.unk_token_id and t in tok.all_special_tokens
    assert tok.convert_tokens_to_ids("<|video_pad|>") == cfg["video_token_id"]
    model = adapter.model_class().from_pretrained(tiny_qwen3, dtype=torch.float32).eval()
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (4, 64, 96, 3), dtype=np.uint8)

    def inputs(timestamps):
        video = adapter.video_inputs(SampledVideo(frames=frames, timestamps=timestamps, sample_fps=2.0))
        ids = torch.tensor([tok(adapter.expand_prompt(PROMPT, video), add_special_tokens=False)["input_ids"]])
        return {"input_ids": ids, "attention_mask": torch.ones_like(ids), **adapter.video_kwargs([video], ids)}

    def generate(timestamps):
        batch = inputs(timestamps)
        with torch.inference_mode():
            out = model.generate(**batch, max_new_tokens=8, do_sample=False)
        return out[0, batch["input_ids"].shape[1]:].tolist()

    first = generate(np.arange(4) / 2.0)
    assert len(first) > 0 and generate(np.arange(4) / 2.0) == first
    # time is text: other timestamps are other prompt tokens, and the next-token logits see them
    with torch.inference_mode():
        early, late = (model(**inputs(ts)).logits[0, -1] for ts in (np.arange(4) / 2.0, np.arange(4) * 30.0))
    assert not torch.allclose(early, late)


@pytest.mark.parametrize("model_type", ["qwen3_vl", "qwen3_5"])
def test_eval_run_end_to_end(tmp_path, tiny_of, model_type):
    import shutil

    from click.testing import CliRunner

    from tvgbench.cli.main import cli

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg binary not on PATH")
    split, out = tmp_path / "synth", tmp_path / "run"
    res = CliRunner().invoke(cli, ["data", "synth", "--videos", "1", "-o", str(split)])
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(cli, [
        "eval", "run", "--split", str(split), "--model", str(tiny_of(model_type)), "--backend", "hf", "--out", str(out),
        "--quiet", "--limit", "2", "--max-new-tokens", "4", "--fps", "1", "--bootstrap", "0", "--threads", "1"])
    assert res.exit_code == 0, res.output
    lines = [json.loads(line) for line in (out / "predictions.jsonl").read_text().splitlines()]
    assert len(lines) == 2 and all(r["error"] is None for r in lines)
    run = json.loads((out / "run.json").read_text())
    assert run["settings"]["sampling"]["image_factor"] == 32
    assert all(r["video"]["frame_size"][0] % 32 == 0 and r["video"]["frame_size"][1] % 32 == 0 for r in lines)
    video = next((split / "videos").glob("*.mp4"))
    res = CliRunner().invoke(cli, ["predict", "--model", str(tiny_of(model_type)), "--video", str(video), "--query",
                                   "the ball", "--max-new-tokens", "4", "--fps", "1", "--json"])
    assert res.exit_code == 0, res.output
    result = json.loads(res.output[res.output.index("{"):])
    assert result["settings"]["sampling"]["image_factor"] == 32 and result["video"]["frame_size"][0] % 32 == 0


# -- training: two GRPO steps, video (and its timestamps) in every pass -------------------------------
CLIP_TIMES = {"a": np.arange(8) * 2.0, "b": np.arange(4) * 0.5}  # two clips, two time scales


def _trainer(tiny_qwen3, adapter, out, **overrides):
    from datasets import Dataset
    from transformers import AutoTokenizer
    from trl import GRPOConfig

    from trainer.model import freeze_vision
    from trainer.video_grpo import VideoGRPOTrainer
    from tvgbench.models.prompts import build_messages, render_prompt

    tok = AutoTokenizer.from_pretrained(tiny_qwen3)
    model = adapter.model_class().from_pretrained(tiny_qwen3, dtype=torch.float32)
    freeze_vision(model, train_merger=True)
    rng = np.random.default_rng(0)
    videos = {qid: adapter.video_inputs(SampledVideo(frames=rng.integers(0, 256, (len(ts), 64, 64, 3), dtype=np.uint8),
                                                     timestamps=ts, sample_fps=2.0)) for qid, ts in CLIP_TIMES.items()}
    rows = [{"prompt": render_prompt(tok, build_messages(q, "r1", "timer1-train")), "qid": qid, "span": [1.0, 3.0],
             "duration": 8.0} for qid, q in (("a", "a person opens the door"), ("b", "the dog runs"))]
    kw = dict(output_dir=str(out), per_device_train_batch_size=8, num_generations=4, max_completion_length=8,
              max_steps=2, num_iterations=2, use_cpu=True, bf16=False, report_to="none", beta=0.04,
              learning_rate=5e-2, save_strategy="no", gradient_accumulation_steps=1, loss_type="bnpo", logging_steps=1,
              seed=0)
    kw.update(overrides)

    def digit_share(prompts=None, completions=(), **_):
        return [sum(ch.isdigit() for ch in c) / max(1, len(c)) for c in completions]

    return VideoGRPOTrainer(model=model, reward_funcs=[digit_share], args=GRPOConfig(**kw),
                            train_dataset=Dataset.from_list(rows), processing_class=tok,
                            video_inputs=lambda row: videos[row["qid"]]), tok


@pytest.mark.parametrize("model_type", ["qwen3_vl", "qwen3_5"])
def test_two_grpo_steps_see_the_video_and_its_timestamps_in_every_pass(tiny_of, model_type, tmp_path):
    import re

    from transformers import AutoConfig

    adapter = adapter_class(model_type)(AutoConfig.from_pretrained(tiny_of(model_type)))
    tr, tok = _trainer(tiny_of(model_type), adapter, tmp_path)
    expected = {tuple(timestamp_text(t) for t in patch_times(ts)) for ts in CLIP_TIMES.values()}
    calls = []

    def record(kind):
        def hook(module, args, kwargs):
            if kwargs.get("pixel_values_videos") is None:  # later decoding steps reuse the KV cache
                return
            types = kwargs.get("mm_token_type_ids")
            rows = [tuple(re.findall(r"<\d+\.\d seconds>", tok.decode(ids))) for ids in kwargs["input_ids"]]
            calls.append((kind, torch.is_grad_enabled(), types is not None and bool((types == 2).any()), rows,
                          kwargs["video_grid_thw"][:, 0].tolist()))
        return hook

    tr.model.model.register_forward_pre_hook(record("policy"), with_kwargs=True)
    tr.ref_model.model.register_forward_pre_hook(record("ref"), with_kwargs=True)
    merger = {n: p.detach().clone() for n, p in tr.model.named_parameters() if n.startswith("model.visual.")}
    tr.train()
    assert tr.state.global_step == 2
    kinds = {(c[0], c[1]) for c in calls}
    assert {("policy", False), ("policy", True), ("ref", False)} <= kinds, kinds  # rollout/old, loss, reference
    for kind, _, has_types, rows, grid_t in calls:
        assert has_types, f"{kind} pass without mm_token_type_ids"
        assert set(rows) <= expected, f"{kind} pass read other timestamps: {rows}"
        assert sorted(grid_t) == sorted(len(r) for r in rows), f"{kind} pass: grids and timestamps disagree"
    params = dict(tr.model.named_parameters())
    changed = {n for n, v in merger.items() if not torch.equal(params[n].detach(), v)}
    projectors = {n for n in merger if ".merger." in n or ".deepstack_merger_list." in n}
    assert changed == projectors, sorted(changed ^ projectors)  # the mergers train, the encoder stays frozen


@pytest.mark.parametrize("model_type", ["qwen3_vl", "qwen3_5"])
def test_timer1_train_two_steps(tmp_path, tiny_of, model_type):
    import shutil

    from click.testing import CliRunner

    from tvgbench.cli.main import cli

    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg binary not on PATH")
    split, out = tmp_path / "synth", tmp_path / "train"
    assert CliRunner().invoke(cli, ["data", "synth", "--videos", "1", "-o", str(split)]).exit_code == 0
    sets = [f"model.path={tiny_of(model_type)}", f"data.split_dir={split}", "data.limit=2", "trl.num_generations=4",
            "trl.per_device_train_batch_size=4", "trl.max_completion_length=8", "video.max_frames=4",
            "trl.logging_steps=1", "trl.max_steps=2", "trl.save_steps=100"]
    res = CliRunner().invoke(cli, ["train", "--recipe", "tiny-cpu", "-o", str(out), *[a for s in sets for a in ("--set", s)]])
    assert res.exit_code == 0, res.output
    assert json.loads((out / "final" / "config.json").read_text())["model_type"] == model_type
    logged = [json.loads(line) for line in (out / "train_log.jsonl").read_text().splitlines()]
    assert max(r.get("step", 0) for r in logged) == 2
