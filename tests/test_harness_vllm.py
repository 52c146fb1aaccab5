"""vLLM request building, without vLLM installed (the backend imports it only when built)."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from tvgbench.harness.backends.base import GenParams
from tvgbench.harness.backends.vllm import engine_kwargs, sampling_kwargs
from tvgbench.models.qwen2_5_vl.vllm_inputs import build_vllm_request


def _sampled(t=10, h=112, w=168, fps=2.095):
    from tvgbench.video import SampledVideo

    frames = np.random.default_rng(0).integers(0, 255, (t, h, w, 3), dtype=np.uint8)
    return SampledVideo(frames=frames, timestamps=np.arange(t) / fps, sample_fps=fps, meta={})


def test_request_carries_frames_sampled_fps_and_pins_the_size():
    s = _sampled()
    req = build_vllm_request([1, 2, 3], s)
    assert req["prompt_token_ids"] == [1, 2, 3]
    frames, meta = req["multi_modal_data"]["video"]
    assert frames is s.frames  # timer1's frames, not re-decoded by vLLM
    assert meta["fps"] == pytest.approx(2.095) and meta["total_num_frames"] == 10
    assert meta["frames_indices"] == list(range(10)) and meta["do_sample_frames"] is False
    assert meta["duration"] == pytest.approx(10 / 2.095)
    kw = req["mm_processor_kwargs"]
    assert kw["fps"] == pytest.approx(2.095) and kw["do_sample_frames"] is False
    assert kw["size"] == {"shortest_edge": 112 * 168, "longest_edge": 112 * 168}


def test_pinned_size_survives_qwen_smart_resize():
    """min = max = H*W keeps a 28-aligned frame at its size under Qwen's resize rule (what vLLM's processor runs)."""
    from tvgbench.video import smart_resize

    for h, w in ((112, 168), (364, 644), (84, 140), (28, 28 * 30)):
        assert smart_resize(h, w, 28, h * w, h * w) == (h, w)


def test_sampling_params_match_the_hf_backend():
    greedy = sampling_kwargs(GenParams(max_new_tokens=77, seed=5), [7, 8])
    assert greedy == {"temperature": 0.0, "top_p": 1.0, "top_k": -1, "repetition_penalty": 1.0, "max_tokens": 77,
                      "seed": None, "stop_token_ids": [7, 8], "skip_special_tokens": True}
    sampled = sampling_kwargs(GenParams(temperature=1.0, top_p=0.9, top_k=50, seed=3), [7])
    assert (sampled["temperature"], sampled["top_p"], sampled["top_k"], sampled["seed"]) == (1.0, 0.9, 50, 3)


def test_engine_disables_mm_cache_and_allows_one_video():
    kw = engine_kwargs("m", "bfloat16", 8704, 0.9, 0, 1)
    assert kw["limit_mm_per_prompt"] == {"video": 1, "image": 0} and kw["mm_processor_cache_gb"] == 0


def test_prompt_keeps_a_single_video_pad_and_token_count_matches_hf(tiny_model_dir):
    """The vLLM prompt has one pad (vLLM expands it); the count it will expand to equals the hf backend's."""
    from transformers import AutoConfig, AutoTokenizer

    from tvgbench.harness.backends.vllm import VLLMBackend
    from tvgbench.models import adapter_for
    from tvgbench.models.qwen2_5_vl import qwen_video_inputs
    from tvgbench.models.prompts import build_messages

    be = VLLMBackend.__new__(VLLMBackend)  # no engine: only the request-building half
    be.tokenizer = AutoTokenizer.from_pretrained(tiny_model_dir)
    be.adapter = adapter_for(AutoConfig.from_pretrained(tiny_model_dir))
    s = _sampled(t=9)
    req = be.prepare(build_messages("a red square appears", "r1"), "", s)
    pad = be.tokenizer.convert_tokens_to_ids("<|video_pad|>")
    assert req.prompt["prompt_token_ids"].count(pad) == 1
    assert req.num_video_tokens == qwen_video_inputs(s)["num_video_tokens"]


def test_vllm_is_not_imported_until_chosen():
    code = ("import sys; import tvgbench.harness.backends.vllm, tvgbench.cli.harness, tvgbench.harness.runner; "
            "print('vllm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "False", out.stderr


def test_missing_vllm_is_a_clear_error():
    import importlib.util

    if importlib.util.find_spec("vllm") is not None:
        pytest.skip("vllm is installed here; this checks the message on machines without it")
    from tvgbench.core.errors import Timer1Error
    from tvgbench.harness.backends import make_backend

    with pytest.raises(Timer1Error, match=r"timer1\[vllm\]"):
        make_backend("vllm", "some/model", GenParams())
